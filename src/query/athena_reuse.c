/*
 * What StartQueryExecution decides before it records an execution: whether a
 * ClientRequestToken was used before (and with the same parameters), and whether a
 * previous result answers the query (ResultReuseConfiguration).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/mem.h"
#include "query/query_int.h"

#define BAD(err, ...) err_set((err), SL_E(ATHENA_INVALID_REQUEST), __VA_ARGS__)

/* The reuse asked by a ResultReuseConfiguration: *max_age_ms < 0 when none. */
int query__reuse_age(json_t *conf, int64_t *max_age_ms, struct err_info *err)
{
    *max_age_ms = -1;
    json_t *by_age = json_object_get(conf, "ResultReuseByAgeConfiguration");
    if (by_age == NULL) {
        return 0;
    }
    json_t *enabled = json_object_get(by_age, "Enabled");
    if (!json_is_boolean(enabled)) {
        return BAD(err, "ResultReuseByAgeConfiguration.Enabled is required");
    }
    json_t *age = json_object_get(by_age, "MaxAgeInMinutes");
    json_int_t minutes = 60; /* AWS's default */
    if (age != NULL) {
        if (!json_is_integer(age) || json_integer_value(age) < 0 ||
            json_integer_value(age) > 10080) {
            return BAD(err, "MaxAgeInMinutes must be between 0 and 10080");
        }
        minutes = json_integer_value(age);
    }
    if (json_is_true(enabled)) {
        *max_age_ms = (int64_t)minutes * 60000;
    }
    return 0;
}

/* 1 when text starts with keyword kw (any case) as a whole word. */
static int starts_word(const char *text, const char *kw)
{
    size_t n = strlen(kw);
    return strncasecmp(text, kw, n) == 0 && !isalnum((unsigned char)text[n]) && text[n] != '_';
}

/* 1 when a previous result may answer text: a query (SELECT, WITH ... SELECT; AWS reuses
 * SELECT and EXECUTE, and EXECUTE arrives here as the statement it runs). */
int query__reusable(const char *text)
{
    while (isspace((unsigned char)*text) || *text == '(') {
        text++;
    }
    return starts_word(text, "SELECT") || starts_word(text, "WITH");
}

/* Under the store lock: the execution a ClientRequestToken already started, in id (1), or
 * 0 when the token is new. AWS refuses a token reused with other parameters. */
int query__token_lookup(struct query_service *svc, const struct query_start *r,
                        char id[QUERY_ID_LEN + 1], struct err_info *err)
{
    struct store_stmt *s = store_prepare_args(
        svc->st,
        "SELECT id, coalesce(client_query, query) = ?2 AND workgroup = ?3 AND database IS ?4"
        " AND params_json IS ?5 FROM query_executions WHERE client_token = ?1",
        "sssss", r->token, r->client_query, r->wg, r->database, r->params_json);
    int rc = s != NULL ? store_step(s) : SL_E(IO);
    if (rc == 1) {
        snprintf(id, QUERY_ID_LEN + 1, "%s", store_col_text(s, 0));
        rc = store_col_int64(s, 1) ? 1 : BAD(err, "Idempotent parameters do not match");
    }
    store_finalize(s);
    return rc;
}

/* The newest SUCCEEDED execution whose result r may reuse, in prev ("" when none): its query
 * string and parameters are the same (AWS: "an exact match"), so is its statement (a
 * prepared statement updated since gives a new run), its database and workgroup; its
 * result is in the same location, no older than r->max_age_ms, and still there. Whether
 * the tables changed since is not looked at, as in AWS: the age bounds the staleness. */
void query__reuse_find(struct query_service *svc, const struct query_start *r,
                       char prev[QUERY_ID_LEN + 1])
{
    prev[0] = '\0';
    size_t n = strlen(r->loc);
    char *prefix = xasprintf("%s%s", r->loc, n > 0 && r->loc[n - 1] == '/' ? "" : "/");
    char *location = NULL;
    store_read_begin(svc->st);
    struct store_stmt *s = store_prepare_args(
        svc->st,
        "SELECT coalesce(reused_from, id), output_location FROM query_executions"
        " WHERE workgroup = ? AND query = ? AND database IS ? AND coalesce(client_query, query) = ?"
        " AND params_json IS ? AND state = 'SUCCEEDED' AND completed_ms >= ?"
        " AND substr(output_location, 1, ?) = ? AND columns_json IS NOT NULL"
        " ORDER BY completed_ms DESC LIMIT 1",
        "sssssiis", r->wg, r->run_text, r->database, r->client_query, r->params_json,
        clock_now_ms() - r->max_age_ms, (int64_t)strlen(prefix), prefix);
    if (s != NULL && store_step(s) == 1) {
        snprintf(prev, QUERY_ID_LEN + 1, "%s", store_col_text(s, 0));
        location = xstrdup(store_col_text(s, 1));
    }
    store_finalize(s);
    store_read_end(svc->st);
    free(prefix);
    if (location == NULL) {
        return;
    }
    /* the result object must still be there to be read */
    char bucket[LAKE_BUCKET_NAME_MAX + 1];
    const char *slash = strchr(location + 5, '/');
    size_t bl = slash != NULL ? (size_t)(slash - (location + 5)) : 0;
    struct err_info e = {0};
    if (bl == 0 || bl >= sizeof(bucket)) {
        prev[0] = '\0';
    } else {
        memcpy(bucket, location + 5, bl);
        bucket[bl] = '\0';
        if (lake_object_head(svc->lake, bucket, slash + 1, NULL, &e) < 0) {
            prev[0] = '\0';
        }
    }
    free(location);
}

/* Under the store lock: records execution id as SUCCEEDED on the result of execution prev
 * (found by reuse_find), with nothing scanned. */
int query__reuse_insert(struct query_service *svc, const struct query_start *r, const char *id,
                        const char *prev)
{
    int64_t now = clock_now_ms();
    int rc = store_run(
        svc->st,
        "INSERT INTO query_executions(id, seq, workgroup, query, database, catalog,"
        " output_location, client_token, state, submitted_ms, started_ms, completed_ms,"
        " scanned_bytes, columns_json, client_query, params_json, reuse_json, reused_from)"
        " SELECT ?1, (SELECT coalesce(max(seq), 0) + 1 FROM query_executions), workgroup, query,"
        " database, catalog, output_location, ?2, 'SUCCEEDED', ?3, ?3, ?3, 0, columns_json, ?4,"
        " ?5, ?6, id FROM query_executions WHERE id = ?7 AND state = 'SUCCEEDED'",
        "ssissss", id, r->token, now, r->client_query, r->params_json, r->reuse_json, prev);
    if (rc < 0) {
        return rc;
    }
    return store_changes(svc->st) == 1;
}
