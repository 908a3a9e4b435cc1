/*
 * The statement part of CTAS, INSERT INTO and UNLOAD: the kind from the leading keywords,
 * the WITH clause, and the query handed on with the rest blanked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "query/query_int.h"

/* The query part of q->select, without the blanks around it. */
static char *trimmed(const struct query_write *q)
{
    const char *s = q->select;
    while (*s == ' ' || *s == '\n') {
        s++;
    }
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n')) {
        n--;
    }
    char *out = malloc(n + 1);
    memcpy(out, s, n);
    out[n] = '\0';
    return out;
}

static void test_kind_from_the_leading_keywords(void **state)
{
    (void)state;
    assert_int_equal(query__write_kind("SELECT 1"), QUERY_WRITE_NONE);
    assert_int_equal(query__write_kind("  -- c\n create /* x */ TABLE t AS SELECT 1"),
                     QUERY_WRITE_CTAS);
    assert_int_equal(query__write_kind("CREATE TABLE t WITH (format = 'JSON') AS SELECT 1"),
                     QUERY_WRITE_CTAS);
    /* DDL, not CTAS: no AS outside the column list */
    assert_int_equal(query__write_kind("CREATE TABLE t (a int) LOCATION 's3://b/'"),
                     QUERY_WRITE_NONE);
    assert_int_equal(query__write_kind("CREATE EXTERNAL TABLE t (a int) LOCATION 's3://b/'"),
                     QUERY_WRITE_NONE);
    assert_int_equal(query__write_kind("CREATE VIEW v AS SELECT 1"), QUERY_WRITE_NONE);
    assert_int_equal(query__write_kind("insert into t select 1"), QUERY_WRITE_INSERT);
    assert_int_equal(query__write_kind("INSERT t SELECT 1"), QUERY_WRITE_NONE);
    assert_int_equal(query__write_kind("UNLOAD (SELECT 1) TO 's3://b/p/'"), QUERY_WRITE_UNLOAD);
    assert_string_equal(query__write_substatement(QUERY_WRITE_CTAS), "CREATE_TABLE_AS_SELECT");
    assert_string_equal(query__write_substatement(QUERY_WRITE_NONE), "SELECT");
}

static void test_ctas_of_the_lab(void **state)
{
    (void)state;
    const char *text = "CREATE TABLE lab.events_by_hour\n"
                       "WITH (\n"
                       "format = 'PARQUET',\n"
                       "parquet_compression = 'SNAPPY',\n"
                       "partitioned_by = ARRAY['event_hour'],\n"
                       "external_location = 's3://bkt/events/curated/events_by_hour/'\n"
                       ") AS\n"
                       "SELECT\n"
                       "event_id,\n"
                       "date_trunc('hour', ts) AS event_hour\n"
                       "FROM lab.events";
    struct query_write *q = NULL;
    struct query_failure f = {0};
    assert_int_equal(query__write_parse(text, &q, &f), 0);
    assert_int_equal(q->kind, QUERY_WRITE_CTAS);
    assert_string_equal(q->database, "lab");
    assert_string_equal(q->table, "events_by_hour");
    assert_int_equal(q->format, QUERY_WF_PARQUET);
    assert_string_equal(q->compression, "SNAPPY");
    assert_string_equal(q->location, "s3://bkt/events/curated/events_by_hour/");
    assert_int_equal(q->n_partitioned_by, 1);
    assert_string_equal(q->partitioned_by[0], "event_hour");
    /* the query keeps its place: same length, same lines */
    assert_int_equal(strlen(q->select), strlen(text));
    const char *sel = strstr(text, "SELECT");
    assert_memory_equal(q->select + (sel - text), sel, strlen(sel));
    for (size_t i = 0; i < (size_t)(sel - text); i++) {
        assert_true(q->select[i] == ' ' || (q->select[i] == '\n' && text[i] == '\n'));
    }
    query__write_free(q);
}

static void test_ctas_options_and_trailers(void **state)
{
    (void)state;
    struct query_write *q = NULL;
    struct query_failure f = {0};
    assert_int_equal(
        query__write_parse("create table if not exists \"My\".T with (format='textfile',"
                           " field_delimiter = '|', write_compression = 'none',"
                           " bucketed_by = ARRAY['a', 'B'], bucket_count = 4)"
                           " as (select ')' as a, 1 b) WITH NO DATA;",
                           &q, &f),
        0);
    assert_true(q->if_not_exists);
    assert_true(q->no_data);
    assert_string_equal(q->database, "my");
    assert_string_equal(q->table, "t");
    assert_int_equal(q->format, QUERY_WF_TEXT);
    assert_string_equal(q->delimiter, "|");
    assert_string_equal(q->compression, "NONE");
    assert_int_equal(q->n_bucketed_by, 2);
    assert_string_equal(q->bucketed_by[1], "b");
    assert_int_equal(q->bucket_count, 4);
    char *sel = trimmed(q);
    assert_string_equal(sel, "(select ')' as a, 1 b)");
    free(sel);
    query__write_free(q);

    /* WITH DATA and a query with its own WITH stay the query's */
    assert_int_equal(query__write_parse("CREATE TABLE t AS WITH x AS (SELECT 1 a) SELECT * FROM x"
                                        " WITH DATA",
                                        &q, &f),
                     0);
    assert_false(q->no_data);
    assert_int_equal(q->format, QUERY_WF_PARQUET);
    sel = trimmed(q);
    assert_string_equal(sel, "WITH x AS (SELECT 1 a) SELECT * FROM x");
    free(sel);
    query__write_free(q);
}

static void test_insert_and_unload(void **state)
{
    (void)state;
    struct query_write *q = NULL;
    struct query_failure f = {0};
    assert_int_equal(query__write_parse("INSERT INTO db.t SELECT a, b FROM s;", &q, &f), 0);
    assert_int_equal(q->kind, QUERY_WRITE_INSERT);
    assert_string_equal(q->database, "db");
    char *sel = trimmed(q);
    assert_string_equal(sel, "SELECT a, b FROM s");
    free(sel);
    query__write_free(q);

    assert_int_equal(query__write_parse("INSERT INTO t (a, b) SELECT 1, 2", &q, &f), -1);
    assert_non_null(strstr(f.message, "NOT_SUPPORTED"));

    assert_int_equal(query__write_parse("UNLOAD (SELECT a FROM t WHERE b IN (1, 2)) TO "
                                        "'s3://b/out/' WITH (format = 'JSON', compression = "
                                        "'gzip', partitioned_by = ARRAY['a'])",
                                        &q, &f),
                     0);
    assert_int_equal(q->kind, QUERY_WRITE_UNLOAD);
    assert_string_equal(q->location, "s3://b/out/");
    assert_int_equal(q->format, QUERY_WF_JSON);
    assert_string_equal(q->compression, "GZIP");
    sel = trimmed(q);
    assert_string_equal(sel, "SELECT a FROM t WHERE b IN (1, 2)");
    free(sel);
    query__write_free(q);

    assert_int_equal(query__write_parse("UNLOAD (SELECT 1) WITH (format = 'JSON')", &q, &f), -1);
    assert_non_null(strstr(f.message, "TO 's3://...'"));
}

static void test_refusals_in_athena_words(void **state)
{
    (void)state;
    static const struct {
        const char *sql, *msg;
    } cases[] = {
        {"CREATE TABLE t WITH (format = 'ORC') AS SELECT 1", "NOT_SUPPORTED: format 'ORC'"},
        {"CREATE TABLE t WITH (format = 'AVRO') AS SELECT 1", "NOT_SUPPORTED: format 'AVRO'"},
        {"CREATE TABLE t WITH (format = 'CSVX') AS SELECT 1", "INVALID_TABLE_PROPERTY"},
        {"CREATE TABLE t WITH (colour = 'red') AS SELECT 1",
         "INVALID_TABLE_PROPERTY: Catalog 'awsdatacatalog' table property 'colour' does not exist"},
        {"CREATE TABLE t WITH (field_delimiter = '||') AS SELECT 1", "one character"},
        {"CREATE TABLE t WITH (write_compression = 'BROTLI') AS SELECT 1",
         "Unsupported compression"},
        {"CREATE TABLE t WITH (partitioned_by = 'a') AS SELECT 1", "ARRAY"},
        {"CREATE TABLE t WITH (bucketed_by = ARRAY['a']) AS SELECT 1", "bucket_count"},
        {"CREATE TABLE t WITH (table_type = 'ICEBERG') AS SELECT 1", "NOT_SUPPORTED"},
        {"CREATE TABLE t WITH (format = 'JSON' AS SELECT 1", "SYNTAX_ERROR"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct query_write *q = NULL;
        struct query_failure f = {0};
        assert_int_equal(query__write_parse(cases[i].sql, &q, &f), -1);
        assert_null(q);
        if (strstr(f.message, cases[i].msg) == NULL) {
            fail_msg("%s: %s", cases[i].sql, f.message);
        }
    }
}

int main(void)
{
    alarm(60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kind_from_the_leading_keywords),
        cmocka_unit_test(test_ctas_of_the_lab),
        cmocka_unit_test(test_ctas_options_and_trailers),
        cmocka_unit_test(test_insert_and_unload),
        cmocka_unit_test(test_refusals_in_athena_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
