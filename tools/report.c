/*
 * report.c - the text and JSON forms of an analysis, and the wrapper's exit table.
 *
 * The text is for a person debugging a WebRTC session: what talked to what, whether ICE found
 * a pair, whether TURN allocated, whether DTLS finished, and how each RTP stream fared.  The
 * JSON holds the same numbers under stable names for scripts and tests; both are printed from
 * the same tables, so they cannot disagree.
 */
#include "tools/report.h"

#include <inttypes.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "decoders/stun.h"
#include "tools/capread.h"
#include "tools/report_sip.h"
#include "tools/report_steps.h"

#define TEXT_STUN_MAX 40	/* transactions listed in the text; JSON lists all */


static int impaired_any(const struct cc_flow *f)
{
	for (int d = 0; d < 2; d++)
		for (int k = 0; k < CC_IMP_COUNT; k++)
			if (f->impaired[d][k])
				return 1;
	return 0;
}

/* "impaired: -> dropped 12 delayed 3 <- dropped 1": what impairment did, local end first. */
static void impaired_text(FILE *out, const struct cc_flow *f, int l, const char *lead)
{
	if (!impaired_any(f))
		return;
	fputs(lead, out);
	for (int dd = 0; dd < 2; dd++) {
		int d = dd ^ l, any = 0;

		for (int k = 0; k < CC_IMP_COUNT; k++)
			if (f->impaired[d][k]) {
				if (!any++)
					fprintf(out, " %s", dd ? "<-" : "->");
				fprintf(out, " %s %u", cc_imp_name(k), f->impaired[d][k]);
			}
	}
	fputc('\n', out);
}

const char *cc_report_ifname(uint8_t i)
{
	static const char *const names[] = { "-", "wire", "plaintext", "relay" };

	return i < 4 ? names[i] : "if?";
}

const char *cc_report_dirname(uint8_t d)
{
	return d == CC_DIR_OUT ? "sent" : d == CC_DIR_IN ? "recv" : "-";
}

static const char *protoname(uint8_t p)
{
	return p == IPPROTO_UDP ? "udp" : p == IPPROTO_TCP ? "tcp" : p == IPPROTO_SCTP ? "sctp" : "ip";
}

static const char *linkname(int dlt)
{
	switch (dlt) {
	case 0: return "NULL";
	case 1: return "EN10MB";
	case 12: case 14: case 101: return "RAW";
	case 108: return "LOOP";
	case 113: return "LINUX_SLL";
	case 228: return "IPV4";
	case 229: return "IPV6";
	case 276: return "LINUX_SLL2";
	default: return "unsupported";
	}
}

static double rel(const struct cc_an *a, uint64_t ts)
{
	return ts >= a->first_ns ? (double)(ts - a->first_ns) / 1e9 : -(double)(a->first_ns - ts) / 1e9;
}

static double pct(int64_t part, int64_t whole)
{
	return whole > 0 ? 100.0 * (double)part / (double)whole : 0.0;
}

static const char *ep(const struct cc_endpoint *e, char *buf, size_t n)
{
	return cc_endpoint_str(e, buf, n);
}

/* Signed: records of two processes can be out of time order by a few milliseconds. */
static double rtt_ms(const struct cc_stun_tx *t)
{
	return ((double)t->resp_ns - (double)t->req_ns) / 1e6;
}

struct stun_sum {
	uint64_t tx, requests_only, answered, ok, err, unanswered, responses_only;
	double rtt_min, rtt_max, rtt_sum;
	uint64_t rtt_n;
};

static void stun_summary(const struct cc_an *a, struct stun_sum *s)
{
	memset(s, 0, sizeof *s);
	for (size_t i = 0; i < CC_AN_MAX_STUN; i++) {
		const struct cc_stun_tx *t = &a->stun[i];

		if (!t->used)
			continue;
		s->tx++;
		if (t->requests == 0) {
			s->responses_only++;
			continue;
		}
		if (t->outcome == 0) {
			s->unanswered++;
			continue;
		}
		s->answered++;
		if (t->outcome == CC_STUN_SUCCESS)
			s->ok++;
		else
			s->err++;
		{
			double ms = rtt_ms(t);

			if (s->rtt_n == 0 || ms < s->rtt_min)
				s->rtt_min = ms;
			if (ms > s->rtt_max)
				s->rtt_max = ms;
			s->rtt_sum += ms;
			s->rtt_n++;
		}
	}
}

/* STUN transactions in time order: indexes into a->stun, sorted by request time. */
static const struct cc_an *sort_an;

static int by_req_time(const void *x, const void *y)
{
	const struct cc_stun_tx *p = &sort_an->stun[*(const uint32_t *)x];
	const struct cc_stun_tx *q = &sort_an->stun[*(const uint32_t *)y];
	uint64_t tp = p->requests ? p->req_ns : p->resp_ns, tq = q->requests ? q->req_ns : q->resp_ns;

	return tp < tq ? -1 : tp > tq;
}

static uint32_t *stun_order(const struct cc_an *a, size_t *n)
{
	uint32_t *idx = malloc(CC_AN_MAX_STUN * sizeof *idx);

	*n = 0;
	if (idx == NULL)
		return NULL;
	for (uint32_t i = 0; i < CC_AN_MAX_STUN; i++)
		if (a->stun[i].used)
			idx[(*n)++] = i;
	sort_an = a;
	qsort(idx, *n, sizeof *idx, by_req_time);
	return idx;
}

static void stun_outcome(const struct cc_stun_tx *t, char *buf, size_t n)
{
	if (t->requests == 0)
		snprintf(buf, n, "%s (request not captured)",
			 t->outcome == CC_STUN_SUCCESS ? "success" : "error");
	else if (t->outcome == CC_STUN_SUCCESS)
		snprintf(buf, n, "success  rtt %.3f ms", rtt_ms(t));
	else if (t->outcome == CC_STUN_ERROR)
		snprintf(buf, n, "error %u  rtt %.3f ms", t->error_code, rtt_ms(t));
	else
		snprintf(buf, n, "no response");
}

static int64_t stream_lost(const struct cc_stream *s)
{
	return cc_rtpseq_lost(&s->seq);
}

/* -------------------------------------------------------------------------------------------
 * Timeline: the few moments that say how a session came up, in time order.
 */

#define TIMELINE_MAX 512	/* events collected; the text shows the first TIMELINE_SHOW */
#define TIMELINE_SHOW 60

struct event {
	uint64_t t;
	char what[160];
};

static int by_time(const void *x, const void *y)
{
	const struct event *p = x, *q = y;

	return p->t < q->t ? -1 : p->t > q->t;
}

__attribute__((format(printf, 4, 5)))
static void add_event(struct event *ev, size_t *n, uint64_t t, const char *fmt, ...)
{
	va_list ap;

	if (*n >= TIMELINE_MAX)
		return;
	ev[*n].t = t;
	va_start(ap, fmt);
	vsnprintf(ev[*n].what, sizeof ev[*n].what, fmt, ap);
	va_end(ap);
	(*n)++;
}

/* Fills ev (TIMELINE_MAX entries) in time order; returns how many. */
static size_t collect_events(const struct cc_an *a, struct event *ev)
{
	char b1[64], b2[64], b3[64];
	size_t n = 0;

	for (size_t i = 0; i < CC_AN_MAX_STUN; i++) {
		const struct cc_stun_tx *t = &a->stun[i];

		if (!t->used || t->requests == 0)
			continue;
		if (t->method == CC_STUN_ALLOCATE && t->outcome == CC_STUN_SUCCESS)
			add_event(ev, &n, t->resp_ns, "TURN allocation granted: %s via %s, relayed %s",
				  ep(&t->from, b1, sizeof b1), ep(&t->to, b2, sizeof b2),
				  t->have_relayed ? ep(&t->relayed, b3, sizeof b3) : "?");
		if (t->method == CC_STUN_ALLOCATE && t->outcome == CC_STUN_ERROR && t->error_code != 401)
			add_event(ev, &n, t->resp_ns, "TURN Allocate refused (%u): %s via %s", t->error_code,
				  ep(&t->from, b1, sizeof b1), ep(&t->to, b2, sizeof b2));
	}
	/* The first connectivity check sent and the first one answered. */
	{
		const struct cc_stun_tx *fr = NULL, *fo = NULL;

		for (size_t i = 0; i < CC_AN_MAX_STUN; i++) {
			const struct cc_stun_tx *t = &a->stun[i];

			if (!t->used || t->requests == 0 || t->method != CC_STUN_BINDING)
				continue;
			if (fr == NULL || t->req_ns < fr->req_ns)
				fr = t;
			if (t->outcome == CC_STUN_SUCCESS && (fo == NULL || t->resp_ns < fo->resp_ns))
				fo = t;
		}
		if (fr != NULL)
			add_event(ev, &n, fr->req_ns, "first STUN Binding request %s -> %s",
				  ep(&fr->from, b1, sizeof b1), ep(&fr->to, b2, sizeof b2));
		if (fo != NULL)
			add_event(ev, &n, fo->resp_ns, "first STUN Binding success %s <- %s",
				  ep(&fo->from, b1, sizeof b1), ep(&fo->to, b2, sizeof b2));
	}
	for (size_t i = 0; i < a->nflows; i++) {
		const struct cc_flow *f = &a->flows[i];

		if (f->nominated)
			add_event(ev, &n, f->nominated_ns, "ICE pair nominated: %s <-> %s", ep(&f->a, b1, sizeof b1),
				  ep(&f->b, b2, sizeof b2));
		if (f->dtls_client)
			add_event(ev, &n, f->dtls_start_ns, "DTLS ClientHello from %s",
				  ep(f->dtls_client == 1 ? &f->a : &f->b, b1, sizeof b1));
		if (f->dtls_done_ns)
			add_event(ev, &n, f->dtls_done_ns, "DTLS application data on %s <-> %s (%s)",
				  ep(&f->a, b1, sizeof b1), ep(&f->b, b2, sizeof b2), cc_dtls_state(f));
	}
	for (size_t i = 0; i < a->nchannels; i++)
		if (a->channels[i].opened)
			add_event(ev, &n, a->channels[i].first_ns, "data channel '%s' opened (stream %u)",
				  a->channels[i].label, a->channels[i].stream);
	for (size_t i = 0; i < a->nstreams; i++) {
		const struct cc_stream *s = &a->streams[i];

		if (!s->seq.valid)
			continue;
		add_event(ev, &n, s->first_ns, "RTP ssrc 0x%08x pt %d starts, %s %s %s -> %s", s->ssrc,
			  s->pt == 0xff ? -1 : s->pt, cc_report_ifname(s->ifindex), cc_report_dirname(s->dir),
			  ep(&s->src, b1, sizeof b1), ep(&s->dst, b2, sizeof b2));
		add_event(ev, &n, s->last_ns, "RTP ssrc 0x%08x ends (%s %s), %" PRIu64 " packets", s->ssrc,
			  cc_report_ifname(s->ifindex), cc_report_dirname(s->dir), s->pkts);
	}
	/* A call's milestones: its INVITE, the final answer to it, and its BYE (the rest: SIP). */
	for (size_t i = 0; i < a->nsip; i++) {
		const struct cc_sip_dialog *sd = &a->sip[i];
		int invite = 0, answer = 0, bye = 0;

		for (uint32_t k = 0; k < sd->nev; k++) {
			const struct cc_sip_event *e = &sd->ev[k];
			int is_invite = strcmp(e->method, "INVITE") == 0, is_bye = strcmp(e->method, "BYE") == 0;

			if (!e->status && is_invite && !invite++)
				add_event(ev, &n, e->t_ns, "SIP INVITE %s -> %s (Call-ID %.40s)", ep(&e->src, b1, sizeof b1),
					  ep(&e->dst, b2, sizeof b2), sd->call_id);
			else if (e->status >= 200 && is_invite && !answer++)
				add_event(ev, &n, e->t_ns, "SIP %u to INVITE (Call-ID %.40s)", e->status, sd->call_id);
			else if (!e->status && is_bye && !bye++)
				add_event(ev, &n, e->t_ns, "SIP BYE from %s (Call-ID %.40s)", ep(&e->src, b1, sizeof b1),
					  sd->call_id);
		}
	}
	for (size_t i = 0; i < a->ndtmf; i++)
		add_event(ev, &n, a->dtmf[i].t_ns, "DTMF '%c' (ssrc 0x%08x, %s)", cc_dtmf_char(a->dtmf[i].event),
			  a->dtmf[i].ssrc, cc_report_dirname(a->dtmf[i].dir));
	qsort(ev, n, sizeof *ev, by_time);
	return n;
}

static void timeline(FILE *out, const struct cc_an *a)
{
	struct event *ev = malloc(TIMELINE_MAX * sizeof *ev);
	size_t n;

	if (ev == NULL)
		return;
	n = collect_events(a, ev);
	fprintf(out, "\nTIMELINE\n");
	for (size_t i = 0; i < n && i < TIMELINE_SHOW; i++)
		fprintf(out, "  +%.3fs %s\n", rel(a, ev[i].t), ev[i].what);
	if (n > TIMELINE_SHOW)
		fprintf(out, "  ... %zu more events\n", n - TIMELINE_SHOW);
	free(ev);
}

/* -------------------------------------------------------------------------------------------
 * Text
 */

void cc_report_text(FILE *out, const struct cc_an *a, const struct cc_report_src *src)
{
	char b1[64], b2[64], b3[64];
	struct stun_sum ss;
	size_t n;

	fprintf(out, "capture %s%s: link %s, %" PRIu64 " frames", src->file,
		src->start > 0 ? " (appended records only)" : "", linkname(src->dlt), a->frames);
	if (a->per_if[1] || a->per_if[2] || a->per_if[3])
		fprintf(out, " (wire %" PRIu64 ", plaintext %" PRIu64 ", relay %" PRIu64 ")",
			a->per_if[1], a->per_if[2], a->per_if[3]);
	fprintf(out, ", %.3f s\n", a->frames ? rel(a, a->last_ns) : 0.0);
	if (a->not_ip || a->truncated || a->undecodable)
		fprintf(out, "  not UDP/TCP/SCTP over IP (or a later fragment): %" PRIu64 ", cut short: %" PRIu64
			", malformed: %" PRIu64 "\n", a->not_ip, a->truncated, a->undecodable);
	if (a->unwrapped)
		fprintf(out, "  %" PRIu64 " datagrams inside TURN (ChannelData, Send/Data) analysed on interface "
			"'relay', between relayed address and peer\n", a->unwrapped);
	if (src->truncated)
		fprintf(out, "  WARNING: reading stopped early: %s\n", src->read_error ? src->read_error : "");
	if (a->hep_procs)
		fprintf(out, "  HEP to the collector: %" PRIu64 " sent, %" PRIu64 " dropped (%u process%s)\n",
			a->hep_sent, a->hep_dropped, a->hep_procs, a->hep_procs > 1 ? "es" : "");
	if (a->hep_relay_to[0])
		fprintf(out, "  HEP over TLS to %s (clearcap's relay): %" PRIu64 " relayed, %" PRIu64 " dropped\n",
			a->hep_relay_to, a->hep_relayed, a->hep_relay_dropped);

	timeline(out, a);

	fprintf(out, "\nFLOWS (%zu)\n", a->nflows);
	for (size_t i = 0; i < a->nflows; i++) {
		const struct cc_flow *f = &a->flows[i];
		int l = f->local == 2;  /* the capturing end first, as in the exit table */

		fprintf(out, "  %-9s %-4s %s <-> %s  +%.3fs..+%.3fs\n", cc_report_ifname(f->ifindex),
			protoname(f->proto), ep(l ? &f->b : &f->a, b1, sizeof b1),
			ep(l ? &f->a : &f->b, b2, sizeof b2), rel(a, f->first_ns), rel(a, f->last_ns));
		for (int dd = 0; dd < 2; dd++) {
			int d = dd ^ l;

			if (!f->pkts[d])
				continue;
			fprintf(out, "      %s  %" PRIu64 " pkts %" PRIu64 " bytes:", dd ? "<-" : "->",
				f->pkts[d], f->bytes[d]);
			for (int k = 0; k < CC_K_COUNT; k++)
				if (f->kind[d][k])
					fprintf(out, " %s %" PRIu64, cc_kind_name(k), f->kind[d][k]);
			fputc('\n', out);
		}
		if (f->npids) {
			fprintf(out, "      process%s", f->npids > 1 ? "es" : "");
			for (uint8_t k = 0; k < f->npids; k++)
				fprintf(out, " %u", f->pids[k]);
			fputc('\n', out);
		}
		if (f->nominated)
			fprintf(out, "      ICE: nominated pair (USE-CANDIDATE check succeeded)\n");
		if (f->noplain)
			fprintf(out, "      why no plaintext: %s\n", f->noplain);
		impaired_text(out, f, l, "      impaired:");
	}
	cc_report_steps_text(out, a);
	cc_report_sip_text(out, a);

	stun_summary(a, &ss);
	fprintf(out, "\nICE/STUN TRANSACTIONS (%" PRIu64 ": %" PRIu64 " success, %" PRIu64
		" error, %" PRIu64 " unanswered", ss.tx, ss.ok, ss.err, ss.unanswered);
	if (ss.rtt_n)
		fprintf(out, "; rtt min/avg/max %.3f/%.3f/%.3f ms", ss.rtt_min, ss.rtt_sum / ss.rtt_n,
			ss.rtt_max);
	fprintf(out, ")\n");
	{
		uint32_t *idx = stun_order(a, &n);

		for (size_t i = 0; idx && i < n && i < TEXT_STUN_MAX; i++) {
			const struct cc_stun_tx *t = &a->stun[idx[i]];
			char o[96];

			stun_outcome(t, o, sizeof o);
			fprintf(out, "  +%.3fs %-9s %-16s %s -> %s  %s%s", rel(a, t->requests ? t->req_ns : t->resp_ns),
				cc_report_ifname(t->ifindex), cc_stun_method_name(t->method), ep(&t->from, b1, sizeof b1),
				ep(&t->to, b2, sizeof b2), o, t->use_candidate ? "  USE-CANDIDATE" : "");
			if (t->have_mapped)
				fprintf(out, "  mapped %s", ep(&t->mapped, b3, sizeof b3));
			if (t->requests > 1)
				fprintf(out, "  (%u request copies)", t->requests);
			fputc('\n', out);
		}
		if (n > TEXT_STUN_MAX)
			fprintf(out, "  ... %zu more (--json lists all)\n", n - TEXT_STUN_MAX);
		free(idx);
	}
	for (size_t i = 0; i < a->nflows; i++)
		if (a->flows[i].nominated)
			fprintf(out, "  nominated pair: %s %s <-> %s\n", cc_report_ifname(a->flows[i].ifindex),
				ep(&a->flows[i].a, b1, sizeof b1), ep(&a->flows[i].b, b2, sizeof b2));

	fprintf(out, "\nTURN ALLOCATIONS (%zu)\n", a->nturn);
	for (size_t i = 0; i < a->nturn; i++) {
		const struct cc_turn_alloc *t = &a->turn[i];

		fprintf(out, "  +%.3fs %s client %s server %s\n", rel(a, t->first_ns), cc_report_ifname(t->ifindex),
			ep(&t->client, b1, sizeof b1), ep(&t->server, b2, sizeof b2));
		fprintf(out, "      Allocate: %u requests, %u challenged (401), %u success, %u other errors",
			t->allocate_req, t->allocate_401, t->allocate_ok, t->allocate_err);
		if (t->have_relayed)
			fprintf(out, "; relayed %s lifetime %u s", ep(&t->relayed, b1, sizeof b1), t->lifetime);
		if (t->last_error)
			fprintf(out, "; last error %u", t->last_error);
		fprintf(out, "\n      CreatePermission %u/%u ok, ChannelBind %u/%u ok, Refresh %u/%u ok%s\n",
			t->perm_ok, t->perm_req, t->bind_ok, t->bind_req, t->refresh_ok, t->refresh_req,
			t->deallocated ? ", deallocated (lifetime 0)" : "");
		for (uint32_t k = 0; k < t->nbindings; k++)
			fprintf(out, "      channel 0x%04x -> peer %s\n", t->bindings[k].channel,
				ep(&t->bindings[k].peer, b1, sizeof b1));
		fprintf(out, "      ChannelData %" PRIu64 " to server, %" PRIu64 " from; Send/Data "
			"indications %" PRIu64 "/%" PRIu64 "\n", t->channel_data[0], t->channel_data[1],
			t->indications[0], t->indications[1]);
	}

	n = 0;
	for (size_t i = 0; i < a->nflows; i++)
		n += a->flows[i].dtls_client || a->flows[i].kind[0][CC_K_DTLS] || a->flows[i].kind[1][CC_K_DTLS];
	fprintf(out, "\nDTLS HANDSHAKES (%zu flows)\n", n);
	for (size_t i = 0; i < a->nflows; i++) {
		const struct cc_flow *f = &a->flows[i];

		if (!f->dtls_client && !f->kind[0][CC_K_DTLS] && !f->kind[1][CC_K_DTLS])
			continue;
		fprintf(out, "  %s %s <-> %s: %s", cc_report_ifname(f->ifindex), ep(&f->a, b1, sizeof b1),
			ep(&f->b, b2, sizeof b2), cc_dtls_state(f));
		if (f->dtls_client)
			fprintf(out, "; client %s", f->dtls_client == 1 ? b1 : b2);
		if (f->dtls_client && f->dtls_done_ns > f->dtls_start_ns)
			fprintf(out, "; ClientHello to first application data %.3f ms",
				(double)(f->dtls_done_ns - f->dtls_start_ns) / 1e6);
		if (f->dtls_alerts)
			fprintf(out, "; %u clear alert(s), last level %u description %u", f->dtls_alerts,
				f->dtls_alert_level, f->dtls_alert_desc);
		if (f->dtls_enc_alerts)
			fprintf(out, "; %u encrypted alert(s) (close_notify?)", f->dtls_enc_alerts);
		fputc('\n', out);
	}

	n = 0;
	for (size_t i = 0; i < a->nstreams; i++)
		n += !a->streams[i].seq.valid;
	fprintf(out, "\nRTP STREAMS (%zu)\n", a->nstreams - n);
	for (size_t i = 0; i < a->nstreams; i++) {
		const struct cc_stream *s = &a->streams[i];
		int64_t exp = cc_rtpseq_expected(&s->seq), lost = stream_lost(s);

		/* Other UDP whose first byte looks like RTP rarely has sequential numbers: such
		 * candidates are counted, not listed (JSON has them, "valid": false). */
		if (!s->seq.valid)
			continue;

		fprintf(out, "  ssrc 0x%08x %-9s %-4s %s -> %s\n", s->ssrc, cc_report_ifname(s->ifindex), cc_report_dirname(s->dir),
			ep(&s->src, b1, sizeof b1), ep(&s->dst, b2, sizeof b2));
		if (s->pt == 0xff)
			fprintf(out, "      events only");
		else
			fprintf(out, "      pt %u %s (clock %u%s)", s->pt, s->sdp_name[0] ? s->sdp_name : cc_pt_name(s->pt),
				cc_stream_clock(s), s->clock ? "" : s->sdp_clock ? " from SDP" : " estimated");
		if (s->dtmf_pt)
			fprintf(out, ", telephone-event pt %u", s->dtmf_pt);
		if (s->pt_changes)
			fprintf(out, ", payload type changed %u time%s", s->pt_changes, s->pt_changes > 1 ? "s" : "");
		if (s->encrypted)
			fprintf(out, ", SRTP (encrypted: %s)", cc_enc_reason(s->encrypted));
		fprintf(out, "; +%.3fs for %.3f s\n", rel(a, s->first_ns), (double)(s->last_ns - s->first_ns) / 1e9);
		fprintf(out, "      %" PRIu64 " pkts %" PRIu64 " bytes (%.1f kbit/s); expected %" PRId64
			", lost %" PRId64 " (%.2f%%), duplicates %" PRIu64 ", reordered %" PRIu64,
			s->pkts, s->bytes,
			s->last_ns > s->first_ns ? (double)s->bytes * 8e6 / (double)(s->last_ns - s->first_ns) : 0.0,
			exp, lost, pct(lost, exp), s->seq.duplicates, s->seq.reordered);
		if (s->seq.restarts)
			fprintf(out, ", %" PRIu64 " sequence restarts", s->seq.restarts);
		fprintf(out, "; jitter %.3f ms (max %.3f)\n", cc_stream_jitter_ms(s), cc_stream_max_jitter_ms(s));
		if (s->rr_count)
			fprintf(out, "      RTCP reports about it: %u, last fraction lost %.1f%%, cumulative lost %d, "
				"jitter %u ts units\n", s->rr_count, s->rr_fraction * 100.0 / 256, s->rr_cum_lost,
				s->rr_jitter);
	}

	if (n)
		fprintf(out, "  (%zu more candidates without %d sequential packets: not RTP, or too short)\n", n,
			CC_RTP_MIN_SEQUENTIAL);

	fprintf(out, "\nRTCP (%zu senders)\n", a->nrtcp);
	for (size_t i = 0; i < a->nrtcp; i++) {
		const struct cc_rtcp_src *r = &a->rtcp[i];

		fprintf(out, "  ssrc 0x%08x %-9s %-4s %s -> %s: %" PRIu64 " packets, SR %u RR %u SDES %u BYE %u",
			r->ssrc, cc_report_ifname(r->ifindex), cc_report_dirname(r->dir), ep(&r->src, b1, sizeof b1),
			ep(&r->dst, b2, sizeof b2), r->packets, r->sr, r->rr, r->sdes, r->bye);
		if (r->nack || r->pli || r->fir || r->remb || r->tcc)
			fprintf(out, " NACK %u PLI %u FIR %u REMB %u TCC %u", r->nack, r->pli, r->fir, r->remb, r->tcc);
		if (r->undecodable)
			fprintf(out, " (%" PRIu64 " encrypted)", r->undecodable);
		if (r->have_rb)
			fprintf(out, "; about 0x%08x: fraction lost %.1f%%, cumulative %d, jitter %u",
				r->rb_ssrc, r->rb_fraction * 100.0 / 256, r->rb_cum_lost, r->rb_jitter);
		if (r->remb)
			fprintf(out, "; REMB %" PRIu64 " bit/s", r->remb_bps);
		fputc('\n', out);
	}

	fprintf(out, "\nDTMF (%zu events)\n", a->ndtmf);
	if (a->ndtmf) {
		fprintf(out, "  digits:");
		for (size_t i = 0; i < a->ndtmf; i++)
			fprintf(out, "%s%c", i && (a->dtmf[i].ssrc != a->dtmf[i - 1].ssrc ||
						  a->dtmf[i].dir != a->dtmf[i - 1].dir ||
						  a->dtmf[i].ifindex != a->dtmf[i - 1].ifindex) ? " | " :
					       i ? "" : " ", cc_dtmf_char(a->dtmf[i].event));
		fputc('\n', out);
	}
	for (size_t i = 0; i < a->ndtmf; i++) {
		const struct cc_dtmf_event *e = &a->dtmf[i];

		fprintf(out, "  +%.3fs ssrc 0x%08x %s %s '%c' duration %u%s\n", rel(a, e->t_ns), e->ssrc,
			cc_report_ifname(e->ifindex), cc_report_dirname(e->dir), cc_dtmf_char(e->event), e->duration,
			e->ended ? "" : " (no end packet)");
	}

	fprintf(out, "\nDATA CHANNELS (%zu)\n", a->nchannels);
	for (size_t i = 0; i < a->nchannels; i++) {
		const struct cc_channel *c = &a->channels[i];

		fprintf(out, "  +%.3fs %s %s <-> %s stream %u: %s \"%s\"%s%s%s; messages -> %" PRIu64
			" (%" PRIu64 " bytes) <- %" PRIu64 " (%" PRIu64 " bytes)",
			rel(a, c->first_ns), cc_report_ifname(c->ifindex), ep(&c->a, b1, sizeof b1), ep(&c->b, b2, sizeof b2),
			c->stream, c->opened ? "label" : "no OPEN seen,", c->label,
			c->protocol[0] ? " protocol " : "", c->protocol, c->acked ? " (acked)" : "",
			c->msgs[0], c->bytes[0], c->msgs[1], c->bytes[1]);
		if (c->msgs_rx[0] || c->msgs_rx[1])
			fprintf(out, "; received copies -> %" PRIu64 " <- %" PRIu64, c->msgs_rx[0], c->msgs_rx[1]);
		fputc('\n', out);
	}
	if (a->overflow.flows || a->overflow.streams || a->overflow.stun || a->overflow.turn ||
	    a->overflow.rtcp || a->overflow.channels || a->overflow.dtmf || a->overflow.bindings)
		fprintf(out, "\nTABLES FULL (not analysed): flows %" PRIu64 ", streams %" PRIu64 ", stun %" PRIu64
			", turn %" PRIu64 ", rtcp %" PRIu64 ", channels %" PRIu64 ", dtmf %" PRIu64
			", bindings %" PRIu64 "\n", a->overflow.flows, a->overflow.streams, a->overflow.stun,
			a->overflow.turn, a->overflow.rtcp, a->overflow.channels, a->overflow.dtmf,
			a->overflow.bindings);
}

/* -------------------------------------------------------------------------------------------
 * JSON.  Strings we print are addresses, names and labels already reduced to printable ASCII
 * without quotes or backslashes (analyze.c), so no escaping is needed beyond that.
 */

/* A telephone-event payload type as JSON: null when none was seen (0 is PCMU's). */
static const char *dtmf_pt_json(uint8_t pt)
{
	static char b[4];

	if (!pt)
		return "null";
	snprintf(b, sizeof b, "%u", pt);
	return b;
}

static void jep(FILE *out, const char *key, const struct cc_endpoint *e)
{
	char b[64];

	fprintf(out, "\"%s\":\"%s\"", key, ep(e, b, sizeof b));
}

static void jnum(FILE *out, double v)
{
	/* JSON has no NaN or infinity. */
	fprintf(out, "%.6g", v == v && v < 1e300 && v > -1e300 ? v : 0.0);
}

void cc_report_json(FILE *out, const struct cc_an *a, const struct cc_report_src *src)
{
	struct stun_sum ss;
	size_t n;

	fprintf(out, "{\"file\":\"");
	for (const char *p = src->file; *p; p++)
		if ((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f && *p != '"' && *p != '\\')
			fputc(*p, out);
		else
			fprintf(out, "\\u%04x", (unsigned char)*p);
	fprintf(out, "\",\"link\":\"%s\",\"start_offset\":%lld,\"frames\":%" PRIu64 ",\"bytes\":%" PRIu64
		",\"duration_s\":", linkname(src->dlt), (long long)src->start, a->frames, a->bytes);
	jnum(out, a->frames ? rel(a, a->last_ns) : 0);
	fprintf(out, ",\"first_ns\":%" PRIu64 ",\"per_interface\":{\"other\":%" PRIu64 ",\"wire\":%" PRIu64
		",\"plaintext\":%" PRIu64 ",\"relay\":%" PRIu64 "},\"not_ip\":%" PRIu64 ",\"cut_short\":%" PRIu64
		",\"malformed\":%" PRIu64 ",\"turn_unwrapped\":%" PRIu64 ",\"read_error\":%s",
		a->first_ns, a->per_if[0], a->per_if[1], a->per_if[2], a->per_if[3], a->not_ip, a->truncated,
		a->undecodable, a->unwrapped, src->truncated ? "true" : "false");
	if (a->hep_procs) {
		fprintf(out, ",\"hep\":{\"sent\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\"processes\":%u", a->hep_sent,
			a->hep_dropped, a->hep_procs);
		if (a->hep_relay_to[0]) {
			fprintf(out, ",\"tls_relay\":{\"to\":");
			cc_json_str(out, a->hep_relay_to);
			fprintf(out, ",\"relayed\":%" PRIu64 ",\"dropped\":%" PRIu64 "}", a->hep_relayed,
				a->hep_relay_dropped);
		}
		fputc('}', out);
	} else
		fprintf(out, ",\"hep\":null");

	fprintf(out, ",\n\"timeline\":[");
	{
		struct event *ev = malloc(TIMELINE_MAX * sizeof *ev);

		n = ev != NULL ? collect_events(a, ev) : 0;
		for (size_t i = 0; i < n; i++) {
			fprintf(out, "%s\n {\"t_s\":", i ? "," : "");
			jnum(out, rel(a, ev[i].t));
			/* Event texts hold addresses, labels and SIP Call-IDs, which may hold quotes. */
			fprintf(out, ",\"event\":\"");
			for (const char *c = ev[i].what; *c; c++)
				if ((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f && *c != '"' && *c != '\\')
					fputc(*c, out);
				else
					fprintf(out, "\\u%04x", (unsigned char)*c);
			fprintf(out, "\"}");
		}
		free(ev);
	}
	fprintf(out, "],\n\"flows\":[");
	for (size_t i = 0; i < a->nflows; i++) {
		const struct cc_flow *f = &a->flows[i];

		fprintf(out, "%s\n {\"interface\":\"%s\",\"proto\":\"%s\",", i ? "," : "", cc_report_ifname(f->ifindex),
			protoname(f->proto));
		jep(out, "a", &f->a);
		fputc(',', out);
		jep(out, "b", &f->b);
		/* Which end the capturing program was; the text reports print that end first. */
		fprintf(out, ",\"local\":%s", f->local == 1 ? "\"a\"" : f->local == 2 ? "\"b\"" :
			f->local == 3 ? "\"both\"" : "null");
		fprintf(out, ",\"first_s\":");
		jnum(out, rel(a, f->first_ns));
		fprintf(out, ",\"last_s\":");
		jnum(out, rel(a, f->last_ns));
		for (int d = 0; d < 2; d++) {
			fprintf(out, ",\"%s\":{\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"kinds\":{",
				d ? "b_to_a" : "a_to_b", f->pkts[d], f->bytes[d]);
			for (int k = 0, first = 1; k < CC_K_COUNT; k++)
				if (f->kind[d][k]) {
					fprintf(out, "%s\"%s\":%" PRIu64, first ? "" : ",", cc_kind_name(k), f->kind[d][k]);
					first = 0;
				}
			fprintf(out, "}}");
		}
		fprintf(out, ",\"pids\":[");
		for (uint8_t k = 0; k < f->npids; k++)
			fprintf(out, "%s%u", k ? "," : "", f->pids[k]);
		fprintf(out, "]");
		fprintf(out, ",\"nominated\":%s", f->nominated ? "true" : "false");
		if (f->dtls_client || f->kind[0][CC_K_DTLS] || f->kind[1][CC_K_DTLS])
			fprintf(out, ",\"dtls\":{\"state\":\"%s\",\"client\":\"%s\",\"alerts\":%u,"
				"\"encrypted_alerts\":%u,\"last_alert\":%u}", cc_dtls_state(f),
				f->dtls_client == 1 ? "a" : f->dtls_client == 2 ? "b" : "",
				f->dtls_alerts, f->dtls_enc_alerts, f->dtls_alert_desc);
		/* Encrypted (TLS or DTLS records seen), and why there is no plaintext copy (null: there is). */
		fprintf(out, ",\"encrypted\":%s", f->enc & CC_FLOW_TLS ? "\"tls\"" : f->enc & CC_FLOW_DTLS ? "\"dtls\"" : "null");
		fprintf(out, ",\"no_plaintext\":");
		if (f->noplain)
			cc_json_str(out, f->noplain);
		else
			fputs("null", out);
		/* What clearcap's impairment did on the flow, per direction (null: nothing). */
		fprintf(out, ",\"impaired\":");
		if (impaired_any(f)) {
			for (int d = 0; d < 2; d++) {
				fprintf(out, "%s\"%s\":{", d ? "," : "{", d ? "b_to_a" : "a_to_b");
				for (int k = 0; k < CC_IMP_COUNT; k++)
					fprintf(out, "%s\"%s\":%u", k ? "," : "", cc_imp_name(k), f->impaired[d][k]);
				fputc('}', out);
			}
			fputc('}', out);
		} else {
			fputs("null", out);
		}
		fputc('}', out);
	}
	fprintf(out, "],\n");

	stun_summary(a, &ss);
	fprintf(out, "\"stun_summary\":{\"transactions\":%" PRIu64 ",\"success\":%" PRIu64 ",\"error\":%" PRIu64
		",\"unanswered\":%" PRIu64 ",\"response_only\":%" PRIu64 ",\"rtt_min_ms\":",
		ss.tx, ss.ok, ss.err, ss.unanswered, ss.responses_only);
	jnum(out, ss.rtt_min);
	fprintf(out, ",\"rtt_avg_ms\":");
	jnum(out, ss.rtt_n ? ss.rtt_sum / ss.rtt_n : 0);
	fprintf(out, ",\"rtt_max_ms\":");
	jnum(out, ss.rtt_max);
	fprintf(out, "},\n\"stun\":[");
	{
		uint32_t *idx = stun_order(a, &n);

		for (size_t i = 0; idx && i < n; i++) {
			const struct cc_stun_tx *t = &a->stun[idx[i]];
			char tx[25];

			for (int k = 0; k < 12; k++)
				snprintf(tx + 2 * k, 3, "%02x", t->txid[k]);
			fprintf(out, "%s\n {\"txid\":\"%s\",\"interface\":\"%s\",\"method\":\"%s\",", i ? "," : "", tx,
				cc_report_ifname(t->ifindex), cc_stun_method_name(t->method));
			jep(out, "from", &t->from);
			fputc(',', out);
			jep(out, "to", &t->to);
			fprintf(out, ",\"t_s\":");
			jnum(out, rel(a, t->requests ? t->req_ns : t->resp_ns));
			fprintf(out, ",\"requests\":%u,\"responses\":%u,\"outcome\":\"%s\",\"error_code\":%u,"
				"\"use_candidate\":%s", t->requests, t->responses,
				t->outcome == CC_STUN_SUCCESS ? "success" : t->outcome == CC_STUN_ERROR ? "error" : "none",
				t->error_code, t->use_candidate ? "true" : "false");
			if (t->requests && t->outcome) {
				fprintf(out, ",\"rtt_ms\":");
				jnum(out, rtt_ms(t));
			}
			if (t->have_mapped) {
				fputc(',', out);
				jep(out, "mapped", &t->mapped);
			}
			fputc('}', out);
		}
		free(idx);
	}
	fprintf(out, "],\n\"nominated_pairs\":[");
	n = 0;
	for (size_t i = 0; i < a->nflows; i++)
		if (a->flows[i].nominated) {
			fprintf(out, "%s{\"interface\":\"%s\",", n++ ? "," : "", cc_report_ifname(a->flows[i].ifindex));
			jep(out, "a", &a->flows[i].a);
			fputc(',', out);
			jep(out, "b", &a->flows[i].b);
			fputc('}', out);
		}

	fprintf(out, "],\n\"turn\":[");
	for (size_t i = 0; i < a->nturn; i++) {
		const struct cc_turn_alloc *t = &a->turn[i];

		fprintf(out, "%s\n {\"interface\":\"%s\",", i ? "," : "", cc_report_ifname(t->ifindex));
		jep(out, "client", &t->client);
		fputc(',', out);
		jep(out, "server", &t->server);
		fprintf(out, ",\"allocate_requests\":%u,\"allocate_401\":%u,\"allocate_success\":%u,"
			"\"allocate_errors\":%u,\"last_error\":%u,\"lifetime\":%u,\"create_permission\":[%u,%u],"
			"\"channel_bind\":[%u,%u],\"refresh\":[%u,%u],\"deallocated\":%s,\"channel_data\":[%" PRIu64
			",%" PRIu64 "],\"indications\":[%" PRIu64 ",%" PRIu64 "]",
			t->allocate_req, t->allocate_401, t->allocate_ok, t->allocate_err, t->last_error, t->lifetime,
			t->perm_req, t->perm_ok, t->bind_req, t->bind_ok, t->refresh_req, t->refresh_ok,
			t->deallocated ? "true" : "false", t->channel_data[0], t->channel_data[1],
			t->indications[0], t->indications[1]);
		if (t->have_relayed) {
			fputc(',', out);
			jep(out, "relayed", &t->relayed);
		}
		fprintf(out, ",\"bindings\":[");
		for (uint32_t k = 0; k < t->nbindings; k++) {
			fprintf(out, "%s{\"channel\":%u,", k ? "," : "", t->bindings[k].channel);
			jep(out, "peer", &t->bindings[k].peer);
			fputc('}', out);
		}
		fprintf(out, "]}");
	}

	fprintf(out, "],\n\"rtp_streams\":[");
	for (size_t i = 0; i < a->nstreams; i++) {
		const struct cc_stream *s = &a->streams[i];
		int64_t exp = cc_rtpseq_expected(&s->seq), lost = stream_lost(s);

		fprintf(out, "%s\n {\"ssrc\":%u,\"ssrc_hex\":\"0x%08x\",\"interface\":\"%s\",\"direction\":\"%s\",",
			i ? "," : "", s->ssrc, s->ssrc, cc_report_ifname(s->ifindex), cc_report_dirname(s->dir));
		jep(out, "src", &s->src);
		fputc(',', out);
		jep(out, "dst", &s->dst);
		fprintf(out, ",\"pt\":%d,\"codec\":\"%s\",\"clock\":%u,\"clock_estimated\":%s,\"telephone_event_pt\":%s,"
			"\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"payload_bytes\":%" PRIu64 ",\"valid\":%s,"
			"\"received\":%" PRIu64 ",\"expected\":%" PRId64 ",\"lost\":%" PRId64 ",\"loss_pct\":",
			s->pt == 0xff ? -1 : s->pt, s->pt == 0xff ? "telephone-event" :
			s->sdp_name[0] ? s->sdp_name : cc_pt_name(s->pt),
			cc_stream_clock(s), s->clock || s->sdp_clock ? "false" : "true", dtmf_pt_json(s->dtmf_pt), s->pkts, s->bytes,
			s->payload_bytes, s->seq.valid ? "true" : "false", s->seq.received, exp, lost);
		jnum(out, pct(lost, exp));
		fprintf(out, ",\"encrypted\":%s,\"encrypted_reason\":\"%s\"", s->encrypted ? "true" : "false",
			cc_enc_reason(s->encrypted));
		fprintf(out, ",\"payload_type_changes\":%u", s->pt_changes);
		fprintf(out, ",\"duplicates\":%" PRIu64 ",\"reordered\":%" PRIu64 ",\"restarts\":%" PRIu64
			",\"jitter_ms\":", s->seq.duplicates, s->seq.reordered, s->seq.restarts);
		jnum(out, cc_stream_jitter_ms(s));
		fprintf(out, ",\"max_jitter_ms\":");
		jnum(out, cc_stream_max_jitter_ms(s));
		fprintf(out, ",\"first_s\":");
		jnum(out, rel(a, s->first_ns));
		fprintf(out, ",\"duration_s\":");
		jnum(out, (double)(s->last_ns - s->first_ns) / 1e9);
		fprintf(out, ",\"rtcp_reports\":%u,\"rtcp_fraction_lost\":%u,\"rtcp_cumulative_lost\":%d,"
			"\"rtcp_jitter\":%u,\"bucket_s\":", s->rr_count, s->rr_fraction, s->rr_cum_lost, s->rr_jitter);
		jnum(out, (double)s->bucket_ns / 1e9);
		fprintf(out, ",\"bitrate_kbps\":[");
		for (uint32_t k = 0; k < s->nbuckets; k++) {
			fprintf(out, "%s", k ? "," : "");
			jnum(out, (double)s->buckets[k].bytes * 8 / ((double)s->bucket_ns / 1e9) / 1000);
		}
		fprintf(out, "]}");
	}

	fprintf(out, "],\n\"rtcp\":[");
	for (size_t i = 0; i < a->nrtcp; i++) {
		const struct cc_rtcp_src *r = &a->rtcp[i];

		fprintf(out, "%s\n {\"ssrc\":%u,\"interface\":\"%s\",\"direction\":\"%s\",", i ? "," : "",
			r->ssrc, cc_report_ifname(r->ifindex), cc_report_dirname(r->dir));
		jep(out, "src", &r->src);
		fputc(',', out);
		jep(out, "dst", &r->dst);
		fprintf(out, ",\"packets\":%" PRIu64 ",\"encrypted\":%" PRIu64 ",\"sr\":%u,\"rr\":%u,\"sdes\":%u,"
			"\"bye\":%u,\"app\":%u,\"xr\":%u,\"nack\":%u,\"pli\":%u,\"fir\":%u,\"remb\":%u,\"tcc\":%u,"
			"\"remb_bps\":%" PRIu64, r->packets, r->undecodable, r->sr, r->rr, r->sdes, r->bye, r->app,
			r->xr, r->nack, r->pli, r->fir, r->remb, r->tcc, r->remb_bps);
		if (r->have_rb)
			fprintf(out, ",\"report_block\":{\"ssrc\":%u,\"fraction_lost\":%u,\"cumulative_lost\":%d,"
				"\"jitter\":%u}", r->rb_ssrc, r->rb_fraction, r->rb_cum_lost, r->rb_jitter);
		fputc('}', out);
	}

	fprintf(out, "],\n\"dtmf\":[");
	for (size_t i = 0; i < a->ndtmf; i++) {
		const struct cc_dtmf_event *e = &a->dtmf[i];

		fprintf(out, "%s\n {\"t_s\":", i ? "," : "");
		jnum(out, rel(a, e->t_ns));
		fprintf(out, ",\"ssrc\":%u,\"interface\":\"%s\",\"direction\":\"%s\",\"digit\":\"%c\",\"event\":%u,"
			"\"duration\":%u,\"ended\":%s}", e->ssrc, cc_report_ifname(e->ifindex), cc_report_dirname(e->dir),
			cc_dtmf_char(e->event), e->event, e->duration, e->ended ? "true" : "false");
	}

	fprintf(out, "],\n\"data_channels\":[");
	for (size_t i = 0; i < a->nchannels; i++) {
		const struct cc_channel *c = &a->channels[i];

		fprintf(out, "%s\n {\"interface\":\"%s\",", i ? "," : "", cc_report_ifname(c->ifindex));
		jep(out, "a", &c->a);
		fputc(',', out);
		jep(out, "b", &c->b);
		fprintf(out, ",\"stream\":%u,\"opened\":%s,\"acked\":%s,\"label\":\"%s\",\"protocol\":\"%s\","
			"\"channel_type\":%u,\"messages_a_to_b\":%" PRIu64 ",\"messages_b_to_a\":%" PRIu64
			",\"bytes_a_to_b\":%" PRIu64 ",\"bytes_b_to_a\":%" PRIu64 ",\"received_a_to_b\":%" PRIu64
			",\"received_b_to_a\":%" PRIu64 "}", c->stream, c->opened ? "true" : "false",
			c->acked ? "true" : "false", c->label, c->protocol, c->channel_type, c->msgs[0], c->msgs[1],
			c->bytes[0], c->bytes[1], c->msgs_rx[0], c->msgs_rx[1]);
	}
	fprintf(out, "],\n\"flow_steps\":");
	cc_report_steps_json(out, a);
	fprintf(out, ",\n\"sip\":");
	cc_report_sip_json(out, a);
	fprintf(out, ",\n\"overflow\":{\"flows\":%" PRIu64 ",\"streams\":%" PRIu64 ",\"stun\":%" PRIu64
		",\"turn\":%" PRIu64 ",\"rtcp\":%" PRIu64 ",\"channels\":%" PRIu64 ",\"dtmf\":%" PRIu64
		",\"bindings\":%" PRIu64 ",\"turn_live\":%" PRIu64 ",\"sip\":%" PRIu64 "}}\n", a->overflow.flows,
		a->overflow.streams, a->overflow.stun, a->overflow.turn, a->overflow.rtcp, a->overflow.channels,
		a->overflow.dtmf, a->overflow.bindings, a->overflow.live, a->overflow.sip);
}

/* -------------------------------------------------------------------------------------------
 * The wrapper's exit table: short enough to read in a terminal after a run.
 */

#define COMPACT_MAX 12	/* rows per section; the JSON (--stats) has them all */

void cc_report_compact(FILE *out, const struct cc_an *a)
{
	char b1[64], b2[64];
	struct stun_sum ss;
	size_t shown = 0;

	for (size_t i = 0; i < a->nflows && shown < COMPACT_MAX; i++, shown++) {
		const struct cc_flow *f = &a->flows[i];
		/* Local end first, so "->" is what the program sent; when both ends were captured
		 * (loopback) or neither is known, the order of the addresses. */
		int l = f->local == 2;

		fprintf(out, "clearcap: flow %s %s %s <-> %s: -> %" PRIu64 "/%" PRIu64 "B <- %" PRIu64 "/%" PRIu64 "B",
			cc_report_ifname(f->ifindex), protoname(f->proto), ep(l ? &f->b : &f->a, b1, sizeof b1),
			ep(l ? &f->a : &f->b, b2, sizeof b2), f->pkts[l], f->bytes[l], f->pkts[!l], f->bytes[!l]);
		for (int k = 0; k < CC_K_COUNT; k++)
			if (f->kind[0][k] + f->kind[1][k])
				fprintf(out, " %s %" PRIu64, cc_kind_name(k), f->kind[0][k] + f->kind[1][k]);
		if (f->dtls_client || f->kind[0][CC_K_DTLS] || f->kind[1][CC_K_DTLS])
			fprintf(out, "; dtls %s", cc_dtls_state(f));
		if (f->nominated)
			fprintf(out, "; nominated");
		fputc('\n', out);
		if (f->noplain)
			fprintf(out, "clearcap:   why no plaintext: %s\n", f->noplain);
		impaired_text(out, f, l, "clearcap:   impaired:");
	}
	if (a->nflows > shown)
		fprintf(out, "clearcap: ... %zu more flows\n", a->nflows - shown);
	shown = 0;
	for (size_t i = 0; i < a->nstreams && shown < COMPACT_MAX; i++) {
		const struct cc_stream *s = &a->streams[i];
		int64_t exp = cc_rtpseq_expected(&s->seq), lost = stream_lost(s);

		if (!s->seq.valid)
			continue;
		shown++;

		fprintf(out, "clearcap: rtp ssrc 0x%08x pt %d %s %s %s -> %s: %" PRIu64 " pkts, lost %" PRId64
			" (%.2f%%), jitter %.3f ms\n", s->ssrc, s->pt == 0xff ? -1 : s->pt, cc_report_ifname(s->ifindex),
			cc_report_dirname(s->dir), ep(&s->src, b1, sizeof b1), ep(&s->dst, b2, sizeof b2), s->pkts, lost,
			pct(lost, exp), cc_stream_jitter_ms(s));
	}
	{
		size_t valid = 0;

		for (size_t i = 0; i < a->nstreams; i++)
			valid += a->streams[i].seq.valid;
		if (valid > shown)
			fprintf(out, "clearcap: ... %zu more RTP streams\n", valid - shown);
	}
	stun_summary(a, &ss);
	if (ss.tx) {
		fprintf(out, "clearcap: stun %" PRIu64 " transactions: %" PRIu64 " answered (%" PRIu64 " success, %"
			PRIu64 " error), %" PRIu64 " unanswered", ss.tx - ss.responses_only, ss.answered, ss.ok,
			ss.err, ss.unanswered);
		if (ss.rtt_n)
			fprintf(out, ", rtt min/avg/max %.3f/%.3f/%.3f ms", ss.rtt_min, ss.rtt_sum / ss.rtt_n,
				ss.rtt_max);
		fputc('\n', out);
	}
	for (size_t i = 0; i < a->nchannels && i < COMPACT_MAX; i++) {
		const struct cc_channel *c = &a->channels[i];

		if (c->opened)
			fprintf(out, "clearcap: data channel '%s' stream %u: %" PRIu64 " messages sent, %" PRIu64
				" received\n", c->label, c->stream, c->msgs[0] + c->msgs[1],
				c->msgs_rx[0] + c->msgs_rx[1]);
	}
	if (a->ndtmf) {
		fprintf(out, "clearcap: dtmf");
		for (size_t i = 0; i < a->ndtmf; i++)
			fprintf(out, "%s%c", i && (a->dtmf[i].ssrc != a->dtmf[i - 1].ssrc ||
						  a->dtmf[i].dir != a->dtmf[i - 1].dir ||
						  a->dtmf[i].ifindex != a->dtmf[i - 1].ifindex) ? " | " :
					       i ? "" : " ", cc_dtmf_char(a->dtmf[i].event));
		fputc('\n', out);
	}
	cc_report_sip_compact(out, a);
	for (size_t i = 0; i < a->nturn; i++)
		fprintf(out, "clearcap: turn %s -> %s: allocate %u/%u ok%s\n", ep(&a->turn[i].client, b1, sizeof b1),
			ep(&a->turn[i].server, b2, sizeof b2), a->turn[i].allocate_ok, a->turn[i].allocate_req,
			a->turn[i].have_relayed ? ", relayed" : "");
}

/* -------------------------------------------------------------------------------------------
 * Reading a file into an analysis
 */

/* A process's statistics block: "clearcap pid P: HEP N sent, M dropped" (pcapout/writer.c). */
static void hep_stats(void *arg, const char *c, size_t len)
{
	struct cc_an *a = arg;
	char buf[256];
	const char *h;
	unsigned long long sent, dropped;

	if (len >= sizeof buf)
		len = sizeof buf - 1;
	memcpy(buf, c, len);
	buf[len] = 0;
	if (strncmp(buf, "clearcap relay: HEP over TLS to ", 32) == 0) {
		char *end = strrchr(buf, ':');

		if (end == NULL || end <= buf + 32 || sscanf(end, ": %llu relayed, %llu dropped", &sent, &dropped) != 2)
			return;
		*end = 0;
		size_t tl = strlen(buf + 32);

		if (tl >= sizeof a->hep_relay_to)
			tl = sizeof a->hep_relay_to - 1;
		memcpy(a->hep_relay_to, buf + 32, tl);
		a->hep_relay_to[tl] = 0;
		a->hep_relayed += sent;
		a->hep_relay_dropped += dropped;
		return;
	}
	unsigned pid;
	if (strncmp(buf, "clearcap pid ", 13) != 0 || (h = strstr(buf, ": HEP ")) == NULL ||
	    sscanf(h, ": HEP %llu sent, %llu dropped", &sent, &dropped) != 2 || sscanf(buf + 13, "%u", &pid) != 1)
		return;
	a->hep_sent += sent;
	a->hep_dropped += dropped;
	/* A process writes one block at its end, and one more before each exec. */
	uint32_t known = a->hep_procs < 256 ? a->hep_procs : 256;
	for (uint32_t i = 0; i < known; i++)
		if (a->hep_pids[i] == pid)
			return;
	if (a->hep_procs < 256)
		a->hep_pids[a->hep_procs] = pid;
	a->hep_procs++;
}

int cc_analyze_add(struct cc_an *a, const char *path, off_t start, struct cc_report_src *src,
		   char *err, size_t errlen)
{
	static char read_error[PCAP_ERRBUF_SIZE + 64];
	struct cc_capread r;
	const struct pcap_pkthdr *h;
	const uint8_t *data;
	uint64_t ts;
	int rc;

	memset(src, 0, sizeof *src);
	src->file = path;
	src->start = start;
	if (cc_capread_open(&r, path, start) < 0) {
		snprintf(err, errlen, "%s", r.err);
		return -1;
	}
	src->dlt = r.dlt;
	if (!cc_pkt_link_supported(r.dlt)) {
		snprintf(err, errlen, "%s: link type %d (%s) is not supported", path, r.dlt,
			 pcap_datalink_val_to_name(r.dlt) ? pcap_datalink_val_to_name(r.dlt) : "?");
		cc_capread_close(&r);
		return -1;
	}
	a->dlt = r.dlt;
	cc_capread_comments(&r, path, start);
	r.on_stats = hep_stats;
	r.stats_arg = a;
	while ((rc = cc_capread_next(&r, &h, &data, &ts)) == 1) {
		a->comment = r.comment;
		a->comment_len = r.comment_len;
		cc_an_frame(a, r.dlt, ts, data, h->caplen, h->len);
	}
	a->comment = NULL;
	a->comment_len = 0;
	if (rc < 0) {
		snprintf(read_error, sizeof read_error, "%s", r.err);
		src->truncated = 1;
		src->read_error = read_error;
	}
	cc_capread_close(&r);
	return 0;
}

struct cc_an *cc_analyze_file(const char *path, off_t start, struct cc_report_src *src,
			      char *err, size_t errlen)
{
	struct cc_an *a = cc_an_new();

	if (a == NULL) {
		memset(src, 0, sizeof *src);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (cc_analyze_add(a, path, start, src, err, errlen) < 0) {
		cc_an_free(a);
		return NULL;
	}
	cc_an_finish(a);
	return a;
}
