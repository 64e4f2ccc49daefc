/*
 * rtp.c - RTP packets (RFC 3550 §5.1), RFC 8285 header extensions and
 * RFC 4733 telephone events.
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |V=2|P|X|  CC   |M|     PT      |       sequence number         |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                           timestamp                           |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |           synchronization source (SSRC) identifier            |
 *    +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 *    |            contributing source (CSRC) identifiers             |
 *    |                             ....                              |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |      defined by profile       |           length              |  if X
 *    |                        header extension                       |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Extension elements (RFC 8285 §4.2, §4.3):
 *
 *    one-byte (0xBEDE):   | ID(4) | L(4) | data (L+1 bytes) |
 *    two-byte (0x100X):   | ID(8) | L(8) | data (L bytes)   |
 */
#include "decoders/rtp.h"

#include <string.h>

int cc_rtp_header(const uint8_t *p, size_t len, struct cc_rtp *out)
{
	struct cc_cur c;
	uint8_t b0, b1;
	uint16_t words;

	memset(out, 0, sizeof(*out));
	cur_init(&c, p, len);
	if (cur_u8(&c, &b0) || cur_u8(&c, &b1) || cur_be16(&c, &out->seq) ||
	    cur_be32(&c, &out->ts) || cur_be32(&c, &out->ssrc))
		return CC_ESHORT;
	out->version = b0 >> 6;
	out->padding = (b0 >> 5) & 1;
	out->extension = (b0 >> 4) & 1;
	out->cc = b0 & 0x0F;
	out->marker = b1 >> 7;
	out->pt = b1 & 0x7F;
	/* RFC 3550 §5.1: version 2; 0 and 1 are the vat and draft formats. */
	if (out->version != 2)
		return CC_EBAD;
	for (unsigned i = 0; i < out->cc; i++)
		if (cur_be32(&c, &out->csrc[i]))
			return CC_ESHORT;
	if (out->extension) {
		/* RFC 3550 §5.3.1: length counts 32-bit words after the header. */
		if (cur_be16(&c, &out->ext_profile) || cur_be16(&c, &words) ||
		    cur_ref(&c, (size_t)words * 4, &out->ext))
			return CC_ESHORT;
	}
	out->payload_off = len - cur_left(&c);
	out->payload_len = cur_left(&c);
	return CC_OK;
}

int cc_rtp_parse(const uint8_t *p, size_t len, struct cc_rtp *out)
{
	int rc = cc_rtp_header(p, len, out);

	if (rc || !out->padding)
		return rc;
	/*
	 * RFC 3550 §5.1: the last octet counts the padding, itself included,
	 * so it is at least 1 and cannot eat into the header.
	 */
	struct cc_cur c;
	uint8_t n;

	cur_init(&c, p + out->payload_off, out->payload_len);
	if (out->payload_len == 0 || cur_skip(&c, out->payload_len - 1) || cur_u8(&c, &n))
		return CC_EBAD;
	if (n == 0 || n > out->payload_len)
		return CC_EBAD;
	out->pad_len = n;
	out->payload_len -= n;
	return CC_OK;
}

int cc_rtp_ext_iter_init(struct cc_rtp_ext_iter *it, const struct cc_rtp *rtp)
{
	if (!rtp->extension)
		return CC_ENOTSUP;
	if (rtp->ext_profile == CC_RTP_EXT_ONE_BYTE)
		it->two_byte = 0;
	/* RFC 8285 §4.3: 0x100 in the top 12 bits, 4 "appbits" below. */
	else if ((rtp->ext_profile & 0xFFF0) == 0x1000)
		it->two_byte = 1;
	else
		return CC_ENOTSUP;
	cur_init(&it->c, rtp->ext.p, rtp->ext.len);
	return CC_OK;
}

int cc_rtp_ext_next(struct cc_rtp_ext_iter *it, struct cc_rtp_ext_elem *e)
{
	struct cc_bytes d;
	uint8_t b, l;

	for (;;) {
		if (cur_u8(&it->c, &b))
			return 0;
		/* RFC 8285 §4.2, §4.3: a zero byte is padding between elements. */
		if (b == 0)
			continue;
		if (!it->two_byte) {
			/* RFC 8285 §4.2: ID 15 stops processing the block. */
			if ((b >> 4) == 15) {
				it->c.len = 0;
				return 0;
			}
			e->id = b >> 4;
			e->len = (uint8_t)((b & 0x0F) + 1);
		} else {
			e->id = b;
			if (cur_u8(&it->c, &l))
				return CC_ESHORT;
			e->len = l;
		}
		if (cur_ref(&it->c, e->len, &d))
			return CC_ESHORT;
		e->data = d.p;
		return 1;
	}
}

int cc_rtp_ext_find(const struct cc_rtp *rtp, uint8_t id, struct cc_rtp_ext_elem *e)
{
	struct cc_rtp_ext_iter it;
	int rc = cc_rtp_ext_iter_init(&it, rtp);

	if (rc)
		return rc;
	while ((rc = cc_rtp_ext_next(&it, e)) == 1)
		if (e->id == id)
			return CC_OK;
	return rc < 0 ? rc : CC_ENOTSUP;
}

int cc_rtp_dtmf(const uint8_t *payload, size_t len, struct cc_dtmf *out)
{
	struct cc_cur c;
	uint8_t erv;

	/*
	 *    0                   1                   2                   3
	 *   |     event     |E|R| volume    |          duration             |
	 */
	cur_init(&c, payload, len);
	if (cur_u8(&c, &out->event) || cur_u8(&c, &erv) || cur_be16(&c, &out->duration))
		return CC_ESHORT;
	out->end = erv >> 7;
	/* RFC 4733 §2.3.4: the R bit is reserved and ignored on receipt. */
	out->volume = erv & 0x3F;
	return CC_OK;
}
