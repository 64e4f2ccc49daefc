/*
 * Capture selection by class; see select.h.
 *
 * A frame is classified from its first bytes only: RFC 7983's first-byte ranges on UDP, the
 * STUN method for TURN, the DTLS record's content type.  TCP streams are one class as a whole, so
 * that a selection never cuts a stream Wireshark must reassemble.  SIP is the exception: a TCP
 * segment that starts a SIP message, or any segment of a connection on SIP's default ports, is
 * also in the class "sip", so `sip` alone keeps the signalling of SIP over TCP and TLS.
 */
#include "shim/select.h"
#include "decoders/demux.h"
#include "decoders/sip.h"
#include "decoders/stun.h"
#include "pcapout/writer.h"

#include <netinet/in.h>
#include <string.h>

unsigned cc_sel = CC_SEL_ALL;

static const struct {
	const char *name;
	unsigned bits;
} names[] = {
	{ "stun", CC_SEL_STUN },
	{ "turn", CC_SEL_TURN },
	{ "dtls-handshake", CC_SEL_DTLS_HS },
	{ "dtls-app", CC_SEL_DTLS_APP },
	{ "dtls", CC_SEL_DTLS_HS | CC_SEL_DTLS_APP },
	{ "rtp", CC_SEL_RTP },
	{ "rtcp", CC_SEL_RTCP },
	{ "sctp", CC_SEL_SCTP },
	{ "tcp", CC_SEL_TCP },
	{ "other", CC_SEL_OTHER },
	{ "sip", CC_SEL_SIP },
	{ "wire", CC_SEL_WIRE },
	{ "plaintext", CC_SEL_PLAIN },
	{ "relay", CC_SEL_RELAY },
	{ "all", CC_SEL_ALL },
};

int cc_sel_parse(const char *list, unsigned *mask, char *bad, size_t badlen)
{
	unsigned m = 0;
	const char *p = list;

	for (;;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		size_t i;

		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strlen(names[i].name) == n && memcmp(names[i].name, p, n) == 0)
				break;
		if (i == sizeof(names) / sizeof(names[0])) {
			if (badlen) {
				size_t c = n < badlen - 1 ? n : badlen - 1;
				memcpy(bad, p, c);
				bad[c] = 0;
			}
			return -1;
		}
		m |= names[i].bits;
		if (!end)
			break;
		p = end + 1;
	}
	if (!(m & CC_SEL_IFACES))
		m |= CC_SEL_IFACES;
	if (!(m & CC_SEL_CONTENT))
		m |= CC_SEL_CONTENT;
	*mask = m;
	return 0;
}

/* RFC 8656 section 17: the methods only TURN uses. */
static int turn_method(unsigned method)
{
	return method >= 0x003 && method <= 0x009 && method != 0x005;
}

static unsigned classify_udp(const uint8_t *p, size_t n, size_t len, int plaintext, uint16_t sport, uint16_t dport)
{
	if (plaintext) {
		/* Plaintext UDP is RTP/RTCP from libsrtp, or a DTLS application's own data. */
		if (n >= 2 && p[0] >= 128 && p[0] <= 191)
			return cc_demux_is_rtcp(p, n) ? CC_SEL_RTCP : CC_SEL_RTP;
		return CC_SEL_DTLS_APP;
	}
	/* SIP's start line is ASCII, in RFC 7983's TURN-channel and QUIC ranges: test it first. */
	if (n > 0 && p[0] >= 'A' && p[0] <= 'Z' && cc_sip_detect(p, n))
		return CC_SEL_SIP;
	switch (cc_demux_udp(p, n, sport, dport)) {
	case CC_CLASS_STUN:
	{
		/* RFC 8489 section 5: the magic cookie tells STUN from stray bytes. */
		uint16_t method;
		uint8_t cls;
		if (cc_stun_peek(p, n, &method, &cls) < 0)
			return CC_SEL_OTHER;
		return turn_method(method) ? CC_SEL_TURN : CC_SEL_STUN;
	}
	case CC_CLASS_TURN_CHANNEL:
		return CC_SEL_TURN;
	case CC_CLASS_DTLS:
		/* RFC 6347 section 4.1: content type 23 is application data; 20, 21, 22 the handshake. */
		return p[0] == 23 || (p[0] & 0xE0) == 0x20 ? CC_SEL_DTLS_APP : CC_SEL_DTLS_HS;
	case CC_CLASS_QUIC:
		/* RFC 5766 channels 0x5000-0x7FFF share these first bytes: the length tells them apart. */
		if (n >= 4 && p[0] < 128 && (size_t)(p[2] << 8 | p[3]) + 4 <= len && len <= (size_t)(p[2] << 8 | p[3]) + 7)
			return CC_SEL_TURN;
		return CC_SEL_OTHER;
	case CC_CLASS_RTP:
		return CC_SEL_RTP;
	case CC_CLASS_RTCP:
		return CC_SEL_RTCP;
	default:
		return CC_SEL_OTHER;
	}
}

unsigned cc_sel_classify(const struct cc_frame *f, const struct iovec *iov, int iovcnt, size_t skip, size_t caplen)
{
	static const unsigned iface_bit[] = { 0, CC_SEL_WIRE, CC_SEL_PLAIN, CC_SEL_RELAY };
	unsigned iface = f->iface < 4 ? iface_bit[f->iface] : 0;
	/* Enough of a line for a SIP request's method and URI scheme; RTP and the rest need 8. */
	uint8_t head[64];
	size_t n;

	if (f->proto == IPPROTO_SCTP)
		return iface | CC_SEL_SCTP | CC_SEL_DTLS_APP;
	n = caplen < sizeof(head) ? caplen : sizeof(head);
	const uint8_t *p = cc_iov_view(iov, iovcnt, skip, &n, head, sizeof(head));
	if (f->proto == IPPROTO_TCP) {
		if (cc_sip_default_port(f->src.port) || cc_sip_default_port(f->dst.port) || cc_sip_detect(p, n))
			return iface | CC_SEL_TCP | CC_SEL_SIP;
		return iface | CC_SEL_TCP;
	}
	return iface | classify_udp(p, n, caplen, f->iface == CC_IF_PLAINTEXT, f->src.port, f->dst.port);
}

int cc_sel_wants_classified(const struct cc_frame *f, const struct iovec *iov, int iovcnt, size_t skip,
			    size_t caplen)
{
	unsigned sel = __atomic_load_n(&cc_sel, __ATOMIC_RELAXED);
	unsigned c = cc_sel_classify(f, iov, iovcnt, skip, caplen);
	return cc_sel_takes(sel, c);
}

unsigned cc_sel_udp_byte_classes(uint8_t b, int service)
{
	/* classify_udp()'s answers, by its tests in order: SIP's start line, then RFC 7983's ranges. */
	unsigned c = b >= 'A' && b <= 'Z' ? CC_SEL_SIP : 0;

	if (service)
		return c | CC_SEL_OTHER;
	if (b <= 3)
		return c | CC_SEL_STUN | CC_SEL_TURN | CC_SEL_OTHER;     /* by cookie and method */
	if (b >= 20 && b <= 63)
		return c | (b == 23 || (b & 0xE0) == 0x20 ? CC_SEL_DTLS_APP : CC_SEL_DTLS_HS);
	if (b >= 64 && b <= 79)
		return c | CC_SEL_TURN;
	if (b >= 80 && b <= 127)
		return c | CC_SEL_TURN | CC_SEL_OTHER;                    /* by the length */
	if (b >= 128 && b <= 191)
		return c | CC_SEL_RTP | CC_SEL_RTCP | CC_SEL_OTHER;      /* by the second byte */
	return c | CC_SEL_OTHER;                                          /* 4-19, 192-255 */
}

int cc_sel_udp_wire(const uint8_t *p, size_t len, uint16_t sport, uint16_t dport)
{
	/* What cc_sel_classify() reads of a wire UDP frame: its interface, protocol, ports and bytes. */
	struct cc_frame f = { .proto = IPPROTO_UDP, .iface = CC_IF_WIRE };

	f.src.port = sport;
	f.dst.port = dport;
	struct iovec v = { (void *)p, len };

	return cc_sel_wants_classified(&f, &v, 1, 0, len);
}

void cc_emit(const struct cc_frame *f, uint64_t ts, const struct iovec *iov, int iovcnt, size_t skip,
	     size_t caplen, size_t origlen)
{
	if (__builtin_expect(!cc_sel_wants(f, iov, iovcnt, skip, caplen), 0)) {
		cc_writer_count_filtered();
		if (!f->defer)
			return;
		/* Not written, but its handler still needs to see it (a datagram others match on). */
		struct cc_frame h = *f;
		h.hidden = 1;
		cc_out_frame(&h, ts, iov, iovcnt, skip, caplen, origlen);
		return;
	}
	cc_out_frame(f, ts, iov, iovcnt, skip, caplen, origlen);
}
