/*
 * rtppayload.c - one RTP payload of VP8 (RFC 7741), H.264 (RFC 6184) or Opus (RFC 7587).
 *
 * VP8 payload descriptor, RFC 7741 §4.2:
 *
 *        0 1 2 3 4 5 6 7
 *       +-+-+-+-+-+-+-+-+
 *       |X|R|N|S|R| PID |   required
 *       +-+-+-+-+-+-+-+-+
 *    X: |I|L|T|K| RSV   |   present when X
 *       +-+-+-+-+-+-+-+-+
 *    I: |M| PictureID   |   present when I; a second byte when M
 *       +-+-+-+-+-+-+-+-+
 *    L: |   TL0PICIDX   |   present when L
 *       +-+-+-+-+-+-+-+-+
 *  T/K: |TID|Y| KEYIDX  |   present when T or K
 *       +-+-+-+-+-+-+-+-+
 *
 * H.264 payload header, RFC 6184 §5.3: |F|NRI|Type|, the NAL unit header's own layout; types
 * 24-29 are the aggregation and fragmentation units of §5.7 and §5.8.
 */
#include "decoders/rtppayload.h"

int cc_vp8_desc_parse(const uint8_t *p, size_t len, struct cc_vp8_desc *out)
{
	struct cc_cur c;
	uint8_t b, x;

	cur_init(&c, p, len);
	memset(out, 0, sizeof *out);
	if (cur_u8(&c, &b) < 0)
		return CC_ESHORT;
	out->n = (b >> 5) & 1;
	out->s = (b >> 4) & 1;
	out->pid = b & 7;
	if (b & 0x80) {
		if (cur_u8(&c, &x) < 0)
			return CC_ESHORT;
		out->has_picid = (x >> 7) & 1;
		out->has_tl0 = (x >> 6) & 1;
		out->has_tid = (x >> 5) & 1;
		out->has_keyidx = (x >> 4) & 1;
		if (out->has_picid) {
			if (cur_u8(&c, &b) < 0)
				return CC_ESHORT;
			out->picid = b & 0x7f;
			/* M: a 15-bit PictureID in two bytes (§4.2). */
			if (b & 0x80) {
				uint8_t lo;

				if (cur_u8(&c, &lo) < 0)
					return CC_ESHORT;
				out->picid = (uint16_t)(out->picid << 8 | lo);
			}
		}
		if (out->has_tl0 && cur_u8(&c, &out->tl0picidx) < 0)
			return CC_ESHORT;
		/* T and K share one byte; either one brings it (§4.2). */
		if (out->has_tid || out->has_keyidx) {
			if (cur_u8(&c, &b) < 0)
				return CC_ESHORT;
			out->tid = b >> 6;
			out->y = (b >> 5) & 1;
			out->keyidx = b & 0x1f;
		}
	}
	out->len = len - cur_left(&c);
	return CC_OK;
}

int cc_vp8_frame_parse(const uint8_t *p, size_t len, struct cc_vp8_frame *out)
{
	struct cc_cur c;
	uint8_t b[3], sc[3];
	uint16_t w, h;

	cur_init(&c, p, len);
	memset(out, 0, sizeof *out);
	if (cur_bytes(&c, b, 3) < 0)
		return CC_ESHORT;
	/* §4.3: |Size0|H|VER|P|, P = 0 marks a key frame (an inverse flag). */
	out->keyframe = !(b[0] & 1);
	out->version = (b[0] >> 1) & 7;
	out->show = (b[0] >> 4) & 1;
	out->first_part_size = (uint32_t)(b[0] >> 5) + 8u * b[1] + 2048u * b[2];
	if (!out->keyframe)
		return CC_OK;
	/* RFC 6386 §9.1: a key frame's start code, then 14-bit width and height with 2-bit scales. */
	if (cur_bytes(&c, sc, 3) < 0)
		return CC_ESHORT;
	if (sc[0] != 0x9d || sc[1] != 0x01 || sc[2] != 0x2a)
		return CC_EBAD;
	if (cur_bytes(&c, b, 2) < 0)
		return CC_ESHORT;
	w = (uint16_t)(b[0] | b[1] << 8);
	if (cur_bytes(&c, b, 2) < 0)
		return CC_ESHORT;
	h = (uint16_t)(b[0] | b[1] << 8);
	out->width = w & 0x3fff;
	out->hscale = (uint8_t)(w >> 14);
	out->height = h & 0x3fff;
	out->vscale = (uint8_t)(h >> 14);
	return CC_OK;
}

int cc_h264_pkt_parse(const uint8_t *p, size_t len, struct cc_h264_pkt *out)
{
	struct cc_cur c;
	uint8_t b, fu;

	cur_init(&c, p, len);
	memset(out, 0, sizeof *out);
	if (cur_u8(&c, &b) < 0)
		return CC_ESHORT;
	/* §5.3: F = 1 means the NAL unit may contain bit errors or syntax violations. */
	if (b & 0x80)
		return CC_EBAD;
	out->nri = (b >> 5) & 3;
	out->type = b & 0x1f;
	switch (out->type) {
	case 0:
	case 30:
	case 31:
	case CC_H264_STAP_B:
	case CC_H264_MTAP16:
	case CC_H264_MTAP24:
	case CC_H264_FU_B:
		/* Reserved types (§5.4), and the interleaved mode's units, which WebRTC never sends. */
		return CC_ENOTSUP;
	case CC_H264_FU_A:
		if (cur_u8(&c, &fu) < 0)
			return CC_ESHORT;
		out->fu_start = fu >> 7;
		out->fu_end = (fu >> 6) & 1;
		out->fu_type = fu & 0x1f;
		/* §5.8: start and end in one FU header is forbidden, and so is an empty fragment. */
		if ((out->fu_start && out->fu_end) || cur_left(&c) == 0)
			return CC_EBAD;
		out->fu_nal_hdr = (uint8_t)((b & 0xe0) | out->fu_type);
		cur_ref(&c, cur_left(&c), &out->fu_data);
		return CC_OK;
	default:
		return CC_OK;
	}
}

int cc_h264_stap_init(struct cc_h264_stap *it, const uint8_t *p, size_t len)
{
	cur_init(&it->c, p, len);
	/* Skip the STAP-A NAL header itself (§5.7.1). */
	return cur_skip(&it->c, 1) < 0 ? CC_ESHORT : CC_OK;
}

int cc_h264_stap_next(struct cc_h264_stap *it, struct cc_bytes *nal)
{
	struct cc_cur c = it->c;
	uint16_t size;

	if (cur_left(&c) == 0)
		return 0;
	if (cur_be16(&c, &size) < 0 || size == 0 || cur_ref(&c, size, nal) < 0)
		return CC_ESHORT;
	it->c = c;
	return 1;
}

/* RFC 6716 §3.1 table 2: the frame size of each configuration, in 48 kHz samples. */
static uint32_t opus_frame_samples(uint8_t config)
{
	static const uint32_t silk[4] = { 480, 960, 1920, 2880 };
	static const uint32_t hybrid[2] = { 480, 960 };
	static const uint32_t celt[4] = { 120, 240, 480, 960 };

	if (config < 12)
		return silk[config & 3];
	if (config < 16)
		return hybrid[config & 1];
	return celt[config & 3];
}

int cc_opus_packet(const uint8_t *p, size_t len, uint32_t *samples, uint8_t *stereo)
{
	struct cc_cur c;
	uint8_t toc, fc;
	uint32_t frames, n;

	cur_init(&c, p, len);
	if (cur_u8(&c, &toc) < 0)
		return CC_ESHORT;
	*stereo = (toc >> 2) & 1;
	switch (toc & 3) {
	case 0:
		frames = 1;
		break;
	case 1:
	case 2:
		frames = 2;
		break;
	default:
		/* §3.2.5: code 3 counts its frames in the next byte; zero frames is malformed. */
		if (cur_u8(&c, &fc) < 0)
			return CC_ESHORT;
		frames = fc & 0x3f;
		if (frames == 0)
			return CC_EBAD;
		break;
	}
	n = frames * opus_frame_samples(toc >> 3);
	/* §3.4 [R5]: at most 120 ms of audio in one packet. */
	if (n > 5760)
		return CC_EBAD;
	*samples = n;
	return CC_OK;
}
