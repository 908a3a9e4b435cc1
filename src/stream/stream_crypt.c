/*
 * Encryption at rest of a stream's records (StartStreamEncryption).
 *
 * A record put while a stream's encryption is KMS is stored sealed: its frame holds the
 * partition key "-" and, as data, the envelope
 *
 *     data key number (4, LE) | nonce (12) | AES-256-GCM ciphertext | tag (16)
 *
 * whose plaintext is the partition key length (2, LE), the partition key and the data, so
 * neither key nor data reaches the disk in the clear. The AAD is "sluice-kinesis", the
 * stream id (8, LE) and the data key number, so an envelope cannot be moved between
 * streams or keys unnoticed.
 *
 * Data keys are 256-bit keys from kms_generate_data_key under the stream's KMS key, with
 * the encryption context aws:kinesis:arn = the stream ARN. Each is numbered per stream and
 * stored, wrapped (the KMS blob), in stream_data_keys before the first record sealed with
 * it is written, so a restart can unwrap it again through KMS (which checks the key).
 *
 * Nonces never repeat under a key: a data key seals records only in the process that made
 * it, with a 64-bit counter as its nonce, and is replaced long before the counter could
 * wrap (after STREAM_CRYPT_KEY_USES records). A restart, or a change of KMS key, makes a
 * new data key; old ones stay for reading.
 *
 * A KMS key that is disabled, pending deletion or gone refuses both sealing (PutRecord(s))
 * and opening (GetRecords, SubscribeToShard): its state is read from KMS once per call and
 * key (kms_key_check), as data keys in memory would otherwise outlive it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/mem.h"
#include "core/store.h"
#include "kms/kms.h"
#include "stream/stream_int.h"

#define ENV_NO_LEN 4
#define PLAIN_HEAD_LEN 2 /* partition key length */

struct stream_dkey {
    uint32_t no;
    char key_arn[KMS_ARN_MAX];
    uint8_t key[AES_GCM_KEY_LEN];
    atomic_uint_fast64_t uses; /* nonces given out (the writing key only) */
    int writable;              /* made by this process: may seal */
    char made_for[2049];       /* the stream's KeyId it was made under (writable keys) */
    struct stream_dkey *next;
};

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void make_aad(const struct stream *s, uint32_t no, uint8_t aad[26])
{
    memcpy(aad, "sluice-kinesis", 14);
    for (int i = 0; i < 8; i++) {
        aad[14 + i] = (uint8_t)((uint64_t)s->id >> (8 * i));
    }
    put_le32(aad + 22, no);
}

/* KMS's errors as Kinesis names them. */
static int kinesis_kms_error(int rc, struct err_info *err)
{
    int code = rc;
    if (rc == SL_E(KMS_NOT_FOUND)) {
        code = SL_E(KINESIS_KMS_NOT_FOUND);
    } else if (rc == SL_E(KMS_DISABLED)) {
        code = SL_E(KINESIS_KMS_DISABLED);
    } else if (rc == SL_E(KMS_INVALID_CIPHERTEXT)) {
        code = SL_E(KINESIS_KMS_ACCESS_DENIED);
    }
    if (err != NULL) {
        err->code = code;
        if (code == SL_E(KINESIS_KMS_ACCESS_DENIED)) {
            snprintf(err->message, sizeof(err->message), "%s",
                     "The ciphertext references a key that doesn't exist or that you don't "
                     "have access to.");
        }
    }
    return code;
}

static struct kms_scope scope_of(const struct stream *s)
{
    return (struct kms_scope){.region = s->region, .account = s->account};
}

int stream__crypt_check_key(struct stream_service *svc, const struct stream *s,
                            const char *key_id, struct err_info *err)
{
    if (svc->kms == NULL) {
        return 0;
    }
    struct kms_scope sc = scope_of(s);
    int rc = kms_key_check(svc->kms, &sc, key_id, NULL, err);
    return rc < 0 ? kinesis_kms_error(rc, err) : 0;
}

int stream_kms_authorize(struct stream_service *svc, struct stream *s,
                         const struct api_request *who, const char *action, const char *new_key,
                         struct err_info *err)
{
    if (svc->kms == NULL || who == NULL) {
        return 0;
    }
    char key_id[sizeof(s->meta.key_id)];
    int kms = new_key != NULL;
    if (kms) {
        snprintf(key_id, sizeof(key_id), "%s", new_key);
    } else {
        pthread_mutex_lock(&s->lock);
        kms = s->meta.encryption[0] == 'K';
        if (kms) {
            memcpy(key_id, s->meta.key_id, sizeof(key_id));
        }
        pthread_mutex_unlock(&s->lock);
    }
    if (!kms) {
        return 0;
    }
    struct kms_scope sc = scope_of(s);
    struct kms_context ctx = {"aws:kinesis:arn", s->arn};
    struct err_info e = {0};
    int rc = kms_authorize(svc->kms, &sc, who, action, key_id, "kinesis", &ctx, 1, &e);
    if (rc < 0) {
        rc = err_set(err, SL_E(KINESIS_KMS_ACCESS_DENIED), "%s", e.message);
    }
    return rc;
}

static struct stream_dkey *find_key(struct stream *s, uint32_t no)
{
    for (struct stream_dkey *k = s->dkeys; k != NULL; k = k->next) {
        if (k->no == no) {
            return k;
        }
    }
    return NULL;
}

/* Makes, stores and returns a new writing key (crypt_lock held). */
static int new_write_key(struct stream_service *svc, struct stream *s, const char *key_id,
                         struct stream_dkey **out, struct err_info *err)
{
    struct kms_scope sc = scope_of(s);
    struct kms_context ctx = {"aws:kinesis:arn", s->arn};
    struct stream_dkey *k = xcalloc(1, sizeof(*k));
    struct buf blob;
    buf_init(&blob);
    int rc = kms_generate_data_key(svc->kms, &sc, key_id, &ctx, 1, sizeof(k->key), k->key, &blob,
                                   k->key_arn, err);
    if (rc < 0) {
        buf_fini(&blob);
        free(k);
        return kinesis_kms_error(rc, err);
    }
    uint32_t no = 1;
    for (struct stream_dkey *o = s->dkeys; o != NULL; o = o->next) {
        no = o->no >= no ? o->no + 1 : no;
    }
    store_lock(svc->store);
    struct store_stmt *q;
    if ((rc = store_prepare(svc->store, "SELECT coalesce(max(key_no), 0) FROM stream_data_keys"
                                        " WHERE stream_id=?",
                            &q)) == 0) {
        store_bind_int64(q, 1, s->id);
        if (store_step(q) == 1 && (uint32_t)store_col_int64(q, 0) >= no) {
            no = (uint32_t)store_col_int64(q, 0) + 1;
        }
        store_finalize(q);
        rc = store_prepare(svc->store,
                           "INSERT INTO stream_data_keys(stream_id, key_no, key_arn, blob)"
                           " VALUES(?, ?, ?, ?)",
                           &q);
    }
    if (rc == 0) {
        store_bind_int64(q, 1, s->id);
        store_bind_int64(q, 2, no);
        store_bind_text(q, 3, k->key_arn);
        store_bind_blob(q, 4, blob.data, blob.len);
        rc = store_step(q);
        store_finalize(q);
    }
    store_unlock(svc->store);
    buf_fini(&blob);
    if (rc < 0) {
        memset(k->key, 0, sizeof(k->key));
        free(k);
        return err_set(err, SL_E(INTERNAL), "Internal service failure.");
    }
    k->no = no;
    k->writable = 1;
    snprintf(k->made_for, sizeof(k->made_for), "%s", key_id);
    atomic_init(&k->uses, 0);
    k->next = s->dkeys;
    s->dkeys = k;
    *out = k;
    return 0;
}

int stream__crypt_write_key(struct stream_service *svc, struct stream *s, const char *key_id,
                            struct stream_dkey **out, struct err_info *err)
{
    *out = NULL;
    pthread_mutex_lock(&s->crypt_lock);
    struct stream_dkey *k = s->write_key;
    if (k != NULL && (strcmp(k->made_for, key_id) != 0 ||
                      atomic_load(&k->uses) >= STREAM_CRYPT_KEY_USES)) {
        k = NULL;
    }
    int rc = 0;
    if (k == NULL) {
        rc = new_write_key(svc, s, key_id, &k, err);
        if (rc == 0) {
            s->write_key = k;
        }
    }
    char arn[KMS_ARN_MAX];
    if (rc == 0) {
        memcpy(arn, k->key_arn, sizeof(arn));
    }
    pthread_mutex_unlock(&s->crypt_lock);
    if (rc == 0 && (rc = stream__crypt_check_key(svc, s, arn, err)) == 0) {
        *out = k; /* keys are freed only with their stream */
    }
    return rc;
}

size_t stream__crypt_sealed_len(size_t pk_len, size_t data_len)
{
    return STREAM_CRYPT_OVERHEAD + pk_len + data_len;
}

struct crypto_gcm *stream__crypt_sealer(struct stream_dkey *k)
{
    return crypto_gcm_create(k->key);
}

void stream__crypt_seal(const struct stream *s, struct stream_dkey *k, struct crypto_gcm *g,
                        const char *pk, size_t pk_len, const uint8_t *data, size_t data_len,
                        uint8_t *out)
{
    uint64_t n = atomic_fetch_add(&k->uses, 1);
    uint8_t nonce[AES_GCM_IV_LEN] = {0};
    for (int i = 0; i < 8; i++) {
        nonce[i] = (uint8_t)(n >> (8 * i));
    }
    put_le32(out, k->no);
    memcpy(out + ENV_NO_LEN, nonce, sizeof(nonce));
    uint8_t head[PLAIN_HEAD_LEN] = {(uint8_t)pk_len, (uint8_t)(pk_len >> 8)};
    struct crypto_gcm_part parts[3] = {{head, sizeof(head)}, {pk, pk_len}, {data, data_len}};
    uint8_t aad[26];
    make_aad(s, k->no, aad);
    uint8_t *ct = out + ENV_NO_LEN + AES_GCM_IV_LEN;
    crypto_gcm_seal(g, nonce, aad, sizeof(aad), parts, 3, ct,
                    ct + PLAIN_HEAD_LEN + pk_len + data_len);
}

/* The data key numbered no, unwrapped through KMS when not yet in memory (which checks
   the KMS key's state); its ARN into arn. */
static int read_key(struct stream_service *svc, struct stream *s, uint32_t no,
                    struct stream_dkey **out, int *checked, struct err_info *err)
{
    pthread_mutex_lock(&s->crypt_lock);
    struct stream_dkey *k = find_key(s, no);
    pthread_mutex_unlock(&s->crypt_lock);
    *checked = 0;
    if (k != NULL) {
        *out = k;
        return 0;
    }
    if (svc->kms == NULL) {
        return err_set(err, SL_E(INTERNAL), "Internal service failure.");
    }
    struct buf blob;
    buf_init(&blob);
    store_lock(svc->store);
    struct store_stmt *q;
    int rc = store_prepare(svc->store,
                           "SELECT blob FROM stream_data_keys WHERE stream_id=? AND key_no=?", &q);
    int found = 0;
    if (rc == 0) {
        store_bind_int64(q, 1, s->id);
        store_bind_int64(q, 2, no);
        if (store_step(q) == 1) {
            size_t len = 0;
            const void *b = store_col_blob(q, 0, &len);
            buf_append(&blob, b, len);
            found = 1;
        }
        store_finalize(q);
    }
    store_unlock(svc->store);
    if (!found) {
        buf_fini(&blob);
        return err_set(err, SL_E(CORRUPT), "Internal service failure.");
    }
    struct kms_scope sc = scope_of(s);
    struct kms_context ctx = {"aws:kinesis:arn", s->arn};
    struct buf plain;
    buf_init(&plain);
    k = xcalloc(1, sizeof(*k));
    rc = kms_decrypt(svc->kms, &sc, blob.data, blob.len, &ctx, 1, &plain, k->key_arn, err);
    buf_fini(&blob);
    if (rc == 0 && plain.len != sizeof(k->key)) {
        rc = err_set(err, SL_E(CORRUPT), "Internal service failure.");
    }
    if (rc < 0) {
        memset(plain.data, 0, plain.len);
        buf_fini(&plain);
        free(k);
        return rc == SL_E(CORRUPT) ? rc : kinesis_kms_error(rc, err);
    }
    memcpy(k->key, plain.data, sizeof(k->key));
    memset(plain.data, 0, plain.len);
    buf_fini(&plain);
    k->no = no;
    atomic_init(&k->uses, 0);
    pthread_mutex_lock(&s->crypt_lock);
    struct stream_dkey *raced = find_key(s, no);
    if (raced != NULL) {
        free(k);
        k = raced;
    } else {
        k->next = s->dkeys;
        s->dkeys = k;
    }
    pthread_mutex_unlock(&s->crypt_lock);
    *checked = 1;
    *out = k;
    return 0;
}

int stream__crypt_open(struct stream_service *svc, struct stream *s, struct stream_crypt_read *cr,
                       const uint8_t *env, size_t len, const char **pk, size_t *pk_len,
                       const uint8_t **data, size_t *data_len, struct err_info *err)
{
    if (len < STREAM_CRYPT_OVERHEAD) {
        return err_set(err, SL_E(CORRUPT), "Internal service failure.");
    }
    uint32_t no = get_le32(env);
    struct stream_dkey *k = NULL;
    int checked = 0, rc = 0;
    if (cr->key != NULL && cr->key->no == no) {
        k = cr->key; /* checked earlier in this call */
    } else if ((rc = read_key(svc, s, no, &k, &checked, err)) < 0) {
        return rc;
    } else if (!checked && (rc = stream__crypt_check_key(svc, s, k->key_arn, err)) < 0) {
        return rc;
    }
    if (cr->key != k || cr->gcm == NULL) {
        crypto_gcm_destroy(cr->gcm);
        cr->gcm = crypto_gcm_create(k->key);
    }
    cr->key = k;
    size_t ct_len = len - ENV_NO_LEN - AES_GCM_IV_LEN - AES_GCM_TAG_LEN;
    if (cr->cap < ct_len) {
        uint8_t *nb = try_realloc(cr->buf, ct_len);
        if (nb == NULL) {
            return err_set(err, SL_E(NOMEM), "Internal service failure.");
        }
        cr->buf = nb;
        cr->cap = ct_len;
    }
    uint8_t aad[26];
    make_aad(s, no, aad);
    const uint8_t *nonce = env + ENV_NO_LEN, *ct = nonce + AES_GCM_IV_LEN;
    if (crypto_gcm_open(cr->gcm, nonce, aad, sizeof(aad), ct, ct_len, ct + ct_len, cr->buf) < 0 ||
        ct_len < PLAIN_HEAD_LEN) {
        return err_set(err, SL_E(CORRUPT), "Internal service failure.");
    }
    size_t n_pk = (size_t)cr->buf[0] | (size_t)cr->buf[1] << 8;
    if (n_pk == 0 || n_pk > ct_len - PLAIN_HEAD_LEN) {
        return err_set(err, SL_E(CORRUPT), "Internal service failure.");
    }
    *pk = (const char *)cr->buf + PLAIN_HEAD_LEN;
    *pk_len = n_pk;
    *data = cr->buf + PLAIN_HEAD_LEN + n_pk;
    *data_len = ct_len - PLAIN_HEAD_LEN - n_pk;
    return 0;
}

void stream__crypt_read_fini(struct stream_crypt_read *cr)
{
    crypto_gcm_destroy(cr->gcm);
    free(cr->buf);
}

void stream__crypt_free(struct stream *s)
{
    while (s->dkeys != NULL) {
        struct stream_dkey *k = s->dkeys;
        s->dkeys = k->next;
        memset(k->key, 0, sizeof(k->key));
        free(k);
    }
    s->write_key = NULL;
}
