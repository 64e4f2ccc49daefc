/*
 * dtls.c - TLS and DTLS record, handshake and alert headers.
 *
 * TLS record (RFC 8446 §5.1, RFC 5246 §6.2.1), 5 bytes:
 *
 *    +--------+--------+--------+--------+--------+
 *    |  type  |    version      |     length      |  fragment ...
 *    +--------+--------+--------+--------+--------+
 *
 * DTLS record (RFC 6347 §4.1; RFC 9147 §4 DTLSPlaintext), 13 bytes:
 *
 *    +------+------+------+------+------+------+------+------+------+---
 *    | type |   version   |    epoch    |  sequence_number (48)    ...
 *    +------+------+------+------+------+------+------+------+------+---
 *       ---+------+------+
 *       ...|   length    |  fragment ...
 *       ---+------+------+
 *
 * DTLS 1.3 protected records use the unified header (RFC 9147 §4), first
 * byte 001CSLEE; we read it when no connection ID is present, since the
 * CID's length was negotiated and cannot be known from one datagram.
 *
 * Handshake header: TLS msg_type(1) length(3) (RFC 8446 §4); DTLS adds
 * message_seq(2) fragment_offset(3) fragment_length(3) (RFC 6347 §4.2.2).
 * The Hello randoms feed NSS key log lines (CLIENT_RANDOM <hex> ...).
 */
#include "decoders/dtls.h"

#include <string.h>

/*
 * RFC 5246 §6.2.3: a TLSCiphertext fragment is at most 2^14 + 2048 bytes
 * (RFC 8446 §5.2 tightens that to 2^14 + 256); anything longer means we are
 * not looking at a record header.
 */
#define MAX_RECORD 18432

/* RFC 8446 §4.1.3: a ServerHello with this random is a HelloRetryRequest. */
static const uint8_t hrr_random[32] = {
	0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02,
	0x1E, 0x65, 0xB8, 0x91, 0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E,
	0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
};

static int known_type(uint8_t t)
{
	return t >= CC_TLS_CT_CHANGE_CIPHER_SPEC && t <= CC_TLS_CT_ACK;
}

int cc_tls_record(const uint8_t *p, size_t len, struct cc_tls_record *out)
{
	struct cc_cur c;

	memset(out, 0, sizeof(*out));
	cur_init(&c, p, len);
	if (cur_u8(&c, &out->type) || cur_be16(&c, &out->version) ||
	    cur_be16(&c, &out->length))
		return CC_ESHORT;
	/* RFC 8446 §5.1: legacy_record_version is 0x03xx (SSLv3 onwards). */
	if (!known_type(out->type) || (out->version >> 8) != 0x03 ||
	    out->length > MAX_RECORD)
		return CC_EBAD;
	out->hdr_len = CC_TLS_RECORD_HDR_LEN;
	return cur_ref(&c, out->length, &out->frag) ? CC_ESHORT : CC_OK;
}

static int unified_record(struct cc_cur *c, uint8_t first, struct cc_tls_record *out)
{
	const uint8_t *start = c->p;
	uint8_t s8;
	uint16_t s16;

	/* RFC 9147 §4: with C set a CID of negotiated length follows. */
	if (first & 0x10)
		return CC_ENOTSUP;
	out->unified = 1;
	out->epoch = first & 0x03;
	/* S selects a 16-bit (else 8-bit) sequence number; it is encrypted
	 * (RFC 9147 §4.2.3), so this is only the on-the-wire value. */
	if (first & 0x08) {
		if (cur_be16(c, &s16))
			return CC_ESHORT;
		out->seq = s16;
	} else {
		if (cur_u8(c, &s8))
			return CC_ESHORT;
		out->seq = s8;
	}
	/* L clear: the record runs to the end of the datagram. */
	if (first & 0x04) {
		if (cur_be16(c, &out->length))
			return CC_ESHORT;
	} else {
		if (cur_left(c) > UINT16_MAX)
			return CC_EBAD;
		out->length = (uint16_t)cur_left(c);
	}
	out->hdr_len = (uint8_t)(1 + (size_t)(c->p - start));
	return cur_ref(c, out->length, &out->frag) ? CC_ESHORT : CC_OK;
}

int cc_dtls_record(const uint8_t *p, size_t len, struct cc_tls_record *out)
{
	struct cc_cur c;
	uint8_t first;

	memset(out, 0, sizeof(*out));
	cur_init(&c, p, len);
	if (cur_u8(&c, &first))
		return CC_ESHORT;
	if ((first & 0xE0) == 0x20)
		return unified_record(&c, first, out);
	out->type = first;
	if (cur_be16(&c, &out->version) || cur_be16(&c, &out->epoch) ||
	    cur_be48(&c, &out->seq) || cur_be16(&c, &out->length))
		return CC_ESHORT;
	if (!known_type(first) || out->length > MAX_RECORD)
		return CC_EBAD;
	/* RFC 6347 §4.1: DTLS versions are the 1's complement, 0xFEFF down. */
	if ((out->version >> 8) != 0xFE)
		return CC_EBAD;
	/* RFC 9146 §4: tls12_cid records put a CID of negotiated length
	 * before the length field, so the header cannot be read statelessly. */
	if (first == CC_TLS_CT_TLS12_CID)
		return CC_ENOTSUP;
	out->hdr_len = CC_DTLS_RECORD_HDR_LEN;
	return cur_ref(&c, out->length, &out->frag) ? CC_ESHORT : CC_OK;
}

void cc_tls_iter_init(struct cc_tls_iter *it, const uint8_t *p, size_t len, int dtls)
{
	cur_init(&it->c, p, len);
	it->dtls = dtls;
}

int cc_tls_iter_next(struct cc_tls_iter *it, struct cc_tls_record *out)
{
	int rc;

	if (cur_left(&it->c) == 0)
		return 0;
	rc = it->dtls ? cc_dtls_record(it->c.p, it->c.len, out)
		      : cc_tls_record(it->c.p, it->c.len, out);
	if (rc)
		return rc;
	/* Cannot fail: the record decoder just proved these bytes exist. */
	if (cur_skip(&it->c, (size_t)out->hdr_len + out->length))
		return CC_ESHORT;
	return 1;
}

int cc_tls_record_len(const uint8_t *p, size_t len, size_t *rec_len)
{
	struct cc_tls_record r;
	int rc = cc_tls_record(p, len, &r);

	*rec_len = CC_TLS_RECORD_HDR_LEN;
	if (rc == CC_EBAD)
		return rc;
	if (len < CC_TLS_RECORD_HDR_LEN)
		return CC_ESHORT;
	*rec_len = CC_TLS_RECORD_HDR_LEN + (size_t)r.length;
	return rc;
}

int cc_tls_handshake(const uint8_t *p, size_t len, struct cc_tls_handshake *out)
{
	struct cc_cur c;

	memset(out, 0, sizeof(*out));
	cur_init(&c, p, len);
	if (cur_u8(&c, &out->msg_type) || cur_be24(&c, &out->length))
		return CC_ESHORT;
	out->frag_length = out->length;
	/* A TLS handshake message may span records: hand back what is here. */
	out->body.p = c.p;
	out->body.len = cur_left(&c) < out->length ? cur_left(&c) : out->length;
	return CC_OK;
}

int cc_dtls_handshake(const uint8_t *p, size_t len, struct cc_tls_handshake *out)
{
	struct cc_cur c;

	memset(out, 0, sizeof(*out));
	cur_init(&c, p, len);
	if (cur_u8(&c, &out->msg_type) || cur_be24(&c, &out->length) ||
	    cur_be16(&c, &out->message_seq) || cur_be24(&c, &out->frag_offset) ||
	    cur_be24(&c, &out->frag_length))
		return CC_ESHORT;
	/* RFC 6347 §4.2.3: a fragment lies inside its message. */
	if (out->frag_offset > out->length ||
	    out->frag_length > out->length - out->frag_offset)
		return CC_EBAD;
	/* RFC 6347 §4.2.3: a DTLS fragment never spans records. */
	return cur_ref(&c, out->frag_length, &out->body) ? CC_ESHORT : CC_OK;
}

int cc_tls_alert(const uint8_t *p, size_t len, struct cc_tls_alert *out)
{
	struct cc_cur c;

	cur_init(&c, p, len);
	if (cur_u8(&c, &out->level) || cur_u8(&c, &out->description))
		return CC_ESHORT;
	return CC_OK;
}

static int hello_body(const struct cc_tls_handshake *hs, struct cc_tls_hello *out)
{
	struct cc_cur c;

	memset(out, 0, sizeof(*out));
	if (hs->msg_type != CC_TLS_HS_CLIENT_HELLO && hs->msg_type != CC_TLS_HS_SERVER_HELLO)
		return CC_ENOTSUP;
	out->msg_type = hs->msg_type;
	cur_init(&c, hs->body.p, hs->body.len);
	if (cur_be16(&c, &out->legacy_version) || cur_bytes(&c, out->random, 32) ||
	    cur_u8(&c, &out->session_id_len))
		return CC_ESHORT;
	/* RFC 8446 §4.1.2: legacy_session_id<0..32>. */
	if (out->session_id_len > 32)
		return CC_EBAD;
	if (cur_bytes(&c, out->session_id, out->session_id_len))
		return CC_ESHORT;
	out->hello_retry = hs->msg_type == CC_TLS_HS_SERVER_HELLO &&
			   memcmp(out->random, hrr_random, 32) == 0;
	return CC_OK;
}

int cc_tls_hello(const uint8_t *p, size_t len, struct cc_tls_hello *out)
{
	struct cc_tls_record r;
	struct cc_tls_handshake hs;
	int rc;

	if ((rc = cc_tls_record(p, len, &r)) != CC_OK)
		return rc;
	if (r.type != CC_TLS_CT_HANDSHAKE)
		return CC_ENOTSUP;
	if ((rc = cc_tls_handshake(r.frag.p, r.frag.len, &hs)) != CC_OK)
		return rc;
	if (hs.body.len < hs.length)
		return CC_ENOTSUP;
	return hello_body(&hs, out);
}

int cc_dtls_hello(const uint8_t *p, size_t len, struct cc_tls_hello *out)
{
	struct cc_tls_record r;
	struct cc_tls_handshake hs;
	int rc;

	if ((rc = cc_dtls_record(p, len, &r)) != CC_OK)
		return rc;
	if (r.unified || r.type != CC_TLS_CT_HANDSHAKE)
		return CC_ENOTSUP;
	if ((rc = cc_dtls_handshake(r.frag.p, r.frag.len, &hs)) != CC_OK)
		return rc;
	if (hs.frag_offset != 0 || hs.frag_length != hs.length)
		return CC_ENOTSUP;
	return hello_body(&hs, out);
}

int cc_tls_handshake_start(const uint8_t *p, size_t len, int dtls)
{
	struct cc_tls_record r;
	struct cc_tls_handshake hs;
	struct cc_cur c;
	uint16_t body_version;
	int rc = dtls ? cc_dtls_record(p, len, &r) : cc_tls_record(p, len, &r);

	/* The header whole (hdr_len is set once it is), the fragment perhaps cut. */
	if ((rc != CC_OK && rc != CC_ESHORT) || !r.hdr_len || r.unified || r.type != CC_TLS_CT_HANDSHAKE)
		return 0;
	if (dtls ? r.epoch != 0 || (r.version != 0xFEFF && r.version != 0xFEFD) : r.version > 0x0304)
		return 0;
	/* The fragment, as much of it as is here. */
	cur_init(&c, p, len);
	if (cur_skip(&c, r.hdr_len))
		return 0;
	if (c.len > r.length)
		c.len = r.length;
	size_t hs_hdr = dtls ? CC_DTLS_HS_HDR_LEN : CC_TLS_HS_HDR_LEN;
	if (cur_left(&c) < hs_hdr + 2)
		return 0;
	rc = dtls ? cc_dtls_handshake(c.p, cur_left(&c), &hs) : cc_tls_handshake(c.p, cur_left(&c), &hs);
	if (rc != CC_OK && rc != CC_ESHORT)
		return 0;
	/* A Hello holds at least a version, a random and a session id's length; a HelloVerifyRequest a version and a cookie's. */
	if (hs.msg_type == CC_TLS_HS_HELLO_VERIFY_REQUEST ? !dtls || hs.length < 3
	    : (hs.msg_type != CC_TLS_HS_CLIENT_HELLO && hs.msg_type != CC_TLS_HS_SERVER_HELLO) || hs.length < 35)
		return 0;
	/* DTLS: the record holds the fragment (RFC 6347 §4.2.3). */
	if (dtls && hs.frag_length + hs_hdr > r.length)
		return 0;
	if (cur_skip(&c, hs_hdr) || cur_be16(&c, &body_version))
		return 0;
	return dtls ? body_version >> 8 == 0xFE : body_version >> 8 == 0x03;
}
