/*
 * The front end's server: admission of connections, vetting of their first request
 * head, the reaper's deadlines, the body budgets, and the steps every exchange goes
 * through (struct conn_host) for the HTTP/1.1 engine (h1.c) and HTTP/2 (h2.c) alike.
 *
 * One exchange, on its connection's thread:
 *
 *   open              ──▶ exchange allocated with a request id
 *   headers           ──▶ framing checked for smuggling shapes, route chosen, the gate
 *                         (router.c) authenticates from the headers, the body's size is
 *                         checked and charged to the budget; any refusal is answered
 *                         then, before "100 Continue" and before any body byte is read
 *   receive           ──▶ body appended in memory, or to an unlinked temp file (spooled)
 *   finish            ──▶ http__handle: SigV4 again, dispatch, render into ex->resp
 *   close             ──▶ exchange freed (spool file closed, budget given back)
 *   refuse (HTTP/1.1) ──▶ a request that cannot be read, answered in the shape its
 *                         headers point to
 *
 * Connections. We accept them ourselves, so admission is ours:
 *   - at most max_connections, fewer when the descriptor limit would not leave room
 *     for the stores (each connection may hold three: socket, spool, response file);
 *   - at most max_connections_per_addr from one IPv4 address;
 *   - the last `reserve` slots go only to addresses holding fewer than
 *     RESERVE_PER_ADDR connections, so a new client gets in while an attacker holds the
 *     rest (a few, not one: a client opening one connection after another must not
 *     trip over the one its thread is still closing);
 *   - when accept() runs out of descriptors the acceptor sleeps instead of spinning.
 * The acceptor then keeps the connection, without a thread, until its first request
 * head has arrived whole, peeking at it (vet.c) so that a malformed or ambiguous head
 * is answered in the protocol's shape (http__h1_refusal) at the cost of no thread. A
 * sound one goes, its bytes still unread, to a thread of its own: HTTP/1.1 (h1.c),
 * which reads that head and every later one of the connection through vet.c and
 * answers any refusal the same way; or HTTP/2 (h2.c) when the first bytes are its
 * preface, or when the first head offers the h2c upgrade without a body (answered 101
 * here). Each admitted connection has a slot that a reaper thread checks twice a
 * second:
 *
 *   accepted ─▶ VETTING ─▶ HEAD ─headers─▶ BODY ─body─▶ BUSY ─sent─▶ HEAD
 *                  │         │               │
 *                  │ header_timeout_s        │ less than min_body_rate ×
 *                  │ (idle_timeout_s once    │ header_timeout_s in any
 *                  ▼  served)                ▼ header_timeout_s window
 *              shutdown(2): the socket's owner sees the end of the stream and closes
 *              the connection
 *
 * A BUSY connection is the handler's, then its thread's: a response no byte of which
 * can be sent for idle_timeout_s ends it there.
 *
 * Every connection past vetting has its own thread (handlers block on fsync and disk),
 * which is one reason the number of connections is bounded; one still being vetted,
 * as a slowloris client's always is, has none.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
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
    int fd;                  /* the socket; -1 once its owner has closed it */
    uint32_t addr;           /* IPv4 address, network order */
    int n_served;            /* requests answered on this connection */
    int64_t phase_start_ns;  /* monotonic time the phase began */
    uint64_t body_bytes;     /* body bytes received in the current request */
    uint64_t window_bytes;   /* body_bytes when the rate window began */
    int64_t window_start_ns; /* monotonic start of the rate window */
};

struct http_server {
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
    struct conn_slot *slots;    /* max_connections of them; guarded by conn_lock */
    int max_connections;        /* after fitting the descriptor limit; read-only */
    int reserve;                /* slots kept for addresses with < RESERVE_PER_ADDR */
    int vet_epoll;              /* the VETTING connections' sockets (acceptor only) */
    char *vet_buf;              /* VET_MAX_HEAD bytes for peeking (acceptor only) */
    struct vet_head *vet_head;  /* what vetting read of vet_buf (acceptor only) */
    int n_connections;          /* slots not FREE; guarded by conn_lock */
    int n_threads;              /* connection threads running; guarded by conn_lock */
    pthread_cond_t thread_gone; /* signalled when n_threads drops; with conn_lock */
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

/* Drops a request's body (memory or spool file) and gives its budget share back. */
static void release_body(struct http_server *srv, struct http_exchange *ex)
{
    buf_fini(&ex->body);
    if (ex->body_fd >= 0) {
        close(ex->body_fd);
        ex->body_fd = -1;
    }
    budget_give(&srv->mem_used_bytes, ex->mem_charged);
    budget_give(&srv->spool_used_bytes, ex->spool_charged);
    ex->mem_charged = 0;
    ex->spool_charged = 0;
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
    release_body(srv, ex);
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

/*
 * Refuses the framing shapes that let a request be read two ways by two parsers
 * (request smuggling): Content-Length together with Transfer-Encoding, several
 * Content-Length headers that differ (400), and a Transfer-Encoding other than one
 * "chunked" (501, as AWS answers a coding it does not implement). Returns 0 or an
 * error code with a message.
 */
static int check_framing(struct http_exchange *ex)
{
    const char *cl = NULL;
    const char *te = NULL;
    int n_te = 0;
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
            te = value;
            n_te++;
        }
    }
    if (cl != NULL && te != NULL) {
        snprintf(ex->early_message, sizeof(ex->early_message),
                 "A request may not carry both Content-Length and Transfer-Encoding");
        return SL_E(VALIDATION);
    }
    if (te != NULL && (n_te > 1 || strcasecmp(te, "chunked") != 0)) {
        snprintf(ex->early_message, sizeof(ex->early_message),
                 "Only one Transfer-Encoding, chunked, is implemented");
        return SL_E(NOT_IMPLEMENTED);
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

/* Every server's open connections, for /metrics (the count under conn_lock is each one's). */
static atomic_long open_connections;

long http_open_connections(void)
{
    return atomic_load(&open_connections);
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
    atomic_fetch_sub(&open_connections, 1);
    pthread_mutex_unlock(&srv->conn_lock);
    close(fd);
}

/* ---- the connections' view of the front end (struct conn_host) ---- */

static struct http_exchange *host_open(void *arg, void *conn)
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

static int host_headers(void *arg, struct http_exchange *ex, int *rendered)
{
    return on_headers(arg, ex, rendered);
}

static void host_receive(void *arg, struct http_exchange *ex, const uint8_t *data, size_t len)
{
    receive(arg, ex, (const char *)data, len);
}

static void host_finish(void *arg, struct http_exchange *ex)
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
    /* The answer is rendered: the body's budget share comes back before the answer is
       sent, so a client that reads it and sends again finds its share free. */
    release_body(srv, ex);
}

static void host_close(void *arg, struct http_exchange *ex)
{
    exchange_free(arg, ex);
}

static void host_phase(void *arg, void *conn, enum conn_phase phase)
{
    slot_enter(arg, conn, phase);
}

/* The connection's thread has closed its socket: the slot and the thread count go. */
static void host_done(void *arg, void *conn)
{
    struct http_server *srv = arg;
    struct conn_slot *slot = conn;
    pthread_mutex_lock(&srv->conn_lock);
    slot->phase = PHASE_FREE;
    slot->fd = -1;
    srv->n_connections--;
    atomic_fetch_sub(&open_connections, 1);
    srv->n_threads--;
    pthread_cond_broadcast(&srv->thread_gone);
    pthread_mutex_unlock(&srv->conn_lock);
}

/* A request that cannot be read: its refusal in the shape its headers point to. */
static void host_refuse(void *arg, struct http_exchange *ex, int code, const char *message)
{
    struct http_server *srv = arg;
    http__route(srv->ctx.reg, ex);
    http__render_error(ex, code, message, NULL);
}

/* The front end's steps for a connection in slot (NULL: a refused first head). */
static struct conn_host make_host(struct http_server *srv, struct conn_slot *slot)
{
    return (struct conn_host){
        .arg = srv,
        .conn = slot,
        .stop_fd = srv->stop_pipe[0],
        .idle_timeout_s = srv->ctx.cfg->idle_timeout_s,
        .open = host_open,
        .headers = host_headers,
        .receive = host_receive,
        .finish = host_finish,
        .close = host_close,
        .phase = host_phase,
        .done = host_done,
        .refuse = host_refuse,
    };
}

/*
 * Answers a first request head that vet.c refused, as the HTTP/1.1 engine answers any
 * later one (http__h1_refusal), then closes. The answer is small enough for the
 * socket's send buffer.
 */
static void refuse_head(struct http_server *srv, int fd, const char *head, size_t len, int status,
                        const char *reason)
{
    struct conn_host host = make_host(srv, NULL);
    struct buf out;
    buf_init(&out);
    http__h1_refusal(&host, head, len, status, reason, &out);
    if (buf_status(&out) == 0 && send(fd, out.data, out.len, MSG_NOSIGNAL) < 0) {
        log_msg(LOG_DEBUG, "http", "cannot answer a refused request head: %s", strerror(errno));
    }
    buf_fini(&out);
    /* Read what the client sent, so that closing does not reset the connection and
       lose the answer; then close our side. */
    for (int i = 0; i < 16 && recv(fd, srv->vet_buf, VET_MAX_HEAD, MSG_DONTWAIT) > 0; i++) {
    }
    shutdown(fd, SHUT_WR);
}

/* Takes a vetting connection off the acceptor for a thread of its own: its slot stays,
   HEAD until a request brings a body, and so on. Returns the socket. */
static int leave_vetting(struct http_server *srv, struct conn_slot *slot)
{
    epoll_ctl(srv->vet_epoll, EPOLL_CTL_DEL, slot->fd, NULL);
    pthread_mutex_lock(&srv->conn_lock);
    int fd = slot->fd;
    slot->phase = PHASE_HEAD;
    slot->phase_start_ns = clock_mono_ns();
    srv->n_threads++;
    pthread_mutex_unlock(&srv->conn_lock);
    return fd;
}

/*
 * Hands a vetting connection whose first bytes are the HTTP/2 preface to a thread of
 * its own (h2.c). Its slot stays: HEAD until a stream brings a body, and so on, under
 * the same deadlines as an HTTP/1.1 connection.
 */
static void start_h2(struct http_server *srv, struct conn_slot *slot, const char *upgrade_head,
                     size_t upgrade_head_len)
{
    int fd = leave_vetting(srv, slot);
    struct conn_host host = make_host(srv, slot);
    if (http__h2_start(&host, fd, upgrade_head, upgrade_head_len) != 0) {
        log_msg(LOG_WARN, "http", "cannot start an HTTP/2 connection thread");
        host_done(srv, slot);
        close(fd);
    }
}

/* Hands a vetting connection whose first request head is sound, still unread, to a
   thread of its own (h1.c). */
static void start_h1(struct http_server *srv, struct conn_slot *slot)
{
    int fd = leave_vetting(srv, slot);
    struct conn_host host = make_host(srv, slot);
    if (http__h1_start(&host, fd) != 0) {
        log_msg(LOG_WARN, "http", "cannot start an HTTP/1.1 connection thread");
        host_done(srv, slot);
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
    struct vet_head *vh = srv->vet_head;
    const char *reason;
    int rc = http__vet_head(srv->vet_buf, (size_t)n, VET_MAX_HEAD, vh, &reason);
    if (rc == 0) {
        return;
    }
    if (rc < 0) {
        refuse_head(srv, slot->fd, srv->vet_buf, (size_t)n, -rc, reason);
        drop_vetting(srv, slot);
        return;
    }
    size_t head_len = vh->head_len;
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
    start_h1(srv, slot);
}

/* Starts a detached thread with a small stack (a connection's handlers need little:
   bodies live on the heap) running fn(arg). Returns 0 or a positive errno. */
uint32_t http__slot_addr(const struct conn_slot *slot)
{
    return slot != NULL ? slot->addr : 0;
}

int http__conn_thread_start(void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 512 * 1024);
    pthread_t thread;
    int rc = pthread_create(&thread, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return rc;
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
        atomic_fetch_add(&open_connections, 1);
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
            /* Whoever owns the socket (the connection's thread, or the acceptor while
               vetting) sees the stream end and closes it; the slot frees then. A
               vetting slot stays VETTING so that the acceptor still knows it for its
               own. */
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
                     http_key_lookup_fn lookup, http_authorize_fn authorize, void *lookup_arg,
                     struct http_server **out)
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
    srv->ctx.authorize = authorize;
    srv->ctx.lookup_arg = lookup_arg;
    snprintf(srv->spool_dir, sizeof(srv->spool_dir), "%s", cfg->data_dir);
    pthread_mutex_init(&srv->conn_lock, NULL);
    pthread_cond_init(&srv->thread_gone, NULL);
    srv->max_connections = fit_connections(cfg);
    srv->reserve = srv->max_connections / 16 > 4 ? srv->max_connections / 16 : 4;
    srv->slots = xcalloc((size_t)srv->max_connections, sizeof(*srv->slots));
    for (int i = 0; i < srv->max_connections; i++) {
        srv->slots[i].fd = -1;
    }
    srv->vet_buf = xmalloc(VET_MAX_HEAD);
    srv->vet_head = xmalloc(sizeof(*srv->vet_head));
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
out_close_epoll:
    close(srv->vet_epoll);
out_free:
    close(listen_fd);
    free(srv->vet_buf);
    free(srv->vet_head);
    free(srv->slots);
    pthread_cond_destroy(&srv->thread_gone);
    pthread_mutex_destroy(&srv->conn_lock);
    free(srv);
    return rc;
}

void http_server_close(struct http_server *srv)
{
    if (srv == NULL) {
        return;
    }
    /* Stop admitting first, then let every connection's thread finish what it runs. */
    if (write(srv->stop_pipe[1], "x", 1) < 0) {
        log_msg(LOG_WARN, "http", "cannot signal the acceptor: %s", strerror(errno));
    }
    if (srv->threads_started >= 1) {
        pthread_join(srv->acceptor, NULL);
    }
    if (srv->threads_started >= 2) {
        pthread_join(srv->reaper, NULL);
    }
    /* The connections' threads see the stop pipe too: each finishes the request it is
       handling (HTTP/2 says GOAWAY) and closes. */
    pthread_mutex_lock(&srv->conn_lock);
    while (srv->n_threads > 0) {
        pthread_cond_wait(&srv->thread_gone, &srv->conn_lock);
    }
    pthread_mutex_unlock(&srv->conn_lock);
    close(srv->listen_fd);
    close(srv->stop_pipe[0]);
    close(srv->stop_pipe[1]);
    close(srv->vet_epoll);
    free(srv->vet_buf);
    free(srv->vet_head);
    free(srv->slots);
    pthread_cond_destroy(&srv->thread_gone);
    pthread_mutex_destroy(&srv->conn_lock);
    free(srv);
}
