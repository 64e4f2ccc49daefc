/*
 * media.h - the files `clearcap extract` writes from RTP payloads, one writer per format:
 * Ogg Opus (media_ogg.c, RFC 7845), VP8 in IVF (media_ivf.c, RFC 7741 depacketization) and
 * H.264 Annex B byte streams (media_h264.c, RFC 6184 depacketization).
 *
 * The extractor hands a writer the packets of one stream in capture order, with the number of
 * sequence numbers missing before each one; late and duplicate packets never reach it.  A
 * writer creates its file only when it has something decodable to put in it, and never writes
 * a frame it knows to be incomplete.
 */
#ifndef CC_MEDIA_H
#define CC_MEDIA_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decoders/rtp.h"

struct cc_media_stats {
	uint64_t pkts;		/* packets handed in */
	uint64_t bad;		/* payloads that did not parse as the codec */
	uint64_t frames;	/* frames (Opus: packets) written */
	uint64_t dropped;	/* incomplete frames, not written */
	uint64_t skipped;	/* complete frames not written because what they depend on was lost */
	uint64_t concealed;	/* Opus: empty frames written where packets were lost */
	uint64_t ticks;		/* media time covered, in clock units */
	uint32_t clock;
	uint16_t width, height;	/* VP8: from the first key frame */
	int err;		/* errno of a failed write, or 0 */
};

struct cc_media_ops {
	const char *codec;	/* "opus", "VP8", "H264" */
	const char *ext;	/* file name extension */
	/* NULL when out of memory; path is kept and created on the first write. */
	void *(*open)(const char *path);
	/* One packet; gap: sequence numbers missing since the previous one handed in. */
	void (*packet)(void *w, const struct cc_rtp *r, const uint8_t *payload, size_t len, uint32_t gap,
		       struct cc_media_stats *st);
	/* Flushes what is complete, closes and frees; returns 1 when a file was written. */
	int (*close)(void *w, struct cc_media_stats *st);
};

extern const struct cc_media_ops cc_media_opus, cc_media_vp8, cc_media_h264;

/* Little-endian stores the container headers use. */
static inline void cc_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void cc_le32(uint8_t *p, uint32_t v)
{
	cc_le16(p, (uint16_t)v);
	cc_le16(p + 2, (uint16_t)(v >> 16));
}

static inline void cc_le64(uint8_t *p, uint64_t v)
{
	cc_le32(p, (uint32_t)v);
	cc_le32(p + 4, (uint32_t)(v >> 32));
}

/* A video frame being put together: bounded, so a hostile stream cannot make it grow forever. */
#define CC_MEDIA_MAX_FRAME (16u << 20)

struct cc_media_buf {
	uint8_t *p;
	size_t len, cap;
};

/* -1 (nothing appended) when the frame would pass CC_MEDIA_MAX_FRAME or memory runs out. */
static inline int cc_media_append(struct cc_media_buf *b, const uint8_t *p, size_t len)
{
	if (len > CC_MEDIA_MAX_FRAME - b->len)
		return -1;
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		uint8_t *q;

		while (cap < b->len + len)
			cap *= 2;
		q = realloc(b->p, cap);
		if (q == NULL)
			return -1;
		b->p = q;
		b->cap = cap;
	}
	if (len)
		memcpy(b->p + b->len, p, len);
	b->len += len;
	return 0;
}

/* Media time covered by n frames from first to last: the span plus one mean frame interval. */
static inline uint64_t cc_media_span(uint64_t first, uint64_t last, uint64_t n)
{
	uint64_t span = last - first;

	return n > 1 ? span + span / (n - 1) : 0;
}

#endif /* CC_MEDIA_H */
