/*
 * Unit tests of the stages before partitioning: the KPL aggregate reader (handwritten
 * protobuf fixtures, corrupt input, a bad MD5), JSON and delimited splitting, the Lambda
 * event and answer (every way an answer fails), function names from ARNs, and the HTTP
 * client against a canned server on 127.0.0.1 (status, body, refused, timeout, garbage).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/base64.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/err.h"
#include "delivery/compress.h"
#include "delivery/convert.h"
#include "delivery/deagg.h"
#include "delivery/lambda.h"

/* ---- what the splitters emit ---- */

struct got {
    int n;
    char data[16][64];
    char pk[16][32];
    uint32_t sub[16];
    int fail_at; /* emit returns an error at this call (-1 never) */
};

static int collect(void *arg, const uint8_t *data, size_t len, const char *pk, size_t pk_len,
                   uint32_t sub)
{
    struct got *g = arg;
    if (g->n == g->fail_at) {
        return SL_E(NOMEM);
    }
    assert_true(g->n < 16 && len < 64 && pk_len < 32);
    memcpy(g->data[g->n], data, len);
    g->data[g->n][len] = 0;
    if (pk != NULL) {
        memcpy(g->pk[g->n], pk, pk_len);
    }
    g->pk[g->n][pk_len] = 0;
    g->sub[g->n] = sub;
    g->n++;
    return 0;
}

/* ---- KPL fixtures, written byte by byte ---- */

static void put_varint(struct buf *b, uint64_t v)
{
    do {
        uint8_t c = v & 0x7f;
        v >>= 7;
        buf_putc(b, (char)(c | (v ? 0x80 : 0)));
    } while (v);
}

static void put_bytes_field(struct buf *b, int field, const void *p, size_t len)
{
    put_varint(b, (uint64_t)field << 3 | 2);
    put_varint(b, len);
    buf_append(b, p, len);
}

/* One Record { partition_key_index = pk; data = s }. */
static void put_record(struct buf *msg, uint64_t pk, const char *s)
{
    struct buf r;
    buf_init(&r);
    put_varint(&r, 1 << 3 | 0);
    put_varint(&r, pk);
    put_bytes_field(&r, 3, s, strlen(s));
    put_bytes_field(msg, 3, r.data, r.len);
    buf_fini(&r);
}

/* magic + msg + MD5(msg) into out. */
static void wrap(const struct buf *msg, struct buf *out)
{
    uint8_t md5[MD5_LEN];
    crypto_md5(msg->data, msg->len, md5);
    buf_append(out, DEAGG_KPL_MAGIC, 4);
    buf_append(out, msg->data, msg->len);
    buf_append(out, md5, MD5_LEN);
}

static void kpl_user_records_with_their_keys_and_numbers(void **state)
{
    (void)state;
    struct buf msg, agg;
    buf_init(&msg);
    buf_init(&agg);
    put_bytes_field(&msg, 1, "alpha", 5);
    put_bytes_field(&msg, 1, "beta", 4);
    put_bytes_field(&msg, 2, "12345", 5); /* an explicit hash key table entry */
    put_record(&msg, 1, "one");
    put_record(&msg, 0, "two");
    /* An unknown varint field (9) and a fixed64 field (10): skipped as protobuf does. */
    put_varint(&msg, 9 << 3 | 0);
    put_varint(&msg, 300);
    put_varint(&msg, 10 << 3 | 1);
    buf_append(&msg, "\1\2\3\4\5\6\7\10", 8);
    put_record(&msg, 1, "");
    wrap(&msg, &agg);
    struct got g = {.fail_at = -1};
    assert_int_equal(deagg_kpl(agg.data, agg.len, collect, &g), 1);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.data[0], "one");
    assert_string_equal(g.pk[0], "beta");
    assert_string_equal(g.data[1], "two");
    assert_string_equal(g.pk[1], "alpha");
    assert_string_equal(g.data[2], "");
    assert_int_equal(g.sub[0], 0);
    assert_int_equal(g.sub[2], 2);
    /* An emit error stops the walk and is returned. */
    struct got f = {.fail_at = 1};
    assert_int_equal(deagg_kpl(agg.data, agg.len, collect, &f), SL_E(NOMEM));
    buf_fini(&msg);
    buf_fini(&agg);
}

/* deagg_kpl must say "not an aggregate" and emit nothing. */
static void assert_passed_through(const struct buf *b)
{
    struct got g = {.fail_at = -1};
    assert_int_equal(deagg_kpl(b->data, b->len, collect, &g), 0);
    assert_int_equal(g.n, 0);
}

static void kpl_corrupt_aggregates_pass_through_whole(void **state)
{
    (void)state;
    struct buf msg, agg;
    buf_init(&msg);
    buf_init(&agg);
    put_bytes_field(&msg, 1, "k", 1);
    put_record(&msg, 0, "data");
    wrap(&msg, &agg);
    /* A bad MD5. */
    agg.data[agg.len - 1] ^= 1;
    assert_passed_through(&agg);
    /* No magic; too short to hold a digest. */
    struct buf plain = {(uint8_t *)"plain text record", 17, 0, 0};
    assert_passed_through(&plain);
    struct buf shorty = {(uint8_t *)"\xF3\x89\x9A\xC2"
                                    "0123456789abcdef",
                         20, 0, 0};
    assert_passed_through(&shorty);
    /* Valid digests over broken protobuf: an index out of the key table, a truncated
       length, a Record without data, a known field of the wrong wire type, a group. */
    const char *cases[] = {"index", "truncated", "nodata", "wiretype", "group"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf m, a;
        buf_init(&m);
        buf_init(&a);
        put_bytes_field(&m, 1, "k", 1);
        if (strcmp(cases[i], "index") == 0) {
            put_record(&m, 1, "x");
        } else if (strcmp(cases[i], "truncated") == 0) {
            put_varint(&m, 3 << 3 | 2);
            put_varint(&m, 50);
            buf_append(&m, "abc", 3);
        } else if (strcmp(cases[i], "nodata") == 0) {
            uint8_t r[] = {1 << 3 | 0, 0};
            put_bytes_field(&m, 3, r, sizeof(r));
        } else if (strcmp(cases[i], "wiretype") == 0) {
            put_varint(&m, 3 << 3 | 0);
            put_varint(&m, 7);
        } else {
            put_varint(&m, 4 << 3 | 3);
        }
        wrap(&m, &a);
        assert_passed_through(&a);
        buf_fini(&m);
        buf_fini(&a);
    }
    buf_fini(&msg);
    buf_fini(&agg);
}

static void kpl_empty_aggregate_has_no_records(void **state)
{
    (void)state;
    struct buf msg, agg;
    buf_init(&msg);
    buf_init(&agg);
    put_bytes_field(&msg, 1, "k", 1);
    wrap(&msg, &agg);
    struct got g = {.fail_at = -1};
    assert_int_equal(deagg_kpl(agg.data, agg.len, collect, &g), 1);
    assert_int_equal(g.n, 0);
    buf_fini(&msg);
    buf_fini(&agg);
}

static int split_json(const char *s, struct got *g)
{
    memset(g, 0, sizeof(*g));
    g->fail_at = -1;
    return deagg_json((const uint8_t *)s, strlen(s), collect, g);
}

static void json_objects_are_split(void **state)
{
    (void)state;
    struct got g;
    assert_int_equal(split_json("{\"a\":1}{\"a\":2}", &g), 1);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.data[0], "{\"a\":1}");
    assert_string_equal(g.data[1], "{\"a\":2}");
    assert_int_equal(g.sub[1], 1);
    /* Newline-delimited, braces inside strings and escapes, nested arrays and objects. */
    assert_int_equal(split_json(" {\"s\":\"}{\\\"\"}\n{\"n\":{\"x\":[{}]}}\n", &g), 1);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.data[0], "{\"s\":\"}{\\\"\"}");
    assert_string_equal(g.data[1], "{\"n\":{\"x\":[{}]}}");
    /* Not a run of objects: an array, text, an unclosed object, a stray bracket, nothing. */
    const char *whole[] = {
        "[{\"a\":1},{\"a\":2}]", "{\"a\":1} tail", "{\"a\":1}{\"a\":", "{\"a\":1]", "   ",
        "{\"a\":\"open}"};
    for (size_t i = 0; i < sizeof(whole) / sizeof(whole[0]); i++) {
        assert_int_equal(split_json(whole[i], &g), 0);
        assert_int_equal(g.n, 0);
    }
}

static void json_split_is_capped_at_500(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    for (int i = 0; i < DEAGG_SUB_RECORDS_MAX; i++) {
        buf_puts(&b, "{}");
    }
    assert_int_equal(deagg_json(b.data, b.len, NULL, NULL), 1);
    buf_puts(&b, "{}");
    assert_int_equal(deagg_json(b.data, b.len, NULL, NULL), 0);
    buf_fini(&b);
}

static void delimited_records_are_split(void **state)
{
    (void)state;
    struct got g = {.fail_at = -1};
    const char *s = "a####bb########c####";
    assert_int_equal(
        deagg_delimited((const uint8_t *)s, strlen(s), (const uint8_t *)"####", 4, collect, &g), 1);
    assert_int_equal(g.n, 3); /* the empty pieces are dropped */
    assert_string_equal(g.data[0], "a");
    assert_string_equal(g.data[1], "bb");
    assert_string_equal(g.data[2], "c");
    /* A delimiter longer than the record; no delimiter in it; an empty delimiter. */
    memset(&g, 0, sizeof(g));
    g.fail_at = -1;
    assert_int_equal(
        deagg_delimited((const uint8_t *)"ab", 2, (const uint8_t *)"####", 4, collect, &g), 1);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.data[0], "ab");
    assert_int_equal(deagg_delimited((const uint8_t *)"ab", 2, (const uint8_t *)"", 0, collect, &g),
                     0);
    assert_int_equal(
        deagg_delimited((const uint8_t *)"####", 4, (const uint8_t *)"####", 4, collect, &g), 0);
}

/* A user record of an aggregate that fails conversion names its place in the aggregate. */
static void conversion_errors_carry_the_sub_sequence_number(void **state)
{
    (void)state;
    struct buf out;
    buf_init(&out);
    struct conv_error e = {.code = CONV_PARSE_ERROR, .sub = 3};
    snprintf(e.message, sizeof(e.message), "not JSON");
    struct conv_error_ctx ctx = {.database = "db", .table = "t"};
    assert_int_equal(
        delivery__conv_error_json(&out, &e, 1, 2, (const uint8_t *)"x", 1, "4955", &ctx), 0);
    json_t *j = json_loads((const char *)out.data, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "sequenceNumber")), "4955");
    assert_int_equal(json_integer_value(json_object_get(j, "subSequenceNumber")), 2);
    json_decref(j);
    buf_fini(&out);
}

/* ---- the Lambda event and answer ---- */

static void event_has_aws_shape(void **state)
{
    (void)state;
    struct lambda_in in[2] = {
        {.data = (const uint8_t *)"hello", .len = 5, .arrival_ms = 1507217624302},
        {.data = (const uint8_t *)"", .len = 0, .arrival_ms = 7},
    };
    struct buf out;
    buf_init(&out);
    lambda_event_build(&out, "inv-1", "arn:aws:firehose:r:1:deliverystream/s", NULL, "r", in, 2);
    assert_string_equal((const char *)out.data,
                        "{\"invocationId\":\"inv-1\",\"deliveryStreamArn\":"
                        "\"arn:aws:firehose:r:1:deliverystream/s\",\"region\":\"r\",\"records\":["
                        "{\"recordId\":\"0\",\"approximateArrivalTimestamp\":1507217624302,"
                        "\"data\":\"aGVsbG8=\"},"
                        "{\"recordId\":\"1\",\"approximateArrivalTimestamp\":7,\"data\":\"\"}]}");
    /* A Kinesis source: the stream's ARN and each record's metadata. */
    in[0].shard_id = "shardId-000000000003";
    in[0].pk = "p\"k";
    in[0].pk_len = 3;
    in[0].seqno = "4954";
    in[0].sub = 2;
    buf_reset(&out);
    lambda_event_build(&out, "i", "a", "arn:aws:kinesis:r:1:stream/k", "r", in, 1);
    json_t *e = json_loads((const char *)out.data, 0, NULL);
    assert_non_null(e);
    assert_string_equal(json_string_value(json_object_get(e, "sourceKinesisStreamArn")),
                        "arn:aws:kinesis:r:1:stream/k");
    json_t *m =
        json_object_get(json_array_get(json_object_get(e, "records"), 0), "kinesisRecordMetadata");
    assert_string_equal(json_string_value(json_object_get(m, "shardId")), "shardId-000000000003");
    assert_string_equal(json_string_value(json_object_get(m, "partitionKey")), "p\"k");
    assert_string_equal(json_string_value(json_object_get(m, "sequenceNumber")), "4954");
    assert_int_equal(json_integer_value(json_object_get(m, "subsequenceNumber")), 2);
    assert_int_equal(json_integer_value(json_object_get(m, "approximateArrivalTimestamp")),
                     1507217624302LL);
    assert_true(lambda_event_record_size(&in[0]) > 240);
    json_decref(e);
    buf_fini(&out);
}

static int parse(const char *body, size_t n, struct lambda_out *out, const char **code,
                 struct err_info *err)
{
    *code = NULL;
    err_clear(err);
    return lambda_response_parse(body, strlen(body), n, out, code, err);
}

static void answer_results_and_keys(void **state)
{
    (void)state;
    struct lambda_out out[3];
    const char *code;
    struct err_info err;
    /* Any order; Ok with new data and keys, Dropped, ProcessingFailed. */
    const char *body = "{\"records\":["
                       "{\"recordId\":\"2\",\"result\":\"ProcessingFailed\",\"data\":\"\"},"
                       "{\"recordId\":\"0\",\"result\":\"Ok\",\"data\":\"aGk=\","
                       "\"metadata\":{\"partitionKeys\":{\"k\":\"v\",\"j\":\"w\"}}},"
                       "{\"recordId\":\"1\",\"result\":\"Dropped\"}]}";
    assert_int_equal(parse(body, 3, out, &code, &err), 0);
    assert_int_equal(out[0].result, LAMBDA_OK);
    assert_int_equal(out[0].len, 2);
    assert_memory_equal(out[0].data, "hi", 2);
    assert_string_equal(json_string_value(json_object_get(out[0].keys, "k")), "v");
    assert_int_equal(out[1].result, LAMBDA_DROPPED);
    assert_int_equal(out[2].result, LAMBDA_FAILED);
    lambda_out_fini(out, 3);
    /* Ok without metadata, with empty data. */
    assert_int_equal(parse("{\"records\":[{\"recordId\":\"0\",\"result\":\"Ok\",\"data\":\"\"}]}",
                           1, out, &code, &err),
                     0);
    assert_null(out[0].keys);
    assert_int_equal(out[0].len, 0);
    lambda_out_fini(out, 1);
}

static void answer_failures(void **state)
{
    (void)state;
    struct {
        const char *body;
        size_t n;
        const char *code;
    } cases[] = {
        {"not json", 1, LAMBDA_E_JSON},
        {"{\"recs\":[]}", 1, LAMBDA_E_JSON},
        {"{\"records\":{}}", 1, LAMBDA_E_JSON},
        {"[1,2]", 1, LAMBDA_E_JSON},
        {"{\"records\":[7]}", 1, LAMBDA_E_JSON},
        {"{\"records\":[{\"result\":\"Ok\",\"data\":\"\"}]}", 1, LAMBDA_E_JSON},
        {"{\"records\":[{\"recordId\":0,\"result\":\"Ok\",\"data\":\"\"}]}", 1, LAMBDA_E_JSON},
        {"{\"records\":[{\"recordId\":\"0\",\"data\":\"\"}]}", 1, LAMBDA_E_JSON},
        {"{\"records\":[{\"recordId\":\"0\",\"result\":\"OK\",\"data\":\"\"}]}", 1, LAMBDA_E_JSON},
        {"{\"records\":[{\"recordId\":\"0\",\"result\":\"Ok\"}]}", 1, LAMBDA_E_JSON},
        {"{\"records\":[{\"recordId\":\"0\",\"result\":\"Ok\",\"data\":\"!!\"}]}", 1,
         LAMBDA_E_JSON},
        {"{\"records\":[{\"recordId\":\"0\",\"result\":\"Ok\",\"data\":\"\","
         "\"metadata\":{\"partitionKeys\":[1]}}]}",
         1, LAMBDA_E_JSON},
        {"{\"records\":[{\"recordId\":\"0\",\"result\":\"Ok\",\"data\":\"\","
         "\"metadata\":{\"partitionKeys\":{\"k\":1}}}]}",
         1, LAMBDA_E_JSON},
        {"{\"records\":[]}", 2, LAMBDA_E_MISSING_ID},
        {"{\"records\":[{\"recordId\":\"1\",\"result\":\"Dropped\"}]}", 2, LAMBDA_E_MISSING_ID},
        {"{\"records\":[{\"recordId\":\"5\",\"result\":\"Dropped\"}]}", 1, LAMBDA_E_MISSING_ID},
        {"{\"records\":[{\"recordId\":\"00\",\"result\":\"Dropped\"}]}", 1, LAMBDA_E_MISSING_ID},
        {"{\"records\":[{\"recordId\":\"0\",\"result\":\"Dropped\"},"
         "{\"recordId\":\"0\",\"result\":\"Dropped\"}]}",
         1, LAMBDA_E_DUPLICATED_ID},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct lambda_out out[2];
        const char *code;
        struct err_info err;
        assert_int_equal(parse(cases[i].body, cases[i].n, out, &code, &err), -1);
        if (strcmp(code, cases[i].code) != 0) {
            fail_msg("case %zu (%s): %s, want %s", i, cases[i].body, code, cases[i].code);
        }
        assert_true(err.message[0] != '\0');
        for (size_t k = 0; k < cases[i].n; k++) {
            assert_null(out[k].data);
            assert_null(out[k].keys);
        }
    }
}

static void function_names_from_arns(void **state)
{
    (void)state;
    char name[65];
    assert_int_equal(lambda_function_name("arn:aws:lambda:us-east-1:123456789012:function:f", name,
                                          sizeof(name)),
                     0);
    assert_string_equal(name, "f");
    assert_int_equal(
        lambda_function_name("arn:aws:lambda:us-east-1:123456789012:function:my-fn:$LATEST", name,
                             sizeof(name)),
        0);
    assert_string_equal(name, "my-fn");
    assert_int_equal(lambda_function_name("bare", name, sizeof(name)), 0);
    assert_string_equal(name, "bare");
    const char *bad[] = {"arn:aws:s3:::bucket", "arn:aws:lambda:r:1:layer:x",
                         "arn:aws:lambda:r:1:function:", "arn:aws:lambda:r", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(lambda_function_name(bad[i], name, sizeof(name)), -1);
    }
}

/* ---- the HTTP client against a canned server ---- */

struct canned {
    int fd;
    const char *answer; /* NULL: read the request, then say nothing until closed */
    char request[4096];
};

static void *canned_main(void *arg)
{
    struct canned *c = arg;
    int conn = accept(c->fd, NULL, NULL);
    if (conn < 0) {
        return NULL;
    }
    size_t got = 0;
    while (got < sizeof(c->request) - 1) {
        ssize_t r = recv(conn, c->request + got, sizeof(c->request) - 1 - got, 0);
        if (r <= 0) {
            break;
        }
        got += (size_t)r;
        c->request[got] = 0;
        char *body = strstr(c->request, "\r\n\r\n");
        char *cl = strstr(c->request, "Content-Length: ");
        if (body != NULL && cl != NULL &&
            got >= (size_t)(body + 4 - c->request) + strtoul(cl + 16, NULL, 10)) {
            break;
        }
    }
    if (c->answer != NULL) {
        send(conn, c->answer, strlen(c->answer), MSG_NOSIGNAL);
    } else {
        char x;
        (void)recv(conn, &x, 1, 0); /* until the client gives up */
    }
    close(conn);
    return NULL;
}

/* Listens on 127.0.0.1 (an ephemeral port, written to url). */
static int listen_local(char *url, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 4), 0);
    socklen_t len = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    snprintf(url, size, "http://127.0.0.1:%d/fn", ntohs(a.sin_port));
    return fd;
}

/* POSTs "{}" to a canned server answering answer; returns the client's rc. */
static int post_to(const char *answer, int64_t timeout_ms, int *status, struct buf *resp,
                   struct err_info *err, char *request)
{
    char url[64];
    struct canned c = {.answer = answer};
    c.fd = listen_local(url, sizeof(url));
    pthread_t t;
    pthread_create(&t, NULL, canned_main, &c);
    err_clear(err);
    int rc = lambda_http_post(url, "{}", 2, timeout_ms, NULL, NULL, status, resp, err);
    pthread_join(t, NULL);
    close(c.fd);
    if (request != NULL) {
        strcpy(request, c.request);
    }
    return rc;
}

static void http_post_reads_status_and_body(void **state)
{
    (void)state;
    struct buf resp;
    buf_init(&resp);
    struct err_info err;
    int status = 0;
    char request[4096];
    assert_int_equal(post_to("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 5000, &status,
                             &resp, &err, request),
                     0);
    assert_int_equal(status, 200);
    assert_string_equal((const char *)resp.data, "hello");
    assert_non_null(strstr(request, "POST /fn HTTP/1.1\r\n"));
    assert_non_null(strstr(request, "Content-Type: application/json\r\n"));
    assert_non_null(strstr(request, "\r\n\r\n{}"));
    /* No Content-Length: the body ends with the connection. A non-2xx status is returned. */
    assert_int_equal(post_to("HTTP/1.0 500 Oops\r\n\r\nbroken", 5000, &status, &resp, &err, NULL),
                     0);
    assert_int_equal(status, 500);
    assert_string_equal((const char *)resp.data, "broken");
    buf_fini(&resp);
}

static void http_post_failures(void **state)
{
    (void)state;
    struct buf resp;
    buf_init(&resp);
    struct err_info err;
    int status = 0;
    /* Not HTTP; a body cut short; a chunked answer; silence past the timeout. */
    assert_int_equal(post_to("garbage\r\n\r\n", 5000, &status, &resp, &err, NULL), -1);
    assert_non_null(strstr(err.message, "not HTTP"));
    assert_int_equal(post_to("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort", 5000, &status,
                             &resp, &err, NULL),
                     -1);
    assert_non_null(strstr(err.message, "closed"));
    assert_int_equal(post_to("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 5000,
                             &status, &resp, &err, NULL),
                     -1);
    assert_int_equal(post_to(NULL, 300, &status, &resp, &err, NULL), -1);
    assert_non_null(strstr(err.message, "timed out"));
    /* Refused: a port that was just closed. */
    char url[64];
    int fd = listen_local(url, sizeof(url));
    close(fd);
    assert_int_equal(lambda_http_post(url, "{}", 2, 5000, NULL, NULL, &status, &resp, &err), -1);
    assert_non_null(strstr(err.message, "cannot connect"));
    /* Not an http:// URL. */
    assert_int_equal(
        lambda_http_post("https://x/", "{}", 2, 5000, NULL, NULL, &status, &resp, &err), -1);
    buf_fini(&resp);
}

static int always(void *arg)
{
    (void)arg;
    return 1;
}

static void http_post_cancelled(void **state)
{
    (void)state;
    /* A listener that never accepts: the connection is made, the answer never comes. */
    char url[64];
    int fd = listen_local(url, sizeof(url));
    struct buf resp;
    buf_init(&resp);
    struct err_info err;
    int status;
    err_clear(&err);
    assert_int_equal(lambda_http_post(url, "{}", 2, 60000, always, NULL, &status, &resp, &err), -1);
    assert_non_null(strstr(err.message, "cancelled"));
    close(fd);
    buf_fini(&resp);
}

/* ---- the Decompression processor's gunzip ---- */

static void gzip_records_are_decompressed_and_damage_is_refused(void **state)
{
    (void)state;
    struct buf z, out;
    buf_init(&z);
    buf_init(&out);
    const char *why = NULL;
    assert_int_equal(compress_gzip((const uint8_t *)"hello", 5, &z), 0);
    assert_int_equal(decompress_gzip(z.data, z.len, 100, &out, &why), 0);
    assert_int_equal(out.len, 5);
    assert_memory_equal(out.data, "hello", 5);
    /* Members end to end, appended after what out held. */
    assert_int_equal(compress_gzip((const uint8_t *)"!", 1, &z), 0);
    assert_int_equal(decompress_gzip(z.data, z.len, 100, &out, &why), 0);
    assert_int_equal(out.len, 11);
    assert_memory_equal(out.data, "hellohello!", 11);
    /* Refused, out left as it was: not gzip, truncated, damaged, trailing bytes, too big. */
    size_t before = out.len;
    assert_int_equal(decompress_gzip((const uint8_t *)"plain", 5, 100, &out, &why),
                     SL_E(INVALID_ARGUMENT));
    assert_non_null(strstr(why, "not a gzip stream"));
    assert_int_equal(decompress_gzip(z.data, z.len - 3, 100, &out, &why), SL_E(INVALID_ARGUMENT));
    assert_non_null(strstr(why, "truncated"));
    uint8_t bad[64];
    memcpy(bad, z.data, z.len < sizeof(bad) ? z.len : sizeof(bad));
    bad[12] ^= 0xff;
    assert_int_equal(
        decompress_gzip(bad, z.len < sizeof(bad) ? z.len : sizeof(bad), 100, &out, &why),
        SL_E(INVALID_ARGUMENT));
    buf_append(&z, "xx", 2);
    assert_int_equal(decompress_gzip(z.data, z.len, 100, &out, &why), SL_E(INVALID_ARGUMENT));
    assert_non_null(strstr(why, "after the end"));
    static uint8_t zeros[1 << 20];
    buf_reset(&z);
    assert_int_equal(compress_gzip(zeros, sizeof(zeros), &z), 0);
    assert_true(z.len < 4096);
    assert_int_equal(decompress_gzip(z.data, z.len, 1000, &out, &why), SL_E(INVALID_ARGUMENT));
    assert_non_null(strstr(why, "too large"));
    assert_int_equal(out.len, before);
    buf_fini(&z);
    buf_fini(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gzip_records_are_decompressed_and_damage_is_refused),
        cmocka_unit_test(kpl_user_records_with_their_keys_and_numbers),
        cmocka_unit_test(kpl_corrupt_aggregates_pass_through_whole),
        cmocka_unit_test(kpl_empty_aggregate_has_no_records),
        cmocka_unit_test(json_objects_are_split),
        cmocka_unit_test(json_split_is_capped_at_500),
        cmocka_unit_test(delimited_records_are_split),
        cmocka_unit_test(conversion_errors_carry_the_sub_sequence_number),
        cmocka_unit_test(event_has_aws_shape),
        cmocka_unit_test(answer_results_and_keys),
        cmocka_unit_test(answer_failures),
        cmocka_unit_test(function_names_from_arns),
        cmocka_unit_test(http_post_reads_status_and_body),
        cmocka_unit_test(http_post_failures),
        cmocka_unit_test(http_post_cancelled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
