/*
 * Frame synthesis's byte writers, inside pcapout/ only: frame.c's general builder and format.c's
 * one-pass record of the usual datagram write the same headers with them.
 */
#ifndef CC_FRAME_INT_H
#define CC_FRAME_INT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "pcapout/frame.h"

#define ARPHRD_NONE_ 0xfffe

/* One store each (byte stores were a tenth of the writer's work per record). */
static inline void put_be16(uint8_t *p, uint16_t v)
{
	v = htons(v);
	memcpy(p, &v, 2);
}

static inline uint32_t get_be16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

static inline size_t sll2_put(uint8_t *p, uint16_t ethertype, unsigned iface, int outgoing, uint32_t pid)
{
	put_be16(p, ethertype);
	put_be16(p + 2, 0);
	put_be32(p + 4, iface);
	put_be16(p + 8, ARPHRD_NONE_);
	p[10] = outgoing ? 4 : 0;
	p[11] = 4;
	put_be32(p + 12, pid);
	put_be32(p + 16, 0);
	return CC_SLL2_LEN;
}

static inline size_t put_sll2(uint8_t *p, const struct cc_frame *f)
{
	return sll2_put(p, f->dst.family == AF_INET6 ? 0x86dd : 0x0800, f->iface, f->outgoing, f->pid);
}

/* The IPv4 header's sum over the words that do not change with its length (all but it and the sum). */
static inline uint32_t ip4_fixed_sum(const struct cc_frame *f)
{
	return (0x4500u | f->tos) + 0x4000u + ((uint32_t)f->ttl << 8 | f->proto) + get_be16(f->src.ip) +
	       get_be16(f->src.ip + 2) + get_be16(f->dst.ip) + get_be16(f->dst.ip + 2);
}

/* The IPv4 header's total length before l4len bytes of transport, and its sum from fixed_sum. */
static inline void put_ip4_len(uint8_t *p, uint32_t fixed_sum, size_t l4len)
{
	uint32_t tot = 20 + l4len > 0xffff ? 0xffff : (uint32_t)(20 + l4len);
	uint32_t sum = fixed_sum + tot;

	put_be16(p + 2, (uint16_t)tot);
	/* The header's sum from the values: no pass over its bytes. */
	sum = (sum & 0xffff) + (sum >> 16);
	sum += sum >> 16;
	put_be16(p + 10, (uint16_t)~sum);
}

/* The IPv4 header (id 0, DF: what Linux sends for UDP and TCP) before l4len bytes of transport. */
static inline void put_ip4(uint8_t *p, const struct cc_frame *f, size_t l4len)
{
	put_be16(p, (uint16_t)(0x4500u | f->tos));
	put_be32(p + 4, 0x4000);
	p[8] = f->ttl;
	p[9] = f->proto;
	memcpy(p + 12, f->src.ip, 4);
	memcpy(p + 16, f->dst.ip, 4);
	put_ip4_len(p, ip4_fixed_sum(f), l4len);
}

/* The UDP header's length field for l4len bytes. */
static inline void put_udp_len(uint8_t *l4, size_t l4len)
{
	put_be16(l4 + 4, l4len > 0xffff ? 0xffff : (uint16_t)l4len);
}

/* The UDP header, its checksum zero (filled in afterwards where one is kept). */
static inline void put_udp(uint8_t *l4, const struct cc_frame *f, size_t l4len)
{
	put_be16(l4, f->src.port);
	put_be16(l4 + 2, f->dst.port);
	put_udp_len(l4, l4len);
	put_be16(l4 + 6, 0);
}

#endif
