/*
 * From socket calls to frames: UDP datagrams (direct and TURN-relayed) and the synthesized TCP
 * stream of the wire copy.  What is known of each socket is sockinfo.c's, routes route.c's,
 * control messages cmsg.c's, plaintext plain.c's.
 *
 * The cost model: everything that needs a system call (what kind of socket an fd is, its bound
 * address, the route's source address towards a peer, the MSS) is asked once and cached in the fd
 * table or the route cache.  A packet in steady state costs a table look-up, a clock read from the
 * vDSO and a copy into the record ring.
 */
#include "shim/capture_int.h"
#include "shim/real.h"
#include "shim/dtlsmatch.h"
#include "shim/select.h"
#include "shim/srtpmatch.h"
#include "shim/turn.h"
#include "pcapout/tcpstate.h"
#include "pcapout/writer.h"
#include "decoders/dtls.h"
#include "decoders/sctp.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


int cc_on;
int cc_tls_active;
__thread struct cc_nest cc_nest __attribute__((tls_model("initial-exec")));
uint32_t cc_pid;

/* ---- Nesting: the wire packet moved inside an SSL call ---- */

static void nest_note(uint8_t proto, const struct cc_addr *local, const struct cc_addr *peer, int passive,
		      uint8_t isn_gen)
{
	cc_nest.seen = 1;
	cc_nest.proto = proto;
	cc_nest.passive = (uint8_t)passive;
	cc_nest.isn_gen = isn_gen;
	cc_nest.local = *local;
	cc_nest.peer = *peer;
	cc_nest.local.family = cc_nest.peer.family = peer->family;
}

/* ---- UDP ---- */

#define TURN_COPY 2048          /* a TURN datagram split over iovecs is parsed from a copy this large */

/* The flags other threads set once (SSL_new, srtp_create): relaxed loads, not plain reads. */
static inline int dtls_matching(void)
{
	return __atomic_load_n(&cc_dm_active, __ATOMIC_RELAXED);
}

static inline int matching(void)
{
	return __atomic_load_n(&cc_sm_watch, __ATOMIC_RELAXED) | dtls_matching();
}

/*
 * Never silent.  The first DTLS or TLS handshake packet a process moves while no TLS library
 * clearcap hooks has made a session in it (cc_tls_active, set by the TLS adapters) says, in
 * its comment, that no plaintext will follow and the likely why.  Once per process and kind;
 * `clearcap report` and the exit statistics show the note for a flow that indeed has no
 * plaintext, and ignore it when a library turned up later after all.
 */
int cc_told_dtls;
static int told_tls;

static const char NOTE_DTLS[] = "encrypted: DTLS, and no TLS library clearcap hooks has a session in this "
				"process: no plaintext (DTLS from wolfSSL or another TLS library clearcap does not hook, or one built "
				"into the program?)";
static const char NOTE_TLS[] = "encrypted: TLS, and no TLS library clearcap hooks has a session in this "
			       "process: no plaintext (OpenSSL built into the program, as node has it, or "
			       "another TLS library?)";

/*
 * A DTLS or TLS handshake's first record (decoders/dtls.h), in the first buffer.  Looking at the
 * first two bytes alone (22, then 0xfe or 3) named one datagram in 65,536 of any other protocol
 * DTLS: a UDP flood whose counter came round to 0xfe16 was marked "encrypted: DTLS".
 */
static int handshake_start(const struct iovec *iov, size_t caplen, size_t skip, int dtls)
{
	size_t n = iov[0].iov_len < caplen ? iov[0].iov_len : caplen;
	const uint8_t *p = iov[0].iov_base;

	if (n <= skip || p[skip] != CC_TLS_CT_HANDSHAKE)
		return 0;
	return cc_tls_handshake_start(p + skip, n - skip, dtls);
}

static inline const char *silent_note(const struct iovec *iov, size_t caplen, size_t skip, int dtls)
{
	int *told = dtls ? &cc_told_dtls : &told_tls;

	if (__builtin_expect(__atomic_load_n(told, __ATOMIC_RELAXED) | __atomic_load_n(&cc_tls_active, __ATOMIC_RELAXED), 1) ||
	    !caplen)
		return NULL;
	if (!handshake_start(iov, caplen, skip, dtls) || __atomic_exchange_n(told, 1, __ATOMIC_RELAXED))
		return NULL;
	return dtls ? NOTE_DTLS : NOTE_TLS;
}

__thread struct cc_udp_last cc_udp_last[2] __attribute__((tls_model("initial-exec")));

int cc_udp_last_fill(struct cc_udp_last *c, const struct cc_fd *e, int outgoing, const struct sockaddr *peer_sa,
		     socklen_t plen, const struct cc_meta *m)
{
	struct cc_addr peer, local;
	uint8_t tos, ttl;
	int saved = errno;              /* cc_udp_fast's callers leave errno to it (a route lookup) */

	if (peer_sa) {
		if (cc_peer_addr(&peer, peer_sa, plen) < 0)
			return -1;
	} else {
		peer = e->peer;
	}
	cc_udp_local(e, m, &peer, &local);
	cc_udp_tos_ttl(e, m, &peer, outgoing, &tos, &ttl);
	c->src = outgoing ? local : peer;
	c->dst = outgoing ? peer : local;
	/* (The flags are read after cc_fd_gen: setting either moves that count, and this is redone.) */
	c->bytes = cc_frame_bytes(IPPROTO_UDP, CC_IF_WIRE, outgoing, tos, ttl, matching() ? CC_DEFER_WIRE : 0);
	errno = saved;
	return 0;
}

void cc_hot_stale(void)
{
	cc_fd_changed();
}

__thread struct cc_hot cc_hot __attribute__((tls_model("initial-exec"))) = { .no_fd = -1 };
__thread struct cc_hot cc_hot_rx __attribute__((tls_model("initial-exec"))) = { .no_fd = -1 };
__thread int cc_hot_fd __attribute__((tls_model("initial-exec"))) = CC_HOT_NONE;
__thread int cc_hot_rfd __attribute__((tls_model("initial-exec"))) = CC_HOT_NONE;

/* The lane stays empty for fd, this peer and this count: not asked again until one moves. */
static void hot_refuse(struct cc_hot *h, int *lane, int fd, const struct cc_udp_last *c, uint64_t sa)
{
	*lane = CC_HOT_NONE;
	h->no_fd = fd;
	h->no_gen = c->gen;
	h->no_sa = sa;
}

void cc_hot_fill(int outgoing, int fd, const struct cc_udp_last *c, uint64_t sa)
{
	struct cc_hot *h = outgoing ? &cc_hot : &cc_hot_rx;
	int *lane = outgoing ? &cc_hot_fd : &cc_hot_rfd;

	/* A signal handler's datagram while a receive of the lane waits: that receive reads h after. */
	if (h->busy)
		return;

	/*
	 * Only what the usual path would queue or decline with nothing else to do: a kept flow, and
	 * under a class selection no matching that needs the declined datagrams (cc_udp_fast hands
	 * those to the writer hidden).  Queued only while the writer runs (no impairment: the
	 * caller's, whose hook comes before the lane); a class selection's declines need no writer,
	 * which a process whose datagrams are all declined never starts.  (c->gen was read before
	 * anything this reads: a change since moves cc_fd_gen, cc_hot_stale() for the writer's.)
	 */
	unsigned sel = __atomic_load_n(&cc_sel, __ATOMIC_RELAXED);
	int open = cc_wq_gate_open();
	/* (Not a receiving lane on a socket with a peek offset: the lane adds MSG_TRUNC, kflags.) */
	if (!c->e || (sel != CC_SEL_ALL && matching()) || (!open && sel == CC_SEL_ALL) ||
	    (!outgoing && (fd_flags(c->e) & FDF_PEEK_OFF))) {
		hot_refuse(h, lane, fd, c, sa);
		return;
	}
	/* A filter (set before capture starts) that answers for the headers alone: kept or declined. */
	int v = open && cc_filter_active() ? cc_out_udp_verdict(&c->src, &c->dst, c->bytes, cc_pid) : 1;
	if (v < 0) {
		hot_refuse(h, lane, fd, c, sa);
		return;
	}
	/*
	 * By the first byte, what cc_udp_fast sends the general way: a TURN candidate (STUN is
	 * told by its cookie, there: here all of 0-3 go; ChannelData once allocated), a DTLS
	 * handshake, what dtlsmatch reads while sessions are matched.  Under a class selection, a
	 * byte whose datagrams may fall in a class taken and in one declined goes the general way
	 * too; one whose datagrams all fall in declined classes is declined, as cc_udp_fast would.
	 */
	int turn = __atomic_load_n(&cc_turn_allocated, __ATOMIC_RELAXED), dm = dtls_matching();
	int kept = !open ? CC_HOT_USUAL : v ? CC_HOT_QUEUE : CC_HOT_DECLINE;
	static const unsigned pt_class[3] = { CC_SEL_RTP, CC_SEL_RTCP, CC_SEL_OTHER };
	int service = cc_demux_service_port(c->src.port) || cc_demux_service_port(c->dst.port);
	for (int i = 0; i < 3; i++)
		h->by_pt[i] = (uint8_t)(cc_sel_takes(sel, CC_SEL_WIRE | pt_class[i]) ? kept : CC_HOT_DECLINE);
	for (unsigned b = 0; b < sizeof(h->act); b++) {
		/* STUN's first bytes (0-3): what else would become of them, for one without the cookie. */
		int stun = b <= 3;
		int usual = (cc_turn_candidate((uint8_t)b) && !stun && turn) || b == CC_TLS_CT_HANDSHAKE ||
			    (dm && cc_dm_byte((uint8_t)b));
		int act = usual ? CC_HOT_USUAL : kept;
		if (!usual && sel != CC_SEL_ALL) {
			unsigned can = cc_sel_udp_byte_classes((uint8_t)b, service);
			if (!cc_sel_takes(sel, CC_SEL_WIRE | can))
				act = CC_HOT_DECLINE;
			else if (can & ~sel & CC_SEL_CONTENT)
				/* RTP's and RTCP's first bytes: their classes by the second (cc_hot_act). */
				act = can == (CC_SEL_RTP | CC_SEL_RTCP | CC_SEL_OTHER) ? CC_HOT_BY_PT : CC_HOT_USUAL;
		}
		if (stun) {
			h->no_cookie[b] = (uint8_t)act;
			/* Queued or declined without the cookie, by the cookie; else the usual path's. */
			act = act == CC_HOT_QUEUE || act == CC_HOT_DECLINE ? CC_HOT_COOKIE : CC_HOT_USUAL;
		}
		h->act[b] = (uint8_t)act;
	}
	memset(&h->rec, 0, sizeof(h->rec));
	h->rec.f.src = c->src;
	h->rec.f.dst = c->dst;
	memcpy(&h->rec.f.proto, &c->bytes, 8);
	h->rec.f.pid = cc_pid;
	h->rec.flow = c->flow;
	h->sa = sa;
	h->gen = c->gen;
	*lane = fd;
}

/* The general path of cc_cap_udp_general and cc_cap_udp_note. */
static void cap_udp(int fd, struct cc_fd *e, int outgoing, const struct sockaddr *peer_sa, socklen_t plen,
		    const struct cc_meta *m, const struct iovec *iov, int iovcnt, size_t caplen, size_t origlen,
		    const char *note)
{
	struct cc_frame f;
	struct cc_addr peer, local;
	uint64_t ts = cc_now();
	unsigned gso;

	if (!(peer_sa && cc_addr_from_sa(&peer, peer_sa, plen) == 0)) {
		if (!(fd_flags(e) & FDF_PEER))
			return;
		peer = e->peer;
	}
	if (!(fd_flags(e) & FDF_LOCAL))
		cc_refresh_local(fd, e);        /* once: the socket was bound by its first send */
	cc_udp_local(e, m, &peer, &local);

	memset(&f, 0, sizeof(f));
	f.proto = IPPROTO_UDP;
	f.iface = CC_IF_WIRE;
	f.outgoing = (uint8_t)outgoing;
	f.pid = cc_pid;
	f.src = outgoing ? local : peer;
	f.dst = outgoing ? peer : local;
	cc_udp_tos_ttl(e, m, &peer, outgoing, &f.tos, &f.ttl);

	/* GSO and GRO move several datagrams in one call; each is its own packet on the wire. */
	gso = m && m->gso ? m->gso : outgoing ? e->gso_size : 0;

	/* Through a TURN relay: the inner datagram belongs to the relayed address and the peer. */
	struct cc_relay rl;
	uint8_t tbuf[TURN_COPY];
	int relayed = 0;
	if (caplen && caplen == origlen && !(gso && origlen > gso)) {
		const uint8_t *p = iov[0].iov_base;
		/* A datagram split over iovecs is parsed from a copy, made only if it may be TURN. */
		if (iov[0].iov_len < caplen) {
			p = NULL;
			if (caplen <= sizeof(tbuf) && cc_iov_copy(tbuf, iov, iovcnt, 0, 1) && cc_turn_candidate(tbuf[0])) {
				cc_iov_copy(tbuf, iov, iovcnt, 0, caplen);
				p = tbuf;
			}
		}
		if (p && cc_turn_candidate(p[0]))
			relayed = cc_turn_datagram(p, caplen, outgoing, &local, &peer, &rl);
	}
	if (!relayed) {
		if (__builtin_expect(cc_nest.ssl != NULL, 0))
			nest_note(IPPROTO_UDP, &local, &peer, 0, 0);
		if (__builtin_expect(dtls_matching(), 0))
			cc_dm_datagram(iov, iovcnt, caplen, outgoing, outgoing ? &f.src : &f.dst, outgoing ? &f.dst : &f.src,
				       ts);
		/*
		 * SRTP is matched on the writer's thread.  A DTLS-SRTP peer may send media before this
		 * side's handshake is done and its SRTP session made: with DTLS in use, from the first.
		 */
		if (__builtin_expect(matching(), 0))
			f.defer = CC_DEFER_WIRE;
		f.note = silent_note(iov, caplen, 0, 1);
	}
	if (__builtin_expect(note != NULL, 0))
		f.note = note;

	if (gso && caplen == origlen && origlen > gso) {
		for (size_t off = 0; off < origlen; off += gso) {
			size_t n = origlen - off < gso ? origlen - off : gso;
			cc_emit(&f, ts, iov, iovcnt, off, n, n);
		}
		return;
	}
	cc_emit(&f, ts, iov, iovcnt, 0, caplen, origlen);
	if (relayed)
		cc_cap_relay(outgoing, &rl, ts);
}

void cc_cap_udp_general(int fd, struct cc_fd *e, int outgoing, const struct sockaddr *peer_sa, socklen_t plen,
			const struct cc_meta *m, const struct iovec *iov, int iovcnt, size_t caplen, size_t origlen)
{
	cap_udp(fd, e, outgoing, peer_sa, plen, m, iov, iovcnt, caplen, origlen, NULL);
}

void cc_cap_udp_note(int fd, struct cc_fd *e, int outgoing, const struct sockaddr *peer_sa, socklen_t plen,
		     const struct cc_meta *m, const struct iovec *iov, int iovcnt, size_t caplen, size_t origlen,
		     const char *note)
{
	if (note || !cc_udp_fast(e, outgoing, peer_sa, plen, m, iov, iovcnt, caplen, origlen, -1))
		cap_udp(fd, e, outgoing, peer_sa, plen, m, iov, iovcnt, caplen, origlen, note);
}

void cc_cap_relay(int outgoing, const struct cc_relay *rl, uint64_t ts)
{
	struct iovec in = { (void *)rl->data, rl->len };
	struct cc_frame f;

	/* Plaintexts correlate with the end-to-end flow, as if there were no relay. */
	if (__builtin_expect(cc_nest.ssl != NULL, 0))
		nest_note(IPPROTO_UDP, &rl->relayed, &rl->peer, 0, 0);
	if (__builtin_expect(dtls_matching(), 0))
		cc_dm_datagram(&in, 1, rl->len, outgoing, &rl->relayed, &rl->peer, ts);

	memset(&f, 0, sizeof(f));
	if (__builtin_expect(matching(), 0))
		f.defer = CC_DEFER_WIRE;
	f.proto = IPPROTO_UDP;
	f.iface = CC_IF_RELAY;
	f.outgoing = (uint8_t)outgoing;
	f.pid = cc_pid;
	f.ttl = 64;
	f.src = outgoing ? rl->relayed : rl->peer;
	f.dst = outgoing ? rl->peer : rl->relayed;
	cc_emit(&f, ts, &in, 1, 0, rl->len, rl->len);
}

/* ---- TCP ---- */

static void tcp_frame(struct cc_fd *e, struct cc_frame *f, int outgoing, uint8_t flags)
{
	memset(f, 0, sizeof(*f));
	f->proto = IPPROTO_TCP;
	f->iface = CC_IF_WIRE;
	f->outgoing = (uint8_t)outgoing;
	f->pid = cc_pid;
	f->tcp_flags = flags;
	f->src = outgoing ? e->local : e->peer;
	f->dst = outgoing ? e->peer : e->local;
	f->tos = outgoing ? e->tos : 0;
	f->ttl = outgoing ? e->ttl : 64;
	f->src.family = f->dst.family = e->peer.family;
}

static void tcp_ctl(struct cc_fd *e, uint64_t ts, int outgoing, uint8_t flags, uint32_t seq, uint32_t ack)
{
	struct cc_frame f;

	tcp_frame(e, &f, outgoing, flags);
	f.seq = seq;
	f.ack = ack;
	cc_emit(&f, ts, NULL, 0, 0, 0, 0);
}

/* The handshake of e's connection, its addresses known (cc_tcp_connected). */
static void tcp_handshake(int fd, struct cc_fd *e, int active)
{
	uint64_t ts = cc_now();
	uint32_t l, p;
	unsigned gen;

	gen = fd_isn_gen(e, !active);
	l = cc_tcp_isn(&e->local, &e->peer, gen);
	p = cc_tcp_isn(&e->peer, &e->local, gen);
	e->mss = (uint16_t)cc_sock_getint(fd, IPPROTO_TCP, TCP_MAXSEG, 1460);
	if (e->mss < 536)
		e->mss = 536;
	__atomic_store_n(fd_seq(e, 1), l + 1, __ATOMIC_RELAXED);
	__atomic_store_n(fd_seq(e, 0), p + 1, __ATOMIC_RELAXED);
	if (active) {
		tcp_ctl(e, ts, 1, CC_TCP_SYN, l, 0);
		tcp_ctl(e, ts, 0, CC_TCP_SYN | CC_TCP_ACK, p, l + 1);
		tcp_ctl(e, ts, 1, CC_TCP_ACK, l + 1, p + 1);
	} else {
		tcp_ctl(e, ts, 0, CC_TCP_SYN, p, 0);
		tcp_ctl(e, ts, 1, CC_TCP_SYN | CC_TCP_ACK, l, p + 1);
		tcp_ctl(e, ts, 0, CC_TCP_ACK, p + 1, l + 1);
	}
	set_flags(e, FDF_TCP_OPEN);
}

void cc_tcp_connected(int fd, struct cc_fd *e, int active)
{
	cc_refresh_local(fd, e);
	cc_refresh_peer(fd, e);
	clear_flags(e, FDF_CONNECTING);
	if ((fd_flags(e) & FDF_PEER) && (fd_flags(e) & FDF_LOCAL))
		tcp_handshake(fd, e, active);
}

/*
 * The SYN of a connect that came to nothing, and for a refusal the peer's reset, numbered by
 * cc_tcp_attempt_isn (pcapout/frame.h): each attempt of this process has its own number.
 */
static void tcp_attempt(int fd, struct cc_fd *e, int err)
{
	static uint32_t attempts;
	struct cc_frame f;
	struct cc_addr local;
	uint64_t ts = cc_now();

	clear_flags(e, FDF_CONNECTING);
	cc_refresh_local(fd, e);        /* (the port stays after the failure; the address may not) */
	if (!e->peer.family)
		return;
	cc_udp_local(e, NULL, &e->peer, &local);        /* (an unspecified address: the route's) */
	if (!local.port || addr_is_any(&local))
		return;         /* (not bound: no SYN left, as for a connect with no route) */
	e->local = local;
	uint32_t l = cc_tcp_attempt_isn(&e->local, &e->peer, __atomic_add_fetch(&attempts, 1, __ATOMIC_RELAXED));
	tcp_frame(e, &f, 1, CC_TCP_SYN);
	f.seq = l;
	f.note = cc_tcp_connect_why(err);
	cc_emit(&f, ts, NULL, 0, 0, 0, 0);
	if (err == ECONNREFUSED) {
		tcp_frame(e, &f, 0, CC_TCP_RST | CC_TCP_ACK);
		f.ack = l + 1;
		cc_emit(&f, ts, NULL, 0, 0, 0, 0);
	}
}

/*
 * A connect that had connected, unasked, and whose connection was lost since (keepalive or
 * retransmissions timed out, a host unreachable): its handshake, to the peer connect named (the
 * socket has none now); the program's close ends it.
 */
static void tcp_lost(int fd, struct cc_fd *e)
{
	clear_flags(e, FDF_CONNECTING);
	cc_refresh_local(fd, e);
	if (e->peer.family && (fd_flags(e) & FDF_LOCAL)) {
		set_flags(e, FDF_PEER);
		tcp_handshake(fd, e, 1);
	}
}

void cc_tcp_settle(int fd, struct cc_fd *e, int closing)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);
	int saved = errno;

	/*
	 * Not one made before the last fork: another process may settle it as well, and a second
	 * handshake would count a second connection.  Its first byte does, in whichever process.
	 */
	if (!(fd_flags(e) & FDF_CONNECTING) || !fd_since_fork(e))
		return;
	if (getpeername(fd, (struct sockaddr *)&ss, &l) == 0) {
		cc_tcp_connected(fd, e, 1);
	} else if (closing) {
		/* Failed or lost without the program asking: what the kernel says, its error left. */
		int state = cc_tcp_connect_state(fd);
		if (state == CC_CONN_UP)
			tcp_lost(fd, e);
		else
			tcp_attempt(fd, e, cc_tcp_closed_why(state));
	}
	errno = saved;
}

void cc_tcp_failed(int fd, struct cc_fd *e, int err)
{
	int saved = errno;

	if (!err || !cc_tcp_connect_why(err))
		return;
	if (!fd_since_fork(e)) {
		clear_flags(e, FDF_CONNECTING);
	} else if (err != ECONNREFUSED && cc_tcp_connect_state(fd) == CC_CONN_UP) {
		tcp_lost(fd, e);
	} else {
		tcp_attempt(fd, e, err);
	}
	errno = saved;
}

void cc_tcp_call_failed(int fd, int err)
{
	struct cc_fd *e = cc_fd_peek(fd);

	if (e && fd_kind(e) == FDK_TCP && (fd_flags(e) & FDF_CONNECTING))
		cc_tcp_failed(fd, e, err);
}

void (*cc_tcp_sent_watch)(const struct cc_fd *e, const struct iovec *iov, int iovcnt, size_t len);

void cc_tcp_data(int fd, struct cc_fd *e, int outgoing, const struct iovec *iov, int iovcnt, size_t len)
{
	struct cc_frame f;
	uint64_t ts;
	uint32_t seq;

	if (fd_flags(e) & FDF_CONNECTING)
		cc_tcp_connected(fd, e, 1);     /* a non-blocking connect finished */
	if (!(fd_flags(e) & FDF_TCP_OPEN) || !len)
		return;
	if (outgoing) {
		void (*watch)(const struct cc_fd *, const struct iovec *, int, size_t) =
			__atomic_load_n(&cc_tcp_sent_watch, __ATOMIC_ACQUIRE);
		if (__builtin_expect(watch != NULL, 0))
			watch(e, iov, iovcnt, len);
	}
	if (__builtin_expect(cc_nest.ssl != NULL, 0))
		nest_note(IPPROTO_TCP, &e->local, &e->peer, (fd_flags(e) & FDF_ACCEPTED) != 0, e->isn_gen);
	ts = cc_now();
	seq = __atomic_fetch_add(fd_seq(e, outgoing), (uint32_t)len, __ATOMIC_RELAXED);
	tcp_frame(e, &f, outgoing, CC_TCP_PSH | CC_TCP_ACK);
	f.ack = __atomic_load_n(fd_seq(e, !outgoing), __ATOMIC_RELAXED);
	f.note = silent_note(iov, len, 0, 0);
	/* Segments no larger than the connection's MSS, as the wire would carry them. */
	for (size_t off = 0; off < len; off += e->mss) {
		size_t n = len - off < e->mss ? len - off : e->mss;
		f.seq = seq + (uint32_t)off;
		cc_emit(&f, ts, iov, iovcnt, off, n, n);
		f.note = NULL;
	}
	/* TURN over TCP: a connection is followed from its first Allocate request (first byte 0). */
	if (__builtin_expect(__atomic_load_n(&cc_turn_tcp_any, __ATOMIC_RELAXED) ||
			     (outgoing && iovcnt > 0 && iov[0].iov_len && !*(const uint8_t *)iov[0].iov_base), 0))
		cc_turn_tcp(iov, iovcnt, len, outgoing, &e->local, &e->peer);
}

void cc_tcp_fin(int fd, struct cc_fd *e, int outgoing)
{
	uint16_t bit = outgoing ? FDF_FIN_OUT : FDF_FIN_IN;
	uint32_t seq, ack;

	(void)fd;
	if (!(fd_flags(e) & FDF_TCP_OPEN) || (__atomic_fetch_or(fd_fin_flags(e), bit, __ATOMIC_RELAXED) & bit))
		return;
	seq = __atomic_fetch_add(fd_seq(e, outgoing), 1, __ATOMIC_RELAXED);
	ack = __atomic_load_n(fd_seq(e, !outgoing), __ATOMIC_RELAXED);
	tcp_ctl(e, cc_now(), outgoing, CC_TCP_FIN | CC_TCP_ACK, seq, ack);
}

