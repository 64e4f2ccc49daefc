/*
 * rtcp.h - compound RTCP (RFC 3550 §6) with the feedback messages WebRTC
 * uses (RFC 4585, RFC 5104, RFC 8888, transport-cc, REMB) and the SRTCP
 * trailer (RFC 3711 §3.4).
 */
#ifndef CC_RTCP_H
#define CC_RTCP_H

#include <stddef.h>
#include <stdint.h>

#include "decoders/cursor.h"

/* Packet types (RFC 3550 §12.1, RFC 4585 §6.1, RFC 3611). */
enum {
	CC_RTCP_SR = 200,
	CC_RTCP_RR = 201,
	CC_RTCP_SDES = 202,
	CC_RTCP_BYE = 203,
	CC_RTCP_APP = 204,
	CC_RTCP_RTPFB = 205,
	CC_RTCP_PSFB = 206,
	CC_RTCP_XR = 207,
};

/* Feedback message types (FMT). */
enum {
	CC_RTPFB_NACK = 1,	/* RFC 4585 §6.2.1 */
	CC_RTPFB_CCFB = 11,	/* RFC 8888 §3.1 */
	CC_RTPFB_TCC = 15,	/* transport-wide congestion control */
	CC_PSFB_PLI = 1,	/* RFC 4585 §6.3.1 */
	CC_PSFB_FIR = 4,	/* RFC 5104 §4.3.1 */
	CC_PSFB_AFB = 15,	/* RFC 4585 §6.4, REMB rides on it */
};

/* SDES item types (RFC 3550 §6.5). */
enum {
	CC_SDES_END = 0,
	CC_SDES_CNAME = 1,
	CC_SDES_NAME = 2,
	CC_SDES_TOOL = 6,
	CC_SDES_PRIV = 8,
};

/* One packet of a compound packet. */
struct cc_rtcp_pkt {
	uint8_t version;
	uint8_t padding;
	uint8_t count;		/* RC, SC, FMT or APP subtype */
	uint8_t pt;
	uint16_t length;	/* 32-bit words minus one, as sent */
	struct cc_bytes raw;	/* header included, padding included */
	struct cc_bytes body;	/* after the 4-byte header, padding removed */
};

struct cc_rtcp_iter {
	struct cc_cur c;
};

/* SR or RR. */
struct cc_rtcp_report {
	uint32_t ssrc;
	uint8_t has_sender_info;	/* SR */
	uint64_t ntp;			/* NTP timestamp, 32.32 fixed point */
	uint32_t rtp_ts;
	uint32_t packet_count;
	uint32_t octet_count;
	uint8_t rb_count;
	struct cc_bytes blocks;		/* rb_count * 24 bytes */
	struct cc_bytes ext;		/* profile-specific extension */
};

struct cc_rtcp_rb {
	uint32_t ssrc;
	uint8_t fraction_lost;
	int32_t cumulative_lost;	/* signed 24 bits, RFC 3550 §6.4.1 */
	uint32_t ext_highest_seq;
	uint32_t jitter;
	uint32_t lsr;
	uint32_t dlsr;
};

struct cc_rtcp_sdes_iter {
	struct cc_cur c;
	size_t body_len;	/* to find 32-bit boundaries */
	unsigned chunks_left;
	int in_chunk;
	uint32_t ssrc;
};

struct cc_rtcp_sdes_item {
	uint32_t ssrc;
	uint8_t type;
	struct cc_bytes text;
};

struct cc_rtcp_bye {
	uint8_t count;
	uint32_t ssrc[31];
	struct cc_bytes reason;		/* empty when absent */
};

struct cc_rtcp_app {
	uint8_t subtype;
	uint32_t ssrc;
	uint8_t name[4];
	struct cc_bytes data;
};

/* Common header of RTPFB and PSFB (RFC 4585 §6.1). */
struct cc_rtcp_fb {
	uint8_t pt;
	uint8_t fmt;
	uint32_t sender_ssrc;
	uint32_t media_ssrc;
	struct cc_bytes fci;
};

/* Receiver Estimated Maximum Bitrate (draft-alvestrand-rmcat-remb §2.2). */
struct cc_rtcp_remb {
	uint8_t num_ssrc;
	uint8_t exp;
	uint32_t mantissa;
	uint64_t bitrate;		/* mantissa << exp, saturated */
	struct cc_bytes ssrcs;		/* num_ssrc * 4 bytes */
};

/* Transport-wide CC (draft-holmer-rmcat-transport-wide-cc-extensions §3.1). */
struct cc_rtcp_tcc {
	uint16_t base_seq;
	uint16_t status_count;
	int32_t ref_time;		/* signed 24 bits, units of 64 ms */
	uint8_t fb_count;
	struct cc_bytes chunks;		/* packet chunks and receive deltas */
};

/* RFC 8888 congestion control feedback; blocks are iterated. */
struct cc_rtcp_ccfb {
	uint32_t sender_ssrc;
	uint32_t report_ts;
	struct cc_cur blocks;
};

struct cc_rtcp_ccfb_block {
	uint32_t ssrc;
	uint16_t begin_seq;
	uint16_t num_reports;
	struct cc_bytes metrics;	/* num_reports 16-bit metric blocks */
};

/* SRTCP trailer (RFC 3711 §3.4). */
struct cc_srtcp_trailer {
	uint8_t encrypted;		/* E flag */
	uint32_t index;			/* 31-bit SRTCP index */
	size_t rtcp_len;		/* bytes before the E/index word */
	struct cc_bytes mki;
	struct cc_bytes tag;
};

void cc_rtcp_iter_init(struct cc_rtcp_iter *it, const uint8_t *p, size_t len);
int cc_rtcp_next(struct cc_rtcp_iter *it, struct cc_rtcp_pkt *pkt);

/* 0 when p..len is a well-formed compound packet starting with SR or RR
 * (RFC 3550 §6.1, or any type for reduced-size RTCP with allow_rsize). */
int cc_rtcp_validate(const uint8_t *p, size_t len, int allow_rsize);

int cc_rtcp_report(const struct cc_rtcp_pkt *pkt, struct cc_rtcp_report *out);
int cc_rtcp_report_block(const struct cc_rtcp_report *r, unsigned i, struct cc_rtcp_rb *out);

int cc_rtcp_sdes_iter_init(struct cc_rtcp_sdes_iter *it, const struct cc_rtcp_pkt *pkt);
int cc_rtcp_sdes_next(struct cc_rtcp_sdes_iter *it, struct cc_rtcp_sdes_item *item);
/* The first CNAME item; CC_ENOTSUP when there is none. */
int cc_rtcp_sdes_cname(const struct cc_rtcp_pkt *pkt, struct cc_rtcp_sdes_item *item);

int cc_rtcp_bye(const struct cc_rtcp_pkt *pkt, struct cc_rtcp_bye *out);
int cc_rtcp_app(const struct cc_rtcp_pkt *pkt, struct cc_rtcp_app *out);

int cc_rtcp_fb(const struct cc_rtcp_pkt *pkt, struct cc_rtcp_fb *out);
/* Items of a generic NACK (PID + BLP) or FIR (SSRC + seq nr). */
unsigned cc_rtcp_nack_count(const struct cc_rtcp_fb *fb);
int cc_rtcp_nack_item(const struct cc_rtcp_fb *fb, unsigned i, uint16_t *pid, uint16_t *blp);
unsigned cc_rtcp_fir_count(const struct cc_rtcp_fb *fb);
int cc_rtcp_fir_item(const struct cc_rtcp_fb *fb, unsigned i, uint32_t *ssrc, uint8_t *seq);
int cc_rtcp_remb(const struct cc_rtcp_fb *fb, struct cc_rtcp_remb *out);
int cc_rtcp_remb_ssrc(const struct cc_rtcp_remb *r, unsigned i, uint32_t *ssrc);
int cc_rtcp_tcc(const struct cc_rtcp_fb *fb, struct cc_rtcp_tcc *out);

/* RFC 8888 has no media SSRC word, so it starts from the packet. */
int cc_rtcp_ccfb(const struct cc_rtcp_pkt *pkt, struct cc_rtcp_ccfb *out);
int cc_rtcp_ccfb_next(struct cc_rtcp_ccfb *c, struct cc_rtcp_ccfb_block *b);

/* mki_len and tag_len are what the SRTP crypto context negotiated. */
int cc_srtcp_trailer(const uint8_t *p, size_t len, size_t mki_len, size_t tag_len,
		     struct cc_srtcp_trailer *out);

#endif /* CC_RTCP_H */
