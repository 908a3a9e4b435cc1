/* Unit tests of the metadata store's connections: read brackets beside the writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pthread.h>

#include <cmocka.h>

#include "core/store.h"

#define TEST_TIMEOUT_S 20

struct fix {
    char dir[64];
    char path[96];
    struct store *st;
};

static int setup(void **state)
{
    struct fix *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/sluice-store-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/db", f->dir);
    if (store_open(f->path, &f->st) < 0) {
        return -1;
    }
    const struct store_migration m[] = {{1, "CREATE TABLE t(a INTEGER);"}};
    if (store_migrate(f->st, "demo", m, 1) < 0) {
        return -1;
    }
    alarm(TEST_TIMEOUT_S); /* a deadlock fails the test instead of hanging it */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fix *f = *state;
    alarm(0);
    store_close(f->st);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* Rows of t, read on the calling thread's connection. */
static int64_t count_rows(struct store *st)
{
    struct store_stmt *s;
    if (store_prepare(st, "SELECT count(*) FROM t", &s) < 0) {
        return -1;
    }
    int64_t n = store_step(s) == 1 ? store_col_int64(s, 0) : -1;
    store_finalize(s);
    return n;
}

static void insert_row(struct store *st, int64_t v)
{
    struct store_stmt *s;
    assert_int_equal(store_prepare(st, "INSERT INTO t(a) VALUES(?)", &s), 0);
    store_bind_int64(s, 1, v);
    assert_int_equal(store_step(s), 0);
    store_finalize(s);
}

/* A thread that holds the writer in an open transaction until told to go on. */
struct writer_arg {
    struct store *st;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int inside; /* the writer holds the lock with an uncommitted row */
    int go_on;  /* the main thread has read */
};

static void *hold_writer(void *p)
{
    struct writer_arg *w = p;
    store_lock(w->st);
    store_begin(w->st);
    insert_row(w->st, 99);
    pthread_mutex_lock(&w->mu);
    w->inside = 1;
    pthread_cond_broadcast(&w->cv);
    while (!w->go_on) {
        pthread_cond_wait(&w->cv, &w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    store_commit(w->st);
    store_unlock(w->st);
    return NULL;
}

static void reads_do_not_wait_for_the_writer(void **state)
{
    struct fix *f = *state;
    store_lock(f->st);
    insert_row(f->st, 1);
    store_unlock(f->st);
    struct writer_arg w = {.st = f->st};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, hold_writer, &w), 0);
    pthread_mutex_lock(&w.mu);
    while (!w.inside) {
        pthread_cond_wait(&w.cv, &w.mu);
    }
    pthread_mutex_unlock(&w.mu);
    /* The writer holds the mutex: a read goes on and sees only committed rows. */
    store_read_begin(f->st);
    assert_int_equal(count_rows(f->st), 1);
    store_read_end(f->st);
    pthread_mutex_lock(&w.mu);
    w.go_on = 1;
    pthread_cond_broadcast(&w.cv);
    pthread_mutex_unlock(&w.mu);
    pthread_join(th, NULL);
    store_read_begin(f->st);
    assert_int_equal(count_rows(f->st), 2);
    store_read_end(f->st);
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
}

/* A thread that takes a read bracket and reports it got one. */
struct reader_arg {
    struct store *st;
    int64_t rows;
};

static void *read_once(void *p)
{
    struct reader_arg *r = p;
    store_read_begin(r->st);
    r->rows = count_rows(r->st);
    store_read_end(r->st);
    return NULL;
}

static void readers_do_not_wait_for_one_another(void **state)
{
    struct fix *f = *state;
    store_lock(f->st);
    insert_row(f->st, 1);
    store_unlock(f->st);
    /* This thread keeps a read open while others read, up to the pool's size. */
    store_read_begin(f->st);
    assert_int_equal(count_rows(f->st), 1);
    pthread_t th[STORE_READERS_MAX - 1];
    struct reader_arg r[STORE_READERS_MAX - 1];
    for (size_t i = 0; i < STORE_READERS_MAX - 1; i++) {
        r[i] = (struct reader_arg){.st = f->st, .rows = -1};
        assert_int_equal(pthread_create(&th[i], NULL, read_once, &r[i]), 0);
    }
    for (size_t i = 0; i < STORE_READERS_MAX - 1; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(r[i].rows, 1);
    }
    store_read_end(f->st);
}

static void a_read_bracket_is_one_snapshot(void **state)
{
    struct fix *f = *state;
    store_read_begin(f->st);
    assert_int_equal(count_rows(f->st), 0);
    /* Another thread commits a row meanwhile: this bracket does not see it. */
    struct writer_arg w = {.st = f->st, .go_on = 1};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, hold_writer, &w), 0);
    pthread_join(th, NULL);
    assert_int_equal(count_rows(f->st), 0);
    store_read_end(f->st);
    store_read_begin(f->st);
    assert_int_equal(count_rows(f->st), 1);
    store_read_end(f->st);
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
}

static void brackets_nest_with_the_writer_lock(void **state)
{
    struct fix *f = *state;
    /* Inside the lock, a read bracket borrows the writer: it sees the uncommitted row. */
    store_lock(f->st);
    assert_int_equal(store_begin(f->st), 0);
    insert_row(f->st, 5);
    store_read_begin(f->st);
    store_read_begin(f->st);
    assert_int_equal(count_rows(f->st), 1);
    store_read_end(f->st);
    store_read_end(f->st);
    assert_int_equal(store_commit(f->st), 0);
    assert_int_equal(store_last_rowid(f->st), 1);
    store_unlock(f->st);
    /* Inside a read bracket, taking the lock writes on the writer. */
    store_read_begin(f->st);
    store_lock(f->st);
    insert_row(f->st, 6);
    assert_int_equal(store_changes(f->st), 1);
    store_unlock(f->st);
    store_read_end(f->st);
    store_read_begin(f->st);
    assert_int_equal(count_rows(f->st), 2);
    store_read_end(f->st);
}

static void a_read_bracket_refuses_writes(void **state)
{
    struct fix *f = *state;
    store_read_begin(f->st);
    assert_true(store_exec(f->st, "INSERT INTO t(a) VALUES(1)") < 0);
    store_read_end(f->st);
    store_lock(f->st);
    assert_int_equal(count_rows(f->st), 0);
    store_unlock(f->st);
}

static void an_in_memory_store_reads_on_the_writer(void **state)
{
    (void)state;
    struct store *st;
    assert_int_equal(store_open(":memory:", &st), 0);
    const struct store_migration m[] = {{1, "CREATE TABLE t(a INTEGER);"}};
    assert_int_equal(store_migrate(st, "demo", m, 1), 0);
    store_lock(st);
    insert_row(st, 1);
    store_unlock(st);
    store_read_begin(st);
    assert_int_equal(count_rows(st), 1);
    store_read_end(st);
    /* The fallback took and gave back the writer's mutex; the lock nests inside it. */
    store_read_begin(st);
    store_lock(st);
    insert_row(st, 2);
    store_unlock(st);
    assert_int_equal(count_rows(st), 2);
    store_read_end(st);
    /* A lock taken inside the fallback bracket may outlive it. */
    store_read_begin(st);
    store_lock(st);
    store_read_end(st);
    insert_row(st, 3);
    store_unlock(st);
    store_lock(st);
    assert_int_equal(count_rows(st), 3);
    store_unlock(st);
    store_close(st);
}

/* A statement comes back from the cache reset and unbound, and never to two users. */
static void prepared_statements_are_reused_but_never_shared(void **state)
{
    struct fix *f = *state;
    const char *sql = "SELECT a FROM t WHERE a>=? ORDER BY a";
    store_lock(f->st);
    for (int64_t v = 1; v <= 3; v++) {
        insert_row(f->st, v);
    }
    struct store_stmt *a, *b, *c;
    assert_int_equal(store_prepare(f->st, sql, &a), 0);
    store_bind_int64(a, 1, 1);
    assert_int_equal(store_step(a), 1);
    assert_int_equal(store_col_int64(a, 0), 1);
    /* The same text while a is live: another statement, its own cursor. */
    assert_int_equal(store_prepare(f->st, sql, &b), 0);
    assert_ptr_not_equal(a, b);
    store_bind_int64(b, 1, 3);
    assert_int_equal(store_step(b), 1);
    assert_int_equal(store_col_int64(b, 0), 3);
    assert_int_equal(store_step(a), 1);
    assert_int_equal(store_col_int64(a, 0), 2);
    store_finalize(b);
    /* b again, mid-walk a still its own; reset and unbound (a>=NULL matches nothing). */
    assert_int_equal(store_prepare(f->st, sql, &c), 0);
    assert_ptr_equal(c, b);
    assert_int_equal(store_step(c), 0);
    assert_int_equal(store_step(a), 1);
    assert_int_equal(store_col_int64(a, 0), 3);
    store_finalize(c);
    store_finalize(a);
    /* A statement left mid-walk comes back from the start. */
    assert_int_equal(store_prepare(f->st, sql, &a), 0);
    store_bind_int64(a, 1, 0);
    assert_int_equal(store_step(a), 1);
    assert_int_equal(store_col_int64(a, 0), 1);
    store_finalize(a);
    store_unlock(f->st);
    /* A read connection keeps its own. */
    store_read_begin(f->st);
    assert_int_equal(store_prepare(f->st, sql, &a), 0);
    assert_ptr_not_equal(a, b);
    store_bind_int64(a, 1, 2);
    assert_int_equal(store_step(a), 1);
    assert_int_equal(store_col_int64(a, 0), 2);
    store_finalize(a);
    store_read_end(f->st);
}

/* Many texts (more than the cache keeps) and failed steps leave a working store. */
static void the_statement_cache_survives_churn_and_failures(void **state)
{
    struct fix *f = *state;
    store_lock(f->st);
    assert_int_equal(store_exec(f->st, "CREATE TABLE u(k TEXT PRIMARY KEY);"), 0);
    for (int i = 0; i < 300; i++) {
        char sql[64];
        snprintf(sql, sizeof(sql), "SELECT %d + count(*) FROM t", i);
        struct store_stmt *s;
        assert_int_equal(store_prepare(f->st, sql, &s), 0);
        assert_int_equal(store_step(s), 1);
        assert_int_equal(store_col_int64(s, 0), i);
        store_finalize(s);
    }
    assert_int_equal(store_run(f->st, "INSERT INTO u(k) VALUES(?)", "s", "x"), 0);
    assert_true(store_run(f->st, "INSERT INTO u(k) VALUES(?)", "s", "x") < 0);
    assert_int_equal(store_run(f->st, "INSERT INTO u(k) VALUES(?)", "s", "y"), 0);
    assert_int_equal(store_begin(f->st), 0);
    assert_int_equal(store_run(f->st, "INSERT INTO u(k) VALUES(?)", "s", "z"), 0);
    store_rollback(f->st);
    struct store_stmt *s = store_prepare_args(f->st, "SELECT count(*) FROM u", "");
    assert_non_null(s);
    assert_int_equal(store_step(s), 1);
    assert_int_equal(store_col_int64(s, 0), 2);
    store_finalize(s);
    store_unlock(f->st);
}

/* Commits that grow the WAL past its limit get it copied into the database (by the
 * store's checkpointer), so the database file grows while only the WAL is written. */
static void the_wal_is_checkpointed(void **state)
{
    struct fix *f = *state;
    store_lock(f->st);
    assert_int_equal(store_exec(f->st, "CREATE TABLE big(b BLOB);"), 0);
    store_unlock(f->st);
    static uint8_t blob[8192];
    for (int i = 0; i < 400; i++) {
        store_lock(f->st);
        struct store_stmt *s;
        assert_int_equal(store_prepare(f->st, "INSERT INTO big(b) VALUES(?)", &s), 0);
        blob[0] = (uint8_t)i;
        store_bind_blob(s, 1, blob, sizeof(blob));
        assert_int_equal(store_step(s), 0);
        store_finalize(s);
        store_unlock(f->st);
    }
    struct stat sb = {0};
    for (int i = 0; i < 300; i++) { /* up to 30 s on a loaded machine */
        assert_int_equal(stat(f->path, &sb), 0);
        if (sb.st_size > (off_t)1 << 20) {
            break;
        }
        usleep(100 * 1000);
    }
    assert_true(sb.st_size > (off_t)1 << 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(reads_do_not_wait_for_the_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(readers_do_not_wait_for_one_another, setup, teardown),
        cmocka_unit_test_setup_teardown(a_read_bracket_is_one_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(brackets_nest_with_the_writer_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(a_read_bracket_refuses_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(an_in_memory_store_reads_on_the_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(prepared_statements_are_reused_but_never_shared, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(the_statement_cache_survives_churn_and_failures, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(the_wal_is_checkpointed, setup, teardown),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
