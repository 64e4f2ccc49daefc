/* fuzz_sip.c - libFuzzer target for decoders/sip.c. */
#include <string.h>

#include "decoders/sip.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cc_sip m;
	int d = cc_sip_detect(data, size);
	int r = cc_sip_parse(data, size, &m);

	/* What parses was detected, and the strings the parser fills are always terminated. */
	if (r == CC_OK && !d)
		__builtin_trap();
	if (strnlen(m.method, sizeof m.method) == sizeof m.method ||
	    strnlen(m.call_id, sizeof m.call_id) == sizeof m.call_id ||
	    strnlen(m.cseq_method, sizeof m.cseq_method) == sizeof m.cseq_method)
		__builtin_trap();
	if (r == CC_OK && m.header_len > size)
		__builtin_trap();
	return 0;
}
