/*
 * The HTTP front end: one port, HTTP/1.1 and HTTP/2, for every service.
 *
 * It reads a request (headers, then a body held in memory up to cfg->max_body_bytes, or
 * spooled to an unlinked temporary file for services that accept large bodies), finds
 * the protocol and service, authenticates the request with SigV4 against the key
 * lookup, calls the operation, and renders its result or its error in that protocol's
 * shape with an x-amzn-RequestId. Connections are kept alive; each has its own thread,
 * so an operation may block (a PutRecords waits for its fsync) without stalling others.
 */
#ifndef SLUICE_HTTP_HTTP_H
#define SLUICE_HTTP_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "http/api.h"

/* Who signed a request, as the key lookup knows it. */
enum http_principal_kind {
    HTTP_PRINCIPAL_ROOT,
    HTTP_PRINCIPAL_USER,
    HTTP_PRINCIPAL_ASSUMED_ROLE,
    HTTP_PRINCIPAL_FEDERATED,
    HTTP_PRINCIPAL_ANONYMOUS /* an unsigned S3 request the adapter itself decides (s3_anon) */
};
struct http_principal {
    enum http_principal_kind kind;
    char account[32];
    char arn[320]; /* "arn:aws:iam::ACCOUNT:root", ":user/NAME", "arn:aws:sts::...:assumed-role/R/S"
                    */
    char id[200];  /* GetCallerIdentity's UserId: the account, AIDA..., "AROA...:session" */
    char name[130]; /* the user or role name; "" for root */
};

/*
 * Finds the secret of an access key and who it belongs to. security_token is the
 * request's X-Amz-Security-Token ("" when none), which temporary keys must carry.
 * Returns 0 and fills both, or SL_E(AUTH_UNKNOWN_KEY) (unknown, inactive, or a token
 * that is missing or does not verify), or SL_E(AUTH_EXPIRED) (a temporary key past
 * its expiration).
 */
typedef int (*http_key_lookup_fn)(void *arg, const char *access_key_id, const char *security_token,
                                  int64_t now_ms, char *secret_out, size_t secret_size,
                                  struct http_principal *who);

/*
 * The authorization hook, called once a request is authenticated and its operation is
 * known: service is the routed signing name ("kinesis"), operation the routed one
 * ("PutRecord"), params the query protocol's fields (NULL for the other protocols).
 * Returns 0 to run the operation, or SL_E(ACCESS_DENIED) with AWS's message in err.
 */
typedef int (*http_authorize_fn)(void *arg, const struct api_request *req, const char *service,
                                 const char *operation, const struct api_params *params,
                                 struct err_info *err);

struct http_server;

/*
 * Starts serving on cfg->listen_host:listen_port. The registry, config and lookup
 * must outlive the server; lookup and authorize both get lookup_arg (authorize NULL
 * allows every authenticated request). Returns 0, or -errno when the address cannot be bound.
 */
int http_server_open(const struct sluice_config *cfg, const struct api_registry *reg,
                     http_key_lookup_fn lookup, http_authorize_fn authorize, void *lookup_arg,
                     struct http_server **out);
/* Stops accepting, lets running requests finish, closes every connection. NULL ok. */
void http_server_close(struct http_server *srv);
/* Connections open now, every server's (for /metrics). */
long http_open_connections(void);

#endif
