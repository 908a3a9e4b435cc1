/*
 * What Sluice publishes: the other parts' counters turned into AWS's metrics (names,
 * units and dimensions as AWS's documentation lists them), one call per sample.
 */
#include "metrics/metrics_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/store.h"
#include "delivery/delivery.h"
#include "query/query.h"
#include "stream/stream.h"

/* The Kinesis API's reads, indexed by enum stream_read_metric. */
static const struct {
    const char *name, *unit;
} kinesis_read_names[STREAM_READ_METRICS] = {
    [STREAM_RM_GET_BYTES] = {"GetRecords.Bytes", "Bytes"},
    [STREAM_RM_GET_RECORDS] = {"GetRecords.Records", "Count"},
    [STREAM_RM_GET_LATENCY] = {"GetRecords.Latency", "Milliseconds"},
    [STREAM_RM_GET_SUCCESS] = {"GetRecords.Success", "Count"},
    [STREAM_RM_GET_AGE] = {"GetRecords.IteratorAgeMilliseconds", "Milliseconds"},
    [STREAM_RM_SUB_RATE_EXCEEDED] = {"SubscribeToShard.RateExceeded", "Count"},
    [STREAM_RM_SUB_SUCCESS] = {"SubscribeToShard.Success", "Count"},
    [STREAM_RM_EVENT_BYTES] = {"SubscribeToShardEvent.Bytes", "Bytes"},
    [STREAM_RM_EVENT_RECORDS] = {"SubscribeToShardEvent.Records", "Count"},
    [STREAM_RM_EVENT_BEHIND] = {"SubscribeToShardEvent.MillisBehindLatest", "Milliseconds"},
    [STREAM_RM_EVENT_SUCCESS] = {"SubscribeToShardEvent.Success", "Count"},
    [STREAM_RM_PUT_BYTES] = {"PutRecord.Bytes", "Bytes"},
    [STREAM_RM_PUT_LATENCY] = {"PutRecord.Latency", "Milliseconds"},
    [STREAM_RM_PUT_SUCCESS] = {"PutRecord.Success", "Count"},
    [STREAM_RM_PUTS_BYTES] = {"PutRecords.Bytes", "Bytes"},
    [STREAM_RM_PUTS_LATENCY] = {"PutRecords.Latency", "Milliseconds"},
    [STREAM_RM_PUTS_SUCCESS] = {"PutRecords.Success", "Count"},
    [STREAM_RM_PUTS_TOTAL] = {"PutRecords.TotalRecords", "Count"},
    [STREAM_RM_PUTS_OK] = {"PutRecords.SuccessfulRecords", "Count"},
    [STREAM_RM_PUTS_FAILED] = {"PutRecords.FailedRecords", "Count"},
    [STREAM_RM_PUTS_THROTTLED] = {"PutRecords.ThrottledRecords", "Count"},
    [STREAM_RM_READ_EXCEEDED] = {"ReadProvisionedThroughputExceeded", "Count"},
};

/* Enhanced monitoring's metrics, indexed by enum stream_metric. */
static const char *const kinesis_shard_units[STREAM_N_METRICS] = {
    [STREAM_METRIC_INCOMING_BYTES] = "Bytes",      [STREAM_METRIC_INCOMING_RECORDS] = "Count",
    [STREAM_METRIC_OUTGOING_BYTES] = "Bytes",      [STREAM_METRIC_OUTGOING_RECORDS] = "Count",
    [STREAM_METRIC_WRITE_EXCEEDED] = "Count",      [STREAM_METRIC_READ_EXCEEDED] = "Count",
    [STREAM_METRIC_ITERATOR_AGE] = "Milliseconds",
};

/* The shard-level metrics enabled per stream (StreamName, ShardId), as they were sampled. */
static void kinesis_shards(struct metrics *m, int64_t now_ms, struct stream_service *svc)
{
    struct stream_shard_stats *r;
    size_t n;
    stream_shard_stats_take(svc, &r, &n);
    for (size_t i = 0; i < n; i++) {
        char shard_id[STREAM_SHARD_ID_LEN + 1];
        stream_shard_id_format(r[i].shard_idx, shard_id);
        struct metrics_dim dims[2] = {{"StreamName", r[i].name}, {"ShardId", shard_id}};
        struct metrics_put_item items[STREAM_N_METRICS];
        struct metrics_key keys[STREAM_N_METRICS];
        size_t n_items = 0;
        for (int j = 0; j < STREAM_N_METRICS; j++) {
            const struct stream_stat *st = &r[i].st[j];
            if (st->count == 0) {
                continue;
            }
            keys[n_items] =
                (struct metrics_key){r[i].region, "AWS/Kinesis", stream_metric_name(j), dims, 2};
            items[n_items] = (struct metrics_put_item){&keys[n_items],
                                                       kinesis_shard_units[j],
                                                       now_ms,
                                                       60,
                                                       {st->count, st->sum, st->min, st->max}};
            n_items++;
        }
        int rc = metrics_put_batch(m, items, n_items);
        if (rc < 0) {
            log_msg(LOG_WARN, "metrics", "cannot record the shard metrics of %s: %s", r[i].name,
                    sl_strerror(rc));
        }
    }
    free(r);
}

/* GetRecords.* per stream; SubscribeToShard* per stream and consumer (ConsumerName). */
static void kinesis_reads(struct metrics *m, int64_t now_ms, struct stream_service *svc)
{
    struct stream_read_stats *r;
    size_t n;
    stream_read_stats_take(svc, &r, &n);
    for (size_t i = 0; i < n; i++) {
        struct metrics_dim dims[2] = {{"StreamName", r[i].name}, {"ConsumerName", r[i].consumer}};
        struct metrics_put_item items[STREAM_READ_METRICS];
        struct metrics_key keys[STREAM_READ_METRICS];
        size_t n_items = 0;
        for (int j = 0; j < STREAM_READ_METRICS; j++) {
            const struct stream_stat *st = &r[i].st[j];
            if (st->count == 0) {
                continue;
            }
            keys[n_items] =
                (struct metrics_key){r[i].region, "AWS/Kinesis", kinesis_read_names[j].name, dims,
                                     r[i].consumer[0] ? 2 : 1};
            items[n_items] = (struct metrics_put_item){&keys[n_items],
                                                       kinesis_read_names[j].unit,
                                                       now_ms,
                                                       60,
                                                       {st->count, st->sum, st->min, st->max}};
            n_items++;
        }
        int rc = metrics_put_batch(m, items, n_items);
        if (rc < 0) {
            log_msg(LOG_WARN, "metrics", "cannot record the reads of %s: %s", r[i].name,
                    sl_strerror(rc));
        }
    }
    free(r);
}

void metrics_source_kinesis(struct metrics *m, int64_t now_ms, void *ctx)
{
    struct stream_counts *c;
    size_t n;
    stream_counts_all(ctx, &c, &n);
    for (size_t i = 0; i < n; i++) {
        struct metrics_dim dim = {"StreamName", c[i].name};
        struct metrics_key k = {c[i].region, "AWS/Kinesis", "IncomingBytes", &dim, 1};
        metrics__put_increase(m, &k, "Bytes", now_ms, (double)c[i].incoming_bytes);
        k.name = "IncomingRecords";
        metrics__put_increase(m, &k, "Count", now_ms, (double)c[i].incoming_records);
        k.name = "WriteProvisionedThroughputExceeded";
        metrics__put_increase(m, &k, "Count", now_ms, (double)c[i].write_throttled);
        k.name = "OutgoingBytes";
        metrics__put_increase(m, &k, "Bytes", now_ms, (double)c[i].outgoing_bytes);
        k.name = "OutgoingRecords";
        metrics__put_increase(m, &k, "Count", now_ms, (double)c[i].outgoing_records);
    }
    free(c);
    kinesis_reads(m, now_ms, ctx);
    kinesis_shards(m, now_ms, ctx);
}

/* Counts and sums grow; the others (freshness, ratios, last partition count) are gauges. */
int metrics__firehose_is_gauge(const struct delivery_metric *dm)
{
    return strcmp(dm->unit, "Seconds") == 0 || strcmp(dm->unit, "None") == 0 ||
           strstr(dm->name, "Success") != NULL || strstr(dm->name, "PartitionCount") != NULL ||
           strcmp(dm->name, "KinesisMillisBehindLatest") == 0;
}

void metrics_source_firehose(struct metrics *m, int64_t now_ms, void *ctx)
{
    struct delivery_stream_id *ids;
    size_t n;
    delivery_stream_ids(ctx, &ids, &n);
    for (size_t i = 0; i < n; i++) {
        struct delivery_metric dm[DELIVERY_METRICS_MAX];
        size_t n_dm = 0;
        if (delivery_stream_metrics(ctx, ids[i].region, ids[i].name, dm, &n_dm) < 0) {
            continue; /* deleted since the listing */
        }
        struct metrics_dim dim = {"DeliveryStreamName", ids[i].name};
        for (size_t j = 0; j < n_dm; j++) {
            struct metrics_key k = {ids[i].region, "AWS/Firehose", dm[j].name, &dim, 1};
            if (metrics__firehose_is_gauge(&dm[j])) {
                metrics__put_gauge(m, &k, dm[j].unit, now_ms, dm[j].value);
            } else {
                metrics__put_increase(m, &k, dm[j].unit, now_ms, dm[j].value);
            }
        }
        /* Sluice's own: the buffer's fill at the sample (no AWS metric tells it). */
        struct delivery_counters c;
        if (delivery_stream_counters(ctx, ids[i].region, ids[i].name, &c) == 0) {
            struct metrics_key k = {ids[i].region, "Sluice/Firehose", "BufferedBytes", &dim, 1};
            metrics__put_gauge(m, &k, "Bytes", now_ms, (double)c.buffered_bytes);
            k.name = "BufferedRecords";
            metrics__put_gauge(m, &k, "Count", now_ms, (double)c.buffered_records);
        }
        /* PutRecord.Latency and PutRecordBatch.Latency: one sample per call */
        struct delivery_latency lat[2];
        if (delivery_stream_latency_take(ctx, ids[i].region, ids[i].name, lat) == 0) {
            static const char *const lat_names[2] = {"PutRecord.Latency", "PutRecordBatch.Latency"};
            for (int op = 0; op < 2; op++) {
                if (lat[op].count == 0) {
                    continue;
                }
                struct metrics_key k = {ids[i].region, "AWS/Firehose", lat_names[op], &dim, 1};
                struct metrics_stat s = {lat[op].count, lat[op].sum, lat[op].min, lat[op].max};
                if (metrics_put(m, &k, "Milliseconds", now_ms, 60, &s) < 0) {
                    log_msg(LOG_WARN, "metrics", "cannot record %s", lat_names[op]);
                }
            }
        }
    }
    free(ids);
}

#define ATHENA_CURSOR "metrics.athena_published_ms"

void metrics_source_athena(struct metrics *m, int64_t now_ms, void *ctx)
{
    struct metrics_athena_source *src = ctx;
    struct store *st = metrics__store(m);
    if (src->last_ms < 0) {
        char *v = NULL;
        /* None yet: the first sample publishes the queries already in the store once. */
        src->last_ms = store_setting_get(st, ATHENA_CURSOR, &v) == 0 && v ? atoll(v) : 0;
        free(v);
    }
    struct query_finished *f;
    size_t n;
    int rc = query_finished_between(src->query, src->last_ms, now_ms, &f, &n);
    if (rc < 0) {
        log_msg(LOG_WARN, "metrics", "cannot read Athena queries: %s", sl_strerror(rc));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct metrics_dim dims[3] = {{"QueryState", f[i].state},
                                      {"QueryType", f[i].query_type},
                                      {"WorkGroup", f[i].workgroup}};
        struct metrics_key k = {src->region, "AWS/Athena", "ProcessedBytes", dims, 3};
        metrics__put_gauge(m, &k, "Bytes", f[i].completed_ms, (double)f[i].processed_bytes);
        k.name = "EngineExecutionTime";
        metrics__put_gauge(m, &k, "Milliseconds", f[i].completed_ms, (double)f[i].engine_ms);
        k.name = "QueryQueueTime";
        metrics__put_gauge(m, &k, "Milliseconds", f[i].completed_ms, (double)f[i].queue_ms);
        k.name = "QueryPlanningTime";
        metrics__put_gauge(m, &k, "Milliseconds", f[i].completed_ms, (double)f[i].planning_ms);
        k.name = "ServiceProcessingTime";
        metrics__put_gauge(m, &k, "Milliseconds", f[i].completed_ms, (double)f[i].service_ms);
        /* the last: a reader that sees it sees the query's other five */
        k.name = "TotalExecutionTime";
        metrics__put_gauge(m, &k, "Milliseconds", f[i].completed_ms, (double)f[i].total_ms);
    }
    free(f);
    src->last_ms = now_ms;
    char v[32];
    snprintf(v, sizeof(v), "%lld", (long long)now_ms);
    store_setting_put(st, ATHENA_CURSOR, v);
}
