/*
 * Allocation wrappers.
 *
 * Two flavours, as the house style asks:
 *   xmalloc/xcalloc/xrealloc/xstrdup abort on failure; they are for small internal
 *   bookkeeping whose size Sluice controls.
 *   try_malloc/try_realloc return NULL on failure; they are for anything whose size a
 *   client chooses (request bodies, record batches, objects).
 * Both go through one counter so tests can make the N-th allocation fail.
 */
#ifndef SLUICE_CORE_MEM_H
#define SLUICE_CORE_MEM_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t len);
/* printf into a fresh string; the caller frees it. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void *try_malloc(size_t size);
void *try_realloc(void *ptr, size_t size);

/* Test seam: make the n-th try_ allocation from now fail (0 turns it off). */
void mem_fail_after(unsigned long n);

#endif
