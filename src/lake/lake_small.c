/*
 * Small objects of the local backend: stored bytes kept in the metadata store.
 *
 * An object of at most LAKE_SMALL_MAX bytes is not written to a file of its own: its
 * stored bytes (sealed in chunks exactly as its file would hold them, never plaintext)
 * go into lake_small, keyed by the blob id its row names, in the same group-committed
 * transaction as that row. One WAL fsync then makes bytes and row durable together for
 * every writer of the batch, where a file would cost a data fsync, a rename and a
 * directory fsync before the commit.
 *
 * The bytes live exactly as long as a row names their blob, in lake_objects (the current
 * version) or lake_versions (an older one): triggers on both tables remove them, in the
 * transaction that does it, once the last row naming the blob goes or comes to name
 * another. A version moving between the tables is inserted in one before it is deleted
 * from the other, so its bytes stay.
 *
 * Readers get a descriptor of a sealed in-memory copy, which they read as they read a
 * file: the same chunks, decrypted by the same code, unchanged if the object is replaced
 * meanwhile. A small object has no path: readers that need one take a view (lake.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/log.h"
#include "lake/lake_int.h"

/* LAKE__SMALL_STORED_MAX counts one chunk's overhead: a small object is one chunk. */
_Static_assert(LAKE_SMALL_MAX <= LAKE__CHUNK, "a small object is sealed in one chunk");

/* No row of either table names blob b any more. */
#define UNNAMED(b)                                                                                 \
    "NOT EXISTS(SELECT 1 FROM lake_objects WHERE blob=" b ")"                                      \
    " AND NOT EXISTS(SELECT 1 FROM lake_versions WHERE blob=" b ")"

#define DROP_OLD " BEGIN DELETE FROM lake_small WHERE id=old.blob; END;"

const char LAKE__SMALL_MIGRATION[] =
    "CREATE TABLE lake_small(id TEXT PRIMARY KEY, bytes BLOB NOT NULL);"
    "CREATE TRIGGER lake_small_object_gone AFTER DELETE ON lake_objects"
    " WHEN " UNNAMED("old.blob") DROP_OLD
    "CREATE TRIGGER lake_small_object_swap AFTER UPDATE OF blob ON lake_objects"
    " WHEN old.blob IS NOT new.blob AND " UNNAMED("old.blob") DROP_OLD
    "CREATE TRIGGER lake_small_version_gone AFTER DELETE ON lake_versions"
    " WHEN old.blob IS NOT NULL AND " UNNAMED("old.blob") DROP_OLD
    "CREATE TRIGGER lake_small_version_swap AFTER UPDATE OF blob ON lake_versions"
    " WHEN old.blob IS NOT NULL AND old.blob IS NOT new.blob AND " UNNAMED("old.blob") DROP_OLD;

int lake__small_put(struct store *st, const char *id, const void *data, size_t len)
{
    static const uint8_t none[1]; /* an empty object's bytes: a blob, never NULL */
    struct store_stmt *s;
    int rc = store_prepare(st, "INSERT INTO lake_small(id,bytes) VALUES(?,?)", &s);
    if (rc < 0) {
        return rc;
    }
    store_bind_text(s, 1, id);
    store_bind_blob(s, 2, len > 0 ? data : none, len);
    rc = store_step(s);
    store_finalize(s);
    return rc < 0 ? rc : 0;
}

/* A sealed, read-only memfd holding len bytes of data. */
static int memfd_of(const void *data, size_t len)
{
    int fd = memfd_create("sluice-small", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) {
        return -errno;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            close(fd);
            return -e;
        }
        p += n;
        left -= (size_t)n;
    }
    /* As a file's: no reader can change the object it reads. */
    fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
    return fd;
}

int lake__small_open(struct store *st, const char *id, int *fd_out)
{
    struct store_stmt *s;
    int rc = store_prepare(st, "SELECT bytes FROM lake_small WHERE id=?", &s);
    if (rc < 0) {
        return rc;
    }
    store_bind_text(s, 1, id);
    rc = store_step(s);
    if (rc == 1) {
        size_t len = 0;
        const void *p = store_col_blob(s, 0, &len);
        int fd = memfd_of(p, len);
        if (fd < 0) {
            log_msg(LOG_ERROR, "lake", "cannot hold small object %s: %s", id, strerror(-fd));
            rc = fd == -ENOMEM ? SL_E(NOMEM) : SL_E(IO);
        } else {
            *fd_out = fd;
        }
    }
    store_finalize(s);
    return rc;
}

int lake__small_ensure(struct store *st)
{
    store_lock(st);
    struct store_stmt *s;
    int rc = store_prepare(
        st, "SELECT 1 FROM sqlite_master WHERE type='table' AND name='lake_small'", &s);
    if (rc == 0) {
        rc = store_step(s);
        store_finalize(s);
    }
    if (rc == 0) {
        log_msg(LOG_INFO, "lake", "adding the table of small objects");
        rc = store_begin(st);
        if (rc == 0) {
            rc = store_exec(st, LAKE__SMALL_MIGRATION);
        }
        if (rc == 0) {
            rc = store_commit(st);
        }
        if (rc < 0) {
            store_rollback(st);
        }
    }
    store_unlock(st);
    return rc < 0 ? rc : 0;
}
