/*
 * Unit tests of the HTTP/2 session code (src/http/h2.c). A client nghttp2 session in the
 * test talks to h2.c's server session: the client's bytes go to h2__conn_feed, the
 * server's come back through a socketpair; the front end is a fake host that records
 * what it was asked and answers from a table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <nghttp2/nghttp2.h>

#include "core/mem.h"
#include "http/http_int.h"

/* ---- the fake front end ---- */

struct fake {
    struct api_registry *reg;
    int refuse;          /* headers() refuses every request */
    int n_open, n_close; /* exchanges opened and freed */
    int n_finish;
    char last_host[64];
    size_t last_body_len;
};

static struct http_exchange *f_open(void *arg, void *conn)
{
    (void)conn;
    struct fake *f = arg;
    f->n_open++;
    struct http_exchange *ex = xcalloc(1, sizeof(*ex));
    ex->body_fd = -1;
    ex->resp.body_fd = -1;
    buf_init(&ex->body);
    buf_init(&ex->resp.body);
    snprintf(ex->request_id, sizeof(ex->request_id), "req-%d", f->n_open);
    return ex;
}

static int f_headers(void *arg, struct http_exchange *ex, int *rendered)
{
    struct fake *f = arg;
    http__route(f->reg, ex);
    *rendered = 0;
    const char *host = http__header(ex, "host");
    snprintf(f->last_host, sizeof(f->last_host), "%s", host ? host : "");
    if (f->refuse) {
        http__render_error(ex, SL_E(AUTH_MISSING), "refused", NULL);
        *rendered = 1;
        return SL_E(AUTH_MISSING);
    }
    return 0;
}

static void f_receive(void *arg, struct http_exchange *ex, const uint8_t *data, size_t len)
{
    (void)arg;
    buf_append(&ex->body, data, len);
    ex->body_len += len;
}

/* A body made over time: "one" at once, then "two" and the end once released. */
static _Atomic int stream_released, stream_closed;

static int pieces_next(void *arg, struct buf *out, int timeout_ms)
{
    int *calls = arg;
    if ((*calls)++ == 0) {
        buf_puts(out, "one");
        return 1;
    }
    if (!stream_released) {
        usleep((useconds_t)timeout_ms * 100); /* a tenth of the slice: "nothing yet" */
        return 1;
    }
    buf_puts(out, "two");
    return 0;
}

static void pieces_close(void *arg)
{
    stream_closed++;
    free(arg);
}

static void f_finish(void *arg, struct http_exchange *ex)
{
    struct fake *f = arg;
    int sized = strcmp(ex->raw_uri, "/sized") == 0; /* knows its length: "onetwo" */
    if (strcmp(ex->raw_uri, "/stream") == 0 || sized) {
        struct {
            int calls;
            struct api_stream_body body;
        } *p = xcalloc(1, sizeof(*p));
        p->body = (struct api_stream_body){
            .next = pieces_next, .close = pieces_close, .arg = p, .length = sized ? 6 : 0};
        ex->resp.stream = &p->body;
        return;
    }
    f->n_finish++;
    f->last_body_len = ex->body_len;
    ex->resp.status = 200;
    api_response_header(&ex->resp, "x-amzn-RequestId", ex->request_id);
    api_response_header(&ex->resp, "Connection", "keep-alive"); /* must not be sent */
    buf_printf(&ex->resp.body, "%s %s %zu", ex->method, ex->raw_uri, ex->body_len);
}

static void f_close(void *arg, struct http_exchange *ex)
{
    struct fake *f = arg;
    if (ex == NULL) {
        return;
    }
    f->n_close++;
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

static void f_phase(void *arg, void *conn, enum conn_phase phase)
{
    (void)arg;
    (void)conn;
    (void)phase;
}

/* ---- the test's client ---- */

struct response {
    int status;
    char request_id[64];
    int saw_connection_header;
    char content_length[24]; /* "" when none */
    char body[256];
    size_t body_len;
    int closed;
    uint32_t rst_code; /* error code of the stream's close */
    int goaway;
    uint32_t goaway_code;
};

struct client {
    nghttp2_session *session;
    struct response resp[8]; /* by (stream id - 1) / 2 */
    struct fake fake;
    struct h2_conn *conn;
    int sv[2]; /* [0] the server's socket, [1] the test's end */
};

static struct response *resp_of(struct client *c, int32_t stream_id)
{
    size_t idx = (size_t)(stream_id - 1) / 2;
    return idx < 8 ? &c->resp[idx] : NULL;
}

static ssize_t c_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud)
{
    (void)s;
    (void)flags;
    struct client *c = ud;
    int rc = h2__conn_feed(c->conn, data, len);
    (void)rc;
    return (ssize_t)len;
}

static int c_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                    size_t name_len, const uint8_t *value, size_t value_len, uint8_t flags,
                    void *ud)
{
    (void)s;
    (void)flags;
    struct response *r = resp_of(ud, frame->hd.stream_id);
    if (r == NULL) {
        return 0;
    }
    if (name_len == 7 && memcmp(name, ":status", 7) == 0) {
        r->status = atoi((const char *)value);
    } else if (name_len == 16 && memcmp(name, "x-amzn-requestid", 16) == 0) {
        snprintf(r->request_id, sizeof(r->request_id), "%.*s", (int)value_len, value);
    } else if (name_len == 10 && memcmp(name, "connection", 10) == 0) {
        r->saw_connection_header = 1;
    } else if (name_len == 14 && memcmp(name, "content-length", 14) == 0) {
        snprintf(r->content_length, sizeof(r->content_length), "%.*s", (int)value_len, value);
    }
    return 0;
}

static int c_data(nghttp2_session *s, uint8_t flags, int32_t stream_id, const uint8_t *data,
                  size_t len, void *ud)
{
    (void)s;
    (void)flags;
    struct response *r = resp_of(ud, stream_id);
    if (r != NULL && r->body_len + len < sizeof(r->body)) {
        memcpy(r->body + r->body_len, data, len);
        r->body_len += len;
    }
    return 0;
}

static int c_close(nghttp2_session *s, int32_t stream_id, uint32_t code, void *ud)
{
    (void)s;
    struct response *r = resp_of(ud, stream_id);
    if (r != NULL) {
        r->closed = 1;
        r->rst_code = code;
    }
    return 0;
}

static int c_frame(nghttp2_session *s, const nghttp2_frame *frame, void *ud)
{
    (void)s;
    struct client *c = ud;
    if (frame->hd.type == NGHTTP2_GOAWAY) {
        c->resp[0].goaway = 1;
        c->resp[0].goaway_code = frame->goaway.error_code;
    }
    return 0;
}

static int setup(void **state)
{
    struct client *c = xcalloc(1, sizeof(*c));
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, c->sv), 0);
    c->fake.reg = api_registry_create();
    struct conn_host host = {.arg = &c->fake,
                           .stop_fd = -1,
                           .idle_timeout_s = 30,
                           .open = f_open,
                           .headers = f_headers,
                           .receive = f_receive,
                           .finish = f_finish,
                           .close = f_close,
                           .phase = f_phase};
    assert_int_equal(h2__conn_create(&host, c->sv[0], &c->conn), 0);
    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_send_callback(cb, c_send);
    nghttp2_session_callbacks_set_on_header_callback(cb, c_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, c_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, c_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, c_frame);
    nghttp2_option *opt;
    nghttp2_option_new(&opt);
    nghttp2_option_set_max_send_header_block_length(opt, 1 << 20); /* to send oversized lists */
    nghttp2_session_client_new2(&c->session, cb, c, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, NULL, 0);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct client *c = *state;
    nghttp2_session_del(c->session);
    h2__conn_destroy(c->conn);
    assert_int_equal(c->fake.n_open, c->fake.n_close); /* every exchange freed */
    api_registry_destroy(c->fake.reg);
    close(c->sv[0]);
    close(c->sv[1]);
    free(c);
    return 0;
}

/* Sends what the client has, and gives it what the server wrote, until both are quiet. */
static void pump(struct client *c)
{
    for (int round = 0; round < 50; round++) {
        assert_int_equal(nghttp2_session_send(c->session), 0);
        uint8_t buf[65536];
        ssize_t n = recv(c->sv[1], buf, sizeof(buf), 0);
        if (n <= 0) {
            if (!nghttp2_session_want_write(c->session)) {
                return;
            }
            continue;
        }
        assert_true(nghttp2_session_mem_recv(c->session, buf, (size_t)n) == n);
    }
}

#define NV(n, v)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, NGHTTP2_NV_FLAG_NONE         \
    }

static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *ud)
{
    (void)s;
    (void)id;
    (void)ud;
    const char *text = src->ptr;
    size_t n = strlen(text) < len ? strlen(text) : len;
    memcpy(buf, text, n);
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static void request_is_answered_with_its_id_and_without_connection_headers(void **state)
{
    struct client *c = *state;
    nghttp2_nv nv[] = {NV(":method", "POST"), NV(":path", "/p?q=1"), NV(":scheme", "http"),
                       NV(":authority", "example:4566")};
    nghttp2_data_provider body = {.source.ptr = "hello", .read_callback = read_body};
    int32_t id = nghttp2_submit_request(c->session, NULL, nv, 4, &body, NULL);
    assert_int_equal(id, 1);
    pump(c);
    struct response *r = &c->resp[0];
    assert_int_equal(r->status, 200);
    assert_string_equal(r->request_id, "req-1");
    assert_int_equal(r->saw_connection_header, 0);
    assert_int_equal(r->body_len, strlen("POST /p?q=1 5"));
    assert_memory_equal(r->body, "POST /p?q=1 5", r->body_len);
    assert_int_equal(r->closed, 1);
    assert_int_equal(r->rst_code, NGHTTP2_NO_ERROR);
    assert_string_equal(c->fake.last_host, "example:4566"); /* :authority gives the Host */
    assert_int_equal(c->fake.n_finish, 1);
}

static void refused_request_is_answered_before_its_body_then_reset(void **state)
{
    struct client *c = *state;
    c->fake.refuse = 1;
    nghttp2_nv nv[] = {NV(":method", "PUT"), NV(":path", "/b/k"), NV(":scheme", "http"),
                       NV(":authority", "h"), NV("content-length", "1000000")};
    /* Headers only: the body never comes, and need not. */
    int32_t id = nghttp2_submit_headers(c->session, NGHTTP2_FLAG_NONE, -1, NULL, nv, 5, NULL);
    assert_int_equal(id, 1);
    pump(c);
    struct response *r = &c->resp[0];
    assert_int_equal(r->status, 403);
    assert_string_equal(r->request_id, "req-1");
    assert_true(r->closed);
    assert_int_equal(r->rst_code, NGHTTP2_NO_ERROR);
    assert_int_equal(c->fake.n_finish, 0);
}

static void streams_are_answered_in_arrival_order(void **state)
{
    struct client *c = *state;
    nghttp2_nv nv[] = {NV(":method", "GET"), NV(":path", "/x"), NV(":scheme", "http"),
                       NV(":authority", "h")};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(nghttp2_submit_request(c->session, NULL, nv, 4, NULL, NULL), 1 + 2 * i);
    }
    pump(c);
    for (int i = 0; i < 4; i++) {
        char want[16];
        snprintf(want, sizeof(want), "req-%d", i + 1);
        assert_int_equal(c->resp[i].status, 200);
        assert_string_equal(c->resp[i].request_id, want);
    }
}

static void header_list_over_the_limit_is_answered_431(void **state)
{
    struct client *c = *state;
    static char big[8000];
    memset(big, 'a', sizeof(big) - 1);
    nghttp2_nv nv[16] = {NV(":method", "GET"), NV(":path", "/x"), NV(":scheme", "http"),
                         NV(":authority", "h")};
    for (int i = 4; i < 16; i++) {
        nv[i] = (nghttp2_nv){(uint8_t *)"x-pad", (uint8_t *)big, 5, sizeof(big) - 1,
                             NGHTTP2_NV_FLAG_NO_INDEX};
    }
    assert_int_equal(nghttp2_submit_request(c->session, NULL, nv, 16, NULL, NULL), 1);
    pump(c);
    assert_int_equal(c->resp[0].status, 431);
    assert_string_equal(c->resp[0].request_id, "req-1");
    assert_int_equal(c->fake.n_finish, 0);
}

static void rapid_reset_is_sent_away(void **state)
{
    struct client *c = *state;
    nghttp2_nv nv[] = {NV(":method", "GET"), NV(":path", "/x"), NV(":scheme", "http"),
                       NV(":authority", "h")};
    for (int i = 0; i < 400 && !c->resp[0].goaway; i++) {
        int32_t id = nghttp2_submit_headers(c->session, NGHTTP2_FLAG_NONE, -1, NULL, nv, 4, NULL);
        assert_int_equal(nghttp2_session_send(c->session), 0); /* the HEADERS go out */
        nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
        pump(c);
    }
    assert_true(c->resp[0].goaway);
    assert_int_equal(c->resp[0].goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
}

static void h2c_offer_is_taken_only_without_a_body(void **state)
{
    (void)state;
    const char *ok = "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                     "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n";
    assert_int_equal(http__h2c_wanted(ok, strlen(ok)), 1);
    const char *body = "POST / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                       "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
                       "Content-Length: 3\r\n\r\n";
    assert_int_equal(http__h2c_wanted(body, strlen(body)), 0);
    const char *no_conn = "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\n"
                          "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n";
    assert_int_equal(http__h2c_wanted(no_conn, strlen(no_conn)), 0);
    const char *bad = "GET / HTTP/1.1\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                      "Upgrade: h2c\r\nHTTP2-Settings: AAMAA\r\n\r\n"; /* not whole settings */
    assert_int_equal(http__h2c_wanted(bad, strlen(bad)), 0);
    const char *ws = "GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
    assert_int_equal(http__h2c_wanted(ws, strlen(ws)), 0);
}

/* Pumps both ways until cond holds (a streamed body is made on another thread). */
#define PUMP_UNTIL(c, cond)                                                                        \
    do {                                                                                           \
        for (int i_ = 0; i_ < 500 && !(cond); i_++) {                                              \
            h2__conn_feed((c)->conn, NULL, 0);                                                     \
            pump(c);                                                                               \
            usleep(2000);                                                                          \
        }                                                                                          \
        assert_true(cond);                                                                         \
    } while (0)

static void a_body_made_over_time_does_not_hold_up_other_streams(void **state)
{
    struct client *c = *state;
    stream_released = 0;
    stream_closed = 0;
    nghttp2_nv streamed[] = {NV(":method", "POST"), NV(":path", "/stream"), NV(":scheme", "http"),
                             NV(":authority", "h")};
    nghttp2_nv plain[] = {NV(":method", "GET"), NV(":path", "/plain"), NV(":scheme", "http"),
                          NV(":authority", "h")};
    assert_int_equal(nghttp2_submit_request(c->session, NULL, streamed, 4, NULL, NULL), 1);
    pump(c);
    PUMP_UNTIL(c, c->resp[0].body_len == 3);
    assert_int_equal(c->resp[0].status, 200);
    assert_memory_equal(c->resp[0].body, "one", 3);
    /* while it is open another stream of the connection is answered */
    assert_int_equal(nghttp2_submit_request(c->session, NULL, plain, 4, NULL, NULL), 3);
    PUMP_UNTIL(c, c->resp[1].closed);
    assert_int_equal(c->resp[1].status, 200);
    assert_int_equal(c->resp[0].closed, 0);
    stream_released = 1;
    PUMP_UNTIL(c, c->resp[0].closed);
    assert_int_equal(c->resp[0].body_len, 6);
    assert_memory_equal(c->resp[0].body, "onetwo", 6);
    assert_int_equal(c->resp[0].rst_code, NGHTTP2_NO_ERROR);
    PUMP_UNTIL(c, stream_closed == 1);
}

static void a_reset_stream_stops_its_producer(void **state)
{
    struct client *c = *state;
    stream_released = 0;
    stream_closed = 0;
    nghttp2_nv streamed[] = {NV(":method", "POST"), NV(":path", "/stream"), NV(":scheme", "http"),
                             NV(":authority", "h")};
    assert_int_equal(nghttp2_submit_request(c->session, NULL, streamed, 4, NULL, NULL), 1);
    PUMP_UNTIL(c, c->resp[0].body_len == 3);
    nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, 1, NGHTTP2_CANCEL);
    pump(c);
    PUMP_UNTIL(c, stream_closed == 1); /* the body was closed though never finished */
}

static void a_body_made_over_time_of_known_length_has_a_content_length(void **state)
{
    struct client *c = *state;
    stream_released = 1;
    stream_closed = 0;
    nghttp2_nv sized[] = {NV(":method", "GET"), NV(":path", "/sized"), NV(":scheme", "http"),
                          NV(":authority", "h")};
    nghttp2_nv unsized[] = {NV(":method", "GET"), NV(":path", "/stream"), NV(":scheme", "http"),
                            NV(":authority", "h")};
    assert_int_equal(nghttp2_submit_request(c->session, NULL, sized, 4, NULL, NULL), 1);
    assert_int_equal(nghttp2_submit_request(c->session, NULL, unsized, 4, NULL, NULL), 3);
    pump(c);
    PUMP_UNTIL(c, c->resp[0].closed && c->resp[1].closed);
    assert_int_equal(c->resp[0].status, 200);
    assert_string_equal(c->resp[0].content_length, "6");
    assert_int_equal(c->resp[0].body_len, 6);
    assert_memory_equal(c->resp[0].body, "onetwo", 6);
    assert_int_equal(c->resp[0].rst_code, NGHTTP2_NO_ERROR);
    assert_string_equal(c->resp[1].content_length, "");
    assert_memory_equal(c->resp[1].body, "onetwo", 6);
    PUMP_UNTIL(c, stream_closed == 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            request_is_answered_with_its_id_and_without_connection_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(refused_request_is_answered_before_its_body_then_reset,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(streams_are_answered_in_arrival_order, setup, teardown),
        cmocka_unit_test_setup_teardown(header_list_over_the_limit_is_answered_431, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(rapid_reset_is_sent_away, setup, teardown),
        cmocka_unit_test(h2c_offer_is_taken_only_without_a_body),
        cmocka_unit_test_setup_teardown(a_body_made_over_time_does_not_hold_up_other_streams,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_reset_stream_stops_its_producer, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_body_made_over_time_of_known_length_has_a_content_length, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
