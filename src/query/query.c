/*
 * The query service: its tables in the store, the worker pool, and the small pure
 * pieces (state machine, Athena's type names, result CSV) the rest of the part uses.
 */
#include "query/query_int.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "http/api.h"

static const struct store_migration migrations[] = {
    {1, "CREATE TABLE query_workgroups ("
        " name TEXT PRIMARY KEY,"
        " description TEXT,"
        " state TEXT NOT NULL DEFAULT 'ENABLED',"
        " output_location TEXT,"
        " enforce INTEGER NOT NULL DEFAULT 0,"
        " publish_metrics INTEGER NOT NULL DEFAULT 0,"
        " cutoff_bytes INTEGER," /* NULL: no cutoff */
        " created_ms INTEGER NOT NULL);"
        "CREATE TABLE query_executions ("
        " id TEXT PRIMARY KEY,"
        " seq INTEGER NOT NULL,"
        " workgroup TEXT NOT NULL,"
        " query TEXT NOT NULL,"
        " database TEXT,"
        " catalog TEXT,"
        " output_location TEXT NOT NULL,"
        " client_token TEXT,"
        " state TEXT NOT NULL,"
        " reason TEXT,"
        " err_category INTEGER NOT NULL DEFAULT 0,"
        " err_type INTEGER NOT NULL DEFAULT 0,"
        " submitted_ms INTEGER NOT NULL,"
        " started_ms INTEGER,"
        " completed_ms INTEGER,"
        " engine_ms INTEGER NOT NULL DEFAULT 0,"
        " scanned_bytes INTEGER NOT NULL DEFAULT 0,"
        " columns_json TEXT);" /* ColumnInfo of a SUCCEEDED SELECT */
        "CREATE UNIQUE INDEX query_executions_token ON query_executions(client_token)"
        " WHERE client_token IS NOT NULL;"
        "CREATE INDEX query_executions_wg ON query_executions(workgroup, seq);"},
    /* CTAS, INSERT INTO, UNLOAD: rows written and the data manifest's location */
    {2, "ALTER TABLE query_executions ADD COLUMN update_count INTEGER;"
        "ALTER TABLE query_executions ADD COLUMN manifest TEXT;"},
    /* named queries, prepared statements, tags; what the client sent; result reuse */
    {3, "CREATE TABLE query_named ("
        " id TEXT PRIMARY KEY,"
        " seq INTEGER NOT NULL,"
        " workgroup TEXT NOT NULL,"
        " name TEXT NOT NULL,"
        " description TEXT,"
        " database TEXT NOT NULL,"
        " query TEXT NOT NULL,"
        " client_token TEXT,"
        " created_ms INTEGER NOT NULL);"
        "CREATE UNIQUE INDEX query_named_token ON query_named(client_token)"
        " WHERE client_token IS NOT NULL;"
        "CREATE INDEX query_named_wg ON query_named(workgroup, seq);"
        "CREATE TABLE query_prepared ("
        " workgroup TEXT NOT NULL,"
        " name TEXT NOT NULL,"
        " query TEXT NOT NULL,"
        " description TEXT,"
        " modified_ms INTEGER NOT NULL,"
        " PRIMARY KEY (workgroup, name));"
        "CREATE TABLE query_tags ("
        " arn TEXT NOT NULL,"
        " key TEXT NOT NULL,"
        " value TEXT NOT NULL,"
        " PRIMARY KEY (arn, key));"
        /* the text the client sent when what runs differs (EXECUTE, ? parameters) */
        "ALTER TABLE query_executions ADD COLUMN client_query TEXT;"
        "ALTER TABLE query_executions ADD COLUMN params_json TEXT;"
        "ALTER TABLE query_executions ADD COLUMN reuse_json TEXT;"
        "ALTER TABLE query_executions ADD COLUMN reused_from TEXT;"},
};

int query__split_s3(const char *url, char *bucket, size_t bucket_len, const char **prefix)
{
    if (url == NULL || strncasecmp(url, "s3://", 5) != 0) {
        return -1;
    }
    const char *b = url + 5;
    const char *slash = strchr(b, '/');
    size_t bl = slash != NULL ? (size_t)(slash - b) : strlen(b);
    if (bl == 0 || bl >= bucket_len) {
        return -1;
    }
    memcpy(bucket, b, bl);
    bucket[bl] = '\0';
    *prefix = slash != NULL ? slash + 1 : "";
    return 0;
}

const char *query__state_name(enum query_state s)
{
    static const char *const names[] = {
#define QUERY_STATE_NAME(s) #s,
        QUERY_STATE_MAP(QUERY_STATE_NAME)
#undef QUERY_STATE_NAME
    };
    return (unsigned)s < QUERY_STATE_COUNT_ ? names[s] : "?";
}

int query__state_can_move(enum query_state from, enum query_state to)
{
    switch (from) {
    case QUERY_QUEUED: return to == QUERY_RUNNING || to == QUERY_CANCELLED || to == QUERY_FAILED;
    case QUERY_RUNNING: return to == QUERY_SUCCEEDED || to == QUERY_FAILED || to == QUERY_CANCELLED;
    default: return 0;
    }
}

void query__athena_type(const struct duck_type *t, struct query_athena_type *out)
{
    out->precision = 0;
    out->scale = 0;
    switch (t->id) {
    case DUCK_T_BOOLEAN: out->name = "boolean"; break;
    case DUCK_T_TINYINT:
        out->name = "tinyint";
        out->precision = 3;
        break;
    case DUCK_T_SMALLINT:
        out->name = "smallint";
        out->precision = 5;
        break;
    case DUCK_T_INTEGER:
        out->name = "integer";
        out->precision = 10;
        break;
    case DUCK_T_UTINYINT:
        out->name = "smallint";
        out->precision = 5;
        break;
    case DUCK_T_USMALLINT:
        out->name = "integer";
        out->precision = 10;
        break;
    /* DuckDB's 128-bit sums and unsigned counts are Trino's bigint */
    case DUCK_T_BIGINT:
    case DUCK_T_UINTEGER:
    case DUCK_T_HUGEINT:
    case DUCK_T_UBIGINT:
        out->name = "bigint";
        out->precision = 19;
        break;
    case DUCK_T_FLOAT:
        out->name = "float";
        out->precision = 7;
        break;
    case DUCK_T_DOUBLE:
        out->name = "double";
        out->precision = 17;
        break;
    case DUCK_T_DECIMAL:
        out->name = "decimal";
        out->precision = t->width;
        out->scale = t->scale;
        break;
    case DUCK_T_BLOB:
        out->name = "varbinary";
        out->precision = 1073741824;
        break;
    case DUCK_T_DATE: out->name = "date"; break;
    case DUCK_T_TIME:
        out->name = "time";
        out->precision = 3;
        break;
    case DUCK_T_TIMESTAMP:
    case DUCK_T_TIMESTAMP_S:
    case DUCK_T_TIMESTAMP_MS:
    case DUCK_T_TIMESTAMP_NS:
        out->name = "timestamp";
        out->precision = 3;
        break;
    case DUCK_T_TIMESTAMP_TZ:
        out->name = "timestamp with time zone";
        out->precision = 3;
        break;
    case DUCK_T_INTERVAL: out->name = "interval day to second"; break;
    case DUCK_T_UUID: out->name = "uuid"; break;
    case DUCK_T_LIST: out->name = "array"; break;
    case DUCK_T_MAP: out->name = "map"; break;
    case DUCK_T_STRUCT: out->name = "row"; break;
    case DUCK_T_SQLNULL: out->name = "unknown"; break;
    default:
        out->name = "varchar";
        out->precision = 2147483647;
        break;
    case DUCK_T_VARCHAR:
        out->name = "varchar";
        out->precision = 2147483647;
        break;
    }
}

int query__csv_field(struct buf *b, const char *value, size_t len)
{
    if (value == NULL) {
        return 0;
    }
    int rc = buf_putc(b, '"');
    for (size_t i = 0; i < len && rc == 0; i++) {
        rc = value[i] == '"' ? buf_puts(b, "\"\"") : buf_putc(b, value[i]);
    }
    return rc == 0 ? buf_putc(b, '"') : rc;
}

int query__csv_record(const char *text, size_t len, size_t *pos, struct buf *scratch,
                      query_csv_field_fn fn, void *arg)
{
    size_t i = *pos;
    if (i >= len) {
        return 0;
    }
    int n_fields = 0;
    for (;;) {
        if (i < len && text[i] == '"') {
            buf_reset(scratch);
            i++;
            for (;;) {
                if (i >= len) {
                    return -1; /* an unterminated quote */
                }
                if (text[i] == '"') {
                    if (i + 1 < len && text[i + 1] == '"') {
                        buf_putc(scratch, '"');
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                buf_putc(scratch, text[i++]);
            }
            if (buf_status(scratch) != 0) {
                return -1;
            }
            fn(arg, scratch->len > 0 ? (const char *)scratch->data : "", scratch->len);
        } else if (i >= len || text[i] == ',' || text[i] == '\n') {
            fn(arg, NULL, 0);
        } else {
            return -1; /* Athena quotes every value */
        }
        n_fields++;
        if (i >= len || text[i] == '\n') {
            *pos = i < len ? i + 1 : i;
            return n_fields;
        }
        if (text[i] != ',') {
            return -1;
        }
        i++;
    }
}

void query__scrub_paths(char *msg)
{
    char *w = msg;
    const char *r = msg;
    while (*r != '\0') {
        int starts = *r == '/' && (r == msg || strchr(" '\"(=:,[", r[-1]) != NULL) &&
                     (isalnum((unsigned char)r[1]) || strchr("._-", r[1]) != NULL);
        if (starts) {
            const char *e = r;
            while (*e != '\0' && (isalnum((unsigned char)*e) || strchr("/._-+~", *e) != NULL)) {
                e++;
            }
            static const char mark[] = "[path]";
            /* the mark is never longer than what it replaces unless the path is short */
            if ((size_t)(e - r) >= sizeof(mark) - 1) {
                memcpy(w, mark, sizeof(mark) - 1);
                w += sizeof(mark) - 1;
            } else {
                memset(w, '_', (size_t)(e - r));
                w += e - r;
            }
            r = e;
            continue;
        }
        *w++ = *r++;
    }
    *w = '\0';
}

int query__exec_set_scanned(struct query_service *svc, const char *id, int64_t scanned_bytes)
{
    struct store_stmt *stmt = NULL;
    store_lock(svc->st);
    int rc = store_prepare(svc->st,
                           "UPDATE query_executions SET scanned_bytes = ? WHERE id = ? AND"
                           " state = 'RUNNING'",
                           &stmt);
    if (rc == 0) {
        store_bind_int64(stmt, 1, scanned_bytes);
        store_bind_text(stmt, 2, id);
        rc = store_step(stmt);
    }
    store_finalize(stmt);
    store_unlock(svc->st);
    return rc < 0 ? rc : 0;
}

int query__exec_set_state(struct query_service *svc, const char *id, enum query_state from,
                          enum query_state to, const char *reason, int err_category, int err_type,
                          int64_t scanned_bytes, int64_t engine_ms, const char *columns_json)
{
    if (!query__state_can_move(from, to)) {
        return SL_E(INTERNAL);
    }
    int64_t now = clock_now_ms();
    struct store_stmt *stmt = NULL;
    store_lock(svc->st);
    int rc = store_prepare(
        svc->st,
        "UPDATE query_executions SET state = ?1, reason = ?2, err_category = ?3, err_type = ?4,"
        " scanned_bytes = CASE WHEN ?5 < 0 THEN scanned_bytes ELSE ?5 END,"
        " engine_ms = ?6, columns_json = ?7,"
        " started_ms = CASE WHEN ?1 = 'RUNNING' THEN ?8 ELSE started_ms END,"
        " completed_ms = CASE WHEN ?1 IN ('SUCCEEDED','FAILED','CANCELLED') THEN ?8"
        "   ELSE completed_ms END"
        " WHERE id = ?9 AND state = ?10",
        &stmt);
    if (rc == 0) {
        store_bind_text(stmt, 1, query__state_name(to));
        if (reason != NULL) {
            store_bind_text(stmt, 2, reason);
        } else {
            store_bind_null(stmt, 2);
        }
        store_bind_int64(stmt, 3, err_category);
        store_bind_int64(stmt, 4, err_type);
        store_bind_int64(stmt, 5, scanned_bytes);
        store_bind_int64(stmt, 6, engine_ms);
        if (columns_json != NULL) {
            store_bind_text(stmt, 7, columns_json);
        } else {
            store_bind_null(stmt, 7);
        }
        store_bind_int64(stmt, 8, now);
        store_bind_text(stmt, 9, id);
        store_bind_text(stmt, 10, query__state_name(from));
        rc = store_step(stmt);
        rc = rc < 0 ? rc : (store_changes(svc->st) == 1 ? 0 : SL_E(RESOURCE_IN_USE));
    }
    store_finalize(stmt);
    store_unlock(svc->st);
    return rc;
}

/* Takes the next queued execution, waiting; 0 with it, or 1 when the service stops. */
static int next_id(struct query_service *svc, struct query_queued *out)
{
    pthread_mutex_lock(&svc->mu);
    while (!svc->stopping && svc->q_len == 0) {
        pthread_cond_wait(&svc->cv, &svc->mu);
    }
    if (svc->stopping) {
        pthread_mutex_unlock(&svc->mu);
        return 1;
    }
    *out = svc->queue[svc->q_head];
    svc->q_head = (svc->q_head + 1) % svc->q_cap;
    svc->q_len--;
    pthread_mutex_unlock(&svc->mu);
    return 0;
}

static void *worker_main(void *arg)
{
    struct query_worker *w = arg;
    struct query_queued next;
    while (next_id(w->svc, &next) == 0) {
        query__execute(w, next.id, &next.who);
    }
    return NULL;
}

/* Called by StartQueryExecution after the row commits. */
void query__enqueue(struct query_service *svc, const char *id, const struct query_caller *who)
{
    pthread_mutex_lock(&svc->mu);
    if (svc->q_len == svc->q_cap) {
        size_t cap = svc->q_cap == 0 ? 64 : svc->q_cap * 2;
        struct query_queued *q = xcalloc(cap, sizeof(*q));
        for (size_t i = 0; i < svc->q_len; i++) {
            q[i] = svc->queue[(svc->q_head + i) % svc->q_cap];
        }
        free(svc->queue);
        svc->queue = q;
        svc->q_head = 0;
        svc->q_cap = cap;
    }
    struct query_queued *slot = &svc->queue[(svc->q_head + svc->q_len) % svc->q_cap];
    snprintf(slot->id, sizeof(slot->id), "%s", id);
    if (who != NULL) {
        slot->who = *who;
    } else {
        memset(&slot->who, 0, sizeof(slot->who));
    }
    svc->q_len++;
    pthread_cond_signal(&svc->cv);
    pthread_mutex_unlock(&svc->mu);
}

void query_service_set_authorizer(struct query_service *svc, query_authorize_fn fn, void *arg)
{
    pthread_mutex_lock(&svc->mu);
    svc->authorize = fn;
    svc->authorize_arg = arg;
    pthread_mutex_unlock(&svc->mu);
}

int query__may(struct query_service *svc, const struct query_caller *who, const char *action,
               const char *resource, const char *bucket, const char *s3_prefix, char *msg,
               size_t msg_len)
{
    if (who == NULL || !who->checked || svc->authorize == NULL) {
        return 0;
    }
    struct api_request req = {.account_id = svc->cfg->account_id,
                              .access_key_id = who->key_id,
                              .principal_kind = who->kind,
                              .principal_arn = who->arn,
                              .principal_id = who->id,
                              .principal_name = who->name,
                              .region = who->region[0] ? who->region : svc->cfg->region,
                              .now_ms = clock_now_ms()};
    struct err_info e = {0};
    if (svc->authorize(svc->authorize_arg, &req, action, resource, bucket, s3_prefix, &e) == 0) {
        return 0;
    }
    snprintf(msg, msg_len, "%s", e.message);
    return -1;
}

/* The api_request of who, as the services' authorization hooks take it. */
static struct api_request caller_request(const struct query_service *svc,
                                         const struct query_caller *who)
{
    return (struct api_request){.account_id = svc->cfg->account_id,
                                .access_key_id = who->key_id,
                                .principal_kind = who->kind,
                                .principal_arn = who->arn,
                                .principal_id = who->id,
                                .principal_name = who->name,
                                .region = who->region[0] ? who->region : svc->cfg->region,
                                .now_ms = clock_now_ms()};
}

int query__may_encrypt(struct query_service *svc, const struct query_caller *who,
                       const char *bucket, const char *key, char **record, char *msg,
                       size_t msg_len)
{
    struct err_info e = {0};
    int rc = lake_default_sse(svc->lake, bucket, key, record, &e);
    if (rc == 0 && *record != NULL && who != NULL && who->checked && svc->authorize != NULL) {
        struct api_request req = caller_request(svc, who);
        rc = lake_kms_authorize(svc->lake, &req, "kms:GenerateDataKey", *record, &e);
    }
    if (rc < 0) {
        free(*record);
        *record = NULL;
        snprintf(msg, msg_len, "%s", e.message);
        return -1;
    }
    return 0;
}

int query__may_decrypt(struct query_service *svc, const struct query_caller *who,
                       const char *bucket, const char *key, char *msg, size_t msg_len)
{
    if (who == NULL || !who->checked || svc->authorize == NULL) {
        return 0;
    }
    struct lake_object_info info;
    memset(&info, 0, sizeof(info));
    struct err_info e = {0};
    int rc = 0;
    if (lake_object_head(svc->lake, bucket, key, &info, &e) == 0 && info.sse != NULL) {
        struct api_request req = caller_request(svc, who);
        if (lake_kms_authorize(svc->lake, &req, "kms:Decrypt", info.sse, &e) < 0) {
            snprintf(msg, msg_len, "%s", e.message);
            rc = -1;
        }
    }
    lake_object_info_fini(&info);
    return rc;
}

int query__may_glue(struct query_service *svc, const struct query_caller *who, const char *action,
                    const char *db, const char *table, char *msg, size_t msg_len)
{
    if (who == NULL || !who->checked) {
        return 0;
    }
    const char *rg = who->region[0] ? who->region : svc->cfg->region;
    const char *ac = svc->cfg->account_id;
    char arn[3][600];
    snprintf(arn[0], sizeof(arn[0]), "arn:aws:glue:%s:%s:catalog", rg, ac);
    snprintf(arn[1], sizeof(arn[1]), "arn:aws:glue:%s:%s:database/%s", rg, ac, db);
    snprintf(arn[2], sizeof(arn[2]), "arn:aws:glue:%s:%s:table/%s/%s", rg, ac, db,
             table != NULL ? table : "");
    for (int i = 0; i < (table != NULL ? 3 : 2); i++) {
        if (query__may(svc, who, action, arn[i], NULL, NULL, msg, msg_len) < 0) {
            return -1;
        }
    }
    return 0;
}

void query__interrupt(struct query_service *svc, const char *id)
{
    /* An interrupt that reaches DuckDB before a statement starts, or between two of a
       query's statements, is lost; so it is repeated every 10 ms while the worker still
       runs the query (it ends within a statement once one lands), for at most 2 s. */
    for (int round = 0; round < 200; round++) {
        int running = 0;
        pthread_mutex_lock(&svc->mu);
        for (int i = 0; i < svc->n_workers; i++) {
            if (strcmp(svc->workers[i].running_id, id) == 0) {
                svc->workers[i].cancel = 1;
                duck_conn_interrupt(svc->workers[i].conn);
                running = 1;
            }
        }
        pthread_mutex_unlock(&svc->mu);
        if (!running) {
            return;
        }
        struct timespec pause = {0, 10 * 1000000L};
        nanosleep(&pause, NULL);
    }
}

int query_finished_between(struct query_service *svc, int64_t after_ms, int64_t until_ms,
                           struct query_finished **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    store_read_begin(svc->st);
    struct store_stmt *q = store_prepare_args(
        svc->st,
        "SELECT e.workgroup, e.state, e.query, e.completed_ms, e.scanned_bytes, e.engine_ms,"
        " COALESCE(e.started_ms, e.completed_ms) - e.submitted_ms,"
        " e.completed_ms - e.submitted_ms"
        " FROM query_executions e JOIN query_workgroups w ON w.name = e.workgroup"
        " WHERE w.publish_metrics <> 0 AND e.completed_ms > ? AND e.completed_ms <= ?"
        " AND e.state IN ('SUCCEEDED', 'FAILED', 'CANCELLED') ORDER BY e.completed_ms",
        "ii", after_ms, until_ms);
    if (q == NULL) {
        store_read_end(svc->st);
        return SL_E(IO);
    }
    struct query_finished *f = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = store_step(q)) == 1) {
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            f = xrealloc(f, cap * sizeof(*f));
        }
        struct query_finished *r = &f[n++];
        snprintf(r->workgroup, sizeof(r->workgroup), "%s", store_col_text(q, 0));
        snprintf(r->state, sizeof(r->state), "%s", store_col_text(q, 1));
        snprintf(r->query_type, sizeof(r->query_type), "%s",
                 query__ddl_statement_type(query__ddl_classify(store_col_text(q, 2))));
        r->completed_ms = store_col_int64(q, 3);
        r->processed_bytes = store_col_int64(q, 4);
        r->engine_ms = store_col_int64(q, 5);
        r->queue_ms = store_col_int64(q, 6);
        r->total_ms = store_col_int64(q, 7);
        /* as GetQueryRuntimeStatistics' Timeline gives them */
        r->planning_ms = 0;
        int64_t service = r->total_ms - r->queue_ms - r->engine_ms;
        r->service_ms = service > 0 ? service : 0;
    }
    store_finalize(q);
    store_read_end(svc->st);
    if (rc < 0) {
        free(f);
        return rc;
    }
    *out = f;
    *n_out = n;
    return 0;
}

int query_workgroup_totals(struct query_service *svc, struct query_workgroup_total **out,
                           size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    store_read_begin(svc->st);
    struct store_stmt *q = store_prepare_args(
        svc->st,
        "SELECT workgroup, state, COUNT(*), SUM(scanned_bytes) FROM query_executions"
        " GROUP BY workgroup, state ORDER BY workgroup, state",
        "");
    if (q == NULL) {
        store_read_end(svc->st);
        return SL_E(IO);
    }
    struct query_workgroup_total *t = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = store_step(q)) == 1) {
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            t = xrealloc(t, cap * sizeof(*t));
        }
        snprintf(t[n].workgroup, sizeof(t[n].workgroup), "%s", store_col_text(q, 0));
        snprintf(t[n].state, sizeof(t[n].state), "%s", store_col_text(q, 1));
        t[n].queries = (uint64_t)store_col_int64(q, 2);
        t[n].scanned_bytes = (uint64_t)store_col_int64(q, 3);
        n++;
    }
    store_finalize(q);
    store_read_end(svc->st);
    if (rc < 0) {
        free(t);
        return rc;
    }
    *out = t;
    *n_out = n;
    return 0;
}

int query_service_open(struct store *st, const struct sluice_config *cfg, struct lake *lake,
                       struct catalog *cat, struct query_service **out)
{
    int rc = store_migrate(st, "query", migrations, sizeof(migrations) / sizeof(migrations[0]));
    if (rc < 0) {
        return rc;
    }
    store_lock(st);
    rc = store_exec(st, "INSERT OR IGNORE INTO query_workgroups(name, state, created_ms)"
                        " VALUES ('primary', 'ENABLED', 0);"
                        "UPDATE query_executions SET state = 'FAILED',"
                        " reason = 'Query was interrupted by a server restart', err_category = 1,"
                        " err_type = 401 WHERE state IN ('QUEUED', 'RUNNING')");
    store_unlock(st);
    if (rc < 0) {
        return rc;
    }
    struct query_service *svc = xcalloc(1, sizeof(*svc));
    svc->st = st;
    svc->cfg = cfg;
    svc->lake = lake;
    svc->cat = cat;
    pthread_mutex_init(&svc->mu, NULL);
    pthread_cond_init(&svc->cv, NULL);
    snprintf(svc->staging_dir, sizeof(svc->staging_dir), "%s/query-staging", cfg->data_dir);
    if (mkdir(svc->staging_dir, 0700) != 0 && errno != EEXIST) {
        rc = SL_E(IO);
        goto out_fail;
    }
    char real_stage[PATH_MAX], real_objects[PATH_MAX];
    if (realpath(svc->staging_dir, real_stage) == NULL ||
        realpath(lake_objects_dir(lake), real_objects) == NULL) {
        rc = SL_E(IO);
        goto out_fail;
    }
    /* /proc/self/fd: views of encrypted objects (lake_object_view), memfds of plaintext. */
    const char *dirs[] = {real_objects, real_stage, "/proc/self/fd/"};
    struct duck_engine_options opts = {.dirs = dirs,
                                       .n_dirs = 3,
                                       .memory_limit_bytes = 512ull << 20,
                                       .n_threads = 1,
                                       .integer_division = true};
    struct duck_error derr = {0};
    if ((rc = duck_engine_open(&opts, &svc->engine, &derr)) < 0) {
        log_msg(LOG_ERROR, "query", "cannot open the engine: %s", derr.message);
        goto out_fail;
    }
    for (int i = 0; i < QUERY_WORKERS; i++) {
        struct query_worker *w = &svc->workers[i];
        w->svc = svc;
        if ((rc = duck_conn_open(svc->engine, &w->conn, &derr)) < 0 ||
            (rc = duck_exec(w->conn, query__dialect_sql, &derr)) < 0) {
            log_msg(LOG_ERROR, "query", "cannot prepare a connection: %s", derr.message);
            duck_conn_close(w->conn);
            w->conn = NULL;
            goto out_fail;
        }
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            duck_conn_close(w->conn);
            w->conn = NULL;
            rc = SL_E(INTERNAL);
            goto out_fail;
        }
        svc->n_workers++;
    }
    *out = svc;
    return 0;
out_fail:
    query_service_close(svc);
    return rc;
}

void query_service_close(struct query_service *svc)
{
    if (svc == NULL) {
        return;
    }
    pthread_mutex_lock(&svc->mu);
    svc->stopping = 1;
    pthread_cond_broadcast(&svc->cv);
    pthread_mutex_unlock(&svc->mu);
    for (int i = 0; i < svc->n_workers; i++) {
        /* An interrupt that reaches DuckDB between two of a query's statements is lost
         * (the next one starts afresh), so it is repeated until the worker has ended. */
        for (;;) {
            pthread_mutex_lock(&svc->mu);
            if (svc->workers[i].running_id[0] != '\0') {
                duck_conn_interrupt(svc->workers[i].conn);
            }
            pthread_mutex_unlock(&svc->mu);
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 50 * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            if (pthread_timedjoin_np(svc->workers[i].thread, NULL, &until) == 0) {
                break;
            }
        }
        duck_conn_close(svc->workers[i].conn);
    }
    duck_engine_close(svc->engine);
    pthread_cond_destroy(&svc->cv);
    pthread_mutex_destroy(&svc->mu);
    free(svc->queue);
    free(svc);
}
