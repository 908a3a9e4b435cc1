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

/* Lower-case hex of len bytes into out (2*len+1 bytes). */
void hex_encode(const uint8_t *data, size_t len, char *out);

#endif
