/*
 * extract.c - `clearcap extract FILE [-o DIR] [--both]`: one pcap per RTP SSRC, the audio of
 * G.711 streams (RTP payload types 0 PCMU and 8 PCMA, RFC 3551 §4.5.14) as WAV files, and
 * Opus, VP8 and H.264 streams as Ogg Opus, IVF and Annex B files (tools/xmedia.c).
 *
 * Media comes from packets whose payload is in the clear: clearcap's plaintext copies
 * (ifindex 2) of SRTP, or RTP that was never encrypted.  A first pass over the file runs the
 * report's analysis, which says which streams are SRTP (tools/encrypted.c) and what SDP in the
 * file says about payload types; those streams are never decoded, and one line says why.
 * Samples are placed by RTP timestamp (8000 Hz for G.711), so a lost or late packet leaves
 * silence where it belonged, not a shift of everything after it; RFC 4733 events on the
 * stream are drawn in as their DTMF tones (tools/dtmf_tone.c).  With --both, two streams in opposite directions of one flow become the left and
 * right channel of one WAV, each starting at its first packet's capture time.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "decoders/demux.h"
#include "decoders/rtp.h"
#include "tools/analyze.h"
#include "tools/capread.h"
#include "tools/dtmf_tone.h"
#include "tools/pktparse.h"
#include "tools/report.h"
#include "tools/rtpstats.h"
#include "tools/usage.h"
#include "tools/xmedia.h"

#define MAX_SSRC_FILES 256
#define MAX_AUDIO 64
#define G711_RATE 8000
#define MAX_SAMPLES (G711_RATE * 3600u)	/* an hour per stream bounds memory at 56 MiB */
#define MAX_TONES 128				/* RFC 4733 events drawn per stream */

struct ssrc_file {
	uint32_t ssrc;
	pcap_dumper_t *d;
	uint64_t pkts;
};

struct audio {
	uint32_t ssrc;
	uint8_t ifindex, dir, pt;
	struct cc_endpoint src, dst;
	uint32_t first_ts;
	uint64_t first_ns;
	int16_t *s;
	size_t len, cap;
	uint64_t pkts, skipped;
	unsigned pts;                   /* payload types placed: 1 PCMU, 2 PCMA */
	int written;
	/* RFC 4733 events on the same SSRC, by the timestamp where each began. */
	struct tone {
		uint32_t ts;
		uint16_t duration;
		uint8_t event, volume;
	} tones[MAX_TONES];
	size_t ntones;
};

struct extract {
	const char *dir;
	struct ssrc_file files[MAX_SSRC_FILES];
	size_t nfiles;
	uint64_t files_overflow;
	struct audio audio[MAX_AUDIO];
	size_t naudio;
	uint64_t audio_overflow;
	int err;
};

static struct ssrc_file *ssrc_file(struct extract *x, pcap_t *pc, uint32_t ssrc)
{
	char path[4096];
	struct ssrc_file *f;

	for (size_t i = 0; i < x->nfiles; i++)
		if (x->files[i].ssrc == ssrc)
			return &x->files[i];
	if (x->nfiles >= MAX_SSRC_FILES) {
		x->files_overflow++;
		return NULL;
	}
	snprintf(path, sizeof path, "%s/ssrc-%08x.pcap", x->dir, ssrc);
	f = &x->files[x->nfiles];
	/* The dump file takes the input's link type and timestamp precision. */
	f->d = pcap_dump_open(pc, path);
	if (f->d == NULL) {
		/* (libpcap's message names the file) */
		fprintf(stderr, "clearcap extract: %s\n", pcap_geterr(pc));
		x->err = 1;
		return NULL;
	}
	f->ssrc = ssrc;
	x->nfiles++;
	return f;
}

static int ep_same(const struct cc_endpoint *a, const struct cc_endpoint *b)
{
	return cc_endpoint_cmp(a, b) == 0;
}

static struct audio *audio_get(struct extract *x, const struct cc_pkt *pkt, const struct cc_rtp *r,
			       uint64_t ts, int create)
{
	struct audio *au;

	for (size_t i = 0; i < x->naudio; i++) {
		au = &x->audio[i];
		if (au->ssrc == r->ssrc && au->ifindex == pkt->ifindex && au->dir == pkt->dir &&
		    ep_same(&au->src, &pkt->src) && ep_same(&au->dst, &pkt->dst))
			return au;
	}
	if (!create)
		return NULL;
	if (x->naudio >= MAX_AUDIO) {
		x->audio_overflow++;
		return NULL;
	}
	au = &x->audio[x->naudio++];
	memset(au, 0, sizeof *au);
	au->ssrc = r->ssrc;
	au->ifindex = pkt->ifindex;
	au->dir = pkt->dir;
	au->pt = r->pt;
	au->src = pkt->src;
	au->dst = pkt->dst;
	au->first_ts = r->ts;
	au->first_ns = ts;
	return au;
}

/*
 * A telephone event (RFC 4733 §2.3) on a G.711 stream already under way: remembered by its
 * start timestamp, with the longest duration any of its packets (updates, the three end
 * retransmissions) gave.  The clock is the audio's, 8000 Hz, as telephone-event/8000 is when
 * it shares a stream with G.711.
 */
static void tone_add(struct extract *x, const struct cc_pkt *pkt, const struct cc_rtp *r, uint64_t ts)
{
	struct audio *au = audio_get(x, pkt, r, ts, 0);
	struct cc_dtmf d;
	struct tone *t = NULL;

	if (au == NULL || r->pt < 96 || cc_rtp_dtmf(pkt->payload + r->payload_off, r->payload_len, &d) < 0 ||
	    d.event > 15)
		return;
	for (size_t i = 0; i < au->ntones; i++)
		if (au->tones[i].ts == r->ts)
			t = &au->tones[i];
	if (t == NULL) {
		if (au->ntones >= MAX_TONES)
			return;
		t = &au->tones[au->ntones++];
		t->ts = r->ts;
		t->duration = 0;
	}
	t->event = d.event;
	t->volume = d.volume;
	if (d.duration > t->duration)
		t->duration = d.duration;
}

/* Draws each event's tone pair over the audio where it was pressed (within what was received). */
static void tones_render(struct audio *au)
{
	for (size_t i = 0; i < au->ntones; i++) {
		const struct tone *t = &au->tones[i];
		int32_t off = (int32_t)(t->ts - au->first_ts);
		size_t n = t->duration;

		if (off < 0 || (size_t)off >= au->len)
			continue;
		if (n > au->len - (size_t)off)
			n = au->len - (size_t)off;
		cc_dtmf_tone(au->s + off, n, G711_RATE, t->event, t->volume);
	}
}

static void audio_add(struct extract *x, const struct cc_pkt *pkt, uint64_t ts)
{
	struct cc_rtp r;
	struct audio *au;
	int32_t off;
	size_t need;

	if (cc_rtp_parse(pkt->payload, pkt->payload_len, &r) < 0)
		return;
	if (r.pt != 0 && r.pt != 8) {
		tone_add(x, pkt, &r, ts);
		return;
	}
	au = audio_get(x, pkt, &r, ts, 1);
	if (au == NULL)
		return;
	au->pkts++;
	off = (int32_t)(r.ts - au->first_ts);
	/* Before the first packet (reordered) or beyond the bound: not placed. */
	if (off < 0 || (uint32_t)off >= MAX_SAMPLES || r.payload_len > MAX_SAMPLES - (uint32_t)off) {
		au->skipped++;
		return;
	}
	/* PCMU and PCMA are both 8 kHz: a change between them is decoded packet by packet. */
	au->pts |= r.pt == 0 ? 1 : 2;
	need = (size_t)off + r.payload_len;
	if (need > au->cap) {
		size_t cap = au->cap ? au->cap : 8000;
		int16_t *s;

		while (cap < need)
			cap *= 2;
		s = realloc(au->s, cap * sizeof *s);
		if (s == NULL) {
			au->skipped++;
			return;
		}
		/* Samples no packet fills stay zero: silence for what was lost. */
		memset(s + au->cap, 0, (cap - au->cap) * sizeof *s);
		au->s = s;
		au->cap = cap;
	}
	for (size_t i = 0; i < r.payload_len; i++) {
		uint8_t b = pkt->payload[r.payload_off + i];

		au->s[off + i] = r.pt == 0 ? cc_ulaw_to_linear(b) : cc_alaw_to_linear(b);
	}
	if (need > au->len)
		au->len = need;
}

static void le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void le32(uint8_t *p, uint32_t v)
{
	le16(p, (uint16_t)v);
	le16(p + 2, (uint16_t)(v >> 16));
}

/* RIFF/WAVE, PCM 16-bit little-endian, 8000 Hz; samples interleaved by channel. */
static int write_wav(const char *path, int channels, const int16_t *const *ch, const size_t *len,
		     const size_t *start, size_t frames)
{
	uint8_t h[44];
	uint32_t data = (uint32_t)(frames * channels * 2);
	FILE *f = fopen(path, "wb");

	if (f == NULL)
		return -1;
	memcpy(h, "RIFF", 4);
	le32(h + 4, 36 + data);
	memcpy(h + 8, "WAVEfmt ", 8);
	le32(h + 16, 16);
	le16(h + 20, 1);
	le16(h + 22, (uint16_t)channels);
	le32(h + 24, G711_RATE);
	le32(h + 28, G711_RATE * 2 * channels);
	le16(h + 32, (uint16_t)(2 * channels));
	le16(h + 34, 16);
	memcpy(h + 36, "data", 4);
	le32(h + 40, data);
	fwrite(h, 1, sizeof h, f);
	for (size_t i = 0; i < frames; i++) {
		for (int c = 0; c < channels; c++) {
			int16_t v = 0;
			uint8_t b[2];

			if (i >= start[c] && i - start[c] < len[c])
				v = ch[c][i - start[c]];
			le16(b, (uint16_t)v);
			fwrite(b, 1, 2, f);
		}
	}
	return fclose(f) == 0 ? 0 : -1;
}

static const char *dir_word(uint8_t d)
{
	return d == CC_DIR_OUT ? "sent" : d == CC_DIR_IN ? "recv" : "seen";
}

static const char *if_word(uint8_t i)
{
	return i == 1 ? "wire" : i == 2 ? "plaintext" : i == 3 ? "relay" : "link";
}

static int write_audio(struct extract *x, int both)
{
	char path[4096];
	int n = 0;

	for (size_t i = 0; i < x->naudio; i++) {
		struct audio *au = &x->audio[i];
		const int16_t *ch[1] = { au->s };
		size_t start[1] = { 0 };
		int k = 1;

		if (au->len == 0)
			continue;
		tones_render(au);
		snprintf(path, sizeof path, "%s/ssrc-%08x-%s-%s.wav", x->dir, au->ssrc, if_word(au->ifindex),
			 dir_word(au->dir));
		/* Two flows with one SSRC, interface and direction: number the later ones. */
		for (size_t j = 0; j < i; j++)
			if (x->audio[j].written && x->audio[j].ssrc == au->ssrc &&
			    x->audio[j].ifindex == au->ifindex && x->audio[j].dir == au->dir)
				snprintf(path, sizeof path, "%s/ssrc-%08x-%s-%s-%d.wav", x->dir, au->ssrc,
					 if_word(au->ifindex), dir_word(au->dir), ++k);
		if (write_wav(path, 1, ch, &au->len, start, au->len) < 0) {
			fprintf(stderr, "clearcap extract: %s: %s\n", path, strerror(errno));
			return -1;
		}
		au->written = 1;
		printf("%s: %s %s, %llu packets, %.2f s", path,
		       au->pts == 3 ? "PCMU and PCMA" : au->pts == 2 ? "PCMA" : "PCMU", dir_word(au->dir),
		       (unsigned long long)au->pkts, (double)au->len / G711_RATE);
		if (au->skipped)
			printf(", %llu not placed (RTP time before the stream's first packet, or over an hour after)",
			       (unsigned long long)au->skipped);
		if (au->ntones) {
			printf(", DTMF ");
			for (size_t t = 0; t < au->ntones; t++)
				putchar(cc_dtmf_char(au->tones[t].event));
			printf(" drawn in");
		}
		putchar('\n');
		n++;
	}
	if (!both)
		return n;
	/* Pairs in opposite directions: prefer one process's view (its sent and its received copy). */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < x->naudio; i++) {
			struct audio *p = &x->audio[i];

			if (!p->written || (pass == 0 && p->dir != CC_DIR_OUT && p->dir != CC_DIR_UNKNOWN))
				continue;
			for (size_t j = 0; j < x->naudio; j++) {
				struct audio *q = &x->audio[j];
				const int16_t *ch[2];
				size_t len[2], start[2], frames;
				uint64_t t0;

				if (j == i || !q->written || q->ifindex != p->ifindex || !ep_same(&q->src, &p->dst) ||
				    !ep_same(&q->dst, &p->src) ||
				    (pass == 0 && p->dir == CC_DIR_OUT && q->dir != CC_DIR_IN))
					continue;
				t0 = p->first_ns < q->first_ns ? p->first_ns : q->first_ns;
				ch[0] = p->s;
				ch[1] = q->s;
				len[0] = p->len;
				len[1] = q->len;
				start[0] = (size_t)((p->first_ns - t0) * G711_RATE / 1000000000ull);
				start[1] = (size_t)((q->first_ns - t0) * G711_RATE / 1000000000ull);
				if (start[0] > MAX_SAMPLES || start[1] > MAX_SAMPLES)
					continue;
				frames = start[0] + len[0] > start[1] + len[1] ? start[0] + len[0] : start[1] + len[1];
				snprintf(path, sizeof path, "%s/both-%08x-%08x.wav", x->dir, p->ssrc, q->ssrc);
				if (write_wav(path, 2, ch, len, start, frames) < 0) {
					fprintf(stderr, "clearcap extract: %s: %s\n", path, strerror(errno));
					return -1;
				}
				printf("%s: left %08x %s, right %08x %s, %.2f s\n", path, p->ssrc,
				       dir_word(p->dir), q->ssrc, dir_word(q->dir), (double)frames / G711_RATE);
				return n + 1;
			}
		}
	}
	fprintf(stderr, "clearcap extract: --both: no two G.711 streams in opposite directions\n");
	return n;
}

static void extract_usage(FILE *f)
{
	fputs("Usage: clearcap extract FILE [-o DIR] [--both]\n"
	      "Write DIR/ssrc-XXXXXXXX.pcap with the RTP packets of each SSRC (the input's link type),\n"
	      "and for each stream in the clear DIR/ssrc-XXXXXXXX-IF-DIR.EXT: .wav for G.711 (8 kHz\n"
	      "16-bit mono; lost packets become silence, RFC 4733 DTMF events their tone pair),\n"
	      ".opus (Ogg Opus) for Opus, .ivf for VP8, .h264 (Annex B) for H.264; video frames\n"
	      "with a lost packet are dropped and writing resumes at the next key frame.  The codec\n"
	      "comes from SDP in the file, else from the payload.  SRTP streams without a plaintext\n"
	      "copy are not decoded: one line says why.\n"
	      "DIR defaults to '.'.\n"
	      "  --both   also write DIR/both-SSRC1-SSRC2.wav: the two directions of a call as left and\n"
	      "           right channel, aligned by capture time\n", f);
}

int cc_cmd_extract(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "both", no_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct extract x;
	struct cc_xm *xm = NULL;
	struct cc_an *an = NULL;
	const struct pcap_pkthdr *h;
	const uint8_t *data;
	struct cc_capread r;
	uint64_t ts;
	int both = 0, c, rc;

	memset(&x, 0, sizeof x);
	x.dir = ".";
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:bh", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': x.dir = optarg; break;
		case 'b': both = 1; break;
		case 'h': extract_usage(stdout); return 0;
		default: return cc_usage_bad_option("extract", c, argv, longopts);
		}
	}
	if (optind >= argc)
		return cc_usage_error("extract", "no FILE given");
	if (optind < argc - 1)
		return cc_usage_error("extract", "one FILE only: '%s' is one too many", argv[optind + 1]);
	if (mkdir(x.dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "clearcap extract: %s: %s\n", x.dir, strerror(errno));
		return 2;
	}
	if (cc_capread_open(&r, argv[optind], 0) < 0) {
		fprintf(stderr, "clearcap extract: %s\n", r.err);
		return 2;
	}
	if (!cc_pkt_link_supported(r.dlt)) {
		fprintf(stderr, "clearcap extract: %s: link type %d is not supported\n", argv[optind], r.dlt);
		cc_capread_close(&r);
		return 2;
	}
	/* Pass 1: what each stream is (codec, SDP, encryption) needs the whole file first. */
	an = cc_an_new();
	xm = cc_xm_new(x.dir);
	if (an == NULL || xm == NULL) {
		fprintf(stderr, "clearcap extract: out of memory\n");
		cc_an_free(an);
		cc_xm_free(xm);
		cc_capread_close(&r);
		return 2;
	}
	while ((rc = cc_capread_next(&r, &h, &data, &ts)) == 1) {
		struct cc_pkt pkt;
		struct cc_rtp hdr;

		cc_an_frame(an, r.dlt, ts, data, h->caplen, h->len);
		if (cc_pkt_parse(r.dlt, data, h->caplen, &pkt) == 0 && pkt.proto == IPPROTO_UDP &&
		    pkt.payload_len > 0 &&
		    cc_demux_udp(pkt.payload, pkt.payload_len, pkt.src.port, pkt.dst.port) == CC_CLASS_RTP &&
		    cc_rtp_header(pkt.payload, pkt.payload_len, &hdr) == 0)
			cc_xm_sniff(xm, &pkt, &hdr);
	}
	cc_an_finish(an);
	cc_xm_decide(xm, an);
	cc_an_free(an);
	cc_capread_close(&r);
	if (cc_capread_open(&r, argv[optind], 0) < 0) {
		fprintf(stderr, "clearcap extract: %s\n", r.err);
		cc_xm_free(xm);
		return 2;
	}
	while ((rc = cc_capread_next(&r, &h, &data, &ts)) == 1) {
		struct cc_pkt pkt;
		struct cc_rtp hdr, full;
		struct ssrc_file *f;

		if (cc_pkt_parse(r.dlt, data, h->caplen, &pkt) < 0 || pkt.proto != IPPROTO_UDP ||
		    pkt.payload_len == 0 ||
		    cc_demux_udp(pkt.payload, pkt.payload_len, pkt.src.port, pkt.dst.port) != CC_CLASS_RTP ||
		    cc_rtp_header(pkt.payload, pkt.payload_len, &hdr) < 0)
			continue;
		f = ssrc_file(&x, r.pc, hdr.ssrc);
		if (f != NULL) {
			pcap_dump((u_char *)f->d, h, data);
			f->pkts++;
		}
		if (x.err)
			break;
		if (cc_rtp_parse(pkt.payload, pkt.payload_len, &full) == 0 && cc_xm_packet(xm, &pkt, &full))
			audio_add(&x, &pkt, ts);
	}
	if (rc < 0)
		fprintf(stderr, "clearcap extract: %s: stopped at a damaged record: %s\n", argv[optind], r.err);
	for (size_t i = 0; i < x.nfiles; i++) {
		printf("%s/ssrc-%08x.pcap: %llu packets\n", x.dir, x.files[i].ssrc,
		       (unsigned long long)x.files[i].pkts);
		if (pcap_dump_flush(x.files[i].d) < 0)
			x.err = 1;
		pcap_dump_close(x.files[i].d);
	}
	if (x.files_overflow || x.audio_overflow)
		fprintf(stderr, "clearcap extract: too many SSRCs: %llu packets without a file, %llu audio "
			"packets not decoded\n", (unsigned long long)x.files_overflow,
			(unsigned long long)x.audio_overflow);
	if (!x.err && write_audio(&x, both) < 0)
		x.err = 1;
	if (cc_xm_finish(xm) < 0)
		x.err = 1;
	cc_xm_free(xm);
	for (size_t i = 0; i < x.naudio; i++)
		free(x.audio[i].s);
	cc_capread_close(&r);
	return x.err ? 2 : 0;
}
