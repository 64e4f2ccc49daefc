/*
 * media_ogg.c - Opus RTP payloads (RFC 7587) into an Ogg Opus file (RFC 7845), without
 * transcoding: each RTP payload is one Opus packet, so it becomes one Ogg packet.
 *
 * Granule positions count 48 kHz samples (RFC 7845 §4), worked out from each packet's TOC
 * byte.  Where RTP timestamps jump (lost packets, or DTX silence), the gap is filled with
 * empty Opus frames: a code 0 packet whose only frame has length 0, which a decoder treats as
 * lost and conceals (RFC 6716 §3.2.1).  The file's time then follows the RTP clock and the
 * decoded audio stays aligned with the call.
 *
 * One Ogg page per packet keeps the writer simple; the last packet is held back so that its
 * page can carry the end-of-stream flag.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "decoders/rtppayload.h"
#include "tools/media.h"

#define OGG_MAX_PACKET (255 * 254 + 254)	/* what one page's 255 lacing values can hold */
#define OGG_SERIAL 0x63636170u			/* one logical stream per file: any constant does */
#define MAX_FILL (48000u * 600)			/* conceal at most 10 min; a longer jump is a jump */

struct ogg {
	char *path;
	FILE *f;
	uint32_t seqno;			/* page sequence number */
	uint64_t granule;		/* samples up to the end of the last packet handed to a page */
	uint32_t next_ts;		/* RTP timestamp where the next packet should start */
	uint8_t last_toc;
	uint32_t last_samples;
	uint8_t started;
	uint8_t pending[OGG_MAX_PACKET];	/* the held-back packet */
	size_t pending_len;
	uint64_t pending_granule;
	uint8_t have_pending;
};

/* CRC-32 with polynomial 0x04c11db7, not reflected, initial value 0 (RFC 3533 §6). */
static uint32_t ogg_crc(uint32_t crc, const uint8_t *p, size_t len)
{
	static uint32_t table[256];

	if (table[1] == 0)
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t r = i << 24;

			for (int k = 0; k < 8; k++)
				r = r & 0x80000000u ? r << 1 ^ 0x04c11db7u : r << 1;
			table[i] = r;
		}
	for (size_t i = 0; i < len; i++)
		crc = crc << 8 ^ table[(crc >> 24 ^ p[i]) & 0xff];
	return crc;
}

/* One page holding one whole packet (RFC 3533 §6: lacing values of 255 and a last one < 255). */
static int page(struct ogg *o, uint8_t flags, uint64_t granule, const uint8_t *pkt, size_t len)
{
	uint8_t h[27 + 255];
	size_t nseg = len / 255 + 1;
	uint32_t crc;

	if (nseg > 255)
		return -1;
	memcpy(h, "OggS", 4);
	h[4] = 0;
	h[5] = flags;
	cc_le64(h + 6, granule);
	cc_le32(h + 14, OGG_SERIAL);
	cc_le32(h + 18, o->seqno++);
	cc_le32(h + 22, 0);
	h[26] = (uint8_t)nseg;
	for (size_t i = 0; i < nseg; i++)
		h[27 + i] = i + 1 < nseg ? 255 : (uint8_t)(len % 255);
	crc = ogg_crc(ogg_crc(0, h, 27 + nseg), pkt, len);
	cc_le32(h + 22, crc);
	if (fwrite(h, 1, 27 + nseg, o->f) != 27 + nseg || fwrite(pkt, 1, len, o->f) != len)
		return -1;
	return 0;
}

/* RFC 7845 §5.1 and §5.2: the identification and comment headers, each on its own page. */
static int headers(struct ogg *o, uint8_t stereo)
{
	static const char vendor[] = "clearcap extract (RTP, not transcoded)";
	uint8_t head[19], tags[8 + 4 + sizeof vendor - 1 + 4];

	memcpy(head, "OpusHead", 8);
	head[8] = 1;				/* version */
	head[9] = stereo ? 2 : 1;		/* channels, from the first packet's TOC */
	/* Pre-skip 0: the capture may start mid-call, where the encoder's priming is long gone. */
	cc_le16(head + 10, 0);
	cc_le32(head + 12, 48000);		/* the rate the RTP clock ran at (RFC 7587 §4.1) */
	cc_le16(head + 16, 0);			/* output gain */
	head[18] = 0;				/* mapping family 0: mono or stereo */
	memcpy(tags, "OpusTags", 8);
	cc_le32(tags + 8, sizeof vendor - 1);
	memcpy(tags + 12, vendor, sizeof vendor - 1);
	cc_le32(tags + 12 + sizeof vendor - 1, 0);
	if (page(o, 0x02, 0, head, sizeof head) < 0 || page(o, 0, 0, tags, sizeof tags) < 0)
		return -1;
	return 0;
}

/* Writes the held-back packet (eos on the last) and holds back this one. */
static int push(struct ogg *o, const uint8_t *p, size_t len, uint32_t samples, int eos)
{
	if (o->have_pending && page(o, eos ? 0x04 : 0, o->pending_granule, o->pending, o->pending_len) < 0)
		return -1;
	o->have_pending = 0;
	if (p == NULL)
		return 0;
	o->granule += samples;
	memcpy(o->pending, p, len);
	o->pending_len = len;
	o->pending_granule = o->granule;
	o->have_pending = 1;
	return 0;
}

static void *ogg_open(const char *path)
{
	struct ogg *o = calloc(1, sizeof *o);

	if (o != NULL && (o->path = strdup(path)) == NULL) {
		free(o);
		return NULL;
	}
	return o;
}

static void ogg_packet(void *w, const struct cc_rtp *r, const uint8_t *p, size_t len, uint32_t gap,
		       struct cc_media_stats *st)
{
	struct ogg *o = w;
	uint32_t samples, fill_samples;
	uint8_t stereo;
	int32_t delta;

	(void)gap;
	st->pkts++;
	if (st->err)
		return;
	if (len > OGG_MAX_PACKET || cc_opus_packet(p, len, &samples, &stereo) < 0) {
		st->bad++;
		return;
	}
	if (!o->started) {
		o->f = fopen(o->path, "wb");
		if (o->f == NULL || headers(o, stereo) < 0) {
			st->err = errno ? errno : EIO;
			return;
		}
		o->started = 1;
		o->next_ts = r->ts;
	}
	delta = (int32_t)(r->ts - o->next_ts);
	if (delta > 0 && (uint32_t)delta <= MAX_FILL) {
		/* A TOC byte of the last packet's configuration, code 0, no frame data. */
		uint8_t empty = o->last_toc & 0xfc;
		uint8_t s2;

		if (cc_opus_packet(&empty, 1, &fill_samples, &s2) == 0)
			while ((uint32_t)delta >= fill_samples) {
				if (push(o, &empty, 1, fill_samples, 0) < 0) {
					st->err = errno ? errno : EIO;
					return;
				}
				st->concealed++;
				delta -= (int32_t)fill_samples;
			}
	}
	/* What is left of a jump (too long to conceal, or not a whole frame) moves the clock on. */
	if (delta > 0)
		o->granule += (uint32_t)delta;
	if (push(o, p, len, samples, 0) < 0) {
		st->err = errno ? errno : EIO;
		return;
	}
	o->last_toc = p[0];
	o->next_ts = r->ts + samples;
	st->frames++;
}

static int ogg_close(void *w, struct cc_media_stats *st)
{
	struct ogg *o = w;
	int written = o->started;

	st->clock = 48000;
	st->ticks = o->granule;
	if (o->f != NULL) {
		if (!st->err && push(o, NULL, 0, 0, 1) < 0)
			st->err = errno ? errno : EIO;
		if (fclose(o->f) != 0 && !st->err)
			st->err = errno;
	}
	free(o->path);
	free(o);
	return written;
}

const struct cc_media_ops cc_media_opus = { "opus", "opus", ogg_open, ogg_packet, ogg_close };
