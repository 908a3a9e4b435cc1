/* The small front end the HTTP fuzzers put behind h1.c and h2.c instead of the real
   one: it routes with an empty registry, refuses a request carrying X-Refuse or
   declaring a body over 1 MiB from its headers, refuses bodies that grow past 1 MiB as
   they arrive, and answers every other complete request with a body naming it. Each
   engine thus takes all of its paths: open, headers, refusal, receive, finish,
   respond, close. Included by one fuzzer each (the functions are static). */
#ifndef SLUICE_FUZZ_HTTP_HOST_H
#define SLUICE_FUZZ_HTTP_HOST_H

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

/* The answer to a complete request; returns 0, or 1 when it was refused earlier. */
static int fz_answer(struct http_exchange *ex)
{
    if (ex->early_error) {
        http__render_error(ex, ex->early_error, ex->early_message, NULL);
        return 1;
    }
    ex->resp.status = 200;
    api_response_header(&ex->resp, "x-amzn-RequestId", ex->request_id);
    buf_printf(&ex->resp.body, "%s %s %zu", ex->method, ex->raw_uri, ex->body_len);
    return 0;
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

#endif
