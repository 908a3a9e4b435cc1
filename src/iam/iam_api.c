/*
 * IAM over the query protocol (2010-05-08): users, access keys, roles and the inline
 * policies of users and roles, durable in the store.
 */
#include "iam/iam_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/mem.h"
#include "core/text.h"
#include "iam/iam_int.h"

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
        return invalid(call, v, member, strlen(v) < 1 ? "Member must have length greater than "
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
    return err_set(&call->err, SL_E(IAM_NO_SUCH_ENTITY),
                   "The user with name %s cannot be found.", name);
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
        store_unlock(iam->st);
        return err_set(&call->err, SL_E(IAM_ENTITY_EXISTS), "User with name %s already exists.",
                       name);
    }
    rc = store_run(iam->st, "INSERT INTO iam_user (name, id, path, created) VALUES (?, ?, ?, ?)",
                   "sssi", name, id, path, call->req->now_ms);
    struct store_stmt *q = rc < 0 ? NULL
                                  : store_prepare_args(iam->st,
                                                       "SELECT name, id, path, created FROM "
                                                       "iam_user WHERE name = ?",
                                                       "s", name);
    if (q != NULL && store_step(q) == 1) {
        buf_puts(out, "<User>");
        put_user(out, iam, q);
        buf_puts(out, "</User>");
    } else {
        rc = rc < 0 ? rc : SL_E(INTERNAL);
    }
    store_finalize(q);
    store_unlock(iam->st);
    return rc < 0 ? store_failed(call, rc) : 0;
}

/* The UserName of a call about a user, or the calling user's own when absent. */
static int subject_user(struct api_call *call, const struct api_params *p, const char **name)
{
    if (api_params_get(p, "UserName") == NULL &&
        call->req->principal_kind == HTTP_PRINCIPAL_USER) {
        *name = call->req->principal_name;
        return 0;
    }
    return name_param(call, p, "UserName", "userName", 128, name);
}

static int get_user(struct api_call *call, const struct api_params *p, struct buf *out)
{
    struct iam *iam = ctx_iam(call);
    if (api_params_get(p, "UserName") == NULL &&
        call->req->principal_kind == HTTP_PRINCIPAL_ROOT) {
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
            };
            for (size_t i = 0; rc == 0 && i < 3; i++) {
                rc = store_run(iam->st, renames[i], "ss", new_name, name);
            }
        }
        rc = rc == 0 ? store_commit(iam->st) : (store_rollback(iam->st), rc);
        if (rc < 0) {
            store_failed(call, rc);
        }
    }
    store_unlock(iam->st);
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
    } else if ((rc = store_run(iam->st, "DELETE FROM iam_user WHERE name = ?", "s", name)) < 0) {
        store_failed(call, rc);
    }
    store_unlock(iam->st);
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
    iam__random_chars(secret, 40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
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
    store_unlock(iam->st);
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
    if (update && (status == NULL || (strcmp(status, "Active") != 0 &&
                                      strcmp(status, "Inactive") != 0))) {
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
    store_unlock(iam->st);
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
    return err_set(&call->err, SL_E(IAM_NO_SUCH_ENTITY),
                   "The role with name %s cannot be found.", name);
}

static int role_exists(struct iam *iam, const char *name)
{
    struct store_stmt *q =
        store_prepare_args(iam->st, "SELECT 1 FROM iam_role WHERE name = ?", "s", name);
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
        store_unlock(iam->st);
        return err_set(&call->err, SL_E(IAM_ENTITY_EXISTS), "Role with name %s already exists.",
                       name);
    }
    rc = store_run(iam->st,
                   "INSERT INTO iam_role (" ROLE_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?)", "sssissi",
                   name, id, path, call->req->now_ms, trust, desc, max_session);
    struct store_stmt *q =
        rc < 0 ? NULL
               : store_prepare_args(iam->st, "SELECT " ROLE_COLS " FROM iam_role WHERE name = ?",
                                    "s", name);
    if (q != NULL && store_step(q) == 1) {
        buf_puts(out, "<Role>");
        put_role(out, iam, q);
        buf_puts(out, "</Role>");
    } else {
        rc = rc < 0 ? rc : SL_E(INTERNAL);
    }
    store_finalize(q);
    store_unlock(iam->st);
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
    struct store_stmt *q = store_prepare_args(
        iam->st, "SELECT " ROLE_COLS " FROM iam_role WHERE name = ?", "s", name);
    if (q != NULL && store_step(q) == 1) {
        buf_puts(out, "<Role>");
        put_role(out, iam, q);
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
    store_unlock(iam->st);
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
    } else if ((rc = store_run(iam->st, "DELETE FROM iam_role WHERE name = ?", "s", name)) < 0) {
        store_failed(call, rc);
    }
    store_unlock(iam->st);
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

static int owner_exists(struct iam *iam, const struct owner_kind *k, const char *name)
{
    return strcmp(k->kind, "user") == 0 ? user_exists(iam, name) : role_exists(iam, name);
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
    store_unlock(iam->st);
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
    store_unlock(iam->st);
    return rc;
}

#define INLINE_OPS(Kind, owner)                                                                  \
    static int put_##owner##_policy(struct api_call *call, const struct api_params *p,          \
                                    struct buf *out)                                             \
    {                                                                                            \
        (void)out;                                                                               \
        return put_policy(call, p, &owner##_owner);                                              \
    }                                                                                            \
    static int get_##owner##_policy(struct api_call *call, const struct api_params *p,          \
                                    struct buf *out)                                             \
    {                                                                                            \
        return get_policy(call, p, &owner##_owner, out);                                         \
    }                                                                                            \
    static int list_##owner##_policies(struct api_call *call, const struct api_params *p,       \
                                       struct buf *out)                                          \
    {                                                                                            \
        return list_policies_of(call, p, &owner##_owner, out);                                   \
    }                                                                                            \
    static int delete_##owner##_policy(struct api_call *call, const struct api_params *p,       \
                                       struct buf *out)                                          \
    {                                                                                            \
        (void)out;                                                                               \
        return delete_policy_of(call, p, &owner##_owner);                                        \
    }

INLINE_OPS(User, user)
INLINE_OPS(Role, role)

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
