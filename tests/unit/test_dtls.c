/* test_dtls.c - (D)TLS record, handshake, alert and Hello decoding. */
#include "tests/unit/test_decoders.h"

#include <stdlib.h>
#include <string.h>

#include "decoders/dtls.h"
#include "tests/unit/test_decoders_vectors.h"

START_TEST(test_client_hello)
{
	struct cc_tls_record r;
	struct cc_tls_handshake hs;
	struct cc_tls_hello h;
	uint8_t want[32];

	for (int i = 0; i < 32; i++)
		want[i] = (uint8_t)(0x20 + i);
	ck_assert_int_eq(cc_dtls_record(dtls_client_hello, sizeof(dtls_client_hello), &r), 0);
	ck_assert_uint_eq(r.type, CC_TLS_CT_HANDSHAKE);
	ck_assert_uint_eq(r.version, 0xFEFF);
	ck_assert_uint_eq(r.epoch, 0);
	ck_assert_uint_eq(r.seq, 0);
	ck_assert_uint_eq(r.hdr_len, 13);
	ck_assert_uint_eq(r.length + 13u, sizeof(dtls_client_hello));

	ck_assert_int_eq(cc_dtls_handshake(r.frag.p, r.frag.len, &hs), 0);
	ck_assert_uint_eq(hs.msg_type, CC_TLS_HS_CLIENT_HELLO);
	ck_assert_uint_eq(hs.message_seq, 0);
	ck_assert_uint_eq(hs.frag_offset, 0);
	ck_assert_uint_eq(hs.frag_length, hs.length);
	ck_assert_uint_eq(hs.body.len, hs.length);

	ck_assert_int_eq(cc_dtls_hello(dtls_client_hello, sizeof(dtls_client_hello), &h), 0);
	ck_assert_uint_eq(h.msg_type, CC_TLS_HS_CLIENT_HELLO);
	ck_assert_uint_eq(h.legacy_version, 0xFEFD);
	ck_assert_mem_eq(h.random, want, 32);
	ck_assert_uint_eq(h.session_id_len, 0);
	ck_assert_uint_eq(h.hello_retry, 0);
}
END_TEST

START_TEST(test_flight)
{
	struct cc_tls_iter it;
	struct cc_tls_record r;
	struct cc_tls_handshake hs;
	struct cc_tls_alert al;
	struct cc_tls_hello h;
	int rc, n = 0;

	cc_tls_iter_init(&it, dtls_flight, sizeof(dtls_flight), 1);
	while ((rc = cc_tls_iter_next(&it, &r)) == 1) {
		switch (n) {
		case 0:
			ck_assert_uint_eq(r.type, CC_TLS_CT_HANDSHAKE);
			ck_assert_uint_eq(r.seq, 1);
			ck_assert_int_eq(cc_dtls_handshake(r.frag.p, r.frag.len, &hs), 0);
			ck_assert_uint_eq(hs.msg_type, CC_TLS_HS_SERVER_HELLO);
			ck_assert_uint_eq(hs.message_seq, 1);
			break;
		case 1:
			ck_assert_int_eq(cc_dtls_handshake(r.frag.p, r.frag.len, &hs), 0);
			ck_assert_uint_eq(hs.msg_type, CC_TLS_HS_SERVER_HELLO_DONE);
			ck_assert_uint_eq(hs.length, 0);
			break;
		case 2:
			ck_assert_uint_eq(r.type, CC_TLS_CT_CHANGE_CIPHER_SPEC);
			break;
		case 3:
			ck_assert_uint_eq(r.epoch, 1);
			ck_assert_uint_eq(r.seq, 0);
			ck_assert_uint_eq(r.length, 8);
			break;
		case 4:
			ck_assert_uint_eq(r.type, CC_TLS_CT_ALERT);
			ck_assert_int_eq(cc_tls_alert(r.frag.p, r.frag.len, &al), 0);
			ck_assert_uint_eq(al.level, 2);
			ck_assert_uint_eq(al.description, 40);
			break;
		case 5:
			/* RFC 9147 §4 unified header. */
			ck_assert_uint_eq(r.unified, 1);
			ck_assert_uint_eq(r.epoch, 0);
			ck_assert_uint_eq(r.seq, 0x0107);
			ck_assert_uint_eq(r.length, 4);
			ck_assert_uint_eq(r.hdr_len, 5);
			break;
		}
		n++;
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(n, 6);

	ck_assert_int_eq(cc_dtls_hello(dtls_flight, sizeof(dtls_flight), &h), 0);
	ck_assert_uint_eq(h.msg_type, CC_TLS_HS_SERVER_HELLO);
	ck_assert_uint_eq(h.random[0], 0x80);
	ck_assert_uint_eq(h.random[31], 0x9f);
	ck_assert_uint_eq(h.session_id_len, 4);
	ck_assert_mem_eq(h.session_id, "\xa1\xa2\xa3\xa4", 4);
}
END_TEST

START_TEST(test_tls)
{
	struct cc_tls_record r;
	struct cc_tls_hello h;
	struct cc_tls_iter it;
	size_t need;

	ck_assert_int_eq(cc_tls_record(tls_client_hello, sizeof(tls_client_hello), &r), 0);
	ck_assert_uint_eq(r.version, 0x0301);
	ck_assert_int_eq(cc_tls_hello(tls_client_hello, sizeof(tls_client_hello), &h), 0);
	ck_assert_uint_eq(h.legacy_version, 0x0303);
	ck_assert_uint_eq(h.random[0], 0x20);
	ck_assert_uint_eq(h.session_id_len, 32);
	ck_assert_uint_eq(h.session_id[31], 31);

	ck_assert_int_eq(cc_tls_record_len(tls_client_hello, 2, &need), CC_ESHORT);
	ck_assert_uint_eq(need, 5);
	ck_assert_int_eq(cc_tls_record_len(tls_client_hello, 10, &need), CC_ESHORT);
	ck_assert_uint_eq(need, sizeof(tls_client_hello));
	ck_assert_int_eq(cc_tls_record_len(tls_client_hello, sizeof(tls_client_hello), &need), 0);
	ck_assert_uint_eq(need, sizeof(tls_client_hello));
	/* A DTLS record is not a TLS record. */
	ck_assert_int_eq(cc_tls_record_len(dtls_client_hello, sizeof(dtls_client_hello), &need),
			 CC_EBAD);

	cc_tls_iter_init(&it, tls_client_hello, sizeof(tls_client_hello), 0);
	ck_assert_int_eq(cc_tls_iter_next(&it, &r), 1);
	ck_assert_int_eq(cc_tls_iter_next(&it, &r), 0);
}
END_TEST

/* What starts a handshake, and what only starts with the same byte. */
START_TEST(test_handshake_start)
{
	uint8_t b[sizeof(dtls_client_hello)];
	/* A 200-byte UDP flood's datagram whose little-endian counter reached 0xfe16. */
	uint8_t flood[200] = { 0x16, 0xfe };

	memset(flood + 8, 0xa5, sizeof(flood) - 8);
	ck_assert_int_eq(cc_tls_handshake_start(dtls_client_hello, sizeof(dtls_client_hello), 1), 1);
	ck_assert_int_eq(cc_tls_handshake_start(dtls_flight, sizeof(dtls_flight), 1), 1);
	ck_assert_int_eq(cc_tls_handshake_start(tls_client_hello, sizeof(tls_client_hello), 0), 1);
	/* Cut after the message's version (a TLS record spanning segments): still a start. */
	ck_assert_int_eq(cc_tls_handshake_start(dtls_client_hello, 13 + 12 + 2, 1), 1);
	ck_assert_int_eq(cc_tls_handshake_start(tls_client_hello, 5 + 4 + 2, 0), 1);
	ck_assert_int_eq(cc_tls_handshake_start(dtls_client_hello, 13 + 12 + 1, 1), 0);
	ck_assert_int_eq(cc_tls_handshake_start(tls_client_hello, 5, 0), 0);
	/* The other family's, and bytes that only start alike. */
	ck_assert_int_eq(cc_tls_handshake_start(dtls_client_hello, sizeof(dtls_client_hello), 0), 0);
	ck_assert_int_eq(cc_tls_handshake_start(tls_client_hello, sizeof(tls_client_hello), 1), 0);
	ck_assert_int_eq(cc_tls_handshake_start(flood, sizeof(flood), 1), 0);
	ck_assert_int_eq(cc_tls_handshake_start(flood, 0, 1), 0);
	/* Each field that must hold: epoch 0, a DTLS version, a Hello, a Hello's length, the body's version. */
	const struct { size_t at; uint8_t v; size_t at2; uint8_t v2; } bad[] = {
		{ 4, 1, 4, 1 }, { 2, 0x00, 2, 0x00 }, { 13, 11, 13, 11 },
		{ 16, 0x10, 24, 0x10 },         /* message and fragment 16 bytes long: shorter than any Hello */
		{ 25, 0x03, 25, 0x03 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(b, dtls_client_hello, sizeof(b));
		ck_assert_int_eq(cc_tls_handshake_start(b, sizeof(b), 1), 1);
		b[bad[i].at] = bad[i].v;
		b[bad[i].at2] = bad[i].v2;
		ck_assert_msg(cc_tls_handshake_start(b, sizeof(b), 1) == 0, "field at %zu", bad[i].at);
	}
}
END_TEST

START_TEST(test_hrr)
{
	/* RFC 8446 §4.1.3: the HelloRetryRequest random. */
	static const uint8_t hrr[] = {
		0x16, 0x03, 0x03, 0x00, 0x2a,
		0x02, 0x00, 0x00, 0x26, 0x03, 0x03,
		0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02,
		0x1E, 0x65, 0xB8, 0x91, 0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E,
		0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
		0x00, 0x13, 0x01, 0x00,
	};
	struct cc_tls_hello h;

	ck_assert_int_eq(cc_tls_hello(hrr, sizeof(hrr), &h), 0);
	ck_assert_uint_eq(h.msg_type, CC_TLS_HS_SERVER_HELLO);
	ck_assert_uint_eq(h.hello_retry, 1);
}
END_TEST

START_TEST(test_malformed)
{
	struct cc_tls_record r;
	struct cc_tls_handshake hs;
	struct cc_tls_hello h;
	struct cc_tls_iter it;
	uint8_t *p;
	size_t n = sizeof(dtls_client_hello);
	int rc;

	for (size_t len = 0; len < n; len++) {
		p = tight_copy(dtls_client_hello, len);
		ck_assert_int_lt(cc_dtls_record(p, len, &r), 0);
		ck_assert_int_lt(cc_dtls_hello(p, len, &h), 0);
		free(p);
	}
	/* A truncated flight: the iterator stops with an error. */
	p = tight_copy(dtls_flight, sizeof(dtls_flight) - 1);
	cc_tls_iter_init(&it, p, sizeof(dtls_flight) - 1, 1);
	while ((rc = cc_tls_iter_next(&it, &r)) == 1)
		;
	ck_assert_int_eq(rc, CC_ESHORT);
	free(p);

	p = tight_copy(dtls_client_hello, n);
	p[1] = 0x03;				/* TLS version in a DTLS record */
	ck_assert_int_eq(cc_dtls_record(p, n, &r), CC_EBAD);
	p[1] = 0xfe;
	p[0] = 25;				/* tls12_cid: CID length unknown */
	ck_assert_int_eq(cc_dtls_record(p, n, &r), CC_ENOTSUP);
	p[0] = 0x30;				/* unified header with C set */
	ck_assert_int_eq(cc_dtls_record(p, n, &r), CC_ENOTSUP);
	p[0] = 23;				/* application data: no Hello */
	ck_assert_int_eq(cc_dtls_hello(p, n, &h), CC_ENOTSUP);
	p[0] = 22;
	/* A fragment reaching past its message. */
	p[13 + 8] = 0x01;
	ck_assert_int_eq(cc_dtls_handshake(p + 13, n - 13, &hs), CC_EBAD);
	free(p);

	/* session_id longer than 32. */
	p = tight_copy(tls_client_hello, sizeof(tls_client_hello));
	p[5 + 4 + 2 + 32] = 33;
	ck_assert_int_eq(cc_tls_hello(p, sizeof(tls_client_hello), &h), CC_EBAD);
	free(p);
	ck_assert_int_eq(cc_tls_alert((const uint8_t *)"\x02", 1, &(struct cc_tls_alert){ 0 }),
			 CC_ESHORT);
}
END_TEST

Suite *dtls_suite(void)
{
	Suite *s = suite_create("dtls");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_client_hello);
	tcase_add_test(tc, test_flight);
	tcase_add_test(tc, test_tls);
	tcase_add_test(tc, test_hrr);
	tcase_add_test(tc, test_handshake_start);
	tcase_add_test(tc, test_malformed);
	suite_add_tcase(s, tc);
	return s;
}
