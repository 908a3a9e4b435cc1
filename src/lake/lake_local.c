/*
 * The local directory backend of the lake.
 *
 * Layout under <data>/lake:
 *   tmp/<id>            a blob being written (removed at open: never part of an object)
 *   objects/<xx>/<id>   a sealed blob: an object's or a part's bytes; <id> is 32 random
 *                       hex digits and <xx> its first two, so no key ever names a file
 *
 * A small object (LAKE_SMALL_MAX) has no file: its sealed bytes are a lake_small row
 * committed with its object row (lake_small.c).
 *
 * Metadata lives in the shared SQLite store (tables below, part "lake"). A blob is
 * sealed (fsync, rename into objects/, fsync of the directory) before the row naming it
 * commits, and a replaced or deleted blob is unlinked only after the row stops naming
 * it, so a crash leaves at worst a blob no row names; lake open removes those (the
 * objects/ walk below), the tmp/ files, and uploads abandoned past a cut-off.
 *
 * An open descriptor of a blob stays valid after unlink, so a GET that opened its
 * object keeps reading the same bytes while the key is replaced or deleted.
 *
 * Durability failures that put shared state in doubt (an objects/ directory's fsync) are
 * sticky: the backend refuses every further write until the process restarts and
 * recovers at open; a failure confined to one new blob's file fails that request only
 * (blob_seal says which is which). Every file operation goes through core/file.h, the
 * seam where tests inject disk faults.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/base64.h"
#include "core/clock.h"
#include "core/crypto.h"
#include "core/file.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/text.h"
#include "lake/lake_int.h"

#define BLOB_ID_LEN 32

static const struct store_migration migrations[] = {
    {1, "CREATE TABLE lake_buckets("
        " name TEXT PRIMARY KEY, region TEXT NOT NULL, created_ms INTEGER NOT NULL,"
        " policy TEXT, tags TEXT);"
        "CREATE TABLE lake_objects("
        " bucket TEXT NOT NULL, key TEXT NOT NULL, blob TEXT NOT NULL, size INTEGER NOT NULL,"
        " etag TEXT NOT NULL, last_modified_ms INTEGER NOT NULL, content_type TEXT, meta TEXT,"
        " checksum_algo INTEGER NOT NULL DEFAULT 0, checksum TEXT NOT NULL DEFAULT '',"
        " parts_count INTEGER NOT NULL DEFAULT 0, tags TEXT, n_tags INTEGER NOT NULL DEFAULT 0,"
        " PRIMARY KEY(bucket, key)) WITHOUT ROWID;"
        "CREATE INDEX lake_objects_blob ON lake_objects(blob);"
        "CREATE TABLE lake_uploads("
        " upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL,"
        " initiated_ms INTEGER NOT NULL, content_type TEXT, meta TEXT, tags TEXT,"
        " checksum_algo INTEGER NOT NULL DEFAULT 0);"
        "CREATE INDEX lake_uploads_key ON lake_uploads(bucket, key, upload_id);"
        "CREATE TABLE lake_parts("
        " upload_id TEXT NOT NULL, part_number INTEGER NOT NULL, blob TEXT NOT NULL,"
        " size INTEGER NOT NULL, etag TEXT NOT NULL, checksum TEXT NOT NULL DEFAULT '',"
        " last_modified_ms INTEGER NOT NULL, PRIMARY KEY(upload_id, part_number)) WITHOUT ROWID;"
        "CREATE INDEX lake_parts_blob ON lake_parts(blob);"},
    /* The sizes of a multipart object's parts, for GetObject/HeadObject ?partNumber=. */
    {2, "ALTER TABLE lake_objects ADD COLUMN part_sizes TEXT;"},
    /* Versioning and object lock: lake_versions.c (LAKE__VERSIONS_MIGRATION). */
    {3, LAKE__VERSIONS_MIGRATION},
    /* Encryption at rest: the record of an object's (an upload's parts', a kept
       version's) data key; NULL for bytes stored before encryption, read as they lie
       (lake_crypt.c). */
    {4, "ALTER TABLE lake_objects ADD COLUMN sse TEXT;"
        "ALTER TABLE lake_versions ADD COLUMN sse TEXT;"
        "ALTER TABLE lake_uploads ADD COLUMN sse TEXT;"
        "ALTER TABLE lake_buckets ADD COLUMN encryption TEXT;"},
    /* Small objects' bytes, committed with their rows (lake_small.c). */
    {5, LAKE__SMALL_MIGRATION},
    /* Access control and CORS: bucket documents, and object ACLs keyed by the object
       write they were set on (its stamp), so an overwrite starts private again. */
    {7, "ALTER TABLE lake_buckets ADD COLUMN cors TEXT;"
        "ALTER TABLE lake_buckets ADD COLUMN ownership TEXT;"
        "ALTER TABLE lake_buckets ADD COLUMN public_access_block TEXT;"
        "ALTER TABLE lake_buckets ADD COLUMN acl TEXT;"
        "CREATE TABLE lake_object_acls("
        " bucket TEXT NOT NULL, key TEXT NOT NULL, stamp TEXT NOT NULL, acl TEXT NOT NULL,"
        " PRIMARY KEY(bucket, key)) WITHOUT ROWID;"},
    /* Lifecycle rules (lake_lifecycle.h). */
    {8, "ALTER TABLE lake_buckets ADD COLUMN lifecycle TEXT;"},
    /* An upload's checksum type (0 COMPOSITE, 1 FULL_OBJECT) and the ACL its object gets;
       a multipart object's part checksums (GetObjectAttributes' ObjectParts). */
    {9, "ALTER TABLE lake_uploads ADD COLUMN checksum_type INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE lake_uploads ADD COLUMN acl TEXT;"
        "ALTER TABLE lake_objects ADD COLUMN part_checksums TEXT;"
        "ALTER TABLE lake_versions ADD COLUMN part_checksums TEXT;"},
    /* Request metrics configurations (s3_metrics_config.c). */
    {10, "ALTER TABLE lake_buckets ADD COLUMN metrics TEXT;"},
};

struct local {
    struct store *st; /* metadata; its lock guards every statement */
    char root[600];   /* <data>/lake */
    char objects_dir[640];
    char tmp_dir[640];
    int dir_fds[256];  /* objects/<xx> directories, for renameat and fsync */
    atomic_int failed; /* a durability failure happened: refuse writes */
    /* Group commit of new objects (see commit_grouped): guarded by gc_lock. */
    pthread_mutex_t gc_lock;
    pthread_cond_t gc_cond;
    struct pending_put *gc_head; /* waiting to be committed, oldest first */
    struct pending_put *gc_tail;
    int gc_queued;                 /* rows waiting in gc_head */
    int gc_leader;                 /* a thread is committing a batch now */
    int gc_expect;                 /* writers seen around the last batch (see gather) */
    int64_t gc_wait_ns;            /* how long a leader may gather: the last commit's time */
    int gc_gathering;              /* a leader waits on gc_arrive for more rows */
    pthread_cond_t gc_arrive;      /* signalled when a row is queued while gathering */
    int64_t abandon_after_ms;      /* uploads idle this long are discarded */
    _Atomic int64_t last_sweep_ms; /* when abandoned uploads were last swept */
};

/* How often a running server sweeps abandoned multipart uploads. */
#define SWEEP_INTERVAL_MS ((int64_t)3600 * 1000)

/* One new object waiting for group commit; lives on its writer's stack. */
struct pending_put {
    const char *bucket;
    const char *key;
    const char *blob;                 /* the sealed blob's id */
    struct lake_object_info *v;       /* the row to write; gets its version id */
    const struct lake_put_opts *opts; /* conditions and lock settings, or NULL */
    const void *small;                /* a small object's bytes, NULL for a sealed file */
    size_t small_len;
    const char *tags;
    struct err_info *err;      /* the writer's */
    int rc;                    /* result, valid once done */
    char old[BLOB_ID_LEN + 1]; /* blob the key named before, "" when none */
    int done;
    struct pending_put *next;
};

/* Writeback of a blob being written is started every this many bytes, so the final
   fsync has little left to do. */
#define WRITEBACK_KICK_BYTES ((int64_t)8 << 20)

/*
 * A blob starts in memory: up to LAKE__SMALL_STORED_MAX bytes stay there and, committed
 * as an object, go into the metadata store (lake_small.c). Past that, or sealed as a part,
 * it becomes a temporary file.
 */
struct lake_blob {
    struct local *lo;
    int fd;                   /* the temporary file, write-only; -1 while in memory */
    uint8_t *mem;             /* the bytes while fd is -1 (LAKE__SMALL_STORED_MAX room) */
    char id[BLOB_ID_LEN + 1]; /* the blob's name once sealed */
    int64_t written;          /* bytes written */
    int64_t kicked;           /* bytes whose writeback has been started */
};

/* ---- blobs ---- */

static int dir_idx(const char *id)
{
    return hex_digit(id[0]) * 16 + hex_digit(id[1]);
}

static void blob_path(const struct local *lo, const char *id, char *out, size_t size)
{
    snprintf(out, size, "%s/%.2s/%s", lo->objects_dir, id, id);
}

static void new_id(char out[BLOB_ID_LEN + 1])
{
    uint8_t raw[BLOB_ID_LEN / 2];
    crypto_random(raw, sizeof(raw));
    hex_encode(raw, sizeof(raw), out);
}

/*
 * The code a failed system call of blob I/O answers with. A full disk (or quota) is
 * SL_E(UNAVAILABLE), S3's 503 ServiceUnavailable: nothing is wrong with the request and
 * the same request may succeed once space is freed, which SDKs retry with backoff.
 * Anything else is SL_E(IO), S3's 500 InternalError.
 */
static int io_code(int e)
{
    return e == ENOSPC || e == EDQUOT ? SL_E(UNAVAILABLE) : SL_E(IO);
}

/* The message a client sees for io_code's codes. */
static int io_fail(struct err_info *err, int rc)
{
    if (rc == SL_E(UNAVAILABLE)) {
        return err_set(err, rc,
                       "The server has no room to store the data. Please try again later.");
    }
    return err_set(err, rc, "We encountered an internal error. Please try again.");
}

static int blob_open(void *be, struct lake_blob **out)
{
    struct local *lo = be;
    if (atomic_load(&lo->failed)) {
        return SL_E(IO);
    }
    struct lake_blob *b = xcalloc(1, sizeof(*b));
    b->lo = lo;
    b->fd = -1;
    new_id(b->id);
    *out = b;
    return 0;
}

static int blob_write_file(struct lake_blob *b, const void *data, size_t len);

/* Moves an in-memory blob to its temporary file. Returns 0 or io_code's codes. */
static int blob_to_file(struct lake_blob *b)
{
    char path[800];
    snprintf(path, sizeof(path), "%s/%s", b->lo->tmp_dir, b->id);
    int fd = file_open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        log_msg(LOG_ERROR, "lake", "cannot create %s: %s", path, strerror(e));
        return io_code(e);
    }
    b->fd = fd;
    int64_t n = b->written;
    b->written = 0;
    int rc = n > 0 ? blob_write_file(b, b->mem, (size_t)n) : 0;
    free(b->mem);
    b->mem = NULL;
    return rc;
}

/*
 * Appends to the blob's temporary file. A failed or short write leaves the blob to be
 * discarded by its writer (lake.c marks the writer failed); it is not sticky for the
 * backend: the file was never acknowledged and no other object's bytes are in it.
 * Returns 0, SL_E(UNAVAILABLE) (disk full) or SL_E(IO).
 */
static int blob_write_file(struct lake_blob *b, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = file_pwrite(b->fd, p, len, (off_t)b->written);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            int e = n < 0 ? errno : ENOSPC;
            log_msg(LOG_ERROR, "lake", "write of blob %s failed: %s", b->id, strerror(e));
            return io_code(e);
        }
        p += n;
        len -= (size_t)n;
        b->written += n;
    }
    if (b->written - b->kicked >= WRITEBACK_KICK_BYTES) {
        /* Start writing back what we have; only advice, failures surface at the fsync. */
        sync_file_range(b->fd, b->kicked, b->written - b->kicked, SYNC_FILE_RANGE_WRITE);
        b->kicked = b->written;
    }
    return 0;
}

static int blob_write(struct lake_blob *b, const void *data, size_t len)
{
    if (b->fd < 0 && b->written + (int64_t)len <= LAKE__SMALL_STORED_MAX) {
        if (b->mem == NULL) {
            b->mem = xmalloc((size_t)LAKE__SMALL_STORED_MAX);
        }
        memcpy(b->mem + b->written, data, len);
        b->written += (int64_t)len;
        return 0;
    }
    if (b->fd < 0) {
        int rc = blob_to_file(b);
        if (rc < 0) {
            return rc;
        }
    }
    return blob_write_file(b, data, len);
}

/*
 * Replaces the blob's (empty) temporary file with a link to fd's file, when fd is a
 * file of len bytes on the lake's filesystem that can be linked (an O_TMPFILE spool).
 */
static int blob_adopt(struct lake_blob *b, int fd, int64_t len)
{
    struct stat sb;
    /* Only an unnamed file: nobody else can reach its inode to change the object. */
    if (b->written != 0 || len <= LAKE__SMALL_STORED_MAX || fstat(fd, &sb) < 0 ||
        !S_ISREG(sb.st_mode) || sb.st_nlink != 0 || sb.st_size != len) {
        return SL_E(IO);
    }
    char src[64];
    char tmp[800];
    snprintf(src, sizeof(src), "/proc/self/fd/%d", fd);
    snprintf(tmp, sizeof(tmp), "%s/%s", b->lo->tmp_dir, b->id);
    char linked[800];
    snprintf(linked, sizeof(linked), "%s/%s.link", b->lo->tmp_dir, b->id);
    if (file_linkat(AT_FDCWD, src, AT_FDCWD, linked, AT_SYMLINK_FOLLOW) < 0) {
        return -errno; /* another filesystem, a named file, no /proc: the caller copies */
    }
    int nfd = file_open(linked, O_WRONLY | O_CLOEXEC, 0);
    if (nfd < 0 || file_renameat(AT_FDCWD, linked, AT_FDCWD, tmp) < 0) {
        int e = errno;
        if (nfd >= 0) {
            close(nfd);
        }
        file_unlinkat(AT_FDCWD, linked, 0);
        return -e;
    }
    if (b->fd >= 0) {
        close(b->fd);
    }
    b->fd = nfd;
    b->written = len;
    b->kicked = len;
    sync_file_range(nfd, 0, len, SYNC_FILE_RANGE_WRITE);
    return 0;
}

static void blob_discard(struct lake_blob *b)
{
    if (b == NULL) {
        return;
    }
    if (b->fd >= 0) {
        char path[800];
        snprintf(path, sizeof(path), "%s/%s", b->lo->tmp_dir, b->id);
        close(b->fd);
        if (file_unlinkat(AT_FDCWD, path, 0) < 0 && errno != ENOENT) {
            /* Left for clean_tmp at the next open; never part of an object. */
            log_msg(LOG_WARN, "lake", "cannot remove %s: %s", path, strerror(errno));
        }
    }
    free(b->mem);
    free(b);
}

/*
 * Seals a blob: fsync, rename into objects/, fsync the directory, so both its bytes and
 * its name are durable before the caller commits a row naming it. Copies the id into
 * id_out and frees the blob in every case; on failure no file of the blob remains
 * (the temporary file or the renamed one is removed). Returns 0, SL_E(UNAVAILABLE)
 * (disk full) or SL_E(IO).
 *
 * What is sticky (style rule 11). The backend refuses every further write until it is
 * reopened (recovery at open) after a failure that leaves shared state in doubt:
 *   - a failed fsync of an objects/<xx> directory (whatever the error), or a rename
 *     into it failing other than for want of space. The directory holds the names of
 *     many acknowledged objects; after a failed fsync the kernel may have dropped the
 *     dirty directory block and reports the error once, so a later fsync could return
 *     success for names that never reached the disk. Only a restart (clean_orphans reconciling
 *     files and rows) gives a state Sluice can vouch for again.
 * Not sticky, the blob alone is discarded and the request fails:
 *   - a failed write or fsync of the blob's own temporary file. A writeback error
 *     belongs to that file (the kernel records it per file); nothing acknowledged is
 *     in it and the file is removed, never fsynced again and never reported durable. A
 *     later object is a new file whose own fsync must succeed before it is
 *     acknowledged, so one bad file does not put any other object in doubt;
 *   - ENOSPC/EDQUOT from the blob's own file or from the rename: the disk is full, not
 *     failing; writes work again once space is freed, which must not need a restart.
 */
static int blob_seal(struct lake_blob *b, char id_out[BLOB_ID_LEN + 1])
{
    struct local *lo = b->lo;
    memcpy(id_out, b->id, BLOB_ID_LEN + 1);
    char tmp[800];
    snprintf(tmp, sizeof(tmp), "%s/%s", lo->tmp_dir, b->id);
    int dfd = lo->dir_fds[dir_idx(b->id)];
    int rc = b->fd < 0 ? blob_to_file(b) : 0;
    if (rc < 0) {
        blob_discard(b);
        return rc;
    }
    if (file_fsync(b->fd) < 0) {
        int e = errno;
        log_msg(LOG_ERROR, "lake", "fsync of %s failed: %s", tmp, strerror(e));
        blob_discard(b);
        return io_code(e);
    }
    close(b->fd);
    if (file_renameat(AT_FDCWD, tmp, dfd, b->id) < 0) {
        int e = errno;
        log_msg(LOG_ERROR, "lake", "rename of %s failed: %s", tmp, strerror(e));
        rc = io_code(e);
        if (rc == SL_E(IO)) {
            atomic_store(&lo->failed, 1);
        }
        file_unlinkat(AT_FDCWD, tmp, 0);
    } else if (file_dir_sync(dfd) < 0) {
        log_msg(LOG_ERROR, "lake", "fsync of objects/%.2s failed: %s; writes refused", b->id,
                strerror(errno));
        rc = SL_E(IO);
        atomic_store(&lo->failed, 1);
        file_unlinkat(dfd, b->id, 0);
    }
    free(b);
    return rc;
}

static void blob_unlink(struct local *lo, const char *id)
{
    if (id == NULL || strlen(id) != BLOB_ID_LEN || dir_idx(id) < 0) {
        return;
    }
    if (file_unlinkat(lo->dir_fds[dir_idx(id)], id, 0) < 0 && errno != ENOENT) {
        /* Left for clean_orphans at the next open: no row names it. */
        log_msg(LOG_WARN, "lake", "cannot remove blob %s: %s", id, strerror(errno));
    }
}

/*
 * Opens blob id for reading, with the store locked (a delete unlinks the file or drops the
 * bytes only after it commits, so what a row names is there): a small object gives a
 * descriptor of its bytes and no path (*path_out NULL); a file its descriptor and/or
 * path. Returns 0 or a negative code.
 */
static int blob_open_locked(struct local *lo, const char *id, int *fd_out, char **path_out)
{
    if (path_out != NULL) {
        *path_out = NULL;
    }
    int fd = -1;
    int rc = lake__small_open(lo->st, id, &fd);
    if (rc == 1) {
        if (fd_out != NULL) {
            *fd_out = fd;
        } else {
            close(fd);
        }
        return 0;
    }
    if (rc < 0) {
        return rc;
    }
    char path[800];
    blob_path(lo, id, path, sizeof(path));
    if (fd_out != NULL) {
        *fd_out = file_open(path, O_RDONLY | O_CLOEXEC, 0);
        if (*fd_out < 0) {
            return SL_CORRUPT(path, 0, "object file missing");
        }
    }
    if (path_out != NULL) {
        *path_out = xstrdup(path);
    }
    return 0;
}

/* ---- helpers over the store (called with the store locked) ---- */

static int prepare(struct local *lo, const char *sql, struct store_stmt **out)
{
    return store_prepare(lo->st, sql, out);
}

static int bucket_exists(struct local *lo, const char *bucket, struct err_info *err)
{
    struct store_stmt *s;
    int rc = prepare(lo, "SELECT 1 FROM lake_buckets WHERE name=?", &s);
    if (rc < 0) {
        return err_set(err, rc, "We encountered an internal error. Please try again.");
    }
    store_bind_text(s, 1, bucket);
    rc = store_step(s);
    store_finalize(s);
    if (rc == 0) {
        return err_set(err, SL_E(NO_SUCH_BUCKET), "The specified bucket does not exist");
    }
    return rc < 0 ? err_set(err, rc, "We encountered an internal error. Please try again.") : 0;
}

static char *dup_col(struct store_stmt *s, int col)
{
    const char *t = store_col_text(s, col);
    return t ? xstrdup(t) : NULL;
}

#define OBJ_COLS                                                                                   \
    "key,size,etag,last_modified_ms,content_type,meta,checksum_algo,checksum,parts_count,"         \
    "n_tags,blob," LAKE__VERSION_INFO_COLS

static void row_to_info(struct store_stmt *s, struct lake_object_info *info)
{
    memset(info, 0, sizeof(*info));
    info->key = dup_col(s, 0);
    info->size_bytes = store_col_int64(s, 1);
    snprintf(info->etag, sizeof(info->etag), "%s", store_col_text(s, 2));
    info->last_modified_ms = store_col_int64(s, 3);
    info->content_type = dup_col(s, 4);
    info->meta_json = dup_col(s, 5);
    info->checksum_algo = (enum lake_checksum_algo)store_col_int64(s, 6);
    snprintf(info->checksum, sizeof(info->checksum), "%s", store_col_text(s, 7));
    info->parts_count = (int)store_col_int64(s, 8);
    info->n_tags = (int)store_col_int64(s, 9);
    lake__version_cols_to_info(s, 11, info);
}

static int count_tags(const char *tags_json)
{
    if (tags_json == NULL) {
        return 0;
    }
    json_t *t = json_loads(tags_json, 0, NULL);
    int n = json_is_object(t) ? (int)json_object_size(t) : 0;
    json_decref(t);
    return n;
}

/*
 * Writes the object row (insert or replace) inside an open transaction; the blob that
 * the write frees, if any (the key's replaced object, or a Suspended bucket's replaced
 * null version), is copied to old_blob ("" when none).
 */
static int upsert_object(struct local *lo, const char *bucket, const char *key, const char *blob,
                         struct lake_object_info *v, const char *tags,
                         const struct lake_put_opts *opts, char old_blob[BLOB_ID_LEN + 1])
{
    old_blob[0] = '\0';
    /* A versioned bucket keeps the current row as an older version (lake_versions.c). */
    struct lake__version_put vp;
    int rc = lake__version_before_put(lo->st, bucket, key, opts, &vp, old_blob);
    if (rc < 0) {
        return rc;
    }
    struct store_stmt *s;
    rc = prepare(lo, "SELECT blob FROM lake_objects WHERE bucket=? AND key=?", &s);
    if (rc < 0) {
        return rc;
    }
    store_bind_text(s, 1, bucket);
    store_bind_text(s, 2, key);
    rc = store_step(s);
    if (rc == 1) {
        snprintf(old_blob, BLOB_ID_LEN + 1, "%s", store_col_text(s, 0));
    }
    store_finalize(s);
    if (rc < 0) {
        return rc;
    }
    rc = prepare(lo,
                 "INSERT INTO lake_objects(bucket,key,blob,size,etag,last_modified_ms,"
                 "content_type,meta,checksum_algo,checksum,parts_count,tags,n_tags,part_sizes,sse,"
                 "part_checksums) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                 " ON CONFLICT(bucket,key) DO UPDATE SET"
                 " blob=excluded.blob,size=excluded.size,etag=excluded.etag,"
                 "last_modified_ms=excluded.last_modified_ms,content_type=excluded.content_type,"
                 "meta=excluded.meta,checksum_algo=excluded.checksum_algo,"
                 "checksum=excluded.checksum,parts_count=excluded.parts_count,"
                 "tags=excluded.tags,n_tags=excluded.n_tags,part_sizes=excluded.part_sizes,"
                 "sse=excluded.sse,part_checksums=excluded.part_checksums",
                 &s);
    if (rc < 0) {
        return rc;
    }
    store_bind_text(s, 1, bucket);
    store_bind_text(s, 2, key);
    store_bind_text(s, 3, blob);
    store_bind_int64(s, 4, v->size_bytes);
    store_bind_text(s, 5, v->etag);
    store_bind_int64(s, 6, v->last_modified_ms);
    store_bind_text(s, 7, v->content_type);
    store_bind_text(s, 8, v->meta_json);
    store_bind_int64(s, 9, v->checksum_algo);
    store_bind_text(s, 10, v->checksum);
    store_bind_int64(s, 11, v->parts_count);
    store_bind_text(s, 12, tags);
    store_bind_int64(s, 13, count_tags(tags));
    store_bind_text(s, 14, v->part_sizes_json);
    store_bind_text(s, 15, v->sse);
    store_bind_text(s, 16, v->part_checksums_json);
    rc = store_step(s);
    store_finalize(s);
    if (rc < 0) {
        return rc;
    }
    return lake__version_after_put(lo->st, bucket, key, &vp, v);
}

static int internal(struct err_info *err, int rc)
{
    if (rc == SL_E(NOMEM)) {
        return err_set(err, rc, "Out of memory.");
    }
    if (rc == SL_E(UNAVAILABLE)) {
        return io_fail(err, rc);
    }
    return err_set(err, rc < 0 && err_is_sluice(rc) ? rc : SL_E(IO),
                   "We encountered an internal error. Please try again.");
}

/* ---- buckets ---- */

static int bucket_create(void *be, const char *name, const char *region, struct err_info *err)
{
    struct local *lo = be;
    store_lock(lo->st);
    struct store_stmt *s;
    int rc = prepare(lo,
                     "INSERT INTO lake_buckets(name,region,created_ms) VALUES(?,?,?)"
                     " ON CONFLICT(name) DO NOTHING",
                     &s);
    if (rc == 0) {
        store_bind_text(s, 1, name);
        store_bind_text(s, 2, region);
        store_bind_int64(s, 3, clock_now_ms());
        rc = store_step(s);
        store_finalize(s);
        if (rc == 0 && store_changes(lo->st) == 0) {
            rc = err_set(err, SL_E(BUCKET_ALREADY_OWNED),
                         "Your previous request to create the named bucket succeeded and you "
                         "already own it.");
        }
    }
    store_unlock(lo->st);
    if (rc < 0 && err->code == 0) {
        return internal(err, rc);
    }
    return rc;
}

static int bucket_get(void *be, const char *name, struct lake_bucket_info *info,
                      struct err_info *err)
{
    struct local *lo = be;
    store_read_begin(lo->st);
    struct store_stmt *s;
    int rc = prepare(lo, "SELECT name,region,created_ms FROM lake_buckets WHERE name=?", &s);
    if (rc == 0) {
        store_bind_text(s, 1, name);
        rc = store_step(s);
        if (rc == 1 && info != NULL) {
            snprintf(info->name, sizeof(info->name), "%s", store_col_text(s, 0));
            snprintf(info->region, sizeof(info->region), "%s", store_col_text(s, 1));
            info->created_ms = store_col_int64(s, 2);
        }
        store_finalize(s);
    }
    store_read_end(lo->st);
    if (rc == 0) {
        return err_set(err, SL_E(NO_SUCH_BUCKET), "The specified bucket does not exist");
    }
    return rc < 0 ? internal(err, rc) : 0;
}

static int bucket_list(void *be, struct lake_bucket_info **out, size_t *n_out)
{
    struct local *lo = be;
    *out = NULL;
    *n_out = 0;
    size_t cap = 0;
    store_read_begin(lo->st);
    struct store_stmt *s;
    int rc = prepare(lo, "SELECT name,region,created_ms FROM lake_buckets ORDER BY name", &s);
    while (rc == 0 && (rc = store_step(s)) == 1) {
        if (*n_out == cap) {
            cap = cap ? cap * 2 : 16;
            *out = xrealloc(*out, cap * sizeof(**out));
        }
        struct lake_bucket_info *b = &(*out)[(*n_out)++];
        snprintf(b->name, sizeof(b->name), "%s", store_col_text(s, 0));
        snprintf(b->region, sizeof(b->region), "%s", store_col_text(s, 1));
        b->created_ms = store_col_int64(s, 2);
        rc = 0;
    }
    if (rc >= 0) {
        store_finalize(s);
    }
    store_read_end(lo->st);
    return rc < 0 ? rc : 0;
}

/* Objects: current rows, older versions and delete markers, and the parts of uploads
   not completed; bytes: the same but markers (S3's storage metrics count them so). */
static int bucket_usage(void *be, const char *name, struct lake_bucket_usage *out)
{
    struct local *lo = be;
    memset(out, 0, sizeof(*out));
    store_read_begin(lo->st);
    struct store_stmt *s = store_prepare_args(
        lo->st,
        "SELECT (SELECT COUNT(*) FROM lake_objects WHERE bucket=?1),"
        " (SELECT COALESCE(SUM(size),0) FROM lake_objects WHERE bucket=?1),"
        " (SELECT COUNT(*) FROM lake_versions WHERE bucket=?1),"
        " (SELECT COALESCE(SUM(size),0) FROM lake_versions WHERE bucket=?1 AND marker=0),"
        " (SELECT COUNT(*) FROM lake_parts p JOIN lake_uploads u USING(upload_id)"
        "  WHERE u.bucket=?1),"
        " (SELECT COALESCE(SUM(p.size),0) FROM lake_parts p JOIN lake_uploads u"
        "  USING(upload_id) WHERE u.bucket=?1)",
        "s", name);
    int rc = s == NULL ? SL_E(IO) : store_step(s);
    if (rc == 1) {
        out->objects = store_col_int64(s, 0) + store_col_int64(s, 2) + store_col_int64(s, 4);
        out->bytes = store_col_int64(s, 1) + store_col_int64(s, 3) + store_col_int64(s, 5);
        rc = 0;
    }
    if (s != NULL) {
        store_finalize(s);
    }
    store_read_end(lo->st);
    return rc < 0 ? rc : 0;
}

/* Blob ids of every part of the selected uploads, appended to a JSON array. */
static int collect_blobs(struct local *lo, const char *sql, const char *arg1, json_t *blobs)
{
    struct store_stmt *s;
    int rc = prepare(lo, sql, &s);
    if (rc < 0) {
        return rc;
    }
    store_bind_text(s, 1, arg1);
    while ((rc = store_step(s)) == 1) {
        json_array_append_new(blobs, json_string(store_col_text(s, 0)));
    }
    store_finalize(s);
    return rc;
}

static void unlink_all(struct local *lo, json_t *blobs)
{
    size_t i;
    json_t *v;
    json_array_foreach(blobs, i, v)
    {
        blob_unlink(lo, json_string_value(v));
    }
}

static int exec_bound(struct local *lo, const char *sql, const char *arg1)
{
    struct store_stmt *s;
    int rc = prepare(lo, sql, &s);
    if (rc < 0) {
        return rc;
    }
    store_bind_text(s, 1, arg1);
    rc = store_step(s);
    store_finalize(s);
    return rc < 0 ? rc : 0;
}

static int bucket_delete(void *be, const char *name, struct err_info *err)
{
    struct local *lo = be;
    json_t *blobs = json_array();
    store_lock(lo->st);
    int rc = store_begin(lo->st);
    if (rc < 0) {
        goto out_unlock;
    }
    rc = bucket_exists(lo, name, err);
    if (rc < 0) {
        goto out_rollback;
    }
    struct store_stmt *s;
    rc = prepare(lo,
                 "SELECT 1 FROM lake_objects WHERE bucket=?1"
                 " UNION ALL SELECT 1 FROM lake_versions WHERE bucket=?1 LIMIT 1",
                 &s);
    if (rc < 0) {
        goto out_rollback;
    }
    store_bind_text(s, 1, name);
    rc = store_step(s);
    store_finalize(s);
    if (rc == 1) {
        rc = err_set(err, SL_E(BUCKET_NOT_EMPTY), "The bucket you tried to delete is not empty");
        goto out_rollback;
    }
    rc = collect_blobs(lo,
                       "SELECT p.blob FROM lake_parts p JOIN lake_uploads u"
                       " ON p.upload_id=u.upload_id WHERE u.bucket=?",
                       name, blobs);
    if (rc == 0) {
        rc = exec_bound(lo,
                        "DELETE FROM lake_parts WHERE upload_id IN"
                        " (SELECT upload_id FROM lake_uploads WHERE bucket=?)",
                        name);
    }
    if (rc == 0) {
        rc = exec_bound(lo, "DELETE FROM lake_uploads WHERE bucket=?", name);
    }
    if (rc == 0) {
        rc = exec_bound(lo, "DELETE FROM lake_buckets WHERE name=?", name);
    }
    if (rc == 0) {
        rc = store_commit(lo->st);
    }
    if (rc == 0) {
        goto out_unlock;
    }
out_rollback:
    store_rollback(lo->st);
    json_array_clear(blobs);
out_unlock:
    store_unlock(lo->st);
    unlink_all(lo, blobs);
    json_decref(blobs);
    if (rc < 0 && err->code == 0) {
        return internal(err, rc);
    }
    return rc;
}

static const char *doc_column(enum lake_bucket_doc doc)
{
    switch (doc) {
    case LAKE_BUCKET_POLICY: return "policy";
    case LAKE_BUCKET_TAGS: return "tags";
    case LAKE_BUCKET_CORS: return "cors";
    case LAKE_BUCKET_OWNERSHIP: return "ownership";
    case LAKE_BUCKET_PUBLIC_ACCESS_BLOCK: return "public_access_block";
    case LAKE_BUCKET_ACL: return "acl";
    case LAKE_BUCKET_ENCRYPTION: return "encryption";
    case LAKE_BUCKET_LIFECYCLE: return "lifecycle";
    case LAKE_BUCKET_METRICS: return "metrics";
    }
    return "tags";
}

static int bucket_doc_put(void *be, const char *name, enum lake_bucket_doc doc, const char *value,
                          struct err_info *err)
{
    struct local *lo = be;
    char sql[128];
    snprintf(sql, sizeof(sql), "UPDATE lake_buckets SET %s=? WHERE name=?", doc_column(doc));
    store_lock(lo->st);
    struct store_stmt *s;
    int rc = prepare(lo, sql, &s);
    if (rc == 0) {
        store_bind_text(s, 1, value);
        store_bind_text(s, 2, name);
        rc = store_step(s);
        store_finalize(s);
        if (rc == 0 && store_changes(lo->st) == 0) {
            rc = err_set(err, SL_E(NO_SUCH_BUCKET), "The specified bucket does not exist");
        }
    }
    store_unlock(lo->st);
    if (rc < 0 && err->code == 0) {
        return internal(err, rc);
    }
    return rc;
}

static int bucket_doc_get(void *be, const char *name, enum lake_bucket_doc doc, char **value_out,
                          struct err_info *err)
{
    struct local *lo = be;
    *value_out = NULL;
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT %s FROM lake_buckets WHERE name=?", doc_column(doc));
    store_read_begin(lo->st);
    struct store_stmt *s;
    int rc = prepare(lo, sql, &s);
    if (rc == 0) {
        store_bind_text(s, 1, name);
        rc = store_step(s);
        if (rc == 1) {
            *value_out = dup_col(s, 0);
        }
        store_finalize(s);
    }
    store_read_end(lo->st);
    if (rc == 0) {
        return err_set(err, SL_E(NO_SUCH_BUCKET), "The specified bucket does not exist");
    }
    return rc < 0 ? internal(err, rc) : 0;
}

/* ---- objects ---- */

/*
 * Commits one batch of rows in one transaction. A row whose bucket is missing fails
 * alone; a storage error fails the whole batch.
 */
static void commit_batch(struct local *lo, struct pending_put *batch)
{
    store_lock(lo->st);
    int rc = store_begin(lo->st);
    for (struct pending_put *p = batch; p != NULL && rc == 0; p = p->next) {
        p->rc = bucket_exists(lo, p->bucket, p->err);
        if (p->rc == 0) {
            p->rc = lake__version_check_put(lo->st, p->bucket, p->key, p->opts, p->err);
        }
        if (p->rc == SL_E(NO_SUCH_BUCKET) || lake__version_refused(p->rc)) {
            continue;
        }
        rc = p->rc;
        if (rc == 0 && p->small != NULL) {
            rc = lake__small_put(lo->st, p->blob, p->small, p->small_len);
        }
        if (rc == 0) {
            rc = upsert_object(lo, p->bucket, p->key, p->blob, p->v, p->tags, p->opts, p->old);
            p->rc = rc;
        }
    }
    if (rc == 0) {
        rc = store_commit(lo->st);
    }
    if (rc < 0) {
        store_rollback(lo->st);
        for (struct pending_put *p = batch; p != NULL; p = p->next) {
            p->rc = rc;
            p->old[0] = '\0';
        }
    }
    store_unlock(lo->st);
}

/* Longest a leader gathers rows, whatever the last commit took. */
#define GATHER_MAX_NS ((int64_t)2000000)

/*
 * Called by a new leader (gc_lock held): waits, at most gc_wait_ns, until as many rows
 * are queued as writers were busy around the last batch. Without it, writers settle into
 * two groups that take turns, each batch holding half of them: the writers of the last
 * batch are still between answer and next request when the next batch starts. Waiting
 * up to one commit's time for them lets one flush cover all of them: a writer that
 * misses the batch waits for the whole next commit anyway (half a commit, tried before,
 * left a loaded machine's stragglers out: 5 rows a flush of 8 writers, against 6.5 now).
 * A lone writer never waits: it expects only itself.
 */
static void gather(struct local *lo)
{
    if (lo->gc_queued >= lo->gc_expect || lo->gc_wait_ns <= 0) {
        return;
    }
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    int64_t ns = until.tv_nsec + lo->gc_wait_ns;
    until.tv_sec += ns / 1000000000;
    until.tv_nsec = ns % 1000000000;
    lo->gc_gathering = 1;
    while (lo->gc_queued < lo->gc_expect) {
        if (pthread_cond_timedwait(&lo->gc_arrive, &lo->gc_lock, &until) != 0) {
            break; /* timed out: commit what came */
        }
    }
    lo->gc_gathering = 0;
}

/*
 * Group commit: concurrent writers queue their rows; whichever finds no batch in flight
 * becomes the leader, gathers (above), takes every queued row, commits them together
 * (one transaction, one WAL fsync, one hold of the shared store's lock) and wakes the
 * others. A single writer pays the same as committing alone. Returns the row's result.
 */
static int commit_grouped(struct local *lo, struct pending_put *p)
{
    pthread_mutex_lock(&lo->gc_lock);
    if (lo->gc_tail != NULL) {
        lo->gc_tail->next = p;
    } else {
        lo->gc_head = p;
    }
    lo->gc_tail = p;
    lo->gc_queued++;
    if (lo->gc_gathering) {
        pthread_cond_signal(&lo->gc_arrive);
    }
    while (!p->done) {
        if (lo->gc_leader) {
            pthread_cond_wait(&lo->gc_cond, &lo->gc_lock);
            continue;
        }
        lo->gc_leader = 1;
        gather(lo);
        struct pending_put *batch = lo->gc_head;
        int n = lo->gc_queued;
        lo->gc_head = NULL;
        lo->gc_tail = NULL;
        lo->gc_queued = 0;
        pthread_mutex_unlock(&lo->gc_lock);
        int64_t t0 = clock_mono_ns();
        commit_batch(lo, batch);
        int64_t took = clock_mono_ns() - t0;
        pthread_mutex_lock(&lo->gc_lock);
        for (struct pending_put *q = batch; q != NULL;) {
            struct pending_put *next = q->next;
            q->done = 1; /* q may be gone once its owner wakes: read next first */
            q = next;
        }
        /* This batch's writers come back, and those queued meanwhile are waiting. */
        lo->gc_expect = n + lo->gc_queued;
        lo->gc_wait_ns = took < GATHER_MAX_NS ? took : GATHER_MAX_NS;
        lo->gc_leader = 0;
        pthread_cond_broadcast(&lo->gc_cond);
    }
    pthread_mutex_unlock(&lo->gc_lock);
    return p->rc;
}

static int object_commit(void *be, struct lake_blob *blob, const char *bucket, const char *key,
                         const struct lake__blob_meta *meta, const struct lake_put_opts *opts,
                         struct lake_object_info *info, struct err_info *err)
{
    struct local *lo = be;
    char id[BLOB_ID_LEN + 1];
    char old[BLOB_ID_LEN + 1] = "";
    /* A small object's bytes are committed with its row: no file, no flush of its own. */
    static const uint8_t no_bytes[1];
    const uint8_t *small = NULL;
    uint8_t *mem = NULL;
    size_t small_len = 0;
    int rc = 0;
    if (blob->fd >= 0) {
        rc = blob_seal(blob, id);
    } else if (atomic_load(&lo->failed)) {
        blob_discard(blob);
        rc = SL_E(IO);
    } else {
        memcpy(id, blob->id, sizeof(id));
        mem = blob->mem;
        small = mem != NULL ? mem : no_bytes;
        small_len = (size_t)blob->written;
        blob->mem = NULL;
        blob_discard(blob);
    }
    if (rc < 0) {
        return io_fail(err, rc);
    }
    struct lake_object_info v;
    memset(&v, 0, sizeof(v));
    v.key = (char *)key;
    v.size_bytes = meta->size_bytes;
    memcpy(v.etag, meta->etag, sizeof(v.etag));
    v.last_modified_ms = clock_now_ms();
    v.content_type = opts ? (char *)opts->content_type : NULL;
    v.meta_json = opts ? (char *)opts->meta_json : NULL;
    v.checksum_algo = meta->checksum_algo;
    memcpy(v.checksum, meta->checksum, sizeof(v.checksum));
    v.sse = (char *)meta->sse;
    const char *tags = opts ? opts->tags_json : NULL;

    struct pending_put p = {.bucket = bucket,
                            .key = key,
                            .blob = id,
                            .v = &v,
                            .opts = opts,
                            .small = small,
                            .small_len = small_len,
                            .tags = tags,
                            .err = err};
    rc = commit_grouped(lo, &p);
    free(mem);
    memcpy(old, p.old, sizeof(old));
    if (rc < 0) {
        blob_unlink(lo, id);
        return err->code ? rc : internal(err, rc);
    }
    if (old[0] != '\0') {
        blob_unlink(lo, old);
    }
    if (info != NULL) {
        *info = v;
        info->key = xstrdup(key);
        info->content_type = v.content_type ? xstrdup(v.content_type) : NULL;
        info->meta_json = v.meta_json ? xstrdup(v.meta_json) : NULL;
        info->n_tags = count_tags(tags);
        info->sse = v.sse ? xstrdup(v.sse) : NULL;
    }
    return 0;
}

static int object_head(void *be, const char *bucket, const char *key, struct lake_object_info *info,
                       int *fd_out, char **path_out, struct err_info *err)
{
    struct local *lo = be;
    /* Opening the file needs the writer's lock (see below); a lookup only reads. */
    int opens = fd_out != NULL;
    if (opens) {
        store_lock(lo->st);
    } else {
        store_read_begin(lo->st);
    }
    int rc = bucket_exists(lo, bucket, err);
    struct store_stmt *s = NULL;
    if (rc == 0) {
        rc = prepare(lo,
                     "SELECT " OBJ_COLS
                     ",part_sizes,sse,part_checksums FROM lake_objects WHERE bucket=? AND key=?",
                     &s);
    }
    if (rc == 0) {
        store_bind_text(s, 1, bucket);
        store_bind_text(s, 2, key);
        rc = store_step(s);
        if (rc == 0) {
            rc = err_set(err, SL_E(NO_SUCH_KEY), "The specified key does not exist.");
        } else if (rc == 1) {
            rc = 0;
            const char *id = store_col_text(s, 10);
            if (fd_out != NULL || path_out != NULL) {
                rc = blob_open_locked(lo, id, fd_out, path_out);
                if (rc < 0) {
                    err_set(err, rc == SL_E(NOMEM) ? rc : SL_E(IO),
                            "We encountered an internal error. Please try again.");
                }
            }
            if (rc == 0 && info != NULL) {
                row_to_info(s, info);
                info->part_sizes_json = dup_col(s, 11 + LAKE__VERSION_INFO_NCOLS);
                info->sse = dup_col(s, 12 + LAKE__VERSION_INFO_NCOLS);
                info->part_checksums_json = dup_col(s, 13 + LAKE__VERSION_INFO_NCOLS);
            }
        }
        store_finalize(s);
    }
    if (opens) {
        store_unlock(lo->st);
    } else {
        store_read_end(lo->st);
    }
    if (rc < 0 && err->code == 0) {
        return internal(err, rc);
    }
    return rc;
}

static int object_delete(void *be, const char *bucket, const char *key, struct err_info *err)
{
    struct local *lo = be;
    char old[BLOB_ID_LEN + 1] = "";
    store_lock(lo->st);
    int rc = store_begin(lo->st);
    if (rc == 0) {
        rc = bucket_exists(lo, bucket, err);
    }
    struct store_stmt *s;
    if (rc == 0 && (rc = prepare(lo,
                                 "DELETE FROM lake_objects WHERE bucket=? AND key=?"
                                 " RETURNING blob",
                                 &s)) == 0) {
        store_bind_text(s, 1, bucket);
        store_bind_text(s, 2, key);
        rc = store_step(s);
        if (rc == 1) {
            snprintf(old, sizeof(old), "%s", store_col_text(s, 0));
            rc = store_step(s);
        }
        store_finalize(s);
    }
    if (rc == 0) {
        rc = store_commit(lo->st);
    }
    if (rc < 0) {
        store_rollback(lo->st);
        old[0] = '\0';
    }
    store_unlock(lo->st);
    if (old[0] != '\0') {
        blob_unlink(lo, old);
    }
    if (rc < 0 && err->code == 0) {
        return internal(err, rc);
    }
    return rc;
}

static int object_tags_put(void *be, const char *bucket, const char *key, const char *tags_json,
                           struct err_info *err)
{
    struct local *lo = be;
    store_lock(lo->st);
    int rc = bucket_exists(lo, bucket, err);
    struct store_stmt *s;
    if (rc == 0 &&
        (rc = prepare(lo, "UPDATE lake_objects SET tags=?, n_tags=? WHERE bucket=? AND key=?",
                      &s)) == 0) {
        store_bind_text(s, 1, tags_json);
        store_bind_int64(s, 2, count_tags(tags_json));
        store_bind_text(s, 3, bucket);
        store_bind_text(s, 4, key);
        rc = store_step(s);
        store_finalize(s);
        if (rc == 0 && store_changes(lo->st) == 0) {
            rc = err_set(err, SL_E(NO_SUCH_KEY), "The specified key does not exist.");
        }
    }
    store_unlock(lo->st);
    if (rc < 0 && err->code == 0) {
        return internal(err, rc);
    }
    return rc;
}

static int object_tags_get(void *be, const char *bucket, const char *key, char **tags_out,
                           struct err_info *err)
{
    struct local *lo = be;
    *tags_out = NULL;
    store_read_begin(lo->st);
    int rc = bucket_exists(lo, bucket, err);
    struct store_stmt *s;
    if (rc == 0 &&
        (rc = prepare(lo, "SELECT tags FROM lake_objects WHERE bucket=? AND key=?", &s)) == 0) {
        store_bind_text(s, 1, bucket);
        store_bind_text(s, 2, key);
        rc = store_step(s);
        if (rc == 1) {
            const char *t = store_col_text(s, 0);
            *tags_out = xstrdup(t ? t : "{}");
            rc = 0;
        } else if (rc == 0) {
            rc = err_set(err, SL_E(NO_SUCH_KEY), "The specified key does not exist.");
        }
        store_finalize(s);
    }
    store_read_end(lo->st);
    if (rc < 0 && err->code == 0) {
        return internal(err, rc);
    }
    return rc;
}

/*
 * The smallest string greater than every string that starts with prefix (of len bytes):
 * the prefix with its last byte incremented, 0xff bytes dropped. Returns its length, 0
 * when there is none (the prefix is all 0xff).
 */
static size_t prefix_successor(const char *prefix, size_t len, char *out)
{
    memcpy(out, prefix, len);
    while (len > 0 && (uint8_t)out[len - 1] == 0xff) {
        len--;
    }
    if (len > 0) {
        out[len - 1] = (char)((uint8_t)out[len - 1] + 1);
    }
    out[len] = '\0';
    return len;
}

/*
 * Listing walks the (bucket, key) primary key from a cursor. A key holding the
 * delimiter after the prefix is reported once as its common prefix and the walk jumps
 * past every key under it. A common prefix the "after" marker lies in was reported on
 * an earlier page and is skipped.
 */
static int object_list(void *be, const char *bucket, const struct lake_list_opts *opts,
                       struct lake_list_result *out, struct err_info *err)
{
    struct local *lo = be;
    const char *prefix = opts->prefix ? opts->prefix : "";
    const char *delim = opts->delimiter && opts->delimiter[0] ? opts->delimiter : NULL;
    size_t prefix_len = strlen(prefix);
    size_t want = opts->max_keys;
    size_t cap_obj = 0;
    size_t cap_pre = 0;
    /* The cursor: keys >= cursor (inclusive) or > cursor. */
    char *cursor = xstrdup(prefix);
    int inclusive = 1;
    const char *after = opts->after && opts->after[0] ? opts->after : NULL;
    if (after != NULL && strcmp(after, prefix) >= 0) {
        free(cursor);
        cursor = xstrdup(after);
        inclusive = 0;
    }
    store_read_begin(lo->st);
    int rc = bucket_exists(lo, bucket, err);
    struct store_stmt *s_incl = NULL;
    struct store_stmt *s_excl = NULL;
    if (rc == 0) {
        rc = prepare(lo,
                     "SELECT " OBJ_COLS " FROM lake_objects WHERE bucket=?1 AND key>=?2"
                     " ORDER BY key LIMIT ?3",
                     &s_incl);
    }
    if (rc == 0) {
        rc = prepare(lo,
                     "SELECT " OBJ_COLS " FROM lake_objects WHERE bucket=?1 AND key>?2"
                     " ORDER BY key LIMIT ?3",
                     &s_excl);
    }
    int done = 0;
    while (rc == 0 && !done) {
        struct store_stmt *s = inclusive ? s_incl : s_excl;
        store_reset(s);
        store_bind_text(s, 1, bucket);
        store_bind_text(s, 2, cursor);
        store_bind_int64(s, 3, 1000);
        int n_rows = 0;
        int jumped = 0;
        while (!jumped && (rc = store_step(s)) == 1) {
            n_rows++;
            const char *key = store_col_text(s, 0);
            if (strncmp(key, prefix, prefix_len) != 0) {
                done = 1;
                break;
            }
            const char *d = delim ? strstr(key + prefix_len, delim) : NULL;
            if (d != NULL) {
                size_t cp_len = (size_t)(d - key) + strlen(delim);
                int seen =
                    after != NULL && strncmp(after, key, cp_len) == 0 && strlen(after) >= cp_len;
                if (!seen) {
                    if (out->n_objects + out->n_prefixes == want) {
                        out->truncated = 1;
                        done = 1;
                        break;
                    }
                    if (out->n_prefixes == cap_pre) {
                        cap_pre = cap_pre ? cap_pre * 2 : 16;
                        out->prefixes = xrealloc(out->prefixes, cap_pre * sizeof(char *));
                    }
                    out->prefixes[out->n_prefixes++] = xstrndup(key, cp_len);
                    free(out->last);
                    out->last = xstrndup(key, cp_len);
                }
                /* Jump past every key under this common prefix. */
                char *next = xmalloc(cp_len + 1);
                size_t next_len = prefix_successor(key, cp_len, next);
                free(cursor);
                cursor = next;
                inclusive = 1;
                jumped = 1;
                if (next_len == 0) {
                    done = 1;
                }
                break;
            }
            if (out->n_objects + out->n_prefixes == want) {
                out->truncated = 1;
                done = 1;
                break;
            }
            if (out->n_objects == cap_obj) {
                cap_obj = cap_obj ? cap_obj * 2 : 64;
                out->objects = xrealloc(out->objects, cap_obj * sizeof(*out->objects));
            }
            row_to_info(s, &out->objects[out->n_objects++]);
            free(cursor);
            cursor = xstrdup(key);
            inclusive = 0;
        }
        if (rc == 1) {
            rc = 0;
        }
        if (rc == 0 && !jumped && n_rows < 1000) {
            done = 1;
        }
    }
    if (rc == 0 && out->n_objects > 0 &&
        (out->last == NULL || strcmp(out->objects[out->n_objects - 1].key, out->last) > 0)) {
        free(out->last);
        out->last = xstrdup(out->objects[out->n_objects - 1].key);
    }
    store_finalize(s_incl);
    store_finalize(s_excl);
    store_read_end(lo->st);
    free(cursor);
    if (rc < 0) {
        lake_list_result_fini(out);
        return err->code ? rc : internal(err, rc);
    }
    return 0;
}

/* ---- multipart ---- */

static int upload_lookup(struct local *lo, const char *bucket, const char *key,
                         const char *upload_id, struct lake_upload_info *info, struct err_info *err)
{
    int rc = bucket_exists(lo, bucket, err);
    if (rc < 0) {
        return rc;
    }
    struct store_stmt *s;
    rc = prepare(lo,
                 "SELECT upload_id,key,initiated_ms,content_type,meta,checksum_algo,tags,sse,"
                 "checksum_type,acl FROM lake_uploads WHERE upload_id=? AND bucket=? AND key=?",
                 &s);
    if (rc < 0) {
        return internal(err, rc);
    }
    store_bind_text(s, 1, upload_id);
    store_bind_text(s, 2, bucket);
    store_bind_text(s, 3, key);
    rc = store_step(s);
    if (rc == 1) {
        rc = 0;
        if (info != NULL) {
            memset(info, 0, sizeof(*info));
            snprintf(info->upload_id, sizeof(info->upload_id), "%s", store_col_text(s, 0));
            info->key = dup_col(s, 1);
            info->initiated_ms = store_col_int64(s, 2);
            info->content_type = dup_col(s, 3);
            info->meta_json = dup_col(s, 4);
            info->checksum_algo = (enum lake_checksum_algo)store_col_int64(s, 5);
            info->sse = dup_col(s, 7);
            info->checksum_type = (enum lake_checksum_type)store_col_int64(s, 8);
            info->acl = dup_col(s, 9);
        }
    } else if (rc == 0) {
        rc = err_set(err, SL_E(NO_SUCH_UPLOAD),
                     "The specified upload does not exist. The upload ID may be invalid, or "
                     "the upload may have been aborted or completed.");
    } else {
        rc = internal(err, rc);
    }
    store_finalize(s);
    return rc;
}

static int clean_abandoned(struct local *lo, int64_t abandon_after_ms);

static int upload_create(void *be, const char *bucket, const char *key,
                         const struct lake_put_opts *opts, struct lake_upload_info *info,
                         struct err_info *err)
{
    struct local *lo = be;
    /* A long-running server sweeps abandoned uploads at most hourly, as uploads start. */
    int64_t now = clock_now_ms();
    int64_t last = atomic_load(&lo->last_sweep_ms);
    if (now - last > SWEEP_INTERVAL_MS &&
        atomic_compare_exchange_strong(&lo->last_sweep_ms, &last, now)) {
        clean_abandoned(lo, lo->abandon_after_ms);
    }
    memset(info, 0, sizeof(*info));
    new_id(info->upload_id);
    info->key = xstrdup(key);
    info->initiated_ms = clock_now_ms();
    info->checksum_algo = opts ? opts->checksum_algo : LAKE_CHECKSUM_NONE;
    info->checksum_type = opts ? opts->checksum_type : LAKE_CHECKSUM_COMPOSITE;
    store_lock(lo->st);
    int rc = bucket_exists(lo, bucket, err);
    struct store_stmt *s;
    if (rc == 0 && (rc = prepare(lo,
                                 "INSERT INTO lake_uploads(upload_id,bucket,key,initiated_ms,"
                                 "content_type,meta,tags,checksum_algo,sse,checksum_type,acl)"
                                 " VALUES(?,?,?,?,?,?,?,?,?,?,?)",
                                 &s)) == 0) {
        store_bind_text(s, 1, info->upload_id);
        store_bind_text(s, 2, bucket);
        store_bind_text(s, 3, key);
        store_bind_int64(s, 4, info->initiated_ms);
        store_bind_text(s, 5, opts ? opts->content_type : NULL);
        store_bind_text(s, 6, opts ? opts->meta_json : NULL);
        store_bind_text(s, 7, opts ? opts->tags_json : NULL);
        store_bind_int64(s, 8, info->checksum_algo);
        store_bind_text(s, 9, opts ? opts->sse : NULL);
        store_bind_int64(s, 10, info->checksum_type);
        store_bind_text(s, 11, opts ? opts->acl : NULL);
        rc = store_step(s);
        store_finalize(s);
    }
    store_unlock(lo->st);
    if (rc < 0) {
        lake_upload_info_fini(info);
        return err->code ? rc : internal(err, rc);
    }
    if (opts != NULL) {
        info->content_type = opts->content_type ? xstrdup(opts->content_type) : NULL;
        info->meta_json = opts->meta_json ? xstrdup(opts->meta_json) : NULL;
        info->sse = opts->sse ? xstrdup(opts->sse) : NULL;
        info->acl = opts->acl ? xstrdup(opts->acl) : NULL;
    }
    return 0;
}

static int upload_get(void *be, const char *bucket, const char *key, const char *upload_id,
                      struct lake_upload_info *info, struct err_info *err)
{
    struct local *lo = be;
    store_read_begin(lo->st);
    int rc = upload_lookup(lo, bucket, key, upload_id, info, err);
    store_read_end(lo->st);
    return rc;
}

static int part_commit(void *be, struct lake_blob *blob, const char *bucket, const char *key,
                       const char *upload_id, int part_number, const struct lake__blob_meta *meta,
                       struct lake_part_info *part, struct err_info *err)
{
    struct local *lo = be;
    char id[BLOB_ID_LEN + 1];
    char old[BLOB_ID_LEN + 1] = "";
    int rc = blob_seal(blob, id);
    if (rc < 0) {
        return io_fail(err, rc);
    }
    int64_t now = clock_now_ms();
    store_lock(lo->st);
    rc = store_begin(lo->st);
    if (rc == 0) {
        rc = upload_lookup(lo, bucket, key, upload_id, NULL, err);
    }
    struct store_stmt *s;
    if (rc == 0 &&
        (rc = prepare(lo, "SELECT blob FROM lake_parts WHERE upload_id=? AND part_number=?", &s)) ==
            0) {
        store_bind_text(s, 1, upload_id);
        store_bind_int64(s, 2, part_number);
        if ((rc = store_step(s)) == 1) {
            snprintf(old, sizeof(old), "%s", store_col_text(s, 0));
            rc = 0;
        }
        store_finalize(s);
    }
    if (rc == 0 &&
        (rc = prepare(lo,
                      "INSERT INTO lake_parts(upload_id,part_number,blob,size,etag,checksum,"
                      "last_modified_ms) VALUES(?,?,?,?,?,?,?) ON CONFLICT(upload_id,part_number)"
                      " DO UPDATE SET blob=excluded.blob,size=excluded.size,etag=excluded.etag,"
                      "checksum=excluded.checksum,last_modified_ms=excluded.last_modified_ms",
                      &s)) == 0) {
        store_bind_text(s, 1, upload_id);
        store_bind_int64(s, 2, part_number);
        store_bind_text(s, 3, id);
        store_bind_int64(s, 4, meta->size_bytes);
        store_bind_text(s, 5, meta->etag);
        store_bind_text(s, 6, meta->checksum);
        store_bind_int64(s, 7, now);
        rc = store_step(s);
        store_finalize(s);
    }
    if (rc == 0) {
        rc = store_commit(lo->st);
    }
    if (rc < 0) {
        store_rollback(lo->st);
        old[0] = '\0';
    }
    store_unlock(lo->st);
    if (rc < 0) {
        blob_unlink(lo, id);
        return err->code ? rc : internal(err, rc);
    }
    blob_unlink(lo, old);
    if (part != NULL) {
        memset(part, 0, sizeof(*part));
        part->part_number = part_number;
        part->size_bytes = meta->size_bytes;
        memcpy(part->etag, meta->etag, sizeof(part->etag));
        part->last_modified_ms = now;
        memcpy(part->checksum, meta->checksum, sizeof(part->checksum));
    }
    return 0;
}

/* A part as its row stood when the completion read it. */
struct stored_part {
    int part_number;
    int64_t size_bytes;
    char etag[LAKE_ETAG_MAX];
    char checksum[LAKE_CHECKSUM_MAX];
    char blob[BLOB_ID_LEN + 1];
};

/* concat's answer when a part file vanished under it: look again (complete_recheck). */
#define PART_FILE_GONE 1
/* A completion starts over at most this often when parts keep being replaced. */
#define COMPLETE_ATTEMPTS 4

/*
 * Appends the len bytes of the sealed blob src_id to the blob being written. Returns 0,
 * PART_FILE_GONE when the file is gone (the caller finds out why), SL_E(UNAVAILABLE)
 * (disk full) or SL_E(IO).
 */
static int append_blob(struct lake_blob *dst, const char *src_id, int64_t len)
{
    struct local *lo = dst->lo;
    int src = file_openat(lo->dir_fds[dir_idx(src_id)], src_id, O_RDONLY | O_CLOEXEC, 0);
    if (src < 0) {
        if (errno == ENOENT) {
            return PART_FILE_GONE;
        }
        log_msg(LOG_ERROR, "lake", "cannot open blob %s: %s", src_id, strerror(errno));
        return io_code(errno);
    }
    int rc = 0;
    off_t in_off = 0;
    int use_copy = 1;
    while (len > 0 && rc == 0) {
        off_t out_off = (off_t)dst->written;
        ssize_t n = -1;
        if (use_copy) {
            n = file_copy_range(src, &in_off, dst->fd, &out_off, (size_t)len);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0 &&
                (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP || errno == ENOSYS)) {
                use_copy = 0; /* a filesystem without copy_file_range: read and write */
                continue;
            }
        } else {
            char chunk[65536];
            size_t want = len < (int64_t)sizeof(chunk) ? (size_t)len : sizeof(chunk);
            n = file_pread(src, chunk, want, in_off);
            if (n > 0) {
                rc = blob_write(dst, chunk, (size_t)n);
                in_off += n;
                len -= n;
                continue;
            }
        }
        if (n <= 0) {
            int e = n < 0 ? errno : EIO; /* 0: the part is shorter than its row says */
            log_msg(LOG_ERROR, "lake", "copy of blob %s failed: %s", src_id, strerror(e));
            rc = io_code(e);
            break;
        }
        dst->written += n;
        len -= n;
    }
    close(src);
    return rc;
}

static const char *strip_quotes(const char *etag, char *out, size_t size)
{
    size_t len = strlen(etag);
    if (len >= 2 && etag[0] == '"' && etag[len - 1] == '"') {
        snprintf(out, size, "%.*s", (int)(len - 2), etag + 1);
    } else {
        snprintf(out, size, "%s", etag);
    }
    return out;
}

/*
 * One CompleteMultipartUpload, through its phases:
 *
 *   read     the upload and its parts, under the store lock           complete_read
 *   check    the client's list against them; ETag, checksum            complete_check
 *   concat   the chosen parts' bytes into a new sealed blob, unlocked  complete_concat
 *   swap     upload and parts for the object row, one transaction      complete_swap
 *
 * Between read and swap the store is unlocked: UploadPart may replace a part,
 * AbortMultipartUpload or another completion may end the upload, and either unlinks
 * part files after its commit. concat meeting a vanished part file and swap meeting a
 * changed upload are races, not corruption; they are answered as S3 answers them when
 * the calls happen in some order (NoSuchUpload, InvalidPart) or the completion starts
 * over (a part replaced by one with the same ETag).
 */
struct completion {
    const char *bucket;
    const char *key;
    const char *upload_id;
    const struct lake_complete_part *parts; /* the client's list, ascending */
    size_t n_parts;
    const struct lake_put_opts *opts; /* the completion's conditions, or NULL */
    struct lake_upload_info up;       /* the upload, owned */
    char *tags;                       /* the upload's tag set (JSON), owned, or NULL */
    struct stored_part *stored;       /* every part row, by number; owned */
    size_t n_stored;
    const struct stored_part **chosen; /* n_parts entries into stored; owned array */
    struct lake_object_info v;         /* the object row (strings borrowed) */
    struct buf sizes;                  /* the chosen parts' sizes, a JSON array */
    struct buf checksums;              /* their checksums (JSON array), empty when none */
    char id[BLOB_ID_LEN + 1];          /* the sealed object blob, "" until concat */
};

static void completion_reset(struct completion *c)
{
    lake_upload_info_fini(&c->up);
    free(c->tags);
    free(c->stored);
    free(c->chosen);
    buf_fini(&c->sizes);
    buf_fini(&c->checksums);
    c->tags = NULL;
    c->stored = NULL;
    c->n_stored = 0;
    c->chosen = NULL;
    memset(&c->v, 0, sizeof(c->v));
    buf_init(&c->sizes);
    buf_init(&c->checksums);
    c->id[0] = '\0';
}

static int invalid_part(struct err_info *err)
{
    return err_set(err, SL_E(INVALID_PART),
                   "One or more of the specified parts could not be found.  The part may not "
                   "have been uploaded, or the specified entity tag may not match the part's "
                   "entity tag.");
}

/* Phase read: the upload, its tags and its part rows. Returns 0 or an error set in err. */
static int complete_read(struct local *lo, struct completion *c, struct err_info *err)
{
    store_lock(lo->st);
    int rc = upload_lookup(lo, c->bucket, c->key, c->upload_id, &c->up, err);
    struct store_stmt *s;
    if (rc == 0 && (rc = prepare(lo, "SELECT tags FROM lake_uploads WHERE upload_id=?", &s)) == 0) {
        store_bind_text(s, 1, c->upload_id);
        if (store_step(s) == 1) {
            c->tags = dup_col(s, 0);
        }
        store_finalize(s);
    }
    if (rc == 0 && (rc = prepare(lo,
                                 "SELECT part_number,size,etag,checksum,blob FROM lake_parts"
                                 " WHERE upload_id=? ORDER BY part_number",
                                 &s)) == 0) {
        store_bind_text(s, 1, c->upload_id);
        size_t cap = 0;
        while ((rc = store_step(s)) == 1) {
            if (c->n_stored == cap) {
                cap = cap ? cap * 2 : 16;
                c->stored = xrealloc(c->stored, cap * sizeof(*c->stored));
            }
            struct stored_part *p = &c->stored[c->n_stored++];
            p->part_number = (int)store_col_int64(s, 0);
            p->size_bytes = store_col_int64(s, 1);
            snprintf(p->etag, sizeof(p->etag), "%s", store_col_text(s, 2));
            snprintf(p->checksum, sizeof(p->checksum), "%s", store_col_text(s, 3));
            snprintf(p->blob, sizeof(p->blob), "%s", store_col_text(s, 4));
        }
        store_finalize(s);
    }
    store_unlock(lo->st);
    if (rc < 0 && err->code == 0) {
        internal(err, rc);
    }
    return rc < 0 ? rc : 0;
}

/* The raw MD5 of a stored part from its hex ETag. */
static void etag_md5(const char *etag, uint8_t raw[MD5_LEN])
{
    for (int k = 0; k < MD5_LEN; k++) {
        raw[k] = (uint8_t)(hex_digit(etag[2 * k]) * 16 + hex_digit(etag[2 * k + 1]));
    }
}

/*
 * The whole object's checksum the client sent with the completion, against the one made:
 * FULL_OBJECT exactly, COMPOSITE by its base64 ("-N" optional). 0 or SL_E(BAD_DIGEST).
 */
static int complete_expected(const struct completion *c, struct err_info *err)
{
    const char *want = c->opts != NULL ? c->opts->checksum_expected : NULL;
    if (want == NULL) {
        return 0;
    }
    const char *have = c->v.checksum;
    size_t want_len = strcspn(want, "-");
    size_t have_len = strcspn(have, "-");
    int same = c->v.checksum_algo != LAKE_CHECKSUM_NONE &&
               (lake_checksum_type_of(have) == LAKE_CHECKSUM_COMPOSITE
                    ? want_len == have_len && memcmp(want, have, have_len) == 0 &&
                          (want[want_len] == '\0' || strcmp(want + want_len, have + have_len) == 0)
                    : strcmp(want, have) == 0);
    if (same) {
        return 0;
    }
    char name[16];
    snprintf(name, sizeof(name), "%s", lake_checksum_name(c->up.checksum_algo));
    for (char *p = name; *p; p++) {
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    }
    return err_set(err, SL_E(BAD_DIGEST),
                   "The %s you specified did not match the calculated checksum.", name);
}

/*
 * Phase check: every listed part exists with the listed ETag, all but the last at least
 * LAKE_PART_MIN_BYTES. Fills c->chosen and the row's size, ETag (MD5 of the parts' MD5s
 * and "-N") and composite checksum. Returns 0, SL_E(INVALID_PART), SL_E(ENTITY_TOO_SMALL)
 * or SL_E(NOMEM) (the list's length is the client's choice).
 */
static int complete_check(struct completion *c, struct err_info *err)
{
    c->chosen = try_malloc(c->n_parts * sizeof(*c->chosen));
    if (c->chosen == NULL) {
        return internal(err, SL_E(NOMEM));
    }
    struct crypto_digest *md5 = crypto_digest_create(CRYPTO_MD5);
    struct lake__checksum ck;
    lake__checksum_init(&ck, c->up.checksum_algo);
    /* FULL_OBJECT: the parts' CRCs combined into the CRC of all the bytes. */
    int full = c->up.checksum_algo != LAKE_CHECKSUM_NONE &&
               c->up.checksum_type == LAKE_CHECKSUM_FULL_OBJECT;
    int full_ok = 1;
    uint64_t whole = 0;
    int rc = 0;
    size_t j = 0;
    for (size_t i = 0; i < c->n_parts && rc == 0; i++) {
        const struct lake_complete_part *want = &c->parts[i];
        while (j < c->n_stored && c->stored[j].part_number < want->part_number) {
            j++;
        }
        char etag[LAKE_ETAG_MAX + 2];
        strip_quotes(want->etag ? want->etag : "", etag, sizeof(etag));
        if (j == c->n_stored || c->stored[j].part_number != want->part_number ||
            strcmp(c->stored[j].etag, etag) != 0) {
            rc = invalid_part(err);
            break;
        }
        if (i + 1 < c->n_parts && c->stored[j].size_bytes < LAKE_PART_MIN_BYTES) {
            rc = err_set(err, SL_E(ENTITY_TOO_SMALL),
                         "Your proposed upload is smaller than the minimum allowed size");
            break;
        }
        uint8_t raw[MD5_LEN];
        etag_md5(c->stored[j].etag, raw);
        crypto_digest_update(md5, raw, MD5_LEN);
        if (full) {
            uint64_t crc = 0;
            if (lake__crc_decode(c->up.checksum_algo, c->stored[j].checksum, &crc) < 0) {
                full_ok = 0; /* a part without its CRC: the object can have none */
            }
            whole = i == 0 ? crc
                           : lake__crc_combine(c->up.checksum_algo, whole, crc,
                                               c->stored[j].size_bytes);
        } else if (c->up.checksum_algo != LAKE_CHECKSUM_NONE) {
            uint8_t dec[64];
            const char *b64 = c->stored[j].checksum;
            long n = strlen(b64) <= 88 ? base64_decode(b64, strlen(b64), dec) : -1;
            if (n > 0) {
                lake__checksum_update(&ck, dec, (size_t)n);
            }
        }
        if (c->up.checksum_algo != LAKE_CHECKSUM_NONE) {
            buf_printf(&c->checksums, "%c\"%s\"", i == 0 ? '[' : ',', c->stored[j].checksum);
        }
        c->v.size_bytes += c->stored[j].size_bytes;
        c->chosen[i] = &c->stored[j];
    }
    uint8_t md5_raw[MD5_LEN];
    crypto_digest_final(md5, md5_raw);
    crypto_digest_destroy(md5);
    if (rc == 0) {
        char hex[2 * MD5_LEN + 1];
        hex_encode(md5_raw, MD5_LEN, hex);
        snprintf(c->v.etag, sizeof(c->v.etag), "%s-%d", hex, (int)c->n_parts);
        if (c->checksums.len > 0) {
            buf_putc(&c->checksums, ']');
        }
        if (buf_status(&c->checksums) < 0) {
            rc = internal(err, SL_E(NOMEM));
        } else if (full && full_ok) {
            lake__crc_encode(c->up.checksum_algo, whole, c->v.checksum);
            c->v.checksum_algo = c->up.checksum_algo;
        } else if (!full && c->up.checksum_algo != LAKE_CHECKSUM_NONE) {
            char b64[LAKE_CHECKSUM_MAX];
            lake__checksum_final(&ck, b64);
            snprintf(c->v.checksum, sizeof(c->v.checksum), "%.64s-%d", b64, (int)c->n_parts);
            c->v.checksum_algo = c->up.checksum_algo;
        }
        if (rc == 0) {
            rc = complete_expected(c, err);
        }
    }
    lake__checksum_fini(&ck);
    return rc;
}

/*
 * After concat found a part's file gone: looks at the upload again, under the lock, to
 * tell a race from damage. Returns SL_E(NO_SUCH_UPLOAD) (aborted or completed
 * meanwhile), SL_E(INVALID_PART) (the part was replaced by one with another ETag),
 * PART_FILE_GONE (replaced by one with the same ETag: start over) or SL_E(CORRUPT)
 * (the row still names the missing file).
 */
static int complete_recheck(struct local *lo, struct completion *c, const struct stored_part *gone,
                            struct err_info *err)
{
    store_lock(lo->st);
    int rc = upload_lookup(lo, c->bucket, c->key, c->upload_id, NULL, err);
    struct store_stmt *s;
    if (rc == 0 &&
        (rc = prepare(lo, "SELECT etag,blob FROM lake_parts WHERE upload_id=? AND part_number=?",
                      &s)) == 0) {
        store_bind_text(s, 1, c->upload_id);
        store_bind_int64(s, 2, gone->part_number);
        rc = store_step(s);
        if (rc == 0) {
            rc = invalid_part(err);
        } else if (rc == 1 && strcmp(store_col_text(s, 1), gone->blob) == 0) {
            char path[800];
            blob_path(lo, gone->blob, path, sizeof(path));
            rc = SL_CORRUPT(path, 0, "part file missing");
            internal(err, SL_E(IO));
        } else if (rc == 1) {
            rc = strcmp(store_col_text(s, 0), gone->etag) == 0 ? PART_FILE_GONE : invalid_part(err);
        }
        store_finalize(s);
    }
    store_unlock(lo->st);
    if (rc < 0 && err->code == 0) {
        internal(err, rc);
    }
    return rc;
}

/*
 * Phase concat: the chosen parts' bytes, in order, into a new blob, sealed into
 * c->id; the parts' sizes into c->sizes. Returns 0, PART_FILE_GONE (start over), or an
 * error set in err; on failure no blob remains.
 */
static int complete_concat(struct local *lo, struct completion *c, struct err_info *err)
{
    struct lake_blob *blob = NULL;
    int rc = blob_open(lo, &blob);
    if (rc < 0) {
        return internal(err, rc);
    }
    rc = blob_to_file(blob); /* a multipart object is a file, whatever its size */
    if (rc < 0) {
        blob_discard(blob);
        return io_fail(err, rc);
    }
    for (size_t i = 0; i < c->n_parts && rc == 0; i++) {
        /* Encrypted parts are copied sealed as they lie (chunks carry their IVs). */
        int64_t size = c->chosen[i]->size_bytes;
        rc = append_blob(blob, c->chosen[i]->blob, c->up.sse ? lake__sealed_len(size) : size);
        if (rc == PART_FILE_GONE) {
            rc = complete_recheck(lo, c, c->chosen[i], err);
        } else if (rc < 0) {
            internal(err, rc);
        }
    }
    for (size_t i = 0; i < c->n_parts && rc == 0; i++) {
        buf_printf(&c->sizes, "%c%lld", i == 0 ? '[' : ',', (long long)c->chosen[i]->size_bytes);
    }
    buf_putc(&c->sizes, ']');
    if (rc == 0 && buf_status(&c->sizes) < 0) {
        rc = internal(err, SL_E(NOMEM));
    }
    if (rc != 0) {
        blob_discard(blob);
        return rc;
    }
    rc = blob_seal(blob, c->id);
    if (rc < 0) {
        c->id[0] = '\0';
        return internal(err, rc);
    }
    return 0;
}

/*
 * Within swap's transaction: each chosen part still has the ETag and size it was read
 * with (UploadPart may have replaced it since; same ETag and size mean the same bytes
 * were used). Returns 0, SL_E(INVALID_PART) or a store error.
 */
static int complete_parts_unchanged(struct local *lo, struct completion *c, struct err_info *err)
{
    struct store_stmt *s = NULL;
    int rc =
        prepare(lo, "SELECT etag,size FROM lake_parts WHERE upload_id=? AND part_number=?", &s);
    for (size_t i = 0; i < c->n_parts && rc == 0; i++) {
        store_reset(s);
        store_bind_text(s, 1, c->upload_id);
        store_bind_int64(s, 2, c->chosen[i]->part_number);
        rc = store_step(s);
        if (rc == 1) {
            rc = strcmp(store_col_text(s, 0), c->chosen[i]->etag) == 0 &&
                         store_col_int64(s, 1) == c->chosen[i]->size_bytes
                     ? 0
                     : invalid_part(err);
        } else if (rc == 0) {
            rc = invalid_part(err);
        }
    }
    if (s != NULL) {
        store_finalize(s);
    }
    return rc;
}

/*
 * Phase swap: in one transaction, checks the upload still stands as read, removes it
 * and its parts and writes the object row naming c->id; then unlinks the parts' and the
 * replaced object's files. Returns 0 or an error set in err (c->id is then unlinked).
 */
static int complete_swap(struct local *lo, struct completion *c, struct err_info *err)
{
    c->v.key = (char *)c->key;
    c->v.last_modified_ms = clock_now_ms();
    c->v.content_type = c->up.content_type;
    c->v.meta_json = c->up.meta_json;
    c->v.parts_count = (int)c->n_parts;
    c->v.part_sizes_json = (char *)c->sizes.data;
    c->v.part_checksums_json = c->checksums.len > 0 ? (char *)c->checksums.data : NULL;
    c->v.sse = c->up.sse;
    char old[BLOB_ID_LEN + 1] = "";
    json_t *all_blobs = json_array();
    store_lock(lo->st);
    int rc = store_begin(lo->st);
    if (rc == 0) {
        rc = upload_lookup(lo, c->bucket, c->key, c->upload_id, NULL, err);
    }
    if (rc == 0) {
        rc = complete_parts_unchanged(lo, c, err);
    }
    if (rc == 0) {
        rc = lake__version_check_put(lo->st, c->bucket, c->key, c->opts, err);
    }
    if (rc == 0) {
        rc = collect_blobs(lo, "SELECT blob FROM lake_parts WHERE upload_id=?", c->upload_id,
                           all_blobs);
    }
    if (rc == 0) {
        rc = exec_bound(lo, "DELETE FROM lake_parts WHERE upload_id=?", c->upload_id);
    }
    if (rc == 0) {
        rc = exec_bound(lo, "DELETE FROM lake_uploads WHERE upload_id=?", c->upload_id);
    }
    if (rc == 0) {
        rc = upsert_object(lo, c->bucket, c->key, c->id, &c->v, c->tags, c->opts, old);
    }
    if (rc == 0) {
        rc = store_commit(lo->st);
    }
    if (rc < 0) {
        store_rollback(lo->st);
        json_array_clear(all_blobs);
        old[0] = '\0';
    }
    store_unlock(lo->st);
    if (rc < 0) {
        blob_unlink(lo, c->id);
        if (err->code == 0) {
            internal(err, rc);
        }
    } else {
        unlink_all(lo, all_blobs);
        blob_unlink(lo, old);
    }
    json_decref(all_blobs);
    return rc;
}

static int upload_complete(void *be, const char *bucket, const char *key, const char *upload_id,
                           const struct lake_complete_part *parts, size_t n_parts,
                           const struct lake_put_opts *opts, struct lake_object_info *info,
                           struct err_info *err)
{
    struct local *lo = be;
    struct completion c = {.bucket = bucket,
                           .key = key,
                           .upload_id = upload_id,
                           .parts = parts,
                           .n_parts = n_parts,
                           .opts = opts};
    buf_init(&c.sizes);
    buf_init(&c.checksums);
    int rc = PART_FILE_GONE;
    for (int attempt = 0; attempt < COMPLETE_ATTEMPTS && rc == PART_FILE_GONE; attempt++) {
        completion_reset(&c);
        err_clear(err);
        rc = complete_read(lo, &c, err);
        if (rc == 0) {
            rc = complete_check(&c, err);
        }
        if (rc == 0) {
            rc = complete_concat(lo, &c, err);
        }
    }
    if (rc == PART_FILE_GONE) {
        /* Parts replaced faster than a completion can copy them: let the client retry. */
        rc = err_set(err, SL_E(UNAVAILABLE), "Please reduce your request rate.");
    }
    if (rc == 0) {
        rc = complete_swap(lo, &c, err);
    }
    if (rc == 0 && info != NULL) {
        *info = c.v;
        info->key = xstrdup(key);
        info->content_type = c.up.content_type;
        info->meta_json = c.up.meta_json;
        info->n_tags = count_tags(c.tags);
        info->part_sizes_json = NULL;
        info->part_checksums_json = NULL;
        info->sse = c.up.sse;
        c.up.content_type = NULL;
        c.up.meta_json = NULL;
        c.up.sse = NULL;
    }
    completion_reset(&c);
    buf_fini(&c.sizes);
    buf_fini(&c.checksums);
    return rc;
}

static int upload_abort(void *be, const char *bucket, const char *key, const char *upload_id,
                        struct err_info *err)
{
    struct local *lo = be;
    json_t *blobs = json_array();
    store_lock(lo->st);
    int rc = store_begin(lo->st);
    if (rc == 0) {
        rc = upload_lookup(lo, bucket, key, upload_id, NULL, err);
    }
    if (rc == 0) {
        rc = collect_blobs(lo, "SELECT blob FROM lake_parts WHERE upload_id=?", upload_id, blobs);
    }
    if (rc == 0) {
        rc = exec_bound(lo, "DELETE FROM lake_parts WHERE upload_id=?", upload_id);
    }
    if (rc == 0) {
        rc = exec_bound(lo, "DELETE FROM lake_uploads WHERE upload_id=?", upload_id);
    }
    if (rc == 0) {
        rc = store_commit(lo->st);
    }
    if (rc < 0) {
        store_rollback(lo->st);
        json_array_clear(blobs);
    }
    store_unlock(lo->st);
    unlink_all(lo, blobs);
    json_decref(blobs);
    if (rc < 0 && err->code == 0) {
        return internal(err, rc);
    }
    return rc;
}

static int upload_list(void *be, const char *bucket, const char *prefix, const char *key_marker,
                       const char *upload_id_marker, size_t max_uploads,
                       struct lake_upload_list *out, struct err_info *err)
{
    struct local *lo = be;
    prefix = prefix ? prefix : "";
    size_t prefix_len = strlen(prefix);
    store_read_begin(lo->st);
    int rc = bucket_exists(lo, bucket, err);
    struct store_stmt *s;
    if (rc == 0 &&
        (rc = prepare(lo,
                      "SELECT upload_id,key,initiated_ms,content_type,meta,checksum_algo,"
                      "checksum_type FROM lake_uploads WHERE bucket=?1 AND key>=?2"
                      " AND (key>?3 OR (key=?3 AND upload_id>?4))"
                      " ORDER BY key,upload_id LIMIT ?5",
                      &s)) == 0) {
        store_bind_text(s, 1, bucket);
        store_bind_text(s, 2, prefix);
        store_bind_text(s, 3, key_marker ? key_marker : "");
        /* A key marker alone skips every upload of that key ("~" sorts after any id). */
        store_bind_text(s, 4, key_marker ? (upload_id_marker ? upload_id_marker : "~") : "");
        store_bind_int64(s, 5, (int64_t)max_uploads + 1);
        size_t cap = 0;
        while ((rc = store_step(s)) == 1) {
            const char *key = store_col_text(s, 1);
            if (strncmp(key, prefix, prefix_len) != 0) {
                break;
            }
            if (out->n_uploads == max_uploads) {
                out->truncated = 1;
                break;
            }
            if (out->n_uploads == cap) {
                cap = cap ? cap * 2 : 16;
                out->uploads = xrealloc(out->uploads, cap * sizeof(*out->uploads));
            }
            struct lake_upload_info *u = &out->uploads[out->n_uploads++];
            memset(u, 0, sizeof(*u));
            snprintf(u->upload_id, sizeof(u->upload_id), "%s", store_col_text(s, 0));
            u->key = xstrdup(key);
            u->initiated_ms = store_col_int64(s, 2);
            u->content_type = dup_col(s, 3);
            u->meta_json = dup_col(s, 4);
            u->checksum_algo = (enum lake_checksum_algo)store_col_int64(s, 5);
            u->checksum_type = (enum lake_checksum_type)store_col_int64(s, 6);
        }
        store_finalize(s);
        rc = rc < 0 ? rc : 0;
    }
    store_read_end(lo->st);
    if (rc < 0) {
        lake_upload_list_fini(out);
        return err->code ? rc : internal(err, rc);
    }
    return 0;
}

static int part_list(void *be, const char *bucket, const char *key, const char *upload_id,
                     int part_marker, size_t max_parts, struct lake_part_info **out, size_t *n_out,
                     int *truncated, struct err_info *err)
{
    struct local *lo = be;
    store_read_begin(lo->st);
    int rc = upload_lookup(lo, bucket, key, upload_id, NULL, err);
    struct store_stmt *s;
    if (rc == 0 && (rc = prepare(lo,
                                 "SELECT part_number,size,etag,last_modified_ms,checksum"
                                 " FROM lake_parts WHERE upload_id=? AND part_number>?"
                                 " ORDER BY part_number LIMIT ?",
                                 &s)) == 0) {
        store_bind_text(s, 1, upload_id);
        store_bind_int64(s, 2, part_marker);
        store_bind_int64(s, 3, (int64_t)max_parts + 1);
        size_t cap = 0;
        while ((rc = store_step(s)) == 1) {
            if (*n_out == max_parts) {
                *truncated = 1;
                break;
            }
            if (*n_out == cap) {
                cap = cap ? cap * 2 : 16;
                *out = xrealloc(*out, cap * sizeof(**out));
            }
            struct lake_part_info *p = &(*out)[(*n_out)++];
            memset(p, 0, sizeof(*p));
            p->part_number = (int)store_col_int64(s, 0);
            p->size_bytes = store_col_int64(s, 1);
            snprintf(p->etag, sizeof(p->etag), "%s", store_col_text(s, 2));
            p->last_modified_ms = store_col_int64(s, 3);
            snprintf(p->checksum, sizeof(p->checksum), "%s", store_col_text(s, 4));
        }
        store_finalize(s);
        rc = rc < 0 ? rc : 0;
    }
    store_read_end(lo->st);
    if (rc < 0) {
        free(*out);
        *out = NULL;
        *n_out = 0;
        return err->code ? rc : internal(err, rc);
    }
    return 0;
}

/* ---- open, recovery, close ---- */

static int make_dir(const char *path)
{
    if (mkdir(path, 0700) < 0 && errno != EEXIST) {
        int e = errno;
        log_msg(LOG_ERROR, "lake", "cannot create %s: %s", path, strerror(e));
        return -e;
    }
    return 0;
}

/* Removes every file in tmp/: none of them was ever part of an object. */
static void clean_tmp(struct local *lo)
{
    DIR *d = opendir(lo->tmp_dir);
    if (d == NULL) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            file_unlinkat(dirfd(d), e->d_name, 0);
        }
    }
    closedir(d);
}

/* Removes blobs that no object or part row names (a crash between seal and commit). */
static int clean_orphans(struct local *lo)
{
    struct store_stmt *s;
    int n_removed = 0;
    store_lock(lo->st);
    int rc = prepare(lo,
                     "SELECT 1 FROM lake_objects WHERE blob=?1"
                     " UNION ALL SELECT 1 FROM lake_parts WHERE blob=?1"
                     " UNION ALL SELECT 1 FROM lake_versions WHERE blob=?1 LIMIT 1",
                     &s);
    for (int i = 0; i < 256 && rc == 0; i++) {
        DIR *d = fdopendir(dup(lo->dir_fds[i]));
        if (d == NULL) {
            continue;
        }
        rewinddir(d);
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') {
                continue;
            }
            store_reset(s);
            store_bind_text(s, 1, e->d_name);
            int found = store_step(s);
            if (found == 0) {
                file_unlinkat(lo->dir_fds[i], e->d_name, 0);
                n_removed++;
            }
        }
        closedir(d);
    }
    if (rc == 0) {
        store_finalize(s);
    }
    store_unlock(lo->st);
    if (n_removed > 0) {
        log_msg(LOG_INFO, "lake", "removed %d unreferenced object files", n_removed);
    }
    return rc;
}

/*
 * Drops uploads initiated more than abandon_after_ms ago, in one transaction, and then
 * unlinks their parts' blobs (at open, clean_orphans would find them anyway).
 */
static int clean_abandoned(struct local *lo, int64_t abandon_after_ms)
{
    int64_t cutoff = clock_now_ms() - abandon_after_ms;
    char cut[32];
    snprintf(cut, sizeof(cut), "%lld", (long long)cutoff);
    json_t *blobs = json_array();
    store_lock(lo->st);
    int rc = store_begin(lo->st);
    if (rc == 0) {
        rc = collect_blobs(lo,
                           "SELECT p.blob FROM lake_parts p JOIN lake_uploads u"
                           " ON p.upload_id=u.upload_id WHERE u.initiated_ms<CAST(? AS INTEGER)",
                           cut, blobs);
    }
    if (rc == 0) {
        rc = exec_bound(lo,
                        "DELETE FROM lake_parts WHERE upload_id IN (SELECT upload_id FROM"
                        " lake_uploads WHERE initiated_ms<CAST(? AS INTEGER))",
                        cut);
    }
    if (rc == 0) {
        rc = exec_bound(lo, "DELETE FROM lake_uploads WHERE initiated_ms<CAST(? AS INTEGER)", cut);
    }
    if (rc == 0) {
        rc = store_commit(lo->st);
    }
    if (rc < 0) {
        store_rollback(lo->st);
        json_array_clear(blobs);
    }
    store_unlock(lo->st);
    if (json_array_size(blobs) > 0) {
        log_msg(LOG_INFO, "lake", "removed %zu parts of abandoned multipart uploads",
                json_array_size(blobs));
    }
    unlink_all(lo, blobs);
    json_decref(blobs);
    return rc;
}

static void local_close(void *be)
{
    struct local *lo = be;
    if (lo == NULL) {
        return;
    }
    for (int i = 0; i < 256; i++) {
        if (lo->dir_fds[i] >= 0) {
            close(lo->dir_fds[i]);
        }
    }
    pthread_mutex_destroy(&lo->gc_lock);
    pthread_cond_destroy(&lo->gc_cond);
    pthread_cond_destroy(&lo->gc_arrive);
    free(lo);
}

static const char *objects_dir(void *be)
{
    return ((struct local *)be)->objects_dir;
}

/* ---- for lake_versions.c, which keeps older versions in the same store and files ---- */

struct store *lake__local_store(void *be)
{
    return ((struct local *)be)->st;
}

int lake__local_blob_open(void *be, const char *id, int *fd_out, char **path_out)
{
    return blob_open_locked(be, id, fd_out, path_out);
}

void lake__local_blob_unlink(void *be, const char *id)
{
    blob_unlink(be, id);
}

int lake__local_open(struct store *st, const char *root, int64_t abandon_after_ms, void **be_out)
{
    struct local *lo = xcalloc(1, sizeof(*lo));
    lo->st = st;
    pthread_mutex_init(&lo->gc_lock, NULL);
    lo->abandon_after_ms = abandon_after_ms;
    atomic_store(&lo->last_sweep_ms, clock_now_ms());
    pthread_cond_init(&lo->gc_cond, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&lo->gc_arrive, &ca);
    pthread_condattr_destroy(&ca);
    for (int i = 0; i < 256; i++) {
        lo->dir_fds[i] = -1;
    }
    snprintf(lo->root, sizeof(lo->root), "%s", root);
    snprintf(lo->objects_dir, sizeof(lo->objects_dir), "%s/objects", root);
    snprintf(lo->tmp_dir, sizeof(lo->tmp_dir), "%s/tmp", root);
    int rc = make_dir(lo->root);
    if (rc == 0) {
        rc = make_dir(lo->objects_dir);
    }
    if (rc == 0) {
        rc = make_dir(lo->tmp_dir);
    }
    for (int i = 0; i < 256 && rc == 0; i++) {
        char path[700];
        snprintf(path, sizeof(path), "%s/%02x", lo->objects_dir, i);
        rc = make_dir(path);
        if (rc == 0) {
            lo->dir_fds[i] = file_open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
            if (lo->dir_fds[i] < 0) {
                rc = -errno;
            }
        }
    }
    if (rc == 0) {
        rc = store_migrate(st, "lake", migrations, sizeof(migrations) / sizeof(migrations[0]));
    }
    if (rc == 0) {
        rc = lake__small_ensure(st);
    }
    if (rc == 0) {
        clean_tmp(lo);
        rc = clean_abandoned(lo, abandon_after_ms);
    }
    if (rc == 0) {
        rc = clean_orphans(lo);
    }
    if (rc < 0) {
        local_close(lo);
        return rc;
    }
    *be_out = lo;
    return 0;
}

/* ---- object ACLs ---- */

static int object_acl_put(void *be, const char *bucket, const char *key, const char *stamp,
                          const char *acl, struct err_info *err)
{
    struct local *lo = be;
    store_lock(lo->st);
    struct store_stmt *s;
    int rc = prepare(lo,
                     "INSERT OR REPLACE INTO lake_object_acls(bucket,key,stamp,acl) "
                     "VALUES(?,?,?,?)",
                     &s);
    if (rc == 0) {
        store_bind_text(s, 1, bucket);
        store_bind_text(s, 2, key);
        store_bind_text(s, 3, stamp);
        store_bind_text(s, 4, acl);
        rc = store_step(s);
        store_finalize(s);
    }
    store_unlock(lo->st);
    return rc < 0 ? internal(err, rc) : 0;
}

static int object_acl_get(void *be, const char *bucket, const char *key, const char *stamp,
                          char **acl_out, struct err_info *err)
{
    struct local *lo = be;
    *acl_out = NULL;
    store_read_begin(lo->st);
    struct store_stmt *s;
    int rc = prepare(lo, "SELECT acl FROM lake_object_acls WHERE bucket=? AND key=? AND stamp=?",
                     &s);
    if (rc == 0) {
        store_bind_text(s, 1, bucket);
        store_bind_text(s, 2, key);
        store_bind_text(s, 3, stamp);
        rc = store_step(s);
        if (rc == 1) {
            *acl_out = dup_col(s, 0);
        }
        store_finalize(s);
    }
    store_read_end(lo->st);
    return rc < 0 ? internal(err, rc) : 0;
}

const struct lake_backend_ops lake__local_ops = {
    .name = "local",
    .close = local_close,
    .objects_dir = objects_dir,
    .bucket_create = bucket_create,
    .bucket_get = bucket_get,
    .bucket_list = bucket_list,
    .bucket_delete = bucket_delete,
    .bucket_doc_put = bucket_doc_put,
    .bucket_doc_get = bucket_doc_get,
    .blob_open = blob_open,
    .blob_write = blob_write,
    .blob_adopt = blob_adopt,
    .blob_discard = blob_discard,
    .object_commit = object_commit,
    .object_head = object_head,
    .object_delete = object_delete,
    .object_tags_put = object_tags_put,
    .object_tags_get = object_tags_get,
    .object_list = object_list,
    .upload_create = upload_create,
    .upload_get = upload_get,
    .part_commit = part_commit,
    .upload_complete = upload_complete,
    .upload_abort = upload_abort,
    .upload_list = upload_list,
    .part_list = part_list,
    .object_acl_put = object_acl_put,
    .object_acl_get = object_acl_get,
    .bucket_usage = bucket_usage,
};
