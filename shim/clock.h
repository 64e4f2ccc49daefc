/*
 * The shim's clocks: the packet stamp and a cheap one for ageing tables.
 */
#ifndef CC_CLOCK_H
#define CC_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Wall-clock nanoseconds, the stamp of every record. */
uint64_t cc_now(void);

/* The same inline, where one call less per packet counts (the hot lane, hook_send.c). */
static inline __attribute__((always_inline)) uint64_t cc_now_inline(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A clock for ageing (100 ms matter, not nanoseconds): cheaper than cc_now(). */
uint64_t cc_now_coarse(void);

#endif
