/*
 * The descriptor tables of the traced processes: what each descriptor number is (UDP or TCP
 * socket, or anything else), its addresses and its synthesized TCP sequence numbers.
 *
 * The seccomp filter cannot tell a socket from a pipe, so read and write stop the program even on
 * files: the first sight of a descriptor number classifies it once (a copy taken with
 * pidfd_getfd, asked what it is and closed again) and every later call on a non-socket costs one
 * table look-up.  A number's entry is forgotten when the program closes it or duplicates onto
 * it, or an exec closes it (close-on-exec), so a reused number is classified afresh.  Threads
 * share a table; fork copies it.  An open connection reached by more than one number (dup, a
 * fork's copy) keeps one stream for all of them (struct tshare), so its numbers run on and its
 * FIN waits for the last holder.
 */
#include "tools/trace_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

#define MAX_FDS  (1 << 20)      /* descriptors above this are not followed */

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

/* e's share, made now (e its one holder so far) if it has none; NULL when out of memory. */
static struct tshare *share_of(struct tfd *e)
{
	if (e->share == NULL && (e->share = malloc(sizeof *e->share)) != NULL) {
		e->share->refs = 1;
		e->share->s = e->own;
	}
	return e->share;
}

/* e stops holding its share (closed, replaced, or gone with its process). */
static void unshare(struct tfd *e)
{
	if (e->share != NULL && --e->share->refs == 0)
		free(e->share);
	e->share = NULL;
}

int cc_tfd_held_elsewhere(const struct tfd *e)
{
	return e->share != NULL && e->share->refs > 1;
}

/*
 * A fork copies the table.  An open connection is then held by both processes: its stream is
 * shared (one numbering whichever process moves bytes, one FIN when the last lets go); what else
 * was inherited is marked so, since the other process may keep it open.
 */
struct tproc *cc_tproc_copy(struct tproc *from, pid_t pid)
{
	struct tproc *p = cc_tproc_new(pid);

	if (p == NULL || from->nfds == 0)
		return p;
	p->fds = malloc((size_t)from->nfds * sizeof *p->fds);
	if (p->fds == NULL)
		return p;
	for (int i = 0; i < from->nfds; i++) {
		struct tfd *e = &from->fds[i];
		if (e->kind == TFD_TCP && (e->flags & TFD_TCP_OPEN))
			share_of(e);
		if (e->share != NULL)
			e->share->refs++;
	}
	memcpy(p->fds, from->fds, (size_t)from->nfds * sizeof *p->fds);
	p->nfds = from->nfds;
	for (int i = 0; i < p->nfds; i++)
		p->fds[i].flags |= TFD_INHERITED;
	return p;
}

static void unshare_all(struct tproc *p)
{
	for (int i = 0; i < p->nfds; i++)
		unshare(&p->fds[i]);
}

void cc_tproc_put(struct tproc *p)
{
	if (p == NULL || --p->refs > 0)
		return;
	if (p->pidfd >= 0)
		close(p->pidfd);
	unshare_all(p);
	free(p->fds);
	free(p);
}

/*
 * After exec: the process under its (perhaps new) pid and name.  What became of its descriptors
 * is cc_sys_exec's to see.  The pidfd still names the same process.
 */
void cc_tproc_exec(struct tproc *p, pid_t pid)
{
	if (p->pid != pid && p->pidfd >= 0) {
		close(p->pidfd);
		p->pidfd = -1;
	}
	p->pid = pid;
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

static struct cc_tcp_gens own_gens;
struct cc_tcp_gens *cc_trace_gens = &own_gens;

void cc_tfd_forget(struct tproc *p, int64_t fd)
{
	if (fd >= 0 && fd < p->nfds) {
		unshare(&p->fds[fd]);
		memset(&p->fds[fd], 0, sizeof p->fds[fd]);
	}
}

void cc_tfd_dup(struct tproc *p, int64_t oldfd, int64_t newfd)
{
	struct tfd *o = cc_tfd_peek(p, oldfd), *n;

	if (oldfd == newfd)
		return;
	cc_tfd_forget(p, newfd);
	/*
	 * Only an open connection, whose addresses are fixed for good, is followed through the new
	 * number as one stream.  Anything else is classified on its first use through it, as before
	 * (a socket not yet connected would not see the other number's connect).
	 */
	if (o == NULL || o->kind != TFD_TCP || !(o->flags & TFD_TCP_OPEN) || (n = slot(p, newfd)) == NULL)
		return;
	o = &p->fds[oldfd];             /* (slot may have moved the table) */
	if (share_of(o) == NULL)
		return;                 /* no memory: newfd is classified when used */
	*n = *o;
	n->share->refs++;
}

/* Without a look at the program's sockets nothing can be captured: said once, not silently. */
static void cannot_look(const char *call)
{
	static int said;
	int e = errno;

	if (!said)
		fprintf(stderr, "clearcap: %s: %s: the program's sockets cannot be seen (Linux 5.6 or later "
			"needed); nothing is captured\n", call, strerror(e));
	said = 1;
	errno = e;
}

/* Our own copy of the program's descriptor, or -1 (closed meanwhile, or no pidfd support). */
int cc_tfd_copy(struct tproc *p, int fd)
{
	int c;

	if (p->pidfd < 0)
		p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
	if (p->pidfd < 0) {
		/* ESRCH: the process is going away (its leader has exited). */
		if (errno != ESRCH)
			cannot_look("pidfd_open");
		return -1;
	}
	c = (int)syscall(SYS_pidfd_getfd, p->pidfd, fd, 0);
	if (c < 0 && errno != EBADF && errno != ESRCH && errno != EMFILE)
		cannot_look("pidfd_getfd");
	return c;
}

/* ---- Addresses ---- */

int cc_trace_sa_addr(struct cc_addr *a, const struct sockaddr_storage *ss, size_t len)
{
	return cc_addr_from_sa(a, (const struct sockaddr *)ss, (unsigned)len);
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
	if (getsockname(copy, (struct sockaddr *)&ss, &l) == 0 && cc_trace_sa_addr(&e->local, &ss, l) == 0 &&
	    e->local.port != 0)
		e->flags |= TFD_LOCAL | (addr_is_any(&e->local) ? TFD_WILDCARD : 0);
	l = sizeof ss;
	if (getpeername(copy, (struct sockaddr *)&ss, &l) == 0 && cc_trace_sa_addr(&e->peer, &ss, l) == 0)
		e->flags |= TFD_PEER;
	else
		e->flags &= (uint8_t)~TFD_PEER;
}

/* Re-reads the addresses of a socket we know (after bind, connect, or its first send). */
void cc_tfd_refresh(struct tproc *p, int fd, struct tfd *e)
{
	int c = cc_tfd_copy(p, fd);

	if (c < 0)
		return;
	refresh(e, c);
	if (e->kind == TFD_TCP)
		e->mss = (uint16_t)getint(c, IPPROTO_TCP, TCP_MAXSEG, 1460);
	close(c);
}

struct tfd *cc_tfd_peek(struct tproc *p, int64_t fd)
{
	struct tfd *e = fd >= 0 && fd < p->nfds ? &p->fds[fd] : NULL;

	return e != NULL && (e->kind == TFD_UDP || e->kind == TFD_TCP) ? e : NULL;
}

/* The entry for fd, classified on first sight; NULL unless it is a UDP or TCP socket. */
struct tfd *cc_tfd_lookup(struct tproc *p, int64_t fd)
{
	struct tfd *e = slot(p, fd);
	int c, dom, type, proto;

	if (e == NULL)
		return NULL;
	if (e->kind == TFD_UDP || e->kind == TFD_TCP)
		return e;
	if (e->kind == TFD_OTHER)
		return NULL;
	c = cc_tfd_copy(p, (int)fd);
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
			e->isn_gen = (uint8_t)cc_tcp_gen_now(cc_trace_gens, &e->local, &e->peer);
			e->own.snd_seq = cc_tcp_isn(&e->local, &e->peer, e->isn_gen) + 1;
			e->own.rcv_seq = cc_tcp_isn(&e->peer, &e->local, e->isn_gen) + 1;
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

int cc_trace_route_src(const struct cc_addr *dst, struct cc_addr *src)
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
		if (getsockname(s, (struct sockaddr *)&ss, &l) == 0 && cc_trace_sa_addr(src, &ss, l) == 0)
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
