/*
 * CloudWatch's alarm operations: PutMetricAlarm, PutCompositeAlarm, DescribeAlarms,
 * DescribeAlarmsForMetric, DeleteAlarms, SetAlarmState, DescribeAlarmHistory, EnableAlarmActions
 * and DisableAlarmActions. Written on JSON like the rest of the API (cloudwatch_api.c); the store
 * and the evaluator are alarms.c.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "metrics/cw_int.h"
#include "metrics/metrics_int.h"

#define NAMES_MAX 100
#define ACTIONS_MAX 5
#define DESCRIBE_PAGE_DEFAULT 50
#define RECORDS_MAX 100

static const char *const statistics[] = {"SampleCount", "Average", "Sum", "Minimum", "Maximum"};
static const char *const operators[] = {
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
    "LessThanLowerOrGreaterThanUpperThreshold",
    "LessThanLowerThreshold",
    "GreaterThanUpperThreshold",
};
static const char *const treatments[] = {"breaching", "notBreaching", "ignore", "missing"};
static const char *const states[] = {"OK", "ALARM", "INSUFFICIENT_DATA"};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* pNN or pNN.N... with 0 <= NN <= 100 (ExtendedStatistic). */
static int valid_percentile(const char *s)
{
    if (s == NULL || s[0] != 'p' || !isdigit((unsigned char)s[1])) {
        return 0;
    }
    char *end;
    double v = strtod(s + 1, &end);
    return *end == '\0' && v >= 0 && v <= 100;
}

/* A list of strings at key, into names (at most max). Returns the count or an error. */
static int get_names(struct api_call *call, json_t *in, const char *key, size_t max,
                     const char **names)
{
    json_t *list = json_object_get(in, key);
    size_t n = json_array_size(list);
    if (n > max) {
        return err_set(&call->err, SL_E(INVALID_PARAMETER_VALUE),
                       "The collection %s must not have a size greater than %zu.", key, max);
    }
    for (size_t i = 0; i < n; i++) {
        names[i] = json_string_value(json_array_get(list, i));
        if (names[i] == NULL || names[i][0] == '\0') {
            char f[64];
            snprintf(f, sizeof(f), "%s.member.%zu", key, i + 1);
            return cw_bad_value(call, f, "must be a non-empty string.");
        }
    }
    return (int)n;
}

/* ---- PutMetricAlarm ---- */

static int copy_actions(struct api_call *call, json_t *in, json_t *def, const char *key)
{
    const char *arns[ACTIONS_MAX];
    int n = get_names(call, in, key, ACTIONS_MAX, arns);
    if (n < 0) {
        return n;
    }
    json_t *list = json_array();
    for (int i = 0; i < n; i++) {
        if (strncmp(arns[i], "arn:", 4) != 0) {
            json_decref(list);
            return err_set(&call->err, SL_E(INVALID_PARAMETER_VALUE), "Invalid arn syntax: %s",
                           arns[i]);
        }
        json_array_append_new(list, json_string(arns[i]));
    }
    json_object_set_new(def, key, list);
    return 0;
}

/* The single-metric part: MetricName, Namespace, Statistic or ExtendedStatistic,
   Dimensions, Period, Unit. */
static int read_metric(struct api_call *call, json_t *in, json_t *def, long *period)
{
    const char *ns = cw_get_str(in, "Namespace");
    const char *name = cw_get_str(in, "MetricName");
    const char *stat = cw_get_str(in, "Statistic");
    const char *ext = cw_get_str(in, "ExtendedStatistic");
    if (name == NULL) {
        return cw_missing(call, "MetricName");
    }
    if (ns == NULL) {
        return cw_missing(call, "Namespace");
    }
    if (stat != NULL && ext != NULL) {
        return err_set(&call->err, SL_E(INVALID_PARAMETER_COMBINATION),
                       "The parameters Statistic and ExtendedStatistic are mutually exclusive"
                       " and you have specified both.");
    }
    if (stat == NULL && ext == NULL) {
        return err_set(&call->err, SL_E(INVALID_PARAMETER_COMBINATION),
                       "One of the parameters Statistic or ExtendedStatistic must be"
                       " specified.");
    }
    if (stat != NULL && cw_in_set(stat, statistics, COUNT(statistics)) < 0) {
        return cw_bad_value(call, "Statistic",
                            "must be a value in the set [ Maximum, Sum,"
                            " SampleCount, Average, Minimum ].");
    }
    if (ext != NULL && !valid_percentile(ext)) {
        return err_set(&call->err, SL_E(INVALID_PARAMETER_VALUE),
                       "The value %s for parameter ExtendedStatistic is not supported.", ext);
    }
    struct metrics_dim dims[METRICS_DIMS_MAX];
    size_t n_dims = 0;
    int rc = cw_get_dims(call, json_object_get(in, "Dimensions"), "Dimensions", 0, dims, &n_dims);
    if (rc < 0) {
        return rc;
    }
    int got = cw_get_int(call, in, "Period", 1, 86400 * 7, period);
    if (got < 0) {
        return got;
    }
    if (got == 0) {
        return cw_missing(call, "Period");
    }
    if (!(*period == 10 || *period == 20 || *period == 30 || *period % 60 == 0)) {
        return cw_bad_value(call, "Period", "must be 10, 20, 30 or a multiple of 60.");
    }
    const char *unit = cw_get_str(in, "Unit");
    if (unit != NULL && !cw_valid_unit(unit)) {
        return cw_bad_value(call, "Unit", "must be a valid StandardUnit.");
    }
    json_object_set_new(def, "MetricName", json_string(name));
    json_object_set_new(def, "Namespace", json_string(ns));
    json_object_set_new(def, stat != NULL ? "Statistic" : "ExtendedStatistic",
                        json_string(stat != NULL ? stat : ext));
    json_object_set_new(def, "Dimensions", cw_dims_json(dims, n_dims));
    json_object_set_new(def, "Period", json_integer(*period));
    if (unit != NULL) {
        json_object_set_new(def, "Unit", json_string(unit));
    }
    return 0;
}

/* One query of Metrics as the model's shape (a form sends numbers and booleans as text). */
static json_t *normal_query(json_t *q)
{
    json_t *out = json_object();
    const char *const strs[] = {"Id", "Expression", "Label", "AccountId"};
    for (int i = 0; i < 4; i++) {
        if (cw_get_str(q, strs[i]) != NULL) {
            json_object_set_new(out, strs[i], json_string(cw_get_str(q, strs[i])));
        }
    }
    double period;
    if (cw_get_num(q, "Period", &period) == 1) {
        json_object_set_new(out, "Period", json_integer((json_int_t)period));
    }
    if (json_object_get(q, "ReturnData") != NULL) {
        json_object_set_new(out, "ReturnData", json_boolean(cw_get_bool(q, "ReturnData", 1)));
    }
    json_t *ms = json_object_get(q, "MetricStat");
    if (ms != NULL) {
        json_t *metric = json_object_get(ms, "Metric");
        json_t *m = json_object();
        const char *const mstrs[] = {"Namespace", "MetricName"};
        for (int i = 0; i < 2; i++) {
            if (cw_get_str(metric, mstrs[i]) != NULL) {
                json_object_set_new(m, mstrs[i], json_string(cw_get_str(metric, mstrs[i])));
            }
        }
        json_t *dims = json_array();
        size_t i;
        json_t *d;
        json_array_foreach(json_object_get(metric, "Dimensions"), i, d)
        {
            json_array_append_new(dims, json_pack("{s:s?,s:s?}", "Name", cw_get_str(d, "Name"),
                                                  "Value", cw_get_str(d, "Value")));
        }
        json_object_set_new(m, "Dimensions", dims);
        json_t *nms = json_pack("{s:o}", "Metric", m);
        if (cw_get_num(ms, "Period", &period) == 1) {
            json_object_set_new(nms, "Period", json_integer((json_int_t)period));
        }
        const char *const sstrs[] = {"Stat", "Unit"};
        for (int k = 0; k < 2; k++) {
            if (cw_get_str(ms, sstrs[k]) != NULL) {
                json_object_set_new(nms, sstrs[k], json_string(cw_get_str(ms, sstrs[k])));
            }
        }
        json_object_set_new(out, "MetricStat", nms);
    }
    return out;
}

/* The metric math part: Metrics (at most 10 queries, one returning data), whose period
   is the returned query's Period, else its metrics' one. Checked by evaluating it once. */
static int read_math(struct api_call *call, json_t *in, json_t *def, long *period)
{
    const char *const single[] = {"MetricName", "Namespace", "Statistic", "ExtendedStatistic",
                                  "Dimensions", "Period",    "Unit"};
    for (int i = 0; i < 7; i++) {
        if (json_object_get(in, single[i]) != NULL) {
            return err_set(&call->err, SL_E(INVALID_PARAMETER_COMBINATION),
                           "The parameters Metrics and %s are mutually exclusive.", single[i]);
        }
    }
    json_t *list = json_object_get(in, "Metrics");
    size_t n = json_array_size(list);
    if (n == 0 || n > 10) {
        return cw_bad_value(call, "Metrics", "must have between 1 and 10 members.");
    }
    json_t *queries = json_array();
    *period = 0;
    size_t i;
    json_t *q;
    json_array_foreach(list, i, q)
    {
        json_t *nq = normal_query(q);
        json_t *ms = json_object_get(nq, "MetricStat");
        json_int_t p = json_integer_value(json_object_get(nq, "Period"));
        if (cw_get_bool(nq, "ReturnData", 1)) {
            *period = p > 0 ? (long)p : *period;
        }
        if (*period == 0 && ms != NULL) {
            *period = (long)json_integer_value(json_object_get(ms, "Period"));
        }
        json_array_append_new(queries, nq);
    }
    if (*period <= 0 || !(*period == 10 || *period == 20 || *period == 30 || *period % 60 == 0)) {
        json_decref(queries);
        return cw_bad_value(call, "Metrics",
                            "must give a Period of 10, 20, 30 or a multiple of"
                            " 60 to the metrics they read.");
    }
    struct metrics_series s;
    int64_t now = call->req->now_ms;
    int rc = cw_math_series(call->service_ctx, call->req->region, queries, now - *period * 1000,
                            now, now, &s, &call->err);
    metrics_series_fini(&s);
    if (rc < 0) {
        json_decref(queries);
        return rc;
    }
    json_object_set_new(def, "Metrics", queries);
    return 0;
}

/* The evaluation part: EvaluationPeriods, DatapointsToAlarm, Threshold,
   ComparisonOperator, TreatMissingData, EvaluateLowSampleCountPercentile. */
static int read_evaluation(struct api_call *call, json_t *in, json_t *def, long period)
{
    long eval = 0, dta = 0;
    int got = cw_get_int(call, in, "EvaluationPeriods", 1, 100000, &eval);
    if (got <= 0) {
        return got < 0 ? got : cw_missing(call, "EvaluationPeriods");
    }
    /* AWS: at most 7 days in all, and 1 day when the period is under an hour. */
    if (period * eval > (period < 3600 ? 86400 : 604800)) {
        return err_set(&call->err, SL_E(INVALID_PARAMETER_COMBINATION),
                       "The evaluation period of the alarm (Period multiplied by"
                       " EvaluationPeriods) cannot exceed %s.",
                       period < 3600 ? "1 day (86400 seconds) for periods under one hour"
                                     : "7 days (604800 seconds)");
    }
    got = cw_get_int(call, in, "DatapointsToAlarm", 1, 100000, &dta);
    if (got < 0) {
        return got;
    }
    if (got == 1 && dta > eval) {
        return err_set(&call->err, SL_E(INVALID_PARAMETER_VALUE),
                       "DatapointsToAlarm must be less than or equal to EvaluationPeriods.");
    }
    const char *op = cw_get_str(in, "ComparisonOperator");
    if (op == NULL) {
        return cw_missing(call, "ComparisonOperator");
    }
    int op_idx = cw_in_set(op, operators, COUNT(operators));
    if (op_idx < 0) {
        return cw_bad_value(call, "ComparisonOperator",
                            "must be a value in the set [ GreaterThanOrEqualToThreshold,"
                            " GreaterThanThreshold, LessThanThreshold,"
                            " LessThanOrEqualToThreshold ].");
    }
    if (op_idx >= 4) {
        return err_set(&call->err, SL_E(INVALID_PARAMETER_COMBINATION),
                       "Comparison operators for anomaly detection bands need"
                       " ThresholdMetricId.");
    }
    double threshold = 0;
    got = cw_get_num(in, "Threshold", &threshold);
    if (got == 0) {
        return cw_missing(call, "Threshold");
    }
    if (got < 0 || !isfinite(threshold)) {
        return cw_bad_value(call, "Threshold", "must be a finite number.");
    }
    const char *treat = cw_get_str(in, "TreatMissingData");
    if (treat != NULL && cw_in_set(treat, treatments, COUNT(treatments)) < 0) {
        return cw_bad_value(call, "TreatMissingData",
                            "must be one of breaching, notBreaching, ignore, missing.");
    }
    const char *low = cw_get_str(in, "EvaluateLowSampleCountPercentile");
    if (low != NULL && json_object_get(def, "ExtendedStatistic") == NULL) {
        return err_set(&call->err, SL_E(INVALID_PARAMETER_COMBINATION),
                       "EvaluateLowSampleCountPercentile can only be used with"
                       " ExtendedStatistic.");
    }
    if (low != NULL && strcmp(low, "evaluate") != 0 && strcmp(low, "ignore") != 0) {
        return cw_bad_value(call, "EvaluateLowSampleCountPercentile",
                            "must be evaluate or ignore.");
    }
    if (low != NULL) {
        json_object_set_new(def, "EvaluateLowSampleCountPercentile", json_string(low));
    }
    json_object_set_new(def, "EvaluationPeriods", json_integer(eval));
    if (dta > 0) {
        json_object_set_new(def, "DatapointsToAlarm", json_integer(dta));
    }
    json_object_set_new(def, "Threshold", json_real(threshold));
    json_object_set_new(def, "ComparisonOperator", json_string(op));
    if (treat != NULL) {
        json_object_set_new(def, "TreatMissingData", json_string(treat));
    }
    return 0;
}

/* AlarmName: present, at most 255 characters, no control characters. */
static int check_name(struct api_call *call, const char *name)
{
    if (name == NULL || name[0] == '\0') {
        return cw_missing(call, "AlarmName");
    }
    if (strlen(name) > 255) {
        return cw_bad_value(call, "AlarmName", "must be at most 255 characters long.");
    }
    for (const char *p = name; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            return cw_bad_value(call, "AlarmName", "must not contain ASCII control characters.");
        }
    }
    return 0;
}

/* The configuration both kinds share: AlarmName, AlarmArn, AlarmDescription,
   ActionsEnabled and the three action lists, into def. */
static int read_common(struct api_call *call, json_t *in, json_t *def)
{
    const char *name = cw_get_str(in, "AlarmName");
    const char *desc = cw_get_str(in, "AlarmDescription");
    if (desc != NULL && strlen(desc) > 1024) {
        return cw_bad_value(call, "AlarmDescription", "must be at most 1024 characters long.");
    }
    json_object_set_new(def, "AlarmName", json_string(name));
    char *arn = xasprintf("arn:aws:cloudwatch:%s:%s:alarm:%s", call->req->region,
                          call->req->account_id, name);
    json_object_set_new(def, "AlarmArn", json_string(arn));
    free(arn);
    if (desc != NULL) {
        json_object_set_new(def, "AlarmDescription", json_string(desc));
    }
    json_object_set_new(def, "ActionsEnabled", json_boolean(cw_get_bool(in, "ActionsEnabled", 1)));
    int rc = copy_actions(call, in, def, "OKActions");
    if (rc == 0) {
        rc = copy_actions(call, in, def, "AlarmActions");
    }
    if (rc == 0) {
        rc = copy_actions(call, in, def, "InsufficientDataActions");
    }
    return rc;
}

int cw_put_metric_alarm(struct api_call *call, json_t *in, json_t **out)
{
    struct metrics *m = call->service_ctx;
    const char *name = cw_get_str(in, "AlarmName");
    int rc = check_name(call, name);
    if (rc < 0) {
        return rc;
    }
    if (cw_get_str(in, "ThresholdMetricId") != NULL ||
        json_object_get(in, "EvaluationCriteria") != NULL) {
        return err_set(&call->err, SL_E(INVALID_PARAMETER_COMBINATION),
                       "Alarms on anomaly detection bands (ThresholdMetricId) and on PromQL"
                       " (EvaluationCriteria) are not supported by this server.");
    }
    json_t *def = json_object();
    long period = 0;
    rc = read_common(call, in, def);
    if (rc == 0) {
        rc = json_object_get(in, "Metrics") != NULL ? read_math(call, in, def, &period)
                                                    : read_metric(call, in, def, &period);
    }
    if (rc == 0) {
        rc = read_evaluation(call, in, def, period);
    }
    if (rc == 0) {
        rc = metrics_alarm_put(m, call->req->region, def, call->req->now_ms);
    }
    json_decref(def);
    if (rc == 0) {
        *out = json_object();
    }
    return rc;
}

/* ---- PutCompositeAlarm ---- */

#define ALARM_RULE_MAX 10240
#define SUPPRESSOR_PERIOD_MAX 86400

int cw_put_composite_alarm(struct api_call *call, json_t *in, json_t **out)
{
    const char *name = cw_get_str(in, "AlarmName");
    int rc = check_name(call, name);
    if (rc < 0) {
        return rc;
    }
    const char *rule = cw_get_str(in, "AlarmRule");
    if (rule == NULL) {
        return cw_missing(call, "AlarmRule");
    }
    size_t len = strlen(rule);
    if (len < 1 || len > ALARM_RULE_MAX) {
        return err_set(&call->err, SL_E(CW_VALIDATION),
                       "1 validation error detected: Value at 'alarmRule' failed to satisfy"
                       " constraint: Member must have length %s",
                       len < 1 ? "greater than or equal to 1" : "less than or equal to 10240");
    }
    struct metrics_rule *parsed = NULL;
    char why[200];
    if (metrics_rule_parse(rule, &parsed, why, sizeof(why)) < 0) {
        return err_set(&call->err, SL_E(CW_VALIDATION), "%s", why);
    }
    metrics_rule_free(parsed);
    json_t *def = json_object();
    rc = read_common(call, in, def);
    if (rc == 0) {
        json_object_set_new(def, "AlarmRule", json_string(rule));
    }
    const char *sup = cw_get_str(in, "ActionsSuppressor");
    if (rc == 0 && sup != NULL) {
        if (sup[0] == '\0' || strlen(sup) > 1600) {
            rc = cw_bad_value(call, "ActionsSuppressor", "must be 1 to 1600 characters long.");
        } else {
            json_object_set_new(def, "ActionsSuppressor", json_string(sup));
        }
    }
    const char *const periods[] = {"ActionsSuppressorWaitPeriod",
                                   "ActionsSuppressorExtensionPeriod"};
    for (int i = 0; i < 2 && rc == 0; i++) {
        long v = 0;
        int got = cw_get_int(call, in, periods[i], 0, SUPPRESSOR_PERIOD_MAX, &v);
        if (got < 0) {
            rc = got;
        } else if (got == 1 && sup == NULL) {
            rc = err_set(&call->err, SL_E(CW_VALIDATION),
                         "%s can only be set when ActionsSuppressor is set.", periods[i]);
        } else if (got == 1) {
            json_object_set_new(def, periods[i], json_integer(v));
        }
    }
    if (rc == 0) {
        rc = metrics_composite_put(call->service_ctx, call->req->region, def, call->req->now_ms,
                                   &call->err);
    }
    json_decref(def);
    if (rc == 0) {
        *out = json_object();
    }
    return rc;
}

/* ---- DescribeAlarms, DescribeAlarmsForMetric ---- */

struct describe {
    const char **names;
    int n_names;
    const char *prefix;
    const char *state;
    const char *action_prefix;
    long max;
    json_t *found;
    json_t *found_composite;
    int want_metric, want_composite;
    /* ChildrenOfAlarmName: the rule of that alarm; ParentsOfAlarmName: that name */
    struct metrics_rule *children_of;
    const char *parents_of;
    const char *last; /* the last name taken, for NextToken */
    int more;
    /* DescribeAlarmsForMetric */
    int for_metric;
    json_t *metric;
};

static int has_action_prefix(json_t *a, const char *prefix)
{
    const char *const fields[] = {"OKActions", "AlarmActions", "InsufficientDataActions"};
    for (int f = 0; f < 3; f++) {
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(a, fields[f]), i, v)
        {
            if (strncmp(json_string_value(v), prefix, strlen(prefix)) == 0) {
                return 1;
            }
        }
    }
    return 0;
}

/* DescribeAlarmsForMetric: same metric, and the optional fields equal when given. */
static int matches_metric(json_t *a, json_t *q)
{
    const char *const fields[] = {"MetricName", "Namespace", "Statistic", "ExtendedStatistic",
                                  "Unit"};
    for (int f = 0; f < 5; f++) {
        const char *want = cw_get_str(q, fields[f]);
        const char *have = cw_get_str(a, fields[f]);
        if (want != NULL && (have == NULL || strcmp(want, have) != 0)) {
            return 0;
        }
    }
    double period;
    if (cw_get_num(q, "Period", &period) == 1 &&
        json_integer_value(json_object_get(a, "Period")) != (json_int_t)period) {
        return 0;
    }
    json_t *qd = json_object_get(q, "Dimensions");
    json_t *ad = json_object_get(a, "Dimensions");
    if (qd == NULL) {
        return 1;
    }
    if (json_array_size(qd) != json_array_size(ad)) {
        return 0;
    }
    size_t i, j;
    json_t *d, *e;
    json_array_foreach(qd, i, d)
    {
        int found = 0;
        json_array_foreach(ad, j, e)
        {
            const char *dn = cw_get_str(d, "Name"), *dv = cw_get_str(d, "Value");
            found |= dn != NULL && dv != NULL && strcmp(dn, cw_get_str(e, "Name")) == 0 &&
                     strcmp(dv, cw_get_str(e, "Value")) == 0;
        }
        if (!found) {
            return 0;
        }
    }
    return 1;
}

static int names_alarm(const struct metrics_rule *r, const char *name)
{
    const char *const *children;
    size_t n = metrics_rule_children(r, &children);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(children[i], name) == 0) {
            return 1;
        }
    }
    return 0;
}

/* A composite whose rule names d->parents_of. */
static int is_parent(const struct describe *d, json_t *a)
{
    struct metrics_rule *r = NULL;
    char why[200];
    const char *rule = cw_get_str(a, "AlarmRule");
    int yes = rule != NULL && metrics_rule_parse(rule, &r, why, sizeof(why)) == 0 &&
              names_alarm(r, d->parents_of);
    metrics_rule_free(r);
    return yes;
}

static int describe_one(void *arg, json_t *a)
{
    struct describe *d = arg;
    const char *name = cw_get_str(a, "AlarmName");
    int composite = metrics_alarm_is_composite(a);
    if (d->for_metric) {
        if (!composite && matches_metric(a, d->metric)) {
            json_array_append(d->found, a);
        }
        return 0;
    }
    if ((d->children_of != NULL && !names_alarm(d->children_of, name)) ||
        (d->parents_of != NULL && !is_parent(d, a)) ||
        (composite ? !d->want_composite : !d->want_metric)) {
        return 0;
    }
    if (d->n_names > 0) {
        int listed = 0;
        for (int i = 0; i < d->n_names && !listed; i++) {
            listed = strcmp(d->names[i], name) == 0;
        }
        if (!listed) {
            return 0;
        }
    }
    if ((d->prefix != NULL && strncmp(name, d->prefix, strlen(d->prefix)) != 0) ||
        (d->state != NULL && strcmp(d->state, cw_get_str(a, "StateValue")) != 0) ||
        (d->action_prefix != NULL && !has_action_prefix(a, d->action_prefix))) {
        return 0;
    }
    if ((long)(json_array_size(d->found) + json_array_size(d->found_composite)) == d->max) {
        d->more = 1;
        return 1;
    }
    if (composite) {
        if (json_object_get(a, "ActionsSuppressor") != NULL &&
            json_object_get(a, "ActionsSuppressedBy") == NULL) {
            json_object_set_new(a, "ActionsSuppressedBy", json_string("None"));
        }
        json_array_append(d->found_composite, a);
    } else {
        json_array_append(d->found, a);
    }
    d->last = cw_get_str(a, "AlarmName");
    return 0;
}

struct rule_find {
    const char *name;
    struct metrics_rule *rule;
};

static int rule_find_one(void *arg, json_t *a)
{
    struct rule_find *f = arg;
    if (strcmp(cw_get_str(a, "AlarmName"), f->name) != 0) {
        return 0;
    }
    const char *rule = cw_get_str(a, "AlarmRule");
    char why[200];
    if (rule != NULL && metrics_rule_parse(rule, &f->rule, why, sizeof(why)) < 0) {
        f->rule = NULL;
    }
    return 1;
}

/* The parsed rule of the composite name into *out (NULL when name is no composite). */
static int find_rule(struct metrics *m, const char *region, const char *name,
                     struct metrics_rule **out)
{
    struct rule_find f = {.name = name};
    int rc = metrics_alarm_list(m, region, NULL, rule_find_one, &f);
    *out = f.rule;
    return rc;
}

int cw_describe_alarms(struct api_call *call, json_t *in, json_t **out)
{
    struct metrics *m = call->service_ctx;
    const char *names[NAMES_MAX];
    struct describe d = {.names = names, .max = DESCRIBE_PAGE_DEFAULT};
    d.n_names = get_names(call, in, "AlarmNames", NAMES_MAX, names);
    if (d.n_names < 0) {
        return d.n_names;
    }
    d.prefix = cw_get_str(in, "AlarmNamePrefix");
    if (d.prefix != NULL && d.n_names > 0) {
        return err_set(&call->err, SL_E(INVALID_PARAMETER_COMBINATION),
                       "AlarmNamePrefix and AlarmNames cannot be specified together.");
    }
    d.state = cw_get_str(in, "StateValue");
    if (d.state != NULL && cw_in_set(d.state, states, COUNT(states)) < 0) {
        return cw_bad_value(call, "StateValue", "must be one of OK, ALARM, INSUFFICIENT_DATA.");
    }
    d.action_prefix = cw_get_str(in, "ActionPrefix");
    int rc = cw_get_int(call, in, "MaxRecords", 1, RECORDS_MAX, &d.max);
    if (rc < 0) {
        return rc;
    }
    /* Without AlarmTypes only metric alarms, as CloudWatch answers. */
    d.want_metric = 1;
    json_t *types = json_object_get(in, "AlarmTypes");
    if (types != NULL) {
        d.want_metric = 0;
        size_t i;
        json_t *t;
        json_array_foreach(types, i, t)
        {
            const char *s = json_string_value(t);
            if (s == NULL || (strcmp(s, "MetricAlarm") != 0 && strcmp(s, "CompositeAlarm") != 0)) {
                char f[48];
                snprintf(f, sizeof(f), "AlarmTypes.member.%zu", i + 1);
                return cw_bad_value(call, f, "must be MetricAlarm or CompositeAlarm.");
            }
            d.want_metric |= strcmp(s, "MetricAlarm") == 0;
            d.want_composite |= strcmp(s, "CompositeAlarm") == 0;
        }
    }
    const char *children_of = cw_get_str(in, "ChildrenOfAlarmName");
    d.parents_of = cw_get_str(in, "ParentsOfAlarmName");
    if (children_of != NULL || d.parents_of != NULL) {
        if ((children_of != NULL && d.parents_of != NULL) || d.n_names > 0 || d.prefix != NULL ||
            d.state != NULL || d.action_prefix != NULL) {
            return err_set(&call->err, SL_E(INVALID_PARAMETER_COMBINATION),
                           "If %s is specified, no other parameter may be given but"
                           " MaxRecords and NextToken.",
                           children_of != NULL ? "ChildrenOfAlarmName" : "ParentsOfAlarmName");
        }
        d.want_metric = d.want_composite = 1; /* children and parents of either kind */
    }
    if (children_of != NULL) {
        rc = find_rule(m, call->req->region, children_of, &d.children_of);
        if (rc < 0) {
            return err_set(&call->err, rc, "%s", "");
        }
        if (d.children_of == NULL) { /* not a composite: no children */
            *out = json_pack("{s:[],s:[]}", "MetricAlarms", "CompositeAlarms");
            return 0;
        }
    }
    const char *token = cw_get_str(in, "NextToken");
    if (token != NULL && token[0] == '\0') {
        return err_set(&call->err, SL_E(INVALID_NEXT_TOKEN), "The next token is invalid.");
    }
    d.found = json_array();
    d.found_composite = json_array();
    rc = d.want_metric || d.want_composite
             ? metrics_alarm_list(m, call->req->region, token, describe_one, &d)
             : 0;
    metrics_rule_free(d.children_of);
    if (rc < 0) {
        json_decref(d.found);
        json_decref(d.found_composite);
        return err_set(&call->err, rc, "%s", "");
    }
    *out = json_pack("{s:o,s:o}", "MetricAlarms", d.found, "CompositeAlarms", d.found_composite);
    if (d.more && d.last != NULL) {
        json_object_set_new(*out, "NextToken", json_string(d.last));
    }
    return 0;
}

int cw_describe_alarms_for_metric(struct api_call *call, json_t *in, json_t **out)
{
    struct metrics *m = call->service_ctx;
    if (cw_get_str(in, "MetricName") == NULL) {
        return cw_missing(call, "MetricName");
    }
    if (cw_get_str(in, "Namespace") == NULL) {
        return cw_missing(call, "Namespace");
    }
    struct describe d = {.for_metric = 1, .metric = in, .found = json_array()};
    int rc = metrics_alarm_list(m, call->req->region, NULL, describe_one, &d);
    if (rc < 0) {
        json_decref(d.found);
        return err_set(&call->err, rc, "%s", "");
    }
    *out = json_pack("{s:o}", "MetricAlarms", d.found);
    return 0;
}

/* ---- DeleteAlarms, Enable/DisableAlarmActions, SetAlarmState ---- */

int cw_delete_alarms(struct api_call *call, json_t *in, json_t **out)
{
    const char *names[NAMES_MAX];
    int n = get_names(call, in, "AlarmNames", NAMES_MAX, names);
    if (n <= 0) {
        return n < 0 ? n : cw_missing(call, "AlarmNames");
    }
    const char *missing = NULL;
    int rc = metrics_alarm_delete(call->service_ctx, call->req->region, names, (size_t)n, &missing);
    if (rc == SL_E(CW_RESOURCE_NOT_FOUND)) {
        return err_set(&call->err, rc, "Alarm %s not found", missing);
    }
    if (rc < 0) {
        return err_set(&call->err, rc, "%s", "");
    }
    *out = json_object();
    return 0;
}

static int set_actions(struct api_call *call, json_t *in, json_t **out, int enabled)
{
    const char *names[NAMES_MAX];
    int n = get_names(call, in, "AlarmNames", NAMES_MAX, names);
    if (n <= 0) {
        return n < 0 ? n : cw_missing(call, "AlarmNames");
    }
    int rc = metrics_alarm_set_actions(call->service_ctx, call->req->region, names, (size_t)n,
                                       enabled, call->req->now_ms);
    if (rc < 0) {
        return err_set(&call->err, rc, "%s", "");
    }
    *out = json_object();
    return 0;
}

int cw_enable_alarm_actions(struct api_call *call, json_t *in, json_t **out)
{
    return set_actions(call, in, out, 1);
}

int cw_disable_alarm_actions(struct api_call *call, json_t *in, json_t **out)
{
    return set_actions(call, in, out, 0);
}

int cw_set_alarm_state(struct api_call *call, json_t *in, json_t **out)
{
    const char *name = cw_get_str(in, "AlarmName");
    const char *state = cw_get_str(in, "StateValue");
    const char *reason = cw_get_str(in, "StateReason");
    const char *data = cw_get_str(in, "StateReasonData");
    if (name == NULL) {
        return cw_missing(call, "AlarmName");
    }
    if (state == NULL) {
        return cw_missing(call, "StateValue");
    }
    if (reason == NULL) {
        return cw_missing(call, "StateReason");
    }
    if (cw_in_set(state, states, COUNT(states)) < 0) {
        return cw_bad_value(call, "StateValue", "must be one of OK, ALARM, INSUFFICIENT_DATA.");
    }
    if (strlen(reason) > 1023) {
        return cw_bad_value(call, "StateReason", "must be at most 1023 characters long.");
    }
    json_t *rd = NULL;
    if (data != NULL) {
        rd = json_loads(data, JSON_DECODE_ANY, NULL);
        if (rd == NULL || strlen(data) > 4000) {
            json_decref(rd);
            return err_set(&call->err, SL_E(CW_INVALID_FORMAT),
                           "The StateReasonData is not valid JSON.");
        }
    }
    int rc = metrics_alarm_set_state(call->service_ctx, call->req->region, name, state, reason, rd,
                                     call->req->now_ms);
    json_decref(rd);
    if (rc == SL_E(CW_RESOURCE_NOT_FOUND)) {
        return err_set(&call->err, rc, "Alarm %s not found", name);
    }
    if (rc < 0) {
        return err_set(&call->err, rc, "%s", "");
    }
    *out = json_object();
    return 0;
}

/* ---- DescribeAlarmHistory ---- */

struct history {
    json_t *items;
    long max;
    int64_t last_id;
    int more;
};

static int history_one(void *arg, int64_t id, const char *name, int64_t ts, const char *type,
                       const char *summary, const char *data, const char *alarm_type)
{
    struct history *h = arg;
    if ((long)json_array_size(h->items) == h->max) {
        h->more = 1;
        return 1;
    }
    json_array_append_new(h->items,
                          json_pack("{s:s,s:s,s:f,s:s,s:s,s:s}", "AlarmName", name, "AlarmType",
                                    alarm_type, "Timestamp", (double)ts / 1000.0, "HistoryItemType",
                                    type, "HistorySummary", summary, "HistoryData", data));
    h->last_id = id;
    return 0;
}

int cw_describe_alarm_history(struct api_call *call, json_t *in, json_t **out)
{
    static const char *const types[] = {"ConfigurationUpdate", "StateUpdate", "Action",
                                        "AlarmContributorStateUpdate", "AlarmContributorAction"};
    struct metrics_history_filter f = {.region = call->req->region,
                                       .name = cw_get_str(in, "AlarmName"),
                                       .type = cw_get_str(in, "HistoryItemType"),
                                       .start_ms = INT64_MIN,
                                       .end_ms = INT64_MAX,
                                       .descending = 1};
    if (f.type != NULL && cw_in_set(f.type, types, COUNT(types)) < 0) {
        return cw_bad_value(call, "HistoryItemType",
                            "must be one of ConfigurationUpdate, StateUpdate, Action.");
    }
    if (cw_get_time(in, "StartDate", &f.start_ms) < 0) {
        return cw_bad_value(call, "StartDate", "must be a valid timestamp.");
    }
    if (cw_get_time(in, "EndDate", &f.end_ms) < 0) {
        return cw_bad_value(call, "EndDate", "must be a valid timestamp.");
    }
    const char *scan = cw_get_str(in, "ScanBy");
    if (scan != NULL && strcmp(scan, "TimestampDescending") != 0 &&
        strcmp(scan, "TimestampAscending") != 0) {
        return cw_bad_value(call, "ScanBy", "must be TimestampDescending or TimestampAscending.");
    }
    f.descending = scan == NULL || strcmp(scan, "TimestampDescending") == 0;
    struct history h = {.items = json_array(), .max = RECORDS_MAX};
    int rc = cw_get_int(call, in, "MaxRecords", 1, RECORDS_MAX, &h.max);
    const char *token = cw_get_str(in, "NextToken");
    if (rc >= 0 && token != NULL) {
        char *end;
        long long after = strtoll(token, &end, 10);
        if (token[0] == '\0' || *end != '\0' || after <= 0) {
            rc = err_set(&call->err, SL_E(INVALID_NEXT_TOKEN), "The next token is invalid.");
        }
        f.after_id = after;
    }
    /* Without AlarmTypes only metric alarms' items, as CloudWatch answers. */
    json_t *atypes = json_object_get(in, "AlarmTypes");
    int want_metric = atypes == NULL, want_composite = 0;
    size_t i;
    json_t *t;
    json_array_foreach(atypes, i, t)
    {
        want_metric |= json_is_string(t) && strcmp(json_string_value(t), "MetricAlarm") == 0;
        want_composite |= json_is_string(t) && strcmp(json_string_value(t), "CompositeAlarm") == 0;
    }
    f.alarm_type = want_metric && want_composite ? NULL
                   : want_composite              ? "CompositeAlarm"
                                                 : "MetricAlarm";
    if (rc >= 0 && (want_metric || want_composite)) {
        rc = metrics_alarm_history(call->service_ctx, &f, history_one, &h);
        if (rc < 0) {
            rc = err_set(&call->err, rc, "%s", "");
        }
    }
    if (rc < 0) {
        json_decref(h.items);
        return rc;
    }
    *out = json_pack("{s:o}", "AlarmHistoryItems", h.items);
    if (h.more) {
        char tok[32];
        snprintf(tok, sizeof(tok), "%lld", (long long)h.last_id);
        json_object_set_new(*out, "NextToken", json_string(tok));
    }
    return 0;
}
