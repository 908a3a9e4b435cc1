/*
 * The libmicrohttpd adapter: the only file that includes microhttpd.h.
 *
 * Lifecycle of one exchange inside MHD:
 *
 *   uri_log callback  ──▶ exchange allocated with the raw URI (MHD's url is decoded)
 *   access, 1st call  ──▶ headers copied, route chosen, body limit checked
 *   access, data      ──▶ body appended in memory, or to an unlinked temp file (spooled)
 *   access, last call ──▶ http__handle: SigV4, dispatch, render; response queued
 *   completed         ──▶ exchange freed (spool file closed)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/crypto.h"
#include "core/log.h"
#include "core/mem.h"
#include "http/http_int.h"

struct http_server {
    struct MHD_Daemon *daemon;
    struct http_server_ctx ctx;
    char spool_dir[600];
};

static void exchange_free(struct http_exchange *ex)
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
    http__response_fini(&ex->resp);
    free(ex);
}

static void format_request_id(char out[40])
{
    uint8_t r[16];
    crypto_random(r, sizeof(r));
    r[6] = (uint8_t)((r[6] & 0x0f) | 0x40);
    r[8] = (uint8_t)((r[8] & 0x3f) | 0x80);
    snprintf(out, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
             r[13], r[14], r[15]);
}

static void *uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    struct http_exchange *ex = xcalloc(1, sizeof(*ex));
    ex->raw_uri = xstrdup(uri);
    ex->body_fd = -1;
    ex->resp.body_fd = -1;
    buf_init(&ex->body);
    buf_init(&ex->resp.body);
    format_request_id(ex->request_id);
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
    (void)cls;
    (void)conn;
    (void)toe;
    exchange_free(*con_cls);
    *con_cls = NULL;
}

/* Decides, from the headers alone, whether and where the body may be received. */
static void check_body_limit(struct http_server *srv, struct http_exchange *ex)
{
    const char *cl = http__header(ex, "Content-Length");
    unsigned long long len = cl ? strtoull(cl, NULL, 10) : 0;
    int may_spool = ex->proto == PROTO_REST;
    if (len > srv->ctx.cfg->max_body_bytes && !may_spool) {
        ex->early_error = SL_E(BODY_TOO_LARGE);
        snprintf(ex->early_message, sizeof(ex->early_message),
                 "Request body of %llu bytes exceeds the limit of %zu bytes", len,
                 srv->ctx.cfg->max_body_bytes);
    } else if (len > srv->ctx.cfg->max_spooled_body_bytes) {
        ex->early_error = SL_E(ENTITY_TOO_LARGE);
        snprintf(ex->early_message, sizeof(ex->early_message),
                 "Your proposed upload exceeds the maximum allowed size");
    }
}

static int receive(struct http_server *srv, struct http_exchange *ex, const char *data,
                   size_t len)
{
    if (ex->early_error) {
        return 0; /* discard; the error is answered once the body is consumed */
    }
    if (ex->body_fd < 0 && ex->body_len + len > srv->ctx.cfg->max_body_bytes) {
        if (ex->proto != PROTO_REST) {
            ex->early_error = SL_E(BODY_TOO_LARGE);
            snprintf(ex->early_message, sizeof(ex->early_message),
                     "Request body exceeds the limit of %zu bytes",
                     srv->ctx.cfg->max_body_bytes);
            return 0;
        }
        /* Spool: an unlinked file in the data directory, so a crash leaves nothing. */
        ex->body_fd = open(srv->spool_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (ex->body_fd < 0 || write(ex->body_fd, ex->body.data, ex->body_len) !=
                                   (ssize_t)ex->body_len) {
            log_msg(LOG_ERROR, "http", "cannot spool request body in %s: %s", srv->spool_dir,
                    strerror(errno));
            ex->early_error = SL_E(IO);
            return 0;
        }
        buf_fini(&ex->body);
    }
    if (ex->body_len + len > srv->ctx.cfg->max_spooled_body_bytes) {
        ex->early_error = SL_E(ENTITY_TOO_LARGE);
        snprintf(ex->early_message, sizeof(ex->early_message),
                 "Your proposed upload exceeds the maximum allowed size");
        return 0;
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
                return 0;
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
        return 0;
    }
    ex->body_len += len;
    return 0;
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
        mr = MHD_create_response_from_buffer(len, data ? data : (void *)"", data ? MHD_RESPMEM_MUST_FREE
                                                                       : MHD_RESPMEM_PERSISTENT);
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
        http__route(srv->ctx.reg, ex);
        check_body_limit(srv, ex);
        if (ex->early_error) {
            /* Answer now: MHD then skips the body instead of reading it to discard it. */
            http__render_error(ex, ex->early_error, ex->early_message, NULL);
            return send_response(conn, ex);
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        receive(srv, ex, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
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

int http_server_open(const struct sluice_config *cfg, const struct api_registry *reg,
                     http_key_lookup_fn lookup, void *lookup_arg, struct http_server **out)
{
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)cfg->listen_port);
    if (inet_pton(AF_INET, cfg->listen_host, &addr.sin_addr) != 1) {
        log_msg(LOG_ERROR, "http", "listen address %s is not an IPv4 address", cfg->listen_host);
        return -EINVAL;
    }
    struct http_server *srv = xcalloc(1, sizeof(*srv));
    srv->ctx.cfg = cfg;
    srv->ctx.reg = reg;
    srv->ctx.lookup = lookup;
    srv->ctx.lookup_arg = lookup_arg;
    snprintf(srv->spool_dir, sizeof(srv->spool_dir), "%s", cfg->data_dir);
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_ERROR_LOG | MHD_USE_POLL;
    srv->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->listen_port, NULL, NULL, access_handler, srv,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_URI_LOG_CALLBACK, uri_log, srv,
        MHD_OPTION_NOTIFY_COMPLETED, completed, srv,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024),
        MHD_OPTION_CONNECTION_LIMIT, 1000u,
        MHD_OPTION_CONNECTION_TIMEOUT, 300u,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t)(512 * 1024),
        MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
        MHD_OPTION_END);
    if (srv->daemon == NULL) {
        int e = errno ? errno : EADDRINUSE;
        log_msg(LOG_ERROR, "http", "cannot listen on %s:%d: %s", cfg->listen_host,
                cfg->listen_port, strerror(e));
        free(srv);
        return -e;
    }
    *out = srv;
    return 0;
}

void http_server_close(struct http_server *srv)
{
    if (srv == NULL) {
        return;
    }
    MHD_stop_daemon(srv->daemon);
    free(srv);
}
