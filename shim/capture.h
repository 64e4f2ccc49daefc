/*
 * From socket calls to captured frames: which fds are captured, which addresses each packet
 * really used, and the synthesized TCP stream of each connection.
 */
#ifndef CC_CAPTURE_H
#define CC_CAPTURE_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "pcapout/frame.h"
#include "shim/fdtable.h"

/* Capture switched on in this process (atomic; read on every hooked call). */
extern int cc_on;

/* Set once a TLS library clearcap hooks has a session in this process (tls.h). */
extern int cc_tls_active;

/* What a message's control data says about one datagram. */
struct cc_meta {
	struct cc_addr local;   /* local address from IP_PKTINFO/IPV6_PKTINFO, if family != 0 */
	int tos, ttl;           /* -1: not given */
	unsigned gso;           /* UDP_SEGMENT / UDP_GRO segment size, 0: none */
};

uint64_t cc_now(void);

/* A clock for ageing (100 ms matter, not nanoseconds): cheaper than cc_now(). */
uint64_t cc_now_coarse(void);

/* sockaddr to cc_addr, v4-mapped IPv6 made IPv4; -1 for other families. */

/* The entry for fd when it is a UDP or TCP socket we capture, classifying it once; else NULL. */
struct cc_fd *cc_classify(int fd);

/* A socket the program just made (socket/accept): record what is already known. */
struct cc_fd *cc_fd_new(int fd, int family, int type, int proto);

/* Re-reads the local address (after bind, connect, first send on an unbound socket). */
void cc_refresh_local(int fd, struct cc_fd *e);

/* Re-reads the peer (after connect). */
void cc_refresh_peer(int fd, struct cc_fd *e);

/* Source address the kernel would choose towards dst (cached; a system call only on a miss). */
int cc_route_src(const struct cc_addr *dst, struct cc_addr *src);

/* Control messages of a sent or received msghdr into meta. */
void cc_meta_from_cmsg(struct cc_meta *m, const struct msghdr *msg);

/*
 * One UDP send or receive of `len` payload bytes (origlen >= caplen when truncated).  peer: the
 * address given to or returned by the call, or NULL for the connected peer.
 */
void cc_cap_udp(int fd, struct cc_fd *e, int outgoing, const struct sockaddr *peer, socklen_t plen,
		const struct cc_meta *m, const struct iovec *iov, int iovcnt, size_t caplen, size_t origlen);

/* The same, with a note for the record's comment (what impairment did to the datagram). */
void cc_cap_udp_note(int fd, struct cc_fd *e, int outgoing, const struct sockaddr *peer, socklen_t plen,
		     const struct cc_meta *m, const struct iovec *iov, int iovcnt, size_t caplen, size_t origlen,
		     const char *note);

/* TCP life cycle and data. */
/* A datagram relayed through a TURN server: written unwrapped on the relay interface, correlated. */
struct cc_relay;
void cc_cap_relay(int outgoing, const struct cc_relay *rl, uint64_t ts);

void cc_tcp_connected(int fd, struct cc_fd *e, int active);
void cc_tcp_data(int fd, struct cc_fd *e, int outgoing, const struct iovec *iov, int iovcnt, size_t len);
void cc_tcp_fin(int fd, struct cc_fd *e, int outgoing);

/*
 * Inside an SSL call on this thread: the wire packets the call itself moves name the flow its
 * plaintext belongs to (a custom BIO forwarding to send/recv, curl's among them).
 */
struct cc_nest {
	const void *ssl;        /* the SSL object whose call is running, or NULL */
	int seen;               /* a wire packet went through during the call */
	uint8_t proto;
	uint8_t passive;        /* TCP: the local end accepted the connection */
	struct cc_addr local, peer;
	uint64_t in_key;        /* DTLS record a custom BIO's read callback handed over (dtlsmatch) */
	const void *out_plain;  /* SSL_write's buffer, for a custom BIO's write callback */
	size_t out_len;
	int deferred;           /* that plaintext now waits for its datagram */
};
extern __thread struct cc_nest cc_nest;

/* Where a plaintext goes: the flow, and the synthesized TCP stream of a TLS connection. */
struct cc_plainflow {
	uint8_t proto;          /* IPPROTO_UDP (DTLS) or IPPROTO_TCP (TLS); 0: flow unknown */
	uint8_t tcp_open;
	uint8_t fin_out, fin_in;
	uint8_t passive;        /* TCP: the local end accepted; the peer opened */
	uint8_t mapped;         /* write IPv4 addresses IPv4-mapped (see cc_plain_frame) */
	uint8_t rtp;            /* SRTP's plaintext: RTP or RTCP, never SCTP (no need to look) */
	struct cc_addr local, peer;
	uint32_t snd_seq, rcv_seq;
};

/*
 * One plaintext on the plaintext interface, on the flow's 5-tuple: DTLS carrying SCTP as IP/SCTP,
 * other DTLS as UDP, TLS as a synthesized TCP stream.  note says how the flow was found.  ts is
 * the time of the datagram that carried it, 0 when not known: then now.
 */
void cc_cap_plain(struct cc_plainflow *pf, int outgoing, const void *buf, size_t len, const char *note,
		  uint64_t ts);

/* The frame of a plaintext on the flow's 5-tuple (see cc_cap_plain), with no payload yet. */
void cc_plain_frame(const struct cc_plainflow *pf, struct cc_frame *f, int outgoing, uint8_t proto, const char *note);

/* The plaintext TCP stream's FIN (close_notify or shutdown). */
void cc_plain_fin(struct cc_plainflow *pf, int outgoing, const char *note);

/* Updates the entry after a successful setsockopt. */
void cc_sockopt(int fd, struct cc_fd *e, int level, int name, const void *val, socklen_t len);

#endif
