/* test_rtcp.c - compound RTCP, feedback messages, SRTCP trailer. */
#include "tests/unit/test_decoders.h"

#include <stdlib.h>
#include <string.h>

#include "decoders/rtcp.h"
#include "tests/unit/test_decoders_vectors.h"

START_TEST(test_sr_sdes)
{
	struct cc_rtcp_iter it;
	struct cc_rtcp_pkt pkt;
	struct cc_rtcp_report rep;
	struct cc_rtcp_rb rb;
	struct cc_rtcp_sdes_item item;

	ck_assert_int_eq(cc_rtcp_validate(rtcp_sr_sdes, sizeof(rtcp_sr_sdes), 0), 0);
	cc_rtcp_iter_init(&it, rtcp_sr_sdes, sizeof(rtcp_sr_sdes));
	ck_assert_int_eq(cc_rtcp_next(&it, &pkt), 1);
	ck_assert_uint_eq(pkt.pt, CC_RTCP_SR);
	ck_assert_uint_eq(pkt.count, 1);
	ck_assert_uint_eq(pkt.raw.len, 52);
	ck_assert_int_eq(cc_rtcp_report(&pkt, &rep), 0);
	ck_assert_uint_eq(rep.ssrc, 0x11223344);
	ck_assert_uint_eq(rep.has_sender_info, 1);
	ck_assert_uint_eq(rep.ntp, 0xe5a1b2c380000000ull);
	ck_assert_uint_eq(rep.rtp_ts, 90000);
	ck_assert_uint_eq(rep.packet_count, 100);
	ck_assert_uint_eq(rep.octet_count, 16000);
	ck_assert_uint_eq(rep.rb_count, 1);
	ck_assert_uint_eq(rep.ext.len, 0);
	ck_assert_int_eq(cc_rtcp_report_block(&rep, 0, &rb), 0);
	ck_assert_uint_eq(rb.ssrc, 0x55667788);
	ck_assert_uint_eq(rb.fraction_lost, 5);
	ck_assert_int_eq(rb.cumulative_lost, -2);
	ck_assert_uint_eq(rb.ext_highest_seq, 0x00010010);
	ck_assert_uint_eq(rb.jitter, 0x20);
	ck_assert_uint_eq(rb.lsr, 0xa1b2c3d4);
	ck_assert_uint_eq(rb.dlsr, 0x00010000);
	ck_assert_int_eq(cc_rtcp_report_block(&rep, 1, &rb), CC_ENOTSUP);

	ck_assert_int_eq(cc_rtcp_next(&it, &pkt), 1);
	ck_assert_uint_eq(pkt.pt, CC_RTCP_SDES);
	ck_assert_int_eq(cc_rtcp_sdes_cname(&pkt, &item), 0);
	ck_assert_uint_eq(item.ssrc, 0x11223344);
	ck_assert_uint_eq(item.text.len, 9);
	ck_assert_mem_eq(item.text.p, "user@host", 9);
	ck_assert_int_eq(cc_rtcp_next(&it, &pkt), 0);
	/* The SDES packet is no report. */
	ck_assert_int_eq(cc_rtcp_report(&pkt, &rep), CC_ENOTSUP);
}
END_TEST

START_TEST(test_remb)
{
	struct cc_rtcp_iter it;
	struct cc_rtcp_pkt pkt;
	struct cc_rtcp_report rep;
	struct cc_rtcp_fb fb;
	struct cc_rtcp_remb remb;
	uint32_t ssrc;

	cc_rtcp_iter_init(&it, rtcp_rr_remb, sizeof(rtcp_rr_remb));
	ck_assert_int_eq(cc_rtcp_next(&it, &pkt), 1);
	ck_assert_int_eq(cc_rtcp_report(&pkt, &rep), 0);
	ck_assert_uint_eq(rep.has_sender_info, 0);
	ck_assert_uint_eq(rep.rb_count, 0);
	ck_assert_int_eq(cc_rtcp_next(&it, &pkt), 1);
	ck_assert_int_eq(cc_rtcp_fb(&pkt, &fb), 0);
	ck_assert_uint_eq(fb.pt, CC_RTCP_PSFB);
	ck_assert_uint_eq(fb.fmt, CC_PSFB_AFB);
	ck_assert_uint_eq(fb.sender_ssrc, 0x11223344);
	ck_assert_uint_eq(fb.media_ssrc, 0);
	ck_assert_int_eq(cc_rtcp_remb(&fb, &remb), 0);
	ck_assert_uint_eq(remb.num_ssrc, 2);
	ck_assert_uint_eq(remb.exp, 2);
	ck_assert_uint_eq(remb.mantissa, 0x23039);
	ck_assert_uint_eq(remb.bitrate, 0x23039u << 2);
	ck_assert_int_eq(cc_rtcp_remb_ssrc(&remb, 0, &ssrc), 0);
	ck_assert_uint_eq(ssrc, 0x55667788);
	ck_assert_int_eq(cc_rtcp_remb_ssrc(&remb, 1, &ssrc), 0);
	ck_assert_uint_eq(ssrc, 0x99aabbcc);
	ck_assert_int_eq(cc_rtcp_remb_ssrc(&remb, 2, &ssrc), CC_ENOTSUP);
	ck_assert_uint_eq(cc_rtcp_nack_count(&fb), 0);
}
END_TEST

START_TEST(test_remb_saturates)
{
	/* exp 63 with a non-zero mantissa would overflow 64 bits. */
	static const uint8_t pkt_bytes[] = {
		0x8f, 0xce, 0x00, 0x04, 0, 0, 0, 1, 0, 0, 0, 0,
		'R', 'E', 'M', 'B', 0x00, 0xff, 0xff, 0xff,
	};
	struct cc_rtcp_iter it;
	struct cc_rtcp_pkt pkt;
	struct cc_rtcp_fb fb;
	struct cc_rtcp_remb remb;

	cc_rtcp_iter_init(&it, pkt_bytes, sizeof(pkt_bytes));
	ck_assert_int_eq(cc_rtcp_next(&it, &pkt), 1);
	ck_assert_int_eq(cc_rtcp_fb(&pkt, &fb), 0);
	ck_assert_int_eq(cc_rtcp_remb(&fb, &remb), 0);
	ck_assert_uint_eq(remb.exp, 63);
	ck_assert(remb.bitrate == UINT64_MAX);
}
END_TEST

START_TEST(test_nack)
{
	struct cc_rtcp_iter it;
	struct cc_rtcp_pkt pkt;
	struct cc_rtcp_fb fb;
	uint16_t pid, blp;

	cc_rtcp_iter_init(&it, rtcp_rr_nack, sizeof(rtcp_rr_nack));
	ck_assert_int_eq(cc_rtcp_next(&it, &pkt), 1);
	ck_assert_int_eq(cc_rtcp_next(&it, &pkt), 1);
	ck_assert_int_eq(cc_rtcp_fb(&pkt, &fb), 0);
	ck_assert_uint_eq(fb.fmt, CC_RTPFB_NACK);
	ck_assert_uint_eq(fb.media_ssrc, 0x55667788);
	ck_assert_uint_eq(cc_rtcp_nack_count(&fb), 2);
	ck_assert_int_eq(cc_rtcp_nack_item(&fb, 0, &pid, &blp), 0);
	ck_assert_uint_eq(pid, 100);
	ck_assert_uint_eq(blp, 5);
	ck_assert_int_eq(cc_rtcp_nack_item(&fb, 1, &pid, &blp), 0);
	ck_assert_uint_eq(pid, 200);
	ck_assert_uint_eq(blp, 0);
	ck_assert_int_eq(cc_rtcp_nack_item(&fb, 2, &pid, &blp), CC_ENOTSUP);
	ck_assert_int_eq(cc_rtcp_next(&it, &pkt), 0);
}
END_TEST

START_TEST(test_misc)
{
	struct cc_rtcp_iter it;
	struct cc_rtcp_pkt pkt;
	struct cc_rtcp_fb fb;
	struct cc_rtcp_tcc tcc;
	struct cc_rtcp_ccfb ccfb;
	struct cc_rtcp_ccfb_block blk;
	struct cc_rtcp_app app;
	struct cc_rtcp_bye bye;
	struct cc_rtcp_remb remb;
	uint32_t ssrc;
	uint8_t seq;

	ck_assert_int_eq(cc_rtcp_validate(rtcp_misc, sizeof(rtcp_misc), 0), 0);
	cc_rtcp_iter_init(&it, rtcp_misc, sizeof(rtcp_misc));
	ck_assert_int_eq(cc_rtcp_next(&it, &pkt), 1);		/* RR */

	ck_assert_int_eq(cc_rtcp_next(&it, &pkt), 1);		/* PLI */
	ck_assert_int_eq(cc_rtcp_fb(&pkt, &fb), 0);
	ck_assert_uint_eq(fb.fmt, CC_PSFB_PLI);
	ck_assert_uint_eq(fb.media_ssrc, 0x55667788);
	ck_assert_uint_eq(fb.fci.len, 0);
	ck_assert_int_eq(cc_rtcp_remb(&fb, &remb), CC_ENOTSUP);

	ck_assert_int_eq(cc_rtcp_next(&it, &pkt), 1);		/* FIR */
	ck_assert_int_eq(cc_rtcp_fb(&pkt, &fb), 0);
	ck_assert_uint_eq(cc_rtcp_fir_count(&fb), 1);
	ck_assert_int_eq(cc_rtcp_fir_item(&fb, 0, &ssrc, &seq), 0);
	ck_assert_uint_eq(ssrc, 0x55667788);
	ck_assert_uint_eq(seq, 7);
	ck_assert_int_eq(cc_rtcp_fir_item(&fb, 1, &ssrc, &seq), CC_ENOTSUP);

	ck_assert_int_eq(cc_rtcp_next(&it, &pkt), 1);		/* transport-cc */
	ck_assert_int_eq(cc_rtcp_fb(&pkt, &fb), 0);
	ck_assert_int_eq(cc_rtcp_tcc(&fb, &tcc), 0);
	ck_assert_uint_eq(tcc.base_seq, 16);
	ck_assert_uint_eq(tcc.status_count, 2);
	ck_assert_int_eq(tcc.ref_time, -2);
	ck_assert_uint_eq(tcc.fb_count, 3);
	ck_assert_uint_eq(tcc.chunks.len, 4);

	ck_assert_int_eq(cc_rtcp_next(&it, &pkt), 1);		/* RFC 8888 */
	ck_assert_int_eq(cc_rtcp_ccfb(&pkt, &ccfb), 0);
	ck_assert_uint_eq(ccfb.sender_ssrc, 0x11223344);
	ck_assert_uint_eq(ccfb.report_ts, 0x12345);
	ck_assert_int_eq(cc_rtcp_ccfb_next(&ccfb, &blk), 1);
	ck_assert_uint_eq(blk.ssrc, 0x55667788);
	ck_assert_uint_eq(blk.begin_seq, 16);
	ck_assert_uint_eq(blk.num_reports, 3);
	ck_assert_uint_eq(blk.metrics.len, 6);
	ck_assert_int_eq(cc_rtcp_ccfb_next(&ccfb, &blk), 0);

	ck_assert_int_eq(cc_rtcp_next(&it, &pkt), 1);		/* APP */
	ck_assert_int_eq(cc_rtcp_app(&pkt, &app), 0);
	ck_assert_uint_eq(app.subtype, 4);
	ck_assert_mem_eq(app.name, "qoe!", 4);
	ck_assert_uint_eq(app.data.len, 4);

	ck_assert_int_eq(cc_rtcp_next(&it, &pkt), 1);		/* BYE, padded */
	ck_assert_uint_eq(pkt.padding, 1);
	ck_assert_uint_eq(pkt.body.len, 8);
	ck_assert_int_eq(cc_rtcp_bye(&pkt, &bye), 0);
	ck_assert_uint_eq(bye.count, 1);
	ck_assert_uint_eq(bye.ssrc[0], 0x11223344);
	ck_assert_uint_eq(bye.reason.len, 3);
	ck_assert_mem_eq(bye.reason.p, "bye", 3);
	ck_assert_int_eq(cc_rtcp_next(&it, &pkt), 0);
}
END_TEST

START_TEST(test_srtcp)
{
	struct cc_srtcp_trailer t;

	ck_assert_int_eq(cc_srtcp_trailer(srtcp_packet, sizeof(srtcp_packet), 0, 10, &t), 0);
	ck_assert_uint_eq(t.encrypted, 1);
	ck_assert_uint_eq(t.index, 42);
	ck_assert_uint_eq(t.rtcp_len, 8);
	ck_assert_uint_eq(t.tag.len, 10);
	ck_assert_uint_eq(t.tag.p[0], 0x01);
	ck_assert_uint_eq(t.mki.len, 0);
	/* With a 4-byte MKI the same bytes leave too little RTCP. */
	ck_assert_int_eq(cc_srtcp_trailer(srtcp_packet, sizeof(srtcp_packet), 4, 10, &t),
			 CC_ESHORT);
	ck_assert_int_eq(cc_srtcp_trailer(srtcp_packet, sizeof(srtcp_packet), 0, 100, &t),
			 CC_ESHORT);
	ck_assert_int_eq(cc_srtcp_trailer(srtcp_packet, sizeof(srtcp_packet), SIZE_MAX, 1, &t),
			 CC_ESHORT);
}
END_TEST

START_TEST(test_malformed)
{
	struct cc_rtcp_iter it;
	struct cc_rtcp_pkt pkt;
	uint8_t *p;
	int rc;

	/* Every truncation of a compound packet fails somewhere. */
	for (size_t len = 1; len < sizeof(rtcp_misc); len++) {
		p = tight_copy(rtcp_misc, len);
		cc_rtcp_iter_init(&it, p, len);
		while ((rc = cc_rtcp_next(&it, &pkt)) == 1)
			;
		if (len % 4 == 0) {
			/* A cut on a packet boundary is a shorter compound. */
			ck_assert_int_le(rc, 0);
		} else {
			ck_assert_int_lt(rc, 0);
		}
		free(p);
	}
	ck_assert_int_eq(cc_rtcp_validate(rtcp_misc, 0, 0), CC_ESHORT);
	/* Reduced-size RTCP may open with feedback (RFC 5506). */
	ck_assert_int_eq(cc_rtcp_validate(rtcp_misc + 8, 12, 0), CC_EBAD);
	ck_assert_int_eq(cc_rtcp_validate(rtcp_misc + 8, 12, 1), 0);

	p = tight_copy(rtcp_sr_sdes, sizeof(rtcp_sr_sdes));
	p[0] = 0x41;				/* version 1 */
	cc_rtcp_iter_init(&it, p, sizeof(rtcp_sr_sdes));
	ck_assert_int_eq(cc_rtcp_next(&it, &pkt), CC_EBAD);
	p[0] = 0x82;				/* RC=2 but room for one block */
	cc_rtcp_iter_init(&it, p, sizeof(rtcp_sr_sdes));
	ck_assert_int_eq(cc_rtcp_next(&it, &pkt), 1);
	ck_assert_int_eq(cc_rtcp_report(&pkt, &(struct cc_rtcp_report){ 0 }), CC_ESHORT);
	/* P set makes DLSR's low byte (zero) the padding count: invalid. */
	p[0] = 0xa1;
	cc_rtcp_iter_init(&it, p, sizeof(rtcp_sr_sdes));
	ck_assert_int_eq(cc_rtcp_next(&it, &pkt), CC_EBAD);
	free(p);

	/* SDES item running past the packet. */
	p = tight_copy(rtcp_sr_sdes, sizeof(rtcp_sr_sdes));
	p[52 + 9] = 0x20;
	{
		struct cc_rtcp_sdes_item item;

		cc_rtcp_iter_init(&it, p, sizeof(rtcp_sr_sdes));
		ck_assert_int_eq(cc_rtcp_next(&it, &pkt), 1);
		ck_assert_int_eq(cc_rtcp_next(&it, &pkt), 1);
		ck_assert_int_eq(cc_rtcp_sdes_cname(&pkt, &item), CC_ESHORT);
	}
	free(p);
}
END_TEST

Suite *rtcp_suite(void)
{
	Suite *s = suite_create("rtcp");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_sr_sdes);
	tcase_add_test(tc, test_remb);
	tcase_add_test(tc, test_remb_saturates);
	tcase_add_test(tc, test_nack);
	tcase_add_test(tc, test_misc);
	tcase_add_test(tc, test_srtcp);
	tcase_add_test(tc, test_malformed);
	suite_add_tcase(s, tc);
	return s;
}
