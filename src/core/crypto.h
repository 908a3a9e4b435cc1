/*
 * The OpenSSL adapter: hashes, HMAC, randomness. Nothing else in Sluice includes
 * OpenSSL headers. One-shot functions cannot fail short of OpenSSL's own malfunction,
 * which aborts; incremental contexts are heap objects owned by the caller.
 */
#ifndef SLUICE_CORE_CRYPTO_H
#define SLUICE_CORE_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32
#define MD5_LEN 16

void crypto_sha256(const void *data, size_t len, uint8_t out[SHA256_LEN]);
void crypto_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                        uint8_t out[SHA256_LEN]);
void crypto_md5(const void *data, size_t len, uint8_t out[MD5_LEN]);
/* HMAC-SHA1, for S3's legacy presigned URLs only. */
#define SHA1_LEN 20
void crypto_hmac_sha1(const void *key, size_t key_len, const void *data, size_t len,
                      uint8_t out[SHA1_LEN]);
/* Fills out with cryptographically strong random bytes. */
void crypto_random(void *out, size_t len);
/* Constant-time comparison; 1 when equal. */
int crypto_equal(const void *a, const void *b, size_t len);

/* Incremental digests (SHA-256, MD5, SHA-1) for streamed bodies. */
enum crypto_digest_kind { CRYPTO_SHA256, CRYPTO_MD5, CRYPTO_SHA1 };
struct crypto_digest;
struct crypto_digest *crypto_digest_create(enum crypto_digest_kind kind);
void crypto_digest_update(struct crypto_digest *d, const void *data, size_t len);
/* Writes the digest (32, 16 or 20 bytes) and returns its length. */
size_t crypto_digest_final(struct crypto_digest *d, uint8_t *out);
void crypto_digest_destroy(struct crypto_digest *d);

/*
 * AES-256-GCM with a 12-byte IV and a 16-byte tag (KMS key material and ciphertexts).
 * seal writes len bytes of ciphertext to out and the tag to tag; open writes the
 * plaintext and returns 0, or -1 when the tag does not authenticate (nothing usable
 * is left in out). aad may be NULL when aad_len is 0; out may alias in.
 */
#define AES_GCM_KEY_LEN 32
#define AES_GCM_IV_LEN 12
#define AES_GCM_TAG_LEN 16
void crypto_aes_gcm_seal(const uint8_t key[AES_GCM_KEY_LEN], const uint8_t iv[AES_GCM_IV_LEN],
                         const void *aad, size_t aad_len, const void *in, size_t len,
                         uint8_t *out, uint8_t tag[AES_GCM_TAG_LEN]);
int crypto_aes_gcm_open(const uint8_t key[AES_GCM_KEY_LEN], const uint8_t iv[AES_GCM_IV_LEN],
                        const void *aad, size_t aad_len, const void *in, size_t len,
                        const uint8_t tag[AES_GCM_TAG_LEN], uint8_t *out);

/*
 * AES-256-GCM of many messages under one key, its key schedule done once (stream records
 * and lake chunks sealed at rest). A message is the concatenation of n parts. One thread at a time.
 */
struct crypto_gcm;
struct crypto_gcm_part {
    const void *data;
    size_t len;
};
struct crypto_gcm *crypto_gcm_create(const uint8_t key[AES_GCM_KEY_LEN]);
void crypto_gcm_seal(struct crypto_gcm *g, const uint8_t iv[AES_GCM_IV_LEN], const void *aad,
                     size_t aad_len, const struct crypto_gcm_part *parts, size_t n, uint8_t *out,
                     uint8_t tag[AES_GCM_TAG_LEN]);
/* As crypto_aes_gcm_open. */
int crypto_gcm_open(struct crypto_gcm *g, const uint8_t iv[AES_GCM_IV_LEN], const void *aad,
                    size_t aad_len, const void *in, size_t len, const uint8_t tag[AES_GCM_TAG_LEN],
                    uint8_t *out);
void crypto_gcm_destroy(struct crypto_gcm *g); /* NULL is fine */

/* Lower-case hex of len bytes into out (2*len+1 bytes). */
void hex_encode(const uint8_t *data, size_t len, char *out);

/*
 * The master key named name in the data directory dir (one hex line, mode 0600), made
 * at random and written durably (temp file, fsync, rename, directory fsync) when absent.
 * Returns 0, -errno, or SL_E(CORRUPT) for a file that is not one key.
 */
int crypto_key_file_load(const char *dir, const char *name, uint8_t key[AES_GCM_KEY_LEN]);

#endif
