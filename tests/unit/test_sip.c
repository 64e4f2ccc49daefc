/* test_sip.c - SIP start lines and headers (RFC 3261 §7, §20), from RFC 3665-style messages. */
#include "tests/unit/test_decoders.h"

#include <stdlib.h>
#include <string.h>

#include "decoders/cursor.h"
#include "decoders/sip.h"

static const char invite[] =
	"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
	"Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9\r\n"
	"Call-ID: 3848276298220188511@atlanta.example.com\r\n"
	"CSeq: 1 INVITE\r\n"
	"Content-Type: application/sdp\r\n"
	"Content-Length: 4\r\n"
	"\r\n"
	"v=0\n";

static const char ringing[] =
	"SIP/2.0 180 Ringing\r\n"
	"i:abc@x\r\n"
	"CSeq :  2   BYE\r\n"
	"l: 0\r\n"
	"\r\n";

static int detect(const char *s, size_t n)
{
	uint8_t *c = tight_copy((const uint8_t *)s, n);
	int r = cc_sip_detect(c, n);

	free(c);
	return r;
}

START_TEST(test_sip_detect)
{
	ck_assert(detect(invite, strlen(invite)));
	ck_assert(detect(ringing, strlen(ringing)));
	/* The first bytes of a request only: the URI scheme decides. */
	ck_assert(detect(invite, 12));
	ck_assert(!detect("OPTIONS http://x/ HTTP/1.1\r\n", 28));
	ck_assert(!detect("OPTIONS rtsp://x/ RTSP/1.0\r\n", 28));
	ck_assert(!detect("GET / HTTP/1.1\r\n", 16));
	ck_assert(!detect("OPTIONS http", 12));
	ck_assert(detect("OPTIONS * SIP/2.0\r\n", 19));
	ck_assert(!detect("SIP/2.0 99 x\r\n", 14));
	ck_assert(!detect("SIP/2.0 1x0 x\r\n", 15));
	ck_assert(detect("SIP/2.0 200", 11));
	ck_assert(!detect("SIP/2.0 20", 10));
	ck_assert(!detect("", 0));
	ck_assert(!cc_sip_detect(NULL, 0));
	ck_assert(!detect(" INVITE sip:x SIP/2.0\r\n", 23));
}
END_TEST

START_TEST(test_sip_parse)
{
	struct cc_sip m;
	uint8_t *c = tight_copy((const uint8_t *)invite, strlen(invite));

	ck_assert_int_eq(cc_sip_parse(c, strlen(invite), &m), CC_OK);
	ck_assert(m.is_request);
	ck_assert_str_eq(m.method, "INVITE");
	ck_assert_uint_eq(m.status, 0);
	ck_assert_str_eq(m.call_id, "3848276298220188511@atlanta.example.com");
	ck_assert_uint_eq(m.cseq, 1);
	ck_assert_str_eq(m.cseq_method, "INVITE");
	ck_assert_int_eq(m.content_length, 4);
	ck_assert_uint_eq(m.header_len + 4, strlen(invite));
	/* Cut anywhere inside the headers: short, never a read past the end. */
	for (size_t n = 0; n < m.header_len; n++) {
		struct cc_sip t;
		uint8_t *s = tight_copy((const uint8_t *)invite, n);

		ck_assert_int_ne(cc_sip_parse(s, n, &t), CC_OK);
		free(s);
	}
	free(c);

	c = tight_copy((const uint8_t *)ringing, strlen(ringing));
	ck_assert_int_eq(cc_sip_parse(c, strlen(ringing), &m), CC_OK);
	ck_assert(!m.is_request);
	ck_assert_uint_eq(m.status, 180);
	ck_assert_str_eq(m.method, "");
	ck_assert_str_eq(m.call_id, "abc@x");
	ck_assert_uint_eq(m.cseq, 2);
	ck_assert_str_eq(m.cseq_method, "BYE");
	ck_assert_int_eq(m.content_length, 0);
	ck_assert_uint_eq(m.header_len, strlen(ringing));
	free(c);

	ck_assert_int_eq(cc_sip_parse((const uint8_t *)"HTTP/1.1 200 OK\r\n\r\n", 19, &m), CC_EBAD);
	ck_assert_int_eq(cc_sip_parse((const uint8_t *)"SIP/2.0 200 OK\r\nCSeq: 99999999999 X\r\n\r\n", 39, &m),
			 CC_OK);
	ck_assert_uint_eq(m.cseq, 0);
	ck_assert_int_eq(m.content_length, -1);
}
END_TEST

START_TEST(test_sip_ports)
{
	ck_assert(cc_sip_default_port(5060));
	ck_assert(cc_sip_default_port(5061));
	ck_assert(!cc_sip_default_port(5062));
}
END_TEST

Suite *sip_suite(void)
{
	Suite *s = suite_create("sip");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_sip_detect);
	tcase_add_test(tc, test_sip_parse);
	tcase_add_test(tc, test_sip_ports);
	suite_add_tcase(s, tc);
	return s;
}
