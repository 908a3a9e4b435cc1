/*
 * Dynamic partitioning in the delivery engine: one buffer of records becomes one object
 * per partition (an evaluated prefix), plus error objects for the records that have none.
 *
 *   record ──▶ partition_keys_extract (the MetadataExtractionQuery, jq 1.6)
 *          ──▶ partition_prefix_expand (Prefix with !{partitionKeyFromQuery:k} replaced)
 *          ──▶ its partition's group (records stay where they are in the buffer; a group
 *              is a list of their places)
 *   failed ──▶ metadata-extraction-failed / partitioning-failed, one JSON line each
 *   the 501st partition of one buffer and beyond ──▶ activePartitionExceeded
 *   each group ──▶ one object: raw (AppendDelimiterToRecord, compression) or Parquet
 *                  (convert_engine.c, with its own format-conversion-failed errors)
 *
 * Buffering. AWS keeps a buffer per partition, each delivered on its own size and
 * interval. Here a delivery stream keeps ONE buffer (BufferingHints apply to it as a
 * whole) and cuts it into partitions when it is due: memory stays bounded by SizeInMBs
 * whatever the number of partitions (500 partitions never mean 500 buffers), at the price
 * of smaller objects than AWS writes when many partitions share a buffer. The buffer's
 * distinct prefixes are its active partitions; the limit (500, AWS's default quota) is
 * counted per buffer.
 *
 * Error lines have the processing-failed shape (the only one AWS documents for
 * per-record errors outside conversion): attemptsMade, arrivalTimestamp, errorCode,
 * errorMessage, attemptEndingTimestamp, rawData (base64). The errorCode values
 * (DynamicPartitioning.MetadataExtractionFailed, .PartitioningFailed,
 * .ActivePartitionExceeded) are Sluice's: AWS does not document them.
 *
 * Catalog registration (beyond AWS). With format conversion, when the SchemaConfiguration
 * table is partitioned and Prefix is a Hive layout of its partition keys right after the
 * table's location, `<location path>k1=!{partitionKeyFromQuery:..}/k2=...` (the keys in the
 * table's order, nothing else), each partition's object is followed by
 * catalog_partition_ensure with the values read back from the evaluated prefix and the
 * location s3://bucket/<prefix>: Athena sees the data with no crawler or MSCK REPAIR. An
 * existing partition is left as it is. A failure is logged and never holds delivery back
 * (the object is in the lake). The delivery stream tag sluice:register-partitions=false
 * turns it off. A value holding '/' spans several levels and is not a Hive partition: it is
 * not registered.
 *
 * The caller moves the source positions only after this returns 0, that is after every
 * partition's object and every error object holding the buffer's records is in the lake.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "catalog/catalog.h"
#include "core/base64.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/store.h"
#include "delivery/compress.h"
#include "delivery/delivery_int.h"
#include "delivery/partition.h"

#define RETRY_MAX_MS 30000

/* One partition of the buffer. */
struct group {
    char *prefix;      /* owned, NUL-terminated evaluated prefix */
    size_t prefix_len; /* bytes */
    struct buf recs;   /* struct delivery_rec, in buffer order */
    int64_t oldest_ms; /* arrival of its oldest record */
};

/* The buffer's partitions, with an index by prefix. */
struct groups {
    struct group *v;
    size_t n, cap;
    size_t *slots; /* open addressing: group index + 1, 0 = empty */
    size_t n_slots;
};

/* Records of one error type. */
struct errs {
    const char *type;
    struct buf lines;
    int64_t oldest_ms;
    size_t n;
    int failed; /* a line could not be made (out of memory) */
};

static uint64_t hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (uint8_t)s[i]) * 1099511628211ULL;
    }
    return h;
}

static void groups_fini(struct groups *g)
{
    for (size_t i = 0; i < g->n; i++) {
        free(g->v[i].prefix);
        buf_fini(&g->v[i].recs);
    }
    free(g->v);
    free(g->slots);
    memset(g, 0, sizeof(*g));
}

static void groups_rehash(struct groups *g, size_t n_slots)
{
    free(g->slots);
    g->slots = xcalloc(n_slots, sizeof(*g->slots));
    g->n_slots = n_slots;
    for (size_t i = 0; i < g->n; i++) {
        size_t at = hash(g->v[i].prefix, g->v[i].prefix_len) & (n_slots - 1);
        while (g->slots[at] != 0) {
            at = (at + 1) & (n_slots - 1);
        }
        g->slots[at] = i + 1;
    }
}

/*
 * The group of prefix (len bytes): found, or added when fewer than limit are held.
 * Returns its index, or -1 when the limit is reached.
 */
static long groups_get(struct groups *g, const char *prefix, size_t len, size_t limit)
{
    if (g->n_slots == 0) {
        groups_rehash(g, 64);
    }
    size_t at = hash(prefix, len) & (g->n_slots - 1);
    while (g->slots[at] != 0) {
        struct group *x = &g->v[g->slots[at] - 1];
        if (x->prefix_len == len && memcmp(x->prefix, prefix, len) == 0) {
            return (long)(g->slots[at] - 1);
        }
        at = (at + 1) & (g->n_slots - 1);
    }
    if (g->n >= limit) {
        return -1;
    }
    if (g->n == g->cap) {
        g->cap = g->cap == 0 ? 16 : g->cap * 2;
        g->v = xrealloc(g->v, g->cap * sizeof(*g->v));
    }
    struct group *x = &g->v[g->n];
    x->prefix = xstrndup(prefix, len);
    x->prefix_len = len;
    buf_init(&x->recs);
    x->oldest_ms = 0;
    g->slots[at] = ++g->n;
    if (g->n * 2 > g->n_slots) {
        groups_rehash(g, g->n_slots * 2);
    }
    return (long)(g->n - 1);
}

/* Appends one error line for rec to e. */
static void errs_add(struct errs *e, const char *code, const char *message,
                     const struct delivery_rec *rec, const uint8_t *data, int64_t now)
{
    char *b64 = xmalloc(BASE64_ENCODED_LEN(rec->len) + 1);
    b64[base64_encode(data + rec->off, rec->len, b64)] = '\0';
    json_t *line = json_pack("{s:i,s:I,s:s,s:s,s:I,s:s}", "attemptsMade", 1, "arrivalTimestamp",
                             (json_int_t)rec->arrival_ms, "errorCode", code, "errorMessage",
                             message, "attemptEndingTimestamp", (json_int_t)now, "rawData", b64);
    char *text = line != NULL ? json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (text != NULL) {
        buf_puts(&e->lines, text);
        buf_putc(&e->lines, '\n');
    } else {
        e->failed = 1;
    }
    free(text);
    json_decref(line);
    free(b64);
    if (e->n == 0 || rec->arrival_ms < e->oldest_ms) {
        e->oldest_ms = rec->arrival_ms;
    }
    e->n++;
}

/* The error code for an error type. */
static const char *error_code(const char *type)
{
    if (strcmp(type, PARTITION_ERROR_PARTITIONING) == 0) {
        return "DynamicPartitioning.PartitioningFailed";
    }
    if (strcmp(type, PARTITION_ERROR_ACTIVE_EXCEEDED) == 0) {
        return "DynamicPartitioning.ActivePartitionExceeded";
    }
    return "DynamicPartitioning.MetadataExtractionFailed";
}

/* Compiles the stream's query into *xp unless done; 0, or 1 when the engine stopped. */
static int extractor_ready(struct dstream *ds, const struct flush_conf *fc,
                           struct partition_extractor **xp)
{
    int64_t backoff = ds->svc->retry_base_ms;
    /* Without a MetadataExtraction processor the keys come from the transform alone. */
    while (*xp == NULL && fc->dest.meta_query != NULL) {
        struct err_info err;
        err_clear(&err);
        const char *q = fc->dest.meta_query != NULL ? fc->dest.meta_query : "";
        int rc = partition_extractor_create(q, strlen(q), fc->dest.meta_engine, xp, &err);
        if (rc == 0) {
            break;
        }
        log_msg(LOG_WARN, "delivery",
                "delivery stream %s: the MetadataExtractionQuery does not compile (%s); "
                "its records stay in their source; retrying in %lld ms",
                ds->name, err.message, (long long)backoff);
        if (delivery__backoff(ds, backoff)) {
            return 1;
        }
        backoff = backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff * 2;
    }
    return 0;
}

/*
 * The evaluated prefix of one record into pbuf. Returns 0, SL_E(INVALID_INPUT) with
 * *etype and err, or 1 when the engine stopped while memory was short.
 */
static int record_prefix(struct dstream *ds, const struct flush_conf *fc,
                         struct partition_extractor *x, const uint8_t *rec, size_t len,
                         const json_t *lambda_keys, struct buf *pbuf, const char **etype,
                         struct err_info *err)
{
    for (;;) {
        struct partition_keys keys;
        partition_keys_init(&keys);
        err_clear(err);
        int rc = 0;
        if (x != NULL) {
            int64_t t0 = clock_mono_ns();
            rc = partition_keys_extract(x, (const char *)rec, len, &keys, etype, err);
            atomic_fetch_add(&ds->c_jq_ns, (uint64_t)(clock_mono_ns() - t0));
        }
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)lambda_keys, k, v)
        {
            const char *s = json_string_value(v);
            if (rc == 0 && s != NULL) {
                rc = partition_keys_add_lambda(&keys, k, strlen(k), s, strlen(s), etype, err);
            }
        }
        if (rc == 0) {
            const char *p = fc->dest.prefix != NULL ? fc->dest.prefix : "";
            rc = partition_prefix_expand(p, strlen(p), &keys, pbuf, etype, err);
        }
        partition_keys_fini(&keys);
        if (rc != SL_E(NOMEM)) {
            return rc;
        }
        /* Not the record's fault: wait and try it again. */
        if (delivery__backoff(ds, ds->svc->retry_base_ms)) {
            return 1;
        }
    }
}

static int write_errors(struct dstream *ds, const struct flush_conf *fc, struct errs *e)
{
    if (e->n == 0) {
        return 0;
    }
    return delivery__error_put(ds, fc, e->type, e->oldest_ms, e->lines.data, e->lines.len);
}

#define REGISTER_TAG "sluice:register-partitions"

/* What registration needs for one buffer: the table and the layout's keys. */
struct reg {
    int on;
    struct catalog *cat;
    json_t *conv; /* the parsed DataFormatConversionConfiguration */
    const char *database, *table, *region, *catalog_id;
    struct catalog_table_desc *desc;
    size_t base_len; /* bytes of the location path the prefix starts with */
};

/* Whether the tag turns registration off. */
static int register_tag_off(struct dstream *ds)
{
    struct store *st = ds->svc->st;
    int off = 0;
    store_read_begin(st);
    struct store_stmt *s = NULL;
    if (store_prepare(st, "SELECT value FROM delivery_tag WHERE stream_id=? AND key=?", &s) == 0) {
        store_bind_int64(s, 1, ds->id);
        store_bind_text(s, 2, REGISTER_TAG);
        if (store_step(s) == 1) {
            const char *v = store_col_text(s, 0);
            off = v != NULL && strcasecmp(v, "false") == 0;
        }
    }
    store_finalize(s);
    store_read_end(st);
    return off;
}

static void reg_fini(struct reg *r)
{
    catalog_table_desc_destroy(r->desc);
    json_decref(r->conv);
    memset(r, 0, sizeof(*r));
}

/*
 * Decides whether this buffer's partitions are registered: conversion, the tag, a
 * partitioned table and a prefix template that is its Hive layout after its location.
 */
static void reg_init(struct dstream *ds, const struct flush_conf *fc, struct reg *r)
{
    memset(r, 0, sizeof(*r));
    if (!fc->dest.conversion || fc->dest.prefix == NULL || register_tag_off(ds)) {
        return;
    }
    pthread_mutex_lock(&ds->svc->mu);
    r->cat = ds->svc->catalog;
    pthread_mutex_unlock(&ds->svc->mu);
    r->conv =
        json_loads(fc->dest.conversion_json != NULL ? fc->dest.conversion_json : "{}", 0, NULL);
    json_t *sc = json_object_get(r->conv, "SchemaConfiguration");
    r->database = json_string_value(json_object_get(sc, "DatabaseName"));
    r->table = json_string_value(json_object_get(sc, "TableName"));
    r->region = json_string_value(json_object_get(sc, "Region"));
    r->catalog_id = json_string_value(json_object_get(sc, "CatalogId"));
    r->region = r->region != NULL ? r->region : ds->region;
    r->catalog_id = r->catalog_id != NULL ? r->catalog_id : ds->account;
    if (r->cat == NULL || r->database == NULL || r->table == NULL) {
        return;
    }
    struct catalog_scope scope = {.region = r->region, .account_id = r->catalog_id};
    struct err_info err;
    err_clear(&err);
    if (catalog_table_describe(r->cat, &scope, r->database, r->table, &r->desc, &err) < 0 ||
        r->desc->n_partition_keys == 0 || r->desc->location == NULL) {
        return;
    }
    /* s3://<bucket>/<path>: the bucket must be the destination's. */
    const char *loc = r->desc->location;
    size_t blen = strlen(fc->dest.bucket);
    if (strncmp(loc, "s3://", 5) != 0 || strncmp(loc + 5, fc->dest.bucket, blen) != 0 ||
        (loc[5 + blen] != '/' && loc[5 + blen] != '\0')) {
        return;
    }
    struct buf want;
    buf_init(&want);
    const char *path = loc[5 + blen] == '/' ? loc + 6 + blen : "";
    buf_puts(&want, path);
    if (want.len > 0 && want.data[want.len - 1] != '/') {
        buf_putc(&want, '/');
    }
    r->base_len = want.len;
    /* Each key k: "k=!{partitionKeyFromQuery:<name>}/", in the table's order. */
    const char *t = fc->dest.prefix;
    int ok = strncmp(t, (const char *)want.data, want.len) == 0 || want.len == 0;
    t += want.len;
    static const char expr[] = "=!{partitionKeyFromQuery:";
    for (size_t i = 0; ok && i < r->desc->n_partition_keys; i++) {
        const char *k = r->desc->partition_keys[i].name;
        size_t kl = strlen(k);
        ok = strncasecmp(t, k, kl) == 0 && strncmp(t + kl, expr, strlen(expr)) == 0;
        if (ok) {
            t += kl + strlen(expr);
            const char *close = strchr(t, '}');
            ok = close != NULL && close > t && close[1] == '/';
            t = ok ? close + 2 : t;
        }
    }
    r->on = ok && *t == '\0';
    buf_fini(&want);
}

/* Registers the partition of one evaluated prefix (the object under it is in the lake). */
static void reg_partition(struct dstream *ds, const struct flush_conf *fc, struct reg *r,
                          const char *prefix)
{
    size_t n = r->desc->n_partition_keys;
    char **values = xcalloc(n + 1, sizeof(*values));
    const char *p = prefix + r->base_len;
    int ok = 1;
    for (size_t i = 0; ok && i < n; i++) {
        const char *eq = strchr(p, '=');
        const char *slash = eq != NULL ? strchr(eq, '/') : NULL;
        ok = eq != NULL && slash != NULL && memchr(p, '/', (size_t)(eq - p)) == NULL;
        if (ok) {
            values[i] = xstrndup(eq + 1, (size_t)(slash - eq - 1));
            p = slash + 1;
        }
    }
    if (ok && *p == '\0') {
        char *location = xasprintf("s3://%s/%s", fc->dest.bucket, prefix);
        struct catalog_scope scope = {.region = r->region, .account_id = r->catalog_id};
        struct err_info err;
        err_clear(&err);
        int rc = catalog_partition_ensure(r->cat, &scope, r->database, r->table,
                                          (const char *const *)values, n, location, &err);
        if (rc < 0) {
            log_msg(LOG_WARN, "delivery",
                    "delivery stream %s: registering the partition %s of %s.%s failed: %s",
                    ds->name, location, r->database, r->table, err.message);
        }
        free(location);
    }
    for (size_t i = 0; i < n; i++) {
        free(values[i]);
    }
    free(values);
}

/* One attempt: 0 delivered, 1 stopped, SL_E(NOMEM) nothing written (try again). */
static int partition_flush_once(struct dstream *ds, const struct flush_conf *fc,
                                struct partition_extractor **xp, const uint8_t *data,
                                const struct delivery_rec *recs, size_t n_recs)
{
    struct groups g;
    memset(&g, 0, sizeof(g));
    struct errs errs[3] = {{.type = PARTITION_ERROR_EXTRACTION},
                           {.type = PARTITION_ERROR_PARTITIONING},
                           {.type = PARTITION_ERROR_ACTIVE_EXCEEDED}};
    for (size_t i = 0; i < 3; i++) {
        buf_init(&errs[i].lines);
    }
    struct buf pbuf;
    buf_init(&pbuf);
    int64_t now = delivery__now_ms(ds->svc);
    int stopped = 0;
    for (size_t i = 0; i < n_recs && !stopped; i++) {
        const char *etype = NULL;
        struct err_info err;
        const json_t *lk = recs[i].keys > 0 && recs[i].keys <= fc->n_lambda_keys
                               ? fc->lambda_keys[recs[i].keys - 1]
                               : NULL;
        int rc =
            record_prefix(ds, fc, *xp, data + recs[i].off, recs[i].len, lk, &pbuf, &etype, &err);
        if (rc == 1) {
            stopped = 1;
            break;
        }
        if (rc < 0) {
            struct errs *e = etype != NULL && strcmp(etype, PARTITION_ERROR_PARTITIONING) == 0
                                 ? &errs[1]
                                 : &errs[0];
            errs_add(e, error_code(e->type), err.message, &recs[i], data, now);
            continue;
        }
        long at = groups_get(&g, (const char *)pbuf.data, pbuf.len, PARTITION_ACTIVE_DEFAULT);
        if (at < 0) {
            char msg[160];
            snprintf(msg, sizeof(msg),
                     "The number of active partitions exceeds the limit of %d for this "
                     "delivery stream.",
                     PARTITION_ACTIVE_DEFAULT);
            errs_add(&errs[2], error_code(errs[2].type), msg, &recs[i], data, now);
            continue;
        }
        struct group *x = &g.v[at];
        if (x->recs.len == 0 || recs[i].arrival_ms < x->oldest_ms) {
            x->oldest_ms = recs[i].arrival_ms;
        }
        buf_append(&x->recs, &recs[i], sizeof(recs[i]));
    }
    /* Memory ran short somewhere: write nothing (no record may go missing from an
       object), and try the whole buffer again. */
    int short_of_memory = buf_status(&pbuf) < 0;
    for (size_t i = 0; i < g.n; i++) {
        short_of_memory |= buf_status(&g.v[i].recs) < 0;
    }
    for (size_t i = 0; i < 3; i++) {
        short_of_memory |= buf_status(&errs[i].lines) < 0 || errs[i].failed;
    }
    if (short_of_memory && !stopped) {
        for (size_t i = 0; i < 3; i++) {
            buf_fini(&errs[i].lines);
        }
        buf_fini(&pbuf);
        groups_fini(&g);
        return SL_E(NOMEM);
    }
    atomic_store(&ds->c_partition_count, g.n);
    atomic_store(&ds->c_partition_exceeded, errs[2].n > 0);
    struct reg reg;
    reg_init(ds, fc, &reg);
    for (size_t i = 0; i < g.n && !stopped; i++) {
        struct group *x = &g.v[i];
        struct flush_conf gfc = *fc; /* shares fc's strings: never finished */
        gfc.dest.prefix = x->prefix;
        gfc.dest.prefix_expanded = 1;
        const struct delivery_rec *grecs = (const struct delivery_rec *)x->recs.data;
        size_t gn = x->recs.len / sizeof(*grecs);
        stopped = fc->dest.conversion
                      ? delivery__convert_flush(ds, &gfc, data, grecs, gn, x->oldest_ms)
                      : delivery__raw_flush(ds, &gfc, data, grecs, gn, x->oldest_ms);
        if (!stopped && reg.on) {
            reg_partition(ds, fc, &reg, x->prefix);
        }
    }
    reg_fini(&reg);
    for (size_t i = 0; i < 3; i++) {
        if (!stopped) {
            stopped = write_errors(ds, fc, &errs[i]);
        }
        buf_fini(&errs[i].lines);
    }
    buf_fini(&pbuf);
    groups_fini(&g);
    return stopped;
}

int delivery__partition_flush(struct dstream *ds, const struct flush_conf *fc,
                              struct partition_extractor **xp, const uint8_t *data,
                              const struct delivery_rec *recs, size_t n_recs)
{
    int64_t backoff = ds->svc->retry_base_ms;
    for (;;) {
        if (extractor_ready(ds, fc, xp)) {
            return 1;
        }
        int rc = partition_flush_once(ds, fc, xp, data, recs, n_recs);
        if (rc != SL_E(NOMEM)) {
            return rc;
        }
        log_msg(LOG_WARN, "delivery",
                "delivery stream %s: out of memory partitioning a buffer; retrying in %lld ms",
                ds->name, (long long)backoff);
        if (delivery__backoff(ds, backoff)) {
            return 1;
        }
        backoff = backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff * 2;
    }
}
