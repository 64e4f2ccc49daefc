/*
 * A bounded many-producer, one-consumer byte ring for capture records.
 *
 * Producers (any thread of the program, signal handlers included) reserve a contiguous slot with
 * one compare-and-swap, fill it, and publish it with a release store; nothing blocks and no
 * system call is made.  The consumer (the writer thread, or a flush at exit/exec) takes the
 * published prefix in order and stops at the first slot still being filled.
 *
 * Each slot starts with an 8-byte header {state, len}; slots are 8-byte aligned and never wrap:
 * a slot that would cross the end is preceded by a padding slot.
 */
#ifndef CC_RING_H
#define CC_RING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct cc_ring {
	uint8_t *buf;
	size_t size;                    /* a power of two */
	uint64_t head;                  /* bytes reserved so far (atomic) */
	uint64_t tail;                  /* bytes consumed so far (atomic) */
};

struct cc_slot {
	uint8_t *data;                  /* len bytes the producer fills */
	uint32_t *state;
};

int cc_ring_init(struct cc_ring *r, size_t size);
/* Makes the whole ring resident now (the consumer's thread calls it), not page by page on first use. */
void cc_ring_prefault(struct cc_ring *r);
void cc_ring_free(struct cc_ring *r);

/* Reserves len bytes; returns 0, or -1 when the ring has no room now. */
int cc_ring_reserve(struct cc_ring *r, size_t len, struct cc_slot *s);
void cc_ring_commit(struct cc_slot *s);
/* Publishes a slot that is written out like any other but is not a packet (secrets, ...). */
void cc_ring_commit_meta(struct cc_slot *s);

/*
 * Publishes a slot holding what the consumer turns into the record itself (cc_ring_batch.synth):
 * building a frame's headers and checksums is left to the consumer's thread, off the program's.
 */
void cc_ring_commit_raw(struct cc_slot *s);

/* Gives the slot back unwritten (the filter declined the record after it was built). */
void cc_ring_commit_skip(struct cc_slot *s);

/* Largest record a ring of this size can hold. */
size_t cc_ring_max_record(const struct cc_ring *r);

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
	cc_ring_synth_fn synth;         /* set by the caller when raw slots may come */
	uint8_t *stage;
	size_t stage_size, stage_used;
	size_t stage_soft;              /* if set, no raw slot is taken once this much is used */
};

int cc_ring_take(struct cc_ring *r, struct cc_ring_batch *b, int max, cc_ring_ready_fn ready, void *arg);
void cc_ring_release(struct cc_ring *r, uint64_t upto);

/* True when nothing is reserved beyond what was consumed. */
int cc_ring_empty(struct cc_ring *r);

#endif
