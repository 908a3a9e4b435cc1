/* Internals shared by the files of src/http; never included from another part. */
#ifndef SLUICE_HTTP_INT_H
#define SLUICE_HTTP_INT_H

#include "http/api.h"
#include "http/http.h"

enum http_proto { PROTO_JSON, PROTO_QUERY, PROTO_REST };

struct api_registry {
    const struct api_json_service *json[16];
    size_t n_json;
    const struct api_query_service *query[8];
    size_t n_query;
    const struct api_rest_service *rest[4];
    size_t n_rest;
};

struct conn_slot;

/* One request/response exchange, from the first header to the last byte sent. */
struct http_exchange {
    char *raw_uri;          /* path and query as sent */
    char method[16];
    struct api_header *headers; /* owned copies */
    size_t n_headers, cap_headers;
    struct buf body;        /* in-memory body */
    int body_fd;            /* spooled body, -1 when none */
    size_t body_len;        /* bytes received */
    int early_error;        /* a code decided before the body was read (too large...) */
    char early_message[160];
    /* the front end's accounting (server.c) */
    struct conn_slot *slot; /* the connection's admission slot, NULL if unknown */
    size_t mem_charged;     /* bytes of the memory budget this body holds */
    size_t spool_charged;   /* bytes of the spool budget this body holds */
    /* routing, decided from the headers */
    enum http_proto proto;
    const struct api_json_service *json_svc;
    const struct api_query_service *query_svc;
    const struct api_rest_service *rest_svc;
    char request_id[40];
    struct api_response resp;
};

struct http_server_ctx {
    const struct sluice_config *cfg;
    const struct api_registry *reg;
    http_key_lookup_fn lookup;
    void *lookup_arg;
};

/*
 * Authenticates a routed exchange from its headers alone, before any body is read
 * (router.c): the whole signature when the payload hash is known without the body,
 * every other rule otherwise. Returns 0, or an error code with AWS's error already
 * rendered into ex->resp, as http__handle would answer it.
 */
int http__gate(const struct http_server_ctx *ctx, struct http_exchange *ex);
/* The longest request target a first request may have (vet.c). */
#define VET_MAX_TARGET (16 * 1024)
/*
 * Vets the bytes [buf, buf+len) received so far of a connection's first request head
 * against the rule at the top of vet.c. Returns 1 with *head_len set when the head is
 * complete and sound, 0 when more bytes are needed, or a negative HTTP status (-400,
 * -414, -431, -505) with a static reason in *reason.
 */
int http__vet_head(const char *buf, size_t len, size_t max_head, size_t *head_len,
                   const char **reason);
/* Picks protocol and service from the headers and URI (router.c). */
void http__route(const struct api_registry *reg, struct http_exchange *ex);
/* Authenticates, dispatches and renders into ex->resp (router.c). */
void http__handle(const struct http_server_ctx *ctx, struct http_exchange *ex);
/* Renders an error in the exchange's protocol into ex->resp (router.c). */
void http__render_error(struct http_exchange *ex, int code, const char *message,
                        const char *resource);
const char *http__header(const struct http_exchange *ex, const char *name);
void http__response_fini(struct api_response *resp);

#endif
