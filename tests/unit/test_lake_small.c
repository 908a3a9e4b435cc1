/*
 * Unit tests of small objects (src/lake/lake_small.c): bytes committed with the row in
 * one flush shared by concurrent writers, stored sealed (never plaintext), read back
 * unchanged through readers, versions and views, and gone with the last row naming them.
 */
#include <dirent.h>
#include <fcntl.h>
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
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/file.h"
#include "core/store.h"
#include "lake/lake.h"
#include "lake/lake_int.h"

#include "lake_fixture.h"

static int setup(void **state)
{
    *state = lake_fixture_create("test_lake_small", 1);
    return *state != NULL ? 0 : -1;
}
static int teardown(void **state)
{
    lake_fixture_destroy(*state);
    return 0;
}

static int n_files;
static int count_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)path;
    (void)sb;
    (void)ftw;
    n_files += flag == FTW_F;
    return 0;
}

static int count_files(struct fixture *f)
{
    char dir[700];
    snprintf(dir, sizeof(dir), "%s/lake/objects", f->dir);
    n_files = 0;
    nftw(dir, count_entry, 16, FTW_PHYS);
    return n_files;
}

static int count_small(struct fixture *f)
{
    struct store_stmt *s;
    store_lock(f->st);
    assert_int_equal(store_prepare(f->st, "SELECT count(*) FROM lake_small", &s), 0);
    assert_int_equal(store_step(s), 1);
    int n = (int)store_col_int64(s, 0);
    store_finalize(s);
    store_unlock(f->st);
    return n;
}

static void fill(uint8_t *p, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 8));
    }
}

static void put(struct fixture *f, const char *key, const void *data, size_t len)
{
    struct err_info err;
    assert_int_equal(lake_object_put(f->lake, "bkt", key, data, len, NULL, NULL, &err), 0);
}

static void assert_bytes(struct fixture *f, const char *key, const void *want, size_t len)
{
    struct buf b;
    buf_init(&b);
    struct err_info err;
    assert_int_equal(lake_object_read(f->lake, "bkt", key, &b, NULL, &err), 0);
    assert_int_equal(b.len, len);
    assert_memory_equal(b.data, want, len);
    buf_fini(&b);
}

static int buf_sink_test(void *arg, const uint8_t *data, size_t len)
{
    struct buf *b = arg;
    return buf_append(b, data, len);
}

static void test_one_small_put_costs_one_flush(void **state)
{
    struct fixture *f = *state;
    uint8_t data[4096];
    fill(data, sizeof(data), 1);
    put(f, "warm", data, sizeof(data));
    unsigned long before = file_flush_count();
    put(f, "k", data, sizeof(data));
    assert_int_equal(file_flush_count() - before, 1);
    assert_int_equal(count_files(f), 0);
    assert_bytes(f, "k", data, sizeof(data));
    /* A large object keeps its three: its file, its directory entry, its row. */
    size_t big_len = (size_t)LAKE_SMALL_MAX + 1;
    uint8_t *big = malloc(big_len);
    fill(big, big_len, 2);
    before = file_flush_count();
    put(f, "big", big, big_len);
    assert_int_equal(file_flush_count() - before, 3);
    assert_int_equal(count_files(f), 1);
    assert_bytes(f, "big", big, big_len);
    free(big);
}

static void test_size_boundary_and_empty_object(void **state)
{
    struct fixture *f = *state;
    size_t len = (size_t)LAKE_SMALL_MAX;
    uint8_t *data = malloc(len + 1);
    fill(data, len + 1, 3);
    put(f, "at-limit", data, len);
    put(f, "empty", "", 0);
    assert_int_equal(count_files(f), 0);
    assert_int_equal(count_small(f), 2);
    put(f, "over-limit", data, len + 1);
    assert_int_equal(count_files(f), 1);
    assert_bytes(f, "at-limit", data, len);
    assert_bytes(f, "over-limit", data, len + 1);
    assert_bytes(f, "empty", "", 0);
    /* Streamed in pieces across the limit, the writer moves to a file. */
    struct lake_writer *w;
    assert_int_equal(lake_writer_open(f->lake, LAKE_CHECKSUM_CRC32, &w), 0);
    assert_int_equal(lake_writer_write(w, data, len - 10), 0);
    assert_int_equal(lake_writer_write(w, data + len - 10, 11), 0);
    struct err_info err;
    assert_int_equal(lake_writer_commit(w, "bkt", "streamed", NULL, NULL, &err), 0);
    lake_writer_destroy(w);
    assert_int_equal(count_files(f), 2);
    assert_bytes(f, "streamed", data, len + 1);
    free(data);
}

static void test_open_view_replace_delete(void **state)
{
    struct fixture *f = *state;
    uint8_t data[5000];
    fill(data, sizeof(data), 4);
    put(f, "k", data, sizeof(data));
    struct err_info err;
    struct lake_object_info info;
    int fd = -1;
    assert_int_equal(lake_object_open(f->lake, "bkt", "k", &info, &fd, &err), 0);
    assert_int_equal(info.size_bytes, (int64_t)sizeof(data));
    lake_object_info_fini(&info);
    /* No file to name: readers that need a path take a view of the plaintext. */
    char *path = NULL;
    assert_int_equal(lake_object_path(f->lake, "bkt", "k", &path, &err), SL_E(INVALID_REQUEST));
    assert_null(path);
    struct lake_view *v = NULL;
    const char *vpath = NULL;
    assert_int_equal(lake_object_view(f->lake, "bkt", "k", &v, &vpath, &err), 0);
    uint8_t got[5000];
    int pfd = open(vpath, O_RDONLY);
    assert_true(pfd >= 0);
    assert_int_equal(pread(pfd, got, sizeof(got), 0), (ssize_t)sizeof(got));
    assert_memory_equal(got, data, sizeof(data));
    close(pfd);
    lake_view_release(v);
    assert_int_equal(count_files(f), 0);
    /* A range through the reader. */
    struct lake_reader *r = NULL;
    assert_int_equal(lake_reader_open(f->lake, "bkt", "k", NULL, NULL, &r, &err), 0);
    struct buf b;
    buf_init(&b);
    assert_int_equal(lake_reader_range(r, 1000, 100, buf_sink_test, &b), 0);
    assert_int_equal(b.len, 100);
    assert_memory_equal(b.data, data + 1000, 100);
    buf_fini(&b);
    lake_reader_close(r);
    /* Replaced: the new bytes are read, the old bytes are gone, and the descriptor opened
       before still reads the old bytes. */
    uint8_t next[300];
    fill(next, sizeof(next), 5);
    put(f, "k", next, sizeof(next));
    assert_int_equal(count_files(f), 0);
    assert_int_equal(count_small(f), 1);
    assert_bytes(f, "k", next, sizeof(next));
    assert_int_equal(pread(fd, got, 100, 1000), 100);
    assert_memory_equal(got, data + 1000, 100);
    close(fd);
    assert_int_equal(lake_object_delete(f->lake, "bkt", "k", &err), 0);
    assert_int_equal(count_small(f), 0);
    assert_int_equal(count_files(f), 0);
    assert_int_equal(lake_object_open(f->lake, "bkt", "k", NULL, &fd, &err), SL_E(NO_SUCH_KEY));
}

static void test_stored_sealed_never_plaintext(void **state)
{
    struct fixture *f = *state;
    char text[2000];
    for (size_t i = 0; i < sizeof(text); i++) {
        text[i] = "CANARY-PLAINTEXT-"[i % 17];
    }
    put(f, "k", text, sizeof(text));
    struct store_stmt *s;
    store_lock(f->st);
    assert_int_equal(store_prepare(f->st, "SELECT bytes FROM lake_small", &s), 0);
    assert_int_equal(store_step(s), 1);
    size_t len = 0;
    const uint8_t *p = store_col_blob(s, 0, &len);
    /* The sealed chunk, as a file of the object would hold it. */
    assert_int_equal(len, (size_t)lake__sealed_len(sizeof(text)));
    assert_null(memmem(p, len, "CANARY", 6));
    store_finalize(s);
    store_unlock(f->st);
    assert_bytes(f, "k", text, sizeof(text));
}

static void test_small_objects_survive_reopen(void **state)
{
    struct fixture *f = *state;
    uint8_t data[4096];
    fill(data, sizeof(data), 6);
    put(f, "a", data, sizeof(data));
    put(f, "b", data, 10);
    close_lake(f);
    assert_int_equal(open_lake(f), 0);
    assert_bytes(f, "a", data, sizeof(data));
    assert_bytes(f, "b", data, 10);
    assert_int_equal(count_files(f), 0);
    assert_int_equal(count_small(f), 2);
}

/* Reads version vid of bkt/key whole. */
static void assert_version(struct fixture *f, const char *key, const char *vid, const void *want,
                           size_t len)
{
    struct err_info err;
    struct lake_object_info info;
    struct lake_reader *r = NULL;
    assert_int_equal(lake_reader_open_version(f->lake, "bkt", key, vid, NULL, &info, &r, &err), 0);
    assert_int_equal(info.size_bytes, (int64_t)len);
    struct buf b;
    buf_init(&b);
    assert_int_equal(lake_reader_range(r, 0, (int64_t)len, buf_sink_test, &b), 0);
    assert_int_equal(b.len, len);
    assert_memory_equal(b.data, want, len);
    buf_fini(&b);
    lake_reader_close(r);
    lake_object_info_fini(&info);
}

static void put_version(struct fixture *f, const char *key, const void *data, size_t len,
                        char vid[LAKE_VERSION_ID_MAX])
{
    struct err_info err;
    struct lake_object_info info;
    assert_int_equal(lake_object_put(f->lake, "bkt", key, data, len, NULL, &info, &err), 0);
    snprintf(vid, LAKE_VERSION_ID_MAX, "%s", info.version_id);
    lake_object_info_fini(&info);
}

static void test_versions_keep_bytes_until_the_last_row_goes(void **state)
{
    struct fixture *f = *state;
    struct err_info err;
    assert_int_equal(lake_versioning_put(f->lake, "bkt", LAKE_VERSIONING_ENABLED, -1, &err), 0);
    uint8_t one[1000], two[2000];
    fill(one, sizeof(one), 7);
    fill(two, sizeof(two), 8);
    char v1[LAKE_VERSION_ID_MAX], v2[LAKE_VERSION_ID_MAX];
    put_version(f, "k", one, sizeof(one), v1);
    put_version(f, "k", two, sizeof(two), v2);
    assert_string_not_equal(v1, v2);
    /* The overwritten version moved to lake_versions with its bytes. */
    assert_int_equal(count_small(f), 2);
    assert_version(f, "k", v1, one, sizeof(one));
    assert_version(f, "k", v2, two, sizeof(two));
    assert_bytes(f, "k", two, sizeof(two));
    /* A delete without a version id adds a marker: every version keeps its bytes. */
    assert_int_equal(lake_object_delete(f->lake, "bkt", "k", &err), 0);
    assert_int_equal(count_small(f), 2);
    assert_version(f, "k", v2, two, sizeof(two));
    /* Deleting a version by id drops its bytes alone. */
    struct lake_delete_result res;
    assert_int_equal(lake_version_delete(f->lake, "bkt", "k", v1, 0, &res, &err), 0);
    assert_int_equal(count_small(f), 1);
    assert_version(f, "k", v2, two, sizeof(two));
    assert_int_equal(lake_version_delete(f->lake, "bkt", "k", v2, 0, &res, &err), 0);
    assert_int_equal(count_small(f), 0);
    /* Suspended: a new null version replaces the old null version, bytes and all. */
    assert_int_equal(lake_versioning_put(f->lake, "bkt", LAKE_VERSIONING_SUSPENDED, -1, &err), 0);
    char n1[LAKE_VERSION_ID_MAX], n2[LAKE_VERSION_ID_MAX], v3[LAKE_VERSION_ID_MAX];
    put_version(f, "s", one, sizeof(one), n1);
    assert_int_equal(count_small(f), 1);
    put_version(f, "s", two, sizeof(two), n2);
    assert_int_equal(count_small(f), 1);
    assert_bytes(f, "s", two, sizeof(two));
    /* Enabled again: the null version moves aside and a version by id deleted promotes it. */
    assert_int_equal(lake_versioning_put(f->lake, "bkt", LAKE_VERSIONING_ENABLED, -1, &err), 0);
    put_version(f, "s", one, sizeof(one), v3);
    assert_int_equal(count_small(f), 2);
    assert_int_equal(lake_version_delete(f->lake, "bkt", "s", v3, 0, &res, &err), 0);
    assert_int_equal(count_small(f), 1);
    assert_bytes(f, "s", two, sizeof(two));
    assert_version(f, "s", "null", two, sizeof(two));
    assert_int_equal(lake_version_delete(f->lake, "bkt", "s", "null", 0, &res, &err), 0);
    assert_int_equal(count_small(f), 0);
    assert_int_equal(count_files(f), 0);
}

/* A store that passed migration 7 before migration 5 existed gets the table at open. */
static void test_store_without_the_table_gets_it(void **state)
{
    struct fixture *f = *state;
    store_lock(f->st);
    assert_int_equal(store_exec(f->st, "DROP TABLE lake_small;"
                                       "DROP TRIGGER lake_small_object_gone;"
                                       "DROP TRIGGER lake_small_object_swap;"
                                       "DROP TRIGGER lake_small_version_gone;"
                                       "DROP TRIGGER lake_small_version_swap;"),
                     0);
    store_unlock(f->st);
    close_lake(f);
    assert_int_equal(open_lake(f), 0);
    assert_true(store_schema_version(f->st, "lake") >= 7);
    uint8_t data[100];
    fill(data, sizeof(data), 9);
    put(f, "k", data, sizeof(data));
    assert_int_equal(count_small(f), 1);
    assert_bytes(f, "k", data, sizeof(data));
    struct err_info err;
    assert_int_equal(lake_object_delete(f->lake, "bkt", "k", &err), 0);
    assert_int_equal(count_small(f), 0);
}

struct putter {
    struct lake *lake;
    int idx;
    int failures;
};

enum { THREADS = 8, PUTS_PER_THREAD = 100 };

static void *putter_run(void *arg)
{
    struct putter *p = arg;
    uint8_t data[4096];
    for (int i = 0; i < PUTS_PER_THREAD; i++) {
        char key[64];
        snprintf(key, sizeof(key), "t%d/%d", p->idx, i);
        fill(data, sizeof(data), (unsigned)(p->idx * 1000 + i));
        struct err_info err;
        if (lake_object_put(p->lake, "bkt", key, data, sizeof(data), NULL, NULL, &err) != 0) {
            p->failures++;
        }
    }
    return NULL;
}

static void test_concurrent_small_puts_share_flushes(void **state)
{
    struct fixture *f = *state;
    pthread_t th[THREADS];
    struct putter p[THREADS];
    unsigned long before = file_flush_count();
    for (int i = 0; i < THREADS; i++) {
        p[i] = (struct putter){.lake = f->lake, .idx = i};
        pthread_create(&th[i], NULL, putter_run, &p[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(p[i].failures, 0);
    }
    unsigned long flushes = file_flush_count() - before;
    print_message("%d puts, %lu flushes\n", THREADS * PUTS_PER_THREAD, flushes);
    assert_true(flushes < THREADS * PUTS_PER_THREAD);
    uint8_t want[4096];
    for (int t = 0; t < THREADS; t++) {
        for (int i = 0; i < PUTS_PER_THREAD; i++) {
            char key[64];
            snprintf(key, sizeof(key), "t%d/%d", t, i);
            fill(want, sizeof(want), (unsigned)(t * 1000 + i));
            assert_bytes(f, key, want, sizeof(want));
        }
    }
    assert_int_equal(count_files(f), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_small_put_costs_one_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_size_boundary_and_empty_object, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_view_replace_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stored_sealed_never_plaintext, setup, teardown),
        cmocka_unit_test_setup_teardown(test_versions_keep_bytes_until_the_last_row_goes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_small_objects_survive_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_without_the_table_gets_it, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_small_puts_share_flushes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
