/* Unit tests of versioning, object lock and conditional writes in the lake (lake.h). */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/store.h"
#include "lake/lake.h"

#include "lake_fixture.h"

static int setup(void **state)
{
    *state = lake_fixture_create("test_lake_versions", 1);
    return *state != NULL ? 0 : -1;
}
static int teardown(void **state)
{
    lake_fixture_destroy(*state);
    return 0;
}

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

static int append_sink(void *arg, const uint8_t *data, size_t len)
{
    buf_append(arg, data, len);
    return 0;
}

static void read_version(struct fixture *f, const char *key, const char *vid, const char *want)
{
    struct lake_object_info info;
    struct lake_reader *rd = NULL;
    assert_int_equal(lake_reader_open_version(f->lake, "bkt", key, vid, NULL, &info, &rd, NULL), 0);
    struct buf got;
    buf_init(&got);
    assert_int_equal(lake_reader_range(rd, 0, info.size_bytes, append_sink, &got), 0);
    assert_int_equal(got.len, strlen(want));
    assert_memory_equal(got.data, want, got.len);
    buf_fini(&got);
    lake_reader_close(rd);
    lake_object_info_fini(&info);
}

/* In-process writers (Firehose, Athena) get the same versions as S3 clients. */
static void test_versions_and_markers(void **state)
{
    struct fixture *f = *state;
    char v0[LAKE_VERSION_ID_MAX];
    char v1[LAKE_VERSION_ID_MAX];
    char v2[LAKE_VERSION_ID_MAX];
    put(f, "k", "before", v0);
    assert_string_equal(v0, "");
    assert_int_equal(lake_versioning_put(f->lake, "bkt", LAKE_VERSIONING_ENABLED, -1, NULL), 0);
    put(f, "k", "one", v1);
    put(f, "k", "two", v2);
    assert_int_equal(strlen(v1), 32);
    assert_true(lake_version_id_valid(v1));
    assert_string_not_equal(v1, v2);
    read_version(f, "k", NULL, "two");
    read_version(f, "k", v1, "one");
    read_version(f, "k", "null", "before");

    /* A plain delete leaves a marker; readers of the current object see none. */
    assert_int_equal(lake_object_delete(f->lake, "bkt", "k", NULL), 0);
    struct lake_object_info info;
    struct err_info err;
    assert_int_equal(lake_object_head(f->lake, "bkt", "k", NULL, &err), SL_E(NO_SUCH_KEY));
    assert_int_equal(lake_version_open(f->lake, "bkt", "k", NULL, &info, NULL, &err),
                     SL_E(NO_SUCH_KEY));
    assert_true(info.delete_marker);
    char marker[LAKE_VERSION_ID_MAX];
    snprintf(marker, sizeof(marker), "%s", info.version_id);
    lake_object_info_fini(&info);
    assert_int_equal(lake_version_open(f->lake, "bkt", "k", marker, &info, NULL, &err),
                     SL_E(METHOD_NOT_ALLOWED));
    lake_object_info_fini(&info);

    struct lake_version_list list;
    struct lake_version_list_opts o = {.max_keys = 1000};
    assert_int_equal(lake_version_list(f->lake, "bkt", &o, &list, NULL), 0);
    assert_int_equal(list.n_versions, 4);
    assert_true(list.versions[0].delete_marker && list.versions[0].is_latest);
    assert_string_equal(list.versions[1].version_id, v2);
    assert_string_equal(list.versions[3].version_id, "");
    lake_version_list_fini(&list);

    /* Removing the marker makes the newest object current again. */
    struct lake_delete_result res;
    assert_int_equal(lake_version_delete(f->lake, "bkt", "k", marker, 0, &res, NULL), 0);
    assert_true(res.delete_marker);
    read_version(f, "k", NULL, "two");
    assert_int_equal(lake_version_delete(f->lake, "bkt", "k", v2, 0, &res, NULL), 0);
    read_version(f, "k", NULL, "one");
    assert_int_equal(lake_bucket_delete(f->lake, "bkt", &err), SL_E(BUCKET_NOT_EMPTY));
}

static void test_versions_survive_reopen(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(lake_versioning_put(f->lake, "bkt", LAKE_VERSIONING_ENABLED, -1, NULL), 0);
    char v1[LAKE_VERSION_ID_MAX];
    put(f, "k", "one", v1);
    put(f, "k", "two", NULL);
    close_lake(f);
    assert_int_equal(open_lake(f), 0);
    read_version(f, "k", v1, "one");
}

static void test_conditional_writes(void **state)
{
    struct fixture *f = *state;
    struct lake_put_opts create = {.if_none_match = 1};
    struct err_info err;
    assert_int_equal(lake_object_put(f->lake, "bkt", "c", "a", 1, &create, NULL, &err), 0);
    assert_int_equal(lake_object_put(f->lake, "bkt", "c", "b", 1, &create, NULL, &err),
                     SL_E(PRECONDITION_FAILED));
    struct lake_object_info info;
    assert_int_equal(lake_object_head(f->lake, "bkt", "c", &info, NULL), 0);
    char quoted[LAKE_ETAG_MAX + 2];
    snprintf(quoted, sizeof(quoted), "\"%s\"", info.etag);
    lake_object_info_fini(&info);
    struct lake_put_opts match = {.if_match = quoted};
    assert_int_equal(lake_object_put(f->lake, "bkt", "c", "c", 1, &match, NULL, &err), 0);
    assert_int_equal(lake_object_put(f->lake, "bkt", "c", "d", 1, &match, NULL, &err),
                     SL_E(PRECONDITION_FAILED));
    assert_int_equal(lake_object_put(f->lake, "bkt", "none", "d", 1, &match, NULL, &err),
                     SL_E(NO_SUCH_KEY));
}

static void test_object_lock(void **state)
{
    struct fixture *f = *state;
    struct lake_put_opts lock = {.lock_mode = "GOVERNANCE",
                                 .lock_until_ms = clock_now_ms() + 3600 * 1000};
    struct err_info err;
    assert_int_equal(lake_object_put(f->lake, "bkt", "l", "x", 1, &lock, NULL, &err),
                     SL_E(INVALID_REQUEST));
    struct lake_lock_config cfg = {.enabled = 1};
    assert_int_equal(lake_lock_config_put(f->lake, "bkt", &cfg, 0, &err),
                     SL_E(INVALID_BUCKET_STATE));
    assert_int_equal(lake_lock_config_put(f->lake, "bkt", &cfg, 1, &err), 0);
    struct lake_object_info info;
    assert_int_equal(lake_object_put(f->lake, "bkt", "l", "x", 1, &lock, &info, &err), 0);
    char vid[LAKE_VERSION_ID_MAX];
    snprintf(vid, sizeof(vid), "%s", info.version_id);
    lake_object_info_fini(&info);
    struct lake_delete_result res;
    assert_int_equal(lake_version_delete(f->lake, "bkt", "l", vid, 0, &res, &err),
                     SL_E(S3_ACCESS_DENIED));
    assert_int_equal(lake_retention_put(f->lake, "bkt", "l", vid, "COMPLIANCE",
                                        clock_now_ms() + 7200 * 1000, 0, &err),
                     0);
    assert_int_equal(lake_retention_put(f->lake, "bkt", "l", vid, NULL, 0, 1, &err),
                     SL_E(S3_ACCESS_DENIED));
    assert_int_equal(lake_version_delete(f->lake, "bkt", "l", vid, 1, &res, &err),
                     SL_E(S3_ACCESS_DENIED));
    assert_int_equal(lake_versioning_put(f->lake, "bkt", LAKE_VERSIONING_SUSPENDED, -1, &err),
                     SL_E(INVALID_BUCKET_STATE));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_versions_and_markers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_versions_survive_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conditional_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_object_lock, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
