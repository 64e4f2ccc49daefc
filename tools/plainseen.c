/*
 * plainseen.c - clearcap's own frames and the plaintext a capture holds; see plainseen.h.
 */
#include "tools/plainseen.h"
#include "pcapout/frame.h"
#include "tools/capread.h"
#include "tools/pktparse.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>

#define DLT_LINUX_SLL2_ 276

/*
 * The clearcap interface (1 wire, 2 plaintext, 3 relay) of an SLL2 frame clearcap wrote, or 0 for
 * any other frame.  clearcap's frames say ARPHRD_NONE (frame.c); a tcpdump SLL2 capture has real
 * interface indexes there (eth0 may well be 2) with ARPHRD_ETHER or ARPHRD_LOOPBACK.
 */
unsigned cc_clearcap_iface(int dlt, const uint8_t *data, size_t caplen)
{
	if (dlt != DLT_LINUX_SLL2_ || caplen < CC_SLL2_LEN || data[8] != 0xff || data[9] != 0xfe)
		return 0;
	uint32_t ifx = (uint32_t)data[4] << 24 | (uint32_t)data[5] << 16 | (uint32_t)data[6] << 8 | data[7];
	return ifx >= 1 && ifx <= CC_IF_COUNT ? ifx : 0;
}

/* FNV-1a over the payload, its length and direction mixed in. */
uint64_t cc_seen_hash(const uint8_t *p, size_t len, unsigned dir)
{
	uint64_t x = 0xcbf29ce484222325ull ^ len ^ (uint64_t)dir << 56;

	for (size_t i = 0; i < len; i++)
		x = (x ^ p[i]) * 0x100000001b3ull;
	return x ? x : 1;
}

int cc_seen_has(const struct cc_seen *s, uint64_t x)
{
	if (!s->cap)
		return 0;
	for (size_t i = x & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
		if (s->h[i] == x)
			return 1;
		if (!s->h[i])
			return 0;
	}
}

static int seen_add(struct cc_seen *s, uint64_t x)
{
	if (2 * (s->n + 1) > s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 1024;
		uint64_t *h = calloc(cap, sizeof(*h));
		if (!h)
			return -1;
		for (size_t i = 0; i < s->cap; i++)
			if (s->h[i])
				for (size_t j = s->h[i] & (cap - 1);; j = (j + 1) & (cap - 1))
					if (!h[j]) {
						h[j] = s->h[i];
						break;
					}
		free(s->h);
		s->h = h;
		s->cap = cap;
	}
	if (cc_seen_has(s, x))
		return 0;
	for (size_t i = x & (s->cap - 1);; i = (i + 1) & (s->cap - 1))
		if (!s->h[i]) {
			s->h[i] = x;
			s->n++;
			return 0;
		}
}

/* The pass before the real one, over a clearcap capture only: what is on `plaintext` already. */
int cc_seen_scan(struct cc_seen *s, const char *in, char *err, size_t errsize)
{
	struct cc_capread r;
	const struct pcap_pkthdr *h;
	const uint8_t *data;
	uint64_t ts;
	int rc;

	if (cc_capread_open(&r, in, 0) < 0) {
		snprintf(err, errsize, "%s", r.err);
		return -1;
	}
	if (r.dlt == DLT_LINUX_SLL2_)
		while ((rc = cc_capread_next(&r, &h, &data, &ts)) == 1) {
			struct cc_pkt pkt;
			if (cc_clearcap_iface(r.dlt, data, h->caplen) == CC_IF_PLAINTEXT &&
			    cc_pkt_parse(r.dlt, data, h->caplen, &pkt) == 0 &&
			    pkt.proto == IPPROTO_UDP && pkt.payload_len &&
			    seen_add(s, cc_seen_hash(pkt.payload, pkt.payload_len, pkt.dir)) < 0) {
				snprintf(err, errsize, "out of memory");
				cc_capread_close(&r);
				return -1;
			}
		}
	cc_capread_close(&r);
	return 0;
}
