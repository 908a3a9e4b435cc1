/*
 * Unit tests of the stream service through stream.h: create, delete and the timed
 * transitions (with an injected clock), reference counts, retention, updates (atomic
 * check-and-set, nothing changed by a failed write), readers at every position and the
 * wake-up of a waiting reader. Each test works in its own mkdtemp directory and store.
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <limits.h>
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

#include "core/clock.h"
#include "core/config.h"
#include "core/store.h"
#include "stream/stream.h"
#include "stream/stream_int.h"

#include "stream_fixture.h"

static void advance(struct fixture *f, int64_t ms)
{
    atomic_fetch_add(&f->now_ms, ms);
}

static int setup(void **state)
{
    struct fixture *f = stream_fixture_new("test_stream_service");
    if (f == NULL || stream_fixture_open(f, open_service) < 0) {
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    return stream_fixture_destroy(*state, NULL);
}

/* ---- helpers ---- */

static void create(struct fixture *f, const char *name, int shards)
{
    struct stream_create_params p = {.region = "us-east-1",
                                     .account = "000000000000",
                                     .name = name,
                                     .mode = STREAM_MODE_PROVISIONED,
                                     .shard_count = shards};
    struct err_info err = {0};
    assert_int_equal(stream_create(f->svc, &p, &err), 0);
}

static struct stream *lookup(struct fixture *f, const char *name)
{
    struct stream *s = NULL;
    assert_int_equal(stream_lookup(f->svc, "us-east-1", name, &s), 0);
    return s;
}

static enum stream_status status_of(struct stream *s)
{
    struct stream_info info;
    stream_describe(s, &info);
    return info.status;
}

/* Appends n records "r<first>".."r<first+n-1>" with hash key 0 (shard 0) at the clock's now. */
static void put_n(struct fixture *f, struct stream *s, int first, int n)
{
    struct stream_put_record recs[16];
    char data[16][16];
    assert_true(n <= 16);
    for (int i = 0; i < n; i++) {
        int len = snprintf(data[i], sizeof(data[i]), "r%d", first + i);
        recs[i] = (struct stream_put_record){.data = (const uint8_t *)data[i],
                                             .data_len = (uint32_t)len,
                                             .partition_key = "pk",
                                             .pk_len = 2,
                                             .hash_key = 0};
    }
    assert_int_equal(stream_records_put(f->svc, s, recs, (size_t)n, atomic_load(&f->now_ms), NULL),
                     0);
    for (int i = 0; i < n; i++) {
        assert_int_equal(recs[i].result, 0);
        assert_int_equal(recs[i].shard_idx, 0);
    }
}

struct collected {
    char data[64][16];
    uint64_t index[64];
    size_t n;
};

static int collect(void *arg, uint64_t index, int64_t arrival_ms, const char *pk, size_t pk_len,
                   const uint8_t *data, size_t data_len)
{
    (void)arrival_ms;
    (void)pk;
    (void)pk_len;
    struct collected *c = arg;
    if (c->n < 64) {
        snprintf(c->data[c->n], sizeof(c->data[c->n]), "%.*s", (int)data_len, (const char *)data);
        c->index[c->n] = index;
        c->n++;
    }
    return 0;
}

/* Reads everything durable from pos on shard 0; returns the first record's data or "". */
static void read_from(struct stream *s, const struct stream_position *pos, struct collected *c)
{
    struct stream_reader *r;
    memset(c, 0, sizeof(*c));
    assert_int_equal(stream_reader_open(s, 0, pos, &r), 0);
    assert_int_equal(stream_reader_read(r, 0, 0, collect, c), 0);
    stream_reader_close(r);
}

static int dir_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- tests ---- */

static void create_is_creating_until_due_then_active_and_recorded(void **state)
{
    struct fixture *f = *state;
    create(f, "orders", 2);
    struct stream *s = lookup(f, "orders");
    struct stream_info info;
    stream_describe(s, &info);
    assert_int_equal(info.status, STREAM_CREATING);
    assert_int_equal(info.created_ms, T0_MS);
    assert_int_equal(info.seq_tag, (uint64_t)T0_MS);
    assert_int_equal(info.n_shards, 2);
    assert_string_equal(info.arn, "arn:aws:kinesis:us-east-1:000000000000:stream/orders");
    /* Records are refused while CREATING. */
    struct stream_put_record rec = {
        .data = (const uint8_t *)"x", .data_len = 1, .partition_key = "k", .pk_len = 1};
    assert_int_equal(stream_records_put(f->svc, s, &rec, 1, T0_MS, NULL), SL_E(RESOURCE_NOT_FOUND));
    advance(f, TRANSITION_MS - 1);
    assert_int_equal(status_of(s), STREAM_CREATING);
    advance(f, 1);
    /* Due: it reads ACTIVE at once, before anything is written. */
    assert_int_equal(status_of(s), STREAM_ACTIVE);
    stream__settle(f->svc);
    stream_release(s);
    /* The settled state survives a restart. */
    stream_service_close(f->svc);
    atomic_store(&f->now_ms, T0_MS); /* a clock before the deadline: the store must say ACTIVE */
    assert_int_equal(open_service(f), 0);
    s = lookup(f, "orders");
    assert_int_equal(status_of(s), STREAM_ACTIVE);
    stream_release(s);
}

static void create_refuses_a_taken_name_and_the_shard_quota(void **state)
{
    struct fixture *f = *state;
    f->cfg.shard_limit = 10;
    create(f, "a", 8);
    struct err_info err = {0};
    struct stream_create_params p = {
        .region = "us-east-1", .account = "000000000000", .name = "a", .shard_count = 1};
    assert_int_equal(stream_create(f->svc, &p, &err), SL_E(RESOURCE_IN_USE));
    assert_non_null(strstr(err.message, "already exists"));
    p.name = "b";
    p.shard_count = 3;
    assert_int_equal(stream_create(f->svc, &p, &err), SL_E(LIMIT_EXCEEDED));
    struct stream_limits lim;
    stream_service_limits(f->svc, "us-east-1", &lim);
    assert_int_equal(lim.open_shards, 8);
    assert_int_equal(lim.shard_limit, 10);
    /* Nothing of "b" was left behind. */
    struct stream *s;
    assert_int_equal(stream_lookup(f->svc, "us-east-1", "b", &s), SL_E(RESOURCE_NOT_FOUND));
    assert_null(s);
    /* The same name in another region is another stream. */
    p.region = "eu-west-1";
    p.name = "a";
    p.shard_count = 1;
    assert_int_equal(stream_create(f->svc, &p, &err), 0);
}

/* A stream's reference count once the background thread lets go of it: that thread holds
   every stream for a moment on each pass, so a count read at any instant may be one over. */
static int refs_settle(struct stream *s, int want)
{
    int have = atomic_load(&s->refs);
    for (int i = 0; i < 10000 && have != want; i++) {
        usleep(1000);
        have = atomic_load(&s->refs);
    }
    return have;
}

static void lookups_and_readers_count_references(void **state)
{
    struct fixture *f = *state;
    create(f, "refs", 1);
    struct stream *a = lookup(f, "refs");
    int base = 2; /* the registry's and ours */
    assert_int_equal(refs_settle(a, base), base);
    struct stream *b = NULL;
    assert_int_equal(
        stream_lookup_arn(f->svc, "arn:aws:kinesis:us-east-1:000000000000:stream/refs", &b), 0);
    assert_ptr_equal(a, b);
    assert_int_equal(refs_settle(a, base + 1), base + 1);
    struct stream *c = NULL;
    assert_int_equal(stream_lookup_id(f->svc, stream_id(a), stream_seq_tag(a), &c), 0);
    assert_int_equal(refs_settle(a, base + 2), base + 2);
    struct stream *other = NULL;
    assert_int_equal(stream_lookup_id(f->svc, stream_id(a), stream_seq_tag(a) + 1, &other),
                     SL_E(RESOURCE_NOT_FOUND));
    assert_null(other);
    struct stream_position pos = {.type = STREAM_TRIM_HORIZON};
    struct stream_reader *r;
    assert_int_equal(stream_reader_open(a, 0, &pos, &r), 0);
    assert_int_equal(refs_settle(a, base + 3), base + 3);
    stream_reader_close(r);
    stream_release(b);
    stream_release(a);
    assert_int_equal(refs_settle(a, base), base); /* the registry's and c's */
    stream_release(c);
    assert_int_equal(refs_settle(a, base - 1), base - 1);
    assert_int_equal(
        stream_lookup_arn(f->svc, "arn:aws:kinesis:us-east-1:111111111111:stream/refs", &b),
        SL_E(RESOURCE_NOT_FOUND));
    assert_int_equal(stream_lookup_arn(f->svc, "not-an-arn", &b), SL_E(INVALID_ARGUMENT));
}

static void delete_hides_when_due_and_files_go_with_the_last_handle(void **state)
{
    struct fixture *f = *state;
    create(f, "gone", 1);
    advance(f, TRANSITION_MS);
    struct stream *s = lookup(f, "gone");
    put_n(f, s, 0, 3);
    char dir[sizeof(s->dir)];
    memcpy(dir, s->dir, sizeof(dir));
    struct err_info err = {0};
    assert_int_equal(stream_delete(f->svc, s, &err), 0);
    assert_int_equal(status_of(s), STREAM_DELETING);
    assert_int_equal(stream_delete(f->svc, s, &err), SL_E(RESOURCE_NOT_FOUND));
    /* Still there, DELETING, until the transition time passes. */
    struct stream *again = lookup(f, "gone");
    stream_release(again);
    advance(f, TRANSITION_MS);
    assert_int_equal(stream_lookup(f->svc, "us-east-1", "gone", &again), SL_E(RESOURCE_NOT_FOUND));
    stream__settle(f->svc);
    assert_int_equal(atomic_load(&s->row_deleted), 1);
    /* Our handle still reads the records; the files are still there. */
    struct collected c;
    struct stream_position pos = {.type = STREAM_TRIM_HORIZON};
    read_from(s, &pos, &c);
    assert_int_equal(c.n, 3);
    assert_true(dir_exists(dir));
    /* The name is free again, under a new id: the new stream's files are not the ones
       being removed. */
    create(f, "gone", 1);
    advance(f, TRANSITION_MS);
    struct stream *fresh = lookup(f, "gone");
    assert_true(stream_id(fresh) != stream_id(s));
    assert_string_not_equal(fresh->dir, dir);
    put_n(f, fresh, 0, 2);
    stream_release(s);
    stream__reap(f->svc);
    for (int i = 0; i < 200 && dir_exists(dir); i++) {
        usleep(10000); /* the background thread may be the one removing them */
    }
    assert_false(dir_exists(dir));
    assert_true(dir_exists(fresh->dir));
    read_from(fresh, &pos, &c);
    assert_int_equal(c.n, 2);
    stream_release(fresh);
}

static void retention_updates_check_bounds_and_direction(void **state)
{
    struct fixture *f = *state;
    create(f, "ret", 1);
    struct stream *s = lookup(f, "ret");
    struct err_info err = {0};
    /* Not while CREATING. */
    assert_int_equal(stream_update_retention(f->svc, s, 48, 1, &err), SL_E(RESOURCE_IN_USE));
    advance(f, TRANSITION_MS);
    assert_int_equal(stream_update_retention(f->svc, s, 23, 0, &err), SL_E(INVALID_ARGUMENT));
    assert_int_equal(stream_update_retention(f->svc, s, 8761, 0, &err), SL_E(INVALID_ARGUMENT));
    assert_int_equal(stream_update_retention(f->svc, s, 48, 1, &err), 0);
    assert_int_equal(stream_update_retention(f->svc, s, 36, 1, &err), SL_E(INVALID_ARGUMENT));
    assert_non_null(strstr(err.message, "DecreaseRetentionPeriod"));
    assert_int_equal(stream_update_retention(f->svc, s, 72, -1, &err), SL_E(INVALID_ARGUMENT));
    assert_int_equal(stream_update_retention(f->svc, s, 24, -1, &err), 0);
    struct stream_info info;
    stream_describe(s, &info);
    assert_int_equal(info.retention_hours, 24);
    stream_release(s);
}

static void retention_removes_records_older_than_the_period(void **state)
{
    struct fixture *f = *state;
    create(f, "old", 1);
    advance(f, TRANSITION_MS);
    struct stream *s = lookup(f, "old");
    put_n(f, s, 0, 5);
    struct stream_shard_state st;
    assert_int_equal(stream_shard_state(s, 0, &st), 0);
    assert_int_equal(st.first_index, 0);
    assert_int_equal(st.durable_index, 5);
    /* 23 hours later nothing has expired; 25 hours later all has (24 hours retention). */
    advance(f, 23LL * 3600 * 1000);
    stream__apply_retention(f->svc);
    assert_int_equal(stream_shard_state(s, 0, &st), 0);
    assert_int_equal(st.first_index, 0);
    advance(f, 2LL * 3600 * 1000);
    stream__apply_retention(f->svc);
    assert_int_equal(stream_shard_state(s, 0, &st), 0);
    assert_int_equal(st.first_index, 5);
    struct collected c;
    struct stream_position pos = {.type = STREAM_TRIM_HORIZON};
    read_from(s, &pos, &c);
    assert_int_equal(c.n, 0);
    stream_release(s);
}

struct mode_race {
    struct fixture *f;
    struct stream *s;
    pthread_barrier_t *go;
    int rc;
};

static void *update_mode_thread(void *arg)
{
    struct mode_race *m = arg;
    struct err_info err = {0};
    pthread_barrier_wait(m->go);
    m->rc = stream_update_mode(m->f->svc, m->s, STREAM_MODE_ON_DEMAND, &err);
    return NULL;
}

static void concurrent_mode_updates_let_exactly_one_through(void **state)
{
    struct fixture *f = *state;
    create(f, "race", 1);
    advance(f, TRANSITION_MS);
    struct stream *s = lookup(f, "race");
    for (int round = 0; round < 20; round++) {
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, 4);
        struct mode_race m[4];
        pthread_t t[4];
        for (int i = 0; i < 4; i++) {
            m[i] = (struct mode_race){.f = f, .s = s, .go = &go};
            pthread_create(&t[i], NULL, update_mode_thread, &m[i]);
        }
        int ok = 0;
        for (int i = 0; i < 4; i++) {
            pthread_join(t[i], NULL);
            ok += m[i].rc == 0;
            if (m[i].rc != 0) {
                /* The others see UPDATING (or the mode already set on odd rounds). */
                assert_true(m[i].rc == SL_E(RESOURCE_IN_USE) || m[i].rc == SL_E(INVALID_ARGUMENT));
            }
        }
        pthread_barrier_destroy(&go);
        struct stream_info info;
        stream_describe(s, &info);
        assert_int_equal(ok, 1);
        assert_int_equal(info.status, STREAM_UPDATING);
        assert_int_equal(info.mode, STREAM_MODE_ON_DEMAND);
        /* Back to PROVISIONED for the next round. */
        advance(f, TRANSITION_MS);
        struct err_info err = {0};
        assert_int_equal(stream_update_mode(f->svc, s, STREAM_MODE_PROVISIONED, &err), 0);
        advance(f, TRANSITION_MS);
    }
    stream_release(s);
}

static void failed_mode_save_changes_nothing(void **state)
{
    struct fixture *f = *state;
    create(f, "nosave", 1);
    advance(f, TRANSITION_MS);
    stream__settle(f->svc);
    struct stream *s = lookup(f, "nosave");
    /* Every later write of a stream row fails, as a full disk or I/O error would. */
    assert_int_equal(store_exec(f->store, "CREATE TRIGGER no_update BEFORE UPDATE ON streams"
                                          " BEGIN SELECT RAISE(ABORT, 'injected'); END;"),
                     0);
    struct err_info err = {0};
    assert_true(stream_update_mode(f->svc, s, STREAM_MODE_ON_DEMAND, &err) < 0);
    struct stream_info info;
    stream_describe(s, &info);
    assert_int_equal(info.mode, STREAM_MODE_PROVISIONED);
    assert_int_equal(info.status, STREAM_ACTIVE);
    assert_true(stream_update_retention(f->svc, s, 48, 1, &err) < 0);
    assert_true(stream_update_encryption(f->svc, s, "KMS", "alias/x", &err) < 0);
    assert_true(stream_delete(f->svc, s, &err) < 0);
    stream_describe(s, &info);
    assert_int_equal(info.retention_hours, 24);
    assert_string_equal(info.encryption, "NONE");
    assert_int_equal(info.status, STREAM_ACTIVE);
    /* Once writes work again, the same update goes through. */
    assert_int_equal(store_exec(f->store, "DROP TRIGGER no_update"), 0);
    assert_int_equal(stream_update_mode(f->svc, s, STREAM_MODE_ON_DEMAND, &err), 0);
    stream_describe(s, &info);
    assert_int_equal(info.mode, STREAM_MODE_ON_DEMAND);
    stream_release(s);
}

static void readers_open_at_every_position(void **state)
{
    struct fixture *f = *state;
    create(f, "pos", 2);
    advance(f, TRANSITION_MS);
    struct stream *s = lookup(f, "pos");
    put_n(f, s, 0, 3); /* at t1 */
    int64_t t2 = atomic_load(&f->now_ms) + 5000;
    advance(f, 5000);
    put_n(f, s, 3, 2); /* at t2 */
    struct collected c;
    struct stream_position pos = {.type = STREAM_TRIM_HORIZON};
    read_from(s, &pos, &c);
    assert_int_equal(c.n, 5);
    assert_string_equal(c.data[0], "r0");
    assert_string_equal(c.data[4], "r4");
    pos = (struct stream_position){.type = STREAM_LATEST};
    read_from(s, &pos, &c);
    assert_int_equal(c.n, 0);
    pos = (struct stream_position){.type = STREAM_AT_TIMESTAMP, .timestamp_ms = t2};
    read_from(s, &pos, &c);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.data[0], "r3");
    char seq[STREAM_SEQNO_LEN + 1];
    struct stream_seqno_shard seq_shard;
    assert_int_equal(stream_seqno_shard(s, 0, &seq_shard), 0);
    stream_seqno_format(&seq_shard, 1, T0_MS, seq);
    pos = (struct stream_position){
        .type = STREAM_AT_SEQUENCE_NUMBER, .sequence_number = seq, .seqno_len = strlen(seq)};
    read_from(s, &pos, &c);
    assert_int_equal(c.n, 4);
    assert_string_equal(c.data[0], "r1");
    pos.type = STREAM_AFTER_SEQUENCE_NUMBER;
    read_from(s, &pos, &c);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.data[0], "r2");
    pos = (struct stream_position){.type = STREAM_AT_INDEX, .index = 4};
    read_from(s, &pos, &c);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.index[0], 4);
    /* A sequence number of another shard, or past the end, is refused. */
    struct stream_reader *r;
    struct stream_seqno_shard other_shard = seq_shard;
    other_shard.shard_idx = 1;
    stream_seqno_format(&other_shard, 1, T0_MS, seq);
    pos = (struct stream_position){
        .type = STREAM_AT_SEQUENCE_NUMBER, .sequence_number = seq, .seqno_len = strlen(seq)};
    assert_int_equal(stream_reader_open(s, 0, &pos, &r), SL_E(INVALID_ARGUMENT));
    other_shard = seq_shard;
    other_shard.epoch_s++; /* a shard 0 of another stream */
    stream_seqno_format(&other_shard, 1, T0_MS, seq);
    assert_int_equal(stream_reader_open(s, 0, &pos, &r), SL_E(INVALID_ARGUMENT));
    stream_seqno_format(&seq_shard, 5, T0_MS, seq);
    assert_int_equal(stream_reader_open(s, 0, &pos, &r), SL_E(INVALID_ARGUMENT));
    assert_int_equal(stream_reader_open(s, 7, &pos, &r), SL_E(RESOURCE_NOT_FOUND));
    /* Lineage: every shard open, no parents, the whole hash space covered. */
    struct stream_shard_info *shards;
    size_t n;
    stream_shards_list(s, &shards, &n);
    assert_int_equal(n, 2);
    assert_string_equal(shards[1].shard_id, "shardId-000000000001");
    assert_int_equal(shards[0].open, 1);
    assert_int_equal(shards[0].parent_idx, -1);
    assert_int_equal(shards[1].adjacent_parent_idx, -1);
    assert_true(shards[0].start_hash == 0);
    assert_true(shards[1].start_hash == shards[0].end_hash + 1);
    assert_true(shards[1].end_hash == ~(stream_u128)0);
    free(shards);
    stream_release(s);
}

struct waiter {
    struct stream_reader *r;
    int rc;
    int64_t woke_ns;
};

static void *wait_thread(void *arg)
{
    struct waiter *w = arg;
    w->rc = stream_reader_wait(w->r, 10000);
    w->woke_ns = clock_mono_ns();
    return NULL;
}

static void a_waiting_reader_wakes_when_records_are_durable(void **state)
{
    struct fixture *f = *state;
    create(f, "wake", 1);
    advance(f, TRANSITION_MS);
    struct stream *s = lookup(f, "wake");
    struct stream_position pos = {.type = STREAM_LATEST};
    struct stream_reader *r;
    assert_int_equal(stream_reader_open(s, 0, &pos, &r), 0);
    /* Nothing new: the wait times out after about its timeout. */
    int64_t t0 = clock_mono_ns();
    assert_int_equal(stream_reader_wait(r, 50), -ETIMEDOUT);
    int64_t waited_ms = (clock_mono_ns() - t0) / 1000000;
    assert_in_range(waited_ms, 45, 5000);
    int64_t worst_ms = 0;
    for (int round = 0; round < 5; round++) {
        struct waiter w = {.r = r};
        pthread_t t;
        pthread_create(&t, NULL, wait_thread, &w);
        usleep(20000); /* let it block */
        put_n(f, s, round, 1);
        int64_t put_done_ns = clock_mono_ns();
        pthread_join(t, NULL);
        assert_int_equal(w.rc, 0);
        int64_t late_ms = w.woke_ns > put_done_ns ? (w.woke_ns - put_done_ns) / 1000000 : 0;
        worst_ms = late_ms > worst_ms ? late_ms : worst_ms;
        struct collected c = {0};
        assert_int_equal(stream_reader_read(r, 0, 0, collect, &c), 0);
        assert_int_equal(c.n, 1);
    }
    print_message("worst wake-up after the append returned: %lld ms\n", (long long)worst_ms);
    /* w.rc == 0 above says each wait ended by the append, not by its 10 s timeout; the
       latency is a figure, not a verdict (tests never pass or fail on timing). */
    /* Deletion wakes a waiter too. */
    struct waiter w = {.r = r};
    pthread_t t;
    pthread_create(&t, NULL, wait_thread, &w);
    usleep(20000);
    struct err_info err = {0};
    assert_int_equal(stream_delete(f->svc, s, &err), 0);
    pthread_join(t, NULL);
    assert_int_equal(w.rc, SL_E(RESOURCE_NOT_FOUND));
    stream_reader_close(r);
    stream_release(s);
}

static void tags_are_kept_per_stream_up_to_fifty(void **state)
{
    struct fixture *f = *state;
    const char *keys[] = {"team", "env"}, *values[] = {"data", "prod"};
    struct stream_create_params p = {.region = "us-east-1",
                                     .account = "000000000000",
                                     .name = "tagged",
                                     .shard_count = 1,
                                     .tag_keys = keys,
                                     .tag_values = values,
                                     .n_tags = 2};
    struct err_info err = {0};
    assert_int_equal(stream_create(f->svc, &p, &err), 0);
    struct stream *s = lookup(f, "tagged");
    char **k, **v;
    size_t n;
    assert_int_equal(stream_tags_list(f->svc, s, &k, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(k[0], "env");
    assert_string_equal(v[1], "data");
    stream_tags_free(k, v, n);
    const char *many_keys[50], *many_values[50];
    char names[50][16];
    for (int i = 0; i < 50; i++) {
        snprintf(names[i], sizeof(names[i]), "k%d", i);
        many_keys[i] = names[i];
        many_values[i] = "v";
    }
    assert_int_equal(stream_tags_put(f->svc, s, many_keys, many_values, 49, &err),
                     SL_E(LIMIT_EXCEEDED));
    assert_int_equal(stream_tags_put(f->svc, s, many_keys, many_values, 48, &err), 0);
    assert_int_equal(stream_tags_remove(f->svc, s, keys, 1), 0);
    assert_int_equal(stream_tags_list(f->svc, s, &k, &v, &n), 0);
    assert_int_equal(n, 49);
    stream_tags_free(k, v, n);
    stream_release(s);
}

struct record_path {
    struct fixture *f;
    struct stream *s;
    _Atomic int done;
    int lookup_rc;
    enum stream_status status;
};

static void *record_path_thread(void *arg)
{
    struct record_path *rp = arg;
    struct stream *s = NULL;
    rp->lookup_rc = stream_lookup(rp->f->svc, "us-east-1", "busy", &s);
    if (s != NULL) {
        rp->status = stream_status_get(s);
        put_n(rp->f, s, 0, 2);
        stream_release(s);
    }
    atomic_store(&rp->done, 1);
    return NULL;
}

static void *create_thread(void *arg)
{
    struct fixture *f = arg;
    create(f, "other", 1);
    return NULL;
}

/* The record path neither waits for the store nor for a change of state in progress. */
static void lookups_and_appends_go_on_while_the_store_is_busy(void **state)
{
    struct fixture *f = *state;
    create(f, "busy", 1);
    advance(f, TRANSITION_MS); /* CREATING is due: nothing has recorded ACTIVE yet */
    /* The store is held, as by a long write; a CreateStream is blocked inside it. */
    store_lock(f->store);
    pthread_t creator;
    pthread_create(&creator, NULL, create_thread, f);
    usleep(50000);
    struct record_path rp = {.f = f};
    atomic_init(&rp.done, 0);
    pthread_t t;
    pthread_create(&t, NULL, record_path_thread, &rp);
    for (int i = 0; i < 500 && !atomic_load(&rp.done); i++) {
        usleep(10000);
    }
    int finished = atomic_load(&rp.done);
    store_unlock(f->store);
    pthread_join(t, NULL);
    pthread_join(creator, NULL);
    assert_true(finished);
    assert_int_equal(rp.lookup_rc, 0);
    assert_int_equal(rp.status, STREAM_ACTIVE);
    struct stream *other = lookup(f, "other");
    stream_release(other);
}

/* ---- resharding ---- */

/* Appends one record "data" with hash key hash; returns the shard it went to. */
static uint32_t put_hash(struct fixture *f, struct stream *s, stream_u128 hash, const char *data)
{
    struct stream_put_record rec = {.data = (const uint8_t *)data,
                                    .data_len = (uint32_t)strlen(data),
                                    .partition_key = "pk",
                                    .pk_len = 2,
                                    .hash_key = hash};
    assert_int_equal(stream_records_put(f->svc, s, &rec, 1, atomic_load(&f->now_ms), NULL), 0);
    assert_int_equal(rec.result, 0);
    return rec.shard_idx;
}

/* Reads all of shard shard_idx from TRIM_HORIZON into c; returns stream_reader_at_end. */
static int read_shard(struct stream *s, uint32_t shard_idx, struct collected *c)
{
    struct stream_reader *r;
    struct stream_position pos = {.type = STREAM_TRIM_HORIZON};
    memset(c, 0, sizeof(*c));
    assert_int_equal(stream_reader_open(s, shard_idx, &pos, &r), 0);
    assert_int_equal(stream_reader_read(r, 0, 0, collect, c), 0);
    int end = stream_reader_at_end(r);
    stream_reader_close(r);
    return end;
}

/* The open shards, in hash order, cover [0, 2^128) with no gap or overlap. */
static void assert_open_cover_the_space(struct stream *s, size_t n_open_expected)
{
    struct stream_shard_info *shards;
    size_t n;
    stream_shards_list(s, &shards, &n);
    stream_u128 next = 0;
    size_t n_open = 0;
    int reached_top = 0;
    while (!reached_top) {
        size_t i = 0;
        while (i < n && !(shards[i].open && shards[i].start_hash == next)) {
            i++;
        }
        assert_true(i < n); /* no gap */
        n_open++;
        reached_top = shards[i].end_hash == ~(stream_u128)0;
        next = shards[i].end_hash + 1;
    }
    assert_int_equal(n_open, n_open_expected);
    assert_true(next == 0);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(shards[i].shard_idx, i); /* numbers stay dense */
    }
    free(shards);
}

static void split_checks_its_rules_closes_the_parent_and_routes_to_children(void **state)
{
    struct fixture *f = *state;
    create(f, "split", 2);
    advance(f, TRANSITION_MS);
    struct stream *s = lookup(f, "split");
    put_n(f, s, 0, 3);
    struct stream_shard_info p0;
    assert_int_equal(stream_shard_get(s, 0, &p0), 0);
    struct err_info err = {0};
    assert_int_equal(stream_shard_split(f->svc, s, 9, 5, &err), SL_E(RESOURCE_NOT_FOUND));
    assert_string_equal(err.message, "Could not find shard shardId-000000000009 in stream split "
                                     "under account 000000000000.");
    assert_int_equal(stream_shard_split(f->svc, s, 0, 1, &err), SL_E(INVALID_ARGUMENT));
    assert_non_null(strstr(err.message, "NewStartingHashKey 1 used in SplitShard() on shard "
                                        "shardId-000000000000 in stream split under account "
                                        "000000000000 is not both greater than one plus"));
    assert_int_equal(stream_shard_split(f->svc, s, 0, p0.end_hash, &err), SL_E(INVALID_ARGUMENT));
    stream_u128 mid = p0.end_hash / 2;
    assert_int_equal(stream_shard_split(f->svc, s, 0, mid, &err), 0);
    /* UPDATING: one resharding at a time. */
    assert_int_equal(status_of(s), STREAM_UPDATING);
    assert_int_equal(stream_shard_split(f->svc, s, 1, p0.end_hash + 10, &err),
                     SL_E(RESOURCE_IN_USE));
    assert_string_equal(err.message, "Stream split under account 000000000000 not ACTIVE, "
                                     "instead in state UPDATING");
    advance(f, TRANSITION_MS);
    assert_int_equal(status_of(s), STREAM_ACTIVE);
    struct stream_info info;
    stream_describe(s, &info);
    assert_int_equal(info.n_shards, 4);
    assert_int_equal(info.n_open_shards, 3);
    struct stream_shard_info sh;
    assert_int_equal(stream_shard_get(s, 0, &sh), 0);
    assert_int_equal(sh.open, 0);
    assert_int_equal(sh.ending_index, 3);
    assert_int_equal(sh.closed_ms, atomic_load(&f->now_ms) - TRANSITION_MS);
    assert_int_equal(stream_shard_get(s, 2, &sh), 0);
    assert_int_equal(sh.parent_idx, 0);
    assert_int_equal(sh.adjacent_parent_idx, -1);
    assert_true(sh.start_hash == 0 && sh.end_hash == mid - 1);
    assert_int_equal(stream_shard_get(s, 3, &sh), 0);
    assert_int_equal(sh.parent_idx, 0);
    assert_true(sh.start_hash == mid && sh.end_hash == p0.end_hash);
    assert_open_cover_the_space(s, 3);
    /* New records go to the children; the closed shard keeps its three. */
    assert_int_equal(put_hash(f, s, 0, "low"), 2);
    assert_int_equal(put_hash(f, s, mid, "high"), 3);
    assert_int_equal(put_hash(f, s, p0.end_hash + 1, "other"), 1);
    struct collected c;
    assert_int_equal(read_shard(s, 0, &c), 1);
    assert_int_equal(c.n, 3);
    assert_int_equal(read_shard(s, 2, &c), 0);
    assert_string_equal(c.data[0], "low");
    /* A closed shard is not split again. */
    assert_int_equal(stream_shard_split(f->svc, s, 0, mid, &err), SL_E(INVALID_ARGUMENT));
    assert_non_null(strstr(err.message, "has already been merged or split"));
    stream_release(s);
}

static void split_refuses_past_the_shard_quota(void **state)
{
    struct fixture *f = *state;
    f->cfg.shard_limit = 2;
    create(f, "full", 2);
    advance(f, TRANSITION_MS);
    struct stream *s = lookup(f, "full");
    struct err_info err = {0};
    assert_int_equal(stream_shard_split(f->svc, s, 0, 100, &err), SL_E(LIMIT_EXCEEDED));
    assert_non_null(strstr(err.message, "Current shard count for the account: 2. Limit: 2. "
                                        "Number of additional shards that would have resulted "
                                        "from this request: 1."));
    int current = 0;
    assert_int_equal(stream_shard_count_update(f->svc, s, 3, &current, &err), SL_E(LIMIT_EXCEEDED));
    struct stream_info info;
    stream_describe(s, &info);
    assert_int_equal(info.n_shards, 2);
    assert_int_equal(info.status, STREAM_ACTIVE);
    stream_release(s);
}

struct end_waiter {
    struct stream_reader *r;
    int rc;
};

static void *end_wait_thread(void *arg)
{
    struct end_waiter *w = arg;
    w->rc = stream_reader_wait(w->r, 10000);
    return NULL;
}

static void a_reader_at_the_end_of_a_closed_shard_says_so(void **state)
{
    struct fixture *f = *state;
    create(f, "ends", 1);
    advance(f, TRANSITION_MS);
    struct stream *s = lookup(f, "ends");
    put_n(f, s, 0, 2);
    struct stream_position pos = {.type = STREAM_LATEST};
    struct stream_reader *r;
    assert_int_equal(stream_reader_open(s, 0, &pos, &r), 0);
    assert_int_equal(stream_reader_at_end(r), 0);
    /* A reader waiting at the tip is woken by the split, and told the shard has ended. */
    struct end_waiter w = {.r = r};
    pthread_t t;
    pthread_create(&t, NULL, end_wait_thread, &w);
    usleep(20000);
    struct err_info err = {0};
    assert_int_equal(stream_shard_split(f->svc, s, 0, (stream_u128)1 << 127, &err), 0);
    pthread_join(t, NULL);
    assert_int_equal(w.rc, STREAM_END_OF_SHARD);
    assert_int_equal(stream_reader_at_end(r), 1);
    stream_reader_close(r);
    /* From the start: its records first, then the end. */
    pos.type = STREAM_TRIM_HORIZON;
    assert_int_equal(stream_reader_open(s, 0, &pos, &r), 0);
    assert_int_equal(stream_reader_at_end(r), 0);
    assert_int_equal(stream_reader_wait(r, 0), 0);
    struct collected c = {0};
    assert_int_equal(stream_reader_read(r, 0, 0, collect, &c), 0);
    assert_int_equal(c.n, 2);
    assert_int_equal(stream_reader_wait(r, 10000), STREAM_END_OF_SHARD);
    stream_reader_close(r);
    /* A child waits for records as any open shard does. */
    assert_int_equal(stream_reader_open(s, 1, &pos, &r), 0);
    assert_int_equal(stream_reader_wait(r, 10), -ETIMEDOUT);
    stream_reader_close(r);
    stream_release(s);
}

static void merge_and_scale_check_their_rules_and_keep_the_lineage(void **state)
{
    struct fixture *f = *state;
    create(f, "merge", 3);
    advance(f, TRANSITION_MS);
    struct stream *s = lookup(f, "merge");
    struct err_info err = {0};
    assert_int_equal(stream_shard_merge(f->svc, s, 0, 2, &err), SL_E(INVALID_ARGUMENT));
    assert_string_equal(
        err.message, "Shards shardId-000000000000 and shardId-000000000002 in stream merge under "
                     "account 000000000000 are not an adjacent pair of shards eligible for "
                     "merging");
    assert_int_equal(stream_shard_merge(f->svc, s, 1, 0, &err), SL_E(INVALID_ARGUMENT));
    assert_int_equal(stream_shard_merge(f->svc, s, 0, 1, &err), 0);
    advance(f, TRANSITION_MS);
    struct stream_shard_info a, b, child;
    assert_int_equal(stream_shard_get(s, 0, &a), 0);
    assert_int_equal(stream_shard_get(s, 1, &b), 0);
    assert_int_equal(stream_shard_get(s, 3, &child), 0);
    assert_int_equal(a.open + b.open, 0);
    assert_int_equal(child.parent_idx, 0);
    assert_int_equal(child.adjacent_parent_idx, 1);
    assert_true(child.start_hash == a.start_hash && child.end_hash == b.end_hash);
    assert_int_equal(stream_shard_merge(f->svc, s, 1, 2, &err), SL_E(INVALID_ARGUMENT));
    assert_open_cover_the_space(s, 2);
    /* UpdateShardCount: at most double, at least half. */
    int current = 0;
    assert_int_equal(stream_shard_count_update(f->svc, s, 5, &current, &err), SL_E(LIMIT_EXCEEDED));
    assert_int_equal(current, 2);
    assert_string_equal(err.message, "UpdateShardCount cannot scale up over double your current "
                                     "open shard count. Current open shard count: 2 Target shard "
                                     "count: 5");
    assert_int_equal(stream_shard_count_update(f->svc, s, 3, &current, &err), 0);
    assert_int_equal(stream_shard_count_update(f->svc, s, 4, &current, &err),
                     SL_E(RESOURCE_IN_USE));
    advance(f, TRANSITION_MS);
    assert_open_cover_the_space(s, 3);
    /* The open shards are the even thirds. */
    struct stream_shard_info *shards;
    size_t n;
    stream_shards_list(s, &shards, &n);
    for (size_t i = 0; i < n; i++) {
        if (shards[i].open) {
            stream_u128 start, end;
            int found = 0;
            for (uint32_t k = 0; k < 3; k++) {
                stream__shard_even_range(k, 3, &start, &end);
                found |= shards[i].start_hash == start && shards[i].end_hash == end;
            }
            assert_true(found);
        }
    }
    free(shards);
    assert_int_equal(stream_shard_count_update(f->svc, s, 1, &current, &err), SL_E(LIMIT_EXCEEDED));
    assert_int_equal(stream_shard_count_update(f->svc, s, 2, &current, &err), 0);
    advance(f, TRANSITION_MS);
    assert_open_cover_the_space(s, 2);
    /* 3 to 2: shard 5 split at 1/2 (6, 7), then 4+6 merged (8) and 7+2 (9). */
    assert_int_equal(put_hash(f, s, 0, "x"), 8);
    stream_release(s);
}

static void a_failed_split_changes_nothing_and_a_done_one_survives_reopening(void **state)
{
    struct fixture *f = *state;
    create(f, "durable", 1);
    advance(f, TRANSITION_MS);
    stream__settle(f->svc);
    struct stream *s = lookup(f, "durable");
    put_n(f, s, 0, 4);
    /* The store write fails halfway (after the parent's row changed): all or nothing. */
    assert_int_equal(store_exec(f->store, "CREATE TRIGGER no_child BEFORE INSERT ON stream_shards"
                                          " BEGIN SELECT RAISE(ABORT, 'injected'); END;"),
                     0);
    struct err_info err = {0};
    stream_u128 half = (stream_u128)1 << 127;
    assert_true(stream_shard_split(f->svc, s, 0, half, &err) < 0);
    struct stream_info info;
    stream_describe(s, &info);
    assert_int_equal(info.n_shards, 1);
    assert_int_equal(info.status, STREAM_ACTIVE);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/streams/%lld/shardId-000000000001", f->tmp,
             (long long)stream_id(s));
    assert_false(dir_exists(path)); /* the children's logs went too */
    assert_int_equal(put_hash(f, s, half, "still"), 0);
    assert_int_equal(store_exec(f->store, "DROP TRIGGER no_child"), 0);
    assert_int_equal(stream_shard_split(f->svc, s, 0, half, &err), 0);
    assert_int_equal(put_hash(f, s, half, "child"), 2);
    /* A restart (the store and the logs as a crash leaves them: every step is durable), with
       the log of a child whose resharding a crash stopped before its commit. */
    snprintf(path, sizeof(path), "%s/streams/%lld/shardId-000000000009", f->tmp,
             (long long)stream_id(s));
    stream_release(s);
    stream_service_close(f->svc);
    struct seglog *orphan;
    assert_int_equal(seglog_open(path, NULL, 0, &orphan), 0);
    seglog_close(orphan);
    assert_true(dir_exists(path));
    assert_int_equal(open_service(f), 0);
    assert_false(dir_exists(path));
    s = lookup(f, "durable");
    stream_describe(s, &info);
    assert_int_equal(info.n_shards, 3);
    assert_int_equal(info.n_open_shards, 2);
    struct stream_shard_info sh;
    assert_int_equal(stream_shard_get(s, 0, &sh), 0);
    assert_int_equal(sh.open, 0);
    assert_int_equal(sh.ending_index, 5);
    assert_int_equal(stream_shard_get(s, 1, &sh), 0);
    assert_int_equal(sh.parent_idx, 0);
    assert_true(sh.end_hash == half - 1);
    assert_open_cover_the_space(s, 2);
    struct collected c;
    assert_int_equal(read_shard(s, 0, &c), 1);
    assert_int_equal(c.n, 5);
    assert_string_equal(c.data[4], "still");
    assert_int_equal(read_shard(s, 2, &c), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.data[0], "child");
    assert_int_equal(put_hash(f, s, 0, "after"), 1);
    advance(f, TRANSITION_MS);
    assert_int_equal(status_of(s), STREAM_ACTIVE);
    stream_release(s);
}

/* ---- sequence numbers ---- */

/* Opens a reader of shard shard_idx at type and seq; returns the first record's index, or
   -1 when there is none. */
static int64_t first_at(struct stream *s, uint32_t shard_idx, enum stream_position_type type,
                        const char *seq)
{
    struct stream_position pos = {.type = type, .sequence_number = seq, .seqno_len = strlen(seq)};
    struct stream_reader *r;
    assert_int_equal(stream_reader_open(s, shard_idx, &pos, &r), 0);
    struct collected c = {0};
    assert_int_equal(stream_reader_read(r, 1, 0, collect, &c), 0);
    stream_reader_close(r);
    return c.n > 0 ? (int64_t)c.index[0] : -1;
}

static void starting_numbers_precede_the_first_record_and_old_numbers_still_read(void **state)
{
    struct fixture *f = *state;
    create(f, "seq", 1);
    advance(f, TRANSITION_MS);
    stream__settle(f->svc);
    struct stream *s = lookup(f, "seq");
    struct stream_shard_info sh;
    assert_int_equal(stream_shard_get(s, 0, &sh), 0);
    assert_int_equal(sh.seq_epoch_s, T0_MS / 1000);
    struct stream_seqno_fields start_f = {.shard = {.shard_idx = 0, .epoch_s = sh.seq_epoch_s},
                                          .time_s = sh.seq_epoch_s};
    char start[STREAM_SEQNO_LEN + 1];
    stream_seqno_encode(&start_f, start);
    /* Before the shard has records, its starting number is already a position: AT and
       AFTER it both start at the first record, when it comes. */
    struct stream_position pos = {
        .type = STREAM_AFTER_SEQUENCE_NUMBER, .sequence_number = start, .seqno_len = strlen(start)};
    struct stream_reader *r;
    assert_int_equal(stream_reader_open(s, 0, &pos, &r), 0);
    put_n(f, s, 0, 3);
    struct collected c = {0};
    assert_int_equal(stream_reader_read(r, 0, 0, collect, &c), 0);
    stream_reader_close(r);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.data[0], "r0");
    assert_int_equal(first_at(s, 0, STREAM_AT_SEQUENCE_NUMBER, start), 0);
    /* A record's number, as PutRecords gave it, follows the start. */
    struct stream_put_record rec = {
        .data = (const uint8_t *)"x", .data_len = 1, .partition_key = "pk", .pk_len = 2};
    assert_int_equal(stream_records_put(f->svc, s, &rec, 1, atomic_load(&f->now_ms), NULL), 0);
    assert_int_equal(rec.index, 3);
    assert_true(rec.arrival_ms == atomic_load(&f->now_ms));
    struct stream_seqno_shard q;
    assert_int_equal(stream_seqno_shard(s, 0, &q), 0);
    char r3[STREAM_SEQNO_LEN + 1];
    stream_seqno_format(&q, rec.index, rec.arrival_ms, r3);
    assert_true(strcmp(start, r3) < 0);
    /* Numbers of the first layout, handed out before, read the same records. */
    char old1[STREAM_SEQNO_LEN + 1];
    snprintf(old1, sizeof(old1), "49%018llu%06u%010u%020llu", (unsigned long long)stream_seq_tag(s),
             0u, 0u, 1ull);
    assert_int_equal(first_at(s, 0, STREAM_AT_SEQUENCE_NUMBER, old1), 1);
    assert_int_equal(first_at(s, 0, STREAM_AFTER_SEQUENCE_NUMBER, old1), 2);
    char old_other[STREAM_SEQNO_LEN + 1];
    snprintf(old_other, sizeof(old_other), "49%018llu%06u%010u%020llu",
             (unsigned long long)stream_seq_tag(s) + 1, 0u, 0u, 1ull);
    pos = (struct stream_position){.type = STREAM_AT_SEQUENCE_NUMBER,
                                   .sequence_number = old_other,
                                   .seqno_len = strlen(old_other)};
    assert_int_equal(stream_reader_open(s, 0, &pos, &r), SL_E(INVALID_ARGUMENT));
    /* After a restart: the same numbers, the same records, and later ones above. */
    stream_release(s);
    stream_service_close(f->svc);
    advance(f, 5000);
    assert_int_equal(open_service(f), 0);
    s = lookup(f, "seq");
    struct stream_seqno_shard q2;
    assert_int_equal(stream_seqno_shard(s, 0, &q2), 0);
    assert_int_equal(q2.epoch_s, q.epoch_s);
    assert_int_equal(first_at(s, 0, STREAM_AT_SEQUENCE_NUMBER, r3), 3);
    assert_int_equal(first_at(s, 0, STREAM_AT_SEQUENCE_NUMBER, old1), 1);
    assert_int_equal(first_at(s, 0, STREAM_AFTER_SEQUENCE_NUMBER, start), 0);
    assert_int_equal(stream_records_put(f->svc, s, &rec, 1, atomic_load(&f->now_ms), NULL), 0);
    char r4[STREAM_SEQNO_LEN + 1];
    stream_seqno_format(&q2, rec.index, rec.arrival_ms, r4);
    assert_true(strcmp(r3, r4) < 0);
    stream_release(s);
}

static void childrens_numbers_follow_their_parents_ending_numbers(void **state)
{
    struct fixture *f = *state;
    /* Create, split and merge within one second: the children's epochs are raised. */
    f->cfg.stream_transition_ms = 100;
    create(f, "lineage", 2);
    advance(f, 100);
    stream__settle(f->svc);
    struct stream *s = lookup(f, "lineage");
    struct err_info err = {0};
    stream_u128 quarter = (stream_u128)1 << 126;
    assert_int_equal(stream_shard_split(f->svc, s, 0, quarter, &err), 0); /* 2, 3 */
    advance(f, 100);
    stream__settle(f->svc);
    assert_int_equal(stream_shard_merge(f->svc, s, 3, 1, &err), 0); /* 4 */
    advance(f, 100);
    stream__settle(f->svc);
    struct stream_shard_info *shards;
    size_t n;
    stream_shards_list(s, &shards, &n);
    assert_int_equal(n, 5);
    int64_t epochs[5];
    for (size_t i = 0; i < n; i++) {
        epochs[i] = shards[i].seq_epoch_s;
    }
    assert_int_equal(epochs[0], T0_MS / 1000);
    assert_int_equal(epochs[1], T0_MS / 1000);
    assert_int_equal(epochs[2], T0_MS / 1000 + 1);
    assert_int_equal(epochs[3], T0_MS / 1000 + 1);
    assert_int_equal(epochs[4], T0_MS / 1000 + 2);
    /* every child's start above each parent's end */
    for (size_t i = 2; i < n; i++) {
        int64_t parents[2] = {shards[i].parent_idx, shards[i].adjacent_parent_idx};
        struct stream_seqno_fields child = {
            .shard = {.shard_idx = (uint32_t)i, .epoch_s = epochs[i]}, .time_s = epochs[i]};
        char child_start[STREAM_SEQNO_LEN + 1];
        stream_seqno_encode(&child, child_start);
        for (int k = 0; k < 2; k++) {
            if (parents[k] < 0) {
                continue;
            }
            struct stream_seqno_fields parent = {
                .shard = {.shard_idx = (uint32_t)parents[k], .epoch_s = epochs[parents[k]]},
                .counter = STREAM_SEQNO_COUNTER_MAX,
                .time_s = shards[parents[k]].closed_ms / 1000};
            char parent_end[STREAM_SEQNO_LEN + 1];
            stream_seqno_encode(&parent, parent_end);
            assert_true(strcmp(parent_end, child_start) < 0);
        }
    }
    free(shards);
    /* The epochs come back the same after a restart. */
    stream_release(s);
    stream_service_close(f->svc);
    advance(f, 60000);
    assert_int_equal(open_service(f), 0);
    s = lookup(f, "lineage");
    for (uint32_t i = 0; i < 5; i++) {
        struct stream_seqno_shard q;
        assert_int_equal(stream_seqno_shard(s, i, &q), 0);
        assert_int_equal(q.epoch_s, epochs[i]);
    }
    stream_release(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            starting_numbers_precede_the_first_record_and_old_numbers_still_read, setup, teardown),
        cmocka_unit_test_setup_teardown(childrens_numbers_follow_their_parents_ending_numbers,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(create_is_creating_until_due_then_active_and_recorded,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(create_refuses_a_taken_name_and_the_shard_quota, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(lookups_and_readers_count_references, setup, teardown),
        cmocka_unit_test_setup_teardown(delete_hides_when_due_and_files_go_with_the_last_handle,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(retention_updates_check_bounds_and_direction, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(retention_removes_records_older_than_the_period, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(concurrent_mode_updates_let_exactly_one_through, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(failed_mode_save_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(readers_open_at_every_position, setup, teardown),
        cmocka_unit_test_setup_teardown(a_waiting_reader_wakes_when_records_are_durable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(tags_are_kept_per_stream_up_to_fifty, setup, teardown),
        cmocka_unit_test_setup_teardown(lookups_and_appends_go_on_while_the_store_is_busy, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            split_checks_its_rules_closes_the_parent_and_routes_to_children, setup, teardown),
        cmocka_unit_test_setup_teardown(split_refuses_past_the_shard_quota, setup, teardown),
        cmocka_unit_test_setup_teardown(a_reader_at_the_end_of_a_closed_shard_says_so, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(merge_and_scale_check_their_rules_and_keep_the_lineage,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_failed_split_changes_nothing_and_a_done_one_survives_reopening, setup, teardown),
    };
    return cmocka_run_group_tests_name("stream_service", tests, NULL, NULL);
}
