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

#include "core/config.h"
#include "http/api.h"

/*
 * Finds the secret and account of an access key. Returns 0 and fills both, or
 * SL_E(AUTH_UNKNOWN_KEY).
 */
typedef int (*http_key_lookup_fn)(void *arg, const char *access_key_id, char *secret_out,
                                  size_t secret_size, char *account_out, size_t account_size);

struct http_server;

/*
 * Starts serving on cfg->listen_host:listen_port. The registry, config and lookup
 * must outlive the server. Returns 0, or -errno when the address cannot be bound.
 */
int http_server_open(const struct sluice_config *cfg, const struct api_registry *reg,
                     http_key_lookup_fn lookup, void *lookup_arg, struct http_server **out);
/* Stops accepting, lets running requests finish, closes every connection. NULL ok. */
void http_server_close(struct http_server *srv);

#endif
