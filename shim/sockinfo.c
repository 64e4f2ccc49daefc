/*
 * What clearcap knows of each socket: its kind (UDP, TCP, other), its addresses, the IP options
 * its packets carry, and the socket options that change them.  Everything that needs a system
 * call is asked once and kept in the fd table.
 */
#include "shim/capture_int.h"
#include "shim/real.h"
#include "shim/tcpinfo.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <sys/stat.h>

/* The real getsockopt: ours hides our packet-info option (hook_socket.c), which we ask about. */
static int real_getsockopt(int fd, int level, int name, void *v, socklen_t *l)
{
	if (__builtin_expect(!cc_real.getsockopt, 0))
		cc_real_init();
	return cc_real.getsockopt(fd, level, name, v, l);
}

int cc_sock_getint(int fd, int level, int name, int dflt)
{
	int v;
	socklen_t l = sizeof(v);

	return real_getsockopt(fd, level, name, &v, &l) == 0 ? v : dflt;
}

/* The values the kernel will put in the IP header of what this socket sends. */
static void load_ip_opts(int fd, struct cc_fd *e)
{
	if (e->family == AF_INET6) {
		e->tos = (uint8_t)cc_sock_getint(fd, IPPROTO_IPV6, IPV6_TCLASS, 0);
		e->ttl = (uint8_t)cc_sock_getint(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 64);
		e->mcast_ttl = (uint8_t)cc_sock_getint(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 1);
	} else {
		e->tos = (uint8_t)cc_sock_getint(fd, IPPROTO_IP, IP_TOS, 0);
		e->ttl = (uint8_t)cc_sock_getint(fd, IPPROTO_IP, IP_TTL, 64);
		e->mcast_ttl = (uint8_t)cc_sock_getint(fd, IPPROTO_IP, IP_MULTICAST_TTL, 1);
		/* The address multicast leaves from when the program chose one (else the route's). */
		struct in_addr mif = { 0 };
		socklen_t l = sizeof(mif);
		e->mcast_if = real_getsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mif, &l) == 0 && l == sizeof(mif)
				      ? mif.s_addr : 0;
	}
	cc_fd_changed();
}

/* The packet-info option we enable on a socket of e's family: IP_PKTINFO, or IPV6_RECVPKTINFO. */
static int pktinfo_opt(const struct cc_fd *e, int *name)
{
	*name = e->family == AF_INET6 ? IPV6_RECVPKTINFO : IP_PKTINFO;
	return e->family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP;
}

/*
 * The entries of the other descriptors of fd's UDP socket (dups of it: the kernel keeps one set
 * of options for the socket), fn called on each.  Only in a process that ever duplicated a UDP
 * socket: one fstat per UDP descriptor.  Unlocked: a descriptor another thread closes and
 * reuses for a new UDP socket in between may take these bits (its own come back when it is
 * classified).
 */
static void siblings(int fd, void (*fn)(struct cc_fd *o, struct cc_fd *e), struct cc_fd *e)
{
	struct stat a, b;

	if (!__atomic_load_n(&cc_udp_duped, __ATOMIC_RELAXED) || fstat(fd, &a) != 0)
		return;
	for (unsigned ch = 0; ch < CC_FD_NCHUNKS; ch++) {
		struct cc_fd *c = __atomic_load_n(&cc_fd_chunks[ch], __ATOMIC_ACQUIRE);
		if (!c)
			continue;
		for (unsigned i = 0; i < 1u << CC_FD_CHUNK_BITS; i++) {
			int other = (int)(ch << CC_FD_CHUNK_BITS | i);
			if (other != fd && fd_kind(&c[i]) == FDK_UDP && fstat(other, &b) == 0 && b.st_ino == a.st_ino &&
			    b.st_dev == a.st_dev)
				fn(&c[i], e);
		}
	}
}

static void copy_opts(struct cc_fd *o, struct cc_fd *e)
{
	__atomic_fetch_and(&o->flags, (uint16_t)~FDF_SOCK_OPTS, __ATOMIC_RELAXED);
	__atomic_fetch_or(&o->flags, (uint16_t)(fd_flags(e) & FDF_SOCK_OPTS), __ATOMIC_RELAXED);
	o->gso_size = e->gso_size;
	o->tos = e->tos;
	o->ttl = e->ttl;
	o->mcast_ttl = e->mcast_ttl;
	o->mcast_if = e->mcast_if;
}

/* Every other descriptor of fd's socket takes e's option state (after it changed through fd). */
static void spread_opts(int fd, struct cc_fd *e)
{
	if (fd_kind(e) != FDK_UDP || !__atomic_load_n(&cc_udp_duped, __ATOMIC_RELAXED))
		return;
	siblings(fd, copy_opts, e);
	cc_fd_changed();
}

/* Whether another descriptor of the socket has its packet info as ours (found: *e gets the bit). */
static void take_ours(struct cc_fd *o, struct cc_fd *e)
{
	if ((fd_flags(o) & FDF_PKTINFO) && !(fd_flags(o) & FDF_USER_PKTINFO))
		set_flags(e, FDF_PKTINFO);
}

/*
 * On a wildcard-bound UDP socket only the datagram itself knows which local address it reached;
 * IP(V6)_PKTINFO makes the kernel say so.  The hooks strip it again from what the program sees.
 */
static void enable_pktinfo(int fd, struct cc_fd *e)
{
	int one = 1, on = 0, name;
	int level = pktinfo_opt(e, &name);
	socklen_t l = sizeof(on);

	if (fd_flags(e) & (FDF_PKTINFO | FDF_USER_PKTINFO))
		return;
	/*
	 * On already, on a socket first seen now (inherited over exec, as systemd's PassPacketInfo
	 * passes them): the program's, which must keep getting it; unless we turned it on through
	 * another descriptor of the same socket (a dup made before the bind).
	 */
	if (real_getsockopt(fd, level, name, &on, &l) == 0 && on) {
		siblings(fd, take_ours, e);
		if (!(fd_flags(e) & FDF_PKTINFO))
			set_flags(e, FDF_USER_PKTINFO);
		return;
	}
	if (cc_real.setsockopt(fd, level, name, &one, sizeof(one)) == 0) {
		set_flags(e, FDF_PKTINFO);
		spread_opts(fd, e);     /* a dup made before the bind strips it too */
	}
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
	} else if (addr_is_any(&a)) {
		set_flags(e, FDF_LOCAL | FDF_WILDCARD);
		if (fd_kind(e) == FDK_UDP)
			enable_pktinfo(fd, e);
	} else {
		clear_flags(e, FDF_WILDCARD);
		set_flags(e, FDF_LOCAL);
	}
	cc_fd_changed();
}

void cc_refresh_peer(int fd, struct cc_fd *e)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *)&ss, &l) == 0 && cc_addr_from_sa(&e->peer, (struct sockaddr *)&ss, l) == 0)
		set_flags(e, FDF_PEER);
	else
		clear_flags(e, FDF_PEER);
	cc_fd_changed();
}

static void setup(int fd, struct cc_fd *e, int family, int kind)
{
	e->family = (uint8_t)family;
	__atomic_store_n(&e->flags, 0, __ATOMIC_RELAXED);
	e->gso_size = 0;
	e->mss = 1460;
	e->fork_gen = __atomic_load_n(&cc_fork_gen, __ATOMIC_RELAXED);
	cc_fd_unshare(e);               /* a number closed behind our back is a new socket now */
	memset(&e->local, 0, sizeof(e->local));
	memset(&e->peer, 0, sizeof(e->peer));
	__atomic_store_n(&e->kind, (uint8_t)kind, __ATOMIC_RELEASE); /* before load_ip_opts/refresh */
	load_ip_opts(fd, e);            /* (which counts the change: cc_fd_changed) */
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
		cc_fd_changed();
		return NULL;
	}
	__atomic_store_n(&e->kind, FDK_UNKNOWN, __ATOMIC_RELEASE);
	setup(fd, e, family, kind);
	return e;
}

static struct cc_fd *classify(int fd);

/* Before the program's own call, on its first sight of fd: the questions asked keep errno. */
struct cc_fd *cc_classify(int fd)
{
	int saved = errno;
	struct cc_fd *e = classify(fd);

	errno = saved;
	return e;
}

static struct cc_fd *classify(int fd)
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
	if (real_getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l) < 0) {
		if (errno == ENOTSOCK)
			__atomic_store_n(&e->kind, FDK_OTHER, __ATOMIC_RELEASE);
		return NULL;
	}
	type = cc_sock_getint(fd, SOL_SOCKET, SO_TYPE, 0);
	proto = cc_sock_getint(fd, SOL_SOCKET, SO_PROTOCOL, 0);
	e = cc_fd_new(fd, dom, type, proto);
	if (!e)
		return NULL;
	cc_refresh_local(fd, e);
	cc_refresh_peer(fd, e);
	/* A socket made before we saw it may have a peek offset set (hook_socket.c, kflags). */
	if (fd_kind(e) == FDK_UDP && cc_sock_getint(fd, SOL_SOCKET, SO_PEEK_OFF, -1) >= 0)
		set_flags(e, FDF_PEEK_OFF);
	if (fd_kind(e) == FDK_TCP && (fd_flags(e) & FDF_PEER)) {
		/*
		 * Joined mid-stream: no handshake to show, but sequence numbers must still add up,
		 * going on from the bytes already written and read (tcpinfo.c).  A socket this image
		 * found under another number already is that stream: one stream, numbered once, one
		 * FIN at the last close (as after a dup), whichever number moves its bytes.
		 */
		struct cc_fd *o = cc_fd_find_stream(fd, &e->local, &e->peer);
		uint32_t written = 0, read = 0;
		if (o) {
			cc_fd_dup_tcp(o, fd);
			if (fd_kind(e) != FDK_TCP)
				return NULL;
		} else {
			e->mss = (uint16_t)cc_sock_getint(fd, IPPROTO_TCP, TCP_MAXSEG, 1460);
			(void)fd_isn_gen(e, -1);
		}
		/* From the kernel's counts now, either way (the callers' rule); where it cannot say, a
		 * new stream starts at 0 and one found under another number keeps its own. */
		if (cc_tcp_app_bytes(fd, &written, &read) == 0 || !o) {
			__atomic_store_n(fd_seq(e, 1), cc_tcp_isn(&e->local, &e->peer, e->isn_gen) + 1 + written,
					 __ATOMIC_RELAXED);
			__atomic_store_n(fd_seq(e, 0), cc_tcp_isn(&e->peer, &e->local, e->isn_gen) + 1 + read,
					 __ATOMIC_RELAXED);
		}
		set_flags(e, FDF_TCP_OPEN);
	}
	return e;
}

int cc_sockopt_ours(const struct cc_fd *e, int level, int name)
{
	int ours_name, ours_level = pktinfo_opt(e, &ours_name);

	return level == ours_level && name == ours_name && (fd_flags(e) & FDF_PKTINFO) &&
	       !(fd_flags(e) & FDF_USER_PKTINFO);
}

void cc_sockopt(int fd, struct cc_fd *e, int level, int name, const void *val, socklen_t len)
{
	int v = 0;

	/* As the kernel reads it: an int, or for 1 to 3 bytes their first (IP level; the others refuse). */
	if (val && len >= sizeof(int))
		memcpy(&v, val, sizeof(int));
	else if (val && len >= 1)
		v = *(const uint8_t *)val;
	if (level == IPPROTO_IP || level == IPPROTO_IPV6) {
		/* The option we enable on this family's sockets (enable_pktinfo): the program's too. */
		int ours_name, ours_level = pktinfo_opt(e, &ours_name);
		if (level == ours_level && name == ours_name) {
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
		cc_fd_changed();
	} else if (level == IPPROTO_UDP && name == UDP_GRO) {
		v ? set_flags(e, FDF_GRO) : clear_flags(e, FDF_GRO);
		cc_fd_changed();        /* the receiving lane splits nothing (capture_int.h) */
	} else if (level == SOL_SOCKET && name == SO_PEEK_OFF && fd_kind(e) == FDK_UDP) {
		v >= 0 ? set_flags(e, FDF_PEEK_OFF) : clear_flags(e, FDF_PEEK_OFF);
		cc_fd_changed();        /* the receiving lane adds MSG_TRUNC: not for this socket now */
	}
	if (level == IPPROTO_IP || level == IPPROTO_IPV6 || level == IPPROTO_UDP ||
	    (level == SOL_SOCKET && name == SO_PEEK_OFF))
		spread_opts(fd, e);
}
