/*
 * stun.c - STUN messages (RFC 8489) with the attributes TURN (RFC 8656) and
 * ICE (RFC 8445) add, TURN ChannelData, and TURN-over-TCP framing.
 *
 * Header (RFC 8489 §5):
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |0 0|     STUN Message Type     |         Message Length        |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                         Magic Cookie                          |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                     Transaction ID (96 bits)                  |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Attributes follow as Type(16) Length(16) Value, the value padded to a
 * multiple of 4 bytes; Length excludes the padding (RFC 8489 §14).
 *
 * TURN ChannelData (RFC 8656 §12.4) shares the port:
 *
 *    |         Channel Number        |            Length             |
 *    /                       Application Data                        /
 */
#include "decoders/stun.h"

#include <netinet/in.h>
#include <string.h>

#include "decoders/crc.h"

/* RFC 8489 §5: class bits C1 C0 sit at bits 8 and 4 of the type, the method around them. */
static void split_type(unsigned t, uint16_t *method, uint8_t *cls)
{
	*cls = (uint8_t)(((t >> 7) & 2) | ((t >> 4) & 1));
	*method = (uint16_t)((t & 0x000F) | ((t >> 1) & 0x0070) | ((t >> 2) & 0x0F80));
}

int cc_stun_header(const uint8_t *p, size_t len, struct cc_stun_hdr *out)
{
	struct cc_cur c;
	uint32_t cookie;

	cur_init(&c, p, len);
	if (cur_be16(&c, &out->type) || cur_be16(&c, &out->length) ||
	    cur_be32(&c, &cookie) || cur_bytes(&c, out->txid, sizeof(out->txid)))
		return CC_ESHORT;
	/* RFC 8489 §5: the two most significant bits are zero. */
	if (out->type & 0xC000)
		return CC_EBAD;
	/* RFC 8489 §6: without the cookie it is RFC 3489 STUN or not STUN. */
	if (cookie != CC_STUN_MAGIC_COOKIE)
		return CC_EBAD;
	/* RFC 8489 §5: attributes are padded, so the length is too. */
	if (out->length & 3)
		return CC_EBAD;
	if (cur_left(&c) < out->length)
		return CC_ESHORT;

	split_type(out->type, &out->method, &out->cls);
	return CC_OK;
}

int cc_stun_peek(const uint8_t *p, size_t len, uint16_t *method, uint8_t *cls)
{
	struct cc_cur c;
	uint16_t type;
	uint32_t cookie;

	cur_init(&c, p, len);
	if (cur_be16(&c, &type) || cur_skip(&c, 2) || cur_be32(&c, &cookie))
		return -1;
	/* RFC 8489 §5, §6: the two top bits zero, then the cookie. */
	if ((type & 0xC000) || cookie != CC_STUN_MAGIC_COOKIE)
		return -1;
	split_type(type, method, cls);
	return 0;
}

int cc_stun_iter_init(struct cc_stun_iter *it, const uint8_t *p, size_t len)
{
	struct cc_stun_hdr h;
	int rc = cc_stun_header(p, len, &h);

	if (rc)
		return rc;
	it->msg = p;
	cur_init(&it->c, p + CC_STUN_HDR_LEN, h.length);
	return CC_OK;
}

int cc_stun_iter_next(struct cc_stun_iter *it, struct cc_stun_attr *a)
{
	struct cc_bytes v;

	if (cur_left(&it->c) == 0)
		return 0;
	a->off = (size_t)(it->c.p - it->msg);
	if (cur_be16(&it->c, &a->type) || cur_be16(&it->c, &a->len))
		return CC_ESHORT;
	/* RFC 8489 §14: padding is always present since Length is 4-aligned. */
	if (cur_ref(&it->c, a->len, &v) || cur_pad4(&it->c, a->len))
		return CC_ESHORT;
	a->val = v.p;
	return 1;
}

static int is_xor_addr(uint16_t type)
{
	return type == CC_STUN_A_XOR_MAPPED_ADDRESS ||
	       type == CC_STUN_A_XOR_PEER_ADDRESS ||
	       type == CC_STUN_A_XOR_RELAYED_ADDRESS;
}

int cc_stun_attr_addr(const struct cc_stun_attr *a, const struct cc_stun_hdr *hdr,
		      struct cc_stun_addr *out)
{
	struct cc_cur c;
	uint8_t reserved, family, mask[16];
	size_t alen;
	int xored = is_xor_addr(a->type);

	if (!xored && a->type != CC_STUN_A_MAPPED_ADDRESS &&
	    a->type != CC_STUN_A_ALTERNATE_SERVER)
		return CC_ENOTSUP;

	cur_init(&c, a->val, a->len);
	if (cur_u8(&c, &reserved) || cur_u8(&c, &family) || cur_be16(&c, &out->port))
		return CC_ESHORT;
	/* RFC 8489 §14.1: family 0x01 is IPv4, 0x02 IPv6, nothing else. */
	if (family == 0x01) {
		out->family = AF_INET;
		alen = 4;
	} else if (family == 0x02) {
		out->family = AF_INET6;
		alen = 16;
	} else {
		return CC_EBAD;
	}
	memset(out->addr, 0, sizeof(out->addr));
	if (cur_bytes(&c, out->addr, alen))
		return CC_ESHORT;
	if (!xored)
		return CC_OK;

	/*
	 * RFC 8489 §14.2: the port is XORed with the cookie's top 16 bits, the
	 * address with the cookie followed (for IPv6) by the transaction ID.
	 */
	mask[0] = 0x21;
	mask[1] = 0x12;
	mask[2] = 0xA4;
	mask[3] = 0x42;
	memcpy(mask + 4, hdr->txid, sizeof(hdr->txid));
	out->port ^= (uint16_t)(CC_STUN_MAGIC_COOKIE >> 16);
	for (size_t i = 0; i < alen; i++)
		out->addr[i] ^= mask[i];
	return CC_OK;
}

int cc_stun_attr_error(const struct cc_stun_attr *a, uint16_t *code,
		       struct cc_bytes *reason)
{
	struct cc_cur c;
	uint16_t reserved;
	uint8_t cls, number;

	cur_init(&c, a->val, a->len);
	if (cur_be16(&c, &reserved) || cur_u8(&c, &cls) || cur_u8(&c, &number))
		return CC_ESHORT;
	/* RFC 8489 §14.8: class is 3..6 in the low 3 bits, number 0..99. */
	cls &= 0x07;
	if (cls < 3 || cls > 6 || number > 99)
		return CC_EBAD;
	*code = (uint16_t)(cls * 100 + number);
	reason->p = c.p;
	reason->len = cur_left(&c);
	return CC_OK;
}

static int attr_be32(const struct cc_stun_attr *a, uint32_t *v)
{
	struct cc_cur c;

	cur_init(&c, a->val, a->len);
	if (a->len != 4)
		return CC_EBAD;
	return cur_be32(&c, v) ? CC_ESHORT : CC_OK;
}

static int attr_be64(const struct cc_stun_attr *a, uint64_t *v)
{
	struct cc_cur c;

	cur_init(&c, a->val, a->len);
	if (a->len != 8)
		return CC_EBAD;
	return cur_be64(&c, v) ? CC_ESHORT : CC_OK;
}

/* Record a byte-string attribute's first occurrence. */
static void take_bytes(struct cc_stun_msg *m, uint32_t bit, struct cc_bytes *dst,
		       const struct cc_stun_attr *a)
{
	if (m->has & bit)
		return;
	m->has |= bit;
	dst->p = a->val;
	dst->len = a->len;
}

static int take_addr(struct cc_stun_msg *m, uint32_t bit, struct cc_stun_addr *dst,
		     const struct cc_stun_attr *a)
{
	int rc;

	if (m->has & bit)
		return CC_OK;
	rc = cc_stun_attr_addr(a, &m->hdr, dst);
	if (rc == CC_OK)
		m->has |= bit;
	return rc;
}

static int take_attr(struct cc_stun_msg *m, const struct cc_stun_attr *a)
{
	uint32_t v32;
	int rc = CC_OK;

	switch (a->type) {
	case CC_STUN_A_MAPPED_ADDRESS:
		return take_addr(m, CC_STUN_HAS_MAPPED, &m->mapped, a);
	case CC_STUN_A_XOR_MAPPED_ADDRESS:
		return take_addr(m, CC_STUN_HAS_XOR_MAPPED, &m->xor_mapped, a);
	case CC_STUN_A_XOR_PEER_ADDRESS:
		/* CreatePermission may list several peers; the first is kept. */
		return take_addr(m, CC_STUN_HAS_XOR_PEER, &m->xor_peer, a);
	case CC_STUN_A_XOR_RELAYED_ADDRESS:
		return take_addr(m, CC_STUN_HAS_XOR_RELAYED, &m->xor_relayed, a);
	case CC_STUN_A_ERROR_CODE:
		if (m->has & CC_STUN_HAS_ERROR_CODE)
			return CC_OK;
		rc = cc_stun_attr_error(a, &m->error_code, &m->error_reason);
		if (rc == CC_OK)
			m->has |= CC_STUN_HAS_ERROR_CODE;
		return rc;
	case CC_STUN_A_USERNAME:
		take_bytes(m, CC_STUN_HAS_USERNAME, &m->username, a);
		return CC_OK;
	case CC_STUN_A_REALM:
		take_bytes(m, CC_STUN_HAS_REALM, &m->realm, a);
		return CC_OK;
	case CC_STUN_A_NONCE:
		take_bytes(m, CC_STUN_HAS_NONCE, &m->nonce, a);
		return CC_OK;
	case CC_STUN_A_SOFTWARE:
		take_bytes(m, CC_STUN_HAS_SOFTWARE, &m->software, a);
		return CC_OK;
	case CC_STUN_A_DATA:
		take_bytes(m, CC_STUN_HAS_DATA, &m->data, a);
		return CC_OK;
	case CC_STUN_A_PRIORITY:
		rc = attr_be32(a, &m->priority);
		m->has |= rc == CC_OK ? CC_STUN_HAS_PRIORITY : 0;
		return rc;
	case CC_STUN_A_LIFETIME:
		rc = attr_be32(a, &m->lifetime);
		m->has |= rc == CC_OK ? CC_STUN_HAS_LIFETIME : 0;
		return rc;
	case CC_STUN_A_ICE_CONTROLLING:
		rc = attr_be64(a, &m->tiebreaker);
		m->has |= rc == CC_OK ? CC_STUN_HAS_ICE_CONTROLLING : 0;
		return rc;
	case CC_STUN_A_ICE_CONTROLLED:
		rc = attr_be64(a, &m->tiebreaker);
		m->has |= rc == CC_OK ? CC_STUN_HAS_ICE_CONTROLLED : 0;
		return rc;
	case CC_STUN_A_USE_CANDIDATE:
		/* RFC 8445 §16.1: a flag with an empty value. */
		if (a->len != 0)
			return CC_EBAD;
		m->has |= CC_STUN_HAS_USE_CANDIDATE;
		return CC_OK;
	case CC_STUN_A_CHANNEL_NUMBER:
		/* RFC 8656 §18.1: channel number, then 16 bits RFFU. */
		rc = attr_be32(a, &v32);
		if (rc == CC_OK) {
			m->channel = (uint16_t)(v32 >> 16);
			m->has |= CC_STUN_HAS_CHANNEL;
		}
		return rc;
	default:
		/* Unknown comprehension-optional attributes are simply skipped. */
		return CC_OK;
	}
}

int cc_stun_parse(const uint8_t *p, size_t len, struct cc_stun_msg *out)
{
	struct cc_stun_iter it;
	struct cc_stun_attr a;
	int rc, after_integrity = 0, after_fingerprint = 0;

	memset(out, 0, sizeof(*out));
	rc = cc_stun_header(p, len, &out->hdr);
	if (rc)
		return rc;
	rc = cc_stun_iter_init(&it, p, len);
	if (rc)
		return rc;

	while ((rc = cc_stun_iter_next(&it, &a)) == 1) {
		/* RFC 8489 §14.7: FINGERPRINT is the last attribute. */
		if (after_fingerprint)
			return CC_EBAD;
		if (a.type == CC_STUN_A_FINGERPRINT) {
			rc = attr_be32(&a, &out->fingerprint);
			if (rc)
				return rc;
			out->has |= CC_STUN_HAS_FINGERPRINT;
			/*
			 * The CRC covers everything before this attribute, with
			 * the header Length already counting the FINGERPRINT.
			 */
			if ((cc_crc32(0, p, a.off) ^ CC_STUN_FINGERPRINT_XOR) == out->fingerprint)
				out->has |= CC_STUN_HAS_FINGERPRINT_OK;
			after_fingerprint = 1;
			continue;
		}
		if (a.type == CC_STUN_A_MESSAGE_INTEGRITY ||
		    a.type == CC_STUN_A_MESSAGE_INTEGRITY_SHA256) {
			/* RFC 8489 §14.5, §14.6: HMAC-SHA1 is 20 bytes,
			 * the SHA-256 one 16..32 in steps of 4. */
			if (a.type == CC_STUN_A_MESSAGE_INTEGRITY ? a.len != 20 :
			    (a.len < 16 || a.len > 32 || (a.len & 3)))
				return CC_EBAD;
			if (!after_integrity)
				out->integrity_off = a.off;
			out->has |= a.type == CC_STUN_A_MESSAGE_INTEGRITY ?
				    CC_STUN_HAS_INTEGRITY : CC_STUN_HAS_INTEGRITY_SHA256;
			after_integrity = 1;
			continue;
		}
		/*
		 * RFC 8489 §14.5: anything after MESSAGE-INTEGRITY, except
		 * FINGERPRINT and the SHA-256 integrity, is not authenticated
		 * and must be ignored.
		 */
		if (after_integrity)
			continue;
		rc = take_attr(out, &a);
		if (rc)
			return rc;
	}
	return rc;
}

int cc_stun_check_fingerprint(const uint8_t *p, size_t len)
{
	struct cc_stun_msg m;
	int rc = cc_stun_parse(p, len, &m);

	if (rc)
		return rc;
	if (!(m.has & CC_STUN_HAS_FINGERPRINT))
		return CC_ENOTSUP;
	return (m.has & CC_STUN_HAS_FINGERPRINT_OK) ? CC_OK : CC_EBAD;
}

int cc_turn_channel_data(const uint8_t *p, size_t len, struct cc_turn_channel *out)
{
	struct cc_cur c;
	uint16_t dlen;

	cur_init(&c, p, len);
	if (cur_be16(&c, &out->channel) || cur_be16(&c, &dlen))
		return CC_ESHORT;
	/*
	 * RFC 8656 §12 narrowed channel numbers to 0x4000-0x4FFF, but RFC 5766 §11 allowed up to
	 * 0x7FFF and servers still hand those out (coturn picks from the whole old range).
	 */
	if (out->channel < 0x4000 || out->channel > 0x7FFF)
		return CC_EBAD;
	/*
	 * RFC 8656 §12.5: over UDP the padding to 4 is optional, so a datagram
	 * may be up to 3 bytes longer than 4 + Length; take Length as truth.
	 */
	if (cur_ref(&c, dlen, &out->data))
		return CC_ESHORT;
	return CC_OK;
}

int cc_turn_indication(const uint8_t *p, size_t len, struct cc_turn_ind *out)
{
	struct cc_stun_msg m;
	int rc = cc_stun_parse(p, len, &m);

	if (rc)
		return rc;
	if (m.hdr.cls != CC_STUN_INDICATION ||
	    (m.hdr.method != CC_STUN_SEND && m.hdr.method != CC_STUN_DATA))
		return CC_ENOTSUP;
	/* RFC 8656 §10.1, §11.4: both attributes are mandatory. */
	if (!(m.has & CC_STUN_HAS_XOR_PEER) || !(m.has & CC_STUN_HAS_DATA))
		return CC_EBAD;
	out->method = m.hdr.method;
	out->peer = m.xor_peer;
	out->data = m.data;
	return CC_OK;
}

int cc_turn_tcp_frame(const uint8_t *p, size_t len, size_t *frame_len)
{
	struct cc_cur c;
	uint16_t first, flen;
	size_t need;

	cur_init(&c, p, len);
	*frame_len = 4;
	if (cur_be16(&c, &first) || cur_be16(&c, &flen))
		return CC_ESHORT;

	if ((first & 0xC000) == 0) {
		/* STUN: Length is 4-aligned and excludes the 20-byte header. */
		if (flen & 3)
			return CC_EBAD;
		need = CC_STUN_HDR_LEN + (size_t)flen;
	} else if (first >= 0x4000 && first <= 0x7FFF) {   /* RFC 5766's range, see above */
		/* RFC 8656 §12.5: over a stream ChannelData is padded to 4. */
		need = 4 + (((size_t)flen + 3) & ~(size_t)3);
	} else {
		return CC_EBAD;
	}
	*frame_len = need;
	return len >= need ? CC_OK : CC_ESHORT;
}

socklen_t cc_stun_addr_to_sockaddr(const struct cc_stun_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in sin;

		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons(a->port);
		memcpy(&sin.sin_addr, a->addr, 4);
		memcpy(ss, &sin, sizeof(sin));
		return (socklen_t)sizeof(sin);
	}
	if (a->family == AF_INET6) {
		struct sockaddr_in6 sin6;

		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(a->port);
		memcpy(&sin6.sin6_addr, a->addr, 16);
		memcpy(ss, &sin6, sizeof(sin6));
		return (socklen_t)sizeof(sin6);
	}
	return 0;
}
