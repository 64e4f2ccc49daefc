/*
 * media_ivf.c - VP8 RTP payloads (RFC 7741) into an IVF file, the container libvpx and ffmpeg
 * read for raw VP8.
 *
 * A frame is the payloads of the packets sharing one RTP timestamp, from the packet whose
 * descriptor has S=1 and PID 0 (§4.4) to the one with the marker bit (§4.1).  A frame with a
 * missing packet is dropped, never written: VP8 cannot decode a truncated frame.  Frames after
 * a dropped one refer to what it would have decoded to, so they are held back until the next
 * key frame — unless the dropped frame was marked non-reference (N, §4.2), which nothing
 * refers to.  Writing starts at the first complete key frame.
 *
 * IVF: a 32-byte file header ("DKIF", version 0, fourcc VP80, width, height, time base, a
 * length), then per frame a 12-byte header (size, 64-bit timestamp) and the frame.  The time
 * base is the RTP clock, 1/90000 (RFC 7741 §4.1), so timestamps are the RTP ones.  libvpx
 * calls the length field a frame count and does not use it; ffmpeg reads and writes it as the
 * duration in time base units, which is what it holds here, so ffprobe shows the right length.
 */
#include <errno.h>

#include "decoders/rtppayload.h"
#include "tools/media.h"

struct ivf {
	char *path;
	FILE *f;
	struct cc_media_buf frame;
	uint32_t ts;
	uint8_t active, broken, key, nonref;
	uint8_t need_key;
	uint8_t have_first;
	uint32_t first_ts, last_ts;
	uint64_t pts;			/* of the last frame written, first_ts = 0, unwrapped */
	uint64_t nframes;
};

static int ivf_header(struct ivf *v, const struct cc_media_stats *st)
{
	uint8_t h[32];

	memcpy(h, "DKIF", 4);
	cc_le16(h + 4, 0);
	cc_le16(h + 6, 32);
	memcpy(h + 8, "VP80", 4);
	cc_le16(h + 12, st->width);
	cc_le16(h + 14, st->height);
	cc_le32(h + 16, 90000);		/* time base denominator */
	cc_le32(h + 20, 1);		/* numerator */
	cc_le32(h + 24, (uint32_t)(st->ticks > UINT32_MAX ? UINT32_MAX : st->ticks));
	cc_le32(h + 28, 0);
	return fwrite(h, 1, sizeof h, v->f) == sizeof h ? 0 : -1;
}

static int write_frame(struct ivf *v, struct cc_media_stats *st)
{
	uint8_t h[12];

	if (v->f == NULL) {
		v->f = fopen(v->path, "wb");
		if (v->f == NULL || ivf_header(v, st) < 0)
			return -1;
		v->first_ts = v->last_ts = v->ts;
	}
	/* RTP timestamps wrap at 2^32; IVF's do not. */
	v->pts += (uint64_t)(int64_t)(int32_t)(v->ts - v->last_ts);
	v->last_ts = v->ts;
	cc_le32(h, (uint32_t)v->frame.len);
	cc_le64(h + 4, v->pts);
	if (fwrite(h, 1, sizeof h, v->f) != sizeof h || fwrite(v->frame.p, 1, v->frame.len, v->f) != v->frame.len)
		return -1;
	v->nframes++;
	st->frames++;
	return 0;
}

static void finish(struct ivf *v, struct cc_media_stats *st)
{
	v->active = 0;
	if (v->broken) {
		st->dropped++;
		if (!v->nonref)
			v->need_key = 1;
		return;
	}
	if (v->need_key && !v->key) {
		st->skipped++;
		return;
	}
	v->need_key = 0;
	if (write_frame(v, st) < 0)
		st->err = errno ? errno : EIO;
}

static void *ivf_open(const char *path)
{
	struct ivf *v = calloc(1, sizeof *v);

	if (v != NULL && (v->path = strdup(path)) == NULL) {
		free(v);
		return NULL;
	}
	if (v != NULL)
		v->need_key = 1;
	return v;
}

static void ivf_packet(void *w, const struct cc_rtp *r, const uint8_t *p, size_t len, uint32_t gap,
		       struct cc_media_stats *st)
{
	struct ivf *v = w;
	struct cc_vp8_desc d;
	struct cc_vp8_frame fh;

	st->pkts++;
	if (st->err)
		return;
	if (v->active && r->ts != v->ts) {
		/* The frame ended without its marker packet: complete only if nothing was lost. */
		if (gap)
			v->broken = 1;
		finish(v, st);
		gap = 0;
	}
	if (v->active && gap)
		v->broken = 1;
	if (!v->active && gap) {
		/* Lost packets before a frame: its own start (the S bit below tells), or whole frames
		 * that what follows may depend on. */
		v->need_key = 1;
	}
	if (cc_vp8_desc_parse(p, len, &d) < 0) {
		st->bad++;
		if (v->active)
			v->broken = 1;
		return;
	}
	if (!v->active) {
		v->active = 1;
		v->ts = r->ts;
		v->frame.len = 0;
		v->key = 0;
		v->nonref = d.n;
		/* A frame whose first packet is missing (or not the frame's start) is incomplete. */
		v->broken = !(d.s && d.pid == 0);
		if (!v->broken) {
			if (cc_vp8_frame_parse(p + d.len, len - d.len, &fh) < 0) {
				st->bad++;
				v->broken = 1;
			} else if (fh.keyframe) {
				v->key = 1;
				if (st->width == 0) {
					st->width = fh.width;
					st->height = fh.height;
				}
			}
		}
	}
	if (!v->broken && cc_media_append(&v->frame, p + d.len, len - d.len) < 0)
		v->broken = 1;
	if (r->marker)
		finish(v, st);
}

static int ivf_close(void *w, struct cc_media_stats *st)
{
	struct ivf *v = w;
	int written = v->f != NULL;

	if (v->active && !st->err) {
		/* The last frame never saw its marker: it may have been cut short by the capture's end. */
		v->broken = 1;
		finish(v, st);
	}
	st->clock = 90000;
	st->ticks = cc_media_span(0, v->pts, v->nframes);
	if (v->f != NULL) {
		/* The frame count goes into the header now that it is known. */
		if (!st->err && (fseek(v->f, 0, SEEK_SET) < 0 || ivf_header(v, st) < 0))
			st->err = errno ? errno : EIO;
		if (fclose(v->f) != 0 && !st->err)
			st->err = errno;
	}
	free(v->frame.p);
	free(v->path);
	free(v);
	return written;
}

const struct cc_media_ops cc_media_vp8 = { "VP8", "ivf", ivf_open, ivf_packet, ivf_close };
