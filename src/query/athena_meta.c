/*
 * Athena's operations about resources rather than queries: tags on workgroups and data
 * catalogs (TagResource, UntagResource, ListTagsForResource), GetQueryRuntimeStatistics
 * and ListEngineVersions.
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
#define TAGS_MAX 50 /* tags on one resource */

static const char *in_str(json_t *in, const char *key)
{
    return json_string_value(json_object_get(in, key));
}

/* Characters (not bytes) of UTF-8 text s. */
static size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++) {
        n += ((unsigned char)*s & 0xc0) != 0x80;
    }
    return n;
}

/* ---- tags ---- */

/* 1 when s holds only what AWS allows in tags: letters and digits (any in UTF-8), spaces
 * and + - = . _ : / @. */
static int tag_chars_ok(const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x80 && !isalnum(c) && strchr(" +-=._:/@", c) == NULL) {
            return 0;
        }
    }
    return 1;
}

/* Checks that arn names a workgroup or data catalog of this account and region that
 * exists; InvalidRequestException for a malformed ARN, ResourceNotFoundException for a
 * resource that is not there. */
static int arn_check(struct query_service *svc, const char *arn, struct err_info *err)
{
    if (arn == NULL || arn[0] == '\0' || strlen(arn) > 1011) {
        return BAD(err, "ResourceARN must be between 1 and 1011 characters");
    }
    char prefix[128];
    snprintf(prefix, sizeof(prefix), "arn:aws:athena:%s:%s:", svc->cfg->region,
             svc->cfg->account_id);
    if (strncmp(arn, prefix, strlen(prefix)) != 0) {
        return BAD(err, "Invalid ARN: %s", arn);
    }
    const char *rest = arn + strlen(prefix);
    if (strncmp(rest, "workgroup/", 10) == 0 && rest[10] != '\0') {
        struct err_info e = {0};
        if (query__wg_check(svc, rest + 10, &e) < 0) {
            return err_set(err, SL_E(RESOURCE_NOT_FOUND), "WorkGroup %s is not found.", rest + 10);
        }
        return 0;
    }
    if (strncmp(rest, "datacatalog/", 12) == 0 && rest[12] != '\0') {
        if (strcasecmp(rest + 12, "AwsDataCatalog") != 0) {
            return err_set(err, SL_E(RESOURCE_NOT_FOUND), "Catalog %s is not found.", rest + 12);
        }
        return 0;
    }
    return BAD(err, "Invalid ARN: %s", arn);
}

/* Checks the tags of a TagResource or CreateWorkGroup request. */
int query__tags_check(json_t *tags, struct err_info *err)
{
    if (!json_is_array(tags)) {
        return BAD(err, "Tags must be a list");
    }
    if (json_array_size(tags) > TAGS_MAX) {
        return BAD(err, "The number of tags must not exceed %d", TAGS_MAX);
    }
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t)
    {
        const char *k = in_str(t, "Key"), *v = in_str(t, "Value");
        if (k == NULL || utf8_len(k) < 1 || utf8_len(k) > 128) {
            return BAD(err, "Tag keys must be between 1 and 128 characters");
        }
        if (strncasecmp(k, "aws:", 4) == 0) {
            return BAD(err, "Tag keys must not start with aws:");
        }
        if (v != NULL && utf8_len(v) > 256) {
            return BAD(err, "Tag values must be at most 256 characters");
        }
        if (!tag_chars_ok(k) || (v != NULL && !tag_chars_ok(v))) {
            return BAD(err, "Tags may hold letters, digits, spaces and + - = . _ : / @ only");
        }
    }
    return 0;
}

int query__tags_put(struct query_service *svc, const char *arn, json_t *tags, struct err_info *err)
{
    int rc = query__tags_check(tags, err);
    if (rc < 0) {
        return rc;
    }
    store_lock(svc->st);
    rc = store_begin(svc->st);
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t)
    {
        const char *v = in_str(t, "Value");
        if (rc >= 0) {
            rc = store_run(svc->st,
                           "INSERT INTO query_tags(arn, key, value) VALUES (?, ?, ?)"
                           " ON CONFLICT(arn, key) DO UPDATE SET value = excluded.value",
                           "sss", arn, in_str(t, "Key"), v != NULL ? v : "");
        }
    }
    int64_t n = 0;
    if (rc >= 0) {
        struct store_stmt *s =
            store_prepare_args(svc->st, "SELECT count(*) FROM query_tags WHERE arn = ?", "s", arn);
        n = s != NULL && store_step(s) == 1 ? store_col_int64(s, 0) : 0;
        store_finalize(s);
    }
    if (rc >= 0 && n > TAGS_MAX) {
        rc = BAD(err, "The number of tags on a resource must not exceed %d", TAGS_MAX);
    }
    if (rc >= 0) {
        rc = store_commit(svc->st);
    } else {
        store_rollback(svc->st);
    }
    store_unlock(svc->st);
    return rc < 0 ? rc : 0;
}

void query__tags_drop(struct query_service *svc, const char *arn)
{
    store_lock(svc->st);
    store_run(svc->st, "DELETE FROM query_tags WHERE arn = ?", "s", arn);
    store_unlock(svc->st);
}

char *query__wg_arn(struct query_service *svc, const char *wg)
{
    return xasprintf("arn:aws:athena:%s:%s:workgroup/%s", svc->cfg->region, svc->cfg->account_id,
                     wg);
}

int query__op_TagResource(struct query_service *svc, json_t *in, json_t **out, struct err_info *err)
{
    const char *arn = in_str(in, "ResourceARN");
    int rc = arn_check(svc, arn, err);
    if (rc < 0 || (rc = query__tags_put(svc, arn, json_object_get(in, "Tags"), err)) < 0) {
        return rc;
    }
    *out = json_object();
    return 0;
}

int query__op_UntagResource(struct query_service *svc, json_t *in, json_t **out,
                            struct err_info *err)
{
    const char *arn = in_str(in, "ResourceARN");
    json_t *keys = json_object_get(in, "TagKeys");
    int rc = arn_check(svc, arn, err);
    if (rc < 0) {
        return rc;
    }
    if (!json_is_array(keys)) {
        return BAD(err, "TagKeys must be a list");
    }
    store_lock(svc->st);
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        if (rc >= 0 && json_is_string(k)) {
            rc = store_run(svc->st, "DELETE FROM query_tags WHERE arn = ? AND key = ?", "ss", arn,
                           json_string_value(k));
        }
    }
    store_unlock(svc->st);
    if (rc < 0) {
        return rc;
    }
    *out = json_object();
    return 0;
}

int query__op_ListTagsForResource(struct query_service *svc, json_t *in, json_t **out,
                                  struct err_info *err)
{
    const char *arn = in_str(in, "ResourceARN");
    int rc = arn_check(svc, arn, err);
    if (rc < 0) {
        return rc;
    }
    json_t *m = json_object_get(in, "MaxResults");
    if (m != NULL && (!json_is_integer(m) || json_integer_value(m) < 75)) {
        return BAD(err, "MaxResults must be at least 75");
    }
    json_t *all = json_array();
    store_read_begin(svc->st);
    struct store_stmt *s = store_prepare_args(
        svc->st, "SELECT key, value FROM query_tags WHERE arn = ? ORDER BY key", "s", arn);
    while (s != NULL && store_step(s) == 1) {
        json_array_append_new(all, json_pack("{s:s, s:s}", "Key", store_col_text(s, 0), "Value",
                                             store_col_text(s, 1)));
    }
    store_finalize(s);
    store_read_end(svc->st);
    json_t *page = NULL;
    char next[24];
    /* at most 50 tags exist, so one page of at least 75 holds them all */
    json_t *in2 = json_object();
    if (json_object_get(in, "NextToken") != NULL) {
        json_object_set(in2, "NextToken", json_object_get(in, "NextToken"));
    }
    rc = query__page_of(all, in2, TAGS_MAX, &page, next, err);
    json_decref(in2);
    if (rc < 0) {
        return rc;
    }
    *out = json_pack("{s:o}", "Tags", page);
    return 0;
}

/* ---- runtime statistics ---- */

struct stats_row {
    char state[16];
    int64_t submitted, started, completed, engine_ms, scanned;
    char *output_location;
    int has_header; /* a SELECT's result: its CSV starts with the column labels */
    int reused;
};

static void no_field(void *arg, const char *value, size_t len)
{
    (void)arg;
    (void)value;
    (void)len;
}

/* The rows and bytes of execution r's result object: 0, or -1 when it cannot be read. */
static int result_size(struct query_service *svc, const struct stats_row *r, int64_t *rows,
                       int64_t *bytes)
{
    char bucket[LAKE_BUCKET_NAME_MAX + 1];
    const char *loc = r->output_location;
    const char *slash = strncmp(loc, "s3://", 5) == 0 ? strchr(loc + 5, '/') : NULL;
    size_t bl = slash != NULL ? (size_t)(slash - (loc + 5)) : 0;
    if (bl == 0 || bl >= sizeof(bucket)) {
        return -1;
    }
    memcpy(bucket, loc + 5, bl);
    bucket[bl] = '\0';
    struct buf csv, scratch;
    buf_init(&csv);
    buf_init(&scratch);
    struct err_info e = {0};
    int rc = lake_object_read(svc->lake, bucket, slash + 1, &csv, NULL, &e);
    int64_t n = 0;
    if (rc >= 0) {
        size_t pos = 0;
        while (query__csv_record(csv.data != NULL ? (const char *)csv.data : "", csv.len, &pos,
                                 &scratch, no_field, NULL) > 0) {
            n++;
        }
        *rows = n > 0 && r->has_header ? n - 1 : n;
        *bytes = (int64_t)csv.len;
    }
    buf_fini(&csv);
    buf_fini(&scratch);
    return rc < 0 ? -1 : 0;
}

int query__op_GetQueryRuntimeStatistics(struct query_service *svc, json_t *in, json_t **out,
                                        struct err_info *err)
{
    const char *id = in_str(in, "QueryExecutionId");
    struct stats_row r = {0};
    store_read_begin(svc->st);
    struct store_stmt *s = store_prepare_args(
        svc->st,
        "SELECT state, submitted_ms, coalesce(started_ms, 0), coalesce(completed_ms, 0),"
        " engine_ms, scanned_bytes, output_location, columns_json IS NOT NULL,"
        " reused_from IS NOT NULL FROM query_executions WHERE id = ?",
        "s", id != NULL ? id : "");
    int rc = s != NULL ? store_step(s) : SL_E(IO);
    if (rc == 1) {
        snprintf(r.state, sizeof(r.state), "%s", store_col_text(s, 0));
        r.submitted = store_col_int64(s, 1);
        r.started = store_col_int64(s, 2);
        r.completed = store_col_int64(s, 3);
        r.engine_ms = store_col_int64(s, 4);
        r.scanned = store_col_int64(s, 5);
        r.output_location = xstrdup(store_col_text(s, 6));
        r.has_header = (int)store_col_int64(s, 7);
        r.reused = (int)store_col_int64(s, 8);
        rc = 0;
    } else if (rc == 0) {
        rc = BAD(err, "QueryExecution %s was not found", id != NULL ? id : "");
    }
    store_finalize(s);
    store_read_end(svc->st);
    if (rc == 0 && (strcmp(r.state, "QUEUED") == 0 || strcmp(r.state, "RUNNING") == 0)) {
        /* AWS: the statistics exist once the query has ended */
        rc = BAD(err, "Query has not yet finished. Current state: %s", r.state);
    }
    if (rc < 0) {
        free(r.output_location);
        return rc;
    }
    /* Only what Sluice measures: the queue wait, the engine's run, the whole; planning and
     * pre-processing are not timed apart from the engine's run and are left out. */
    json_t *timeline = json_object();
    int64_t queue = r.started > 0 ? r.started - r.submitted : 0;
    json_object_set_new(timeline, "QueryQueueTimeInMillis", json_integer(queue));
    if (r.completed > 0) {
        int64_t total = r.completed - r.submitted;
        json_object_set_new(timeline, "EngineExecutionTimeInMillis", json_integer(r.engine_ms));
        json_object_set_new(timeline, "TotalExecutionTimeInMillis", json_integer(total));
        int64_t service = total - queue - r.engine_ms;
        json_object_set_new(timeline, "ServiceProcessingTimeInMillis",
                            json_integer(service > 0 ? service : 0));
    }
    json_t *stats = json_pack("{s:o}", "Timeline", timeline);
    int64_t rows = 0, bytes = 0;
    if (strcmp(r.state, "SUCCEEDED") == 0 && result_size(svc, &r, &rows, &bytes) == 0) {
        /* InputRows is not counted (the engine reads Parquet in bulk); InputBytes is what the
         * query is charged for, 0 for a reused result. */
        json_object_set_new(stats, "Rows",
                            json_pack("{s:I, s:I, s:I}", "InputBytes",
                                      (json_int_t)(r.reused ? 0 : r.scanned), "OutputBytes",
                                      (json_int_t)bytes, "OutputRows", (json_int_t)rows));
    }
    free(r.output_location);
    *out = json_pack("{s:o}", "QueryRuntimeStatistics", stats);
    return 0;
}

/* ---- engine versions ---- */

int query__op_ListEngineVersions(struct query_service *svc, json_t *in, json_t **out,
                                 struct err_info *err)
{
    (void)svc;
    json_t *m = json_object_get(in, "MaxResults");
    if (m != NULL &&
        (!json_is_integer(m) || json_integer_value(m) < 1 || json_integer_value(m) > 10)) {
        return BAD(err, "MaxResults must be between 1 and 10");
    }
    /* Sluice runs one engine: Athena engine version 3's SQL. */
    json_t *all =
        json_pack("[{s:s, s:s}, {s:s, s:s}]", "SelectedEngineVersion", "AUTO",
                  "EffectiveEngineVersion", "Athena engine version 3", "SelectedEngineVersion",
                  "Athena engine version 3", "EffectiveEngineVersion", "Athena engine version 3");
    json_t *page = NULL;
    char next[24];
    int rc = query__page_of(all, in, 10, &page, next, err);
    if (rc < 0) {
        return rc;
    }
    *out = json_pack("{s:o}", "EngineVersions", page);
    if (next[0] != '\0') {
        json_object_set_new(*out, "NextToken", json_string(next));
    }
    return 0;
}
