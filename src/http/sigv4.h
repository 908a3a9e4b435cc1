/*
 * AWS Signature Version 4: parsing what a request claims, verifying it, and signing.
 *
 * A request proves its sender holds a secret by an HMAC-SHA256 over a canonical form of
 * the request (method, path, query, the headers it chose to sign, the payload hash),
 * with a key derived from the secret and the credential scope
 * "yyyymmdd/region/service/aws4_request". The claim arrives either in the
 * Authorization header
 *
 *   AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request,
 *       SignedHeaders=host;x-amz-date, Signature=<64 hex>
 *
 * or, for presigned URLs, in the query (X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date,
 * X-Amz-Expires, X-Amz-SignedHeaders, X-Amz-Signature, X-Amz-Security-Token).
 *
 * Canonicalisation follows AWS's "Create a canonical request for Signature Version 4":
 *   - path: every service but S3 normalises "." / ".." / empty segments and URI-encodes
 *     each segment of the path as sent (so "%20" is encoded again, as SDKs double-encode);
 *     S3 uses the path as sent, only encoding bytes a client left raw;
 *   - query: each name and value decoded by the rule the operations read them with
 *     (core/text.h: '+' is a space) and re-encoded (RFC 3986 unreserved kept), sorted
 *     by name then value; X-Amz-Signature left out;
 *   - headers: names lower-cased and sorted, values trimmed with runs of spaces
 *     collapsed, repeated headers joined with ','.
 *
 * Nothing here allocates but the output buffers given by the caller and temporary
 * buffers freed before return. All functions are thread-safe.
 */
#ifndef SLUICE_HTTP_SIGV4_H
#define SLUICE_HTTP_SIGV4_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

/* How far a request's date may be from the server's clock: 15 minutes, as on AWS. */
#define SIGV4_MAX_SKEW_MS (15 * 60 * 1000)
/* The longest life of a presigned URL: 7 days, in seconds. */
#define SIGV4_MAX_EXPIRES_S 604800

/* A request header as received; several may share a name. */
struct sigv4_header {
    const char *name;
    const char *value;
};

/* The parts of a request that SigV4 covers. All pointers are borrowed for the call. */
struct sigv4_request {
    const char *method;
    const char *path;  /* raw, as sent (percent-encoded), no query */
    const char *query; /* raw, as sent, without '?', "" if none */
    const struct sigv4_header *headers;
    size_t n_headers;
    /* Hex SHA-256 of the body; for S3 the x-amz-content-sha256 header value (hex,
       UNSIGNED-PAYLOAD, STREAMING-...); for presigned S3 "UNSIGNED-PAYLOAD". */
    const char *payload_hash;
    int s3; /* S3 rules: path used as sent, not normalised nor double-encoded */
};

/* What a request claims about its signature, filled by sigv4_parse. */
struct sigv4_auth {
    char access_key_id[129];
    char date[9];              /* yyyymmdd of the scope */
    char region[64];           /* scope region */
    char service[64];          /* scope service */
    char scope[256];           /* date/region/service/aws4_request */
    char amz_date[17];         /* X-Amz-Date or Date header as yyyymmddThhmmssZ */
    char signed_headers[2048]; /* lower-case names joined by ';', as sent */
    char signature[65];        /* lower-case hex */
    int presigned;             /* 1 when from the query string (X-Amz-Algorithm=...) */
    int64_t expires_s;         /* presigned X-Amz-Expires, seconds (0..604800); -1 when a
                                  presigned request has none (only non-S3 may omit it) */
    char security_token[1025]; /* X-Amz-Security-Token if any, else "" */
};

/*
 * Parses the Authorization header or the presigned query parameters of req into *out.
 * Returns 0, or
 *   SL_E(AUTH_MISSING)   no authentication at all;
 *   SL_E(AUTH_MALFORMED) present but malformed (message as AWS words it, in err);
 *   SL_E(NOMEM).
 */
int sigv4_parse(const struct sigv4_request *req, struct sigv4_auth *out, struct err_info *err);

/*
 * Verifies a parsed claim against the secret of auth->access_key_id at time
 * now_ms: the date is not more than SIGV4_MAX_SKEW_MS ahead of now, nor more than
 * SIGV4_MAX_SKEW_MS behind it, except that a presigned request with X-Amz-Expires may be
 * used until date + X-Amz-Expires (one without, which only non-S3 services allow, is held
 * to the skew window like header auth); host is signed, the scope date matches amz_date,
 * and the signature matches (compared in constant time). On success writes the derived
 * signing key to signing_key_out (may be NULL), for chunk signatures. Returns 0, or
 *   SL_E(AUTH_SKEWED)        date too far from now ("Signature expired: ...",
 *                            "Signature not yet current: ...");
 *   SL_E(AUTH_EXPIRED)       presigned URL past its X-Amz-Expires ("Request has expired"),
 *                            or an S3 presigned URL dated ahead of the skew window
 *                            ("Request is not yet valid"; S3 answers AccessDenied to both);
 *   SL_E(AUTH_MALFORMED)     host not signed, scope date differs from amz_date;
 *   SL_E(AUTH_BAD_SIGNATURE) the signature does not match;
 *   SL_E(NOMEM).
 */
int sigv4_verify(const struct sigv4_request *req, const struct sigv4_auth *auth, const char *secret,
                 int64_t now_ms, uint8_t signing_key_out[32], struct err_info *err);

/*
 * Checks the credential scope against what the server serves, as AWS does before it
 * looks at the signature: the region must be region (the server's --region) and, when
 * service is not NULL, the service must be service (the signing name of the service the
 * request was routed to). s3 selects S3's wording. Returns 0, or
 *   SL_E(AUTH_BAD_SIGNATURE) (JSON and query services: InvalidSignatureException,
 *       SignatureDoesNotMatch) "Credential should be scoped to a valid region, not
 *       'eu-west-3'. " or "Credential should be scoped to correct service: 'kinesis'. ";
 *   SL_E(AUTH_MALFORMED) (S3: AuthorizationHeaderMalformed, or for a presigned URL
 *       AuthorizationQueryParametersError) "The authorization header is malformed; the
 *       region 'eu-west-3' is wrong; expecting 'us-east-1'" or "...; incorrect service
 *       \"kinesis\". This endpoint belongs to \"s3\".", presigned URLs beginning
 *       "Error parsing the X-Amz-Credential parameter;" instead.
 */
int sigv4_check_scope(const struct sigv4_auth *auth, int s3, const char *service,
                      const char *region, struct err_info *err);

/* HMAC chain "AWS4"+secret -> date -> region -> service -> "aws4_request". */
void sigv4_signing_key(const char *secret, const char *date, const char *region,
                       const char *service, uint8_t key_out[32]);

/*
 * Appends the canonical request of req, covering auth->signed_headers (and,
 * when auth->presigned, the query without X-Amz-Signature), to out. No trailing
 * newline. Returns 0 or SL_E(NOMEM).
 */
int sigv4_canonical_request(const struct sigv4_request *req, const struct sigv4_auth *auth,
                            struct buf *out);

/* Appends "AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256(canonical_request)>" to
   out. Returns 0 or SL_E(NOMEM). */
int sigv4_string_to_sign(const struct sigv4_auth *auth, const char *canonical_request, size_t len,
                         struct buf *out);

/*
 * aws-chunked (S3 streaming uploads): the signature of one chunk, chained from
 * the previous signature (the seed signature for the first chunk), given the
 * chunk's SHA-256 in hex; and the signature of the trailer chunk. out_hex gets
 * 64 hex + NUL.
 */
void sigv4_chunk_signature(const uint8_t signing_key[32], const char *amz_date, const char *scope,
                           const char *prev_signature, const char *chunk_sha256_hex,
                           char out_hex[65]);
void sigv4_trailer_signature(const uint8_t signing_key[32], const char *amz_date, const char *scope,
                             const char *prev_signature, const char *trailer_sha256_hex,
                             char out_hex[65]);

/*
 * Client side, for tests and benchmarks: signs req with every header in
 * req->headers (the caller includes host and x-amz-date itself; order does not
 * matter) and appends the full Authorization header value to authorization_out.
 * Returns 0, SL_E(INTERNAL) for arguments too long for struct sigv4_auth, or
 * SL_E(NOMEM).
 */
int sigv4_sign(const struct sigv4_request *req, const char *access_key_id, const char *secret,
               const char *amz_date, const char *region, const char *service,
               struct buf *authorization_out);

#endif
