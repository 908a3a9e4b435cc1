/*
 * The gate: authentication from the headers alone, before a body byte is read.
 *
 * A request that fails authentication must never cost more than its headers: no body
 * buffered, spooled or even acknowledged with "100 Continue". What can be proved at
 * that point depends on what the signature covers:
 *
 *   S3 with x-amz-content-sha256    the payload hash is a header (hex, UNSIGNED-PAYLOAD,
 *                                   STREAMING-...), so the signature is verified whole;
 *   presigned S3 (SigV4 or SigV2)   the body is never signed: verified whole;
 *   any request without a body      (no Content-Length or 0, no Transfer-Encoding) the
 *                                   payload hash is that of "": verified whole;
 *   everything else (JSON, query)   the signature covers the body's hash, so everything
 *                                   but the signature is checked now (header well formed,
 *                                   access key known, date within the skew, host signed,
 *                                   scope date) and the signature once the bounded body
 *                                   has arrived (router.c verifies every request again).
 *
 * The partial check relies on sigv4_verify checking the signature last: a wrong
 * signature with a placeholder payload hash means every other rule held.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/mem.h"
#include "http/http_int.h"
#include "http/sigv2.h"
#include "http/sigv4.h"

/* Hex SHA-256 of the empty string, the payload hash of a request without a body. */
static const char empty_sha256[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/* 1 when the request announces no body at all. */
static int has_no_body(const struct http_exchange *ex)
{
    if (http__header(ex, "Transfer-Encoding") != NULL) {
        return 0;
    }
    const char *cl = http__header(ex, "Content-Length");
    return cl == NULL || strcmp(cl, "0") == 0;
}

int http__gate(const struct http_server_ctx *ctx, struct http_exchange *ex, struct err_info *err)
{
    int64_t now_ms = clock_now_ms();
    char *path = xstrdup(ex->raw_uri);
    char *q = strchr(path, '?');
    const char *query = "";
    if (q != NULL) {
        *q = '\0';
        query = q + 1;
    }
    struct sigv4_header *headers = xcalloc(ex->n_headers + 1, sizeof(*headers));
    for (size_t i = 0; i < ex->n_headers; i++) {
        headers[i].name = ex->headers[i].name;
        headers[i].value = ex->headers[i].value;
    }
    int s3 = ex->proto == PROTO_REST;
    const char *content_sha = s3 ? http__header(ex, "x-amz-content-sha256") : NULL;
    /* NULL while the payload hash needs the body. */
    const char *payload_hash = content_sha ? content_sha : has_no_body(ex) ? empty_sha256 : NULL;
    struct sigv4_request sreq = {
        .method = ex->method,
        .path = path,
        .query = query,
        .headers = headers,
        .n_headers = ex->n_headers,
        .payload_hash = payload_hash,
        .s3 = s3,
    };
    struct sigv4_auth *auth = xcalloc(1, sizeof(*auth));
    char secret[256];
    char account[32];
    err_clear(err);
    int rc = sigv4_parse(&sreq, auth, err);
    if (rc == SL_E(AUTH_MISSING) && s3 && sigv2_query_present(query)) {
        struct sigv2_query v2;
        err_clear(err);
        rc = sigv2_parse(query, &v2, err);
        if (rc == 0) {
            rc = ctx->lookup(ctx->lookup_arg, v2.access_key_id, secret, sizeof(secret), account,
                             sizeof(account));
            if (rc < 0) {
                err_set(err, rc,
                        "The AWS Access Key Id you provided does not exist in our "
                        "records.");
            }
        }
        if (rc == 0) {
            rc = sigv2_verify(ex->method, path, query, headers, ex->n_headers, &v2, secret, now_ms,
                              err);
        }
        goto out;
    }
    if (rc < 0) {
        goto out;
    }
    if (auth->presigned && s3) {
        sreq.payload_hash = "UNSIGNED-PAYLOAD";
    }
    rc = ctx->lookup(ctx->lookup_arg, auth->access_key_id, secret, sizeof(secret), account,
                     sizeof(account));
    if (rc < 0) {
        err_set(err, rc, "The security token included in the request is invalid.");
        goto out;
    }
    int whole = sreq.payload_hash != NULL;
    if (!whole) {
        sreq.payload_hash = "";
    }
    rc = sigv4_verify(&sreq, auth, secret, now_ms, NULL, err);
    if (!whole && rc == SL_E(AUTH_BAD_SIGNATURE)) {
        err_clear(err);
        rc = 0; /* the signature itself waits for the body */
    }
out:
    explicit_bzero(secret, sizeof(secret));
    free(auth);
    free(headers);
    free(path);
    return rc;
}
