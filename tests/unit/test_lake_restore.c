/* Unit tests of storage classes and restores (lake_restore.h): which classes a write may
   name, restore phases and delays, a restore kept with the version over a real lake and
   across a reopen, and conditional deletes checked inside the delete. */
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

#include "core/err.h"
#include "lake/lake.h"
#include "lake/lake_lifecycle.h"
#include "lake/lake_restore.h"

#include "lake_fixture.h"

#define MIN_MS ((int64_t)60 * 1000)
#define HOUR_MS (60 * MIN_MS)

static int setup(void **state)
{
    *state = lake_fixture_create("test_lake_restore", 1);
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

/* ---- classes ---- */

static void test_classes(void **state)
{
    (void)state;
    static const char *const ok[] = {"STANDARD",     "REDUCED_REDUNDANCY",  "STANDARD_IA",
                                     "ONEZONE_IA",   "INTELLIGENT_TIERING", "GLACIER",
                                     "DEEP_ARCHIVE", "GLACIER_IR"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_true(lake_class_writable(ok[i]));
    }
    static const char *const bad[] = {
        "OUTPOSTS", "EXPRESS_ONEZONE", "SNOW", "FSX_OPENZFS", "standard", "", "GLACIER ", NULL};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(lake_class_writable(bad[i]));
    }
    assert_true(lake_class_archived("GLACIER"));
    assert_true(lake_class_archived("DEEP_ARCHIVE"));
    assert_false(lake_class_archived("GLACIER_IR"));
    assert_false(lake_class_archived("STANDARD"));
    char buf[32];
    assert_string_equal(lake_class_of(NULL, buf), "STANDARD");
    assert_string_equal(lake_class_of("{\"x-amz-meta-a\":\"b\"}", buf), "STANDARD");
    assert_string_equal(lake_class_of("{\"x-amz-storage-class\":\"ONEZONE_IA\"}", buf),
                        "ONEZONE_IA");
}

static void test_delays(void **state)
{
    (void)state;
    assert_int_equal(lake_restore_delay_ms("GLACIER", "Expedited"), 5 * MIN_MS);
    assert_int_equal(lake_restore_delay_ms("GLACIER", "Standard"), 5 * HOUR_MS);
    assert_int_equal(lake_restore_delay_ms("GLACIER", NULL), 5 * HOUR_MS);
    assert_int_equal(lake_restore_delay_ms("GLACIER", "Bulk"), 12 * HOUR_MS);
    assert_int_equal(lake_restore_delay_ms("DEEP_ARCHIVE", "Standard"), 12 * HOUR_MS);
    assert_int_equal(lake_restore_delay_ms("DEEP_ARCHIVE", "Bulk"), 48 * HOUR_MS);
    assert_int_equal(lake_restore_delay_ms("DEEP_ARCHIVE", "Expedited"), -1);
    assert_int_equal(lake_restore_delay_ms("GLACIER", "Fast"), -1);
}

/* ---- phases ---- */

static void test_restore_phases(void **state)
{
    (void)state;
    const char *glacier = "{\"x-amz-storage-class\":\"GLACIER\"}";
    int64_t t0 = utc_ms(2026, 3, 10, 9, 0);
    assert_false(lake_restore_readable(glacier, t0));
    assert_true(lake_restore_readable(NULL, t0));
    assert_true(lake_restore_readable("{\"x-amz-storage-class\":\"GLACIER_IR\"}", t0));

    char *m1 = NULL;
    assert_int_equal(lake_restore_apply(glacier, "Expedited", 2, t0, &m1), LAKE_RESTORE_STARTED);
    struct lake_restore_state st;
    lake_restore_state(m1, t0, &st);
    assert_int_equal(st.phase, LAKE_RESTORE_ONGOING);
    assert_int_equal(st.ready_ms, t0 + 5 * MIN_MS);
    /* 2 days after it is ready, to the next midnight UTC */
    assert_int_equal(st.expiry_ms, utc_ms(2026, 3, 13, 0, 0));
    assert_false(lake_restore_readable(m1, t0 + 4 * MIN_MS));
    char *busy = NULL;
    assert_int_equal(lake_restore_apply(m1, "Standard", 1, t0 + MIN_MS, &busy),
                     SL_E(RESTORE_IN_PROGRESS));
    assert_null(busy);

    lake_restore_state(m1, t0 + 5 * MIN_MS, &st);
    assert_int_equal(st.phase, LAKE_RESTORE_DONE);
    assert_true(lake_restore_readable(m1, t0 + 5 * MIN_MS));
    assert_true(lake_restore_readable(m1, utc_ms(2026, 3, 12, 23, 59)));
    assert_false(lake_restore_readable(m1, utc_ms(2026, 3, 13, 0, 0))); /* lapsed */
    lake_restore_state(m1, utc_ms(2026, 3, 13, 0, 0), &st);
    assert_int_equal(st.phase, LAKE_RESTORE_NONE);

    /* Asked again while restored: the copy is kept, its days counted from now. */
    char *m2 = NULL;
    int64_t t1 = utc_ms(2026, 3, 11, 15, 0);
    assert_int_equal(lake_restore_apply(m1, "Bulk", 5, t1, &m2), LAKE_RESTORE_EXTENDED);
    lake_restore_state(m2, t1, &st);
    assert_int_equal(st.phase, LAKE_RESTORE_DONE);
    assert_int_equal(st.expiry_ms, utc_ms(2026, 3, 17, 0, 0));

    /* Once lapsed, a new request starts a new restore. */
    char *m3 = NULL;
    int64_t t2 = utc_ms(2026, 4, 1, 0, 0);
    assert_int_equal(lake_restore_apply(m2, "Bulk", 1, t2, &m3), LAKE_RESTORE_STARTED);
    lake_restore_state(m3, t2, &st);
    assert_int_equal(st.phase, LAKE_RESTORE_ONGOING);
    assert_int_equal(st.ready_ms, t2 + 12 * HOUR_MS);
    /* the other stored headers are kept */
    json_t *doc = json_loads(m3, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(doc, "x-amz-storage-class")), "GLACIER");
    json_decref(doc);
    free(m1);
    free(m2);
    free(m3);

    char *none = NULL;
    assert_int_equal(lake_restore_apply(NULL, "Standard", 1, t0, &none),
                     SL_E(INVALID_OBJECT_STATE));
    assert_int_equal(
        lake_restore_apply("{\"x-amz-storage-class\":\"DEEP_ARCHIVE\"}", "Expedited", 1, t0, &none),
        SL_E(INVALID_ARGUMENT_S3));
    assert_null(none);
}

/* ---- over a lake ---- */

static void put(struct fixture *f, const char *key, const char *body, const char *meta,
                struct lake_object_info *info)
{
    struct lake_put_opts opts = {.meta_json = meta};
    assert_int_equal(lake_object_put(f->lake, "bkt", key, body, strlen(body), &opts, info, NULL),
                     0);
}

static void test_restore_kept_with_the_version(void **state)
{
    struct fixture *f = *state;
    struct lake_object_info info;
    put(f, "cold", "frozen", "{\"x-amz-storage-class\":\"GLACIER\"}", &info);
    lake_object_info_fini(&info);
    struct err_info err;
    err_clear(&err);
    assert_int_equal(lake_object_restore(f->lake, "bkt", "cold", NULL, "Expedited", 1, NULL, &err),
                     LAKE_RESTORE_STARTED);
    assert_int_equal(lake_object_restore(f->lake, "bkt", "cold", NULL, "Expedited", 1, NULL, &err),
                     SL_E(RESTORE_IN_PROGRESS));
    assert_string_equal(err.message, "Object restore is already in progress");
    assert_int_equal(lake_object_restore(f->lake, "bkt", "nope", NULL, "Standard", 1, NULL, &err),
                     SL_E(NO_SUCH_KEY));

    /* the restore survives a reopen */
    close_lake(f);
    assert_int_equal(open_lake(f), 0);
    assert_int_equal(lake_object_head(f->lake, "bkt", "cold", &info, NULL), 0);
    int64_t now = lake_lifecycle_now_ms();
    struct lake_restore_state st;
    lake_restore_state(info.meta_json, now, &st);
    assert_int_equal(st.phase, LAKE_RESTORE_ONGOING);
    assert_true(st.ready_ms > now && st.ready_ms <= now + 5 * MIN_MS);
    assert_true(lake_restore_readable(info.meta_json, st.ready_ms));
    lake_object_info_fini(&info);

    /* a STANDARD object cannot be restored */
    put(f, "hot", "warm", NULL, NULL);
    assert_int_equal(lake_object_restore(f->lake, "bkt", "hot", NULL, "Standard", 1, NULL, &err),
                     SL_E(INVALID_OBJECT_STATE));
}

static void test_meta_put_compares_and_sets(void **state)
{
    struct fixture *f = *state;
    struct lake_object_info info;
    put(f, "k", "body", "{\"x-amz-storage-class\":\"GLACIER\"}", &info);
    const char *next = "{\"x-amz-storage-class\":\"DEEP_ARCHIVE\"}";
    assert_int_equal(lake__version_meta_put(f->lake, "bkt", &info, next), 1);
    /* info's headers are stale now: a second writer from the same read loses */
    assert_int_equal(lake__version_meta_put(f->lake, "bkt", &info, "{}"), 0);
    lake_object_info_fini(&info);
    assert_int_equal(lake_object_head(f->lake, "bkt", "k", &info, NULL), 0);
    assert_string_equal(info.meta_json, next);
    lake_object_info_fini(&info);
}

static void test_delete_conditions(void **state)
{
    struct fixture *f = *state;
    struct lake_object_info info;
    put(f, "k", "one", NULL, &info);
    char etag[LAKE_ETAG_MAX];
    snprintf(etag, sizeof(etag), "%s", info.etag);
    int64_t mtime_s = info.last_modified_ms / 1000;
    lake_object_info_fini(&info);

    struct lake_delete_result res;
    struct err_info err;
    struct lake_delete_cond c = {
        .if_match = "\"0123\"", .if_mtime_s = LAKE_COND_NONE, .if_size = LAKE_COND_NONE};
    assert_int_equal(lake_version_delete_if(f->lake, "bkt", "k", NULL, 0, &c, &res, &err),
                     SL_E(PRECONDITION_FAILED));
    c = (struct lake_delete_cond){.if_match = NULL, .if_mtime_s = LAKE_COND_NONE, .if_size = 4};
    assert_int_equal(lake_version_delete_if(f->lake, "bkt", "k", NULL, 0, &c, &res, &err),
                     SL_E(PRECONDITION_FAILED));
    c = (struct lake_delete_cond){
        .if_match = NULL, .if_mtime_s = mtime_s + 1, .if_size = LAKE_COND_NONE};
    assert_int_equal(lake_version_delete_if(f->lake, "bkt", "k", NULL, 0, &c, &res, &err),
                     SL_E(PRECONDITION_FAILED));
    assert_int_equal(lake_object_head(f->lake, "bkt", "k", &info, NULL), 0); /* still there */
    lake_object_info_fini(&info);
    c = (struct lake_delete_cond){.if_match = etag, .if_mtime_s = mtime_s, .if_size = 3};
    assert_int_equal(lake_version_delete_if(f->lake, "bkt", "k", NULL, 0, &c, &res, &err), 0);
    assert_int_equal(lake_object_head(f->lake, "bkt", "k", &info, NULL), SL_E(NO_SUCH_KEY));
    lake_object_info_fini(&info);
    /* If-Match on a missing key: NoSuchKey; the other conditions alone: nothing to do */
    c = (struct lake_delete_cond){
        .if_match = "*", .if_mtime_s = LAKE_COND_NONE, .if_size = LAKE_COND_NONE};
    assert_int_equal(lake_version_delete_if(f->lake, "bkt", "k", NULL, 0, &c, &res, &err),
                     SL_E(NO_SUCH_KEY));
    c.if_match = NULL;
    c.if_size = 3;
    assert_int_equal(lake_version_delete_if(f->lake, "bkt", "k", NULL, 0, &c, &res, &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classes),
        cmocka_unit_test(test_delays),
        cmocka_unit_test(test_restore_phases),
        cmocka_unit_test_setup_teardown(test_restore_kept_with_the_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta_put_compares_and_sets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_conditions, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
