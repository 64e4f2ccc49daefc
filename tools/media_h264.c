/*
 * media_h264.c - H.264 RTP payloads (RFC 6184, packetization modes 0 and 1) into an Annex B
 * byte stream (ITU-T H.264 Annex B: each NAL unit after a 00 00 00 01 start code), the raw
 * form ffmpeg and players read as .h264.
 *
 * An access unit is the NAL units of the packets sharing one RTP timestamp, ended by the
 * marker bit (§5.1).  Single NAL unit packets are copied, STAP-A (§5.7.1) is split into its
 * units, FU-A (§5.8) fragments are joined behind the NAL header the FU indicator and header
 * rebuild.  An access unit with a lost packet or a fragment series without its start or end
 * is dropped, never written; the units after it are held back until the next IDR picture,
 * since they predict from what was lost.  Writing starts at the first IDR access unit for
 * which a sequence parameter set has been seen; parameter sets that travel in an access unit
 * of their own are kept, as the decoder needs them.
 */
#include <errno.h>

#include "decoders/rtppayload.h"
#include "tools/media.h"

static const uint8_t start_code[4] = { 0, 0, 0, 1 };

struct h264 {
	char *path;
	FILE *f;
	struct cc_media_buf au;
	uint32_t ts;
	uint8_t active, broken, in_fu;
	uint8_t idr, sps, slice;	/* what the access unit holds */
	uint8_t need_key, have_sps;
	uint8_t have_first;
	uint32_t last_ts;
	uint64_t pts;
	uint64_t nframes;
};

/* Appends one NAL unit (header byte, then the rest) with its start code. */
static void nal(struct h264 *h, uint8_t hdr, const uint8_t *rest, size_t len)
{
	uint8_t type = hdr & 0x1f;

	if (cc_media_append(&h->au, start_code, sizeof start_code) < 0 ||
	    cc_media_append(&h->au, &hdr, 1) < 0 || cc_media_append(&h->au, rest, len) < 0) {
		h->broken = 1;
		return;
	}
	if (type == CC_H264_NAL_IDR)
		h->idr = 1;
	if (type == CC_H264_NAL_SPS)
		h->sps = 1;
	if (type >= CC_H264_NAL_SLICE && type <= CC_H264_NAL_IDR)
		h->slice = 1;
}

static void finish(struct h264 *h, struct cc_media_stats *st)
{
	h->active = 0;
	if (h->in_fu)
		h->broken = 1;
	if (h->broken) {
		st->dropped++;
		h->need_key = 1;
		return;
	}
	if (h->slice && (h->need_key || !h->have_sps) && !(h->idr && (h->have_sps || h->sps))) {
		st->skipped++;
		return;
	}
	if (h->slice)
		h->need_key = 0;
	if (h->sps)
		h->have_sps = 1;
	if (h->f == NULL) {
		h->f = fopen(h->path, "wb");
		if (h->f == NULL) {
			st->err = errno;
			return;
		}
		h->last_ts = h->ts;
	}
	if (fwrite(h->au.p, 1, h->au.len, h->f) != h->au.len) {
		st->err = errno ? errno : EIO;
		return;
	}
	if (h->slice) {
		if (h->have_first)
			h->pts += (uint64_t)(int64_t)(int32_t)(h->ts - h->last_ts);
		h->have_first = 1;
		h->last_ts = h->ts;
		h->nframes++;
		st->frames++;
	}
}

static void *h264_open(const char *path)
{
	struct h264 *h = calloc(1, sizeof *h);

	if (h != NULL && (h->path = strdup(path)) == NULL) {
		free(h);
		return NULL;
	}
	if (h != NULL)
		h->need_key = 1;
	return h;
}

static void h264_packet(void *w, const struct cc_rtp *r, const uint8_t *p, size_t len, uint32_t gap,
			struct cc_media_stats *st)
{
	struct h264 *h = w;
	struct cc_h264_pkt pk;
	struct cc_h264_stap it;
	struct cc_bytes u;
	int rc;

	st->pkts++;
	if (st->err)
		return;
	if (h->active && r->ts != h->ts) {
		if (gap)
			h->broken = 1;
		finish(h, st);
		gap = 0;
	}
	if (h->active && gap)
		h->broken = 1;
	if (!h->active) {
		h->active = 1;
		h->ts = r->ts;
		h->au.len = 0;
		h->broken = h->in_fu = h->idr = h->sps = h->slice = 0;
		/* Packets lost just before an access unit may have been its first NAL units (an AUD,
		 * parameter sets, a slice): nothing in the next packet says it starts the unit. */
		if (gap)
			h->broken = 1;
	}
	if (cc_h264_pkt_parse(p, len, &pk) < 0) {
		st->bad++;
		h->broken = 1;
		return;
	}
	if (pk.type != CC_H264_FU_A && h->in_fu) {
		/* A fragment series interrupted: its end was lost. */
		h->broken = 1;
		h->in_fu = 0;
	}
	if (pk.type == CC_H264_STAP_A) {
		if (cc_h264_stap_init(&it, p, len) < 0)
			h->broken = 1;
		while (!h->broken && (rc = cc_h264_stap_next(&it, &u)) != 0) {
			if (rc < 0) {
				st->bad++;
				h->broken = 1;
				break;
			}
			/* §5.3: an aggregated unit with F = 1 is damaged. */
			if (u.p[0] & 0x80)
				h->broken = 1;
			else
				nal(h, u.p[0], u.p + 1, u.len - 1);
		}
	} else if (pk.type == CC_H264_FU_A) {
		if (pk.fu_start) {
			if (h->in_fu)
				h->broken = 1;
			h->in_fu = 1;
			nal(h, pk.fu_nal_hdr, pk.fu_data.p, pk.fu_data.len);
		} else if (!h->in_fu) {
			/* A middle or end fragment without its start. */
			h->broken = 1;
		} else if (cc_media_append(&h->au, pk.fu_data.p, pk.fu_data.len) < 0) {
			h->broken = 1;
		}
		if (pk.fu_end)
			h->in_fu = 0;
	} else {
		nal(h, p[0], p + 1, len - 1);
	}
	if (r->marker)
		finish(h, st);
}

static int h264_close(void *w, struct cc_media_stats *st)
{
	struct h264 *h = w;
	int written = h->f != NULL;

	if (h->active && !st->err) {
		/* No marker before the capture ended: the access unit may be cut short. */
		h->broken = 1;
		finish(h, st);
	}
	st->clock = 90000;
	st->ticks = cc_media_span(0, h->pts, h->nframes);
	if (h->f != NULL && fclose(h->f) != 0 && !st->err)
		st->err = errno;
	free(h->au.p);
	free(h->path);
	free(h);
	return written;
}

const struct cc_media_ops cc_media_h264 = { "H264", "h264", h264_open, h264_packet, h264_close };
