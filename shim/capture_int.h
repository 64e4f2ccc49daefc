/*
 * What the capture files of the shim share, inside shim/ only:
 *
 *   capture.c   UDP datagrams, relayed ones, the synthesized TCP stream of the wire copy
 *   sockinfo.c  what is known of each socket: kind, addresses, IP options, socket options
 *   route.c     the source address towards a peer, for wildcard-bound sockets (cached)
 *   cmsg.c      control messages: TOS, TTL, GSO, the local address of a received datagram
 *   plain.c     plaintext frames on their flow's 5-tuple, and the plaintext TCP stream
 */
#ifndef CC_CAPTURE_INT_H
#define CC_CAPTURE_INT_H

#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "shim/capture.h"
#include "shim/fdtable.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

/* An integer socket option, or dflt when it cannot be read. */
int cc_sock_getint(int fd, int level, int name, int dflt);

/* The address's words (IPv4: the first, the rest zero): what the per-packet checks compare. */
static inline void ip_words(const struct cc_addr *a, uint64_t w[2])
{
	w[0] = w[1] = 0;
	if (a->family == AF_INET6) {
		memcpy(w, a->ip, 16);
	} else {
		uint32_t v;
		memcpy(&v, a->ip, 4);
		w[0] = v;
	}
}

static inline __attribute__((always_inline)) int addr_is_any(const struct cc_addr *a)
{
	uint64_t w[2];

	/* Per packet on a wildcard-bound socket: two loads, not a memcmp call. */
	ip_words(a, w);
	return !(w[0] | w[1]);
}

/* The last route this thread asked for (route.c): see cc_route_src_cached(). */
struct cc_last_route {
	uint64_t dst[2];
	uint16_t family;
	struct cc_addr src;
};
extern __thread struct cc_last_route cc_last_route __attribute__((tls_model("initial-exec")));

/*
 * cc_route_src() with its first answer inline: a sender on a wildcard-bound socket asks for the
 * same peer packet after packet.
 */
static inline __attribute__((always_inline)) int cc_route_src_cached(const struct cc_addr *dst, struct cc_addr *src)
{
	uint64_t w[2];

	ip_words(dst, w);
	if (cc_last_route.family == dst->family && cc_last_route.dst[0] == w[0] && cc_last_route.dst[1] == w[1]) {
		*src = cc_last_route.src;
		return 0;
	}
	return cc_route_src(dst, src);
}

static inline __attribute__((always_inline)) int addr_is_multicast(const struct cc_addr *a)
{
	return a->family == AF_INET6 ? a->ip[0] == 0xff : (a->ip[0] & 0xf0) == 0xe0;
}

static inline void set_flags(struct cc_fd *e, uint16_t f)
{
	__atomic_fetch_or(&e->flags, f, __ATOMIC_RELAXED);
}

static inline void clear_flags(struct cc_fd *e, uint16_t f)
{
	__atomic_fetch_and(&e->flags, (uint16_t)~f, __ATOMIC_RELAXED);
}

#endif
