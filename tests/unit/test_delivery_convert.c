/*
 * Unit tests of format conversion (src/delivery/convert.c): the Hive type parser, the
 * conversion of each type with the coercions each SerDe allows, each failure with its
 * error code and a message naming the column, a failed record leaving nothing behind,
 * and the format-conversion-failed error record's JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/buf.h"
#include "delivery/convert.h"
#include "delivery/delivery_int.h"

/* ---- the type parser ---- */

static void hive_types_parse_to_duck_types(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        enum duck_type_id id;
    } cases[] = {
        {"boolean", DUCK_T_BOOLEAN},
        {"TINYINT", DUCK_T_TINYINT},
        {"smallint", DUCK_T_SMALLINT},
        {"int", DUCK_T_INTEGER},
        {"integer", DUCK_T_INTEGER},
        {"bigint", DUCK_T_BIGINT},
        {"float", DUCK_T_FLOAT},
        {"double", DUCK_T_DOUBLE},
        {"real", DUCK_T_FLOAT},
        {"double precision", DUCK_T_DOUBLE},
        {"decimal(38,10)", DUCK_T_DECIMAL},
        {"string", DUCK_T_VARCHAR},
        {"varchar(10)", DUCK_T_VARCHAR},
        {"char(3)", DUCK_T_VARCHAR},
        {"binary", DUCK_T_BLOB},
        {"date", DUCK_T_DATE},
        {"timestamp", DUCK_T_TIMESTAMP},
        {"array<int>", DUCK_T_LIST},
        {"map<string,array<bigint>>", DUCK_T_MAP},
        {"struct<a:int,b : struct<c:string>>", DUCK_T_STRUCT},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct conv_type *t = NULL;
        char why[200];
        assert_int_equal(delivery__hive_type_parse(cases[i].text, &t, why, sizeof(why)), 0);
        assert_int_equal(t->duck.id, cases[i].id);
        delivery__hive_type_free(t);
    }
    struct conv_type *t = NULL;
    char why[200];
    assert_int_equal(delivery__hive_type_parse("decimal", &t, why, sizeof(why)), 0);
    assert_int_equal(t->precision, 10);
    assert_int_equal(t->scale, 0);
    delivery__hive_type_free(t);
    assert_int_equal(
        delivery__hive_type_parse("struct<a:int,b:map<string,decimal(5,2)>>", &t, why, sizeof(why)),
        0);
    assert_int_equal(t->n_fields, 2);
    assert_string_equal(t->duck.fields[1].name, "b");
    assert_int_equal(t->duck.fields[1].type->value->id, DUCK_T_DECIMAL);
    assert_int_equal(t->duck.fields[1].type->value->width, 5);
    assert_int_equal(t->duck.fields[1].type->value->scale, 2);
    delivery__hive_type_free(t);
}

static void bad_hive_types_are_refused_with_a_reason(void **state)
{
    (void)state;
    static const char *bad[] = {"",
                                "strin",
                                "array<int",
                                "array<>",
                                "map<int>",
                                "decimal(39,1)",
                                "decimal(5,6)",
                                "varchar",
                                "varchar(0)",
                                "struct<>",
                                "struct<a:int,a:int>",
                                "int extra",
                                "map<array<int>,int>",
                                "uniontype<int,string>",
                                "interval",
                                "void",
                                "struct< >"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct conv_type *t = (struct conv_type *)1;
        char why[200] = "";
        assert_int_equal(delivery__hive_type_parse(bad[i], &t, why, sizeof(why)), SL_E(VALIDATION));
        assert_null(t);
        assert_true(why[0] != '\0');
    }
}

/* ---- conversion ---- */

struct fixture {
    struct conv_batch *b;
};

static struct conv_batch *batch_of(const char *name, const char *type, const struct conv_options *o)
{
    struct catalog_column col = {.name = (char *)name, .type = (char *)type};
    struct conv_options dflt = {.case_insensitive = 1};
    struct conv_batch *b = NULL;
    char why[200];
    assert_int_equal(delivery__conv_create(&col, 1, o != NULL ? o : &dflt, &b, why, sizeof(why)),
                     0);
    return b;
}

static int conv(struct conv_batch *b, const char *json, struct conv_error *e)
{
    return delivery__conv_record(b, (const uint8_t *)json, strlen(json), e);
}

/* Converts {"c": value} into a one-column batch of type; 0 ok, 1 refused. */
static int one(const char *type, const char *value, const struct conv_options *o,
               struct conv_batch **out, struct conv_error *e)
{
    struct conv_batch *b = batch_of("c", type, o);
    char rec[512];
    snprintf(rec, sizeof(rec), "{\"c\":%s}", value);
    int rc = conv(b, rec, e);
    *out = b;
    return rc;
}

static const void *val0(struct conv_batch *b)
{
    return delivery__conv_colbufs(b)[0].values;
}

static void each_scalar_type_converts(void **state)
{
    (void)state;
    struct conv_batch *b;
    struct conv_error e;
    assert_int_equal(one("boolean", "true", NULL, &b, &e), 0);
    assert_int_equal(*(const uint8_t *)val0(b), 1);
    delivery__conv_destroy(b);
    assert_int_equal(one("boolean", "\"FALSE\"", NULL, &b, &e), 0);
    assert_int_equal(*(const uint8_t *)val0(b), 0);
    delivery__conv_destroy(b);
    assert_int_equal(one("tinyint", "-128", NULL, &b, &e), 0);
    assert_int_equal(*(const int8_t *)val0(b), -128);
    delivery__conv_destroy(b);
    assert_int_equal(one("smallint", "32767", NULL, &b, &e), 0);
    assert_int_equal(*(const int16_t *)val0(b), 32767);
    delivery__conv_destroy(b);
    assert_int_equal(one("int", "\"-2147483648\"", NULL, &b, &e), 0); /* OpenX: numeric text */
    assert_int_equal(*(const int32_t *)val0(b), INT32_MIN);
    delivery__conv_destroy(b);
    assert_int_equal(one("bigint", "9223372036854775807", NULL, &b, &e), 0);
    assert_true(*(const int64_t *)val0(b) == INT64_MAX);
    delivery__conv_destroy(b);
    assert_int_equal(one("float", "1.5", NULL, &b, &e), 0);
    assert_true(*(const float *)val0(b) == 1.5f);
    delivery__conv_destroy(b);
    assert_int_equal(one("double", "-2.5e3", NULL, &b, &e), 0);
    assert_true(*(const double *)val0(b) == -2500.0);
    delivery__conv_destroy(b);
    assert_int_equal(one("decimal(10,2)", "12.345", NULL, &b, &e), 0);
    assert_true(*(const int64_t *)val0(b) == 1235);
    delivery__conv_destroy(b);
    assert_int_equal(one("decimal(10,2)", "\"-0.5e1\"", NULL, &b, &e), 0);
    assert_true(*(const int64_t *)val0(b) == -500);
    delivery__conv_destroy(b);
    assert_int_equal(one("decimal(38,0)", "123456789012345678901234567890", NULL, &b, &e), 0);
    const struct duck_int128 *w = val0(b);
    __int128 v = ((__int128)w->hi << 64) | w->lo;
    assert_true(v / 1000000000000000LL == 123456789012345LL);
    delivery__conv_destroy(b);
    assert_int_equal(one("string", "\"a\\u00e9\\n\"", NULL, &b, &e), 0);
    const struct duck_str *s = val0(b);
    assert_int_equal(s->len, 4);
    assert_memory_equal(s->ptr, "a\xc3\xa9\n", 4);
    delivery__conv_destroy(b);
    assert_int_equal(one("string", "42.0", NULL, &b, &e), 0); /* OpenX: a number's text */
    s = val0(b);
    assert_int_equal(s->len, 4);
    delivery__conv_destroy(b);
    assert_int_equal(one("string", "{\"x\": [1]}", NULL, &b, &e), 0); /* OpenX: JSON text */
    s = val0(b);
    assert_memory_equal(s->ptr, "{\"x\": [1]}", s->len);
    delivery__conv_destroy(b);
    assert_int_equal(one("varchar(3)", "\"h\xc3\xa9llo\"", NULL, &b, &e), 0);
    s = val0(b);
    assert_int_equal(s->len, 4); /* three characters */
    delivery__conv_destroy(b);
    assert_int_equal(one("date", "\"2024-02-29\"", NULL, &b, &e), 0);
    assert_int_equal(*(const int32_t *)val0(b), 19782);
    delivery__conv_destroy(b);
}

static int64_t ts_of(const char *value, const struct conv_options *o)
{
    struct conv_batch *b;
    struct conv_error e;
    assert_int_equal(one("timestamp", value, o, &b, &e), 0);
    int64_t us = *(const int64_t *)val0(b);
    delivery__conv_destroy(b);
    return us;
}

static void timestamps_in_each_form(void **state)
{
    (void)state;
    const int64_t t = 1709210096000000LL; /* 2024-02-29T12:34:56Z */
    assert_true(ts_of("\"2024-02-29T12:34:56Z\"", NULL) == t);
    assert_true(ts_of("\"2024-02-29T12:34:56.123456789Z\"", NULL) == t + 123456);
    assert_true(ts_of("\"2024-2-9 12:34:56\"", NULL) == t - 20 * 86400000000LL);
    assert_true(ts_of("\"2024-02-29 12:34:56.5\"", NULL) == t + 500000);
    assert_true(ts_of("1709210096", NULL) == t);
    assert_true(ts_of("1709210096000", NULL) == t);
    assert_true(ts_of("1709210096.25", NULL) == t + 250000);
    const char *fmts[] = {"dd/MM/yyyy HH:mm:ss", "millis"};
    struct conv_options hive = {
        .hive = 1, .case_insensitive = 1, .ts_formats = fmts, .n_ts_formats = 2};
    assert_true(ts_of("\"29/02/2024 12:34:56\"", &hive) == t);
    assert_true(ts_of("1709210096000", &hive) == t);
    assert_true(ts_of("\"2024-02-29 12:34:56\"", &hive) == t); /* Timestamp.valueOf */
    struct conv_batch *b;
    struct conv_error e;
    assert_int_equal(one("timestamp", "\"2024-02-29T12:34:56Z\"", &hive, &b, &e), 1);
    assert_string_equal(e.code, CONV_MALFORMED);
    delivery__conv_destroy(b);
    assert_int_equal(one("timestamp", "\"2023-02-29 00:00:00\"", NULL, &b, &e), 1);
    delivery__conv_destroy(b);
}

static void failures_name_the_column_and_the_code(void **state)
{
    (void)state;
    static const struct {
        const char *type, *value, *code;
    } cases[] = {
        {"tinyint", "128", CONV_MALFORMED},
        {"int", "1.5", CONV_MALFORMED},
        {"bigint", "9223372036854775808", CONV_MALFORMED},
        {"int", "\"abc\"", CONV_MALFORMED},
        {"int", "true", CONV_MALFORMED},
        {"float", "1e39", CONV_MALFORMED},
        {"double", "\"1e999\"", CONV_MALFORMED},
        {"decimal(4,2)", "123.4", CONV_MALFORMED},
        {"boolean", "1", CONV_MALFORMED},
        {"boolean", "\"yes\"", CONV_MALFORMED},
        {"date", "\"2024-13-01\"", CONV_MALFORMED},
        {"array<int>", "{\"a\":1}", CONV_MALFORMED},
        {"array<int>", "[1,\"x\"]", CONV_MALFORMED},
        {"map<string,int>", "[1]", CONV_MALFORMED},
        {"map<int,int>", "{\"k\":1}", CONV_MALFORMED},
        {"struct<a:int>", "{\"a\":\"q\"}", CONV_MALFORMED},
        {"binary", "5", CONV_MALFORMED},
        {"int", "tru", CONV_PARSE_ERROR},
        {"string", "\"\\ud800\"", CONV_PARSE_ERROR},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct conv_batch *b;
        struct conv_error e;
        assert_int_equal(one(cases[i].type, cases[i].value, NULL, &b, &e), 1);
        assert_string_equal(e.code, cases[i].code);
        if (strcmp(cases[i].code, CONV_MALFORMED) == 0) {
            assert_non_null(strstr(e.message, "'c'"));
        }
        assert_int_equal(delivery__conv_rows(b), 0);
        delivery__conv_destroy(b);
    }
    /* HiveJsonSerDe: no text for numbers, no nested value for a string. */
    struct conv_options hive = {.hive = 1, .case_insensitive = 1};
    struct conv_batch *b;
    struct conv_error e;
    assert_int_equal(one("int", "\"123\"", &hive, &b, &e), 1);
    assert_string_equal(e.code, CONV_MALFORMED);
    delivery__conv_destroy(b);
    assert_int_equal(one("string", "[1]", &hive, &b, &e), 1);
    delivery__conv_destroy(b);
}

static void whole_records_that_are_not_objects_are_parse_errors(void **state)
{
    (void)state;
    struct conv_batch *b = batch_of("c", "int", NULL);
    struct conv_error e;
    static const char *bad[] = {"not json",    "[1,2]", "",          "{\"c\":1",
                                "{\"c\":1} x", "42",    "{\"c\":1,}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(conv(b, bad[i], &e), 1);
        assert_string_equal(e.code, CONV_PARSE_ERROR);
    }
    assert_int_equal(
        delivery__conv_record(b, (const uint8_t *)"{\"c\":1,\"x\":\"\xc3\x28\"}", 17, &e), 1);
    assert_string_equal(e.code, CONV_PARSE_ERROR);
    assert_non_null(strstr(e.message, "UTF-8"));
    assert_int_equal(delivery__conv_rows(b), 0);
    delivery__conv_destroy(b);
}

static void keys_extra_missing_case_dots_and_mappings(void **state)
{
    (void)state;
    struct catalog_column cols[] = {{.name = "user_id", .type = "int"},
                                    {.name = "ts", .type = "string"},
                                    {.name = "Name", .type = "string"}};
    const char *mc[] = {"ts"}, *mk[] = {"timestamp"};
    struct conv_options o = {.case_insensitive = 1,
                             .dots_to_underscores = 1,
                             .map_columns = mc,
                             .map_keys = mk,
                             .n_map = 1};
    struct conv_batch *b = NULL;
    char why[200];
    assert_int_equal(delivery__conv_create(cols, 3, &o, &b, why, sizeof(why)), 0);
    struct conv_error e;
    assert_int_equal(conv(b,
                          "{\"User.ID\":7,\"TimeStamp\":\"t\",\"extra\":{\"x\":[1]},"
                          "\"NAME\":\"n\",\"name\":\"second\"}",
                          &e),
                     0);
    assert_int_equal(conv(b, "{}", &e), 0);
    assert_int_equal(delivery__conv_rows(b), 2);
    const struct duck_colbuf *cb = delivery__conv_colbufs(b);
    assert_int_equal(((const int32_t *)cb[0].values)[0], 7);
    assert_memory_equal(((const struct duck_str *)cb[1].values)[0].ptr, "t", 1);
    assert_memory_equal(((const struct duck_str *)cb[2].values)[0].ptr, "n", 1); /* first wins */
    assert_int_equal(cb[0].is_null[1], 1);
    assert_int_equal(cb[2].is_null[1], 1);
    delivery__conv_destroy(b);
    /* CaseInsensitive false: the key must match exactly. */
    o.case_insensitive = 0;
    o.dots_to_underscores = 0;
    assert_int_equal(delivery__conv_create(cols, 3, &o, &b, why, sizeof(why)), 0);
    assert_int_equal(conv(b, "{\"USER_ID\":1,\"Name\":\"x\"}", &e), 0);
    cb = delivery__conv_colbufs(b);
    assert_int_equal(cb[0].is_null[0], 1);
    assert_null(cb[2].is_null);
    delivery__conv_destroy(b);
    /* A mapping to a dotted key still matches when dots count as underscores. */
    const char *mk2[] = {"meta.time"};
    o = (struct conv_options){.case_insensitive = 1,
                              .dots_to_underscores = 1,
                              .map_columns = mc,
                              .map_keys = mk2,
                              .n_map = 1};
    assert_int_equal(delivery__conv_create(cols, 3, &o, &b, why, sizeof(why)), 0);
    assert_int_equal(conv(b, "{\"Meta.Time\":\"m\"}", &e), 0);
    cb = delivery__conv_colbufs(b);
    assert_memory_equal(((const struct duck_str *)cb[1].values)[0].ptr, "m", 1);
    delivery__conv_destroy(b);
}

static void a_failed_record_leaves_no_trace_in_nested_columns(void **state)
{
    (void)state;
    struct catalog_column cols[] = {{.name = "a", .type = "array<struct<x:int,y:array<int>>>"},
                                    {.name = "m", .type = "map<string,int>"},
                                    {.name = "z", .type = "int"}};
    struct conv_options o = {.case_insensitive = 1};
    struct conv_batch *b = NULL;
    char why[200];
    assert_int_equal(delivery__conv_create(cols, 3, &o, &b, why, sizeof(why)), 0);
    struct conv_error e;
    assert_int_equal(conv(b, "{\"a\":[{\"x\":1,\"y\":[1,2]}],\"m\":{\"k\":1},\"z\":1}", &e), 0);
    assert_int_equal(
        conv(b, "{\"a\":[{\"x\":2,\"y\":[3,4,5]},{\"x\":3,\"y\":[\"bad\"]}],\"z\":2}", &e), 1);
    assert_non_null(strstr(e.message, "'a'"));
    assert_int_equal(conv(b, "{\"m\":{\"k\":1,\"j\":\"no\"},\"z\":3}", &e), 1);
    assert_int_equal(conv(b, "{\"a\":[{\"y\":[9]}],\"m\":null,\"z\":4}", &e), 0);
    assert_int_equal(delivery__conv_rows(b), 2);
    const struct duck_colbuf *cb = delivery__conv_colbufs(b);
    assert_int_equal(cb[0].offsets[0], 0);
    assert_int_equal(cb[0].offsets[1], 1);
    assert_int_equal(cb[0].offsets[2], 2);
    const struct duck_colbuf *st = &cb[0].children[0];
    assert_int_equal(((const int32_t *)st->children[0].values)[1], 0); /* x missing */
    assert_int_equal(st->children[0].is_null[1], 1);
    const struct duck_colbuf *ys = &st->children[1];
    assert_int_equal(ys->offsets[2], 3); /* [1,2] then [9]: the failed 3,4,5 are gone */
    assert_int_equal(((const int32_t *)ys->children[0].values)[2], 9);
    assert_int_equal(cb[1].offsets[1], 1);
    assert_int_equal(cb[1].offsets[2], 1);
    assert_int_equal(cb[1].is_null[1], 1);
    assert_int_equal(((const int32_t *)cb[2].values)[1], 4);
    delivery__conv_destroy(b);
}

static void the_error_record_has_aws_fields_in_order(void **state)
{
    (void)state;
    struct buf out;
    buf_init(&out);
    struct conv_error e = {.code = CONV_MALFORMED};
    snprintf(e.message, sizeof(e.message), "Column 'amount': \"x\" is not a number");
    struct conv_error_ctx ctx = {.catalog_id = "000000000000",
                                 .database = "db",
                                 .table = "t",
                                 .region = "us-east-1",
                                 .version_id = "LATEST",
                                 .catalog_arn = "arn:aws:glue:us-east-1:000000000000:catalog"};
    assert_int_equal(
        delivery__conv_error_json(&out, &e, 1000, 2000, (const uint8_t *)"hi!", 3, "4955", &ctx),
        0);
    assert_int_equal(out.data[out.len - 1], '\n');
    assert_string_equal(
        (const char *)out.data,
        "{\"attemptsMade\":1,\"arrivalTimestamp\":1000,\"lastErrorCode\":"
        "\"DataFormatConversion.MalformedData\",\"lastErrorMessage\":\"Column 'amount': "
        "\\\"x\\\" is not a number\",\"attemptEndingTimestamp\":2000,\"rawData\":\"aGkh\","
        "\"sequenceNumber\":\"4955\",\"subSequenceNumber\":null,\"dataCatalogTable\":"
        "{\"catalogId\":\"000000000000\",\"databaseName\":\"db\",\"tableName\":\"t\","
        "\"region\":\"us-east-1\",\"versionId\":\"LATEST\",\"catalogArn\":"
        "\"arn:aws:glue:us-east-1:000000000000:catalog\"}}\n");
    json_error_t je;
    json_t *j = json_loads((const char *)out.data, 0, &je);
    assert_non_null(j);
    json_decref(j);
    /* DirectPut: no sequence number fields. */
    buf_reset(&out);
    delivery__conv_error_json(&out, &e, 1, 2, (const uint8_t *)"", 0, NULL, &ctx);
    assert_null(strstr((const char *)out.data, "sequenceNumber"));
    buf_fini(&out);
}

static void objects_end_parquet_and_errors_take_aws_layouts(void **state)
{
    (void)state;
    const int64_t ms = 1709210096000LL; /* 2024-02-29T12:34:56Z */
    struct delivery_dest d = {.conversion = 1,
                              .prefix = "events/raw/",
                              .error_prefix = "events/errors/!{firehose:error-output-type}/"};
    struct buf k;
    buf_init(&k);
    delivery__object_key(&d, "s", 1, ms, &k);
    assert_true(strncmp((const char *)k.data, "events/raw/2024/02/29/12/s-1-2024-02-29-12-34-56-",
                        49) == 0);
    assert_string_equal((const char *)k.data + k.len - 8, ".parquet");
    buf_reset(&k);
    d.file_extension = ".pq";
    delivery__object_key(&d, "s", 1, ms, &k);
    assert_string_equal((const char *)k.data + k.len - 3, ".pq");
    buf_reset(&k);
    delivery__error_key(&d, "s", 1, ms, "format-conversion-failed", &k);
    assert_true(strncmp((const char *)k.data,
                        "events/errors/format-conversion-failed/s-1-2024-02-29-12-34-56-",
                        63) == 0);
    assert_int_equal(k.len, 63 + 36);
    buf_reset(&k);
    d.error_prefix = NULL; /* AWS's default: <Prefix><type>/yyyy/MM/dd/HH/ */
    delivery__error_key(&d, "s", 1, ms, "format-conversion-failed", &k);
    assert_true(strncmp((const char *)k.data,
                        "events/raw/format-conversion-failed/2024/02/29/12/s-1-", 54) == 0);
    buf_reset(&k);
    d.prefix = NULL;
    delivery__error_key(&d, "s", 1, ms, "format-conversion-failed", &k);
    assert_true(strncmp((const char *)k.data, "format-conversion-failed/2024/02/29/12/s-1-", 43) ==
                0);
    buf_fini(&k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hive_types_parse_to_duck_types),
        cmocka_unit_test(bad_hive_types_are_refused_with_a_reason),
        cmocka_unit_test(each_scalar_type_converts),
        cmocka_unit_test(timestamps_in_each_form),
        cmocka_unit_test(failures_name_the_column_and_the_code),
        cmocka_unit_test(whole_records_that_are_not_objects_are_parse_errors),
        cmocka_unit_test(keys_extra_missing_case_dots_and_mappings),
        cmocka_unit_test(a_failed_record_leaves_no_trace_in_nested_columns),
        cmocka_unit_test(the_error_record_has_aws_fields_in_order),
        cmocka_unit_test(objects_end_parquet_and_errors_take_aws_layouts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
