/*
 * What Sluice publishes: the other parts' counters turned into AWS's metrics (names,
 * units and dimensions as AWS's documentation lists them), one call per sample.
 */
#include "metrics/metrics_int.h"

#include <stdlib.h>
#include <string.h>

#include "delivery/delivery.h"
#include "stream/stream.h"

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
    }
    free(c);
}

/* Counts and sums grow; the others (freshness, ratios, last partition count) are gauges. */
static int is_gauge(const struct delivery_metric *dm)
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
            if (is_gauge(&dm[j])) {
                metrics__put_gauge(m, &k, dm[j].unit, now_ms, dm[j].value);
            } else {
                metrics__put_increase(m, &k, dm[j].unit, now_ms, dm[j].value);
            }
        }
    }
    free(ids);
}
