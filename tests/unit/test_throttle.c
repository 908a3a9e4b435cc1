/*
 * Unit tests of the throughput limiter (stream/throttle.h): the token-bucket arithmetic of
 * every limit with an injected clock (no sleeps, nothing timed), the keys that keep shards,
 * streams and accounts apart, and the write limit applied by stream_records_put through a
 * service opened with stream_service_open_with's clock.
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/store.h"
#include "stream/stream.h"
#include "stream/throttle.h"

#define T0_MS 1764150000000LL
#define MIB (1024 * 1024)

static _Atomic int64_t clock_ms; /* the injected clock of the limiter tests */

static int64_t fake_clock(void *arg)
{
    (void)arg;
    return atomic_load(&clock_ms);
}

static void advance(int64_t ms)
{
    atomic_fetch_add(&clock_ms, ms);
}

static struct throttle *limiter(void)
{
    atomic_store(&clock_ms, T0_MS);
    return throttle_create(1, fake_clock, NULL);
}

static const struct throttle_shard shard0 = {.stream_id = 1, .seq_tag = 77, .shard_idx = 0};

/* n records of size bytes each to sh: how many were admitted. */
static size_t write_n(struct throttle *t, const struct throttle_shard *sh, size_t n, uint32_t size)
{
    uint32_t *sizes = calloc(n, sizeof(*sizes));
    uint8_t *refused = calloc(n, 1);
    for (size_t i = 0; i < n; i++) {
        sizes[i] = size;
    }
    size_t admitted = throttle_write(t, sh, sizes, n, refused);
    size_t n_refused = 0;
    for (size_t i = 0; i < n; i++) {
        n_refused += refused[i];
    }
    assert_int_equal(admitted + n_refused, n);
    free(sizes);
    free(refused);
    return admitted;
}

static void records_bucket_holds_one_second_and_refills_a_record_a_millisecond(void **state)
{
    (void)state;
    struct throttle *t = limiter();
    assert_int_equal(write_n(t, &shard0, 1000, 1), 1000); /* a fresh shard: one full second */
    assert_int_equal(write_n(t, &shard0, 1, 1), 0);
    advance(1);
    assert_int_equal(write_n(t, &shard0, 5, 1), 1);
    advance(500);
    assert_int_equal(write_n(t, &shard0, 600, 1), 500);
    advance(3600 * 1000); /* idle for an hour: still only one second's worth */
    assert_int_equal(write_n(t, &shard0, 1500, 1), 1000);
    throttle_destroy(t);
}

static void bytes_bucket_refuses_only_the_records_that_do_not_fit(void **state)
{
    (void)state;
    struct throttle *t = limiter();
    uint32_t sizes[] = {600 * 1024, 600 * 1024, 400 * 1024, 100};
    uint8_t refused[4];
    assert_int_equal(throttle_write(t, &shard0, sizes, 4, refused), 3);
    assert_int_equal(refused[0], 0);
    assert_int_equal(refused[1], 1); /* 424 KiB were left */
    assert_int_equal(refused[2], 0); /* a later, smaller record still fits */
    assert_int_equal(refused[3], 0);
    /* 1 MiB/s is 1,048.576 bytes a millisecond: 24 KiB - 100 left, 10 ms add 10,485. */
    uint32_t rest = 24 * 1024 - 100;
    uint32_t over[] = {rest + 10485 + 1};
    advance(10);
    assert_int_equal(throttle_write(t, &shard0, over, 1, refused), 0);
    over[0] = rest + 10485;
    assert_int_equal(throttle_write(t, &shard0, over, 1, refused), 1);
    /* A whole 1 MiB record needs the bucket full: one second after it was emptied. */
    uint32_t whole[] = {MIB};
    advance(999);
    assert_int_equal(throttle_write(t, &shard0, whole, 1, refused), 0);
    advance(1);
    assert_int_equal(throttle_write(t, &shard0, whole, 1, refused), 1);
    throttle_destroy(t);
}

static void get_records_five_calls_a_second_and_bytes_repaid_at_two_mib(void **state)
{
    (void)state;
    struct throttle *t = limiter();
    for (int i = 0; i < 5; i++) {
        assert_int_equal(throttle_read(t, &shard0), 0);
    }
    assert_int_equal(throttle_read(t, &shard0), SL_E(THROUGHPUT_EXCEEDED));
    advance(199);
    assert_int_equal(throttle_read(t, &shard0), SL_E(THROUGHPUT_EXCEEDED));
    advance(1); /* 5 calls a second: one every 200 ms */
    assert_int_equal(throttle_read(t, &shard0), 0);
    /* A call that returned 10 MiB: the next ones are refused for the next 5 seconds. */
    throttle_read_charge(t, &shard0, 10 * MIB);
    advance(4999);
    assert_int_equal(throttle_read(t, &shard0), SL_E(THROUGHPUT_EXCEEDED));
    advance(1);
    assert_int_equal(throttle_read(t, &shard0), 0);
    /* Reading saves no credit: after a long idle a 2 MiB read still costs a second. */
    advance(60 * 1000);
    assert_int_equal(throttle_read(t, &shard0), 0);
    throttle_read_charge(t, &shard0, 2 * MIB);
    advance(999);
    assert_int_equal(throttle_read(t, &shard0), SL_E(THROUGHPUT_EXCEEDED));
    advance(1);
    assert_int_equal(throttle_read(t, &shard0), 0);
    throttle_destroy(t);
}

static void refused_calls_are_not_charged(void **state)
{
    (void)state;
    struct throttle *t = limiter();
    throttle_read_charge(t, &shard0, MIB); /* in debt for 500 ms */
    for (int i = 0; i < 100; i++) {
        assert_int_equal(throttle_read(t, &shard0), SL_E(THROUGHPUT_EXCEEDED));
    }
    advance(500);
    for (int i = 0; i < 5; i++) { /* the five call tokens are all still there */
        assert_int_equal(throttle_read(t, &shard0), 0);
    }
    assert_int_equal(throttle_read(t, &shard0), SL_E(THROUGHPUT_EXCEEDED));
    throttle_destroy(t);
}

static void shard_iterators_five_a_second(void **state)
{
    (void)state;
    struct throttle *t = limiter();
    for (int i = 0; i < 5; i++) {
        assert_int_equal(throttle_iterator(t, &shard0), 0);
    }
    assert_int_equal(throttle_iterator(t, &shard0), SL_E(THROUGHPUT_EXCEEDED));
    advance(200);
    assert_int_equal(throttle_iterator(t, &shard0), 0);
    /* The GetRecords buckets of the shard are separate. */
    assert_int_equal(throttle_read(t, &shard0), 0);
    throttle_destroy(t);
}

static void shards_and_recreated_streams_have_their_own_buckets(void **state)
{
    (void)state;
    struct throttle *t = limiter();
    assert_int_equal(write_n(t, &shard0, 1001, 1), 1000);
    struct throttle_shard other_shard = shard0, recreated = shard0, other_stream = shard0;
    other_shard.shard_idx = 1;
    recreated.seq_tag = 78;
    other_stream.stream_id = 2;
    assert_int_equal(write_n(t, &other_shard, 1000, 1), 1000);
    assert_int_equal(write_n(t, &recreated, 1000, 1), 1000);
    assert_int_equal(write_n(t, &other_stream, 1000, 1), 1000);
    assert_int_equal(write_n(t, &shard0, 1, 1), 0);
    throttle_destroy(t);
}

static void clock_stepping_back_refills_nothing(void **state)
{
    (void)state;
    struct throttle *t = limiter();
    assert_int_equal(write_n(t, &shard0, 1000, 1), 1000);
    advance(-5000);
    assert_int_equal(write_n(t, &shard0, 1, 1), 0);
    advance(5000);
    assert_int_equal(write_n(t, &shard0, 1, 1), 0);
    advance(1);
    assert_int_equal(write_n(t, &shard0, 2, 1), 1);
    throttle_destroy(t);
}

static void subscribe_to_shard_once_a_second_per_consumer_and_shard(void **state)
{
    (void)state;
    struct throttle *t = limiter();
    const char *a = "arn:aws:kinesis:us-east-1:1:stream/s/consumer/a:1";
    const char *b = "arn:aws:kinesis:us-east-1:1:stream/s/consumer/b:1";
    assert_int_equal(throttle_subscribe(t, a, 0), 0);
    assert_int_equal(throttle_subscribe(t, a, 0), SL_E(LIMIT_EXCEEDED));
    assert_int_equal(throttle_subscribe(t, a, 1), 0); /* another shard */
    assert_int_equal(throttle_subscribe(t, b, 0), 0); /* another consumer */
    advance(999);
    assert_int_equal(throttle_subscribe(t, a, 0), SL_E(LIMIT_EXCEEDED));
    advance(1);
    assert_int_equal(throttle_subscribe(t, a, 0), 0);
    throttle_destroy(t);
    /* Off: every call passes. */
    t = throttle_create(0, fake_clock, NULL);
    assert_int_equal(throttle_subscribe(t, a, 0), 0);
    assert_int_equal(throttle_subscribe(t, a, 0), 0);
    throttle_destroy(t);
}

static void control_plane_rates_per_account_and_per_stream(void **state)
{
    (void)state;
    struct throttle *t = limiter();
    /* DescribeLimits: 1/s per account. */
    assert_int_equal(throttle_control(t, "DescribeLimits", "us-east-1", "111111111111", NULL), 0);
    assert_int_equal(throttle_control(t, "DescribeLimits", "us-east-1", "111111111111", NULL),
                     SL_E(LIMIT_EXCEEDED));
    assert_int_equal(throttle_control(t, "DescribeLimits", "eu-west-1", "111111111111", NULL), 0);
    assert_int_equal(throttle_control(t, "DescribeLimits", "us-east-1", "222222222222", NULL), 0);
    advance(1000);
    assert_int_equal(throttle_control(t, "DescribeLimits", "us-east-1", "111111111111", NULL), 0);
    /* DescribeStream: 10/s per account, whichever stream each call names. */
    for (int i = 0; i < 10; i++) {
        char name[16];
        snprintf(name, sizeof(name), "s%d", i);
        assert_int_equal(throttle_control(t, "DescribeStream", "us-east-1", "1", name), 0);
    }
    assert_int_equal(throttle_control(t, "DescribeStream", "us-east-1", "1", "fresh"),
                     SL_E(LIMIT_EXCEEDED));
    /* ListShards: 1,000/s per stream. */
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(throttle_control(t, "ListShards", "us-east-1", "1", "a"), 0);
    }
    assert_int_equal(throttle_control(t, "ListShards", "us-east-1", "1", "a"),
                     SL_E(LIMIT_EXCEEDED));
    assert_int_equal(throttle_control(t, "ListShards", "us-east-1", "1", "b"), 0);
    /* Operations without a documented rate pass. */
    for (int i = 0; i < 100; i++) {
        assert_int_equal(throttle_control(t, "IncreaseStreamRetentionPeriod", "r", "1", "a"), 0);
    }
    int per_stream = -1;
    assert_int_equal(throttle_control_rate("CreateStream", &per_stream), 5);
    assert_int_equal(per_stream, 0);
    assert_int_equal(throttle_control_rate("DescribeStreamSummary", NULL), 20);
    assert_int_equal(throttle_control_rate("ListShards", &per_stream), 1000);
    assert_int_equal(per_stream, 1);
    assert_int_equal(throttle_control_rate("PutRecords", NULL), 0);
    throttle_destroy(t);
}

static void a_disabled_limiter_admits_everything(void **state)
{
    (void)state;
    atomic_store(&clock_ms, T0_MS);
    struct throttle *t = throttle_create(0, fake_clock, NULL);
    assert_false(throttle_enabled(t));
    assert_int_equal(write_n(t, &shard0, 5000, MIB), 5000);
    throttle_read_charge(t, &shard0, 100 * MIB);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(throttle_read(t, &shard0), 0);
        assert_int_equal(throttle_iterator(t, &shard0), 0);
        assert_int_equal(throttle_control(t, "DescribeLimits", "r", "1", NULL), 0);
    }
    throttle_destroy(t);
    throttle_destroy(NULL);
}

static void many_shards_grow_the_table_and_idle_ones_are_dropped(void **state)
{
    (void)state;
    struct throttle *t = limiter();
    for (uint32_t i = 0; i < 20000; i++) {
        struct throttle_shard sh = {.stream_id = 5, .seq_tag = 1, .shard_idx = i};
        assert_int_equal(write_n(t, &sh, 1001, 1), 1000);
    }
    advance(120 * 1000); /* every entry idle past the drop age: full again, as if new */
    for (uint32_t i = 0; i < 20000; i++) {
        struct throttle_shard sh = {.stream_id = 6, .seq_tag = 1, .shard_idx = i};
        assert_int_equal(write_n(t, &sh, 1, 1), 1);
    }
    for (uint32_t i = 0; i < 20000; i += 997) {
        struct throttle_shard sh = {.stream_id = 5, .seq_tag = 1, .shard_idx = i};
        assert_int_equal(write_n(t, &sh, 1001, 1), 1000);
    }
    throttle_destroy(t);
}

/* ---- through the stream service ---- */

struct fixture {
    char tmp[64];
    struct sluice_config cfg;
    struct store *store;
    struct stream_service *svc;
};

static int64_t service_clock(void *arg)
{
    (void)arg;
    return atomic_load(&clock_ms);
}

static int open_fixture(struct fixture *f, int limits)
{
    snprintf(f->tmp, sizeof(f->tmp), "/tmp/test_throttle.XXXXXX");
    if (mkdtemp(f->tmp) == NULL) {
        return -1;
    }
    config_defaults(&f->cfg);
    snprintf(f->cfg.data_dir, sizeof(f->cfg.data_dir), "%s", f->tmp);
    f->cfg.throughput_limits = limits;
    atomic_store(&clock_ms, T0_MS);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/sluice.db", f->tmp);
    struct stream_service_options opt = {
        .store = NULL, .cfg = &f->cfg, .now_ms = service_clock, .clock_arg = NULL};
    if (store_open(path, &f->store) < 0) {
        return -1;
    }
    opt.store = f->store;
    return stream_service_open_with(&opt, &f->svc);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void close_fixture(struct fixture *f)
{
    stream_service_close(f->svc);
    store_close(f->store);
    nftw(f->tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static struct stream *active_stream(struct fixture *f, const char *name)
{
    struct stream_create_params p = {.region = "us-east-1",
                                     .account = "000000000000",
                                     .name = name,
                                     .mode = STREAM_MODE_PROVISIONED,
                                     .shard_count = 1};
    struct err_info err = {0};
    assert_int_equal(stream_create(f->svc, &p, &err), 0);
    advance(f->cfg.stream_transition_ms);
    struct stream *s = NULL;
    assert_int_equal(stream_lookup(f->svc, "us-east-1", name, &s), 0);
    return s;
}

/* Puts n one-byte records "a".."" in one call; the results are left in recs. */
static void put_call(struct fixture *f, struct stream *s, struct stream_put_record *recs, size_t n)
{
    static const uint8_t byte = 'a';
    for (size_t i = 0; i < n; i++) {
        recs[i] = (struct stream_put_record){
            .data = &byte, .data_len = 1, .partition_key = "k", .pk_len = 1, .hash_key = 0};
    }
    assert_int_equal(stream_records_put(f->svc, s, recs, n, atomic_load(&clock_ms), NULL), 0);
}

static int count_visit(void *arg, uint64_t index, int64_t arrival_ms, const char *pk, size_t pk_len,
                       const uint8_t *data, size_t data_len)
{
    (void)index, (void)arrival_ms, (void)pk, (void)pk_len, (void)data, (void)data_len;
    (*(size_t *)arg)++;
    return 0;
}

static size_t stored(struct stream *s)
{
    struct stream_position pos = {.type = STREAM_TRIM_HORIZON};
    struct stream_reader *r;
    assert_int_equal(stream_reader_open(s, 0, &pos, &r), 0);
    size_t n = 0;
    assert_int_equal(stream_reader_read(r, 0, 0, count_visit, &n), 0);
    stream_reader_close(r);
    return n;
}

static void records_put_refuses_each_record_over_the_shard_limit(void **state)
{
    (void)state;
    struct fixture f;
    assert_int_equal(open_fixture(&f, 1), 0);
    struct stream *s = active_stream(&f, "hot");
    struct stream_put_record *recs = calloc(1500, sizeof(*recs));
    put_call(&f, s, recs, 1500);
    for (size_t i = 0; i < 1500; i++) {
        assert_int_equal(recs[i].result, i < 1000 ? 0 : SL_E(THROUGHPUT_EXCEEDED));
        assert_int_equal(recs[i].shard_idx, 0);
        if (i < 1000) {
            assert_int_equal(recs[i].index, i); /* the admitted ones, consecutive */
        }
    }
    assert_int_equal(stored(s), 1000);
    advance(250);
    put_call(&f, s, recs, 300);
    for (size_t i = 0; i < 300; i++) {
        assert_int_equal(recs[i].result, i < 250 ? 0 : SL_E(THROUGHPUT_EXCEEDED));
    }
    assert_int_equal(stored(s), 1250);
    free(recs);
    stream_release(s);
    close_fixture(&f);
}

static void records_put_without_limits_takes_everything(void **state)
{
    (void)state;
    struct fixture f;
    assert_int_equal(open_fixture(&f, 0), 0);
    assert_false(throttle_enabled(stream_service_throttle(f.svc)));
    struct stream *s = active_stream(&f, "bulk");
    struct stream_put_record *recs = calloc(3000, sizeof(*recs));
    put_call(&f, s, recs, 3000);
    for (size_t i = 0; i < 3000; i++) {
        assert_int_equal(recs[i].result, 0);
    }
    assert_int_equal(stored(s), 3000);
    free(recs);
    stream_release(s);
    close_fixture(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(records_bucket_holds_one_second_and_refills_a_record_a_millisecond),
        cmocka_unit_test(bytes_bucket_refuses_only_the_records_that_do_not_fit),
        cmocka_unit_test(get_records_five_calls_a_second_and_bytes_repaid_at_two_mib),
        cmocka_unit_test(refused_calls_are_not_charged),
        cmocka_unit_test(shard_iterators_five_a_second),
        cmocka_unit_test(shards_and_recreated_streams_have_their_own_buckets),
        cmocka_unit_test(clock_stepping_back_refills_nothing),
        cmocka_unit_test(control_plane_rates_per_account_and_per_stream),
        cmocka_unit_test(subscribe_to_shard_once_a_second_per_consumer_and_shard),
        cmocka_unit_test(a_disabled_limiter_admits_everything),
        cmocka_unit_test(many_shards_grow_the_table_and_idle_ones_are_dropped),
        cmocka_unit_test(records_put_refuses_each_record_over_the_shard_limit),
        cmocka_unit_test(records_put_without_limits_takes_everything),
    };
    return cmocka_run_group_tests_name("throttle", tests, NULL, NULL);
}
