/*
 * What each traced system call means for the capture: the descriptor table of every traced
 * process, and the frames a completed send or receive becomes.
 *
 * The seccomp filter cannot tell a socket from a pipe, so read and write stop the program even on
 * files: the first sight of a descriptor number classifies it once (a copy taken with
 * pidfd_getfd, asked what it is and closed again) and every later call on a non-socket costs one
 * table look-up.  A number's entry is forgotten when the program closes it, duplicates onto it or
 * execs, so a reused number is classified afresh.
 *
 * The data is read after the call has completed (its exit stop), when the return value says how
 * much really moved: a failed or short send is never written as sent.  The frames are built as
 * the shim builds them (shim/capture.c): the local address from getsockname, from the route
 * towards the peer when the socket is bound to the wildcard address, and a synthesized TCP stream
 * with the same initial sequence numbers, so both ends captured by either means line up.
 */
#include "tools/trace_int.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

#define MAX_FDS  (1 << 20)      /* descriptors above this are not followed */
#define MAX_IOV  1024           /* UIO_MAXIOV */
#define MAX_MMSG 1024
#define CHUNK    65536          /* TCP data is read and written in pieces this large */

static uint8_t dbuf[CC_SNAPLEN];

/* The calls the seccomp filter stops at (fcntl only for F_DUPFD*, decided in the filter). */
static const long calls[] = {
	SYS_read, SYS_write, SYS_readv, SYS_writev,
	SYS_socket, SYS_connect, SYS_bind, SYS_accept, SYS_accept4,
	SYS_sendto, SYS_recvfrom, SYS_sendmsg, SYS_recvmsg, SYS_sendmmsg, SYS_recvmmsg,
	SYS_shutdown, SYS_close, SYS_close_range, SYS_dup, SYS_dup3,
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

/* ---- Processes and their descriptor tables ---- */

static void set_comment(struct tproc *p)
{
	char path[64], name[32] = "?";
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/comm", (int)p->pid);
	f = fopen(path, "re");
	if (f != NULL) {
		if (fgets(name, sizeof name, f) != NULL)
			name[strcspn(name, "\n")] = '\0';
		fclose(f);
	}
	snprintf(p->comment, sizeof p->comment, "pid %d %s", (int)p->pid, name);
}

struct tproc *cc_tproc_new(pid_t pid)
{
	struct tproc *p = calloc(1, sizeof *p);

	if (p == NULL)
		return NULL;
	p->refs = 1;
	p->pid = pid;
	p->pidfd = -1;
	set_comment(p);
	cc_tout_process(p);
	return p;
}

struct tproc *cc_tproc_copy(const struct tproc *from, pid_t pid)
{
	struct tproc *p = cc_tproc_new(pid);

	if (p == NULL || from->nfds == 0)
		return p;
	p->fds = malloc((size_t)from->nfds * sizeof *p->fds);
	if (p->fds == NULL)
		return p;
	memcpy(p->fds, from->fds, (size_t)from->nfds * sizeof *p->fds);
	p->nfds = from->nfds;
	for (int i = 0; i < p->nfds; i++)
		p->fds[i].flags |= TFD_INHERITED;
	return p;
}

void cc_tproc_put(struct tproc *p)
{
	if (p == NULL || --p->refs > 0)
		return;
	if (p->pidfd >= 0)
		close(p->pidfd);
	free(p->fds);
	free(p);
}

/*
 * After exec the close-on-exec descriptors are gone without a close call: every entry is
 * forgotten and classified again on its next use.  The pidfd still names the same process.
 */
void cc_tproc_exec(struct tproc *p, pid_t pid)
{
	if (p->pid != pid && p->pidfd >= 0) {
		close(p->pidfd);
		p->pidfd = -1;
	}
	p->pid = pid;
	if (p->nfds > 0)
		memset(p->fds, 0, (size_t)p->nfds * sizeof *p->fds);
	set_comment(p);
}

static struct tfd *slot(struct tproc *p, int64_t fd)
{
	if (fd < 0 || fd >= MAX_FDS)
		return NULL;
	if (fd >= p->nfds) {
		int n = p->nfds ? p->nfds : 64;
		struct tfd *nf;

		while (n <= fd)
			n *= 2;
		nf = realloc(p->fds, (size_t)n * sizeof *nf);
		if (nf == NULL)
			return NULL;
		memset(nf + p->nfds, 0, (size_t)(n - p->nfds) * sizeof *nf);
		p->fds = nf;
		p->nfds = n;
	}
	return &p->fds[fd];
}

static void forget(struct tproc *p, int64_t fd)
{
	if (fd >= 0 && fd < p->nfds)
		memset(&p->fds[fd], 0, sizeof p->fds[fd]);
}

/* Our own copy of the program's descriptor, or -1 (closed meanwhile, or no pidfd support). */
static int copy_fd(struct tproc *p, int fd)
{
	if (p->pidfd < 0)
		p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
	if (p->pidfd < 0)
		return -1;
	return (int)syscall(SYS_pidfd_getfd, p->pidfd, fd, 0);
}

/* ---- Addresses ---- */

static int sa_to_addr(struct cc_addr *a, const struct sockaddr_storage *ss, size_t len)
{
	memset(a, 0, sizeof *a);
	if (ss->ss_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
		a->family = AF_INET;
		a->port = ntohs(s->sin_port);
		memcpy(a->ip, &s->sin_addr, 4);
		return 0;
	}
	if (ss->ss_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
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

static int addr_is_any(const struct cc_addr *a)
{
	static const uint8_t zero[16];

	return memcmp(a->ip, zero, a->family == AF_INET6 ? 16 : 4) == 0;
}

static int getint(int fd, int level, int name, int dflt)
{
	int v;
	socklen_t l = sizeof v;

	return getsockopt(fd, level, name, &v, &l) == 0 ? v : dflt;
}

static void refresh(struct tfd *e, int copy)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof ss;

	e->flags &= (uint8_t)~(TFD_LOCAL | TFD_WILDCARD);
	if (getsockname(copy, (struct sockaddr *)&ss, &l) == 0 && sa_to_addr(&e->local, &ss, l) == 0 &&
	    e->local.port != 0)
		e->flags |= TFD_LOCAL | (addr_is_any(&e->local) ? TFD_WILDCARD : 0);
	l = sizeof ss;
	if (getpeername(copy, (struct sockaddr *)&ss, &l) == 0 && sa_to_addr(&e->peer, &ss, l) == 0)
		e->flags |= TFD_PEER;
	else
		e->flags &= (uint8_t)~TFD_PEER;
}

/* Re-reads the addresses of a socket we know (after bind, connect, or its first send). */
static void refresh_fd(struct tproc *p, int fd, struct tfd *e)
{
	int c = copy_fd(p, fd);

	if (c < 0)
		return;
	refresh(e, c);
	if (e->kind == TFD_TCP)
		e->mss = (uint16_t)getint(c, IPPROTO_TCP, TCP_MAXSEG, 1460);
	close(c);
}

/* Initial sequence number of src -> dst, from the addresses alone: the shim's (shim/capture.c). */
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

/* The entry for fd, classified on first sight; NULL unless it is a UDP or TCP socket. */
static struct tfd *lookup(struct tproc *p, int64_t fd)
{
	struct tfd *e = slot(p, fd);
	int c, dom, type, proto;

	if (e == NULL)
		return NULL;
	if (e->kind == TFD_UDP || e->kind == TFD_TCP)
		return e;
	if (e->kind == TFD_OTHER)
		return NULL;
	c = copy_fd(p, (int)fd);
	if (c < 0) {
		/* Not open (the call will fail): nothing to remember.  Otherwise we cannot look. */
		if (errno != EBADF)
			e->kind = TFD_OTHER;
		return NULL;
	}
	e->kind = TFD_OTHER;
	dom = getint(c, SOL_SOCKET, SO_DOMAIN, -1);
	type = getint(c, SOL_SOCKET, SO_TYPE, -1);
	proto = getint(c, SOL_SOCKET, SO_PROTOCOL, -1);
	if (dom == AF_INET || dom == AF_INET6) {
		if (type == SOCK_DGRAM && (proto == 0 || proto == IPPROTO_UDP))
			e->kind = TFD_UDP;
		else if (type == SOCK_STREAM && (proto == 0 || proto == IPPROTO_TCP || proto == 262))
			e->kind = TFD_TCP;
	}
	if (e->kind != TFD_OTHER) {
		e->family = (uint8_t)dom;
		e->mss = 1460;
		refresh(e, c);
		if (e->kind == TFD_TCP && (e->flags & TFD_PEER)) {
			/* Joined mid-stream (inherited, or across exec): sequence numbers must still add up. */
			e->mss = (uint16_t)getint(c, IPPROTO_TCP, TCP_MAXSEG, 1460);
			e->snd_seq = isn(&e->local, &e->peer) + 1;
			e->rcv_seq = isn(&e->peer, &e->local) + 1;
			e->flags |= TFD_TCP_OPEN;
		}
	}
	close(c);
	return e->kind == TFD_OTHER ? NULL : e;
}

/* ---- Route cache: the source address towards a peer, for wildcard-bound sockets ---- */

#define RT_SIZE 16

static struct { struct cc_addr dst, src; int used; } rt[RT_SIZE];
static unsigned rt_next;

static int same_ip(const struct cc_addr *a, const struct cc_addr *b)
{
	return a->family == b->family && memcmp(a->ip, b->ip, a->family == AF_INET6 ? 16 : 4) == 0;
}

static int route_src(const struct cc_addr *dst, struct cc_addr *src)
{
	struct sockaddr_storage ss;
	socklen_t l;
	int s, rc = -1;

	for (int i = 0; i < RT_SIZE; i++)
		if (rt[i].used && same_ip(&rt[i].dst, dst)) {
			*src = rt[i].src;
			return 0;
		}
	memset(&ss, 0, sizeof ss);
	if (dst->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(9);
		memcpy(&s6->sin6_addr, dst->ip, 16);
		l = sizeof *s6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(9);
		memcpy(&s4->sin_addr, dst->ip, 4);
		l = sizeof *s4;
	}
	/* A connected UDP socket makes the kernel pick the route's source; nothing is sent. */
	s = socket(dst->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	if (connect(s, (struct sockaddr *)&ss, l) == 0) {
		l = sizeof ss;
		if (getsockname(s, (struct sockaddr *)&ss, &l) == 0 && sa_to_addr(src, &ss, l) == 0)
			rc = 0;
	}
	close(s);
	if (rc == 0) {
		unsigned i = rt_next++ % RT_SIZE;
		rt[i].dst = *dst;
		rt[i].src = *src;
		rt[i].used = 1;
	}
	return rc;
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
	return sa_to_addr(a, &ss, len);
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

	if (peer_given != NULL) {
		peer = *peer_given;
	} else {
		if (!(e->flags & TFD_PEER))
			refresh_fd(t->proc, fd, e);
		if (!(e->flags & TFD_PEER))
			return;         /* the shim does not guess a flow either */
		peer = e->peer;
	}
	if (!(e->flags & TFD_LOCAL))
		refresh_fd(t->proc, fd, e);     /* bound by its first send */
	local = e->local;
	if (local.family != peer.family || (e->flags & TFD_WILDCARD)) {
		struct cc_addr src;
		if (route_src(&peer, &src) == 0) {
			memcpy(local.ip, src.ip, 16);
			local.family = src.family;
		}
	}
	memset(&f, 0, sizeof f);
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

/* The three-way handshake, as the shim writes it when a connection opens. */
static void tcp_open(struct tthread *t, int fd, struct tfd *e, int active)
{
	uint64_t ts = cc_trace_now();
	uint32_t l, p;

	refresh_fd(t->proc, fd, e);
	e->flags &= (uint8_t)~TFD_CONNECTING;
	if (!(e->flags & TFD_PEER) || !(e->flags & TFD_LOCAL))
		return;
	if (e->mss < 536)
		e->mss = 536;
	l = isn(&e->local, &e->peer);
	p = isn(&e->peer, &e->local);
	e->snd_seq = l + 1;
	e->rcv_seq = p + 1;
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

static void tcp_data(struct tthread *t, int fd, struct tfd *e, int out, const struct iovec *iov, int cnt, size_t len)
{
	struct cc_frame f;
	uint64_t ts;
	uint32_t seq;

	if (e->flags & TFD_CONNECTING)
		tcp_open(t, fd, e, 1);          /* a non-blocking connect finished */
	if (!(e->flags & TFD_TCP_OPEN) || len == 0)
		return;
	ts = cc_trace_now();
	seq = out ? e->snd_seq : e->rcv_seq;
	if (out)
		e->snd_seq += (uint32_t)len;
	else
		e->rcv_seq += (uint32_t)len;
	tcp_frame(t, e, &f, out, CC_TCP_PSH | CC_TCP_ACK);
	f.ack = out ? e->rcv_seq : e->snd_seq;
	/* Read in chunks, written as segments no larger than the MSS, as the wire would carry them. */
	for (size_t off = 0; off < len; off += CHUNK) {
		size_t n = len - off < CHUNK ? len - off : CHUNK;
		size_t got = gather(t->tid, iov, cnt, off, n, dbuf);
		for (size_t s = 0; s < n; s += e->mss) {
			size_t m = n - s < e->mss ? n - s : e->mss;
			size_t cap = s >= got ? 0 : got - s < m ? got - s : m;
			f.seq = seq + (uint32_t)(off + s);
			cc_tout_frame(t->proc, &f, ts, dbuf + s, cap, m);
		}
	}
}

static void tcp_fin(struct tthread *t, struct tfd *e, int out)
{
	uint8_t bit = out ? TFD_FIN_OUT : TFD_FIN_IN;
	uint32_t seq;

	if (!(e->flags & TFD_TCP_OPEN) || (e->flags & bit))
		return;
	e->flags |= bit;
	seq = out ? e->snd_seq++ : e->rcv_seq++;
	tcp_ctl(t, e, cc_trace_now(), out, CC_TCP_FIN | CC_TCP_ACK, seq, out ? e->rcv_seq : e->snd_seq);
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

int cc_sys_enter(struct tthread *t)
{
	struct tproc *p = t->proc;
	int64_t fd = (int64_t)t->args[0];
	struct tfd *e;

	switch (t->nr) {
	case SYS_close:
		/* A socket shared with another process (fork) stays open there: no FIN from us (the shim's rule). */
		e = lookup(p, fd);
		if (e != NULL && e->kind == TFD_TCP && !(e->flags & TFD_INHERITED))
			tcp_fin(t, e, 1);
		forget(p, fd);
		return 0;
	case SYS_close_range: {
		uint64_t hi = t->args[1] < (uint64_t)p->nfds ? t->args[1] : (uint64_t)p->nfds - 1;
		for (uint64_t i = t->args[0]; p->nfds > 0 && i <= hi; i++)
			forget(p, (int64_t)i);
		return 0;
	}
	case SYS_shutdown:
		e = lookup(p, fd);
		if (e != NULL && e->kind == TFD_TCP && (t->args[1] == SHUT_WR || t->args[1] == SHUT_RDWR))
			tcp_fin(t, e, 1);
		return 0;
	case SYS_dup3:
#ifdef SYS_dup2
	case SYS_dup2:
#endif
		forget(p, (int64_t)t->args[1]);
		return 0;
	case SYS_socket:
	case SYS_accept:
	case SYS_accept4:
	case SYS_dup:
	case SYS_fcntl:
	case SYS_bind:
		return 1;
	case SYS_connect:
		return lookup(p, fd) != NULL;
	default:
		/* Sends and receives: only on our sockets, never on a peek. */
		if (lookup(p, fd) == NULL)
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

void cc_sys_exit(struct tthread *t, int64_t rval, int is_error)
{
	struct tproc *p = t->proc;
	int fd = (int)t->args[0];
	struct tfd *e;

	switch (t->nr) {
	case SYS_socket:
	case SYS_dup:
	case SYS_fcntl:
		if (!is_error)
			forget(p, rval);
		return;
	case SYS_accept:
	case SYS_accept4:
		if (is_error)
			return;
		forget(p, rval);
		e = lookup(p, rval);
		if (e != NULL && e->kind == TFD_TCP) {
			e->flags &= (uint8_t)~TFD_TCP_OPEN;     /* not joined mid-stream: it opens now */
			tcp_open(t, (int)rval, e, 0);
		}
		return;
	case SYS_bind:
		e = lookup(p, fd);
		if (e != NULL && !is_error)
			refresh_fd(p, fd, e);
		return;
	case SYS_connect:
		e = lookup(p, fd);
		if (e == NULL)
			return;
		if (e->kind == TFD_UDP) {
			refresh_fd(p, fd, e);
		} else if (!is_error) {
			tcp_open(t, fd, e, 1);
		} else if (rval == -EINPROGRESS) {
			e->flags |= TFD_CONNECTING;
		}
		return;
	}
	e = lookup(p, fd);
	if (e == NULL || is_error)
		return;
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
			e->rcv_seq += (uint32_t)rval;   /* discarded unseen */
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
