/*
 * From socket calls to captured frames: which fds are captured, which addresses each packet
 * really used, and the synthesized TCP stream of each connection.
 */
#ifndef CC_CAPTURE_H
#define CC_CAPTURE_H

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "pcapout/frame.h"
#include "shim/clock.h"
#include "shim/fdtable.h"
#include "shim/plain.h"

/* Capture switched on in this process (atomic; read on every hooked call). */
extern int cc_on __attribute__((visibility("hidden")));   /* one load, not two */

/* Set once a TLS library clearcap hooks has a session in this process (tls.h). */
extern int cc_tls_active;

/* What a message's control data says about one datagram. */
struct cc_meta {
	struct cc_addr local;   /* local address from IP_PKTINFO/IPV6_PKTINFO, if family != 0 */
	int tos, ttl;           /* -1: not given */
	unsigned gso;           /* UDP_SEGMENT / UDP_GRO segment size, 0: none */
};

/* sockaddr to cc_addr, v4-mapped IPv6 made IPv4; -1 for other families. */

/* The entry for fd when it is a UDP or TCP socket we capture, classifying it once; else NULL. */
struct cc_fd *cc_classify(int fd);

/* A socket the program just made (socket/accept): record what is already known. */
struct cc_fd *cc_fd_new(int fd, int family, int type, int proto);

/* Re-reads the local address (after bind, connect, first send on an unbound socket). */
void cc_refresh_local(int fd, struct cc_fd *e);

/* Re-reads the peer (after connect). */
void cc_refresh_peer(int fd, struct cc_fd *e);

/* Control messages of a sent or received msghdr into meta. */
void cc_meta_from_cmsg(struct cc_meta *m, const struct msghdr *msg);

/*
 * One UDP send or receive of `len` payload bytes (origlen >= caplen when truncated), by the
 * general path: for callers that tried cc_udp_fast() (capture_int.h) first.  peer: the address
 * given to or returned by the call, or NULL for the connected peer.
 */
void cc_cap_udp_general(int fd, struct cc_fd *e, int outgoing, const struct sockaddr *peer, socklen_t plen,
			const struct cc_meta *m, const struct iovec *iov, int iovcnt, size_t caplen, size_t origlen);

/*
 * The same, trying cc_udp_fast() first; with a note for the record's comment (what impairment
 * did to the datagram), the general path always.
 */
void cc_cap_udp_note(int fd, struct cc_fd *e, int outgoing, const struct sockaddr *peer, socklen_t plen,
		     const struct cc_meta *m, const struct iovec *iov, int iovcnt, size_t caplen, size_t origlen,
		     const char *note);

/* TCP life cycle and data. */
/* A datagram relayed through a TURN server: written unwrapped on the relay interface, correlated. */
struct cc_relay;
void cc_cap_relay(int outgoing, const struct cc_relay *rl, uint64_t ts);

void cc_tcp_connected(int fd, struct cc_fd *e, int active);

/*
 * A non-blocking connect the program looks at (SO_ERROR 0) or closes (closing: its last
 * descriptor) before any byte moved: the handshake, now, if it connected (getpeername says;
 * nothing of the program's state is read); closed still under way, the SYN, saying so.  Not for
 * a socket made before the last fork (its first byte settles it, in whichever process).
 */
void cc_tcp_settle(int fd, struct cc_fd *e, int closing);

/*
 * A connect that failed with err (refused, timed out, unreachable; blocking, or a non-blocking
 * one's SO_ERROR): the SYN the kernel sent, its comment saying why, and for a refusal the peer's
 * RST, so that a failed attempt is never silent.  No generation is counted for it.  e->peer
 * holds the destination.  Keeps errno; nothing for another err.
 */
void cc_tcp_failed(int fd, struct cc_fd *e, int err);

/*
 * After a send or a receive on fd failed: a non-blocking connect's failure learned that way
 * rather than from SO_ERROR (the first call after it reports the error, and only once), as
 * cc_tcp_failed.  Inline, a few compares of errno on the error path alone.
 */
void cc_tcp_call_failed(int fd, int err);
static inline void cc_tcp_call_errno(int fd)
{
	int err = errno;

	if (__builtin_expect(err == ECONNREFUSED || err == ETIMEDOUT || err == EHOSTUNREACH || err == ENETUNREACH, 0))
		cc_tcp_call_failed(fd, err);
}
void cc_tcp_data(int fd, struct cc_fd *e, int outgoing, const struct iovec *iov, int iovcnt, size_t len);

/*
 * Called with what each TCP send moved while set (tls.c sets it while a session on a memory
 * transport waits to be found on the wire): NULL otherwise, one load per send.  Atomic accesses.
 */
extern void (*cc_tcp_sent_watch)(const struct cc_fd *e, const struct iovec *iov, int iovcnt, size_t len);
void cc_tcp_fin(int fd, struct cc_fd *e, int outgoing);

/* Every thread's hot lane (capture_int.h) is stale: registered with cc_writer_on_gate(). */
void cc_hot_stale(void);

/*
 * Inside an SSL call on this thread: the wire packets the call itself moves name the flow its
 * plaintext belongs to (a custom BIO forwarding to send/recv, curl's among them).
 */
struct cc_nest {
	const void *ssl;        /* the SSL object whose call is running, or NULL */
	int seen;               /* a wire packet went through during the call */
	uint8_t proto;
	uint8_t passive;        /* TCP: the local end accepted the connection */
	uint8_t isn_gen;        /* TCP: the address pair's generation (cc_fd's isn_gen) */
	struct cc_addr local, peer;
	uint64_t in_key;        /* DTLS record a custom BIO's read callback handed over (dtlsmatch) */
	const void *out_plain;  /* SSL_write's buffer, for a custom BIO's write callback */
	size_t out_len;
	int deferred;           /* that plaintext now waits for its datagram */
};
extern __thread struct cc_nest cc_nest;

/*
 * The socket of this thread's hot lane (capture_int.h's cc_hot), or CC_HOT_NONE: what sendto,
 * send and write look at first.  An SSL call empties it (CC_TLS_NEST_BEGIN): the datagrams it
 * moves take the usual path, which names their session, and the next usual datagram after it
 * fills the lane again.  (A call on fd CC_HOT_NONE itself may enter the lane while its count
 * holds: the direct call then fails with EBADF, as glibc's would.)
 */
extern __thread int cc_hot_fd __attribute__((tls_model("initial-exec")));
/*
 * The receiving lane's socket (cc_hot_rx), the same for recvfrom, recv and read, which look at it
 * first.  (A receive on fd CC_HOT_NONE may enter the lane too: glibc's call fails with EBADF.)
 */
extern __thread int cc_hot_rfd __attribute__((tls_model("initial-exec")));
#define CC_HOT_NONE INT_MIN

/* Updates the entry after a successful setsockopt. */
void cc_sockopt(int fd, struct cc_fd *e, int level, int name, const void *val, socklen_t len);

/* Whether level/name is the packet-info option we enabled on e's socket behind the program's back. */
int cc_sockopt_ours(const struct cc_fd *e, int level, int name);

#endif
