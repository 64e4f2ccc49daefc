/* test_demux.c - RFC 7983 / RFC 9443 first-byte classification. */
#include "tests/unit/test_decoders.h"

#include "decoders/demux.h"
#include "tests/unit/test_decoders_vectors.h"

static enum cc_class first(uint8_t b0, uint8_t b1)
{
	const uint8_t p[2] = { b0, b1 };

	return cc_demux(p, sizeof(p));
}

START_TEST(test_ranges)
{
	/* Every boundary of the RFC 7983 §7 / RFC 9443 §5 table. */
	ck_assert_int_eq(first(0, 1), CC_CLASS_STUN);
	ck_assert_int_eq(first(3, 0), CC_CLASS_STUN);
	ck_assert_int_eq(first(4, 0), CC_CLASS_OTHER);
	ck_assert_int_eq(first(15, 0), CC_CLASS_OTHER);
	ck_assert_int_eq(first(16, 0), CC_CLASS_ZRTP);
	ck_assert_int_eq(first(19, 0), CC_CLASS_ZRTP);
	ck_assert_int_eq(first(20, 0), CC_CLASS_DTLS);
	ck_assert_int_eq(first(63, 0), CC_CLASS_DTLS);
	ck_assert_int_eq(first(64, 0), CC_CLASS_TURN_CHANNEL);
	ck_assert_int_eq(first(79, 0), CC_CLASS_TURN_CHANNEL);
	ck_assert_int_eq(first(80, 0), CC_CLASS_QUIC);
	ck_assert_int_eq(first(127, 0), CC_CLASS_QUIC);
	ck_assert_int_eq(first(128, 0), CC_CLASS_RTP);
	ck_assert_int_eq(first(191, 96), CC_CLASS_RTP);
	ck_assert_int_eq(first(192, 0), CC_CLASS_QUIC);
	ck_assert_int_eq(first(255, 0), CC_CLASS_QUIC);
}
END_TEST

START_TEST(test_rtp_rtcp)
{
	/* RFC 5761 §4: second byte 192..223 (PT 64..95 with M) is RTCP. */
	ck_assert_int_eq(first(0x80, 200), CC_CLASS_RTCP);
	ck_assert_int_eq(first(0x81, 207), CC_CLASS_RTCP);
	ck_assert_int_eq(first(0x80, 192), CC_CLASS_RTCP);
	ck_assert_int_eq(first(0x80, 223), CC_CLASS_RTCP);
	ck_assert_int_eq(first(0x80, 224), CC_CLASS_RTP);	/* M=1 PT=96 */
	ck_assert_int_eq(first(0x80, 191), CC_CLASS_RTP);	/* M=1 PT=63 */
	ck_assert_int_eq(first(0x80, 111), CC_CLASS_RTP);
	ck_assert_int_eq(first(0x80, 72), CC_CLASS_RTCP);	/* PT 72, no M */
	ck_assert_int_eq(cc_demux(rtp_onebyte, sizeof(rtp_onebyte)), CC_CLASS_RTP);
	ck_assert_int_eq(cc_demux(rtcp_sr_sdes, sizeof(rtcp_sr_sdes)), CC_CLASS_RTCP);
	ck_assert_int_eq(cc_demux(stun_rfc5769_request, sizeof(stun_rfc5769_request)),
			 CC_CLASS_STUN);
	ck_assert_int_eq(cc_demux(dtls_client_hello, sizeof(dtls_client_hello)), CC_CLASS_DTLS);
	ck_assert_int_eq(cc_demux(turn_channel_data, sizeof(turn_channel_data)),
			 CC_CLASS_TURN_CHANNEL);
}
END_TEST

START_TEST(test_short)
{
	const uint8_t rtp1[1] = { 0x80 };

	ck_assert_int_eq(cc_demux(NULL, 0), CC_CLASS_OTHER);
	ck_assert_int_eq(cc_demux(rtp1, 0), CC_CLASS_OTHER);
	/* One byte cannot say RTP or RTCP. */
	ck_assert_int_eq(cc_demux(rtp1, 1), CC_CLASS_OTHER);
	ck_assert_int_eq(cc_demux_is_rtcp(rtp1, 1), 0);
	ck_assert_str_eq(cc_class_name(CC_CLASS_DTLS), "dtls");
	ck_assert_str_eq(cc_class_name(CC_CLASS_OTHER), "other");
	ck_assert_str_eq(cc_class_name((enum cc_class)99), "other");
}
END_TEST

/* A DNS query whose id starts 0x80-0xBF reads as RTP by its bytes; its port says otherwise. */
START_TEST(test_service_ports)
{
	/* id 0x9a3c, RD, one question: "example.org" A IN */
	const uint8_t dns[] = { 0x9a, 0x3c, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
				7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'o', 'r', 'g', 0, 0x00, 0x01, 0x00, 0x01 };

	ck_assert_int_eq(cc_demux(dns, sizeof(dns)), CC_CLASS_RTP);
	ck_assert_int_eq(cc_demux_udp(dns, sizeof(dns), 40123, 53), CC_CLASS_OTHER);
	ck_assert_int_eq(cc_demux_udp(dns, sizeof(dns), 53, 40123), CC_CLASS_OTHER);
	ck_assert_int_eq(cc_demux_udp(dns, sizeof(dns), 5353, 5353), CC_CLASS_OTHER);
	ck_assert_int_eq(cc_demux_udp(dns, sizeof(dns), 40123, 40124), CC_CLASS_RTP);
	ck_assert_int_eq(cc_demux_udp(rtcp_sr_sdes, sizeof(rtcp_sr_sdes), 40001, 40003), CC_CLASS_RTCP);
	ck_assert_int_eq(cc_demux_udp(stun_rfc5769_request, sizeof(stun_rfc5769_request), 40001, 3478), CC_CLASS_STUN);
	ck_assert(cc_demux_service_port(123));
	ck_assert(!cc_demux_service_port(3478));
	ck_assert(!cc_demux_service_port(5060));
	ck_assert(!cc_demux_service_port(443));       /* TURN servers listen there too */
}
END_TEST

Suite *demux_suite(void)
{
	Suite *s = suite_create("demux");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_ranges);
	tcase_add_test(tc, test_rtp_rtcp);
	tcase_add_test(tc, test_short);
	tcase_add_test(tc, test_service_ports);
	suite_add_tcase(s, tc);
	return s;
}
