/*
 * KMS: customer and AWS managed symmetric keys (trent 2014-11-01), their aliases,
 * policies, tags and states, and the envelope encryption the other parts use.
 *
 * Key material is 256 bits from the crypto adapter, kept in the metadata store wrapped
 * (AES-256-GCM, the key id as AAD) by a master key read from DIR/kms-master-key, a
 * 0600 file created on first start. Encrypt uses AES-256-GCM; the ciphertext blob is
 *
 *     version (1 byte, 0x01) | key id (36 ASCII, the UUID) | IV (12) | tag (16) | ciphertext
 *
 * and its AAD is the first 37 bytes followed by the encryption context, pairs sorted by
 * key, each as a 4-byte big-endian length and the bytes of the key, then of the value. So
 * a blob names its key (Decrypt needs no KeyId) and a changed context fails the tag.
 */
#ifndef SLUICE_KMS_KMS_H
#define SLUICE_KMS_KMS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"

struct store;
struct kms;
struct api_json_service;

/* Migrates the tables and loads (or creates) the master key file. 0 or a negative code. */
int kms_open(struct store *st, const struct sluice_config *cfg, struct kms **out);
/* NULL is fine. */
void kms_close(struct kms *k);

/* The awsJson1_1 service (X-Amz-Target "TrentService.<Op>", signing name "kms"); k must
   outlive it. Free with kms_api_destroy after the registry it was added to. */
struct api_json_service *kms_api_create(struct kms *k);
void kms_api_destroy(struct api_json_service *svc);

/* The account and region a key lives in. */
struct kms_scope {
    const char *region;
    const char *account;
};
/* One encryption-context pair (any order; they are sorted for binding). */
struct kms_context {
    const char *key;
    const char *value;
};

/*
 * For the parts that encrypt at rest: a new data key of n_bytes (1..1024) under key_id
 * (key id, key ARN, alias name or alias ARN; alias/aws/<service> is created on first
 * use). Writes the plaintext key to plain and appends its ciphertext blob to blob;
 * key_arn (may be NULL) gets the ARN of the key used. Errors are KMS's: SL_E(KMS_NOT_FOUND),
 * SL_E(KMS_DISABLED), SL_E(KMS_INVALID_STATE), with the message AWS gives, in err.
 */
#define KMS_ARN_MAX 160
int kms_generate_data_key(struct kms *k, const struct kms_scope *sc, const char *key_id,
                          const struct kms_context *ctx, size_t n_ctx, size_t n_bytes,
                          uint8_t *plain, struct buf *blob, char key_arn[KMS_ARN_MAX],
                          struct err_info *err);
/* 0 when key_id (any form kms_generate_data_key takes) names a key that may be used for
   cryptography now, else the error kms_generate_data_key would give; key_arn (may be NULL)
   gets the key's ARN. Reads the key store once. */
int kms_key_check(struct kms *k, const struct kms_scope *sc, const char *key_id,
                  char key_arn[KMS_ARN_MAX], struct err_info *err);
/* Decrypts a blob made by the above or by Encrypt: appends the plaintext to plain.
   SL_E(KMS_INVALID_CIPHERTEXT) when it is malformed, tampered or the context differs. */
int kms_decrypt(struct kms *k, const struct kms_scope *sc, const uint8_t *blob, size_t len,
                const struct kms_context *ctx, size_t n_ctx, struct buf *plain,
                char key_arn[KMS_ARN_MAX], struct err_info *err);

/*
 * Whether who (an api_request's principal; http.h's kinds) may do action
 * ("kms:GenerateDataKey", "kms:Decrypt") with the key key_id names when a service uses it
 * on its behalf. The hook (iam_kms_authorize) decides by the key's policy and the caller's
 * identity policies with the condition keys AWS sets: kms:ViaService, kms:CallerAccount,
 * kms:EncryptionContext:<key>.
 */
struct api_request;
typedef int (*kms_authorize_fn)(void *arg, const struct api_request *who, const char *action,
                                const char *key_arn, const char *via_service,
                                const struct kms_context *ctx, size_t n_ctx, struct err_info *err);
/* Installs the hook (before the services run). Without one every caller may use a key. */
void kms_set_authorizer(struct kms *k, kms_authorize_fn fn, void *arg);
/*
 * Asks the hook whether who may do action with key_id (any form kms_generate_data_key
 * takes) through service ("s3", "kinesis": kms:ViaService is <service>.<region>.amazonaws.com)
 * with the encryption context ctx. Root, or who NULL (the server itself), may. A key that
 * cannot be found is let through: the use itself reports it. Decisions are kept until the
 * store is written or the second changes, so a producer's every call costs a lookup.
 * 0, or SL_E(ACCESS_DENIED) with IAM's "User: ... is not authorized to perform: ..." in err.
 */
int kms_authorize(struct kms *k, const struct kms_scope *sc, const struct api_request *who,
                  const char *action, const char *key_id, const char *service,
                  const struct kms_context *ctx, size_t n_ctx, struct err_info *err);

#endif
