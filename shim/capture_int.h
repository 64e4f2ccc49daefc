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

static inline int addr_is_any(const struct cc_addr *a)
{
	uint64_t w[2];

	/* Per packet on a wildcard-bound socket: two loads, not a memcmp call. */
	ip_words(a, w);
	return !(w[0] | w[1]);
}

static inline int addr_is_multicast(const struct cc_addr *a)
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
