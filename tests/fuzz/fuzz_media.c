/*
 * fuzz_media.c - libFuzzer target for extract's frame assembly (tools/media_*.c): the input is
 * a run of RTP packets, each [marker|gap byte][timestamp step][length][payload], fed to the
 * Opus, VP8 and H.264 writers, whose files go to /dev/null.
 */
#include "decoders/cursor.h"
#include "tests/fuzz/fuzz_util.h"
#include "tools/media.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct cc_media_ops *ops[] = { &cc_media_opus, &cc_media_vp8, &cc_media_h264 };

	for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
		struct cc_media_stats st = { 0 };
		void *w = ops[k]->open("/dev/null");
		struct cc_rtp r = { 0 };
		struct cc_cur c;
		uint8_t flags, step;
		uint16_t len;
		struct cc_bytes pl;

		if (w == NULL)
			return 0;
		cur_init(&c, data, size);
		while (cur_u8(&c, &flags) == 0 && cur_u8(&c, &step) == 0 && cur_be16(&c, &len) == 0 &&
		       cur_ref(&c, len < cur_left(&c) ? len : cur_left(&c), &pl) == 0) {
			r.marker = flags & 1;
			r.seq++;
			r.ts += (uint32_t)step * 480;
			ops[k]->packet(w, &r, pl.p, pl.len, (flags >> 1) & 3, &st);
		}
		ops[k]->close(w, &st);
		if (st.frames > st.pkts + st.concealed)
			__builtin_trap();
	}
	return 0;
}
