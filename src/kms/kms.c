/*
 * The key store: master key file, key rows (material wrapped), aliases, the blob format
 * and the in-process envelope interface. See kms.h for the formats.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/text.h"
#include "kms/kms_int.h"

static const struct store_migration kms_migrations[] = {
    {1, "CREATE TABLE kms_keys (key_id TEXT PRIMARY KEY, region TEXT NOT NULL,"
        " account TEXT NOT NULL, created_ms INTEGER NOT NULL, description TEXT NOT NULL,"
        " policy TEXT NOT NULL, state INTEGER NOT NULL, deletion_ms INTEGER NOT NULL,"
        " rotation INTEGER NOT NULL, aws_managed INTEGER NOT NULL, material BLOB NOT NULL);"
        "CREATE TABLE kms_aliases (region TEXT NOT NULL, account TEXT NOT NULL,"
        " name TEXT NOT NULL, key_id TEXT NOT NULL, created_ms INTEGER NOT NULL,"
        " updated_ms INTEGER NOT NULL, PRIMARY KEY (region, account, name));"
        "CREATE TABLE kms_tags (key_id TEXT NOT NULL, tag_key TEXT NOT NULL,"
        " tag_value TEXT NOT NULL, PRIMARY KEY (key_id, tag_key));"},
};

int kms_open(struct store *st, const struct sluice_config *cfg, struct kms **out)
{
    int rc = store_migrate(st, "kms", kms_migrations,
                           sizeof(kms_migrations) / sizeof(kms_migrations[0]));
    if (rc < 0) {
        return rc;
    }
    struct kms *k = xcalloc(1, sizeof(*k));
    k->st = st;
    rc = crypto_key_file_load(cfg->data_dir, "kms-master-key", k->master);
    if (rc < 0) {
        log_msg(LOG_ERROR, "kms", "cannot load the master key %s/kms-master-key: %s",
                cfg->data_dir, sl_strerror(rc));
        free(k);
        return rc;
    }
    kms__managed_policies_fix(k);
    *out = k;
    return 0;
}

void kms_close(struct kms *k)
{
    if (k != NULL) {
        kms__decisions_free(k);
        memset(k->master, 0, sizeof(k->master));
        free(k);
    }
}

/* ---- wrapping and the blob ---- */

#define KMS_WRAPPED_LEN (AES_GCM_IV_LEN + AES_GCM_TAG_LEN + AES_GCM_KEY_LEN)

void kms__wrap(const struct kms *k, const char *id, const uint8_t *material, uint8_t *out,
               size_t *out_len)
{
    crypto_random(out, AES_GCM_IV_LEN);
    crypto_aes_gcm_seal(k->master, out, id, strlen(id), material, AES_GCM_KEY_LEN,
                        out + AES_GCM_IV_LEN + AES_GCM_TAG_LEN, out + AES_GCM_IV_LEN);
    *out_len = KMS_WRAPPED_LEN;
}

int kms__unwrap(const struct kms *k, const char *id, const uint8_t *w, size_t len,
                uint8_t *material)
{
    if (len != KMS_WRAPPED_LEN) {
        return -1;
    }
    return crypto_aes_gcm_open(k->master, w, id, strlen(id), w + AES_GCM_IV_LEN + AES_GCM_TAG_LEN,
                               AES_GCM_KEY_LEN, w + AES_GCM_IV_LEN, material);
}

static int is_uuid(const char *s, size_t len)
{
    if (len != KMS_ID_LEN) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : hex_digit((unsigned char)s[i]) < 0) {
            return 0;
        }
    }
    return 1;
}

int kms__blob_parse(const uint8_t *p, size_t len, struct kms_blob *out)
{
    if (len < KMS_BLOB_OVERHEAD || p[0] != KMS_BLOB_VERSION ||
        !is_uuid((const char *)p + 1, KMS_ID_LEN)) {
        return -1;
    }
    memcpy(out->key_id, p + 1, KMS_ID_LEN);
    out->key_id[KMS_ID_LEN] = '\0';
    out->head = p;
    out->iv = p + KMS_BLOB_HEAD;
    out->tag = out->iv + AES_GCM_IV_LEN;
    out->ct = out->tag + AES_GCM_TAG_LEN;
    out->ct_len = len - KMS_BLOB_OVERHEAD;
    return 0;
}

static int ctx_cmp(const void *a, const void *b)
{
    return strcmp(((const struct kms_context *)a)->key, ((const struct kms_context *)b)->key);
}

static void put_field(struct buf *b, const char *s)
{
    size_t n = strlen(s);
    uint8_t len[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    buf_append(b, len, 4);
    buf_append(b, s, n);
}

/* The AAD: the blob head, then the context sorted by key. */
static void make_aad(const uint8_t *head, const struct kms_context *ctx, size_t n_ctx,
                     struct buf *aad)
{
    buf_append(aad, head, KMS_BLOB_HEAD);
    struct kms_context *sorted = xmalloc((n_ctx + 1) * sizeof(*sorted));
    if (n_ctx > 0) {
        memcpy(sorted, ctx, n_ctx * sizeof(*sorted));
        qsort(sorted, n_ctx, sizeof(*sorted), ctx_cmp);
    }
    for (size_t i = 0; i < n_ctx; i++) {
        put_field(aad, sorted[i].key);
        put_field(aad, sorted[i].value);
    }
    free(sorted);
}

void kms__seal(const struct kms_key *key, const struct kms_context *ctx, size_t n_ctx,
               const uint8_t *plain, size_t len, struct buf *blob)
{
    uint8_t *p = buf_reserve(blob, KMS_BLOB_OVERHEAD + len);
    SL_ASSERT(p != NULL);
    p[0] = KMS_BLOB_VERSION;
    memcpy(p + 1, key->id, KMS_ID_LEN);
    crypto_random(p + KMS_BLOB_HEAD, AES_GCM_IV_LEN);
    struct buf aad;
    buf_init(&aad);
    make_aad(p, ctx, n_ctx, &aad);
    uint8_t *iv = p + KMS_BLOB_HEAD;
    crypto_aes_gcm_seal(key->material, iv, aad.data, aad.len, plain, len,
                        iv + AES_GCM_IV_LEN + AES_GCM_TAG_LEN, iv + AES_GCM_IV_LEN);
    buf_fini(&aad);
    blob->len += KMS_BLOB_OVERHEAD + len;
}

/* ---- key rows ---- */

void kms__key_fini(struct kms_key *key)
{
    free(key->description);
    free(key->policy);
    key->description = key->policy = NULL;
    memset(key->material, 0, sizeof(key->material));
}

const char *kms__state_name(enum kms_state s)
{
    switch (s) {
    case KMS_DISABLED: return "Disabled";
    case KMS_PENDING_DELETION: return "PendingDeletion";
    case KMS_ENABLED: break;
    }
    return "Enabled";
}

char *kms__default_policy(const char *account)
{
    return xasprintf("{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n"
                     "  \"Statement\" : [ {\n    \"Sid\" : \"Enable IAM User Permissions\",\n"
                     "    \"Effect\" : \"Allow\",\n    \"Principal\" : {\n"
                     "      \"AWS\" : \"arn:aws:iam::%s:root\"\n    },\n"
                     "    \"Action\" : \"kms:*\",\n    \"Resource\" : \"*\"\n  } ]\n}",
                     account);
}

static void new_uuid(char out[KMS_ID_LEN + 1])
{
    uint8_t r[16];
    crypto_random(r, sizeof(r));
    r[6] = (uint8_t)((r[6] & 0x0f) | 0x40);
    r[8] = (uint8_t)((r[8] & 0x3f) | 0x80);
    char hex[33];
    hex_encode(r, 16, hex);
    snprintf(out, KMS_ID_LEN + 1, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
             hex + 20);
}

static void set_arn(struct kms_key *key)
{
    snprintf(key->arn, sizeof(key->arn), "arn:aws:kms:%s:%s:key/%s", key->region, key->account,
             key->id);
}

int kms__create(struct kms *k, const struct kms_scope *sc, const char *description,
                const char *policy, int aws_managed, int64_t now_ms, struct kms_key *out)
{
    memset(out, 0, sizeof(*out));
    new_uuid(out->id);
    snprintf(out->region, sizeof(out->region), "%s", sc->region);
    snprintf(out->account, sizeof(out->account), "%s", sc->account);
    set_arn(out);
    out->created_ms = now_ms;
    out->description = xstrdup(description ? description : "");
    out->policy = policy ? xstrdup(policy) : kms__default_policy(sc->account);
    out->state = KMS_ENABLED;
    out->aws_managed = aws_managed;
    out->rotation = aws_managed; /* AWS rotates its managed keys every year */
    crypto_random(out->material, sizeof(out->material));
    uint8_t wrapped[KMS_WRAPPED_LEN];
    size_t wlen = 0;
    kms__wrap(k, out->id, out->material, wrapped, &wlen);
    store_lock(k->st);
    struct store_stmt *s = store_prepare_args(
        k->st,
        "INSERT INTO kms_keys (key_id, region, account, created_ms, description, policy,"
        " state, deletion_ms, rotation, aws_managed, material)"
        " VALUES (?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?)",
        "sssissii", out->id, out->region, out->account, (int64_t)now_ms, out->description,
        out->policy, (int64_t)out->rotation, (int64_t)aws_managed);
    int rc = SL_E(IO);
    if (s != NULL) {
        store_bind_blob(s, 9, wrapped, wlen);
        rc = store_step(s) < 0 ? SL_E(IO) : 0;
        store_finalize(s);
    }
    store_unlock(k->st);
    if (rc < 0) {
        kms__key_fini(out);
    }
    return rc;
}

int kms__save(struct kms *k, const struct kms_key *key)
{
    store_lock(k->st);
    int rc = store_run(k->st,
                       "UPDATE kms_keys SET description = ?, policy = ?, state = ?,"
                       " deletion_ms = ?, rotation = ? WHERE key_id = ?",
                       "ssiiis", key->description, key->policy, (int64_t)key->state,
                       (int64_t)key->deletion_ms, (int64_t)key->rotation, key->id);
    store_unlock(k->st);
    return rc;
}

static void delete_key(struct kms *k, const char *id)
{
    store_lock(k->st);
    store_run(k->st, "DELETE FROM kms_keys WHERE key_id = ?", "s", id);
    store_run(k->st, "DELETE FROM kms_aliases WHERE key_id = ?", "s", id);
    store_run(k->st, "DELETE FROM kms_tags WHERE key_id = ?", "s", id);
    store_unlock(k->st);
}

/* Loads key_id of sc: 1 found, 0 not, negative on error. */
static int load_key(struct kms *k, const struct kms_scope *sc, const char *id, struct kms_key *out)
{
    memset(out, 0, sizeof(*out));
    store_read_begin(k->st);
    struct store_stmt *s = store_prepare_args(
        k->st,
        "SELECT key_id, created_ms, description, policy, state, deletion_ms, rotation,"
        " aws_managed, material FROM kms_keys WHERE key_id = ? AND region = ? AND account = ?",
        "sss", id, sc->region, sc->account);
    int rc = s == NULL ? SL_E(IO) : store_step(s);
    if (rc == 1) {
        snprintf(out->id, sizeof(out->id), "%s", store_col_text(s, 0));
        snprintf(out->region, sizeof(out->region), "%s", sc->region);
        snprintf(out->account, sizeof(out->account), "%s", sc->account);
        set_arn(out);
        out->created_ms = store_col_int64(s, 1);
        out->description = xstrdup(store_col_text(s, 2));
        out->policy = xstrdup(store_col_text(s, 3));
        out->state = (enum kms_state)store_col_int64(s, 4);
        out->deletion_ms = store_col_int64(s, 5);
        out->rotation = (int)store_col_int64(s, 6);
        out->aws_managed = (int)store_col_int64(s, 7);
        size_t wlen = 0;
        const uint8_t *w = store_col_blob(s, 8, &wlen);
        if (kms__unwrap(k, out->id, w, wlen, out->material) < 0) {
            log_msg(LOG_ERROR, "kms", "key %s does not unwrap under the master key", out->id);
            kms__key_fini(out);
            rc = SL_E(CORRUPT);
        }
    }
    store_finalize(s);
    store_read_end(k->st);
    return rc < 0 ? rc : rc == 1;
}

/* The key id an alias of sc names into id_out: 1, or 0 when there is none. */
static int alias_target(struct kms *k, const struct kms_scope *sc, const char *alias,
                        char id_out[KMS_ID_LEN + 1])
{
    store_read_begin(k->st);
    struct store_stmt *s = store_prepare_args(
        k->st, "SELECT key_id FROM kms_aliases WHERE region = ? AND account = ? AND name = ?",
        "sss", sc->region, sc->account, alias);
    int found = s != NULL && store_step(s) == 1;
    if (found) {
        snprintf(id_out, KMS_ID_LEN + 1, "%s", store_col_text(s, 0));
    }
    store_finalize(s);
    store_read_end(k->st);
    return found;
}

/* The services whose alias/aws/<name> keys are made on first use, with AWS's descriptions. */
static const char *managed_description(const char *alias)
{
    static const char *const known[][2] = {
        {"alias/aws/s3", "Default key that protects my S3 objects when no other key is defined"},
        {"alias/aws/kinesis",
         "Default key that protects my Kinesis data when no other key is defined"},
        {"alias/aws/firehose",
         "Default key that protects my Firehose data when no other key is defined"},
        {"alias/aws/glue", "Default key that protects my Glue data when no other key is defined"},
    };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (strcmp(alias, known[i][0]) == 0) {
            return known[i][1];
        }
    }
    return NULL;
}

static int create_managed(struct kms *k, const struct kms_scope *sc, const char *alias,
                          const char *description, int64_t now_ms, struct kms_key *out)
{
    char *policy = kms__managed_policy(sc, alias);
    int rc = kms__create(k, sc, description, policy, 1, now_ms, out);
    free(policy);
    if (rc < 0) {
        return rc;
    }
    store_lock(k->st);
    rc = store_run(k->st,
                   "INSERT OR IGNORE INTO kms_aliases (region, account, name, key_id, created_ms,"
                   " updated_ms) VALUES (?, ?, ?, ?, ?, ?)",
                   "ssssii", sc->region, sc->account, alias, out->id, (int64_t)now_ms,
                   (int64_t)now_ms);
    int lost = rc == 0 && store_changes(k->st) == 0;
    store_unlock(k->st);
    if (rc < 0 || !lost) {
        return rc;
    }
    /* a concurrent first use made the key first: use that one */
    delete_key(k, out->id);
    kms__key_fini(out);
    char id[KMS_ID_LEN + 1];
    if (!alias_target(k, sc, alias, id) || load_key(k, sc, id, out) != 1) {
        return SL_E(INTERNAL);
    }
    return 0;
}

static int not_found(struct err_info *err, const struct kms_scope *sc, const char *what,
                     const char *name)
{
    if (strncmp(name, "arn:", 4) == 0) {
        return err_set(err, SL_E(KMS_NOT_FOUND), "%s '%s' does not exist", what, name);
    }
    return err_set(err, SL_E(KMS_NOT_FOUND), "%s 'arn:aws:kms:%s:%s:%s%s' does not exist", what,
                   sc->region, sc->account, strcmp(what, "Key") == 0 ? "key/" : "", name);
}

int kms__resolve(struct kms *k, const struct kms_scope *sc, const char *id, int allow_alias,
                 int64_t now_ms, struct kms_key *out, struct err_info *err)
{
    char prefix[128];
    snprintf(prefix, sizeof(prefix), "arn:aws:kms:%s:%s:", sc->region, sc->account);
    const char *name = id;
    if (strncmp(id, "arn:", 4) == 0) {
        if (strncmp(id, prefix, strlen(prefix)) != 0 ||
            (strncmp(id + strlen(prefix), "key/", 4) != 0 &&
             strncmp(id + strlen(prefix), "alias/", 6) != 0)) {
            return err_set(err, SL_E(KMS_NOT_FOUND), "Invalid arn %s", id);
        }
        name = id + strlen(prefix);
        if (strncmp(name, "key/", 4) == 0) {
            name += 4;
        }
    }
    char key_id[KMS_ID_LEN + 1];
    if (strncmp(name, "alias/", 6) == 0) {
        if (!allow_alias) {
            return err_set(err, SL_E(KMS_NOT_FOUND), "Invalid keyId '%s'", id);
        }
        if (!alias_target(k, sc, name, key_id)) {
            const char *managed = managed_description(name);
            if (managed != NULL) {
                int rc = create_managed(k, sc, name, managed, now_ms, out);
                return rc < 0 ? err_set(err, rc, "The key store could not be written.") : 0;
            }
            return err_set(err, SL_E(KMS_NOT_FOUND), "Alias %s%s is not found.", prefix, name);
        }
    } else if (is_uuid(name, strlen(name))) {
        memcpy(key_id, name, sizeof(key_id));
    } else {
        return err_set(err, SL_E(KMS_NOT_FOUND), "Invalid keyId '%s'", id);
    }
    int rc = load_key(k, sc, key_id, out);
    if (rc < 0) {
        return err_set(err, rc, "The key store could not be read.");
    }
    if (rc == 1 && out->state == KMS_PENDING_DELETION && out->deletion_ms <= now_ms) {
        delete_key(k, out->id); /* the waiting period is over: the key is gone */
        kms__key_fini(out);
        rc = 0;
    }
    return rc == 1 ? 0 : not_found(err, sc, "Key", key_id);
}

int kms__usable(const struct kms_key *key, struct err_info *err)
{
    switch (key->state) {
    case KMS_DISABLED: return err_set(err, SL_E(KMS_DISABLED), "%s is disabled.", key->arn);
    case KMS_PENDING_DELETION:
        return err_set(err, SL_E(KMS_INVALID_STATE), "%s is pending deletion.", key->arn);
    case KMS_ENABLED: break;
    }
    return 0;
}

int kms__open_blob(struct kms *k, const struct kms_scope *sc, const uint8_t *blob, size_t len,
                   const struct kms_context *ctx, size_t n_ctx, int64_t now_ms, struct kms_key *key,
                   struct buf *plain, struct err_info *err)
{
    struct kms_blob b;
    if (kms__blob_parse(blob, len, &b) < 0) {
        return err_set(err, SL_E(KMS_INVALID_CIPHERTEXT), "%s", "");
    }
    int rc = kms__resolve(k, sc, b.key_id, 0, now_ms, key, err);
    if (rc < 0) {
        /* a blob naming no key of this account is just an invalid ciphertext */
        return rc == SL_E(KMS_NOT_FOUND) ? err_set(err, SL_E(KMS_INVALID_CIPHERTEXT), "%s", "")
                                         : rc;
    }
    if ((rc = kms__usable(key, err)) < 0) {
        kms__key_fini(key);
        return rc;
    }
    struct buf aad;
    buf_init(&aad);
    make_aad(b.head, ctx, n_ctx, &aad);
    uint8_t *out = buf_reserve(plain, b.ct_len + 1);
    SL_ASSERT(out != NULL);
    rc = crypto_aes_gcm_open(key->material, b.iv, aad.data, aad.len, b.ct, b.ct_len, b.tag, out);
    buf_fini(&aad);
    if (rc < 0) {
        kms__key_fini(key);
        return err_set(err, SL_E(KMS_INVALID_CIPHERTEXT), "%s", "");
    }
    plain->len += b.ct_len;
    return 0;
}

/* ---- the in-process interface ---- */

int kms_generate_data_key(struct kms *k, const struct kms_scope *sc, const char *key_id,
                          const struct kms_context *ctx, size_t n_ctx, size_t n_bytes,
                          uint8_t *plain, struct buf *blob, char key_arn[KMS_ARN_MAX],
                          struct err_info *err)
{
    if (n_bytes < 1 || n_bytes > 1024) {
        return err_set(err, SL_E(VALIDATION), "NumberOfBytes must be between 1 and 1024");
    }
    struct kms_key key;
    int rc = kms__resolve(k, sc, key_id, 1, clock_now_ms(), &key, err);
    if (rc < 0) {
        return rc;
    }
    if ((rc = kms__usable(&key, err)) == 0) {
        crypto_random(plain, n_bytes);
        kms__seal(&key, ctx, n_ctx, plain, n_bytes, blob);
        if (key_arn != NULL) {
            snprintf(key_arn, KMS_ARN_MAX, "%s", key.arn);
        }
    }
    kms__key_fini(&key);
    return rc;
}

int kms_key_check(struct kms *k, const struct kms_scope *sc, const char *key_id,
                  char key_arn[KMS_ARN_MAX], struct err_info *err)
{
    struct kms_key key;
    int rc = kms__resolve(k, sc, key_id, 1, clock_now_ms(), &key, err);
    if (rc < 0) {
        return rc;
    }
    rc = kms__usable(&key, err);
    if (rc == 0 && key_arn != NULL) {
        snprintf(key_arn, KMS_ARN_MAX, "%s", key.arn);
    }
    kms__key_fini(&key);
    return rc;
}

int kms_decrypt(struct kms *k, const struct kms_scope *sc, const uint8_t *blob, size_t len,
                const struct kms_context *ctx, size_t n_ctx, struct buf *plain,
                char key_arn[KMS_ARN_MAX], struct err_info *err)
{
    struct kms_key key;
    int rc = kms__open_blob(k, sc, blob, len, ctx, n_ctx, clock_now_ms(), &key, plain, err);
    if (rc == 0) {
        if (key_arn != NULL) {
            snprintf(key_arn, KMS_ARN_MAX, "%s", key.arn);
        }
        kms__key_fini(&key);
    }
    return rc;
}
