/*
 * Encryption at rest of the lake's object bytes.
 *
 * Every object (and every part of a multipart upload) is encrypted under a data key of
 * its own, AES-256-GCM in chunks of LAKE__CHUNK plaintext bytes. A sealed chunk is
 *
 *     IV (12, random) | ciphertext (up to LAKE__CHUNK) | tag (16)
 *
 * with the chunk's index within its part (8 bytes, big-endian) as AAD. A chunk carries
 * its own IV, so the parts of a multipart upload, all under the upload's data key, are
 * concatenated as they lie; a reader finds any chunk from the parts' plaintext sizes and
 * decrypts only the chunks a range touches.
 *
 * The data key is kept in the object's metadata row as an encryption record, a JSON
 * object naming the algorithm S3 reports:
 *   {"alg":"AES256","dek":B64}                    SSE-S3: the data key wrapped by the
 *                                                 master key (IV | tag | key)
 *   {"alg":"AES256","c":1,"md5":B64,"mac":B64,"dek":B64}
 *                                                 SSE-C: the data key wrapped by the
 *                                                 customer's key, which is never stored;
 *                                                 mac (salt 16 | HMAC-SHA256 of the salt
 *                                                 under the key) tells a wrong key; md5
 *                                                 is the key's MD5 S3 echoes
 *   {"alg":"aws:kms","key":ARN,"blob":B64,"ctx":JSON,"bk":0|1}
 *                                                 SSE-KMS: the data key as the KMS's
 *                                                 ciphertext blob under key, bound to the
 *                                                 encryption context ctx; bk: bucket key
 *                                                 asked for (recorded and reported); S3
 *                                                 adds "alg":"aws:kms:dsse" (dual-layer
 *                                                 asked for, reported) and "uc":1 (ctx
 *                                                 was the caller's, echoed)
 * The master key is <data>/lake-master-key (hex, 0600), created on first start like the
 * KMS's. Rows without a record are objects written before encryption: read as they lie.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/base64.h"
#include "core/crypto.h"
#include "core/file.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/text.h"
#include "http/http.h"
#include "kms/kms.h"
#include "lake/lake_int.h"

#define WRAPPED_LEN (AES_GCM_IV_LEN + AES_GCM_TAG_LEN + LAKE_DEK_LEN)

struct lake__keyring {
    uint8_t master[AES_GCM_KEY_LEN];
    struct kms *kms; /* SSE-KMS data keys; NULL until lake__keyring_set_kms */
    char region[32];
    char account[16];
};

void lake__keyring_set_kms(struct lake__keyring *k, struct kms *kms, const char *region,
                           const char *account)
{
    k->kms = kms;
    snprintf(k->region, sizeof(k->region), "%s", region);
    snprintf(k->account, sizeof(k->account), "%s", account);
}

/* The pairs of a JSON object of strings, borrowed from it; NULL when it is not one. */
static struct kms_context *context_pairs(json_t *ctx, size_t *n)
{
    *n = 0;
    if (!json_is_object(ctx)) {
        return NULL;
    }
    struct kms_context *pairs = xcalloc(json_object_size(ctx) + 1, sizeof(*pairs));
    const char *name;
    json_t *v;
    json_object_foreach(ctx, name, v)
    {
        if (!json_is_string(v)) {
            free(pairs);
            *n = 0;
            return NULL;
        }
        pairs[*n].key = name;
        pairs[(*n)++].value = json_string_value(v);
    }
    return pairs;
}

/* KMS's errors as S3 reports them (KMS.<code>, 400). */
static int kms_error(struct err_info *err)
{
    int code = err->code == SL_E(KMS_DISABLED)        ? SL_E(S3_KMS_DISABLED)
               : err->code == SL_E(KMS_INVALID_STATE) ? SL_E(S3_KMS_INVALID_STATE)
               : err->code == SL_E(KMS_NOT_FOUND)     ? SL_E(S3_KMS_NOT_FOUND)
                                                      : SL_E(S3_ACCESS_DENIED);
    char msg[sizeof(err->message)];
    snprintf(msg, sizeof(msg), "%s",
             code == SL_E(S3_ACCESS_DENIED) ? "Access Denied" : err->message);
    return err_set(err, code, "%s", msg);
}

char *lake__sse_new_kms(const struct lake__keyring *k, const char *key_id, const char *context_json,
                        int bucket_key, uint8_t dek[LAKE_DEK_LEN], struct err_info *err)
{
    if (k->kms == NULL) {
        err_set(err, SL_E(NOT_IMPLEMENTED),
                "Server-side encryption with AWS KMS keys is not available");
        return NULL;
    }
    json_t *ctx = json_loads(context_json, 0, NULL);
    size_t n = 0;
    struct kms_context *pairs = context_pairs(ctx, &n);
    struct kms_scope sc = {k->region, k->account};
    struct buf blob;
    buf_init(&blob);
    char arn[KMS_ARN_MAX] = "";
    char *record = NULL;
    if (pairs == NULL) {
        err_set(err, SL_E(INVALID_ARGUMENT_S3),
                "The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 "
                "string holding JSON which represents a string-string map");
    } else if (kms_generate_data_key(k->kms, &sc, key_id ? key_id : "alias/aws/s3", pairs, n,
                                     LAKE_DEK_LEN, dek, &blob, arn, err) < 0) {
        kms_error(err);
    } else {
        char *b64 = xmalloc(BASE64_ENCODED_LEN(blob.len) + 1);
        b64[base64_encode(blob.data, blob.len, b64)] = '\0';
        json_t *rec = json_pack("{s:s, s:s, s:s, s:O, s:i}", "alg", "aws:kms", "key", arn, "blob",
                                b64, "ctx", ctx, "bk", bucket_key ? 1 : 0);
        record = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(rec);
        free(b64);
    }
    free(pairs);
    json_decref(ctx);
    buf_fini(&blob);
    return record;
}

int lake__keyring_kms_authorize(const struct lake__keyring *k, const struct api_request *who,
                                const char *action, const char *record, struct err_info *err)
{
    if (record == NULL || k->kms == NULL || who == NULL || strstr(record, "\"blob\"") == NULL) {
        return 0;
    }
    json_t *j = json_loads(record, 0, NULL);
    const char *key = json_string_value(json_object_get(j, "key"));
    size_t n = 0;
    struct kms_context *pairs = context_pairs(json_object_get(j, "ctx"), &n);
    int rc = 0;
    if (key != NULL && pairs != NULL && who->principal_kind == HTTP_PRINCIPAL_ANONYMOUS) {
        /* KMS takes no anonymous caller: S3 asks for a signed request */
        rc = err_set(err, SL_E(INVALID_ARGUMENT_S3),
                     "Requests specifying Server Side Encryption with AWS KMS managed keys "
                     "require AWS Signature Version 4.");
    } else if (key != NULL && pairs != NULL) {
        struct kms_scope sc = {k->region, k->account};
        struct err_info e = {0};
        rc = kms_authorize(k->kms, &sc, who, action, key, "s3", pairs, n, &e);
        if (rc < 0) {
            rc = err_set(err, SL_E(S3_ACCESS_DENIED), "%s", e.message); /* S3's 403 */
        }
    }
    free(pairs);
    json_decref(j);
    return rc;
}

int lake_default_sse(struct lake *lake, const char *bucket, const char *key, char **record,
                     struct err_info *err)
{
    *record = NULL;
    char *text = NULL;
    struct err_info e = {0};
    if (lake_bucket_doc_get(lake, bucket, LAKE_BUCKET_ENCRYPTION, &text, &e) < 0 || text == NULL) {
        return 0; /* no bucket, or SSE-S3: the writer's own default */
    }
    json_t *def = json_loads(text, 0, NULL);
    free(text);
    const char *alg = json_string_value(json_object_get(def, "alg"));
    int rc = 0;
    if (alg != NULL && strncmp(alg, "aws:kms", 7) == 0) {
        int bk = json_is_true(json_object_get(def, "bk"));
        /* S3's context: the object's ARN, the bucket's with a bucket key */
        char *arn = bk ? xasprintf("arn:aws:s3:::%s", bucket)
                       : xasprintf("arn:aws:s3:::%s/%s", bucket, key);
        json_t *ctx = json_pack("{s:s}", "aws:s3:arn", arn);
        char *ctx_text = json_dumps(ctx, JSON_COMPACT);
        *record = lake_sse_new_kms(lake, json_string_value(json_object_get(def, "kms")), ctx_text,
                                   bk, err);
        rc = *record == NULL ? err->code : 0;
        if (*record != NULL && strcmp(alg, "aws:kms:dsse") == 0) {
            json_t *j = json_loads(*record, 0, NULL);
            json_object_set_new(j, "alg", json_string(alg));
            free(*record);
            *record = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
            json_decref(j);
        }
        free(ctx_text);
        json_decref(ctx);
        free(arn);
    }
    json_decref(def);
    return rc;
}

/* The data key of an SSE-KMS record, from the KMS. */
static int kms_dek(const struct lake__keyring *k, json_t *j, uint8_t dek[LAKE_DEK_LEN],
                   struct err_info *err)
{
    const char *b64 = json_string_value(json_object_get(j, "blob"));
    size_t n = 0;
    struct kms_context *pairs = context_pairs(json_object_get(j, "ctx"), &n);
    int rc = 0;
    if (k->kms == NULL || b64 == NULL || pairs == NULL) {
        rc = err_set(err, SL_E(IO), "We encountered an internal error. Please try again.");
    }
    uint8_t *blob = NULL;
    long blob_len = -1;
    if (rc == 0) {
        blob = xmalloc(BASE64_DECODED_MAX(strlen(b64)));
        blob_len = base64_decode(b64, strlen(b64), blob);
        if (blob_len < 0) {
            rc = err_set(err, SL_E(IO), "We encountered an internal error. Please try again.");
        }
    }
    struct buf plain;
    buf_init(&plain);
    if (rc == 0) {
        struct kms_scope sc = {k->region, k->account};
        char arn[KMS_ARN_MAX];
        if (kms_decrypt(k->kms, &sc, blob, (size_t)blob_len, pairs, n, &plain, arn, err) < 0) {
            rc = kms_error(err);
        } else if (plain.len != LAKE_DEK_LEN) {
            rc = err_set(err, SL_E(IO), "We encountered an internal error. Please try again.");
        } else {
            memcpy(dek, plain.data, LAKE_DEK_LEN);
        }
    }
    if (plain.data != NULL) {
        explicit_bzero(plain.data, plain.len);
    }
    buf_fini(&plain);
    free(blob);
    free(pairs);
    return rc;
}

int lake__keyring_open(const char *data_dir, struct lake__keyring **out)
{
    struct lake__keyring *k = xcalloc(1, sizeof(*k));
    int rc = crypto_key_file_load(data_dir, "lake-master-key", k->master);
    if (rc < 0) {
        log_msg(LOG_ERROR, "lake", "cannot load the master key %s/lake-master-key: %s", data_dir,
                sl_strerror(rc));
        free(k);
        k = NULL;
    }
    *out = k;
    return rc;
}

void lake__keyring_close(struct lake__keyring *k)
{
    if (k != NULL) {
        explicit_bzero(k->master, sizeof(k->master));
        free(k);
    }
}

/* ---- records ---- */

static void wrap(const uint8_t kek[AES_GCM_KEY_LEN], const uint8_t dek[LAKE_DEK_LEN],
                 char b64[LAKE_SSE_B64_MAX])
{
    uint8_t w[WRAPPED_LEN];
    crypto_random(w, AES_GCM_IV_LEN);
    crypto_aes_gcm_seal(kek, w, "lake-dek", 8, dek, LAKE_DEK_LEN,
                        w + AES_GCM_IV_LEN + AES_GCM_TAG_LEN, w + AES_GCM_IV_LEN);
    b64[base64_encode(w, sizeof(w), b64)] = '\0';
}

static int unwrap(const uint8_t kek[AES_GCM_KEY_LEN], const char *b64, uint8_t dek[LAKE_DEK_LEN])
{
    uint8_t w[WRAPPED_LEN + 4];
    if (b64 == NULL || strlen(b64) > LAKE_SSE_B64_MAX ||
        base64_decode(b64, strlen(b64), w) != WRAPPED_LEN) {
        return -1;
    }
    return crypto_aes_gcm_open(kek, w, "lake-dek", 8, w + AES_GCM_IV_LEN + AES_GCM_TAG_LEN,
                               LAKE_DEK_LEN, w + AES_GCM_IV_LEN, dek);
}

char *lake__sse_new(const struct lake__keyring *k, const uint8_t *customer_key,
                    uint8_t dek[LAKE_DEK_LEN])
{
    crypto_random(dek, LAKE_DEK_LEN);
    char w[LAKE_SSE_B64_MAX];
    wrap(customer_key != NULL ? customer_key : k->master, dek, w);
    if (customer_key == NULL) {
        return xasprintf("{\"alg\":\"AES256\",\"dek\":\"%s\"}", w);
    }
    uint8_t md5[MD5_LEN];
    crypto_md5(customer_key, LAKE_DEK_LEN, md5);
    char md5_b64[32];
    md5_b64[base64_encode(md5, MD5_LEN, md5_b64)] = '\0';
    uint8_t mac[16 + SHA256_LEN];
    crypto_random(mac, 16);
    crypto_hmac_sha256(customer_key, LAKE_DEK_LEN, mac, 16, mac + 16);
    char mac_b64[80];
    mac_b64[base64_encode(mac, sizeof(mac), mac_b64)] = '\0';
    return xasprintf("{\"alg\":\"AES256\",\"c\":1,\"md5\":\"%s\",\"mac\":\"%s\",\"dek\":\"%s\"}",
                     md5_b64, mac_b64, w);
}

int lake__sse_describe(const char *record, struct lake_sse_desc *out)
{
    memset(out, 0, sizeof(*out));
    if (record == NULL) {
        return 0;
    }
    json_t *j = json_loads(record, 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return SL_E(CORRUPT);
    }
    const char *alg = json_string_value(json_object_get(j, "alg"));
    out->dsse = alg != NULL && strcmp(alg, "aws:kms:dsse") == 0;
    out->algo = json_integer_value(json_object_get(j, "c"))                 ? LAKE_SSE_C
                : alg != NULL && (strcmp(alg, "aws:kms") == 0 || out->dsse) ? LAKE_SSE_KMS
                                                                            : LAKE_SSE_S3;
    const char *key = json_string_value(json_object_get(j, "key"));
    snprintf(out->kms_key_arn, sizeof(out->kms_key_arn), "%s", key ? key : "");
    out->bucket_key = (int)json_integer_value(json_object_get(j, "bk"));
    const char *md5 = json_string_value(json_object_get(j, "md5"));
    snprintf(out->customer_key_md5, sizeof(out->customer_key_md5), "%s", md5 ? md5 : "");
    json_decref(j);
    return 0;
}

/* 1 when mac (salt | HMAC) was made with key. */
static int mac_matches(const char *mac_b64, const uint8_t *key)
{
    uint8_t mac[16 + SHA256_LEN + 4];
    if (mac_b64 == NULL || strlen(mac_b64) > 64 ||
        base64_decode(mac_b64, strlen(mac_b64), mac) != 16 + SHA256_LEN) {
        return 0;
    }
    uint8_t want[SHA256_LEN];
    crypto_hmac_sha256(key, LAKE_DEK_LEN, mac, 16, want);
    return crypto_equal(want, mac + 16, SHA256_LEN);
}

int lake__sse_dek(const struct lake__keyring *k, const char *record, const uint8_t *customer_key,
                  uint8_t dek[LAKE_DEK_LEN], struct err_info *err)
{
    json_t *j = json_loads(record, 0, NULL);
    const char *w = json_string_value(json_object_get(j, "dek"));
    int customer = json_object_get(j, "c") != NULL;
    int kms = json_object_get(j, "blob") != NULL;
    int rc = 0;
    if (kms && customer_key != NULL) {
        rc = err_set(err, SL_E(INVALID_REQUEST),
                     "The encryption parameters are not applicable to this object.");
    } else if (kms) {
        rc = kms_dek(k, j, dek, err);
    } else if (w == NULL) {
        rc = err_set(err, SL_E(IO), "We encountered an internal error. Please try again.");
    } else if (customer && customer_key == NULL) {
        rc = err_set(err, SL_E(INVALID_REQUEST),
                     "The object was stored using a form of Server Side Encryption. The correct "
                     "parameters must be provided to retrieve the object.");
    } else if (!customer && customer_key != NULL) {
        rc = err_set(err, SL_E(INVALID_REQUEST),
                     "The encryption parameters are not applicable to this object.");
    } else if (customer &&
               !mac_matches(json_string_value(json_object_get(j, "mac")), customer_key)) {
        rc = err_set(err, SL_E(S3_ACCESS_DENIED), "Access Denied");
    } else if (unwrap(customer ? customer_key : k->master, w, dek) < 0) {
        rc = customer
                 ? err_set(err, SL_E(S3_ACCESS_DENIED), "Access Denied")
                 : err_set(err, SL_E(IO), "We encountered an internal error. Please try again.");
        if (!customer) {
            log_msg(LOG_ERROR, "lake", "a data key does not unwrap under the master key");
        }
    }
    json_decref(j);
    return rc;
}

/* ---- chunks ---- */

int64_t lake__sealed_len(int64_t plain)
{
    int64_t chunks = (plain + LAKE__CHUNK - 1) / LAKE__CHUNK;
    return plain + chunks * LAKE__CHUNK_OVERHEAD;
}

static void chunk_aad(uint64_t index, uint8_t aad[8])
{
    for (int i = 7; i >= 0; i--) {
        aad[i] = (uint8_t)index;
        index >>= 8;
    }
}

void lake__seal_chunk(struct crypto_gcm *key, uint64_t index, const uint8_t *in, size_t len,
                      uint8_t *out)
{
    uint8_t aad[8];
    chunk_aad(index, aad);
    crypto_random(out, AES_GCM_IV_LEN);
    struct crypto_gcm_part part = {in, len};
    crypto_gcm_seal(key, out, aad, sizeof(aad), &part, 1, out + AES_GCM_IV_LEN,
                    out + AES_GCM_IV_LEN + len);
}

static int open_chunk(struct crypto_gcm *key, uint64_t index, const uint8_t *in, size_t sealed_len,
                      uint8_t *out)
{
    if (sealed_len <= LAKE__CHUNK_OVERHEAD) {
        return -1;
    }
    size_t len = sealed_len - LAKE__CHUNK_OVERHEAD;
    uint8_t aad[8];
    chunk_aad(index, aad);
    return crypto_gcm_open(key, in, aad, sizeof(aad), in + AES_GCM_IV_LEN, len,
                           in + AES_GCM_IV_LEN + len, out);
}

/* ---- reading ---- */

/* Where decrypted bytes go: memory (dst, advanced) or a sink. */
struct range_out {
    uint8_t *dst;
    int (*sink)(void *arg, const uint8_t *data, size_t len);
    void *arg;
};

/* Reads exactly len bytes at off. 0 or SL_E(IO). */
static int read_full(int fd, uint8_t *dst, size_t len, int64_t off)
{
    while (len > 0) {
        ssize_t n = file_pread(fd, dst, len, (off_t)off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return SL_E(IO);
        }
        dst += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

/* Decrypts the chunks of one part (plain bytes at cipher offset base) that [off, off+len)
   of the part touches, handing the range's bytes to sink. */
static int part_range(int fd, struct crypto_gcm *key, int64_t base, int64_t plain, int64_t off,
                      int64_t len, uint8_t *sealed, uint8_t *clear, struct range_out *out)
{
    enum { BATCH = LAKE__READ_BATCH };
    int64_t first = off / LAKE__CHUNK;
    int64_t last = (off + len - 1) / LAKE__CHUNK;
    int rc = 0;
    for (int64_t c = first; c <= last && rc == 0;) {
        int64_t n = last - c + 1 > BATCH ? BATCH : last - c + 1;
        int64_t c_plain_off = c * LAKE__CHUNK;
        int64_t end_plain = (c + n) * LAKE__CHUNK > plain ? plain : (c + n) * LAKE__CHUNK;
        int64_t cipher_off = base + c * (LAKE__CHUNK + LAKE__CHUNK_OVERHEAD);
        size_t cipher_len = (size_t)(end_plain - c_plain_off + n * LAKE__CHUNK_OVERHEAD);
        rc = read_full(fd, sealed, cipher_len, cipher_off);
        for (int64_t i = 0; i < n && rc == 0; i++) {
            int64_t cp = (c + i) * LAKE__CHUNK;
            size_t pl = (size_t)(plain - cp > LAKE__CHUNK ? LAKE__CHUNK : plain - cp);
            const uint8_t *in = sealed + i * (LAKE__CHUNK + LAKE__CHUNK_OVERHEAD);
            int64_t from = off > cp ? off - cp : 0;
            int64_t to = off + len < cp + (int64_t)pl ? off + len - cp : (int64_t)pl;
            /* A whole chunk wanted in memory is decrypted where it goes. */
            int direct = out->dst != NULL && from == 0 && to == (int64_t)pl;
            uint8_t *dst = direct ? out->dst : clear;
            if (open_chunk(key, (uint64_t)(c + i), in, pl + LAKE__CHUNK_OVERHEAD, dst) < 0) {
                log_msg(LOG_ERROR, "lake", "an object chunk does not authenticate");
                rc = SL_E(IO);
                break;
            }
            if (out->dst != NULL) {
                if (!direct) {
                    memcpy(out->dst, clear + from, (size_t)(to - from));
                }
                out->dst += to - from;
            } else {
                rc = out->sink(out->arg, clear + from, (size_t)(to - from));
            }
        }
        c += n;
    }
    return rc;
}

static int decrypt_range(int fd, const uint8_t dek[LAKE_DEK_LEN], int64_t size,
                         const char *part_sizes_json, int64_t off, int64_t len,
                         struct range_out *out)
{
    if (len <= 0) {
        return 0;
    }
    struct crypto_gcm *key = crypto_gcm_create(dek);
    json_t *sizes = part_sizes_json ? json_loads(part_sizes_json, 0, NULL) : NULL;
    size_t n_parts = json_is_array(sizes) ? json_array_size(sizes) : 0;
    /* Room for the chunks one read takes, at most a batch: small reads stay small. */
    int64_t chunks = (len + LAKE__CHUNK - 1) / LAKE__CHUNK + 1;
    if (chunks > LAKE__READ_BATCH) {
        chunks = LAKE__READ_BATCH;
    }
    uint8_t *sealed = xmalloc((size_t)chunks * (LAKE__CHUNK + LAKE__CHUNK_OVERHEAD));
    uint8_t *clear = xmalloc(LAKE__CHUNK);
    int rc = 0;
    int64_t plain_base = 0, cipher_base = 0;
    for (size_t i = 0; i < (n_parts ? n_parts : 1) && rc == 0 && len > 0; i++) {
        int64_t plain = n_parts ? json_integer_value(json_array_get(sizes, i)) : size;
        if (off < plain_base + plain) {
            int64_t in_off = off - plain_base;
            int64_t in_len = plain - in_off < len ? plain - in_off : len;
            rc = part_range(fd, key, cipher_base, plain, in_off, in_len, sealed, clear, out);
            off += in_len;
            len -= in_len;
        }
        plain_base += plain;
        cipher_base += lake__sealed_len(plain);
    }
    if (rc == 0 && len > 0) {
        rc = SL_E(IO); /* the row's sizes do not cover the range */
    }
    explicit_bzero(clear, LAKE__CHUNK);
    free(sealed);
    free(clear);
    json_decref(sizes);
    crypto_gcm_destroy(key);
    return rc;
}

int lake__decrypt_range(int fd, const uint8_t dek[LAKE_DEK_LEN], int64_t size,
                        const char *part_sizes_json, int64_t off, int64_t len,
                        int (*sink)(void *arg, const uint8_t *data, size_t len), void *arg)
{
    struct range_out out = {.sink = sink, .arg = arg};
    return decrypt_range(fd, dek, size, part_sizes_json, off, len, &out);
}

/* ---- plaintext in memory ---- */

int lake__decrypt_to_memfd(int fd, const uint8_t dek[LAKE_DEK_LEN], int64_t size,
                           const char *part_sizes_json, int64_t off, int64_t len, int *out)
{
    *out = -1;
    int mfd = memfd_create("sluice-object", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (mfd < 0) {
        return SL_E(IO);
    }
    /* Decrypted straight into the memfd's pages: no copy through write(). */
    int rc = 0;
    uint8_t *map = NULL;
    if (len > 0) {
        /* Allocated up front: a page the mapping faults in can no longer fail (SIGBUS). */
        if (fallocate(mfd, 0, 0, (off_t)len) < 0) {
            rc = errno == ENOMEM || errno == ENOSPC ? SL_E(NOMEM) : SL_E(IO);
        } else if ((map = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                               mfd, 0)) == MAP_FAILED) {
            map = NULL;
            rc = SL_E(NOMEM);
        }
    }
    if (rc == 0 && map != NULL) {
        struct range_out to_map = {.dst = map};
        rc = decrypt_range(fd, dek, size, part_sizes_json, off, len, &to_map);
        munmap(map, (size_t)len);
    }
    if (rc == 0) {
        /* Read-only from here: a reader (DuckDB) can never change the object it reads. */
        fcntl(mfd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
        *out = mfd;
    } else {
        close(mfd);
    }
    return rc;
}
