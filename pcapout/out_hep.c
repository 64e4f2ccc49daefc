/*
 * The HEP output: every batch the capture file gets is read back record by record, and the SIP,
 * RTCP (and, when asked, RTP and other UDP) it holds goes to a Homer collector as HEPv3
 * (hep.c) over UDP or TCP.  Secrets never leave: a Decryption Secrets Block is not a packet and
 * is skipped with every other non-packet block.
 *
 * It must never hold the writer back, so nothing here waits: a non-blocking UDP socket, or a
 * non-blocking TCP connection behind a bounded queue.  What cannot be sent at once (the socket
 * full, the collector down, the queue full, the connection lost with packets still queued) is
 * counted as dropped in the shared counters; a lost TCP connection is retried once a second
 * from the writer's idle tick.
 *
 * SIP on a TCP stream (and the plaintext of SIP over TLS, which the capture writes as a
 * synthesized TCP stream) is cut into messages by Content-Length (RFC 3261 section 18.3), each
 * its own HEP packet, as a SIP proxy would see it.  The reassembly is bounded: a few flows, a
 * few kilobytes each; a flow that overflows or stops looking like SIP is forgotten.
 *
 * Sockets are made with syscall(2): the shim interposes socket, connect, send and close, and our
 * own traffic must neither enter our hooks nor be captured.
 */
#include "pcapout/hep.h"
#include "pcapout/lock.h"
#include "pcapout/output.h"
#include "pcapout/writer_int.h"
#include "pcapout/single.h"
#include "decoders/cursor.h"
#include "decoders/rtcp.h"
#include "decoders/sipframe.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define QUEUE_MAX (256u << 10)          /* TCP: bytes waiting for the collector */
#define FLOWS 16                        /* TCP streams followed for SIP at once */
#define FLOW_BUF (32u << 10)            /* the longest SIP message followed on a stream */
#define RETRY_NS 1000000000ull          /* TCP: reconnect at most this often */
#define MEDIA_MAX 64                    /* media addresses remembered from SDP, for RTCP's Call-ID */
#define CID_MAX 128
#define DTLS_FLOWS 1024                 /* UDP flows DTLS was seen on (their RTP is SRTP), by hash */

/*
 * A media address an SDP body named, and the Call-ID of its SIP message.  Homer files RTCP
 * reports under their call by the correlation id (Kamailio's sipcapture refuses a report without
 * one), and the only cheap link from an RTCP packet to its call is its address: the RTCP port
 * next to the m= line's RTP port (RFC 3550 section 11), or the RTP port itself (RFC 5761).
 */
struct media {
	uint16_t family, port;
	uint8_t ip[16];
	uint8_t srtp;                   /* the m= line's transport is SRTP (RTP/SAVP...) */
	uint8_t cid_len;
	char cid[CID_MAX];
};

struct flow {
	int used;
	uint8_t iface, outgoing;
	struct cc_addr src, dst;
	uint32_t next_seq;
	uint64_t last;                  /* for replacing the least recently used */
	size_t len;
	size_t skip;                    /* bytes still to come of a message too long to follow */
	uint8_t buf[FLOW_BUF];
};

/* A UDP flow by its two ends, in either order. */
struct dtls_flow {
	struct cc_addr a, b;
};

static struct {
	int fd;
	pid_t pid;                      /* the process the socket was made in */
	uint64_t next_try;
	uint64_t refused_until;         /* UDP: the collector refused; not sent until then */
	int warned;
	size_t qlen, qsent;
	uint64_t tick;
	uint8_t q[QUEUE_MAX];
	uint8_t pkt[CC_HEP_MAX];
	char json[4096];
	struct flow flows[FLOWS];
	struct media media[MEDIA_MAX];
	unsigned media_next;
	struct dtls_flow dtls[DTLS_FLOWS];
} H = { .fd = -1 };

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void count(uint64_t sent, uint64_t dropped)
{
	if (sent)
		__atomic_fetch_add(&W.hep_sent, sent, __ATOMIC_RELAXED);
	if (dropped)
		__atomic_fetch_add(&W.hep_dropped, dropped, __ATOMIC_RELAXED);
	if (W.shared) {
		if (sent)
			cc_wc_count(&W.shared->hep_sent, sent);
		if (dropped)
			cc_wc_count(&W.shared->hep_dropped, dropped);
	}
}

static void close_socket(void)
{
	int fd = __atomic_exchange_n(&H.fd, -1, __ATOMIC_ACQ_REL);

	if (fd >= 0)
		syscall(SYS_close, fd);
}

/* The whole HEP packets in the TCP queue from offset `from`; the offset after them in *end. */
static uint64_t queued_packets(size_t from, size_t upto, size_t *end)
{
	uint64_t n = 0;

	while (from + 6 <= H.qlen) {
		size_t len = (size_t)H.q[from + 4] << 8 | H.q[from + 5];
		if (len < 6 || from + len > upto)
			break;
		from += len;
		n++;
	}
	*end = from;
	return n;
}

/* The TCP queue goes with its connection: what left is counted sent, the rest dropped. */
static void queue_lost(void)
{
	size_t end;
	uint64_t done = queued_packets(0, H.qsent, &end);
	uint64_t all = queued_packets(0, H.qlen, &end);

	count(done, all - done);
	H.qlen = H.qsent = 0;
}

/* The TCP connection is gone: what it still held is lost, and a new one is tried later. */
static void tcp_lost(void)
{
	queue_lost();
	close_socket();
	H.next_try = mono_ns() + RETRY_NS;
}

/* Opens the socket and starts connecting; 0, or -1 (warned about once). */
static int connect_socket(void)
{
	const struct cc_hep_cfg *c = &W.hep;
	struct sockaddr_storage ss;
	socklen_t sl;
	long fd;

	memset(&ss, 0, sizeof(ss));
	if (c->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(c->port);
		memcpy(&s6->sin6_addr, c->addr, 16);
		sl = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(c->port);
		memcpy(&s4->sin_addr, c->addr, 4);
		sl = sizeof(*s4);
	}
	fd = syscall(SYS_socket, c->family, (c->tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	/* Out of the range programs dup2 over and loop-close, like the capture file. */
	int high = cc_dup_high((int)fd);
	if (high >= 0) {
		syscall(SYS_close, fd);
		fd = high;
	}
	if (syscall(SYS_connect, fd, &ss, sl) < 0 && errno != EINPROGRESS) {
		int err = errno;
		syscall(SYS_close, fd);
		errno = err;
		goto fail;
	}
	H.qlen = H.qsent = 0;
	H.pid = getpid();
	__atomic_store_n(&H.fd, (int)fd, __ATOMIC_RELEASE);
	return 0;
fail:
	if (!H.warned++)
		cc_warn("CLEARCAP_HEP: cannot reach the collector: %s; HEP packets are counted as dropped until it can",
			cc_strerror(errno));
	H.next_try = mono_ns() + RETRY_NS;
	return -1;
}

/* TCP: sends what the queue holds, as far as the socket takes it now. */
static void tcp_flush(void)
{
	while (H.fd >= 0 && H.qsent < H.qlen) {
		long w = syscall(SYS_sendto, H.fd, H.q + H.qsent, H.qlen - H.qsent, MSG_DONTWAIT | MSG_NOSIGNAL, NULL, 0);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				tcp_lost();
			break;
		}
		H.qsent += (size_t)w;
	}
	if (H.qsent == 0)
		return;
	size_t end;
	uint64_t done = queued_packets(0, H.qsent, &end);
	count(done, 0);
	memmove(H.q, H.q + end, H.qlen - end);
	H.qlen -= end;
	H.qsent -= end;
}

static void send_packet(const uint8_t *p, size_t n)
{
	if (H.fd < 0) {
		count(0, 1);
		return;
	}
	if (W.hep.tcp) {
		if (H.qlen + n > QUEUE_MAX) {
			count(0, 1);
			return;
		}
		memcpy(H.q + H.qlen, p, n);
		H.qlen += n;
		return;
	}
	/*
	 * A refused earlier datagram (ICMP port unreachable) is reported here, and this one is not
	 * sent either.  Nobody listens: for a second, datagrams are counted as dropped unsent rather
	 * than every other one going out to be refused.
	 */
	uint64_t now = H.refused_until ? mono_ns() : 0;
	if (now && now < H.refused_until) {
		count(0, 1);
		return;
	}
	H.refused_until = 0;
	long w = syscall(SYS_sendto, H.fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL, NULL, 0);
	if (w < 0 && errno == ECONNREFUSED)
		H.refused_until = mono_ns() + RETRY_NS;
	count(w == (long)n, w != (long)n);
}

static void emit(const struct cc_hep_pkt *k, uint8_t type, const uint8_t *payload, size_t len,
		 const uint8_t *cid, size_t cid_len)
{
	struct cc_hep_msg m = { k, type, payload, len, cid, cid_len };
	size_t n = cc_hep_encode(H.pkt, sizeof(H.pkt), &W.hep, &m);

	if (n)
		send_packet(H.pkt, n);
	else
		count(0, 1);            /* larger than a HEP packet can be */
}

/* An address as family and the bytes to compare: an IPv4-mapped IPv6 address as IPv4. */
static uint16_t norm(uint16_t family, const uint8_t *ip, const uint8_t **out)
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (family == AF_INET6 && memcmp(ip, prefix, 12) == 0) {
		*out = ip + 12;
		return AF_INET;
	}
	*out = ip;
	return family;
}

static struct media *media_find(uint16_t family, const uint8_t *ip, uint16_t port)
{
	const uint8_t *a;
	uint16_t fam = norm(family, ip, &a);
	size_t n = fam == AF_INET ? 4 : 16;

	for (int i = 0; i < MEDIA_MAX; i++) {
		struct media *m = &H.media[i];
		if (m->family == fam && m->port == port && memcmp(m->ip, a, n) == 0)
			return m;
	}
	return NULL;
}

static void media_learn(const struct cc_sip_media *sm, uint16_t port, struct cc_bytes cid)
{
	struct media *m = media_find(sm->family, sm->ip, port);
	const uint8_t *a;

	if (!m)
		m = &H.media[H.media_next++ % MEDIA_MAX];
	m->family = norm(sm->family, sm->ip, &a);
	memset(m->ip, 0, sizeof(m->ip));
	memcpy(m->ip, a, m->family == AF_INET ? 4 : 16);
	m->port = port;
	m->srtp = sm->srtp;
	memcpy(m->cid, cid.p, cid.len);
	m->cid_len = (uint8_t)cid.len;
}

static void emit_sip(const struct cc_hep_pkt *k, const uint8_t *p, size_t len)
{
	struct cc_bytes cid = { NULL, 0 };
	struct cc_sip_media sm[8];

	cc_sip_call_id(p, len, &cid);
	emit(k, CC_HEP_PT_SIP, p, len, cid.p, cid.len);
	if (!cid.len || cid.len >= CID_MAX || !(W.hep.classes & (CC_HEP_RTCP | CC_HEP_RTP)))
		return;
	int n = cc_sip_sdp_media(p, len, sm, 8);
	for (int i = 0; i < n; i++) {
		media_learn(&sm[i], sm[i].port, cid);
		if (sm[i].port < 65535)
			media_learn(&sm[i], (uint16_t)(sm[i].port + 1), cid);
	}
}

static int same_flow(const struct flow *f, const struct cc_hep_pkt *k)
{
	return f->used && f->iface == k->iface && f->outgoing == k->outgoing && f->src.port == k->src.port &&
	       f->dst.port == k->dst.port && memcmp(f->src.ip, k->src.ip, 16) == 0 && memcmp(f->dst.ip, k->dst.ip, 16) == 0;
}

/* A new flow's slot: a free one, else the least recently used. */
static struct flow *new_flow(const struct cc_hep_pkt *k)
{
	struct flow *f = &H.flows[0];

	for (int i = 0; i < FLOWS; i++) {
		if (!H.flows[i].used) {
			f = &H.flows[i];
			break;
		}
		if (H.flows[i].last < f->last)
			f = &H.flows[i];
	}
	f->used = 1;
	f->iface = k->iface;
	f->outgoing = k->outgoing;
	f->src = k->src;
	f->dst = k->dst;
	f->len = f->skip = 0;
	return f;
}

static struct flow *tcp_data(struct flow *f, const struct cc_hep_pkt *k);

/* One TCP segment: SIP messages completed by it go out, each as one HEP packet. */
static void tcp_segment(const struct cc_hep_pkt *k)
{
	struct flow *f = NULL;

	for (int i = 0; i < FLOWS && !f; i++)
		if (same_flow(&H.flows[i], k))
			f = &H.flows[i];
	if (k->len)
		f = tcp_data(f, k);
	/* The stream's end (its data, if the segment carried any, went first). */
	if (f && (k->tcp_flags & (CC_TCP_FIN | CC_TCP_RST)))
		f->used = 0;
}

/*
 * A message longer than FLOW_BUF at the start of f's buffer (full): not sent, counted as dropped,
 * and the rest of it skipped as it comes when its headers say how long it is.  0, or -1 when the
 * stream cannot be followed past it (its headers alone do not fit: the flow is forgotten).
 */
static int too_long(struct flow *f)
{
	long need = cc_sip_msg_need(f->buf, f->len);

	count(0, 1);
	if (need <= 0) {
		f->used = 0;
		return -1;
	}
	f->skip = (size_t)need - f->len;
	f->len = 0;
	return 0;
}

/* Sends every whole message at the start of f's buffer and keeps the rest; -1 when not SIP. */
static int whole_messages(struct flow *f, const struct cc_hep_pkt *k)
{
	size_t off = 0;

	for (;;) {
		/* Keep-alives between messages: CRLF pairs (RFC 5626 section 3.5.1). */
		while (off < f->len && (f->buf[off] == '\r' || f->buf[off] == '\n'))
			off++;
		long m = cc_sip_msg_len(f->buf + off, f->len - off);
		if (m == 0)
			break;
		if (m < 0) {
			f->used = 0;
			return -1;
		}
		emit_sip(k, f->buf + off, (size_t)m);
		off += (size_t)m;
	}
	memmove(f->buf, f->buf + off, f->len - off);
	f->len -= off;
	return 0;
}

/* Passes over what of p[0..*n) belongs to a message too long to follow (too_long). */
static void skip_rest(struct flow *f, const uint8_t **p, size_t *n)
{
	size_t s = f->skip < *n ? f->skip : *n;

	f->skip -= s;
	*p += s;
	*n -= s;
}

/*
 * A segment's payload appended to its flow (made when it starts a SIP message), a buffer's room
 * at a time: segments are cut where the program wrote or read, so one may hold many messages, or
 * end the buffer's room halfway through one.  Returns the flow, or NULL.
 */
static struct flow *tcp_data(struct flow *f, const struct cc_hep_pkt *k)
{
	const uint8_t *p = k->payload;
	size_t n = k->len;

	/* A gap (a segment the capture lost) ends what was buffered: start again at a message. */
	if (f && f->next_seq != k->seq)
		f->len = f->skip = 0;
	if (f)
		skip_rest(f, &p, &n);
	while (n) {
		if (!f || !f->len) {
			size_t skip = 0;
			while (skip < n && (p[skip] == '\r' || p[skip] == '\n'))
				skip++;
			if (skip == n)
				break;
			/*
			 * A stream not followed yet starts where a SIP message does, or may (its first
			 * segment too short to say: a program that wrote 'OPT' first); one followed goes on
			 * into the buffer, where whole_messages() judges it once enough of it is there (a
			 * cut may leave a message's first bytes alone at a segment's end).
			 */
			if (!f) {
				if (!cc_sip_may_start(p + skip, n - skip))
					return NULL;
				f = new_flow(k);
			}
			p += skip;
			n -= skip;
		}
		size_t c = FLOW_BUF - f->len < n ? FLOW_BUF - f->len : n;
		memcpy(f->buf + f->len, p, c);
		f->len += c;
		p += c;
		n -= c;
		if (whole_messages(f, k) < 0)
			return NULL;
		if (f->len == FLOW_BUF) {
			if (too_long(f) < 0)
				return NULL;
			skip_rest(f, &p, &n);
		}
	}
	if (f) {
		f->next_seq = k->seq + (uint32_t)k->len;
		f->last = ++H.tick;
	}
	return f;
}

/* Where a UDP flow's entry is: a hash of its two ends, the same in either order. */
static struct dtls_flow *dtls_slot(const struct cc_hep_pkt *k)
{
	uint64_t h[2] = { 0x9e3779b97f4a7c15ull, 0x9e3779b97f4a7c15ull };
	const struct cc_addr *e[2] = { &k->src, &k->dst };

	for (int i = 0; i < 2; i++) {
		const uint8_t *b = (const uint8_t *)e[i];
		for (size_t j = 0; j < sizeof(*e[i]); j++)
			h[i] = (h[i] ^ b[j]) * 0x100000001b3ull;
	}
	return &H.dtls[(h[0] ^ h[1]) & (DTLS_FLOWS - 1)];
}

/* Whether DTLS was seen on this datagram's UDP flow (RFC 7983: the first byte says which protocol). */
static int dtls_flow_find(const struct cc_hep_pkt *k)
{
	const struct dtls_flow *d = dtls_slot(k);

	return (!memcmp(&d->a, &k->src, sizeof(d->a)) && !memcmp(&d->b, &k->dst, sizeof(d->b))) ||
	       (!memcmp(&d->a, &k->dst, sizeof(d->a)) && !memcmp(&d->b, &k->src, sizeof(d->b)));
}

/* (A flow whose slot another takes is forgotten: 1,024 slots, flows at once are fewer.) */
static void dtls_flow_learn(const struct cc_hep_pkt *k)
{
	struct dtls_flow *d = dtls_slot(k);

	d->a = k->src;
	d->b = k->dst;
}

/*
 * Whether an RTP-looking datagram copied from the wire (or a TURN relay) is SRTP, which is not
 * media anyone can read: libsrtp is in use in this process, or DTLS was seen on its flow (DTLS-
 * SRTP, RFC 5764, whatever library), or an SDP body gave its port an SRTP transport (SDES).
 */
static int srtp_on_wire(const struct cc_hep_pkt *k)
{
	if (__atomic_load_n(&W.srtp_used, __ATOMIC_ACQUIRE) || dtls_flow_find(k))
		return 1;
	const struct media *m = media_find(k->dst.family, k->dst.ip, k->dst.port);
	if (!m)
		m = media_find(k->src.family, k->src.ip, k->src.port);
	return m && m->srtp;
}

static void udp_datagram(const struct cc_hep_pkt *k, unsigned classes)
{
	unsigned cls = cc_hep_classify_udp(k->payload, k->len, k->src.port, k->dst.port);
	/* SRTCP on the wire fails validation (its trailer): only readable reports go as RTCP. */
	int readable = cls == CC_HEP_RTCP && cc_rtcp_validate(k->payload, k->len, 1) == 0;

	/*
	 * A plaintext datagram is what libsrtp unprotected: RTP or RTCP.  One that is no readable
	 * RTCP is RTP with the marker bit and payload type 64-95 (second byte 192-223, allowed where
	 * RTP and RTCP do not share a port; the class its bytes suggest is RTCP's).
	 */
	if (cls == CC_HEP_RTCP && !readable && k->iface == CC_IF_PLAINTEXT)
		cls = CC_HEP_RTP;
	if (k->iface != CC_IF_PLAINTEXT && k->len && k->payload[0] >= 20 && k->payload[0] <= 63)
		dtls_flow_learn(k);
	/* SRTP is never sent as media: its plaintext copy goes, when there is one. */
	if (cls == CC_HEP_RTP && k->iface != CC_IF_PLAINTEXT && srtp_on_wire(k))
		return;
	if (!(cls & classes))
		return;
	switch (cls) {
	case CC_HEP_SIP:
		emit_sip(k, k->payload, k->len);
		break;
	case CC_HEP_RTCP: {
		if (!readable)
			break;
		size_t n = cc_hep_rtcp_json(k->payload, k->len, H.json, sizeof(H.json));
		struct media *m = media_find(k->dst.family, k->dst.ip, k->dst.port);
		if (!m)
			m = media_find(k->src.family, k->src.ip, k->src.port);
		/* No SIP named the stream (WebRTC, say): an id from the flow, the same both ways. */
		char flow_cid[CID_MAX];
		size_t fl = m ? 0 : cc_hep_flow_cid(&k->src, &k->dst, flow_cid, sizeof(flow_cid));
		if (n)
			emit(k, CC_HEP_PT_RTCP_JSON, (const uint8_t *)H.json, n,
			     m ? (const uint8_t *)m->cid : fl ? (const uint8_t *)flow_cid : NULL, m ? m->cid_len : fl);
		break;
	}
	case CC_HEP_RTP:
		emit(k, CC_HEP_PT_RTP, k->payload, k->len, NULL, 0);
		break;
	default:
		emit(k, CC_HEP_PT_OTHER, k->payload, k->len, NULL, 0);
		break;
	}
}

static void one_packet(const struct cc_hep_pkt *k)
{
	unsigned classes = W.hep.classes;

	if (k->iface < 1 || k->iface > 3 || !(classes & (CC_HEP_WIRE << (k->iface - 1))))
		return;
	if (k->proto == IPPROTO_UDP)
		udp_datagram(k, classes);
	else if (k->proto == IPPROTO_TCP && (classes & CC_HEP_SIP))
		tcp_segment(k);
}

static int hep_wanted(void)
{
	return W.hep.on;
}

/*
 * At the process's first frame.  A forked child has its parent's socket: a datagram socket
 * serves both, but a stream would interleave two writers' packets, so the child connects its
 * own (and forgets the parent's half-read streams).
 */
static int hep_open(void)
{
	if (H.fd >= 0 && H.pid == getpid())
		return 0;
	memset(H.flows, 0, sizeof(H.flows));
	H.qlen = H.qsent = 0;
	if (H.fd >= 0) {
		if (!W.hep.tcp) {
			H.pid = getpid();
			return 0;
		}
		close_socket();
	}
	return connect_socket();
}

static int hep_write(struct iovec *iov, int n, int packets, size_t bytes)
{
	(void)packets;
	(void)bytes;
	/* Records never straddle two iovecs: each holds whole slots of the ring or the stage. */
	for (int i = 0; i < n; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t left = iov[i].iov_len;
		while (left) {
			struct cc_hep_pkt k;
			size_t used;
			int rc = cc_hep_parse_record(W.fmt, p, left, &used, &k);
			if (rc < 0 || used == 0 || used > left)
				break;
			if (rc > 0)
				one_packet(&k);
			p += used;
			left -= used;
		}
	}
	if (W.hep.tcp)
		tcp_flush();
	return 0;
}

/*
 * TCP: a collector that went away (closed, reset, or never accepted the connection) is noticed
 * on the idle tick, not at the next packet, so that the connection is back by the time there is
 * something to send.  A collector sends nothing: what it does send is read and ignored.
 */
static void tcp_check(void)
{
	struct pollfd pfd = { H.fd, POLLIN, 0 };
	struct timespec zero = { 0, 0 };
	uint8_t sink[512];

	if (syscall(SYS_ppoll, &pfd, 1, &zero, NULL, (size_t)8) <= 0)
		return;
	if (pfd.revents & (POLLERR | POLLHUP)) {
		tcp_lost();
		return;
	}
	if (pfd.revents & POLLIN) {
		long r = syscall(SYS_recvfrom, H.fd, sink, sizeof(sink), MSG_DONTWAIT, NULL, NULL);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			tcp_lost();
	}
}

static void hep_poll(size_t written)
{
	(void)written;
	if (H.fd < 0 && mono_ns() >= H.next_try)
		connect_socket();
	if (W.hep.tcp && H.fd >= 0)
		tcp_check();
	if (W.hep.tcp)
		tcp_flush();
}

/*
 * At exit a TCP queue may still hold packets (the connection not up yet, or slow): they get a
 * short while to leave, then whatever is left is counted as dropped, never silently lost.
 */
#define EXIT_WAIT_NS 200000000ull

static void hep_exit(void)
{
	uint64_t end = mono_ns() + EXIT_WAIT_NS;

	if (!W.hep.tcp)
		return;
	while (H.fd >= 0 && H.qlen) {
		uint64_t now = mono_ns();
		if (now >= end)
			break;
		struct pollfd pfd = { H.fd, POLLOUT, 0 };
		struct timespec ts = { 0, (long)(end - now) };
		if (syscall(SYS_ppoll, &pfd, 1, &ts, NULL, (size_t)8) <= 0)
			break;
		tcp_flush();
	}
	size_t end_off;
	count(0, queued_packets(0, H.qlen, &end_off));
	H.qlen = H.qsent = 0;
}

static int hep_fd(void)
{
	return __atomic_load_n(&H.fd, __ATOMIC_ACQUIRE);
}

/* Under drain_lock, which every send holds: nothing is on its way to the old number. */
static int hep_move_fd(void)
{
	int rc = 0;

	cc_lock(&W.drain_lock);
	int fd = __atomic_load_n(&H.fd, __ATOMIC_ACQUIRE);
	if (fd >= 0) {
		long nfd = syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, fd + 1);
		/* At the top of the range (a program dup2'ing over every number, upwards): back down. */
		if (nfd < 0)
			nfd = cc_dup_high(fd);
		if (nfd < 0 || nfd == fd) {
			/*
			 * Not one number left: it becomes the program's, and nothing of ours may go
			 * there any more.  A TCP queue's packets are lost with the connection; a new
			 * socket is tried later, when a number may be free again.
			 */
			static int told;
			__atomic_store_n(&H.fd, -1, __ATOMIC_RELEASE);
			if (W.hep.tcp)
				queue_lost();
			H.next_try = mono_ns() + RETRY_NS;
			if (!__atomic_exchange_n(&told, 1, __ATOMIC_RELAXED))
				cc_warn("CLEARCAP_HEP: no descriptor left to keep the collector's socket from the program's "
					"dup2; HEP packets are counted as dropped until one is free");
			rc = -1;
		} else {
			__atomic_store_n(&H.fd, (int)nfd, __ATOMIC_RELEASE);
			syscall(SYS_close, fd);
		}
	}
	cc_unlock(&W.drain_lock);
	return rc;
}

const struct cc_output cc_output_hep = {
	.name = "hep",
	.wanted = hep_wanted,
	.open = hep_open,
	.write = hep_write,
	.poll = hep_poll,
	.fd = hep_fd,
	.move_fd = hep_move_fd,
	.exit = hep_exit,
};
