/*
 * index.c - see index.h.  Linear probing, kept at most half full.
 */
#include "tools/index.h"

#include <stdlib.h>

long cc_index_find(const struct cc_index *x, uint64_t hash, int (*eq)(const void *ctx, size_t pos), const void *ctx)
{
	if (!x->cap)
		return -1;
	for (size_t i = hash & (x->cap - 1);; i = (i + 1) & (x->cap - 1)) {
		const struct cc_index_slot *s = &x->slot[i];
		if (!s->pos)
			return -1;
		if (s->hash == hash && eq(ctx, s->pos - 1))
			return (long)(s->pos - 1);
	}
}

static void put(struct cc_index_slot *slot, size_t cap, uint64_t hash, size_t pos1)
{
	size_t i = hash & (cap - 1);

	while (slot[i].pos)
		i = (i + 1) & (cap - 1);
	slot[i].hash = hash;
	slot[i].pos = pos1;
}

int cc_index_add(struct cc_index *x, uint64_t hash, size_t pos)
{
	if (2 * (x->n + 1) > x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 64;
		struct cc_index_slot *slot = calloc(cap, sizeof(*slot));
		if (!slot)
			return -1;
		for (size_t i = 0; i < x->cap; i++)
			if (x->slot[i].pos)
				put(slot, cap, x->slot[i].hash, x->slot[i].pos);
		free(x->slot);
		x->slot = slot;
		x->cap = cap;
	}
	put(x->slot, x->cap, hash, pos + 1);
	x->n++;
	return 0;
}

void cc_index_free(struct cc_index *x)
{
	free(x->slot);
	x->slot = NULL;
	x->cap = x->n = 0;
}

uint64_t cc_hash_u64(uint64_t h, uint64_t v)
{
	/* splitmix64's finaliser over the running value. */
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	return h ^ (h >> 31);
}

uint64_t cc_hash_ep(uint64_t h, const struct cc_endpoint *e)
{
	uint64_t a = 0, b = 0;

	for (int i = 0; i < 8; i++) {
		a = a << 8 | e->ip[i];
		b = b << 8 | e->ip[8 + i];
	}
	h = cc_hash_u64(h, (uint64_t)e->family << 16 | e->port);
	h = cc_hash_u64(h, a);
	return cc_hash_u64(h, b);
}
