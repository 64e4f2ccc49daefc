/*
 * sctp.c - SCTP packets (RFC 9260), as WebRTC data channels carry them
 * inside DTLS (RFC 8261), and the DCEP messages that open those channels
 * (RFC 8832).
 *
 * Common header (RFC 9260 §3.1), then chunks to the end of the packet:
 *
 *     0                   1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |     Source Port Number        |     Destination Port Number   |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                      Verification Tag                         |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |                           Checksum                            |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *    |   Chunk Type  | Chunk  Flags  |        Chunk Length           |
 *    :                          Chunk Value                          :
 *
 * DATA chunk value (RFC 9260 §3.3.1): TSN(32) Stream(16) SSN(16) PPID(32)
 * user data.  I-DATA (RFC 8260 §2.1): TSN(32) Stream(16) reserved(16)
 * MID(32) PPID-or-FSN(32) user data.
 *
 * DATA_CHANNEL_OPEN (RFC 8832 §5.1):
 *
 *    |  Message Type |  Channel Type |            Priority           |
 *    |                    Reliability Parameter                      |
 *    |         Label Length          |       Protocol Length         |
 *    \                             Label                             /
 *    \                            Protocol                           /
 */
#include "decoders/sctp.h"

#include <string.h>

#include "decoders/crc.h"

int cc_sctp_header(const uint8_t *p, size_t len, struct cc_sctp_hdr *out)
{
	struct cc_cur c;

	memset(out, 0, sizeof(*out));
	cur_init(&c, p, len);
	if (cur_be16(&c, &out->src_port) || cur_be16(&c, &out->dst_port) ||
	    cur_be32(&c, &out->vtag) || cur_le32(&c, &out->checksum))
		return CC_ESHORT;
	out->chunks.p = c.p;
	out->chunks.len = cur_left(&c);
	return CC_OK;
}

int cc_sctp_iter_init(struct cc_sctp_iter *it, const uint8_t *p, size_t len)
{
	struct cc_sctp_hdr h;
	int rc = cc_sctp_header(p, len, &h);

	cur_init(&it->c, NULL, 0);
	if (rc)
		return rc;
	cur_init(&it->c, h.chunks.p, h.chunks.len);
	return CC_OK;
}

int cc_sctp_next(struct cc_sctp_iter *it, struct cc_sctp_chunk *ch)
{
	struct cc_cur c = it->c;

	if (cur_left(&c) == 0)
		return 0;
	if (cur_u8(&c, &ch->type) || cur_u8(&c, &ch->flags) || cur_be16(&c, &ch->length))
		return CC_ESHORT;
	/* RFC 9260 §3.2: the length covers the 4-byte chunk header. */
	if (ch->length < 4)
		return CC_EBAD;
	if (cur_ref(&c, (size_t)ch->length - 4, &ch->value))
		return CC_ESHORT;
	/*
	 * RFC 9260 §3.2: chunks are padded to 4 and the padding is not in the
	 * length.  A final chunk whose padding was cut off loses nothing we
	 * read, so it is accepted rather than failing the whole packet.
	 */
	if (cur_pad4(&c, ch->length))
		cur_init(&c, NULL, 0);
	it->c = c;
	return 1;
}

int cc_sctp_data(const struct cc_sctp_chunk *ch, struct cc_sctp_data *out)
{
	struct cc_cur c;
	uint16_t reserved;
	uint32_t ppid_fsn;

	memset(out, 0, sizeof(*out));
	if (ch->type != CC_SCTP_DATA && ch->type != CC_SCTP_I_DATA)
		return CC_ENOTSUP;
	out->i_data = ch->type == CC_SCTP_I_DATA;
	out->flags = ch->flags;
	cur_init(&c, ch->value.p, ch->value.len);
	if (cur_be32(&c, &out->tsn) || cur_be16(&c, &out->stream))
		return CC_ESHORT;
	if (!out->i_data) {
		if (cur_be16(&c, &out->ssn) || cur_be32(&c, &out->ppid))
			return CC_ESHORT;
	} else {
		if (cur_be16(&c, &reserved) || cur_be32(&c, &out->mid) ||
		    cur_be32(&c, &ppid_fsn))
			return CC_ESHORT;
		/* RFC 8260 §2.1: the first fragment carries the PPID (its FSN
		 * is implicitly 0); later ones carry the FSN in its place. */
		if (ch->flags & CC_SCTP_FLAG_B)
			out->ppid = ppid_fsn;
		else
			out->fsn = ppid_fsn;
	}
	/* RFC 9260 §6.2, RFC 8260 §2.1: a chunk without user data is a
	 * protocol violation. */
	if (cur_left(&c) == 0)
		return CC_EBAD;
	out->user_data.p = c.p;
	out->user_data.len = cur_left(&c);
	return CC_OK;
}

int cc_sctp_init(const struct cc_sctp_chunk *ch, struct cc_sctp_init *out)
{
	struct cc_cur c;

	memset(out, 0, sizeof(*out));
	if (ch->type != CC_SCTP_INIT && ch->type != CC_SCTP_INIT_ACK)
		return CC_ENOTSUP;
	cur_init(&c, ch->value.p, ch->value.len);
	if (cur_be32(&c, &out->initiate_tag) || cur_be32(&c, &out->a_rwnd) ||
	    cur_be16(&c, &out->num_outbound) || cur_be16(&c, &out->num_inbound) ||
	    cur_be32(&c, &out->initial_tsn))
		return CC_ESHORT;
	/* RFC 9260 §3.3.2, §3.3.3: a zero tag or zero stream count is invalid. */
	if (out->initiate_tag == 0 || out->num_outbound == 0 || out->num_inbound == 0)
		return CC_EBAD;
	out->params.p = c.p;
	out->params.len = cur_left(&c);
	return CC_OK;
}

void cc_sctp_param_iter_init(struct cc_sctp_param_iter *it, const struct cc_bytes *params)
{
	cur_init(&it->c, params->p, params->len);
}

int cc_sctp_param_next(struct cc_sctp_param_iter *it, struct cc_sctp_param *prm)
{
	struct cc_cur c = it->c;

	if (cur_left(&c) == 0)
		return 0;
	if (cur_be16(&c, &prm->type) || cur_be16(&c, &prm->length))
		return CC_ESHORT;
	/* RFC 9260 §3.2.1: TLV, length includes the header, padded to 4. */
	if (prm->length < 4)
		return CC_EBAD;
	if (cur_ref(&c, (size_t)prm->length - 4, &prm->value))
		return CC_ESHORT;
	if (cur_pad4(&c, prm->length))
		cur_init(&c, NULL, 0);
	it->c = c;
	return 1;
}

int cc_sctp_sack(const struct cc_sctp_chunk *ch, struct cc_sctp_sack *out)
{
	struct cc_cur c;

	memset(out, 0, sizeof(*out));
	if (ch->type != CC_SCTP_SACK)
		return CC_ENOTSUP;
	cur_init(&c, ch->value.p, ch->value.len);
	if (cur_be32(&c, &out->cum_tsn_ack) || cur_be32(&c, &out->a_rwnd) ||
	    cur_be16(&c, &out->num_gaps) || cur_be16(&c, &out->num_dups) ||
	    cur_ref(&c, (size_t)out->num_gaps * 4, &out->gaps) ||
	    cur_ref(&c, (size_t)out->num_dups * 4, &out->dups))
		return CC_ESHORT;
	return CC_OK;
}

int cc_sctp_sack_gap(const struct cc_sctp_sack *s, unsigned i, uint16_t *start, uint16_t *end)
{
	struct cc_cur c;

	if (i >= s->num_gaps)
		return CC_ENOTSUP;
	/* RFC 9260 §3.3.4: offsets relative to the cumulative TSN ack. */
	cur_init(&c, s->gaps.p, s->gaps.len);
	if (cur_skip(&c, (size_t)i * 4) || cur_be16(&c, start) || cur_be16(&c, end))
		return CC_ESHORT;
	return CC_OK;
}

int cc_sctp_sack_dup(const struct cc_sctp_sack *s, unsigned i, uint32_t *tsn)
{
	struct cc_cur c;

	if (i >= s->num_dups)
		return CC_ENOTSUP;
	cur_init(&c, s->dups.p, s->dups.len);
	return (cur_skip(&c, (size_t)i * 4) || cur_be32(&c, tsn)) ? CC_ESHORT : CC_OK;
}

int cc_sctp_shutdown(const struct cc_sctp_chunk *ch, uint32_t *cum_tsn_ack)
{
	struct cc_cur c;

	if (ch->type != CC_SCTP_SHUTDOWN)
		return CC_ENOTSUP;
	cur_init(&c, ch->value.p, ch->value.len);
	return cur_be32(&c, cum_tsn_ack) ? CC_ESHORT : CC_OK;
}

int cc_sctp_heartbeat(const struct cc_sctp_chunk *ch, struct cc_bytes *info)
{
	struct cc_sctp_param_iter it;
	struct cc_sctp_param prm;
	int rc;

	if (ch->type != CC_SCTP_HEARTBEAT && ch->type != CC_SCTP_HEARTBEAT_ACK)
		return CC_ENOTSUP;
	/* RFC 9260 §3.3.5: one Heartbeat Info parameter, type 1. */
	cc_sctp_param_iter_init(&it, &ch->value);
	rc = cc_sctp_param_next(&it, &prm);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return CC_ESHORT;
	if (prm.type != 1)
		return CC_EBAD;
	*info = prm.value;
	return CC_OK;
}

int cc_sctp_abort(const struct cc_sctp_chunk *ch, uint8_t *t_bit, struct cc_bytes *causes)
{
	if (ch->type != CC_SCTP_ABORT && ch->type != CC_SCTP_ERROR)
		return CC_ENOTSUP;
	/* RFC 9260 §3.3.7: T set means the sender used the peer's tag. */
	*t_bit = ch->type == CC_SCTP_ABORT ? (ch->flags & 1) : 0;
	*causes = ch->value;
	return CC_OK;
}

int cc_sctp_cookie_echo(const struct cc_sctp_chunk *ch, struct cc_bytes *cookie)
{
	if (ch->type != CC_SCTP_COOKIE_ECHO)
		return CC_ENOTSUP;
	*cookie = ch->value;
	return CC_OK;
}

int cc_sctp_forward_tsn(const struct cc_sctp_chunk *ch, struct cc_sctp_fwd_tsn *out)
{
	struct cc_cur c;
	size_t entry;

	memset(out, 0, sizeof(*out));
	if (ch->type != CC_SCTP_FORWARD_TSN && ch->type != CC_SCTP_I_FORWARD_TSN)
		return CC_ENOTSUP;
	/* RFC 3758 §3.2: (stream, SSN) pairs of 4 bytes; RFC 8260 §2.3:
	 * I-FORWARD-TSN uses (stream, reserved+U, MID) entries of 8. */
	out->i_forward = ch->type == CC_SCTP_I_FORWARD_TSN;
	entry = out->i_forward ? 8 : 4;
	cur_init(&c, ch->value.p, ch->value.len);
	if (cur_be32(&c, &out->new_cum_tsn))
		return CC_ESHORT;
	if (cur_left(&c) % entry)
		return CC_EBAD;
	out->num_streams = (unsigned)(cur_left(&c) / entry);
	out->streams.p = c.p;
	out->streams.len = cur_left(&c);
	return CC_OK;
}

int cc_dcep(const uint8_t *p, size_t len, struct cc_dcep *out)
{
	struct cc_cur c;
	uint16_t llen, plen;

	memset(out, 0, sizeof(*out));
	cur_init(&c, p, len);
	if (cur_u8(&c, &out->msg_type))
		return CC_ESHORT;
	/* RFC 8832 §5.2: DATA_CHANNEL_ACK is the type byte alone. */
	if (out->msg_type == CC_DCEP_ACK)
		return CC_OK;
	if (out->msg_type != CC_DCEP_OPEN)
		return CC_ENOTSUP;
	if (cur_u8(&c, &out->channel_type) || cur_be16(&c, &out->priority) ||
	    cur_be32(&c, &out->reliability) || cur_be16(&c, &llen) ||
	    cur_be16(&c, &plen) || cur_ref(&c, llen, &out->label) ||
	    cur_ref(&c, plen, &out->protocol))
		return CC_ESHORT;
	/* RFC 8832 §5.1: reliable channels send the parameter as zero, and
	 * receivers ignore it. */
	if ((out->channel_type & 0x7F) == CC_DCEP_RELIABLE)
		out->reliability = 0;
	return CC_OK;
}

uint32_t cc_sctp_checksum(const uint8_t *pkt, size_t len)
{
	static const uint8_t zero[4];
	uint32_t crc;

	/* RFC 9260 §6.8: computed with the checksum field set to zero; feed
	 * zeros in its place so the caller's packet needs no copy. */
	if (len < CC_SCTP_HDR_LEN)
		return cc_crc32c(0, pkt, len);
	crc = cc_crc32c(0, pkt, 8);
	crc = cc_crc32c(crc, zero, 4);
	return cc_crc32c(crc, pkt + CC_SCTP_HDR_LEN, len - CC_SCTP_HDR_LEN);
}

int cc_sctp_verify_checksum(const uint8_t *pkt, size_t len)
{
	struct cc_sctp_hdr h;
	int rc = cc_sctp_header(pkt, len, &h);

	if (rc)
		return rc;
	return cc_sctp_checksum(pkt, len) == h.checksum ? CC_OK : CC_EBAD;
}

int cc_sctp_set_checksum(uint8_t *pkt, size_t len)
{
	uint32_t crc;

	if (pkt == NULL || len < CC_SCTP_HDR_LEN)
		return CC_ESHORT;
	crc = cc_sctp_checksum(pkt, len);
	/* RFC 9260 appendix A: the reflected CRC goes out least significant
	 * byte first (what Linux writes as cpu_to_le32). */
	pkt[8] = (uint8_t)crc;
	pkt[9] = (uint8_t)(crc >> 8);
	pkt[10] = (uint8_t)(crc >> 16);
	pkt[11] = (uint8_t)(crc >> 24);
	return CC_OK;
}
