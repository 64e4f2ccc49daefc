/*
 * rtppayload.h - the RTP payload formats `clearcap extract` turns into files: VP8 (RFC 7741),
 * H.264 (RFC 6184) and Opus (RFC 7587, whose packets are RFC 6716's).
 *
 * Pure, like every decoder here: the caller's bytes in, a small struct out, nothing kept.  How
 * packets are put back together into frames is the extractor's business (tools/); what one
 * packet says is here.
 */
#ifndef CC_RTPPAYLOAD_H
#define CC_RTPPAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "decoders/cursor.h"

/* RFC 7741 §4.2 payload descriptor. */
struct cc_vp8_desc {
	uint8_t n;		/* non-reference frame */
	uint8_t s;		/* start of a VP8 partition */
	uint8_t pid;		/* partition index */
	uint8_t has_picid, has_tl0, has_tid, has_keyidx;
	uint16_t picid;		/* 7 or 15 bits */
	uint8_t tl0picidx;
	uint8_t tid, y, keyidx;
	size_t len;		/* descriptor bytes; the VP8 payload follows */
};

/* RFC 7741 §4.3 payload header (the first three bytes of a frame) and, for a key frame, the
 * RFC 6386 §9.1 start code and dimensions after it. */
struct cc_vp8_frame {
	uint8_t keyframe;
	uint8_t version;
	uint8_t show;
	uint32_t first_part_size;
	uint16_t width, height;	/* key frames only; 14 bits each */
	uint8_t hscale, vscale;
};

/* H.264 NAL unit types that matter for depacketization (RFC 6184 §5.4, ITU-T H.264 table 7-1). */
enum {
	CC_H264_NAL_SLICE = 1,
	CC_H264_NAL_IDR = 5,
	CC_H264_NAL_SEI = 6,
	CC_H264_NAL_SPS = 7,
	CC_H264_NAL_PPS = 8,
	CC_H264_STAP_A = 24,
	CC_H264_STAP_B = 25,
	CC_H264_MTAP16 = 26,
	CC_H264_MTAP24 = 27,
	CC_H264_FU_A = 28,
	CC_H264_FU_B = 29,
};

/* One RTP payload of packetization-mode 0 or 1 (single NAL unit, STAP-A, FU-A). */
struct cc_h264_pkt {
	uint8_t type;		/* the payload's NAL header type: 1-23 single NAL, 24 STAP-A, 28 FU-A */
	uint8_t nri;
	/* FU-A (§5.8): */
	uint8_t fu_start, fu_end;
	uint8_t fu_type;	/* the fragmented NAL unit's type */
	uint8_t fu_nal_hdr;	/* its NAL header, rebuilt from the FU indicator's F/NRI and the type */
	struct cc_bytes fu_data;	/* the fragment, without the two FU bytes */
};

/* Walks the NAL units of a STAP-A (§5.7.1). */
struct cc_h264_stap {
	struct cc_cur c;
};

/* Returns 0 or CC_ESHORT; the R bits are ignored, as §4.2 tells receivers to. */
int cc_vp8_desc_parse(const uint8_t *p, size_t len, struct cc_vp8_desc *out);

/* p is the VP8 payload of a packet with S=1 and PID=0.  CC_EBAD: a key frame without the
 * start code (not VP8, or not the start of a frame). */
int cc_vp8_frame_parse(const uint8_t *p, size_t len, struct cc_vp8_frame *out);

/* CC_EBAD for F=1 (§5.3: a NAL unit with errors), CC_ENOTSUP for STAP-B/MTAP/FU-B (interleaved
 * mode, never sent by WebRTC stacks) and types 0, 30, 31. */
int cc_h264_pkt_parse(const uint8_t *p, size_t len, struct cc_h264_pkt *out);

/* p, len: the whole STAP-A payload, its NAL header included.  next(): 1 with *nal, 0 at the
 * end, CC_ESHORT when a size runs past the payload or is zero. */
int cc_h264_stap_init(struct cc_h264_stap *it, const uint8_t *p, size_t len);
int cc_h264_stap_next(struct cc_h264_stap *it, struct cc_bytes *nal);

/* RFC 6716 §3.1-3.2: the samples at 48 kHz one Opus packet decodes to and whether its TOC says
 * stereo.  CC_EBAD for what §3.4 calls malformed (a code 3 packet without frames, more than
 * 120 ms); CC_ESHORT for an empty payload. */
int cc_opus_packet(const uint8_t *p, size_t len, uint32_t *samples, uint8_t *stereo);

#endif /* CC_RTPPAYLOAD_H */
