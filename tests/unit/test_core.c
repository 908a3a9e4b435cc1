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
    buf_fini(&b);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(jscan_walks_nested_documents),
        cmocka_unit_test(jscan_rejects_malformed_text),
        cmocka_unit_test(jscan_limits_nesting),
        cmocka_unit_test(jscan_unescape_decodes_utf16_pairs_and_refuses_lone_surrogates),
        cmocka_unit_test(base64_round_trips_and_is_strict),
        cmocka_unit_test(buf_escapes_json_and_xml),
        cmocka_unit_test(buf_reports_allocation_failure_sticky),
        cmocka_unit_test(errors_carry_aws_names_and_statuses),
        cmocka_unit_test(store_migrates_each_part_once),
    };
    return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
