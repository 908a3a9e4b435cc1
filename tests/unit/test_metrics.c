/*
 * Unit tests of the metrics store (metrics/metrics.h) with an injected clock: slots and
 * their statistics, periods and units, listing with dimension filters and paging,
 * counter sources turned into increases, retention, and durability across a reopen.
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/store.h"
#include "core/text.h"
#include "metrics/cw_int.h"
#include "metrics/metrics_int.h"

#define T0_MS 1764150000000LL /* a minute boundary */

static int64_t clock_ms;

static int64_t fake_clock(void *arg)
{
    (void)arg;
    return clock_ms;
}

struct fx {
    struct store *st;
    struct metrics *m;
    char path[64];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->path, sizeof(f->path), "/tmp/test_metrics_%d.db", (int)getpid());
    unlink(f->path);
    clock_ms = T0_MS;
    assert_int_equal(store_open(f->path, &f->st), 0);
    struct metrics_options o = {.store = f->st, .now_ms = fake_clock};
    assert_int_equal(metrics_open(&o, &f->m), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    metrics_close(f->m);
    store_close(f->st);
    char wal[80];
    unlink(f->path);
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    unlink(wal);
    snprintf(wal, sizeof(wal), "%s-shm", f->path);
    unlink(wal);
    free(f);
    return 0;
}

static const struct metrics_dim dim_a = {"StreamName", "a"};
static const struct metrics_key key_a = {"us-east-1", "App", "Latency", &dim_a, 1};

static void put1(struct metrics *m, const struct metrics_key *k, const char *unit, int64_t ts,
                 double v)
{
    struct metrics_stat s = {1, v, v, v};
    assert_int_equal(metrics_put(m, k, unit, ts, 60, &s), 0);
}

static void test_slot_statistics(void **state)
{
    struct fx *f = *state;
    put1(f->m, &key_a, "Milliseconds", T0_MS + 1000, 10);
    put1(f->m, &key_a, "Milliseconds", T0_MS + 59000, 30);
    struct metrics_stat set = {4, 100, 5, 50};
    assert_int_equal(metrics_put(f->m, &key_a, "Milliseconds", T0_MS + 20000, 60, &set), 0);
    put1(f->m, &key_a, "Milliseconds", T0_MS + 60000, 7); /* the next minute */

    struct metrics_point *p;
    size_t n;
    assert_int_equal(metrics_stats(f->m, &key_a, NULL, T0_MS, T0_MS + 120000, 60, &p, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(p[0].ts_ms, T0_MS);
    assert_true(p[0].s.count == 6 && p[0].s.sum == 140 && p[0].s.min == 5 && p[0].s.max == 50);
    assert_string_equal(p[0].unit, "Milliseconds");
    assert_true(p[1].s.count == 1 && p[1].s.sum == 7);
    free(p);
    /* One five-minute period holds both minutes; the end is exclusive. */
    assert_int_equal(metrics_stats(f->m, &key_a, NULL, T0_MS, T0_MS + 300000, 300, &p, &n), 0);
    assert_int_equal(n, 1);
    assert_true(p[0].s.count == 7 && p[0].s.sum == 147 && p[0].s.min == 5);
    free(p);
    assert_int_equal(metrics_stats(f->m, &key_a, NULL, T0_MS, T0_MS + 60000, 60, &p, &n), 0);
    assert_int_equal(n, 1);
    free(p);
}

static void test_units_and_dimensions_apart(void **state)
{
    struct fx *f = *state;
    put1(f->m, &key_a, "Count", T0_MS, 1);
    put1(f->m, &key_a, "Bytes", T0_MS, 100);
    struct metrics_dim other = {"StreamName", "b"};
    struct metrics_key key_b = key_a;
    key_b.dims = &other;
    put1(f->m, &key_b, "Count", T0_MS, 5);

    struct metrics_point *p;
    size_t n;
    assert_int_equal(metrics_stats(f->m, &key_a, "Bytes", T0_MS, T0_MS + 60000, 60, &p, &n), 0);
    assert_int_equal(n, 1);
    assert_true(p[0].s.sum == 100);
    free(p);
    assert_int_equal(metrics_stats(f->m, &key_a, NULL, T0_MS, T0_MS + 60000, 60, &p, &n), 0);
    assert_int_equal(n, 2); /* one point per unit */
    free(p);
    /* Dimension order does not make another metric. */
    struct metrics_dim two[2] = {{"B", "2"}, {"A", "1"}};
    struct metrics_dim two_rev[2] = {{"A", "1"}, {"B", "2"}};
    struct metrics_key k2 = {"us-east-1", "App", "X", two, 2};
    struct metrics_key k2r = {"us-east-1", "App", "X", two_rev, 2};
    put1(f->m, &k2, "None", T0_MS, 1);
    put1(f->m, &k2r, "None", T0_MS, 2);
    assert_int_equal(metrics_stats(f->m, &k2r, NULL, T0_MS, T0_MS + 60000, 60, &p, &n), 0);
    assert_int_equal(n, 1);
    assert_true(p[0].s.sum == 3);
    free(p);
    /* A metric never put has no datapoints; another region does not see ours. */
    struct metrics_key elsewhere = key_a;
    elsewhere.region = "eu-west-1";
    assert_int_equal(metrics_stats(f->m, &elsewhere, NULL, T0_MS, T0_MS + 60000, 60, &p, &n), 0);
    assert_int_equal(n, 0);
    free(p);
}

static void test_high_resolution(void **state)
{
    struct fx *f = *state;
    struct metrics_stat s = {1, 1, 1, 1};
    for (int i = 0; i < 10; i++) {
        assert_int_equal(metrics_put(f->m, &key_a, "Count", T0_MS + i * 1000 + 500, 1, &s), 0);
    }
    struct metrics_point *p;
    size_t n;
    assert_int_equal(metrics_stats(f->m, &key_a, NULL, T0_MS, T0_MS + 10000, 1, &p, &n), 0);
    assert_int_equal(n, 10);
    assert_int_equal(p[3].ts_ms, T0_MS + 3000);
    free(p);
    assert_int_equal(metrics_stats(f->m, &key_a, NULL, T0_MS, T0_MS + 10000, 5, &p, &n), 0);
    assert_int_equal(n, 2);
    assert_true(p[0].s.count == 5 && p[1].s.count == 5);
    free(p);
}

struct seen {
    int n;
    int64_t last;
    char names[8][16];
};

static int collect(void *arg, int64_t id, const char *ns, const char *name,
                   const struct metrics_dim *dims, size_t n_dims)
{
    (void)ns;
    (void)dims;
    (void)n_dims;
    struct seen *s = arg;
    if (s->n == 3) {
        return 1;
    }
    snprintf(s->names[s->n++], 16, "%s", name);
    s->last = id;
    return 0;
}

static void test_list_filters_and_paging(void **state)
{
    struct fx *f = *state;
    const char *names[5] = {"m0", "m1", "m2", "m3", "m4"};
    for (int i = 0; i < 5; i++) {
        struct metrics_dim d = {"Shard", i % 2 ? "odd" : "even"};
        struct metrics_key k = {"us-east-1", "App", names[i], &d, 1};
        put1(f->m, &k, "Count", T0_MS, 1);
    }
    struct seen s = {0};
    struct metrics_list_filter lf = {.region = "us-east-1", .ns = "App"};
    assert_int_equal(metrics_list(f->m, &lf, collect, &s), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.names[2], "m2");
    struct seen rest = {0};
    lf.after_id = s.last;
    assert_int_equal(metrics_list(f->m, &lf, collect, &rest), 0);
    assert_int_equal(rest.n, 2);
    assert_string_equal(rest.names[0], "m3");

    struct metrics_dim odd = {"Shard", "odd"};
    struct metrics_list_filter by_dim = {.region = "us-east-1", .dims = &odd, .n_dims = 1};
    struct seen o = {0};
    assert_int_equal(metrics_list(f->m, &by_dim, collect, &o), 0);
    assert_int_equal(o.n, 2);
    assert_string_equal(o.names[0], "m1");
    struct metrics_dim any = {"Shard", NULL};
    by_dim.dims = &any;
    struct seen a = {0};
    assert_int_equal(metrics_list(f->m, &by_dim, collect, &a), 0);
    assert_int_equal(a.n, 3); /* stopped by collect at 3 of 5 */
    struct metrics_list_filter none = {.region = "us-east-1", .ns = "Other"};
    struct seen z = {0};
    assert_int_equal(metrics_list(f->m, &none, collect, &z), 0);
    assert_int_equal(z.n, 0);
}

static void test_increases(void **state)
{
    struct fx *f = *state;
    metrics__put_increase(f->m, &key_a, "Count", T0_MS, 10);
    metrics__put_increase(f->m, &key_a, "Count", T0_MS + 60000, 25);
    metrics__put_increase(f->m, &key_a, "Count", T0_MS + 120000, 25); /* idle: no point */
    metrics__put_increase(f->m, &key_a, "Count", T0_MS + 180000, 4);  /* restarted counter */
    struct metrics_point *p;
    size_t n;
    assert_int_equal(metrics_stats(f->m, &key_a, NULL, T0_MS, T0_MS + 240000, 60, &p, &n), 0);
    assert_int_equal(n, 3);
    assert_true(p[0].s.sum == 10 && p[1].s.sum == 15 && p[2].s.sum == 4);
    assert_int_equal(p[2].ts_ms, T0_MS + 180000);
    free(p);
}

static void test_retention(void **state)
{
    struct fx *f = *state;
    put1(f->m, &key_a, "Count", T0_MS, 1);
    struct metrics_stat s = {1, 1, 1, 1};
    assert_int_equal(metrics_put(f->m, &key_a, "Count", T0_MS, 1, &s), 0);
    /* Four hours later the one-second slot is gone, the minute remains. */
    assert_int_equal(metrics_expire(f->m, T0_MS + 4LL * 3600000), 0);
    struct metrics_point *p;
    size_t n;
    assert_int_equal(metrics_stats(f->m, &key_a, NULL, T0_MS, T0_MS + 60000, 1, &p, &n), 0);
    assert_int_equal(n, 1);
    assert_true(p[0].s.count == 1);
    free(p);
    /* Sixteen days later nothing is left, and the metric is no longer listed. */
    assert_int_equal(metrics_expire(f->m, T0_MS + 16LL * 86400000), 0);
    assert_int_equal(metrics_stats(f->m, &key_a, NULL, T0_MS, T0_MS + 60000, 60, &p, &n), 0);
    assert_int_equal(n, 0);
    free(p);
    struct seen none = {0};
    struct metrics_list_filter lf = {.region = "us-east-1"};
    assert_int_equal(metrics_list(f->m, &lf, collect, &none), 0);
    assert_int_equal(none.n, 0);
}

static void test_durable_across_reopen(void **state)
{
    struct fx *f = *state;
    put1(f->m, &key_a, "Count", T0_MS, 42);
    metrics_close(f->m);
    store_close(f->st);
    assert_int_equal(store_open(f->path, &f->st), 0);
    struct metrics_options o = {.store = f->st, .now_ms = fake_clock};
    assert_int_equal(metrics_open(&o, &f->m), 0);
    struct metrics_point *p;
    size_t n;
    assert_int_equal(metrics_stats(f->m, &key_a, NULL, T0_MS, T0_MS + 60000, 60, &p, &n), 0);
    assert_int_equal(n, 1);
    assert_true(p[0].s.sum == 42);
    free(p);
}

static void test_batch_writes_every_item(void **state)
{
    struct fx *f = *state;
    struct metrics_dim other = {"StreamName", "b"};
    struct metrics_key key_b = key_a;
    key_b.dims = &other;
    struct metrics_put_item items[3] = {
        {&key_a, "Count", T0_MS, 60, {1, 2, 2, 2}},
        {&key_a, "Count", T0_MS + 5000, 60, {2, 10, 4, 6}},
        {&key_b, "Count", T0_MS, 1, {1, 7, 7, 7}},
    };
    assert_int_equal(metrics_put_batch(f->m, items, 3), 0);
    struct metrics_point *p;
    size_t n;
    assert_int_equal(metrics_stats(f->m, &key_a, NULL, T0_MS, T0_MS + 60000, 60, &p, &n), 0);
    assert_int_equal(n, 1);
    assert_true(p[0].s.count == 3 && p[0].s.sum == 12 && p[0].s.min == 2 && p[0].s.max == 6);
    free(p);
    assert_int_equal(metrics_stats(f->m, &key_b, NULL, T0_MS, T0_MS + 60000, 60, &p, &n), 0);
    assert_int_equal(n, 1);
    assert_true(p[0].s.sum == 7);
    free(p);
}

static int n_source_calls;
static int64_t source_now;

static void counting_source(struct metrics *m, int64_t now_ms, void *ctx)
{
    (void)m;
    (void)ctx;
    n_source_calls++;
    source_now = now_ms;
}

static void test_sample_now_runs_sources(void **state)
{
    struct fx *f = *state;
    metrics_add_source(f->m, counting_source, NULL);
    clock_ms = T0_MS + 5000;
    metrics_sample_now(f->m);
    assert_int_equal(n_source_calls, 1);
    assert_int_equal(source_now, T0_MS + 5000);
}

/* ---- percentiles ---- */

static void test_percentiles(void **state)
{
    struct fx *f = *state;
    for (int v = 100; v >= 1; v--) {
        put1(f->m, &key_a, "Milliseconds", T0_MS + v, v);
    }
    const double ps[] = {0, 50, 90, 99, 99.5, 100};
    double out[6];
    assert_int_equal(metrics_percentiles(f->m, &key_a, NULL, T0_MS, T0_MS + 60000, ps, 6, out), 1);
    const double want[] = {1, 50, 90, 99, 100, 100};
    for (int i = 0; i < 6; i++) {
        assert_true(out[i] == want[i]);
    }
    /* An equal-valued set counts as its samples; a set of unequal values cannot be ranked. */
    struct metrics_stat same = {4, 20, 5, 5}, spread = {2, 3, 1, 2};
    assert_int_equal(metrics_put(f->m, &key_a, "Milliseconds", T0_MS + 60000, 60, &same), 0);
    assert_int_equal(
        metrics_percentiles(f->m, &key_a, NULL, T0_MS + 60000, T0_MS + 120000, ps + 1, 1, out), 1);
    assert_true(out[0] == 5);
    assert_int_equal(metrics_put(f->m, &key_a, "Milliseconds", T0_MS + 60000, 60, &spread), 0);
    assert_int_equal(
        metrics_percentiles(f->m, &key_a, NULL, T0_MS + 60000, T0_MS + 120000, ps + 1, 1, out), 0);
    /* No samples: nothing to rank. */
    assert_int_equal(
        metrics_percentiles(f->m, &key_a, NULL, T0_MS + 120000, T0_MS + 180000, ps + 1, 1, out), 0);
}

/* ---- alarms ---- */

static json_t *alarm_def(const char *name, int eval, int need, const char *treat)
{
    json_t *d = json_pack("{s:s,s:s,s:b,s:s,s:s,s:s,s:[{s:s,s:s}],s:i,s:i,s:i,s:f,s:s,s:s,"
                          "s:[s]}",
                          "AlarmName", name, "AlarmArn", "arn:aws:cloudwatch:x", "ActionsEnabled",
                          1, "Namespace", "App", "MetricName", "Latency", "Statistic", "Maximum",
                          "Dimensions", "Name", "StreamName", "Value", "a", "Period", 60,
                          "EvaluationPeriods", eval, "DatapointsToAlarm", need, "Threshold", 5.0,
                          "ComparisonOperator", "GreaterThanThreshold", "TreatMissingData", treat,
                          "AlarmActions", "arn:aws:sns:us-east-1:1:t");
    assert_non_null(d);
    return d;
}

struct seen_alarm {
    char state[32];
    char reason[512];
};

static int take_alarm(void *arg, json_t *a)
{
    struct seen_alarm *s = arg;
    snprintf(s->state, sizeof(s->state), "%s", json_string_value(json_object_get(a, "StateValue")));
    snprintf(s->reason, sizeof(s->reason), "%s",
             json_string_value(json_object_get(a, "StateReason")));
    return 1;
}

static struct seen_alarm alarm_now(struct fx *f, const char *after)
{
    struct seen_alarm s = {{0}, {0}};
    assert_int_equal(metrics_alarm_list(f->m, "us-east-1", after, take_alarm, &s), 0);
    return s;
}

static int count_history(void *arg, int64_t id, const char *name, int64_t ts, const char *type,
                         const char *summary, const char *data, const char *alarm_type)
{
    (void)id, (void)name, (void)ts, (void)summary, (void)data, (void)alarm_type;
    int *counts = arg;
    counts[strcmp(type, "StateUpdate") == 0 ? 0 : strcmp(type, "Action") == 0 ? 1 : 2]++;
    return 0;
}

static void test_alarm_periods_and_datapoints(void **state)
{
    struct fx *f = *state;
    json_t *d = alarm_def("a", 3, 2, "missing");
    assert_int_equal(metrics_alarm_put(f->m, "us-east-1", d, T0_MS), 0);
    json_decref(d);
    /* No data: unknown, as created. */
    metrics__alarms_evaluate(f->m, T0_MS + 30000);
    struct seen_alarm s = alarm_now(f, NULL);
    assert_string_equal(s.state, "INSUFFICIENT_DATA");
    assert_string_equal(s.reason, metrics_alarm_initial_reason);
    /* One period over the threshold of the two needed: still too few to tell. */
    put1(f->m, &key_a, "Milliseconds", T0_MS + 1000, 9);
    metrics__alarms_evaluate(f->m, T0_MS + 30000);
    assert_string_equal(alarm_now(f, NULL).state, "INSUFFICIENT_DATA");
    /* A second, a minute later: ALARM, listing both, newest first. */
    put1(f->m, &key_a, "Milliseconds", T0_MS + 61000, 7);
    metrics__alarms_evaluate(f->m, T0_MS + 90000);
    s = alarm_now(f, NULL);
    assert_string_equal(s.state, "ALARM");
    assert_non_null(strstr(s.reason, "Threshold Crossed: 2 out of the last 3 datapoints [7.0 ("));
    assert_non_null(strstr(s.reason, "), 9.0 ("));
    assert_non_null(strstr(s.reason, ")] were greater than the threshold (5.0) (minimum 2"
                                     " datapoints for OK -> ALARM transition)."));
    /* Two quiet minutes under it: the breaches age out of the window, OK. */
    put1(f->m, &key_a, "Milliseconds", T0_MS + 121000, 1);
    put1(f->m, &key_a, "Milliseconds", T0_MS + 181000, 2);
    metrics__alarms_evaluate(f->m, T0_MS + 190000);
    s = alarm_now(f, NULL);
    assert_string_equal(s.state, "OK");
    assert_non_null(strstr(s.reason, "2 out of the last 3 datapoints [2.0 ("));
    assert_non_null(strstr(s.reason, "were not greater than the threshold (5.0) (minimum 2"
                                     " datapoints for ALARM -> OK transition)."));
    /* The history: created, two changes; one action (the ALARM's), none for OK. */
    int counts[3] = {0, 0, 0};
    struct metrics_history_filter hf = {
        .region = "us-east-1", .name = "a", .start_ms = INT64_MIN, .end_ms = INT64_MAX};
    assert_int_equal(metrics_alarm_history(f->m, &hf, count_history, counts), 0);
    assert_int_equal(counts[0], 2);
    assert_int_equal(counts[1], 1);
    assert_int_equal(counts[2], 1);
}

static void test_alarm_missing_data_treatments(void **state)
{
    struct fx *f = *state;
    const char *treats[] = {"breaching", "notBreaching", "ignore"};
    const char *want[] = {"ALARM", "OK", "INSUFFICIENT_DATA"};
    for (int i = 0; i < 3; i++) {
        json_t *d = alarm_def(treats[i], 2, 1, treats[i]);
        assert_int_equal(metrics_alarm_put(f->m, "us-east-1", d, T0_MS), 0);
        json_decref(d);
    }
    metrics__alarms_evaluate(f->m, T0_MS + 10000);
    /* names in order: breaching, ignore, notBreaching */
    assert_string_equal(alarm_now(f, NULL).state, want[0]);
    assert_string_equal(alarm_now(f, "breaching").state, want[2]);
    assert_string_equal(alarm_now(f, "ignore").state, want[1]);
    /* ignore keeps a state it had */
    assert_int_equal(
        metrics_alarm_set_state(f->m, "us-east-1", "ignore", "ALARM", "set", NULL, T0_MS + 11000),
        0);
    metrics__alarms_evaluate(f->m, T0_MS + 12000);
    assert_string_equal(alarm_now(f, "breaching").state, "ALARM");
}

static void test_alarms_durable_and_deleted_whole(void **state)
{
    struct fx *f = *state;
    json_t *d = alarm_def("keep", 1, 1, "missing");
    assert_int_equal(metrics_alarm_put(f->m, "us-east-1", d, T0_MS), 0);
    json_decref(d);
    assert_int_equal(
        metrics_alarm_set_state(f->m, "us-east-1", "keep", "ALARM", "why", NULL, T0_MS + 1), 0);
    metrics_close(f->m);
    store_close(f->st);
    assert_int_equal(store_open(f->path, &f->st), 0);
    struct metrics_options o = {.store = f->st, .now_ms = fake_clock};
    assert_int_equal(metrics_open(&o, &f->m), 0);
    struct seen_alarm s = alarm_now(f, NULL);
    assert_string_equal(s.state, "ALARM");
    assert_string_equal(s.reason, "why");
    const char *names[] = {"keep", "nope"};
    const char *missing = NULL;
    assert_int_equal(metrics_alarm_delete(f->m, "us-east-1", names, 2, &missing),
                     SL_E(CW_RESOURCE_NOT_FOUND));
    assert_string_equal(missing, "nope");
    assert_string_equal(alarm_now(f, NULL).state, "ALARM");
    assert_int_equal(metrics_alarm_delete(f->m, "us-east-1", names, 1, &missing), 0);
    assert_string_equal(alarm_now(f, NULL).state, "");
}

/* ---- composite alarms ---- */

static int rule_holds(const char *text, const char *const *states)
{
    struct metrics_rule *r = NULL;
    char err[200];
    assert_int_equal(metrics_rule_parse(text, &r, err, sizeof(err)), 0);
    int v = metrics_rule_eval(r, states);
    metrics_rule_free(r);
    return v;
}

static void test_alarm_rule_grammar(void **state)
{
    (void)state;
    /* children in order of first mention: a, b, c */
    const char *s1[] = {"ALARM", "OK", "INSUFFICIENT_DATA"};
    assert_true(rule_holds("ALARM(a)", s1));
    assert_true(rule_holds("ALARM(\"a\") AND OK( b )", s1));
    assert_false(rule_holds("ALARM(a) AND NOT OK(b)", s1));
    assert_true(rule_holds("ALARM(a) AND (OK(c) OR INSUFFICIENT_DATA(c))", s1 + 0));
    /* AND binds tighter than OR: FALSE AND x OR TRUE is (FALSE AND x) OR TRUE */
    assert_true(rule_holds("FALSE AND ALARM(a) OR TRUE", s1));
    assert_false(rule_holds("NOT TRUE", s1));
    assert_true(rule_holds("NOT NOT ALARM(arn:aws:cloudwatch:us-east-1:1:alarm:a)", s1));
    const char *missing[] = {NULL};
    assert_false(rule_holds("ALARM(gone)", missing));
    assert_true(rule_holds("NOT OK(gone)", missing));

    struct metrics_rule *r = NULL;
    assert_int_equal(metrics_rule_parse("OK(x) OR ALARM(\"arn:aws:cloudwatch:r:1:alarm:y\") OR "
                                        "OK(x)",
                                        &r, (char[200]){0}, 200),
                     0);
    const char *const *children;
    assert_int_equal(metrics_rule_children(r, &children), 2);
    assert_string_equal(children[0], "x");
    assert_string_equal(children[1], "y");
    metrics_rule_free(r);
    /* an ARN with nothing after ":alarm:" names no alarm: kept whole, never "" */
    assert_int_equal(
        metrics_rule_parse("OK(arn:aws:cloudwatch:r:1:alarm:)", &r, (char[200]){0}, 200), 0);
    assert_int_equal(metrics_rule_children(r, &children), 1);
    assert_string_equal(children[0], "arn:aws:cloudwatch:r:1:alarm:");
    metrics_rule_free(r);

    static const struct {
        const char *rule, *err;
    } bad[] = {
        {"()", "Error in AlarmRule [Unsupported token ')' at char 1]"},
        {"ALARM(a) OR", "Error in AlarmRule [Unexpected end of rule at char 11]"},
        {"alarm(a)", "Error in AlarmRule [Unsupported token 'alarm' at char 0]"},
        {"ALARM()", "Error in AlarmRule [Unsupported token ')' at char 6]"},
        {"ALARM(a) ALARM(b)", "Error in AlarmRule [Unsupported token 'ALARM' at char 9]"},
        {"(TRUE", "Error in AlarmRule [Unexpected end of rule at char 5]"},
        {"ALARM(\"a)", "Error in AlarmRule [Unsupported token '\"' at char 6]"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[200] = "";
        r = NULL;
        assert_int_equal(metrics_rule_parse(bad[i].rule, &r, err, sizeof(err)), -1);
        assert_null(r);
        assert_string_equal(err, bad[i].err);
    }
    /* at most 100 alarms */
    char big[4096] = "TRUE";
    for (int i = 0; i < 101; i++) {
        snprintf(big + strlen(big), sizeof(big) - strlen(big), " OR OK(a%d)", i);
    }
    char err[200];
    assert_int_equal(metrics_rule_parse(big, &r, err, sizeof(err)), -1);
}

/* Rules nested as deep as AlarmRule's 10240 characters allow are refused before they
   run out of stack, on a thread with a stack as small as the server's. */
struct deep_rule {
    const char *text, *err;
    int ok;
};

static void *parse_deep(void *arg)
{
    struct deep_rule *d = arg;
    struct metrics_rule *r = NULL;
    char err[200] = "";
    int rc = metrics_rule_parse(d->text, &r, err, sizeof(err));
    d->ok = rc == -1 && r == NULL && strcmp(err, d->err) == 0;
    return NULL;
}

static int refused_on_small_stack(const char *text, const char *err)
{
    struct deep_rule d = {.text = text, .err = err};
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 512 * 1024); /* the server's (http/server.c) */
    pthread_t t;
    assert_int_equal(pthread_create(&t, &attr, parse_deep, &d), 0);
    pthread_join(t, NULL);
    pthread_attr_destroy(&attr);
    return d.ok;
}

static void test_alarm_rule_deep_nesting(void **state)
{
    (void)state;
    char *text = malloc(10241);
    memset(text, '(', 5000);
    memcpy(text + 5000, "TRUE", 4);
    memset(text + 5004, ')', 5000);
    text[10004] = '\0';
    assert_true(
        refused_on_small_stack(text, "Error in AlarmRule [The rule nests more than 100 levels]"));
    text[0] = '\0';
    for (int i = 0; i < 2500; i++) {
        memcpy(text + 4 * i, "NOT ", 5);
    }
    strcat(text, "TRUE");
    assert_true(
        refused_on_small_stack(text, "Error in AlarmRule [The rule nests more than 100 levels]"));
    /* 100 levels still parse */
    text[0] = '\0';
    for (int i = 0; i < 50; i++) {
        strcat(text, "NOT (");
    }
    strcat(text, "TRUE");
    memset(text + strlen(text), ')', 50);
    text[50 * 5 + 4 + 50] = '\0';
    struct metrics_rule *r = NULL;
    char err[200] = "";
    assert_int_equal(metrics_rule_parse(text, &r, err, sizeof(err)), 0);
    assert_true(metrics_rule_eval(r, NULL));
    metrics_rule_free(r);
    free(text);
}

/* ---- metric math ---- */

struct math_case {
    struct metrics *m;
    json_t *queries;
    struct err_info err;
    int rc;
};

static void *run_math(void *arg)
{
    struct math_case *c = arg;
    struct metrics_series out;
    c->rc =
        cw_math_series(c->m, "us-east-1", c->queries, T0_MS - 3600000, T0_MS, T0_MS, &out, &c->err);
    if (c->rc == 0) {
        metrics_series_fini(&out);
    }
    return NULL;
}

/* The message cw_math_series gives the one expression e (its queries), on a thread with a
   stack as small as the server's. */
static const char *math_error(struct fx *f, json_t *queries, struct math_case *c)
{
    memset(c, 0, sizeof(*c));
    c->m = f->m;
    c->queries = queries;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 512 * 1024); /* the server's (http/server.c) */
    pthread_t t;
    assert_int_equal(pthread_create(&t, &attr, run_math, c), 0);
    pthread_join(t, NULL);
    pthread_attr_destroy(&attr);
    json_decref(queries);
    assert_true(c->rc < 0);
    return c->err.message;
}

static json_t *one_expression(const char *text)
{
    /* the string sized exactly, as the CBOR reader makes it */
    return json_pack("[{s:s,s:o}]", "Id", "e", "Expression", json_stringn(text, strlen(text)));
}

static void test_metric_math_unclosed_and_deep(void **state)
{
    struct fx *f = *state;
    struct math_case c;
    /* a missing ')' or ']' at the end is reported without reading past the text */
    assert_string_equal(math_error(f, one_expression("(1"), &c),
                        "Error in expression 'e': Expected ')'.");
    assert_string_equal(math_error(f, one_expression("SUM([1"), &c),
                        "Error in expression 'e': Expected ']'.");
    assert_string_equal(math_error(f, one_expression("MAX(2"), &c),
                        "Error in expression 'e': Expected ')'.");
    /* nesting is bounded before it exhausts the stack (within the model's 2,048 characters,
       which are checked first) */
    char *text = malloc(20002);
    memset(text, '(', 1000);
    text[1000] = '1';
    memset(text + 1001, ')', 1000);
    text[2001] = '\0';
    assert_string_equal(math_error(f, one_expression(text), &c),
                        "Error in expression 'e': The expression is nested too deeply.");
    text[0] = '\0';
    for (int i = 0; i < 500; i++) {
        strcat(text, "SUM(");
    }
    strcat(text, "1");
    assert_string_equal(math_error(f, one_expression(text), &c),
                        "Error in expression 'e': The expression is nested too deeply.");
    free(text);
    /* and so is a chain of references: q0 = q1 + 1, q1 = q2 + 1, ... */
    json_t *chain = json_array();
    for (int i = 0; i < 300; i++) {
        char id[16], ex[32];
        snprintf(id, sizeof(id), "q%d", i);
        snprintf(ex, sizeof(ex), i < 299 ? "q%d + 1" : "1", i + 1);
        json_array_append_new(
            chain, json_pack("{s:s,s:s,s:b}", "Id", id, "Expression", ex, "ReturnData", i == 0));
    }
    assert_non_null(strstr(math_error(f, chain, &c), "The expression is nested too deeply."));
}

/* Times far beyond any date are malformed, not an overflow in the arithmetic after. */
static void test_time_out_of_range_is_malformed(void **state)
{
    (void)state;
    json_t *in = json_pack("{s:f,s:f,s:s,s:s,s:s,s:i}", "a", 1e300, "b", -1e300, "c", "1e300", "d",
                           "2026-11-29T01:02:03.5e300Z", "e", "nan", "f", 1764410400);
    int64_t ms = 0;
    assert_int_equal(cw_get_time(in, "a", &ms), -1);
    assert_int_equal(cw_get_time(in, "b", &ms), -1);
    assert_int_equal(cw_get_time(in, "c", &ms), -1);
    assert_int_equal(cw_get_time(in, "d", &ms), -1);
    assert_int_equal(cw_get_time(in, "e", &ms), -1);
    assert_int_equal(cw_get_time(in, "f", &ms), 1);
    assert_int_equal(ms, 1764410400000);
    json_decref(in);
}

/* ---- awsQuery ---- */

/* As the router keeps form fields (http/router.c). */
struct api_params {
    struct query_params q;
};

/* A member name that is not UTF-8 cannot be a JSON key: refused as malformed (it once
   freed the list it was to hold and spun appending to it). */
static void test_query_member_name_not_utf8(void **state)
{
    struct fx *f = *state;
    struct api_query_service *svc = cloudwatch_query_api_create(f->m);
    static const char *const forms[] = {"AlarmName=x&Dim%FFensions.member.1.Name=a",
                                        "AlarmName=x&Met%FFric.Name=a"};
    for (size_t k = 0; k < 2; k++) {
        struct api_params p;
        query_params_init(&p.q);
        assert_int_equal(query_params_parse(&p.q, forms[k], strlen(forms[k])), 0);
        const struct api_query_op *op = NULL;
        for (size_t i = 0; i < svc->n_ops; i++) {
            if (strcmp(svc->ops[i].action, "PutMetricAlarm") == 0) {
                op = &svc->ops[i];
            }
        }
        assert_non_null(op);
        struct api_request req = {.region = "us-east-1", .account_id = "1", .now_ms = T0_MS};
        struct api_response resp = {.status = 200, .body_fd = -1};
        struct api_call call = {.req = &req, .resp = &resp, .service_ctx = svc->ctx};
        err_clear(&call.err);
        struct buf out;
        buf_init(&out);
        assert_int_equal(op->fn(&call, &p, &out), SL_E(INVALID_PARAMETER_VALUE));
        char want[128];
        snprintf(want, sizeof(want), "The parameter %s is malformed.", p.q.names[1]);
        assert_string_equal(call.err.message, want);
        buf_fini(&out);
        query_params_fini(&p.q);
    }
    cloudwatch_api_destroy(NULL, svc);
}

static json_t *composite_def(const char *name, const char *rule)
{
    json_t *d = json_pack("{s:s,s:s,s:b,s:s,s:[s]}", "AlarmName", name, "AlarmArn",
                          "arn:aws:cloudwatch:us-east-1:1:alarm:p", "ActionsEnabled", 1,
                          "AlarmRule", rule, "AlarmActions", "arn:aws:sns:us-east-1:1:t");
    assert_non_null(d);
    return d;
}

static int count_composite_history(void *arg, int64_t id, const char *name, int64_t ts,
                                   const char *type, const char *summary, const char *data,
                                   const char *alarm_type)
{
    (void)id, (void)ts, (void)summary, (void)data;
    int *counts = arg;
    if (strcmp(name, "p") == 0) {
        assert_string_equal(alarm_type, "CompositeAlarm");
        counts[strcmp(type, "StateUpdate") == 0 ? 0 : strcmp(type, "Action") == 0 ? 1 : 2]++;
    }
    return 0;
}

static void test_composite_follows_its_children(void **state)
{
    struct fx *f = *state;
    json_t *d = alarm_def("a", 1, 1, "missing");
    assert_int_equal(metrics_alarm_put(f->m, "us-east-1", d, T0_MS), 0);
    json_decref(d);
    struct err_info err = {0};
    d = composite_def("p", "ALARM(ghost)");
    assert_int_equal(metrics_composite_put(f->m, "us-east-1", d, T0_MS, &err), SL_E(CW_VALIDATION));
    assert_string_equal(err.message, "Could not save the composite alarm as alarms [ghost] in the"
                                     " alarm rule do not exist");
    json_decref(d);
    d = composite_def("p", "ALARM(a)");
    assert_int_equal(metrics_composite_put(f->m, "us-east-1", d, T0_MS, &err), 0);
    json_decref(d);
    assert_string_equal(alarm_now(f, "a").state, "OK"); /* evaluated at once */
    assert_int_equal(
        metrics_alarm_set_state(f->m, "us-east-1", "a", "ALARM", "why", NULL, T0_MS + 1000), 0);
    struct seen_alarm s = alarm_now(f, "a");
    assert_string_equal(s.state, "ALARM");
    assert_non_null(strstr(s.reason, "arn:aws:cloudwatch:us-east-1:1:alarm:a transitioned to "
                                     "ALARM at "));
    int counts[3] = {0};
    struct metrics_history_filter hf = {.region = "us-east-1",
                                        .start_ms = INT64_MIN,
                                        .end_ms = INT64_MAX,
                                        .alarm_type = "CompositeAlarm"};
    assert_int_equal(metrics_alarm_history(f->m, &hf, count_composite_history, counts), 0);
    assert_int_equal(counts[0], 2); /* INSUFFICIENT_DATA to OK, OK to ALARM */
    assert_int_equal(counts[1], 1); /* the ALARM action */
    assert_int_equal(counts[2], 1); /* created */
    /* the sampler evaluates the child (no data: INSUFFICIENT_DATA); the composite follows */
    clock_ms = T0_MS + 600000;
    metrics__alarms_evaluate(f->m, clock_ms);
    assert_string_equal(alarm_now(f, NULL).state, "INSUFFICIENT_DATA");
    assert_string_equal(alarm_now(f, "a").state, "OK");
    /* a cycle is refused: a composite naming p that p would name */
    d = composite_def("q", "ALARM(p)");
    assert_int_equal(metrics_composite_put(f->m, "us-east-1", d, T0_MS, &err), 0);
    json_decref(d);
    d = composite_def("p", "ALARM(q)");
    assert_int_equal(metrics_composite_put(f->m, "us-east-1", d, T0_MS, &err), SL_E(CW_VALIDATION));
    json_decref(d);
}

/* ---- the cost ---- */

static json_t *cost_line(json_t *doc, const char *item)
{
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(doc, "LineItems"), i, l)
    {
        if (strcmp(json_string_value(json_object_get(l, "Item")), item) == 0) {
            return l;
        }
    }
    fail_msg("no line %s", item);
    return NULL;
}

static void test_cost_of_s3_requests_and_storage(void **state)
{
    struct fx *f = *state;
    struct metrics_dim dims[2] = {{"BucketName", "b"}, {"FilterId", "EntireBucket"}};
    struct metrics_key k = {"us-east-1", "AWS/S3", "AllRequests", dims, 2};
    put1(f->m, &k, "Count", T0_MS, 9000);
    k.name = "PutRequests";
    put1(f->m, &k, "Count", T0_MS, 3000);
    k.name = "ListRequests";
    put1(f->m, &k, "Count", T0_MS + 60000, 1000);
    k.name = "GetRequests";
    put1(f->m, &k, "Count", T0_MS, 5000);
    k.name = "GetRequests";
    put1(f->m, &k, "Count", T0_MS - 2 * 3600 * 1000, 7777); /* before the window */
    struct metrics_dim sd[2] = {{"BucketName", "b"}, {"StorageType", "StandardStorage"}};
    struct metrics_key size = {"us-east-1", "AWS/S3", "BucketSizeBytes", sd, 2};
    put1(f->m, &size, "Bytes", T0_MS, 1073741824.0 * 10);
    put1(f->m, &size, "Bytes", T0_MS + 60000, 1073741824.0 * 73); /* the newest counts */
    json_t *doc = metrics_cost(f->m, NULL, NULL, NULL, "us-east-1", T0_MS + 120000, 1);
    json_t *l = cost_line(doc, "PUT, COPY, POST, LIST requests");
    assert_true(json_real_value(json_object_get(l, "Quantity")) == 4000);
    assert_true(fabs(json_real_value(json_object_get(l, "USD")) - 4 * 0.005) < 1e-12);
    l = cost_line(doc, "GET, HEAD requests");
    assert_true(fabs(json_real_value(json_object_get(l, "USD")) - 5 * 0.0004) < 1e-12);
    l = cost_line(doc, "Storage"); /* 73 GB for one hour of a 730-hour month */
    assert_true(fabs(json_real_value(json_object_get(l, "Quantity")) - 0.1) < 1e-12);
    assert_true(fabs(json_real_value(json_object_get(l, "USD")) - 0.0023) < 1e-12);
    assert_true(fabs(json_real_value(json_object_get(doc, "Total")) - (0.02 + 0.002 + 0.0023)) <
                1e-12);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_slot_statistics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_units_and_dimensions_apart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_high_resolution, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_filters_and_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_increases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durable_across_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sample_now_runs_sources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_writes_every_item, setup, teardown),
        cmocka_unit_test_setup_teardown(test_percentiles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alarm_periods_and_datapoints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alarm_missing_data_treatments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alarms_durable_and_deleted_whole, setup, teardown),
        cmocka_unit_test(test_alarm_rule_grammar),
        cmocka_unit_test(test_alarm_rule_deep_nesting),
        cmocka_unit_test_setup_teardown(test_metric_math_unclosed_and_deep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_member_name_not_utf8, setup, teardown),
        cmocka_unit_test(test_time_out_of_range_is_malformed),
        cmocka_unit_test_setup_teardown(test_cost_of_s3_requests_and_storage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_composite_follows_its_children, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
