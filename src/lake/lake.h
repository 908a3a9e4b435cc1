/*
 * The lake: an object store of buckets and objects, the part every other service reads
 * and writes in-process (Firehose lands objects, Athena reads tables and writes
 * results) and the S3 API (s3_api.h) serves over HTTP.
 *
 * The store sits behind a backend ops table (lake_int.h). The first backend keeps
 * object bytes in the data directory and their metadata in the shared SQLite store;
 * an S3-client backend for real object stores can come later behind the same calls.
 *
 * Guarantees of the local backend:
 *   - an object is visible whole or not at all: bytes go to a temporary file, are
 *     fsynced and renamed into place before the metadata row naming them commits; an
 *     object of at most 64 KiB instead keeps its bytes (sealed, as its file would) in
 *     the metadata store, committed with its row (one flush, shared by concurrent
 *     writers);
 *   - object files are named by random ids, never by keys, so no key (`..`, `//`, a
 *     leading `/`, any byte) can name a file outside the lake's storage;
 *   - lake_open removes temporary files, files no metadata row names (a crash between
 *     rename and commit) and multipart uploads abandoned for a week; a running lake
 *     sweeps abandoned uploads again at most hourly, as new uploads start;
 *   - storage errors: SL_E(UNAVAILABLE) (S3's 503 ServiceUnavailable, retried by SDKs)
 *     when the disk is full, SL_E(IO) (500 InternalError) for any other failure; a
 *     failed write leaves no file and no row behind. After a failure that puts the
 *     directories of stored objects in doubt (a failed directory fsync) every write
 *     answers SL_E(IO) until the lake is reopened (see blob_seal in lake_local.c).
 *
 * Threading: every call may be made from any thread; metadata is serialised by the
 * store's lock, object bytes are written without it.
 *
 * Errors are negative codes (core/err.h); where an err_info is taken, the message a
 * client should see is written there. Strings returned inside result structs are owned
 * by the struct and freed by its _fini function.
 */
#ifndef SLUICE_LAKE_LAKE_H
#define SLUICE_LAKE_LAKE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/store.h"

#define LAKE_KEY_MAX_BYTES 1024    /* S3's key limit */
#define LAKE_BUCKET_NAME_MAX 63    /* S3's bucket name limit */
#define LAKE_ETAG_MAX 48           /* 32 hex digits + "-10000" + NUL, no quotes */
#define LAKE_CHECKSUM_MAX 96       /* base64 of the longest checksum (SHA-256) + NUL */
#define LAKE_UPLOAD_ID_MAX 64      /* upload ids are 32 hex digits */
#define LAKE_PART_NUMBER_MAX 10000 /* S3's part number limit */
#define LAKE_VERSION_ID_MAX 40     /* version ids are 32 characters */

struct lake;
struct lake_writer;

/* ---- lifecycle ---- */

/*
 * Opens the lake: applies the "lake" migrations to st, creates cfg->data_dir/lake and
 * its directories, removes temporary and unreferenced files and abandoned uploads.
 * st and cfg must outlive the lake. Returns 0, SL_E(IO) or -errno.
 */
int lake_open(struct store *st, const struct sluice_config *cfg, struct lake **out);
/* Closes the lake; NULL is allowed. No call may be running. */
void lake_close(struct lake *lake);

/* ---- checksums (S3's x-amz-checksum-* algorithms) ---- */

enum lake_checksum_algo {
    LAKE_CHECKSUM_NONE = 0,
    LAKE_CHECKSUM_CRC32,
    LAKE_CHECKSUM_CRC32C,
    LAKE_CHECKSUM_CRC64NVME,
    LAKE_CHECKSUM_SHA1,
    LAKE_CHECKSUM_SHA256,
};
/* "CRC32", ...; "" for NONE. */
const char *lake_checksum_name(enum lake_checksum_algo algo);
/* The algorithm named (case-insensitive) by name, LAKE_CHECKSUM_NONE when none. */
enum lake_checksum_algo lake_checksum_from_name(const char *name);

/*
 * How a multipart object's checksum covers it: COMPOSITE, the checksum of the parts'
 * checksums (shown "<base64>-N"), or FULL_OBJECT, the checksum of the whole object's
 * bytes (CRCs only: S3 combines the parts' CRCs). A single-part object's is FULL_OBJECT.
 */
enum lake_checksum_type { LAKE_CHECKSUM_COMPOSITE = 0, LAKE_CHECKSUM_FULL_OBJECT = 1 };
/* "COMPOSITE" or "FULL_OBJECT". */
const char *lake_checksum_type_name(enum lake_checksum_type type);
/* The type named by name (exactly, as S3 reads it); -1 when none. */
int lake_checksum_type_from_name(const char *name);
/* S3's type for an upload of algo that names none: FULL_OBJECT for CRC64NVME only. */
enum lake_checksum_type lake_checksum_type_default(enum lake_checksum_algo algo);
/* 1 when S3 lets an upload of algo have type: SHA-1 and SHA-256 only COMPOSITE,
   CRC64NVME only FULL_OBJECT, CRC32 and CRC32C either. */
int lake_checksum_type_allowed(enum lake_checksum_algo algo, enum lake_checksum_type type);
/* The type of a stored object checksum: COMPOSITE when it ends in "-N". */
enum lake_checksum_type lake_checksum_type_of(const char *checksum);

/* ---- buckets ---- */

struct lake_bucket_info {
    char name[LAKE_BUCKET_NAME_MAX + 1];
    char region[32];    /* the region given at creation */
    int64_t created_ms; /* creation time, ms since the epoch */
};

/* 1 when name follows S3's bucket naming rules, else 0. */
int lake_bucket_name_valid(const char *name);
/*
 * Creates a bucket. Returns 0, SL_E(INVALID_BUCKET_NAME), SL_E(BUCKET_ALREADY_OWNED)
 * (there is one account: every existing bucket is the caller's), SL_E(IO).
 */
int lake_bucket_create(struct lake *lake, const char *name, const char *region,
                       struct err_info *err);
/* Fills *info (may be NULL). Returns 0 or SL_E(NO_SUCH_BUCKET). */
int lake_bucket_get(struct lake *lake, const char *name, struct lake_bucket_info *info,
                    struct err_info *err);
/* Every bucket in name order; *out is freed by the caller with free(). */
int lake_bucket_list(struct lake *lake, struct lake_bucket_info **out, size_t *n_out);
/* What a bucket stores, for S3's storage metrics: every object version, delete marker
   and part of an upload not completed, and their bytes. Returns 0 or a store error. */
struct lake_bucket_usage {
    int64_t objects;
    int64_t bytes;
};
int lake_bucket_usage(struct lake *lake, const char *name, struct lake_bucket_usage *out);
/*
 * Deletes an empty bucket (its unfinished multipart uploads are aborted). Returns 0,
 * SL_E(NO_SUCH_BUCKET), SL_E(BUCKET_NOT_EMPTY).
 */
int lake_bucket_delete(struct lake *lake, const char *name, struct err_info *err);

/* Bucket documents kept as text: the policy JSON, the tag set (JSON object), the
   S3 adapter's CORS rules, ownership setting, public access block and ACL (its JSON),
   and the default encryption (JSON, s3_sse.c). */
enum lake_bucket_doc {
    LAKE_BUCKET_POLICY,
    LAKE_BUCKET_TAGS,
    LAKE_BUCKET_CORS,
    LAKE_BUCKET_OWNERSHIP,
    LAKE_BUCKET_PUBLIC_ACCESS_BLOCK,
    LAKE_BUCKET_ACL,
    LAKE_BUCKET_ENCRYPTION,
    LAKE_BUCKET_LIFECYCLE, /* the lifecycle rules (JSON, lake_lifecycle.h) */
    LAKE_BUCKET_METRICS,   /* request metrics configurations (JSON, s3_metrics_config.c) */
};
/* Sets (value) or removes (NULL) a document. Returns 0 or SL_E(NO_SUCH_BUCKET). */
int lake_bucket_doc_put(struct lake *lake, const char *name, enum lake_bucket_doc doc,
                        const char *value, struct err_info *err);
/* *value_out is a copy the caller frees, NULL when unset. 0 or SL_E(NO_SUCH_BUCKET). */
int lake_bucket_doc_get(struct lake *lake, const char *name, enum lake_bucket_doc doc,
                        char **value_out, struct err_info *err);
/* Moves whenever a bucket document is set or a bucket deleted: what caches of the
   documents compare (a store write count would move at every object write). */
uint64_t lake_bucket_docs_generation(struct lake *lake);

/*
 * An object's ACL (the S3 adapter's JSON), kept for the object write stamp names (its
 * ETag and time): a later write of the key has another stamp and so no ACL. get sets
 * *acl_out to a copy the caller frees, NULL when none. 0 or an error.
 */
int lake_object_acl_put(struct lake *lake, const char *bucket, const char *key,
                        const char *stamp, const char *acl, struct err_info *err);
int lake_object_acl_get(struct lake *lake, const char *bucket, const char *key,
                        const char *stamp, char **acl_out, struct err_info *err);

/* ---- objects ---- */

struct lake_object_info {
    char *key;                             /* owned */
    int64_t size_bytes;                    /* object length */
    char etag[LAKE_ETAG_MAX];              /* MD5 hex, or MD5-of-MD5s "-N"; without quotes */
    int64_t last_modified_ms;              /* ms since the epoch */
    char *content_type;                    /* owned; NULL when not given */
    char *meta_json;                       /* owned; JSON object of other stored headers
                                              (Content-Encoding, x-amz-meta-*, ...) or NULL */
    enum lake_checksum_algo checksum_algo; /* NONE when no checksum is kept */
    char checksum[LAKE_CHECKSUM_MAX];      /* base64; for multipart "<b64>-N" */
    int parts_count;                       /* 0 for a single-part object */
    int n_tags;                            /* number of object tags */
    char *part_sizes_json; /* owned; multipart objects, from head/open only: JSON array of
                              the parts' sizes in order, else NULL */
    /* owned; from head/open only: a multipart object's part checksums (JSON array of base64,
       in order) when it has a checksum, else NULL */
    char *part_checksums_json;
    /* Versioning and object lock (lake_versions.c). */
    char version_id[LAKE_VERSION_ID_MAX]; /* "" for the null version */
    int versioned;         /* the bucket's versioning is (or was) on: version ids are shown */
    int delete_marker;     /* a delete marker (version listings and lookups by version) */
    int is_latest;         /* the key's current version (version listings) */
    char lock_mode[16];    /* "", "GOVERNANCE" or "COMPLIANCE" */
    int64_t lock_until_ms; /* retain-until date, 0 when none */
    int legal_hold;        /* 0 never set, 1 ON, 2 OFF */
    char *sse;             /* owned; from head/open only: how the bytes are encrypted at rest (an
                              encryption record, see lake_sse_describe), NULL: stored unencrypted */
};
void lake_object_info_fini(struct lake_object_info *info);

/* What a new object carries besides its bytes. Strings are copied. */
struct lake_put_opts {
    const char *content_type; /* NULL: none stored */
    const char *meta_json;    /* NULL or a JSON object of headers to keep */
    const char *tags_json;    /* NULL or a JSON object of tags */
    /* Expected values, checked before the object becomes visible. */
    const uint8_t *content_md5;            /* 16 bytes or NULL -> SL_E(BAD_DIGEST) */
    enum lake_checksum_algo checksum_algo; /* algorithm to compute and keep */
    const char *checksum_expected;         /* base64 or NULL -> SL_E(BAD_DIGEST) */
    /* Conditional writes, checked when the object would become visible:
       SL_E(PRECONDITION_FAILED), or SL_E(NO_SUCH_KEY) for if_match on a missing key. */
    int if_none_match;    /* If-None-Match: * : only when no current object */
    const char *if_match; /* ETag (quotes optional) the current object must have */
    /* Object lock of the new version; refused (SL_E(INVALID_REQUEST)) when the bucket
       has no object lock. Without them the bucket's default retention applies. */
    const char *lock_mode; /* "GOVERNANCE", "COMPLIANCE" or NULL */
    int64_t lock_until_ms; /* with lock_mode */
    int legal_hold;        /* 0 none, 1 ON, 2 OFF */
    const char *sse; /* uploads: the encryption record of the upload's parts (lake_sse_new) */
    /* Uploads: the checksum type (with checksum_algo) and the ACL kept for completion.
       Completion: checksum_expected is the whole object's checksum the client sent
       (FULL_OBJECT: the CRC of all the bytes; COMPOSITE: "<base64>[-N]"). */
    enum lake_checksum_type checksum_type;
    const char *acl;
};

/*
 * A writer streams the bytes of one new object or part into a temporary file,
 * computing MD5 and the chosen checksum on the way; a commit makes it visible
 * atomically, lake_writer_destroy discards it. The writer is used by one thread.
 */
int lake_writer_open(struct lake *lake, enum lake_checksum_algo checksum_algo,
                     struct lake_writer **out);
/* Appends bytes. Returns 0, SL_E(UNAVAILABLE) (disk full) or SL_E(IO) (sticky for this
   writer: later calls fail too, the writer can only be destroyed). */
int lake_writer_write(struct lake_writer *w, const void *data, size_t len);
/* Appends len bytes of fd from offset. Returns 0, SL_E(UNAVAILABLE), SL_E(IO) or -errno. */
int lake_writer_write_fd(struct lake_writer *w, int fd, int64_t offset, int64_t len);
/*
 * Takes the len bytes of fd (a file the caller keeps owning, such as a spooled request
 * body, never written again) as the writer's whole content. Where the backend can (an
 * unnamed O_TMPFILE file on the lake's filesystem) and the writer stores the bytes as
 * they are, the file is linked into place instead of copied; an encrypting writer (every
 * writer since encryption at rest) always copies, sealing; either way each block
 * is read once for the digests and handed to observe (may be NULL; its error stops the
 * call). Only on a fresh writer. Returns 0, observe's error, SL_E(IO) or -errno.
 */
int lake_writer_adopt_fd(struct lake_writer *w, int fd, int64_t len,
                         int (*observe)(void *arg, const uint8_t *data, size_t len), void *arg);
/* Bytes written so far. */
int64_t lake_writer_size(const struct lake_writer *w);
/*
 * The checksum of the bytes written so far in base64 (ends the checksum: call once,
 * after the last write). Returns "" when the writer has no checksum algorithm.
 */
const char *lake_writer_checksum(struct lake_writer *w);
/*
 * Makes the bytes the object bucket/key (replacing any), fills *info (may be NULL).
 * Returns 0, SL_E(NO_SUCH_BUCKET), SL_E(BAD_DIGEST) (Content-MD5 or checksum differ),
 * SL_E(UNAVAILABLE) (disk full), SL_E(IO). The writer stays owned by the caller, who
 * destroys it in every case.
 */
int lake_writer_commit(struct lake_writer *w, const char *bucket, const char *key,
                       const struct lake_put_opts *opts, struct lake_object_info *info,
                       struct err_info *err);
void lake_writer_destroy(struct lake_writer *w);

/* One-shot put of bytes in memory; same results as lake_writer_commit. Encrypted as
   opts->sse says (an SSE-KMS record), else as the bucket's default (lake_default_sse). */
int lake_object_put(struct lake *lake, const char *bucket, const char *key, const void *data,
                    size_t len, const struct lake_put_opts *opts, struct lake_object_info *info,
                    struct err_info *err);
/* Metadata of an object. Returns 0, SL_E(NO_SUCH_BUCKET), SL_E(NO_SUCH_KEY). */
int lake_object_head(struct lake *lake, const char *bucket, const char *key,
                     struct lake_object_info *info, struct err_info *err);
/*
 * Opens an object for reading: *fd_out is a read-only descriptor of its bytes, which
 * stays valid (the bytes unchanged) even if the object is replaced or deleted; the
 * caller closes it. Same results as lake_object_head.
 */
int lake_object_open(struct lake *lake, const char *bucket, const char *key,
                     struct lake_object_info *info, int *fd_out, struct err_info *err);
/* Reads a whole object into *out (appended). Same results, plus SL_E(NOMEM). */
int lake_object_read(struct lake *lake, const char *bucket, const char *key, struct buf *out,
                     struct lake_object_info *info, struct err_info *err);
/*
 * The file holding an object's bytes, for readers that need a path (DuckDB). The file
 * never changes but is removed once the object is replaced or deleted. Caller frees.
 * SL_E(INVALID_REQUEST) for an object stored encrypted or without a file of its own
 * (a small object): such readers take a view (lake_object_view).
 */
int lake_object_path(struct lake *lake, const char *bucket, const char *key, char **path_out,
                     struct err_info *err);
/* The directory under which every object file lives (for DuckDB's allowed_directories). */
const char *lake_objects_dir(const struct lake *lake);
/*
 * Deletes an object (in a versioned bucket: adds a delete marker, as lake_version_delete
 * without a version id); deleting a missing key succeeds, as in S3. Returns 0 or
 * SL_E(NO_SUCH_BUCKET).
 */
int lake_object_delete(struct lake *lake, const char *bucket, const char *key,
                       struct err_info *err);
/* Replaces (tags_json) or removes (NULL) an object's tag set (a JSON object). */
int lake_object_tags_put(struct lake *lake, const char *bucket, const char *key,
                         const char *tags_json, struct err_info *err);
/* *tags_out: the JSON object of tags ("{}" when none); caller frees. */
int lake_object_tags_get(struct lake *lake, const char *bucket, const char *key, char **tags_out,
                         struct err_info *err);

/* ---- listing ---- */

struct lake_list_opts {
    const char *prefix;    /* NULL or "": every key */
    const char *delimiter; /* NULL or "": no grouping */
    const char *after;     /* NULL: from the start; else keys (and prefixes) after it */
    size_t max_keys;       /* objects + common prefixes returned at most (0 allowed) */
};
struct lake_list_result {
    struct lake_object_info *objects; /* in key order */
    size_t n_objects;
    char **prefixes; /* common prefixes, in order */
    size_t n_prefixes;
    int truncated; /* more keys follow */
    char *last;    /* the last key or prefix returned, NULL if none */
};
/*
 * Lists a bucket in UTF-8 byte order, grouping keys that contain the delimiter after
 * the prefix into common prefixes. Returns 0, SL_E(NO_SUCH_BUCKET), SL_E(IO).
 */
int lake_object_list(struct lake *lake, const char *bucket, const struct lake_list_opts *opts,
                     struct lake_list_result *out, struct err_info *err);
void lake_list_result_fini(struct lake_list_result *res);

/* ---- encryption at rest ---- */

/*
 * Every object is stored encrypted (AES-256-GCM in 64 KiB chunks under a data key of
 * its own): SSE-S3 by default, the data key wrapped by the lake's master key; SSE-C
 * with a 32-byte key the client sends on every request, which is never stored.
 */
#define LAKE_SSE_KEY_LEN 32
enum lake_sse_algo { LAKE_SSE_NONE = 0, LAKE_SSE_S3, LAKE_SSE_C, LAKE_SSE_KMS };
struct lake_sse_desc {
    enum lake_sse_algo algo;   /* NONE for objects stored before encryption */
    char customer_key_md5[32]; /* SSE-C: base64 MD5 of the key */
    char kms_key_arn[160];     /* SSE-KMS: the key's ARN */
    int bucket_key;            /* SSE-KMS: a bucket key was asked for */
    int dsse;                  /* SSE-KMS: dual-layer asked for (aws:kms:dsse) */
};
struct kms;
/* Lets SSE-KMS use kms (keys of region and account); without it SSE-KMS answers
   NotImplemented. Before the lake serves requests; kms must outlive the lake. */
void lake_set_kms(struct lake *lake, struct kms *kms, const char *region, const char *account);
/* A new SSE-KMS record (caller frees) under key_id (NULL: alias/aws/s3, created on first
   use) with the encryption context context_json (a JSON object of strings); for
   lake_writer_encrypt and uploads. NULL with S3's error in err: KMS.NotFoundException,
   KMS.DisabledException, KMS.KMSInvalidStateException, InvalidArgument. */
char *lake_sse_new_kms(struct lake *lake, const char *key_id, const char *context_json,
                       int bucket_key, struct err_info *err);
/* Whether who may do action ("kms:GenerateDataKey", "kms:Decrypt") with the KMS key of an
   SSE-KMS record (its encryption context as KMS's), as S3 asks KMS for them
   (kms_authorize). 0 for other records, NULL, root or who NULL; else
   SL_E(S3_ACCESS_DENIED) with IAM's "User: ... is not authorized to perform: ..." in err. */
struct api_request;
int lake_kms_authorize(struct lake *lake, const struct api_request *who, const char *action,
                       const char *record, struct err_info *err);
/* The record a write into bucket/key gets from the bucket's default encryption when the
   request chose none: a new SSE-KMS record (caller frees) when the default is aws:kms or
   aws:kms:dsse, else NULL (SSE-S3). 0, or lake_sse_new_kms's errors. */
int lake_default_sse(struct lake *lake, const char *bucket, const char *key, char **record,
                     struct err_info *err);
/* What an encryption record (lake_object_info.sse) says. 0 or SL_E(CORRUPT). */
int lake_sse_describe(const char *record, struct lake_sse_desc *out);
/* A new record for a multipart upload (lake_put_opts.sse); customer_key NULL for SSE-S3.
   The caller frees it. */
char *lake_sse_new(struct lake *lake, const uint8_t *customer_key);
/*
 * Encrypts what the writer is given with the customer's key (SSE-C) instead of under a
 * new SSE-S3 key; or, with record (an upload's), as one of that upload's parts (then
 * customer_key is the upload's SSE-C key or NULL). Before the first write. Returns 0 or
 * S3's error when the key does not fit the record (lake__sse_dek).
 */
int lake_writer_encrypt(struct lake_writer *w, const char *record, const uint8_t *customer_key,
                        struct err_info *err);

/* An object opened for reading its plaintext. */
struct lake_reader;
/*
 * Opens an object (its bytes stay as opened, whatever happens to the key). customer_key:
 * the SSE-C key, required exactly for SSE-C objects. Same results as lake_object_head,
 * plus lake_writer_encrypt's key errors.
 */
int lake_reader_open(struct lake *lake, const char *bucket, const char *key,
                     const uint8_t *customer_key, struct lake_object_info *info,
                     struct lake_reader **out, struct err_info *err);
/* The same for a version of the key (version_id NULL: the current one), as
   lake_version_open finds it: a delete marker answers its error with info filled. */
int lake_reader_open_version(struct lake *lake, const char *bucket, const char *key,
                             const char *version_id, const uint8_t *customer_key,
                             struct lake_object_info *info, struct lake_reader **out,
                             struct err_info *err);
/* A descriptor whose bytes [*fd_off, +len) are the object's [off, +len); the caller
   closes it. The object's own file for unencrypted objects, else a memfd of the range
   decrypted. Returns 0, SL_E(IO), SL_E(NOMEM). */
int lake_reader_fd(struct lake_reader *r, int64_t off, int64_t len, int *fd_out, int64_t *fd_off);
/* Hands the plaintext of [off, +len) to sink in order. 0, SL_E(IO) or sink's error. */
int lake_reader_range(struct lake_reader *r, int64_t off, int64_t len,
                      int (*sink)(void *arg, const uint8_t *data, size_t len), void *arg);
void lake_reader_close(struct lake_reader *r);

/*
 * A file path of an object's plaintext, for readers that need one (DuckDB), valid until
 * lake_view_release: the object's own file when stored unencrypted in one, else
 * /proc/self/fd/N of a sealed memfd holding it decrypted (no plaintext on disk).
 */
struct lake_view;
int lake_object_view(struct lake *lake, const char *bucket, const char *key, struct lake_view **out,
                     const char **path_out, struct err_info *err);
void lake_view_release(struct lake_view *v);

/* ---- multipart uploads ---- */

struct lake_upload_info {
    char upload_id[LAKE_UPLOAD_ID_MAX];
    char *key; /* owned */
    int64_t initiated_ms;
    char *content_type; /* owned; as given at creation */
    char *meta_json;    /* owned */
    enum lake_checksum_algo checksum_algo;
    enum lake_checksum_type checksum_type; /* how the completed object's checksum is made */
    char *sse; /* owned; the encryption record of the parts, NULL for none */
    char *acl; /* owned; the ACL (S3 adapter's JSON) the object gets when completed, or NULL */
};
void lake_upload_info_fini(struct lake_upload_info *info);

struct lake_part_info {
    int part_number;
    int64_t size_bytes;
    char etag[LAKE_ETAG_MAX];
    int64_t last_modified_ms;
    char checksum[LAKE_CHECKSUM_MAX]; /* base64, "" when none */
};

/* Starts an upload; fills info->upload_id. Returns 0 or SL_E(NO_SUCH_BUCKET). */
int lake_upload_create(struct lake *lake, const char *bucket, const char *key,
                       const struct lake_put_opts *opts, struct lake_upload_info *info,
                       struct err_info *err);
/* Looks an upload up. Returns 0, SL_E(NO_SUCH_BUCKET) or SL_E(NO_SUCH_UPLOAD). */
int lake_upload_get(struct lake *lake, const char *bucket, const char *key, const char *upload_id,
                    struct lake_upload_info *info, struct err_info *err);
/*
 * Makes the writer's bytes part part_number of the upload (replacing any). opts may
 * carry content_md5/checksum_expected. Returns 0, SL_E(NO_SUCH_UPLOAD), SL_E(BAD_DIGEST),
 * SL_E(UNAVAILABLE), SL_E(IO). The caller destroys the writer.
 */
int lake_writer_commit_part(struct lake_writer *w, const char *bucket, const char *key,
                            const char *upload_id, int part_number,
                            const struct lake_put_opts *opts, struct lake_part_info *part,
                            struct err_info *err);

struct lake_complete_part {
    int part_number;
    const char *etag; /* with or without quotes */
};
/*
 * Completes an upload from the listed parts (ascending, each existing with that ETag,
 * all but the last at least 5 MiB): the object's bytes are the parts concatenated,
 * its ETag the MD5 of the parts' MD5s with "-N". Returns 0, SL_E(NO_SUCH_UPLOAD),
 * SL_E(INVALID_PART), SL_E(INVALID_PART_ORDER), SL_E(ENTITY_TOO_SMALL), SL_E(UNAVAILABLE),
 * SL_E(IO), SL_E(NOMEM). Racing UploadPart or AbortMultipartUpload of the same upload, it
 * answers as if the calls had run in some order: SL_E(NO_SUCH_UPLOAD) when the upload
 * ended meanwhile, SL_E(INVALID_PART) when a listed part was replaced by other bytes.
 * On failure the upload and its parts are unchanged.
 */
int lake_upload_complete(struct lake *lake, const char *bucket, const char *key,
                         const char *upload_id, const struct lake_complete_part *parts,
                         size_t n_parts, struct lake_object_info *info, struct err_info *err);
/* The same with opts: NULL, or the if_none_match / if_match conditions of the completion. */
int lake_upload_complete_opts(struct lake *lake, const char *bucket, const char *key,
                              const char *upload_id, const struct lake_complete_part *parts,
                              size_t n_parts, const struct lake_put_opts *opts,
                              struct lake_object_info *info, struct err_info *err);
/* Discards an upload and its parts. Returns 0 or SL_E(NO_SUCH_UPLOAD). */
int lake_upload_abort(struct lake *lake, const char *bucket, const char *key, const char *upload_id,
                      struct err_info *err);

struct lake_upload_list {
    struct lake_upload_info *uploads; /* in key, then initiation order */
    size_t n_uploads;
    int truncated;
};
/* Unfinished uploads with keys starting with prefix, after (key_marker, id_marker). */
int lake_upload_list(struct lake *lake, const char *bucket, const char *prefix,
                     const char *key_marker, const char *upload_id_marker, size_t max_uploads,
                     struct lake_upload_list *out, struct err_info *err);
void lake_upload_list_fini(struct lake_upload_list *list);

/* Parts of an upload numbered above part_marker, at most max_parts; *out freed by free(). */
int lake_part_list(struct lake *lake, const char *bucket, const char *key, const char *upload_id,
                   int part_marker, size_t max_parts, struct lake_part_info **out, size_t *n_out,
                   int *truncated, struct err_info *err);

/* ---- versioning and object lock (lake_versions.c) ---- */

enum lake_versioning {
    LAKE_VERSIONING_OFF = 0, /* never enabled: writes replace, as without versioning */
    LAKE_VERSIONING_ENABLED,
    LAKE_VERSIONING_SUSPENDED,
};
/* A bucket's versioning state and MFA delete as recorded (-1 never set, 0, 1). */
int lake_versioning_get(struct lake *lake, const char *bucket, enum lake_versioning *state,
                        int *mfa_delete, struct err_info *err);
/*
 * Sets Enabled or Suspended (OFF: leaves the state) and records MFA delete (0 Disabled,
 * -1 unchanged). Returns 0, SL_E(NO_SUCH_BUCKET), SL_E(INVALID_BUCKET_STATE)
 * (suspending a bucket with object lock).
 */
int lake_versioning_put(struct lake *lake, const char *bucket, enum lake_versioning state,
                        int mfa_delete, struct err_info *err);

/* A bucket's object lock configuration. */
struct lake_lock_config {
    int enabled;   /* ObjectLockEnabled */
    char mode[16]; /* default retention mode, "" when no default rule */
    int days;      /* default period: days or years, the other 0 */
    int years;
};
int lake_lock_config_get(struct lake *lake, const char *bucket, struct lake_lock_config *cfg,
                         struct err_info *err);
/*
 * Enables object lock (cfg->enabled) with an optional default rule. Versioning must be
 * Enabled (SL_E(INVALID_BUCKET_STATE)) unless force_versioning (CreateBucket with lock),
 * which enables it.
 */
int lake_lock_config_put(struct lake *lake, const char *bucket, const struct lake_lock_config *cfg,
                         int force_versioning, struct err_info *err);

/* The tag set (JSON object, "{}" when none) of a version (NULL: current); caller frees. */
int lake_version_tags_get(struct lake *lake, const char *bucket, const char *key,
                          const char *version_id, char **tags_out, struct err_info *err);
/* Replaces (tags_json) or removes (NULL) the tag set of a version (NULL: current). */
int lake_version_tags_put(struct lake *lake, const char *bucket, const char *key,
                          const char *version_id, const char *tags_json, struct err_info *err);
/* 1 when s is a version id Sluice could have made, or "null". */
int lake_version_id_valid(const char *s);
/*
 * Looks up a version of a key (version_id NULL: the current one; "null": the null
 * version), opening its bytes when fd_out is not NULL. A delete marker fills info
 * (delete_marker = 1) and answers SL_E(NO_SUCH_KEY) when current, SL_E(METHOD_NOT_ALLOWED)
 * when asked for by version id. Also SL_E(NO_SUCH_BUCKET), SL_E(NO_SUCH_VERSION),
 * SL_E(INVALID_ARGUMENT_S3) (malformed version id). info is filled whenever found.
 */
int lake_version_open(struct lake *lake, const char *bucket, const char *key,
                      const char *version_id, struct lake_object_info *info, int *fd_out,
                      struct err_info *err);

struct lake_delete_result {
    int delete_marker;                    /* a marker was created or removed */
    char version_id[LAKE_VERSION_ID_MAX]; /* the marker's or removed version's id */
    int versioned;                        /* the bucket is versioned: ids are shown */
};
/*
 * DeleteObject as S3 does it: without version_id, a versioned bucket gets a delete
 * marker (Suspended: the null one, replacing the null version); with one, that version
 * is removed for good and its bytes freed, unless object lock keeps it
 * (SL_E(S3_ACCESS_DENIED)); bypass_governance lifts GOVERNANCE retention.
 */
int lake_version_delete(struct lake *lake, const char *bucket, const char *key,
                        const char *version_id, int bypass_governance,
                        struct lake_delete_result *res, struct err_info *err);
/*
 * Conditions of a delete (S3's If-Match, x-amz-if-match-last-modified-time and
 * x-amz-if-match-size) on the key's current version, checked inside the delete itself
 * so that no write can land between check and delete. Not given: NULL, LAKE_COND_NONE.
 */
#define LAKE_COND_NONE INT64_MIN
struct lake_delete_cond {
    const char *if_match; /* "*" or an ETag, quotes optional */
    int64_t if_mtime_s;   /* the Last-Modified second the version must have */
    int64_t if_size;      /* its size */
};
/* lake_version_delete with cond (may be NULL); also SL_E(PRECONDITION_FAILED), and
   SL_E(NO_SUCH_KEY) when if_match names a key with no current object. */
int lake_version_delete_if(struct lake *lake, const char *bucket, const char *key,
                           const char *version_id, int bypass_governance,
                           const struct lake_delete_cond *cond, struct lake_delete_result *res,
                           struct err_info *err);

struct lake_version_list_opts {
    const char *prefix;
    const char *delimiter;
    const char *key_marker;        /* NULL: from the start */
    const char *version_id_marker; /* with key_marker: versions after it */
    size_t max_keys;
};
struct lake_version_list {
    struct lake_object_info *versions; /* by key, newest first; markers included */
    size_t n_versions;
    char **prefixes;
    size_t n_prefixes;
    int truncated;
    char *next_key_marker;        /* when truncated */
    char *next_version_id_marker; /* when truncated and the page ended inside a key */
};
int lake_version_list(struct lake *lake, const char *bucket,
                      const struct lake_version_list_opts *opts, struct lake_version_list *out,
                      struct err_info *err);
void lake_version_list_fini(struct lake_version_list *list);

/*
 * Sets a version's retention (mode NULL: removes it) or legal hold. COMPLIANCE cannot be
 * shortened or removed, GOVERNANCE only with bypass_governance: SL_E(S3_ACCESS_DENIED).
 * SL_E(INVALID_REQUEST) when the bucket has no object lock.
 */
int lake_retention_put(struct lake *lake, const char *bucket, const char *key,
                       const char *version_id, const char *mode, int64_t until_ms,
                       int bypass_governance, struct err_info *err);
int lake_legal_hold_put(struct lake *lake, const char *bucket, const char *key,
                        const char *version_id, int on, struct err_info *err);

#endif
