/*
 * TURN relays seen from the client: the allocations this process makes, so that every datagram
 * it moves through a relay (ChannelData, Send and Data indications) is also written unwrapped on
 * the `relay` interface between the relayed transport address and the peer, the addresses of the
 * ICE candidate pair.
 */
#ifndef CC_TURN_H
#define CC_TURN_H

#include <stddef.h>
#include <stdint.h>

#include "pcapout/frame.h"
#include <sys/uio.h>

/* What one datagram to or from a TURN server carries through the relay. */
struct cc_relay {
	const uint8_t *data;    /* the inner datagram */
	size_t len;
	struct cc_addr relayed; /* our relayed transport address (XOR-RELAYED-ADDRESS) */
	struct cc_addr peer;    /* the peer (ChannelBind, XOR-PEER-ADDRESS) */
};

/*
 * True for a first byte TURN may start with: STUN 0-3, and ChannelData 64-127 (RFC 7983 says
 * 64-79, but RFC 5766 channels reach 0x7FFF and coturn uses them).
 */
static inline int cc_turn_candidate(uint8_t b)
{
	return b <= 3 || (b >= 64 && b <= 127);
}

/* An Allocate was sent: ChannelData may follow (atomic; set by turn.c). */
extern int cc_turn_allocated;

/*
 * False when cc_turn_datagram() would surely pass p by: the first test of every captured
 * datagram, so one byte and, for STUN, the magic cookie (RFC 8489 section 5).
 */
static inline __attribute__((always_inline)) int cc_turn_maybe(const uint8_t *p, size_t len)
{
	if (!cc_turn_candidate(p[0]))
		return 0;
	if (p[0] >= 64)
		return __atomic_load_n(&cc_turn_allocated, __ATOMIC_RELAXED);
	return len >= 20 && p[4] == 0x21 && p[5] == 0x12 && p[6] == 0xA4 && p[7] == 0x42;
}

/*
 * A whole UDP datagram (or a TURN-over-TCP frame) p[0..len) between local and server.  Learns
 * allocations and channels from the client's requests and the server's answers; returns 1 with
 * *out filled when the datagram carries relayed data of a known allocation.
 */
int cc_turn_datagram(const uint8_t *p, size_t len, int outgoing, const struct cc_addr *local,
		     const struct cc_addr *server, struct cc_relay *out);

/*
 * TURN over TCP (RFC 8656 section 12.5 framing): `len` stream bytes a TCP connection between local
 * and server moved in one call.  Frames are reassembled across calls for connections that sent an
 * Allocate request; each relayed datagram found goes to cc_cap_relay().
 */
void cc_turn_tcp(const struct iovec *iov, int iovcnt, size_t len, int outgoing, const struct cc_addr *local,
		 const struct cc_addr *server);

/* Set once a TURN-over-TCP connection exists: until then TCP data skips cc_turn_tcp (atomic). */
extern int cc_turn_tcp_any;

/*
 * Where the relayed datagrams found in TURN-over-TCP streams go: capture.c registers the function
 * that writes them on the relay interface (cc_cap_relay), at start-up.
 */
typedef void (*cc_relay_fn)(int outgoing, const struct cc_relay *rl, uint64_t ts);
void cc_turn_set_relay(cc_relay_fn fn);

/* At start-up, capturing: the follower's lock joins the fork table. */
void cc_turn_init(void);

#endif
