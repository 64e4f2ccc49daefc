/*
 * fuzz_util.h - shared by the libFuzzer targets in tests/fuzz/.
 *
 * Besides letting ASan/UBSan catch bad reads, each target checks that every
 * pointer a decoder hands back lies inside the input it was given.
 */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "decoders/cursor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Trap unless [p, p+len) lies within [base, base+size). */
static inline void in_input(const uint8_t *base, size_t size, const uint8_t *p, size_t len)
{
	uintptr_t b = (uintptr_t)base, q = (uintptr_t)p;

	if (len == 0)
		return;
	if (q < b || len > size || q - b > size - len)
		__builtin_trap();
}

static inline void bytes_in(const uint8_t *base, size_t size, struct cc_bytes v)
{
	in_input(base, size, v.p, v.len);
}

#endif
