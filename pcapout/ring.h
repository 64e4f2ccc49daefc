/*
 * A bounded many-producer, one-consumer byte ring for capture records.
 *
 * Producers (any thread of the program, signal handlers included) reserve a contiguous slot with
 * one compare-and-swap, fill it, and publish it with a release store; nothing blocks and no
 * system call is made.  The consumer (the writer thread, or a flush at exit/exec) takes the
 * published prefix in order and stops at the first slot still being filled.
 *
 * Each slot starts with a 16-byte header {word, len}; slots are 16-byte aligned and never wrap:
 * a slot that would cross the end is preceded by a padding slot.  The word holds the slot's
 * state in its low three bits and, above them, a tag: the slot's position in the byte stream
 * XORed with a secret drawn when the ring is made.  A slot is published when its word carries
 * the tag its position expects, so the consumer never has to clear what it releases: stale bytes
 * of an earlier lap (a program's payload, say) do not carry the right tag, short of guessing a
 * 61-bit secret.
 */
#ifndef CC_RING_H
#define CC_RING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/*
 * Growing.  A ring starts small (CC_RING_START), so that in steady state the bytes its
 * producers and its consumer touch stay in cache, and doubles under load up to `size`, the
 * memory reserved for it.  The size producers use travels with the position in the head word,
 * so that every reservation sees the position and the size of the one before it (one
 * compare-and-swap, as before).  A producer grows the ring when asked (`want`): from a size S to
 * 2S at `at`, the next odd multiple of S, its record at offset S, in memory no record of size S
 * or less ever used, and from `at` on every position p sits at p mod 2S.  What was reserved
 * before `at` stays where it was; the positions between the head and `at` are a gap, no slot,
 * which the consumer jumps (`grow_from`), so a growth needs no room.  The second lap of
 * 2S reaches back to [0, S) only once the producers are 2S ahead of the consumer's tail, which
 * is then past everything older that sits there: the usual room check keeps them from meeting,
 * even with several growths ahead of the consumer (a writer blocked on a slow reader, its ring
 * doubling while it waits).  `grows[k]` says where the ring took the size 2^k (position + 1,
 * written before the first slot after it is published), so the consumer reads each position
 * with the size it was reserved with; a batch of its ends at the next growth.
 *
 * Shrinking.  A burst that grew the ring would otherwise keep its memory for the life of the
 * process.  The consumer gives it back (cc_ring_shrink) only when the ring is empty, nothing
 * reserved beyond its tail: then no slot of any size lies ahead of it, and the head word may
 * take a smaller size at a new position, `base`, one slot past the old one.  Every growth the
 * grows[] table then holds took effect at or before the old position; the consumer reads an
 * entry before `base` as none, so the table needs no clearing (which a producer growing
 * the small ring at once could race), and positions only ever go up, so the tags of bytes left
 * from before never match.  A producer that read the head before the shrink fails its
 * compare-and-swap and reads it again.  A producer's room check may read such an older entry
 * (fresh_end, ring.c): it names memory before the tail, which the usual check allows anyway.
 *
 * Growth is held off while a shrink gives memory back: between the compare-and-swap that makes
 * the ring small and the MADV_DONTNEED above it, producers filling the small ring must not grow
 * it into the memory about to be zeroed.  `want` carries, besides the size asked for, an epoch
 * that every shrink moves on: the shrink first sets "hold" (size 0) in a new epoch, and lets
 * growth go on only once the memory is given back.  An asker (cc_ring_ask_grow) changes `want`
 * only from the exact word it read, so one that read the ring's size before a shrink cannot ask
 * the small ring to grow by what the big one would have.
 */
#define CC_RING_WANT(lg, epoch) ((uint64_t)(epoch) << 8 | (lg))
#define CC_RING_WANT_LG(w) ((unsigned)((w) & 0xff))     /* 0: growth held */
#define CC_RING_WANT_EPOCH(w) ((w) >> 8)
#define CC_RING_START (1u << 20)
#define CC_RING_POS_BITS 58
#define CC_RING_POS(h) ((h) & ((1ull << CC_RING_POS_BITS) - 1))
#define CC_RING_SIZE_OF(h) (1ull << ((h) >> CC_RING_POS_BITS))

struct cc_ring {
	uint8_t *buf;
	size_t size;                    /* memory reserved: the largest size it grows to, a power of two */
	uint64_t secret;                /* the tag's key: bit 63 set, low three bits clear */
	uint64_t head;                  /* bytes reserved so far, log2 of the size in the top bits (atomic) */
	uint64_t tail;                  /* bytes consumed so far (atomic) */
	uint64_t scanned;               /* the consumer's: every record before it was looked at */
	uint64_t want;                  /* CC_RING_WANT: log2 of the size producers are asked to grow to (atomic) */
	int starved;                    /* a producer found no room (atomic): the consumer grows the ring */
	unsigned clg;                   /* the consumer's: log2 of the size at its tail */
	uint64_t grows[64];             /* [k]: 1 + where the ring took the size 2^k; 0: not yet (atomic) */
	uint64_t grow_from[64];         /* [k]: where the gap before that began (no slot in between) */
	uint64_t base;                  /* the consumer's: where the ring last shrank (grows[] before it are older) */
	int abandoned;                  /* buf is a fork parent's, left for stale producers (cc_ring_abandon) */
	uint8_t *old;                   /* the one abandoned buffer kept once a new one is made */
	size_t old_size;
};

struct cc_slot {
	uint8_t *data;                  /* len bytes the producer fills */
	uint64_t *word;
	uint64_t tag;
};

/* Slot header states, the low three bits of the header word. */
#define CC_SLOT_HDR 16
#define CC_SLOT_STATE 7u
enum {
	CC_SLOT_DATA = 1,               /* a published record */
	CC_SLOT_PAD,                    /* padding up to the end of the buffer */
	CC_SLOT_META,                   /* written like data, not counted as a packet */
	CC_SLOT_DONE,                   /* metadata already written, waiting to be released */
	CC_SLOT_SKIP,                   /* a record the filter declined: released, never written */
	CC_SLOT_RAW,                    /* the consumer makes the record from it (cc_ring_batch.synth) */
};
#define CC_SLOT_ALIGN(n) (((n) + 15) & ~(uint64_t)15)

/* The tag a slot at stream position pos carries when published. */
static inline __attribute__((always_inline)) uint64_t cc_ring_tag(const struct cc_ring *r, uint64_t pos)
{
	return (pos ^ r->secret) & ~(uint64_t)CC_SLOT_STATE;
}

/* A ring of `size` bytes of memory that starts with min(size, start) (powers of two). */
int cc_ring_init(struct cc_ring *r, size_t size, size_t start);
/* Makes the ring's current part resident now (the consumer's thread calls it), not page by page on first use. */
void cc_ring_prefault(struct cc_ring *r);
/*
 * In a fork child: the ring dropped, but its buffer left mapped and named by buf (head and tail
 * as they were).  The forking thread may have forked from a signal handler that interrupted it
 * between taking a slot and publishing it; back from the handler it finishes there, in memory
 * nobody reads.  The pages are given back at once.  cc_ring_renew() then maps a new buffer and
 * keeps the abandoned one mapped (only the last: an older one, inherited from a grandparent,
 * is unmapped then), so a chain of forks holds two ranges at most.
 */
void cc_ring_abandon(struct cc_ring *r);

/* cc_ring_init() for a ring cc_ring_abandon() dropped. */
int cc_ring_renew(struct cc_ring *r, size_t size, size_t start);
void cc_ring_free(struct cc_ring *r);

/* Largest record a ring of this size can hold. */
static inline size_t cc_ring_max_record(const struct cc_ring *r)
{
	return r->size / 4 - CC_SLOT_HDR;
}

/* cc_ring_reserve() when the slot would wrap, or does not fit now: padding, growing, or no room. */
int cc_ring_reserve_slow(struct cc_ring *r, size_t len, struct cc_slot *s);

/*
 * The usual slot, one that fits before the end of the buffer, with room now: 0 and *s filled, or
 * -1 (nothing done) for cc_ring_reserve_slow.  No call: a caller that takes its slow path
 * elsewhere keeps *s in registers.  small: the caller knows len <= CC_RING_SMALL, below a
 * quarter of any size the ring has, and the check for that drops out.
 */
#define CC_RING_SMALL (CC_RING_START / 4 - 1024)
static inline __attribute__((always_inline)) int cc_ring_claim(struct cc_ring *r, size_t len, struct cc_slot *s,
							       int small)
{
	uint64_t need = CC_SLOT_ALIGN(CC_SLOT_HDR + len);
	uint64_t h, nh, off;

	h = __atomic_load_n(&r->head, __ATOMIC_RELAXED);
	do {
		uint64_t size = CC_RING_SIZE_OF(h), t = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
		off = h & (size - 1);
		nh = h + need;
		/*
		 * Past the end, or above a quarter of the ring (need > size / 4 is len > size / 4 -
		 * CC_SLOT_HDR): both below size, their OR is too, size being a power of two.  Either
		 * way (and a slot ending exactly at the end), the slow path sees to it.
		 */
		if (__builtin_expect(((off + need) | (small ? 0 : need << 2)) > size || CC_RING_POS(nh) - t > size, 0))
			return -1;
	} while (!__atomic_compare_exchange_n(&r->head, &h, nh, 1, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));

	uint64_t *hdr = (uint64_t *)(void *)(r->buf + off);
	((uint32_t *)hdr)[2] = (uint32_t)len;
	s->word = hdr;
	s->tag = cc_ring_tag(r, CC_RING_POS(h));
	s->data = r->buf + off + CC_SLOT_HDR;
	return 0;
}

/*
 * Reserves len bytes; returns 0, or -1 when the ring has no room now.  Inline, as the commits:
 * every captured packet comes here from the program's threads.  The usual slot, one that fits
 * before the end of the buffer, is taken here; the rest goes to cc_ring_reserve_slow.
 */
static inline __attribute__((always_inline)) int cc_ring_reserve(struct cc_ring *r, size_t len, struct cc_slot *s)
{
	if (__builtin_expect(cc_ring_claim(r, len, s, 0) < 0, 0))
		return cc_ring_reserve_slow(r, len, s);
	return 0;
}

static inline void cc_ring_commit(struct cc_slot *s)
{
	__atomic_store_n(s->word, s->tag | CC_SLOT_DATA, __ATOMIC_RELEASE);
}

/* Publishes a slot that is written out like any other but is not a packet (secrets, ...). */
static inline void cc_ring_commit_meta(struct cc_slot *s)
{
	__atomic_store_n(s->word, s->tag | CC_SLOT_META, __ATOMIC_RELEASE);
}

/*
 * Publishes a slot holding what the consumer turns into the record itself (cc_ring_batch.synth):
 * building a frame's headers and checksums is left to the consumer's thread, off the program's.
 */
static inline __attribute__((always_inline)) void cc_ring_commit_raw(struct cc_slot *s)
{
	__atomic_store_n(s->word, s->tag | CC_SLOT_RAW, __ATOMIC_RELEASE);
}

/* Gives the slot back unwritten (the filter declined the record after it was built). */
static inline void cc_ring_commit_skip(struct cc_slot *s)
{
	__atomic_store_n(s->word, s->tag | CC_SLOT_SKIP, __ATOMIC_RELEASE);
}

/*
 * Consumer side.  Only one consumer may run at a time (the caller serializes).
 *
 * cc_ring_take() hands out the published records from the tail: every metadata record in the
 * published part (secrets must precede the packets that need them in the file, so they jump the
 * queue and are marked written), and packets in order up to the first one `ready` declines
 * (NULL: all are ready).  A raw slot's record is made by `synth` in the batch's stage buffer;
 * records made one after another there go out as one iovec.  The batch ends early when the
 * stage is full.  Once written, the consumer releases up to b->upto.
 */
typedef int (*cc_ring_ready_fn)(const uint8_t *data, uint32_t len, int raw, void *arg);

/*
 * Makes a raw slot's records in out (none, one, or more: see cc_writer_set_defer); returns their
 * length and sets *records, or returns CC_RING_NO_ROOM when they may need more than room.
 */
#define CC_RING_NO_ROOM ((size_t)-1)
typedef size_t (*cc_ring_synth_fn)(const uint8_t *raw, uint32_t len, uint8_t *out, size_t room, int *records);

struct cc_ring_batch {
	struct iovec *meta, *data;      /* caller's arrays of `max` entries each */
	int nmeta, ndata;
	int packets;                    /* records in data (raw ones share iovecs) */
	size_t bytes;
	uint64_t upto;
	cc_ring_synth_fn synth;         /* cc_ring_take's, set by the caller when raw slots may come */
	uint8_t *stage;
	size_t stage_size, stage_used;
	size_t stage_soft;              /* if set, no raw slot is taken once this much is used */
};

int cc_ring_take(struct cc_ring *r, struct cc_ring_batch *b, int max, cc_ring_ready_fn ready, void *arg);
void cc_ring_release(struct cc_ring *r, uint64_t upto);

/* Appends n bytes at p (`records` packets) to the batch, extending the last iovec when they follow on. */
static inline __attribute__((always_inline)) void cc_ring_add_data(struct cc_ring_batch *b, uint8_t *p, size_t n, int records)
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

/*
 * Asks the producers to double the ring, if it can grow and nobody asked yet: the new part is
 * made resident first, on the caller's thread.  Returns the size asked for, or 0.  The writer
 * calls it; so does a producer that found no room (the writer may be blocked on its output).
 */
size_t cc_ring_ask_grow(struct cc_ring *r);

/*
 * The consumer's (serialized with cc_ring_take): back to `to` bytes when the ring is larger and
 * empty, the memory above given back to the system.  Returns 1 when it shrank.
 */
int cc_ring_shrink(struct cc_ring *r, size_t to);
/*
 * Its two steps, apart for the tests: the size taken back to `to`, growth held (returns where
 * the memory to give back ends: the size it had, or the size a growth not yet made was asked to
 * go to; 0 when it did not shrink); then that memory given back and growth let go on.
 */
uint64_t cc_ring_shrink_begin(struct cc_ring *r, size_t to);
void cc_ring_shrink_end(struct cc_ring *r, size_t to, uint64_t from);

/*
 * cc_ring_take() with the synth function given (b->synth is not used): inline, so that a
 * consumer passing its own (the writer) has it called directly, and inlined, once per record.
 */
static inline __attribute__((always_inline)) int cc_ring_take_with(struct cc_ring *r, struct cc_ring_batch *b, int max,
								      cc_ring_ready_fn ready, void *arg,
								      cc_ring_synth_fn synth)
{
	uint64_t t = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
	/*
	 * The size at the tail (see above); a growth's gap, where the tail is at its start, jumped;
	 * and the start of the next gap, where the batch ends so that one size holds for all of it.
	 * The head is read after: a growth seen here is in it.
	 */
	unsigned lg = r->clg;                   /* at most 30: grows[lg + 1] exists */
	uint64_t next, limit = UINT64_MAX;
	while ((next = __atomic_load_n(&r->grows[lg + 1], __ATOMIC_ACQUIRE)) > r->base) {
		uint64_t from = __atomic_load_n(&r->grow_from[lg + 1], __ATOMIC_RELAXED);
		if (t == from)
			t = next - 1;
		if (t < next - 1) {
			limit = from;
			break;
		}
		lg++;
	}
	r->clg = lg;
	uint64_t mask = (1ull << lg) - 1;
	uint64_t h = CC_RING_POS(__atomic_load_n(&r->head, __ATOMIC_ACQUIRE));
	if (h > limit)
		h = limit;
	int held = 0;

	b->nmeta = b->ndata = b->packets = 0;
	b->bytes = 0;
	b->stage_used = 0;
	b->upto = t;
	while (t < h && b->nmeta < max && b->ndata < max) {
		uint64_t *hdr = (uint64_t *)(void *)(r->buf + (t & mask));
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
				cc_ring_add_data(b, d, len, 1);
			} else {
				/* (A batch kept small stops early, but always takes one: any size fits an empty stage.) */
				if (b->stage_soft && b->stage_used >= b->stage_soft)
					break;
				uint8_t *out = b->stage + b->stage_used;
				int records = 0;
				size_t n = synth ? synth(d, len, out, b->stage_size - b->stage_used, &records) : 0;
				/* Stage full: the rest waits for the next batch (one that fits nowhere is dropped). */
				if (n == CC_RING_NO_ROOM) {
					if (b->stage_used)
						break;
					n = 0;
				}
				if (n) {
					cc_ring_add_data(b, out, n, records);
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


/* True when nothing is reserved beyond what was consumed. */
int cc_ring_empty(struct cc_ring *r);

#endif
