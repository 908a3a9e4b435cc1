/*
 * Enhanced fan-out: the event-stream message encoder, checked against an independent
 * CRC-32 and AWS's published empty-message vector, and the consumer and subscription
 * rules of the Kinesis adapter on a stream service with a fake clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/store.h"
#include "http/api.h"
#include "http/eventstream.h"
#include "stream/kinesis_api.h"
#include "stream/stream.h"

/* ---- an independent decoder ---- */

/* CRC-32 (ISO-HDLC) bit by bit, with nothing shared with the code under test. */
static uint32_t crc32_bitwise(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) {
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
        }
    }
    return ~crc;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

struct decoded {
    char names[8][64];
    char values[8][256];
    int n_headers;
    const uint8_t *payload;
    size_t payload_len;
    size_t total;
};

/* Decodes the message at p (n bytes available), checking lengths and both CRCs. */
static void decode(const uint8_t *p, size_t n, struct decoded *d)
{
    memset(d, 0, sizeof(*d));
    assert_true(n >= 16);
    uint32_t total = be32(p), headers_len = be32(p + 4);
    assert_true(total <= n);
    assert_int_equal(be32(p + 8), crc32_bitwise(p, 8));
    assert_int_equal(be32(p + total - 4), crc32_bitwise(p, total - 4));
    const uint8_t *h = p + 12, *end = p + 12 + headers_len;
    while (h < end) {
        assert_true(d->n_headers < 8);
        size_t nlen = *h++;
        memcpy(d->names[d->n_headers], h, nlen);
        h += nlen;
        assert_int_equal(*h++, 7); /* string */
        size_t vlen = (size_t)h[0] << 8 | h[1];
        h += 2;
        assert_true(vlen < 256);
        memcpy(d->values[d->n_headers], h, vlen);
        h += vlen;
        d->n_headers++;
    }
    assert_ptr_equal(h, end);
    d->payload = end;
    d->payload_len = total - 16 - headers_len;
    d->total = total;
}

static const char *header(const struct decoded *d, const char *name)
{
    for (int i = 0; i < d->n_headers; i++) {
        if (strcmp(d->names[i], name) == 0) {
            return d->values[i];
        }
    }
    return NULL;
}

/* ---- the encoder ---- */

static void the_bitwise_crc_is_crc32(void **state)
{
    (void)state;
    assert_int_equal(crc32_bitwise((const uint8_t *)"123456789", 9), 0xcbf43926u);
}

static void an_empty_message_matches_the_published_vector(void **state)
{
    (void)state;
    /* AWS's event-stream test vector "empty_message" */
    static const uint8_t want[] = {0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00,
                                   0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8, 0xff};
    struct buf b;
    buf_init(&b);
    assert_int_equal(evs_message(&b, NULL, 0, NULL, 0), 0);
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.data, want, sizeof(want));
    buf_fini(&b);
}

static void headers_and_payload_are_laid_out_as_the_format_says(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "x"); /* appends after what is there */
    assert_int_equal(evs_event(&b, "SubscribeToShardEvent", "application/json", "{\"a\":1}", 7), 0);
    const uint8_t *m = b.data + 1;
    /* 12 prelude + (1+11+1+2+21) + (1+13+1+2+16) + (1+13+1+2+5) + 7 payload + 4 CRC */
    size_t headers_len = 36 + 33 + 22;
    assert_int_equal(b.len - 1, 12 + headers_len + 7 + 4);
    assert_int_equal(be32(m), b.len - 1);
    assert_int_equal(be32(m + 4), headers_len);
    static const uint8_t first[] = {11,  ':', 'e', 'v', 'e', 'n', 't', '-',
                                    't', 'y', 'p', 'e', 7,   0,   21};
    assert_memory_equal(m + 12, first, sizeof(first));
    struct decoded d;
    decode(m, b.len - 1, &d);
    assert_int_equal(d.n_headers, 3);
    assert_string_equal(header(&d, ":event-type"), "SubscribeToShardEvent");
    assert_string_equal(header(&d, ":content-type"), "application/json");
    assert_string_equal(header(&d, ":message-type"), "event");
    assert_int_equal(d.payload_len, 7);
    assert_memory_equal(d.payload, "{\"a\":1}", 7);
    buf_fini(&b);
}

static void exceptions_and_bad_headers(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    assert_int_equal(evs_exception(&b, "ResourceInUseException", "application/json", "{}", 2), 0);
    struct decoded d;
    decode(b.data, b.len, &d);
    assert_string_equal(header(&d, ":exception-type"), "ResourceInUseException");
    assert_string_equal(header(&d, ":message-type"), "exception");
    char long_name[300];
    memset(long_name, 'n', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    struct evs_header bad[] = {{long_name, "v"}};
    size_t before = b.len;
    assert_int_equal(evs_message(&b, bad, 1, NULL, 0), SL_E(INVALID_ARGUMENT));
    assert_int_equal(b.len, before); /* nothing appended */
    buf_fini(&b);
}

/* ---- consumers and subscriptions through the adapter ---- */

#define STREAM_FIXTURE_EXTRA                                                                       \
    struct api_json_service *api;                                                                  \
    char stream_arn[256];
#include "stream_fixture.h"

static int open_all(struct fixture *f)
{
    if (open_service(f) < 0) {
        return -1;
    }
    f->api = kinesis_api_create(f->svc);
    return 0;
}

static void close_all(struct fixture *f)
{
    kinesis_api_destroy(f->api);
    stream_service_close(f->svc);
}

/* Calls operation op with the JSON text in; returns its code, *out its output. */
static int call_op(struct fixture *f, const char *op, const char *in, json_t **out,
                   struct api_response *resp, char *message, size_t message_size)
{
    struct api_request req = {.request_id = "test",
                              .method = "POST",
                              .path = "/",
                              .query = "",
                              .host = "",
                              .body_fd = -1,
                              .account_id = "000000000000",
                              .region = "us-east-1",
                              .now_ms = f->now_ms};
    struct api_call call = {.req = &req, .resp = resp, .service_ctx = f->api->ctx};
    json_t *input = json_loads(in, 0, NULL);
    assert_non_null(input);
    *out = NULL;
    int rc = SL_E(UNKNOWN_OPERATION);
    for (size_t i = 0; i < f->api->n_ops; i++) {
        if (strcmp(f->api->ops[i].name, op) == 0) {
            call.operation = op;
            rc = f->api->ops[i].fn(&call, input, out);
        }
    }
    json_decref(input);
    if (message != NULL) {
        snprintf(message, message_size, "%s", call.err.message);
    }
    return rc;
}

/* An operation expected to succeed; its output (caller json_decref's). */
static json_t *ok(struct fixture *f, const char *op, const char *fmt, ...)
{
    char in[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(in, sizeof(in), fmt, ap);
    va_end(ap);
    struct api_response resp = {.body_fd = -1};
    json_t *out;
    char msg[512];
    int rc = call_op(f, op, in, &out, &resp, msg, sizeof(msg));
    if (rc != 0) {
        fail_msg("%s %s: %s", op, in, msg);
    }
    assert_null(resp.stream);
    return out != NULL ? out : json_object();
}

/* An operation expected to fail with code. */
static void fails(struct fixture *f, int code, const char *op, const char *fmt, ...)
{
    char in[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(in, sizeof(in), fmt, ap);
    va_end(ap);
    struct api_response resp = {.body_fd = -1};
    json_t *out;
    assert_int_equal(call_op(f, op, in, &out, &resp, NULL, 0), code);
    assert_null(resp.stream);
    json_decref(out);
}

static int setup(void **state)
{
    struct fixture *f = stream_fixture_new("test_kinesis_efo");
    if (f == NULL) {
        return -1;
    }
    f->cfg.throughput_limits = 0; /* the clock stands still here; test_throttle has the rates */
    if (stream_fixture_open(f, open_all) < 0) {
        return -1;
    }
    json_decref(ok(f, "CreateStream", "{\"StreamName\":\"s\",\"ShardCount\":1}"));
    f->now_ms += TRANSITION_MS;
    snprintf(f->stream_arn, sizeof(f->stream_arn),
             "arn:aws:kinesis:us-east-1:000000000000:stream/s");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    return stream_fixture_destroy(*state, close_all);
}

static const char *status_of(json_t *description)
{
    return json_string_value(
        json_object_get(json_object_get(description, "ConsumerDescription"), "ConsumerStatus"));
}

/* Registers consumer name; its ARN into arn. */
static void register_consumer(struct fixture *f, const char *name, char *arn, size_t size)
{
    json_t *out = ok(f, "RegisterStreamConsumer", "{\"StreamARN\":\"%s\",\"ConsumerName\":\"%s\"}",
                     f->stream_arn, name);
    json_t *c = json_object_get(out, "Consumer");
    assert_string_equal(json_string_value(json_object_get(c, "ConsumerStatus")), "CREATING");
    snprintf(arn, size, "%s", json_string_value(json_object_get(c, "ConsumerARN")));
    json_decref(out);
}

static void consumers_are_timed_and_limited(void **state)
{
    struct fixture *f = *state;
    char arn[512], want[512];
    register_consumer(f, "c", arn, sizeof(arn));
    snprintf(want, sizeof(want), "%s/consumer/c:%lld", f->stream_arn,
             (long long)(f->now_ms / 1000));
    assert_string_equal(arn, want);
    json_t *d = ok(f, "DescribeStreamConsumer", "{\"ConsumerARN\":\"%s\"}", arn);
    assert_string_equal(status_of(d), "CREATING");
    json_decref(d);
    fails(f, SL_E(RESOURCE_IN_USE), "SubscribeToShard",
          "{\"ConsumerARN\":\"%s\",\"ShardId\":\"shardId-000000000000\","
          "\"StartingPosition\":{\"Type\":\"LATEST\"}}",
          arn);
    f->now_ms += TRANSITION_MS;
    d = ok(f, "DescribeStreamConsumer", "{\"StreamARN\":\"%s\",\"ConsumerName\":\"c\"}",
           f->stream_arn);
    assert_string_equal(status_of(d), "ACTIVE");
    json_decref(d);
    fails(f, SL_E(RESOURCE_IN_USE), "RegisterStreamConsumer",
          "{\"StreamARN\":\"%s\",\"ConsumerName\":\"c\"}", f->stream_arn);
    for (int i = 1; i < 20; i++) {
        char name[16], other[512];
        snprintf(name, sizeof(name), "c%02d", i);
        register_consumer(f, name, other, sizeof(other));
        if (i % 5 == 0) {
            f->now_ms += TRANSITION_MS; /* at most 5 in CREATING at once */
        }
    }
    fails(f, SL_E(LIMIT_EXCEEDED), "RegisterStreamConsumer",
          "{\"StreamARN\":\"%s\",\"ConsumerName\":\"extra\"}", f->stream_arn);
    json_t *s = ok(f, "DescribeStreamSummary", "{\"StreamName\":\"s\"}");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(s, "StreamDescriptionSummary"), "ConsumerCount")),
                     20);
    json_decref(s);
    /* deregistered: DELETING for the transition time, then gone and its place free */
    json_decref(ok(f, "DeregisterStreamConsumer", "{\"ConsumerARN\":\"%s\"}", arn));
    d = ok(f, "DescribeStreamConsumer", "{\"ConsumerARN\":\"%s\"}", arn);
    assert_string_equal(status_of(d), "DELETING");
    json_decref(d);
    fails(f, SL_E(LIMIT_EXCEEDED), "RegisterStreamConsumer",
          "{\"StreamARN\":\"%s\",\"ConsumerName\":\"extra\"}", f->stream_arn);
    f->now_ms += TRANSITION_MS;
    fails(f, SL_E(RESOURCE_NOT_FOUND), "DescribeStreamConsumer", "{\"ConsumerARN\":\"%s\"}", arn);
    register_consumer(f, "extra", want, sizeof(want));
}

static void at_most_five_consumers_are_creating_at_once(void **state)
{
    struct fixture *f = *state;
    char arn[512];
    for (int i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof(name), "new%d", i);
        register_consumer(f, name, arn, sizeof(arn));
    }
    fails(f, SL_E(LIMIT_EXCEEDED), "RegisterStreamConsumer",
          "{\"StreamARN\":\"%s\",\"ConsumerName\":\"sixth\"}", f->stream_arn);
    /* the refused one was not registered */
    fails(f, SL_E(RESOURCE_NOT_FOUND), "DescribeStreamConsumer",
          "{\"StreamARN\":\"%s\",\"ConsumerName\":\"sixth\"}", f->stream_arn);
    /* one deregistered (DELETING) no longer counts */
    json_decref(ok(f, "DeregisterStreamConsumer", "{\"ConsumerARN\":\"%s\"}", arn));
    register_consumer(f, "sixth", arn, sizeof(arn));
    fails(f, SL_E(LIMIT_EXCEEDED), "RegisterStreamConsumer",
          "{\"StreamARN\":\"%s\",\"ConsumerName\":\"seventh\"}", f->stream_arn);
    /* once they are ACTIVE there is room again */
    f->now_ms += TRANSITION_MS;
    register_consumer(f, "seventh", arn, sizeof(arn));
}

static void consumers_survive_a_reopen_and_go_with_their_stream(void **state)
{
    struct fixture *f = *state;
    char arn[512];
    register_consumer(f, "kept", arn, sizeof(arn));
    close_all(f);
    assert_int_equal(open_all(f), 0);
    f->now_ms += TRANSITION_MS;
    json_t *d = ok(f, "DescribeStreamConsumer", "{\"ConsumerARN\":\"%s\"}", arn);
    assert_string_equal(status_of(d), "ACTIVE");
    json_decref(d);
    fails(f, SL_E(RESOURCE_IN_USE), "DeleteStream", "{\"StreamName\":\"s\"}");
    json_decref(ok(f, "DeleteStream", "{\"StreamName\":\"s\",\"EnforceConsumerDeletion\":true}"));
    f->now_ms += TRANSITION_MS;
    json_decref(ok(f, "CreateStream", "{\"StreamName\":\"s\",\"ShardCount\":1}"));
    f->now_ms += TRANSITION_MS;
    json_t *l = ok(f, "ListStreamConsumers", "{\"StreamARN\":\"%s\"}", f->stream_arn);
    assert_int_equal(json_array_size(json_object_get(l, "Consumers")), 0);
    json_decref(l);
}

/* Subscribes arn to shard 0 at position (JSON); the body (the response keeps it). */
static int subscribe(struct fixture *f, const char *arn, const char *position,
                     struct api_response *resp)
{
    json_t *out;
    char in[1024];
    snprintf(in, sizeof(in),
             "{\"ConsumerARN\":\"%s\",\"ShardId\":\"shardId-000000000000\","
             "\"StartingPosition\":%s}",
             arn, position);
    memset(resp, 0, sizeof(*resp));
    resp->body_fd = -1;
    int rc = call_op(f, "SubscribeToShard", in, &out, resp, NULL, 0);
    json_decref(out);
    return rc;
}

static void end_subscription(struct api_response *resp)
{
    resp->stream->close(resp->stream->arg);
    for (size_t i = 0; i < resp->n_headers; i++) {
        free((char *)resp->headers[i].name);
        free((char *)resp->headers[i].value);
    }
    free(resp->headers);
}

/* The next message of a subscription's body, decoded (the event's JSON into *json). */
static int next_message(struct api_response *resp, struct buf *b, struct decoded *d, json_t **json)
{
    buf_reset(b);
    int rc = resp->stream->next(resp->stream->arg, b, 10);
    *json = NULL;
    if (b->len > 0) {
        decode(b->data, b->len, d);
        *json = json_loadb((const char *)d->payload, d->payload_len, 0, NULL);
    }
    return rc;
}

static void put(struct fixture *f, const char *data_b64)
{
    json_t *in =
        json_pack("{s:s, s:s, s:s}", "StreamName", "s", "PartitionKey", "k", "Data", data_b64);
    char *text = json_dumps(in, 0);
    struct api_request req = {
        .account_id = "000000000000", .region = "us-east-1", .now_ms = f->now_ms, .body_fd = -1};
    struct api_response resp = {.body_fd = -1};
    struct api_call call = {.req = &req, .resp = &resp, .service_ctx = f->api->ctx};
    struct buf out;
    buf_init(&out);
    for (size_t i = 0; i < f->api->n_ops; i++) {
        if (strcmp(f->api->ops[i].name, "PutRecord") == 0) {
            assert_int_equal(
                f->api->ops[i].raw_fn(&call, (const uint8_t *)text, strlen(text), &out), 0);
        }
    }
    buf_fini(&out);
    free(text);
    json_decref(in);
}

static void a_subscription_streams_events_and_heartbeats_then_ends(void **state)
{
    struct fixture *f = *state;
    char arn[512];
    register_consumer(f, "sub", arn, sizeof(arn));
    f->now_ms += TRANSITION_MS;
    put(f, "AA=="); /* one byte, 0x00 */
    struct api_response resp;
    assert_int_equal(subscribe(f, arn, "{\"Type\":\"TRIM_HORIZON\"}", &resp), 0);
    assert_non_null(resp.stream);
    assert_string_equal(resp.headers[0].value, "application/vnd.amazon.eventstream");
    struct buf b;
    buf_init(&b);
    struct decoded d;
    json_t *j;
    /* first: initial-response, then at once an event with what the shard holds */
    assert_int_equal(next_message(&resp, &b, &d, &j), 1);
    assert_string_equal(header(&d, ":event-type"), "initial-response");
    assert_true(d.total < b.len);
    json_decref(j);
    struct decoded e;
    decode(b.data + d.total, b.len - d.total, &e);
    assert_string_equal(header(&e, ":event-type"), "SubscribeToShardEvent");
    j = json_loadb((const char *)e.payload, e.payload_len, 0, NULL);
    json_t *recs = json_object_get(j, "Records");
    assert_int_equal(json_array_size(recs), 1);
    const char *seq0 =
        json_string_value(json_object_get(json_array_get(recs, 0), "SequenceNumber"));
    assert_string_equal(json_string_value(json_object_get(j, "ContinuationSequenceNumber")), seq0);
    json_decref(j);
    /* a second subscription within five seconds is refused, the first stays */
    struct api_response second;
    assert_int_equal(subscribe(f, arn, "{\"Type\":\"LATEST\"}", &second), SL_E(RESOURCE_IN_USE));
    /* nothing new: nothing sent until the heartbeat is due */
    assert_int_equal(next_message(&resp, &b, &d, &j), 1);
    assert_int_equal(b.len, 0);
    f->now_ms += 5000;
    assert_int_equal(next_message(&resp, &b, &d, &j), 1);
    assert_int_equal(json_array_size(json_object_get(j, "Records")), 0);
    json_decref(j);
    /* a record is sent as soon as it is durable */
    put(f, "AQ==");
    assert_int_equal(next_message(&resp, &b, &d, &j), 1);
    assert_int_equal(json_array_size(json_object_get(j, "Records")), 1);
    json_decref(j);
    /* five minutes on, the body ends cleanly */
    f->now_ms += 5 * 60 * 1000;
    assert_int_equal(next_message(&resp, &b, &d, &j), 0);
    assert_int_equal(b.len, 0);
    end_subscription(&resp);
    buf_fini(&b);
}

static void a_later_subscription_takes_over_with_an_exception_event(void **state)
{
    struct fixture *f = *state;
    char arn[512];
    register_consumer(f, "take", arn, sizeof(arn));
    f->now_ms += TRANSITION_MS;
    struct api_response first, second;
    assert_int_equal(subscribe(f, arn, "{\"Type\":\"LATEST\"}", &first), 0);
    struct buf b;
    buf_init(&b);
    struct decoded d;
    json_t *j;
    assert_int_equal(next_message(&first, &b, &d, &j), 1);
    json_decref(j);
    f->now_ms += 5000;
    assert_int_equal(subscribe(f, arn, "{\"Type\":\"LATEST\"}", &second), 0);
    assert_int_equal(next_message(&first, &b, &d, &j), 0);
    assert_string_equal(header(&d, ":message-type"), "exception");
    assert_string_equal(header(&d, ":exception-type"), "ResourceInUseException");
    json_decref(j);
    end_subscription(&first);
    /* the first one's end leaves the second in place */
    struct api_response third;
    assert_int_equal(subscribe(f, arn, "{\"Type\":\"LATEST\"}", &third), SL_E(RESOURCE_IN_USE));
    end_subscription(&second);
    /* once it ends another may start at once */
    assert_int_equal(subscribe(f, arn, "{\"Type\":\"LATEST\"}", &third), 0);
    end_subscription(&third);
    buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_bitwise_crc_is_crc32),
        cmocka_unit_test(an_empty_message_matches_the_published_vector),
        cmocka_unit_test(headers_and_payload_are_laid_out_as_the_format_says),
        cmocka_unit_test(exceptions_and_bad_headers),
        cmocka_unit_test_setup_teardown(consumers_are_timed_and_limited, setup, teardown),
        cmocka_unit_test_setup_teardown(at_most_five_consumers_are_creating_at_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(consumers_survive_a_reopen_and_go_with_their_stream, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_subscription_streams_events_and_heartbeats_then_ends,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_later_subscription_takes_over_with_an_exception_event,
                                        setup, teardown),
    };
    return cmocka_run_group_tests_name("kinesis_efo", tests, NULL, NULL);
}
