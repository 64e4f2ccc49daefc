/*
 * rtp.h - RTP fixed header (RFC 3550 §5.1), header extensions (RFC 8285)
 * and telephone-event payloads (RFC 4733).
 */
#ifndef CC_RTP_H
#define CC_RTP_H

#include <stddef.h>
#include <stdint.h>

#include "decoders/cursor.h"

#define CC_RTP_HDR_LEN		12
#define CC_RTP_EXT_ONE_BYTE	0xBEDE	/* RFC 8285 §4.2 */

struct cc_rtp {
	uint8_t version;	/* always 2 once parsed */
	uint8_t padding;	/* P bit */
	uint8_t extension;	/* X bit */
	uint8_t cc;		/* CSRC count */
	uint8_t marker;
	uint8_t pt;
	uint16_t seq;
	uint32_t ts;
	uint32_t ssrc;
	uint32_t csrc[15];
	uint16_t ext_profile;	/* "defined by profile" word, if X */
	struct cc_bytes ext;	/* extension data, without its 4-byte header */
	size_t payload_off;
	size_t payload_len;	/* without padding (cc_rtp_parse only) */
	uint8_t pad_len;	/* bytes of padding removed (cc_rtp_parse only) */
};

struct cc_rtp_ext_iter {
	struct cc_cur c;
	int two_byte;
};

struct cc_rtp_ext_elem {
	uint8_t id;
	uint8_t len;
	const uint8_t *data;
};

/* RFC 4733 §2.3 telephone-event. */
struct cc_dtmf {
	uint8_t event;		/* 0-9, 10 '*', 11 '#', 12-15 A-D, ... */
	uint8_t end;		/* E bit */
	uint8_t volume;		/* -dBm0, 0..63 */
	uint16_t duration;	/* timestamp units */
};

/* A plaintext RTP packet: header, extension, payload after padding. */
int cc_rtp_parse(const uint8_t *p, size_t len, struct cc_rtp *out);

/*
 * Header and extension only; the payload is everything after them.  For
 * SRTP, where the padding count is encrypted and an auth tag trails the
 * packet (RFC 3711 §3.1), so the last byte means nothing.
 */
int cc_rtp_header(const uint8_t *p, size_t len, struct cc_rtp *out);

/* Element iteration over an RFC 8285 extension block: CC_ENOTSUP unless
 * the profile is 0xBEDE or 0x100X; next() is 1 / 0 at end / negative. */
int cc_rtp_ext_iter_init(struct cc_rtp_ext_iter *it, const struct cc_rtp *rtp);
int cc_rtp_ext_next(struct cc_rtp_ext_iter *it, struct cc_rtp_ext_elem *e);

/* Find extension element id; 0 and *e on success, CC_ENOTSUP if absent. */
int cc_rtp_ext_find(const struct cc_rtp *rtp, uint8_t id, struct cc_rtp_ext_elem *e);

int cc_rtp_dtmf(const uint8_t *payload, size_t len, struct cc_dtmf *out);

#endif /* CC_RTP_H */
