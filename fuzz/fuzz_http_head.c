/* Fuzzes the reading of HTTP/1.1 requests: the vetting of a request head
   (src/http/vet.c) on any bytes, whose answer must be a known one with a complete head
   within the input; then the HTTP/1.1 engine (src/http/h1.c) on the same bytes as a
   connection's stream, without a socket (its output is discarded), fed in two parts cut
   at an arbitrary point: pipelined heads, Content-Length and chunked bodies, trailers,
   refusals. The front end is a small host that routes with an empty registry, refuses
   a request carrying X-Refuse from its headers, and answers every other with a body.
   Any crash, leak or sanitizer report is a bug. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "http/http_int.h"

#define FUZZ_MAX_BODY (1u << 20)

static struct http_exchange *fz_open(void *arg, void *conn)
{
    (void)arg;
    (void)conn;
    struct http_exchange *ex = xcalloc(1, sizeof(*ex));
    ex->body_fd = -1;
    ex->resp.body_fd = -1;
    buf_init(&ex->body);
    buf_init(&ex->resp.body);
    snprintf(ex->request_id, sizeof(ex->request_id), "fuzz");
    return ex;
}

static int fz_headers(void *arg, struct http_exchange *ex, int *rendered)
{
    http__route(arg, ex);
    *rendered = 0;
    if (http__header(ex, "x-refuse") != NULL) {
        http__render_error(ex, SL_E(AUTH_MISSING), "refused", NULL);
        *rendered = 1;
        return SL_E(AUTH_MISSING);
    }
    return 0;
}

static void fz_receive(void *arg, struct http_exchange *ex, const uint8_t *data, size_t len)
{
    (void)arg;
    if (ex->early_error) {
        return;
    }
    if (ex->body_len + len > FUZZ_MAX_BODY) {
        ex->early_error = SL_E(BODY_TOO_LARGE);
        snprintf(ex->early_message, sizeof(ex->early_message), "too large");
        return;
    }
    buf_append(&ex->body, data, len);
    ex->body_len += len;
}

static void fz_finish(void *arg, struct http_exchange *ex)
{
    (void)arg;
    if (ex->early_error) {
        http__render_error(ex, ex->early_error, ex->early_message, NULL);
        return;
    }
    ex->resp.status = 200;
    api_response_header(&ex->resp, "x-amzn-RequestId", ex->request_id);
    buf_printf(&ex->resp.body, "%s %s %zu", ex->method, ex->raw_uri, ex->body_len);
}

static void fz_close(void *arg, struct http_exchange *ex)
{
    (void)arg;
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
    http__response_fini(&ex->resp);
    free(ex);
}

static void fz_refuse(void *arg, struct http_exchange *ex, int code, const char *message)
{
    http__route(arg, ex);
    http__render_error(ex, code, message, NULL);
}

static void vet_once(const uint8_t *data, size_t size)
{
    static struct vet_head vh;
    const char *reason = NULL;
    int rc = http__vet_head((const char *)data, size, 64 * 1024, &vh, &reason);
    if (rc == 1 && (vh.head_len == 0 || vh.head_len > size ||
                    vh.method + vh.method_len > (const char *)data + size ||
                    vh.target + vh.target_len > (const char *)data + size)) {
        abort();
    }
    if (rc != 0 && rc != 1 && rc != -400 && rc != -414 && rc != -431 && rc != -505) {
        abort();
    }
    if (rc < 0 && (reason == NULL || reason[0] == '\0')) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct api_registry *reg;
    if (reg == NULL) {
        reg = api_registry_create();
    }
    vet_once(data, size);
    struct conn_host host = {
        .arg = reg,
        .stop_fd = -1,
        .idle_timeout_s = 30,
        .open = fz_open,
        .headers = fz_headers,
        .receive = fz_receive,
        .finish = fz_finish,
        .close = fz_close,
        .refuse = fz_refuse,
    };
    struct h1_conn *c = h1__conn_create(&host, -1);
    size_t cut = size > 0 ? data[0] % (size + 1) : 0;
    int rc = h1__conn_feed(c, (const char *)data, cut);
    if (rc > 0) {
        rc = h1__conn_feed(c, (const char *)data + cut, size - cut);
    }
    if (rc < 0) {
        abort(); /* nothing can fail to be sent without a socket */
    }
    size_t out_len;
    free(h1__conn_output(c, &out_len));
    h1__conn_destroy(c);
    return 0;
}
