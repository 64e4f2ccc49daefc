/* test_stun.c - STUN/TURN decoding against RFC 5769 and hand-built TURN. */
#include "tests/unit/test_decoders.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "decoders/crc.h"
#include "decoders/stun.h"
#include "tests/unit/test_decoders_vectors.h"

static void assert_bytes(struct cc_bytes b, const char *s)
{
	ck_assert_uint_eq(b.len, strlen(s));
	ck_assert_mem_eq(b.p, s, b.len);
}

START_TEST(test_crc32)
{
	const uint8_t s[] = "123456789";

	/* The check value of CRC-32/ISO-HDLC. */
	ck_assert_uint_eq(cc_crc32(0, s, 9), 0xCBF43926u);
	ck_assert_uint_eq(cc_crc32(cc_crc32(0, s, 4), s + 4, 5), 0xCBF43926u);
	ck_assert_uint_eq(cc_crc32(0, NULL, 0), 0);
}
END_TEST

START_TEST(test_rfc5769_request)
{
	struct cc_stun_msg m;

	ck_assert_int_eq(cc_stun_parse(stun_rfc5769_request, sizeof(stun_rfc5769_request), &m), 0);
	ck_assert_uint_eq(m.hdr.cls, CC_STUN_REQUEST);
	ck_assert_uint_eq(m.hdr.method, CC_STUN_BINDING);
	ck_assert_uint_eq(m.hdr.length, 88);
	ck_assert_mem_eq(m.hdr.txid, "\xb7\xe7\xa7\x01\xbc\x34\xd6\x86\xfa\x87\xdf\xae", 12);
	assert_bytes(m.software, "STUN test client");
	/* The vector pads USERNAME with spaces; the length excludes them. */
	assert_bytes(m.username, "evtj:h6vY");
	ck_assert_uint_eq(m.priority, 0x6e0001ff);
	ck_assert(m.has & CC_STUN_HAS_ICE_CONTROLLED);
	ck_assert(!(m.has & CC_STUN_HAS_ICE_CONTROLLING));
	ck_assert_uint_eq(m.tiebreaker, 0x932ff9b151263b36ull);
	ck_assert(m.has & CC_STUN_HAS_INTEGRITY);
	ck_assert_uint_eq(m.integrity_off, 20 + 20 + 8 + 12 + 16);
	ck_assert(m.has & CC_STUN_HAS_FINGERPRINT);
	ck_assert(m.has & CC_STUN_HAS_FINGERPRINT_OK);
	ck_assert_uint_eq(m.fingerprint, 0xe57a3bcf);
	ck_assert_int_eq(cc_stun_check_fingerprint(stun_rfc5769_request,
						   sizeof(stun_rfc5769_request)), 0);
}
END_TEST

/* The 8-byte peek agrees with the full header decode, and refuses what is not STUN. */
START_TEST(test_peek)
{
	uint16_t method;
	uint8_t cls;
	uint8_t no_cookie[8];

	ck_assert_int_eq(cc_stun_peek(stun_rfc5769_request, 8, &method, &cls), 0);
	ck_assert_uint_eq(method, CC_STUN_BINDING);
	ck_assert_uint_eq(cls, CC_STUN_REQUEST);
	ck_assert_int_eq(cc_stun_peek(stun_alloc_401, sizeof(stun_alloc_401), &method, &cls), 0);
	ck_assert_uint_eq(method, CC_STUN_ALLOCATE);
	ck_assert_uint_eq(cls, CC_STUN_ERROR);
	ck_assert_int_eq(cc_stun_peek(stun_rfc5769_request, 7, &method, &cls), -1);
	memcpy(no_cookie, stun_rfc5769_request, 8);
	no_cookie[5] ^= 1;
	ck_assert_int_eq(cc_stun_peek(no_cookie, 8, &method, &cls), -1);
	no_cookie[5] ^= 1;
	no_cookie[0] |= 0x40;                   /* a top bit set: ChannelData, not STUN */
	ck_assert_int_eq(cc_stun_peek(no_cookie, 8, &method, &cls), -1);
}
END_TEST

START_TEST(test_rfc5769_ipv4)
{
	struct cc_stun_msg m;
	struct sockaddr_storage ss;
	struct sockaddr_in sin;

	ck_assert_int_eq(cc_stun_parse(stun_rfc5769_ipv4, sizeof(stun_rfc5769_ipv4), &m), 0);
	ck_assert_uint_eq(m.hdr.cls, CC_STUN_SUCCESS);
	ck_assert_uint_eq(m.hdr.method, CC_STUN_BINDING);
	assert_bytes(m.software, "test vector");
	ck_assert(m.has & CC_STUN_HAS_XOR_MAPPED);
	ck_assert_int_eq(m.xor_mapped.family, AF_INET);
	ck_assert_uint_eq(m.xor_mapped.port, 32853);
	ck_assert_mem_eq(m.xor_mapped.addr, "\xc0\x00\x02\x01", 4);
	ck_assert(m.has & CC_STUN_HAS_FINGERPRINT_OK);

	ck_assert_uint_eq(cc_stun_addr_to_sockaddr(&m.xor_mapped, &ss), sizeof(sin));
	memcpy(&sin, &ss, sizeof(sin));
	ck_assert_uint_eq(ntohs(sin.sin_port), 32853);
	ck_assert_uint_eq(ntohl(sin.sin_addr.s_addr), 0xc0000201);
}
END_TEST

START_TEST(test_rfc5769_ipv6)
{
	static const uint8_t want[16] = {
		0x20, 0x01, 0x0d, 0xb8, 0x12, 0x34, 0x56, 0x78,
		0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
	};
	struct cc_stun_msg m;
	struct sockaddr_storage ss;

	ck_assert_int_eq(cc_stun_parse(stun_rfc5769_ipv6, sizeof(stun_rfc5769_ipv6), &m), 0);
	ck_assert_int_eq(m.xor_mapped.family, AF_INET6);
	ck_assert_uint_eq(m.xor_mapped.port, 32853);
	ck_assert_mem_eq(m.xor_mapped.addr, want, 16);
	ck_assert(m.has & CC_STUN_HAS_FINGERPRINT_OK);
	ck_assert_uint_eq(cc_stun_addr_to_sockaddr(&m.xor_mapped, &ss), sizeof(struct sockaddr_in6));
}
END_TEST

START_TEST(test_fingerprint_mismatch)
{
	uint8_t *p = tight_copy(stun_rfc5769_ipv4, sizeof(stun_rfc5769_ipv4));
	struct cc_stun_msg m;

	/* Flip one bit of the SOFTWARE text: still parses, CRC now fails. */
	p[24] ^= 0x01;
	ck_assert_int_eq(cc_stun_parse(p, sizeof(stun_rfc5769_ipv4), &m), 0);
	ck_assert(m.has & CC_STUN_HAS_FINGERPRINT);
	ck_assert(!(m.has & CC_STUN_HAS_FINGERPRINT_OK));
	ck_assert_int_eq(cc_stun_check_fingerprint(p, sizeof(stun_rfc5769_ipv4)), CC_EBAD);
	ck_assert_int_eq(cc_stun_check_fingerprint(stun_send_ind, sizeof(stun_send_ind)),
			 CC_ENOTSUP);
	free(p);
}
END_TEST

START_TEST(test_iterate)
{
	static const uint16_t want[] = { 0x8022, 0x0020, 0x0008, 0x8028 };
	struct cc_stun_iter it;
	struct cc_stun_attr a;
	struct cc_stun_hdr h;
	struct cc_stun_addr addr;
	unsigned n = 0;
	int rc;

	ck_assert_int_eq(cc_stun_header(stun_rfc5769_ipv4, sizeof(stun_rfc5769_ipv4), &h), 0);
	ck_assert_int_eq(cc_stun_iter_init(&it, stun_rfc5769_ipv4, sizeof(stun_rfc5769_ipv4)), 0);
	while ((rc = cc_stun_iter_next(&it, &a)) == 1) {
		ck_assert_uint_lt(n, 4);
		ck_assert_uint_eq(a.type, want[n]);
		if (a.type == CC_STUN_A_XOR_MAPPED_ADDRESS) {
			ck_assert_uint_eq(a.off, 36);
			ck_assert_int_eq(cc_stun_attr_addr(&a, &h, &addr), 0);
			ck_assert_uint_eq(addr.port, 32853);
		} else if (a.type == CC_STUN_A_SOFTWARE) {
			ck_assert_int_eq(cc_stun_attr_addr(&a, &h, &addr), CC_ENOTSUP);
		}
		n++;
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(n, 4);
}
END_TEST

START_TEST(test_turn_401)
{
	struct cc_stun_msg m;

	ck_assert_int_eq(cc_stun_parse(stun_alloc_401, sizeof(stun_alloc_401), &m), 0);
	ck_assert_uint_eq(m.hdr.cls, CC_STUN_ERROR);
	ck_assert_uint_eq(m.hdr.method, CC_STUN_ALLOCATE);
	ck_assert(m.has & CC_STUN_HAS_ERROR_CODE);
	ck_assert_uint_eq(m.error_code, 401);
	assert_bytes(m.error_reason, "Unauthorized");
	assert_bytes(m.realm, "example.org");
	assert_bytes(m.nonce, "f00dcafe");
	assert_bytes(m.software, "clearcap");
	ck_assert(m.has & CC_STUN_HAS_FINGERPRINT_OK);
}
END_TEST

START_TEST(test_turn_alloc_ok)
{
	struct cc_stun_msg m;

	ck_assert_int_eq(cc_stun_parse(stun_alloc_ok, sizeof(stun_alloc_ok), &m), 0);
	ck_assert_uint_eq(m.hdr.cls, CC_STUN_SUCCESS);
	ck_assert_uint_eq(m.hdr.method, CC_STUN_ALLOCATE);
	ck_assert_int_eq(m.xor_relayed.family, AF_INET);
	ck_assert_uint_eq(m.xor_relayed.port, 49152);
	ck_assert_mem_eq(m.xor_relayed.addr, "\xcb\x00\x71\x05", 4);
	ck_assert_uint_eq(m.xor_mapped.port, 40000);
	ck_assert_mem_eq(m.xor_mapped.addr, "\xc6\x33\x64\x07", 4);
	/* MAPPED-ADDRESS is not XORed. */
	ck_assert(m.has & CC_STUN_HAS_MAPPED);
	ck_assert_uint_eq(m.mapped.port, 3478);
	ck_assert_mem_eq(m.mapped.addr, "\xc0\x00\x02\x09", 4);
	ck_assert(m.has & CC_STUN_HAS_LIFETIME);
	ck_assert_uint_eq(m.lifetime, 600);
	ck_assert(m.has & CC_STUN_HAS_FINGERPRINT_OK);
}
END_TEST

START_TEST(test_ice_check)
{
	struct cc_stun_msg m;

	ck_assert_int_eq(cc_stun_parse(stun_binding_ice, sizeof(stun_binding_ice), &m), 0);
	assert_bytes(m.username, "abcd:efgh");
	ck_assert_uint_eq(m.priority, 0x6e7f00ff);
	ck_assert(m.has & CC_STUN_HAS_ICE_CONTROLLING);
	ck_assert_uint_eq(m.tiebreaker, 0x0102030405060708ull);
	ck_assert(m.has & CC_STUN_HAS_USE_CANDIDATE);
	ck_assert(m.has & CC_STUN_HAS_INTEGRITY);
	/* RFC 8489 §14.5: SOFTWARE after MESSAGE-INTEGRITY is ignored. */
	ck_assert(!(m.has & CC_STUN_HAS_SOFTWARE));
	ck_assert(m.has & CC_STUN_HAS_FINGERPRINT_OK);
}
END_TEST

START_TEST(test_channel_bind)
{
	struct cc_stun_msg m;

	ck_assert_int_eq(cc_stun_parse(stun_channel_bind, sizeof(stun_channel_bind), &m), 0);
	ck_assert_uint_eq(m.hdr.method, CC_STUN_CHANNEL_BIND);
	ck_assert(m.has & CC_STUN_HAS_CHANNEL);
	ck_assert_uint_eq(m.channel, 0x4001);
	ck_assert_uint_eq(m.xor_peer.port, 6000);
}
END_TEST

START_TEST(test_indications)
{
	static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	struct cc_turn_ind ind;

	ck_assert_int_eq(cc_turn_indication(stun_data_ind, sizeof(stun_data_ind), &ind), 0);
	ck_assert_uint_eq(ind.method, CC_STUN_DATA);
	ck_assert_int_eq(ind.peer.family, AF_INET6);
	ck_assert_uint_eq(ind.peer.port, 5000);
	ck_assert_mem_eq(ind.peer.addr, v6, 16);
	ck_assert_uint_eq(ind.data.len, 16);
	ck_assert_uint_eq(ind.data.p[0], 0x80);
	ck_assert_uint_eq(ind.data.p[15], 0x44);

	ck_assert_int_eq(cc_turn_indication(stun_send_ind, sizeof(stun_send_ind), &ind), 0);
	ck_assert_uint_eq(ind.method, CC_STUN_SEND);
	ck_assert_int_eq(ind.peer.family, AF_INET);
	ck_assert_mem_eq(ind.peer.addr, "\xc6\x33\x64\x14", 4);
	assert_bytes(ind.data, "hello");

	/* A Binding response is not an indication. */
	ck_assert_int_eq(cc_turn_indication(stun_rfc5769_ipv4, sizeof(stun_rfc5769_ipv4), &ind),
			 CC_ENOTSUP);
}
END_TEST

START_TEST(test_channel_data)
{
	struct cc_turn_channel cd;
	const uint8_t bad_channel[] = { 0x80, 0x00, 0x00, 0x00 };

	ck_assert_int_eq(cc_turn_channel_data(turn_channel_data, sizeof(turn_channel_data), &cd), 0);
	ck_assert_uint_eq(cd.channel, 0x4001);
	assert_bytes(cd.data, "hello");
	/* Unpadded, as UDP allows. */
	ck_assert_int_eq(cc_turn_channel_data(turn_channel_data, 9, &cd), 0);
	ck_assert_int_eq(cc_turn_channel_data(turn_channel_data, 8, &cd), CC_ESHORT);
	ck_assert_int_eq(cc_turn_channel_data(bad_channel, sizeof(bad_channel), &cd), CC_EBAD);
}
END_TEST

START_TEST(test_tcp_framing)
{
	uint8_t stream[256];
	size_t n = 0, fl;

	memcpy(stream + n, turn_channel_data, sizeof(turn_channel_data));
	n += sizeof(turn_channel_data);
	memcpy(stream + n, stun_rfc5769_ipv4, sizeof(stun_rfc5769_ipv4));
	n += sizeof(stun_rfc5769_ipv4);

	ck_assert_int_eq(cc_turn_tcp_frame(stream, n, &fl), 0);
	ck_assert_uint_eq(fl, 12);	/* 4 + 5, padded to 12 */
	ck_assert_int_eq(cc_turn_tcp_frame(stream + 12, n - 12, &fl), 0);
	ck_assert_uint_eq(fl, sizeof(stun_rfc5769_ipv4));
	/* Partial frames ask for what they need. */
	ck_assert_int_eq(cc_turn_tcp_frame(stream, 3, &fl), CC_ESHORT);
	ck_assert_uint_eq(fl, 4);
	ck_assert_int_eq(cc_turn_tcp_frame(stream, 10, &fl), CC_ESHORT);
	ck_assert_uint_eq(fl, 12);
	ck_assert_int_eq(cc_turn_tcp_frame(stream + 12, 30, &fl), CC_ESHORT);
	ck_assert_uint_eq(fl, 80);
	/* Neither STUN nor ChannelData: the stream is out of step. */
	stream[0] = 0x80;
	ck_assert_int_eq(cc_turn_tcp_frame(stream, n, &fl), CC_EBAD);
}
END_TEST

START_TEST(test_malformed)
{
	uint8_t *p;
	struct cc_stun_msg m;
	size_t n = sizeof(stun_rfc5769_request);

	/* Every truncation of a valid message is an error, never a read
	 * past the end (the copy is exactly as long as claimed). */
	for (size_t len = 0; len < n; len++) {
		p = tight_copy(stun_rfc5769_request, len);
		ck_assert_int_lt(cc_stun_parse(p, len, &m), 0);
		free(p);
	}

	p = tight_copy(stun_rfc5769_request, n);
	p[4] = 0x22;				/* bad magic cookie */
	ck_assert_int_eq(cc_stun_parse(p, n, &m), CC_EBAD);
	p[4] = 0x21;
	p[0] = 0x40;				/* top bits set */
	ck_assert_int_eq(cc_stun_parse(p, n, &m), CC_EBAD);
	p[0] = 0x00;
	p[3] = 0x57;				/* length not a multiple of 4 */
	ck_assert_int_eq(cc_stun_parse(p, n, &m), CC_EBAD);
	p[3] = 0x58;
	p[23] = 0xF0;				/* SOFTWARE length runs past the end */
	ck_assert_int_eq(cc_stun_parse(p, n, &m), CC_ESHORT);
	p[23] = 0x10;
	p[43] = 0x05;				/* PRIORITY of 5 bytes */
	ck_assert_int_lt(cc_stun_parse(p, n, &m), 0);
	free(p);

	/* An attribute after FINGERPRINT. */
	{
		uint8_t buf[sizeof(stun_rfc5769_ipv4) + 4];

		memcpy(buf, stun_rfc5769_ipv4, sizeof(stun_rfc5769_ipv4));
		memcpy(buf + sizeof(stun_rfc5769_ipv4), "\x00\x25\x00\x00", 4);
		buf[3] += 4;
		ck_assert_int_eq(cc_stun_parse(buf, sizeof(buf), &m), CC_EBAD);
	}
	/* IPv4 family with an IPv6-sized address is fine; family 3 is not. */
	p = tight_copy(stun_rfc5769_ipv4, sizeof(stun_rfc5769_ipv4));
	p[41] = 0x03;
	ck_assert_int_eq(cc_stun_parse(p, sizeof(stun_rfc5769_ipv4), &m), CC_EBAD);
	/* Family IPv6 in an 8-byte attribute. */
	p[41] = 0x02;
	ck_assert_int_eq(cc_stun_parse(p, sizeof(stun_rfc5769_ipv4), &m), CC_ESHORT);
	free(p);
}
END_TEST

START_TEST(test_error_code_bounds)
{
	uint8_t *p = tight_copy(stun_alloc_401, sizeof(stun_alloc_401));
	struct cc_stun_msg m;

	p[26] = 0x07;				/* class 7 */
	ck_assert_int_eq(cc_stun_parse(p, sizeof(stun_alloc_401), &m), CC_EBAD);
	p[26] = 0x04;
	p[27] = 100;				/* number 100 */
	ck_assert_int_eq(cc_stun_parse(p, sizeof(stun_alloc_401), &m), CC_EBAD);
	free(p);
}
END_TEST

Suite *stun_suite(void)
{
	Suite *s = suite_create("stun");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_crc32);
	tcase_add_test(tc, test_rfc5769_request);
	tcase_add_test(tc, test_rfc5769_ipv4);
	tcase_add_test(tc, test_rfc5769_ipv6);
	tcase_add_test(tc, test_fingerprint_mismatch);
	tcase_add_test(tc, test_iterate);
	tcase_add_test(tc, test_turn_401);
	tcase_add_test(tc, test_turn_alloc_ok);
	tcase_add_test(tc, test_ice_check);
	tcase_add_test(tc, test_channel_bind);
	tcase_add_test(tc, test_peek);
	tcase_add_test(tc, test_indications);
	tcase_add_test(tc, test_channel_data);
	tcase_add_test(tc, test_tcp_framing);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_error_code_bounds);
	suite_add_tcase(s, tc);
	return s;
}
