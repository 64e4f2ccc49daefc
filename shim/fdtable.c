/*
 * The fd table: 1024 chunks of 1024 entries, each chunk mapped on first use.  Chunks are mmap'd
 * rather than malloc'd because hooks can run inside signal handlers and inside malloc's own
 * callers; publication is one compare-and-swap, and a chunk is never freed.
 */
#include "shim/fdtable.h"

#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#define CHUNK_BITS CC_FD_CHUNK_BITS
#define CHUNK (1u << CHUNK_BITS)
#define NCHUNKS CC_FD_NCHUNKS

struct cc_fd *cc_fd_chunks[NCHUNKS];
uint32_t cc_fork_gen;
int cc_udp_duped;
uint32_t cc_fd_gen = 1;         /* (a hot lane never filled holds 0) */
static struct cc_tcpshare private_shares[CC_TCP_SHARES];
struct cc_tcpshare *cc_tcp_shares = private_shares;
static struct cc_tcp_gens private_gens;
struct cc_tcp_gens *cc_tcp_gens = &private_gens;
static int forking;             /* between the fork handlers' prepare and done */

void cc_fd_init(struct cc_tcp_gens *gens)
{
	struct cc_tcpshare *p;
	struct cc_tcp_gens *g = gens;

	if (cc_tcp_gens == &private_gens) {
		if (!g)
			g = mmap(NULL, sizeof(private_gens), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (g != MAP_FAILED)
			__atomic_store_n(&cc_tcp_gens, g, __ATOMIC_RELEASE);
	}
	if (cc_tcp_shares != private_shares)
		return;
	for (unsigned i = 0; i < CC_TCP_SHARES; i++)
		if (share_refs(&private_shares[i]))
			return;         /* (a hook ran before start and shared a stream: keep the pool) */
	p = mmap(NULL, sizeof(private_shares), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p != MAP_FAILED)
		__atomic_store_n(&cc_tcp_shares, p, __ATOMIC_RELEASE);
}

/*
 * One count more.  A count that reached the top stays there for good (counts only ever err high,
 * fdtable.h: leaked ones from killed processes add up): the share is then never free again.
 */
static void hold(struct cc_tcpshare *t)
{
	uint32_t rg = __atomic_load_n(&t->refs_gen, __ATOMIC_ACQUIRE);

	while ((rg & 0xffff) != 0xffff && !__atomic_compare_exchange_n(&t->refs_gen, &rg, rg + 1, 1, __ATOMIC_ACQ_REL,
									__ATOMIC_ACQUIRE))
		;
}

/* One count fewer (never below none, and never from the top: see hold). */
static void drop(struct cc_tcpshare *t)
{
	uint32_t rg = __atomic_load_n(&t->refs_gen, __ATOMIC_ACQUIRE);

	while ((rg & 0xffff) && (rg & 0xffff) != 0xffff &&
	       !__atomic_compare_exchange_n(&t->refs_gen, &rg, rg - 1, 1, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		;
}

void cc_fd_unshare(struct cc_fd *e)
{
	unsigned s = __atomic_exchange_n(&e->share, 0, __ATOMIC_ACQ_REL);

	if (s)
		drop(&cc_tcp_shares[s - 1]);
}

int cc_fd_close_last(struct cc_fd *e)
{
	unsigned s = __atomic_load_n(&e->share, __ATOMIC_ACQUIRE);

	if (!s)
		return -1;
	/*
	 * Decided on the count itself: of two processes closing at once, one takes it from 2 to 1
	 * (not the last), the other then sees 1.  At 1 no one else holds the stream: the FIN is
	 * written from the share before the reset gives it up.
	 */
	struct cc_tcpshare *t = &cc_tcp_shares[s - 1];
	uint32_t rg = __atomic_load_n(&t->refs_gen, __ATOMIC_ACQUIRE);
	if ((rg & 0xffff) == 0xffff) {
		__atomic_store_n(&e->share, 0, __ATOMIC_RELEASE);        /* (held for good: see hold) */
		return 0;
	}
	while ((rg & 0xffff) > 1)
		if (__atomic_compare_exchange_n(&t->refs_gen, &rg, rg - 1, 1, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			__atomic_store_n(&e->share, 0, __ATOMIC_RELEASE);        /* counted out already */
			return 0;
		}
	return 1;
}

/*
 * o's share, made now if it has none (counting o): 1 + its index, 0 when the pool is used up.
 * Two threads making one for the same entry (a dup and a fork) end with one: the loser gives its
 * back.  Bytes another thread moves on o while its numbers are copied are added after.
 */
static unsigned share_of(struct cc_fd *o)
{
	unsigned s = __atomic_load_n(&o->share, __ATOMIC_ACQUIRE);

	for (unsigned i = 0; !s && i < CC_TCP_SHARES; i++) {
		struct cc_tcpshare *t = &cc_tcp_shares[i];
		uint32_t rg = __atomic_load_n(&t->refs_gen, __ATOMIC_ACQUIRE);
		if ((rg & 0xffff) || !__atomic_compare_exchange_n(&t->refs_gen, &rg, (rg & 0xffff0000u) + 0x10001u, 0,
								   __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			continue;
		uint32_t snd = __atomic_load_n(&o->snd_seq, __ATOMIC_RELAXED);
		uint32_t rcv = __atomic_load_n(&o->rcv_seq, __ATOMIC_RELAXED);
		__atomic_store_n(&t->snd_seq, snd, __ATOMIC_RELAXED);
		__atomic_store_n(&t->rcv_seq, rcv, __ATOMIC_RELAXED);
		__atomic_store_n(&t->flags, (uint16_t)(fd_flags(o) & (FDF_FIN_OUT | FDF_FIN_IN)), __ATOMIC_RELAXED);
		uint16_t none = 0;
		if (!__atomic_compare_exchange_n(&o->share, &none, (uint16_t)(i + 1), 0, __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE)) {
			drop(t);
			return none;
		}
		__atomic_fetch_add(&t->snd_seq, __atomic_load_n(&o->snd_seq, __ATOMIC_RELAXED) - snd, __ATOMIC_RELAXED);
		__atomic_fetch_add(&t->rcv_seq, __atomic_load_n(&o->rcv_seq, __ATOMIC_RELAXED) - rcv, __ATOMIC_RELAXED);
		s = i + 1;
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
		hold(&cc_tcp_shares[s - 1]);
	n->family = o->family;
	n->tos = o->tos;
	n->ttl = o->ttl;
	n->mcast_ttl = o->mcast_ttl;
	n->isn_gen = o->isn_gen;
	n->mcast_if = o->mcast_if;
	n->gso_size = o->gso_size;
	n->mss = o->mss;
	n->fork_gen = o->fork_gen;
	n->local = o->local;
	n->peer = o->peer;
	__atomic_store_n(&n->snd_seq, __atomic_load_n(&o->snd_seq, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
	__atomic_store_n(&n->rcv_seq, __atomic_load_n(&o->rcv_seq, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
	__atomic_store_n(&n->share, (uint16_t)s, __ATOMIC_RELEASE);
	__atomic_store_n(&n->flags, (uint16_t)fd_flags(o), __ATOMIC_RELAXED);
	__atomic_store_n(&n->kind, FDK_TCP, __ATOMIC_RELEASE);       /* last: the entry is whole */
	/*
	 * A fork under way (its prepare ran or runs now): the child may have a copy of n that its
	 * scan did not count.  Published first, then asked, each side fenced (prepare's too): of
	 * the scan seeing n and this seeing `forking`, at least one happens.  Counted twice at worst.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (s && __atomic_load_n(&forking, __ATOMIC_RELAXED))
		hold(&cc_tcp_shares[s - 1]);
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
	if (fd_kind(e) != FDK_TCP)
		return;
	unsigned s = __atomic_load_n(&e->share, __ATOMIC_ACQUIRE);
	if (!s && (fd_flags(e) & FDF_TCP_OPEN))
		s = share_of(e);
	if (s)
		hold(&cc_tcp_shares[s - 1]);          /* the child's copy */
}

void cc_fd_fork_prepare(void)
{
	__atomic_store_n(&forking, 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);        /* (pairs with cc_fd_dup_tcp's) */
	each_entry(fork_one, 0);
}

void cc_fd_fork_done(void)
{
	__atomic_store_n(&forking, 0, __ATOMIC_RELEASE);
}

/* The process leaves: each of its descriptors lets go of its share. */
static void leave_one(int fd, struct cc_fd *e, int arg)
{
	(void)fd, (void)arg;
	if (fd_kind(e) == FDK_TCP)
		cc_fd_unshare(e);
}

void cc_fd_leaving(void)
{
	each_entry(leave_one, 0);
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

static int same_end(const struct cc_addr *a, const struct cc_addr *b)
{
	return a->family == b->family && a->port == b->port &&
	       memcmp(a->ip, b->ip, a->family == AF_INET6 ? 16 : 4) == 0;
}

struct cc_fd *cc_fd_find_stream(int fd, const struct cc_addr *local, const struct cc_addr *peer)
{
	for (unsigned ch = 0; ch < NCHUNKS; ch++) {
		struct cc_fd *c = __atomic_load_n(&cc_fd_chunks[ch], __ATOMIC_ACQUIRE);
		if (!c)
			continue;
		for (unsigned i = 0; i < CHUNK; i++) {
			struct cc_fd *e = &c[i];
			if ((ch << CHUNK_BITS | i) != (unsigned)fd && fd_kind(e) == FDK_TCP &&
			    (fd_flags(e) & FDF_TCP_OPEN) && same_end(&e->local, local) && same_end(&e->peer, peer))
				return e;
		}
	}
	return NULL;
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
