/* KMS internals shared by the key store (kms.c), the API (kms_api.c), tests and fuzzing. */
#ifndef SLUICE_KMS_KMS_INT_H
#define SLUICE_KMS_KMS_INT_H

#include "core/crypto.h"
#include "core/store.h"
#include "kms/kms.h"

#define KMS_ID_LEN 36
#define KMS_BLOB_VERSION 1
#define KMS_BLOB_HEAD (1 + KMS_ID_LEN)
#define KMS_BLOB_OVERHEAD (KMS_BLOB_HEAD + AES_GCM_IV_LEN + AES_GCM_TAG_LEN)
#define KMS_PLAINTEXT_MAX 4096

struct kms {
    struct store *st;
    uint8_t master[AES_GCM_KEY_LEN];
    kms_authorize_fn authorize; /* NULL: every caller may use a key */
    void *authorize_arg;
    struct kms__decisions *decisions; /* kms_authz.c */
};

/* kms_authz.c: the decisions kept (kms_authorize), freed with the store's handle. */
void kms__decisions_free(struct kms *k);
/* Gives AWS managed keys made before their policies were AWS's (root only) AWS's policy. */
int kms__managed_policies_fix(struct kms *k);
/* AWS's policy of the managed key alias (alias/aws/<service>) in sc (malloc'd). */
char *kms__managed_policy(const struct kms_scope *sc, const char *alias);

enum kms_state { KMS_ENABLED, KMS_DISABLED, KMS_PENDING_DELETION };

struct kms_key {
    char id[KMS_ID_LEN + 1];
    char arn[KMS_ARN_MAX];
    char region[32];
    char account[16];
    int64_t created_ms;
    int64_t deletion_ms; /* 0 unless pending deletion */
    char *description;   /* owned */
    char *policy;        /* owned */
    enum kms_state state;
    int rotation;
    int aws_managed;
    uint8_t material[AES_GCM_KEY_LEN];
};
void kms__key_fini(struct kms_key *key);
const char *kms__state_name(enum kms_state s);

/* A parsed blob; pointers into the input. */
struct kms_blob {
    char key_id[KMS_ID_LEN + 1];
    const uint8_t *head; /* the AAD prefix, KMS_BLOB_HEAD bytes */
    const uint8_t *iv, *tag, *ct;
    size_t ct_len;
};
/* 0, or -1 when the bytes are not a blob of this format. */
int kms__blob_parse(const uint8_t *p, size_t len, struct kms_blob *out);

/* Wraps/unwraps key material under the master key (bound to the key id). */
void kms__wrap(const struct kms *k, const char *id, const uint8_t *material, uint8_t *out,
               size_t *out_len);
int kms__unwrap(const struct kms *k, const char *id, const uint8_t *w, size_t len,
                uint8_t *material);

/*
 * Finds a key by id, key ARN, alias name or alias ARN (aliases only when allow_alias),
 * creating alias/aws/<service> keys on first use. A key whose deletion date has passed is
 * deleted and not found. 0, or an error in err.
 */
int kms__resolve(struct kms *k, const struct kms_scope *sc, const char *id, int allow_alias,
                 int64_t now_ms, struct kms_key *out, struct err_info *err);
/* 0 when the key may be used for cryptography, else DisabledException and the like. */
int kms__usable(const struct kms_key *key, struct err_info *err);
/* Creates a customer (or AWS managed) key; policy NULL gives the default policy. */
int kms__create(struct kms *k, const struct kms_scope *sc, const char *description,
                const char *policy, int aws_managed, int64_t now_ms, struct kms_key *out);
/* Writes a key's mutable fields back. */
int kms__save(struct kms *k, const struct kms_key *key);
/* The default key policy of an account, as AWS writes it (malloc'd). */
char *kms__default_policy(const char *account);

/* Encrypts under key: appends the blob. */
void kms__seal(const struct kms_key *key, const struct kms_context *ctx, size_t n_ctx,
               const uint8_t *plain, size_t len, struct buf *blob);
/* Decrypts a blob whose key is resolved in sc (expect_id, if not NULL, must match the
   key named): appends the plaintext; key gets the key used. */
int kms__open_blob(struct kms *k, const struct kms_scope *sc, const uint8_t *blob, size_t len,
                   const struct kms_context *ctx, size_t n_ctx, int64_t now_ms, struct kms_key *key,
                   struct buf *plain, struct err_info *err);

#endif
