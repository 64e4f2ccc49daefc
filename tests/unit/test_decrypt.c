/*
 * Unit tests for `clearcap decrypt`'s parts: the DTLS Hello parameters and their reassembly, the
 * DTLS-SRTP exporter (checked against a P_SHA256 written here from RFC 5246 section 5 with
 * HMAC), the key files, and SRTP decryption by key trial (packets protected here with libsrtp2).
 */
#include "decoders/dtls.h"
#include "decoders/hello.h"
#include "tests/unit/check_main.h"
#include "tools/dtlssrtp.h"
#include "tools/keylog.h"
#include "tools/sdpkeys.h"
#include "tools/srtpdec.h"
#include "tools/srtpkeyfile.h"

#include <check.h>
#include <openssl/hmac.h>
#include <srtp2/srtp.h>
#include <stdlib.h>
#include <string.h>

static struct cc_endpoint ep(uint8_t last, uint16_t port)
{
	struct cc_endpoint e;

	memset(&e, 0, sizeof(e));
	e.family = 4;
	e.ip[0] = 10;
	e.ip[3] = last;
	e.port = port;
	return e;
}

static size_t put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return 2;
}

static size_t put24(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 16);
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)v;
	return 3;
}

/* A Hello body: ClientHello with a cookie and two suites, or ServerHello choosing `suite`. */
static size_t hello_body(uint8_t *b, int server, uint8_t rnd, uint16_t suite, int srtp)
{
	size_t n = 0, ext;

	n += put16(b + n, 0xFEFD);
	memset(b + n, rnd, 32);
	n += 32;
	b[n++] = 0;			/* session id */
	if (!server) {
		b[n++] = 0;		/* cookie */
		n += put16(b + n, 4);
		n += put16(b + n, 0xC02B);
		n += put16(b + n, 0xC02C);
		b[n++] = 1;
		b[n++] = 0;
	} else {
		n += put16(b + n, suite);
		b[n++] = 0;
	}
	ext = n;
	n += 2;
	n += put16(b + n, 23);		/* extended_master_secret */
	n += put16(b + n, 0);
	if (srtp) {
		n += put16(b + n, 14);	/* use_srtp */
		n += put16(b + n, 5);
		n += put16(b + n, 2);
		n += put16(b + n, 0x0001);
		b[n++] = 0;
	}
	put16(b + ext, (unsigned)(n - ext - 2));
	return n;
}

/* One DTLS record holding a handshake fragment [off, off+flen) of a body of blen. */
static size_t record(uint8_t *p, uint8_t type, const uint8_t *body, size_t blen, size_t off, size_t flen)
{
	size_t n = 0;

	p[n++] = 22;
	n += put16(p + n, 0xFEFD);
	memset(p + n, 0, 8);		/* epoch 0, sequence 0 */
	n += 8;
	n += put16(p + n, (unsigned)(12 + flen));
	p[n++] = type;
	n += put24(p + n, (unsigned)blen);
	n += put16(p + n, 0);
	n += put24(p + n, (unsigned)off);
	n += put24(p + n, (unsigned)flen);
	memcpy(p + n, body + off, flen);
	return n + flen;
}

START_TEST(server_hello_params)
{
	uint8_t body[256], dg[300];
	struct cc_hello_params h;
	size_t bl = hello_body(body, 1, 0x55, 0xC02C, 1);
	size_t n = record(dg, CC_TLS_HS_SERVER_HELLO, body, bl, 0, bl);

	ck_assert_int_eq(cc_dtls_hello_params(dg, n, &h), 0);
	ck_assert_int_eq(h.msg_type, CC_TLS_HS_SERVER_HELLO);
	ck_assert_int_eq(h.cipher_suite, 0xC02C);
	ck_assert_int_eq(h.has_use_srtp, 1);
	ck_assert_int_eq(h.nprofiles, 1);
	ck_assert_int_eq(h.profiles[0], 0x0001);
	ck_assert_int_eq(h.ems, 1);
	ck_assert_int_eq(h.random[31], 0x55);
	/* A fragment alone is not a Hello; a cut extension block is malformed. */
	n = record(dg, CC_TLS_HS_SERVER_HELLO, body, bl, 0, bl - 10);
	ck_assert_int_eq(cc_dtls_hello_params(dg, n, &h), CC_ENOTSUP);
	ck_assert_int_lt(cc_hello_params_body(CC_TLS_HS_SERVER_HELLO, body, bl - 3, &h), 0);
}
END_TEST

/* RFC 5246 section 5: P_SHA256(secret, seed), written out with HMAC. */
static void p_sha256(const uint8_t *secret, size_t slen, const uint8_t *seed, size_t seedlen, uint8_t *out,
		     size_t outlen)
{
	uint8_t a[32], buf[32 + 128], h[32];
	unsigned hl;

	HMAC(EVP_sha256(), secret, (int)slen, seed, seedlen, a, &hl);
	for (size_t done = 0; done < outlen;) {
		memcpy(buf, a, 32);
		memcpy(buf + 32, seed, seedlen);
		HMAC(EVP_sha256(), secret, (int)slen, buf, 32 + seedlen, h, &hl);
		size_t k = outlen - done < 32 ? outlen - done : 32;
		memcpy(out + done, h, k);
		done += k;
		HMAC(EVP_sha256(), secret, (int)slen, a, 32, a, &hl);
	}
}

START_TEST(handshake_and_exporter)
{
	struct cc_dtlstrack t = { 0 };
	struct cc_endpoint c = ep(1, 5000), s = ep(2, 6000);
	uint8_t body[256], dg[300], master[48], seed[19 + 64], km[60];
	struct cc_srtp_key ck, sk;
	size_t bl, n;

	/* The ClientHello in two datagrams (fragments), then the ServerHello. */
	bl = hello_body(body, 0, 0x11, 0, 1);
	n = record(dg, CC_TLS_HS_CLIENT_HELLO, body, bl, 0, 40);
	ck_assert_ptr_null(cc_dtlstrack_datagram(&t, &c, &s, dg, n));
	n = record(dg, CC_TLS_HS_CLIENT_HELLO, body, bl, 40, bl - 40);
	ck_assert_ptr_null(cc_dtlstrack_datagram(&t, &c, &s, dg, n));
	ck_assert_uint_eq(t.n, 1);
	ck_assert_int_eq(t.hs[0].have_ch, 1);
	bl = hello_body(body, 1, 0x22, 0xC02B, 1);
	n = record(dg, CC_TLS_HS_SERVER_HELLO, body, bl, 0, bl);
	struct cc_dtls_hs *hs = cc_dtlstrack_datagram(&t, &s, &c, dg, n);
	ck_assert_ptr_nonnull(hs);
	ck_assert_int_eq(hs->profile, 1);
	/* The other end's copy of the same ServerHello is not a new handshake. */
	ck_assert_ptr_null(cc_dtlstrack_datagram(&t, &s, &c, dg, n));

	for (int i = 0; i < 48; i++)
		master[i] = (uint8_t)(i * 7 + 3);
	ck_assert_int_eq(cc_dtls_srtp_keys(hs, master, &ck, &sk), 0);
	memcpy(seed, "EXTRACTOR-dtls_srtp", 19);
	memset(seed + 19, 0x11, 32);
	memset(seed + 51, 0x22, 32);
	p_sha256(master, 48, seed, sizeof(seed), km, 60);
	/* RFC 5764 section 4.2: client key, server key, client salt, server salt. */
	ck_assert_mem_eq(ck.master, km, 16);
	ck_assert_mem_eq(sk.master, km + 16, 16);
	ck_assert_mem_eq(ck.master + 16, km + 32, 14);
	ck_assert_mem_eq(sk.master + 16, km + 46, 14);
	ck_assert_int_eq(cc_endpoint_cmp(&ck.src, &c), 0);
	ck_assert_int_eq(cc_endpoint_cmp(&sk.src, &s), 0);
	ck_assert_ptr_null(strstr(ck.origin, "inline"));
	cc_dtlstrack_free(&t);
}
END_TEST

START_TEST(key_files)
{
	struct cc_srtp_key k;
	struct cc_keylog kl = { 0 };
	/* 30 bytes 0x00..0x1d. */
	const char *b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd";
	char line[256];
	static const char text[] = "# comment\n"
		"CLIENT_RANDOM 0101010101010101010101010101010101010101010101010101010101010101 "
		"020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202\n"
		"CLIENT_RANDOM 0101010101010101010101010101010101010101010101010101010101010101 "
		"020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202\r\n"
		"CLIENT_HANDSHAKE_TRAFFIC_SECRET 03 04\n\n";
	uint8_t r[32];

	snprintf(line, sizeof(line), "SRTP 10.0.0.1:5000 10.0.0.2:6000 outbound AES_CM_128_HMAC_SHA1_80 inline:%s", b64);
	ck_assert_int_eq(cc_srtpkeyfile_line(line, &k), 0);
	ck_assert_int_eq(k.profile, 1);
	ck_assert_int_eq(k.key_len + k.salt_len, 30);
	ck_assert_int_eq(k.master[29], 0x1d);
	ck_assert_int_eq(k.src.port, 5000);
	ck_assert_int_eq(k.dst.port, 6000);
	snprintf(line, sizeof(line), "SRTP ? [::1]:6000 inbound AES_CM_128_HMAC_SHA1_32 inline:%s|2^31", b64);
	ck_assert_int_eq(cc_srtpkeyfile_line(line, &k), 0);
	ck_assert_int_eq(k.src.family, 6);
	ck_assert_int_eq(k.dst.family, 0);
	snprintf(line, sizeof(line), "SRTP ? ? ssrc=0x000004d2 AES_CM_128_HMAC_SHA1_80 inline:%s", b64);
	ck_assert_int_eq(cc_srtpkeyfile_line(line, &k), 0);
	ck_assert_int_eq(k.has_ssrc, 1);
	ck_assert_uint_eq(k.ssrc, 0x4d2);
	/* A wrong length for the suite, an unknown suite, a bad address: refused. */
	ck_assert_int_lt(cc_srtpkeyfile_line("SRTP ? ? outbound AEAD_AES_256_GCM inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd", &k), 0);
	ck_assert_int_lt(cc_srtpkeyfile_line("SRTP ? ? outbound F8_128 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd", &k), 0);
	ck_assert_int_lt(cc_srtpkeyfile_line("SRTP 1.2.3:4 ? outbound AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd", &k), 0);

	ck_assert_int_eq(cc_keylog_add_text(&kl, text, sizeof(text) - 1), 0);
	ck_assert_uint_eq(kl.lines, 2);		/* the duplicate (with its CR) once, the comment dropped */
	ck_assert_uint_eq(kl.nms, 1);
	memset(r, 1, 32);
	ck_assert_ptr_nonnull(cc_keylog_master(&kl, r));
	ck_assert_int_eq(cc_keylog_master(&kl, r)[47], 2);
	r[0] = 9;
	ck_assert_ptr_null(cc_keylog_master(&kl, r));
	cc_keylog_free(&kl);
}
END_TEST

START_TEST(sdp_crypto)
{
	static const char sip[] = "INVITE sip:b@127.0.0.1 SIP/2.0\r\n\r\nv=0\r\nm=audio 5004 RTP/SAVP 0\r\n"
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd|2^20|1:4\r\n"
		"a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\r\n"
		"x a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\r\n"
		"a=crypto:4 F8_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\r\n"
		"a=crypto:5 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd";
	struct cc_srtp_key k[8];

	/* Lines 1 and 2; not 3 (not at a line's start), 4 (unknown suite), 5 (cut off). */
	ck_assert_uint_eq(cc_sdp_crypto_keys((const uint8_t *)sip, sizeof(sip) - 1, k, 8), 2);
	ck_assert_int_eq(k[0].profile, 1);
	ck_assert_int_eq(k[1].profile, 2);
	ck_assert_int_eq(k[1].master[29], 0x1d);
	ck_assert_int_eq(k[0].src.family, 0);
	ck_assert_uint_eq(cc_sdp_crypto_keys((const uint8_t *)sip, sizeof(sip) - 1, k, 1), 1);
}
END_TEST

/* An SRTP packet of ssrc and seq protected with key (30 bytes, AES_CM_128_HMAC_SHA1_80). */
static int protect_profile(srtp_t *s, uint16_t profile, const uint8_t *key, uint32_t ssrc, uint16_t seq,
			   uint8_t *pkt)
{
	srtp_policy_t p;
	int len = 12 + 20;

	if (!*s) {
		memset(&p, 0, sizeof(p));
		if (profile == 7) {
			srtp_crypto_policy_set_aes_gcm_128_16_auth(&p.rtp);
			srtp_crypto_policy_set_aes_gcm_128_16_auth(&p.rtcp);
		} else if (profile == 8) {
			srtp_crypto_policy_set_aes_gcm_256_16_auth(&p.rtp);
			srtp_crypto_policy_set_aes_gcm_256_16_auth(&p.rtcp);
		} else {
			srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtp);
			srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtcp);
		}
		p.ssrc.type = ssrc_any_outbound;
		p.key = (unsigned char *)key;
		p.window_size = 128;
		ck_assert_int_eq(srtp_create(s, &p), srtp_err_status_ok);
	}
	memset(pkt, 0, 12);
	pkt[0] = 0x80;
	pkt[2] = (uint8_t)(seq >> 8);
	pkt[3] = (uint8_t)seq;
	pkt[8] = (uint8_t)(ssrc >> 24);
	pkt[9] = (uint8_t)(ssrc >> 16);
	pkt[10] = (uint8_t)(ssrc >> 8);
	pkt[11] = (uint8_t)ssrc;
	memset(pkt + 12, 0xab, 20);
	ck_assert_int_eq(srtp_protect(*s, pkt, &len), srtp_err_status_ok);
	return len;
}

static int protect(srtp_t *s, const uint8_t *key, uint32_t ssrc, uint16_t seq, uint8_t *pkt)
{
	return protect_profile(s, 1, key, ssrc, seq, pkt);
}

/* The AEAD profiles (RFC 7714) decrypt through the same trial, with their own key lengths. */
START_TEST(srtp_gcm)
{
	static const uint16_t profiles[] = { 7, 8 };
	char err[128];

	for (size_t t = 0; t < 2; t++) {
		struct cc_srtpdec *d = cc_srtpdec_new(err, sizeof(err));
		struct cc_endpoint a = ep(1, 5000), b = ep(2, 6000);
		struct cc_srtp_key k;
		const char *suite;
		size_t kl, sl, outlen;
		uint8_t pkt[100], out[100];
		srtp_t tx = NULL;
		int key;

		memset(&k, 0, sizeof(k));
		k.profile = profiles[t];
		ck_assert_int_eq(cc_srtp_profile_info(k.profile, &suite, &kl, &sl), 0);
		k.key_len = (uint8_t)kl;
		k.salt_len = (uint8_t)sl;
		for (size_t i = 0; i < kl + sl; i++)
			k.master[i] = (uint8_t)(0x40 + i);
		ck_assert_int_eq(cc_srtpdec_add_key(d, &k), 0);
		int len = protect_profile(&tx, k.profile, k.master, 0x99, 7, pkt);
		ck_assert_int_eq(cc_srtpdec_packet(d, &a, &b, CC_DIR_IN, 0, pkt, (size_t)len, out, &outlen, &key),
				 CC_SRTPDEC_OK);
		ck_assert_uint_eq(outlen, 32);
		ck_assert_int_eq(out[20], 0xab);
		srtp_dealloc(tx);
		cc_srtpdec_free(d);
	}
}
END_TEST

START_TEST(srtp_key_trial)
{
	char err[128];
	struct cc_srtpdec *d = cc_srtpdec_new(err, sizeof(err));
	struct cc_srtp_key good, wrong;
	struct cc_endpoint a = ep(1, 5000), b = ep(2, 6000), moved = ep(1, 5002);
	uint8_t pkt[100], out[100];
	size_t outlen;
	srtp_t tx = NULL;
	int key, len;

	ck_assert_ptr_nonnull(d);
	memset(&good, 0, sizeof(good));
	good.profile = 1;
	good.key_len = 16;
	good.salt_len = 14;
	for (int i = 0; i < 30; i++)
		good.master[i] = (uint8_t)i;
	wrong = good;
	wrong.master[0] ^= 1;
	/* The wrong key names the flow exactly, the right one names no flow: the tag decides. */
	wrong.src = a;
	wrong.dst = b;

	len = protect(&tx, good.master, 0x1234, 1, pkt);
	ck_assert_int_eq(cc_srtpdec_packet(d, &a, &b, CC_DIR_OUT, 0, pkt, (size_t)len, out, &outlen, &key),
			 CC_SRTPDEC_NOKEY);
	ck_assert_int_eq(cc_srtpdec_add_key(d, &wrong), 0);
	ck_assert_int_eq(cc_srtpdec_add_key(d, &good), 1);
	ck_assert_int_eq(cc_srtpdec_add_key(d, &good), 1);	/* the same key once */
	ck_assert_int_eq(cc_srtpdec_packet(d, &a, &b, CC_DIR_OUT, 0, pkt, (size_t)len, out, &outlen, &key),
			 CC_SRTPDEC_OK);
	ck_assert_int_eq(key, 1);
	ck_assert_uint_eq(outlen, 32);
	ck_assert_int_eq(out[12], 0xab);
	ck_assert_int_eq(out[31], 0xab);
	/* Again in the same direction: a replay.  Seen by the other end (received): decrypted. */
	ck_assert_int_eq(cc_srtpdec_packet(d, &a, &b, CC_DIR_OUT, 0, pkt, (size_t)len, out, &outlen, &key),
			 CC_SRTPDEC_REPLAY);
	ck_assert_int_eq(cc_srtpdec_packet(d, &a, &b, CC_DIR_IN, 0, pkt, (size_t)len, out, &outlen, &key),
			 CC_SRTPDEC_OK);
	/* A tampered packet of a bound SSRC is an authentication failure. */
	len = protect(&tx, good.master, 0x1234, 2, pkt);
	pkt[20] ^= 0x40;
	ck_assert_int_eq(cc_srtpdec_packet(d, &a, &b, CC_DIR_OUT, 0, pkt, (size_t)len, out, &outlen, &key),
			 CC_SRTPDEC_AUTH);
	/* Media moved to another candidate pair is still found. */
	len = protect(&tx, good.master, 0x1234, 3, pkt);
	ck_assert_int_eq(cc_srtpdec_packet(d, &moved, &b, CC_DIR_OUT, 0, pkt, (size_t)len, out, &outlen, &key),
			 CC_SRTPDEC_OK);
	ck_assert_int_eq(key, 1);
	srtp_dealloc(tx);
	cc_srtpdec_free(d);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("decrypt");
	TCase *tc = tcase_create("all");

	tcase_add_test(tc, server_hello_params);
	tcase_add_test(tc, handshake_and_exporter);
	tcase_add_test(tc, key_files);
	tcase_add_test(tc, sdp_crypto);
	tcase_add_test(tc, srtp_key_trial);
	tcase_add_test(tc, srtp_gcm);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cc_run_suite(suite());
}
