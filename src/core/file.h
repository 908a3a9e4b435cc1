/*
 * The file seam: writes, reads, truncations and syncs of durable data go through these
 * functions, which behave exactly like the system calls they wrap (-1 and errno on
 * failure). Tests use file_fault_inject to make one of them fail the way a disk does —
 * EIO, ENOSPC, a short write — and check that no acknowledged data is lost and that a
 * failed sync is never reported as success.
 */
#ifndef SLUICE_CORE_FILE_H
#define SLUICE_CORE_FILE_H

#include <stddef.h>
#include <sys/types.h>

ssize_t file_pwrite(int fd, const void *buf, size_t len, off_t off);
ssize_t file_pread(int fd, void *buf, size_t len, off_t off);
int file_fdatasync(int fd);
int file_fsync(int fd);
int file_ftruncate(int fd, off_t len);
/* open(2)/openat(2), creating the file when flags ask (mode as open's). */
int file_open(const char *path, int flags, mode_t mode);
int file_openat(int dir_fd, const char *name, int flags, mode_t mode);
/* renameat(2) and linkat(2): both give a file a new name in a directory. */
int file_renameat(int old_dir_fd, const char *old_name, int new_dir_fd, const char *new_name);
int file_linkat(int old_dir_fd, const char *old_name, int new_dir_fd, const char *new_name,
                int flags);
/* unlinkat(2). */
int file_unlinkat(int dir_fd, const char *name, int flags);
/* fsync(2) of a directory's descriptor: makes the names created or renamed in it durable. */
int file_dir_sync(int dir_fd);
/*
 * Flushes to the device so far, process-wide: every file_fdatasync, file_fsync and
 * file_dir_sync call, and every sync the metadata store's SQLite makes (store.c counts
 * those through file_flush_note). For tests and benchmarks of how writers share flushes.
 */
unsigned long file_flush_count(void);
void file_flush_note(void);
/*
 * How long the syncs of file_fdatasync, file_fsync and file_dir_sync took so far
 * (SQLite's own are not timed), for /metrics: counts[i] syncs took at most
 * file_sync_bucket_us[i] microseconds and more than the bound before; the last count
 * is of the longer ones. *sum_us is their total time.
 */
#define FILE_SYNC_BUCKETS 14
extern const long file_sync_bucket_us[FILE_SYNC_BUCKETS - 1];
void file_sync_histogram(unsigned long counts[FILE_SYNC_BUCKETS], unsigned long long *sum_us);
/*
 * copy_file_range(2) from in_fd at *in_off to out_fd at *out_off, both advanced; counts as
 * a write for fault injection (a short copy, then the error, as a full disk gives).
 */
ssize_t file_copy_range(int in_fd, off_t *in_off, int out_fd, off_t *out_off, size_t len);

enum file_op {
    FILE_OP_WRITE,    /* file_pwrite, file_copy_range */
    FILE_OP_READ,     /* file_pread */
    FILE_OP_SYNC,     /* file_fdatasync, file_fsync */
    FILE_OP_TRUNCATE, /* file_ftruncate */
    FILE_OP_OPEN,     /* file_open, file_openat */
    FILE_OP_RENAME,   /* file_renameat, file_linkat */
    FILE_OP_UNLINK,   /* file_unlinkat */
    FILE_OP_DIR_SYNC, /* file_dir_sync */
    FILE_OP_COUNT_
};

/*
 * Test seam: the nth call of op from now (1 = the next one) fails with err. For writes,
 * short_len > 0 makes that call write only short_len bytes and succeed instead (a short
 * write); the next write then fails with err. nth 0 clears op's fault.
 */
void file_fault_inject(enum file_op op, unsigned long nth, int err, size_t short_len);
void file_fault_clear(void);

#endif
