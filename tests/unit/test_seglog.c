/*
 * Unit tests of the segment log (src/stream/seglog.h): round trips, recovery from torn and
 * corrupt tails, crash simulation, time search, retention, rolling, concurrency, a random
 * model test, and the offline checker. Each test works in its own mkdtemp directory.
 *
 * The model test prints its seed; SEGLOG_SEED=<n> replays one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "stream/seglog.h"

struct fixture {
    char tmp[64];           /* mkdtemp directory */
    char dir[PATH_MAX];     /* the log directory inside it */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->tmp, sizeof(f->tmp), "/tmp/test_seglog.XXXXXX");
    if (mkdtemp(f->tmp) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->dir, sizeof(f->dir), "%s/shard", f->tmp);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int rc = seglog_remove_dir(f->dir);
    if (rmdir(f->tmp) != 0) {
        rc = -1;
    }
    free(f);
    return rc;
}

/* ---- record contents derived from a tag, so a reader can check them ---- */

static uint32_t content_len(uint64_t tag)
{
    return (uint32_t)((tag * 2654435761u) % 3000);
}

static void content_fill(uint64_t tag, uint8_t *buf, uint32_t len)
{
    uint64_t x = tag * 0x9E3779B97F4A7C15ull + 1;
    for (uint32_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
}

static void pk_of(uint64_t tag, char out[32], uint16_t *len)
{
    *len = (uint16_t)snprintf(out, 32, "pk-%llu", (unsigned long long)(tag % 97));
}

/* Appends n records whose tags are tag0, tag0+1, ...; returns the first index. */
static uint64_t append_tagged(struct seglog *log, uint64_t tag0, size_t n, int64_t now_ms)
{
    struct seglog_record_in *r = calloc(n, sizeof(*r));
    uint8_t **bufs = calloc(n, sizeof(*bufs));
    char (*pks)[32] = calloc(n, 32);
    for (size_t i = 0; i < n; i++) {
        uint32_t len = content_len(tag0 + i);
        bufs[i] = malloc(len ? len : 1);
        content_fill(tag0 + i, bufs[i], len);
        r[i].data = bufs[i];
        r[i].data_len = len;
        pk_of(tag0 + i, pks[i], &r[i].pk_len);
        r[i].partition_key = pks[i];
    }
    uint64_t first = 0;
    int64_t arrival = 0;
    assert_int_equal(seglog_append(log, r, n, now_ms, &first, &arrival), 0);
    assert_true(arrival >= now_ms);
    for (size_t i = 0; i < n; i++) {
        free(bufs[i]);
    }
    free(bufs);
    free(pks);
    free(r);
    return first;
}

/* What a read saw. */
struct seen {
    uint64_t *index;
    int64_t *arrival;
    uint64_t *tag; /* recovered from the key and checked content; UINT64_MAX if wrong */
    size_t n, cap;
    uint64_t tag_offset; /* tag = index + tag_offset for the checks */
    size_t stop_after;   /* visit returns 1 after this many (0: never) */
};

static int seen_visit(void *arg, uint64_t index, int64_t arrival_ms, const char *pk,
                      size_t pk_len, const uint8_t *data, size_t data_len)
{
    struct seen *s = arg;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->index = realloc(s->index, s->cap * sizeof(*s->index));
        s->arrival = realloc(s->arrival, s->cap * sizeof(*s->arrival));
        s->tag = realloc(s->tag, s->cap * sizeof(*s->tag));
    }
    uint64_t tag = index + s->tag_offset;
    char epk[32];
    uint16_t epk_len;
    pk_of(tag, epk, &epk_len);
    uint32_t elen = content_len(tag);
    uint8_t *exp = malloc(elen ? elen : 1);
    content_fill(tag, exp, elen);
    int ok = pk_len == epk_len && memcmp(pk, epk, pk_len) == 0 && data_len == elen &&
             memcmp(data, exp, elen) == 0;
    free(exp);
    s->index[s->n] = index;
    s->arrival[s->n] = arrival_ms;
    s->tag[s->n] = ok ? tag : UINT64_MAX;
    s->n++;
    return s->stop_after != 0 && s->n >= s->stop_after;
}

static void seen_free(struct seen *s)
{
    free(s->index);
    free(s->arrival);
    free(s->tag);
    memset(s, 0, sizeof(*s));
}

/* Reads everything durable from `from` with the given limits per call; checks order and
 * contents (tag = index + tag_offset). Returns the number of records. */
static size_t read_all_checked(struct seglog *log, uint64_t from, uint64_t tag_offset,
                               size_t per_call)
{
    struct seen s = {.tag_offset = tag_offset};
    uint64_t cur = from;
    for (;;) {
        uint64_t next = 0;
        size_t before = s.n;
        assert_int_equal(seglog_read(log, cur, per_call, 0, seen_visit, &s, &next), 0);
        if (s.n == before) {
            assert_int_equal(next, cur < seglog_first_index(log) ? seglog_first_index(log) : cur);
            break;
        }
        cur = next;
    }
    uint64_t expect = from < seglog_first_index(log) ? seglog_first_index(log) : from;
    for (size_t i = 0; i < s.n; i++) {
        assert_int_equal(s.index[i], expect + i);
        assert_int_equal(s.tag[i], s.index[i] + tag_offset);
        if (i > 0) {
            assert_true(s.arrival[i] >= s.arrival[i - 1]);
        }
    }
    assert_int_equal(expect + s.n, seglog_durable_index(log));
    size_t n = s.n;
    seen_free(&s);
    return n;
}

static char *newest_segment(const char *dir)
{
    static char path[PATH_MAX];
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof(cmd), "ls %s/*.seg | tail -n 1", dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(path, sizeof(path), p));
    pclose(p);
    path[strcspn(path, "\n")] = '\0';
    return path;
}

static char *nth_segment(const char *dir, int n)
{
    static char path[PATH_MAX];
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof(cmd), "ls %s/*.seg | sed -n %dp", dir, n + 1);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(path, sizeof(path), p));
    pclose(p);
    path[strcspn(path, "\n")] = '\0';
    return path;
}

static off_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static void flip_byte(const char *path, off_t off)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, off), 1);
    b ^= 0x5a;
    assert_int_equal(pwrite(fd, &b, 1, off), 1);
    close(fd);
}

static void count_problem(void *arg, const char *path, uint64_t offset, const char *what)
{
    (void)path;
    (void)offset;
    (void)what;
    (*(int *)arg)++;
}

/* ---- tests ---- */

static void append_then_read_round_trips(void **state)
{
    struct fixture *f = *state;
    struct seglog *log = NULL;
    assert_int_equal(seglog_open(f->dir, NULL, 0, &log), 0);
    assert_int_equal(seglog_next_index(log), 0);
    uint64_t first = append_tagged(log, 0, 100, 1000);
    assert_int_equal(first, 0);
    assert_int_equal(seglog_next_index(log), 100);
    assert_int_equal(seglog_sync(log, 100), 0);
    assert_int_equal(seglog_durable_index(log), 100);
    assert_int_equal(seglog_last_arrival_ms(log), 1000);
    assert_int_equal(read_all_checked(log, 0, 0, 0), 100);
    assert_int_equal(read_all_checked(log, 37, 0, 7), 63);
    /* A record with empty data and a maximal key. */
    char pk[SEGLOG_MAX_PK_LEN];
    memset(pk, 'k', sizeof(pk));
    struct seglog_record_in r = {NULL, 0, pk, SEGLOG_MAX_PK_LEN};
    uint64_t idx;
    int64_t arrival;
    assert_int_equal(seglog_append(log, &r, 1, 5, &idx, &arrival), 0);
    assert_int_equal(idx, 100);
    assert_int_equal(arrival, 1000); /* clamped to the previous append's */
    seglog_close(log);
}

static void invalid_records_are_refused_whole(void **state)
{
    struct fixture *f = *state;
    struct seglog *log = NULL;
    assert_int_equal(seglog_open(f->dir, NULL, 0, &log), 0);
    uint8_t d[4] = {1, 2, 3, 4};
    struct seglog_record_in r[2] = {{d, 4, "a", 1}, {d, 4, "", 0}};
    uint64_t idx;
    int64_t arrival;
    assert_int_equal(seglog_append(log, r, 2, 1, &idx, &arrival), SL_E(INVALID_ARGUMENT));
    r[1].pk_len = SEGLOG_MAX_PK_LEN + 1;
    r[1].partition_key = "b";
    assert_int_equal(seglog_append(log, r, 2, 1, &idx, &arrival), SL_E(INVALID_ARGUMENT));
    r[1].pk_len = 1;
    r[1].data_len = SEGLOG_MAX_DATA_LEN + 1;
    assert_int_equal(seglog_append(log, r, 2, 1, &idx, &arrival), SL_E(INVALID_ARGUMENT));
    assert_int_equal(seglog_next_index(log), 0);
    seglog_close(log);
}

static void indexes_continue_after_reopen(void **state)
{
    struct fixture *f = *state;
    struct seglog *log = NULL;
    assert_int_equal(seglog_open(f->dir, NULL, 5000, &log), 0);
    assert_int_equal(seglog_first_index(log), 5000);
    assert_int_equal(append_tagged(log, 5000, 10, 100), 5000);
    assert_int_equal(append_tagged(log, 5010, 10, 100), 5010);
    seglog_close(log);
    /* first_index is ignored for an existing log. */
    assert_int_equal(seglog_open(f->dir, NULL, 0, &log), 0);
    assert_int_equal(seglog_first_index(log), 5000);
    assert_int_equal(seglog_next_index(log), 5020);
    assert_int_equal(seglog_durable_index(log), 5020);
    assert_int_equal(seglog_last_arrival_ms(log), 100);
    assert_int_equal(append_tagged(log, 5020, 5, 50), 5020);
    assert_int_equal(seglog_sync(log, UINT64_MAX), 0);
    assert_int_equal(read_all_checked(log, 0, 0, 0), 25);
    seglog_close(log);
}

static void unsynced_records_are_invisible_to_readers(void **state)
{
    struct fixture *f = *state;
    struct seglog *log = NULL;
    assert_int_equal(seglog_open(f->dir, NULL, 0, &log), 0);
    append_tagged(log, 0, 10, 100);
    assert_int_equal(seglog_sync(log, 10), 0);
    append_tagged(log, 10, 10, 200);
    assert_int_equal(seglog_durable_index(log), 10);
    assert_int_equal(seglog_last_arrival_ms(log), 100);
    struct seen s = {0};
    uint64_t next = 0;
    assert_int_equal(seglog_read(log, 5, 0, 0, seen_visit, &s, &next), 0);
    assert_int_equal(s.n, 5);
    assert_int_equal(next, 10);
    seen_free(&s);
    uint64_t found = 0;
    assert_int_equal(seglog_find_time(log, 150, &found), 0);
    assert_int_equal(found, 10); /* the match is not durable yet */
    assert_int_equal(seglog_sync(log, 15), 0);
    assert_true(seglog_durable_index(log) >= 15);
    assert_int_equal(seglog_find_time(log, 150, &found), 0);
    assert_int_equal(found, 10);
    seglog_close(log);
}

static void read_limits_and_stop(void **state)
{
    struct fixture *f = *state;
    struct seglog *log = NULL;
    assert_int_equal(seglog_open(f->dir, NULL, 0, &log), 0);
    append_tagged(log, 0, 50, 1);
    assert_int_equal(seglog_sync(log, 50), 0);
    struct seen s = {0};
    uint64_t next = 0;
    assert_int_equal(seglog_read(log, 3, 4, 0, seen_visit, &s, &next), 0);
    assert_int_equal(s.n, 4);
    assert_int_equal(next, 7);
    seen_free(&s);
    /* max_bytes: never above it, except that the first record always comes. */
    size_t budget = content_len(10) + content_len(11);
    assert_int_equal(seglog_read(log, 10, 0, budget, seen_visit, &s, &next), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(next, 12);
    seen_free(&s);
    assert_int_equal(seglog_read(log, 10, 0, 1, seen_visit, &s, &next), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(next, 11);
    seen_free(&s);
    /* visit returning non-zero stops after that record. */
    s.stop_after = 3;
    assert_int_equal(seglog_read(log, 20, 0, 0, seen_visit, &s, &next), 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(next, 23);
    seen_free(&s);
    /* Past the end: nothing, next stays. */
    assert_int_equal(seglog_read(log, 60, 0, 0, seen_visit, &s, &next), 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(next, 60);
    seglog_close(log);
}

static void truncated_tail_is_cut_and_appends_continue(void **state)
{
    struct fixture *f = *state;
    struct seglog *log = NULL;
    assert_int_equal(seglog_open(f->dir, NULL, 0, &log), 0);
    append_tagged(log, 0, 20, 10);
    seglog_close(log);
    const char *seg = newest_segment(f->dir);
    off_t size = file_size(seg);
    /* Cut 5 bytes into the last record's data: the last record is torn. */
    assert_int_equal(truncate(seg, size - (off_t)content_len(19) + 5), 0);
    log_set_level(LOG_ERROR + 1);
    assert_int_equal(seglog_open(f->dir, NULL, 0, &log), 0);
    log_set_level(LOG_INFO);
    assert_int_equal(seglog_next_index(log), 19);
    assert_int_equal(read_all_checked(log, 0, 0, 0), 19);
    assert_int_equal(append_tagged(log, 19, 5, 20), 19);
    assert_int_equal(seglog_sync(log, 24), 0);
    assert_int_equal(read_all_checked(log, 0, 0, 0), 24);
    seglog_close(log);
    struct seglog_check_summary sum;
    assert_int_equal(seglog_check_dir(f->dir, NULL, NULL, &sum), 0);
    assert_int_equal(sum.n_problems, 0);
    assert_int_equal(sum.n_records, 24);
}

static void flipped_byte_in_last_record_is_cut(void **state)
{
    struct fixture *f = *state;
    struct seglog *log = NULL;
    assert_int_equal(seglog_open(f->dir, NULL, 0, &log), 0);
    append_tagged(log, 0, 20, 10);
    seglog_close(log);
    const char *seg = newest_segment(f->dir);
    flip_byte(seg, file_size(seg) - 1); /* last byte of the last record's data */
    struct seglog_check_summary sum;
    int problems = 0;
    assert_int_equal(seglog_check_dir(f->dir, count_problem, &problems, &sum), 0);
    assert_int_equal(problems, 1);
    assert_int_equal(sum.n_torn_tails, 1);
    log_set_level(LOG_ERROR + 1);
    assert_int_equal(seglog_open(f->dir, NULL, 0, &log), 0);
    log_set_level(LOG_INFO);
    assert_int_equal(seglog_next_index(log), 19);
    assert_int_equal(append_tagged(log, 19, 3, 20), 19);
    assert_int_equal(seglog_sync(log, UINT64_MAX), 0);
    assert_int_equal(read_all_checked(log, 0, 0, 0), 22);
    seglog_close(log);
}

static void torn_segment_header_is_rewritten(void **state)
{
    struct fixture *f = *state;
    struct seglog *log = NULL;
    assert_int_equal(seglog_open(f->dir, NULL, 77, &log), 0);
    seglog_close(log);
    assert_int_equal(truncate(newest_segment(f->dir), 10), 0);
    log_set_level(LOG_ERROR + 1);
    assert_int_equal(seglog_open(f->dir, NULL, 0, &log), 0);
    log_set_level(LOG_INFO);
    assert_int_equal(seglog_next_index(log), 77);
    assert_int_equal(append_tagged(log, 77, 2, 1), 77);
    seglog_close(log);
}

/* The child appends and syncs `synced` records, reports the file length, appends more
 * without syncing and is killed. */
static void crash_child(const char *dir, int fd_out, uint64_t synced, uint64_t unsynced)
{
    struct seglog *log = NULL;
    if (seglog_open(dir, NULL, 0, &log) != 0) {
        _exit(2);
    }
    for (uint64_t i = 0; i < synced; i += 10) {
        append_tagged(log, i, 10, (int64_t)i);
    }
    if (seglog_sync(log, synced) != 0) {
        _exit(3);
    }
    int64_t len = file_size(newest_segment(dir));
    if (write(fd_out, &len, sizeof(len)) != sizeof(len)) {
        _exit(4);
    }
    for (uint64_t i = synced; i < synced + unsynced; i += 10) {
        append_tagged(log, i, 10, (int64_t)i);
    }
    raise(SIGKILL);
    _exit(5);
}

static void crash_keeps_synced_and_only_whole_records(void **state)
{
    struct fixture *f = *state;
    unsigned seed = (unsigned)time(NULL);
    srand(seed);
    for (int round = 0; round < 6; round++) {
        int pfd[2];
        assert_int_equal(pipe(pfd), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(pfd[0]);
            crash_child(f->dir, pfd[1], 200, 200);
        }
        close(pfd[1]);
        int64_t synced_len = 0;
        assert_int_equal(read(pfd[0], &synced_len, sizeof(synced_len)), sizeof(synced_len));
        close(pfd[0]);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status));
        /* A power loss keeps an arbitrary prefix of what was not synced: cut there. */
        const char *seg = newest_segment(f->dir);
        off_t size = file_size(seg);
        off_t cut = synced_len + (off_t)((size_t)rand() % (size_t)(size - synced_len + 1));
        assert_int_equal(truncate(seg, cut), 0);
        log_set_level(LOG_ERROR + 1);
        struct seglog *log = NULL;
        assert_int_equal(seglog_open(f->dir, NULL, 0, &log), 0);
        log_set_level(LOG_INFO);
        uint64_t n = seglog_next_index(log);
        assert_true(n >= 200);
        assert_true(n <= 400);
        assert_int_equal(read_all_checked(log, 0, 0, 0), n);
        seglog_close(log);
        assert_int_equal(seglog_remove_dir(f->dir), 0);
    }
}

/* In a child: cap the file size so a write fails (EFBIG) after storing part of the batch,
 * then check that the log rolled back: durable records stay readable, and once the limit is
 * lifted (space freed) appends succeed without a reopen and continue the index sequence.
 * Exit code 0 means all held. */
static int write_failure_child(const char *dir)
{
    struct seglog *log = NULL;
    if (seglog_open(dir, NULL, 0, &log) != 0) {
        return 10;
    }
    append_tagged(log, 0, 5, 1);
    if (seglog_sync(log, 5) != 0) {
        return 11;
    }
    signal(SIGXFSZ, SIG_IGN);
    off_t len_before = file_size(newest_segment(dir));
    struct rlimit lim = {(rlim_t)len_before + 100, RLIM_INFINITY};
    if (setrlimit(RLIMIT_FSIZE, &lim) != 0) {
        return 12;
    }
    uint8_t big[4096] = {0};
    struct seglog_record_in r = {big, sizeof(big), "k", 1};
    uint64_t idx;
    int64_t arrival;
    if (seglog_append(log, &r, 1, 2, &idx, &arrival) != -EFBIG) {
        return 13;
    }
    /* The 100 bytes the short write stored are gone again. */
    if (file_size(newest_segment(dir)) != len_before || seglog_next_index(log) != 5 ||
        seglog_sync(log, 5) != 0 || read_all_checked(log, 0, 0, 0) != 5) {
        return 14;
    }
    lim.rlim_cur = RLIM_INFINITY;
    if (setrlimit(RLIMIT_FSIZE, &lim) != 0) {
        return 15;
    }
    if (append_tagged(log, 5, 2, 3) != 5 || seglog_sync(log, 7) != 0 ||
        read_all_checked(log, 0, 0, 0) != 7) {
        return 16;
    }
    seglog_close(log);
    if (seglog_open(dir, NULL, 0, &log) != 0) {
        return 17;
    }
    if (seglog_next_index(log) != 7 || read_all_checked(log, 0, 0, 0) != 7) {
        return 18;
    }
    seglog_close(log);
    return 0;
}

static void write_failure_rolls_back_and_appends_resume(void **state)
{
    struct fixture *f = *state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        log_set_level(LOG_ERROR + 1);
        _exit(write_failure_child(f->dir));
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void find_time_returns_first_at_or_after(void **state)
{
    struct fixture *f = *state;
    struct seglog_options opt = {.segment_bytes = 64 * 1024, .index_every_bytes = 4096};
    struct seglog *log = NULL;
    assert_int_equal(seglog_open(f->dir, &opt, 0, &log), 0);
    uint64_t found = 1;
    assert_int_equal(seglog_find_time(log, 0, &found), 0);
    assert_int_equal(found, 0); /* empty log: the durable index */
    /* Batches of 10 records at times 100, 110, ..., 1090: record i arrived at 100+10*(i/10). */
    for (uint64_t b = 0; b < 100; b++) {
        append_tagged(log, b * 10, 10, (int64_t)(100 + 10 * b));
    }
    assert_int_equal(seglog_sync(log, UINT64_MAX), 0);
    struct seglog_stats st;
    seglog_get_stats(log, &st);
    assert_true(st.n_segments > 3);
    assert_int_equal(seglog_find_time(log, 0, &found), 0);
    assert_int_equal(found, 0);
    assert_int_equal(seglog_find_time(log, 100, &found), 0);
    assert_int_equal(found, 0);
    for (int64_t t = 101; t <= 1090; t += 7) {
        assert_int_equal(seglog_find_time(log, t, &found), 0);
        uint64_t expect = (uint64_t)((t - 100 + 9) / 10) * 10;
        assert_int_equal(found, expect);
    }
    assert_int_equal(seglog_find_time(log, 1091, &found), 0);
    assert_int_equal(found, 1000);
    seglog_close(log);
    /* The same answers from index files loaded on open. */
    assert_int_equal(seglog_open(f->dir, &opt, 0, &log), 0);
    assert_int_equal(seglog_find_time(log, 555, &found), 0);
    assert_int_equal(found, 460);
    seglog_close(log);
}

static void segments_roll_and_reload(void **state)
{
    struct fixture *f = *state;
    struct seglog_options opt = {.segment_bytes = 16 * 1024, .index_every_bytes = 1024};
    struct seglog *log = NULL;
    assert_int_equal(seglog_open(f->dir, &opt, 0, &log), 0);
    for (uint64_t i = 0; i < 300; i += 3) {
        append_tagged(log, i, 3, (int64_t)i);
    }
    assert_int_equal(seglog_sync(log, UINT64_MAX), 0);
    struct seglog_stats st;
    seglog_get_stats(log, &st);
    assert_true(st.n_segments >= 20);
    assert_int_equal(st.n_records, 300);
    assert_int_equal(read_all_checked(log, 0, 0, 0), 300);
    assert_int_equal(read_all_checked(log, 123, 0, 11), 177);
    seglog_close(log);
    struct seglog_check_summary sum;
    assert_int_equal(seglog_check_dir(f->dir, NULL, NULL, &sum), 0);
    assert_int_equal(sum.n_problems, 0);
    assert_int_equal(sum.n_segments, st.n_segments);
    assert_int_equal(sum.next_index, 300);
    /* Missing and damaged index files of sealed segments are rebuilt. */
    char idx[PATH_MAX];
    snprintf(idx, sizeof(idx), "%s", nth_segment(f->dir, 2));
    strcpy(idx + strlen(idx) - 3, "idx");
    assert_int_equal(unlink(idx), 0);
    snprintf(idx, sizeof(idx), "%s", nth_segment(f->dir, 4));
    strcpy(idx + strlen(idx) - 3, "idx");
    flip_byte(idx, 40);
    log_set_level(LOG_ERROR + 1);
    assert_int_equal(seglog_check_dir(f->dir, NULL, NULL, &sum), 0);
    assert_int_equal(sum.n_problems, 2);
    assert_int_equal(seglog_open(f->dir, &opt, 0, &log), 0);
    log_set_level(LOG_INFO);
    assert_int_equal(read_all_checked(log, 0, 0, 0), 300);
    seglog_close(log);
    assert_int_equal(seglog_check_dir(f->dir, NULL, NULL, &sum), 0);
    assert_int_equal(sum.n_problems, 0);
}

static void trim_deletes_expired_segments_and_keeps_next_index(void **state)
{
    struct fixture *f = *state;
    struct seglog_options opt = {.segment_bytes = 8 * 1024, .index_every_bytes = 1024};
    struct seglog *log = NULL;
    assert_int_equal(seglog_open(f->dir, &opt, 1000, &log), 0);
    for (uint64_t i = 0; i < 200; i += 4) {
        append_tagged(log, 1000 + i, 4, (int64_t)(1000 + i));
    }
    /* Rolling made every sealed segment durable; the active one holds the last batch, not
     * yet synced, which must stay although it expired. */
    struct seglog_stats st;
    seglog_get_stats(log, &st);
    assert_true(st.n_segments > 10);
    size_t n_del = 0;
    assert_int_equal(seglog_trim_before(log, 5000, &n_del), 0);
    assert_int_equal(n_del, st.n_segments - 1);
    assert_int_equal(seglog_first_index(log), 1196);
    assert_int_equal(seglog_next_index(log), 1200);
    assert_int_equal(seglog_durable_index(log), 1196);
    /* More records, arriving from 2000 on. */
    for (uint64_t i = 0; i < 200; i += 4) {
        append_tagged(log, 1200 + i, 4, (int64_t)(2000 + i));
    }
    assert_int_equal(seglog_sync(log, UINT64_MAX), 0);
    assert_int_equal(seglog_trim_before(log, 2100, &n_del), 0);
    assert_true(n_del > 0);
    uint64_t first = seglog_first_index(log);
    assert_true(first > 1200);
    assert_true(first <= 1300);
    struct seen s = {0};
    uint64_t next = 0;
    assert_int_equal(seglog_read(log, 0, 1, 0, seen_visit, &s, &next), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.index[0], first); /* reads from a trimmed index clamp */
    seen_free(&s);
    assert_int_equal(read_all_checked(log, 0, 0, 0), 1400 - first);
    /* Expire everything, the active segment included. */
    assert_int_equal(seglog_trim_before(log, 100000, &n_del), 0);
    assert_int_equal(seglog_first_index(log), 1400);
    assert_int_equal(seglog_next_index(log), 1400);
    seglog_get_stats(log, &st);
    assert_int_equal(st.n_segments, 1);
    assert_int_equal(st.n_records, 0);
    assert_int_equal(read_all_checked(log, 1000, 0, 0), 0);
    seglog_close(log);
    assert_int_equal(seglog_open(f->dir, &opt, 0, &log), 0);
    assert_int_equal(seglog_first_index(log), 1400);
    assert_int_equal(seglog_next_index(log), 1400);
    uint64_t idx;
    int64_t arrival;
    struct seglog_record_in r = {(const uint8_t *)"x", 1, "k", 1};
    assert_int_equal(seglog_append(log, &r, 1, 5, &idx, &arrival), 0);
    assert_int_equal(idx, 1400);
    assert_int_equal(arrival, 2196); /* arrival never goes back, even across a full trim */
    seglog_close(log);
}

struct writer_arg {
    struct seglog *log;
    int id;
    int n_batches;
};

static void *writer_thread(void *p)
{
    struct writer_arg *a = p;
    for (int b = 0; b < a->n_batches; b++) {
        uint8_t data[64][40];
        struct seglog_record_in r[64];
        int n = 1 + (a->id * 7 + b) % 64;
        for (int i = 0; i < n; i++) {
            /* data: writer id, batch, position: lets the reader check order and uniqueness */
            memset(data[i], 0, sizeof(data[i]));
            snprintf((char *)data[i], sizeof(data[i]), "%d %d %d", a->id, b, i);
            r[i] = (struct seglog_record_in){data[i], sizeof(data[i]), "pk", 2};
        }
        uint64_t first;
        int64_t arrival;
        if (seglog_append(a->log, r, (size_t)n, b, &first, &arrival) != 0 ||
            seglog_sync(a->log, first + (uint64_t)n) != 0 ||
            seglog_durable_index(a->log) < first + (uint64_t)n) {
            return (void *)1;
        }
    }
    return NULL;
}

struct order_check {
    int last_batch[8];
    int last_pos[8];
    uint64_t expect_index;
    int bad;
    size_t n;
};

static int order_visit(void *arg, uint64_t index, int64_t arrival_ms, const char *pk,
                       size_t pk_len, const uint8_t *data, size_t data_len)
{
    (void)arrival_ms;
    (void)pk;
    (void)pk_len;
    struct order_check *c = arg;
    int id, b, i;
    if (index != c->expect_index++ || data_len != 40 ||
        sscanf((const char *)data, "%d %d %d", &id, &b, &i) != 3 || id < 0 || id >= 8) {
        c->bad = 1;
        return 1;
    }
    /* Within one writer: batches in order, positions in order within a batch. */
    if (b < c->last_batch[id] || (b == c->last_batch[id] && i != c->last_pos[id] + 1) ||
        (b > c->last_batch[id] && i != 0)) {
        c->bad = 1;
    }
    c->last_batch[id] = b;
    c->last_pos[id] = i;
    c->n++;
    return 0;
}

struct follower {
    struct seglog *log;
    size_t expected; /* stop once this many were read */
    struct order_check check;
    int saw_undurable;
};

static int follow_visit(void *arg, uint64_t index, int64_t arrival_ms, const char *pk,
                        size_t pk_len, const uint8_t *data, size_t data_len)
{
    struct follower *fl = arg;
    if (index >= seglog_durable_index(fl->log)) {
        fl->saw_undurable = 1;
    }
    return order_visit(&fl->check, index, arrival_ms, pk, pk_len, data, data_len);
}

/* Tails the log while writers run, as a GetRecords loop would. */
static void *follower_thread(void *p)
{
    struct follower *fl = p;
    uint64_t next = 0;
    while (fl->check.n < fl->expected && !fl->check.bad) {
        if (seglog_read(fl->log, next, 100, 64 * 1024, follow_visit, fl, &next) != 0) {
            fl->check.bad = 1;
        }
    }
    return NULL;
}

static void concurrent_appenders_and_syncers(void **state)
{
    struct fixture *f = *state;
    struct seglog_options opt = {.segment_bytes = 256 * 1024, .index_every_bytes = 4096};
    struct seglog *log = NULL;
    assert_int_equal(seglog_open(f->dir, &opt, 0, &log), 0);
    pthread_t th[8], follower;
    struct writer_arg args[8];
    size_t expected = 0;
    for (int t = 0; t < 8; t++) {
        for (int b = 0; b < 60; b++) {
            expected += (size_t)(1 + (t * 7 + b) % 64);
        }
    }
    struct follower fl = {.log = log, .expected = expected};
    for (int t = 0; t < 8; t++) {
        fl.check.last_batch[t] = -1;
        fl.check.last_pos[t] = -1;
    }
    assert_int_equal(pthread_create(&follower, NULL, follower_thread, &fl), 0);
    for (int t = 0; t < 8; t++) {
        args[t] = (struct writer_arg){log, t, 60};
        assert_int_equal(pthread_create(&th[t], NULL, writer_thread, &args[t]), 0);
    }
    for (int t = 0; t < 8; t++) {
        void *ret = NULL;
        assert_int_equal(pthread_join(th[t], &ret), 0);
        assert_null(ret);
    }
    assert_int_equal(pthread_join(follower, NULL), 0);
    assert_int_equal(fl.check.bad, 0);
    assert_int_equal(fl.saw_undurable, 0);
    assert_int_equal(fl.check.n, expected);
    assert_int_equal(seglog_durable_index(log), expected);
    struct order_check c = {0};
    for (int t = 0; t < 8; t++) {
        c.last_batch[t] = -1;
        c.last_pos[t] = -1;
    }
    uint64_t next = 0;
    while (next < expected) {
        assert_int_equal(seglog_read(log, next, 333, 0, order_visit, &c, &next), 0);
    }
    assert_int_equal(c.bad, 0);
    assert_int_equal(c.n, expected);
    for (int t = 0; t < 8; t++) {
        assert_int_equal(c.last_batch[t], 59);
    }
    seglog_close(log);
    struct seglog_check_summary sum;
    assert_int_equal(seglog_check_dir(f->dir, NULL, NULL, &sum), 0);
    assert_int_equal(sum.n_problems, 0);
    assert_int_equal(sum.n_records, expected);
}

/* ---- random model test ---- */

static uint64_t rng_state;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* The model: every record ever appended (tag = index + 1000000, arrival), plus the first
 * retained index. */
struct model {
    int64_t *arrival; /* by index - base */
    uint64_t base, first, next, durable;
};

static void random_model_matches_log(void **state)
{
    struct fixture *f = *state;
    const char *env = getenv("SEGLOG_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
    printf("random_model_matches_log: SEGLOG_SEED=%llu\n", (unsigned long long)seed);
    rng_state = seed * 2 + 1;
    struct seglog_options opt = {.segment_bytes = 4096 + rng() % 32768,
                                 .index_every_bytes = 256 + (uint32_t)(rng() % 4096)};
    const uint64_t base = 1000;
    const uint64_t tag_offset = 1000000;
    struct model m = {.arrival = calloc(20000, sizeof(int64_t)), .base = base, .first = base,
                      .next = base, .durable = base};
    struct seglog *log = NULL;
    assert_int_equal(seglog_open(f->dir, &opt, base, &log), 0);
    int64_t clock_ms = 1000;
    int64_t last_arrival = 0;
    for (int step = 0; step < 1500; step++) {
        unsigned op = (unsigned)(rng() % 100);
        if (op < 40 && m.next - base < 19000) {
            size_t n = 1 + rng() % 20;
            clock_ms += (int64_t)(rng() % 50) - 10; /* clocks may step back: arrival clamps */
            uint64_t first = append_tagged(log, m.next + tag_offset, n, clock_ms);
            assert_int_equal(first, m.next);
            int64_t arrival = clock_ms > last_arrival ? clock_ms : last_arrival;
            for (size_t i = 0; i < n; i++) {
                m.arrival[m.next - base + i] = arrival;
            }
            last_arrival = arrival;
            m.next += n;
        } else if (op < 55) {
            uint64_t upto = m.next - (m.next > m.durable ? rng() % (m.next - m.durable + 1) : 0);
            assert_int_equal(seglog_sync(log, upto), 0);
            assert_true(seglog_durable_index(log) >= upto);
            m.durable = seglog_durable_index(log);
            assert_true(m.durable <= m.next);
        } else if (op < 80) {
            uint64_t from = base + rng() % (m.next - base + 3);
            size_t max_records = rng() % 30;
            size_t max_bytes = rng() % 4 == 0 ? 1 + rng() % 10000 : 0;
            struct seen s = {.tag_offset = tag_offset};
            uint64_t next = 0;
            m.durable = seglog_durable_index(log);
            assert_int_equal(seglog_read(log, from, max_records, max_bytes, seen_visit, &s, &next),
                             0);
            uint64_t start = from < m.first ? m.first : from;
            size_t avail = start < m.durable ? (size_t)(m.durable - start) : 0;
            if (avail > 0) {
                assert_true(s.n >= 1);
            }
            assert_true(s.n <= avail);
            if (max_records != 0) {
                assert_true(s.n <= max_records);
            }
            size_t bytes = 0;
            for (size_t i = 0; i < s.n; i++) {
                assert_int_equal(s.index[i], start + i);
                assert_int_equal(s.tag[i], s.index[i] + tag_offset);
                assert_int_equal(s.arrival[i], m.arrival[s.index[i] - base]);
                bytes += content_len(s.index[i] + tag_offset);
            }
            if (max_bytes != 0 && s.n > 1) {
                assert_true(bytes <= max_bytes);
            }
            /* Stopped only because of a limit or the end. */
            if (s.n < avail) {
                int by_records = max_records != 0 && s.n == max_records;
                int by_bytes = max_bytes != 0 &&
                               bytes + content_len(start + s.n + tag_offset) > max_bytes;
                assert_true(by_records || by_bytes);
            }
            assert_int_equal(next, start + s.n);
            seen_free(&s);
        } else if (op < 88) {
            int64_t ts = (int64_t)(rng() % (uint64_t)(clock_ms + 2000));
            uint64_t found = 0;
            m.durable = seglog_durable_index(log);
            assert_int_equal(seglog_find_time(log, ts, &found), 0);
            uint64_t expect = m.durable;
            for (uint64_t i = m.first; i < m.durable; i++) {
                if (m.arrival[i - base] >= ts) {
                    expect = i;
                    break;
                }
            }
            assert_int_equal(found, expect);
        } else if (op < 94) {
            int64_t cutoff = (int64_t)(rng() % (uint64_t)(clock_ms + 2000));
            size_t n_del = 0;
            assert_int_equal(seglog_trim_before(log, cutoff, &n_del), 0);
            m.durable = seglog_durable_index(log);
            uint64_t first = seglog_first_index(log);
            assert_true(first >= m.first);
            assert_true(first <= m.durable);
            /* Only records that arrived before the cutoff may go. */
            for (uint64_t i = m.first; i < first; i++) {
                assert_true(m.arrival[i - base] < cutoff);
            }
            m.first = first;
        } else {
            /* Reopen: a clean close syncs, so everything stays. */
            seglog_close(log);
            assert_int_equal(seglog_open(f->dir, &opt, 0, &log), 0);
            assert_int_equal(seglog_next_index(log), m.next);
            assert_int_equal(seglog_first_index(log), m.first);
            m.durable = m.next;
            assert_int_equal(seglog_durable_index(log), m.next);
        }
        struct seglog_stats st;
        seglog_get_stats(log, &st);
        assert_int_equal(st.n_records, m.next - m.first);
        assert_int_equal(seglog_next_index(log), m.next);
    }
    seglog_close(log);
    struct seglog_check_summary sum;
    assert_int_equal(seglog_check_dir(f->dir, NULL, NULL, &sum), 0);
    assert_int_equal(sum.n_problems, 0);
    assert_int_equal(sum.next_index, m.next);
    free(m.arrival);
}

static void checker_reports_damaged_sealed_segment(void **state)
{
    struct fixture *f = *state;
    struct seglog_options opt = {.segment_bytes = 8 * 1024, .index_every_bytes = 1024};
    struct seglog *log = NULL;
    assert_int_equal(seglog_open(f->dir, &opt, 0, &log), 0);
    for (uint64_t i = 0; i < 60; i += 3) {
        append_tagged(log, i, 3, 1);
    }
    seglog_close(log);
    struct seglog_check_summary sum;
    int problems = 0;
    assert_int_equal(seglog_check_dir(f->dir, count_problem, &problems, &sum), 0);
    assert_int_equal(problems, 0);
    assert_int_equal(sum.n_records, 60);
    const char *seg = nth_segment(f->dir, 1);
    flip_byte(seg, 32 + 40); /* inside the first record's payload */
    assert_int_equal(seglog_check_dir(f->dir, count_problem, &problems, &sum), 0);
    assert_true(problems >= 1);
    assert_true(sum.n_problems >= 1);
    assert_int_equal(sum.n_torn_tails, 0);
    /* The sealed index is intact, so the log opens; reading the damage reports it. */
    log_set_level(LOG_ERROR + 1);
    assert_int_equal(seglog_open(f->dir, &opt, 0, &log), 0);
    struct seen s = {0};
    uint64_t next = 0;
    int rc = 0;
    uint64_t cur = 0;
    while ((rc = seglog_read(log, cur, 0, 0, seen_visit, &s, &next)) == 0 &&
           next < seglog_durable_index(log)) {
        cur = next;
    }
    assert_int_equal(rc, SL_E(CORRUPT));
    seen_free(&s);
    seglog_close(log);
    /* Without a trusted index, open refuses rather than dropping durable records. */
    char idx[PATH_MAX];
    snprintf(idx, sizeof(idx), "%s", seg);
    strcpy(idx + strlen(idx) - 3, "idx");
    assert_int_equal(unlink(idx), 0);
    assert_int_equal(seglog_open(f->dir, &opt, 0, &log), SL_E(CORRUPT));
    assert_null(log);
    log_set_level(LOG_INFO);
}

static void remove_dir_deletes_everything(void **state)
{
    struct fixture *f = *state;
    struct seglog *log = NULL;
    assert_int_equal(seglog_open(f->dir, NULL, 0, &log), 0);
    append_tagged(log, 0, 3, 1);
    seglog_close(log);
    assert_int_equal(seglog_remove_dir(f->dir), 0);
    struct stat st;
    assert_int_equal(stat(f->dir, &st), -1);
    assert_int_equal(seglog_remove_dir(f->dir), 0); /* already gone is fine */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(append_then_read_round_trips, setup, teardown),
        cmocka_unit_test_setup_teardown(invalid_records_are_refused_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(indexes_continue_after_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(unsynced_records_are_invisible_to_readers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(read_limits_and_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(truncated_tail_is_cut_and_appends_continue, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(flipped_byte_in_last_record_is_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(torn_segment_header_is_rewritten, setup, teardown),
        cmocka_unit_test_setup_teardown(crash_keeps_synced_and_only_whole_records, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(write_failure_rolls_back_and_appends_resume, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(find_time_returns_first_at_or_after, setup, teardown),
        cmocka_unit_test_setup_teardown(segments_roll_and_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(trim_deletes_expired_segments_and_keeps_next_index,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_appenders_and_syncers, setup, teardown),
        cmocka_unit_test_setup_teardown(random_model_matches_log, setup, teardown),
        cmocka_unit_test_setup_teardown(checker_reports_damaged_sealed_segment, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(remove_dir_deletes_everything, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
