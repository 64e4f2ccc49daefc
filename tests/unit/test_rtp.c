/* test_rtp.c - RTP header, RFC 8285 extensions, RFC 4733 DTMF. */
#include "tests/unit/test_decoders.h"

#include <stdlib.h>
#include <string.h>

#include "decoders/rtp.h"
#include "tests/unit/test_decoders_vectors.h"

START_TEST(test_one_byte)
{
	struct cc_rtp r;
	struct cc_rtp_ext_iter it;
	struct cc_rtp_ext_elem e;

	ck_assert_int_eq(cc_rtp_parse(rtp_onebyte, sizeof(rtp_onebyte), &r), 0);
	ck_assert_uint_eq(r.version, 2);
	ck_assert_uint_eq(r.padding, 0);
	ck_assert_uint_eq(r.extension, 1);
	ck_assert_uint_eq(r.cc, 1);
	ck_assert_uint_eq(r.marker, 1);
	ck_assert_uint_eq(r.pt, 111);
	ck_assert_uint_eq(r.seq, 0x1234);
	ck_assert_uint_eq(r.ts, 90000);
	ck_assert_uint_eq(r.ssrc, 0x11223344);
	ck_assert_uint_eq(r.csrc[0], 0x55667788);
	ck_assert_uint_eq(r.ext_profile, 0xBEDE);
	ck_assert_uint_eq(r.ext.len, 8);
	ck_assert_uint_eq(r.payload_off, 12 + 4 + 4 + 8);
	ck_assert_uint_eq(r.payload_len, 4);
	ck_assert_mem_eq(rtp_onebyte + r.payload_off, "opus", 4);

	ck_assert_int_eq(cc_rtp_ext_iter_init(&it, &r), 0);
	ck_assert_int_eq(cc_rtp_ext_next(&it, &e), 1);
	ck_assert_uint_eq(e.id, 1);
	ck_assert_uint_eq(e.len, 1);
	ck_assert_uint_eq(e.data[0], 0x85);
	ck_assert_int_eq(cc_rtp_ext_next(&it, &e), 1);
	ck_assert_uint_eq(e.id, 3);
	ck_assert_uint_eq(e.len, 3);
	ck_assert_mem_eq(e.data, "\x01\x23\x45", 3);
	/* Trailing zero bytes are padding, not elements. */
	ck_assert_int_eq(cc_rtp_ext_next(&it, &e), 0);

	ck_assert_int_eq(cc_rtp_ext_find(&r, 3, &e), 0);
	ck_assert_uint_eq(e.len, 3);
	ck_assert_int_eq(cc_rtp_ext_find(&r, 7, &e), CC_ENOTSUP);
}
END_TEST

START_TEST(test_two_byte_padding)
{
	struct cc_rtp r;
	struct cc_rtp_ext_iter it;
	struct cc_rtp_ext_elem e;

	ck_assert_int_eq(cc_rtp_parse(rtp_twobyte, sizeof(rtp_twobyte), &r), 0);
	ck_assert_uint_eq(r.padding, 1);
	ck_assert_uint_eq(r.pt, 96);
	ck_assert_uint_eq(r.ext_profile, 0x1000);
	ck_assert_uint_eq(r.pad_len, 4);
	ck_assert_uint_eq(r.payload_len, 4);
	ck_assert_mem_eq(rtp_twobyte + r.payload_off, "\xde\xad\xbe\xef", 4);

	ck_assert_int_eq(cc_rtp_ext_iter_init(&it, &r), 0);
	ck_assert_int_eq(cc_rtp_ext_next(&it, &e), 1);
	ck_assert_uint_eq(e.id, 1);
	ck_assert_uint_eq(e.len, 0);
	ck_assert_int_eq(cc_rtp_ext_next(&it, &e), 1);
	ck_assert_uint_eq(e.id, 17);
	ck_assert_uint_eq(e.len, 3);
	ck_assert_mem_eq(e.data, "ABC", 3);
	ck_assert_int_eq(cc_rtp_ext_next(&it, &e), 0);

	/* The header-only form leaves the padding in the payload (SRTP). */
	ck_assert_int_eq(cc_rtp_header(rtp_twobyte, sizeof(rtp_twobyte), &r), 0);
	ck_assert_uint_eq(r.payload_len, 8);
	ck_assert_uint_eq(r.pad_len, 0);
}
END_TEST

START_TEST(test_dtmf)
{
	struct cc_rtp r;
	struct cc_dtmf d;

	ck_assert_int_eq(cc_rtp_parse(rtp_dtmf, sizeof(rtp_dtmf), &r), 0);
	ck_assert_uint_eq(r.pt, 101);
	ck_assert_uint_eq(r.marker, 1);
	ck_assert_int_eq(cc_rtp_dtmf(rtp_dtmf + r.payload_off, r.payload_len, &d), 0);
	ck_assert_uint_eq(d.event, 5);
	ck_assert_uint_eq(d.end, 1);
	ck_assert_uint_eq(d.volume, 10);
	ck_assert_uint_eq(d.duration, 800);
	ck_assert_int_eq(cc_rtp_dtmf(rtp_dtmf + r.payload_off, 3, &d), CC_ESHORT);
}
END_TEST

START_TEST(test_id15_stops)
{
	/* RFC 8285 §4.2: ID 15 ends processing even with data after it. */
	static const uint8_t pkt[] = {
		0x90, 0x60, 0x00, 0x01, 0, 0, 0, 1, 0, 0, 0, 2,
		0xbe, 0xde, 0x00, 0x01, 0x20, 0xaa, 0xf0, 0x10,
	};
	struct cc_rtp r;
	struct cc_rtp_ext_iter it;
	struct cc_rtp_ext_elem e;

	ck_assert_int_eq(cc_rtp_parse(pkt, sizeof(pkt), &r), 0);
	ck_assert_int_eq(cc_rtp_ext_iter_init(&it, &r), 0);
	ck_assert_int_eq(cc_rtp_ext_next(&it, &e), 1);
	ck_assert_uint_eq(e.id, 2);
	ck_assert_int_eq(cc_rtp_ext_next(&it, &e), 0);
}
END_TEST

START_TEST(test_malformed)
{
	struct cc_rtp r;
	struct cc_rtp_ext_iter it;
	struct cc_rtp_ext_elem e;
	uint8_t *p;
	size_t hdr = 12 + 4 + 4 + 8;

	/* Cut anywhere inside header, CSRC or extension: an error. */
	for (size_t len = 0; len < hdr; len++) {
		p = tight_copy(rtp_onebyte, len);
		ck_assert_int_lt(cc_rtp_parse(p, len, &r), 0);
		ck_assert_int_lt(cc_rtp_header(p, len, &r), 0);
		free(p);
	}
	/* Cut inside the padding: the count no longer fits. */
	p = tight_copy(rtp_twobyte, 12 + 4 + 8 + 2);
	p[12 + 4 + 8 + 1] = 9;
	ck_assert_int_eq(cc_rtp_parse(p, 12 + 4 + 8 + 2, &r), CC_EBAD);
	free(p);

	p = tight_copy(rtp_twobyte, sizeof(rtp_twobyte));
	p[sizeof(rtp_twobyte) - 1] = 0;		/* padding count 0 */
	ck_assert_int_eq(cc_rtp_parse(p, sizeof(rtp_twobyte), &r), CC_EBAD);
	p[0] = 0x70;				/* version 1 */
	ck_assert_int_eq(cc_rtp_parse(p, sizeof(rtp_twobyte), &r), CC_EBAD);
	p[0] = 0xb0;
	/* Element length running past the block. */
	p[12 + 4 + 3] = 0x10;
	p[sizeof(rtp_twobyte) - 1] = 4;
	ck_assert_int_eq(cc_rtp_parse(p, sizeof(rtp_twobyte), &r), 0);
	ck_assert_int_eq(cc_rtp_ext_iter_init(&it, &r), 0);
	ck_assert_int_eq(cc_rtp_ext_next(&it, &e), 1);
	ck_assert_int_eq(cc_rtp_ext_next(&it, &e), CC_ESHORT);
	/* An unknown extension profile cannot be iterated. */
	p[12] = 0x12;
	ck_assert_int_eq(cc_rtp_parse(p, sizeof(rtp_twobyte), &r), 0);
	ck_assert_int_eq(cc_rtp_ext_iter_init(&it, &r), CC_ENOTSUP);
	free(p);

	/* Padding bit on a packet with no payload bytes at all. */
	{
		static const uint8_t bare[] = { 0xa0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2 };

		ck_assert_int_eq(cc_rtp_parse(bare, sizeof(bare), &r), CC_EBAD);
		ck_assert_int_eq(cc_rtp_ext_iter_init(&it, &r), CC_ENOTSUP);
	}
}
END_TEST

Suite *rtp_suite(void)
{
	Suite *s = suite_create("rtp");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_one_byte);
	tcase_add_test(tc, test_two_byte_padding);
	tcase_add_test(tc, test_dtmf);
	tcase_add_test(tc, test_id15_stops);
	tcase_add_test(tc, test_malformed);
	suite_add_tcase(s, tc);
	return s;
}
