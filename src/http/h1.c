/*
 * The HTTP/1.1 connection engine: one thread per admitted connection, as h2.c has for
 * HTTP/2, serving its requests one after another through the front end's steps
 * (struct conn_host: open, headers, receive, finish).
 *
 * Our own rather than a library's so that every request of a connection, not only the
 * first, is read by one strict rule and every refusal is answered in the protocol's
 * error shape with a request id (libmicrohttpd, used before, parsed kept-alive requests
 * leniently and answered its own errors with HTML pages, with no hook to change that).
 *
 * One request:
 *
 *   HEAD ──vet.c──▶ host.headers (framing, route, gate, budget) ──▶ "100 Continue" if
 *        asked ──▶ BODY: Content-Length bytes, or chunks ──▶ host.finish ──▶ answer
 *
 *   chunked body = *( chunk-size [ BWS ";" chunk-ext ] CRLF data CRLF )
 *                  "0" [ ";" chunk-ext ] CRLF *( trailer-line CRLF ) CRLF
 *   chunk-size   = 1*16HEXDIG; the extensions are skipped and the trailers read and
 *                  dropped (at most H1_MAX_HEAD bytes of them)
 *
 * A head vet.c refuses, or a body that breaks its framing, is answered by
 * http__h1_refusal, the same answer the acceptor gives a refused first head, and the
 * connection closes: where the next request would begin is not known. So does a
 * request refused from its headers, whose body is left unread. Otherwise the
 * connection is kept (RFC 9112 9.3): HTTP/1.1 unless "Connection: close", HTTP/1.0
 * only with "Connection: keep-alive". Bytes after a request (pipelining) stay in the
 * buffer for the next one; answers go out in order, as each is made. An answer whose
 * body is made over time (api_stream_body: SubscribeToShard's event stream) is sent in
 * chunks as the body's producer makes them, on the connection's own thread
 * (send_stream).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "http/http_int.h"

/* The input buffer: a whole head, and room to read after it. */
#define H1_BUF_CAP (H1_MAX_HEAD + 16 * 1024)
/* The longest chunk-size line, extensions included. */
#define H1_MAX_CHUNK_LINE 4096
/* How long a streamed body's producer may wait for its next piece before the engine
   looks at the client and the server again. */
#define H1_STREAM_SLICE_MS 250
/* Seconds the requests under way get to finish once the server stops. */
#define H1_STOP_GRACE_S 5

enum h1_state {
    H1_HEAD,       /* waiting for a request head */
    H1_BODY,       /* Content-Length bytes to go */
    H1_CHUNK_LINE, /* waiting for a chunk-size line */
    H1_CHUNK_DATA, /* chunk bytes to go */
    H1_CHUNK_CRLF, /* the CRLF after a chunk's data */
    H1_TRAILER,    /* trailer lines, up to the blank one */
    H1_CLOSED,     /* answered for the last time; nothing more is read */
};

struct h1_conn {
    struct conn_host host;
    int fd;         /* -1: output kept in out */
    struct buf out; /* fd -1 only */
    char *in;       /* H1_BUF_CAP bytes; [0, in_len) received, not yet consumed */
    size_t in_len;
    enum h1_state state;
    enum conn_phase phase;
    struct http_exchange *ex; /* the request being read */
    uint64_t to_go;           /* H1_BODY, H1_CHUNK_DATA: bytes left */
    size_t trailer_len;       /* H1_TRAILER: bytes of trailers so far */
    int keep_alive;           /* the request being read allows another after it */
    int http_minor;           /* its version: HTTP/1.0 or HTTP/1.1 */
    int stopping;             /* the server stops: close after the request under way */
    int failed;               /* sending failed: the connection is done */
    uint64_t n_requests;
};

static void set_phase(struct h1_conn *c, enum conn_phase phase)
{
    if (phase != c->phase) {
        c->phase = phase;
        if (c->host.phase != NULL) {
            c->host.phase(c->host.arg, c->host.conn, phase);
        }
    }
}

/* ---- sending ---- */

/* Waits until fd can take more bytes; 0, or -1 after idle_timeout_s without. */
static int wait_writable(struct h1_conn *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLOUT};
    int timeout_ms = c->host.idle_timeout_s > 0 ? c->host.idle_timeout_s * 1000 : 30000;
    int n;
    do {
        n = poll(&p, 1, timeout_ms);
    } while (n < 0 && errno == EINTR);
    if (n <= 0 || (p.revents & (POLLERR | POLLHUP | POLLNVAL))) {
        return -1;
    }
    return 0;
}

/* Sends iov whole (entries are consumed); flags may add MSG_MORE. Returns 0 or -1. */
static int send_all(struct h1_conn *c, struct iovec *iov, int n_iov, int flags)
{
    if (c->fd < 0) {
        for (int i = 0; i < n_iov; i++) {
            buf_append(&c->out, iov[i].iov_base, iov[i].iov_len);
        }
        return 0;
    }
    while (n_iov > 0) {
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n_iov};
        ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT | flags);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN && wait_writable(c) == 0) {
                continue;
            }
            return -1;
        }
        size_t done = (size_t)n;
        while (n_iov > 0 && done >= iov->iov_len) {
            done -= iov->iov_len;
            iov++;
            n_iov--;
        }
        if (n_iov > 0) {
            iov->iov_base = (char *)iov->iov_base + done;
            iov->iov_len -= done;
        }
    }
    return 0;
}

/* Sends len bytes of file fd from offset (sendfile; read and kept for fd -1). */
static int send_file(struct h1_conn *c, int fd, off_t offset, size_t len)
{
    while (len > 0) {
        if (c->fd < 0) {
            char chunk[16384];
            ssize_t n = pread(fd, chunk, len < sizeof(chunk) ? len : sizeof(chunk), offset);
            if (n <= 0) {
                return -1;
            }
            buf_append(&c->out, chunk, (size_t)n);
            offset += n;
            len -= (size_t)n;
            continue;
        }
        ssize_t n = sendfile(c->fd, fd, &offset, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN && wait_writable(c) == 0) {
                continue;
            }
            return -1;
        }
        if (n == 0) {
            return -1; /* the file is shorter than the response said */
        }
        len -= (size_t)n;
    }
    return 0;
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return status < 400 ? "OK" : status < 500 ? "Bad Request" : "Internal Server Error";
    }
}

/* Headers the engine writes itself; a handler's own are dropped. */
static int engine_header(const char *name)
{
    return strcasecmp(name, "Content-Length") == 0 || strcasecmp(name, "Connection") == 0 ||
           strcasecmp(name, "Transfer-Encoding") == 0 || strcasecmp(name, "Keep-Alive") == 0 ||
           strcasecmp(name, "Date") == 0;
}

/*
 * The status line and headers of r: its own headers, then Date, Content-Length (the
 * whole body's, for HEAD too; none for 204 and 304) or, for a body made over time of
 * unknown length, Transfer-Encoding: chunked (HTTP/1.1) or nothing (HTTP/1.0: the body
 * ends with the connection), and Connection.
 */
static void format_head_framed(struct buf *out, const struct api_response *r, size_t total,
                               int keep_alive, int http_minor, int streamed)
{
    int status = r->status ? r->status : 200;
    buf_printf(out, "HTTP/1.1 %d %s\r\n", status, reason_phrase(status));
    for (size_t i = 0; i < r->n_headers; i++) {
        if (!engine_header(r->headers[i].name)) {
            buf_printf(out, "%s: %s\r\n", r->headers[i].name, r->headers[i].value);
        }
    }
    char date[64];
    struct tm tm;
    time_t now = time(NULL);
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    buf_printf(out, "Date: %s\r\n", date);
    if (streamed && r->stream->length > 0) {
        buf_printf(out, "Content-Length: %lld\r\n", (long long)r->stream->length);
    } else if (streamed) {
        if (http_minor == 1) {
            buf_printf(out, "Transfer-Encoding: chunked\r\n");
        }
    } else if (status != 204 && status != 304) {
        buf_printf(out, "Content-Length: %zu\r\n", total);
    }
    if (!keep_alive) {
        buf_printf(out, "Connection: close\r\n");
    } else if (http_minor == 0) {
        buf_printf(out, "Connection: keep-alive\r\n");
    }
    buf_printf(out, "\r\n");
}

static void format_head(struct buf *out, const struct api_response *r, size_t total, int keep_alive,
                        int http_minor)
{
    format_head_framed(out, r, total, keep_alive, http_minor, 0);
}

/* 1 when the client has closed or reset its side (it will read nothing more). */
static int client_gone(struct h1_conn *c)
{
    if (c->fd < 0) {
        return 0;
    }
    struct pollfd p = {.fd = c->fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* 1 once the server stops (the stop descriptor is readable). */
static int server_stopping(struct h1_conn *c)
{
    if (c->stopping) {
        return 1;
    }
    struct pollfd p = {.fd = c->host.stop_fd, .events = POLLIN};
    if (c->host.stop_fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & POLLIN)) {
        c->stopping = 1;
    }
    return c->stopping;
}

/*
 * Sends a body made over time: each piece as a chunk (HTTP/1.1) or as is (HTTP/1.0,
 * ended by closing; or a body of known length, ended by its last byte). The producer is
 * asked in slices of H1_STREAM_SLICE_MS so that a departed client or a stopping server
 * ends it promptly; a stopping server ends it cleanly (the last chunk) unless that
 * leaves it short of its known length, a departed client or a failed producer without.
 * The reaper has no deadline for a busy connection, and a client that stops reading is
 * dropped by send_all's idle timeout. Returns 0 when the body ended cleanly and the
 * connection may go on, 1 when it ended cleanly but the connection must close, -1.
 */
static int send_stream(struct h1_conn *c, struct api_stream_body *sb, int http_minor)
{
    struct buf piece, frame;
    buf_init(&piece);
    buf_init(&frame);
    int chunked = http_minor == 1 && sb->length <= 0;
    int64_t done = 0; /* bytes of the body sent */
    int rc = 1, sent = 0, stopped = 0;
    while (rc > 0 && sent == 0) {
        if (client_gone(c)) {
            sent = -1;
            break;
        }
        if (server_stopping(c)) {
            stopped = 1;
            break;
        }
        buf_reset(&piece);
        rc = sb->next(sb->arg, &piece, H1_STREAM_SLICE_MS);
        if (buf_status(&piece) != 0) {
            rc = -1;
        }
        if (sb->length > 0 && rc >= 0 && (int64_t)piece.len > sb->length - done) {
            rc = -1; /* more than the Content-Length sent */
        }
        if (rc >= 0 && piece.len > 0) {
            buf_reset(&frame);
            if (chunked) {
                buf_printf(&frame, "%zx\r\n", piece.len);
            }
            struct iovec iov[3] = {{frame.data, frame.len},
                                   {piece.data, piece.len},
                                   {(void *)"\r\n", chunked ? 2 : 0}};
            sent = send_all(c, iov, 3, 0);
            done += (int64_t)piece.len;
        }
    }
    if (sent == 0 && rc < 0) {
        sent = -1; /* the producer failed: the client sees the body cut short */
    }
    if (sent == 0 && sb->length > 0 && done != sb->length) {
        sent = -1; /* ended short of its Content-Length: only closing tells the client */
    }
    if (sent == 0 && chunked) {
        struct iovec iov[1] = {{(void *)"0\r\n\r\n", 5}};
        sent = send_all(c, iov, 1, 0);
    }
    buf_fini(&piece);
    buf_fini(&frame);
    if (sent < 0) {
        return -1;
    }
    return stopped || (http_minor == 0 && sb->length <= 0) ? 1 : 0;
}

/* Sends the answer in ex->resp; the body from memory, from its file or as it is made.
   Returns 0, 1 when it was sent but the connection must close, or -1. */
static int respond(struct h1_conn *c, struct http_exchange *ex, int keep_alive, int http_minor)
{
    struct api_response *r = &ex->resp;
    size_t total = r->body_fd >= 0 ? r->body_fd_len : r->body.len;
    int status = r->status ? r->status : 200;
    int with_body = total > 0 && !r->head_only && strcmp(ex->method, "HEAD") != 0 &&
                    status != 204 && status != 304;
    int streamed = r->stream != NULL && status == 200 && strcmp(ex->method, "HEAD") != 0;
    struct buf head;
    buf_init(&head);
    int ends_by_close = streamed && http_minor == 0 && r->stream->length <= 0;
    format_head_framed(&head, r, total, ends_by_close ? 0 : keep_alive, http_minor, streamed);
    if (buf_status(&head) != 0) {
        buf_fini(&head);
        return -1;
    }
    int rc;
    if (streamed) {
        struct iovec iov[1] = {{head.data, head.len}};
        rc = send_all(c, iov, 1, 0);
        if (rc == 0) {
            rc = send_stream(c, r->stream, http_minor);
        }
    } else if (with_body && r->body_fd >= 0) {
        struct iovec iov[1] = {{head.data, head.len}};
        rc = send_all(c, iov, 1, MSG_MORE);
        if (rc == 0) {
            rc = send_file(c, r->body_fd, r->body_offset, r->body_fd_len);
        }
    } else {
        struct iovec iov[2] = {{head.data, head.len}, {r->body.data, with_body ? r->body.len : 0}};
        rc = send_all(c, iov, with_body ? 2 : 1, 0);
    }
    buf_fini(&head);
    return rc;
}

/* ---- refusals ---- */

static void add_header(struct http_exchange *ex, const char *name, size_t name_len,
                       const char *value, size_t value_len)
{
    if (ex->n_headers == ex->cap_headers) {
        ex->cap_headers = ex->cap_headers ? ex->cap_headers * 2 : 16;
        ex->headers = xrealloc(ex->headers, ex->cap_headers * sizeof(*ex->headers));
    }
    ex->headers[ex->n_headers].name = xstrndup(name, name_len);
    ex->headers[ex->n_headers].value = xstrndup(value, value_len);
    ex->n_headers++;
}

/*
 * Whatever can be read of a head vet.c refused, for routing its refusal: "METHOD
 * target ..." then "name: value" lines, leniently (the answer only needs a shape).
 */
static void read_refused_head(struct http_exchange *ex, const char *head, size_t len)
{
    const char *end = head + len;
    const char *eol = memchr(head, '\n', len);
    const char *line_end = eol ? eol : end;
    const char *sp1 = memchr(head, ' ', (size_t)(line_end - head));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(line_end - sp1 - 1)) : NULL;
    if (sp1 != NULL && sp1 - head < (long)sizeof(ex->method)) {
        snprintf(ex->method, sizeof(ex->method), "%.*s", (int)(sp1 - head), head);
    }
    if (sp1 != NULL && sp2 != NULL && sp2 - sp1 - 1 <= VET_MAX_TARGET) {
        ex->raw_uri = xstrndup(sp1 + 1, (size_t)(sp2 - sp1 - 1));
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
            add_header(ex, line, (size_t)(colon - line), v, (size_t)(ve - v));
        }
        line = nl ? nl + 1 : end;
    }
}

/* The refusal of ex (its answer rendered by the host), with status, closing. */
static void format_refusal(const struct conn_host *host, struct http_exchange *ex, int code,
                           int status, const char *reason, struct buf *out)
{
    http__response_fini(&ex->resp);
    memset(&ex->resp, 0, sizeof(ex->resp));
    ex->resp.body_fd = -1;
    buf_init(&ex->resp.body);
    host->refuse(host->arg, ex, code, reason);
    ex->resp.status = status;
    format_head(out, &ex->resp, ex->resp.body.len, 0, 1);
    buf_append(out, ex->resp.body.data, ex->resp.body.len);
}

void http__h1_refusal(const struct conn_host *host, const char *head, size_t len, int status,
                      const char *reason, struct buf *out)
{
    struct http_exchange *ex = host->open(host->arg, host->conn);
    read_refused_head(ex, head, len);
    format_refusal(host, ex, SL_E(VALIDATION), status, reason, out);
    host->close(host->arg, ex);
}

/* Answers a request that cannot be read any further and ends the connection. */
static void refuse(struct h1_conn *c, const char *head, size_t len, int code, int status,
                   const char *reason)
{
    struct buf out;
    buf_init(&out);
    set_phase(c, PHASE_BUSY);
    if (c->ex != NULL) {
        format_refusal(&c->host, c->ex, code, status, reason, &out);
    } else {
        http__h1_refusal(&c->host, head, len, status, reason, &out);
    }
    struct iovec iov[1] = {{out.data, out.len}};
    if (buf_status(&out) != 0 || send_all(c, iov, 1, 0) < 0) {
        c->failed = 1;
    }
    buf_fini(&out);
    c->state = H1_CLOSED;
}

/* ---- reading requests ---- */

/* 1 when the comma-separated list value (value_len bytes) has token. */
static int list_has(const char *value, size_t value_len, const char *token)
{
    size_t tlen = strlen(token);
    size_t i = 0;
    while (i < value_len) {
        while (i < value_len && (value[i] == ' ' || value[i] == '\t' || value[i] == ',')) {
            i++;
        }
        size_t start = i;
        while (i < value_len && value[i] != ',') {
            i++;
        }
        size_t end = i;
        while (end > start && (value[end - 1] == ' ' || value[end - 1] == '\t')) {
            end--;
        }
        if (end - start == tlen && strncasecmp(value + start, token, tlen) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The request's answer is made and sent; the connection then waits for the next. */
static void complete(struct h1_conn *c)
{
    struct http_exchange *ex = c->ex;
    set_phase(c, PHASE_BUSY);
    c->host.finish(c->host.arg, ex);
    int keep_alive = c->keep_alive && !c->stopping;
    int sent = respond(c, ex, keep_alive, c->http_minor);
    if (sent < 0) {
        c->failed = 1;
    } else if (sent > 0) {
        keep_alive = 0; /* a streamed body that ended with the server's stop or HTTP/1.0 */
    }
    c->host.close(c->host.arg, ex);
    c->ex = NULL;
    c->n_requests++;
    set_phase(c, PHASE_HEAD);
    c->state = keep_alive && !c->failed ? H1_HEAD : H1_CLOSED;
}

/* A sound head: the exchange opened, the host's checks, then the body's framing. */
static void start_request(struct h1_conn *c, const struct vet_head *vh, const char *head)
{
    if (vh->method_len >= sizeof(c->ex->method)) {
        refuse(c, head, vh->head_len, SL_E(VALIDATION), 400, "Malformed request line");
        return;
    }
    struct http_exchange *ex = c->host.open(c->host.arg, c->host.conn);
    c->ex = ex;
    memcpy(ex->method, vh->method, vh->method_len);
    ex->method[vh->method_len] = '\0';
    ex->raw_uri = xstrndup(vh->target, vh->target_len);
    int keep_alive = vh->http_minor == 1;
    int chunked = 0, expect_continue = 0;
    uint64_t length = 0;
    for (size_t i = 0; i < vh->n_fields; i++) {
        const struct vet_field *f = &vh->fields[i];
        add_header(ex, f->name, f->name_len, f->value, f->value_len);
        if (f->name_len == 10 && strncasecmp(f->name, "Connection", 10) == 0) {
            if (list_has(f->value, f->value_len, "close")) {
                keep_alive = 0;
            } else if (vh->http_minor == 0 && list_has(f->value, f->value_len, "keep-alive")) {
                keep_alive = 1;
            }
        } else if (f->name_len == 17 && strncasecmp(f->name, "Transfer-Encoding", 17) == 0) {
            chunked = 1;
        } else if (f->name_len == 14 && strncasecmp(f->name, "Content-Length", 14) == 0) {
            length = strtoull(f->value, NULL, 10);
        } else if (f->name_len == 6 && strncasecmp(f->name, "Expect", 6) == 0) {
            expect_continue = f->value_len == 12 && strncasecmp(f->value, "100-continue", 12) == 0;
        }
    }
    c->keep_alive = keep_alive;
    c->http_minor = vh->http_minor;
    int rendered = 0;
    int rc = c->host.headers(c->host.arg, ex, &rendered);
    if (rc < 0) {
        /* Refused from its headers (framing, authentication, size, budget): answered
           now, before any body byte is read, and the body is never read. */
        set_phase(c, PHASE_BUSY);
        if (!rendered) {
            http__render_error(ex, rc, ex->early_message, NULL);
        }
        if (respond(c, ex, 0, 1) < 0) {
            c->failed = 1;
        }
        c->state = H1_CLOSED;
        return;
    }
    /* Sent for an empty body too, as S3 does: botocore keeps a final answer that came
       without one as the status of the next response on the connection. */
    if (expect_continue && vh->http_minor == 1) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        struct iovec iov[1] = {{(void *)cont, sizeof(cont) - 1}};
        if (send_all(c, iov, 1, 0) < 0) {
            c->failed = 1;
            c->state = H1_CLOSED;
            return;
        }
    }
    /* The host's checks passed, so a Transfer-Encoding is exactly "chunked". */
    if (!chunked && length == 0) {
        complete(c);
        return;
    }
    set_phase(c, PHASE_BODY);
    c->to_go = length;
    c->state = chunked ? H1_CHUNK_LINE : H1_BODY;
}

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }
    return -1;
}

/*
 * A chunk-size line [line, line+len) (CRLF excluded): 1 to 16 hex digits, then
 * nothing, or optional spaces and ";" extensions of visible bytes and spaces. Returns
 * 0 with *size, or -1.
 */
static int parse_chunk_line(const char *line, size_t len, uint64_t *size)
{
    size_t i = 0;
    uint64_t v = 0;
    int d;
    while (i < len && (d = hex_value(line[i])) >= 0) {
        if (i == 16) {
            return -1;
        }
        v = v << 4 | (uint64_t)d;
        i++;
    }
    if (i == 0) {
        return -1;
    }
    while (i < len && (line[i] == ' ' || line[i] == '\t')) {
        i++;
    }
    if (i < len && line[i] != ';') {
        return -1;
    }
    for (; i < len; i++) {
        unsigned char ch = (unsigned char)line[i];
        if ((ch < ' ' && ch != '\t') || ch == 0x7f) {
            return -1;
        }
    }
    *size = v;
    return 0;
}

/* Finds a CRLF-ended line in [p, p+n): its length without the CRLF, -1 when not all
   in yet, -2 for an LF without CR before it. */
static long find_line(const char *p, size_t n)
{
    const char *lf = memchr(p, '\n', n);
    if (lf == NULL) {
        return -1;
    }
    if (lf == p || lf[-1] != '\r') {
        return -2;
    }
    return lf - p - 1;
}

static void bad_chunk(struct h1_conn *c)
{
    refuse(c, NULL, 0, SL_E(VALIDATION), 400, "Malformed chunked encoding");
}

/* Reads what it can of [p, p+n) in the current state; returns the bytes consumed. */
static size_t step(struct h1_conn *c, const char *p, size_t n)
{
    switch (c->state) {
    case H1_HEAD: {
        struct vet_head vh;
        const char *reason;
        int rc = http__vet_head(p, n, H1_MAX_HEAD, &vh, &reason);
        if (rc == 0) {
            return 0;
        }
        if (rc < 0) {
            refuse(c, p, n, SL_E(VALIDATION), -rc, reason);
            return n;
        }
        start_request(c, &vh, p);
        return vh.head_len;
    }
    case H1_BODY:
    case H1_CHUNK_DATA: {
        size_t take = n < c->to_go ? n : (size_t)c->to_go;
        c->host.receive(c->host.arg, c->ex, (const uint8_t *)p, take);
        c->to_go -= take;
        if (c->to_go == 0) {
            if (c->state == H1_BODY) {
                complete(c);
            } else {
                c->state = H1_CHUNK_CRLF;
            }
        }
        return take;
    }
    case H1_CHUNK_CRLF:
        if (n < 2) {
            return 0;
        }
        if (p[0] != '\r' || p[1] != '\n') {
            bad_chunk(c);
            return n;
        }
        c->state = H1_CHUNK_LINE;
        return 2;
    case H1_CHUNK_LINE: {
        long len = find_line(p, n < H1_MAX_CHUNK_LINE ? n : H1_MAX_CHUNK_LINE);
        uint64_t size = 0;
        if (len == -1 && n < H1_MAX_CHUNK_LINE) {
            return 0;
        }
        if (len < 0 || parse_chunk_line(p, (size_t)len, &size) < 0) {
            bad_chunk(c);
            return n;
        }
        c->to_go = size;
        c->trailer_len = 0;
        c->state = size > 0 ? H1_CHUNK_DATA : H1_TRAILER;
        return (size_t)len + 2;
    }
    case H1_TRAILER: {
        size_t room = H1_MAX_HEAD - c->trailer_len;
        long len = find_line(p, n < room ? n : room);
        if (len == -1 && n < room) {
            return 0;
        }
        if (len < 0 || memchr(p, '\r', (size_t)len) != NULL) {
            bad_chunk(c);
            return n;
        }
        c->trailer_len += (size_t)len + 2;
        if (len == 0) {
            complete(c);
        }
        return (size_t)len + 2;
    }
    case H1_CLOSED: return n;
    }
    return n;
}

/* Reads every request [p, p+n) completes; returns the bytes consumed. */
static size_t consume(struct h1_conn *c, const char *p, size_t n)
{
    size_t done = 0;
    while (c->state != H1_CLOSED && done < n) {
        size_t k = step(c, p + done, n - done);
        if (k == 0) {
            break;
        }
        done += k;
    }
    return done;
}

/* Consumes c->in; keeps what is left at its start. */
static int pump(struct h1_conn *c)
{
    size_t used = consume(c, c->in, c->in_len);
    if (c->state == H1_CLOSED) {
        c->in_len = 0;
    } else if (used > 0) {
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
    }
    if (c->failed) {
        return -1;
    }
    return c->state == H1_CLOSED ? 0 : 1;
}

int h1__conn_feed(struct h1_conn *c, const char *data, size_t len)
{
    int rc = c->failed ? -1 : c->state == H1_CLOSED ? 0 : 1;
    while (rc > 0 && len > 0) {
        size_t n = H1_BUF_CAP - c->in_len;
        n = n < len ? n : len;
        memcpy(c->in + c->in_len, data, n);
        c->in_len += n;
        data += n;
        len -= n;
        rc = pump(c);
    }
    return rc;
}

struct h1_conn *h1__conn_create(const struct conn_host *host, int fd)
{
    struct h1_conn *c = xcalloc(1, sizeof(*c));
    c->host = *host;
    c->fd = fd;
    buf_init(&c->out);
    c->in = xmalloc(H1_BUF_CAP);
    c->state = H1_HEAD;
    c->phase = PHASE_HEAD;
    return c;
}

char *h1__conn_output(struct h1_conn *c, size_t *len)
{
    *len = c->out.len;
    return (char *)buf_steal(&c->out, NULL);
}

void h1__conn_destroy(struct h1_conn *c)
{
    if (c == NULL) {
        return;
    }
    if (c->ex != NULL) {
        c->host.close(c->host.arg, c->ex);
    }
    buf_fini(&c->out);
    free(c->in);
    free(c);
}

/* ---- the connection's thread ---- */

/* Waits for the client's bytes or the server's stop. 1 readable, 0 not yet, -1 stop
   now (idle when the server stops, or its grace is over). */
static int wait_input(struct h1_conn *c, int64_t *stop_deadline_ns)
{
    struct pollfd p[2] = {{.fd = c->fd, .events = POLLIN},
                          {.fd = c->host.stop_fd, .events = c->stopping ? 0 : POLLIN}};
    int n = poll(p, c->host.stop_fd >= 0 ? 2 : 1, 1000);
    if (n < 0 && errno != EINTR) {
        return -1;
    }
    if (n > 0 && (p[1].revents & POLLIN)) {
        c->stopping = 1;
        *stop_deadline_ns = clock_mono_ns() + H1_STOP_GRACE_S * 1000000000LL;
    }
    if (c->stopping && (c->in_len == 0 && c->state == H1_HEAD)) {
        return -1; /* between requests: nothing is lost */
    }
    if (c->stopping && clock_mono_ns() > *stop_deadline_ns) {
        return -1;
    }
    return n > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR)) ? 1 : 0;
}

static void *conn_main(void *arg)
{
    struct h1_conn *c = arg;
    int64_t stop_deadline_ns = 0;
    int rc = 1;
    while (rc > 0) {
        int w = wait_input(c, &stop_deadline_ns);
        if (w < 0) {
            break;
        }
        if (w == 0) {
            continue;
        }
        ssize_t got = recv(c->fd, c->in + c->in_len, H1_BUF_CAP - c->in_len, MSG_DONTWAIT);
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
            continue;
        }
        if (got <= 0) {
            break; /* closed or reset by the client, or shut by the reaper */
        }
        c->in_len += (size_t)got;
        rc = pump(c);
    }
    log_msg(LOG_DEBUG, "http", "HTTP/1.1 connection closed after %llu requests",
            (unsigned long long)c->n_requests);
    int fd = c->fd;
    struct conn_host host = c->host;
    char *scratch = c->in;
    c->in = NULL;
    h1__conn_destroy(c);
    /* Read what the client sent, so that closing does not reset the connection and
       lose the last answer; then close. */
    shutdown(fd, SHUT_WR);
    for (int i = 0; i < 8 && recv(fd, scratch, H1_BUF_CAP, MSG_DONTWAIT) > 0; i++) {
    }
    free(scratch);
    if (host.done != NULL) {
        host.done(host.arg, host.conn);
    }
    close(fd);
    return NULL;
}

int http__h1_start(const struct conn_host *host, int fd)
{
    struct h1_conn *c = h1__conn_create(host, fd);
    /* An answer's head and body go out as one write or with MSG_MORE; nothing waits for
       a delayed ACK. */
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    int rc = http__conn_thread_start(conn_main, c);
    if (rc != 0) {
        h1__conn_destroy(c);
        return -rc;
    }
    return 0;
}
