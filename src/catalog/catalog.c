/*
 * The catalog's lifecycle, its tables in the metadata store, and helpers shared by the
 * operations.
 *
 * Storage (part "catalog" in schema_version). Documents are Glue's own input shapes,
 * kept as given (names lower-cased) in compact JSON; the columns beside them are what
 * queries select and join on.
 *
 *   glue_database(id, region, account, name, doc, create_time)
 *   glue_table(id, db_id -> glue_database, name, version, doc, create_time, update_time)
 *   glue_table_version(table_id -> glue_table, version, doc, update_time)
 *       every version of a table, the current one included
 *   glue_partition(id, table_id -> glue_table, vkey, ckey, doc, create_time, update_time)
 *       vkey encodes Values as "<len>:<bytes>"... so it is unique per table and splits
 *       without a JSON parse; GetPartitions evaluates it for every row, reading only
 *       the covering index glue_partition_scan(table_id, id, vkey), and loads doc for
 *       the rows that match. ckey is the same encoding of each value in canonical form
 *       (integer-looking text as its decimal integer, "+07" -> "7"; anything else as
 *       is), so an expression with equalities on the leading keys reads only the range
 *       of glue_partition_by_ckey that can match (see catalog__expr_prefixes)
 *   glue_partition_index(table_id, name, keys)
 *   glue_tag(arn, key, value)
 *   glue_registry(id, region, account, name, description, create_time, update_time)
 *   glue_schema(id, registry_id -> glue_registry, name, data_format, compatibility,
 *               description, checkpoint, next_version, create_time, update_time)
 *   glue_schema_version(id, schema_id -> glue_schema, version, uuid, definition,
 *                       fingerprint, status, create_time)
 *       fingerprint: SHA-256 (hex) of the definition in canonical form, so identical
 *       re-registration is found by index
 *   glue_schema_meta(version_uuid, key, value, create_time)
 *
 * Times are milliseconds since the epoch. Deleting a database cascades to its tables,
 * their versions and partitions (foreign keys are on in the store).
 */
#include "catalog/catalog_int.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"

static const struct store_migration migrations[] = {
    {1, "CREATE TABLE glue_database("
        " id INTEGER PRIMARY KEY, region TEXT NOT NULL, account TEXT NOT NULL,"
        " name TEXT NOT NULL, doc TEXT NOT NULL, create_time INTEGER NOT NULL,"
        " UNIQUE(region, account, name));"
        "CREATE TABLE glue_table("
        " id INTEGER PRIMARY KEY,"
        " db_id INTEGER NOT NULL REFERENCES glue_database(id) ON DELETE CASCADE,"
        " name TEXT NOT NULL, version INTEGER NOT NULL, doc TEXT NOT NULL,"
        " create_time INTEGER NOT NULL, update_time INTEGER NOT NULL,"
        " UNIQUE(db_id, name));"
        "CREATE TABLE glue_table_version("
        " table_id INTEGER NOT NULL REFERENCES glue_table(id) ON DELETE CASCADE,"
        " version INTEGER NOT NULL, doc TEXT NOT NULL, update_time INTEGER NOT NULL,"
        " PRIMARY KEY(table_id, version));"
        "CREATE TABLE glue_partition("
        " id INTEGER PRIMARY KEY,"
        " table_id INTEGER NOT NULL REFERENCES glue_table(id) ON DELETE CASCADE,"
        " vkey TEXT NOT NULL, ckey TEXT NOT NULL, create_time INTEGER NOT NULL,"
        " update_time INTEGER NOT NULL, doc TEXT NOT NULL, UNIQUE(table_id, vkey));"
        "CREATE INDEX glue_partition_scan ON glue_partition(table_id, id, vkey);"
        "CREATE INDEX glue_partition_by_ckey ON glue_partition(table_id, ckey);"
        "CREATE TABLE glue_partition_index("
        " table_id INTEGER NOT NULL REFERENCES glue_table(id) ON DELETE CASCADE,"
        " name TEXT NOT NULL, keys TEXT NOT NULL, create_time INTEGER NOT NULL,"
        " PRIMARY KEY(table_id, name));"
        "CREATE TABLE glue_tag(arn TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
        " PRIMARY KEY(arn, key));"
        "CREATE TABLE glue_registry("
        " id INTEGER PRIMARY KEY, region TEXT NOT NULL, account TEXT NOT NULL,"
        " name TEXT NOT NULL, description TEXT, create_time INTEGER NOT NULL,"
        " update_time INTEGER NOT NULL, UNIQUE(region, account, name));"
        "CREATE TABLE glue_schema("
        " id INTEGER PRIMARY KEY,"
        " registry_id INTEGER NOT NULL REFERENCES glue_registry(id) ON DELETE CASCADE,"
        " name TEXT NOT NULL, data_format TEXT NOT NULL, compatibility TEXT NOT NULL,"
        " description TEXT, checkpoint INTEGER NOT NULL, next_version INTEGER NOT NULL,"
        " create_time INTEGER NOT NULL, update_time INTEGER NOT NULL,"
        " UNIQUE(registry_id, name));"
        "CREATE TABLE glue_schema_version("
        " id INTEGER PRIMARY KEY,"
        " schema_id INTEGER NOT NULL REFERENCES glue_schema(id) ON DELETE CASCADE,"
        " version INTEGER NOT NULL, uuid TEXT NOT NULL UNIQUE, definition TEXT NOT NULL,"
        " fingerprint TEXT NOT NULL, status TEXT NOT NULL, create_time INTEGER NOT NULL,"
        " UNIQUE(schema_id, version));"
        "CREATE INDEX glue_schema_version_by_fingerprint"
        " ON glue_schema_version(schema_id, fingerprint);"
        "CREATE TABLE glue_schema_meta("
        " version_uuid TEXT NOT NULL REFERENCES glue_schema_version(uuid) ON DELETE CASCADE,"
        " key TEXT NOT NULL, value TEXT NOT NULL, create_time INTEGER NOT NULL,"
        " PRIMARY KEY(version_uuid, key, value));"},
};

int catalog_open(struct store *st, const struct sluice_config *cfg, struct catalog **out)
{
    int rc = store_migrate(st, "catalog", migrations, sizeof(migrations) / sizeof(migrations[0]));
    if (rc < 0) {
        return rc;
    }
    struct catalog *cat = xcalloc(1, sizeof(*cat));
    cat->st = st;
    catalog_options_set(cat, &(struct catalog_options){0});
    snprintf(cat->default_region, sizeof(cat->default_region), "%s",
             cfg != NULL ? cfg->region : "us-east-1");
    snprintf(cat->default_account, sizeof(cat->default_account), "%s",
             cfg != NULL ? cfg->account_id : "000000000000");
    *out = cat;
    return 0;
}

static int64_t system_clock_ms(void *arg)
{
    (void)arg;
    return clock_mono_ns() / 1000000;
}

void catalog_options_set(struct catalog *cat, const struct catalog_options *opt)
{
    cat->request_budget_ms =
        opt->request_budget_ms > 0 ? opt->request_budget_ms : CATALOG_REQUEST_BUDGET_MS_DEFAULT;
    cat->clock_ms = opt->clock_ms != NULL ? opt->clock_ms : system_clock_ms;
    cat->clock_arg = opt->clock_ms != NULL ? opt->clock_arg : NULL;
}

int64_t catalog__now_ms(const struct catalog *cat)
{
    return cat->clock_ms(cat->clock_arg);
}

void catalog_close(struct catalog *cat)
{
    if (cat == NULL) {
        return;
    }
    free(cat);
}

char *catalog__lower(const char *s)
{
    char *r = xstrdup(s);
    for (char *p = r; *p != '\0'; p++) {
        *p = (char)tolower((unsigned char)*p);
    }
    return r;
}

int catalog__check_name(const char *name, const char *field, struct err_info *err)
{
    if (name == NULL) {
        return err_set(err, SL_E(INVALID_INPUT), "%s is required.", field);
    }
    size_t len = strlen(name);
    if (len < 1 || len > 255) {
        return err_set(err, SL_E(INVALID_INPUT),
                       "1 validation error detected: Value at '%s' failed to satisfy "
                       "constraint: Member must have length between 1 and 255",
                       field);
    }
    for (const char *p = name; *p != '\0'; p++) {
        if (*p == '\n' || *p == '\r') {
            return err_set(err, SL_E(INVALID_INPUT),
                           "1 validation error detected: Value '%s' at '%s' failed to satisfy "
                           "constraint: Member must satisfy regular expression pattern: "
                           "[\\u0020-\\uD7FF\\uE000-\\uFFFD\\uD800\\uDC00-\\uDBFF\\uDFFF\\t]*",
                           name, field);
        }
    }
    return 0;
}

const char *catalog__str(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

json_t *catalog__time(int64_t ms)
{
    return json_real((double)ms / 1000.0);
}

char *catalog__dump(const json_t *doc)
{
    char *s = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
    return s != NULL ? s : xstrdup("{}");
}

json_t *catalog__load(const char *text)
{
    json_error_t jerr;
    json_t *doc = json_loads(text != NULL ? text : "", JSON_DECODE_ANY, &jerr);
    if (doc == NULL) {
        SL_CORRUPT("catalog document", jerr.position, jerr.text);
    }
    return doc;
}

json_t *catalog__token(int64_t last_id)
{
    char tok[32];
    snprintf(tok, sizeof(tok), "t%" PRId64, last_id);
    return json_string(tok);
}

int catalog__token_parse(const json_t *in, int64_t *last_id, struct err_info *err)
{
    *last_id = 0;
    const char *tok = catalog__str(in, "NextToken");
    if (tok == NULL || tok[0] == '\0') {
        return 0;
    }
    char *end = NULL;
    long long v = tok[0] == 't' ? strtoll(tok + 1, &end, 10) : -1;
    if (v < 0 || end == NULL || *end != '\0' || end == tok + 1) {
        return err_set(err, SL_E(INVALID_INPUT), "Invalid NextToken.");
    }
    *last_id = v;
    return 0;
}

int catalog__max_results(const json_t *in, int max, int dflt, struct err_info *err)
{
    const json_t *v = json_object_get(in, "MaxResults");
    if (v == NULL || json_is_null(v)) {
        return dflt;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > max) {
        return err_set(err, SL_E(INVALID_INPUT),
                       "1 validation error detected: Value at 'maxResults' failed to satisfy "
                       "constraint: Member must have value between 1 and %d",
                       max);
    }
    return (int)json_integer_value(v);
}

int catalog__store_err(struct err_info *err, int rc)
{
    return err_set(err, SL_E(INTERNAL_SERVICE), "Internal service error (%s).", sl_strerror(rc));
}

int catalog__changed(struct catalog *cat, int rc, struct err_info *err, int code, const char *fmt,
                     ...)
{
    if (rc < 0) {
        return catalog__store_err(err, rc);
    }
    if (store_changes(cat->st) != 0) {
        return 0;
    }
    va_list ap;
    va_start(ap, fmt);
    err->code = code;
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return code;
}

int catalog__page_start(struct catalog_page *pg, const json_t *in, int max, int dflt,
                        struct err_info *err)
{
    *pg = (struct catalog_page){0};
    pg->max = catalog__max_results(in, max, dflt, err);
    if (pg->max < 0 || catalog__token_parse(in, &pg->after, err) < 0) {
        return err->code;
    }
    return 0;
}

int catalog__page_room(struct catalog_page *pg, int64_t id)
{
    if ((int)json_array_size(pg->list) == pg->max) {
        pg->more = 1;
        return 0;
    }
    pg->last = id;
    return 1;
}

void catalog__page_add(struct catalog_page *pg, json_t *item)
{
    if (item == NULL) {
        return;
    }
    if (pg->list == NULL) {
        pg->list = json_array();
    }
    json_array_append_new(pg->list, item);
}

int catalog__page_end(struct catalog_page *pg, int rc, const char *key, json_t **out)
{
    json_t *list = pg->list != NULL || rc < 0 ? pg->list : json_array();
    return catalog__list_out(rc, list, key, pg->more, pg->last, out);
}

int catalog__write_end(struct catalog *cat, int rc, struct err_info *err)
{
    if (rc == 0) {
        rc = store_commit(cat->st);
    }
    if (rc < 0) {
        store_rollback(cat->st);
        rc = err->code != 0 ? err->code : catalog__store_err(err, rc);
    }
    store_unlock(cat->st);
    return rc;
}

int catalog__list_out(int rc, json_t *list, const char *key, int more, int64_t last, json_t **out)
{
    if (rc < 0) {
        json_decref(list);
        return rc;
    }
    *out = json_pack("{s:o}", key, list);
    if (more) {
        json_object_set_new(*out, "NextToken", catalog__token(last));
    }
    return 0;
}

char *catalog__vkey_encode(const json_t *values)
{
    struct buf b;
    buf_init(&b);
    size_t i;
    const json_t *v;
    json_array_foreach(values, i, v)
    {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        buf_printf(&b, "%zu:", len);
        buf_append(&b, s != NULL ? s : "", len);
    }
    buf_putc(&b, '\0');
    if (buf_status(&b) < 0) {
        buf_fini(&b);
        return NULL;
    }
    return (char *)buf_steal(&b, NULL);
}

void catalog__canon(const char *s, size_t len, struct buf *out)
{
    /* [+-]digits: the digits without leading zeros, '-' kept unless the value is 0. */
    size_t i = len > 0 && (s[0] == '-' || s[0] == '+') ? 1 : 0;
    int ok = i < len;
    for (size_t k = i; ok && k < len; k++) {
        ok = s[k] >= '0' && s[k] <= '9';
    }
    if (!ok) {
        buf_printf(out, "%zu:", len);
        buf_append(out, s, len);
        return;
    }
    int neg = s[0] == '-';
    while (i + 1 < len && s[i] == '0') {
        i++;
    }
    if (s[i] == '0') {
        neg = 0;
    }
    buf_printf(out, "%zu:%s", len - i + (size_t)neg, neg ? "-" : "");
    buf_append(out, s + i, len - i);
}

char *catalog__ckey_encode(const json_t *values)
{
    struct buf b;
    buf_init(&b);
    size_t i;
    const json_t *v;
    json_array_foreach(values, i, v)
    {
        catalog__canon(json_string_value(v) != NULL ? json_string_value(v) : "",
                       json_string_length(v), &b);
    }
    buf_putc(&b, '\0');
    if (buf_status(&b) < 0) {
        buf_fini(&b);
        return NULL;
    }
    return (char *)buf_steal(&b, NULL);
}

int catalog__vkey_split(const char *vkey, const char **vals, size_t *lens, size_t max)
{
    size_t n = 0;
    const char *p = vkey;
    while (*p != '\0') {
        size_t len = 0;
        if (!isdigit((unsigned char)*p)) {
            return -1;
        }
        while (isdigit((unsigned char)*p)) {
            len = len * 10 + (size_t)(*p - '0');
            p++;
            if (len > (1u << 20)) {
                return -1;
            }
        }
        if (*p != ':') {
            return -1;
        }
        p++;
        if (strnlen(p, len) < len || n >= max) {
            return -1;
        }
        vals[n] = p;
        lens[n] = len;
        n++;
        p += len;
    }
    return (int)n;
}
