/*
 * The S3 REST adapter: addressing, dispatch, buckets, listing and the XML answers.
 * Object and multipart operations are in s3_object.c.
 *
 * Addressing: a Host of the form <bucket>.localhost[:port], <bucket>.s3.<...> or
 * <bucket>.s3-<region>.<...> names the bucket (virtual-hosted style) and the whole path
 * is the key; otherwise the first path segment is the bucket (path style). Paths and
 * query values are percent-decoded here; keys are kept byte for byte.
 */
#include "lake/s3_api.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/base64.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/mem.h"
#include "core/text.h"
#include "http/http.h"
#include "lake/lake_restore.h"
#include "lake/s3_http.h"

/* ---- decoding ---- */

int s3__path_decode(const char *s, size_t len, char **out)
{
    size_t n = 0;
    *out = pct_decode_dup(s, len, PCT_PATH, &n);
    if (*out == NULL) {
        return SL_E(NOMEM);
    }
    if (strlen(*out) != n) {
        free(*out);
        *out = NULL;
        return SL_E(INVALID_ARGUMENT_S3);
    }
    return 0;
}

/* ---- XML writing ---- */

/* An element whose text is URL-encoded when url is set (encoding-type=url). */
static void xml_elem_enc(struct buf *b, const char *name, const char *text, int url)
{
    if (!url) {
        s3__xml_elem(b, name, text);
        return;
    }
    struct buf tmp;
    buf_init(&tmp);
    s3__url_encode(&tmp, text ? text : "");
    s3__xml_elem(b, name, tmp.data ? (char *)tmp.data : "");
    buf_fini(&tmp);
}

static int parse_max(struct s3_req *r, const char *name, long long dflt, long long *out)
{
    const char *v = s3__query(r, name);
    if (v == NULL) {
        *out = dflt;
        return 0;
    }
    long long n = s3__parse_uint(v);
    if (n < 0) {
        return s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                        "Provided %s not an integer or within "
                        "integer range",
                        name);
    }
    *out = n > dflt ? dflt : n;
    return 0;
}

/* The bucket from a virtual-hosted Host header, or NULL for path style. */
static char *host_bucket(const char *host)
{
    if (host == NULL || *host == '\0') {
        return NULL;
    }
    size_t len = strcspn(host, ":");
    char *h = xstrndup(host, len);
    char *bucket = NULL;
    static const char local_suffix[] = ".localhost";
    size_t ls = sizeof(local_suffix) - 1;
    if (len > ls && strcasecmp(h + len - ls, local_suffix) == 0) {
        bucket = xstrndup(h, len - ls);
    } else {
        /* <bucket>.s3.<...> or <bucket>.s3-<region>.<...> */
        for (char *p = strstr(h, ".s3"); p != NULL; p = strstr(p + 1, ".s3")) {
            if (p > h && (p[3] == '.' || p[3] == '-')) {
                bucket = xstrndup(h, (size_t)(p - h));
                break;
            }
        }
    }
    free(h);
    return bucket;
}

static void req_fini(struct s3_req *r)
{
    free(r->bucket);
    free(r->key);
    for (size_t i = 0; i < r->n_params; i++) {
        free(r->params[i].name);
        free(r->params[i].value);
    }
    free(r->params);
    free(r->resource);
}

/* Splits the query string into decoded parameters and the path into bucket and key. */
static int req_parse(struct s3_req *r)
{
    const char *q = r->req->query ? r->req->query : "";
    struct query_params qp;
    query_params_init(&qp);
    int rc = query_params_parse(&qp, q, strlen(q));
    if (rc < 0) {
        query_params_fini(&qp);
        return s3__fail(r, rc == SL_E(NOMEM) ? rc : SL_E(INVALID_ARGUMENT_S3),
                        rc == SL_E(NOMEM) ? "We encountered an internal error. Please try again."
                                          : "A query parameter must not contain a NUL byte");
    }
    /* The decoded fields become the request's (struct s3_param pairs). */
    r->params = try_malloc((qp.n ? qp.n : 1) * sizeof(*r->params));
    if (r->params == NULL) {
        query_params_fini(&qp);
        return s3__fail(r, SL_E(NOMEM), "We encountered an internal error. Please try again.");
    }
    for (size_t i = 0; i < qp.n; i++) {
        r->params[i].name = qp.names[i];
        r->params[i].value = qp.values[i];
    }
    r->n_params = qp.n;
    free(qp.names);
    free(qp.values);
    const char *path = r->req->path ? r->req->path : "/";
    if (*path == '/') {
        path++;
    }
    r->bucket = host_bucket(r->req->host);
    if (r->bucket != NULL) {
        if (*path != '\0') {
            rc = s3__path_decode(path, strlen(path), &r->key);
        }
    } else if (*path != '\0') {
        size_t blen = strcspn(path, "/");
        rc = s3__path_decode(path, blen, &r->bucket);
        if (rc == 0 && path[blen] == '/' && path[blen + 1] != '\0') {
            const char *k = path + blen + 1;
            rc = s3__path_decode(k, strlen(k), &r->key);
        }
    }
    if (rc == SL_E(NOMEM)) {
        return s3__fail(r, rc, "We encountered an internal error. Please try again.");
    }
    if (rc < 0) {
        return s3__fail(r, SL_E(INVALID_ARGUMENT_S3), "Object key must not contain NUL");
    }
    if (r->bucket != NULL) {
        r->resource = r->key ? xasprintf("/%s/%s", r->bucket, r->key) : xasprintf("/%s", r->bucket);
    }
    return 0;
}

/* ---- buckets ---- */

static int list_buckets(struct s3_req *r)
{
    struct lake_bucket_info *list = NULL;
    size_t n = 0;
    int rc = lake_bucket_list(r->lake, &list, &n);
    if (rc < 0) {
        return s3__fail(r, rc, "We encountered an internal error. Please try again.");
    }
    struct buf b;
    buf_init(&b);
    s3__xml_open(&b, "ListAllMyBucketsResult");
    s3__owner(r, &b, "Owner");
    buf_puts(&b, "<Buckets>");
    for (size_t i = 0; i < n; i++) {
        buf_puts(&b, "<Bucket>");
        s3__xml_elem(&b, "Name", list[i].name);
        s3__xml_elem_time(&b, "CreationDate", list[i].created_ms);
        buf_puts(&b, "</Bucket>");
    }
    buf_puts(&b, "</Buckets></ListAllMyBucketsResult>");
    free(list);
    return s3__respond_xml(r, &b);
}

static int create_bucket(struct s3_req *r)
{
    char region[32];
    snprintf(region, sizeof(region), "%s",
             r->req->region && *r->req->region ? r->req->region : "us-east-1");
    struct buf body;
    buf_init(&body);
    int rc = s3__body_to_buf(r, &body, 1 << 20);
    if (rc == 0 && body.len > 0) {
        struct s3_xml_node *root = NULL;
        int xrc = s3__xml_parse((const char *)body.data, body.len, &root);
        if (xrc == SL_E(NOMEM)) {
            rc = s3__fail(r, xrc, "The request body does not fit in memory.");
        } else if (xrc < 0 || strcmp(root->name, "CreateBucketConfiguration") != 0) {
            rc = s3__fail(r, SL_E(MALFORMED_XML),
                          "The XML you provided was not well-formed or did not validate "
                          "against our published schema");
        } else {
            const char *lc = s3__xml_child_text(root, "LocationConstraint");
            if (lc != NULL && strlen(lc) >= sizeof(region)) {
                rc = s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                              "The specified location-constraint is not valid");
            } else if (lc != NULL && *lc != '\0') {
                snprintf(region, sizeof(region), "%s", lc);
            }
        }
        s3__xml_free(root);
    }
    buf_fini(&body);
    char *acl = NULL;
    if (rc == 0 && (rc = s3__check_object_ownership_header(r)) == 0) {
        rc = s3__acl_check_write(r, 1, &acl);
    }
    if (rc < 0) {
        return rc;
    }
    rc = lake_bucket_create(r->lake, r->bucket, region, &r->call->err);
    if (rc == 0) {
        rc = s3__create_bucket_settings(r, acl);
    }
    free(acl);
    if (rc == SL_E(BUCKET_ALREADY_OWNED) && strcmp(region, "us-east-1") == 0) {
        rc = 0; /* us-east-1 answers 200 to re-creating an owned bucket, for legacy */
        err_clear(&r->call->err);
    }
    if (rc == 0) {
        rc = s3__create_bucket_lock(r);
    }
    if (rc == 0) {
        char loc[LAKE_BUCKET_NAME_MAX + 2];
        snprintf(loc, sizeof(loc), "/%s", r->bucket);
        api_response_header(r->call->resp, "Location", loc);
    }
    return rc;
}

static int head_bucket(struct s3_req *r)
{
    struct lake_bucket_info info;
    int rc = lake_bucket_get(r->lake, r->bucket, &info, &r->call->err);
    if (rc == 0) {
        api_response_header(r->call->resp, "x-amz-bucket-region", info.region);
        r->call->resp->head_only = 1;
    }
    return rc;
}

static int get_bucket_location(struct s3_req *r)
{
    struct lake_bucket_info info;
    int rc = lake_bucket_get(r->lake, r->bucket, &info, &r->call->err);
    if (rc < 0) {
        return rc;
    }
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"%s\">",
               S3_XMLNS);
    if (strcmp(info.region, "us-east-1") != 0) {
        s3__xml_text(&b, info.region);
    }
    buf_puts(&b, "</LocationConstraint>");
    return s3__respond_xml(r, &b);
}

static int put_bucket_policy(struct s3_req *r)
{
    struct buf body;
    buf_init(&body);
    int rc = s3__body_to_buf(r, &body, 20 * 1024);
    if (rc == 0) {
        json_error_t jerr;
        json_t *doc = json_loadb((const char *)body.data, body.len, 0, &jerr);
        if (!json_is_object(doc) || json_object_get(doc, "Statement") == NULL) {
            rc = s3__fail(r, SL_E(MALFORMED_POLICY),
                          "Policies must be valid JSON and the first "
                          "byte must be '{'");
        } else if ((rc = s3__check_policy_allowed(r, (const char *)body.data)) == 0) {
            rc = lake_bucket_doc_put(r->lake, r->bucket, LAKE_BUCKET_POLICY,
                                     (const char *)body.data, &r->call->err);
        }
        json_decref(doc);
    }
    buf_fini(&body);
    if (rc == 0) {
        r->call->resp->status = 204;
    }
    return rc;
}

static int get_bucket_policy(struct s3_req *r)
{
    char *policy = NULL;
    int rc = lake_bucket_doc_get(r->lake, r->bucket, LAKE_BUCKET_POLICY, &policy, &r->call->err);
    if (rc < 0) {
        return rc;
    }
    if (policy == NULL) {
        return s3__fail(r, SL_E(NO_SUCH_BUCKET_POLICY), "The bucket policy does not exist");
    }
    api_response_header(r->call->resp, "Content-Type", "application/json");
    buf_puts(&r->call->resp->body, policy);
    free(policy);
    return 0;
}

static int delete_bucket_doc(struct s3_req *r, enum lake_bucket_doc doc)
{
    int rc = lake_bucket_doc_put(r->lake, r->bucket, doc, NULL, &r->call->err);
    if (rc == 0) {
        r->call->resp->status = 204;
    }
    return rc;
}

static int put_bucket_tagging(struct s3_req *r)
{
    char *tags = NULL;
    int rc = s3__parse_tagging(r, 50, &tags);
    if (rc == 0) {
        rc = lake_bucket_doc_put(r->lake, r->bucket, LAKE_BUCKET_TAGS, tags, &r->call->err);
    }
    free(tags);
    if (rc == 0) {
        r->call->resp->status = 204;
    }
    return rc;
}

static int get_bucket_tagging(struct s3_req *r)
{
    char *tags = NULL;
    int rc = lake_bucket_doc_get(r->lake, r->bucket, LAKE_BUCKET_TAGS, &tags, &r->call->err);
    if (rc < 0) {
        return rc;
    }
    if (tags == NULL) {
        return s3__fail(r, SL_E(NO_SUCH_TAG_SET), "The TagSet does not exist");
    }
    rc = s3__respond_tagging(r, tags);
    free(tags);
    return rc;
}

/* ---- listing ---- */

static void list_contents(struct s3_req *r, struct buf *b, const struct lake_object_info *o,
                          int url, int owner, int versions)
{
    buf_puts(b, versions ? "<Version>" : "<Contents>");
    xml_elem_enc(b, "Key", o->key, url);
    if (versions) {
        buf_puts(b, "<VersionId>null</VersionId><IsLatest>true</IsLatest>");
    }
    s3__xml_elem_time(b, "LastModified", o->last_modified_ms);
    s3__xml_etag(b, o->etag);
    if (o->checksum_algo != LAKE_CHECKSUM_NONE) {
        s3__xml_elem(b, "ChecksumAlgorithm", lake_checksum_name(o->checksum_algo));
        s3__xml_elem(b, "ChecksumType",
                     lake_checksum_type_name(lake_checksum_type_of(o->checksum)));
    }
    s3__xml_elem_int(b, "Size", o->size_bytes);
    char sc[32];
    s3__xml_elem(b, "StorageClass", s3__storage_class(o, sc));
    if (owner) {
        s3__owner(r, b, "Owner");
    }
    s3__restore_status(r, b, o);
    buf_puts(b, versions ? "</Version>" : "</Contents>");
}

/*
 * ListObjectsV2 (v2=1), ListObjects (v2=0) and ListObjectVersions (versions=1) share
 * one walk; they differ in the marker parameters and the element names.
 */
static int list_objects(struct s3_req *r, int v2, int versions)
{
    long long max_keys = 0;
    int rc = parse_max(r, "max-keys", 1000, &max_keys);
    if (rc < 0) {
        return rc;
    }
    const char *enc = s3__query(r, "encoding-type");
    if (enc != NULL && strcmp(enc, "url") != 0) {
        return s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                        "Invalid Encoding Method specified in "
                        "Request");
    }
    int url = enc != NULL;
    const char *prefix = s3__query(r, "prefix");
    const char *delim = s3__query(r, "delimiter");
    const char *token = v2 ? s3__query(r, "continuation-token") : NULL;
    const char *start_after = v2 ? s3__query(r, "start-after") : NULL;
    const char *marker = v2 ? NULL : s3__query(r, versions ? "key-marker" : "marker");
    char *after = NULL;
    if (token != NULL) {
        /* A token Sluice made holds 'k' and a key: anything longer is not one (and its
           length, the client's choice, sizes no allocation). */
        size_t tl = strlen(token);
        uint8_t *dec = tl <= BASE64_ENCODED_LEN(LAKE_KEY_MAX_BYTES + 1) ? xmalloc(tl + 4) : NULL;
        long n = dec ? base64url_decode(token, tl, dec) : -1;
        if (n < 1 || dec[0] != 'k' || memchr(dec, '\0', (size_t)n) != NULL) {
            free(dec);
            return s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                            "The continuation token provided is "
                            "incorrect");
        }
        after = xstrndup((const char *)dec + 1, (size_t)n - 1);
        free(dec);
    } else if (start_after != NULL && *start_after) {
        after = xstrdup(start_after);
    } else if (marker != NULL && *marker) {
        after = xstrdup(marker);
    }
    struct lake_list_opts opts = {
        .prefix = prefix, .delimiter = delim, .after = after, .max_keys = (size_t)max_keys};
    struct lake_list_result res;
    rc = lake_object_list(r->lake, r->bucket, &opts, &res, &r->call->err);
    if (rc < 0) {
        free(after);
        return rc;
    }
    struct buf b;
    buf_init(&b);
    s3__xml_open(&b, versions ? "ListVersionsResult" : "ListBucketResult");
    s3__xml_elem(&b, "Name", r->bucket);
    xml_elem_enc(&b, "Prefix", prefix ? prefix : "", url);
    if (versions) {
        xml_elem_enc(&b, "KeyMarker", marker ? marker : "", url);
        s3__xml_elem(&b, "VersionIdMarker", s3__query(r, "version-id-marker"));
    } else if (!v2) {
        xml_elem_enc(&b, "Marker", marker ? marker : "", url);
    }
    if (v2) {
        s3__xml_elem_int(&b, "KeyCount", (long long)(res.n_objects + res.n_prefixes));
    }
    s3__xml_elem_int(&b, "MaxKeys", max_keys);
    if (delim != NULL && *delim) {
        xml_elem_enc(&b, "Delimiter", delim, url);
    }
    s3__xml_elem(&b, "IsTruncated", res.truncated ? "true" : "false");
    if (v2 && token != NULL) {
        s3__xml_elem(&b, "ContinuationToken", token);
    }
    if (v2 && start_after != NULL) {
        xml_elem_enc(&b, "StartAfter", start_after, url);
    }
    if (res.truncated && res.last != NULL) {
        if (v2) {
            size_t ll = strlen(res.last);
            uint8_t *raw = xmalloc(ll + 1);
            raw[0] = 'k';
            memcpy(raw + 1, res.last, ll);
            char *tok = xmalloc(BASE64_ENCODED_LEN(ll + 1) + 1);
            tok[base64url_encode(raw, ll + 1, tok)] = '\0';
            s3__xml_elem(&b, "NextContinuationToken", tok);
            free(tok);
            free(raw);
        } else if (versions) {
            xml_elem_enc(&b, "NextKeyMarker", res.last, url);
            s3__xml_elem(&b, "NextVersionIdMarker", "null");
        } else {
            xml_elem_enc(&b, "NextMarker", res.last, url);
        }
    }
    const char *fetch_owner = s3__query(r, "fetch-owner");
    int owner = !v2 || (fetch_owner != NULL && strcmp(fetch_owner, "true") == 0);
    for (size_t i = 0; i < res.n_objects; i++) {
        list_contents(r, &b, &res.objects[i], url, owner, versions);
    }
    for (size_t i = 0; i < res.n_prefixes; i++) {
        buf_puts(&b, "<CommonPrefixes>");
        xml_elem_enc(&b, "Prefix", res.prefixes[i], url);
        buf_puts(&b, "</CommonPrefixes>");
    }
    if (url) {
        s3__xml_elem(&b, "EncodingType", "url");
    }
    buf_puts(&b, versions ? "</ListVersionsResult>" : "</ListBucketResult>");
    lake_list_result_fini(&res);
    free(after);
    return s3__respond_xml(r, &b);
}

static int list_uploads(struct s3_req *r)
{
    long long max = 0;
    int rc = parse_max(r, "max-uploads", 1000, &max);
    if (rc < 0) {
        return rc;
    }
    const char *prefix = s3__query(r, "prefix");
    const char *km = s3__query(r, "key-marker");
    const char *im = s3__query(r, "upload-id-marker");
    struct lake_upload_list list;
    rc = lake_upload_list(r->lake, r->bucket, prefix, km, im, (size_t)max, &list, &r->call->err);
    if (rc < 0) {
        return rc;
    }
    struct buf b;
    buf_init(&b);
    s3__xml_open(&b, "ListMultipartUploadsResult");
    s3__xml_elem(&b, "Bucket", r->bucket);
    s3__xml_elem(&b, "KeyMarker", km);
    s3__xml_elem(&b, "UploadIdMarker", im);
    if (list.n_uploads > 0) {
        s3__xml_elem(&b, "NextKeyMarker", list.uploads[list.n_uploads - 1].key);
        s3__xml_elem(&b, "NextUploadIdMarker", list.uploads[list.n_uploads - 1].upload_id);
    }
    s3__xml_elem(&b, "Prefix", prefix);
    s3__xml_elem_int(&b, "MaxUploads", max);
    s3__xml_elem(&b, "IsTruncated", list.truncated ? "true" : "false");
    for (size_t i = 0; i < list.n_uploads; i++) {
        buf_puts(&b, "<Upload>");
        s3__xml_elem(&b, "Key", list.uploads[i].key);
        s3__xml_elem(&b, "UploadId", list.uploads[i].upload_id);
        s3__owner(r, &b, "Initiator");
        s3__owner(r, &b, "Owner");
        char sc[32];
        s3__xml_elem(&b, "StorageClass", lake_class_of(list.uploads[i].meta_json, sc));
        s3__xml_elem_time(&b, "Initiated", list.uploads[i].initiated_ms);
        if (list.uploads[i].checksum_algo != LAKE_CHECKSUM_NONE) {
            s3__xml_elem(&b, "ChecksumAlgorithm",
                         lake_checksum_name(list.uploads[i].checksum_algo));
            s3__xml_elem(&b, "ChecksumType",
                         lake_checksum_type_name(list.uploads[i].checksum_type));
        }
        buf_puts(&b, "</Upload>");
    }
    buf_puts(&b, "</ListMultipartUploadsResult>");
    lake_upload_list_fini(&list);
    return s3__respond_xml(r, &b);
}

/* ---- dispatch ---- */

static int bucket_op(struct s3_req *r)
{
    const char *m = r->req->method;
    int handled = 0;
    int arc = s3__access_bucket_op(r, &handled);
    if (handled) {
        return arc;
    }
    int has_tagging = s3__query(r, "tagging") != NULL;
    int has_policy = s3__query(r, "policy") != NULL;
    if (s3__query(r, "object-lock") != NULL) {
        return s3__bucket_lock_op(r);
    }
    if (s3__query(r, "lifecycle") != NULL) {
        return s3__bucket_lifecycle(r);
    }
    if (strcmp(m, "GET") == 0) {
        if (s3__query(r, "location") != NULL) {
            r->call->operation = "GetBucketLocation";
            return get_bucket_location(r);
        }
        if (s3__query(r, "versioning") != NULL) {
            r->call->operation = "GetBucketVersioning";
            return s3__get_bucket_versioning(r);
        }
        if (s3__query(r, "versions") != NULL) {
            r->call->operation = "ListObjectVersions";
            return s3__list_object_versions(r);
        }
        if (s3__query(r, "uploads") != NULL) {
            r->call->operation = "ListMultipartUploads";
            return list_uploads(r);
        }
        if (has_tagging) {
            r->call->operation = "GetBucketTagging";
            return get_bucket_tagging(r);
        }
        if (has_policy) {
            r->call->operation = "GetBucketPolicy";
            return get_bucket_policy(r);
        }
        if (s3__query(r, "encryption") != NULL) {
            r->call->operation = "GetBucketEncryption";
            return s3__get_bucket_encryption(r);
        }
        if (s3__unsupported_subresource(r)) {
            return s3__fail(r, SL_E(NOT_IMPLEMENTED),
                            "This bucket subresource is not "
                            "implemented by Sluice");
        }
        const char *lt = s3__query(r, "list-type");
        if (lt != NULL && strcmp(lt, "2") == 0) {
            r->call->operation = "ListObjectsV2";
            return list_objects(r, 1, 0);
        }
        r->call->operation = "ListObjects";
        return list_objects(r, 0, 0);
    }
    if (strcmp(m, "PUT") == 0) {
        if (has_tagging) {
            r->call->operation = "PutBucketTagging";
            return put_bucket_tagging(r);
        }
        if (has_policy) {
            r->call->operation = "PutBucketPolicy";
            return put_bucket_policy(r);
        }
        if (s3__query(r, "versioning") != NULL) {
            r->call->operation = "PutBucketVersioning";
            return s3__put_bucket_versioning(r);
        }
        if (s3__query(r, "encryption") != NULL) {
            r->call->operation = "PutBucketEncryption";
            return s3__put_bucket_encryption(r);
        }
        if (s3__unsupported_subresource(r)) {
            return s3__fail(r, SL_E(NOT_IMPLEMENTED),
                            "This bucket subresource is not "
                            "implemented by Sluice");
        }
        r->call->operation = "CreateBucket";
        return create_bucket(r);
    }
    if (strcmp(m, "HEAD") == 0) {
        r->call->operation = "HeadBucket";
        return head_bucket(r);
    }
    if (strcmp(m, "DELETE") == 0) {
        if (has_tagging) {
            r->call->operation = "DeleteBucketTagging";
            return delete_bucket_doc(r, LAKE_BUCKET_TAGS);
        }
        if (has_policy) {
            r->call->operation = "DeleteBucketPolicy";
            return delete_bucket_doc(r, LAKE_BUCKET_POLICY);
        }
        if (s3__query(r, "encryption") != NULL) {
            r->call->operation = "DeleteBucketEncryption";
            return delete_bucket_doc(r, LAKE_BUCKET_ENCRYPTION);
        }
        if (s3__unsupported_subresource(r)) {
            return s3__fail(r, SL_E(NOT_IMPLEMENTED),
                            "This bucket subresource is not "
                            "implemented by Sluice");
        }
        r->call->operation = "DeleteBucket";
        int rc = lake_bucket_delete(r->lake, r->bucket, &r->call->err);
        if (rc == 0) {
            r->call->resp->status = 204;
        }
        return rc;
    }
    if (strcmp(m, "POST") == 0 && s3__query(r, "delete") != NULL) {
        r->call->operation = "DeleteObjects";
        return s3__delete_objects(r);
    }
    return s3__fail(r, SL_E(METHOD_NOT_ALLOWED),
                    "The specified method is not allowed against this resource.");
}

int s3__handle(struct api_call *call)
{
    struct s3_req r;
    memset(&r, 0, sizeof(r));
    r.call = call;
    r.req = call->req;
    r.lake = call->service_ctx;
    int rc = req_parse(&r);
    if (r.bucket != NULL && strlen(r.bucket) < sizeof(call->resp->metrics_bucket)) {
        /* for the bucket's request metrics (AWS/S3); a longer name is no bucket's */
        snprintf(call->resp->metrics_bucket, sizeof(call->resp->metrics_bucket), "%s", r.bucket);
    }
    if (rc == 0 && strcmp(r.req->method, "OPTIONS") == 0) {
        rc = s3__cors_preflight(&r);
    } else if (rc == 0 && r.req->principal_kind == HTTP_PRINCIPAL_ANONYMOUS &&
               !s3__anonymous_allowed(&r)) {
        rc = s3__fail(&r, SL_E(S3_ACCESS_DENIED), "Access Denied");
    } else if (rc == 0) {
        if (r.bucket == NULL) {
            if (strcmp(r.req->method, "GET") == 0) {
                call->operation = "ListBuckets";
                rc = list_buckets(&r);
            } else {
                rc = s3__fail(&r, SL_E(METHOD_NOT_ALLOWED),
                              "The specified method is not allowed against this resource.");
            }
        } else if (r.key == NULL) {
            rc = bucket_op(&r);
        } else {
            rc = s3__object_op(&r);
        }
    }
    if (r.bucket != NULL) {
        s3__cors_response_headers(&r);
    }
    if (rc < 0) {
        if (call->err.code == 0) {
            err_set(&call->err, rc, "We encountered an internal error. Please try again.");
        }
        /* The front end reads call->resource when it renders the error, after this
           returns, on the same thread; r is freed below, so keep a per-thread copy. */
        static _Thread_local char resource[LAKE_KEY_MAX_BYTES + LAKE_BUCKET_NAME_MAX + 8];
        call->resource = NULL;
        if (r.resource != NULL) {
            snprintf(resource, sizeof(resource), "%s", r.resource);
            call->resource = resource;
        }
    }
    call->resp->metrics_operation = call->operation;
    /* the key for per-filter request metrics, read once this returns on the same thread */
    static _Thread_local char metrics_key[LAKE_KEY_MAX_BYTES + 1];
    call->resp->metrics_key = NULL;
    if (r.key != NULL && strlen(r.key) < sizeof(metrics_key)) {
        memcpy(metrics_key, r.key, strlen(r.key) + 1);
        call->resp->metrics_key = metrics_key;
    }
    req_fini(&r);
    return rc;
}

struct api_rest_service *s3_api_create(struct lake *lake)
{
    struct api_rest_service *desc = xmalloc(sizeof(*desc));
    *desc = (struct api_rest_service){
        .signing_name = "s3", .host_bucket = host_bucket, .handle = s3__handle, .ctx = lake};
    return desc;
}

void s3_api_destroy(struct api_rest_service *desc)
{
    free(desc);
}
