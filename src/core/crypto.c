#include "core/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

struct crypto_digest {
    EVP_MD_CTX *ctx;
};

static const EVP_MD *md_for(enum crypto_digest_kind kind)
{
    switch (kind) {
    case CRYPTO_MD5: return EVP_md5();
    case CRYPTO_SHA1: return EVP_sha1();
    case CRYPTO_SHA256: break;
    }
    return EVP_sha256();
}

void crypto_sha256(const void *data, size_t len, uint8_t out[SHA256_LEN])
{
    unsigned int n = 0;
    SL_ASSERT(EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1);
}

void crypto_md5(const void *data, size_t len, uint8_t out[MD5_LEN])
{
    unsigned int n = 0;
    SL_ASSERT(EVP_Digest(data, len, out, &n, EVP_md5(), NULL) == 1);
}

void crypto_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                        uint8_t out[SHA256_LEN])
{
    unsigned int n = 0;
    SL_ASSERT(HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &n) != NULL);
}

void crypto_hmac_sha1(const void *key, size_t key_len, const void *data, size_t len,
                      uint8_t out[SHA1_LEN])
{
    unsigned int n = 0;
    SL_ASSERT(HMAC(EVP_sha1(), key, (int)key_len, data, len, out, &n) != NULL);
}

void crypto_random(void *out, size_t len)
{
    SL_ASSERT(RAND_bytes(out, (int)len) == 1);
}

int crypto_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

struct crypto_digest *crypto_digest_create(enum crypto_digest_kind kind)
{
    struct crypto_digest *d = malloc(sizeof(*d));
    SL_ASSERT(d != NULL);
    d->ctx = EVP_MD_CTX_new();
    SL_ASSERT(d->ctx != NULL);
    SL_ASSERT(EVP_DigestInit_ex(d->ctx, md_for(kind), NULL) == 1);
    return d;
}

void crypto_digest_update(struct crypto_digest *d, const void *data, size_t len)
{
    SL_ASSERT(EVP_DigestUpdate(d->ctx, data, len) == 1);
}

size_t crypto_digest_final(struct crypto_digest *d, uint8_t *out)
{
    unsigned int n = 0;
    SL_ASSERT(EVP_DigestFinal_ex(d->ctx, out, &n) == 1);
    return n;
}

void crypto_digest_destroy(struct crypto_digest *d)
{
    if (d == NULL) {
        return;
    }
    EVP_MD_CTX_free(d->ctx);
    free(d);
}

void hex_encode(const uint8_t *data, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 15];
    }
    out[2 * len] = '\0';
}

/* One GCM pass: enc 1 seals (writes tag), 0 opens (checks tag). */
static int aes_gcm(int enc, const uint8_t *key, const uint8_t *iv, const void *aad, size_t aad_len,
                   const void *in, size_t len, uint8_t *out, uint8_t *tag)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    SL_ASSERT(ctx != NULL);
    int n = 0, ok = 1;
    SL_ASSERT(EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, iv, enc) == 1);
    if (aad_len > 0) {
        SL_ASSERT(EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_len) == 1);
    }
    if (len > 0) {
        SL_ASSERT(EVP_CipherUpdate(ctx, out, &n, in, (int)len) == 1);
    }
    if (!enc) {
        SL_ASSERT(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, AES_GCM_TAG_LEN, tag) == 1);
    }
    /* GCM writes nothing at final; out + n is only a valid address for the call. */
    uint8_t tail[16];
    ok = EVP_CipherFinal_ex(ctx, tail, &n) == 1;
    if (enc) {
        SL_ASSERT(ok);
        SL_ASSERT(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, AES_GCM_TAG_LEN, tag) == 1);
    }
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : -1;
}

void crypto_aes_gcm_seal(const uint8_t key[AES_GCM_KEY_LEN], const uint8_t iv[AES_GCM_IV_LEN],
                         const void *aad, size_t aad_len, const void *in, size_t len, uint8_t *out,
                         uint8_t tag[AES_GCM_TAG_LEN])
{
    (void)aes_gcm(1, key, iv, aad, aad_len, in, len, out, tag);
}

int crypto_aes_gcm_open(const uint8_t key[AES_GCM_KEY_LEN], const uint8_t iv[AES_GCM_IV_LEN],
                        const void *aad, size_t aad_len, const void *in, size_t len,
                        const uint8_t tag[AES_GCM_TAG_LEN], uint8_t *out)
{
    uint8_t t[AES_GCM_TAG_LEN];
    memcpy(t, tag, sizeof(t));
    int rc = aes_gcm(0, key, iv, aad, aad_len, in, len, out, t);
    if (rc < 0 && len > 0) {
        OPENSSL_cleanse(out, len);
    }
    return rc;
}

/* ---- a reusable GCM key ---- */

struct crypto_gcm {
    EVP_CIPHER_CTX *ctx[2]; /* [0] opens, [1] seals; the key schedule set once each */
};

struct crypto_gcm *crypto_gcm_create(const uint8_t key[AES_GCM_KEY_LEN])
{
    struct crypto_gcm *g = calloc(1, sizeof(*g));
    SL_ASSERT(g != NULL);
    for (int enc = 0; enc < 2; enc++) {
        g->ctx[enc] = EVP_CIPHER_CTX_new();
        SL_ASSERT(g->ctx[enc] != NULL);
        SL_ASSERT(EVP_CipherInit_ex(g->ctx[enc], EVP_aes_256_gcm(), NULL, key, NULL, enc) == 1);
    }
    return g;
}

static int gcm_pass(EVP_CIPHER_CTX *ctx, int enc, const uint8_t *iv, const void *aad,
                    size_t aad_len, const void *in, size_t len, uint8_t *out, uint8_t *tag)
{
    int n = 0;
    SL_ASSERT(EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, enc) == 1);
    if (aad_len > 0) {
        SL_ASSERT(EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_len) == 1);
    }
    if (len > 0) {
        SL_ASSERT(EVP_CipherUpdate(ctx, out, &n, in, (int)len) == 1);
    }
    if (!enc) {
        SL_ASSERT(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, AES_GCM_TAG_LEN, tag) == 1);
    }
    uint8_t tail[16];
    int ok = EVP_CipherFinal_ex(ctx, tail, &n) == 1;
    if (enc) {
        SL_ASSERT(ok);
        SL_ASSERT(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, AES_GCM_TAG_LEN, tag) == 1);
    }
    return ok ? 0 : -1;
}

void crypto_gcm_seal(struct crypto_gcm *g, const uint8_t iv[AES_GCM_IV_LEN], const void *aad,
                     size_t aad_len, const void *in, size_t len, uint8_t *out,
                     uint8_t tag[AES_GCM_TAG_LEN])
{
    (void)gcm_pass(g->ctx[1], 1, iv, aad, aad_len, in, len, out, tag);
}

int crypto_gcm_open(struct crypto_gcm *g, const uint8_t iv[AES_GCM_IV_LEN], const void *aad,
                    size_t aad_len, const void *in, size_t len, const uint8_t tag[AES_GCM_TAG_LEN],
                    uint8_t *out)
{
    uint8_t t[AES_GCM_TAG_LEN];
    memcpy(t, tag, sizeof(t));
    int rc = gcm_pass(g->ctx[0], 0, iv, aad, aad_len, in, len, out, t);
    if (rc < 0 && len > 0) {
        OPENSSL_cleanse(out, len);
    }
    return rc;
}

void crypto_gcm_destroy(struct crypto_gcm *g)
{
    if (g != NULL) {
        EVP_CIPHER_CTX_free(g->ctx[0]);
        EVP_CIPHER_CTX_free(g->ctx[1]);
        free(g);
    }
}
