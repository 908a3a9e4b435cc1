/*
 * Fuzz target for the SigV4 parser: the Authorization header and the presigned query
 * string, then (when they parse) canonicalisation and verification of the same request.
 *
 * Input: newline-separated fields
 *   0 Authorization header value ("" = no header)
 *   1 raw query string
 *   2 raw path
 *   3 X-Amz-Date header value ("" = no header)
 *   4 Date header value ("" = no header)
 *   5 a further header "name:value" (signed if listed)
 *   6 "s3" for S3 rules
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "http/sigv4.h"

#define N_FIELDS 7

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    if (copy == NULL) {
        return 0;
    }
    memcpy(copy, data, size);
    copy[size] = '\0';
    char *field[N_FIELDS];
    char *p = copy;
    for (int i = 0; i < N_FIELDS; i++) {
        field[i] = p;
        char *nl = p != NULL ? strchr(p, '\n') : NULL;
        if (nl != NULL) {
            *nl = '\0';
            p = nl + 1;
        } else {
            p = copy + size; /* the rest are "" */
        }
    }

    struct sigv4_header headers[6];
    size_t n = 0;
    headers[n++] = (struct sigv4_header){"Host", "example.amazonaws.com"};
    if (field[0][0] != '\0') {
        headers[n++] = (struct sigv4_header){"Authorization", field[0]};
    }
    if (field[3][0] != '\0') {
        headers[n++] = (struct sigv4_header){"X-Amz-Date", field[3]};
    }
    if (field[4][0] != '\0') {
        headers[n++] = (struct sigv4_header){"Date", field[4]};
    }
    char *colon = strchr(field[5], ':');
    if (colon != NULL) {
        *colon = '\0';
        headers[n++] = (struct sigv4_header){field[5], colon + 1};
    }
    struct sigv4_request req = {.method = "GET",
                                .path = field[2],
                                .query = field[1],
                                .headers = headers,
                                .n_headers = n,
                                .payload_hash = "UNSIGNED-PAYLOAD",
                                .s3 = strcmp(field[6], "s3") == 0};
    struct sigv4_auth auth;
    struct err_info err;
    if (sigv4_parse(&req, &auth, &err) == 0) {
        struct buf creq, sts;
        buf_init(&creq);
        buf_init(&sts);
        if (sigv4_canonical_request(&req, &auth, &creq) == 0) {
            sigv4_string_to_sign(&auth, (const char *)creq.data, creq.len, &sts);
        }
        uint8_t key[32];
        /* 2015-08-30T12:36:00Z: near the dates the seeds carry */
        sigv4_verify(&req, &auth, "secret", 1440938160000LL, key, &err);
        sigv4_check_scope(&auth, req.s3, req.s3 ? "s3" : "kinesis", "us-east-1", &err);
        buf_fini(&sts);
        buf_fini(&creq);
    }
    /* signing what was given must not fail on any path or query */
    struct buf authz;
    buf_init(&authz);
    sigv4_sign(&req, "AKID", "secret", "20150830T123600Z", "us-east-1", "service", &authz);
    buf_fini(&authz);
    free(copy);
    return 0;
}
