/*
 * GET /metrics in Prometheus' text format (exposition format 0.0.4): the figures Sluice
 * publishes to CloudWatch, as counters since the server started (Prometheus computes the
 * rates), alarms by state, and the server's own: requests and their latency by service
 * and operation (told by the front end, api_registry_observe), resident memory, open
 * file descriptors, file-sync durations, group-commit batch sizes and segment-log bytes.
 *
 * Scrapers cannot sign SigV4, so the endpoint has its own access rule, chosen at start:
 * a bearer token (Authorization: Bearer TOKEN), or open, which the server allows only
 * when it listens on a loopback address.
 */
#include "metrics/metrics_int.h"

#include <ctype.h>
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/file.h"
#include "core/mem.h"
#include "core/store.h"
#include "delivery/delivery.h"
#include "http/api.h"
#include "http/http.h"
#include "query/query.h"
#include "stream/seglog.h"
#include "stream/stream.h"

/* The latency buckets' upper bounds, in microseconds (Prometheus' le is in seconds). */
static const int64_t bucket_us[] = {1000,   5000,   10000,   25000,   50000,   100000,
                                    250000, 500000, 1000000, 2500000, 5000000, 10000000};
#define N_BUCKETS (sizeof(bucket_us) / sizeof(bucket_us[0]))
#define OPS_MAX 256

/* One service and operation's requests. The strings are the front end's (static). */
struct op_stats {
    const char *service;
    const char *operation;
    atomic_uint_fast64_t count, errors_4xx, errors_5xx, sum_us;
    atomic_uint_fast64_t buckets[N_BUCKETS]; /* each counts its own range; summed when shown */
};

struct prometheus {
    struct api_plain_service plain;
    struct metrics *m;
    struct stream_service *streams;
    struct delivery_service *delivery;
    struct query_service *query; /* NULL: no Athena figures */
    char *token;                 /* NULL: open */
    pthread_mutex_t add_mu;      /* adding an entry; lookups read without it */
    struct op_stats ops[OPS_MAX];
    atomic_size_t n_ops;
    int64_t started_ms;
};

static int same(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static struct op_stats *find_op(struct prometheus *p, const char *service, const char *op)
{
    size_t n = atomic_load(&p->n_ops);
    for (size_t i = 0; i < n; i++) {
        if (same(p->ops[i].service, service) && same(p->ops[i].operation, op)) {
            return &p->ops[i];
        }
    }
    pthread_mutex_lock(&p->add_mu);
    n = atomic_load(&p->n_ops);
    struct op_stats *s = NULL;
    for (size_t i = 0; i < n && s == NULL; i++) {
        if (same(p->ops[i].service, service) && same(p->ops[i].operation, op)) {
            s = &p->ops[i];
        }
    }
    if (s == NULL && n < OPS_MAX) {
        s = &p->ops[n];
        s->service = service;
        s->operation = op;
        atomic_store(&p->n_ops, n + 1); /* published after its names */
    }
    pthread_mutex_unlock(&p->add_mu);
    return s;
}

void prometheus_observe(void *arg, const char *service, const char *operation, int status,
                        int64_t elapsed_us)
{
    struct prometheus *p = arg;
    struct op_stats *s = find_op(p, service, operation ? operation : "");
    if (s == NULL) {
        return; /* more operations than the table holds: not counted */
    }
    atomic_fetch_add(&s->count, 1);
    atomic_fetch_add(&s->sum_us, (uint64_t)(elapsed_us > 0 ? elapsed_us : 0));
    if (status >= 500) {
        atomic_fetch_add(&s->errors_5xx, 1);
    } else if (status >= 400) {
        atomic_fetch_add(&s->errors_4xx, 1);
    }
    for (size_t b = 0; b < N_BUCKETS; b++) {
        if (elapsed_us <= bucket_us[b]) {
            atomic_fetch_add(&s->buckets[b], 1);
            break;
        }
    }
}

/* ---- the text format ---- */

static void label_value(struct buf *b, const char *v)
{
    for (; *v != '\0'; v++) {
        if (*v == '\\' || *v == '"') {
            buf_putc(b, '\\');
            buf_putc(b, *v);
        } else if (*v == '\n') {
            buf_puts(b, "\\n");
        } else {
            buf_putc(b, *v);
        }
    }
}

static void head(struct buf *b, const char *name, const char *type, const char *help)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void number(struct buf *b, double v)
{
    char s[40];
    snprintf(s, sizeof(s), "%.17g", v);
    buf_puts(b, s);
}

/* "DeliveryToS3.DataFreshness" -> "delivery_to_s3_data_freshness" */
static void snake(const char *name, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; name[i] != '\0' && o + 2 < cap; i++) {
        char c = name[i];
        if (c == '.' || c == '-') {
            if (o > 0 && out[o - 1] != '_') {
                out[o++] = '_';
            }
            continue;
        }
        if (isupper((unsigned char)c) && i > 0 && o > 0 && out[o - 1] != '_' &&
            (islower((unsigned char)name[i - 1]) || isdigit((unsigned char)name[i - 1]) ||
             (name[i + 1] != '\0' && islower((unsigned char)name[i + 1]) &&
              isupper((unsigned char)name[i - 1])))) {
            out[o++] = '_';
        }
        out[o++] = (char)tolower((unsigned char)c);
    }
    out[o] = '\0';
}

/* Per shard: the records it took (its rate against the shard limits shows the hot one)
   and its segment-log bytes. */
static void shards_section(struct prometheus *p, struct buf *b)
{
    struct stream_shard_log *s;
    size_t n;
    stream_shard_logs(p->streams, &s, &n);
    static const char *const family[2][2] = {
        {"sluice_kinesis_shard_records_total",
         "Records the shard made durable since it was made (rate: its writes per second)."},
        {"sluice_kinesis_shard_segment_log_bytes", "Bytes in the shard's segment-log files."}};
    for (int f = 0; f < 2; f++) {
        head(b, family[f][0], f == 0 ? "counter" : "gauge", family[f][1]);
        for (size_t i = 0; i < n; i++) {
            char shard_id[STREAM_SHARD_ID_LEN + 1];
            stream_shard_id_format(s[i].shard_idx, shard_id);
            buf_printf(b, "%s{region=\"%s\",stream=\"", family[f][0], s[i].region);
            label_value(b, s[i].name);
            buf_printf(b, "\",shard=\"%s\"} %llu\n", shard_id,
                       (unsigned long long)(f == 0 ? s[i].records : s[i].bytes));
        }
    }
    free(s);
}

static void kinesis_section(struct prometheus *p, struct buf *b)
{
    struct stream_counts *c;
    size_t n;
    stream_counts_all(p->streams, &c, &n);
    static const struct {
        const char *name, *help;
        size_t field;
    } series[] = {
        {"sluice_kinesis_incoming_records_total",
         "Records written to the stream (AWS/Kinesis"
         " IncomingRecords).",
         offsetof(struct stream_counts, incoming_records)},
        {"sluice_kinesis_incoming_bytes_total",
         "Bytes written to the stream (AWS/Kinesis"
         " IncomingBytes).",
         offsetof(struct stream_counts, incoming_bytes)},
        {"sluice_kinesis_write_provisioned_throughput_exceeded_total",
         "Records refused by the"
         " shard write limits (AWS/Kinesis WriteProvisionedThroughputExceeded).",
         offsetof(struct stream_counts, write_throttled)},
        {"sluice_kinesis_outgoing_records_total",
         "Records read from the stream (AWS/Kinesis OutgoingRecords).",
         offsetof(struct stream_counts, outgoing_records)},
        {"sluice_kinesis_outgoing_bytes_total",
         "Bytes read from the stream (AWS/Kinesis OutgoingBytes).",
         offsetof(struct stream_counts, outgoing_bytes)},
    };
    for (size_t s = 0; s < sizeof(series) / sizeof(series[0]); s++) {
        head(b, series[s].name, "counter", series[s].help);
        for (size_t i = 0; i < n; i++) {
            buf_printf(b, "%s{region=\"%s\",stream=\"", series[s].name, c[i].region);
            label_value(b, c[i].name);
            uint64_t v = *(const uint64_t *)((const char *)&c[i] + series[s].field);
            buf_printf(b, "\"} %llu\n", (unsigned long long)v);
        }
    }
    head(b, "sluice_kinesis_segment_log_bytes", "gauge",
         "Bytes in the stream's segment-log files, every shard's.");
    for (size_t i = 0; i < n; i++) {
        buf_printf(b, "sluice_kinesis_segment_log_bytes{region=\"%s\",stream=\"", c[i].region);
        label_value(b, c[i].name);
        buf_printf(b, "\"} %llu\n", (unsigned long long)c[i].log_bytes);
    }
    free(c);
    shards_section(p, b);
}

/* One histogram without labels: counts[i] each in its own bucket (bounds[i], the last
   +Inf), shown cumulative as Prometheus wants. */
static void histogram(struct buf *b, const char *name, const unsigned long *counts,
                      const double *bounds, size_t n_bounds, double sum)
{
    unsigned long long cum = 0;
    for (size_t k = 0; k < n_bounds; k++) {
        cum += counts[k];
        buf_printf(b, "%s_bucket{le=\"", name);
        number(b, bounds[k]);
        buf_printf(b, "\"} %llu\n", cum);
    }
    cum += counts[n_bounds];
    buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum ", name, cum, name);
    number(b, sum);
    buf_printf(b, "\n%s_count %llu\n", name, cum);
}

/* Durability's cost: flushes, how long the file syncs take, and how many records each
   segment-log flush made durable (group commit). */
static void storage_section(struct buf *b)
{
    head(b, "sluice_flushes_total", "counter",
         "Flushes to the device (file syncs and the metadata store's).");
    buf_printf(b, "sluice_flushes_total %lu\n", file_flush_count());
    unsigned long
        counts[FILE_SYNC_BUCKETS > SEGLOG_BATCH_BUCKETS ? FILE_SYNC_BUCKETS : SEGLOG_BATCH_BUCKETS];
    double bounds[sizeof(counts) / sizeof(counts[0])];
    unsigned long long sum;
    file_sync_histogram(counts, &sum);
    for (size_t k = 0; k < FILE_SYNC_BUCKETS - 1; k++) {
        bounds[k] = (double)file_sync_bucket_us[k] / 1e6;
    }
    head(b, "sluice_fsync_duration_seconds", "histogram",
         "Time of each file sync (fdatasync, fsync) of the segment logs and the lake.");
    histogram(b, "sluice_fsync_duration_seconds", counts, bounds, FILE_SYNC_BUCKETS - 1,
              (double)sum / 1e6);
    seglog_batch_histogram(counts, &sum);
    for (size_t k = 0; k < SEGLOG_BATCH_BUCKETS - 1; k++) {
        bounds[k] = seglog_batch_bounds[k];
    }
    head(b, "sluice_group_commit_records", "histogram",
         "Records made durable by each segment-log flush (group commit).");
    histogram(b, "sluice_group_commit_records", counts, bounds, SEGLOG_BATCH_BUCKETS - 1,
              (double)sum);
}

/* Every delivery stream's figures, one family per metric name. */
static void firehose_section(struct prometheus *p, struct buf *b)
{
    struct delivery_stream_id *ids;
    size_t n;
    delivery_stream_ids(p->delivery, &ids, &n);
    struct row {
        size_t stream;
        struct delivery_metric dm;
    } *rows = NULL;
    size_t n_rows = 0;
    for (size_t i = 0; i < n; i++) {
        struct delivery_metric dm[DELIVERY_METRICS_MAX];
        size_t n_dm = 0;
        if (delivery_stream_metrics(p->delivery, ids[i].region, ids[i].name, dm, &n_dm) < 0) {
            continue;
        }
        rows = xrealloc(rows, (n_rows + n_dm + 1) * sizeof(*rows));
        for (size_t j = 0; j < n_dm; j++) {
            rows[n_rows++] = (struct row){i, dm[j]};
        }
    }
    for (size_t r = 0; r < n_rows; r++) {
        int first = 1;
        for (size_t e = 0; e < r && first; e++) {
            first = strcmp(rows[e].dm.name, rows[r].dm.name) != 0;
        }
        if (!first) {
            continue;
        }
        int gauge = metrics__firehose_is_gauge(&rows[r].dm);
        char base[96], name[128], help[160];
        snake(rows[r].dm.name, base, sizeof(base));
        snprintf(name, sizeof(name), "sluice_firehose_%s%s", base, gauge ? "" : "_total");
        snprintf(help, sizeof(help), "AWS/Firehose %s (%s)%s.", rows[r].dm.name, rows[r].dm.unit,
                 gauge ? ", the latest value" : ", since the server started");
        head(b, name, gauge ? "gauge" : "counter", help);
        for (size_t e = r; e < n_rows; e++) {
            if (strcmp(rows[e].dm.name, rows[r].dm.name) == 0) {
                const struct delivery_stream_id *id = &ids[rows[e].stream];
                buf_printf(b, "%s{region=\"%s\",delivery_stream=\"", name, id->region);
                label_value(b, id->name);
                buf_puts(b, "\"} ");
                number(b, rows[e].dm.value);
                buf_putc(b, '\n');
            }
        }
    }
    free(rows);
    /* The buffers now: what waits for the next object. */
    static const char *const buffered[2][2] = {
        {"sluice_firehose_buffered_bytes", "Bytes in the buffer, not yet in an object."},
        {"sluice_firehose_buffered_records", "Records in the buffer, not yet in an object."}};
    for (int g = 0; g < 2; g++) {
        head(b, buffered[g][0], "gauge", buffered[g][1]);
        for (size_t i = 0; i < n; i++) {
            struct delivery_counters c;
            if (delivery_stream_counters(p->delivery, ids[i].region, ids[i].name, &c) < 0) {
                continue;
            }
            buf_printf(b, "%s{region=\"%s\",delivery_stream=\"", buffered[g][0], ids[i].region);
            label_value(b, ids[i].name);
            buf_printf(b, "\"} %llu\n",
                       (unsigned long long)(g == 0 ? c.buffered_bytes : c.buffered_records));
        }
    }
    free(ids);
}

/* Athena per workgroup: the queries kept by state, and the bytes they scanned. */
static void athena_section(struct prometheus *p, struct buf *b)
{
    struct query_workgroup_total *t;
    size_t n;
    if (p->query == NULL || query_workgroup_totals(p->query, &t, &n) < 0) {
        return;
    }
    head(b, "sluice_athena_queries_total", "counter",
         "Athena queries kept, by workgroup and state.");
    for (size_t i = 0; i < n; i++) {
        buf_puts(b, "sluice_athena_queries_total{workgroup=\"");
        label_value(b, t[i].workgroup);
        buf_printf(b, "\",state=\"%s\"} %llu\n", t[i].state, (unsigned long long)t[i].queries);
    }
    head(b, "sluice_athena_processed_bytes_total", "counter",
         "Bytes Athena queries scanned, by workgroup (AWS/Athena ProcessedBytes).");
    for (size_t i = 0; i < n; i++) {
        uint64_t sum = 0;
        int first = i == 0 || strcmp(t[i - 1].workgroup, t[i].workgroup) != 0;
        for (size_t j = i; first && j < n && strcmp(t[j].workgroup, t[i].workgroup) == 0; j++) {
            sum += t[j].scanned_bytes;
        }
        if (first) {
            buf_puts(b, "sluice_athena_processed_bytes_total{workgroup=\"");
            label_value(b, t[i].workgroup);
            buf_printf(b, "\"} %llu\n", (unsigned long long)sum);
        }
    }
    free(t);
}

static void alarms_section(struct prometheus *p, struct buf *b)
{
    static const char *const states[] = {"OK", "ALARM", "INSUFFICIENT_DATA"};
    head(b, "sluice_cloudwatch_alarms", "gauge", "CloudWatch metric alarms by state.");
    struct store *st = metrics__store(p->m);
    store_read_begin(st);
    for (int s = 0; s < 3; s++) {
        struct store_stmt *q = store_prepare_args(
            st, "SELECT COUNT(*) FROM metric_alarm WHERE state=?", "s", states[s]);
        long long n = q != NULL && store_step(q) == 1 ? (long long)store_col_int64(q, 0) : 0;
        store_finalize(q);
        buf_printf(b, "sluice_cloudwatch_alarms{state=\"%s\"} %lld\n", states[s], n);
    }
    store_read_end(st);
}

static void requests_section(struct prometheus *p, struct buf *b)
{
    size_t n = atomic_load(&p->n_ops);
    head(b, "sluice_http_requests_total", "counter",
         "Requests answered, by service, operation and status class.");
    for (size_t i = 0; i < n; i++) {
        struct op_stats *s = &p->ops[i];
        uint64_t all = atomic_load(&s->count), e4 = atomic_load(&s->errors_4xx),
                 e5 = atomic_load(&s->errors_5xx);
        const uint64_t by_class[3] = {all - e4 - e5, e4, e5};
        static const char *const classes[3] = {"2xx", "4xx", "5xx"};
        for (int c = 0; c < 3; c++) {
            if (by_class[c] > 0 || c == 0) {
                buf_printf(b,
                           "sluice_http_requests_total{service=\"%s\",operation=\"%s\","
                           "code=\"%s\"} %llu\n",
                           s->service, s->operation, classes[c], (unsigned long long)by_class[c]);
            }
        }
    }
    head(b, "sluice_http_request_duration_seconds", "histogram",
         "Time to answer a request, by service and operation.");
    for (size_t i = 0; i < n; i++) {
        struct op_stats *s = &p->ops[i];
        uint64_t cum = 0;
        for (size_t k = 0; k < N_BUCKETS; k++) {
            cum += atomic_load(&s->buckets[k]);
            buf_printf(b,
                       "sluice_http_request_duration_seconds_bucket{service=\"%s\","
                       "operation=\"%s\",le=\"",
                       s->service, s->operation);
            number(b, (double)bucket_us[k] / 1e6);
            buf_printf(b, "\"} %llu\n", (unsigned long long)cum);
        }
        uint64_t count = atomic_load(&s->count);
        buf_printf(b,
                   "sluice_http_request_duration_seconds_bucket{service=\"%s\",operation="
                   "\"%s\",le=\"+Inf\"} %llu\n",
                   s->service, s->operation, (unsigned long long)count);
        buf_printf(b,
                   "sluice_http_request_duration_seconds_sum{service=\"%s\",operation="
                   "\"%s\"} ",
                   s->service, s->operation);
        number(b, (double)atomic_load(&s->sum_us) / 1e6);
        buf_printf(b,
                   "\nsluice_http_request_duration_seconds_count{service=\"%s\",operation="
                   "\"%s\"} %llu\n",
                   s->service, s->operation, (unsigned long long)count);
    }
}

static void process_section(struct prometheus *p, struct buf *b)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2) {
            rss = 0;
        }
        fclose(f);
    }
    head(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    buf_printf(b, "process_resident_memory_bytes %lld\n",
               (long long)rss * (long long)sysconf(_SC_PAGESIZE));
    long fds = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d != NULL) {
        while (readdir(d) != NULL) {
            fds++;
        }
        closedir(d);
        fds -= 3; /* ".", ".." and the directory's own descriptor */
    }
    head(b, "process_open_fds", "gauge", "Open file descriptors (connections among them).");
    buf_printf(b, "process_open_fds %ld\n", fds);
    head(b, "sluice_http_open_connections", "gauge", "Client connections open now.");
    buf_printf(b, "sluice_http_open_connections %ld\n", http_open_connections());
    head(b, "process_start_time_seconds", "gauge", "Start time since the epoch in seconds.");
    buf_printf(b, "process_start_time_seconds %lld\n", (long long)(p->started_ms / 1000));
}

/* 1 when the request carries the token (compared in constant time). */
static int authorized(const struct prometheus *p, const struct api_request *req)
{
    if (p->token == NULL) {
        return 1;
    }
    const char *auth = api_request_header(req, "Authorization");
    if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0) {
        return 0;
    }
    const char *given = auth + 7;
    size_t n = strlen(p->token);
    if (strlen(given) != n) {
        return 0;
    }
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++) {
        diff |= (unsigned char)(given[i] ^ p->token[i]);
    }
    return diff == 0;
}

static void answer(void *ctx, const struct api_request *req, struct api_response *resp)
{
    struct prometheus *p = ctx;
    if (!authorized(p, req)) {
        resp->status = 401;
        api_response_header(resp, "WWW-Authenticate", "Bearer realm=\"sluice-metrics\"");
        api_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
        buf_puts(&resp->body, "A bearer token is required (Authorization: Bearer TOKEN).\n");
        return;
    }
    struct buf *b = &resp->body;
    kinesis_section(p, b);
    firehose_section(p, b);
    athena_section(p, b);
    alarms_section(p, b);
    requests_section(p, b);
    storage_section(b);
    process_section(p, b);
    api_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
}

struct prometheus *prometheus_create(struct metrics *m, struct stream_service *streams,
                                     struct delivery_service *delivery, const char *token)
{
    struct prometheus *p = xcalloc(1, sizeof(*p));
    p->m = m;
    p->streams = streams;
    p->delivery = delivery;
    p->token = token != NULL ? xstrdup(token) : NULL;
    p->started_ms = metrics_now_ms(m);
    pthread_mutex_init(&p->add_mu, NULL);
    p->plain = (struct api_plain_service){"/metrics", answer, p};
    return p;
}

void prometheus_set_query(struct prometheus *p, struct query_service *query)
{
    p->query = query;
}

const struct api_plain_service *prometheus_service(struct prometheus *p)
{
    return &p->plain;
}

void prometheus_destroy(struct prometheus *p)
{
    if (p == NULL) {
        return;
    }
    pthread_mutex_destroy(&p->add_mu);
    free(p->token);
    free(p);
}
