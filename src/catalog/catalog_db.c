/*
 * Data Catalog databases and tables, table versions, SearchTables and the in-process
 * table description.
 *
 * Table versions: glue_table_version holds every version, the current one included;
 * glue_table.version names the current one. UpdateTable adds version n+1, or with
 * SkipArchive rewrites the current version in place. The current version cannot be
 * deleted.
 */
#include "catalog/catalog_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/mem.h"

#define MAX_BATCH_DELETE_TABLES 100
#define MAX_DATABASES 10000      /* Glue's quota per account and region */
#define MAX_TABLES_PER_DB 200000 /* Glue's quota per database */
#define MAX_FILTER_LEN 2048      /* GetTables Expression (FilterString) */

/* Steps a prepared COUNT statement once and finalizes it; 0 when it fails. */
static int64_t count_of(struct store_stmt *s)
{
    int64_t n = s != NULL && store_step(s) == 1 ? store_col_int64(s, 0) : 0;
    store_finalize(s);
    return n;
}

/* ---- lookups (caller holds the lock or a read bracket) ---- */

/* Finds a database by (lower-cased) name; sets *db_id. */
static int db_find(struct catalog *cat, const struct catalog_scope *sc, const char *name,
                   int64_t *db_id, struct err_info *err)
{
    struct store_stmt *s = store_prepare_args(
        cat->st, "SELECT id FROM glue_database WHERE region=? AND account=? AND name=?", "sss",
        sc->region, sc->account_id, name);
    if (s == NULL) {
        return catalog__store_err(err, SL_E(IO));
    }
    int rc = store_step(s);
    if (rc == 1) {
        *db_id = store_col_int64(s, 0);
    }
    store_finalize(s);
    if (rc < 0) {
        return catalog__store_err(err, rc);
    }
    if (rc == 0) {
        return err_set(err, SL_E(ENTITY_NOT_FOUND), "Database %s not found.", name);
    }
    return 0;
}

int catalog__table_find(struct catalog *cat, const struct catalog_scope *sc, const char *db_name,
                        const char *tbl_name, int64_t *table_id, json_t **doc, struct err_info *err)
{
    char *db = catalog__lower(db_name != NULL ? db_name : "");
    char *tbl = catalog__lower(tbl_name != NULL ? tbl_name : "");
    int64_t db_id = 0;
    int rc = db_find(cat, sc, db, &db_id, err);
    if (rc < 0) {
        goto out;
    }
    struct store_stmt *s = store_prepare_args(
        cat->st, "SELECT id, doc FROM glue_table WHERE db_id=? AND name=?", "is", db_id, tbl);
    if (s == NULL) {
        rc = catalog__store_err(err, SL_E(IO));
        goto out;
    }
    rc = store_step(s);
    if (rc == 1) {
        *table_id = store_col_int64(s, 0);
        if (doc != NULL) {
            *doc = catalog__load(store_col_text(s, 1));
            if (*doc == NULL) {
                rc = SL_E(CORRUPT);
            }
        }
    }
    store_finalize(s);
    if (rc < 0) {
        rc = catalog__store_err(err, rc);
    } else if (rc == 0) {
        rc = err_set(err, SL_E(ENTITY_NOT_FOUND), "Table %s not found.", tbl);
    } else {
        rc = 0;
    }
out:
    free(db);
    free(tbl);
    return rc;
}

/* ---- databases ---- */

static json_t *database_out(const struct catalog_scope *sc, const char *doc_text, int64_t create_ms)
{
    json_t *d = catalog__load(doc_text);
    if (d == NULL) {
        return NULL;
    }
    json_object_set_new(d, "CreateTime", catalog__time(create_ms));
    json_object_set_new(d, "CatalogId", json_string(sc->account_id));
    if (json_object_get(d, "CreateTableDefaultPermissions") == NULL) {
        json_object_set_new(d, "CreateTableDefaultPermissions",
                            json_pack("[{s:{s:s}, s:[s]}]", "Principal",
                                      "DataLakePrincipalIdentifier", "IAM_ALLOWED_PRINCIPALS",
                                      "Permissions", "ALL"));
    }
    return d;
}

/* Validates a DatabaseInput and returns a copy with its name lower-cased. */
static json_t *database_input(json_t *in, struct err_info *err)
{
    json_t *di = json_object_get(in, "DatabaseInput");
    if (!json_is_object(di)) {
        err_set(err, SL_E(INVALID_INPUT), "DatabaseInput is required.");
        return NULL;
    }
    if (catalog__check_name(catalog__str(di, "Name"), "databaseInput.name", err) < 0) {
        return NULL;
    }
    json_t *copy = json_deep_copy(di);
    char *lower = catalog__lower(catalog__str(di, "Name"));
    json_object_set_new(copy, "Name", json_string(lower));
    free(lower);
    return copy;
}

static char *database_arn(const struct catalog_scope *sc, const char *name)
{
    return xasprintf("arn:aws:glue:%s:%s:database/%s", sc->region, sc->account_id, name);
}

static char *table_arn(const struct catalog_scope *sc, const char *db, const char *tbl)
{
    return xasprintf("arn:aws:glue:%s:%s:table/%s/%s", sc->region, sc->account_id, db, tbl);
}

/* CreateDatabase: DatabaseInput (+ Tags) -> {}. ALREADY_EXISTS, INVALID_INPUT,
 * RESOURCE_NUMBER_LIMIT. */
int catalog__op_CreateDatabase(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                               json_t **out, struct err_info *err)
{
    json_t *di = database_input(in, err);
    if (di == NULL) {
        return err->code;
    }
    const char *name = catalog__str(di, "Name");
    char *doc = catalog__dump(di);
    int rc;
    store_lock(cat->st);
    store_begin(cat->st);
    if (count_of(store_prepare_args(
            cat->st, "SELECT count(*) FROM glue_database WHERE region=? AND account=?", "ss",
            sc->region, sc->account_id)) >= MAX_DATABASES) {
        rc = err_set(err, SL_E(RESOURCE_NUMBER_LIMIT),
                     "The number of databases has reached the limit of %d.", MAX_DATABASES);
        goto out_rollback;
    }
    rc = store_run(cat->st,
                   "INSERT INTO glue_database(region, account, name, doc, create_time)"
                   " VALUES(?,?,?,?,?) ON CONFLICT DO NOTHING",
                   "ssssi", sc->region, sc->account_id, name, doc, (int64_t)clock_now_ms());
    rc = catalog__changed(cat, rc, err, SL_E(ALREADY_EXISTS), "Database already exists.");
    if (rc == 0) {
        char *arn = database_arn(sc, name);
        rc = catalog__tags_put_locked(cat, arn, json_object_get(in, "Tags"), err);
        free(arn);
    }
    if (rc == 0) {
        rc = store_commit(cat->st);
    }
out_rollback:
    if (rc < 0) {
        store_rollback(cat->st);
    }
    store_unlock(cat->st);
    free(doc);
    json_decref(di);
    if (rc == 0) {
        *out = json_object();
    }
    return rc;
}

/* GetDatabase: Name -> Database. ENTITY_NOT_FOUND. */
int catalog__op_GetDatabase(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                            json_t **out, struct err_info *err)
{
    const char *given = catalog__str(in, "Name");
    int rc = catalog__check_name(given, "name", err);
    if (rc < 0) {
        return rc;
    }
    char *name = catalog__lower(given);
    store_read_begin(cat->st);
    struct store_stmt *s = store_prepare_args(
        cat->st,
        "SELECT doc, create_time FROM glue_database WHERE region=? AND account=? AND name=?", "sss",
        sc->region, sc->account_id, name);
    rc = s != NULL ? store_step(s) : SL_E(IO);
    json_t *d = NULL;
    if (rc == 1) {
        d = database_out(sc, store_col_text(s, 0), store_col_int64(s, 1));
        rc = d != NULL ? 0 : SL_E(CORRUPT);
    } else if (rc == 0) {
        rc = err_set(err, SL_E(ENTITY_NOT_FOUND), "Database %s not found.", name);
    }
    if (rc < 0 && err->code == 0) {
        rc = catalog__store_err(err, rc);
    }
    store_finalize(s);
    store_read_end(cat->st);
    free(name);
    if (rc == 0) {
        *out = json_pack("{s:o}", "Database", d);
    }
    return rc;
}

/* GetDatabases: MaxResults (1..100), NextToken -> DatabaseList, NextToken. */
int catalog__op_GetDatabases(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                             json_t **out, struct err_info *err)
{
    struct catalog_page pg;
    if (catalog__page_start(&pg, in, 100, 100, err) < 0) {
        return err->code;
    }
    store_read_begin(cat->st);
    struct store_stmt *s =
        store_prepare_args(cat->st,
                           "SELECT id, doc, create_time FROM glue_database WHERE region=? AND"
                           " account=? AND id>? ORDER BY id LIMIT ?",
                           "ssii", sc->region, sc->account_id, pg.after, (int64_t)pg.max + 1);
    int rc = s != NULL ? 0 : SL_E(IO);
    while (rc == 0 && (rc = store_step(s)) == 1) {
        rc = 0;
        if (!catalog__page_room(&pg, store_col_int64(s, 0))) {
            break;
        }
        catalog__page_add(&pg, database_out(sc, store_col_text(s, 1), store_col_int64(s, 2)));
    }
    store_finalize(s);
    store_read_end(cat->st);
    if (rc < 0) {
        rc = catalog__store_err(err, rc);
    }
    return catalog__page_end(&pg, rc, "DatabaseList", out);
}

/* UpdateDatabase: Name, DatabaseInput (same name) -> {}. ENTITY_NOT_FOUND, INVALID_INPUT. */
int catalog__op_UpdateDatabase(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                               json_t **out, struct err_info *err)
{
    const char *given = catalog__str(in, "Name");
    int rc = catalog__check_name(given, "name", err);
    if (rc < 0) {
        return rc;
    }
    json_t *di = database_input(in, err);
    if (di == NULL) {
        return err->code;
    }
    char *name = catalog__lower(given);
    char *doc = catalog__dump(di);
    store_lock(cat->st);
    int64_t db_id = 0;
    rc = db_find(cat, sc, name, &db_id, err);
    if (rc == 0 && strcmp(name, catalog__str(di, "Name")) != 0) {
        rc = err_set(err, SL_E(INVALID_INPUT), "Renaming a database is not supported.");
    }
    if (rc == 0) {
        rc = store_run(cat->st, "UPDATE glue_database SET doc=? WHERE id=?", "si", doc, db_id);
        if (rc < 0) {
            rc = catalog__store_err(err, rc);
        }
    }
    store_unlock(cat->st);
    free(doc);
    free(name);
    json_decref(di);
    if (rc == 0) {
        *out = json_object();
    }
    return rc;
}

/* DeleteDatabase: Name -> {}; its tables, versions, partitions and tags go too. ENTITY_NOT_FOUND.
 */
int catalog__op_DeleteDatabase(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                               json_t **out, struct err_info *err)
{
    const char *given = catalog__str(in, "Name");
    int rc = catalog__check_name(given, "name", err);
    if (rc < 0) {
        return rc;
    }
    char *name = catalog__lower(given);
    char *arn = database_arn(sc, name);
    store_lock(cat->st);
    store_begin(cat->st);
    int64_t db_id = 0;
    rc = db_find(cat, sc, name, &db_id, err);
    if (rc == 0) {
        /* Tags of the database's tables go with them. */
        char *prefix = xasprintf("arn:aws:glue:%s:%s:table/%s/", sc->region, sc->account_id, name);
        rc = store_run(cat->st, "DELETE FROM glue_tag WHERE substr(arn,1,length(?))=?", "ss",
                       prefix, prefix);
        free(prefix);
    }
    if (rc == 0) {
        catalog__tags_drop_locked(cat, arn);
        rc = store_run(cat->st, "DELETE FROM glue_database WHERE id=?", "i", db_id);
    }
    rc = catalog__write_end(cat, rc, err);
    free(arn);
    free(name);
    if (rc == 0) {
        *out = json_object();
    }
    return rc;
}

/* ---- tables ---- */

/* Validates a TableInput and returns a copy with its name lower-cased. Refuses more
 * partition keys than a partition can be given values for. */
static json_t *table_input(json_t *in, struct err_info *err)
{
    json_t *ti = json_object_get(in, "TableInput");
    if (!json_is_object(ti)) {
        err_set(err, SL_E(INVALID_INPUT), "TableInput is required.");
        return NULL;
    }
    if (catalog__check_name(catalog__str(ti, "Name"), "tableInput.name", err) < 0) {
        return NULL;
    }
    json_t *sd = json_object_get(ti, "StorageDescriptor");
    if (catalog__columns_check(json_object_get(sd, "Columns"), "Column", err) < 0 ||
        catalog__columns_check(json_object_get(ti, "PartitionKeys"), "Partition key", err) < 0) {
        return NULL;
    }
    size_t n_keys = json_array_size(json_object_get(ti, "PartitionKeys"));
    if (n_keys > CATALOG_MAX_PARTITION_KEYS) {
        err_set(err, SL_E(INVALID_INPUT),
                "The table has %zu partition keys; at most %d are allowed.", n_keys,
                CATALOG_MAX_PARTITION_KEYS);
        return NULL;
    }
    json_t *copy = json_deep_copy(ti);
    char *lower = catalog__lower(catalog__str(ti, "Name"));
    json_object_set_new(copy, "Name", json_string(lower));
    free(lower);
    if (json_object_get(copy, "PartitionKeys") == NULL) {
        json_object_set_new(copy, "PartitionKeys", json_array());
    }
    if (json_object_get(copy, "Retention") == NULL) {
        json_object_set_new(copy, "Retention", json_integer(0));
    }
    return copy;
}

/* The Table shape Glue returns, from a stored TableInput. Steals doc. */
static json_t *table_out(const struct catalog_scope *sc, json_t *doc, const char *db,
                         int64_t version, int64_t create_ms, int64_t update_ms)
{
    if (doc == NULL) {
        return NULL;
    }
    char vid[24];
    snprintf(vid, sizeof(vid), "%lld", (long long)version);
    json_object_set_new(doc, "DatabaseName", json_string(db));
    json_object_set_new(doc, "CreateTime", catalog__time(create_ms));
    json_object_set_new(doc, "UpdateTime", catalog__time(update_ms));
    json_object_set_new(doc, "IsRegisteredWithLakeFormation", json_false());
    json_object_set_new(doc, "CatalogId", json_string(sc->account_id));
    json_object_set_new(doc, "VersionId", json_string(vid));
    return doc;
}

/* CreateTable: DatabaseName, TableInput (+ PartitionIndexes) -> {}; version 1. ENTITY_NOT_FOUND,
 * ALREADY_EXISTS, INVALID_INPUT (names, Hive types), RESOURCE_NUMBER_LIMIT. */
int catalog__op_CreateTable(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                            json_t **out, struct err_info *err)
{
    json_t *ti = table_input(in, err);
    if (ti == NULL) {
        return err->code;
    }
    const char *dbn = catalog__str(in, "DatabaseName");
    int rc = catalog__check_name(dbn, "databaseName", err);
    if (rc < 0) {
        json_decref(ti);
        return rc;
    }
    char *db = catalog__lower(dbn);
    const char *name = catalog__str(ti, "Name");
    char *doc = catalog__dump(ti);
    int64_t now = clock_now_ms();
    int64_t db_id = 0;
    store_lock(cat->st);
    store_begin(cat->st);
    rc = db_find(cat, sc, db, &db_id, err);
    if (rc == 0 &&
        count_of(store_prepare_args(cat->st, "SELECT count(*) FROM glue_table WHERE db_id=?", "i",
                                    db_id)) >= MAX_TABLES_PER_DB) {
        rc = err_set(err, SL_E(RESOURCE_NUMBER_LIMIT),
                     "The number of tables in database %s has reached the limit of %d.", db,
                     MAX_TABLES_PER_DB);
    }
    if (rc == 0) {
        rc = store_run(cat->st,
                       "INSERT INTO glue_table(db_id, name, version, doc, create_time,"
                       " update_time) VALUES(?,?,1,?,?,?) ON CONFLICT DO NOTHING",
                       "issii", db_id, name, doc, now, now);
        rc = catalog__changed(cat, rc, err, SL_E(ALREADY_EXISTS), "Table already exists.");
    }
    if (rc == 0) {
        rc = store_run(cat->st,
                       "INSERT INTO glue_table_version(table_id, version, doc, update_time)"
                       " VALUES(?,1,?,?)",
                       "isi", store_last_rowid(cat->st), doc, now);
    }
    /* Partition indexes given with the table. */
    json_t *indexes = json_object_get(in, "PartitionIndexes");
    if (rc == 0 && json_array_size(indexes) > 0) {
        int64_t tid = 0;
        rc = catalog__table_find(cat, sc, db, name, &tid, NULL, err);
        size_t i;
        json_t *ix;
        json_array_foreach(indexes, i, ix)
        {
            if (rc < 0) {
                break;
            }
            char *keys = catalog__dump(json_object_get(ix, "Keys"));
            rc = store_run(cat->st,
                           "INSERT INTO glue_partition_index(table_id, name, keys,"
                           " create_time) VALUES(?,?,?,?)",
                           "issi", tid, catalog__str(ix, "IndexName"), keys, now);
            free(keys);
        }
    }
    rc = catalog__write_end(cat, rc, err);
    free(doc);
    free(db);
    json_decref(ti);
    if (rc == 0) {
        *out = json_object();
    }
    return rc;
}

/* GetTable: DatabaseName, Name -> Table (the stored TableInput with Glue's fields).
 * ENTITY_NOT_FOUND. */
int catalog__op_GetTable(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                         json_t **out, struct err_info *err)
{
    const char *dbn = catalog__str(in, "DatabaseName");
    const char *tn = catalog__str(in, "Name");
    if (catalog__check_name(dbn, "databaseName", err) < 0 ||
        catalog__check_name(tn, "name", err) < 0) {
        return err->code;
    }
    char *db = catalog__lower(dbn);
    store_read_begin(cat->st);
    int64_t tid = 0;
    int rc = catalog__table_find(cat, sc, db, tn, &tid, NULL, err);
    json_t *t = NULL;
    if (rc == 0) {
        struct store_stmt *s = store_prepare_args(
            cat->st, "SELECT doc, version, create_time, update_time FROM glue_table WHERE id=?",
            "i", tid);
        if (s != NULL && store_step(s) == 1) {
            t = table_out(sc, catalog__load(store_col_text(s, 0)), db, store_col_int64(s, 1),
                          store_col_int64(s, 2), store_col_int64(s, 3));
        }
        store_finalize(s);
        if (t == NULL) {
            rc = catalog__store_err(err, SL_E(CORRUPT));
        }
    }
    store_read_end(cat->st);
    free(db);
    if (rc == 0) {
        *out = json_pack("{s:o}", "Table", t);
    }
    return rc;
}

/* Whether name matches one alternative of a pattern: '*' (or ".*") is any run of
 * characters, '.' any one character, anything else itself, case-insensitively. Linear
 * time with one backtracking point, whatever the pattern. */
static int glob_match(const char *pat, size_t m, const char *name)
{
    size_t n = strlen(name);
    size_t i = 0, j = 0, star_j = (size_t)-1, star_i = 0;
    while (i < n) {
        if (j + 1 < m && pat[j] == '.' && pat[j + 1] == '*') {
            star_j = ++j; /* ".*" is '*' */
            star_i = i;
            j++;
        } else if (j < m && pat[j] == '*') {
            star_j = j++;
            star_i = i;
        } else if (j < m && (pat[j] == '.' ||
                             tolower((unsigned char)pat[j]) == tolower((unsigned char)name[i]))) {
            i++;
            j++;
        } else if (star_j != (size_t)-1) {
            j = star_j + 1;
            i = ++star_i;
        } else {
            return 0;
        }
    }
    while (j < m && (pat[j] == '*' || (pat[j] == '.' && j + 1 < m && pat[j + 1] == '*'))) {
        j += pat[j] == '.' ? 2 : 1;
    }
    return j == m;
}

/* GetTables' Expression as Hive patterns: alternatives separated by '|', each matched
 * whole by glob_match. Regular-expression syntax beyond that is matched literally. */
static int name_pattern_match(const char *pattern, const char *name)
{
    const char *p = pattern;
    for (;;) {
        const char *bar = strchr(p, '|');
        size_t len = bar != NULL ? (size_t)(bar - p) : strlen(p);
        if (glob_match(p, len, name)) {
            return 1;
        }
        if (bar == NULL) {
            return 0;
        }
        p = bar + 1;
    }
}

/* GetTables: DatabaseName, Expression (Hive pattern), MaxResults, NextToken -> TableList,
 * NextToken. ENTITY_NOT_FOUND, INVALID_INPUT. */
int catalog__op_GetTables(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                          json_t **out, struct err_info *err)
{
    const char *dbn = catalog__str(in, "DatabaseName");
    if (catalog__check_name(dbn, "databaseName", err) < 0) {
        return err->code;
    }
    struct catalog_page pg;
    if (catalog__page_start(&pg, in, 100, 100, err) < 0) {
        return err->code;
    }
    const char *expr = catalog__str(in, "Expression");
    if (expr != NULL && strlen(expr) > MAX_FILTER_LEN) {
        return err_set(err, SL_E(INVALID_INPUT),
                       "1 validation error detected: Value at 'expression' failed to satisfy "
                       "constraint: Member must have length less than or equal to %d",
                       MAX_FILTER_LEN);
    }
    char *db = catalog__lower(dbn);
    store_read_begin(cat->st);
    int64_t db_id = 0;
    int rc = db_find(cat, sc, db, &db_id, err);
    struct store_stmt *s = NULL;
    if (rc == 0) {
        s = store_prepare_args(cat->st,
                               "SELECT id, name, doc, version, create_time, update_time FROM"
                               " glue_table WHERE db_id=? AND id>? ORDER BY id",
                               "ii", db_id, pg.after);
        rc = s != NULL ? 0 : catalog__store_err(err, SL_E(IO));
    }
    while (rc == 0 && (rc = store_step(s)) == 1) {
        rc = 0;
        if (expr != NULL && expr[0] != '\0' && !name_pattern_match(expr, store_col_text(s, 1))) {
            continue;
        }
        if (!catalog__page_room(&pg, store_col_int64(s, 0))) {
            break;
        }
        catalog__page_add(&pg, table_out(sc, catalog__load(store_col_text(s, 2)), db,
                                         store_col_int64(s, 3), store_col_int64(s, 4),
                                         store_col_int64(s, 5)));
    }
    if (rc < 0 && err->code == 0) {
        catalog__store_err(err, rc);
    }
    store_finalize(s);
    store_read_end(cat->st);
    free(db);
    return catalog__page_end(&pg, rc < 0 ? err->code : 0, "TableList", out);
}

/* UpdateTable: DatabaseName, TableInput, VersionId?, SkipArchive? -> {}; a new version unless
 * SkipArchive. ENTITY_NOT_FOUND, INVALID_INPUT, CONCURRENT_MODIFICATION (stale VersionId). */
int catalog__op_UpdateTable(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                            json_t **out, struct err_info *err)
{
    json_t *ti = table_input(in, err);
    if (ti == NULL) {
        return err->code;
    }
    const char *dbn = catalog__str(in, "DatabaseName");
    int rc = catalog__check_name(dbn, "databaseName", err);
    if (rc < 0) {
        json_decref(ti);
        return rc;
    }
    const char *want_version = catalog__str(in, "VersionId");
    int skip_archive = json_is_true(json_object_get(in, "SkipArchive"));
    char *doc = catalog__dump(ti);
    int64_t now = clock_now_ms();
    store_lock(cat->st);
    store_begin(cat->st);
    int64_t tid = 0;
    rc = catalog__table_find(cat, sc, dbn, catalog__str(ti, "Name"), &tid, NULL, err);
    int64_t version = 0;
    if (rc == 0) {
        struct store_stmt *s =
            store_prepare_args(cat->st, "SELECT version FROM glue_table WHERE id=?", "i", tid);
        if (s != NULL && store_step(s) == 1) {
            version = store_col_int64(s, 0);
        }
        store_finalize(s);
        if (want_version != NULL && atoll(want_version) != version) {
            rc = err_set(err, SL_E(CONCURRENT_MODIFICATION),
                         "Table version %s is not the current version %lld.", want_version,
                         (long long)version);
        }
    }
    if (rc == 0) {
        if (skip_archive) {
            rc = store_run(cat->st,
                           "UPDATE glue_table_version SET doc=?, update_time=? WHERE"
                           " table_id=? AND version=?",
                           "siii", doc, now, tid, version);
        } else {
            struct store_stmt *s = store_prepare_args(
                cat->st, "SELECT max(version) FROM glue_table_version WHERE table_id=?", "i", tid);
            int64_t top = s != NULL && store_step(s) == 1 ? store_col_int64(s, 0) : version;
            store_finalize(s);
            version = (top > version ? top : version) + 1;
            rc = store_run(cat->st,
                           "INSERT INTO glue_table_version(table_id, version, doc,"
                           " update_time) VALUES(?,?,?,?)",
                           "iisi", tid, version, doc, now);
        }
    }
    if (rc == 0) {
        rc = store_run(cat->st, "UPDATE glue_table SET doc=?, version=?, update_time=? WHERE id=?",
                       "siii", doc, version, now, tid);
    }
    rc = catalog__write_end(cat, rc, err);
    free(doc);
    json_decref(ti);
    if (rc == 0) {
        *out = json_object();
    }
    return rc;
}

/* Deletes one table (caller holds the lock, inside a transaction). */
static int table_delete_locked(struct catalog *cat, const struct catalog_scope *sc, const char *dbn,
                               const char *tn, struct err_info *err)
{
    int64_t tid = 0;
    int rc = catalog__table_find(cat, sc, dbn, tn, &tid, NULL, err);
    if (rc < 0) {
        return rc;
    }
    char *db = catalog__lower(dbn);
    char *tbl = catalog__lower(tn);
    char *arn = table_arn(sc, db, tbl);
    catalog__tags_drop_locked(cat, arn);
    rc = store_run(cat->st, "DELETE FROM glue_table WHERE id=?", "i", tid);
    free(arn);
    free(tbl);
    free(db);
    return rc < 0 ? catalog__store_err(err, rc) : 0;
}

/* DeleteTable: DatabaseName, Name -> {}; versions, partitions and tags go too. ENTITY_NOT_FOUND. */
int catalog__op_DeleteTable(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                            json_t **out, struct err_info *err)
{
    const char *dbn = catalog__str(in, "DatabaseName");
    const char *tn = catalog__str(in, "Name");
    if (catalog__check_name(dbn, "databaseName", err) < 0 ||
        catalog__check_name(tn, "name", err) < 0) {
        return err->code;
    }
    store_lock(cat->st);
    store_begin(cat->st);
    int rc = table_delete_locked(cat, sc, dbn, tn, err);
    rc = catalog__write_end(cat, rc, err);
    if (rc == 0) {
        *out = json_object();
    }
    return rc;
}

static json_t *error_detail(const struct err_info *e)
{
    return json_pack("{s:s, s:s}", "ErrorCode", err_aws_name(e->code), "ErrorMessage", e->message);
}

/* BatchDeleteTable: DatabaseName, TablesToDelete (<= 100) -> Errors per table. */
int catalog__op_BatchDeleteTable(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                                 json_t **out, struct err_info *err)
{
    const char *dbn = catalog__str(in, "DatabaseName");
    json_t *names = json_object_get(in, "TablesToDelete");
    if (catalog__check_name(dbn, "databaseName", err) < 0) {
        return err->code;
    }
    if (!json_is_array(names) || json_array_size(names) > MAX_BATCH_DELETE_TABLES) {
        return err_set(err, SL_E(INVALID_INPUT),
                       "TablesToDelete must list between 0 and %d table names.",
                       MAX_BATCH_DELETE_TABLES);
    }
    json_t *errors = json_array();
    store_lock(cat->st);
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n)
    {
        struct err_info e = {0};
        store_begin(cat->st);
        int rc =
            table_delete_locked(cat, sc, dbn, json_string_value(n) ? json_string_value(n) : "", &e);
        if (rc == 0 && store_commit(cat->st) == 0) {
            continue;
        }
        store_rollback(cat->st);
        json_array_append_new(errors, json_pack("{s:s, s:o}", "TableName",
                                                json_string_value(n) ? json_string_value(n) : "",
                                                "ErrorDetail", error_detail(&e)));
    }
    store_unlock(cat->st);
    *out = json_pack("{s:o}", "Errors", errors);
    return 0;
}

/* ---- table versions ---- */

static json_t *version_out(const struct catalog_scope *sc, struct store_stmt *s, const char *db,
                           int64_t create_ms)
{
    /* s: version, doc, update_time */
    int64_t v = store_col_int64(s, 0);
    json_t *t =
        table_out(sc, catalog__load(store_col_text(s, 1)), db, v, create_ms, store_col_int64(s, 2));
    if (t == NULL) {
        return NULL;
    }
    char vid[24];
    snprintf(vid, sizeof(vid), "%lld", (long long)v);
    return json_pack("{s:o, s:s}", "Table", t, "VersionId", vid);
}

static int64_t table_create_time(struct catalog *cat, int64_t tid)
{
    struct store_stmt *s =
        store_prepare_args(cat->st, "SELECT create_time FROM glue_table WHERE id=?", "i", tid);
    int64_t t = s != NULL && store_step(s) == 1 ? store_col_int64(s, 0) : 0;
    store_finalize(s);
    return t;
}

/* GetTableVersions: DatabaseName, TableName, MaxResults, NextToken -> TableVersions, newest first.
 */
int catalog__op_GetTableVersions(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                                 json_t **out, struct err_info *err)
{
    const char *dbn = catalog__str(in, "DatabaseName");
    const char *tn = catalog__str(in, "TableName");
    struct catalog_page pg;
    if (catalog__page_start(&pg, in, 100, 100, err) < 0 ||
        catalog__check_name(dbn, "databaseName", err) < 0 ||
        catalog__check_name(tn, "tableName", err) < 0) {
        return err->code;
    }
    char *db = catalog__lower(dbn);
    store_read_begin(cat->st);
    int64_t tid = 0;
    int rc = catalog__table_find(cat, sc, db, tn, &tid, NULL, err);
    if (rc == 0) {
        int64_t created = table_create_time(cat, tid);
        /* Newest first; the token is the last version returned. */
        struct store_stmt *s =
            store_prepare_args(cat->st,
                               "SELECT version, doc, update_time FROM glue_table_version WHERE"
                               " table_id=? AND (?=0 OR version<?) ORDER BY version DESC",
                               "iii", tid, pg.after, pg.after);
        while (s != NULL && store_step(s) == 1 && catalog__page_room(&pg, store_col_int64(s, 0))) {
            catalog__page_add(&pg, version_out(sc, s, db, created));
        }
        store_finalize(s);
    }
    store_read_end(cat->st);
    free(db);
    return catalog__page_end(&pg, rc, "TableVersions", out);
}

static int parse_version(const char *v, int64_t *out, struct err_info *err)
{
    char *end = NULL;
    long long n = v != NULL ? strtoll(v, &end, 10) : 0;
    if (v == NULL || end == v || *end != '\0' || n < 1) {
        return err_set(err, SL_E(INVALID_INPUT), "Invalid version id '%s'.", v ? v : "");
    }
    *out = n;
    return 0;
}

/* GetTableVersion: DatabaseName, TableName, VersionId? (current) -> TableVersion. ENTITY_NOT_FOUND.
 */
int catalog__op_GetTableVersion(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                                json_t **out, struct err_info *err)
{
    const char *dbn = catalog__str(in, "DatabaseName");
    const char *tn = catalog__str(in, "TableName");
    if (catalog__check_name(dbn, "databaseName", err) < 0 ||
        catalog__check_name(tn, "tableName", err) < 0) {
        return err->code;
    }
    int64_t want = 0;
    const char *vid = catalog__str(in, "VersionId");
    if (vid != NULL && parse_version(vid, &want, err) < 0) {
        return err->code;
    }
    char *db = catalog__lower(dbn);
    json_t *v = NULL;
    store_read_begin(cat->st);
    int64_t tid = 0;
    int rc = catalog__table_find(cat, sc, db, tn, &tid, NULL, err);
    if (rc == 0) {
        int64_t created = table_create_time(cat, tid);
        struct store_stmt *s = store_prepare_args(
            cat->st,
            "SELECT version, doc, update_time FROM glue_table_version WHERE table_id=? AND"
            " version=(CASE WHEN ?=0 THEN (SELECT version FROM glue_table WHERE id=?) ELSE ? END)",
            "iiii", tid, want, tid, want);
        if (s != NULL && store_step(s) == 1) {
            v = version_out(sc, s, db, created);
        }
        store_finalize(s);
        if (v == NULL) {
            rc = err_set(err, SL_E(ENTITY_NOT_FOUND), "Version %s of table %s not found.",
                         vid != NULL ? vid : "current", tn);
        }
    }
    store_read_end(cat->st);
    free(db);
    if (rc == 0) {
        *out = json_pack("{s:o}", "TableVersion", v);
    }
    return rc;
}

/* Deletes one version (caller holds the lock). */
static int version_delete_locked(struct catalog *cat, int64_t tid, const char *vid,
                                 struct err_info *err)
{
    int64_t v = 0;
    if (parse_version(vid, &v, err) < 0) {
        return err->code;
    }
    struct store_stmt *s =
        store_prepare_args(cat->st, "SELECT version FROM glue_table WHERE id=?", "i", tid);
    int64_t current = s != NULL && store_step(s) == 1 ? store_col_int64(s, 0) : 0;
    store_finalize(s);
    if (v == current) {
        return err_set(err, SL_E(INVALID_INPUT), "Cannot delete the current version %s.", vid);
    }
    int rc = store_run(cat->st, "DELETE FROM glue_table_version WHERE table_id=? AND version=?",
                       "ii", tid, v);
    return catalog__changed(cat, rc, err, SL_E(ENTITY_NOT_FOUND), "Version %s not found.", vid);
}

/* DeleteTableVersion: DatabaseName, TableName, VersionId -> {}. ENTITY_NOT_FOUND, INVALID_INPUT
 * (the current version). */
int catalog__op_DeleteTableVersion(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                                   json_t **out, struct err_info *err)
{
    const char *dbn = catalog__str(in, "DatabaseName");
    const char *tn = catalog__str(in, "TableName");
    if (catalog__check_name(dbn, "databaseName", err) < 0 ||
        catalog__check_name(tn, "tableName", err) < 0) {
        return err->code;
    }
    store_lock(cat->st);
    int64_t tid = 0;
    int rc = catalog__table_find(cat, sc, dbn, tn, &tid, NULL, err);
    if (rc == 0) {
        rc = version_delete_locked(cat, tid, catalog__str(in, "VersionId"), err);
    }
    store_unlock(cat->st);
    if (rc == 0) {
        *out = json_object();
    }
    return rc;
}

/* BatchDeleteTableVersion: DatabaseName, TableName, VersionIds (<= 100) -> Errors per version. */
int catalog__op_BatchDeleteTableVersion(struct catalog *cat, const struct catalog_scope *sc,
                                        json_t *in, json_t **out, struct err_info *err)
{
    const char *dbn = catalog__str(in, "DatabaseName");
    const char *tn = catalog__str(in, "TableName");
    json_t *ids = json_object_get(in, "VersionIds");
    if (catalog__check_name(dbn, "databaseName", err) < 0 ||
        catalog__check_name(tn, "tableName", err) < 0) {
        return err->code;
    }
    if (!json_is_array(ids) || json_array_size(ids) > 100) {
        return err_set(err, SL_E(INVALID_INPUT), "VersionIds must list at most 100 versions.");
    }
    store_lock(cat->st);
    int64_t tid = 0;
    int rc = catalog__table_find(cat, sc, dbn, tn, &tid, NULL, err);
    json_t *errors = json_array();
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id)
    {
        if (rc < 0) {
            break;
        }
        struct err_info e = {0};
        const char *vid = json_string_value(id) ? json_string_value(id) : "";
        if (version_delete_locked(cat, tid, vid, &e) < 0) {
            json_array_append_new(errors, json_pack("{s:s, s:s, s:o}", "TableName", tn, "VersionId",
                                                    vid, "ErrorDetail", error_detail(&e)));
        }
    }
    store_unlock(cat->st);
    if (rc < 0) {
        json_decref(errors);
        return rc;
    }
    *out = json_pack("{s:o}", "Errors", errors);
    return 0;
}

/* ---- SearchTables ---- */

/* Case-insensitive substring test. */
static int contains_ci(const char *hay, const char *needle)
{
    return hay != NULL && strcasestr(hay, needle) != NULL;
}

/* Whether a table matches the search text: its name, database, description, owner,
 * parameters, or any column's name, type or comment. */
static int table_matches_text(const json_t *t, const char *db, const char *text)
{
    if (text == NULL || text[0] == '\0') {
        return 1;
    }
    if (contains_ci(catalog__str(t, "Name"), text) || contains_ci(db, text) ||
        contains_ci(catalog__str(t, "Description"), text) ||
        contains_ci(catalog__str(t, "Owner"), text)) {
        return 1;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)json_object_get(t, "Parameters"), k, v)
    {
        if (contains_ci(k, text) || contains_ci(json_string_value(v), text)) {
            return 1;
        }
    }
    const json_t *lists[] = {json_object_get(json_object_get(t, "StorageDescriptor"), "Columns"),
                             json_object_get(t, "PartitionKeys")};
    for (size_t l = 0; l < 2; l++) {
        size_t i;
        json_t *c;
        json_array_foreach(lists[l], i, c)
        {
            if (contains_ci(catalog__str(c, "Name"), text) ||
                contains_ci(catalog__str(c, "Comment"), text)) {
                return 1;
            }
        }
    }
    return 0;
}

/* Filters: Key is a top-level field of Table (DatabaseName, Name, TableType, Owner, ...)
 * or a parameter name; Value matches exactly, case-insensitively. */
static int table_matches_filters(const json_t *t, const json_t *filters)
{
    size_t i;
    json_t *f;
    json_array_foreach(filters, i, f)
    {
        const char *key = catalog__str(f, "Key");
        const char *val = catalog__str(f, "Value");
        if (key == NULL || val == NULL) {
            continue;
        }
        const char *have = catalog__str(t, key);
        if (have == NULL) {
            have = catalog__str(json_object_get(t, "Parameters"), key);
        }
        if (have == NULL || strcasecmp(have, val) != 0) {
            return 0;
        }
    }
    return 1;
}

/* SearchTables: SearchText (substring of names, descriptions, owners, parameters, columns),
 * Filters (Key = Value), MaxResults, NextToken -> TableList, NextToken. */
int catalog__op_SearchTables(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                             json_t **out, struct err_info *err)
{
    struct catalog_page pg;
    if (catalog__page_start(&pg, in, 1000, 1000, err) < 0) {
        return err->code;
    }
    const char *text = catalog__str(in, "SearchText");
    char *unquoted = NULL;
    if (text != NULL && strlen(text) >= 2 && text[0] == '"' && text[strlen(text) - 1] == '"') {
        unquoted = xstrndup(text + 1, strlen(text) - 2);
        text = unquoted;
    }
    json_t *filters = json_object_get(in, "Filters");
    store_read_begin(cat->st);
    struct store_stmt *s = store_prepare_args(
        cat->st,
        "SELECT t.id, d.name, t.doc, t.version, t.create_time, t.update_time FROM glue_table t"
        " JOIN glue_database d ON d.id=t.db_id WHERE d.region=? AND d.account=? AND t.id>?"
        " ORDER BY t.id",
        "ssi", sc->region, sc->account_id, pg.after);
    while (s != NULL && store_step(s) == 1) {
        const char *db = store_col_text(s, 1);
        json_t *t = table_out(sc, catalog__load(store_col_text(s, 2)), db, store_col_int64(s, 3),
                              store_col_int64(s, 4), store_col_int64(s, 5));
        if (t == NULL) {
            continue;
        }
        if (!table_matches_text(t, db, text) || !table_matches_filters(t, filters)) {
            json_decref(t);
            continue;
        }
        if (!catalog__page_room(&pg, store_col_int64(s, 0))) {
            json_decref(t);
            break;
        }
        catalog__page_add(&pg, t);
    }
    store_finalize(s);
    store_read_end(cat->st);
    free(unquoted);
    return catalog__page_end(&pg, 0, "TableList", out);
}

/* ---- in-process description ---- */

static void columns_copy(const json_t *arr, struct catalog_column **out, size_t *n_out)
{
    size_t n = json_array_size(arr);
    *out = xcalloc(n > 0 ? n : 1, sizeof(**out));
    *n_out = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *c = json_array_get(arr, i);
        const char *name = catalog__str(c, "Name");
        const char *type = catalog__str(c, "Type");
        const char *comment = catalog__str(c, "Comment");
        (*out)[i].name = xstrdup(name != NULL ? name : "");
        (*out)[i].type = xstrdup(type != NULL ? type : "");
        (*out)[i].comment = comment != NULL ? xstrdup(comment) : NULL;
    }
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? xstrdup(s) : NULL;
}

static void params_copy(const json_t *obj, struct catalog_param **out, size_t *n_out)
{
    size_t n = json_object_size(obj);
    *out = xcalloc(n > 0 ? n : 1, sizeof(**out));
    *n_out = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        if (json_is_string(v)) {
            (*out)[*n_out].key = xstrdup(k);
            (*out)[*n_out].value = xstrdup(json_string_value(v));
            (*n_out)++;
        }
    }
}

/* A description from a Table document. */
static struct catalog_table_desc *desc_from(const json_t *t)
{
    const json_t *sd = json_object_get(t, "StorageDescriptor");
    const json_t *serde = json_object_get(sd, "SerdeInfo");
    struct catalog_table_desc *d = xcalloc(1, sizeof(*d));
    d->database = xstrdup(catalog__str(t, "DatabaseName"));
    d->name = xstrdup(catalog__str(t, "Name"));
    d->table_type = dup_or_null(catalog__str(t, "TableType"));
    d->location = dup_or_null(catalog__str(sd, "Location"));
    d->input_format = dup_or_null(catalog__str(sd, "InputFormat"));
    d->output_format = dup_or_null(catalog__str(sd, "OutputFormat"));
    d->serde_library = dup_or_null(catalog__str(serde, "SerializationLibrary"));
    columns_copy(json_object_get(sd, "Columns"), &d->columns, &d->n_columns);
    columns_copy(json_object_get(t, "PartitionKeys"), &d->partition_keys, &d->n_partition_keys);
    params_copy(json_object_get(t, "Parameters"), &d->parameters, &d->n_parameters);
    params_copy(json_object_get(serde, "Parameters"), &d->serde_parameters, &d->n_serde_parameters);
    d->n_buckets = (int)json_integer_value(json_object_get(sd, "NumberOfBuckets"));
    d->version_id = atoll(catalog__str(t, "VersionId"));
    d->update_time_ms = (int64_t)(json_real_value(json_object_get(t, "UpdateTime")) * 1000.0);
    return d;
}

int catalog_table_describe(struct catalog *cat, const struct catalog_scope *scope,
                           const char *database, const char *table, struct catalog_table_desc **out,
                           struct err_info *err)
{
    return catalog_table_describe_version(cat, scope, database, table, 0, out, err);
}

int catalog_table_describe_version(struct catalog *cat, const struct catalog_scope *scope,
                                   const char *database, const char *table, int64_t version_id,
                                   struct catalog_table_desc **out, struct err_info *err)
{
    json_t *in = json_pack("{s:s, s:s}", "DatabaseName", database != NULL ? database : "",
                           "TableName", table != NULL ? table : "");
    if (version_id > 0) {
        char vid[24];
        snprintf(vid, sizeof(vid), "%lld", (long long)version_id);
        json_object_set_new(in, "VersionId", json_string(vid));
    }
    json_t *res = NULL;
    int rc = catalog__op_GetTableVersion(cat, scope, in, &res, err);
    json_decref(in);
    if (rc < 0) {
        return rc;
    }
    *out = desc_from(json_object_get(json_object_get(res, "TableVersion"), "Table"));
    json_decref(res);
    return 0;
}

static void columns_free(struct catalog_column *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(c[i].name);
        free(c[i].type);
        free(c[i].comment);
    }
    free(c);
}

static void params_free(struct catalog_param *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].key);
        free(p[i].value);
    }
    free(p);
}

void catalog_table_desc_destroy(struct catalog_table_desc *d)
{
    if (d == NULL) {
        return;
    }
    free(d->database);
    free(d->name);
    free(d->table_type);
    free(d->location);
    free(d->input_format);
    free(d->output_format);
    free(d->serde_library);
    columns_free(d->columns, d->n_columns);
    columns_free(d->partition_keys, d->n_partition_keys);
    params_free(d->parameters, d->n_parameters);
    params_free(d->serde_parameters, d->n_serde_parameters);
    free(d);
}
