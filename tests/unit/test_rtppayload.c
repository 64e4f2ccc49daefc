/* test_rtppayload.c - VP8 (RFC 7741), H.264 (RFC 6184) and Opus (RFC 6716) payloads. */
#include "tests/unit/test_decoders.h"

#include <stdlib.h>

#include "decoders/rtppayload.h"

START_TEST(test_vp8_descriptor)
{
	/* X, S, PID 0; I L T K all set; 15-bit PictureID 0x1234; TL0PICIDX 7; TID 2, Y, KEYIDX 5. */
	static const uint8_t full[] = { 0x90, 0xf0, 0x92, 0x34, 0x07, 0xa5, 0xaa };
	/* The short form: no X byte, N and PID 3. */
	static const uint8_t bare[] = { 0x23, 0xbb };
	struct cc_vp8_desc d;
	uint8_t *p;

	p = tight_copy(full, sizeof full);
	ck_assert_int_eq(cc_vp8_desc_parse(p, sizeof full, &d), 0);
	ck_assert_uint_eq(d.s, 1);
	ck_assert_uint_eq(d.pid, 0);
	ck_assert_uint_eq(d.picid, 0x1234);
	ck_assert_uint_eq(d.tl0picidx, 7);
	ck_assert_uint_eq(d.tid, 2);
	ck_assert_uint_eq(d.y, 1);
	ck_assert_uint_eq(d.keyidx, 5);
	ck_assert_uint_eq(d.len, 6);
	/* Every optional field cut short is CC_ESHORT, never a read past the end. */
	for (size_t n = 0; n < 6; n++)
		ck_assert_int_eq(cc_vp8_desc_parse(p, n, &d), CC_ESHORT);
	free(p);

	ck_assert_int_eq(cc_vp8_desc_parse(bare, sizeof bare, &d), 0);
	ck_assert_uint_eq(d.n, 1);
	ck_assert_uint_eq(d.s, 0);
	ck_assert_uint_eq(d.pid, 3);
	ck_assert_uint_eq(d.len, 1);
}
END_TEST

START_TEST(test_vp8_keyframe)
{
	/* A key frame of 640x480, show_frame, first partition 0x123 bytes (RFC 6386 §9.1). */
	static const uint8_t key[] = { 0x70 | 0x10, 0x24, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01 };
	static const uint8_t inter[] = { 0x31, 0x00, 0x00 };
	struct cc_vp8_frame f;
	uint8_t *p = tight_copy(key, sizeof key);

	ck_assert_int_eq(cc_vp8_frame_parse(p, sizeof key, &f), 0);
	ck_assert_uint_eq(f.keyframe, 1);
	ck_assert_uint_eq(f.show, 1);
	ck_assert_uint_eq(f.first_part_size, 3 + 8 * 0x24);
	ck_assert_uint_eq(f.width, 640);
	ck_assert_uint_eq(f.height, 480);
	for (size_t n = 0; n < sizeof key; n++)
		ck_assert_int_eq(cc_vp8_frame_parse(p, n, &f), CC_ESHORT);
	/* A key frame flag without the start code is not VP8. */
	p[4] = 0x02;
	ck_assert_int_eq(cc_vp8_frame_parse(p, sizeof key, &f), CC_EBAD);
	free(p);
	ck_assert_int_eq(cc_vp8_frame_parse(inter, sizeof inter, &f), 0);
	ck_assert_uint_eq(f.keyframe, 0);
}
END_TEST

START_TEST(test_h264_units)
{
	/* STAP-A with an SPS (3 bytes) and a PPS (2 bytes). */
	static const uint8_t stap[] = { 0x78, 0x00, 0x03, 0x67, 0x42, 0x00, 0x00, 0x02, 0x68, 0xce };
	/* FU-A start of an IDR slice, NRI 3. */
	static const uint8_t fu[] = { 0x7c, 0x85, 0xaa, 0xbb };
	static const uint8_t bad_fu[] = { 0x7c, 0xc5, 0xaa };
	static const uint8_t forbidden[] = { 0xe5, 0x00 };
	static const uint8_t mtap[] = { 0x1a, 0x00 };
	struct cc_h264_pkt h;
	struct cc_h264_stap it;
	struct cc_bytes nal;
	uint8_t *p = tight_copy(stap, sizeof stap);

	ck_assert_int_eq(cc_h264_pkt_parse(p, sizeof stap, &h), 0);
	ck_assert_uint_eq(h.type, CC_H264_STAP_A);
	ck_assert_int_eq(cc_h264_stap_init(&it, p, sizeof stap), 0);
	ck_assert_int_eq(cc_h264_stap_next(&it, &nal), 1);
	ck_assert_uint_eq(nal.len, 3);
	ck_assert_uint_eq(nal.p[0] & 0x1f, CC_H264_NAL_SPS);
	ck_assert_int_eq(cc_h264_stap_next(&it, &nal), 1);
	ck_assert_uint_eq(nal.len, 2);
	ck_assert_uint_eq(nal.p[0] & 0x1f, CC_H264_NAL_PPS);
	ck_assert_int_eq(cc_h264_stap_next(&it, &nal), 0);
	/* A size that runs past the payload stops the walk. */
	ck_assert_int_eq(cc_h264_stap_init(&it, p, sizeof stap - 1), 0);
	ck_assert_int_eq(cc_h264_stap_next(&it, &nal), 1);
	ck_assert_int_eq(cc_h264_stap_next(&it, &nal), CC_ESHORT);
	free(p);

	ck_assert_int_eq(cc_h264_pkt_parse(fu, sizeof fu, &h), 0);
	ck_assert_uint_eq(h.type, CC_H264_FU_A);
	ck_assert_uint_eq(h.fu_start, 1);
	ck_assert_uint_eq(h.fu_end, 0);
	ck_assert_uint_eq(h.fu_type, CC_H264_NAL_IDR);
	ck_assert_uint_eq(h.fu_nal_hdr, 0x65);
	ck_assert_uint_eq(h.fu_data.len, 2);
	ck_assert_int_eq(cc_h264_pkt_parse(fu, 2, &h), CC_EBAD);
	ck_assert_int_eq(cc_h264_pkt_parse(fu, 1, &h), CC_ESHORT);
	ck_assert_int_eq(cc_h264_pkt_parse(bad_fu, sizeof bad_fu, &h), CC_EBAD);
	ck_assert_int_eq(cc_h264_pkt_parse(forbidden, sizeof forbidden, &h), CC_EBAD);
	ck_assert_int_eq(cc_h264_pkt_parse(mtap, sizeof mtap, &h), CC_ENOTSUP);
}
END_TEST

START_TEST(test_opus_toc)
{
	uint32_t n;
	uint8_t st;
	/* config 31 (CELT 20 ms), stereo, code 0. */
	static const uint8_t celt20[] = { 0xfc, 0x00 };
	/* config 1 (SILK 20 ms), mono, code 1: two frames. */
	static const uint8_t silk2[] = { 0x09, 0x00 };
	/* code 3 with 3 frames of CELT 20 ms; then 7 such frames (140 ms) is malformed. */
	static const uint8_t c3[] = { 0xfb, 0x03 };
	static const uint8_t c3big[] = { 0xfb, 0x07 };
	static const uint8_t c3none[] = { 0xfb, 0x00 };

	ck_assert_int_eq(cc_opus_packet(celt20, sizeof celt20, &n, &st), 0);
	ck_assert_uint_eq(n, 960);
	ck_assert_uint_eq(st, 1);
	ck_assert_int_eq(cc_opus_packet(silk2, sizeof silk2, &n, &st), 0);
	ck_assert_uint_eq(n, 1920);
	ck_assert_uint_eq(st, 0);
	ck_assert_int_eq(cc_opus_packet(c3, sizeof c3, &n, &st), 0);
	ck_assert_uint_eq(n, 2880);
	ck_assert_int_eq(cc_opus_packet(c3big, sizeof c3big, &n, &st), CC_EBAD);
	ck_assert_int_eq(cc_opus_packet(c3none, sizeof c3none, &n, &st), CC_EBAD);
	ck_assert_int_eq(cc_opus_packet(c3, 1, &n, &st), CC_ESHORT);
	ck_assert_int_eq(cc_opus_packet(c3, 0, &n, &st), CC_ESHORT);
}
END_TEST

Suite *rtppayload_suite(void)
{
	Suite *s = suite_create("rtppayload");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_vp8_descriptor);
	tcase_add_test(tc, test_vp8_keyframe);
	tcase_add_test(tc, test_h264_units);
	tcase_add_test(tc, test_opus_toc);
	suite_add_tcase(s, tc);
	return s;
}
