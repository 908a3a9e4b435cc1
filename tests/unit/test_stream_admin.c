/*
 * Unit tests of the stream service's administration with an injected clock: enhanced
 * monitoring kept in the store, the rolling 24-hour limits of UpdateShardCount and
 * Start/StopStreamEncryption (counted in the store, so kept across a reopen), and the
 * on-demand scaling rule (stream.c): a minute's writes over half the capacity split the
 * hottest shards, within the quota; anything less, or a provisioned stream, changes
 * nothing. Each test works in its own mkdtemp directory and store.
 */
#define _XOPEN_SOURCE 700
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/store.h"
#include "stream/stream.h"
#include "stream/stream_int.h"

#include "stream_fixture.h"

#define DAY_MS (24 * 3600 * 1000LL)

static void advance(struct fixture *f, int64_t ms)
{
    atomic_fetch_add(&f->now_ms, ms);
}

static void reopen(struct fixture *f)
{
    stream_service_close(f->svc);
    assert_int_equal(open_service(f), 0);
}

static int setup(void **state)
{
    struct fixture *f = stream_fixture_new("test_stream_admin");
    if (f == NULL) {
        return -1;
    }
    f->cfg.throughput_limits = 0; /* the write rates here are the fake clock's, not real */
    if (stream_fixture_open(f, open_service) < 0) {
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    return stream_fixture_destroy(*state, NULL);
}

/* Creates name and lets it become ACTIVE. */
static void create(struct fixture *f, const char *name, enum stream_mode mode, int shards)
{
    struct stream_create_params p = {.region = "us-east-1",
                                     .account = "000000000000",
                                     .name = name,
                                     .mode = mode,
                                     .shard_count = shards};
    struct err_info err = {0};
    assert_int_equal(stream_create(f->svc, &p, &err), 0);
    advance(f, TRANSITION_MS);
    stream__settle(f->svc);
}

static struct stream *lookup(struct fixture *f, const char *name)
{
    struct stream *s = NULL;
    assert_int_equal(stream_lookup(f->svc, "us-east-1", name, &s), 0);
    return s;
}

/* Lets an UPDATING stream become ACTIVE again. */
static void settle(struct fixture *f)
{
    advance(f, TRANSITION_MS);
    stream__settle(f->svc);
}

/* ---- enhanced monitoring ---- */

static void monitoring_is_recorded_and_kept_across_a_reopen(void **state)
{
    struct fixture *f = *state;
    create(f, "mon", STREAM_MODE_PROVISIONED, 1);
    struct stream *s = lookup(f, "mon");
    struct err_info err = {0};
    uint32_t before, after;
    assert_int_equal(stream_metric_mask("ALL"), STREAM_METRICS_ALL);
    assert_int_equal(stream_metric_mask("Bogus"), 0);
    uint32_t in_bytes = stream_metric_mask("IncomingBytes");
    assert_int_equal(in_bytes, 1u << STREAM_METRIC_INCOMING_BYTES);
    assert_int_equal(stream_update_monitoring(f->svc, s, in_bytes, 1, &before, &after, &err), 0);
    assert_int_equal(before, 0);
    assert_int_equal(after, in_bytes);
    assert_int_equal(
        stream_update_monitoring(f->svc, s, STREAM_METRICS_ALL, 1, &before, &after, &err), 0);
    assert_int_equal(before, in_bytes);
    assert_int_equal(after, STREAM_METRICS_ALL);
    assert_int_equal(stream_update_monitoring(f->svc, s, in_bytes, 0, &before, &after, &err), 0);
    assert_int_equal(after, STREAM_METRICS_ALL & ~in_bytes);
    stream_release(s);
    reopen(f);
    s = lookup(f, "mon");
    struct stream_info info;
    stream_describe(s, &info);
    assert_int_equal(info.shard_metrics, STREAM_METRICS_ALL & ~in_bytes);
    assert_int_equal(info.status, STREAM_ACTIVE); /* monitoring is no update of the stream */
    /* Not while the stream is UPDATING. */
    int current;
    assert_int_equal(stream_shard_count_update(f->svc, s, 2, &current, &err), 0);
    assert_int_equal(stream_update_monitoring(f->svc, s, in_bytes, 1, &before, &after, &err),
                     SL_E(RESOURCE_IN_USE));
    stream_release(s);
}

/* Shard-level samples are kept only for the metrics enabled, from enabling to disabling. */
static void shard_samples_follow_enhanced_monitoring(void **state)
{
    struct fixture *f = *state;
    create(f, "shm", STREAM_MODE_PROVISIONED, 2);
    struct stream *s = lookup(f, "shm");
    struct stream_shard_sample in1 = {1, STREAM_METRIC_INCOMING_RECORDS, 5};
    struct stream_shard_sample both[] = {{1, STREAM_METRIC_INCOMING_RECORDS, 3},
                                         {0, STREAM_METRIC_OUTGOING_BYTES, 100}};
    struct stream_shard_stats *st;
    size_t n;
    assert_int_equal(stream_shard_metrics(s), 0);
    stream_shard_count(s, &in1, 1); /* before: dropped */
    stream_shard_stats_take(f->svc, &st, &n);
    assert_int_equal(n, 0);
    free(st);
    uint32_t before, after;
    struct err_info err = {0};
    uint32_t mask = 1u << STREAM_METRIC_INCOMING_RECORDS;
    assert_int_equal(stream_update_monitoring(f->svc, s, mask, 1, &before, &after, &err), 0);
    assert_int_equal(stream_shard_metrics(s), mask);
    stream_shard_count(s, &in1, 1);
    stream_shard_count(s, both, 2); /* OutgoingBytes is not enabled */
    stream_shard_stats_take(f->svc, &st, &n);
    assert_int_equal(n, 1);
    assert_string_equal(st[0].name, "shm");
    assert_int_equal(st[0].shard_idx, 1);
    const struct stream_stat *r = &st[0].st[STREAM_METRIC_INCOMING_RECORDS];
    assert_true(r->count == 2 && r->sum == 8 && r->min == 3 && r->max == 5);
    assert_true(st[0].st[STREAM_METRIC_OUTGOING_BYTES].count == 0);
    free(st);
    stream_shard_stats_take(f->svc, &st, &n); /* taken: nothing twice */
    assert_int_equal(n, 0);
    free(st);
    stream_shard_count(s, &in1, 1);
    assert_int_equal(stream_update_monitoring(f->svc, s, mask, 0, &before, &after, &err), 0);
    stream_shard_stats_take(f->svc, &st, &n); /* disabled since: dropped */
    assert_int_equal(n, 0);
    free(st);
    stream_release(s);
}

/* ---- the rolling 24-hour limits ---- */

static void update_shard_count_ten_a_rolling_day_kept_in_the_store(void **state)
{
    struct fixture *f = *state;
    create(f, "daily", STREAM_MODE_PROVISIONED, 1);
    struct stream *s = lookup(f, "daily");
    struct err_info err = {0};
    int current;
    for (int i = 0; i < STREAM_SCALINGS_PER_DAY_MAX; i++) {
        assert_int_equal(stream_shard_count_update(f->svc, s, i % 2 == 0 ? 2 : 1, &current, &err),
                         0);
        settle(f);
        advance(f, 3600 * 1000); /* an hour apart: the first is 9 hours old at the 10th */
    }
    assert_int_equal(stream_shard_count_update(f->svc, s, 2, &current, &err), SL_E(LIMIT_EXCEEDED));
    assert_string_equal(err.message,
                        "Exceeded the number of allowed UpdateShardCount operations (10) in a "
                        "rolling 24-hour period for stream daily under account 000000000000.");
    stream_release(s);
    /* The count is in the store: a restart does not reset it. */
    reopen(f);
    s = lookup(f, "daily");
    assert_int_equal(stream_shard_count_update(f->svc, s, 2, &current, &err), SL_E(LIMIT_EXCEEDED));
    /* Rolling: once the first is a day old, one more is allowed, and only one. */
    advance(f, DAY_MS - 10 * 3600 * 1000LL - 10 * TRANSITION_MS - 1);
    assert_int_equal(stream_shard_count_update(f->svc, s, 2, &current, &err), SL_E(LIMIT_EXCEEDED));
    advance(f, 1);
    assert_int_equal(stream_shard_count_update(f->svc, s, 2, &current, &err), 0);
    settle(f);
    assert_int_equal(stream_shard_count_update(f->svc, s, 1, &current, &err), SL_E(LIMIT_EXCEEDED));
    stream_release(s);
}

static void encryption_changes_twenty_five_a_rolling_day_each(void **state)
{
    struct fixture *f = *state;
    create(f, "enc", STREAM_MODE_PROVISIONED, 1);
    struct stream *s = lookup(f, "enc");
    struct err_info err = {0};
    for (int i = 0; i < STREAM_ENCRYPTIONS_PER_DAY_MAX; i++) {
        assert_int_equal(stream_update_encryption(f->svc, s, "KMS", "alias/aws/kinesis", &err), 0);
        struct stream_info info;
        stream_describe(s, &info);
        assert_int_equal(info.status, STREAM_UPDATING);
        assert_string_equal(info.encryption, "KMS");
        assert_string_equal(info.key_id, "alias/aws/kinesis");
        settle(f);
    }
    assert_int_equal(stream_update_encryption(f->svc, s, "KMS", "alias/aws/kinesis", &err),
                     SL_E(LIMIT_EXCEEDED));
    assert_string_equal(err.message,
                        "Exceeded the number of allowed StartStreamEncryption operations (25) in "
                        "a rolling 24-hour period for stream enc under account 000000000000.");
    /* Stopping is counted apart. */
    assert_int_equal(stream_update_encryption(f->svc, s, "NONE", NULL, &err), 0);
    settle(f);
    stream_release(s);
    reopen(f);
    s = lookup(f, "enc");
    assert_int_equal(stream_update_encryption(f->svc, s, "KMS", "alias/aws/kinesis", &err),
                     SL_E(LIMIT_EXCEEDED));
    advance(f, DAY_MS);
    assert_int_equal(stream_update_encryption(f->svc, s, "KMS", "alias/aws/kinesis", &err), 0);
    stream_release(s);
}

/* ---- on-demand scaling ---- */

/* Appends n one-byte records with hash key hash, in batches. */
static void write_records(struct fixture *f, struct stream *s, stream_u128 hash, int n)
{
    enum { BATCH = 5000 };
    static struct stream_put_record recs[BATCH];
    while (n > 0) {
        int k = n < BATCH ? n : BATCH;
        for (int i = 0; i < k; i++) {
            recs[i] = (struct stream_put_record){.data = (const uint8_t *)"x",
                                                 .data_len = 1,
                                                 .partition_key = "k",
                                                 .pk_len = 1,
                                                 .hash_key = hash};
        }
        assert_int_equal(
            stream_records_put(f->svc, s, recs, (size_t)k, atomic_load(&f->now_ms), NULL), 0);
        for (int i = 0; i < k; i++) {
            assert_int_equal(recs[i].result, 0);
        }
        n -= k;
    }
}

static uint32_t open_shards(struct stream *s)
{
    struct stream_info info;
    stream_describe(s, &info);
    return info.n_open_shards;
}

/* 4 shards' capacity is 4,000 records/s; over 2,000/s for a minute (120,000) scales. */
static void on_demand_splits_its_hottest_shard_after_a_busy_minute(void **state)
{
    struct fixture *f = *state;
    create(f, "od", STREAM_MODE_ON_DEMAND, STREAM_ON_DEMAND_INITIAL_SHARDS);
    struct stream *s = lookup(f, "od");
    stream__autoscale(f->svc); /* the first window starts */
    /* Just at half the capacity over the minute: nothing. */
    write_records(f, s, 0, 120000);
    advance(f, STREAM_AUTOSCALE_WINDOW_MS - 1);
    stream__autoscale(f->svc); /* the window is not over */
    assert_int_equal(open_shards(s), 4);
    advance(f, 1);
    stream__autoscale(f->svc);
    assert_int_equal(open_shards(s), 4);
    /* Over half: 150,000 in a minute is 2,500/s, 2.5 shards' worth, twice that 5 shards:
       the hottest (shard 1, which took most) splits at its middle. */
    stream_u128 q = ~(stream_u128)0 / 4;
    write_records(f, s, 0, 50000);
    write_records(f, s, q + 1, 100000);
    advance(f, STREAM_AUTOSCALE_WINDOW_MS);
    stream__autoscale(f->svc);
    assert_int_equal(open_shards(s), 5);
    struct stream_shard_info sh;
    assert_int_equal(stream_shard_get(s, 1, &sh), 0);
    assert_false(sh.open);
    assert_int_equal(stream_shard_get(s, 4, &sh), 0);
    assert_int_equal(sh.parent_idx, 1);
    assert_true(sh.open);
    assert_int_equal(stream_shard_get(s, 5, &sh), 0);
    assert_int_equal(sh.parent_idx, 1);
    assert_true(sh.start_hash == q + 1 + (q + 1) / 2); /* the middle of shard 1's range */
    assert_int_equal(stream_status_get(s), STREAM_UPDATING);
    settle(f);
    /* A much busier minute: at most double at once (5 -> 10), the hottest first. */
    write_records(f, s, 0, 600000);
    advance(f, STREAM_AUTOSCALE_WINDOW_MS);
    stream__autoscale(f->svc);
    assert_int_equal(open_shards(s), 10);
    settle(f);
    /* A quiet minute changes nothing (on-demand streams do not shrink here). */
    advance(f, STREAM_AUTOSCALE_WINDOW_MS);
    stream__autoscale(f->svc);
    assert_int_equal(open_shards(s), 10);
    stream_release(s);
}

static void on_demand_scaling_stays_within_the_shard_quota(void **state)
{
    struct fixture *f = *state;
    f->cfg.shard_limit = 5;
    create(f, "odq", STREAM_MODE_ON_DEMAND, STREAM_ON_DEMAND_INITIAL_SHARDS);
    struct stream *s = lookup(f, "odq");
    stream__autoscale(f->svc);
    write_records(f, s, 0, 600000); /* 10,000/s would want 20 shards */
    advance(f, STREAM_AUTOSCALE_WINDOW_MS);
    stream__autoscale(f->svc);
    assert_int_equal(open_shards(s), 5); /* one more, the quota's last */
    settle(f);
    write_records(f, s, 0, 600000);
    advance(f, STREAM_AUTOSCALE_WINDOW_MS);
    stream__autoscale(f->svc);
    assert_int_equal(open_shards(s), 5);
    stream_release(s);
}

static void a_provisioned_stream_does_not_scale_itself(void **state)
{
    struct fixture *f = *state;
    create(f, "prov", STREAM_MODE_PROVISIONED, 4);
    struct stream *s = lookup(f, "prov");
    stream__autoscale(f->svc);
    write_records(f, s, 0, 600000);
    advance(f, STREAM_AUTOSCALE_WINDOW_MS);
    stream__autoscale(f->svc);
    assert_int_equal(open_shards(s), 4);
    stream_release(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(monitoring_is_recorded_and_kept_across_a_reopen, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(shard_samples_follow_enhanced_monitoring, setup, teardown),
        cmocka_unit_test_setup_teardown(update_shard_count_ten_a_rolling_day_kept_in_the_store,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(encryption_changes_twenty_five_a_rolling_day_each, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(on_demand_splits_its_hottest_shard_after_a_busy_minute,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(on_demand_scaling_stays_within_the_shard_quota, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_provisioned_stream_does_not_scale_itself, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("stream_admin", tests, NULL, NULL);
}
