/* fuzz_rtppayload.c - libFuzzer target for decoders/rtppayload.c (VP8, H.264, Opus payloads). */
#include "decoders/rtppayload.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cc_vp8_desc d;
	struct cc_vp8_frame f;
	struct cc_h264_pkt h;
	struct cc_h264_stap it;
	struct cc_bytes nal;
	uint32_t samples;
	uint8_t stereo;

	if (cc_vp8_desc_parse(data, size, &d) == 0) {
		if (d.len > size)
			__builtin_trap();
		(void)cc_vp8_frame_parse(data + d.len, size - d.len, &f);
	}
	if (cc_h264_pkt_parse(data, size, &h) == 0 && h.type == CC_H264_FU_A)
		bytes_in(data, size, h.fu_data);
	if (cc_h264_stap_init(&it, data, size) == 0)
		while (cc_h264_stap_next(&it, &nal) == 1)
			bytes_in(data, size, nal);
	if (cc_opus_packet(data, size, &samples, &stereo) == 0 && samples > 5760)
		__builtin_trap();
	return 0;
}
