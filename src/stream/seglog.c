/*
 * The segment log: appends, group commit, reads, time search, retention, recovery.
 *
 * The on-disk format, its validity rules and the recovery algorithm are specified at the
 * top of seglog_format.c; this file is the live object.
 *
 * Locking. Two mutexes, always taken in this order:
 *   append_mu serialises the writers of the files: appends, segment rolls and trims. It is
 *             held across the pwrite of an append and across the fdatasync of a roll, so no
 *             append can slip between a roll's steps.
 *   mu        guards the in-memory state (segment list, counters, sparse entries) and is only
 *             ever held for short, syscall-free sections (except opening a sealed segment's
 *             descriptor for a reader), never across a pwrite or an fsync.
 * Readers and syncers take only mu, so they never wait behind a write or a roll.
 *
 * Durability. next_index counts records written to the OS (published under mu after the
 * pwrite returned); durable_index counts records covered by a completed fdatasync. A sync
 * caller either waits on `cond` while another thread (the leader) syncs, or becomes the
 * leader: it snapshots next_index, the active segment and its length under mu, drops mu,
 * fdatasyncs that one segment, and publishes the snapshot as the durable index (and the
 * segment's durable_len). Only the active segment can hold records that are not durable,
 * because a roll fdatasyncs the old segment (and fsyncs the directory for the new one)
 * before the new segment takes any record.
 *
 * Failures. The rule: a record whose append or sync was reported failed is never visible,
 * neither before nor after a restart (a producer retries it; seeing it twice would be a
 * duplicate), and every record reported durable stays.
 *   - A failed or short write is retryable: before seglog_append returns the error, the
 *     segment file is cut back to the last whole record (ftruncate; if that fails, the frame
 *     header at that offset is overwritten with zeros, which recovery treats as the end of
 *     the log) and the cut is fdatasynced, so the failed batch's whole frames cannot be
 *     found by recovery even after a crash or power loss. The in-memory write position never
 *     moved, so the next append overwrites the same place. A full disk thus fails appends
 *     only while it is full.
 *   - A failed flush (fdatasync of a sync, of a roll or of a rollback; the directory fsync of
 *     a roll), or a rollback that could not cut the file, is sticky: sticky_err fails every
 *     later append and sync until the log is reopened, because a failed fsync may have
 *     dropped dirty pages and a retry could report success for lost data. Before any caller
 *     learns of it (waiters sleep while `cutting`), the active segment is cut back to its
 *     durable_len, the length of the records acknowledged as durable, so the records whose
 *     sync is now reported failed are gone from the file as well: the kernel holds the cut,
 *     so a kill -9 or a restart cannot bring them back. The cut is fdatasynced as a last
 *     effort; if that fails too, a power loss could still resurrect them, which is logged.
 *
 * Segment lifetime. A struct seg is reference counted under mu: the segment list holds one
 * reference, and every reader or sync leader using the segment's descriptor outside mu holds
 * another. Retention removes a segment from the list and unlinks its files at once; the
 * memory and descriptor go when the last reference does. Sealed segments open their
 * descriptor on demand and at most MAX_SEALED_OPEN idle ones stay open.
 */
#include "stream/seglog.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/file.h"
#include "core/log.h"
#include "core/mem.h"
#include "stream/seglog_int.h"

#define DEFAULT_SEGMENT_BYTES (64ull * 1024 * 1024)
#define DEFAULT_INDEX_EVERY (64u * 1024)
#define MAX_SEALED_OPEN 8 /* idle descriptors of sealed segments kept open */

struct seg {
    uint64_t base_index;           /* index of the first record; immutable */
    uint64_t end_index;            /* index after the last written record (mu) */
    uint64_t size_bytes;           /* file length covering every written record (mu) */
    uint64_t durable_len;          /* prefix of the file covered by a completed fdatasync,
                                      bytes: what a failed flush cuts back to (mu) */
    int64_t last_arrival_ms;       /* of the last written record, the floor when none (mu) */
    struct seglog_entries entries; /* sparse index (mu; grown only under append_mu too) */
    int fd;                        /* segment descriptor, -1 when closed (mu) */
    int idx_fd;                    /* index file of the active segment, else -1 (append_mu) */
    unsigned refs;                 /* list reference + users outside mu (mu) */
    int sealed;                    /* 1 once a newer segment exists (mu) */
};

struct seglog {
    char *dir;                  /* directory path, owned */
    int dir_fd;                 /* the directory, for fsync */
    uint64_t segment_bytes;     /* roll threshold, bytes */
    uint32_t index_every_bytes; /* sparse index granularity, bytes */
    pthread_mutex_t append_mu;  /* serialises appends, rolls and trims (see top) */
    pthread_mutex_t mu;         /* guards everything below */
    pthread_cond_t cond;        /* signalled when a sync leader finishes or durability grows */
    struct seg **segs;          /* retained segments, oldest first; the last is active */
    size_t n_segs, cap_segs;
    uint64_t next_index;        /* index the next append gets */
    int64_t last_arrival_ms;    /* arrival of the newest written record (or the floor) */
    uint64_t durable_index;     /* records below are durable */
    int64_t durable_arrival_ms; /* arrival of the newest durable record (or the floor) */
    int syncing;                /* 1 while a sync leader is in fdatasync (or handles its
                                   failure) */
    int cutting;                /* 1 while a failed flush cuts the active segment back */
    int sticky_err;             /* first failed flush or failed rollback (-errno), 0 if none */
    uint64_t total_bytes;       /* sum of the segments' size_bytes */
    unsigned n_sealed_open;     /* sealed segments with an open descriptor */
};

static struct seg *active_seg(struct seglog *log)
{
    return log->segs[log->n_segs - 1];
}

static void path_of(const struct seglog *log, uint64_t base, const char *suffix,
                    char out[PATH_MAX])
{
    snprintf(out, PATH_MAX, "%s/%020llu%s", log->dir, (unsigned long long)base, suffix);
}

static struct seg *seg_new(uint64_t base, int64_t floor_ms)
{
    struct seg *s = xcalloc(1, sizeof(*s));
    s->base_index = base;
    s->end_index = base;
    s->size_bytes = SEG_HEADER_LEN;
    s->durable_len = SEG_HEADER_LEN;
    s->last_arrival_ms = floor_ms;
    s->fd = -1;
    s->idx_fd = -1;
    s->refs = 1;
    return s;
}

/* Drops one reference (mu held, or no other thread exists); frees on the last. */
static void seg_release(struct seglog *log, struct seg *s)
{
    SL_ASSERT(s->refs > 0);
    if (--s->refs > 0) {
        return;
    }
    if (s->fd >= 0) {
        close(s->fd);
        if (s->sealed) {
            log->n_sealed_open--;
        }
    }
    if (s->idx_fd >= 0) {
        close(s->idx_fd);
    }
    seglog__entries_free(&s->entries);
    free(s);
}

/* Closes idle sealed descriptors until at most MAX_SEALED_OPEN remain (mu held). */
static void close_idle_sealed(struct seglog *log, const struct seg *keep)
{
    for (size_t i = 0; i < log->n_segs && log->n_sealed_open > MAX_SEALED_OPEN; i++) {
        struct seg *s = log->segs[i];
        if (s != keep && s->sealed && s->fd >= 0 && s->refs == 1) {
            close(s->fd);
            s->fd = -1;
            log->n_sealed_open--;
        }
    }
}

/* Takes a reference for use outside mu and makes sure the descriptor is open (mu held).
 * Returns 0 or -errno. */
static int seg_acquire(struct seglog *log, struct seg *s)
{
    if (s->fd < 0) {
        char path[PATH_MAX];
        path_of(log, s->base_index, SEG_SUFFIX, path);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            return -errno;
        }
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL); /* readers stream through */
        s->fd = fd;
        log->n_sealed_open++;
        close_idle_sealed(log, s);
    }
    s->refs++;
    return 0;
}

static void segs_push(struct seglog *log, struct seg *s)
{
    if (log->n_segs == log->cap_segs) {
        log->cap_segs = log->cap_segs ? log->cap_segs * 2 : 8;
        log->segs = xrealloc(log->segs, log->cap_segs * sizeof(*log->segs));
    }
    log->segs[log->n_segs++] = s;
    log->total_bytes += s->size_bytes;
}

/* The segment holding index (mu held); the caller knows first <= index < next_index. */
static struct seg *seg_find(struct seglog *log, uint64_t index)
{
    size_t lo = 0, hi = log->n_segs;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (log->segs[mid]->base_index <= index) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return log->segs[lo];
}

/* The last sparse entry of s at or before index (mu held); s holds index. */
static struct seglog_idx_entry entry_at_or_before(const struct seg *s, uint64_t index)
{
    size_t lo = 0, hi = s->entries.n;
    SL_ASSERT(hi > 0);
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->entries.v[mid].index <= index) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return s->entries.v[lo];
}

/* Writes a whole index file for s (header, entries, footer if sealed_len != 0) at path via
 * fd (truncating it). Index files are a cache: callers may ignore failures. */
static int idx_write_all(int fd, const struct seg *s, uint32_t every, uint64_t sealed_len)
{
    struct seglog_idx_footer footer = {sealed_len, s->end_index, s->last_arrival_ms};
    size_t len = seglog__idx_encoded_len(s->entries.n, sealed_len != 0);
    uint8_t *p = try_malloc(len);
    if (p == NULL) {
        return SL_E(NOMEM);
    }
    seglog__idx_encode(p, s->base_index, every, s->entries.v, s->entries.n,
                       sealed_len != 0 ? &footer : NULL);
    int rc = seglog__pwrite_full(fd, p, len, 0);
    if (rc == 0 && file_ftruncate(fd, (off_t)len) != 0) {
        rc = -errno;
    }
    free(p);
    return rc;
}

static int idx_write_path(const char *path, const struct seg *s, uint32_t every,
                          uint64_t sealed_len)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        return -errno;
    }
    int rc = idx_write_all(fd, s, every, sealed_len);
    close(fd);
    return rc;
}

/* Creates the files of a new, empty segment and returns it with its descriptors open (the
 * segment file O_RDWR, the index file too). Not fsynced. Returns 0 or -errno. */
static int seg_create(struct seglog *log, uint64_t base, int64_t floor_ms, struct seg **out)
{
    char path[PATH_MAX];
    path_of(log, base, SEG_SUFFIX, path);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        return -errno;
    }
    uint8_t hdr[SEG_HEADER_LEN];
    struct seglog_seg_header h = {base, floor_ms};
    seglog__seg_header_encode(hdr, &h);
    int rc = seglog__pwrite_full(fd, hdr, sizeof(hdr), 0);
    if (rc != 0) {
        close(fd);
        unlink(path);
        return rc;
    }
    struct seg *s = seg_new(base, floor_ms);
    s->fd = fd;
    path_of(log, base, IDX_SUFFIX, path);
    s->idx_fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (s->idx_fd >= 0) {
        (void)idx_write_all(s->idx_fd, s, log->index_every_bytes, 0);
    }
    *out = s;
    return 0;
}

/*
 * Makes every byte of the segment open at fd from offset len on invisible to recovery:
 * ftruncate to len, or, when that fails, zeros over the frame header at len (an invalid
 * frame, where recovery's scan stops and cuts). Returns 0 (truncated), 1 (only hidden
 * behind zeros: the bytes after them remain, so the file must not be appended to again
 * before recovery), or the ftruncate's -errno when neither worked.
 */
static int cut_tail(int fd, uint64_t len)
{
    if (file_ftruncate(fd, (off_t)len) == 0) {
        return 0;
    }
    int rc = -errno;
    static const uint8_t zeros[FRAME_HEADER_LEN];
    if (seglog__pwrite_full(fd, zeros, sizeof(zeros), len) == 0) {
        return 1;
    }
    return rc;
}

/*
 * A flush failed with err, or a rollback could not cut the file (append_mu held, mu not):
 * the log goes sticky, then the active segment is cut back to its durable length and the
 * in-memory state with it, so the records whose sync will now be reported failed exist
 * nowhere. Sync callers wait (`cutting`) until the cut is done. Failures of the cut itself
 * can only be logged: the log is sticky already.
 */
static void flush_failed(struct seglog *log, int err, const char *what)
{
    log_msg(LOG_ERROR, "seglog", "%s: %s failed, log refuses appends until reopened: %s", log->dir,
            what, sl_strerror(err));
    pthread_mutex_lock(&log->mu);
    if (log->sticky_err == 0) {
        log->sticky_err = err;
    }
    log->cutting = 1;
    struct seg *a = active_seg(log);
    uint64_t keep_len = a->durable_len;
    uint64_t written_len = a->size_bytes;
    pthread_mutex_unlock(&log->mu);

    /* a's file changes only under append_mu, which we hold; readers never go past
     * durable_index, which lies inside keep_len. */
    int rc = cut_tail(a->fd, keep_len);
    if (rc < 0) {
        log_msg(LOG_ERROR, "seglog",
                "%s: cannot cut segment %llu back to %llu bytes (%s): records past that offset "
                "were reported failed but may reappear when the log is reopened",
                log->dir, (unsigned long long)a->base_index, (unsigned long long)keep_len,
                sl_strerror(rc));
    } else if (file_fdatasync(a->fd) != 0) {
        /* Not a retry that could report anything durable: it only pushes the cut out. */
        log_msg(LOG_ERROR, "seglog",
                "%s: the cut of segment %llu to %llu bytes may not be on disk (%s): after a "
                "power loss records past it could reappear",
                log->dir, (unsigned long long)a->base_index, (unsigned long long)keep_len,
                sl_strerror(-errno));
    }
    pthread_mutex_lock(&log->mu);
    while (a->entries.n > 1 && a->entries.v[a->entries.n - 1].offset >= keep_len) {
        a->entries.n--;
    }
    if (a->entries.n == 1 && a->entries.v[0].offset >= keep_len) {
        a->entries.n = 0;
    }
    if (written_len > keep_len) {
        log->total_bytes -= written_len - keep_len;
    }
    a->size_bytes = keep_len;
    a->end_index = log->durable_index;
    a->last_arrival_ms = log->durable_arrival_ms;
    log->next_index = log->durable_index;
    log->last_arrival_ms = log->durable_arrival_ms;
    log->cutting = 0;
    pthread_cond_broadcast(&log->cond);
    pthread_mutex_unlock(&log->mu);
    if (a->idx_fd >= 0) {
        (void)idx_write_all(a->idx_fd, a, log->index_every_bytes, 0); /* a cache */
    }
}

/*
 * A write of an append to segment s at offset off failed with err (append_mu held, mu
 * not): roll the file back to off, the end of its last whole record, and make that
 * durable. The in-memory state was not advanced, so the log is as before the append and the
 * next append may succeed. When the rollback cannot be made (or made durable) the failure
 * becomes sticky through flush_failed.
 */
static void write_failed(struct seglog *log, struct seg *s, uint64_t off, int err)
{
    int rc = cut_tail(s->fd, off);
    if (rc != 0) {
        log_msg(LOG_ERROR, "seglog", "%s: write failed (%s) and its rollback too (%s)", log->dir,
                sl_strerror(err),
                rc < 0 ? sl_strerror(rc) : "ftruncate failed, tail hidden behind zeros");
        flush_failed(log, err, "rollback of a failed write");
        return;
    }
    if (file_fdatasync(s->fd) != 0) {
        flush_failed(log, -errno, "fdatasync of a rolled back write");
        return;
    }
    log_msg(LOG_WARN, "seglog", "%s: write failed (%s); rolled back to the last whole record",
            log->dir, sl_strerror(err));
}

/*
 * Seals the active segment and starts a new one at next_index (append_mu held, mu not):
 * fdatasync the old segment, seal its index file, create the new segment, fsync the
 * directory, then install it. Returns 0 or -errno. A failed flush is sticky (flush_failed
 * ran); a new segment that could not be created (a full disk) leaves the log as it was, and
 * the next append tries the roll again.
 */
static int roll(struct seglog *log)
{
    pthread_mutex_lock(&log->mu);
    struct seg *old = active_seg(log);
    uint64_t base = log->next_index;
    int64_t floor_ms = log->last_arrival_ms;
    pthread_mutex_unlock(&log->mu);

    /* old's fields change only under append_mu, which we hold. */
    if (file_fdatasync(old->fd) != 0) {
        int rc = -errno;
        flush_failed(log, rc, "fdatasync of a full segment");
        return rc;
    }
    if (old->idx_fd >= 0 &&
        idx_write_all(old->idx_fd, old, log->index_every_bytes, old->size_bytes) != 0) {
        log_msg(LOG_WARN, "seglog", "%s: could not seal index of segment %llu", log->dir,
                (unsigned long long)old->base_index);
    }
    struct seg *s = NULL;
    int rc = seg_create(log, base, floor_ms, &s);
    if (rc != 0) {
        /* old stays the active segment: its index file must not look sealed. */
        if (old->idx_fd >= 0) {
            (void)idx_write_all(old->idx_fd, old, log->index_every_bytes, 0);
        }
        log_msg(LOG_WARN, "seglog", "%s: cannot start segment %llu: %s", log->dir,
                (unsigned long long)base, sl_strerror(rc));
        return rc;
    }
    char path[PATH_MAX];
    path_of(log, base, SEG_SUFFIX, path);
    if (file_fsync(log->dir_fd) != 0) {
        rc = -errno;
        /* The new file goes before old is cut back: a segment after a cut one would be a
         * gap, which recovery refuses. */
        seg_release(log, s);
        (void)unlink(path);
        path_of(log, base, IDX_SUFFIX, path);
        (void)unlink(path);
        flush_failed(log, rc, "fsync of the log directory");
        return rc;
    }
    pthread_mutex_lock(&log->mu);
    if (log->sticky_err != 0) {
        /* A sync leader's fdatasync failed meanwhile (and cut old back): the roll's own
         * fdatasync may have succeeded only because that error was already reported. */
        rc = log->sticky_err;
        pthread_mutex_unlock(&log->mu);
        seg_release(log, s);
        (void)unlink(path);
        path_of(log, base, IDX_SUFFIX, path);
        (void)unlink(path);
        return rc;
    }
    if (old->idx_fd >= 0) {
        close(old->idx_fd);
        old->idx_fd = -1;
    }
    old->durable_len = old->size_bytes;
    old->sealed = 1;
    log->n_sealed_open++;
    segs_push(log, s);
    if (log->durable_index < old->end_index) {
        log->durable_index = old->end_index;
        log->durable_arrival_ms = old->last_arrival_ms;
        pthread_cond_broadcast(&log->cond);
    }
    close_idle_sealed(log, NULL);
    pthread_mutex_unlock(&log->mu);
    return 0;
}

static int mkdir_p(const char *dir)
{
    if (dir[0] == '\0') {
        return -EINVAL;
    }
    char *p = xstrdup(dir);
    int rc = 0;
    for (char *q = p + 1;; q++) {
        if (*q == '/' || *q == '\0') {
            char c = *q;
            *q = '\0';
            if (mkdir(p, 0700) != 0 && errno != EEXIST) {
                rc = -errno;
                break;
            }
            *q = c;
            if (c == '\0') {
                break;
            }
        }
    }
    free(p);
    return rc;
}

/*
 * Loads sealed segment `base`: header check, then its index file if trusted, else a full
 * scan (which must find the whole file valid) and a rewritten index file. Returns 0 with
 * *out, SL_E(CORRUPT), -errno, SL_E(NOMEM).
 */
static int load_sealed(struct seglog *log, uint64_t base, struct seg **out)
{
    char path[PATH_MAX], ipath[PATH_MAX];
    path_of(log, base, SEG_SUFFIX, path);
    path_of(log, base, IDX_SUFFIX, ipath);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    int rc = 0;
    struct seg *s = NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        goto out_close;
    }
    uint8_t hdr[SEG_HEADER_LEN];
    size_t got = 0;
    rc = seglog__pread_full(fd, hdr, sizeof(hdr), 0, &got);
    if (rc != 0) {
        goto out_close;
    }
    struct seglog_seg_header h;
    const char *why = got < SEG_HEADER_LEN ? "sealed segment shorter than its header"
                                           : seglog__seg_header_decode(hdr, &h);
    if (why == NULL && h.base_index != base) {
        why = "segment header base index disagrees with the file name";
    }
    if (why != NULL) {
        rc = SL_CORRUPT(path, 0, why);
        goto out_close;
    }
    s = seg_new(base, h.arrival_floor_ms);
    struct seglog_idx_footer footer;
    int has_footer = 0;
    rc = seglog__idx_load(ipath, base, &s->entries, &footer, &has_footer, &why);
    if (rc != 0) {
        goto out_close;
    }
    if (why == NULL && !has_footer) {
        why = "index file not sealed";
    }
    if (why == NULL && footer.seg_len != (uint64_t)st.st_size) {
        why = "index footer length disagrees with the segment";
    }
    if (why == NULL && s->entries.n > 0 &&
        s->entries.v[s->entries.n - 1].offset >= (uint64_t)st.st_size) {
        why = "index entry past the end of the segment";
    }
    if (why == NULL) {
        s->end_index = footer.end_index;
        s->last_arrival_ms = footer.last_arrival_ms;
        s->size_bytes = footer.seg_len;
        s->durable_len = s->size_bytes;
        goto out_close;
    }
    log_msg(LOG_WARN, "seglog", "%s: %s; rebuilding it from the segment", ipath, why);
    seglog__entries_free(&s->entries);
    struct seglog_scan sc = {.base_index = base, .index_every_bytes = log->index_every_bytes};
    rc = seglog__scan(fd, &sc);
    if (rc != 0) {
        seglog__entries_free(&sc.entries);
        goto out_close;
    }
    if (sc.header_short || sc.bad_why != NULL) {
        rc = SL_CORRUPT(path, (long long)sc.bad_offset,
                        sc.bad_why ? sc.bad_why : "sealed segment header torn");
        seglog__entries_free(&sc.entries);
        goto out_close;
    }
    s->entries = sc.entries;
    s->end_index = sc.end_index;
    s->last_arrival_ms = sc.last_arrival_ms;
    s->size_bytes = sc.file_len;
    s->durable_len = s->size_bytes;
    if (idx_write_path(ipath, s, log->index_every_bytes, s->size_bytes) != 0) {
        log_msg(LOG_WARN, "seglog", "%s: could not rewrite index file", ipath);
    }
out_close:
    close(fd);
    if (rc != 0 && s != NULL) {
        seg_release(log, s);
        s = NULL;
    }
    *out = s;
    return rc;
}

/*
 * Recovers the newest segment `base`: rewrite a torn header, or scan and cut the file after
 * its last valid record; rebuild its index file; fdatasync. floor_ms is the previous
 * segment's last arrival (for a rewritten header). Returns 0 with *out (descriptors open),
 * SL_E(CORRUPT) for a damaged header, -errno, SL_E(NOMEM).
 */
static int recover_active(struct seglog *log, uint64_t base, int64_t floor_ms, struct seg **out)
{
    char path[PATH_MAX];
    path_of(log, base, SEG_SUFFIX, path);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    struct seglog_scan sc = {.base_index = base, .index_every_bytes = log->index_every_bytes};
    int rc = seglog__scan(fd, &sc);
    if (rc != 0) {
        goto out_fail;
    }
    struct seg *s = NULL;
    if (sc.header_short) {
        log_msg(LOG_WARN, "seglog", "%s: header torn at creation; rewriting it", path);
        uint8_t hdr[SEG_HEADER_LEN];
        struct seglog_seg_header h = {base, floor_ms};
        seglog__seg_header_encode(hdr, &h);
        rc = seglog__pwrite_full(fd, hdr, sizeof(hdr), 0);
        if (rc == 0 && file_ftruncate(fd, SEG_HEADER_LEN) != 0) {
            rc = -errno;
        }
        if (rc != 0) {
            goto out_fail;
        }
        s = seg_new(base, floor_ms);
    } else if (sc.valid_len == 0) {
        rc = SL_CORRUPT(path, 0, sc.bad_why);
        goto out_fail;
    } else {
        if (sc.bad_why != NULL) {
            (void)SL_CORRUPT(path, (long long)sc.bad_offset, sc.bad_why);
            log_msg(LOG_WARN, "seglog", "%s: cutting the tail at offset %llu (%llu bytes)", path,
                    (unsigned long long)sc.valid_len,
                    (unsigned long long)(sc.file_len - sc.valid_len));
        }
        if (sc.valid_len != sc.file_len && file_ftruncate(fd, (off_t)sc.valid_len) != 0) {
            rc = -errno;
            goto out_fail;
        }
        s = seg_new(base, sc.arrival_floor_ms);
        s->entries = sc.entries;
        sc.entries = (struct seglog_entries){0};
        s->end_index = sc.end_index;
        s->last_arrival_ms = sc.last_arrival_ms;
        s->size_bytes = sc.valid_len;
    }
    if (file_fdatasync(fd) != 0) {
        rc = -errno;
        seg_release(log, s);
        goto out_fail;
    }
    s->fd = fd;
    s->durable_len = s->size_bytes;
    path_of(log, base, IDX_SUFFIX, path);
    s->idx_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->idx_fd < 0 || idx_write_all(s->idx_fd, s, log->index_every_bytes, 0) != 0) {
        log_msg(LOG_WARN, "seglog", "%s: could not rewrite index file", path);
    }
    *out = s;
    return 0;
out_fail:
    seglog__entries_free(&sc.entries);
    close(fd);
    return rc;
}

/* Deletes the files of segment base (index first, so a crash leaves at worst a segment
 * without index, which open rebuilds). */
static void unlink_segment(const struct seglog *log, uint64_t base)
{
    char path[PATH_MAX];
    path_of(log, base, IDX_SUFFIX, path);
    (void)unlink(path);
    path_of(log, base, SEG_SUFFIX, path);
    if (unlink(path) != 0 && errno != ENOENT) {
        log_msg(LOG_WARN, "seglog", "%s: unlink failed: %s", path, sl_strerror(-errno));
    }
}

/* Loads every segment of a log directory (steps 2-4 of recovery in seglog_format.c). */
static int load_all(struct seglog *log, uint64_t first_index)
{
    uint64_t *bases = NULL;
    size_t n = 0;
    int rc = seglog__list_segments(log->dir, &bases, &n);
    if (rc != 0) {
        return rc;
    }
    if (n == 0) {
        struct seg *s = NULL;
        rc = seg_create(log, first_index, 0, &s);
        if (rc == 0 && (file_fdatasync(s->fd) != 0 || file_fsync(log->dir_fd) != 0)) {
            rc = -errno;
            seg_release(log, s);
        }
        if (rc == 0) {
            segs_push(log, s);
        }
        goto out_free;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        struct seg *s = NULL;
        rc = load_sealed(log, bases[i], &s);
        if (rc != 0) {
            goto out_free;
        }
        s->sealed = 1;
        if (s->end_index > bases[i + 1]) {
            char path[PATH_MAX];
            path_of(log, bases[i], SEG_SUFFIX, path);
            rc = SL_CORRUPT(path, 0, "segment overlaps the next one");
            seg_release(log, s);
            goto out_free;
        }
        if (s->end_index < bases[i + 1]) {
            /* Records are missing between the two. A trim never leaves this (it deletes
             * whole segments, oldest first, so a crash leaves a contiguous suffix); a
             * sealed segment cut short or a segment deleted from the middle does. Deleting
             * the older segments to close the gap would lose acknowledged records too. */
            char path[PATH_MAX];
            path_of(log, bases[i], SEG_SUFFIX, path);
            rc = SL_CORRUPT(path, 0, "segment ends before the next one starts (records missing)");
            seg_release(log, s);
            goto out_free;
        }
        segs_push(log, s);
    }
    int64_t floor_ms = log->n_segs > 0 ? active_seg(log)->last_arrival_ms : 0;
    struct seg *s = NULL;
    rc = recover_active(log, bases[n - 1], floor_ms, &s);
    if (rc != 0) {
        goto out_free;
    }
    segs_push(log, s);
out_free:
    free(bases);
    return rc;
}

int seglog_open(const char *dir, const struct seglog_options *opt, uint64_t first_index,
                struct seglog **out)
{
    *out = NULL;
    if (strlen(dir) + SEG_NAME_DIGITS + 8 >= PATH_MAX) {
        return -ENAMETOOLONG;
    }
    int rc = mkdir_p(dir);
    if (rc != 0) {
        return rc;
    }
    struct seglog *log = xcalloc(1, sizeof(*log));
    log->dir = xstrdup(dir);
    log->segment_bytes = opt && opt->segment_bytes ? opt->segment_bytes : DEFAULT_SEGMENT_BYTES;
    log->index_every_bytes =
        opt && opt->index_every_bytes ? opt->index_every_bytes : DEFAULT_INDEX_EVERY;
    pthread_mutex_init(&log->append_mu, NULL);
    pthread_mutex_init(&log->mu, NULL);
    pthread_cond_init(&log->cond, NULL);
    log->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (log->dir_fd < 0) {
        rc = -errno;
        goto out_fail;
    }
    rc = load_all(log, first_index);
    if (rc != 0) {
        goto out_fail;
    }
    struct seg *a = active_seg(log);
    log->next_index = a->end_index;
    log->durable_index = a->end_index;
    log->last_arrival_ms = a->last_arrival_ms;
    log->durable_arrival_ms = a->last_arrival_ms;
    *out = log;
    return 0;
out_fail:
    seglog_close(log);
    return rc;
}

void seglog_close(struct seglog *log)
{
    if (log == NULL) {
        return;
    }
    if (log->n_segs > 0) {
        (void)seglog_sync(log, UINT64_MAX);
    }
    for (size_t i = 0; i < log->n_segs; i++) {
        seg_release(log, log->segs[i]);
    }
    free(log->segs);
    if (log->dir_fd >= 0) {
        close(log->dir_fd);
    }
    pthread_cond_destroy(&log->cond);
    pthread_mutex_destroy(&log->mu);
    pthread_mutex_destroy(&log->append_mu);
    free(log->dir);
    free(log);
}

int seglog_append(struct seglog *log, const struct seglog_record_in *recs, size_t n,
                  int64_t now_ms, uint64_t *first_index_out, int64_t *arrival_ms_out)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const struct seglog_record_in *r = &recs[i];
        if (r->pk_len == 0 || r->pk_len > SEGLOG_MAX_PK_LEN || r->partition_key == NULL ||
            r->data_len > SEGLOG_MAX_DATA_LEN || (r->data_len > 0 && r->data == NULL)) {
            return SL_E(INVALID_ARGUMENT);
        }
        total += FRAME_HEADER_LEN + r->pk_len + r->data_len;
        if (total > SIZE_MAX / 4) {
            return SL_E(INVALID_ARGUMENT);
        }
    }
    if (n == 0) {
        pthread_mutex_lock(&log->mu);
        *first_index_out = log->next_index;
        *arrival_ms_out = log->last_arrival_ms;
        int err = log->sticky_err;
        pthread_mutex_unlock(&log->mu);
        return err;
    }
    /* Frames, then room for the sparse entries of this batch (at most one per record). */
    size_t frames_len = (total + 7) & ~(size_t)7;
    uint8_t *buf = try_malloc(frames_len + n * (sizeof(struct seglog_idx_entry) + IDX_ENTRY_LEN));
    if (buf == NULL) {
        return SL_E(NOMEM);
    }
    struct seglog_idx_entry *ents = (struct seglog_idx_entry *)(buf + frames_len);
    uint8_t *ents_enc = (uint8_t *)(ents + n);
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        pos += seglog__frame_encode(buf + pos, &recs[i]);
    }

    pthread_mutex_lock(&log->append_mu);
    pthread_mutex_lock(&log->mu);
    int rc = log->sticky_err;
    struct seg *s = active_seg(log);
    pthread_mutex_unlock(&log->mu);
    if (rc != 0) {
        goto out_unlock;
    }
    /* s's file-side fields change only under append_mu, which we hold. */
    if (s->end_index > s->base_index && s->size_bytes + total > log->segment_bytes) {
        rc = roll(log);
        if (rc != 0) {
            goto out_unlock;
        }
        pthread_mutex_lock(&log->mu);
        s = active_seg(log);
        pthread_mutex_unlock(&log->mu);
    }
    pthread_mutex_lock(&log->mu);
    uint64_t first = log->next_index;
    int64_t arrival = now_ms > log->last_arrival_ms ? now_ms : log->last_arrival_ms;
    pthread_mutex_unlock(&log->mu);
    uint64_t off = s->size_bytes;
    uint64_t last_entry_off = s->entries.n ? s->entries.v[s->entries.n - 1].offset : 0;
    int have_entry = s->entries.n > 0;
    size_t n_ents = 0;
    pos = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t *frame = buf + pos;
        seglog__frame_finish(frame, first + i, arrival);
        uint64_t foff = off + pos;
        if (!have_entry || foff - last_entry_off >= log->index_every_bytes) {
            ents[n_ents] = (struct seglog_idx_entry){first + i, foff, arrival};
            seglog__idx_entry_encode(ents_enc + n_ents * IDX_ENTRY_LEN, &ents[n_ents]);
            n_ents++;
            last_entry_off = foff;
            have_entry = 1;
        }
        pos += FRAME_HEADER_LEN + recs[i].pk_len + recs[i].data_len;
    }
    rc = seglog__pwrite_full(s->fd, buf, total, off);
    if (rc != 0) {
        write_failed(log, s, off, rc);
        goto out_unlock;
    }
    if (n_ents > 0 && s->idx_fd >= 0) {
        /* The index file is a cache rebuilt on open and at sealing: a failure is harmless. */
        uint64_t ioff = IDX_HEADER_LEN + (uint64_t)s->entries.n * IDX_ENTRY_LEN;
        (void)seglog__pwrite_full(s->idx_fd, ents_enc, n_ents * IDX_ENTRY_LEN, ioff);
    }
    pthread_mutex_lock(&log->mu);
    for (size_t i = 0; i < n_ents; i++) {
        seglog__entries_push(&s->entries, ents[i].index, ents[i].offset, ents[i].arrival_ms);
    }
    s->size_bytes = off + total;
    s->end_index = first + n;
    s->last_arrival_ms = arrival;
    log->total_bytes += total;
    log->next_index = first + n;
    log->last_arrival_ms = arrival;
    pthread_mutex_unlock(&log->mu);
    *first_index_out = first;
    *arrival_ms_out = arrival;
out_unlock:
    pthread_mutex_unlock(&log->append_mu);
    free(buf);
    return rc;
}

const unsigned seglog_batch_bounds[SEGLOG_BATCH_BUCKETS - 1] = {1,  2,   4,   8,   16,  32,
                                                                64, 128, 256, 512, 1024};
static atomic_ulong batch_counts[SEGLOG_BATCH_BUCKETS];
static atomic_ullong batch_records;

void seglog_batch_histogram(unsigned long counts[SEGLOG_BATCH_BUCKETS],
                            unsigned long long *sum_records)
{
    for (int i = 0; i < SEGLOG_BATCH_BUCKETS; i++) {
        counts[i] = atomic_load(&batch_counts[i]);
    }
    *sum_records = atomic_load(&batch_records);
}

static void batch_note(uint64_t n)
{
    int i = 0;
    while (i < SEGLOG_BATCH_BUCKETS - 1 && n > seglog_batch_bounds[i]) {
        i++;
    }
    atomic_fetch_add(&batch_counts[i], 1);
    atomic_fetch_add(&batch_records, n);
}

int seglog_sync(struct seglog *log, uint64_t upto)
{
    int rc = 0;
    pthread_mutex_lock(&log->mu);
    if (upto > log->next_index && log->sticky_err == 0) {
        /* (Not on a sticky log: a failed flush cut next_index back to the durable index,
         * and the records above it must still be reported failed.) */
        upto = log->next_index;
    }
    for (;;) {
        if (log->durable_index >= upto) {
            rc = 0;
            break;
        }
        if (log->syncing || log->cutting) {
            /* A failure is reported only once its records are cut (see the top). */
            pthread_cond_wait(&log->cond, &log->mu);
            continue;
        }
        if (log->sticky_err != 0) {
            rc = log->sticky_err;
            break;
        }
        /* Lead: one fdatasync for everything written so far. */
        log->syncing = 1;
        uint64_t target = log->next_index;
        int64_t target_arrival = log->last_arrival_ms;
        struct seg *s = active_seg(log);
        uint64_t target_len = s->size_bytes;
        s->refs++;
        pthread_mutex_unlock(&log->mu);
        int err = file_fdatasync(s->fd) != 0 ? -errno : 0;
        if (err != 0) {
            /* Sticky at once, so no roll or append builds on the lost pages; then cut. */
            pthread_mutex_lock(&log->mu);
            if (log->sticky_err == 0) {
                log->sticky_err = err;
            }
            pthread_mutex_unlock(&log->mu);
            pthread_mutex_lock(&log->append_mu);
            flush_failed(log, err, "fdatasync");
            pthread_mutex_unlock(&log->append_mu);
        }
        pthread_mutex_lock(&log->mu);
        log->syncing = 0;
        if (err == 0 && log->sticky_err == 0 && target > log->durable_index) {
            batch_note(target - log->durable_index);
            log->durable_index = target;
            log->durable_arrival_ms = target_arrival;
            if (target_len > s->durable_len) {
                s->durable_len = target_len;
            }
        }
        seg_release(log, s);
        pthread_cond_broadcast(&log->cond);
    }
    pthread_mutex_unlock(&log->mu);
    return rc;
}

uint64_t seglog_next_index(struct seglog *log)
{
    pthread_mutex_lock(&log->mu);
    uint64_t v = log->next_index;
    pthread_mutex_unlock(&log->mu);
    return v;
}

uint64_t seglog_durable_index(struct seglog *log)
{
    pthread_mutex_lock(&log->mu);
    uint64_t v = log->durable_index;
    pthread_mutex_unlock(&log->mu);
    return v;
}

uint64_t seglog_first_index(struct seglog *log)
{
    pthread_mutex_lock(&log->mu);
    uint64_t v = log->segs[0]->base_index;
    pthread_mutex_unlock(&log->mu);
    return v;
}

int64_t seglog_last_arrival_ms(struct seglog *log)
{
    pthread_mutex_lock(&log->mu);
    int64_t v = log->durable_arrival_ms;
    pthread_mutex_unlock(&log->mu);
    return v;
}

void seglog_get_stats(struct seglog *log, struct seglog_stats *out)
{
    pthread_mutex_lock(&log->mu);
    out->n_segments = log->n_segs;
    out->bytes = log->total_bytes;
    out->n_records = log->next_index - log->segs[0]->base_index;
    pthread_mutex_unlock(&log->mu);
}

/* State of one seglog_read call. */
struct read_ctx {
    size_t max_records, max_bytes; /* 0 = no limit */
    seglog_visit_flags_fn visit;
    void *arg;
    uint64_t cur;     /* next index to visit */
    size_t n_visited; /* records visited */
    size_t n_bytes;   /* data bytes visited */
    int done;         /* a limit was reached or visit asked to stop */
    int visit_rc;     /* negative value returned by visit */
    uint8_t *buf;     /* read buffer (owned) */
    size_t cap;       /* its size */
};

/*
 * Visits the records of segment s (a reference held, descriptor open) from the sparse entry
 * at (off, index) up to limit_index, reading no byte past len. Returns 0, SL_E(CORRUPT),
 * -errno, SL_E(NOMEM).
 */
static int read_segment(struct seglog *log, struct seg *s, uint64_t off, uint64_t index,
                        uint64_t limit_index, uint64_t len, struct read_ctx *c)
{
    int refill = 0;
    while (index < limit_index && !c->done) {
        if (refill++ > 0 && c->cap < SEGLOG_READ_MAX_CHUNK) {
            /* A long read (catching up): larger preads keep the disk streaming. */
            uint8_t *nb = try_realloc(c->buf, c->cap * 2);
            if (nb != NULL) {
                c->buf = nb;
                c->cap *= 2;
            }
        }
        size_t want = c->cap;
        if (len - off < want) {
            want = (size_t)(len - off);
        }
        size_t got = 0;
        int rc = seglog__pread_full(s->fd, c->buf, want, off, &got);
        if (rc != 0) {
            return rc;
        }
        size_t pos = 0;
        while (index < limit_index && !c->done) {
            struct seglog_frame f;
            size_t need = 0;
            const char *why = NULL;
            enum frame_result fr =
                seglog__frame_decode(c->buf + pos, got - pos, index, INT64_MIN, &f, &need, &why);
            if (fr == FRAME_SHORT && pos > 0) {
                break; /* refill from this frame */
            }
            if (fr == FRAME_SHORT && need > c->cap && off + need <= len) {
                uint8_t *nb = try_realloc(c->buf, need);
                if (nb == NULL) {
                    return SL_E(NOMEM);
                }
                c->buf = nb;
                c->cap = need;
                break; /* refill from this frame */
            }
            if (fr != FRAME_OK) {
                char path[PATH_MAX];
                path_of(log, s->base_index, SEG_SUFFIX, path);
                return SL_CORRUPT(path, (long long)(off + pos),
                                  fr == FRAME_SHORT ? "durable record past end of file" : why);
            }
            pos += f.len;
            index++;
            if (f.index < c->cur) {
                continue; /* before `from`, within the sparse interval */
            }
            if (c->max_records != 0 && c->n_visited >= c->max_records) {
                c->done = 1;
                break;
            }
            if (c->max_bytes != 0 && c->n_visited > 0 && c->n_bytes + f.data_len > c->max_bytes) {
                c->done = 1;
                break;
            }
            c->n_visited++;
            c->n_bytes += f.data_len;
            c->cur = f.index + 1;
            int v = c->visit(c->arg, f.index, f.arrival_ms, f.flags, (const char *)f.pk, f.pk_len,
                             f.data, f.data_len);
            if (v != 0) {
                c->done = 1;
                c->visit_rc = v < 0 ? v : 0;
            }
        }
        off += pos;
    }
    return 0;
}

int seglog_read_flags(struct seglog *log, uint64_t from, size_t max_records, size_t max_bytes,
                      seglog_visit_flags_fn visit, void *arg, uint64_t *next_out)
{
    struct read_ctx c = {.max_records = max_records, .max_bytes = max_bytes, .visit = visit,
                         .arg = arg, .cur = from};
    int rc = 0;
    pthread_mutex_lock(&log->mu);
    uint64_t first = log->segs[0]->base_index;
    if (c.cur < first) {
        c.cur = first;
    }
    while (!c.done && c.cur < log->durable_index) {
        if (c.cur < log->segs[0]->base_index) {
            break; /* trimmed while we read: stop here, the next call clamps */
        }
        struct seg *s = seg_find(log, c.cur);
        struct seglog_idx_entry e = entry_at_or_before(s, c.cur);
        uint64_t limit = s->end_index < log->durable_index ? s->end_index : log->durable_index;
        uint64_t len = s->size_bytes;
        rc = seg_acquire(log, s);
        if (rc != 0) {
            break;
        }
        pthread_mutex_unlock(&log->mu);
        if (c.buf == NULL) {
            c.cap = SEGLOG_READ_CHUNK;
            c.buf = try_malloc(c.cap);
        }
        rc = c.buf == NULL ? SL_E(NOMEM) : read_segment(log, s, e.offset, e.index, limit, len, &c);
        uint64_t seg_base = s->base_index;
        pthread_mutex_lock(&log->mu);
        seg_release(log, s);
        if (rc != 0) {
            break;
        }
        if (c.cur < limit && !c.done) {
            /* read_segment stops only at the limit, when done, or on an error: reaching
             * here means the sparse index pointed past the record wanted. */
            char path[PATH_MAX];
            path_of(log, seg_base, SEG_SUFFIX, path);
            rc = SL_CORRUPT(path, (long long)e.offset, "index entry past the record wanted");
            break;
        }
    }
    pthread_mutex_unlock(&log->mu);
    free(c.buf);
    *next_out = c.cur;
    return rc != 0 ? rc : c.visit_rc;
}

struct plain_visit {
    seglog_visit_fn visit;
    void *arg;
};

static int visit_without_flags(void *arg, uint64_t index, int64_t arrival_ms, unsigned flags,
                               const char *pk, size_t pk_len, const uint8_t *data, size_t data_len)
{
    (void)flags;
    struct plain_visit *pv = arg;
    return pv->visit(pv->arg, index, arrival_ms, pk, pk_len, data, data_len);
}

int seglog_read(struct seglog *log, uint64_t from, size_t max_records, size_t max_bytes,
                seglog_visit_fn visit, void *arg, uint64_t *next_out)
{
    struct plain_visit pv = {visit, arg};
    return seglog_read_flags(log, from, max_records, max_bytes, visit_without_flags, &pv,
                             next_out);
}

struct find_ctx {
    int64_t ts_ms;
    int found;
    uint64_t index;
};

static int find_visit(void *arg, uint64_t index, int64_t arrival_ms, const char *pk,
                      size_t pk_len, const uint8_t *data, size_t data_len)
{
    (void)pk;
    (void)pk_len;
    (void)data;
    (void)data_len;
    struct find_ctx *f = arg;
    if (arrival_ms >= f->ts_ms) {
        f->found = 1;
        f->index = index;
        return 1;
    }
    return 0;
}

int seglog_find_time(struct seglog *log, int64_t ts_ms, uint64_t *index_out)
{
    pthread_mutex_lock(&log->mu);
    uint64_t durable = log->durable_index;
    /* Segments with records are ordered by arrival; find the first whose last record is at
     * or after ts_ms. Only the active (last) segment can be empty. */
    size_t n = log->n_segs;
    if (n > 0 && log->segs[n - 1]->end_index == log->segs[n - 1]->base_index) {
        n--;
    }
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (log->segs[mid]->last_arrival_ms >= ts_ms) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    if (lo == n || log->segs[lo]->base_index >= durable) {
        pthread_mutex_unlock(&log->mu);
        *index_out = durable;
        return 0;
    }
    struct seg *s = log->segs[lo];
    /* The last sparse entry that arrived before ts_ms; the answer lies after it. */
    size_t elo = 0, ehi = s->entries.n;
    while (elo < ehi) {
        size_t mid = elo + (ehi - elo) / 2;
        if (s->entries.v[mid].arrival_ms < ts_ms) {
            elo = mid + 1;
        } else {
            ehi = mid;
        }
    }
    uint64_t start = elo == 0 ? s->base_index : s->entries.v[elo - 1].index;
    pthread_mutex_unlock(&log->mu);
    if (elo == 0) {
        *index_out = start; /* the segment's first record already qualifies */
        return 0;
    }
    struct find_ctx f = {.ts_ms = ts_ms};
    uint64_t next = 0;
    int rc = seglog_read(log, start, 0, 0, find_visit, &f, &next);
    if (rc != 0) {
        return rc;
    }
    *index_out = f.found ? f.index : next;
    return 0;
}

int seglog_trim_before(struct seglog *log, int64_t cutoff_ms, size_t *n_segments_deleted)
{
    size_t n_del = 0;
    int rc = 0;
    pthread_mutex_lock(&log->append_mu);
    pthread_mutex_lock(&log->mu);
    struct seg *a = active_seg(log);
    int roll_active = log->n_segs >= 1 && log->sticky_err == 0 &&
                      a->end_index > a->base_index && a->end_index <= log->durable_index &&
                      a->last_arrival_ms < cutoff_ms;
    for (size_t i = 0; i + 1 < log->n_segs; i++) {
        struct seg *s = log->segs[i];
        if (s->end_index > log->durable_index || s->last_arrival_ms >= cutoff_ms) {
            roll_active = 0;
            break;
        }
    }
    pthread_mutex_unlock(&log->mu);
    if (roll_active) {
        rc = roll(log);
        if (rc != 0) {
            goto out;
        }
    }
    pthread_mutex_lock(&log->mu);
    size_t k = 0;
    while (k + 1 < log->n_segs) {
        struct seg *s = log->segs[k];
        if (s->end_index > log->durable_index || s->last_arrival_ms >= cutoff_ms) {
            break;
        }
        k++;
    }
    struct seg **gone = k ? xmalloc(k * sizeof(*gone)) : NULL;
    for (size_t i = 0; i < k; i++) {
        gone[i] = log->segs[i];
        log->total_bytes -= gone[i]->size_bytes;
    }
    memmove(log->segs, log->segs + k, (log->n_segs - k) * sizeof(*log->segs));
    log->n_segs -= k;
    pthread_mutex_unlock(&log->mu);
    for (size_t i = 0; i < k; i++) {
        unlink_segment(log, gone[i]->base_index);
    }
    n_del = k;
    pthread_mutex_lock(&log->mu);
    for (size_t i = 0; i < k; i++) {
        seg_release(log, gone[i]);
    }
    pthread_mutex_unlock(&log->mu);
    free(gone);
out:
    pthread_mutex_unlock(&log->append_mu);
    if (n_segments_deleted != NULL) {
        *n_segments_deleted = n_del;
    }
    return rc;
}

int seglog_remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return errno == ENOENT ? 0 : -errno;
    }
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
            continue;
        }
        if (unlinkat(dirfd(d), de->d_name, 0) != 0 && errno != ENOENT && rc == 0) {
            rc = -errno;
        }
    }
    closedir(d);
    if (rmdir(dir) != 0 && errno != ENOENT && rc == 0) {
        rc = -errno;
    }
    return rc;
}
