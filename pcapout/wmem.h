/*
 * Memory for what the writer's thread keeps or frees: never glibc's malloc, which may run
 * unlocked in the program's thread beside it (pcapout/single.h).
 *
 * Blocks up to CC_WMEM_BLOCK bytes come from a few pages kept for reuse, so that a steady flow of
 * long plaintexts makes no system call; longer ones are mapped and unmapped each time (a new
 * file's secrets).  Lock-free: any thread may take and give back.
 */
#ifndef CC_WMEM_H
#define CC_WMEM_H

#include <stddef.h>

#define CC_WMEM_BLOCK 65536

/* n bytes (NULL when the system has none); give them back with cc_wmem_free(p, n). */
void *cc_wmem_alloc(size_t n);
void cc_wmem_free(void *p, size_t n);

/* p (n bytes, or NULL) grown to m bytes, its contents kept; NULL (p untouched) on failure. */
void *cc_wmem_grow(void *p, size_t n, size_t m);

#endif
