/*
 * pktparse.c - link, network and transport headers of a captured frame.
 *
 * Link types: https://www.tcpdump.org/linktypes.html.  The DLT_ numbers are libpcap's, which is
 * what pcap_datalink() returns (LINKTYPE_RAW 101 is DLT_RAW 12 on Linux, for instance).
 */
#include "tools/pktparse.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "decoders/cursor.h"

#define DLT_NULL_	0
#define DLT_EN10MB_	1
#define DLT_RAW_	12
#define DLT_RAW_BSD_	14
#define DLT_LOOP_	108
#define DLT_LINUX_SLL_	113
#define DLT_IPV4_	228
#define DLT_IPV6_	229
#define DLT_LINUX_SLL2_	276
#define LINKTYPE_RAW_	101

#define ETH_IPV4	0x0800
#define ETH_IPV6	0x86dd
#define ETH_VLAN	0x8100
#define ETH_QINQ	0x88a8

int cc_pkt_link_supported(int dlt)
{
	switch (dlt) {
	case DLT_NULL_: case DLT_EN10MB_: case DLT_RAW_: case DLT_RAW_BSD_: case DLT_LOOP_:
	case DLT_LINUX_SLL_: case DLT_IPV4_: case DLT_IPV6_: case DLT_LINUX_SLL2_: case LINKTYPE_RAW_:
		return 1;
	default:
		return 0;
	}
}

/* Linux packet types (if_packet.h): 0 to us, 4 sent by us; broadcast and others are incoming. */
static uint8_t sll_dir(uint16_t pkttype)
{
	return pkttype == 4 ? CC_DIR_OUT : CC_DIR_IN;
}

/* Returns the ethertype (0 when the version nibble must decide) and leaves c at the IP header. */
static int link_header(int dlt, struct cc_cur *c, struct cc_pkt *out, uint16_t *etype)
{
	uint16_t t16, pkttype;
	uint32_t t32;
	uint8_t b;

	*etype = 0;
	switch (dlt) {
	case DLT_EN10MB_:
		if (cur_skip(c, 12) < 0 || cur_be16(c, etype) < 0)
			return CC_ESHORT;
		/* 802.1Q / 802.1ad tags, at most two deep in practice; allow a few. */
		for (int i = 0; i < 4 && (*etype == ETH_VLAN || *etype == ETH_QINQ); i++)
			if (cur_skip(c, 2) < 0 || cur_be16(c, etype) < 0)
				return CC_ESHORT;
		return 0;
	case DLT_LINUX_SLL_:
		/* packet type, ARPHRD, address length, 8 address bytes, protocol. */
		if (cur_be16(c, &pkttype) < 0 || cur_skip(c, 12) < 0 || cur_be16(c, etype) < 0)
			return CC_ESHORT;
		out->dir = sll_dir(pkttype);
		return 0;
	case DLT_LINUX_SLL2_:
		/* protocol, reserved, ifindex, ARPHRD, packet type, address length, 8 address bytes. */
		if (cur_be16(c, etype) < 0 || cur_skip(c, 2) < 0 || cur_be32(c, &t32) < 0 ||
		    cur_skip(c, 2) < 0 || cur_u8(c, &b) < 0)
			return CC_ESHORT;
		out->ifindex = t32 <= 255 ? (uint8_t)t32 : 0;
		out->dir = sll_dir(b);
		if (cur_skip(c, 1) < 0 || cur_be32(c, &out->pid) < 0 || cur_skip(c, 4) < 0)
			return CC_ESHORT;
		return 0;
	case DLT_NULL_:
	case DLT_LOOP_:
		/* An address family: host order for NULL, network order for LOOP.  Either way the
		 * version nibble of the IP header that follows is what we trust. */
		if (cur_be32(c, &t32) < 0)
			return CC_ESHORT;
		return 0;
	case DLT_IPV4_:
		*etype = ETH_IPV4;
		return 0;
	case DLT_IPV6_:
		*etype = ETH_IPV6;
		return 0;
	case DLT_RAW_:
	case DLT_RAW_BSD_:
	case LINKTYPE_RAW_:
		return 0;
	default:
		(void)t16;
		return CC_ENOTSUP;
	}
}

static int ipv4(struct cc_cur *c, struct cc_pkt *out, struct cc_cur *l4)
{
	uint8_t vihl, proto, ttl;
	uint16_t tot, frag;
	size_t hlen;

	if (c->len < 20)
		return CC_ESHORT;
	vihl = c->p[0];
	if (vihl >> 4 != 4)
		return CC_EBAD;
	hlen = (size_t)(vihl & 0x0f) * 4;
	if (hlen < 20)
		return CC_EBAD;
	if (cur_skip(c, 2) < 0 || cur_be16(c, &tot) < 0 || cur_skip(c, 2) < 0 ||
	    cur_be16(c, &frag) < 0 || cur_u8(c, &ttl) < 0 || cur_u8(c, &proto) < 0 ||
	    cur_skip(c, 2) < 0)
		return CC_ESHORT;
	out->src.family = out->dst.family = 4;
	if (cur_bytes(c, out->src.ip, 4) < 0 || cur_bytes(c, out->dst.ip, 4) < 0 ||
	    cur_skip(c, hlen - 20) < 0)
		return CC_ESHORT;
	out->proto = proto;
	out->fragment = (frag & 0x1fff) != 0;
	/* The IP length bounds the payload (Ethernet pads short frames); a capture may cut it. */
	*l4 = *c;
	if (tot >= hlen && (size_t)(tot - hlen) < l4->len)
		l4->len = tot - hlen;
	return 0;
}

static int ipv6(struct cc_cur *c, struct cc_pkt *out, struct cc_cur *l4)
{
	uint8_t nh, hlim, b;
	uint16_t plen;
	uint32_t w;

	if (cur_be32(c, &w) < 0)
		return CC_ESHORT;
	if (w >> 28 != 6)
		return CC_EBAD;
	if (cur_be16(c, &plen) < 0 || cur_u8(c, &nh) < 0 || cur_u8(c, &hlim) < 0)
		return CC_ESHORT;
	out->src.family = out->dst.family = 6;
	if (cur_bytes(c, out->src.ip, 16) < 0 || cur_bytes(c, out->dst.ip, 16) < 0)
		return CC_ESHORT;
	if (plen != 0 && plen < c->len)
		c->len = plen;
	/* Extension headers (RFC 8200 §4): a bounded walk, a fragment ends it unless first. */
	for (int i = 0; i < 8; i++) {
		uint8_t next, len8;
		uint16_t off;

		if (nh == 0 || nh == 43 || nh == 60) {
			if (cur_u8(c, &next) < 0 || cur_u8(c, &len8) < 0 ||
			    cur_skip(c, 6 + (size_t)len8 * 8) < 0)
				return CC_ESHORT;
			nh = next;
		} else if (nh == 44) {
			if (cur_u8(c, &next) < 0 || cur_u8(c, &b) < 0 || cur_be16(c, &off) < 0 ||
			    cur_skip(c, 4) < 0)
				return CC_ESHORT;
			out->fragment = (off >> 3) != 0;
			nh = next;
		} else {
			break;
		}
	}
	out->proto = nh;
	*l4 = *c;
	return 0;
}

static int transport(struct cc_cur *l4, struct cc_pkt *out)
{
	struct cc_cur c = *l4;
	uint16_t ulen;
	uint8_t off, flags;

	out->l4 = l4->p;
	out->l4_len = l4->len;
	if (out->fragment)
		return CC_ENOTSUP;
	switch (out->proto) {
	case IPPROTO_UDP:
		if (cur_be16(&c, &out->src.port) < 0 || cur_be16(&c, &out->dst.port) < 0 ||
		    cur_be16(&c, &ulen) < 0 || cur_skip(&c, 2) < 0)
			return CC_ESHORT;
		if (ulen >= 8 && (size_t)(ulen - 8) < c.len)
			c.len = ulen - 8;
		break;
	case IPPROTO_TCP:
		if (cur_be16(&c, &out->src.port) < 0 || cur_be16(&c, &out->dst.port) < 0 ||
		    cur_skip(&c, 8) < 0 || cur_u8(&c, &off) < 0 || cur_u8(&c, &flags) < 0 ||
		    cur_skip(&c, 6) < 0)
			return CC_ESHORT;
		if ((off >> 4) < 5 || cur_skip(&c, (size_t)(off >> 4) * 4 - 20) < 0)
			return CC_ESHORT;
		out->tcp_flags = flags;
		break;
	case IPPROTO_SCTP:
		if (cur_be16(&c, &out->src.port) < 0 || cur_be16(&c, &out->dst.port) < 0)
			return CC_ESHORT;
		/* The payload of SCTP is its chunks; callers hand the whole packet to decoders. */
		c = *l4;
		break;
	default:
		return CC_ENOTSUP;
	}
	out->payload = c.len ? c.p : NULL;
	out->payload_len = c.len;
	return 0;
}

int cc_pkt_parse(int dlt, const uint8_t *p, size_t caplen, struct cc_pkt *out)
{
	struct cc_cur c, l4;
	uint16_t etype;
	int rc;

	memset(out, 0, sizeof *out);
	cur_init(&c, p, caplen);
	rc = link_header(dlt, &c, out, &etype);
	if (rc < 0)
		return rc;
	if (etype == 0) {
		if (c.len < 1)
			return CC_ESHORT;
		etype = (c.p[0] >> 4) == 6 ? ETH_IPV6 : (c.p[0] >> 4) == 4 ? ETH_IPV4 : 0;
	}
	if (etype == ETH_IPV4)
		rc = ipv4(&c, out, &l4);
	else if (etype == ETH_IPV6)
		rc = ipv6(&c, out, &l4);
	else
		return CC_ENOTSUP;
	if (rc < 0)
		return rc;
	return transport(&l4, out);
}

int cc_pkt_network(int dlt, const uint8_t *p, size_t caplen, uint16_t *ethertype, size_t *off, uint8_t *dir)
{
	struct cc_pkt tmp;
	struct cc_cur c;
	int rc;

	memset(&tmp, 0, sizeof tmp);
	cur_init(&c, p, caplen);
	rc = link_header(dlt, &c, &tmp, ethertype);
	if (rc < 0)
		return rc;
	if (*ethertype == 0) {
		if (c.len < 1)
			return CC_ESHORT;
		*ethertype = (c.p[0] >> 4) == 6 ? ETH_IPV6 : (c.p[0] >> 4) == 4 ? ETH_IPV4 : 0;
		if (*ethertype == 0)
			return CC_ENOTSUP;
	}
	*off = caplen - c.len;
	*dir = tmp.dir;
	return 0;
}

char *cc_endpoint_str(const struct cc_endpoint *e, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN];

	if (e->family == 6) {
		/* IPv4-mapped: clearcap writes plaintext RTP that way; show it as IPv4. */
		static const uint8_t mapped[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };
		if (memcmp(e->ip, mapped, 12) == 0) {
			inet_ntop(AF_INET, e->ip + 12, a, sizeof a);
			snprintf(buf, size, "%s:%u", a, e->port);
		} else {
			inet_ntop(AF_INET6, e->ip, a, sizeof a);
			snprintf(buf, size, "[%s]:%u", a, e->port);
		}
	} else {
		inet_ntop(AF_INET, e->ip, a, sizeof a);
		snprintf(buf, size, "%s:%u", a, e->port);
	}
	return buf;
}

int cc_endpoint_cmp(const struct cc_endpoint *a, const struct cc_endpoint *b)
{
	int r;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	r = memcmp(a->ip, b->ip, a->family == 6 ? 16 : 4);
	if (r != 0)
		return r;
	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	return 0;
}
