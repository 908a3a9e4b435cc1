/* Unit tests of S3 lifecycle: due dates, rule matching, the configuration's checks
   (s3__lifecycle_parse) and the sweeper over a real lake (lake_lifecycle.h). */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/err.h"
#include "lake/lake.h"
#include "lake/lake_lifecycle.h"
#include "lake/s3_int.h"

#include "lake_fixture.h"

static int setup(void **state)
{
    *state = lake_fixture_create("test_lake_lifecycle", 1);
    return *state != NULL ? 0 : -1;
}
static int teardown(void **state)
{
    lake_fixture_destroy(*state);
    return 0;
}

static int64_t utc_ms(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {
        .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
    return (int64_t)timegm(&tm) * 1000;
}

/* ---- due dates ---- */

static void test_due_rounds_to_next_midnight(void **state)
{
    (void)state;
    /* S3's example: created 2014-01-15 10:30 UTC, 3 days: due 2014-01-19 00:00 UTC. */
    assert_int_equal(lake_lifecycle_due(utc_ms(2014, 1, 15, 10, 30), 3), utc_ms(2014, 1, 19, 0, 0));
    /* A minute before midnight and at it both round to the next one. */
    assert_int_equal(lake_lifecycle_due(utc_ms(2014, 1, 15, 23, 59), 1), utc_ms(2014, 1, 17, 0, 0));
    assert_int_equal(lake_lifecycle_due(utc_ms(2014, 1, 15, 0, 0), 1), utc_ms(2014, 1, 17, 0, 0));
    /* Across a month and a leap day. */
    assert_int_equal(lake_lifecycle_due(utc_ms(2024, 2, 28, 12, 0), 1), utc_ms(2024, 3, 1, 0, 0));
    assert_int_equal(lake_lifecycle_due(utc_ms(2024, 1, 31, 1, 0), 30), utc_ms(2024, 3, 2, 0, 0));
}

static void test_clock_advances(void **state)
{
    (void)state;
    int64_t before = lake_lifecycle_now_ms();
    lake_lifecycle_advance(10 * LAKE_LC_DAY_MS);
    int64_t after = lake_lifecycle_now_ms();
    assert_true(after - before >= 10 * LAKE_LC_DAY_MS);
    assert_true(after - clock_now_ms() >= 10 * LAKE_LC_DAY_MS - 1000);
    lake_lifecycle_advance(-10 * LAKE_LC_DAY_MS); /* back, for the other tests */
}

/* ---- matching ---- */

static int matches(const char *rule_json, const char *key, int64_t size, const char *tags_json)
{
    json_t *rule = json_loads(rule_json, 0, NULL);
    json_t *tags = tags_json ? json_loads(tags_json, 0, NULL) : NULL;
    assert_non_null(rule);
    int m = lake__lc_rule_matches(rule, key, size, tags);
    json_decref(rule);
    json_decref(tags);
    return m;
}

static void test_rule_matching(void **state)
{
    (void)state;
    assert_true(matches("{\"Prefix\":\"logs/\"}", "logs/a", 1, NULL));
    assert_false(matches("{\"Prefix\":\"logs/\"}", "log", 1, NULL));
    assert_true(matches("{\"Filter\":{}}", "anything", 0, NULL));
    assert_true(matches("{\"Filter\":{\"Prefix\":\"\"}}", "x", 0, NULL));
    assert_false(matches("{\"Filter\":{\"Prefix\":\"a\"}}", "b", 0, NULL));
    const char *tag = "{\"Filter\":{\"Tag\":{\"Key\":\"k\",\"Value\":\"v\"}}}";
    assert_true(matches(tag, "x", 0, "{\"k\":\"v\",\"o\":\"1\"}"));
    assert_false(matches(tag, "x", 0, "{\"k\":\"w\"}"));
    assert_false(matches(tag, "x", 0, NULL));
    /* Sizes are strict bounds. */
    const char *gt = "{\"Filter\":{\"ObjectSizeGreaterThan\":100}}";
    assert_false(matches(gt, "x", 100, NULL));
    assert_true(matches(gt, "x", 101, NULL));
    const char *and = "{\"Filter\":{\"And\":{\"Prefix\":\"p/\",\"Tags\":[{\"Key\":\"a\",\"Value\":"
                      "\"1\"},{\"Key\":\"b\",\"Value\":\"\"}],\"ObjectSizeGreaterThan\":0,"
                      "\"ObjectSizeLessThan\":10}}}";
    assert_true(matches(and, "p/x", 5, "{\"a\":\"1\",\"b\":\"\"}"));
    assert_false(matches(and, "p/x", 5, "{\"a\":\"1\"}"));
    assert_false(matches(and, "q/x", 5, "{\"a\":\"1\",\"b\":\"\"}"));
    assert_false(matches(and, "p/x", 10, "{\"a\":\"1\",\"b\":\"\"}"));
    assert_false(matches(and, "p/x", 0, "{\"a\":\"1\",\"b\":\"\"}"));
}

/* ---- the configuration's checks ---- */

static int parse(const char *rules_xml, char **doc_out, struct err_info *err)
{
    char xml[8192];
    snprintf(xml, sizeof(xml), "<LifecycleConfiguration>%s</LifecycleConfiguration>", rules_xml);
    struct s3_xml_node *root = NULL;
    assert_int_equal(s3__xml_parse(xml, strlen(xml), &root), 0);
    err_clear(err);
    int rc = s3__lifecycle_parse(root, doc_out, err);
    s3__xml_free(root);
    return rc;
}

static void expect_error(const char *rules_xml, int code)
{
    char *doc = NULL;
    struct err_info err;
    assert_int_equal(parse(rules_xml, &doc, &err), code);
    assert_int_equal(err.code, code);
    assert_null(doc);
}

static void test_parse_valid(void **state)
{
    (void)state;
    char *doc = NULL;
    struct err_info err;
    assert_int_equal(
        parse(
            "<Rule><ID>a</ID><Filter><And><Prefix>p/</Prefix><Tag><Key>k</Key><Value>v</Value>"
            "</Tag><Tag><Key>j</Key><Value>w</Value></Tag></And></Filter><Status>Enabled</Status>"
            "<Expiration><Date>2030-01-01T00:00:00.000Z</Date></Expiration>"
            "<Transition><Days>0</Days><StorageClass>GLACIER</StorageClass></Transition>"
            "<NoncurrentVersionExpiration><NoncurrentDays>3</NoncurrentDays>"
            "<NewerNoncurrentVersions>2</NewerNoncurrentVersions>"
            "</NoncurrentVersionExpiration></Rule>"
            "<Rule><Prefix>x</Prefix><Status>Disabled</Status><AbortIncompleteMultipartUpload>"
            "<DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>",
            &doc, &err),
        0);
    json_t *j = json_loads(doc, 0, NULL);
    free(doc);
    json_t *rules = json_object_get(j, "Rules");
    assert_int_equal(json_array_size(rules), 2);
    json_t *r0 = json_array_get(rules, 0);
    assert_int_equal(json_array_size(json_object_get(
                         json_object_get(json_object_get(r0, "Filter"), "And"), "Tags")),
                     2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r0, "Expiration"), "Date")),
                     utc_ms(2030, 1, 1, 0, 0));
    json_t *r1 = json_array_get(rules, 1);
    assert_string_equal(json_string_value(json_object_get(r1, "Prefix")), "x");
    assert_true(strlen(json_string_value(json_object_get(r1, "ID"))) > 0); /* generated */
    json_decref(j);
}

#define R(body)                                                                                    \
    "<Rule><ID>r</ID><Filter><Prefix></Prefix></Filter><Status>Enabled</Status>" body "</Rule>"

static void test_parse_errors(void **state)
{
    (void)state;
    expect_error("", SL_E(MALFORMED_XML));
    expect_error("<Other/>", SL_E(MALFORMED_XML));
    expect_error(R("<Expiration><Days>0</Days></Expiration>"), SL_E(INVALID_ARGUMENT_S3));
    expect_error(R("<Expiration><Days>x</Days></Expiration>"), SL_E(MALFORMED_XML));
    expect_error(R("<Expiration><Days>1</Days><Date>2030-01-01T00:00:00Z</Date></Expiration>"),
                 SL_E(MALFORMED_XML));
    expect_error(R("<Expiration><Days>1</Days><ExpiredObjectDeleteMarker>true"
                   "</ExpiredObjectDeleteMarker></Expiration>"),
                 SL_E(MALFORMED_XML));
    expect_error(R("<Expiration><Date>2030-01-01T10:00:00Z</Date></Expiration>"),
                 SL_E(INVALID_ARGUMENT_S3));
    expect_error(R("<Expiration></Expiration>"), SL_E(MALFORMED_XML));
    expect_error(R(""), SL_E(INVALID_REQUEST)); /* no action */
    expect_error(R("<Expiration><Days>1</Days></Expiration>") R("<Expiration><Days>2</Days>"
                                                                "</Expiration>"),
                 SL_E(INVALID_ARGUMENT_S3)); /* the same ID twice */
    expect_error(
        R("<Expiration><Days>1</Days></Expiration><Expiration><Days>1</Days></Expiration>"),
        SL_E(MALFORMED_XML));
    expect_error(R("<Unknown/><Expiration><Days>1</Days></Expiration>"), SL_E(MALFORMED_XML));
    expect_error("<Rule><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>"
                 "<Rule><Prefix>a</Prefix><Filter/><Status>Enabled</Status>"
                 "<Expiration><Days>1</Days></Expiration></Rule>",
                 SL_E(MALFORMED_XML));
    expect_error("<Rule><Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Status>Enabled"
                 "</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>1"
                 "</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>",
                 SL_E(INVALID_REQUEST));
    expect_error(R("<Transition><Days>10</Days><StorageClass>STANDARD_IA</StorageClass>"
                   "</Transition>"),
                 SL_E(INVALID_ARGUMENT_S3));
    expect_error(R("<Transition><Days>10</Days><StorageClass>STANDARD</StorageClass>"
                   "</Transition>"),
                 SL_E(MALFORMED_XML));
    expect_error(R("<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>"
                   "<NewerNoncurrentVersions>0</NewerNoncurrentVersions>"
                   "</NoncurrentVersionExpiration>"),
                 SL_E(INVALID_ARGUMENT_S3));
    expect_error("<Rule><ID>r</ID><Filter><And><Tag><Key>k</Key><Value>1</Value></Tag><Tag><Key>k"
                 "</Key><Value>2</Value></Tag></And></Filter><Status>Enabled</Status><Expiration>"
                 "<Days>1</Days></Expiration></Rule>",
                 SL_E(INVALID_REQUEST));
    char id[300];
    memset(id, 'i', 256);
    id[256] = '\0';
    char rule[600];
    snprintf(rule, sizeof(rule),
             "<Rule><ID>%s</ID><Filter/><Status>Enabled</Status><Expiration><Days>1</Days>"
             "</Expiration></Rule>",
             id);
    expect_error(rule, SL_E(INVALID_ARGUMENT_S3));
}

/* ---- the sweeper over a lake ---- */

static void put(struct fixture *f, const char *key, const char *body, char *vid_out)
{
    struct lake_object_info info;
    assert_int_equal(lake_object_put(f->lake, "bkt", key, body, strlen(body), NULL, &info, NULL),
                     0);
    if (vid_out != NULL) {
        snprintf(vid_out, LAKE_VERSION_ID_MAX, "%s", info.version_id);
    }
    lake_object_info_fini(&info);
}

static int exists(struct fixture *f, const char *key)
{
    struct lake_object_info info;
    int rc = lake_object_head(f->lake, "bkt", key, &info, NULL);
    if (rc == 0) {
        lake_object_info_fini(&info);
    }
    return rc == 0;
}

static size_t count_versions(struct fixture *f)
{
    struct lake_version_list_opts o = {.max_keys = 1000};
    struct lake_version_list list;
    assert_int_equal(lake_version_list(f->lake, "bkt", &o, &list, NULL), 0);
    size_t n = list.n_versions;
    lake_version_list_fini(&list);
    return n;
}

static void set_rules(struct fixture *f, const char *doc)
{
    assert_int_equal(lake_bucket_doc_put(f->lake, "bkt", LAKE_BUCKET_LIFECYCLE, doc, NULL), 0);
}

static void test_sweep_expires_and_survives_reopen(void **state)
{
    struct fixture *f = *state;
    set_rules(f, "{\"Rules\":[{\"ID\":\"e\",\"Status\":\"Enabled\",\"Filter\":{\"Prefix\":\"t/\"},"
                 "\"Expiration\":{\"Days\":1}}]}");
    put(f, "t/a", "1", NULL);
    put(f, "keep", "2", NULL);
    close_lake(f); /* the rules are durable */
    assert_int_equal(open_lake(f), 0);
    struct lake_lc_stats st = {0};
    int64_t now = clock_now_ms();
    assert_int_equal(lake_lifecycle_sweep(f->lake, now, &st), 0);
    assert_int_equal(st.expired, 0);
    assert_true(exists(f, "t/a"));
    assert_int_equal(lake_lifecycle_sweep(f->lake, now + 2 * LAKE_LC_DAY_MS, &st), 0);
    assert_int_equal(st.expired, 1);
    assert_false(exists(f, "t/a"));
    assert_true(exists(f, "keep"));
    /* The header's view agrees: keep has no rule, t/ objects do. */
    struct lake_object_info info = {.key = "t/b", .last_modified_ms = utc_ms(2026, 1, 1, 5, 0)};
    struct lake_lc_when when;
    assert_int_equal(lake_lifecycle_expiry(f->lake, "bkt", &info, &when), 1);
    assert_int_equal(when.date_ms, utc_ms(2026, 1, 3, 0, 0));
    assert_string_equal(when.rule_id, "e");
    info.key = "keep";
    assert_int_equal(lake_lifecycle_expiry(f->lake, "bkt", &info, &when), 0);
}

static void test_sweep_noncurrent_keeps_newer(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(lake_versioning_put(f->lake, "bkt", LAKE_VERSIONING_ENABLED, -1, NULL), 0);
    set_rules(f, "{\"Rules\":[{\"ID\":\"n\",\"Status\":\"Enabled\",\"Filter\":{},"
                 "\"NoncurrentVersionExpiration\":{\"NoncurrentDays\":1,"
                 "\"NewerNoncurrentVersions\":1}}]}");
    for (int i = 0; i < 4; i++) {
        put(f, "k", "v", NULL);
    }
    assert_int_equal(count_versions(f), 4);
    struct lake_lc_stats st = {0};
    assert_int_equal(lake_lifecycle_sweep(f->lake, clock_now_ms() + 3 * LAKE_LC_DAY_MS, &st), 0);
    assert_int_equal(st.noncurrent, 2);
    assert_int_equal(count_versions(f), 2); /* the current one and the newest noncurrent */
    assert_true(exists(f, "k"));
}

static void test_sweep_aborts_uploads(void **state)
{
    struct fixture *f = *state;
    set_rules(f, "{\"Rules\":[{\"ID\":\"a\",\"Status\":\"Enabled\",\"Filter\":{\"Prefix\":\"u/\"},"
                 "\"AbortIncompleteMultipartUpload\":{\"DaysAfterInitiation\":2}}]}");
    struct lake_upload_info up, other;
    assert_int_equal(lake_upload_create(f->lake, "bkt", "u/1", NULL, &up, NULL), 0);
    assert_int_equal(lake_upload_create(f->lake, "bkt", "v/1", NULL, &other, NULL), 0);
    struct lake_lc_when when;
    assert_int_equal(lake_lifecycle_abort_date(f->lake, "bkt", "u/1", up.initiated_ms, &when), 1);
    assert_int_equal(when.date_ms, lake_lifecycle_due(up.initiated_ms, 2));
    struct lake_lc_stats st = {0};
    assert_int_equal(lake_lifecycle_sweep(f->lake, clock_now_ms() + LAKE_LC_DAY_MS, &st), 0);
    assert_int_equal(st.aborted, 0);
    assert_int_equal(lake_lifecycle_sweep(f->lake, clock_now_ms() + 3 * LAKE_LC_DAY_MS, &st), 0);
    assert_int_equal(st.aborted, 1);
    struct lake_upload_info got;
    assert_int_equal(lake_upload_get(f->lake, "bkt", "u/1", up.upload_id, &got, NULL),
                     SL_E(NO_SUCH_UPLOAD));
    assert_int_equal(lake_upload_get(f->lake, "bkt", "v/1", other.upload_id, &got, NULL), 0);
    lake_upload_info_fini(&got);
    lake_upload_info_fini(&up);
    lake_upload_info_fini(&other);
}

/* Keys whose versions straddle listing pages are decided with all their versions. */
static void test_sweep_across_pages(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(lake_versioning_put(f->lake, "bkt", LAKE_VERSIONING_ENABLED, -1, NULL), 0);
    set_rules(f, "{\"Rules\":[{\"ID\":\"n\",\"Status\":\"Enabled\",\"Filter\":{},"
                 "\"NoncurrentVersionExpiration\":{\"NoncurrentDays\":1,"
                 "\"NewerNoncurrentVersions\":2}}]}");
    static const char *const keys[] = {"a", "b", "c", "d"};
    for (size_t k = 0; k < 4; k++) {
        for (int i = 0; i < 5; i++) {
            put(f, keys[k], "v", NULL);
        }
    }
    size_t saved = lake__lc_page;
    lake__lc_page = 3; /* every key spans two pages */
    struct lake_lc_stats st = {0};
    assert_int_equal(lake_lifecycle_sweep(f->lake, clock_now_ms() + 3 * LAKE_LC_DAY_MS, &st), 0);
    lake__lc_page = saved;
    assert_int_equal(st.noncurrent, 4 * 2); /* each key keeps current + 2 noncurrent */
    assert_int_equal(count_versions(f), 4 * 3);
    for (size_t k = 0; k < 4; k++) {
        assert_true(exists(f, keys[k]));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_due_rounds_to_next_midnight),
        cmocka_unit_test(test_clock_advances),
        cmocka_unit_test(test_rule_matching),
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test_setup_teardown(test_sweep_expires_and_survives_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep_noncurrent_keeps_newer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep_aborts_uploads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep_across_pages, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
