/*
 * Plaintext frames: what a TLS, DTLS or SRTP call moved in the clear, on the 5-tuple of the wire
 * packets that carried it; SCTP-looking DTLS data framed as SCTP; TLS as a synthesized TCP stream.
 */
#include "shim/plain.h"
#include "shim/clock.h"
#include "shim/config.h"
#include "shim/hooks.h"
#include "shim/select.h"
#include "pcapout/writer.h"
#include "decoders/sctp.h"

#include <netinet/in.h>
#include <stdio.h>

/*
 * DTLS application data that parses as a whole SCTP packet (RFC 8261: WebRTC data channels run
 * SCTP directly over DTLS) is framed as IP/SCTP so Wireshark dissects SCTP and DCEP.
 */
static int looks_like_sctp(const uint8_t *p, size_t len)
{
	struct cc_sctp_iter it;
	struct cc_sctp_chunk ch;
	int n = 0, r;

	if (len < CC_SCTP_HDR_LEN + 4 || cc_sctp_iter_init(&it, p, len) < 0)
		return 0;
	while ((r = cc_sctp_next(&it, &ch)) > 0) {
		/* RFC 9260 section 3.2: types above 14 we know are I-DATA, RE-CONFIG, FORWARD-TSNs. */
		if (ch.type > 14 && ch.type != CC_SCTP_I_DATA && ch.type != CC_SCTP_RE_CONFIG &&
		    ch.type != CC_SCTP_FORWARD_TSN && ch.type != CC_SCTP_I_FORWARD_TSN && ch.type != 0x80 &&
		    ch.type != 0xc1)
			return 0;
		n++;
	}
	return r == 0 && n > 0;
}

static void map_v4(struct cc_addr *a)
{
	uint8_t v4[4];

	memcpy(v4, a->ip, 4);
	memset(a->ip, 0, 10);
	a->ip[10] = a->ip[11] = 0xff;
	memcpy(a->ip + 12, v4, 4);
	a->family = AF_INET6;
}

void cc_plain_frame(const struct cc_plainflow *pf, struct cc_frame *f, int outgoing, uint8_t proto, const char *note)
{
	memset(f, 0, sizeof(*f));
	f->proto = proto;
	f->iface = CC_IF_PLAINTEXT;
	f->outgoing = (uint8_t)outgoing;
	f->pid = cc_pid;
	f->ttl = 64;
	f->note = note;
	f->src = outgoing ? pf->local : pf->peer;
	f->dst = outgoing ? pf->peer : pf->local;
	if (!pf->proto) {
		/* Flow unknown: unspecified addresses, visibly marked by the note, never a guess. */
		memset(&f->src, 0, sizeof(f->src));
		memset(&f->dst, 0, sizeof(f->dst));
		f->src.family = f->dst.family = AF_INET;
	} else if ((proto == IPPROTO_TCP || pf->mapped) && f->src.family == AF_INET && cc_cfg.plain_mapped) {
		/*
		 * Wireshark 4.0 keys conversations on addresses and ports only, so a plaintext stream
		 * on the wire's 5-tuple would be merged with it (TCP), or dissected as what the wire
		 * conversation was found to be (DTLS-SRTP makes it SRTP).  The same IPv4 addresses
		 * written IPv4-mapped (::ffff:a.b.c.d, RFC 4291 section 2.5.5.2) are a different key:
		 * both copies dissect on their own.
		 */
		map_v4(&f->src);
		map_v4(&f->dst);
	}
	/* CLEARCAP_PLAIN_MAPPED=0 (clearcap --plain-ipv4): the real IPv4 addresses, for filters on
	 * ip.addr; the two copies then share a conversation in Wireshark (README). */
}

/* The plaintext stream of a TLS connection has its own sequence space, apart from the wire's. */
static uint32_t plain_isn(const struct cc_addr *src, const struct cc_addr *dst, unsigned gen)
{
	return cc_tcp_isn(src, dst, gen) ^ 0x5ca1ab1e;
}

/* The plaintext stream's handshake, opened by whichever end opened the TCP connection. */
static void plain_tcp_open(struct cc_plainflow *pf, uint64_t ts, const char *note)
{
	struct cc_frame f;
	uint32_t l = plain_isn(&pf->local, &pf->peer, pf->isn_gen), p = plain_isn(&pf->peer, &pf->local, pf->isn_gen);
	int act = !pf->passive;                 /* 1: the SYN is ours (outgoing) */
	uint32_t a = act ? l : p, b = act ? p : l;

	cc_plain_frame(pf, &f, act, IPPROTO_TCP, note);
	f.tcp_flags = CC_TCP_SYN;
	f.seq = a;
	cc_emit(&f, ts, NULL, 0, 0, 0, 0);
	cc_plain_frame(pf, &f, !act, IPPROTO_TCP, note);
	f.tcp_flags = CC_TCP_SYN | CC_TCP_ACK;
	f.seq = b;
	f.ack = a + 1;
	cc_emit(&f, ts, NULL, 0, 0, 0, 0);
	cc_plain_frame(pf, &f, act, IPPROTO_TCP, note);
	f.tcp_flags = CC_TCP_ACK;
	f.seq = a + 1;
	f.ack = b + 1;
	cc_emit(&f, ts, NULL, 0, 0, 0, 0);
	pf->snd_seq = l + 1;
	pf->rcv_seq = p + 1;
	pf->tcp_open = 1;
}

void cc_cap_plain(struct cc_plainflow *pf, int outgoing, const void *buf, size_t len, const char *note,
		  uint64_t ts)
{
	struct cc_frame f;
	struct iovec iov = { (void *)buf, len };

	if (!ts)
		ts = cc_now();

	if (pf->proto == IPPROTO_TCP) {
		if (!pf->tcp_open)
			plain_tcp_open(pf, ts, note);
		cc_plain_frame(pf, &f, outgoing, IPPROTO_TCP, note);
		f.tcp_flags = CC_TCP_PSH | CC_TCP_ACK;
		uint32_t *seq = outgoing ? &pf->snd_seq : &pf->rcv_seq;
		f.ack = outgoing ? pf->rcv_seq : pf->snd_seq;
		for (size_t off = 0; off < len; off += 65000) {
			size_t n = len - off < 65000 ? len - off : 65000;
			f.seq = *seq;
			*seq += (uint32_t)n;
			cc_emit(&f, ts, &iov, 1, off, n, n);
		}
		return;
	}
	int sctp = !pf->rtp && looks_like_sctp(buf, len);
	char note_ports[96];
	if (sctp && pf->proto) {
		/* SCTP carries its own ports: keep the DTLS flow's UDP ports in the comment. */
		snprintf(note_ports, sizeof(note_ports), "%s, over udp %u > %u", note,
			 outgoing ? pf->local.port : pf->peer.port, outgoing ? pf->peer.port : pf->local.port);
		note = note_ports;
	}
	cc_plain_frame(pf, &f, outgoing, sctp ? IPPROTO_SCTP : IPPROTO_UDP, note);
	cc_emit(&f, ts, &iov, 1, 0, len, len);
}

void cc_plain_fin(struct cc_plainflow *pf, int outgoing, const char *note)
{
	struct cc_frame f;
	uint8_t *done = outgoing ? &pf->fin_out : &pf->fin_in;

	if (pf->proto != IPPROTO_TCP || !pf->tcp_open || *done)
		return;
	*done = 1;
	cc_plain_frame(pf, &f, outgoing, IPPROTO_TCP, note);
	f.tcp_flags = CC_TCP_FIN | CC_TCP_ACK;
	f.seq = outgoing ? pf->snd_seq++ : pf->rcv_seq++;
	f.ack = outgoing ? pf->rcv_seq : pf->snd_seq;
	cc_emit(&f, cc_now(), NULL, 0, 0, 0, 0);
}
