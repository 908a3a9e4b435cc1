/*
 * Server-side encryption headers of the S3 adapter: the SSE-C key a request carries
 * (x-amz-server-side-encryption-customer-*, or x-amz-copy-source-...-customer-* for
 * a copy's source), the x-amz-server-side-encryption a write asks for, and the headers
 * an answer reports for an object's encryption record (lake_sse_describe).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/base64.h"
#include "core/crypto.h"
#include "core/mem.h"
#include "lake/s3_http.h"

#define SSE_C_MSG "Requests specifying Server Side Encryption with Customer provided keys must "

int s3__sse_customer(struct s3_req *r, int copy_source, struct s3_sse_key *out)
{
    memset(out, 0, sizeof(*out));
    const char *pre = copy_source ? "x-amz-copy-source-server-side-encryption-customer-"
                                  : "x-amz-server-side-encryption-customer-";
    char name[96];
    snprintf(name, sizeof(name), "%salgorithm", pre);
    const char *algo = s3__header(r, name);
    snprintf(name, sizeof(name), "%skey", pre);
    const char *key = s3__header(r, name);
    snprintf(name, sizeof(name), "%skey-MD5", pre);
    const char *md5 = s3__header(r, name);
    if (algo == NULL && key == NULL && md5 == NULL) {
        return 0;
    }
    if (algo == NULL) {
        return s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                        SSE_C_MSG "provide a valid encryption algorithm.");
    }
    if (strcmp(algo, "AES256") != 0) {
        return s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                        "The encryption algorithm specified is not valid.");
    }
    if (key == NULL) {
        return s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                        SSE_C_MSG "provide an appropriate secret key.");
    }
    if (md5 == NULL) {
        return s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                        SSE_C_MSG "provide the client calculated MD5 of the secret key.");
    }
    uint8_t raw[64];
    size_t len = strlen(key);
    if (len > 60 || base64_decode(key, len, raw) != LAKE_SSE_KEY_LEN) {
        return s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                        "The secret key was invalid for the specified algorithm.");
    }
    uint8_t want[MD5_LEN];
    uint8_t got[MD5_LEN + 8];
    crypto_md5(raw, LAKE_SSE_KEY_LEN, want);
    if (strlen(md5) > 32 || base64_decode(md5, strlen(md5), got) != MD5_LEN ||
        !crypto_equal(want, got, MD5_LEN)) {
        return s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                        "The calculated MD5 hash of the key did not match the hash that was "
                        "provided.");
    }
    memcpy(out->key, raw, LAKE_SSE_KEY_LEN);
    explicit_bzero(raw, sizeof(raw));
    out->given = 1;
    return 0;
}

/* The bucket's default encryption document, NULL when none (SSE-S3). */
static json_t *bucket_default(struct s3_req *r)
{
    char *text = NULL;
    struct err_info e = {0};
    if (lake_bucket_doc_get(r->lake, r->bucket, LAKE_BUCKET_ENCRYPTION, &text, &e) < 0) {
        return NULL;
    }
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    return doc;
}

/* The encryption context of an SSE-KMS write: the header's (base64 of a JSON object of
   strings) or S3's default, the object's ARN (the bucket's with a bucket key). Caller
   frees. */
static int kms_context(struct s3_req *r, int bucket_key, char **out)
{
    *out = NULL;
    const char *h = s3__header(r, "x-amz-server-side-encryption-context");
    if (h == NULL) {
        json_t *ctx = json_object();
        char *arn = bucket_key ? xasprintf("arn:aws:s3:::%s", r->bucket)
                               : xasprintf("arn:aws:s3:::%s/%s", r->bucket, r->key);
        json_object_set_new(ctx, "aws:s3:arn", json_string(arn));
        free(arn);
        *out = json_dumps(ctx, JSON_COMPACT);
        json_decref(ctx);
        return 0;
    }
    size_t len = strlen(h);
    char *raw = xmalloc(BASE64_DECODED_MAX(len) + 1);
    long n = len <= 8192 ? base64_decode(h, len, (uint8_t *)raw) : -1;
    json_t *ctx = n > 0 ? json_loadb(raw, (size_t)n, 0, NULL) : NULL;
    free(raw);
    int ok = json_is_object(ctx);
    const char *k;
    json_t *v;
    json_object_foreach(ctx, k, v)
    {
        ok = ok && json_is_string(v);
    }
    if (!ok) {
        json_decref(ctx);
        return s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                        "The header 'x-amz-server-side-encryption-context' shall be "
                        "Base64-encoded UTF-8 string holding JSON which represents a "
                        "string-string map");
    }
    *out = json_dumps(ctx, JSON_COMPACT);
    json_decref(ctx);
    return 0;
}

static int is_kms(const char *alg)
{
    return strcmp(alg, "aws:kms") == 0 || strcmp(alg, "aws:kms:dsse") == 0;
}

/* Records in an SSE-KMS record what S3 reports but the lake need not know: dual-layer
   asked for (S3 answers aws:kms:dsse), a context the caller gave (echoed on writes). */
static void record_mark(char **record, int dsse, int caller_context)
{
    if (!dsse && !caller_context) {
        return;
    }
    json_t *j = json_loads(*record, 0, NULL);
    if (dsse) {
        json_object_set_new(j, "alg", json_string("aws:kms:dsse"));
    }
    if (caller_context) {
        json_object_set_new(j, "uc", json_integer(1));
    }
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    if (text != NULL) {
        free(*record);
        *record = text;
    }
}

int s3__sse_write(struct s3_req *r, const struct s3_sse_key *ck, char **record)
{
    *record = NULL;
    const char *sse = s3__header(r, "x-amz-server-side-encryption");
    const char *key_id = s3__header(r, "x-amz-server-side-encryption-aws-kms-key-id");
    const char *bk = s3__header(r, "x-amz-server-side-encryption-bucket-key-enabled");
    if (sse != NULL && ck->given) {
        return s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                        "Server Side Encryption with Customer provided key is incompatible with "
                        "the encryption method specified");
    }
    if (key_id != NULL && (sse == NULL || !is_kms(sse))) {
        return s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                        "Server Side Encryption with AWS KMS managed key requires HTTP header "
                        "x-amz-server-side-encryption : aws:kms");
    }
    if (sse != NULL && strcmp(sse, "AES256") != 0 && !is_kms(sse)) {
        return s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                        "The encryption method specified is not supported");
    }
    int bucket_key = bk != NULL && strcasecmp(bk, "true") == 0;
    json_t *def = NULL;
    if (sse == NULL && !ck->given) {
        /* No choice in the request: the bucket's default. */
        def = bucket_default(r);
        const char *alg = json_string_value(json_object_get(def, "alg"));
        if (alg != NULL && is_kms(alg)) {
            sse = alg;
            key_id = json_string_value(json_object_get(def, "kms"));
            bucket_key = json_is_true(json_object_get(def, "bk"));
        }
    }
    int rc = 0;
    if (sse != NULL && is_kms(sse)) {
        char *ctx = NULL;
        rc = kms_context(r, bucket_key, &ctx);
        if (rc == 0) {
            *record = lake_sse_new_kms(r->lake, key_id, ctx, bucket_key, &r->call->err);
            rc = *record == NULL ? r->call->err.code : 0;
        }
        free(ctx);
        if (rc == 0) {
            record_mark(record, strcmp(sse, "aws:kms:dsse") == 0,
                        s3__header(r, "x-amz-server-side-encryption-context") != NULL);
            /* S3 asks KMS for the data key as the caller. */
            rc = lake_kms_authorize(r->lake, r->call->req, "kms:GenerateDataKey", *record,
                                    &r->call->err);
        }
        if (rc < 0) {
            free(*record);
            *record = NULL;
        }
    }
    json_decref(def);
    return rc;
}

int s3__sse_kms_allowed(struct s3_req *r, const char *record, const char *action)
{
    return lake_kms_authorize(r->lake, r->call->req, action, record, &r->call->err);
}

/* A write's answer (PutObject, CopyObject, CreateMultipartUpload) echoes the encryption
   context the caller gave, base64 of its JSON. */
static void context_header(struct s3_req *r, const char *record)
{
    const char *m = r->call->req->method;
    if (strcmp(m, "PUT") != 0 && (strcmp(m, "POST") != 0 || s3__query(r, "uploads") == NULL)) {
        return;
    }
    json_t *j = json_loads(record, 0, NULL);
    char *text = json_integer_value(json_object_get(j, "uc"))
                     ? json_dumps(json_object_get(j, "ctx"), JSON_COMPACT)
                     : NULL;
    if (text != NULL) {
        size_t len = strlen(text);
        char *b64 = xmalloc(BASE64_ENCODED_LEN(len) + 1);
        b64[base64_encode((const uint8_t *)text, len, b64)] = '\0';
        api_response_header(r->call->resp, "x-amz-server-side-encryption-context", b64);
        free(b64);
        free(text);
    }
    json_decref(j);
}

void s3__sse_headers(struct s3_req *r, const char *record)
{
    struct lake_sse_desc d;
    if (record == NULL || lake_sse_describe(record, &d) < 0 || d.algo == LAKE_SSE_NONE) {
        return;
    }
    if (d.algo == LAKE_SSE_C) {
        api_response_header(r->call->resp, "x-amz-server-side-encryption-customer-algorithm",
                            "AES256");
        api_response_header(r->call->resp, "x-amz-server-side-encryption-customer-key-MD5",
                            d.customer_key_md5);
        return;
    }
    if (d.algo == LAKE_SSE_KMS) {
        api_response_header(r->call->resp, "x-amz-server-side-encryption",
                            d.dsse ? "aws:kms:dsse" : "aws:kms");
        api_response_header(r->call->resp, "x-amz-server-side-encryption-aws-kms-key-id",
                            d.kms_key_arn);
        if (d.bucket_key) {
            api_response_header(r->call->resp, "x-amz-server-side-encryption-bucket-key-enabled",
                                "true");
        }
        context_header(r, record);
        return;
    }
    api_response_header(r->call->resp, "x-amz-server-side-encryption", "AES256");
}

/* ---- bucket default encryption ---- */

/*
 * The configuration is kept as the bucket document LAKE_BUCKET_ENCRYPTION, a JSON object
 * {"alg": "AES256", "kms": KEY or absent, "bk": true|false}. A bucket without one uses
 * SSE-S3, which GetBucketEncryption reports as S3 does for every bucket since 2023.
 */
int s3__put_bucket_encryption(struct s3_req *r)
{
    struct s3_xml_node *root = NULL;
    int rc = lake_bucket_get(r->lake, r->bucket, NULL, &r->call->err);
    if (rc == 0) {
        rc = s3__xml_body(r, 1 << 16, "ServerSideEncryptionConfiguration", &root);
    }
    if (rc < 0) {
        return rc;
    }
    const struct s3_xml_node *rule = s3__xml_child(root, "Rule");
    const struct s3_xml_node *def =
        rule ? s3__xml_child(rule, "ApplyServerSideEncryptionByDefault") : NULL;
    const char *alg = def ? s3__xml_child_text(def, "SSEAlgorithm") : NULL;
    const char *kms = def ? s3__xml_child_text(def, "KMSMasterKeyID") : NULL;
    const char *bk = rule ? s3__xml_child_text(rule, "BucketKeyEnabled") : NULL;
    if (alg == NULL || (strcmp(alg, "AES256") != 0 && !is_kms(alg)) ||
        (bk != NULL && strcmp(bk, "true") != 0 && strcmp(bk, "false") != 0)) {
        rc = s3__fail(r, SL_E(MALFORMED_XML),
                      "The XML you provided was not well-formed or did not validate against "
                      "our published schema");
    } else if (kms != NULL && strcmp(alg, "AES256") == 0) {
        rc = s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                      "a KMSMasterKeyID is not applicable if the default sse algorithm is not "
                      "aws:kms or aws:kms:dsse");
    }
    if (rc == 0) {
        json_t *doc = json_pack("{s:s, s:b}", "alg", alg, "bk", bk && strcmp(bk, "true") == 0);
        if (kms != NULL) {
            json_object_set_new(doc, "kms", json_string(kms));
        }
        char *text = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        rc = lake_bucket_doc_put(r->lake, r->bucket, LAKE_BUCKET_ENCRYPTION, text, &r->call->err);
        free(text);
    }
    s3__xml_free(root);
    return rc;
}

int s3__get_bucket_encryption(struct s3_req *r)
{
    char *text = NULL;
    int rc = lake_bucket_doc_get(r->lake, r->bucket, LAKE_BUCKET_ENCRYPTION, &text, &r->call->err);
    if (rc < 0) {
        return rc;
    }
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    const char *alg = json_string_value(json_object_get(doc, "alg"));
    const char *kms = json_string_value(json_object_get(doc, "kms"));
    struct buf b;
    buf_init(&b);
    s3__xml_open(&b, "ServerSideEncryptionConfiguration");
    buf_puts(&b, "<Rule><ApplyServerSideEncryptionByDefault>");
    s3__xml_elem(&b, "SSEAlgorithm", alg ? alg : "AES256");
    if (kms != NULL) {
        s3__xml_elem(&b, "KMSMasterKeyID", kms);
    }
    buf_puts(&b, "</ApplyServerSideEncryptionByDefault>");
    s3__xml_elem(&b, "BucketKeyEnabled",
                 json_is_true(json_object_get(doc, "bk")) ? "true" : "false");
    buf_puts(&b, "</Rule></ServerSideEncryptionConfiguration>");
    json_decref(doc);
    return s3__respond_xml(r, &b);
}
