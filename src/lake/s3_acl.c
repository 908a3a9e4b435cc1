/*
 * Access control on buckets and objects as S3 has it since 2023: ownership controls
 * (BucketOwnerEnforced by default, which turns ACLs off), ACLs (canned, x-amz-grant-*
 * headers, AccessControlPolicy documents), the public access block (all on by default
 * for a new bucket), the bucket policy's status, and the one way an unsigned request
 * gets in: a public-read ACL where ACLs are on and not blocked.
 *
 * Documents kept (lake bucket docs): ownership is the setting's name ("none" once
 * deleted, NULL for the default); the public access block a JSON object of the four
 * flags ("none" once deleted, NULL for the default of all four on); an ACL a JSON array
 * of grants {"type", "id" | "uri" | "email", "perm"}, NULL meaning the owner's
 * FULL_CONTROL alone.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/crypto.h"
#include "core/mem.h"
#include "core/text.h"
#include "http/http.h"
#include "lake/s3_http.h"

#define ALL_USERS "http://acs.amazonaws.com/groups/global/AllUsers"
#define AUTH_USERS "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
#define LOG_DELIVERY "http://acs.amazonaws.com/groups/s3/LogDelivery"
#define XSI "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\""

static const char malformed[] =
    "The XML you provided was not well-formed or did not validate against our published "
    "schema";

/* The account's canonical user ID (what s3__owner writes). */
static void owner_id(struct s3_req *r, char hex[2 * SHA256_LEN + 1])
{
    uint8_t d[SHA256_LEN];
    const char *acct =
        r->req->account_id && *r->req->account_id ? r->req->account_id : "000000000000";
    crypto_sha256(acct, strlen(acct), d);
    hex_encode(d, SHA256_LEN, hex);
}

/* ---- settings ---- */

/* The bucket's object ownership: its name, or "" when the controls were deleted. */
static int ownership_of(struct s3_req *r, char out[32])
{
    char *doc = NULL;
    int rc = lake_bucket_doc_get(r->lake, r->bucket, LAKE_BUCKET_OWNERSHIP, &doc, &r->call->err);
    if (rc < 0) {
        return rc;
    }
    snprintf(out, 32, "%s",
             doc == NULL                ? "BucketOwnerEnforced"
             : strcmp(doc, "none") == 0 ? ""
                                        : doc);
    free(doc);
    return 0;
}

static int acls_enabled(const char *ownership)
{
    return strcmp(ownership, "BucketOwnerEnforced") != 0;
}

struct pab {
    int exists;
    int block_acls, ignore_acls, block_policy, restrict_buckets;
};

static int pab_of(struct s3_req *r, struct pab *p)
{
    char *doc = NULL;
    int rc = lake_bucket_doc_get(r->lake, r->bucket, LAKE_BUCKET_PUBLIC_ACCESS_BLOCK, &doc,
                                 &r->call->err);
    if (rc < 0) {
        return rc;
    }
    memset(p, 0, sizeof(*p));
    if (doc == NULL) {
        *p = (struct pab){1, 1, 1, 1, 1};
    } else if (strcmp(doc, "none") != 0) {
        json_t *j = json_loads(doc, 0, NULL);
        p->exists = 1;
        p->block_acls = json_is_true(json_object_get(j, "BlockPublicAcls"));
        p->ignore_acls = json_is_true(json_object_get(j, "IgnorePublicAcls"));
        p->block_policy = json_is_true(json_object_get(j, "BlockPublicPolicy"));
        p->restrict_buckets = json_is_true(json_object_get(j, "RestrictPublicBuckets"));
        json_decref(j);
    }
    free(doc);
    return 0;
}

/* ---- grants ---- */

static json_t *grant(const char *type, const char *field, const char *value, const char *perm)
{
    return json_pack("{s:s,s:s,s:s}", "type", type, field, value, "perm", perm);
}

/* The grants a canned ACL stands for; NULL when name is none of them. */
static json_t *canned(struct s3_req *r, const char *name, int object)
{
    char id[2 * SHA256_LEN + 1];
    owner_id(r, id);
    json_t *g = json_array();
    json_array_append_new(g, grant("CanonicalUser", "id", id, "FULL_CONTROL"));
    if (strcmp(name, "private") == 0) {
        return g;
    }
    if (strcmp(name, "public-read") == 0 || strcmp(name, "public-read-write") == 0) {
        json_array_append_new(g, grant("Group", "uri", ALL_USERS, "READ"));
        if (name[11] == '-') {
            json_array_append_new(g, grant("Group", "uri", ALL_USERS, "WRITE"));
        }
        return g;
    }
    if (strcmp(name, "authenticated-read") == 0) {
        json_array_append_new(g, grant("Group", "uri", AUTH_USERS, "READ"));
        return g;
    }
    if (!object && strcmp(name, "log-delivery-write") == 0) {
        json_array_append_new(g, grant("Group", "uri", LOG_DELIVERY, "WRITE"));
        json_array_append_new(g, grant("Group", "uri", LOG_DELIVERY, "READ_ACP"));
        return g;
    }
    if (object && (strcmp(name, "aws-exec-read") == 0 || strcmp(name, "bucket-owner-read") == 0 ||
                   strcmp(name, "bucket-owner-full-control") == 0)) {
        return g; /* the bucket's owner is the object's: its FULL_CONTROL says it all */
    }
    json_decref(g);
    return NULL;
}

static const struct {
    const char *header, *perm;
} grant_headers[] = {
    {"x-amz-grant-read", "READ"},
    {"x-amz-grant-write", "WRITE"},
    {"x-amz-grant-read-acp", "READ_ACP"},
    {"x-amz-grant-write-acp", "WRITE_ACP"},
    {"x-amz-grant-full-control", "FULL_CONTROL"},
};

/* Parses one x-amz-grant-* header (id="..", uri="..", emailAddress=".." by commas). */
static int parse_grant_header(struct s3_req *r, const char *v, const char *perm, json_t *out)
{
    const char *p = v;
    while (*p != '\0') {
        p += strspn(p, " \t,");
        if (*p == '\0') {
            break;
        }
        size_t nl = strcspn(p, "=");
        const char *eq = p + nl;
        if (*eq != '=' || eq[1] != '"' || strchr(eq + 2, '"') == NULL) {
            return s3__fail(r, SL_E(INVALID_ARGUMENT_S3), "Invalid header value");
        }
        const char *val = eq + 2;
        size_t vl = (size_t)(strchr(val, '"') - val);
        char *value = xstrndup(val, vl);
        json_t *g = NULL;
        if (nl == 2 && strncasecmp(p, "id", 2) == 0) {
            g = grant("CanonicalUser", "id", value, perm);
        } else if (nl == 3 && strncasecmp(p, "uri", 3) == 0) {
            g = grant("Group", "uri", value, perm);
        } else if (nl == 12 && strncasecmp(p, "emailAddress", 12) == 0) {
            g = grant("AmazonCustomerByEmail", "email", value, perm);
        }
        free(value);
        if (g == NULL) {
            return s3__fail(r, SL_E(INVALID_ARGUMENT_S3), "Argument format not recognized");
        }
        json_array_append_new(out, g);
        p = val + vl + 1;
    }
    return 0;
}

/*
 * The ACL the request's headers give (x-amz-acl or x-amz-grant-*): *out is the grants
 * (NULL when the request gives none). 0 or an error set on the call.
 */
static int acl_from_headers(struct s3_req *r, int object, json_t **out)
{
    *out = NULL;
    const char *c = s3__header(r, "x-amz-acl");
    int any_grant = 0;
    for (size_t i = 0; i < sizeof(grant_headers) / sizeof(grant_headers[0]); i++) {
        any_grant |= s3__header(r, grant_headers[i].header) != NULL;
    }
    if (c != NULL && any_grant) {
        return s3__fail(r, SL_E(INVALID_REQUEST),
                        "Specifying both Canned ACLs and Header Grants is not allowed");
    }
    if (c != NULL) {
        *out = canned(r, c, object);
        if (*out == NULL) {
            return s3__fail(r, SL_E(INVALID_ARGUMENT_S3), "%s", "");
        }
        return 0;
    }
    if (!any_grant) {
        return 0;
    }
    json_t *g = json_array();
    for (size_t i = 0; i < sizeof(grant_headers) / sizeof(grant_headers[0]); i++) {
        const char *v = s3__header(r, grant_headers[i].header);
        int rc = v != NULL ? parse_grant_header(r, v, grant_headers[i].perm, g) : 0;
        if (rc < 0) {
            json_decref(g);
            return rc;
        }
    }
    *out = g;
    return 0;
}

/* The grants of an AccessControlPolicy document in the body. */
static int acl_from_body(struct s3_req *r, json_t **out)
{
    *out = NULL;
    struct s3_xml_node *root = NULL;
    int rc = s3__xml_body(r, 1 << 16, "AccessControlPolicy", &root);
    if (rc < 0) {
        return rc;
    }
    const struct s3_xml_node *list = s3__xml_child(root, "AccessControlList");
    const struct s3_xml_node *owner = s3__xml_child(root, "Owner");
    if (list == NULL || owner == NULL || s3__xml_child_text(owner, "ID") == NULL) {
        s3__xml_free(root);
        return s3__fail(r, SL_E(MALFORMED_XML), "%s", malformed);
    }
    char id[2 * SHA256_LEN + 1];
    owner_id(r, id);
    if (strcmp(s3__xml_child_text(owner, "ID"), id) != 0) {
        s3__xml_free(root);
        return s3__fail(r, SL_E(S3_ACCESS_DENIED), "Access Denied");
    }
    json_t *g = json_array();
    for (size_t i = 0; i < list->n_children; i++) {
        const struct s3_xml_node *gr = &list->children[i];
        const struct s3_xml_node *ge = s3__xml_child(gr, "Grantee");
        const char *perm = s3__xml_child_text(gr, "Permission");
        static const char *const perms[] = {"FULL_CONTROL", "WRITE", "WRITE_ACP", "READ",
                                            "READ_ACP"};
        int perm_ok = 0;
        for (size_t k = 0; perm != NULL && k < 5; k++) {
            perm_ok |= strcmp(perm, perms[k]) == 0;
        }
        json_t *one = NULL;
        if (strcmp(gr->name, "Grant") == 0 && ge != NULL && perm_ok) {
            if (s3__xml_child_text(ge, "ID") != NULL) {
                one = grant("CanonicalUser", "id", s3__xml_child_text(ge, "ID"), perm);
            } else if (s3__xml_child_text(ge, "URI") != NULL) {
                one = grant("Group", "uri", s3__xml_child_text(ge, "URI"), perm);
            } else if (s3__xml_child_text(ge, "EmailAddress") != NULL) {
                one = grant("AmazonCustomerByEmail", "email",
                            s3__xml_child_text(ge, "EmailAddress"), perm);
            }
        }
        if (one == NULL) {
            json_decref(g);
            s3__xml_free(root);
            return s3__fail(r, SL_E(MALFORMED_XML), "%s", malformed);
        }
        json_array_append_new(g, one);
    }
    s3__xml_free(root);
    *out = g;
    return 0;
}

/* 1 when the grants give nothing beyond the owner's own access. */
static int grants_private(struct s3_req *r, json_t *g)
{
    char id[2 * SHA256_LEN + 1];
    owner_id(r, id);
    size_t i;
    json_t *v;
    json_array_foreach(g, i, v)
    {
        const char *gid = json_string_value(json_object_get(v, "id"));
        if (gid == NULL || strcmp(gid, id) != 0) {
            return 0;
        }
    }
    return 1;
}

/* 1 when the grants give anyone (or any signed-in AWS user) access. */
static int grants_public(json_t *g, const char *perm)
{
    size_t i;
    json_t *v;
    json_array_foreach(g, i, v)
    {
        const char *uri = json_string_value(json_object_get(v, "uri"));
        const char *p = json_string_value(json_object_get(v, "perm"));
        if (uri != NULL && (strcmp(uri, ALL_USERS) == 0 || strcmp(uri, AUTH_USERS) == 0) &&
            (perm == NULL || strcmp(p, perm) == 0 || strcmp(p, "FULL_CONTROL") == 0)) {
            return 1;
        }
    }
    return 0;
}

/*
 * Whether the bucket takes grants g: refused where ACLs are off (unless g is only the
 * owner's, which S3 accepts) and, when public, where the public access block blocks
 * public ACLs. create_bucket words the first refusal as CreateBucket does.
 */
static int grants_allowed(struct s3_req *r, json_t *g, int create_bucket)
{
    char own[32];
    int rc = create_bucket ? 0 : ownership_of(r, own);
    if (rc < 0) {
        return rc;
    }
    if (create_bucket) {
        const char *o = s3__header(r, "x-amz-object-ownership");
        snprintf(own, sizeof(own), "%s", o != NULL ? o : "BucketOwnerEnforced");
    }
    if (!acls_enabled(own) && !grants_private(r, g)) {
        if (create_bucket) {
            return s3__fail(r, SL_E(INVALID_BUCKET_ACL_OWNERSHIP),
                            "Bucket cannot have ACLs set with ObjectOwnership's "
                            "BucketOwnerEnforced setting");
        }
        return s3__fail(r, SL_E(ACL_NOT_SUPPORTED), "The bucket does not allow ACLs");
    }
    if (!create_bucket && grants_public(g, NULL)) {
        struct pab p;
        rc = pab_of(r, &p);
        if (rc == 0 && p.block_acls) {
            rc = s3__fail(r, SL_E(S3_ACCESS_DENIED), "Access Denied");
        }
    }
    return rc;
}

static void render_grants(struct s3_req *r, struct buf *b, json_t *g)
{
    s3__xml_open(b, "AccessControlPolicy");
    s3__owner(r, b, "Owner");
    buf_puts(b, "<AccessControlList>");
    size_t i;
    json_t *v;
    json_array_foreach(g, i, v)
    {
        const char *type = json_string_value(json_object_get(v, "type"));
        buf_printf(b, "<Grant><Grantee " XSI " xsi:type=\"%s\">", type);
        if (strcmp(type, "CanonicalUser") == 0) {
            char id[2 * SHA256_LEN + 1];
            owner_id(r, id);
            const char *gid = json_string_value(json_object_get(v, "id"));
            s3__xml_elem(b, "ID", gid);
            if (strcmp(gid, id) == 0) {
                s3__xml_elem(b, "DisplayName", "sluice");
            }
        } else if (strcmp(type, "Group") == 0) {
            s3__xml_elem(b, "URI", json_string_value(json_object_get(v, "uri")));
        } else {
            s3__xml_elem(b, "EmailAddress", json_string_value(json_object_get(v, "email")));
        }
        buf_puts(b, "</Grantee>");
        s3__xml_elem(b, "Permission", json_string_value(json_object_get(v, "perm")));
        buf_puts(b, "</Grant>");
    }
    buf_puts(b, "</AccessControlList></AccessControlPolicy>");
}

static int respond_acl(struct s3_req *r, const char *doc)
{
    json_t *g = doc != NULL ? json_loads(doc, 0, NULL) : NULL;
    if (!json_is_array(g)) {
        json_decref(g);
        g = canned(r, "private", 0);
    }
    struct buf b;
    buf_init(&b);
    render_grants(r, &b, g);
    json_decref(g);
    return s3__respond_xml(r, &b);
}

/* The grants a Put*Acl request gives: headers or the body, not both. */
static int acl_of_put(struct s3_req *r, int object, json_t **out)
{
    int rc = acl_from_headers(r, object, out);
    if (rc < 0 || *out != NULL) {
        return rc;
    }
    if (r->req->body_len == 0) {
        return s3__fail(r, SL_E(S3_MISSING_FIELDS), "%s", "Missing fields in request");
    }
    return acl_from_body(r, out);
}

/* The stamp an object's ACL is kept under: its ETag and time of writing. */
static int object_stamp(struct s3_req *r, char *out, size_t size)
{
    struct lake_object_info info;
    int rc = lake_object_head(r->lake, r->bucket, r->key, &info, &r->call->err);
    if (rc < 0) {
        return rc;
    }
    snprintf(out, size, "%s:%lld", info.etag, (long long)info.last_modified_ms);
    lake_object_info_fini(&info);
    return 0;
}

int s3__bucket_acl(struct s3_req *r)
{
    if (strcmp(r->req->method, "GET") == 0) {
        r->call->operation = "GetBucketAcl";
        char *doc = NULL;
        int rc = lake_bucket_doc_get(r->lake, r->bucket, LAKE_BUCKET_ACL, &doc, &r->call->err);
        if (rc == 0) {
            rc = respond_acl(r, doc);
        }
        free(doc);
        return rc;
    }
    r->call->operation = "PutBucketAcl";
    int rc = lake_bucket_get(r->lake, r->bucket, NULL, &r->call->err);
    json_t *g = NULL;
    if (rc == 0) {
        rc = acl_of_put(r, 0, &g);
    }
    if (rc == 0) {
        rc = grants_allowed(r, g, 0);
    }
    if (rc == 0) {
        char *doc = json_dumps(g, JSON_COMPACT);
        rc = lake_bucket_doc_put(r->lake, r->bucket, LAKE_BUCKET_ACL, doc, &r->call->err);
        free(doc);
    }
    json_decref(g);
    return rc;
}

int s3__object_acl(struct s3_req *r)
{
    char stamp[LAKE_ETAG_MAX + 32];
    int get = strcmp(r->req->method, "GET") == 0;
    r->call->operation = get ? "GetObjectAcl" : "PutObjectAcl";
    int rc = object_stamp(r, stamp, sizeof(stamp));
    if (rc < 0) {
        return rc;
    }
    if (get) {
        char own[32];
        char *doc = NULL;
        rc = ownership_of(r, own);
        /* With ACLs off, whatever was set before no longer applies. */
        if (rc == 0 && acls_enabled(own)) {
            rc = lake_object_acl_get(r->lake, r->bucket, r->key, stamp, &doc, &r->call->err);
        }
        if (rc == 0) {
            rc = respond_acl(r, doc);
        }
        free(doc);
        return rc;
    }
    json_t *g = NULL;
    rc = acl_of_put(r, 1, &g);
    if (rc == 0) {
        rc = grants_allowed(r, g, 0);
    }
    if (rc == 0) {
        char *doc = json_dumps(g, JSON_COMPACT);
        rc = lake_object_acl_put(r->lake, r->bucket, r->key, stamp, doc, &r->call->err);
        free(doc);
    }
    json_decref(g);
    return rc;
}

int s3__acl_check_write(struct s3_req *r, int create_bucket, char **acl_out)
{
    *acl_out = NULL;
    json_t *g = NULL;
    int rc = acl_from_headers(r, !create_bucket, &g);
    if (rc == 0 && g != NULL) {
        rc = grants_allowed(r, g, create_bucket);
    }
    if (rc == 0 && g != NULL && !grants_private(r, g)) {
        *acl_out = json_dumps(g, JSON_COMPACT);
    }
    json_decref(g);
    return rc;
}

int s3__acl_check_canned(struct s3_req *r, const char *name, char **acl_out)
{
    *acl_out = NULL;
    json_t *g = canned(r, name, 1);
    if (g == NULL) {
        return s3__fail(r, SL_E(INVALID_ARGUMENT_S3), "%s", "");
    }
    int rc = grants_allowed(r, g, 0);
    if (rc == 0 && !grants_private(r, g)) {
        *acl_out = json_dumps(g, JSON_COMPACT);
    }
    json_decref(g);
    return rc;
}

int s3__acl_after_write(struct s3_req *r, const char *acl)
{
    if (acl == NULL) {
        return 0;
    }
    if (r->key == NULL) {
        return lake_bucket_doc_put(r->lake, r->bucket, LAKE_BUCKET_ACL, acl, &r->call->err);
    }
    char stamp[LAKE_ETAG_MAX + 32];
    int rc = object_stamp(r, stamp, sizeof(stamp));
    if (rc == 0) {
        rc = lake_object_acl_put(r->lake, r->bucket, r->key, stamp, acl, &r->call->err);
    }
    return rc;
}

int s3__create_bucket_settings(struct s3_req *r, const char *acl)
{
    const char *o = s3__header(r, "x-amz-object-ownership");
    int rc = 0;
    if (o != NULL && strcmp(o, "BucketOwnerEnforced") != 0) {
        rc = lake_bucket_doc_put(r->lake, r->bucket, LAKE_BUCKET_OWNERSHIP, o, &r->call->err);
    }
    if (rc == 0) {
        rc = s3__acl_after_write(r, acl);
    }
    return rc;
}

int s3__check_object_ownership_header(struct s3_req *r)
{
    const char *o = s3__header(r, "x-amz-object-ownership");
    if (o != NULL && strcmp(o, "BucketOwnerEnforced") != 0 &&
        strcmp(o, "BucketOwnerPreferred") != 0 && strcmp(o, "ObjectWriter") != 0) {
        return s3__fail(r, SL_E(INVALID_ARGUMENT_S3), "Invalid x-amz-object-ownership header: %s",
                        o);
    }
    return 0;
}

/* ---- ownership controls ---- */

int s3__bucket_ownership(struct s3_req *r)
{
    const char *m = r->req->method;
    if (strcmp(m, "GET") == 0) {
        r->call->operation = "GetBucketOwnershipControls";
        char own[32];
        int rc = ownership_of(r, own);
        if (rc < 0) {
            return rc;
        }
        if (own[0] == '\0') {
            return s3__fail(r, SL_E(NO_OWNERSHIP_CONTROLS),
                            "The bucket ownership controls were not found");
        }
        struct buf b;
        buf_init(&b);
        s3__xml_open(&b, "OwnershipControls");
        buf_puts(&b, "<Rule>");
        s3__xml_elem(&b, "ObjectOwnership", own);
        buf_puts(&b, "</Rule></OwnershipControls>");
        return s3__respond_xml(r, &b);
    }
    if (strcmp(m, "DELETE") == 0) {
        r->call->operation = "DeleteBucketOwnershipControls";
        int rc =
            lake_bucket_doc_put(r->lake, r->bucket, LAKE_BUCKET_OWNERSHIP, "none", &r->call->err);
        if (rc == 0) {
            r->call->resp->status = 204;
        }
        return rc;
    }
    r->call->operation = "PutBucketOwnershipControls";
    struct s3_xml_node *root = NULL;
    int rc = s3__xml_body(r, 1 << 16, "OwnershipControls", &root);
    if (rc < 0) {
        return rc;
    }
    const struct s3_xml_node *rule = s3__xml_child(root, "Rule");
    const char *own = rule != NULL ? s3__xml_child_text(rule, "ObjectOwnership") : NULL;
    if (own == NULL ||
        (strcmp(own, "BucketOwnerEnforced") != 0 && strcmp(own, "BucketOwnerPreferred") != 0 &&
         strcmp(own, "ObjectWriter") != 0)) {
        rc = s3__fail(r, SL_E(MALFORMED_XML), "%s", malformed);
    } else if (strcmp(own, "BucketOwnerEnforced") == 0) {
        /* ACLs that grant more than the owner's access must go first, as on S3. */
        char *acl = NULL;
        rc = lake_bucket_doc_get(r->lake, r->bucket, LAKE_BUCKET_ACL, &acl, &r->call->err);
        json_t *g = acl != NULL ? json_loads(acl, 0, NULL) : NULL;
        if (rc == 0 && g != NULL && !grants_private(r, g)) {
            rc = s3__fail(r, SL_E(INVALID_BUCKET_ACL_OWNERSHIP),
                          "Bucket cannot have ACLs set with ObjectOwnership's "
                          "BucketOwnerEnforced setting");
        }
        json_decref(g);
        free(acl);
    }
    if (rc == 0) {
        rc = lake_bucket_doc_put(r->lake, r->bucket, LAKE_BUCKET_OWNERSHIP, own, &r->call->err);
    }
    s3__xml_free(root);
    return rc;
}

/* ---- public access block ---- */

static const char *const pab_names[] = {"BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
                                        "RestrictPublicBuckets"};

int s3__bucket_public_access_block(struct s3_req *r)
{
    const char *m = r->req->method;
    if (strcmp(m, "GET") == 0) {
        r->call->operation = "GetPublicAccessBlock";
        struct pab p;
        int rc = pab_of(r, &p);
        if (rc < 0) {
            return rc;
        }
        if (!p.exists) {
            return s3__fail(r, SL_E(NO_SUCH_PUBLIC_ACCESS_BLOCK),
                            "The public access block configuration was not found");
        }
        int v[4] = {p.block_acls, p.ignore_acls, p.block_policy, p.restrict_buckets};
        struct buf b;
        buf_init(&b);
        s3__xml_open(&b, "PublicAccessBlockConfiguration");
        for (size_t i = 0; i < 4; i++) {
            s3__xml_elem(&b, pab_names[i], v[i] ? "true" : "false");
        }
        buf_puts(&b, "</PublicAccessBlockConfiguration>");
        return s3__respond_xml(r, &b);
    }
    if (strcmp(m, "DELETE") == 0) {
        r->call->operation = "DeletePublicAccessBlock";
        int rc = lake_bucket_doc_put(r->lake, r->bucket, LAKE_BUCKET_PUBLIC_ACCESS_BLOCK, "none",
                                     &r->call->err);
        if (rc == 0) {
            r->call->resp->status = 204;
        }
        return rc;
    }
    r->call->operation = "PutPublicAccessBlock";
    struct s3_xml_node *root = NULL;
    int rc = s3__xml_body(r, 1 << 16, "PublicAccessBlockConfiguration", &root);
    if (rc < 0) {
        return rc;
    }
    json_t *j = json_object();
    for (size_t i = 0; i < 4 && rc == 0; i++) {
        const char *t = s3__xml_child_text(root, pab_names[i]);
        if (t != NULL && strcmp(t, "true") != 0 && strcmp(t, "false") != 0) {
            rc = s3__fail(r, SL_E(MALFORMED_XML), "%s", malformed);
        }
        json_object_set_new(j, pab_names[i], json_boolean(t != NULL && strcmp(t, "true") == 0));
    }
    if (rc == 0) {
        char *doc = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        rc = lake_bucket_doc_put(r->lake, r->bucket, LAKE_BUCKET_PUBLIC_ACCESS_BLOCK, doc,
                                 &r->call->err);
        free(doc);
    }
    json_decref(j);
    s3__xml_free(root);
    return rc;
}

/* ---- policy status ---- */

/* 1 when the principal names everyone: "*", {"AWS": "*"} or a list holding "*". */
static int principal_everyone(json_t *p)
{
    if (json_is_string(p)) {
        return strcmp(json_string_value(p), "*") == 0;
    }
    json_t *aws = json_object_get(p, "AWS");
    if (json_is_string(aws)) {
        return strcmp(json_string_value(aws), "*") == 0;
    }
    size_t i;
    json_t *v;
    json_array_foreach(aws, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), "*") == 0) {
            return 1;
        }
    }
    return 0;
}

/* 1 when a condition pins the caller to known accounts, networks or sources. */
static int condition_restricts(json_t *cond)
{
    static const char *const keys[] = {"aws:SourceArn",
                                       "aws:SourceVpc",
                                       "aws:SourceVpce",
                                       "aws:SourceAccount",
                                       "aws:SourceOwner",
                                       "aws:PrincipalOrgID",
                                       "aws:PrincipalArn",
                                       "aws:PrincipalAccount",
                                       "aws:userid",
                                       "aws:SourceIp",
                                       "aws:PrincipalOrgPaths",
                                       "s3:DataAccessPointArn",
                                       "s3:DataAccessPointAccount"};
    const char *op;
    json_t *m;
    json_object_foreach(cond, op, m)
    {
        const char *k;
        json_t *v;
        json_object_foreach(m, k, v)
        {
            for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
                if (strcasecmp(k, keys[i]) == 0) {
                    return 1;
                }
            }
        }
    }
    return 0;
}

int s3__policy_is_public(const char *policy)
{
    json_t *doc = policy != NULL ? json_loads(policy, 0, NULL) : NULL;
    json_t *st = json_object_get(doc, "Statement");
    int pub = 0;
    if (json_is_object(st)) {
        st = json_pack("[O]", st);
    } else {
        json_incref(st);
    }
    size_t i;
    json_t *s;
    json_array_foreach(st, i, s)
    {
        const char *eff = json_string_value(json_object_get(s, "Effect"));
        if (eff != NULL && strcmp(eff, "Allow") == 0 &&
            principal_everyone(json_object_get(s, "Principal")) &&
            !condition_restricts(json_object_get(s, "Condition"))) {
            pub = 1;
        }
    }
    json_decref(st);
    json_decref(doc);
    return pub;
}

int s3__check_policy_allowed(struct s3_req *r, const char *policy)
{
    if (!s3__policy_is_public(policy)) {
        return 0;
    }
    struct pab p;
    int rc = pab_of(r, &p);
    if (rc == 0 && p.block_policy) {
        rc = s3__fail(r, SL_E(S3_ACCESS_DENIED),
                      "User: %s is not authorized to perform: s3:PutBucketPolicy on resource: "
                      "\"arn:aws:s3:::%s\" because public policies are blocked by the "
                      "BlockPublicPolicy block public access setting.",
                      r->req->principal_arn ? r->req->principal_arn : "", r->bucket);
    }
    return rc;
}

int s3__bucket_policy_status(struct s3_req *r)
{
    r->call->operation = "GetBucketPolicyStatus";
    char *policy = NULL;
    int rc = lake_bucket_doc_get(r->lake, r->bucket, LAKE_BUCKET_POLICY, &policy, &r->call->err);
    if (rc < 0) {
        return rc;
    }
    if (policy == NULL) {
        return s3__fail(r, SL_E(NO_SUCH_BUCKET_POLICY), "The bucket policy does not exist");
    }
    int pub = s3__policy_is_public(policy);
    free(policy);
    struct buf b;
    buf_init(&b);
    s3__xml_open(&b, "PolicyStatus");
    s3__xml_elem(&b, "IsPublic", pub ? "true" : "false");
    buf_puts(&b, "</PolicyStatus>");
    return s3__respond_xml(r, &b);
}

/* ---- unsigned requests ---- */

/* 1 when the bucket lets everyone read what grants g give: ACLs on and not ignored. */
static int public_read(struct s3_req *r, const char *acl_doc)
{
    char own[32];
    struct pab p;
    if (acl_doc == NULL || ownership_of(r, own) < 0 || !acls_enabled(own) || pab_of(r, &p) < 0 ||
        p.ignore_acls) {
        return 0;
    }
    json_t *g = json_loads(acl_doc, 0, NULL);
    size_t i;
    json_t *v;
    int pub = 0;
    json_array_foreach(g, i, v)
    {
        const char *uri = json_string_value(json_object_get(v, "uri"));
        const char *perm = json_string_value(json_object_get(v, "perm"));
        pub |= uri != NULL && strcmp(uri, ALL_USERS) == 0 && perm != NULL &&
               (strcmp(perm, "READ") == 0 || strcmp(perm, "FULL_CONTROL") == 0);
    }
    json_decref(g);
    return pub;
}

/* IAM's wildcards: '*' any run of characters, '?' one. */
static int glob(const char *pat, const char *s, int nocase)
{
    const char *star = NULL, *resume = NULL;
    while (*s) {
        char a = *pat, b = *s;
        if (nocase) {
            a = (char)(a >= 'A' && a <= 'Z' ? a + 32 : a);
            b = (char)(b >= 'A' && b <= 'Z' ? b + 32 : b);
        }
        if (*pat == '*') {
            star = pat++;
            resume = s;
        } else if (*pat != '\0' && (*pat == '?' || a == b)) {
            pat++;
            s++;
        } else if (star != NULL) {
            pat = star + 1;
            s = ++resume;
        } else {
            return 0;
        }
    }
    while (*pat == '*') {
        pat++;
    }
    return *pat == '\0';
}

/* 1 when v (a string or a list of them) matches s. */
static int any_glob(json_t *v, const char *s, int nocase)
{
    if (json_is_string(v)) {
        return glob(json_string_value(v), s, nocase);
    }
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        if (json_is_string(e) && glob(json_string_value(e), s, nocase)) {
            return 1;
        }
    }
    return 0;
}

/*
 * What the bucket policy says to everyone (Principal "*") about action on resource: -1
 * when a statement denies it (NotAction and NotResource taken as matching, to be safe),
 * 1 when one allows it with no condition (conditions are not evaluated for an
 * anonymous caller, so an allow that has one does not count), 0 when it says nothing.
 */
static int policy_for_everyone(const char *policy, const char *action, const char *resource)
{
    json_t *doc = policy != NULL ? json_loads(policy, 0, NULL) : NULL;
    json_t *st = json_object_get(doc, "Statement");
    if (json_is_object(st)) {
        st = json_pack("[O]", st);
    } else {
        json_incref(st);
    }
    int verdict = 0;
    size_t i;
    json_t *s;
    json_array_foreach(st, i, s)
    {
        const char *eff = json_string_value(json_object_get(s, "Effect"));
        if (eff == NULL || !principal_everyone(json_object_get(s, "Principal"))) {
            continue;
        }
        json_t *act = json_object_get(s, "Action"), *res = json_object_get(s, "Resource");
        if (strcmp(eff, "Deny") == 0) {
            if ((act == NULL || any_glob(act, action, 1)) &&
                (res == NULL || any_glob(res, resource, 0))) {
                verdict = -1;
                break;
            }
        } else if (strcmp(eff, "Allow") == 0 && act != NULL && res != NULL &&
                   json_object_get(s, "Condition") == NULL && any_glob(act, action, 1) &&
                   any_glob(res, resource, 0)) {
            verdict = 1;
        }
    }
    json_decref(st);
    json_decref(doc);
    return verdict;
}

int s3__anonymous_allowed(struct s3_req *r)
{
    const char *m = r->req->method;
    if (r->bucket != NULL && r->key == NULL && r->n_params == 0 && strcmp(m, "POST") == 0) {
        return 1; /* a form upload (the front end admits no other unsigned POST): its
                     fields carry the signature, which s3_post.c checks */
    }
    if (r->bucket == NULL || (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0)) {
        return 0;
    }
    /* A plain read: an object with no subresource, or a bucket's listing. */
    static const char *const listing[] = {"list-type",   "prefix",        "delimiter",
                                          "max-keys",    "marker",        "continuation-token",
                                          "start-after", "encoding-type", "fetch-owner"};
    for (size_t i = 0; i < r->n_params; i++) {
        int ok = 0;
        for (size_t k = 0; r->key == NULL && k < sizeof(listing) / sizeof(listing[0]); k++) {
            ok |= strcmp(r->params[i].name, listing[k]) == 0;
        }
        if (!ok) {
            return 0;
        }
    }
    char *doc = NULL;
    int ok = 0;
    if (r->key != NULL) {
        char stamp[LAKE_ETAG_MAX + 32];
        struct err_info e;
        err_clear(&e);
        struct lake_object_info info;
        if (lake_object_head(r->lake, r->bucket, r->key, &info, &e) == 0) {
            snprintf(stamp, sizeof(stamp), "%s:%lld", info.etag, (long long)info.last_modified_ms);
            lake_object_info_fini(&info);
            if (lake_object_acl_get(r->lake, r->bucket, r->key, stamp, &doc, &e) == 0) {
                ok = public_read(r, doc);
            }
        }
    } else if (lake_bucket_doc_get(r->lake, r->bucket, LAKE_BUCKET_ACL, &doc, NULL) == 0) {
        ok = public_read(r, doc);
    }
    free(doc);
    /* The bucket policy: a Deny to everyone wins over any grant; a public Allow opens
       the bucket unless RestrictPublicBuckets holds it to the account. */
    char *policy = NULL;
    struct pab p;
    if (lake_bucket_doc_get(r->lake, r->bucket, LAKE_BUCKET_POLICY, &policy, NULL) == 0 &&
        policy != NULL && pab_of(r, &p) == 0) {
        struct buf res;
        buf_init(&res);
        buf_printf(&res, "arn:aws:s3:::%s%s%s", r->bucket, r->key ? "/" : "", r->key ? r->key : "");
        int v = buf_status(&res) == 0
                    ? policy_for_everyone(policy, r->key ? "s3:GetObject" : "s3:ListBucket",
                                          (const char *)res.data)
                    : -1;
        buf_fini(&res);
        if (v < 0) {
            ok = 0;
        } else if (v > 0 && !p.restrict_buckets && s3__policy_is_public(policy)) {
            ok = 1;
        }
    }
    free(policy);
    err_clear(&r->call->err);
    return ok;
}

/* ---- dispatch ---- */

int s3__access_bucket_op(struct s3_req *r, int *handled)
{
    const char *m = r->req->method;
    int get = strcmp(m, "GET") == 0, put = strcmp(m, "PUT") == 0, del = strcmp(m, "DELETE") == 0;
    *handled = 1;
    if (s3__query(r, "cors") != NULL && (get || put || del)) {
        return s3__bucket_cors(r);
    }
    if (s3__query(r, "metrics") != NULL && (get || put || del)) {
        return s3__bucket_metrics(r);
    }
    if (s3__query(r, "ownershipControls") != NULL && (get || put || del)) {
        return s3__bucket_ownership(r);
    }
    if (s3__query(r, "publicAccessBlock") != NULL && (get || put || del)) {
        return s3__bucket_public_access_block(r);
    }
    if (s3__query(r, "policyStatus") != NULL && get) {
        return s3__bucket_policy_status(r);
    }
    if (s3__query(r, "acl") != NULL && (get || put)) {
        return s3__bucket_acl(r);
    }
    if (strcmp(m, "POST") == 0 && r->n_params == 0 && s3__header(r, "Content-Type") != NULL &&
        strncasecmp(s3__header(r, "Content-Type"), "multipart/form-data", 19) == 0) {
        return s3__post_object(r);
    }
    *handled = 0;
    return 0;
}
