/*
 * The reference for bench/athena_bench.py: runs one SQL statement on DuckDB alone,
 * through the same adapter and engine settings the Athena part uses (one thread, the
 * same memory limit, the same lockdown), N times, and prints each run's wall time in
 * milliseconds (fetching every row, as a client reading results would).
 *
 *   duck_time DIR N SQL
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/duck.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s DIR N SQL\n", argv[0]);
        return 2;
    }
    const char *dirs[] = {argv[1]};
    /* The Athena part's settings (src/query/query.c): one thread, 512 MiB. */
    struct duck_engine_options opts = {
        .dirs = dirs, .n_dirs = 1, .n_threads = 1, .memory_limit_bytes = 512ull << 20};
    struct duck_engine *engine = NULL;
    struct duck_conn *conn = NULL;
    struct duck_error err = {0};
    if (duck_engine_open(&opts, &engine, &err) < 0 || duck_conn_open(engine, &conn, &err) < 0) {
        fprintf(stderr, "duckdb: %s\n", err.message);
        return 1;
    }
    int runs = atoi(argv[2]);
    for (int i = 0; i < runs; i++) {
        double start = now_ms();
        struct duck_result *res = NULL;
        if (duck_query(conn, argv[3], &res, &err) < 0) {
            fprintf(stderr, "duckdb: %s\n", err.message);
            return 1;
        }
        size_t n = 0, rows = 0;
        while (duck_result_fetch(res, &n, &err) == 0 && n > 0) {
            rows += n;
        }
        duck_result_destroy(res);
        printf("%.3f %zu\n", now_ms() - start, rows);
    }
    duck_conn_close(conn);
    duck_engine_close(engine);
    return 0;
}
