/*
 * The metrics store: metric identities and their aggregated slots in the metadata
 * store, the statistics read back from them, and the sampler thread.
 */
#include "metrics/metrics_int.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/store.h"

static const struct store_migration migrations[] = {
    /* dims: the dimensions sorted by name, "name\x1fvalue" joined by "\x1e" */
    {1, "CREATE TABLE metric ("
        " id INTEGER PRIMARY KEY,"
        " region TEXT NOT NULL,"
        " namespace TEXT NOT NULL,"
        " name TEXT NOT NULL,"
        " dims TEXT NOT NULL,"
        " UNIQUE (region, namespace, name, dims));"
        /* ts: the slot's start in ms; res: its length in seconds (1 or 60) */
        "CREATE TABLE metric_point ("
        " metric_id INTEGER NOT NULL,"
        " ts INTEGER NOT NULL,"
        " res INTEGER NOT NULL,"
        " unit TEXT NOT NULL,"
        " n REAL NOT NULL, sum REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL,"
        " PRIMARY KEY (metric_id, ts, res, unit)) WITHOUT ROWID;"
        "CREATE INDEX metric_point_ts ON metric_point(ts);"},
    /* def: the MetricAlarm's configuration as JSON; the state beside it */
    {2, "CREATE TABLE metric_alarm ("
        " region TEXT NOT NULL,"
        " name TEXT NOT NULL,"
        " def TEXT NOT NULL,"
        " state TEXT NOT NULL,"
        " reason TEXT NOT NULL,"
        " reason_data TEXT,"
        " state_ms INTEGER NOT NULL,"
        " transitioned_ms INTEGER NOT NULL,"
        " config_ms INTEGER NOT NULL,"
        " PRIMARY KEY (region, name));"
        "CREATE TABLE alarm_history ("
        " id INTEGER PRIMARY KEY,"
        " region TEXT NOT NULL,"
        " name TEXT NOT NULL,"
        " ts INTEGER NOT NULL,"
        " type TEXT NOT NULL,"
        " summary TEXT NOT NULL,"
        " data TEXT NOT NULL);"
        "CREATE INDEX alarm_history_name ON alarm_history(region, name, ts);"},
    /* The values of a slot, for percentiles: raw is how many of its n samples are in
       metric_value (a statistic set of distinct values cannot be). */
    {3, "ALTER TABLE metric_point ADD COLUMN raw REAL NOT NULL DEFAULT 0;"
        "CREATE TABLE metric_value ("
        " metric_id INTEGER NOT NULL,"
        " ts INTEGER NOT NULL,"
        " res INTEGER NOT NULL,"
        " unit TEXT NOT NULL,"
        " value REAL NOT NULL,"
        " count REAL NOT NULL,"
        " PRIMARY KEY (metric_id, ts, res, unit, value)) WITHOUT ROWID;"
        "CREATE INDEX metric_value_ts ON metric_value(ts);"},
    /* History items say which kind of alarm they are of (composites are in metric_alarm
       too, their def having an AlarmRule). */
    {4, "ALTER TABLE alarm_history ADD COLUMN alarm_type TEXT NOT NULL DEFAULT 'MetricAlarm';"},
};

/* AWS keeps one-minute data 15 days and one-second data 3 hours before rolling them up. */
#define RETAIN_MINUTE_MS (15LL * 24 * 3600 * 1000)
#define RETAIN_SECOND_MS (3LL * 3600 * 1000)
#define SOURCES_MAX 8

/* The last total a counter source reported, per key (metrics__put_increase). */
struct last_total {
    char *key;
    double total;
    struct last_total *next;
};

struct metrics {
    struct store *store;
    metrics_clock_fn now_fn;
    void *clock_arg;
    struct {
        metrics_source_fn fn;
        void *ctx;
    } sources[SOURCES_MAX];
    size_t n_sources;
    pthread_mutex_t sample_mu; /* one sample at a time; guards totals */
    struct last_total *totals;
    metrics_math_fn math; /* metric math for alarms, set by the API before any sample */
    /* the sampler thread */
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int stopping;
    int has_thread;
    pthread_t thread;
};

int64_t metrics_now_ms(const struct metrics *m)
{
    return m->now_fn != NULL ? m->now_fn(m->clock_arg) : clock_now_ms();
}

struct store *metrics__store(struct metrics *m)
{
    return m->store;
}

void metrics__set_math(struct metrics *m, metrics_math_fn fn)
{
    pthread_mutex_lock(&m->sample_mu); /* the sampler thread may be evaluating */
    m->math = fn;
    pthread_mutex_unlock(&m->sample_mu);
}

metrics_math_fn metrics__math(struct metrics *m)
{
    return m->math;
}

void metrics_series_fini(struct metrics_series *s)
{
    free(s->ts);
    free(s->v);
    memset(s, 0, sizeof(*s));
}

/* ---- dimensions ---- */

static int cmp_dims(const void *a, const void *b)
{
    return strcmp(((const struct metrics_dim *)a)->name, ((const struct metrics_dim *)b)->name);
}

/* The canonical text of a dimension set (order does not matter to CloudWatch). */
static char *dims_key(const struct metrics_dim *dims, size_t n)
{
    struct metrics_dim sorted[METRICS_DIMS_MAX];
    n = n > METRICS_DIMS_MAX ? METRICS_DIMS_MAX : n;
    memcpy(sorted, dims, n * sizeof(*dims));
    qsort(sorted, n, sizeof(*sorted), cmp_dims);
    struct buf b;
    buf_init(&b);
    for (size_t i = 0; i < n; i++) {
        buf_printf(&b, "%s%s\x1f%s", i ? "\x1e" : "", sorted[i].name, sorted[i].value);
    }
    buf_putc(&b, '\0');
    size_t len;
    return (char *)buf_steal(&b, &len);
}

/* Splits a dims_key in place into out (names and values point into text). */
static size_t dims_split(char *text, struct metrics_dim out[METRICS_DIMS_MAX])
{
    size_t n = 0;
    char *p = text;
    while (*p != '\0' && n < METRICS_DIMS_MAX) {
        char *end = strchr(p, '\x1e');
        if (end != NULL) {
            *end = '\0';
        }
        char *sep = strchr(p, '\x1f');
        if (sep != NULL) {
            *sep = '\0';
            out[n].name = p;
            out[n].value = sep + 1;
            n++;
        }
        if (end == NULL) {
            break;
        }
        p = end + 1;
    }
    return n;
}

/* ---- writing ---- */

/* The metric's id, made when new. Under the store lock. */
static int metric_id(struct metrics *m, const struct metrics_key *k, int create, int64_t *id)
{
    char *dims = dims_key(k->dims, k->n_dims);
    int rc = 0;
    if (create) {
        rc = store_run(m->store,
                       "INSERT INTO metric (region, namespace, name, dims) VALUES (?,?,?,?)"
                       " ON CONFLICT DO NOTHING",
                       "ssss", k->region, k->ns, k->name, dims);
    }
    struct store_stmt *q = rc < 0 ? NULL
                                  : store_prepare_args(m->store,
                                                       "SELECT id FROM metric WHERE region=?"
                                                       " AND namespace=? AND name=? AND dims=?",
                                                       "ssss", k->region, k->ns, k->name, dims);
    free(dims);
    if (q == NULL) {
        return rc < 0 ? rc : SL_E(IO);
    }
    rc = store_step(q);
    if (rc == 1) {
        *id = store_col_int64(q, 0);
    }
    store_finalize(q);
    return rc < 0 ? rc : rc == 1 ? 0 : SL_E(RESOURCE_NOT_FOUND);
}

/* Adds one observation to its slot. Under the store lock, inside a transaction. */
static int put_locked(struct metrics *m, const struct metrics_put_item *it)
{
    int64_t slot_ms = (int64_t)it->resolution_s * 1000;
    int64_t ts = it->ts_ms - ((it->ts_ms % slot_ms) + slot_ms) % slot_ms;
    int64_t id = 0;
    int rc = metric_id(m, it->key, 1, &id);
    if (rc < 0) {
        return rc;
    }
    /* One value repeated (a single value, or a set whose samples are all equal) is kept
       for percentiles, as CloudWatch keeps it; other statistic sets are not. */
    const struct metrics_stat *st = &it->stat;
    int raw = st->min == st->max && st->sum == st->min * st->count;
    struct store_stmt *q = store_prepare_args(
        m->store,
        "INSERT INTO metric_point (metric_id, ts, res, unit, n, sum, min, max, raw)"
        " VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT DO UPDATE SET n = n + excluded.n,"
        " sum = sum + excluded.sum, min = MIN(min, excluded.min),"
        " max = MAX(max, excluded.max), raw = raw + excluded.raw",
        "iiis", id, ts, (int64_t)it->resolution_s, it->unit);
    if (q == NULL) {
        return SL_E(IO);
    }
    const double vals[5] = {st->count, st->sum, st->min, st->max, raw ? st->count : 0};
    for (int i = 0; i < 5; i++) {
        store_bind_double(q, 5 + i, vals[i]);
    }
    rc = store_step(q);
    store_finalize(q);
    if (rc >= 0 && raw) {
        q = store_prepare_args(m->store,
                               "INSERT INTO metric_value (metric_id, ts, res, unit, value, count)"
                               " VALUES (?,?,?,?,?,?) ON CONFLICT DO UPDATE SET"
                               " count = count + excluded.count",
                               "iiis", id, ts, (int64_t)it->resolution_s, it->unit);
        if (q == NULL) {
            return SL_E(IO);
        }
        store_bind_double(q, 5, st->min);
        store_bind_double(q, 6, st->count);
        rc = store_step(q);
        store_finalize(q);
    }
    return rc < 0 ? rc : 0;
}

int metrics_put_batch(struct metrics *m, const struct metrics_put_item *items, size_t n)
{
    store_lock(m->store);
    int rc = store_begin(m->store);
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = put_locked(m, &items[i]);
    }
    if (rc == 0) {
        rc = store_commit(m->store);
    } else {
        store_rollback(m->store);
    }
    store_unlock(m->store);
    return rc;
}

int metrics_put(struct metrics *m, const struct metrics_key *k, const char *unit, int64_t ts_ms,
                int resolution_s, const struct metrics_stat *s)
{
    struct metrics_put_item it = {k, unit, ts_ms, resolution_s, *s};
    return metrics_put_batch(m, &it, 1);
}

/* ---- reading ---- */

static void stat_merge(struct metrics_stat *into, const struct metrics_stat *s)
{
    if (into->count == 0) {
        *into = *s;
        return;
    }
    into->count += s->count;
    into->sum += s->sum;
    into->min = fmin(into->min, s->min);
    into->max = fmax(into->max, s->max);
}

int metrics_stats(struct metrics *m, const struct metrics_key *k, const char *unit,
                  int64_t start_ms, int64_t end_ms, int period_s, struct metrics_point **out,
                  size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    int64_t period_ms = (int64_t)period_s * 1000;
    store_read_begin(m->store);
    int64_t id = 0;
    int rc = metric_id(m, k, 0, &id);
    if (rc == SL_E(RESOURCE_NOT_FOUND)) {
        store_read_end(m->store);
        return 0; /* a metric never published has no datapoints */
    }
    struct store_stmt *q =
        rc < 0 ? NULL
               : store_prepare_args(m->store,
                                    "SELECT ts, unit, n, sum, min, max FROM metric_point"
                                    " WHERE metric_id=? AND ts>=? AND ts<?"
                                    " AND (? IS NULL OR unit=?) ORDER BY ts, unit",
                                    "iiiss", id, start_ms, end_ms, unit, unit);
    if (q == NULL) {
        store_read_end(m->store);
        return rc < 0 ? rc : SL_E(IO);
    }
    struct metrics_point *pts = NULL;
    size_t n = 0, cap = 0;
    while ((rc = store_step(q)) == 1) {
        int64_t bucket = start_ms + (store_col_int64(q, 0) - start_ms) / period_ms * period_ms;
        const char *u = store_col_text(q, 1);
        struct metrics_stat s = {store_col_double(q, 2), store_col_double(q, 3), store_col_double(q, 4), store_col_double(q, 5)};
        size_t i = 0;
        while (i < n && !(pts[i].ts_ms == bucket && strcmp(pts[i].unit, u) == 0)) {
            i++;
        }
        if (i == n) {
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                pts = xrealloc(pts, cap * sizeof(*pts));
            }
            memset(&pts[n], 0, sizeof(pts[n]));
            pts[n].ts_ms = bucket;
            snprintf(pts[n].unit, sizeof(pts[n].unit), "%s", u);
            n++;
        }
        stat_merge(&pts[i].s, &s);
    }
    store_finalize(q);
    store_read_end(m->store);
    if (rc < 0) {
        free(pts);
        return rc;
    }
    *out = pts;
    *n_out = n;
    return 0;
}

int metrics_percentiles(struct metrics *m, const struct metrics_key *k, const char *unit,
                        int64_t from_ms, int64_t to_ms, const double *ps, size_t n_ps,
                        double *out)
{
    store_read_begin(m->store);
    int64_t id = 0;
    int rc = metric_id(m, k, 0, &id);
    if (rc == SL_E(RESOURCE_NOT_FOUND)) {
        store_read_end(m->store);
        return 0;
    }
    struct store_stmt *q =
        rc < 0 ? NULL
               : store_prepare_args(m->store,
                                    "SELECT SUM(n), SUM(raw) FROM metric_point WHERE metric_id=?"
                                    " AND ts>=? AND ts<? AND (? IS NULL OR unit=?)",
                                    "iiiss", id, from_ms, to_ms, unit, unit);
    double n = 0, raw = 0;
    if (q != NULL && (rc = store_step(q)) == 1) {
        n = store_col_double(q, 0);
        raw = store_col_double(q, 1);
    }
    store_finalize(q);
    int computable = rc >= 0 && q != NULL && n > 0 && raw >= n;
    q = !computable ? NULL
                    : store_prepare_args(m->store,
                                         "SELECT value, SUM(count) FROM metric_value"
                                         " WHERE metric_id=? AND ts>=? AND ts<?"
                                         " AND (? IS NULL OR unit=?) GROUP BY value"
                                         " ORDER BY value",
                                         "iiiss", id, from_ms, to_ms, unit, unit);
    /* Nearest rank: the smallest value with at least p% of the samples at or below it. */
    double seen = 0;
    size_t next = 0;
    while (q != NULL && next < n_ps && (rc = store_step(q)) == 1) {
        double v = store_col_double(q, 0);
        seen += store_col_double(q, 1);
        while (next < n_ps && seen >= ps[next] / 100.0 * n - 1e-9) {
            out[next++] = v;
        }
    }
    store_finalize(q);
    store_read_end(m->store);
    if (rc < 0 && computable) {
        return rc;
    }
    return computable && next == n_ps ? 1 : 0;
}

/* 1 when every filter dimension is among dims (with its value, when it names one). */
static int dims_match(const struct metrics_dim *dims, size_t n, const struct metrics_dim *f,
                      size_t nf)
{
    for (size_t i = 0; i < nf; i++) {
        int found = 0;
        for (size_t j = 0; j < n && !found; j++) {
            found = strcmp(dims[j].name, f[i].name) == 0 &&
                    (f[i].value == NULL || strcmp(dims[j].value, f[i].value) == 0);
        }
        if (!found) {
            return 0;
        }
    }
    return 1;
}

int metrics_list(struct metrics *m, const struct metrics_list_filter *f, metrics_list_fn fn,
                 void *arg)
{
    store_read_begin(m->store);
    struct store_stmt *q = store_prepare_args(
        m->store,
        "SELECT id, namespace, name, dims FROM metric WHERE region=? AND id>?"
        " AND (? IS NULL OR namespace=?) AND (? IS NULL OR name=?)"
        " AND EXISTS (SELECT 1 FROM metric_point WHERE metric_id=metric.id) ORDER BY id",
        "sissss", f->region, f->after_id, f->ns, f->ns, f->name, f->name);
    if (q == NULL) {
        store_read_end(m->store);
        return SL_E(IO);
    }
    int rc;
    while ((rc = store_step(q)) == 1) {
        char *text = xstrdup(store_col_text(q, 3));
        struct metrics_dim dims[METRICS_DIMS_MAX];
        size_t n = dims_split(text, dims);
        int stop = 0;
        if (dims_match(dims, n, f->dims, f->n_dims)) {
            stop = fn(arg, store_col_int64(q, 0), store_col_text(q, 1), store_col_text(q, 2),
                      dims, n);
        }
        free(text);
        if (stop) {
            rc = 0;
            break;
        }
    }
    store_finalize(q);
    store_read_end(m->store);
    return rc < 0 ? rc : 0;
}

/* ---- publishing ---- */

void metrics_add_source(struct metrics *m, metrics_source_fn fn, void *ctx)
{
    pthread_mutex_lock(&m->sample_mu); /* the sampler thread may be sampling */
    SL_ASSERT(m->n_sources < SOURCES_MAX);
    m->sources[m->n_sources].fn = fn;
    m->sources[m->n_sources].ctx = ctx;
    m->n_sources++;
    pthread_mutex_unlock(&m->sample_mu);
}

void metrics__put_gauge(struct metrics *m, const struct metrics_key *k, const char *unit,
                        int64_t now_ms, double value)
{
    struct metrics_stat s = {1, value, value, value};
    int rc = metrics_put(m, k, unit, now_ms, 60, &s);
    if (rc < 0) {
        log_msg(LOG_WARN, "metrics", "cannot record %s/%s: %s", k->ns, k->name, sl_strerror(rc));
    }
}

void metrics__put_increase(struct metrics *m, const struct metrics_key *k, const char *unit,
                           int64_t now_ms, double total)
{
    char *dims = dims_key(k->dims, k->n_dims);
    char *key = xasprintf("%s\x1d%s\x1d%s\x1d%s", k->region, k->ns, k->name, dims);
    free(dims);
    struct last_total *t = m->totals;
    while (t != NULL && strcmp(t->key, key) != 0) {
        t = t->next;
    }
    double prev = 0;
    if (t == NULL) {
        t = xcalloc(1, sizeof(*t));
        t->key = key;
        t->next = m->totals;
        m->totals = t;
    } else {
        free(key);
        prev = t->total;
    }
    double inc = total >= prev ? total - prev : total;
    t->total = total;
    if (inc > 0) {
        struct metrics_stat s = {1, inc, inc, inc};
        int rc = metrics_put(m, k, unit, now_ms, 60, &s);
        if (rc < 0) {
            log_msg(LOG_WARN, "metrics", "cannot record %s/%s: %s", k->ns, k->name,
                    sl_strerror(rc));
        }
    }
}

int metrics_expire(struct metrics *m, int64_t now_ms)
{
    store_lock(m->store);
    int rc = store_run(m->store, "DELETE FROM metric_point WHERE (res=60 AND ts<?)"
                                 " OR (res=1 AND ts<?)",
                       "ii", now_ms - RETAIN_MINUTE_MS, now_ms - RETAIN_SECOND_MS);
    if (rc == 0) {
        rc = store_run(m->store, "DELETE FROM metric_value WHERE (res=60 AND ts<?)"
                                 " OR (res=1 AND ts<?)",
                       "ii", now_ms - RETAIN_MINUTE_MS, now_ms - RETAIN_SECOND_MS);
    }
    if (rc == 0) {
        rc = store_run(m->store,
                       "DELETE FROM metric WHERE NOT EXISTS"
                       " (SELECT 1 FROM metric_point WHERE metric_id=metric.id)",
                       "");
    }
    store_unlock(m->store);
    return rc;
}

void metrics_sample_now(struct metrics *m)
{
    pthread_mutex_lock(&m->sample_mu);
    int64_t now = metrics_now_ms(m);
    for (size_t i = 0; i < m->n_sources; i++) {
        m->sources[i].fn(m, now, m->sources[i].ctx);
    }
    int rc = metrics_expire(m, now);
    if (rc < 0) {
        log_msg(LOG_WARN, "metrics", "retention sweep failed: %s", sl_strerror(rc));
    }
    metrics__alarms_evaluate(m, now); /* after the sources, so this minute's figures count */
    pthread_mutex_unlock(&m->sample_mu);
}

/* Samples at the top of every minute of the service clock. */
static void *sampler_main(void *arg)
{
    struct metrics *m = arg;
    pthread_mutex_lock(&m->mu);
    while (!m->stopping) {
        int64_t now = metrics_now_ms(m);
        int64_t wait_ms = 60000 - now % 60000;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += wait_ms / 1000;
        until.tv_nsec += (wait_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        if (pthread_cond_timedwait(&m->cond, &m->mu, &until) != 0 && !m->stopping) {
            pthread_mutex_unlock(&m->mu);
            metrics_sample_now(m);
            pthread_mutex_lock(&m->mu);
        }
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

int metrics_open(const struct metrics_options *opt, struct metrics **out)
{
    int rc = store_migrate(opt->store, "metrics", migrations,
                           sizeof(migrations) / sizeof(migrations[0]));
    if (rc < 0) {
        return rc;
    }
    struct metrics *m = xcalloc(1, sizeof(*m));
    m->store = opt->store;
    m->now_fn = opt->now_ms;
    m->clock_arg = opt->clock_arg;
    pthread_mutex_init(&m->sample_mu, NULL);
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cond, NULL);
    if (opt->background) {
        if (pthread_create(&m->thread, NULL, sampler_main, m) != 0) {
            metrics_close(m);
            return SL_E(INTERNAL);
        }
        m->has_thread = 1;
    }
    *out = m;
    return 0;
}

void metrics_close(struct metrics *m)
{
    if (m == NULL) {
        return;
    }
    if (m->has_thread) {
        pthread_mutex_lock(&m->mu);
        m->stopping = 1;
        pthread_cond_signal(&m->cond);
        pthread_mutex_unlock(&m->mu);
        pthread_join(m->thread, NULL);
    }
    while (m->totals != NULL) {
        struct last_total *next = m->totals->next;
        free(m->totals->key);
        free(m->totals);
        m->totals = next;
    }
    pthread_cond_destroy(&m->cond);
    pthread_mutex_destroy(&m->mu);
    pthread_mutex_destroy(&m->sample_mu);
    free(m);
}
