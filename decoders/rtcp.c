/*
 * rtcp.c - compound RTCP packets (RFC 3550 §6) and the feedback messages of
 * RFC 4585, RFC 5104, RFC 8888, transport-cc and REMB; the SRTCP trailer of
 * RFC 3711 §3.4.
 *
 * Every RTCP packet starts with the same 4 bytes (RFC 3550 §6.4.1):
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |V=2|P|    RC   |      PT       |             length            |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * "length" is the packet's size in 32-bit words minus one, so packets stack
 * back to back in one datagram (a compound packet).  Feedback messages put a
 * format (FMT) where RC was and continue with (RFC 4585 §6.1):
 *
 *    |                  SSRC of packet sender                        |
 *    |                  SSRC of media source                         |
 *    :            Feedback Control Information (FCI)                 :
 *
 * SRTCP appends after the (encrypted) compound packet (RFC 3711 §3.4):
 *
 *    |E|                         SRTCP index                         |
 *    ~                     SRTCP MKI (OPTIONAL)                      ~
 *    :                 authentication tag (RECOMMENDED)              :
 */
#include "decoders/rtcp.h"

#include <string.h>

void cc_rtcp_iter_init(struct cc_rtcp_iter *it, const uint8_t *p, size_t len)
{
	cur_init(&it->c, p, len);
}

int cc_rtcp_next(struct cc_rtcp_iter *it, struct cc_rtcp_pkt *pkt)
{
	struct cc_cur c, body;
	uint8_t b0, pad;

	if (cur_left(&it->c) == 0)
		return 0;
	memset(pkt, 0, sizeof(*pkt));
	c = it->c;
	if (cur_u8(&c, &b0) || cur_u8(&c, &pkt->pt) || cur_be16(&c, &pkt->length))
		return CC_ESHORT;
	pkt->version = b0 >> 6;
	pkt->padding = (b0 >> 5) & 1;
	pkt->count = b0 & 0x1F;
	if (pkt->version != 2)
		return CC_EBAD;
	if (cur_sub(&c, (size_t)pkt->length * 4, &body))
		return CC_ESHORT;
	pkt->raw.p = it->c.p;
	pkt->raw.len = 4 + (size_t)pkt->length * 4;
	if (pkt->padding) {
		/* RFC 3550 §6.4.1: the last octet counts the padding, itself
		 * included; it never reaches back into the header. */
		struct cc_cur last = body;

		if (body.len == 0 || cur_skip(&last, body.len - 1) || cur_u8(&last, &pad))
			return CC_EBAD;
		if (pad == 0 || pad > body.len)
			return CC_EBAD;
		body.len -= pad;
	}
	pkt->body.p = body.p;
	pkt->body.len = body.len;
	it->c = c;
	return 1;
}

int cc_rtcp_validate(const uint8_t *p, size_t len, int allow_rsize)
{
	struct cc_rtcp_iter it;
	struct cc_rtcp_pkt pkt;
	int rc, n = 0;

	cc_rtcp_iter_init(&it, p, len);
	while ((rc = cc_rtcp_next(&it, &pkt)) == 1) {
		/* RFC 3550 §6.1: a compound packet opens with SR or RR;
		 * RFC 5506 §3.1 lifts that for reduced-size RTCP. */
		if (n == 0 && !allow_rsize && pkt.pt != CC_RTCP_SR && pkt.pt != CC_RTCP_RR)
			return CC_EBAD;
		/* RFC 3550 §6.4.1: only the last packet may be padded. */
		if (pkt.padding && cur_left(&it.c) != 0)
			return CC_EBAD;
		n++;
	}
	if (rc < 0)
		return rc;
	return n > 0 ? CC_OK : CC_ESHORT;
}

int cc_rtcp_report(const struct cc_rtcp_pkt *pkt, struct cc_rtcp_report *out)
{
	struct cc_cur c;

	memset(out, 0, sizeof(*out));
	if (pkt->pt != CC_RTCP_SR && pkt->pt != CC_RTCP_RR)
		return CC_ENOTSUP;
	cur_init(&c, pkt->body.p, pkt->body.len);
	if (cur_be32(&c, &out->ssrc))
		return CC_ESHORT;
	if (pkt->pt == CC_RTCP_SR) {
		/* RFC 3550 §6.4.1: sender info, 20 bytes. */
		if (cur_be64(&c, &out->ntp) || cur_be32(&c, &out->rtp_ts) ||
		    cur_be32(&c, &out->packet_count) || cur_be32(&c, &out->octet_count))
			return CC_ESHORT;
		out->has_sender_info = 1;
	}
	out->rb_count = pkt->count;
	if (cur_ref(&c, (size_t)pkt->count * 24, &out->blocks))
		return CC_ESHORT;
	/* RFC 3550 §6.4.1: anything left is a profile-specific extension. */
	out->ext.p = c.p;
	out->ext.len = cur_left(&c);
	return CC_OK;
}

int cc_rtcp_report_block(const struct cc_rtcp_report *r, unsigned i, struct cc_rtcp_rb *out)
{
	struct cc_cur c;
	uint32_t lost;

	if (i >= r->rb_count)
		return CC_ENOTSUP;
	cur_init(&c, r->blocks.p, r->blocks.len);
	if (cur_skip(&c, (size_t)i * 24) || cur_be32(&c, &out->ssrc) ||
	    cur_u8(&c, &out->fraction_lost) || cur_be24(&c, &lost) ||
	    cur_be32(&c, &out->ext_highest_seq) || cur_be32(&c, &out->jitter) ||
	    cur_be32(&c, &out->lsr) || cur_be32(&c, &out->dlsr))
		return CC_ESHORT;
	/* RFC 3550 §6.4.1: cumulative lost is signed (duplicates push it
	 * below zero); sign-extend 24 bits without shifting into the sign. */
	out->cumulative_lost = (lost & 0x800000) ? (int32_t)lost - 0x1000000 : (int32_t)lost;
	return CC_OK;
}

int cc_rtcp_sdes_iter_init(struct cc_rtcp_sdes_iter *it, const struct cc_rtcp_pkt *pkt)
{
	memset(it, 0, sizeof(*it));
	if (pkt->pt != CC_RTCP_SDES)
		return CC_ENOTSUP;
	cur_init(&it->c, pkt->body.p, pkt->body.len);
	it->body_len = pkt->body.len;
	it->chunks_left = pkt->count;
	return CC_OK;
}

int cc_rtcp_sdes_next(struct cc_rtcp_sdes_iter *it, struct cc_rtcp_sdes_item *item)
{
	uint8_t type, len;

	for (;;) {
		if (!it->in_chunk) {
			if (it->chunks_left == 0)
				return 0;
			if (cur_be32(&it->c, &it->ssrc))
				return CC_ESHORT;
			it->chunks_left--;
			it->in_chunk = 1;
		}
		if (cur_u8(&it->c, &type))
			return CC_ESHORT;
		if (type == CC_SDES_END) {
			/* RFC 3550 §6.5: the item list ends with one or more
			 * null octets padding to the next 32-bit boundary. */
			size_t used = it->body_len - cur_left(&it->c);

			if (cur_pad4(&it->c, used))
				return CC_ESHORT;
			it->in_chunk = 0;
			continue;
		}
		if (cur_u8(&it->c, &len) || cur_ref(&it->c, len, &item->text))
			return CC_ESHORT;
		item->ssrc = it->ssrc;
		item->type = type;
		return 1;
	}
}

int cc_rtcp_sdes_cname(const struct cc_rtcp_pkt *pkt, struct cc_rtcp_sdes_item *item)
{
	struct cc_rtcp_sdes_iter it;
	int rc = cc_rtcp_sdes_iter_init(&it, pkt);

	if (rc)
		return rc;
	while ((rc = cc_rtcp_sdes_next(&it, item)) == 1)
		if (item->type == CC_SDES_CNAME)
			return CC_OK;
	return rc < 0 ? rc : CC_ENOTSUP;
}

int cc_rtcp_bye(const struct cc_rtcp_pkt *pkt, struct cc_rtcp_bye *out)
{
	struct cc_cur c;
	uint8_t rlen;

	memset(out, 0, sizeof(*out));
	if (pkt->pt != CC_RTCP_BYE)
		return CC_ENOTSUP;
	cur_init(&c, pkt->body.p, pkt->body.len);
	out->count = pkt->count;
	for (unsigned i = 0; i < out->count; i++)
		if (cur_be32(&c, &out->ssrc[i]))
			return CC_ESHORT;
	/* RFC 3550 §6.6: an optional length-prefixed reason follows. */
	if (cur_left(&c) == 0)
		return CC_OK;
	if (cur_u8(&c, &rlen) || cur_ref(&c, rlen, &out->reason))
		return CC_ESHORT;
	return CC_OK;
}

int cc_rtcp_app(const struct cc_rtcp_pkt *pkt, struct cc_rtcp_app *out)
{
	struct cc_cur c;

	memset(out, 0, sizeof(*out));
	if (pkt->pt != CC_RTCP_APP)
		return CC_ENOTSUP;
	cur_init(&c, pkt->body.p, pkt->body.len);
	out->subtype = pkt->count;
	if (cur_be32(&c, &out->ssrc) || cur_bytes(&c, out->name, 4))
		return CC_ESHORT;
	out->data.p = c.p;
	out->data.len = cur_left(&c);
	return CC_OK;
}

int cc_rtcp_fb(const struct cc_rtcp_pkt *pkt, struct cc_rtcp_fb *out)
{
	struct cc_cur c;

	memset(out, 0, sizeof(*out));
	if (pkt->pt != CC_RTCP_RTPFB && pkt->pt != CC_RTCP_PSFB)
		return CC_ENOTSUP;
	out->pt = pkt->pt;
	out->fmt = pkt->count;
	cur_init(&c, pkt->body.p, pkt->body.len);
	if (cur_be32(&c, &out->sender_ssrc) || cur_be32(&c, &out->media_ssrc))
		return CC_ESHORT;
	out->fci.p = c.p;
	out->fci.len = cur_left(&c);
	return CC_OK;
}

/* Position a cursor on FCI item i of a fixed size. */
static int fci_item(const struct cc_rtcp_fb *fb, unsigned i, size_t size, struct cc_cur *c)
{
	cur_init(c, fb->fci.p, fb->fci.len);
	if (i >= fb->fci.len / size)
		return CC_ENOTSUP;
	return cur_skip(c, (size_t)i * size) ? CC_ESHORT : CC_OK;
}

unsigned cc_rtcp_nack_count(const struct cc_rtcp_fb *fb)
{
	if (fb->pt != CC_RTCP_RTPFB || fb->fmt != CC_RTPFB_NACK)
		return 0;
	return (unsigned)(fb->fci.len / 4);
}

int cc_rtcp_nack_item(const struct cc_rtcp_fb *fb, unsigned i, uint16_t *pid, uint16_t *blp)
{
	struct cc_cur c;
	int rc;

	/* RFC 4585 §6.2.1: PID, then a bitmask of the 16 following losses. */
	if (fb->pt != CC_RTCP_RTPFB || fb->fmt != CC_RTPFB_NACK)
		return CC_ENOTSUP;
	if ((rc = fci_item(fb, i, 4, &c)) != CC_OK)
		return rc;
	return (cur_be16(&c, pid) || cur_be16(&c, blp)) ? CC_ESHORT : CC_OK;
}

unsigned cc_rtcp_fir_count(const struct cc_rtcp_fb *fb)
{
	if (fb->pt != CC_RTCP_PSFB || fb->fmt != CC_PSFB_FIR)
		return 0;
	return (unsigned)(fb->fci.len / 8);
}

int cc_rtcp_fir_item(const struct cc_rtcp_fb *fb, unsigned i, uint32_t *ssrc, uint8_t *seq)
{
	struct cc_cur c;
	int rc;

	/* RFC 5104 §4.3.1.1: SSRC, seq nr, 24 reserved bits.  The header's
	 * media SSRC is unused (zero); the targets are in the FCI. */
	if (fb->pt != CC_RTCP_PSFB || fb->fmt != CC_PSFB_FIR)
		return CC_ENOTSUP;
	if ((rc = fci_item(fb, i, 8, &c)) != CC_OK)
		return rc;
	return (cur_be32(&c, ssrc) || cur_u8(&c, seq)) ? CC_ESHORT : CC_OK;
}

int cc_rtcp_remb(const struct cc_rtcp_fb *fb, struct cc_rtcp_remb *out)
{
	struct cc_cur c;
	uint8_t id[4];
	uint32_t word;

	memset(out, 0, sizeof(*out));
	if (fb->pt != CC_RTCP_PSFB || fb->fmt != CC_PSFB_AFB)
		return CC_ENOTSUP;
	cur_init(&c, fb->fci.p, fb->fci.len);
	if (cur_bytes(&c, id, 4))
		return CC_ESHORT;
	/* RFC 4585 §6.4: AFB content is application-defined; REMB is the one
	 * tagged with the ASCII "REMB" (draft-alvestrand-rmcat-remb §2.2). */
	if (memcmp(id, "REMB", 4) != 0)
		return CC_ENOTSUP;
	if (cur_be32(&c, &word))
		return CC_ESHORT;
	out->num_ssrc = (uint8_t)(word >> 24);
	out->exp = (word >> 18) & 0x3F;
	out->mantissa = word & 0x3FFFF;
	/* A 6-bit exponent on an 18-bit mantissa can overflow 64 bits. */
	if (out->mantissa != 0 && out->exp > 46)
		out->bitrate = UINT64_MAX;
	else
		out->bitrate = (uint64_t)out->mantissa << out->exp;
	if (cur_ref(&c, (size_t)out->num_ssrc * 4, &out->ssrcs))
		return CC_ESHORT;
	return CC_OK;
}

int cc_rtcp_remb_ssrc(const struct cc_rtcp_remb *r, unsigned i, uint32_t *ssrc)
{
	struct cc_cur c;

	if (i >= r->num_ssrc)
		return CC_ENOTSUP;
	cur_init(&c, r->ssrcs.p, r->ssrcs.len);
	return (cur_skip(&c, (size_t)i * 4) || cur_be32(&c, ssrc)) ? CC_ESHORT : CC_OK;
}

int cc_rtcp_tcc(const struct cc_rtcp_fb *fb, struct cc_rtcp_tcc *out)
{
	struct cc_cur c;
	uint32_t ref;

	memset(out, 0, sizeof(*out));
	if (fb->pt != CC_RTCP_RTPFB || fb->fmt != CC_RTPFB_TCC)
		return CC_ENOTSUP;
	cur_init(&c, fb->fci.p, fb->fci.len);
	if (cur_be16(&c, &out->base_seq) || cur_be16(&c, &out->status_count) ||
	    cur_be24(&c, &ref) || cur_u8(&c, &out->fb_count))
		return CC_ESHORT;
	/* transport-wide-cc-extensions-01 §3.1: reference time is signed. */
	out->ref_time = (ref & 0x800000) ? (int32_t)ref - 0x1000000 : (int32_t)ref;
	out->chunks.p = c.p;
	out->chunks.len = cur_left(&c);
	return CC_OK;
}

int cc_rtcp_ccfb(const struct cc_rtcp_pkt *pkt, struct cc_rtcp_ccfb *out)
{
	struct cc_cur c, ts;

	memset(out, 0, sizeof(*out));
	if (pkt->pt != CC_RTCP_RTPFB || pkt->count != CC_RTPFB_CCFB)
		return CC_ENOTSUP;
	cur_init(&c, pkt->body.p, pkt->body.len);
	/* RFC 8888 §3.1: sender SSRC, per-stream blocks, and the Report
	 * Timestamp in the last word; there is no media-source SSRC. */
	if (cur_be32(&c, &out->sender_ssrc) || cur_left(&c) < 4)
		return CC_ESHORT;
	if (cur_sub(&c, cur_left(&c) - 4, &out->blocks))
		return CC_ESHORT;
	ts = c;
	return cur_be32(&ts, &out->report_ts) ? CC_ESHORT : CC_OK;
}

int cc_rtcp_ccfb_next(struct cc_rtcp_ccfb *cf, struct cc_rtcp_ccfb_block *b)
{
	if (cur_left(&cf->blocks) == 0)
		return 0;
	if (cur_be32(&cf->blocks, &b->ssrc) || cur_be16(&cf->blocks, &b->begin_seq) ||
	    cur_be16(&cf->blocks, &b->num_reports))
		return CC_ESHORT;
	/* RFC 8888 §3.1: 16-bit metric blocks, padded to 32 bits when odd. */
	if (cur_ref(&cf->blocks, (size_t)b->num_reports * 2, &b->metrics) ||
	    cur_pad4(&cf->blocks, b->metrics.len))
		return CC_ESHORT;
	return 1;
}

int cc_srtcp_trailer(const uint8_t *p, size_t len, size_t mki_len, size_t tag_len,
		     struct cc_srtcp_trailer *out)
{
	struct cc_cur c;
	uint32_t word;

	memset(out, 0, sizeof(*out));
	/* RFC 3711 §3.4: the first 8 bytes (header and sender SSRC) are never
	 * encrypted, then E||index, MKI, tag. */
	if (mki_len > len || tag_len > len - mki_len || len - mki_len - tag_len < 8 + 4)
		return CC_ESHORT;
	out->rtcp_len = len - mki_len - tag_len - 4;
	cur_init(&c, p, len);
	if (cur_skip(&c, out->rtcp_len) || cur_be32(&c, &word) ||
	    cur_ref(&c, mki_len, &out->mki) || cur_ref(&c, tag_len, &out->tag))
		return CC_ESHORT;
	out->encrypted = word >> 31;
	out->index = word & 0x7FFFFFFF;
	return CC_OK;
}
