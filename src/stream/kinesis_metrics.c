/*
 * What the Kinesis handlers count for AWS/Kinesis beside the stream's own counters:
 * PutRecord.* and PutRecords.* per stream (one sample per call, as AWS takes them: Sum is
 * the total, Average the rate per call), and enhanced monitoring's shard-level samples
 * when the stream has any enabled. A call costs one lock of the stream's sample table;
 * the shard-level part runs only for a stream with enhanced monitoring.
 */
#include <stdlib.h>

#include "core/clock.h"
#include "core/mem.h"
#include "stream/kinesis_int.h"

/* Per shard a PutRecords touched: what it stored and refused. */
struct shard_put {
    uint32_t shard_idx;
    double bytes, records, throttled;
};

static void count_put_shards(struct stream *s, const struct stream_put_record *recs, size_t n)
{
    struct shard_put one, *acc = n > 1 ? xcalloc(n, sizeof(*acc)) : &one;
    size_t n_acc = 0, last = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t idx = recs[i].shard_idx;
        if (n_acc == 0 || acc[last].shard_idx != idx) {
            for (last = 0; last < n_acc && acc[last].shard_idx != idx; last++) {
            }
            if (last == n_acc) {
                acc[n_acc++] = (struct shard_put){.shard_idx = idx};
            }
        }
        if (recs[i].result == 0) {
            acc[last].bytes += recs[i].data_len;
            acc[last].records++;
        } else if (recs[i].result == SL_E(THROUGHPUT_EXCEEDED)) {
            acc[last].throttled++;
        }
    }
    struct stream_shard_sample *smp = xcalloc(n_acc * 3, sizeof(*smp));
    size_t k = 0;
    for (size_t j = 0; j < n_acc; j++) {
        uint32_t idx = acc[j].shard_idx;
        if (acc[j].records > 0) {
            smp[k++] =
                (struct stream_shard_sample){idx, STREAM_METRIC_INCOMING_BYTES, acc[j].bytes};
            smp[k++] =
                (struct stream_shard_sample){idx, STREAM_METRIC_INCOMING_RECORDS, acc[j].records};
        }
        smp[k++] =
            (struct stream_shard_sample){idx, STREAM_METRIC_WRITE_EXCEEDED, acc[j].throttled};
    }
    stream_shard_count(s, smp, k);
    free(smp);
    if (acc != &one) {
        free(acc);
    }
}

void kin__count_put(struct stream *s, int batch, const struct stream_put_record *recs, size_t n,
                    int64_t started_ns)
{
    double ms = (double)(clock_mono_ns() - started_ns) / 1e6;
    double ok = 0, bytes = 0, throttled = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (recs[i].result == 0) {
            ok++;
            bytes += recs[i].data_len;
        } else if (recs[i].result == SL_E(THROUGHPUT_EXCEEDED)) {
            throttled++;
        } else {
            failed++;
        }
    }
    struct stream_read_sample v[8];
    size_t k = 0;
    if (!batch) {
        v[k++] = (struct stream_read_sample){STREAM_RM_PUT_SUCCESS, ok > 0};
        v[k++] = (struct stream_read_sample){STREAM_RM_PUT_LATENCY, ms};
        if (ok > 0) {
            v[k++] = (struct stream_read_sample){STREAM_RM_PUT_BYTES, bytes};
        }
    } else {
        v[k++] = (struct stream_read_sample){STREAM_RM_PUTS_SUCCESS, ok > 0};
        v[k++] = (struct stream_read_sample){STREAM_RM_PUTS_LATENCY, ms};
        if (n > 0) {
            v[k++] = (struct stream_read_sample){STREAM_RM_PUTS_BYTES, bytes};
            v[k++] = (struct stream_read_sample){STREAM_RM_PUTS_TOTAL, (double)n};
            v[k++] = (struct stream_read_sample){STREAM_RM_PUTS_OK, ok};
            v[k++] = (struct stream_read_sample){STREAM_RM_PUTS_FAILED, failed};
            v[k++] = (struct stream_read_sample){STREAM_RM_PUTS_THROTTLED, throttled};
        }
    }
    stream_read_count(s, "", v, k);
    if (n > 0 && stream_shard_metrics(s) != 0) {
        count_put_shards(s, recs, n);
    }
}

void kin__count_get_shard(struct stream *s, uint32_t shard_idx, size_t records, size_t bytes,
                          int64_t age_ms)
{
    if (stream_shard_metrics(s) == 0) {
        return;
    }
    struct stream_shard_sample v[] = {
        {shard_idx, STREAM_METRIC_OUTGOING_BYTES, (double)bytes},
        {shard_idx, STREAM_METRIC_OUTGOING_RECORDS, (double)records},
        {shard_idx, STREAM_METRIC_ITERATOR_AGE, (double)age_ms},
        {shard_idx, STREAM_METRIC_READ_EXCEEDED, 0},
    };
    stream_shard_count(s, v, age_ms < 0 ? 2 : sizeof(v) / sizeof(v[0]));
}

void kin__count_read_exceeded(struct stream *s, uint32_t shard_idx)
{
    struct stream_read_sample v = {STREAM_RM_READ_EXCEEDED, 1};
    stream_read_count(s, "", &v, 1);
    if (stream_shard_metrics(s) != 0) {
        struct stream_shard_sample sv = {shard_idx, STREAM_METRIC_READ_EXCEEDED, 1};
        stream_shard_count(s, &sv, 1);
    }
}
