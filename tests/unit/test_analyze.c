/*
 * Unit tests for tools/rtpstats.c and tools/analyze.c: RFC 3550 A.1 sequence validation, A.3
 * loss and A.8 jitter against values worked out by hand, G.711 expansion, and the engine fed
 * hand-made packets (STUN transaction and RTT, DTMF events, hostile frames).
 */
#include "tests/unit/check_main.h"

#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "decoders/cursor.h"
#include "tools/analyze.h"
#include "tools/capread.h"
#include "tools/pktparse.h"
#include "tools/rtpstats.h"

static void feed(struct cc_rtpseq *s, const uint16_t *seqs, size_t n)
{
	cc_rtpseq_first(s, seqs[0]);
	for (size_t i = 0; i < n; i++)
		cc_rtpseq_update(s, seqs[i]);
}

START_TEST(seq_gap)
{
	/* 100 and 101 pass probation; base is 101 (A.1 init_seq at the second packet). */
	static const uint16_t seqs[] = { 100, 101, 102, 104, 105 };
	struct cc_rtpseq s;

	feed(&s, seqs, 5);
	ck_assert(s.valid);
	ck_assert_uint_eq(s.base_seq, 101);
	ck_assert_uint_eq(s.received, 4);
	ck_assert_uint_eq(cc_rtpseq_ext_max(&s), 105);
	ck_assert_int_eq(cc_rtpseq_expected(&s), 5);
	ck_assert_int_eq(cc_rtpseq_lost(&s), 1);
}
END_TEST

START_TEST(seq_duplicate_negative_loss)
{
	static const uint16_t seqs[] = { 10, 11, 12, 12, 13 };
	struct cc_rtpseq s;

	feed(&s, seqs, 5);
	ck_assert_uint_eq(s.duplicates, 1);
	ck_assert_int_eq(cc_rtpseq_expected(&s), 3);
	/* A.3: duplicates count as received, so loss goes negative. */
	ck_assert_int_eq(cc_rtpseq_lost(&s), -1);
}
END_TEST

START_TEST(seq_reorder)
{
	static const uint16_t seqs[] = { 10, 11, 13, 12, 14, 12 };
	struct cc_rtpseq s;

	feed(&s, seqs, 6);
	ck_assert_uint_eq(s.reordered, 1);
	ck_assert_uint_eq(s.duplicates, 1);	/* the second 12 */
	ck_assert_int_eq(cc_rtpseq_expected(&s), 4);
	ck_assert_int_eq(cc_rtpseq_lost(&s), -1);
}
END_TEST

START_TEST(seq_wrap)
{
	static const uint16_t seqs[] = { 65534, 65535, 0, 1 };
	struct cc_rtpseq s;

	feed(&s, seqs, 4);
	ck_assert_uint_eq(s.cycles, 65536);
	ck_assert_uint_eq(cc_rtpseq_ext_max(&s), 65537);
	ck_assert_int_eq(cc_rtpseq_expected(&s), 3);
	ck_assert_int_eq(cc_rtpseq_lost(&s), 0);
}
END_TEST

START_TEST(seq_probation_and_restart)
{
	struct cc_rtpseq s;

	/* 10 then 12: probation starts over at 12; 13 makes the source valid with base 13. */
	cc_rtpseq_first(&s, 10);
	ck_assert_int_eq(cc_rtpseq_update(&s, 10), 0);
	ck_assert_int_eq(cc_rtpseq_update(&s, 12), 0);
	ck_assert(!s.valid);
	ck_assert_int_eq(cc_rtpseq_expected(&s), 0);
	ck_assert_int_eq(cc_rtpseq_update(&s, 13), 1);
	ck_assert(s.valid);
	ck_assert_uint_eq(s.base_seq, 13);
	ck_assert_int_eq(cc_rtpseq_update(&s, 14), 1);
	/* A jump of 10000: dropped once, accepted with the next sequential one as a restart. */
	ck_assert_int_eq(cc_rtpseq_update(&s, 10014), 0);
	ck_assert_int_eq(cc_rtpseq_update(&s, 10015), 1);
	ck_assert_uint_eq(s.restarts, 1);
	ck_assert_uint_eq(s.base_seq, 10015);
	ck_assert_int_eq(cc_rtpseq_lost(&s), 0);
}
END_TEST

START_TEST(jitter_by_hand)
{
	struct cc_jitter j;

	cc_jitter_init(&j, 8000);
	/* 20 ms packets (160 samples): constant transit, no jitter. */
	cc_jitter_update(&j, 1000000000ull, 0);
	cc_jitter_update(&j, 1020000000ull, 160);
	cc_jitter_update(&j, 1040000000ull, 320);
	ck_assert(j.jitter == 0.0);
	/* 10 ms late: D = 80 units, J = 80/16 = 5. */
	cc_jitter_update(&j, 1070000000ull, 480);
	ck_assert_double_eq_tol(j.jitter, 5.0, 1e-9);
	/* Back on time: D = 80 again, J = 5 + (80 - 5)/16 = 9.6875 = 1.2109375 ms. */
	cc_jitter_update(&j, 1080000000ull, 640);
	ck_assert_double_eq_tol(j.jitter, 9.6875, 1e-9);
	ck_assert_double_eq_tol(cc_jitter_ms(&j), 1.2109375, 1e-9);
	ck_assert_double_eq_tol(j.max_jitter, 9.6875, 1e-9);
}
END_TEST

START_TEST(clocks_and_g711)
{
	ck_assert_uint_eq(cc_rtp_static_clock(0), 8000);
	ck_assert_uint_eq(cc_rtp_static_clock(9), 8000);
	ck_assert_uint_eq(cc_rtp_static_clock(10), 44100);
	ck_assert_uint_eq(cc_rtp_static_clock(26), 90000);
	ck_assert_uint_eq(cc_rtp_static_clock(96), 0);
	ck_assert_uint_eq(cc_rtp_snap_clock(47900), 48000);
	ck_assert_uint_eq(cc_rtp_snap_clock(8100), 8000);
	ck_assert_uint_eq(cc_rtp_snap_clock(88000), 90000);
	ck_assert_uint_eq(cc_rtp_snap_clock(0), 90000);
	ck_assert_int_eq(cc_ulaw_to_linear(0xff), 0);
	ck_assert_int_eq(cc_ulaw_to_linear(0x00), -32124);
	ck_assert_int_eq(cc_ulaw_to_linear(0x80), 32124);
	ck_assert_int_eq(cc_alaw_to_linear(0xd5), 8);
	ck_assert_int_eq(cc_alaw_to_linear(0x55), -8);
	ck_assert_int_eq(cc_alaw_to_linear(0xaa), 32256);
	ck_assert_int_eq(cc_alaw_to_linear(0x2a), -32256);
}
END_TEST

/* A UDP packet between 10.0.0.1:5000 and 10.0.0.2:6000 (reversed with back). */
static struct cc_pkt udp(const uint8_t *payload, size_t len, int back)
{
	struct cc_pkt p;

	memset(&p, 0, sizeof p);
	p.proto = IPPROTO_UDP;
	p.ifindex = 1;
	p.dir = back ? CC_DIR_IN : CC_DIR_OUT;
	p.src.family = p.dst.family = 4;
	memcpy(back ? p.dst.ip : p.src.ip, "\x0a\x00\x00\x01", 4);
	memcpy(back ? p.src.ip : p.dst.ip, "\x0a\x00\x00\x02", 4);
	p.src.port = back ? 6000 : 5000;
	p.dst.port = back ? 5000 : 6000;
	p.payload = payload;
	p.payload_len = len;
	return p;
}

/*
 * Never silent (tools/noplain.c): a TLS flow with application data and no plaintext copy takes
 * its process's note, a second flow of that process too; a flow whose plaintext is in the file
 * (IPv4-mapped, as clearcap may write it) has no reason; without any clearcap process, the
 * reason says so.
 */
START_TEST(no_plaintext_reasons)
{
	static const char note[] = "process node 77; encrypted: TLS, and no TLS library clearcap hooks has a "
				   "session in this process: no plaintext (OpenSSL built into the program?)";
	const uint8_t hello[] = { 22, 3, 1, 0, 5, 1, 0, 0, 1, 0 }, app[] = { 23, 3, 3, 0, 2, 9, 9 };
	struct cc_an *a = cc_an_new();
	struct cc_pkt p;

	ck_assert_ptr_nonnull(a);
	for (int flow = 0; flow < 3; flow++) {
		p = udp(hello, sizeof hello, 0);
		p.proto = IPPROTO_TCP;
		p.pid = flow == 2 ? 0 : 77;
		p.src.port = (uint16_t)(5000 + flow);
		a->comment = flow == 0 ? note : NULL;
		a->comment_len = flow == 0 ? strlen(note) : 0;
		cc_an_packet(a, 1000, &p, sizeof hello);
		a->comment = NULL;
		a->comment_len = 0;
		p.payload = app;
		p.payload_len = sizeof app;
		cc_an_packet(a, 2000, &p, sizeof app);
	}
	/* Flow 1's plaintext, on the IPv4-mapped addresses. */
	p = udp(app + 5, 2, 0);
	p.proto = IPPROTO_TCP;
	p.ifindex = 2;
	p.src.port = 5001;
	p.src.family = p.dst.family = 6;
	memcpy(p.src.ip, "\0\0\0\0\0\0\0\0\0\0\xff\xff\x0a\x00\x00\x01", 16);
	memcpy(p.dst.ip, "\0\0\0\0\0\0\0\0\0\0\xff\xff\x0a\x00\x00\x02", 16);
	cc_an_packet(a, 2500, &p, 2);
	cc_an_finish(a);
	ck_assert_uint_eq(a->nflows, 4);
	ck_assert_ptr_nonnull(a->flows[0].noplain);
	ck_assert_str_eq(a->flows[0].noplain, note + strlen("process node 77; "));
	ck_assert_uint_eq(a->flows[0].kind[0][CC_K_TLS], 2);
	ck_assert_ptr_null(a->flows[1].noplain);
	ck_assert_ptr_nonnull(a->flows[2].noplain);
	ck_assert_ptr_nonnull(strstr(a->flows[2].noplain, "not captured by clearcap"));
	ck_assert_ptr_null(a->flows[3].noplain);
	cc_an_free(a);
}
END_TEST

/* SIP: a message both ends captured is listed once; a TCP segment may hold two messages. */
START_TEST(sip_dialogs)
{
	static const char inv[] = "INVITE sip:b@10.0.0.2 SIP/2.0\r\nCall-ID: c1@x\r\nCSeq: 1 INVITE\r\n"
				  "Content-Length: 0\r\n\r\n";
	static const char ok[] = "SIP/2.0 200 OK\r\ni: c1@x\r\nCSeq: 1 INVITE\r\nl: 3\r\n\r\nv=0"
				 "BYE sip:b@10.0.0.2 SIP/2.0\r\nCall-ID: c1@x\r\nCSeq: 2 BYE\r\nl: 0\r\n\r\n";
	struct cc_an *a = cc_an_new();
	struct cc_pkt p;

	ck_assert_ptr_nonnull(a);
	p = udp((const uint8_t *)inv, sizeof inv - 1, 0);
	cc_an_packet(a, 2000, &p, 100);			/* sent */
	p.dir = CC_DIR_IN;
	cc_an_packet(a, 1000, &p, 100);			/* the receiver's copy, written earlier */
	p.dir = CC_DIR_OUT;
	cc_an_packet(a, 3000000000ull, &p, 100);	/* a retransmission: listed again */
	p = udp((const uint8_t *)ok, sizeof ok - 1, 1);
	p.proto = IPPROTO_TCP;
	cc_an_packet(a, 3100000000ull, &p, 200);	/* 200 and BYE in one segment */
	cc_an_finish(a);
	ck_assert_uint_eq(a->nsip, 1);
	ck_assert_str_eq(a->sip[0].call_id, "c1@x");
	ck_assert_uint_eq(a->sip[0].nev, 4);
	ck_assert_uint_eq(a->sip[0].requests, 3);
	ck_assert_uint_eq(a->sip[0].responses, 1);
	ck_assert_str_eq(a->sip[0].ev[0].method, "INVITE");
	ck_assert_uint_eq(a->sip[0].ev[0].t_ns, 1000);
	ck_assert(a->sip[0].ev[0].both);
	ck_assert(!a->sip[0].ev[1].both);
	ck_assert_uint_eq(a->sip[0].ev[2].status, 200);
	ck_assert_str_eq(a->sip[0].ev[3].method, "BYE");
	ck_assert_uint_eq(a->sip[0].ev[3].cseq, 2);
	ck_assert_uint_eq(a->sip_msgs, 5);
	ck_assert_uint_eq(a->flows[0].kind[0][CC_K_SIP], 3);
	ck_assert_uint_eq(a->flows[0].kind[0][CC_K_OTHER], 0);
	cc_an_free(a);
}
END_TEST

START_TEST(stun_transaction)
{
	uint8_t req[20] = { 0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
	uint8_t resp[20];
	struct cc_an *a = cc_an_new();
	struct cc_pkt p;
	size_t found = 0;

	memcpy(resp, req, 20);
	resp[1] = 0x01;
	resp[0] = 0x01;		/* 0x0101 Binding success */
	p = udp(req, sizeof req, 0);
	cc_an_packet(a, 1000000000ull, &p, 62);
	cc_an_packet(a, 1000500000ull, &p, 62);	/* retransmitted copy */
	p = udp(resp, sizeof resp, 1);
	cc_an_packet(a, 1002500000ull, &p, 62);
	for (size_t i = 0; i < CC_AN_MAX_STUN; i++) {
		const struct cc_stun_tx *t = &a->stun[i];

		if (!t->used)
			continue;
		found++;
		ck_assert_uint_eq(t->requests, 2);
		ck_assert_uint_eq(t->responses, 1);
		ck_assert_uint_eq(t->outcome, 2);
		ck_assert_uint_eq(t->resp_ns - t->req_ns, 2500000);
		ck_assert_uint_eq(t->from.port, 5000);
	}
	ck_assert_uint_eq(found, 1);
	ck_assert_uint_eq(a->nflows, 1);
	ck_assert_uint_eq(a->flows[0].pkts[0], 2);
	ck_assert_uint_eq(a->flows[0].pkts[1], 1);
	ck_assert_uint_eq(a->flows[0].kind[0][CC_K_STUN], 2);
	cc_an_free(a);
}
END_TEST

static size_t rtp_pkt(uint8_t *b, uint8_t pt, uint16_t seq, uint32_t ts, const uint8_t *pl, size_t n)
{
	b[0] = 0x80;
	b[1] = pt;
	b[2] = (uint8_t)(seq >> 8);
	b[3] = (uint8_t)seq;
	b[4] = (uint8_t)(ts >> 24);
	b[5] = (uint8_t)(ts >> 16);
	b[6] = (uint8_t)(ts >> 8);
	b[7] = (uint8_t)ts;
	memcpy(b + 8, "\x11\x22\x33\x44", 4);
	memcpy(b + 12, pl, n);
	return 12 + n;
}

START_TEST(rtp_stream_and_dtmf)
{
	struct cc_an *a = cc_an_new();
	uint8_t buf[200], audio[160];
	uint16_t seq = 1;
	uint32_t ts = 0;
	uint64_t t = 5000000000ull;
	struct cc_pkt p;
	size_t n;

	memset(audio, 0xff, sizeof audio);
	/* 50 PCMU packets, 20 ms apart, seq 26 lost; then digit '1' (three packets, one
	 * timestamp, E bit on the last, sent three times as RFC 4733 §2.5.1.4 says) and '#'. */
	for (int i = 0; i < 50; i++, seq++, ts += 160, t += 20000000) {
		if (seq == 26)
			continue;
		n = rtp_pkt(buf, 0, seq, ts, audio, sizeof audio);
		p = udp(buf, n, 0);
		cc_an_packet(a, t, &p, n + 48);
	}
	for (int k = 0; k < 2; k++) {
		uint8_t ev = k == 0 ? 1 : 11;
		uint32_t evts = ts;

		for (int i = 0; i < 5; i++, seq++, t += 20000000) {
			uint16_t dur = (uint16_t)(160 * (i + 1) > 480 ? 480 : 160 * (i + 1));
			uint8_t d[4] = { ev, (uint8_t)(i >= 2 ? 0x80 | 10 : 10), (uint8_t)(dur >> 8), (uint8_t)dur };

			n = rtp_pkt(buf, 101, seq, evts, d, 4);
			p = udp(buf, n, 0);
			cc_an_packet(a, t, &p, n + 48);
		}
		ts += 800;
	}
	ck_assert_uint_eq(a->nstreams, 1);
	ck_assert_uint_eq(a->streams[0].pt, 0);
	ck_assert_uint_eq(a->streams[0].dtmf_pt, 101);
	ck_assert_uint_eq(a->streams[0].pkts, 59);
	ck_assert_int_eq(cc_rtpseq_lost(&a->streams[0].seq), 1);
	ck_assert_uint_eq(cc_stream_clock(&a->streams[0]), 8000);
	ck_assert_double_eq_tol(cc_stream_jitter_ms(&a->streams[0]), 0.0, 1e-9);
	ck_assert_uint_eq(a->ndtmf, 2);
	ck_assert_int_eq(cc_dtmf_char(a->dtmf[0].event), '1');
	ck_assert_int_eq(cc_dtmf_char(a->dtmf[1].event), '#');
	ck_assert(a->dtmf[0].ended);
	ck_assert_uint_eq(a->dtmf[0].duration, 480);
	cc_an_free(a);
}
END_TEST

START_TEST(dynamic_clock_estimate)
{
	struct cc_an *a = cc_an_new();
	uint8_t buf[200], opus[60] = { 0 };
	uint64_t t = 1000000000ull;
	struct cc_pkt p;

	/* Opus-like: PT 111, 960 ticks per 20 ms is 48000 Hz. */
	for (uint16_t i = 0; i < 30; i++, t += 20000000) {
		size_t n = rtp_pkt(buf, 111, i, 960u * i, opus, sizeof opus);

		p = udp(buf, n, 0);
		cc_an_packet(a, t, &p, n);
	}
	ck_assert_uint_eq(cc_stream_clock(&a->streams[0]), 48000);
	ck_assert_double_eq_tol(cc_stream_jitter_ms(&a->streams[0]), 0.0, 1e-9);
	cc_an_free(a);
}
END_TEST

START_TEST(sdp_rtpmap_sets_clock)
{
	static const char sip[] = "INVITE sip:b@x SIP/2.0\r\nContent-Type: application/sdp\r\n\r\n"
				  "v=0\r\nm=audio 6000 RTP/AVP 97 101\r\na=rtpmap:97 L16/16000\r\n"
				  "a=rtpmap:101 telephone-event/8000\r\na=rtpmap:999 bad/1\r\n";
	struct cc_an *a = cc_an_new();
	uint8_t buf[200], pcm[64] = { 0 };
	uint64_t t = 1000000000ull;
	struct cc_pkt p = udp((const uint8_t *)sip, sizeof sip - 1, 0);

	cc_an_packet(a, t, &p, sizeof sip + 28);
	/* 2 ms apart with 320 ticks each: an estimate would say 160 kHz (snapped to 90000). */
	for (uint16_t i = 0; i < 200; i++, t += 2000000) {
		size_t n = rtp_pkt(buf, 97, i, 320u * i, pcm, sizeof pcm);

		p = udp(buf, n, 0);
		cc_an_packet(a, t, &p, n);
	}
	ck_assert_uint_eq(cc_stream_clock(&a->streams[0]), 90000);
	cc_an_finish(a);
	ck_assert_uint_eq(a->rtpmap[97].rate, 16000);
	ck_assert_str_eq(a->rtpmap[101].name, "telephone-event");
	ck_assert_uint_eq(cc_stream_clock(&a->streams[0]), 16000);
	ck_assert_str_eq(a->streams[0].sdp_name, "L16");
	/* The flow's kinds: the INVITE is not ChannelData on a flow without TURN. */
	ck_assert_uint_eq(a->flows[0].kind[0][CC_K_TURN], 0);
	cc_an_free(a);
}
END_TEST

/* tools/encrypted.c: each way of knowing a stream is SRTP, and plain RTP left alone. */
START_TEST(encrypted_rules)
{
	static const char savp[] = "v=0\r\nm=audio 6000/2 RTP/SAVP 0\r\nm=video 7000 RTP/AVP 96\r\n";
	static const uint8_t hello[] = { 22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	uint8_t buf[300], pl[170] = { 0 };
	uint64_t t = 1000000000ull;
	struct cc_an *a;
	struct cc_pkt p;
	size_t n;

	/* Plain PCMU (160-byte payloads) with no SDP or DTLS: not encrypted. */
	a = cc_an_new();
	for (uint16_t i = 0; i < 20; i++, t += 20000000) {
		n = rtp_pkt(buf, 0, i, 160u * i, pl, 160);
		p = udp(buf, n, 0);
		cc_an_packet(a, t, &p, n);
	}
	cc_an_finish(a);
	ck_assert_uint_eq(a->streams[0].encrypted, CC_ENC_NO);
	cc_an_free(a);

	/* The same with a 10-byte tag after each payload: HMAC-SHA1-80 SRTP. */
	a = cc_an_new();
	for (uint16_t i = 0; i < 20; i++, t += 20000000) {
		n = rtp_pkt(buf, 0, i, 160u * i, pl, 170);
		p = udp(buf, n, 0);
		cc_an_packet(a, t, &p, n);
	}
	cc_an_finish(a);
	ck_assert_uint_eq(a->streams[0].encrypted, CC_ENC_TAG);
	cc_an_free(a);

	/* SDP offered RTP/SAVP on port 6000, the stream's destination; the AVP line counts for nothing. */
	a = cc_an_new();
	cc_an_learn_savp(a, (const uint8_t *)savp, sizeof savp - 1);
	ck_assert_uint_eq(a->nsavp, 1);
	ck_assert_uint_eq(a->savp_ports[0], 6000);
	for (uint16_t i = 0; i < 20; i++, t += 20000000) {
		n = rtp_pkt(buf, 96, i, 960u * i, pl, 100);
		p = udp(buf, n, 0);
		cc_an_packet(a, t, &p, n);
	}
	cc_an_finish(a);
	ck_assert_uint_eq(a->streams[0].encrypted, CC_ENC_SDP);
	ck_assert_str_eq(cc_enc_reason(CC_ENC_SDP), "SDP offered RTP/SAVP on its port");
	cc_an_free(a);

	/* DTLS on the 5-tuple (a ClientHello record from the other end): DTLS-SRTP. */
	a = cc_an_new();
	p = udp(hello, sizeof hello, 1);
	cc_an_packet(a, t, &p, sizeof hello + 28);
	for (uint16_t i = 0; i < 20; i++, t += 20000000) {
		n = rtp_pkt(buf, 96, i, 960u * i, pl, 100);
		p = udp(buf, n, 0);
		cc_an_packet(a, t, &p, n);
	}
	cc_an_finish(a);
	ck_assert_uint_eq(a->streams[0].encrypted, CC_ENC_DTLS);
	/* A plaintext copy of the SSRC outranks it, and is itself never encrypted. */
	n = rtp_pkt(buf, 96, 20, 960u * 20, pl, 90);
	p = udp(buf, n, 0);
	p.ifindex = 2;
	cc_an_packet(a, t, &p, n);
	cc_an_finish(a);
	ck_assert_uint_eq(a->streams[0].encrypted, CC_ENC_PLAIN_COPY);
	ck_assert_uint_eq(a->streams[1].ifindex, 2);
	ck_assert_uint_eq(a->streams[1].encrypted, CC_ENC_NO);
	cc_an_free(a);
}
END_TEST

/* Random and truncated frames on every link type: no crash, every frame counted. */
START_TEST(hostile_frames)
{
	static const int dlts[] = { 0, 1, 12, 101, 108, 113, 228, 229, 276 };
	struct cc_an *a = cc_an_new();
	uint8_t buf[256];
	uint32_t x = 12345;
	uint64_t n = 0;

	for (size_t d = 0; d < sizeof dlts / sizeof dlts[0]; d++) {
		for (int i = 0; i < 3000; i++) {
			size_t len = (size_t)(x % sizeof buf);

			for (size_t k = 0; k < len; k++) {
				x = x * 1103515245u + 12345u;
				buf[k] = (uint8_t)(x >> 16);
			}
			/* Steer some frames into IPv4/UDP so the deeper decoders see noise too. */
			if (len > 40 && (i & 1)) {
				size_t off = dlts[d] == 276 ? 20 : dlts[d] == 1 ? 14 : dlts[d] == 113 ? 16 :
					     dlts[d] == 0 || dlts[d] == 108 ? 4 : 0;
				buf[off] = 0x45;
				buf[off + 9] = (i & 2) ? IPPROTO_UDP : IPPROTO_SCTP;
				buf[off + 6] = buf[off + 7] = 0;
				if (dlts[d] == 276) {
					buf[0] = 0x08;
					buf[1] = 0;
				}
				if (dlts[d] == 1) {
					buf[12] = 0x08;
					buf[13] = 0;
				}
			}
			cc_an_frame(a, dlts[d], (uint64_t)i * 1000, len ? buf : NULL, len, len);
			n++;
		}
	}
	ck_assert_uint_eq(a->frames, n);
	cc_an_free(a);
}
END_TEST

START_TEST(header_lengths)
{
	uint8_t pcap[24] = { 0xd4, 0xc3, 0xb2, 0xa1 };
	uint8_t ng[28 + 20 + 4] = { 0 };

	ck_assert_uint_eq(cc_capread_header_len(pcap, sizeof pcap), 24);
	/* SHB of 28 bytes, then an IDB of 20, then a block of another type. */
	memcpy(ng, "\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x4d\x3c\x2b\x1a", 12);
	memcpy(ng + 28, "\x01\x00\x00\x00\x14\x00\x00\x00", 8);
	ck_assert_uint_eq(cc_capread_header_len(ng, sizeof ng), 48);
	ng[32] = 0xff;	/* IDB length beyond the buffer: not header */
	ck_assert_uint_eq(cc_capread_header_len(ng, sizeof ng), 28);
	ck_assert_uint_eq(cc_capread_header_len(ng, 10), 0);
}
END_TEST

/* The same UDP datagram behind each link-layer header: one parse result. */
START_TEST(link_layers)
{
	static const uint8_t ip[] = {
		0x45, 0, 0, 32, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
		0x13, 0x88, 0x17, 0x70, 0, 12, 0, 0, 'a', 'b', 'c', 'd',
		0xee, 0xee,	/* Ethernet padding past the IP length */
	};
	uint8_t f[128];
	struct cc_pkt p;
	struct { int dlt; size_t hlen; uint8_t hdr[24]; uint8_t dir, ifindex; uint32_t pid; } cases[] = {
		{ 1, 18, { 0,1,2,3,4,5, 6,7,8,9,10,11, 0x81,0x00, 0,5, 0x08,0x00 }, CC_DIR_UNKNOWN, 0, 0 },
		{ 113, 16, { 0,4, 0,1, 0,6, 1,2,3,4,5,6,0,0, 0x08,0x00 }, CC_DIR_OUT, 0, 0 },
		{ 276, 20, { 0x08,0x00, 0,0, 0,0,0,2, 0xff,0xfe, 0, 4, 0,0,0x30,0x39, 0,0,0,0 }, CC_DIR_IN, 2, 12345 },
		{ 101, 0, { 0 }, CC_DIR_UNKNOWN, 0, 0 },
		{ 0, 4, { 2,0,0,0 }, CC_DIR_UNKNOWN, 0, 0 },
		{ 108, 4, { 0,0,0,2 }, CC_DIR_UNKNOWN, 0, 0 },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memcpy(f, cases[i].hdr, cases[i].hlen);
		memcpy(f + cases[i].hlen, ip, sizeof ip);
		ck_assert_int_eq(cc_pkt_parse(cases[i].dlt, f, cases[i].hlen + sizeof ip, &p), 0);
		ck_assert_uint_eq(p.proto, IPPROTO_UDP);
		ck_assert_uint_eq(p.src.port, 5000);
		ck_assert_uint_eq(p.dst.port, 6000);
		ck_assert_uint_eq(p.payload_len, 4);	/* UDP length, not the padding */
		ck_assert_mem_eq(p.payload, "abcd", 4);
		ck_assert_uint_eq(p.dir, cases[i].dir);
		ck_assert_uint_eq(p.ifindex, cases[i].ifindex);
		ck_assert_uint_eq(p.pid, cases[i].pid);
		/* Every shorter capture of the same frame fails cleanly. */
		for (size_t n = 0; n < cases[i].hlen + 28; n++)
			ck_assert_int_lt(cc_pkt_parse(cases[i].dlt, f, n, &p), 0);
	}
}
END_TEST

START_TEST(ipv6_extension_headers)
{
	/* IPv6, hop-by-hop (8 bytes), fragment header (first fragment), UDP. */
	uint8_t f[40 + 8 + 8 + 8 + 2] = { 0x60, 0, 0, 0, 0, 26, 0, 64 };
	struct cc_pkt p;
	char buf[64];

	f[23] = 1;	/* src ::1 */
	f[39] = 1;	/* dst ::1 */
	f[40] = 44;	/* hop-by-hop, next: fragment */
	f[48] = 17;	/* fragment, next: UDP; offset 0 */
	memcpy(f + 56, "\x00\x35\x00\x36\x00\x0a\x00\x00zz", 10);
	ck_assert_int_eq(cc_pkt_parse(229, f, sizeof f, &p), 0);
	ck_assert_uint_eq(p.src.family, 6);
	ck_assert_uint_eq(p.dst.port, 54);
	ck_assert_uint_eq(p.payload_len, 2);
	ck_assert_str_eq(cc_endpoint_str(&p.src, buf, sizeof buf), "[::1]:53");
	/* A later fragment carries no UDP header. */
	f[51] = 0x08;
	ck_assert_int_eq(cc_pkt_parse(229, f, sizeof f, &p), CC_ENOTSUP);
	ck_assert(p.fragment);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("analyze");
	TCase *t = tcase_create("rfc3550");
	TCase *e = tcase_create("engine");

	tcase_add_test(t, seq_gap);
	tcase_add_test(t, seq_duplicate_negative_loss);
	tcase_add_test(t, seq_reorder);
	tcase_add_test(t, seq_wrap);
	tcase_add_test(t, seq_probation_and_restart);
	tcase_add_test(t, jitter_by_hand);
	tcase_add_test(t, clocks_and_g711);
	tcase_add_test(e, stun_transaction);
	tcase_add_test(e, rtp_stream_and_dtmf);
	tcase_add_test(e, dynamic_clock_estimate);
	tcase_add_test(e, sdp_rtpmap_sets_clock);
	tcase_add_test(e, hostile_frames);
	tcase_add_test(e, header_lengths);
	tcase_add_test(e, link_layers);
	tcase_add_test(e, ipv6_extension_headers);
	tcase_add_test(e, encrypted_rules);
	tcase_add_test(e, sip_dialogs);
	tcase_add_test(e, no_plaintext_reasons);
	tcase_set_timeout(e, 60);
	suite_add_tcase(s, t);
	suite_add_tcase(s, e);
	return cc_run_suite(s);
}
