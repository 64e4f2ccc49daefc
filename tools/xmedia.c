/*
 * xmedia.c - which codec each RTP stream of a capture carries, whether it is encrypted, and the
 * Opus / VP8 / H.264 files `clearcap extract` writes from the streams in the clear.
 *
 * The codec comes from an SDP a=rtpmap in the file for the stream's payload type, else from
 * the static payload types (0 PCMU, 8 PCMA), else from the payload itself: a dynamic type at
 * a 48 kHz clock whose packets all have valid Opus TOC bytes is Opus; at 90 kHz, a VP8 key
 * frame start code (RFC 6386 §9.1) or an H.264 sequence parameter set or IDR slice
 * (RFC 6184) decides between the two video formats.  Encrypted streams (tools/encrypted.c)
 * are never decoded: extract says why in one line instead.  The writers get each stream's
 * packets in sequence order, with the count of those missing before each (cc_xm_packet).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "decoders/rtppayload.h"
#include "tools/media.h"
#include "tools/xmedia.h"

#define XM_MAX 256
#define XM_MAX_MISORDER 3000	/* RFC 3550 A.1 MAX_DROPOUT: a forward jump larger than this is a restart */

#define XM_HOLD 16		/* early packets held back to put reordered ones in place */

/* A packet held back until the ones before it arrive. */
struct held {
	struct cc_rtp r;
	uint8_t *p;
	size_t len;
};

enum codec { C_NONE, C_G711, C_OPUS, C_VP8, C_H264, C_EVENTS };

struct xs {
	uint32_t ssrc;
	uint8_t ifindex, dir, pt;
	struct cc_endpoint src, dst;
	/* Pass 1 votes. */
	uint64_t pkts, opus_ok, opus_bad, vp8_key, h264_key;
	/* Decided. */
	enum codec codec;
	uint8_t encrypted, valid;
	const struct cc_media_ops *ops;
	void *w;
	char path[4096];
	/* Pass 2. */
	uint8_t have_seq;
	uint16_t next_seq;
	uint64_t lost, late;
	uint32_t pending_gap;	/* lost before packets of another payload type, not yet handed on */
	struct held *hold;	/* early packets, XM_HOLD slots allocated at the first one */
	size_t nheld;
	struct cc_media_stats st;
};

struct cc_xm {
	const char *dir;
	struct xs s[XM_MAX];
	size_t n;
	uint64_t overflow;
	size_t last;		/* the previous packet's stream: most packets follow their own kind */
};

static const char *dir_word(uint8_t d)
{
	return d == CC_DIR_OUT ? "sent" : d == CC_DIR_IN ? "recv" : "seen";
}

static const char *if_word(uint8_t i)
{
	return i == 1 ? "wire" : i == 2 ? "plaintext" : i == 3 ? "relay" : "link";
}

static int same(const struct xs *s, const struct cc_pkt *pkt, uint32_t ssrc)
{
	return s->ssrc == ssrc && s->ifindex == pkt->ifindex && s->dir == pkt->dir &&
	       cc_endpoint_cmp(&s->src, &pkt->src) == 0 && cc_endpoint_cmp(&s->dst, &pkt->dst) == 0;
}

static struct xs *find(struct cc_xm *x, const struct cc_pkt *pkt, uint32_t ssrc, int create)
{
	struct xs *s;

	if (x->last < x->n && same(&x->s[x->last], pkt, ssrc))
		return &x->s[x->last];
	for (size_t i = 0; i < x->n; i++)
		if (same(&x->s[i], pkt, ssrc)) {
			x->last = i;
			return &x->s[i];
		}
	if (!create)
		return NULL;
	if (x->n >= XM_MAX) {
		x->overflow++;
		return NULL;
	}
	s = &x->s[x->n];
	memset(s, 0, sizeof *s);
	s->ssrc = ssrc;
	s->ifindex = pkt->ifindex;
	s->dir = pkt->dir;
	s->src = pkt->src;
	s->dst = pkt->dst;
	x->last = x->n++;
	return s;
}

struct cc_xm *cc_xm_new(const char *dir)
{
	struct cc_xm *x = calloc(1, sizeof *x);

	if (x != NULL)
		x->dir = dir;
	return x;
}

void cc_xm_free(struct cc_xm *x)
{
	if (x == NULL)
		return;
	for (size_t i = 0; i < x->n; i++) {
		for (size_t j = 0; j < x->s[i].nheld; j++)
			free(x->s[i].hold[j].p);
		free(x->s[i].hold);
	}
	free(x);
}

/* An H.264 NAL unit type that starts a decodable picture: SPS or an IDR slice. */
static int h264_key_type(uint8_t t)
{
	return t == CC_H264_NAL_SPS || t == CC_H264_NAL_IDR;
}

static int h264_key(const uint8_t *p, size_t len)
{
	struct cc_h264_pkt h;
	struct cc_h264_stap it;
	struct cc_bytes u;

	if (cc_h264_pkt_parse(p, len, &h) < 0)
		return 0;
	if (h.type == CC_H264_FU_A)
		return h.fu_start && h264_key_type(h.fu_type);
	if (h.type != CC_H264_STAP_A)
		return h264_key_type(h.type);
	if (cc_h264_stap_init(&it, p, len) < 0)
		return 0;
	while (cc_h264_stap_next(&it, &u) == 1)
		if (h264_key_type(u.p[0] & 0x1f))
			return 1;
	return 0;
}

static int vp8_key(const uint8_t *p, size_t len)
{
	struct cc_vp8_desc d;
	struct cc_vp8_frame f;

	return cc_vp8_desc_parse(p, len, &d) == 0 && d.s && d.pid == 0 &&
	       cc_vp8_frame_parse(p + d.len, len - d.len, &f) == 0 && f.keyframe;
}

void cc_xm_sniff(struct cc_xm *x, const struct cc_pkt *pkt, const struct cc_rtp *r)
{
	const uint8_t *p = pkt->payload + r->payload_off;
	struct xs *s = find(x, pkt, r->ssrc, 1);
	uint32_t samples;
	uint8_t stereo;
	struct cc_dtmf d;

	if (s == NULL || r->pt < 96)
		return;
	/* Telephone events share the SSRC of Opus in WebRTC; they are not what is being sniffed
	 * (the analyzer's rule: one 4-byte event block, RFC 4733 §2.3). */
	if (r->payload_len == 4 && cc_rtp_dtmf(p, 4, &d) == 0 && d.event <= 16)
		return;
	s->pkts++;
	if (cc_opus_packet(p, r->payload_len, &samples, &stereo) == 0)
		s->opus_ok++;
	else
		s->opus_bad++;
	s->vp8_key += vp8_key(p, r->payload_len);
	s->h264_key += h264_key(p, r->payload_len);
}

static const struct cc_stream *an_stream(const struct cc_an *a, const struct xs *s)
{
	for (size_t i = 0; i < a->nstreams; i++) {
		const struct cc_stream *t = &a->streams[i];

		if (t->ssrc == s->ssrc && t->ifindex == s->ifindex && t->dir == s->dir &&
		    cc_endpoint_cmp(&t->src, &s->src) == 0 && cc_endpoint_cmp(&t->dst, &s->dst) == 0)
			return t;
	}
	return NULL;
}

static enum codec from_name(const char *name)
{
	if (strcasecmp(name, "PCMU") == 0 || strcasecmp(name, "PCMA") == 0)
		return C_G711;
	if (strcasecmp(name, "opus") == 0)
		return C_OPUS;
	if (strcasecmp(name, "VP8") == 0)
		return C_VP8;
	if (strcasecmp(name, "H264") == 0)
		return C_H264;
	return C_NONE;
}

static enum codec guess(const struct cc_stream *t, const struct xs *s)
{
	uint32_t clock;

	if (t->pt == 0xff)
		return C_EVENTS;
	if (t->pt == 0 || t->pt == 8)
		return C_G711;
	if (t->sdp_name[0])
		return from_name(t->sdp_name);
	if (t->pt < 96)
		return C_NONE;
	clock = cc_stream_clock(t);
	/* Ciphertext or another codec fails the TOC rules of RFC 6716 §3 on some packets. */
	if (clock == 48000 && s->opus_ok > 0 && s->opus_bad == 0)
		return C_OPUS;
	if (clock == 90000 && s->vp8_key > 0 && s->h264_key == 0)
		return C_VP8;
	if (clock == 90000 && s->h264_key > 0 && s->vp8_key == 0)
		return C_H264;
	return C_NONE;
}

void cc_xm_decide(struct cc_xm *x, const struct cc_an *a)
{
	for (size_t i = 0; i < x->n; i++) {
		struct xs *s = &x->s[i];
		const struct cc_stream *t = an_stream(a, s);
		int k = 1;

		if (t == NULL)
			continue;
		s->pt = t->pt;
		s->valid = t->seq.valid;
		s->encrypted = t->encrypted;
		s->codec = guess(t, s);
		s->ops = s->codec == C_OPUS ? &cc_media_opus : s->codec == C_VP8 ? &cc_media_vp8 :
			 s->codec == C_H264 ? &cc_media_h264 : NULL;
		if (s->encrypted || s->ops == NULL)
			continue;
		snprintf(s->path, sizeof s->path, "%s/ssrc-%08x-%s-%s.%s", x->dir, s->ssrc, if_word(s->ifindex),
			 dir_word(s->dir), s->ops->ext);
		/* Two flows with one SSRC, interface and direction: number the later ones. */
		for (size_t j = 0; j < i; j++)
			if (x->s[j].w != NULL && x->s[j].ssrc == s->ssrc && x->s[j].ifindex == s->ifindex &&
			    x->s[j].dir == s->dir && x->s[j].ops == s->ops)
				snprintf(s->path, sizeof s->path, "%s/ssrc-%08x-%s-%s-%d.%s", x->dir, s->ssrc,
					 if_word(s->ifindex), dir_word(s->dir), ++k, s->ops->ext);
		s->w = s->ops->open(s->path);
		if (s->w == NULL)
			s->st.err = ENOMEM;
	}
}

/* Hands one packet on in sequence order; gap: sequence numbers missing just before it. */
static void deliver(struct xs *s, const struct cc_rtp *r, const uint8_t *p, size_t len, uint32_t gap)
{
	s->next_seq = (uint16_t)(r->seq + 1);
	/* Every payload type of the SSRC counts (telephone events share the media's sequence). */
	if (r->pt != s->pt) {
		s->pending_gap += gap;
		return;
	}
	gap += s->pending_gap;
	s->pending_gap = 0;
	s->ops->packet(s->w, r, p, len, gap, &s->st);
}

/* The held packet next in sequence order. */
static size_t held_first(const struct xs *s)
{
	size_t m = 0;

	for (size_t i = 1; i < s->nheld; i++)
		if ((uint16_t)(s->hold[i].r.seq - s->next_seq) < (uint16_t)(s->hold[m].r.seq - s->next_seq))
			m = i;
	return m;
}

/* Hands on the held packets that are now in sequence, and more, lowest first, while more than
 * keep are held (what they skip over is lost). */
static void release(struct xs *s, size_t keep)
{
	while (s->nheld > 0) {
		size_t m = held_first(s);
		uint16_t d = (uint16_t)(s->hold[m].r.seq - s->next_seq);
		struct held h;

		if (d != 0 && s->nheld <= keep)
			break;
		h = s->hold[m];
		s->hold[m] = s->hold[--s->nheld];
		s->lost += d;
		deliver(s, &h.r, h.p, h.len, d);
		free(h.p);
	}
}

/* Keeps a packet that came early (after a higher sequence number was due); -1 if it cannot. */
static int hold(struct xs *s, const struct cc_rtp *r, const uint8_t *p, size_t len)
{
	struct held *h;

	for (size_t i = 0; i < s->nheld; i++)
		if (s->hold[i].r.seq == r->seq)
			return 1;	/* a duplicate of one already held */
	if (s->hold == NULL && (s->hold = calloc(XM_HOLD, sizeof *s->hold)) == NULL)
		return -1;
	h = &s->hold[s->nheld];
	h->p = malloc(len ? len : 1);
	if (h->p == NULL)
		return -1;
	memcpy(h->p, p, len);
	h->len = len;
	h->r = *r;
	/* The extension pointed into the capture's buffer, which the next frame overwrites. */
	h->r.ext.p = NULL;
	h->r.ext.len = 0;
	s->nheld++;
	return 0;
}

/*
 * Packets go to the writer in sequence order: one that comes early (a gap before it) is held
 * back, up to XM_HOLD of them, so that a packet reordered on the way still lands in its frame;
 * when the hold is full the gap is taken as loss.  A packet behind what was handed on already
 * is late or a duplicate (RFC 3550 A.1) and is dropped.
 */
int cc_xm_packet(struct cc_xm *x, const struct cc_pkt *pkt, const struct cc_rtp *r)
{
	struct xs *s = find(x, pkt, r->ssrc, 0);
	const uint8_t *p = pkt->payload + r->payload_off;
	uint16_t d;

	if (s == NULL)
		return 0;
	if (s->encrypted)
		return 0;
	if (s->codec == C_G711)
		return 1;
	if (s->w == NULL)
		return 0;
	if (!s->have_seq) {
		s->have_seq = 1;
		deliver(s, r, p, r->payload_len, 0);
		return 0;
	}
	d = (uint16_t)(r->seq - s->next_seq);
	if (d >= XM_MAX_MISORDER && d < 0x8000) {
		/* A restart: what is held goes first, and whatever came before is unrelated. */
		release(s, 0);
		deliver(s, r, p, r->payload_len, 1);
		return 0;
	}
	if (d != 0 && s->nheld >= XM_HOLD) {
		release(s, XM_HOLD - 1);
		d = (uint16_t)(r->seq - s->next_seq);
	}
	if (d >= 0x8000) {
		s->late++;
		return 0;
	}
	if (d == 0) {
		deliver(s, r, p, r->payload_len, 0);
		release(s, XM_HOLD);
		return 0;
	}
	if (hold(s, r, p, r->payload_len) != 0)
		s->late++;
	return 0;
}

static void print_written(const struct xs *s)
{
	const struct cc_media_stats *st = &s->st;

	printf("%s: %s %s, %llu packets, %llu %s, %.2f s", s->path, s->ops->codec, dir_word(s->dir),
	       (unsigned long long)st->pkts, (unsigned long long)st->frames,
	       s->codec == C_OPUS ? "Opus packets" : "frames",
	       st->clock ? (double)st->ticks / st->clock : 0.0);
	if (st->width)
		printf(", %ux%u", st->width, st->height);
	if (s->lost)
		printf(", %llu packets lost", (unsigned long long)s->lost);
	if (s->late)
		printf(", %llu late or duplicate", (unsigned long long)s->late);
	if (st->dropped)
		printf(", %llu incomplete frames dropped", (unsigned long long)st->dropped);
	if (st->skipped)
		printf(", %llu frames skipped until a key frame", (unsigned long long)st->skipped);
	if (st->concealed)
		printf(", %llu lost frames concealed", (unsigned long long)st->concealed);
	if (st->bad)
		printf(", %llu undecodable payloads", (unsigned long long)st->bad);
	putchar('\n');
}

int cc_xm_finish(struct cc_xm *x)
{
	int rc = 0;

	for (size_t i = 0; i < x->n; i++) {
		struct xs *s = &x->s[i];
		const char *why;

		if (s->encrypted) {
			why = s->encrypted == CC_ENC_PLAIN_COPY ? "its plaintext copy is extracted instead" :
				"no plaintext copy in the file: not extracted";
			printf("ssrc 0x%08x %s %s: SRTP (encrypted: %s), %s\n", s->ssrc, if_word(s->ifindex),
			       dir_word(s->dir), cc_enc_reason(s->encrypted), why);
			continue;
		}
		if (s->w != NULL) {
			int written;

			/* What is still held back: in order, the gaps before it lost. */
			release(s, 0);
			written = s->ops->close(s->w, &s->st);

			s->w = NULL;
			if (s->st.err) {
				fprintf(stderr, "clearcap extract: %s: %s\n", s->path, strerror(s->st.err));
				rc = -1;
			} else if (written) {
				print_written(s);
			} else {
				printf("ssrc 0x%08x %s %s: %s, %llu packets, no decodable frame: not extracted\n",
				       s->ssrc, if_word(s->ifindex), dir_word(s->dir), s->ops->codec,
				       (unsigned long long)s->st.pkts);
			}
			continue;
		}
		if (s->codec == C_NONE && s->valid)
			printf("ssrc 0x%08x %s %s: payload type %u, codec not recognised: not extracted\n",
			       s->ssrc, if_word(s->ifindex), dir_word(s->dir), s->pt);
	}
	if (x->overflow)
		fprintf(stderr, "clearcap extract: too many RTP streams: %llu packets not decoded\n",
			(unsigned long long)x->overflow);
	return rc;
}
