/*
 * Frame synthesis: the bytes of one captured packet as a LINKTYPE_LINUX_SLL2 frame carrying an
 * IPv4 or IPv6 header and a UDP or TCP header (or a ready SCTP packet) before the payload.
 *
 * Nothing here allocates or does I/O: the caller reserves cc_frame_len() bytes and
 * cc_frame_build() fills them, copying the payload from an iovec list.
 */
#ifndef CC_FRAME_H
#define CC_FRAME_H

#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#define CC_LINKTYPE_LINUX_SLL2 276
#define CC_SLL2_LEN 20
#define CC_SNAPLEN 262144

/* SLL2 interface indexes; pcapng interface id is one less. */
enum cc_iface { CC_IF_WIRE = 1, CC_IF_PLAINTEXT = 2, CC_IF_RELAY = 3 };
#define CC_IF_COUNT 3

/* TCP flags as in the header. */
#define CC_TCP_FIN 0x01
#define CC_TCP_SYN 0x02
#define CC_TCP_RST 0x04
#define CC_TCP_PSH 0x08
#define CC_TCP_ACK 0x10

struct cc_addr {
	uint16_t family;        /* AF_INET or AF_INET6; 0 when not known */
	uint16_t port;          /* host byte order */
	uint8_t ip[16];         /* network order; IPv4 uses the first four bytes */
};

/*
 * The address in a sockaddr (IPv4, or IPv6 with a v4-mapped address written as IPv4, which is what
 * the wire carries); 0, or -1 (a zeroed *a) for NULL, another family or a short length.  The shim
 * and the tracer read the program's addresses with it.
 */
struct sockaddr;
int cc_addr_from_sa(struct cc_addr *a, const struct sockaddr *sa, unsigned len);

/*
 * The initial sequence number of a synthesized TCP stream src -> dst, from the addresses and the
 * port pair's generation (below): both captured ends, and the shim and the tracer, derive the
 * same numbers, so that the copies of a segment line up as one stream in Wireshark.
 */
uint32_t cc_tcp_isn(const struct cc_addr *src, const struct cc_addr *dst, unsigned gen);

/*
 * A connect that came to nothing is written as the SYN the kernel sent (and, refused, the peer's
 * reset), by the shim and the tracer alike.  Its number is no generation's (below): the peer
 * never saw a connection, so none is counted, and the connection that follows on the pair starts
 * from other numbers; `attempt` (a count the caller keeps, from 1) gives each its own.
 */
uint32_t cc_tcp_attempt_isn(const struct cc_addr *local, const struct cc_addr *peer, uint32_t attempt);

/*
 * Why a connect failed (errno), for its SYN's comment: refused, timed out, host or network
 * unreachable, 0 for one closed while still under way, CC_CONNECT_NO_ANSWER for one found failed
 * at the close without a reason (pcapout/tcpstate.h); NULL for any other error, which is not
 * written.  Constant strings (the shim's ring copies them later).
 */
#define CC_CONNECT_NO_ANSWER (-1)
const char *cc_tcp_connect_why(int err);

/*
 * Generations of TCP address pairs.  The kernel reuses a pair whose last connection ended
 * (TIME_WAIT reuse, on by default for loopback; a client that binds its port), and Wireshark
 * takes a SYN with the previous connection's sequence number for a retransmission of it: the new
 * connection's bytes would all show as retransmitted, never dissected.  So each connection on a
 * pair starts from the numbers of its own generation.  A connection has one connecting end and
 * one accepting end: an end that opens its stream claims its role in the pair's generation, and
 * a role claimed already means a new connection, the next generation.  The two captured ends of
 * one connection thus meet in one generation whichever opens first and whenever either closes
 * (nothing counts at close: an end may close long before the other accepts, or exit without a
 * close), and an end captured alone counts its own connections.  A pair the table never saw is
 * at generation 0, the numbers of the addresses alone (two processes with tables of their own
 * agree).  A fixed table, lock-free, no allocation: 512 sets of 8 (32 KiB), a set's oldest entry
 * replaced when full (that pair is new again); a generation wraps at 256 (only the previous
 * connection's number must differ).  The caller owns it (the shim: memory shared with forked
 * children, and the wrapper's run-wide page).
 */
#define CC_TCP_GEN_SETS 512
#define CC_TCP_GEN_WAYS 8
struct cc_tcp_gens {
	uint64_t slot[CC_TCP_GEN_SETS * CC_TCP_GEN_WAYS];  /* key (high 54 bits), roles (2), generation (8) */
	uint32_t hand[CC_TCP_GEN_SETS];                    /* each set's next entry to replace */
};

/* An end of a connection between a and b (either order) opens its stream: its generation. */
unsigned cc_tcp_gen_open(struct cc_tcp_gens *g, const struct cc_addr *a, const struct cc_addr *b, int accepted);

/*
 * A stream joined mid-way (a socket inherited across exec, or made before capture began): the
 * pair's current generation, which an open connection on it holds (the kernel reuses a pair only
 * once its connection is gone); a pair not seen before is at 0, both roles taken.
 */
unsigned cc_tcp_gen_now(struct cc_tcp_gens *g, const struct cc_addr *a, const struct cc_addr *b);

struct cc_frame {
	struct cc_addr src, dst;
	uint8_t proto;          /* IPPROTO_UDP, IPPROTO_TCP or IPPROTO_SCTP (payload is the SCTP packet) */
	uint8_t iface;          /* enum cc_iface */
	uint8_t outgoing;       /* 1: sent by the process, 0: received */
	uint8_t tos;            /* DSCP/ECN (IPv4 TOS or IPv6 traffic class) */
	uint8_t ttl;            /* TTL or hop limit */
	uint8_t tcp_flags;
	uint8_t defer;          /* nonzero: the writer's deferred-record handler completes it (writer.h) */
	uint8_t hidden;         /* deferred, for the handler only: never written as it is */
	uint32_t seq, ack;      /* TCP only */
	uint32_t pid;           /* written as the SLL2 link-layer address so pcap files keep it */
	const char *note;       /* appended to the record's comment (pcapng), or NULL */
};

/* The eight one-byte fields of a frame, proto to hidden, as one word in memory order. */
_Static_assert(offsetof(struct cc_frame, hidden) == offsetof(struct cc_frame, proto) + 7, "one-byte fields together");
static inline uint64_t cc_frame_bytes(uint8_t proto, uint8_t iface, int outgoing, uint8_t tos, uint8_t ttl,
				      uint8_t defer)
{
	uint8_t b[8] = { proto, iface, (uint8_t)(outgoing != 0), tos, ttl, 0, defer, 0 };
	uint64_t w;

	memcpy(&w, b, 8);
	return w;
}

/* Header bytes in front of the payload for this frame (inline: every packet asks). */
static inline size_t cc_frame_hdr_len(const struct cc_frame *f)
{
	size_t l4 = f->proto == IPPROTO_UDP ? 8 : f->proto == IPPROTO_TCP ? 20 : 0;

	return CC_SLL2_LEN + (f->dst.family == AF_INET6 ? 40 : 20) + l4;
}

/*
 * Writes the frame into dst: headers, then `caplen` payload bytes copied from iov.  `origlen` is
 * the payload's real length (larger than caplen when the program's buffer truncated a datagram);
 * the IP and UDP lengths carry it.  Checksums are computed when the whole payload is present.
 * Returns the number of bytes written: cc_frame_hdr_len(f) + caplen.
 */
size_t cc_frame_build(uint8_t *dst, const struct cc_frame *f, const struct iovec *iov, int iovcnt,
		      size_t skip, size_t caplen, size_t origlen);

/*
 * The 20-byte SLL2 header alone, for a frame whose network-layer bytes already exist (a packet
 * re-framed from another capture's link type).  Returns CC_SLL2_LEN.
 */
size_t cc_sll2_put(uint8_t *p, uint16_t ethertype, unsigned iface, int outgoing, uint32_t pid);

/* Copies len bytes starting `skip` bytes into the iovec list; returns bytes copied. */
size_t cc_iov_copy(uint8_t *dst, const struct iovec *iov, int iovcnt, size_t skip, size_t len);

/*
 * The *len bytes starting `skip` bytes into the iovec list, to read: in place when the first
 * buffer holds them all, else gathered into tmp (at most tmpsize; *len says how many).
 */
const uint8_t *cc_iov_view(const struct iovec *iov, int iovcnt, size_t skip, size_t *len, uint8_t *tmp, size_t tmpsize);

/* RFC 1071 Internet checksum helpers (partial sums, then fold). */
uint64_t cc_csum_add(uint64_t sum, const uint8_t *p, size_t len);
uint16_t cc_csum_fold(uint64_t sum);

#endif
