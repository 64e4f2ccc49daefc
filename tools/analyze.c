/*
 * analyze.c - the analysis engine: each frame is parsed down to its transport payload
 * (tools/pktparse.c), classified per RFC 7983 and handed to the decoders in decoders/, and
 * what they find is accumulated in the fixed tables of struct cc_an.
 *
 * Both ends of a conversation are often in one clearcap file (sent copy and received copy of
 * each datagram).  Flows count what the file holds; RTP streams and RTCP sources are kept
 * apart by capture direction, so a sender's and a receiver's view can be compared; STUN
 * transactions are keyed by transaction id, so the copies count once.
 */
#include "tools/analyze.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "decoders/demux.h"
#include "decoders/dtls.h"
#include "decoders/rtcp.h"
#include "decoders/rtp.h"
#include "decoders/sctp.h"
#include "decoders/stun.h"

/* Candidate rates for a dynamic payload type, in the order of struct cc_stream.jit. */
static const uint32_t clocks[CC_AN_CLOCKS] = { 8000, 16000, 22050, 32000, 44100, 48000, 90000 };

#define BUCKET_NS_START 100000000ull	/* 100 ms; doubles as a stream grows longer */
#define FLOW_SLOTS (2 * CC_AN_MAX_FLOWS)
#define STREAM_SLOTS (2 * CC_AN_MAX_STREAMS)

const char *cc_kind_name(enum cc_kind k)
{
	static const char *const names[CC_K_COUNT] = {
		"stun", "turn", "dtls", "rtp", "rtcp", "sctp", "other", "tcp", "sip", "tls",
	};
	return (unsigned)k < CC_K_COUNT ? names[k] : "?";
}

struct cc_an *cc_an_new(void)
{
	struct cc_an *a = calloc(1, sizeof *a);

	if (a == NULL)
		return NULL;
	a->flows = calloc(CC_AN_MAX_FLOWS, sizeof *a->flows);
	a->streams = calloc(CC_AN_MAX_STREAMS, sizeof *a->streams);
	a->stun = calloc(CC_AN_MAX_STUN, sizeof *a->stun);
	a->turn = calloc(CC_AN_MAX_TURN, sizeof *a->turn);
	a->rtcp = calloc(CC_AN_MAX_RTCP, sizeof *a->rtcp);
	a->channels = calloc(CC_AN_MAX_CHANNELS, sizeof *a->channels);
	a->dtmf = calloc(CC_AN_MAX_DTMF, sizeof *a->dtmf);
	a->flow_idx = calloc(FLOW_SLOTS, sizeof *a->flow_idx);
	a->stream_idx = calloc(STREAM_SLOTS, sizeof *a->stream_idx);
	a->sip = calloc(CC_AN_MAX_SIP, sizeof *a->sip);
	a->plain_keys = calloc(CC_AN_PLAIN_KEYS, sizeof *a->plain_keys);
	if (!a->sip || !a->plain_keys || !a->flows || !a->streams || !a->stun || !a->turn || !a->rtcp || !a->channels ||
	    !a->dtmf || !a->flow_idx || !a->stream_idx) {
		cc_an_free(a);
		return NULL;
	}
	a->dlt = -1;
	return a;
}

void cc_an_free(struct cc_an *a)
{
	if (a == NULL)
		return;
	free(a->flows);
	free(a->streams);
	free(a->stun);
	free(a->turn);
	free(a->rtcp);
	free(a->channels);
	free(a->dtmf);
	free(a->flow_idx);
	free(a->stream_idx);
	free(a->sip);
	free(a->plain_keys);
	free(a);
}

/* -------------------------------------------------------------------------------------------
 * Keys and lookups
 */

static int ep_eq(const struct cc_endpoint *x, const struct cc_endpoint *y)
{
	return cc_endpoint_cmp(x, y) == 0;
}

static uint32_t fnv(uint32_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

static uint32_t ep_hash(uint32_t h, const struct cc_endpoint *e)
{
	h = fnv(h, &e->family, 1);
	h = fnv(h, e->ip, e->family == 6 ? 16 : 4);
	return fnv(h, &e->port, sizeof e->port);
}

static void endpoint_copy(struct cc_endpoint *dst, const struct cc_endpoint *src)
{
	memset(dst, 0, sizeof *dst);
	dst->family = src->family;
	memcpy(dst->ip, src->ip, src->family == 6 ? 16 : 4);
	dst->port = src->port;
}

/* Order the two ends; *d is 0 when the packet goes a -> b. */
static void order(const struct cc_pkt *pkt, const struct cc_endpoint **x, const struct cc_endpoint **y,
		  int *d)
{
	if (cc_endpoint_cmp(&pkt->src, &pkt->dst) <= 0) {
		*x = &pkt->src;
		*y = &pkt->dst;
		*d = 0;
	} else {
		*x = &pkt->dst;
		*y = &pkt->src;
		*d = 1;
	}
}

static struct cc_flow *flow_get(struct cc_an *a, const struct cc_pkt *pkt, uint64_t ts, int *d)
{
	const struct cc_endpoint *x, *y;
	uint32_t h = 2166136261u;
	struct cc_flow *f;

	order(pkt, &x, &y, d);
	h = fnv(h, &pkt->ifindex, 1);
	h = fnv(h, &pkt->proto, 1);
	h = ep_hash(ep_hash(h, x), y);
	for (uint32_t i = 0; i < FLOW_SLOTS; i++) {
		uint32_t slot = (h + i) % FLOW_SLOTS;
		uint32_t idx = a->flow_idx[slot];

		if (idx == 0) {
			if (a->nflows >= CC_AN_MAX_FLOWS) {
				a->overflow.flows++;
				return NULL;
			}
			f = &a->flows[a->nflows++];
			a->flow_idx[slot] = (uint32_t)a->nflows;
			f->ifindex = pkt->ifindex;
			f->proto = pkt->proto;
			endpoint_copy(&f->a, x);
			endpoint_copy(&f->b, y);
			f->first_ns = ts;
			return f;
		}
		f = &a->flows[idx - 1];
		if (f->ifindex == pkt->ifindex && f->proto == pkt->proto && ep_eq(&f->a, x) &&
		    ep_eq(&f->b, y))
			return f;
	}
	a->overflow.flows++;
	return NULL;
}

/* The flow between two endpoints on an interface, without creating it. */
static struct cc_flow *flow_find(struct cc_an *a, uint8_t ifindex, const struct cc_endpoint *s,
				 const struct cc_endpoint *t)
{
	for (size_t i = 0; i < a->nflows; i++) {
		struct cc_flow *f = &a->flows[i];

		if (f->ifindex == ifindex && f->proto == IPPROTO_UDP &&
		    ((ep_eq(&f->a, s) && ep_eq(&f->b, t)) || (ep_eq(&f->a, t) && ep_eq(&f->b, s))))
			return f;
	}
	return NULL;
}

/* -------------------------------------------------------------------------------------------
 * RTP
 */

static struct cc_stream *stream_get(struct cc_an *a, const struct cc_pkt *pkt, uint32_t ssrc,
				    uint64_t ts)
{
	uint32_t h = 2166136261u;
	struct cc_stream *s;

	h = fnv(h, &ssrc, sizeof ssrc);
	h = fnv(h, &pkt->ifindex, 1);
	h = fnv(h, &pkt->dir, 1);
	h = ep_hash(ep_hash(h, &pkt->src), &pkt->dst);
	for (uint32_t i = 0; i < STREAM_SLOTS; i++) {
		uint32_t slot = (h + i) % STREAM_SLOTS;
		uint32_t idx = a->stream_idx[slot];

		if (idx == 0) {
			if (a->nstreams >= CC_AN_MAX_STREAMS) {
				a->overflow.streams++;
				return NULL;
			}
			s = &a->streams[a->nstreams++];
			a->stream_idx[slot] = (uint32_t)a->nstreams;
			memset(s, 0, sizeof *s);
			s->ssrc = ssrc;
			s->ifindex = pkt->ifindex;
			s->dir = pkt->dir;
			endpoint_copy(&s->src, &pkt->src);
			endpoint_copy(&s->dst, &pkt->dst);
			s->first_ns = ts;
			s->bucket_ns = BUCKET_NS_START;
			for (int k = 0; k < CC_AN_CLOCKS; k++)
				cc_jitter_init(&s->jit[k], clocks[k]);
			return s;
		}
		s = &a->streams[idx - 1];
		if (s->ssrc == ssrc && s->ifindex == pkt->ifindex && s->dir == pkt->dir &&
		    ep_eq(&s->src, &pkt->src) && ep_eq(&s->dst, &pkt->dst))
			return s;
	}
	a->overflow.streams++;
	return NULL;
}

/*
 * A dynamic payload type says nothing about its clock, so the rate is estimated from how far
 * the RTP timestamp advanced over the capture time, and snapped to a common rate.  Until a fifth
 * of a second has passed there is nothing to estimate from, and 90000 (video) is assumed.
 */
uint32_t cc_stream_clock(const struct cc_stream *s)
{
	uint64_t span_ns;
	int32_t span_ts;

	if (s->clock)
		return s->clock;
	if (s->sdp_clock)
		return s->sdp_clock;
	span_ns = s->last_ns - s->first_ns;
	span_ts = (int32_t)(s->last_ts - s->first_ts);
	if (!s->have_ts || span_ns < 200000000ull || span_ts <= 0)
		return 90000;
	return cc_rtp_snap_clock((double)span_ts * 1e9 / (double)span_ns);
}

static const struct cc_jitter *stream_jit(const struct cc_stream *s)
{
	uint32_t c = cc_stream_clock(s);

	if (s->clock)
		return &s->jit[0];	/* a static clock is kept in slot 0 */
	for (int k = 0; k < CC_AN_CLOCKS; k++)
		if (clocks[k] == c)
			return &s->jit[k];
	return &s->jit[CC_AN_CLOCKS - 1];
}

double cc_stream_jitter_ms(const struct cc_stream *s)
{
	return cc_jitter_ms(stream_jit(s));
}

double cc_stream_max_jitter_ms(const struct cc_stream *s)
{
	const struct cc_jitter *j = stream_jit(s);

	return j->clock ? j->max_jitter * 1000.0 / j->clock : 0;
}

static void bucket_add(struct cc_stream *s, uint64_t ts, size_t bytes)
{
	uint64_t idx = (ts - s->first_ns) / s->bucket_ns;
	struct cc_bucket *b;

	if (ts < s->first_ns)
		idx = 0;	/* records of different processes can be slightly out of order */
	/* Outgrown: halve the resolution, merging neighbours, until the packet fits. */
	while (idx >= CC_AN_BUCKETS) {
		for (uint32_t i = 0; i < CC_AN_BUCKETS / 2; i++) {
			struct cc_bucket *x = &s->buckets[2 * i], *y = &s->buckets[2 * i + 1];
			struct cc_bucket m;

			m.pkts = x->pkts + y->pkts;
			m.bytes = x->bytes + y->bytes;
			m.ext_max = y->ext_max ? y->ext_max : x->ext_max;
			m.jitter_ms = y->pkts ? y->jitter_ms : x->jitter_ms;
			s->buckets[i] = m;
		}
		memset(&s->buckets[CC_AN_BUCKETS / 2], 0,
		       sizeof s->buckets[0] * (CC_AN_BUCKETS - CC_AN_BUCKETS / 2));
		s->bucket_ns *= 2;
		s->nbuckets = (s->nbuckets + 1) / 2;
		idx = (ts - s->first_ns) / s->bucket_ns;
	}
	b = &s->buckets[idx];
	b->pkts++;
	b->bytes += (uint32_t)(bytes > UINT32_MAX - b->bytes ? UINT32_MAX - b->bytes : bytes);
	if (s->seq.valid)
		b->ext_max = cc_rtpseq_ext_max(&s->seq) + 1;
	b->jitter_ms = (float)cc_stream_jitter_ms(s);
	if (idx + 1 > s->nbuckets)
		s->nbuckets = (uint32_t)idx + 1;
}

char cc_dtmf_char(uint8_t e)
{
	static const char keys[] = "0123456789*#ABCDF";

	return e < sizeof keys - 1 ? keys[e] : '?';
}

/* RFC 4733 §2.5: one event is every packet with its RTP timestamp; the E bit ends it. */
static void dtmf_add(struct cc_an *a, const struct cc_pkt *pkt, uint64_t ts, const struct cc_rtp *r,
		     const struct cc_dtmf *d)
{
	size_t lo = a->ndtmf > 16 ? a->ndtmf - 16 : 0;
	struct cc_dtmf_event *e;

	for (size_t i = a->ndtmf; i-- > lo;) {
		e = &a->dtmf[i];
		if (e->ssrc == r->ssrc && e->rtp_ts == r->ts && e->ifindex == pkt->ifindex &&
		    e->dir == pkt->dir) {
			e->ended |= d->end;
			if (d->duration > e->duration)
				e->duration = d->duration;
			return;
		}
	}
	if (a->ndtmf >= CC_AN_MAX_DTMF) {
		a->overflow.dtmf++;
		return;
	}
	e = &a->dtmf[a->ndtmf++];
	e->t_ns = ts;
	e->ssrc = r->ssrc;
	e->rtp_ts = r->ts;
	e->ifindex = pkt->ifindex;
	e->dir = pkt->dir;
	e->event = d->event;
	e->ended = d->end;
	e->duration = d->duration;
	e->volume = d->volume;
}

static void on_rtp(struct cc_an *a, const struct cc_pkt *pkt, uint64_t ts, size_t wirelen)
{
	struct cc_rtp r;
	struct cc_dtmf d;
	struct cc_stream *s;
	int is_dtmf = 0;
	uint64_t dups;

	if (cc_rtp_header(pkt->payload, pkt->payload_len, &r) < 0)
		return;
	/* A dynamic PT carrying exactly one 4-byte event block is RFC 4733 (§2.3); SRTP's auth tag
	 * makes an encrypted one longer, so only clear events match. */
	if (r.pt >= 96 && r.payload_len == 4 &&
	    cc_rtp_dtmf(pkt->payload + r.payload_off, r.payload_len, &d) == 0 && d.event <= 16)
		is_dtmf = 1;
	s = stream_get(a, pkt, r.ssrc, ts);
	if (s == NULL)
		return;
	if (s->pkts == 0) {
		cc_rtpseq_first(&s->seq, r.seq);
	}
	if (is_dtmf) {
		s->dtmf_pt = r.pt;
		dtmf_add(a, pkt, ts, &r, &d);
	} else if (s->pkts == 0 || s->pt == 0xff) {
		s->pt = r.pt;
		s->clock = cc_rtp_static_clock(r.pt);
		if (s->clock)
			cc_jitter_init(&s->jit[0], s->clock);
	} else if (r.pt != s->cur_pt) {
		s->pt_changes++;        /* a change, not every packet after it */
	}
	if (!is_dtmf)
		s->cur_pt = r.pt;
	if (s->pkts == 0 && is_dtmf)
		s->pt = 0xff;	/* no media payload type yet */
	s->pkts++;
	s->bytes += wirelen;
	s->payload_bytes += r.payload_len;
	/* G.711 sends 80 bytes per 10 ms; SRTP appends a 4- or 10-byte tag (RFC 3711 §4.2). */
	if (r.pt == 0 || r.pt == 8) {
		size_t plen = r.payload_len;
		struct cc_rtp clear;
		/*
		 * Padding is not payload (RFC 3550 §5.1): where the P bit is set and the last byte
		 * counts padding that leaves whole 10 ms frames, the packet is clear.  (SRTP's last
		 * byte is its tag's, RFC 3711 §3.1.)
		 */
		if (r.padding && cc_rtp_parse(pkt->payload, pkt->payload_len, &clear) == 0 && clear.payload_len % 80 == 0)
			plen = clear.payload_len;
		s->g711_pkts++;
		s->g711_tagged += plen % 80 == 4 || plen % 80 == 10;
	}
	s->last_ns = ts;
	dups = s->seq.duplicates;
	cc_rtpseq_update(&s->seq, r.seq);
	if (!is_dtmf && s->seq.duplicates == dups) {
		if (!s->have_ts) {
			s->have_ts = 1;
			s->first_ts = r.ts;
			s->last_ts = r.ts;
		} else if ((int32_t)(r.ts - s->last_ts) > 0) {
			s->last_ts = r.ts;
		}
		if (s->clock) {
			cc_jitter_update(&s->jit[0], ts, r.ts);
		} else {
			for (int k = 0; k < CC_AN_CLOCKS; k++)
				cc_jitter_update(&s->jit[k], ts, r.ts);
		}
	}
	bucket_add(s, ts, wirelen);
}

/* -------------------------------------------------------------------------------------------
 * RTCP
 */

static struct cc_rtcp_src *rtcp_get(struct cc_an *a, const struct cc_pkt *pkt, uint32_t ssrc)
{
	struct cc_rtcp_src *r;

	for (size_t i = 0; i < a->nrtcp; i++) {
		r = &a->rtcp[i];
		if (r->ssrc == ssrc && r->ifindex == pkt->ifindex && r->dir == pkt->dir &&
		    ep_eq(&r->src, &pkt->src) && ep_eq(&r->dst, &pkt->dst))
			return r;
	}
	if (a->nrtcp >= CC_AN_MAX_RTCP) {
		a->overflow.rtcp++;
		return NULL;
	}
	r = &a->rtcp[a->nrtcp++];
	memset(r, 0, sizeof *r);
	r->ssrc = ssrc;
	r->ifindex = pkt->ifindex;
	r->dir = pkt->dir;
	endpoint_copy(&r->src, &pkt->src);
	endpoint_copy(&r->dst, &pkt->dst);
	return r;
}

static void rtcp_report(struct cc_an *a, struct cc_rtcp_src *src, const struct cc_rtcp_pkt *pkt)
{
	struct cc_rtcp_report rep;
	struct cc_rtcp_rb rb;

	if (cc_rtcp_report(pkt, &rep) < 0)
		return;
	for (unsigned i = 0; i < rep.rb_count; i++) {
		if (cc_rtcp_report_block(&rep, i, &rb) < 0)
			break;
		src->have_rb = 1;
		src->rb_ssrc = rb.ssrc;
		src->rb_fraction = rb.fraction_lost;
		src->rb_cum_lost = rb.cumulative_lost;
		src->rb_jitter = rb.jitter;
		/* What the other side says about our stream, next to what we measured. */
		for (size_t k = 0; k < a->nstreams; k++) {
			struct cc_stream *s = &a->streams[k];

			if (s->ssrc == rb.ssrc) {
				s->rr_count++;
				s->rr_fraction = rb.fraction_lost;
				s->rr_cum_lost = rb.cumulative_lost;
				s->rr_jitter = rb.jitter;
			}
		}
	}
}

static void on_rtcp(struct cc_an *a, const struct cc_pkt *pkt)
{
	const uint8_t *p = pkt->payload;
	size_t len = pkt->payload_len;
	struct cc_rtcp_src *src;
	struct cc_rtcp_iter it;
	struct cc_rtcp_pkt rp;
	struct cc_cur c;
	uint32_t ssrc;
	uint8_t pt;

	/* The first header and sender SSRC are in the clear even in SRTCP (RFC 3711 §3.4). */
	cur_init(&c, p, len);
	if (cur_skip(&c, 1) < 0 || cur_u8(&c, &pt) < 0 || cur_skip(&c, 2) < 0 ||
	    cur_be32(&c, &ssrc) < 0)
		return;
	src = rtcp_get(a, pkt, ssrc);
	if (src == NULL)
		return;
	src->packets++;
	if (cc_rtcp_validate(p, len, 1) < 0) {
		/* Encrypted (or broken): only its first packet's type can be read. */
		src->undecodable++;
		if (pt == CC_RTCP_SR)
			src->sr++;
		else if (pt == CC_RTCP_RR)
			src->rr++;
		return;
	}
	cc_rtcp_iter_init(&it, p, len);
	while (cc_rtcp_next(&it, &rp) == 1) {
		struct cc_rtcp_fb fb;
		struct cc_rtcp_remb remb;

		switch (rp.pt) {
		case CC_RTCP_SR: src->sr++; rtcp_report(a, src, &rp); break;
		case CC_RTCP_RR: src->rr++; rtcp_report(a, src, &rp); break;
		case CC_RTCP_SDES: src->sdes++; break;
		case CC_RTCP_BYE: src->bye++; break;
		case CC_RTCP_APP: src->app++; break;
		case CC_RTCP_XR: src->xr++; break;
		case CC_RTCP_RTPFB:
			if (rp.count == CC_RTPFB_NACK)
				src->nack++;
			else if (rp.count == CC_RTPFB_TCC)
				src->tcc++;
			else
				src->other_fb++;
			break;
		case CC_RTCP_PSFB:
			if (rp.count == CC_PSFB_PLI) {
				src->pli++;
			} else if (rp.count == CC_PSFB_FIR) {
				src->fir++;
			} else if (rp.count == CC_PSFB_AFB && cc_rtcp_fb(&rp, &fb) == 0 &&
				   cc_rtcp_remb(&fb, &remb) == 0) {
				src->remb++;
				src->remb_bps = remb.bitrate;
			} else {
				src->other_fb++;
			}
			break;
		default:
			break;
		}
	}
}

/* -------------------------------------------------------------------------------------------
 * STUN and TURN
 */

static struct cc_stun_tx *stun_find(struct cc_an *a, const uint8_t txid[12], int create)
{
	uint32_t h = fnv(2166136261u, txid, 12);

	for (uint32_t i = 0; i < CC_AN_MAX_STUN; i++) {
		struct cc_stun_tx *t = &a->stun[(h + i) & (CC_AN_MAX_STUN - 1)];

		if (!t->used) {
			/* Keep a quarter free so probes stay short. */
			if (!create || a->nstun >= CC_AN_MAX_STUN / 4 * 3) {
				if (create)
					a->overflow.stun++;
				return NULL;
			}
			memset(t, 0, sizeof *t);
			t->used = 1;
			memcpy(t->txid, txid, 12);
			a->nstun++;
			return t;
		}
		if (memcmp(t->txid, txid, 12) == 0)
			return t;
	}
	return NULL;
}

static void stun_ep(struct cc_endpoint *e, const struct cc_stun_addr *s)
{
	memset(e, 0, sizeof *e);
	e->family = s->family == AF_INET6 ? 6 : 4;
	memcpy(e->ip, s->addr, e->family == 6 ? 16 : 4);
	e->port = s->port;
}

/* The allocation a TURN request or response belongs to: client and server of the request. */
static struct cc_turn_alloc *turn_get(struct cc_an *a, uint8_t ifindex, const struct cc_endpoint *client,
				      const struct cc_endpoint *server, uint64_t ts, int create)
{
	struct cc_turn_alloc *t;

	for (size_t i = 0; i < a->nturn; i++) {
		t = &a->turn[i];
		if (t->ifindex == ifindex && ep_eq(&t->client, client) && ep_eq(&t->server, server))
			return t;
	}
	if (!create)
		return NULL;
	if (a->nturn >= CC_AN_MAX_TURN) {
		a->overflow.turn++;
		return NULL;
	}
	t = &a->turn[a->nturn++];
	memset(t, 0, sizeof *t);
	t->ifindex = ifindex;
	endpoint_copy(&t->client, client);
	endpoint_copy(&t->server, server);
	t->first_ns = ts;
	return t;
}

static int is_turn_method(uint16_t m)
{
	return m == CC_STUN_ALLOCATE || m == CC_STUN_REFRESH || m == CC_STUN_CREATE_PERMISSION ||
	       m == CC_STUN_CHANNEL_BIND;
}

static void turn_request(struct cc_an *a, const struct cc_stun_tx *t, uint64_t ts)
{
	struct cc_turn_alloc *al = turn_get(a, t->ifindex, &t->from, &t->to, ts, 1);

	if (al == NULL)
		return;
	switch (t->method) {
	case CC_STUN_ALLOCATE: al->allocate_req++; break;
	case CC_STUN_REFRESH: al->refresh_req++; break;
	case CC_STUN_CREATE_PERMISSION: al->perm_req++; break;
	case CC_STUN_CHANNEL_BIND: al->bind_req++; break;
	}
}

static void turn_response(struct cc_an *a, const struct cc_stun_tx *t)
{
	struct cc_turn_alloc *al = turn_get(a, t->ifindex, &t->from, &t->to, t->req_ns, 1);
	int okay = t->outcome == CC_STUN_SUCCESS;

	if (al == NULL)
		return;
	if (!okay)
		al->last_error = t->error_code;
	switch (t->method) {
	case CC_STUN_ALLOCATE:
		if (okay) {
			al->allocate_ok++;
			if (t->have_relayed) {
				al->have_relayed = 1;
				al->relayed = t->relayed;
			}
			if (t->have_mapped)
				al->mapped = t->mapped;
			if (t->has_resp_lifetime)
				al->lifetime = t->resp_lifetime;
		} else if (t->error_code == 401) {
			/* RFC 8656 §7.2: the first Allocate is expected to be challenged. */
			al->allocate_401++;
		} else {
			al->allocate_err++;
		}
		break;
	case CC_STUN_REFRESH:
		if (okay) {
			al->refresh_ok++;
			if (t->has_resp_lifetime)
				al->lifetime = t->resp_lifetime;
			if (t->has_lifetime && t->req_lifetime == 0)
				al->deallocated = 1;	/* RFC 8656 §7.3 */
		} else {
			al->refresh_err++;
		}
		break;
	case CC_STUN_CREATE_PERMISSION:
		okay ? al->perm_ok++ : al->perm_err++;
		break;
	case CC_STUN_CHANNEL_BIND:
		if (!okay) {
			al->bind_err++;
			break;
		}
		al->bind_ok++;
		if (t->have_peer) {
			uint32_t i;

			for (i = 0; i < al->nbindings; i++)
				if (al->bindings[i].channel == t->channel)
					break;
			if (i == al->nbindings) {
				if (al->nbindings >= CC_AN_MAX_BINDINGS) {
					a->overflow.bindings++;
					break;
				}
				al->nbindings++;
			}
			al->bindings[i].channel = t->channel;
			al->bindings[i].peer = t->peer;
		}
		break;
	}
}

/* Transactions in request-time order, so allocations are listed as they were made. */
static const struct cc_an *finish_an;

static int by_req(const void *x, const void *y)
{
	uint64_t p = finish_an->stun[*(const uint32_t *)x].req_ns;
	uint64_t q = finish_an->stun[*(const uint32_t *)y].req_ns;

	return p < q ? -1 : p > q;
}

void cc_an_finish(struct cc_an *a)
{
	uint32_t *idx = malloc(CC_AN_MAX_STUN * sizeof *idx);
	size_t n = 0;

	cc_an_sip_finish(a);
	if (idx == NULL)
		return;
	for (uint32_t i = 0; i < CC_AN_MAX_STUN; i++)
		if (a->stun[i].used && a->stun[i].requests > 0)
			idx[n++] = i;
	finish_an = a;
	qsort(idx, n, sizeof *idx, by_req);
	for (size_t i = 0; i < n; i++) {
		struct cc_stun_tx *t = &a->stun[idx[i]];

		if (t->outcome == CC_STUN_SUCCESS && t->method == CC_STUN_BINDING && t->use_candidate) {
			/* RFC 8445 §7.2.5.3.4: a successful check with USE-CANDIDATE nominates the pair. */
			struct cc_flow *f = flow_find(a, t->ifindex, &t->from, &t->to);

			if (f != NULL && (!f->nominated || t->resp_ns < f->nominated_ns)) {
				f->nominated = 1;
				f->nominated_ns = t->resp_ns;
			}
		}
		if (is_turn_method(t->method)) {
			turn_request(a, t, t->req_ns);
			if (t->outcome)
				turn_response(a, t);
		}
	}
	free(idx);
	/* A dynamic payload type that SDP in the file described takes that rate, when it is one
	 * whose jitter was followed (CC_AN_CLOCKS); otherwise the estimate stands. */
	for (size_t i = 0; i < a->nstreams; i++) {
		struct cc_stream *s = &a->streams[i];
		const struct cc_rtpmap *m = s->pt < 128 ? &a->rtpmap[s->pt] : NULL;

		if (s->clock || m == NULL || !m->set)
			continue;
		memcpy(s->sdp_name, m->name, sizeof s->sdp_name);
		for (int k = 0; k < CC_AN_CLOCKS; k++)
			if (clocks[k] == m->rate)
				s->sdp_clock = m->rate;
	}
	/* ChannelData and indications between a client and its server belong to the allocation. */
	for (size_t i = 0; i < a->nturn; i++) {
		struct cc_turn_alloc *al = &a->turn[i];
		struct cc_flow *f = flow_find(a, al->ifindex, &al->client, &al->server);
		int up;

		if (f == NULL)
			continue;
		up = ep_eq(&f->a, &al->client) ? 0 : 1;	/* index of client -> server */
		al->channel_data[0] = f->channel_data[up];
		al->channel_data[1] = f->channel_data[!up];
		al->indications[0] = f->indications[up];
		al->indications[1] = f->indications[!up];
	}
	cc_an_mark_encrypted(a);
	cc_an_noplain_finish(a);
}

/* A granted allocation or channel, kept for unwrapping what follows. */
/* Index i of a live table of *n entries: a new entry when i == *n, if there is room (else counted). */
static int live_slot(struct cc_an *a, size_t *n, size_t i)
{
	if (i < *n)
		return 0;
	if (i >= CC_AN_MAX_LIVE) {
		a->overflow.live++;
		return -1;
	}
	(*n)++;
	return 0;
}

static void live_note(struct cc_an *a, const struct cc_stun_tx *t)
{
	size_t i;

	if (t->method == CC_STUN_ALLOCATE && t->have_relayed) {
		for (i = 0; i < a->nlive_alloc; i++)
			if (a->live_alloc[i].ifindex == t->ifindex && ep_eq(&a->live_alloc[i].client, &t->from) &&
			    ep_eq(&a->live_alloc[i].server, &t->to))
				break;
		if (live_slot(a, &a->nlive_alloc, i) < 0)
			return;
		a->live_alloc[i].ifindex = t->ifindex;
		a->live_alloc[i].client = t->from;
		a->live_alloc[i].server = t->to;
		a->live_alloc[i].relayed = t->relayed;
	} else if (t->method == CC_STUN_CHANNEL_BIND && t->have_peer) {
		for (i = 0; i < a->nlive_chan; i++)
			if (a->live_chan[i].ifindex == t->ifindex && a->live_chan[i].channel == t->channel &&
			    ep_eq(&a->live_chan[i].client, &t->from) && ep_eq(&a->live_chan[i].server, &t->to))
				break;
		if (live_slot(a, &a->nlive_chan, i) < 0)
			return;
		a->live_chan[i].ifindex = t->ifindex;
		a->live_chan[i].channel = t->channel;
		a->live_chan[i].client = t->from;
		a->live_chan[i].server = t->to;
		a->live_chan[i].peer = t->peer;
	}
}

static const struct cc_live_alloc *live_alloc_find(const struct cc_an *a, uint8_t ifindex,
						   const struct cc_endpoint *client,
						   const struct cc_endpoint *server)
{
	for (size_t i = 0; i < a->nlive_alloc; i++)
		if (a->live_alloc[i].ifindex == ifindex && ep_eq(&a->live_alloc[i].client, client) &&
		    ep_eq(&a->live_alloc[i].server, server))
			return &a->live_alloc[i];
	return NULL;
}

/*
 * The datagram a TURN client exchanged with a peer, analysed as if captured between the relayed
 * address and the peer (the view clearcap's relay interface gives).  Only for frames clearcap
 * did not write (pid 0): clearcap writes its own unwrapped copy on ifindex 3 already.
 */
static void unwrap(struct cc_an *a, const struct cc_pkt *outer, uint64_t ts, const struct cc_endpoint *client,
		   const struct cc_endpoint *server, const struct cc_endpoint *peer, const uint8_t *data,
		   size_t len)
{
	const struct cc_live_alloc *al;
	struct cc_pkt in;

	if (a->unwrapping || outer->pid != 0 || len == 0)
		return;
	al = live_alloc_find(a, outer->ifindex, client, server);
	if (al == NULL)
		return;
	memset(&in, 0, sizeof in);
	in.dir = outer->dir;
	in.ifindex = 3;
	in.proto = IPPROTO_UDP;
	if (ep_eq(&outer->src, client)) {
		in.src = al->relayed;
		in.dst = *peer;
	} else {
		in.src = *peer;
		in.dst = al->relayed;
	}
	in.payload = in.l4 = data;
	in.payload_len = in.l4_len = len;
	a->unwrapping = 1;
	a->unwrapped++;
	cc_an_packet(a, ts, &in, len + (in.dst.family == 6 ? 48 : 28));
	a->unwrapping = 0;
}

/* ChannelData: the channel names the peer, for the client and server of this flow. */
static void unwrap_channel(struct cc_an *a, const struct cc_pkt *pkt, uint64_t ts)
{
	struct cc_turn_channel ch;

	if (a->unwrapping || pkt->pid != 0 ||
	    cc_turn_channel_data(pkt->payload, pkt->payload_len, &ch) != CC_OK)
		return;
	for (size_t i = 0; i < a->nlive_chan; i++) {
		const struct cc_live_chan *c = &a->live_chan[i];

		if (c->ifindex != pkt->ifindex || c->channel != ch.channel)
			continue;
		if (ep_eq(&c->client, &pkt->src) && ep_eq(&c->server, &pkt->dst))
			unwrap(a, pkt, ts, &pkt->src, &pkt->dst, &c->peer, ch.data.p, ch.data.len);
		else if (ep_eq(&c->client, &pkt->dst) && ep_eq(&c->server, &pkt->src))
			unwrap(a, pkt, ts, &pkt->dst, &pkt->src, &c->peer, ch.data.p, ch.data.len);
		else
			continue;
		return;
	}
}

/* The first time of a step: records of two processes are not always in time order. */
static void first_ts(uint64_t *slot, uint64_t ts)
{
	if (*slot == 0 || ts < *slot)
		*slot = ts;
}

static void on_stun(struct cc_an *a, struct cc_flow *f, const struct cc_pkt *pkt, uint64_t ts, int d,
		    enum cc_kind *kind)
{
	struct cc_stun_msg m;
	struct cc_stun_tx *t;

	if (cc_stun_parse(pkt->payload, pkt->payload_len, &m) < 0)
		return;
	*kind = m.hdr.method == CC_STUN_BINDING ? CC_K_STUN : CC_K_TURN;
	if (m.hdr.cls == CC_STUN_INDICATION) {
		if ((m.hdr.method == CC_STUN_SEND || m.hdr.method == CC_STUN_DATA) && f != NULL) {
			struct cc_endpoint peer;

			f->indications[d]++;
			first_ts(&f->first_chdata_ns, ts);
			if ((m.has & CC_STUN_HAS_XOR_PEER) && (m.has & CC_STUN_HAS_DATA)) {
				/* RFC 8656 §10-11: Send goes client to server, Data the other way. */
				stun_ep(&peer, &m.xor_peer);
				if (m.hdr.method == CC_STUN_SEND)
					unwrap(a, pkt, ts, &pkt->src, &pkt->dst, &peer, m.data.p, m.data.len);
				else
					unwrap(a, pkt, ts, &pkt->dst, &pkt->src, &peer, m.data.p, m.data.len);
			}
		}
		return;
	}
	t = stun_find(a, m.hdr.txid, 1);
	if (t == NULL)
		return;
	if (m.hdr.cls == CC_STUN_REQUEST) {
		/* Copies of one request (retransmits, or both ends captured): the earliest counts. */
		t->requests++;
		if (t->requests > 1 && ts >= t->req_ns)
			return;
		t->method = m.hdr.method;
		t->ifindex = pkt->ifindex;
		endpoint_copy(&t->from, &pkt->src);
		endpoint_copy(&t->to, &pkt->dst);
		t->req_ns = ts;
		t->use_candidate = (m.has & CC_STUN_HAS_USE_CANDIDATE) != 0;
		if ((m.has & CC_STUN_HAS_CHANNEL) && (m.has & CC_STUN_HAS_XOR_PEER)) {
			t->have_peer = 1;
			t->channel = m.channel;
			stun_ep(&t->peer, &m.xor_peer);
		}
		if (m.has & CC_STUN_HAS_LIFETIME) {
			t->has_lifetime = 1;
			t->req_lifetime = m.lifetime;
		}
		return;
	}
	/* A response: the round trip runs to its latest copy (the requester's received one). */
	t->responses++;
	if (ts > t->resp_ns)
		t->resp_ns = ts;
	if (t->responses > 1)
		return;
	if (t->requests == 0) {
		/* The request is not in the file (yet, or at all): keep what the response says. */
		t->method = m.hdr.method;
		t->ifindex = pkt->ifindex;
		endpoint_copy(&t->from, &pkt->dst);
		endpoint_copy(&t->to, &pkt->src);
		t->req_ns = ts;
	}
	t->outcome = m.hdr.cls;
	t->error_code = m.hdr.cls == CC_STUN_ERROR ? m.error_code : 0;
	if (m.has & CC_STUN_HAS_XOR_MAPPED) {
		t->have_mapped = 1;
		stun_ep(&t->mapped, &m.xor_mapped);
	}
	if (m.has & CC_STUN_HAS_XOR_RELAYED) {
		t->have_relayed = 1;
		stun_ep(&t->relayed, &m.xor_relayed);
	}
	if (m.has & CC_STUN_HAS_LIFETIME) {
		t->has_resp_lifetime = 1;
		t->resp_lifetime = m.lifetime;
	}
	if (t->requests > 0 && t->outcome == CC_STUN_SUCCESS)
		live_note(a, t);
	(void)d;
}

/* -------------------------------------------------------------------------------------------
 * DTLS
 */

/*
 * The datagram's DTLS records; returns how many there were.  The first byte alone (20..63, RFC
 * 7983) tells DTLS from STUN, RTP and TURN on a WebRTC 5-tuple, not from any other protocol: a
 * datagram counts as DTLS only if a record parses (a known type, a DTLS version), and a DTLS
 * 1.3 unified header, which is only its first byte (0x20..0x3f) and a length, only on a flow
 * where a handshake was seen.
 */
static int on_dtls(struct cc_flow *f, const struct cc_pkt *pkt, uint64_t ts, int d)
{
	struct cc_tls_iter it;
	struct cc_tls_record rec;
	int n = 0;

	cc_tls_iter_init(&it, pkt->payload, pkt->payload_len, 1);
	while (cc_tls_iter_next(&it, &rec) == 1) {
		struct cc_tls_handshake hs;
		struct cc_tls_alert al;

		if (rec.unified) {
			if (!(f->dtls_hello[0] | f->dtls_hello[1] | f->dtls_server_hello[0] | f->dtls_server_hello[1]))
				break;
			/* DTLS 1.3 ciphertext: protected records, the handshake has moved on. */
			f->dtls_app[d] = 1;
			first_ts(&f->dtls_ts[d][CC_DS_APP], ts);
			n++;
			continue;
		}
		n++;
		switch (rec.type) {
		case CC_TLS_CT_HANDSHAKE:
			if (rec.epoch != 0) {
				/* Finished is the first message under the new keys (RFC 6347 §4.2.6). */
				f->dtls_fin[d] = 1;
				first_ts(&f->dtls_ts[d][CC_DS_FINISHED], ts);
				break;
			}
			if (cc_dtls_handshake(rec.frag.p, rec.frag.len, &hs) < 0)
				break;
			if (hs.msg_type == CC_TLS_HS_CLIENT_HELLO) {
				if (!f->dtls_client) {
					f->dtls_client = (uint8_t)(d + 1);
					f->dtls_start_ns = ts;
				}
				f->dtls_hello[d] = 1;
				first_ts(&f->dtls_ts[d][CC_DS_CLIENT_HELLO], ts);
			} else if (hs.msg_type == CC_TLS_HS_SERVER_HELLO) {
				f->dtls_server_hello[d] = 1;
				first_ts(&f->dtls_ts[d][CC_DS_SERVER_HELLO], ts);
			}
			break;
		case CC_TLS_CT_CHANGE_CIPHER_SPEC:
			f->dtls_ccs[d] = 1;
			first_ts(&f->dtls_ts[d][CC_DS_CCS], ts);
			break;
		case CC_TLS_CT_APPLICATION_DATA:
			if (!f->dtls_app[0] && !f->dtls_app[1])
				f->dtls_done_ns = ts;
			f->dtls_app[d] = 1;
			first_ts(&f->dtls_ts[d][CC_DS_APP], ts);
			break;
		case CC_TLS_CT_ALERT:
			first_ts(&f->dtls_ts[d][CC_DS_ALERT], ts);
			if (rec.epoch == 0 && cc_tls_alert(rec.frag.p, rec.frag.len, &al) == 0) {
				f->dtls_alerts++;
				f->dtls_alert_level = al.level;
				f->dtls_alert_desc = al.description;
			} else {
				f->dtls_enc_alerts++;
			}
			break;
		}
	}
	return n;
}

const char *cc_dtls_state(const struct cc_flow *f)
{
	int est = (f->dtls_fin[0] && f->dtls_fin[1]) || f->dtls_app[0] || f->dtls_app[1];

	if (f->dtls_alerts && f->dtls_alert_level == 2)
		return est ? "established, then fatal alert" : "failed (fatal alert)";
	if (est)
		return "established";
	if (f->dtls_server_hello[0] || f->dtls_server_hello[1])
		return "incomplete (no Finished)";
	if (f->dtls_client)
		return "incomplete (ClientHello unanswered)";
	return "no handshake seen";
}

/* -------------------------------------------------------------------------------------------
 * SCTP and data channels
 */

static struct cc_channel *channel_get(struct cc_an *a, const struct cc_flow *f, uint16_t stream,
				      uint64_t ts)
{
	struct cc_channel *c;

	for (size_t i = 0; i < a->nchannels; i++) {
		c = &a->channels[i];
		if (c->stream == stream && c->ifindex == f->ifindex && ep_eq(&c->a, &f->a) &&
		    ep_eq(&c->b, &f->b))
			return c;
	}
	if (a->nchannels >= CC_AN_MAX_CHANNELS) {
		a->overflow.channels++;
		return NULL;
	}
	c = &a->channels[a->nchannels++];
	memset(c, 0, sizeof *c);
	c->ifindex = f->ifindex;
	c->a = f->a;
	c->b = f->b;
	c->stream = stream;
	c->first_ns = ts;
	return c;
}

static void copy_label(char *dst, const struct cc_bytes *b)
{
	size_t n = b->len < CC_AN_LABEL_MAX - 1 ? b->len : CC_AN_LABEL_MAX - 1;

	for (size_t i = 0; i < n; i++)
		dst[i] = (b->p[i] >= 0x20 && b->p[i] < 0x7f && b->p[i] != '"' && b->p[i] != '\\') ?
			 (char)b->p[i] : '?';
	dst[n] = '\0';
}

static void on_sctp(struct cc_an *a, struct cc_flow *f, const struct cc_pkt *pkt, uint64_t ts, int d)
{
	struct cc_sctp_iter it;
	struct cc_sctp_chunk ch;

	if (cc_sctp_iter_init(&it, pkt->l4, pkt->l4_len) < 0)
		return;
	while (cc_sctp_next(&it, &ch) == 1) {
		struct cc_sctp_data data;
		struct cc_channel *c;
		struct cc_dcep dc;

		if (ch.type != CC_SCTP_DATA && ch.type != CC_SCTP_I_DATA)
			continue;
		if (cc_sctp_data(&ch, &data) < 0)
			continue;
		c = channel_get(a, f, data.stream, ts);
		if (c == NULL)
			continue;
		if (data.ppid == CC_PPID_DCEP) {
			if (cc_dcep(data.user_data.p, data.user_data.len, &dc) < 0)
				continue;
			if (dc.msg_type == CC_DCEP_OPEN) {
				c->opened = 1;
				c->channel_type = dc.channel_type;
				copy_label(c->label, &dc.label);
				copy_label(c->protocol, &dc.protocol);
			} else if (dc.msg_type == CC_DCEP_ACK) {
				c->acked = 1;
			}
			continue;
		}
		/* A message is counted at its first fragment (B bit, RFC 9260 §3.3.1). */
		if (pkt->dir == CC_DIR_IN) {
			if (data.flags & CC_SCTP_FLAG_B)
				c->msgs_rx[d]++;
		} else {
			if (data.flags & CC_SCTP_FLAG_B)
				c->msgs[d]++;
			c->bytes[d] += data.user_data.len;
		}
	}
}

/* -------------------------------------------------------------------------------------------
 * SDP: "a=rtpmap:<pt> <name>/<rate>" (RFC 8866 §6.6) anywhere in a UDP or TCP payload
 */

static int is_name_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '_' || c == '.';
}

static void learn_sdp(struct cc_an *a, const uint8_t *p, size_t len)
{
	static const char tag[] = "a=rtpmap:";
	const uint8_t *end = p + len;

	cc_an_learn_savp(a, p, len);

	while (p != NULL && (size_t)(end - p) > sizeof tag - 1) {
		const uint8_t *q = memmem(p, (size_t)(end - p), tag, sizeof tag - 1);
		unsigned pt = 0, digits = 0;
		uint64_t rate = 0;
		char name[16];
		size_t n = 0;

		if (q == NULL)
			return;
		q += sizeof tag - 1;
		p = q;
		while (q < end && *q >= '0' && *q <= '9' && digits < 3) {
			pt = pt * 10 + (unsigned)(*q++ - '0');
			digits++;
		}
		if (digits == 0 || pt > 127 || q >= end || *q != ' ')
			continue;
		while (q < end && *q == ' ')
			q++;
		while (q < end && is_name_char(*q) && n < sizeof name - 1)
			name[n++] = (char)*q++;
		name[n] = '\0';
		if (n == 0 || q >= end || *q != '/')
			continue;
		q++;
		for (digits = 0; q < end && *q >= '0' && *q <= '9' && digits < 8; digits++)
			rate = rate * 10 + (uint64_t)(*q++ - '0');
		if (digits == 0 || rate == 0)
			continue;
		a->rtpmap[pt].set = 1;
		a->rtpmap[pt].rate = (uint32_t)rate;
		memcpy(a->rtpmap[pt].name, name, n + 1);
		a->sdp_seen++;
	}
}

/* -------------------------------------------------------------------------------------------
 * Frames
 */

const char *cc_imp_name(int i)
{
	static const char *const names[CC_IMP_COUNT] = { "dropped", "delayed", "reordered", "duplicated" };

	return i >= 0 && i < CC_IMP_COUNT ? names[i] : "?";
}

/* A packet the shim's impairment dropped, delayed, held back or duplicated (shim/impair.c's notes). */
static void impaired(struct cc_an *a, struct cc_flow *f, int d)
{
	const char *c = a->comment;
	size_t n = a->comment_len;
	const char *hit = memmem(c, n, " by impairment", 14);

	if (hit == NULL)
		return;
	/* The note's own words, from the "; " before it. */
	const char *s = cc_an_part_start(c, hit);
	size_t len = (size_t)(hit - s);
	int k = memmem(s, len, "dropped", 7) || memmem(s, len, "lost", 4) ? CC_IMP_DROPPED :
		memmem(s, len, "duplicated", 10) ? CC_IMP_DUPLICATED :
		memmem(s, len, "reordered", 9) ? CC_IMP_REORDERED : CC_IMP_DELAYED;
	f->impaired[d][k]++;
}

/*
 * RFC 5766 §11 allowed channel numbers up to 0x7FFF and coturn still hands them out; RFC 8656
 * narrowed them to 0x4FFF, which is all RFC 7983 demultiplexing knows.  On a flow already
 * carrying TURN, a datagram whose first two bits are 01 and whose length field fits is
 * ChannelData.
 */
static int is_old_channel_data(const struct cc_flow *f, const struct cc_pkt *pkt)
{
	size_t dlen;

	if (!(f->kind[0][CC_K_TURN] + f->kind[1][CC_K_TURN]) || pkt->payload_len < 4 ||
	    (pkt->payload[0] & 0xc0) != 0x40)
		return 0;
	dlen = (size_t)pkt->payload[2] << 8 | pkt->payload[3];
	return dlen <= pkt->payload_len - 4 && pkt->payload_len - 4 - dlen < 4;
}

void cc_an_packet(struct cc_an *a, uint64_t ts, const struct cc_pkt *pkt, size_t wirelen)
{
	enum cc_kind kind = CC_K_OTHER;
	struct cc_flow *f;
	int d;

	f = flow_get(a, pkt, ts, &d);
	if (pkt->proto == IPPROTO_TCP) {
		kind = CC_K_TCP;
		if (pkt->payload_len > 0)
			learn_sdp(a, pkt->payload, pkt->payload_len);
		/* A segment that starts a SIP message (TCP, or TLS's plaintext) counts as SIP. */
		if (pkt->payload_len > 0 && cc_an_sip(a, pkt, ts) > 0)
			kind = CC_K_SIP;
	} else if (pkt->proto == IPPROTO_SCTP) {
		kind = CC_K_SCTP;
		if (f != NULL)
			on_sctp(a, f, pkt, ts, d);
	} else if (pkt->proto == IPPROTO_UDP && pkt->payload_len > 0) {
		switch (cc_demux_udp(pkt->payload, pkt->payload_len, pkt->src.port, pkt->dst.port)) {
		case CC_CLASS_STUN:
			on_stun(a, f, pkt, ts, d, &kind);
			break;
		case CC_CLASS_TURN_CHANNEL:
			/* RFC 9443 §5: 64..79 is ChannelData only where TURN is in use; elsewhere it
			 * is text such as a SIP "INVITE" (0x49), which may carry SDP. */
			if (f != NULL && f->kind[0][CC_K_TURN] + f->kind[1][CC_K_TURN] > 0) {
				kind = CC_K_TURN;
				f->channel_data[d]++;
				first_ts(&f->first_chdata_ns, ts);
				unwrap_channel(a, pkt, ts);
			} else {
				learn_sdp(a, pkt->payload, pkt->payload_len);
				if (cc_an_sip(a, pkt, ts) > 0)
					kind = CC_K_SIP;
			}
			break;
		case CC_CLASS_DTLS:
			kind = f == NULL || on_dtls(f, pkt, ts, d) ? CC_K_DTLS : CC_K_OTHER;
			break;
		case CC_CLASS_RTP:
			kind = CC_K_RTP;
			on_rtp(a, pkt, ts, wirelen);
			break;
		case CC_CLASS_RTCP:
			kind = CC_K_RTCP;
			on_rtcp(a, pkt);
			break;
		default:
			if (f != NULL && is_old_channel_data(f, pkt)) {
				kind = CC_K_TURN;
				f->channel_data[d]++;
				first_ts(&f->first_chdata_ns, ts);
				unwrap_channel(a, pkt, ts);
			} else {
				learn_sdp(a, pkt->payload, pkt->payload_len);
				if (cc_an_sip(a, pkt, ts) > 0)
					kind = CC_K_SIP;
			}
			break;
		}
	}
	cc_an_noplain_packet(a, f, pkt, &kind);
	if (f == NULL)
		return;
	if (a->comment_len)
		impaired(a, f, d);
	/* Which processes sent or received on the flow: clearcap writes the pid as the SLL2 address. */
	if (pkt->pid != 0 && pkt->ifindex != 0) {
		uint8_t k;

		for (k = 0; k < f->npids && f->pids[k] != pkt->pid; k++)
			;
		if (k == f->npids && k < CC_AN_FLOW_PIDS)
			f->pids[f->npids++] = pkt->pid;
	}
	/* Our end sent what went out and received what came in (the SLL2 packet type). */
	if (pkt->dir == CC_DIR_OUT || pkt->dir == CC_DIR_IN)
		f->local |= (d == 0) == (pkt->dir == CC_DIR_OUT) ? 1 : 2;
	f->pkts[d]++;
	f->bytes[d] += wirelen;
	f->kind[d][kind]++;
	first_ts(&f->first_kind_ns[kind], ts);
	if (ts > f->last_ns)
		f->last_ns = ts;
}

void cc_an_frame(struct cc_an *a, int dlt, uint64_t ts, const uint8_t *p, size_t caplen,
		 size_t wirelen)
{
	struct cc_pkt pkt;
	int rc;

	a->frames++;
	a->bytes += wirelen;
	if (a->frames == 1 || ts < a->first_ns)
		a->first_ns = ts;
	if (ts > a->last_ns)
		a->last_ns = ts;
	rc = cc_pkt_parse(dlt, p, caplen, &pkt);
	a->per_if[pkt.ifindex < 4 ? pkt.ifindex : 0]++;
	/* ARP, ICMP, later IP fragments and other link types: well-formed, just not ours. */
	if (rc == CC_ENOTSUP) {
		a->not_ip++;
		return;
	}
	if (rc == CC_ESHORT) {
		a->truncated++;
		return;
	}
	if (rc < 0) {
		a->undecodable++;
		return;
	}
	cc_an_packet(a, ts, &pkt, wirelen);
}

const char *cc_pt_name(uint8_t pt)
{
	switch (pt) {
	case 0: return "PCMU";
	case 3: return "GSM";
	case 4: return "G723";
	case 8: return "PCMA";
	case 9: return "G722";
	case 10: case 11: return "L16";
	case 13: return "CN";
	case 18: return "G729";
	case 26: return "JPEG";
	case 31: return "H261";
	case 32: return "MPV";
	case 33: return "MP2T";
	case 34: return "H263";
	default: return pt >= 96 && pt <= 127 ? "dynamic" : "?";
	}
}

const char *cc_stun_method_name(uint16_t m)
{
	switch (m) {
	case CC_STUN_BINDING: return "Binding";
	case CC_STUN_ALLOCATE: return "Allocate";
	case CC_STUN_REFRESH: return "Refresh";
	case CC_STUN_SEND: return "Send";
	case CC_STUN_DATA: return "Data";
	case CC_STUN_CREATE_PERMISSION: return "CreatePermission";
	case CC_STUN_CHANNEL_BIND: return "ChannelBind";
	default: return "method?";
	}
}
