/*
 * Metrics: CloudWatch's store and API (monitoring 2010-08-01).
 *
 * Datapoints are kept in the metadata store, aggregated per metric, unit and time slot
 * (SampleCount, Sum, Minimum, Maximum): one-minute slots, or one-second slots for
 * high-resolution PutMetricData (StorageResolution 1). Slots older than the retention
 * (15 days of one-minute data, 3 hours of one-second data, as AWS keeps them before
 * rolling up) are deleted by the sampler. The distinct values of a slot are kept
 * with their counts beside it, so percentiles (ExtendedStatistics) are exact; a slot
 * that took a statistic set of unequal values has none (as in CloudWatch).
 *
 * The sampler publishes what the other parts count (AWS/Kinesis, AWS/Firehose,
 * AWS/Athena) once a minute by the service clock, and on demand (metrics_sample_now,
 * which the server runs on SIGUSR1): each source turns its counters since start into
 * the increase since the previous sample. After each sample the metric alarms are
 * evaluated (alarms.c); their definitions, states and history are in the store too.
 */
#ifndef SLUICE_METRICS_METRICS_H
#define SLUICE_METRICS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct store;
struct metrics;

typedef int64_t (*metrics_clock_fn)(void *arg);

struct metrics_options {
    struct store *store;     /* borrowed; outlives the metrics */
    metrics_clock_fn now_ms; /* NULL: the wall clock */
    void *clock_arg;
    int background;          /* 1: start the once-a-minute sampler thread */
};
/* Migrates the tables and opens. Returns 0 or a store error. */
int metrics_open(const struct metrics_options *opt, struct metrics **out);
/* Stops the sampler; NULL is fine. Every source's ctx must still be alive. */
void metrics_close(struct metrics *m);
int64_t metrics_now_ms(const struct metrics *m);

struct metrics_dim {
    const char *name;
    const char *value;
};
#define METRICS_DIMS_MAX 30

/* One aggregated observation (a StatisticSet; one value v is {1, v, v, v}). */
struct metrics_stat {
    double count, sum, min, max;
};

struct metrics_key {
    const char *region;
    const char *ns;
    const char *name;
    const struct metrics_dim *dims;
    size_t n_dims;
};

/* Adds s to the slot of ts_ms (resolution_s 1 or 60). Returns 0 or a store error. */
int metrics_put(struct metrics *m, const struct metrics_key *k, const char *unit, int64_t ts_ms,
                int resolution_s, const struct metrics_stat *s);
/* Many metrics_put in one transaction: all are recorded or none. */
struct metrics_put_item {
    const struct metrics_key *key;
    const char *unit;
    int64_t ts_ms;
    int resolution_s;
    struct metrics_stat stat;
};
int metrics_put_batch(struct metrics *m, const struct metrics_put_item *items, size_t n);

/* A statistic bucket of metrics_stats: the period starting at ts_ms. */
struct metrics_point {
    int64_t ts_ms;
    struct metrics_stat s;
    char unit[32];
};
/*
 * The metric's datapoints in [start_ms, end_ms) in period_s buckets aligned on start_ms,
 * one per bucket and unit (unit NULL: every unit; else that unit only), sorted by time.
 * *out (OUT) is malloc'd. Returns 0 or a store error.
 */
int metrics_stats(struct metrics *m, const struct metrics_key *k, const char *unit,
                  int64_t start_ms, int64_t end_ms, int period_s, struct metrics_point **out,
                  size_t *n_out);

/*
 * The percentiles ps (each 0..100, ascending) of the metric's samples in [from_ms, to_ms)
 * (unit NULL: every unit), into out. Returns 1, 0 when not computable (no samples, or a
 * statistic set of unequal values among them), or a store error.
 */
int metrics_percentiles(struct metrics *m, const struct metrics_key *k, const char *unit,
                        int64_t from_ms, int64_t to_ms, const double *ps, size_t n_ps,
                        double *out);

/* A dimension filter of metrics_list: value NULL matches any value. */
struct metrics_list_filter {
    const char *region;
    const char *ns;   /* NULL: any */
    const char *name; /* NULL: any */
    const struct metrics_dim *dims;
    size_t n_dims;
    int64_t after_id; /* paging: metrics with a larger id only */
};
/* Called per metric in id order; dims are valid for the call. Return non-zero to stop. */
typedef int (*metrics_list_fn)(void *arg, int64_t id, const char *ns, const char *name,
                               const struct metrics_dim *dims, size_t n_dims);
int metrics_list(struct metrics *m, const struct metrics_list_filter *f, metrics_list_fn fn,
                 void *arg);

/* ---- publishing ---- */

/* A source records what it counted since its last call with metrics_put; now_ms is the
   sample's time. */
typedef void (*metrics_source_fn)(struct metrics *m, int64_t now_ms, void *ctx);
/* Adds a source (at most 8); call before any sample. */
void metrics_add_source(struct metrics *m, metrics_source_fn fn, void *ctx);
/* Runs every source now and applies the retention. */
void metrics_sample_now(struct metrics *m);
/* The retention sweep alone (the sampler runs it): deletes slots older than the limits. */
int metrics_expire(struct metrics *m, int64_t now_ms);

/* The sources of the other parts (metrics_sources.c). */
struct stream_service;
struct delivery_service;
void metrics_source_kinesis(struct metrics *m, int64_t now_ms, void *stream_service);
void metrics_source_firehose(struct metrics *m, int64_t now_ms, void *delivery_service);
/* AWS/Athena per query of a publishing workgroup; ctx is this struct, whose cursor (the
   last completion time published) is kept in the store so a restart counts no query twice. */
struct query_service;
struct metrics_athena_source {
    struct query_service *query;
    const char *region;
    int64_t last_ms; /* set to -1: loaded from the store (0 when none) */
};
void metrics_source_athena(struct metrics *m, int64_t now_ms, void *athena_source);

/* AWS/S3 request metrics per bucket (s3_metrics.c): the front end's detailed observer
   (api_registry_observe_detail with the metrics_s3 as its arg) counts, the source
   publishes. The lake lists the buckets; destroy after the server has stopped. */
struct lake;
struct api_observation;
struct metrics_s3;
struct metrics_s3 *metrics_s3_create(struct lake *lake);
void metrics_s3_observe(void *metrics_s3, const struct api_observation *o);
/* A PutObject made inside Sluice (Firehose's deliveries: delivery_s3_observe_fn). */
void metrics_s3_observe_put(void *metrics_s3, const char *bucket, const char *key,
                            uint64_t bytes, int status, int64_t elapsed_us);
void metrics_source_s3(struct metrics *m, int64_t now_ms, void *metrics_s3);
void metrics_s3_destroy(struct metrics_s3 *s);

/* ---- the API ---- */

/* CloudWatch in awsJson1_0 (X-Amz-Target GraniteServiceVersion20100801.*), in Smithy RPC
   v2 CBOR (the same service, /service/GraniteServiceVersion20100801/operation/<Op>) and in
   awsQuery (signing name "monitoring"); free with cloudwatch_api_destroy after the
   registry. */
struct api_json_service;
struct api_query_service;
struct api_json_service *cloudwatch_json_api_create(struct metrics *m);
struct api_query_service *cloudwatch_query_api_create(struct metrics *m);
void cloudwatch_api_destroy(struct api_json_service *json, struct api_query_service *query);

/* ---- Prometheus (prometheus.c) ---- */

/* GET /metrics in Prometheus' text format. token: the bearer token a scrape must carry,
   or NULL for an open endpoint (the caller allows that only on a loopback address). */
struct prometheus;
struct api_plain_service;
struct prometheus *prometheus_create(struct metrics *m, struct stream_service *streams,
                                     struct delivery_service *delivery, const char *token);
/* Adds Athena's figures per workgroup (before the server starts). */
void prometheus_set_query(struct prometheus *p, struct query_service *query);
/* The plain service to register (api_registry_add_plain). */
const struct api_plain_service *prometheus_service(struct prometheus *p);
/* The front end's observer (api_registry_observe with p as its arg). */
void prometheus_observe(void *arg, const char *service, const char *operation, int status,
                        int64_t elapsed_us);
/* After the server has stopped; NULL is fine. */
void prometheus_destroy(struct prometheus *p);

/* ---- the console (console.c) ---- */

/* GET /console and /console/app.js: a read-only page that signs its own API calls. */
struct console;
struct console *console_create(const char *region);
const struct api_plain_service *console_page(struct console *c);
const struct api_plain_service *console_script(struct console *c);
void console_destroy(struct console *c);

/* ---- the cost (cost.c) ---- */

/* GET /_sluice/cost: the workload's cost at AWS's list prices over the last ?hours=N (1
   when absent), as JSON line items. token: as prometheus_create's. */
struct cost;
struct cost *cost_create(struct metrics *m, struct stream_service *streams,
                         struct delivery_service *delivery, struct query_service *query,
                         const char *region, const char *token);
const struct api_plain_service *cost_service(struct cost *c);
/* After the server has stopped; NULL is fine. */
void cost_destroy(struct cost *c);

#endif
