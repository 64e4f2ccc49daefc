/* fuzz_rtcp.c - libFuzzer target for decoders/rtcp.c. */
#include "decoders/rtcp.h"
#include "tests/fuzz/fuzz_util.h"

static void one(const uint8_t *data, size_t size, const struct cc_rtcp_pkt *pkt)
{
	struct cc_rtcp_report rep;
	struct cc_rtcp_rb rb;
	struct cc_rtcp_sdes_iter si;
	struct cc_rtcp_sdes_item item;
	struct cc_rtcp_bye bye;
	struct cc_rtcp_app app;
	struct cc_rtcp_fb fb;
	struct cc_rtcp_remb remb;
	struct cc_rtcp_tcc tcc;
	struct cc_rtcp_ccfb ccfb;
	struct cc_rtcp_ccfb_block blk;
	uint16_t pid, blp;
	uint32_t ssrc;
	uint8_t seq;

	bytes_in(data, size, pkt->raw);
	bytes_in(data, size, pkt->body);
	if (cc_rtcp_report(pkt, &rep) == 0) {
		bytes_in(data, size, rep.ext);
		for (unsigned i = 0; i <= rep.rb_count; i++)
			(void)cc_rtcp_report_block(&rep, i, &rb);
	}
	if (cc_rtcp_sdes_iter_init(&si, pkt) == 0)
		while (cc_rtcp_sdes_next(&si, &item) == 1)
			bytes_in(data, size, item.text);
	(void)cc_rtcp_sdes_cname(pkt, &item);
	if (cc_rtcp_bye(pkt, &bye) == 0)
		bytes_in(data, size, bye.reason);
	if (cc_rtcp_app(pkt, &app) == 0)
		bytes_in(data, size, app.data);
	if (cc_rtcp_fb(pkt, &fb) == 0) {
		bytes_in(data, size, fb.fci);
		for (unsigned i = 0; i <= cc_rtcp_nack_count(&fb); i++)
			(void)cc_rtcp_nack_item(&fb, i, &pid, &blp);
		for (unsigned i = 0; i <= cc_rtcp_fir_count(&fb); i++)
			(void)cc_rtcp_fir_item(&fb, i, &ssrc, &seq);
		if (cc_rtcp_remb(&fb, &remb) == 0)
			for (unsigned i = 0; i <= remb.num_ssrc; i++)
				(void)cc_rtcp_remb_ssrc(&remb, i, &ssrc);
		if (cc_rtcp_tcc(&fb, &tcc) == 0)
			bytes_in(data, size, tcc.chunks);
	}
	if (cc_rtcp_ccfb(pkt, &ccfb) == 0)
		while (cc_rtcp_ccfb_next(&ccfb, &blk) == 1)
			bytes_in(data, size, blk.metrics);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cc_rtcp_iter it;
	struct cc_rtcp_pkt pkt;
	struct cc_srtcp_trailer t;

	cc_rtcp_iter_init(&it, data, size);
	while (cc_rtcp_next(&it, &pkt) == 1)
		one(data, size, &pkt);
	(void)cc_rtcp_validate(data, size, 0);
	(void)cc_rtcp_validate(data, size, 1);
	/* Tag and MKI lengths from the input itself. */
	if (size >= 1 && cc_srtcp_trailer(data, size, data[0] & 7, data[0] >> 3, &t) == 0) {
		bytes_in(data, size, t.mki);
		bytes_in(data, size, t.tag);
		if (t.rtcp_len > size)
			__builtin_trap();
	}
	return 0;
}
