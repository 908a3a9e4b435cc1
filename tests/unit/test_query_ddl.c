/*
 * The Hive DDL parser of the query part: statement classification and Athena's statement
 * types, every clause of CREATE EXTERNAL TABLE, types, quoting and escapes, the other
 * DDL and utility statements, and the errors malformed statements give (with line and
 * column); and partition projection's enumeration of a table's partitions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/mem.h"
#include "query/query_int.h"

static void parse_ok(const char *sql, struct query_ddl_stmt *s)
{
    char err[512];
    int rc = query__ddl_parse(sql, s, err, sizeof(err));
    if (rc != 0) {
        fail_msg("%s: %s", sql, err);
    }
}

/* Parses sql, which must fail with exactly message. */
static void parse_fails(const char *sql, const char *message)
{
    struct query_ddl_stmt s;
    char err[512];
    assert_int_equal(query__ddl_parse(sql, &s, err, sizeof(err)), -1);
    assert_string_equal(err, message);
    assert_null(s.name); /* nothing left to free */
}

static const char *prop(const struct query_ddl_kv *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(kv[i].key, key) == 0) {
            return kv[i].value;
        }
    }
    return NULL;
}

static void test_classification_by_leading_keywords(void **state)
{
    (void)state;
    static const struct {
        const char *sql;
        enum query_ddl_kind kind;
    } cases[] = {
        {"SELECT 1", QUERY_DDL_NONE},
        {"WITH x AS (SELECT 1) SELECT * FROM x", QUERY_DDL_NONE},
        {"  -- a comment\n/* and another */ create database d", QUERY_DDL_CREATE_DATABASE},
        {"CREATE SCHEMA d", QUERY_DDL_CREATE_DATABASE},
        {"CREATE EXTERNAL TABLE t (a int)", QUERY_DDL_CREATE_TABLE},
        {"CREATE TABLE t (a int)", QUERY_DDL_CREATE_TABLE},
        {"CREATE TABLE IF NOT EXISTS `d`.`t` (a int)", QUERY_DDL_CREATE_TABLE},
        {"CREATE TABLE t AS SELECT 1", QUERY_DDL_NONE},
        {"CREATE TABLE d.t WITH (format = 'PARQUET') AS SELECT 1", QUERY_DDL_NONE},
        {"CREATE TABLE \"d\".\"t\" AS SELECT 1", QUERY_DDL_NONE},
        {"CREATE OR REPLACE VIEW v AS SELECT 1", QUERY_DDL_CREATE_VIEW},
        {"DROP DATABASE d", QUERY_DDL_DROP_DATABASE},
        {"DROP TABLE t", QUERY_DDL_DROP_TABLE},
        {"DROP VIEW v", QUERY_DDL_DROP_VIEW},
        {"ALTER TABLE t ADD PARTITION (a='1')", QUERY_DDL_ADD_PARTITION},
        {"ALTER TABLE `add` DROP PARTITION (a='1')", QUERY_DDL_DROP_PARTITION},
        {"MSCK REPAIR TABLE t", QUERY_DDL_MSCK},
        {"SHOW DATABASES", QUERY_DDL_SHOW_DATABASES},
        {"show schemas", QUERY_DDL_SHOW_DATABASES},
        {"SHOW TABLES", QUERY_DDL_SHOW_TABLES},
        {"SHOW PARTITIONS t", QUERY_DDL_SHOW_PARTITIONS},
        {"SHOW COLUMNS IN t", QUERY_DDL_SHOW_COLUMNS},
        {"SHOW CREATE TABLE t", QUERY_DDL_SHOW_CREATE_TABLE},
        {"SHOW TBLPROPERTIES t", QUERY_DDL_SHOW_TBLPROPERTIES},
        {"SHOW VIEWS", QUERY_DDL_SHOW_VIEWS},
        {"DESCRIBE t", QUERY_DDL_DESCRIBE},
        {"desc t", QUERY_DDL_DESCRIBE},
        {"EXPLAIN SELECT 1", QUERY_DDL_EXPLAIN},
        {"INSERT INTO t SELECT 1", QUERY_DDL_NONE},
        {"UNLOAD (SELECT 1) TO 's3://b/' WITH (format = 'PARQUET')", QUERY_DDL_NONE},
        {"", QUERY_DDL_NONE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (query__ddl_classify(cases[i].sql) != cases[i].kind) {
            fail_msg("%s: %d", cases[i].sql, query__ddl_classify(cases[i].sql));
        }
    }
}

static void test_statement_types_and_result_objects(void **state)
{
    (void)state;
    assert_string_equal(query__ddl_statement_type(QUERY_DDL_CREATE_TABLE), "DDL");
    assert_string_equal(query__ddl_substatement_type(QUERY_DDL_CREATE_TABLE), "CREATE_TABLE");
    assert_string_equal(query__ddl_statement_type(QUERY_DDL_SHOW_TABLES), "UTILITY");
    assert_string_equal(query__ddl_substatement_type(QUERY_DDL_DESCRIBE), "DESCRIBE_TABLE");
    assert_string_equal(query__ddl_substatement_type(QUERY_DDL_ADD_PARTITION),
                        "ALTER_TABLE_ADD_PARTITION");
    assert_string_equal(query__ddl_statement_type(QUERY_DDL_NONE), "DML");
    assert_string_equal(query__ddl_substatement_type(QUERY_DDL_NONE), "SELECT");
    assert_string_equal(query__ddl_result_ext("SHOW TABLES"), ".txt");
    assert_string_equal(query__ddl_result_ext("CREATE DATABASE d"), ".txt");
    assert_string_equal(query__ddl_result_ext("EXPLAIN SELECT 1"), ".csv");
    assert_string_equal(query__ddl_result_ext("SELECT 1"), ".csv");
}

static void test_create_external_table_every_clause(void **state)
{
    (void)state;
    struct query_ddl_stmt s;
    parse_ok("CREATE EXTERNAL TABLE IF NOT EXISTS `My_Db`.Events (\n"
             "  `id` BIGINT COMMENT 'the id',\n"
             "  price DECIMAL(10, 2),\n"
             "  tags array< string >,\n"
             "  attrs MAP<STRING, ARRAY<INT>>,\n"
             "  s struct<a:int, `b c`:varchar(5), d:char(2) COMMENT 'x'>\n"
             ")\n"
             "COMMENT 'it''s a table'\n"
             "PARTITIONED BY (dt string COMMENT 'day', h int)\n"
             "CLUSTERED BY (id) INTO 4 BUCKETS\n"
             "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'\n"
             "WITH SERDEPROPERTIES ('ignore.malformed.json' = 'true', 'k\\'q' = 'v')\n"
             "STORED AS INPUTFORMAT 'in.Format' OUTPUTFORMAT 'out.Format'\n"
             "LOCATION 's3://bucket/events/'\n"
             "TBLPROPERTIES ('has_encrypted_data'='false', 'projection.enabled'='true');",
             &s);
    assert_int_equal(s.kind, QUERY_DDL_CREATE_TABLE);
    assert_true(s.external);
    assert_true(s.if_exists);
    assert_string_equal(s.database, "my_db");
    assert_string_equal(s.name, "events");
    assert_int_equal(s.n_cols, 5);
    assert_string_equal(s.cols[0].name, "id");
    assert_string_equal(s.cols[0].type, "bigint");
    assert_string_equal(s.cols[0].comment, "the id");
    assert_string_equal(s.cols[1].type, "decimal(10,2)");
    assert_null(s.cols[1].comment);
    assert_string_equal(s.cols[2].type, "array<string>");
    assert_string_equal(s.cols[3].type, "map<string,array<int>>");
    assert_string_equal(s.cols[4].type, "struct<a:int,b c:varchar(5),d:char(2)>");
    assert_string_equal(s.comment, "it's a table");
    assert_int_equal(s.n_part_cols, 2);
    assert_string_equal(s.part_cols[0].name, "dt");
    assert_string_equal(s.part_cols[0].comment, "day");
    assert_string_equal(s.part_cols[1].type, "int");
    assert_string_equal(s.serde, "org.openx.data.jsonserde.JsonSerDe");
    assert_int_equal(s.n_serde_props, 2);
    assert_string_equal(prop(s.serde_props, s.n_serde_props, "ignore.malformed.json"), "true");
    assert_string_equal(prop(s.serde_props, s.n_serde_props, "k'q"), "v");
    assert_string_equal(s.input_format, "in.Format");
    assert_string_equal(s.output_format, "out.Format");
    assert_null(s.stored_as);
    assert_string_equal(s.location, "s3://bucket/events/");
    assert_int_equal(s.n_props, 2);
    assert_string_equal(prop(s.props, s.n_props, "projection.enabled"), "true");
    query__ddl_stmt_fini(&s);
}

static void test_row_format_delimited_and_stored_as(void **state)
{
    (void)state;
    struct query_ddl_stmt s;
    parse_ok("create external table t (a integer, b string) row format delimited "
             "fields terminated by '\\t' escaped by '\\\\' collection items terminated by '\\002' "
             "map keys terminated by ':' lines terminated by '\\n' null defined as '' "
             "stored as textfile location 's3://b/t'",
             &s);
    assert_string_equal(s.cols[0].type, "int");
    assert_true(s.delimited);
    assert_null(s.serde);
    assert_string_equal(s.stored_as, "TEXTFILE");
    assert_string_equal(prop(s.serde_props, s.n_serde_props, "field.delim"), "\t");
    assert_string_equal(prop(s.serde_props, s.n_serde_props, "escape.delim"), "\\");
    assert_string_equal(prop(s.serde_props, s.n_serde_props, "collection.delim"), "\002");
    assert_string_equal(prop(s.serde_props, s.n_serde_props, "mapkey.delim"), ":");
    assert_string_equal(prop(s.serde_props, s.n_serde_props, "line.delim"), "\n");
    assert_string_equal(prop(s.serde_props, s.n_serde_props, "serialization.null.format"), "");
    query__ddl_stmt_fini(&s);

    parse_ok("CREATE EXTERNAL TABLE t (a int) STORED AS parquet", &s);
    assert_string_equal(s.stored_as, "PARQUET");
    assert_null(s.location);
    query__ddl_stmt_fini(&s);

    /* SERDEPROPERTIES after STORED AS, as Athena's synopsis places them */
    parse_ok("CREATE EXTERNAL TABLE t (a int) ROW FORMAT SERDE 'x.Serde' STORED AS TEXTFILE "
             "WITH SERDEPROPERTIES ('separatorChar' = ',') LOCATION 's3://b/'",
             &s);
    assert_string_equal(prop(s.serde_props, s.n_serde_props, "separatorChar"), ",");
    assert_string_equal(s.location, "s3://b/");
    query__ddl_stmt_fini(&s);
    parse_fails("CREATE EXTERNAL TABLE t (a int) WITH SERDEPROPERTIES ('a'='b') STORED AS ORC "
                "WITH SERDEPROPERTIES ('c'='d')",
                "line 1:78: extraneous input 'WITH' expecting <EOF>");
}

static void test_databases_and_drops(void **state)
{
    (void)state;
    struct query_ddl_stmt s;
    parse_ok("CREATE DATABASE IF NOT EXISTS `Lab` COMMENT 'c' LOCATION 's3://b/lab/' "
             "WITH DBPROPERTIES ('a'='1', 'b'='2')",
             &s);
    assert_string_equal(s.database, "lab");
    assert_true(s.if_exists);
    assert_string_equal(s.comment, "c");
    assert_string_equal(s.location, "s3://b/lab/");
    assert_int_equal(s.n_props, 2);
    query__ddl_stmt_fini(&s);

    parse_ok("DROP SCHEMA IF EXISTS lab CASCADE", &s);
    assert_int_equal(s.kind, QUERY_DDL_DROP_DATABASE);
    assert_true(s.if_exists);
    assert_true(s.cascade);
    query__ddl_stmt_fini(&s);
    parse_ok("DROP DATABASE lab RESTRICT", &s);
    assert_false(s.cascade);
    query__ddl_stmt_fini(&s);

    parse_ok("DROP TABLE IF EXISTS lab.`t`;", &s);
    assert_int_equal(s.kind, QUERY_DDL_DROP_TABLE);
    assert_string_equal(s.database, "lab");
    assert_string_equal(s.name, "t");
    query__ddl_stmt_fini(&s);
}

static void test_partitions_and_msck(void **state)
{
    (void)state;
    struct query_ddl_stmt s;
    parse_ok("ALTER TABLE t ADD IF NOT EXISTS PARTITION (dt = '2024-01-01', h = 5) "
             "LOCATION 's3://b/t/2024/' PARTITION (dt='2024-01-02', h=6)",
             &s);
    assert_int_equal(s.kind, QUERY_DDL_ADD_PARTITION);
    assert_true(s.if_exists);
    assert_int_equal(s.n_parts, 2);
    assert_int_equal(s.parts[0].n_spec, 2);
    assert_string_equal(s.parts[0].spec[0].key, "dt");
    assert_string_equal(s.parts[0].spec[0].value, "2024-01-01");
    assert_string_equal(s.parts[0].spec[1].value, "5");
    assert_string_equal(s.parts[0].location, "s3://b/t/2024/");
    assert_null(s.parts[1].location);
    query__ddl_stmt_fini(&s);

    parse_ok("ALTER TABLE d.t DROP IF EXISTS PARTITION (dt='a'), PARTITION (dt='b')", &s);
    assert_int_equal(s.kind, QUERY_DDL_DROP_PARTITION);
    assert_int_equal(s.n_parts, 2);
    assert_string_equal(s.parts[1].spec[0].value, "b");
    query__ddl_stmt_fini(&s);

    parse_ok("MSCK REPAIR TABLE `d`.`t`", &s);
    assert_int_equal(s.kind, QUERY_DDL_MSCK);
    assert_string_equal(s.name, "t");
    query__ddl_stmt_fini(&s);
}

static void test_show_describe_explain(void **state)
{
    (void)state;
    struct query_ddl_stmt s;
    parse_ok("SHOW TABLES IN lab 'ev*|x'", &s);
    assert_string_equal(s.database, "lab");
    assert_string_equal(s.pattern, "ev*|x");
    query__ddl_stmt_fini(&s);
    parse_ok("SHOW DATABASES LIKE 'l*'", &s);
    assert_string_equal(s.pattern, "l*");
    query__ddl_stmt_fini(&s);
    parse_ok("SHOW COLUMNS FROM t IN lab", &s);
    assert_string_equal(s.database, "lab");
    assert_string_equal(s.name, "t");
    query__ddl_stmt_fini(&s);
    parse_ok("SHOW TBLPROPERTIES t('EXTERNAL')", &s);
    assert_string_equal(s.pattern, "EXTERNAL");
    query__ddl_stmt_fini(&s);
    parse_ok("SHOW CREATE TABLE lab.t", &s);
    assert_int_equal(s.kind, QUERY_DDL_SHOW_CREATE_TABLE);
    query__ddl_stmt_fini(&s);
    parse_ok("DESCRIBE FORMATTED lab.t", &s);
    assert_true(s.formatted);
    query__ddl_stmt_fini(&s);
    parse_ok("EXPLAIN (TYPE IO, FORMAT JSON) SELECT a FROM t WHERE b = ';' ;", &s);
    assert_true(s.explain_io);
    assert_string_equal(s.body, "SELECT a FROM t WHERE b = ';'");
    query__ddl_stmt_fini(&s);
    parse_ok("EXPLAIN SELECT 1", &s);
    assert_false(s.explain_io);
    assert_string_equal(s.body, "SELECT 1");
    query__ddl_stmt_fini(&s);
}

static void test_malformed_statements_name_line_and_column(void **state)
{
    (void)state;
    parse_fails("CREATE EXTERNAL TABLE t (a int,) LOCATION 's3://b/'",
                "line 1:32: mismatched input ')'. Expecting: <identifier>");
    parse_fails("CREATE EXTERNAL TABLE t (\n  a int,\n  b strin\n)",
                "line 3:5: Unknown type 'strin'");
    parse_fails("CREATE EXTERNAL TABLE t (a decimal(10,))",
                "line 1:39: mismatched input ')'. Expecting: <integer>");
    parse_fails("CREATE EXTERNAL TABLE t (a array<int)",
                "line 1:37: mismatched input ')'. Expecting: '>'");
    parse_fails("CREATE EXTERNAL TABLE t (a struct<x int>)",
                "line 1:37: mismatched input 'int'. Expecting: ':'");
    parse_fails("CREATE EXTERNAL TABLE t", "line 1:24: mismatched input '<EOF>'. Expecting: '('");
    parse_fails("CREATE EXTERNAL TABLE t (a int) LOCATION s3",
                "line 1:42: mismatched input 's3'. Expecting: <string>");
    parse_fails("CREATE EXTERNAL TABLE t (a int) ROW FORMAT JSON",
                "line 1:44: mismatched input 'JSON'. Expecting: 'DELIMITED', 'SERDE'");
    parse_fails("CREATE EXTERNAL TABLE `t (a int)", "line 1:23: unterminated quoted identifier");
    parse_fails("CREATE EXTERNAL TABLE `` (a int)",
                "line 1:23: mismatched input '``'. Expecting: <identifier>");
    parse_fails("CREATE EXTERNAL TABLE t (a int) TBLPROPERTIES ('a' 'b')",
                "line 1:52: mismatched input ''b''. Expecting: '='");
    parse_fails("CREATE DATABASE IF EXISTS d",
                "line 1:20: mismatched input 'EXISTS'. Expecting: 'NOT'");
    parse_fails("DROP TABLE t u", "line 1:14: extraneous input 'u' expecting <EOF>");
    parse_fails("ALTER TABLE t RENAME TO u",
                "line 1:15: mismatched input 'RENAME'. Expecting: 'ADD', 'DROP'");
    parse_fails("ALTER TABLE t ADD PARTITION (dt)",
                "line 1:32: mismatched input ')'. Expecting: '='");
    parse_fails("SHOW FUNCTIONS",
                "line 1:6: mismatched input 'FUNCTIONS'. Expecting: 'COLUMNS', 'CREATE', "
                "'DATABASES', 'PARTITIONS', 'SCHEMAS', 'TABLES', 'TBLPROPERTIES', 'VIEWS'");
    parse_fails("EXPLAIN (TYPE FAST) SELECT 1",
                "line 1:15: mismatched input 'FAST'. Expecting: 'DISTRIBUTED', 'IO', "
                "'LOGICAL', 'VALIDATE'");
    parse_fails("EXPLAIN", "line 1:8: mismatched input '<EOF>'. Expecting: <query>");
}

/* ---- partition projection ---- */

struct seen {
    char text[4096]; /* "v1/v2@location;" per partition */
    int n;
};

static int on_projected(void *arg, const char *const *values, size_t n, const char *location)
{
    struct seen *sn = arg;
    size_t at = strlen(sn->text);
    for (size_t i = 0; i < n; i++) {
        at += (size_t)snprintf(sn->text + at, sizeof(sn->text) - at, "%s%s", i > 0 ? "/" : "",
                               values[i]);
    }
    snprintf(sn->text + at, sizeof(sn->text) - at, "@%s;", location);
    sn->n++;
    return 0;
}

/* A table description with partition keys keys[] and parameters params[] (key, value,
 * ..., NULL). */
static void table_with(struct catalog_table_desc *d, struct catalog_column *keys, size_t nk,
                       struct catalog_param *params, const char *const *kv)
{
    size_t n = 0;
    for (; kv[2 * n] != NULL; n++) {
        params[n].key = (char *)kv[2 * n];
        params[n].value = (char *)kv[2 * n + 1];
    }
    *d = (struct catalog_table_desc){.database = "db",
                                     .name = "t",
                                     .location = "s3://b/t",
                                     .partition_keys = keys,
                                     .n_partition_keys = nk,
                                     .parameters = params,
                                     .n_parameters = n};
}

static void test_projection_enum_integer_and_default_locations(void **state)
{
    (void)state;
    struct catalog_column keys[2] = {{.name = "region", .type = "string"},
                                     {.name = "n", .type = "int"}};
    struct catalog_param params[8];
    struct catalog_table_desc d;
    table_with(&d, keys, 2, params,
               (const char *const[]){"projection.enabled", "true", "projection.region.type", "enum",
                                     "projection.region.values", "eu,us", "projection.n.type",
                                     "integer", "projection.n.range", "8,12",
                                     "projection.n.interval", "2", "projection.n.digits", "3",
                                     NULL});
    assert_true(query__projection_enabled(&d));
    struct query_key_filter f[2] = {{0}, {0}};
    struct seen sn = {{0}, 0};
    char err[512];
    assert_int_equal(query__projection_scan(&d, f, 0, on_projected, &sn, err, sizeof(err)), 0);
    assert_string_equal(sn.text,
                        "eu/008@s3://b/t/region=eu/n=008/;eu/010@s3://b/t/region=eu/n=010/;"
                        "eu/012@s3://b/t/region=eu/n=012/;us/008@s3://b/t/region=us/n=008/;"
                        "us/010@s3://b/t/region=us/n=010/;us/012@s3://b/t/region=us/n=012/;");
    /* narrowed: integers compare as numbers, strings exactly */
    char *us[] = {"us", "ap"};
    char *ten[] = {"10"};
    f[0] = (struct query_key_filter){1, us, 2};
    f[1] = (struct query_key_filter){1, ten, 1};
    memset(&sn, 0, sizeof(sn));
    assert_int_equal(query__projection_scan(&d, f, 0, on_projected, &sn, err, sizeof(err)), 0);
    assert_string_equal(sn.text, "us/010@s3://b/t/region=us/n=010/;");
    /* integer bounds compare as numbers: 9 < n < 12 leaves 010 */
    struct query_key_bound b[2] = {{QUERY_KEY_GT, "9"}, {QUERY_KEY_LT, "12"}};
    f[0] = (struct query_key_filter){0};
    f[1] = (struct query_key_filter){.bounds = b, .n_bounds = 2};
    memset(&sn, 0, sizeof(sn));
    assert_int_equal(query__projection_scan(&d, f, 0, on_projected, &sn, err, sizeof(err)), 0);
    assert_string_equal(sn.text,
                        "eu/010@s3://b/t/region=eu/n=010/;us/010@s3://b/t/region=us/n=010/;");
    /* a filter no value passes: nothing */
    f[1] = (struct query_key_filter){1, NULL, 0};
    memset(&sn, 0, sizeof(sn));
    assert_int_equal(query__projection_scan(&d, f, 0, on_projected, &sn, err, sizeof(err)), 0);
    assert_int_equal(sn.n, 0);
}

static void test_projection_dates_templates_and_now(void **state)
{
    (void)state;
    struct catalog_column keys[1] = {{.name = "datehour", .type = "string"}};
    struct catalog_param params[8];
    struct catalog_table_desc d;
    table_with(&d, keys, 1, params,
               (const char *const[]){"projection.enabled", "TRUE", "projection.datehour.type",
                                     "DATE", "projection.datehour.format", "yyyy/MM/dd/HH",
                                     "projection.datehour.range", "2026/12/31/22,2027/01/01/01",
                                     "storage.location.template", "s3://b/fh/${datehour}/", NULL});
    struct query_key_filter f[1] = {{0}};
    struct seen sn = {{0}, 0};
    char err[512];
    assert_int_equal(query__projection_scan(&d, f, 0, on_projected, &sn, err, sizeof(err)), 0);
    assert_string_equal(sn.text, "2026/12/31/22@s3://b/fh/2026/12/31/22/;"
                                 "2026/12/31/23@s3://b/fh/2026/12/31/23/;"
                                 "2027/01/01/00@s3://b/fh/2027/01/01/00/;"
                                 "2027/01/01/01@s3://b/fh/2027/01/01/01/;");
    /* comparisons narrow the range: dates in their format's order */
    struct query_key_bound b[2] = {{QUERY_KEY_GT, "2026/12/31/22"},
                                   {QUERY_KEY_LE, "2027/01/01/00"}};
    f[0] = (struct query_key_filter){.bounds = b, .n_bounds = 2};
    memset(&sn, 0, sizeof(sn));
    assert_int_equal(query__projection_scan(&d, f, 0, on_projected, &sn, err, sizeof(err)), 0);
    assert_string_equal(sn.text, "2026/12/31/23@s3://b/fh/2026/12/31/23/;"
                                 "2027/01/01/00@s3://b/fh/2027/01/01/00/;");
    f[0] = (struct query_key_filter){0};
    /* days by default for a day format; NOW-2DAYS from a fixed now; a quoted literal */
    table_with(&d, keys, 1, params,
               (const char *const[]){"projection.enabled", "true", "projection.datehour.type",
                                     "date", "projection.datehour.format", "yyyy-MM-dd'T'",
                                     "projection.datehour.range", "NOW-2DAYS,NOW", NULL});
    memset(&sn, 0, sizeof(sn));
    int64_t now_ms = 1798761600000LL; /* 2027-01-01T00:00:00Z */
    assert_int_equal(query__projection_scan(&d, f, now_ms, on_projected, &sn, err, sizeof(err)), 0);
    assert_string_equal(sn.text, "2026-12-30T@s3://b/t/datehour=2026-12-30T/;"
                                 "2026-12-31T@s3://b/t/datehour=2026-12-31T/;"
                                 "2027-01-01T@s3://b/t/datehour=2027-01-01T/;");
    /* months, by interval.unit */
    table_with(&d, keys, 1, params,
               (const char *const[]){"projection.enabled", "true", "projection.datehour.type",
                                     "date", "projection.datehour.format", "yyyy-MM-dd",
                                     "projection.datehour.range", "2026-01-31,2026-04-30",
                                     "projection.datehour.interval.unit", "MONTHS", NULL});
    memset(&sn, 0, sizeof(sn));
    assert_int_equal(query__projection_scan(&d, f, 0, on_projected, &sn, err, sizeof(err)), 0);
    assert_int_equal(sn.n, 3);
}

static void test_projection_refusals(void **state)
{
    (void)state;
    struct catalog_column keys[2] = {{.name = "a", .type = "string"},
                                     {.name = "b", .type = "string"}};
    struct catalog_param params[8];
    struct catalog_table_desc d;
    struct query_key_filter f[2] = {{0}, {0}};
    struct seen sn = {{0}, 0};
    char err[512];
    table_with(&d, keys, 2, params,
               (const char *const[]){"projection.enabled", "true", "projection.a.type", "enum",
                                     "projection.a.values", "x", NULL});
    assert_int_equal(query__projection_scan(&d, f, 0, on_projected, &sn, err, sizeof(err)), -1);
    assert_string_equal(err, "HIVE_METASTORE_ERROR: Table db.t is configured for partition "
                             "projection, but the following partition columns are missing "
                             "projection configuration: [b] (table db.t)");
    table_with(&d, keys, 2, params,
               (const char *const[]){"projection.enabled", "true", "projection.a.type", "enum",
                                     "projection.a.values", "x", "projection.b.type", "injected",
                                     NULL});
    assert_int_equal(query__projection_scan(&d, f, 0, on_projected, &sn, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "injected projected partition column b"));
    char *v[] = {"q"};
    f[1] = (struct query_key_filter){1, v, 1};
    assert_int_equal(query__projection_scan(&d, f, 0, on_projected, &sn, err, sizeof(err)), 0);
    assert_string_equal(sn.text, "x/q@s3://b/t/a=x/b=q/;");
    table_with(&d, keys, 1, params,
               (const char *const[]){"projection.enabled", "true", "projection.a.type", "date",
                                     "projection.a.format", "yyyy", "projection.a.range",
                                     "20x6,2027", NULL});
    assert_int_equal(query__projection_scan(&d, f, 0, on_projected, &sn, err, sizeof(err)), -1);
    table_with(&d, keys, 1, params,
               (const char *const[]){"projection.enabled", "true", "projection.a.type", "integer",
                                     "projection.a.range", "0,2000000", NULL});
    assert_int_equal(query__projection_scan(&d, f, 0, on_projected, &sn, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "HIVE_EXCEEDED_PARTITION_LIMIT"));
    table_with(&d, keys, 1, params, (const char *const[]){"projection.enabled", "false", NULL});
    assert_false(query__projection_enabled(&d));
}

static void test_projection_filters_from_a_where_clause(void **state)
{
    (void)state;
    struct catalog_column keys[2] = {{.name = "region", .type = "string"},
                                     {.name = "n", .type = "int"}};
    struct catalog_table_desc d = {.partition_keys = keys, .n_partition_keys = 2};
    /* region = 'us' AND n IN (1, 2, 3) AND n IN (2, 3, 4) AND n > 2 AND other = 1
     * AND region = other_col, in DuckDB's tree */
#define COL(c) "{\"class\":\"COLUMN_REF\",\"type\":\"COLUMN_REF\",\"column_names\":[\"" c "\"]}"
#define STR(v)                                                                                     \
    "{\"class\":\"CONSTANT\",\"type\":\"VALUE_CONSTANT\",\"value\":{\"value\":\"" v "\"}}"
#define INT(v) "{\"class\":\"CONSTANT\",\"type\":\"VALUE_CONSTANT\",\"value\":{\"value\":" v "}}"
    const char *where =
        "{\"type\":\"CONJUNCTION_AND\",\"children\":["
        "{\"type\":\"COMPARE_EQUAL\",\"left\":" COL("REGION") ",\"right\":" STR(
            "us") "},"
                  "{\"type\":\"COMPARE_IN\",\"children\":[" COL("n") "," INT("1") "," INT("2") "," INT(
                      "3") "]},"
                           "{\"type\":\"COMPARE_IN\",\"children\":[" COL("n") "," INT("2") "," INT(
                               "3") "," INT("4") "]},"
                                                 "{\"type\":\"COMPARE_GREATERTHAN\",\"left\":" COL(
                                                     "n") ",\"right\":" INT("2") "},"
                                                                                 "{\"type\":"
                                                                                 "\"COMPARE_"
                                                                                 "EQUAL\","
                                                                                 "\"left\":" COL("o"
                                                                                                 "t"
                                                                                                 "h"
                                                                                                 "e"
                                                                                                 "r") ",\"right\":" INT(
                                                                                     "1") "},"
                                                                                          "{\"type"
                                                                                          "\":"
                                                                                          "\"COMPAR"
                                                                                          "E_"
                                                                                          "EQUAL\","
                                                                                          "\"left\""
                                                                                          ":" COL("region") ",\"right\":" COL(
                                                                                              "x") "}]}";
    json_t *tree = json_loads(where, 0, NULL);
    assert_non_null(tree);
    struct query_key_filter *f = xcalloc(2, sizeof(*f));
    query__projection_filters(&d, tree, f);
    assert_true(f[0].set);
    assert_int_equal(f[0].n, 1);
    assert_string_equal(f[0].values[0], "us");
    assert_true(f[1].set);
    assert_int_equal(f[1].n, 2); /* the two IN lists intersected */
    assert_string_equal(f[1].values[0], "2");
    assert_string_equal(f[1].values[1], "3");
    assert_int_equal(f[1].n_bounds, 1);
    assert_int_equal(f[1].bounds[0].cmp, QUERY_KEY_GT);
    assert_string_equal(f[1].bounds[0].value, "2");
    query__projection_filters_free(f, 2);
    json_decref(tree);
#undef COL
#undef STR
#undef INT
}

int main(void)
{
    alarm(60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classification_by_leading_keywords),
        cmocka_unit_test(test_statement_types_and_result_objects),
        cmocka_unit_test(test_create_external_table_every_clause),
        cmocka_unit_test(test_row_format_delimited_and_stored_as),
        cmocka_unit_test(test_databases_and_drops),
        cmocka_unit_test(test_partitions_and_msck),
        cmocka_unit_test(test_show_describe_explain),
        cmocka_unit_test(test_malformed_statements_name_line_and_column),
        cmocka_unit_test(test_projection_enum_integer_and_default_locations),
        cmocka_unit_test(test_projection_dates_templates_and_now),
        cmocka_unit_test(test_projection_refusals),
        cmocka_unit_test(test_projection_filters_from_a_where_clause),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
