/* Unit tests of the core: JSON scanning, base64, buffers, errors, the metadata store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/base64.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/jsonscan.h"
#include "core/mem.h"
#include "core/store.h"
#include "core/text.h"

static void jscan_walks_nested_documents(void **state)
{
    (void)state;
    const char *doc = " {\"a\" : [1, -2.5e3, {\"b\":null}, true], \"s\":\"x\\\"y\", \"e\":{}} ";
    struct jscan js;
    jscan_init(&js, doc, strlen(doc));
    assert_int_equal(jscan_object_begin(&js), 0);
    struct jstr key;
    assert_int_equal(jscan_object_next(&js, &key), 1);
    assert_true(jstr_eq(&key, "a"));
    assert_int_equal(jscan_skip(&js), 0);
    assert_int_equal(jscan_object_next(&js, &key), 1);
    assert_true(jstr_eq(&key, "s"));
    struct jstr value;
    assert_int_equal(jscan_string(&js, &value), 0);
    assert_true(value.has_escapes);
    char out[16];
    assert_int_equal(jscan_unescape(&value, out), 3);
    assert_memory_equal(out, "x\"y", 3);
    assert_int_equal(jscan_object_next(&js, &key), 1);
    assert_int_equal(jscan_skip(&js), 0);
    assert_int_equal(jscan_object_next(&js, &key), 0);
    assert_int_equal(jscan_finish(&js), 0);
}

static void jscan_rejects_malformed_text(void **state)
{
    (void)state;
    const char *bad[] = {"{", "{\"a\"}", "{\"a\":1,}", "[1 2]", "{\"a\":tru}", "\"abc",
                         "{\"a\":1} x", "[,1]", "{\"a\":\"\x01\"}", "{\"a\":01.}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct jscan js;
        jscan_init(&js, bad[i], strlen(bad[i]));
        int rc = jscan_skip(&js);
        if (rc == 0) {
            rc = jscan_finish(&js);
        }
        assert_int_equal(rc, -1);
        assert_non_null(js.error);
    }
}

static void jscan_limits_nesting(void **state)
{
    (void)state;
    char deep[400];
    memset(deep, '[', 200);
    memset(deep + 200, ']', 200);
    struct jscan js;
    jscan_init(&js, deep, sizeof(deep));
    assert_int_equal(jscan_skip(&js), -1);
}

static void jscan_unescape_decodes_utf16_pairs_and_refuses_lone_surrogates(void **state)
{
    (void)state;
    struct jstr s = {.raw = "\\u00e9\\ud83d\\udd11", .raw_len = 18, .has_escapes = 1};
    char out[32];
    long n = jscan_unescape(&s, out);
    assert_int_equal(n, 6);
    assert_memory_equal(out, "\xc3\xa9\xf0\x9f\x94\x91", 6);
    struct jstr lone = {.raw = "\\ud83d", .raw_len = 6, .has_escapes = 1};
    assert_int_equal(jscan_unescape(&lone, out), -1);
    struct jstr bad = {.raw = "\\q", .raw_len = 2, .has_escapes = 1};
    assert_int_equal(jscan_unescape(&bad, out), -1);
}

static void base64_round_trips_and_is_strict(void **state)
{
    (void)state;
    uint8_t data[256];
    for (int i = 0; i < 256; i++) {
        data[i] = (uint8_t)(i * 7);
    }
    for (size_t len = 0; len < 40; len++) {
        char text[BASE64_ENCODED_LEN(256) + 1];
        size_t n = base64_encode(data, len, text);
        assert_int_equal(n, BASE64_ENCODED_LEN(len));
        uint8_t back[256];
        assert_int_equal(base64_decode(text, n, back), (long)len);
        assert_memory_equal(back, data, len);
        n = base64url_encode(data, len, text);
        assert_int_equal(base64url_decode(text, n, back), (long)len);
        assert_memory_equal(back, data, len);
    }
    uint8_t out[16];
    assert_int_equal(base64_decode("aGVsbG8=", 8, out), 5);
    assert_int_equal(base64_decode("aGVsbG8", 7, out), -1);  /* unpadded */
    assert_int_equal(base64_decode("aGV sbG8=", 9, out), -1); /* whitespace */
    assert_int_equal(base64_decode("aGVsbG9=", 8, out), -1);  /* non-canonical bits */
    assert_int_equal(base64_decode("a===", 4, out), -1);
    assert_int_equal(base64_decode("!!!!", 4, out), -1);
}

static void buf_escapes_json_and_xml(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    buf_json_string(&b, "a\"\\\n\x01", 5);
    assert_string_equal((char *)b.data, "\"a\\\"\\\\\\n\\u0001\"");
    buf_reset(&b);
    buf_xml_escape(&b, "<a&'\">", 6);
    assert_string_equal((char *)b.data, "&lt;a&amp;&apos;&quot;&gt;");
    /* controls but tab and newline become references, '\r' included */
    buf_reset(&b);
    buf_xml_escape(&b, "a\tb\nc\rd\x01" "e\x1f", 10);
    assert_string_equal((char *)b.data, "a\tb\nc&#xD;d&#x1;e&#x1F;");
    buf_fini(&b);
}

static void pct_decode_follows_one_rule(void **state)
{
    (void)state;
    size_t n = 0;
    char *s = pct_decode_dup("a+b%2B%2bc%20%zz%4", 18, PCT_QUERY, &n);
    assert_string_equal(s, "a b++c %zz%4");
    free(s);
    s = pct_decode_dup("a+b%2Bc", 7, PCT_PATH, NULL);
    assert_string_equal(s, "a+b+c");
    free(s);
    /* %00 decodes; the length tells it apart from the end */
    s = pct_decode_dup("x%00y", 5, PCT_PATH, &n);
    assert_int_equal(n, 3);
    assert_int_equal(strlen(s), 1);
    free(s);
    struct buf b;
    buf_init(&b);
    assert_int_equal(pct_decode(&b, "k=", 2, PCT_QUERY), 0);
    assert_int_equal(pct_decode(&b, "%41+", 4, PCT_QUERY), 0);
    assert_string_equal((char *)b.data, "k=A ");
    buf_fini(&b);
    mem_fail_after(1);
    assert_null(pct_decode_dup("abc", 3, PCT_QUERY, NULL));
    mem_fail_after(0);
}

static void pct_encode_keeps_only_unreserved_and_what_is_asked(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    assert_int_equal(pct_encode(&b, "a b+c/%~\xe2", 9, 0), 0);
    assert_string_equal((char *)b.data, "a%20b%2Bc%2F%25~%E2");
    buf_reset(&b);
    assert_int_equal(pct_encode(&b, "a b/%41", 7, PCT_KEEP_SLASH | PCT_KEEP_PCT), 0);
    assert_string_equal((char *)b.data, "a%20b/%41");
    buf_fini(&b);
}

static void query_fields_split_before_decoding(void **state)
{
    (void)state;
    const char *q = "&a=1&&b&c=x=y&%26=%3D&";
    size_t pos = 0;
    struct query_field f;
    const char *want[][2] = {{"a", "1"}, {"b", ""}, {"c", "x=y"}, {"%26", "%3D"}};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(query_next(q, strlen(q), &pos, &f), 1);
        assert_int_equal(f.name_len, strlen(want[i][0]));
        assert_memory_equal(f.name, want[i][0], f.name_len);
        assert_int_equal(f.value_len, strlen(want[i][1]));
        assert_memory_equal(f.value, want[i][1], f.value_len);
        assert_int_equal(f.has_value, i != 1);
    }
    assert_int_equal(query_next(q, strlen(q), &pos, &f), 0);

    struct query_params p;
    query_params_init(&p);
    assert_int_equal(query_params_parse(&p, q, strlen(q)), 0);
    assert_int_equal(p.n, 4);
    assert_string_equal(query_params_get(&p, "&"), "=");
    assert_string_equal(query_params_get(&p, "b"), "");
    assert_null(query_params_get(&p, "d"));
    /* a second source appends */
    assert_int_equal(query_params_parse(&p, "d=a+b", 5), 0);
    assert_string_equal(query_params_get(&p, "d"), "a b");
    query_params_fini(&p);

    query_params_init(&p);
    assert_int_equal(query_params_parse(&p, "a=1&b=x%00", 10), SL_E(VALIDATION));
    assert_int_equal(p.n, 1);
    query_params_fini(&p);
}

static void query_params_report_every_allocation_failure(void **state)
{
    (void)state;
    struct buf q;
    buf_init(&q);
    for (int i = 0; i < 40; i++) {
        buf_printf(&q, "k%d=v%d&", i, i);
    }
    int n_failed = 0;
    for (unsigned long n = 1;; n++) {
        struct query_params p;
        query_params_init(&p);
        mem_fail_after(n);
        int rc = query_params_parse(&p, (const char *)q.data, q.len);
        mem_fail_after(0);
        query_params_fini(&p);
        if (rc == 0) {
            break;
        }
        assert_int_equal(rc, SL_E(NOMEM));
        n_failed++;
    }
    /* two strings a field and a few doublings of the arrays */
    assert_true(n_failed > 80);
    buf_fini(&q);
}

static void buf_reports_allocation_failure_sticky(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b);
    mem_fail_after(1);
    assert_int_equal(buf_puts(&b, "x"), SL_E(NOMEM));
    assert_int_equal(buf_puts(&b, "y"), SL_E(NOMEM));
    assert_int_equal(buf_status(&b), SL_E(NOMEM));
    mem_fail_after(0);
    buf_fini(&b);
}

static void errors_carry_aws_names_and_statuses(void **state)
{
    (void)state;
    assert_string_equal(err_aws_name(SL_E(RESOURCE_NOT_FOUND)), "ResourceNotFoundException");
    assert_int_equal(err_http_status(SL_E(NO_SUCH_KEY)), 404);
    assert_true(err_is_sluice(SL_E(INTERNAL)));
    assert_false(err_is_sluice(-2));
    assert_string_equal(sl_strerror(-2), "No such file or directory");
    assert_string_equal(err_aws_name(-5), "InternalFailure");
    struct err_info e;
    assert_int_equal(err_set(&e, SL_E(VALIDATION), "x=%d", 5), SL_E(VALIDATION));
    assert_string_equal(e.message, "x=5");
}

static void store_migrates_each_part_once(void **state)
{
    (void)state;
    char dir[] = "/tmp/sluice-core-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/db", dir);
    struct store *st;
    assert_int_equal(store_open(path, &st), 0);
    const struct store_migration m[] = {
        {1, "CREATE TABLE t(a INTEGER);"},
        {2, "ALTER TABLE t ADD COLUMN b TEXT;"},
    };
    assert_int_equal(store_migrate(st, "demo", m, 2), 0);
    assert_int_equal(store_schema_version(st, "demo"), 2);
    assert_int_equal(store_migrate(st, "demo", m, 2), 0); /* nothing to do */
    assert_int_equal(store_schema_version(st, "other"), 0);
    /* A failing migration leaves the recorded version where it was. */
    const struct store_migration broken[] = {{1, "CREATE TABLE u(a);"}, {2, "NOT SQL"}};
    assert_true(store_migrate(st, "broken", broken, 2) < 0);
    assert_int_equal(store_schema_version(st, "broken"), 1);
    assert_int_equal(store_setting_put(st, "k", "v1"), 0);
    assert_int_equal(store_setting_put(st, "k", "v2"), 0);
    char *v;
    assert_int_equal(store_setting_get(st, "k", &v), 0);
    assert_string_equal(v, "v2");
    free(v);
    store_close(st);
    /* Reopening sees the same versions. */
    assert_int_equal(store_open(path, &st), 0);
    assert_int_equal(store_schema_version(st, "demo"), 2);
    store_close(st);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* A row of a one-column table, in a fresh statement: 1 when the table takes it. */
static int table_takes_a_row(struct store *st, const char *table)
{
    char sql[96];
    snprintf(sql, sizeof(sql), "INSERT INTO %s VALUES(1)", table);
    store_lock(st);
    int rc = store_run(st, sql, "");
    store_unlock(st);
    return rc == 0;
}

static void store_applies_a_migration_filled_in_below_the_highest(void **state)
{
    (void)state;
    char dir[] = "/tmp/sluice-core-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/db", dir);
    struct store *st;
    assert_int_equal(store_open(path, &st), 0);
    /* Number 2 is left free (reserved for another change) while 3 ships. */
    const struct store_migration gap[] = {
        {1, "CREATE TABLE a(x);"},
        {3, "CREATE TABLE c(x);"},
    };
    assert_int_equal(store_migrate(st, "demo", gap, 2), 0);
    assert_int_equal(store_schema_version(st, "demo"), 3);
    /* Then 2 comes: it is applied though 3 is; the others are not run again. */
    const struct store_migration filled[] = {
        {1, "CREATE TABLE a(x);"},
        {2, "CREATE TABLE b(x);"},
        {3, "CREATE TABLE c(x);"},
    };
    assert_int_equal(store_migrate(st, "demo", filled, 3), 0);
    assert_true(table_takes_a_row(st, "b"));
    assert_int_equal(store_schema_version(st, "demo"), 3);
    assert_int_equal(store_migrate(st, "demo", filled, 3), 0);
    store_close(st);

    /* A data directory from before the record of applied migrations: its part is at
       version 2 in schema_version alone. Numbers up to 2 count as applied, 3 is run. */
    assert_int_equal(store_open(path, &st), 0);
    store_lock(st);
    assert_int_equal(store_exec(st, "DROP TABLE schema_applied;"
                                    "CREATE TABLE old1(x); CREATE TABLE old2(x);"
                                    "INSERT INTO schema_version(part,version) VALUES('old',2);"),
                     0);
    store_unlock(st);
    store_close(st);
    assert_int_equal(store_open(path, &st), 0);
    const struct store_migration old[] = {
        {1, "CREATE TABLE old1(x);"},
        {2, "CREATE TABLE old2(x);"},
        {3, "CREATE TABLE old3(x);"},
    };
    assert_int_equal(store_migrate(st, "old", old, 3), 0);
    assert_true(table_takes_a_row(st, "old3"));
    assert_int_equal(store_schema_version(st, "old"), 3);
    /* demo's record went with the table: backfilled from its version 3 alike. */
    assert_int_equal(store_migrate(st, "demo", filled, 3), 0);
    assert_int_equal(store_schema_version(st, "demo"), 3);
    /* A number filled in below afterwards is still applied. */
    const struct store_migration old_filled[] = {
        {1, "CREATE TABLE old1(x);"},
        {2, "CREATE TABLE old2(x);"},
        {3, "CREATE TABLE old3(x);"},
        {4, "CREATE TABLE old4(x);"},
    };
    assert_int_equal(store_migrate(st, "old", old_filled, 4), 0);
    assert_true(table_takes_a_row(st, "old4"));
    store_close(st);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* Valid UTF-8 passes; overlongs, surrogates, stray continuations and cut sequences do not;
   XML escaping turns the bytes of an invalid sequence into U+FFFD. */
static void utf8_checked_and_escaped(void **state)
{
    (void)state;
    assert_true(text_utf8_valid("plain ascii text", 16));
    assert_true(text_utf8_valid("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", 14));
    assert_false(text_utf8_valid("\xC0\xAF", 2));         /* overlong '/' */
    assert_false(text_utf8_valid("\xED\xA0\x80", 3));     /* a surrogate */
    assert_false(text_utf8_valid("\x80", 1));             /* a stray continuation */
    assert_false(text_utf8_valid("\xE2\x82", 2));         /* cut short */
    assert_false(text_utf8_valid("\xF4\x90\x80\x80", 4)); /* above U+10FFFF */
    struct buf b;
    buf_init(&b);
    assert_int_equal(buf_xml_escape(&b, "a\xFF<\xC3\xA9\xE2\x82", 7), 0);
    assert_string_equal((char *)b.data, "a\xEF\xBF\xBD&lt;\xC3\xA9\xEF\xBF\xBD\xEF\xBF\xBD");
    buf_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(jscan_walks_nested_documents),
        cmocka_unit_test(jscan_rejects_malformed_text),
        cmocka_unit_test(jscan_limits_nesting),
        cmocka_unit_test(jscan_unescape_decodes_utf16_pairs_and_refuses_lone_surrogates),
        cmocka_unit_test(base64_round_trips_and_is_strict),
        cmocka_unit_test(buf_escapes_json_and_xml),
        cmocka_unit_test(pct_decode_follows_one_rule),
        cmocka_unit_test(pct_encode_keeps_only_unreserved_and_what_is_asked),
        cmocka_unit_test(query_fields_split_before_decoding),
        cmocka_unit_test(query_params_report_every_allocation_failure),
        cmocka_unit_test(buf_reports_allocation_failure_sticky),
        cmocka_unit_test(errors_carry_aws_names_and_statuses),
        cmocka_unit_test(store_migrates_each_part_once),
        cmocka_unit_test(store_applies_a_migration_filled_in_below_the_highest),
        cmocka_unit_test(utf8_checked_and_escaped),
    };
    return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
