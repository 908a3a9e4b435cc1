#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "core/clock.h"

struct fault {
    atomic_ulong countdown; /* calls left before the fault; 0 = none */
    int err;
    size_t short_len;
};

static struct fault faults[FILE_OP_COUNT_];
static atomic_ulong flushes;

const long file_sync_bucket_us[FILE_SYNC_BUCKETS - 1] = {
    50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000};
static atomic_ulong sync_counts[FILE_SYNC_BUCKETS];
static atomic_ullong sync_sum_us;

void file_sync_histogram(unsigned long counts[FILE_SYNC_BUCKETS], unsigned long long *sum_us)
{
    for (int i = 0; i < FILE_SYNC_BUCKETS; i++) {
        counts[i] = atomic_load(&sync_counts[i]);
    }
    *sum_us = atomic_load(&sync_sum_us);
}

/* One sync of fd by fn, timed into the histogram. */
static int timed_sync(int (*fn)(int), int fd)
{
    int64_t started = clock_mono_ns();
    int rc = fn(fd);
    long us = (long)((clock_mono_ns() - started) / 1000);
    int i = 0;
    while (i < FILE_SYNC_BUCKETS - 1 && us > file_sync_bucket_us[i]) {
        i++;
    }
    atomic_fetch_add(&sync_counts[i], 1);
    atomic_fetch_add(&sync_sum_us, (unsigned long long)us);
    return rc;
}

unsigned long file_flush_count(void)
{
    return atomic_load(&flushes);
}

void file_flush_note(void)
{
    atomic_fetch_add(&flushes, 1);
}

/* Sets errno to op's injected error and returns -1 (for the callers below). */
static int fault_fail(enum file_op op)
{
    errno = faults[op].err;
    return -1;
}

/* 1 when this call of op is the one to fail. */
static int fault_hits(enum file_op op)
{
    unsigned long n = atomic_load(&faults[op].countdown);
    while (n > 0) {
        if (atomic_compare_exchange_weak(&faults[op].countdown, &n, n - 1)) {
            return n == 1;
        }
    }
    return 0;
}

void file_fault_inject(enum file_op op, unsigned long nth, int err, size_t short_len)
{
    faults[op].err = err;
    faults[op].short_len = short_len;
    atomic_store(&faults[op].countdown, nth);
}

void file_fault_clear(void)
{
    for (int op = 0; op < FILE_OP_COUNT_; op++) {
        atomic_store(&faults[op].countdown, 0);
    }
}

ssize_t file_pwrite(int fd, const void *buf, size_t len, off_t off)
{
    if (fault_hits(FILE_OP_WRITE)) {
        struct fault *f = &faults[FILE_OP_WRITE];
        size_t short_len = f->short_len;
        if (short_len > 0 && short_len < len) {
            /* Write a prefix, then fail the call after it, as a full disk does. */
            f->short_len = 0;
            atomic_store(&f->countdown, 1);
            return pwrite(fd, buf, short_len, off);
        }
        errno = f->err;
        return -1;
    }
    return pwrite(fd, buf, len, off);
}

ssize_t file_pread(int fd, void *buf, size_t len, off_t off)
{
    if (fault_hits(FILE_OP_READ)) {
        errno = faults[FILE_OP_READ].err;
        return -1;
    }
    return pread(fd, buf, len, off);
}

int file_fdatasync(int fd)
{
    if (fault_hits(FILE_OP_SYNC)) {
        errno = faults[FILE_OP_SYNC].err;
        return -1;
    }
    file_flush_note();
    return timed_sync(fdatasync, fd);
}

int file_fsync(int fd)
{
    if (fault_hits(FILE_OP_SYNC)) {
        errno = faults[FILE_OP_SYNC].err;
        return -1;
    }
    file_flush_note();
    return timed_sync(fsync, fd);
}

int file_ftruncate(int fd, off_t len)
{
    if (fault_hits(FILE_OP_TRUNCATE)) {
        errno = faults[FILE_OP_TRUNCATE].err;
        return -1;
    }
    return ftruncate(fd, len);
}

int file_open(const char *path, int flags, mode_t mode)
{
    if (fault_hits(FILE_OP_OPEN)) {
        return fault_fail(FILE_OP_OPEN);
    }
    return open(path, flags, mode);
}

int file_openat(int dir_fd, const char *name, int flags, mode_t mode)
{
    if (fault_hits(FILE_OP_OPEN)) {
        return fault_fail(FILE_OP_OPEN);
    }
    return openat(dir_fd, name, flags, mode);
}

int file_renameat(int old_dir_fd, const char *old_name, int new_dir_fd, const char *new_name)
{
    if (fault_hits(FILE_OP_RENAME)) {
        return fault_fail(FILE_OP_RENAME);
    }
    return renameat(old_dir_fd, old_name, new_dir_fd, new_name);
}

int file_linkat(int old_dir_fd, const char *old_name, int new_dir_fd, const char *new_name,
                int flags)
{
    if (fault_hits(FILE_OP_RENAME)) {
        return fault_fail(FILE_OP_RENAME);
    }
    return linkat(old_dir_fd, old_name, new_dir_fd, new_name, flags);
}

int file_unlinkat(int dir_fd, const char *name, int flags)
{
    if (fault_hits(FILE_OP_UNLINK)) {
        return fault_fail(FILE_OP_UNLINK);
    }
    return unlinkat(dir_fd, name, flags);
}

int file_dir_sync(int dir_fd)
{
    if (fault_hits(FILE_OP_DIR_SYNC)) {
        return fault_fail(FILE_OP_DIR_SYNC);
    }
    file_flush_note();
    return timed_sync(fsync, dir_fd);
}

ssize_t file_copy_range(int in_fd, off_t *in_off, int out_fd, off_t *out_off, size_t len)
{
    if (fault_hits(FILE_OP_WRITE)) {
        struct fault *f = &faults[FILE_OP_WRITE];
        size_t short_len = f->short_len;
        if (short_len > 0 && short_len < len) {
            f->short_len = 0;
            atomic_store(&f->countdown, 1);
            return copy_file_range(in_fd, in_off, out_fd, out_off, short_len, 0);
        }
        return fault_fail(FILE_OP_WRITE);
    }
    return copy_file_range(in_fd, in_off, out_fd, out_off, len, 0);
}
