/*
 * report_steps.c - one timeline per flow, in the order a troubleshooter checks a WebRTC path:
 *
 *   STUN Binding / TURN Allocate -> 401 -> Allocate -> success (relayed) -> CreatePermission ->
 *   ChannelBind -> first relayed data -> DTLS ClientHello -> ServerHello -> ChangeCipherSpec ->
 *   Finished -> application data / first SRTP -> first decrypted RTP (the SRTP keys worked)
 *
 * Each step has its time from the start of the capture, so where a session stopped, and how long
 * each step took, reads top to bottom.  The global TIMELINE (report.c) keeps the milestones
 * across flows; this is the detail of one 5-tuple.
 */
#include "tools/report_steps.h"

#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "decoders/stun.h"

#define STEPS_MAX 64		/* steps kept per flow */
#define BINDINGS_LISTED 4	/* Binding transactions listed per flow; the rest are counted */

struct step {
	uint64_t t;
	unsigned seq;		/* insertion order: ties keep the order the steps were found in */
	char what[176];
};

struct steps {
	struct step s[STEPS_MAX];
	size_t n;
	unsigned bindings_more;
	uint64_t bindings_last;
};

static double rel(const struct cc_an *a, uint64_t ts)
{
	return ts >= a->first_ns ? (double)(ts - a->first_ns) / 1e9 : -(double)(a->first_ns - ts) / 1e9;
}

static const char *ifname(uint8_t i)
{
	static const char *const names[] = { "-", "wire", "plaintext", "relay" };

	return i < 4 ? names[i] : "if?";
}

__attribute__((format(printf, 3, 4)))
static void add(struct steps *st, uint64_t t, const char *fmt, ...)
{
	va_list ap;

	if (st->n == STEPS_MAX || t == 0)
		return;
	st->s[st->n].t = t;
	st->s[st->n].seq = (unsigned)st->n;
	va_start(ap, fmt);
	vsnprintf(st->s[st->n].what, sizeof st->s[st->n].what, fmt, ap);
	va_end(ap);
	st->n++;
}

static int by_time(const void *x, const void *y)
{
	const struct step *p = x, *q = y;

	if (p->t != q->t)
		return p->t < q->t ? -1 : 1;
	return p->seq < q->seq ? -1 : p->seq > q->seq;
}

/* An endpoint with an IPv4-mapped IPv6 address (the plaintext copies) as its IPv4 form. */
static struct cc_endpoint unmapped(const struct cc_endpoint *e)
{
	static const uint8_t pfx[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	struct cc_endpoint r = *e;

	if (e->family == 6 && memcmp(e->ip, pfx, 12) == 0) {
		memset(r.ip, 0, sizeof r.ip);
		memcpy(r.ip, e->ip + 12, 4);
		r.family = 4;
	}
	return r;
}

static int same(const struct cc_endpoint *x, const struct cc_endpoint *y)
{
	struct cc_endpoint p = unmapped(x), q = unmapped(y);

	return p.family == q.family && p.port == q.port && memcmp(p.ip, q.ip, 16) == 0;
}

static int on_flow(const struct cc_flow *f, const struct cc_endpoint *s, const struct cc_endpoint *d)
{
	return (same(s, &f->a) && same(d, &f->b)) || (same(s, &f->b) && same(d, &f->a));
}

static void stun_step(struct steps *st, const struct cc_stun_tx *t)
{
	char b1[64], b2[64], b3[64], out[96], tail[32] = "";
	double rtt = ((double)t->resp_ns - (double)t->req_ns) / 1e6;

	if (t->outcome == CC_STUN_SUCCESS) {
		if (t->method == CC_STUN_ALLOCATE && t->have_relayed)
			snprintf(out, sizeof out, "success, relayed %s", cc_endpoint_str(&t->relayed, b3, sizeof b3));
		else if (t->method == CC_STUN_BINDING && t->have_mapped)
			snprintf(out, sizeof out, "success, mapped %s", cc_endpoint_str(&t->mapped, b3, sizeof b3));
		else
			snprintf(out, sizeof out, "success");
	} else if (t->outcome == CC_STUN_ERROR) {
		snprintf(out, sizeof out, "error %u%s", t->error_code, t->error_code == 401 ? " (challenge)" : "");
	} else {
		snprintf(out, sizeof out, "no response");
	}
	if (t->requests == 0) {
		add(st, t->req_ns, "%s response %s (request not in the file)", cc_stun_method_name(t->method), out);
		return;
	}
	if (t->outcome)
		snprintf(tail, sizeof tail, " after %.1f ms", rtt);
	if (t->method == CC_STUN_CHANNEL_BIND && t->have_peer)
		add(st, t->req_ns, "ChannelBind 0x%04x peer %s %s -> %s: %s%s", t->channel,
		    cc_endpoint_str(&t->peer, b3, sizeof b3), cc_endpoint_str(&t->from, b1, sizeof b1),
		    cc_endpoint_str(&t->to, b2, sizeof b2), out, tail);
	else
		add(st, t->req_ns, "%s%s %s -> %s: %s%s", cc_stun_method_name(t->method),
		    t->use_candidate ? " (USE-CANDIDATE)" : "", cc_endpoint_str(&t->from, b1, sizeof b1),
		    cc_endpoint_str(&t->to, b2, sizeof b2), out, tail);
}

static int by_req(const void *x, const void *y)
{
	const struct cc_stun_tx *p = *(const struct cc_stun_tx *const *)x, *q = *(const struct cc_stun_tx *const *)y;

	return p->req_ns < q->req_ns ? -1 : p->req_ns > q->req_ns;
}

static void collect(const struct cc_an *a, const struct cc_flow *f, struct steps *st)
{
	static const char *const dtls_names[CC_DTLS_STEPS] = {
		"ClientHello", "ServerHello", "ChangeCipherSpec", "Finished (first message under the new keys)",
		"first application data (handshake complete)", "alert",
	};
	const struct cc_stun_tx **tx = malloc(CC_AN_MAX_STUN * sizeof *tx);
	size_t ntx = 0;
	unsigned bindings = 0;
	char b1[64], b2[64];
	uint64_t plain = 0;

	memset(st, 0, sizeof *st);
	if (tx != NULL) {
		for (size_t i = 0; i < CC_AN_MAX_STUN; i++) {
			const struct cc_stun_tx *t = &a->stun[i];

			if (t->used && (t->requests || t->responses) && t->ifindex == f->ifindex &&
			    on_flow(f, &t->from, &t->to))
				tx[ntx++] = t;
		}
		qsort(tx, ntx, sizeof *tx, by_req);
		for (size_t i = 0; i < ntx; i++) {
			/* Consent checks repeat every few seconds (RFC 7675): list the first few. */
			if (tx[i]->method == CC_STUN_BINDING && ++bindings > BINDINGS_LISTED) {
				st->bindings_more++;
				st->bindings_last = tx[i]->req_ns;
				continue;
			}
			stun_step(st, tx[i]);
		}
		free(tx);
	}
	add(st, f->first_chdata_ns, "first relayed data (TURN ChannelData or Send/Data indication)");
	for (int k = 0; k < CC_DTLS_STEPS; k++)
		for (int d = 0; d < 2; d++)
			if (f->dtls_ts[d][k])
				add(st, f->dtls_ts[d][k], "DTLS %s %s -> %s", dtls_names[k],
				    cc_endpoint_str(d ? &f->b : &f->a, b1, sizeof b1),
				    cc_endpoint_str(d ? &f->a : &f->b, b2, sizeof b2));
	if (f->first_kind_ns[CC_K_RTP])
		add(st, f->first_kind_ns[CC_K_RTP], "first RTP%s", f->dtls_client ? " (SRTP)" : "");
	if (f->first_kind_ns[CC_K_RTCP])
		add(st, f->first_kind_ns[CC_K_RTCP], "first RTCP%s", f->dtls_client ? " (SRTCP)" : "");
	/* The SRTP keys in use: libsrtp's plaintext of a stream on this 5-tuple. */
	for (size_t i = 0; i < a->nstreams; i++) {
		const struct cc_stream *s = &a->streams[i];

		if (s->ifindex == 2 && f->ifindex != 2 && on_flow(f, &s->src, &s->dst) &&
		    (plain == 0 || s->first_ns < plain))
			plain = s->first_ns;
	}
	add(st, plain, "first decrypted RTP (plaintext copy: SRTP keys in use)");
	qsort(st->s, st->n, sizeof st->s[0], by_time);
}

static int wanted(const struct cc_flow *f)
{
	return f->ifindex != 2 && (f->kind[0][CC_K_STUN] + f->kind[1][CC_K_STUN] + f->kind[0][CC_K_TURN] +
				   f->kind[1][CC_K_TURN] + f->kind[0][CC_K_DTLS] + f->kind[1][CC_K_DTLS]) > 0;
}

void cc_report_steps_text(FILE *out, const struct cc_an *a)
{
	struct steps *st = malloc(sizeof *st);
	char b1[64], b2[64];
	size_t n = 0;

	if (st == NULL)
		return;
	for (size_t i = 0; i < a->nflows; i++)
		n += wanted(&a->flows[i]);
	if (n)
		fprintf(out, "\nFLOW STEPS (%zu flows with STUN, TURN or DTLS)\n", n);
	for (size_t i = 0; i < a->nflows; i++) {
		const struct cc_flow *f = &a->flows[i];

		if (!wanted(f))
			continue;
		collect(a, f, st);
		fprintf(out, "  %s %s %s <-> %s\n", ifname(f->ifindex), f->proto == IPPROTO_TCP ? "tcp" : "udp",
			cc_endpoint_str(&f->a, b1, sizeof b1), cc_endpoint_str(&f->b, b2, sizeof b2));
		for (size_t k = 0; k < st->n; k++)
			fprintf(out, "    +%.3fs %s\n", rel(a, st->s[k].t), st->s[k].what);
		if (st->bindings_more)
			fprintf(out, "    ... %u more Binding transactions, the last at +%.3fs\n", st->bindings_more,
				rel(a, st->bindings_last));
	}
	free(st);
}

void cc_report_steps_json(FILE *out, const struct cc_an *a)
{
	struct steps *st = malloc(sizeof *st);
	char b1[64], b2[64];
	int first = 1;

	fputc('[', out);
	for (size_t i = 0; st != NULL && i < a->nflows; i++) {
		const struct cc_flow *f = &a->flows[i];

		if (!wanted(f))
			continue;
		collect(a, f, st);
		fprintf(out, "%s{\"interface\":\"%s\",\"proto\":\"%s\",\"a\":\"%s\",\"b\":\"%s\",\"more_bindings\":%u,"
			"\"steps\":[", first ? "" : ",\n ", ifname(f->ifindex), f->proto == IPPROTO_TCP ? "tcp" : "udp",
			cc_endpoint_str(&f->a, b1, sizeof b1), cc_endpoint_str(&f->b, b2, sizeof b2), st->bindings_more);
		first = 0;
		/* Step texts hold addresses, method names and numbers only: no escaping needed. */
		for (size_t k = 0; k < st->n; k++)
			fprintf(out, "%s{\"t\":%.6f,\"step\":\"%s\"}", k ? "," : "", rel(a, st->s[k].t), st->s[k].what);
		fprintf(out, "]}");
	}
	fputc(']', out);
	free(st);
}
