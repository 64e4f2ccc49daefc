/*
 * Queueing a hot lane's datagram (capture_int.h's cc_hot and cc_hot_rx): for the send hooks
 * (hook_send.c) and the receive hooks (hook_socket.c).  The record is the one cc_out_udp()
 * would queue: the lane's head, the time, the lengths and the bytes.
 */
#ifndef CC_SHIM_HOTLANE_H
#define CC_SHIM_HOTLANE_H

#include "shim/capture_int.h"
#include "shim/clock.h"
#include "pcapout/writer.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Fills and publishes a slot taken for lane h's datagram p[0..len), stamped ts. */
static inline __attribute__((always_inline)) void cc_hot_put(const struct cc_hot *h, struct cc_slot *slot, uint64_t ts,
							     const uint8_t *p, size_t len)
{
	struct cc_raw_rec *rec = (struct cc_raw_rec *)(void *)slot->data;
	uint64_t lens = (uint64_t)len * 0x100000001ull;     /* caplen and origlen, len < 2^32 */

	_Static_assert(offsetof(struct cc_raw_rec, origlen) == offsetof(struct cc_raw_rec, caplen) + 4, "lens");
	*rec = h->rec;
	rec->ts_ns = ts;
	memcpy(&rec->caplen, &lens, 8);
	memcpy(slot->data + sizeof(*rec), p, len);
	cc_ring_commit_raw(slot);
}

/* cc_hot_queue() when the ring's usual slot will not do: as cc_out_udp() then. */
static __attribute__((noinline)) void cc_hot_queue_slow(const struct cc_hot *h, uint64_t ts, const uint8_t *p, size_t len)
{
	struct cc_slot slot;

	if (cc_ring_reserve_slow(&cc_wq.ring, sizeof(struct cc_raw_rec) + len, &slot) == 0) {
		cc_hot_put(h, &slot, ts, p, len);
	} else {
		uint64_t bytes;
		memcpy(&bytes, &h->rec.f.proto, 8);
		cc_out_udp_slow(ts, &h->rec.f.src, &h->rec.f.dst, bytes, h->rec.f.pid, h->rec.flow, p, len);
	}
}

/*
 * Queues lane h's datagram p[0..len) (1 to 65535 bytes), as cc_out_udp() would.  Keeps errno:
 * the clock and the copies do not set it, the slow path keeps it.
 */
static inline __attribute__((always_inline)) void cc_hot_queue(const struct cc_hot *h, const uint8_t *p, size_t len)
{
	struct cc_slot slot;
	uint64_t ts = cc_now_inline();

	_Static_assert(sizeof(struct cc_raw_rec) + 65535 <= CC_RING_SMALL, "a lane's longest datagram is small");
	if (__builtin_expect(cc_ring_claim(&cc_wq.ring, sizeof(struct cc_raw_rec) + len, &slot, 1) < 0, 0))
		cc_hot_queue_slow(h, ts, p, len);
	else
		cc_hot_put(h, &slot, ts, p, len);
}

#endif
