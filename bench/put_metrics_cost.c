/*
 * What the AWS/Kinesis counting of a PutRecords or PutRecord call costs (kinesis_metrics.c:
 * PutRecords.*, PutRecord.*, and the shard-level samples when enhanced monitoring is on),
 * measured in-process in CPU time: --calls rounds of the call's counting over a PutRecords
 * of --records records spread over --shards shards, with enhanced monitoring off, then on
 * for every metric, and of a PutRecord. Prints nanoseconds a call, and beside them the
 * reference: the process CPU time of the durable append the counting follows
 * (stream_records_put of the same batch, rate limits off), so the counting's share of a
 * PutRecords shows. Never fails on the figures.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/store.h"
#include "stream/kinesis_int.h"
#include "stream/stream.h"

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double process_cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The process CPU of appending recs (n of them) durably, a call, over calls calls. */
static double put_ns_per_call(struct stream_service *svc, struct stream *s,
                              struct stream_put_record *recs, size_t n, int calls)
{
    double t0 = process_cpu_s();
    for (int i = 0; i < calls; i++) {
        if (stream_records_put(svc, s, recs, n, clock_now_ms(), NULL) < 0) {
            return -1;
        }
    }
    return (process_cpu_s() - t0) / calls * 1e9;
}

static double ns_per_call(struct stream *s, int batch, const struct stream_put_record *recs,
                          size_t n, int calls)
{
    double t0 = cpu_s();
    for (int i = 0; i < calls; i++) {
        kin__count_put(s, batch, recs, n, clock_mono_ns());
    }
    return (cpu_s() - t0) / calls * 1e9;
}

int main(int argc, char **argv)
{
    int records = 500, shards = 4, calls = 200000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--records") == 0) {
            records = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--shards") == 0) {
            shards = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--calls") == 0) {
            calls = atoi(argv[i + 1]);
        }
    }
    char dir[] = "/tmp/put-metrics-cost.XXXXXX", path[64];
    if (mkdtemp(dir) == NULL) {
        return 1;
    }
    struct sluice_config cfg;
    config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", dir);
    cfg.stream_transition_ms = 0;
    cfg.throughput_limits = 0; /* the reference appends as fast as it can */
    snprintf(path, sizeof(path), "%s/sluice.db", dir);
    struct store *st;
    struct stream_service *svc;
    if (store_open(path, &st) < 0 || stream_service_open(st, &cfg, &svc) < 0) {
        return 1;
    }
    struct stream_create_params p = {.region = "us-east-1",
                                     .account = "000000000000",
                                     .name = "bench",
                                     .mode = STREAM_MODE_PROVISIONED,
                                     .shard_count = shards};
    struct err_info err = {0};
    struct stream *s = NULL;
    if (stream_create(svc, &p, &err) < 0 || stream_lookup(svc, "us-east-1", "bench", &s) < 0) {
        fprintf(stderr, "cannot create the stream: %s\n", err.message);
        return 1;
    }
    struct stream_put_record *recs = calloc((size_t)records, sizeof(*recs));
    static uint8_t data[1024];
    for (int i = 0; i < records; i++) {
        recs[i].data = data;
        recs[i].data_len = sizeof(data);
        recs[i].partition_key = "pk";
        recs[i].pk_len = 2;
        /* shard i % shards: the middle of its share of the hash key space */
        recs[i].hash_key = ((stream_u128)-1 / (stream_u128)shards) * (stream_u128)(i % shards) +
                           ((stream_u128)-1 / (stream_u128)shards / 2);
        recs[i].shard_idx = (uint32_t)(i % shards);
    }
    /* the reference first: the append it counts, 1 and records records a call */
    double ref_one = put_ns_per_call(svc, s, recs, 1, 2000);
    double ref_batch = put_ns_per_call(svc, s, recs, (size_t)records, 200);
    for (int i = 0; i < records; i++) {
        recs[i].shard_idx = (uint32_t)(i % shards); /* as the counting expects them */
    }
    double put = ns_per_call(s, 0, recs, 1, calls);
    double off = ns_per_call(s, 1, recs, (size_t)records, calls);
    uint32_t before, after;
    if (stream_update_monitoring(svc, s, STREAM_METRICS_ALL, 1, &before, &after, &err) < 0) {
        fprintf(stderr, "cannot enable enhanced monitoring: %s\n", err.message);
        return 1;
    }
    double on = ns_per_call(s, 1, recs, (size_t)records, calls / 10);
    printf("PutRecord: %.0f ns a call; the durable append it counts: %.0f ns of CPU (%.2f %%)\n",
           put, ref_one, 100.0 * put / ref_one);
    printf("PutRecords of %d records over %d shards: %.0f ns a call (%.2f ns a record), "
           "enhanced monitoring off; the durable append: %.0f ns of CPU (%.3f %%)\n",
           records, shards, off, off / records, ref_batch, 100.0 * off / ref_batch);
    printf("PutRecords of %d records over %d shards: %.0f ns a call (%.2f ns a record), "
           "enhanced monitoring on (ALL) (%.3f %% of the append)\n",
           records, shards, on, on / records, 100.0 * on / ref_batch);
    stream_release(s);
    free(recs);
    stream_service_close(svc);
    store_close(st);
    char cmd[96];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
