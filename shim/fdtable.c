/*
 * The fd table: 1024 chunks of 1024 entries, each chunk mapped on first use.  Chunks are mmap'd
 * rather than malloc'd because hooks can run inside signal handlers and inside malloc's own
 * callers; publication is one compare-and-swap, and a chunk is never freed.
 */
#include "shim/fdtable.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CHUNK_BITS CC_FD_CHUNK_BITS
#define CHUNK (1u << CHUNK_BITS)
#define NCHUNKS CC_FD_NCHUNKS

struct cc_fd *cc_fd_chunks[NCHUNKS];
uint32_t cc_fork_gen;
int cc_udp_duped;
uint32_t cc_fd_gen = 1;         /* (a hot lane never filled holds 0) */
static struct cc_tcpshare private_shares[CC_TCP_SHARES];
struct cc_tcpshare *cc_tcp_shares = private_shares;

void cc_fd_init(void)
{
	struct cc_tcpshare *p;

	if (cc_tcp_shares != private_shares)
		return;
	for (unsigned i = 0; i < CC_TCP_SHARES; i++)
		if (__atomic_load_n(&private_shares[i].refs, __ATOMIC_ACQUIRE))
			return;         /* (a hook ran before start and shared a stream: keep the pool) */
	p = mmap(NULL, sizeof(private_shares), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p != MAP_FAILED)
		__atomic_store_n(&cc_tcp_shares, p, __ATOMIC_RELEASE);
}

void cc_fd_unshare(struct cc_fd *e)
{
	unsigned s = __atomic_exchange_n(&e->share, 0, __ATOMIC_ACQ_REL);

	if (s)
		__atomic_fetch_sub(&cc_tcp_shares[s - 1].refs, 1, __ATOMIC_RELEASE);
}

/* o's share, made now if it has none (counting o): 1 + its index, 0 when the pool is used up. */
static unsigned share_of(struct cc_fd *o)
{
	unsigned s = __atomic_load_n(&o->share, __ATOMIC_ACQUIRE);

	for (unsigned i = 0; !s && i < CC_TCP_SHARES; i++) {
		uint16_t free_ = 0;
		struct cc_tcpshare *t = &cc_tcp_shares[i];
		if (!__atomic_compare_exchange_n(&t->refs, &free_, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			continue;
		/* (A byte another thread moves on o between these lines and the next is not counted.) */
		t->snd_seq = __atomic_load_n(&o->snd_seq, __ATOMIC_RELAXED);
		t->rcv_seq = __atomic_load_n(&o->rcv_seq, __ATOMIC_RELAXED);
		__atomic_store_n(&t->flags, (uint16_t)(fd_flags(o) & (FDF_FIN_OUT | FDF_FIN_IN)), __ATOMIC_RELAXED);
		s = i + 1;
		__atomic_store_n(&o->share, (uint16_t)s, __ATOMIC_RELEASE);
	}
	return s;
}

void cc_fd_dup_tcp(struct cc_fd *o, int newfd)
{
	struct cc_fd *n = cc_fd_get(newfd);
	unsigned s;

	if (!n || n == o)
		return;
	cc_fd_unshare(n);
	s = share_of(o);
	if (s)
		__atomic_fetch_add(&cc_tcp_shares[s - 1].refs, 1, __ATOMIC_ACQ_REL);
	n->family = o->family;
	n->tos = o->tos;
	n->ttl = o->ttl;
	n->mcast_ttl = o->mcast_ttl;
	n->gso_size = o->gso_size;
	n->mss = o->mss;
	n->fork_gen = o->fork_gen;
	n->local = o->local;
	n->peer = o->peer;
	n->snd_seq = __atomic_load_n(&o->snd_seq, __ATOMIC_RELAXED);
	n->rcv_seq = __atomic_load_n(&o->rcv_seq, __ATOMIC_RELAXED);
	__atomic_store_n(&n->share, (uint16_t)s, __ATOMIC_RELEASE);
	__atomic_store_n(&n->flags, (uint16_t)fd_flags(o), __ATOMIC_RELAXED);
	__atomic_store_n(&n->kind, FDK_TCP, __ATOMIC_RELEASE);       /* last: the entry is whole */
	cc_fd_changed();
}

/* Calls fn on every entry of the table in use, with its number. */
static void each_entry(void (*fn)(int fd, struct cc_fd *e, int arg), int arg)
{
	for (unsigned ch = 0; ch < NCHUNKS; ch++) {
		struct cc_fd *c = __atomic_load_n(&cc_fd_chunks[ch], __ATOMIC_ACQUIRE);
		for (unsigned i = 0; c && i < CHUNK; i++)
			if (fd_kind(&c[i]) != FDK_UNKNOWN)
				fn((int)(ch << CHUNK_BITS | i), &c[i], arg);
	}
}

static void fork_one(int fd, struct cc_fd *e, int arg)
{
	(void)fd, (void)arg;
	if (fd_kind(e) != FDK_TCP || !(fd_flags(e) & FDF_TCP_OPEN))
		return;
	unsigned s = share_of(e);
	if (s)
		__atomic_fetch_add(&cc_tcp_shares[s - 1].refs, 1, __ATOMIC_ACQ_REL);   /* the child's copy */
}

void cc_fd_fork_prepare(void)
{
	each_entry(fork_one, 0);
}

/* arg: 0 leaving for good, 1 exec, 2 exec failed (undo). */
static void leave_one(int fd, struct cc_fd *e, int arg)
{
	unsigned s = __atomic_load_n(&e->share, __ATOMIC_ACQUIRE);

	if (!s || fd_kind(e) != FDK_TCP)
		return;
	if (!arg) {
		cc_fd_unshare(e);
		return;
	}
	/*
	 * exec: only close-on-exec descriptors close; the others go on in the new image.  The entry
	 * keeps its share, for an exec that fails (a close by another thread during that failing
	 * exec would count twice: not guarded).
	 */
	long fl = syscall(SYS_fcntl, fd, F_GETFD);
	if (fl >= 0 && (fl & FD_CLOEXEC)) {
		if (arg == 1)
			__atomic_fetch_sub(&cc_tcp_shares[s - 1].refs, 1, __ATOMIC_RELEASE);
		else
			__atomic_fetch_add(&cc_tcp_shares[s - 1].refs, 1, __ATOMIC_ACQ_REL);
	}
}

void cc_fd_leaving(int exec, int undo)
{
	int saved = errno;

	each_entry(leave_one, exec ? 1 + !!undo : 0);
	errno = saved;
}

struct cc_fd *cc_fd_get(int fd)
{
	unsigned u = (unsigned)fd;
	struct cc_fd *c, *expected = NULL;

	if (fd < 0 || (u >> CHUNK_BITS) >= NCHUNKS)
		return NULL;
	c = __atomic_load_n(&cc_fd_chunks[u >> CHUNK_BITS], __ATOMIC_ACQUIRE);
	if (c)
		return &c[u & (CHUNK - 1)];
	c = mmap(NULL, CHUNK * sizeof(*c), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c == MAP_FAILED)
		return NULL;
	if (!__atomic_compare_exchange_n(&cc_fd_chunks[u >> CHUNK_BITS], &expected, c, 0, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		munmap(c, CHUNK * sizeof(*c));
		c = expected;
	}
	return &c[u & (CHUNK - 1)];
}

void cc_fd_reset(int fd)
{
	struct cc_fd *e = cc_fd_peek(fd);

	if (e && fd_kind(e) != FDK_UNKNOWN) {
		__atomic_store_n(&e->kind, FDK_UNKNOWN, __ATOMIC_RELEASE);
		__atomic_store_n(&e->flags, 0, __ATOMIC_RELAXED);
		cc_fd_unshare(e);
		cc_fd_changed();
	}
}

void cc_fd_reset_range(unsigned lo, unsigned hi, void (*closing)(int fd, struct cc_fd *e))
{
	for (unsigned ch = lo >> CHUNK_BITS; ch < NCHUNKS && ch <= (hi >> CHUNK_BITS); ch++) {
		struct cc_fd *c = __atomic_load_n(&cc_fd_chunks[ch], __ATOMIC_ACQUIRE);
		if (!c)
			continue;
		for (unsigned i = 0; i < CHUNK; i++) {
			unsigned fd = ch << CHUNK_BITS | i;
			if (fd >= lo && fd <= hi && fd_kind(&c[i]) != FDK_UNKNOWN) {
				if (closing)
					closing((int)fd, &c[i]);
				__atomic_store_n(&c[i].kind, FDK_UNKNOWN, __ATOMIC_RELEASE);
				__atomic_store_n(&c[i].flags, 0, __ATOMIC_RELAXED);
				cc_fd_unshare(&c[i]);
				cc_fd_changed();
			}
		}
	}
}
