/*
 * Metric alarms (one metric, or metric math): their definitions, states and history in
 * the metadata store, and the evaluator that the sampler runs after every sample (once a
 * minute, and on demand).
 *
 * A definition is kept as the JSON of its MetricAlarm shape (the configuration part);
 * the state lives in columns beside it. Each evaluation takes the alarm's last
 * EvaluationPeriods periods, aligned on the period as CloudWatch aligns them, the newest
 * being the one under way, and applies DatapointsToAlarm and TreatMissingData. A change
 * of state is written with its history item and, when actions are enabled, one "Action"
 * history item per action of the new state: actions are recorded, never executed.
 */
#include "metrics/metrics_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/store.h"

/* AWS keeps alarm history two weeks. */
#define HISTORY_RETAIN_MS (14LL * 24 * 3600 * 1000)
#define EVAL_PERIODS_MAX 1440

const char *const metrics_alarm_initial_reason = "Unchecked: Initial alarm creation";

/* ---- store ---- */

static char *dump(json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
}

int metrics_alarm_is_composite(json_t *def)
{
    return json_object_get(def, "AlarmRule") != NULL;
}

/* An item of the history of the alarm def. */
static void history_add(struct metrics *m, const char *region, json_t *def, int64_t ts,
                        const char *type, const char *summary, json_t *data)
{
    const char *name = json_string_value(json_object_get(def, "AlarmName"));
    char *text = data != NULL ? dump(data) : NULL;
    int rc = store_run(metrics__store(m),
                       "INSERT INTO alarm_history (region, name, ts, type, summary, data,"
                       " alarm_type) VALUES (?,?,?,?,?,?,?)",
                       "ssissss", region, name, ts, type, summary, text ? text : "{}",
                       metrics_alarm_is_composite(def) ? "CompositeAlarm" : "MetricAlarm");
    free(text);
    if (rc < 0) {
        log_msg(LOG_WARN, "metrics", "cannot record alarm history of %s: %s", name,
                sl_strerror(rc));
    }
}

/* The state of alarm name (malloc'd), or NULL when there is none. */
static char *state_of(struct store *st, const char *region, const char *name)
{
    struct store_stmt *q = store_prepare_args(
        st, "SELECT state FROM metric_alarm WHERE region=? AND name=?", "ss", region, name);
    char *state = q != NULL && store_step(q) == 1 ? xstrdup(store_col_text(q, 0)) : NULL;
    store_finalize(q);
    return state;
}

/* A composite's ActionsSuppressor (a name or an ARN) in ALARM holds its actions back. */
static int suppressed(struct metrics *m, const char *region, json_t *def)
{
    const char *sup = json_string_value(json_object_get(def, "ActionsSuppressor"));
    if (sup == NULL) {
        return 0;
    }
    const char *colon = strncmp(sup, "arn:", 4) == 0 ? strstr(sup, ":alarm:") : NULL;
    char *state = state_of(metrics__store(m), region, colon != NULL ? colon + 7 : sup);
    int held = state != NULL && strcmp(state, "ALARM") == 0;
    free(state);
    return held;
}

static void update_parents(struct metrics *m, const char *region, json_t *child, const char *state,
                           int64_t now, int depth);

/* One action item per action of the new state, when actions are enabled. */
static void record_actions(struct metrics *m, const char *region, json_t *def, const char *state,
                           int64_t now)
{
    if (!json_is_true(json_object_get(def, "ActionsEnabled"))) {
        return;
    }
    const char *field = strcmp(state, "ALARM") == 0 ? "AlarmActions"
                        : strcmp(state, "OK") == 0  ? "OKActions"
                                                    : "InsufficientDataActions";
    if (suppressed(m, region, def)) {
        return;
    }
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(def, field), i, a)
    {
        char summary[256];
        snprintf(summary, sizeof(summary), "Recorded action %.200s (not executed)",
                 json_string_value(a));
        json_t *data = json_pack("{s:s,s:s,s:I}", "actionState", "Recorded", "notificationResource",
                                 json_string_value(a), "stateUpdateTimestamp", (json_int_t)now);
        history_add(m, region, def, now, "Action", summary, data);
        json_decref(data);
    }
}

/* Writes a state change, its history and its actions. Under the store lock, in a
   transaction. */
static int set_state_locked(struct metrics *m, const char *region, json_t *def,
                            const char *old_state, const char *old_reason, const char *state,
                            const char *reason, json_t *reason_data, int64_t now, int depth)
{
    const char *name = json_string_value(json_object_get(def, "AlarmName"));
    char *rd = reason_data != NULL ? dump(reason_data) : NULL;
    int rc = store_run(metrics__store(m),
                       "UPDATE metric_alarm SET state=?, reason=?, reason_data=?, state_ms=?,"
                       " transitioned_ms=? WHERE region=? AND name=?",
                       "sssiiss", state, reason, rd, now, now, region, name);
    free(rd);
    if (rc < 0) {
        return rc;
    }
    char summary[128];
    snprintf(summary, sizeof(summary), "Alarm updated from %s to %s", old_state, state);
    json_t *data = json_pack("{s:s,s:{s:s,s:s},s:{s:s,s:s}}", "version", "1.0", "oldState",
                             "stateValue", old_state, "stateReason", old_reason, "newState",
                             "stateValue", state, "stateReason", reason);
    if (reason_data != NULL) {
        json_object_set(json_object_get(data, "newState"), "stateReasonData", reason_data);
    }
    history_add(m, region, def, now, "StateUpdate", summary, data);
    json_decref(data);
    record_actions(m, region, def, state, now);
    update_parents(m, region, def, state, now, depth + 1);
    return 0;
}

/* The full MetricAlarm of a row (def, state, reason, reason_data, state_ms,
   transitioned_ms, config_ms). */
static json_t *row_alarm(struct store_stmt *q, int col)
{
    json_t *a = json_loads(store_col_text(q, col), 0, NULL);
    if (a == NULL) {
        return NULL;
    }
    json_object_set_new(a, "StateValue", json_string(store_col_text(q, col + 1)));
    json_object_set_new(a, "StateReason", json_string(store_col_text(q, col + 2)));
    if (!store_col_is_null(q, col + 3)) {
        json_object_set_new(a, "StateReasonData", json_string(store_col_text(q, col + 3)));
    }
    json_object_set_new(a, "StateUpdatedTimestamp",
                        json_real((double)store_col_int64(q, col + 4) / 1000.0));
    json_object_set_new(a, "StateTransitionedTimestamp",
                        json_real((double)store_col_int64(q, col + 5) / 1000.0));
    json_object_set_new(a, "AlarmConfigurationUpdatedTimestamp",
                        json_real((double)store_col_int64(q, col + 6) / 1000.0));
    return a;
}

#define ALARM_COLS "def, state, reason, reason_data, state_ms, transitioned_ms, config_ms"

/* Creates or replaces def, with its history item. Under the store lock, in a transaction. */
static int put_locked(struct metrics *m, const char *region, json_t *def, int64_t now)
{
    struct store *st = metrics__store(m);
    const char *name = json_string_value(json_object_get(def, "AlarmName"));
    char *text = dump(def);
    int rc = 0;
    struct store_stmt *q = store_prepare_args(st,
                                              "SELECT 1 FROM metric_alarm"
                                              " WHERE region=? AND name=?",
                                              "ss", region, name);
    int exists = q != NULL && store_step(q) == 1;
    store_finalize(q);
    if (exists) {
        /* An update replaces the configuration and leaves the state as it is. */
        rc = store_run(st, "UPDATE metric_alarm SET def=?, config_ms=? WHERE region=? AND name=?",
                       "siss", text, now, region, name);
    } else {
        rc = store_run(st,
                       "INSERT INTO metric_alarm (region, name, def, state, reason, state_ms,"
                       " transitioned_ms, config_ms) VALUES (?,?,?,'INSUFFICIENT_DATA',?,?,?,?)",
                       "ssssiii", region, name, text, metrics_alarm_initial_reason, now, now, now);
    }
    if (rc == 0) {
        char summary[300];
        snprintf(summary, sizeof(summary), "Alarm \"%.255s\" %s", name,
                 exists ? "updated" : "created");
        json_t *data =
            json_pack("{s:s,s:s,s:O}", "version", "1.0", "type", exists ? "Update" : "Create",
                      exists ? "updatedAlarm" : "createdAlarm", def);
        history_add(m, region, def, now, "ConfigurationUpdate", summary, data);
        json_decref(data);
    }
    free(text);
    return rc;
}

int metrics_alarm_put(struct metrics *m, const char *region, json_t *def, int64_t now)
{
    struct store *st = metrics__store(m);
    store_lock(st);
    int rc = store_begin(st);
    if (rc == 0) {
        rc = put_locked(m, region, def, now);
    }
    if (rc == 0) {
        rc = store_commit(st);
    } else {
        store_rollback(st);
    }
    store_unlock(st);
    return rc;
}

int metrics_alarm_list(struct metrics *m, const char *region, const char *after,
                       metrics_alarm_fn fn, void *arg)
{
    struct store *st = metrics__store(m);
    store_read_begin(st);
    struct store_stmt *q = store_prepare_args(st,
                                              "SELECT " ALARM_COLS " FROM metric_alarm"
                                              " WHERE region=? AND name>? ORDER BY name",
                                              "ss", region, after ? after : "");
    if (q == NULL) {
        store_read_end(st);
        return SL_E(IO);
    }
    int rc;
    while ((rc = store_step(q)) == 1) {
        json_t *a = row_alarm(q, 0);
        int stop = a != NULL && fn(arg, a);
        json_decref(a);
        if (stop) {
            rc = 0;
            break;
        }
    }
    store_finalize(q);
    store_read_end(st);
    return rc < 0 ? rc : 0;
}

/* 1 when every name is an alarm of the region; else 0 with *missing the first that is
   not. Under the store lock. */
static int all_exist(struct store *st, const char *region, const char *const *names, size_t n,
                     const char **missing)
{
    for (size_t i = 0; i < n; i++) {
        struct store_stmt *q = store_prepare_args(
            st, "SELECT 1 FROM metric_alarm WHERE region=? AND name=?", "ss", region, names[i]);
        int found = q != NULL && store_step(q) == 1;
        store_finalize(q);
        if (!found) {
            *missing = names[i];
            return 0;
        }
    }
    return 1;
}

int metrics_alarm_delete(struct metrics *m, const char *region, const char *const *names, size_t n,
                         const char **missing)
{
    struct store *st = metrics__store(m);
    store_lock(st);
    int rc = store_begin(st);
    if (rc == 0 && !all_exist(st, region, names, n, missing)) {
        rc = SL_E(CW_RESOURCE_NOT_FOUND);
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = store_run(st, "DELETE FROM metric_alarm WHERE region=? AND name=?", "ss", region,
                       names[i]);
    }
    if (rc == 0) {
        rc = store_commit(st);
    } else {
        store_rollback(st);
    }
    store_unlock(st);
    return rc;
}

int metrics_alarm_set_actions(struct metrics *m, const char *region, const char *const *names,
                              size_t n, int enabled, int64_t now)
{
    struct store *st = metrics__store(m);
    store_lock(st);
    int rc = store_begin(st);
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct store_stmt *q = store_prepare_args(
            st, "SELECT def FROM metric_alarm WHERE region=? AND name=?", "ss", region, names[i]);
        json_t *def =
            q != NULL && store_step(q) == 1 ? json_loads(store_col_text(q, 0), 0, NULL) : NULL;
        store_finalize(q);
        if (def == NULL) {
            continue; /* AWS ignores names of no alarm here */
        }
        if (json_is_true(json_object_get(def, "ActionsEnabled")) != enabled) {
            json_object_set_new(def, "ActionsEnabled", json_boolean(enabled));
            char *text = dump(def);
            rc = store_run(st, "UPDATE metric_alarm SET def=? WHERE region=? AND name=?", "sss",
                           text, region, names[i]);
            free(text);
            if (rc == 0) {
                char summary[300];
                snprintf(summary, sizeof(summary), "Alarm \"%.255s\" updated", names[i]);
                json_t *data = json_pack("{s:s,s:s,s:O}", "version", "1.0", "type", "Update",
                                         "updatedAlarm", def);
                history_add(m, region, def, now, "ConfigurationUpdate", summary, data);
                json_decref(data);
            }
        }
        json_decref(def);
    }
    if (rc == 0) {
        rc = store_commit(st);
    } else {
        store_rollback(st);
    }
    store_unlock(st);
    return rc;
}

int metrics_alarm_set_state(struct metrics *m, const char *region, const char *name,
                            const char *state, const char *reason, json_t *reason_data, int64_t now)
{
    struct store *st = metrics__store(m);
    store_lock(st);
    int rc = store_begin(st);
    struct store_stmt *q = rc < 0 ? NULL
                                  : store_prepare_args(st,
                                                       "SELECT def, state, reason FROM"
                                                       " metric_alarm WHERE region=? AND name=?",
                                                       "ss", region, name);
    json_t *def = NULL;
    char *old_state = NULL, *old_reason = NULL;
    if (q != NULL && store_step(q) == 1) {
        def = json_loads(store_col_text(q, 0), 0, NULL);
        old_state = xstrdup(store_col_text(q, 1));
        old_reason = xstrdup(store_col_text(q, 2));
    }
    store_finalize(q);
    if (rc == 0 && def == NULL) {
        rc = SL_E(CW_RESOURCE_NOT_FOUND);
    }
    if (rc == 0) {
        rc = set_state_locked(m, region, def, old_state, old_reason, state, reason, reason_data,
                              now, 0);
    }
    if (rc == 0) {
        rc = store_commit(st);
    } else {
        store_rollback(st);
    }
    store_unlock(st);
    json_decref(def);
    free(old_state);
    free(old_reason);
    return rc;
}

int metrics_alarm_history(struct metrics *m, const struct metrics_history_filter *f,
                          metrics_history_fn fn, void *arg)
{
    struct store *st = metrics__store(m);
    store_read_begin(st);
    struct store_stmt *q = store_prepare_args(
        st,
        f->descending ? "SELECT id, name, ts, type, summary, data, alarm_type FROM alarm_history"
                        " WHERE region=? AND (? IS NULL OR name=?) AND (? IS NULL OR type=?)"
                        " AND (? IS NULL OR alarm_type=?) AND ts>=? AND ts<?"
                        " AND (?=0 OR id<?) ORDER BY id DESC"
                      : "SELECT id, name, ts, type, summary, data, alarm_type FROM alarm_history"
                        " WHERE region=? AND (? IS NULL OR name=?) AND (? IS NULL OR type=?)"
                        " AND (? IS NULL OR alarm_type=?) AND ts>=? AND ts<?"
                        " AND (?=0 OR id>?) ORDER BY id",
        "sssssssiiii", f->region, f->name, f->name, f->type, f->type, f->alarm_type, f->alarm_type,
        f->start_ms, f->end_ms, f->after_id, f->after_id);
    if (q == NULL) {
        store_read_end(st);
        return SL_E(IO);
    }
    int rc;
    while ((rc = store_step(q)) == 1) {
        if (fn(arg, store_col_int64(q, 0), store_col_text(q, 1), store_col_int64(q, 2),
               store_col_text(q, 3), store_col_text(q, 4), store_col_text(q, 5),
               store_col_text(q, 6))) {
            rc = 0;
            break;
        }
    }
    store_finalize(q);
    store_read_end(st);
    return rc < 0 ? rc : 0;
}

/* ---- composite alarms ---- */

/* Composites of composites: how deep a change travels up (AWS refuses cycles, and so do
   we at PutCompositeAlarm; this bounds a chain). */
#define COMPOSITE_DEPTH_MAX 16

static void iso_plus0000(int64_t ms, char out[40]);

static struct metrics_rule *rule_of(json_t *def)
{
    struct metrics_rule *r = NULL;
    char err[160];
    const char *text = json_string_value(json_object_get(def, "AlarmRule"));
    return text != NULL && metrics_rule_parse(text, &r, err, sizeof(err)) == 0 ? r : NULL;
}

static int names_child(const struct metrics_rule *r, const char *name)
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

/* The ARN of alarm name beside the composite def's own (same region and account). */
static char *sibling_arn(json_t *def, const char *name)
{
    const char *arn = json_string_value(json_object_get(def, "AlarmArn"));
    const char *colon = arn != NULL ? strstr(arn, ":alarm:") : NULL;
    return colon != NULL ? xasprintf("%.*s:alarm:%s", (int)(colon - arn), arn, name)
                         : xstrdup(name);
}

/*
 * Moves the composite def (now in state cur, reason cur_reason) to what its rule gives:
 * ALARM when it holds, else OK. trigger_name and trigger_state: the child whose change
 * led here (NULL at creation: the first child is named). Under the store lock.
 */
static int evaluate_composite(struct metrics *m, const char *region, json_t *def, const char *cur,
                              const char *cur_reason, const char *trigger_name,
                              const char *trigger_state, int64_t now, int depth)
{
    struct store *st = metrics__store(m);
    struct metrics_rule *r = rule_of(def);
    if (r == NULL) {
        return 0;
    }
    const char *const *children;
    size_t n = metrics_rule_children(r, &children);
    char **states = xcalloc(n ? n : 1, sizeof(*states));
    for (size_t i = 0; i < n; i++) {
        states[i] = state_of(st, region, children[i]);
    }
    const char *state = metrics_rule_eval(r, (const char *const *)states) ? "ALARM" : "OK";
    int rc = 0;
    if (strcmp(state, cur) != 0) {
        if (trigger_name == NULL && n > 0) {
            trigger_name = children[0];
            trigger_state = states[0] ? states[0] : "INSUFFICIENT_DATA";
        }
        char iso[40];
        iso_plus0000(now, iso);
        char *reason;
        json_t *rd = NULL;
        if (trigger_name != NULL) {
            char *arn = sibling_arn(def, trigger_name);
            reason = xasprintf("%s transitioned to %s at %s", arn, trigger_state, iso);
            rd = json_pack("{s:[{s:s,s:{s:s,s:s}}]}", "triggeringAlarms", "arn", arn, "state",
                           "value", trigger_state, "timestamp", iso);
            free(arn);
        } else {
            reason = xasprintf("The alarm rule evaluated to %s at %s",
                               strcmp(state, "ALARM") == 0 ? "TRUE" : "FALSE", iso);
        }
        rc = set_state_locked(m, region, def, cur, cur_reason, state, reason, rd, now, depth);
        free(reason);
        json_decref(rd);
    }
    for (size_t i = 0; i < n; i++) {
        free(states[i]);
    }
    free(states);
    metrics_rule_free(r);
    return rc;
}

/* Re-evaluates the composites whose rule names child, which just moved to state. Under
   the store lock. */
static void update_parents(struct metrics *m, const char *region, json_t *child, const char *state,
                           int64_t now, int depth)
{
    if (depth > COMPOSITE_DEPTH_MAX) {
        return;
    }
    struct store *st = metrics__store(m);
    const char *name = json_string_value(json_object_get(child, "AlarmName"));
    struct store_stmt *q =
        store_prepare_args(st,
                           "SELECT def, state, reason FROM metric_alarm WHERE region=?"
                           " AND def LIKE '%\"AlarmRule\":%' ORDER BY name",
                           "s", region);
    struct parent {
        json_t *def;
        char *state, *reason;
    } *all = NULL;
    size_t n = 0;
    while (q != NULL && store_step(q) == 1) {
        json_t *def = json_loads(store_col_text(q, 0), 0, NULL);
        struct metrics_rule *r = def != NULL ? rule_of(def) : NULL;
        if (r != NULL && names_child(r, name)) {
            all = xrealloc(all, (n + 1) * sizeof(*all));
            all[n++] = (struct parent){json_incref(def), xstrdup(store_col_text(q, 1)),
                                       xstrdup(store_col_text(q, 2))};
        }
        metrics_rule_free(r);
        json_decref(def);
    }
    store_finalize(q);
    for (size_t i = 0; i < n; i++) {
        int rc = evaluate_composite(m, region, all[i].def, all[i].state, all[i].reason, name, state,
                                    now, depth);
        if (rc < 0) {
            log_msg(LOG_WARN, "metrics", "cannot record a composite alarm's state: %s",
                    sl_strerror(rc));
        }
        json_decref(all[i].def);
        free(all[i].state);
        free(all[i].reason);
    }
    free(all);
}

/* 1 when alarm `from` is target or leads to it through composite rules. */
static int reaches(struct store *st, const char *region, const char *from, const char *target,
                   int depth)
{
    if (strcmp(from, target) == 0) {
        return 1;
    }
    if (depth > COMPOSITE_DEPTH_MAX) {
        return 0;
    }
    struct store_stmt *q = store_prepare_args(
        st, "SELECT def FROM metric_alarm WHERE region=? AND name=?", "ss", region, from);
    json_t *def =
        q != NULL && store_step(q) == 1 ? json_loads(store_col_text(q, 0), 0, NULL) : NULL;
    store_finalize(q);
    struct metrics_rule *r = def != NULL ? rule_of(def) : NULL;
    json_decref(def);
    int found = 0;
    if (r != NULL) {
        const char *const *children;
        size_t n = metrics_rule_children(r, &children);
        for (size_t i = 0; i < n && !found; i++) {
            found = reaches(st, region, children[i], target, depth + 1);
        }
    }
    metrics_rule_free(r);
    return found;
}

/* The rule's children must exist, and none may lead back to the alarm. Under the lock. */
static int check_children(struct store *st, const char *region, json_t *def, struct err_info *err)
{
    const char *name = json_string_value(json_object_get(def, "AlarmName"));
    struct metrics_rule *r = rule_of(def);
    if (r == NULL) {
        return err_set(err, SL_E(CW_VALIDATION), "Error in AlarmRule");
    }
    const char *const *children;
    size_t n = metrics_rule_children(r, &children);
    struct buf missing;
    buf_init(&missing);
    int cycle = 0;
    for (size_t i = 0; i < n; i++) {
        char *state = state_of(st, region, children[i]);
        if (state == NULL && strcmp(children[i], name) != 0) {
            buf_printf(&missing, "%s%s", missing.len ? ", " : "", children[i]);
        }
        free(state);
        cycle |= reaches(st, region, children[i], name, 0);
    }
    int rc = 0;
    if (missing.len > 0) {
        rc = err_set(err, SL_E(CW_VALIDATION),
                     "Could not save the composite alarm as alarms [%s] in the alarm rule do"
                     " not exist",
                     (const char *)missing.data);
    } else if (cycle) {
        rc = err_set(err, SL_E(CW_VALIDATION),
                     "Could not save the composite alarm as its alarm rule would make a cycle"
                     " through %s",
                     name);
    }
    buf_fini(&missing);
    metrics_rule_free(r);
    return rc;
}

int metrics_composite_put(struct metrics *m, const char *region, json_t *def, int64_t now,
                          struct err_info *err)
{
    struct store *st = metrics__store(m);
    const char *name = json_string_value(json_object_get(def, "AlarmName"));
    store_lock(st);
    int rc = store_begin(st);
    if (rc < 0) {
        err_set(err, rc, "%s", "");
    } else if ((rc = check_children(st, region, def, err)) == 0) {
        rc = put_locked(m, region, def, now);
        struct store_stmt *q = rc < 0 ? NULL
                                      : store_prepare_args(st,
                                                           "SELECT state, reason FROM metric_alarm"
                                                           " WHERE region=? AND name=?",
                                                           "ss", region, name);
        char *state = NULL, *reason = NULL;
        if (q != NULL && store_step(q) == 1) {
            state = xstrdup(store_col_text(q, 0));
            reason = xstrdup(store_col_text(q, 1));
        }
        store_finalize(q);
        if (rc == 0 && state != NULL) {
            rc = evaluate_composite(m, region, def, state, reason, NULL, NULL, now, 0);
        }
        free(state);
        free(reason);
        if (rc < 0) {
            err_set(err, rc, "%s", "");
        }
    }
    if (rc == 0) {
        rc = store_commit(st);
    } else {
        store_rollback(st);
    }
    store_unlock(st);
    return rc;
}

/* ---- evaluation ---- */

/* The statistic of a bucket (Statistic names; percentiles come from metrics_percentiles). */
static double stat_of(const struct metrics_stat *s, const char *stat)
{
    if (strcmp(stat, "SampleCount") == 0) {
        return s->count;
    }
    if (strcmp(stat, "Average") == 0) {
        return s->count > 0 ? s->sum / s->count : 0;
    }
    if (strcmp(stat, "Sum") == 0) {
        return s->sum;
    }
    return strcmp(stat, "Minimum") == 0 ? s->min : s->max;
}

static int breaches(const char *op, double v, double threshold)
{
    if (strcmp(op, "GreaterThanThreshold") == 0) {
        return v > threshold;
    }
    if (strcmp(op, "GreaterThanOrEqualToThreshold") == 0) {
        return v >= threshold;
    }
    if (strcmp(op, "LessThanThreshold") == 0) {
        return v < threshold;
    }
    return v <= threshold;
}

static const char *op_words(const char *op)
{
    return strcmp(op, "GreaterThanThreshold") == 0            ? "greater than"
           : strcmp(op, "GreaterThanOrEqualToThreshold") == 0 ? "greater than or equal to"
           : strcmp(op, "LessThanThreshold") == 0             ? "less than"
                                                              : "less than or equal to";
}

/* A double as CloudWatch's reasons print it (Java's style: 5.0, 0.25, 1.0E7). */
static void java_double(struct buf *b, double v)
{
    if (v == floor(v) && fabs(v) < 1e7) {
        buf_printf(b, "%.1f", v);
        return;
    }
    char s[40];
    snprintf(s, sizeof(s), "%.17g", v);
    for (int p = 1; p <= 17; p++) {
        snprintf(s, sizeof(s), "%.*g", p, v);
        if (strtod(s, NULL) == v) {
            break;
        }
    }
    buf_puts(b, s);
}

static void iso_plus0000(int64_t ms, char out[40])
{
    char iso[32];
    clock_format_iso8601(ms, iso);
    snprintf(out, 40, "%.23s+0000", iso);
}

struct bucket {
    int64_t ts;
    int present;
    struct metrics_stat s; /* the units of the period merged */
    double value, count;
};

/* The periods' values of one metric's statistic (or percentile when stat is NULL). */
static int metric_buckets(struct metrics *m, const struct metrics_key *k, const char *unit,
                          const char *stat, double pct, int64_t start, int64_t end,
                          int64_t period_ms, struct bucket *b, int n)
{
    struct metrics_point *pts = NULL;
    size_t n_pts = 0;
    int rc = metrics_stats(m, k, unit, start, end, (int)(period_ms / 1000), &pts, &n_pts);
    if (rc < 0) {
        return rc;
    }
    int64_t newest = b[0].ts;
    for (size_t p = 0; p < n_pts; p++) {
        int j = (int)((newest - pts[p].ts_ms) / period_ms);
        if (j < 0 || j >= n) {
            continue;
        }
        const struct metrics_stat *s = &pts[p].s;
        if (!b[j].present) {
            b[j].s = *s;
        } else {
            b[j].s.count += s->count;
            b[j].s.sum += s->sum;
            b[j].s.min = fmin(b[j].s.min, s->min);
            b[j].s.max = fmax(b[j].s.max, s->max);
        }
        b[j].present = 1;
    }
    free(pts);
    for (int j = 0; j < n; j++) {
        b[j].count = b[j].s.count;
        if (b[j].present && stat != NULL) {
            b[j].value = stat_of(&b[j].s, stat);
        } else if (b[j].present) {
            /* a period whose values cannot be ranked counts as missing */
            b[j].present = metrics_percentiles(m, k, unit, b[j].ts, b[j].ts + period_ms, &pct, 1,
                                               &b[j].value) == 1;
        }
    }
    return 0;
}

/* The period of a metric math alarm: the returned query's, else its metrics'. */
static int64_t math_period(json_t *queries)
{
    int64_t period = 0;
    size_t i;
    json_t *q;
    json_array_foreach(queries, i, q)
    {
        json_t *rd = json_object_get(q, "ReturnData");
        json_int_t p = json_integer_value(json_object_get(q, "Period"));
        if ((rd == NULL || json_is_true(rd)) && p > 0) {
            period = p;
        }
        json_t *ms = json_object_get(q, "MetricStat");
        if (period == 0 && ms != NULL) {
            period = json_integer_value(json_object_get(ms, "Period"));
        }
    }
    return period;
}

/* The periods' values of the metric math's returned series. */
static int math_buckets(struct metrics *m, const char *region, json_t *queries, int64_t start,
                        int64_t end, int64_t now, int64_t period_ms, struct bucket *b, int n)
{
    metrics_math_fn fn = metrics__math(m);
    struct metrics_series s;
    int rc = fn != NULL ? fn(m, region, queries, start, end, now, &s, NULL) : SL_E(INTERNAL);
    if (rc < 0) {
        return rc;
    }
    for (size_t i = 0; i < s.n; i++) {
        int j = (int)((b[0].ts - s.ts[i]) / period_ms);
        if (j >= 0 && j < n && s.ts[i] <= b[0].ts) {
            b[j].present = 1;
            b[j].value = s.v[i];
            b[j].count = 1;
        }
    }
    metrics_series_fini(&s);
    return 0;
}

/* Evaluates one alarm; returns the new state (a static string), or NULL to keep the
   current one. reason and reason_data are set when a state is returned. */
static const char *evaluate(struct metrics *m, const char *region, json_t *def, const char *cur,
                            int64_t now, struct buf *reason, json_t **reason_data)
{
    json_t *dims_j = json_object_get(def, "Dimensions");
    struct metrics_dim dims[METRICS_DIMS_MAX];
    size_t n_dims = 0;
    size_t i;
    json_t *d;
    json_array_foreach(dims_j, i, d)
    {
        if (n_dims < METRICS_DIMS_MAX) {
            dims[n_dims].name = json_string_value(json_object_get(d, "Name"));
            dims[n_dims].value = json_string_value(json_object_get(d, "Value"));
            n_dims++;
        }
    }
    const char *stat = json_string_value(json_object_get(def, "Statistic"));
    const char *ext = json_string_value(json_object_get(def, "ExtendedStatistic"));
    double pct = ext != NULL ? strtod(ext + 1, NULL) : 0;
    const char *ns = json_string_value(json_object_get(def, "Namespace"));
    const char *metric = json_string_value(json_object_get(def, "MetricName"));
    json_t *math = json_object_get(def, "Metrics");
    if (math == NULL && ((stat == NULL && ext == NULL) || ns == NULL || metric == NULL)) {
        return NULL; /* neither one metric nor metric math: not evaluated */
    }
    struct metrics_key k = {region, ns, metric, dims, n_dims};
    int64_t period_ms = (int64_t)json_integer_value(json_object_get(def, "Period")) * 1000;
    if (math != NULL) {
        period_ms = math_period(math) * 1000;
    }
    int n = (int)json_integer_value(json_object_get(def, "EvaluationPeriods"));
    json_t *dta = json_object_get(def, "DatapointsToAlarm");
    int need = dta != NULL ? (int)json_integer_value(dta) : n;
    if (period_ms <= 0 || n < 1 || n > EVAL_PERIODS_MAX) {
        return NULL;
    }
    double threshold = json_number_value(json_object_get(def, "Threshold"));
    const char *op = json_string_value(json_object_get(def, "ComparisonOperator"));
    const char *treat = json_string_value(json_object_get(def, "TreatMissingData"));
    treat = treat != NULL ? treat : "missing";
    int64_t newest = now - now % period_ms;
    int64_t start = newest - (int64_t)(n - 1) * period_ms;
    struct bucket *b = xcalloc((size_t)n, sizeof(*b)); /* b[0] is the newest */
    for (int j = 0; j < n; j++) {
        b[j].ts = newest - (int64_t)j * period_ms;
    }
    int rc = math != NULL
                 ? math_buckets(m, region, math, start, newest + period_ms, now, period_ms, b, n)
                 : metric_buckets(m, &k, json_string_value(json_object_get(def, "Unit")), stat, pct,
                                  start, newest + period_ms, period_ms, b, n);
    if (rc < 0) {
        free(b);
        return NULL;
    }
    int n_present = 0, n_breach = 0, n_missing_breach = 0;
    for (int j = 0; j < n; j++) {
        if (b[j].present) {
            n_present++;
            n_breach += breaches(op, b[j].value, threshold);
        } else if (strcmp(treat, "breaching") == 0) {
            n_missing_breach++;
        }
    }
    /* ALARM when enough periods breach (missing ones too, as TreatMissingData says);
       else OK, but with missing (or ignore) only when enough periods have data to tell:
       too few is INSUFFICIENT_DATA (or no change). */
    int n_missing = n - n_present;
    const char *state;
    if (n_breach + n_missing_breach >= need) {
        state = "ALARM";
    } else if (n_present < need && strcmp(treat, "ignore") == 0) {
        free(b);
        return NULL;
    } else if (n_present < need && strcmp(treat, "missing") == 0) {
        state = "INSUFFICIENT_DATA";
    } else {
        state = "OK";
    }
    int alarm = strcmp(state, "ALARM") == 0;
    int shown = alarm ? n_breach : n_present - n_breach; /* the datapoints the reason lists */
    /* The reason, in CloudWatch's words. */
    if (strcmp(state, "INSUFFICIENT_DATA") == 0) {
        buf_printf(reason, "Insufficient Data: %d datapoint%s unknown.", n_missing,
                   n_missing == 1 ? " was" : "s were");
    } else if (shown == 0) {
        buf_printf(reason,
                   "Threshold Crossed: no datapoints were received for %d period%s and"
                   " %d missing datapoint%s treated as [%s].",
                   n_missing, n_missing == 1 ? "" : "s", n_missing,
                   n_missing == 1 ? " was" : "s were",
                   strcmp(treat, "breaching") == 0 ? "Breaching" : "NonBreaching");
    } else {
        if (n == 1) {
            buf_printf(reason, "Threshold Crossed: 1 datapoint [");
        } else {
            buf_printf(reason, "Threshold Crossed: %d out of the last %d datapoints [", shown, n);
        }
        int first = 1;
        for (int j = 0; j < n; j++) {
            if (!b[j].present || breaches(op, b[j].value, threshold) != alarm) {
                continue;
            }
            time_t secs = (time_t)(b[j].ts / 1000);
            struct tm tm;
            gmtime_r(&secs, &tm);
            char when[32];
            strftime(when, sizeof(when), "%d/%m/%y %H:%M:%S", &tm);
            buf_puts(reason, first ? "" : ", ");
            java_double(reason, b[j].value);
            buf_printf(reason, " (%s)", when);
            first = 0;
        }
        buf_printf(reason, "] %s %s%s the threshold (", shown == 1 ? "was" : "were",
                   alarm ? "" : "not ", op_words(op));
        java_double(reason, threshold);
        buf_puts(reason, ")");
        if (n > 1) {
            int min = alarm ? need : n - need + 1;
            buf_printf(reason, " (minimum %d datapoint%s for %s transition)", min,
                       min == 1 ? "" : "s", alarm ? "OK -> ALARM" : "ALARM -> OK");
        }
        buf_puts(reason, ".");
    }
    char qd[40], sd[40];
    iso_plus0000(now, qd);
    iso_plus0000(start, sd);
    json_t *recent = json_array(), *evaluated = json_array();
    for (int j = n - 1; j >= 0; j--) {
        if (b[j].present) {
            json_array_append_new(recent, json_real(b[j].value));
        }
    }
    for (int j = 0; j < n; j++) {
        char ts[40];
        iso_plus0000(b[j].ts, ts);
        json_array_append_new(evaluated, b[j].present ? json_pack("{s:s,s:f,s:f}", "timestamp", ts,
                                                                  "sampleCount", b[j].count,
                                                                  "value", b[j].value)
                                                      : json_pack("{s:s}", "timestamp", ts));
    }
    *reason_data = json_pack("{s:s,s:s,s:s,s:s,s:I,s:o,s:f,s:o}", "version", "1.0", "queryDate", qd,
                             "startDate", sd, "statistic", stat ? stat : "", "period",
                             (json_int_t)(period_ms / 1000), "recentDatapoints", recent,
                             "threshold", threshold, "evaluatedDatapoints", evaluated);
    if (stat == NULL) {
        json_object_del(*reason_data, "statistic");
    }
    if (ext != NULL) {
        json_object_set_new(*reason_data, "extendedStatistic", json_string(ext));
    }
    free(b);
    (void)cur;
    return state;
}

void metrics__alarms_evaluate(struct metrics *m, int64_t now)
{
    struct store *st = metrics__store(m);
    /* The alarms first, then each one alone: a sample must not hold the lock long. */
    store_read_begin(st);
    struct store_stmt *q = store_prepare_args(st,
                                              "SELECT region, def, state, reason FROM"
                                              " metric_alarm ORDER BY region, name",
                                              "");
    size_t n = 0, cap = 0;
    struct pending {
        char *region, *state, *reason;
        json_t *def;
    } *all = NULL;
    while (q != NULL && store_step(q) == 1) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            all = xrealloc(all, cap * sizeof(*all));
        }
        all[n].region = xstrdup(store_col_text(q, 0));
        all[n].def = json_loads(store_col_text(q, 1), 0, NULL);
        all[n].state = xstrdup(store_col_text(q, 2));
        all[n].reason = xstrdup(store_col_text(q, 3));
        n++;
    }
    store_finalize(q);
    store_read_end(st);
    for (size_t i = 0; i < n; i++) {
        struct buf reason;
        buf_init(&reason);
        json_t *rd = NULL;
        /* Composites change with their children, not with time. */
        const char *state =
            all[i].def == NULL || metrics_alarm_is_composite(all[i].def)
                ? NULL
                : evaluate(m, all[i].region, all[i].def, all[i].state, now, &reason, &rd);
        if (state != NULL && strcmp(state, all[i].state) != 0) {
            buf_putc(&reason, '\0');
            store_lock(st);
            int rc = store_begin(st);
            /* Still there, in the state read (an API call may have changed it since). */
            struct store_stmt *c =
                rc < 0 ? NULL
                       : store_prepare_args(
                             st,
                             "SELECT 1 FROM metric_alarm WHERE region=?"
                             " AND name=? AND state=?",
                             "sss", all[i].region,
                             json_string_value(json_object_get(all[i].def, "AlarmName")),
                             all[i].state);
            int same = c != NULL && store_step(c) == 1;
            store_finalize(c);
            if (rc == 0 && same) {
                rc = set_state_locked(m, all[i].region, all[i].def, all[i].state, all[i].reason,
                                      state, (const char *)reason.data, rd, now, 0);
            }
            if (rc == 0) {
                rc = store_commit(st);
            } else {
                store_rollback(st);
            }
            store_unlock(st);
            if (rc < 0) {
                log_msg(LOG_WARN, "metrics", "cannot record an alarm's state: %s", sl_strerror(rc));
            }
        }
        json_decref(rd);
        buf_fini(&reason);
        free(all[i].region);
        free(all[i].state);
        free(all[i].reason);
        json_decref(all[i].def);
    }
    free(all);
    store_lock(st);
    int rc = store_run(st, "DELETE FROM alarm_history WHERE ts<?", "i", now - HISTORY_RETAIN_MS);
    store_unlock(st);
    if (rc < 0) {
        log_msg(LOG_WARN, "metrics", "alarm history sweep failed: %s", sl_strerror(rc));
    }
}
