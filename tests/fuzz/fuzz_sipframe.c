/* fuzz_sipframe.c - libFuzzer target for decoders/sipframe.c (SIP framing, Call-ID, SDP media), which the
 * HEP output runs on whatever a captured program sends or receives. */
#include "decoders/sipframe.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cc_bytes cid;
	struct cc_sip_media m[8];

	(void)cc_sip_is_start(data, size);
	(void)cc_sip_may_start(data, size);
	long n = cc_sip_msg_len(data, size);
	if (n > 0 && (size_t)n > size)
		__builtin_trap();
	if (cc_sip_call_id(data, size, &cid) == CC_OK)
		bytes_in(data, size, cid);
	int k = cc_sip_sdp_media(data, size, m, 8);
	if (k < 0 || k > 8)
		__builtin_trap();
	for (int i = 0; i < k; i++)
		if (m[i].family == 0 || m[i].port == 0)
			__builtin_trap();
	return 0;
}
