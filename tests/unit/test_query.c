/*
 * The query part's pure pieces: the execution state machine, Athena's result CSV (writing
 * and reading back), Athena's type names for DuckDB's types, the scrubbing of server
 * paths from messages, and the bytes a Parquet scan reads for a set of columns.
 */
#include <ftw.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/duck.h"
#include "query/query_int.h"

static void test_state_machine_allows_only_the_diagram(void **state)
{
    (void)state;
    static const int allowed[QUERY_STATE_COUNT_][QUERY_STATE_COUNT_] = {
        /* to: QUEUED RUNNING SUCCEEDED FAILED CANCELLED */
        [QUERY_QUEUED] = {0, 1, 0, 1, 1},    [QUERY_RUNNING] = {0, 0, 1, 1, 1},
        [QUERY_SUCCEEDED] = {0, 0, 0, 0, 0}, [QUERY_FAILED] = {0, 0, 0, 0, 0},
        [QUERY_CANCELLED] = {0, 0, 0, 0, 0},
    };
    for (int from = 0; from < QUERY_STATE_COUNT_; from++) {
        for (int to = 0; to < QUERY_STATE_COUNT_; to++) {
            assert_int_equal(query__state_can_move(from, to), allowed[from][to]);
        }
    }
    assert_string_equal(query__state_name(QUERY_CANCELLED), "CANCELLED");
    assert_string_equal(query__state_name(QUERY_STATE_COUNT_), "?");
}

static void test_csv_quotes_every_value_and_leaves_null_empty(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    query__csv_field(&b, "a", 1);
    buf_putc(&b, ',');
    query__csv_field(&b, "", 0);
    buf_putc(&b, ',');
    query__csv_field(&b, NULL, 0);
    buf_putc(&b, ',');
    query__csv_field(&b, "say \"hi\",\nbye", strlen("say \"hi\",\nbye"));
    buf_putc(&b, '\n');
    buf_putc(&b, '\0');
    assert_string_equal((const char *)b.data, "\"a\",\"\",,\"say \"\"hi\"\",\nbye\"\n");
    buf_fini(&b);
}

struct fields {
    char *v[8];
    int is_null[8];
    int n;
};

static void collect(void *arg, const char *value, size_t len)
{
    struct fields *f = arg;
    f->is_null[f->n] = value == NULL;
    f->v[f->n] = value != NULL ? strndup(value, len) : NULL;
    f->n++;
}

static void fields_free(struct fields *f)
{
    for (int i = 0; i < f->n; i++) {
        free(f->v[i]);
    }
    memset(f, 0, sizeof(*f));
}

static void test_csv_reads_back_what_it_writes(void **state)
{
    (void)state;
    const char *text = "\"a\",\"\",,\"say \"\"hi\"\",\nbye\"\n\"x\"\n";
    size_t pos = 0;
    struct buf scratch;
    buf_init(&scratch);
    struct fields f = {0};
    assert_int_equal(query__csv_record(text, strlen(text), &pos, &scratch, collect, &f), 4);
    assert_string_equal(f.v[0], "a");
    assert_string_equal(f.v[1], "");
    assert_int_equal(f.is_null[1], 0);
    assert_int_equal(f.is_null[2], 1);
    assert_string_equal(f.v[3], "say \"hi\",\nbye");
    fields_free(&f);
    assert_int_equal(query__csv_record(text, strlen(text), &pos, &scratch, collect, &f), 1);
    assert_string_equal(f.v[0], "x");
    fields_free(&f);
    assert_int_equal(query__csv_record(text, strlen(text), &pos, &scratch, collect, &f), 0);
    /* Athena never writes an unquoted value, nor leaves a quote open */
    pos = 0;
    assert_int_equal(query__csv_record("abc\n", 4, &pos, &scratch, collect, &f), -1);
    fields_free(&f);
    pos = 0;
    assert_int_equal(query__csv_record("\"abc\n", 5, &pos, &scratch, collect, &f), -1);
    fields_free(&f);
    buf_fini(&scratch);
}

static void test_athena_type_names(void **state)
{
    (void)state;
    static const struct {
        enum duck_type_id id;
        const char *name;
        int precision;
    } cases[] = {
        {DUCK_T_BOOLEAN, "boolean", 0},
        {DUCK_T_TINYINT, "tinyint", 3},
        {DUCK_T_SMALLINT, "smallint", 5},
        {DUCK_T_INTEGER, "integer", 10},
        {DUCK_T_BIGINT, "bigint", 19},
        {DUCK_T_FLOAT, "float", 7},
        {DUCK_T_DOUBLE, "double", 17},
        {DUCK_T_VARCHAR, "varchar", 2147483647},
        {DUCK_T_BLOB, "varbinary", 1073741824},
        {DUCK_T_DATE, "date", 0},
        {DUCK_T_TIMESTAMP, "timestamp", 3},
        {DUCK_T_TIMESTAMP_NS, "timestamp", 3},
        {DUCK_T_TIMESTAMP_TZ, "timestamp with time zone", 3},
        {DUCK_T_LIST, "array", 0},
        {DUCK_T_MAP, "map", 0},
        {DUCK_T_STRUCT, "row", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct duck_type t = {.id = cases[i].id};
        struct query_athena_type at;
        query__athena_type(&t, &at);
        assert_string_equal(at.name, cases[i].name);
        assert_int_equal(at.precision, cases[i].precision);
    }
    struct duck_type dec = {.id = DUCK_T_DECIMAL, .width = 12, .scale = 3};
    struct query_athena_type at;
    query__athena_type(&dec, &at);
    assert_string_equal(at.name, "decimal");
    assert_int_equal(at.precision, 12);
    assert_int_equal(at.scale, 3);
}

static void test_scrub_removes_server_paths(void **state)
{
    (void)state;
    char msg[256];
    snprintf(msg, sizeof(msg),
             "IO Error: No files found that match the pattern \"/srv/data/lake/objects/ab/abcd\""
             " or '/tmp/x', see (/var/lib/a)");
    query__scrub_paths(msg);
    assert_null(strstr(msg, "/srv"));
    assert_null(strstr(msg, "/tmp"));
    assert_null(strstr(msg, "/var"));
    assert_non_null(strstr(msg, "IO Error: No files found"));
    /* a division is not a path */
    snprintf(msg, sizeof(msg), "a/b and 1 / 2");
    query__scrub_paths(msg);
    assert_string_equal(msg, "a/b and 1 / 2");
}

static void fake_locate(void *arg, int is_function, const char *name, char *where, size_t where_len)
{
    (void)arg;
    if (is_function && strcmp(name, "nosuchfn") == 0) {
        snprintf(where, where_len, "line 2:9: ");
    }
}

static void test_duckdb_messages_in_athena_words(void **state)
{
    (void)state;
    char out[512];
    query__athena_message("Binder Error: Referenced column \"x\" not found in FROM clause!\n"
                          "Candidate bindings: \"y\"\n\nLINE 1: SELECT x FROM t\n"
                          "               ^",
                          DUCK_ERR_BINDER, fake_locate, NULL, out, sizeof(out));
    assert_string_equal(out, "COLUMN_NOT_FOUND: Column 'x' cannot be resolved or "
                             "requester is not authorized to access requested resources");
    query__athena_message("Catalog Error: Scalar Function with name nosuchfn does not exist!\n"
                          "Did you mean \"nanosecond\"?",
                          DUCK_ERR_CATALOG, fake_locate, NULL, out, sizeof(out));
    assert_string_equal(out, "FUNCTION_NOT_FOUND: line 2:9: Function 'nosuchfn' not registered");
    query__athena_message("Conversion Error: Could not convert string 'a' to INT32",
                          DUCK_ERR_CONVERSION, NULL, NULL, out, sizeof(out));
    assert_string_equal(out, "INVALID_CAST_ARGUMENT: Could not convert string 'a' to INT32");
    query__athena_message("IO Error: No files found that match the pattern "
                          "\"/srv/lake/objects/ab/abc\"",
                          DUCK_ERR_IO, NULL, NULL, out, sizeof(out));
    assert_null(strstr(out, "/srv"));
    assert_non_null(strstr(out, "HIVE_CANNOT_OPEN_SPLIT: No files found"));
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int64_t one_int(struct duck_conn *conn, const char *sql)
{
    struct duck_result *res = NULL;
    struct duck_error err = {0};
    size_t n = 0;
    assert_int_equal(duck_query(conn, sql, &res, &err), 0);
    assert_int_equal(duck_result_fetch(res, &n, &err), 0);
    assert_int_equal(n, 1);
    int64_t v = ((const int64_t *)duck_vec_data(duck_result_column(res, 0)))[0];
    duck_result_destroy(res);
    return v;
}

static void test_parquet_scan_bytes_count_referenced_columns(void **state)
{
    (void)state;
    char dir[] = "/tmp/sluice-test-query-XXXXXX";
    assert_non_null(mkdtemp(dir));
    const char *dirs[] = {dir};
    struct duck_engine_options opts = {.dirs = dirs, .n_dirs = 1};
    struct duck_engine *engine = NULL;
    struct duck_conn *conn = NULL;
    struct duck_error err = {0};
    assert_int_equal(duck_engine_open(&opts, &engine, &err), 0);
    assert_int_equal(duck_conn_open(engine, &conn, &err), 0);
    char path[2][128], sql[512];
    for (int i = 0; i < 2; i++) {
        snprintf(path[i], sizeof(path[i]), "%s/f%d.parquet", dir, i);
        snprintf(sql, sizeof(sql),
                 "COPY (SELECT i AS a, 'v' || i::VARCHAR AS b, {'x': i, 'y': 'z'} AS s"
                 " FROM range(%d) t(i)) TO '%s' (FORMAT parquet, ROW_GROUP_SIZE 500)",
                 3000 + i * 1000, path[i]);
        assert_int_equal(duck_exec(conn, sql, &err), 0);
    }
    const char *files[] = {path[0], path[1]};
    int64_t a = 0, b = 0, s = 0, ab = 0, none = 1;
    const char *col_a[] = {"A"}, *col_b[] = {"b"}, *col_s[] = {"s"}, *col_ab[] = {"a", "b"};
    assert_int_equal(query__parquet_scan_bytes(conn, files, 2, col_a, 1, NULL, &a, &err), 0);
    assert_int_equal(query__parquet_scan_bytes(conn, files, 2, col_b, 1, NULL, &b, &err), 0);
    assert_int_equal(query__parquet_scan_bytes(conn, files, 2, col_s, 1, NULL, &s, &err), 0);
    assert_int_equal(query__parquet_scan_bytes(conn, files, 2, col_ab, 2, NULL, &ab, &err), 0);
    assert_int_equal(query__parquet_scan_bytes(conn, files, 2, NULL, 0, NULL, &none, &err), 0);
    assert_true(a > 0 && b > 0 && s > 0);
    assert_int_equal(ab, a + b);
    assert_int_equal(none, 0);
    /* a row group ruled out by column a's statistics is not read */
    int64_t first = 0;
    const char *only0[] = {path[0]};
    assert_int_equal(query__parquet_scan_bytes(conn, only0, 1, col_ab, 2,
                                               "col = 'a' AND TRY_CAST(mn AS BIGINT) > 0", &first,
                                               &err),
                     0);
    snprintf(sql, sizeof(sql),
             "SELECT CAST(sum(total_compressed_size) AS BIGINT) FROM parquet_metadata('%s')"
             " WHERE row_group_id = 0 AND path_in_schema IN ('a', 'b')",
             path[0]);
    assert_int_equal(first, one_int(conn, sql));
    /* the struct's two leaf chunks both count for its top-level name */
    snprintf(sql, sizeof(sql),
             "SELECT CAST(sum(total_compressed_size) AS BIGINT) FROM parquet_metadata(['%s',"
             " '%s']) WHERE path_in_schema LIKE 's, %%'",
             path[0], path[1]);
    assert_int_equal(s, one_int(conn, sql));
    /* one chunk of column a in every row group of every file */
    snprintf(sql, sizeof(sql),
             "SELECT count(DISTINCT (file_name, row_group_id)) - count(*) FILTER"
             " (WHERE path_in_schema = 'a') FROM parquet_metadata(['%s', '%s'])",
             path[0], path[1]);
    assert_int_equal(one_int(conn, sql), 0);
    duck_conn_close(conn);
    duck_engine_close(engine);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* MySQL-style codes (Trino's date_format/date_parse) as strftime/strptime's. */
static void test_mysql_format_codes(void **state)
{
    (void)state;
    static const struct {
        const char *in, *print, *parse;
    } cases[] = {
        {"%Y-%m-%d %H:%i:%s", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S"},
        /* %f: six digits when printing, of a value cut to milliseconds */
        {"%s.%f", "%S.%g000", "%S.%f"},
        {"%M %W %a %b", "%B %A %a %b", "%B %A %a %b"},
        {"%e/%c %k %l %h %I %p", "%-d/%-m %-H %-I %I %I %p", "%-d/%-m %-H %-I %I %I %p"},
        {"%r|%T", "%I:%M:%S %p|%H:%M:%S", "%I:%M:%S %p|%H:%M:%S"},
        {"%j %y %S %x-%v", "%j %y %S %G-%V", "%j %y %S %G-%V"},
        /* %% a percent sign, %Q (unlisted) a Q, a trailing % itself */
        {"100%% %Q %", "100%% Q %%", "100%% Q %%"},
        {"", "", ""},
    };
    char out[128], err[128];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(query__mysql_format(cases[i].in, 0, out, sizeof(out), err, sizeof(err)),
                         0);
        assert_string_equal(out, cases[i].print);
        assert_int_equal(query__mysql_format(cases[i].in, 1, out, sizeof(out), err, sizeof(err)),
                         0);
        assert_string_equal(out, cases[i].parse);
    }
    /* Trino refuses %D %U %u %V %w %X */
    for (const char *c = "DUuVwX"; *c != '\0'; c++) {
        char in[8];
        snprintf(in, sizeof(in), "%%Y %%%c", *c);
        assert_int_equal(query__mysql_format(in, 0, out, sizeof(out), err, sizeof(err)), -1);
        char want[64];
        snprintf(want, sizeof(want), "%%%c not supported in date format string", *c);
        assert_string_equal(err, want);
    }
    char small[4];
    assert_int_equal(query__mysql_format("%Y-%m", 0, small, sizeof(small), err, sizeof(err)), -1);
}

/* Joda patterns (format_datetime/parse_datetime) as strftime/strptime's. */
static void test_joda_pattern_letters(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"yyyy-MM-dd HH:mm:ss.SSS", "%Y-%m-%d %H:%M:%S.%g"},
        {"yy M d H m s", "%y %-m %-d %-H %-M %-S"},
        {"EEEE, MMMM d, h:mm a", "%A, %B %-d, %-I:%M %p"},
        {"EEE dd MMM yyyy hh", "%a %d %b %Y %I"},
        {"D DDD xxxx-ww e", "%-j %j %G-%V %u"},
        {"SSSSSS SSSSSSSSS", "%f %n"},
        /* quoted text, '' a quote, % doubled */
        {"yyyy-MM-dd'T'HH", "%Y-%m-%dT%H"},
        {"h 'o''clock' '' 100%", "%-I o'clock ' 100%%"},
    };
    char out[128], err[128];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(query__joda_format(cases[i].in, 0, out, sizeof(out), err, sizeof(err)), 0);
        assert_string_equal(out, cases[i].out);
    }
    /* a zone offset is read, not printed (DuckDB cannot print Joda's +0000) */
    assert_int_equal(query__joda_format("HH Z", 1, out, sizeof(out), err, sizeof(err)), 0);
    assert_string_equal(out, "%H %z");
    /* a zone name is UTC's (every zone of Sluice's sessions is UTC) */
    assert_int_equal(query__joda_format("HH z", 0, out, sizeof(out), err, sizeof(err)), 0);
    assert_string_equal(out, "%H UTC");
    assert_int_equal(query__joda_format("HH Z", 0, out, sizeof(out), err, sizeof(err)), -1);
    assert_int_equal(query__joda_format("yyyy qq", 0, out, sizeof(out), err, sizeof(err)), -1);
    assert_string_equal(err, "Illegal pattern component: qq");
    assert_int_equal(query__joda_format("ss.SS", 0, out, sizeof(out), err, sizeof(err)), -1);
}

/* Java's replacement syntax ($1, \$) as RE2's (\1, $). */
static void test_java_replacement_back_references(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(query__java_replacement("3c$2 ", out, sizeof(out)), 0);
    assert_string_equal(out, "3c\\2 ");
    assert_int_equal(query__java_replacement("\\$1 costs $0", out, sizeof(out)), 0);
    assert_string_equal(out, "$1 costs \\0");
    assert_int_equal(query__java_replacement("a\\\\b", out, sizeof(out)), 0);
    assert_string_equal(out, "a\\\\b");
    char small[3];
    assert_int_equal(query__java_replacement("abc", small, sizeof(small)), -1);
}

/* Doubles as Athena (Java's Double.toString) prints them. */
static void test_doubles_print_as_java(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        {2.5, "2.5"},
        {1.0, "1.0"},
        {-2.0, "-2.0"},
        {0.0, "0.0"},
        {1e7, "1.0E7"},
        {9999999.0, "9999999.0"},
        {1779192000.0, "1.779192E9"},
        {0.001, "0.001"},
        {0.0001, "1.0E-4"},
        {1.0 / 3, "0.3333333333333333"},
        {123456.789, "123456.789"},
        {-1.5e-10, "-1.5E-10"},
        {1e300, "1.0E300"},
        {100.25, "100.25"},
    };
    char out[64];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        query__java_double(cases[i].v, 0, out, sizeof(out));
        assert_string_equal(out, cases[i].want);
    }
    query__java_double(NAN, 0, out, sizeof(out));
    assert_string_equal(out, "NaN");
    query__java_double(-INFINITY, 0, out, sizeof(out));
    assert_string_equal(out, "-Infinity");
    /* a real: Float.toString's digits */
    query__java_double((double)0.1f, 1, out, sizeof(out));
    assert_string_equal(out, "0.1");
    query__java_double((double)0.1f, 0, out, sizeof(out));
    assert_string_equal(out, "0.10000000149011612");
}

int main(void)
{
    alarm(120);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_machine_allows_only_the_diagram),
        cmocka_unit_test(test_csv_quotes_every_value_and_leaves_null_empty),
        cmocka_unit_test(test_csv_reads_back_what_it_writes),
        cmocka_unit_test(test_athena_type_names),
        cmocka_unit_test(test_scrub_removes_server_paths),
        cmocka_unit_test(test_duckdb_messages_in_athena_words),
        cmocka_unit_test(test_parquet_scan_bytes_count_referenced_columns),
        cmocka_unit_test(test_mysql_format_codes),
        cmocka_unit_test(test_joda_pattern_letters),
        cmocka_unit_test(test_java_replacement_back_references),
        cmocka_unit_test(test_doubles_print_as_java),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
