/*
 * Server-side encryption headers of the S3 adapter: the SSE-C key a request carries
 * (x-amz-server-side-encryption-customer-*, or x-amz-copy-source-...-customer-* for
 * a copy's source), the x-amz-server-side-encryption a write asks for, and the headers
 * an answer reports for an object's encryption record (lake_sse_describe).
 */
#include <string.h>
#include <strings.h>

#include "core/base64.h"
#include "core/crypto.h"
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

int s3__sse_write(struct s3_req *r, const struct s3_sse_key *ck)
{
    const char *sse = s3__header(r, "x-amz-server-side-encryption");
    if (sse == NULL) {
        return 0;
    }
    if (ck->given) {
        return s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                        "Server Side Encryption with Customer provided key is incompatible with "
                        "the encryption method specified");
    }
    if (strcmp(sse, "AES256") == 0) {
        return 0;
    }
    if (strcmp(sse, "aws:kms") == 0 || strcmp(sse, "aws:kms:dsse") == 0) {
        return s3__fail(r, SL_E(NOT_IMPLEMENTED),
                        "Server-side encryption with AWS KMS keys is not implemented");
    }
    return s3__fail(r, SL_E(INVALID_ARGUMENT_S3),
                    "The encryption method specified is not supported");
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
    api_response_header(r->call->resp, "x-amz-server-side-encryption", "AES256");
}
