/*
 * The optional capture filter (CLEARCAP_FILTER): tcpdump syntax, compiled by libpcap loaded at
 * run time, applied to each synthesized SLL2 frame.
 */
#ifndef CC_FILTER_H
#define CC_FILTER_H

#include <stddef.h>
#include <stdint.h>

/* Loads libpcap and compiles expr; 0, or -1 with a one-line reason in err. */
int cc_filter_compile(const char *expr, char *err, size_t errlen);

/* A filter is set (read per packet: inline, one relaxed load). */
extern int cc_filter_on;
static inline int cc_filter_active(void)
{
	return __atomic_load_n(&cc_filter_on, __ATOMIC_RELAXED);
}

/*
 * The filter on the first `avail` bytes of a frame (wirelen long): 1 pass, 0 decline, -1 when
 * those bytes do not settle it (it reads beyond them, or in [hole_lo, hole_hi), where a checksum
 * not computed yet will be).  With `complete`, avail is the whole captured frame.
 */
int cc_filter_decide(const uint8_t *p, size_t avail, size_t wirelen, size_t hole_lo, size_t hole_hi, int complete);

/*
 * The filter's verdict on every UDP frame with these headers (hdr: the hl bytes of the link,
 * IP and UDP headers, as cc_frame_build writes them): 1 pass, 0 decline, or -1 when it depends
 * on what differs from one datagram to the next (the payload, a length, a checksum).
 */
int cc_filter_flow_verdict(const uint8_t *hdr, size_t hl);

/* Bumped by each cc_filter_compile: a verdict kept from an older program is stale. */
extern uint32_t cc_filter_gen;

/* True when the frame (caplen bytes present of wirelen) passes the filter. */
int cc_filter_match(const uint8_t *frame, size_t caplen, size_t wirelen);

/*
 * One other program, independent of the capture filter: the one that selects the datagrams
 * impairment applies to (CLEARCAP_IMPAIR_FILTER).  Compiled once at start-up.
 */
int cc_filter_compile_other(const char *expr, char *err, size_t errlen);
int cc_filter_match_other(const uint8_t *frame, size_t caplen, size_t wirelen);

#endif
