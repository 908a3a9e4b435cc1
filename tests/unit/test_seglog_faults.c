/*
 * The segment log under disk faults injected through the core file seam: a failed
 * fdatasync, a full disk, a short write, a failed truncation. In every case no record is
 * reported durable that is not; a failed write rolls the log back to its last whole record
 * and later appends succeed once the disk has room again; a failed flush makes the log
 * refuse further appends until reopened (sticky); reopening recovers every record that was
 * acknowledged and never one whose append or sync was reported failed. Also the sync pool
 * when none of its threads could start.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/file.h"
#include "core/log.h"
#include "stream/seglog.h"
#include "stream/stream_int.h"

struct fixture {
    char dir[64];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/sluice-faults-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    file_fault_clear();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* Appends n records "r<first+i>" and returns the append's result. */
static int append_n(struct seglog *log, int first, int n, uint64_t *first_index)
{
    struct seglog_record_in recs[64];
    char bodies[64][16];
    int64_t arrival;
    for (int i = 0; i < n; i++) {
        int len = snprintf(bodies[i], sizeof(bodies[i]), "r%d", first + i);
        recs[i] = (struct seglog_record_in){.data = (const uint8_t *)bodies[i],
                                            .data_len = (uint32_t)len,
                                            .partition_key = "k",
                                            .pk_len = 1};
    }
    return seglog_append(log, recs, (size_t)n, 1000 + first, first_index, &arrival);
}

struct collected {
    int n;
    char last[16];
};

static int collect(void *arg, uint64_t index, int64_t arrival_ms, const char *pk, size_t pk_len,
                   const uint8_t *data, size_t data_len)
{
    (void)index;
    (void)arrival_ms;
    (void)pk;
    (void)pk_len;
    struct collected *c = arg;
    snprintf(c->last, sizeof(c->last), "%.*s", (int)data_len, (const char *)data);
    c->n++;
    return 0;
}

static struct collected read_all(struct seglog *log)
{
    struct collected c = {0};
    uint64_t next;
    assert_int_equal(seglog_read(log, 0, 0, 0, collect, &c, &next), 0);
    return c;
}

static void failed_fdatasync_is_sticky_and_never_reported_durable(void **state)
{
    struct fixture *f = *state;
    struct seglog *log;
    uint64_t first;
    assert_int_equal(seglog_open(f->dir, NULL, 0, &log), 0);
    assert_int_equal(append_n(log, 0, 10, &first), 0);
    assert_int_equal(seglog_sync(log, first + 10), 0);

    file_fault_inject(FILE_OP_SYNC, 1, EIO, 0);
    assert_int_equal(append_n(log, 10, 5, &first), 0);
    assert_true(seglog_sync(log, first + 5) < 0);
    assert_int_equal(seglog_durable_index(log), 10);
    /* Sticky: no retry of the fsync is allowed to turn the loss into a success. */
    assert_true(seglog_sync(log, first + 5) < 0);
    assert_true(append_n(log, 15, 1, &first) < 0);
    struct collected c = read_all(log);
    assert_int_equal(c.n, 10);
    assert_string_equal(c.last, "r9");
    seglog_close(log);

    /* Reopening recovers the durable records and accepts appends again. */
    assert_int_equal(seglog_open(f->dir, NULL, 0, &log), 0);
    c = read_all(log);
    /* The five whose sync failed were reported failed: they must not come back. */
    assert_int_equal(c.n, 10);
    assert_string_equal(c.last, "r9");
    uint64_t next_before = seglog_next_index(log);
    assert_int_equal(append_n(log, 100, 3, &first), 0);
    assert_int_equal(first, next_before);
    assert_int_equal(seglog_sync(log, first + 3), 0);
    seglog_close(log);
}

/* Checks the closed log in dir with the offline checker; returns the problems found. */
static uint64_t segcheck_problems(const char *dir, uint64_t *n_records)
{
    struct seglog_check_summary sum;
    assert_int_equal(seglog_check_dir(dir, NULL, NULL, &sum), 0);
    *n_records = sum.n_records;
    return sum.n_problems;
}

static void full_disk_fails_the_append_and_appends_resume_when_space_returns(void **state)
{
    struct fixture *f = *state;
    struct seglog *log;
    uint64_t first;
    assert_int_equal(seglog_open(f->dir, NULL, 0, &log), 0);
    assert_int_equal(append_n(log, 0, 20, &first), 0);
    assert_int_equal(seglog_sync(log, first + 20), 0);
    file_fault_inject(FILE_OP_WRITE, 1, ENOSPC, 0);
    assert_int_equal(append_n(log, 20, 5, &first), -ENOSPC);
    assert_int_equal(seglog_durable_index(log), 20);
    assert_int_equal(seglog_next_index(log), 20);
    /* Space was freed: the shard takes appends again, without a restart. */
    assert_int_equal(append_n(log, 25, 5, &first), 0);
    assert_int_equal(first, 20);
    assert_int_equal(seglog_sync(log, first + 5), 0);
    struct collected c = read_all(log);
    assert_int_equal(c.n, 25);
    assert_string_equal(c.last, "r29");
    seglog_close(log);
    uint64_t n_records = 0;
    assert_int_equal(segcheck_problems(f->dir, &n_records), 0);
    assert_int_equal(n_records, 25);
    assert_int_equal(seglog_open(f->dir, NULL, 0, &log), 0);
    c = read_all(log);
    assert_int_equal(c.n, 25);
    assert_string_equal(c.last, "r29");
    assert_int_equal(seglog_next_index(log), 25);
    seglog_close(log);
}

/* Visitor that fails the test when it sees a record of the failed batch (data "r8".."r37"). */
static int refuse_failed_batch(void *arg, uint64_t index, int64_t arrival_ms, const char *pk,
                               size_t pk_len, const uint8_t *data, size_t data_len)
{
    (void)arg;
    (void)index;
    (void)arrival_ms;
    (void)pk;
    (void)pk_len;
    int n = 0;
    char text[16];
    snprintf(text, sizeof(text), "%.*s", (int)data_len, (const char *)data);
    assert_int_equal(sscanf(text, "r%d", &n), 1);
    assert_false(n >= 8 && n < 38);
    return 0;
}

static void short_write_rolls_back_and_the_log_stays_usable(void **state)
{
    struct fixture *f = *state;
    struct seglog *log;
    uint64_t first;
    assert_int_equal(seglog_open(f->dir, NULL, 0, &log), 0);
    assert_int_equal(append_n(log, 0, 8, &first), 0);
    assert_int_equal(seglog_sync(log, first + 8), 0);
    /* The next write stores 20 bytes of the batch (part of one frame header), then the
       disk is full. */
    file_fault_inject(FILE_OP_WRITE, 1, ENOSPC, 20);
    assert_true(append_n(log, 8, 30, &first) < 0);
    assert_int_equal(append_n(log, 50, 2, &first), 0);
    assert_int_equal(first, 8);
    assert_int_equal(seglog_sync(log, first + 2), 0);
    struct collected c = read_all(log);
    assert_int_equal(c.n, 10);
    assert_string_equal(c.last, "r51");
    seglog_close(log);
    uint64_t n_records = 0;
    assert_int_equal(segcheck_problems(f->dir, &n_records), 0);
    assert_int_equal(n_records, 10);
    assert_int_equal(seglog_open(f->dir, NULL, 0, &log), 0);
    c = read_all(log);
    assert_int_equal(c.n, 10);
    assert_string_equal(c.last, "r51");
    seglog_close(log);
}

/* In a child, so it ends like a kill -9 (no close, no sync): appends 8 records and syncs
 * them, then appends r8..r37 in one batch whose write stores short_len bytes (several
 * whole frames) before the disk is full, and with truncate_fails also a failed ftruncate.
 * Exit 0 when the append was reported failed. */
static void failed_batch_child(const char *dir, size_t short_len, int truncate_fails)
{
    struct seglog *log;
    uint64_t first;
    if (seglog_open(dir, NULL, 0, &log) != 0 || append_n(log, 0, 8, &first) != 0 ||
        seglog_sync(log, first + 8) != 0) {
        _exit(10);
    }
    file_fault_inject(FILE_OP_WRITE, 1, ENOSPC, short_len);
    if (truncate_fails) {
        file_fault_inject(FILE_OP_TRUNCATE, 1, EIO, 0);
    }
    if (append_n(log, 8, 30, &first) >= 0) {
        _exit(11);
    }
    _exit(0);
}

static void run_child(const char *dir, size_t short_len, int truncate_fails)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        failed_batch_child(dir, short_len, truncate_fails);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void records_of_a_failed_write_never_come_back_after_a_crash(void **state)
{
    struct fixture *f = *state;
    /* 400 bytes hold about ten whole frames of the failed batch. */
    run_child(f->dir, 400, 0);
    struct seglog *log;
    assert_int_equal(seglog_open(f->dir, NULL, 0, &log), 0);
    struct collected c = read_all(log);
    assert_int_equal(c.n, 8);
    assert_string_equal(c.last, "r7");
    uint64_t next;
    assert_int_equal(seglog_read(log, 0, 0, 0, refuse_failed_batch, NULL, &next), 0);
    assert_int_equal(seglog_next_index(log), 8);
    seglog_close(log);
}

static void failed_truncation_still_hides_the_failed_batch(void **state)
{
    struct fixture *f = *state;
    run_child(f->dir, 400, 1);
    struct seglog *log;
    assert_int_equal(seglog_open(f->dir, NULL, 0, &log), 0);
    struct collected c = read_all(log);
    assert_int_equal(c.n, 8);
    assert_string_equal(c.last, "r7");
    seglog_close(log);
}

static void records_whose_sync_failed_never_come_back_after_a_crash(void **state)
{
    struct fixture *f = *state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct seglog *log;
        uint64_t first;
        if (seglog_open(f->dir, NULL, 0, &log) != 0 || append_n(log, 0, 10, &first) != 0 ||
            seglog_sync(log, first + 10) != 0) {
            _exit(10);
        }
        file_fault_inject(FILE_OP_SYNC, 1, EIO, 0);
        if (append_n(log, 10, 5, &first) != 0 || seglog_sync(log, first + 5) != -EIO) {
            _exit(11);
        }
        _exit(0); /* like kill -9 right after the failure was reported */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    struct seglog *log;
    assert_int_equal(seglog_open(f->dir, NULL, 0, &log), 0);
    struct collected c = read_all(log);
    assert_int_equal(c.n, 10);
    assert_string_equal(c.last, "r9");
    assert_int_equal(seglog_next_index(log), 10);
    seglog_close(log);
}

static void failed_rollback_flush_makes_the_log_sticky(void **state)
{
    struct fixture *f = *state;
    struct seglog *log;
    uint64_t first;
    assert_int_equal(seglog_open(f->dir, NULL, 0, &log), 0);
    assert_int_equal(append_n(log, 0, 6, &first), 0);
    assert_int_equal(seglog_sync(log, first + 6), 0);
    assert_int_equal(append_n(log, 6, 2, &first), 0); /* written, not yet synced */
    /* The write fails; so does the flush that would make its rollback durable. */
    file_fault_inject(FILE_OP_WRITE, 1, ENOSPC, 0);
    file_fault_inject(FILE_OP_SYNC, 1, EIO, 0);
    assert_int_equal(append_n(log, 8, 4, &first), -ENOSPC);
    /* Sticky now: nothing is acknowledged until the log is reopened. */
    assert_true(append_n(log, 12, 1, &first) < 0);
    assert_true(seglog_sync(log, 8) < 0);
    assert_int_equal(seglog_durable_index(log), 6);
    seglog_close(log);
    assert_int_equal(seglog_open(f->dir, NULL, 0, &log), 0);
    struct collected c = read_all(log);
    assert_int_equal(c.n, 6); /* r6, r7 were reported failed by their sync */
    assert_string_equal(c.last, "r5");
    assert_int_equal(append_n(log, 20, 1, &first), 0);
    assert_int_equal(first, 6);
    seglog_close(log);
}

static void failed_segment_creation_at_a_roll_is_retryable(void **state)
{
    struct fixture *f = *state;
    struct seglog *log;
    uint64_t first;
    struct seglog_options opt = {.segment_bytes = 400};
    assert_int_equal(seglog_open(f->dir, &opt, 0, &log), 0);
    assert_int_equal(append_n(log, 0, 10, &first), 0); /* past 400 bytes: the next rolls */
    assert_int_equal(seglog_sync(log, first + 10), 0);
    /* A roll writes the old index's footer (write 1), then the new segment's header
       (write 2): the disk is full for the header. */
    file_fault_inject(FILE_OP_WRITE, 2, ENOSPC, 0);
    assert_int_equal(append_n(log, 10, 3, &first), -ENOSPC);
    assert_int_equal(append_n(log, 13, 3, &first), 0);
    assert_int_equal(first, 10);
    assert_int_equal(seglog_sync(log, first + 3), 0);
    struct seglog_stats st;
    seglog_get_stats(log, &st);
    assert_int_equal(st.n_segments, 2);
    seglog_close(log);
    uint64_t n_records = 0;
    assert_int_equal(segcheck_problems(f->dir, &n_records), 0);
    assert_int_equal(n_records, 13);
    assert_int_equal(seglog_open(f->dir, &opt, 0, &log), 0);
    struct collected c = read_all(log);
    assert_int_equal(c.n, 13);
    assert_string_equal(c.last, "r15");
    seglog_close(log);
}

static void failed_directory_fsync_at_a_roll_is_sticky_and_leaves_no_new_segment(void **state)
{
    struct fixture *f = *state;
    struct seglog *log;
    uint64_t first;
    struct seglog_options opt = {.segment_bytes = 400};
    assert_int_equal(seglog_open(f->dir, &opt, 0, &log), 0);
    assert_int_equal(append_n(log, 0, 9, &first), 0);
    assert_int_equal(append_n(log, 9, 1, &first), 0); /* 382 bytes: fits, the next rolls */
    /* The roll fdatasyncs the full segment (sync 1), then fsyncs the directory (sync 2). */
    file_fault_inject(FILE_OP_SYNC, 2, EIO, 0);
    assert_int_equal(append_n(log, 10, 3, &first), -EIO);
    assert_true(seglog_sync(log, 10) < 0); /* r0..r9: their sync is reported failed */
    assert_true(append_n(log, 14, 1, &first) < 0);
    seglog_close(log);
    char seg1[128];
    snprintf(seg1, sizeof(seg1), "%s/%020d.seg", f->dir, 10);
    struct stat st;
    assert_int_equal(stat(seg1, &st), -1);
    uint64_t n_records = 0;
    assert_int_equal(segcheck_problems(f->dir, &n_records), 0);
    assert_int_equal(seglog_open(f->dir, &opt, 0, &log), 0);
    struct collected c = read_all(log);
    assert_int_equal(c.n, 0); /* nothing was ever acknowledged durable */
    assert_int_equal(append_n(log, 20, 2, &first), 0);
    assert_int_equal(first, 0);
    assert_int_equal(seglog_sync(log, first + 2), 0);
    seglog_close(log);
}

static void sealed_segment_short_of_the_next_refuses_to_open_and_deletes_nothing(void **state)
{
    struct fixture *f = *state;
    struct seglog *log;
    uint64_t first;
    struct seglog_options opt = {.segment_bytes = 400};
    assert_int_equal(seglog_open(f->dir, &opt, 0, &log), 0);
    /* r0..r9 fill the first segment (32 + 10 * 35 bytes); each later batch rolls. */
    for (int b = 0; b < 3; b++) {
        assert_int_equal(append_n(log, 10 * b, 10, &first), 0);
        assert_int_equal(seglog_sync(log, first + 10), 0);
    }
    seglog_close(log);
    /* Damage: the first (sealed) segment loses its last record, exactly at a frame
       boundary, so what is left of it scans clean and it ends short of the next one. */
    char seg0[128];
    snprintf(seg0, sizeof(seg0), "%s/%020d.seg", f->dir, 0);
    assert_int_equal(truncate(seg0, 32 + 9 * 35), 0);
    log_set_level(LOG_ERROR + 1);
    /* Not a trim cut short by a crash (a trim deletes whole segments, oldest first): acknowledged
       records are missing, and the log must not make it worse by deleting the rest. */
    assert_int_equal(seglog_open(f->dir, &opt, 0, &log), SL_E(CORRUPT));
    log_set_level(LOG_INFO);
    struct stat st;
    assert_int_equal(stat(seg0, &st), 0);
    assert_int_equal(st.st_size, 32 + 9 * 35);
    struct seglog_check_summary sum;
    assert_int_equal(seglog_check_dir(f->dir, NULL, NULL, &sum), 0);
    assert_true(sum.n_problems > 0);
    assert_int_equal(sum.n_records, 29);
}

/* ---- Concurrent appenders and syncers under random faults, against a model ---- */

#define MODEL_THREADS 4
#define MODEL_BATCHES 150 /* per thread and round */
#define MODEL_BATCH_MAX 8
#define MODEL_MAX (MODEL_THREADS * MODEL_BATCHES * MODEL_BATCH_MAX)

/* What the callers were told about each record, by tag (thread * per-thread slots + seq). */
enum fate { FATE_NONE = 0, FATE_ACKED, FATE_FAILED };

struct model {
    struct seglog *log;
    int round;
    unsigned char fate[4][MODEL_MAX]; /* per round */
    int seen[4][MODEL_MAX];           /* times the reopened log holds it */
};

struct model_thread {
    struct model *m;
    int thread_idx;
    unsigned seed;
};

static void *model_writer(void *p)
{
    struct model_thread *t = p;
    struct model *m = t->m;
    int seq = 0;
    for (int b = 0; b < MODEL_BATCHES; b++) {
        int n = 1 + (int)(rand_r(&t->seed) % MODEL_BATCH_MAX);
        struct seglog_record_in recs[MODEL_BATCH_MAX];
        char bodies[MODEL_BATCH_MAX][32];
        int tags[MODEL_BATCH_MAX];
        for (int i = 0; i < n; i++) {
            tags[i] = t->thread_idx * MODEL_BATCHES * MODEL_BATCH_MAX + seq++;
            int len = snprintf(bodies[i], sizeof(bodies[i]), "m%d-%d", m->round, tags[i]);
            recs[i] = (struct seglog_record_in){.data = (const uint8_t *)bodies[i],
                                                .data_len = (uint32_t)len,
                                                .partition_key = "k",
                                                .pk_len = 1};
        }
        uint64_t first;
        int64_t arrival;
        int rc = seglog_append(m->log, recs, (size_t)n, 1000, &first, &arrival);
        if (rc == 0) {
            rc = seglog_sync(m->log, first + (uint64_t)n);
        }
        for (int i = 0; i < n; i++) {
            m->fate[m->round][tags[i]] = rc == 0 ? FATE_ACKED : FATE_FAILED;
        }
    }
    return NULL;
}

static int model_visit(void *arg, uint64_t index, int64_t arrival_ms, const char *pk, size_t pk_len,
                       const uint8_t *data, size_t data_len)
{
    (void)index;
    (void)arrival_ms;
    (void)pk;
    (void)pk_len;
    struct model *m = arg;
    char text[32];
    snprintf(text, sizeof(text), "%.*s", (int)data_len, (const char *)data);
    int round = -1, tag = -1;
    assert_int_equal(sscanf(text, "m%d-%d", &round, &tag), 2);
    assert_true(round >= 0 && round < 4 && tag >= 0 && tag < MODEL_MAX);
    m->seen[round][tag]++;
    return 0;
}

static void concurrent_appends_under_random_faults_keep_acked_and_drop_failed(void **state)
{
    struct fixture *f = *state;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    unsigned seed = (unsigned)(now.tv_sec ^ now.tv_nsec ^ getpid());
    const char *env = getenv("SEGLOG_SEED");
    if (env != NULL) {
        seed = (unsigned)strtoul(env, NULL, 10);
    }
    printf("concurrent_appends_under_random_faults: SEGLOG_SEED=%u\n", seed);
    srand(seed);
    log_set_level(LOG_ERROR + 1);
    struct model *m = calloc(1, sizeof(*m));
    struct seglog_options opt = {.segment_bytes = 4096, .index_every_bytes = 256};
    for (m->round = 0; m->round < 4; m->round++) {
        assert_int_equal(seglog_open(f->dir, &opt, 0, &m->log), 0);
        pthread_t th[MODEL_THREADS];
        struct model_thread mt[MODEL_THREADS];
        for (int i = 0; i < MODEL_THREADS; i++) {
            mt[i] = (struct model_thread){m, i, (unsigned)rand()};
            assert_int_equal(pthread_create(&th[i], NULL, model_writer, &mt[i]), 0);
        }
        /* Faults while they run: full disks and short writes (retryable), now and then a
         * failed flush or truncation (sticky until the next round reopens the log). */
        for (int k = 0; k < 30; k++) {
            usleep(500 + (unsigned)(rand() % 2000));
            int what = rand() % 10;
            if (what < 5) {
                file_fault_inject(FILE_OP_WRITE, 1 + (unsigned long)(rand() % 5), ENOSPC,
                                  (size_t)(rand() % 2 ? rand() % 200 : 0));
            } else if (k < 24) {
                continue; /* the sticky ones come late, so most of a round runs */
            } else if (what < 7 && m->round != 1) {
                file_fault_inject(FILE_OP_SYNC, 1 + (unsigned long)(rand() % 10), EIO, 0);
            } else if (what < 8) {
                file_fault_inject(FILE_OP_TRUNCATE, 1, EIO, 0);
            }
        }
        for (int i = 0; i < MODEL_THREADS; i++) {
            assert_int_equal(pthread_join(th[i], NULL), 0);
        }
        file_fault_clear();
        seglog_close(m->log);
        assert_int_equal(seglog_open(f->dir, &opt, 0, &m->log), 0);
        memset(m->seen, 0, sizeof(m->seen));
        uint64_t next;
        assert_int_equal(seglog_read(m->log, 0, 0, 0, model_visit, m, &next), 0);
        assert_int_equal(next, seglog_next_index(m->log));
        seglog_close(m->log);
        int n_acked = 0, n_failed = 0;
        for (int r = 0; r <= m->round; r++) {
            for (int tag = 0; tag < MODEL_MAX; tag++) {
                if (m->fate[r][tag] == FATE_ACKED) {
                    n_acked++;
                    assert_int_equal(m->seen[r][tag], 1); /* acknowledged: kept, once */
                } else if (m->fate[r][tag] == FATE_FAILED) {
                    n_failed++;
                    assert_int_equal(m->seen[r][tag], 0); /* reported failed: never back */
                }
            }
        }
        printf("round %d: %d acknowledged, %d reported failed\n", m->round, n_acked, n_failed);
        struct seglog_check_summary sum;
        assert_int_equal(seglog_check_dir(f->dir, NULL, NULL, &sum), 0);
        assert_int_equal(sum.n_problems, 0);
    }
    log_set_level(LOG_INFO);
    free(m);
}

static void *stop_hung_test(void *arg)
{
    (void)arg;
    sleep(20);
    fprintf(stderr, "sync pool hung\n");
    _exit(3);
}

static void sync_pool_without_threads_syncs_in_the_callers_thread(void **state)
{
    struct fixture *f = *state;
    pthread_t watchdog;
    assert_int_equal(pthread_create(&watchdog, NULL, stop_hung_test, NULL), 0);
    pthread_detach(watchdog);
    char dirs[3][96];
    struct seglog *logs[3];
    uint64_t upto[3];
    int results[3] = {1, 1, 1};
    for (int i = 0; i < 3; i++) {
        snprintf(dirs[i], sizeof(dirs[i]), "%s/shard%d", f->dir, i);
        assert_int_equal(seglog_open(dirs[i], NULL, 0, &logs[i]), 0);
        uint64_t first;
        assert_int_equal(append_n(logs[i], 0, 4 + i, &first), 0);
        upto[i] = first + 4 + (uint64_t)i;
    }
    /* As when every pthread_create failed. */
    struct sync_pool *pool = stream__sync_pool_create(0);
    stream__sync_many(pool, logs, upto, results, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(results[i], 0);
        assert_int_equal(seglog_durable_index(logs[i]), upto[i]);
        seglog_close(logs[i]);
    }
    stream__sync_pool_destroy(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(failed_fdatasync_is_sticky_and_never_reported_durable,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            full_disk_fails_the_append_and_appends_resume_when_space_returns, setup, teardown),
        cmocka_unit_test_setup_teardown(short_write_rolls_back_and_the_log_stays_usable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(records_of_a_failed_write_never_come_back_after_a_crash,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(failed_truncation_still_hides_the_failed_batch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(records_whose_sync_failed_never_come_back_after_a_crash,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(failed_rollback_flush_makes_the_log_sticky, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(failed_segment_creation_at_a_roll_is_retryable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            failed_directory_fsync_at_a_roll_is_sticky_and_leaves_no_new_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(
            sealed_segment_short_of_the_next_refuses_to_open_and_deletes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(
            concurrent_appends_under_random_faults_keep_acked_and_drop_failed, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_pool_without_threads_syncs_in_the_callers_thread,
                                        setup, teardown),
    };
    return cmocka_run_group_tests_name("seglog_faults", tests, NULL, NULL);
}
