/* fuzz_rtp.c - libFuzzer target for decoders/rtp.c. */
#include "decoders/rtp.h"
#include "tests/fuzz/fuzz_util.h"

static void walk(const uint8_t *data, size_t size, const struct cc_rtp *r)
{
	struct cc_rtp_ext_iter it;
	struct cc_rtp_ext_elem e;
	struct cc_dtmf d;

	if (r->payload_off > size || r->payload_len > size - r->payload_off)
		__builtin_trap();
	bytes_in(data, size, r->ext);
	if (cc_rtp_ext_iter_init(&it, r) == 0)
		while (cc_rtp_ext_next(&it, &e) == 1)
			in_input(data, size, e.data, e.len);
	(void)cc_rtp_ext_find(r, 1, &e);
	(void)cc_rtp_dtmf(data + r->payload_off, r->payload_len, &d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cc_rtp r;
	struct cc_dtmf d;

	if (cc_rtp_parse(data, size, &r) == 0)
		walk(data, size, &r);
	if (cc_rtp_header(data, size, &r) == 0)
		walk(data, size, &r);
	(void)cc_rtp_dtmf(data, size, &d);
	return 0;
}
