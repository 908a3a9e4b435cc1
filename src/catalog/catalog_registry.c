/*
 * The Schema Registry: registries, schemas, schema versions, compatibility and version
 * metadata.
 *
 * A schema's versions are numbered from 1. RegisterSchemaVersion validates the
 * definition in the schema's format, returns the existing version when an identical
 * definition (compared in canonical form) is already registered, and otherwise checks
 * compatibility against the versions from the schema's checkpoint on:
 *
 *   mode          checked against        rule (reader <- writer)
 *   NONE          nothing
 *   DISABLED      refused: no new versions
 *   BACKWARD      latest                 new <- latest   (new consumers read old data)
 *   BACKWARD_ALL  every version          new <- each
 *   FORWARD       latest                 latest <- new   (old consumers read new data)
 *   FORWARD_ALL   every version          each <- new
 *   FULL          latest                 both directions
 *   FULL_ALL      every version          both directions
 *
 * A refused version is not stored; the call fails with InvalidInputException naming the
 * version it conflicts with and why. Registry and schema names are case-sensitive.
 * Times in this API are ISO 8601 strings (the model's CreatedTimestamp is a string).
 */
#include "catalog/catalog_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/mem.h"

#define DEFAULT_REGISTRY "default-registry"
#define MAX_DEFINITION 170000
#define MAX_METADATA_KEYS 10

struct schema_row {
    int64_t id;
    int64_t registry_id;
    char *registry; /* registry name */
    char *name;
    char *format; /* AVRO | JSON | PROTOBUF */
    char *compat;
    char *description; /* NULL when none */
    int64_t checkpoint;
    int64_t next_version;
    int64_t create_ms;
    int64_t update_ms;
};

static void schema_row_fini(struct schema_row *r)
{
    free(r->registry);
    free(r->name);
    free(r->format);
    free(r->compat);
    free(r->description);
    memset(r, 0, sizeof(*r));
}

static json_t *iso_time(int64_t ms)
{
    char buf[32];
    clock_format_iso8601(ms, buf);
    return json_string(buf);
}

static char *registry_arn(const struct catalog_scope *sc, const char *name)
{
    return xasprintf("arn:aws:glue:%s:%s:registry/%s", sc->region, sc->account_id, name);
}

static char *schema_arn(const struct catalog_scope *sc, const char *reg, const char *name)
{
    return xasprintf("arn:aws:glue:%s:%s:schema/%s/%s", sc->region, sc->account_id, reg, name);
}

static int check_registry_name(const char *name, const char *field, struct err_info *err)
{
    size_t len = name != NULL ? strlen(name) : 0;
    int ok = len >= 1 && len <= 255;
    for (size_t i = 0; ok && i < len; i++) {
        char c = name[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '-' || c == '_' || c == '$' || c == '#' || c == '.';
    }
    if (!ok) {
        return err_set(err, SL_E(INVALID_INPUT),
                       "1 validation error detected: Value at '%s' failed to satisfy "
                       "constraint: Member must satisfy regular expression pattern: "
                       "[a-zA-Z0-9-_$#.]+",
                       field);
    }
    return 0;
}

/* "arn:aws:glue:<region>:<account>:<kind>/<rest>" -> rest when region/account match. */
static const char *arn_rest(const struct catalog_scope *sc, const char *arn, const char *kind)
{
    char *prefix = xasprintf("arn:aws:glue:%s:%s:%s/", sc->region, sc->account_id, kind);
    size_t n = strlen(prefix);
    int ok = strncmp(arn, prefix, n) == 0;
    free(prefix);
    return ok ? arn + n : NULL;
}

/* ---- registries ---- */

/* Finds a registry by name; creates the default one when asked. Caller holds the lock. */
static int registry_find(struct catalog *cat, const struct catalog_scope *sc, const char *name,
                         int create_default, int64_t *id, struct err_info *err)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        struct store_stmt *s = store_prepare_args(
            cat->st, "SELECT id FROM glue_registry WHERE region=? AND account=? AND name=?", "sss",
            sc->region, sc->account_id, name);
        int rc = s != NULL ? store_step(s) : SL_E(IO);
        if (rc == 1) {
            *id = store_col_int64(s, 0);
        }
        store_finalize(s);
        if (rc == 1) {
            return 0;
        }
        if (rc < 0) {
            return catalog__store_err(err, rc);
        }
        if (!create_default || strcmp(name, DEFAULT_REGISTRY) != 0 || attempt > 0) {
            break;
        }
        int64_t now = clock_now_ms();
        store_run(cat->st,
                  "INSERT INTO glue_registry(region, account, name, description,"
                  " create_time, update_time) VALUES(?,?,?,?,?,?)",
                  "ssssii", sc->region, sc->account_id, name, "Default registry", now, now);
    }
    return err_set(err, SL_E(ENTITY_NOT_FOUND), "Registry is not found. RegistryName: %s", name);
}

/* The registry named by a RegistryId structure (NULL: the default). Sets *name (owned). */
static int registry_resolve(struct catalog *cat, const struct catalog_scope *sc, const json_t *rid,
                            int create_default, int64_t *id, char **name, struct err_info *err)
{
    const char *n = catalog__str(rid, "RegistryName");
    const char *arn = catalog__str(rid, "RegistryArn");
    if (n == NULL && arn != NULL) {
        n = arn_rest(sc, arn, "registry");
        if (n == NULL) {
            return err_set(err, SL_E(INVALID_INPUT), "Invalid RegistryArn %s.", arn);
        }
    }
    if (n == NULL) {
        if (rid != NULL && !json_is_null(rid)) {
            return err_set(err, SL_E(INVALID_INPUT),
                           "RegistryId must give RegistryName or RegistryArn.");
        }
        n = DEFAULT_REGISTRY;
    }
    int rc = registry_find(cat, sc, n, create_default, id, err);
    if (rc == 0) {
        *name = xstrdup(n);
    }
    return rc;
}

/* CreateRegistry: RegistryName, Description?, Tags? -> the registry. ALREADY_EXISTS, INVALID_INPUT.
 */
int catalog__op_CreateRegistry(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                               json_t **out, struct err_info *err)
{
    const char *name = catalog__str(in, "RegistryName");
    const char *desc = catalog__str(in, "Description");
    if (check_registry_name(name, "registryName", err) < 0) {
        return err->code;
    }
    int64_t now = clock_now_ms();
    char *arn = registry_arn(sc, name);
    store_lock(cat->st);
    store_begin(cat->st);
    int rc = store_run(cat->st,
                       "INSERT INTO glue_registry(region, account, name, description,"
                       " create_time, update_time) VALUES(?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                       "ssssii", sc->region, sc->account_id, name, desc, now, now);
    rc = catalog__changed(cat, rc, err, SL_E(ALREADY_EXISTS),
                          "Registry already exists. RegistryName: %s", name);
    if (rc == 0) {
        rc = catalog__tags_put_locked(cat, arn, json_object_get(in, "Tags"), err);
    }
    rc = catalog__write_end(cat, rc, err);
    if (rc == 0) {
        json_t *tags = json_object_get(in, "Tags");
        *out = json_pack("{s:s, s:s, s:o}", "RegistryArn", arn, "RegistryName", name, "Tags",
                         json_is_object(tags) ? json_deep_copy(tags) : json_object());
        if (desc != NULL) {
            json_object_set_new(*out, "Description", json_string(desc));
        }
    }
    free(arn);
    return rc;
}

static json_t *registry_item(const struct catalog_scope *sc, struct store_stmt *s)
{
    /* s: name, description, create_time, update_time */
    const char *name = store_col_text(s, 0);
    char *arn = registry_arn(sc, name);
    json_t *r = json_pack("{s:s, s:s, s:s, s:o, s:o}", "RegistryName", name, "RegistryArn", arn,
                          "Status", "AVAILABLE", "CreatedTime", iso_time(store_col_int64(s, 2)),
                          "UpdatedTime", iso_time(store_col_int64(s, 3)));
    if (store_col_text(s, 1) != NULL) {
        json_object_set_new(r, "Description", json_string(store_col_text(s, 1)));
    }
    free(arn);
    return r;
}

/* GetRegistry: RegistryId -> the registry. ENTITY_NOT_FOUND. */
int catalog__op_GetRegistry(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                            json_t **out, struct err_info *err)
{
    int64_t id = 0;
    char *name = NULL;
    store_read_begin(cat->st);
    int rc = registry_resolve(cat, sc, json_object_get(in, "RegistryId"), 0, &id, &name, err);
    if (rc == 0) {
        struct store_stmt *s = store_prepare_args(
            cat->st,
            "SELECT name, description, create_time, update_time FROM glue_registry WHERE id=?", "i",
            id);
        if (s != NULL && store_step(s) == 1) {
            *out = registry_item(sc, s);
        } else {
            rc = catalog__store_err(err, SL_E(IO));
        }
        store_finalize(s);
    }
    store_read_end(cat->st);
    free(name);
    return rc;
}

/* ListRegistries: MaxResults, NextToken -> Registries, NextToken. */
int catalog__op_ListRegistries(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                               json_t **out, struct err_info *err)
{
    struct catalog_page pg;
    if (catalog__page_start(&pg, in, 100, 25, err) < 0) {
        return err->code;
    }
    store_read_begin(cat->st);
    struct store_stmt *s = store_prepare_args(
        cat->st,
        "SELECT name, description, create_time, update_time, id FROM glue_registry WHERE"
        " region=? AND account=? AND id>? ORDER BY id",
        "ssi", sc->region, sc->account_id, pg.after);
    while (s != NULL && store_step(s) == 1 && catalog__page_room(&pg, store_col_int64(s, 4))) {
        catalog__page_add(&pg, registry_item(sc, s));
    }
    store_finalize(s);
    store_read_end(cat->st);
    return catalog__page_end(&pg, 0, "Registries", out);
}

/* UpdateRegistry: RegistryId, Description -> names. ENTITY_NOT_FOUND. */
int catalog__op_UpdateRegistry(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                               json_t **out, struct err_info *err)
{
    int64_t id = 0;
    char *name = NULL;
    const char *desc = catalog__str(in, "Description");
    if (desc == NULL) {
        return err_set(err, SL_E(INVALID_INPUT), "Description is required.");
    }
    store_lock(cat->st);
    int rc = registry_resolve(cat, sc, json_object_get(in, "RegistryId"), 0, &id, &name, err);
    if (rc == 0) {
        rc = store_run(cat->st, "UPDATE glue_registry SET description=?, update_time=? WHERE id=?",
                       "sii", desc, (int64_t)clock_now_ms(), id);
        rc = rc < 0 ? catalog__store_err(err, rc) : 0;
    }
    store_unlock(cat->st);
    if (rc == 0) {
        char *arn = registry_arn(sc, name);
        *out = json_pack("{s:s, s:s}", "RegistryName", name, "RegistryArn", arn);
        free(arn);
    }
    free(name);
    return rc;
}

/* DeleteRegistry: RegistryId -> Status DELETING; its schemas and versions go. ENTITY_NOT_FOUND. */
int catalog__op_DeleteRegistry(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                               json_t **out, struct err_info *err)
{
    int64_t id = 0;
    char *name = NULL;
    store_lock(cat->st);
    store_begin(cat->st);
    int rc = registry_resolve(cat, sc, json_object_get(in, "RegistryId"), 0, &id, &name, err);
    char *arn = NULL;
    if (rc == 0) {
        arn = registry_arn(sc, name);
        char *prefix = schema_arn(sc, name, "");
        store_run(cat->st, "DELETE FROM glue_tag WHERE substr(arn,1,length(?))=?", "ss", prefix,
                  prefix);
        free(prefix);
        catalog__tags_drop_locked(cat, arn);
        rc = store_run(cat->st, "DELETE FROM glue_registry WHERE id=?", "i", id);
    }
    rc = catalog__write_end(cat, rc, err);
    if (rc == 0) {
        *out = json_pack("{s:s, s:s, s:s}", "RegistryName", name, "RegistryArn", arn, "Status",
                         "DELETING");
    }
    free(arn);
    free(name);
    return rc;
}

/* ---- schemas ---- */

static int schema_load(struct catalog *cat, int64_t registry_id, const char *reg_name,
                       const char *name, struct schema_row *r, struct err_info *err)
{
    struct store_stmt *s = store_prepare_args(
        cat->st,
        "SELECT id, data_format, compatibility, description, checkpoint, next_version,"
        " create_time, update_time FROM glue_schema WHERE registry_id=? AND name=?",
        "is", registry_id, name);
    int rc = s != NULL ? store_step(s) : SL_E(IO);
    if (rc == 1) {
        r->id = store_col_int64(s, 0);
        r->registry_id = registry_id;
        r->registry = xstrdup(reg_name);
        r->name = xstrdup(name);
        r->format = xstrdup(store_col_text(s, 1));
        r->compat = xstrdup(store_col_text(s, 2));
        r->description = store_col_text(s, 3) ? xstrdup(store_col_text(s, 3)) : NULL;
        r->checkpoint = store_col_int64(s, 4);
        r->next_version = store_col_int64(s, 5);
        r->create_ms = store_col_int64(s, 6);
        r->update_ms = store_col_int64(s, 7);
        rc = 0;
    } else if (rc == 0) {
        rc = err_set(err, SL_E(ENTITY_NOT_FOUND),
                     "Schema is not found. RegistryName: %s,"
                     " SchemaName: %s",
                     reg_name, name);
    } else {
        rc = catalog__store_err(err, rc);
    }
    store_finalize(s);
    return rc;
}

/* The schema named by a SchemaId structure. Caller holds a read bracket or the lock. */
static int schema_resolve(struct catalog *cat, const struct catalog_scope *sc, const json_t *sid,
                          struct schema_row *r, struct err_info *err)
{
    memset(r, 0, sizeof(*r));
    if (!json_is_object(sid)) {
        return err_set(err, SL_E(INVALID_INPUT), "SchemaId is required.");
    }
    const char *arn = catalog__str(sid, "SchemaArn");
    char *reg = NULL;
    char *name = NULL;
    if (arn != NULL) {
        const char *rest = arn_rest(sc, arn, "schema");
        const char *slash = rest != NULL ? strchr(rest, '/') : NULL;
        if (slash == NULL) {
            return err_set(err, SL_E(INVALID_INPUT), "Invalid SchemaArn %s.", arn);
        }
        reg = xstrndup(rest, (size_t)(slash - rest));
        name = xstrdup(slash + 1);
    } else {
        const char *n = catalog__str(sid, "SchemaName");
        if (n == NULL) {
            return err_set(err, SL_E(INVALID_INPUT), "SchemaId must give SchemaArn or SchemaName.");
        }
        const char *rn = catalog__str(sid, "RegistryName");
        reg = xstrdup(rn != NULL ? rn : DEFAULT_REGISTRY);
        name = xstrdup(n);
    }
    int64_t reg_id = 0;
    int rc = registry_find(cat, sc, reg, 0, &reg_id, err);
    if (rc == 0) {
        rc = schema_load(cat, reg_id, reg, name, r, err);
    }
    free(reg);
    free(name);
    return rc;
}

static int64_t latest_version(struct catalog *cat, int64_t schema_id)
{
    struct store_stmt *s =
        store_prepare_args(cat->st,
                           "SELECT max(version) FROM glue_schema_version WHERE schema_id=? AND"
                           " status='AVAILABLE'",
                           "i", schema_id);
    int64_t v = s != NULL && store_step(s) == 1 ? store_col_int64(s, 0) : 0;
    store_finalize(s);
    return v;
}

static json_t *schema_out(struct catalog *cat, const struct catalog_scope *sc,
                          const struct schema_row *r)
{
    char *rarn = registry_arn(sc, r->registry);
    char *sarn = schema_arn(sc, r->registry, r->name);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:o, s:o}",
                          "RegistryName", r->registry, "RegistryArn", rarn, "SchemaName", r->name,
                          "SchemaArn", sarn, "DataFormat", r->format, "Compatibility", r->compat,
                          "SchemaCheckpoint", (json_int_t)r->checkpoint, "LatestSchemaVersion",
                          (json_int_t)latest_version(cat, r->id), "NextSchemaVersion",
                          (json_int_t)r->next_version, "SchemaStatus", "AVAILABLE", "CreatedTime",
                          iso_time(r->create_ms), "UpdatedTime", iso_time(r->update_ms));
    if (r->description != NULL) {
        json_object_set_new(o, "Description", json_string(r->description));
    }
    free(rarn);
    free(sarn);
    return o;
}

static int check_format(const char *f, struct err_info *err)
{
    if (f != NULL &&
        (strcmp(f, "AVRO") == 0 || strcmp(f, "JSON") == 0 || strcmp(f, "PROTOBUF") == 0)) {
        return 0;
    }
    return err_set(err, SL_E(INVALID_INPUT),
                   "1 validation error detected: Value '%s' at 'dataFormat' failed to satisfy "
                   "constraint: Member must satisfy enum value set: [AVRO, JSON, PROTOBUF]",
                   f != NULL ? f : "");
}

static int check_compat(const char *c, struct err_info *err)
{
    static const char *const modes[] = {"NONE",    "DISABLED",    "BACKWARD", "BACKWARD_ALL",
                                        "FORWARD", "FORWARD_ALL", "FULL",     "FULL_ALL"};
    for (size_t i = 0; c != NULL && i < sizeof(modes) / sizeof(modes[0]); i++) {
        if (strcmp(c, modes[i]) == 0) {
            return 0;
        }
    }
    return err_set(err, SL_E(INVALID_INPUT),
                   "1 validation error detected: Value '%s' at 'compatibility' failed to "
                   "satisfy constraint: Member must satisfy enum value set: [NONE, DISABLED, "
                   "BACKWARD, BACKWARD_ALL, FORWARD, FORWARD_ALL, FULL, FULL_ALL]",
                   c != NULL ? c : "");
}

static int validate_definition(const char *format, const char *def, struct err_info *err)
{
    if (def == NULL || def[0] == '\0') {
        return err_set(err, SL_E(INVALID_INPUT), "SchemaDefinition is required.");
    }
    if (strlen(def) > MAX_DEFINITION) {
        return err_set(err, SL_E(INVALID_INPUT),
                       "1 validation error detected: Value at 'schemaDefinition' failed to "
                       "satisfy constraint: Member must have length less than or equal to %d",
                       MAX_DEFINITION);
    }
    struct err_info why = {0};
    int rc;
    if (strcmp(format, "AVRO") == 0) {
        rc = catalog__avro_validate(def, &why);
    } else if (strcmp(format, "JSON") == 0) {
        rc = catalog__jsonschema_validate(def, &why);
    } else {
        rc = catalog__proto_validate(def, &why);
    }
    if (rc < 0) {
        return err_set(err, SL_E(INVALID_INPUT),
                       "Schema definition of %s data format is invalid:"
                       " %s",
                       format, why.message);
    }
    return 0;
}

/* A definition in canonical form, for identity: JSON formats re-serialised with sorted
 * keys, Protobuf with blank runs collapsed. Caller frees. */
static char *canonical(const char *format, const char *def)
{
    if (strcmp(format, "PROTOBUF") != 0) {
        json_t *j = json_loads(def, JSON_DECODE_ANY, NULL);
        if (j != NULL) {
            char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
            json_decref(j);
            if (s != NULL) {
                return s;
            }
        }
    }
    char *out = xmalloc(strlen(def) + 1);
    size_t n = 0;
    int blank = 0;
    for (const char *p = def; *p != '\0'; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
            blank = 1;
            continue;
        }
        if (blank && n > 0) {
            out[n++] = ' ';
        }
        blank = 0;
        out[n++] = *p;
    }
    out[n] = '\0';
    return out;
}

/* Whether data written with writer can be read with reader in format. */
static int compatible(const char *format, const char *reader, const char *writer,
                      struct err_info *err)
{
    if (strcmp(format, "AVRO") == 0) {
        return catalog__avro_compatible(reader, writer, err);
    }
    if (strcmp(format, "JSON") == 0) {
        return catalog__jsonschema_compatible(reader, writer, err);
    }
    return catalog__proto_compatible(reader, writer, err);
}

/* Checks def against the schema's versions as its compatibility mode says. */
static int check_evolution(struct catalog *cat, const struct schema_row *r, const char *def,
                           struct err_info *err)
{
    const char *mode = r->compat;
    if (strcmp(mode, "NONE") == 0 || latest_version(cat, r->id) == 0) {
        return 0; /* the first version is checked against nothing */
    }
    if (strcmp(mode, "DISABLED") == 0) {
        return err_set(err, SL_E(INVALID_INPUT),
                       "Compatibility DISABLED does not allow versioning. SchemaName: %s", r->name);
    }
    int all = strstr(mode, "_ALL") != NULL;
    int backward = strncmp(mode, "BACKWARD", 8) == 0 || strncmp(mode, "FULL", 4) == 0;
    int forward = strncmp(mode, "FORWARD", 7) == 0 || strncmp(mode, "FULL", 4) == 0;
    struct store_stmt *s = store_prepare_args(
        cat->st,
        "SELECT version, definition FROM glue_schema_version WHERE schema_id=? AND"
        " status='AVAILABLE' AND version>=? ORDER BY version DESC",
        "ii", r->id, r->checkpoint);
    int rc = 0;
    while (rc == 0 && s != NULL && store_step(s) == 1) {
        int64_t v = store_col_int64(s, 0);
        const char *old = store_col_text(s, 1);
        struct err_info why = {0};
        if (backward && compatible(r->format, def, old, &why) < 0) {
            rc = err_set(err, SL_E(INVALID_INPUT),
                         "Schema version is not compatible with version %lld under %s "
                         "compatibility: the new version cannot read data written with "
                         "version %lld: %s",
                         (long long)v, mode, (long long)v, why.message);
        } else if (forward && compatible(r->format, old, def, &why) < 0) {
            rc = err_set(err, SL_E(INVALID_INPUT),
                         "Schema version is not compatible with version %lld under %s "
                         "compatibility: readers of version %lld cannot read data written "
                         "with the new version: %s",
                         (long long)v, mode, (long long)v, why.message);
        }
        if (!all) {
            break;
        }
    }
    store_finalize(s);
    return rc;
}

static void new_uuid(char out[37])
{
    uint8_t b[16];
    crypto_random(b, sizeof(b));
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

/* The SHA-256 (hex) of a definition's canonical form, into out. */
static void fingerprint(const char *format, const char *def, char out[SHA256_LEN * 2 + 1])
{
    char *canon = canonical(format, def);
    uint8_t digest[SHA256_LEN];
    crypto_sha256(canon, strlen(canon), digest);
    hex_encode(digest, sizeof(digest), out);
    free(canon);
}

/* Finds a version with the same canonical definition. Caller holds the lock. */
static int find_identical(struct catalog *cat, const struct schema_row *r, const char *def,
                          int64_t *version, char uuid[37], char status[16], int64_t *create_ms)
{
    char fp[SHA256_LEN * 2 + 1];
    fingerprint(r->format, def, fp);
    struct store_stmt *s =
        store_prepare_args(cat->st,
                           "SELECT version, uuid, status, create_time FROM glue_schema_version"
                           " WHERE schema_id=? AND fingerprint=? ORDER BY version LIMIT 1",
                           "is", r->id, fp);
    int found = s != NULL && store_step(s) == 1;
    if (found) {
        *version = store_col_int64(s, 0);
        snprintf(uuid, 37, "%s", store_col_text(s, 1));
        snprintf(status, 16, "%s", store_col_text(s, 2));
        *create_ms = store_col_int64(s, 3);
    }
    store_finalize(s);
    return found;
}

/* Registers def as a new version (or finds the identical one). Caller holds the lock. */
static int register_version(struct catalog *cat, struct schema_row *r, const char *def,
                            int64_t *version, char uuid[37], char status[16], struct err_info *err)
{
    int rc = validate_definition(r->format, def, err);
    if (rc < 0) {
        return rc;
    }
    int64_t created;
    if (find_identical(cat, r, def, version, uuid, status, &created)) {
        return 0;
    }
    rc = check_evolution(cat, r, def, err);
    if (rc < 0) {
        return rc;
    }
    new_uuid(uuid);
    snprintf(status, 16, "AVAILABLE");
    *version = r->next_version;
    int64_t now = clock_now_ms();
    char fp[SHA256_LEN * 2 + 1];
    fingerprint(r->format, def, fp);
    rc = store_run(cat->st,
                   "INSERT INTO glue_schema_version(schema_id, version, uuid, definition,"
                   " fingerprint, status, create_time) VALUES(?,?,?,?,?,?,?)",
                   "iissssi", r->id, *version, uuid, def, fp, status, now);
    if (rc == 0) {
        r->next_version++;
        rc = store_run(cat->st, "UPDATE glue_schema SET next_version=?, update_time=? WHERE id=?",
                       "iii", r->next_version, now, r->id);
    }
    return rc < 0 ? catalog__store_err(err, rc) : 0;
}

/* CreateSchema: RegistryId? (default registry), SchemaName, DataFormat, Compatibility?
 * (BACKWARD), SchemaDefinition? (version 1), Tags? -> the schema. ALREADY_EXISTS,
 * INVALID_INPUT (format, mode, definition). */
int catalog__op_CreateSchema(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                             json_t **out, struct err_info *err)
{
    const char *name = catalog__str(in, "SchemaName");
    const char *format = catalog__str(in, "DataFormat");
    const char *compat = catalog__str(in, "Compatibility");
    const char *desc = catalog__str(in, "Description");
    const char *def = catalog__str(in, "SchemaDefinition");
    if (compat == NULL) {
        compat = "BACKWARD";
    }
    if (check_registry_name(name, "schemaName", err) < 0 || check_format(format, err) < 0 ||
        check_compat(compat, err) < 0) {
        return err->code;
    }
    if (def != NULL && validate_definition(format, def, err) < 0) {
        return err->code;
    }
    struct schema_row r = {0};
    int64_t reg_id = 0;
    char *reg = NULL;
    int64_t now = clock_now_ms();
    int64_t version = 0;
    char uuid[37] = "";
    char status[16] = "";
    store_lock(cat->st);
    store_begin(cat->st);
    int rc = registry_resolve(cat, sc, json_object_get(in, "RegistryId"), 1, &reg_id, &reg, err);
    if (rc == 0) {
        rc = store_run(cat->st,
                       "INSERT INTO glue_schema(registry_id, name, data_format, compatibility,"
                       " description, checkpoint, next_version, create_time, update_time)"
                       " VALUES(?,?,?,?,?,1,1,?,?) ON CONFLICT DO NOTHING",
                       "issssii", reg_id, name, format, compat, desc, now, now);
        rc = catalog__changed(cat, rc, err, SL_E(ALREADY_EXISTS),
                              "Schema already exists. RegistryName: %s, SchemaName: %s", reg, name);
    }
    if (rc == 0) {
        rc = schema_load(cat, reg_id, reg, name, &r, err);
    }
    if (rc == 0 && def != NULL) {
        rc = register_version(cat, &r, def, &version, uuid, status, err);
    }
    char *sarn = rc == 0 ? schema_arn(sc, reg, name) : NULL;
    if (rc == 0) {
        rc = catalog__tags_put_locked(cat, sarn, json_object_get(in, "Tags"), err);
    }
    if (rc == 0) {
        rc = store_commit(cat->st);
    }
    if (rc < 0) {
        store_rollback(cat->st);
        rc = err->code != 0 ? err->code : catalog__store_err(err, rc);
    }
    if (rc == 0) {
        *out = schema_out(cat, sc, &r);
        json_object_del(*out, "CreatedTime");
        json_object_del(*out, "UpdatedTime");
        json_t *tags = json_object_get(in, "Tags");
        json_object_set_new(*out, "Tags",
                            json_is_object(tags) ? json_deep_copy(tags) : json_object());
        if (def != NULL) {
            json_object_set_new(*out, "SchemaVersionId", json_string(uuid));
            json_object_set_new(*out, "SchemaVersionStatus", json_string(status));
        }
    }
    store_unlock(cat->st);
    free(sarn);
    free(reg);
    schema_row_fini(&r);
    return rc;
}

/* GetSchema: SchemaId -> the schema with its checkpoint and versions. ENTITY_NOT_FOUND. */
int catalog__op_GetSchema(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                          json_t **out, struct err_info *err)
{
    struct schema_row r;
    store_read_begin(cat->st);
    int rc = schema_resolve(cat, sc, json_object_get(in, "SchemaId"), &r, err);
    if (rc == 0) {
        *out = schema_out(cat, sc, &r);
    }
    store_read_end(cat->st);
    schema_row_fini(&r);
    return rc;
}

/* ListSchemas: RegistryId?, MaxResults, NextToken -> Schemas, NextToken. */
int catalog__op_ListSchemas(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                            json_t **out, struct err_info *err)
{
    struct catalog_page pg;
    if (catalog__page_start(&pg, in, 100, 25, err) < 0) {
        return err->code;
    }
    json_t *rid = json_object_get(in, "RegistryId");
    int64_t reg_id = 0;
    char *reg = NULL;
    int rc = 0;
    store_read_begin(cat->st);
    if (rid != NULL && !json_is_null(rid)) {
        rc = registry_resolve(cat, sc, rid, 0, &reg_id, &reg, err);
    }
    struct store_stmt *s = NULL;
    if (rc == 0) {
        s = store_prepare_args(cat->st,
                               "SELECT s.id, r.name, s.name, s.description, s.create_time,"
                               " s.update_time FROM glue_schema s JOIN glue_registry r ON"
                               " r.id=s.registry_id WHERE r.region=? AND r.account=? AND"
                               " (?=0 OR r.id=?) AND s.id>? ORDER BY s.id",
                               "ssiii", sc->region, sc->account_id, reg_id, reg_id, pg.after);
    }
    while (s != NULL && store_step(s) == 1 && catalog__page_room(&pg, store_col_int64(s, 0))) {
        char *arn = schema_arn(sc, store_col_text(s, 1), store_col_text(s, 2));
        json_t *item = json_pack(
            "{s:s, s:s, s:s, s:s, s:o, s:o}", "RegistryName", store_col_text(s, 1), "SchemaName",
            store_col_text(s, 2), "SchemaArn", arn, "SchemaStatus", "AVAILABLE", "CreatedTime",
            iso_time(store_col_int64(s, 4)), "UpdatedTime", iso_time(store_col_int64(s, 5)));
        if (store_col_text(s, 3) != NULL) {
            json_object_set_new(item, "Description", json_string(store_col_text(s, 3)));
        }
        catalog__page_add(&pg, item);
        free(arn);
    }
    store_finalize(s);
    store_read_end(cat->st);
    free(reg);
    return catalog__page_end(&pg, rc, "Schemas", out);
}

/* Resolves a SchemaVersionNumber structure to a version number (0 when none exists). */
static int version_number(struct catalog *cat, const struct schema_row *r, const json_t *svn,
                          int64_t *v, struct err_info *err)
{
    if (json_is_true(json_object_get(svn, "LatestVersion"))) {
        *v = latest_version(cat, r->id);
        return 0;
    }
    const json_t *n = json_object_get(svn, "VersionNumber");
    if (!json_is_integer(n) || json_integer_value(n) < 1) {
        return err_set(err, SL_E(INVALID_INPUT),
                       "SchemaVersionNumber must give LatestVersion or a VersionNumber >= 1.");
    }
    *v = json_integer_value(n);
    return 0;
}

/* UpdateSchema: SchemaId, Compatibility?, SchemaVersionNumber? (checkpoint), Description? ->
 * names. ENTITY_NOT_FOUND, INVALID_INPUT. */
int catalog__op_UpdateSchema(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                             json_t **out, struct err_info *err)
{
    const char *compat = catalog__str(in, "Compatibility");
    const char *desc = catalog__str(in, "Description");
    json_t *svn = json_object_get(in, "SchemaVersionNumber");
    if (compat != NULL && check_compat(compat, err) < 0) {
        return err->code;
    }
    if (compat == NULL && desc == NULL && svn == NULL) {
        return err_set(err, SL_E(INVALID_INPUT),
                       "Compatibility, SchemaVersionNumber or Description is required.");
    }
    struct schema_row r;
    store_lock(cat->st);
    int rc = schema_resolve(cat, sc, json_object_get(in, "SchemaId"), &r, err);
    int64_t checkpoint = r.checkpoint;
    if (rc == 0 && svn != NULL) {
        rc = version_number(cat, &r, svn, &checkpoint, err);
        if (rc == 0) {
            struct store_stmt *s = store_prepare_args(
                cat->st, "SELECT 1 FROM glue_schema_version WHERE schema_id=? AND version=?", "ii",
                r.id, checkpoint);
            int found = s != NULL && store_step(s) == 1;
            store_finalize(s);
            if (!found) {
                rc = err_set(err, SL_E(ENTITY_NOT_FOUND), "Schema version %lld is not found.",
                             (long long)checkpoint);
            }
        }
    }
    if (rc == 0) {
        rc = store_run(cat->st,
                       "UPDATE glue_schema SET compatibility=coalesce(?, compatibility),"
                       " description=coalesce(?, description), checkpoint=?, update_time=?"
                       " WHERE id=?",
                       "ssiii", compat, desc, checkpoint, (int64_t)clock_now_ms(), r.id);
        rc = rc < 0 ? catalog__store_err(err, rc) : 0;
    }
    if (rc == 0) {
        char *arn = schema_arn(sc, r.registry, r.name);
        *out = json_pack("{s:s, s:s, s:s}", "SchemaArn", arn, "SchemaName", r.name, "RegistryName",
                         r.registry);
        free(arn);
    }
    store_unlock(cat->st);
    schema_row_fini(&r);
    return rc;
}

/* DeleteSchema: SchemaId -> Status DELETING. ENTITY_NOT_FOUND. */
int catalog__op_DeleteSchema(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                             json_t **out, struct err_info *err)
{
    struct schema_row r;
    store_lock(cat->st);
    int rc = schema_resolve(cat, sc, json_object_get(in, "SchemaId"), &r, err);
    if (rc == 0) {
        char *arn = schema_arn(sc, r.registry, r.name);
        catalog__tags_drop_locked(cat, arn);
        rc = store_run(cat->st, "DELETE FROM glue_schema WHERE id=?", "i", r.id);
        if (rc < 0) {
            rc = catalog__store_err(err, rc);
        } else {
            *out = json_pack("{s:s, s:s, s:s}", "SchemaArn", arn, "SchemaName", r.name, "Status",
                             "DELETING");
        }
        free(arn);
    }
    store_unlock(cat->st);
    schema_row_fini(&r);
    return rc;
}

/* RegisterSchemaVersion: SchemaId, SchemaDefinition -> SchemaVersionId, VersionNumber, Status.
 * INVALID_INPUT: an invalid definition, or one the compatibility mode refuses (why). */
int catalog__op_RegisterSchemaVersion(struct catalog *cat, const struct catalog_scope *sc,
                                      json_t *in, json_t **out, struct err_info *err)
{
    struct schema_row r;
    int64_t version = 0;
    char uuid[37] = "";
    char status[16] = "";
    store_lock(cat->st);
    store_begin(cat->st);
    int rc = schema_resolve(cat, sc, json_object_get(in, "SchemaId"), &r, err);
    if (rc == 0) {
        rc = register_version(cat, &r, catalog__str(in, "SchemaDefinition"), &version, uuid, status,
                              err);
    }
    rc = catalog__write_end(cat, rc, err);
    schema_row_fini(&r);
    if (rc == 0) {
        *out = json_pack("{s:s, s:I, s:s}", "SchemaVersionId", uuid, "VersionNumber",
                         (json_int_t)version, "Status", status);
    }
    return rc;
}

/* A version row, found by SchemaVersionId or by SchemaId + SchemaVersionNumber. */
struct version_row {
    struct schema_row schema;
    int64_t version;
    char uuid[37];
    char status[16];
    char *definition;
    int64_t create_ms;
};

static int version_resolve(struct catalog *cat, const struct catalog_scope *sc, const json_t *in,
                           struct version_row *v, struct err_info *err)
{
    memset(v, 0, sizeof(*v));
    const char *id = catalog__str(in, "SchemaVersionId");
    struct store_stmt *s = NULL;
    int rc = 0;
    if (id != NULL) {
        s = store_prepare_args(cat->st,
                               "SELECT v.version, v.uuid, v.status, v.definition, v.create_time,"
                               " r.id, r.name, s.name FROM glue_schema_version v JOIN glue_schema s"
                               " ON s.id=v.schema_id JOIN glue_registry r ON r.id=s.registry_id"
                               " WHERE v.uuid=? AND r.region=? AND r.account=?",
                               "sss", id, sc->region, sc->account_id);
        if (s != NULL && store_step(s) == 1) {
            rc = schema_load(cat, store_col_int64(s, 5), store_col_text(s, 6), store_col_text(s, 7),
                             &v->schema, err);
        } else {
            rc = err_set(err, SL_E(ENTITY_NOT_FOUND), "Schema version is not found.");
        }
    } else {
        rc = schema_resolve(cat, sc, json_object_get(in, "SchemaId"), &v->schema, err);
        int64_t n = 0;
        if (rc == 0) {
            json_t *svn = json_object_get(in, "SchemaVersionNumber");
            rc = version_number(cat, &v->schema, svn, &n, err);
        }
        if (rc == 0) {
            s = store_prepare_args(cat->st,
                                   "SELECT version, uuid, status, definition, create_time FROM"
                                   " glue_schema_version WHERE schema_id=? AND version=?",
                                   "ii", v->schema.id, n);
            if (s == NULL || store_step(s) != 1) {
                rc = err_set(err, SL_E(ENTITY_NOT_FOUND), "Schema version is not found.");
            }
        }
    }
    if (rc == 0) {
        v->version = store_col_int64(s, 0);
        snprintf(v->uuid, sizeof(v->uuid), "%s", store_col_text(s, 1));
        snprintf(v->status, sizeof(v->status), "%s", store_col_text(s, 2));
        v->definition = xstrdup(store_col_text(s, 3));
        v->create_ms = store_col_int64(s, 4);
    }
    store_finalize(s);
    return rc;
}

static void version_row_fini(struct version_row *v)
{
    schema_row_fini(&v->schema);
    free(v->definition);
}

/* GetSchemaVersion: SchemaVersionId, or SchemaId + SchemaVersionNumber -> the version.
 * ENTITY_NOT_FOUND. */
int catalog__op_GetSchemaVersion(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                                 json_t **out, struct err_info *err)
{
    struct version_row v;
    store_read_begin(cat->st);
    int rc = version_resolve(cat, sc, in, &v, err);
    if (rc == 0) {
        char *arn = schema_arn(sc, v.schema.registry, v.schema.name);
        *out = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:o}", "SchemaVersionId", v.uuid,
                         "SchemaDefinition", v.definition, "DataFormat", v.schema.format,
                         "SchemaArn", arn, "VersionNumber", (json_int_t)v.version, "Status",
                         v.status, "CreatedTime", iso_time(v.create_ms));
        free(arn);
    }
    store_read_end(cat->st);
    version_row_fini(&v);
    return rc;
}

/* ListSchemaVersions: SchemaId, MaxResults, NextToken -> Schemas (versions), NextToken. */
int catalog__op_ListSchemaVersions(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                                   json_t **out, struct err_info *err)
{
    struct catalog_page pg;
    if (catalog__page_start(&pg, in, 100, 25, err) < 0) {
        return err->code;
    }
    struct schema_row r;
    store_read_begin(cat->st);
    int rc = schema_resolve(cat, sc, json_object_get(in, "SchemaId"), &r, err);
    if (rc == 0) {
        char *arn = schema_arn(sc, r.registry, r.name);
        struct store_stmt *s = store_prepare_args(
            cat->st,
            "SELECT version, uuid, status, create_time FROM glue_schema_version WHERE"
            " schema_id=? AND version>? ORDER BY version",
            "ii", r.id, pg.after);
        while (s != NULL && store_step(s) == 1 && catalog__page_room(&pg, store_col_int64(s, 0))) {
            catalog__page_add(&pg,
                              json_pack("{s:s, s:s, s:I, s:s, s:o}", "SchemaArn", arn,
                                        "SchemaVersionId", store_col_text(s, 1), "VersionNumber",
                                        (json_int_t)pg.last, "Status", store_col_text(s, 2),
                                        "CreatedTime", iso_time(store_col_int64(s, 3))));
        }
        store_finalize(s);
        free(arn);
    }
    store_read_end(cat->st);
    schema_row_fini(&r);
    return catalog__page_end(&pg, rc, "Schemas", out);
}

/* GetSchemaByDefinition: SchemaId, SchemaDefinition -> the identical version. ENTITY_NOT_FOUND. */
int catalog__op_GetSchemaByDefinition(struct catalog *cat, const struct catalog_scope *sc,
                                      json_t *in, json_t **out, struct err_info *err)
{
    const char *def = catalog__str(in, "SchemaDefinition");
    if (def == NULL) {
        return err_set(err, SL_E(INVALID_INPUT), "SchemaDefinition is required.");
    }
    struct schema_row r;
    store_read_begin(cat->st);
    int rc = schema_resolve(cat, sc, json_object_get(in, "SchemaId"), &r, err);
    if (rc == 0) {
        int64_t version, created;
        char uuid[37], status[16];
        if (find_identical(cat, &r, def, &version, uuid, status, &created)) {
            char *arn = schema_arn(sc, r.registry, r.name);
            *out = json_pack("{s:s, s:s, s:s, s:s, s:o}", "SchemaVersionId", uuid, "SchemaArn", arn,
                             "DataFormat", r.format, "Status", status, "CreatedTime",
                             iso_time(created));
            free(arn);
        } else {
            rc = err_set(err, SL_E(ENTITY_NOT_FOUND), "Schema is not found.");
        }
    }
    store_read_end(cat->st);
    schema_row_fini(&r);
    return rc;
}

/* Splits text into lines (pointers into a copy); returns the count. */
static size_t split_lines(char *text, char ***lines)
{
    size_t n = 0, cap = 16;
    *lines = xmalloc(cap * sizeof(**lines));
    char *save = NULL;
    for (char *l = strtok_r(text, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
        if (n == cap) {
            cap *= 2;
            *lines = xrealloc(*lines, cap * sizeof(**lines));
        }
        (*lines)[n++] = l;
    }
    return n;
}

/* A line diff ("-old", "+new", " same") of two definitions, pretty-printed first when they
 * are JSON. Longest common subsequence, limited to 2,000 lines a side. */
static char *syntax_diff(const char *format, const char *a, const char *b)
{
    char *ta = NULL, *tb = NULL;
    const char *src[2] = {a, b};
    char **dst[2] = {&ta, &tb};
    for (int i = 0; i < 2; i++) {
        json_t *j = strcmp(format, "PROTOBUF") != 0 ? json_loads(src[i], 0, NULL) : NULL;
        *dst[i] = j != NULL ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : xstrdup(src[i]);
        json_decref(j);
    }
    char **la, **lb;
    size_t na = split_lines(ta, &la), nb = split_lines(tb, &lb);
    if (na > 2000) {
        na = 2000;
    }
    if (nb > 2000) {
        nb = 2000;
    }
    uint16_t *lcs = xcalloc((na + 1) * (nb + 1), sizeof(*lcs));
#define LCS(i, j) lcs[(i) * (nb + 1) + (j)]
    for (size_t i = na; i-- > 0;) {
        for (size_t j = nb; j-- > 0;) {
            LCS(i, j) = strcmp(la[i], lb[j]) == 0
                            ? (uint16_t)(LCS(i + 1, j + 1) + 1)
                            : (LCS(i + 1, j) > LCS(i, j + 1) ? LCS(i + 1, j) : LCS(i, j + 1));
        }
    }
    struct buf out;
    buf_init(&out);
    size_t i = 0, j = 0;
    while (i < na || j < nb) {
        if (i < na && j < nb && strcmp(la[i], lb[j]) == 0) {
            buf_printf(&out, " %s\n", la[i]);
            i++;
            j++;
        } else if (j < nb && (i == na || LCS(i, j + 1) >= LCS(i + 1, j))) {
            buf_printf(&out, "+%s\n", lb[j++]);
        } else {
            buf_printf(&out, "-%s\n", la[i++]);
        }
    }
#undef LCS
    buf_putc(&out, '\0');
    free(lcs);
    free(la);
    free(lb);
    free(ta);
    free(tb);
    return (char *)buf_steal(&out, NULL);
}

/* GetSchemaVersionsDiff: SchemaId, First/SecondSchemaVersionNumber, SYNTAX_DIFF -> Diff (lines). */
int catalog__op_GetSchemaVersionsDiff(struct catalog *cat, const struct catalog_scope *sc,
                                      json_t *in, json_t **out, struct err_info *err)
{
    const char *type = catalog__str(in, "SchemaDiffType");
    if (type == NULL || strcmp(type, "SYNTAX_DIFF") != 0) {
        return err_set(err, SL_E(INVALID_INPUT), "SchemaDiffType must be SYNTAX_DIFF.");
    }
    struct version_row a, b;
    json_t *qa = json_pack("{s:O, s:O}", "SchemaId", json_object_get(in, "SchemaId"),
                           "SchemaVersionNumber", json_object_get(in, "FirstSchemaVersionNumber"));
    json_t *qb = json_pack("{s:O, s:O}", "SchemaId", json_object_get(in, "SchemaId"),
                           "SchemaVersionNumber", json_object_get(in, "SecondSchemaVersionNumber"));
    store_read_begin(cat->st);
    int rc = qa != NULL && qb != NULL ? version_resolve(cat, sc, qa, &a, err)
                                      : err_set(err, SL_E(INVALID_INPUT),
                                                "SchemaId and both version numbers are "
                                                "required.");
    if (qa == NULL || qb == NULL) {
        memset(&a, 0, sizeof(a));
    }
    memset(&b, 0, sizeof(b));
    if (rc == 0) {
        rc = version_resolve(cat, sc, qb, &b, err);
    }
    store_read_end(cat->st);
    if (rc == 0) {
        char *diff = syntax_diff(a.schema.format, a.definition, b.definition);
        *out = json_pack("{s:s}", "Diff", diff != NULL ? diff : "");
        free(diff);
    }
    version_row_fini(&a);
    version_row_fini(&b);
    json_decref(qa);
    json_decref(qb);
    return rc;
}

/* Reads a version number [1-9][0-9]* at *p, advancing *p past it; 0 when there is none
 * or it exceeds the largest version a schema may have (so no overflow). */
static int64_t version_number_scan(const char **p)
{
    const char *s = *p;
    if (*s < '1' || *s > '9') {
        return 0;
    }
    int64_t v = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (*s - '0');
        if (v > 1000000000000000LL) {
            return 0;
        }
        s++;
    }
    *p = s;
    return v;
}

/* Parses DeleteSchemaVersions' Versions as its pattern in the Glue model gives it,
 * [1-9][0-9]* or [1-9][0-9]*-[1-9][0-9]*, and nothing else (no sign, space or tail).
 * Sets *lo and *hi; returns 0, or -1 when the text is not of that form. */
static int versions_parse(const char *spec, int64_t *lo, int64_t *hi)
{
    if (spec == NULL) {
        return -1;
    }
    const char *p = spec;
    *lo = version_number_scan(&p);
    if (*lo == 0) {
        return -1;
    }
    *hi = *lo;
    if (*p == '-') {
        p++;
        *hi = version_number_scan(&p);
        if (*hi == 0) {
            return -1;
        }
    }
    return *p == '\0' ? 0 : -1;
}

/* DeleteSchemaVersions: SchemaId, Versions ("n" or "a-b") -> SchemaVersionErrors (the
 * checkpoint and missing versions). */
int catalog__op_DeleteSchemaVersions(struct catalog *cat, const struct catalog_scope *sc,
                                     json_t *in, json_t **out, struct err_info *err)
{
    int64_t lo = 0, hi = 0;
    if (versions_parse(catalog__str(in, "Versions"), &lo, &hi) < 0 || hi < lo || hi - lo > 25) {
        return err_set(err, SL_E(INVALID_INPUT),
                       "Versions must be a version number or a range of at most 25 versions"
                       " such as 1-5.");
    }
    struct schema_row r;
    json_t *errors = json_array();
    store_lock(cat->st);
    int rc = schema_resolve(cat, sc, json_object_get(in, "SchemaId"), &r, err);
    for (int64_t v = lo; rc == 0 && v <= hi; v++) {
        const char *why = NULL;
        if (v == r.checkpoint) {
            why = "Cannot delete the checkpoint version.";
        } else {
            store_run(cat->st, "DELETE FROM glue_schema_version WHERE schema_id=? AND version=?",
                      "ii", r.id, (int64_t)v);
            if (store_changes(cat->st) == 0) {
                why = "Schema version is not found.";
            }
        }
        if (why != NULL) {
            json_array_append_new(errors, json_pack("{s:I, s:{s:s, s:s}}", "VersionNumber",
                                                    (json_int_t)v, "ErrorDetails", "ErrorCode",
                                                    v == r.checkpoint ? "InvalidInputException"
                                                                      : "EntityNotFoundException",
                                                    "ErrorMessage", why));
        }
    }
    store_unlock(cat->st);
    schema_row_fini(&r);
    if (rc < 0) {
        json_decref(errors);
        return rc;
    }
    *out = json_pack("{s:o}", "SchemaVersionErrors", errors);
    return 0;
}

/* CheckSchemaVersionValidity: DataFormat, SchemaDefinition -> Valid, Error. */
int catalog__op_CheckSchemaVersionValidity(struct catalog *cat, const struct catalog_scope *sc,
                                           json_t *in, json_t **out, struct err_info *err)
{
    (void)cat;
    (void)sc;
    const char *format = catalog__str(in, "DataFormat");
    if (check_format(format, err) < 0) {
        return err->code;
    }
    struct err_info why = {0};
    if (validate_definition(format, catalog__str(in, "SchemaDefinition"), &why) < 0) {
        *out = json_pack("{s:b, s:s}", "Valid", 0, "Error", why.message);
    } else {
        *out = json_pack("{s:b}", "Valid", 1);
    }
    return 0;
}

/* ---- version metadata ---- */

static json_t *metadata_result(const struct catalog_scope *sc, struct catalog *cat,
                               const struct version_row *v, const char *key, const char *value)
{
    char *arn = schema_arn(sc, v->schema.registry, v->schema.name);
    json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:I, s:s, s:s, s:s}", "SchemaArn", arn,
                          "SchemaName", v->schema.name, "RegistryName", v->schema.registry,
                          "LatestVersion", latest_version(cat, v->schema.id) == v->version,
                          "VersionNumber", (json_int_t)v->version, "SchemaVersionId", v->uuid,
                          "MetadataKey", key, "MetadataValue", value);
    free(arn);
    return o;
}

static int metadata_pair(const json_t *in, const char **key, const char **value,
                         struct err_info *err)
{
    const json_t *kv = json_object_get(in, "MetadataKeyValue");
    *key = catalog__str(kv, "MetadataKey");
    *value = catalog__str(kv, "MetadataValue");
    if (*key == NULL || *value == NULL || strlen(*key) < 1 || strlen(*key) > 128 ||
        strlen(*value) < 1 || strlen(*value) > 256) {
        return err_set(err, SL_E(INVALID_INPUT),
                       "MetadataKeyValue needs a MetadataKey (1-128) and a MetadataValue "
                       "(1-256).");
    }
    return 0;
}

/* PutSchemaVersionMetadata: version, MetadataKeyValue -> the pair. ALREADY_EXISTS,
 * RESOURCE_NUMBER_LIMIT (10 keys). */
int catalog__op_PutSchemaVersionMetadata(struct catalog *cat, const struct catalog_scope *sc,
                                         json_t *in, json_t **out, struct err_info *err)
{
    const char *key, *value;
    if (metadata_pair(in, &key, &value, err) < 0) {
        return err->code;
    }
    struct version_row v;
    store_lock(cat->st);
    int rc = version_resolve(cat, sc, in, &v, err);
    if (rc == 0) {
        struct store_stmt *s =
            store_prepare_args(cat->st,
                               "SELECT count(DISTINCT key), sum(key=?) FROM glue_schema_meta WHERE"
                               " version_uuid=?",
                               "ss", key, v.uuid);
        int64_t n_keys = 0, has_key = 0;
        if (s != NULL && store_step(s) == 1) {
            n_keys = store_col_int64(s, 0);
            has_key = store_col_int64(s, 1);
        }
        store_finalize(s);
        if (has_key == 0 && n_keys >= MAX_METADATA_KEYS) {
            rc = err_set(err, SL_E(RESOURCE_NUMBER_LIMIT),
                         "A schema version can have at most %d metadata keys.", MAX_METADATA_KEYS);
        }
    }
    if (rc == 0) {
        rc = store_run(cat->st,
                       "INSERT INTO glue_schema_meta(version_uuid, key, value, create_time)"
                       " VALUES(?,?,?,?) ON CONFLICT DO NOTHING",
                       "sssi", v.uuid, key, value, (int64_t)clock_now_ms());
        rc = catalog__changed(cat, rc, err, SL_E(ALREADY_EXISTS), "Metadata %s=%s already exists.",
                              key, value);
    }
    if (rc == 0) {
        *out = metadata_result(sc, cat, &v, key, value);
    }
    store_unlock(cat->st);
    version_row_fini(&v);
    return rc;
}

/* QuerySchemaVersionMetadata: version, MetadataList? -> MetadataInfoMap (newest value first). */
int catalog__op_QuerySchemaVersionMetadata(struct catalog *cat, const struct catalog_scope *sc,
                                           json_t *in, json_t **out, struct err_info *err)
{
    json_t *filters = json_object_get(in, "MetadataList");
    struct version_row v;
    store_read_begin(cat->st);
    int rc = version_resolve(cat, sc, in, &v, err);
    json_t *map = json_object();
    if (rc == 0) {
        /* Newest first: the newest value of a key is MetadataValue, older ones follow. */
        struct store_stmt *s = store_prepare_args(
            cat->st,
            "SELECT key, value, create_time FROM glue_schema_meta WHERE version_uuid=?"
            " ORDER BY create_time DESC, rowid DESC",
            "s", v.uuid);
        while (s != NULL && store_step(s) == 1) {
            const char *k = store_col_text(s, 0);
            const char *val = store_col_text(s, 1);
            int keep = json_array_size(filters) == 0;
            size_t i;
            json_t *f;
            json_array_foreach(filters, i, f)
            {
                const char *fk = catalog__str(f, "MetadataKey");
                const char *fv = catalog__str(f, "MetadataValue");
                if ((fk == NULL || strcmp(fk, k) == 0) && (fv == NULL || strcmp(fv, val) == 0)) {
                    keep = 1;
                }
            }
            if (!keep) {
                continue;
            }
            json_t *entry = json_object_get(map, k);
            json_t *when = iso_time(store_col_int64(s, 2));
            if (entry == NULL) {
                json_object_set_new(map, k,
                                    json_pack("{s:s, s:o, s:[]}", "MetadataValue", val,
                                              "CreatedTime", when, "OtherMetadataValueList"));
            } else {
                json_array_append_new(
                    json_object_get(entry, "OtherMetadataValueList"),
                    json_pack("{s:s, s:o}", "MetadataValue", val, "CreatedTime", when));
            }
        }
        store_finalize(s);
        *out = json_pack("{s:o, s:s}", "MetadataInfoMap", map, "SchemaVersionId", v.uuid);
    } else {
        json_decref(map);
    }
    store_read_end(cat->st);
    version_row_fini(&v);
    return rc;
}

/* RemoveSchemaVersionMetadata: version, MetadataKeyValue -> the pair. ENTITY_NOT_FOUND. */
int catalog__op_RemoveSchemaVersionMetadata(struct catalog *cat, const struct catalog_scope *sc,
                                            json_t *in, json_t **out, struct err_info *err)
{
    const char *key, *value;
    if (metadata_pair(in, &key, &value, err) < 0) {
        return err->code;
    }
    struct version_row v;
    store_lock(cat->st);
    int rc = version_resolve(cat, sc, in, &v, err);
    if (rc == 0) {
        rc = store_run(cat->st,
                       "DELETE FROM glue_schema_meta WHERE version_uuid=? AND key=? AND"
                       " value=?",
                       "sss", v.uuid, key, value);
        rc = catalog__changed(cat, rc, err, SL_E(ENTITY_NOT_FOUND), "Metadata %s=%s is not found.",
                              key, value);
    }
    if (rc == 0) {
        *out = metadata_result(sc, cat, &v, key, value);
    }
    store_unlock(cat->st);
    version_row_fini(&v);
    return rc;
}
