/*
 * What the shim knows about each file descriptor: socket or not, UDP or TCP, the cached local and
 * peer addresses, the IP header values the program set, and a synthesized TCP stream's sequence
 * numbers.  Indexed by fd in lazily allocated chunks, so a call on a pipe or file costs one array
 * look-up after the first, and no system call.
 */
#ifndef CC_FDTABLE_H
#define CC_FDTABLE_H

#include <stdint.h>

#include "pcapout/frame.h"

enum cc_fd_kind {
	FDK_UNKNOWN = 0,        /* never looked at, or closed since */
	FDK_OTHER,              /* not a socket we capture: file, pipe, AF_UNIX, raw ... */
	FDK_UDP,
	FDK_TCP,
};

/* flags */
#define FDF_LOCAL      0x0001   /* local address known */
#define FDF_PEER       0x0002   /* connected: peer known */
#define FDF_WILDCARD   0x0004   /* bound to 0.0.0.0 or ::: per-packet local address needed */
#define FDF_PKTINFO    0x0008   /* we enabled IP(V6)_PKTINFO; strip it from what the program sees */
#define FDF_USER_PKTINFO 0x0010 /* the program enabled it itself */
#define FDF_TCP_OPEN   0x0020   /* handshake written */
#define FDF_CONNECTING 0x0040   /* non-blocking connect in progress */
#define FDF_FIN_OUT    0x0080
#define FDF_FIN_IN     0x0100
#define FDF_LISTEN     0x0200
#define FDF_GRO        0x0400   /* UDP_GRO on: received buffers may hold several datagrams */
#define FDF_RECV_TOS   0x0800   /* the program asked for received TOS/TCLASS */
#define FDF_RECV_TTL   0x1000   /* ... and TTL/hop limit */
#define FDF_ACCEPTED   0x2000   /* TCP: we are the passive end (accept) */
#define FDF_PEEKED     0x4000   /* UDP: the next datagram was peeked, and impairment kept it */
#define FDF_PEEK_OFF   0x8000   /* UDP: the program set SO_PEEK_OFF (receives add no MSG_TRUNC) */
/* A UDP socket's receive options: the socket's own, shared by every descriptor of it. */
#define FDF_SOCK_OPTS  (FDF_PKTINFO | FDF_USER_PKTINFO | FDF_RECV_TOS | FDF_RECV_TTL | FDF_GRO | FDF_PEEK_OFF)

/*
 * Set once a UDP socket got a second descriptor in this process (dup, dup2, dup3, F_DUPFD):
 * from then on an option set through one descriptor is copied to the others' entries
 * (sockinfo.c), which costs a look at each UDP descriptor; never before.
 */
extern int cc_udp_duped;

struct cc_fd {
	uint8_t kind;           /* enum cc_fd_kind; written last when an entry is set up */
	uint8_t family;         /* socket's own family: AF_INET or AF_INET6 */
	uint8_t tos, ttl, mcast_ttl;
	uint8_t isn_gen;        /* TCP: the address pair's generation the stream started in (cc_tcp_gen_open) */
	uint16_t flags;         /* atomic updates */
	uint16_t gso_size;      /* UDP_SEGMENT socket option */
	uint16_t mss;
	uint16_t share;         /* TCP: 1 + index in cc_tcp_shares, 0 for none (fd_seq) */
	uint32_t fork_gen;      /* fork generation the entry was made in */
	struct cc_addr local, peer;
	uint32_t snd_seq, rcv_seq;
	uint32_t mcast_if;      /* IPv4 IP_MULTICAST_IF's address (network order), 0 for none */
};

/*
 * A synthesized TCP stream's sequence numbers and FIN flags live in its socket's entry until the
 * program makes a second descriptor for the same socket (dup, dup2, dup3, F_DUPFD: an inetd-style
 * dup2 onto 0 and 1, CPython's socket.fromfd) or forks while the stream is open.  From then on they
 * live in a share that every such descriptor uses, as the kernel keeps one socket behind them: the
 * file shows one stream whichever number or process moves the bytes, with acknowledgements that
 * add up, and only the last close sends our FIN.  The pool is anonymous shared memory made at
 * start (cc_fd_init), so the processes forked from one start share it, and a share counts
 * descriptors across them.  A fixed pool (no allocation in a hook): when it is used up, the new
 * entry gets a copy of the numbers, as before shares existed, and a fork leaves both sides
 * without a FIN.  A count may be too high, never too low: a process killed, a parent leaving
 * inside daemon(), and a process that execs (whether its copy closes on exec or goes on in the
 * new image, whose shim has a pool of its own; an exec that fails must find its count still
 * there) keep theirs.  The stream then gets no FIN from us, never an early one.
 */
#define CC_TCP_SHARES 256
struct cc_tcpshare {
	uint32_t snd_seq, rcv_seq;
	uint32_t refs_gen;      /* descriptors using it, in every process (low 16 bits; 0: free), and
				 * how often it was taken (high 16): one word, so that a count given
				 * back after an exec never lands on a share taken anew meanwhile */
	uint16_t flags;         /* FDF_FIN_OUT, FDF_FIN_IN */
} __attribute__((aligned(64)));         /* (streams of different processes: lines of their own) */
extern struct cc_tcpshare *cc_tcp_shares;

/*
 * Generations of TCP address pairs (pcapout/frame.h): a connection on a pair the kernel reuses
 * starts from other sequence numbers than the last.  Shared with forked children, as the pool is.
 */
extern struct cc_tcp_gens *cc_tcp_gens;

/*
 * e's TCP stream starts (accepted: the accepting end; -1: joined mid-way): the generation its
 * numbers come from, kept in e and given to cc_tcp_isn.
 */
static inline unsigned fd_isn_gen(struct cc_fd *e, int accepted)
{
	struct cc_tcp_gens *g = __atomic_load_n(&cc_tcp_gens, __ATOMIC_ACQUIRE);

	e->isn_gen = (uint8_t)(accepted < 0 ? cc_tcp_gen_now(g, &e->local, &e->peer) :
			       cc_tcp_gen_open(g, &e->local, &e->peer, accepted));
	return e->isn_gen;
}

static inline unsigned share_refs(const struct cc_tcpshare *t)
{
	return __atomic_load_n(&t->refs_gen, __ATOMIC_ACQUIRE) & 0xffff;
}

/*
 * At start, before any hook: the pool becomes memory shared with forked children, and the
 * generations too, or the run's page of them when the wrapper's counters file has one (gens).
 */
void cc_fd_init(struct cc_tcp_gens *gens);

/*
 * Fork handlers.  prepare (parent, before fork): each open TCP stream, and each that has a share
 * already, gets one counting the child's copy of its descriptor; a descriptor another thread dups
 * until the fork is done counts twice (its child's copy may or may not exist).  done: after the
 * fork, in parent and child.  A fork that fails leaves its counts behind.
 */
void cc_fd_fork_prepare(void);
void cc_fd_fork_done(void);

/* The process leaves (exit, _exit: every descriptor closes): its descriptors stop counting. */
void cc_fd_leaving(void);

/*
 * e's descriptor closes.  1: it was its stream's last (the caller writes our FIN, then resets
 * the entry); 0: others hold the stream, and e no longer counts; -1: e has no share (whether it
 * is the last is not known here).
 */
int cc_fd_close_last(struct cc_fd *e);

static inline struct cc_tcpshare *fd_share(const struct cc_fd *e)
{
	unsigned s = __atomic_load_n(&e->share, __ATOMIC_ACQUIRE);

	return s ? &cc_tcp_shares[s - 1] : NULL;
}

/* The sequence number of the stream's next byte in one direction (atomic updates). */
static inline uint32_t *fd_seq(struct cc_fd *e, int outgoing)
{
	struct cc_tcpshare *s = fd_share(e);

	if (s)
		return outgoing ? &s->snd_seq : &s->rcv_seq;
	return outgoing ? &e->snd_seq : &e->rcv_seq;
}

/* Where the stream's FDF_FIN_OUT and FDF_FIN_IN are kept (atomic updates). */
static inline uint16_t *fd_fin_flags(struct cc_fd *e)
{
	struct cc_tcpshare *s = fd_share(e);

	return s ? &s->flags : &e->flags;
}

/* Whether closing e closes the socket: no other descriptor, here or in a forked process, shares it. */
static inline int fd_last_ref(const struct cc_fd *e)
{
	struct cc_tcpshare *s = fd_share(e);

	return !s || share_refs(s) <= 1;
}

/* e no longer uses its share (closed, replaced, or its number reused). */
void cc_fd_unshare(struct cc_fd *e);

/* newfd is a new descriptor for TCP socket o's socket: its entry becomes o's, sharing the stream. */
void cc_fd_dup_tcp(struct cc_fd *o, int newfd);

/*
 * Another descriptor (not fd) of this process with a TCP stream open between local and peer:
 * the same socket, since one connection has those addresses (an exec'd image finds the socket
 * under 0 and 1, as inetd and socat's nofork leave it).  NULL for none.  Looks at every entry:
 * only for a stream joined mid-way.
 */
struct cc_fd *cc_fd_find_stream(int fd, const struct cc_addr *local, const struct cc_addr *peer);

/*
 * kind and flags are read by any thread using the fd and changed by the thread that creates,
 * connects or closes it: always accessed atomically (relaxed; the kernel orders fd reuse).
 */
static inline int fd_kind(const struct cc_fd *e)
{
	return __atomic_load_n(&e->kind, __ATOMIC_ACQUIRE);
}

static inline unsigned fd_flags(const struct cc_fd *e)
{
	return __atomic_load_n(&e->flags, __ATOMIC_RELAXED);
}

/* The entry for fd, allocating its chunk if needed; NULL for fds beyond the table. */
struct cc_fd *cc_fd_get(int fd);

/* The entry if its chunk exists already (never allocates); NULL otherwise.  Inline: every call. */
#define CC_FD_CHUNK_BITS 10
#define CC_FD_NCHUNKS 1024u
extern struct cc_fd *cc_fd_chunks[CC_FD_NCHUNKS];
static inline struct cc_fd *cc_fd_peek(int fd)
{
	unsigned u = (unsigned)fd;
	struct cc_fd *c;

	/* (One compare: a negative fd is a large unsigned one.) */
	if (u >= CC_FD_NCHUNKS << CC_FD_CHUNK_BITS)
		return NULL;
	c = __atomic_load_n(&cc_fd_chunks[u >> CC_FD_CHUNK_BITS], __ATOMIC_ACQUIRE);
	return c ? &c[u & ((1u << CC_FD_CHUNK_BITS) - 1)] : NULL;
}

/* Forgets fd (close, dup2 target, ...). */
void cc_fd_reset(int fd);

/*
 * Forgets every fd in [lo, hi], in order, calling closing (if not NULL) on each known one first
 * (so that of two numbers of one socket in the range, the second is its last).
 */
void cc_fd_reset_range(unsigned lo, unsigned hi, void (*closing)(int fd, struct cc_fd *e));

/* Counts forks: an entry from an older generation is shared with another process. */
extern uint32_t cc_fork_gen;

/* e's socket was made since the last fork: no other process holds it. */
static inline int fd_since_fork(const struct cc_fd *e)
{
	return e->fork_gen == __atomic_load_n(&cc_fork_gen, __ATOMIC_RELAXED);
}

/*
 * Counts changes to any entry's kind, addresses or IP options: what the send and receive hooks
 * derived from an entry (capture_int.h's cc_udp_last) holds while this has not moved.  Bumped
 * after the change, with release: a reader that sees the new count sees the change.
 */
extern uint32_t cc_fd_gen __attribute__((visibility("hidden")));   /* one load, not two */
static inline void cc_fd_changed(void)
{
	__atomic_fetch_add(&cc_fd_gen, 1, __ATOMIC_RELEASE);
}

#endif
