/*
 * Athena's saved queries: named queries (CreateNamedQuery ... DeleteNamedQuery) and
 * prepared statements (CreatePreparedStatement ... DeletePreparedStatement), and how a
 * query text `EXECUTE name [USING v1, ...]` finds the statement it runs. Both live in the
 * store beside their workgroup and go with it when it is deleted recursively.
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
#define PREPARED_MAX 1000 /* prepared statements in one workgroup (AWS's quota) */

static const char *in_str(json_t *in, const char *key)
{
    return json_string_value(json_object_get(in, key));
}

/* An optional string member of in: absent is fine, otherwise its length is lo..hi. */
static int opt_len(json_t *in, const char *key, size_t lo, size_t hi, struct err_info *err)
{
    json_t *v = json_object_get(in, key);
    if (v == NULL) {
        return 0;
    }
    size_t n = json_is_string(v) ? strlen(json_string_value(v)) : 0;
    if (!json_is_string(v) || n < lo || n > hi) {
        return BAD(err, "%s must be between %zu and %zu characters", key, lo, hi);
    }
    return 0;
}

/* A required string member of in whose length is lo..hi. */
static int req_len(json_t *in, const char *key, size_t lo, size_t hi, struct err_info *err)
{
    if (in_str(in, key) == NULL) {
        return BAD(err, "%s is required", key);
    }
    return opt_len(in, key, lo, hi, err);
}

int query__wg_check(struct query_service *svc, const char *name, struct err_info *err)
{
    struct store_stmt *s = NULL;
    store_read_begin(svc->st);
    s = store_prepare_args(svc->st, "SELECT 1 FROM query_workgroups WHERE name = ?", "s", name);
    int rc = s != NULL ? store_step(s) : SL_E(IO);
    store_finalize(s);
    store_read_end(svc->st);
    if (rc == 0) {
        return BAD(err, "WorkGroup %s is not found.", name);
    }
    return rc < 0 ? rc : 0;
}

/* ---- named queries ---- */

static json_t *named_doc(struct store_stmt *s)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "NamedQueryId", store_col_text(s, 0), "Name",
                          store_col_text(s, 1), "Database", store_col_text(s, 3), "QueryString",
                          store_col_text(s, 4), "WorkGroup", store_col_text(s, 5));
    if (!store_col_is_null(s, 2)) {
        json_object_set_new(o, "Description", json_string(store_col_text(s, 2)));
    }
    return o;
}

/* The NamedQuery document of id in *doc; InvalidRequestException when there is none. */
static int named_load(struct query_service *svc, const char *id, json_t **doc, struct err_info *err)
{
    store_read_begin(svc->st);
    struct store_stmt *s =
        store_prepare_args(svc->st,
                           "SELECT id, name, description, database, query, workgroup"
                           " FROM query_named WHERE id = ?",
                           "s", id != NULL ? id : "");
    int rc = s != NULL ? store_step(s) : SL_E(IO);
    if (rc == 1) {
        *doc = named_doc(s);
        rc = 0;
    } else if (rc == 0) {
        rc = BAD(err, "NamedQuery %s was not found.", id != NULL ? id : "");
    }
    store_finalize(s);
    store_read_end(svc->st);
    return rc;
}

int query__op_CreateNamedQuery(struct query_service *svc, json_t *in, json_t **out,
                               struct err_info *err)
{
    int rc;
    if ((rc = req_len(in, "Name", 1, 128, err)) < 0 ||
        (rc = req_len(in, "Database", 1, 255, err)) < 0 ||
        (rc = req_len(in, "QueryString", 1, 262144, err)) < 0 ||
        (rc = opt_len(in, "Description", 1, 1024, err)) < 0 ||
        (rc = opt_len(in, "ClientRequestToken", 32, 128, err)) < 0) {
        return rc;
    }
    const char *wg = in_str(in, "WorkGroup");
    wg = wg != NULL ? wg : "primary";
    if ((rc = query__wg_check(svc, wg, err)) < 0) {
        return rc;
    }
    const char *token = in_str(in, "ClientRequestToken");
    char id[QUERY_ID_LEN + 1];
    query__new_id(id);
    store_lock(svc->st);
    if (token != NULL) {
        /* The same token names the query it created first. */
        struct store_stmt *s = store_prepare_args(
            svc->st,
            "SELECT id, workgroup = ? AND name = ? AND description IS ? AND database = ?"
            " AND query = ? FROM query_named WHERE client_token = ?",
            "ssssss", wg, in_str(in, "Name"), in_str(in, "Description"), in_str(in, "Database"),
            in_str(in, "QueryString"), token);
        if (s != NULL && store_step(s) == 1) {
            snprintf(id, sizeof(id), "%s", store_col_text(s, 0));
            int same = (int)store_col_int64(s, 1);
            store_finalize(s);
            store_unlock(svc->st);
            if (!same) {
                /* AWS: a token used again with other parameters is an error */
                return BAD(err, "Idempotent parameters do not match");
            }
            *out = json_pack("{s:s}", "NamedQueryId", id);
            return 0;
        }
        store_finalize(s);
    }
    rc = store_run(svc->st,
                   "INSERT INTO query_named(id, seq, workgroup, name, description, database,"
                   " query, client_token, created_ms) VALUES (?,"
                   " (SELECT coalesce(max(seq), 0) + 1 FROM query_named), ?, ?, ?, ?, ?, ?, ?)",
                   "sssssssi", id, wg, in_str(in, "Name"), in_str(in, "Description"),
                   in_str(in, "Database"), in_str(in, "QueryString"), token,
                   (int64_t)clock_now_ms());
    store_unlock(svc->st);
    if (rc < 0) {
        return rc;
    }
    *out = json_pack("{s:s}", "NamedQueryId", id);
    return 0;
}

int query__op_GetNamedQuery(struct query_service *svc, json_t *in, json_t **out,
                            struct err_info *err)
{
    json_t *doc = NULL;
    int rc = named_load(svc, in_str(in, "NamedQueryId"), &doc, err);
    if (rc < 0) {
        return rc;
    }
    *out = json_pack("{s:o}", "NamedQuery", doc);
    return 0;
}

int query__op_BatchGetNamedQuery(struct query_service *svc, json_t *in, json_t **out,
                                 struct err_info *err)
{
    json_t *ids = json_object_get(in, "NamedQueryIds");
    if (!json_is_array(ids) || json_array_size(ids) < 1 || json_array_size(ids) > 50) {
        return BAD(err, "NamedQueryIds must hold 1 to 50 ids");
    }
    json_t *found = json_array(), *missing = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        json_t *doc = NULL;
        struct err_info e = {0};
        if (named_load(svc, json_string_value(v), &doc, &e) == 0) {
            json_array_append_new(found, doc);
        } else {
            const char *id = json_string_value(v);
            json_array_append_new(missing, json_pack("{s:s, s:s, s:s}", "NamedQueryId",
                                                     id ? id : "", "ErrorCode", "INVALID_INPUT",
                                                     "ErrorMessage", e.message));
        }
    }
    *out = json_pack("{s:o, s:o}", "NamedQueries", found, "UnprocessedNamedQueryIds", missing);
    return 0;
}

int query__op_ListNamedQueries(struct query_service *svc, json_t *in, json_t **out,
                               struct err_info *err)
{
    const char *wg = in_str(in, "WorkGroup");
    wg = wg != NULL ? wg : "primary";
    int rc = query__wg_check(svc, wg, err);
    if (rc < 0) {
        return rc;
    }
    json_t *m = json_object_get(in, "MaxResults");
    if (m != NULL &&
        (!json_is_integer(m) || json_integer_value(m) < 0 || json_integer_value(m) > 50)) {
        return BAD(err, "MaxResults must be between 0 and 50");
    }
    json_t *all = json_array();
    store_read_begin(svc->st);
    struct store_stmt *s = store_prepare_args(
        svc->st, "SELECT id FROM query_named WHERE workgroup = ? ORDER BY seq DESC", "s", wg);
    while (s != NULL && store_step(s) == 1) {
        json_array_append_new(all, json_string(store_col_text(s, 0)));
    }
    store_finalize(s);
    store_read_end(svc->st);
    json_t *page = NULL;
    char next[24];
    json_t *in2 = json_deep_copy(in);
    if (m != NULL && json_integer_value(m) == 0) {
        json_object_del(in2, "MaxResults"); /* 0 asks for the default page */
    }
    rc = query__page_of(all, in2, 50, &page, next, err);
    json_decref(in2);
    if (rc < 0) {
        return rc;
    }
    *out = json_pack("{s:o}", "NamedQueryIds", page);
    if (next[0] != '\0') {
        json_object_set_new(*out, "NextToken", json_string(next));
    }
    return 0;
}

int query__op_UpdateNamedQuery(struct query_service *svc, json_t *in, json_t **out,
                               struct err_info *err)
{
    int rc;
    if ((rc = req_len(in, "Name", 1, 128, err)) < 0 ||
        (rc = req_len(in, "QueryString", 1, 262144, err)) < 0 ||
        (rc = opt_len(in, "Description", 0, 1024, err)) < 0) {
        return rc;
    }
    const char *id = in_str(in, "NamedQueryId");
    store_lock(svc->st);
    rc = store_run(svc->st,
                   "UPDATE query_named SET name = ?, description = ?, query = ? WHERE id = ?",
                   "ssss", in_str(in, "Name"), in_str(in, "Description"), in_str(in, "QueryString"),
                   id != NULL ? id : "");
    int changed = rc >= 0 ? (int)store_changes(svc->st) : 0;
    store_unlock(svc->st);
    if (rc < 0) {
        return rc;
    }
    if (changed == 0) {
        return BAD(err, "NamedQuery %s was not found.", id != NULL ? id : "");
    }
    *out = json_object();
    return 0;
}

int query__op_DeleteNamedQuery(struct query_service *svc, json_t *in, json_t **out,
                               struct err_info *err)
{
    const char *id = in_str(in, "NamedQueryId");
    store_lock(svc->st);
    int rc = store_run(svc->st, "DELETE FROM query_named WHERE id = ?", "s", id ? id : "");
    int changed = rc >= 0 ? (int)store_changes(svc->st) : 0;
    store_unlock(svc->st);
    if (rc < 0) {
        return rc;
    }
    if (changed == 0) {
        return BAD(err, "NamedQuery %s was not found.", id != NULL ? id : "");
    }
    *out = json_object();
    return 0;
}

/* ---- prepared statements ---- */

/* StatementName's pattern in the model: [a-zA-Z_][a-zA-Z0-9_@:]{1,256}. */
static int statement_name_ok(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n < 2 || n > 256 || !(isalpha((unsigned char)s[0]) || s[0] == '_')) {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if (!isalnum((unsigned char)s[i]) && strchr("_@:", s[i]) == NULL) {
            return 0;
        }
    }
    return 1;
}

/* Checks StatementName and WorkGroup (which must exist) of in. */
static int ps_args(struct query_service *svc, json_t *in, const char **name, const char **wg,
                   struct err_info *err)
{
    *name = in_str(in, "StatementName");
    *wg = in_str(in, "WorkGroup");
    if (!statement_name_ok(*name)) {
        return BAD(err, "StatementName must match [a-zA-Z_][a-zA-Z0-9_@:]{1,256}");
    }
    if (*wg == NULL) {
        return BAD(err, "WorkGroup is required");
    }
    return query__wg_check(svc, *wg, err);
}

static int ps_missing(const char *name, const char *wg, struct err_info *err)
{
    return err_set(err, SL_E(RESOURCE_NOT_FOUND), "Prepared statement %s was not found in %s.",
                   name, wg);
}

/* The PreparedStatement document of (wg, name) in *doc; 1 when there is none. */
static int ps_load(struct query_service *svc, const char *wg, const char *name, json_t **doc)
{
    store_read_begin(svc->st);
    struct store_stmt *s = store_prepare_args(
        svc->st,
        "SELECT name, query, workgroup, description, modified_ms FROM query_prepared"
        " WHERE workgroup = ? AND name = ?",
        "ss", wg, name != NULL ? name : "");
    int rc = s != NULL ? store_step(s) : SL_E(IO);
    if (rc == 1) {
        *doc =
            json_pack("{s:s, s:s, s:s, s:f}", "StatementName", store_col_text(s, 0),
                      "QueryStatement", store_col_text(s, 1), "WorkGroupName", store_col_text(s, 2),
                      "LastModifiedTime", (double)store_col_int64(s, 4) / 1000.0);
        if (!store_col_is_null(s, 3)) {
            json_object_set_new(*doc, "Description", json_string(store_col_text(s, 3)));
        }
        rc = 0;
    } else if (rc == 0) {
        rc = 1;
    }
    store_finalize(s);
    store_read_end(svc->st);
    return rc;
}

int query__op_CreatePreparedStatement(struct query_service *svc, json_t *in, json_t **out,
                                      struct err_info *err)
{
    const char *name, *wg;
    int rc = ps_args(svc, in, &name, &wg, err);
    if (rc < 0 || (rc = req_len(in, "QueryStatement", 1, 262144, err)) < 0 ||
        (rc = opt_len(in, "Description", 1, 1024, err)) < 0) {
        return rc;
    }
    store_lock(svc->st);
    struct store_stmt *s = store_prepare_args(
        svc->st, "SELECT count(*) FROM query_prepared WHERE workgroup = ?", "s", wg);
    int64_t n = s != NULL && store_step(s) == 1 ? store_col_int64(s, 0) : 0;
    store_finalize(s);
    if (n >= PREPARED_MAX) {
        store_unlock(svc->st);
        return BAD(err, "The maximum number of prepared statements in a workgroup is %d",
                   PREPARED_MAX);
    }
    rc = store_run(svc->st,
                   "INSERT INTO query_prepared(workgroup, name, query, description, modified_ms)"
                   " VALUES (?, ?, ?, ?, ?)",
                   "ssssi", wg, name, in_str(in, "QueryStatement"), in_str(in, "Description"),
                   (int64_t)clock_now_ms());
    store_unlock(svc->st);
    if (rc < 0) {
        /* the primary key (workgroup, name) holds it already */
        return BAD(err, "Prepared statement %s already exists in WorkGroup %s", name, wg);
    }
    *out = json_object();
    return 0;
}

int query__op_GetPreparedStatement(struct query_service *svc, json_t *in, json_t **out,
                                   struct err_info *err)
{
    const char *name, *wg;
    int rc = ps_args(svc, in, &name, &wg, err);
    if (rc < 0) {
        return rc;
    }
    json_t *doc = NULL;
    if ((rc = ps_load(svc, wg, name, &doc)) != 0) {
        return rc < 0 ? rc : ps_missing(name, wg, err);
    }
    *out = json_pack("{s:o}", "PreparedStatement", doc);
    return 0;
}

int query__op_BatchGetPreparedStatement(struct query_service *svc, json_t *in, json_t **out,
                                        struct err_info *err)
{
    const char *wg = in_str(in, "WorkGroup");
    json_t *names = json_object_get(in, "PreparedStatementNames");
    if (wg == NULL) {
        return BAD(err, "WorkGroup is required");
    }
    if (!json_is_array(names) || json_array_size(names) < 1 || json_array_size(names) > 256) {
        return BAD(err, "PreparedStatementNames must hold 1 to 256 names");
    }
    int rc = query__wg_check(svc, wg, err);
    if (rc < 0) {
        return rc;
    }
    json_t *found = json_array(), *missing = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v)
    {
        const char *name = json_string_value(v);
        json_t *doc = NULL;
        if (ps_load(svc, wg, name, &doc) == 0) {
            json_array_append_new(found, doc);
            continue;
        }
        /* the model's documented codes: INVALID_INPUT for a name that cannot be one */
        struct err_info e = {0};
        int valid = statement_name_ok(name);
        if (valid) {
            ps_missing(name, wg, &e);
        } else {
            BAD(&e, "StatementName must match [a-zA-Z_][a-zA-Z0-9_@:]{1,256}");
        }
        json_array_append_new(missing, json_pack("{s:s, s:s, s:s}", "StatementName",
                                                 name ? name : "", "ErrorCode",
                                                 valid ? "STATEMENT_NOT_FOUND" : "INVALID_INPUT",
                                                 "ErrorMessage", e.message));
    }
    *out = json_pack("{s:o, s:o}", "PreparedStatements", found, "UnprocessedPreparedStatementNames",
                     missing);
    return 0;
}

int query__op_ListPreparedStatements(struct query_service *svc, json_t *in, json_t **out,
                                     struct err_info *err)
{
    const char *wg = in_str(in, "WorkGroup");
    if (wg == NULL) {
        return BAD(err, "WorkGroup is required");
    }
    int rc = query__wg_check(svc, wg, err);
    if (rc < 0) {
        return rc;
    }
    json_t *all = json_array();
    store_read_begin(svc->st);
    struct store_stmt *s = store_prepare_args(svc->st,
                                              "SELECT name, modified_ms FROM query_prepared"
                                              " WHERE workgroup = ? ORDER BY name",
                                              "s", wg);
    while (s != NULL && store_step(s) == 1) {
        json_array_append_new(all, json_pack("{s:s, s:f}", "StatementName", store_col_text(s, 0),
                                             "LastModifiedTime",
                                             (double)store_col_int64(s, 1) / 1000.0));
    }
    store_finalize(s);
    store_read_end(svc->st);
    json_t *page = NULL;
    char next[24];
    if ((rc = query__page_of(all, in, 50, &page, next, err)) < 0) {
        return rc;
    }
    *out = json_pack("{s:o}", "PreparedStatements", page);
    if (next[0] != '\0') {
        json_object_set_new(*out, "NextToken", json_string(next));
    }
    return 0;
}

int query__op_UpdatePreparedStatement(struct query_service *svc, json_t *in, json_t **out,
                                      struct err_info *err)
{
    const char *name, *wg;
    int rc = ps_args(svc, in, &name, &wg, err);
    if (rc < 0 || (rc = req_len(in, "QueryStatement", 1, 262144, err)) < 0 ||
        (rc = opt_len(in, "Description", 1, 1024, err)) < 0) {
        return rc;
    }
    store_lock(svc->st);
    rc = store_run(svc->st,
                   "UPDATE query_prepared SET query = ?, description = ?, modified_ms = ?"
                   " WHERE workgroup = ? AND name = ?",
                   "ssiss", in_str(in, "QueryStatement"), in_str(in, "Description"),
                   (int64_t)clock_now_ms(), wg, name);
    int changed = rc >= 0 ? (int)store_changes(svc->st) : 0;
    store_unlock(svc->st);
    if (rc < 0) {
        return rc;
    }
    if (changed == 0) {
        return ps_missing(name, wg, err);
    }
    *out = json_object();
    return 0;
}

int query__op_DeletePreparedStatement(struct query_service *svc, json_t *in, json_t **out,
                                      struct err_info *err)
{
    const char *name, *wg;
    int rc = ps_args(svc, in, &name, &wg, err);
    if (rc < 0) {
        return rc;
    }
    store_lock(svc->st);
    rc = store_run(svc->st, "DELETE FROM query_prepared WHERE workgroup = ? AND name = ?", "ss", wg,
                   name);
    int changed = rc >= 0 ? (int)store_changes(svc->st) : 0;
    store_unlock(svc->st);
    if (rc < 0) {
        return rc;
    }
    if (changed == 0) {
        return ps_missing(name, wg, err);
    }
    *out = json_object();
    return 0;
}

/* ---- EXECUTE ---- */

/* p past spaces. */
static const char *skip_ws(const char *p)
{
    while (isspace((unsigned char)*p)) {
        p++;
    }
    return p;
}

/* 1 when p starts with keyword kw (any case) followed by a space or the end. */
static int keyword(const char *p, const char *kw)
{
    size_t n = strlen(kw);
    return strncasecmp(p, kw, n) == 0 && (p[n] == '\0' || isspace((unsigned char)p[n]));
}

/* Splits the USING list at top-level commas (outside quotes and brackets) into values. */
static int using_values(const char *p, json_t *values, struct err_info *err)
{
    const char *start = p;
    char quote = 0;
    int depth = 0;
    for (;; p++) {
        if (quote != 0) {
            if (*p == '\0') {
                return BAD(err, "line 1:1: mismatched quotes in the USING clause");
            }
            if (*p == quote) {
                quote = 0;
            }
            continue;
        }
        if (*p == '\'' || *p == '"') {
            quote = *p;
        } else if (*p == '(' || *p == '[') {
            depth++;
        } else if ((*p == ')' || *p == ']') && depth > 0) {
            depth--;
        } else if ((*p == ',' && depth == 0) || *p == '\0') {
            const char *a = skip_ws(start), *b = p;
            while (b > a && isspace((unsigned char)b[-1])) {
                b--;
            }
            if (b == a) {
                return BAD(err, "line 1:1: an empty value in the USING clause");
            }
            json_array_append_new(values, json_stringn(a, (size_t)(b - a)));
            if (*p == '\0') {
                return 0;
            }
            start = p + 1;
        }
    }
}

int query__execute_text(struct query_service *svc, const char *wg, const char *query,
                        json_t *exec_params, char **statement, json_t **params,
                        struct err_info *err)
{
    const char *p = skip_ws(query);
    if (!keyword(p, "EXECUTE")) {
        return 0;
    }
    p = skip_ws(p + 7);
    const char *name_start = p;
    while (*p != '\0' && !isspace((unsigned char)*p) && *p != ';') {
        p++;
    }
    char *name = xasprintf("%.*s", (int)(p - name_start), name_start);
    p = skip_ws(p);
    json_t *values = json_array();
    int rc = 0;
    if (keyword(p, "USING")) {
        if (exec_params != NULL) {
            rc = BAD(err, "ExecutionParameters cannot be used with an EXECUTE statement that has "
                          "a USING clause");
        } else {
            char *list = xstrdup(skip_ws(p + 5));
            size_t n = strlen(list);
            while (n > 0 && (isspace((unsigned char)list[n - 1]) || list[n - 1] == ';')) {
                list[--n] = '\0';
            }
            rc = using_values(list, values, err);
            free(list);
        }
    } else if (*p != '\0' && *p != ';') {
        rc = BAD(err, "line 1:1: mismatched input '%s'. Expecting: 'USING', <EOF>", p);
    } else if (exec_params != NULL) {
        json_decref(values);
        values = json_incref(exec_params);
    }
    json_t *doc = NULL;
    if (rc == 0) {
        rc = ps_load(svc, wg, name, &doc);
        if (rc > 0) {
            rc = BAD(err, "Prepared statement %s was not found in %s.", name, wg);
        }
    }
    free(name);
    if (rc < 0) {
        json_decref(values);
        return rc;
    }
    *statement = xstrdup(json_string_value(json_object_get(doc, "QueryStatement")));
    json_decref(doc);
    *params = values;
    return 1;
}

/* ---- a workgroup's contents ---- */

int query__wg_delete_contents(struct query_service *svc, const char *wg, int recursive,
                              struct err_info *err)
{
    store_lock(svc->st);
    int rc = 0;
    if (!recursive) {
        struct store_stmt *s =
            store_prepare_args(svc->st,
                               "SELECT (SELECT count(*) FROM query_named WHERE workgroup = ?1)"
                               " + (SELECT count(*) FROM query_prepared WHERE workgroup = ?1)"
                               " + (SELECT count(*) FROM query_executions WHERE workgroup = ?1)",
                               "s", wg);
        rc = s != NULL ? store_step(s) : SL_E(IO);
        int64_t n = rc == 1 ? store_col_int64(s, 0) : 0;
        store_finalize(s);
        store_unlock(svc->st);
        if (rc < 0) {
            return rc;
        }
        return n > 0 ? BAD(err, "WorkGroup %s is not empty", wg) : 0;
    }
    /* Queries still queued or running are stopped first, as StopQueryExecution would. */
    json_t *active = json_array();
    struct store_stmt *s =
        store_prepare_args(svc->st,
                           "SELECT id, state FROM query_executions"
                           " WHERE workgroup = ? AND state IN ('QUEUED', 'RUNNING')",
                           "s", wg);
    while (s != NULL && store_step(s) == 1) {
        json_array_append_new(active,
                              json_pack("[s, s]", store_col_text(s, 0), store_col_text(s, 1)));
    }
    store_finalize(s);
    store_unlock(svc->st);
    size_t i;
    json_t *a;
    json_array_foreach(active, i, a)
    {
        const char *id = json_string_value(json_array_get(a, 0));
        int queued = strcmp(json_string_value(json_array_get(a, 1)), "QUEUED") == 0;
        if (query__exec_set_state(svc, id, queued ? QUERY_QUEUED : QUERY_RUNNING, QUERY_CANCELLED,
                                  "Query cancelled by user", 0, 0, -1, 0, NULL) < 0 &&
            queued) {
            query__exec_set_state(svc, id, QUERY_RUNNING, QUERY_CANCELLED,
                                  "Query cancelled by user", 0, 0, -1, 0, NULL);
        }
        query__interrupt(svc, id);
    }
    json_decref(active);
    /* The workgroup's contents go with it: its saved queries and its query history. */
    store_lock(svc->st);
    rc = store_run(svc->st, "DELETE FROM query_named WHERE workgroup = ?", "s", wg);
    if (rc >= 0) {
        rc = store_run(svc->st, "DELETE FROM query_prepared WHERE workgroup = ?", "s", wg);
    }
    if (rc >= 0) {
        rc = store_run(svc->st, "DELETE FROM query_executions WHERE workgroup = ?", "s", wg);
    }
    store_unlock(svc->st);
    return rc < 0 ? rc : 0;
}
