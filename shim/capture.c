/*
 * From socket calls to frames.
 *
 * The cost model: everything that needs a system call (what kind of socket an fd is, its bound
 * address, the route's source address towards a peer, the MSS) is asked once and cached in the fd
 * table or the route cache.  A packet in steady state costs a table look-up, a clock read from the
 * vDSO and a copy into the record ring.
 */
#include "shim/capture.h"
#include "shim/real.h"
#include "shim/dtlsmatch.h"
#include "shim/select.h"
#include "shim/srtpmatch.h"
#include "shim/turn.h"
#include "pcapout/writer.h"
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

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

int cc_on;
__thread struct cc_nest cc_nest __attribute__((tls_model("initial-exec")));
uint32_t cc_pid;

uint64_t cc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t cc_now_coarse(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int cc_addr_from_sa(struct cc_addr *a, const struct sockaddr *sa, socklen_t len)
{
	memset(a, 0, sizeof(*a));
	if (!sa)
		return -1;
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
		a->family = AF_INET;
		a->port = ntohs(s->sin_port);
		memcpy(a->ip, &s->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
		a->port = ntohs(s->sin6_port);
		/* A v4-mapped address is IPv4 on the wire. */
		if (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr)) {
			a->family = AF_INET;
			memcpy(a->ip, s->sin6_addr.s6_addr + 12, 4);
		} else {
			a->family = AF_INET6;
			memcpy(a->ip, &s->sin6_addr, 16);
		}
		return 0;
	}
	return -1;
}

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

static int addr_is_any(const struct cc_addr *a)
{
	uint64_t w[2];

	/* Per packet on a wildcard-bound socket: two loads, not a memcmp call. */
	ip_words(a, w);
	return !(w[0] | w[1]);
}

static int addr_is_multicast(const struct cc_addr *a)
{
	return a->family == AF_INET6 ? a->ip[0] == 0xff : (a->ip[0] & 0xf0) == 0xe0;
}

static int getint(int fd, int level, int name, int dflt)
{
	int v;
	socklen_t l = sizeof(v);

	return getsockopt(fd, level, name, &v, &l) == 0 ? v : dflt;
}

/* The values the kernel will put in the IP header of what this socket sends. */
static void load_ip_opts(int fd, struct cc_fd *e)
{
	if (e->family == AF_INET6) {
		e->tos = (uint8_t)getint(fd, IPPROTO_IPV6, IPV6_TCLASS, 0);
		e->ttl = (uint8_t)getint(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 64);
		e->mcast_ttl = (uint8_t)getint(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 1);
	} else {
		e->tos = (uint8_t)getint(fd, IPPROTO_IP, IP_TOS, 0);
		e->ttl = (uint8_t)getint(fd, IPPROTO_IP, IP_TTL, 64);
		e->mcast_ttl = (uint8_t)getint(fd, IPPROTO_IP, IP_MULTICAST_TTL, 1);
	}
}

static void set_flags(struct cc_fd *e, uint16_t f)
{
	__atomic_fetch_or(&e->flags, f, __ATOMIC_RELAXED);
}

static void clear_flags(struct cc_fd *e, uint16_t f)
{
	__atomic_fetch_and(&e->flags, (uint16_t)~f, __ATOMIC_RELAXED);
}

/*
 * On a wildcard-bound UDP socket only the datagram itself knows which local address it reached;
 * IP(V6)_PKTINFO makes the kernel say so.  The hooks strip it again from what the program sees.
 */
static void enable_pktinfo(int fd, struct cc_fd *e)
{
	int one = 1;
	int rc;

	if (fd_flags(e) & (FDF_PKTINFO | FDF_USER_PKTINFO))
		return;
	if (e->family == AF_INET6)
		rc = cc_real.setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
	else
		rc = cc_real.setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	if (rc == 0)
		set_flags(e, FDF_PKTINFO);
}

void cc_refresh_local(int fd, struct cc_fd *e)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);
	struct cc_addr a;

	if (getsockname(fd, (struct sockaddr *)&ss, &l) < 0 || cc_addr_from_sa(&a, (struct sockaddr *)&ss, l) < 0)
		return;
	e->local = a;
	if (a.port == 0) {
		clear_flags(e, FDF_LOCAL);      /* not bound yet: the first send binds it */
		return;
	}
	if (addr_is_any(&a)) {
		set_flags(e, FDF_LOCAL | FDF_WILDCARD);
		if (fd_kind(e) == FDK_UDP)
			enable_pktinfo(fd, e);
	} else {
		clear_flags(e, FDF_WILDCARD);
		set_flags(e, FDF_LOCAL);
	}
}

void cc_refresh_peer(int fd, struct cc_fd *e)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *)&ss, &l) == 0 && cc_addr_from_sa(&e->peer, (struct sockaddr *)&ss, l) == 0)
		set_flags(e, FDF_PEER);
	else
		clear_flags(e, FDF_PEER);
}

/*
 * Initial sequence number of the direction src -> dst, from the addresses alone.  When both ends
 * of a connection are captured (two processes, or one talking to itself), each side synthesizes
 * the same numbers, so the two copies of a segment line up as one stream in Wireshark.
 */
static uint32_t isn(const struct cc_addr *src, const struct cc_addr *dst)
{
	uint32_t h = 2166136261u;
	const struct cc_addr *a[2] = { src, dst };

	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < (a[k]->family == AF_INET6 ? 16 : 4); i++)
			h = (h ^ a[k]->ip[i]) * 16777619u;
		h = (h ^ (a[k]->port >> 8)) * 16777619u;
		h = (h ^ (a[k]->port & 0xff)) * 16777619u;
	}
	return h;
}

static void setup(int fd, struct cc_fd *e, int family, int kind)
{
	e->family = (uint8_t)family;
	__atomic_store_n(&e->flags, 0, __ATOMIC_RELAXED);
	e->gso_size = 0;
	e->mss = 1460;
	e->fork_gen = cc_fork_gen;
	memset(&e->local, 0, sizeof(e->local));
	memset(&e->peer, 0, sizeof(e->peer));
	__atomic_store_n(&e->kind, (uint8_t)kind, __ATOMIC_RELEASE); /* before load_ip_opts/refresh */
	load_ip_opts(fd, e);
}

struct cc_fd *cc_fd_new(int fd, int family, int type, int proto)
{
	struct cc_fd *e = cc_fd_get(fd);
	int kind = FDK_OTHER;

	if (!e)
		return NULL;
	/*
	 * Pairs with the release in cc_fd_reset() by the thread that closed this number: what that
	 * thread did with the old socket happens before we reuse the entry.  (The kernel orders
	 * close and the next socket(); this makes the order visible to the C memory model too.)
	 */
	(void)fd_kind(e);
	type &= ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (family == AF_INET || family == AF_INET6) {
		if (type == SOCK_DGRAM && (proto == 0 || proto == IPPROTO_UDP))
			kind = FDK_UDP;
		else if (type == SOCK_STREAM && (proto == 0 || proto == IPPROTO_TCP || proto == 262 /* MPTCP */))
			kind = FDK_TCP;
	}
	if (kind == FDK_OTHER) {
		__atomic_store_n(&e->flags, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&e->kind, FDK_OTHER, __ATOMIC_RELEASE);
		return NULL;
	}
	__atomic_store_n(&e->kind, FDK_UNKNOWN, __ATOMIC_RELEASE);
	setup(fd, e, family, kind);
	return e;
}

struct cc_fd *cc_classify(int fd)
{
	struct cc_fd *e = cc_fd_get(fd);
	int dom, type, proto;
	socklen_t l = sizeof(int);

	if (!e)
		return NULL;
	switch (__atomic_load_n(&e->kind, __ATOMIC_ACQUIRE)) {
	case FDK_UDP:
	case FDK_TCP:
		return e;
	case FDK_OTHER:
		return NULL;
	}
	/* First sight of an fd we did not see created (inherited, or made by a call we do not hook). */
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l) < 0) {
		if (errno == ENOTSOCK)
			__atomic_store_n(&e->kind, FDK_OTHER, __ATOMIC_RELEASE);
		return NULL;
	}
	type = getint(fd, SOL_SOCKET, SO_TYPE, 0);
	proto = getint(fd, SOL_SOCKET, SO_PROTOCOL, 0);
	e = cc_fd_new(fd, dom, type, proto);
	if (!e)
		return NULL;
	cc_refresh_local(fd, e);
	cc_refresh_peer(fd, e);
	if (fd_kind(e) == FDK_TCP && (fd_flags(e) & FDF_PEER)) {
		/* Joined mid-stream: no handshake to show, but sequence numbers must still add up. */
		e->mss = (uint16_t)getint(fd, IPPROTO_TCP, TCP_MAXSEG, 1460);
		e->snd_seq = isn(&e->local, &e->peer) + 1;
		e->rcv_seq = isn(&e->peer, &e->local) + 1;
		set_flags(e, FDF_TCP_OPEN);
	}
	return e;
}

/* ---- Route cache: the source address towards a destination, for wildcard-bound sockets. ---- */

#define RT_SIZE 64

#define RT_WORDS (sizeof(struct cc_addr) / 4)

/*
 * A seqlock entry.  The addresses are copied word by word with atomic accesses, so a reader
 * racing a writer reads stale words (and retries or misses) without a data race in the C sense.
 */
struct rt_ent {
	uint32_t seq;                   /* odd while being written, 0 never filled */
	uint32_t dst[RT_WORDS], src[RT_WORDS];
};

_Static_assert(sizeof(struct cc_addr) % 4 == 0, "cc_addr copies as 32-bit words");

static void words_load(const uint32_t *w, struct cc_addr *a)
{
	uint32_t tmp[RT_WORDS];

	for (size_t i = 0; i < RT_WORDS; i++)
		tmp[i] = __atomic_load_n(&w[i], __ATOMIC_RELAXED);
	memcpy(a, tmp, sizeof(*a));
}

static void words_store(uint32_t *w, const struct cc_addr *a)
{
	uint32_t tmp[RT_WORDS];

	memcpy(tmp, a, sizeof(*a));
	for (size_t i = 0; i < RT_WORDS; i++)
		__atomic_store_n(&w[i], tmp[i], __ATOMIC_RELAXED);
}

static struct rt_ent rt[RT_SIZE];

/* Per packet on a wildcard-bound socket: word-wise, not a byte loop and a memcmp call. */
static unsigned rt_hash(const struct cc_addr *a)
{
	uint64_t w[2];

	ip_words(a, w);
	uint64_t h = (w[0] ^ w[1] * 0x9e3779b97f4a7c15ull ^ a->family) * 0xff51afd7ed558ccdull;
	return (unsigned)(h >> 40) % RT_SIZE;
}

static int same_ip(const struct cc_addr *a, const struct cc_addr *b)
{
	uint64_t x[2], y[2];

	if (a->family != b->family)
		return 0;
	ip_words(a, x);
	ip_words(b, y);
	return x[0] == y[0] && x[1] == y[1];
}

static int route_lookup(const struct cc_addr *dst, struct cc_addr *src)
{
	struct sockaddr_storage ss;
	socklen_t l;
	int s, rc = -1;

	memset(&ss, 0, sizeof(ss));
	if (dst->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(dst->port ? dst->port : 9);
		memcpy(&s6->sin6_addr, dst->ip, 16);
		l = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(dst->port ? dst->port : 9);
		memcpy(&s4->sin_addr, dst->ip, 4);
		l = sizeof(*s4);
	}
	/* A connected UDP socket makes the kernel pick the route's source; nothing is sent. */
	s = cc_real.socket(dst->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	if (cc_real.connect(s, (struct sockaddr *)&ss, l) == 0) {
		l = sizeof(ss);
		if (getsockname(s, (struct sockaddr *)&ss, &l) == 0 && cc_addr_from_sa(src, (struct sockaddr *)&ss, l) == 0)
			rc = 0;
	}
	cc_real.close(s);
	return rc;
}

/*
 * The last route this thread asked for: a sender on a wildcard-bound socket asks for the same
 * peer packet after packet, and this answer costs a compare of two words, no hash, no seqlock.
 */
static __thread struct {
	uint64_t dst[2];
	uint16_t family;
	struct cc_addr src;
} last_route __attribute__((tls_model("initial-exec")));

static int route_src_shared(const struct cc_addr *dst, struct cc_addr *src);

int cc_route_src(const struct cc_addr *dst, struct cc_addr *src)
{
	uint64_t w[2];

	ip_words(dst, w);
	if (last_route.family == dst->family && last_route.dst[0] == w[0] && last_route.dst[1] == w[1]) {
		*src = last_route.src;
		return 0;
	}
	if (route_src_shared(dst, src) < 0)
		return -1;
	last_route.dst[0] = w[0];
	last_route.dst[1] = w[1];
	last_route.src = *src;
	last_route.family = dst->family;
	return 0;
}

static int route_src_shared(const struct cc_addr *dst, struct cc_addr *src)
{
	struct rt_ent *r = &rt[rt_hash(dst)];
	uint32_t s1 = __atomic_load_n(&r->seq, __ATOMIC_ACQUIRE);

	if (s1 && !(s1 & 1)) {
		struct cc_addr d, sr;
		words_load(r->dst, &d);
		words_load(r->src, &sr);
		/* Acquire on the re-read orders the word loads before it (C11 seqlock pattern). */
		if (__atomic_load_n(&r->seq, __ATOMIC_ACQUIRE) == s1 && same_ip(&d, dst)) {
			*src = sr;
			return 0;
		}
	}
	if (route_lookup(dst, src) < 0)
		return -1;
	/* Publish only if nobody else is writing; a reader interrupted mid-write just misses. */
	if (!(s1 & 1) && __atomic_compare_exchange_n(&r->seq, &s1, s1 + 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
		words_store(r->dst, dst);
		words_store(r->src, src);
		__atomic_store_n(&r->seq, s1 + 2, __ATOMIC_RELEASE);
	}
	return 0;
}

/* ---- Control messages ---- */

void cc_meta_from_cmsg(struct cc_meta *m, const struct msghdr *msg)
{
	struct cmsghdr *c;

	if (!msg->msg_control || msg->msg_controllen < sizeof(struct cmsghdr))
		return;
	for (c = CMSG_FIRSTHDR((struct msghdr *)msg); c; c = CMSG_NXTHDR((struct msghdr *)msg, c)) {
		const uint8_t *d = CMSG_DATA(c);
		size_t dl = c->cmsg_len - CMSG_LEN(0);
		int iv = 0;

		if (dl >= sizeof(int))
			memcpy(&iv, d, sizeof(int));
		else if (dl == 1)
			iv = d[0];
		else if (dl == 2) {
			uint16_t u;
			memcpy(&u, d, 2);
			iv = u;
		}
		if (c->cmsg_level == IPPROTO_IP) {
			switch (c->cmsg_type) {
			case IP_PKTINFO:
				if (dl >= sizeof(struct in_pktinfo)) {
					struct in_pktinfo pi;
					memcpy(&pi, d, sizeof(pi));
					/* Received: the header's destination.  Sent: the chosen source, if any. */
					struct in_addr a = pi.ipi_addr.s_addr ? pi.ipi_addr : pi.ipi_spec_dst;
					if (a.s_addr) {
						m->local.family = AF_INET;
						memcpy(m->local.ip, &a, 4);
					}
				}
				break;
			case IP_TOS:
				m->tos = iv & 0xff;
				break;
			case IP_TTL:
				m->ttl = iv & 0xff;
				break;
			}
		} else if (c->cmsg_level == IPPROTO_IPV6) {
			switch (c->cmsg_type) {
			case IPV6_PKTINFO:
				if (dl >= sizeof(struct in6_pktinfo)) {
					struct in6_pktinfo pi;
					memcpy(&pi, d, sizeof(pi));
					if (IN6_IS_ADDR_V4MAPPED(&pi.ipi6_addr)) {
						m->local.family = AF_INET;
						memcpy(m->local.ip, pi.ipi6_addr.s6_addr + 12, 4);
					} else if (!IN6_IS_ADDR_UNSPECIFIED(&pi.ipi6_addr)) {
						m->local.family = AF_INET6;
						memcpy(m->local.ip, &pi.ipi6_addr, 16);
					}
				}
				break;
			case IPV6_TCLASS:
				m->tos = iv & 0xff;
				break;
			case IPV6_HOPLIMIT:
				m->ttl = iv & 0xff;
				break;
			}
		} else if (c->cmsg_level == IPPROTO_UDP && (c->cmsg_type == UDP_SEGMENT || c->cmsg_type == UDP_GRO)) {
			m->gso = (unsigned)iv;
		}
	}
}

/* ---- Nesting: the wire packet moved inside an SSL call ---- */

static void nest_note(uint8_t proto, const struct cc_addr *local, const struct cc_addr *peer, int passive)
{
	cc_nest.seen = 1;
	cc_nest.proto = proto;
	cc_nest.passive = (uint8_t)passive;
	cc_nest.local = *local;
	cc_nest.peer = *peer;
	cc_nest.local.family = cc_nest.peer.family = peer->family;
}

/* ---- UDP ---- */

#define TURN_COPY 2048          /* a TURN datagram split over iovecs is parsed from a copy this large */

/*
 * Never silent.  The first DTLS or TLS handshake packet a process moves while no TLS library
 * clearcap hooks has made a session in it (cc_dm_active is set at the first SSL_new) says, in
 * its comment, that no plaintext will follow and the likely why.  Once per process and kind;
 * `clearcap report` and the exit statistics show the note for a flow that indeed has no
 * plaintext, and ignore it when a library turned up later after all.
 */
static int told_dtls, told_tls;

static const char NOTE_DTLS[] = "encrypted: DTLS, and no TLS library clearcap hooks has a session in this "
				"process: no plaintext (DTLS from mbedTLS or GnuTLS, or a TLS library built "
				"into the program?)";
static const char NOTE_TLS[] = "encrypted: TLS, and no TLS library clearcap hooks has a session in this "
			       "process: no plaintext (OpenSSL built into the program, as node has it, or "
			       "another TLS library?)";

/* A DTLS (first byte 20-63, RFC 7983) or TLS handshake record: version byte 0xfe or 3. */
static int handshake_start(const struct iovec *iov, size_t caplen, size_t skip, int dtls)
{
	const uint8_t *p = iov[0].iov_base;

	if (iov[0].iov_len < skip + 6 || caplen < 6)
		return 0;
	p += skip;
	return p[0] == 22 && (dtls ? p[1] == 0xfe : p[1] == 3 && (p[5] == 1 || p[5] == 2));
}

static inline const char *silent_note(const struct iovec *iov, size_t caplen, size_t skip, int dtls)
{
	int *told = dtls ? &told_dtls : &told_tls;

	if (__builtin_expect(__atomic_load_n(told, __ATOMIC_RELAXED) | cc_dm_active, 1) || !caplen)
		return NULL;
	if (!handshake_start(iov, caplen, skip, dtls) || __atomic_exchange_n(told, 1, __ATOMIC_RELAXED))
		return NULL;
	return dtls ? NOTE_DTLS : NOTE_TLS;
}

void cc_cap_udp(int fd, struct cc_fd *e, int outgoing, const struct sockaddr *peer_sa, socklen_t plen,
		const struct cc_meta *m, const struct iovec *iov, int iovcnt, size_t caplen, size_t origlen)
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
	local = e->local;
	if (m && m->local.family == peer.family) {
		memcpy(local.ip, m->local.ip, 16);
		local.family = m->local.family;
	} else if (local.family != peer.family || addr_is_any(&local)) {
		struct cc_addr src;
		if (cc_route_src(&peer, &src) == 0) {
			memcpy(local.ip, src.ip, 16);
			local.family = src.family;
		}
	}

	memset(&f, 0, sizeof(f));
	f.proto = IPPROTO_UDP;
	f.iface = CC_IF_WIRE;
	f.outgoing = (uint8_t)outgoing;
	f.pid = cc_pid;
	if (outgoing) {
		f.src = local;
		f.dst = peer;
		f.tos = m && m->tos >= 0 ? (uint8_t)m->tos : e->tos;
		f.ttl = m && m->ttl >= 0 ? (uint8_t)m->ttl : addr_is_multicast(&peer) ? e->mcast_ttl : e->ttl;
	} else {
		f.src = peer;
		f.dst = local;
		f.tos = m && m->tos >= 0 ? (uint8_t)m->tos : 0;
		f.ttl = m && m->ttl >= 0 ? (uint8_t)m->ttl : 64;
	}
	f.src.family = f.dst.family = peer.family;

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
			nest_note(IPPROTO_UDP, &local, &peer, 0);
		if (__builtin_expect(cc_dm_active, 0))
			cc_dm_datagram(iov, iovcnt, caplen, outgoing, outgoing ? &f.src : &f.dst, outgoing ? &f.dst : &f.src,
				       ts);
		/*
		 * SRTP is matched on the writer's thread.  A DTLS-SRTP peer may send media before this
		 * side's handshake is done and its SRTP session made: with DTLS in use, from the first.
		 */
		if (__builtin_expect(cc_sm_watch | cc_dm_active, 0))
			f.defer = CC_DEFER_WIRE;
		f.note = silent_note(iov, caplen, 0, 1);
	}

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

void cc_cap_relay(int outgoing, const struct cc_relay *rl, uint64_t ts)
{
	struct iovec in = { (void *)rl->data, rl->len };
	struct cc_frame f;

	/* Plaintexts correlate with the end-to-end flow, as if there were no relay. */
	if (__builtin_expect(cc_nest.ssl != NULL, 0))
		nest_note(IPPROTO_UDP, &rl->relayed, &rl->peer, 0);
	if (__builtin_expect(cc_dm_active, 0))
		cc_dm_datagram(&in, 1, rl->len, outgoing, &rl->relayed, &rl->peer, ts);

	memset(&f, 0, sizeof(f));
	if (__builtin_expect(cc_sm_watch | cc_dm_active, 0))
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

void cc_tcp_connected(int fd, struct cc_fd *e, int active)
{
	uint64_t ts = cc_now();
	uint32_t l, p;

	cc_refresh_local(fd, e);
	cc_refresh_peer(fd, e);
	clear_flags(e, FDF_CONNECTING);
	if (!(fd_flags(e) & FDF_PEER) || !(fd_flags(e) & FDF_LOCAL))
		return;
	l = isn(&e->local, &e->peer);
	p = isn(&e->peer, &e->local);
	e->mss = (uint16_t)getint(fd, IPPROTO_TCP, TCP_MAXSEG, 1460);
	if (e->mss < 536)
		e->mss = 536;
	e->snd_seq = l + 1;
	e->rcv_seq = p + 1;
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

void cc_tcp_data(int fd, struct cc_fd *e, int outgoing, const struct iovec *iov, int iovcnt, size_t len)
{
	struct cc_frame f;
	uint64_t ts;
	uint32_t seq;

	if (fd_flags(e) & FDF_CONNECTING)
		cc_tcp_connected(fd, e, 1);     /* a non-blocking connect finished */
	if (!(fd_flags(e) & FDF_TCP_OPEN) || !len)
		return;
	if (__builtin_expect(cc_nest.ssl != NULL, 0))
		nest_note(IPPROTO_TCP, &e->local, &e->peer, (fd_flags(e) & FDF_ACCEPTED) != 0);
	ts = cc_now();
	seq = __atomic_fetch_add(outgoing ? &e->snd_seq : &e->rcv_seq, (uint32_t)len, __ATOMIC_RELAXED);
	tcp_frame(e, &f, outgoing, CC_TCP_PSH | CC_TCP_ACK);
	f.ack = outgoing ? e->rcv_seq : e->snd_seq;
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
	if (!(fd_flags(e) & FDF_TCP_OPEN) || (__atomic_fetch_or(&e->flags, bit, __ATOMIC_RELAXED) & bit))
		return;
	seq = __atomic_fetch_add(outgoing ? &e->snd_seq : &e->rcv_seq, 1, __ATOMIC_RELAXED);
	ack = outgoing ? e->rcv_seq : e->snd_seq;
	tcp_ctl(e, cc_now(), outgoing, CC_TCP_FIN | CC_TCP_ACK, seq, ack);
}

/* ---- Plaintext ---- */

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
	} else if ((proto == IPPROTO_TCP || pf->mapped) && f->src.family == AF_INET) {
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
}

/* The plaintext stream of a TLS connection has its own sequence space, apart from the wire's. */
static uint32_t plain_isn(const struct cc_addr *src, const struct cc_addr *dst)
{
	return isn(src, dst) ^ 0x5ca1ab1e;
}

/* The plaintext stream's handshake, opened by whichever end opened the TCP connection. */
static void plain_tcp_open(struct cc_plainflow *pf, uint64_t ts, const char *note)
{
	struct cc_frame f;
	uint32_t l = plain_isn(&pf->local, &pf->peer), p = plain_isn(&pf->peer, &pf->local);
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

/* ---- Socket options ---- */

void cc_sockopt(int fd, struct cc_fd *e, int level, int name, const void *val, socklen_t len)
{
	int v = 0;

	if (val && len >= sizeof(int))
		memcpy(&v, val, sizeof(int));
	else if (val && len == 1)
		v = *(const uint8_t *)val;
	if (level == IPPROTO_IP || level == IPPROTO_IPV6) {
		if ((level == IPPROTO_IP && name == IP_PKTINFO) || (level == IPPROTO_IPV6 && name == IPV6_RECVPKTINFO)) {
			if (v) {
				set_flags(e, FDF_USER_PKTINFO);
			} else {
				clear_flags(e, FDF_USER_PKTINFO);
				/* The program turned off what we need too: turn ours back on, still hidden. */
				if (fd_flags(e) & FDF_PKTINFO) {
					clear_flags(e, FDF_PKTINFO);
					enable_pktinfo(fd, e);
				}
			}
		}
		if ((level == IPPROTO_IP && name == IP_RECVTOS) || (level == IPPROTO_IPV6 && name == IPV6_RECVTCLASS))
			v ? set_flags(e, FDF_RECV_TOS) : clear_flags(e, FDF_RECV_TOS);
		if ((level == IPPROTO_IP && name == IP_RECVTTL) || (level == IPPROTO_IPV6 && name == IPV6_RECVHOPLIMIT))
			v ? set_flags(e, FDF_RECV_TTL) : clear_flags(e, FDF_RECV_TTL);
		/* Defaults (-1) and masking are the kernel's business: ask it for the effective values. */
		load_ip_opts(fd, e);
	} else if (level == IPPROTO_UDP && name == UDP_SEGMENT) {
		e->gso_size = (uint16_t)v;
	} else if (level == IPPROTO_UDP && name == UDP_GRO) {
		v ? set_flags(e, FDF_GRO) : clear_flags(e, FDF_GRO);
	}
}
