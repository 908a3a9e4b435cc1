/*
 * Inside CloudWatch's API: the input readers and error helpers of cloudwatch_api.c,
 * shared with the alarm operations (cloudwatch_alarms.c).
 */
#ifndef SLUICE_METRICS_CW_INT_H
#define SLUICE_METRICS_CW_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "http/api.h"
#include "metrics/metrics_int.h"

const char *cw_get_str(json_t *obj, const char *key);
/* 0 absent, 1 read into *out, -1 not a number (a form sends numbers as text). */
int cw_get_num(json_t *obj, const char *key, double *out);
/* A boolean: JSON's, or a form's "true"/"false" text; dflt when absent. */
int cw_get_bool(json_t *obj, const char *key, int dflt);
/* A whole number in [lo, hi] at key (JSON's, or a form's text): 0 absent, 1 read into
 *out, else InvalidParameterValue was set. */
int cw_get_int(struct api_call *call, json_t *obj, const char *key, long lo, long hi, long *out);
/* 0 absent, 1 read, -1 malformed (ISO 8601 or epoch seconds). */
int cw_get_time(json_t *obj, const char *key, int64_t *ms);
/* The index of s in set, or -1. */
int cw_in_set(const char *s, const char *const *set, size_t n);
int cw_valid_unit(const char *u);
/* 1 when s is a percentile statistic ("p99", "p99.9"), its value in *p. */
int cw_percentile(const char *s, double *p);
int cw_missing(struct api_call *call, const char *name);
int cw_bad_value(struct api_call *call, const char *name, const char *why);
/* Reads Dimensions ([{Name, Value}]) into dims; filter allows a missing Value. */
int cw_get_dims(struct api_call *call, json_t *list, const char *field, int filter,
                struct metrics_dim dims[METRICS_DIMS_MAX], size_t *n_out);
json_t *cw_dims_json(const struct metrics_dim *dims, size_t n);
/* A period: 1, 5, 10, 20, 30 or a multiple of 60. */
int cw_check_period(struct api_call *call, const char *field, double p);

/* metrics_math_fn: GetMetricData's evaluator, for alarms on Metrics. */
int cw_math_series(struct metrics *m, const char *region, json_t *queries, int64_t start_ms,
                   int64_t end_ms, int64_t now_ms, struct metrics_series *out,
                   struct err_info *err);

/* The alarm operations (cloudwatch_alarms.c), JSON in and out as the model's shapes. */
int cw_put_metric_alarm(struct api_call *call, json_t *in, json_t **out);
int cw_put_composite_alarm(struct api_call *call, json_t *in, json_t **out);
int cw_describe_alarms(struct api_call *call, json_t *in, json_t **out);
int cw_describe_alarms_for_metric(struct api_call *call, json_t *in, json_t **out);
int cw_delete_alarms(struct api_call *call, json_t *in, json_t **out);
int cw_set_alarm_state(struct api_call *call, json_t *in, json_t **out);
int cw_describe_alarm_history(struct api_call *call, json_t *in, json_t **out);
int cw_enable_alarm_actions(struct api_call *call, json_t *in, json_t **out);
int cw_disable_alarm_actions(struct api_call *call, json_t *in, json_t **out);

#endif
