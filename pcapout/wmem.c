/* The writer's memory: see wmem.h. */
#include "pcapout/wmem.h"

#include <string.h>
#include <sys/mman.h>

/* Blocks kept for reuse: each slot NULL or a free CC_WMEM_BLOCK-byte mapping. */
#define KEPT 16
static void *kept[KEPT];

static void *map(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void *cc_wmem_alloc(size_t n)
{
	if (n > CC_WMEM_BLOCK)
		return map(n);
	for (int i = 0; i < KEPT; i++) {
		void *p = __atomic_exchange_n(&kept[i], NULL, __ATOMIC_ACQUIRE);
		if (p)
			return p;
	}
	return map(CC_WMEM_BLOCK);
}

void cc_wmem_free(void *p, size_t n)
{
	if (!p)
		return;
	if (n <= CC_WMEM_BLOCK) {
		for (int i = 0; i < KEPT; i++) {
			void *none = NULL;
			if (__atomic_compare_exchange_n(&kept[i], &none, p, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
				return;
		}
		n = CC_WMEM_BLOCK;
	}
	munmap(p, n);
}

static size_t mapped(size_t n)
{
	return n <= CC_WMEM_BLOCK ? CC_WMEM_BLOCK : n;
}

void *cc_wmem_grow(void *p, size_t n, size_t m)
{
	if (p && m <= mapped(n))
		return p;
	void *q = cc_wmem_alloc(m);
	if (q && p) {
		memcpy(q, p, n);
		cc_wmem_free(p, n);
	}
	return q;
}
