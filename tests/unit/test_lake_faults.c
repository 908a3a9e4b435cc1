/*
 * The lake under disk faults injected through the core file seam, as the segment log is
 * tested in test_seglog_faults.c: a failed fsync of the new file, a full disk, a short
 * write, a failed rename and a failed fsync of an objects/ directory, during PutObject,
 * UploadPart and CompleteMultipartUpload. In every case the call answers a clean error
 * (SL_E(IO), S3's 500 InternalError; SL_E(UNAVAILABLE), 503 ServiceUnavailable, for a
 * full disk), leaves no temporary or unreferenced file and no metadata row, the key's
 * previous version stays readable, and the failure is sticky exactly where
 * lake_local.c's blob_seal says: a directory's failed fsync refuses further writes
 * until the lake is reopened; a failure confined to the discarded file does not.
 *
 * Also here: CompleteMultipartUpload racing UploadPart and AbortMultipartUpload on
 * other threads answers as S3 does and never reports corruption. The race test prints
 * its seed (the racing thread's delays); LAKE_RACE_SEED=<n> replays one.
 */
#include <dirent.h>
#include <errno.h>
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/file.h"
#include "core/store.h"
#include "lake/lake.h"
#include "lake/lake_int.h"

#include "lake_fixture.h"

static struct fixture *fixture_create(void)
{
    struct fixture *f = lake_fixture_create("test_lake_faults", 1);
    assert_non_null(f);
    return f;
}

static void fixture_destroy(struct fixture *f)
{
    file_fault_clear();
    lake_fixture_destroy(f);
}

static int count_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw);
static int n_counted;
static int count_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)path;
    (void)sb;
    (void)ftw;
    if (flag == FTW_F) {
        n_counted++;
    }
    return 0;
}

/* Regular files under the lake's sub (tmp or objects). */
static int count_files(const struct fixture *f, const char *sub)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/lake/%s", f->dir, sub);
    n_counted = 0;
    nftw(path, count_entry, 16, FTW_PHYS);
    return n_counted;
}

static void put(struct fixture *f, const char *key, const char *body)
{
    struct err_info err;
    assert_int_equal(lake_object_put(f->lake, "bkt", key, body, strlen(body), NULL, NULL, &err), 0);
}

static void assert_body(struct fixture *f, const char *key, const char *want)
{
    struct buf b;
    buf_init(&b);
    struct err_info err;
    assert_int_equal(lake_object_read(f->lake, "bkt", key, &b, NULL, &err), 0);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    buf_fini(&b);
}

/* Writes part n of upload id: len bytes of fill. */
static int write_part(struct fixture *f, const char *id, int n, size_t len, char fill,
                      struct lake_part_info *part, struct err_info *err)
{
    char *data = malloc(len);
    memset(data, fill, len);
    struct lake_writer *w = NULL;
    int rc = lake_writer_open(f->lake, LAKE_CHECKSUM_NONE, &w);
    struct lake_upload_info up;
    if (rc == 0 && (rc = lake_upload_get(f->lake, "bkt", "k", id, &up, err)) == 0) {
        /* A part is sealed under its upload's data key. */
        rc = lake_writer_encrypt(w, up.sse, NULL, err);
        lake_upload_info_fini(&up);
    }
    if (rc == 0) {
        rc = lake_writer_write(w, data, len);
    }
    if (rc == 0) {
        rc = lake_writer_commit_part(w, "bkt", "k", id, n, NULL, part, err);
    } else {
        err_set(err, rc, "write failed");
    }
    lake_writer_destroy(w);
    free(data);
    return rc;
}

struct fault_case {
    const char *name;
    enum file_op op;
    int err;
    size_t short_len;
    int want_rc;
    int sticky;
};

static const struct fault_case cases[] = {
    {"fsync of the new file fails", FILE_OP_SYNC, EIO, 0, SL_E(IO), 0},
    {"disk full on write", FILE_OP_WRITE, ENOSPC, 0, SL_E(UNAVAILABLE), 0},
    {"short write, then disk full", FILE_OP_WRITE, ENOSPC, 7, SL_E(UNAVAILABLE), 0},
    {"write fails with EIO", FILE_OP_WRITE, EIO, 0, SL_E(IO), 0},
    {"fsync of the new file: no space", FILE_OP_SYNC, ENOSPC, 0, SL_E(UNAVAILABLE), 0},
    {"temporary file cannot be created", FILE_OP_OPEN, ENOSPC, 0, SL_E(UNAVAILABLE), 0},
    {"rename into objects/ fails", FILE_OP_RENAME, EIO, 0, SL_E(IO), 1},
    {"fsync of the objects/ directory fails", FILE_OP_DIR_SYNC, EIO, 0, SL_E(IO), 1},
};
#define N_CASES (sizeof(cases) / sizeof(cases[0]))

/* After a failed call: the error is clean, no debris, and stickiness is as the case says. */
static void check_after(struct fixture *f, const struct fault_case *c, int rc,
                        const struct err_info *err, int objects_before)
{
    print_message("  %s\n", c->name);
    assert_int_equal(rc, c->want_rc);
    assert_int_equal(err->code, c->want_rc);
    assert_true(err->message[0] != '\0');
    file_fault_clear();
    assert_int_equal(count_files(f, "tmp"), 0);
    assert_int_equal(count_files(f, "objects"), objects_before);
    assert_body(f, "k", "previous version");
    struct err_info e2;
    int next = lake_object_put(f->lake, "bkt", "other", "x", 1, NULL, NULL, &e2);
    if (c->sticky) {
        /* Refused until recovery; reads still work; reopening recovers. */
        assert_int_equal(next, SL_E(IO));
        assert_body(f, "k", "previous version");
        close_lake(f);
        assert_int_equal(open_lake(f), 0);
        assert_int_equal(count_files(f, "objects"), objects_before);
        next = lake_object_put(f->lake, "bkt", "other", "x", 1, NULL, NULL, &e2);
    }
    assert_int_equal(next, 0);
    assert_body(f, "k", "previous version");
}

static void test_put_object_under_each_fault(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_CASES; i++) {
        struct fixture *f = fixture_create();
        put(f, "k", "previous version");
        int before = count_files(f, "objects");
        file_fault_inject(cases[i].op, 1, cases[i].err, cases[i].short_len);
        struct err_info err;
        /* Larger than a small object, so the bytes go through a file of their own. */
        size_t body_len = (size_t)LAKE_SMALL_MAX + 100;
        char *body = malloc(body_len);
        memset(body, 'n', body_len);
        int rc = lake_object_put(f->lake, "bkt", "k", body, body_len, NULL, NULL, &err);
        check_after(f, &cases[i], rc, &err, before);
        /* A new key under the same fault: no row, no file. */
        before = count_files(f, "objects");
        file_fault_inject(cases[i].op, 1, cases[i].err, cases[i].short_len);
        rc = lake_object_put(f->lake, "bkt", "fresh", body, body_len, NULL, NULL, &err);
        free(body);
        assert_int_equal(rc, cases[i].want_rc);
        file_fault_clear();
        assert_int_equal(lake_object_head(f->lake, "bkt", "fresh", NULL, &err), SL_E(NO_SUCH_KEY));
        assert_int_equal(count_files(f, "tmp"), 0);
        assert_int_equal(count_files(f, "objects"), before);
        fixture_destroy(f);
    }
}

static void test_upload_part_under_each_fault(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_CASES; i++) {
        struct fixture *f = fixture_create();
        put(f, "k", "previous version");
        struct err_info err;
        struct lake_upload_info up;
        assert_int_equal(lake_upload_create(f->lake, "bkt", "k", NULL, &up, &err), 0);
        struct lake_part_info p1;
        assert_int_equal(write_part(f, up.upload_id, 1, 100, 'a', &p1, &err), 0);
        int before = count_files(f, "objects");
        file_fault_inject(cases[i].op, 1, cases[i].err, cases[i].short_len);
        struct lake_part_info p1b;
        int rc = write_part(f, up.upload_id, 1, 200, 'b', &p1b, &err);
        check_after(f, &cases[i], rc, &err, before);
        /* The part that was there is still part 1, and completes. */
        struct lake_part_info *parts = NULL;
        size_t n = 0;
        int truncated = 0;
        assert_int_equal(
            lake_part_list(f->lake, "bkt", "k", up.upload_id, 0, 10, &parts, &n, &truncated, &err),
            0);
        assert_int_equal(n, 1);
        assert_string_equal(parts[0].etag, p1.etag);
        assert_int_equal(parts[0].size_bytes, 100);
        free(parts);
        struct lake_complete_part list[] = {{1, p1.etag}};
        assert_int_equal(
            lake_upload_complete(f->lake, "bkt", "k", up.upload_id, list, 1, NULL, &err), 0);
        lake_upload_info_fini(&up);
        fixture_destroy(f);
    }
}

static void test_complete_multipart_under_each_fault(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_CASES; i++) {
        struct fixture *f = fixture_create();
        put(f, "k", "previous version");
        struct err_info err;
        struct lake_upload_info up;
        assert_int_equal(lake_upload_create(f->lake, "bkt", "k", NULL, &up, &err), 0);
        struct lake_part_info p1;
        struct lake_part_info p2;
        assert_int_equal(write_part(f, up.upload_id, 1, 5 << 20, 'a', &p1, &err), 0);
        assert_int_equal(write_part(f, up.upload_id, 2, 10, 'b', &p2, &err), 0);
        int before = count_files(f, "objects");
        file_fault_inject(cases[i].op, 1, cases[i].err, cases[i].short_len);
        struct lake_complete_part list[] = {{1, p1.etag}, {2, p2.etag}};
        int rc = lake_upload_complete(f->lake, "bkt", "k", up.upload_id, list, 2, NULL, &err);
        /* check_after puts one more object (in a fresh file) once writes work. */
        check_after(f, &cases[i], rc, &err, before);
        /* The upload is untouched: completing again succeeds. */
        assert_int_equal(lake_upload_get(f->lake, "bkt", "k", up.upload_id, NULL, &err), 0);
        struct lake_object_info info;
        assert_int_equal(
            lake_upload_complete(f->lake, "bkt", "k", up.upload_id, list, 2, &info, &err), 0);
        assert_int_equal(info.size_bytes, (5 << 20) + 10);
        lake_object_info_fini(&info);
        lake_upload_info_fini(&up);
        fixture_destroy(f);
    }
}

/* ---- completion racing UploadPart and AbortMultipartUpload ---- */

struct racer {
    struct fixture *f;
    const char *upload_id;
    int abort_it;      /* abort the upload instead of replacing part 2 */
    unsigned delay_us; /* before acting */
};

static void *race_part_or_abort(void *arg)
{
    struct racer *r = arg;
    struct err_info err;
    usleep(r->delay_us);
    if (r->abort_it) {
        lake_upload_abort(r->f->lake, "bkt", "k", r->upload_id, &err);
        return NULL;
    }
    for (int i = 0; i < 8; i++) {
        struct lake_part_info p;
        write_part(r->f, r->upload_id, 2, 10, (char)('M' + i), &p, &err);
    }
    return NULL;
}

/*
 * Rounds of: part 1 (5 MiB) and part 2 (10 bytes) uploaded; a completion listing both
 * on this thread while another thread replaces part 2 with other bytes (another ETag)
 * or aborts the upload. The completion answers 0, NoSuchUpload or InvalidPart, as S3
 * would in some order of the calls — never an internal error, never "corruption" —
 * and when it succeeds the object holds exactly the bytes of the parts it listed.
 */
static void test_complete_racing_upload_part_and_abort(void **state)
{
    (void)state;
    struct fixture *f = fixture_create();
    int outcomes[3] = {0, 0, 0};
    const char *env = getenv("LAKE_RACE_SEED");
    unsigned seed = env ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL);
    print_message("LAKE_RACE_SEED=%u\n", seed);
    srand(seed);
    for (int round = 0; round < 24; round++) {
        struct err_info err;
        struct lake_upload_info up;
        assert_int_equal(lake_upload_create(f->lake, "bkt", "k", NULL, &up, &err), 0);
        struct lake_part_info p[2];
        assert_int_equal(write_part(f, up.upload_id, 1, 5 << 20, 'a', &p[0], &err), 0);
        assert_int_equal(write_part(f, up.upload_id, 2, 10, 'b', &p[1], &err), 0);
        struct racer r = {.f = f,
                          .upload_id = up.upload_id,
                          .abort_it = round % 2,
                          .delay_us = (unsigned)(rand() % 3000)};
        pthread_t t;
        pthread_create(&t, NULL, race_part_or_abort, &r);
        struct lake_complete_part list[] = {{1, p[0].etag}, {2, p[1].etag}};
        struct lake_object_info info;
        memset(&info, 0, sizeof(info));
        int rc = lake_upload_complete(f->lake, "bkt", "k", up.upload_id, list, 2, &info, &err);
        pthread_join(t, NULL);
        if (rc == 0) {
            outcomes[0]++;
            struct buf b;
            buf_init(&b);
            assert_int_equal(lake_object_read(f->lake, "bkt", "k", &b, NULL, &err), 0);
            assert_int_equal(b.len, (size_t)(5 << 20) + 10);
            assert_int_equal(b.data[0], 'a');
            assert_int_equal(b.data[(5 << 20) - 1], 'a');
            assert_memory_equal(b.data + (5 << 20), "bbbbbbbbbb", 10);
            struct lake_object_info head;
            assert_int_equal(lake_object_head(f->lake, "bkt", "k", &head, &err), 0);
            assert_string_equal(head.etag, info.etag);
            lake_object_info_fini(&head);
            buf_fini(&b);
            lake_object_info_fini(&info);
        } else if (rc == SL_E(NO_SUCH_UPLOAD)) {
            outcomes[1]++;
        } else {
            print_message("round %d: %s (%s)\n", round, sl_strerror(rc), err.message);
            assert_int_equal(rc, SL_E(INVALID_PART));
            outcomes[2]++;
        }
        lake_upload_abort(f->lake, "bkt", "k", up.upload_id, &err);
        lake_upload_info_fini(&up);
        assert_int_equal(count_files(f, "tmp"), 0);
        /* Only the object (if any) remains: every part file went with its upload. */
        assert_true(count_files(f, "objects") <= 1);
    }
    print_message("completed %d, NoSuchUpload %d, InvalidPart %d\n", outcomes[0], outcomes[1],
                  outcomes[2]);
    fixture_destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_object_under_each_fault),
        cmocka_unit_test(test_upload_part_under_each_fault),
        cmocka_unit_test(test_complete_multipart_under_each_fault),
        cmocka_unit_test(test_complete_racing_upload_part_and_abort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
