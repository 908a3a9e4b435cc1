/*
 * CloudWatch's API (monitoring 2010-08-01): PutMetricData, ListMetrics,
 * GetMetricStatistics and GetMetricData here, the alarms in cloudwatch_alarms.c.
 *
 * Each operation is written once, on JSON (awsJson1_0, the newer SDKs). The query
 * protocol (awsQuery, older SDKs) reaches the same operations: its form fields become
 * the JSON the model describes ("A.member.2.B" is A[1].B) and the JSON answer is written
 * as the model's XML (lists as <member>, timestamps as ISO 8601). Values that JSON sends
 * as numbers arrive from a form as text, so the readers below take both.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/mem.h"
#include "http/api.h"
#include "metrics/cw_int.h"

#define PUT_DATUMS_MAX 1000
#define LIST_PAGE 500
#define DATAPOINTS_MAX 1440
#define QUERIES_MAX 500
#define EXT_STATS_MAX 10

static const char *const units[] = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
    "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
    "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
};
static const char *const stat_names[] = {"SampleCount", "Average", "Sum", "Minimum", "Maximum"};
#define N_STATS 5

/* ---- reading input ---- */

const char *cw_get_str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* 0 absent, 1 read into *out, -1 not a number. */
int cw_get_num(json_t *obj, const char *key, double *out)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v)) {
        return 0;
    }
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 1;
    }
    const char *s = json_string_value(v);
    char *end = NULL;
    if (s == NULL || *s == '\0') {
        return -1;
    }
    *out = strtod(s, &end);
    return *end == '\0' ? 1 : -1;
}

int cw_get_bool(json_t *obj, const char *key, int dflt)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v)) {
        return dflt;
    }
    return json_is_true(v) || (json_is_string(v) && strcmp(json_string_value(v), "true") == 0);
}

int cw_get_int(struct api_call *call, json_t *obj, const char *key, long lo, long hi, long *out)
{
    double v = 0;
    int got = cw_get_num(obj, key, &v);
    if (got == 0) {
        return 0;
    }
    if (got < 0 || v != floor(v) || v < (double)lo || v > (double)hi) {
        char why[96];
        snprintf(why, sizeof(why), "must be an integer between %ld and %ld.", lo, hi);
        return cw_bad_value(call, key, why);
    }
    *out = (long)v;
    return 1;
}

/* Epoch seconds v in ms; -1 when not a number or beyond ±10^13 s (300,000 years), which
   no time arithmetic after it could hold. */
static int seconds_ms(double v, int64_t *ms)
{
    if (!(v >= -1e13 && v <= 1e13)) {
        return -1;
    }
    *ms = (int64_t)llround(v * 1000);
    return 0;
}

/* "2026-11-29T01:02:03[.fff](Z|+hh:mm)" or epoch seconds; -1 when malformed. */
static int parse_time(const char *s, int64_t *ms)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) < 6) {
        char *end;
        double v = strtod(s, &end);
        if (end == s || *end != '\0') {
            return -1;
        }
        return seconds_ms(v, ms);
    }
    const char *p = s + n;
    double frac = 0;
    if (*p == '.') {
        char *end;
        frac = strtod(p, &end);
        p = end;
        if (!(frac < 1)) {
            return -1; /* ".5e300" is a number, but no fraction of a second */
        }
    }
    int off = 0;
    if (*p == '+' || *p == '-') {
        int oh = 0, om = 0;
        if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2) {
            return -1;
        }
        off = (*p == '+' ? 1 : -1) * (oh * 60 + om) * 60;
    } else if (*p != 'Z' && *p != 'z' && *p != '\0') {
        return -1;
    }
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                    .tm_min = mi, .tm_sec = sec};
    *ms = ((int64_t)timegm(&tm) - off) * 1000 + (int64_t)llround(frac * 1000);
    return 0;
}

/* 0 absent, 1 read, -1 malformed. */
int cw_get_time(json_t *obj, const char *key, int64_t *ms)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v)) {
        return 0;
    }
    if (json_is_number(v)) {
        return seconds_ms(json_number_value(v), ms) == 0 ? 1 : -1;
    }
    const char *s = json_string_value(v);
    return s != NULL && parse_time(s, ms) == 0 ? 1 : -1;
}

int cw_in_set(const char *s, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(s, set[i]) == 0) {
            return (int)i;
        }
    }
    return -1;
}

int cw_valid_unit(const char *u)
{
    return cw_in_set(u, units, sizeof(units) / sizeof(units[0])) >= 0;
}

int cw_percentile(const char *s, double *p)
{
    if (s == NULL || s[0] != 'p' || !isdigit((unsigned char)s[1])) {
        return 0;
    }
    char *end;
    *p = strtod(s + 1, &end);
    /* pNN or pNN.N..., at most two decimals as CloudWatch takes them */
    const char *dot = strchr(s, '.');
    return *end == '\0' && *p >= 0 && *p <= 100 && (dot == NULL || strlen(dot + 1) <= 2) &&
           (dot == NULL || dot[1] != '\0');
}

int cw_missing(struct api_call *call, const char *name)
{
    return err_set(&call->err, SL_E(MISSING_PARAMETER), "The parameter %s is required.", name);
}

int cw_bad_value(struct api_call *call, const char *name, const char *why)
{
    return err_set(&call->err, SL_E(INVALID_PARAMETER_VALUE), "The parameter %s %s", name, why);
}

/* Reads Dimensions ([{Name, Value}]) into dims; filter allows a missing Value. */
int cw_get_dims(struct api_call *call, json_t *list, const char *field, int filter,
                    struct metrics_dim dims[METRICS_DIMS_MAX], size_t *n_out)
{
    *n_out = 0;
    if (list == NULL || json_is_null(list)) {
        return 0;
    }
    size_t n = json_array_size(list);
    if (n > METRICS_DIMS_MAX) {
        return err_set(&call->err, SL_E(INVALID_PARAMETER_VALUE),
                       "The collection %s must not have a size greater than %d.", field,
                       METRICS_DIMS_MAX);
    }
    for (size_t i = 0; i < n; i++) {
        json_t *d = json_array_get(list, i);
        const char *name = cw_get_str(d, "Name");
        const char *value = cw_get_str(d, "Value");
        if (name == NULL || name[0] == '\0') {
            char f[96];
            snprintf(f, sizeof(f), "%s.member.%zu.Name", field, i + 1);
            return cw_missing(call, f);
        }
        if (!filter && value == NULL) {
            char f[96];
            snprintf(f, sizeof(f), "%s.member.%zu.Value", field, i + 1);
            return cw_missing(call, f);
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(dims[j].name, name) == 0) {
                return err_set(&call->err, SL_E(INVALID_PARAMETER_VALUE),
                               "No metric may have duplicate dimension names.");
            }
        }
        dims[i].name = name;
        dims[i].value = value;
    }
    *n_out = n;
    return 0;
}

json_t *cw_dims_json(const struct metrics_dim *dims, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(a, json_pack("{s:s,s:s}", "Name", dims[i].name, "Value",
                                           dims[i].value));
    }
    return a;
}

/* ---- PutMetricData ---- */

/* Reads one MetricDatum into its observations; the caller writes them. */
struct datum {
    struct metrics_key key;
    struct metrics_dim dims[METRICS_DIMS_MAX];
    const char *unit;
    int64_t ts_ms;
    int res;
    struct metrics_stat *stats;
    size_t n_stats;
};

static int read_values(struct api_call *call, json_t *d, const char *f, struct datum *out)
{
    json_t *values = json_object_get(d, "Values");
    json_t *counts = json_object_get(d, "Counts");
    size_t n = json_array_size(values);
    if (counts != NULL && json_array_size(counts) != n) {
        return err_set(&call->err, SL_E(INVALID_PARAMETER_VALUE),
                       "The parameters %s.Values and %s.Counts must be of the same size.", f,
                       f);
    }
    out->stats = xcalloc(n ? n : 1, sizeof(*out->stats));
    for (size_t i = 0; i < n; i++) {
        json_t *wrap = json_pack("{s:O,s:O?}", "v", json_array_get(values, i), "c",
                                 counts ? json_array_get(counts, i) : NULL);
        double v = 0, c = 1;
        int ok = cw_get_num(wrap, "v", &v) == 1 && cw_get_num(wrap, "c", &c) >= 0;
        json_decref(wrap);
        if (!ok || !isfinite(v) || !isfinite(c) || c < 0) {
            char name[96];
            snprintf(name, sizeof(name), "%s.Values", f);
            return cw_bad_value(call, name, "must contain only finite numbers and counts >= 0.");
        }
        if (c > 0) {
            out->stats[out->n_stats++] = (struct metrics_stat){c, v * c, v, v};
        }
    }
    return 0;
}

static int read_datum(struct api_call *call, const char *ns, json_t *d, size_t idx,
                      struct datum *out)
{
    char f[48];
    snprintf(f, sizeof(f), "MetricData.member.%zu", idx + 1);
    char name[96];
    out->key.region = call->req->region;
    out->key.ns = ns;
    out->key.name = cw_get_str(d, "MetricName");
    if (out->key.name == NULL || out->key.name[0] == '\0') {
        snprintf(name, sizeof(name), "%s.MetricName", f);
        return cw_missing(call, name);
    }
    snprintf(name, sizeof(name), "%s.Dimensions", f);
    int rc = cw_get_dims(call, json_object_get(d, "Dimensions"), name, 0, out->dims,
                      &out->key.n_dims);
    if (rc < 0) {
        return rc;
    }
    out->key.dims = out->dims;
    out->unit = cw_get_str(d, "Unit");
    if (out->unit == NULL) {
        out->unit = "None";
    } else if (!cw_valid_unit(out->unit)) {
        snprintf(name, sizeof(name), "%s.Unit", f);
        return cw_bad_value(call, name, "must be a valid StandardUnit.");
    }
    double res = 60;
    if (cw_get_num(d, "StorageResolution", &res) < 0 || (res != 1 && res != 60)) {
        snprintf(name, sizeof(name), "%s.StorageResolution", f);
        return cw_bad_value(call, name, "must be either 1 or 60.");
    }
    out->res = (int)res;
    int64_t now = call->req->now_ms;
    out->ts_ms = now;
    rc = cw_get_time(d, "Timestamp", &out->ts_ms);
    /* AWS takes datapoints up to two weeks old and two hours ahead. */
    if (rc < 0 || out->ts_ms < now - 14LL * 86400000 || out->ts_ms > now + 2LL * 3600000) {
        snprintf(name, sizeof(name), "%s.Timestamp", f);
        return cw_bad_value(call, name, "must specify a time no more than two weeks in the past"
                                     " or two hours in the future.");
    }
    json_t *sv = json_object_get(d, "StatisticValues");
    int has_value = json_object_get(d, "Value") != NULL;
    int has_values = json_object_get(d, "Values") != NULL;
    if (has_value + (sv != NULL) + has_values > 1) {
        return err_set(&call->err, SL_E(INVALID_PARAMETER_COMBINATION),
                       "The parameters %s.Value, %s.Values and %s.StatisticValues are mutually"
                       " exclusive and you have specified more than one.", f, f, f);
    }
    if (has_values) {
        return read_values(call, d, f, out);
    }
    out->stats = xcalloc(1, sizeof(*out->stats));
    out->n_stats = 1;
    struct metrics_stat *s = &out->stats[0];
    if (sv != NULL) {
        const char *fields[4] = {"SampleCount", "Sum", "Minimum", "Maximum"};
        double *dst[4] = {&s->count, &s->sum, &s->min, &s->max};
        for (int i = 0; i < 4; i++) {
            snprintf(name, sizeof(name), "%s.StatisticValues.%s", f, fields[i]);
            int got = cw_get_num(sv, fields[i], dst[i]);
            if (got == 0) {
                return cw_missing(call, name);
            }
            if (got < 0 || !isfinite(*dst[i])) {
                return cw_bad_value(call, name, "must be a finite number.");
            }
        }
        if (s->count <= 0 || s->min > s->max) {
            snprintf(name, sizeof(name), "%s.StatisticValues", f);
            return cw_bad_value(call, name, "must have SampleCount > 0 and Minimum <= Maximum.");
        }
        return 0;
    }
    double v = 0;
    int got = cw_get_num(d, "Value", &v);
    snprintf(name, sizeof(name), "%s.Value", f);
    if (got == 0) {
        return err_set(&call->err, SL_E(INVALID_PARAMETER_COMBINATION),
                       "At least one of the parameters %s.Value, %s.Values or"
                       " %s.StatisticValues must be specified.", f, f, f);
    }
    if (got < 0 || !isfinite(v)) {
        return cw_bad_value(call, name, "must be a finite number.");
    }
    *s = (struct metrics_stat){1, v, v, v};
    return 0;
}

static int put_metric_data(struct api_call *call, json_t *in, json_t **out)
{
    struct metrics *m = call->service_ctx;
    const char *ns = cw_get_str(in, "Namespace");
    if (ns == NULL || ns[0] == '\0') {
        return cw_missing(call, "Namespace");
    }
    if (strncmp(ns, "AWS/", 4) == 0) {
        return err_set(&call->err, SL_E(INVALID_PARAMETER_VALUE),
                       "The value %s for parameter Namespace is invalid.", ns);
    }
    json_t *data = json_object_get(in, "MetricData");
    size_t n = json_array_size(data);
    if (n == 0) {
        return cw_missing(call, "MetricData");
    }
    if (n > PUT_DATUMS_MAX) {
        return err_set(&call->err, SL_E(INVALID_PARAMETER_VALUE),
                       "The collection MetricData must not have a size greater than %d.",
                       PUT_DATUMS_MAX);
    }
    /* Everything is checked before anything is written: a bad datum rejects the call. */
    struct datum *ds = xcalloc(n, sizeof(*ds));
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = read_datum(call, ns, json_array_get(data, i), i, &ds[i]);
    }
    if (rc == 0) {
        size_t n_items = 0;
        for (size_t i = 0; i < n; i++) {
            n_items += ds[i].n_stats;
        }
        struct metrics_put_item *items = xcalloc(n_items ? n_items : 1, sizeof(*items));
        n_items = 0;
        for (size_t i = 0; i < n; i++) {
            for (size_t j = 0; j < ds[i].n_stats; j++) {
                items[n_items++] = (struct metrics_put_item){&ds[i].key, ds[i].unit, ds[i].ts_ms,
                                                             ds[i].res, ds[i].stats[j]};
            }
        }
        rc = metrics_put_batch(m, items, n_items);
        free(items);
    }
    for (size_t i = 0; i < n; i++) {
        free(ds[i].stats);
    }
    free(ds);
    if (rc == 0) {
        *out = json_object();
    }
    return rc;
}

/* ---- ListMetrics ---- */

struct list_ctx {
    json_t *metrics;
    size_t n;
    int64_t last_id;
    int more;
};

static int list_one(void *arg, int64_t id, const char *ns, const char *name,
                    const struct metrics_dim *dims, size_t n_dims)
{
    struct list_ctx *lc = arg;
    if (lc->n == LIST_PAGE) {
        lc->more = 1;
        return 1;
    }
    json_array_append_new(lc->metrics, json_pack("{s:s,s:s,s:o}", "Namespace", ns,
                                                 "MetricName", name, "Dimensions",
                                                 cw_dims_json(dims, n_dims)));
    lc->n++;
    lc->last_id = id;
    return 0;
}

static int list_metrics(struct api_call *call, json_t *in, json_t **out)
{
    struct metrics *m = call->service_ctx;
    struct metrics_list_filter f = {.region = call->req->region,
                                    .ns = cw_get_str(in, "Namespace"),
                                    .name = cw_get_str(in, "MetricName")};
    struct metrics_dim dims[METRICS_DIMS_MAX];
    int rc = cw_get_dims(call, json_object_get(in, "Dimensions"), "Dimensions", 1, dims, &f.n_dims);
    if (rc < 0) {
        return rc;
    }
    f.dims = dims;
    const char *token = cw_get_str(in, "NextToken");
    if (token != NULL) {
        char *end;
        long long after = strtoll(token, &end, 10);
        if (token[0] == '\0' || *end != '\0' || after < 0) {
            return err_set(&call->err, SL_E(INVALID_PARAMETER_VALUE),
                           "The service couldn't process your request because the NextToken"
                           " is invalid.");
        }
        f.after_id = after;
    }
    struct list_ctx lc = {.metrics = json_array()};
    rc = metrics_list(m, &f, list_one, &lc);
    if (rc < 0) {
        json_decref(lc.metrics);
        return err_set(&call->err, rc, "%s", "");
    }
    *out = json_pack("{s:o}", "Metrics", lc.metrics);
    if (lc.more) {
        char tok[32];
        snprintf(tok, sizeof(tok), "%lld", (long long)lc.last_id);
        json_object_set_new(*out, "NextToken", json_string(tok));
    }
    return 0;
}

/* ---- statistics ---- */

static double stat_value(const struct metrics_stat *s, int which)
{
    switch (which) {
    case 0: return s->count;
    case 1: return s->count > 0 ? s->sum / s->count : 0;
    case 2: return s->sum;
    case 3: return s->min;
    default: return s->max;
    }
}

/* Checks a period: 1, 5, 10, 20, 30 or a multiple of 60. */
int cw_check_period(struct api_call *call, const char *field, double p)
{
    if (p < 1 || p != floor(p) ||
        !(p == 1 || p == 5 || p == 10 || p == 20 || p == 30 || fmod(p, 60) == 0)) {
        return err_set(&call->err, SL_E(INVALID_PARAMETER_VALUE),
                       "The parameter %s must be a multiple of 60 or one of 1, 5, 10, 20, 30.",
                       field);
    }
    return 0;
}

static int read_range(struct api_call *call, json_t *in, int64_t *start, int64_t *end)
{
    int rs = cw_get_time(in, "StartTime", start);
    int re = cw_get_time(in, "EndTime", end);
    if (rs == 0) {
        return cw_missing(call, "StartTime");
    }
    if (re == 0) {
        return cw_missing(call, "EndTime");
    }
    if (rs < 0) {
        return cw_bad_value(call, "StartTime", "must be a valid timestamp.");
    }
    if (re < 0) {
        return cw_bad_value(call, "EndTime", "must be a valid timestamp.");
    }
    if (*start >= *end) {
        return err_set(&call->err, SL_E(INVALID_PARAMETER_VALUE),
                       "The parameter StartTime must be less than the parameter EndTime.");
    }
    return 0;
}

/* CloudWatch rounds StartTime down: to the second for periods under a minute, else to the
   minute (to 5 minutes past 15 days, to the hour past 63 days). */
static int64_t round_start(int64_t start, int64_t now, double period)
{
    int64_t age = now - start;
    int64_t unit = period < 60 ? 1000 : age > 63LL * 86400000 ? 3600000
                                      : age > 15LL * 86400000 ? 300000 : 60000;
    return start - ((start % unit) + unit) % unit;
}

static int get_metric_statistics(struct api_call *call, json_t *in, json_t **out)
{
    struct metrics *m = call->service_ctx;
    struct metrics_key k = {.region = call->req->region, .ns = cw_get_str(in, "Namespace"),
                            .name = cw_get_str(in, "MetricName")};
    if (k.ns == NULL) {
        return cw_missing(call, "Namespace");
    }
    if (k.name == NULL) {
        return cw_missing(call, "MetricName");
    }
    struct metrics_dim dims[METRICS_DIMS_MAX];
    int rc = cw_get_dims(call, json_object_get(in, "Dimensions"), "Dimensions", 0, dims, &k.n_dims);
    if (rc < 0) {
        return rc;
    }
    k.dims = dims;
    int64_t start, end;
    if ((rc = read_range(call, in, &start, &end)) < 0) {
        return rc;
    }
    double period = 0;
    int got = cw_get_num(in, "Period", &period);
    if (got == 0) {
        return cw_missing(call, "Period");
    }
    if (got < 0 || (rc = cw_check_period(call, "Period", period)) < 0) {
        return got < 0 ? cw_bad_value(call, "Period", "must be an integer.") : rc;
    }
    json_t *stats = json_object_get(in, "Statistics");
    json_t *ext = json_object_get(in, "ExtendedStatistics");
    size_t n_stats = json_array_size(stats), n_ext = json_array_size(ext);
    if ((n_stats == 0) == (n_ext == 0)) {
        return err_set(&call->err, SL_E(INVALID_PARAMETER_COMBINATION),
                       "Must specify either Statistics or ExtendedStatistics, but not both.");
    }
    double pct[EXT_STATS_MAX];
    if (n_ext > EXT_STATS_MAX) {
        return err_set(&call->err, SL_E(INVALID_PARAMETER_VALUE),
                       "The collection ExtendedStatistics must not have a size greater than"
                       " %d.", EXT_STATS_MAX);
    }
    for (size_t i = 0; i < n_ext; i++) {
        if (!cw_percentile(json_string_value(json_array_get(ext, i)), &pct[i])) {
            char f[48];
            snprintf(f, sizeof(f), "ExtendedStatistics.member.%zu", i + 1);
            return cw_bad_value(call, f, "must be a percentile between p0.0 and p100.");
        }
    }
    int want[N_STATS] = {0};
    for (size_t i = 0; i < n_stats; i++) {
        const char *s = json_string_value(json_array_get(stats, i));
        int idx = s ? cw_in_set(s, stat_names, N_STATS) : -1;
        if (idx < 0) {
            char f[48];
            snprintf(f, sizeof(f), "Statistics.member.%zu", i + 1);
            return cw_bad_value(call, f, "must be a value in the set [ Maximum, Sum, SampleCount,"
                                      " Average, Minimum ].");
        }
        want[idx] = 1;
    }
    const char *unit = cw_get_str(in, "Unit");
    if (unit != NULL && !cw_valid_unit(unit)) {
        return cw_bad_value(call, "Unit", "must be a valid StandardUnit.");
    }
    int64_t n_points = (end - start + (int64_t)period * 1000 - 1) / ((int64_t)period * 1000);
    if (n_points > DATAPOINTS_MAX) {
        return err_set(&call->err, SL_E(INVALID_PARAMETER_COMBINATION),
                       "You have requested up to %lld datapoints, which exceeds the limit of"
                       " 1,440. You may reduce the datapoints requested by increasing Period,"
                       " or decreasing the time range.", (long long)n_points);
    }
    struct metrics_point *pts;
    size_t n;
    start = round_start(start, call->req->now_ms, period);
    rc = metrics_stats(m, &k, unit, start, end, (int)period, &pts, &n);
    if (rc < 0) {
        return err_set(&call->err, rc, "%s", "");
    }
    json_t *dps = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *dp = json_pack("{s:f,s:s}", "Timestamp", (double)pts[i].ts_ms / 1000.0, "Unit",
                               pts[i].unit);
        for (int s = 0; s < N_STATS; s++) {
            if (want[s]) {
                json_object_set_new(dp, stat_names[s], json_real(stat_value(&pts[i].s, s)));
            }
        }
        json_t *ex = n_ext > 0 ? json_object() : NULL;
        for (size_t e = 0; e < n_ext && rc >= 0; e++) {
            double v;
            rc = metrics_percentiles(m, &k, pts[i].unit, pts[i].ts_ms,
                                     pts[i].ts_ms + (int64_t)period * 1000, &pct[e], 1, &v);
            if (rc == 1) {
                json_object_set_new(ex, json_string_value(json_array_get(ext, e)),
                                    json_real(v));
            }
        }
        if (ex != NULL) {
            json_object_set_new(dp, "ExtendedStatistics", ex);
        }
        json_array_append_new(dps, dp);
    }
    free(pts);
    if (rc < 0) {
        json_decref(dps);
        return err_set(&call->err, rc, "%s", "");
    }
    *out = json_pack("{s:s,s:o}", "Label", k.name, "Datapoints", dps);
    return 0;
}

/* ---- GetMetricData ---- */

/* A query's values in time order; a scalar (a number in an expression) has n == 0. */
struct series {
    size_t n;
    int64_t *ts;
    double *v;
    int is_scalar;
    double scalar;
    int64_t grid_start, period_ms; /* the periods a MetricStat's values fall on (FILL) */
    int done; /* computed (queries are evaluated on first reference) */
    int busy; /* being computed: a reference back to it is a cycle */
};

static void series_fini(struct series *s)
{
    free(s->ts);
    free(s->v);
    memset(s, 0, sizeof(*s));
}

static void series_push(struct series *s, int64_t ts, double v)
{
    s->ts = xrealloc(s->ts, (s->n + 1) * sizeof(*s->ts));
    s->v = xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
    s->ts[s->n] = ts;
    s->v[s->n] = v;
    s->n++;
}

static int metric_stat_series(struct api_call *call, struct metrics *m, json_t *ms, size_t idx,
                              int64_t start, int64_t end, struct series *out)
{
    char f[80];
    json_t *metric = json_object_get(ms, "Metric");
    struct metrics_key k = {.region = call->req->region, .ns = cw_get_str(metric, "Namespace"),
                            .name = cw_get_str(metric, "MetricName")};
    if (k.ns == NULL || k.name == NULL) {
        snprintf(f, sizeof(f), "MetricDataQueries.member.%zu.MetricStat.Metric.%s", idx + 1,
                 k.ns == NULL ? "Namespace" : "MetricName");
        return cw_missing(call, f);
    }
    struct metrics_dim dims[METRICS_DIMS_MAX];
    snprintf(f, sizeof(f), "MetricDataQueries.member.%zu.MetricStat.Metric.Dimensions", idx + 1);
    int rc = cw_get_dims(call, json_object_get(metric, "Dimensions"), f, 0, dims, &k.n_dims);
    if (rc < 0) {
        return rc;
    }
    k.dims = dims;
    double period = 0;
    snprintf(f, sizeof(f), "MetricDataQueries.member.%zu.MetricStat.Period", idx + 1);
    int got = cw_get_num(ms, "Period", &period);
    if (got == 0) {
        return cw_missing(call, f);
    }
    if (got < 0 || (rc = cw_check_period(call, f, period)) < 0) {
        return got < 0 ? cw_bad_value(call, f, "must be an integer.") : rc;
    }
    const char *stat = cw_get_str(ms, "Stat");
    int which = stat ? cw_in_set(stat, stat_names, N_STATS) : -1;
    double pct = 0;
    if (which < 0 && !cw_percentile(stat, &pct)) {
        snprintf(f, sizeof(f), "MetricDataQueries.member.%zu.MetricStat.Stat", idx + 1);
        return stat == NULL ? cw_missing(call, f)
                            : cw_bad_value(call, f, "must be one of SampleCount, Average, Sum,"
                                                 " Minimum, Maximum or a percentile pNN.NN"
                                                 " (other statistics are not supported by"
                                                 " this server).");
    }
    const char *unit = cw_get_str(ms, "Unit");
    struct metrics_point *pts;
    size_t n;
    start = round_start(start, call->req->now_ms, period);
    out->grid_start = start;
    out->period_ms = (int64_t)period * 1000;
    rc = metrics_stats(m, &k, unit, start, end, (int)period, &pts, &n);
    if (rc < 0) {
        return err_set(&call->err, rc, "%s", "");
    }
    /* One value per period: the units of a period merge (GetMetricData has no Unit out). */
    for (size_t i = 0; i < n; i++) {
        struct metrics_stat s = pts[i].s;
        size_t j = i;
        while (j + 1 < n && pts[j + 1].ts_ms == pts[i].ts_ms) {
            j++;
            s.count += pts[j].s.count;
            s.sum += pts[j].s.sum;
            s.min = fmin(s.min, pts[j].s.min);
            s.max = fmax(s.max, pts[j].s.max);
        }
        if (which >= 0) {
            series_push(out, pts[i].ts_ms, stat_value(&s, which));
        } else {
            double v;
            rc = metrics_percentiles(m, &k, unit, pts[i].ts_ms,
                                     pts[i].ts_ms + (int64_t)period * 1000, &pct, 1, &v);
            if (rc == 1) {
                series_push(out, pts[i].ts_ms, v);
            }
        }
        i = j;
    }
    free(pts);
    return rc < 0 ? err_set(&call->err, rc, "%s", "") : 0;
}

/*
 * Metric math, the common part: numbers, ids of other queries, + - * / and parentheses,
 * comparisons (< > <= >= == !=, 1 or 0), SUM, AVG, MIN, MAX of a list of ids
 * ("SUM([a, b])") or of one series, RATE and DIFF of a series, FILL(x, value | REPEAT)
 * and IF(condition, a[, b]).
 * Arithmetic between two series keeps the timestamps both have; the list functions
 * take, per timestamp, the series that have a value there.
 */
struct gmd {
    struct api_call *call;
    struct metrics *m;
    json_t *queries;
    struct series *s;
    size_t n;
    int64_t start, end;
    int depth; /* parentheses, functions and references open: bounded, for the stack */
};

/* Deeper than any real expression; each level is a few stack frames. */
#define EXPR_DEPTH_MAX 100

struct expr {
    struct gmd *g;
    const char *id; /* the expression's query, for messages */
    const char *p;
};

static int eval_query(struct gmd *g, size_t i);
static int expr_sum(struct expr *e, struct series *out);
static int expr_compare(struct expr *e, struct series *out);
static void combine(struct series *a, const struct series *b, char op);

static int expr_error(struct expr *e, const char *what)
{
    return err_set(&e->g->call->err, SL_E(INVALID_PARAMETER_VALUE),
                   "Error in expression '%s': %s", e->id, what);
}

static void skip_ws(struct expr *e)
{
    while (isspace((unsigned char)*e->p)) {
        e->p++;
    }
}

/* 1 when c is next: consumed (never the terminating NUL). */
static int take(struct expr *e, char c)
{
    if (*e->p != c) {
        return 0;
    }
    e->p++;
    return 1;
}

/* Enters one more level; an error past EXPR_DEPTH_MAX. */
static int deeper(struct expr *e)
{
    if (e->g->depth >= EXPR_DEPTH_MAX) {
        return expr_error(e, "The expression is nested too deeply.");
    }
    e->g->depth++;
    return 0;
}

/* A copy of the query i's series, computing it first. */
static int ref_series(struct expr *e, const char *name, size_t len, struct series *out)
{
    for (size_t i = 0; i < e->g->n; i++) {
        const char *id = cw_get_str(json_array_get(e->g->queries, i), "Id");
        if (id != NULL && strlen(id) == len && strncmp(id, name, len) == 0) {
            int rc = deeper(e);
            if (rc == 0) {
                rc = eval_query(e->g, i);
                e->g->depth--;
            }
            if (rc < 0) {
                return rc;
            }
            const struct series *s = &e->g->s[i];
            for (size_t k = 0; k < s->n; k++) {
                series_push(out, s->ts[k], s->v[k]);
            }
            out->is_scalar = s->is_scalar;
            out->scalar = s->scalar;
            out->grid_start = s->grid_start;
            out->period_ms = s->period_ms;
            return 0;
        }
    }
    char what[160];
    snprintf(what, sizeof(what), "Unrecognized metric or expression id '%.*s'.", (int)len, name);
    return expr_error(e, what);
}

/* fn over the series of a list, per timestamp: 0 SUM, 1 AVG, 2 MIN, 3 MAX. */
static void list_fold(struct series *items, size_t n, int fn, struct series *out)
{
    /* Every timestamp of any item, in order, once. */
    struct series all = {0};
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < items[i].n; k++) {
            series_push(&all, items[i].ts[k], 0);
        }
    }
    for (size_t a = 0; a < all.n; a++) {
        int64_t t = all.ts[a];
        int seen_before = 0;
        for (size_t b = 0; b < a && !seen_before; b++) {
            seen_before = all.ts[b] == t;
        }
        if (seen_before) {
            continue;
        }
        double acc = 0;
        size_t cnt = 0;
        for (size_t i = 0; i < n; i++) {
            for (size_t k = 0; k < items[i].n; k++) {
                if (items[i].ts[k] != t) {
                    continue;
                }
                double v = items[i].v[k];
                acc = cnt == 0 ? v : fn == 2 ? fmin(acc, v) : fn == 3 ? fmax(acc, v) : acc + v;
                cnt++;
            }
        }
        series_push(out, t, fn == 1 ? acc / (double)cnt : acc);
    }
    series_fini(&all);
    /* In time order. */
    for (size_t i = 1; i < out->n; i++) {
        for (size_t j = i; j > 0 && out->ts[j - 1] > out->ts[j]; j--) {
            int64_t tt = out->ts[j];
            double tv = out->v[j];
            out->ts[j] = out->ts[j - 1];
            out->v[j] = out->v[j - 1];
            out->ts[j - 1] = tt;
            out->v[j - 1] = tv;
        }
    }
}

static int expr_function(struct expr *e, int fn, struct series *out)
{
    struct series *items = xcalloc(64, sizeof(*items)); /* off the stack: functions nest */
    size_t n = 0;
    skip_ws(e);
    int list = *e->p == '[';
    if (list) {
        e->p++;
    }
    int rc = 0;
    do {
        skip_ws(e);
        if (n == 64) {
            rc = expr_error(e, "Too many series in a list.");
            break;
        }
        rc = expr_compare(e, &items[n++]);
        skip_ws(e);
    } while (rc == 0 && list && *e->p == ',' && e->p++);
    if (rc == 0 && list && !take(e, ']')) {
        rc = expr_error(e, "Expected ']'.");
    }
    skip_ws(e);
    if (rc == 0 && !take(e, ')')) {
        rc = expr_error(e, "Expected ')'.");
    }
    if (rc == 0) {
        list_fold(items, n, fn, out);
        out->grid_start = items[0].grid_start;
        out->period_ms = items[0].period_ms;
    }
    for (size_t i = 0; i < n; i++) {
        series_fini(&items[i]);
    }
    free(items);
    return rc;
}

/* The value of s at t (a scalar's everywhere); 0 when s has none there. */
static int value_at(const struct series *s, int64_t t, double *v)
{
    if (s->is_scalar) {
        *v = s->scalar;
        return 1;
    }
    for (size_t k = 0; k < s->n; k++) {
        if (s->ts[k] == t) {
            *v = s->v[k];
            return 1;
        }
    }
    return 0;
}

/* FILL(x, value | REPEAT): x on every period of its MetricStat in the query's range, the
   missing ones given value, or (REPEAT) the last value before them. */
static int fill(struct expr *e, const struct series *x, const struct series *with, int repeat,
                struct series *out)
{
    if (x->is_scalar || x->period_ms <= 0) {
        return expr_error(e, "FILL needs a time series as its first argument.");
    }
    if ((e->g->end - x->grid_start) / x->period_ms > 100800) {
        return expr_error(e, "FILL would give more than 100,800 datapoints.");
    }
    int have_last = 0;
    double last = 0;
    for (int64_t t = x->grid_start; t < e->g->end; t += x->period_ms) {
        double v;
        if (value_at(x, t, &v)) {
            have_last = 1;
            last = v;
            series_push(out, t, v);
        } else if (repeat ? have_last : value_at(with, t, &v)) {
            series_push(out, t, repeat ? last : v);
        }
    }
    out->grid_start = x->grid_start;
    out->period_ms = x->period_ms;
    return 0;
}

/* IF(c, a[, b]): where c has a value, a's there when it is not 0, else b's (b absent:
   left out). */
static void choose(const struct series *c, const struct series *a, const struct series *b,
                   struct series *out)
{
    const struct series *grid = !c->is_scalar ? c : !a->is_scalar ? a : b;
    if (grid == NULL || grid->is_scalar) {
        double v;
        const struct series *pick = c->scalar != 0 ? a : b;
        if (pick != NULL && value_at(pick, 0, &v)) {
            out->is_scalar = 1;
            out->scalar = v;
        }
        return;
    }
    for (size_t k = 0; k < grid->n; k++) {
        double cv, v;
        const struct series *pick;
        if (value_at(c, grid->ts[k], &cv) && (pick = cv != 0 ? a : b) != NULL &&
            value_at(pick, grid->ts[k], &v)) {
            series_push(out, grid->ts[k], v);
        }
    }
    out->grid_start = grid->grid_start;
    out->period_ms = grid->period_ms;
}

/* fn 0 RATE (change per second between points), 1 DIFF, 2 FILL, 3 IF; after the '('. */
static int expr_series_function(struct expr *e, int fn, struct series *out)
{
    struct series args[3];
    memset(args, 0, sizeof(args));
    size_t n = 0;
    int repeat = 0, rc = 0;
    do {
        skip_ws(e);
        if (fn == 2 && n == 1 && strncmp(e->p, "REPEAT", 6) == 0 &&
            !isalnum((unsigned char)e->p[6])) {
            e->p += 6;
            repeat = 1;
            n++;
        } else {
            rc = expr_compare(e, &args[n++]);
        }
        skip_ws(e);
    } while (rc == 0 && n < 3 && *e->p == ',' && e->p++);
    static const size_t min_args[] = {1, 1, 2, 2}, max_args[] = {1, 1, 2, 3};
    if (rc == 0 && (n < min_args[fn] || n > max_args[fn])) {
        rc = expr_error(e, "Wrong number of arguments.");
    }
    if (rc == 0 && !take(e, ')')) {
        rc = expr_error(e, "Expected ')'.");
    }
    if (rc == 0 && fn <= 1) {
        for (size_t k = 1; k < args[0].n; k++) {
            double d = args[0].v[k] - args[0].v[k - 1];
            double dt = (double)(args[0].ts[k] - args[0].ts[k - 1]) / 1000.0;
            series_push(out, args[0].ts[k], fn == 0 ? d / dt : d);
        }
        out->grid_start = args[0].grid_start;
        out->period_ms = args[0].period_ms;
    } else if (rc == 0 && fn == 2) {
        rc = fill(e, &args[0], &args[1], repeat, out);
    } else if (rc == 0) {
        choose(&args[0], &args[1], n == 3 ? &args[2] : NULL, out);
    }
    for (size_t i = 0; i < 3; i++) {
        series_fini(&args[i]);
    }
    return rc;
}

static int expr_atom(struct expr *e, struct series *out)
{
    skip_ws(e);
    const char *p = e->p;
    if (*p == '(') {
        e->p++;
        int rc = deeper(e);
        if (rc < 0) {
            return rc;
        }
        rc = expr_compare(e, out);
        e->g->depth--;
        skip_ws(e);
        if (rc == 0 && !take(e, ')')) {
            rc = expr_error(e, "Expected ')'.");
        }
        return rc;
    }
    if (isdigit((unsigned char)*p) || *p == '.') {
        char *end;
        out->scalar = strtod(p, &end);
        out->is_scalar = 1;
        e->p = end;
        return 0;
    }
    if (!isalpha((unsigned char)*p)) {
        return expr_error(e, "Syntax error.");
    }
    size_t len = 0;
    while (isalnum((unsigned char)p[len]) || p[len] == '_') {
        len++;
    }
    e->p = p + len;
    skip_ws(e);
    if (*e->p == '(') {
        static const char *const fns[] = {"SUM", "AVG", "MIN", "MAX"};
        for (int i = 0; i < 4; i++) {
            if (len == 3 && strncmp(p, fns[i], 3) == 0) {
                e->p++;
                int rc = deeper(e);
                if (rc == 0) {
                    rc = expr_function(e, i, out);
                    e->g->depth--;
                }
                return rc;
            }
        }
        static const char *const more[] = {"RATE", "DIFF", "FILL", "IF"};
        for (int i = 0; i < 4; i++) {
            if (len == strlen(more[i]) && strncmp(p, more[i], len) == 0) {
                e->p++;
                int rc = deeper(e);
                if (rc == 0) {
                    rc = expr_series_function(e, i, out);
                    e->g->depth--;
                }
                return rc;
            }
        }
        char what[200];
        snprintf(what, sizeof(what), "The function %.*s is not supported by this server"
                 " (SUM, AVG, MIN, MAX, RATE, DIFF, FILL, IF and arithmetic are).", (int)len, p);
        return expr_error(e, what);
    }
    return ref_series(e, p, len, out);
}

/* a op b, per timestamp both have (or against a scalar). */
static void combine(struct series *a, const struct series *b, char op)
{
    struct series r = {0};
    if (a->is_scalar && b->is_scalar) {
        r.is_scalar = 1;
    }
    double x = a->scalar, y = b->scalar;
    size_t n = a->is_scalar ? b->n : a->n;
    for (size_t i = 0; i < n || (r.is_scalar && i == 0); i++) {
        int64_t t = 0;
        if (!a->is_scalar) {
            t = a->ts[i];
            x = a->v[i];
        } else if (!b->is_scalar) {
            t = b->ts[i];
        }
        if (!b->is_scalar) {
            size_t k = 0;
            int64_t want = a->is_scalar ? b->ts[i] : t;
            while (k < b->n && b->ts[k] != want) {
                k++;
            }
            if (k == b->n) {
                continue;
            }
            y = b->v[k];
        }
        double v = op == '+'   ? x + y
                   : op == '-' ? x - y
                   : op == '*' ? x * y
                   : op == '/' ? x / y
                   : op == '<' ? x < y
                   : op == '>' ? x > y
                   : op == 'l' ? x <= y
                   : op == 'g' ? x >= y
                   : op == 'e' ? x == y
                               : x != y;
        if (r.is_scalar) {
            r.scalar = v;
        } else if (isfinite(v)) {
            series_push(&r, t, v); /* a division by zero leaves the timestamp out */
        }
    }
    r.grid_start = a->period_ms ? a->grid_start : b->grid_start;
    r.period_ms = a->period_ms ? a->period_ms : b->period_ms;
    series_fini(a);
    *a = r;
}

static int expr_product(struct expr *e, struct series *out)
{
    int rc = expr_atom(e, out);
    skip_ws(e);
    while (rc == 0 && (*e->p == '*' || *e->p == '/')) {
        char op = *e->p++;
        struct series rhs = {0};
        rc = expr_atom(e, &rhs);
        if (rc == 0) {
            combine(out, &rhs, op);
        }
        series_fini(&rhs);
        skip_ws(e);
    }
    return rc;
}

static int expr_sum(struct expr *e, struct series *out)
{
    int rc = expr_product(e, out);
    skip_ws(e);
    while (rc == 0 && (*e->p == '+' || *e->p == '-')) {
        char op = *e->p++;
        struct series rhs = {0};
        rc = expr_product(e, &rhs);
        if (rc == 0) {
            combine(out, &rhs, op);
        }
        series_fini(&rhs);
        skip_ws(e);
    }
    return rc;
}

/* sum [cmp sum]: a comparison gives 1 where it holds, else 0 (IF's condition). */
static int expr_compare(struct expr *e, struct series *out)
{
    int rc = expr_sum(e, out);
    skip_ws(e);
    static const struct {
        const char *text;
        char op;
    } ops[] = {{"<=", 'l'}, {">=", 'g'}, {"==", 'e'}, {"!=", 'n'}, {"<", '<'}, {">", '>'}};
    for (size_t i = 0; rc == 0 && i < sizeof(ops) / sizeof(ops[0]); i++) {
        size_t len = strlen(ops[i].text);
        if (strncmp(e->p, ops[i].text, len) == 0) {
            e->p += len;
            struct series rhs = {0};
            rc = expr_sum(e, &rhs);
            if (rc == 0) {
                combine(out, &rhs, ops[i].op);
            }
            series_fini(&rhs);
            break;
        }
    }
    return rc;
}

/* Computes query i's series once. */
static int eval_query(struct gmd *g, size_t i)
{
    struct series *s = &g->s[i];
    json_t *q = json_array_get(g->queries, i);
    if (s->done) {
        return 0;
    }
    if (s->busy) {
        return err_set(&g->call->err, SL_E(INVALID_PARAMETER_VALUE),
                       "Circular dependency between MetricDataQueries (at %s).",
                       cw_get_str(q, "Id"));
    }
    s->busy = 1;
    int rc;
    const char *expression = cw_get_str(q, "Expression");
    json_t *ms = json_object_get(q, "MetricStat");
    if ((expression != NULL) == (ms != NULL)) {
        rc = err_set(&g->call->err, SL_E(INVALID_PARAMETER_COMBINATION),
                     "Exactly one of MetricStat and Expression must be specified in"
                     " MetricDataQueries.member.%zu.", i + 1);
    } else if (ms != NULL) {
        rc = metric_stat_series(g->call, g->m, ms, i, g->start, g->end, s);
    } else {
        struct expr e = {g, cw_get_str(q, "Id"), expression};
        rc = expr_compare(&e, s);
        skip_ws(&e);
        if (rc == 0 && *e.p != '\0') {
            rc = expr_error(&e, "Syntax error.");
        }
    }
    s->busy = 0;
    s->done = rc == 0;
    return rc;
}

static json_t *series_result(const struct series *s, json_t *q, int descending)
{
    json_t *ts = json_array(), *vals = json_array();
    for (size_t k = 0; k < s->n; k++) {
        size_t i = descending ? s->n - 1 - k : k;
        json_array_append_new(ts, json_real((double)s->ts[i] / 1000.0));
        json_array_append_new(vals, json_real(s->v[i]));
    }
    const char *label = cw_get_str(q, "Label");
    if (label == NULL) {
        json_t *ms = json_object_get(q, "MetricStat");
        label = ms ? cw_get_str(json_object_get(ms, "Metric"), "MetricName") : cw_get_str(q, "Id");
    }
    return json_pack("{s:s,s:s,s:o,s:o,s:s,s:[]}", "Id", cw_get_str(q, "Id"), "Label",
                     label ? label : "", "Timestamps", ts, "Values", vals, "StatusCode",
                     "Complete", "Messages");
}

static int returns_data(json_t *q)
{
    return cw_get_bool(q, "ReturnData", 1);
}

/* Every Id present, unique and starting with a lowercase letter. */
static int check_ids(struct api_call *call, json_t *queries, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *id = cw_get_str(json_array_get(queries, i), "Id");
        char f[64];
        snprintf(f, sizeof(f), "MetricDataQueries.member.%zu.Id", i + 1);
        if (id == NULL) {
            return cw_missing(call, f);
        }
        if (!islower((unsigned char)id[0])) {
            return cw_bad_value(call, f, "must start with a lowercase letter.");
        }
        const char *expression = cw_get_str(json_array_get(queries, i), "Expression");
        if (expression != NULL && (expression[0] == '\0' || strlen(expression) > 2048)) {
            /* the model's bounds (1 to 2048), checked before anything is parsed */
            return err_set(&call->err, SL_E(CW_VALIDATION),
                           "1 validation error detected: Value at "
                           "'metricDataQueries.%zu.member.expression' failed to satisfy "
                           "constraint: Member must have length %s",
                           i + 1,
                           expression[0] == '\0' ? "greater than or equal to 1"
                                                  : "less than or equal to 2048");
        }
        for (size_t j = 0; j < i; j++) {
            const char *other = cw_get_str(json_array_get(queries, j), "Id");
            if (other != NULL && strcmp(other, id) == 0) {
                return err_set(&call->err, SL_E(INVALID_PARAMETER_VALUE),
                               "The value %s for field Id in MetricDataQueries is not unique.",
                               id);
            }
        }
    }
    return 0;
}

static int get_metric_data(struct api_call *call, json_t *in, json_t **out)
{
    json_t *queries = json_object_get(in, "MetricDataQueries");
    size_t n = json_array_size(queries);
    if (n == 0) {
        return cw_missing(call, "MetricDataQueries");
    }
    if (n > QUERIES_MAX) {
        return err_set(&call->err, SL_E(INVALID_PARAMETER_VALUE),
                       "The collection MetricDataQueries must not have a size greater than %d.",
                       QUERIES_MAX);
    }
    struct gmd g = {call, call->service_ctx, queries, NULL, n, 0, 0};
    int rc = read_range(call, in, &g.start, &g.end);
    if (rc < 0 || (rc = check_ids(call, queries, n)) < 0) {
        return rc;
    }
    const char *scan = cw_get_str(in, "ScanBy");
    if (scan != NULL && strcmp(scan, "TimestampDescending") != 0 &&
        strcmp(scan, "TimestampAscending") != 0) {
        return cw_bad_value(call, "ScanBy", "must be TimestampDescending or TimestampAscending.");
    }
    int descending = scan == NULL || strcmp(scan, "TimestampDescending") == 0;
    g.s = xcalloc(n, sizeof(*g.s));
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = eval_query(&g, i);
    }
    json_t *results = json_array();
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *q = json_array_get(queries, i);
        if (returns_data(q)) {
            json_array_append_new(results, series_result(&g.s[i], q, descending));
        }
    }
    for (size_t i = 0; i < n; i++) {
        series_fini(&g.s[i]);
    }
    free(g.s);
    if (rc < 0) {
        json_decref(results);
        return rc;
    }
    *out = json_pack("{s:o,s:[]}", "MetricDataResults", results, "Messages");
    return 0;
}

/* ---- metric math for alarms ---- */

int cw_math_series(struct metrics *m, const char *region, json_t *queries, int64_t start_ms,
                   int64_t end_ms, int64_t now_ms, struct metrics_series *out,
                   struct err_info *err)
{
    struct api_request req = {.region = region, .now_ms = now_ms, .account_id = ""};
    struct api_call call = {.req = &req, .service_ctx = m};
    err_clear(&call.err);
    size_t n = json_array_size(queries);
    struct gmd g = {&call, m, queries, NULL, n, start_ms, end_ms};
    memset(out, 0, sizeof(*out));
    int rc = n == 0 || n > QUERIES_MAX ? err_set(&call.err, SL_E(INVALID_PARAMETER_VALUE),
                                                 "Metrics must have 1 to %d members.",
                                                 QUERIES_MAX)
                                       : check_ids(&call, queries, n);
    g.s = rc < 0 ? NULL : xcalloc(n, sizeof(*g.s));
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = eval_query(&g, i);
    }
    size_t returned = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (returns_data(json_array_get(queries, i))) {
            returned++;
            metrics_series_fini(out); /* more than one: refused below */
            out->n = g.s[i].n;
            out->ts = xcalloc(g.s[i].n + 1, sizeof(*out->ts));
            out->v = xcalloc(g.s[i].n + 1, sizeof(*out->v));
            if (g.s[i].n > 0) {
                memcpy(out->ts, g.s[i].ts, g.s[i].n * sizeof(*out->ts));
                memcpy(out->v, g.s[i].v, g.s[i].n * sizeof(*out->v));
            }
        }
    }
    if (rc == 0 && returned != 1) {
        metrics_series_fini(out);
        rc = err_set(&call.err, SL_E(INVALID_PARAMETER_VALUE),
                     "Exactly one element of the metrics list should return data.");
    }
    for (size_t i = 0; g.s != NULL && i < n; i++) {
        series_fini(&g.s[i]);
    }
    free(g.s);
    if (rc < 0 && err != NULL) {
        *err = call.err;
    }
    return rc;
}

/* ---- awsJson1_0 ---- */

/* CloudWatch is awsQueryCompatible: the JSON error names the query error code too. */
static int query_compatible(struct api_call *call, int rc)
{
    if (rc < 0 && err_is_sluice(rc)) {
        char v[96];
        snprintf(v, sizeof(v), "%s;%s", err_aws_name(rc),
                 err_http_status(rc) >= 500 ? "Receiver" : "Sender");
        api_response_header(call->resp, "x-amzn-query-error", v);
    }
    return rc;
}

#define JSON_OP(fn)                                                                         \
    static int json_##fn(struct api_call *call, json_t *in, json_t **out)                  \
    {                                                                                       \
        return query_compatible(call, fn(call, in, out));                                   \
    }
JSON_OP(put_metric_data)
JSON_OP(list_metrics)
JSON_OP(get_metric_statistics)
JSON_OP(get_metric_data)
JSON_OP(cw_put_metric_alarm)
JSON_OP(cw_put_composite_alarm)
JSON_OP(cw_describe_alarms)
JSON_OP(cw_describe_alarms_for_metric)
JSON_OP(cw_delete_alarms)
JSON_OP(cw_set_alarm_state)
JSON_OP(cw_describe_alarm_history)
JSON_OP(cw_enable_alarm_actions)
JSON_OP(cw_disable_alarm_actions)

static const struct api_json_op json_ops[] = {
    {"PutMetricData", json_put_metric_data, NULL},
    {"ListMetrics", json_list_metrics, NULL},
    {"GetMetricStatistics", json_get_metric_statistics, NULL},
    {"GetMetricData", json_get_metric_data, NULL},
    {"PutMetricAlarm", json_cw_put_metric_alarm, NULL},
    {"PutCompositeAlarm", json_cw_put_composite_alarm, NULL},
    {"DescribeAlarms", json_cw_describe_alarms, NULL},
    {"DescribeAlarmsForMetric", json_cw_describe_alarms_for_metric, NULL},
    {"DeleteAlarms", json_cw_delete_alarms, NULL},
    {"SetAlarmState", json_cw_set_alarm_state, NULL},
    {"DescribeAlarmHistory", json_cw_describe_alarm_history, NULL},
    {"EnableAlarmActions", json_cw_enable_alarm_actions, NULL},
    {"DisableAlarmActions", json_cw_disable_alarm_actions, NULL},
};

/* The model's timestamps, written as tag 1 epochs in RPC v2 CBOR. */
static const char *const epoch_members[] = {
    "Timestamp", "Timestamps", "StateUpdatedTimestamp", "StateTransitionedTimestamp",
    "AlarmConfigurationUpdatedTimestamp", NULL,
};

struct api_json_service *cloudwatch_json_api_create(struct metrics *m)
{
    metrics__set_math(m, cw_math_series);
    struct api_json_service *svc = xcalloc(1, sizeof(*svc));
    svc->signing_name = "monitoring";
    svc->target_prefix = "GraniteServiceVersion20100801";
    svc->json_version = "1.0";
    svc->ops = json_ops;
    svc->n_ops = sizeof(json_ops) / sizeof(json_ops[0]);
    svc->ctx = m;
    svc->cbor_epoch_members = epoch_members;
    svc->rpcv2_cbor = 1;
    return svc;
}

/* ---- awsQuery ---- */

/* Sets "A.member.2.B" = value in root as root.A[1].B. Returns -1 on a malformed name
   (one that is not UTF-8 among them: a JSON key cannot hold it). */
static int form_set(json_t *root, const char *name, const char *value)
{
    char *copy = xstrdup(name);
    json_t *node = root;
    char *save = NULL;
    char *seg = strtok_r(copy, ".", &save);
    int rc = 0;
    while (seg != NULL && rc == 0) {
        char *next = strtok_r(NULL, ".", &save);
        if (next != NULL && strcmp(next, "member") == 0) {
            char *num = strtok_r(NULL, ".", &save);
            char *end = NULL;
            long i = num ? strtol(num, &end, 10) : 0;
            if (i < 1 || i > 100000 || *end != '\0') {
                rc = -1;
                break;
            }
            json_t *arr = json_object_get(node, seg);
            if (!json_is_array(arr)) {
                arr = json_array();
                if (json_object_set_new(node, seg, arr) != 0) {
                    rc = -1; /* arr is gone with it */
                    break;
                }
            }
            while (json_array_size(arr) < (size_t)i) {
                json_array_append_new(arr, json_null());
            }
            next = strtok_r(NULL, ".", &save);
            if (next == NULL) {
                json_array_set_new(arr, (size_t)i - 1, json_string(value));
            } else {
                json_t *el = json_array_get(arr, (size_t)i - 1);
                if (!json_is_object(el)) {
                    el = json_object();
                    json_array_set_new(arr, (size_t)i - 1, el);
                }
                node = el;
            }
        } else if (next == NULL) {
            json_object_set_new(node, seg, json_string(value));
        } else {
            json_t *child = json_object_get(node, seg);
            if (!json_is_object(child)) {
                child = json_object();
                if (json_object_set_new(node, seg, child) != 0) {
                    rc = -1; /* child is gone with it */
                    break;
                }
            }
            node = child;
        }
        seg = next;
    }
    free(copy);
    return rc;
}

static void xml_number(struct buf *b, double v)
{
    char s[40];
    snprintf(s, sizeof(s), "%.15g", v);
    if (strtod(s, NULL) != v) {
        snprintf(s, sizeof(s), "%.17g", v);
    }
    buf_puts(b, s);
}

static void xml_value(struct buf *b, json_t *v, int is_time);

static void xml_members(struct buf *b, json_t *obj)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        if (strcmp(key, "ExtendedStatistics") == 0 && json_is_object(v)) {
            /* a map in the query protocol: <entry><key/><value/></entry> */
            const char *pk;
            json_t *pv;
            buf_puts(b, "<ExtendedStatistics>");
            json_object_foreach(v, pk, pv) {
                buf_puts(b, "<entry><key>");
                buf_xml_escape(b, pk, strlen(pk));
                buf_puts(b, "</key><value>");
                xml_number(b, json_number_value(pv));
                buf_puts(b, "</value></entry>");
            }
            buf_puts(b, "</ExtendedStatistics>");
            continue;
        }
        buf_printf(b, "<%s>", key);
        size_t len = strlen(key);
        xml_value(b, v, strcmp(key, "Timestamps") == 0 ||
                            (len >= 9 && strcmp(key + len - 9, "Timestamp") == 0));
        buf_printf(b, "</%s>", key);
    }
}

static void xml_value(struct buf *b, json_t *v, int is_time)
{
    if (json_is_object(v)) {
        xml_members(b, v);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *el;
        json_array_foreach(v, i, el) {
            buf_puts(b, "<member>");
            xml_value(b, el, is_time);
            buf_puts(b, "</member>");
        }
    } else if (json_is_number(v) && is_time) {
        char iso[32];
        clock_format_iso8601((int64_t)llround(json_number_value(v) * 1000), iso);
        buf_puts(b, iso);
    } else if (json_is_number(v)) {
        xml_number(b, json_number_value(v));
    } else if (json_is_string(v)) {
        buf_xml_escape(b, json_string_value(v), json_string_length(v));
    } else if (json_is_boolean(v)) {
        buf_puts(b, json_is_true(v) ? "true" : "false");
    }
}

static int run_query(struct api_call *call, const struct api_params *params, struct buf *result,
                     api_json_fn fn)
{
    json_t *in = json_object();
    for (size_t i = 0; i < api_params_count(params); i++) {
        const char *name = api_params_name(params, i);
        if (strcmp(name, "Action") == 0 || strcmp(name, "Version") == 0) {
            continue;
        }
        if (form_set(in, name, api_params_value(params, i)) < 0) {
            json_decref(in);
            return err_set(&call->err, SL_E(INVALID_PARAMETER_VALUE),
                           "The parameter %s is malformed.", name);
        }
    }
    json_t *out = NULL;
    int rc = fn(call, in, &out);
    json_decref(in);
    if (rc == 0) {
        xml_members(result, out);
        json_decref(out);
        rc = buf_status(result);
    }
    return rc;
}

#define QUERY_OP(fn)                                                                        \
    static int query_##fn(struct api_call *call, const struct api_params *p, struct buf *r) \
    {                                                                                       \
        return run_query(call, p, r, fn);                                                   \
    }
QUERY_OP(put_metric_data)
QUERY_OP(list_metrics)
QUERY_OP(get_metric_statistics)
QUERY_OP(get_metric_data)
QUERY_OP(cw_put_metric_alarm)
QUERY_OP(cw_put_composite_alarm)
QUERY_OP(cw_describe_alarms)
QUERY_OP(cw_describe_alarms_for_metric)
QUERY_OP(cw_delete_alarms)
QUERY_OP(cw_set_alarm_state)
QUERY_OP(cw_describe_alarm_history)
QUERY_OP(cw_enable_alarm_actions)
QUERY_OP(cw_disable_alarm_actions)

static const struct api_query_op query_ops[] = {
    {"PutMetricData", query_put_metric_data},
    {"ListMetrics", query_list_metrics},
    {"GetMetricStatistics", query_get_metric_statistics},
    {"GetMetricData", query_get_metric_data},
    {"PutMetricAlarm", query_cw_put_metric_alarm},
    {"PutCompositeAlarm", query_cw_put_composite_alarm},
    {"DescribeAlarms", query_cw_describe_alarms},
    {"DescribeAlarmsForMetric", query_cw_describe_alarms_for_metric},
    {"DeleteAlarms", query_cw_delete_alarms},
    {"SetAlarmState", query_cw_set_alarm_state},
    {"DescribeAlarmHistory", query_cw_describe_alarm_history},
    {"EnableAlarmActions", query_cw_enable_alarm_actions},
    {"DisableAlarmActions", query_cw_disable_alarm_actions},
};

struct api_query_service *cloudwatch_query_api_create(struct metrics *m)
{
    struct api_query_service *svc = xcalloc(1, sizeof(*svc));
    svc->signing_name = "monitoring";
    svc->xmlns = "http://monitoring.amazonaws.com/doc/2010-08-01/";
    svc->ops = query_ops;
    svc->n_ops = sizeof(query_ops) / sizeof(query_ops[0]);
    svc->ctx = m;
    return svc;
}

void cloudwatch_api_destroy(struct api_json_service *json, struct api_query_service *query)
{
    free(json);
    free(query);
}
