/*
 * Many-producer, one-consumer ring; see ring.h for the contract.
 *
 * Slot headers (ring.h): a word that carries its position's tag once published, with the
 * state (record, padding, ...) in its low bits.  The consumer never looks beyond a slot whose
 * word does not carry the tag it expects, so a producer preempted mid-fill only delays, never
 * corrupts, and nothing released needs clearing.  Producers' side (reserve, commit) is inline
 * in ring.h.
 */
#include "pcapout/ring.h"

#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>


#define HUGE_PAGE (2u << 20)

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23          /* Linux 5.14 */
#endif

int cc_ring_init(struct cc_ring *r, size_t size)
{
	uint8_t *p;

	/*
	 * Anonymous memory is zero, which is the free state for every slot header.  A ring of whole
	 * huge pages, aligned to them, costs a handful of page faults and TLB entries instead of one
	 * per 4 KiB (2048 faults for the default 8 MiB, each taken by whichever program thread wrote
	 * there first).  Huge pages are asked for, not required.
	 */
	size_t extra = size >= HUGE_PAGE ? HUGE_PAGE : 0;      /* room to align */
	p = mmap(NULL, size + extra, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	if (extra) {
		uint8_t *a = p + ((HUGE_PAGE - (uintptr_t)p % HUGE_PAGE) % HUGE_PAGE);
		if (a > p)
			munmap(p, (size_t)(a - p));
		if (a + size < p + size + extra)
			munmap(a + size, (size_t)(p + size + extra - (a + size)));
		p = a;
		madvise(p, size, MADV_HUGEPAGE);
	}
	/* A new secret per ring (so per process): tags of an earlier ring's bytes never match. */
	uint64_t secret = 0;
	if (getrandom(&secret, sizeof(secret), GRND_NONBLOCK) != sizeof(secret))
		secret = (uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ull ^ (uint64_t)size;
	r->secret = (secret | 1ull << 63) & ~(uint64_t)CC_SLOT_STATE;
	r->buf = p;
	r->size = size;
	r->head = 0;
	r->tail = 0;
	r->scanned = 0;
	return 0;
}

void cc_ring_prefault(struct cc_ring *r)
{
	/* Pages already written stay as they are: the kernel only fills in what is missing. */
	if (r->buf)
		madvise(r->buf, r->size, MADV_POPULATE_WRITE);
}

void cc_ring_free(struct cc_ring *r)
{
	if (r->buf)
		munmap(r->buf, r->size);
	r->buf = NULL;
}

int cc_ring_take(struct cc_ring *r, struct cc_ring_batch *b, int max, cc_ring_ready_fn ready, void *arg)
{
	return cc_ring_take_with(r, b, max, ready, arg, b->synth);
}

/* Nothing to clear: released bytes keep their old words, whose tags no longer match. */
void cc_ring_release(struct cc_ring *r, uint64_t upto)
{
	__atomic_store_n(&r->tail, upto, __ATOMIC_RELEASE);
}

int cc_ring_empty(struct cc_ring *r)
{
	return __atomic_load_n(&r->head, __ATOMIC_ACQUIRE) == __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
}
