#include "core/file.h"

#include <errno.h>
#include <stdatomic.h>
#include <unistd.h>

struct fault {
    atomic_ulong countdown; /* calls left before the fault; 0 = none */
    int err;
    size_t short_len;
};

static struct fault faults[FILE_OP_COUNT_];

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
    return fdatasync(fd);
}

int file_fsync(int fd)
{
    if (fault_hits(FILE_OP_SYNC)) {
        errno = faults[FILE_OP_SYNC].err;
        return -1;
    }
    return fsync(fd);
}

int file_ftruncate(int fd, off_t len)
{
    if (fault_hits(FILE_OP_TRUNCATE)) {
        errno = faults[FILE_OP_TRUNCATE].err;
        return -1;
    }
    return ftruncate(fd, len);
}
