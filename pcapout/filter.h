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

/* True when the frame (caplen bytes present of wirelen) passes the filter. */
int cc_filter_match(const uint8_t *frame, size_t caplen, size_t wirelen);

#endif
