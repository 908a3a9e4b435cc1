/*
 * Unit tests of the HTTP/1.1 connection engine (src/http/h1.c), without a socket: the
 * connection keeps what it sends, and the front end is a fake host that routes with an
 * empty registry, refuses a request carrying "X-Refuse" from its headers, and answers
 * every other with its method, target and body.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/mem.h"
#include "http/http_int.h"

struct fake {
    struct api_registry *reg;
    int n_opened;
    int n_open; /* exchanges not yet closed */
};

static struct http_exchange *f_open(void *arg, void *conn)
{
    (void)conn;
    struct fake *f = arg;
    struct http_exchange *ex = xcalloc(1, sizeof(*ex));
    ex->body_fd = -1;
    ex->resp.body_fd = -1;
    buf_init(&ex->body);
    buf_init(&ex->resp.body);
    snprintf(ex->request_id, sizeof(ex->request_id), "req-%d", ++f->n_opened);
    f->n_open++;
    return ex;
}

static int f_headers(void *arg, struct http_exchange *ex, int *rendered)
{
    struct fake *f = arg;
    http__route(f->reg, ex);
    *rendered = 0;
    if (http__header(ex, "X-Refuse") != NULL) {
        snprintf(ex->early_message, sizeof(ex->early_message), "refused");
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

/* A body made over time: "one", nothing, "two", then "three" and the end. */
struct pieces {
    struct api_stream_body body;
    int calls;
};
static int n_stream_closed;

static int pieces_next(void *arg, struct buf *out, int timeout_ms)
{
    struct pieces *p = arg;
    assert_true(timeout_ms > 0);
    static const char *const parts[] = {"one", "", "two", "three"};
    buf_puts(out, parts[p->calls]);
    return ++p->calls < 4;
}

static void pieces_close(void *arg)
{
    n_stream_closed++;
    free(arg);
}

static void f_finish(void *arg, struct http_exchange *ex)
{
    (void)arg;
    /* /sized knows its length ("onetwothree"); /short claims one byte more. */
    int64_t length = strcmp(ex->raw_uri, "/sized") == 0   ? 11
                     : strcmp(ex->raw_uri, "/short") == 0 ? 12
                                                          : 0;
    if (strcmp(ex->raw_uri, "/stream") == 0 || length > 0) {
        struct pieces *p = xcalloc(1, sizeof(*p));
        p->body = (struct api_stream_body){
            .next = pieces_next, .close = pieces_close, .arg = p, .length = length};
        ex->resp.stream = &p->body;
        api_response_header(&ex->resp, "Content-Type", "application/vnd.amazon.eventstream");
        return;
    }
    ex->resp.status = 200;
    api_response_header(&ex->resp, "x-amzn-RequestId", ex->request_id);
    api_response_header(&ex->resp, "Connection", "whatever"); /* the engine's own wins */
    buf_printf(&ex->resp.body, "%s %s [%.*s]", ex->method, ex->raw_uri, (int)ex->body_len,
               ex->body.data ? (const char *)ex->body.data : "");
}

static void f_close(void *arg, struct http_exchange *ex)
{
    struct fake *f = arg;
    if (ex == NULL) {
        return;
    }
    f->n_open--;
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

static void f_refuse(void *arg, struct http_exchange *ex, int code, const char *message)
{
    struct fake *f = arg;
    http__route(f->reg, ex);
    http__render_error(ex, code, message, NULL);
}

static struct fake fake;

static struct h1_conn *conn_new(void)
{
    if (fake.reg == NULL) {
        fake.reg = api_registry_create();
    }
    fake.n_opened = 0;
    fake.n_open = 0;
    struct conn_host host = {.arg = &fake,
                             .stop_fd = -1,
                             .idle_timeout_s = 30,
                             .open = f_open,
                             .headers = f_headers,
                             .receive = f_receive,
                             .finish = f_finish,
                             .close = f_close,
                             .refuse = f_refuse};
    return h1__conn_create(&host, -1);
}

/* What the connection sent, without its Date lines (they follow the clock). */
static char *output(struct h1_conn *c)
{
    size_t len;
    char *out = h1__conn_output(c, &len);
    char *clean = xmalloc(len + 1);
    size_t k = 0;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(out + i, '\n', len - i);
        size_t line_len = nl ? (size_t)(nl - (out + i)) + 1 : len - i;
        if (!(line_len >= 6 && memcmp(out + i, "Date: ", 6) == 0)) {
            memcpy(clean + k, out + i, line_len);
            k += line_len;
        }
        i += line_len;
    }
    clean[k] = '\0';
    free(out);
    return clean;
}

/* Feeds all of input in one go; returns what was sent and the last feed's result. */
static char *serve(const char *input, size_t len, int *rc)
{
    struct h1_conn *c = conn_new();
    *rc = h1__conn_feed(c, input, len);
    char *out = output(c);
    h1__conn_destroy(c);
    assert_int_equal(fake.n_open, 0);
    return out;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

static void request_is_answered_and_connection_kept(void **state)
{
    (void)state;
    int rc;
    const char *in = "POST /a?b=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
    char *out = serve(in, strlen(in), &rc);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(out, "x-amzn-RequestId: req-1\r\n"));
    assert_non_null(strstr(out, "Content-Length: 17\r\n"));
    assert_null(strstr(out, "Connection:"));
    assert_non_null(strstr(out, "\r\n\r\nPOST /a?b=1 [abc]"));
    free(out);
}

static const char pipelined[] = "PUT /one HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
                                "PUT /two HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n"
                                "GET /three HTTP/1.1\r\nHost: h\r\n\r\n";

static void pipelined_requests_are_answered_in_order_at_any_split(void **state)
{
    (void)state;
    int rc;
    size_t len = sizeof(pipelined) - 1;
    char *whole = serve(pipelined, len, &rc);
    assert_int_equal(rc, 1);
    const char *one = strstr(whole, "PUT /one [hello]");
    const char *two = strstr(whole, "PUT /two [abc0123456789]");
    const char *three = strstr(whole, "GET /three []");
    assert_true(one != NULL && two != NULL && three != NULL);
    assert_true(one < two && two < three);
    /* The same bytes split in two at every point, and fed a byte at a time. */
    for (size_t cut = 0; cut <= len; cut++) {
        struct h1_conn *c = conn_new();
        assert_int_equal(h1__conn_feed(c, pipelined, cut), 1);
        assert_int_equal(h1__conn_feed(c, pipelined + cut, len - cut), 1);
        char *out = output(c);
        h1__conn_destroy(c);
        assert_string_equal(out, whole);
        free(out);
    }
    struct h1_conn *c = conn_new();
    for (size_t i = 0; i < len; i++) {
        assert_int_equal(h1__conn_feed(c, pipelined + i, 1), 1);
    }
    char *out = output(c);
    h1__conn_destroy(c);
    assert_string_equal(out, whole);
    free(out);
    free(whole);
}

static void chunked_bodies_are_decoded(void **state)
{
    (void)state;
    int rc;
    /* upper-case hex, leading zeros, extensions with spaces before them, no trailers */
    const char *in = "PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "0002 ;a=b;c\r\nxy\r\n00B\r\nhello world\r\n000\r\n\r\n";
    char *out = serve(in, strlen(in), &rc);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "PUT /c [xyhello world]"));
    free(out);
}

static void bad_chunk_framing_is_refused_and_closes(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "g\r\nabc\r\n0\r\n\r\n",                 /* not hex */
        "\r\nabc\r\n0\r\n\r\n",                  /* no size */
        "-3\r\nabc\r\n0\r\n\r\n",                /* signed */
        "0x3\r\nabc\r\n0\r\n\r\n",               /* prefixed */
        "3 x\r\nabc\r\n0\r\n\r\n",               /* junk after the size */
        "3\nabc\r\n0\r\n\r\n",                   /* bare LF */
        "3\r\nabcd\r\n0\r\n\r\n",                /* data longer than its size */
        "3\r\nabc\n0\r\n\r\n",                   /* data not ended by CRLF */
        "10000000000000000\r\nabc\r\n0\r\n\r\n", /* 17 digits */
        "3;\x01\r\nabc\r\n0\r\n\r\n",            /* control byte in an extension */
        "0\r\nX: 1\n\r\n",                       /* trailer line with bare LF */
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        char in[256];
        snprintf(in, sizeof(in),
                 "GET / HTTP/1.1\r\nHost: h\r\n\r\n"
                 "PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n%s"
                 "GET /after HTTP/1.1\r\n\r\n",
                 bodies[i]);
        int rc;
        char *out = serve(in, strlen(in), &rc);
        assert_int_equal(rc, 0);
        assert_non_null(strstr(out, "GET / []"));
        assert_non_null(strstr(out, "HTTP/1.1 400 Bad Request\r\n"));
        assert_non_null(strstr(out, "Malformed chunked encoding"));
        assert_non_null(strstr(out, "Connection: close\r\n"));
        assert_non_null(strstr(out, "x-amzn-RequestId: req-2"));
        assert_null(strstr(out, "/after"));
        free(out);
    }
}

static void later_heads_are_vetted_like_the_first(void **state)
{
    (void)state;
    static const struct {
        const char *head;
        const char *status;
    } cases[] = {
        {"GET / HTTP/1.1\nHost: h\n\n", "400 Bad Request"},
        {"GET / HTTP/1.1\r\nA: 1\r\n 2\r\n\r\n", "400 Bad Request"},
        {"GET / HTTP/3.0\r\n\r\n", "505 HTTP Version Not Supported"},
        {"GET /\x01 HTTP/1.1\r\n\r\n", "400 Bad Request"},
        {"PUT / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", "400 Bad Request"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char in[256];
        snprintf(in, sizeof(in), "GET /first HTTP/1.1\r\n\r\n%sGET /after HTTP/1.1\r\n\r\n",
                 cases[i].head);
        int rc;
        char *out = serve(in, strlen(in), &rc);
        assert_int_equal(rc, 0);
        assert_non_null(strstr(out, "GET /first []"));
        assert_non_null(strstr(out, cases[i].status));
        assert_non_null(strstr(out, "<Code>InvalidArgument</Code>")); /* S3: no target */
        assert_null(strstr(out, "<html"));
        assert_non_null(strstr(out, "x-amzn-RequestId: req-2"));
        assert_null(strstr(out, "/after"));
        free(out);
    }
    /* too long a target, too large a head: refused before they are whole */
    struct h1_conn *c = conn_new();
    const char *first = "GET /first HTTP/1.1\r\n\r\nGET /";
    assert_int_equal(h1__conn_feed(c, first, strlen(first)), 1);
    char *big = xmalloc(H1_MAX_HEAD);
    memset(big, 'a', H1_MAX_HEAD);
    assert_int_equal(h1__conn_feed(c, big, VET_MAX_TARGET + 100), 0);
    char *out = output(c);
    h1__conn_destroy(c);
    assert_non_null(strstr(out, "414 URI Too Long"));
    free(out);
    c = conn_new();
    first = "GET /first HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nX: ";
    assert_int_equal(h1__conn_feed(c, first, strlen(first)), 1);
    assert_int_equal(h1__conn_feed(c, big, H1_MAX_HEAD), 0);
    out = output(c);
    h1__conn_destroy(c);
    assert_non_null(strstr(out, "431 Request Header Fields Too Large"));
    free(out);
    free(big);
}

static void keep_alive_follows_the_version_and_connection(void **state)
{
    (void)state;
    int rc;
    const char *in = "GET /a HTTP/1.0\r\n\r\nGET /b HTTP/1.0\r\n\r\n";
    char *out = serve(in, strlen(in), &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(count(out, "HTTP/1.1 200"), 1);
    assert_non_null(strstr(out, "Connection: close\r\n"));
    free(out);
    in = "GET /a HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\nGET /b HTTP/1.0\r\n\r\n";
    out = serve(in, strlen(in), &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(count(out, "HTTP/1.1 200"), 2);
    assert_int_equal(count(out, "Connection: keep-alive\r\n"), 1);
    free(out);
    in = "GET /a HTTP/1.1\r\nConnection: foo, close\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
    out = serve(in, strlen(in), &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(count(out, "HTTP/1.1 200"), 1);
    free(out);
}

static void head_is_answered_without_a_body(void **state)
{
    (void)state;
    int rc;
    const char *in = "HEAD /x HTTP/1.1\r\n\r\nGET /y HTTP/1.1\r\n\r\n";
    char *out = serve(in, strlen(in), &rc);
    assert_int_equal(rc, 1);
    /* HEAD's Content-Length is the body's it would have had; the body is not sent */
    assert_non_null(strstr(out, "Content-Length: 10\r\n\r\nHTTP/1.1 200 OK"));
    assert_null(strstr(out, "HEAD /x []"));
    assert_non_null(strstr(out, "GET /y []"));
    free(out);
}

static void continue_is_sent_only_to_an_admitted_request(void **state)
{
    (void)state;
    int rc;
    const char *in = "PUT /k HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
    struct h1_conn *c = conn_new();
    assert_int_equal(h1__conn_feed(c, in, strlen(in)), 1);
    char *out = output(c);
    assert_string_equal(out, "HTTP/1.1 100 Continue\r\n\r\n");
    free(out);
    assert_int_equal(h1__conn_feed(c, "ok", 2), 1);
    out = output(c);
    assert_non_null(strstr(out, "PUT /k [ok]"));
    free(out);
    h1__conn_destroy(c);
    in = "PUT /k HTTP/1.1\r\nExpect: 100-continue\r\nX-Refuse: 1\r\nContent-Length: 2\r\n\r\nok";
    out = serve(in, strlen(in), &rc);
    assert_int_equal(rc, 0);
    assert_null(strstr(out, "100 Continue"));
    assert_non_null(strstr(out, "Connection: close\r\n"));
    assert_null(strstr(out, "[ok]"));
    free(out);
    /* An empty body gets its 100 Continue too, before the final answer. */
    in = "PUT /k HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n";
    out = serve(in, strlen(in), &rc);
    assert_int_equal(rc, 1);
    assert_ptr_equal(strstr(out, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK"), out);
    free(out);
}

static void a_body_made_over_time_is_sent_chunked(void **state)
{
    (void)state;
    int rc;
    n_stream_closed = 0;
    const char *in =
        "POST /stream HTTP/1.1\r\nHost: h\r\n\r\nGET /after HTTP/1.1\r\nHost: h\r\n\r\n";
    char *out = serve(in, strlen(in), &rc);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out,
                           "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream"
                           "\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "3\r\none\r\n3\r\ntwo\r\n5\r\nthree\r\n0\r\n\r\n"
                           "HTTP/1.1 200 OK"));
    assert_null(strstr(out, "Content-Length: 0"));
    assert_non_null(strstr(out, "GET /after []")); /* the connection went on */
    assert_int_equal(n_stream_closed, 1);
    free(out);
    /* HTTP/1.0 has no chunks: the body is sent as is and ends with the connection */
    const char *old = "POST /stream HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n";
    out = serve(old, strlen(old), &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "Connection: close\r\n\r\nonetwothree"));
    assert_null(strstr(out, "Transfer-Encoding"));
    assert_int_equal(n_stream_closed, 2);
    free(out);
}

static void a_body_made_over_time_of_known_length_has_a_content_length(void **state)
{
    (void)state;
    int rc;
    n_stream_closed = 0;
    const char *in = "GET /sized HTTP/1.1\r\nHost: h\r\n\r\nGET /after HTTP/1.1\r\nHost: h\r\n\r\n";
    char *out = serve(in, strlen(in), &rc);
    assert_non_null(strstr(out, "Content-Length: 11\r\n"));
    assert_null(strstr(out, "Transfer-Encoding"));
    assert_non_null(strstr(out, "\r\n\r\nonetwothreeHTTP/1.1 200 OK"));
    assert_non_null(strstr(out, "GET /after []")); /* the connection went on */
    assert_int_equal(n_stream_closed, 1);
    free(out);
    /* HTTP/1.0 keeps the connection too: the length ends the body. */
    in = "GET /sized HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /after HTTP/1.0\r\n\r\n";
    out = serve(in, strlen(in), &rc);
    assert_non_null(strstr(out, "Content-Length: 11\r\nConnection: keep-alive\r\n\r\nonetwothree"));
    assert_non_null(strstr(out, "GET /after []"));
    free(out);
    /* A body ending short of its length: the connection is dropped, nothing follows. */
    in = "GET /short HTTP/1.1\r\nHost: h\r\n\r\nGET /after HTTP/1.1\r\nHost: h\r\n\r\n";
    out = serve(in, strlen(in), &rc);
    assert_non_null(strstr(out, "Content-Length: 12\r\n"));
    assert_null(strstr(out, "GET /after"));
    assert_int_equal(n_stream_closed, 3);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(request_is_answered_and_connection_kept),
        cmocka_unit_test(pipelined_requests_are_answered_in_order_at_any_split),
        cmocka_unit_test(chunked_bodies_are_decoded),
        cmocka_unit_test(bad_chunk_framing_is_refused_and_closes),
        cmocka_unit_test(later_heads_are_vetted_like_the_first),
        cmocka_unit_test(keep_alive_follows_the_version_and_connection),
        cmocka_unit_test(head_is_answered_without_a_body),
        cmocka_unit_test(continue_is_sent_only_to_an_admitted_request),
        cmocka_unit_test(a_body_made_over_time_is_sent_chunked),
        cmocka_unit_test(a_body_made_over_time_of_known_length_has_a_content_length),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    api_registry_destroy(fake.reg);
    return rc;
}
