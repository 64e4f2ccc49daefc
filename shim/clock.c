/*
 * The shim's clocks; see clock.h.
 */
#include "shim/clock.h"

#include <time.h>

uint64_t cc_now(void)
{
	return cc_now_inline();
}

uint64_t cc_now_coarse(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
