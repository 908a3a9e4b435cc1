#include "iam/iam.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "core/base64.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/text.h"
#include "iam/iam_int.h"

static const struct store_migration migrations[] = {
    {1, "CREATE TABLE iam_user (name TEXT PRIMARY KEY COLLATE NOCASE, id TEXT NOT NULL,"
        " path TEXT NOT NULL, created INTEGER NOT NULL);"
        "CREATE TABLE iam_key (key_id TEXT PRIMARY KEY, user_name TEXT NOT NULL COLLATE NOCASE,"
        " secret TEXT NOT NULL, status TEXT NOT NULL, created INTEGER NOT NULL);"
        "CREATE INDEX iam_key_user ON iam_key(user_name);"
        "CREATE TABLE iam_role (name TEXT PRIMARY KEY COLLATE NOCASE, id TEXT NOT NULL,"
        " path TEXT NOT NULL, created INTEGER NOT NULL, trust TEXT NOT NULL,"
        " description TEXT, max_session INTEGER NOT NULL);"
        /* kind: 'user', 'role'; owner: the user's or role's name */
        "CREATE TABLE iam_inline (kind TEXT NOT NULL, owner TEXT NOT NULL COLLATE NOCASE,"
        " name TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (kind, owner, name));"
        /* temporary credentials; kind: enum http_principal_kind */
        "CREATE TABLE iam_session (key_id TEXT PRIMARY KEY, secret TEXT NOT NULL,"
        " expires INTEGER NOT NULL, kind INTEGER NOT NULL, arn TEXT NOT NULL, id TEXT NOT NULL,"
        " name TEXT NOT NULL, policy TEXT);"
        "CREATE INDEX iam_session_expires ON iam_session(expires);"},
    {2, "CREATE TABLE iam_group (name TEXT PRIMARY KEY COLLATE NOCASE, id TEXT NOT NULL,"
        " path TEXT NOT NULL, created INTEGER NOT NULL);"
        "CREATE TABLE iam_member (group_name TEXT NOT NULL COLLATE NOCASE,"
        " user_name TEXT NOT NULL COLLATE NOCASE, PRIMARY KEY (group_name, user_name));"
        "CREATE INDEX iam_member_user ON iam_member(user_name);"
        /* managed policies; builtin: 1 for AWS's own (arn:aws:iam::aws:policy/...) */
        "CREATE TABLE iam_policy (arn TEXT PRIMARY KEY, name TEXT NOT NULL, id TEXT NOT NULL,"
        " path TEXT NOT NULL, created INTEGER NOT NULL, updated INTEGER NOT NULL,"
        " default_version INTEGER NOT NULL, next_version INTEGER NOT NULL, description TEXT,"
        " builtin INTEGER NOT NULL DEFAULT 0);"
        "CREATE TABLE iam_policy_version (arn TEXT NOT NULL, version INTEGER NOT NULL,"
        " doc TEXT NOT NULL, created INTEGER NOT NULL, PRIMARY KEY (arn, version));"
        /* kind: 'user', 'group', 'role' */
        "CREATE TABLE iam_attach (kind TEXT NOT NULL, owner TEXT NOT NULL COLLATE NOCASE,"
        " arn TEXT NOT NULL, PRIMARY KEY (kind, owner, arn));"
        "CREATE INDEX iam_attach_arn ON iam_attach(arn);"},
    /* kind: 'user', 'role', 'policy'; owner: the name, or the policy's ARN */
    {3, "CREATE TABLE iam_tag (kind TEXT NOT NULL, owner TEXT NOT NULL COLLATE NOCASE,"
        " key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, owner, key));"},
    /* permissions boundaries: a managed policy's ARN, NULL when none */
    {4, "ALTER TABLE iam_user ADD COLUMN boundary TEXT;"
        "ALTER TABLE iam_role ADD COLUMN boundary TEXT;"},
    /* session tags: a JSON object (key -> value, the keys' case kept), and the keys that
       pass on to a role chain's next session (a JSON array); NULL when none */
    {5, "ALTER TABLE iam_session ADD COLUMN tags TEXT;"
        "ALTER TABLE iam_session ADD COLUMN transitive TEXT;"},
    /* managed session policies (a JSON array of ARNs) and the source identity of a
       session; the tag keys of a user or role unique whatever their case, as IAM has them
       (a managed policy's stay case-sensitive): of keys that differ only in case, the
       last written stays */
    {6, "ALTER TABLE iam_session ADD COLUMN policy_arns TEXT;"
        "ALTER TABLE iam_session ADD COLUMN source_identity TEXT;"
        "DELETE FROM iam_tag WHERE kind IN ('user', 'role') AND rowid NOT IN"
        " (SELECT max(rowid) FROM iam_tag WHERE kind IN ('user', 'role')"
        " GROUP BY kind, owner, key COLLATE NOCASE);"
        "CREATE UNIQUE INDEX iam_tag_nocase ON iam_tag(kind, owner, key COLLATE NOCASE)"
        " WHERE kind IN ('user', 'role');"},
};

/*
 * Every request signed with a user's key looks the key up: the answers are kept, one
 * slot a key (direct-mapped), until the next IAM write (iam__generation), which may have
 * deactivated or deleted the key or renamed its user. Unknown keys are not kept.
 */
#define KEY_SLOTS 256

struct key_slot {
    char key_id[32]; /* "" when empty */
    uint64_t gen;
    char secret[64];
    struct http_principal who;
};

struct iam_key_cache {
    pthread_mutex_t lock;
    struct key_slot slots[KEY_SLOTS];
};

static struct key_slot *key_slot_of(struct iam *iam, const char *key_id)
{
    size_t h = 5381;
    for (const char *p = key_id; *p; p++) {
        h = h * 33 + (unsigned char)*p;
    }
    return &iam->keys->slots[h % KEY_SLOTS];
}

static int cached_key(struct iam *iam, const char *key_id, char *secret_out, size_t secret_size,
                      struct http_principal *who)
{
    uint64_t gen = iam__generation();
    struct key_slot *s = key_slot_of(iam, key_id);
    int hit = 0;
    pthread_mutex_lock(&iam->keys->lock);
    if (s->gen == gen && strcmp(s->key_id, key_id) == 0) {
        snprintf(secret_out, secret_size, "%s", s->secret);
        *who = s->who;
        hit = 1;
    }
    pthread_mutex_unlock(&iam->keys->lock);
    return hit;
}

static void keep_key(struct iam *iam, const char *key_id, uint64_t gen, const char *secret,
                     const struct http_principal *who)
{
    if (strlen(key_id) >= sizeof(((struct key_slot *)0)->key_id) ||
        strlen(secret) >= sizeof(((struct key_slot *)0)->secret)) {
        return;
    }
    struct key_slot *s = key_slot_of(iam, key_id);
    pthread_mutex_lock(&iam->keys->lock);
    snprintf(s->key_id, sizeof(s->key_id), "%s", key_id);
    snprintf(s->secret, sizeof(s->secret), "%s", secret);
    s->who = *who;
    s->gen = gen;
    pthread_mutex_unlock(&iam->keys->lock);
}

#define BASE32 "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

void iam__random_chars(char *out, size_t n, const char *alphabet)
{
    size_t n_alpha = strlen(alphabet);
    uint8_t r[128];
    crypto_random(r, n);
    for (size_t i = 0; i < n; i++) {
        out[i] = alphabet[r[i] % n_alpha];
    }
    out[n] = '\0';
}

static int read_credentials(const char *path, struct iam *iam)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -errno;
    }
    char line[256];
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        char *eq = strchr(line, '=');
        if (eq == NULL) {
            continue;
        }
        *eq = '\0';
        if (strcmp(line, "aws_access_key_id") == 0) {
            snprintf(iam->root_key_id, sizeof(iam->root_key_id), "%s", eq + 1);
        } else if (strcmp(line, "aws_secret_access_key") == 0) {
            snprintf(iam->root_secret, sizeof(iam->root_secret), "%s", eq + 1);
        }
    }
    fclose(f);
    if (iam->root_key_id[0] == '\0' || iam->root_secret[0] == '\0') {
        log_msg(LOG_ERROR, "iam", "%s lacks aws_access_key_id or aws_secret_access_key", path);
        return SL_E(CORRUPT);
    }
    return 0;
}

/* Writes the file whole (temp + fsync + rename) so a crash never leaves half a key. */
static int write_credentials(const char *path, const struct iam *iam)
{
    char *tmp = xasprintf("%s.tmp", path);
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    char text[400];
    int n =
        snprintf(text, sizeof(text), "[default]\naws_access_key_id=%s\naws_secret_access_key=%s\n",
                 iam->root_key_id, iam->root_secret);
    if (write(fd, text, (size_t)n) != n || fsync(fd) != 0) {
        rc = -errno;
        close(fd);
        unlink(tmp);
        goto out;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        rc = -errno;
        unlink(tmp);
    }
out:
    free(tmp);
    return rc;
}

void iam__new_id(const char *prefix, char out[32])
{
    size_t n = strlen(prefix);
    memcpy(out, prefix, n);
    iam__random_chars(out + n, 21 - n, BASE32);
}

/* Puts AWS's managed policies in the store once (later starts find them there). */
static int seed_aws_policies(struct store *st)
{
    store_lock(st);
    int rc = 0;
    size_t n;
    const struct iam_aws_policy *aws_policies = iam__aws_policies(&n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char arn[160], id[32];
        snprintf(arn, sizeof(arn), "arn:aws:iam::aws:policy%s%s", aws_policies[i].path,
                 aws_policies[i].name);
        iam__new_id("ANPA", id);
        int64_t v = aws_policies[i].version;
        rc = store_run(st,
                       "INSERT OR IGNORE INTO iam_policy (arn, name, id, path, created, updated,"
                       " default_version, next_version, description, builtin) VALUES (?, ?, ?,"
                       " ?, ?, ?, ?, ?, ?, 1)",
                       "ssssiiiis", arn, aws_policies[i].name, id, aws_policies[i].path,
                       aws_policies[i].created_ms,
                       aws_policies[i].updated_ms, v, v + 1, aws_policies[i].description);
        if (rc == 0) {
            rc = store_run(st,
                           "INSERT OR IGNORE INTO iam_policy_version (arn, version, doc, created)"
                           " VALUES (?, ?, ?, ?)",
                           "sisi", arn, v, aws_policies[i].doc, aws_policies[i].updated_ms);
        }
    }
    store_unlock(st);
    return rc;
}

/* The key that signs session tokens: kept in the store so tokens outlive a restart. */
static int load_token_key(struct iam *iam)
{
    if (iam->st == NULL) {
        crypto_random(iam->token_key, sizeof(iam->token_key));
        return 0;
    }
    char *hex = NULL;
    int rc = store_setting_get(iam->st, "iam.token_key", &hex);
    if (rc == 0 && hex != NULL && strlen(hex) == 64) {
        for (size_t i = 0; i < 32; i++) {
            iam->token_key[i] = (uint8_t)(hex_digit(hex[2 * i]) * 16 + hex_digit(hex[2 * i + 1]));
        }
        free(hex);
        return 0;
    }
    free(hex);
    crypto_random(iam->token_key, sizeof(iam->token_key));
    char text[65];
    hex_encode(iam->token_key, 32, text);
    return store_setting_put(iam->st, "iam.token_key", text);
}

int iam_open(struct store *st, const struct sluice_config *cfg, struct iam **out)
{
    struct iam *iam = xcalloc(1, sizeof(*iam));
    snprintf(iam->account_id, sizeof(iam->account_id), "%s", cfg->account_id);
    iam->st = st;
    iam->authz = iam__authz_new();
    iam->keys = xcalloc(1, sizeof(*iam->keys));
    pthread_mutex_init(&iam->keys->lock, NULL);
    int mrc = st != NULL
                  ? store_migrate(st, "iam", migrations, sizeof(migrations) / sizeof(migrations[0]))
                  : 0;
    if (mrc == 0) {
        mrc = load_token_key(iam);
    }
    if (mrc == 0 && st != NULL) {
        mrc = seed_aws_policies(st);
    }
    if (mrc < 0) {
        log_msg(LOG_ERROR, "iam", "cannot prepare the identity tables: %s", sl_strerror(mrc));
        iam__authz_free(iam->authz);
        pthread_mutex_destroy(&iam->keys->lock);
        free(iam->keys);
        free(iam);
        return mrc;
    }
    const char *env_id = getenv("SLUICE_ROOT_ACCESS_KEY_ID");
    const char *env_secret = getenv("SLUICE_ROOT_SECRET_ACCESS_KEY");
    if (env_id != NULL && env_secret != NULL && env_id[0] && env_secret[0]) {
        snprintf(iam->root_key_id, sizeof(iam->root_key_id), "%s", env_id);
        snprintf(iam->root_secret, sizeof(iam->root_secret), "%s", env_secret);
        *out = iam;
        return 0;
    }
    char *path = xasprintf("%s/root-credentials", cfg->data_dir);
    int rc = read_credentials(path, iam);
    if (rc == -ENOENT) {
        memcpy(iam->root_key_id, "AKIA", 4);
        iam__random_chars(iam->root_key_id + 4, 16, BASE32);
        iam__random_chars(iam->root_secret, 40,
                          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
        rc = write_credentials(path, iam);
        if (rc == 0) {
            printf("Root credentials (stored in %s, shown once):\n"
                   "  aws_access_key_id=%s\n  aws_secret_access_key=%s\n",
                   path, iam->root_key_id, iam->root_secret);
            fflush(stdout);
        }
    }
    if (rc < 0) {
        log_msg(LOG_ERROR, "iam", "cannot load root credentials from %s: %s", path,
                sl_strerror(rc));
        free(path);
        iam_close(iam);
        return rc;
    }
    free(path);
    *out = iam;
    return 0;
}

void iam_close(struct iam *iam)
{
    if (iam != NULL) {
        iam__authz_free(iam->authz);
        if (iam->keys != NULL) {
            pthread_mutex_destroy(&iam->keys->lock);
            free(iam->keys);
        }
    }
    free(iam);
}

/* The token of a session: base64 of key id, expiry (8 bytes, big-endian) and an
   HMAC-SHA256 of both under the token key, so that it proves itself. */
#define TOKEN_RAW_LEN (20 + 8 + 32)

static void token_mac(const struct iam *iam, const uint8_t *body, uint8_t mac[32])
{
    crypto_hmac_sha256(iam->token_key, sizeof(iam->token_key), body, 28, mac);
}

static void token_make(const struct iam *iam, const char *key_id, int64_t expires_ms, char out[256])
{
    uint8_t raw[TOKEN_RAW_LEN];
    memcpy(raw, key_id, 20);
    for (int i = 0; i < 8; i++) {
        raw[20 + i] = (uint8_t)((uint64_t)expires_ms >> (56 - 8 * i));
    }
    token_mac(iam, raw, raw + 28);
    size_t n = base64_encode(raw, sizeof(raw), out);
    out[n] = '\0';
}

/* 1 when token is one this server made for key_id. */
static int token_verify(const struct iam *iam, const char *key_id, const char *token)
{
    size_t len = strlen(token);
    if (len != BASE64_ENCODED_LEN(TOKEN_RAW_LEN) || strlen(key_id) != 20) {
        return 0;
    }
    uint8_t raw[BASE64_DECODED_MAX(BASE64_ENCODED_LEN(TOKEN_RAW_LEN))];
    if (base64_decode(token, len, raw) != TOKEN_RAW_LEN || memcmp(raw, key_id, 20) != 0) {
        return 0;
    }
    uint8_t mac[32];
    token_mac(iam, raw, mac);
    return crypto_equal(mac, raw + 28, 32);
}

int iam_session_create(struct iam *iam, const struct http_principal *who, int64_t duration_s,
                       const char *policy, int64_t now_ms, struct iam_session_creds *out)
{
    struct iam_session_attrs attrs = {.policy = policy};
    return iam__session_create_attrs(iam, who, duration_s, &attrs, now_ms, out);
}

int iam__session_create_attrs(struct iam *iam, const struct http_principal *who, int64_t duration_s,
                              const struct iam_session_attrs *a, int64_t now_ms,
                              struct iam_session_creds *out)
{
    if (iam->st == NULL) {
        return SL_E(INTERNAL);
    }
    memcpy(out->key_id, "ASIA", 4);
    iam__random_chars(out->key_id + 4, 16, BASE32);
    iam__random_chars(out->secret, 40,
                      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    out->expires_ms = now_ms / 1000 * 1000 + duration_s * 1000;
    token_make(iam, out->key_id, out->expires_ms, out->token);
    store_lock(iam->st);
    /* Sessions a day past their end are of no use to anyone. */
    int rc = store_run(iam->st, "DELETE FROM iam_session WHERE expires < ?", "i",
                       (int64_t)(now_ms - 86400000));
    if (rc == 0) {
        rc = store_run(iam->st,
                       "INSERT INTO iam_session (key_id, secret, expires, kind, arn, id, name,"
                       " policy, tags, transitive, policy_arns, source_identity)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       "ssiissssssss", out->key_id, out->secret, out->expires_ms,
                       (int64_t)who->kind, who->arn, who->id, who->name, a->policy, a->tags,
                       a->transitive, a->policy_arns, a->source_identity);
    }
    store_unlock(iam->st);
    return rc;
}

char *iam__session_source_identity(struct iam *iam, const char *key_id)
{
    store_read_begin(iam->st);
    struct store_stmt *q = store_prepare_args(
        iam->st, "SELECT source_identity FROM iam_session WHERE key_id = ?", "s", key_id);
    char *out = q != NULL && store_step(q) == 1 && store_col_text(q, 0) != NULL
                    ? xstrdup(store_col_text(q, 0))
                    : NULL;
    store_finalize(q);
    store_read_end(iam->st);
    return out;
}

/* Appends the statements of doc (one object or an array) to all. */
static void add_statements(json_t *all, const char *doc)
{
    json_t *d = doc != NULL ? json_loads(doc, 0, NULL) : NULL;
    json_t *st = json_object_get(d, "Statement");
    if (json_is_array(st)) {
        json_array_extend(all, st);
    } else if (json_is_object(st)) {
        json_array_append(all, st);
    }
    json_decref(d);
}

char *iam__session_policy_doc(struct iam *iam, const char *inline_doc, const char *arns_json)
{
    if ((inline_doc == NULL || inline_doc[0] == '\0') && arns_json == NULL) {
        return NULL;
    }
    json_t *all = json_array();
    add_statements(all, inline_doc);
    json_t *arns = arns_json != NULL ? json_loads(arns_json, 0, NULL) : NULL;
    size_t i;
    json_t *arn;
    json_array_foreach(arns, i, arn)
    {
        /* A policy deleted since the session began grants nothing any more. */
        struct store_stmt *q = store_prepare_args(
            iam->st,
            "SELECT v.doc FROM iam_policy p JOIN iam_policy_version v ON v.arn = p.arn"
            " AND v.version = p.default_version WHERE p.arn = ?",
            "s", json_string_value(arn));
        if (q != NULL && store_step(q) == 1) {
            add_statements(all, store_col_text(q, 0));
        }
        store_finalize(q);
    }
    json_decref(arns);
    if (json_array_size(all) == 0) {
        /* allows nothing (a policy must have a statement) */
        json_array_append_new(all, json_pack("{s:s, s:s, s:s}", "Effect", "Allow", "Action",
                                             "sts:none", "Resource", "*"));
    }
    json_t *doc = json_pack("{s:s, s:o}", "Version", "2012-10-17", "Statement", all);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

static void root_principal(const struct iam *iam, struct http_principal *who)
{
    who->kind = HTTP_PRINCIPAL_ROOT;
    snprintf(who->account, sizeof(who->account), "%s", iam->account_id);
    snprintf(who->arn, sizeof(who->arn), "arn:aws:iam::%s:root", iam->account_id);
    snprintf(who->id, sizeof(who->id), "%s", iam->account_id);
    who->name[0] = '\0';
}

/* A user's long-term key: Active ones only, as an Inactive key is refused like an
   unknown one. */
static int lookup_user_key(struct iam *iam, const char *key_id, char *secret_out,
                           size_t secret_size, struct http_principal *who)
{
    if (cached_key(iam, key_id, secret_out, secret_size, who)) {
        return 0;
    }
    /* the generation before the read: a write meanwhile makes the slot stale at once */
    uint64_t gen = iam__generation();
    store_read_begin(iam->st);
    struct store_stmt *q =
        store_prepare_args(iam->st,
                           "SELECT k.secret, k.status, u.name, u.id, u.path FROM iam_key k"
                           " JOIN iam_user u ON u.name = k.user_name WHERE k.key_id = ?",
                           "s", key_id);
    int rc = SL_E(AUTH_UNKNOWN_KEY);
    if (q != NULL && store_step(q) == 1 && strcmp(store_col_text(q, 1), "Active") == 0) {
        snprintf(secret_out, secret_size, "%s", store_col_text(q, 0));
        who->kind = HTTP_PRINCIPAL_USER;
        snprintf(who->account, sizeof(who->account), "%s", iam->account_id);
        snprintf(who->name, sizeof(who->name), "%s", store_col_text(q, 2));
        snprintf(who->id, sizeof(who->id), "%s", store_col_text(q, 3));
        snprintf(who->arn, sizeof(who->arn), "arn:aws:iam::%s:user%s%s", iam->account_id,
                 store_col_text(q, 4), store_col_text(q, 2));
        rc = 0;
    }
    store_finalize(q);
    store_read_end(iam->st);
    if (rc == 0) {
        keep_key(iam, key_id, gen, secret_out, who);
    }
    return rc;
}

static int lookup_session(struct iam *iam, const char *key_id, const char *token, int64_t now_ms,
                          char *secret_out, size_t secret_size, struct http_principal *who)
{
    if (token == NULL || !token_verify(iam, key_id, token)) {
        return SL_E(AUTH_UNKNOWN_KEY);
    }
    store_read_begin(iam->st);
    struct store_stmt *q = store_prepare_args(
        iam->st, "SELECT secret, expires, kind, arn, id, name FROM iam_session WHERE key_id = ?",
        "s", key_id);
    int rc = SL_E(AUTH_UNKNOWN_KEY);
    if (q != NULL && store_step(q) == 1) {
        if (now_ms >= store_col_int64(q, 1)) {
            rc = SL_E(AUTH_EXPIRED);
        } else {
            snprintf(secret_out, secret_size, "%s", store_col_text(q, 0));
            who->kind = (enum http_principal_kind)store_col_int64(q, 2);
            snprintf(who->account, sizeof(who->account), "%s", iam->account_id);
            snprintf(who->arn, sizeof(who->arn), "%s", store_col_text(q, 3));
            snprintf(who->id, sizeof(who->id), "%s", store_col_text(q, 4));
            snprintf(who->name, sizeof(who->name), "%s", store_col_text(q, 5));
            rc = 0;
        }
    }
    store_finalize(q);
    store_read_end(iam->st);
    return rc;
}

int iam_key_lookup(void *arg, const char *access_key_id, const char *security_token, int64_t now_ms,
                   char *secret_out, size_t secret_size, struct http_principal *who)
{
    struct iam *iam = arg;
    if (strcmp(access_key_id, iam->root_key_id) == 0) {
        snprintf(secret_out, secret_size, "%s", iam->root_secret);
        root_principal(iam, who);
        return 0;
    }
    if (iam->st == NULL) {
        return SL_E(AUTH_UNKNOWN_KEY);
    }
    if (strncmp(access_key_id, "ASIA", 4) == 0) {
        return lookup_session(iam, access_key_id, security_token, now_ms, secret_out, secret_size,
                              who);
    }
    return lookup_user_key(iam, access_key_id, secret_out, secret_size, who);
}

const char *iam_root_access_key_id(const struct iam *iam)
{
    return iam->root_key_id;
}

/* IAM reads a user may make about itself without a policy (UserName absent or its
   own), until the policy engine decides. */
static int is_self_read(const struct api_request *req, const char *operation,
                        const struct api_params *params)
{
    static const char *const reads[] = {
        "GetUser",       "ListAccessKeys",           "ListUserPolicies",
        "GetUserPolicy", "GetAccessKeyLastUsed",     "ListGroupsForUser",
        "ListUserTags",  "ListAttachedUserPolicies",
    };
    if (req->principal_kind != HTTP_PRINCIPAL_USER || params == NULL) {
        return 0;
    }
    for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
        if (strcmp(operation, reads[i]) == 0) {
            const char *name = api_params_get(params, "UserName");
            return strcmp(operation, "GetAccessKeyLastUsed") == 0 || name == NULL ||
                   strcmp(name, req->principal_name) == 0;
        }
    }
    return 0;
}

/*
 * GetSessionToken's credentials (a user's or root's, from a temporary key) act as their
 * owner except that they may call no IAM operation without MFA, which this server has
 * not, and of STS only AssumeRole and GetCallerIdentity (GetSessionToken answers for
 * itself). IAM refuses their token as invalid, as AWS does. 0, or the error (in err).
 */
static int session_token_refuses(const struct api_request *req, const char *service,
                                 const char *operation, struct err_info *err)
{
    if ((req->principal_kind != HTTP_PRINCIPAL_USER &&
         req->principal_kind != HTTP_PRINCIPAL_ROOT) ||
        req->access_key_id == NULL || strncmp(req->access_key_id, "ASIA", 4) != 0) {
        return 0;
    }
    if (strcmp(service, "iam") == 0) {
        return err_set(err, SL_E(AUTH_UNKNOWN_KEY),
                       "The security token included in the request is invalid");
    }
    if (strcmp(service, "sts") == 0 && strcmp(operation, "AssumeRole") != 0 &&
        strcmp(operation, "GetCallerIdentity") != 0 && strcmp(operation, "GetSessionToken") != 0) {
        return err_set(err, SL_E(ACCESS_DENIED), "Cannot call %s with session credentials",
                       operation);
    }
    return 0;
}

int iam_authorize(void *arg, const struct api_request *req, const char *service,
                  const char *operation, const struct api_params *params, struct err_info *err)
{
    struct iam *iam = arg;
    int refused = session_token_refuses(req, service, operation, err);
    if (refused < 0) {
        return refused;
    }
    if (req->principal_kind == HTTP_PRINCIPAL_ROOT) {
        return 0;
    }
    if (strcmp(service, "sts") == 0 &&
        (strcmp(operation, "GetCallerIdentity") == 0 || strcmp(operation, "AssumeRole") == 0 ||
         strcmp(operation, "GetSessionToken") == 0 || strcmp(operation, "GetAccessKeyInfo") == 0)) {
        return 0;
    }
    if (strcmp(service, "iam") == 0 && is_self_read(req, operation, params)) {
        return 0;
    }
    if (iam != NULL && iam->st != NULL &&
        (req->principal_kind == HTTP_PRINCIPAL_USER ||
                            req->principal_kind == HTTP_PRINCIPAL_ASSUMED_ROLE)) {
        return iam__authorize_policies(iam, req, service, operation, params, err);
    }
    /* No identity-based policy is evaluated yet, so none allows anything else. */
    const char *prefix = strcmp(service, "monitoring") == 0 ? "cloudwatch" : service;
    return err_set(err, SL_E(ACCESS_DENIED),
                   "User: %s is not authorized to perform: %s:%s on resource: * because no "
                   "identity-based policy allows the %s:%s action",
                   req->principal_arn, prefix, operation, prefix, operation);
}
