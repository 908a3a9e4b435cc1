/*
 * IAM over the query protocol (2010-05-08): users, access keys, groups, roles, inline
 * policies of users, groups and roles, managed policies with versions and their
 * attachments, durable in the store.
 *
 * The operations that are alike for users, groups and roles (get, list, delete, inline
 * policies, attachments, tags, boundaries) are written once and take the kind of entity
 * from their row of the operation table (struct entity, as call->op_arg).
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
static int boundary_on_create(struct api_call *call, const struct api_params *p, const char *table,
                              const char *name);
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

/* How a listing writes a row (inside <member>) and makes its Marker. */
struct listing {
    const char *tag; /* "Users" */
    void (*row)(struct buf *b, const struct iam *iam, struct store_stmt *q);
    int key;                /* the column whose text is the Marker */
    const char *key_prefix; /* put before it ("v" of a version id), NULL for none */
};

/* A page of a listing: at most max rows of q (which asks for max + 1, to tell whether
   more follow) inside <tag>, then IsTruncated and the Marker. Finalizes q. */
static void put_page(struct buf *out, const struct iam *iam, struct store_stmt *q, int64_t max,
                     const struct listing *l)
{
    buf_printf(out, "<%s>", l->tag);
    int64_t n = 0;
    int truncated = 0;
    char last[700] = "";
    while (q != NULL && store_step(q) == 1) {
        if (n == max) {
            truncated = 1;
            break;
        }
        buf_puts(out, "<member>");
        l->row(out, iam, q);
        buf_puts(out, "</member>");
        snprintf(last, sizeof(last), "%s%s", l->key_prefix != NULL ? l->key_prefix : "",
                 store_col_text(q, l->key));
        n++;
    }
    buf_printf(out, "</%s>", l->tag);
    put_page_end(out, truncated, last);
    store_finalize(q);
}

/* PathPrefix, "/" when absent, for "substr(path, 1, ?) = ?". */
static const char *path_prefix(const struct api_params *p)
{
    const char *prefix = api_params_get(p, "PathPrefix");
    return prefix != NULL ? prefix : "/";
}

/* The count of rows sql (one ? for the name) finds. */
static int64_t count_of(struct iam *iam, const char *sql, const char *name)
{
    struct store_stmt *q = store_prepare_args(iam->st, sql, "s", name);
    int64_t n = q != NULL && store_step(q) == 1 ? store_col_int64(q, 0) : 0;
    store_finalize(q);
    return n;
}

/* ---- rows ---- */

/* Path, <kind>Name, <kind>Id, Arn and CreateDate of a user, group or role (columns name,
   id, path, created first). */
static void put_identity(struct buf *b, const struct iam *iam, struct store_stmt *q,
                         const char *title, const char *kind)
{
    char tag[16];
    put_text(b, "Path", store_col_text(q, 2));
    snprintf(tag, sizeof(tag), "%sName", title);
    put_text(b, tag, store_col_text(q, 0));
    snprintf(tag, sizeof(tag), "%sId", title);
    put_text(b, tag, store_col_text(q, 1));
    buf_printf(b, "<Arn>arn:aws:iam::%s:%s", iam->account_id, kind);
    buf_xml_escape(b, store_col_text(q, 2), strlen(store_col_text(q, 2)));
    buf_xml_escape(b, store_col_text(q, 0), strlen(store_col_text(q, 0)));
    buf_puts(b, "</Arn>");
    put_date(b, "CreateDate", store_col_int64(q, 3));
}

#define USER_COLS "name, id, path, created"
#define ROLE_COLS "name, id, path, created, trust, description, max_session"

static void put_user(struct buf *b, const struct iam *iam, struct store_stmt *q)
{
    put_identity(b, iam, q, "User", "user");
}

static void put_group(struct buf *b, const struct iam *iam, struct store_stmt *q)
{
    put_identity(b, iam, q, "Group", "group");
}

static void put_role(struct buf *b, const struct iam *iam, struct store_stmt *q)
{
    put_identity(b, iam, q, "Role", "role");
    put_doc(b, "AssumeRolePolicyDocument", store_col_text(q, 4));
    if (!store_col_is_null(q, 5)) {
        put_text(b, "Description", store_col_text(q, 5));
    }
    buf_printf(b, "<MaxSessionDuration>%lld</MaxSessionDuration>",
               (long long)store_col_int64(q, 6));
}

/* ---- the entities: users, groups and roles (and managed policies, for tags) ---- */

/* What stops a delete: a count (one ? for the name) that must be 0, and the message. */
struct conflict {
    const char *sql;
    const char *message;
};

struct entity {
    const char *kind;                 /* "user": its kind in iam_inline, iam_attach and iam_tag */
    const char *noun;                 /* "user", in "The user with name %s cannot be found." */
    const char *title;                /* "User": its element, "User with name %s already exists." */
    const char *field;                /* "UserName" */
    const char *member;               /* "userName", in validation messages */
    size_t name_max;                  /* the longest name a call about an existing one takes */
    size_t attach_max;                /* ... and (Attach/Detach/ListAttached, inline) the model's */
    const char *table;                /* "iam_user" */
    const char *key;                  /* its name's column */
    const char *cols;                 /* the columns list.row writes from */
    struct listing list;              /* ListUsers' */
    const char *id_prefix;            /* of its unique id: "AIDA" */
    enum iam_doc_kind doc;            /* its inline policies' size limit */
    int tagged;                       /* has tags and a permissions boundary */
    const struct conflict *conflicts; /* what DeleteUser refuses over, in order; {NULL} ends */
};

#define POLICIES_FIRST "Cannot delete entity, must delete policies first."
#define DETACH_FIRST "Cannot delete entity, must detach all policies first."
#define MEMBERS_FIRST "Cannot delete entity, must remove users from group first."

static const struct conflict user_conflicts[] = {
    {"SELECT count(*) FROM iam_key WHERE user_name = ?",
     "Cannot delete entity, must delete access keys first."},
    {"SELECT count(*) FROM iam_inline WHERE kind = 'user' AND owner = ?", POLICIES_FIRST},
    {"SELECT count(*) FROM iam_attach WHERE kind = 'user' AND owner = ?", DETACH_FIRST},
    {"SELECT count(*) FROM iam_member WHERE user_name = ?", MEMBERS_FIRST},
    {NULL, NULL},
};
static const struct conflict group_conflicts[] = {
    {"SELECT count(*) FROM iam_member WHERE group_name = ?", MEMBERS_FIRST},
    {"SELECT count(*) FROM iam_inline WHERE kind = 'group' AND owner = ?", POLICIES_FIRST},
    {"SELECT count(*) FROM iam_attach WHERE kind = 'group' AND owner = ?", DETACH_FIRST},
    {NULL, NULL},
};
static const struct conflict role_conflicts[] = {
    {"SELECT count(*) FROM iam_inline WHERE kind = 'role' AND owner = ?", POLICIES_FIRST},
    {"SELECT count(*) FROM iam_attach WHERE kind = 'role' AND owner = ?", DETACH_FIRST},
    {NULL, NULL},
};

/* clang-format off */
static const struct entity user_entity = {
    .kind = "user", .noun = "user", .title = "User", .field = "UserName", .member = "userName",
    .name_max = 128, .attach_max = 64, .table = "iam_user", .key = "name", .cols = USER_COLS,
    .list = {"Users", put_user, 0, NULL}, .id_prefix = "AIDA", .doc = IAM_DOC_USER, .tagged = 1,
    .conflicts = user_conflicts,
};
static const struct entity group_entity = {
    .kind = "group", .noun = "group", .title = "Group", .field = "GroupName", .member = "groupName",
    .name_max = 128, .attach_max = 128, .table = "iam_group", .key = "name", .cols = USER_COLS,
    .list = {"Groups", put_group, 0, NULL}, .id_prefix = "AGPA", .doc = IAM_DOC_GROUP, .tagged = 0,
    .conflicts = group_conflicts,
};
static const struct entity role_entity = {
    .kind = "role", .noun = "role", .title = "Role", .field = "RoleName", .member = "roleName",
    .name_max = 64, .attach_max = 64, .table = "iam_role", .key = "name", .cols = ROLE_COLS,
    .list = {"Roles", put_role, 0, NULL}, .id_prefix = "AROA", .doc = IAM_DOC_ROLE, .tagged = 1,
    .conflicts = role_conflicts,
};
/* Only for tags: a managed policy is named by its ARN. */
static const struct entity policy_entity = {
    .kind = "policy", .title = "Policy", .field = "PolicyArn", .table = "iam_policy", .key = "arn",
};
/* clang-format on */

/* The entity an operation is about (its row of iam_ops). */
static const struct entity *op_entity(const struct api_call *call)
{
    return call->op_arg;
}

/* The name (or a policy's ARN) that a call gives for an entity of kind k. */
static int entity_param(struct api_call *call, const struct api_params *p, const struct entity *k,
                        size_t max, const char **name)
{
    return k == &policy_entity ? arn_param(call, p, name)
                               : name_param(call, p, k->field, k->member, max, name);
}

/* 1 when entity name of kind k exists, with its name as stored in canon when that is not
   NULL (inside a bracket). */
static int entity_find(struct iam *iam, const struct entity *k, const char *name, char *canon,
                       size_t size)
{
    char sql[80];
    snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE %s = ?", k->key, k->table, k->key);
    struct store_stmt *q = store_prepare_args(iam->st, sql, "s", name);
    int found = q != NULL && store_step(q) == 1;
    if (found && canon != NULL) {
        snprintf(canon, size, "%s", store_col_text(q, 0));
    }
    store_finalize(q);
    return found;
}

static int policy_arn_missing(struct api_call *call, const char *arn)
{
    return err_set(&call->err, SL_E(IAM_NO_SUCH_ENTITY),
                   "Policy %s does not exist or is not attachable.", arn);
}

static int entity_missing(struct api_call *call, const struct entity *k, const char *name)
{
    if (k == &policy_entity) {
        return policy_arn_missing(call, name);
    }
    return err_set(&call->err, SL_E(IAM_NO_SUCH_ENTITY), "The %s with name %s cannot be found.",
                   k->noun, name);
}

/* Writes entity name of kind k as Get answers it; 0 when there is none (inside a bracket). */
static int put_entity_of(struct iam *iam, const struct entity *k, const char *name, struct buf *out)
{
    char sql[160];
    snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE name = ?", k->cols, k->table);
    struct store_stmt *q = store_prepare_args(iam->st, sql, "s", name);
    int found = q != NULL && store_step(q) == 1;
    if (found) {
        buf_printf(out, "<%s>", k->title);
        k->list.row(out, iam, q);
        if (k->tagged) {
            put_boundary(out, iam, k->table, name);
            put_tags(out, iam, k->kind, name);
        }
        buf_printf(out, "</%s>", k->title);
    }
    store_finalize(q);
    return found;
}

/* A new user's, group's or role's row. */
struct new_entity {
    const char *name, *path;
    const char *trust, *desc; /* a role's */
    int64_t max_session;
};

/* CreateUser, CreateGroup and CreateRole once their input is checked: the row, its tags
   and boundary in one transaction, then the entity as Get answers it. */
static int create_entity(struct api_call *call, const struct api_params *p, const struct entity *k,
                         const struct new_entity *e, struct buf *out)
{
    struct iam *iam = ctx_iam(call);
    char id[32];
    iam__new_id(k->id_prefix, id);
    store_lock(iam->st);
    if (entity_find(iam, k, e->name, NULL, 0)) {
        write_done(iam);
        return err_set(&call->err, SL_E(IAM_ENTITY_EXISTS), "%s with name %s already exists.",
                       k->title, e->name);
    }
    int rc = store_begin(iam->st);
    if (rc == 0 && k == &role_entity) {
        rc = store_run(iam->st, "INSERT INTO iam_role (" ROLE_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?)",
                       "sssissi", e->name, id, e->path, call->req->now_ms, e->trust, e->desc,
                       e->max_session);
    } else if (rc == 0) {
        char sql[100];
        snprintf(sql, sizeof(sql), "INSERT INTO %s (" USER_COLS ") VALUES (?, ?, ?, ?)", k->table);
        rc = store_run(iam->st, sql, "sssi", e->name, id, e->path, call->req->now_ms);
    }
    if (rc == 0 && k->tagged &&
        ((rc = store_tags(call, p, k->kind, e->name)) < 0 ||
         (rc = boundary_on_create(call, p, k->table, e->name)) < 0)) {
        store_rollback(iam->st);
        write_done(iam);
        return rc;
    }
    rc = rc == 0 ? store_commit(iam->st) : (store_rollback(iam->st), rc);
    if (rc == 0 && !put_entity_of(iam, k, e->name, out)) {
        rc = SL_E(INTERNAL);
    }
    write_done(iam);
    return rc < 0 ? store_failed(call, rc) : 0;
}

/* GetUser and GetRole once the name is known. */
static int get_entity_named(struct api_call *call, const struct entity *k, const char *name,
                            struct buf *out)
{
    struct iam *iam = ctx_iam(call);
    store_read_begin(iam->st);
    int found = put_entity_of(iam, k, name, out);
    store_read_end(iam->st);
    return found ? 0 : entity_missing(call, k, name);
}

/* ListUsers, ListGroups, ListRoles. */
static int list_entities(struct api_call *call, const struct api_params *p, struct buf *out)
{
    struct iam *iam = ctx_iam(call);
    const struct entity *k = op_entity(call);
    int64_t max;
    const char *marker;
    int rc = paging(call, p, &max, &marker);
    if (rc < 0) {
        return rc;
    }
    const char *prefix = path_prefix(p);
    char sql[200];
    snprintf(sql, sizeof(sql),
             "SELECT %s FROM %s WHERE name > ? AND substr(path, 1, ?) = ? ORDER BY name LIMIT ?",
             k->cols, k->table);
    store_read_begin(iam->st);
    struct store_stmt *q =
        store_prepare_args(iam->st, sql, "sisi", marker, (int64_t)strlen(prefix), prefix, max + 1);
    put_page(out, iam, q, max, &k->list);
    store_read_end(iam->st);
    return 0;
}

/* The first of k's conflicts that entity name has, NULL when none (inside a bracket). */
static const struct conflict *conflict_of(struct iam *iam, const struct entity *k, const char *name)
{
    for (const struct conflict *c = k->conflicts; c->sql != NULL; c++) {
        if (count_of(iam, c->sql, name) > 0) {
            return c;
        }
    }
    return NULL;
}

/* DeleteUser, DeleteGroup, DeleteRole: refused while anything of k->conflicts remains. */
static int delete_entity(struct api_call *call, const struct api_params *p, struct buf *out)
{
    (void)out;
    struct iam *iam = ctx_iam(call);
    const struct entity *k = op_entity(call);
    const char *name;
    int rc = entity_param(call, p, k, k->name_max, &name);
    if (rc < 0) {
        return rc;
    }
    char sql[80];
    snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE name = ?", k->table);
    const struct conflict *c = NULL;
    store_lock(iam->st);
    if (!entity_find(iam, k, name, NULL, 0)) {
        rc = entity_missing(call, k, name);
    } else if ((c = conflict_of(iam, k, name)) != NULL) {
        rc = err_set(&call->err, SL_E(IAM_DELETE_CONFLICT), "%s", c->message);
    } else if ((rc = store_run(iam->st, sql, "s", name)) < 0 ||
               (k->tagged &&
                (rc = store_run(iam->st, "DELETE FROM iam_tag WHERE kind = ? AND owner = ?", "ss",
                                k->kind, name)) < 0)) {
        store_failed(call, rc);
    }
    write_done(iam);
    return rc;
}

/* ---- users ---- */

static int create_user(struct api_call *call, const struct api_params *p, struct buf *out)
{
    struct new_entity e = {0};
    int rc = name_param(call, p, "UserName", "userName", 64, &e.name);
    if (rc < 0 || (rc = path_param(call, p, &e.path)) < 0) {
        return rc;
    }
    return create_entity(call, p, &user_entity, &e, out);
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
    return rc < 0 ? rc : get_entity_named(call, &user_entity, name, out);
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
    if (!entity_find(iam, &user_entity, name, NULL, 0)) {
        rc = entity_missing(call, &user_entity, name);
    } else if (new_name != NULL && strcasecmp(new_name, name) != 0 &&
               entity_find(iam, &user_entity, new_name, NULL, 0)) {
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
    char canonical[130];
    if (!entity_find(iam, &user_entity, name, canonical, sizeof(canonical))) {
        rc = entity_missing(call, &user_entity, name);
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

static void put_key(struct buf *b, const struct iam *iam, struct store_stmt *q)
{
    (void)iam;
    put_text(b, "UserName", store_col_text(q, 0));
    put_text(b, "AccessKeyId", store_col_text(q, 1));
    put_text(b, "Status", store_col_text(q, 2));
    put_date(b, "CreateDate", store_col_int64(q, 3));
}

static int list_access_keys(struct api_call *call, const struct api_params *p, struct buf *out)
{
    static const struct listing keys = {"AccessKeyMetadata", put_key, 1, NULL};
    struct iam *iam = ctx_iam(call);
    const char *name, *marker;
    int64_t max;
    int rc = subject_user(call, p, &name);
    if (rc < 0 || (rc = paging(call, p, &max, &marker)) < 0) {
        return rc;
    }
    store_read_begin(iam->st);
    if (!entity_find(iam, &user_entity, name, NULL, 0)) {
        store_read_end(iam->st);
        return entity_missing(call, &user_entity, name);
    }
    struct store_stmt *q = store_prepare_args(
        iam->st,
        "SELECT user_name, key_id, status, created FROM iam_key WHERE user_name = ? AND key_id > ?"
        " ORDER BY key_id LIMIT ?",
        "ssi", name, marker, max + 1);
    put_page(out, iam, q, max, &keys);
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
    if (!entity_find(iam, &user_entity, name, NULL, 0)) {
        rc = entity_missing(call, &user_entity, name);
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
    struct new_entity e = {.trust = api_params_get(p, "AssumeRolePolicyDocument"),
                           .max_session = 3600};
    int rc = name_param(call, p, "RoleName", "roleName", 64, &e.name);
    if (rc == 0 && e.trust == NULL) {
        rc = invalid(call, NULL, "assumeRolePolicyDocument", "");
    }
    if (rc < 0 || (rc = path_param(call, p, &e.path)) < 0 ||
        (rc = description_param(call, p, &e.desc)) < 0 ||
        (rc = max_session_param(call, p, &e.max_session)) < 0 ||
        (rc = iam__policydoc_check(e.trust, IAM_DOC_TRUST, &call->err)) < 0) {
        return rc;
    }
    return create_entity(call, p, &role_entity, &e, out);
}

static int get_role(struct api_call *call, const struct api_params *p, struct buf *out)
{
    const char *name;
    int rc = name_param(call, p, "RoleName", "roleName", 64, &name);
    return rc < 0 ? rc : get_entity_named(call, &role_entity, name, out);
}

/* Runs one UPDATE of a role (sql binds its value as ?1 and the name as ?2). */
static int update_role_column(struct api_call *call, const char *name, const char *sql,
                              const char *fmt, const void *value)
{
    struct iam *iam = ctx_iam(call);
    store_lock(iam->st);
    int rc;
    if (!entity_find(iam, &role_entity, name, NULL, 0)) {
        rc = entity_missing(call, &role_entity, name);
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
        int found = entity_find(ctx_iam(call), &role_entity, name, NULL, 0);
        store_read_end(ctx_iam(call)->st);
        rc = found ? 0 : entity_missing(call, &role_entity, name);
    }
    return rc;
}

/* UpdateRoleDescription: UpdateRole's Description, answered with the role. */
static int update_role_description(struct api_call *call, const struct api_params *p,
                                   struct buf *out)
{
    const char *name, *desc = NULL;
    int rc = name_param(call, p, "RoleName", "roleName", 64, &name);
    if (rc == 0 && (rc = description_param(call, p, &desc)) == 0 && desc == NULL) {
        rc = invalid(call, NULL, "description", "");
    }
    if (rc < 0 ||
        (rc = update_role_column(call, name, "UPDATE iam_role SET description = ? WHERE name = ?",
                                 "s", desc)) < 0) {
        return rc;
    }
    return get_entity_named(call, &role_entity, name, out);
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

/* ---- groups and membership ---- */

static int create_group(struct api_call *call, const struct api_params *p, struct buf *out)
{
    struct new_entity e = {0};
    int rc = name_param(call, p, "GroupName", "groupName", 128, &e.name);
    if (rc < 0 || (rc = path_param(call, p, &e.path)) < 0) {
        return rc;
    }
    return create_entity(call, p, &group_entity, &e, out);
}

/* UpdateGroup: a new name moves the group's members and its inline and attached
   policies with it. */
static int update_group(struct api_call *call, const struct api_params *p, struct buf *out)
{
    (void)out;
    struct iam *iam = ctx_iam(call);
    const char *name, *new_name = api_params_get(p, "NewGroupName");
    const char *new_path = api_params_get(p, "NewPath");
    int rc = name_param(call, p, "GroupName", "groupName", 128, &name);
    if (rc == 0 && new_name != NULL) {
        rc = name_param(call, p, "NewGroupName", "newGroupName", 128, &new_name);
    }
    if (rc == 0 && new_path != NULL) {
        size_t n = strlen(new_path);
        if (n < 1 || n > 512 || new_path[0] != '/' || new_path[n - 1] != '/') {
            rc = invalid(call, new_path, "newPath",
                         "Member must satisfy regular expression pattern: "
                         "(\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)");
        }
    }
    if (rc < 0) {
        return rc;
    }
    store_lock(iam->st);
    if (!entity_find(iam, &group_entity, name, NULL, 0)) {
        rc = entity_missing(call, &group_entity, name);
    } else if (new_name != NULL && strcasecmp(new_name, name) != 0 &&
               entity_find(iam, &group_entity, new_name, NULL, 0)) {
        rc = err_set(&call->err, SL_E(IAM_ENTITY_EXISTS), "Group with name %s already exists.",
                     new_name);
    } else {
        rc = store_begin(iam->st);
        if (rc == 0 && new_path != NULL) {
            rc = store_run(iam->st, "UPDATE iam_group SET path = ? WHERE name = ?", "ss", new_path,
                           name);
        }
        if (rc == 0 && new_name != NULL) {
            static const char *const renames[] = {
                "UPDATE iam_group SET name = ? WHERE name = ?",
                "UPDATE iam_member SET group_name = ? WHERE group_name = ?",
                "UPDATE iam_inline SET owner = ? WHERE kind = 'group' AND owner = ?",
                "UPDATE iam_attach SET owner = ? WHERE kind = 'group' AND owner = ?",
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

static int get_group(struct api_call *call, const struct api_params *p, struct buf *out)
{
    static const struct listing users = {"Users", put_user, 0, NULL};
    struct iam *iam = ctx_iam(call);
    const char *name, *marker;
    int64_t max;
    int rc = name_param(call, p, "GroupName", "groupName", 128, &name);
    if (rc < 0 || (rc = paging(call, p, &max, &marker)) < 0) {
        return rc;
    }
    store_read_begin(iam->st);
    if (!put_entity_of(iam, &group_entity, name, out)) {
        store_read_end(iam->st);
        return entity_missing(call, &group_entity, name);
    }
    struct store_stmt *q = store_prepare_args(
        iam->st,
        "SELECT u.name, u.id, u.path, u.created FROM iam_member m JOIN iam_user u"
        " ON u.name = m.user_name WHERE m.group_name = ? AND u.name > ?"
        " ORDER BY u.name LIMIT ?",
        "ssi", name, marker, max + 1);
    put_page(out, iam, q, max, &users);
    store_read_end(iam->st);
    return 0;
}

static int list_groups_for_user(struct api_call *call, const struct api_params *p, struct buf *out)
{
    struct iam *iam = ctx_iam(call);
    int64_t max;
    const char *user, *marker;
    int rc = subject_user(call, p, &user);
    if (rc < 0 || (rc = paging(call, p, &max, &marker)) < 0) {
        return rc;
    }
    store_read_begin(iam->st);
    if (!entity_find(iam, &user_entity, user, NULL, 0)) {
        store_read_end(iam->st);
        return entity_missing(call, &user_entity, user);
    }
    struct store_stmt *q =
        store_prepare_args(iam->st,
                           "SELECT g.name, g.id, g.path, g.created FROM iam_member m JOIN"
                           " iam_group g ON g.name = m.group_name WHERE m.user_name = ?"
                           " AND g.name > ? ORDER BY g.name LIMIT ?",
                           "ssi", user, marker, max + 1);
    put_page(out, iam, q, max, &group_entity.list);
    store_read_end(iam->st);
    return 0;
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
    if (!entity_find(iam, &group_entity, group, NULL, 0)) {
        rc = entity_missing(call, &group_entity, group);
    } else if (!entity_find(iam, &user_entity, user, NULL, 0)) {
        rc = entity_missing(call, &user_entity, user);
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
            rc = entity_missing(call, &user_entity, user);
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

/* ---- inline policies of users, groups and roles ---- */

/* The user, group or role a call about its inline policies names. */
static int owner_param(struct api_call *call, const struct api_params *p, const struct entity *k,
                       const char **name)
{
    if (k == &user_entity) {
        return subject_user(call, p, name);
    }
    return name_param(call, p, k->field, k->member, k->attach_max, name);
}

static int put_inline_policy(struct api_call *call, const struct api_params *p, struct buf *out)
{
    (void)out;
    struct iam *iam = ctx_iam(call);
    const struct entity *k = op_entity(call);
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
    if (!entity_find(iam, k, owner, NULL, 0)) {
        rc = entity_missing(call, k, owner);
    } else if ((rc = store_run(iam->st,
                               "INSERT INTO iam_inline (kind, owner, name, doc) VALUES (?, ?, ?, ?)"
                               " ON CONFLICT (kind, owner, name) DO UPDATE SET doc = excluded.doc",
                               "ssss", k->kind, owner, policy, doc)) < 0) {
        store_failed(call, rc);
    }
    write_done(iam);
    return rc;
}

static int inline_missing(struct api_call *call, const struct entity *k, const char *name)
{
    return err_set(&call->err, SL_E(IAM_NO_SUCH_ENTITY),
                   "The %s policy with name %s cannot be found.", k->noun, name);
}

static int get_inline_policy(struct api_call *call, const struct api_params *p, struct buf *out)
{
    struct iam *iam = ctx_iam(call);
    const struct entity *k = op_entity(call);
    const char *owner, *policy;
    int rc = owner_param(call, p, k, &owner);
    if (rc < 0 || (rc = name_param(call, p, "PolicyName", "policyName", 128, &policy)) < 0) {
        return rc;
    }
    store_read_begin(iam->st);
    struct store_stmt *q =
        entity_find(iam, k, owner, NULL, 0)
            ? store_prepare_args(iam->st,
                                 "SELECT owner, doc FROM iam_inline WHERE kind = ? AND owner = ?"
                                 " AND name = ?",
                                 "sss", k->kind, owner, policy)
            : NULL;
    if (q == NULL) {
        rc = entity_missing(call, k, owner);
    } else if (store_step(q) == 1) {
        put_text(out, k->field, store_col_text(q, 0));
        put_text(out, "PolicyName", policy);
        put_doc(out, "PolicyDocument", store_col_text(q, 1));
    } else {
        rc = inline_missing(call, k, policy);
    }
    store_finalize(q);
    store_read_end(iam->st);
    return rc;
}

static void put_name(struct buf *b, const struct iam *iam, struct store_stmt *q)
{
    (void)iam;
    buf_xml_escape(b, store_col_text(q, 0), strlen(store_col_text(q, 0)));
}

static int list_inline_policies(struct api_call *call, const struct api_params *p, struct buf *out)
{
    static const struct listing names = {"PolicyNames", put_name, 0, NULL};
    struct iam *iam = ctx_iam(call);
    const struct entity *k = op_entity(call);
    const char *owner, *marker;
    int64_t max;
    int rc = owner_param(call, p, k, &owner);
    if (rc < 0 || (rc = paging(call, p, &max, &marker)) < 0) {
        return rc;
    }
    store_read_begin(iam->st);
    if (!entity_find(iam, k, owner, NULL, 0)) {
        store_read_end(iam->st);
        return entity_missing(call, k, owner);
    }
    struct store_stmt *q = store_prepare_args(
        iam->st,
        "SELECT name FROM iam_inline WHERE kind = ? AND owner = ? AND name > ? ORDER BY name"
        " LIMIT ?",
        "sssi", k->kind, owner, marker, max + 1);
    put_page(out, iam, q, max, &names);
    store_read_end(iam->st);
    return 0;
}

static int delete_inline_policy(struct api_call *call, const struct api_params *p, struct buf *out)
{
    (void)out;
    struct iam *iam = ctx_iam(call);
    const struct entity *k = op_entity(call);
    const char *owner, *policy;
    int rc = owner_param(call, p, k, &owner);
    if (rc < 0 || (rc = name_param(call, p, "PolicyName", "policyName", 128, &policy)) < 0) {
        return rc;
    }
    store_lock(iam->st);
    if (!entity_find(iam, k, owner, NULL, 0)) {
        rc = entity_missing(call, k, owner);
    } else if ((rc = store_run(iam->st,
                               "DELETE FROM iam_inline WHERE kind = ? AND owner = ? AND name = ?",
                               "sss", k->kind, owner, policy)) < 0) {
        store_failed(call, rc);
    } else if (store_changes(iam->st) == 0) {
        rc = inline_missing(call, k, policy);
    }
    write_done(iam);
    return rc;
}

/* ---- managed policies ---- */

#define POLICY_VERSIONS_MAX 5
#define POLICY_COLS                                                                                \
    "p.name, p.id, p.path, p.arn, p.created, p.updated, p.default_version, p.description,"         \
    " (SELECT count(*) FROM iam_attach a WHERE a.arn = p.arn),"                                    \
    " (SELECT count(*) FROM iam_user u WHERE u.boundary = p.arn)"                                  \
    " + (SELECT count(*) FROM iam_role r WHERE r.boundary = p.arn)"

static void put_managed(struct buf *b, const struct iam *iam, struct store_stmt *q)
{
    (void)iam;
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
/* Writes the policy row of arn as <Policy> (inside a bracket). */
static int put_policy_of(struct iam *iam, const char *arn, struct buf *out)
{
    struct store_stmt *q = store_prepare_args(
        iam->st, "SELECT " POLICY_COLS " FROM iam_policy p WHERE p.arn = ?", "s", arn);
    int rc = SL_E(IAM_NO_SUCH_ENTITY);
    if (q != NULL && store_step(q) == 1) {
        buf_puts(out, "<Policy>");
        put_managed(out, iam, q);
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
    static const struct listing policies = {"Policies", put_managed, 3, NULL};
    struct iam *iam = ctx_iam(call);
    int64_t max;
    const char *marker;
    int rc = paging(call, p, &max, &marker);
    if (rc < 0) {
        return rc;
    }
    const char *scope = api_params_get(p, "Scope");
    const char *only = api_params_get(p, "OnlyAttached");
    const char *prefix = path_prefix(p);
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
        "siiisii", marker, builtin_lo, builtin_hi, (int64_t)strlen(prefix), prefix, attached,
        max + 1);
    put_page(out, iam, q, max, &policies);
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
    if (!entity_find(iam, &policy_entity, arn, NULL, 0) || is_aws_policy(arn)) {
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

/* A version in a listing: columns version, created, the policy's default version. */
static void put_version_row(struct buf *b, const struct iam *iam, struct store_stmt *q)
{
    (void)iam;
    put_version(b, store_col_int64(q, 0), store_col_int64(q, 2), store_col_int64(q, 1), NULL);
}

static int list_policy_versions(struct api_call *call, const struct api_params *p, struct buf *out)
{
    static const struct listing versions = {"Versions", put_version_row, 0, "v"};
    struct iam *iam = ctx_iam(call);
    const char *arn, *marker;
    int64_t max;
    int rc = arn_param(call, p, &arn);
    if (rc < 0 || (rc = paging(call, p, &max, &marker)) < 0) {
        return rc;
    }
    store_read_begin(iam->st);
    if (default_version(iam, arn) == 0) {
        store_read_end(iam->st);
        return policy_arn_missing(call, arn);
    }
    /* newest first, as IAM lists them */
    int64_t below = marker[0] != '\0' ? version_number(marker) : INT64_MAX;
    struct store_stmt *q = store_prepare_args(
        iam->st,
        "SELECT v.version, v.created, p.default_version FROM iam_policy_version v JOIN"
        " iam_policy p ON p.arn = v.arn WHERE v.arn = ? AND v.version < ?"
        " ORDER BY v.version DESC LIMIT ?",
        "sii", arn, below, max + 1);
    put_page(out, iam, q, max, &versions);
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
/* ---- attachments of managed policies ---- */

/* Attach (attach 1) or detach a managed policy to a user, group or role. */
static int attachment(struct api_call *call, const struct api_params *p, int attach)
{
    struct iam *iam = ctx_iam(call);
    const struct entity *k = op_entity(call);
    const char *owner, *arn;
    int rc = entity_param(call, p, k, k->attach_max, &owner);
    if (rc < 0 || (rc = arn_param(call, p, &arn)) < 0) {
        return rc;
    }
    store_lock(iam->st);
    if (!entity_find(iam, k, owner, NULL, 0)) {
        rc = entity_missing(call, k, owner);
    } else if (!entity_find(iam, &policy_entity, arn, NULL, 0)) {
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

static int attach_policy(struct api_call *call, const struct api_params *p, struct buf *out)
{
    (void)out;
    return attachment(call, p, 1);
}

static int detach_policy(struct api_call *call, const struct api_params *p, struct buf *out)
{
    (void)out;
    return attachment(call, p, 0);
}

/* An attached policy: columns name, arn. */
static void put_attached(struct buf *b, const struct iam *iam, struct store_stmt *q)
{
    (void)iam;
    put_text(b, "PolicyName", store_col_text(q, 0));
    put_text(b, "PolicyArn", store_col_text(q, 1));
}

static int list_attached(struct api_call *call, const struct api_params *p, struct buf *out)
{
    static const struct listing attached = {"AttachedPolicies", put_attached, 1, NULL};
    struct iam *iam = ctx_iam(call);
    const struct entity *k = op_entity(call);
    const char *owner, *marker;
    int64_t max;
    int rc = entity_param(call, p, k, k->attach_max, &owner);
    if (k == &user_entity && api_params_get(p, "UserName") == NULL) {
        rc = subject_user(call, p, &owner);
    }
    if (rc < 0 || (rc = paging(call, p, &max, &marker)) < 0) {
        return rc;
    }
    const char *prefix = path_prefix(p);
    store_read_begin(iam->st);
    if (!entity_find(iam, k, owner, NULL, 0)) {
        store_read_end(iam->st);
        return entity_missing(call, k, owner);
    }
    struct store_stmt *q = store_prepare_args(
        iam->st,
        "SELECT p.name, p.arn FROM iam_attach a JOIN iam_policy p ON p.arn = a.arn WHERE"
        " a.kind = ? AND a.owner = ? AND p.arn > ? AND substr(p.path, 1, ?) = ?"
        " ORDER BY p.arn LIMIT ?",
        "sssisi", k->kind, owner, marker, (int64_t)strlen(prefix), prefix, max + 1);
    put_page(out, iam, q, max, &attached);
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
    if (!entity_find(iam, &policy_entity, arn, NULL, 0)) {
        store_read_end(iam->st);
        return policy_arn_missing(call, arn);
    }
    static const struct entity *const kinds[] = {&group_entity, &user_entity, &role_entity};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        const struct entity *k = kinds[i];
        buf_printf(out, "<Policy%ss>", k->title);
        if (filter == NULL || strcmp(filter, k->title) == 0) {
            char sql[200];
            snprintf(sql, sizeof(sql),
                     "SELECT e.name, e.id FROM iam_attach a JOIN %s e ON e.name = a.owner"
                     " WHERE a.kind = ? AND a.arn = ? ORDER BY e.name",
                     k->table);
            struct store_stmt *q = store_prepare_args(iam->st, sql, "ss", k->kind, arn);
            while (q != NULL && store_step(q) == 1) {
                buf_puts(out, "<member>");
                put_text(out, k->field, store_col_text(q, 0));
                buf_printf(out, "<%sId>", k->title);
                buf_xml_escape(out, store_col_text(q, 1), strlen(store_col_text(q, 1)));
                buf_printf(out, "</%sId>", k->title);
                buf_puts(out, "</member>");
            }
            store_finalize(q);
        }
        buf_printf(out, "</Policy%ss>", k->title);
    }
    put_page_end(out, 0, "");
    store_read_end(iam->st);
    return 0;
}

/* ---- tags of users, roles and managed policies ---- */

#define TAGS_MAX 50

/* Reads Tags.member.N.Key/Value (N from 1) into the store for (kind, owner), checking
   lengths and the count against what is already there. Inside store_lock. */
static int store_tags(struct api_call *call, const struct api_params *p, const char *kind,
                      const char *owner)
{
    struct iam *iam = ctx_iam(call);
    /* A user's or role's tag keys are one whatever their case (a managed policy's are
       not): a tag replaces the one whose key differs only in case, key and all. */
    int nocase = strcmp(kind, "policy") != 0;
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
        for (int k = 1; k < i; k++) {
            snprintf(vname, sizeof(vname), "Tags.member.%d.Key", k);
            const char *other = api_params_get(p, vname);
            if (nocase ? strcasecmp(other, key) == 0 : strcmp(other, key) == 0) {
                return err_set(&call->err, SL_E(INVALID_INPUT_IAM),
                               "Duplicate tag keys found. Please note that Tag keys are case "
                               "insensitive.");
            }
        }
        n++;
    }
    for (int i = 1; i <= n; i++) {
        char kname[40], vname[40];
        snprintf(kname, sizeof(kname), "Tags.member.%d.Key", i);
        snprintf(vname, sizeof(vname), "Tags.member.%d.Value", i);
        int rc = store_run(iam->st,
                           nocase ? "DELETE FROM iam_tag WHERE kind = ? AND owner = ?"
                                    " AND key = ? COLLATE NOCASE"
                                  : "DELETE FROM iam_tag WHERE kind = ? AND owner = ? AND key = ?",
                           "sss", kind, owner, api_params_get(p, kname));
        if (rc == 0) {
            rc = store_run(iam->st,
                           "INSERT INTO iam_tag (kind, owner, key, value) VALUES (?, ?, ?, ?)",
                           "ssss", kind, owner, api_params_get(p, kname), api_params_get(p, vname));
        }
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

/* A tag: columns key, value. */
static void put_tag(struct buf *b, const struct iam *iam, struct store_stmt *q)
{
    (void)iam;
    put_text(b, "Key", store_col_text(q, 0));
    put_text(b, "Value", store_col_text(q, 1));
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
        put_tag(out, iam, q);
        buf_puts(out, "</member>");
    }
    if (any) {
        buf_puts(out, "</Tags>");
    }
    store_finalize(q);
}

/* The name as stored of the user, role or policy a tag call names, or an error (inside a
   bracket). */
static int tag_owner(struct api_call *call, const struct api_params *p, const struct entity *k,
                     char *owner, size_t size)
{
    const char *name;
    int rc = entity_param(call, p, k, k->name_max, &name);
    if (rc == 0 && !entity_find(ctx_iam(call), k, name, owner, size)) {
        rc = entity_missing(call, k, name);
    }
    return rc;
}

static int tag_entity(struct api_call *call, const struct api_params *p, struct buf *out)
{
    (void)out;
    struct iam *iam = ctx_iam(call);
    const struct entity *k = op_entity(call);
    char owner[700];
    store_lock(iam->st);
    int rc = tag_owner(call, p, k, owner, sizeof(owner));
    if (rc == 0 && (rc = store_begin(iam->st)) == 0) {
        rc = store_tags(call, p, k->kind, owner);
        if (rc == 0) {
            rc = store_commit(iam->st);
        } else {
            store_rollback(iam->st);
        }
    }
    write_done(iam);
    return rc;
}

static int untag_entity(struct api_call *call, const struct api_params *p, struct buf *out)
{
    (void)out;
    struct iam *iam = ctx_iam(call);
    const struct entity *k = op_entity(call);
    char owner[700];
    store_lock(iam->st);
    int rc = tag_owner(call, p, k, owner, sizeof(owner));
    for (int i = 1; rc == 0; i++) {
        char kname[40];
        snprintf(kname, sizeof(kname), "TagKeys.member.%d", i);
        const char *key = api_params_get(p, kname);
        if (key == NULL) {
            break;
        }
        rc = store_run(iam->st,
                       strcmp(k->kind, "policy") != 0
                           ? "DELETE FROM iam_tag WHERE kind = ? AND owner = ? AND key = ?"
                             " COLLATE NOCASE"
                           : "DELETE FROM iam_tag WHERE kind = ? AND owner = ? AND key = ?",
                       "sss", k->kind, owner, key);
        if (rc < 0) {
            store_failed(call, rc);
        }
    }
    write_done(iam);
    return rc;
}

static int list_entity_tags(struct api_call *call, const struct api_params *p, struct buf *out)
{
    static const struct listing tags = {"Tags", put_tag, 0, NULL};
    struct iam *iam = ctx_iam(call);
    const struct entity *k = op_entity(call);
    char owner[700];
    int64_t max;
    const char *marker;
    int rc = paging(call, p, &max, &marker);
    if (rc < 0) {
        return rc;
    }
    store_read_begin(iam->st);
    rc = tag_owner(call, p, k, owner, sizeof(owner));
    if (rc == 0) {
        struct store_stmt *q = store_prepare_args(
            iam->st,
            "SELECT key, value FROM iam_tag WHERE kind = ? AND owner = ? AND key > ? ORDER BY key"
            " LIMIT ?",
            "sssi", k->kind, owner, marker, max + 1);
        put_page(out, iam, q, max, &tags);
    }
    store_read_end(iam->st);
    return rc;
}

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
        put_attached(out, iam, q);
        buf_puts(out, "</member>");
    }
    store_finalize(q);
    buf_puts(out, "</AttachedManagedPolicies>");
}

/* <UserDetailList>, <GroupDetailList> or <RoleDetailList>: every entity of kind k with
   its inline and attached policies (and a user's groups, an entity's tags). */
static void details_of(struct buf *out, struct iam *iam, const struct entity *k)
{
    buf_printf(out, "<%sDetailList>", k->title);
    char sql[160], tag[32];
    snprintf(sql, sizeof(sql), "SELECT %s FROM %s ORDER BY name", k->cols, k->table);
    snprintf(tag, sizeof(tag), "%sPolicyList", k->title);
    struct store_stmt *q = store_prepare_args(iam->st, sql, "");
    while (q != NULL && store_step(q) == 1) {
        const char *name = store_col_text(q, 0);
        buf_puts(out, "<member>");
        k->list.row(out, iam, q);
        if (k == &role_entity) {
            buf_puts(out, "<InstanceProfileList/>");
        }
        put_inline_list(out, iam, tag, k->kind, name);
        if (k == &user_entity) {
            buf_puts(out, "<GroupList>");
            struct store_stmt *g = store_prepare_args(
                iam->st,
                "SELECT group_name FROM iam_member WHERE user_name = ? ORDER BY group_name", "s",
                name);
            while (g != NULL && store_step(g) == 1) {
                put_text(out, "member", store_col_text(g, 0));
            }
            store_finalize(g);
            buf_puts(out, "</GroupList>");
        }
        put_attached_list(out, iam, k->kind, name);
        if (k->tagged) {
            put_tags(out, iam, k->kind, name);
        }
        buf_puts(out, "</member>");
    }
    store_finalize(q);
    buf_printf(out, "</%sDetailList>", k->title);
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
        put_managed(out, iam, q);
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
    static const struct entity *const kinds[] = {&user_entity, &group_entity, &role_entity};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (filter_wants(p, kinds[i]->title)) {
            details_of(out, iam, kinds[i]);
        }
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
static int boundary_on_create(struct api_call *call, const struct api_params *p, const char *table,
                              const char *name)
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
    if (!entity_find(iam, &policy_entity, arn, NULL, 0)) {
        return policy_arn_missing(call, arn);
    }
    char sql[80];
    snprintf(sql, sizeof(sql), "UPDATE %s SET boundary = ? WHERE name = ?", table);
    rc = store_run(iam->st, sql, "ss", arn, name);
    return rc < 0 ? store_failed(call, rc) : 0;
}

/* Put (arn from the call) or delete (put 0) a user's or role's boundary. */
/* Put (arn from the call) or delete (put 0) a user's or role's boundary. */
static int set_boundary(struct api_call *call, const struct api_params *p, int put)
{
    struct iam *iam = ctx_iam(call);
    const struct entity *k = op_entity(call);
    const char *owner, *arn = NULL;
    int rc = entity_param(call, p, k, 64, &owner);
    if (rc < 0 || (put && (rc = boundary_param(call, p, &arn)) < 0)) {
        return rc;
    }
    store_lock(iam->st);
    if (!entity_find(iam, k, owner, NULL, 0)) {
        rc = entity_missing(call, k, owner);
    } else if (put && !entity_find(iam, &policy_entity, arn, NULL, 0)) {
        rc = policy_arn_missing(call, arn);
    } else {
        char sql[80];
        snprintf(sql, sizeof(sql), "UPDATE %s SET boundary = %s WHERE name = ?", k->table,
                 put ? "?" : "NULL");
        rc = put ? store_run(iam->st, sql, "ss", arn, owner) : store_run(iam->st, sql, "s", owner);
        if (rc < 0) {
            store_failed(call, rc);
        }
    }
    write_done(iam);
    return rc;
}

static int put_boundary_op(struct api_call *call, const struct api_params *p, struct buf *out)
{
    (void)out;
    return set_boundary(call, p, 1);
}

static int delete_boundary_op(struct api_call *call, const struct api_params *p, struct buf *out)
{
    (void)out;
    return set_boundary(call, p, 0);
}

static const struct api_query_op iam_ops[] = {
    {"CreateUser", create_user},
    {"GetUser", get_user},
    {"ListUsers", list_entities, &user_entity},
    {"UpdateUser", update_user},
    {"DeleteUser", delete_entity, &user_entity},
    {"CreateAccessKey", create_access_key},
    {"ListAccessKeys", list_access_keys},
    {"UpdateAccessKey", update_access_key},
    {"DeleteAccessKey", delete_access_key},
    {"GetAccessKeyLastUsed", get_access_key_last_used},
    {"CreateRole", create_role},
    {"GetRole", get_role},
    {"ListRoles", list_entities, &role_entity},
    {"UpdateRole", update_role},
    {"UpdateAssumeRolePolicy", update_assume_role_policy},
    {"UpdateRoleDescription", update_role_description},
    {"DeleteRole", delete_entity, &role_entity},
    {"PutUserPolicy", put_inline_policy, &user_entity},
    {"GetUserPolicy", get_inline_policy, &user_entity},
    {"ListUserPolicies", list_inline_policies, &user_entity},
    {"DeleteUserPolicy", delete_inline_policy, &user_entity},
    {"PutRolePolicy", put_inline_policy, &role_entity},
    {"GetRolePolicy", get_inline_policy, &role_entity},
    {"ListRolePolicies", list_inline_policies, &role_entity},
    {"DeleteRolePolicy", delete_inline_policy, &role_entity},
    {"PutGroupPolicy", put_inline_policy, &group_entity},
    {"GetGroupPolicy", get_inline_policy, &group_entity},
    {"ListGroupPolicies", list_inline_policies, &group_entity},
    {"DeleteGroupPolicy", delete_inline_policy, &group_entity},
    {"CreateGroup", create_group},
    {"GetGroup", get_group},
    {"ListGroups", list_entities, &group_entity},
    {"UpdateGroup", update_group},
    {"DeleteGroup", delete_entity, &group_entity},
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
    {"AttachUserPolicy", attach_policy, &user_entity},
    {"DetachUserPolicy", detach_policy, &user_entity},
    {"ListAttachedUserPolicies", list_attached, &user_entity},
    {"AttachGroupPolicy", attach_policy, &group_entity},
    {"DetachGroupPolicy", detach_policy, &group_entity},
    {"ListAttachedGroupPolicies", list_attached, &group_entity},
    {"AttachRolePolicy", attach_policy, &role_entity},
    {"DetachRolePolicy", detach_policy, &role_entity},
    {"ListAttachedRolePolicies", list_attached, &role_entity},
    {"ListEntitiesForPolicy", list_entities_for_policy},
    {"TagUser", tag_entity, &user_entity},
    {"UntagUser", untag_entity, &user_entity},
    {"ListUserTags", list_entity_tags, &user_entity},
    {"TagRole", tag_entity, &role_entity},
    {"UntagRole", untag_entity, &role_entity},
    {"ListRoleTags", list_entity_tags, &role_entity},
    {"TagPolicy", tag_entity, &policy_entity},
    {"UntagPolicy", untag_entity, &policy_entity},
    {"ListPolicyTags", list_entity_tags, &policy_entity},
    {"PutUserPermissionsBoundary", put_boundary_op, &user_entity},
    {"DeleteUserPermissionsBoundary", delete_boundary_op, &user_entity},
    {"PutRolePermissionsBoundary", put_boundary_op, &role_entity},
    {"DeleteRolePermissionsBoundary", delete_boundary_op, &role_entity},
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
