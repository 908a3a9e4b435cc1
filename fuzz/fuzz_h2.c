/* Fuzzes the HTTP/2 session code (src/http/h2.c): the bytes a client sends after the
   preface go into an nghttp2 server session with our callbacks, without a socket (its
   output is discarded). The front end is replaced by a small host that routes with an
   empty registry, refuses bodies over 1 MiB from the headers or as they arrive, and
   answers every complete request with a body, so each of h2.c's paths is taken: open,
   headers, refusal, receive, finish, respond, reset, close. Any crash, leak or
   sanitizer report is a bug. */
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
    const char *cl = http__header(ex, "content-length");
    if (cl != NULL && strtoull(cl, NULL, 10) > FUZZ_MAX_BODY) {
        snprintf(ex->early_message, sizeof(ex->early_message), "too large");
        return SL_E(BODY_TOO_LARGE);
    }
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
    api_response_header(&ex->resp, "Connection", "close"); /* dropped for HTTP/2 */
    buf_printf(&ex->resp.body, "%s %s %zu", ex->method, ex->raw_uri, ex->body_len);
    if (strcmp(ex->method, "HEAD") == 0) {
        ex->resp.head_only = 1;
    }
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

static void fz_phase(void *arg, void *conn, enum conn_phase phase)
{
    (void)arg;
    (void)conn;
    (void)phase;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct api_registry *reg;
    if (reg == NULL) {
        reg = api_registry_create();
    }
    struct conn_host host = {
        .arg = reg,
        .stop_fd = -1,
        .idle_timeout_s = 30,
        .open = fz_open,
        .headers = fz_headers,
        .receive = fz_receive,
        .finish = fz_finish,
        .close = fz_close,
        .phase = fz_phase,
    };
    /* The h2c offer check reads any head without going past it. */
    (void)http__h2c_wanted((const char *)data, size);
    struct h2_conn *c;
    if (h2__conn_create(&host, -1, &c) < 0) {
        abort();
    }
    /* The preface is given, so that the fuzzer spends its effort on frames. */
    int rc = h2__conn_feed(c, (const uint8_t *)H2_PREFACE, H2_PREFACE_LEN);
    /* Fed in two parts, to cross frame boundaries at an arbitrary point. */
    size_t half = size > 0 ? data[0] % (size + 1) : 0;
    if (rc > 0) {
        rc = h2__conn_feed(c, data, half);
    }
    if (rc > 0) {
        h2__conn_feed(c, data + half, size - half);
    }
    h2__conn_destroy(c);
    return 0;
}
