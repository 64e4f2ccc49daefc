/* test_sctp.c - SCTP chunks, DCEP and the CRC-32c checksum. */
#include "tests/unit/test_decoders.h"

#include <stdlib.h>
#include <string.h>

#include "decoders/crc.h"
#include "decoders/sctp.h"
#include "tests/unit/test_decoders_vectors.h"

START_TEST(test_crc32c)
{
	const uint8_t s[] = "123456789";
	uint8_t zeros[32] = { 0 }, ones[32];

	/* CRC-32C/ISCSI check value; RFC 3720 §B.4 32-byte vectors. */
	ck_assert_uint_eq(cc_crc32c(0, s, 9), 0xE3069283u);
	ck_assert_uint_eq(cc_crc32c(0, zeros, 32), 0x8A9136AAu);
	memset(ones, 0xff, sizeof(ones));
	ck_assert_uint_eq(cc_crc32c(0, ones, 32), 0x62A8AB43u);
}
END_TEST

START_TEST(test_checksum)
{
	uint8_t *p = tight_copy(sctp_init, sizeof(sctp_init));

	ck_assert_int_eq(cc_sctp_verify_checksum(p, sizeof(sctp_init)), 0);
	p[20] ^= 1;
	ck_assert_int_eq(cc_sctp_verify_checksum(p, sizeof(sctp_init)), CC_EBAD);
	ck_assert_int_eq(cc_sctp_set_checksum(p, sizeof(sctp_init)), 0);
	ck_assert_int_eq(cc_sctp_verify_checksum(p, sizeof(sctp_init)), 0);
	p[20] ^= 1;
	ck_assert_int_eq(cc_sctp_set_checksum(p, sizeof(sctp_init)), 0);
	ck_assert_mem_eq(p, sctp_init, sizeof(sctp_init));
	ck_assert_int_eq(cc_sctp_set_checksum(p, 11), CC_ESHORT);
	ck_assert_int_eq(cc_sctp_verify_checksum(p, 11), CC_ESHORT);
	free(p);
}
END_TEST

START_TEST(test_init)
{
	struct cc_sctp_hdr h;
	struct cc_sctp_iter it;
	struct cc_sctp_chunk ch;
	struct cc_sctp_init init;
	struct cc_sctp_param_iter pit;
	struct cc_sctp_param prm;

	ck_assert_int_eq(cc_sctp_header(sctp_init, sizeof(sctp_init), &h), 0);
	ck_assert_uint_eq(h.src_port, 5000);
	ck_assert_uint_eq(h.dst_port, 5000);
	ck_assert_uint_eq(h.vtag, 0);
	ck_assert_int_eq(cc_sctp_iter_init(&it, sctp_init, sizeof(sctp_init)), 0);
	ck_assert_int_eq(cc_sctp_next(&it, &ch), 1);
	ck_assert_uint_eq(ch.type, CC_SCTP_INIT);
	ck_assert_uint_eq(ch.length, 30);
	ck_assert_int_eq(cc_sctp_init(&ch, &init), 0);
	ck_assert_uint_eq(init.initiate_tag, 0xa1b2c3d4);
	ck_assert_uint_eq(init.a_rwnd, 131072);
	ck_assert_uint_eq(init.num_outbound, 1024);
	ck_assert_uint_eq(init.num_inbound, 1024);
	ck_assert_uint_eq(init.initial_tsn, 0x01020304);
	cc_sctp_param_iter_init(&pit, &init.params);
	ck_assert_int_eq(cc_sctp_param_next(&pit, &prm), 1);
	ck_assert_uint_eq(prm.type, 0xc000);
	ck_assert_uint_eq(prm.value.len, 0);
	ck_assert_int_eq(cc_sctp_param_next(&pit, &prm), 1);
	ck_assert_uint_eq(prm.type, 0x8008);
	ck_assert_uint_eq(prm.value.len, 2);
	ck_assert_mem_eq(prm.value.p, "\xc0\x82", 2);
	ck_assert_int_eq(cc_sctp_param_next(&pit, &prm), 0);
	ck_assert_int_eq(cc_sctp_next(&it, &ch), 0);
	/* The chunk is no DATA. */
	ck_assert_int_eq(cc_sctp_data(&ch, &(struct cc_sctp_data){ 0 }), CC_ENOTSUP);
}
END_TEST

START_TEST(test_data_dcep)
{
	struct cc_sctp_iter it;
	struct cc_sctp_chunk ch;
	struct cc_sctp_data d;
	struct cc_dcep dc;
	struct cc_sctp_sack sack;
	uint16_t gs, ge;
	uint32_t dup;

	ck_assert_int_eq(cc_sctp_verify_checksum(sctp_data_dcep, sizeof(sctp_data_dcep)), 0);
	ck_assert_int_eq(cc_sctp_iter_init(&it, sctp_data_dcep, sizeof(sctp_data_dcep)), 0);
	ck_assert_int_eq(cc_sctp_next(&it, &ch), 1);
	ck_assert_int_eq(cc_sctp_data(&ch, &d), 0);
	ck_assert_uint_eq(d.i_data, 0);
	ck_assert_uint_eq(d.flags, CC_SCTP_FLAG_B | CC_SCTP_FLAG_E);
	ck_assert_uint_eq(d.tsn, 0x01020304);
	ck_assert_uint_eq(d.stream, 1);
	ck_assert_uint_eq(d.ssn, 0);
	ck_assert_uint_eq(d.ppid, CC_PPID_DCEP);
	ck_assert_int_eq(cc_dcep(d.user_data.p, d.user_data.len, &dc), 0);
	ck_assert_uint_eq(dc.msg_type, CC_DCEP_OPEN);
	ck_assert_uint_eq(dc.channel_type, CC_DCEP_PARTIAL_RELIABLE_REXMIT_UNORDERED);
	ck_assert_uint_eq(dc.priority, 256);
	ck_assert_uint_eq(dc.reliability, 3);
	ck_assert_uint_eq(dc.label.len, 4);
	ck_assert_mem_eq(dc.label.p, "chat", 4);
	ck_assert_uint_eq(dc.protocol.len, 0);

	ck_assert_int_eq(cc_sctp_next(&it, &ch), 1);
	ck_assert_int_eq(cc_sctp_sack(&ch, &sack), 0);
	ck_assert_uint_eq(sack.cum_tsn_ack, 0x01020300);
	ck_assert_uint_eq(sack.a_rwnd, 0x20000);
	ck_assert_uint_eq(sack.num_gaps, 1);
	ck_assert_uint_eq(sack.num_dups, 1);
	ck_assert_int_eq(cc_sctp_sack_gap(&sack, 0, &gs, &ge), 0);
	ck_assert_uint_eq(gs, 2);
	ck_assert_uint_eq(ge, 3);
	ck_assert_int_eq(cc_sctp_sack_gap(&sack, 1, &gs, &ge), CC_ENOTSUP);
	ck_assert_int_eq(cc_sctp_sack_dup(&sack, 0, &dup), 0);
	ck_assert_uint_eq(dup, 0x01020301);
	ck_assert_int_eq(cc_sctp_sack_dup(&sack, 1, &dup), CC_ENOTSUP);
	ck_assert_int_eq(cc_sctp_next(&it, &ch), 0);
}
END_TEST

START_TEST(test_misc)
{
	struct cc_sctp_iter it;
	struct cc_sctp_chunk ch;
	struct cc_bytes b;
	struct cc_sctp_fwd_tsn fwd;
	struct cc_sctp_data d;
	struct cc_dcep dc;
	uint32_t tsn;
	uint8_t t;

	ck_assert_int_eq(cc_sctp_verify_checksum(sctp_misc, sizeof(sctp_misc)), 0);
	ck_assert_int_eq(cc_sctp_iter_init(&it, sctp_misc, sizeof(sctp_misc)), 0);

	ck_assert_int_eq(cc_sctp_next(&it, &ch), 1);
	ck_assert_int_eq(cc_sctp_heartbeat(&ch, &b), 0);
	ck_assert_uint_eq(b.len, 4);
	ck_assert_mem_eq(b.p, "\xca\xfe\xf0\x0d", 4);

	ck_assert_int_eq(cc_sctp_next(&it, &ch), 1);
	ck_assert_int_eq(cc_sctp_forward_tsn(&ch, &fwd), 0);
	ck_assert_uint_eq(fwd.new_cum_tsn, 0x01020310);
	ck_assert_uint_eq(fwd.num_streams, 2);
	ck_assert_uint_eq(fwd.i_forward, 0);

	ck_assert_int_eq(cc_sctp_next(&it, &ch), 1);
	ck_assert_int_eq(cc_sctp_cookie_echo(&ch, &b), 0);
	ck_assert_uint_eq(b.len, 3);
	ck_assert_mem_eq(b.p, "abc", 3);

	ck_assert_int_eq(cc_sctp_next(&it, &ch), 1);
	ck_assert_int_eq(cc_sctp_shutdown(&ch, &tsn), 0);
	ck_assert_uint_eq(tsn, 0x01020309);

	ck_assert_int_eq(cc_sctp_next(&it, &ch), 1);
	ck_assert_int_eq(cc_sctp_data(&ch, &d), 0);
	ck_assert_uint_eq(d.i_data, 1);
	ck_assert_uint_eq(d.mid, 9);
	ck_assert_uint_eq(d.ppid, CC_PPID_STRING);
	ck_assert_uint_eq(d.fsn, 0);
	ck_assert_uint_eq(d.user_data.len, 3);
	ck_assert_mem_eq(d.user_data.p, "hi!", 3);

	ck_assert_int_eq(cc_sctp_next(&it, &ch), 1);
	ck_assert_int_eq(cc_sctp_data(&ch, &d), 0);
	ck_assert_uint_eq(d.ppid, CC_PPID_DCEP);
	ck_assert_int_eq(cc_dcep(d.user_data.p, d.user_data.len, &dc), 0);
	ck_assert_uint_eq(dc.msg_type, CC_DCEP_ACK);

	ck_assert_int_eq(cc_sctp_next(&it, &ch), 1);
	ck_assert_int_eq(cc_sctp_abort(&ch, &t, &b), 0);
	ck_assert_uint_eq(t, 1);
	ck_assert_uint_eq(b.len, 4);
	ck_assert_int_eq(cc_sctp_next(&it, &ch), 0);
}
END_TEST

START_TEST(test_malformed)
{
	struct cc_sctp_iter it;
	struct cc_sctp_chunk ch;
	struct cc_sctp_data d;
	struct cc_sctp_init init;
	struct cc_dcep dc;
	uint8_t *p;
	int rc;

	/* Truncation: either a chunk error or, on a chunk boundary, fewer
	 * chunks; never a read past the copy. */
	for (size_t len = 0; len < sizeof(sctp_misc); len++) {
		p = tight_copy(sctp_misc, len);
		rc = cc_sctp_iter_init(&it, p, len);
		if (len < 12) {
			ck_assert_int_eq(rc, CC_ESHORT);
		} else {
			while ((rc = cc_sctp_next(&it, &ch)) == 1)
				;
			ck_assert_int_le(rc, 0);
		}
		free(p);
	}
	/* DCEP OPEN truncated inside label/protocol. */
	for (size_t len = 1; len < 16; len++) {
		p = tight_copy(sctp_data_dcep + 28, len);
		ck_assert_int_eq(cc_dcep(p, len, &dc), CC_ESHORT);
		free(p);
	}
	ck_assert_int_eq(cc_dcep(sctp_data_dcep, 0, &dc), CC_ESHORT);
	ck_assert_int_eq(cc_dcep((const uint8_t *)"\x07", 1, &dc), CC_ENOTSUP);

	p = tight_copy(sctp_init, sizeof(sctp_init));
	p[14] = 0;
	p[15] = 3;				/* chunk length < 4 */
	cc_sctp_iter_init(&it, p, sizeof(sctp_init));
	ck_assert_int_eq(cc_sctp_next(&it, &ch), CC_EBAD);
	p[15] = 0x1e;
	memset(p + 16, 0, 4);			/* initiate tag 0 */
	cc_sctp_iter_init(&it, p, sizeof(sctp_init));
	ck_assert_int_eq(cc_sctp_next(&it, &ch), 1);
	ck_assert_int_eq(cc_sctp_init(&ch, &init), CC_EBAD);
	free(p);

	/* DATA without user data (RFC 9260 §6.2). */
	p = tight_copy(sctp_data_dcep, sizeof(sctp_data_dcep));
	p[15] = 16;
	cc_sctp_iter_init(&it, p, sizeof(sctp_data_dcep));
	ck_assert_int_eq(cc_sctp_next(&it, &ch), 1);
	ck_assert_int_eq(cc_sctp_data(&ch, &d), CC_EBAD);
	free(p);
}
END_TEST

Suite *sctp_suite(void)
{
	Suite *s = suite_create("sctp");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_crc32c);
	tcase_add_test(tc, test_checksum);
	tcase_add_test(tc, test_init);
	tcase_add_test(tc, test_data_dcep);
	tcase_add_test(tc, test_misc);
	tcase_add_test(tc, test_malformed);
	suite_add_tcase(s, tc);
	return s;
}
