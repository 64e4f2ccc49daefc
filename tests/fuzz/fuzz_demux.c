/* fuzz_demux.c - libFuzzer target for decoders/demux.c. */
#include "decoders/demux.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum cc_class c = cc_demux(data, size);

	/* The class is a function of at most the first two bytes. */
	if (size >= 2 && cc_demux(data, 2) != c)
		__builtin_trap();
	if (c == CC_CLASS_RTCP && !cc_demux_is_rtcp(data, size))
		__builtin_trap();
	(void)cc_class_name(c);
	return 0;
}
