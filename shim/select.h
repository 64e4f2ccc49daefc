/*
 * Capture selection by class (CLEARCAP_CAPTURE): what a frame carries, and the interface it is
 * written on.  Checked before a frame is built, so a declined packet costs a first-byte test.
 */
#ifndef CC_SELECT_H
#define CC_SELECT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "pcapout/frame.h"

enum {
	CC_SEL_STUN = 1u << 0,          /* STUN other than TURN methods (ICE checks, Binding) */
	CC_SEL_TURN = 1u << 1,          /* TURN methods and ChannelData on the wire */
	CC_SEL_DTLS_HS = 1u << 2,       /* DTLS handshake, change cipher spec, alert records */
	CC_SEL_DTLS_APP = 1u << 3,      /* DTLS application data, and its plaintext */
	CC_SEL_RTP = 1u << 4,           /* RTP and SRTP */
	CC_SEL_RTCP = 1u << 5,          /* RTCP and SRTCP */
	CC_SEL_SCTP = 1u << 6,          /* plaintext SCTP (data channels) */
	CC_SEL_TCP = 1u << 7,           /* every segment of TCP streams, wire and plaintext */
	CC_SEL_OTHER = 1u << 8,         /* any other UDP */
	CC_SEL_SIP = 1u << 9,           /* SIP over UDP; over TCP and TLS also in CC_SEL_TCP */
	CC_SEL_CONTENT = (1u << 10) - 1,
	CC_SEL_WIRE = 1u << 10,
	CC_SEL_PLAIN = 1u << 11,
	CC_SEL_RELAY = 1u << 12,
	CC_SEL_IFACES = CC_SEL_WIRE | CC_SEL_PLAIN | CC_SEL_RELAY,
	CC_SEL_ALL = CC_SEL_CONTENT | CC_SEL_IFACES,
};

/* The selected classes; CC_SEL_ALL (the default) skips classification. */
extern unsigned cc_sel;

/*
 * Parses a comma-separated class list.  A list naming no interface selects all interfaces, one
 * naming no content class all content.  Returns 0, or -1 with the unknown word copied to bad.
 */
int cc_sel_parse(const char *list, unsigned *mask, char *bad, size_t badlen);

/* The class bits of a frame whose payload is `caplen` bytes of iov after `skip`. */
unsigned cc_sel_classify(const struct cc_frame *f, const struct iovec *iov, int iovcnt, size_t skip,
			 size_t caplen);

/* True when the selection takes this frame (always, without CLEARCAP_CAPTURE: inline). */
int cc_sel_wants_classified(const struct cc_frame *f, const struct iovec *iov, int iovcnt, size_t skip,
			    size_t caplen);

/* Whether selection sel takes a frame of these classes (its interface's bit and its content's). */
static inline int cc_sel_takes(unsigned sel, unsigned classes)
{
	return (classes & sel & CC_SEL_CONTENT) && (classes & sel & CC_SEL_IFACES);
}
static inline int cc_sel_wants(const struct cc_frame *f, const struct iovec *iov, int iovcnt, size_t skip,
			       size_t caplen)
{
	if (__builtin_expect(__atomic_load_n(&cc_sel, __ATOMIC_RELAXED) == CC_SEL_ALL, 1))
		return 1;
	return cc_sel_wants_classified(f, iov, iovcnt, skip, caplen);
}

/* True when the selection takes a whole UDP datagram p[0..len) on the wire interface. */
int cc_sel_udp_wire(const uint8_t *p, size_t len, uint16_t sport, uint16_t dport);

/*
 * Every content class a wire UDP datagram whose first byte is b may fall in, whatever follows
 * (each answer cc_sel_classify() can give it): the hot lanes' verdict by first byte (capture.c).
 * service: one of the ports is a service's that carries no media (cc_demux_service_port).
 */
unsigned cc_sel_udp_byte_classes(uint8_t b, int service);

/*
 * Every frame the shim writes goes through here: selection by class, then the writer (which
 * applies CLEARCAP_FILTER).  Arguments as cc_out_frame().
 */
void cc_emit(const struct cc_frame *f, uint64_t ts, const struct iovec *iov, int iovcnt, size_t skip,
	     size_t caplen, size_t origlen);

#endif
