/*
 * The fd table: 1024 chunks of 1024 entries, each chunk mapped on first use.  Chunks are mmap'd
 * rather than malloc'd because hooks can run inside signal handlers and inside malloc's own
 * callers; publication is one compare-and-swap, and a chunk is never freed.
 */
#include "shim/fdtable.h"

#include <string.h>
#include <sys/mman.h>

#define CHUNK_BITS CC_FD_CHUNK_BITS
#define CHUNK (1u << CHUNK_BITS)
#define NCHUNKS CC_FD_NCHUNKS

struct cc_fd *cc_fd_chunks[NCHUNKS];
uint32_t cc_fork_gen;
int cc_udp_duped;
uint32_t cc_fd_gen = 1;         /* (a hot lane never filled holds 0) */
struct cc_tcpshare cc_tcp_shares[CC_TCP_SHARES];

void cc_fd_unshare(struct cc_fd *e)
{
	unsigned s = __atomic_exchange_n(&e->share, 0, __ATOMIC_ACQ_REL);

	if (s)
		__atomic_fetch_sub(&cc_tcp_shares[s - 1].refs, 1, __ATOMIC_RELEASE);
}

void cc_fd_dup_tcp(struct cc_fd *o, int newfd)
{
	struct cc_fd *n = cc_fd_get(newfd);
	unsigned s = __atomic_load_n(&o->share, __ATOMIC_ACQUIRE);

	if (!n || n == o)
		return;
	cc_fd_unshare(n);
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
