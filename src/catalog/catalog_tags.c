/*
 * Tags on catalog resources (TagResource, UntagResource, GetTags), keyed by ARN:
 *   arn:aws:glue:<region>:<account>:database/<db>
 *   arn:aws:glue:<region>:<account>:table/<db>/<table>
 *   arn:aws:glue:<region>:<account>:registry/<registry>
 *   arn:aws:glue:<region>:<account>:schema/<registry>/<schema>
 * A resource must exist to be tagged; its tags go when it is deleted. Limits as Glue:
 * 50 tags per resource, keys 1..128 characters, values 0..256.
 */
#include "catalog/catalog_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

#define MAX_TAGS 50

int catalog__tags_put_locked(struct catalog *cat, const char *arn, const json_t *tags,
                             struct err_info *err)
{
    if (tags == NULL || json_is_null(tags)) {
        return 0;
    }
    if (!json_is_object(tags)) {
        return err_set(err, SL_E(INVALID_INPUT), "Tags must be a map of keys to values.");
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)tags, k, v)
    {
        size_t klen = strlen(k);
        if (klen < 1 || klen > 128 || !json_is_string(v) || json_string_length(v) > 256) {
            return err_set(err, SL_E(INVALID_INPUT),
                           "Tag keys must have 1 to 128 characters and values at most 256.");
        }
        int rc = store_run(cat->st,
                           "INSERT INTO glue_tag(arn, key, value) VALUES(?,?,?)"
                           " ON CONFLICT(arn, key) DO UPDATE SET value=excluded.value",
                           "sss", arn, k, json_string_value(v));
        if (rc < 0) {
            return catalog__store_err(err, rc);
        }
    }
    struct store_stmt *s =
        store_prepare_args(cat->st, "SELECT count(*) FROM glue_tag WHERE arn=?", "s", arn);
    int64_t n = s != NULL && store_step(s) == 1 ? store_col_int64(s, 0) : 0;
    store_finalize(s);
    if (n > MAX_TAGS) {
        return err_set(err, SL_E(INVALID_INPUT), "A resource can have at most %d tags.", MAX_TAGS);
    }
    return 0;
}

void catalog__tags_drop_locked(struct catalog *cat, const char *arn)
{
    store_run(cat->st, "DELETE FROM glue_tag WHERE arn=?", "s", arn);
}

/* Checks that arn names an existing resource in scope. Caller holds a read bracket or the lock. */
static int arn_check(struct catalog *cat, const struct catalog_scope *sc, const char *arn,
                     struct err_info *err)
{
    if (arn == NULL) {
        return err_set(err, SL_E(INVALID_INPUT), "ResourceArn is required.");
    }
    char *prefix = xasprintf("arn:aws:glue:%s:%s:", sc->region, sc->account_id);
    size_t plen = strlen(prefix);
    int same = strncmp(arn, prefix, plen) == 0;
    free(prefix);
    if (!same) {
        return err_set(err, SL_E(ENTITY_NOT_FOUND), "Resource %s not found.", arn);
    }
    const char *res = arn + plen;
    const char *slash = strchr(res, '/');
    if (slash == NULL) {
        return err_set(err, SL_E(INVALID_INPUT), "Invalid ARN %s.", arn);
    }
    size_t tlen = (size_t)(slash - res);
    const char *rest = slash + 1;
    const char *slash2 = strchr(rest, '/');
    struct store_stmt *s = NULL;
    if (tlen == 8 && strncmp(res, "database", 8) == 0 && slash2 == NULL) {
        s = store_prepare_args(
            cat->st, "SELECT 1 FROM glue_database WHERE region=? AND account=? AND name=?", "sss",
            sc->region, sc->account_id, rest);
    } else if (tlen == 5 && strncmp(res, "table", 5) == 0 && slash2 != NULL) {
        char *db = xstrndup(rest, (size_t)(slash2 - rest));
        s = store_prepare_args(cat->st,
                               "SELECT 1 FROM glue_table t JOIN glue_database d ON d.id=t.db_id"
                               " WHERE d.region=? AND d.account=? AND d.name=? AND t.name=?",
                               "ssss", sc->region, sc->account_id, db, slash2 + 1);
        free(db);
    } else if (tlen == 8 && strncmp(res, "registry", 8) == 0 && slash2 == NULL) {
        s = store_prepare_args(
            cat->st, "SELECT 1 FROM glue_registry WHERE region=? AND account=? AND name=?", "sss",
            sc->region, sc->account_id, rest);
    } else if (tlen == 6 && strncmp(res, "schema", 6) == 0 && slash2 != NULL) {
        char *reg = xstrndup(rest, (size_t)(slash2 - rest));
        s = store_prepare_args(
            cat->st,
            "SELECT 1 FROM glue_schema s JOIN glue_registry r ON r.id=s.registry_id"
            " WHERE r.region=? AND r.account=? AND r.name=? AND s.name=?",
            "ssss", sc->region, sc->account_id, reg, slash2 + 1);
        free(reg);
    } else {
        return err_set(err, SL_E(ENTITY_NOT_FOUND), "Resource %s not found.", arn);
    }
    int found = s != NULL && store_step(s) == 1;
    store_finalize(s);
    if (!found) {
        return err_set(err, SL_E(ENTITY_NOT_FOUND), "Resource %s not found.", arn);
    }
    return 0;
}

/* TagResource: ResourceArn, TagsToAdd -> {}. ENTITY_NOT_FOUND, INVALID_INPUT (limits). */
int catalog__op_TagResource(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                            json_t **out, struct err_info *err)
{
    const char *arn = catalog__str(in, "ResourceArn");
    store_lock(cat->st);
    store_begin(cat->st);
    int rc = arn_check(cat, sc, arn, err);
    if (rc == 0) {
        rc = catalog__tags_put_locked(cat, arn, json_object_get(in, "TagsToAdd"), err);
    }
    rc = catalog__write_end(cat, rc, err);
    if (rc == 0) {
        *out = json_object();
    }
    return rc;
}

/* UntagResource: ResourceArn, TagsToRemove -> {}. ENTITY_NOT_FOUND. */
int catalog__op_UntagResource(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                              json_t **out, struct err_info *err)
{
    const char *arn = catalog__str(in, "ResourceArn");
    json_t *keys = json_object_get(in, "TagsToRemove");
    store_lock(cat->st);
    int rc = arn_check(cat, sc, arn, err);
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        if (rc == 0 && json_is_string(k)) {
            store_run(cat->st, "DELETE FROM glue_tag WHERE arn=? AND key=?", "ss", arn,
                      json_string_value(k));
        }
    }
    store_unlock(cat->st);
    if (rc == 0) {
        *out = json_object();
    }
    return rc;
}

/* GetTags: ResourceArn -> Tags. ENTITY_NOT_FOUND. */
int catalog__op_GetTags(struct catalog *cat, const struct catalog_scope *sc, json_t *in,
                        json_t **out, struct err_info *err)
{
    const char *arn = catalog__str(in, "ResourceArn");
    json_t *tags = json_object();
    store_read_begin(cat->st);
    int rc = arn_check(cat, sc, arn, err);
    if (rc == 0) {
        struct store_stmt *s =
            store_prepare_args(cat->st, "SELECT key, value FROM glue_tag WHERE arn=?", "s", arn);
        while (s != NULL && store_step(s) == 1) {
            json_object_set_new(tags, store_col_text(s, 0), json_string(store_col_text(s, 1)));
        }
        store_finalize(s);
    }
    store_read_end(cat->st);
    if (rc < 0) {
        json_decref(tags);
        return rc;
    }
    *out = json_pack("{s:o}", "Tags", tags);
    return 0;
}
