/*
 * What the capture files of the shim share, inside shim/ only:
 *
 *   capture.c   UDP datagrams, relayed ones, the synthesized TCP stream of the wire copy
 *   sockinfo.c  what is known of each socket: kind, addresses, IP options, socket options
 *   route.c     the source address towards a peer, for wildcard-bound sockets (cached)
 *   cmsg.c      control messages: TOS, TTL, GSO, the local address of a received datagram
 *   plain.c     plaintext frames on their flow's 5-tuple, and the plaintext TCP stream
 *
 * and the usual UDP datagram's capture (cc_udp_fast), inline into the send and receive hooks.
 */
#ifndef CC_CAPTURE_INT_H
#define CC_CAPTURE_INT_H

#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "decoders/demux.h"
#include "pcapout/writer.h"
#include "shim/capture.h"
#include "shim/dtlsmatch.h"
#include "shim/fdtable.h"
#include "shim/hooks.h"
#include "shim/select.h"
#include "shim/srtpmatch.h"
#include "shim/turn.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

/* An integer socket option, or dflt when it cannot be read. */
int cc_sock_getint(int fd, int level, int name, int dflt);

/* The address's words (IPv4: the first, the rest zero): what the per-packet checks compare. */
static inline void ip_words(const struct cc_addr *a, uint64_t w[2])
{
	w[0] = w[1] = 0;
	if (a->family == AF_INET6) {
		memcpy(w, a->ip, 16);
	} else {
		uint32_t v;
		memcpy(&v, a->ip, 4);
		w[0] = v;
	}
}

static inline __attribute__((always_inline)) int addr_is_any(const struct cc_addr *a)
{
	uint64_t w[2];

	/* Per packet on a wildcard-bound socket: two loads, not a memcmp call. */
	ip_words(a, w);
	return !(w[0] | w[1]);
}

/*
 * The last route this thread asked for (route.c): a sender on a wildcard-bound socket asks for
 * the same peer packet after packet, and this answer costs a compare of two words.
 */
struct cc_last_route {
	uint64_t dst[2];
	uint16_t family;
	struct cc_addr src;
};
extern __thread struct cc_last_route cc_last_route __attribute__((tls_model("initial-exec")));

/* The route's answer when it is not this thread's last: the shared cache, or the kernel (route.c). */
int cc_route_src_lookup(const struct cc_addr *dst, struct cc_addr *src);

/* Source address the kernel would choose towards dst (cached; a system call only on a miss). */
static inline __attribute__((always_inline)) int cc_route_src(const struct cc_addr *dst, struct cc_addr *src)
{
	uint64_t w[2];

	ip_words(dst, w);
	if (cc_last_route.family == dst->family && cc_last_route.dst[0] == w[0] && cc_last_route.dst[1] == w[1]) {
		*src = cc_last_route.src;
		return 0;
	}
	return cc_route_src_lookup(dst, src);
}

static inline __attribute__((always_inline)) int addr_is_multicast(const struct cc_addr *a)
{
	return a->family == AF_INET6 ? a->ip[0] == 0xff : (a->ip[0] & 0xf0) == 0xe0;
}

static inline void set_flags(struct cc_fd *e, uint16_t f)
{
	__atomic_fetch_or(&e->flags, f, __ATOMIC_RELAXED);
}

static inline void clear_flags(struct cc_fd *e, uint16_t f)
{
	__atomic_fetch_and(&e->flags, (uint16_t)~f, __ATOMIC_RELAXED);
}

/* ---- The usual UDP datagram ---- */

/* A DTLS handshake was seen with no TLS library hooked, and said so (capture.c; atomic). */
extern int cc_told_dtls;

/* A sockaddr's address, inline for IPv4 (every packet of most programs); 0 or -1 as cc_addr_from_sa. */
static inline __attribute__((always_inline)) int cc_peer_addr(struct cc_addr *a, const struct sockaddr *sa, socklen_t len)
{
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)(const void *)sa;
		uint32_t ip = s->sin_addr.s_addr;
		a->family = AF_INET;
		a->port = ntohs(s->sin_port);
		memset(a->ip, 0, sizeof(a->ip));
		memcpy(a->ip, &ip, 4);
		return 0;
	}
	return cc_addr_from_sa(a, sa, len);
}

/*
 * The local address of a datagram on e to or from peer, in peer's family: the one the control
 * data gave, the socket's own, or for a wildcard-bound socket the route's source towards peer
 * (to a multicast group, the address IP_MULTICAST_IF chose, if any).
 */
static inline __attribute__((always_inline)) void cc_udp_local(const struct cc_fd *e, const struct cc_meta *m,
								const struct cc_addr *peer, struct cc_addr *local)
{
	*local = e->local;
	if (m && m->local.family == peer->family) {
		memcpy(local->ip, m->local.ip, 16);
	} else if (local->family != peer->family || addr_is_any(local)) {
		struct cc_addr src;
		if (__builtin_expect(e->mcast_if != 0, 0) && peer->family == AF_INET && addr_is_multicast(peer)) {
			/* IP_MULTICAST_IF's address: the kernel's source for the group, not the route's. */
			memset(local->ip, 0, 16);
			memcpy(local->ip, &e->mcast_if, 4);
		} else if (cc_route_src(peer, &src) == 0) {
			memcpy(local->ip, src.ip, 16);
		}
	}
	local->family = peer->family;
}

/* The IP header's TOS and TTL: the control data's, else what the socket sends with, else 0/64. */
static inline __attribute__((always_inline)) void cc_udp_tos_ttl(const struct cc_fd *e, const struct cc_meta *m,
								  const struct cc_addr *peer, int outgoing, uint8_t *tos,
								  uint8_t *ttl)
{
	if (outgoing) {
		*tos = m && m->tos >= 0 ? (uint8_t)m->tos : e->tos;
		*ttl = m && m->ttl >= 0 ? (uint8_t)m->ttl : addr_is_multicast(peer) ? e->mcast_ttl : e->ttl;
	} else {
		*tos = m && m->tos >= 0 ? (uint8_t)m->tos : 0;
		*ttl = m && m->ttl >= 0 ? (uint8_t)m->ttl : 64;
	}
}

/*
 * What this thread last worked out for a datagram on a socket, per direction: the frame's
 * addresses and one-byte fields (the defer flag too: hook_srtp.c and SSL_new move cc_fd_gen
 * setting what it follows).  A sender's datagrams to one peer share them, and while no socket
 * changed since (cc_fd_gen), the next costs four compares.
 * e NULL: nothing kept (control data other than an IPv4 pktinfo, or a peer that is not IPv4).
 */
struct cc_udp_last {
	const struct cc_fd *e;
	uint64_t sa;                    /* the peer sockaddr_in's first 8 bytes, or 0: the socket's peer */
	uint64_t lk;                    /* the control data's local IPv4 address (pktinfo), or 0: none */
	uint32_t gen;                   /* cc_fd_gen when worked out */
	uint32_t flow;                  /* src and dst's name for the writer (cc_flow_name), or 0 */
	struct cc_addr src, dst;
	uint64_t bytes;                 /* cc_frame_bytes(), defer CC_DEFER_WIRE while SRTP or DTLS matched */
};
extern __thread struct cc_udp_last cc_udp_last[2] __attribute__((tls_model("initial-exec")));

/* Works out *c's addresses and bytes for a datagram on e (capture.c); -1 when the peer is unknown. */
int cc_udp_last_fill(struct cc_udp_last *c, const struct cc_fd *e, int outgoing, const struct sockaddr *peer_sa,
		     socklen_t plen, const struct cc_meta *m);

/*
 * The hot lanes (hook_send.c; hook_socket.c receives): a thread's last socket whose datagram
 * went all the way down the usual path below from sendto, send or write (from recvfrom, recv or
 * read), with everything that path found out.  While no
 * socket and no switch changed since (cc_fd_gen: closing, binding, connecting, IP options,
 * UDP_SEGMENT, a first TURN Allocate, a first SSL_new, a cancel, a fork all move it), the same
 * call on the same socket to the same peer needs none of those checks again: the fd table, the
 * entry's kind and flags, the kept flow's compares.  What can differ from one datagram to the
 * next is still looked at per packet: the peer given, the length, the first byte (STUN, a DTLS
 * handshake, TURN's ChannelData, DTLS records while sessions are matched go the usual way) and
 * the control page's pause.  The writer's state moves cc_fd_gen too (cc_hot_stale), and an SSL
 * call empties the lanes (cc_hot_fd, cc_hot_rfd, CC_TLS_NEST_BEGIN).  A receive, which may wait,
 * reads the count again after its call.
 */
struct cc_hot {
	uint32_t gen;                   /* cc_fd_gen when filled (the socket: cc_hot_fd, cc_hot_rfd) */
	uint32_t busy;                  /* receives in the lane on this thread (signal handlers'
					   too): not filled again meanwhile */
	uint64_t sa;                    /* as cc_udp_last.sa: the peer given, or 0 for none */
	int no_fd;                      /* the lane refused for this socket, count and peer: */
	uint32_t no_gen;                /*   not filled again until one of them moves */
	uint64_t no_sa;
	struct cc_raw_rec rec;          /* the record's head but for its time and lengths */
	uint8_t act[256];               /* [b]: what becomes of a datagram whose first byte is b */
	uint8_t by_pt[3];               /* CC_HOT_BY_PT's: an RTP one, an RTCP one, one of 1 byte */
	uint8_t no_cookie[4];           /* CC_HOT_COOKIE's, by the first byte (0-3), without the cookie */
};
extern __thread struct cc_hot cc_hot __attribute__((tls_model("initial-exec")));
/* The receiving lane (socket: cc_hot_rfd), the same for recv, recvfrom and read (hook_socket.c). */
extern __thread struct cc_hot cc_hot_rx __attribute__((tls_model("initial-exec")));

/*
 * Fills the lane of direction `outgoing` (cc_hot or cc_hot_rx) for fd from c (capture.c): or
 * empties it when the usual path has more to do (class selection, a filter that reads the
 * datagram, the writer not running).
 */
void cc_hot_fill(int outgoing, int fd, const struct cc_udp_last *c, uint64_t sa);

/*
 * After cc_udp_fast queued or declined a datagram: a call whose next ones may take the hot lane
 * of its direction (hot_fd >= 0: sendto, send, write; recvfrom, recv, read), the second of a run
 * with one peer (again), fills it, so that a thread whose datagrams change socket or peer every
 * time pays for no lane it never takes.
 */
static inline __attribute__((always_inline)) void cc_hot_maybe_fill(int outgoing, int hot_fd, int again,
								    const struct cc_udp_last *c, uint64_t sa, uint32_t gen)
{
	if (hot_fd >= 0 && again) {
		const struct cc_hot *h = outgoing ? &cc_hot : &cc_hot_rx;
		int lane = outgoing ? cc_hot_fd : cc_hot_rfd;
		if ((lane != hot_fd || h->gen != gen || h->sa != sa) &&
		    (h->no_fd != hot_fd || h->no_gen != gen || h->no_sa != sa))
			cc_hot_fill(outgoing, hot_fd, c, sa);
	}
}

/*
 * cc_hot.act: queued; taken by the usual path (STUN, which may be TURN, a DTLS handshake,
 * ChannelData once an allocation was made); or declined by the filter, counted.  Two are
 * answered by more than the first byte (cc_hot_act): CC_HOT_BY_PT, and CC_HOT_COOKIE for 0-3,
 * which only a datagram carrying STUN's magic cookie takes the usual way (cc_turn_maybe).
 */
enum { CC_HOT_QUEUE, CC_HOT_USUAL, CC_HOT_DECLINE, CC_HOT_BY_PT, CC_HOT_COOKIE };

/* CC_HOT_COOKIE's answer for lane h's datagram p[0..len): STUN by its cookie goes the usual way. */
static inline __attribute__((always_inline)) int cc_hot_cookie(const struct cc_hot *h, const uint8_t *p, size_t len)
{
	uint32_t cookie;

	if (len < 20)
		return h->no_cookie[p[0] & 3];
	memcpy(&cookie, p + 4, 4);
	return cookie == htonl(0x2112A442) ? CC_HOT_USUAL : h->no_cookie[p[0] & 3];
}

/*
 * What becomes of lane h's datagram p[0..len) (len >= 1): by its first byte; under a class
 * selection that takes RTP or RTCP and not both, by the second too for 128-191 (CC_HOT_BY_PT:
 * RTCP by RFC 5761's payload types, as the classes themselves tell it, cc_demux_is_rtcp); for
 * 0-3 by STUN's cookie (CC_HOT_COOKIE: a protocol of its own whose datagrams start with a zero
 * byte, iperf3's or a length-prefixed one, is not STUN).
 */
static inline __attribute__((always_inline)) int cc_hot_act(const struct cc_hot *h, const uint8_t *p, size_t len)
{
	int act = h->act[p[0]];

	if (__builtin_expect(act >= CC_HOT_BY_PT, 0))
		act = act == CC_HOT_BY_PT ? h->by_pt[len < 2 ? 2 : cc_demux_is_rtcp(p, len)] : cc_hot_cookie(h, p, len);
	return act;
}

/*
 * A first byte dtlsmatch reads while DTLS sessions are matched: a DTLS record (20-63, RFC 7983)
 * or ChannelData (64-127), which may carry one.  (STUN's, which may carry one too, are looked at
 * anyway.)
 */
static inline int cc_dm_byte(uint8_t b)
{
	return (unsigned)b - 20 < 108;
}

/*
 * The usual datagram, in one buffer, whole, on a socket whose local address is known, with
 * nothing to correlate on this thread (no TURN message, no DTLS record while sessions are
 * matched, no SSL call around it, no class selection): its frame is filled in place and queued
 * raw, and the writer's thread builds the record.  0 when the datagram needs the general path (capture.c),
 * which gives every such packet the same frame this would (test_capture checks both against
 * tshark).  Inline into the hooks: in steady state a captured datagram makes no call of ours
 * but the clock and the queue.  hot_fd: the socket of a send whose next ones may take the hot
 * lane (cc_hot), or -1.
 */
static inline __attribute__((always_inline)) int cc_udp_fast(struct cc_fd *e, int outgoing, const struct sockaddr *peer_sa,
							     socklen_t plen, const struct cc_meta *m,
							     const struct iovec *iov, int iovcnt, size_t len, size_t origlen,
							     int hot_fd)
{
	unsigned fl = fd_flags(e);

	/* (iovcnt first: a sendmsg may pass no iovec at all.) */
	if (iovcnt != 1 || len != origlen || !len || iov[0].iov_len < len || !(fl & FDF_LOCAL))
		return 0;
	const uint8_t *p = iov[0].iov_base;
	/* With DTLS sessions matched (cc_dm_active), what dtlsmatch looks at takes the general path. */
	if ((m && m->gso) || (outgoing && e->gso_size) || cc_nest.ssl != NULL ||
	    (__atomic_load_n(&cc_dm_active, __ATOMIC_RELAXED) && cc_dm_byte(p[0])))
		return 0;
	if (cc_turn_maybe(p, len) || (p[0] == 22 && !(__atomic_load_n(&cc_told_dtls, __ATOMIC_RELAXED) |
						     __atomic_load_n(&cc_tls_active, __ATOMIC_RELAXED))))
		return 0;
	/*
	 * The datagram's addresses, TOS and TTL: this thread's last ones for this socket, direction
	 * and IPv4 peer, while no socket changed (cc_fd_gen); worked out afresh otherwise.
	 */
	struct cc_udp_last *c = &cc_udp_last[outgoing != 0];
	uint64_t sa = 0, lk = 0;
	int keep = 1;
	if (m) {
		/*
		 * A wildcard-bound receiver's datagrams: the local address the kernel said, alone.
		 * (Control data with nothing in it works out as none: it may share lk 0.)
		 */
		uint32_t ip4;
		memcpy(&ip4, m->local.ip, 4);
		lk = (uint64_t)m->local.family << 32 | ip4;
		keep = m->tos < 0 && m->ttl < 0 && !m->gso && (!m->local.family || m->local.family == AF_INET);
	}
	if (peer_sa) {
		if (peer_sa->sa_family == AF_INET && plen >= sizeof(struct sockaddr_in))
			memcpy(&sa, peer_sa, 8);        /* family, port and address */
		else
			keep = 0;
	} else if (!(fl & FDF_PEER)) {
		return 0;
	}
	uint32_t gen = __atomic_load_n(&cc_fd_gen, __ATOMIC_ACQUIRE);
	int again = 1;
	if (!keep || c->e != e || c->sa != sa || c->lk != lk || c->gen != gen) {
		again = 0;
		if (cc_udp_last_fill(c, e, outgoing, peer_sa, plen, m) < 0)
			return 0;
		c->e = keep ? e : NULL;
		c->sa = sa;
		c->lk = lk;
		c->gen = gen;
		c->flow = keep ? cc_flow_name() : 0;
	}
	/*
	 * CLEARCAP_CAPTURE: a UDP datagram's classes come from its bytes alone.  One declined is
	 * counted and costs no more; unless SRTP matching needs to see it (the general path hands
	 * it to the writer hidden): once SRTP is in use, or DTLS sessions are matched (a DTLS-SRTP
	 * peer's early media, before this side's SRTP session exists).
	 */
	if (__builtin_expect(__atomic_load_n(&cc_sel, __ATOMIC_RELAXED) != CC_SEL_ALL, 0) && !cc_sel_udp_wire(p, len, c->src.port, c->dst.port)) {
		if (__atomic_load_n(&cc_sm_watch, __ATOMIC_RELAXED) | __atomic_load_n(&cc_dm_active, __ATOMIC_RELAXED))
			return 0;
		cc_writer_count_filtered();
		cc_hot_maybe_fill(outgoing, hot_fd, again, c, sa, gen);
		return 1;
	}
	/* A filter judges first: a datagram it declines needs no time (0: stamped once kept). */
	if (__builtin_expect(cc_filter_active(), 0))
		cc_out_udp_slow(0, &c->src, &c->dst, c->bytes, cc_pid, c->flow, p, len);
	else
		cc_out_udp(cc_now(), &c->src, &c->dst, c->bytes, cc_pid, c->flow, p, len);
	cc_hot_maybe_fill(outgoing, hot_fd, again, c, sa, gen);
	return 1;
}

#endif
