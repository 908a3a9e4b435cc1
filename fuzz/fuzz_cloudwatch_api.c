/*
 * Fuzz target for CloudWatch's request parsing (metrics/cloudwatch_api.c and the alarm
 * handlers behind it): the first byte picks the protocol and the operation, the rest
 * is the request as it reaches the handler — a JSON document (awsJson 1.0), an RPC v2
 * CBOR body, or an awsQuery form whose "A.member.N.B" names the adapter folds into
 * the same input. GetMetricData takes its MetricDataQueries and metric math
 * expressions from here. The store holds a few data points from the start; an alarm a
 * request creates is deleted after it, so every input meets the same state.
 */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/cbor.h"
#include "core/config.h"
#include "core/log.h"
#include "core/store.h"
#include "core/text.h"
#include "http/api.h"
#include "metrics/metrics.h"

/* As the router keeps form fields (http/router.c). */
struct api_params {
    struct query_params q;
};

static char dir[64];
static struct store *st;
static struct metrics *m;
static struct api_json_service *json_api;
static struct api_query_service *query_api;

#define FZ_NOW_MS 1764410400000 /* 2025-11-29T10:00:00Z: the seeds' times are near it */

static int64_t fixed_clock(void *arg)
{
    (void)arg;
    return FZ_NOW_MS;
}

static const struct api_json_op *json_op(const char *name)
{
    for (size_t k = 0; k < json_api->n_ops; k++) {
        if (strcmp(json_api->ops[k].name, name) == 0) {
            return &json_api->ops[k];
        }
    }
    abort();
}

/* A call with a request and a response, as the router makes it. */
#define FZ_CALL(c, ctx)                                                                            \
    struct api_request req = {                                                                     \
        .region = "us-east-1", .account_id = "000000000000", .now_ms = FZ_NOW_MS};                 \
    struct api_response resp = {.status = 200, .body_fd = -1};                                     \
    struct api_call c = {.req = &req, .resp = &resp, .service_ctx = (ctx)};

static void fz_resp_fini(struct api_response *resp)
{
    for (size_t i = 0; i < resp->n_headers; i++) {
        free((char *)resp->headers[i].name);
        free((char *)resp->headers[i].value);
    }
    free(resp->headers);
    buf_fini(&resp->body);
}

static int run_json(const char *op, const char *text)
{
    FZ_CALL(c, json_api->ctx)
    err_clear(&c.err);
    json_t *in = json_loads(text, 0, NULL);
    json_t *out = NULL;
    int rc = json_op(op)->fn(&c, in, &out);
    if (rc != 0) {
        fprintf(stderr, "fuzz setup: %s: %s\n", op, c.err.message);
    }
    json_decref(in);
    json_decref(out);
    fz_resp_fini(&resp);
    return rc;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* The store's directory goes when the fuzzer exits (tmpfs is memory). */
static void remove_dir(void)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level(LOG_ERROR + 1);
    /* on tmpfs when there is one: the store syncs every write */
    struct stat shm;
    snprintf(dir, sizeof(dir), "%s/sluice-fuzz-cloudwatch-XXXXXX",
             stat("/dev/shm", &shm) == 0 && S_ISDIR(shm.st_mode) ? "/dev/shm" : "/tmp");
    if (mkdtemp(dir) == NULL) {
        abort();
    }
    atexit(remove_dir);
    char path[600];
    snprintf(path, sizeof(path), "%s/sluice.db", dir);
    struct metrics_options o = {.now_ms = fixed_clock};
    if (store_open(path, &st) < 0) {
        abort();
    }
    o.store = st;
    if (metrics_open(&o, &m) < 0) {
        abort();
    }
    json_api = cloudwatch_json_api_create(m);
    query_api = cloudwatch_query_api_create(m);
    if (run_json("PutMetricData",
                 "{\"Namespace\":\"App\",\"MetricData\":["
                 "{\"MetricName\":\"Latency\",\"Value\":12.5,\"Unit\":\"Milliseconds\","
                 "\"Timestamp\":1764409800,\"Dimensions\":[{\"Name\":\"Host\",\"Value\":\"a\"}]},"
                 "{\"MetricName\":\"Latency\",\"Values\":[1,2,3],\"Counts\":[1,2,1],"
                 "\"Timestamp\":1764409860,\"Dimensions\":[{\"Name\":\"Host\",\"Value\":\"a\"}]},"
                 "{\"MetricName\":\"Errors\",\"StatisticValues\":{\"SampleCount\":2,\"Sum\":3,"
                 "\"Minimum\":1,\"Maximum\":2},\"Timestamp\":1764409920}]}") != 0 ||
        run_json("PutMetricAlarm",
                 "{\"AlarmName\":\"base\",\"Namespace\":\"App\",\"MetricName\":\"Errors\","
                 "\"Statistic\":\"Sum\",\"Period\":60,\"EvaluationPeriods\":1,\"Threshold\":1,"
                 "\"ComparisonOperator\":\"GreaterThanThreshold\"}") != 0) {
        abort();
    }
    return 0;
}

/* Deletes what a successful Put*Alarm made, so the next input starts from the same
   alarms (the seeded one stays). */
static void undo_alarm(const char *op, json_t *in)
{
    const char *name = json_string_value(json_object_get(in, "AlarmName"));
    if (name == NULL || strcmp(name, "base") == 0 ||
        (strcmp(op, "PutMetricAlarm") != 0 && strcmp(op, "PutCompositeAlarm") != 0)) {
        return;
    }
    json_t *del = json_pack("{s:[s]}", "AlarmNames", name);
    FZ_CALL(c, json_api->ctx)
    err_clear(&c.err);
    json_t *out = NULL;
    if (json_op("DeleteAlarms")->fn(&c, del, &out) != 0) {
        abort();
    }
    json_decref(out);
    json_decref(del);
    fz_resp_fini(&resp);
}

/* Operations that leave state behind other than an alarm are not fuzzed here:
   PutMetricData would grow the store with every input. */
static int stateless(const char *op)
{
    return strcmp(op, "PutMetricData") != 0 && strcmp(op, "SetAlarmState") != 0 &&
           strcmp(op, "EnableAlarmActions") != 0 && strcmp(op, "DisableAlarmActions") != 0 &&
           strcmp(op, "DeleteAlarms") != 0;
}

static void run_in(const struct api_json_op *op, json_t *in)
{
    FZ_CALL(c, json_api->ctx)
    err_clear(&c.err);
    json_t *out = NULL;
    int rc = op->fn(&c, in, &out);
    if (rc < 0 && (c.err.code != rc || out != NULL)) {
        abort(); /* a failure says why and answers nothing */
    }
    if (rc == 0 && out == NULL) {
        abort();
    }
    json_decref(out);
    fz_resp_fini(&resp);
    if (rc == 0) {
        undo_alarm(op->name, in);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    const struct api_json_op *op = &json_api->ops[(data[0] & 0x3f) % json_api->n_ops];
    if (!stateless(op->name)) {
        return 0;
    }
    const uint8_t *body = data + 1;
    size_t len = size - 1;
    switch (data[0] >> 6) {
    case 0: { /* awsJson 1.0 */
        json_t *in = json_loadb((const char *)body, len, 0, NULL);
        if (in != NULL) {
            run_in(op, in);
            json_decref(in);
        }
        break;
    }
    case 1: { /* RPC v2 CBOR */
        struct cbor_decode_opts opts = {.epoch_scale = 1.0};
        struct err_info err;
        json_t *in = NULL;
        if (cbor_decode(body, len, &opts, &in, &err) == 0) {
            if (json_is_object(in)) {
                run_in(op, in);
            }
            json_decref(in);
        }
        break;
    }
    default: { /* awsQuery form */
        struct api_params p;
        query_params_init(&p.q);
        if (query_params_parse(&p.q, (const char *)body, len) == 0) {
            /* the query table lists the same operations in the same order */
            const struct api_query_op *q = &query_api->ops[(data[0] & 0x3f) % query_api->n_ops];
            FZ_CALL(c, query_api->ctx)
            err_clear(&c.err);
            struct buf out;
            buf_init(&out);
            int rc = q->fn(&c, &p, &out);
            if (rc < 0 && c.err.code != rc) {
                abort();
            }
            buf_fini(&out);
            fz_resp_fini(&resp);
            if (rc == 0) {
                json_t *in = json_object();
                const char *name = query_params_get(&p.q, "AlarmName");
                if (name != NULL) {
                    json_object_set_new(in, "AlarmName", json_string(name));
                }
                undo_alarm(q->action, in);
                json_decref(in);
            }
        }
        query_params_fini(&p.q);
        break;
    }
    }
    return 0;
}
