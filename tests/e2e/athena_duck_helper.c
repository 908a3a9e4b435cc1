/*
 * Test helper for tests/e2e/test_athena.py: runs SQL statements on a DuckDB engine
 * (through Sluice's adapter) whose only reachable directory is DIR, and prints the last
 * statement's rows, one per line, columns separated by tabs (each cast to text in SQL
 * by the caller). The tests write their Parquet fixtures with it.
 *
 *   athena_duck_helper DIR SQL...
 */
#include <stdio.h>

#include "core/duck.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s DIR SQL...\n", argv[0]);
        return 2;
    }
    const char *dirs[] = {argv[1]};
    struct duck_engine_options opts = {.dirs = dirs, .n_dirs = 1};
    struct duck_engine *engine = NULL;
    struct duck_conn *conn = NULL;
    struct duck_error err = {0};
    if (duck_engine_open(&opts, &engine, &err) < 0 || duck_conn_open(engine, &conn, &err) < 0) {
        fprintf(stderr, "duckdb: %s\n", err.message);
        return 1;
    }
    int status = 0;
    for (int i = 2; i < argc && status == 0; i++) {
        struct duck_result *res = NULL;
        if (duck_query(conn, argv[i], &res, &err) < 0) {
            fprintf(stderr, "duckdb: %s\n", err.message);
            status = 1;
            break;
        }
        size_t n = 0, nc = duck_result_column_count(res);
        while (i == argc - 1 && duck_result_fetch(res, &n, &err) == 0 && n > 0) {
            for (size_t r = 0; r < n; r++) {
                for (size_t c = 0; c < nc; c++) {
                    const struct duck_vec *v = duck_result_column(res, c);
                    if (duck_vec_type(v)->id == DUCK_T_VARCHAR && !duck_vec_is_null(v, r)) {
                        struct duck_str s = duck_vec_str(v, r);
                        printf("%.*s", (int)s.len, s.ptr);
                    }
                    putchar(c + 1 < nc ? '\t' : '\n');
                }
            }
        }
        duck_result_destroy(res);
    }
    duck_conn_close(conn);
    duck_engine_close(engine);
    return status;
}
