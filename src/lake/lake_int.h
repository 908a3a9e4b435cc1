/*
 * Internals shared inside src/lake: the backend ops table, checksums, and the pieces
 * of the S3 adapter that tests and fuzz targets call directly. Never included from
 * another folder.
 */
#ifndef SLUICE_LAKE_INT_H
#define SLUICE_LAKE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "lake/lake.h"

/* ---- incremental checksums ---- */

struct lake__checksum {
    enum lake_checksum_algo algo;
    uint32_t crc32;               /* CRC32 / CRC32C running value */
    uint64_t crc64;               /* CRC64NVME running value */
    struct crypto_digest *digest; /* SHA1 / SHA256; owned */
};
void lake__checksum_init(struct lake__checksum *c, enum lake_checksum_algo algo);
void lake__checksum_update(struct lake__checksum *c, const void *data, size_t len);
/* Writes the base64 checksum into out (LAKE_CHECKSUM_MAX) and frees the state. */
void lake__checksum_final(struct lake__checksum *c, char *out);
/* Frees the state without a result; safe after final. */
void lake__checksum_fini(struct lake__checksum *c);
/* Raw digest length of an algorithm (4, 8, 20, 32; 0 for NONE). */
size_t lake__checksum_len(enum lake_checksum_algo algo);
uint32_t lake__crc32c(uint32_t crc, const void *data, size_t len);
uint64_t lake__crc64nvme(uint64_t crc, const void *data, size_t len);
/* The CRC (CRC32, CRC32C or CRC64NVME) of A followed by B, from crc(A), crc(B) and B's
   length: how a multipart upload's FULL_OBJECT checksum is made from its parts'. */
uint64_t lake__crc_combine(enum lake_checksum_algo algo, uint64_t crc_a, uint64_t crc_b,
                           int64_t len_b);
/* A CRC's value from its base64 (0), or -1 when b64 is not a CRC of algo. */
int lake__crc_decode(enum lake_checksum_algo algo, const char *b64, uint64_t *out);
/* The base64 of a CRC of algo into out (LAKE_CHECKSUM_MAX). */
void lake__crc_encode(enum lake_checksum_algo algo, uint64_t crc, char *out);

/* ---- encryption at rest (lake_crypt.c) ---- */

#define LAKE_DEK_LEN 32                /* AES-256 data keys */
#define LAKE_SSE_B64_MAX 96            /* base64 of a wrapped data key + NUL */
#define LAKE__CHUNK 65536              /* plaintext bytes per sealed chunk */
#define LAKE__CHUNK_OVERHEAD (12 + 16) /* each chunk's IV and tag */
#define LAKE__READ_BATCH 16            /* chunks read with one pread */

struct lake__keyring;
/* Loads (or creates) <data_dir>/lake-master-key. 0 or a negative code. */
int lake__keyring_open(const char *data_dir, struct lake__keyring **out);
void lake__keyring_close(struct lake__keyring *k);
/* A new data key (dek) and the encryption record (caller frees) that keeps it: wrapped by
   the master key, or by customer_key (32 bytes, SSE-C) when not NULL. */
char *lake__sse_new(const struct lake__keyring *k, const uint8_t *customer_key,
                    uint8_t dek[LAKE_DEK_LEN]);
struct kms;
void lake__keyring_set_kms(struct lake__keyring *k, struct kms *kms, const char *region,
                           const char *account);
/* A new data key from the KMS under key_id (NULL: alias/aws/s3) bound to context_json (a
   JSON object of strings), and its record; NULL with S3's error (KMS.*) in err. */
char *lake__sse_new_kms(const struct lake__keyring *k, const char *key_id, const char *context_json,
                        int bucket_key, uint8_t dek[LAKE_DEK_LEN], struct err_info *err);
/* lake_kms_authorize (lake.h). */
struct api_request;
int lake__keyring_kms_authorize(const struct lake__keyring *k, const struct api_request *who,
                                const char *action, const char *record, struct err_info *err);
/* The data key of a record. customer_key must be given exactly for SSE-C records; errors
   are S3's (InvalidRequest when the key is missing or not applicable, AccessDenied when
   it is wrong). */
int lake__sse_dek(const struct lake__keyring *k, const char *record, const uint8_t *customer_key,
                  uint8_t dek[LAKE_DEK_LEN], struct err_info *err);
int lake__sse_describe(const char *record, struct lake_sse_desc *out);
/* Stored length of plain bytes sealed in chunks. */
int64_t lake__sealed_len(int64_t plain);
/* Seals chunk number index (len <= LAKE__CHUNK bytes) under key (crypto_gcm_create of
   the data key) into out (len + overhead). */
struct crypto_gcm;
void lake__seal_chunk(struct crypto_gcm *key, uint64_t index, const uint8_t *in, size_t len,
                      uint8_t *out);
/*
 * Decrypts plaintext bytes [off, off+len) of an object of size bytes stored sealed in fd
 * (parts of the sizes in part_sizes_json concatenated, or one part when NULL), reading
 * only the chunks the range touches, handing them to sink in order. 0, SL_E(IO) (a
 * chunk does not authenticate or is missing) or sink's error.
 */
int lake__decrypt_range(int fd, const uint8_t dek[LAKE_DEK_LEN], int64_t size,
                        const char *part_sizes_json, int64_t off, int64_t len,
                        int (*sink)(void *arg, const uint8_t *data, size_t len), void *arg);
/* The same range decrypted into a sealed, read-only memfd (*out, at offset 0). */
int lake__decrypt_to_memfd(int fd, const uint8_t dek[LAKE_DEK_LEN], int64_t size,
                           const char *part_sizes_json, int64_t off, int64_t len, int *out);

/* ---- backend ---- */

/* A backend's blob being written: a temporary file in the local backend. */
struct lake_blob;

/* What lake.c computed about the bytes of a blob, handed to a commit. */
struct lake__blob_meta {
    int64_t size_bytes;
    char etag[LAKE_ETAG_MAX];
    enum lake_checksum_algo checksum_algo;
    char checksum[LAKE_CHECKSUM_MAX];
    const char *sse; /* the encryption record of the bytes, NULL: stored as they are */
};

/*
 * Every call of lake.h that touches storage goes through one of these. Results and
 * errors are those documented in lake.h. Blob functions: blob_open starts a blob,
 * blob_write appends, and exactly one of object_commit, part_commit or blob_discard
 * ends it (commits consume the blob whatever they return).
 */
struct lake_backend_ops {
    const char *name;
    void (*close)(void *be);
    const char *(*objects_dir)(void *be);

    int (*bucket_create)(void *be, const char *name, const char *region, struct err_info *err);
    int (*bucket_get)(void *be, const char *name, struct lake_bucket_info *info,
                      struct err_info *err);
    int (*bucket_list)(void *be, struct lake_bucket_info **out, size_t *n_out);
    int (*bucket_delete)(void *be, const char *name, struct err_info *err);
    int (*bucket_doc_put)(void *be, const char *name, enum lake_bucket_doc doc, const char *value,
                          struct err_info *err);
    int (*bucket_doc_get)(void *be, const char *name, enum lake_bucket_doc doc, char **value_out,
                          struct err_info *err);

    int (*blob_open)(void *be, struct lake_blob **out);
    int (*blob_write)(struct lake_blob *blob, const void *data, size_t len);
    /* Optional: makes the blob's bytes those of fd (len bytes) without copying. Returns
       0, or a negative code after which the blob is unchanged (the caller copies). */
    int (*blob_adopt)(struct lake_blob *blob, int fd, int64_t len);
    void (*blob_discard)(struct lake_blob *blob);

    int (*object_commit)(void *be, struct lake_blob *blob, const char *bucket, const char *key,
                         const struct lake__blob_meta *meta, const struct lake_put_opts *opts,
                         struct lake_object_info *info, struct err_info *err);
    int (*object_head)(void *be, const char *bucket, const char *key, struct lake_object_info *info,
                       int *fd_out, char **path_out, struct err_info *err);
    int (*object_delete)(void *be, const char *bucket, const char *key, struct err_info *err);
    int (*object_tags_put)(void *be, const char *bucket, const char *key, const char *tags_json,
                           struct err_info *err);
    int (*object_tags_get)(void *be, const char *bucket, const char *key, char **tags_out,
                           struct err_info *err);
    int (*object_list)(void *be, const char *bucket, const struct lake_list_opts *opts,
                       struct lake_list_result *out, struct err_info *err);

    int (*upload_create)(void *be, const char *bucket, const char *key,
                         const struct lake_put_opts *opts, struct lake_upload_info *info,
                         struct err_info *err);
    int (*upload_get)(void *be, const char *bucket, const char *key, const char *upload_id,
                      struct lake_upload_info *info, struct err_info *err);
    int (*part_commit)(void *be, struct lake_blob *blob, const char *bucket, const char *key,
                       const char *upload_id, int part_number, const struct lake__blob_meta *meta,
                       struct lake_part_info *part, struct err_info *err);
    int (*upload_complete)(void *be, const char *bucket, const char *key, const char *upload_id,
                           const struct lake_complete_part *parts, size_t n_parts,
                           const struct lake_put_opts *opts, struct lake_object_info *info,
                           struct err_info *err);
    int (*upload_abort)(void *be, const char *bucket, const char *key, const char *upload_id,
                        struct err_info *err);
    int (*upload_list)(void *be, const char *bucket, const char *prefix, const char *key_marker,
                       const char *upload_id_marker, size_t max_uploads,
                       struct lake_upload_list *out, struct err_info *err);
    int (*part_list)(void *be, const char *bucket, const char *key, const char *upload_id,
                     int part_marker, size_t max_parts, struct lake_part_info **out, size_t *n_out,
                     int *truncated, struct err_info *err);
    /* Object ACLs, each valid for the object write its stamp names. */
    int (*object_acl_put)(void *be, const char *bucket, const char *key, const char *stamp,
                          const char *acl, struct err_info *err);
    int (*object_acl_get)(void *be, const char *bucket, const char *key, const char *stamp,
                          char **acl_out, struct err_info *err);
    /* What a bucket stores (lake_bucket_usage); NULL when the backend cannot tell. */
    int (*bucket_usage)(void *be, const char *name, struct lake_bucket_usage *out);
};

/* The local directory backend: metadata in st, bytes under root. */
int lake__local_open(struct store *st, const char *root, int64_t abandon_after_ms, void **be_out);
extern const struct lake_backend_ops lake__local_ops;

/* The backend state of a lake (the local backend's, the only one so far). */
void *lake__backend(struct lake *lake);
/* The local backend's store and blob files, for lake_versions.c. blob_open, with the
   store locked: a read-only descriptor and/or the path of blob id (a small object has
   no path: *path_out NULL). */
struct store *lake__local_store(void *be);
int lake__local_blob_open(void *be, const char *id, int *fd_out, char **path_out);
void lake__local_blob_unlink(void *be, const char *id);

/* ---- versions (lake_versions.c), called by the local backend in its transactions ---- */

/* Migration 3 of the "lake" part: versioning and object lock columns, lake_versions. */
extern const char LAKE__VERSIONS_MIGRATION[];
/* Columns of lake_objects that row_to_info reads after its own 11 (see OBJ_COLS). */
#define LAKE__VERSION_INFO_COLS "version_id,lock_mode,lock_until_ms,legal_hold"
#define LAKE__VERSION_INFO_NCOLS 4
struct store_stmt;
void lake__version_cols_to_info(struct store_stmt *s, int col, struct lake_object_info *info);

/* What before_put decided for the row after_put completes. */
struct lake__version_put {
    enum lake_versioning state;
    char version_id[LAKE_VERSION_ID_MAX]; /* "" for the null version */
    int64_t vseq;                         /* order among the key's versions */
    char lock_mode[16];
    int64_t lock_until_ms;
    int legal_hold;
};
/*
 * Checks a write's conditions and lock settings against the current row, in the commit's
 * transaction. Returns 0, a refusal for this write alone (lake__version_refused) with
 * err set, or a storage error.
 */
int lake__version_check_put(struct store *st, const char *bucket, const char *key,
                            const struct lake_put_opts *opts, struct err_info *err);
/* 1 when rc is a refusal of check_put (the write fails alone, the batch goes on). */
int lake__version_refused(int rc);
/*
 * Before the row of a new object is written: in a versioned bucket the current row
 * becomes an older version, and a Suspended bucket's null version is dropped (its blob
 * id copied to freed_blob for the caller to unlink after commit).
 */
int lake__version_before_put(struct store *st, const char *bucket, const char *key,
                             const struct lake_put_opts *opts, struct lake__version_put *vp,
                             char *freed_blob);
/* After the row is written: stamps its version id, order and lock; fills v's. */
int lake__version_after_put(struct store *st, const char *bucket, const char *key,
                            const struct lake__version_put *vp, struct lake_object_info *v);

/*
 * A multipart upload's object lock settings (CreateMultipartUpload's headers): put
 * records them on the upload's row (SL_E(INVALID_REQUEST) when the bucket has no object
 * lock); get copies them into opts for the completion (mode_buf: 16 bytes it points into).
 */
int lake__version_upload_lock_put(struct lake *lake, const char *bucket, const char *upload_id,
                                  const struct lake_put_opts *opts, struct err_info *err);
int lake__version_upload_lock_get(struct lake *lake, const char *upload_id,
                                  struct lake_put_opts *opts, char *mode_buf);

/*
 * Small objects (lake_small.c): an object of at most LAKE_SMALL_MAX bytes keeps its stored
 * bytes (sealed, as a file of it would hold them) in the metadata store, committed with
 * its row in one transaction: one flush, shared by the writers of a group commit. 64 KiB,
 * one sealed chunk: the bytes are written twice (WAL, then the database at checkpoint),
 * which costs less than two extra device flushes up to about this size, and a writer
 * buffers at most this much; larger objects and every multipart part stay files.
 */
#define LAKE_SMALL_MAX ((int64_t)64 << 10)
/* Stored bytes of the largest small object (its one chunk sealed). */
#define LAKE__SMALL_STORED_MAX (LAKE_SMALL_MAX + LAKE__CHUNK_OVERHEAD)
/* Migration 5 of the "lake" part: the table of small objects' bytes and its triggers. */
extern const char LAKE__SMALL_MIGRATION[];
/* After the lake's migrations: a store that had passed migration 5 before it existed
   (migration 7 came first) gets it now. The record of applied migrations cannot tell:
   it was backfilled from the version such a store had, 7, counting 5 as applied.
   0 or a negative code. */
int lake__small_ensure(struct store *st);
/* With the store locked, in an open transaction: keeps the bytes of blob id. */
int lake__small_put(struct store *st, const char *id, const void *data, size_t len);
/* With the store locked or read-held: a read-only descriptor of a private copy of blob
   id's bytes (the bytes stay as they are if the object is replaced meanwhile). Returns 1
   when id is a small object, 0 when not, or a negative code. */
int lake__small_open(struct store *st, const char *id, int *fd_out);

/* Smallest part but the last, as S3 enforces. */
#define LAKE_PART_MIN_BYTES ((int64_t)5 << 20)

#endif
