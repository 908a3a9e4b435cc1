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

enum file_op { FILE_OP_WRITE, FILE_OP_READ, FILE_OP_SYNC, FILE_OP_TRUNCATE, FILE_OP_COUNT_ };

/*
 * Test seam: the nth call of op from now (1 = the next one) fails with err. For writes,
 * short_len > 0 makes that call write only short_len bytes and succeed instead (a short
 * write); the next write then fails with err. nth 0 clears op's fault.
 */
void file_fault_inject(enum file_op op, unsigned long nth, int err, size_t short_len);
void file_fault_clear(void);

#endif
