/*
 * IAM over the query protocol (2010-05-08): users, access keys, groups, roles, inline
 * policies of users, groups and roles, managed policies with versions and their
 * attachments, durable in the store.
 */
#include "iam/iam_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/mem.h"
#include "core/text.h"
#include "iam/iam_int.h"

/* Ends a write: cached compiled policies are stale from here on (authz.c). */
static void write_done(struct iam *iam)
{
    iam__policies_changed();
    store_unlock(iam->st);
}

static int store_tags(struct api_call *call, const struct api_params *p, const char *kind,
                      const char *owner);
static void put_tags(struct buf *out, struct iam *iam, const char *kind, const char *owner);
static int boundary_on_create(struct api_call *call, const struct api_params *p,
                              const char *table, const char *name);
static void put_boundary(struct buf *out, struct iam *iam, const char *table, const char *name);

/* ---- parameters ---- */

static int invalid(struct api_call *call, const char *value, const char *member,
                   const char *constraint)
{
    if (value == NULL) {
        return err_set(&call->err, SL_E(VALIDATION),
                       "1 validation error detected: Value null at '%s' failed to satisfy "
                       "constraint: Member must not be null",
                       member);
    }
    return err_set(&call->err, SL_E(VALIDATION),
                   "1 validation error detected: Value '%.200s' at '%s' failed to satisfy "
                   "constraint: %s",
                   value, member, constraint);
}

static int name_chars_ok(const char *s)
{
    for (; *s != '\0'; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("_+=,.@-", *s) != NULL)) {
            return 0;
        }
    }
    return 1;
}

/* A required name of 1..max characters of [\w+=,.@-]. */
static int name_param(struct api_call *call, const struct api_params *p, const char *field,
                      const char *member, size_t max, const char **out)
{
    const char *v = api_params_get(p, field);
    *out = v;
    if (v == NULL) {
        return invalid(call, v, member, "");
    }
    if (strlen(v) < 1 || strlen(v) > max) {
        char c[80];
        snprintf(c, sizeof(c), "Member must have length less than or equal to %zu", max);
        return invalid(call, v, member,
                       strlen(v) < 1 ? "Member must have length greater than "
                                       "or equal to 1"
                                     : c);
    }
    if (!name_chars_ok(v)) {
        return invalid(call, v, member,
                       "Member must satisfy regular expression pattern: [\\w+=,.@-]+");
    }
    return 0;
}

/* Path: "/" or "/.../", printable ASCII, at most 512. */
static int path_param(struct api_call *call, const struct api_params *p, const char **out)
{
    const char *v = api_params_get(p, "Path");
    *out = v != NULL ? v : "/";
    size_t n = strlen(*out);
    int ok = n >= 1 && n <= 512 && (*out)[0] == '/' && (*out)[n - 1] == '/';
    for (size_t i = 0; ok && i < n; i++) {
        ok = (*out)[i] > 0x20 && (*out)[i] < 0x7f;
    }
    return ok ? 0
              : invalid(call, *out, "path",
                        "Member must satisfy regular expression pattern: "
                        "(\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)");
}

/* Paging: MaxItems 1..1000 (100 by default) and the Marker of the last page. */
static int paging(struct api_call *call, const struct api_params *p, int64_t *max,
                  const char **marker)
{
    const char *m = api_params_get(p, "MaxItems");
    *max = 100;
    *marker = api_params_get(p, "Marker");
    if (m != NULL) {
        char *end;
        long v = strtol(m, &end, 10);
        if (*end != '\0' || v < 1 || v > 1000) {
            return invalid(call, m, "maxItems",
                           v < 1 ? "Member must have value greater than or equal to 1"
                                 : "Member must have value less than or equal to 1000");
        }
        *max = v;
    }
    if (*marker == NULL) {
        *marker = "";
    }
    return 0;
}

static void put_text(struct buf *b, const char *tag, const char *v)
{
    buf_printf(b, "<%s>", tag);
    buf_xml_escape(b, v, strlen(v));
    buf_printf(b, "</%s>", tag);
}

/* Policy documents travel URL-encoded, as IAM returns them. */
static void put_doc(struct buf *b, const char *tag, const char *doc)
{
    struct buf enc;
    buf_init(&enc);
    pct_encode(&enc, doc, strlen(doc), 0);
    buf_printf(b, "<%s>", tag);
    buf_xml_escape(b, (const char *)enc.data, enc.len);
    buf_printf(b, "</%s>", tag);
    buf_fini(&enc);
}

static void put_date(struct buf *b, const char *tag, int64_t ms)
{
    char iso[32];
    clock_format_iso8601(ms / 1000 * 1000, iso);
    iso[19] = 'Z';
    iso[20] = '\0';
    buf_printf(b, "<%s>%s</%s>", tag, iso, tag);
}

static void put_page_end(struct buf *b, int truncated, const char *next)
{
    buf_printf(b, "<IsTruncated>%s</IsTruncated>", truncated ? "true" : "false");
    if (truncated) {
        put_text(b, "Marker", next);
    }
}

static struct iam *ctx_iam(struct api_call *call)
{
    return call->service_ctx;
}

static int store_failed(struct api_call *call, int rc)
{
    return err_set(&call->err, rc < 0 ? rc : SL_E(INTERNAL), "%s", "");
}

/* ---- users ---- */

static void put_user(struct buf *b, const struct iam *iam, struct store_stmt *q)
{
    /* columns: name, id, path, created */
    buf_puts(b, "<Path>");
    buf_xml_escape(b, store_col_text(q, 2), strlen(store_col_text(q, 2)));
    buf_puts(b, "</Path>");
    put_text(b, "UserName", store_col_text(q, 0));
    put_text(b, "UserId", store_col_text(q, 1));
    buf_printf(b, "<Arn>arn:aws:iam::%s:user", iam->account_id);
    buf_xml_escape(b, store_col_text(q, 2), strlen(store_col_text(q, 2)));
    buf_xml_escape(b, store_col_text(q, 0), strlen(store_col_text(q, 0)));
    buf_puts(b, "</Arn>");
    put_date(b, "CreateDate", store_col_int64(q, 3));
}

static int user_missing(struct api_call *call, const char *name)
{
    return err_set(&call->err, SL_E(IAM_NO_SUCH_ENTITY), "The user with name %s cannot be found.",
                   name);
}

/* 1 when the user exists (inside a bracket). */
static int user_exists(struct iam *iam, const char *name)
{
    struct store_stmt *q =
        store_prepare_args(iam->st, "SELECT 1 FROM iam_user WHERE name = ?", "s", name);
    int found = q != NULL && store_step(q) == 1;
    store_finalize(q);
    return found;
}

static int create_user(struct api_call *call, const struct api_params *p, struct buf *out)
{
    struct iam *iam = ctx_iam(call);
    const char *name, *path;
    int rc = name_param(call, p, "UserName", "userName", 64, &name);
    if (rc < 0 || (rc = path_param(call, p, &path)) < 0) {
        return rc;
    }
    char id[32];
    iam__new_id("AIDA", id);
    store_lock(iam->st);
    if (user_exists(iam, name)) {
        write_done(iam);
        return err_set(&call->err, SL_E(IAM_ENTITY_EXISTS), "User with name %s already exists.",
                       name);
    }
    rc = store_begin(iam->st);
    if (rc == 0) {
        rc =
            store_run(iam->st, "INSERT INTO iam_user (name, id, path, created) VALUES (?, ?, ?, ?)",
                      "sssi", name, id, path, call->req->now_ms);
    }
    if (rc == 0 && ((rc = store_tags(call, p, "user", name)) < 0 ||
                    (rc = boundary_on_create(call, p, "iam_user", name)) < 0)) {
        store_rollback(iam->st);
        write_done(iam);
        return rc;
    }
    rc = rc == 0 ? store_commit(iam->st) : (store_rollback(iam->st), rc);
    struct store_stmt *q = rc < 0 ? NULL
                                  : store_prepare_args(iam->st,
                                                       "SELECT name, id, path, created FROM "
                                                       "iam_user WHERE name = ?",
                                                       "s", name);
    if (q != NULL && store_step(q) == 1) {
        buf_puts(out, "<User>");
        put_user(out, iam, q);
        put_boundary(out, iam, "iam_user", name);
        put_tags(out, iam, "user", name);
        buf_puts(out, "</User>");
    } else {
        rc = rc < 0 ? rc : SL_E(INTERNAL);
    }
    store_finalize(q);
    write_done(iam);
    return rc < 0 ? store_failed(call, rc) : 0;
}

/* The UserName of a call about a user, or the calling user's own when absent. */
static int subject_user(struct api_call *call, const struct api_params *p, const char **name)
{
    if (api_params_get(p, "UserName") == NULL && call->req->principal_kind == HTTP_PRINCIPAL_USER) {
        *name = call->req->principal_name;
        return 0;
    }
    return name_param(call, p, "UserName", "userName", 128, name);
}

static int get_user(struct api_call *call, const struct api_params *p, struct buf *out)
{
    struct iam *iam = ctx_iam(call);
    if (api_params_get(p, "UserName") == NULL && call->req->principal_kind == HTTP_PRINCIPAL_ROOT) {
        /* The root user describes itself by its account. */
        buf_printf(out, "<User><UserId>%s</UserId><Arn>arn:aws:iam::%s:root</Arn>", iam->account_id,
                   iam->account_id);
        put_date(out, "CreateDate", 0);
        buf_puts(out, "</User>");
        return 0;
    }
    const char *name;
    int rc = subject_user(call, p, &name);
    if (rc < 0) {
        return rc;
    }
    store_read_begin(iam->st);
    struct store_stmt *q = store_prepare_args(
        iam->st, "SELECT name, id, path, created FROM iam_user WHERE name = ?", "s", name);
    if (q != NULL && store_step(q) == 1) {
        buf_puts(out, "<User>");
        put_user(out, iam, q);
        put_boundary(out, iam, "iam_user", name);
        put_tags(out, iam, "user", name);
        buf_puts(out, "</User>");
    } else {
        rc = user_missing(call, name);
    }
    store_finalize(q);
    store_read_end(iam->st);
    return rc;
}

static int list_users(struct api_call *call, const struct api_params *p, struct buf *out)
{
    struct iam *iam = ctx_iam(call);
    int64_t max;
    const char *marker;
    int rc = paging(call, p, &max, &marker);
    if (rc < 0) {
        return rc;
    }
    const char *prefix = api_params_get(p, "PathPrefix");
    store_read_begin(iam->st);
    struct store_stmt *q = store_prepare_args(
        iam->st,
        "SELECT name, id, path, created FROM iam_user WHERE name > ? AND substr(path, 1, ?) = ?"
        " ORDER BY name LIMIT ?",
        "sisi", marker, (int64_t)strlen(prefix ? prefix : "/"), prefix ? prefix : "/", max + 1);
    buf_puts(out, "<Users>");
    int64_t n = 0;
    char last[130] = "";
    int truncated = 0;
    while (q != NULL && store_step(q) == 1) {
        if (n == max) {
            truncated = 1;
            break;
        }
        buf_puts(out, "<member>");
        put_user(out, iam, q);
        buf_puts(out, "</member>");
        snprintf(last, sizeof(last), "%s", store_col_text(q, 0));
        n++;
    }
    buf_puts(out, "</Users>");
    put_page_end(out, truncated, last);
    store_finalize(q);
    store_read_end(iam->st);
    return 0;
}

static int update_user(struct api_call *call, const struct api_params *p, struct buf *out)
{
    (void)out;
    struct iam *iam = ctx_iam(call);
    const char *name, *new_name = api_params_get(p, "NewUserName");
    const char *new_path = api_params_get(p, "NewPath");
    int rc = name_param(call, p, "UserName", "userName", 128, &name);
    if (rc == 0 && new_name != NULL) {
        rc = name_param(call, p, "NewUserName", "newUserName", 64, &new_name);
    }
    if (rc < 0) {
        return rc;
    }
    store_lock(iam->st);
    if (!user_exists(iam, name)) {
        rc = user_missing(call, name);
    } else if (new_name != NULL && strcasecmp(new_name, name) != 0 && user_exists(iam, new_name)) {
        rc = err_set(&call->err, SL_E(IAM_ENTITY_EXISTS), "User with name %s already exists.",
                     new_name);
    } else {
        rc = store_begin(iam->st);
        if (rc == 0 && new_path != NULL) {
            rc = store_run(iam->st, "UPDATE iam_user SET path = ? WHERE name = ?", "ss", new_path,
                           name);
        }
        if (rc == 0 && new_name != NULL) {
            static const char *const renames[] = {
                "UPDATE iam_user SET name = ? WHERE name = ?",
                "UPDATE iam_key SET user_name = ? WHERE user_name = ?",
                "UPDATE iam_inline SET owner = ? WHERE kind = 'user' AND owner = ?",
                "UPDATE iam_attach SET owner = ? WHERE kind = 'user' AND owner = ?",
                "UPDATE iam_member SET user_name = ? WHERE user_name = ?",
                "UPDATE iam_tag SET owner = ? WHERE kind = 'user' AND owner = ?",
            };
            for (size_t i = 0; rc == 0 && i < sizeof(renames) / sizeof(renames[0]); i++) {
                rc = store_run(iam->st, renames[i], "ss", new_name, name);
            }
        }
        rc = rc == 0 ? store_commit(iam->st) : (store_rollback(iam->st), rc);
        if (rc < 0) {
            store_failed(call, rc);
        }
    }
    write_done(iam);
    return rc;
}

/* The count of rows sql (one ? for the name) finds. */
static int64_t count_of(struct iam *iam, const char *sql, const char *name)
{
    struct store_stmt *q = store_prepare_args(iam->st, sql, "s", name);
    int64_t n = q != NULL && store_step(q) == 1 ? store_col_int64(q, 0) : 0;
    store_finalize(q);
    return n;
}

static int delete_user(struct api_call *call, const struct api_params *p, struct buf *out)
{
    (void)out;
    struct iam *iam = ctx_iam(call);
    const char *name;
    int rc = name_param(call, p, "UserName", "userName", 128, &name);
    if (rc < 0) {
        return rc;
    }
    store_lock(iam->st);
    if (!user_exists(iam, name)) {
        rc = user_missing(call, name);
    } else if (count_of(iam, "SELECT count(*) FROM iam_key WHERE user_name = ?", name) > 0) {
        rc = err_set(&call->err, SL_E(IAM_DELETE_CONFLICT),
                     "Cannot delete entity, must delete access keys first.");
    } else if (count_of(iam, "SELECT count(*) FROM iam_inline WHERE kind = 'user' AND owner = ?",
                        name) > 0) {
        rc = err_set(&call->err, SL_E(IAM_DELETE_CONFLICT),
                     "Cannot delete entity, must delete policies first.");
    } else if (count_of(iam, "SELECT count(*) FROM iam_attach WHERE kind = 'user' AND owner = ?",
                        name) > 0) {
        rc = err_set(&call->err, SL_E(IAM_DELETE_CONFLICT),
                     "Cannot delete entity, must detach all policies first.");
    } else if (count_of(iam, "SELECT count(*) FROM iam_member WHERE user_name = ?", name) > 0) {
        rc = err_set(&call->err, SL_E(IAM_DELETE_CONFLICT),
                     "Cannot delete entity, must remove users from group first.");
    } else if ((rc = store_run(iam->st, "DELETE FROM iam_user WHERE name = ?", "s", name)) < 0 ||
               (rc = store_run(iam->st, "DELETE FROM iam_tag WHERE kind = 'user' AND owner = ?",
                               "s", name)) < 0) {
        store_failed(call, rc);
    }
    write_done(iam);
    return rc;
}

/* ---- access keys ---- */

#define ACCESS_KEYS_PER_USER 2

static int create_access_key(struct api_call *call, const struct api_params *p, struct buf *out)
{
    struct iam *iam = ctx_iam(call);
    const char *name;
    int rc = subject_user(call, p, &name);
    if (rc < 0) {
        return rc;
    }
    char key_id[24], secret[48];
    memcpy(key_id, "AKIA", 4);
    iam__random_chars(key_id + 4, 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
    iam__random_chars(secret, 40,
                      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    store_lock(iam->st);
    struct store_stmt *q =
        store_prepare_args(iam->st, "SELECT name FROM iam_user WHERE name = ?", "s", name);
    char canonical[130] = "";
    if (q != NULL && store_step(q) == 1) {
        snprintf(canonical, sizeof(canonical), "%s", store_col_text(q, 0));
    }
    store_finalize(q);
    if (canonical[0] == '\0') {
        rc = user_missing(call, name);
    } else if (count_of(iam, "SELECT count(*) FROM iam_key WHERE user_name = ?", name) >=
               ACCESS_KEYS_PER_USER) {
        rc = err_set(&call->err, SL_E(IAM_LIMIT_EXCEEDED),
                     "Cannot exceed quota for AccessKeysPerUser: %d", ACCESS_KEYS_PER_USER);
    } else if ((rc = store_run(iam->st,
                               "INSERT INTO iam_key (key_id, user_name, secret, status, created)"
                               " VALUES (?, ?, ?, 'Active', ?)",
                               "sssi", key_id, canonical, secret, call->req->now_ms)) < 0) {
        store_failed(call, rc);
    } else {
        buf_puts(out, "<AccessKey>");
        put_text(out, "UserName", canonical);
        put_text(out, "AccessKeyId", key_id);
        buf_puts(out, "<Status>Active</Status>");
        put_text(out, "SecretAccessKey", secret);
        put_date(out, "CreateDate", call->req->now_ms);
        buf_puts(out, "</AccessKey>");
    }
    write_done(iam);
    explicit_bzero(secret, sizeof(secret));
    return rc;
}

static int list_access_keys(struct api_call *call, const struct api_params *p, struct buf *out)
{
    struct iam *iam = ctx_iam(call);
    const char *name, *marker;
    int64_t max;
    int rc = subject_user(call, p, &name);
    if (rc < 0 || (rc = paging(call, p, &max, &marker)) < 0) {
        return rc;
    }
    store_read_begin(iam->st);
    if (!user_exists(iam, name)) {
        store_read_end(iam->st);
        return user_missing(call, name);
    }
    struct store_stmt *q = store_prepare_args(
        iam->st,
        "SELECT user_name, key_id, status, created FROM iam_key WHERE user_name = ? AND key_id > ?"
        " ORDER BY key_id LIMIT ?",
        "ssi", name, marker, max + 1);
    buf_puts(out, "<AccessKeyMetadata>");
    int64_t n = 0;
    int truncated = 0;
    char last[32] = "";
    while (q != NULL && store_step(q) == 1) {
        if (n == max) {
            truncated = 1;
            break;
        }
        buf_puts(out, "<member>");
        put_text(out, "UserName", store_col_text(q, 0));
        put_text(out, "AccessKeyId", store_col_text(q, 1));
        put_text(out, "Status", store_col_text(q, 2));
        put_date(out, "CreateDate", store_col_int64(q, 3));
        buf_puts(out, "</member>");
        snprintf(last, sizeof(last), "%s", store_col_text(q, 1));
        n++;
    }
    buf_puts(out, "</AccessKeyMetadata>");
    put_page_end(out, truncated, last);
    store_finalize(q);
    store_read_end(iam->st);
    return 0;
}

static int key_missing(struct api_call *call, const char *key_id)
{
    return err_set(&call->err, SL_E(IAM_NO_SUCH_ENTITY),
                   "The Access Key with id %s cannot be found.", key_id);
}

/* Update (status != NULL) or delete a key of a user. */
static int change_access_key(struct api_call *call, const struct api_params *p, int update)
{
    struct iam *iam = ctx_iam(call);
    const char *name, *key_id = api_params_get(p, "AccessKeyId");
    const char *status = api_params_get(p, "Status");
    int rc = subject_user(call, p, &name);
    if (rc < 0) {
        return rc;
    }
    if (key_id == NULL || strlen(key_id) < 16 || strlen(key_id) > 128) {
        return invalid(call, key_id, "accessKeyId",
                       "Member must have length greater than or equal to 16");
    }
    if (update &&
        (status == NULL || (strcmp(status, "Active") != 0 && strcmp(status, "Inactive") != 0))) {
        return invalid(call, status, "status",
                       "Member must satisfy enum value set: [Active, Inactive]");
    }
    store_lock(iam->st);
    if (!user_exists(iam, name)) {
        rc = user_missing(call, name);
    } else {
        rc = update ? store_run(iam->st,
                                "UPDATE iam_key SET status = ? WHERE key_id = ? AND user_name = ?",
                                "sss", status, key_id, name)
                    : store_run(iam->st, "DELETE FROM iam_key WHERE key_id = ? AND user_name = ?",
                                "ss", key_id, name);
        if (rc < 0) {
            store_failed(call, rc);
        } else if (store_changes(iam->st) == 0) {
            rc = key_missing(call, key_id);
        }
    }
    write_done(iam);
    return rc;
}

static int update_access_key(struct api_call *call, const struct api_params *p, struct buf *out)
{
    (void)out;
    return change_access_key(call, p, 1);
}

static int delete_access_key(struct api_call *call, const struct api_params *p, struct buf *out)
{
    (void)out;
    return change_access_key(call, p, 0);
}

static int get_access_key_last_used(struct api_call *call, const struct api_params *p,
                                    struct buf *out)
{
    struct iam *iam = ctx_iam(call);
    const char *key_id = api_params_get(p, "AccessKeyId");
    if (key_id == NULL) {
        return invalid(call, key_id, "accessKeyId", "");
    }
    store_read_begin(iam->st);
    struct store_stmt *q =
        store_prepare_args(iam->st, "SELECT user_name FROM iam_key WHERE key_id = ?", "s", key_id);
    int rc = 0;
    if (q != NULL && store_step(q) == 1 &&
        (call->req->principal_kind == HTTP_PRINCIPAL_ROOT ||
         strcmp(store_col_text(q, 0), call->req->principal_name) == 0)) {
        put_text(out, "UserName", store_col_text(q, 0));
        /* Last use is not tracked: answered as AWS answers for a key never used. */
        buf_puts(out, "<AccessKeyLastUsed><ServiceName>N/A</ServiceName><Region>N/A</Region>"
                      "</AccessKeyLastUsed>");
    } else {
        rc = key_missing(call, key_id);
    }
    store_finalize(q);
    store_read_end(iam->st);
    return rc;
}

/* ---- roles ---- */

#define ROLE_COLS "name, id, path, created, trust, description, max_session"

static void put_role(struct buf *b, const struct iam *iam, struct store_stmt *q)
{
    put_text(b, "Path", store_col_text(q, 2));
    put_text(b, "RoleName", store_col_text(q, 0));
    put_text(b, "RoleId", store_col_text(q, 1));
    buf_printf(b, "<Arn>arn:aws:iam::%s:role", iam->account_id);
    buf_xml_escape(b, store_col_text(q, 2), strlen(store_col_text(q, 2)));
    buf_xml_escape(b, store_col_text(q, 0), strlen(store_col_text(q, 0)));
    buf_puts(b, "</Arn>");
    put_date(b, "CreateDate", store_col_int64(q, 3));
    put_doc(b, "AssumeRolePolicyDocument", store_col_text(q, 4));
    if (!store_col_is_null(q, 5)) {
        put_text(b, "Description", store_col_text(q, 5));
    }
    buf_printf(b, "<MaxSessionDuration>%lld</MaxSessionDuration>",
               (long long)store_col_int64(q, 6));
}

static int role_missing(struct api_call *call, const char *name)
{
    return err_set(&call->err, SL_E(IAM_NO_SUCH_ENTITY), "The role with name %s cannot be found.",
                   name);
}

static int role_exists(struct iam *iam, const char *name)
{
    struct store_stmt *q =
        store_prepare_args(iam->st, "SELECT 1 FROM iam_role WHERE name = ?", "s", name);
    int found = q != NULL && store_step(q) == 1;
    store_finalize(q);
    return found;
}

static int group_exists(struct iam *iam, const char *name)
{
    struct store_stmt *q =
        store_prepare_args(iam->st, "SELECT 1 FROM iam_group WHERE name = ?", "s", name);
    int found = q != NULL && store_step(q) == 1;
    store_finalize(q);
    return found;
}

/* MaxSessionDuration: 3600..43200 seconds. */
static int max_session_param(struct api_call *call, const struct api_params *p, int64_t *out)
{
    const char *v = api_params_get(p, "MaxSessionDuration");
    if (v == NULL) {
        return 0;
    }
    char *end;
    long n = strtol(v, &end, 10);
    if (*end != '\0' || n < 3600 || n > 43200) {
        return invalid(call, v, "maxSessionDuration",
                       n < 3600 ? "Member must have value greater than or equal to 3600"
                                : "Member must have value less than or equal to 43200");
    }
    *out = n;
    return 0;
}

static int description_param(struct api_call *call, const struct api_params *p, const char **out)
{
    *out = api_params_get(p, "Description");
    if (*out != NULL && strlen(*out) > 1000) {
        return invalid(call, *out, "description",
                       "Member must have length less than or equal to 1000");
    }
    return 0;
}

static int create_role(struct api_call *call, const struct api_params *p, struct buf *out)
{
    struct iam *iam = ctx_iam(call);
    const char *name, *path, *desc;
    const char *trust = api_params_get(p, "AssumeRolePolicyDocument");
    int64_t max_session = 3600;
    int rc = name_param(call, p, "RoleName", "roleName", 64, &name);
    if (rc == 0 && trust == NULL) {
        rc = invalid(call, NULL, "assumeRolePolicyDocument", "");
    }
    if (rc < 0 || (rc = path_param(call, p, &path)) < 0 ||
        (rc = description_param(call, p, &desc)) < 0 ||
        (rc = max_session_param(call, p, &max_session)) < 0 ||
        (rc = iam__policydoc_check(trust, IAM_DOC_TRUST, &call->err)) < 0) {
        return rc;
    }
    char id[32];
    iam__new_id("AROA", id);
    store_lock(iam->st);
    if (role_exists(iam, name)) {
        write_done(iam);
        return err_set(&call->err, SL_E(IAM_ENTITY_EXISTS), "Role with name %s already exists.",
                       name);
    }
    rc = store_begin(iam->st);
    if (rc == 0) {
        rc = store_run(iam->st, "INSERT INTO iam_role (" ROLE_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?)",
                       "sssissi", name, id, path, call->req->now_ms, trust, desc, max_session);
    }
    if (rc == 0 && ((rc = store_tags(call, p, "role", name)) < 0 ||
                    (rc = boundary_on_create(call, p, "iam_role", name)) < 0)) {
        store_rollback(iam->st);
        write_done(iam);
        return rc;
    }
    rc = rc == 0 ? store_commit(iam->st) : (store_rollback(iam->st), rc);
    struct store_stmt *q =
        rc < 0 ? NULL
               : store_prepare_args(iam->st, "SELECT " ROLE_COLS " FROM iam_role WHERE name = ?",
                                    "s", name);
    if (q != NULL && store_step(q) == 1) {
        buf_puts(out, "<Role>");
        put_role(out, iam, q);
        put_boundary(out, iam, "iam_role", name);
        put_tags(out, iam, "role", name);
        buf_puts(out, "</Role>");
    } else {
        rc = rc < 0 ? rc : SL_E(INTERNAL);
    }
    store_finalize(q);
    write_done(iam);
    return rc < 0 ? store_failed(call, rc) : 0;
}

static int get_role(struct api_call *call, const struct api_params *p, struct buf *out)
{
    struct iam *iam = ctx_iam(call);
    const char *name;
    int rc = name_param(call, p, "RoleName", "roleName", 64, &name);
    if (rc < 0) {
        return rc;
    }
    store_read_begin(iam->st);
    struct store_stmt *q =
        store_prepare_args(iam->st, "SELECT " ROLE_COLS " FROM iam_role WHERE name = ?", "s", name);
    if (q != NULL && store_step(q) == 1) {
        buf_puts(out, "<Role>");
        put_role(out, iam, q);
        put_boundary(out, iam, "iam_role", name);
        put_tags(out, iam, "role", name);
        buf_puts(out, "</Role>");
    } else {
        rc = role_missing(call, name);
    }
    store_finalize(q);
    store_read_end(iam->st);
    return rc;
}

static int list_roles(struct api_call *call, const struct api_params *p, struct buf *out)
{
    struct iam *iam = ctx_iam(call);
    int64_t max;
    const char *marker;
    int rc = paging(call, p, &max, &marker);
    if (rc < 0) {
        return rc;
    }
    const char *prefix = api_params_get(p, "PathPrefix");
    store_read_begin(iam->st);
    struct store_stmt *q = store_prepare_args(
        iam->st,
        "SELECT " ROLE_COLS " FROM iam_role WHERE name > ? AND substr(path, 1, ?) = ?"
        " ORDER BY name LIMIT ?",
        "sisi", marker, (int64_t)strlen(prefix ? prefix : "/"), prefix ? prefix : "/", max + 1);
    buf_puts(out, "<Roles>");
    int64_t n = 0;
    char last[130] = "";
    int truncated = 0;
    while (q != NULL && store_step(q) == 1) {
        if (n == max) {
            truncated = 1;
            break;
        }
        buf_puts(out, "<member>");
        put_role(out, iam, q);
        buf_puts(out, "</member>");
        snprintf(last, sizeof(last), "%s", store_col_text(q, 0));
        n++;
    }
    buf_puts(out, "</Roles>");
    put_page_end(out, truncated, last);
    store_finalize(q);
    store_read_end(iam->st);
    return 0;
}

/* Runs one UPDATE of a role (sql binds its value as ?1 and the name as ?2). */
static int update_role_column(struct api_call *call, const char *name, const char *sql,
                              const char *fmt, const void *value)
{
    struct iam *iam = ctx_iam(call);
    store_lock(iam->st);
    int rc;
    if (!role_exists(iam, name)) {
        rc = role_missing(call, name);
    } else {
        rc = fmt[0] == 's' ? store_run(iam->st, sql, "ss", (const char *)value, name)
                           : store_run(iam->st, sql, "is", *(const int64_t *)value, name);
        if (rc < 0) {
            store_failed(call, rc);
        }
    }
    write_done(iam);
    return rc;
}

static int update_role(struct api_call *call, const struct api_params *p, struct buf *out)
{
    (void)out;
    const char *name, *desc;
    int64_t max_session = 0;
    int rc = name_param(call, p, "RoleName", "roleName", 64, &name);
    if (rc < 0 || (rc = description_param(call, p, &desc)) < 0 ||
        (rc = max_session_param(call, p, &max_session)) < 0) {
        return rc;
    }
    if (desc != NULL) {
        rc = update_role_column(call, name, "UPDATE iam_role SET description = ? WHERE name = ?",
                                "s", desc);
    }
    if (rc == 0 && max_session != 0) {
        rc = update_role_column(call, name, "UPDATE iam_role SET max_session = ? WHERE name = ?",
                                "i", &max_session);
    }
    if (rc == 0 && desc == NULL && max_session == 0) {
        store_read_begin(ctx_iam(call)->st);
        int found = role_exists(ctx_iam(call), name);
        store_read_end(ctx_iam(call)->st);
        rc = found ? 0 : role_missing(call, name);
    }
    return rc;
}

static int update_assume_role_policy(struct api_call *call, const struct api_params *p,
                                     struct buf *out)
{
    (void)out;
    const char *name, *doc = api_params_get(p, "PolicyDocument");
    int rc = name_param(call, p, "RoleName", "roleName", 64, &name);
    if (rc == 0 && doc == NULL) {
        rc = invalid(call, NULL, "policyDocument", "");
    }
    if (rc < 0 || (rc = iam__policydoc_check(doc, IAM_DOC_TRUST, &call->err)) < 0) {
        return rc;
    }
    return update_role_column(call, name, "UPDATE iam_role SET trust = ? WHERE name = ?", "s", doc);
}

static int delete_role(struct api_call *call, const struct api_params *p, struct buf *out)
{
    (void)out;
    struct iam *iam = ctx_iam(call);
    const char *name;
    int rc = name_param(call, p, "RoleName", "roleName", 64, &name);
    if (rc < 0) {
        return rc;
    }
    store_lock(iam->st);
    if (!role_exists(iam, name)) {
        rc = role_missing(call, name);
    } else if (count_of(iam, "SELECT count(*) FROM iam_inline WHERE kind = 'role' AND owner = ?",
                        name) > 0) {
        rc = err_set(&call->err, SL_E(IAM_DELETE_CONFLICT),
                     "Cannot delete entity, must delete policies first.");
    } else if (count_of(iam, "SELECT count(*) FROM iam_attach WHERE kind = 'role' AND owner = ?",
                        name) > 0) {
        rc = err_set(&call->err, SL_E(IAM_DELETE_CONFLICT),
                     "Cannot delete entity, must detach all policies first.");
    } else if ((rc = store_run(iam->st, "DELETE FROM iam_role WHERE name = ?", "s", name)) < 0 ||
               (rc = store_run(iam->st, "DELETE FROM iam_tag WHERE kind = 'role' AND owner = ?",
                               "s", name)) < 0) {
        store_failed(call, rc);
    }
    write_done(iam);
    return rc;
}

/* ---- inline policies of users and roles ---- */

struct owner_kind {
    const char *kind;      /* iam_inline.kind */
    const char *field;     /* "UserName" */
    const char *member;    /* "userName" */
    const char *noun;      /* "user" */
    enum iam_doc_kind doc; /* its size limit */
};

static const struct owner_kind user_owner = {"user", "UserName", "userName", "user", IAM_DOC_USER};
static const struct owner_kind role_owner = {"role", "RoleName", "roleName", "role", IAM_DOC_ROLE};
static const struct owner_kind group_owner = {"group", "GroupName", "groupName", "group",
                                              IAM_DOC_GROUP};

static int owner_exists(struct iam *iam, const struct owner_kind *k, const char *name)
{
    return strcmp(k->kind, "user") == 0    ? user_exists(iam, name)
           : strcmp(k->kind, "group") == 0 ? group_exists(iam, name)
                                           : role_exists(iam, name);
}

static int owner_missing(struct api_call *call, const struct owner_kind *k, const char *name)
{
    return err_set(&call->err, SL_E(IAM_NO_SUCH_ENTITY), "The %s with name %s cannot be found.",
                   k->noun, name);
}

static int owner_param(struct api_call *call, const struct api_params *p,
                       const struct owner_kind *k, const char **name)
{
    if (strcmp(k->kind, "user") == 0) {
        return subject_user(call, p, name);
    }
    return name_param(call, p, k->field, k->member, 64, name);
}

static int put_policy(struct api_call *call, const struct api_params *p, const struct owner_kind *k)
{
    struct iam *iam = ctx_iam(call);
    const char *owner, *policy, *doc = api_params_get(p, "PolicyDocument");
    int rc = owner_param(call, p, k, &owner);
    if (rc == 0) {
        rc = name_param(call, p, "PolicyName", "policyName", 128, &policy);
    }
    if (rc == 0 && doc == NULL) {
        rc = invalid(call, NULL, "policyDocument", "");
    }
    if (rc < 0 || (rc = iam__policydoc_check(doc, k->doc, &call->err)) < 0) {
        return rc;
    }
    store_lock(iam->st);
    if (!owner_exists(iam, k, owner)) {
        rc = owner_missing(call, k, owner);
    } else if ((rc = store_run(iam->st,
                               "INSERT INTO iam_inline (kind, owner, name, doc) VALUES (?, ?, ?, ?)"
                               " ON CONFLICT (kind, owner, name) DO UPDATE SET doc = excluded.doc",
                               "ssss", k->kind, owner, policy, doc)) < 0) {
        store_failed(call, rc);
    }
    write_done(iam);
    return rc;
}

static int policy_missing(struct api_call *call, const struct owner_kind *k, const char *name)
{
    return err_set(&call->err, SL_E(IAM_NO_SUCH_ENTITY),
                   "The %s policy with name %s cannot be found.", k->noun, name);
}

static int get_policy(struct api_call *call, const struct api_params *p, const struct owner_kind *k,
                      struct buf *out)
{
    struct iam *iam = ctx_iam(call);
    const char *owner, *policy;
    int rc = owner_param(call, p, k, &owner);
    if (rc < 0 || (rc = name_param(call, p, "PolicyName", "policyName", 128, &policy)) < 0) {
        return rc;
    }
    store_read_begin(iam->st);
    struct store_stmt *q =
        owner_exists(iam, k, owner)
            ? store_prepare_args(iam->st,
                                 "SELECT owner, doc FROM iam_inline WHERE kind = ? AND owner = ?"
                                 " AND name = ?",
                                 "sss", k->kind, owner, policy)
            : NULL;
    if (q == NULL) {
        rc = owner_missing(call, k, owner);
    } else if (store_step(q) == 1) {
        char tag[16];
        snprintf(tag, sizeof(tag), "%s", k->field);
        put_text(out, tag, store_col_text(q, 0));
        put_text(out, "PolicyName", policy);
        put_doc(out, "PolicyDocument", store_col_text(q, 1));
    } else {
        rc = policy_missing(call, k, policy);
    }
    store_finalize(q);
    store_read_end(iam->st);
    return rc;
}

static int list_policies_of(struct api_call *call, const struct api_params *p,
                            const struct owner_kind *k, struct buf *out)
{
    struct iam *iam = ctx_iam(call);
    const char *owner, *marker;
    int64_t max;
    int rc = owner_param(call, p, k, &owner);
    if (rc < 0 || (rc = paging(call, p, &max, &marker)) < 0) {
        return rc;
    }
    store_read_begin(iam->st);
    if (!owner_exists(iam, k, owner)) {
        store_read_end(iam->st);
        return owner_missing(call, k, owner);
    }
    struct store_stmt *q = store_prepare_args(
        iam->st,
        "SELECT name FROM iam_inline WHERE kind = ? AND owner = ? AND name > ? ORDER BY name"
        " LIMIT ?",
        "sssi", k->kind, owner, marker, max + 1);
    buf_puts(out, "<PolicyNames>");
    int64_t n = 0;
    int truncated = 0;
    char last[130] = "";
    while (q != NULL && store_step(q) == 1) {
        if (n == max) {
            truncated = 1;
            break;
        }
        put_text(out, "member", store_col_text(q, 0));
        snprintf(last, sizeof(last), "%s", store_col_text(q, 0));
        n++;
    }
    buf_puts(out, "</PolicyNames>");
    put_page_end(out, truncated, last);
    store_finalize(q);
    store_read_end(iam->st);
    return 0;
}

static int delete_policy_of(struct api_call *call, const struct api_params *p,
                            const struct owner_kind *k)
{
    struct iam *iam = ctx_iam(call);
    const char *owner, *policy;
    int rc = owner_param(call, p, k, &owner);
    if (rc < 0 || (rc = name_param(call, p, "PolicyName", "policyName", 128, &policy)) < 0) {
        return rc;
    }
    store_lock(iam->st);
    if (!owner_exists(iam, k, owner)) {
        rc = owner_missing(call, k, owner);
    } else if ((rc = store_run(iam->st,
                               "DELETE FROM iam_inline WHERE kind = ? AND owner = ? AND name = ?",
                               "sss", k->kind, owner, policy)) < 0) {
        store_failed(call, rc);
    } else if (store_changes(iam->st) == 0) {
        rc = policy_missing(call, k, policy);
    }
    write_done(iam);
    return rc;
}

#define INLINE_OPS(Kind, owner)                                                                    \
    static int put_##owner##_policy(struct api_call *call, const struct api_params *p,             \
                                    struct buf *out)                                               \
    {                                                                                              \
        (void)out;                                                                                 \
        return put_policy(call, p, &owner##_owner);                                                \
    }                                                                                              \
    static int get_##owner##_policy(struct api_call *call, const struct api_params *p,             \
                                    struct buf *out)                                               \
    {                                                                                              \
        return get_policy(call, p, &owner##_owner, out);                                           \
    }                                                                                              \
    static int list_##owner##_policies(struct api_call *call, const struct api_params *p,          \
                                       struct buf *out)                                            \
    {                                                                                              \
        return list_policies_of(call, p, &owner##_owner, out);                                     \
    }                                                                                              \
    static int delete_##owner##_policy(struct api_call *call, const struct api_params *p,          \
                                       struct buf *out)                                            \
    {                                                                                              \
        (void)out;                                                                                 \
        return delete_policy_of(call, p, &owner##_owner);                                          \
    }

INLINE_OPS(User, user)
INLINE_OPS(Role, role)
INLINE_OPS(Group, group)

/* ---- groups and membership ---- */

static void put_group(struct buf *b, const struct iam *iam, struct store_stmt *q)
{
    /* columns: name, id, path, created */
    put_text(b, "Path", store_col_text(q, 2));
    put_text(b, "GroupName", store_col_text(q, 0));
    put_text(b, "GroupId", store_col_text(q, 1));
    buf_printf(b, "<Arn>arn:aws:iam::%s:group", iam->account_id);
    buf_xml_escape(b, store_col_text(q, 2), strlen(store_col_text(q, 2)));
    buf_xml_escape(b, store_col_text(q, 0), strlen(store_col_text(q, 0)));
    buf_puts(b, "</Arn>");
    put_date(b, "CreateDate", store_col_int64(q, 3));
}

static int group_missing(struct api_call *call, const char *name)
{
    return err_set(&call->err, SL_E(IAM_NO_SUCH_ENTITY), "The group with name %s cannot be found.",
                   name);
}

static int create_group(struct api_call *call, const struct api_params *p, struct buf *out)
{
    struct iam *iam = ctx_iam(call);
    const char *name, *path;
    int rc = name_param(call, p, "GroupName", "groupName", 128, &name);
    if (rc < 0 || (rc = path_param(call, p, &path)) < 0) {
        return rc;
    }
    char id[32];
    iam__new_id("AGPA", id);
    store_lock(iam->st);
    if (group_exists(iam, name)) {
        write_done(iam);
        return err_set(&call->err, SL_E(IAM_ENTITY_EXISTS), "Group with name %s already exists.",
                       name);
    }
    rc = store_run(iam->st, "INSERT INTO iam_group (name, id, path, created) VALUES (?, ?, ?, ?)",
                   "sssi", name, id, path, call->req->now_ms);
    struct store_stmt *q = rc < 0 ? NULL
                                  : store_prepare_args(iam->st,
                                                       "SELECT name, id, path, created FROM "
                                                       "iam_group WHERE name = ?",
                                                       "s", name);
    if (q != NULL && store_step(q) == 1) {
        buf_puts(out, "<Group>");
        put_group(out, iam, q);
        buf_puts(out, "</Group>");
    } else {
        rc = rc < 0 ? rc : SL_E(INTERNAL);
    }
    store_finalize(q);
    write_done(iam);
    return rc < 0 ? store_failed(call, rc) : 0;
}

static int get_group(struct api_call *call, const struct api_params *p, struct buf *out)
{
    struct iam *iam = ctx_iam(call);
    const char *name, *marker;
    int64_t max;
    int rc = name_param(call, p, "GroupName", "groupName", 128, &name);
    if (rc < 0 || (rc = paging(call, p, &max, &marker)) < 0) {
        return rc;
    }
    store_read_begin(iam->st);
    struct store_stmt *q = store_prepare_args(
        iam->st, "SELECT name, id, path, created FROM iam_group WHERE name = ?", "s", name);
    if (q == NULL || store_step(q) != 1) {
        store_finalize(q);
        store_read_end(iam->st);
        return group_missing(call, name);
    }
    buf_puts(out, "<Group>");
    put_group(out, iam, q);
    buf_puts(out, "</Group><Users>");
    store_finalize(q);
    q = store_prepare_args(
        iam->st,
        "SELECT u.name, u.id, u.path, u.created FROM iam_member m JOIN iam_user u"
        " ON u.name = m.user_name WHERE m.group_name = ? AND u.name > ?"
        " ORDER BY u.name LIMIT ?",
        "ssi", name, marker, max + 1);
    int64_t n = 0;
    int truncated = 0;
    char last[130] = "";
    while (q != NULL && store_step(q) == 1) {
        if (n == max) {
            truncated = 1;
            break;
        }
        buf_puts(out, "<member>");
        put_user(out, iam, q);
        buf_puts(out, "</member>");
        snprintf(last, sizeof(last), "%s", store_col_text(q, 0));
        n++;
    }
    buf_puts(out, "</Users>");
    put_page_end(out, truncated, last);
    store_finalize(q);
    store_read_end(iam->st);
    return 0;
}

/* ListGroups (user NULL) or ListGroupsForUser. */
static int list_groups_of(struct api_call *call, const struct api_params *p, const char *user,
                          struct buf *out)
{
    struct iam *iam = ctx_iam(call);
    int64_t max;
    const char *marker;
    int rc = paging(call, p, &max, &marker);
    if (rc < 0) {
        return rc;
    }
    const char *prefix = api_params_get(p, "PathPrefix");
    store_read_begin(iam->st);
    if (user != NULL && !user_exists(iam, user)) {
        store_read_end(iam->st);
        return user_missing(call, user);
    }
    struct store_stmt *q =
        user == NULL
            ? store_prepare_args(iam->st,
                                 "SELECT name, id, path, created FROM iam_group WHERE name > ?"
                                 " AND substr(path, 1, ?) = ? ORDER BY name LIMIT ?",
                                 "sisi", marker, (int64_t)strlen(prefix ? prefix : "/"),
                                 prefix ? prefix : "/", max + 1)
            : store_prepare_args(iam->st,
                                 "SELECT g.name, g.id, g.path, g.created FROM iam_member m JOIN"
                                 " iam_group g ON g.name = m.group_name WHERE m.user_name = ?"
                                 " AND g.name > ? ORDER BY g.name LIMIT ?",
                                 "ssi", user, marker, max + 1);
    buf_puts(out, "<Groups>");
    int64_t n = 0;
    int truncated = 0;
    char last[130] = "";
    while (q != NULL && store_step(q) == 1) {
        if (n == max) {
            truncated = 1;
            break;
        }
        buf_puts(out, "<member>");
        put_group(out, iam, q);
        buf_puts(out, "</member>");
        snprintf(last, sizeof(last), "%s", store_col_text(q, 0));
        n++;
    }
    buf_puts(out, "</Groups>");
    put_page_end(out, truncated, last);
    store_finalize(q);
    store_read_end(iam->st);
    return 0;
}

static int list_groups(struct api_call *call, const struct api_params *p, struct buf *out)
{
    return list_groups_of(call, p, NULL, out);
}

static int list_groups_for_user(struct api_call *call, const struct api_params *p, struct buf *out)
{
    const char *user;
    int rc = subject_user(call, p, &user);
    return rc < 0 ? rc : list_groups_of(call, p, user, out);
}

/* Adds (add 1) or removes a user from a group. */
static int membership(struct api_call *call, const struct api_params *p, int add)
{
    struct iam *iam = ctx_iam(call);
    const char *group, *user;
    int rc = name_param(call, p, "GroupName", "groupName", 128, &group);
    if (rc < 0 || (rc = name_param(call, p, "UserName", "userName", 128, &user)) < 0) {
        return rc;
    }
    store_lock(iam->st);
    if (!group_exists(iam, group)) {
        rc = group_missing(call, group);
    } else if (!user_exists(iam, user)) {
        rc = user_missing(call, user);
    } else {
        rc = add ? store_run(iam->st,
                             "INSERT OR IGNORE INTO iam_member (group_name, user_name)"
                             " SELECT g.name, u.name FROM iam_group g, iam_user u"
                             " WHERE g.name = ? AND u.name = ?",
                             "ss", group, user)
                 : store_run(iam->st,
                             "DELETE FROM iam_member WHERE group_name = ? AND user_name = ?", "ss",
                             group, user);
        if (rc < 0) {
            store_failed(call, rc);
        } else if (!add && store_changes(iam->st) == 0) {
            rc = err_set(&call->err, SL_E(IAM_NO_SUCH_ENTITY),
                         "The user with name %s cannot be found.", user);
        }
    }
    write_done(iam);
    return rc;
}

static int add_user_to_group(struct api_call *call, const struct api_params *p, struct buf *out)
{
    (void)out;
    return membership(call, p, 1);
}

static int remove_user_from_group(struct api_call *call, const struct api_params *p,
                                  struct buf *out)
{
    (void)out;
    return membership(call, p, 0);
}

static int delete_group(struct api_call *call, const struct api_params *p, struct buf *out)
{
    (void)out;
    struct iam *iam = ctx_iam(call);
    const char *name;
    int rc = name_param(call, p, "GroupName", "groupName", 128, &name);
    if (rc < 0) {
        return rc;
    }
    store_lock(iam->st);
    if (!group_exists(iam, name)) {
        rc = group_missing(call, name);
    } else if (count_of(iam, "SELECT count(*) FROM iam_member WHERE group_name = ?", name) > 0) {
        rc = err_set(&call->err, SL_E(IAM_DELETE_CONFLICT),
                     "Cannot delete entity, must remove users from group first.");
    } else if (count_of(iam, "SELECT count(*) FROM iam_inline WHERE kind = 'group' AND owner = ?",
                        name) > 0) {
        rc = err_set(&call->err, SL_E(IAM_DELETE_CONFLICT),
                     "Cannot delete entity, must delete policies first.");
    } else if (count_of(iam, "SELECT count(*) FROM iam_attach WHERE kind = 'group' AND owner = ?",
                        name) > 0) {
        rc = err_set(&call->err, SL_E(IAM_DELETE_CONFLICT),
                     "Cannot delete entity, must detach all policies first.");
    } else if ((rc = store_run(iam->st, "DELETE FROM iam_group WHERE name = ?", "s", name)) < 0) {
        store_failed(call, rc);
    }
    write_done(iam);
    return rc;
}

/* ---- managed policies ---- */

#define POLICY_VERSIONS_MAX 5
#define POLICY_COLS                                                                                \
    "p.name, p.id, p.path, p.arn, p.created, p.updated, p.default_version, p.description,"         \
    " (SELECT count(*) FROM iam_attach a WHERE a.arn = p.arn),"                                  \
    " (SELECT count(*) FROM iam_user u WHERE u.boundary = p.arn)"                                 \
    " + (SELECT count(*) FROM iam_role r WHERE r.boundary = p.arn)"

static void put_managed(struct buf *b, struct store_stmt *q)
{
    put_text(b, "PolicyName", store_col_text(q, 0));
    put_text(b, "PolicyId", store_col_text(q, 1));
    put_text(b, "Arn", store_col_text(q, 3));
    put_text(b, "Path", store_col_text(q, 2));
    buf_printf(b, "<DefaultVersionId>v%lld</DefaultVersionId>", (long long)store_col_int64(q, 6));
    buf_printf(b, "<AttachmentCount>%lld</AttachmentCount>", (long long)store_col_int64(q, 8));
    buf_printf(b, "<PermissionsBoundaryUsageCount>%lld</PermissionsBoundaryUsageCount>",
               (long long)store_col_int64(q, 9));
    buf_puts(b, "<IsAttachable>true</IsAttachable>");
    if (!store_col_is_null(q, 7)) {
        put_text(b, "Description", store_col_text(q, 7));
    }
    put_date(b, "CreateDate", store_col_int64(q, 4));
    put_date(b, "UpdateDate", store_col_int64(q, 5));
}

static int policy_arn_missing(struct api_call *call, const char *arn)
{
    return err_set(&call->err, SL_E(IAM_NO_SUCH_ENTITY),
                   "Policy %s does not exist or is not attachable.", arn);
}

static int policy_exists(struct iam *iam, const char *arn)
{
    struct store_stmt *q =
        store_prepare_args(iam->st, "SELECT 1 FROM iam_policy WHERE arn = ?", "s", arn);
    int found = q != NULL && store_step(q) == 1;
    store_finalize(q);
    return found;
}

/* A policy ARN in field (member: its name in validation messages). */
static int policy_arn_member(struct api_call *call, const struct api_params *p, const char *field,
                             const char *member, const char **out)
{
    *out = api_params_get(p, field);
    if (*out == NULL) {
        return invalid(call, NULL, member, "");
    }
    if (strlen(*out) < 20 || strlen(*out) > 2048) {
        return invalid(call, *out, member, "Member must have length greater than or equal to 20");
    }
    if (strncmp(*out, "arn:aws:iam::", 13) != 0) {
        return err_set(&call->err, SL_E(INVALID_INPUT_IAM), "ARN %s is not valid.", *out);
    }
    return 0;
}

static int arn_param(struct api_call *call, const struct api_params *p, const char **out)
{
    return policy_arn_member(call, p, "PolicyArn", "policyArn", out);
}

/* Writes the policy row of arn as <Policy> (inside a bracket). */
static int put_policy_of(struct iam *iam, const char *arn, struct buf *out)
{
    struct store_stmt *q = store_prepare_args(
        iam->st, "SELECT " POLICY_COLS " FROM iam_policy p WHERE p.arn = ?", "s", arn);
    int rc = SL_E(IAM_NO_SUCH_ENTITY);
    if (q != NULL && store_step(q) == 1) {
        buf_puts(out, "<Policy>");
        put_managed(out, q);
        buf_puts(out, "</Policy>");
        rc = 0;
    }
    store_finalize(q);
    return rc;
}

static int create_policy(struct api_call *call, const struct api_params *p, struct buf *out)
{
    struct iam *iam = ctx_iam(call);
    const char *name, *path, *desc, *doc = api_params_get(p, "PolicyDocument");
    int rc = name_param(call, p, "PolicyName", "policyName", 128, &name);
    if (rc == 0 && doc == NULL) {
        rc = invalid(call, NULL, "policyDocument", "");
    }
    if (rc < 0 || (rc = path_param(call, p, &path)) < 0 ||
        (rc = description_param(call, p, &desc)) < 0 ||
        (rc = iam__policydoc_check(doc, IAM_DOC_MANAGED, &call->err)) < 0) {
        return rc;
    }
    char id[32], arn[700];
    iam__new_id("ANPA", id);
    snprintf(arn, sizeof(arn), "arn:aws:iam::%s:policy%s%s", iam->account_id, path, name);
    store_lock(iam->st);
    struct store_stmt *dup = store_prepare_args(
        iam->st, "SELECT 1 FROM iam_policy WHERE name = ? AND builtin = 0", "s", name);
    int exists = dup != NULL && store_step(dup) == 1;
    store_finalize(dup);
    if (exists) {
        write_done(iam);
        return err_set(&call->err, SL_E(IAM_ENTITY_EXISTS),
                       "A policy called %s already exists. Duplicate names are not allowed.", name);
    }
    int64_t now = call->req->now_ms;
    rc = store_begin(iam->st);
    if (rc == 0) {
        rc = store_run(iam->st,
                       "INSERT INTO iam_policy (arn, name, id, path, created, updated,"
                       " default_version, next_version, description) VALUES (?, ?, ?, ?, ?, ?, 1,"
                       " 2, ?)",
                       "ssssiis", arn, name, id, path, now, now, desc);
    }
    if (rc == 0) {
        rc = store_run(iam->st,
                       "INSERT INTO iam_policy_version (arn, version, doc, created) VALUES (?, 1,"
                       " ?, ?)",
                       "ssi", arn, doc, now);
    }
    if (rc == 0 && (rc = store_tags(call, p, "policy", arn)) < 0) {
        store_rollback(iam->st);
        write_done(iam);
        return rc;
    }
    rc = rc == 0 ? store_commit(iam->st) : (store_rollback(iam->st), rc);
    if (rc == 0) {
        rc = put_policy_of(iam, arn, out);
    }
    write_done(iam);
    return rc < 0 ? store_failed(call, rc) : 0;
}

static int get_managed_policy(struct api_call *call, const struct api_params *p, struct buf *out)
{
    struct iam *iam = ctx_iam(call);
    const char *arn;
    int rc = arn_param(call, p, &arn);
    if (rc < 0) {
        return rc;
    }
    store_read_begin(iam->st);
    rc = put_policy_of(iam, arn, out);
    store_read_end(iam->st);
    return rc < 0 ? policy_arn_missing(call, arn) : 0;
}

static int list_managed_policies(struct api_call *call, const struct api_params *p, struct buf *out)
{
    struct iam *iam = ctx_iam(call);
    int64_t max;
    const char *marker;
    int rc = paging(call, p, &max, &marker);
    if (rc < 0) {
        return rc;
    }
    const char *scope = api_params_get(p, "Scope");
    const char *only = api_params_get(p, "OnlyAttached");
    const char *prefix = api_params_get(p, "PathPrefix");
    if (scope == NULL) {
        scope = "All";
    }
    if (strcmp(scope, "All") != 0 && strcmp(scope, "AWS") != 0 && strcmp(scope, "Local") != 0) {
        return invalid(call, scope, "scope",
                       "Member must satisfy enum value set: [All, AWS, Local]");
    }
    int64_t builtin_lo = strcmp(scope, "Local") == 0 ? 0 : strcmp(scope, "AWS") == 0 ? 1 : 0;
    int64_t builtin_hi = strcmp(scope, "Local") == 0 ? 0 : 1;
    int64_t attached = only != NULL && strcmp(only, "true") == 0;
    store_read_begin(iam->st);
    struct store_stmt *q = store_prepare_args(
        iam->st,
        "SELECT " POLICY_COLS " FROM iam_policy p WHERE p.arn > ? AND p.builtin BETWEEN ? AND ?"
        " AND substr(p.path, 1, ?) = ? AND (? = 0 OR EXISTS (SELECT 1 FROM iam_attach a WHERE"
        " a.arn = p.arn)) ORDER BY p.arn LIMIT ?",
        "siiisii", marker, builtin_lo, builtin_hi, (int64_t)strlen(prefix ? prefix : "/"),
        prefix ? prefix : "/", attached, max + 1);
    buf_puts(out, "<Policies>");
    int64_t n = 0;
    int truncated = 0;
    char last[700] = "";
    while (q != NULL && store_step(q) == 1) {
        if (n == max) {
            truncated = 1;
            break;
        }
        buf_puts(out, "<member>");
        put_managed(out, q);
        buf_puts(out, "</member>");
        snprintf(last, sizeof(last), "%s", store_col_text(q, 3));
        n++;
    }
    buf_puts(out, "</Policies>");
    put_page_end(out, truncated, last);
    store_finalize(q);
    store_read_end(iam->st);
    return 0;
}

/* 1 when arn is one of AWS's own policies, which nobody may change. */
static int is_aws_policy(const char *arn)
{
    return strncmp(arn, "arn:aws:iam::aws:", 17) == 0;
}

static int delete_managed_policy(struct api_call *call, const struct api_params *p, struct buf *out)
{
    (void)out;
    struct iam *iam = ctx_iam(call);
    const char *arn;
    int rc = arn_param(call, p, &arn);
    if (rc < 0) {
        return rc;
    }
    store_lock(iam->st);
    if (!policy_exists(iam, arn) || is_aws_policy(arn)) {
        rc = is_aws_policy(arn)
                 ? err_set(&call->err, SL_E(INVALID_INPUT_IAM), "ARN %s is not valid.", arn)
                 : policy_arn_missing(call, arn);
    } else if (count_of(iam, "SELECT count(*) FROM iam_attach WHERE arn = ?", arn) > 0 ||
               count_of(iam, "SELECT count(*) FROM iam_user WHERE boundary = ?", arn) > 0 ||
               count_of(iam, "SELECT count(*) FROM iam_role WHERE boundary = ?", arn) > 0) {
        rc = err_set(&call->err, SL_E(IAM_DELETE_CONFLICT),
                     "Cannot delete a policy attached to entities.");
    } else if (count_of(iam, "SELECT count(*) FROM iam_policy_version WHERE arn = ?", arn) > 1) {
        rc = err_set(&call->err, SL_E(IAM_DELETE_CONFLICT),
                     "This policy has more than one version. Before you delete a policy, you "
                     "must delete the policy's versions. The default version is deleted with "
                     "the policy.");
    } else {
        rc = store_run(iam->st, "DELETE FROM iam_policy_version WHERE arn = ?", "s", arn);
        if (rc == 0) {
            rc = store_run(iam->st, "DELETE FROM iam_policy WHERE arn = ?", "s", arn);
        }
        if (rc == 0) {
            rc = store_run(iam->st, "DELETE FROM iam_tag WHERE kind = 'policy' AND owner = ?", "s",
                           arn);
        }
        if (rc < 0) {
            store_failed(call, rc);
        }
    }
    write_done(iam);
    return rc;
}

static void put_version(struct buf *b, int64_t version, int64_t dflt, int64_t created,
                        const char *doc)
{
    if (doc != NULL) {
        put_doc(b, "Document", doc);
    }
    buf_printf(b, "<VersionId>v%lld</VersionId><IsDefaultVersion>%s</IsDefaultVersion>",
               (long long)version, version == dflt ? "true" : "false");
    put_date(b, "CreateDate", created);
}

/* "v3" → 3; 0 when not a version id. */
static int64_t version_number(const char *v)
{
    if (v == NULL || v[0] != 'v' || v[1] < '1' || v[1] > '9') {
        return 0;
    }
    char *end;
    long long n = strtoll(v + 1, &end, 10);
    return *end == '\0' ? n : 0;
}

/* The default version of a policy, 0 when there is no such policy (inside a bracket). */
static int64_t default_version(struct iam *iam, const char *arn)
{
    struct store_stmt *q = store_prepare_args(
        iam->st, "SELECT default_version FROM iam_policy WHERE arn = ?", "s", arn);
    int64_t v = q != NULL && store_step(q) == 1 ? store_col_int64(q, 0) : 0;
    store_finalize(q);
    return v;
}

static int create_policy_version(struct api_call *call, const struct api_params *p, struct buf *out)
{
    struct iam *iam = ctx_iam(call);
    const char *arn, *doc = api_params_get(p, "PolicyDocument");
    const char *set = api_params_get(p, "SetAsDefault");
    int rc = arn_param(call, p, &arn);
    if (rc == 0 && doc == NULL) {
        rc = invalid(call, NULL, "policyDocument", "");
    }
    if (rc < 0 || (rc = iam__policydoc_check(doc, IAM_DOC_MANAGED, &call->err)) < 0) {
        return rc;
    }
    int as_default = set != NULL && strcmp(set, "true") == 0;
    store_lock(iam->st);
    struct store_stmt *q =
        store_prepare_args(iam->st,
                           "SELECT next_version, default_version FROM iam_policy WHERE arn = ? AND"
                           " builtin = 0",
                           "s", arn);
    int64_t next = 0, dflt = 0;
    if (q != NULL && store_step(q) == 1) {
        next = store_col_int64(q, 0);
        dflt = store_col_int64(q, 1);
    }
    store_finalize(q);
    int64_t now = call->req->now_ms;
    if (next == 0) {
        rc = policy_arn_missing(call, arn);
    } else if (count_of(iam, "SELECT count(*) FROM iam_policy_version WHERE arn = ?", arn) >=
               POLICY_VERSIONS_MAX) {
        rc = err_set(&call->err, SL_E(IAM_LIMIT_EXCEEDED),
                     "A managed policy can have up to %d versions. Before you create a new "
                     "version, you must delete an existing version.",
                     POLICY_VERSIONS_MAX);
    } else {
        dflt = as_default ? next : dflt;
        rc = store_begin(iam->st);
        if (rc == 0) {
            rc = store_run(iam->st,
                           "INSERT INTO iam_policy_version (arn, version, doc, created) VALUES"
                           " (?, ?, ?, ?)",
                           "sisi", arn, next, doc, now);
        }
        if (rc == 0) {
            rc = store_run(iam->st,
                           "UPDATE iam_policy SET next_version = ?, default_version = ?,"
                           " updated = ? WHERE arn = ?",
                           "iiis", next + 1, dflt, now, arn);
        }
        rc = rc == 0 ? store_commit(iam->st) : (store_rollback(iam->st), rc);
        if (rc < 0) {
            store_failed(call, rc);
        } else {
            buf_puts(out, "<PolicyVersion>");
            put_version(out, next, dflt, now, NULL);
            buf_puts(out, "</PolicyVersion>");
        }
    }
    write_done(iam);
    return rc;
}

static int version_missing(struct api_call *call, const char *arn, const char *v)
{
    return err_set(&call->err, SL_E(IAM_NO_SUCH_ENTITY),
                   "Policy %s version %s does not exist or is not attachable.", arn, v);
}

static int version_param(struct api_call *call, const struct api_params *p, const char **v)
{
    *v = api_params_get(p, "VersionId");
    if (*v == NULL) {
        return invalid(call, NULL, "versionId", "");
    }
    if (version_number(*v) == 0) {
        return invalid(
            call, *v, "versionId",
            "Member must satisfy regular expression pattern: v[1-9][0-9]*(\\.[A-Za-z0-9-]*)?");
    }
    return 0;
}

static int get_policy_version(struct api_call *call, const struct api_params *p, struct buf *out)
{
    struct iam *iam = ctx_iam(call);
    const char *arn, *v;
    int rc = arn_param(call, p, &arn);
    if (rc < 0 || (rc = version_param(call, p, &v)) < 0) {
        return rc;
    }
    store_read_begin(iam->st);
    int64_t dflt = default_version(iam, arn);
    struct store_stmt *q = store_prepare_args(
        iam->st, "SELECT doc, created FROM iam_policy_version WHERE arn = ? AND version = ?", "si",
        arn, version_number(v));
    if (dflt != 0 && q != NULL && store_step(q) == 1) {
        buf_puts(out, "<PolicyVersion>");
        put_version(out, version_number(v), dflt, store_col_int64(q, 1), store_col_text(q, 0));
        buf_puts(out, "</PolicyVersion>");
    } else {
        rc = dflt == 0 ? policy_arn_missing(call, arn) : version_missing(call, arn, v);
    }
    store_finalize(q);
    store_read_end(iam->st);
    return rc;
}

static int list_policy_versions(struct api_call *call, const struct api_params *p, struct buf *out)
{
    struct iam *iam = ctx_iam(call);
    const char *arn, *marker;
    int64_t max;
    int rc = arn_param(call, p, &arn);
    if (rc < 0 || (rc = paging(call, p, &max, &marker)) < 0) {
        return rc;
    }
    store_read_begin(iam->st);
    int64_t dflt = default_version(iam, arn);
    if (dflt == 0) {
        store_read_end(iam->st);
        return policy_arn_missing(call, arn);
    }
    /* newest first, as IAM lists them */
    int64_t below = marker[0] != '\0' ? version_number(marker) : INT64_MAX;
    struct store_stmt *q = store_prepare_args(
        iam->st,
        "SELECT version, created FROM iam_policy_version WHERE arn = ? AND version < ?"
        " ORDER BY version DESC LIMIT ?",
        "sii", arn, below, max + 1);
    buf_puts(out, "<Versions>");
    int64_t n = 0;
    int truncated = 0;
    char last[24] = "";
    while (q != NULL && store_step(q) == 1) {
        if (n == max) {
            truncated = 1;
            break;
        }
        buf_puts(out, "<member>");
        put_version(out, store_col_int64(q, 0), dflt, store_col_int64(q, 1), NULL);
        buf_puts(out, "</member>");
        snprintf(last, sizeof(last), "v%lld", (long long)store_col_int64(q, 0));
        n++;
    }
    buf_puts(out, "</Versions>");
    put_page_end(out, truncated, last);
    store_finalize(q);
    store_read_end(iam->st);
    return 0;
}

/* SetDefaultPolicyVersion (set 1) or DeletePolicyVersion. */
static int change_policy_version(struct api_call *call, const struct api_params *p, int set)
{
    struct iam *iam = ctx_iam(call);
    const char *arn, *v;
    int rc = arn_param(call, p, &arn);
    if (rc < 0 || (rc = version_param(call, p, &v)) < 0) {
        return rc;
    }
    int64_t n = version_number(v);
    store_lock(iam->st);
    int64_t dflt = is_aws_policy(arn) ? 0 : default_version(iam, arn);
    struct store_stmt *q = store_prepare_args(
        iam->st, "SELECT 1 FROM iam_policy_version WHERE arn = ? AND version = ?", "si", arn, n);
    int found = q != NULL && store_step(q) == 1;
    store_finalize(q);
    if (dflt == 0) {
        rc = policy_arn_missing(call, arn);
    } else if (!found) {
        rc = version_missing(call, arn, v);
    } else if (!set && n == dflt) {
        rc = err_set(&call->err, SL_E(IAM_DELETE_CONFLICT),
                     "Cannot delete the default version of a policy.");
    } else {
        rc =
            set ? store_run(iam->st,
                            "UPDATE iam_policy SET default_version = ?, updated = ? WHERE arn = ?",
                            "iis", n, call->req->now_ms, arn)
                : store_run(iam->st, "DELETE FROM iam_policy_version WHERE arn = ? AND version = ?",
                            "si", arn, n);
        if (rc < 0) {
            store_failed(call, rc);
        }
    }
    write_done(iam);
    return rc;
}

static int set_default_policy_version(struct api_call *call, const struct api_params *p,
                                      struct buf *out)
{
    (void)out;
    return change_policy_version(call, p, 1);
}

static int delete_policy_version(struct api_call *call, const struct api_params *p, struct buf *out)
{
    (void)out;
    return change_policy_version(call, p, 0);
}

/* Attach (attach 1) or detach a managed policy to a user, group or role. */
static int attachment(struct api_call *call, const struct api_params *p, const struct owner_kind *k,
                      int attach)
{
    struct iam *iam = ctx_iam(call);
    const char *owner, *arn;
    int rc = name_param(call, p, k->field, k->member, 128, &owner);
    if (rc < 0 || (rc = arn_param(call, p, &arn)) < 0) {
        return rc;
    }
    store_lock(iam->st);
    if (!owner_exists(iam, k, owner)) {
        rc = owner_missing(call, k, owner);
    } else if (!policy_exists(iam, arn)) {
        rc = policy_arn_missing(call, arn);
    } else {
        rc = attach ? store_run(iam->st,
                                "INSERT OR IGNORE INTO iam_attach (kind, owner, arn) VALUES (?, ?,"
                                " ?)",
                                "sss", k->kind, owner, arn)
                    : store_run(iam->st,
                                "DELETE FROM iam_attach WHERE kind = ? AND owner = ? AND arn = ?",
                                "sss", k->kind, owner, arn);
        if (rc < 0) {
            store_failed(call, rc);
        } else if (!attach && store_changes(iam->st) == 0) {
            rc = err_set(&call->err, SL_E(IAM_NO_SUCH_ENTITY), "Policy %s was not found.", arn);
        }
    }
    write_done(iam);
    return rc;
}

static int list_attached(struct api_call *call, const struct api_params *p,
                         const struct owner_kind *k, struct buf *out)
{
    struct iam *iam = ctx_iam(call);
    const char *owner, *marker;
    int64_t max;
    int rc = name_param(call, p, k->field, k->member, 128, &owner);
    if (strcmp(k->kind, "user") == 0 && api_params_get(p, "UserName") == NULL) {
        rc = subject_user(call, p, &owner);
    }
    if (rc < 0 || (rc = paging(call, p, &max, &marker)) < 0) {
        return rc;
    }
    const char *prefix = api_params_get(p, "PathPrefix");
    store_read_begin(iam->st);
    if (!owner_exists(iam, k, owner)) {
        store_read_end(iam->st);
        return owner_missing(call, k, owner);
    }
    struct store_stmt *q = store_prepare_args(
        iam->st,
        "SELECT p.name, p.arn FROM iam_attach a JOIN iam_policy p ON p.arn = a.arn WHERE"
        " a.kind = ? AND a.owner = ? AND p.arn > ? AND substr(p.path, 1, ?) = ?"
        " ORDER BY p.arn LIMIT ?",
        "sssisi", k->kind, owner, marker, (int64_t)strlen(prefix ? prefix : "/"),
        prefix ? prefix : "/", max + 1);
    buf_puts(out, "<AttachedPolicies>");
    int64_t n = 0;
    int truncated = 0;
    char last[700] = "";
    while (q != NULL && store_step(q) == 1) {
        if (n == max) {
            truncated = 1;
            break;
        }
        buf_puts(out, "<member>");
        put_text(out, "PolicyName", store_col_text(q, 0));
        put_text(out, "PolicyArn", store_col_text(q, 1));
        buf_puts(out, "</member>");
        snprintf(last, sizeof(last), "%s", store_col_text(q, 1));
        n++;
    }
    buf_puts(out, "</AttachedPolicies>");
    put_page_end(out, truncated, last);
    store_finalize(q);
    store_read_end(iam->st);
    return 0;
}

static int list_entities_for_policy(struct api_call *call, const struct api_params *p,
                                    struct buf *out)
{
    struct iam *iam = ctx_iam(call);
    const char *arn;
    int rc = arn_param(call, p, &arn);
    if (rc < 0) {
        return rc;
    }
    const char *filter = api_params_get(p, "EntityFilter");
    store_read_begin(iam->st);
    if (!policy_exists(iam, arn)) {
        store_read_end(iam->st);
        return policy_arn_missing(call, arn);
    }
    static const struct {
        const char *filter, *element, *name_tag, *id_tag, *sql;
    } parts[] = {
        {"Group", "PolicyGroups", "GroupName", "GroupId",
         "SELECT g.name, g.id FROM iam_attach a JOIN iam_group g ON g.name = a.owner"
         " WHERE a.kind = 'group' AND a.arn = ? ORDER BY g.name"},
        {"User", "PolicyUsers", "UserName", "UserId",
         "SELECT u.name, u.id FROM iam_attach a JOIN iam_user u ON u.name = a.owner"
         " WHERE a.kind = 'user' AND a.arn = ? ORDER BY u.name"},
        {"Role", "PolicyRoles", "RoleName", "RoleId",
         "SELECT r.name, r.id FROM iam_attach a JOIN iam_role r ON r.name = a.owner"
         " WHERE a.kind = 'role' AND a.arn = ? ORDER BY r.name"},
    };
    for (size_t i = 0; i < 3; i++) {
        buf_printf(out, "<%s>", parts[i].element);
        if (filter == NULL || strcmp(filter, parts[i].filter) == 0) {
            struct store_stmt *q = store_prepare_args(iam->st, parts[i].sql, "s", arn);
            while (q != NULL && store_step(q) == 1) {
                buf_puts(out, "<member>");
                put_text(out, parts[i].name_tag, store_col_text(q, 0));
                put_text(out, parts[i].id_tag, store_col_text(q, 1));
                buf_puts(out, "</member>");
            }
            store_finalize(q);
        }
        buf_printf(out, "</%s>", parts[i].element);
    }
    put_page_end(out, 0, "");
    store_read_end(iam->st);
    return 0;
}

#define ATTACH_OPS(owner)                                                                          \
    static int attach_##owner##_policy(struct api_call *call, const struct api_params *p,          \
                                       struct buf *out)                                            \
    {                                                                                              \
        (void)out;                                                                                 \
        return attachment(call, p, &owner##_owner, 1);                                             \
    }                                                                                              \
    static int detach_##owner##_policy(struct api_call *call, const struct api_params *p,          \
                                       struct buf *out)                                            \
    {                                                                                              \
        (void)out;                                                                                 \
        return attachment(call, p, &owner##_owner, 0);                                             \
    }                                                                                              \
    static int list_attached_##owner##_policies(struct api_call *call, const struct api_params *p, \
                                                struct buf *out)                                   \
    {                                                                                              \
        return list_attached(call, p, &owner##_owner, out);                                        \
    }

ATTACH_OPS(user)
ATTACH_OPS(group)
ATTACH_OPS(role)

/* ---- tags of users, roles and managed policies ---- */

#define TAGS_MAX 50

/* Reads Tags.member.N.Key/Value (N from 1) into the store for (kind, owner), checking
   lengths and the count against what is already there. Inside store_lock. */
static int store_tags(struct api_call *call, const struct api_params *p, const char *kind,
                      const char *owner)
{
    struct iam *iam = ctx_iam(call);
    int n = 0;
    for (int i = 1;; i++) {
        char kname[40], vname[40];
        snprintf(kname, sizeof(kname), "Tags.member.%d.Key", i);
        snprintf(vname, sizeof(vname), "Tags.member.%d.Value", i);
        const char *key = api_params_get(p, kname), *value = api_params_get(p, vname);
        if (key == NULL) {
            break;
        }
        if (strlen(key) < 1 || strlen(key) > 128) {
            return invalid(call, key, "tags.member.key",
                           "Member must have length less than or equal to 128");
        }
        if (value == NULL || strlen(value) > 256) {
            return invalid(call, value, "tags.member.value",
                           "Member must have length less than or equal to 256");
        }
        n++;
    }
    for (int i = 1; i <= n; i++) {
        char kname[40], vname[40];
        snprintf(kname, sizeof(kname), "Tags.member.%d.Key", i);
        snprintf(vname, sizeof(vname), "Tags.member.%d.Value", i);
        int rc = store_run(iam->st,
                           "INSERT INTO iam_tag (kind, owner, key, value) VALUES (?, ?, ?, ?)"
                           " ON CONFLICT (kind, owner, key) DO UPDATE SET value = excluded.value",
                           "ssss", kind, owner, api_params_get(p, kname), api_params_get(p, vname));
        if (rc < 0) {
            return store_failed(call, rc);
        }
    }
    struct store_stmt *q = store_prepare_args(
        iam->st, "SELECT count(*) FROM iam_tag WHERE kind = ? AND owner = ?", "ss", kind, owner);
    int64_t total = q != NULL && store_step(q) == 1 ? store_col_int64(q, 0) : 0;
    store_finalize(q);
    if (total > TAGS_MAX) {
        return err_set(&call->err, SL_E(IAM_LIMIT_EXCEEDED),
                       "The number of tags has reached the maximum limit.");
    }
    return 0;
}

/* <Tags> of (kind, owner), when it has any (inside a bracket). */
static void put_tags(struct buf *out, struct iam *iam, const char *kind, const char *owner)
{
    struct store_stmt *q = store_prepare_args(
        iam->st, "SELECT key, value FROM iam_tag WHERE kind = ? AND owner = ? ORDER BY key", "ss",
        kind, owner);
    int any = 0;
    while (q != NULL && store_step(q) == 1) {
        buf_puts(out, any ? "<member>" : "<Tags><member>");
        any = 1;
        put_text(out, "Key", store_col_text(q, 0));
        put_text(out, "Value", store_col_text(q, 1));
        buf_puts(out, "</member>");
    }
    if (any) {
        buf_puts(out, "</Tags>");
    }
    store_finalize(q);
}

struct tag_target {
    const char *kind;  /* iam_tag.kind */
    const char *field; /* the parameter naming it */
};

static const struct tag_target user_tags = {"user", "UserName"};
static const struct tag_target role_tags = {"role", "RoleName"};
static const struct tag_target policy_tags = {"policy", "PolicyArn"};

/* The canonical owner of a tag target, or an error (inside a bracket). */
static int tag_owner(struct api_call *call, const struct api_params *p, const struct tag_target *t,
                     char *owner, size_t size)
{
    struct iam *iam = ctx_iam(call);
    const char *name;
    int rc = strcmp(t->kind, "policy") == 0 ? arn_param(call, p, &name)
             : strcmp(t->kind, "user") == 0 ? name_param(call, p, t->field, "userName", 128, &name)
                                            : name_param(call, p, t->field, "roleName", 64, &name);
    if (rc < 0) {
        return rc;
    }
    const char *sql = strcmp(t->kind, "policy") == 0 ? "SELECT arn FROM iam_policy WHERE arn = ?"
                      : strcmp(t->kind, "user") == 0 ? "SELECT name FROM iam_user WHERE name = ?"
                                                     : "SELECT name FROM iam_role WHERE name = ?";
    struct store_stmt *q = store_prepare_args(iam->st, sql, "s", name);
    if (q != NULL && store_step(q) == 1) {
        snprintf(owner, size, "%s", store_col_text(q, 0));
    } else {
        rc = strcmp(t->kind, "policy") == 0 ? policy_arn_missing(call, name)
             : strcmp(t->kind, "user") == 0 ? user_missing(call, name)
                                            : role_missing(call, name);
    }
    store_finalize(q);
    return rc;
}

static int tag_entity(struct api_call *call, const struct api_params *p, const struct tag_target *t)
{
    struct iam *iam = ctx_iam(call);
    char owner[700];
    store_lock(iam->st);
    int rc = tag_owner(call, p, t, owner, sizeof(owner));
    if (rc == 0 && (rc = store_begin(iam->st)) == 0) {
        rc = store_tags(call, p, t->kind, owner);
        if (rc == 0) {
            rc = store_commit(iam->st);
        } else {
            store_rollback(iam->st);
        }
    }
    write_done(iam);
    return rc;
}

static int untag_entity(struct api_call *call, const struct api_params *p,
                        const struct tag_target *t)
{
    struct iam *iam = ctx_iam(call);
    char owner[700];
    store_lock(iam->st);
    int rc = tag_owner(call, p, t, owner, sizeof(owner));
    for (int i = 1; rc == 0; i++) {
        char kname[40];
        snprintf(kname, sizeof(kname), "TagKeys.member.%d", i);
        const char *key = api_params_get(p, kname);
        if (key == NULL) {
            break;
        }
        rc = store_run(iam->st, "DELETE FROM iam_tag WHERE kind = ? AND owner = ? AND key = ?",
                       "sss", t->kind, owner, key);
        if (rc < 0) {
            store_failed(call, rc);
        }
    }
    write_done(iam);
    return rc;
}

static int list_entity_tags(struct api_call *call, const struct api_params *p,
                            const struct tag_target *t, struct buf *out)
{
    struct iam *iam = ctx_iam(call);
    char owner[700];
    int64_t max;
    const char *marker;
    int rc = paging(call, p, &max, &marker);
    if (rc < 0) {
        return rc;
    }
    store_read_begin(iam->st);
    rc = tag_owner(call, p, t, owner, sizeof(owner));
    if (rc == 0) {
        struct store_stmt *q = store_prepare_args(
            iam->st,
            "SELECT key, value FROM iam_tag WHERE kind = ? AND owner = ? AND key > ? ORDER BY key"
            " LIMIT ?",
            "sssi", t->kind, owner, marker, max + 1);
        buf_puts(out, "<Tags>");
        int64_t n = 0;
        int truncated = 0;
        char last[140] = "";
        while (q != NULL && store_step(q) == 1) {
            if (n == max) {
                truncated = 1;
                break;
            }
            buf_puts(out, "<member>");
            put_text(out, "Key", store_col_text(q, 0));
            put_text(out, "Value", store_col_text(q, 1));
            buf_puts(out, "</member>");
            snprintf(last, sizeof(last), "%s", store_col_text(q, 0));
            n++;
        }
        buf_puts(out, "</Tags>");
        put_page_end(out, truncated, last);
        store_finalize(q);
    }
    store_read_end(iam->st);
    return rc;
}

#define TAG_OPS(Kind, kind)                                                                        \
    static int tag_##kind(struct api_call *call, const struct api_params *p, struct buf *out)      \
    {                                                                                              \
        (void)out;                                                                                 \
        return tag_entity(call, p, &kind##_tags);                                                  \
    }                                                                                              \
    static int untag_##kind(struct api_call *call, const struct api_params *p, struct buf *out)    \
    {                                                                                              \
        (void)out;                                                                                 \
        return untag_entity(call, p, &kind##_tags);                                                \
    }                                                                                              \
    static int list_##kind##_tags(struct api_call *call, const struct api_params *p,               \
                                  struct buf *out)                                                 \
    {                                                                                              \
        return list_entity_tags(call, p, &kind##_tags, out);                                       \
    }

TAG_OPS(User, user)
TAG_OPS(Role, role)
TAG_OPS(Policy, policy)

/* ---- GetAccountAuthorizationDetails ---- */

/* 1 when the Filter list is empty or names what. */
static int filter_wants(const struct api_params *p, const char *what)
{
    int any = 0;
    for (int i = 1;; i++) {
        char name[32];
        snprintf(name, sizeof(name), "Filter.member.%d", i);
        const char *v = api_params_get(p, name);
        if (v == NULL) {
            return !any;
        }
        any = 1;
        if (strcmp(v, what) == 0) {
            return 1;
        }
    }
}

/* <tag><member><PolicyName/><PolicyDocument/></member>...</tag> of inline policies. */
static void put_inline_list(struct buf *out, struct iam *iam, const char *tag, const char *kind,
                            const char *owner)
{
    buf_printf(out, "<%s>", tag);
    struct store_stmt *q = store_prepare_args(
        iam->st, "SELECT name, doc FROM iam_inline WHERE kind = ? AND owner = ? ORDER BY name",
        "ss", kind, owner);
    while (q != NULL && store_step(q) == 1) {
        buf_puts(out, "<member>");
        put_text(out, "PolicyName", store_col_text(q, 0));
        put_doc(out, "PolicyDocument", store_col_text(q, 1));
        buf_puts(out, "</member>");
    }
    store_finalize(q);
    buf_printf(out, "</%s>", tag);
}

static void put_attached_list(struct buf *out, struct iam *iam, const char *kind, const char *owner)
{
    buf_puts(out, "<AttachedManagedPolicies>");
    struct store_stmt *q = store_prepare_args(
        iam->st,
        "SELECT p.name, p.arn FROM iam_attach a JOIN iam_policy p ON p.arn = a.arn"
        " WHERE a.kind = ? AND a.owner = ? ORDER BY p.arn",
        "ss", kind, owner);
    while (q != NULL && store_step(q) == 1) {
        buf_puts(out, "<member>");
        put_text(out, "PolicyName", store_col_text(q, 0));
        put_text(out, "PolicyArn", store_col_text(q, 1));
        buf_puts(out, "</member>");
    }
    store_finalize(q);
    buf_puts(out, "</AttachedManagedPolicies>");
}

static void details_users(struct buf *out, struct iam *iam)
{
    buf_puts(out, "<UserDetailList>");
    struct store_stmt *q = store_prepare_args(
        iam->st, "SELECT name, id, path, created FROM iam_user ORDER BY name", "");
    while (q != NULL && store_step(q) == 1) {
        const char *name = store_col_text(q, 0);
        buf_puts(out, "<member>");
        put_user(out, iam, q);
        put_inline_list(out, iam, "UserPolicyList", "user", name);
        buf_puts(out, "<GroupList>");
        struct store_stmt *g = store_prepare_args(
            iam->st, "SELECT group_name FROM iam_member WHERE user_name = ? ORDER BY group_name",
            "s", name);
        while (g != NULL && store_step(g) == 1) {
            put_text(out, "member", store_col_text(g, 0));
        }
        store_finalize(g);
        buf_puts(out, "</GroupList>");
        put_attached_list(out, iam, "user", name);
        put_tags(out, iam, "user", name);
        buf_puts(out, "</member>");
    }
    store_finalize(q);
    buf_puts(out, "</UserDetailList>");
}

static void details_groups(struct buf *out, struct iam *iam)
{
    buf_puts(out, "<GroupDetailList>");
    struct store_stmt *q = store_prepare_args(
        iam->st, "SELECT name, id, path, created FROM iam_group ORDER BY name", "");
    while (q != NULL && store_step(q) == 1) {
        buf_puts(out, "<member>");
        put_group(out, iam, q);
        put_inline_list(out, iam, "GroupPolicyList", "group", store_col_text(q, 0));
        put_attached_list(out, iam, "group", store_col_text(q, 0));
        buf_puts(out, "</member>");
    }
    store_finalize(q);
    buf_puts(out, "</GroupDetailList>");
}

static void details_roles(struct buf *out, struct iam *iam)
{
    buf_puts(out, "<RoleDetailList>");
    struct store_stmt *q =
        store_prepare_args(iam->st, "SELECT " ROLE_COLS " FROM iam_role ORDER BY name", "");
    while (q != NULL && store_step(q) == 1) {
        buf_puts(out, "<member>");
        put_role(out, iam, q);
        buf_puts(out, "<InstanceProfileList/>");
        put_inline_list(out, iam, "RolePolicyList", "role", store_col_text(q, 0));
        put_attached_list(out, iam, "role", store_col_text(q, 0));
        put_tags(out, iam, "role", store_col_text(q, 0));
        buf_puts(out, "</member>");
    }
    store_finalize(q);
    buf_puts(out, "</RoleDetailList>");
}

/* Local policies, and AWS's that something is attached to, with every version. */
static void details_policies(struct buf *out, struct iam *iam, int local, int aws)
{
    buf_puts(out, "<Policies>");
    struct store_stmt *q = store_prepare_args(
        iam->st,
        "SELECT " POLICY_COLS " FROM iam_policy p WHERE (p.builtin = 0 AND ? = 1) OR"
        " (p.builtin = 1 AND ? = 1 AND EXISTS (SELECT 1 FROM iam_attach a WHERE a.arn = p.arn))"
        " ORDER BY p.arn",
        "ii", (int64_t)local, (int64_t)aws);
    while (q != NULL && store_step(q) == 1) {
        buf_puts(out, "<member>");
        put_managed(out, q);
        buf_puts(out, "<PolicyVersionList>");
        struct store_stmt *v =
            store_prepare_args(iam->st,
                               "SELECT version, created, doc FROM iam_policy_version WHERE arn = ?"
                               " ORDER BY version DESC",
                               "s", store_col_text(q, 3));
        while (v != NULL && store_step(v) == 1) {
            buf_puts(out, "<member>");
            put_version(out, store_col_int64(v, 0), store_col_int64(q, 6), store_col_int64(v, 1),
                        store_col_text(v, 2));
            buf_puts(out, "</member>");
        }
        store_finalize(v);
        buf_puts(out, "</PolicyVersionList></member>");
    }
    store_finalize(q);
    buf_puts(out, "</Policies>");
}

static int get_account_authorization_details(struct api_call *call, const struct api_params *p,
                                             struct buf *out)
{
    struct iam *iam = ctx_iam(call);
    int64_t max;
    const char *marker;
    int rc = paging(call, p, &max, &marker);
    if (rc < 0) {
        return rc;
    }
    /* One page holds everything: an emulator's account is small. */
    store_read_begin(iam->st);
    if (filter_wants(p, "User")) {
        details_users(out, iam);
    }
    if (filter_wants(p, "Group")) {
        details_groups(out, iam);
    }
    if (filter_wants(p, "Role")) {
        details_roles(out, iam);
    }
    int local = filter_wants(p, "LocalManagedPolicy"), aws = filter_wants(p, "AWSManagedPolicy");
    if (local || aws) {
        details_policies(out, iam, local, aws);
    }
    buf_puts(out, "<IsTruncated>false</IsTruncated>");
    store_read_end(iam->st);
    return 0;
}

/* ---- permissions boundaries ---- */

static void put_boundary(struct buf *out, struct iam *iam, const char *table, const char *name)
{
    char sql[80];
    snprintf(sql, sizeof(sql), "SELECT boundary FROM %s WHERE name = ?", table);
    struct store_stmt *q = store_prepare_args(iam->st, sql, "s", name);
    if (q != NULL && store_step(q) == 1 && !store_col_is_null(q, 0)) {
        buf_puts(out, "<PermissionsBoundary><PermissionsBoundaryType>PermissionsBoundaryPolicy"
                      "</PermissionsBoundaryType>");
        put_text(out, "PermissionsBoundaryArn", store_col_text(q, 0));
        buf_puts(out, "</PermissionsBoundary>");
    }
    store_finalize(q);
}

/* The PermissionsBoundary a call names. */
static int boundary_param(struct api_call *call, const struct api_params *p, const char **arn)
{
    return policy_arn_member(call, p, "PermissionsBoundary", "permissionsBoundary", arn);
}

/* CreateUser and CreateRole: the optional boundary, set inside their transaction. */
static int boundary_on_create(struct api_call *call, const struct api_params *p,
                              const char *table, const char *name)
{
    struct iam *iam = ctx_iam(call);
    const char *arn;
    if (api_params_get(p, "PermissionsBoundary") == NULL) {
        return 0;
    }
    int rc = boundary_param(call, p, &arn);
    if (rc < 0) {
        return rc;
    }
    if (!policy_exists(iam, arn)) {
        return policy_arn_missing(call, arn);
    }
    char sql[80];
    snprintf(sql, sizeof(sql), "UPDATE %s SET boundary = ? WHERE name = ?", table);
    rc = store_run(iam->st, sql, "ss", arn, name);
    return rc < 0 ? store_failed(call, rc) : 0;
}

/* Put (arn from the call) or delete (put 0) a user's or role's boundary. */
static int set_boundary(struct api_call *call, const struct api_params *p,
                        const struct owner_kind *k, int put)
{
    struct iam *iam = ctx_iam(call);
    const char *owner, *arn = NULL;
    int rc = name_param(call, p, k->field, k->member, 64, &owner);
    if (rc < 0 || (put && (rc = boundary_param(call, p, &arn)) < 0)) {
        return rc;
    }
    const char *table = k == &user_owner ? "iam_user" : "iam_role";
    store_lock(iam->st);
    if (!owner_exists(iam, k, owner)) {
        rc = owner_missing(call, k, owner);
    } else if (put && !policy_exists(iam, arn)) {
        rc = policy_arn_missing(call, arn);
    } else {
        char sql[80];
        snprintf(sql, sizeof(sql), "UPDATE %s SET boundary = %s WHERE name = ?", table,
                 put ? "?" : "NULL");
        rc = put ? store_run(iam->st, sql, "ss", arn, owner) : store_run(iam->st, sql, "s", owner);
        if (rc < 0) {
            store_failed(call, rc);
        }
    }
    write_done(iam);
    return rc;
}

static int put_user_boundary(struct api_call *call, const struct api_params *p, struct buf *out)
{
    (void)out;
    return set_boundary(call, p, &user_owner, 1);
}

static int delete_user_boundary(struct api_call *call, const struct api_params *p,
                                struct buf *out)
{
    (void)out;
    return set_boundary(call, p, &user_owner, 0);
}

static int put_role_boundary(struct api_call *call, const struct api_params *p, struct buf *out)
{
    (void)out;
    return set_boundary(call, p, &role_owner, 1);
}

static int delete_role_boundary(struct api_call *call, const struct api_params *p,
                                struct buf *out)
{
    (void)out;
    return set_boundary(call, p, &role_owner, 0);
}

static const struct api_query_op iam_ops[] = {
    {"CreateUser", create_user},
    {"GetUser", get_user},
    {"ListUsers", list_users},
    {"UpdateUser", update_user},
    {"DeleteUser", delete_user},
    {"CreateAccessKey", create_access_key},
    {"ListAccessKeys", list_access_keys},
    {"UpdateAccessKey", update_access_key},
    {"DeleteAccessKey", delete_access_key},
    {"GetAccessKeyLastUsed", get_access_key_last_used},
    {"CreateRole", create_role},
    {"GetRole", get_role},
    {"ListRoles", list_roles},
    {"UpdateRole", update_role},
    {"UpdateAssumeRolePolicy", update_assume_role_policy},
    {"DeleteRole", delete_role},
    {"PutUserPolicy", put_user_policy},
    {"GetUserPolicy", get_user_policy},
    {"ListUserPolicies", list_user_policies},
    {"DeleteUserPolicy", delete_user_policy},
    {"PutRolePolicy", put_role_policy},
    {"GetRolePolicy", get_role_policy},
    {"ListRolePolicies", list_role_policies},
    {"DeleteRolePolicy", delete_role_policy},
    {"PutGroupPolicy", put_group_policy},
    {"GetGroupPolicy", get_group_policy},
    {"ListGroupPolicies", list_group_policies},
    {"DeleteGroupPolicy", delete_group_policy},
    {"CreateGroup", create_group},
    {"GetGroup", get_group},
    {"ListGroups", list_groups},
    {"DeleteGroup", delete_group},
    {"AddUserToGroup", add_user_to_group},
    {"RemoveUserFromGroup", remove_user_from_group},
    {"ListGroupsForUser", list_groups_for_user},
    {"CreatePolicy", create_policy},
    {"GetPolicy", get_managed_policy},
    {"ListPolicies", list_managed_policies},
    {"DeletePolicy", delete_managed_policy},
    {"CreatePolicyVersion", create_policy_version},
    {"GetPolicyVersion", get_policy_version},
    {"ListPolicyVersions", list_policy_versions},
    {"SetDefaultPolicyVersion", set_default_policy_version},
    {"DeletePolicyVersion", delete_policy_version},
    {"AttachUserPolicy", attach_user_policy},
    {"DetachUserPolicy", detach_user_policy},
    {"ListAttachedUserPolicies", list_attached_user_policies},
    {"AttachGroupPolicy", attach_group_policy},
    {"DetachGroupPolicy", detach_group_policy},
    {"ListAttachedGroupPolicies", list_attached_group_policies},
    {"AttachRolePolicy", attach_role_policy},
    {"DetachRolePolicy", detach_role_policy},
    {"ListAttachedRolePolicies", list_attached_role_policies},
    {"ListEntitiesForPolicy", list_entities_for_policy},
    {"TagUser", tag_user},
    {"UntagUser", untag_user},
    {"ListUserTags", list_user_tags},
    {"TagRole", tag_role},
    {"UntagRole", untag_role},
    {"ListRoleTags", list_role_tags},
    {"TagPolicy", tag_policy},
    {"UntagPolicy", untag_policy},
    {"ListPolicyTags", list_policy_tags},
    {"PutUserPermissionsBoundary", put_user_boundary},
    {"DeleteUserPermissionsBoundary", delete_user_boundary},
    {"PutRolePermissionsBoundary", put_role_boundary},
    {"DeleteRolePermissionsBoundary", delete_role_boundary},
    {"GetAccountAuthorizationDetails", get_account_authorization_details},
};

static const struct api_query_service iam_template = {
    .signing_name = "iam",
    .xmlns = "https://iam.amazonaws.com/doc/2010-05-08/",
    .ops = iam_ops,
    .n_ops = sizeof(iam_ops) / sizeof(iam_ops[0]),
};

struct api_query_service *iam_api_create(struct iam *iam)
{
    struct api_query_service *desc = xmalloc(sizeof(*desc));
    *desc = iam_template;
    desc->ctx = iam;
    return desc;
}

void iam_api_destroy(struct api_query_service *desc)
{
    free(desc);
}
