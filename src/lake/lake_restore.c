/*
 * Storage classes and restores of archived objects (lake_restore.h).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/store.h"
#include "lake/lake_int.h"
#include "lake/lake_lifecycle.h"
#include "lake/lake_restore.h"

#define MINUTE_MS ((int64_t)60 * 1000)
#define HOUR_MS (60 * MINUTE_MS)

int lake_class_writable(const char *cls)
{
    static const char *const names[] = {"STANDARD",     "REDUCED_REDUNDANCY",  "STANDARD_IA",
                                        "ONEZONE_IA",   "INTELLIGENT_TIERING", "GLACIER",
                                        "DEEP_ARCHIVE", "GLACIER_IR"};
    for (size_t i = 0; cls != NULL && i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(cls, names[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

int lake_class_archived(const char *cls)
{
    return cls != NULL && (strcmp(cls, "GLACIER") == 0 || strcmp(cls, "DEEP_ARCHIVE") == 0);
}

const char *lake_class_of(const char *meta_json, char buf[32])
{
    if (meta_json == NULL || strstr(meta_json, "x-amz-storage-class") == NULL) {
        return "STANDARD";
    }
    json_t *meta = json_loads(meta_json, 0, NULL);
    const char *c = json_string_value(json_object_get(meta, "x-amz-storage-class"));
    snprintf(buf, 32, "%s", c ? c : "STANDARD");
    json_decref(meta);
    return buf;
}

static void state_of(json_t *meta, int64_t now_ms, struct lake_restore_state *out)
{
    memset(out, 0, sizeof(*out));
    json_t *r = json_object_get(meta, LAKE_RESTORE_KEY);
    if (!json_is_object(r)) {
        return;
    }
    out->ready_ms = json_integer_value(json_object_get(r, "ready"));
    out->expiry_ms = json_integer_value(json_object_get(r, "expiry"));
    if (now_ms < out->ready_ms) {
        out->phase = LAKE_RESTORE_ONGOING;
    } else if (now_ms < out->expiry_ms) {
        out->phase = LAKE_RESTORE_DONE;
    } /* else the copy lapsed: as if never restored */
}

void lake_restore_state(const char *meta_json, int64_t now_ms, struct lake_restore_state *out)
{
    memset(out, 0, sizeof(*out));
    if (meta_json == NULL || strstr(meta_json, LAKE_RESTORE_KEY) == NULL) {
        return;
    }
    json_t *meta = json_loads(meta_json, 0, NULL);
    state_of(meta, now_ms, out);
    json_decref(meta);
}

int lake_restore_readable(const char *meta_json, int64_t now_ms)
{
    char buf[32];
    if (!lake_class_archived(lake_class_of(meta_json, buf))) {
        return 1;
    }
    struct lake_restore_state st;
    lake_restore_state(meta_json, now_ms, &st);
    return st.phase == LAKE_RESTORE_DONE;
}

int64_t lake_restore_delay_ms(const char *cls, const char *tier)
{
    int deep = cls != NULL && strcmp(cls, "DEEP_ARCHIVE") == 0;
    if (tier == NULL || strcmp(tier, "Standard") == 0) {
        return deep ? 12 * HOUR_MS : 5 * HOUR_MS;
    }
    if (strcmp(tier, "Bulk") == 0) {
        return deep ? 48 * HOUR_MS : 12 * HOUR_MS;
    }
    if (strcmp(tier, "Expedited") == 0 && !deep) {
        return 5 * MINUTE_MS;
    }
    return -1;
}

int lake_restore_apply(const char *meta_json, const char *tier, int64_t days, int64_t now_ms,
                       char **meta_out)
{
    *meta_out = NULL;
    char buf[32];
    const char *cls = lake_class_of(meta_json, buf);
    if (!lake_class_archived(cls)) {
        return SL_E(INVALID_OBJECT_STATE);
    }
    int64_t delay = lake_restore_delay_ms(cls, tier);
    if (delay < 0) {
        return SL_E(INVALID_ARGUMENT_S3);
    }
    json_t *meta = json_loads(meta_json, 0, NULL);
    struct lake_restore_state st;
    state_of(meta, now_ms, &st);
    if (st.phase == LAKE_RESTORE_ONGOING) {
        json_decref(meta);
        return SL_E(RESTORE_IN_PROGRESS);
    }
    int rc;
    int64_t ready;
    if (st.phase == LAKE_RESTORE_DONE) {
        ready = st.ready_ms; /* S3 keeps the copy, counting the days from this request */
        rc = LAKE_RESTORE_EXTENDED;
        delay = 0;
    } else {
        ready = now_ms + delay;
        rc = LAKE_RESTORE_STARTED;
    }
    /* The copy lasts `days` from when it is ready, to the next midnight UTC as S3 rounds. */
    int64_t expiry = lake_lifecycle_due(now_ms + delay, days);
    json_object_set_new(meta, LAKE_RESTORE_KEY,
                        json_pack("{s:I,s:I,s:I,s:s}", "ready", (json_int_t)ready, "expiry",
                                  (json_int_t)expiry, "days", (json_int_t)days, "tier",
                                  tier ? tier : "Standard"));
    *meta_out = json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(meta);
    return *meta_out != NULL ? rc : SL_E(NOMEM);
}

int lake__version_meta_put(struct lake *lake, const char *bucket, const struct lake_object_info *v,
                           const char *meta_json)
{
    struct store *st = lake__local_store(lake__backend(lake));
    const char *vid = v->version_id[0] ? v->version_id : NULL;
    static const char *const tables[] = {"lake_objects", "lake_versions"};
    int rc = 0;
    int64_t changed = 0;
    store_lock(st);
    for (size_t i = 0; i < 2 && rc == 0; i++) {
        char sql[200];
        snprintf(sql, sizeof(sql),
                 "UPDATE %s SET meta=?1 WHERE bucket=?2 AND key=?3 AND version_id IS ?4"
                 " AND etag=?5 AND last_modified_ms=?6 AND meta IS ?7",
                 tables[i]);
        struct store_stmt *s = store_prepare_args(st, sql, "ssss", meta_json, bucket, v->key, vid);
        if (s == NULL) {
            rc = SL_E(IO);
            break;
        }
        store_bind_text(s, 5, v->etag);
        store_bind_int64(s, 6, v->last_modified_ms);
        store_bind_text(s, 7, v->meta_json);
        rc = store_step(s);
        store_finalize(s);
        if (rc >= 0) {
            rc = 0;
            changed += store_changes(st);
        }
    }
    store_unlock(st);
    return rc < 0 ? rc : changed > 0;
}

int lake_object_restore(struct lake *lake, const char *bucket, const char *key,
                        const char *version_id, const char *tier, int64_t days,
                        struct lake_object_info *info, struct err_info *err)
{
    struct lake_object_info local;
    if (info == NULL) {
        info = &local;
    }
    memset(info, 0, sizeof(*info));
    int rc = 0;
    /* Read, decide, compare-and-set: a request racing another sees its restore (409). */
    for (int attempt = 0; attempt < 8; attempt++) {
        lake_object_info_fini(info);
        rc = lake_version_open(lake, bucket, key, version_id, info, NULL, err);
        if (rc < 0) {
            break;
        }
        char *meta = NULL;
        rc = lake_restore_apply(info->meta_json, tier, days, lake_lifecycle_now_ms(), &meta);
        if (rc < 0) {
            break;
        }
        int put = lake__version_meta_put(lake, bucket, info, meta);
        if (put == 1) {
            free(info->meta_json);
            info->meta_json = meta;
            break;
        }
        free(meta);
        if (put < 0) {
            rc = put;
            break;
        }
        rc = SL_E(IO); /* changed under us every time: give up */
    }
    if (rc == SL_E(INVALID_OBJECT_STATE)) {
        rc = err_set(err, rc, "Restore is not allowed for the object's current storage class");
    } else if (rc == SL_E(RESTORE_IN_PROGRESS)) {
        rc = err_set(err, rc, "Object restore is already in progress");
    } else if (rc == SL_E(INVALID_ARGUMENT_S3)) {
        rc = err_set(err, rc, "Expedited retrieval is not supported for this storage class");
    } else if (rc < 0 && (err == NULL || err->code == 0)) {
        rc = err_set(err, SL_E(IO), "We encountered an internal error. Please try again.");
    }
    if (info == &local) {
        lake_object_info_fini(&local);
    }
    return rc;
}
