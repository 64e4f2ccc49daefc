/*
 * Correlation by DTLS record, for SSL objects whose BIOs are memory buffers the program moves to
 * and from its sockets itself, later and maybe on another thread (pyOpenSSL and the WebRTC stacks
 * on it, Janus' read side).
 *
 * A DTLS record keeps its epoch and 48-bit sequence number in the clear (RFC 6347 section 4.1),
 * and its length and authentication tag make it unique in practice.  Outbound, the record an
 * SSL_write left in the write BIO is remembered with its plaintext until a socket call sends a
 * datagram holding it (directly, or inside TURN ChannelData or a Send indication): the plaintext
 * is then written on that datagram's 5-tuple.  Inbound, each received record is remembered with
 * its 5-tuple until SSL_read consumes it from the read BIO.  Tables are bounded, look-ups O(1),
 * entries age out; an unmatched plaintext is written marked, never with a guessed address.
 */
#ifndef CC_DTLSMATCH_H
#define CC_DTLSMATCH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pcapout/frame.h"

/* Set once any SSL object needs matching: until then the socket hooks skip all of this. */
extern int cc_dm_active;

/* The key of the first application-data record in buf (DTLS records); 0 when none. */
uint64_t cc_dm_first_app_key(const uint8_t *buf, size_t len);

/* Outbound: plaintext of `ssl` waits for the record with this key to be sent. */
void cc_dm_expect(const void *ssl, uint64_t key, const void *plain, size_t len);

/*
 * Outbound: the record with this key was not sent after all (the program's BIO callback refused
 * it; OpenSSL writes it again on the retry, which expects it again).  1 when one was waiting.
 */
int cc_dm_withdraw(const void *ssl, uint64_t key);
/*
 * A key for exact bytes (a whole SRTP/SRTCP packet; srtpmatch.h matches those), in two steps:
 * the few bytes it is made of, taken where the packet is (the SRTP hooks, on the program's
 * thread: three loads), and their mix, made where it is compared (the writer's thread).
 */
struct cc_dm_parts {
	uint64_t head, tail;    /* the first and the last 8 bytes */
	uint32_t w;             /* bytes 8 to 11 */
	uint32_t len;
};
void cc_dm_parts_short(const uint8_t *p, size_t len, struct cc_dm_parts *k);
static inline __attribute__((always_inline)) void cc_dm_parts_of(const uint8_t *p, size_t len, struct cc_dm_parts *k)
{
	if (__builtin_expect(len >= 12, 1)) {
		/* Every real SRTP/SRTCP packet: fixed-size loads. */
		memcpy(&k->head, p, 8);
		memcpy(&k->w, p + 8, 4);
		memcpy(&k->tail, p + len - 8, 8);
		k->len = (uint32_t)len;
	} else {
		cc_dm_parts_short(p, len, k);
	}
}
uint64_t cc_dm_parts_key(const struct cc_dm_parts *k);
uint64_t cc_dm_bytes_key(const uint8_t *p, size_t len);

/* A datagram's payload unwrapped from TURN framing (RFC 8656 sections 11, 12), if any. */
void cc_dm_unwrap_turn(const uint8_t **p, size_t *len);

/* Inbound: the flow a received record with this key came on, and when (ts may be NULL); 0 if known. */
int cc_dm_inbound_flow(uint64_t key, struct cc_addr *local, struct cc_addr *peer, uint64_t *ts);

/*
 * Socket hooks: a datagram on a UDP flow, at time ts.  Outgoing ones release waiting plaintexts,
 * stamped with ts; incoming ones are remembered, with ts, for cc_dm_inbound_flow.
 */
void cc_dm_datagram(const struct iovec *iov, int iovcnt, size_t len, int outgoing, const struct cc_addr *local,
		    const struct cc_addr *peer, uint64_t ts);

/* Writes out plaintexts still waiting (at exit), marked with what is known of their flow. */
void cc_dm_flush(void);

/*
 * Who hears that a waiting plaintext met its datagram (or timed out: local NULL, ts 0): the TLS
 * seam (tls.c) registers it at start-up, before any plaintext waits.
 */
typedef void (*cc_dm_matched_fn)(const void *sess, const struct cc_addr *local, const struct cc_addr *peer,
				 const void *plain, size_t len, uint64_t ts);
void cc_dm_on_matched(cc_dm_matched_fn fn);

#endif
