/*
 * Format conversion in the delivery engine: one buffer of JSON records becomes one
 * Parquet object, and the records that do not fit become one format-conversion-failed
 * error object, both through the lake.
 *
 *   configuration ──▶ schema: the Glue table of SchemaConfiguration, read through the
 *                     catalog at every object (so a changed table is used from the next
 *                     object on); VersionId LATEST (or absent) or a fixed version
 *   records ──▶ convert.c, each read once ──▶ column buffers ──▶ DuckDB writer
 *           ──▶ DIR/delivery/staging/<id>-<random>.parquet ──▶ lake object (whole or
 *               not at all) ──▶ the staging file removed
 *   failures ──▶ one JSON line each ──▶ the error object
 *
 * The DuckDB engine is the delivery part's own, opened on the first conversion: it may
 * reach DIR/delivery/staging only (and spill to DIR/delivery/spill), never the lake or the
 * metadata. A table that cannot be read (missing, no catalog yet, a type that does not
 * parse) or a Parquet file that cannot be written is retried with backoff, like a failed
 * object write: the records stay in their durable source and nothing is dropped.
 *
 * ParquetSerDe, as DuckDB's COPY can honour it:
 *   Compression SNAPPY (default), GZIP, UNCOMPRESSED    COMPRESSION
 *   BlockSizeBytes (default 256 MiB)                    ROW_GROUP_SIZE_BYTES, the row count
 *                                                       unbounded: a row group is cut by
 *                                                       size alone, as parquet-mr cuts it.
 *                                                       DuckDB allows it only without
 *                                                       insertion order, so the delivery
 *                                                       engine is opened that way, with one
 *                                                       thread to keep the records' order
 *   EnableDictionaryCompression false                   DICTIONARY_SIZE_LIMIT 1 (plain
 *                                                       pages); true or absent: DuckDB
 *                                                       chooses per column chunk
 *   WriterVersion V1 (default), V2                      PARQUET_VERSION V1/V2
 *   PageSizeBytes, MaxPaddingBytes                      not honoured: DuckDB cuts pages
 *                                                       itself and pads nothing
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "core/crypto.h"
#include "core/duck.h"
#include "core/log.h"
#include "core/mem.h"
#include "delivery/convert.h"
#include "delivery/delivery_int.h"

#define RETRY_MAX_MS 30000

/* The parsed DataFormatConversionConfiguration. */
struct conv_conf {
    json_t *root;
    const char *database, *table, *region, *catalog_id, *version_text, *role_arn;
    int64_t version_id; /* 0: latest */
    struct conv_options opt;
    const char **map_cols, **map_keys, **ts_formats;
    struct duck_parquet_options parquet;
};

static const char *jstr_or(const json_t *obj, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s != NULL ? s : dflt;
}

static void conf_fini(struct conv_conf *c)
{
    free(c->map_cols);
    free(c->map_keys);
    free(c->ts_formats);
    json_decref(c->root);
}

static int conf_parse(const struct dstream *ds, const char *text, struct conv_conf *c)
{
    memset(c, 0, sizeof(*c));
    c->root = json_loads(text != NULL ? text : "{}", 0, NULL);
    if (c->root == NULL) {
        return SL_E(CORRUPT);
    }
    json_t *sc = json_object_get(c->root, "SchemaConfiguration");
    c->database = jstr_or(sc, "DatabaseName", "");
    c->table = jstr_or(sc, "TableName", "");
    c->region = jstr_or(sc, "Region", ds->region);
    c->catalog_id = jstr_or(sc, "CatalogId", ds->account);
    c->role_arn = jstr_or(sc, "RoleARN", NULL);
    c->version_text = jstr_or(sc, "VersionId", "LATEST");
    if (strcmp(c->version_text, "LATEST") != 0) {
        c->version_id = strtoll(c->version_text, NULL, 10);
    }
    json_t *de =
        json_object_get(json_object_get(c->root, "InputFormatConfiguration"), "Deserializer");
    json_t *hive = json_object_get(de, "HiveJsonSerDe");
    json_t *openx = json_object_get(de, "OpenXJsonSerDe");
    c->opt.case_insensitive = 1;
    if (json_is_object(hive) && !json_is_object(openx)) {
        c->opt.hive = 1;
        json_t *fmts = json_object_get(hive, "TimestampFormats");
        size_t n = json_array_size(fmts);
        c->ts_formats = xcalloc(n + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++) {
            const char *f = json_string_value(json_array_get(fmts, i));
            if (f != NULL) {
                c->ts_formats[c->opt.n_ts_formats++] = f;
            }
        }
        c->opt.ts_formats = c->ts_formats;
    } else if (json_is_object(openx)) {
        json_t *ci = json_object_get(openx, "CaseInsensitive");
        c->opt.case_insensitive = ci == NULL || json_is_true(ci);
        c->opt.dots_to_underscores =
            json_is_true(json_object_get(openx, "ConvertDotsInJsonKeysToUnderscores"));
        json_t *map = json_object_get(openx, "ColumnToJsonKeyMappings");
        size_t n = json_object_size(map);
        c->map_cols = xcalloc(n + 1, sizeof(char *));
        c->map_keys = xcalloc(n + 1, sizeof(char *));
        const char *k;
        json_t *v;
        json_object_foreach(map, k, v)
        {
            if (json_is_string(v)) {
                c->map_cols[c->opt.n_map] = k;
                c->map_keys[c->opt.n_map++] = json_string_value(v);
            }
        }
        c->opt.map_columns = c->map_cols;
        c->opt.map_keys = c->map_keys;
    }
    json_t *ps = json_object_get(
        json_object_get(json_object_get(c->root, "OutputFormatConfiguration"), "Serializer"),
        "ParquetSerDe");
    const char *comp = jstr_or(ps, "Compression", "SNAPPY");
    c->parquet.codec = strcmp(comp, "GZIP") == 0           ? DUCK_PARQUET_GZIP
                       : strcmp(comp, "UNCOMPRESSED") == 0 ? DUCK_PARQUET_UNCOMPRESSED
                                                           : DUCK_PARQUET_SNAPPY;
    json_int_t block = json_integer_value(json_object_get(ps, "BlockSizeBytes"));
    c->parquet.row_group_bytes = block > 0 ? (uint64_t)block : 256ULL * 1024 * 1024;
    c->parquet.row_group_rows = UINT32_MAX;
    c->parquet.no_dictionary = json_is_false(json_object_get(ps, "EnableDictionaryCompression"));
    c->parquet.format_version = strcmp(jstr_or(ps, "WriterVersion", "V1"), "V2") == 0 ? 2 : 1;
    return 0;
}

/* Removes what a crash left in the staging directory (its objects were never put: their
   records are delivered again from their source). */
static void staging_clear(const char *staging)
{
    DIR *d = opendir(staging);
    if (d == NULL) {
        return;
    }
    int fd = dirfd(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] != '.') {
            unlinkat(fd, e->d_name, 0);
        }
    }
    closedir(d);
}

/* The service's DuckDB engine, opened on first use (NULL when it cannot open). */
static struct duck_engine *engine_get(struct delivery_service *svc, char *staging,
                                      size_t staging_len)
{
    pthread_mutex_lock(&svc->mu);
    char real[PATH_MAX];
    if (realpath(svc->dir, real) == NULL) {
        pthread_mutex_unlock(&svc->mu);
        return NULL;
    }
    snprintf(staging, staging_len, "%s/staging", real);
    if (svc->duck == NULL && !svc->duck_failed) {
        char spill[PATH_MAX + 16];
        snprintf(spill, sizeof(spill), "%s/spill", real);
        mkdir(staging, 0700);
        staging_clear(staging);
        const char *dirs[] = {staging};
        struct duck_engine_options o = {.dirs = dirs,
                                        .n_dirs = 1,
                                        .spill_dir = spill,
                                        .n_threads = 1,
                                        .no_insertion_order = true};
        struct duck_error derr;
        int rc = duck_engine_open(&o, &svc->duck, &derr);
        if (rc < 0) {
            log_msg(LOG_ERROR, "delivery", "format conversion: DuckDB does not open: %s",
                    derr.message);
            svc->duck_failed = 1;
            svc->duck = NULL;
        }
    }
    struct duck_engine *e = svc->duck;
    pthread_mutex_unlock(&svc->mu);
    return e;
}

void delivery__convert_close(struct delivery_service *svc)
{
    duck_engine_close(svc->duck);
    svc->duck = NULL;
}

static int read_file(const char *path, struct buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    int rc = 0;
    for (;;) {
        uint8_t *dst = buf_reserve(out, 1 << 20);
        if (dst == NULL) {
            rc = SL_E(NOMEM);
            break;
        }
        ssize_t n = read(fd, dst, 1 << 20);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            rc = -errno;
            break;
        }
        if (n == 0) {
            break;
        }
        out->len += (size_t)n;
    }
    close(fd);
    return rc;
}

/* Writes the batch's rows as Parquet and reads the file back into out. */
static int write_parquet(struct delivery_service *svc, struct dstream *ds, struct conv_batch *batch,
                         const struct conv_conf *cc, struct buf *out, char *why, size_t why_len)
{
    char staging[PATH_MAX + 16];
    struct duck_engine *engine = engine_get(svc, staging, sizeof(staging));
    if (engine == NULL) {
        snprintf(why, why_len, "DuckDB is not available");
        return SL_E(UNAVAILABLE);
    }
    uint8_t rnd[8];
    char hex[17];
    crypto_random(rnd, sizeof(rnd));
    hex_encode(rnd, sizeof(rnd), hex);
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%lld-%s.parquet", staging, (long long)ds->id, hex);
    struct duck_error derr = {0};
    struct duck_conn *conn = NULL;
    struct duck_writer *w = NULL;
    int rc = duck_conn_open(engine, &conn, &derr);
    size_t n_cols;
    const struct duck_field *cols = delivery__conv_columns(batch, &n_cols);
    if (rc == 0) {
        rc = duck_writer_create(conn, cols, n_cols, &w, &derr);
    }
    if (rc == 0) {
        rc =
            duck_writer_append(w, delivery__conv_colbufs(batch), delivery__conv_rows(batch), &derr);
    }
    if (rc == 0) {
        rc = duck_writer_write_parquet(w, path, &cc->parquet, NULL, &derr);
    }
    if (rc == 0) {
        rc = read_file(path, out);
        if (rc < 0) {
            snprintf(derr.message, sizeof(derr.message), "reading the staging file: %s",
                     sl_strerror(rc));
        }
    }
    unlink(path);
    duck_writer_destroy(w);
    duck_conn_close(conn);
    if (rc < 0) {
        snprintf(why, why_len, "%.400s", derr.message);
    }
    return rc;
}

int delivery__convert_flush(struct dstream *ds, const struct flush_conf *fc, const uint8_t *data,
                            const struct delivery_rec *recs, size_t n_recs, int64_t oldest_ms)
{
    struct delivery_service *svc = ds->svc;
    struct conv_conf cc;
    int64_t backoff = svc->retry_base_ms;
    struct buf parquet, errors, key;
    buf_init(&parquet);
    buf_init(&errors);
    buf_init(&key);
    int stopped = 0;
    for (;;) {
        char why[1024] = "";
        int rc = conf_parse(ds, fc->dest.conversion_json, &cc);
        struct catalog_table_desc *desc = NULL;
        struct conv_batch *batch = NULL;
        if (rc == 0) {
            pthread_mutex_lock(&svc->mu);
            struct catalog *cat = svc->catalog;
            pthread_mutex_unlock(&svc->mu);
            struct catalog_scope scope = {.region = cc.region, .account_id = cc.catalog_id};
            struct err_info err;
            err_clear(&err);
            rc = cat == NULL ? SL_E(UNAVAILABLE)
                             : catalog_table_describe_version(cat, &scope, cc.database, cc.table,
                                                              cc.version_id, &desc, &err);
            if (rc < 0) {
                snprintf(why, sizeof(why), "the table %.200s.%.200s cannot be read: %.300s",
                         cc.database, cc.table, cat == NULL ? "no catalog" : err.message);
            }
        }
        int invalid_schema = 0;
        if (rc == 0) {
            rc = delivery__conv_create(desc->columns, desc->n_columns, &cc.opt, &batch, why,
                                       sizeof(why));
            if (rc == SL_E(VALIDATION)) {
                /* The table's columns have no Parquet form: every record goes to the
                   error output, as a record that does not fit would. */
                invalid_schema = 1;
                rc = 0;
            }
        }
        catalog_table_desc_destroy(desc);
        if (rc == 0) {
            buf_reset(&errors);
            int64_t now = delivery__now_ms(svc);
            struct catalog_scope_names {
                char arn[256];
            } names;
            snprintf(names.arn, sizeof(names.arn), "arn:aws:glue:%s:%s:catalog", cc.region,
                     cc.catalog_id);
            struct conv_error_ctx ctx = {.catalog_id = cc.catalog_id,
                                         .database = cc.database,
                                         .table = cc.table,
                                         .region = cc.region,
                                         .version_id = cc.version_text,
                                         .catalog_arn = names.arn};
            uint64_t ok_bytes = 0, bad_bytes = 0, n_bad = 0;
            for (size_t i = 0; i < n_recs && rc == 0; i++) {
                struct conv_error ce;
                const uint8_t *rd = data + recs[i].off;
                int r = 1;
                if (invalid_schema) {
                    ce.code = CONV_INVALID_SCHEMA;
                    snprintf(ce.message, sizeof(ce.message),
                             "The table %.100s.%.100s cannot be converted to Parquet: %.250s",
                             cc.database, cc.table, why);
                } else {
                    r = delivery__conv_record(batch, rd, recs[i].len, &ce);
                }
                if (r < 0) {
                    rc = r;
                    snprintf(why, sizeof(why), "out of memory converting records");
                } else if (r == 1) {
                    char seq[STREAM_SEQNO_LEN + 1];
                    const char *seqp = NULL;
                    if (ds->kinesis_source && ds->stream != NULL) {
                        uint32_t shard_idx = ds->sources[recs[i].src_idx].shard_idx;
                        struct stream_seqno_shard sq = {.shard_idx = shard_idx};
                        stream_seqno_shard(ds->stream, shard_idx, &sq);
                        stream_seqno_format(&sq, recs[i].index, recs[i].arrival_ms, seq);
                        seqp = seq;
                    }
                    ce.sub = recs[i].sub;
                    delivery__conv_error_json(&errors, &ce, recs[i].arrival_ms, now, rd,
                                              recs[i].len, seqp, &ctx);
                    n_bad++;
                    bad_bytes += recs[i].len;
                } else {
                    ok_bytes += recs[i].len;
                }
            }
            buf_reset(&parquet);
            if (rc == 0 && batch != NULL && delivery__conv_rows(batch) > 0) {
                rc = write_parquet(svc, ds, batch, &cc, &parquet, why, sizeof(why));
            }
            if (rc == 0) {
                atomic_fetch_add(&ds->c_conv_ok_records, n_recs - n_bad);
                atomic_fetch_add(&ds->c_conv_ok_bytes, ok_bytes);
                atomic_fetch_add(&ds->c_conv_failed_records, n_bad);
                atomic_fetch_add(&ds->c_conv_failed_bytes, bad_bytes);
            }
        }
        int have_rows = batch != NULL && delivery__conv_rows(batch) > 0;
        delivery__conv_destroy(batch);
        conf_fini(&cc);
        if (rc == 0) {
            if (have_rows) {
                buf_reset(&key);
                delivery__object_key(&fc->dest, ds->name, fc->version, oldest_ms, &key);
                struct lake_put_opts opts = {.content_type = "application/octet-stream"};
                stopped = delivery__put_object(ds, fc->dest.bucket, (const char *)key.data,
                                               parquet.data, parquet.len, &opts);
            }
            if (!stopped && errors.len > 0) {
                buf_reset(&key);
                delivery__error_key(&fc->dest, ds->name, fc->version, oldest_ms,
                                    "format-conversion-failed", &key);
                struct lake_put_opts opts = {.content_type = "application/octet-stream"};
                stopped = delivery__put_object(ds, fc->dest.bucket, (const char *)key.data,
                                               errors.data, errors.len, &opts);
            }
            break;
        }
        log_msg(LOG_WARN, "delivery",
                "delivery stream %s: format conversion cannot run (%s); retrying in %lld ms",
                ds->name, why, (long long)backoff);
        if (delivery__backoff(ds, backoff)) {
            stopped = 1;
            break;
        }
        backoff = backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff * 2;
    }
    buf_fini(&parquet);
    buf_fini(&errors);
    buf_fini(&key);
    return stopped;
}
