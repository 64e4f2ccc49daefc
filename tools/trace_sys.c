/*
 * What each traced system call means for the capture: the frames a completed send or receive
 * becomes, and what the calls that make, bind, connect or close sockets change in the descriptor
 * table (trace_fd.c).  A connect is settled as the shim settles it: at its return, at the
 * program's getsockopt(SO_ERROR) for one in progress (Go always connects so), or at its close;
 * one that failed is its SYN (refused: and the peer's reset), never left out.
 *
 * The data is read after the call has completed (its exit stop), when the return value says how
 * much really moved: a failed or short send is never written as sent.  The frames are built as
 * the shim builds them (shim/capture.c): the local address from getsockname, from the route
 * towards the peer when the socket is bound to the wildcard address, and a synthesized TCP stream
 * with the same initial sequence numbers, so both ends captured by either means line up.
 */
#include "pcapout/tcpstate.h"
#include "tools/trace_int.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif

/*
 * A call a signal interrupted, as a syscall-exit stop shows it (kernel-internal, linux/errno.h):
 * the program then sees EINTR, or the call restarted (SA_RESTART).
 */
#define ERESTARTSYS 512

#define MAX_IOV  1024           /* UIO_MAXIOV */
#define MAX_MMSG 1024
#define CHUNK    65536          /* TCP data is read and written in pieces this large */

static uint8_t dbuf[CC_SNAPLEN];

/*
 * The calls the seccomp filter stops at, and two it stops at only for some arguments, decided in
 * the filter (trace.c): fcntl for F_DUPFD*, getsockopt for SOL_SOCKET/SO_ERROR.
 */
static const long calls[] = {
	SYS_read, SYS_write, SYS_readv, SYS_writev,
	SYS_socket, SYS_connect, SYS_bind, SYS_accept, SYS_accept4,
	SYS_sendto, SYS_recvfrom, SYS_sendmsg, SYS_recvmsg, SYS_sendmmsg, SYS_recvmmsg,
	SYS_shutdown, SYS_close, SYS_close_range, SYS_dup, SYS_dup3, SYS_sendfile, SYS_splice,
#ifdef SYS_dup2
	SYS_dup2,
#endif
#ifdef SYS_send
	SYS_send,
#endif
#ifdef SYS_recv
	SYS_recv,
#endif
};

const long *cc_trace_calls(size_t *n)
{
	*n = sizeof calls / sizeof calls[0];
	return calls;
}

/* ---- Reading the program's memory ---- */

static int rd(pid_t tid, uint64_t addr, void *buf, size_t len)
{
	struct iovec l = { buf, len }, r = { (void *)(uintptr_t)addr, len };

	return process_vm_readv(tid, &l, 1, &r, 1, 0) == (ssize_t)len ? 0 : -1;
}

/* A sockaddr the program passed (len given) into a, or -1. */
static int rd_addr(pid_t tid, uint64_t addr, uint64_t len, struct cc_addr *a)
{
	struct sockaddr_storage ss;

	if (addr == 0 || len == 0)
		return -1;
	if (len > sizeof ss)
		len = sizeof ss;
	memset(&ss, 0, sizeof ss);
	if (rd(tid, addr, &ss, len) < 0)
		return -1;
	return cc_trace_sa_addr(a, &ss, len);
}

/* The program's iovec array (at most MAX_IOV entries); returns the count read, or -1. */
static int rd_iov(pid_t tid, uint64_t addr, uint64_t cnt, struct iovec *iov)
{
	if (cnt > MAX_IOV)
		cnt = MAX_IOV;
	if (cnt == 0)
		return 0;
	return rd(tid, addr, iov, cnt * sizeof *iov) == 0 ? (int)cnt : -1;
}

/* Gathers n bytes starting `skip` into the program's buffers iov[] into dst; returns bytes read. */
static size_t gather(pid_t tid, const struct iovec *iov, int cnt, size_t skip, size_t n, uint8_t *dst)
{
	struct iovec r[MAX_IOV], l = { dst, n };
	int k = 0;
	ssize_t got;

	for (int i = 0; i < cnt && n > 0; i++) {
		size_t len = iov[i].iov_len;
		if (skip >= len) {
			skip -= len;
			continue;
		}
		r[k].iov_base = (uint8_t *)iov[i].iov_base + skip;
		r[k].iov_len = len - skip < n ? len - skip : n;
		n -= r[k].iov_len;
		skip = 0;
		k++;
	}
	l.iov_len -= n;
	got = process_vm_readv(tid, &l, 1, r, (unsigned long)k, 0);
	return got < 0 ? 0 : (size_t)got;
}

/* ---- Frames ---- */

static void udp(struct tthread *t, int fd, struct tfd *e, int out, const struct cc_addr *peer_given,
		const struct iovec *iov, int cnt, size_t len)
{
	struct cc_frame f;
	struct cc_addr peer, local;
	uint64_t ts = cc_trace_now();
	size_t cap;

	int unknown = 0;

	if (peer_given != NULL) {
		peer = *peer_given;
	} else {
		if (!(e->flags & TFD_PEER))
			cc_tfd_refresh(t->proc, fd, e);
		if (!(e->flags & TFD_PEER) && out)
			return;         /* (an unconnected socket sends nothing without an address) */
		peer = e->peer;
		/*
		 * Received on an unconnected socket without asking whence (recv, read, a NULL name):
		 * the shim asks the kernel itself, a tracer cannot.  Written from the unspecified
		 * address, and said so, rather than left out of the file.
		 */
		unknown = !(e->flags & TFD_PEER);
	}
	if (!(e->flags & TFD_LOCAL))
		cc_tfd_refresh(t->proc, fd, e);     /* bound by its first send */
	local = e->local;
	if (unknown) {
		memset(&peer, 0, sizeof peer);
		peer.family = local.family ? local.family : AF_INET;
	}
	memset(&f, 0, sizeof f);
	if (unknown) {
		f.note = "source not known: received without its address (recv, read), which system-call "
			 "tracing cannot ask for";
	} else if (local.family != peer.family || (e->flags & TFD_WILDCARD)) {
		struct cc_addr src;
		if (cc_trace_route_src(&peer, &src) == 0) {
			memcpy(local.ip, src.ip, 16);
			local.family = src.family;
		}
		/*
		 * What we send leaves by the route; what we receive reached some local address the
		 * shim learns from IP_PKTINFO, which a tracer cannot ask for: said, not guessed silently.
		 */
		if (!out)
			f.note = "local address from the route (wildcard-bound socket, traced)";
	}
	f.proto = IPPROTO_UDP;
	f.iface = CC_IF_WIRE;
	f.outgoing = (uint8_t)out;
	f.pid = (uint32_t)t->proc->pid;
	f.ttl = 64;
	f.src = out ? local : peer;
	f.dst = out ? peer : local;
	f.src.family = f.dst.family = peer.family;
	cap = gather(t->tid, iov, cnt, 0, len < sizeof dbuf ? len : sizeof dbuf, dbuf);
	cc_tout_frame(t->proc, &f, ts, dbuf, cap, len);
}

static void tcp_frame(struct tthread *t, struct tfd *e, struct cc_frame *f, int out, uint8_t flags)
{
	memset(f, 0, sizeof *f);
	f->proto = IPPROTO_TCP;
	f->iface = CC_IF_WIRE;
	f->outgoing = (uint8_t)out;
	f->pid = (uint32_t)t->proc->pid;
	f->tcp_flags = flags;
	f->ttl = 64;
	f->src = out ? e->local : e->peer;
	f->dst = out ? e->peer : e->local;
	f->src.family = f->dst.family = e->peer.family;
}

static void tcp_ctl(struct tthread *t, struct tfd *e, uint64_t ts, int out, uint8_t flags, uint32_t seq, uint32_t ack)
{
	struct cc_frame f;

	tcp_frame(t, e, &f, out, flags);
	f.seq = seq;
	f.ack = ack;
	cc_tout_frame(t->proc, &f, ts, NULL, 0, 0);
}

/* The three-way handshake, as the shim writes it when a connection opens: its addresses known. */
static void tcp_handshake(struct tthread *t, struct tfd *e, int active)
{
	uint64_t ts = cc_trace_now();
	uint32_t l, p;

	if (e->mss < 536)
		e->mss = 536;
	e->isn_gen = (uint8_t)cc_tcp_gen_open(cc_trace_gens, &e->local, &e->peer, !active);
	l = cc_tcp_isn(&e->local, &e->peer, e->isn_gen);
	p = cc_tcp_isn(&e->peer, &e->local, e->isn_gen);
	cc_tfd_stream(e)->snd_seq = l + 1;
	cc_tfd_stream(e)->rcv_seq = p + 1;
	if (active) {
		tcp_ctl(t, e, ts, 1, CC_TCP_SYN, l, 0);
		tcp_ctl(t, e, ts, 0, CC_TCP_SYN | CC_TCP_ACK, p, l + 1);
		tcp_ctl(t, e, ts, 1, CC_TCP_ACK, l + 1, p + 1);
	} else {
		tcp_ctl(t, e, ts, 0, CC_TCP_SYN, p, 0);
		tcp_ctl(t, e, ts, 1, CC_TCP_SYN | CC_TCP_ACK, l, p + 1);
		tcp_ctl(t, e, ts, 0, CC_TCP_ACK, p + 1, l + 1);
	}
	e->flags |= TFD_TCP_OPEN;
}

/* A connection opens: its addresses read again, then its handshake if it has both. */
static void tcp_open(struct tthread *t, int fd, struct tfd *e, int active)
{
	cc_tfd_refresh(t->proc, fd, e);
	e->flags &= (uint8_t)~TFD_CONNECTING;
	if ((e->flags & TFD_PEER) && (e->flags & TFD_LOCAL))
		tcp_handshake(t, e, active);
}

/*
 * A connect no longer in progress, whose socket may have no peer now: its addresses, the peer
 * from connect's argument (e->peer) and the local one from the socket (the kernel keeps the
 * bound port), the route's source for one bound to the wildcard address.  -1: none to write.
 */
static int attempt_addrs(struct tthread *t, int fd, struct tfd *e)
{
	struct cc_addr src;

	e->flags &= (uint8_t)~TFD_CONNECTING;
	cc_tfd_refresh(t->proc, fd, e);
	if (!e->peer.family || !(e->flags & TFD_LOCAL))
		return -1;      /* (not bound: no SYN left, as for a connect with no route) */
	if ((e->flags & TFD_WILDCARD) || e->local.family != e->peer.family) {
		if (cc_trace_route_src(&e->peer, &src) < 0)
			return -1;
		memcpy(e->local.ip, src.ip, 16);
		e->local.family = src.family;
	}
	return 0;
}

/*
 * The SYN of a connect that came to nothing (err: why, 0 for one closed still under way), and for
 * a refusal the peer's reset, numbered as the shim numbers them (cc_tcp_attempt_isn).  e->peer
 * holds the destination (connect's argument).  The kernel keeps the bound port after the failure;
 * a socket bound to the wildcard address gets the route's source, as its SYN did.
 */
static void tcp_attempt(struct tthread *t, int fd, struct tfd *e, int err)
{
	static uint32_t attempts;
	struct cc_frame f;
	uint64_t ts = cc_trace_now();
	uint32_t l;

	if (attempt_addrs(t, fd, e) < 0)
		return;
	l = cc_tcp_attempt_isn(&e->local, &e->peer, ++attempts);
	tcp_frame(t, e, &f, 1, CC_TCP_SYN);
	f.seq = l;
	f.note = cc_tcp_connect_why(err);
	cc_tout_frame(t->proc, &f, ts, NULL, 0, 0);
	if (err == ECONNREFUSED)
		tcp_ctl(t, e, ts, 0, CC_TCP_RST | CC_TCP_ACK, 0, l + 1);
}

/* What became of the program's TCP socket fd's connect (cc_tcp_connect_state, on our copy). */
static int connect_state(struct tthread *t, int fd)
{
	int c = cc_tfd_copy(t->proc, fd), r;

	if (c < 0)
		return CC_CONN_UNKNOWN;
	r = cc_tcp_connect_state(c);
	close(c);
	return r;
}

/*
 * A connect that had connected, unasked, and whose connection was lost since (keepalive or
 * retransmissions timed out, a host unreachable): its handshake, as the shim writes it.
 */
static void tcp_lost(struct tthread *t, int fd, struct tfd *e)
{
	if (attempt_addrs(t, fd, e) == 0) {
		e->flags |= TFD_PEER;
		tcp_handshake(t, e, 1);
	}
}

/*
 * A connect in progress that the program finds connected (SO_ERROR 0) or closes: the handshake,
 * now, if the socket has its peer; closed still under way, the SYN, saying so.  Not for a socket
 * copied at a fork: the other process may settle it as well, and a second handshake would count
 * a second connection (its first byte does, as in the shim).
 */
static void tcp_settle(struct tthread *t, int fd, struct tfd *e, int closing)
{
	if (!(e->flags & TFD_CONNECTING) || (e->flags & TFD_INHERITED))
		return;
	cc_tfd_refresh(t->proc, fd, e);
	if (e->flags & TFD_PEER) {
		e->flags &= (uint8_t)~TFD_CONNECTING;
		if (e->flags & TFD_LOCAL)
			tcp_handshake(t, e, 1);         /* (its addresses just read: not again, as tcp_open) */
	} else if (closing) {
		/* Failed or lost without the program asking: what the kernel says, its error left. */
		int state = connect_state(t, fd);
		if (state == CC_CONN_UP)
			tcp_lost(t, fd, e);
		else
			tcp_attempt(t, fd, e, cc_tcp_closed_why(state));
	}
}

/* A connect that failed with err, blocking or in progress (SO_ERROR): written if err says why. */
static void tcp_failed(struct tthread *t, int fd, struct tfd *e, int err)
{
	if (cc_tcp_connect_why(err) == NULL || err == 0)
		return;
	if (e->flags & TFD_INHERITED) {
		e->flags &= (uint8_t)~TFD_CONNECTING;
	} else if (err != ECONNREFUSED && connect_state(t, fd) == CC_CONN_UP) {
		tcp_lost(t, fd, e);
	} else {
		tcp_attempt(t, fd, e, err);
	}
}

/* Up to n bytes of file fd at offset at (fewer at its end, or none on an error). */
static size_t pread_all(int fd, uint8_t *dst, size_t n, off_t at)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, dst + got, n - got, at + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

/*
 * len bytes moved on a TCP socket: from the program's memory (iov), or, with src >= 0, from the
 * file src (our copy of the program's descriptor) at offset `at` (sendfile).
 */
static void tcp_data_from(struct tthread *t, int fd, struct tfd *e, int out, const struct iovec *iov, int cnt,
			  size_t len, int src, off_t at)
{
	struct cc_frame f;
	uint64_t ts;
	uint32_t seq;

	if (e->flags & TFD_CONNECTING)
		tcp_open(t, fd, e, 1);          /* a non-blocking connect finished */
	if (!(e->flags & TFD_TCP_OPEN) || len == 0)
		return;
	ts = cc_trace_now();
	struct tstream *st = cc_tfd_stream(e);
	seq = out ? st->snd_seq : st->rcv_seq;
	if (out)
		st->snd_seq += (uint32_t)len;
	else
		st->rcv_seq += (uint32_t)len;
	tcp_frame(t, e, &f, out, CC_TCP_PSH | CC_TCP_ACK);
	f.ack = out ? st->rcv_seq : st->snd_seq;
	/* Read in chunks, written as segments no larger than the MSS, as the wire would carry them. */
	for (size_t off = 0; off < len; off += CHUNK) {
		size_t n = len - off < CHUNK ? len - off : CHUNK;
		size_t got = src < 0 ? gather(t->tid, iov, cnt, off, n, dbuf) : pread_all(src, dbuf, n, at + (off_t)off);
		for (size_t s = 0; s < n; s += e->mss) {
			size_t m = n - s < e->mss ? n - s : e->mss;
			size_t cap = s >= got ? 0 : got - s < m ? got - s : m;
			f.seq = seq + (uint32_t)(off + s);
			cc_tout_frame(t->proc, &f, ts, dbuf + s, cap, m);
		}
	}
}

static void tcp_data(struct tthread *t, int fd, struct tfd *e, int out, const struct iovec *iov, int cnt, size_t len)
{
	tcp_data_from(t, fd, e, out, iov, cnt, len, -1, 0);
}

static void tcp_fin(struct tthread *t, struct tfd *e, int out)
{
	uint8_t bit = out ? TFD_FIN_OUT : TFD_FIN_IN;
	struct tstream *st = cc_tfd_stream(e);
	uint32_t seq;

	if (!(e->flags & TFD_TCP_OPEN) || (st->fin & bit))
		return;
	st->fin |= bit;
	seq = out ? st->snd_seq++ : st->rcv_seq++;
	tcp_ctl(t, e, cc_trace_now(), out, CC_TCP_FIN | CC_TCP_ACK, seq, out ? st->rcv_seq : st->snd_seq);
}

/* One completed transfer of len bytes on a socket. */
static void data(struct tthread *t, int fd, struct tfd *e, int out, const struct cc_addr *peer,
		 const struct iovec *iov, int cnt, size_t len)
{
	if (e->kind == TFD_UDP)
		udp(t, fd, e, out, peer, iov, cnt, len);
	else
		tcp_data(t, fd, e, out, iov, cnt, len);
}

/* ---- The calls ---- */

static int is_recv(long nr)
{
	return nr == SYS_read || nr == SYS_readv || nr == SYS_recvfrom || nr == SYS_recvmsg ||
#ifdef SYS_recv
	       nr == SYS_recv ||
#endif
	       nr == SYS_recvmmsg;
}

/*
 * fd is about to be closed (close, close_range, or replaced by dup2/dup3).  Only a socket already
 * known can have an open stream to end: closing a descriptor we never looked at costs no look.
 * A socket another descriptor still holds stays open: no FIN while one does, here (dup) or in a
 * forked process (the shim's rule).
 */
static int last_holder(const struct tfd *e)
{
	return e != NULL && e->kind == TFD_TCP && !cc_tfd_held_elsewhere(e) && (e->share || !(e->flags & TFD_INHERITED));
}

/* Before the call that closes fd: a connect still under way is settled while the socket is there. */
static void closing_settle(struct tthread *t, int64_t fd)
{
	struct tfd *e = cc_tfd_peek(t->proc, fd);

	if (last_holder(e))
		tcp_settle(t, (int)fd, e, 1);   /* closed before a byte moved */
}

/* fd is closed (the call did it, or the process's end or an exec): the FIN, then the entry goes. */
static void closed(struct tthread *t, int64_t fd)
{
	struct tfd *e = cc_tfd_peek(t->proc, fd);

	if (last_holder(e))
		tcp_fin(t, e, 1);
	cc_tfd_forget(t->proc, fd);
}

/*
 * Whether the dup2 or dup3 t is entering will close what its new number holds: its flags valid
 * (dup3) and its old number open.  Asked only for a connect under way there, where a settle
 * written for a call that then fails would end a connection that goes on.
 */
static int will_replace(struct tthread *t)
{
	struct tfd *e = cc_tfd_peek(t->proc, (int64_t)t->args[1]);
	int c;

	if (e == NULL || e->kind != TFD_TCP || !(e->flags & TFD_CONNECTING))
		return 1;               /* nothing to settle either way */
	if (t->nr == SYS_dup3 && (t->args[2] & ~(uint64_t)O_CLOEXEC))
		return 0;
	if (cc_tfd_peek(t->proc, (int64_t)t->args[0]) != NULL)
		return 1;
	c = cc_tfd_copy(t->proc, (int)t->args[0]);
	if (c < 0)
		return 0;
	close(c);
	return 1;
}

/* Calls fn on each number close_range's arguments name, up to the table's end. */
static void in_range(struct tthread *t, void (*fn)(struct tthread *, int64_t))
{
	struct tproc *p = t->proc;
	uint64_t hi = t->args[1] < (uint64_t)p->nfds ? t->args[1] : (uint64_t)p->nfds - 1;

	for (uint64_t i = t->args[0]; p->nfds > 0 && i <= hi; i++)
		fn(t, (int64_t)i);
}

static void closing(struct tthread *t, int64_t fd)
{
	closing_settle(t, fd);
	closed(t, fd);
}

/*
 * t, the only thread of its process, is about to end (PTRACE_EVENT_EXIT: its descriptors still
 * open): connects still under way, or connected without the program asking, are settled as a
 * close would settle them, while their sockets can still be asked.
 */
void cc_sys_proc_ending(struct tthread *t)
{
	for (int i = 0; i < t->proc->nfds; i++)
		closing_settle(t, i);
}

/*
 * t is the last thread of its process, gone (exit, _exit, or a signal): the kernel closed its
 * descriptors, as close would, one after another, and each connection it held last ends with our
 * FIN (two numbers of one connection: the second).
 */
void cc_sys_proc_end(struct tthread *t)
{
	for (int i = 0; i < t->proc->nfds; i++)
		closed(t, i);
}

/*
 * t's process exec'd: the close-on-exec descriptors are gone without a close call, the others
 * hold what they held.  Each known one is looked at again (one pidfd_getfd): closed ones end as
 * a close would; the others keep their entries, and a connection its numbering.  Without a look
 * (no pidfd), every entry is forgotten and classified afresh on its next use.
 */
void cc_sys_exec(struct tthread *t)
{
	struct tproc *p = t->proc;

	for (int i = 0; i < p->nfds; i++) {
		if (p->fds[i].kind == TFD_UNKNOWN)
			continue;
		int c = cc_tfd_copy(p, i);
		if (c >= 0) {
			close(c);
			continue;
		}
		if (errno == EBADF)
			closed(t, i);
		else
			cc_tfd_forget(p, i);
	}
}

int cc_sys_enter(struct tthread *t)
{
	struct tproc *p = t->proc;
	int64_t fd = (int64_t)t->args[0];
	struct tfd *e;

	switch (t->nr) {
	case SYS_close:
		closing(t, fd);
		return 0;
	case SYS_close_range: {
		/*
		 * CLOSE_RANGE_CLOEXEC closes nothing now: exec will (cc_sys_exec).  Connects under way
		 * are settled here, while their sockets are there, unless the call is bound to fail
		 * (unknown flags, an empty range); the FINs at its exit, once it succeeded.
		 */
		if (t->args[2] & CLOSE_RANGE_CLOEXEC)
			return 0;
		if ((t->args[2] & ~(uint64_t)CLOSE_RANGE_UNSHARE) == 0 && (unsigned)t->args[0] <= (unsigned)t->args[1])
			in_range(t, closing_settle);
		return 1;
	}
	case SYS_shutdown:
		e = cc_tfd_peek(p, fd);
		if (e != NULL && e->kind == TFD_TCP && (t->args[1] == SHUT_WR || t->args[1] == SHUT_RDWR))
			tcp_fin(t, e, 1);
		return 0;
	case SYS_dup3:
#ifdef SYS_dup2
	case SYS_dup2:
#endif
		/*
		 * The socket the new number held, if any, is closed by the call (dup2 onto itself:
		 * none): a connect under way settled now, if the call will do it.
		 */
		if (t->args[0] != t->args[1] && will_replace(t))
			closing_settle(t, (int64_t)t->args[1]);
		return 1;
	case SYS_socket:
	case SYS_accept:
	case SYS_accept4:
	case SYS_dup:
	case SYS_fcntl:
	case SYS_bind:
		return 1;
	case SYS_connect:
		return cc_tfd_lookup(p, fd) != NULL;
	case SYS_getsockopt:
		/* (SO_ERROR only, by the filter.)  It settles a connect in progress, and nothing else. */
		e = cc_tfd_peek(p, fd);
		return e != NULL && e->kind == TFD_TCP && (e->flags & TFD_CONNECTING) &&
		       (int)t->args[1] == SOL_SOCKET && (int)t->args[2] == SO_ERROR;
	case SYS_splice:
		return cc_tfd_lookup(p, fd) != NULL || cc_tfd_lookup(p, (int64_t)t->args[2]) != NULL;
	default:
		/* Sends and receives: only on our sockets, never on a peek. */
		if (cc_tfd_lookup(p, fd) == NULL)
			return 0;
		if (t->nr == SYS_recvfrom && (t->args[3] & MSG_PEEK))
			return 0;
		if ((t->nr == SYS_recvmsg || t->nr == SYS_recvmmsg) && (t->args[t->nr == SYS_recvmsg ? 2 : 3] & MSG_PEEK))
			return 0;
		return 1;
	}
}

static void msg_call(struct tthread *t, int fd, struct tfd *e, int out, uint64_t mh, size_t len)
{
	struct msghdr m;
	struct iovec iov[MAX_IOV];
	struct cc_addr peer;
	int cnt, have_peer;

	if (rd(t->tid, mh, &m, sizeof m) < 0)
		return;
	cnt = rd_iov(t->tid, (uint64_t)(uintptr_t)m.msg_iov, m.msg_iovlen, iov);
	if (cnt < 0)
		return;
	have_peer = rd_addr(t->tid, (uint64_t)(uintptr_t)m.msg_name, m.msg_namelen, &peer) == 0;
	data(t, fd, e, out, have_peer ? &peer : NULL, iov, cnt, len);
}

static void mmsg_call(struct tthread *t, int fd, struct tfd *e, int out, uint64_t vec, size_t n)
{
	static struct mmsghdr mm[MAX_MMSG];

	if (n > MAX_MMSG)
		n = MAX_MMSG;
	if (rd(t->tid, vec, mm, n * sizeof mm[0]) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		struct iovec iov[MAX_IOV];
		struct cc_addr peer;
		int cnt = rd_iov(t->tid, (uint64_t)(uintptr_t)mm[i].msg_hdr.msg_iov, mm[i].msg_hdr.msg_iovlen, iov);
		int have_peer = rd_addr(t->tid, (uint64_t)(uintptr_t)mm[i].msg_hdr.msg_name,
					mm[i].msg_hdr.msg_namelen, &peer) == 0;

		if (cnt >= 0)
			data(t, fd, e, out, have_peer ? &peer : NULL, iov, cnt, mm[i].msg_len);
	}
}

/* The connect's destination, for a failure to say (now, or at SO_ERROR for one in progress). */
static void connect_dest(struct tthread *t, struct tfd *e)
{
	struct cc_addr a;

	if (rd_addr(t->tid, t->args[1], t->args[2], &a) == 0)
		e->peer = a;
}

/* getsockopt(SO_ERROR) returned on a connect in progress: the int it wrote is the outcome. */
static void so_error(struct tthread *t, int fd, struct tfd *e)
{
	socklen_t len;
	int err;

	if (rd(t->tid, t->args[4], &len, sizeof len) < 0 || len < sizeof err ||
	    rd(t->tid, t->args[3], &err, sizeof err) < 0)
		return;
	if (err == 0)
		tcp_settle(t, fd, e, 0);
	else
		tcp_failed(t, fd, e, err);
}

/* Said once per run: bytes that went by below what a trace can read. */
static void unseen(int *said, const char *what, size_t n)
{
	if (!*said)
		fprintf(stderr, "clearcap: %zu bytes %s (said once)\n", n, what);
	*said = 1;
}

/*
 * splice between a pipe and a traced socket: a pipe cannot be read twice.  TCP's sequence
 * numbers move on by what went (Wireshark marks the gap), as the shim does.
 */
static void spliced(struct tthread *t, size_t n)
{
	static int said;

	for (int out = 0; out < 2; out++) {
		struct tfd *e = cc_tfd_peek(t->proc, (int64_t)t->args[out ? 2 : 0]);
		if (e == NULL)
			continue;
		if (e->kind == TFD_TCP && (e->flags & TFD_TCP_OPEN)) {
			if (out)
				cc_tfd_stream(e)->snd_seq += (uint32_t)n;
			else
				cc_tfd_stream(e)->rcv_seq += (uint32_t)n;
		}
		unseen(&said, "moved with splice(2) between a pipe and a socket are not captured: a pipe cannot "
		       "be read twice (TCP: a gap in the capture)", n);
	}
}

/*
 * sendfile to a traced socket: the bytes went from the file to the socket inside the kernel, so
 * they are read again from the file (our copy of the descriptor, by pread: the program's file
 * position stays), at the offset the call sent from: the program's offset moved on by n, or
 * the file position it moved, from /proc.
 */
static void sent_file(struct tthread *t, int fd, struct tfd *e, size_t n)
{
	static int said_udp, said_gap;
	int in = (int)t->args[1];
	int64_t at = -1;

	if (e->kind != TFD_TCP) {
		unseen(&said_udp, "sent with sendfile to a UDP socket are not captured", n);
		return;
	}
	if (t->args[2] != 0) {
		int64_t off;
		if (rd(t->tid, t->args[2], &off, sizeof off) == 0)
			at = off - (int64_t)n;
	} else {
		char path[64], buf[256];
		snprintf(path, sizeof path, "/proc/%d/fdinfo/%d", (int)t->tid, in);
		int f = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t r = f < 0 ? -1 : read(f, buf, sizeof buf - 1);
		if (f >= 0)
			close(f);
		long long pos;
		if (r > 0 && (buf[r] = 0, sscanf(buf, "pos: %lld", &pos) == 1))
			at = pos - (int64_t)n;
	}
	int src = at >= 0 ? cc_tfd_copy(t->proc, in) : -1;
	if (src < 0) {
		if (e->flags & TFD_TCP_OPEN)
			cc_tfd_stream(e)->snd_seq += (uint32_t)n;
		unseen(&said_gap, "sent with sendfile could not be read again from their file: the capture shows "
		       "a gap there", n);
		return;
	}
	tcp_data_from(t, fd, e, 1, NULL, 0, n, src, (off_t)at);
	close(src);
}

void cc_sys_exit(struct tthread *t, int64_t rval, int is_error)
{
	struct tproc *p = t->proc;
	int fd = (int)t->args[0];
	struct tfd *e;

	switch (t->nr) {
	case SYS_socket:
		if (!is_error)
			cc_tfd_forget(p, rval);
		return;
	case SYS_dup3:
#ifdef SYS_dup2
	case SYS_dup2:
#endif
		/* Only a call that succeeded closed what the new number held. */
		if (!is_error && t->args[0] != t->args[1])
			closed(t, (int64_t)t->args[1]);
		/* fall through */
	case SYS_dup:
	case SYS_fcntl:         /* (F_DUPFD and F_DUPFD_CLOEXEC only, by the filter) */
		if (!is_error)
			cc_tfd_dup(p, fd, rval);
		return;
	case SYS_close_range:
		if (!is_error)
			in_range(t, closed);
		return;
	case SYS_accept:
	case SYS_accept4:
		if (is_error)
			return;
		cc_tfd_forget(p, rval);
		e = cc_tfd_lookup(p, rval);
		if (e != NULL && e->kind == TFD_TCP) {
			e->flags &= (uint8_t)~TFD_TCP_OPEN;     /* not joined mid-stream: it opens now */
			tcp_open(t, (int)rval, e, 0);
		}
		return;
	case SYS_bind:
		e = cc_tfd_lookup(p, fd);
		if (e != NULL && !is_error)
			cc_tfd_refresh(p, fd, e);
		return;
	case SYS_connect:
		e = cc_tfd_lookup(p, fd);
		if (e == NULL)
			return;
		if (e->kind == TFD_UDP) {
			cc_tfd_refresh(p, fd, e);
		} else if (!is_error) {
			tcp_open(t, fd, e, 1);
		} else if (rval == -EINPROGRESS || rval == -EINTR || rval == -ERESTARTSYS) {
			/*
			 * A blocking connect a signal interrupted goes on in the background; restarted,
			 * its second call's return settles it.
			 */
			connect_dest(t, e);
			e->flags |= TFD_CONNECTING;
		} else if (cc_tcp_connect_why((int)-rval) != NULL) {
			connect_dest(t, e);
			tcp_failed(t, fd, e, (int)-rval);
		}
		return;
	case SYS_getsockopt:
		e = cc_tfd_peek(p, fd);
		if (e != NULL && !is_error && (e->flags & TFD_CONNECTING))
			so_error(t, fd, e);
		return;
	}
	if (t->nr == SYS_splice) {
		if (!is_error && rval > 0)
			spliced(t, (size_t)rval);
		return;
	}
	e = cc_tfd_lookup(p, fd);
	/*
	 * A connect in progress whose failure the program learns from its first send or receive (the
	 * kernel reports it to whichever call comes first, once): settled as SO_ERROR would.
	 */
	if (e != NULL && is_error && (e->flags & TFD_CONNECTING))
		tcp_failed(t, fd, e, (int)-rval);
	if (e == NULL || is_error)
		return;
	if (t->nr == SYS_sendfile) {
		if (rval > 0)
			sent_file(t, fd, e, (size_t)rval);
		return;
	}
	if (rval == 0) {
		/* End of stream: a TCP receive of nothing is the peer's FIN. */
		if (e->kind == TFD_TCP && is_recv(t->nr))
			tcp_fin(t, e, 0);
		return;
	}
	switch (t->nr) {
	case SYS_read:
	case SYS_write:
	case SYS_sendto:
	case SYS_recvfrom:
#ifdef SYS_send
	case SYS_send:
#endif
#ifdef SYS_recv
	case SYS_recv:
#endif
	{
		struct iovec iov = { (void *)(uintptr_t)t->args[1], (size_t)t->args[2] };
		struct cc_addr peer;
		int have_peer = 0;

		if (t->nr == SYS_sendto)
			have_peer = rd_addr(t->tid, t->args[4], t->args[5], &peer) == 0;
		if (t->nr == SYS_recvfrom && t->args[4] != 0 && t->args[5] != 0) {
			socklen_t l;
			have_peer = rd(t->tid, t->args[5], &l, sizeof l) == 0 && rd_addr(t->tid, t->args[4], l, &peer) == 0;
		}
		if (e->kind == TFD_TCP && (t->nr == SYS_recvfrom) && (t->args[3] & MSG_TRUNC)) {
			cc_tfd_stream(e)->rcv_seq += (uint32_t)rval;   /* discarded unseen */
			return;
		}
		/* With MSG_TRUNC a datagram's length may pass the buffer: only the buffer is read. */
		data(t, fd, e, !is_recv(t->nr), have_peer ? &peer : NULL, &iov, 1, (size_t)rval);
		return;
	}
	case SYS_readv:
	case SYS_writev: {
		struct iovec iov[MAX_IOV];
		int cnt = rd_iov(t->tid, t->args[1], t->args[2], iov);

		if (cnt >= 0)
			data(t, fd, e, t->nr == SYS_writev, NULL, iov, cnt, (size_t)rval);
		return;
	}
	case SYS_sendmsg:
	case SYS_recvmsg:
		msg_call(t, fd, e, t->nr == SYS_sendmsg, t->args[1], (size_t)rval);
		return;
	case SYS_sendmmsg:
	case SYS_recvmmsg:
		mmsg_call(t, fd, e, t->nr == SYS_sendmmsg, t->args[1], (size_t)rval);
		return;
	}
}
