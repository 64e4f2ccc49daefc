/*
 * The shim's clocks: the packet stamp and a cheap one for ageing tables.
 */
#ifndef CC_CLOCK_H
#define CC_CLOCK_H

#include <stdint.h>

/* Wall-clock nanoseconds, the stamp of every record. */
uint64_t cc_now(void);

/* A clock for ageing (100 ms matter, not nanoseconds): cheaper than cc_now(). */
uint64_t cc_now_coarse(void);

#endif
