/*
 * Socket hooks: receiving and the socket life cycle (sending is hook_send.c's).  Each reads top
 * to bottom in three layers: the exported symbol, our logic, the real call (as in socket_wrapper).  The program's view never changes: return value, errno,
 * buffers, addresses and control messages are what the real call gave; errno is saved right after
 * the real call and restored before returning.
 *
 * Receives on UDP sockets may run as recvmsg with our own name and control buffers, so that the
 * peer and the local address of each datagram are known even when the program did not ask for
 * them; what the program asked for is copied back exactly as the kernel would have written it.
 */
#include "shim/capture.h"
#include "shim/hook_socket.h"
#include "shim/capture_int.h"
#include "shim/hooks.h"
#include "shim/impair.h"
#include "shim/hotlane.h"
#include "pcapout/writer.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- Receiving ---- */

/*
 * Whether c is the packet-info message we enabled on a socket of family `strip` (0: none):
 * IP_PKTINFO on an IPv4 socket, IPV6_PKTINFO on an IPv6 one.  An IPv6 socket's IP_PKTINFO (for
 * IPv4 datagrams on a dual-stack socket) is the program's own option, never ours.
 */
static inline int ours(const struct cmsghdr *c, int strip)
{
	return strip == AF_INET ? c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO
	       : strip == AF_INET6 ? c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO : 0;
}

/*
 * Copies the control messages of `from` into the program's buffer as the kernel's put_cmsg()
 * would have, leaving out the packet info we enabled ourselves on a socket of family `strip`.
 */
static void copy_cmsgs(struct msghdr *um, struct msghdr *from, int strip)
{
	uint8_t *dst = um->msg_control;
	size_t cap = dst ? um->msg_controllen : 0, used = 0;
	int trunc = (from->msg_flags & MSG_CTRUNC) != 0;
	struct cmsghdr *c;

	for (c = CMSG_FIRSTHDR(from); c; c = CMSG_NXTHDR(from, c)) {
		if (ours(c, strip))
			continue;
		size_t len = c->cmsg_len, space = CMSG_SPACE(c->cmsg_len - CMSG_LEN(0));
		if (cap - used < sizeof(struct cmsghdr)) {
			trunc = 1;
			break;
		}
		memcpy(dst + used, c, len > cap - used ? cap - used : len);
		if (len > cap - used) {
			/* Cut short, its header says how much is there, as put_cmsg() writes it. */
			len = cap - used;
			memcpy(dst + used + offsetof(struct cmsghdr, cmsg_len), &len, sizeof(len));
			trunc = 1;
		}
		used += space < cap - used ? space : cap - used;
	}
	um->msg_controllen = used;
	um->msg_flags = (from->msg_flags & ~MSG_CTRUNC) | (trunc ? MSG_CTRUNC : 0);
}

/*
 * Removes our packet info (socket family `strip`) from a control buffer the kernel filled directly
 * (programs whose own buffer is larger than we substitute on the stack have room for it, so
 * nothing was truncated).
 */
static void strip_in_place(struct msghdr *um, int strip)
{
	uint8_t *base = um->msg_control;
	size_t out = 0;
	struct cmsghdr *c, *next;

	if (!base || um->msg_controllen < sizeof(struct cmsghdr))
		return;
	/* The next header found before the move: a message moved down may cover this one's. */
	for (c = CMSG_FIRSTHDR(um); c; c = next) {
		next = CMSG_NXTHDR(um, c);
		size_t space = CMSG_SPACE(c->cmsg_len - CMSG_LEN(0));
		if (ours(c, strip))
			continue;
		if ((uint8_t *)c + space > base + um->msg_controllen)
			space = (size_t)(base + um->msg_controllen - (uint8_t *)c);
		memmove(base + out, c, space);
		out += space;
	}
	um->msg_controllen = out;
}

static inline int ours_to_strip(const struct cc_fd *e)
{
	return (fd_flags(e) & FDF_PKTINFO) && !(fd_flags(e) & FDF_USER_PKTINFO);
}

/* Whether a UDP receive must run through our own name/control buffers. */
static inline int need_sub(const struct cc_fd *e)
{
	return !(fd_flags(e) & FDF_PEER) || ours_to_strip(e);
}

/*
 * The flags a UDP receive is made with: the program's, and MSG_TRUNC, so that the kernel says
 * how long a datagram cut short by the program's buffer was (the file then shows it cut short,
 * not as a whole shorter datagram).  What the program gets back is what it would have got:
 * given_back() below.  (Not with MSG_ERRQUEUE: an error's length is the kernel's as it is; nor
 * with MSG_PEEK, whose count SO_PEEK_OFF makes differ, and a peek is not recorded; nor on a
 * socket with SO_PEEK_OFF set, whose offset the kernel would move back by the whole datagram
 * instead of by what was read: there a datagram cut short is recorded as long as what was read.)
 */
static inline int kflags(const struct cc_fd *e, int flags)
{
	return (flags & (MSG_ERRQUEUE | MSG_PEEK)) || (fd_flags(e) & FDF_PEEK_OFF) ? flags : flags | MSG_TRUNC;
}

/* The kernel's count r (the datagram's length) as the program's call returns it, room bytes asked. */
static inline ssize_t given_back(int flags, ssize_t r, size_t room)
{
	return r > 0 && (size_t)r > room && !(flags & MSG_TRUNC) ? (ssize_t)room : r;
}

#define CTL_EXTRA 64            /* room for our IPV6_PKTINFO: CMSG_SPACE(20) = 40 */
#define CTL_STACK_MAX 8192

/* Sets up `m` to receive into the program's um with our own name and control buffers. */
static void sub_prepare(struct msghdr *m, const struct msghdr *um, struct sockaddr_storage *ss, uint8_t *ctl,
			size_t ctllen)
{
	m->msg_name = ss;
	m->msg_namelen = sizeof(*ss);
	m->msg_iov = um->msg_iov;
	m->msg_iovlen = um->msg_iovlen;
	m->msg_control = ctl;
	m->msg_controllen = ctllen;
	m->msg_flags = 0;
}

/*
 * Records one received datagram of r bytes: the data is in `data`'s iovecs, the sender's name
 * and the control messages in `ctl` (the program's msghdr, or ours when we substituted).
 */
static void udp_received_note(int fd, struct cc_fd *e, const struct msghdr *data, const struct msghdr *ctl, int flags,
			      size_t r, const char *note)
{
	struct cc_meta meta = { .tos = -1, .ttl = -1 };
	size_t room = cc_msg_room(data);

	if (flags & (MSG_PEEK | MSG_ERRQUEUE))
		return;
	cc_meta_from_cmsg(&meta, ctl);
	if (note)
		cc_cap_udp_note(fd, e, 0, ctl->msg_name, ctl->msg_namelen, &meta, data->msg_iov, (int)data->msg_iovlen,
				r < room ? r : room, r, note);
	else if (!cc_udp_fast(e, 0, ctl->msg_name, ctl->msg_namelen, &meta, data->msg_iov, (int)data->msg_iovlen,
			      r < room ? r : room, r, -1))
		cc_cap_udp_general(fd, e, 0, ctl->msg_name, ctl->msg_namelen, &meta, data->msg_iov,
				   (int)data->msg_iovlen, r < room ? r : room, r);
}

static inline void udp_received(int fd, struct cc_fd *e, const struct msghdr *data, const struct msghdr *ctl,
				int flags, size_t r)
{
	udp_received_note(fd, e, data, ctl, flags, r, NULL);
}

static const char LOST_IN[] = "dropped by impairment (loss): received, and withheld from the program";

/*
 * Impairment of a received datagram: when it is to be lost, it is written as such and the hook
 * receives again with the same flags, so that a blocking call blocks for the next datagram and a
 * non-blocking one returns EAGAIN only when nothing else is queued (as after a datagram the
 * kernel drops for a bad checksum, which select(2) documents).
 */
static inline int lost_in(int fd, struct cc_fd *e, const struct msghdr *data, const struct msghdr *ctl, int flags,
			  size_t r)
{
	if (__builtin_expect(!cc_impair_in, 1) || (flags & MSG_ERRQUEUE))
		return 0;
	size_t room = cc_msg_room(data);
	if (!cc_impair_recv_lost(fd, e, ctl->msg_name, ctl->msg_namelen, data->msg_iov, (int)data->msg_iovlen,
				 r < room ? r : room, flags & MSG_PEEK))
		return 0;
	int saved = errno;
	udp_received_note(fd, e, data, ctl, flags & ~MSG_PEEK, r, LOST_IN);
	/*
	 * Withheld when peeked: off the socket now (a zero-length read discards a datagram), so that
	 * the peek that follows and the next receive both see the datagram after it.
	 */
	if (flags & MSG_PEEK)
		cc_real.recvfrom(fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
	errno = saved;
	return 1;
}

/* Gives the program what the kernel would have given it, then records the datagram. */
static void sub_finish(int fd, struct cc_fd *e, struct msghdr *um, struct msghdr *m, int flags, size_t r)
{
	int strip = ours_to_strip(e);

	/* The kernel writes the name and its length only when the program gave a buffer. */
	if (um->msg_name) {
		size_t n = m->msg_namelen < um->msg_namelen ? m->msg_namelen : um->msg_namelen;
		memcpy(um->msg_name, m->msg_name, n);
		um->msg_namelen = m->msg_namelen;
	}
	copy_cmsgs(um, m, strip ? e->family : 0);
	udp_received(fd, e, um, m, flags, r);
}

/* Receives into um through our own name buffer and the control buffer ctl[0..ctllen). */
static ssize_t udp_recvmsg_sub(int fd, struct cc_fd *e, struct msghdr *um, int flags, uint8_t *ctl, size_t ctllen)
{
	struct sockaddr_storage ss;
	struct msghdr m;
	ssize_t r;

	do
		sub_prepare(&m, um, &ss, ctl, ctllen);
	while ((r = cc_real.recvmsg(fd, &m, kflags(e, flags))) >= 0 && lost_in(fd, e, um, &m, flags, (size_t)r));
	if (r >= 0) {
		int saved = errno;
		sub_finish(fd, e, um, &m, flags, (size_t)r);
		errno = saved;
	}
	/* (The vector is read only after a receive: one the kernel refused may not be readable.) */
	return r > 0 ? given_back(flags, r, cc_msg_room(um)) : r;
}

/* recvmsg on a UDP socket, with substitution when needed. */
static ssize_t udp_recvmsg(int fd, struct cc_fd *e, struct msghdr *um, int flags)
{
	size_t ctllen = (um->msg_control ? um->msg_controllen : 0) + CTL_EXTRA;
	ssize_t r;

	/* A name buffer with a negative length: the kernel's EINVAL, nothing received. */
	if (__builtin_expect(um->msg_name && (int)um->msg_namelen < 0, 0))
		return cc_real.recvmsg(fd, um, flags);
	if (__builtin_expect(need_sub(e) && ctllen <= CTL_STACK_MAX, 1)) {
		uint8_t ctl[ctllen] __attribute__((aligned(8)));
		return udp_recvmsg_sub(fd, e, um, flags, ctl, ctllen);
	}
	/*
	 * A control buffer larger than we take on the stack: ours from mmap (async-signal-safe, as
	 * recvmsg is; malloc is not), so that the program's bytes past what the kernel would have
	 * written stay as they were.  Rare: only where mmap fails is our packet info stripped from
	 * the program's own buffer, in place, below.
	 */
	if (need_sub(e) && ctllen <= INT_MAX) {
		int saved = errno;
		void *big = mmap(NULL, ctllen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		errno = saved;          /* (a failure's ENOMEM is not the program's) */
		if (big != MAP_FAILED) {
			r = udp_recvmsg_sub(fd, e, um, flags, big, ctllen);
			saved = errno;
			munmap(big, ctllen);
			errno = saved;
			return r;
		}
	}
	/* Nothing to add (a connected socket, packet info the program's), or no room: directly. */
	socklen_t namelen = um->msg_namelen;
	size_t controllen = um->msg_controllen;
	while ((r = cc_real.recvmsg(fd, um, kflags(e, flags))) >= 0 && lost_in(fd, e, um, um, flags, (size_t)r)) {
		um->msg_namelen = namelen;
		um->msg_controllen = controllen;
	}
	if (r >= 0) {
		int saved = errno;
		udp_received(fd, e, um, um, flags, (size_t)r);
		errno = saved;
	}
	if (r >= 0 && ours_to_strip(e))
		strip_in_place(um, e->family);
	return r > 0 ? given_back(flags, r, cc_msg_room(um)) : r;
}

/*
 * A receive that needs the hot lane's flags alone (hot_recv, below): plain or
 * MSG_DONTWAIT, nothing impaired.  Its socket's next receives may take the lane.
 */
static inline int rx_lane_flags(int flags)
{
	return !(flags & ~MSG_DONTWAIT) && !__builtin_expect(__atomic_load_n(&cc_impair_in, __ATOMIC_RELAXED), 0);
}

/*
 * After a receive on UDP socket fd (entry e) without control data: r bytes (r >= 0) in
 * buf[0..len), from the peer named in name[0..namelen) (NULL: the connected one).  No control
 * data here: the usual datagram goes straight to its path, which leaves errno alone
 * (shim/hook_send.c, sent_after); the general one is kept from it.
 */
static inline __attribute__((always_inline)) void udp_recv_done(int fd, struct cc_fd *e, void *buf, size_t len, int flags,
								 ssize_t r, struct sockaddr *name, socklen_t namelen)
{
	struct iovec v = { buf, len };
	struct msghdr m = { .msg_name = name, .msg_namelen = name ? namelen : 0, .msg_iov = &v, .msg_iovlen = 1 };

	if ((flags & (MSG_PEEK | MSG_ERRQUEUE)) ||
	    !cc_udp_fast(e, 0, m.msg_name, m.msg_namelen, NULL, &v, 1, (size_t)r < len ? (size_t)r : len, (size_t)r,
			 rx_lane_flags(flags) ? fd : -1)) {
		int saved = errno;
		udp_received(fd, e, &m, &m, flags, (size_t)r);
		errno = saved;
	}
}

/*
 * recv, recvfrom and read on a UDP socket.  With no control message to read (none we enabled, none
 * the program did) this is one recvfrom, which costs what the program's own call would: recvmsg
 * costs the kernel more.  Only an unconnected socket needs the sender's name, in a buffer of ours
 * when the program gave none.
 */
static inline __attribute__((always_inline)) ssize_t udp_recv(int fd, struct cc_fd *e, void *buf, size_t len,
								int flags, struct sockaddr *from, socklen_t *fromlen)
{
	unsigned fl = fd_flags(e);

	/* A name buffer without a usable length: the kernel's EFAULT or EINVAL, as without us. */
	if (__builtin_expect(from && (!fromlen || (int)*fromlen < 0), 0))
		return cc_real.recvfrom(fd, buf, len, flags, from, fromlen);
	if (!(fl & (FDF_PKTINFO | FDF_USER_PKTINFO | FDF_RECV_TOS | FDF_RECV_TTL | FDF_GRO))) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		/*
		 * Ours when the program's buffer would not take a whole name of the socket's family, so
		 * that its bad buffer stays the kernel's EFAULT to give wherever it can.  (A name
		 * buffer without a length is the program's EFAULT to get, as without us.)
		 */
		socklen_t whole = e->family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
		int own_name = !(fl & FDF_PEER) && !(from && (!fromlen || *fromlen >= whole));
		socklen_t asked = fromlen ? *fromlen : 0;
		ssize_t r;
	again:
		r = own_name ? cc_real.recvfrom(fd, buf, len, kflags(e, flags), (struct sockaddr *)&ss, &sl)
			     : cc_real.recvfrom(fd, buf, len, kflags(e, flags), from, fromlen);
		if (r < 0)
			return r;
		if (__builtin_expect(cc_impair_in, 0)) {
			struct iovec v = { buf, len };
			struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1 };
			m.msg_name = own_name ? (void *)&ss : from && fromlen ? (void *)from : NULL;
			m.msg_namelen = own_name ? sl : from && fromlen ? *fromlen : 0;
			if (lost_in(fd, e, &m, &m, flags, (size_t)r)) {
				sl = sizeof(ss);
				if (fromlen)
					*fromlen = asked;
				goto again;
			}
		}
		if (own_name && from && fromlen) {
			/* What the kernel does with a short buffer: as much as fits, and the real length. */
			memcpy(from, &ss, sl < *fromlen ? sl : *fromlen);
			*fromlen = sl;
		}
		/* A name the program's buffer cut short (a connected socket's) names nobody: its peer then. */
		if (own_name)
			udp_recv_done(fd, e, buf, len, flags, r, (struct sockaddr *)&ss, sl);
		else if (from && fromlen && *fromlen <= asked)
			udp_recv_done(fd, e, buf, len, flags, r, from, *fromlen);
		else
			udp_recv_done(fd, e, buf, len, flags, r, NULL, 0);
		return given_back(flags, r, len);
	}
	struct iovec v = { buf, len };
	struct msghdr um = { .msg_name = from, .msg_namelen = from && fromlen ? *fromlen : 0, .msg_iov = &v,
			     .msg_iovlen = 1 };
	ssize_t r = udp_recvmsg(fd, e, &um, flags);

	if (r >= 0 && from && fromlen)
		*fromlen = um.msg_namelen;
	return r;
}

static void tcp_received(int fd, struct cc_fd *e, const struct iovec *iov, int iovcnt, ssize_t r, size_t asked,
			 int flags)
{
	int saved = errno;

	if (flags & MSG_PEEK)
		;
	else if (r > 0 && (flags & MSG_TRUNC))
		__atomic_fetch_add(fd_seq(e, 0), (uint32_t)r, __ATOMIC_RELAXED);  /* discarded unseen */
	else if (r > 0)
		cc_tcp_data(fd, e, 0, iov, iovcnt, (size_t)r);
	else if (r == 0 && asked > 0)
		cc_tcp_fin(fd, e, 0);
	else if (r < 0 && (fd_flags(e) & FDF_CONNECTING))
		cc_tcp_failed(fd, e, saved);    /* a non-blocking connect's failure, learned here */
	errno = saved;
}

static __attribute__((noinline)) ssize_t recvfrom_on(int fd, void *buf, size_t len, int flags, struct sockaddr *from, socklen_t *fromlen)
{
	struct cc_fd *e = captured_on(fd);
	if (!e)
		return cc_real.recvfrom(fd, buf, len, flags, from, fromlen);
	if (fd_kind(e) == FDK_UDP)
		return udp_recv(fd, e, buf, len, flags, from, fromlen);
	ssize_t r = cc_real.recvfrom(fd, buf, len, flags, from, fromlen);
	struct iovec v = { buf, r > 0 ? (size_t)r : 0 };
	tcp_received(fd, e, &v, 1, r, len, flags);
	return r;
}

/* ---- The receiving hot lane (cc_hot_rx, capture_int.h) ---- */

static ssize_t recv_on(int fd, void *buf, size_t len, int flags);
static ssize_t read_on(int fd, void *buf, size_t len);

enum rx_kind { RX_RECVFROM, RX_RECV, RX_READ };

/* Not the lane: the usual path. */
static __attribute__((noinline)) ssize_t rx_cold(enum rx_kind kind, int fd, void *buf, size_t len, int flags,
						 struct sockaddr *from, socklen_t *fromlen)
{
	return kind == RX_READ ? read_on(fd, buf, len)
	       : kind == RX_RECV ? recv_on(fd, buf, len, flags) : recvfrom_on(fd, buf, len, flags, from, fromlen);
}

/* The lane's call was made, its datagram not queued there: the usual path after the call. */
static __attribute__((noinline)) ssize_t rx_done(int fd, void *buf, size_t len, int flags, ssize_t r,
						 struct sockaddr *name, const socklen_t *namelen)
{
	struct cc_fd *e;

	if (r >= 0 && (e = captured_on(fd)) && fd_kind(e) == FDK_UDP)
		udp_recv_done(fd, e, buf, len, flags, r, name, name ? *namelen : 0);
	return r;
}

/*
 * recvfrom, recv or read (kind) on this thread's receiving hot socket, the usual datagram queued.
 * The call is glibc's recvfrom, as on the usual path (a receive may wait: cancellation stays
 * glibc's).  The name asked for is the program's when it fits an IPv4 peer's (a lane that names
 * its peer is an IPv4 socket's, capture_int.h), else ours when the lane names its peer, else
 * none: a connected socket's datagrams come from its peer.  A receive may wait while a switch
 * moves: the count is read again after it.
 */
static inline __attribute__((always_inline)) ssize_t hot_recv(enum rx_kind kind, int fd, void *buf, size_t len,
							      int flags, struct sockaddr *from, socklen_t *fromlen)
{
	struct cc_hot *h = &cc_hot_rx;
	struct sockaddr_in own;
	socklen_t ownlen = sizeof(own);
	struct sockaddr *name = from;
	socklen_t *namelen = fromlen;
	uint32_t gen = __atomic_load_n(&cc_fd_gen, __ATOMIC_ACQUIRE);

	/*
	 * Busy from before the lane is read until its record is queued: a signal handler's own
	 * datagrams meanwhile (another socket, another peer) do not fill it again under us.  One
	 * may have done so since the exported hook looked (cc_hot_rfd, read again here).
	 */
	h->busy++;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (gen != h->gen || cc_hot_rfd != fd || !len || (flags & ~MSG_DONTWAIT) ||
	    (from && (!fromlen || *fromlen < sizeof(own)))) {
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		h->busy--;
		return rx_cold(kind, fd, buf, len, flags, from, fromlen);
	}
	socklen_t room = from ? *fromlen : sizeof(own);
	if (!from && h->sa) {
		name = (struct sockaddr *)&own;
		namelen = &ownlen;
	}
	/* (Longer than len: cut short, the usual path records it so.) */
	ssize_t r = cc_real.recvfrom(fd, buf, len, flags | MSG_TRUNC, name, namelen);
	if (__builtin_expect(r > 0 && r <= 65535 && (size_t)r <= len && __atomic_load_n(&cc_fd_gen, __ATOMIC_ACQUIRE) == gen, 1)) {
		uint64_t sa = 0;
		if (name && h->sa && *namelen == sizeof(own))
			memcpy(&sa, name, 8);   /* family, port and address, as cc_udp_fast keeps them */
		/* What becomes of it by its first byte.  (Paused: the usual path, which counts it as kept out.) */
		int act = cc_hot_act(h, buf, (size_t)r);
		if (sa == h->sa && act != CC_HOT_USUAL && __atomic_load_n(cc_wq.on, __ATOMIC_RELAXED)) {
			if (__builtin_expect(act == CC_HOT_QUEUE, 1))
				cc_hot_queue(h, buf, (size_t)r);
			else
				cc_writer_count_filtered();
			__atomic_signal_fence(__ATOMIC_SEQ_CST);
			h->busy--;
			return r;
		}
	}
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	h->busy--;
	/* A name the program's buffer cut short names nobody: a connected socket's peer then. */
	return given_back(flags, rx_done(fd, buf, len, flags, r, name && r >= 0 && *namelen <= room ? name : NULL, namelen),
			  len);
}

static __attribute__((noinline)) ssize_t recvfrom_hot(int fd, void *buf, size_t len, int flags, struct sockaddr *from,
						      socklen_t *fromlen)
{
	return hot_recv(RX_RECVFROM, fd, buf, len, flags, from, fromlen);
}

static __attribute__((noinline)) ssize_t recv_hot(int fd, void *buf, size_t len, int flags)
{
	return hot_recv(RX_RECV, fd, buf, len, flags, NULL, NULL);
}

static __attribute__((noinline)) ssize_t read_hot(int fd, void *buf, size_t len)
{
	return hot_recv(RX_READ, fd, buf, len, 0, NULL, NULL);
}

/*
 * The exported receives.  The receiving lane is filled only while capturing (and cc_on is never
 * cleared), so it is looked at first.
 */
CC_EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *from, socklen_t *fromlen)
{
	if (cc_hot_rfd == fd)
		return recvfrom_hot(fd, buf, len, flags, from, fromlen);
	/* Off: one load and a tail call, no frame of our own. */
	if (!__atomic_load_n(&cc_on, __ATOMIC_ACQUIRE)) {
		REAL(recvfrom);
		return cc_real.recvfrom(fd, buf, len, flags, from, fromlen);
	}
	return recvfrom_on(fd, buf, len, flags, from, fromlen);
}


static __attribute__((noinline)) ssize_t recv_on(int fd, void *buf, size_t len, int flags)
{
	struct cc_fd *e = captured_on(fd);
	if (!e)
		return cc_real.recv(fd, buf, len, flags);
	if (fd_kind(e) == FDK_UDP)
		return udp_recv(fd, e, buf, len, flags, NULL, NULL);
	ssize_t r = cc_real.recv(fd, buf, len, flags);
	struct iovec v = { buf, r > 0 ? (size_t)r : 0 };
	tcp_received(fd, e, &v, 1, r, len, flags);
	return r;
}

CC_EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	if (cc_hot_rfd == fd)
		return recv_hot(fd, buf, len, flags);
	/* Off: one load and a tail call, no frame of our own. */
	if (!__atomic_load_n(&cc_on, __ATOMIC_ACQUIRE)) {
		REAL(recv);
		return cc_real.recv(fd, buf, len, flags);
	}
	return recv_on(fd, buf, len, flags);
}


static __attribute__((noinline)) ssize_t read_on(int fd, void *buf, size_t len)
{
	struct cc_fd *e = captured_on(fd);
	if (!e)
		return cc_real.read(fd, buf, len);
	/* (Reading nothing from a socket returns 0 at once: a receive would wait and take one.) */
	if (fd_kind(e) == FDK_UDP && len)
		return udp_recv(fd, e, buf, len, 0, NULL, NULL);
	ssize_t r = cc_real.read(fd, buf, len);
	struct iovec v = { buf, r > 0 ? (size_t)r : 0 };
	tcp_received(fd, e, &v, 1, r, len, 0);
	return r;
}

CC_EXPORT ssize_t read(int fd, void *buf, size_t len)
{
	if (cc_hot_rfd == fd)
		return read_hot(fd, buf, len);
	/* Off: one load and a tail call, no frame of our own. */
	if (!__atomic_load_n(&cc_on, __ATOMIC_ACQUIRE)) {
		REAL(read);
		return cc_real.read(fd, buf, len);
	}
	return read_on(fd, buf, len);
}


static __attribute__((noinline)) ssize_t readv_on(int fd, const struct iovec *iov, int iovcnt)
{
	struct cc_fd *e = captured_on(fd);
	/* (No vector: the kernel's EFAULT, as without us.) */
	if (!e || iovcnt < 0 || (!iov && iovcnt))
		return cc_real.readv(fd, iov, iovcnt);
	/*
	 * A datagram is received with recvmsg, as readv would, except where they differ: nothing to
	 * read (readv returns 0 at once) and too many iovecs (readv's EINVAL, recvmsg's EMSGSIZE).
	 */
	size_t want = 0;
	for (int i = 0; i < iovcnt && i <= IOV_MAX && !want; i++)
		want = iov[i].iov_len;
	if (fd_kind(e) == FDK_UDP && want && iovcnt <= IOV_MAX) {
		struct msghdr um = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
		return udp_recvmsg(fd, e, &um, 0);
	}
	ssize_t r = cc_real.readv(fd, iov, iovcnt);
	if (r < 0) {
		if (fd_flags(e) & FDF_CONNECTING)
			cc_tcp_failed(fd, e, errno);   /* a connect's failure, learned here */
		return r;       /* nothing to record, and a vector the kernel refused is not read */
	}
	size_t asked = 0;
	for (int i = 0; i < iovcnt; i++)
		asked += iov[i].iov_len;
	tcp_received(fd, e, iov, iovcnt, r, asked, 0);
	return r;
}

CC_EXPORT ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
	/* Off: one load and a tail call, no frame of our own. */
	if (!__atomic_load_n(&cc_on, __ATOMIC_ACQUIRE)) {
		REAL(readv);
		return cc_real.readv(fd, iov, iovcnt);
	}
	return readv_on(fd, iov, iovcnt);
}


static __attribute__((noinline)) ssize_t recvmsg_on(int fd, struct msghdr *msg, int flags)
{
	struct cc_fd *e = captured_on(fd);
	/* (No header: the kernel's EFAULT, as without us.) */
	if (!e || !msg)
		return cc_real.recvmsg(fd, msg, flags);
	if (fd_kind(e) == FDK_UDP)
		return udp_recvmsg(fd, e, msg, flags);
	ssize_t r = cc_real.recvmsg(fd, msg, flags);
	if (r < 0) {
		if (fd_flags(e) & FDF_CONNECTING)
			cc_tcp_failed(fd, e, errno);   /* a connect's failure, learned here */
		return r;       /* nothing to record, and a header the kernel refused is not read */
	}
	tcp_received(fd, e, msg->msg_iov, (int)msg->msg_iovlen, r, cc_msg_room(msg), flags);
	return r;
}

CC_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	/* Off: one load and a tail call, no frame of our own. */
	if (!__atomic_load_n(&cc_on, __ATOMIC_ACQUIRE)) {
		REAL(recvmsg);
		return cc_real.recvmsg(fd, msg, flags);
	}
	return recvmsg_on(fd, msg, flags);
}


/* Our control buffer for one of a batch's messages: the program's room and ours, 8-aligned. */
static inline size_t sub_ctl_len(const struct msghdr *h)
{
	return ((h->msg_control ? h->msg_controllen : 0) + CTL_EXTRA + 7) & ~(size_t)7;
}

static __attribute__((noinline)) int recvmmsg_on(int fd, struct mmsghdr *vec, unsigned vlen, int flags, struct timespec *timeout)
{
	struct cc_fd *e = captured_on(fd);
	/* (No vector: the kernel's EFAULT, as without us.) */
	if (!e || fd_kind(e) != FDK_UDP || vlen == 0 || !vec)
		return cc_real.recvmmsg(fd, vec, vlen, flags, timeout);
	/* The kernel takes at most UIO_MAXIOV messages a call: more would only make our block larger. */
	if (vlen > 1024)
		vlen = 1024;
	/*
	 * Each message's control buffer as large as the program's plus room for ours.  A name
	 * buffer with a negative length or a control buffer over INT_MAX is the kernel's EINVAL
	 * (at that message): received directly, as the kernel sees them.
	 */
	size_t ctltotal = 0;
	int direct = !need_sub(e);
	for (unsigned i = 0; i < vlen && !direct; i++) {
		const struct msghdr *h = &vec[i].msg_hdr;
		direct = (h->msg_name && (int)h->msg_namelen < 0) || (h->msg_control && h->msg_controllen > INT_MAX);
		ctltotal += sub_ctl_len(h);
	}
	/* Our own headers, names and control buffers for the whole batch, in one block. */
	int entry_errno = errno;
	uint8_t *block = direct ? NULL : malloc((sizeof(struct mmsghdr) + sizeof(struct sockaddr_storage)) * vlen + ctltotal);
	errno = entry_errno;    /* (a failure's ENOMEM is not the program's) */
	if (!block) {
		/* Nothing to add, or a message the kernel refuses, or no memory: directly. */
		int r = cc_real.recvmmsg(fd, vec, vlen, kflags(e, flags), timeout);
		int saved = errno;
		for (int i = 0; i < r; i++) {
			struct msghdr *um = &vec[i].msg_hdr;
			udp_received(fd, e, um, um, flags, vec[i].msg_len);
			vec[i].msg_len = (unsigned)given_back(flags, vec[i].msg_len, cc_msg_room(um));
			if (ours_to_strip(e))
				strip_in_place(um, e->family);
		}
		errno = saved;
		return r;
	}
	struct mmsghdr *sub = (struct mmsghdr *)block;
	struct sockaddr_storage *names = (struct sockaddr_storage *)(block + sizeof(*sub) * vlen);
	uint8_t *ctl = (uint8_t *)(names + vlen);
	for (unsigned i = 0; i < vlen; i++) {
		const struct msghdr *h = &vec[i].msg_hdr;
		size_t c = sub_ctl_len(h);
		sub_prepare(&sub[i].msg_hdr, h, &names[i], ctl, c);
		sub[i].msg_len = 0;
		ctl += c;
	}
	int r = cc_real.recvmmsg(fd, sub, vlen, kflags(e, flags), timeout);
	int saved = errno;
	for (int i = 0; i < r; i++) {
		vec[i].msg_len = (unsigned)given_back(flags, sub[i].msg_len, cc_msg_room(&vec[i].msg_hdr));
		sub_finish(fd, e, &vec[i].msg_hdr, &sub[i].msg_hdr, flags, sub[i].msg_len);
	}
	free(block);
	errno = saved;
	return r;
}

CC_EXPORT int recvmmsg(int fd, struct mmsghdr *vec, unsigned vlen, int flags, struct timespec *timeout)
{
	/* Off: one load and a tail call, no frame of our own. */
	if (!__atomic_load_n(&cc_on, __ATOMIC_ACQUIRE)) {
		REAL(recvmmsg);
		return cc_real.recvmmsg(fd, vec, vlen, flags, timeout);
	}
	return recvmmsg_on(fd, vec, vlen, flags, timeout);
}


/* _FORTIFY_SOURCE turns recv/recvfrom/read with a known buffer size into these. */
static void *real_chk(const char *name)
{
	return cc_real_lookup(name);
}

CC_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
	if (len > buflen) {
		ssize_t (*f)(int, void *, size_t, size_t, int) = (ssize_t(*)(int, void *, size_t, size_t, int))real_chk("__recv_chk");
		return f(fd, buf, len, buflen, flags);     /* reports the overflow and aborts */
	}
	return recv(fd, buf, len, flags);
}

CC_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags, struct sockaddr *from,
				 socklen_t *fromlen)
{
	if (len > buflen) {
		ssize_t (*f)(int, void *, size_t, size_t, int, struct sockaddr *, socklen_t *) =
			(ssize_t(*)(int, void *, size_t, size_t, int, struct sockaddr *, socklen_t *))real_chk("__recvfrom_chk");
		return f(fd, buf, len, buflen, flags, from, fromlen);
	}
	return recvfrom(fd, buf, len, flags, from, fromlen);
}

CC_EXPORT ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	if (len > buflen) {
		ssize_t (*f)(int, void *, size_t, size_t) = (ssize_t(*)(int, void *, size_t, size_t))real_chk("__read_chk");
		return f(fd, buf, len, buflen);
	}
	return read(fd, buf, len);
}

/* ---- Socket life cycle ---- */

CC_EXPORT int socket(int domain, int type, int proto)
{
	REAL(socket);
	int r = cc_real.socket(domain, type, proto);
	if (r >= 0 && active()) {
		int saved = errno;
		cc_fd_new(r, domain, type, proto);
		errno = saved;
	}
	return r;
}

CC_EXPORT int socketpair(int domain, int type, int proto, int sv[2])
{
	REAL(socketpair);
	int r = cc_real.socketpair(domain, type, proto, sv);
	if (r == 0 && active()) {
		/* AF_UNIX pairs (asyncio's self-pipe, ...) are never captured: mark them at no cost. */
		cc_fd_new(sv[0], AF_UNIX, type, proto);
		cc_fd_new(sv[1], AF_UNIX, type, proto);
	}
	return r;
}

CC_EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	REAL(bind);
	int r = cc_real.bind(fd, addr, len);
	if (r == 0) {
		int saved = errno;
		struct cc_fd *e = captured(fd);
		if (e)
			cc_refresh_local(fd, e);
		errno = saved;
	}
	return r;
}

CC_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	REAL(connect);
	if (__builtin_expect(__atomic_load_n(&cc_impair_out, __ATOMIC_RELAXED), 0))
		cc_impair_connecting(fd);
	int r = cc_real.connect(fd, addr, len);
	int saved = errno;
	/* (EINTR: a blocking connect a signal interrupted goes on in the background, as EINPROGRESS.) */
	int going = r < 0 && (errno == EINPROGRESS || errno == EINTR);
	struct cc_fd *e = r == 0 || going || errno == ECONNREFUSED || errno == ETIMEDOUT || errno == EHOSTUNREACH ||
			  errno == ENETUNREACH ? captured(fd) : NULL;
	if (e) {
		if (fd_kind(e) == FDK_UDP) {
			/* Connecting (or disconnecting with AF_UNSPEC) may change the local address too. */
			if (r == 0) {
				cc_refresh_peer(fd, e);
				cc_refresh_local(fd, e);
			}
		} else if (r == 0) {
			cc_tcp_connected(fd, e, 1);
		} else if (fd_kind(e) == FDK_TCP && cc_addr_from_sa(&e->peer, addr, len) == 0) {
			/* The destination, for a failure to say (now, or at SO_ERROR for one in progress). */
			if (going)
				__atomic_fetch_or(&e->flags, FDF_CONNECTING, __ATOMIC_RELAXED);
			else
				cc_tcp_failed(fd, e, saved);
		} else if (going) {
			__atomic_fetch_or(&e->flags, FDF_CONNECTING, __ATOMIC_RELAXED);
		}
	}
	errno = saved;
	return r;
}

static void accepted(int lfd, int fd)
{
	int saved = errno;
	struct cc_fd *l = captured(lfd);

	if (l && fd_kind(l) == FDK_TCP) {
		struct cc_fd *e = cc_fd_new(fd, l->family, SOCK_STREAM, IPPROTO_TCP);
		if (e) {
			__atomic_fetch_or(&e->flags, FDF_ACCEPTED, __ATOMIC_RELAXED);
			cc_tcp_connected(fd, e, 0);
		}
	} else if (active()) {
		cc_fd_reset(fd);        /* classified lazily: not one of ours, or a family we skip */
	}
	errno = saved;
}

CC_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	REAL(accept);
	int r = cc_real.accept(fd, addr, len);
	if (r >= 0)
		accepted(fd, r);
	return r;
}

CC_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	REAL(accept4);
	int r = cc_real.accept4(fd, addr, len, flags);
	if (r >= 0)
		accepted(fd, r);
	return r;
}

CC_EXPORT int shutdown(int fd, int how)
{
	REAL(shutdown);
	int r = cc_real.shutdown(fd, how);
	if (r == 0 && (how == SHUT_WR || how == SHUT_RDWR)) {
		int saved = errno;
		struct cc_fd *e = captured(fd);
		if (e && fd_kind(e) == FDK_TCP)
			cc_tcp_fin(fd, e, 1);
		errno = saved;
	}
	return r;
}

/*
 * The packet-info option we turned on (sockinfo.c: enable_pktinfo) reads as the program left it:
 * off.  Whatever else the kernel answers (lengths, errors) is the kernel's.
 */
CC_EXPORT int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	REAL(getsockopt);
	int r = cc_real.getsockopt(fd, level, name, val, len);
	if (r == 0 && (level == IPPROTO_IP || level == IPPROTO_IPV6) && val && len && active()) {
		struct cc_fd *e = cc_fd_peek(fd);
		if (e && fd_kind(e) == FDK_UDP && cc_sockopt_ours(e, level, name))
			memset(val, 0, *len);
	}
	/* A non-blocking connect's outcome, as the program asks it: the handshake, or the failure. */
	if (r == 0 && level == SOL_SOCKET && name == SO_ERROR && val && len && *len >= sizeof(int) && active()) {
		struct cc_fd *e = cc_fd_peek(fd);
		if (e && fd_kind(e) == FDK_TCP && (fd_flags(e) & FDF_CONNECTING)) {
			int err;
			memcpy(&err, val, sizeof(err));
			if (err == 0)
				cc_tcp_settle(fd, e, 0);
			else
				cc_tcp_failed(fd, e, err);
		}
	}
	return r;
}

CC_EXPORT int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	REAL(setsockopt);
	int r = cc_real.setsockopt(fd, level, name, val, len);
	if (r == 0) {
		int saved = errno;
		struct cc_fd *e = captured(fd);
		if (e)
			cc_sockopt(fd, e, level, name, val, len);
		errno = saved;
	}
	return r;
}
