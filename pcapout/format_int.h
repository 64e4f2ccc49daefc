/*
 * Record writers inside pcapout/ only: format.c's builders and, inline into the writer's
 * loop, the next record of a flow from its headers (cc_record_udp4_again).
 */
#ifndef CC_FORMAT_INT_H
#define CC_FORMAT_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pcapout/format.h"
#include "pcapout/frame_int.h"

#define PAD4(n) (((n) + 3) & ~(size_t)3)

static inline void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* The 0-3 zero bytes that pad a field to 32 bits: stores, not a memset call per record. */
static inline void pad_zero(uint8_t *p, size_t n)
{
	if (n & 1)
		*p++ = 0;
	if (n & 2) {
		p[0] = 0;
		p[1] = 0;
	}
}

/* An IPv4 UDP record's lengths, its payload, padding, options and trailer around the headers. */
static inline __attribute__((always_inline)) size_t udp4_rest(uint8_t *dst, uint64_t ts_ns, const uint8_t *payload, size_t len, const uint8_t *opts,
			       size_t opts_len)
{
	size_t caplen = CC_SLL2_LEN + 28 + len;
	size_t total = 28 + PAD4(caplen) + opts_len + 4;

	put32(dst + 4, (uint32_t)total);
	put32(dst + 12, (uint32_t)(ts_ns >> 32));
	put32(dst + 16, (uint32_t)ts_ns);
	put32(dst + 20, (uint32_t)caplen);
	put32(dst + 24, (uint32_t)caplen);
	memcpy(dst + 28 + CC_SLL2_LEN + 28, payload, len);
	pad_zero(dst + 28 + caplen, PAD4(caplen) - caplen);
	memcpy(dst + 28 + PAD4(caplen), opts, opts_len);
	put32(dst + total - 4, (uint32_t)total);
	return total;
}

/*
 * The record cc_record_udp4 writes for a datagram of the flow whose headers t holds (taken by
 * cc_udp4_tmpl_take from one of its records): a copy, with its lengths, time and IPv4 header
 * sum put in.
 */
static inline __attribute__((always_inline)) size_t
cc_record_udp4_again(uint8_t *dst, const struct cc_udp4_tmpl *t, uint64_t ts_ns, const uint8_t *payload, size_t len,
		     const uint8_t *opts, size_t opts_len)
{
	uint8_t *ip = dst + 28 + CC_SLL2_LEN;

	memcpy(dst, t->hdr, CC_UDP4_HDR);
	put_ip4_len(ip, t->ip_sum, 8 + len);
	put_udp_len(ip + 20, 8 + len);
	return udp4_rest(dst, ts_ns, payload, len, opts, opts_len);
}

#endif
