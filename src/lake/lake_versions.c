/*
 * Versioning and object lock in the local backend.
 *
 * lake_objects keeps, as before, one row per key: the current version when it is an
 * object. Every other version lives in lake_versions: older objects (their blobs kept
 * until the version is deleted) and delete markers (no blob). Each row of either table
 * carries its order among the key's versions (vseq, newest highest) and its version id
 * (NULL for the null version), so the key's current version is the row of highest vseq
 * over both tables; when that is a marker, lake_objects has no row and readers that
 * know nothing of versions (GET, listing, Athena) see no object, as S3 answers.
 *
 * A bucket whose versioning was never set (versioning IS NULL) writes and deletes
 * exactly as without this file: nothing moves to lake_versions.
 *
 * Every function here that writes runs inside the local backend's transaction (the put
 * hooks) or opens its own under the store's lock; blobs a change frees are unlinked
 * after the commit, as lake_local.c does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/mem.h"
#include "core/store.h"
#include "lake/lake_int.h"

const char LAKE__VERSIONS_MIGRATION[] =
    "ALTER TABLE lake_buckets ADD COLUMN versioning TEXT;"
    "ALTER TABLE lake_buckets ADD COLUMN mfa_delete TEXT;"
    "ALTER TABLE lake_buckets ADD COLUMN object_lock TEXT;"
    "ALTER TABLE lake_objects ADD COLUMN version_id TEXT;"
    "ALTER TABLE lake_objects ADD COLUMN vseq INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE lake_objects ADD COLUMN lock_mode TEXT;"
    "ALTER TABLE lake_objects ADD COLUMN lock_until_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE lake_objects ADD COLUMN legal_hold INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE lake_versions("
    " bucket TEXT NOT NULL, key TEXT NOT NULL, vseq INTEGER NOT NULL, version_id TEXT,"
    " marker INTEGER NOT NULL DEFAULT 0, blob TEXT, size INTEGER NOT NULL DEFAULT 0,"
    " etag TEXT NOT NULL DEFAULT '', last_modified_ms INTEGER NOT NULL, content_type TEXT,"
    " meta TEXT, checksum_algo INTEGER NOT NULL DEFAULT 0, checksum TEXT NOT NULL DEFAULT '',"
    " parts_count INTEGER NOT NULL DEFAULT 0, tags TEXT, n_tags INTEGER NOT NULL DEFAULT 0,"
    " part_sizes TEXT, lock_mode TEXT, lock_until_ms INTEGER NOT NULL DEFAULT 0,"
    " legal_hold INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(bucket, key, vseq DESC)) WITHOUT ROWID;"
    "CREATE INDEX lake_versions_blob ON lake_versions(blob);"
    "ALTER TABLE lake_uploads ADD COLUMN lock_mode TEXT;"
    "ALTER TABLE lake_uploads ADD COLUMN lock_until_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE lake_uploads ADD COLUMN legal_hold INTEGER NOT NULL DEFAULT 0;";

/* The columns a version carries from one table to the other (a later migration adding
   columns to lake_objects adds them to lake_versions and here). */
#define MOVED_COLS                                                                                 \
    "bucket,key,vseq,version_id,blob,size,etag,last_modified_ms,content_type,meta,"                \
    "checksum_algo,checksum,parts_count,tags,n_tags,part_sizes,lock_mode,lock_until_ms,"           \
    "legal_hold,sse,part_checksums"

/* What version lookups and listings read; marker is 0 for lake_objects. */
#define READ_COLS                                                                                  \
    "key,size,etag,last_modified_ms,content_type,meta,checksum_algo,checksum,parts_count,"         \
    "n_tags,blob,version_id,lock_mode,lock_until_ms,legal_hold,part_sizes,vseq,sse,part_checksums"
#define ALL_VERSIONS                                                                               \
    "(SELECT bucket," READ_COLS                                                                    \
    ",0 AS marker FROM lake_objects UNION ALL SELECT bucket," READ_COLS                            \
    ",marker FROM lake_versions)"
enum {
    COL_BLOB = 10,
    COL_VID = 11,
    COL_PART_SIZES = 15,
    COL_VSEQ = 16,
    COL_SSE = 17,
    COL_PART_CHECKSUMS = 18,
    COL_MARKER = 19
};

#define MS_PER_DAY ((int64_t)86400 * 1000)

static const char MSG_INTERNAL[] = "We encountered an internal error. Please try again.";
static const char MSG_NO_BUCKET[] = "The specified bucket does not exist";
static const char MSG_DENIED[] = "Access Denied";
static const char MSG_NO_LOCK[] = "Bucket is missing Object Lock Configuration";

static int internal(struct err_info *err, int rc)
{
    if (err != NULL && err->code != 0) {
        return err->code;
    }
    return err_set(err, rc < 0 && err_is_sluice(rc) ? rc : SL_E(IO), "%s", MSG_INTERNAL);
}

void lake__version_cols_to_info(struct store_stmt *s, int col, struct lake_object_info *info)
{
    const char *vid = store_col_text(s, col);
    snprintf(info->version_id, sizeof(info->version_id), "%s", vid ? vid : "");
    const char *mode = store_col_text(s, col + 1);
    snprintf(info->lock_mode, sizeof(info->lock_mode), "%s", mode ? mode : "");
    info->lock_until_ms = store_col_int64(s, col + 2);
    info->legal_hold = (int)store_col_int64(s, col + 3);
}

static void row_to_info(struct store_stmt *s, struct lake_object_info *info)
{
    memset(info, 0, sizeof(*info));
    const char *k = store_col_text(s, 0);
    info->key = xstrdup(k ? k : "");
    info->size_bytes = store_col_int64(s, 1);
    const char *etag = store_col_text(s, 2);
    snprintf(info->etag, sizeof(info->etag), "%s", etag ? etag : "");
    info->last_modified_ms = store_col_int64(s, 3);
    const char *ct = store_col_text(s, 4);
    info->content_type = ct ? xstrdup(ct) : NULL;
    const char *meta = store_col_text(s, 5);
    info->meta_json = meta ? xstrdup(meta) : NULL;
    info->checksum_algo = (enum lake_checksum_algo)store_col_int64(s, 6);
    const char *cs = store_col_text(s, 7);
    snprintf(info->checksum, sizeof(info->checksum), "%s", cs ? cs : "");
    info->parts_count = (int)store_col_int64(s, 8);
    info->n_tags = (int)store_col_int64(s, 9);
    lake__version_cols_to_info(s, COL_VID, info);
    const char *sse = store_col_text(s, COL_SSE);
    info->sse = sse ? xstrdup(sse) : NULL; /* how the version's bytes are sealed */
    info->delete_marker = (int)store_col_int64(s, COL_MARKER);
    info->versioned = 1;
}

/* ---- version ids ---- */

#define VERSION_ID_LEN 32
static const char VID_CHARS[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._";

static void new_version_id(char out[LAKE_VERSION_ID_MAX])
{
    uint8_t raw[VERSION_ID_LEN];
    crypto_random(raw, sizeof(raw));
    for (int i = 0; i < VERSION_ID_LEN; i++) {
        out[i] = VID_CHARS[raw[i] & 63];
    }
    out[VERSION_ID_LEN] = '\0';
}

int lake_version_id_valid(const char *s)
{
    if (s == NULL) {
        return 0;
    }
    if (strcmp(s, "null") == 0) {
        return 1;
    }
    if (strlen(s) != VERSION_ID_LEN) {
        return 0;
    }
    return strspn(s, VID_CHARS) == VERSION_ID_LEN;
}

/* The SQL value of a version id: NULL for the null version. */
static const char *vid_sql(const char *vid)
{
    return vid == NULL || vid[0] == '\0' || strcmp(vid, "null") == 0 ? NULL : vid;
}

/* ---- bucket state ---- */

struct bucket_state {
    enum lake_versioning versioning;
    int mfa_delete;
    struct lake_lock_config lock;
};

/* Reads a bucket's versioning and lock state (store locked or in a read). */
static int bucket_state(struct store *st, const char *bucket, struct bucket_state *bs,
                        struct err_info *err)
{
    memset(bs, 0, sizeof(*bs));
    struct store_stmt *s = store_prepare_args(
        st, "SELECT versioning,mfa_delete,object_lock FROM lake_buckets WHERE name=?", "s", bucket);
    if (s == NULL) {
        return internal(err, SL_E(IO));
    }
    int rc = store_step(s);
    if (rc == 1) {
        const char *v = store_col_text(s, 0);
        bs->versioning = v == NULL                   ? LAKE_VERSIONING_OFF
                         : strcmp(v, "Enabled") == 0 ? LAKE_VERSIONING_ENABLED
                                                     : LAKE_VERSIONING_SUSPENDED;
        const char *m = store_col_text(s, 1);
        bs->mfa_delete = m == NULL ? -1 : strcmp(m, "Enabled") == 0;
        const char *l = store_col_text(s, 2);
        if (l != NULL) {
            /* "<mode or -> <days> <years>" */
            char mode[16] = "";
            bs->lock.enabled = 1;
            if (sscanf(l, "%15s %d %d", mode, &bs->lock.days, &bs->lock.years) == 3 &&
                strcmp(mode, "-") != 0) {
                snprintf(bs->lock.mode, sizeof(bs->lock.mode), "%s", mode);
            }
        }
        rc = 0;
    } else if (rc == 0) {
        rc = err_set(err, SL_E(NO_SUCH_BUCKET), "%s", MSG_NO_BUCKET);
    } else {
        rc = internal(err, rc);
    }
    store_finalize(s);
    return rc;
}

static int state_get(struct lake *lake, const char *bucket, struct bucket_state *bs,
                     struct err_info *err)
{
    struct store *st = lake__local_store(lake__backend(lake));
    store_read_begin(st);
    int rc = bucket_state(st, bucket, bs, err);
    store_read_end(st);
    return rc;
}

int lake_versioning_get(struct lake *lake, const char *bucket, enum lake_versioning *state,
                        int *mfa_delete, struct err_info *err)
{
    struct bucket_state bs;
    int rc = state_get(lake, bucket, &bs, err);
    *state = bs.versioning;
    *mfa_delete = bs.mfa_delete;
    return rc;
}

int lake_versioning_put(struct lake *lake, const char *bucket, enum lake_versioning state,
                        int mfa_delete, struct err_info *err)
{
    struct store *st = lake__local_store(lake__backend(lake));
    store_lock(st);
    struct bucket_state bs;
    int rc = bucket_state(st, bucket, &bs, err);
    if (rc == 0 && bs.lock.enabled && state == LAKE_VERSIONING_SUSPENDED) {
        rc = err_set(err, SL_E(INVALID_BUCKET_STATE),
                     "An Object Lock configuration is present on this bucket, so the "
                     "versioning state cannot be changed.");
    }
    if (rc == 0) {
        const char *v = state == LAKE_VERSIONING_ENABLED     ? "Enabled"
                        : state == LAKE_VERSIONING_SUSPENDED ? "Suspended"
                                                             : NULL;
        rc = store_run(st,
                       "UPDATE lake_buckets SET versioning=COALESCE(?,versioning),"
                       " mfa_delete=CASE WHEN ? THEN 'Disabled' ELSE mfa_delete END WHERE name=?",
                       "sis", v, (int64_t)(mfa_delete == 0), bucket);
        if (rc < 0) {
            rc = internal(err, rc);
        }
    }
    store_unlock(st);
    return rc;
}

int lake_lock_config_get(struct lake *lake, const char *bucket, struct lake_lock_config *cfg,
                         struct err_info *err)
{
    struct bucket_state bs;
    int rc = state_get(lake, bucket, &bs, err);
    *cfg = bs.lock;
    return rc;
}

int lake_lock_config_put(struct lake *lake, const char *bucket, const struct lake_lock_config *cfg,
                         int force_versioning, struct err_info *err)
{
    struct store *st = lake__local_store(lake__backend(lake));
    store_lock(st);
    struct bucket_state bs;
    int rc = bucket_state(st, bucket, &bs, err);
    if (rc == 0 && !force_versioning && bs.versioning != LAKE_VERSIONING_ENABLED) {
        rc = err_set(err, SL_E(INVALID_BUCKET_STATE),
                     "Versioning must be 'Enabled' on the bucket to apply a Object Lock "
                     "configuration");
    }
    if (rc == 0) {
        char text[64];
        snprintf(text, sizeof(text), "%s %d %d", cfg->mode[0] ? cfg->mode : "-", cfg->days,
                 cfg->years);
        rc = store_run(st,
                       "UPDATE lake_buckets SET object_lock=?,"
                       " versioning=CASE WHEN ? THEN 'Enabled' ELSE versioning END WHERE name=?",
                       "sis", text, (int64_t)force_versioning, bucket);
        if (rc < 0) {
            rc = internal(err, rc);
        }
    }
    store_unlock(st);
    return rc;
}

/* ---- the put hooks (inside the commit's transaction) ---- */

/* The ETag without surrounding quotes. */
static void bare_etag(const char *etag, char *out, size_t size)
{
    size_t len = strlen(etag);
    if (len >= 2 && etag[0] == '"' && etag[len - 1] == '"') {
        snprintf(out, size, "%.*s", (int)(len - 2), etag + 1);
    } else {
        snprintf(out, size, "%s", etag);
    }
}

int lake__version_refused(int rc)
{
    return rc == SL_E(PRECONDITION_FAILED) || rc == SL_E(NO_SUCH_KEY) ||
           rc == SL_E(INVALID_REQUEST);
}

int lake__version_check_put(struct store *st, const char *bucket, const char *key,
                            const struct lake_put_opts *opts, struct err_info *err)
{
    if (opts == NULL) {
        return 0;
    }
    if (opts->if_none_match || opts->if_match != NULL) {
        struct store_stmt *s = store_prepare_args(
            st, "SELECT etag FROM lake_objects WHERE bucket=? AND key=?", "ss", bucket, key);
        if (s == NULL) {
            return internal(err, SL_E(IO));
        }
        int rc = store_step(s);
        char etag[LAKE_ETAG_MAX] = "";
        if (rc == 1) {
            snprintf(etag, sizeof(etag), "%s", store_col_text(s, 0));
        }
        store_finalize(s);
        if (rc < 0) {
            return internal(err, rc);
        }
        if (opts->if_none_match && rc == 1) {
            return err_set(err, SL_E(PRECONDITION_FAILED),
                           "At least one of the pre-conditions you specified did not hold");
        }
        if (opts->if_match != NULL) {
            char want[LAKE_ETAG_MAX + 4];
            bare_etag(opts->if_match, want, sizeof(want));
            if (rc == 0) {
                return err_set(err, SL_E(NO_SUCH_KEY), "The specified key does not exist.");
            }
            if (strcmp(want, "*") != 0 && strcmp(want, etag) != 0) {
                return err_set(err, SL_E(PRECONDITION_FAILED),
                               "At least one of the pre-conditions you specified did not hold");
            }
        }
    }
    if (opts->lock_mode != NULL || opts->legal_hold) {
        struct bucket_state bs;
        int rc = bucket_state(st, bucket, &bs, err);
        if (rc < 0) {
            return rc;
        }
        if (!bs.lock.enabled) {
            return err_set(err, SL_E(INVALID_REQUEST), "%s", MSG_NO_LOCK);
        }
    }
    return 0;
}

/* One past the highest vseq of the key in either table. */
static int next_vseq(struct store *st, const char *bucket, const char *key, int64_t *out)
{
    struct store_stmt *s =
        store_prepare_args(st,
                           "SELECT MAX(m) FROM (SELECT MAX(vseq) AS m FROM lake_objects"
                           " WHERE bucket=?1 AND key=?2 UNION ALL SELECT MAX(vseq) FROM"
                           " lake_versions WHERE bucket=?1 AND key=?2)",
                           "ss", bucket, key);
    if (s == NULL) {
        return SL_E(IO);
    }
    int rc = store_step(s);
    *out = (rc == 1 ? store_col_int64(s, 0) : 0) + 1;
    store_finalize(s);
    return rc < 0 ? rc : 0;
}

/* Moves the key's current object row (if any) to lake_versions. */
static int move_current(struct store *st, const char *bucket, const char *key)
{
    int rc = store_run(st,
                       "INSERT INTO lake_versions(" MOVED_COLS ") SELECT " MOVED_COLS
                       " FROM lake_objects WHERE bucket=? AND key=?",
                       "ss", bucket, key);
    if (rc == 0) {
        rc = store_run(st, "DELETE FROM lake_objects WHERE bucket=? AND key=?", "ss", bucket, key);
    }
    return rc;
}

/* Removes the null version kept in lake_versions, if any; its blob id to freed. */
static int drop_null_version(struct store *st, const char *bucket, const char *key, char *freed)
{
    struct store_stmt *s = store_prepare_args(st,
                                              "DELETE FROM lake_versions WHERE bucket=? AND key=?"
                                              " AND version_id IS NULL RETURNING blob",
                                              "ss", bucket, key);
    if (s == NULL) {
        return SL_E(IO);
    }
    int rc;
    while ((rc = store_step(s)) == 1) {
        const char *b = store_col_text(s, 0);
        if (b != NULL) {
            snprintf(freed, 33, "%s", b);
        }
    }
    store_finalize(s);
    return rc;
}

/* The version id of the key's current object row: 1 found (vid filled), 0 none. */
static int current_vid(struct store *st, const char *bucket, const char *key, char *vid)
{
    struct store_stmt *s = store_prepare_args(
        st, "SELECT version_id FROM lake_objects WHERE bucket=? AND key=?", "ss", bucket, key);
    if (s == NULL) {
        return SL_E(IO);
    }
    int rc = store_step(s);
    if (rc == 1) {
        const char *v = store_col_text(s, 0);
        snprintf(vid, LAKE_VERSION_ID_MAX, "%s", v ? v : "");
    }
    store_finalize(s);
    return rc;
}

int lake__version_before_put(struct store *st, const char *bucket, const char *key,
                             const struct lake_put_opts *opts, struct lake__version_put *vp,
                             char *freed_blob)
{
    memset(vp, 0, sizeof(*vp));
    struct bucket_state bs;
    int rc = bucket_state(st, bucket, &bs, NULL);
    if (rc < 0 || bs.versioning == LAKE_VERSIONING_OFF) {
        return rc;
    }
    vp->state = bs.versioning;
    rc = next_vseq(st, bucket, key, &vp->vseq);
    if (rc < 0) {
        return rc;
    }
    if (bs.versioning == LAKE_VERSIONING_ENABLED) {
        new_version_id(vp->version_id);
        rc = move_current(st, bucket, key);
    } else {
        /* Suspended: the new object is the null version, replacing the old one. */
        char vid[LAKE_VERSION_ID_MAX];
        rc = current_vid(st, bucket, key, vid);
        if (rc == 1 && vid[0] != '\0') {
            rc = move_current(st, bucket, key);
        }
        if (rc >= 0) {
            rc = drop_null_version(st, bucket, key, freed_blob);
        }
    }
    if (rc < 0) {
        return rc;
    }
    if (opts != NULL && opts->lock_mode != NULL) {
        snprintf(vp->lock_mode, sizeof(vp->lock_mode), "%s", opts->lock_mode);
        vp->lock_until_ms = opts->lock_until_ms;
    } else if (bs.lock.mode[0] != '\0') {
        snprintf(vp->lock_mode, sizeof(vp->lock_mode), "%s", bs.lock.mode);
        vp->lock_until_ms = clock_now_ms() + (int64_t)bs.lock.days * MS_PER_DAY +
                            (int64_t)bs.lock.years * 365 * MS_PER_DAY;
    }
    vp->legal_hold = opts != NULL ? opts->legal_hold : 0;
    return 0;
}

int lake__version_after_put(struct store *st, const char *bucket, const char *key,
                            const struct lake__version_put *vp, struct lake_object_info *v)
{
    if (vp->state == LAKE_VERSIONING_OFF) {
        return 0;
    }
    int rc = store_run(st,
                       "UPDATE lake_objects SET version_id=?,vseq=?,lock_mode=?,lock_until_ms=?,"
                       "legal_hold=? WHERE bucket=? AND key=?",
                       "sisiiss", vid_sql(vp->version_id), vp->vseq,
                       vp->lock_mode[0] ? vp->lock_mode : NULL, vp->lock_until_ms,
                       (int64_t)vp->legal_hold, bucket, key);
    if (rc == 0) {
        snprintf(v->version_id, sizeof(v->version_id), "%s", vp->version_id);
        v->versioned = 1;
        snprintf(v->lock_mode, sizeof(v->lock_mode), "%s", vp->lock_mode);
        v->lock_until_ms = vp->lock_until_ms;
        v->legal_hold = vp->legal_hold;
    }
    return rc;
}

/* ---- multipart uploads ---- */

int lake__version_upload_lock_put(struct lake *lake, const char *bucket, const char *upload_id,
                                  const struct lake_put_opts *opts, struct err_info *err)
{
    struct store *st = lake__local_store(lake__backend(lake));
    store_lock(st);
    struct bucket_state bs;
    int rc = bucket_state(st, bucket, &bs, err);
    if (rc == 0 && !bs.lock.enabled) {
        rc = err_set(err, SL_E(INVALID_REQUEST), "%s", MSG_NO_LOCK);
    }
    if (rc == 0) {
        rc = store_run(st,
                       "UPDATE lake_uploads SET lock_mode=?,lock_until_ms=?,legal_hold=?"
                       " WHERE upload_id=?",
                       "siis", opts->lock_mode, opts->lock_mode ? opts->lock_until_ms : 0,
                       (int64_t)opts->legal_hold, upload_id);
        if (rc < 0) {
            rc = internal(err, rc);
        }
    }
    store_unlock(st);
    return rc;
}

int lake__version_upload_lock_get(struct lake *lake, const char *upload_id,
                                  struct lake_put_opts *opts, char *mode_buf)
{
    struct store *st = lake__local_store(lake__backend(lake));
    store_read_begin(st);
    struct store_stmt *s = store_prepare_args(
        st, "SELECT lock_mode,lock_until_ms,legal_hold FROM lake_uploads WHERE upload_id=?", "s",
        upload_id);
    int rc = s == NULL ? SL_E(IO) : store_step(s);
    if (rc == 1) {
        const char *mode = store_col_text(s, 0);
        if (mode != NULL && opts->lock_mode == NULL) {
            snprintf(mode_buf, 16, "%s", mode);
            opts->lock_mode = mode_buf;
            opts->lock_until_ms = store_col_int64(s, 1);
        }
        if (opts->legal_hold == 0) {
            opts->legal_hold = (int)store_col_int64(s, 2);
        }
    }
    store_finalize(s);
    store_read_end(st);
    return rc < 0 ? rc : 0;
}

/* ---- lookups ---- */

/*
 * Finds a version (vid NULL: the newest) of bucket/key. Returns 1 with the statement on
 * its row (the caller finalizes), 0 when none, or a negative code.
 */
static int find_version(struct store *st, const char *bucket, const char *key, const char *vid,
                        struct store_stmt **out)
{
    *out = store_prepare_args(st,
                              "SELECT " READ_COLS ",marker FROM " ALL_VERSIONS
                              " WHERE bucket=?1 AND key=?2 AND (?3 OR version_id IS ?4)"
                              " ORDER BY vseq DESC LIMIT 1",
                              "ssis", bucket, key, (int64_t)(vid == NULL), vid_sql(vid));
    if (*out == NULL) {
        return SL_E(IO);
    }
    int rc = store_step(*out);
    if (rc != 1) {
        store_finalize(*out);
        *out = NULL;
    }
    return rc;
}

/* Keys are 1..1024 bytes, as lake.c checks them. */
static int check_key(const char *key, struct err_info *err)
{
    size_t len = key ? strlen(key) : 0;
    if (len == 0) {
        return err_set(err, SL_E(INVALID_ARGUMENT_S3), "The key must not be empty.");
    }
    if (len > LAKE_KEY_MAX_BYTES) {
        return err_set(err, SL_E(KEY_TOO_LONG), "Your key is too long");
    }
    return 0;
}

static int check_vid(const char *vid, struct err_info *err)
{
    if (vid != NULL && !lake_version_id_valid(vid)) {
        return err_set(err, SL_E(INVALID_ARGUMENT_S3), "Invalid version id specified");
    }
    return 0;
}

int lake_version_open(struct lake *lake, const char *bucket, const char *key,
                      const char *version_id, struct lake_object_info *info, int *fd_out,
                      struct err_info *err)
{
    struct err_info local;
    if (err == NULL) {
        err = &local;
    }
    err_clear(err);
    memset(info, 0, sizeof(*info));
    if (fd_out != NULL) {
        *fd_out = -1;
    }
    int rc = check_vid(version_id, err);
    if (rc == 0) {
        rc = check_key(key, err);
    }
    if (rc < 0) {
        return rc;
    }
    void *be = lake__backend(lake);
    struct store *st = lake__local_store(be);
    /* The file is opened under the writer's lock: a delete unlinks only after. */
    store_lock(st);
    struct bucket_state bs;
    rc = bucket_state(st, bucket, &bs, err);
    struct store_stmt *s = NULL;
    if (rc == 0) {
        rc = find_version(st, bucket, key, version_id, &s);
    }
    if (rc == 0) {
        rc = version_id == NULL
                 ? err_set(err, SL_E(NO_SUCH_KEY), "The specified key does not exist.")
                 : err_set(err, SL_E(NO_SUCH_VERSION), "The specified version does not exist.");
    } else if (rc == 1) {
        row_to_info(s, info);
        info->versioned = bs.versioning != LAKE_VERSIONING_OFF;
        rc = 0;
        if (info->delete_marker) {
            rc = version_id == NULL
                     ? err_set(err, SL_E(NO_SUCH_KEY), "The specified key does not exist.")
                     : err_set(err, SL_E(METHOD_NOT_ALLOWED),
                               "The specified method is not allowed against "
                               "this resource.");
        } else {
            const char *ps = store_col_text(s, COL_PART_SIZES);
            info->part_sizes_json = ps ? xstrdup(ps) : NULL;
            const char *pc = store_col_text(s, COL_PART_CHECKSUMS);
            info->part_checksums_json = pc ? xstrdup(pc) : NULL;
            if (fd_out != NULL) {
                rc = lake__local_blob_open(be, store_col_text(s, COL_BLOB), fd_out, NULL);
                if (rc < 0) {
                    rc = internal(err, SL_E(IO));
                }
            }
        }
        store_finalize(s);
    } else if (rc < 0) {
        rc = internal(err, rc);
    }
    store_unlock(st);
    return rc;
}

int lake_version_tags_get(struct lake *lake, const char *bucket, const char *key,
                          const char *version_id, char **tags_out, struct err_info *err)
{
    *tags_out = NULL;
    if (version_id == NULL) {
        return lake_object_tags_get(lake, bucket, key, tags_out, err);
    }
    int rc = check_vid(version_id, err);
    if (rc < 0) {
        return rc;
    }
    struct store *st = lake__local_store(lake__backend(lake));
    store_read_begin(st);
    struct store_stmt *s = store_prepare_args(
        st,
        "SELECT tags FROM (SELECT bucket,key,version_id,tags FROM lake_objects UNION ALL"
        " SELECT bucket,key,version_id,tags FROM lake_versions WHERE marker=0)"
        " WHERE bucket=? AND key=? AND version_id IS ?",
        "sss", bucket, key, vid_sql(version_id));
    rc = s == NULL ? SL_E(IO) : store_step(s);
    if (rc == 1) {
        const char *t = store_col_text(s, 0);
        *tags_out = xstrdup(t ? t : "{}");
        rc = 0;
    } else if (rc == 0) {
        rc = err_set(err, SL_E(NO_SUCH_VERSION), "The specified version does not exist.");
    } else {
        rc = internal(err, rc);
    }
    store_finalize(s);
    store_read_end(st);
    return rc;
}

int lake_version_tags_put(struct lake *lake, const char *bucket, const char *key,
                          const char *version_id, const char *tags_json, struct err_info *err)
{
    if (version_id == NULL) {
        return lake_object_tags_put(lake, bucket, key, tags_json, err);
    }
    int rc = check_vid(version_id, err);
    if (rc < 0) {
        return rc;
    }
    json_t *t = tags_json ? json_loads(tags_json, 0, NULL) : NULL;
    int64_t n_tags = json_is_object(t) ? (int64_t)json_object_size(t) : 0;
    json_decref(t);
    struct store *st = lake__local_store(lake__backend(lake));
    store_lock(st);
    struct bucket_state bs;
    rc = bucket_state(st, bucket, &bs, err);
    struct store_stmt *s = NULL;
    if (rc == 0) {
        rc = find_version(st, bucket, key, version_id, &s);
    }
    if (rc == 0) {
        rc = err_set(err, SL_E(NO_SUCH_VERSION), "The specified version does not exist.");
    } else if (rc == 1) {
        int64_t vseq = store_col_int64(s, COL_VSEQ);
        int marker = (int)store_col_int64(s, COL_MARKER);
        store_finalize(s);
        if (marker) {
            rc = err_set(err, SL_E(METHOD_NOT_ALLOWED),
                         "The specified method is not allowed against this resource.");
        } else {
            rc = store_run(st,
                           "UPDATE lake_objects SET tags=?,n_tags=? WHERE bucket=? AND key=?"
                           " AND vseq=?",
                           "sissi", tags_json, n_tags, bucket, key, vseq);
            if (rc == 0) {
                rc = store_run(st,
                               "UPDATE lake_versions SET tags=?,n_tags=? WHERE bucket=? AND"
                               " key=? AND vseq=?",
                               "sissi", tags_json, n_tags, bucket, key, vseq);
            }
        }
    }
    store_unlock(st);
    return rc < 0 ? internal(err, rc) : 0;
}

/* ---- deletes ---- */

/* 1 when object lock keeps the version described by s's row. */
static int locked(struct store_stmt *s, int bypass_governance)
{
    if (store_col_int64(s, COL_VID + 3) == 1) {
        return 1; /* legal hold */
    }
    const char *mode = store_col_text(s, COL_VID + 1);
    if (mode == NULL || store_col_int64(s, COL_VID + 2) <= clock_now_ms()) {
        return 0;
    }
    return strcmp(mode, "COMPLIANCE") == 0 || !bypass_governance;
}

/* Inserts a delete marker as the key's newest version. */
static int add_marker(struct store *st, const char *bucket, const char *key, const char *vid)
{
    int64_t vseq = 0;
    int rc = next_vseq(st, bucket, key, &vseq);
    if (rc == 0) {
        rc = store_run(st,
                       "INSERT INTO lake_versions(bucket,key,vseq,version_id,marker,"
                       "last_modified_ms) VALUES(?,?,?,?,1,?)",
                       "ssisi", bucket, key, vseq, vid_sql(vid), clock_now_ms());
    }
    return rc;
}

/* After a version is removed: the newest remaining one, if an object, becomes current. */
static int promote(struct store *st, const char *bucket, const char *key)
{
    char vid[LAKE_VERSION_ID_MAX];
    int rc = current_vid(st, bucket, key, vid);
    if (rc != 0) {
        return rc < 0 ? rc : 0;
    }
    struct store_stmt *s = store_prepare_args(st,
                                              "SELECT vseq,marker FROM lake_versions WHERE"
                                              " bucket=? AND key=? ORDER BY vseq DESC LIMIT 1",
                                              "ss", bucket, key);
    if (s == NULL) {
        return SL_E(IO);
    }
    rc = store_step(s);
    int64_t vseq = rc == 1 ? store_col_int64(s, 0) : 0;
    int marker = rc == 1 ? (int)store_col_int64(s, 1) : 1;
    store_finalize(s);
    if (rc < 0 || marker) {
        return rc < 0 ? rc : 0;
    }
    rc = store_run(st,
                   "INSERT INTO lake_objects(" MOVED_COLS ") SELECT " MOVED_COLS
                   " FROM lake_versions WHERE bucket=? AND key=? AND vseq=?",
                   "ssi", bucket, key, vseq);
    if (rc == 0) {
        rc = store_run(st, "DELETE FROM lake_versions WHERE bucket=? AND key=? AND vseq=?", "ssi",
                       bucket, key, vseq);
    }
    return rc;
}

/* Removes the row of a version for good; its blob id to freed. */
static int remove_version(struct store *st, const char *bucket, const char *key,
                          struct store_stmt *row, char *freed)
{
    int64_t vseq = store_col_int64(row, COL_VSEQ);
    const char *blob = store_col_text(row, COL_BLOB);
    if (blob != NULL && !store_col_int64(row, COL_MARKER)) {
        snprintf(freed, 33, "%s", blob);
    }
    int rc = store_run(st, "DELETE FROM lake_objects WHERE bucket=? AND key=? AND vseq=?", "ssi",
                       bucket, key, vseq);
    if (rc == 0) {
        rc = store_run(st, "DELETE FROM lake_versions WHERE bucket=? AND key=? AND vseq=?", "ssi",
                       bucket, key, vseq);
    }
    return rc;
}

/* DeleteObject without a version id, in the transaction. */
static int delete_current(struct store *st, const char *bucket, const char *key,
                          const struct bucket_state *bs, struct lake_delete_result *res,
                          char *freed)
{
    if (bs->versioning == LAKE_VERSIONING_OFF) {
        struct store_stmt *s = store_prepare_args(
            st, "DELETE FROM lake_objects WHERE bucket=? AND key=? RETURNING blob", "ss", bucket,
            key);
        if (s == NULL) {
            return SL_E(IO);
        }
        int rc;
        while ((rc = store_step(s)) == 1) {
            snprintf(freed, 33, "%s", store_col_text(s, 0));
        }
        store_finalize(s);
        return rc;
    }
    res->delete_marker = 1;
    if (bs->versioning == LAKE_VERSIONING_ENABLED) {
        new_version_id(res->version_id);
        int rc = move_current(st, bucket, key);
        return rc < 0 ? rc : add_marker(st, bucket, key, res->version_id);
    }
    snprintf(res->version_id, sizeof(res->version_id), "null");
    char vid[LAKE_VERSION_ID_MAX];
    int rc = current_vid(st, bucket, key, vid);
    if (rc == 1 && vid[0] == '\0') {
        struct store_stmt *s = store_prepare_args(
            st, "DELETE FROM lake_objects WHERE bucket=? AND key=? RETURNING blob", "ss", bucket,
            key);
        rc = s == NULL ? SL_E(IO) : 0;
        while (rc == 0 && (rc = store_step(s)) == 1) {
            snprintf(freed, 33, "%s", store_col_text(s, 0));
            rc = 0;
        }
        store_finalize(s);
    } else if (rc == 1) {
        rc = move_current(st, bucket, key);
    }
    if (rc >= 0) {
        rc = drop_null_version(st, bucket, key, freed);
    }
    return rc < 0 ? rc : add_marker(st, bucket, key, NULL);
}

/* The conditions of a delete against the key's current version, under the delete's
   transaction. 0, or the condition's error in err. */
static int check_delete_cond(struct store *st, const char *bucket, const char *key,
                             const struct lake_delete_cond *c, struct err_info *err)
{
    struct store_stmt *s = NULL;
    int rc = find_version(st, bucket, key, NULL, &s);
    if (rc < 0) {
        return internal(err, rc);
    }
    int found = rc == 1 && store_col_int64(s, COL_MARKER) == 0;
    rc = 0;
    if (!found) {
        /* Nothing to delete: only an ETag asks for something that must exist. */
        if (c->if_match != NULL) {
            rc = err_set(err, SL_E(NO_SUCH_KEY), "The specified key does not exist.");
        }
    } else {
        char want[LAKE_ETAG_MAX + 4];
        if (c->if_match != NULL) {
            bare_etag(c->if_match, want, sizeof(want));
        }
        int64_t mtime_ms = store_col_int64(s, 3);
        if ((c->if_match != NULL && strcmp(want, "*") != 0 &&
             strcmp(want, store_col_text(s, 2)) != 0) ||
            (c->if_mtime_s != LAKE_COND_NONE && c->if_mtime_s != mtime_ms / 1000) ||
            (c->if_size != LAKE_COND_NONE && c->if_size != store_col_int64(s, 1))) {
            rc = err_set(err, SL_E(PRECONDITION_FAILED),
                         "At least one of the pre-conditions you specified did not hold");
        }
    }
    store_finalize(s);
    return rc;
}

int lake_version_delete(struct lake *lake, const char *bucket, const char *key,
                        const char *version_id, int bypass_governance,
                        struct lake_delete_result *res, struct err_info *err)
{
    return lake_version_delete_if(lake, bucket, key, version_id, bypass_governance, NULL, res, err);
}

int lake_version_delete_if(struct lake *lake, const char *bucket, const char *key,
                           const char *version_id, int bypass_governance,
                           const struct lake_delete_cond *cond, struct lake_delete_result *res,
                           struct err_info *err)
{
    struct err_info local;
    if (err == NULL) {
        err = &local;
    }
    err_clear(err);
    memset(res, 0, sizeof(*res));
    int rc = check_vid(version_id, err);
    if (rc < 0) {
        return rc;
    }
    void *be = lake__backend(lake);
    struct store *st = lake__local_store(be);
    char freed[40] = "";
    store_lock(st);
    rc = store_begin(st);
    struct bucket_state bs;
    if (rc == 0) {
        rc = bucket_state(st, bucket, &bs, err);
    }
    if (rc == 0 && cond != NULL) {
        rc = check_delete_cond(st, bucket, key, cond, err);
    }
    if (rc == 0) {
        res->versioned = bs.versioning != LAKE_VERSIONING_OFF;
        if (version_id == NULL) {
            rc = delete_current(st, bucket, key, &bs, res, freed);
        } else {
            snprintf(res->version_id, sizeof(res->version_id), "%s", version_id);
            struct store_stmt *s = NULL;
            rc = find_version(st, bucket, key, version_id, &s);
            if (rc == 1) {
                res->delete_marker = (int)store_col_int64(s, COL_MARKER);
                if (locked(s, bypass_governance)) {
                    rc = err_set(err, SL_E(S3_ACCESS_DENIED), "%s", MSG_DENIED);
                } else {
                    rc = remove_version(st, bucket, key, s, freed);
                }
                store_finalize(s);
                if (rc == 0) {
                    rc = promote(st, bucket, key);
                }
            }
        }
    }
    if (rc >= 0) {
        rc = store_commit(st);
    }
    if (rc < 0) {
        store_rollback(st);
        freed[0] = '\0';
    }
    store_unlock(st);
    if (freed[0] != '\0') {
        lake__local_blob_unlink(be, freed);
    }
    return rc < 0 ? internal(err, rc) : 0;
}

/* ---- listing ---- */

void lake_version_list_fini(struct lake_version_list *list)
{
    for (size_t i = 0; i < list->n_versions; i++) {
        lake_object_info_fini(&list->versions[i]);
    }
    free(list->versions);
    for (size_t i = 0; i < list->n_prefixes; i++) {
        free(list->prefixes[i]);
    }
    free(list->prefixes);
    free(list->next_key_marker);
    free(list->next_version_id_marker);
    memset(list, 0, sizeof(*list));
}

/* The vseq of a version of key (the version id marker), -1 when none. */
static int64_t marker_vseq(struct store *st, const char *bucket, const char *key, const char *vid)
{
    struct store_stmt *s = NULL;
    int rc = find_version(st, bucket, key, vid, &s);
    int64_t v = rc == 1 ? store_col_int64(s, COL_VSEQ) : -1;
    store_finalize(s);
    return v;
}

/*
 * Walks every version of the keys at or after the markers in (key, newest first) order,
 * one merged statement over both tables; a page stops after max_keys entries.
 */
int lake_version_list(struct lake *lake, const char *bucket,
                      const struct lake_version_list_opts *opts, struct lake_version_list *out,
                      struct err_info *err)
{
    memset(out, 0, sizeof(*out));
    const char *prefix = opts->prefix ? opts->prefix : "";
    const char *delim = opts->delimiter && opts->delimiter[0] ? opts->delimiter : NULL;
    const char *kmark = opts->key_marker && opts->key_marker[0] ? opts->key_marker : NULL;
    const char *vmark = kmark && opts->version_id_marker && opts->version_id_marker[0]
                            ? opts->version_id_marker
                            : NULL;
    if (vmark != NULL && !lake_version_id_valid(vmark)) {
        return err_set(err, SL_E(INVALID_ARGUMENT_S3), "Invalid version id specified");
    }
    size_t prefix_len = strlen(prefix);
    struct store *st = lake__local_store(lake__backend(lake));
    store_read_begin(st);
    struct bucket_state bs;
    int rc = bucket_state(st, bucket, &bs, err);
    int64_t resume_vseq = -1; /* inside kmark: versions older than this */
    if (rc == 0 && vmark != NULL) {
        resume_vseq = marker_vseq(st, bucket, kmark, vmark);
    }
    const char *from = prefix;
    if (kmark != NULL && strcmp(kmark, prefix) > 0) {
        from = kmark;
    }
    struct store_stmt *s = NULL;
    if (rc == 0) {
        /* Both tables are in (key, newest first) order: SQLite merges them as it
           steps, without sorting what lies past the page. */
        s = store_prepare_args(st,
                               "SELECT " READ_COLS ",0 FROM lake_objects WHERE bucket=?1 AND"
                               " key>=?2 UNION ALL SELECT " READ_COLS ",marker FROM"
                               " lake_versions WHERE bucket=?1 AND key>=?2"
                               " ORDER BY key, vseq DESC",
                               "ss", bucket, from);
        if (s == NULL) {
            rc = internal(err, SL_E(IO));
        }
    }
    size_t cap_v = 0;
    size_t cap_p = 0;
    char *cur_key = NULL; /* the key whose versions are being walked */
    char *last_cp = NULL;
    while (rc == 0 && (rc = store_step(s)) == 1) {
        rc = 0;
        const char *key = store_col_text(s, 0);
        if (strncmp(key, prefix, prefix_len) != 0) {
            if (strcmp(key, prefix) > 0) {
                break;
            }
            continue;
        }
        int first_of_key = cur_key == NULL || strcmp(cur_key, key) != 0;
        if (first_of_key) {
            free(cur_key);
            cur_key = xstrdup(key);
        }
        int64_t vseq = store_col_int64(s, COL_VSEQ);
        if (kmark != NULL && strcmp(key, kmark) == 0) {
            if (resume_vseq < 0 || vseq >= resume_vseq) {
                continue; /* reported on an earlier page */
            }
        }
        const char *d = delim ? strstr(key + prefix_len, delim) : NULL;
        if (d != NULL) {
            size_t cp_len = (size_t)(d - key) + strlen(delim);
            if (last_cp != NULL && strlen(last_cp) == cp_len &&
                strncmp(last_cp, key, cp_len) == 0) {
                continue;
            }
            int seen = kmark != NULL && strncmp(kmark, key, cp_len) == 0 && strlen(kmark) >= cp_len;
            free(last_cp);
            last_cp = xstrndup(key, cp_len);
            if (seen) {
                continue;
            }
            if (out->n_versions + out->n_prefixes == opts->max_keys) {
                out->truncated = 1;
                break;
            }
            if (out->n_prefixes == cap_p) {
                cap_p = cap_p ? cap_p * 2 : 16;
                out->prefixes = xrealloc(out->prefixes, cap_p * sizeof(char *));
            }
            out->prefixes[out->n_prefixes++] = xstrdup(last_cp);
            free(out->next_key_marker);
            out->next_key_marker = xstrdup(last_cp);
            free(out->next_version_id_marker);
            out->next_version_id_marker = NULL;
            continue;
        }
        if (out->n_versions + out->n_prefixes == opts->max_keys) {
            out->truncated = 1;
            break;
        }
        if (out->n_versions == cap_v) {
            cap_v = cap_v ? cap_v * 2 : 64;
            out->versions = xrealloc(out->versions, cap_v * sizeof(*out->versions));
        }
        struct lake_object_info *v = &out->versions[out->n_versions++];
        row_to_info(s, v);
        /* The newest row of a key is its latest, unless the page resumed inside it. */
        v->is_latest =
            first_of_key && !(kmark != NULL && resume_vseq >= 0 && strcmp(key, kmark) == 0);
        free(out->next_key_marker);
        out->next_key_marker = xstrdup(key);
        free(out->next_version_id_marker);
        out->next_version_id_marker = xstrdup(v->version_id[0] ? v->version_id : "null");
    }
    if (rc == 1) {
        rc = 0;
    }
    if (rc < 0) {
        rc = internal(err, rc);
    }
    store_finalize(s);
    store_read_end(st);
    free(cur_key);
    free(last_cp);
    if (rc < 0 || !out->truncated) {
        free(out->next_key_marker);
        free(out->next_version_id_marker);
        out->next_key_marker = NULL;
        out->next_version_id_marker = NULL;
    }
    if (rc < 0) {
        lake_version_list_fini(out);
    }
    return rc;
}

/* ---- retention and legal hold ---- */

/*
 * Sets a version's retention (hold < 0) or legal hold (hold 1 ON, 2 OFF) in whichever
 * table holds its row.
 */
static int update_lock(struct store *st, const char *bucket, const char *key, int64_t vseq,
                       const char *mode, int64_t until_ms, int hold)
{
    static const char *const tables[] = {"lake_objects", "lake_versions"};
    int rc = 0;
    for (int t = 0; t < 2 && rc == 0; t++) {
        char sql[160];
        if (hold >= 0) {
            snprintf(sql, sizeof(sql),
                     "UPDATE %s SET legal_hold=? WHERE bucket=? AND key=? AND vseq=?", tables[t]);
            rc = store_run(st, sql, "issi", (int64_t)hold, bucket, key, vseq);
        } else {
            snprintf(sql, sizeof(sql),
                     "UPDATE %s SET lock_mode=?,lock_until_ms=? WHERE bucket=? AND key=?"
                     " AND vseq=?",
                     tables[t]);
            rc = store_run(st, sql, "sissi", mode, until_ms, bucket, key, vseq);
        }
    }
    return rc;
}

/* Finds the version a lock call names, in a write transaction. 1 with the row's info. */
static int lock_target(struct store *st, const char *bucket, const char *key, const char *vid,
                       struct lake_object_info *info, int64_t *vseq, struct err_info *err)
{
    struct bucket_state bs;
    int rc = bucket_state(st, bucket, &bs, err);
    if (rc < 0) {
        return rc;
    }
    if (!bs.lock.enabled) {
        return err_set(err, SL_E(INVALID_REQUEST), "%s", MSG_NO_LOCK);
    }
    struct store_stmt *s = NULL;
    rc = find_version(st, bucket, key, vid, &s);
    if (rc == 1) {
        row_to_info(s, info);
        *vseq = store_col_int64(s, COL_VSEQ);
        store_finalize(s);
        if (info->delete_marker) {
            lake_object_info_fini(info);
            return err_set(err, SL_E(METHOD_NOT_ALLOWED),
                           "The specified method is not allowed against this resource.");
        }
        return 0;
    }
    if (rc == 0) {
        return vid == NULL
                   ? err_set(err, SL_E(NO_SUCH_KEY), "The specified key does not exist.")
                   : err_set(err, SL_E(NO_SUCH_VERSION), "The specified version does not exist.");
    }
    return internal(err, rc);
}

static int lock_update(struct lake *lake, const char *bucket, const char *key, const char *vid,
                       const char *mode, int64_t until_ms, int bypass, int hold,
                       struct err_info *err)
{
    struct err_info local;
    if (err == NULL) {
        err = &local;
    }
    err_clear(err);
    int rc = check_vid(vid, err);
    if (rc < 0) {
        return rc;
    }
    struct store *st = lake__local_store(lake__backend(lake));
    store_lock(st);
    rc = store_begin(st);
    struct lake_object_info info;
    memset(&info, 0, sizeof(info));
    int64_t vseq = 0;
    if (rc == 0) {
        rc = lock_target(st, bucket, key, vid, &info, &vseq, err);
    }
    if (rc == 0 && hold >= 0) {
        rc = update_lock(st, bucket, key, vseq, NULL, 0, hold);
    } else if (rc == 0) {
        /* Protection may only grow unless GOVERNANCE is bypassed; COMPLIANCE never. */
        int active = info.lock_mode[0] != '\0' && info.lock_until_ms > clock_now_ms();
        int weaker = mode == NULL || until_ms < info.lock_until_ms ||
                     (strcmp(info.lock_mode, "COMPLIANCE") == 0 && strcmp(mode, "COMPLIANCE") != 0);
        if (active && weaker && (strcmp(info.lock_mode, "COMPLIANCE") == 0 || !bypass)) {
            rc = err_set(err, SL_E(S3_ACCESS_DENIED), "%s", MSG_DENIED);
        } else {
            rc = update_lock(st, bucket, key, vseq, mode, mode ? until_ms : 0, -1);
        }
    }
    lake_object_info_fini(&info);
    if (rc == 0) {
        rc = store_commit(st);
    }
    if (rc < 0) {
        store_rollback(st);
    }
    store_unlock(st);
    return rc < 0 ? internal(err, rc) : 0;
}

int lake_retention_put(struct lake *lake, const char *bucket, const char *key,
                       const char *version_id, const char *mode, int64_t until_ms,
                       int bypass_governance, struct err_info *err)
{
    return lock_update(lake, bucket, key, version_id, mode, until_ms, bypass_governance, -1, err);
}

int lake_legal_hold_put(struct lake *lake, const char *bucket, const char *key,
                        const char *version_id, int on, struct err_info *err)
{
    return lock_update(lake, bucket, key, version_id, NULL, 0, 0, on ? 1 : 2, err);
}
