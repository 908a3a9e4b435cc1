/* Inside the metrics part: what the store, the sources and the API share. */
#ifndef SLUICE_METRICS_METRICS_INT_H
#define SLUICE_METRICS_METRICS_INT_H

#include <jansson.h>

#include "metrics/metrics.h"

/*
 * Records the increase of a counter that only grows while the server runs (a source's
 * "since start" figure): the first call for a key takes its whole value (the server
 * started from zero), later calls the difference; a counter that went down (its stream
 * was deleted and made again) restarts from its new value. Nothing is written when the
 * increase is 0, as AWS publishes no datapoint for an idle minute.
 */
void metrics__put_increase(struct metrics *m, const struct metrics_key *k, const char *unit,
                           int64_t now_ms, double total);
/* Records a gauge as one sample (count 1). */
void metrics__put_gauge(struct metrics *m, const struct metrics_key *k, const char *unit,
                        int64_t now_ms, double value);
/* The store the metrics live in (a source's own settings). */
struct store *metrics__store(struct metrics *m);


/* 1 when a Firehose figure is a gauge (freshness, ratios, the last partition count),
   0 when it is a counter that grows (metrics_sources.c). */
struct delivery_metric;
int metrics__firehose_is_gauge(const struct delivery_metric *dm);

/* ---- alarms (alarms.c) ---- */

/* A series of values in time order (metric math's result). */
struct metrics_series {
    size_t n;
    int64_t *ts;
    double *v;
};
void metrics_series_fini(struct metrics_series *s);
/* Metric math over MetricDataQueries (GetMetricData's, cloudwatch_api.c): the one query
   that returns data, over [start_ms, end_ms). 0, or an error with its message in err. */
struct err_info;
typedef int (*metrics_math_fn)(struct metrics *m, const char *region, json_t *queries,
                               int64_t start_ms, int64_t end_ms, int64_t now_ms,
                               struct metrics_series *out, struct err_info *err);
/* How alarms on Metrics are evaluated (the API gives its evaluator; none: not evaluated). */
void metrics__set_math(struct metrics *m, metrics_math_fn fn);
metrics_math_fn metrics__math(struct metrics *m);

extern const char *const metrics_alarm_initial_reason;
/* Creates or replaces (keeping its state) the alarm def names (a MetricAlarm's
   configuration: AlarmName, AlarmArn, ...), with its ConfigurationUpdate history item. */
int metrics_alarm_put(struct metrics *m, const char *region, json_t *def, int64_t now);
/* Calls fn with each alarm of region (the full MetricAlarm) named after `after` (NULL:
   from the first), in name order, until it returns non-zero. */
typedef int (*metrics_alarm_fn)(void *arg, json_t *alarm);
int metrics_alarm_list(struct metrics *m, const char *region, const char *after,
                       metrics_alarm_fn fn, void *arg);
/* Deletes them all, or none: SL_E(CW_RESOURCE_NOT_FOUND) with *missing a name of none. */
int metrics_alarm_delete(struct metrics *m, const char *region, const char *const *names,
                         size_t n, const char **missing);
/* ActionsEnabled of the alarms named (names of none are skipped, as AWS does). */
int metrics_alarm_set_actions(struct metrics *m, const char *region, const char *const *names,
                              size_t n, int enabled, int64_t now);
/* Sets the state (SetAlarmState) with history and actions; SL_E(CW_RESOURCE_NOT_FOUND). */
int metrics_alarm_set_state(struct metrics *m, const char *region, const char *name,
                            const char *state, const char *reason, json_t *reason_data,
                            int64_t now);
struct metrics_history_filter {
    const char *region;
    const char *name;       /* NULL: any */
    const char *type;       /* NULL: any */
    const char *alarm_type; /* "MetricAlarm", "CompositeAlarm" or NULL: any */
    int64_t start_ms, end_ms;
    int descending;
    int64_t after_id; /* paging: items past this id in the scan's order; 0 from the start */
};
typedef int (*metrics_history_fn)(void *arg, int64_t id, const char *name, int64_t ts,
                                  const char *type, const char *summary, const char *data,
                                  const char *alarm_type);
int metrics_alarm_history(struct metrics *m, const struct metrics_history_filter *f,
                          metrics_history_fn fn, void *arg);
/* ---- composite alarms' rules (alarm_rule.c) ---- */

struct metrics_rule;
/* Parses an AlarmRule; -1 with CloudWatch's message in err when it is not one. */
int metrics_rule_parse(const char *text, struct metrics_rule **out, char *err, size_t err_size);
/* The distinct alarms the rule names (names, an ARN's last part), into *names (borrowed). */
size_t metrics_rule_children(const struct metrics_rule *r, const char *const **names);
/* 1 when the rule holds with states[i] the state of child i (NULL: no such alarm). */
int metrics_rule_eval(const struct metrics_rule *r, const char *const *states);
void metrics_rule_free(struct metrics_rule *r);

/* Creates or replaces the composite alarm def (a CompositeAlarm's configuration, with
   AlarmRule), then evaluates it. SL_E(CW_VALIDATION) with the message in err when its
   rule names an alarm that does not exist or makes a cycle. */
int metrics_composite_put(struct metrics *m, const char *region, json_t *def, int64_t now,
                          struct err_info *err);
/* 1 when an alarm's def is a composite's. */
int metrics_alarm_is_composite(json_t *def);

/* The cost document of GET /_sluice/cost over [now_ms - hours, now_ms] (cost.c); any
   service may be NULL (its lines left out). */
json_t *metrics_cost(struct metrics *m, struct stream_service *streams,
                     struct delivery_service *delivery, struct query_service *query,
                     const char *region, int64_t now_ms, double hours);

/* Evaluates every alarm at now (the sampler calls it after each sample). */
void metrics__alarms_evaluate(struct metrics *m, int64_t now);

#endif
