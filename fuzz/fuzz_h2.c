/* Fuzzes the HTTP/2 session code (src/http/h2.c): the bytes a client sends after the
   preface go into an nghttp2 server session with our callbacks, without a socket (its
   output is discarded). The front end is replaced by a small host that routes with an
   empty registry, refuses bodies over 1 MiB from the headers or as they arrive, and
   answers every complete request with a body, so each of h2.c's paths is taken: open,
   headers, refusal, receive, finish, respond, reset, close. Any crash, leak or
   sanitizer report is a bug. */
#include "fuzz_http_host.h"

static void fz_finish(void *arg, struct http_exchange *ex)
{
    (void)arg;
    if (fz_answer(ex) == 0) {
        api_response_header(&ex->resp, "Connection", "close"); /* dropped for HTTP/2 */
        if (strcmp(ex->method, "HEAD") == 0) {
            ex->resp.head_only = 1;
        }
    }
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
