/*
 * The DuckDB adapter (src/core/duck.c) against the real library: the engine opens and
 * closes; every mapped type reads back with its value; Parquet files written from column
 * data read back equal with every codec; the lockdown refuses each way out of the lake
 * (files outside, COPY outside, ATTACH, INSTALL/LOAD, settings after the lock, getenv);
 * DuckDB's errors arrive as our codes with DuckDB's message; faults injected through the
 * adapter's seam and failed allocations leave nothing half-open.
 */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/duck.h"
#include "core/err.h"
#include "core/mem.h"

#define TEST_TIMEOUT_S 60

struct fixture {
    char dir[64];      /* the test's temporary directory */
    char lake[128];    /* dir/lake: the engine's one directory */
    char outside[128]; /* dir/outside: must stay unreachable */
    struct duck_engine *engine;
    struct duck_conn *conn;
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static struct fixture *fixture_create_with(uint64_t memory_limit_bytes, bool spill,
                                           bool no_insertion_order)
{
    alarm(TEST_TIMEOUT_S); /* a hang fails the test instead of stalling the suite */
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_duck_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->lake, sizeof(f->lake), "%s/lake", f->dir);
    snprintf(f->outside, sizeof(f->outside), "%s/outside", f->dir);
    assert_int_equal(mkdir(f->lake, 0755), 0);
    assert_int_equal(mkdir(f->outside, 0755), 0);
    char spill_dir[160];
    snprintf(spill_dir, sizeof(spill_dir), "%s/spill", f->dir);
    const char *dirs[] = {f->lake};
    struct duck_engine_options opts = {
        .dirs = dirs,
        .n_dirs = 1,
        .spill_dir = spill ? spill_dir : NULL,
        .memory_limit_bytes = memory_limit_bytes,
        .n_threads = no_insertion_order ? 1 : 2,
        .no_insertion_order = no_insertion_order,
    };
    struct duck_error err;
    int rc = duck_engine_open(&opts, &f->engine, &err);
    if (rc != 0) {
        print_error("engine: %s\n", err.message);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(duck_conn_open(f->engine, &f->conn, &err), 0);
    return f;
}

static struct fixture *fixture_create(void)
{
    return fixture_create_with(256u << 20, true, false);
}

static void fixture_destroy(struct fixture *f)
{
    duck_fault_clear();
    mem_fail_after(0);
    duck_conn_close(f->conn);
    duck_engine_close(f->engine);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    alarm(0);
}

/* Runs sql, expects exactly one row and one column, returns the result at that row. */
static struct duck_result *one_row(struct duck_conn *conn, const char *sql)
{
    struct duck_result *res;
    struct duck_error err;
    int rc = duck_query(conn, sql, &res, &err);
    if (rc != 0) {
        print_error("%s: %s\n", sql, err.message);
    }
    assert_int_equal(rc, 0);
    size_t n = 0;
    assert_int_equal(duck_result_fetch(res, &n, &err), 0);
    assert_int_equal(n, 1);
    return res;
}

static int64_t query_i64(struct duck_conn *conn, const char *sql)
{
    struct duck_result *res = one_row(conn, sql);
    const struct duck_vec *v = duck_result_column(res, 0);
    assert_int_equal(duck_vec_type(v)->id, DUCK_T_BIGINT);
    assert_false(duck_vec_is_null(v, 0));
    int64_t x = ((const int64_t *)duck_vec_data(v))[0];
    duck_result_destroy(res);
    return x;
}

/* Runs sql and returns its code; err gets the detail. */
static int query_code(struct duck_conn *conn, const char *sql, struct duck_error *err)
{
    struct duck_result *res = NULL;
    int rc = duck_query(conn, sql, &res, err);
    duck_result_destroy(res);
    return rc;
}

/* ---- Engine ---------------------------------------------------------------------------- */

static void test_engine_opens_queries_and_closes(void **state)
{
    (void)state;
    struct fixture *f = fixture_create();
    assert_int_equal(strncmp(duck_library_version(), "v1.5.", 5), 0);
    assert_int_equal(query_i64(f->conn, "SELECT 40 + 2::BIGINT"), 42);
    /* The limits given at open are DuckDB's settings now. */
    assert_int_equal(query_i64(f->conn, "SELECT current_setting('threads')::BIGINT"), 2);
    struct duck_result *res = one_row(f->conn, "SELECT current_setting('memory_limit')");
    struct duck_str s = duck_vec_str(duck_result_column(res, 0), 0);
    assert_memory_equal(s.ptr, "256.0 MiB", s.len);
    duck_result_destroy(res);
    /* A second connection shares the engine; temp tables stay private to each. */
    struct duck_conn *other;
    assert_int_equal(duck_conn_open(f->engine, &other, NULL), 0);
    assert_int_equal(duck_exec(f->conn, "CREATE TEMP TABLE mine AS SELECT 1 AS x", NULL), 0);
    struct duck_error err;
    assert_int_equal(query_code(other, "SELECT * FROM mine", &err), SL_E(VALIDATION));
    assert_int_equal(err.kind, DUCK_ERR_CATALOG);
    duck_conn_close(other);
    fixture_destroy(f);
}

static void test_engine_open_refuses_bad_options(void **state)
{
    (void)state;
    struct duck_engine *engine = (struct duck_engine *)1;
    struct duck_error err;
    struct duck_engine_options none = {0};
    assert_int_equal(duck_engine_open(&none, &engine, &err), SL_E(VALIDATION));
    assert_null(engine);
    const char *relative[] = {"data/lake"};
    struct duck_engine_options rel = {.dirs = relative, .n_dirs = 1};
    assert_int_equal(duck_engine_open(&rel, &engine, &err), SL_E(VALIDATION));
    assert_null(engine);
    assert_non_null(strstr(err.message, "absolute"));
    duck_engine_close(NULL);
    duck_conn_close(NULL);
    duck_result_destroy(NULL);
    duck_writer_destroy(NULL);
}

static void test_open_connect_and_query_faults_leave_nothing_open(void **state)
{
    (void)state;
    const char *dirs[] = {"/tmp"};
    struct duck_engine_options opts = {.dirs = dirs, .n_dirs = 1};
    struct duck_engine *engine = (struct duck_engine *)1;
    struct duck_error err;

    duck_fault_inject(DUCK_OP_OPEN, 1, DUCK_ERR_INTERNAL);
    assert_int_equal(duck_engine_open(&opts, &engine, &err), SL_E(INTERNAL));
    assert_null(engine);
    assert_int_equal(err.kind, DUCK_ERR_INTERNAL);

    /* The lockdown statements fail: the engine is not handed out half-locked. */
    duck_fault_inject(DUCK_OP_QUERY, 1, DUCK_ERR_OUT_OF_MEMORY);
    assert_int_equal(duck_engine_open(&opts, &engine, &err), SL_E(NOMEM));
    assert_null(engine);

    assert_int_equal(duck_engine_open(&opts, &engine, &err), 0);
    struct duck_conn *conn = (struct duck_conn *)1;
    duck_fault_inject(DUCK_OP_CONNECT, 1, DUCK_ERR_INTERNAL);
    assert_int_equal(duck_conn_open(engine, &conn, &err), SL_E(INTERNAL));
    assert_null(conn);
    assert_int_equal(duck_conn_open(engine, &conn, &err), 0);

    duck_fault_inject(DUCK_OP_QUERY, 2, DUCK_ERR_IO);
    assert_int_equal(duck_exec(conn, "SELECT 1", &err), 0);
    assert_int_equal(duck_exec(conn, "SELECT 1", &err), SL_E(IO));
    assert_int_equal(err.kind, DUCK_ERR_IO);
    assert_int_equal(duck_exec(conn, "SELECT 1", &err), 0);
    duck_conn_close(conn);
    duck_engine_close(engine);
    duck_fault_clear();
}

static void test_query_allocation_failure_is_nomem(void **state)
{
    (void)state;
    struct fixture *f = fixture_create();
    struct duck_result *res = (struct duck_result *)1;
    struct duck_error err;
    for (unsigned long nth = 1; nth <= 3; nth++) {
        mem_fail_after(nth);
        int rc = duck_query(f->conn, "SELECT 1 AS a, 'x' AS b", &res, &err);
        mem_fail_after(0);
        if (rc == 0) {
            /* Fewer fallible allocations than nth: the query went through. */
            assert_true(nth > 2);
            duck_result_destroy(res);
            continue;
        }
        assert_int_equal(rc, SL_E(NOMEM));
        assert_null(res);
    }
    assert_int_equal(query_i64(f->conn, "SELECT 7::BIGINT"), 7);
    fixture_destroy(f);
}

/* ---- Types ----------------------------------------------------------------------------- */

static void test_query_reads_every_mapped_type(void **state)
{
    (void)state;
    struct fixture *f = fixture_create();
    const char *sql =
        "SELECT true::BOOLEAN, (-5)::TINYINT, (-300)::SMALLINT, 70000::INTEGER, "
        "(-5000000000)::BIGINT, 170141183460469231731687303715884105727::HUGEINT, "
        "250::UTINYINT, 65000::USMALLINT, 4000000000::UINTEGER, 18446744073709551615::UBIGINT, "
        "1.5::FLOAT, 0.25::DOUBLE, "
        "(-123.4)::DECIMAL(4,1), 1234567.89::DECIMAL(9,2), 123456789012345.678::DECIMAL(18,3), "
        "(-12345678901234567890123456.7890123456)::DECIMAL(38,10), "
        "'short', 'a string longer than twelve bytes', '\\x00\\xFF'::BLOB, "
        "DATE '2024-02-29', TIME '13:14:15.5', TIMESTAMP '2024-02-29 13:14:15.123456', "
        "'2024-02-29 13:14:15'::TIMESTAMP_S, '2024-02-29 13:14:15.123'::TIMESTAMP_MS, "
        "'2024-02-29 13:14:15.123456789'::TIMESTAMP_NS, "
        "TIMESTAMPTZ '2024-02-29 13:14:15+00', INTERVAL '1 month 2 days 3 seconds', "
        "'00000000-0000-0000-0000-000000000001'::UUID, [1, 2, NULL]::INTEGER[], "
        "MAP {'k': 10::BIGINT}, {'a': 1::INTEGER, 'b': 'x'}, NULL::INTEGER, 'e'::ENUM('e', 'f')";
    struct duck_result *res = one_row(f->conn, sql);
    static const enum duck_type_id want[] = {
        DUCK_T_BOOLEAN,      DUCK_T_TINYINT,      DUCK_T_SMALLINT,    DUCK_T_INTEGER,
        DUCK_T_BIGINT,       DUCK_T_HUGEINT,      DUCK_T_UTINYINT,    DUCK_T_USMALLINT,
        DUCK_T_UINTEGER,     DUCK_T_UBIGINT,      DUCK_T_FLOAT,       DUCK_T_DOUBLE,
        DUCK_T_DECIMAL,      DUCK_T_DECIMAL,      DUCK_T_DECIMAL,     DUCK_T_DECIMAL,
        DUCK_T_VARCHAR,      DUCK_T_VARCHAR,      DUCK_T_BLOB,        DUCK_T_DATE,
        DUCK_T_TIME,         DUCK_T_TIMESTAMP,    DUCK_T_TIMESTAMP_S, DUCK_T_TIMESTAMP_MS,
        DUCK_T_TIMESTAMP_NS, DUCK_T_TIMESTAMP_TZ, DUCK_T_INTERVAL,    DUCK_T_UUID,
        DUCK_T_LIST,         DUCK_T_MAP,          DUCK_T_STRUCT,      DUCK_T_INTEGER,
        DUCK_T_OTHER,
    };
    size_t n_cols = sizeof(want) / sizeof(want[0]);
    assert_int_equal(duck_result_column_count(res), n_cols);
    for (size_t c = 0; c < n_cols; c++) {
        const struct duck_type *t = duck_result_column_type(res, c);
        if (t->id != want[c]) {
            print_error("column %zu: %s, want %s\n", c, duck_type_name(t->id),
                        duck_type_name(want[c]));
        }
        assert_int_equal(t->id, want[c]);
        assert_true(duck_vec_is_null(duck_result_column(res, c), 0) == (c == 31));
    }
#define COL(i) duck_result_column(res, (i))
#define VAL(i, ctype) (((const ctype *)duck_vec_data(COL(i)))[0])
    assert_true(VAL(0, bool));
    assert_int_equal(VAL(1, int8_t), -5);
    assert_int_equal(VAL(2, int16_t), -300);
    assert_int_equal(VAL(3, int32_t), 70000);
    assert_int_equal(VAL(4, int64_t), -5000000000LL);
    struct duck_int128 h = VAL(5, struct duck_int128);
    assert_int_equal(h.hi, INT64_MAX);
    assert_int_equal(h.lo, UINT64_MAX);
    assert_int_equal(VAL(6, uint8_t), 250);
    assert_int_equal(VAL(7, uint16_t), 65000);
    assert_int_equal(VAL(8, uint32_t), 4000000000u);
    assert_int_equal(VAL(9, uint64_t), UINT64_MAX);
    assert_true(VAL(10, float) == 1.5f);
    assert_true(VAL(11, double) == 0.25);
    /* Decimals of each storage width, as unscaled integers. */
    assert_int_equal(duck_result_column_type(res, 12)->width, 4);
    assert_int_equal(duck_result_column_type(res, 12)->scale, 1);
    struct duck_int128 d = duck_vec_decimal(COL(12), 0);
    assert_int_equal((int64_t)d.lo, -1234);
    assert_int_equal(d.hi, -1);
    assert_int_equal((int64_t)duck_vec_decimal(COL(13), 0).lo, 123456789);
    assert_int_equal((int64_t)duck_vec_decimal(COL(14), 0).lo, 123456789012345678LL);
    d = duck_vec_decimal(COL(15), 0);
    /* unscaled: -123456789012345678901234567890123456 */
    __int128 want38 =
        -((__int128)123456789012345678LL * 1000000000000000000LL + (__int128)901234567890123456LL);
    assert_true((__int128)(((unsigned __int128)(uint64_t)d.hi << 64) | d.lo) == want38);
    /* Strings inline (<= 12 bytes) and out of line, and a blob with a NUL. */
    struct duck_str s = duck_vec_str(COL(16), 0);
    assert_int_equal(s.len, 5);
    assert_memory_equal(s.ptr, "short", 5);
    s = duck_vec_str(COL(17), 0);
    assert_int_equal(s.len, strlen("a string longer than twelve bytes"));
    assert_memory_equal(s.ptr, "a string longer than twelve bytes", s.len);
    s = duck_vec_str(COL(18), 0);
    assert_int_equal(s.len, 2);
    assert_memory_equal(s.ptr, "\x00\xff", 2);
    assert_int_equal(VAL(19, int32_t), 19782); /* days from 1970-01-01 to 2024-02-29 */
    assert_int_equal(VAL(20, int64_t), (13 * 3600 + 14 * 60 + 15) * 1000000LL + 500000);
    int64_t secs = 19782LL * 86400 + 13 * 3600 + 14 * 60 + 15;
    assert_int_equal(VAL(21, int64_t), secs * 1000000 + 123456);
    assert_int_equal(VAL(22, int64_t), secs);
    assert_int_equal(VAL(23, int64_t), secs * 1000 + 123);
    assert_int_equal(VAL(24, int64_t), secs * 1000000000 + 123456789);
    assert_int_equal(VAL(25, int64_t), secs * 1000000);
    struct duck_interval iv = VAL(26, struct duck_interval);
    assert_int_equal(iv.months, 1);
    assert_int_equal(iv.days, 2);
    assert_int_equal(iv.micros, 3000000);
    /* LIST: elements are child rows [offset, offset + len). */
    uint64_t off, len;
    duck_vec_list(COL(28), 0, &off, &len);
    assert_int_equal(len, 3);
    const struct duck_vec *elems = duck_vec_child(COL(28), 0);
    assert_int_equal(duck_vec_type(elems)->id, DUCK_T_INTEGER);
    assert_int_equal(((const int32_t *)duck_vec_data(elems))[off + 1], 2);
    assert_true(duck_vec_is_null(elems, off + 2));
    /* MAP: keys and values children. */
    duck_vec_list(COL(29), 0, &off, &len);
    assert_int_equal(len, 1);
    s = duck_vec_str(duck_vec_child(COL(29), 0), off);
    assert_memory_equal(s.ptr, "k", 1);
    assert_int_equal(((const int64_t *)duck_vec_data(duck_vec_child(COL(29), 1)))[off], 10);
    /* STRUCT: named fields. */
    const struct duck_type *st = duck_result_column_type(res, 30);
    assert_int_equal(st->n_fields, 2);
    assert_string_equal(st->fields[1].name, "b");
    assert_int_equal(((const int32_t *)duck_vec_data(duck_vec_child(COL(30), 0)))[0], 1);
    s = duck_vec_str(duck_vec_child(COL(30), 1), 0);
    assert_memory_equal(s.ptr, "x", 1);
#undef COL
#undef VAL
    duck_result_destroy(res);
    fixture_destroy(f);
}

static void test_results_arrive_in_chunks(void **state)
{
    (void)state;
    struct fixture *f = fixture_create();
    struct duck_result *res;
    struct duck_error err;
    assert_int_equal(duck_query(f->conn,
                                "SELECT i, CASE WHEN i % 3 = 0 THEN NULL ELSE i::VARCHAR END AS s "
                                "FROM range(5000) t(i)",
                                &res, &err),
                     0);
    assert_string_equal(duck_result_column_name(res, 1), "s");
    size_t n, total = 0, n_chunks = 0;
    int64_t sum = 0;
    size_t nulls = 0;
    while (duck_result_fetch(res, &n, &err) == 0 && n > 0) {
        n_chunks++;
        const int64_t *ids = duck_vec_data(duck_result_column(res, 0));
        const struct duck_vec *sv = duck_result_column(res, 1);
        for (size_t r = 0; r < n; r++) {
            sum += ids[r];
            if (duck_vec_is_null(sv, r)) {
                assert_int_equal(ids[r] % 3, 0);
                nulls++;
            } else {
                char want[24];
                snprintf(want, sizeof(want), "%lld", (long long)ids[r]);
                struct duck_str s = duck_vec_str(sv, r);
                assert_int_equal(s.len, strlen(want));
                assert_memory_equal(s.ptr, want, s.len);
            }
        }
        total += n;
    }
    assert_int_equal(err.code, 0);
    assert_int_equal(total, 5000);
    assert_true(n_chunks >= 3); /* at most 2048 rows a chunk */
    assert_int_equal(sum, 4999LL * 5000 / 2);
    assert_int_equal(nulls, 1667);
    /* Past the end stays at the end. */
    assert_int_equal(duck_result_fetch(res, &n, &err), 0);
    assert_int_equal(n, 0);
    duck_result_destroy(res);
    fixture_destroy(f);
}

/* ---- Errors ---------------------------------------------------------------------------- */

static void test_errors_map_to_codes_with_duckdb_message(void **state)
{
    (void)state;
    struct fixture *f = fixture_create();
    static const struct {
        const char *sql;
        int code;
        enum duck_err_kind kind;
        const char *in_message;
    } cases[] = {
        {"SELEC 1", SL_E(VALIDATION), DUCK_ERR_SYNTAX, "syntax error"},
        {"SELECT nope FROM range(1)", SL_E(VALIDATION), DUCK_ERR_BINDER, "nope"},
        {"SELECT * FROM no_such_table", SL_E(VALIDATION), DUCK_ERR_CATALOG, "no_such_table"},
        {"SELECT 'x'::INTEGER", SL_E(VALIDATION), DUCK_ERR_CONVERSION, "Could not convert"},
        {"SELECT 2147483647::INTEGER + 1", SL_E(VALIDATION), DUCK_ERR_OUT_OF_RANGE, "Overflow"},
        {"SELECT * FROM read_text('/etc/passwd')", SL_E(ACCESS_DENIED), DUCK_ERR_PERMISSION,
         "/etc/passwd"},
        {"SET threads = 1", SL_E(VALIDATION), DUCK_ERR_INVALID_INPUT, "locked"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct duck_error err;
        int rc = query_code(f->conn, cases[i].sql, &err);
        if (rc != cases[i].code || err.kind != cases[i].kind) {
            print_error("%s: %s (%s) %s\n", cases[i].sql, sl_strerror(rc),
                        duck_err_kind_name(err.kind), err.message);
        }
        assert_int_equal(rc, cases[i].code);
        assert_int_equal(err.code, rc);
        assert_int_equal(err.kind, cases[i].kind);
        assert_non_null(strstr(err.message, cases[i].in_message));
    }
    /* The connection is usable after each failure. */
    assert_int_equal(query_i64(f->conn, "SELECT 1::BIGINT"), 1);
    fixture_destroy(f);
}

struct interrupt_arg {
    struct duck_conn *conn;
    int rc;
    struct duck_error err;
};

static void *run_long_query(void *p)
{
    struct interrupt_arg *a = p;
    a->rc = duck_exec(
        a->conn, "SELECT sum(a.range * b.range) FROM range(200000) a, range(200000) b", &a->err);
    return NULL;
}

static void test_interrupt_cancels_a_running_query(void **state)
{
    (void)state;
    struct fixture *f = fixture_create(); /* with its alarm: a query that will not stop
                                               fails the test instead of hanging it */
    struct interrupt_arg a = {.conn = f->conn};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, run_long_query, &a), 0);
    struct timespec pause = {0, 300 * 1000000L};
    nanosleep(&pause, NULL);
    duck_conn_interrupt(f->conn);
    pthread_join(t, NULL);
    assert_int_equal(a.rc, -ECANCELED);
    assert_int_equal(a.err.kind, DUCK_ERR_INTERRUPT);
    assert_int_equal(query_i64(f->conn, "SELECT 3::BIGINT"), 3);
    fixture_destroy(f);
}

/* ---- Lockdown -------------------------------------------------------------------------- */

static void test_lockdown_refuses_every_way_out_of_the_lake(void **state)
{
    (void)state;
    struct fixture *f = fixture_create();
    char sql[1024];
    struct duck_error err;

    /* Inside the lake: write, read, glob, metadata all work. */
    snprintf(sql, sizeof(sql), "COPY (SELECT 1 AS a) TO '%s/in.parquet' (FORMAT parquet)", f->lake);
    assert_int_equal(duck_exec(f->conn, sql, &err), 0);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM read_parquet('%s/in.parquet')", f->lake);
    assert_int_equal(query_i64(f->conn, sql), 1);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM glob('%s/*')", f->lake);
    assert_int_equal(query_i64(f->conn, sql), 1);

    /* A file outside that the process could read. */
    FILE *fp;
    char secret[256];
    snprintf(secret, sizeof(secret), "%s/secret.csv", f->outside);
    assert_non_null(fp = fopen(secret, "w"));
    fputs("a,b\n1,2\n", fp);
    fclose(fp);

    struct {
        const char *fmt; /* %1$s: lake, %2$s: outside */
        int code;
    } escapes[] = {
        {"SELECT * FROM read_text('/etc/passwd')", SL_E(ACCESS_DENIED)},
        {"SELECT * FROM read_csv('/etc/passwd')", SL_E(ACCESS_DENIED)},
        {"SELECT * FROM read_blob('/proc/self/environ')", SL_E(ACCESS_DENIED)},
        {"SELECT * FROM read_csv('%2$s/secret.csv')", SL_E(ACCESS_DENIED)},
        {"SELECT * FROM read_text('%1$s/../outside/secret.csv')", SL_E(ACCESS_DENIED)},
        {"SELECT * FROM glob('/etc/*')", SL_E(ACCESS_DENIED)},
        {"COPY (SELECT 1 AS a) TO '%2$s/out.parquet' (FORMAT parquet)", SL_E(ACCESS_DENIED)},
        {"COPY (SELECT 1 AS a) TO '%1$s/../outside/out.csv'", SL_E(ACCESS_DENIED)},
        {"EXPORT DATABASE '%2$s/export'", SL_E(ACCESS_DENIED)},
        {"ATTACH '%2$s/other.duckdb' AS other", SL_E(ACCESS_DENIED)},
        {"INSTALL httpfs", SL_E(ACCESS_DENIED)},
        {"LOAD httpfs", SL_E(ACCESS_DENIED)},
        {"LOAD '%1$s/in.parquet'", SL_E(ACCESS_DENIED)},
        {"SELECT * FROM read_parquet('https://example.com/x.parquet')", SL_E(ACCESS_DENIED)},
        {"COPY (SELECT 1 AS a) TO '/dev/stdout'", SL_E(ACCESS_DENIED)},
        {"SELECT * FROM read_csv('/dev/stdin')", SL_E(ACCESS_DENIED)},
        {"ATTACH '%1$s/../outside/other.duckdb' AS other", SL_E(ACCESS_DENIED)},
        {"SET enable_external_access = true", SL_E(VALIDATION)},
        {"SET allowed_directories = ['/']", SL_E(VALIDATION)},
        {"SET allowed_paths = ['/etc/passwd']", SL_E(VALIDATION)},
        {"SET lock_configuration = false", SL_E(VALIDATION)},
        {"SET threads = 64", SL_E(VALIDATION)},
        {"SET memory_limit = '64GB'", SL_E(VALIDATION)},
        {"SET temp_directory = '%2$s'", SL_E(VALIDATION)},
        {"SET autoload_known_extensions = true", SL_E(VALIDATION)},
        {"PRAGMA profiling_output = '%2$s/profile.txt'", SL_E(VALIDATION)},
        {"RESET lock_configuration", SL_E(VALIDATION)},
        {"SELECT getenv('HOME')", SL_E(VALIDATION)},
    };
    for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(sql, sizeof(sql), escapes[i].fmt, f->lake, f->outside);
#pragma GCC diagnostic pop
        int rc = query_code(f->conn, sql, &err);
        if (rc != escapes[i].code) {
            print_error("not refused as expected: %s -> %s: %s\n", sql, sl_strerror(rc),
                        err.message);
        }
        assert_int_equal(rc, escapes[i].code);
    }
    /* Nothing was written outside, and the settings did not move. */
    char path[256];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/out.parquet", f->outside);
    assert_int_equal(stat(path, &sb), -1);
    snprintf(path, sizeof(path), "%s/out.csv", f->outside);
    assert_int_equal(stat(path, &sb), -1);
    snprintf(path, sizeof(path), "%s/other.duckdb", f->outside);
    assert_int_equal(stat(path, &sb), -1);
    assert_int_equal(query_i64(f->conn, "SELECT current_setting('threads')::BIGINT"), 2);
    assert_int_equal(
        query_i64(f->conn, "SELECT current_setting('enable_external_access')::INT::BIGINT"), 0);
    fixture_destroy(f);
}

static void test_builtin_extensions_work_under_lockdown(void **state)
{
    (void)state;
    struct fixture *f = fixture_create();
    /* json (the parse tree a dialect rewriter can walk) and icu (time zones) are built
       in: nothing is installed or autoloaded for them. */
    struct duck_result *res =
        one_row(f->conn, "SELECT json_serialize_sql('SELECT a FROM t WHERE b = 1')::VARCHAR");
    struct duck_str s = duck_vec_str(duck_result_column(res, 0), 0);
    const char want[] = "{\"error\":false,\"statements\":[{\"node\":{\"type\":\"SELECT_NODE\"";
    assert_true(s.len > sizeof(want) - 1);
    assert_memory_equal(s.ptr, want, sizeof(want) - 1);
    duck_result_destroy(res);
    res = one_row(f->conn, "SELECT (TIMESTAMPTZ '2024-01-01 00:00:00+00' AT TIME ZONE "
                           "'America/New_York')::VARCHAR");
    s = duck_vec_str(duck_result_column(res, 0), 0);
    assert_int_equal(s.len, strlen("2023-12-31 19:00:00"));
    assert_memory_equal(s.ptr, "2023-12-31 19:00:00", s.len);
    duck_result_destroy(res);
    fixture_destroy(f);
}

/* ---- Parquet --------------------------------------------------------------------------- */

#define N_ROWS 5000

/* The values of the round trip, a pure function of the row so reading back can compare. */
static bool is_null_at(size_t col, size_t i)
{
    return col > 0 && (i + col) % 7 == 3;
}
static int64_t v_dec10(size_t i)
{
    return (int64_t)i * 123457 - 99;
}
static __int128 v_dec38(size_t i)
{
    __int128 v = (__int128)i * 1000000000000000LL * 1000000000000000LL + 17;
    return i % 2 ? -v : v;
}
static void v_str(size_t i, char *out, size_t cap)
{
    if (i % 3 == 0) {
        snprintf(out, cap, "row %zu with a longer text, caf\xc3\xa9", i);
    } else {
        snprintf(out, cap, "r%zu", i);
    }
}

enum {
    C_ID,
    C_BOOL,
    C_TINY,
    C_SMALL,
    C_INT,
    C_BIG,
    C_FLOAT,
    C_DOUBLE,
    C_DEC4,
    C_DEC9,
    C_DEC10,
    C_DEC38,
    C_STR,
    C_BIN,
    C_DATE,
    C_TS,
    C_LIST,
    C_MAP,
    C_STRUCT,
    N_COLS
};

struct batch {
    uint8_t nulls[N_COLS][N_ROWS];
    int64_t id[N_ROWS];
    bool b[N_ROWS];
    int8_t i8[N_ROWS];
    int16_t i16[N_ROWS];
    int32_t i32[N_ROWS];
    int64_t i64[N_ROWS];
    float f32[N_ROWS];
    double f64[N_ROWS];
    int64_t dec4[N_ROWS], dec9[N_ROWS], dec10[N_ROWS];
    struct duck_int128 dec38[N_ROWS];
    char strbuf[N_ROWS][64];
    struct duck_str str[N_ROWS];
    char binbuf[N_ROWS][3];
    struct duck_str bin[N_ROWS];
    int32_t date[N_ROWS];
    int64_t ts[N_ROWS];
    /* LIST<INTEGER>: row i has i % 4 elements i * 10 + k (none when null) */
    uint64_t list_off[N_ROWS + 1];
    int32_t list_vals[N_ROWS * 4];
    /* MAP<VARCHAR, BIGINT>: row i has i % 3 entries "k<k>" -> i * k */
    uint64_t map_off[N_ROWS + 1];
    char keybuf[N_ROWS * 3][8];
    struct duck_str keys[N_ROWS * 3];
    int64_t map_vals[N_ROWS * 3];
    /* STRUCT(a INTEGER, b VARCHAR[]): a = i, b = i % 2 strings "s<i>" */
    int32_t st_a[N_ROWS];
    uint64_t st_b_off[N_ROWS + 1];
    char st_b_buf[N_ROWS][16];
    struct duck_str st_b[N_ROWS];
    struct duck_colbuf list_child[1], map_child[2], st_children[2], st_b_child[1];
    struct duck_colbuf cols[N_COLS];
};

static const struct duck_type t_bool = {.id = DUCK_T_BOOLEAN}, t_tiny = {.id = DUCK_T_TINYINT},
                              t_small = {.id = DUCK_T_SMALLINT}, t_int = {.id = DUCK_T_INTEGER},
                              t_big = {.id = DUCK_T_BIGINT}, t_float = {.id = DUCK_T_FLOAT},
                              t_double = {.id = DUCK_T_DOUBLE},
                              t_dec4 = {.id = DUCK_T_DECIMAL, .width = 4, .scale = 1},
                              t_dec9 = {.id = DUCK_T_DECIMAL, .width = 9, .scale = 3},
                              t_dec10 = {.id = DUCK_T_DECIMAL, .width = 10, .scale = 2},
                              t_dec38 = {.id = DUCK_T_DECIMAL, .width = 38, .scale = 6},
                              t_str = {.id = DUCK_T_VARCHAR}, t_bin = {.id = DUCK_T_BLOB},
                              t_date = {.id = DUCK_T_DATE}, t_ts = {.id = DUCK_T_TIMESTAMP},
                              t_list = {.id = DUCK_T_LIST, .element = &t_int},
                              t_map = {.id = DUCK_T_MAP, .key = &t_str, .value = &t_big},
                              t_strlist = {.id = DUCK_T_LIST, .element = &t_str};
static const struct duck_field st_fields[] = {{"a", &t_int}, {"b", &t_strlist}};
static const struct duck_type t_struct = {.id = DUCK_T_STRUCT, .fields = st_fields, .n_fields = 2};
static const struct duck_field columns[N_COLS] = {
    {"id", &t_big},      {"c_bool", &t_bool}, {"c_tiny", &t_tiny},     {"c_small", &t_small},
    {"c_int", &t_int},   {"c_big", &t_big},   {"c_float", &t_float},   {"c_double", &t_double},
    {"c_dec4", &t_dec4}, {"c_dec9", &t_dec9}, {"c_dec10", &t_dec10},   {"c_dec38", &t_dec38},
    {"c_str", &t_str},   {"c_bin", &t_bin},   {"c_date", &t_date},     {"c_ts", &t_ts},
    {"c_list", &t_list}, {"c_map", &t_map},   {"c_struct", &t_struct},
};

static struct batch *batch_build(void)
{
    struct batch *b = calloc(1, sizeof(*b));
    size_t n_list = 0, n_map = 0, n_stb = 0;
    for (size_t i = 0; i < N_ROWS; i++) {
        for (size_t c = 0; c < N_COLS; c++) {
            b->nulls[c][i] = is_null_at(c, i);
        }
        b->id[i] = (int64_t)i;
        b->b[i] = i % 2;
        b->i8[i] = (int8_t)(i % 256 - 128);
        b->i16[i] = (int16_t)(i * 7 - 10000);
        b->i32[i] = (int32_t)i * 1000 - 7;
        b->i64[i] = (int64_t)i * 1000000000000LL;
        b->f32[i] = (float)i * 0.5f;
        b->f64[i] = (double)i / 3.0;
        b->dec4[i] = (int64_t)(i % 19999) - 9999;
        b->dec9[i] = (int64_t)i * 1001 - 5;
        b->dec10[i] = v_dec10(i);
        __int128 d = v_dec38(i);
        b->dec38[i].lo = (uint64_t)d;
        b->dec38[i].hi = (int64_t)(d >> 64);
        v_str(i, b->strbuf[i], sizeof(b->strbuf[i]));
        b->str[i] = (struct duck_str){b->strbuf[i], strlen(b->strbuf[i])};
        b->binbuf[i][0] = 0;
        b->binbuf[i][1] = (char)(i & 0xff);
        b->binbuf[i][2] = (char)0xff;
        b->bin[i] = (struct duck_str){b->binbuf[i], 3};
        b->date[i] = (int32_t)i - 2500;
        b->ts[i] = (int64_t)i * 3600000000LL + 123456;
        b->list_off[i] = n_list;
        for (size_t k = 0; !b->nulls[C_LIST][i] && k < i % 4; k++) {
            b->list_vals[n_list++] = (int32_t)(i * 10 + k);
        }
        b->map_off[i] = n_map;
        for (size_t k = 0; !b->nulls[C_MAP][i] && k < i % 3; k++) {
            snprintf(b->keybuf[n_map], sizeof(b->keybuf[n_map]), "k%zu", k);
            b->keys[n_map] = (struct duck_str){b->keybuf[n_map], strlen(b->keybuf[n_map])};
            b->map_vals[n_map++] = (int64_t)(i * k);
        }
        b->st_a[i] = (int32_t)i;
        b->st_b_off[i] = n_stb;
        if (i % 2) {
            snprintf(b->st_b_buf[n_stb], sizeof(b->st_b_buf[n_stb]), "s%zu", i);
            b->st_b[n_stb] = (struct duck_str){b->st_b_buf[n_stb], strlen(b->st_b_buf[n_stb])};
            n_stb++;
        }
    }
    b->list_off[N_ROWS] = n_list;
    b->map_off[N_ROWS] = n_map;
    b->st_b_off[N_ROWS] = n_stb;
    b->list_child[0] = (struct duck_colbuf){.values = b->list_vals};
    b->map_child[0] = (struct duck_colbuf){.values = b->keys};
    b->map_child[1] = (struct duck_colbuf){.values = b->map_vals};
    b->st_b_child[0] = (struct duck_colbuf){.values = b->st_b};
    b->st_children[0] = (struct duck_colbuf){.values = b->st_a};
    b->st_children[1] = (struct duck_colbuf){.offsets = b->st_b_off, .children = b->st_b_child};
    const void *values[N_COLS] = {b->id,   b->b,    b->i8,   b->i16,   b->i32,   b->i64, b->f32,
                                  b->f64,  b->dec4, b->dec9, b->dec10, b->dec38, b->str, b->bin,
                                  b->date, b->ts,   NULL,    NULL,     NULL};
    for (size_t c = 0; c < N_COLS; c++) {
        b->cols[c].is_null = c > 0 ? b->nulls[c] : NULL;
        b->cols[c].values = values[c];
    }
    b->cols[C_LIST].offsets = b->list_off;
    b->cols[C_LIST].children = b->list_child;
    b->cols[C_MAP].offsets = b->map_off;
    b->cols[C_MAP].children = b->map_child;
    b->cols[C_STRUCT].children = b->st_children;
    return b;
}

/* Reads path back with read_parquet and checks every value against the batch. */
static void check_parquet(struct duck_conn *conn, const char *path, const struct batch *b)
{
    char sql[512];
    snprintf(sql, sizeof(sql), "SELECT * FROM read_parquet('%s') ORDER BY id", path);
    struct duck_result *res;
    struct duck_error err;
    assert_int_equal(duck_query(conn, sql, &res, &err), 0);
    assert_int_equal(duck_result_column_count(res), N_COLS);
    for (size_t c = 0; c < N_COLS; c++) {
        assert_string_equal(duck_result_column_name(res, c), columns[c].name);
        const struct duck_type *t = duck_result_column_type(res, c);
        assert_int_equal(t->id, columns[c].type->id);
        assert_int_equal(t->width, columns[c].type->width);
        assert_int_equal(t->scale, columns[c].type->scale);
    }
    size_t n, row = 0;
    while (duck_result_fetch(res, &n, &err) == 0 && n > 0) {
        for (size_t r = 0; r < n; r++, row++) {
            size_t i = row;
            for (size_t c = 0; c < N_COLS; c++) {
                const struct duck_vec *v = duck_result_column(res, c);
                bool is_null = duck_vec_is_null(v, r);
                if (is_null != (bool)b->nulls[c][i]) {
                    print_error("row %zu column %s: null %d, want %d\n", i, columns[c].name,
                                is_null, b->nulls[c][i]);
                }
                assert_int_equal(is_null, b->nulls[c][i]);
                if (is_null) {
                    continue;
                }
                const void *data = duck_vec_data(v);
                struct duck_str s;
                uint64_t off, len;
                switch (c) {
                case C_ID: assert_int_equal(((const int64_t *)data)[r], b->id[i]); break;
                case C_BOOL: assert_int_equal(((const bool *)data)[r], b->b[i]); break;
                case C_TINY: assert_int_equal(((const int8_t *)data)[r], b->i8[i]); break;
                case C_SMALL: assert_int_equal(((const int16_t *)data)[r], b->i16[i]); break;
                case C_INT: assert_int_equal(((const int32_t *)data)[r], b->i32[i]); break;
                case C_BIG: assert_int_equal(((const int64_t *)data)[r], b->i64[i]); break;
                case C_FLOAT: assert_true(((const float *)data)[r] == b->f32[i]); break;
                case C_DOUBLE: assert_true(((const double *)data)[r] == b->f64[i]); break;
                case C_DEC4:
                    assert_int_equal((int64_t)duck_vec_decimal(v, r).lo, b->dec4[i]);
                    break;
                case C_DEC9:
                    assert_int_equal((int64_t)duck_vec_decimal(v, r).lo, b->dec9[i]);
                    break;
                case C_DEC10:
                    assert_int_equal((int64_t)duck_vec_decimal(v, r).lo, b->dec10[i]);
                    break;
                case C_DEC38: {
                    struct duck_int128 d = duck_vec_decimal(v, r);
                    assert_int_equal(d.lo, b->dec38[i].lo);
                    assert_int_equal(d.hi, b->dec38[i].hi);
                    break;
                }
                case C_STR:
                case C_BIN: {
                    const struct duck_str *want = c == C_STR ? &b->str[i] : &b->bin[i];
                    s = duck_vec_str(v, r);
                    assert_int_equal(s.len, want->len);
                    assert_memory_equal(s.ptr, want->ptr, s.len);
                    break;
                }
                case C_DATE: assert_int_equal(((const int32_t *)data)[r], b->date[i]); break;
                case C_TS: assert_int_equal(((const int64_t *)data)[r], b->ts[i]); break;
                case C_LIST: {
                    duck_vec_list(v, r, &off, &len);
                    assert_int_equal(len, b->list_off[i + 1] - b->list_off[i]);
                    const int32_t *e = duck_vec_data(duck_vec_child(v, 0));
                    for (size_t k = 0; k < len; k++) {
                        assert_int_equal(e[off + k], b->list_vals[b->list_off[i] + k]);
                    }
                    break;
                }
                case C_MAP: {
                    duck_vec_list(v, r, &off, &len);
                    assert_int_equal(len, b->map_off[i + 1] - b->map_off[i]);
                    const int64_t *vals = duck_vec_data(duck_vec_child(v, 1));
                    for (size_t k = 0; k < len; k++) {
                        s = duck_vec_str(duck_vec_child(v, 0), off + k);
                        const struct duck_str *key = &b->keys[b->map_off[i] + k];
                        assert_int_equal(s.len, key->len);
                        assert_memory_equal(s.ptr, key->ptr, s.len);
                        assert_int_equal(vals[off + k], b->map_vals[b->map_off[i] + k]);
                    }
                    break;
                }
                case C_STRUCT: {
                    const struct duck_vec *a = duck_vec_child(v, 0);
                    const struct duck_vec *bl = duck_vec_child(v, 1);
                    assert_int_equal(((const int32_t *)duck_vec_data(a))[r], b->st_a[i]);
                    duck_vec_list(bl, r, &off, &len);
                    assert_int_equal(len, b->st_b_off[i + 1] - b->st_b_off[i]);
                    if (len == 1) {
                        s = duck_vec_str(duck_vec_child(bl, 0), off);
                        const struct duck_str *want = &b->st_b[b->st_b_off[i]];
                        assert_int_equal(s.len, want->len);
                        assert_memory_equal(s.ptr, want->ptr, s.len);
                    }
                    break;
                }
                default: fail();
                }
            }
        }
    }
    assert_int_equal(row, N_ROWS);
    duck_result_destroy(res);
}

static void test_parquet_round_trip_every_codec(void **state)
{
    (void)state;
    struct fixture *f = fixture_create();
    struct batch *b = batch_build();
    struct duck_writer *w;
    struct duck_error err;
    int rc = duck_writer_create(f->conn, columns, N_COLS, &w, &err);
    if (rc != 0) {
        print_error("%s\n", err.message);
    }
    assert_int_equal(rc, 0);
    static const struct {
        enum duck_parquet_codec codec;
        const char *name; /* as parquet_metadata() names it */
    } codecs[] = {
        {DUCK_PARQUET_SNAPPY, "SNAPPY"},
        {DUCK_PARQUET_GZIP, "GZIP"},
        {DUCK_PARQUET_UNCOMPRESSED, "UNCOMPRESSED"},
        {DUCK_PARQUET_ZSTD, "ZSTD"},
    };
    for (size_t k = 0; k < sizeof(codecs) / sizeof(codecs[0]); k++) {
        /* A first batch of 1000 rows, then the whole batch: the writer starts empty again
           after each write. */
        assert_int_equal(duck_writer_append(w, b->cols, 1000, &err), 0);
        assert_int_equal(duck_writer_row_count(w), 1000);
        assert_int_equal(duck_writer_append(w, b->cols, 0, &err), 0); /* a no-op */
        char path[256];
        snprintf(path, sizeof(path), "%s/t_%s.parquet", f->lake, codecs[k].name);
        uint64_t n_written = 0;
        struct duck_parquet_options po = {.codec = codecs[k].codec, .row_group_rows = 2048};
        /* The first 1000 rows alone, then the whole batch in one append. */
        assert_int_equal(duck_writer_write_parquet(w, path, &po, &n_written, &err), 0);
        assert_int_equal(n_written, 1000);
        assert_int_equal(duck_writer_row_count(w), 0);
        assert_int_equal(duck_writer_append(w, b->cols, N_ROWS, &err), 0);
        rc = duck_writer_write_parquet(w, path, &po, &n_written, &err);
        if (rc != 0) {
            print_error("%s\n", err.message);
        }
        assert_int_equal(rc, 0);
        assert_int_equal(n_written, N_ROWS);
        check_parquet(f->conn, path, b);
        /* The codec is the one asked for, on every column chunk. */
        char sql[512];
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FILTER (WHERE compression <> '%s') FROM parquet_metadata('%s')",
                 codecs[k].name, path);
        assert_int_equal(query_i64(f->conn, sql), 0);
    }
    duck_writer_destroy(w);
    free(b);
    fixture_destroy(f);
}

/* Rows of a writer with an id and a 200-character text, n of them from row first. */
static void append_text_rows(struct duck_writer *w, size_t first, size_t n)
{
    int64_t *ids = calloc(n, sizeof(*ids));
    struct duck_str *texts = calloc(n, sizeof(*texts));
    char *chars = calloc(n, 201);
    for (size_t i = 0; i < n; i++) {
        ids[i] = (int64_t)(first + i);
        snprintf(chars + i * 201, 201, "%0200zu", first + i);
        texts[i] = (struct duck_str){chars + i * 201, 200};
    }
    struct duck_colbuf cols[2] = {{.values = ids}, {.values = texts}};
    struct duck_error err;
    assert_int_equal(duck_writer_append(w, cols, n, &err), 0);
    free(ids);
    free(texts);
    free(chars);
}

static void test_parquet_row_groups_by_bytes_dictionary_and_version(void **state)
{
    (void)state;
    static const struct duck_type t_s = {.id = DUCK_T_VARCHAR}, t_i = {.id = DUCK_T_BIGINT};
    static const struct duck_field cols[] = {{"id", &t_i}, {"s", &t_s}};
    const size_t n = 60000; /* about 12.5 MB of values */
    char path[256], sql[512];
    struct duck_error err;
    struct duck_writer *w;

    /* An engine that keeps insertion order cannot bound row groups by bytes: refused. */
    struct fixture *f = fixture_create();
    assert_int_equal(duck_writer_create(f->conn, cols, 2, &w, &err), 0);
    append_text_rows(w, 0, 10);
    snprintf(path, sizeof(path), "%s/refused.parquet", f->lake);
    struct duck_parquet_options po = {.codec = DUCK_PARQUET_SNAPPY, .row_group_bytes = 1 << 20};
    assert_int_equal(duck_writer_write_parquet(w, path, &po, NULL, &err), SL_E(VALIDATION));
    duck_writer_destroy(w);
    fixture_destroy(f);

    f = fixture_create_with(256u << 20, true, true);
    assert_int_equal(duck_writer_create(f->conn, cols, 2, &w, &err), 0);
    snprintf(path, sizeof(path), "%s/rg.parquet", f->lake);
    /* Rows alone would make one group: the byte bound cuts them. */
    append_text_rows(w, 0, n);
    po.row_group_rows = 1u << 30;
    po.row_group_bytes = 1 << 20;
    int rc = duck_writer_write_parquet(w, path, &po, NULL, &err);
    if (rc != 0) {
        print_error("%s\n", err.message);
    }
    assert_int_equal(rc, 0);
    snprintf(sql, sizeof(sql),
             "SELECT count(DISTINCT row_group_id)::BIGINT FROM parquet_metadata('%s')", path);
    int64_t groups = query_i64(f->conn, sql);
    print_message("rg.parquet: %lld row groups of ~1 MiB\n", (long long)groups);
    assert_true(groups >= 8 && groups <= 20);
    /* The rows are whole and in insertion order. */
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FILTER (WHERE id <> rn OR s <> lpad(id::VARCHAR, 200, '0'))::BIGINT "
             "FROM (SELECT id, s, row_number() OVER () - 1 AS rn FROM read_parquet('%s'))",
             path);
    assert_int_equal(query_i64(f->conn, sql), 0);
    /* Default dictionary: a repeated text gets dictionary pages; asked not to, none. */
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FILTER (WHERE dictionary_page_offset IS NOT NULL)::BIGINT "
             "FROM parquet_metadata('%s')",
             path);
    int64_t dict_default, dict_off;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < 20; i++) {
            append_text_rows(w, i % 3, 1000);
        }
        struct duck_parquet_options dp = {.codec = DUCK_PARQUET_SNAPPY, .no_dictionary = pass};
        assert_int_equal(duck_writer_write_parquet(w, path, &dp, NULL, &err), 0);
        *(pass ? &dict_off : &dict_default) = query_i64(f->conn, sql);
    }
    assert_true(dict_default > 0);
    assert_int_equal(dict_off, 0);
    /* WriterVersion: the file's format version. */
    for (int version = 1; version <= 2; version++) {
        append_text_rows(w, 0, 100);
        struct duck_parquet_options vp = {.codec = DUCK_PARQUET_SNAPPY, .format_version = version};
        assert_int_equal(duck_writer_write_parquet(w, path, &vp, NULL, &err), 0);
        snprintf(sql, sizeof(sql), "SELECT format_version::BIGINT FROM parquet_file_metadata('%s')",
                 path);
        assert_int_equal(query_i64(f->conn, sql), version);
    }
    duck_writer_destroy(w);
    fixture_destroy(f);
}

static void test_parquet_metadata_gives_bytes_per_column(void **state)
{
    (void)state;
    struct fixture *f = fixture_create();
    struct batch *b = batch_build();
    struct duck_writer *w;
    struct duck_error err;
    assert_int_equal(duck_writer_create(f->conn, columns, N_COLS, &w, &err), 0);
    assert_int_equal(duck_writer_append(w, b->cols, N_ROWS, &err), 0);
    char path[256], sql[768];
    snprintf(path, sizeof(path), "%s/meta.parquet", f->lake);
    struct duck_parquet_options po = {
        .codec = DUCK_PARQUET_SNAPPY, .row_group_rows = 2048, .format_version = 2};
    assert_int_equal(duck_writer_write_parquet(w, path, &po, NULL, &err), 0);
    /* Row groups as asked (2048 rows each), every row counted once per column. */
    snprintf(sql, sizeof(sql),
             "SELECT count(DISTINCT row_group_id)::BIGINT FROM parquet_metadata('%s')", path);
    assert_int_equal(query_i64(f->conn, sql), 3);
    snprintf(sql, sizeof(sql),
             "SELECT sum(row_group_num_rows)::BIGINT FROM parquet_metadata('%s') "
             "WHERE path_in_schema = 'id'",
             path);
    assert_int_equal(query_i64(f->conn, sql), N_ROWS);
    /* What Athena bills for `SELECT id`: the compressed chunks of that column alone. */
    snprintf(sql, sizeof(sql),
             "SELECT sum(total_compressed_size)::BIGINT FROM parquet_metadata('%s') "
             "WHERE path_in_schema = 'id'",
             path);
    int64_t id_bytes = query_i64(f->conn, sql);
    snprintf(sql, sizeof(sql),
             "SELECT sum(total_compressed_size)::BIGINT FROM parquet_metadata('%s')", path);
    int64_t all_bytes = query_i64(f->conn, sql);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_true(id_bytes > 0 && id_bytes < all_bytes && all_bytes < sb.st_size);
    print_message("meta.parquet: %lld bytes, column chunks %lld, id %lld\n", (long long)sb.st_size,
                  (long long)all_bytes, (long long)id_bytes);
    duck_writer_destroy(w);
    free(b);
    fixture_destroy(f);
}

static void test_writer_refuses_bad_values_and_keeps_nothing(void **state)
{
    (void)state;
    struct fixture *f = fixture_create();
    static const struct duck_field cols[] = {
        {"s", &t_str}, {"d", &t_dec4}, {"l", &t_list}, {"m", &t_map}};
    struct duck_writer *w;
    struct duck_error err;
    assert_int_equal(duck_writer_create(f->conn, cols, 4, &w, &err), 0);

    struct duck_str strs[2] = {{"ok", 2}, {"ok", 2}};
    int64_t decs[2] = {9999, -9999};
    uint64_t loffs[3] = {0, 1, 2};
    int32_t lvals[2] = {1, 2};
    struct duck_colbuf lchild = {.values = lvals};
    uint64_t moffs[3] = {0, 1, 1};
    struct duck_str mkeys[1] = {{"k", 1}};
    int64_t mvals[1] = {5};
    uint8_t key_nulls[1] = {0};
    struct duck_colbuf mchild[2] = {{.values = mkeys, .is_null = key_nulls}, {.values = mvals}};
    struct duck_colbuf in[4] = {{.values = strs},
                                {.values = decs},
                                {.offsets = loffs, .children = &lchild},
                                {.offsets = moffs, .children = mchild}};
    assert_int_equal(duck_writer_append(w, in, 2, &err), 0);

    strs[1] = (struct duck_str){"bad \xc3\x28", 6}; /* invalid UTF-8 */
    assert_int_equal(duck_writer_append(w, in, 2, &err), SL_E(VALIDATION));
    assert_non_null(strstr(err.message, "column s: row 1"));
    strs[1] = (struct duck_str){"\xed\xa0\x80", 3}; /* a UTF-16 surrogate */
    assert_int_equal(duck_writer_append(w, in, 2, &err), SL_E(VALIDATION));
    strs[1] = (struct duck_str){"\xc0\xaf", 2}; /* overlong */
    assert_int_equal(duck_writer_append(w, in, 2, &err), SL_E(VALIDATION));
    strs[1] = (struct duck_str){"\xf0\x9f\x98\x80", 4}; /* U+1F600 is fine */
    assert_int_equal(duck_writer_append(w, in, 2, &err), 0);

    decs[0] = 10000; /* five digits in DECIMAL(4,1) */
    assert_int_equal(duck_writer_append(w, in, 2, &err), SL_E(VALIDATION));
    assert_non_null(strstr(err.message, "column d: row 0"));
    decs[0] = 0;
    loffs[1] = 3; /* past the next offset */
    assert_int_equal(duck_writer_append(w, in, 2, &err), SL_E(VALIDATION));
    assert_non_null(strstr(err.message, "column l"));
    loffs[1] = 1;
    key_nulls[0] = 1;
    assert_int_equal(duck_writer_append(w, in, 2, &err), SL_E(VALIDATION));
    assert_non_null(strstr(err.message, "map key"));
    key_nulls[0] = 0;

    /* Only the two good appends are in the table. */
    assert_int_equal(duck_writer_row_count(w), 4);
    char path[256];
    snprintf(path, sizeof(path), "%s/v.parquet", f->lake);
    struct duck_parquet_options po = {.codec = DUCK_PARQUET_UNCOMPRESSED};
    uint64_t n = 0;
    assert_int_equal(duck_writer_write_parquet(w, path, &po, &n, &err), 0);
    assert_int_equal(n, 4);
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FILTER (WHERE s = '\xf0\x9f\x98\x80')::BIGINT FROM '%s'", path);
    assert_int_equal(query_i64(f->conn, sql), 1);
    duck_writer_destroy(w);

    /* Schemas the writer cannot take. */
    static const struct duck_type bad_dec = {.id = DUCK_T_DECIMAL, .width = 39};
    static const struct duck_type t_uuid = {.id = DUCK_T_UUID};
    static const struct duck_field bad1[] = {{"x", &bad_dec}};
    static const struct duck_field bad2[] = {{"x", &t_uuid}};
    static const struct duck_field bad3[] = {{"x", &t_int}, {"X", &t_int}};
    assert_int_equal(duck_writer_create(f->conn, bad1, 1, &w, &err), SL_E(VALIDATION));
    assert_null(w);
    assert_int_equal(duck_writer_create(f->conn, bad2, 1, &w, &err), SL_E(VALIDATION));
    assert_int_equal(duck_writer_create(f->conn, bad3, 2, &w, &err), SL_E(VALIDATION));
    assert_int_equal(duck_writer_create(f->conn, bad3, 0, &w, &err), SL_E(VALIDATION));
    fixture_destroy(f);
}

static void test_writer_path_outside_the_lake_is_refused_and_rows_kept(void **state)
{
    (void)state;
    struct fixture *f = fixture_create();
    static const struct duck_field cols[] = {{"x", &t_int}};
    int32_t xs[3] = {1, 2, 3};
    struct duck_colbuf in[1] = {{.values = xs}};
    struct duck_writer *w;
    struct duck_error err;
    assert_int_equal(duck_writer_create(f->conn, cols, 1, &w, &err), 0);
    assert_int_equal(duck_writer_append(w, in, 3, &err), 0);
    char path[256];
    snprintf(path, sizeof(path), "%s/x.parquet", f->outside);
    struct duck_parquet_options po = {.codec = DUCK_PARQUET_SNAPPY};
    assert_int_equal(duck_writer_write_parquet(w, path, &po, NULL, &err), SL_E(ACCESS_DENIED));
    assert_int_equal(err.kind, DUCK_ERR_PERMISSION);
    assert_int_equal(duck_writer_write_parquet(w, "relative.parquet", &po, NULL, &err),
                     SL_E(VALIDATION));
    struct stat sb;
    assert_int_equal(stat(path, &sb), -1);
    /* The rows are still there for a write to the right place. */
    assert_int_equal(duck_writer_row_count(w), 3);
    snprintf(path, sizeof(path), "%s/it's here.parquet", f->lake); /* a quote in the name */
    uint64_t n = 0;
    assert_int_equal(duck_writer_write_parquet(w, path, &po, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(stat(path, &sb), 0);
    duck_writer_destroy(w);
    fixture_destroy(f);
}

static void test_writer_failure_is_sticky(void **state)
{
    (void)state;
    struct fixture *f = fixture_create();
    static const struct duck_field cols[] = {{"x", &t_int}};
    int32_t xs[3000] = {0};
    struct duck_colbuf in[1] = {{.values = xs}};
    struct duck_writer *w;
    struct duck_error err;
    assert_int_equal(duck_writer_create(f->conn, cols, 1, &w, &err), 0);
    /* The second chunk of this append fails. */
    duck_fault_inject(DUCK_OP_APPEND, 2, DUCK_ERR_OUT_OF_MEMORY);
    assert_int_equal(duck_writer_append(w, in, 3000, &err), SL_E(NOMEM));
    assert_int_equal(err.kind, DUCK_ERR_OUT_OF_MEMORY);
    assert_int_equal(duck_writer_append(w, in, 1, &err), SL_E(NOMEM));
    char path[256];
    snprintf(path, sizeof(path), "%s/never.parquet", f->lake);
    struct duck_parquet_options po = {.codec = DUCK_PARQUET_SNAPPY};
    assert_int_equal(duck_writer_write_parquet(w, path, &po, NULL, &err), SL_E(NOMEM));
    struct stat sb;
    assert_int_equal(stat(path, &sb), -1);
    duck_writer_destroy(w);

    /* The file is written but the fresh table for the next batch cannot be made: the
       write succeeds (the file is whole) and the writer refuses what follows. */
    assert_int_equal(duck_writer_create(f->conn, cols, 1, &w, &err), 0);
    assert_int_equal(duck_writer_append(w, in, 3, &err), 0);
    duck_fault_inject(DUCK_OP_QUERY, 2, DUCK_ERR_INTERNAL); /* 1: COPY, 2: CREATE */
    uint64_t n = 0;
    assert_int_equal(duck_writer_write_parquet(w, path, &po, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(duck_writer_append(w, in, 1, &err), SL_E(INTERNAL));
    duck_writer_destroy(w);
    unlink(path);

    /* A new writer on the same connection works. */
    assert_int_equal(duck_writer_create(f->conn, cols, 1, &w, &err), 0);
    assert_int_equal(duck_writer_append(w, in, 3, &err), 0);
    assert_int_equal(duck_writer_write_parquet(w, path, &po, NULL, &err), 0);
    duck_writer_destroy(w);
    fixture_destroy(f);
}

static void test_writer_gives_memory_back_after_each_write(void **state)
{
    (void)state;
    struct fixture *f = fixture_create();
    static const struct duck_field cols[] = {{"s", &t_str}, {"i", &t_big}};
    enum { N = 50000 };
    static char text[N][100];
    static struct duck_str strs[N];
    static int64_t ids[N];
    for (size_t i = 0; i < N; i++) {
        memset(text[i], 'a' + (char)(i % 26), sizeof(text[i]));
        snprintf(text[i], 16, "%zu", i * 7919);
        text[i][strlen(text[i])] = '-';
        strs[i] = (struct duck_str){text[i], sizeof(text[i])};
        ids[i] = (int64_t)i;
    }
    struct duck_colbuf in[2] = {{.values = strs}, {.values = ids}};
    struct duck_writer *w;
    struct duck_error err;
    assert_int_equal(duck_writer_create(f->conn, cols, 2, &w, &err), 0);
    char path[256];
    snprintf(path, sizeof(path), "%s/batch.parquet", f->lake);
    struct duck_parquet_options po = {.codec = DUCK_PARQUET_SNAPPY};
    int64_t most = 0;
    for (int round = 0; round < 10; round++) { /* 10 batches of about 5 MB */
        assert_int_equal(duck_writer_append(w, in, N, &err), 0);
        uint64_t n = 0;
        assert_int_equal(duck_writer_write_parquet(w, path, &po, &n, &err), 0);
        assert_int_equal(n, N);
        int64_t used =
            query_i64(f->conn, "SELECT sum(memory_usage_bytes)::BIGINT FROM duckdb_memory()");
        most = used > most ? used : most;
    }
    print_message("most memory held between batches: %lld bytes\n", (long long)most);
    assert_true(most < 8 << 20);
    duck_writer_destroy(w);
    fixture_destroy(f);
}

static void test_memory_limit_without_spill_is_nomem(void **state)
{
    (void)state;
    struct fixture *f = fixture_create_with(16u << 20, false, false);
    static const struct duck_field cols[] = {{"s", &t_str}};
    enum { N = 20000 };
    static char text[N][200];
    static struct duck_str strs[N];
    for (size_t i = 0; i < N; i++) {
        memset(text[i], 'a' + (char)(i % 26), sizeof(text[i]));
        snprintf(text[i], 16, "%zu", i);
        text[i][strlen(text[i])] = '-';
        strs[i] = (struct duck_str){text[i], sizeof(text[i])};
    }
    struct duck_colbuf in[1] = {{.values = strs}};
    struct duck_writer *w;
    struct duck_error err;
    assert_int_equal(duck_writer_create(f->conn, cols, 1, &w, &err), 0);
    char path[256];
    snprintf(path, sizeof(path), "%s/big.parquet", f->lake);
    struct duck_parquet_options po = {.codec = DUCK_PARQUET_SNAPPY};
    int rc = 0;
    for (int round = 0; round < 20 && rc == 0; round++) { /* 80 MB into 16 MiB */
        rc = duck_writer_append(w, in, N, &err);
    }
    if (rc == 0) {
        /* Flushing the appender is where the table takes the rest of its memory. */
        rc = duck_writer_write_parquet(w, path, &po, NULL, &err);
    }
    print_message("at the memory limit: %s (%s) %.120s\n", sl_strerror(rc),
                  duck_err_kind_name(err.kind), err.message);
    assert_int_equal(rc, SL_E(NOMEM));
    assert_int_equal(err.kind, DUCK_ERR_OUT_OF_MEMORY);
    duck_writer_destroy(w);
    /* The engine survives and answers. */
    assert_int_equal(query_i64(f->conn, "SELECT 5::BIGINT"), 5);
    fixture_destroy(f);
}

static void test_sql_quoting(void **state)
{
    (void)state;
    char *s = duck_sql_literal("it's");
    assert_string_equal(s, "'it''s'");
    free(s);
    s = duck_sql_ident("a\"b");
    assert_string_equal(s, "\"a\"\"b\"");
    free(s);
    assert_string_equal(duck_type_name(DUCK_T_DECIMAL), "DECIMAL");
    assert_string_equal(duck_type_name((enum duck_type_id)999), "?");
    assert_string_equal(duck_err_kind_name(DUCK_ERR_PERMISSION), "PERMISSION");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engine_opens_queries_and_closes),
        cmocka_unit_test(test_engine_open_refuses_bad_options),
        cmocka_unit_test(test_open_connect_and_query_faults_leave_nothing_open),
        cmocka_unit_test(test_query_allocation_failure_is_nomem),
        cmocka_unit_test(test_query_reads_every_mapped_type),
        cmocka_unit_test(test_results_arrive_in_chunks),
        cmocka_unit_test(test_errors_map_to_codes_with_duckdb_message),
        cmocka_unit_test(test_interrupt_cancels_a_running_query),
        cmocka_unit_test(test_lockdown_refuses_every_way_out_of_the_lake),
        cmocka_unit_test(test_builtin_extensions_work_under_lockdown),
        cmocka_unit_test(test_parquet_round_trip_every_codec),
        cmocka_unit_test(test_parquet_metadata_gives_bytes_per_column),
        cmocka_unit_test(test_parquet_row_groups_by_bytes_dictionary_and_version),
        cmocka_unit_test(test_writer_refuses_bad_values_and_keeps_nothing),
        cmocka_unit_test(test_writer_path_outside_the_lake_is_refused_and_rows_kept),
        cmocka_unit_test(test_writer_failure_is_sticky),
        cmocka_unit_test(test_writer_gives_memory_back_after_each_write),
        cmocka_unit_test(test_memory_limit_without_spill_is_nomem),
        cmocka_unit_test(test_sql_quoting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
