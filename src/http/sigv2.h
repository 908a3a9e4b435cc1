/*
 * S3's legacy query-string authentication, Signature Version 2. boto3 still presigns S3
 * URLs this way unless a client asks for s3v4, so a presigned URL from
 * generate_presigned_url carries AWSAccessKeyId, Expires and Signature:
 *
 *   Signature = base64(HMAC-SHA1(secret, StringToSign))
 *   StringToSign = METHOD "\n" Content-MD5 "\n" Content-Type "\n" Expires "\n"
 *                  x-amz-* headers ("name:value\n", lower-cased, sorted)
 *                  resource (the path as sent, preceded by "/<bucket>" when the bucket
 *                  is named by the Host header (virtual-hosted style), plus the
 *                  sub-resources of interest, sorted: "?acl", "?uploadId=...",
 *                  "?response-content-type=...")
 *
 * So a request to bucket.s3.amazonaws.com/photos/a.jpg signs "/bucket/photos/a.jpg" and
 * one to bucket.s3.amazonaws.com/ signs "/bucket/": the bucket is always covered, and a
 * URL made for one bucket cannot be replayed against another by changing the Host.
 *
 * Only the query form is accepted; SigV2 Authorization headers are not.
 */
#ifndef SLUICE_HTTP_SIGV2_H
#define SLUICE_HTTP_SIGV2_H

#include <stdint.h>

#include "core/err.h"
#include "http/sigv4.h"

struct sigv2_query {
    char access_key_id[129];
    int64_t expires_s; /* epoch seconds after which the URL is refused */
    char signature[64]; /* base64, decoded from the query */
};

/* 1 when the query carries SigV2 presign parameters (AWSAccessKeyId and Signature). */
int sigv2_query_present(const char *query);
/* Reads the three parameters. SL_E(AUTH_MALFORMED) when one is missing or bad;
   SL_E(NOMEM). */
int sigv2_parse(const char *query, struct sigv2_query *out, struct err_info *err);
/*
 * Checks expiry (SL_E(AUTH_EXPIRED)) and the signature (SL_E(AUTH_BAD_SIGNATURE)) of a
 * request whose path (as sent), query and headers are given; SL_E(NOMEM) when out of
 * memory. bucket is the bucket named by the Host header for a virtual-hosted request,
 * NULL for path style. Sub-resource names and values are read by the one query rule
 * (core/text.h), the rule the S3 operation reads them with.
 */
int sigv2_verify(const char *method, const char *bucket, const char *path, const char *query,
                 const struct sigv4_header *headers, size_t n_headers, const struct sigv2_query *q,
                 const char *secret, int64_t now_ms, struct err_info *err);

#endif
