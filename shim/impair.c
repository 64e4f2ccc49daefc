/*
 * Impairment: the process's state, the queue of delayed datagrams and its sender thread (see
 * impair.h; the model is decoders/impairspec.c's).
 *
 * What the program sees.  A lost send returns success with the full length, as the network
 * would; a duplicated one goes out twice; a delayed, jittered, reordered or rate-limited one is
 * copied (data, destination, control messages) and returns success at once, and our sender
 * thread sends the copy on the same descriptor at its time, in order with the other delayed ones.
 * Errors the kernel would have given such a send (EMSGSIZE, ECONNREFUSED from an earlier ICMP,
 * a full send buffer) are not reported to the program; in the capture the copy is then marked.
 *
 * The descriptor.  The sender thread sends on the program's own descriptor number, under this
 * file's lock; every hook that closes or replaces a descriptor (close, dup2, dup3, close_range,
 * closefrom) first calls cc_impair_closing(), which sends that descriptor's queued datagrams at
 * once under the same lock.  So a queued datagram never goes out on a socket the program opened
 * later under the same number, and the shim holds no descriptor of its own for it.  A program that
 * sends on a descriptor while another of its threads closes it races with itself, as without us.
 *
 * Locking.  One mutex (fork rank CC_RANK_IMPAIR, below the capture's TURN and writer locks, which
 * are taken under it when a datagram is written).  The program's signals are blocked while a
 * hook holds it: a handler that sent a datagram would otherwise wait for its own thread.
 */
#include "shim/impair.h"
#include "pcapout/lock.h"
#include "shim/capture_int.h"
#include "shim/hooks.h"
#include "shim/ownfd.h"
#include "shim/real.h"
#include "decoders/impairspec.h"
#include "pcapout/filter.h"
#include "pcapout/single.h"
#include "pcapout/writer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

int cc_impair_out, cc_impair_in;

#define CTL_MAX 256             /* control messages copied with a delayed datagram */

struct qpkt {
	struct qpkt *prev, *next;
	int fd;
	int flags;
	uint8_t dup, reordered;
	uint64_t called, due;   /* CLOCK_REALTIME ns, as the capture's timestamps */
	struct sockaddr_storage to;
	socklen_t tolen;
	size_t ctllen, len;
	uint8_t ctl[CTL_MAX] __attribute__((aligned(8)));
	uint8_t data[];
};

/*
 * Each socket draws from its own PRNG stream (the n-th socket of the process to meet impairment
 * gets stream n in that direction), so that RTCP going out on another socket at a time that
 * varies from run to run never shifts the fates of the media: the same seed and the same
 * datagrams per socket give the same fates.  Sockets numbered beyond FD_STREAMS share one stream.
 */
#define FD_STREAMS 1024

struct fdstate {
	uint8_t used[2];                /* out, in */
	struct cc_impair_state st[2];
};

static struct {
	struct cc_impair_spec spec;
	uint64_t seed;
	struct cc_impair_state shared[2];
	uint64_t link_free;             /* rate: the process's one link */
	unsigned streams[2];            /* streams handed out so far */
	uint64_t forks;                 /* this process's forks so far: a child's ordinal */
	struct fdstate fds[FD_STREAMS];
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct qpkt *head, *tail;
	unsigned queued;
	int thread;             /* the sender thread runs (in this process) */
	int filter;             /* CLEARCAP_IMPAIR_FILTER selects the datagrams */
} I = { .lock = CC_MUTEX_INITIALIZER };

/* ---- Start-up ---- */

/* The shared streams from I.seed; the per-socket ones follow as sockets meet impairment. */
static void seed_streams(void)
{
	cc_prng_seed(&I.shared[0].rng, I.seed ^ 0x7368617265646f75ull);
	cc_prng_seed(&I.shared[1].rng, I.seed ^ 0x73686172656469ull);
	I.streams[0] = I.streams[1] = 0;
	for (unsigned fd = 0; fd < FD_STREAMS; fd++)
		I.fds[fd].used[0] = I.fds[fd].used[1] = 0;
}

int cc_impair_load(void)
{
	const char *v = getenv("CLEARCAP_IMPAIR");
	char err[200];

	if (!v || !*v)
		return 0;
	if (cc_impair_parse(v, &I.spec, err, sizeof(err)) < 0) {
		cc_warn("CLEARCAP_IMPAIR=%.200s: %s; not capturing", v, err);
		return -1;
	}
	const char *s = getenv("CLEARCAP_IMPAIR_SEED");
	if (s && *s) {
		if (cc_impair_parse_seed(s, &I.seed) < 0) {
			cc_warn("CLEARCAP_IMPAIR_SEED=%.200s: " CC_IMPAIR_SEED_EXPECTED "; not capturing", s);
			return -1;
		}
	} else if (getrandom(&I.seed, sizeof(I.seed), GRND_NONBLOCK) != sizeof(I.seed)) {
		I.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	}
	const char *fx = getenv("CLEARCAP_IMPAIR_FILTER");
	if (fx && *fx) {
		if (strlen(fx) > 4096 || cc_filter_compile_other(fx, err, sizeof(err)) < 0) {
			cc_warn("CLEARCAP_IMPAIR_FILTER='%.200s': %s; not capturing", fx, strlen(fx) > 4096 ? "too long" : err);
			return -1;
		}
		I.filter = 1;
	}
	seed_streams();
	return 0;
}

/*
 * The state of fd in direction dir (0 out, 1 in), lock held.  Streams in and out are apart, so the
 * datagrams received never change the fates of those sent.
 */
static struct cc_impair_state *state_of(int fd, int dir)
{
	if (fd < 0 || fd >= FD_STREAMS)
		return &I.shared[dir];
	struct fdstate *s = &I.fds[fd];
	if (!s->used[dir]) {
		memset(&s->st[dir], 0, sizeof(s->st[dir]));
		cc_prng_seed(&s->st[dir].rng, I.seed + 0x9e3779b97f4a7c15ull * (2 * I.streams[dir]++ + (unsigned)dir));
		s->used[dir] = 1;
	}
	return &s->st[dir];
}

void cc_impair_init(void)
{
	if (!I.spec.out.on && !I.spec.in.on)
		return;
	pthread_cond_init(&I.wake, NULL);
	cc_forklock_add(&I.lock, CC_RANK_IMPAIR);
	__atomic_store_n(&cc_impair_out, I.spec.out.on, __ATOMIC_RELEASE);
	__atomic_store_n(&cc_impair_in, I.spec.in.on, __ATOMIC_RELEASE);
	cc_fd_changed();                /* (before capture starts: no hot lane is filled yet) */
}

/*
 * Once per process, at its first impaired datagram (lock held): what is impaired and the seed that
 * reproduces it.  Not at start-up: every image a shell or launcher execs on the way would say it.
 */
static void announce(void)
{
	static int said;
	char o[256], i[256];

	if (said)
		return;
	said = 1;
	cc_impair_format(&I.spec.out, o, sizeof(o));
	cc_impair_format(&I.spec.in, i, sizeof(i));
	cc_warn("impairment on in pid %u: out: %s; in: %s; seed %" PRIu64 " (CLEARCAP_IMPAIR_SEED=%" PRIu64
		" repeats it)", (unsigned)getpid(), o[0] ? o : "none", i[0] ? i : "none", I.seed, I.seed);
}

/* ---- Locking with the program's signals held off ---- */

static void lock(sigset_t *old)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, old);
	cc_lock(&I.lock);
}

static void unlock(const sigset_t *old)
{
	cc_unlock(&I.lock);
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

void cc_impair_wake(void)
{
	sigset_t old;

	if (!__atomic_load_n(&I.thread, __ATOMIC_ACQUIRE))
		return;
	/* Under the lock: the sender looks at cc_writer_watching() under it before it waits. */
	lock(&old);
	pthread_cond_signal(&I.wake);
	unlock(&old);
}

/* ---- Capture of impaired datagrams ---- */

static void capture(int fd, const struct msghdr *msg, const char *note)
{
	struct cc_fd *e = cc_fd_peek(fd);
	struct cc_meta m = { .tos = -1, .ttl = -1 };
	if (!e || fd_kind(e) != FDK_UDP)
		return;
	size_t n = cc_msg_room(msg);
	cc_meta_from_cmsg(&m, msg);
	cc_cap_udp_note(fd, e, 1, msg->msg_name, msg->msg_namelen, &m, msg->msg_iov, (int)msg->msg_iovlen, n, n, note);
}

static void note_time(char *buf, size_t len, const char *what, uint64_t called, uint64_t now)
{
	snprintf(buf, len, "%s by impairment: %.3f ms after the program's call at %" PRIu64 ".%09" PRIu64
		 " (the time it would have left)", what, (double)(now - called) / 1e6, called / 1000000000u,
		 called % 1000000000u);
}

/*
 * Whether CLEARCAP_IMPAIR_FILTER selects this datagram: the filter runs on the frame as the
 * capture would hold it (addresses as cc_udp_local finds them, the first 512 bytes of payload).
 * Datagrams it leaves out draw nothing from the PRNG.
 */
static int selected(int fd, struct cc_fd *e, int outgoing, const struct sockaddr *name, socklen_t nlen,
		    const struct iovec *iov, int iovcnt, size_t len)
{
	struct cc_addr peer, local;
	struct cc_frame f;
	uint8_t buf[CC_SLL2_LEN + 40 + 8 + 512];

	if (!I.filter)
		return 1;
	if (!(name && cc_addr_from_sa(&peer, name, nlen) == 0)) {
		if (!(fd_flags(e) & FDF_PEER))
			return 0;
		peer = e->peer;
	}
	if (!(fd_flags(e) & FDF_LOCAL))
		cc_refresh_local(fd, e);
	cc_udp_local(e, NULL, &peer, &local);
	memset(&f, 0, sizeof(f));
	f.proto = IPPROTO_UDP;
	f.iface = CC_IF_WIRE;
	f.outgoing = (uint8_t)outgoing;
	f.ttl = 64;
	f.pid = cc_pid;
	f.src = outgoing ? local : peer;
	f.dst = outgoing ? peer : local;
	size_t cap = len < 512 ? len : 512;
	size_t n = cc_frame_build(buf, &f, iov, iovcnt, 0, cap, len);
	return cc_filter_match_other(buf, n, cc_frame_hdr_len(&f) + len);
}

/* ---- The queue ---- */

static void q_insert(struct qpkt *p)
{
	/* Due times mostly grow: the place is found from the tail; equal ones keep their order. */
	struct qpkt *a = I.tail;

	while (a && a->due > p->due)
		a = a->prev;
	p->prev = a;
	p->next = a ? a->next : I.head;
	if (p->next)
		p->next->prev = p;
	else
		I.tail = p;
	if (a)
		a->next = p;
	else
		I.head = p;
	I.queued++;
}

static void q_remove(struct qpkt *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		I.head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		I.tail = p->prev;
	I.queued--;
}

/*
 * Whether a datagram of fd whose time has come is still waiting for the sender thread (lock
 * held): one decided now must go behind it, or it would pass it.  The queue is in due order, so
 * only its head, up to now, is looked at.
 */
static int overdue_for(int fd, uint64_t now)
{
	for (struct qpkt *p = I.head; p && p->due <= now; p = p->next)
		if (p->fd == fd)
			return 1;
	return 0;
}

/* Sends a queued datagram now (lock held) and writes it with what was done to it. */
static void q_send(struct qpkt *p, const char *early)
{
	struct iovec v = { p->data, p->len };
	struct msghdr m = { .msg_name = p->tolen ? &p->to : NULL, .msg_namelen = p->tolen, .msg_iov = &v,
			    .msg_iovlen = 1, .msg_control = p->ctllen ? p->ctl : NULL, .msg_controllen = p->ctllen };
	char note[256];
	uint64_t now = cc_now();
	int copies = p->dup ? 2 : 1;

	for (int c = 0; c < copies; c++) {
		/* Never blocking our thread: a full send buffer loses the datagram, as a full queue would. */
		ssize_t r = cc_real.sendmsg(p->fd, &m, p->flags | MSG_DONTWAIT);
		if (r < 0) {
			char why[64];
			snprintf(why, sizeof(why), "lost: the delayed send failed (%s)", strerrorname_np(errno));
			note_time(note, sizeof(note), why, p->called, now);
			capture(p->fd, &m, note);
			continue;
		}
		const char *what = early ? early : p->reordered ? "reordered (held back 20 ms)" : "delayed";
		if (c == 1)
			what = "duplicated and delayed";
		note_time(note, sizeof(note), what, p->called, now);
		capture(p->fd, &m, note);
	}
}

/* Lock held: waits for a wake or until ns (CLOCK_REALTIME, as cc_now()). */
static void wait_until(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };

	pthread_cond_timedwait(&I.wake, &I.lock, &ts);
}

static void *sender_main(void *arg)
{
	(void)arg;
	prctl(PR_SET_NAME, "clearcap-impair", 0, 0, 0);
	cc_lock(&I.lock);
	for (;;) {
		uint64_t now = cc_now();
		struct qpkt *p = I.head;
		if (!p) {
			/*
			 * The program's main thread ended (writer.h): this thread may be all that keeps the
			 * process, when there is no writer (impairment without capture); look now and then.
			 */
			if (cc_writer_watching()) {
				cc_unlock(&I.lock);
				cc_writer_end_if_alone();
				cc_lock(&I.lock);
				wait_until(now + 50000000u);
			} else {
				pthread_cond_wait(&I.wake, &I.lock);
			}
			continue;
		}
		if (p->due > now) {
			wait_until(p->due);
			continue;
		}
		q_remove(p);
		q_send(p, NULL);
		free(p);
	}
	return NULL;
}

/* Lock held. */
static void start_sender(void)
{
	pthread_attr_t attr;
	pthread_t tid;
	sigset_t all, old;

	if (I.thread)
		return;
	/* The program's signals never land on our thread (the caller has them blocked already). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, cc_thread_stack(128 * 1024));
	if (cc_thread_start(&tid, &attr, sender_main, NULL, 0) == 0) {
		__atomic_store_n(&I.thread, 1, __ATOMIC_RELEASE);
		cc_writer_own_thread(1);
	}
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* ---- Sending ---- */

/*
 * A send the kernel never saw leaves an unbound socket unbound, where the real one would have
 * bound it to the wildcard address and an ephemeral port: replies could not arrive and
 * getsockname would differ.  So a lost or queued datagram binds the socket as the kernel would.
 */
static void ensure_bound(int fd, struct cc_fd *e)
{
	if (!(fd_flags(e) & FDF_LOCAL))
		cc_refresh_local(fd, e);
	if ((fd_flags(e) & FDF_LOCAL) && e->local.port != 0)
		return;
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = e->family == AF_INET6 ? AF_INET6 : AF_INET;
	socklen_t len = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int saved = errno;
	if (cc_real.bind(fd, (struct sockaddr *)&ss, len) == 0)
		cc_refresh_local(fd, e);
	errno = saved;
}

int cc_impair_send(int fd, struct cc_fd *e, const struct msghdr *msg, int flags, ssize_t *ret)
{
	struct cc_impair_fate f;
	sigset_t old;
	uint64_t now;

	/* A corked datagram is made of several calls: impairing one call would cut it up. */
	if (flags & MSG_MORE)
		return 0;
	size_t len = cc_msg_room(msg);
	/*
	 * The filter looks at the source port, which an unbound socket gets at this send: bound now,
	 * as the kernel binds it before anything else it does with the send.
	 */
	if (I.filter)
		ensure_bound(fd, e);
	if (!selected(fd, e, 1, msg->msg_name, msg->msg_namelen, msg->msg_iov, (int)msg->msg_iovlen, len))
		return 0;

	lock(&old);
	now = cc_now();
	announce();
	struct cc_impair_state *st = state_of(fd, 0);
	uint64_t link_was = I.link_free, last_was = st->last_due;
	st->link_free = I.link_free;
	cc_impair_decide(&I.spec.out, st, now, len, &f);
	I.link_free = st->link_free;
	if (!f.lost && !f.queued && overdue_for(fd, now))
		f.queued = 1;           /* (f.due is now) jitter never reorders */
	if (f.lost) {
		ensure_bound(fd, e);
		capture(fd, msg, "dropped by impairment (loss)");
		cc_writer_count_impaired(0);
		unlock(&old);
		*ret = (ssize_t)len;
		return 1;
	}
	if (!f.queued) {
		unlock(&old);
		if (!f.dup)
			return 0;       /* untouched: the hook sends and captures as usual */
		ssize_t r = cc_real.sendmsg(fd, msg, flags);
		int saved = errno;
		if (r >= 0) {
			capture(fd, msg, NULL);
			if (cc_real.sendmsg(fd, msg, flags) >= 0) {
				cc_writer_count_impaired(2);
				capture(fd, msg, "duplicated by impairment");
			}
		}
		errno = saved;
		*ret = r;
		return 1;
	}
	if (I.queued >= I.spec.out.limit || msg->msg_controllen > CTL_MAX ||
	    msg->msg_namelen > sizeof(struct sockaddr_storage)) {
		/* Never sent: it takes no time on the link and holds no later datagram back. */
		I.link_free = link_was;
		st->last_due = last_was;
		ensure_bound(fd, e);
		capture(fd, msg, "dropped by impairment (queue full)");
		cc_writer_count_impaired(0);
		unlock(&old);
		*ret = (ssize_t)len;
		return 1;
	}
	struct qpkt *p = malloc(sizeof(*p) + len);
	if (!p) {
		unlock(&old);
		return 0;
	}
	p->fd = fd;
	p->flags = flags & ~MSG_DONTWAIT;
	p->dup = (uint8_t)f.dup;
	p->reordered = (uint8_t)f.reordered;
	p->called = now;
	p->due = f.due;
	p->tolen = msg->msg_name ? msg->msg_namelen : 0;
	if (p->tolen)
		memcpy(&p->to, msg->msg_name, p->tolen);
	p->ctllen = msg->msg_control ? msg->msg_controllen : 0;
	if (p->ctllen)
		memcpy(p->ctl, msg->msg_control, p->ctllen);
	p->len = len;
	for (size_t i = 0, off = 0; i < msg->msg_iovlen; off += msg->msg_iov[i].iov_len, i++)
		memcpy(p->data + off, msg->msg_iov[i].iov_base, msg->msg_iov[i].iov_len);
	ensure_bound(fd, e);
	q_insert(p);
	cc_writer_count_impaired(f.reordered ? 3 : 1);
	if (f.dup)
		cc_writer_count_impaired(2);
	start_sender();
	pthread_cond_signal(&I.wake);
	unlock(&old);
	*ret = (ssize_t)len;
	return 1;
}

/* ---- Receiving ---- */

int cc_impair_recv_lost(int fd, struct cc_fd *e, const struct sockaddr *from, socklen_t fromlen,
			const struct iovec *iov, int iovcnt, size_t len, int peek)
{
	struct cc_impair_fate f;
	sigset_t old;

	/*
	 * The program saw this datagram with MSG_PEEK: its fate was decided then, and the receive
	 * that follows must return the datagram it peeked (no second draw).
	 */
	if (fd_flags(e) & FDF_PEEKED) {
		if (!peek)
			__atomic_fetch_and(&e->flags, (uint16_t)~FDF_PEEKED, __ATOMIC_RELAXED);
		return 0;
	}
	if (!selected(fd, e, 0, from, fromlen, iov, iovcnt, len))
		return 0;

	lock(&old);
	announce();
	cc_impair_decide(&I.spec.in, state_of(fd, 1), 0, 0, &f);
	unlock(&old);
	if (f.lost)
		cc_writer_count_impaired(0);
	else if (peek)
		__atomic_fetch_or(&e->flags, FDF_PEEKED, __ATOMIC_RELAXED);
	return f.lost;
}

/* ---- Closing, exit, fork ---- */

static void flush_range(unsigned lo, unsigned hi, const char *why)
{
	for (struct qpkt *p = I.head, *n; p; p = n) {
		n = p->next;
		if ((unsigned)p->fd < lo || (unsigned)p->fd > hi)
			continue;
		q_remove(p);
		q_send(p, why);
		free(p);
	}
}

void cc_impair_closing(unsigned lo, unsigned hi)
{
	sigset_t old;

	if (!__atomic_load_n(&cc_impair_out, __ATOMIC_ACQUIRE) && !__atomic_load_n(&cc_impair_in, __ATOMIC_ACQUIRE))
		return;
	lock(&old);
	flush_range(lo, hi, "sent early (socket closing)");
	/* A socket opened later under the same number starts a stream of its own. */
	for (unsigned fd = lo; fd <= hi && fd < FD_STREAMS; fd++)
		I.fds[fd].used[0] = I.fds[fd].used[1] = 0;
	unlock(&old);
}

void cc_impair_connecting(int fd)
{
	sigset_t old;

	/*
	 * A connect replaces the peer a datagram without a name goes to, and a disconnect may give
	 * the socket another port: a datagram queued before it would then leave to the new peer, or
	 * fail unseen.  So those queued go now, to the peer and from the port the program's call had,
	 * as they would have left the host at once with the network delaying them.
	 */
	if (fd < 0 || !__atomic_load_n(&I.thread, __ATOMIC_ACQUIRE))
		return;
	int saved = errno;
	lock(&old);
	flush_range((unsigned)fd, (unsigned)fd, "sent early (socket connecting)");
	unlock(&old);
	errno = saved;
}

void cc_impair_exit(void)
{
	sigset_t old;

	/*
	 * The lock even with the queue empty: the sender thread sends under it, and a datagram it
	 * took off the queue is recorded before the lock is free (else its record could come after
	 * the writer's last flush).
	 */
	if (!__atomic_load_n(&cc_impair_out, __ATOMIC_ACQUIRE))
		return;
	lock(&old);
	flush_range(0, ~0u, "sent early (exit or exec)");
	unlock(&old);
}

void cc_impair_atfork_prepare(void)
{
	/* (The fork locks are held: I.lock among them.) */
	I.forks++;
}

void cc_impair_atfork_child(void)
{
	/*
	 * Streams of its own: with the parent's PRNG states a child would repeat the fates its
	 * parent and its siblings draw.  Derived from the parent's seed and the child's fork
	 * ordinal, so that a given seed still gives every process of the same tree the same fates.
	 */
	if (I.spec.out.on || I.spec.in.on) {
		struct cc_prng r;
		cc_prng_seed(&r, I.seed ^ (0x666f726b00000000ull + I.forks));
		I.seed = cc_prng_next(&r);
		I.forks = 0;
		seed_streams();
	}
	/* The parent's sender thread sends the parent's queue; the child starts empty, no thread. */
	for (struct qpkt *p = I.head, *n; p; p = n) {
		n = p->next;
		free(p);
	}
	I.head = I.tail = NULL;
	I.queued = 0;
	__atomic_store_n(&I.thread, 0, __ATOMIC_RELEASE);
	pthread_cond_init(&I.wake, NULL);
}
