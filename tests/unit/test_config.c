/*
 * Unit tests for shim/config.c and shim/select.c: size parsing, program-name lists, the
 * environment contract, and capture classes.
 */
#include "shim/config.h"
#include "shim/select.h"
#include "pcapout/filter.h"
#include "tests/unit/check_main.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>

START_TEST(sizes)
{
	ck_assert_int_eq(cc_parse_size("1048576"), 1048576);
	ck_assert_int_eq(cc_parse_size("16M"), 16 << 20);
	ck_assert_int_eq(cc_parse_size("16MiB"), 16 << 20);
	ck_assert_int_eq(cc_parse_size("512k"), 512 << 10);
	ck_assert_int_eq(cc_parse_size("1G"), 1 << 30);
	ck_assert_int_eq(cc_parse_size(""), -1);
	ck_assert_int_eq(cc_parse_size("12Q"), -1);
	ck_assert_int_eq(cc_parse_size("-5"), -1);
	ck_assert_int_eq(cc_parse_size("99999999999999999999"), -1);
}
END_TEST

START_TEST(program_lists)
{
	ck_assert(cc_name_in_list("curl", "curl"));
	ck_assert(cc_name_in_list("python3,curl", "curl"));
	ck_assert(cc_name_in_list("python3*", "python3.11"));
	ck_assert(!cc_name_in_list("python3", "python3.11"));
	ck_assert(!cc_name_in_list("", "curl"));
	ck_assert(!cc_name_in_list(",,", "curl"));
	ck_assert(cc_name_in_list("a,,b", "b"));
}
END_TEST

START_TEST(environment)
{
	unsetenv("CLEARCAP_FILE");
	ck_assert_int_eq(cc_config_load("prog", NULL), 0);
	ck_assert_int_eq(cc_cfg.on, 0);

	setenv("CLEARCAP_FILE", "rel.pcapng", 1);
	setenv("CLEARCAP_FORMAT", "pcap", 1);
	setenv("CLEARCAP_BUFFER", "3M", 1);
	ck_assert_int_eq(cc_config_load("prog", NULL), 0);
	ck_assert_int_eq(cc_cfg.on, 1);
	ck_assert(cc_cfg.file[0] == '/');               /* made absolute */
	ck_assert_int_eq(cc_cfg.format, CC_FMT_PCAP);
	ck_assert_uint_eq(cc_cfg.buffer, 4u << 20);     /* rounded up to a power of two */

	setenv("CLEARCAP_FORMAT", "pcapngx", 1);
	ck_assert_int_eq(cc_config_load("prog", NULL), -1);
	ck_assert_int_eq(cc_cfg.on, 0);
	unsetenv("CLEARCAP_FORMAT");

	setenv("CLEARCAP_PROGRAMS", "other,curl", 1);
	ck_assert_int_eq(cc_config_load("prog", "prog-exe"), 0);
	ck_assert_int_eq(cc_cfg.on, 0);
	ck_assert_int_eq(cc_config_load("prog", "curl"), 0);
	ck_assert_int_eq(cc_cfg.on, 1);
	unsetenv("CLEARCAP_PROGRAMS");
	unsetenv("CLEARCAP_BUFFER");
	unsetenv("CLEARCAP_FILE");
}
END_TEST

START_TEST(class_lists)
{
	unsigned m;
	char bad[16];

	ck_assert_int_eq(cc_sel_parse("stun,dtls-handshake", &m, bad, sizeof(bad)), 0);
	ck_assert_uint_eq(m, CC_SEL_STUN | CC_SEL_DTLS_HS | CC_SEL_IFACES);   /* all interfaces */
	ck_assert_int_eq(cc_sel_parse("plaintext", &m, bad, sizeof(bad)), 0);
	ck_assert_uint_eq(m, CC_SEL_PLAIN | CC_SEL_CONTENT);                  /* all content */
	ck_assert_int_eq(cc_sel_parse("rtp,plaintext", &m, bad, sizeof(bad)), 0);
	ck_assert_uint_eq(m, CC_SEL_RTP | CC_SEL_PLAIN);
	ck_assert_int_eq(cc_sel_parse("dtls", &m, bad, sizeof(bad)), 0);
	ck_assert_uint_eq(m & CC_SEL_CONTENT, CC_SEL_DTLS_HS | CC_SEL_DTLS_APP);
	ck_assert_int_eq(cc_sel_parse("all", &m, bad, sizeof(bad)), 0);
	ck_assert_uint_eq(m, CC_SEL_ALL);
	ck_assert_int_eq(cc_sel_parse("rtp,srtp", &m, bad, sizeof(bad)), -1);
	ck_assert_str_eq(bad, "srtp");
	ck_assert_int_eq(cc_sel_parse("rtp,", &m, bad, sizeof(bad)), -1);      /* an empty word */
	ck_assert_str_eq(bad, "");
	ck_assert_int_eq(cc_sel_parse("RTP", &m, bad, sizeof(bad)), -1);
}
END_TEST

static unsigned classify_port(uint8_t proto, uint8_t iface, const uint8_t *p, size_t len, uint16_t dport)
{
	struct cc_frame f;
	struct iovec v = { (void *)p, len };

	memset(&f, 0, sizeof(f));
	f.proto = proto;
	f.iface = iface;
	f.src.port = 40000;
	f.dst.port = dport;
	return cc_sel_classify(&f, &v, 1, 0, len);
}

static unsigned classify(uint8_t proto, uint8_t iface, const uint8_t *p, size_t len)
{
	return classify_port(proto, iface, p, len, 40002);
}

START_TEST(classes)
{
	/* RFC 5769 section 2.1's request header: a Binding request with the magic cookie. */
	const uint8_t binding[20] = { 0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42 };
	const uint8_t allocate[20] = { 0x00, 0x03, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42 };
	const uint8_t alloc_err[20] = { 0x01, 0x13, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42 };
	const uint8_t no_cookie[20] = { 0x00, 0x01, 0x00, 0x00, 0x12, 0x34, 0x56, 0x78 };
	const uint8_t chan[8] = { 0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4 };
	const uint8_t chan5766[8] = { 0x72, 0x7d, 0x00, 0x04, 1, 2, 3, 4 };   /* coturn's channels */
	const uint8_t quic[8] = { 0x72, 0x7d, 0x00, 0x40, 1, 2, 3, 4 };       /* length does not fit */
	const uint8_t hello[13] = { 22, 0xfe, 0xfd };
	const uint8_t appdata[13] = { 23, 0xfe, 0xfd };
	const uint8_t rtp[12] = { 0x80, 0x60 };
	const uint8_t rtcp[8] = { 0x80, 200 };
	const uint8_t text[5] = "hello";

	ck_assert_uint_eq(classify(IPPROTO_UDP, CC_IF_WIRE, binding, 20), CC_SEL_WIRE | CC_SEL_STUN);
	ck_assert_uint_eq(classify(IPPROTO_UDP, CC_IF_WIRE, allocate, 20), CC_SEL_WIRE | CC_SEL_TURN);
	ck_assert_uint_eq(classify(IPPROTO_UDP, CC_IF_WIRE, alloc_err, 20), CC_SEL_WIRE | CC_SEL_TURN);
	ck_assert_uint_eq(classify(IPPROTO_UDP, CC_IF_WIRE, no_cookie, 20), CC_SEL_WIRE | CC_SEL_OTHER);
	ck_assert_uint_eq(classify(IPPROTO_UDP, CC_IF_WIRE, chan, 8), CC_SEL_WIRE | CC_SEL_TURN);
	ck_assert_uint_eq(classify(IPPROTO_UDP, CC_IF_WIRE, chan5766, 8), CC_SEL_WIRE | CC_SEL_TURN);
	ck_assert_uint_eq(classify(IPPROTO_UDP, CC_IF_WIRE, quic, 8), CC_SEL_WIRE | CC_SEL_OTHER);
	ck_assert_uint_eq(classify(IPPROTO_UDP, CC_IF_WIRE, hello, 13), CC_SEL_WIRE | CC_SEL_DTLS_HS);
	ck_assert_uint_eq(classify(IPPROTO_UDP, CC_IF_WIRE, appdata, 13), CC_SEL_WIRE | CC_SEL_DTLS_APP);
	ck_assert_uint_eq(classify(IPPROTO_UDP, CC_IF_WIRE, rtp, 12), CC_SEL_WIRE | CC_SEL_RTP);
	ck_assert_uint_eq(classify(IPPROTO_UDP, CC_IF_RELAY, rtcp, 8), CC_SEL_RELAY | CC_SEL_RTCP);
	ck_assert_uint_eq(classify(IPPROTO_UDP, CC_IF_WIRE, text, 5), CC_SEL_WIRE | CC_SEL_OTHER);
	ck_assert_uint_eq(classify(IPPROTO_UDP, CC_IF_WIRE, text, 0), CC_SEL_WIRE | CC_SEL_OTHER);
	/* Plaintext: RTP from libsrtp, anything else a DTLS application's data. */
	ck_assert_uint_eq(classify(IPPROTO_UDP, CC_IF_PLAINTEXT, rtp, 12), CC_SEL_PLAIN | CC_SEL_RTP);
	ck_assert_uint_eq(classify(IPPROTO_UDP, CC_IF_PLAINTEXT, text, 5), CC_SEL_PLAIN | CC_SEL_DTLS_APP);
	ck_assert_uint_eq(classify(IPPROTO_SCTP, CC_IF_PLAINTEXT, text, 5),
			  CC_SEL_PLAIN | CC_SEL_SCTP | CC_SEL_DTLS_APP);
	ck_assert_uint_eq(classify(IPPROTO_TCP, CC_IF_WIRE, hello, 13), CC_SEL_WIRE | CC_SEL_TCP);
}
END_TEST

/*
 * cc_sel_udp_byte_classes(b) holds every class cc_sel_classify() gives a wire UDP datagram
 * starting with b: all lengths up to 64 with random bytes, and the shapes that pick a class by
 * what follows (STUN's cookie and methods, RTCP's packet types, TURN's channel lengths, SIP);
 * and to a service's port (DNS), every one that can be.
 */
START_TEST(classes_by_first_byte)
{
	static const char *sip[] = { "INVITE sip:a@b SIP/2.0\r\n", "SIP/2.0 200 OK\r\n", "OPTIONS sip:x SIP/2.0\r\n" };
	unsigned seed = 7;
	uint8_t p[64];

	for (unsigned sb = 0; sb < 512; sb++) {
		unsigned b = sb & 255, service = sb >> 8;
		unsigned all = cc_sel_udp_byte_classes((uint8_t)b, (int)service), seen = 0;
		for (int i = 0; i < 400; i++) {
			size_t len = 1 + (size_t)(rand_r(&seed) % 64);
			for (size_t k = 0; k < len; k++)
				p[k] = (uint8_t)rand_r(&seed);
			switch (i % 8) {
			case 1:         /* a STUN header with the cookie: TURN and STUN methods */
				if (len >= 8)
					memcpy(p + 4, "\x21\x12\xa4\x42", 4);
				p[1] = (uint8_t)(i / 8 % 16);
				break;
			case 2:         /* RTCP's packet types */
				p[1 % len] = (uint8_t)(192 + i / 8 % 32);
				break;
			case 3:         /* a length that fits, for channels 0x5000-0x7FFF */
				if (len >= 4) {
					p[2] = 0;
					p[3] = (uint8_t)(len - 4 - i / 8 % 4);
				}
				break;
			case 4:         /* a SIP start line */
				len = strlen(sip[i / 8 % 3]);
				memcpy(p, sip[i / 8 % 3], len);
				break;
			}
			p[0] = (uint8_t)b;
			unsigned c = classify_port(IPPROTO_UDP, CC_IF_WIRE, p, len, service ? 53 : 40002) & CC_SEL_CONTENT;
			ck_assert_msg((c & ~all) == 0, "byte %u: class %#x not in %#x", b, c, all);
			seen |= c;
		}
		/* And the function says no more than can happen, for the bytes with one class. */
		if ((b >= 20 && b <= 79 && !service) || (service && (b < 'A' || b > 'Z')))
			ck_assert_uint_eq(seen, all);
	}
}
END_TEST

START_TEST(classes_sip)
{
	/* RFC 3261 section 7: a start line makes a UDP datagram or a TCP segment SIP. */
	const uint8_t invite[] = "INVITE sip:bob@192.0.2.4 SIP/2.0\r\nCSeq: 1 INVITE\r\n\r\n";
	const uint8_t ok[] = "SIP/2.0 200 OK\r\n\r\n";
	const uint8_t http[] = "GET / HTTP/1.1\r\n\r\n";
	struct iovec v = { (void *)http, sizeof http - 1 };
	struct cc_frame f;

	ck_assert_uint_eq(classify(IPPROTO_UDP, CC_IF_WIRE, invite, sizeof invite - 1), CC_SEL_WIRE | CC_SEL_SIP);
	ck_assert_uint_eq(classify(IPPROTO_UDP, CC_IF_WIRE, ok, sizeof ok - 1), CC_SEL_WIRE | CC_SEL_SIP);
	/* Only the first 64 bytes are looked at: the URI scheme decides. */
	ck_assert_uint_eq(classify(IPPROTO_UDP, CC_IF_WIRE, invite, 12), CC_SEL_WIRE | CC_SEL_SIP);
	ck_assert_uint_eq(classify(IPPROTO_TCP, CC_IF_WIRE, invite, sizeof invite - 1),
			  CC_SEL_WIRE | CC_SEL_TCP | CC_SEL_SIP);
	ck_assert_uint_eq(classify(IPPROTO_TCP, CC_IF_PLAINTEXT, ok, sizeof ok - 1),
			  CC_SEL_PLAIN | CC_SEL_TCP | CC_SEL_SIP);
	ck_assert_uint_eq(classify(IPPROTO_TCP, CC_IF_WIRE, http, sizeof http - 1), CC_SEL_WIRE | CC_SEL_TCP);
	/* RFC 3261 section 19.1.2: every segment on 5060/5061 (the handshake, TLS records, the rest of a
	 * message) is SIP's, so a selection of sip keeps whole streams. */
	memset(&f, 0, sizeof f);
	f.proto = IPPROTO_TCP;
	f.iface = CC_IF_WIRE;
	f.dst.port = 5061;
	ck_assert_uint_eq(cc_sel_classify(&f, &v, 1, 0, sizeof http - 1), CC_SEL_WIRE | CC_SEL_TCP | CC_SEL_SIP);
	f.dst.port = 443;
	f.src.port = 5060;
	ck_assert_uint_eq(cc_sel_classify(&f, &v, 1, 0, 0), CC_SEL_WIRE | CC_SEL_TCP | CC_SEL_SIP);
}
END_TEST

/*
 * The filter decided on a frame's first bytes (pcapout/filter.c) agrees with libpcap on the whole
 * frame, or says it cannot tell: never a different answer.
 */
START_TEST(filter_prefix)
{
	static const char *const exprs[] = {
		"udp port 3478", "ifindex 2", "outbound", "inbound and udp", "udp[8] & 0xc0 = 0x80",
		"udp[6:2] = 0", "greater 100", "less 60", "ip6", "tcp[13] & 2 != 0", "udp[100] = 1",
		"host 127.0.0.1 and not port 9", "len > 70 and udp[8:4] = 0x80000001",
	};
	char err[256];
	uint8_t payload[200], frame[400], buf[400];

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 37 + 0x80);
	for (size_t e = 0; e < sizeof(exprs) / sizeof(exprs[0]); e++) {
		ck_assert_msg(cc_filter_compile(exprs[e], err, sizeof(err)) == 0, "%s: %s", exprs[e], err);
		for (int v = 0; v < 4; v++) {
			struct cc_frame f;
			memset(&f, 0, sizeof(f));
			f.proto = v == 3 ? IPPROTO_TCP : IPPROTO_UDP;
			f.iface = 1 + v % 2;
			f.outgoing = v & 1;
			f.src.family = f.dst.family = v == 2 ? AF_INET6 : AF_INET;
			f.src.ip[0] = f.dst.ip[0] = 127;
			f.src.ip[3] = f.dst.ip[3] = 1;
			f.src.port = 3478;
			f.dst.port = 9;
			f.ttl = 64;
			for (size_t len = 0; len <= sizeof(payload); len += 50) {
				struct iovec iov = { payload, len };
				size_t hl = cc_frame_hdr_len(&f), n = len < 64 ? len : 64;
				size_t all = cc_frame_build(frame, &f, &iov, 1, 0, len, len);
				int want = cc_filter_match(frame, all, all);
				size_t hole = f.proto == IPPROTO_UDP ? hl - 2 : hl - 4;
				cc_frame_build(buf, &f, &iov, 1, 0, n, len);
				int got = cc_filter_decide(buf, hl + n, hl + len, n < len ? hole : 0, n < len ? hole + 2 : 0, n == len);
				ck_assert_msg(got == -1 || got == want, "%s, frame %d, %zu bytes: %d, libpcap %d", exprs[e], v, len,
					      got, want);
			}
		}
	}
	/* Header filters, and payload tests within the prefix, are settled by it: no frame built. */
	static const char *const settled[] = { "udp port 3478", "ifindex 2", "outbound", "udp[8] & 0xc0 = 0x80" };
	for (size_t e = 0; e < sizeof(settled) / sizeof(settled[0]); e++) {
		struct cc_frame f;
		struct iovec iov = { payload, sizeof(payload) };
		memset(&f, 0, sizeof(f));
		f.proto = IPPROTO_UDP;
		f.iface = 2;
		f.src.family = f.dst.family = AF_INET;
		f.dst.port = 3478;
		size_t hl = cc_frame_hdr_len(&f);
		ck_assert_int_eq(cc_filter_compile(settled[e], err, sizeof(err)), 0);
		cc_frame_build(buf, &f, &iov, 1, 0, 64, sizeof(payload));
		ck_assert_msg(cc_filter_decide(buf, hl + 64, hl + sizeof(payload), hl - 2, hl, 0) >= 0, "%s", settled[e]);
	}
}
END_TEST

/*
 * The verdict on a UDP flow's headers (cc_filter_flow_verdict), which the fast path keeps per
 * thread, is libpcap's on every datagram of that flow -- any length, any payload -- or -1.
 */
START_TEST(filter_flow_verdict)
{
	static const struct {
		const char *expr;
		int settled;    /* answered from the headers alone */
	} exprs[] = {
		{ "udp port 3478", 1 }, { "ifindex 2", 1 }, { "outbound", 1 }, { "inbound and udp", 1 }, { "ip6", 1 },
		{ "host 127.0.0.1 and not port 9", 1 }, { "udp and ip[8] = 64", 1 }, { "ip[1] & 0xfc = 0xb8", 1 },
		{ "udp[8] & 0xc0 = 0x80", 0 }, { "udp[6:2] = 0", 0 }, { "greater 100", 0 }, { "less 60", 0 },
		{ "udp[4:2] > 60", 0 }, { "ip[2:2] > 100", 0 }, { "ip[10:2] != 0", 0 }, { "ip6[4:2] > 100", 0 },
		{ "len > 70 and udp[8:4] = 0x80000001", 0 }, { "udp[100] = 1", 0 },
	};
	char err[256];
	uint8_t payload[300], frame[400], hdr[100];

	for (size_t e = 0; e < sizeof(exprs) / sizeof(exprs[0]); e++) {
		ck_assert_msg(cc_filter_compile(exprs[e].expr, err, sizeof(err)) == 0, "%s: %s", exprs[e].expr, err);
		for (int v = 0; v < 8; v++) {
			struct cc_frame f;
			memset(&f, 0, sizeof(f));
			f.proto = IPPROTO_UDP;
			f.iface = 1 + v % 2;
			f.outgoing = v >> 1 & 1;
			f.src.family = f.dst.family = v & 4 ? AF_INET6 : AF_INET;
			f.src.ip[0] = f.dst.ip[0] = 127;
			f.src.ip[3] = f.dst.ip[3] = 1;
			f.src.port = 3478;
			f.dst.port = v == 3 ? 9 : 5000;
			f.ttl = v & 1 ? 64 : 1;
			f.tos = v & 2 ? 0xb8 : 0;
			f.pid = 4242;
			size_t hl = cc_frame_build(hdr, &f, NULL, 0, 0, 0, 0);
			int got = cc_filter_flow_verdict(hdr, hl);
			ck_assert_msg(!exprs[e].settled || got >= 0, "%s, headers %d: not settled", exprs[e].expr, v);
			for (size_t len = 0; len <= sizeof(payload); len += 7) {
				for (size_t i = 0; i < len; i++)
					payload[i] = (uint8_t)(i * 37 + len + 0x80);
				struct iovec iov = { payload, len };
				size_t all = cc_frame_build(frame, &f, &iov, 1, 0, len, len);
				int want = cc_filter_match(frame, all, all);
				ck_assert_msg(got == -1 || got == want, "%s, headers %d, %zu bytes: %d, libpcap %d",
					      exprs[e].expr, v, len, got, want);
			}
		}
	}
}
END_TEST

START_TEST(bad_filter_and_classes)
{
	setenv("CLEARCAP_FILE", "/tmp/never-written.pcapng", 1);
	setenv("CLEARCAP_CAPTURE", "stun,bogus", 1);
	ck_assert_int_eq(cc_config_load("prog", NULL), -1);
	ck_assert_int_eq(cc_cfg.on, 0);
	setenv("CLEARCAP_CAPTURE", "stun", 1);
	ck_assert_int_eq(cc_config_load("prog", NULL), 0);
	ck_assert_uint_eq(cc_sel, CC_SEL_STUN | CC_SEL_IFACES);
	unsetenv("CLEARCAP_CAPTURE");
	ck_assert_int_eq(cc_config_load("prog", NULL), 0);
	ck_assert_uint_eq(cc_sel, CC_SEL_ALL);
	setenv("CLEARCAP_FILTER", "udp prot 1", 1);
	ck_assert_int_eq(cc_config_load("prog", NULL), -1);
	ck_assert_int_eq(cc_cfg.on, 0);
	unsetenv("CLEARCAP_FILTER");
	unsetenv("CLEARCAP_FILE");
}
END_TEST

START_TEST(daily)
{
	/* CLEARCAP_CTL=1 alone: the shim on, capture off until `clearcap ctl PID reopen FILE`. */
	unsetenv("CLEARCAP_FILE");
	setenv("CLEARCAP_CTL", "1", 1);
	ck_assert_int_eq(cc_config_load("prog", NULL), 0);
	ck_assert_int_eq(cc_cfg.on, 1);
	ck_assert_int_eq(cc_cfg.started_paused, 1);
	ck_assert_int_eq(cc_cfg.ctl, 1);
	ck_assert_str_eq(cc_cfg.file, "");
	setenv("CLEARCAP_CTL", "0", 1);
	ck_assert_int_eq(cc_config_load("prog", NULL), 0);
	ck_assert_int_eq(cc_cfg.on, 0);
	/* Anything but 0 and 1 is refused, with or without a file (it was taken as 1, or nothing). */
	setenv("CLEARCAP_CTL", "yes", 1);
	ck_assert_int_eq(cc_config_load("prog", NULL), -1);
	ck_assert_int_eq(cc_cfg.on, 0);
	setenv("CLEARCAP_FILE", "/tmp/x.pcapng", 1);
	setenv("CLEARCAP_CTL", " 1", 1);
	ck_assert_int_eq(cc_config_load("prog", NULL), -1);
	ck_assert_int_eq(cc_cfg.on, 0);
	unsetenv("CLEARCAP_FILE");
	setenv("CLEARCAP_CTL", "0", 1);

	setenv("CLEARCAP_FILE", "/tmp/x.pcapng", 1);
	ck_assert_int_eq(cc_config_load("prog", NULL), 0);
	ck_assert_int_eq(cc_cfg.ctl, 0);                /* CLEARCAP_CTL=0: no control page */
	unsetenv("CLEARCAP_CTL");
	setenv("CLEARCAP_ROTATE_SIZE", "2M", 1);
	setenv("CLEARCAP_ROTATE_SECONDS", "60", 1);
	setenv("CLEARCAP_ROTATE_FILES", "5", 1);
	setenv("CLEARCAP_PIPE_HEADER", "done", 1);
	ck_assert_int_eq(cc_config_load("prog", NULL), 0);
	ck_assert_int_eq(cc_cfg.rotate_size, 2 << 20);
	ck_assert_int_eq(cc_cfg.rotate_seconds, 60);
	ck_assert_int_eq(cc_cfg.rotate_files, 5);
	ck_assert_int_eq(cc_cfg.pipe_header_done, 1);
	ck_assert_int_eq(cc_cfg.ctl, 1);
	setenv("CLEARCAP_ROTATE_SIZE", "100", 1);       /* below one record's worth */
	ck_assert_int_eq(cc_config_load("prog", NULL), -1);
	ck_assert_int_eq(cc_cfg.on, 0);
	setenv("CLEARCAP_ROTATE_SIZE", "1000000", 1);
	setenv("CLEARCAP_ROTATE_FILES", "0", 1);
	ck_assert_int_eq(cc_config_load("prog", NULL), -1);
	setenv("CLEARCAP_ROTATE_FILES", "3x", 1);
	ck_assert_int_eq(cc_config_load("prog", NULL), -1);
	unsetenv("CLEARCAP_ROTATE_SIZE");
	unsetenv("CLEARCAP_ROTATE_SECONDS");
	unsetenv("CLEARCAP_ROTATE_FILES");
	unsetenv("CLEARCAP_PIPE_HEADER");
	unsetenv("CLEARCAP_FILE");
}
END_TEST

/* cc_config_load's result, with its one line on stderr caught into said. */
static int load_saying(char *said, size_t len)
{
	FILE *f = tmpfile();
	int saved = dup(2), rc;
	size_t n;

	ck_assert(f != NULL && saved >= 0);
	fflush(stderr);
	dup2(fileno(f), 2);
	rc = cc_config_load("prog", NULL);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(f);
	n = fread(said, 1, len - 1, f);
	said[n] = 0;
	fclose(f);
	return rc;
}

/* Settings that would be ignored without a word are refused instead, each in one line. */
START_TEST(ignored_settings)
{
	char said[1024];

	setenv("CLEARCAP_FILE", "/tmp/never-written.pcapng", 1);
	setenv("CLEARCAP_ROTATE_FILES", "5", 1);
	ck_assert_int_eq(load_saying(said, sizeof(said)), -1);
	ck_assert_int_eq(cc_cfg.on, 0);
	ck_assert_ptr_nonnull(strstr(said, "CLEARCAP_ROTATE_FILES=5: needs CLEARCAP_ROTATE_SIZE or CLEARCAP_ROTATE_SECONDS"));
	setenv("CLEARCAP_ROTATE_SECONDS", "60", 1);
	ck_assert_int_eq(cc_config_load("prog", NULL), 0);
	unsetenv("CLEARCAP_ROTATE_SECONDS");
	setenv("CLEARCAP_ROTATE_SIZE", "1M", 1);
	ck_assert_int_eq(cc_config_load("prog", NULL), 0);
	unsetenv("CLEARCAP_ROTATE_SIZE");
	unsetenv("CLEARCAP_ROTATE_FILES");

	for (const char *const *v = (const char *const[]){ ",,", ",", NULL }; *v; v++) {
		setenv("CLEARCAP_PROGRAMS", *v, 1);
		ck_assert_int_eq(load_saying(said, sizeof(said)), -1);
		ck_assert_ptr_nonnull(strstr(said, "names no program"));
	}
	setenv("CLEARCAP_PROGRAMS", "prog,,other", 1);
	ck_assert_int_eq(cc_config_load("prog", NULL), 0);
	ck_assert_int_eq(cc_cfg.on, 1);
	unsetenv("CLEARCAP_PROGRAMS");
	unsetenv("CLEARCAP_FILE");
}
END_TEST

/* A refused number names its range; a refused size, the suffixes it may have. */
START_TEST(messages_name_the_rule)
{
	static const struct { const char *var, *val, *says; } cases[] = {
		{ "CLEARCAP_ROTATE_SECONDS", "0", "CLEARCAP_ROTATE_SECONDS=0: expected a whole number from 1 to 100000000" },
		{ "CLEARCAP_ROTATE_FILES", "1000001", "expected a whole number from 1 to 1000000" },
		{ "CLEARCAP_ROTATE_SIZE", "1T", "CLEARCAP_ROTATE_SIZE=1T: expected a size of at least 4096 bytes: digits, "
		  "optionally followed by K, M or G" },
		{ "CLEARCAP_HEP_ID", "x", "CLEARCAP_HEP_ID=x: expected a whole number from 0 to 4294967295" },
	};
	char said[1024];

	setenv("CLEARCAP_FILE", "/tmp/never-written.pcapng", 1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(cases[i].var, "CLEARCAP_HEP_ID") == 0)
			setenv("CLEARCAP_HEP", "udp:127.0.0.1:9060", 1);
		if (strcmp(cases[i].var, "CLEARCAP_ROTATE_FILES") == 0)
			setenv("CLEARCAP_ROTATE_SECONDS", "60", 1);
		setenv(cases[i].var, cases[i].val, 1);
		ck_assert_int_eq(load_saying(said, sizeof(said)), -1);
		ck_assert_msg(strstr(said, cases[i].says) != NULL, "%s=%s said: %s", cases[i].var, cases[i].val, said);
		unsetenv(cases[i].var);
		unsetenv("CLEARCAP_HEP");
		unsetenv("CLEARCAP_ROTATE_SECONDS");
	}
	unsetenv("CLEARCAP_FILE");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config");
	TCase *t = tcase_create("env");

	tcase_add_test(t, sizes);
	tcase_add_test(t, program_lists);
	tcase_add_test(t, environment);
	tcase_add_test(t, class_lists);
	tcase_add_test(t, classes);
	tcase_add_test(t, classes_sip);
	tcase_add_test(t, classes_by_first_byte);
	tcase_add_test(t, bad_filter_and_classes);
	tcase_add_test(t, filter_prefix);
	tcase_add_test(t, filter_flow_verdict);
	tcase_add_test(t, daily);
	tcase_add_test(t, ignored_settings);
	tcase_add_test(t, messages_name_the_rule);
	suite_add_tcase(s, t);
	return cc_run_suite(s);
}
