/*
 * Athena's operations: workgroups, query executions and their results, and the Glue
 * Data Catalog seen as AwsDataCatalog. Shapes follow botocore's model
 * (data/athena/2017-05-18/service-2.json); messages follow AWS's where they are known
 * (see docs/aws-firehose-athena.md, section 12).
 */
#include "query/athena_api.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/mem.h"
#include "http/http.h"
#include "query/query_int.h"

#define BAD(err, ...) err_set((err), SL_E(ATHENA_INVALID_REQUEST), __VA_ARGS__)

static const char *in_str(json_t *in, const char *key)
{
    return json_string_value(json_object_get(in, key));
}

static json_t *epoch(int64_t ms)
{
    return json_real((double)ms / 1000.0);
}

void query__new_id(char out[QUERY_ID_LEN + 1])
{
    uint8_t b[16];
    crypto_random(b, sizeof(b));
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, QUERY_ID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

static int name_ok(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > 128) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)s[i]) && strchr("._-", s[i]) == NULL) {
            return 0;
        }
    }
    return 1;
}

/*
 * One page of all (an array, stolen) as MaxResults (1..max, default max) and NextToken
 * (the index of the page's first item, as text) of in ask. *page is the page's items;
 * *next the next page's token or "" when this is the last. 0, or InvalidRequestException.
 */
int query__page_of(json_t *all, json_t *in, json_int_t max, json_t **page, char next[24],
                   struct err_info *err)
{
    json_int_t n = max;
    json_t *m = json_object_get(in, "MaxResults");
    next[0] = '\0';
    if (m != NULL &&
        (!json_is_integer(m) || json_integer_value(m) < 1 || json_integer_value(m) > max)) {
        json_decref(all);
        return BAD(err, "MaxResults must be between 1 and %lld", (long long)max);
    }
    if (m != NULL) {
        n = json_integer_value(m);
    }
    long long start = 0;
    const char *token = in_str(in, "NextToken");
    if (token != NULL) {
        char *end = NULL;
        start = strtoll(token, &end, 10);
        if (end == token || *end != '\0' || start < 0 || (size_t)start > json_array_size(all)) {
            json_decref(all);
            return BAD(err, "Invalid NextToken");
        }
    }
    *page = json_array();
    for (size_t i = (size_t)start; i < json_array_size(all) && (json_int_t)(i - start) < n; i++) {
        json_array_append(*page, json_array_get(all, i));
    }
    if ((size_t)start + json_array_size(*page) < json_array_size(all)) {
        snprintf(next, 24, "%zu", (size_t)start + json_array_size(*page));
    }
    json_decref(all);
    return 0;
}

/* Sets NextToken on out when next is not "". */
static void set_next(json_t *out, const char *next)
{
    if (next[0] != '\0') {
        json_object_set_new(out, "NextToken", json_string(next));
    }
}

/* ---- workgroups ---- */

struct wg {
    char name[129];
    char *description;
    char state[16];
    char *output_location;
    int enforce;
    int publish;
    int64_t cutoff; /* 0: none */
    int64_t created_ms;
};

static void wg_fini(struct wg *w)
{
    free(w->description);
    free(w->output_location);
}

/* Loads workgroup name; 0, or InvalidRequestException "... is not found." */
static int wg_load(struct query_service *svc, const char *name, struct wg *w, struct err_info *err)
{
    memset(w, 0, sizeof(*w));
    struct store_stmt *stmt = NULL;
    store_read_begin(svc->st);
    int rc = store_prepare(svc->st,
                           "SELECT name, description, state, output_location, enforce,"
                           " publish_metrics, cutoff_bytes, created_ms FROM query_workgroups"
                           " WHERE name = ?",
                           &stmt);
    if (rc == 0) {
        store_bind_text(stmt, 1, name);
        rc = store_step(stmt);
        if (rc == 1) {
            snprintf(w->name, sizeof(w->name), "%s", store_col_text(stmt, 0));
            w->description = store_col_is_null(stmt, 1) ? NULL : xstrdup(store_col_text(stmt, 1));
            snprintf(w->state, sizeof(w->state), "%s", store_col_text(stmt, 2));
            w->output_location =
                store_col_is_null(stmt, 3) ? NULL : xstrdup(store_col_text(stmt, 3));
            w->enforce = (int)store_col_int64(stmt, 4);
            w->publish = (int)store_col_int64(stmt, 5);
            w->cutoff = store_col_is_null(stmt, 6) ? 0 : store_col_int64(stmt, 6);
            w->created_ms = store_col_int64(stmt, 7);
            rc = 0;
        } else if (rc == 0) {
            rc = BAD(err, "WorkGroup %s is not found.", name);
        }
    }
    store_finalize(stmt);
    store_read_end(svc->st);
    return rc;
}

static int wg_save(struct query_service *svc, const struct wg *w, int create, struct err_info *err)
{
    struct store_stmt *stmt = NULL;
    store_lock(svc->st);
    int rc = store_prepare(
        svc->st,
        create ? "INSERT INTO query_workgroups(description, state, output_location, enforce,"
                 " publish_metrics, cutoff_bytes, created_ms, name)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
               : "UPDATE query_workgroups SET description = ?1, state = ?2, output_location = ?3,"
                 " enforce = ?4, publish_metrics = ?5, cutoff_bytes = ?6 WHERE name = ?8 AND"
                 " ?7 = ?7",
        &stmt);
    if (rc == 0) {
        if (w->description != NULL) {
            store_bind_text(stmt, 1, w->description);
        } else {
            store_bind_null(stmt, 1);
        }
        store_bind_text(stmt, 2, w->state);
        if (w->output_location != NULL) {
            store_bind_text(stmt, 3, w->output_location);
        } else {
            store_bind_null(stmt, 3);
        }
        store_bind_int64(stmt, 4, w->enforce);
        store_bind_int64(stmt, 5, w->publish);
        if (w->cutoff > 0) {
            store_bind_int64(stmt, 6, w->cutoff);
        } else {
            store_bind_null(stmt, 6);
        }
        store_bind_int64(stmt, 7, w->created_ms);
        store_bind_text(stmt, 8, w->name);
        rc = store_step(stmt);
        if (rc < 0 && create) {
            rc = BAD(err, "WorkGroup %s is already created", w->name);
        }
    }
    store_finalize(stmt);
    store_unlock(svc->st);
    return rc < 0 ? rc : 0;
}

static json_t *engine_version(void)
{
    return json_pack("{s:s, s:s}", "SelectedEngineVersion", "AUTO", "EffectiveEngineVersion",
                     "Athena engine version 3");
}

/* Applies a Configuration (create) or ConfigurationUpdates (update) document to w. */
static int wg_apply(json_t *conf, int update, struct wg *w, struct err_info *err)
{
    if (conf == NULL) {
        return 0;
    }
    if (!json_is_object(conf)) {
        return BAD(err, "Configuration must be a structure");
    }
    json_t *rc =
        json_object_get(conf, update ? "ResultConfigurationUpdates" : "ResultConfiguration");
    if (json_is_object(rc)) {
        const char *loc = in_str(rc, "OutputLocation");
        if (loc != NULL) {
            if (strncmp(loc, "s3://", 5) != 0 || strlen(loc) <= 5) {
                return BAD(err, "The S3 location provided to save your query results is invalid. "
                                "Please check your S3 location is correct and is in the same "
                                "region and try again.");
            }
            free(w->output_location);
            w->output_location = xstrdup(loc);
        }
        if (update && json_is_true(json_object_get(rc, "RemoveOutputLocation"))) {
            free(w->output_location);
            w->output_location = NULL;
        }
    }
    json_t *v;
    if ((v = json_object_get(conf, "EnforceWorkGroupConfiguration")) != NULL) {
        w->enforce = json_is_true(v);
    }
    if ((v = json_object_get(conf, "PublishCloudWatchMetricsEnabled")) != NULL) {
        w->publish = json_is_true(v);
    }
    if ((v = json_object_get(conf, "BytesScannedCutoffPerQuery")) != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) < QUERY_CUTOFF_MIN_BYTES) {
            return BAD(err, "BytesScannedCutoffPerQuery must be at least %lld",
                       (long long)QUERY_CUTOFF_MIN_BYTES);
        }
        w->cutoff = json_integer_value(v);
    }
    if (update && json_is_true(json_object_get(conf, "RemoveBytesScannedCutoffPerQuery"))) {
        w->cutoff = 0;
    }
    return 0;
}

int query__op_CreateWorkGroup(struct query_service *svc, json_t *in, json_t **out,
                              struct err_info *err)
{
    const char *name = in_str(in, "Name");
    if (!name_ok(name)) {
        return BAD(err, "WorkGroup name must match [a-zA-Z0-9._-]{1,128}");
    }
    struct wg w = {0};
    snprintf(w.name, sizeof(w.name), "%s", name);
    snprintf(w.state, sizeof(w.state), "ENABLED");
    w.created_ms = clock_now_ms();
    const char *desc = in_str(in, "Description");
    w.description = desc != NULL ? xstrdup(desc) : NULL;
    json_t *tags = json_object_get(in, "Tags");
    int rc = wg_apply(json_object_get(in, "Configuration"), 0, &w, err);
    if (rc == 0 && tags != NULL) {
        rc = query__tags_check(tags, err);
    }
    if (rc == 0) {
        rc = wg_save(svc, &w, 1, err);
    }
    if (rc == 0 && tags != NULL) {
        char *arn = query__wg_arn(svc, name);
        rc = query__tags_put(svc, arn, tags, err);
        free(arn);
    }
    wg_fini(&w);
    if (rc == 0) {
        *out = json_object();
    }
    return rc;
}

int query__op_GetWorkGroup(struct query_service *svc, json_t *in, json_t **out,
                           struct err_info *err)
{
    struct wg w;
    const char *name = in_str(in, "WorkGroup");
    int rc = wg_load(svc, name != NULL ? name : "", &w, err);
    if (rc < 0) {
        return rc;
    }
    json_t *conf = json_pack("{s:b, s:b, s:b, s:o}", "EnforceWorkGroupConfiguration", w.enforce,
                             "PublishCloudWatchMetricsEnabled", w.publish, "RequesterPaysEnabled",
                             0, "EngineVersion", engine_version());
    json_t *rconf = json_object();
    if (w.output_location != NULL) {
        json_object_set_new(rconf, "OutputLocation", json_string(w.output_location));
    }
    json_object_set_new(conf, "ResultConfiguration", rconf);
    if (w.cutoff > 0) {
        json_object_set_new(conf, "BytesScannedCutoffPerQuery", json_integer(w.cutoff));
    }
    json_t *wg = json_pack("{s:s, s:s, s:o, s:o}", "Name", w.name, "State", w.state,
                           "Configuration", conf, "CreationTime", epoch(w.created_ms));
    if (w.description != NULL) {
        json_object_set_new(wg, "Description", json_string(w.description));
    }
    *out = json_pack("{s:o}", "WorkGroup", wg);
    wg_fini(&w);
    return 0;
}

int query__op_ListWorkGroups(struct query_service *svc, json_t *in, json_t **out,
                             struct err_info *err)
{
    json_t *list = json_array();
    struct store_stmt *stmt = NULL;
    store_read_begin(svc->st);
    int rc = store_prepare(svc->st,
                           "SELECT name, state, description, created_ms FROM query_workgroups"
                           " ORDER BY name",
                           &stmt);
    while (rc == 0 && (rc = store_step(stmt)) == 1) {
        json_t *o = json_pack("{s:s, s:s, s:o, s:o}", "Name", store_col_text(stmt, 0), "State",
                              store_col_text(stmt, 1), "CreationTime",
                              epoch(store_col_int64(stmt, 3)), "EngineVersion", engine_version());
        if (!store_col_is_null(stmt, 2)) {
            json_object_set_new(o, "Description", json_string(store_col_text(stmt, 2)));
        }
        json_array_append_new(list, o);
        rc = 0;
    }
    store_finalize(stmt);
    store_read_end(svc->st);
    if (rc < 0) {
        json_decref(list);
        return rc;
    }
    json_t *page = NULL;
    char next[24];
    if ((rc = query__page_of(list, in, 50, &page, next, err)) < 0) {
        return rc;
    }
    *out = json_pack("{s:o}", "WorkGroups", page);
    set_next(*out, next);
    return 0;
}

int query__op_UpdateWorkGroup(struct query_service *svc, json_t *in, json_t **out,
                              struct err_info *err)
{
    struct wg w;
    const char *name = in_str(in, "WorkGroup");
    int rc = wg_load(svc, name != NULL ? name : "", &w, err);
    if (rc < 0) {
        return rc;
    }
    const char *desc = in_str(in, "Description");
    if (desc != NULL) {
        free(w.description);
        w.description = xstrdup(desc);
    }
    const char *state = in_str(in, "State");
    if (state != NULL) {
        if (strcmp(state, "ENABLED") != 0 && strcmp(state, "DISABLED") != 0) {
            wg_fini(&w);
            return BAD(err, "State must be ENABLED or DISABLED");
        }
        snprintf(w.state, sizeof(w.state), "%s", state);
    }
    rc = wg_apply(json_object_get(in, "ConfigurationUpdates"), 1, &w, err);
    if (rc == 0) {
        rc = wg_save(svc, &w, 0, err);
    }
    wg_fini(&w);
    if (rc == 0) {
        *out = json_object();
    }
    return rc;
}

int query__op_DeleteWorkGroup(struct query_service *svc, json_t *in, json_t **out,
                              struct err_info *err)
{
    const char *name = in_str(in, "WorkGroup");
    struct wg w;
    int rc = wg_load(svc, name != NULL ? name : "", &w, err);
    if (rc < 0) {
        return rc;
    }
    wg_fini(&w);
    if (strcmp(name, "primary") == 0) {
        return BAD(err, "Primary WorkGroup cannot be deleted");
    }
    /* Without RecursiveDeleteOption AWS refuses a workgroup that holds anything. */
    rc = query__wg_delete_contents(svc, name,
                                   json_is_true(json_object_get(in, "RecursiveDeleteOption")), err);
    if (rc < 0) {
        return rc;
    }
    char *arn = query__wg_arn(svc, name);
    query__tags_drop(svc, arn);
    free(arn);
    store_lock(svc->st);
    struct store_stmt *stmt = NULL;
    rc = store_prepare(svc->st, "DELETE FROM query_workgroups WHERE name = ?", &stmt);
    if (rc == 0) {
        store_bind_text(stmt, 1, name);
        rc = store_step(stmt);
    }
    store_finalize(stmt);
    store_unlock(svc->st);
    if (rc < 0) {
        return rc;
    }
    *out = json_object();
    return 0;
}

/* ---- query executions ---- */

/* The number of ? placeholders of q outside quotes. */
static size_t count_placeholders(const char *q)
{
    size_t n = 0;
    char quote = 0;
    for (const char *p = q; *p != '\0'; p++) {
        if (quote != 0) {
            quote = *p == quote ? 0 : quote;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
        } else if (*p == '?') {
            n++;
        }
    }
    return n;
}

/* Replaces each ? outside quotes with the next execution parameter (strings, checked by the
 * caller). 0; or 1 when their numbers differ, with Athena's message in fail (the query then
 * fails, as Athena's does, rather than the call). */
static int bind_params(const char *q, json_t *params, struct buf *out, char *fail, size_t fail_len)
{
    size_t n = json_array_size(params), want = count_placeholders(q), used = 0;
    if (want != n) {
        snprintf(fail, fail_len, "Incorrect number of parameters: expected %zu but found %zu", want,
                 n);
        return 1;
    }
    char quote = 0;
    for (const char *p = q; *p != '\0'; p++) {
        if (quote != 0) {
            quote = *p == quote ? 0 : quote;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
        } else if (*p == '?') {
            buf_puts(out, json_string_value(json_array_get(params, used++)));
            continue;
        }
        buf_putc(out, *p);
    }
    buf_putc(out, '\0');
    return buf_status(out);
}

/* Records execution id QUEUED, or FAILED at once with r->failure (a USER error 1006, as
 * Athena reports a wrong number of parameters). */
static int plain_insert(struct query_service *svc, const struct query_start *r, const char *id)
{
    int64_t now = clock_now_ms();
    return store_run(svc->st,
                     "INSERT INTO query_executions(id, seq, workgroup, query, database, catalog,"
                     " output_location, client_token, state, submitted_ms, client_query,"
                     " params_json, reuse_json, reason, err_category, err_type, started_ms,"
                     " completed_ms)"
                     " VALUES (?1, (SELECT coalesce(max(seq), 0) + 1 FROM query_executions),"
                     " ?2, ?3, ?4, 'AwsDataCatalog', ?5, ?6, CASE WHEN ?10 IS NULL THEN 'QUEUED'"
                     " ELSE 'FAILED' END, ?7, ?8, ?9, ?11, ?10, CASE WHEN ?10 IS NULL THEN 0"
                     " ELSE 2 END, CASE WHEN ?10 IS NULL THEN 0 ELSE 1006 END,"
                     " CASE WHEN ?10 IS NULL THEN NULL ELSE ?7 END,"
                     " CASE WHEN ?10 IS NULL THEN NULL ELSE ?7 END)",
                     "ssssssissss", id, r->wg, r->run_text, r->database, r->output, r->token, now,
                     strcmp(r->client_query, r->run_text) != 0 ? r->client_query : NULL,
                     r->params_json, r->failure, r->reuse_json);
}

/* The statement text that runs for QueryString query: an EXECUTE's prepared statement or
 * query itself, with its parameters bound into text (0); 1 when the execution is to fail at
 * once with the message in fail; or an error of the call. */
static int run_text_of(struct query_service *svc, const char *wg, const char *query, json_t *params,
                       struct buf *text, char *fail, size_t fail_len, struct err_info *err)
{
    if (params != NULL) {
        size_t i;
        json_t *v;
        if (!json_is_array(params) || json_array_size(params) < 1) {
            return BAD(err, "ExecutionParameters must hold at least 1 value");
        }
        json_array_foreach(params, i, v)
        {
            if (!json_is_string(v) || json_string_length(v) < 1 || json_string_length(v) > 1024) {
                return BAD(err, "Each execution parameter must be between 1 and 1024 "
                                "characters");
            }
        }
    }
    char *statement = NULL;
    json_t *values = NULL;
    int rc = query__execute_text(svc, wg, query, params, &statement, &values, err);
    if (rc < 0) {
        return rc;
    }
    rc = rc == 1 ? bind_params(statement, values, text, fail, fail_len)
                 : bind_params(query, params, text, fail, fail_len);
    free(statement);
    json_decref(values);
    return rc;
}

/* The caller of req as the query will act (query_caller): root, or any caller when the
   service has no authorizer, goes unchecked. */
static void caller_of(struct query_service *svc, const struct api_request *req,
                      struct query_caller *who)
{
    memset(who, 0, sizeof(*who));
    pthread_mutex_lock(&svc->mu);
    int has_authorizer = svc->authorize != NULL;
    pthread_mutex_unlock(&svc->mu);
    if (req == NULL || !has_authorizer || req->principal_kind == HTTP_PRINCIPAL_ROOT) {
        return;
    }
    who->checked = 1;
    who->kind = req->principal_kind;
    snprintf(who->arn, sizeof(who->arn), "%s", req->principal_arn ? req->principal_arn : "");
    snprintf(who->id, sizeof(who->id), "%s", req->principal_id ? req->principal_id : "");
    snprintf(who->name, sizeof(who->name), "%s", req->principal_name ? req->principal_name : "");
    snprintf(who->key_id, sizeof(who->key_id), "%s", req->access_key_id ? req->access_key_id : "");
    snprintf(who->region, sizeof(who->region), "%s", req->region ? req->region : "");
}

static int start_query(struct query_service *svc, json_t *in, json_t **out,
                       const struct api_request *req, struct err_info *err);

int query__op_StartQueryExecution(struct query_service *svc, json_t *in, json_t **out,
                                  struct err_info *err)
{
    return start_query(svc, in, out, NULL, err);
}

static int start_query(struct query_service *svc, json_t *in, json_t **out,
                       const struct api_request *req, struct err_info *err)
{
    const char *query = in_str(in, "QueryString");
    if (query == NULL || query[0] == '\0' || strlen(query) > 262144) {
        return BAD(err, "QueryString must be between 1 and 262144 characters");
    }
    struct query_start r = {.client_query = query};
    r.wg = in_str(in, "WorkGroup");
    if (r.wg == NULL) {
        r.wg = "primary";
    }
    r.token = in_str(in, "ClientRequestToken");
    if (r.token != NULL && (strlen(r.token) < 32 || strlen(r.token) > 128)) {
        return BAD(err, "ClientRequestToken must be between 32 and 128 characters");
    }
    json_t *ctx = json_object_get(in, "QueryExecutionContext");
    r.database = in_str(ctx, "Database");
    const char *catalog = in_str(ctx, "Catalog");
    if (catalog != NULL && strcasecmp(catalog, "awsdatacatalog") != 0) {
        return BAD(err, "Catalog %s is not found.", catalog);
    }
    json_t *reuse = json_object_get(in, "ResultReuseConfiguration");
    int rc = query__reuse_age(reuse, &r.max_age_ms, err);
    if (rc < 0) {
        return rc;
    }
    struct wg w;
    if ((rc = wg_load(svc, r.wg, &w, err)) < 0) {
        return rc;
    }
    if (strcmp(w.state, "ENABLED") != 0) {
        wg_fini(&w);
        return BAD(err, "WorkGroup %s is disabled.", r.wg);
    }
    const char *client_loc = in_str(json_object_get(in, "ResultConfiguration"), "OutputLocation");
    r.loc = w.enforce && w.output_location != NULL
                ? w.output_location
                : (client_loc != NULL ? client_loc : w.output_location);
    if (r.loc == NULL) {
        wg_fini(&w);
        return BAD(err, "No output location provided. An output location is required either "
                        "through the Workgroup result configuration setting or as an API input.");
    }
    if (strncmp(r.loc, "s3://", 5) != 0 || strchr(r.loc + 5, '/') == r.loc + 5 ||
        r.loc[5] == '\0') {
        wg_fini(&w);
        return BAD(err, "The S3 location provided to save your query results is invalid. Please "
                        "check your S3 location is correct and is in the same region and try "
                        "again.");
    }
    json_t *params = json_object_get(in, "ExecutionParameters");
    struct buf text;
    buf_init(&text);
    char fail[128];
    if ((rc = run_text_of(svc, r.wg, query, params, &text, fail, sizeof(fail), err)) < 0) {
        buf_fini(&text);
        wg_fini(&w);
        return rc;
    }
    r.failure = rc == 1 ? fail : NULL;
    r.run_text = rc == 1 ? query : (const char *)text.data;
    r.params_json = params != NULL ? json_dumps(params, JSON_COMPACT) : NULL;
    r.reuse_json = reuse != NULL ? json_dumps(reuse, JSON_COMPACT) : NULL;
    char id[QUERY_ID_LEN + 1];
    query__new_id(id);
    char *output =
        xasprintf("%s%s%s%s", r.loc,
                  strchr(r.loc + 5, '/') == NULL || r.loc[strlen(r.loc) - 1] != '/' ? "/" : "", id,
                  query__ddl_result_ext(r.run_text));
    r.output = output;

    /* AWS: a query that overrides its workgroup's result configuration reuses nothing */
    int overridden = client_loc != NULL && !(w.enforce && w.output_location != NULL);
    char prev[QUERY_ID_LEN + 1] = "";
    struct query_caller who;
    caller_of(svc, req, &who);
    /* a checked caller runs the query: a result reused would skip its reads' checks */
    if (r.max_age_ms >= 0 && !overridden && r.failure == NULL && !who.checked &&
        query__reusable(r.run_text)) {
        query__reuse_find(svc, &r, prev);
    }
    store_lock(svc->st);
    int existing = r.token != NULL ? query__token_lookup(svc, &r, id, err) : 0;
    int reused = 0;
    rc = existing < 0 ? existing : 0;
    if (existing == 0 && prev[0] != '\0') {
        rc = reused = query__reuse_insert(svc, &r, id, prev);
    }
    if (existing == 0 && rc == 0 && !reused) {
        rc = plain_insert(svc, &r, id);
    }
    store_unlock(svc->st);
    wg_fini(&w);
    free(output);
    free(r.params_json);
    free(r.reuse_json);
    buf_fini(&text);
    if (rc < 0) {
        return rc;
    }
    if (existing == 0 && !reused && r.failure == NULL) {
        query__enqueue(svc, id, &who);
    }
    *out = json_pack("{s:s}", "QueryExecutionId", id);
    return 0;
}

#define EXEC_COLUMNS                                                                               \
    "id, query, database, catalog, output_location, state, reason, err_category, err_type,"        \
    " submitted_ms, started_ms, completed_ms, engine_ms, scanned_bytes, workgroup, columns_json,"  \
    " update_count, manifest, coalesce(client_query, query), params_json, reuse_json,"             \
    " reused_from"

/* The QueryExecution document of the current row. */
static json_t *exec_doc(struct store_stmt *s)
{
    const char *state = store_col_text(s, 5);
    json_t *status =
        json_pack("{s:s, s:o}", "State", state, "SubmissionDateTime", epoch(store_col_int64(s, 9)));
    if (!store_col_is_null(s, 6)) {
        json_object_set_new(status, "StateChangeReason", json_string(store_col_text(s, 6)));
    }
    int64_t submitted = store_col_int64(s, 9);
    int64_t started = store_col_is_null(s, 10) ? 0 : store_col_int64(s, 10);
    int64_t completed = store_col_is_null(s, 11) ? 0 : store_col_int64(s, 11);
    if (completed > 0) {
        json_object_set_new(status, "CompletionDateTime", epoch(completed));
    }
    if (strcmp(state, "FAILED") == 0) {
        json_object_set_new(
            status, "AthenaError",
            json_pack("{s:I, s:I, s:b, s:s}", "ErrorCategory", (json_int_t)store_col_int64(s, 7),
                      "ErrorType", (json_int_t)store_col_int64(s, 8), "Retryable", 0,
                      "ErrorMessage", store_col_is_null(s, 6) ? "" : store_col_text(s, 6)));
    }
    json_t *stats = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:{s:b}}", "EngineExecutionTimeInMillis",
        (json_int_t)store_col_int64(s, 12), "DataScannedInBytes",
        (json_int_t)store_col_int64(s, 13), "TotalExecutionTimeInMillis",
        (json_int_t)(completed > 0 ? completed - submitted : 0), "QueryQueueTimeInMillis",
        (json_int_t)(started > 0 ? started - submitted : 0), "ServicePreProcessingTimeInMillis",
        (json_int_t)0, "QueryPlanningTimeInMillis", (json_int_t)0, "ServiceProcessingTimeInMillis",
        (json_int_t)0, "ResultReuseInformation", "ReusedPreviousResult", !store_col_is_null(s, 21));
    if (!store_col_is_null(s, 17)) {
        json_object_set_new(stats, "DataManifestLocation", json_string(store_col_text(s, 17)));
    }
    json_t *ctx = json_pack("{s:s}", "Catalog", "awsdatacatalog");
    enum query_ddl_kind kind = query__ddl_classify(store_col_text(s, 1));
    if (!store_col_is_null(s, 2)) {
        json_object_set_new(ctx, "Database", json_string(store_col_text(s, 2)));
    }
    json_t *doc = json_pack(
        "{s:s, s:s, s:s, s:s, s:{s:s}, s:o, s:o, s:o, s:s, s:o}", "QueryExecutionId",
        store_col_text(s, 0), "Query", store_col_text(s, 18), "StatementType",
        query__ddl_statement_type(kind), "SubstatementType",
        kind != QUERY_DDL_NONE ? query__ddl_substatement_type(kind)
                               : query__write_substatement(query__write_kind(store_col_text(s, 1))),
        "ResultConfiguration", "OutputLocation", store_col_text(s, 4), "QueryExecutionContext", ctx,
        "Status", status, "Statistics", stats, "WorkGroup", store_col_text(s, 14), "EngineVersion",
        engine_version());
    /* what the client sent with the query, as AWS echoes it */
    json_t *params = store_col_is_null(s, 19) ? NULL : json_loads(store_col_text(s, 19), 0, NULL);
    json_t *reuse = store_col_is_null(s, 20) ? NULL : json_loads(store_col_text(s, 20), 0, NULL);
    if (params != NULL) {
        json_object_set_new(doc, "ExecutionParameters", params);
    }
    if (reuse != NULL) {
        json_object_set_new(doc, "ResultReuseConfiguration", reuse);
    }
    return doc;
}

/* Calls fn with the row of execution id (inside a read bracket). 0, or not found. */
static int with_exec(struct query_service *svc, const char *id,
                     void (*fn)(void *arg, struct store_stmt *s), void *arg, struct err_info *err)
{
    struct store_stmt *stmt = NULL;
    store_read_begin(svc->st);
    int rc =
        store_prepare(svc->st, "SELECT " EXEC_COLUMNS " FROM query_executions WHERE id = ?", &stmt);
    if (rc == 0) {
        store_bind_text(stmt, 1, id != NULL ? id : "");
        rc = store_step(stmt);
        if (rc == 1) {
            fn(arg, stmt);
            rc = 0;
        } else if (rc == 0) {
            rc = BAD(err, "QueryExecution %s was not found", id != NULL ? id : "");
        }
    }
    store_finalize(stmt);
    store_read_end(svc->st);
    return rc;
}

static void take_doc(void *arg, struct store_stmt *s)
{
    *(json_t **)arg = exec_doc(s);
}

int query__op_GetQueryExecution(struct query_service *svc, json_t *in, json_t **out,
                                struct err_info *err)
{
    json_t *doc = NULL;
    int rc = with_exec(svc, in_str(in, "QueryExecutionId"), take_doc, &doc, err);
    if (rc < 0) {
        return rc;
    }
    *out = json_pack("{s:o}", "QueryExecution", doc);
    return 0;
}

int query__op_BatchGetQueryExecution(struct query_service *svc, json_t *in, json_t **out,
                                     struct err_info *err)
{
    json_t *ids = json_object_get(in, "QueryExecutionIds");
    if (json_array_size(ids) < 1 || json_array_size(ids) > 50) {
        return BAD(err, "QueryExecutionIds must hold 1 to 50 ids");
    }
    json_t *found = json_array(), *missing = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        json_t *doc = NULL;
        struct err_info e = {0};
        if (with_exec(svc, json_string_value(v), take_doc, &doc, &e) == 0) {
            json_array_append_new(found, doc);
        } else {
            json_array_append_new(
                missing, json_pack("{s:s, s:s, s:s}", "QueryExecutionId",
                                   json_string_value(v) ? json_string_value(v) : "", "ErrorCode",
                                   "INVALID_INPUT", "ErrorMessage", e.message));
        }
    }
    *out =
        json_pack("{s:o, s:o}", "QueryExecutions", found, "UnprocessedQueryExecutionIds", missing);
    return 0;
}

int query__op_ListQueryExecutions(struct query_service *svc, json_t *in, json_t **out,
                                  struct err_info *err)
{
    const char *wg_name = in_str(in, "WorkGroup");
    if (wg_name == NULL) {
        wg_name = "primary";
    }
    struct wg w;
    int rc = wg_load(svc, wg_name, &w, err);
    if (rc < 0) {
        return rc;
    }
    wg_fini(&w);
    json_int_t max = 50;
    json_t *m = json_object_get(in, "MaxResults");
    if (m != NULL) {
        max = json_integer_value(m);
        if (max < 0 || max > 50) {
            return BAD(err, "MaxResults must be between 0 and 50");
        }
    }
    int64_t before = INT64_MAX;
    const char *token = in_str(in, "NextToken");
    if (token != NULL) {
        char *end = NULL;
        before = strtoll(token, &end, 10);
        if (end == token || *end != '\0') {
            return BAD(err, "Invalid NextToken");
        }
    }
    json_t *list = json_array();
    struct store_stmt *stmt = NULL;
    int64_t last = 0;
    int more = 0;
    store_read_begin(svc->st);
    rc = store_prepare(svc->st,
                       "SELECT id, seq FROM query_executions WHERE workgroup = ? AND seq < ?"
                       " ORDER BY seq DESC LIMIT ?",
                       &stmt);
    if (rc == 0) {
        store_bind_text(stmt, 1, wg_name);
        store_bind_int64(stmt, 2, before);
        store_bind_int64(stmt, 3, max + 1);
        while ((rc = store_step(stmt)) == 1) {
            if ((json_int_t)json_array_size(list) == max) {
                more = 1;
                break;
            }
            json_array_append_new(list, json_string(store_col_text(stmt, 0)));
            last = store_col_int64(stmt, 1);
        }
    }
    store_finalize(stmt);
    store_read_end(svc->st);
    if (rc < 0) {
        json_decref(list);
        return rc;
    }
    *out = json_pack("{s:o}", "QueryExecutionIds", list);
    if (more) {
        char t[32];
        snprintf(t, sizeof(t), "%lld", (long long)last);
        json_object_set_new(*out, "NextToken", json_string(t));
    }
    return 0;
}

struct exec_brief {
    char state[16];
    char *output_location;
    char *columns_json;
    int64_t update_count; /* -1: a SELECT */
};

static void take_brief(void *arg, struct store_stmt *s)
{
    struct exec_brief *b = arg;
    snprintf(b->state, sizeof(b->state), "%s", store_col_text(s, 5));
    b->output_location = xstrdup(store_col_text(s, 4));
    b->columns_json = store_col_is_null(s, 15) ? NULL : xstrdup(store_col_text(s, 15));
    b->update_count = store_col_is_null(s, 16) ? -1 : store_col_int64(s, 16);
}

int query__op_StopQueryExecution(struct query_service *svc, json_t *in, json_t **out,
                                 struct err_info *err)
{
    const char *id = in_str(in, "QueryExecutionId");
    struct exec_brief b = {0};
    int rc = with_exec(svc, id, take_brief, &b, err);
    free(b.output_location);
    free(b.columns_json);
    if (rc < 0) {
        return rc;
    }
    if (strcmp(b.state, "QUEUED") == 0 || strcmp(b.state, "RUNNING") == 0) {
        enum query_state from = b.state[0] == 'Q' ? QUERY_QUEUED : QUERY_RUNNING;
        if (query__exec_set_state(svc, id, from, QUERY_CANCELLED, "Query cancelled by user", 0, 0,
                                  -1, 0, NULL) == 0 &&
            from == QUERY_RUNNING) {
            query__interrupt(svc, id);
        } else if (from == QUERY_QUEUED) {
            /* It may have started meanwhile. */
            if (query__exec_set_state(svc, id, QUERY_RUNNING, QUERY_CANCELLED,
                                      "Query cancelled by user", 0, 0, -1, 0, NULL) == 0) {
                query__interrupt(svc, id);
            }
        }
    }
    *out = json_object();
    return 0;
}

struct page {
    json_t *rows;
    json_t *cur;
};

static void on_field(void *arg, const char *value, size_t len)
{
    struct page *p = arg;
    json_array_append_new(p->cur, value == NULL ? json_object()
                                                : json_pack("{s:s%}", "VarCharValue", value, len));
}

/* One line of a .txt result as one datum; 1, or 0 at the end. */
static int text_record(const struct buf *txt, size_t *pos, struct page *pg)
{
    if (*pos >= txt->len) {
        return 0;
    }
    const char *start = (const char *)txt->data + *pos;
    const char *nl = memchr(start, '\n', txt->len - *pos);
    size_t len = nl != NULL ? (size_t)(nl - start) : txt->len - *pos;
    on_field(pg, start, len);
    *pos += len + (nl != NULL);
    return 1;
}

int query__op_GetQueryResults(struct query_service *svc, json_t *in, json_t **out,
                              struct err_info *err)
{
    const char *id = in_str(in, "QueryExecutionId");
    json_int_t max = QUERY_RESULTS_MAX_PAGE;
    json_t *m = json_object_get(in, "MaxResults");
    if (m != NULL) {
        max = json_integer_value(m);
        if (max < 1 || max > QUERY_RESULTS_MAX_PAGE) {
            return BAD(err, "MaxResults is more than maximum allowed length 1000");
        }
    }
    long long start = 0;
    const char *token = in_str(in, "NextToken");
    if (token != NULL) {
        char *end = NULL;
        start = strtoll(token, &end, 10);
        if (end == token || *end != '\0' || start < 1) {
            return BAD(err, "Invalid NextToken");
        }
    }
    struct exec_brief b = {0};
    int rc = with_exec(svc, id, take_brief, &b, err);
    if (rc < 0) {
        return rc;
    }
    if (strcmp(b.state, "QUEUED") == 0 || strcmp(b.state, "RUNNING") == 0) {
        rc = BAD(err, "Query has not yet finished. Current state: %s", b.state);
        goto out;
    }
    if (strcmp(b.state, "SUCCEEDED") != 0) {
        rc = BAD(err, "Query did not finish successfully. Final query state: %s", b.state);
        goto out;
    }
    char bucket[LAKE_BUCKET_NAME_MAX + 1];
    const char *slash = strchr(b.output_location + 5, '/');
    size_t bl = slash != NULL ? (size_t)(slash - (b.output_location + 5)) : 0;
    if (bl == 0 || bl >= sizeof(bucket)) {
        rc = BAD(err, "Query results are not available");
        goto out;
    }
    memcpy(bucket, b.output_location + 5, bl);
    bucket[bl] = '\0';
    struct buf csv, scratch;
    buf_init(&csv);
    buf_init(&scratch);
    struct err_info e = {0};
    /* CTAS, INSERT INTO, UNLOAD: no rows, the count in UpdateCount */
    if (b.update_count < 0 && lake_object_read(svc->lake, bucket, slash + 1, &csv, NULL, &e) < 0) {
        buf_fini(&csv);
        buf_fini(&scratch);
        rc = BAD(err, "The query results are no longer at their output location %s",
                 b.output_location);
        goto out;
    }
    struct page pg = {json_array(), NULL};
    size_t pos = 0;
    long long rec = 0;
    int more = 0;
    /* A DDL statement's .txt result: each line is a row holding one datum. */
    size_t ol = strlen(b.output_location);
    int text = ol > 4 && strcmp(b.output_location + ol - 4, ".txt") == 0;
    for (;;) {
        json_t *row = json_array();
        pg.cur = row;
        int n = text ? text_record(&csv, &pos, &pg)
                     : query__csv_record(csv.data != NULL ? (const char *)csv.data : "", csv.len,
                                         &pos, &scratch, on_field, &pg);
        if (n <= 0) {
            json_decref(row);
            break;
        }
        if (rec >= start && (json_int_t)json_array_size(pg.rows) == max) {
            json_decref(row);
            more = 1;
            break;
        }
        if (rec >= start) {
            json_array_append_new(pg.rows, json_pack("{s:o}", "Data", row));
        } else {
            json_decref(row);
        }
        rec++;
    }
    buf_fini(&csv);
    buf_fini(&scratch);
    json_t *info = json_array();
    json_t *cols = b.columns_json != NULL ? json_loads(b.columns_json, 0, NULL) : NULL;
    size_t i;
    json_t *c;
    json_array_foreach(cols, i, c)
    {
        const char *type = json_string_value(json_object_get(c, "Type"));
        const char *name = json_string_value(json_object_get(c, "Name"));
        json_array_append_new(info, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:O, s:s, s:b}",
                                              "CatalogName", "hive", "SchemaName", "", "TableName",
                                              "", "Name", name, "Label", name, "Type", type,
                                              "Precision", json_object_get(c, "Precision"), "Scale",
                                              json_object_get(c, "Scale"), "Nullable", "UNKNOWN",
                                              "CaseSensitive", strcmp(type, "varchar") == 0));
    }
    json_decref(cols);
    *out = json_pack("{s:I, s:{s:o, s:{s:o}}}", "UpdateCount",
                     (json_int_t)(b.update_count > 0 ? b.update_count : 0), "ResultSet", "Rows",
                     pg.rows, "ResultSetMetadata", "ColumnInfo", info);
    if (more) {
        char t[32];
        snprintf(t, sizeof(t), "%lld", rec);
        json_object_set_new(*out, "NextToken", json_string(t));
    }
    rc = 0;
out:
    free(b.output_location);
    free(b.columns_json);
    return rc;
}

/* ---- the data catalog (Glue) ---- */

static int catalog_ok(json_t *in, struct err_info *err)
{
    const char *c = in_str(in, "CatalogName");
    if (c == NULL) {
        c = in_str(in, "Name");
    }
    if (c == NULL || strcasecmp(c, "awsdatacatalog") != 0) {
        return BAD(err, "Catalog %s is not found.", c != NULL ? c : "");
    }
    return 0;
}

int query__op_ListDataCatalogs(struct query_service *svc, json_t *in, json_t **out,
                               struct err_info *err)
{
    (void)svc;
    (void)in;
    (void)err;
    *out = json_pack("{s:[{s:s, s:s}]}", "DataCatalogsSummary", "CatalogName", "AwsDataCatalog",
                     "Type", "GLUE");
    return 0;
}

int query__op_GetDataCatalog(struct query_service *svc, json_t *in, json_t **out,
                             struct err_info *err)
{
    int rc = catalog_ok(in, err);
    if (rc < 0) {
        return rc;
    }
    *out = json_pack("{s:{s:s, s:s, s:s, s:{s:s}}}", "DataCatalog", "Name", "AwsDataCatalog",
                     "Description", "AWS Glue Data Catalog", "Type", "GLUE", "Parameters",
                     "catalog-id", svc->cfg->account_id);
    return 0;
}

static int collect_name(void *arg, const char *name)
{
    json_array_append_new(arg, json_string(name));
    return 0;
}

static struct catalog_scope scope_of(struct query_service *svc)
{
    struct catalog_scope sc = {svc->cfg->region, svc->cfg->account_id};
    return sc;
}

int query__op_ListDatabases(struct query_service *svc, json_t *in, json_t **out,
                            struct err_info *err)
{
    int rc = catalog_ok(in, err);
    if (rc < 0) {
        return rc;
    }
    json_t *names = json_array();
    struct catalog_scope sc = scope_of(svc);
    rc = catalog_database_list(svc->cat, &sc, collect_name, names, err);
    if (rc < 0) {
        json_decref(names);
        return rc;
    }
    json_t *list = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v)
    {
        json_array_append_new(list, json_pack("{s:O, s:{}}", "Name", v, "Parameters"));
    }
    json_decref(names);
    json_t *page = NULL;
    char next[24];
    if ((rc = query__page_of(list, in, 50, &page, next, err)) < 0) {
        return rc;
    }
    *out = json_pack("{s:o}", "DatabaseList", page);
    set_next(*out, next);
    return 0;
}

/* Checks that database db exists (its table names go to names); MetadataException
 * otherwise. */
static int db_exists(struct query_service *svc, const char *db, json_t *names, struct err_info *err)
{
    struct catalog_scope sc = scope_of(svc);
    struct err_info e = {0};
    int rc = catalog_table_list(svc->cat, &sc, db != NULL ? db : "", collect_name, names, &e);
    if (rc < 0) {
        return err_set(err, SL_E(ATHENA_METADATA), "Database %s not found.", db != NULL ? db : "");
    }
    return 0;
}

int query__op_GetDatabase(struct query_service *svc, json_t *in, json_t **out, struct err_info *err)
{
    int rc = catalog_ok(in, err);
    if (rc < 0) {
        return rc;
    }
    json_t *names = json_array();
    const char *db = in_str(in, "DatabaseName");
    rc = db_exists(svc, db, names, err);
    json_decref(names);
    if (rc < 0) {
        return rc;
    }
    *out = json_pack("{s:{s:s, s:{}}}", "Database", "Name", db, "Parameters");
    return 0;
}

static json_t *columns_doc(const struct catalog_column *c, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_pack("{s:s, s:s}", "Name", c[i].name, "Type", c[i].type);
        if (c[i].comment != NULL) {
            json_object_set_new(o, "Comment", json_string(c[i].comment));
        }
        json_array_append_new(a, o);
    }
    return a;
}

static int table_doc(struct query_service *svc, const char *db, const char *table, json_t **doc,
                     struct err_info *err)
{
    struct catalog_scope sc = scope_of(svc);
    struct catalog_table_desc *d = NULL;
    struct err_info e = {0};
    if (catalog_table_describe(svc->cat, &sc, db, table, &d, &e) < 0) {
        return err_set(err, SL_E(ATHENA_METADATA), "Table %s not found.", table);
    }
    json_t *params = json_object();
    for (size_t i = 0; i < d->n_parameters; i++) {
        json_object_set_new(params, d->parameters[i].key, json_string(d->parameters[i].value));
    }
    if (d->location != NULL) {
        json_object_set_new(params, "location", json_string(d->location));
    }
    if (d->input_format != NULL) {
        json_object_set_new(params, "inputformat", json_string(d->input_format));
    }
    if (d->output_format != NULL) {
        json_object_set_new(params, "outputformat", json_string(d->output_format));
    }
    if (d->serde_library != NULL) {
        json_object_set_new(params, "serde.serialization.lib", json_string(d->serde_library));
    }
    *doc = json_pack("{s:s, s:o, s:s, s:o, s:o, s:o}", "Name", d->name, "CreateTime",
                     epoch(d->update_time_ms), "TableType",
                     d->table_type != NULL ? d->table_type : "EXTERNAL_TABLE", "Columns",
                     columns_doc(d->columns, d->n_columns), "PartitionKeys",
                     columns_doc(d->partition_keys, d->n_partition_keys), "Parameters", params);
    catalog_table_desc_destroy(d);
    return 0;
}

int query__op_ListTableMetadata(struct query_service *svc, json_t *in, json_t **out,
                                struct err_info *err)
{
    int rc = catalog_ok(in, err);
    if (rc < 0) {
        return rc;
    }
    json_t *names = json_array();
    const char *db = in_str(in, "DatabaseName");
    if ((rc = db_exists(svc, db, names, err)) < 0) {
        json_decref(names);
        return rc;
    }
    const char *expr = in_str(in, "Expression");
    json_t *list = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v)
    {
        const char *name = json_string_value(v);
        if (expr != NULL && strcasestr(name, expr) == NULL) {
            continue;
        }
        json_t *doc = NULL;
        if (table_doc(svc, db, name, &doc, err) == 0) {
            json_array_append_new(list, doc);
        }
    }
    json_decref(names);
    json_t *page = NULL;
    char next[24];
    if ((rc = query__page_of(list, in, 50, &page, next, err)) < 0) {
        return rc;
    }
    *out = json_pack("{s:o}", "TableMetadataList", page);
    set_next(*out, next);
    return 0;
}

int query__op_GetTableMetadata(struct query_service *svc, json_t *in, json_t **out,
                               struct err_info *err)
{
    int rc = catalog_ok(in, err);
    if (rc < 0) {
        return rc;
    }
    json_t *names = json_array();
    const char *db = in_str(in, "DatabaseName");
    rc = db_exists(svc, db, names, err);
    json_decref(names);
    if (rc < 0) {
        return rc;
    }
    const char *table = in_str(in, "TableName");
    json_t *doc = NULL;
    if ((rc = table_doc(svc, db, table != NULL ? table : "", &doc, err)) < 0) {
        return rc;
    }
    *out = json_pack("{s:o}", "TableMetadata", doc);
    return 0;
}

/* ---- registration ---- */

static int run(struct api_call *call, json_t *input, json_t **output, query_op_fn fn)
{
    json_t *hold, *out = NULL;
    input = api_json_input(input, &hold);
    /* a query acts as its caller: the one operation that needs who signed */
    int rc = fn == query__op_StartQueryExecution
                 ? start_query(call->service_ctx, input, &out, call->req, &call->err)
                 : fn(call->service_ctx, input, &out, &call->err);
    json_decref(hold);
    return api_json_end(call, rc, out, output);
}

#define ATHENA_OP_FN(name)                                                                         \
    static int op_##name(struct api_call *call, json_t *input, json_t **output)                    \
    {                                                                                              \
        return run(call, input, output, query__op_##name);                                         \
    }
QUERY_OPS(ATHENA_OP_FN)
#undef ATHENA_OP_FN

#define ATHENA_OP_ENTRY(name) {#name, op_##name, NULL},
static const struct api_json_op athena_ops[] = {QUERY_OPS(ATHENA_OP_ENTRY)};
#undef ATHENA_OP_ENTRY

static const struct api_json_service athena_template = {
    .signing_name = "athena",
    .target_prefix = "AmazonAthena",
    .json_version = "1.1",
    .ops = athena_ops,
    .n_ops = sizeof(athena_ops) / sizeof(athena_ops[0]),
};

struct api_json_service *athena_api_create(struct query_service *svc)
{
    struct api_json_service *api = xmalloc(sizeof(*api));
    *api = athena_template;
    api->ctx = svc;
    return api;
}

void athena_api_destroy(struct api_json_service *svc)
{
    free(svc);
}
