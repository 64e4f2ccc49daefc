/*
 * Plaintext frames (shim/plain.c): what a TLS, DTLS or SRTP call moved in the clear, written on
 * the plaintext interface on the flow of the wire packets that carried it.  Its own header, so
 * that the modules that find flows (srtpmatch, the TLS seam) need nothing of capture.c's.
 */
#ifndef CC_PLAIN_H
#define CC_PLAIN_H

#include <stddef.h>
#include <stdint.h>

#include "pcapout/frame.h"

/* Where a plaintext goes: the flow, and the synthesized TCP stream of a TLS connection. */
struct cc_plainflow {
	uint8_t proto;          /* IPPROTO_UDP (DTLS) or IPPROTO_TCP (TLS); 0: flow unknown */
	uint8_t tcp_open;
	uint8_t fin_out, fin_in;
	uint8_t passive;        /* TCP: the local end accepted; the peer opened */
	uint8_t mapped;         /* write IPv4 addresses IPv4-mapped (see cc_plain_frame) */
	uint8_t rtp;            /* SRTP's plaintext: RTP or RTCP, never SCTP (no need to look) */
	uint8_t isn_gen;        /* TCP: the address pair's generation (cc_tcp_gen_open), as the wire stream's */
	struct cc_addr local, peer;
	uint32_t snd_seq, rcv_seq;
};

/*
 * One plaintext on the plaintext interface, on the flow's 5-tuple: DTLS carrying SCTP as IP/SCTP,
 * other DTLS as UDP, TLS as a synthesized TCP stream.  note says how the flow was found.  ts is
 * the time of the datagram that carried it, 0 when not known: then now.
 */
void cc_cap_plain(struct cc_plainflow *pf, int outgoing, const void *buf, size_t len, const char *note,
		  uint64_t ts);

/* The frame of a plaintext on the flow's 5-tuple (see cc_cap_plain), with no payload yet. */
void cc_plain_frame(const struct cc_plainflow *pf, struct cc_frame *f, int outgoing, uint8_t proto, const char *note);

/* The plaintext TCP stream's FIN (close_notify or shutdown). */
void cc_plain_fin(struct cc_plainflow *pf, int outgoing, const char *note);

#endif
