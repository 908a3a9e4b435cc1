/*
 * The lake's public calls: argument checks, the writer's digests, and dispatch to the
 * backend's ops table (lake_int.h). The local directory backend is lake_local.c.
 */
#include "lake/lake.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/crypto.h"
#include "core/file.h"
#include "core/log.h"
#include "core/mem.h"
#include "lake/lake_int.h"

/* Multipart uploads idle this long are discarded when the lake opens. */
#define ABANDONED_UPLOAD_MS ((int64_t)7 * 24 * 3600 * 1000)

/*
 * Decrypted views kept between queries: Athena reads the same objects again and again,
 * and a view costs the decryption of the whole object. An object's encryption record is
 * unique to its bytes (a random data key a write), so it names the view; entries go
 * least recently used first once they hold more than VIEW_CACHE_BYTES.
 */
enum { VIEW_CACHE_SLOTS = 512 };
#define VIEW_CACHE_BYTES ((int64_t)256 << 20)

struct view_slot {
    char *sse;    /* the object's encryption record; NULL: free slot */
    int fd;       /* the memfd of its plaintext (sealed read-only) */
    int64_t size; /* its length */
    uint64_t used;
};

struct lake {
    const struct lake_backend_ops *ops; /* the backend's functions */
    void *be;                           /* the backend's state */
    struct lake__keyring *keys;         /* the master key of encryption at rest */
    pthread_mutex_t views_mu;           /* guards the view cache */
    struct view_slot views[VIEW_CACHE_SLOTS];
    int64_t views_bytes;
    uint64_t views_clock;
    atomic_uint_fast64_t docs_generation; /* see lake_bucket_docs_generation */
};

struct lake_writer {
    struct lake *lake;
    struct lake_blob *blob;         /* the backend's blob; NULL once committed */
    struct crypto_digest *md5;      /* MD5 of every byte, for the ETag */
    struct lake__checksum checksum; /* the chosen x-amz-checksum algorithm */
    char checksum_b64[LAKE_CHECKSUM_MAX];
    int checksum_done;  /* checksum_b64 holds the final value */
    int64_t size_bytes; /* bytes written */
    int failed_rc;      /* 0, or the error of a failed write: the writer only discards now */
    /* Encryption at rest (lake_crypt.c): plaintext gathers in pend until a chunk is
       full, sealed chunks in sealed until a batch is worth a write. */
    char *sse;                 /* the record kept with the object */
    uint8_t dek[LAKE_DEK_LEN]; /* its data key */
    struct crypto_gcm *key;    /* dek's key schedule */
    uint8_t *pend;             /* LAKE__CHUNK bytes */
    size_t pend_len;
    uint8_t *sealed; /* LAKE__READ_BATCH sealed chunks */
    size_t sealed_len;
    uint64_t chunk_index; /* chunks sealed so far */
};

/* The caller's err_info cleared, or a local one when the caller passed NULL. */
static struct err_info *err_prep(struct err_info *err, struct err_info *local)
{
    if (err == NULL) {
        err = local;
    }
    err_clear(err);
    return err;
}

int lake_open(struct store *st, const struct sluice_config *cfg, struct lake **out)
{
    char root[600];
    int n = snprintf(root, sizeof(root), "%s/lake", cfg->data_dir);
    if (n < 0 || (size_t)n >= sizeof(root)) {
        return -ENAMETOOLONG;
    }
    void *be = NULL;
    struct lake__keyring *keys = NULL;
    int rc = lake__keyring_open(cfg->data_dir, &keys);
    if (rc < 0) {
        return rc;
    }
    rc = lake__local_open(st, root, ABANDONED_UPLOAD_MS, &be);
    if (rc < 0) {
        lake__keyring_close(keys);
        return rc;
    }
    struct lake *lake = xcalloc(1, sizeof(*lake));
    lake->ops = &lake__local_ops;
    lake->be = be;
    lake->keys = keys;
    pthread_mutex_init(&lake->views_mu, NULL);
    *out = lake;
    return 0;
}

void lake_close(struct lake *lake)
{
    if (lake == NULL) {
        return;
    }
    lake->ops->close(lake->be);
    lake__keyring_close(lake->keys);
    for (int i = 0; i < VIEW_CACHE_SLOTS; i++) {
        if (lake->views[i].sse != NULL) {
            close(lake->views[i].fd);
            free(lake->views[i].sse);
        }
    }
    pthread_mutex_destroy(&lake->views_mu);
    free(lake);
}

void *lake__backend(struct lake *lake)
{
    return lake->be;
}

const char *lake_objects_dir(const struct lake *lake)
{
    return lake->ops->objects_dir(lake->be);
}

/*
 * S3's rules: 3-63 characters of lower-case letters, digits, dots and hyphens, starting
 * and ending with a letter or digit, no "..", not shaped like an IP address, none of
 * the reserved prefixes and suffixes.
 */
int lake_bucket_name_valid(const char *name)
{
    size_t len = strlen(name);
    if (len < 3 || len > LAKE_BUCKET_NAME_MAX) {
        return 0;
    }
    int all_digits_dots = 1;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && c != '.' && c != '-') {
            return 0;
        }
        if ((i == 0 || i == len - 1) && !alnum) {
            return 0;
        }
        if (c == '.' &&
            (name[i + 1] == '.' || name[i + 1] == '-' || (i > 0 && name[i - 1] == '-'))) {
            return 0;
        }
        if (!((c >= '0' && c <= '9') || c == '.')) {
            all_digits_dots = 0;
        }
    }
    if (all_digits_dots) {
        return 0; /* looks like an IP address */
    }
    if (strncmp(name, "xn--", 4) == 0 || strncmp(name, "sthree-", 7) == 0 ||
        (len > 8 && strcmp(name + len - 8, "-s3alias") == 0) ||
        (len > 6 && strcmp(name + len - 6, "--ol-s3") == 0)) {
        return 0;
    }
    return 1;
}

/* Keys are 1..1024 bytes; NUL cannot be carried, everything else is kept exactly. */
static int check_key(const char *key, struct err_info *err)
{
    size_t len = key ? strlen(key) : 0;
    if (len == 0) {
        return err_set(err, SL_E(INVALID_ARGUMENT_S3), "The key must not be empty.");
    }
    if (len > LAKE_KEY_MAX_BYTES) {
        return err_set(err, SL_E(KEY_TOO_LONG), "Your key is too long");
    }
    return 0;
}

int lake_bucket_create(struct lake *lake, const char *name, const char *region,
                       struct err_info *err)
{
    struct err_info err_local;
    err = err_prep(err, &err_local);
    if (!lake_bucket_name_valid(name)) {
        return err_set(err, SL_E(INVALID_BUCKET_NAME), "The specified bucket is not valid.");
    }
    return lake->ops->bucket_create(lake->be, name, region, err);
}

int lake_bucket_get(struct lake *lake, const char *name, struct lake_bucket_info *info,
                    struct err_info *err)
{
    struct err_info err_local;
    err = err_prep(err, &err_local);
    return lake->ops->bucket_get(lake->be, name, info, err);
}

int lake_bucket_list(struct lake *lake, struct lake_bucket_info **out, size_t *n_out)
{
    return lake->ops->bucket_list(lake->be, out, n_out);
}

int lake_bucket_usage(struct lake *lake, const char *name, struct lake_bucket_usage *out)
{
    if (lake->ops->bucket_usage == NULL) {
        return SL_E(NOT_IMPLEMENTED);
    }
    return lake->ops->bucket_usage(lake->be, name, out);
}

int lake_bucket_delete(struct lake *lake, const char *name, struct err_info *err)
{
    struct err_info err_local;
    err = err_prep(err, &err_local);
    int rc = lake->ops->bucket_delete(lake->be, name, err);
    atomic_fetch_add(&lake->docs_generation, 1);
    return rc;
}

int lake_bucket_doc_put(struct lake *lake, const char *name, enum lake_bucket_doc doc,
                        const char *value, struct err_info *err)
{
    struct err_info err_local;
    err = err_prep(err, &err_local);
    int rc = lake->ops->bucket_doc_put(lake->be, name, doc, value, err);
    atomic_fetch_add(&lake->docs_generation, 1);
    return rc;
}

uint64_t lake_bucket_docs_generation(struct lake *lake)
{
    return atomic_load(&lake->docs_generation);
}

int lake_bucket_doc_get(struct lake *lake, const char *name, enum lake_bucket_doc doc,
                        char **value_out, struct err_info *err)
{
    struct err_info err_local;
    err = err_prep(err, &err_local);
    return lake->ops->bucket_doc_get(lake->be, name, doc, value_out, err);
}

int lake_object_acl_put(struct lake *lake, const char *bucket, const char *key,
                        const char *stamp, const char *acl, struct err_info *err)
{
    struct err_info err_local;
    err = err_prep(err, &err_local);
    return lake->ops->object_acl_put(lake->be, bucket, key, stamp, acl, err);
}

int lake_object_acl_get(struct lake *lake, const char *bucket, const char *key,
                        const char *stamp, char **acl_out, struct err_info *err)
{
    struct err_info err_local;
    err = err_prep(err, &err_local);
    return lake->ops->object_acl_get(lake->be, bucket, key, stamp, acl_out, err);
}

/* ---- writer ---- */

int lake_writer_open(struct lake *lake, enum lake_checksum_algo checksum_algo,
                     struct lake_writer **out)
{
    struct lake_blob *blob = NULL;
    int rc = lake->ops->blob_open(lake->be, &blob);
    if (rc < 0) {
        return rc;
    }
    struct lake_writer *w = xcalloc(1, sizeof(*w));
    w->lake = lake;
    w->blob = blob;
    w->md5 = crypto_digest_create(CRYPTO_MD5);
    lake__checksum_init(&w->checksum, checksum_algo);
    w->sse = lake__sse_new(lake->keys, NULL, w->dek);
    w->key = crypto_gcm_create(w->dek);
    /* One chunk's room first: a small object never pays for a batch's buffer. */
    w->pend = xmalloc(LAKE__CHUNK);
    w->sealed = xmalloc(LAKE__CHUNK + LAKE__CHUNK_OVERHEAD);
    *out = w;
    return 0;
}

int lake_writer_encrypt(struct lake_writer *w, const char *record, const uint8_t *customer_key,
                        struct err_info *err)
{
    struct err_info err_local;
    err = err_prep(err, &err_local);
    if (w->size_bytes != 0 || w->chunk_index != 0 || (record == NULL && customer_key == NULL)) {
        return err_set(err, SL_E(IO), "We encountered an internal error. Please try again.");
    }
    uint8_t dek[LAKE_DEK_LEN];
    char *sse = NULL;
    if (record == NULL) {
        sse = lake__sse_new(w->lake->keys, customer_key, dek);
    } else {
        int rc = lake__sse_dek(w->lake->keys, record, customer_key, dek, err);
        if (rc < 0) {
            return rc;
        }
        sse = xstrdup(record);
    }
    free(w->sse);
    w->sse = sse;
    memcpy(w->dek, dek, sizeof(dek));
    explicit_bzero(dek, sizeof(dek));
    crypto_gcm_destroy(w->key);
    w->key = crypto_gcm_create(w->dek);
    return 0;
}

/* Writes the sealed chunks gathered so far. */
static int writer_flush_sealed(struct lake_writer *w)
{
    if (w->sealed_len == 0) {
        return 0;
    }
    int rc = w->lake->ops->blob_write(w->blob, w->sealed, w->sealed_len);
    w->sealed_len = 0;
    return rc;
}

/* Seals one chunk into the batch, writing the batch when full. */
static int writer_seal(struct lake_writer *w, const uint8_t *data, size_t len)
{
    if (w->chunk_index == 1) {
        w->sealed =
            xrealloc(w->sealed, (size_t)LAKE__READ_BATCH * (LAKE__CHUNK + LAKE__CHUNK_OVERHEAD));
    }
    if (w->chunk_index == 0) {
        /* The first chunk fills the one-chunk buffer: written before the second comes. */
        lake__seal_chunk(w->key, w->chunk_index++, data, len, w->sealed);
        w->sealed_len = len + LAKE__CHUNK_OVERHEAD;
        return len == LAKE__CHUNK ? writer_flush_sealed(w) : 0;
    }
    lake__seal_chunk(w->key, w->chunk_index++, data, len, w->sealed + w->sealed_len);
    w->sealed_len += len + LAKE__CHUNK_OVERHEAD;
    if (w->sealed_len + LAKE__CHUNK + LAKE__CHUNK_OVERHEAD >
        (size_t)LAKE__READ_BATCH * (LAKE__CHUNK + LAKE__CHUNK_OVERHEAD)) {
        return writer_flush_sealed(w);
    }
    return 0;
}

/* Plaintext in: whole chunks are sealed straight from data, the rest waits in pend. */
static int writer_encrypt_in(struct lake_writer *w, const uint8_t *data, size_t len)
{
    int rc = 0;
    while (len > 0 && rc == 0) {
        if (w->pend_len == 0 && len >= LAKE__CHUNK) {
            rc = writer_seal(w, data, LAKE__CHUNK);
            data += LAKE__CHUNK;
            len -= LAKE__CHUNK;
            continue;
        }
        size_t take = LAKE__CHUNK - w->pend_len < len ? LAKE__CHUNK - w->pend_len : len;
        memcpy(w->pend + w->pend_len, data, take);
        w->pend_len += take;
        data += take;
        len -= take;
        if (w->pend_len == LAKE__CHUNK) {
            rc = writer_seal(w, w->pend, LAKE__CHUNK);
            w->pend_len = 0;
        }
    }
    return rc;
}

/* Seals the last, short chunk and writes what is left; before a commit. */
static int writer_encrypt_end(struct lake_writer *w)
{
    int rc = 0;
    if (w->pend_len > 0) {
        rc = writer_seal(w, w->pend, w->pend_len);
        w->pend_len = 0;
    }
    if (rc == 0) {
        rc = writer_flush_sealed(w);
    }
    if (rc < 0) {
        w->failed_rc = rc;
    }
    return rc;
}

int lake_writer_write(struct lake_writer *w, const void *data, size_t len)
{
    if (w->failed_rc < 0 || w->blob == NULL) {
        return w->failed_rc < 0 ? w->failed_rc : SL_E(IO);
    }
    if (len == 0) {
        return 0;
    }
    crypto_digest_update(w->md5, data, len);
    if (!w->checksum_done) {
        lake__checksum_update(&w->checksum, data, len);
    }
    int rc = writer_encrypt_in(w, data, len);
    if (rc < 0) {
        w->failed_rc = rc;
        return rc;
    }
    w->size_bytes += (int64_t)len;
    return 0;
}

int lake_writer_write_fd(struct lake_writer *w, int fd, int64_t offset, int64_t len)
{
    enum { CHUNK = 1 << 20 };
    uint8_t *chunk = xmalloc(CHUNK);
    int rc = 0;
    while (len > 0 && rc == 0) {
        size_t want = len > CHUNK ? CHUNK : (size_t)len;
        ssize_t n = file_pread(fd, chunk, want, (off_t)offset);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            rc = n < 0 ? -errno : SL_E(IO);
            break;
        }
        rc = lake_writer_write(w, chunk, (size_t)n);
        offset += n;
        len -= n;
    }
    free(chunk);
    return rc;
}

int lake_writer_adopt_fd(struct lake_writer *w, int fd, int64_t len,
                         int (*observe)(void *arg, const uint8_t *data, size_t len), void *arg)
{
    if (w->failed_rc < 0 || w->blob == NULL || w->size_bytes != 0) {
        return SL_E(IO);
    }
    /* An encrypted blob is never the spooled plaintext itself: always copy. */
    if (w->sse != NULL || w->lake->ops->blob_adopt == NULL ||
        w->lake->ops->blob_adopt(w->blob, fd, len) < 0) {
        /* No linking here: copy, observing each block on the way. */
        enum { CHUNK = 1 << 20 };
        uint8_t *chunk = xmalloc(CHUNK);
        int rc = 0;
        for (int64_t off = 0; off < len && rc == 0;) {
            size_t want = len - off > CHUNK ? CHUNK : (size_t)(len - off);
            ssize_t n = file_pread(fd, chunk, want, (off_t)off);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                rc = n < 0 ? -errno : SL_E(IO);
                break;
            }
            rc = observe ? observe(arg, chunk, (size_t)n) : 0;
            if (rc == 0) {
                rc = lake_writer_write(w, chunk, (size_t)n);
            }
            off += n;
        }
        free(chunk);
        return rc;
    }
    /* Linked: read once for the digests while the disk writes the file back. */
    enum { CHUNK = 1 << 20 };
    uint8_t *chunk = xmalloc(CHUNK);
    int rc = 0;
    for (int64_t off = 0; off < len && rc == 0;) {
        size_t want = len - off > CHUNK ? CHUNK : (size_t)(len - off);
        ssize_t n = file_pread(fd, chunk, want, (off_t)off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            rc = n < 0 ? -errno : SL_E(IO);
            break;
        }
        rc = observe ? observe(arg, chunk, (size_t)n) : 0;
        crypto_digest_update(w->md5, chunk, (size_t)n);
        lake__checksum_update(&w->checksum, chunk, (size_t)n);
        off += n;
        w->size_bytes = off;
    }
    free(chunk);
    if (rc < 0) {
        w->failed_rc = rc;
    }
    return rc;
}

int64_t lake_writer_size(const struct lake_writer *w)
{
    return w->size_bytes;
}

const char *lake_writer_checksum(struct lake_writer *w)
{
    if (!w->checksum_done) {
        if (w->checksum.algo == LAKE_CHECKSUM_NONE) {
            w->checksum_b64[0] = '\0';
        } else {
            lake__checksum_final(&w->checksum, w->checksum_b64);
        }
        w->checksum_done = 1;
    }
    return w->checksum_b64;
}

/*
 * Ends the digests and checks them against what the client promised. Fills meta.
 * Returns 0 or SL_E(BAD_DIGEST).
 */
static int writer_finish(struct lake_writer *w, const struct lake_put_opts *opts,
                         struct lake__blob_meta *meta, struct err_info *err)
{
    uint8_t md5[MD5_LEN];
    crypto_digest_final(w->md5, md5);
    crypto_digest_destroy(w->md5);
    w->md5 = NULL;
    memset(meta, 0, sizeof(*meta));
    meta->size_bytes = w->size_bytes;
    meta->sse = w->sse;
    hex_encode(md5, MD5_LEN, meta->etag);
    if (opts != NULL && opts->content_md5 != NULL &&
        !crypto_equal(md5, opts->content_md5, MD5_LEN)) {
        return err_set(err, SL_E(BAD_DIGEST),
                       "The Content-MD5 you specified did not match what we received.");
    }
    const char *ck = lake_writer_checksum(w);
    meta->checksum_algo = w->checksum.algo;
    snprintf(meta->checksum, sizeof(meta->checksum), "%s", ck);
    if (opts != NULL && opts->checksum_expected != NULL) {
        if (meta->checksum_algo == LAKE_CHECKSUM_NONE || strcmp(ck, opts->checksum_expected) != 0) {
            return err_set(err, SL_E(BAD_DIGEST),
                           "The %s you specified did not match the calculated checksum.",
                           lake_checksum_name(meta->checksum_algo));
        }
    }
    return 0;
}

/* The error a commit of a failed (or already committed) writer answers. */
static int writer_failed(const struct lake_writer *w, struct err_info *err)
{
    if (w->failed_rc == SL_E(UNAVAILABLE)) {
        return err_set(err, w->failed_rc,
                       "The server has no room to store the data. Please try again later.");
    }
    return err_set(err, SL_E(IO), "We encountered an internal error. Please try again.");
}

int lake_writer_commit(struct lake_writer *w, const char *bucket, const char *key,
                       const struct lake_put_opts *opts, struct lake_object_info *info,
                       struct err_info *err)
{
    struct err_info err_local;
    err = err_prep(err, &err_local);
    if (w->failed_rc < 0 || w->blob == NULL) {
        return writer_failed(w, err);
    }
    int rc = check_key(key, err);
    struct lake__blob_meta meta;
    if (rc == 0 && writer_encrypt_end(w) < 0) {
        return writer_failed(w, err);
    }
    if (rc == 0) {
        rc = writer_finish(w, opts, &meta, err);
    }
    if (rc < 0) {
        return rc;
    }
    struct lake_blob *blob = w->blob;
    w->blob = NULL;
    return w->lake->ops->object_commit(w->lake->be, blob, bucket, key, &meta, opts, info, err);
}

int lake_writer_commit_part(struct lake_writer *w, const char *bucket, const char *key,
                            const char *upload_id, int part_number,
                            const struct lake_put_opts *opts, struct lake_part_info *part,
                            struct err_info *err)
{
    struct err_info err_local;
    err = err_prep(err, &err_local);
    if (w->failed_rc < 0 || w->blob == NULL) {
        return writer_failed(w, err);
    }
    if (part_number < 1 || part_number > LAKE_PART_NUMBER_MAX) {
        return err_set(err, SL_E(INVALID_ARGUMENT_S3),
                       "Part number must be an integer between 1 and 10000, inclusive");
    }
    /* Every part of an upload is sealed under the upload's data key: the completed
       object is the parts' chunks as they lie. */
    struct lake_upload_info up;
    int rc = w->lake->ops->upload_get(w->lake->be, bucket, key, upload_id, &up, err);
    if (rc < 0) {
        return rc;
    }
    int same = up.sse != NULL && strcmp(up.sse, w->sse) == 0;
    lake_upload_info_fini(&up);
    if (!same) {
        return err_set(err, SL_E(IO), "We encountered an internal error. Please try again.");
    }
    struct lake__blob_meta meta;
    if (writer_encrypt_end(w) < 0) {
        return writer_failed(w, err);
    }
    rc = writer_finish(w, opts, &meta, err);
    if (rc < 0) {
        return rc;
    }
    struct lake_blob *blob = w->blob;
    w->blob = NULL;
    return w->lake->ops->part_commit(w->lake->be, blob, bucket, key, upload_id, part_number, &meta,
                                     part, err);
}

void lake_writer_destroy(struct lake_writer *w)
{
    if (w == NULL) {
        return;
    }
    if (w->blob != NULL) {
        w->lake->ops->blob_discard(w->blob);
    }
    if (w->md5 != NULL) {
        crypto_digest_destroy(w->md5);
    }
    lake__checksum_fini(&w->checksum);
    explicit_bzero(w->dek, sizeof(w->dek));
    crypto_gcm_destroy(w->key);
    if (w->pend != NULL) {
        explicit_bzero(w->pend, LAKE__CHUNK);
    }
    free(w->pend);
    free(w->sealed);
    free(w->sse);
    free(w);
}

/* ---- objects ---- */

int lake_object_put(struct lake *lake, const char *bucket, const char *key, const void *data,
                    size_t len, const struct lake_put_opts *opts, struct lake_object_info *info,
                    struct err_info *err)
{
    struct err_info err_local;
    err = err_prep(err, &err_local);
    struct lake_writer *w = NULL;
    int rc = lake_writer_open(lake, opts ? opts->checksum_algo : LAKE_CHECKSUM_NONE, &w);
    if (rc < 0) {
        return err_set(err, rc, "The object could not be written.");
    }
    /* the server's own writes (Firehose, Athena) honour the bucket's default as S3 does */
    char *sse = NULL;
    if (opts == NULL || opts->sse == NULL) {
        rc = lake_default_sse(lake, bucket, key, &sse, err);
    }
    const char *record = opts != NULL && opts->sse != NULL ? opts->sse : sse;
    if (rc == 0 && record != NULL) {
        rc = lake_writer_encrypt(w, record, NULL, err);
    }
    free(sse);
    if (rc < 0) {
        lake_writer_destroy(w);
        return rc;
    }
    rc = lake_writer_write(w, data, len);
    if (rc == 0) {
        rc = lake_writer_commit(w, bucket, key, opts, info, err);
    } else {
        err_set(err, rc, "The object could not be written.");
    }
    lake_writer_destroy(w);
    return rc;
}

int lake_object_head(struct lake *lake, const char *bucket, const char *key,
                     struct lake_object_info *info, struct err_info *err)
{
    struct err_info err_local;
    err = err_prep(err, &err_local);
    int rc = check_key(key, err);
    if (rc < 0) {
        return rc == SL_E(INVALID_ARGUMENT_S3) && key && *key == '\0'
                   ? err_set(err, SL_E(NO_SUCH_KEY), "The specified key does not exist.")
                   : rc;
    }
    return lake->ops->object_head(lake->be, bucket, key, info, NULL, NULL, err);
}

/* ---- readers ---- */

struct lake_reader {
    int fd;        /* the stored bytes */
    int encrypted; /* sealed in chunks under dek */
    uint8_t dek[LAKE_DEK_LEN];
    int64_t size;     /* plaintext length */
    char *part_sizes; /* multipart layout, NULL for one part */
};

int lake_sse_describe(const char *record, struct lake_sse_desc *out)
{
    return lake__sse_describe(record, out);
}

void lake_set_kms(struct lake *lake, struct kms *kms, const char *region, const char *account)
{
    lake__keyring_set_kms(lake->keys, kms, region, account);
}

char *lake_sse_new_kms(struct lake *lake, const char *key_id, const char *context_json,
                       int bucket_key, struct err_info *err)
{
    struct err_info err_local;
    err = err_prep(err, &err_local);
    uint8_t dek[LAKE_DEK_LEN];
    char *record = lake__sse_new_kms(lake->keys, key_id, context_json, bucket_key, dek, err);
    explicit_bzero(dek, sizeof(dek));
    return record;
}

int lake_kms_authorize(struct lake *lake, const struct api_request *who, const char *action,
                       const char *record, struct err_info *err)
{
    return lake__keyring_kms_authorize(lake->keys, who, action, record, err);
}

char *lake_sse_new(struct lake *lake, const uint8_t *customer_key)
{
    uint8_t dek[LAKE_DEK_LEN];
    char *record = lake__sse_new(lake->keys, customer_key, dek);
    explicit_bzero(dek, sizeof(dek));
    return record;
}

/* Opens the object's file and, for an encrypted one, its data key. */
/* A reader over fd, the stored bytes of the object in describes (taken, closed on
   failure), its data key unwrapped when encrypted (customer_key for SSE-C). */
static int reader_make(struct lake *lake, int fd, const struct lake_object_info *in,
                       const uint8_t *customer_key, struct lake_reader **out,
                       struct err_info *err)
{
    struct lake_reader *r = xcalloc(1, sizeof(*r));
    r->fd = fd;
    r->size = in->size_bytes;
    r->part_sizes = in->part_sizes_json ? xstrdup(in->part_sizes_json) : NULL;
    r->encrypted = in->sse != NULL;
    int rc = 0;
    if (r->encrypted) {
        rc = lake__sse_dek(lake->keys, in->sse, customer_key, r->dek, err);
    } else if (customer_key != NULL) {
        rc = err_set(err, SL_E(INVALID_REQUEST),
                     "The encryption parameters are not applicable to this object.");
    }
    if (rc < 0) {
        lake_reader_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

static int reader_open(struct lake *lake, const char *bucket, const char *key,
                       const uint8_t *customer_key, struct lake_object_info *info,
                       struct lake_reader **out, char **path_out, struct err_info *err)
{
    *out = NULL;
    int rc = check_key(key, err);
    if (rc < 0) {
        return rc;
    }
    struct lake_object_info local;
    struct lake_object_info *in = info != NULL ? info : &local;
    int fd = -1;
    rc = lake->ops->object_head(lake->be, bucket, key, in, &fd, path_out, err);
    if (rc < 0) {
        return rc;
    }
    rc = reader_make(lake, fd, in, customer_key, out, err);
    if (in == &local || rc < 0) {
        lake_object_info_fini(in);
    }
    if (rc < 0 && path_out != NULL) {
        free(*path_out);
        *path_out = NULL;
    }
    return rc;
}

int lake_reader_open_version(struct lake *lake, const char *bucket, const char *key,
                             const char *version_id, const uint8_t *customer_key,
                             struct lake_object_info *info, struct lake_reader **out,
                             struct err_info *err)
{
    struct err_info err_local;
    err = err_prep(err, &err_local);
    *out = NULL;
    int fd = -1;
    int rc = lake_version_open(lake, bucket, key, version_id, info, &fd, err);
    if (rc < 0) {
        return rc; /* info is filled when a delete marker answered */
    }
    return reader_make(lake, fd, info, customer_key, out, err);
}

int lake_reader_open(struct lake *lake, const char *bucket, const char *key,
                     const uint8_t *customer_key, struct lake_object_info *info,
                     struct lake_reader **out, struct err_info *err)
{
    struct err_info err_local;
    err = err_prep(err, &err_local);
    return reader_open(lake, bucket, key, customer_key, info, out, NULL, err);
}

int lake_reader_fd(struct lake_reader *r, int64_t off, int64_t len, int *fd_out, int64_t *fd_off)
{
    *fd_out = -1;
    *fd_off = 0;
    if (!r->encrypted) {
        *fd_out = fcntl(r->fd, F_DUPFD_CLOEXEC, 0);
        *fd_off = off;
        return *fd_out < 0 ? SL_E(IO) : 0;
    }
    return lake__decrypt_to_memfd(r->fd, r->dek, r->size, r->part_sizes, off, len, fd_out);
}

int lake_reader_range(struct lake_reader *r, int64_t off, int64_t len,
                      int (*sink)(void *arg, const uint8_t *data, size_t len), void *arg)
{
    if (r->encrypted) {
        return lake__decrypt_range(r->fd, r->dek, r->size, r->part_sizes, off, len, sink, arg);
    }
    enum { CHUNK = 1 << 20 };
    uint8_t *chunk = xmalloc(CHUNK);
    int rc = 0;
    while (len > 0 && rc == 0) {
        size_t want = len > CHUNK ? CHUNK : (size_t)len;
        ssize_t n = file_pread(r->fd, chunk, want, (off_t)off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            rc = SL_E(IO);
            break;
        }
        rc = sink(arg, chunk, (size_t)n);
        off += n;
        len -= n;
    }
    free(chunk);
    return rc;
}

void lake_reader_close(struct lake_reader *r)
{
    if (r == NULL) {
        return;
    }
    if (r->fd >= 0) {
        close(r->fd);
    }
    explicit_bzero(r->dek, sizeof(r->dek));
    free(r->part_sizes);
    free(r);
}

int lake_object_open(struct lake *lake, const char *bucket, const char *key,
                     struct lake_object_info *info, int *fd_out, struct err_info *err)
{
    struct err_info err_local;
    err = err_prep(err, &err_local);
    *fd_out = -1;
    struct lake_reader *r = NULL;
    int rc = reader_open(lake, bucket, key, NULL, info, &r, NULL, err);
    if (rc < 0) {
        return rc;
    }
    int64_t off = 0;
    if (r->encrypted) {
        rc = lake_reader_fd(r, 0, r->size, fd_out, &off);
    } else {
        *fd_out = r->fd; /* the file itself, from offset 0 */
        r->fd = -1;
    }
    lake_reader_close(r);
    if (rc < 0) {
        if (info != NULL) {
            lake_object_info_fini(info);
        }
        return err_set(err, rc, "We encountered an internal error. Please try again.");
    }
    return 0;
}

static int buf_sink(void *arg, const uint8_t *data, size_t len)
{
    struct buf *out = arg;
    uint8_t *dst = buf_reserve(out, len);
    if (dst == NULL) {
        return SL_E(NOMEM);
    }
    memcpy(dst, data, len);
    out->len += len;
    out->data[out->len] = '\0';
    return 0;
}

int lake_object_read(struct lake *lake, const char *bucket, const char *key, struct buf *out,
                     struct lake_object_info *info, struct err_info *err)
{
    struct err_info err_local;
    err = err_prep(err, &err_local);
    struct lake_object_info local;
    memset(&local, 0, sizeof(local));
    struct lake_reader *r = NULL;
    int rc = reader_open(lake, bucket, key, NULL, &local, &r, NULL, err);
    if (rc < 0) {
        return rc;
    }
    rc = lake_reader_range(r, 0, local.size_bytes, buf_sink, out);
    lake_reader_close(r);
    if (rc == SL_E(NOMEM)) {
        err_set(err, rc, "The object does not fit in memory.");
    } else if (rc < 0) {
        err_set(err, SL_E(IO), "The object could not be read.");
    }
    if (rc == 0 && info != NULL) {
        *info = local;
    } else {
        lake_object_info_fini(&local);
    }
    return rc;
}

int lake_object_path(struct lake *lake, const char *bucket, const char *key, char **path_out,
                     struct err_info *err)
{
    struct err_info err_local;
    err = err_prep(err, &err_local);
    *path_out = NULL;
    struct lake_reader *r = NULL;
    int rc = reader_open(lake, bucket, key, NULL, NULL, &r, path_out, err);
    if (rc == 0 && r->encrypted) {
        /* The file holds ciphertext: such readers take a view (lake_object_view). */
        free(*path_out);
        *path_out = NULL;
        rc = err_set(err, SL_E(INVALID_REQUEST), "The object is stored encrypted.");
    } else if (rc == 0 && *path_out == NULL) {
        /* A small object's bytes are in the metadata store: no file to name. */
        rc = err_set(err, SL_E(INVALID_REQUEST), "The object is not stored as a file.");
    }
    lake_reader_close(r);
    return rc;
}

struct lake_view {
    int fd; /* the memfd, -1 for an unencrypted object's own file */
    char *path;
};

/* A descriptor of the cached view of the object sealed as sse, or -1. */
static int view_cache_get(struct lake *lake, const char *sse)
{
    int fd = -1;
    pthread_mutex_lock(&lake->views_mu);
    for (int i = 0; i < VIEW_CACHE_SLOTS; i++) {
        struct view_slot *e = &lake->views[i];
        if (e->sse != NULL && strcmp(e->sse, sse) == 0) {
            e->used = ++lake->views_clock;
            fd = fcntl(e->fd, F_DUPFD_CLOEXEC, 0);
            break;
        }
    }
    pthread_mutex_unlock(&lake->views_mu);
    return fd;
}

/* Keeps a copy of fd, the view of the object sealed as sse, evicting the least recently
   used views beyond the cache's size. Views larger than half of it are not kept. */
static void view_cache_put(struct lake *lake, const char *sse, int fd, int64_t size)
{
    if (size > VIEW_CACHE_BYTES / 2) {
        return;
    }
    pthread_mutex_lock(&lake->views_mu);
    for (;;) {
        int lru = -1, free_slot = -1;
        for (int i = 0; i < VIEW_CACHE_SLOTS; i++) {
            struct view_slot *e = &lake->views[i];
            if (e->sse == NULL) {
                free_slot = free_slot < 0 ? i : free_slot;
            } else if (strcmp(e->sse, sse) == 0) {
                pthread_mutex_unlock(&lake->views_mu); /* kept meanwhile */
                return;
            } else if (lru < 0 || e->used < lake->views[lru].used) {
                lru = i;
            }
        }
        if (free_slot >= 0 && lake->views_bytes + size <= VIEW_CACHE_BYTES) {
            int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
            if (copy >= 0) {
                struct view_slot *e = &lake->views[free_slot];
                e->sse = xstrdup(sse);
                e->fd = copy;
                e->size = size;
                e->used = ++lake->views_clock;
                lake->views_bytes += size;
            }
            break;
        }
        if (lru < 0) {
            break;
        }
        struct view_slot *e = &lake->views[lru];
        close(e->fd);
        free(e->sse);
        lake->views_bytes -= e->size;
        memset(e, 0, sizeof(*e));
    }
    pthread_mutex_unlock(&lake->views_mu);
}

int lake_object_view(struct lake *lake, const char *bucket, const char *key, struct lake_view **out,
                     const char **path_out, struct err_info *err)
{
    struct err_info err_local;
    err = err_prep(err, &err_local);
    *out = NULL;
    *path_out = NULL;
    struct lake_reader *r = NULL;
    char *path = NULL;
    struct lake_object_info info;
    int rc = reader_open(lake, bucket, key, NULL, &info, &r, &path, err);
    if (rc < 0) {
        return rc;
    }
    struct lake_view *v = xcalloc(1, sizeof(*v));
    v->fd = -1;
    /* Encrypted, or a small object (no file): a memfd of the plaintext, decrypted once
       and kept for the queries after. */
    if (r->encrypted || path == NULL) {
        free(path);
        path = NULL;
        v->fd = info.sse != NULL ? view_cache_get(lake, info.sse) : -1;
        if (v->fd < 0) {
            int64_t off;
            rc = lake_reader_fd(r, 0, r->size, &v->fd, &off);
            if (rc == 0 && info.sse != NULL) {
                view_cache_put(lake, info.sse, v->fd, r->size);
            }
        }
        path = rc == 0 ? xasprintf("/proc/self/fd/%d", v->fd) : NULL;
    }
    lake_object_info_fini(&info);
    lake_reader_close(r);
    if (rc < 0) {
        free(v);
        return err_set(err, rc == SL_E(NOMEM) ? rc : SL_E(IO),
                       "We encountered an internal error. Please try again.");
    }
    v->path = path;
    *out = v;
    *path_out = v->path;
    return 0;
}

void lake_view_release(struct lake_view *v)
{
    if (v == NULL) {
        return;
    }
    if (v->fd >= 0) {
        close(v->fd);
    }
    free(v->path);
    free(v);
}

int lake_object_delete(struct lake *lake, const char *bucket, const char *key, struct err_info *err)
{
    struct err_info err_local;
    err = err_prep(err, &err_local);
    int rc = check_key(key, err);
    if (rc < 0) {
        return rc;
    }
    /* In a versioned bucket a delete leaves a marker (lake_versions.c decides). */
    struct lake_delete_result res;
    return lake_version_delete(lake, bucket, key, NULL, 0, &res, err);
}

int lake_object_tags_put(struct lake *lake, const char *bucket, const char *key,
                         const char *tags_json, struct err_info *err)
{
    struct err_info err_local;
    err = err_prep(err, &err_local);
    return lake->ops->object_tags_put(lake->be, bucket, key, tags_json, err);
}

int lake_object_tags_get(struct lake *lake, const char *bucket, const char *key, char **tags_out,
                         struct err_info *err)
{
    struct err_info err_local;
    err = err_prep(err, &err_local);
    return lake->ops->object_tags_get(lake->be, bucket, key, tags_out, err);
}

int lake_object_list(struct lake *lake, const char *bucket, const struct lake_list_opts *opts,
                     struct lake_list_result *out, struct err_info *err)
{
    struct err_info err_local;
    err = err_prep(err, &err_local);
    memset(out, 0, sizeof(*out));
    return lake->ops->object_list(lake->be, bucket, opts, out, err);
}

/* ---- multipart ---- */

int lake_upload_create(struct lake *lake, const char *bucket, const char *key,
                       const struct lake_put_opts *opts, struct lake_upload_info *info,
                       struct err_info *err)
{
    struct err_info err_local;
    err = err_prep(err, &err_local);
    int rc = check_key(key, err);
    if (rc < 0) {
        return rc;
    }
    /* Every upload has a data key for its parts: SSE-S3 unless the caller chose one. */
    struct lake_put_opts with_key;
    char *sse = NULL;
    if (opts == NULL || opts->sse == NULL) {
        memset(&with_key, 0, sizeof(with_key));
        if (opts != NULL) {
            with_key = *opts;
        }
        sse = lake_sse_new(lake, NULL);
        with_key.sse = sse;
        opts = &with_key;
    }
    rc = lake->ops->upload_create(lake->be, bucket, key, opts, info, err);
    free(sse);
    if (rc == 0 && (opts->lock_mode != NULL || opts->legal_hold != 0)) {
        /* The upload's object lock settings, applied when it completes. */
        rc = lake__version_upload_lock_put(lake, bucket, info->upload_id, opts, err);
        if (rc < 0) {
            lake->ops->upload_abort(lake->be, bucket, key, info->upload_id, NULL);
            lake_upload_info_fini(info);
        }
    }
    return rc;
}

int lake_upload_get(struct lake *lake, const char *bucket, const char *key, const char *upload_id,
                    struct lake_upload_info *info, struct err_info *err)
{
    struct err_info err_local;
    err = err_prep(err, &err_local);
    return lake->ops->upload_get(lake->be, bucket, key, upload_id, info, err);
}

int lake_upload_complete(struct lake *lake, const char *bucket, const char *key,
                         const char *upload_id, const struct lake_complete_part *parts,
                         size_t n_parts, struct lake_object_info *info, struct err_info *err)
{
    return lake_upload_complete_opts(lake, bucket, key, upload_id, parts, n_parts, NULL, info, err);
}

int lake_upload_complete_opts(struct lake *lake, const char *bucket, const char *key,
                              const char *upload_id, const struct lake_complete_part *parts,
                              size_t n_parts, const struct lake_put_opts *opts,
                              struct lake_object_info *info, struct err_info *err)
{
    struct err_info err_local;
    err = err_prep(err, &err_local);
    if (n_parts == 0) {
        return err_set(err, SL_E(MALFORMED_XML),
                       "The XML you provided was not well-formed or did not validate against "
                       "our published schema");
    }
    for (size_t i = 1; i < n_parts; i++) {
        if (parts[i].part_number <= parts[i - 1].part_number) {
            return err_set(err, SL_E(INVALID_PART_ORDER),
                           "The list of parts was not in ascending order. Parts must be "
                           "ordered by part number.");
        }
    }
    struct lake_put_opts merged;
    memset(&merged, 0, sizeof(merged));
    if (opts != NULL) {
        merged = *opts;
    }
    char lock_mode[16] = "";
    int rc = lake__version_upload_lock_get(lake, upload_id, &merged, lock_mode);
    if (rc < 0) {
        return err_set(err, rc, "We encountered an internal error. Please try again.");
    }
    return lake->ops->upload_complete(lake->be, bucket, key, upload_id, parts, n_parts, &merged,
                                      info, err);
}

int lake_upload_abort(struct lake *lake, const char *bucket, const char *key, const char *upload_id,
                      struct err_info *err)
{
    struct err_info err_local;
    err = err_prep(err, &err_local);
    return lake->ops->upload_abort(lake->be, bucket, key, upload_id, err);
}

int lake_upload_list(struct lake *lake, const char *bucket, const char *prefix,
                     const char *key_marker, const char *upload_id_marker, size_t max_uploads,
                     struct lake_upload_list *out, struct err_info *err)
{
    struct err_info err_local;
    err = err_prep(err, &err_local);
    memset(out, 0, sizeof(*out));
    return lake->ops->upload_list(lake->be, bucket, prefix, key_marker, upload_id_marker,
                                  max_uploads, out, err);
}

int lake_part_list(struct lake *lake, const char *bucket, const char *key, const char *upload_id,
                   int part_marker, size_t max_parts, struct lake_part_info **out, size_t *n_out,
                   int *truncated, struct err_info *err)
{
    struct err_info err_local;
    err = err_prep(err, &err_local);
    *out = NULL;
    *n_out = 0;
    *truncated = 0;
    return lake->ops->part_list(lake->be, bucket, key, upload_id, part_marker, max_parts, out,
                                n_out, truncated, err);
}
