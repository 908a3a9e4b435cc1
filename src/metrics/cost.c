/*
 * GET /_sluice/cost: what the workload of the last hours would cost on AWS at its list
 * prices (us-east-1, USD), line by line, as JSON. A Sluice extension beside /metrics,
 * behind the same credentials (its bearer token, or open on a loopback address).
 *
 * The figures are the ones the sampler published (AWS/Kinesis, AWS/Firehose, AWS/S3) over
 * [now - hours, now), the streams as they are now, and Athena's finished queries. Where
 * AWS rounds each record (Kinesis' 25 KB PUT payload units, Firehose's 5 KB) only the
 * average record is known, so the rounding is applied to it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/mem.h"
#include "delivery/delivery.h"
#include "http/api.h"
#include "metrics/metrics_int.h"
#include "query/query.h"
#include "stream/stream.h"

#define GIB (1024.0 * 1024.0 * 1024.0)
#define HOURS_MAX (24 * 31)
#define HOURS_PER_MONTH 730.0

/* The list prices applied (us-east-1, USD), also in the answer's Prices. */
static const struct price {
    const char *key;
    double usd;
} prices[] = {
    {"KinesisShardHour", 0.015},              /* provisioned, per shard-hour */
    {"KinesisPutPayloadUnitsMillion", 0.014}, /* each 25 KB of a record is a unit */
    {"KinesisOnDemandStreamHour", 0.04},
    {"KinesisOnDemandWrittenGB", 0.08},
    {"KinesisOnDemandReadGB", 0.04},
    {"KinesisEfoConsumerShardHour", 0.015},
    {"KinesisEfoReadGB", 0.013},
    {"FirehoseIngestedGB", 0.029}, /* each record rounded up to 5 KB */
    {"FirehoseConversionGB", 0.018},
    {"FirehosePartitioningGB", 0.02},
    {"FirehosePartitioningObjectsThousand", 0.005},
    {"AthenaScannedTB", 5.0},     /* at least 10 MB a query */
    {"S3PutListThousand", 0.005}, /* PUT, COPY, POST, LIST */
    {"S3GetThousand", 0.0004},    /* GET, HEAD and the others */
    {"S3StorageGBMonth", 0.023},
};
enum {
    P_SHARD_HOUR,
    P_PUT_UNITS,
    P_OD_STREAM_HOUR,
    P_OD_WRITTEN,
    P_OD_READ,
    P_EFO_HOUR,
    P_EFO_READ,
    P_FH_GB,
    P_FH_CONV,
    P_FH_PART_GB,
    P_FH_PART_OBJ,
    P_ATHENA_TB,
    P_S3_PUT,
    P_S3_GET,
    P_S3_STORAGE,
};

struct cost {
    struct api_plain_service plain;
    struct metrics *m;
    struct stream_service *streams;
    struct delivery_service *delivery;
    struct query_service *query;
    char *region;
    char *token; /* NULL: open */
};

struct window {
    struct metrics *m;
    const char *region;
    int64_t start_ms, end_ms;
    double hours;
    json_t *items;
    double total;
};

static void line(struct window *w, const char *service, const char *resource, const char *item,
                 double quantity, const char *unit, int price, double per)
{
    double usd = quantity * prices[price].usd / per;
    json_array_append_new(w->items,
                          json_pack("{s:s,s:s,s:s,s:f,s:s,s:f,s:f}", "Service", service, "Resource",
                                    resource, "Item", item, "Quantity", quantity, "Unit", unit,
                                    "UnitPrice", prices[price].usd / per, "USD", usd));
    w->total += usd;
}

/* The statistic of a metric summed over the window (Sum, or the last Maximum). */
static double figure(struct window *w, const char *ns, const char *name,
                     const struct metrics_dim *dims, size_t n_dims, int last_max)
{
    struct metrics_key k = {w->region, ns, name, dims, n_dims};
    struct metrics_point *pts = NULL;
    size_t n = 0;
    /* one-minute buckets: the last one's maximum is the newest gauge */
    if (metrics_stats(w->m, &k, NULL, w->start_ms, w->end_ms, 60, &pts, &n) < 0) {
        return 0;
    }
    double v = 0;
    for (size_t i = 0; i < n; i++) {
        v = last_max ? pts[i].s.max : v + pts[i].s.sum;
    }
    free(pts);
    return v;
}

/* The hours of the window the stream existed in. */
static double hours_of(const struct window *w, int64_t created_ms)
{
    int64_t from = created_ms > w->start_ms ? created_ms : w->start_ms;
    return from >= w->end_ms ? 0 : (double)(w->end_ms - from) / 3.6e6;
}

static void kinesis_lines(struct window *w, struct stream_service *svc)
{
    struct stream_info *s;
    size_t n;
    stream_list(svc, w->region, &s, &n);
    for (size_t i = 0; i < n; i++) {
        if (s[i].status == STREAM_DELETING) {
            continue;
        }
        double hours = hours_of(w, s[i].created_ms);
        struct metrics_dim dim = {"StreamName", s[i].name};
        double in_bytes = figure(w, "AWS/Kinesis", "IncomingBytes", &dim, 1, 0);
        double in_records = figure(w, "AWS/Kinesis", "IncomingRecords", &dim, 1, 0);
        if (s[i].mode == STREAM_MODE_ON_DEMAND) {
            line(w, "Kinesis", s[i].name, "On-demand stream-hours", hours, "Hours",
                 P_OD_STREAM_HOUR, 1);
            line(w, "Kinesis", s[i].name, "On-demand data written", in_bytes / GIB, "GB",
                 P_OD_WRITTEN, 1);
            line(w, "Kinesis", s[i].name, "On-demand data read",
                 figure(w, "AWS/Kinesis", "OutgoingBytes", &dim, 1, 0) / GIB, "GB", P_OD_READ, 1);
        } else {
            line(w, "Kinesis", s[i].name, "Shard-hours", s[i].n_open_shards * hours, "Shard-Hours",
                 P_SHARD_HOUR, 1);
            double units = in_records > 0 ? in_records * ceil(in_bytes / in_records / 25600) : 0;
            line(w, "Kinesis", s[i].name, "PUT payload units", units, "Units", P_PUT_UNITS, 1e6);
        }
    }
    free(s);
}

struct efo {
    struct window *w;
    double bytes;
    size_t consumers; /* those that read in the window */
};

static int add_efo(void *arg, int64_t id, const char *ns, const char *name,
                   const struct metrics_dim *dims, size_t n_dims)
{
    (void)id;
    struct efo *e = arg;
    struct metrics_key k = {e->w->region, ns, name, dims, n_dims};
    struct metrics_point *pts = NULL;
    size_t n = 0;
    if (n_dims == 2 &&
        metrics_stats(e->w->m, &k, NULL, e->w->start_ms, e->w->end_ms, 60, &pts, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            e->bytes += pts[i].s.sum;
        }
        e->consumers += n > 0;
    }
    free(pts);
    return 0;
}

/* Enhanced fan-out per stream: its consumers that read in the window (consumer-shard-hours
   over the stream's hours) and what they read (SubscribeToShardEvent.Bytes). */
static void efo_read_lines(struct window *w, struct stream_service *svc)
{
    struct stream_info *s;
    size_t n;
    stream_list(svc, w->region, &s, &n);
    for (size_t i = 0; i < n; i++) {
        struct metrics_dim any[2] = {{"StreamName", s[i].name}, {"ConsumerName", NULL}};
        struct metrics_list_filter f = {.region = w->region,
                                        .ns = "AWS/Kinesis",
                                        .name = "SubscribeToShardEvent.Bytes",
                                        .dims = any,
                                        .n_dims = 2};
        struct efo e = {w, 0, 0};
        metrics_list(w->m, &f, add_efo, &e);
        if (e.consumers > 0) {
            line(w, "Kinesis", s[i].name, "Enhanced fan-out consumer-shard-hours",
                 (double)e.consumers * s[i].n_open_shards * hours_of(w, s[i].created_ms),
                 "Consumer-Shard-Hours", P_EFO_HOUR, 1);
            line(w, "Kinesis", s[i].name, "Enhanced fan-out data read", e.bytes / GIB, "GB",
                 P_EFO_READ, 1);
        }
    }
    free(s);
}

static void firehose_lines(struct window *w, struct delivery_service *svc)
{
    struct delivery_stream_id *ids;
    size_t n;
    delivery_stream_ids(svc, &ids, &n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ids[i].region, w->region) != 0) {
            continue;
        }
        const char *name = ids[i].name;
        struct metrics_dim dim = {"DeliveryStreamName", name};
        double bytes = figure(w, "AWS/Firehose", "IncomingBytes", &dim, 1, 0);
        double records = figure(w, "AWS/Firehose", "IncomingRecords", &dim, 1, 0);
        double rounded = records > 0 ? records * ceil(bytes / records / 5120) * 5120 : 0;
        line(w, "Firehose", name, "Data ingested (5 KB rounding)", rounded / GIB, "GB", P_FH_GB, 1);
        struct delivery_metric dm[DELIVERY_METRICS_MAX];
        size_t n_dm = 0;
        int converts = 0, partitions = 0;
        if (delivery_stream_metrics(svc, ids[i].region, name, dm, &n_dm) == 0) {
            for (size_t j = 0; j < n_dm; j++) {
                converts |= strcmp(dm[j].name, "SucceedConversion.Records") == 0;
                partitions |= strcmp(dm[j].name, "PartitionCount") == 0;
            }
        }
        if (converts) {
            double conv = figure(w, "AWS/Firehose", "SucceedConversion.Bytes", &dim, 1, 0) +
                          figure(w, "AWS/Firehose", "FailedConversion.Bytes", &dim, 1, 0);
            line(w, "Firehose", name, "Format conversion", conv / GIB, "GB", P_FH_CONV, 1);
        }
        if (partitions) {
            line(w, "Firehose", name, "Dynamic partitioning data", bytes / GIB, "GB", P_FH_PART_GB,
                 1);
            line(w, "Firehose", name, "Dynamic partitioning S3 objects",
                 figure(w, "AWS/Firehose", "DeliveryToS3.ObjectCount", &dim, 1, 0), "Objects",
                 P_FH_PART_OBJ, 1000);
        }
    }
    free(ids);
}

static void athena_lines(struct window *w, struct query_service *q)
{
    struct query_finished *f;
    size_t n;
    if (query_finished_between(q, w->start_ms, w->end_ms, &f, &n) < 0) {
        return;
    }
    double bytes = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(f[i].query_type, "DML") == 0) { /* DDL is free */
            bytes += f[i].processed_bytes > 10000000 ? (double)f[i].processed_bytes : 1e7;
        }
    }
    free(f);
    line(w, "Athena", "", "Data scanned (10 MB a query at least)", bytes / 1e12, "TB", P_ATHENA_TB,
         1);
}

static int s3_bucket(void *arg, int64_t id, const char *ns, const char *name,
                     const struct metrics_dim *dims, size_t n_dims)
{
    (void)id, (void)ns, (void)name;
    struct window *w = arg;
    const char *bucket = NULL;
    for (size_t i = 0; i < n_dims; i++) {
        if (strcmp(dims[i].name, "BucketName") == 0) {
            bucket = dims[i].value;
        }
    }
    if (bucket == NULL) {
        return 0;
    }
    static const char *const tier1[] = {"PutRequests", "PostRequests", "ListRequests"};
    static const char *const tier2[] = {"GetRequests", "HeadRequests"};
    double t1 = 0, t2 = 0;
    for (size_t i = 0; i < 3; i++) {
        t1 += figure(w, "AWS/S3", tier1[i], dims, n_dims, 0);
    }
    for (size_t i = 0; i < 2; i++) {
        t2 += figure(w, "AWS/S3", tier2[i], dims, n_dims, 0);
    }
    line(w, "S3", bucket, "PUT, COPY, POST, LIST requests", t1, "Requests", P_S3_PUT, 1000);
    line(w, "S3", bucket, "GET, HEAD requests", t2, "Requests", P_S3_GET, 1000);
    struct metrics_dim sd[2] = {{"BucketName", bucket}, {"StorageType", "StandardStorage"}};
    double size = figure(w, "AWS/S3", "BucketSizeBytes", sd, 2, 1);
    line(w, "S3", bucket, "Storage", size / GIB * w->hours / HOURS_PER_MONTH, "GB-Months",
         P_S3_STORAGE, 1);
    return 0;
}

static void s3_lines(struct window *w)
{
    struct metrics_list_filter f = {.region = w->region, .ns = "AWS/S3", .name = "AllRequests"};
    metrics_list(w->m, &f, s3_bucket, w);
}

json_t *metrics_cost(struct metrics *m, struct stream_service *streams,
                     struct delivery_service *delivery, struct query_service *query,
                     const char *region, int64_t now_ms, double hours)
{
    struct window w = {.m = m,
                       .region = region,
                       .start_ms = now_ms - (int64_t)(hours * 3.6e6),
                       .end_ms = now_ms + 1,
                       .hours = hours,
                       .items = json_array()};
    if (streams != NULL) {
        kinesis_lines(&w, streams);
        efo_read_lines(&w, streams);
    }
    if (delivery != NULL) {
        firehose_lines(&w, delivery);
    }
    if (query != NULL) {
        athena_lines(&w, query);
    }
    s3_lines(&w);
    json_t *p = json_object();
    for (size_t i = 0; i < sizeof(prices) / sizeof(prices[0]); i++) {
        json_object_set_new(p, prices[i].key, json_real(prices[i].usd));
    }
    char from[32], to[32];
    clock_format_iso8601(w.start_ms, from);
    clock_format_iso8601(now_ms, to);
    return json_pack("{s:s,s:s,s:s,s:s,s:f,s:o,s:o,s:f}", "Region", region, "Currency", "USD",
                     "Start", from, "End", to, "Hours", hours, "Prices", p, "LineItems", w.items,
                     "Total", w.total);
}

/* 1 when the request carries the token (compared in constant time). */
static int authorized(const struct cost *c, const struct api_request *req)
{
    if (c->token == NULL) {
        return 1;
    }
    const char *auth = api_request_header(req, "Authorization");
    if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0 ||
        strlen(auth + 7) != strlen(c->token)) {
        return 0;
    }
    unsigned char diff = 0;
    for (size_t i = 0; c->token[i] != '\0'; i++) {
        diff |= (unsigned char)(auth[7 + i] ^ c->token[i]);
    }
    return diff == 0;
}

/* ?hours=N (1 to a month's; 1 when absent). 0 when malformed. */
static double hours_param(const struct api_request *req)
{
    const char *q = req->query != NULL ? req->query : "";
    const char *h = strncmp(q, "hours=", 6) == 0 ? q : strstr(q, "&hours=");
    if (h == NULL) {
        return 1;
    }
    h += *h == '&';
    char *end;
    double v = strtod(h + 6, &end);
    return (*end == '\0' || *end == '&') && v > 0 && v <= HOURS_MAX ? v : 0;
}

static void answer(void *ctx, const struct api_request *req, struct api_response *resp)
{
    struct cost *c = ctx;
    api_response_header(resp, "Cache-Control", "no-store");
    if (!authorized(c, req)) {
        resp->status = 401;
        api_response_header(resp, "WWW-Authenticate", "Bearer realm=\"sluice-metrics\"");
        api_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
        buf_puts(&resp->body, "A bearer token is required (Authorization: Bearer TOKEN).\n");
        return;
    }
    double hours = hours_param(req);
    if (hours == 0) {
        resp->status = 400;
        api_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
        buf_printf(&resp->body, "hours must be a number in (0, %d].\n", HOURS_MAX);
        return;
    }
    json_t *j = metrics_cost(c->m, c->streams, c->delivery, c->query, c->region,
                             metrics_now_ms(c->m), hours);
    char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    json_decref(j);
    api_response_header(resp, "Content-Type", "application/json");
    buf_puts(&resp->body, text != NULL ? text : "{}");
    free(text);
}

struct cost *cost_create(struct metrics *m, struct stream_service *streams,
                         struct delivery_service *delivery, struct query_service *query,
                         const char *region, const char *token)
{
    struct cost *c = xcalloc(1, sizeof(*c));
    c->m = m;
    c->streams = streams;
    c->delivery = delivery;
    c->query = query;
    c->region = xstrdup(region);
    c->token = token != NULL ? xstrdup(token) : NULL;
    c->plain = (struct api_plain_service){"/_sluice/cost", answer, c};
    return c;
}

const struct api_plain_service *cost_service(struct cost *c)
{
    return &c->plain;
}

void cost_destroy(struct cost *c)
{
    if (c != NULL) {
        free(c->region);
        free(c->token);
        free(c);
    }
}
