/*
 * POST Object: a browser's HTML form upload to a bucket (multipart/form-data). The form
 * carries its own credentials: a base64 policy document signed with SigV4
 * (x-amz-algorithm, x-amz-credential, x-amz-date, x-amz-signature) or SigV2
 * (AWSAccessKeyId, signature), so the front end passes it unsigned and this file
 * authenticates it with the front end's key lookup, authorizes the signer for
 * s3:PutObject, checks the policy (expiration, conditions eq / starts-with /
 * content-length-range, every field covered) and writes the file. Field names are
 * case-insensitive; the file is the last field read.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>

#include "core/base64.h"
#include "core/crypto.h"
#include "core/mem.h"
#include "core/text.h"
#include "http/http.h"
#include "http/sigv4.h"
#include "lake/s3_http.h"

#define POST_MAX_OBJECT ((int64_t)5 << 30)

/* One form being served. */
struct post {
    struct s3_req *r;
    struct s3_form form;
    const uint8_t *body;
    size_t body_len;
    void *map; /* the spooled body mapped, or NULL */
    char *key; /* with ${filename} replaced, owned */
    json_t *policy;
    struct http_principal who;
};

static const char *field(const struct post *p, const char *name)
{
    const struct s3_form_field *f = s3__form_get(&p->form, name);
    return f != NULL ? f->value : NULL;
}

static int missing(struct s3_req *r, const char *name)
{
    return s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                    "Bucket POST must contain a field named '%s'.  If it is specified, please "
                    "check the order of the fields.",
                    name);
}

static int denied(struct s3_req *r, const char *what)
{
    return s3__fail(r, SL_E(S3_ACCESS_DENIED), "Invalid according to Policy: %s", what);
}

static int bad_policy(struct s3_req *r, const char *what)
{
    return s3__fail(r, SL_E(INVALID_POLICY_DOCUMENT), "Invalid Policy: %s", what);
}

/* ---- signatures ---- */

static int lookup(struct post *p, const char *akid, char *secret, size_t size)
{
    struct s3_req *r = p->r;
    if (r->req->key_lookup == NULL) {
        return s3__fail(r, SL_E(S3_ACCESS_DENIED), "Access Denied");
    }
    const char *token = field(p, "x-amz-security-token");
    int rc = r->req->key_lookup(r->req->auth_arg, akid, token != NULL ? token : "", r->req->now_ms,
                                secret, size, &p->who);
    if (rc == SL_E(AUTH_EXPIRED)) {
        return s3__fail(r, SL_E(S3_ACCESS_DENIED), "The provided token has expired.");
    }
    if (rc < 0) {
        return s3__fail(r, SL_E(AUTH_UNKNOWN_KEY),
                        "The AWS Access Key Id you provided does not exist in our records.");
    }
    return 0;
}

static int mismatch(struct s3_req *r)
{
    return s3__fail(r, SL_E(SIGNATURE_DOES_NOT_MATCH),
                    "The request signature we calculated does not match the signature you "
                    "provided. Check your key and signing method.");
}

/* SigV4: the policy's base64 text signed with the credential scope's key. */
static int verify_v4(struct post *p, const char *policy_b64)
{
    struct s3_req *r = p->r;
    const char *alg = field(p, "x-amz-algorithm");
    const char *cred = field(p, "x-amz-credential");
    const char *date = field(p, "x-amz-date");
    const char *sig = field(p, "x-amz-signature");
    if (cred == NULL) {
        return missing(r, "x-amz-credential");
    }
    if (date == NULL) {
        return missing(r, "x-amz-date");
    }
    if (sig == NULL) {
        return missing(r, "x-amz-signature");
    }
    if (strcmp(alg, "AWS4-HMAC-SHA256") != 0) {
        return s3__fail(r, SL_E(INVALID_ARGUMENT_S3), "Invalid algorithm in x-amz-algorithm: %.64s",
                        alg);
    }
    /* AKID/yyyymmdd/region/s3/aws4_request */
    char akid[130], day[16], region[64], service[16], term[16];
    if (sscanf(cred, "%129[^/]/%15[^/]/%63[^/]/%15[^/]/%15s", akid, day, region, service, term) !=
            5 ||
        strcmp(service, "s3") != 0 || strcmp(term, "aws4_request") != 0) {
        return s3__fail(r, SL_E(INVALID_ARGUMENT_S3), "Invalid credential: %.200s", cred);
    }
    char secret[256];
    int rc = lookup(p, akid, secret, sizeof(secret));
    if (rc < 0) {
        return rc;
    }
    uint8_t key[32], mac[32];
    sigv4_signing_key(secret, day, region, "s3", key);
    explicit_bzero(secret, sizeof(secret));
    crypto_hmac_sha256(key, sizeof(key), policy_b64, strlen(policy_b64), mac);
    char hex[65];
    hex_encode(mac, sizeof(mac), hex);
    return strcasecmp(hex, sig) == 0 ? 0 : mismatch(r);
}

/* SigV2: base64 of the HMAC-SHA1 of the policy's base64 text. */
static int verify_v2(struct post *p, const char *policy_b64)
{
    struct s3_req *r = p->r;
    const char *akid = field(p, "AWSAccessKeyId");
    const char *sig = field(p, "signature");
    if (sig == NULL) {
        return missing(r, "Signature");
    }
    char secret[256];
    int rc = lookup(p, akid, secret, sizeof(secret));
    if (rc < 0) {
        return rc;
    }
    uint8_t mac[20];
    crypto_hmac_sha1(secret, strlen(secret), policy_b64, strlen(policy_b64), mac);
    explicit_bzero(secret, sizeof(secret));
    char b64[32];
    b64[base64_encode(mac, sizeof(mac), b64)] = '\0';
    return strcmp(b64, sig) == 0 ? 0 : mismatch(r);
}

/* The signer may PutObject on the key, as its policies and the bucket's say. */
static int authorize_signer(struct post *p)
{
    struct s3_req *r = p->r;
    if (r->req->authorize == NULL) {
        return 0;
    }
    struct buf path;
    buf_init(&path);
    buf_puts(&path, "/");
    s3__url_encode(&path, r->bucket);
    buf_puts(&path, "/");
    s3__url_encode(&path, p->key);
    if (buf_status(&path) < 0) {
        buf_fini(&path);
        return s3__fail(r, SL_E(NOMEM), "We encountered an internal error. Please try again.");
    }
    struct api_request as = *r->req;
    as.method = "PUT";
    as.path = (const char *)path.data;
    as.query = "";
    as.host = "";
    as.n_headers = 0;
    as.account_id = p->who.account;
    as.principal_kind = (int)p->who.kind;
    as.principal_arn = p->who.arn;
    as.principal_id = p->who.id;
    as.principal_name = p->who.name;
    struct err_info err;
    err_clear(&err);
    int rc = r->req->authorize(r->req->auth_arg, &as, "s3", "PutObject", NULL, &err);
    buf_fini(&path);
    if (rc < 0) {
        return s3__fail(r, SL_E(S3_ACCESS_DENIED), "%s",
                        err.message[0] ? err.message : "Access Denied");
    }
    return 0;
}

/* ---- the policy document ---- */

/* "2026-11-29T04:32:26Z", with or without milliseconds; -1 when not one. */
static int64_t parse_expiration(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int ms = 0, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &n) != 6) {
        return -1;
    }
    const char *rest = s + n;
    if (*rest == '.') {
        int digits = 0;
        for (rest++; *rest >= '0' && *rest <= '9'; rest++, digits++) {
            if (digits < 3) {
                ms = ms * 10 + (*rest - '0');
            }
        }
        for (; digits < 3; digits++) {
            ms *= 10;
        }
    }
    if (strcmp(rest, "Z") != 0) {
        return -1;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

/* The value a condition's "$name" stands for: the bucket, the key, or a field. */
static const char *cond_value(const struct post *p, const char *name)
{
    if (strcasecmp(name, "bucket") == 0) {
        return p->r->bucket;
    }
    if (strcasecmp(name, "key") == 0) {
        return p->key;
    }
    const char *v = field(p, name);
    return v != NULL ? v : "";
}

/* Names a condition covers, lower-cased, as a JSON object used as a set. */
static void cover(json_t *covered, const char *name)
{
    char low[128];
    snprintf(low, sizeof(low), "%s", name);
    for (char *c = low; *c; c++) {
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
    }
    json_object_set_new(covered, low, json_true());
}

static int check_condition(struct post *p, json_t *c, json_t *covered, int64_t size)
{
    struct s3_req *r = p->r;
    char shown[600];
    if (json_is_object(c)) {
        if (json_object_size(c) != 1) {
            return bad_policy(r, "Invalid Simple-Condition: Simple-Conditions must have exactly "
                                 "one property specified.");
        }
        const char *k;
        json_t *v;
        json_object_foreach(c, k, v)
        {
            if (!json_is_string(v)) {
                return bad_policy(r, "Invalid Simple-Condition: value must be a string.");
            }
            cover(covered, k);
            if (strcmp(cond_value(p, k), json_string_value(v)) != 0) {
                snprintf(shown, sizeof(shown),
                         "Policy Condition failed: [\"eq\", \"$%.100s\", \"%.300s\"]", k,
                         json_string_value(v));
                return denied(r, shown);
            }
        }
        return 0;
    }
    if (!json_is_array(c) || json_array_size(c) != 3 || !json_is_string(json_array_get(c, 0))) {
        return bad_policy(r, "Invalid Condition: conditions must be objects or arrays of three.");
    }
    const char *op = json_string_value(json_array_get(c, 0));
    if (strcasecmp(op, "content-length-range") == 0) {
        json_t *lo = json_array_get(c, 1), *hi = json_array_get(c, 2);
        long long min = json_is_integer(lo)  ? json_integer_value(lo)
                        : json_is_string(lo) ? s3__parse_uint(json_string_value(lo))
                                             : -1;
        long long max = json_is_integer(hi)  ? json_integer_value(hi)
                        : json_is_string(hi) ? s3__parse_uint(json_string_value(hi))
                                             : -1;
        if (min < 0 || max < 0) {
            return bad_policy(r, "Invalid content-length-range: the limits must be integers.");
        }
        if (size > max) {
            return s3__fail(r, SL_E(ENTITY_TOO_LARGE),
                            "Your proposed upload exceeds the maximum allowed size");
        }
        if (size < min) {
            return s3__fail(r, SL_E(ENTITY_TOO_SMALL),
                            "Your proposed upload is smaller than the minimum allowed size");
        }
        return 0;
    }
    json_t *n = json_array_get(c, 1), *v = json_array_get(c, 2);
    int eq = strcasecmp(op, "eq") == 0, sw = strcasecmp(op, "starts-with") == 0;
    if ((!eq && !sw) || !json_is_string(n) || !json_is_string(v) ||
        json_string_value(n)[0] != '$') {
        return bad_policy(r, "Invalid Condition: unknown operation or malformed field name.");
    }
    const char *name = json_string_value(n) + 1;
    const char *want = json_string_value(v);
    cover(covered, name);
    const char *have = cond_value(p, name);
    int ok = eq ? strcmp(have, want) == 0 : strncmp(have, want, strlen(want)) == 0;
    if (!ok) {
        snprintf(shown, sizeof(shown), "Policy Condition failed: [\"%s\", \"$%.100s\", \"%.300s\"]",
                 eq ? "eq" : "starts-with", name, want);
        return denied(r, shown);
    }
    return 0;
}

/* 1 for a field the policy need not name: the signature's own and x-ignore-*. */
static int exempt(const char *name)
{
    static const char *const names[] = {"policy", "x-amz-signature", "signature", "awsaccesskeyid",
                                        "file"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(name, names[i]) == 0) {
            return 1;
        }
    }
    return strncasecmp(name, "x-ignore-", 9) == 0;
}

static int check_policy(struct post *p, const char *policy_b64, int64_t size)
{
    struct s3_req *r = p->r;
    size_t bl = strlen(policy_b64);
    uint8_t *doc = try_malloc(BASE64_DECODED_MAX(bl) + 1);
    if (doc == NULL) {
        return s3__fail(r, SL_E(NOMEM), "We encountered an internal error. Please try again.");
    }
    long n = base64_decode(policy_b64, bl, doc);
    p->policy = n > 0 ? json_loadb((const char *)doc, (size_t)n, 0, NULL) : NULL;
    free(doc);
    if (!json_is_object(p->policy)) {
        return bad_policy(r, "Invalid JSON.");
    }
    json_t *exp = json_object_get(p->policy, "expiration");
    if (exp == NULL) {
        return bad_policy(r, "Policy missing expiration.");
    }
    int64_t exp_ms = json_is_string(exp) ? parse_expiration(json_string_value(exp)) : -1;
    if (exp_ms < 0) {
        return bad_policy(r, "Invalid 'expiration' value: the time is not ISO 8601.");
    }
    if (exp_ms <= r->req->now_ms) {
        return denied(r, "Policy expired.");
    }
    json_t *conds = json_object_get(p->policy, "conditions");
    if (conds == NULL) {
        return bad_policy(r, "Policy missing conditions.");
    }
    if (!json_is_array(conds)) {
        return bad_policy(r, "Invalid 'conditions' value: must be a List.");
    }
    json_t *covered = json_object();
    int rc = 0;
    size_t i;
    json_t *c;
    json_array_foreach(conds, i, c)
    {
        if ((rc = check_condition(p, c, covered, size)) < 0) {
            break;
        }
    }
    for (size_t k = 0; rc == 0 && k < p->form.n_fields; k++) {
        const char *name = p->form.fields[k].name;
        char low[128];
        snprintf(low, sizeof(low), "%s", name);
        for (char *ch = low; *ch; ch++) {
            *ch = (char)(*ch >= 'A' && *ch <= 'Z' ? *ch + 32 : *ch);
        }
        if (!exempt(name) && json_object_get(covered, low) == NULL) {
            char shown[200];
            snprintf(shown, sizeof(shown), "Extra input fields: %.100s", name);
            rc = denied(r, shown);
        }
    }
    json_decref(covered);
    return rc;
}

/* ---- writing and answering ---- */

static char *meta_of_fields(const struct post *p)
{
    static const char *const stored[] = {"Content-Encoding", "Content-Disposition",
                                         "Content-Language", "Cache-Control",
                                         "Expires",          "x-amz-website-redirect-location"};
    json_t *meta = json_object();
    for (size_t i = 0; i < sizeof(stored) / sizeof(stored[0]); i++) {
        const char *v = field(p, stored[i]);
        if (v != NULL) {
            json_object_set_new(meta, stored[i], json_string(v));
        }
    }
    for (size_t i = 0; i < p->form.n_fields; i++) {
        const struct s3_form_field *f = &p->form.fields[i];
        if (strncasecmp(f->name, "x-amz-meta-", 11) == 0) {
            char *lower = xstrdup(f->name);
            for (char *c = lower; *c; c++) {
                *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
            }
            json_object_set_new(meta, lower, json_string(f->value));
            free(lower);
        }
    }
    char *out = json_object_size(meta) ? json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(meta);
    return out;
}

/* The tagging field: a <Tagging> document, with PutObjectTagging's limits. */
static int form_tags(struct post *p, char **tags_out)
{
    *tags_out = NULL;
    const struct s3_form_field *f = s3__form_get(&p->form, "tagging");
    if (f == NULL) {
        return 0;
    }
    struct s3_xml_node *root = NULL;
    int rc = s3__xml_parse(f->value, f->value_len, &root);
    if (rc == SL_E(NOMEM)) {
        return s3__fail(p->r, rc, "We encountered an internal error. Please try again.");
    }
    if (rc < 0 || strcmp(root->name, "Tagging") != 0) {
        rc = s3__fail(p->r, SL_E(MALFORMED_XML),
                      "The XML you provided was not well-formed or did not validate against "
                      "our published schema");
    } else {
        rc = s3__tagging_from_xml(p->r, root, 10, tags_out);
    }
    s3__xml_free(root);
    return rc;
}

/* Under the bucket's SSE-KMS default, the data key is asked for as the form's signer. */
static int encrypt_as_default(struct post *p, struct lake_writer *w)
{
    struct s3_req *r = p->r;
    char *sse = NULL;
    int rc = lake_default_sse(r->lake, r->bucket, p->key, &sse, &r->call->err);
    if (rc == 0 && sse != NULL) {
        struct api_request as = *r->req;
        as.account_id = p->who.account;
        as.principal_kind = (int)p->who.kind;
        as.principal_arn = p->who.arn;
        as.principal_id = p->who.id;
        as.principal_name = p->who.name;
        rc = lake_kms_authorize(r->lake, &as, "kms:GenerateDataKey", sse, &r->call->err);
    }
    if (rc == 0 && sse != NULL) {
        rc = lake_writer_encrypt(w, sse, NULL, &r->call->err);
    }
    free(sse);
    return rc;
}

static int write_object(struct post *p, const char *tags, struct lake_object_info *info)
{
    struct s3_req *r = p->r;
    struct lake_writer *w = NULL;
    int rc = lake_writer_open(r->lake, LAKE_CHECKSUM_NONE, &w);
    if (rc == 0 && (rc = encrypt_as_default(p, w)) < 0) {
        lake_writer_destroy(w);
        return rc;
    }
    if (rc == 0) {
        rc = lake_writer_write(w, p->body + p->form.file_offset, p->form.file_len);
    }
    char *meta = meta_of_fields(p);
    if (rc == 0) {
        rc = s3__storage_class_apply(r, field(p, "x-amz-storage-class"), &meta);
    }
    const char *ct = field(p, "Content-Type");
    struct lake_put_opts opts = {.content_type = ct != NULL ? ct : p->form.file_content_type,
                                 .meta_json = meta,
                                 .tags_json = tags};
    if (rc == 0) {
        rc = lake_writer_commit(w, r->bucket, p->key, &opts, info, &r->call->err);
    } else if (r->call->err.code == 0) {
        rc = s3__fail(r, rc, "We encountered an internal error. Please try again.");
    }
    free(meta);
    lake_writer_destroy(w);
    return rc;
}

static void location(struct post *p, struct buf *b)
{
    buf_printf(b, "http://%s/", p->r->req->host[0] ? p->r->req->host : "localhost");
    s3__url_encode(b, p->r->bucket);
    buf_puts(b, "/");
    s3__url_encode(b, p->key);
}

static int respond(struct post *p, const struct lake_object_info *info)
{
    struct s3_req *r = p->r;
    struct api_response *resp = r->call->resp;
    char etag[LAKE_ETAG_MAX + 2];
    snprintf(etag, sizeof(etag), "\"%s\"", info->etag);
    api_response_header(resp, "ETag", etag);
    struct buf loc;
    buf_init(&loc);
    location(p, &loc);
    const char *redirect = field(p, "success_action_redirect");
    if (redirect == NULL) {
        redirect = field(p, "redirect");
    }
    if (redirect != NULL &&
        (strncmp(redirect, "http://", 7) == 0 || strncmp(redirect, "https://", 8) == 0)) {
        struct buf to;
        buf_init(&to);
        buf_printf(&to, "%s%sbucket=", redirect, strchr(redirect, '?') ? "&" : "?");
        pct_encode(&to, r->bucket, strlen(r->bucket), 0);
        buf_puts(&to, "&key=");
        pct_encode(&to, p->key, strlen(p->key), 0);
        buf_puts(&to, "&etag=");
        pct_encode(&to, etag, strlen(etag), 0);
        resp->status = 303;
        api_response_header(resp, "Location", buf_status(&to) == 0 ? (char *)to.data : redirect);
        buf_fini(&to);
        buf_fini(&loc);
        return 0;
    }
    api_response_header(resp, "Location", buf_status(&loc) == 0 ? (char *)loc.data : "");
    const char *status = field(p, "success_action_status");
    if (status != NULL && strcmp(status, "201") == 0) {
        struct buf b;
        buf_init(&b);
        buf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse>");
        s3__xml_elem(&b, "Location", buf_status(&loc) == 0 ? (char *)loc.data : "");
        s3__xml_elem(&b, "Bucket", r->bucket);
        s3__xml_elem(&b, "Key", p->key);
        s3__xml_etag(&b, info->etag);
        buf_puts(&b, "</PostResponse>");
        buf_fini(&loc);
        resp->status = 201;
        return s3__respond_xml(r, &b);
    }
    buf_fini(&loc);
    resp->status = status != NULL && strcmp(status, "200") == 0 ? 200 : 204;
    return 0;
}

/* The key field with ${filename} replaced by the file's name. */
static char *expand_key(const char *key, const char *filename)
{
    struct buf b;
    buf_init(&b);
    static const char var[] = "${filename}";
    for (const char *k = key; *k;) {
        const char *at = strstr(k, var);
        if (at == NULL) {
            buf_puts(&b, k);
            break;
        }
        buf_append(&b, k, (size_t)(at - k));
        buf_puts(&b, filename);
        k = at + sizeof(var) - 1;
    }
    char *out = buf_status(&b) == 0 && b.data != NULL ? xstrdup((char *)b.data) : xstrdup("");
    buf_fini(&b);
    return out;
}

static int serve(struct post *p)
{
    struct s3_req *r = p->r;
    int rc = lake_bucket_get(r->lake, r->bucket, NULL, &r->call->err);
    if (rc < 0) {
        return rc;
    }
    char boundary[80];
    if (s3__form_boundary(s3__header(r, "Content-Type"), boundary, sizeof(boundary)) < 0) {
        return s3__fail(r, SL_E(MALFORMED_POST),
                        "The body of your POST request is not well-formed multipart/form-data.");
    }
    p->body_len = r->req->body_len;
    if (r->req->body_fd >= 0 && p->body_len > 0) {
        p->map = mmap(NULL, p->body_len, PROT_READ, MAP_PRIVATE, r->req->body_fd, 0);
        if (p->map == MAP_FAILED) {
            p->map = NULL;
            return s3__fail(r, SL_E(IO), "We encountered an internal error. Please try again.");
        }
        p->body = p->map;
    } else {
        p->body = r->req->body != NULL ? r->req->body : (const uint8_t *)"";
    }
    rc = s3__form_parse(p->body, p->body_len, boundary, &p->form, &r->call->err);
    if (rc < 0) {
        return rc;
    }
    if (!p->form.has_file) {
        return s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                        "POST requires exactly one file upload per request.");
    }
    const char *key = field(p, "key");
    if (key == NULL) {
        return missing(r, "key");
    }
    p->key = expand_key(key, p->form.file_name);
    if (p->key[0] == '\0' || strlen(p->key) > LAKE_KEY_MAX_BYTES) {
        return s3__fail(r, p->key[0] ? SL_E(KEY_TOO_LONG) : SL_E(INVALID_ARGUMENT_S3),
                        p->key[0] ? "Your key is too long"
                                  : "User key must have a length "
                                    "greater than 0.");
    }
    const char *policy = field(p, "policy");
    int v4 = field(p, "x-amz-algorithm") != NULL;
    int v2 = field(p, "AWSAccessKeyId") != NULL;
    if (policy == NULL) {
        /* No policy: an anonymous upload, which only a bucket open to all could take. */
        return v4 || v2 ? missing(r, "Policy")
                        : s3__fail(r, SL_E(S3_ACCESS_DENIED), "Access Denied");
    }
    if (!v4 && !v2) {
        return missing(r, "AWSAccessKeyId");
    }
    rc = v4 ? verify_v4(p, policy) : verify_v2(p, policy);
    if (rc == 0) {
        rc = authorize_signer(p);
    }
    if (rc == 0 && (int64_t)p->form.file_len > POST_MAX_OBJECT) {
        rc = s3__fail(r, SL_E(ENTITY_TOO_LARGE),
                      "Your proposed upload exceeds the maximum allowed size");
    }
    if (rc == 0) {
        rc = check_policy(p, policy, (int64_t)p->form.file_len);
    }
    char *acl = NULL;
    const char *canned = field(p, "acl");
    if (rc == 0 && canned != NULL) {
        rc = s3__acl_check_canned(r, canned, &acl);
    }
    char *tags = NULL;
    if (rc == 0) {
        rc = form_tags(p, &tags);
    }
    struct lake_object_info info;
    memset(&info, 0, sizeof(info));
    if (rc == 0) {
        rc = write_object(p, tags, &info);
    }
    free(tags);
    if (rc == 0 && acl != NULL) {
        char *saved = r->key;
        r->key = p->key;
        rc = s3__acl_after_write(r, acl);
        r->key = saved;
    }
    free(acl);
    if (rc == 0) {
        rc = respond(p, &info);
    }
    lake_object_info_fini(&info);
    return rc;
}

int s3__post_object(struct s3_req *r)
{
    r->call->operation = "PostObject";
    struct post p;
    memset(&p, 0, sizeof(p));
    p.r = r;
    int rc = serve(&p);
    if (p.map != NULL) {
        munmap(p.map, p.body_len);
    }
    s3__form_fini(&p.form);
    free(p.key);
    json_decref(p.policy);
    return rc;
}
