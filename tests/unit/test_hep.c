/*
 * Unit tests for pcapout/hep.c (HEPv3 encoding, records read back) and decoders/sip.c (SIP
 * message boundaries, Call-ID), plus the HEP settings of shim/config.c.
 */
#include "pcapout/hep.h"
#include "decoders/sipframe.h"
#include "shim/config.h"
#include "tests/unit/check_main.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char sip_msg[] = "INVITE sip:bob@example.org SIP/2.0\r\n"
			      "Via: SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bK1\r\n"
			      "i:  call-42@10.0.0.1 \r\n"
			      "CSeq: 1 INVITE\r\n"
			      "l: 4\r\n"
			      "\r\n"
			      "v=0\n";

/* A record as the writer makes it: frame (SLL2, IP, transport, payload) inside an EPB or pcap record. */
static size_t make_record(enum cc_format fmt, uint8_t *rec, const struct cc_frame *f, uint64_t ts,
			  const void *payload, size_t len)
{
	struct iovec v = { (void *)payload, len };
	size_t hl = cc_frame_hdr_len(f);

	cc_frame_build(rec + cc_record_frame_off(fmt), f, &v, 1, 0, len, len);
	cc_record_finish(fmt, rec, ts, f->iface, f->outgoing, hl + len, hl + len, "pid 1 x", 7);
	return cc_record_len(fmt, hl + len, fmt == CC_FMT_PCAPNG ? 7 : 0);
}

static struct cc_frame frame4(uint8_t proto)
{
	struct cc_frame f;

	memset(&f, 0, sizeof(f));
	f.src.family = f.dst.family = AF_INET;
	inet_pton(AF_INET, "10.0.0.1", f.src.ip);
	inet_pton(AF_INET, "192.0.2.7", f.dst.ip);
	f.src.port = 5061;
	f.dst.port = 40000;
	f.proto = proto;
	f.iface = CC_IF_PLAINTEXT;
	f.outgoing = 1;
	f.ttl = 64;
	f.seq = 1000;
	f.tcp_flags = CC_TCP_ACK | CC_TCP_PSH;
	return f;
}

/* Finds chunk `type` in a HEP packet: its value and length; asserts the chunk walk is exact. */
static const uint8_t *find_chunk(const uint8_t *p, size_t n, uint16_t type, size_t *len)
{
	const uint8_t *found = NULL;
	size_t off = 6;

	ck_assert_uint_ge(n, 6);
	ck_assert_int_eq(memcmp(p, "HEP3", 4), 0);
	ck_assert_uint_eq((size_t)(p[4] << 8 | p[5]), n);
	while (off < n) {
		ck_assert_uint_le(off + 6, n);
		uint16_t vendor = (uint16_t)(p[off] << 8 | p[off + 1]), t = (uint16_t)(p[off + 2] << 8 | p[off + 3]);
		size_t l = (size_t)(p[off + 4] << 8 | p[off + 5]);
		ck_assert_uint_eq(vendor, 0);
		ck_assert_uint_ge(l, 6);
		ck_assert_uint_le(off + l, n);
		if (t == type) {
			found = p + off + 6;
			*len = l - 6;
		}
		off += l;
	}
	ck_assert_uint_eq(off, n);
	return found;
}

static uint32_t be32_at(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void record_roundtrip(enum cc_format fmt, uint8_t proto)
{
	static uint8_t rec[4096], out[CC_HEP_MAX];
	struct cc_frame f = frame4(proto);
	uint64_t ts = 1700000000123456789ull;
	size_t rlen = make_record(fmt, rec, &f, ts, sip_msg, strlen(sip_msg)), used, l;
	struct cc_hep_pkt k;

	/* Cut short: not a record yet, and says how much it needs. */
	ck_assert_int_eq(cc_hep_parse_record(fmt, rec, rlen - 1, &used, &k), -1);
	ck_assert_int_eq(cc_hep_parse_record(fmt, rec, rlen, &used, &k), 1);
	ck_assert_uint_eq(used, rlen);
	ck_assert_uint_eq(k.proto, proto);
	ck_assert_uint_eq(k.iface, CC_IF_PLAINTEXT);
	ck_assert_uint_eq(k.outgoing, 1);
	ck_assert_uint_eq(k.src.port, 5061);
	ck_assert_uint_eq(k.dst.port, 40000);
	ck_assert_uint_eq(k.ts_ns, ts);
	ck_assert_uint_eq(k.len, strlen(sip_msg));
	ck_assert_int_eq(memcmp(k.payload, sip_msg, k.len), 0);
	if (proto == IPPROTO_TCP)
		ck_assert_uint_eq(k.seq, 1000);

	struct cc_hep_cfg cfg = { .id = 2001, .classes = CC_HEP_DEFAULT };
	snprintf(cfg.name, sizeof(cfg.name), "edge-1");
	snprintf(cfg.password, sizeof(cfg.password), "myHep");
	struct cc_bytes cid;
	ck_assert_int_eq(cc_sip_call_id(k.payload, k.len, &cid), CC_OK);
	struct cc_hep_msg m = { &k, CC_HEP_PT_SIP, k.payload, k.len, cid.p, cid.len };
	size_t n = cc_hep_encode(out, sizeof(out), &cfg, &m);
	ck_assert_uint_gt(n, k.len);
	const uint8_t *v;
	ck_assert_ptr_nonnull(v = find_chunk(out, n, 1, &l));
	ck_assert_uint_eq(l, 1);
	ck_assert_uint_eq(v[0], 2);
	ck_assert_ptr_nonnull(v = find_chunk(out, n, 2, &l));
	ck_assert_uint_eq(v[0], proto);
	ck_assert_ptr_nonnull(v = find_chunk(out, n, 3, &l));
	ck_assert_uint_eq(l, 4);
	ck_assert_int_eq(memcmp(v, f.src.ip, 4), 0);
	ck_assert_ptr_nonnull(v = find_chunk(out, n, 4, &l));
	ck_assert_int_eq(memcmp(v, f.dst.ip, 4), 0);
	ck_assert_ptr_nonnull(v = find_chunk(out, n, 7, &l));
	ck_assert_uint_eq(l, 2);
	ck_assert_uint_eq(v[0] << 8 | v[1], 5061);
	ck_assert_ptr_nonnull(v = find_chunk(out, n, 8, &l));
	ck_assert_uint_eq(v[0] << 8 | v[1], 40000);
	ck_assert_ptr_nonnull(v = find_chunk(out, n, 9, &l));
	ck_assert_uint_eq(be32_at(v), 1700000000u);
	ck_assert_ptr_nonnull(v = find_chunk(out, n, 10, &l));
	/* Pcap records keep nanoseconds as well: both say 123456 microseconds. */
	ck_assert_uint_eq(be32_at(v), 123456u);
	ck_assert_ptr_nonnull(v = find_chunk(out, n, 11, &l));
	ck_assert_uint_eq(v[0], 1);
	ck_assert_ptr_nonnull(v = find_chunk(out, n, 12, &l));
	ck_assert_uint_eq(l, 4);
	ck_assert_uint_eq(be32_at(v), 2001);
	ck_assert_ptr_nonnull(v = find_chunk(out, n, 14, &l));
	ck_assert_uint_eq(l, 5);
	ck_assert_int_eq(memcmp(v, "myHep", 5), 0);
	ck_assert_ptr_nonnull(v = find_chunk(out, n, 17, &l));
	ck_assert_uint_eq(l, strlen("call-42@10.0.0.1"));
	ck_assert_int_eq(memcmp(v, "call-42@10.0.0.1", l), 0);
	ck_assert_ptr_nonnull(v = find_chunk(out, n, 19, &l));
	ck_assert_int_eq(memcmp(v, "edge-1", 6), 0);
	ck_assert_ptr_nonnull(v = find_chunk(out, n, 15, &l));
	ck_assert_uint_eq(l, strlen(sip_msg));
	ck_assert_int_eq(memcmp(v, sip_msg, l), 0);
	/* No room: nothing, never a cut packet. */
	ck_assert_uint_eq(cc_hep_encode(out, n - 1, &cfg, &m), 0);
}

START_TEST(record_pcapng_udp)
{
	record_roundtrip(CC_FMT_PCAPNG, IPPROTO_UDP);
}
END_TEST

START_TEST(record_pcap_tcp)
{
	record_roundtrip(CC_FMT_PCAP, IPPROTO_TCP);
}
END_TEST

START_TEST(record_ipv6)
{
	static uint8_t rec[4096], out[4096];
	struct cc_frame f = frame4(IPPROTO_UDP);
	size_t used, l;
	struct cc_hep_pkt k;

	f.src.family = f.dst.family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::1", f.src.ip);
	inet_pton(AF_INET6, "2001:db8::2", f.dst.ip);
	size_t rlen = make_record(CC_FMT_PCAPNG, rec, &f, 5, "SIP/2.0 200 OK\r\n\r\n", 18);
	ck_assert_int_eq(cc_hep_parse_record(CC_FMT_PCAPNG, rec, rlen, &used, &k), 1);
	struct cc_hep_cfg cfg = { 0 };
	struct cc_hep_msg m = { &k, CC_HEP_PT_SIP, k.payload, k.len, NULL, 0 };
	size_t n = cc_hep_encode(out, sizeof(out), &cfg, &m);
	const uint8_t *v = find_chunk(out, n, 1, &l);
	ck_assert_uint_eq(v[0], 10);
	ck_assert_ptr_nonnull(v = find_chunk(out, n, 5, &l));
	ck_assert_uint_eq(l, 16);
	ck_assert_int_eq(memcmp(v, f.src.ip, 16), 0);
	ck_assert_ptr_nonnull(find_chunk(out, n, 6, &l));
	ck_assert_ptr_null(find_chunk(out, n, 3, &l));
	ck_assert_ptr_null(find_chunk(out, n, 14, &l));
	ck_assert_ptr_null(find_chunk(out, n, 17, &l));

	/* IPv4-mapped on both ends: sent as IPv4. */
	inet_pton(AF_INET6, "::ffff:127.0.0.1", k.src.ip);
	inet_pton(AF_INET6, "::ffff:127.0.0.2", k.dst.ip);
	n = cc_hep_encode(out, sizeof(out), &cfg, &m);
	v = find_chunk(out, n, 1, &l);
	ck_assert_uint_eq(v[0], 2);
	ck_assert_ptr_nonnull(v = find_chunk(out, n, 4, &l));
	ck_assert_uint_eq(l, 4);
	ck_assert_uint_eq(v[3], 2);
	ck_assert_ptr_null(find_chunk(out, n, 5, &l));
}
END_TEST

/* A Decryption Secrets Block is skipped whole: secrets never become HEP packets. */
START_TEST(record_dsb_skipped)
{
	static uint8_t rec[256];
	const char keys[] = "CLIENT_RANDOM 00 11\n";
	size_t used;
	struct cc_hep_pkt k;

	cc_dsb_write(rec, keys, sizeof(keys) - 1);
	ck_assert_int_eq(cc_hep_parse_record(CC_FMT_PCAPNG, rec, cc_dsb_len(sizeof(keys) - 1), &used, &k), 0);
	ck_assert_uint_eq(used, cc_dsb_len(sizeof(keys) - 1));
	/* Garbage lengths are refused, not followed. */
	memset(rec, 0xff, 16);
	ck_assert_int_eq(cc_hep_parse_record(CC_FMT_PCAPNG, rec, 16, &used, &k), -1);
	ck_assert_uint_eq(used, 0);
}
END_TEST

START_TEST(sip_boundaries)
{
	const uint8_t *p = (const uint8_t *)sip_msg;
	size_t n = strlen(sip_msg);
	uint8_t two[1024];
	struct cc_bytes cid;

	ck_assert(cc_sip_is_start(p, n));
	ck_assert(cc_sip_is_start((const uint8_t *)"SIP/2.0 180 Ringing", 19));
	ck_assert(!cc_sip_is_start((const uint8_t *)"GET / HTTP/1.1", 14));
	ck_assert(!cc_sip_is_start((const uint8_t *)"\x16\x03\x01\x02\x00", 5));
	/* Every first piece of a start line may start one; nothing else does. */
	for (size_t i = 1; i <= n; i++)
		ck_assert(cc_sip_may_start(p, i));
	for (size_t i = 1; i <= 19; i++)
		ck_assert(cc_sip_may_start((const uint8_t *)"SIP/2.0 180 Ringing", i));
	ck_assert(!cc_sip_may_start((const uint8_t *)"G", 1));
	ck_assert(!cc_sip_may_start((const uint8_t *)"INVITEX", 7));
	ck_assert(!cc_sip_may_start((const uint8_t *)"SIP/3", 5));
	ck_assert(!cc_sip_may_start((const uint8_t *)"\x16\x03", 2));
	ck_assert(!cc_sip_may_start((const uint8_t *)"", 0));
	ck_assert_int_eq(cc_sip_msg_len(p, n), (long)n);
	/* Every cut before the end of the body: not yet. */
	for (size_t i = 16; i < n; i++)
		ck_assert_int_eq(cc_sip_msg_len(p, i), 0);
	memcpy(two, p, n);
	memcpy(two + n, p, n);
	ck_assert_int_eq(cc_sip_msg_len(two, 2 * n), (long)n);
	ck_assert_int_eq(cc_sip_msg_len((const uint8_t *)"HTTP/1.1 200 OK\r\n\r\n0123456789", 29), CC_EBAD);
	const char *badcl = "BYE sip:a SIP/2.0\r\nContent-Length: x1\r\n\r\n";
	ck_assert_int_eq(cc_sip_msg_len((const uint8_t *)badcl, strlen(badcl)), CC_EBAD);
	ck_assert_int_eq(cc_sip_call_id(p, n, &cid), CC_OK);
	ck_assert_uint_eq(cid.len, 16);
	ck_assert_int_eq(memcmp(cid.p, "call-42@10.0.0.1", 16), 0);
	const char *full = "SIP/2.0 200 OK\r\nCALL-ID:abc\r\n\r\n";
	ck_assert_int_eq(cc_sip_call_id((const uint8_t *)full, strlen(full), &cid), CC_OK);
	ck_assert_uint_eq(cid.len, 3);
	const char *none = "SIP/2.0 200 OK\r\nX-Call-ID: abc\r\n\r\n";
	ck_assert_int_eq(cc_sip_call_id((const uint8_t *)none, strlen(none), &cid), CC_EBAD);
}
END_TEST

START_TEST(sdp_media)
{
	const char *m = "SIP/2.0 200 OK\r\nCall-ID: x\r\nContent-Type: application/sdp\r\nContent-Length: 150\r\n\r\n"
			"v=0\r\no=- 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
			"m=audio 40000 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\n"
			"m=video 40010 RTP/AVP 96\r\nc=IN IP6 2001:db8::5\r\n";
	struct cc_sip_media out[4];
	uint8_t v4[4], v6[16];

	inet_pton(AF_INET, "192.0.2.1", v4);
	inet_pton(AF_INET6, "2001:db8::5", v6);
	ck_assert_int_eq(cc_sip_sdp_media((const uint8_t *)m, strlen(m), out, 4), 2);
	ck_assert_uint_eq(out[0].family, AF_INET);
	ck_assert_uint_eq(out[0].port, 40000);
	ck_assert_int_eq(memcmp(out[0].ip, v4, 4), 0);
	/* The rejected stream (port 0) is skipped; the media-level c= wins over the session's. */
	ck_assert_uint_eq(out[1].family, AF_INET6);
	ck_assert_uint_eq(out[1].port, 40010);
	ck_assert_int_eq(memcmp(out[1].ip, v6, 16), 0);
	ck_assert_int_eq(cc_sip_sdp_media((const uint8_t *)m, strlen(m), out, 1), 1);
	ck_assert_int_eq(cc_sip_sdp_media((const uint8_t *)sip_msg, strlen(sip_msg), out, 4), 0);
}
END_TEST

START_TEST(classes_and_rtcp)
{
	/* RFC 3550 SR with one report block. */
	static const uint8_t sr[] = {
		0x81, 200, 0x00, 0x0c, 0x11, 0x22, 0x33, 0x44, 0xe0, 0x00, 0x00, 0x01, 0x80, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x03, 0x20,
		0x55, 0x66, 0x77, 0x88, 0x40, 0x00, 0x00, 0x02, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x09,
		0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x08,
	};
	static const uint8_t rtp[] = { 0x80, 0x00, 0x00, 0x01, 0, 0, 0, 1, 0, 0, 0, 2, 0xff };
	char json[1024];

	ck_assert_uint_eq(cc_hep_classify_udp(sr, sizeof(sr), 40000, 40002), CC_HEP_RTCP);
	ck_assert_uint_eq(cc_hep_classify_udp(rtp, sizeof(rtp), 40000, 40002), CC_HEP_RTP);
	ck_assert_uint_eq(cc_hep_classify_udp((const uint8_t *)sip_msg, strlen(sip_msg), 5060, 5060), CC_HEP_SIP);
	ck_assert_uint_eq(cc_hep_classify_udp((const uint8_t *)"\x00\x01\x00\x00", 4, 40000, 40002), CC_HEP_OTHER);
	/* A DNS query whose id reads as RTP is not sent as RTP. */
	ck_assert_uint_eq(cc_hep_classify_udp(rtp, sizeof(rtp), 40000, 53), CC_HEP_OTHER);
	size_t n = cc_hep_rtcp_json(sr, sizeof(sr), json, sizeof(json));
	ck_assert_uint_gt(n, 0);
	ck_assert_uint_eq(strlen(json), n);
	ck_assert_ptr_nonnull(strstr(json, "\"ssrc\":287454020"));
	ck_assert_ptr_nonnull(strstr(json, "\"type\":200"));
	ck_assert_ptr_nonnull(strstr(json, "\"ntp_timestamp_sec\":3758096385"));
	ck_assert_ptr_nonnull(strstr(json, "\"ntp_timestamp_usec\":500000"));
	ck_assert_ptr_nonnull(strstr(json, "\"packets\":5,\"octets\":800"));
	ck_assert_ptr_nonnull(strstr(json, "\"source_ssrc\":1432778632,\"fraction_lost\":64,\"packets_lost\":2"));
	ck_assert_ptr_nonnull(strstr(json, "\"highest_seq_no\":256,\"ia_jitter\":9,\"lsr\":7,\"dlsr\":8}]"));
	ck_assert_uint_eq(cc_hep_rtcp_json(sr, sizeof(sr), json, 40), 0);
	ck_assert_uint_eq(cc_hep_rtcp_json(rtp, sizeof(rtp), json, sizeof(json)), 0);
}
END_TEST

/* RTCP without SIP: one correlation id per flow, whichever way the report went. */
START_TEST(flow_correlation_id)
{
	struct cc_addr a = { AF_INET6, 40002, { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 200, 0, 2 } };
	struct cc_addr b = { AF_INET, 5001, { 10, 200, 0, 1 } };
	struct cc_addr c = { AF_INET6, 7, { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 } };
	char x[128], y[128];

	ck_assert_uint_eq(cc_hep_flow_cid(&a, &b, x, sizeof(x)), strlen("rtcp-10.200.0.1:5001-10.200.0.2:40002"));
	ck_assert_str_eq(x, "rtcp-10.200.0.1:5001-10.200.0.2:40002");
	cc_hep_flow_cid(&b, &a, y, sizeof(y));
	ck_assert_str_eq(x, y);
	cc_hep_flow_cid(&c, &b, x, sizeof(x));
	ck_assert_str_eq(x, "rtcp-10.200.0.1:5001-[2001:db8::1]:7");
	ck_assert_uint_eq(cc_hep_flow_cid(&a, &b, x, 20), 0);
}
END_TEST

START_TEST(settings)
{
	struct cc_hep_cfg c;
	const char *why;
	unsigned m;
	char bad[64];

	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(cc_hep_parse_url("udp:127.0.0.1:9060", &c, &why), 0);
	ck_assert_uint_eq(c.family, AF_INET);
	ck_assert_uint_eq(c.port, 9060);
	ck_assert_int_eq(c.tcp, 0);
	ck_assert_int_eq(cc_hep_parse_url("tcp:[::1]:9061", &c, &why), 0);
	ck_assert_uint_eq(c.family, AF_INET6);
	ck_assert_int_eq(c.tcp, 1);
	ck_assert_uint_eq(c.addr[15], 1);
	ck_assert_int_eq(cc_hep_parse_url("udp:homer.example.org:9060", &c, &why), -1);
	ck_assert_int_eq(cc_hep_parse_url("tls:127.0.0.1:9060", &c, &why), -1);
	ck_assert_int_eq(cc_hep_parse_url("udp:127.0.0.1:70000", &c, &why), -1);
	ck_assert_int_eq(cc_hep_parse_url("udp:127.0.0.1", &c, &why), -1);
	ck_assert_int_eq(cc_hep_parse_classes("rtp", &m, bad, sizeof(bad)), 0);
	ck_assert_uint_eq(m, CC_HEP_RTP | CC_HEP_WIRE | CC_HEP_PLAIN | CC_HEP_RELAY);
	ck_assert_int_eq(cc_hep_parse_classes("plaintext", &m, bad, sizeof(bad)), 0);
	ck_assert_uint_eq(m, CC_HEP_SIP | CC_HEP_RTCP | CC_HEP_PLAIN);
	ck_assert_int_eq(cc_hep_parse_classes("sip,bogus", &m, bad, sizeof(bad)), -1);
	ck_assert_str_eq(bad, "bogus");

	setenv("CLEARCAP_FILE", "/tmp/x.pcapng", 1);
	setenv("CLEARCAP_HEP", "udp:127.0.0.1:9060", 1);
	setenv("CLEARCAP_HEP_ID", "2001", 1);
	setenv("CLEARCAP_HEP_NAME", "edge-1", 1);
	ck_assert_int_eq(cc_config_load("x", NULL), 0);
	ck_assert_int_eq(cc_cfg.hep.on, 1);
	ck_assert_uint_eq(cc_cfg.hep.id, 2001);
	ck_assert_str_eq(cc_cfg.hep.name, "edge-1");
	ck_assert_uint_eq(cc_cfg.hep.classes, CC_HEP_DEFAULT);
	setenv("CLEARCAP_HEP", "udp:localhost:9060", 1);
	ck_assert_int_eq(cc_config_load("x", NULL), -1);
	ck_assert_int_eq(cc_cfg.on, 0);
	unsetenv("CLEARCAP_HEP");
	ck_assert_int_eq(cc_config_load("x", NULL), 0);
	ck_assert_int_eq(cc_cfg.hep.on, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hep");
	TCase *tc = tcase_create("hep");

	tcase_add_test(tc, record_pcapng_udp);
	tcase_add_test(tc, record_pcap_tcp);
	tcase_add_test(tc, record_ipv6);
	tcase_add_test(tc, record_dsb_skipped);
	tcase_add_test(tc, sip_boundaries);
	tcase_add_test(tc, sdp_media);
	tcase_add_test(tc, classes_and_rtcp);
	tcase_add_test(tc, flow_correlation_id);
	tcase_add_test(tc, settings);
	suite_add_tcase(s, tc);
	return cc_run_suite(s);
}
