/*
 * hello.c - the negotiated parameters of a DTLS Hello (see hello.h).
 *
 * ClientHello (RFC 6347 section 4.2.1, RFC 5246 section 7.4.1.2):
 *   client_version(2) random(32) session_id<0..32> cookie<0..2^8-1>
 *   cipher_suites<2..2^16-2> compression_methods<1..2^8-1> extensions<0..2^16-1>
 * ServerHello (RFC 5246 section 7.4.1.3):
 *   server_version(2) random(32) session_id<0..32> cipher_suite(2) compression_method(1)
 *   extensions<0..2^16-1>
 * use_srtp (RFC 5764 section 4.1.1), extension type 14:
 *   SRTPProtectionProfiles<2..2^16-1> (uint16 each)  srtp_mki<0..255>
 */
#include "decoders/hello.h"
#include "decoders/cursor.h"
#include "decoders/dtls.h"

#include <string.h>

#define EXT_USE_SRTP 14
#define EXT_EMS 23

static int use_srtp(struct cc_cur *c, struct cc_hello_params *out)
{
	uint16_t n, v;

	if (cur_be16(c, &n) || n % 2 || cur_left(c) < n)
		return CC_EBAD;
	out->has_use_srtp = 1;
	for (uint16_t i = 0; i < n / 2; i++) {
		if (cur_be16(c, &v))
			return CC_ESHORT;
		if (out->nprofiles < CC_HELLO_MAX_PROFILES)
			out->profiles[out->nprofiles++] = v;
	}
	return CC_OK;
}

static int extensions(struct cc_cur *c, struct cc_hello_params *out)
{
	struct cc_cur all, one;
	uint16_t total, type, len;

	/* RFC 5246 section 7.4.1.2: the extensions block may be absent altogether. */
	if (cur_left(c) == 0)
		return CC_OK;
	if (cur_be16(c, &total) || cur_sub(c, total, &all))
		return CC_ESHORT;
	while (cur_left(&all) > 0) {
		if (cur_be16(&all, &type) || cur_be16(&all, &len) || cur_sub(&all, len, &one))
			return CC_ESHORT;
		if (type == EXT_USE_SRTP && use_srtp(&one, out) != CC_OK)
			return CC_EBAD;
		if (type == EXT_EMS)
			out->ems = 1;
	}
	return CC_OK;
}

int cc_hello_params_body(uint8_t msg_type, const uint8_t *p, size_t len, struct cc_hello_params *out)
{
	struct cc_cur c;
	uint8_t n8, comp;
	uint16_t n16;

	memset(out, 0, sizeof(*out));
	if (msg_type != CC_TLS_HS_CLIENT_HELLO && msg_type != CC_TLS_HS_SERVER_HELLO)
		return CC_ENOTSUP;
	out->msg_type = msg_type;
	cur_init(&c, p, len);
	if (cur_be16(&c, &out->version) || cur_bytes(&c, out->random, 32) || cur_u8(&c, &n8) ||
	    n8 > 32 || cur_skip(&c, n8))
		return CC_ESHORT;
	if (msg_type == CC_TLS_HS_CLIENT_HELLO) {
		/* The cookie (RFC 6347 section 4.2.1), then the offered suites and compressions. */
		if (cur_u8(&c, &n8) || cur_skip(&c, n8) || cur_be16(&c, &n16) || cur_skip(&c, n16) ||
		    cur_u8(&c, &n8) || cur_skip(&c, n8))
			return CC_ESHORT;
	} else {
		if (cur_be16(&c, &out->cipher_suite) || cur_u8(&c, &comp))
			return CC_ESHORT;
	}
	return extensions(&c, out);
}

int cc_dtls_hello_params(const uint8_t *p, size_t len, struct cc_hello_params *out)
{
	struct cc_tls_iter it;
	struct cc_tls_record r;
	struct cc_tls_handshake hs;
	int rc;

	cc_tls_iter_init(&it, p, len, 1);
	while ((rc = cc_tls_iter_next(&it, &r)) == 1) {
		if (r.unified || r.type != CC_TLS_CT_HANDSHAKE || r.epoch != 0)
			continue;
		if (cc_dtls_handshake(r.frag.p, r.frag.len, &hs) != CC_OK)
			continue;
		if (hs.msg_type != CC_TLS_HS_CLIENT_HELLO && hs.msg_type != CC_TLS_HS_SERVER_HELLO)
			continue;
		/* A Hello split over records or datagrams is not reassembled here. */
		if (hs.frag_offset != 0 || hs.frag_length != hs.length || hs.body.len < hs.length)
			continue;
		return cc_hello_params_body(hs.msg_type, hs.body.p, hs.length, out);
	}
	return rc < 0 ? rc : CC_ENOTSUP;
}
