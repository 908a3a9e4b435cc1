/*
 * HTTP/2 (RFC 9113), cleartext with prior knowledge: the nghttp2 adapter, the only file
 * that includes nghttp2.h.
 *
 * The acceptor (server.c) sees the 24-byte preface while vetting a new connection and
 * hands the socket, with the preface still unread, to http__h2_start: one thread per
 * HTTP/2 connection, as h1.c has one per HTTP/1.1 connection. Each stream is
 * an http_exchange that goes through the same steps as an HTTP/1.1 request (struct
 * conn_host, implemented by server.c):
 *
 *   HEADERS (+CONTINUATION)  ──▶ exchange opened; pseudo-headers give method and target;
 *                                :authority stays a header (SDKs sign it) and gives the
 *                                Host when none is sent
 *   END_HEADERS              ──▶ host->headers: route, the gate (authentication before the
 *                                body), body limit and budget. A refusal is answered at
 *                                once and the rest of the body discarded (RST_STREAM
 *                                NO_ERROR once the answer is out, RFC 9113 8.1)
 *   DATA                     ──▶ host->receive: in memory or spooled, charged as it comes
 *   END_STREAM               ──▶ the stream joins the ready queue
 *   connection thread        ──▶ host->finish (http__handle) for each ready stream in turn,
 *                                then the response: HEADERS, DATA from a data provider
 *                                reading the in-memory body or the response file
 *   stream closed            ──▶ host->close
 *
 * Why nghttp2 and not a server library that speaks both versions: nghttp2 is a protocol
 * engine without I/O, so it fits the admission, vetting and deadlines the front end
 * already owns; the libraries that speak both (nghttp2's asio server, h2o) would bring
 * their own event loop and connection handling in their place.
 *
 * Streams are handled one after another on the connection's thread, not in a pool: a
 * handler blocks on fsync, and an SDK that multiplexes calls on one connection gets them
 * answered in arrival order, each response sent as soon as it is ready while the next
 * one runs. That keeps one thread per connection (bounded by the admission limits) and
 * no locking between streams; the cost is that one slow call delays the others of its
 * connection, as it would on a kept-alive HTTP/1.1 connection.
 *
 * Responses that stay open (SubscribeToShard's event stream, an api_response with a
 * stream body): the connection thread must not block on them, or the other streams of
 * the connection (an SDK multiplexes its calls) would stall behind a five-minute
 * subscription. So each gets a feed: a producer thread of its own calls the body's
 * next() and appends what it makes to the feed's queue, then writes the connection's
 * wake-up eventfd, which conn_main polls beside the socket; the stream's data provider
 * sends what is queued and answers NGHTTP2_ERR_DEFERRED when the queue is empty and the
 * body not over, and the woken connection thread resumes every deferred stream
 * (nghttp2_session_resume_data). The producer stops, and closes the body, when the
 * stream closes (a client's RST_STREAM), when the connection ends or when the server
 * stops (the body then ends cleanly); a client that reads nothing makes the queue reach
 * H2_FEED_MAX, the producer waits, and the idle timeout ends the connection. A deferred
 * stream is waiting for its producer, not for the client, so it does not count toward
 * the idle timeout.
 *
 * Defences, besides the front end's (admission, deadlines, the gate, body budgets):
 *   SETTINGS_MAX_CONCURRENT_STREAMS H2_MAX_STREAMS; streams beyond it are refused
 *   SETTINGS_MAX_HEADER_LIST_SIZE H2_MAX_HEADER_LIST: a longer header list (counted as
 *     RFC 9113 does, name + value + 32 per field, trailers included) is answered 431
 *     without keeping the fields; at most H2_MAX_CONTINUATIONS CONTINUATION frames
 *   flow control: 1 MiB stream windows, 4 MiB for the connection; received bytes are
 *     copied out at once and charged to the body budgets, so windows only pace
 *   floods, counted per H2_WINDOW_S window and answered GOAWAY ENHANCE_YOUR_CALM:
 *     RST_STREAM from the client (rapid reset, CVE-2023-44487; nghttp2's own token
 *     bucket as well), streams the server had to refuse or reset, empty DATA frames
 *     without END_STREAM, and SETTINGS/PING/PRIORITY frames; acks a client
 *     does not read are capped by nghttp2_option_set_max_outbound_ack
 *   a response no byte of which can be sent for idle_timeout_s ends the connection.
 *
 * The h2c upgrade (RFC 7540 3.2; RFC 9113 deprecates it but clients still send it):
 * a first HTTP/1.1 request head that carries "Upgrade: h2c", one HTTP2-Settings and no
 * body is answered "101 Switching Protocols" by the acceptor, and becomes stream 1 of a
 * connection like the others (h2c_upgrade below), with the client's settings applied;
 * one with a body is served over HTTP/1.1, ignoring the offer, as the RFC allows.
 *
 * Not done: server push (clients of AWS APIs disable it).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/base64.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "http/http_int.h"

#define H2_MAX_STREAMS 100
#define H2_MAX_HEADER_LIST (64 * 1024)
#define H2_MAX_CONTINUATIONS 16
#define H2_STREAM_WINDOW (1 << 20)
#define H2_CONN_WINDOW (4 << 20)
/* Flood counters: at most this many of each per window. */
#define H2_WINDOW_S 10
#define H2_MAX_CLIENT_RESETS 200
#define H2_MAX_SERVER_RESETS 100
#define H2_MAX_EMPTY_DATA 100
#define H2_MAX_CONTROL 1000
/* A streamed body's producer asks for the next piece in slices this long, and waits
   while this many bytes are queued and not sent. */
#define H2_FEED_SLICE_MS 250
#define H2_FEED_MAX (4 << 20)
/* When the server stops, the streams under way get this long to finish. */
#define H2_STOP_GRACE_S 5

/*
 * The producer side of a streamed response body, shared by the stream (until it closes)
 * and the producer thread (until the body is closed): each drops its reference, the
 * connection joins the thread and frees the feed once both have (reap_feeds).
 */
struct h2_feed {
    pthread_mutex_t lock;
    pthread_cond_t drained; /* the queue went below H2_FEED_MAX, or cancel was set */
    struct buf queue;       /* bytes made and not yet given to nghttp2, from queue_off */
    size_t queue_off;
    int finished;    /* the producer made its last bytes (or gave up) */
    int failed;      /* ...because the body failed: reset the stream */
    int cancel;      /* the stream is gone or the server stops: produce no more */
    int thread_done; /* the producer thread has returned (join it) */
    int stream_gone; /* the stream has closed (no data provider will read) */
    int wake_fd;     /* the connection's eventfd; written under lock, never after cancel */
    struct api_stream_body *body; /* owned by the producer thread */
    pthread_t thread;
    struct h2_feed *next; /* the connection's list of feeds */
};

/* One request stream. Owned by the connection; freed when nghttp2 closes the stream. */
struct h2_stream {
    int32_t id;
    struct http_exchange *ex;              /* owned; host->close frees it */
    size_t header_bytes;                   /* header list size so far (RFC 9113 counting) */
    int too_large;                         /* the header list passed H2_MAX_HEADER_LIST */
    int bad_pseudo;                        /* a pseudo-header too long or repeated */
    int headers_done;                      /* END_HEADERS of the request's header block seen */
    int receiving;                         /* headers passed; body still arriving */
    int refused;                           /* answered before its body: DATA is discarded */
    int queued;                            /* in the ready queue */
    int responded;                         /* response submitted */
    size_t sent_bytes;                     /* response body bytes handed to nghttp2 */
    struct h2_feed *feed;                  /* a streamed body's producer, or NULL */
    int deferred;                          /* its data provider said DEFERRED */
    struct h2_stream *next;                /* ready queue link */
    struct h2_stream *all_next, *all_prev; /* every open stream */
};

struct h2_conn {
    struct conn_host host;
    int fd; /* the socket, -1 when output is discarded */
    nghttp2_session *session;
    struct h2_stream *ready_head, *ready_tail; /* complete requests, in arrival order */
    struct h2_stream *all;                     /* every stream not yet closed */
    int n_receiving;                           /* streams whose body is arriving */
    int n_sending;                             /* streams whose response is being sent */
    enum conn_phase phase;                     /* last phase told to host->phase */
    int64_t phase_since_ns;                    /* monotonic time phase began */
    int64_t last_send_ns;                      /* monotonic time bytes were last written */
    uint64_t n_streams;                        /* request streams opened, for the log */
    int wake_fd;                               /* eventfd the feeds write; -1 if none */
    struct h2_feed *feeds;                     /* every feed whose thread is not joined */
    int n_deferred;                            /* streams waiting for their producer */
    int abusive;                               /* a flood limit tripped; GOAWAY submitted */
    char *upgrade_head; /* h2c: the HTTP/1.1 request head to answer on stream 1,
                           owned, NULL once taken */
    size_t upgrade_head_len;
    /* flood counters of the current window */
    int64_t window_start_ns;
    int client_resets, server_resets, empty_data, control;
};

/* ---- streams ---- */

static void stream_unqueue(struct h2_conn *c, struct h2_stream *s)
{
    if (!s->queued) {
        return;
    }
    struct h2_stream **pp = &c->ready_head;
    struct h2_stream *prev = NULL;
    while (*pp != NULL && *pp != s) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp == s) {
        *pp = s->next;
        if (c->ready_tail == s) {
            c->ready_tail = prev;
        }
    }
    s->next = NULL;
    s->queued = 0;
}

static void stream_queue(struct h2_conn *c, struct h2_stream *s)
{
    if (s->queued || s->refused || s->responded) {
        return;
    }
    if (s->receiving) {
        s->receiving = 0;
        c->n_receiving--;
    }
    s->queued = 1;
    s->next = NULL;
    if (c->ready_tail != NULL) {
        c->ready_tail->next = s;
    } else {
        c->ready_head = s;
    }
    c->ready_tail = s;
}

static void stream_free(struct h2_conn *c, struct h2_stream *s)
{
    stream_unqueue(c, s);
    if (s->receiving) {
        c->n_receiving--;
    }
    if (s->responded) {
        c->n_sending--;
    }
    if (s->feed != NULL) {
        if (s->deferred) {
            c->n_deferred--;
        }
        pthread_mutex_lock(&s->feed->lock);
        s->feed->cancel = 1;
        s->feed->stream_gone = 1;
        pthread_cond_signal(&s->feed->drained);
        pthread_mutex_unlock(&s->feed->lock);
    }
    if (s->all_prev != NULL) {
        s->all_prev->all_next = s->all_next;
    } else {
        c->all = s->all_next;
    }
    if (s->all_next != NULL) {
        s->all_next->all_prev = s->all_prev;
    }
    c->host.close(c->host.arg, s->ex);
    free(s);
}

/* Counts one event of a flood kind; past its limit, says GOAWAY and stops reading. */
static void count_abuse(struct h2_conn *c, int *counter, int limit, const char *what)
{
    int64_t now = clock_mono_ns();
    if (now - c->window_start_ns > (int64_t)H2_WINDOW_S * 1000000000LL) {
        c->window_start_ns = now;
        c->client_resets = c->server_resets = c->empty_data = c->control = 0;
    }
    if (++*counter > limit && !c->abusive) {
        c->abusive = 1;
        log_msg(LOG_WARN, "http", "HTTP/2 client sent more than %d %s in %d s: GOAWAY", limit, what,
                H2_WINDOW_S);
        nghttp2_session_terminate_session(c->session, NGHTTP2_ENHANCE_YOUR_CALM);
    }
}

/* ---- responses ---- */

static ssize_t read_body(nghttp2_session *session, int32_t stream_id, uint8_t *out, size_t length,
                         uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
    (void)session;
    (void)stream_id;
    (void)user_data;
    struct h2_stream *s = source->ptr;
    struct api_response *r = &s->ex->resp;
    size_t total = r->body_fd >= 0 ? r->body_fd_len : r->body.len;
    size_t n = total - s->sent_bytes < length ? total - s->sent_bytes : length;
    if (n > 0 && r->body_fd >= 0) {
        ssize_t got;
        do {
            got = pread(r->body_fd, out, n, r->body_offset + (off_t)s->sent_bytes);
        } while (got < 0 && errno == EINTR);
        if (got <= 0) {
            log_msg(LOG_WARN, "http", "cannot read a response body: %s",
                    got < 0 ? strerror(errno) : "file shorter than announced");
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
        }
        n = (size_t)got;
    } else if (n > 0) {
        memcpy(out, r->body.data + s->sent_bytes, n);
    }
    s->sent_bytes += n;
    if (s->sent_bytes == total) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    }
    return (ssize_t)n;
}

/* ---- streamed bodies ---- */

/* The producer thread of a feed: asks the body for its pieces and queues them. */
static void *feed_main(void *arg)
{
    struct h2_feed *f = arg;
    struct buf piece;
    buf_init(&piece);
    int rc = 1;
    while (rc > 0) {
        pthread_mutex_lock(&f->lock);
        while (!f->cancel && f->queue.len - f->queue_off >= H2_FEED_MAX) {
            pthread_cond_wait(&f->drained, &f->lock);
        }
        int cancel = f->cancel;
        pthread_mutex_unlock(&f->lock);
        if (cancel) {
            break;
        }
        buf_reset(&piece);
        rc = f->body->next(f->body->arg, &piece, H2_FEED_SLICE_MS);
        if (buf_status(&piece) != 0) {
            rc = -1;
        }
        pthread_mutex_lock(&f->lock);
        if (rc >= 0 && piece.len > 0 && buf_append(&f->queue, piece.data, piece.len) != 0) {
            rc = -1;
        }
        if (rc <= 0) {
            f->finished = 1;
            f->failed = rc < 0;
        }
        if ((piece.len > 0 || rc <= 0) && !f->cancel && f->wake_fd >= 0) {
            uint64_t one = 1;
            if (write(f->wake_fd, &one, sizeof(one)) < 0) {
                /* the counter is already non-zero: the connection will wake */
            }
        }
        pthread_mutex_unlock(&f->lock);
    }
    buf_fini(&piece);
    f->body->close(f->body->arg);
    pthread_mutex_lock(&f->lock);
    f->body = NULL;
    f->finished = 1;
    f->thread_done = 1;
    pthread_mutex_unlock(&f->lock);
    return NULL;
}

/* The data provider of a streamed body: what is queued, DEFERRED while nothing is. */
static ssize_t read_feed(nghttp2_session *session, int32_t stream_id, uint8_t *out, size_t length,
                         uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
    (void)session;
    (void)stream_id;
    struct h2_conn *c = user_data;
    struct h2_stream *s = source->ptr;
    struct h2_feed *f = s->feed;
    pthread_mutex_lock(&f->lock);
    size_t avail = f->queue.len - f->queue_off;
    size_t n = avail < length ? avail : length;
    ssize_t rc = (ssize_t)n;
    if (n > 0) {
        memcpy(out, f->queue.data + f->queue_off, n);
        f->queue_off += n;
        if (f->queue_off == f->queue.len) {
            buf_reset(&f->queue);
            f->queue_off = 0;
        }
        pthread_cond_signal(&f->drained);
    }
    if (f->queue.len == f->queue_off && (f->finished || f->cancel)) {
        if (f->failed && !f->cancel) {
            rc = NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
        } else {
            *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        }
    } else if (n == 0) {
        s->deferred = 1;
        c->n_deferred++;
        rc = NGHTTP2_ERR_DEFERRED;
    }
    pthread_mutex_unlock(&f->lock);
    return rc;
}

/* Resumes every stream whose producer may have made something. */
static void resume_feeds(struct h2_conn *c)
{
    for (struct h2_stream *s = c->all; s != NULL; s = s->all_next) {
        if (s->feed != NULL && s->deferred) {
            s->deferred = 0;
            c->n_deferred--;
            nghttp2_session_resume_data(c->session, s->id);
        }
    }
}

/* The server stops: every streamed body ends cleanly after what is queued. */
static void stop_feeds(struct h2_conn *c)
{
    for (struct h2_stream *s = c->all; s != NULL; s = s->all_next) {
        if (s->feed != NULL) {
            pthread_mutex_lock(&s->feed->lock);
            s->feed->cancel = 1;
            pthread_cond_signal(&s->feed->drained);
            pthread_mutex_unlock(&s->feed->lock);
        }
    }
    resume_feeds(c);
}

/* Joins and frees the feeds whose stream and thread are both done (all: waits for every
   thread, once every stream is gone). */
static void reap_feeds(struct h2_conn *c, int all)
{
    struct h2_feed **pp = &c->feeds;
    while (*pp != NULL) {
        struct h2_feed *f = *pp;
        pthread_mutex_lock(&f->lock);
        int done = f->stream_gone && (all || f->thread_done);
        pthread_mutex_unlock(&f->lock);
        if (!done) {
            pp = &f->next;
            continue;
        }
        pthread_join(f->thread, NULL);
        *pp = f->next;
        buf_fini(&f->queue);
        pthread_cond_destroy(&f->drained);
        pthread_mutex_destroy(&f->lock);
        free(f);
    }
}

/* Starts the producer of s's streamed body (taken from the response). 0 or -1. */
static int start_feed(struct h2_conn *c, struct h2_stream *s)
{
    struct h2_feed *f = xcalloc(1, sizeof(*f));
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->drained, NULL);
    buf_init(&f->queue);
    f->wake_fd = c->wake_fd;
    f->body = s->ex->resp.stream;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    int rc = pthread_create(&f->thread, &attr, feed_main, f);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        pthread_cond_destroy(&f->drained);
        pthread_mutex_destroy(&f->lock);
        free(f);
        return -1; /* the body stays with the response, which closes it */
    }
    s->ex->resp.stream = NULL;
    s->feed = f;
    f->next = c->feeds;
    c->feeds = f;
    return 0;
}

/* 1 for the headers HTTP/1.1 uses for its own connection, which HTTP/2 forbids. */
static int connection_specific(const char *name)
{
    static const char *const names[] = {"connection",        "keep-alive", "proxy-connection",
                                        "transfer-encoding", "upgrade",    "content-length"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(name, names[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/*
 * Submits ex->resp on stream s: :status, the response's headers in lower case (HTTP/2
 * field names are), a Content-Length, and the body unless the request was HEAD or the
 * status has none.
 */
static void respond(struct h2_conn *c, struct h2_stream *s)
{
    struct api_response *r = &s->ex->resp;
    if (r->status == 0) {
        r->status = 200;
    }
    size_t total = r->body_fd >= 0 ? r->body_fd_len : r->body.len;
    int64_t stream_len = r->stream != NULL ? r->stream->length : 0; /* the feed takes it */
    int streamed = r->stream != NULL && r->status == 200 && strcmp(s->ex->method, "HEAD") != 0 &&
                   start_feed(c, s) == 0;
    size_t n_nv = r->n_headers + 2;
    nghttp2_nv *nv = xcalloc(n_nv, sizeof(*nv));
    char **names = xcalloc(n_nv, sizeof(*names));
    char status[8], length[24];
    snprintf(status, sizeof(status), "%d", r->status);
    snprintf(length, sizeof(length), "%zu", total);
    size_t k = 0;
    nv[k++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status, 7, strlen(status),
                           NGHTTP2_NV_FLAG_NONE};
    for (size_t i = 0; i < r->n_headers; i++) {
        if (connection_specific(r->headers[i].name)) {
            continue;
        }
        char *lower = xstrdup(r->headers[i].name);
        for (char *p = lower; *p; p++) {
            if (*p >= 'A' && *p <= 'Z') {
                *p = (char)(*p - 'A' + 'a');
            }
        }
        names[k] = lower;
        nv[k++] = (nghttp2_nv){(uint8_t *)lower, (uint8_t *)r->headers[i].value, strlen(lower),
                               strlen(r->headers[i].value), NGHTTP2_NV_FLAG_NONE};
    }
    int no_body = r->status == 204 || r->status == 304;
    if (streamed && stream_len > 0) {
        snprintf(length, sizeof(length), "%lld", (long long)stream_len);
    }
    if (!no_body && (!streamed || stream_len > 0)) {
        nv[k++] = (nghttp2_nv){(uint8_t *)"content-length", (uint8_t *)length, 14, strlen(length),
                               NGHTTP2_NV_FLAG_NONE};
    }
    int with_body = !no_body && !r->head_only && strcmp(s->ex->method, "HEAD") != 0 && total > 0;
    nghttp2_data_provider provider = {.source.ptr = s,
                                      .read_callback = streamed ? read_feed : read_body};
    int rc =
        nghttp2_submit_response(c->session, s->id, nv, k, with_body || streamed ? &provider : NULL);
    if (rc != 0) {
        log_msg(LOG_WARN, "http", "cannot submit an HTTP/2 response: %s", nghttp2_strerror(rc));
        nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
    }
    s->responded = 1;
    c->n_sending++;
    for (size_t i = 0; i < n_nv; i++) {
        free(names[i]);
    }
    free(names);
    free(nv);
}

/*
 * Lets go of a request's headers once its answer is made: a stream may wait a while
 * for a slow reader, and should hold only its response meanwhile (the body's budget
 * share is given back when the stream closes).
 */
static void drop_request(struct http_exchange *ex)
{
    for (size_t i = 0; i < ex->n_headers; i++) {
        free((char *)ex->headers[i].name);
        free((char *)ex->headers[i].value);
    }
    free(ex->headers);
    ex->headers = NULL;
    ex->n_headers = ex->cap_headers = 0;
    buf_fini(&ex->body);
}

/* Answers a stream before its body, with the error already rendered into ex->resp. */
static void refuse(struct h2_conn *c, struct h2_stream *s)
{
    if (s->receiving) {
        s->receiving = 0;
        c->n_receiving--;
    }
    stream_unqueue(c, s);
    s->refused = 1;
    respond(c, s);
    drop_request(s->ex);
}

/* ---- nghttp2 callbacks ---- */

static ssize_t on_send(nghttp2_session *session, const uint8_t *data, size_t length, int flags,
                       void *user_data)
{
    (void)session;
    (void)flags;
    struct h2_conn *c = user_data;
    if (c->fd < 0) {
        return (ssize_t)length;
    }
    ssize_t n = send(c->fd, data, length, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            return NGHTTP2_ERR_WOULDBLOCK;
        }
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    c->last_send_ns = clock_mono_ns();
    return n;
}

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct h2_conn *c = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
        return 0;
    }
    struct h2_stream *s = xcalloc(1, sizeof(*s));
    s->id = frame->hd.stream_id;
    s->ex = c->host.open(c->host.arg, c->host.conn);
    s->all_next = c->all;
    if (c->all != NULL) {
        c->all->all_prev = s;
    }
    c->all = s;
    c->n_streams++;
    nghttp2_session_set_stream_user_data(session, s->id, s);
    return 0;
}

static void add_header(struct http_exchange *ex, const char *name, size_t name_len,
                       const char *value, size_t value_len)
{
    if (ex->n_headers == ex->cap_headers) {
        ex->cap_headers = ex->cap_headers ? ex->cap_headers * 2 : 16;
        ex->headers = xrealloc(ex->headers, ex->cap_headers * sizeof(*ex->headers));
    }
    ex->headers[ex->n_headers].name = xasprintf("%.*s", (int)name_len, name);
    ex->headers[ex->n_headers].value = xasprintf("%.*s", (int)value_len, value);
    ex->n_headers++;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t name_len, const uint8_t *value, size_t value_len, uint8_t flags,
                     void *user_data)
{
    (void)flags;
    (void)user_data;
    struct h2_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (s == NULL) {
        return 0;
    }
    s->header_bytes += name_len + value_len + 32;
    if (s->header_bytes > H2_MAX_HEADER_LIST) {
        s->too_large = 1;
    }
    if (s->too_large || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
        return 0; /* trailers count against the limit and are otherwise ignored */
    }
    struct http_exchange *ex = s->ex;
    const char *n = (const char *)name;
    const char *v = (const char *)value;
    if (name_len > 0 && n[0] == ':') {
        /* nghttp2 has checked that each appears once, and which ones are required. */
        if (name_len == 7 && memcmp(n, ":method", 7) == 0) {
            if (value_len >= sizeof(ex->method)) {
                s->bad_pseudo = 1;
            } else {
                memcpy(ex->method, v, value_len);
                ex->method[value_len] = '\0';
            }
        } else if (name_len == 5 && memcmp(n, ":path", 5) == 0) {
            if (value_len > VET_MAX_TARGET || ex->raw_uri != NULL) {
                s->bad_pseudo = 1;
            } else {
                ex->raw_uri = xasprintf("%.*s", (int)value_len, v);
            }
        } else if (name_len == 10 && memcmp(n, ":authority", 10) == 0) {
            add_header(ex, ":authority", 10, v, value_len);
        }
        return 0;
    }
    add_header(ex, n, name_len, v, value_len);
    return 0;
}

/* The request's header block is complete: route, gate, limits; answer a refusal now. */
static void headers_done(struct h2_conn *c, struct h2_stream *s, int end_stream)
{
    struct http_exchange *ex = s->ex;
    s->headers_done = 1;
    if (ex->raw_uri == NULL) {
        ex->raw_uri = xstrdup("/");
    }
    /* The Host a service reads: the client's own header, else :authority. The
       pseudo-header stays among the headers: the JavaScript SDK signs it (SignedHeaders
       ":authority;..."), in place of Host, over HTTP/2. */
    const char *authority = http__header(ex, ":authority");
    if (authority != NULL && http__header(ex, "host") == NULL) {
        add_header(ex, "host", 4, authority, strlen(authority));
    }
    ex->body_expected = !end_stream && http__header(ex, "content-length") == NULL;
    if (s->too_large || s->bad_pseudo) {
        http__render_error(ex, SL_E(VALIDATION),
                           s->too_large ? "The request header list is larger than the server "
                                          "accepts"
                                        : "Malformed request pseudo-header",
                           NULL);
        if (s->too_large) {
            ex->resp.status = 431;
        }
        refuse(c, s);
        return;
    }
    int rendered = 0;
    int rc = c->host.headers(c->host.arg, ex, &rendered);
    if (rc < 0) {
        if (!rendered) {
            http__render_error(ex, rc, ex->early_message, NULL);
        }
        refuse(c, s);
        return;
    }
    if (end_stream) {
        stream_queue(c, s);
        return;
    }
    s->receiving = 1;
    c->n_receiving++;
    const char *expect = http__header(ex, "expect");
    if (expect != NULL && strcasecmp(expect, "100-continue") == 0) {
        /* As over HTTP/1.1: "go on" only once the headers have passed the gate. */
        nghttp2_nv nv = {(uint8_t *)":status", (uint8_t *)"100", 7, 3, NGHTTP2_NV_FLAG_NONE};
        nghttp2_submit_headers(c->session, NGHTTP2_FLAG_NONE, s->id, NULL, &nv, 1, NULL);
    }
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct h2_conn *c = user_data;
    int end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    struct h2_stream *s = frame->hd.stream_id != 0
                              ? nghttp2_session_get_stream_user_data(session, frame->hd.stream_id)
                              : NULL;
    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
        if (s == NULL) {
            break;
        }
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
            headers_done(c, s, end_stream);
        } else if (end_stream && s->too_large && !s->refused && !s->responded) {
            /* trailers pushed the list past the limit */
            http__render_error(s->ex, SL_E(VALIDATION),
                               "The request header list is larger than the server accepts", NULL);
            s->ex->resp.status = 431;
            refuse(c, s);
        } else if (end_stream) {
            stream_queue(c, s);
        }
        break;
    case NGHTTP2_DATA:
        if (frame->hd.length == 0 && !end_stream) {
            count_abuse(c, &c->empty_data, H2_MAX_EMPTY_DATA, "empty DATA frames");
        }
        if (s != NULL && end_stream && s->headers_done) {
            stream_queue(c, s);
        }
        break;
    case NGHTTP2_RST_STREAM:
        count_abuse(c, &c->client_resets, H2_MAX_CLIENT_RESETS, "RST_STREAM frames");
        break;
    case NGHTTP2_SETTINGS:
    case NGHTTP2_PING:
    case NGHTTP2_PRIORITY:
        /* Not WINDOW_UPDATE: a fast reader sends many, and they cost nothing to answer. */
        count_abuse(c, &c->control, H2_MAX_CONTROL, "control frames");
        break;
    default: break;
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                         const uint8_t *data, size_t len, void *user_data)
{
    (void)flags;
    struct h2_conn *c = user_data;
    struct h2_stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
    if (s == NULL || s->refused || !s->receiving) {
        return 0; /* answered already: discarded, the window still opens */
    }
    c->host.receive(c->host.arg, s->ex, data, len);
    if (s->ex->early_error) {
        /* Over a limit or a budget: answer now rather than after the whole body. */
        http__render_error(s->ex, s->ex->early_error, s->ex->early_message, NULL);
        refuse(c, s);
    }
    return 0;
}

static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct h2_conn *c = user_data;
    if (frame->hd.type == NGHTTP2_RST_STREAM && frame->rst_stream.error_code != NGHTTP2_NO_ERROR) {
        count_abuse(c, &c->server_resets, H2_MAX_SERVER_RESETS, "streams the server reset");
    }
    if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0 || frame->hd.stream_id == 0) {
        return 0;
    }
    struct h2_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (s != NULL && s->refused &&
        nghttp2_session_get_stream_remote_close(session, frame->hd.stream_id) == 0) {
        /* The answer is out; the client need not send the rest of its body. */
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                  NGHTTP2_NO_ERROR);
    }
    return 0;
}

static int on_invalid_frame(nghttp2_session *session, const nghttp2_frame *frame, int error,
                            void *user_data)
{
    (void)session;
    (void)frame;
    (void)error;
    struct h2_conn *c = user_data;
    count_abuse(c, &c->server_resets, H2_MAX_SERVER_RESETS, "invalid frames");
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *user_data)
{
    (void)error_code;
    struct h2_conn *c = user_data;
    struct h2_stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
    if (s != NULL) {
        nghttp2_session_set_stream_user_data(session, stream_id, NULL);
        stream_free(c, s);
    }
    return 0;
}

/* ---- the h2c upgrade ---- */

/* The value of header `name` in a vetted HTTP/1.1 head, into out; 0, or -1 when it is
   absent, repeated or longer than out. */
static int head_value(const char *head, size_t len, const char *name, char *out, size_t size)
{
    size_t name_len = strlen(name);
    int found = 0;
    const char *end = head + len;
    const char *line = memchr(head, '\n', len);
    while (line != NULL && ++line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (eol == NULL) {
            break;
        }
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (colon != NULL && (size_t)(colon - line) == name_len &&
            strncasecmp(line, name, name_len) == 0) {
            const char *v = colon + 1;
            const char *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t')) {
                v++;
            }
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) {
                ve--;
            }
            if (found || (size_t)(ve - v) >= size) {
                return -1;
            }
            memcpy(out, v, (size_t)(ve - v));
            out[ve - v] = '\0';
            found = 1;
        }
        line = eol;
    }
    return found ? 0 : -1;
}

/* 1 when a comma-separated list contains token (case-insensitive). */
static int list_has(const char *list, const char *token)
{
    size_t token_len = strlen(token);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',') {
            p++;
        }
        size_t n = strcspn(p, ", \t");
        if (n == token_len && strncasecmp(p, token, n) == 0) {
            return 1;
        }
        p += n;
    }
    return 0;
}

/* Decodes an HTTP2-Settings value (base64url, '=' padding tolerated) into out; returns
   the length, or -1 when it is not a whole number of settings. */
static long decode_settings(const char *value, uint8_t *out)
{
    size_t len = strlen(value);
    while (len > 0 && value[len - 1] == '=') {
        len--;
    }
    long n = base64url_decode(value, len, out);
    return n >= 0 && n % 6 == 0 ? n : -1;
}

int http__h2c_wanted(const char *head, size_t head_len)
{
    char value[512];
    uint8_t settings[BASE64_DECODED_MAX(sizeof(value)) + 3];
    if (head_value(head, head_len, "Upgrade", value, sizeof(value)) < 0 ||
        !list_has(value, "h2c")) {
        return 0;
    }
    if (head_value(head, head_len, "Connection", value, sizeof(value)) < 0 ||
        !list_has(value, "Upgrade") || !list_has(value, "HTTP2-Settings")) {
        return 0;
    }
    if (head_value(head, head_len, "Transfer-Encoding", value, sizeof(value)) == 0) {
        return 0;
    }
    if (head_value(head, head_len, "Content-Length", value, sizeof(value)) == 0 &&
        strtoull(value, NULL, 10) != 0) {
        return 0;
    }
    return head_value(head, head_len, "HTTP2-Settings", value, sizeof(value)) == 0 &&
           decode_settings(value, settings) >= 0;
}

/*
 * Makes the upgraded HTTP/1.1 request stream 1: the client's settings applied, the
 * request's method, target and headers (as sent, hop-by-hop ones included: a
 * signature may cover them) in an exchange that then goes through headers_done like
 * any other. Returns 0, or a negative nghttp2 code when the connection must end.
 */
static int h2c_upgrade(struct h2_conn *c)
{
    const char *head = c->upgrade_head;
    size_t len = c->upgrade_head_len;
    char value[512];
    uint8_t settings[BASE64_DECODED_MAX(sizeof(value)) + 3];
    long settings_len = -1;
    if (head_value(head, len, "HTTP2-Settings", value, sizeof(value)) == 0) {
        settings_len = decode_settings(value, settings);
    }
    if (settings_len < 0) {
        return NGHTTP2_ERR_INVALID_ARGUMENT; /* http__h2c_wanted saw to it */
    }
    struct h2_stream *s = xcalloc(1, sizeof(*s));
    s->id = 1;
    s->ex = c->host.open(c->host.arg, c->host.conn);
    s->all_next = c->all;
    if (c->all != NULL) {
        c->all->all_prev = s;
    }
    c->all = s;
    c->n_streams++;
    struct http_exchange *ex = s->ex;
    /* The request line and header lines, as vet.c has checked them. */
    const char *end = head + len;
    const char *eol = memchr(head, '\n', len);
    const char *sp1 = memchr(head, ' ', (size_t)(eol - head));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    if (sp1 != NULL && sp2 != NULL && (size_t)(sp1 - head) < sizeof(ex->method)) {
        memcpy(ex->method, head, (size_t)(sp1 - head));
        ex->raw_uri = xasprintf("%.*s", (int)(sp2 - sp1 - 1), sp1 + 1);
    } else {
        s->bad_pseudo = 1;
    }
    for (const char *line = eol + 1; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        if (nl == NULL) {
            break;
        }
        const char *colon = memchr(line, ':', (size_t)(nl - line));
        if (colon != NULL) {
            const char *v = colon + 1;
            const char *ve = nl;
            while (v < ve && (*v == ' ' || *v == '\t')) {
                v++;
            }
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) {
                ve--;
            }
            add_header(ex, line, (size_t)(colon - line), v, (size_t)(ve - v));
        }
        line = nl + 1;
    }
    int rc = nghttp2_session_upgrade2(c->session, settings, (size_t)settings_len,
                                      strcmp(ex->method, "HEAD") == 0, s);
    if (rc != 0) {
        c->all = s->all_next;
        if (c->all != NULL) {
            c->all->all_prev = NULL;
        }
        c->host.close(c->host.arg, s->ex);
        free(s);
        return rc;
    }
    headers_done(c, s, 1);
    return 0;
}

/* ---- the connection ---- */

int h2__conn_create(const struct conn_host *host, int fd, struct h2_conn **out)
{
    struct h2_conn *c = xcalloc(1, sizeof(*c));
    c->host = *host;
    c->fd = fd;
    c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    c->phase = PHASE_HEAD;
    c->last_send_ns = clock_mono_ns();
    c->phase_since_ns = c->last_send_ns;
    c->window_start_ns = c->last_send_ns;
    nghttp2_session_callbacks *cb;
    nghttp2_option *opt;
    if (nghttp2_session_callbacks_new(&cb) != 0) {
        if (c->wake_fd >= 0) {
            close(c->wake_fd);
        }
        free(c);
        return SL_E(NOMEM);
    }
    if (nghttp2_option_new(&opt) != 0) {
        nghttp2_session_callbacks_del(cb);
        if (c->wake_fd >= 0) {
            close(c->wake_fd);
        }
        free(c);
        return SL_E(NOMEM);
    }
    nghttp2_session_callbacks_set_send_callback(cb, on_send);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, on_invalid_frame);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_option_set_max_outbound_ack(opt, 100);
    nghttp2_option_set_max_settings(opt, 16);
    nghttp2_option_set_max_continuations(opt, H2_MAX_CONTINUATIONS);
    nghttp2_option_set_stream_reset_rate_limit(opt, H2_MAX_CLIENT_RESETS, 33);
    nghttp2_option_set_no_closed_streams(opt, 1);
    int rc = nghttp2_session_server_new2(&c->session, cb, c, opt);
    nghttp2_session_callbacks_del(cb);
    nghttp2_option_del(opt);
    if (rc != 0) {
        if (c->wake_fd >= 0) {
            close(c->wake_fd);
        }
        free(c);
        return SL_E(NOMEM);
    }
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, H2_MAX_STREAMS},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, H2_MAX_HEADER_LIST},
    };
    nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, settings,
                            sizeof(settings) / sizeof(settings[0]));
    nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0, H2_CONN_WINDOW);
    *out = c;
    return 0;
}

void h2__conn_destroy(struct h2_conn *c)
{
    if (c == NULL) {
        return;
    }
    nghttp2_session_del(c->session); /* closes no stream through the callback */
    free(c->upgrade_head);
    while (c->all != NULL) {
        struct h2_stream *s = c->all;
        s->receiving = 0;
        stream_free(c, s);
    }
    reap_feeds(c, 1); /* every producer has been told to stop; each is a slice away */
    if (c->wake_fd >= 0) {
        close(c->wake_fd);
    }
    free(c);
}

/* Tells the host which phase the connection is in, when it changed. */
static void set_phase(struct h2_conn *c, enum conn_phase phase)
{
    if (phase != c->phase) {
        c->phase = phase;
        c->phase_since_ns = clock_mono_ns();
        c->host.phase(c->host.arg, c->host.conn, phase);
    }
}

/* Handles every complete request in arrival order, sending each answer as it is made. */
static int run_ready(struct h2_conn *c)
{
    while (c->ready_head != NULL) {
        struct h2_stream *s = c->ready_head;
        stream_unqueue(c, s);
        set_phase(c, PHASE_BUSY);
        c->host.finish(c->host.arg, s->ex);
        respond(c, s);
        drop_request(s->ex);
        int rc = nghttp2_session_send(c->session);
        if (rc != 0) {
            return rc;
        }
    }
    set_phase(c, c->n_receiving > 0 ? PHASE_BODY : c->n_sending > 0 ? PHASE_BUSY : PHASE_HEAD);
    return 0;
}

int h2__conn_feed(struct h2_conn *c, const uint8_t *data, size_t len)
{
    resume_feeds(c); /* a streamed body's producer may have made more since */
    if (len > 0) {
        ssize_t n = nghttp2_session_mem_recv(c->session, data, len);
        if (n < 0) {
            /* A connection error: nghttp2 has queued its GOAWAY; try to send it. */
            nghttp2_session_send(c->session);
            return (int)n;
        }
    }
    int rc = run_ready(c);
    if (rc == 0) {
        rc = nghttp2_session_send(c->session);
    }
    if (rc != 0) {
        return rc;
    }
    return nghttp2_session_want_read(c->session) || nghttp2_session_want_write(c->session);
}

/* The connection's thread: reads, feeds, waits; ends with the socket closed. */
static void *conn_main(void *arg)
{
    struct h2_conn *c = arg;
    uint8_t buf[16384];
    int stopping = 0;
    int64_t stop_deadline_ns = 0; /* when stopping: the answers under way get until then */
    int eof = 0;                  /* the client has shut its side: flush, then close */
    int rc = 0;
    if (c->upgrade_head != NULL) {
        rc = h2c_upgrade(c);
        free(c->upgrade_head);
        c->upgrade_head = NULL;
    }
    if (rc == 0) {
        rc = h2__conn_feed(c, NULL, 0);
    }
    while (rc > 0) {
        struct pollfd p[3] = {{.fd = c->fd, .events = 0},
                              {.fd = c->host.stop_fd, .events = 0},
                              {.fd = c->wake_fd, .events = POLLIN}};
        if (!eof && nghttp2_session_want_read(c->session)) {
            p[0].events |= POLLIN;
        }
        if (nghttp2_session_want_write(c->session)) {
            p[0].events |= POLLOUT;
        }
        if (!stopping && c->host.stop_fd >= 0) {
            p[1].events = POLLIN;
        }
        int n_ready = poll(p, 3, 1000);
        if (n_ready < 0 && errno != EINTR) {
            break;
        }
        if (p[2].revents & POLLIN) {
            uint64_t count;
            if (read(c->wake_fd, &count, sizeof(count)) < 0) {
                /* EAGAIN: another wake-up took it */
            }
            resume_feeds(c);
        }
        reap_feeds(c, 0);
        if (p[1].revents & POLLIN) {
            /* The server stops: GOAWAY names the last stream taken; the streams up to it
               are finished and their answers sent, for a few seconds at most (the reaper
               has stopped), and the session ends when none is left. */
            stopping = 1;
            stop_deadline_ns = clock_mono_ns() + H2_STOP_GRACE_S * 1000000000LL;
            nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE,
                                  nghttp2_session_get_last_proc_stream_id(c->session),
                                  NGHTTP2_NO_ERROR, NULL, 0);
            stop_feeds(c);
        }
        if (!eof && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t got = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
            if (got < 0 && errno != EAGAIN && errno != EINTR) {
                break; /* reset by the client, or shut by the reaper */
            }
            eof = got == 0;
            rc = h2__conn_feed(c, buf, got > 0 ? (size_t)got : 0);
        } else {
            rc = h2__conn_feed(c, NULL, 0);
        }
        if (eof && (rc <= 0 || !nghttp2_session_want_write(c->session))) {
            break; /* what could be answered has been sent */
        }
        if (stopping && stop_deadline_ns != 0 && clock_mono_ns() > stop_deadline_ns) {
            break;
        }
        /* A response none of which could be sent for the idle timeout: a client that
           does not read, or keeps its window shut. */
        if (rc > 0 && c->n_sending > c->n_deferred &&
            clock_mono_ns() - c->last_send_ns > (int64_t)c->host.idle_timeout_s * 1000000000LL) {
            log_msg(LOG_DEBUG, "http", "HTTP/2 client reads nothing for %d s: closing",
                    c->host.idle_timeout_s);
            break;
        }
        if (c->n_sending == c->n_deferred) {
            c->last_send_ns = clock_mono_ns(); /* nothing waits for the client */
        }
        /* Idle after serving: say GOAWAY, naming the last stream served, a moment before
           the reaper would cut the connection, so that a client knows no request of its
           was lost and can retry any it sends meanwhile on a new connection. */
        if (rc > 0 && !stopping && c->phase == PHASE_HEAD && c->n_streams > 0 && c->all == NULL &&
            clock_mono_ns() - c->phase_since_ns >
                (int64_t)c->host.idle_timeout_s * 1000000000LL -
                    (c->host.idle_timeout_s > 2 ? 1000000000LL : 0)) {
            stopping = 1;
            nghttp2_session_terminate_session(c->session, NGHTTP2_NO_ERROR);
            rc = h2__conn_feed(c, NULL, 0);
        }
    }
    log_msg(LOG_DEBUG, "http", "HTTP/2 connection closed after %llu streams (%s)",
            (unsigned long long)c->n_streams,
            rc < 0       ? nghttp2_strerror(rc)
            : c->abusive ? "flood"
                         : "done");
    int fd = c->fd;
    struct conn_host host = c->host;
    h2__conn_destroy(c);
    /* Let the client read our last frames (GOAWAY) before the socket goes. */
    shutdown(fd, SHUT_WR);
    for (int i = 0; i < 8 && recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0; i++) {
    }
    if (host.done != NULL) {
        host.done(host.arg, host.conn);
    }
    close(fd);
    return NULL;
}

int http__h2_start(const struct conn_host *host, int fd, const char *upgrade_head,
                   size_t upgrade_head_len)
{
    struct h2_conn *c;
    if (h2__conn_create(host, fd, &c) < 0) {
        return -ENOMEM;
    }
    if (upgrade_head != NULL) {
        c->upgrade_head = xmalloc(upgrade_head_len);
        memcpy(c->upgrade_head, upgrade_head, upgrade_head_len);
        c->upgrade_head_len = upgrade_head_len;
    }
    /* Frames go out as nghttp2 makes them (a response's HEADERS, then its DATA): without
       this, Nagle's algorithm holds the second write until the client's delayed ACK. */
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    int rc = http__conn_thread_start(conn_main, c);
    if (rc != 0) {
        h2__conn_destroy(c);
        return -rc;
    }
    return 0;
}
