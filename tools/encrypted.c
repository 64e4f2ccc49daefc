/*
 * encrypted.c - which RTP streams in a capture are SRTP, so that report marks them and extract
 * never writes their ciphertext as media.
 *
 * SRTP keeps the RTP header in the clear (RFC 3711 §3.1), so an encrypted stream looks like any
 * other and its payload decodes as noise.  A stream on the wire or relay interface counts as
 * encrypted when one of these holds, tried in this order:
 *   1. the file holds a plaintext copy (interface 2) of the same SSRC: clearcap saw it decrypted;
 *   2. the same 5-tuple carried DTLS: RTP beside a DTLS handshake is DTLS-SRTP (RFC 5764 §5.1.2);
 *   3. an SDP in the file (SIP over UDP, signalling in plaintext TCP) offered a secure profile
 *      (RTP/SAVP, RTP/SAVPF, UDP/TLS/RTP/SAVPF; RFC 3711 §12, RFC 5764 §8) on the stream's source
 *      or destination port;
 *   4. a G.711 stream (PCMU, PCMA) whose every payload is a whole number of 10 ms frames (80
 *      bytes each) plus 4 or 10 bytes: the HMAC-SHA1-32 or -80 tag SRTP appends (RFC 3711 §4.2).
 * Anything else is taken to be plain RTP.  For other codecs the tag cannot tell on its own:
 * their frame sizes vary, and the tag length (4, 10 or 16 bytes, or none) is only known from
 * the keying.
 */
#include <netinet/in.h>
#include <string.h>

#include "tools/analyze.h"

static int ep_eq(const struct cc_endpoint *x, const struct cc_endpoint *y)
{
	return cc_endpoint_cmp(x, y) == 0;
}

static int savp_port(const struct cc_an *a, uint16_t port)
{
	for (size_t i = 0; i < a->nsavp; i++)
		if (a->savp_ports[i] == port)
			return 1;
	return 0;
}

static void add_port(struct cc_an *a, uint16_t port)
{
	if (port == 0 || savp_port(a, port) || a->nsavp >= CC_AN_MAX_SAVP)
		return;
	a->savp_ports[a->nsavp++] = port;
}

/* One "m=<media> <port>[/<count>] <proto> ..." line (RFC 8866 §5.14) from q, just past "m=". */
static void media_line(struct cc_an *a, const uint8_t *q, const uint8_t *end)
{
	unsigned port = 0, digits = 0;
	const uint8_t *proto;

	while (q < end && *q != ' ' && *q != '\r' && *q != '\n')
		q++;
	if (q >= end || *q != ' ')
		return;
	q++;
	while (q < end && *q >= '0' && *q <= '9' && digits < 6) {
		port = port * 10 + (unsigned)(*q++ - '0');
		digits++;
	}
	if (digits == 0 || port > 65535)
		return;
	if (q < end && *q == '/')
		while (++q < end && *q >= '0' && *q <= '9')
			;
	if (q >= end || *q != ' ')
		return;
	proto = ++q;
	while (q < end && *q != ' ' && *q != '\r' && *q != '\n')
		q++;
	if (memmem(proto, (size_t)(q - proto), "SAVP", 4) != NULL)
		add_port(a, (uint16_t)port);
}

void cc_an_learn_savp(struct cc_an *a, const uint8_t *p, size_t len)
{
	const uint8_t *end = p + len, *q = p;

	while (q != NULL && end - q > 2) {
		q = memmem(q, (size_t)(end - q), "m=", 2);
		if (q == NULL)
			return;
		/* Only at the start of a line (or of the payload, for SDP split across segments). */
		if (q == p || q[-1] == '\n')
			media_line(a, q + 2, end);
		q += 2;
	}
}

static int flow_has_dtls(const struct cc_an *a, const struct cc_stream *s)
{
	for (size_t i = 0; i < a->nflows; i++) {
		const struct cc_flow *f = &a->flows[i];

		if (f->ifindex != s->ifindex || f->proto != IPPROTO_UDP)
			continue;
		if (!((ep_eq(&f->a, &s->src) && ep_eq(&f->b, &s->dst)) ||
		      (ep_eq(&f->a, &s->dst) && ep_eq(&f->b, &s->src))))
			continue;
		return f->kind[0][CC_K_DTLS] + f->kind[1][CC_K_DTLS] > 0;
	}
	return 0;
}

void cc_an_mark_encrypted(struct cc_an *a)
{
	for (size_t i = 0; i < a->nstreams; i++) {
		struct cc_stream *s = &a->streams[i];

		s->encrypted = CC_ENC_NO;
		if (s->ifindex == 2)
			continue;
		for (size_t j = 0; j < a->nstreams; j++)
			if (a->streams[j].ssrc == s->ssrc && a->streams[j].ifindex == 2)
				s->encrypted = CC_ENC_PLAIN_COPY;
		if (!s->encrypted && flow_has_dtls(a, s))
			s->encrypted = CC_ENC_DTLS;
		if (!s->encrypted && (savp_port(a, s->src.port) || savp_port(a, s->dst.port)))
			s->encrypted = CC_ENC_SDP;
		if (!s->encrypted && s->g711_pkts >= 10 && s->g711_tagged == s->g711_pkts)
			s->encrypted = CC_ENC_TAG;
	}
}

const char *cc_enc_reason(uint8_t e)
{
	switch (e) {
	case CC_ENC_PLAIN_COPY: return "a plaintext copy of the SSRC is in the file";
	case CC_ENC_DTLS: return "DTLS-SRTP: the flow carried a DTLS handshake";
	case CC_ENC_SDP: return "SDP offered RTP/SAVP on its port";
	case CC_ENC_TAG: return "G.711 payloads carry an SRTP auth tag";
	default: return "";
	}
}
