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

static int map_ring(struct cc_ring *r, size_t size, size_t start);

int cc_ring_init(struct cc_ring *r, size_t size, size_t start)
{
	r->old = NULL;
	r->old_size = 0;
	return map_ring(r, size, start);
}

int cc_ring_renew(struct cc_ring *r, size_t size, size_t start)
{
	/* The abandoned buffer stays for a late producer; an older one goes. */
	if (r->buf && r->buf != r->old) {
		if (r->old)
			munmap(r->old, r->old_size);
		r->old = r->buf;
		r->old_size = r->size;
	}
	return map_ring(r, size, start);
}

static int map_ring(struct cc_ring *r, size_t size, size_t start)
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
	if (start > size)
		start = size;
	unsigned lg = (unsigned)__builtin_ctzll(start);
	r->buf = p;
	r->abandoned = 0;
	r->size = size;
	r->head = (uint64_t)lg << CC_RING_POS_BITS;
	r->tail = 0;
	r->scanned = 0;
	r->want = CC_RING_WANT(lg, 0);
	r->starved = 0;
	/* "Grown" to the start size at position 0: nothing comes before it. */
	memset(r->grows, 0, sizeof(r->grows));
	memset(r->grow_from, 0, sizeof(r->grow_from));
	r->grows[lg] = 1;
	r->clg = lg;
	r->base = 0;
	return 0;
}

void cc_ring_prefault(struct cc_ring *r)
{
	/* Pages already written stay as they are: the kernel only fills in what is missing. */
	if (r->buf)
		madvise(r->buf, CC_RING_SIZE_OF(__atomic_load_n(&r->head, __ATOMIC_ACQUIRE)), MADV_POPULATE_WRITE);
}

/*
 * The end of the first lap of the size 2^lg, where the ring last grew to it: memory no older
 * position uses (ring.h), which may be taken however far behind the consumer is, so that a ring
 * whose consumer is stuck fills what it grew by.  0 while that growth is not yet published.
 */
static uint64_t fresh_end(struct cc_ring *r, unsigned lg)
{
	uint64_t g = __atomic_load_n(&r->grows[lg], __ATOMIC_ACQUIRE);

	return g ? g - 1 + (1ull << lg) / 2 : 0;
}

int cc_ring_reserve_slow(struct cc_ring *r, size_t len, struct cc_slot *s)
{
	uint64_t need = CC_SLOT_ALIGN(CC_SLOT_HDR + len);
	/* Acquire: a head a shrink made small comes with its hold on growth (ring.h). */
	uint64_t h = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE), nh, pos, at, off, size, nsize;
	unsigned lg;
	int fits;

	do {
		uint64_t t = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
		lg = (unsigned)(h >> CC_RING_POS_BITS);
		size = 1ull << lg;
		pos = CC_RING_POS(h);
		if (CC_RING_WANT_LG(__atomic_load_n(&r->want, __ATOMIC_RELAXED)) > lg && size * 2 <= r->size) {
			/* Growing (ring.h): to 2S at the next odd multiple of S, the record at offset S. */
			nsize = size * 2;
			lg++;
			at = (pos / size | 1) * size;
			if (at < pos)
				at += 2 * size;
			off = size;
		} else {
			/* A slot that would cross the end: padding up to it, the slot at the start. */
			nsize = size;
			off = pos & (size - 1);
			at = off + need > size ? pos + size - off : pos;
			if (at != pos)
				off = 0;
		}
		/*
		 * A record too large for the size grown to still takes the growth (the padding up to
		 * `at`, no slot): it needs another doubling, which may be asked for only once this one
		 * is in the head.
		 */
		fits = len <= nsize / 4 - CC_SLOT_HDR;
		nh = at + (fits ? need : 0);
		/*
		 * A grown ring's first record is in the first lap of its new size, and the gap before
		 * it takes no memory (the consumer jumps it, ring.h): a growth always has room.  Any
		 * other record, and a padding slot's header, needs room: no more than the size ahead
		 * of the tail, or within the first lap of the size the ring last grew to.
		 */
		if (nsize == size && (!fits || (nh - t > size && nh > fresh_end(r, lg)))) {
			__atomic_store_n(&r->starved, 1, __ATOMIC_RELAXED);
			return -1;
		}
		nh |= (uint64_t)lg << CC_RING_POS_BITS;
	} while (!__atomic_compare_exchange_n(&r->head, &h, nh, 1, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));

	/* Where the growth took effect, before anything after it is published; its gap is no slot. */
	if (nsize != size) {
		__atomic_store_n(&r->grow_from[lg], pos, __ATOMIC_RELAXED);
		__atomic_store_n(&r->grows[lg], at + 1, __ATOMIC_RELEASE);
	} else if (at != pos) {
		/* The padding slot, where position pos sits in the size it was reserved with. */
		uint64_t *ph = (uint64_t *)(void *)(r->buf + (pos & (size - 1)));
		((uint32_t *)ph)[2] = (uint32_t)(at - pos - CC_SLOT_HDR);
		__atomic_store_n(ph, cc_ring_tag(r, pos) | CC_SLOT_PAD, __ATOMIC_RELEASE);
	}
	if (!fits) {
		__atomic_store_n(&r->starved, 1, __ATOMIC_RELAXED);
		return -1;
	}
	uint64_t *hdr = (uint64_t *)(void *)(r->buf + off);
	((uint32_t *)hdr)[2] = (uint32_t)len;
	s->word = hdr;
	s->tag = cc_ring_tag(r, at);
	s->data = r->buf + off + CC_SLOT_HDR;
	return 0;
}

size_t cc_ring_ask_grow(struct cc_ring *r)
{
	/* want first: the head read after it is as new as the want (a shrink sets its hold first). */
	uint64_t w = __atomic_load_n(&r->want, __ATOMIC_ACQUIRE);
	unsigned lg = (unsigned)(__atomic_load_n(&r->head, __ATOMIC_ACQUIRE) >> CC_RING_POS_BITS);
	uint64_t size = 1ull << lg;

	/* At the most; asked already; or held while a shrink gives memory back. */
	if (size * 2 > r->size || CC_RING_WANT_LG(w) != lg)
		return 0;
	/* The new half resident before the producers write there. */
	madvise(r->buf + size, size, MADV_POPULATE_WRITE);
	/*
	 * Only from the word read: another asker came first, or a shrink (a new epoch) made the ring
	 * small, and this size is not the ring's any more.  (The populated half then stays resident
	 * until the next growth uses it: an asker held up across a whole shrink, which needs seconds
	 * without load, while it was short of room.)
	 */
	if (!__atomic_compare_exchange_n(&r->want, &w, CC_RING_WANT(lg + 1, CC_RING_WANT_EPOCH(w)), 0, __ATOMIC_RELEASE,
					 __ATOMIC_RELAXED))
		return 0;
	return size * 2;
}

void cc_ring_abandon(struct cc_ring *r)
{
	if (r->buf && !r->abandoned)
		madvise(r->buf, r->size, MADV_DONTNEED);
	r->abandoned = 1;
}

void cc_ring_free(struct cc_ring *r)
{
	if (r->buf)
		munmap(r->buf, r->size);
	if (r->old)
		munmap(r->old, r->old_size);
	r->buf = r->old = NULL;
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
	return CC_RING_POS(__atomic_load_n(&r->head, __ATOMIC_ACQUIRE)) == __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
}

uint64_t cc_ring_shrink_begin(struct cc_ring *r, size_t to)
{
	uint64_t w = __atomic_load_n(&r->want, __ATOMIC_ACQUIRE);
	uint64_t h = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE), pos = CC_RING_POS(h);
	unsigned lg = (unsigned)__builtin_ctzll(to), cur = (unsigned)(h >> CC_RING_POS_BITS);
	uint64_t epoch = CC_RING_WANT_EPOCH(w) + 1;

	/*
	 * Larger and empty.  A growth asked for and not made yet (no producer wrapped or ran short
	 * since: the load stopped) is dropped with the rest, and the half its asker made resident
	 * is given back too.  (Not while held: that is a shrink of ours not yet ended.)
	 */
	if (lg >= cur || pos != __atomic_load_n(&r->tail, __ATOMIC_RELAXED) || CC_RING_WANT_LG(w) < cur)
		return 0;
	uint64_t from = 1ull << CC_RING_WANT_LG(w);     /* the size, or the one asked for */
	/* Growth held (ring.h) before the size changes: no producer grows until the madvise is done. */
	if (!__atomic_compare_exchange_n(&r->want, &w, CC_RING_WANT(0, epoch), 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
		return 0;               /* an asker came first */
	uint64_t base = pos + CC_SLOT_HDR;
	if (!__atomic_compare_exchange_n(&r->head, &h, base | (uint64_t)lg << CC_RING_POS_BITS, 0, __ATOMIC_SEQ_CST,
					 __ATOMIC_RELAXED)) {
		/*
		 * A producer came first: not empty any more, or grown as asked (want's size is then
		 * the head's).  Growth as it was.
		 */
		__atomic_store_n(&r->want, CC_RING_WANT(CC_RING_WANT_LG(w), epoch), __ATOMIC_RELEASE);
		return 0;
	}
	/* The jump from pos to base is no slot; where the small size began, for fresh_end. */
	__atomic_store_n(&r->grow_from[lg], pos, __ATOMIC_RELAXED);
	__atomic_store_n(&r->grows[lg], base + 1, __ATOMIC_RELEASE);
	r->base = base;
	r->clg = lg;
	if (base > r->scanned)
		r->scanned = base;
	cc_ring_release(r, base);
	return from;
}

void cc_ring_shrink_end(struct cc_ring *r, size_t to, uint64_t from)
{
	uint64_t w = __atomic_load_n(&r->want, __ATOMIC_RELAXED);

	/*
	 * Nothing reserved lies above `to` now, and with growth held nothing will be until the
	 * memory is given back; then growth may go on (it populates what it takes).
	 */
	madvise(r->buf + to, from - to, MADV_DONTNEED);
	__atomic_store_n(&r->want, CC_RING_WANT(__builtin_ctzll(to), CC_RING_WANT_EPOCH(w)), __ATOMIC_RELEASE);
}

int cc_ring_shrink(struct cc_ring *r, size_t to)
{
	uint64_t from = cc_ring_shrink_begin(r, to);

	if (from)
		cc_ring_shrink_end(r, to, from);
	return from != 0;
}
