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
    const struct api_plain_service *plain[8];
    size_t n_plain;
    api_observe_fn observe;
    void *observe_arg;
    api_observe_detail_fn observe_detail;
    void *observe_detail_arg;
};

struct conn_slot;

/* Where an admitted connection stands; the reaper times each phase (server.c). */
enum conn_phase {
    PHASE_FREE,    /* slot unused */
    PHASE_VETTING, /* accepted; the acceptor peeks at its first head (vet.c) */
    PHASE_HEAD,    /* waiting for a request's head */
    PHASE_BODY,    /* receiving a body */
    PHASE_BUSY,    /* handling or sending the response; the connection's own idle
                      timeout applies to a client that does not read */
};

/* One request/response exchange, from the first header to the last byte sent. */
struct http_exchange {
    char *raw_uri; /* path and query as sent */
    char method[16];
    struct api_header *headers; /* owned copies */
    size_t n_headers, cap_headers;
    struct buf body;   /* in-memory body */
    int body_fd;       /* spooled body, -1 when none */
    size_t body_len;   /* bytes received */
    int early_error;   /* a code decided before the body was read (too large...) */
    int body_expected; /* HTTP/2: a body follows though no Content-Length says so */
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
    const struct api_plain_service *plain_svc; /* a plain GET (api.h), answered unsigned */
    int rpcv2; /* Smithy RPC v2 CBOR: the operation is named by the path */
    char request_id[40];
    struct api_response resp;
};

struct http_server_ctx {
    const struct sluice_config *cfg;
    const struct api_registry *reg;
    http_key_lookup_fn lookup;
    http_authorize_fn authorize; /* NULL: every authenticated request is allowed */
    void *lookup_arg;
};

/*
 * Authenticates a routed exchange from its headers alone, before any body is read
 * (router.c): the whole signature when the payload hash is known without the body,
 * every other rule otherwise. Returns 0, or an error code with AWS's error already
 * rendered into ex->resp, as http__handle would answer it.
 */
int http__gate(const struct http_server_ctx *ctx, struct http_exchange *ex);
/* The longest request target a request may have (vet.c). */
#define VET_MAX_TARGET (16 * 1024)
/* The most header fields a request head may have (vet.c); more are answered 431. */
#define VET_MAX_FIELDS 128

/* A header field of a vetted head: pointers into the head, the value without its
   surrounding spaces. */
struct vet_field {
    const char *name, *value;
    size_t name_len, value_len;
};

/* What vetting read of a sound head; every pointer is into the vetted bytes. */
struct vet_head {
    size_t head_len; /* up to and with the blank line's CRLF */
    const char *method, *target;
    size_t method_len, target_len;
    int http_minor; /* 1 for HTTP/1.1, 0 for HTTP/1.0 */
    struct vet_field fields[VET_MAX_FIELDS];
    size_t n_fields;
};

/*
 * Vets the bytes [buf, buf+len) received so far of a request head against the rule at
 * the top of vet.c. Returns 1 with *out filled when the head is complete and sound, 0
 * when more bytes are needed, or a negative HTTP status (-400, -414, -431, -505) with a
 * static reason in *reason.
 */
int http__vet_head(const char *buf, size_t len, size_t max_head, struct vet_head *out,
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

/* ---- HTTP/2 (h2.c) ---- */

/* The 24 bytes an HTTP/2 client with prior knowledge sends first (RFC 9113 3.4). */
#define H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN 24

/*
 * What an HTTP/1.1 (h1.c) or HTTP/2 (h2.c) connection needs from the front end that
 * admitted it: the steps every exchange goes through, and the connection's slot for
 * the reaper. The unit tests and fuzz targets supply their own. `arg` is passed to
 * every function, `conn` to those about the connection.
 */
struct conn_host {
    void *arg;          /* the server */
    void *conn;         /* the connection's admission slot */
    int stop_fd;        /* readable once the server stops; -1 for none */
    int idle_timeout_s; /* a response no byte of which could be sent for this long ends
                           the connection */
    /* A new exchange (request id set, no method or URI yet); never NULL. */
    struct http_exchange *(*open)(void *arg, void *conn);
    /* The headers are in: framing, route, the gate, body limit and budget. Returns 0 to
       read the body, or an error code: ex->resp holds the answer when *rendered, else
       it is to be rendered from ex->early_message. */
    int (*headers)(void *arg, struct http_exchange *ex, int *rendered);
    /* Body bytes; a refusal decided on the way sets ex->early_error. */
    void (*receive)(void *arg, struct http_exchange *ex, const uint8_t *data, size_t len);
    /* The whole request is in: answer it into ex->resp (may block on the disk). */
    void (*finish)(void *arg, struct http_exchange *ex);
    /* Frees an exchange and what it holds. NULL ok. */
    void (*close)(void *arg, struct http_exchange *ex);
    /* The connection moved to another phase, for the reaper's deadlines. */
    void (*phase)(void *arg, void *conn, enum conn_phase phase);
    /* The connection has ended and its socket is closed; called last. May be NULL. */
    void (*done)(void *arg, void *conn);
    /* HTTP/1.1: a request that cannot be read (what could be read of its head is in ex,
       maybe nothing): route it and render code with message into ex->resp. */
    void (*refuse)(void *arg, struct http_exchange *ex, int code, const char *message);
};

struct h2_conn;

/*
 * An HTTP/2 server session on socket fd (non-blocking), or with fd -1 one whose output
 * is discarded (the fuzz target). *host is copied. Returns 0 or SL_E(NOMEM).
 */
int h2__conn_create(const struct conn_host *host, int fd, struct h2_conn **out);
/*
 * Feeds bytes received from the client: frames are processed, complete requests
 * answered in order, and what can be sent is sent. Returns 1 while the connection goes
 * on, 0 when it has ended cleanly (GOAWAY sent and flushed), or a negative nghttp2 or
 * errno code when it must be closed.
 */
int h2__conn_feed(struct h2_conn *c, const uint8_t *data, size_t len);
/* Frees the session and every exchange still open; does not close the socket. NULL ok. */
void h2__conn_destroy(struct h2_conn *c);
/*
 * Serves an admitted connection whose first bytes are the HTTP/2 preface, in a thread
 * of its own, until it ends; then closes fd and calls host->done. For an h2c upgrade,
 * upgrade_head is the HTTP/1.1 request head (copied), already read from the socket and
 * answered 101, to be answered as stream 1; NULL otherwise. Returns 0, or -errno when
 * no thread could be started (the caller still owns fd and the slot).
 */
int http__h2_start(const struct conn_host *host, int fd, const char *upgrade_head,
                   size_t upgrade_head_len);
/*
 * 1 when a vetted first HTTP/1.1 request head [head, head+len) asks for the h2c
 * upgrade in a form Sluice takes: "Upgrade: h2c", Connection naming Upgrade and
 * HTTP2-Settings, exactly one well-formed HTTP2-Settings, and no body; else 0 (the
 * request is then served over HTTP/1.1, the offer ignored).
 */
int http__h2c_wanted(const char *head, size_t len);

/* ---- HTTP/1.1 (h1.c) ---- */

/* The largest request head, and chunk trailer section, a connection reads. */
#define H1_MAX_HEAD (64 * 1024)

struct h1_conn;

/*
 * An HTTP/1.1 server connection on socket fd (non-blocking), or with fd -1 one whose
 * output is kept for h1__conn_output (tests, the fuzz target). *host is copied.
 */
struct h1_conn *h1__conn_create(const struct conn_host *host, int fd);
/*
 * Feeds bytes received from the client: each complete request is answered in order
 * (the handler may block), what follows an answered request stays for the next one.
 * Returns 1 while the connection goes on, 0 when it is to be closed (an answer said
 * so, or a request could not be read and was refused), -1 when sending failed.
 */
int h1__conn_feed(struct h1_conn *c, const char *data, size_t len);
/* What an fd -1 connection has sent so far (taken: the caller frees it), and its length. */
char *h1__conn_output(struct h1_conn *c, size_t *len);
/* Frees the connection and the exchange it has open; does not close the socket. */
void h1__conn_destroy(struct h1_conn *c);
/*
 * Serves an admitted connection in a thread of its own until it ends; then closes fd
 * and calls host->done. The first request head is still unread on the socket. Returns
 * 0, or -errno when no thread could be started (the caller still owns fd and the slot).
 */
int http__h1_start(const struct conn_host *host, int fd);
/*
 * The bytes answering a request head that cannot be read (vet.c's status and reason),
 * in the protocol what can be read of [head, head+len) points to, with a request id
 * and "Connection: close", appended to out.
 */
void http__h1_refusal(const struct conn_host *host, const char *head, size_t len, int status,
                      const char *reason, struct buf *out);

/* Starts a detached connection thread (small stack) running fn(arg); 0 or a positive
   errno (server.c). */
int http__conn_thread_start(void *(*fn)(void *), void *arg);
/* The IPv4 address (network order) of the connection holding slot; 0 when unknown. */
uint32_t http__slot_addr(const struct conn_slot *slot);

#endif
