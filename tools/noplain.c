/*
 * noplain.c - never silent in the report and the exit table: each flow on the wire or relay
 * interface that carried TLS or DTLS application data, and has no plaintext copy in the file,
 * says why.
 *
 * The why comes from the file itself.  The shim writes it, as a comment, on the first TLS or
 * DTLS handshake packet of a process where no TLS library it hooks has a session ("encrypted:
 * TLS, and no TLS library clearcap hooks ... no plaintext (...)"); the tracer writes one on the
 * first packet of a program the shim could not enter.  Those notes are once per process and
 * kind, so a flow without one takes the note its process wrote for that kind.  A flow with no
 * note at all gets a reason from what the file shows: no clearcap process (a file from tcpdump),
 * or a process whose library was not hooked for this session.
 *
 * Plaintext copies are found by address: a TLS connection's plaintext is on its own TCP 5-tuple;
 * a DTLS association's is SCTP (data channels) or UDP on the same two addresses.  The IPv4-mapped
 * IPv6 addresses clearcap may give plaintext (to keep Wireshark from joining it to the wire copy)
 * count as the IPv4 address.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "tools/analyze.h"

/* The endpoint, with an IPv4-mapped IPv6 address as IPv4. */
static struct cc_endpoint norm(const struct cc_endpoint *e)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	struct cc_endpoint n;

	memset(&n, 0, sizeof n);
	n.port = e->port;
	n.family = e->family;
	if (e->family == 6 && memcmp(e->ip, mapped, 12) == 0) {
		n.family = 4;
		memcpy(n.ip, e->ip + 12, 4);
	} else {
		memcpy(n.ip, e->ip, e->family == 6 ? 16 : 4);
	}
	return n;
}

static uint64_t fnv64(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

/* A key for the two ends in either order: with ports and protocol, or the addresses alone. */
static uint64_t pair_key(const struct cc_endpoint *x, const struct cc_endpoint *y, uint8_t proto, int ports)
{
	struct cc_endpoint e[2] = { norm(x), norm(y) };
	uint64_t h = 14695981039346656037ull;

	if (!ports)
		e[0].port = e[1].port = 0, proto = 0;
	if (memcmp(&e[0], &e[1], sizeof e[0]) > 0) {
		struct cc_endpoint t = e[0];

		e[0] = e[1];
		e[1] = t;
	}
	h = fnv64(h, &proto, 1);
	for (int i = 0; i < 2; i++) {
		h = fnv64(h, &e[i].family, 1);
		h = fnv64(h, e[i].ip, 16);
		h = fnv64(h, &e[i].port, 2);
	}
	return h ? h : 1;
}

static void key_add(struct cc_an *a, uint64_t k)
{
	for (uint32_t i = 0; i < CC_AN_PLAIN_KEYS; i++) {
		uint64_t *slot = &a->plain_keys[(k + i) % CC_AN_PLAIN_KEYS];

		if (*slot == k)
			return;
		if (*slot == 0) {
			if (a->nplain_keys + 1 >= CC_AN_PLAIN_KEYS) {
				a->plain_keys_full = 1;
				return;
			}
			*slot = k;
			a->nplain_keys++;
			return;
		}
	}
}

static int key_has(const struct cc_an *a, uint64_t k)
{
	for (uint32_t i = 0; i < CC_AN_PLAIN_KEYS; i++) {
		uint64_t v = a->plain_keys[(k + i) % CC_AN_PLAIN_KEYS];

		if (v == k)
			return 1;
		if (v == 0)
			return 0;
	}
	return 0;
}

/* A TLS record header at the start of a segment (RFC 8446 §5.1): its content type, or 0. */
static int tls_record(const uint8_t *p, size_t n)
{
	if (n < 5 || p[0] < 20 || p[0] > 23 || p[1] != 3 || p[2] > 4 || ((size_t)p[3] << 8 | p[4]) > 18432)
		return 0;
	return p[0];
}

const char *cc_an_part_start(const char *c, const char *p)
{
	while (p > c && !(p[-1] == ' ' && p - 1 > c && p[-2] == ';'))
		p--;
	return p;
}

/* The "no plaintext" part of a frame comment ("process ...; encrypted: ...; ..."), or 0. */
static size_t note_of(const char *c, size_t n, const char **start)
{
	static const char key[] = "no plaintext";
	const char *hit = memmem(c, n, key, sizeof key - 1);

	if (hit == NULL)
		return 0;
	const char *s = cc_an_part_start(c, hit), *e = hit;
	/* "...; no plaintext" (the tracer's) belongs with the part before it. */
	if (s == hit && s - 2 > c)
		s = cc_an_part_start(c, s - 2);
	while (e < c + n && !(e[0] == ';' && e + 1 < c + n && e[1] == ' '))
		e++;
	*start = s;
	return (size_t)(e - s);
}

static void take_note(struct cc_an *a, struct cc_flow *f, const struct cc_pkt *pkt)
{
	const char *s;
	size_t n = note_of(a->comment, a->comment_len, &s);
	/* The tracer's note is about the whole program; the shim's about TLS or DTLS. */
	uint8_t dtls = n && memmem(s, n, "tracing", 7) ? 2 : pkt->proto == IPPROTO_UDP;
	size_t i;

	if (n == 0)
		return;
	if (n >= CC_AN_NOTE_MAX)
		n = CC_AN_NOTE_MAX - 1;
	for (i = 0; i < a->nnotes; i++)
		if (a->notes[i].pid == pkt->pid && a->notes[i].dtls == dtls && strlen(a->notes[i].text) == n &&
		    memcmp(a->notes[i].text, s, n) == 0)
			break;
	if (i == a->nnotes) {
		if (a->nnotes == CC_AN_MAX_NOTES)
			return;
		a->notes[i].pid = pkt->pid;
		a->notes[i].dtls = dtls;
		memcpy(a->notes[i].text, s, n);
		a->notes[i].text[n] = 0;
		a->nnotes++;
	}
	if (f != NULL && f->note == 0)
		f->note = (uint16_t)(i + 1);
}

void cc_an_noplain_packet(struct cc_an *a, struct cc_flow *f, const struct cc_pkt *pkt, enum cc_kind *kind)
{
	if (a->comment_len)
		take_note(a, f, pkt);
	if (pkt->ifindex == 2) {
		key_add(a, pair_key(&pkt->src, &pkt->dst, pkt->proto, 1));
		key_add(a, pair_key(&pkt->src, &pkt->dst, 0, 0));
		return;
	}
	if (f == NULL)
		return;
	if (*kind == CC_K_DTLS) {
		f->enc |= CC_FLOW_DTLS;
		return;
	}
	if (pkt->proto != IPPROTO_TCP || *kind != CC_K_TCP || pkt->payload_len == 0)
		return;
	int type = tls_record(pkt->payload, pkt->payload_len);

	if (type)
		f->enc |= CC_FLOW_TLS;
	if (type == 23)
		f->tls_app = 1;
	/* A segment of a TLS connection, at a record's start or inside one. */
	if (f->enc & CC_FLOW_TLS)
		*kind = CC_K_TLS;
}

static const char NO_SHIM[] = "no plaintext copy in the file: not captured by clearcap's shim (a file from "
			      "tcpdump?); clearcap decrypt --keylog FILE adds the secrets Wireshark needs";
static const char NOT_HOOKED[] = "no plaintext copy in the file: the session's TLS library is none clearcap "
				 "hooked in this process (or plaintext was not selected for capture)";

static const char *reason(const struct cc_an *a, const struct cc_flow *f, uint8_t dtls)
{
	if (f->note)
		return a->notes[f->note - 1].text;
	for (size_t i = 0; i < a->nnotes; i++)
		for (uint8_t k = 0; k < f->npids; k++)
			if (a->notes[i].pid == f->pids[k] && (a->notes[i].dtls == dtls || a->notes[i].dtls == 2))
				return a->notes[i].text;
	return f->npids ? NOT_HOOKED : NO_SHIM;
}

void cc_an_noplain_finish(struct cc_an *a)
{
	if (a->plain_keys_full)
		return;		/* too many plaintext flows to tell: say nothing rather than be wrong */
	for (size_t i = 0; i < a->nflows; i++) {
		struct cc_flow *f = &a->flows[i];

		f->noplain = NULL;
		if (f->ifindex == 2)
			continue;
		if ((f->enc & CC_FLOW_TLS) && f->tls_app && !key_has(a, pair_key(&f->a, &f->b, IPPROTO_TCP, 1)))
			f->noplain = reason(a, f, 0);
		else if ((f->enc & CC_FLOW_DTLS) && f->dtls_app[0] + f->dtls_app[1] &&
			 !key_has(a, pair_key(&f->a, &f->b, 0, 0)))
			f->noplain = reason(a, f, 1);
	}
}
