/*
 * HEPv3 packets from capture records.  The format is sipcapture's "HEP3 Network Protocol
 * Specification" (https://github.com/sipcapture/HEP, docs/HEP3_Network_Protocol_Specification_REV_37.pdf):
 * a 6-byte header, then chunks, every number in network byte order.
 *
 *   +---------------+---------------+---------------+
 *   |  "HEP3" (4)                   | total length  |     length of the whole packet
 *   +---------------+---------------+---------------+
 *   | vendor id (0) |  chunk type   | chunk length  | value ...   chunk length counts its 6-byte head
 *   +---------------+---------------+---------------+
 *
 * Generic chunks (vendor 0) written here: 1 IP family (2 IPv4, 10 IPv6), 2 IP protocol, 3/4 IPv4
 * or 5/6 IPv6 source/destination, 7/8 source/destination port, 9 seconds and 10 microseconds
 * of the capture time, 11 protocol type (1 SIP, 4 RTP, 5 RTCP as JSON), 12 capture agent id
 * (32 bits), 14 authentication key, 15 payload, 17 correlation id, 19 group id, which Homer's
 * heplify-server and Kamailio's sipcapture show as the node name.
 */
#include "pcapout/hep.h"
#include "decoders/cursor.h"
#include "decoders/demux.h"
#include "decoders/rtcp.h"
#include "decoders/sipframe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static void be16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = (uint8_t)v;
}

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = (uint8_t)v;
}

static uint32_t ho32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

struct enc {
	uint8_t *p;
	size_t room, n;
	int full;
};

static void chunk(struct enc *e, uint16_t type, const void *v, size_t len)
{
	if (e->full || len > CC_HEP_MAX || e->n + 6 + len > e->room) {
		e->full = 1;
		return;
	}
	be16(e->p + e->n, 0);
	be16(e->p + e->n + 2, type);
	be16(e->p + e->n + 4, (uint16_t)(6 + len));
	memcpy(e->p + e->n + 6, v, len);
	e->n += 6 + len;
}

static void chunk8(struct enc *e, uint16_t type, uint8_t v)
{
	chunk(e, type, &v, 1);
}

static void chunk16(struct enc *e, uint16_t type, uint16_t v)
{
	uint8_t b[2];

	be16(b, v);
	chunk(e, type, b, 2);
}

static void chunk32(struct enc *e, uint16_t type, uint32_t v)
{
	uint8_t b[4];

	be32(b, v);
	chunk(e, type, b, 4);
}

static int mapped(const uint8_t *ip)
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return memcmp(ip, prefix, 12) == 0;
}

size_t cc_hep_encode(uint8_t *out, size_t room, const struct cc_hep_cfg *cfg, const struct cc_hep_msg *m)
{
	const struct cc_hep_pkt *k = m->pkt;
	struct enc e = { out, room < CC_HEP_MAX ? room : CC_HEP_MAX, 6, room < 6 };
	int v6 = k->dst.family == AF_INET6;
	const uint8_t *src = k->src.ip, *dst = k->dst.ip;

	/* A dual-stack socket's IPv4 peer (::ffff:a.b.c.d, RFC 4291 section 2.5.5.2) goes as IPv4. */
	if (v6 && mapped(src) && mapped(dst)) {
		v6 = 0;
		src += 12;
		dst += 12;
	}
	chunk8(&e, 1, v6 ? 10 : 2);
	chunk8(&e, 2, k->proto);
	chunk(&e, v6 ? 5 : 3, src, v6 ? 16 : 4);
	chunk(&e, v6 ? 6 : 4, dst, v6 ? 16 : 4);
	chunk16(&e, 7, k->src.port);
	chunk16(&e, 8, k->dst.port);
	chunk32(&e, 9, (uint32_t)(k->ts_ns / 1000000000u));
	chunk32(&e, 10, (uint32_t)(k->ts_ns % 1000000000u / 1000u));
	chunk8(&e, 11, m->proto_type);
	chunk32(&e, 12, cfg->id);
	if (cfg->password[0])
		chunk(&e, 14, cfg->password, strnlen(cfg->password, sizeof(cfg->password)));
	if (m->cid && m->cid_len)
		chunk(&e, 17, m->cid, m->cid_len);
	if (cfg->name[0])
		chunk(&e, 19, cfg->name, strnlen(cfg->name, sizeof(cfg->name)));
	chunk(&e, 15, m->payload, m->len);
	if (e.full)
		return 0;
	memcpy(out, "HEP3", 4);
	be16(out + 4, (uint16_t)e.n);
	return e.n;
}

/* The transport header after the IP header: ports, and the payload's offset. */
static int transport(struct cc_cur *c, struct cc_hep_pkt *k)
{
	uint16_t sp, dp;

	if (k->proto == IPPROTO_SCTP) {
		/* The payload is the SCTP packet itself, common header first (RFC 9260 section 3.1). */
		if (cur_left(c) < 12)
			return 0;
		k->src.port = (uint16_t)(c->p[0] << 8 | c->p[1]);
		k->dst.port = (uint16_t)(c->p[2] << 8 | c->p[3]);
		k->payload = c->p;
		k->len = cur_left(c);
		return 1;
	}
	if (cur_be16(c, &sp) || cur_be16(c, &dp))
		return 0;
	k->src.port = sp;
	k->dst.port = dp;
	if (k->proto == IPPROTO_UDP) {
		if (cur_skip(c, 4))
			return 0;
	} else if (k->proto == IPPROTO_TCP) {
		uint8_t off, flags;
		if (cur_be32(c, &k->seq) || cur_skip(c, 4) || cur_u8(c, &off) || cur_u8(c, &flags))
			return 0;
		k->tcp_flags = flags;
		/* RFC 9293 section 3.1: data offset in 32-bit words, 14 bytes read so far. */
		if ((off >> 4) < 5 || cur_skip(c, (size_t)(off >> 4) * 4 - 14))
			return 0;
	} else {
		return 0;
	}
	k->payload = c->p;
	k->len = cur_left(c);
	return 1;
}

/* An SLL2 frame (pcapout/frame.c) holding IPv4 or IPv6 and UDP, TCP or SCTP. */
static int frame(const uint8_t *p, size_t len, struct cc_hep_pkt *k)
{
	struct cc_cur c;
	uint16_t ethertype;
	uint32_t ifindex;
	uint8_t ptype, b;

	cur_init(&c, p, len);
	if (cur_be16(&c, &ethertype) || cur_skip(&c, 2) || cur_be32(&c, &ifindex) || cur_skip(&c, 2) ||
	    cur_u8(&c, &ptype) || cur_skip(&c, 9))
		return 0;
	k->iface = (uint8_t)ifindex;
	k->outgoing = ptype == 4;
	memset(&k->src, 0, sizeof(k->src));
	memset(&k->dst, 0, sizeof(k->dst));
	if (ethertype == 0x0800) {
		if (cur_u8(&c, &b) || (b >> 4) != 4 || (b & 15) < 5)
			return 0;
		size_t ihl = (size_t)(b & 15) * 4;
		if (cur_left(&c) + 1 < ihl || cur_skip(&c, 8) || cur_u8(&c, &k->proto) || cur_skip(&c, 2) ||
		    cur_bytes(&c, k->src.ip, 4) || cur_bytes(&c, k->dst.ip, 4) || cur_skip(&c, ihl - 20))
			return 0;
		k->src.family = k->dst.family = AF_INET;
	} else if (ethertype == 0x86dd) {
		/* Our frames carry no extension headers: the next header is the transport. */
		if (cur_u8(&c, &b) || (b >> 4) != 6 || cur_skip(&c, 5) || cur_u8(&c, &k->proto) || cur_skip(&c, 1) ||
		    cur_bytes(&c, k->src.ip, 16) || cur_bytes(&c, k->dst.ip, 16))
			return 0;
		k->src.family = k->dst.family = AF_INET6;
	} else {
		return 0;
	}
	return transport(&c, k);
}

int cc_hep_parse_record(enum cc_format fmt, const uint8_t *rec, size_t rlen, size_t *used, struct cc_hep_pkt *k)
{
	size_t off, caplen, total;

	memset(k, 0, sizeof(*k));
	if (fmt == CC_FMT_PCAP) {
		if (rlen < 16) {
			*used = 16;
			return -1;
		}
		caplen = ho32(rec + 8);
		total = 16 + caplen;
		off = 16;
		k->ts_ns = (uint64_t)ho32(rec) * 1000000000u + ho32(rec + 4);
	} else {
		if (rlen < 8) {
			*used = 12;
			return -1;
		}
		total = ho32(rec + 4);
		if (total < 12 || total % 4) {
			*used = 0;
			return -1;
		}
		if (ho32(rec) != 6) {   /* not an Enhanced Packet Block: secrets, say, which never leave */
			*used = total;
			return total <= rlen ? 0 : -1;
		}
		if (total < 32) {
			*used = 0;
			return -1;
		}
		off = 28;
		caplen = total <= rlen ? ho32(rec + 20) : 0;
		k->ts_ns = total <= rlen ? (uint64_t)ho32(rec + 12) << 32 | ho32(rec + 16) : 0;
		if (caplen > total - 32) {
			*used = total <= rlen ? total : 0;
			return total <= rlen ? 0 : -1;
		}
	}
	*used = total;
	if (total > rlen)
		return -1;
	return frame(rec + off, caplen, k);
}

unsigned cc_hep_classify_udp(const uint8_t *p, size_t len, uint16_t sport, uint16_t dport)
{
	if (cc_sip_is_start(p, len))
		return CC_HEP_SIP;
	switch (cc_demux_udp(p, len, sport, dport)) {
	case CC_CLASS_RTCP:
		return CC_HEP_RTCP;
	case CC_CLASS_RTP:
		return CC_HEP_RTP;
	default:
		return CC_HEP_OTHER;
	}
}

/* Appends to out; returns 0, or -1 when room ran out. */
static int add(char *out, size_t room, size_t *n, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int add(char *out, size_t room, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int w;

	va_start(ap, fmt);
	w = vsnprintf(out + *n, room - *n, fmt, ap);
	va_end(ap);
	if (w < 0 || (size_t)w >= room - *n)
		return -1;
	*n += (size_t)w;
	return 0;
}

/*
 * The field names are those of heplify (Homer's own agent), which Homer's user interface reads
 * for protocol type 5.
 */
/* One end as "ip:port" or "[ip6]:port", IPv4-mapped as IPv4; its length, or 0. */
static size_t end_str(const struct cc_addr *e, char *out, size_t size)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	char ip[INET6_ADDRSTRLEN];
	int v6 = e->family == AF_INET6 && memcmp(e->ip, mapped, 12) != 0;
	const uint8_t *a = e->family == AF_INET6 && !v6 ? e->ip + 12 : e->ip;

	if (!inet_ntop(v6 ? AF_INET6 : AF_INET, a, ip, sizeof(ip)))
		return 0;
	int n = snprintf(out, size, v6 ? "[%s]:%u" : "%s:%u", ip, e->port);
	return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

size_t cc_hep_flow_cid(const struct cc_addr *a, const struct cc_addr *b, char *out, size_t size)
{
	char x[64], y[64];

	if (!end_str(a, x, sizeof(x)) || !end_str(b, y, sizeof(y)))
		return 0;
	int swap = strcmp(x, y) > 0;
	int n = snprintf(out, size, "rtcp-%s-%s", swap ? y : x, swap ? x : y);
	return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

size_t cc_hep_rtcp_json(const uint8_t *p, size_t len, char *out, size_t room)
{
	struct cc_rtcp_iter it;
	struct cc_rtcp_pkt pkt;
	struct cc_rtcp_report r;
	size_t n = 0;

	cc_rtcp_iter_init(&it, p, len);
	while (cc_rtcp_next(&it, &pkt) == 1) {
		if ((pkt.pt != 200 && pkt.pt != 201) || cc_rtcp_report(&pkt, &r) != 0)
			continue;
		if (add(out, room, &n, "{"))
			return 0;
		if (r.has_sender_info &&
		    add(out, room, &n, "\"sender_information\":{\"ntp_timestamp_sec\":%u,\"ntp_timestamp_usec\":%u,"
			"\"rtp_timestamp\":%u,\"packets\":%u,\"octets\":%u},", (unsigned)(r.ntp >> 32),
			(unsigned)(((r.ntp & 0xffffffffu) * 1000000u) >> 32), r.rtp_ts, r.packet_count, r.octet_count))
			return 0;
		if (add(out, room, &n, "\"ssrc\":%u,\"type\":%u,\"report_count\":%u,\"report_blocks\":[", r.ssrc,
			pkt.pt, r.rb_count))
			return 0;
		for (unsigned i = 0; i < r.rb_count; i++) {
			struct cc_rtcp_rb b;
			if (cc_rtcp_report_block(&r, i, &b) != 0)
				break;
			if (add(out, room, &n, "%s{\"source_ssrc\":%u,\"fraction_lost\":%u,\"packets_lost\":%d,"
				"\"highest_seq_no\":%u,\"ia_jitter\":%u,\"lsr\":%u,\"dlsr\":%u}", i ? "," : "", b.ssrc,
				b.fraction_lost, b.cumulative_lost, b.ext_highest_seq, b.jitter, b.lsr, b.dlsr))
				return 0;
		}
		if (add(out, room, &n, "]}"))
			return 0;
		return n;
	}
	return 0;
}

int cc_hep_parse_url(const char *v, struct cc_hep_cfg *c, const char **why)
{
	char host[64];
	const char *h, *colon;
	char *end;
	long port;

	if (strncmp(v, "udp:", 4) == 0)
		c->tcp = 0;
	else if (strncmp(v, "tcp:", 4) == 0)
		c->tcp = 1;
	else if (strncmp(v, "tls:", 4) == 0) {
		/* The shim links no TLS library: the wrapper relays (tools/heprelay.c). */
		*why = "tls: is relayed by the clearcap command (clearcap --hep tls:HOST:PORT -- PROGRAM); the "
		       "shim itself speaks udp: and tcp:";
		return -1;
	} else {
		*why = "expected udp:HOST:PORT or tcp:HOST:PORT";
		return -1;
	}
	h = v + 4;
	colon = strrchr(h, ':');
	if (!colon || colon == h) {
		*why = "expected udp:HOST:PORT or tcp:HOST:PORT";
		return -1;
	}
	size_t n = (size_t)(colon - h);
	if (h[0] == '[' && n >= 2 && h[n - 1] == ']') {
		h++;
		n -= 2;
	}
	if (n >= sizeof(host)) {
		*why = "host too long";
		return -1;
	}
	memcpy(host, h, n);
	host[n] = 0;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port < 1 || port > 65535) {
		*why = "expected a port from 1 to 65535";
		return -1;
	}
	/* Numeric only: a name would need DNS, which has no place inside the program's process. */
	memset(c->addr, 0, sizeof(c->addr));
	if (inet_pton(AF_INET, host, c->addr) == 1) {
		c->family = AF_INET;
	} else if (inet_pton(AF_INET6, host, c->addr) == 1) {
		c->family = AF_INET6;
	} else {
		*why = "HOST must be a numeric IPv4 or IPv6 address";
		return -1;
	}
	c->port = (uint16_t)port;
	return 0;
}

int cc_hep_parse_classes(const char *list, unsigned *mask, char *bad, size_t badlen)
{
	static const struct {
		const char *name;
		unsigned bits;
	} names[] = {
		{ "sip", CC_HEP_SIP }, { "rtcp", CC_HEP_RTCP }, { "rtp", CC_HEP_RTP }, { "other", CC_HEP_OTHER },
		{ "wire", CC_HEP_WIRE }, { "plaintext", CC_HEP_PLAIN }, { "relay", CC_HEP_RELAY },
		{ "all", CC_HEP_SIP | CC_HEP_RTCP | CC_HEP_RTP | CC_HEP_OTHER | CC_HEP_WIRE | CC_HEP_PLAIN | CC_HEP_RELAY },
	};
	const unsigned ifaces = CC_HEP_WIRE | CC_HEP_PLAIN | CC_HEP_RELAY;
	unsigned m = 0;
	const char *p = list;

	for (;;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p), i;

		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strlen(names[i].name) == n && memcmp(names[i].name, p, n) == 0)
				break;
		if (i == sizeof(names) / sizeof(names[0])) {
			size_t c = n < badlen - 1 ? n : badlen - 1;
			memcpy(bad, p, c);
			bad[c] = 0;
			return -1;
		}
		m |= names[i].bits;
		if (!end)
			break;
		p = end + 1;
	}
	/* As CLEARCAP_CAPTURE: naming no interface means all; naming no content, the default's. */
	if (!(m & ifaces))
		m |= ifaces;
	if (!(m & ~ifaces))
		m |= CC_HEP_DEFAULT & ~ifaces;
	*mask = m;
	return 0;
}
