/*
 * The libmicrohttpd adapter (the only file that includes microhttpd.h) and the
 * connections' admission, vetting and deadlines for HTTP/1.1 and HTTP/2 alike.
 *
 * Lifecycle of one exchange inside MHD:
 *
 *   uri_log callback  ──▶ exchange allocated with the raw URI (MHD's url is decoded)
 *   access, 1st call  ──▶ headers copied and checked for smuggling shapes, route chosen,
 *                         the gate (gate.c) authenticates from the headers, the body's
 *                         size is checked and charged to the budget; any refusal is
 *                         answered here, so MHD neither sends "100 Continue" nor reads
 *                         the body
 *   access, data      ──▶ body appended in memory, or to an unlinked temp file (spooled)
 *   access, last call ──▶ http__handle: SigV4 again, dispatch, render; response queued
 *   completed         ──▶ exchange freed (spool file closed, budget given back)
 *
 * Connections. We accept them ourselves (MHD_USE_NO_LISTEN_SOCKET, then
 * MHD_add_connection) so that admission is ours:
 *   - at most max_connections, fewer when the descriptor limit would not leave room
 *     for the stores (each connection may hold three: socket, spool, response file);
 *   - at most max_connections_per_addr from one IPv4 address;
 *   - the last `reserve` slots go only to addresses holding fewer than
 *     RESERVE_PER_ADDR connections, so a new client gets in while an attacker holds the
 *     rest (a few, not one: a closed connection keeps its slot until MHD's thread has
 *     cleaned it up, and a client opening one after another must not trip over it);
 *   - when accept() runs out of descriptors the acceptor sleeps instead of spinning.
 * The acceptor then keeps the connection, without a thread, until its first request
 * head has arrived whole, peeking at it (vet.c) so that a malformed or ambiguous head
 * is answered in the protocol's shape and never reaches MHD; a sound one is handed to
 * MHD with its bytes still unread. MHD takes an added connection in its own thread
 * (NOTIFY_CONNECTION STARTED), where the slot is found again by its socket. Each
 * admitted connection has a slot that a reaper thread checks twice a second:
 *
 *   accepted ─▶ VETTING ─▶ PENDING ─▶ HEAD ─headers─▶ BODY ─body─▶ BUSY ─sent─▶ HEAD
 *                  │                    │               │
 *                  │ header_timeout_s   │ idle_timeout_s│ less than min_body_rate ×
 *                  ▼                    ▼ once served   ▼ header_timeout_s in any
 *              shutdown(2): the socket's owner sees the end    header_timeout_s window
 *              of the stream and closes the connection
 *
 * What is not covered: the second and later requests of a kept-alive connection are
 * read by MHD alone, which accepts bare LF and folded lines there and answers its own
 * parse errors (431, 400, 505, bad chunk framing) with its fixed HTML pages; MHD 0.9.75
 * has no hook to replace those.
 *
 * HTTP/2 (h2.c) shares the port: a connection whose first bytes are the HTTP/2 preface,
 * or whose first request head offers the h2c upgrade without a body (answered 101
 * here), leaves vetting for a thread of its own that serves its streams through the
 * same steps (on_headers, receive, http__handle: struct h2_host below) and keeps the
 * slot, so admission, the reaper's deadlines and the body budgets apply alike.
 *
 * Every connection MHD serves has its own thread (handlers block on fsync and disk),
 * which is one reason the number of connections is bounded; one still being vetted,
 * as a slowloris client's always is, has none.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/mem.h"
#include "http/http_int.h"

/* The largest first request head the acceptor vets; a longer one is answered 431. */
#define VET_MAX_HEAD (64 * 1024)
/* In the reserve, an address may hold fewer than this many connections. */
#define RESERVE_PER_ADDR 8

/* One admitted connection. Every field is guarded by http_server.conn_lock. */
struct conn_slot {
    enum conn_phase phase;
    int fd;                  /* the socket; valid from PENDING until MHD's CLOSED */
    uint32_t addr;           /* IPv4 address, network order */
    int n_served;            /* requests answered on this connection */
    int64_t phase_start_ns;  /* monotonic time the phase began */
    uint64_t body_bytes;     /* body bytes received in the current request */
    uint64_t window_bytes;   /* body_bytes when the rate window began */
    int64_t window_start_ns; /* monotonic start of the rate window */
};

struct http_server {
    struct MHD_Daemon *daemon;
    struct http_server_ctx ctx;
    char spool_dir[600];
    int listen_fd;
    int stop_pipe[2]; /* written once to stop the acceptor and the reaper */
    pthread_t acceptor, reaper;
    int threads_started; /* 0, 1 (acceptor) or 2 (both) */
    /* Bodies in flight, charged before they are read. Updated with atomics. */
    size_t mem_used_bytes;
    size_t spool_used_bytes;
    /* Admission. */
    pthread_mutex_t conn_lock;
    struct conn_slot *slots; /* max_connections of them; guarded by conn_lock */
    int max_connections;     /* after fitting the descriptor limit; read-only */
    int reserve;             /* slots kept for addresses with < RESERVE_PER_ADDR */
    int vet_epoll;           /* the VETTING connections' sockets (acceptor only) */
    char *vet_buf;           /* VET_MAX_HEAD bytes for peeking (acceptor only) */
    int n_connections;       /* slots not FREE; guarded by conn_lock */
    int n_h2;                /* HTTP/2 connection threads running; guarded by conn_lock */
    pthread_cond_t h2_gone;  /* signalled when n_h2 drops; with conn_lock */
};

/* Takes n bytes of a budget of limit; returns 0, or -1 when it would be exceeded. */
static int budget_take(size_t *used, size_t limit, size_t n)
{
    size_t cur = __atomic_load_n(used, __ATOMIC_RELAXED);
    do {
        if (n > limit || cur > limit - n) {
            return -1;
        }
    } while (
        !__atomic_compare_exchange_n(used, &cur, cur + n, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    return 0;
}

static void budget_give(size_t *used, size_t n)
{
    __atomic_sub_fetch(used, n, __ATOMIC_RELAXED);
}

static void exchange_free(struct http_server *srv, struct http_exchange *ex)
{
    if (ex == NULL) {
        return;
    }
    free(ex->raw_uri);
    for (size_t i = 0; i < ex->n_headers; i++) {
        free((char *)ex->headers[i].name);
        free((char *)ex->headers[i].value);
    }
    free(ex->headers);
    buf_fini(&ex->body);
    if (ex->body_fd >= 0) {
        close(ex->body_fd);
    }
    budget_give(&srv->mem_used_bytes, ex->mem_charged);
    budget_give(&srv->spool_used_bytes, ex->spool_charged);
    http__response_fini(&ex->resp);
    free(ex);
}

static void format_request_id(char out[40])
{
    uint8_t r[16];
    crypto_random(r, sizeof(r));
    r[6] = (uint8_t)((r[6] & 0x0f) | 0x40);
    r[8] = (uint8_t)((r[8] & 0x3f) | 0x80);
    snprintf(out, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0],
             r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13],
             r[14], r[15]);
}

/* Moves a connection's slot to another phase (NULL slot: nothing to do). */
static void slot_enter(struct http_server *srv, struct conn_slot *slot, enum conn_phase phase)
{
    if (slot == NULL) {
        return;
    }
    pthread_mutex_lock(&srv->conn_lock);
    if (phase == PHASE_HEAD && slot->phase != PHASE_HEAD) {
        slot->n_served++;
    }
    slot->phase = phase;
    slot->phase_start_ns = clock_mono_ns();
    slot->body_bytes = 0;
    slot->window_bytes = 0;
    slot->window_start_ns = slot->phase_start_ns;
    pthread_mutex_unlock(&srv->conn_lock);
}

static void *uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    struct http_exchange *ex = xcalloc(1, sizeof(*ex));
    ex->raw_uri = xstrdup(uri);
    ex->body_fd = -1;
    ex->resp.body_fd = -1;
    buf_init(&ex->body);
    buf_init(&ex->resp.body);
    format_request_id(ex->request_id);
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    ex->slot = info != NULL ? info->socket_context : NULL;
    return ex;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    struct http_exchange *ex = cls;
    if (ex->n_headers == ex->cap_headers) {
        ex->cap_headers = ex->cap_headers ? ex->cap_headers * 2 : 16;
        ex->headers = xrealloc(ex->headers, ex->cap_headers * sizeof(*ex->headers));
    }
    ex->headers[ex->n_headers].name = xstrdup(key);
    ex->headers[ex->n_headers].value = xstrdup(value ? value : "");
    ex->n_headers++;
    return MHD_YES;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    struct http_server *srv = cls;
    struct http_exchange *ex = *con_cls;
    if (ex != NULL) {
        slot_enter(srv, ex->slot, PHASE_HEAD);
    }
    exchange_free(srv, ex);
    *con_cls = NULL;
}

/*
 * Refuses the framing shapes that let a request be read two ways by two parsers
 * (request smuggling): Content-Length together with Transfer-Encoding, several
 * Content-Length headers that differ, a Transfer-Encoding other than "chunked".
 * MHD would pick one reading silently. Returns 0 or SL_E(VALIDATION) with a message.
 */
static int check_framing(struct http_exchange *ex)
{
    const char *cl = NULL;
    const char *te = NULL;
    for (size_t i = 0; i < ex->n_headers; i++) {
        const char *name = ex->headers[i].name;
        const char *value = ex->headers[i].value;
        if (strcasecmp(name, "Content-Length") == 0) {
            if (cl != NULL && strcmp(cl, value) != 0) {
                snprintf(ex->early_message, sizeof(ex->early_message),
                         "Conflicting Content-Length headers");
                return SL_E(VALIDATION);
            }
            cl = value;
        } else if (strcasecmp(name, "Transfer-Encoding") == 0) {
            if (te != NULL || strcasecmp(value, "chunked") != 0) {
                snprintf(ex->early_message, sizeof(ex->early_message),
                         "Unsupported Transfer-Encoding");
                return SL_E(VALIDATION);
            }
            te = value;
        }
    }
    if (cl != NULL && te != NULL) {
        snprintf(ex->early_message, sizeof(ex->early_message),
                 "A request may not carry both Content-Length and Transfer-Encoding");
        return SL_E(VALIDATION);
    }
    return 0;
}

/* The 503 a spent budget answers: S3 says SlowDown, the others ServiceUnavailable. */
static int refuse_busy(struct http_exchange *ex)
{
    snprintf(ex->early_message, sizeof(ex->early_message),
             ex->proto == PROTO_REST ? "Please reduce your request rate."
                                     : "The service is busy receiving other requests; "
                                       "retry later.");
    return SL_E(UNAVAILABLE);
}

/* Opens the unlinked spool file in the data directory, so a crash leaves nothing. */
static int spool_open(struct http_server *srv, struct http_exchange *ex)
{
    ex->body_fd = open(srv->spool_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (ex->body_fd < 0) {
        log_msg(LOG_ERROR, "http", "cannot spool request body in %s: %s", srv->spool_dir,
                strerror(errno));
        return SL_E(IO);
    }
    return 0;
}

/* The body's declared length: 0 when there is none or it is chunked. */
static unsigned long long declared_length(const struct http_exchange *ex)
{
    const char *cl = http__header(ex, "Content-Length");
    return cl ? strtoull(cl, NULL, 10) : 0;
}

/* Refuses, from the headers alone, a body longer than its service accepts. Returns 0
   or an error code with ex->early_message set. */
static int check_body_limit(struct http_server *srv, struct http_exchange *ex)
{
    const struct sluice_config *cfg = srv->ctx.cfg;
    unsigned long long len = declared_length(ex);
    if (len > cfg->max_body_bytes && ex->proto != PROTO_REST) {
        snprintf(ex->early_message, sizeof(ex->early_message),
                 "Request body of %llu bytes exceeds the limit of %zu bytes", len,
                 cfg->max_body_bytes);
        return SL_E(BODY_TOO_LARGE);
    }
    if (len > cfg->max_spooled_body_bytes) {
        snprintf(ex->early_message, sizeof(ex->early_message),
                 "Your proposed upload exceeds the maximum allowed size");
        return SL_E(ENTITY_TOO_LARGE);
    }
    return 0;
}

/*
 * Charges an authenticated body's declared length to the memory or the spool budget;
 * a body longer than max_body_bytes (REST only, check_body_limit saw to that) goes
 * straight to the spool. Returns 0 or an error code with ex->early_message set.
 */
static int admit_body(struct http_server *srv, struct http_exchange *ex)
{
    const struct sluice_config *cfg = srv->ctx.cfg;
    unsigned long long len = declared_length(ex);
    if (len > cfg->max_body_bytes) {
        if (budget_take(&srv->spool_used_bytes, cfg->body_spool_budget_bytes, len) < 0) {
            return refuse_busy(ex);
        }
        ex->spool_charged = len;
        return spool_open(srv, ex);
    }
    if (len > 0) {
        if (budget_take(&srv->mem_used_bytes, cfg->body_memory_budget_bytes, len) < 0) {
            return refuse_busy(ex);
        }
        ex->mem_charged = len;
    }
    return 0;
}

/* Charges body bytes beyond what was declared (chunked bodies) as they arrive. */
static int charge_more(struct http_server *srv, struct http_exchange *ex, size_t total)
{
    const struct sluice_config *cfg = srv->ctx.cfg;
    if (ex->body_fd >= 0) {
        if (total > ex->spool_charged) {
            size_t more = total - ex->spool_charged;
            if (budget_take(&srv->spool_used_bytes, cfg->body_spool_budget_bytes, more) < 0) {
                return refuse_busy(ex);
            }
            ex->spool_charged += more;
        }
    } else if (total > ex->mem_charged) {
        size_t more = total - ex->mem_charged;
        if (budget_take(&srv->mem_used_bytes, cfg->body_memory_budget_bytes, more) < 0) {
            return refuse_busy(ex);
        }
        ex->mem_charged += more;
    }
    return 0;
}

static void receive(struct http_server *srv, struct http_exchange *ex, const char *data, size_t len)
{
    const struct sluice_config *cfg = srv->ctx.cfg;
    if (ex->slot != NULL) {
        pthread_mutex_lock(&srv->conn_lock);
        ex->slot->body_bytes += len;
        pthread_mutex_unlock(&srv->conn_lock);
    }
    if (ex->early_error) {
        return; /* discard; the error is answered once the body is consumed */
    }
    if (ex->body_len + len > cfg->max_spooled_body_bytes) {
        ex->early_error = SL_E(ENTITY_TOO_LARGE);
        snprintf(ex->early_message, sizeof(ex->early_message),
                 "Your proposed upload exceeds the maximum allowed size");
        return;
    }
    if (ex->body_fd < 0 && ex->body_len + len > cfg->max_body_bytes) {
        /* A chunked body grew past what is held in memory. */
        if (ex->proto != PROTO_REST) {
            ex->early_error = SL_E(BODY_TOO_LARGE);
            snprintf(ex->early_message, sizeof(ex->early_message),
                     "Request body exceeds the limit of %zu bytes", cfg->max_body_bytes);
            return;
        }
        if (budget_take(&srv->spool_used_bytes, cfg->body_spool_budget_bytes, ex->body_len + len) <
            0) {
            ex->early_error = refuse_busy(ex);
            return;
        }
        ex->spool_charged = ex->body_len + len;
        if ((ex->early_error = spool_open(srv, ex)) < 0) {
            return;
        }
        if (write(ex->body_fd, ex->body.data, ex->body_len) != (ssize_t)ex->body_len) {
            ex->early_error = SL_E(IO);
            return;
        }
        buf_fini(&ex->body);
        budget_give(&srv->mem_used_bytes, ex->mem_charged);
        ex->mem_charged = 0;
    }
    if ((ex->early_error = charge_more(srv, ex, ex->body_len + len)) < 0) {
        return;
    }
    if (ex->body_fd >= 0) {
        size_t done = 0;
        while (done < len) {
            ssize_t n = write(ex->body_fd, data + done, len - done);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                ex->early_error = SL_E(IO);
                return;
            }
            done += (size_t)n;
        }
        /* Start writing the spool back every 8 MiB, so that the service's final fsync of
           a large upload finds most of it on disk already. */
        const size_t writeback_every = 8u << 20;
        size_t boundary = (ex->body_len + len) / writeback_every * writeback_every;
        if (boundary > ex->body_len) {
            sync_file_range(ex->body_fd, (off_t)(boundary - writeback_every),
                            (off_t)writeback_every, SYNC_FILE_RANGE_WRITE);
        }
    } else if (buf_append(&ex->body, data, len) < 0) {
        ex->early_error = SL_E(NOMEM);
        return;
    }
    ex->body_len += len;
}

static enum MHD_Result send_response(struct MHD_Connection *conn, struct http_exchange *ex)
{
    struct api_response *r = &ex->resp;
    struct MHD_Response *mr;
    if (r->body_fd >= 0) {
        mr = MHD_create_response_from_fd_at_offset64(r->body_fd_len, r->body_fd,
                                                     (uint64_t)r->body_offset);
        if (mr != NULL) {
            r->body_fd = -1; /* MHD closes it */
        }
    } else {
        size_t len = r->body.len;
        void *data = buf_steal(&r->body, NULL);
        mr = MHD_create_response_from_buffer(len, data ? data : (void *)"",
                                             data ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    }
    if (mr == NULL) {
        return MHD_NO;
    }
    for (size_t i = 0; i < r->n_headers; i++) {
        MHD_add_response_header(mr, r->headers[i].name, r->headers[i].value);
    }
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)r->status, mr);
    MHD_destroy_response(mr);
    return ret;
}

/*
 * The first call, once the headers are in: framing, route, authentication from the
 * headers, body size and budget. Returns 0 to go on reading the body, or an error
 * code to answer before any of it is read: its answer already in ex->resp when
 * *rendered is set, else to be rendered with ex->early_message.
 */
static int on_headers(struct http_server *srv, struct http_exchange *ex, int *rendered)
{
    *rendered = 0;
    int rc = check_framing(ex);
    http__route(srv->ctx.reg, ex);
    if (rc < 0 || (rc = check_body_limit(srv, ex)) < 0) {
        return rc;
    }
    if ((rc = http__gate(&srv->ctx, ex)) < 0) {
        *rendered = 1;
        return rc;
    }
    return admit_body(srv, ex);
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    (void)url;
    (void)version;
    struct http_server *srv = cls;
    struct http_exchange *ex = *con_cls;
    if (ex == NULL) {
        return MHD_NO;
    }
    if (ex->method[0] == '\0') {
        snprintf(ex->method, sizeof(ex->method), "%s", method);
        MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, ex);
        int rendered;
        int rc = on_headers(srv, ex, &rendered);
        if (rc < 0) {
            /* Answer now: MHD then neither sends 100 Continue nor reads the body, and
               closes the connection after this response. */
            slot_enter(srv, ex->slot, PHASE_BUSY);
            if (!rendered) {
                http__render_error(ex, rc, ex->early_message, NULL);
            }
            api_response_header(&ex->resp, "Connection", "close");
            return send_response(conn, ex);
        }
        slot_enter(srv, ex->slot, PHASE_BODY);
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        receive(srv, ex, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    slot_enter(srv, ex->slot, PHASE_BUSY);
    if (ex->early_error) {
        http__render_error(ex, ex->early_error, ex->early_message, NULL);
    } else {
        if (ex->body_fd >= 0) {
            lseek(ex->body_fd, 0, SEEK_SET);
        }
        http__handle(&srv->ctx, ex);
    }
    return send_response(conn, ex);
}

/* MHD's word that a connection was added (in its own thread, some time after
   MHD_add_connection) or has closed (before MHD closes its socket). */
static void notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                              enum MHD_ConnectionNotificationCode code)
{
    struct http_server *srv = cls;
    pthread_mutex_lock(&srv->conn_lock);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct conn_slot *slot = NULL;
        for (int i = 0; info != NULL && i < srv->max_connections; i++) {
            struct conn_slot *s = &srv->slots[i];
            if (s->phase == PHASE_PENDING && s->fd == info->connect_fd &&
                (slot == NULL || s->phase_start_ns > slot->phase_start_ns)) {
                slot = s;
            }
        }
        *socket_context = slot;
        if (slot != NULL) {
            slot->phase = PHASE_HEAD;
            slot->phase_start_ns = clock_mono_ns();
        }
    } else if (*socket_context != NULL) {
        struct conn_slot *slot = *socket_context;
        slot->phase = PHASE_FREE;
        slot->fd = -1;
        srv->n_connections--;
        *socket_context = NULL;
    }
    pthread_mutex_unlock(&srv->conn_lock);
}

/*
 * Admission: finds a slot for a connection from addr, or NULL when it must be refused
 * (the global limit, the per-address limit, or the reserve, which only addresses that
 * hold fewer than RESERVE_PER_ADDR connections may enter). Called with conn_lock held.
 */
static struct conn_slot *admit(struct http_server *srv, uint32_t addr)
{
    const struct sluice_config *cfg = srv->ctx.cfg;
    if (srv->n_connections >= srv->max_connections) {
        return NULL;
    }
    int from_addr = 0;
    struct conn_slot *free_slot = NULL;
    for (int i = 0; i < srv->max_connections; i++) {
        struct conn_slot *s = &srv->slots[i];
        if (s->phase == PHASE_FREE) {
            if (free_slot == NULL) {
                free_slot = s;
            }
        } else if (s->addr == addr) {
            from_addr++;
        }
    }
    if (from_addr >= cfg->max_connections_per_addr) {
        return NULL;
    }
    if (srv->n_connections >= srv->max_connections - srv->reserve &&
        from_addr >= RESERVE_PER_ADDR) {
        return NULL;
    }
    return free_slot;
}

/* Waits up to ms for the stop pipe; returns 1 when the server is stopping. */
static int wait_stop(struct http_server *srv, int ms)
{
    struct pollfd p = {.fd = srv->stop_pipe[0], .events = POLLIN};
    return poll(&p, 1, ms) > 0;
}

/* Frees a slot the acceptor owns (VETTING) and closes its socket. */
static void drop_vetting(struct http_server *srv, struct conn_slot *slot)
{
    epoll_ctl(srv->vet_epoll, EPOLL_CTL_DEL, slot->fd, NULL);
    pthread_mutex_lock(&srv->conn_lock);
    int fd = slot->fd;
    slot->phase = PHASE_FREE;
    slot->fd = -1;
    srv->n_connections--;
    pthread_mutex_unlock(&srv->conn_lock);
    close(fd);
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 505: return "HTTP Version Not Supported";
    default: return "Bad Request";
    }
}

/*
 * Answers a first request head that vet.c refused, in the protocol its headers point
 * to (http__route on what could be parsed), with a request id, then closes. The
 * response is small enough for the socket's send buffer.
 */
static void refuse_head(struct http_server *srv, int fd, const char *head, size_t len, int status,
                        const char *reason)
{
    struct http_exchange *ex = xcalloc(1, sizeof(*ex));
    ex->body_fd = -1;
    ex->resp.body_fd = -1;
    buf_init(&ex->body);
    buf_init(&ex->resp.body);
    format_request_id(ex->request_id);
    /* Whatever can be read of the head: "METHOD target ..." then "name: value" lines. */
    const char *end = head + len;
    const char *eol = memchr(head, '\n', len);
    const char *line_end = eol ? eol : end;
    const char *sp1 = memchr(head, ' ', (size_t)(line_end - head));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(line_end - sp1 - 1)) : NULL;
    if (sp1 != NULL && sp1 - head < (long)sizeof(ex->method)) {
        snprintf(ex->method, sizeof(ex->method), "%.*s", (int)(sp1 - head), head);
    }
    if (sp1 != NULL && sp2 != NULL && sp2 - sp1 - 1 <= VET_MAX_TARGET) {
        ex->raw_uri = xasprintf("%.*s", (int)(sp2 - sp1 - 1), sp1 + 1);
    } else {
        ex->raw_uri = xstrdup("/");
    }
    for (const char *line = eol ? eol + 1 : end; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        const char *stop = nl ? nl : end;
        const char *colon = memchr(line, ':', (size_t)(stop - line));
        if (colon != NULL && colon > line) {
            const char *v = colon + 1;
            while (v < stop && (*v == ' ' || *v == '\t')) {
                v++;
            }
            const char *ve = stop;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) {
                ve--;
            }
            char *name = xasprintf("%.*s", (int)(colon - line), line);
            char *value = xasprintf("%.*s", (int)(ve - v), v);
            collect_header(ex, MHD_HEADER_KIND, name, value);
            free(name);
            free(value);
        }
        line = nl ? nl + 1 : end;
    }
    http__route(srv->ctx.reg, ex);
    http__render_error(ex, SL_E(VALIDATION), reason, NULL);
    struct buf out;
    buf_init(&out);
    buf_printf(&out, "HTTP/1.1 %d %s\r\n", status, reason_phrase(status));
    for (size_t i = 0; i < ex->resp.n_headers; i++) {
        buf_printf(&out, "%s: %s\r\n", ex->resp.headers[i].name, ex->resp.headers[i].value);
    }
    buf_printf(&out, "Content-Length: %zu\r\nConnection: close\r\n\r\n", ex->resp.body.len);
    buf_append(&out, ex->resp.body.data, ex->resp.body.len);
    if (buf_status(&out) == 0 && send(fd, out.data, out.len, MSG_NOSIGNAL) < 0) {
        log_msg(LOG_DEBUG, "http", "cannot answer a refused request head: %s", strerror(errno));
    }
    buf_fini(&out);
    exchange_free(srv, ex);
    /* Read what the client sent, so that closing does not reset the connection and
       lose the answer; then close our side. */
    for (int i = 0; i < 16 && recv(fd, srv->vet_buf, VET_MAX_HEAD, MSG_DONTWAIT) > 0; i++) {
    }
    shutdown(fd, SHUT_WR);
}

/* ---- the HTTP/2 connections' view of the front end (struct h2_host) ---- */

static struct http_exchange *h2_open(void *arg, void *conn)
{
    (void)arg;
    struct http_exchange *ex = xcalloc(1, sizeof(*ex));
    ex->body_fd = -1;
    ex->resp.body_fd = -1;
    buf_init(&ex->body);
    buf_init(&ex->resp.body);
    format_request_id(ex->request_id);
    ex->slot = conn;
    return ex;
}

static int h2_headers(void *arg, struct http_exchange *ex, int *rendered)
{
    return on_headers(arg, ex, rendered);
}

static void h2_receive(void *arg, struct http_exchange *ex, const uint8_t *data, size_t len)
{
    receive(arg, ex, (const char *)data, len);
}

static void h2_finish(void *arg, struct http_exchange *ex)
{
    struct http_server *srv = arg;
    if (ex->early_error) {
        http__render_error(ex, ex->early_error, ex->early_message, NULL);
        return;
    }
    if (ex->body_fd >= 0) {
        lseek(ex->body_fd, 0, SEEK_SET);
    }
    http__handle(&srv->ctx, ex);
}

static void h2_close(void *arg, struct http_exchange *ex)
{
    exchange_free(arg, ex);
}

static void h2_phase(void *arg, void *conn, enum conn_phase phase)
{
    slot_enter(arg, conn, phase);
}

/* The connection's thread has closed its socket: the slot and the thread count go. */
static void h2_done(void *arg, void *conn)
{
    struct http_server *srv = arg;
    struct conn_slot *slot = conn;
    pthread_mutex_lock(&srv->conn_lock);
    slot->phase = PHASE_FREE;
    slot->fd = -1;
    srv->n_connections--;
    srv->n_h2--;
    pthread_cond_broadcast(&srv->h2_gone);
    pthread_mutex_unlock(&srv->conn_lock);
}

/*
 * Hands a vetting connection whose first bytes are the HTTP/2 preface to a thread of
 * its own (h2.c). Its slot stays: HEAD until a stream brings a body, and so on, under
 * the same deadlines as an HTTP/1.1 connection.
 */
static void start_h2(struct http_server *srv, struct conn_slot *slot, const char *upgrade_head,
                     size_t upgrade_head_len)
{
    epoll_ctl(srv->vet_epoll, EPOLL_CTL_DEL, slot->fd, NULL);
    pthread_mutex_lock(&srv->conn_lock);
    int fd = slot->fd;
    slot->phase = PHASE_HEAD;
    slot->phase_start_ns = clock_mono_ns();
    srv->n_h2++;
    pthread_mutex_unlock(&srv->conn_lock);
    struct h2_host host = {
        .arg = srv,
        .conn = slot,
        .stop_fd = srv->stop_pipe[0],
        .idle_timeout_s = srv->ctx.cfg->idle_timeout_s,
        .open = h2_open,
        .headers = h2_headers,
        .receive = h2_receive,
        .finish = h2_finish,
        .close = h2_close,
        .phase = h2_phase,
        .done = h2_done,
    };
    if (http__h2_start(&host, fd, upgrade_head, upgrade_head_len) != 0) {
        log_msg(LOG_WARN, "http", "cannot start an HTTP/2 connection thread");
        h2_done(srv, slot);
        close(fd);
    }
}

/* The acceptor's turn on a VETTING connection with something to read. */
static void vet_connection(struct http_server *srv, struct conn_slot *slot)
{
    ssize_t n = recv(slot->fd, srv->vet_buf, VET_MAX_HEAD, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    if (n <= 0) {
        drop_vetting(srv, slot); /* closed before sending a request, or shut by the reaper */
        return;
    }
    /* HTTP/2 with prior knowledge: the preface, or the start of it, is waited for. */
    size_t cmp_len = (size_t)n < H2_PREFACE_LEN ? (size_t)n : H2_PREFACE_LEN;
    if (memcmp(srv->vet_buf, H2_PREFACE, cmp_len) == 0) {
        if (cmp_len == H2_PREFACE_LEN) {
            start_h2(srv, slot, NULL, 0);
        }
        return;
    }
    size_t head_len;
    const char *reason;
    int rc = http__vet_head(srv->vet_buf, (size_t)n, VET_MAX_HEAD, &head_len, &reason);
    if (rc == 0) {
        return;
    }
    if (rc < 0) {
        refuse_head(srv, slot->fd, srv->vet_buf, (size_t)n, -rc, reason);
        drop_vetting(srv, slot);
        return;
    }
    if (http__h2c_wanted(srv->vet_buf, head_len)) {
        /* The h2c upgrade: the head is taken off the socket and answered 101 here (a
           few bytes, into an empty send buffer); the request becomes stream 1. */
        static const char switching[] = "HTTP/1.1 101 Switching Protocols\r\n"
                                        "Connection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
        if (recv(slot->fd, srv->vet_buf, head_len, MSG_DONTWAIT) != (ssize_t)head_len ||
            send(slot->fd, switching, sizeof(switching) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) !=
                (ssize_t)(sizeof(switching) - 1)) {
            drop_vetting(srv, slot);
            return;
        }
        start_h2(srv, slot, srv->vet_buf, head_len);
        return;
    }
    epoll_ctl(srv->vet_epoll, EPOLL_CTL_DEL, slot->fd, NULL);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = slot->addr};
    socklen_t sa_len = sizeof(sa);
    getpeername(slot->fd, (struct sockaddr *)&sa, &sa_len);
    pthread_mutex_lock(&srv->conn_lock);
    int fd = slot->fd;
    slot->phase = PHASE_PENDING;
    slot->phase_start_ns = clock_mono_ns();
    pthread_mutex_unlock(&srv->conn_lock);
    if (MHD_add_connection(srv->daemon, fd, (struct sockaddr *)&sa, sa_len) != MHD_YES) {
        /* MHD closed the socket; if it never started, the slot is still ours. */
        pthread_mutex_lock(&srv->conn_lock);
        if (slot->phase == PHASE_PENDING && slot->fd == fd) {
            slot->phase = PHASE_FREE;
            slot->fd = -1;
            srv->n_connections--;
        }
        pthread_mutex_unlock(&srv->conn_lock);
    }
}

/* Accepts one connection and, when admitted, starts vetting it. */
static void accept_one(struct http_server *srv, int64_t *last_warn_ns)
{
    struct sockaddr_in sa;
    socklen_t sa_len = sizeof(sa);
    int fd = accept4(srv->listen_fd, (struct sockaddr *)&sa, &sa_len, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* Out of descriptors: wait for some to come back rather than spin. */
            int64_t now = clock_mono_ns();
            if (now - *last_warn_ns > 10 * 1000000000LL) {
                log_msg(LOG_WARN, "http", "cannot accept connections: %s", strerror(errno));
                *last_warn_ns = now;
            }
            wait_stop(srv, 100);
        }
        return;
    }
    uint32_t addr = sa.sin_family == AF_INET ? sa.sin_addr.s_addr : 0;
    pthread_mutex_lock(&srv->conn_lock);
    struct conn_slot *slot = admit(srv, addr);
    if (slot != NULL) {
        slot->phase = PHASE_VETTING;
        slot->fd = fd;
        slot->addr = addr;
        slot->n_served = 0;
        slot->phase_start_ns = clock_mono_ns();
        srv->n_connections++;
    }
    pthread_mutex_unlock(&srv->conn_lock);
    if (slot == NULL) {
        close(fd);
        return;
    }
    /* Edge-triggered: peeked bytes stay readable, and must not wake us again. */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET,
                             .data.u32 = (uint32_t)(slot - srv->slots)};
    if (epoll_ctl(srv->vet_epoll, EPOLL_CTL_ADD, fd, &ev) != 0) {
        drop_vetting(srv, slot);
    }
}

static void *acceptor_main(void *arg)
{
    struct http_server *srv = arg;
    int64_t last_warn_ns = 0;
    for (;;) {
        struct pollfd p[3] = {{.fd = srv->listen_fd, .events = POLLIN},
                              {.fd = srv->stop_pipe[0], .events = POLLIN},
                              {.fd = srv->vet_epoll, .events = POLLIN}};
        if (poll(p, 3, -1) < 0 && errno != EINTR) {
            break;
        }
        if (p[1].revents) {
            break;
        }
        if (p[2].revents & POLLIN) {
            struct epoll_event evs[64];
            int n = epoll_wait(srv->vet_epoll, evs, 64, 0);
            for (int i = 0; i < n; i++) {
                vet_connection(srv, &srv->slots[evs[i].data.u32]);
            }
        }
        if (p[0].revents & POLLIN) {
            accept_one(srv, &last_warn_ns);
        }
    }
    /* Stopping: the connections still being vetted are ours to close. */
    for (int i = 0; i < srv->max_connections; i++) {
        pthread_mutex_lock(&srv->conn_lock);
        int ours = srv->slots[i].phase == PHASE_VETTING;
        pthread_mutex_unlock(&srv->conn_lock);
        if (ours) {
            drop_vetting(srv, &srv->slots[i]);
        }
    }
    return NULL;
}

/* 1 when a connection in slot has overstayed its phase at monotonic time now. */
static int overdue(const struct sluice_config *cfg, struct conn_slot *slot, int64_t now)
{
    const int64_t s = 1000000000LL;
    switch (slot->phase) {
    case PHASE_VETTING: return now - slot->phase_start_ns > cfg->header_timeout_s * s;
    case PHASE_HEAD: {
        int limit_s = slot->n_served > 0 ? cfg->idle_timeout_s : cfg->header_timeout_s;
        return now - slot->phase_start_ns > limit_s * s;
    }
    case PHASE_BODY:
        if (now - slot->window_start_ns >= cfg->header_timeout_s * s) {
            uint64_t want =
                (uint64_t)cfg->min_body_rate_bytes_per_s * (uint64_t)cfg->header_timeout_s;
            if (slot->body_bytes - slot->window_bytes < want) {
                return 1;
            }
            slot->window_start_ns = now;
            slot->window_bytes = slot->body_bytes;
        }
        return 0;
    case PHASE_PENDING:
        /* MHD takes a connection in its own thread; one it never started (out of
           memory) would hold its slot for ever. */
        return now - slot->phase_start_ns > 10 * s;
    default: return 0;
    }
}

static void *reaper_main(void *arg)
{
    struct http_server *srv = arg;
    while (!wait_stop(srv, 500)) {
        int64_t now = clock_mono_ns();
        pthread_mutex_lock(&srv->conn_lock);
        for (int i = 0; i < srv->max_connections; i++) {
            struct conn_slot *slot = &srv->slots[i];
            if (slot->fd < 0 || !overdue(srv->ctx.cfg, slot, now)) {
                continue;
            }
            if (slot->phase == PHASE_PENDING) {
                slot->phase = PHASE_FREE; /* its socket is MHD's to close, or closed */
                slot->fd = -1;
                srv->n_connections--;
                continue;
            }
            /* Whoever owns the socket (MHD's thread, or the acceptor while vetting) sees
               the stream end and closes it; the slot frees then. A vetting slot stays
               VETTING so that the acceptor still knows it for its own. */
            shutdown(slot->fd, SHUT_RDWR);
            if (slot->phase != PHASE_VETTING) {
                slot->phase = PHASE_BUSY;
            }
        }
        pthread_mutex_unlock(&srv->conn_lock);
    }
    return NULL;
}

/*
 * How many connections the descriptor limit allows: each may hold a socket, a spooled
 * body and a response file, after the stores' share: three per shard of the quota, and
 * 512 for the rest (the lake alone keeps 256 directories open).
 */
static int fit_connections(const struct sluice_config *cfg)
{
    struct rlimit rl;
    int wanted = cfg->max_connections;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) {
        return wanted;
    }
    long shards = cfg->shard_limit > 0 ? cfg->shard_limit : 500;
    long for_stores = 3 * shards + 512;
    long fit = ((long)rl.rlim_cur - for_stores) / 3;
    if (fit < 16) {
        fit = 16;
    }
    if (fit < wanted) {
        log_msg(LOG_WARN, "http",
                "open-file limit %ld admits %ld connections, not %d; raise LimitNOFILE",
                (long)rl.rlim_cur, fit, wanted);
        return (int)fit;
    }
    return wanted;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && line[n - 1] == '\n') {
        line[--n] = '\0';
    }
    log_msg(LOG_DEBUG, "http", "%s", line);
}

/* A listening IPv4 socket on cfg's address; returns the fd or -errno. */
static int listen_on(const struct sluice_config *cfg)
{
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)cfg->listen_port);
    if (inet_pton(AF_INET, cfg->listen_host, &addr.sin_addr) != 1) {
        log_msg(LOG_ERROR, "http", "listen address %s is not an IPv4 address", cfg->listen_host);
        return -EINVAL;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return -errno;
    }
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(fd, 1024) != 0) {
        int e = errno;
        log_msg(LOG_ERROR, "http", "cannot listen on %s:%d: %s", cfg->listen_host, cfg->listen_port,
                strerror(e));
        close(fd);
        return -e;
    }
    return fd;
}

int http_server_open(const struct sluice_config *cfg, const struct api_registry *reg,
                     http_key_lookup_fn lookup, void *lookup_arg, struct http_server **out)
{
    int listen_fd = listen_on(cfg);
    if (listen_fd < 0) {
        return listen_fd;
    }
    struct http_server *srv = xcalloc(1, sizeof(*srv));
    srv->listen_fd = listen_fd;
    srv->ctx.cfg = cfg;
    srv->ctx.reg = reg;
    srv->ctx.lookup = lookup;
    srv->ctx.lookup_arg = lookup_arg;
    snprintf(srv->spool_dir, sizeof(srv->spool_dir), "%s", cfg->data_dir);
    pthread_mutex_init(&srv->conn_lock, NULL);
    pthread_cond_init(&srv->h2_gone, NULL);
    srv->max_connections = fit_connections(cfg);
    srv->reserve = srv->max_connections / 16 > 4 ? srv->max_connections / 16 : 4;
    srv->slots = xcalloc((size_t)srv->max_connections, sizeof(*srv->slots));
    for (int i = 0; i < srv->max_connections; i++) {
        srv->slots[i].fd = -1;
    }
    srv->vet_buf = xmalloc(VET_MAX_HEAD);
    int rc = 0;
    srv->vet_epoll = epoll_create1(EPOLL_CLOEXEC);
    if (srv->vet_epoll < 0) {
        rc = -errno;
        goto out_free;
    }
    if (pipe2(srv->stop_pipe, O_CLOEXEC) != 0) {
        rc = -errno;
        goto out_close_epoll;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_ERROR_LOG | MHD_USE_POLL | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
    /* clang-format off */
    srv->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, access_handler, srv,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
        MHD_OPTION_URI_LOG_CALLBACK, uri_log, srv,
        MHD_OPTION_NOTIFY_COMPLETED, completed, srv,
        MHD_OPTION_NOTIFY_CONNECTION, notify_connection, srv,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024),
        /* Above ours: a slot frees at CLOSED, a moment before MHD forgets the
           connection, and MHD would drop an admitted one silently. */
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)srv->max_connections + 64,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->idle_timeout_s,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t)(512 * 1024),
        MHD_OPTION_END);
    /* clang-format on */
    if (srv->daemon == NULL) {
        rc = errno ? -errno : -EINVAL;
        log_msg(LOG_ERROR, "http", "cannot start the HTTP daemon: %s", strerror(-rc));
        goto out_close_pipe;
    }
    if (pthread_create(&srv->acceptor, NULL, acceptor_main, srv) != 0) {
        rc = -EAGAIN;
        goto out_stop;
    }
    srv->threads_started = 1;
    if (pthread_create(&srv->reaper, NULL, reaper_main, srv) != 0) {
        rc = -EAGAIN;
        goto out_stop;
    }
    srv->threads_started = 2;
    *out = srv;
    return 0;
out_stop:
    http_server_close(srv);
    return rc;
out_close_pipe:
    close(srv->stop_pipe[0]);
    close(srv->stop_pipe[1]);
out_close_epoll:
    close(srv->vet_epoll);
out_free:
    close(listen_fd);
    free(srv->vet_buf);
    free(srv->slots);
    pthread_cond_destroy(&srv->h2_gone);
    pthread_mutex_destroy(&srv->conn_lock);
    free(srv);
    return rc;
}

void http_server_close(struct http_server *srv)
{
    if (srv == NULL) {
        return;
    }
    /* Stop admitting first, then let MHD finish what runs and close every connection. */
    if (write(srv->stop_pipe[1], "x", 1) < 0) {
        log_msg(LOG_WARN, "http", "cannot signal the acceptor: %s", strerror(errno));
    }
    if (srv->threads_started >= 1) {
        pthread_join(srv->acceptor, NULL);
    }
    if (srv->threads_started >= 2) {
        pthread_join(srv->reaper, NULL);
    }
    /* HTTP/2 connections see the stop pipe too: each finishes the request it is
       handling, says GOAWAY and closes. */
    pthread_mutex_lock(&srv->conn_lock);
    while (srv->n_h2 > 0) {
        pthread_cond_wait(&srv->h2_gone, &srv->conn_lock);
    }
    pthread_mutex_unlock(&srv->conn_lock);
    close(srv->listen_fd);
    MHD_stop_daemon(srv->daemon);
    close(srv->stop_pipe[0]);
    close(srv->stop_pipe[1]);
    close(srv->vet_epoll);
    free(srv->vet_buf);
    free(srv->slots);
    pthread_cond_destroy(&srv->h2_gone);
    pthread_mutex_destroy(&srv->conn_lock);
    free(srv);
}
