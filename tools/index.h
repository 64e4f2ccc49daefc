/*
 * index.h - an open-addressing hash index over the elements of a caller's array: the look-up
 * `clearcap decrypt` does per packet (flow, SSRC binding, libsrtp2 session) in constant time, for
 * captures with thousands of flows.  The caller hashes its key and says which candidates match.
 */
#ifndef CC_INDEX_H
#define CC_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "tools/pktparse.h"

struct cc_index_slot {
	uint64_t hash;
	size_t pos;		/* element index + 1; 0: empty */
};

struct cc_index {
	struct cc_index_slot *slot;
	size_t cap, n;
};

/* The element with this hash that eq() accepts, or -1. */
long cc_index_find(const struct cc_index *x, uint64_t hash, int (*eq)(const void *ctx, size_t pos), const void *ctx);

/* Records element pos under hash; 0, or -1 when out of memory. */
int cc_index_add(struct cc_index *x, uint64_t hash, size_t pos);

void cc_index_free(struct cc_index *x);

/* Hash helpers: mix an endpoint or a number into h. */
uint64_t cc_hash_ep(uint64_t h, const struct cc_endpoint *e);
uint64_t cc_hash_u64(uint64_t h, uint64_t v);

#endif /* CC_INDEX_H */
