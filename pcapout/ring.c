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

/* Appends n bytes at p (`records` packets) to the batch, extending the last iovec when they follow on. */
static inline __attribute__((always_inline)) void add_data(struct cc_ring_batch *b, uint8_t *p, size_t n, int records)
{
	struct iovec *last = b->ndata ? &b->data[b->ndata - 1] : NULL;

	if (last && (uint8_t *)last->iov_base + last->iov_len == p) {
		last->iov_len += n;
	} else {
		b->data[b->ndata].iov_base = p;
		b->data[b->ndata].iov_len = n;
		b->ndata++;
	}
	b->packets += records;
	b->bytes += n;
}

int cc_ring_take(struct cc_ring *r, struct cc_ring_batch *b, int max, cc_ring_ready_fn ready, void *arg)
{
	uint64_t t = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
	uint64_t h = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
	int held = 0;

	b->nmeta = b->ndata = b->packets = 0;
	b->bytes = 0;
	b->stage_used = 0;
	b->upto = t;
	while (t < h && b->nmeta < max && b->ndata < max) {
		uint64_t *hdr = (uint64_t *)(void *)(r->buf + (t & (r->size - 1)));
		uint64_t word = __atomic_load_n(hdr, __ATOMIC_ACQUIRE);
		uint32_t st = (uint32_t)(word & CC_SLOT_STATE);
		uint32_t len;
		uint8_t *d = (uint8_t *)hdr + CC_SLOT_HDR;

		/* Not (yet) published: the word is an earlier lap's bytes, or still being filled. */
		if ((word & ~(uint64_t)CC_SLOT_STATE) != cc_ring_tag(r, t) || st == 0)
			break;
		len = ((uint32_t *)hdr)[2];
		if (st == CC_SLOT_META) {
			/* Metadata goes out at once, ahead of packets still held back. */
			b->meta[b->nmeta].iov_base = d;
			b->meta[b->nmeta].iov_len = len;
			b->nmeta++;
			b->bytes += len;
			__atomic_store_n(hdr, cc_ring_tag(r, t) | CC_SLOT_DONE, __ATOMIC_RELAXED);
		} else if ((st == CC_SLOT_DATA || st == CC_SLOT_RAW) && !held) {
			if (ready && !ready(d, len, st == CC_SLOT_RAW, arg)) {
				held = 1;
			} else if (st == CC_SLOT_DATA) {
				add_data(b, d, len, 1);
			} else {
				/* (A batch kept small stops early, but always takes one: any size fits an empty stage.) */
				if (b->stage_soft && b->stage_used >= b->stage_soft)
					break;
				uint8_t *out = b->stage + b->stage_used;
				int records = 0;
				size_t n = b->synth ? b->synth(d, len, out, b->stage_size - b->stage_used, &records) : 0;
				/* Stage full: the rest waits for the next batch (one that fits nowhere is dropped). */
				if (n == CC_RING_NO_ROOM) {
					if (b->stage_used)
						break;
					n = 0;
				}
				if (n) {
					add_data(b, out, n, records);
					b->stage_used += n;
				}
			}
		}
		t += CC_SLOT_ALIGN(CC_SLOT_HDR + len);
		if (!held)
			b->upto = t;
		/*
		 * Packets held back (the hold, a handshake waiting for its secret): what follows is
		 * only looked at for metadata, and what an earlier batch looked at needs no second
		 * look (its metadata went then; records do not change once published).  Without
		 * this, every batch of a busy writer walked all the held records again.
		 */
		else if (t < r->scanned)
			t = r->scanned;
	}
	if (t > r->scanned)
		r->scanned = t;
	return b->nmeta + b->ndata;
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
