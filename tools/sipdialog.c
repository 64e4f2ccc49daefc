/*
 * sipdialog.c - SIP messages in a capture, grouped into dialogs by Call-ID for the report.
 *
 * A message is read where a UDP datagram or a TCP segment (wire, or TLS's plaintext) begins
 * with a SIP start line (decoders/sip.c); a segment may hold several messages back to back,
 * found by Content-Length (RFC 3261 §18.3).  A message that starts inside a segment after a cut
 * one is not found: there is no TCP reassembly here.
 *
 * When both ends run under clearcap (or on loopback) the file holds each message twice, sent by
 * one process and received by the other.  The received copy is folded into the sent one, so a
 * dialog lists each message once; a retransmission is a new sent copy and is listed again.
 */
#include "tools/analyze.h"
#include "decoders/cursor.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/* Two copies of one message are at most this far apart (loopback is microseconds). */
#define SAME_MSG_NS 500000000ull

static int ep_same(const struct cc_endpoint *x, const struct cc_endpoint *y)
{
	return x->family == y->family && x->port == y->port && memcmp(x->ip, y->ip, 16) == 0;
}

static struct cc_sip_dialog *dialog_get(struct cc_an *a, const char *call_id, uint64_t ts)
{
	struct cc_sip_dialog *d;

	for (size_t i = 0; i < a->nsip; i++)
		if (strcmp(a->sip[i].call_id, call_id) == 0)
			return &a->sip[i];
	if (a->nsip == CC_AN_MAX_SIP) {
		a->overflow.sip++;
		return NULL;
	}
	d = &a->sip[a->nsip++];
	memset(d, 0, sizeof *d);
	memcpy(d->call_id, call_id, sizeof d->call_id);
	d->first_ns = d->last_ns = ts;
	return d;
}

/* The other end's copy of ev already listed, or NULL. */
static struct cc_sip_event *twin(struct cc_sip_dialog *d, const struct cc_sip_event *ev)
{
	for (uint32_t i = d->nev; i-- > 0;) {
		struct cc_sip_event *e = &d->ev[i];
		uint64_t gap = e->t_ns > ev->t_ns ? e->t_ns - ev->t_ns : ev->t_ns - e->t_ns;

		if (gap > SAME_MSG_NS)
			continue;
		if (e->both || e->status != ev->status || e->cseq != ev->cseq || strcmp(e->method, ev->method) != 0 ||
		    !ep_same(&e->src, &ev->src) || !ep_same(&e->dst, &ev->dst) || e->proto != ev->proto)
			continue;
		/* One sent and one received copy (SLL2 packet types), never two of one kind. */
		if ((e->dir == CC_DIR_OUT && ev->dir == CC_DIR_IN) || (e->dir == CC_DIR_IN && ev->dir == CC_DIR_OUT))
			return e;
	}
	return NULL;
}

static void add(struct cc_an *a, const struct cc_pkt *pkt, uint64_t ts, const struct cc_sip *m)
{
	struct cc_sip_dialog *d = dialog_get(a, m->call_id, ts);
	struct cc_sip_event ev, *t;

	if (d == NULL)
		return;
	memset(&ev, 0, sizeof ev);
	ev.t_ns = ts;
	ev.src = pkt->src;
	ev.dst = pkt->dst;
	ev.ifindex = pkt->ifindex;
	ev.proto = pkt->proto;
	ev.dir = pkt->dir;
	ev.status = m->status;
	ev.cseq = m->cseq;
	memcpy(ev.method, m->is_request ? m->method : m->cseq_method, sizeof ev.method);
	if (ts < d->first_ns)
		d->first_ns = ts;
	if (ts > d->last_ns)
		d->last_ns = ts;
	if ((t = twin(d, &ev)) != NULL) {
		t->both = 1;
		/* The sent copy's time is when the message left; keep the earlier of the two. */
		if (ts < t->t_ns)
			t->t_ns = ts;
		return;
	}
	if (m->status)
		d->responses++;
	else
		d->requests++;
	if (d->nev == CC_AN_SIP_EVENTS) {
		d->dropped++;
		return;
	}
	d->ev[d->nev++] = ev;
}

size_t cc_an_sip(struct cc_an *a, const struct cc_pkt *pkt, uint64_t ts)
{
	const uint8_t *p = pkt->payload;
	size_t left = pkt->payload_len, n = 0;

	while (left > 0 && cc_sip_detect(p, left)) {
		struct cc_sip m;
		int rc = cc_sip_parse(p, left, &m);
		size_t used;

		if (rc != CC_OK && !(rc == CC_ESHORT && m.call_id[0])) {
			a->sip_bad++;
			break;
		}
		a->sip_msgs++;
		n++;
		add(a, pkt, ts, &m);
		/* §18.3: on a stream Content-Length finds the next message; UDP carries one. */
		if (rc != CC_OK || pkt->proto != IPPROTO_TCP || m.content_length < 0 ||
		    (uint64_t)m.content_length > left - m.header_len)
			break;
		used = m.header_len + (size_t)m.content_length;
		p += used;
		left -= used;
	}
	return n;
}

static int by_time(const void *x, const void *y)
{
	const struct cc_sip_event *p = x, *q = y;

	return p->t_ns < q->t_ns ? -1 : p->t_ns > q->t_ns;
}

void cc_an_sip_finish(struct cc_an *a)
{
	/* Two processes' records are not always in time order in one file. */
	for (size_t i = 0; i < a->nsip; i++)
		qsort(a->sip[i].ev, a->sip[i].nev, sizeof a->sip[i].ev[0], by_time);
}
