/*
 * AWS/S3 request metrics: what the front end observes of each S3 request that names a
 * bucket, counted per bucket and published by the sampler with the dimensions BucketName
 * and FilterId. On AWS a bucket has request metrics only under a metrics configuration,
 * whose FilterId is a dimension; Sluice counts every bucket under "EntireBucket", the
 * filter the console makes for the whole bucket (AWS publishes it only when a configuration
 * of that name exists). A bucket's own metrics configurations (PutBucketMetricsConfiguration,
 * lake/s3_metrics_config.c) count too, under FilterId = their Id: an object request
 * matches a filter by its Prefix (and a filter of no conditions matches every request);
 * a filter naming tags or an access point matches nothing, since neither is known here
 * without reading the object. The configurations are cached per bucket and read again
 * when the lake's bucket documents change (lake_bucket_docs_generation).
 *
 * Each request is a sample of value 1 in its request-type counts, and of 0 or 1 in
 * 4xxErrors and 5xxErrors (so Average is the error rate, as on AWS); bytes are samples of
 * the requests that carried a body. The latencies are the handling time: the front end
 * observes a request when its answer is ready, before the body is sent, so
 * FirstByteLatency and TotalRequestLatency are the same figure here.
 *
 * The storage metrics (BucketSizeBytes, NumberOfObjects) come from the lake's metadata.
 */
#include "metrics/metrics_int.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "http/api.h"
#include "lake/lake.h"

enum {
    S3M_ALL,
    S3M_GET,
    S3M_PUT,
    S3M_DELETE,
    S3M_HEAD,
    S3M_POST,
    S3M_LIST,
    S3M_4XX,
    S3M_5XX,
    S3M_DOWN,
    S3M_UP,
    S3M_FIRST_BYTE,
    S3M_TOTAL,
    S3M_N
};
static const struct {
    const char *name, *unit;
} s3m_names[S3M_N] = {
    {"AllRequests", "Count"},
    {"GetRequests", "Count"},
    {"PutRequests", "Count"},
    {"DeleteRequests", "Count"},
    {"HeadRequests", "Count"},
    {"PostRequests", "Count"},
    {"ListRequests", "Count"},
    {"4xxErrors", "Count"},
    {"5xxErrors", "Count"},
    {"BytesDownloaded", "Bytes"},
    {"BytesUploaded", "Bytes"},
    {"FirstByteLatency", "Milliseconds"},
    {"TotalRequestLatency", "Milliseconds"},
};

/* A metrics configuration's filter and its counts since the last sample. */
struct s3m_filter {
    char *id;
    char *prefix;  /* NULL: any key (and bucket requests too, when matches_all) */
    int matches_all; /* no conditions: the whole bucket */
    int never;       /* tags or an access point: not known here */
    struct metrics_stat st[S3M_N];
};

struct s3m_bucket {
    char name[64];
    struct metrics_stat st[S3M_N]; /* since the last sample */
    int loaded;                    /* filters read at generation */
    uint64_t generation;
    struct s3m_filter *filters;
    size_t n_filters;
    struct s3m_bucket *next;
};

#define S3M_SLOTS 256

struct metrics_s3 {
    struct lake *lake;
    pthread_mutex_t mu; /* guards the table */
    struct s3m_bucket *slots[S3M_SLOTS];
};

struct metrics_s3 *metrics_s3_create(struct lake *lake)
{
    struct metrics_s3 *s = xcalloc(1, sizeof(*s));
    s->lake = lake;
    pthread_mutex_init(&s->mu, NULL);
    return s;
}

static void free_filters(struct s3m_filter *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(f[i].id);
        free(f[i].prefix);
    }
    free(f);
}

void metrics_s3_destroy(struct metrics_s3 *s)
{
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; i < S3M_SLOTS; i++) {
        while (s->slots[i] != NULL) {
            struct s3m_bucket *b = s->slots[i];
            s->slots[i] = b->next;
            free_filters(b->filters, b->n_filters);
            free(b);
        }
    }
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static void add(struct metrics_stat *st, double v)
{
    if (st->count == 0 || v < st->min) {
        st->min = v;
    }
    if (st->count == 0 || v > st->max) {
        st->max = v;
    }
    st->count++;
    st->sum += v;
}

static int starts(const char *s, const char *prefix)
{
    return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The request-type count of a request, as AWS defines them (-1: none but AllRequests). */
static int request_type(const char *method, const char *op)
{
    if (strcmp(method, "HEAD") == 0) {
        return S3M_HEAD; /* objects and buckets */
    }
    if (starts(op, "ListObject")) {
        return S3M_LIST; /* the bucket's contents */
    }
    if (starts(op, "DeleteObject")) {
        return S3M_DELETE; /* DeleteObjects (a POST) included */
    }
    if (strcmp(method, "GET") == 0) {
        return starts(op, "GetObject") ? S3M_GET : -1;
    }
    if (strcmp(method, "PUT") == 0) {
        return starts(op, "PutObject") || starts(op, "CopyObject") || starts(op, "UploadPart")
                   ? S3M_PUT
                   : -1;
    }
    if (strcmp(method, "POST") == 0) {
        return op != NULL && strcmp(op, "SelectObjectContent") == 0 ? -1 : S3M_POST;
    }
    return -1;
}

static void count(struct metrics_stat *st, const struct api_observation *o, int type, double ms)
{
    add(&st[S3M_ALL], 1);
    if (type >= 0) {
        add(&st[type], 1);
    }
    add(&st[S3M_4XX], o->status >= 400 && o->status < 500);
    add(&st[S3M_5XX], o->status >= 500);
    if (o->bytes_out > 0) {
        add(&st[S3M_DOWN], (double)o->bytes_out);
    }
    if (o->bytes_in > 0) {
        add(&st[S3M_UP], (double)o->bytes_in);
    }
    add(&st[S3M_FIRST_BYTE], ms);
    add(&st[S3M_TOTAL], ms);
}

/* The bucket's filters from its metrics document ("EntireBucket" is counted already). */
static void read_filters(struct lake *lake, const char *bucket, struct s3m_filter **out,
                         size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    char *doc = NULL;
    struct err_info err = {0};
    if (lake_bucket_doc_get(lake, bucket, LAKE_BUCKET_METRICS, &doc, &err) < 0 || doc == NULL) {
        return;
    }
    json_t *all = json_loads(doc, 0, NULL);
    free(doc);
    size_t n = json_is_object(all) ? json_object_size(all) : 0;
    struct s3m_filter *f = n ? xcalloc(n, sizeof(*f)) : NULL;
    size_t k = 0;
    const char *id;
    json_t *cfg;
    json_object_foreach(all, id, cfg)
    {
        if (strcmp(id, "EntireBucket") == 0) {
            continue;
        }
        const char *p = json_string_value(json_object_get(cfg, "p"));
        f[k].id = xstrdup(id);
        f[k].prefix = xstrdup(p != NULL ? p : "");
        f[k].never = json_array_size(json_object_get(cfg, "t")) > 0 ||
                     json_object_get(cfg, "a") != NULL;
        f[k].matches_all = !f[k].never && p == NULL;
        k++;
    }
    json_decref(all);
    *out = f;
    *n_out = k;
}

/* Reads the bucket's filters again when a bucket document changed; the counts of the
   filters that remain are kept. Called under s->mu: rare (after a document change). */
static void refresh_filters(struct metrics_s3 *s, struct s3m_bucket *b)
{
    uint64_t gen = lake_bucket_docs_generation(s->lake);
    if (b->loaded && b->generation == gen) {
        return;
    }
    struct s3m_filter *f;
    size_t n;
    read_filters(s->lake, b->name, &f, &n);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < b->n_filters; j++) {
            if (strcmp(f[i].id, b->filters[j].id) == 0) {
                memcpy(f[i].st, b->filters[j].st, sizeof(f[i].st));
            }
        }
    }
    free_filters(b->filters, b->n_filters);
    b->filters = f;
    b->n_filters = n;
    b->generation = gen;
    b->loaded = 1;
}

static unsigned slot_of(const char *name)
{
    uint32_t h = 2166136261u;
    for (const char *p = name; *p; p++) {
        h = (h ^ (uint8_t)*p) * 16777619u;
    }
    return h % S3M_SLOTS;
}

void metrics_s3_observe(void *arg, const struct api_observation *o)
{
    struct metrics_s3 *s = arg;
    if (o->bucket == NULL || strcmp(o->service, "s3") != 0 || strcmp(o->method, "OPTIONS") == 0) {
        return;
    }
    int type = request_type(o->method, o->bucket_operation);
    double ms = (double)o->elapsed_us / 1000.0;
    unsigned slot = slot_of(o->bucket);
    pthread_mutex_lock(&s->mu);
    struct s3m_bucket *b = s->slots[slot];
    while (b != NULL && strcmp(b->name, o->bucket) != 0) {
        b = b->next;
    }
    if (b == NULL) {
        b = xcalloc(1, sizeof(*b));
        snprintf(b->name, sizeof(b->name), "%s", o->bucket);
        b->next = s->slots[slot];
        s->slots[slot] = b;
    }
    count(b->st, o, type, ms);
    refresh_filters(s, b);
    for (size_t i = 0; i < b->n_filters; i++) {
        struct s3m_filter *f = &b->filters[i];
        if (f->matches_all || (!f->never && o->key != NULL && starts(o->key, f->prefix))) {
            count(f->st, o, type, ms);
        }
    }
    pthread_mutex_unlock(&s->mu);
}

void metrics_s3_observe_put(void *arg, const char *bucket, const char *key, uint64_t bytes,
                            int status, int64_t elapsed_us)
{
    if (strlen(bucket) > LAKE_BUCKET_NAME_MAX) {
        return;
    }
    struct api_observation o = {.service = "s3",
                                .operation = "PutObject",
                                .method = "PUT",
                                .status = status,
                                .elapsed_us = elapsed_us,
                                .bucket = bucket,
                                .bucket_operation = "PutObject",
                                .key = key,
                                .bytes_in = bytes};
    metrics_s3_observe(arg, &o);
}

/* One FilterId's counts, taken for a sample. */
struct s3m_taken {
    char *id;
    struct metrics_stat st[S3M_N];
};

/* The counts since the last sample of the bucket named, per FilterId (EntireBucket
   first), taken (zeroed); 0 when none. */
static size_t take(struct metrics_s3 *s, const char *name, struct s3m_taken **out)
{
    size_t n = 0;
    *out = NULL;
    pthread_mutex_lock(&s->mu);
    for (struct s3m_bucket *b = s->slots[slot_of(name)]; b != NULL; b = b->next) {
        if (strcmp(b->name, name) == 0) {
            struct s3m_taken *t = xcalloc(b->n_filters + 1, sizeof(*t));
            t[0].id = xstrdup("EntireBucket");
            memcpy(t[0].st, b->st, sizeof(b->st));
            memset(b->st, 0, sizeof(b->st));
            for (size_t i = 0; i < b->n_filters; i++) {
                t[i + 1].id = xstrdup(b->filters[i].id);
                memcpy(t[i + 1].st, b->filters[i].st, sizeof(b->st));
                memset(b->filters[i].st, 0, sizeof(b->st));
            }
            n = b->n_filters + 1;
            *out = t;
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* Records one FilterId's counts (none: no datapoint for what did not happen). */
static void publish(struct metrics *m, int64_t now_ms, const struct lake_bucket_info *b,
                    const struct s3m_taken *t)
{
    struct metrics_dim dims[2] = {{"BucketName", b->name}, {"FilterId", t->id}};
    struct metrics_put_item items[S3M_N];
    struct metrics_key keys[S3M_N];
    size_t n_items = 0;
    for (int j = 0; j < S3M_N; j++) {
        if (t->st[j].count == 0) {
            continue;
        }
        keys[n_items] = (struct metrics_key){b->region, "AWS/S3", s3m_names[j].name, dims, 2};
        items[n_items] =
            (struct metrics_put_item){&keys[n_items], s3m_names[j].unit, now_ms, 60, t->st[j]};
        n_items++;
    }
    if (n_items == 0) {
        return;
    }
    int rc = metrics_put_batch(m, items, n_items);
    if (rc < 0) {
        log_msg(LOG_WARN, "metrics", "cannot record AWS/S3 for %s: %s", b->name,
                sl_strerror(rc));
    }
}

/*
 * BucketSizeBytes (StorageType StandardStorage: Sluice has one storage class) and
 * NumberOfObjects (StorageType AllStorageTypes), which AWS publishes once a day: here at
 * every sample, as gauges (read them with Average or Maximum), from the lake's metadata
 * (two indexed range counts per bucket).
 */
static void storage_metrics(struct metrics *m, int64_t now_ms, struct lake *lake,
                            const struct lake_bucket_info *b)
{
    struct lake_bucket_usage u;
    if (lake_bucket_usage(lake, b->name, &u) < 0) {
        return;
    }
    struct metrics_dim dims[2] = {{"BucketName", b->name}, {"StorageType", "StandardStorage"}};
    struct metrics_key k = {b->region, "AWS/S3", "BucketSizeBytes", dims, 2};
    metrics__put_gauge(m, &k, "Bytes", now_ms, (double)u.bytes);
    dims[1].value = "AllStorageTypes";
    k.name = "NumberOfObjects";
    metrics__put_gauge(m, &k, "Count", now_ms, (double)u.objects);
}

void metrics_source_s3(struct metrics *m, int64_t now_ms, void *ctx)
{
    struct metrics_s3 *s = ctx;
    struct lake_bucket_info *b;
    size_t n;
    if (lake_bucket_list(s->lake, &b, &n) < 0) {
        return;
    }
    /* Only the buckets that exist: a request naming no bucket of the lake counts nowhere. */
    for (size_t i = 0; i < n; i++) {
        storage_metrics(m, now_ms, s->lake, &b[i]);
        struct s3m_taken *t;
        size_t n_taken = take(s, b[i].name, &t);
        for (size_t j = 0; j < n_taken; j++) {
            publish(m, now_ms, &b[i], &t[j]);
            free(t[j].id);
        }
        free(t);
    }
    free(b);
}
