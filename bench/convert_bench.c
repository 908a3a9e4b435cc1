/*
 * Format conversion benchmark, in process, on one thread (so the figures are per core):
 * the seed lab's events ({"event_id","ts","tenant_id","device_id","event_type","amount"},
 * as its producer writes them) converted with the lab's Glue table columns.
 *
 *   parse    JSON records -> typed column buffers (src/delivery/convert.c), records/s
 *   parquet  the same, then DuckDB's writer (append + COPY TO a SNAPPY Parquet file in a
 *            temporary directory), records/s of the whole path
 *
 * Usage: convert_bench [records-per-object (100000)] [objects (5)]
 * Prints figures; never passes or fails on time (target: >= 100,000 records/s/core).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/duck.h"
#include "delivery/convert.h"

static const struct catalog_column lab_columns[] = {
    {.name = "event_id", .type = "string"},   {.name = "ts", .type = "timestamp"},
    {.name = "tenant_id", .type = "string"},  {.name = "device_id", .type = "string"},
    {.name = "event_type", .type = "string"}, {.name = "amount", .type = "double"},
};

static uint64_t rng = 88172645463325252ULL;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    static const char *types[] = {"view", "click", "checkout", "refund"};
    struct buf data;
    buf_init(&data);
    size_t *off = calloc(n + 1, sizeof(*off));
    for (size_t i = 0; i < n; i++) {
        off[i] = data.len;
        uint64_t r = next_rand();
        int64_t sec = 1764151509 + (int64_t)(i / 40);
        time_t t = (time_t)sec;
        struct tm tm;
        gmtime_r(&t, &tm);
        buf_printf(&data,
                   "{\"event_id\":\"%08x-%04x-4%03x-a%03x-%012llx\",\"ts\":\"%04d-%02d-%02d "
                   "%02d:%02d:%02d\",\"tenant_id\":\"tenant-%03d\",\"device_id\":\"device-%05d\","
                   "\"event_type\":\"%s\",\"amount\":%.2f}",
                   (unsigned)(r >> 32), (unsigned)(r & 0xffff), (unsigned)(r >> 20 & 0xfff),
                   (unsigned)(r >> 8 & 0xfff),
                   (unsigned long long)(next_rand() & 0xffffffffffffULL), tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(r % 8) + 1,
                   (int)(r % 800) + 1, types[r % 4], 1.0 + (double)(next_rand() % 24900) / 100.0);
    }
    off[n] = data.len;
    printf("convert_bench: %zu lab events per object (%.1f bytes each), %d objects, 1 thread\n", n,
           (double)data.len / (double)n, rounds);

    struct conv_options opt = {.case_insensitive = 1};
    struct conv_batch *b = NULL;
    char why[200];
    if (delivery__conv_create(lab_columns, 6, &opt, &b, why, sizeof(why)) < 0) {
        fprintf(stderr, "conv_create: %s\n", why);
        return 1;
    }
    char dir[] = "/tmp/convert_bench.XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    const char *dirs[] = {dir};
    struct duck_engine_options eo = {.dirs = dirs, .n_dirs = 1, .n_threads = 1};
    struct duck_engine *engine = NULL;
    struct duck_conn *conn = NULL;
    struct duck_error derr;
    if (duck_engine_open(&eo, &engine, &derr) < 0 || duck_conn_open(engine, &conn, &derr) < 0) {
        fprintf(stderr, "duckdb: %s\n", derr.message);
        return 1;
    }
    size_t n_cols;
    const struct duck_field *cols = delivery__conv_columns(b, &n_cols);
    struct duck_writer *w = NULL;
    if (duck_writer_create(conn, cols, n_cols, &w, &derr) < 0) {
        fprintf(stderr, "writer: %s\n", derr.message);
        return 1;
    }
    char path[128];
    snprintf(path, sizeof(path), "%s/out.parquet", dir);
    struct duck_parquet_options po = {.codec = DUCK_PARQUET_SNAPPY};
    double best_parse = 0, best_all = 0;
    for (int round = 0; round < rounds; round++) {
        delivery__conv_reset(b);
        int64_t t0 = clock_mono_ns();
        for (size_t i = 0; i < n; i++) {
            struct conv_error e;
            if (delivery__conv_record(b, data.data + off[i], off[i + 1] - off[i], &e) != 0) {
                fprintf(stderr, "record %zu: %s\n", i, e.message);
                return 1;
            }
        }
        int64_t t1 = clock_mono_ns();
        if (duck_writer_append(w, delivery__conv_colbufs(b), n, &derr) < 0 ||
            duck_writer_write_parquet(w, path, &po, NULL, &derr) < 0) {
            fprintf(stderr, "write: %s\n", derr.message);
            return 1;
        }
        int64_t t2 = clock_mono_ns();
        double parse = (double)n / ((double)(t1 - t0) / 1e9);
        double all = (double)n / ((double)(t2 - t0) / 1e9);
        struct stat st;
        stat(path, &st);
        printf("  object %d: parse %.0f records/s, parse+parquet %.0f records/s "
               "(parquet %lld bytes)\n",
               round + 1, parse, all, (long long)st.st_size);
        best_parse = parse > best_parse ? parse : best_parse;
        best_all = all > best_all ? all : best_all;
    }
    printf("RESULT parse_records_per_s=%.0f parquet_records_per_s=%.0f target=100000\n", best_parse,
           best_all);
    unlink(path);
    rmdir(dir);
    duck_writer_destroy(w);
    duck_conn_close(conn);
    duck_engine_close(engine);
    delivery__conv_destroy(b);
    buf_fini(&data);
    free(off);
    return 0;
}
