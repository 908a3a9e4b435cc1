/*
 * Running one query execution on a worker.
 *
 * The client's text never reaches DuckDB as a statement. It goes in as a string literal
 * to json_serialize_sql, which parses it and returns the parse tree (or refuses anything
 * but SELECT). The tree is then checked and rewritten:
 *   - exactly one statement;
 *   - no table functions (read_csv, read_parquet, glob, query, ...): only catalog tables;
 *   - every base table that is not a CTE resolves through the Glue catalog to its
 *     location in the lake; it is renamed to a temp view of this connection that reads
 *     the table's object files (read_parquet / read_json / read_csv over the files the
 *     lake names, partitions pruned through the catalog's expression interface);
 *   - unaliased select items get Athena's labels _col0, _col1, ...
 * json_deserialize_sql turns the checked tree back into SQL, which runs as
 * CREATE TEMP TABLE ... AS; the rows are read back as text in Athena's formats and
 * written to the result location as <QueryExecutionId>.csv.
 *
 * Bytes scanned are known before anything runs: for Parquet, the compressed sizes of
 * the referenced columns' chunks in every row group of the files read (from the files'
 * own footers, parquet_metadata); for text formats, the objects' whole sizes. A
 * workgroup's BytesScannedCutoffPerQuery is enforced on that figure: a query that would
 * pass it ends CANCELLED with AWS's reason, "Bytes scanned limit was exceeded", and
 * DataScannedInBytes equal to the cutoff, as Athena reports.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "lake/lake_lifecycle.h"
#include "lake/lake_restore.h"
#include "query/query_int.h"

#define MAX_TABLES 16
#define ATHENA_USER 2
#define ATHENA_SYSTEM 1

/* One table the query reads. */
struct table_ref {
    char database[256];
    char name[256];
    struct catalog_table_desc *desc;
    char view[32];
    int star;         /* SELECT * or similar: every column read */
    struct buf files; /* NUL-separated object file paths */
    size_t n_files;
    int64_t text_bytes;  /* text formats: the objects' sizes */
    int gzip;            /* the file list being read is all .gz (the paths have no suffix) */
    int format;          /* FMT_* */
    struct buf view_sql; /* CREATE TEMP VIEW ... */
};

enum { FMT_PARQUET, FMT_JSON, FMT_CSV, FMT_UNSUPPORTED };

/* What the walk over the tree found. */
struct walk {
    struct query_service *svc;
    const struct query_caller *who; /* whose permissions the reads need; NULL: none */
    struct duck_conn *conn; /* parses the views the query names */
    int view_depth;         /* views being expanded, one inside another */
    const char *default_db;
    const char *text; /* the query, for line:column */
    struct table_ref tables[MAX_TABLES];
    size_t n_tables;
    char **ctes;
    size_t n_ctes;
    char **columns; /* referenced column names, lower case */
    size_t n_columns;
    int star;
    json_t *where;      /* borrowed: the WHERE clause of the SELECT reading the table */
    struct buf views;   /* struct lake_view * of the files read: held until the run ends */
    size_t n_base_refs; /* references to catalog tables (a self-join counts two) */
    /* failure */
    int failed;
    int err_category;
    int err_type;
    char message[1024];
};

static void fail(struct walk *wk, int category, int type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail(struct walk *wk, int category, int type, const char *fmt, ...)
{
    if (wk->failed) {
        return;
    }
    wk->failed = 1;
    wk->err_category = category;
    wk->err_type = type;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(wk->message, sizeof(wk->message), fmt, ap);
    va_end(ap);
}

/* line:column (1-based line, 1-based column) of byte offset loc in text. */
static void line_col(const char *text, json_int_t loc, int *line, int *col)
{
    *line = 1;
    *col = 1;
    size_t len = strlen(text);
    if (loc < 0 || (size_t)loc > len) {
        return;
    }
    for (json_int_t i = 0; i < loc; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static char *lower_dup(const char *s)
{
    char *d = xstrdup(s);
    for (char *p = d; *p != '\0'; p++) {
        *p = (char)tolower((unsigned char)*p);
    }
    return d;
}

static void add_name(char ***list, size_t *n, const char *name)
{
    char *l = lower_dup(name);
    for (size_t i = 0; i < *n; i++) {
        if (strcmp((*list)[i], l) == 0) {
            free(l);
            return;
        }
    }
    *list = xrealloc(*list, (*n + 1) * sizeof(**list));
    (*list)[(*n)++] = l;
}

static int has_name(char **list, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(list[i], name) == 0) {
            return 1;
        }
    }
    return 0;
}

static const char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

/* First pass: CTE names (so references to them are not catalog tables). */
static void collect_ctes(struct walk *wk, json_t *node)
{
    if (json_is_array(node)) {
        size_t i;
        json_t *v;
        json_array_foreach(node, i, v)
        {
            collect_ctes(wk, v);
        }
        return;
    }
    if (!json_is_object(node)) {
        return;
    }
    json_t *map = json_object_get(json_object_get(node, "cte_map"), "map");
    size_t i;
    json_t *v;
    json_array_foreach(map, i, v)
    {
        add_name(&wk->ctes, &wk->n_ctes, jstr(v, "key"));
    }
    const char *k;
    json_object_foreach(node, k, v)
    {
        collect_ctes(wk, v);
    }
}

static void walk_tree(struct walk *wk, json_t *node);
static char *query_one_text(struct duck_conn *conn, const char *sql, struct duck_error *err);

/* DuckDB's parse tree of text (json_serialize_sql); NULL when it cannot be had. */
static json_t *parse_tree(struct duck_conn *conn, const char *text, struct duck_error *derr)
{
    char *trino = query__text_prepass(text);
    char *lit = duck_sql_literal(trino);
    free(trino);
    char *sql = xasprintf("SELECT json_serialize_sql(%s)", lit);
    free(lit);
    char *json_text = query_one_text(conn, sql, derr);
    free(sql);
    if (json_text == NULL) {
        return NULL;
    }
    /* DuckDB writes an unknown query_location as UINT64_MAX, past jansson's integers. */
    for (char *p = strstr(json_text, ":18446744073709551615"); p != NULL;
         p = strstr(p, ":18446744073709551615")) {
        memcpy(p, ":0                   ", strlen(":18446744073709551615"));
    }
    json_t *tree = json_loads(json_text, 0, NULL);
    free(json_text);
    return tree;
}

#define MAX_VIEW_DEPTH 8

/* Replaces the reference `node` to view db.view with a subquery of the view's SQL (as
 * Athena stored it), whose own references then resolve with db as their default. Pruning
 * is left off for the query (the view may rename the columns a WHERE clause names). */
static void expand_view(struct walk *wk, json_t *node, const char *db, const char *view,
                        const char *name, int line, int col)
{
    if (wk->view_depth >= MAX_VIEW_DEPTH) {
        fail(wk, ATHENA_USER, 1006, "VIEW_IS_RECURSIVE: line %d:%d: View is recursive: '%s.%s'",
             line, col, db, view);
        return;
    }
    char *sql = query__view_sql(wk->svc, db, view);
    struct duck_error derr = {0};
    json_t *tree = sql != NULL ? parse_tree(wk->conn, sql, &derr) : NULL;
    free(sql);
    json_t *stmts = json_object_get(tree, "statements");
    if (tree == NULL || json_is_true(json_object_get(tree, "error")) ||
        json_array_size(stmts) != 1) {
        fail(wk, ATHENA_USER, 1006,
             "VIEW_IS_STALE: line %d:%d: View 'awsdatacatalog.%s.%s' is stale or in invalid "
             "state",
             line, col, db, view);
        json_decref(tree);
        return;
    }
    json_t *sub = json_incref(json_array_get(stmts, 0));
    json_decref(tree);
    char *alias = xstrdup(jstr(node, "alias")[0] != '\0' ? jstr(node, "alias") : name);
    json_object_clear(node);
    json_object_set_new(node, "type", json_string("SUBQUERY"));
    json_object_set_new(node, "alias", json_string(alias));
    json_object_set_new(node, "sample", json_null());
    json_object_set_new(node, "query_location", json_integer(0));
    json_object_set_new(node, "subquery", sub);
    json_object_set_new(node, "column_name_alias", json_array());
    free(alias);
    wk->n_base_refs += 2;
    const char *outer_db = wk->default_db;
    char *view_db = xstrdup(db);
    wk->default_db = view_db;
    wk->view_depth++;
    collect_ctes(wk, sub);
    walk_tree(wk, sub);
    wk->view_depth--;
    wk->default_db = outer_db;
    free(view_db);
}

/* Second pass: checks and rewrites table references, collects column references. */
static void walk_tree(struct walk *wk, json_t *node)
{
    if (wk->failed) {
        return;
    }
    if (json_is_array(node)) {
        size_t i;
        json_t *v;
        json_array_foreach(node, i, v)
        {
            walk_tree(wk, v);
        }
        return;
    }
    if (!json_is_object(node)) {
        return;
    }
    const char *type = jstr(node, "type");
    int line, col;
    line_col(wk->text, json_integer_value(json_object_get(node, "query_location")), &line, &col);
    if (strcmp(type, "TABLE_FUNCTION") == 0 &&
        strcasecmp(jstr(json_object_get(node, "function"), "function_name"), "unnest") != 0) {
        json_t *fn = json_object_get(node, "function");
        fail(wk, ATHENA_USER, 1100,
             "FUNCTION_NOT_FOUND: line %d:%d: Table function '%s' not registered", line, col,
             jstr(fn, "function_name"));
        return;
    }
    if (strcmp(type, "BASE_TABLE") == 0) {
        const char *schema = jstr(node, "schema_name");
        const char *name = jstr(node, "table_name");
        const char *catalog = jstr(node, "catalog_name");
        if (schema[0] == '\0' && catalog[0] == '\0' && has_name(wk->ctes, wk->n_ctes, name)) {
            return;
        }
        if (catalog[0] != '\0' && strcasecmp(catalog, "awsdatacatalog") != 0) {
            fail(wk, ATHENA_USER, 1110,
                 "CATALOG_NOT_FOUND: line %d:%d: Catalog '%s' does not exist", line, col, catalog);
            return;
        }
        char *db = lower_dup(schema[0] != '\0' ? schema : wk->default_db);
        char *tb = lower_dup(name);
        struct table_ref *t = NULL;
        for (size_t i = 0; i < wk->n_tables; i++) {
            if (strcmp(wk->tables[i].database, db) == 0 && strcmp(wk->tables[i].name, tb) == 0) {
                t = &wk->tables[i];
            }
        }
        if (t == NULL) {
            if (wk->n_tables == MAX_TABLES) {
                fail(wk, ATHENA_USER, 1001, "NOT_SUPPORTED: more than %d tables in one query",
                     MAX_TABLES);
                goto out_free;
            }
            t = &wk->tables[wk->n_tables];
            snprintf(t->database, sizeof(t->database), "%s", db);
            snprintf(t->name, sizeof(t->name), "%s", tb);
            char denied[1024];
            if (query__may_glue(wk->svc, wk->who, "glue:GetTable", db, tb, denied, sizeof(denied)) <
                    0 ||
                query__may_glue(wk->svc, wk->who, "glue:GetDatabase", db, NULL, denied,
                                sizeof(denied)) < 0) {
                fail(wk, ATHENA_USER, 1000, "Insufficient permissions to execute the query. %s",
                     denied);
                goto out_free;
            }
            struct catalog_scope sc = {wk->svc->cfg->region, wk->svc->cfg->account_id};
            struct err_info e = {0};
            if (catalog_table_describe(wk->svc->cat, &sc, db, tb, &t->desc, &e) < 0) {
                fail(wk, ATHENA_USER, 1110,
                     "TABLE_NOT_FOUND: line %d:%d: Table 'awsdatacatalog.%s.%s' does not exist",
                     line, col, db, tb);
                goto out_free;
            }
            if (t->desc->table_type != NULL && strcmp(t->desc->table_type, "VIRTUAL_VIEW") == 0) {
                catalog_table_desc_destroy(t->desc);
                t->desc = NULL;
                expand_view(wk, node, db, tb, name, line, col);
                goto out_free;
            }
            snprintf(t->view, sizeof(t->view), "__sl_t%zu", wk->n_tables);
            buf_init(&t->files);
            buf_init(&t->view_sql);
            wk->n_tables++;
        }
        wk->n_base_refs++;
        if (jstr(node, "alias")[0] == '\0') {
            json_object_set_new(node, "alias", json_string(name));
        }
        json_object_set_new(node, "schema_name", json_string(""));
        json_object_set_new(node, "catalog_name", json_string(""));
        json_object_set_new(node, "table_name", json_string(t->view));
    out_free:
        free(db);
        free(tb);
        return;
    }
    if (strcmp(jstr(node, "class"), "CONSTANT") == 0 || strcmp(jstr(node, "class"), "CAST") == 0) {
        char msg[512];
        query__dialect_rewrite(node, line, col, msg, sizeof(msg));
        type = jstr(node, "type"); /* the node may have become another */
    }
    if (strcmp(type, "FUNCTION") == 0) {
        /* Scalar functions that tell of the server rather than the data. */
        static const char *const refused[] = {
            "current_setting", "getenv",          "getvariable", "current_database",
            "current_schema",  "current_schemas", "version",     "platform"};
        const char *fn = jstr(node, "function_name");
        for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
            if (strcasecmp(fn, refused[i]) == 0) {
                fail(wk, ATHENA_USER, 1100,
                     "FUNCTION_NOT_FOUND: line %d:%d: Function '%s' not registered", line, col, fn);
                return;
            }
        }
        /* Trino's meaning where DuckDB's differs (query_dialect.c) */
        char msg[512];
        int etype = query__dialect_rewrite(node, line, col, msg, sizeof(msg));
        if (etype != 0) {
            fail(wk, ATHENA_USER, etype, "%s", msg);
            return;
        }
        type = jstr(node, "type");
    }
    if (strcmp(type, "COLUMN_REF") == 0) {
        json_t *names = json_object_get(node, "column_names");
        size_t n = json_array_size(names);
        for (size_t i = 0; i < n; i++) {
            add_name(&wk->columns, &wk->n_columns, json_string_value(json_array_get(names, i)));
        }
        return;
    }
    if (strcmp(type, "STAR") == 0) {
        wk->star = 1;
    }
    /* The WHERE clause that filters a catalog table's own rows is the one of the SELECT
     * whose FROM is that table, alone (not a CTE, a subquery or a join). */
    json_t *from = json_object_get(node, "from_table");
    if (strcmp(jstr(from, "type"), "BASE_TABLE") == 0 &&
        !(jstr(from, "schema_name")[0] == '\0' && jstr(from, "catalog_name")[0] == '\0' &&
          has_name(wk->ctes, wk->n_ctes, jstr(from, "table_name"))) &&
        json_is_object(json_object_get(node, "where_clause"))) {
        wk->where = json_object_get(node, "where_clause");
    }
    const char *k;
    json_t *v;
    json_object_foreach(node, k, v)
    {
        walk_tree(wk, v);
    }
}

/* Hive type -> DuckDB type for the columns of text tables and partition values. */
static void duck_type_of(const char *hive, struct buf *out)
{
    static const struct {
        const char *hive, *duck;
    } map[] = {{"string", "VARCHAR"},    {"varchar", "VARCHAR"}, {"char", "VARCHAR"},
               {"int", "INTEGER"},       {"integer", "INTEGER"}, {"bigint", "BIGINT"},
               {"smallint", "SMALLINT"}, {"tinyint", "TINYINT"}, {"double", "DOUBLE"},
               {"float", "FLOAT"},       {"boolean", "BOOLEAN"}, {"timestamp", "TIMESTAMP"},
               {"date", "DATE"},         {"binary", "BLOB"}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        size_t l = strlen(map[i].hive);
        if (strncasecmp(hive, map[i].hive, l) == 0 && (hive[l] == '\0' || hive[l] == '(')) {
            buf_puts(out, map[i].duck);
            return;
        }
    }
    if (strncasecmp(hive, "decimal", 7) == 0) {
        int p = 10, s = 0;
        sscanf(hive + 7, "(%d,%d)", &p, &s);
        buf_printf(out, "DECIMAL(%d,%d)", p, s);
        return;
    }
    buf_puts(out, "VARCHAR"); /* nested types: not in this slice */
}

static int table_format(const struct catalog_table_desc *d)
{
    const char *serde = d->serde_library != NULL ? d->serde_library : "";
    const char *in = d->input_format != NULL ? d->input_format : "";
    if (strcasestr(serde, "parquet") != NULL || strcasestr(in, "parquet") != NULL) {
        return FMT_PARQUET;
    }
    if (strcasestr(serde, "json") != NULL) {
        return FMT_JSON;
    }
    if (strcasestr(serde, "orc") != NULL || strcasestr(in, "orc") != NULL ||
        strcasestr(serde, "avro") != NULL) {
        return FMT_UNSUPPORTED;
    }
    return FMT_CSV;
}

/* 1 when the table asks for restored archived objects to be read
   (read_restored_glacier_objects=true). */
static int reads_restored(const struct catalog_table_desc *d)
{
    for (size_t i = 0; i < d->n_parameters; i++) {
        if (strcmp(d->parameters[i].key, "read_restored_glacier_objects") == 0) {
            return strcasecmp(d->parameters[i].value, "true") == 0;
        }
    }
    return 0;
}

/* Adds the object files under location to t (and their sizes). */
static int add_location_files(struct walk *wk, struct table_ref *t, const char *location,
                              struct buf *list_sql_files, struct buf *gz_sql_files)
{
    char bucket[LAKE_BUCKET_NAME_MAX + 1];
    const char *prefix;
    if (query__split_s3(location, bucket, sizeof(bucket), &prefix) < 0) {
        fail(wk, ATHENA_USER, 1302, "HIVE_METASTORE_ERROR: Table location '%s' is not an S3 URI",
             location != NULL ? location : "");
        return -1;
    }
    char *pfx = xasprintf("%s%s", prefix,
                          prefix[0] != '\0' && prefix[strlen(prefix) - 1] != '/' ? "/" : "");
    char *after = NULL;
    int rc = 0;
    char denied[1024], arn[LAKE_BUCKET_NAME_MAX + 1100];
    snprintf(arn, sizeof(arn), "arn:aws:s3:::%s", bucket);
    if (query__may(wk->svc, wk->who, "s3:ListBucket", arn, bucket, pfx, denied, sizeof(denied)) <
        0) {
        fail(wk, ATHENA_USER, 1000, "Permission denied on S3 path: s3://%s/%s", bucket, pfx);
        free(pfx);
        return -1;
    }
    /* Athena skips objects in GLACIER and DEEP_ARCHIVE; a table that asks reads those
       restored (lake_restore.h). */
    int restored_ok = reads_restored(t->desc);
    int64_t now = lake_lifecycle_now_ms();
    for (;;) {
        struct lake_list_opts lo = {.prefix = pfx, .after = after, .max_keys = 1000};
        struct lake_list_result res = {0};
        struct err_info e = {0};
        rc = lake_object_list(wk->svc->lake, bucket, &lo, &res, &e);
        if (rc < 0) {
            fail(wk, ATHENA_USER, 1302,
                 "HIVE_PATH_ALREADY_EXISTS: cannot list the table location %s: %s", location,
                 e.message);
            break;
        }
        for (size_t i = 0; i < res.n_objects; i++) {
            const struct lake_object_info *o = &res.objects[i];
            const char *base = strrchr(o->key, '/');
            base = base != NULL ? base + 1 : o->key;
            /* Athena skips directory markers and files starting with _ or . */
            if (base[0] == '\0' || base[0] == '_' || base[0] == '.' || o->size_bytes == 0) {
                continue;
            }
            char cls[32];
            if (lake_class_archived(lake_class_of(o->meta_json, cls)) &&
                !(restored_ok && lake_restore_readable(o->meta_json, now))) {
                continue;
            }
            /* each object is read as the caller */
            snprintf(arn, sizeof(arn), "arn:aws:s3:::%s/%s", bucket, o->key);
            if (query__may(wk->svc, wk->who, "s3:GetObject", arn, bucket, NULL, denied,
                           sizeof(denied)) < 0) {
                fail(wk, ATHENA_USER, 1000, "Permission denied on S3 path: s3://%s/%s", bucket,
                     o->key);
                rc = -1;
                break;
            }
            /* S3 decrypts an SSE-KMS object through KMS as the caller */
            if (query__may_decrypt(wk->svc, wk->who, bucket, o->key, denied, sizeof(denied)) < 0) {
                fail(wk, ATHENA_USER, 1000,
                     "HIVE_CANNOT_OPEN_SPLIT: Error opening Hive split s3://%s/%s (offset=0, "
                     "length=%lld): %s (Service: Amazon S3; Status Code: 403; Error Code: "
                     "AccessDenied)",
                     bucket, o->key, (long long)o->size_bytes, denied);
                rc = -1;
                break;
            }
            /* Encrypted objects are read through a view of their plaintext, held open for
               the run (release_run). */
            struct lake_view *v = NULL;
            const char *path = NULL;
            if (lake_object_view(wk->svc->lake, bucket, o->key, &v, &path, &e) < 0) {
                continue; /* deleted meanwhile */
            }
            buf_append(&wk->views, &v, sizeof(v));
            /* gzip text files go to a reader of their own: their paths (views) name no
               suffix DuckDB could tell them by. */
            size_t kl = strlen(o->key);
            int gz = t->format != FMT_PARQUET && kl > 3 && strcmp(o->key + kl - 3, ".gz") == 0;
            struct buf *into = gz ? gz_sql_files : list_sql_files;
            char *lit = duck_sql_literal(path);
            buf_printf(into, "%s%s", into->len > 1 ? ", " : "", lit);
            free(lit);
            buf_append(&t->files, path, strlen(path) + 1);
            t->n_files++;
            t->text_bytes += o->size_bytes;
        }
        free(after);
        after = res.last != NULL && res.truncated && rc == 0 ? xstrdup(res.last) : NULL;
        lake_list_result_fini(&res);
        if (after == NULL) {
            break;
        }
    }
    free(after);
    free(pfx);
    return rc < 0 ? -1 : 0;
}

/* The table function call reading t's files (list_sql is "[...]"). */
static void reader_sql(const struct table_ref *t, const char *list_sql, struct buf *out)
{
    const struct catalog_table_desc *d = t->desc;
    if (t->format == FMT_PARQUET) {
        buf_printf(out, "read_parquet(%s, union_by_name = true)", list_sql);
        return;
    }
    buf_printf(out, "%s(%s, %s", t->format == FMT_JSON ? "read_json" : "read_csv", list_sql,
               t->gzip ? "compression = 'gzip', " : "");
    if (t->format == FMT_JSON) {
        buf_puts(out, "format = 'newline_delimited', ignore_errors = true, ");
    } else {
        const char *delim = "\x01";
        for (size_t i = 0; i < d->n_serde_parameters; i++) {
            if (strcmp(d->serde_parameters[i].key, "field.delim") == 0 ||
                strcmp(d->serde_parameters[i].key, "separatorChar") == 0) {
                delim = d->serde_parameters[i].value;
            }
        }
        char *dl = duck_sql_literal(delim);
        /* LazySimpleSerDe writes NULL as \N */
        buf_printf(out, "delim = %s, header = false, quote = '', %s", dl,
                   d->serde_library != NULL && strcasestr(d->serde_library, "OpenCSV") != NULL
                       ? ""
                       : "nullstr = ['\\N', ''], ");
        free(dl);
    }
    buf_puts(out, "columns = {");
    for (size_t i = 0; i < d->n_columns; i++) {
        char *k = duck_sql_literal(d->columns[i].name);
        buf_printf(out, "%s%s: '", i > 0 ? ", " : "", k);
        duck_type_of(d->columns[i].type, out);
        buf_puts(out, "'");
        free(k);
    }
    buf_puts(out, "})");
}

/* Whether a Hive type is a scalar one duck_type_of names. */
static int scalar_hive_type(const char *hive)
{
    return strchr(hive, '<') == NULL;
}

/* SELECT list of the table's data columns. A Parquet file's columns come as its own
 * types; Athena reports the catalog's, so they are cast to them (parquet_types has
 * refused the files whose types the catalog's cannot read). */
static void data_columns(const struct table_ref *t, struct buf *out)
{
    for (size_t i = 0; i < t->desc->n_columns; i++) {
        const struct catalog_column *c = &t->desc->columns[i];
        char *q = duck_sql_ident(c->name);
        if (t->format == FMT_PARQUET && scalar_hive_type(c->type)) {
            buf_printf(out, "%sCAST(%s AS ", i > 0 ? ", " : "", q);
            duck_type_of(c->type, out);
            buf_printf(out, ") AS %s", q);
        } else {
            buf_printf(out, "%s%s", i > 0 ? ", " : "", q);
        }
        free(q);
    }
}

/* A SELECT producing no rows with the table's columns (no files to read). */
static void empty_select(const struct table_ref *t, struct buf *out)
{
    const struct catalog_table_desc *d = t->desc;
    buf_puts(out, "SELECT ");
    for (size_t i = 0; i < d->n_columns + d->n_partition_keys; i++) {
        const struct catalog_column *c =
            i < d->n_columns ? &d->columns[i] : &d->partition_keys[i - d->n_columns];
        char *q = duck_sql_ident(c->name);
        buf_printf(out, "%sCAST(NULL AS ", i > 0 ? ", " : "");
        duck_type_of(c->type, out);
        buf_printf(out, ") AS %s", q);
        free(q);
    }
    buf_puts(out, " WHERE false");
}

typedef void (*conjunct_fn)(const struct table_ref *t, json_t *e, const char *type,
                            struct buf *out);

/* Calls fn on each conjunct of the expression e: the leaves under nested ANDs, or e
   itself when it is no AND. Non-objects are skipped. */
static void for_each_conjunct(const struct table_ref *t, json_t *e, conjunct_fn fn, struct buf *out)
{
    if (!json_is_object(e)) {
        return;
    }
    const char *type = jstr(e, "type");
    if (strcmp(type, "CONJUNCTION_AND") == 0) {
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(e, "children"), i, c)
        {
            for_each_conjunct(t, c, fn, out);
        }
        return;
    }
    fn(t, e, type, out);
}

/* Appends to the Glue expression what one conjunct of the WHERE clause says about the
   partition keys (nothing when it says nothing); for_each_conjunct walks the clause. */
static void partition_conjunct(const struct table_ref *t, json_t *e, const char *type,
                               struct buf *out)
{
    static const struct {
        const char *type, *op;
    } ops[] = {{"COMPARE_EQUAL", "="},
               {"COMPARE_GREATERTHAN", ">"},
               {"COMPARE_LESSTHAN", "<"},
               {"COMPARE_GREATERTHANOREQUALTO", ">="},
               {"COMPARE_LESSTHANOREQUALTO", "<="},
               {"COMPARE_IN", "IN"}};
    const char *op = NULL;
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (strcmp(type, ops[i].type) == 0) {
            op = ops[i].op;
        }
    }
    if (op == NULL) {
        return;
    }
    json_t *left, *rights;
    json_t *one = NULL;
    if (strcmp(op, "IN") == 0) {
        json_t *ch = json_object_get(e, "children");
        left = json_array_get(ch, 0);
        rights = ch;
    } else {
        left = json_object_get(e, "left");
        one = json_array();
        json_array_append(one, left);
        json_array_append(one, json_object_get(e, "right"));
        rights = one;
    }
    json_t *names = json_object_get(left, "column_names");
    const char *col = json_string_value(json_array_get(names, json_array_size(names) - 1));
    const struct catalog_column *key = NULL;
    for (size_t i = 0; col != NULL && i < t->desc->n_partition_keys; i++) {
        if (strcasecmp(t->desc->partition_keys[i].name, col) == 0) {
            key = &t->desc->partition_keys[i];
        }
    }
    if (strcmp(jstr(left, "class"), "COLUMN_REF") != 0 || key == NULL) {
        json_decref(one);
        return;
    }
    struct buf term;
    buf_init(&term);
    buf_printf(&term, "%s %s %s", key->name, op, strcmp(op, "IN") == 0 ? "(" : "");
    for (size_t i = 1; i < json_array_size(rights); i++) {
        json_t *c = json_array_get(rights, i);
        if (strcmp(jstr(c, "class"), "CAST") == 0) {
            c = json_object_get(c, "child"); /* TIMESTAMP '...', DATE '...' */
        }
        json_t *val = json_object_get(json_object_get(c, "value"), "value");
        if (strcmp(jstr(c, "class"), "CONSTANT") != 0 || json_is_null(val) || val == NULL) {
            buf_fini(&term);
            json_decref(one);
            return;
        }
        if (json_is_string(val)) {
            buf_putc(&term, '\'');
            for (const char *p = json_string_value(val); *p != '\0'; p++) {
                buf_puts(&term, *p == '\'' ? "''" : (char[]){*p, 0});
            }
            buf_putc(&term, '\'');
        } else if (json_is_integer(val)) {
            buf_printf(&term, "%lld", (long long)json_integer_value(val));
        } else {
            buf_fini(&term);
            json_decref(one);
            return;
        }
        if (i + 1 < json_array_size(rights)) {
            buf_puts(&term, ", ");
        }
    }
    if (strcmp(op, "IN") == 0) {
        buf_putc(&term, ')');
    }
    if (buf_status(&term) == 0) {
        buf_printf(out, "%s(%.*s)", out->len > 0 ? " AND " : "", (int)term.len,
                   (const char *)term.data);
    }
    buf_fini(&term);
    json_decref(one);
}

/* The FROM item reading file lists plain and gz (each "[a, b…", opened by '[' and
 * closed here): one reader, or a union of a plain and a gzip reader when a location
 * holds both (INSERT INTO adds .gz files beside a table's plain ones). */
static void files_reader_sql(struct table_ref *t, struct buf *plain, struct buf *gz,
                             struct buf *out)
{
    buf_putc(plain, ']');
    buf_putc(plain, '\0');
    buf_putc(gz, ']');
    buf_putc(gz, '\0');
    int has_plain = plain->len > 3, has_gz = gz->len > 3; /* "[]" and its NUL */
    if (has_plain && has_gz) {
        buf_puts(out, "(SELECT * FROM ");
        t->gzip = 0;
        reader_sql(t, (const char *)plain->data, out);
        buf_puts(out, " UNION ALL BY NAME SELECT * FROM ");
        t->gzip = 1;
        reader_sql(t, (const char *)gz->data, out);
        buf_puts(out, ")");
    } else {
        t->gzip = has_gz;
        reader_sql(t, (const char *)(has_gz ? gz->data : plain->data), out);
    }
}

struct part_ctx {
    struct walk *wk;
    struct table_ref *t;
    struct buf *sql;
    size_t n_parts;
    struct buf *flat;    /* when the query reads no partition key: every file, one list */
    struct buf *flat_gz; /* and the gzip ones among them */
};

/* 1 when the query may read one of t's partition keys (a star counts), so its view must
 * carry their values; otherwise the partitions' files can be read as one list, which
 * DuckDB scans as fast as a single table (a UNION ALL of one reader per partition costs
 * several times more, and loses count(*) from the Parquet footers). */
static int reads_partition_keys(const struct walk *wk, const struct table_ref *t)
{
    if (wk->star) {
        return 1;
    }
    for (size_t i = 0; i < t->desc->n_partition_keys; i++) {
        if (has_name(wk->columns, wk->n_columns, t->desc->partition_keys[i].name)) {
            return 1;
        }
    }
    return 0;
}

static int on_partition(void *arg, const char *const *values, size_t n_values, const char *location)
{
    struct part_ctx *pc = arg;
    struct table_ref *t = pc->t;
    if (pc->flat != NULL) {
        return add_location_files(pc->wk, t, location, pc->flat, pc->flat_gz) < 0;
    }
    struct buf list, gz;
    buf_init(&list);
    buf_init(&gz);
    buf_putc(&list, '[');
    buf_putc(&gz, '[');
    size_t before = t->n_files;
    if (add_location_files(pc->wk, t, location, &list, &gz) < 0) {
        buf_fini(&list);
        buf_fini(&gz);
        return 1;
    }
    if (t->n_files > before) {
        buf_printf(pc->sql, "%sSELECT ", pc->n_parts > 0 ? " UNION ALL BY NAME " : "");
        data_columns(t, pc->sql);
        for (size_t i = 0; i < n_values && i < t->desc->n_partition_keys; i++) {
            /* Hive's directory for a NULL key */
            char *lit = strcmp(values[i], "__HIVE_DEFAULT_PARTITION__") == 0
                            ? xstrdup("NULL")
                            : duck_sql_literal(values[i]);
            char *q = duck_sql_ident(t->desc->partition_keys[i].name);
            buf_printf(pc->sql, ", CAST(%s AS ", lit);
            duck_type_of(t->desc->partition_keys[i].type, pc->sql);
            buf_printf(pc->sql, ") AS %s", q);
            free(lit);
            free(q);
        }
        buf_puts(pc->sql, " FROM ");
        files_reader_sql(t, &list, &gz, pc->sql);
        pc->n_parts++;
    }
    buf_fini(&list);
    buf_fini(&gz);
    return 0;
}

/* Builds the view of a table with partition projection from the partitions its
 * configuration gives, narrowed by the query's WHERE clause when prune. */
static void project_partitions(struct walk *wk, struct table_ref *t, int prune)
{
    size_t nk = t->desc->n_partition_keys;
    struct query_key_filter *f = xcalloc(nk, sizeof(*f));
    if (prune) {
        query__projection_filters(t->desc, wk->where, f);
    }
    struct part_ctx pc = {wk, t, &t->view_sql, 0};
    char err[1024];
    if (query__projection_scan(t->desc, f, clock_now_ms(), on_partition, &pc, err, sizeof(err)) <
            0 &&
        !wk->failed) {
        fail(wk, ATHENA_USER, 1001, "%s", err);
    }
    query__projection_filters_free(f, nk);
}

/* Builds t's view and file list. */
static void prepare_table(struct walk *wk, struct table_ref *t, int prune)
{
    t->format = table_format(t->desc);
    if (t->format == FMT_UNSUPPORTED) {
        fail(wk, ATHENA_USER, 1001,
             "NOT_SUPPORTED: Table 'awsdatacatalog.%s.%s' is stored in a format this server "
             "does not read (ORC and Avro are not supported)",
             t->database, t->name);
        return;
    }
    struct buf *sql = &t->view_sql;
    buf_printf(sql, "CREATE OR REPLACE TEMP VIEW %s AS ", t->view);
    size_t head = sql->len;
    if (t->desc->n_partition_keys == 0) {
        struct buf list, gz;
        buf_init(&list);
        buf_init(&gz);
        buf_putc(&list, '[');
        buf_putc(&gz, '[');
        if (add_location_files(wk, t, t->desc->location, &list, &gz) == 0 && t->n_files > 0) {
            buf_puts(sql, "SELECT ");
            data_columns(t, sql);
            buf_puts(sql, " FROM ");
            files_reader_sql(t, &list, &gz, sql);
        }
        buf_fini(&list);
        buf_fini(&gz);
    } else if (query__projection_enabled(t->desc)) {
        project_partitions(wk, t, prune);
    } else {
        struct buf expr;
        buf_init(&expr);
        if (prune) {
            for_each_conjunct(t, wk->where, partition_conjunct, &expr);
        }
        buf_putc(&expr, '\0');
        struct buf flat, flat_gz;
        buf_init(&flat);
        buf_init(&flat_gz);
        buf_putc(&flat, '[');
        buf_putc(&flat_gz, '[');
        int keys = reads_partition_keys(wk, t);
        struct part_ctx pc = {wk, t, sql, 0, keys ? NULL : &flat, keys ? NULL : &flat_gz};
        struct catalog_scope sc = {wk->svc->cfg->region, wk->svc->cfg->account_id};
        struct err_info e = {0};
        char denied[1024];
        int rc = SL_E(ACCESS_DENIED);
        if (query__may_glue(wk->svc, wk->who, "glue:GetPartitions", t->database, t->name, denied,
                            sizeof(denied)) < 0) {
            fail(wk, ATHENA_USER, 1000, "Insufficient permissions to execute the query. %s",
                 denied);
        } else {
            rc = catalog_partition_scan(wk->svc->cat, &sc, t->database, t->name,
                                        (const char *)expr.data, on_partition, &pc, &e);
        }
        if (rc == SL_E(INVALID_INPUT) && !wk->failed && expr.len > 1) {
            /* The catalog cannot evaluate what was extracted: read every partition and
             * let the WHERE clause filter the rows (correct, only dearer). */
            sql->len = head;
            buf_reset(&t->files);
            t->n_files = 0;
            t->text_bytes = 0;
            pc.n_parts = 0;
            flat.len = 1;
            flat_gz.len = 1;
            rc = catalog_partition_scan(wk->svc->cat, &sc, t->database, t->name, "", on_partition,
                                        &pc, &e);
        }
        if (rc < 0 && !wk->failed) {
            fail(wk, ATHENA_USER, 1001, "HIVE_METASTORE_ERROR: %s", e.message);
        }
        if (pc.flat != NULL && t->n_files > 0) {
            buf_puts(sql, "SELECT ");
            data_columns(t, sql);
            buf_puts(sql, " FROM ");
            files_reader_sql(t, &flat, &flat_gz, sql);
        }
        buf_fini(&flat);
        buf_fini(&flat_gz);
        buf_fini(&expr);
    }
    if (sql->len == head) {
        empty_select(t, sql);
    }
}

int query__parquet_scan_bytes(struct duck_conn *conn, const char *const *files, size_t n_files,
                              const char *const *columns, size_t n_columns, const char *skip_sql,
                              int64_t *bytes, struct duck_error *err)
{
    *bytes = 0;
    if (n_files == 0 || n_columns == 0) {
        return 0;
    }
    struct buf sql;
    buf_init(&sql);
    buf_puts(&sql, "WITH m AS (SELECT file_name, row_group_id, total_compressed_size AS sz,"
                   " lower(split_part(path_in_schema, ', ', 1)) AS col,"
                   " stats_min_value AS mn, stats_max_value AS mx FROM parquet_metadata([");
    for (size_t i = 0; i < n_files; i++) {
        char *lit = duck_sql_literal(files[i]);
        buf_printf(&sql, "%s%s", i > 0 ? ", " : "", lit);
        free(lit);
    }
    buf_printf(&sql,
               "])), skipped AS (SELECT DISTINCT file_name, row_group_id FROM m WHERE %s)"
               " SELECT CAST(coalesce(sum(sz), 0) AS BIGINT) FROM m WHERE"
               " (file_name, row_group_id) NOT IN (SELECT (file_name, row_group_id) FROM"
               " skipped) AND col IN (",
               skip_sql != NULL && skip_sql[0] != '\0' ? skip_sql : "false");
    for (size_t i = 0; i < n_columns; i++) {
        char *l = lower_dup(columns[i]);
        char *lit = duck_sql_literal(l);
        buf_printf(&sql, "%s%s", i > 0 ? ", " : "", lit);
        free(lit);
        free(l);
    }
    buf_puts(&sql, ")");
    if (buf_status(&sql) != 0) {
        buf_fini(&sql);
        return SL_E(NOMEM);
    }
    buf_putc(&sql, '\0');
    struct duck_result *res = NULL;
    int rc = duck_query(conn, (const char *)sql.data, &res, err);
    buf_fini(&sql);
    size_t n = 0;
    if (rc == 0 && (rc = duck_result_fetch(res, &n, err)) == 0 && n == 1) {
        *bytes = ((const int64_t *)duck_vec_data(duck_result_column(res, 0)))[0];
    }
    duck_result_destroy(res);
    return rc;
}

/*
 * The row groups a Parquet reader skips by their statistics, as a SQL condition over
 * parquet_metadata's rows (col, mn, mx): true for a column chunk whose min/max prove that
 * a top-level conjunct of the WHERE clause (=, <, <=, >, >=, IN against constants on a
 * numeric, date or timestamp column) holds for none of its rows. Strings are left out:
 * their statistics may be truncated. This is one conjunct's part (nothing when it does not
 * qualify); for_each_conjunct walks the clause.
 */
static void stats_skip_conjunct(const struct table_ref *t, json_t *e, const char *type,
                                struct buf *out)
{
    static const struct {
        const char *type, *skip; /* the skip condition, %1$s = the constant */
    } ops[] = {
        {"COMPARE_EQUAL", "(mx < %1$s OR mn > %1$s)"}, {"COMPARE_LESSTHAN", "mn >= %1$s"},
        {"COMPARE_LESSTHANOREQUALTO", "mn > %1$s"},    {"COMPARE_GREATERTHAN", "mx <= %1$s"},
        {"COMPARE_GREATERTHANOREQUALTO", "mx < %1$s"}, {"COMPARE_IN", "(mx < %1$s OR mn > %1$s)"}};
    const char *skip = NULL;
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (strcmp(type, ops[i].type) == 0) {
            skip = ops[i].skip;
        }
    }
    if (skip == NULL) {
        return;
    }
    int is_in = strcmp(type, "COMPARE_IN") == 0;
    json_t *left =
        is_in ? json_array_get(json_object_get(e, "children"), 0) : json_object_get(e, "left");
    json_t *names = json_object_get(left, "column_names");
    const char *col = json_string_value(json_array_get(names, json_array_size(names) - 1));
    const struct catalog_column *column = NULL;
    for (size_t i = 0; col != NULL && i < t->desc->n_columns; i++) {
        if (strcasecmp(t->desc->columns[i].name, col) == 0) {
            column = &t->desc->columns[i];
        }
    }
    if (strcmp(jstr(left, "class"), "COLUMN_REF") != 0 || column == NULL) {
        return;
    }
    struct buf dtype;
    buf_init(&dtype);
    duck_type_of(column->type, &dtype);
    buf_putc(&dtype, '\0');
    const char *dt = (const char *)dtype.data;
    static const char *const ordered[] = {"INTEGER", "BIGINT", "SMALLINT",  "TINYINT", "DOUBLE",
                                          "FLOAT",   "DATE",   "TIMESTAMP", "DECIMAL"};
    int ok = 0;
    for (size_t i = 0; dt != NULL && i < sizeof(ordered) / sizeof(ordered[0]); i++) {
        ok |= strncmp(dt, ordered[i], strlen(ordered[i])) == 0;
    }
    json_t *consts = json_array();
    if (is_in) {
        for (size_t i = 1; i < json_array_size(json_object_get(e, "children")); i++) {
            json_array_append(consts, json_array_get(json_object_get(e, "children"), i));
        }
    } else {
        json_array_append(consts, json_object_get(e, "right"));
    }
    struct buf term;
    buf_init(&term);
    char *lcol = lower_dup(column->name);
    char *col_lit = duck_sql_literal(lcol);
    free(lcol);
    buf_printf(&term, "(col = %s AND TRY_CAST(mn AS %s) IS NOT NULL AND (", col_lit, dt);
    free(col_lit);
    size_t i;
    json_t *c;
    json_array_foreach(consts, i, c)
    {
        if (strcmp(jstr(c, "class"), "CAST") == 0) {
            c = json_object_get(c, "child");
        }
        json_t *val = json_object_get(json_object_get(c, "value"), "value");
        char text[64];
        char *lit = NULL;
        if (strcmp(jstr(c, "class"), "CONSTANT") != 0 || val == NULL) {
            ok = 0;
        } else if (json_is_string(val)) {
            lit = duck_sql_literal(json_string_value(val));
        } else if (json_is_integer(val)) {
            snprintf(text, sizeof(text), "%lld", (long long)json_integer_value(val));
            lit = xstrdup(text);
        } else if (json_is_real(val)) {
            snprintf(text, sizeof(text), "%.17g", json_real_value(val));
            lit = xstrdup(text);
        } else {
            ok = 0;
        }
        if (lit != NULL) {
            /* the statistics cast to the column's type, then the constant put in */
            struct buf tb;
            buf_init(&tb);
            for (const char *p = skip; *p != '\0'; p++) {
                if (p[0] == 'm' && (p[1] == 'n' || p[1] == 'x')) {
                    buf_printf(&tb, "TRY_CAST(%c%c AS %s)", p[0], p[1], dt);
                    p++;
                } else {
                    buf_putc(&tb, *p);
                }
            }
            buf_putc(&tb, '\0');
            char *k = xasprintf("TRY_CAST(%s AS %s)", lit, dt);
            char *cond = buf_status(&tb) == 0 ? xasprintf((const char *)tb.data, k) : NULL;
            if (cond == NULL) {
                ok = 0;
            } else {
                buf_printf(&term, "%s%s", i > 0 ? " AND " : "", cond);
            }
            buf_fini(&tb);
            free(cond);
            free(k);
            free(lit);
        }
    }
    buf_puts(&term, "))");
    if (ok && json_array_size(consts) > 0 && buf_status(&term) == 0) {
        buf_printf(out, "%s%.*s", out->len > 0 ? " OR " : "", (int)term.len,
                   (const char *)term.data);
    }
    buf_fini(&term);
    buf_fini(&dtype);
    json_decref(consts);
}

/* Runs sql (one value, VARCHAR) and returns a copy of the value; NULL on failure. */
static char *query_one_text(struct duck_conn *conn, const char *sql, struct duck_error *err)
{
    struct duck_result *res = NULL;
    char *out = NULL;
    size_t n = 0;
    if (duck_query(conn, sql, &res, err) == 0 && duck_result_fetch(res, &n, err) == 0 && n == 1) {
        const struct duck_vec *v = duck_result_column(res, 0);
        if (duck_vec_type(v)->id == DUCK_T_VARCHAR && !duck_vec_is_null(v, 0)) {
            struct duck_str s = duck_vec_str(v, 0);
            out = xstrndup(s.ptr, s.len);
        }
    }
    duck_result_destroy(res);
    return out;
}

void query__athena_message(const char *duck_msg, enum duck_err_kind kind, query_locate_fn locate,
                           void *arg, char *out, size_t out_len)
{
    /* The first line, without DuckDB's "Binder Error: " class prefix. DuckDB's own
     * "LINE n:" points into the SQL Sluice generated, not the client's: positions come
     * from the client's parse tree through locate instead. */
    const char *msg = duck_msg;
    const char *colon = strstr(msg, " Error: ");
    const char *nl = strchr(msg, '\n');
    if (colon != NULL && (nl == NULL || colon < nl)) {
        msg = colon + strlen(" Error: ");
        nl = strchr(msg, '\n');
    }
    int first_len = nl != NULL ? (int)(nl - msg) : (int)strlen(msg);
    char where[48] = "";
    char name[256];
    if (sscanf(msg, "Referenced column \"%255[^\"]\" not found", name) == 1) {
        if (locate != NULL) {
            locate(arg, 0, name, where, sizeof(where));
        }
        snprintf(out, out_len,
                 "COLUMN_NOT_FOUND: %sColumn '%s' cannot be resolved or requester is not "
                 "authorized to access requested resources",
                 where, name);
    } else if (sscanf(msg, "Scalar Function with name %255s does not exist", name) == 1 ||
               sscanf(msg, "Aggregate Function with name %255s does not exist", name) == 1) {
        if (locate != NULL) {
            locate(arg, 1, name, where, sizeof(where));
        }
        snprintf(out, out_len, "FUNCTION_NOT_FOUND: %sFunction '%s' not registered", where, name);
    } else {
        const char *code = "GENERIC_INTERNAL_ERROR";
        switch (kind) {
        case DUCK_ERR_SYNTAX:
        case DUCK_ERR_BINDER:
        case DUCK_ERR_CATALOG: code = "SYNTAX_ERROR"; break;
        case DUCK_ERR_CONVERSION: code = "INVALID_CAST_ARGUMENT"; break;
        case DUCK_ERR_OUT_OF_RANGE: code = "NUMERIC_VALUE_OUT_OF_RANGE"; break;
        case DUCK_ERR_INVALID_INPUT:
        case DUCK_ERR_NOT_IMPLEMENTED:
        case DUCK_ERR_CONSTRAINT: code = "INVALID_FUNCTION_ARGUMENT"; break;
        case DUCK_ERR_PERMISSION: code = "PERMISSION_DENIED"; break;
        case DUCK_ERR_OUT_OF_MEMORY: code = "EXCEEDED_LOCAL_MEMORY_LIMIT"; break;
        case DUCK_ERR_IO: code = "HIVE_CANNOT_OPEN_SPLIT"; break;
        default: break;
        }
        snprintf(out, out_len, "%s: %.*s", code, first_len, msg);
    }
    query__scrub_paths(out);
}

/* Finds the first COLUMN_REF (is_function 0) or FUNCTION node named name in the tree. */
static json_t *find_node(json_t *node, int is_function, const char *name)
{
    if (json_is_array(node)) {
        size_t i;
        json_t *v, *hit;
        json_array_foreach(node, i, v)
        {
            if ((hit = find_node(v, is_function, name)) != NULL) {
                return hit;
            }
        }
        return NULL;
    }
    if (!json_is_object(node)) {
        return NULL;
    }
    const char *type = jstr(node, "type");
    if (!is_function && strcmp(type, "COLUMN_REF") == 0) {
        json_t *names = json_object_get(node, "column_names");
        const char *last = json_string_value(json_array_get(names, json_array_size(names) - 1));
        if (last != NULL && strcasecmp(last, name) == 0) {
            return node;
        }
    }
    if (is_function && strcmp(type, "FUNCTION") == 0 &&
        strcasecmp(jstr(node, "function_name"), name) == 0) {
        return node;
    }
    const char *k;
    json_t *v, *hit;
    json_object_foreach(node, k, v)
    {
        if ((hit = find_node(v, is_function, name)) != NULL) {
            return hit;
        }
    }
    return NULL;
}

struct locate_ctx {
    json_t *tree;
    const char *text;
};

static void locate_in_tree(void *arg, int is_function, const char *name, char *where,
                           size_t where_len)
{
    struct locate_ctx *lc = arg;
    json_t *n = find_node(lc->tree, is_function, name);
    json_t *loc = json_object_get(n, "query_location");
    if (n != NULL && json_is_integer(loc) && json_integer_value(loc) > 0) {
        int line, col;
        line_col(lc->text, json_integer_value(loc), &line, &col);
        snprintf(where, where_len, "line %d:%d: ", line, col);
    }
}

/* Athena's USER/SYSTEM category and type for a DuckDB failure kind. */
static void classify(enum duck_err_kind kind, int *category, int *type)
{
    switch (kind) {
    case DUCK_ERR_SYNTAX:
    case DUCK_ERR_BINDER:
    case DUCK_ERR_CATALOG:
        *category = ATHENA_USER;
        *type = 1006;
        break;
    case DUCK_ERR_CONVERSION:
    case DUCK_ERR_OUT_OF_RANGE:
    case DUCK_ERR_INVALID_INPUT:
    case DUCK_ERR_NOT_IMPLEMENTED:
    case DUCK_ERR_PERMISSION:
    case DUCK_ERR_CONSTRAINT:
        *category = ATHENA_USER;
        *type = 1001;
        break;
    default:
        *category = ATHENA_SYSTEM;
        *type = 401;
        break;
    }
}

/* The first word of a statement, upper-cased, for the refusal message. */
static void first_word(const char *s, char *out, size_t len)
{
    while (*s != '\0' && (isspace((unsigned char)*s) || *s == '(')) {
        s++;
    }
    size_t i = 0;
    while (s[i] != '\0' && (isalnum((unsigned char)s[i]) || s[i] == '_') && i + 1 < len) {
        out[i] = (char)toupper((unsigned char)s[i]);
        i++;
    }
    out[i] = '\0';
}

/* Appends SQL giving the text Athena shows for e, a value of type t nested in an array, a
 * map or a row (NULL for NULL): arrays [a, b], maps {k=v}, rows {name=v}, a NULL inside
 * them as null, strings bare, timestamps with milliseconds. depth names lambda variables. */
static void nested_text_sql(const struct duck_type *t, const char *e, int depth, struct buf *out)
{
    char var[32];
    snprintf(var, sizeof(var), "__e%d", depth);
    switch (t->id) {
    case DUCK_T_LIST:
        buf_printf(out, "CASE WHEN (%s) IS NULL THEN NULL ELSE '[' || array_to_string("
                        "list_transform(%s, %s -> coalesce(", e, e, var);
        nested_text_sql(t->element, var, depth + 1, out);
        buf_puts(out, ", 'null')), ', ') || ']' END");
        return;
    case DUCK_T_MAP: {
        char k[48], v[48];
        snprintf(k, sizeof(k), "%s.key", var);
        snprintf(v, sizeof(v), "%s.value", var);
        buf_printf(out, "CASE WHEN (%s) IS NULL THEN NULL ELSE '{' || array_to_string("
                        "list_transform(map_entries(%s), %s -> ", e, e, var);
        nested_text_sql(t->key, k, depth + 1, out);
        buf_puts(out, " || '=' || coalesce(");
        nested_text_sql(t->value, v, depth + 1, out);
        buf_puts(out, ", 'null')), ', ') || '}' END");
        return;
    }
    case DUCK_T_STRUCT:
        buf_printf(out, "CASE WHEN (%s) IS NULL THEN NULL ELSE '{' || ", e);
        for (size_t i = 0; i < t->n_fields; i++) {
            char *name = duck_sql_literal(t->fields[i].name);
            char *field = xasprintf("struct_extract(%s, %s)", e, name);
            /* the name as text: a literal of its own, quotes doubled */
            buf_printf(out, "%s%s || '=' || coalesce(", i > 0 ? " || ', ' || " : "", name);
            nested_text_sql(t->fields[i].type, field, depth + 1, out);
            buf_puts(out, ", 'null')");
            free(field);
            free(name);
        }
        buf_puts(out, " || '}' END");
        return;
    case DUCK_T_TIMESTAMP:
    case DUCK_T_TIMESTAMP_S:
    case DUCK_T_TIMESTAMP_MS:
    case DUCK_T_TIMESTAMP_NS:
        buf_printf(out, "strftime(%s, '%%Y-%%m-%%d %%H:%%M:%%S.%%g')", e);
        return;
    case DUCK_T_TIMESTAMP_TZ:
        buf_printf(out, "strftime(timezone('UTC', %s), '%%Y-%%m-%%d %%H:%%M:%%S.%%g UTC')", e);
        return;
    default: buf_printf(out, "CAST(%s AS VARCHAR)", e); return;
    }
}

/* Formats every column as Athena prints it and writes the CSV into out. */
static int write_rows(struct duck_conn *conn, struct buf *out, json_t *columns, json_t *zones,
                      struct duck_error *err)
{
    struct duck_result *res = NULL;
    int rc = duck_query(conn, "SELECT * FROM __sl_res LIMIT 0", &res, err);
    if (rc < 0) {
        return rc;
    }
    size_t nc = duck_result_column_count(res);
    int *java_double = xcalloc(nc + 1, sizeof(*java_double)); /* 1 double, 2 real */
    struct buf sel;
    buf_init(&sel);
    buf_puts(&sel, "SELECT ");
    for (size_t i = 0; i < nc; i++) {
        /* Trino's identifiers are lower case */
        char name[256];
        snprintf(name, sizeof(name), "%s", duck_result_column_name(res, i));
        for (char *p = name; *p != '\0'; p++) {
            *p = (char)tolower((unsigned char)*p);
        }
        const struct duck_type *t = duck_result_column_type(res, i);
        java_double[i] = t->id == DUCK_T_DOUBLE ? 1 : t->id == DUCK_T_FLOAT ? 2 : 0;
        struct query_athena_type at;
        query__athena_type(t, &at);
        json_array_append_new(columns,
                              json_pack("{s:s, s:s, s:i, s:i}", "Name", name, "Type", at.name,
                                        "Precision", at.precision, "Scale", at.scale));
        query__csv_field(out, name, strlen(name));
        buf_putc(out, i + 1 < nc ? ',' : '\n');
        char *q = duck_sql_ident(duck_result_column_name(res, i));
        const char *fmt = "CAST(%s AS VARCHAR)";
        const char *zone = NULL;
        switch (t->id) {
        case DUCK_T_TIMESTAMP:
        case DUCK_T_TIMESTAMP_S:
        case DUCK_T_TIMESTAMP_MS:
        case DUCK_T_TIMESTAMP_NS: fmt = "strftime(%s, '%%Y-%%m-%%d %%H:%%M:%%S.%%g')"; break;
        case DUCK_T_TIMESTAMP_TZ:
            fmt = "strftime(timezone('UTC', %s), '%%Y-%%m-%%d %%H:%%M:%%S.%%g UTC')";
            zone = json_string_value(json_array_get(zones, i));
            break;
        case DUCK_T_TIME: fmt = "strftime(DATE '2000-01-01' + %s, '%%H:%%M:%%S.%%g')"; break;
        case DUCK_T_INTERVAL: fmt = "__sl_interval_text(%s)"; break;
        default: break;
        }
        buf_puts(&sel, i > 0 ? ", " : "");
        if (t->id == DUCK_T_LIST || t->id == DUCK_T_MAP || t->id == DUCK_T_STRUCT) {
            nested_text_sql(t, q, 0, &sel);
        } else if (zone != NULL) {
            /* the wall time in the zone, then the zone's name */
            char *z = duck_sql_literal(zone);
            buf_printf(&sel, "strftime(timezone(%s, %s), '%%Y-%%m-%%d %%H:%%M:%%S.%%g ') || %s", z,
                       q, z);
            free(z);
        } else {
            buf_printf(&sel, fmt, q);
        }
        free(q);
    }
    duck_result_destroy(res);
    buf_puts(&sel, " FROM __sl_res");
    buf_putc(&sel, '\0');
    if (buf_status(&sel) != 0) {
        buf_fini(&sel);
        return SL_E(NOMEM);
    }
    rc = duck_query(conn, (const char *)sel.data, &res, err);
    buf_fini(&sel);
    size_t n = 0;
    while (rc == 0 && (rc = duck_result_fetch(res, &n, err)) == 0 && n > 0) {
        for (size_t r = 0; r < n; r++) {
            for (size_t c = 0; c < nc; c++) {
                const struct duck_vec *v = duck_result_column(res, c);
                if (duck_vec_is_null(v, r)) {
                    /* NULL: an empty field */
                } else if (java_double[c] != 0) {
                    struct duck_str s = duck_vec_str(v, r);
                    char text[64];
                    snprintf(text, sizeof(text), "%.*s", (int)s.len, s.ptr);
                    query__java_double(strtod(text, NULL), java_double[c] == 2, text, sizeof(text));
                    query__csv_field(out, text, strlen(text));
                } else {
                    struct duck_str s = duck_vec_str(v, r);
                    query__csv_field(out, s.ptr, s.len);
                }
                buf_putc(out, c + 1 < nc ? ',' : '\n');
            }
        }
        if (buf_status(out) != 0) {
            rc = SL_E(NOMEM);
        }
    }
    duck_result_destroy(res);
    free(java_double);
    return rc;
}

struct exec_row {
    char *query;
    char *database;
    char *output_location;
    int64_t cutoff; /* 0: none */
    int enforce;    /* the workgroup's EnforceWorkGroupConfiguration */
    char state[16];
};

static int load(struct query_service *svc, const char *id, struct exec_row *row)
{
    struct store_stmt *stmt = NULL;
    store_read_begin(svc->st);
    int rc = store_prepare(svc->st,
                           "SELECT e.query, e.database, e.output_location, w.cutoff_bytes, e.state,"
                           " w.enforce"
                           " FROM query_executions e LEFT JOIN query_workgroups w"
                           " ON w.name = e.workgroup WHERE e.id = ?",
                           &stmt);
    if (rc == 0) {
        store_bind_text(stmt, 1, id);
        rc = store_step(stmt);
        if (rc == 1) {
            row->query = xstrdup(store_col_text(stmt, 0));
            row->database =
                xstrdup(store_col_is_null(stmt, 1) ? "default" : store_col_text(stmt, 1));
            row->output_location = xstrdup(store_col_text(stmt, 2));
            row->cutoff = store_col_is_null(stmt, 3) ? 0 : store_col_int64(stmt, 3);
            snprintf(row->state, sizeof(row->state), "%s", store_col_text(stmt, 4));
            row->enforce = !store_col_is_null(stmt, 5) && store_col_int64(stmt, 5) != 0;
            rc = 0;
        } else if (rc == 0) {
            rc = SL_E(RESOURCE_NOT_FOUND);
        }
    }
    store_finalize(stmt);
    store_read_end(svc->st);
    return rc;
}

/* The state of one execution as it passes through the phases of query__execute. The row and
 * everything below it are owned here and released by release_run. */
struct exec_run {
    struct query_worker *w;    /* the worker running it; its DuckDB connection */
    struct query_service *svc; /* the service the worker belongs to */
    const char *id;            /* the execution id; borrowed from the caller */
    const struct query_caller *who; /* who started it; borrowed */
    struct exec_row row;       /* the stored execution */
    int64_t t0_ns;             /* clock_mono_ns when it became RUNNING */
    struct walk wk;            /* the parsed query: tables, columns, the first failure */
    struct duck_error derr;    /* the last DuckDB error */
    json_t *tree;              /* the query's syntax tree, rewritten to read our views */
    json_t *columns;           /* the result's column descriptions */
    int64_t scanned;           /* bytes the query reads, after pruning */
    struct buf csv;            /* the result object's content */
    char *deser;               /* the rewritten query as SQL */
    struct query_write *write; /* CTAS, INSERT INTO, UNLOAD: what the query's rows go to */
    json_t *zones; /* per result column, the zone (a string) a timestamp with time zone is
                      shown in, or null for UTC; NULL when none */
};

/* How a phase ended: go on, fail the execution (the message is in wk), or stop because the
 * execution's final state is already written (cancelled). */
enum step { STEP_OK, STEP_FAILED, STEP_ENDED };

/* Loads execution `id` into r->row and, when it is QUEUED, names it as the worker's running
 * execution and moves it to RUNNING. Returns 0 when the execution is now RUNNING; -1 when it
 * cannot be read, is no longer QUEUED, or another writer changed its state first — then the
 * worker is not left naming it and only r->row needs release. */
static int claim(struct exec_run *r)
{
    struct query_service *svc = r->svc;
    if (load(svc, r->id, &r->row) < 0 || strcmp(r->row.state, "QUEUED") != 0) {
        return -1;
    }
    /* Named as running before it is RUNNING, so a stop never misses it. */
    pthread_mutex_lock(&svc->mu);
    snprintf(r->w->running_id, sizeof(r->w->running_id), "%s", r->id);
    r->w->cancel = 0;
    pthread_mutex_unlock(&svc->mu);
    if (query__exec_set_state(svc, r->id, QUERY_QUEUED, QUERY_RUNNING, NULL, 0, 0, 0, 0, NULL) <
        0) {
        pthread_mutex_lock(&svc->mu);
        r->w->running_id[0] = '\0';
        pthread_mutex_unlock(&svc->mu);
        return -1;
    }
    return 0;
}

/* Parses the query with DuckDB into r->tree, checks it is one statement Athena would run,
 * walks it to find its tables, CTEs and columns, and gives unnamed select items of the
 * outermost query Athena's labels (_col0, ...). Returns STEP_OK, or STEP_FAILED with the
 * message in r->wk: the query cannot be parsed, is not SELECT/WITH/VALUES, has a syntax
 * error, holds more than one statement, or names tables the walk rejects. */
static enum step parse_query(struct exec_run *r)
{
    struct walk *wk = &r->wk;
    if (query__write_kind(r->row.query) != QUERY_WRITE_NONE) {
        /* the statement's query runs as a SELECT; query_ctas.c writes its rows */
        struct query_failure qf;
        if (query__write_parse(r->row.query, &r->write, &qf) < 0) {
            fail(wk, qf.category, qf.type, "%s", qf.message);
            return STEP_FAILED;
        }
        r->write->who = r->who;
        if (query__write_prepare(r->write, r->svc, r->id, r->row.database, r->row.output_location,
                                 r->row.enforce, &qf) < 0) {
            fail(wk, qf.category, qf.type, "%s", qf.message);
            return STEP_FAILED;
        }
        wk->text = r->write->select;
    }
    wk->conn = r->w->conn;
    r->tree = parse_tree(r->w->conn, wk->text, &r->derr);
    if (r->tree == NULL) {
        fail(wk, ATHENA_SYSTEM, 401, "INTERNAL_ERROR: the query could not be parsed");
        return STEP_FAILED;
    }
    if (json_is_true(json_object_get(r->tree, "error"))) {
        char word[32];
        first_word(r->row.query, word, sizeof(word));
        if (strcmp(jstr(r->tree, "error_type"), "not implemented") == 0) {
            fail(wk, ATHENA_USER, 1001,
                 "NOT_SUPPORTED: Only SELECT, WITH and VALUES statements are supported (got %s)",
                 word[0] != '\0' ? word : "an empty statement");
        } else {
            const char *pos = jstr(r->tree, "position");
            int line = 1, col = 1;
            if (pos[0] != '\0') {
                line_col(r->row.query, strtoll(pos, NULL, 10), &line, &col);
            }
            fail(wk, ATHENA_USER, 1006, "SYNTAX_ERROR: line %d:%d: %s", line, col,
                 jstr(r->tree, "error_message"));
        }
        return STEP_FAILED;
    }
    json_t *stmts = json_object_get(r->tree, "statements");
    if (json_array_size(stmts) != 1) {
        fail(wk, ATHENA_USER, 1006, "SYNTAX_ERROR: Only one sql statement is allowed. Got: %zu",
             json_array_size(stmts));
        return STEP_FAILED;
    }
    json_t *root = json_object_get(json_array_get(stmts, 0), "node");
    collect_ctes(wk, root);
    walk_tree(wk, root);
    if (wk->failed) {
        return STEP_FAILED;
    }
    /* A result column that is x AT TIME ZONE 'zone' (at_timezone, with_timezone) shows its
     * timestamp in that zone, as Trino's values carry it (DuckDB's carry none). */
    json_t *items_z = json_object_get(root, "select_list");
    int has_star = 0;
    for (size_t i = 0; i < json_array_size(items_z); i++) {
        has_star |= strcmp(jstr(json_array_get(items_z, i), "class"), "STAR") == 0;
    }
    for (size_t i = 0; !has_star && i < json_array_size(items_z); i++) {
        json_t *it = json_array_get(items_z, i);
        const char *fn = jstr(it, "function_name");
        json_t *zone = json_array_get(json_object_get(it, "children"), 1);
        json_t *zv = json_object_get(json_object_get(zone, "value"), "value");
        if (strcmp(jstr(it, "class"), "FUNCTION") != 0 || !json_is_string(zv) ||
            (strcmp(fn, "__sl_at_timezone") != 0 && strcmp(fn, "__sl_with_timezone") != 0)) {
            continue;
        }
        if (r->zones == NULL) {
            r->zones = json_array();
        }
        while (json_array_size(r->zones) < i) {
            json_array_append_new(r->zones, json_null());
        }
        json_array_append(r->zones, zv);
    }
    /* Athena's labels for unnamed select items of the outermost query, and for the columns
     * of a VALUES statement (DuckDB's col0, col1, ...). */
    json_t *items = json_object_get(root, "select_list");
    json_t *from = json_object_get(root, "from_table");
    json_t *vals = json_object_get(from, "values");
    if (strcmp(jstr(from, "type"), "EXPRESSION_LIST") == 0 &&
        strcmp(jstr(from, "alias"), "valueslist") == 0 && json_array_size(vals) > 0 &&
        json_array_size(json_object_get(from, "expected_names")) == 0) {
        json_t *names = json_array();
        for (size_t i = 0; i < json_array_size(json_array_get(vals, 0)); i++) {
            char label[32];
            snprintf(label, sizeof(label), "_col%zu", i);
            json_array_append_new(names, json_string(label));
        }
        json_object_set_new(from, "expected_names", names);
    }
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *it = json_array_get(items, i);
        const char *cls = jstr(it, "class");
        if (jstr(it, "alias")[0] == '\0' && strcmp(cls, "COLUMN_REF") != 0 &&
            strcmp(cls, "STAR") != 0) {
            char label[32];
            snprintf(label, sizeof(label), "_col%zu", i);
            json_object_set_new(it, "alias", json_string(label));
        }
    }
    return STEP_OK;
}

/* The class of values a Parquet column of physical type `phys` and converted type `conv`
 * holds, and of a Hive type: what a reader can turn into what. */
enum value_class { VC_TEXT, VC_NUMBER, VC_BOOL, VC_DATE, VC_TIME, VC_OTHER };

static enum value_class parquet_class(const char *phys, const char *conv)
{
    if (strcmp(conv, "DATE") == 0) {
        return VC_DATE;
    }
    if (strncmp(conv, "TIMESTAMP", 9) == 0 || strcmp(phys, "INT96") == 0) {
        return VC_TIME;
    }
    if (strcmp(conv, "DECIMAL") == 0) {
        return VC_NUMBER;
    }
    if (strcmp(phys, "BYTE_ARRAY") == 0 || strcmp(phys, "FIXED_LEN_BYTE_ARRAY") == 0) {
        return VC_TEXT;
    }
    if (strcmp(phys, "BOOLEAN") == 0) {
        return VC_BOOL;
    }
    return VC_NUMBER; /* INT32, INT64, FLOAT, DOUBLE */
}

static enum value_class hive_class(const char *hive)
{
    static const struct {
        const char *prefix;
        enum value_class vc;
    } map[] = {{"string", VC_TEXT},   {"varchar", VC_TEXT},   {"char", VC_TEXT},
               {"tinyint", VC_NUMBER}, {"smallint", VC_NUMBER}, {"int", VC_NUMBER},
               {"bigint", VC_NUMBER},  {"float", VC_NUMBER},   {"double", VC_NUMBER},
               {"decimal", VC_NUMBER}, {"boolean", VC_BOOL},   {"date", VC_DATE},
               {"timestamp", VC_TIME}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strncasecmp(hive, map[i].prefix, strlen(map[i].prefix)) == 0) {
            return map[i].vc;
        }
    }
    return VC_OTHER;
}

/* Trino's name of a Hive type in messages: string is varchar, int integer. */
static const char *trino_type_name(const char *hive)
{
    if (strcasecmp(hive, "string") == 0) {
        return "varchar";
    }
    if (strcasecmp(hive, "int") == 0) {
        return "integer";
    }
    return hive;
}

/* Checks that each of t's scalar columns the query reads has, in every file, a Parquet type
 * the catalog's type can be read from (a number as bigint, a float as double, ...), as
 * Athena's reader does. Returns 0, or -1 with Athena's HIVE_BAD_DATA failure in r->wk. */
static int parquet_types(struct exec_run *r, struct table_ref *t, const char *const *files)
{
    struct walk *wk = &r->wk;
    struct buf sql;
    buf_init(&sql);
    buf_puts(&sql, "SELECT coalesce(string_agg(n || '|' || type || '|' || conv, chr(10)), '')"
                   " FROM (SELECT DISTINCT lower(name) AS n, type, coalesce(converted_type, '')"
                   " AS conv FROM parquet_schema([");
    for (size_t i = 0; i < t->n_files; i++) {
        char *lit = duck_sql_literal(files[i]);
        buf_printf(&sql, "%s%s", i > 0 ? ", " : "", lit);
        free(lit);
    }
    buf_puts(&sql, "]) WHERE type IS NOT NULL)");
    char *rows = buf_status(&sql) == 0 ? query_one_text(r->w->conn, (const char *)sql.data,
                                                        &r->derr)
                                       : NULL;
    buf_fini(&sql);
    if (rows == NULL) {
        return 0; /* unreadable files fail in parquet_bytes, with its message */
    }
    int rc = 0;
    for (char *line = rows, *next; line != NULL && *line != '\0' && rc == 0; line = next) {
        next = strchr(line, '\n');
        if (next != NULL) {
            *next++ = '\0';
        }
        char *phys = strchr(line, '|');
        char *conv = phys != NULL ? strchr(phys + 1, '|') : NULL;
        if (conv == NULL) {
            continue;
        }
        *phys++ = '\0';
        *conv++ = '\0';
        for (size_t c = 0; c < t->desc->n_columns; c++) {
            const struct catalog_column *col = &t->desc->columns[c];
            if (strcasecmp(col->name, line) != 0 ||
                !(wk->star || has_name(wk->columns, wk->n_columns, col->name))) {
                continue;
            }
            enum value_class want = hive_class(col->type);
            if (want != VC_OTHER && want != parquet_class(phys, conv)) {
                fail(wk, ATHENA_USER, 1001,
                     "HIVE_BAD_DATA: Field %s's type %s in parquet is incompatible with type %s "
                     "defined in table schema",
                     col->name, strcmp(phys, "BYTE_ARRAY") == 0 ? "BINARY" : phys,
                     trino_type_name(col->type));
                rc = -1;
            }
            break;
        }
    }
    free(rows);
    return rc;
}

/* Counts the bytes a Parquet table's scan reads into *bytes: the columns the query uses, in
 * the row groups its WHERE clause cannot skip by statistics (`prune`: only when the query
 * reads this one table once). Returns 0, or -1 with a HIVE_BAD_DATA failure in r->wk when a
 * file is not Parquet or cannot be read. */
static int parquet_bytes(struct exec_run *r, struct table_ref *t, int prune, int64_t *bytes)
{
    struct walk *wk = &r->wk;
    const char **files = xcalloc(t->n_files + 1, sizeof(*files));
    const char *p = (const char *)t->files.data;
    for (size_t f = 0; f < t->n_files; f++) {
        files[f] = p;
        p += strlen(p) + 1;
    }
    const char **cols = xcalloc(t->desc->n_columns + 1, sizeof(*cols));
    size_t n_cols = 0;
    for (size_t c = 0; c < t->desc->n_columns; c++) {
        if (wk->star || has_name(wk->columns, wk->n_columns, t->desc->columns[c].name)) {
            cols[n_cols++] = t->desc->columns[c].name;
        }
    }
    struct buf skip;
    buf_init(&skip);
    if (prune) {
        for_each_conjunct(t, wk->where, stats_skip_conjunct, &skip);
    }
    buf_putc(&skip, '\0');
    int64_t b = 0;
    if (n_cols > 0 && parquet_types(r, t, files) < 0) {
        buf_fini(&skip);
        free(files);
        free(cols);
        return -1;
    }
    int rc = query__parquet_scan_bytes(r->w->conn, files, t->n_files, cols, n_cols,
                                       buf_status(&skip) == 0 ? (const char *)skip.data : NULL, &b,
                                       &r->derr);
    if (rc < 0 && skip.len > 1) {
        /* statistics the condition cannot read: count every row group */
        rc = query__parquet_scan_bytes(r->w->conn, files, t->n_files, cols, n_cols, NULL, &b,
                                       &r->derr);
    }
    buf_fini(&skip);
    free(files);
    free(cols);
    if (rc < 0) {
        int cat, type;
        classify(r->derr.kind, &cat, &type);
        fail(wk, ATHENA_USER, 1001,
             "HIVE_BAD_DATA: Table 'awsdatacatalog.%s.%s' has a file that is not Parquet "
             "or cannot be read",
             t->database, t->name);
        return -1;
    }
    *bytes = b;
    return 0;
}

/* Resolves each table the query reads to its files and view (pruning partitions by the WHERE
 * clause when the query reads one table once) and adds up the bytes each one's scan reads
 * into per_table[i] (NULL: not kept) and r->scanned. Returns 0, or -1 when a table cannot
 * be resolved or read (the failure in r->wk). */
static int measure_tables(struct exec_run *r, int64_t *per_table)
{
    struct walk *wk = &r->wk;
    for (size_t i = 0; i < wk->n_tables && !wk->failed; i++) {
        struct table_ref *t = &wk->tables[i];
        /* Pruning needs the one WHERE clause that filters this table's rows: only when
         * the query reads one table, once, straight from a SELECT's FROM. */
        prepare_table(wk, t, wk->n_tables == 1 && wk->n_base_refs == 1);
        if (wk->failed) {
            break;
        }
        int64_t b = t->text_bytes;
        if (t->format == FMT_PARQUET &&
            parquet_bytes(r, t, wk->n_tables == 1 && wk->n_base_refs == 1, &b) < 0) {
            break;
        }
        r->scanned += b;
        if (per_table != NULL) {
            per_table[i] = b;
        }
    }
    return wk->failed ? -1 : 0;
}

/* Measures the tables' scans (measure_tables), records the bytes on the execution, then
 * applies the workgroup's cutoff. Returns STEP_OK; STEP_FAILED when a table cannot be
 * resolved or read; STEP_ENDED when the scan passes the cutoff and the execution has been
 * CANCELLED. */
static enum step scan_tables(struct exec_run *r)
{
    if (measure_tables(r, NULL) < 0) {
        return STEP_FAILED;
    }
    query__exec_set_scanned(r->svc, r->id, r->scanned);
    if (r->row.cutoff > 0 && r->scanned > r->row.cutoff) {
        query__exec_set_state(r->svc, r->id, QUERY_RUNNING, QUERY_CANCELLED,
                              "Bytes scanned limit was exceeded", 0, 0, r->row.cutoff,
                              (clock_mono_ns() - r->t0_ns) / 1000000, NULL);
        return STEP_ENDED;
    }
    return STEP_OK;
}

/* Records DuckDB's failure (r->derr) of the rewritten query in Athena's words, positions
 * in the client's text, the views' names never shown. */
static void engine_failure(struct exec_run *r)
{
    struct walk *wk = &r->wk;
    int cat, type;
    classify(r->derr.kind, &cat, &type);
    char text[1024];
    struct locate_ctx lc = {r->tree, r->row.query};
    query__athena_message(r->derr.message, r->derr.kind, locate_in_tree, &lc, text, sizeof(text));
    for (size_t i = 0; i < wk->n_tables; i++) {
        char *v;
        while ((v = strstr(text, wk->tables[i].view)) != NULL) {
            memset(v, '?', strlen(wk->tables[i].view)); /* never show the view's name */
        }
    }
    fail(wk, cat, type, "%s", text);
}

/* Turns r's checked tree back into SQL (r->deser) after creating the views it reads.
 * Returns STEP_OK or STEP_FAILED (the failure in r->wk). */
static enum step views_and_sql(struct exec_run *r)
{
    struct walk *wk = &r->wk;
    for (size_t i = 0; i < wk->n_tables; i++) {
        buf_putc(&wk->tables[i].view_sql, '\0');
        if (buf_status(&wk->tables[i].view_sql) != 0 ||
            duck_exec(r->w->conn, (const char *)wk->tables[i].view_sql.data, &r->derr) < 0) {
            int cat, type;
            classify(r->derr.kind, &cat, &type);
            query__scrub_paths(r->derr.message);
            fail(wk, cat, type, "HIVE_BAD_DATA: %s", r->derr.message);
            return STEP_FAILED;
        }
    }
    char *tree_text = json_dumps(r->tree, JSON_COMPACT);
    char *lit = duck_sql_literal(tree_text);
    free(tree_text);
    char *sql = xasprintf("SELECT json_deserialize_sql(%s)", lit);
    free(lit);
    r->deser = query_one_text(r->w->conn, sql, &r->derr);
    free(sql);
    if (r->deser == NULL) {
        query__scrub_paths(r->derr.message);
        fail(wk, ATHENA_SYSTEM, 401, "INTERNAL_ERROR: %s", r->derr.message);
        return STEP_FAILED;
    }
    return STEP_OK;
}

/* Creates the views the rewritten query reads, turns the tree back into SQL (r->deser) and,
 * unless the user stopped the execution meanwhile, runs it on DuckDB into the temporary
 * table __sl_res and writes its rows as CSV into r->csv and their columns into r->columns.
 * Returns STEP_OK; STEP_FAILED when a view cannot be created, the tree cannot be turned back
 * into SQL, the server stops during the run, or DuckDB rejects the query (its message in
 * Athena's words, with view names hidden); STEP_ENDED when the user cancelled it. */
static enum step run_query(struct exec_run *r)
{
    struct walk *wk = &r->wk;
    struct query_service *svc = r->svc;
    if (views_and_sql(r) != STEP_OK) {
        return STEP_FAILED;
    }
    pthread_mutex_lock(&svc->mu);
    int cancel = r->w->cancel, stopping_early = svc->stopping;
    pthread_mutex_unlock(&svc->mu);
    if (cancel) {
        return STEP_ENDED; /* StopQueryExecution has written CANCELLED */
    }
    if (stopping_early) {
        fail(wk, ATHENA_SYSTEM, 401, "INTERNAL_ERROR: the server stopped while the query ran");
        return STEP_FAILED;
    }
    char *sql = xasprintf("CREATE OR REPLACE TEMP TABLE __sl_res AS %s", r->deser);
    int rc = duck_exec(r->w->conn, sql, &r->derr);
    free(sql);
    if (rc == 0) {
        rc = write_rows(r->w->conn, &r->csv, r->columns, r->zones, &r->derr);
    }
    pthread_mutex_lock(&svc->mu);
    int stopping = svc->stopping;
    pthread_mutex_unlock(&svc->mu);
    if (rc == -ECANCELED && stopping) {
        fail(wk, ATHENA_SYSTEM, 401, "INTERNAL_ERROR: the server stopped while the query ran");
        return STEP_FAILED;
    }
    if (rc == -ECANCELED) {
        query__exec_set_state(svc, r->id, QUERY_RUNNING, QUERY_CANCELLED, "Query cancelled by user",
                              0, 0, r->scanned, (clock_mono_ns() - r->t0_ns) / 1000000, NULL);
        return STEP_ENDED;
    }
    if (rc < 0) {
        engine_failure(r);
        return STEP_FAILED;
    }
    return STEP_OK;
}

/* Writes r->csv as the result object at the execution's output location and marks the
 * execution SUCCEEDED with its bytes scanned and columns. Returns STEP_OK; STEP_FAILED when
 * the output location is not an s3:// URL with a key or the object cannot be written. */
static enum step write_result(struct exec_run *r)
{
    if (r->write != NULL) {
        struct query_failure qf;
        if (query__write_finish(r->write, r->svc, r->w->conn, r->id, r->row.database,
                                r->row.output_location, r->scanned,
                                (clock_mono_ns() - r->t0_ns) / 1000000, &qf) < 0) {
            fail(&r->wk, qf.category, qf.type, "%s", qf.message);
            return STEP_FAILED;
        }
        return STEP_OK;
    }
    char bucket[LAKE_BUCKET_NAME_MAX + 1];
    const char *key;
    struct err_info e = {0};
    if (query__split_s3(r->row.output_location, bucket, sizeof(bucket), &key) < 0 || key[0] == '\0') {
        fail(&r->wk, ATHENA_USER, 1001, "INVALID_INPUT: bad output location %s",
             r->row.output_location);
        return STEP_FAILED;
    }
    /* the result and its metadata are written as the caller */
    char denied[1024], arn[LAKE_BUCKET_NAME_MAX + 1100];
    for (int meta = 0; meta < 2; meta++) {
        snprintf(arn, sizeof(arn), "arn:aws:s3:::%s/%s%s", bucket, key, meta ? ".metadata" : "");
        if (query__may(r->svc, r->who, "s3:PutObject", arn, bucket, NULL, denied, sizeof(denied)) <
            0) {
            fail(&r->wk, ATHENA_USER, 1302,
                 "Access denied when writing output to url: %s . Please ensure you are allowed "
                 "to access the S3 bucket. If you are encrypting query results with KMS key, "
                 "please ensure you are allowed to access your KMS key",
                 r->row.output_location);
            return STEP_FAILED;
        }
    }
    /* a bucket whose default is SSE-KMS: the caller's data key */
    char *sse = NULL;
    if (query__may_encrypt(r->svc, r->who, bucket, key, &sse, denied, sizeof(denied)) < 0) {
        fail(&r->wk, ATHENA_USER, 1302,
             "Access denied when writing output to url: %s . Please ensure you are allowed "
             "to access the S3 bucket. If you are encrypting query results with KMS key, "
             "please ensure you are allowed to access your KMS key",
             r->row.output_location);
        return STEP_FAILED;
    }
    struct lake_put_opts po = {.content_type = "text/csv", .sse = sse};
    int put_rc = lake_object_put(r->svc->lake, bucket, key,
                                 r->csv.data != NULL ? (const char *)r->csv.data : "", r->csv.len,
                                 &po, NULL, &e);
    free(sse);
    if (put_rc < 0) {
        fail(&r->wk, ATHENA_USER, 1302, "Unable to verify/create output bucket %s", bucket);
        return STEP_FAILED;
    }
    char *cols_text = json_dumps(r->columns, JSON_COMPACT);
    char *meta = xasprintf("%s.metadata", r->row.output_location);
    int meta_rc = query__result_metadata_put(r->svc, meta, r->id, cols_text);
    free(meta);
    if (meta_rc < 0) {
        free(cols_text);
        fail(&r->wk, ATHENA_USER, 1302, "Unable to verify/create output bucket %s", bucket);
        return STEP_FAILED;
    }
    query__exec_set_state(r->svc, r->id, QUERY_RUNNING, QUERY_SUCCEEDED, NULL, 0, 0, r->scanned,
                          (clock_mono_ns() - r->t0_ns) / 1000000, cols_text);
    free(cols_text);
    return STEP_OK;
}

/* Drops the result table and the views on the worker's connection, frees what the phases
 * built, and clears the worker's running execution. Leaves r->row to the caller. */
static void release_run(struct exec_run *r)
{
    struct walk *wk = &r->wk;
    duck_exec(r->w->conn, "DROP TABLE IF EXISTS __sl_res", NULL);
    for (size_t i = 0; i < wk->n_tables; i++) {
        char *drop = xasprintf("DROP VIEW IF EXISTS %s", wk->tables[i].view);
        duck_exec(r->w->conn, drop, NULL);
        free(drop);
        catalog_table_desc_destroy(wk->tables[i].desc);
        buf_fini(&wk->tables[i].files);
        buf_fini(&wk->tables[i].view_sql);
    }
    for (size_t i = 0; i < wk->n_ctes; i++) {
        free(wk->ctes[i]);
    }
    free(wk->ctes);
    for (size_t i = 0; i < wk->n_columns; i++) {
        free(wk->columns[i]);
    }
    free(wk->columns);
    for (size_t i = 0; i < wk->views.len / sizeof(struct lake_view *); i++) {
        struct lake_view *v;
        memcpy(&v, wk->views.data + i * sizeof(v), sizeof(v));
        lake_view_release(v);
    }
    buf_fini(&wk->views);
    free(r->deser);
    query__write_free(r->write);
    json_decref(r->tree);
    json_decref(r->columns);
    json_decref(r->zones);
    buf_fini(&r->csv);
    pthread_mutex_lock(&r->svc->mu);
    r->w->running_id[0] = '\0';
    pthread_mutex_unlock(&r->svc->mu);
}

/* DuckDB's plan of the rewritten query, its views named by their tables, into out. */
static enum step plan_text(struct exec_run *r, struct buf *out)
{
    struct walk *wk = &r->wk;
    if (views_and_sql(r) != STEP_OK) {
        return STEP_FAILED;
    }
    char *sql = xasprintf("EXPLAIN %s", r->deser);
    struct duck_result *res = NULL;
    size_t n = 0;
    int rc = duck_query(r->w->conn, sql, &res, &r->derr);
    free(sql);
    while (rc == 0 && (rc = duck_result_fetch(res, &n, &r->derr)) == 0 && n > 0) {
        const struct duck_vec *v = duck_result_column(res, duck_result_column_count(res) - 1);
        for (size_t i = 0; i < n; i++) {
            struct duck_str s = duck_vec_str(v, i);
            buf_append(out, s.ptr, s.len);
        }
    }
    duck_result_destroy(res);
    if (rc < 0) {
        engine_failure(r);
        return STEP_FAILED;
    }
    buf_putc(out, '\0');
    for (size_t i = 0; i < wk->n_tables; i++) {
        char *name = xasprintf("%s.%s", wk->tables[i].database, wk->tables[i].name);
        struct buf rep;
        buf_init(&rep);
        const char *p = (const char *)out->data;
        const char *hit;
        while ((hit = strstr(p, wk->tables[i].view)) != NULL) {
            buf_append(&rep, p, (size_t)(hit - p));
            buf_puts(&rep, name);
            p = hit + strlen(wk->tables[i].view);
        }
        buf_puts(&rep, p);
        buf_putc(&rep, '\0');
        buf_reset(out);
        buf_append(out, rep.data, rep.len);
        buf_fini(&rep);
        free(name);
    }
    query__scrub_paths((char *)out->data); /* a reader's arguments may name files */
    out->len = strlen((const char *)out->data);
    return STEP_OK;
}

/* The columns of the rewritten query's result as a JSON array of {name, type} (Athena's
 * type names, decimals with precision and scale), into out. */
static enum step plan_columns(struct exec_run *r, struct buf *out)
{
    if (views_and_sql(r) != STEP_OK) {
        return STEP_FAILED;
    }
    char *sql = xasprintf("SELECT * FROM (%s) LIMIT 0", r->deser);
    struct duck_result *res = NULL;
    int rc = duck_query(r->w->conn, sql, &res, &r->derr);
    free(sql);
    if (rc < 0) {
        engine_failure(r);
        return STEP_FAILED;
    }
    json_t *cols = json_array();
    for (size_t i = 0; i < duck_result_column_count(res); i++) {
        struct query_athena_type at;
        query__athena_type(duck_result_column_type(res, i), &at);
        char type[64];
        if (strcmp(at.name, "decimal") == 0) {
            snprintf(type, sizeof(type), "decimal(%d,%d)", at.precision, at.scale);
        } else {
            snprintf(type, sizeof(type), "%s", at.name);
        }
        json_array_append_new(
            cols, json_pack("{s:s, s:s}", "name", duck_result_column_name(res, i), "type", type));
    }
    duck_result_destroy(res);
    char *text = json_dumps(cols, JSON_COMPACT);
    buf_puts(out, text);
    free(text);
    json_decref(cols);
    return STEP_OK;
}

int query__plan(struct query_worker *w, const char *select, const char *database,
                const struct query_caller *who, enum query_plan_kind kind, struct buf *out,
                struct query_failure *failure)
{
    struct exec_run r = {.w = w, .svc = w->svc, .id = "", .who = who};
    r.row.query = xstrdup(select);
    r.row.database = xstrdup(database);
    r.wk =
        (struct walk){.svc = r.svc, .who = who, .default_db = r.row.database, .text = r.row.query};
    r.columns = json_array();
    buf_init(&r.csv);
    int64_t per_table[MAX_TABLES] = {0};
    enum step st = parse_query(&r);
    if (st == STEP_OK && measure_tables(&r, per_table) < 0) {
        st = STEP_FAILED;
    }
    if (st == STEP_OK && kind == QUERY_PLAN_COLUMNS) {
        st = plan_columns(&r, out);
    } else if (st == STEP_OK && kind == QUERY_PLAN_IO) {
        /* Trino's EXPLAIN (TYPE IO) document; the estimate is the bytes the scan reads. */
        json_t *infos = json_array();
        for (size_t i = 0; i < r.wk.n_tables; i++) {
            json_array_append_new(infos, json_pack("{s:{s:s, s:{s:s, s:s}}, s:{s:I}}", "table",
                                                   "catalog", "awsdatacatalog", "schemaTable",
                                                   "schema", r.wk.tables[i].database, "table",
                                                   r.wk.tables[i].name, "estimate",
                                                   "outputSizeInBytes", (json_int_t)per_table[i]));
        }
        json_t *doc = json_pack("{s:o, s:{s:I}}", "inputTableColumnInfos", infos, "estimate",
                                "outputSizeInBytes", (json_int_t)r.scanned);
        char *text = json_dumps(doc, JSON_INDENT(2));
        buf_puts(out, text);
        free(text);
        json_decref(doc);
    } else if (st == STEP_OK) {
        st = plan_text(&r, out);
    }
    if (st != STEP_OK) {
        failure->category = r.wk.err_category;
        failure->type = r.wk.err_type;
        snprintf(failure->message, sizeof(failure->message), "%s", r.wk.message);
    }
    /* release_run clears the worker's running execution: the one planning this stays. */
    char running[QUERY_ID_LEN + 1];
    pthread_mutex_lock(&r.svc->mu);
    memcpy(running, w->running_id, sizeof(running));
    pthread_mutex_unlock(&r.svc->mu);
    release_run(&r);
    pthread_mutex_lock(&r.svc->mu);
    memcpy(w->running_id, running, sizeof(running));
    pthread_mutex_unlock(&r.svc->mu);
    free(r.row.query);
    free(r.row.database);
    return st == STEP_OK ? 0 : -1;
}

/* Runs execution `id` on worker w when it is still QUEUED: RUNNING, then parse, scan and
 * cutoff, run, result object; it ends SUCCEEDED, FAILED (with Athena's category, type and
 * message) or CANCELLED (cutoff or user). An execution another writer moved first is left
 * alone. */
void query__execute(struct query_worker *w, const char *id, const struct query_caller *who)
{
    struct exec_run r = {.w = w, .svc = w->svc, .id = id, .who = who};
    if (claim(&r) < 0) {
        goto out_row;
    }
    r.t0_ns = clock_mono_ns();
    r.wk =
        (struct walk){.svc = r.svc, .who = who, .default_db = r.row.database, .text = r.row.query};
    r.columns = json_array();
    buf_init(&r.csv);
    if (query__ddl_classify(r.row.query) != QUERY_DDL_NONE) {
        query__ddl_execute(w, id, r.row.query, r.row.database, r.row.output_location, r.t0_ns, who);
        goto out_release;
    }

    enum step st = parse_query(&r);
    if (st == STEP_OK) {
        st = scan_tables(&r);
    }
    if (st == STEP_OK) {
        st = run_query(&r);
    }
    if (st == STEP_OK) {
        st = write_result(&r);
    }
    if (st == STEP_FAILED) {
        goto out_finish;
    }
    goto out_release;

out_finish:
    pthread_mutex_lock(&r.svc->mu);
    if (r.svc->stopping) {
        /* whatever step the stop interrupted, the cause is the server's */
        r.wk.failed = 0;
        fail(&r.wk, ATHENA_SYSTEM, 401, "INTERNAL_ERROR: the server stopped while the query ran");
    }
    pthread_mutex_unlock(&r.svc->mu);
    query__exec_set_state(r.svc, id, QUERY_RUNNING, QUERY_FAILED, r.wk.message, r.wk.err_category,
                          r.wk.err_type, 0, (clock_mono_ns() - r.t0_ns) / 1000000, NULL);
out_release:
    release_run(&r);
out_row:
    free(r.row.query);
    free(r.row.database);
    free(r.row.output_location);
}
