/*
 * Partitions: single and batch create/get/update/delete, GetPartitions with its
 * expression, paging and segments, partition indexes, and the in-process scan and
 * ensure used by Firehose and Athena.
 *
 * A partition is found by its values key (catalog__vkey_encode), unique per table.
 * GetPartitions walks the table's partitions in id order reading only the values key,
 * evaluates the compiled expression on it, and loads the document only for matches.
 * Batch operations report per-entry errors and apply the rest.
 */
#include "catalog/catalog_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/mem.h"

#define MAX_KEYS CATALOG_MAX_PARTITION_KEYS
#define MAX_VALUE_LEN 1024

/* The table a partition call acts on. */
struct tctx {
    int64_t tid;
    char *db;  /* lower-case */
    char *tbl; /* lower-case */
    size_t n_keys;
    char *key_names[MAX_KEYS]; /* lower-case */
    enum catalog_key_kind key_kinds[MAX_KEYS];
    json_t *key_cols; /* the PartitionKeys array (owned) */
};

static void tctx_fini(struct tctx *t)
{
    free(t->db);
    free(t->tbl);
    for (size_t i = 0; i < t->n_keys; i++) {
        free(t->key_names[i]);
    }
    json_decref(t->key_cols);
    memset(t, 0, sizeof(*t));
}

/* Loads the table named by in's DatabaseName/TableName. Caller holds a read bracket or the lock. */
static int tctx_load(struct catalog *cat, const struct catalog_scope *sc, const char *dbn,
                     const char *tn, struct tctx *t, struct err_info *err)
{
    memset(t, 0, sizeof(*t));
    if (catalog__check_name(dbn, "databaseName", err) < 0 ||
        catalog__check_name(tn, "tableName", err) < 0) {
        return err->code;
    }
    json_t *doc = NULL;
    int rc = catalog__table_find(cat, sc, dbn, tn, &t->tid, &doc, err);
    if (rc < 0) {
        return rc;
    }
    t->db = catalog__lower(dbn);
    t->tbl = catalog__lower(tn);
    t->key_cols = json_incref(json_object_get(doc, "PartitionKeys"));
    json_decref(doc);
    size_t i;
    json_t *k;
    json_array_foreach(t->key_cols, i, k)
    {
        if (t->n_keys == MAX_KEYS) {
            break;
        }
        const char *name = catalog__str(k, "Name");
        t->key_names[t->n_keys] = catalog__lower(name != NULL ? name : "");
        t->key_kinds[t->n_keys] = catalog__key_kind(catalog__str(k, "Type"));
        t->n_keys++;
    }
    return 0;
}

static int tctx_load_in(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                        struct tctx *t, struct err_info *err)
{
    return tctx_load(cat, sc, catalog__str(in, "DatabaseName"), catalog__str(in, "TableName"), t,
                     err);
}

/* Checks a Values list against the table's keys. */
static int values_check(const struct tctx *t, const json_t *values, struct err_info *err)
{
    if (!json_is_array(values)) {
        return err_set(err, SL_E(INVALID_INPUT), "Partition values are required.");
    }
    if (json_array_size(values) != t->n_keys) {
        return err_set(err, SL_E(INVALID_INPUT),
                       "The number of partition keys do not match the number of partition "
                       "values");
    }
    size_t i;
    json_t *v;
    json_array_foreach(values, i, v)
    {
        if (!json_is_string(v) || json_string_length(v) > MAX_VALUE_LEN) {
            return err_set(err, SL_E(INVALID_INPUT),
                           "Partition values must be strings of at most %d characters.",
                           MAX_VALUE_LEN);
        }
    }
    return 0;
}

static json_t *partition_out(const struct catalog_scope *sc, const struct tctx *t,
                             const char *doc_text, int64_t create_ms, int exclude_columns)
{
    json_t *p = catalog__load(doc_text);
    if (p == NULL) {
        return NULL;
    }
    json_object_set_new(p, "DatabaseName", json_string(t->db));
    json_object_set_new(p, "TableName", json_string(t->tbl));
    json_object_set_new(p, "CreationTime", catalog__time(create_ms));
    json_object_set_new(p, "CatalogId", json_string(sc->account_id));
    if (exclude_columns) {
        json_object_del(json_object_get(p, "StorageDescriptor"), "Columns");
    }
    return p;
}

/* Inserts one PartitionInput (caller holds the lock). */
static int partition_insert(struct catalog *cat, const struct tctx *t, const json_t *pi,
                            int64_t now, struct err_info *err)
{
    if (!json_is_object(pi)) {
        return err_set(err, SL_E(INVALID_INPUT), "PartitionInput is required.");
    }
    const json_t *values = json_object_get(pi, "Values");
    int rc = values_check(t, values, err);
    if (rc < 0) {
        return rc;
    }
    const json_t *sd = json_object_get(pi, "StorageDescriptor");
    if (catalog__columns_check(json_object_get(sd, "Columns"), "Column", err) < 0) {
        return err->code;
    }
    char *vkey = catalog__vkey_encode(values);
    char *ckey = catalog__ckey_encode(values);
    char *doc = catalog__dump(pi);
    rc = store_run(cat->st,
                   "INSERT INTO glue_partition(table_id, vkey, ckey, create_time,"
                   " update_time, doc) VALUES(?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                   "issiis", t->tid, vkey, ckey, now, now, doc);
    free(ckey);
    rc = catalog__changed(cat, rc, err, SL_E(ALREADY_EXISTS), "Partition already exists.");
    free(vkey);
    free(doc);
    return rc;
}

/* CreatePartition: DatabaseName, TableName, PartitionInput -> {}. ENTITY_NOT_FOUND,
 * ALREADY_EXISTS, INVALID_INPUT (value count, types of columns). */
int catalog__op_CreatePartition(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                                json_t **out, struct err_info *err)
{
    struct tctx t;
    store_lock(cat->st);
    int rc = tctx_load_in(cat, sc, in, &t, err);
    if (rc == 0) {
        rc = partition_insert(cat, &t, json_object_get(in, "PartitionInput"), clock_now_ms(), err);
    }
    store_unlock(cat->st);
    tctx_fini(&t);
    if (rc == 0) {
        *out = json_object();
    }
    return rc;
}

static json_t *error_detail(const struct err_info *e)
{
    return json_pack("{s:s, s:s}", "ErrorCode", err_aws_name(e->code), "ErrorMessage", e->message);
}

static json_t *values_or_empty(const json_t *v)
{
    return json_is_array(v) ? json_deep_copy(v) : json_array();
}

/* BatchCreatePartition: DatabaseName, TableName, PartitionInputList (<= 100) -> Errors per entry;
 * the others are created in one transaction. */
int catalog__op_BatchCreatePartition(struct catalog *cat, const struct catalog_scope *sc,
                                     json_t *in, json_t **out, struct err_info *err)
{
    json_t *list = json_object_get(in, "PartitionInputList");
    if (!json_is_array(list) || json_array_size(list) > 100) {
        return err_set(err, SL_E(INVALID_INPUT),
                       "PartitionInputList must list between 0 and 100 partitions.");
    }
    struct tctx t;
    json_t *errors = json_array();
    int64_t now = clock_now_ms();
    store_lock(cat->st);
    int rc = tctx_load_in(cat, sc, in, &t, err);
    if (rc == 0) {
        rc = store_begin(cat->st);
    }
    size_t i;
    json_t *pi;
    json_array_foreach(list, i, pi)
    {
        if (rc < 0) {
            break;
        }
        struct err_info e = {0};
        if (partition_insert(cat, &t, pi, now, &e) < 0) {
            json_array_append_new(errors, json_pack("{s:o, s:o}", "PartitionValues",
                                                    values_or_empty(json_object_get(pi, "Values")),
                                                    "ErrorDetail", error_detail(&e)));
        }
    }
    rc = catalog__write_end(cat, rc, err);
    tctx_fini(&t);
    return catalog__list_out(rc, errors, "Errors", 0, 0, out);
}

/* Reads one partition by values; *p is the Partition shape. Caller holds a read bracket or the
 * lock. */
static int partition_get(struct catalog *cat, const struct catalog_scope *sc, const struct tctx *t,
                         const json_t *values, json_t **p, struct err_info *err)
{
    int rc = values_check(t, values, err);
    if (rc < 0) {
        return rc;
    }
    char *vkey = catalog__vkey_encode(values);
    struct store_stmt *s = store_prepare_args(
        cat->st, "SELECT doc, create_time FROM glue_partition WHERE table_id=? AND vkey=?", "is",
        t->tid, vkey);
    rc = s != NULL ? store_step(s) : SL_E(IO);
    if (rc == 1) {
        *p = partition_out(sc, t, store_col_text(s, 0), store_col_int64(s, 1), 0);
        rc = *p != NULL ? 0 : catalog__store_err(err, SL_E(CORRUPT));
    } else if (rc == 0) {
        rc = err_set(err, SL_E(ENTITY_NOT_FOUND), "Cannot find partition.");
    } else {
        rc = catalog__store_err(err, rc);
    }
    store_finalize(s);
    free(vkey);
    return rc;
}

/* GetPartition: DatabaseName, TableName, PartitionValues -> Partition. ENTITY_NOT_FOUND. */
int catalog__op_GetPartition(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                             json_t **out, struct err_info *err)
{
    struct tctx t;
    json_t *p = NULL;
    store_read_begin(cat->st);
    int rc = tctx_load_in(cat, sc, in, &t, err);
    if (rc == 0) {
        rc = partition_get(cat, sc, &t, json_object_get(in, "PartitionValues"), &p, err);
    }
    store_read_end(cat->st);
    tctx_fini(&t);
    if (rc == 0) {
        *out = json_pack("{s:o}", "Partition", p);
    }
    return rc;
}

/* BatchGetPartition: DatabaseName, TableName, PartitionsToGet (<= 1000) -> Partitions,
 * UnprocessedKeys (entries that were not valid requests). */
int catalog__op_BatchGetPartition(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                                  json_t **out, struct err_info *err)
{
    json_t *list = json_object_get(in, "PartitionsToGet");
    if (!json_is_array(list) || json_array_size(list) > 1000) {
        return err_set(err, SL_E(INVALID_INPUT),
                       "PartitionsToGet must list between 0 and 1000 partitions.");
    }
    struct tctx t;
    json_t *parts = json_array();
    json_t *unprocessed = json_array();
    store_read_begin(cat->st);
    int rc = tctx_load_in(cat, sc, in, &t, err);
    size_t i;
    json_t *want;
    json_array_foreach(list, i, want)
    {
        if (rc < 0) {
            break;
        }
        struct err_info e = {0};
        json_t *p = NULL;
        int r = partition_get(cat, sc, &t, json_object_get(want, "Values"), &p, &e);
        if (r == 0) {
            json_array_append_new(parts, p);
        } else if (r != SL_E(ENTITY_NOT_FOUND)) {
            json_array_append(unprocessed, want);
        }
    }
    store_read_end(cat->st);
    tctx_fini(&t);
    if (rc < 0) {
        json_decref(parts);
        json_decref(unprocessed);
        return rc;
    }
    *out = json_pack("{s:o, s:o}", "Partitions", parts, "UnprocessedKeys", unprocessed);
    return 0;
}

/* Replaces a partition (its values may change). Caller holds the lock. */
static int partition_update(struct catalog *cat, const struct tctx *t, const json_t *old_values,
                            const json_t *pi, struct err_info *err)
{
    int rc = values_check(t, old_values, err);
    if (rc < 0) {
        return rc;
    }
    if (!json_is_object(pi)) {
        return err_set(err, SL_E(INVALID_INPUT), "PartitionInput is required.");
    }
    json_t *doc = json_deep_copy(pi);
    if (json_object_get(doc, "Values") == NULL) {
        json_object_set(doc, "Values", (json_t *)old_values);
    }
    rc = values_check(t, json_object_get(doc, "Values"), err);
    if (rc == 0 && catalog__columns_check(
                       json_object_get(json_object_get(doc, "StorageDescriptor"), "Columns"),
                       "Column", err) < 0) {
        rc = err->code;
    }
    if (rc < 0) {
        json_decref(doc);
        return rc;
    }
    char *old_key = catalog__vkey_encode(old_values);
    char *new_key = catalog__vkey_encode(json_object_get(doc, "Values"));
    char *text = catalog__dump(doc);
    char *ckey = catalog__ckey_encode(json_object_get(doc, "Values"));
    rc = store_run(cat->st,
                   "UPDATE OR IGNORE glue_partition SET vkey=?, ckey=?, doc=?, update_time=?"
                   " WHERE table_id=? AND vkey=?",
                   "sssiis", new_key, ckey, text, (int64_t)clock_now_ms(), t->tid, old_key);
    free(ckey);
    if (rc < 0) {
        rc = catalog__store_err(err, rc);
    } else if (store_changes(cat->st) == 0) {
        /* Either the partition is missing or the new values are taken. */
        struct store_stmt *s =
            store_prepare_args(cat->st, "SELECT 1 FROM glue_partition WHERE table_id=? AND vkey=?",
                               "is", t->tid, old_key);
        int exists = s != NULL && store_step(s) == 1;
        store_finalize(s);
        rc = exists ? err_set(err, SL_E(ALREADY_EXISTS), "Partition already exists.")
                    : err_set(err, SL_E(ENTITY_NOT_FOUND), "Cannot find partition.");
    }
    free(old_key);
    free(new_key);
    free(text);
    json_decref(doc);
    return rc;
}

/* UpdatePartition: DatabaseName, TableName, PartitionValueList, PartitionInput -> {}; the values
 * may change. ENTITY_NOT_FOUND, ALREADY_EXISTS (new values taken), INVALID_INPUT. */
int catalog__op_UpdatePartition(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                                json_t **out, struct err_info *err)
{
    struct tctx t;
    store_lock(cat->st);
    int rc = tctx_load_in(cat, sc, in, &t, err);
    if (rc == 0) {
        rc = partition_update(cat, &t, json_object_get(in, "PartitionValueList"),
                              json_object_get(in, "PartitionInput"), err);
    }
    store_unlock(cat->st);
    tctx_fini(&t);
    if (rc == 0) {
        *out = json_object();
    }
    return rc;
}

/* BatchUpdatePartition: DatabaseName, TableName, Entries (1..100) -> Errors per entry. */
int catalog__op_BatchUpdatePartition(struct catalog *cat, const struct catalog_scope *sc,
                                     json_t *in, json_t **out, struct err_info *err)
{
    json_t *list = json_object_get(in, "Entries");
    if (!json_is_array(list) || json_array_size(list) < 1 || json_array_size(list) > 100) {
        return err_set(err, SL_E(INVALID_INPUT), "Entries must list between 1 and 100 entries.");
    }
    struct tctx t;
    json_t *errors = json_array();
    store_lock(cat->st);
    int rc = tctx_load_in(cat, sc, in, &t, err);
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        if (rc < 0) {
            break;
        }
        struct err_info pe = {0};
        const json_t *vals = json_object_get(e, "PartitionValueList");
        if (partition_update(cat, &t, vals, json_object_get(e, "PartitionInput"), &pe) < 0) {
            json_array_append_new(errors, json_pack("{s:o, s:o}", "PartitionValueList",
                                                    values_or_empty(vals), "ErrorDetail",
                                                    error_detail(&pe)));
        }
    }
    store_unlock(cat->st);
    tctx_fini(&t);
    return catalog__list_out(rc, errors, "Errors", 0, 0, out);
}

static int partition_delete(struct catalog *cat, const struct tctx *t, const json_t *values,
                            struct err_info *err)
{
    int rc = values_check(t, values, err);
    if (rc < 0) {
        return rc;
    }
    char *vkey = catalog__vkey_encode(values);
    rc = store_run(cat->st, "DELETE FROM glue_partition WHERE table_id=? AND vkey=?", "is", t->tid,
                   vkey);
    free(vkey);
    return catalog__changed(cat, rc, err, SL_E(ENTITY_NOT_FOUND), "Cannot find partition.");
}

/* DeletePartition: DatabaseName, TableName, PartitionValues -> {}. ENTITY_NOT_FOUND. */
int catalog__op_DeletePartition(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                                json_t **out, struct err_info *err)
{
    struct tctx t;
    store_lock(cat->st);
    int rc = tctx_load_in(cat, sc, in, &t, err);
    if (rc == 0) {
        rc = partition_delete(cat, &t, json_object_get(in, "PartitionValues"), err);
    }
    store_unlock(cat->st);
    tctx_fini(&t);
    if (rc == 0) {
        *out = json_object();
    }
    return rc;
}

/* BatchDeletePartition: DatabaseName, TableName, PartitionsToDelete (<= 25) -> Errors per entry. */
int catalog__op_BatchDeletePartition(struct catalog *cat, const struct catalog_scope *sc,
                                     json_t *in, json_t **out, struct err_info *err)
{
    json_t *list = json_object_get(in, "PartitionsToDelete");
    if (!json_is_array(list) || json_array_size(list) > 25) {
        return err_set(err, SL_E(INVALID_INPUT),
                       "PartitionsToDelete must list between 0 and 25 partitions.");
    }
    struct tctx t;
    json_t *errors = json_array();
    store_lock(cat->st);
    int rc = tctx_load_in(cat, sc, in, &t, err);
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        if (rc < 0) {
            break;
        }
        struct err_info pe = {0};
        const json_t *vals = json_object_get(e, "Values");
        if (partition_delete(cat, &t, vals, &pe) < 0) {
            json_array_append_new(errors,
                                  json_pack("{s:o, s:o}", "PartitionValues", values_or_empty(vals),
                                            "ErrorDetail", error_detail(&pe)));
        }
    }
    store_unlock(cat->st);
    tctx_fini(&t);
    return catalog__list_out(rc, errors, "Errors", 0, 0, out);
}

/* ---- scanning ---- */

struct scan {
    const struct catalog_expr *expr;
    int64_t after_id;       /* start after this id */
    int64_t total_segments; /* 1 when not segmented */
    int64_t segment;
    size_t limit; /* stop after this many matches (0: none) */
    /* called for each match with its row (create_time, doc, vkey) and values */
    int (*fn)(void *arg, struct store_stmt *row, const char *const *vals, const size_t *lens,
              size_t n);
    void *arg;
    int64_t last_id;           /* OUT: id of the last match */
    int more;                  /* OUT: a match beyond limit exists */
    const struct catalog *cat; /* its clock and budget */
    int64_t deadline_ms;       /* on cat's clock: past it the scan stops */
    size_t n_seen;             /* rows read so far */
};

#define BUDGET_CHECK_ROWS 32 /* rows read between two looks at the clock */

/* Starts the scan's time budget (catalog__budget_start). */
static void scan_budget_start(struct scan *sc, const struct catalog *cat)
{
    sc->cat = cat;
    sc->deadline_ms = catalog__now_ms(cat) + cat->request_budget_ms;
}

/* Counts one row read; SL_E(OPERATION_TIMEOUT) when the scan has run out of time. */
static int scan_tick(struct scan *sc)
{
    if (++sc->n_seen % BUDGET_CHECK_ROWS == 0 && catalog__now_ms(sc->cat) > sc->deadline_ms) {
        return SL_E(OPERATION_TIMEOUT);
    }
    return 0;
}

#define MAX_PREFIXES 64 /* ckey ranges one GetPartitions reads at most */

/* Hands one match to the scan's callback after loading its row. */
static int scan_emit(struct scan *sc, struct store_stmt *row, int64_t id, size_t *matched)
{
    if (sc->limit > 0 && *matched == sc->limit) {
        sc->more = 1;
        return 1;
    }
    (*matched)++;
    sc->last_id = id;
    store_reset(row);
    store_bind_int64(row, 1, id);
    int rc = store_step(row);
    if (rc != 1) {
        return rc < 0 ? rc : SL_E(CORRUPT);
    }
    const char *vals[MAX_KEYS];
    size_t lens[MAX_KEYS];
    int n = catalog__vkey_split(store_col_text(row, 2), vals, lens, MAX_KEYS);
    if (n < 0) {
        return SL_E(CORRUPT);
    }
    return sc->fn(sc->arg, row, vals, lens, (size_t)n);
}

/* Whether the row (id, vkey) of a query is selected by the scan. */
static int scan_selects(const struct scan *sc, struct store_stmt *s)
{
    int64_t id = store_col_int64(s, 0);
    if (sc->total_segments > 1 && id % sc->total_segments != sc->segment) {
        return 0;
    }
    const char *vals[MAX_KEYS];
    size_t lens[MAX_KEYS];
    int n = catalog__vkey_split(store_col_text(s, 1), vals, lens, MAX_KEYS);
    return n >= 0 && catalog__expr_eval(sc->expr, vals, lens, (size_t)n);
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Walks the table's partitions in id order and loads the document of each match.
 * Without pruning it reads only the covering index (table_id, id, vkey). With one ckey
 * prefix it reads that range in id order; with several (IN lists) it reads each range,
 * then sorts the matching ids. ';' sorts after the digits that may follow a prefix.
 * Returns 0, the callback's non-zero result, SL_E(OPERATION_TIMEOUT) when the scan runs
 * past its budget, or a store failure. Caller holds a read bracket (or the lock). */
static int scan_run(struct catalog *cat, const struct tctx *t, struct scan *sc)
{
    char **prefixes = NULL;
    size_t n_prefixes = 0;
    catalog__expr_prefixes(sc->expr, t->n_keys, MAX_PREFIXES, &prefixes, &n_prefixes);
    struct store_stmt *row = NULL;
    struct store_stmt *s = NULL;
    int64_t *ids = NULL;
    size_t n_ids = 0, cap_ids = 0, matched = 0;
    int rc = store_prepare(cat->st, "SELECT create_time, doc, vkey FROM glue_partition WHERE id=?",
                           &row);
    if (rc < 0) {
        goto out;
    }
    if (n_prefixes <= 1) {
        if (n_prefixes == 1) {
            char *hi = xasprintf("%s;", prefixes[0]);
            s = store_prepare_args(cat->st,
                                   "SELECT id, vkey FROM glue_partition INDEXED BY"
                                   " glue_partition_by_ckey WHERE table_id=? AND ckey>=? AND ckey<?"
                                   " AND id>? ORDER BY id",
                                   "issi", t->tid, prefixes[0], hi, sc->after_id);
            free(hi);
        } else {
            s = store_prepare_args(
                cat->st,
                "SELECT id, vkey FROM glue_partition INDEXED BY glue_partition_scan"
                " WHERE table_id=? AND id>? ORDER BY id",
                "ii", t->tid, sc->after_id);
        }
        if (s == NULL) {
            rc = SL_E(IO);
            goto out;
        }
        while ((rc = store_step(s)) == 1) {
            if ((rc = scan_tick(sc)) != 0 ||
                (scan_selects(sc, s) &&
                 (rc = scan_emit(sc, row, store_col_int64(s, 0), &matched)) != 0)) {
                break;
            }
        }
        goto out;
    }
    for (size_t p = 0; p < n_prefixes; p++) {
        char *hi = xasprintf("%s;", prefixes[p]);
        s = store_prepare_args(
            cat->st,
            "SELECT id, vkey FROM glue_partition INDEXED BY glue_partition_by_ckey"
            " WHERE table_id=? AND ckey>=? AND ckey<? AND id>?",
            "issi", t->tid, prefixes[p], hi, sc->after_id);
        free(hi);
        if (s == NULL) {
            rc = SL_E(IO);
            goto out;
        }
        while ((rc = store_step(s)) == 1) {
            if ((rc = scan_tick(sc)) != 0) {
                break;
            }
            if (!scan_selects(sc, s)) {
                continue;
            }
            if (n_ids == cap_ids) {
                cap_ids = cap_ids ? cap_ids * 2 : 64;
                ids = xrealloc(ids, cap_ids * sizeof(*ids));
            }
            ids[n_ids++] = store_col_int64(s, 0);
        }
        store_finalize(s);
        s = NULL;
        if (rc < 0) {
            goto out;
        }
    }
    qsort(ids, n_ids, sizeof(*ids), cmp_id);
    for (size_t i = 0; i < n_ids && rc == 0; i++) {
        rc = scan_tick(sc);
        if (rc == 0) {
            rc = scan_emit(sc, row, ids[i], &matched);
        }
    }
out:
    if (sc->more) {
        rc = 0; /* stopped at the limit, not by the callback */
    }
    free(ids);
    for (size_t p = 0; p < n_prefixes; p++) {
        free(prefixes[p]);
    }
    free(prefixes);
    store_finalize(s);
    store_finalize(row);
    return rc;
}

struct collect {
    const struct catalog_scope *sc;
    const struct tctx *t;
    json_t *list;
    int exclude_columns;
};

static int collect_row(void *arg, struct store_stmt *row, const char *const *vals,
                       const size_t *lens, size_t n)
{
    (void)vals;
    (void)lens;
    (void)n;
    struct collect *c = arg;
    json_t *p = partition_out(c->sc, c->t, store_col_text(row, 1), store_col_int64(row, 0),
                              c->exclude_columns);
    if (p != NULL) {
        json_array_append_new(c->list, p);
    }
    return 0;
}

static int compile_for(const struct tctx *t, const char *expr, struct catalog_expr **out,
                       struct err_info *err)
{
    return catalog__expr_compile(expr, (const char *const *)t->key_names, t->key_kinds, t->n_keys,
                                 out, err);
}

/* Sets err for a scan that failed with rc: Glue's timeout or a store failure. */
static int scan_err(struct err_info *err, int rc)
{
    if (rc == SL_E(OPERATION_TIMEOUT)) {
        return err_set(err, rc, "Request took too long to complete.");
    }
    return catalog__store_err(err, rc);
}

/* GetPartitions: DatabaseName, TableName, Expression, Segment, MaxResults (1..1000),
 * NextToken, ExcludeColumnSchema -> Partitions, NextToken. INVALID_INPUT (expression),
 * OPERATION_TIMEOUT (the scan ran past the catalog's request budget). */
int catalog__op_GetPartitions(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                              json_t **out, struct err_info *err)
{
    int64_t after;
    int max = catalog__max_results(in, 1000, 1000, err);
    if (max < 0 || catalog__token_parse(in, &after, err) < 0) {
        return err->code;
    }
    int64_t total = 1, segment = 0;
    json_t *seg = json_object_get(in, "Segment");
    if (seg != NULL) {
        total = json_integer_value(json_object_get(seg, "TotalSegments"));
        segment = json_integer_value(json_object_get(seg, "SegmentNumber"));
        if (total < 1 || total > 10 || segment < 0 || segment >= total) {
            return err_set(err, SL_E(INVALID_INPUT),
                           "Segment must have 1 <= TotalSegments <= 10 and"
                           " 0 <= SegmentNumber < TotalSegments.");
        }
    }
    struct tctx t;
    struct catalog_expr *expr = NULL;
    struct collect c = {.sc = sc,
                        .list = json_array(),
                        .exclude_columns =
                            json_is_true(json_object_get(in, "ExcludeColumnSchema"))};
    struct scan s = {.after_id = after,
                     .total_segments = total,
                     .segment = segment,
                     .limit = (size_t)max,
                     .fn = collect_row,
                     .arg = &c};
    scan_budget_start(&s, cat);
    store_read_begin(cat->st);
    int rc = tctx_load_in(cat, sc, in, &t, err);
    if (rc == 0) {
        rc = compile_for(&t, catalog__str(in, "Expression"), &expr, err);
    }
    if (rc == 0) {
        c.t = &t;
        s.expr = expr;
        rc = scan_run(cat, &t, &s);
        if (rc < 0) {
            scan_err(err, rc);
        }
    }
    store_read_end(cat->st);
    catalog__expr_free(expr);
    tctx_fini(&t);
    if (rc < 0) {
        json_decref(c.list);
        return err->code;
    }
    *out = json_pack("{s:o}", "Partitions", c.list);
    if (s.more) {
        json_object_set_new(*out, "NextToken", catalog__token(s.last_id));
    }
    return 0;
}

/* One partition an in-process scan hands to its caller: copies, owned by the page. */
struct user_row {
    char **values; /* n_values copies */
    size_t n_values;
    char *location; /* NULL when none */
};

#define USER_PAGE_ROWS 256 /* rows read in one read bracket before the callbacks run */

/* A page of matches, collected under a read bracket and handed out after it ends. */
struct user_page {
    struct user_row rows[USER_PAGE_ROWS];
    size_t n_rows;
};

static int user_row_collect(void *arg, struct store_stmt *row, const char *const *vals,
                            const size_t *lens, size_t n)
{
    struct user_page *pg = arg;
    struct user_row *r = &pg->rows[pg->n_rows++];
    r->values = xcalloc(n ? n : 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        r->values[i] = xstrndup(vals[i], lens[i]);
    }
    r->n_values = n;
    json_t *doc = catalog__load(store_col_text(row, 1));
    const char *loc = catalog__str(json_object_get(doc, "StorageDescriptor"), "Location");
    r->location = loc != NULL ? xstrdup(loc) : NULL;
    json_decref(doc);
    return 0;
}

static void user_page_clear(struct user_page *pg)
{
    for (size_t i = 0; i < pg->n_rows; i++) {
        for (size_t v = 0; v < pg->rows[i].n_values; v++) {
            free(pg->rows[i].values[v]);
        }
        free(pg->rows[i].values);
        free(pg->rows[i].location);
    }
    pg->n_rows = 0;
}

/* The scan goes page by page: it reads up to USER_PAGE_ROWS matches in one read
 * bracket, ends it, and only then calls fn on each, so fn runs under no lock of the
 * catalog and may call into the catalog (or anything else). Each page has the
 * catalog's request budget. A change made between pages shows in the later pages as
 * it would to a caller paging through GetPartitions. */
int catalog_partition_scan(struct catalog *cat, const struct catalog_scope *scope,
                           const char *database, const char *table, const char *expression,
                           catalog_partition_fn fn, void *arg, struct err_info *err)
{
    struct tctx t;
    struct catalog_expr *expr = NULL;
    store_read_begin(cat->st);
    int rc = tctx_load(cat, scope, database, table, &t, err);
    store_read_end(cat->st);
    if (rc == 0) {
        rc = compile_for(&t, expression, &expr, err);
    }
    struct user_page *pg = xcalloc(1, sizeof(*pg));
    int64_t after = 0;
    int more = rc == 0;
    while (more) {
        struct scan s = {.total_segments = 1,
                         .after_id = after,
                         .limit = USER_PAGE_ROWS,
                         .fn = user_row_collect,
                         .arg = pg,
                         .expr = expr};
        scan_budget_start(&s, cat);
        store_read_begin(cat->st);
        rc = scan_run(cat, &t, &s);
        store_read_end(cat->st);
        if (rc < 0) {
            scan_err(err, rc);
        }
        for (size_t i = 0; i < pg->n_rows && rc == 0; i++) {
            const struct user_row *r = &pg->rows[i];
            rc = fn(arg, (const char *const *)r->values, r->n_values, r->location);
        }
        user_page_clear(pg);
        more = rc == 0 && s.more;
        after = s.last_id;
    }
    free(pg);
    catalog__expr_free(expr);
    tctx_fini(&t);
    return rc;
}

int catalog_partition_ensure(struct catalog *cat, const struct catalog_scope *scope,
                             const char *database, const char *table, const char *const *values,
                             size_t n_values, const char *location, struct err_info *err)
{
    struct tctx t;
    store_lock(cat->st);
    int rc = tctx_load(cat, scope, database, table, &t, err);
    if (rc == 0) {
        json_t *tdoc = NULL;
        int64_t tid = 0;
        catalog__table_find(cat, scope, database, table, &tid, &tdoc, err);
        json_t *sd = json_deep_copy(json_object_get(tdoc, "StorageDescriptor"));
        if (sd == NULL) {
            sd = json_object();
        }
        if (location != NULL) {
            json_object_set_new(sd, "Location", json_string(location));
        }
        json_t *vals = json_array();
        for (size_t i = 0; i < n_values; i++) {
            json_array_append_new(vals, json_string(values[i] != NULL ? values[i] : ""));
        }
        json_t *pi = json_pack("{s:o, s:o}", "Values", vals, "StorageDescriptor", sd);
        rc = partition_insert(cat, &t, pi, clock_now_ms(), err);
        if (rc == SL_E(ALREADY_EXISTS)) {
            err_clear(err);
            rc = 0;
        }
        json_decref(pi);
        json_decref(tdoc);
    }
    store_unlock(cat->st);
    tctx_fini(&t);
    return rc;
}

/* ---- partition indexes ----
 * Kept and reported as ACTIVE. GetPartitions does not need them: equalities on the
 * leading partition keys always read only their range of the ckey index. */

/* CreatePartitionIndex: DatabaseName, TableName, PartitionIndex {IndexName, Keys} -> {}.
 * ALREADY_EXISTS, INVALID_INPUT (a key that is not a partition key). */
int catalog__op_CreatePartitionIndex(struct catalog *cat, const struct catalog_scope *sc,
                                     json_t *in, json_t **out, struct err_info *err)
{
    json_t *pi = json_object_get(in, "PartitionIndex");
    const char *name = catalog__str(pi, "IndexName");
    json_t *keys = json_object_get(pi, "Keys");
    if (catalog__check_name(name, "partitionIndex.indexName", err) < 0) {
        return err->code;
    }
    if (!json_is_array(keys) || json_array_size(keys) < 1) {
        return err_set(err, SL_E(INVALID_INPUT), "PartitionIndex.Keys must list partition keys.");
    }
    struct tctx t;
    store_lock(cat->st);
    int rc = tctx_load_in(cat, sc, in, &t, err);
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        if (rc < 0) {
            break;
        }
        char *kn = catalog__lower(json_is_string(k) ? json_string_value(k) : "");
        size_t j = 0;
        while (j < t.n_keys && strcmp(t.key_names[j], kn) != 0) {
            j++;
        }
        if (j == t.n_keys) {
            rc = err_set(err, SL_E(INVALID_INPUT), "Key %s is not a partition key of table %s.", kn,
                         t.tbl);
        }
        free(kn);
    }
    if (rc == 0) {
        char *text = catalog__dump(keys);
        rc = store_run(cat->st,
                       "INSERT INTO glue_partition_index(table_id, name, keys, create_time)"
                       " VALUES(?,?,?,?) ON CONFLICT DO NOTHING",
                       "issi", t.tid, name, text, (int64_t)clock_now_ms());
        free(text);
        rc = catalog__changed(cat, rc, err, SL_E(ALREADY_EXISTS),
                              "Partition index %s already exists.", name);
    }
    store_unlock(cat->st);
    tctx_fini(&t);
    if (rc == 0) {
        *out = json_object();
    }
    return rc;
}

/* GetPartitionIndexes: DatabaseName, TableName -> PartitionIndexDescriptorList (ACTIVE). */
int catalog__op_GetPartitionIndexes(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                                    json_t **out, struct err_info *err)
{
    struct tctx t;
    json_t *list = json_array();
    store_read_begin(cat->st);
    int rc = tctx_load_in(cat, sc, in, &t, err);
    if (rc == 0) {
        struct store_stmt *s = store_prepare_args(
            cat->st, "SELECT name, keys FROM glue_partition_index WHERE table_id=? ORDER BY name",
            "i", t.tid);
        while (s != NULL && store_step(s) == 1) {
            json_t *names = catalog__load(store_col_text(s, 1));
            json_t *keys = json_array();
            size_t i;
            json_t *k;
            json_array_foreach(names, i, k)
            {
                /* Each key with its type from the table's PartitionKeys. */
                const char *type = "string";
                size_t j;
                json_t *col;
                json_array_foreach(t.key_cols, j, col)
                {
                    const char *cn = catalog__str(col, "Name");
                    if (cn != NULL && json_is_string(k) &&
                        strcasecmp(cn, json_string_value(k)) == 0 &&
                        catalog__str(col, "Type") != NULL) {
                        type = catalog__str(col, "Type");
                    }
                }
                json_array_append_new(keys, json_pack("{s:O, s:s}", "Name", k, "Type", type));
            }
            json_decref(names);
            json_array_append_new(list,
                                  json_pack("{s:s, s:o, s:s}", "IndexName", store_col_text(s, 0),
                                            "Keys", keys, "IndexStatus", "ACTIVE"));
        }
        store_finalize(s);
    }
    store_read_end(cat->st);
    tctx_fini(&t);
    if (rc < 0) {
        json_decref(list);
        return rc;
    }
    *out = json_pack("{s:o}", "PartitionIndexDescriptorList", list);
    return 0;
}

/* DeletePartitionIndex: DatabaseName, TableName, IndexName -> {}. ENTITY_NOT_FOUND. */
int catalog__op_DeletePartitionIndex(struct catalog *cat, const struct catalog_scope *sc,
                                     json_t *in, json_t **out, struct err_info *err)
{
    const char *name = catalog__str(in, "IndexName");
    if (catalog__check_name(name, "indexName", err) < 0) {
        return err->code;
    }
    struct tctx t;
    store_lock(cat->st);
    int rc = tctx_load_in(cat, sc, in, &t, err);
    if (rc == 0) {
        rc = store_run(cat->st, "DELETE FROM glue_partition_index WHERE table_id=? AND name=?",
                       "is", t.tid, name);
        rc = catalog__changed(cat, rc, err, SL_E(ENTITY_NOT_FOUND), "Partition index %s not found.",
                              name);
    }
    store_unlock(cat->st);
    tctx_fini(&t);
    if (rc == 0) {
        *out = json_object();
    }
    return rc;
}
