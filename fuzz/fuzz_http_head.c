/* Fuzzes the reading of HTTP/1.1 requests: the vetting of a request head
   (src/http/vet.c) on any bytes, whose answer must be a known one with a complete head
   within the input; then the HTTP/1.1 engine (src/http/h1.c) on the same bytes as a
   connection's stream, without a socket (its output is discarded), fed in two parts cut
   at an arbitrary point: pipelined heads, Content-Length and chunked bodies, trailers,
   refusals, behind the small front end of fuzz_http_host.h. Any crash, leak or
   sanitizer report is a bug. */
#include "fuzz_http_host.h"

static void fz_finish(void *arg, struct http_exchange *ex)
{
    (void)arg;
    fz_answer(ex);
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
