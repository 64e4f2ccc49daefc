/*
 * Frame synthesis for LINKTYPE_LINUX_SLL2 (https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL2.html).
 *
 *   0                   1                   2                   3
 *   +-------------------------------+-------------------------------+
 *   |         protocol type         |           reserved            |
 *   +-------------------------------+-------------------------------+
 *   |                        interface index                        |
 *   +-------------------------------+---------------+---------------+
 *   |          ARPHRD type          |  packet type  | ll addr len   |
 *   +-------------------------------+---------------+---------------+
 *   |                 link-layer address (8 bytes)                  |
 *   +---------------------------------------------------------------+
 *
 * The interface index is what `tcpdump ifindex 2` and Wireshark's sll.ifindex select on, so the
 * wire, plaintext and relay copies stay apart even in classic pcap.  The packet type gives the
 * direction (0 to us, 4 outgoing).  There is no real link layer; the 8-byte address field carries
 * the process id so a file shared by several processes says who moved each packet.
 */
#include "pcapout/frame.h"
#include "pcapout/frame_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

/* acc + v with the carry out added back in: one's complement addition of 64-bit words. */
static inline uint64_t add_carry(uint64_t acc, uint64_t v)
{
	acc += v;
	return acc + (acc < v);
}

/*
 * RFC 1071 sum of p as big-endian 16-bit words, added to sum.  The words are summed in host order,
 * 64 bits at a time with end-around carry, and swapped once at the end: one's complement addition
 * commutes with byte swapping and folds from any word size (RFC 1071 section 2(B)).  len is even
 * except at the end.  Every frame is summed once, so this is on the capture's hot path: on x86-64
 * a chain of add-with-carry takes 32 bytes in five instructions.
 */
uint64_t cc_csum_add(uint64_t sum, const uint8_t *p, size_t len)
{
	uint64_t acc = 0;

#if defined(__x86_64__)
	for (; len >= 32; p += 32, len -= 32)
		__asm__("addq 0(%[p]), %[acc]\n\t"
			"adcq 8(%[p]), %[acc]\n\t"
			"adcq 16(%[p]), %[acc]\n\t"
			"adcq 24(%[p]), %[acc]\n\t"
			"adcq $0, %[acc]"
			: [acc] "+r"(acc)
			: [p] "r"(p), "m"(*(const uint8_t(*)[32])p)
			: "cc");
#endif
	for (; len >= 8; p += 8, len -= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		acc = add_carry(acc, v);
	}
	if (len >= 4) {
		uint32_t v;
		memcpy(&v, p, 4);
		acc = add_carry(acc, v);
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t v;
		memcpy(&v, p, 2);
		acc = add_carry(acc, v);
		p += 2;
		len -= 2;
	}
	if (len) {
		uint8_t last[2] = { p[0], 0 };
		uint16_t v;
		memcpy(&v, last, 2);
		acc = add_carry(acc, v);
	}
	acc = (acc & 0xffffffffu) + (acc >> 32);
	acc = (acc & 0xffffffffu) + (acc >> 32);
	acc = (acc & 0xffff) + (acc >> 16);
	acc = (acc & 0xffff) + (acc >> 16);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	acc = (uint16_t)(acc << 8 | acc >> 8);
#endif
	return sum + acc;
}

uint16_t cc_csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

size_t cc_iov_copy(uint8_t *dst, const struct iovec *iov, int iovcnt, size_t skip, size_t len)
{
	size_t done = 0;

	/* The usual case, once per captured packet: one buffer holding it all. */
	if (len && iovcnt >= 1 && iov[0].iov_len >= skip + len) {
		memcpy(dst, (const uint8_t *)iov[0].iov_base + skip, len);
		return len;
	}
	for (int i = 0; i < iovcnt && done < len; i++) {
		size_t n = iov[i].iov_len;
		if (skip >= n) {
			skip -= n;
			continue;
		}
		n -= skip;
		if (n > len - done)
			n = len - done;
		memcpy(dst + done, (const uint8_t *)iov[i].iov_base + skip, n);
		done += n;
		skip = 0;
	}
	return done;
}

const uint8_t *cc_iov_view(const struct iovec *iov, int iovcnt, size_t skip, size_t *len, uint8_t *tmp, size_t tmpsize)
{
	if (iovcnt >= 1 && iov[0].iov_len >= skip + *len)
		return (const uint8_t *)iov[0].iov_base + skip;
	*len = cc_iov_copy(tmp, iov, iovcnt, skip, *len < tmpsize ? *len : tmpsize);
	return tmp;
}

static size_t l4_len(const struct cc_frame *f)
{
	switch (f->proto) {
	case IPPROTO_UDP:
		return 8;
	case IPPROTO_TCP:
		return 20;
	default:
		return 0;
	}
}

size_t cc_sll2_put(uint8_t *p, uint16_t ethertype, unsigned iface, int outgoing, uint32_t pid)
{
	return sll2_put(p, ethertype, iface, outgoing, pid);
}

/* Pseudo-header sum (RFC 768, RFC 8200 section 8.1) for the transport checksum. */
static uint64_t pseudo_sum(const struct cc_frame *f, size_t l4len)
{
	size_t alen = f->dst.family == AF_INET6 ? 16 : 4;
	uint64_t sum = 0;

	sum = cc_csum_add(sum, f->src.ip, alen);
	sum = cc_csum_add(sum, f->dst.ip, alen);
	sum += f->proto;
	sum += (uint32_t)l4len & 0xffff;
	sum += (uint32_t)(l4len >> 16);
	return sum;
}

size_t cc_frame_build(uint8_t *dst, const struct cc_frame *f, const struct iovec *iov, int iovcnt,
		      size_t skip, size_t caplen, size_t origlen)
{
	uint8_t *p = dst;
	size_t l4hdr = l4_len(f);
	size_t l4len = l4hdr + origlen;
	uint8_t *l4, *payload;

	p += put_sll2(p, f);
	if (f->dst.family == AF_INET6) {
		put_be32(p, 6u << 28 | (uint32_t)f->tos << 20);
		put_be16(p + 4, l4len > 0xffff ? 0xffff : (uint16_t)l4len);
		p[6] = f->proto;
		p[7] = f->ttl;
		memcpy(p + 8, f->src.ip, 16);
		memcpy(p + 24, f->dst.ip, 16);
		p += 40;
	} else {
		put_ip4(p, f, l4len);
		p += 20;
	}
	l4 = p;
	payload = l4 + l4hdr;
	if (iovcnt == 1 && !skip && iov[0].iov_len >= caplen)
		memcpy(payload, iov[0].iov_base, caplen);       /* every record the writer makes */
	else
		cc_iov_copy(payload, iov, iovcnt, skip, caplen);

	if (f->proto == IPPROTO_UDP) {
		put_udp(l4, f, l4len);
	} else if (f->proto == IPPROTO_TCP) {
		put_be16(l4, f->src.port);
		put_be16(l4 + 2, f->dst.port);
		put_be32(l4 + 4, f->seq);
		put_be32(l4 + 8, f->tcp_flags & CC_TCP_ACK ? f->ack : 0);
		l4[12] = 5 << 4;
		l4[13] = f->tcp_flags;
		put_be16(l4 + 14, 65535);
		put_be16(l4 + 16, 0);
		put_be16(l4 + 18, 0);
	}
	/*
	 * UDP over IPv4 carries no checksum: zero means "none" (RFC 768), and summing every
	 * payload was a fifth of the writer's work per datagram for a field no reader needs.  UDP
	 * over IPv6 must have one (RFC 8200 section 8.1), and TCP's is kept.  A truncated payload
	 * cannot be summed; Wireshark does not check by default, so the frame stays readable.  Over
	 * IPv6 its UDP checksum is all ones, not zero, which Wireshark marks as illegal there: a
	 * value nobody can verify against the bytes not captured.
	 */
	if (l4hdr && !(f->proto == IPPROTO_UDP && f->dst.family != AF_INET6)) {
		if (caplen == origlen) {
			uint64_t sum = pseudo_sum(f, l4len);
			sum = cc_csum_add(sum, l4, l4hdr + caplen);
			uint16_t c = cc_csum_fold(sum);
			if (f->proto == IPPROTO_UDP && c == 0)
				c = 0xffff;     /* RFC 768: a computed zero is sent as all ones */
			put_be16(l4 + (f->proto == IPPROTO_UDP ? 6 : 16), c);
		} else if (f->proto == IPPROTO_UDP) {
			put_be16(l4 + 6, 0xffff);
		}
	}
	return (size_t)(payload - dst) + caplen;
}

int cc_addr_from_sa(struct cc_addr *a, const struct sockaddr *sa, unsigned len)
{
	memset(a, 0, sizeof(*a));
	if (!sa)
		return -1;
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
		a->family = AF_INET;
		a->port = ntohs(s->sin_port);
		memcpy(a->ip, &s->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
		a->port = ntohs(s->sin6_port);
		/* A v4-mapped address is IPv4 on the wire. */
		if (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr)) {
			a->family = AF_INET;
			memcpy(a->ip, s->sin6_addr.s6_addr + 12, 4);
		} else {
			a->family = AF_INET6;
			memcpy(a->ip, &s->sin6_addr, 16);
		}
		return 0;
	}
	return -1;
}

/*
 * Initial sequence number of the direction src -> dst, from the addresses and the pair's
 * generation.  When both ends of a connection are captured (two processes, or one talking to
 * itself), each side synthesizes the same numbers, so the two copies of a segment line up as one
 * stream in Wireshark.  Generation 0 is the addresses' hash alone; each next one is far from it.
 */
uint32_t cc_tcp_isn(const struct cc_addr *src, const struct cc_addr *dst, unsigned gen)
{
	uint32_t h = 2166136261u;
	const struct cc_addr *a[2] = { src, dst };

	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < (a[k]->family == AF_INET6 ? 16 : 4); i++)
			h = (h ^ a[k]->ip[i]) * 16777619u;
		h = (h ^ (a[k]->port >> 8)) * 16777619u;
		h = (h ^ (a[k]->port & 0xff)) * 16777619u;
	}
	return h + (gen & 0xff) * 0x9e3779b1u;
}

uint32_t cc_tcp_attempt_isn(const struct cc_addr *local, const struct cc_addr *peer, uint32_t attempt)
{
	return (cc_tcp_isn(local, peer, 0) ^ 0xfa11ed00u) + attempt * 0x61c88647u;
}

const char *cc_tcp_connect_why(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return "connect failed: connection refused (the answer is written as the peer's reset; "
		       "an ICMP port unreachable reads the same to the program)";
	case ETIMEDOUT:
		return "connect failed: timed out, no answer";
	case EHOSTUNREACH:
		return "connect failed: host unreachable (an ICMP error, or no answer to ARP/ND: then "
		       "this SYN never left)";
	case ENETUNREACH:
		return "connect failed: network unreachable";
	case 0:
		return "connect abandoned: closed before an answer came";
	case CC_CONNECT_NO_ANSWER:
		return "connect failed: no answer, or an ICMP error (found at the close: the program never "
		       "asked why)";
	default:
		return NULL;
	}
}

/* One end's bytes in a pair's key: family, port, address. */
static uint64_t key_end(uint64_t h, const struct cc_addr *a)
{
	h = (h ^ (a->family == AF_INET6)) * 1099511628211u;
	h = (h ^ (a->port >> 8)) * 1099511628211u;
	h = (h ^ (a->port & 0xff)) * 1099511628211u;
	for (int i = 0; i < (a->family == AF_INET6 ? 16 : 4); i++)
		h = (h ^ a->ip[i]) * 1099511628211u;
	return h;
}

#define GEN_ROLES 0x300u                /* the connecting end's claim (0x100), the accepting end's (0x200) */
#define GEN_KEY (~(uint64_t)0x3ff)

/* A pair's key, the same in either order (high 54 bits; never 0, an empty slot's). */
static uint64_t pair_key(const struct cc_addr *a, const struct cc_addr *b)
{
	int n = a->family == AF_INET6 ? 16 : 4;
	int c = a->family != b->family ? (a->family > b->family) - (a->family < b->family) :
		a->port != b->port ? (a->port > b->port) - (a->port < b->port) : memcmp(a->ip, b->ip, (size_t)n);
	uint64_t h = 14695981039346656037u;

	h = c <= 0 ? key_end(key_end(h, a), b) : key_end(key_end(h, b), a);
	h ^= h >> 29;
	return (h << 10) ? h << 10 : (uint64_t)1 << 10;
}

/*
 * Finds the pair's entry in its set and claims role in it (role 0: only reads it), or, when the
 * set has none, puts in a fresh one at generation 0 holding the roles `fresh` (over an empty
 * entry or the set's oldest).  Returns the generation the caller's stream is in.
 */
static unsigned gen_update(struct cc_tcp_gens *g, const struct cc_addr *a, const struct cc_addr *b, uint64_t role,
			   uint64_t fresh)
{
	uint64_t k = pair_key(a, b);
	unsigned set = (unsigned)((k >> 10) % CC_TCP_GEN_SETS);
	uint64_t *e = &g->slot[set * CC_TCP_GEN_WAYS];

	for (;;) {
		int found = -1, empty = -1;
		uint64_t v = 0;
		for (int i = 0; i < CC_TCP_GEN_WAYS; i++) {
			v = __atomic_load_n(&e[i], __ATOMIC_ACQUIRE);
			if ((v & GEN_KEY) == k) {
				found = i;
				break;
			}
			if (!v && empty < 0)
				empty = i;
		}
		if (found >= 0) {
			uint64_t nv = v;
			/* role 0 reads; a role not claimed yet is this connection's; one claimed, the next's. */
			if (role && !(v & role))
				nv = v | role;
			else if (role)
				nv = k | role | ((v + 1) & 0xff);
			if (nv == v || __atomic_compare_exchange_n(&e[found], &v, nv, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
				return (unsigned)(nv & 0xff);
			continue;
		}
		int w = empty >= 0 ? empty : (int)(__atomic_fetch_add(&g->hand[set], 1, __ATOMIC_RELAXED) % CC_TCP_GEN_WAYS);
		uint64_t old = __atomic_load_n(&e[w], __ATOMIC_ACQUIRE);
		if ((empty < 0 || !old) && __atomic_compare_exchange_n(&e[w], &old, k | fresh, 0, __ATOMIC_ACQ_REL,
								       __ATOMIC_ACQUIRE))
			return 0;
	}
}

unsigned cc_tcp_gen_open(struct cc_tcp_gens *g, const struct cc_addr *a, const struct cc_addr *b, int accepted)
{
	uint64_t role = accepted ? 0x200 : 0x100;

	return gen_update(g, a, b, role, role);
}

unsigned cc_tcp_gen_now(struct cc_tcp_gens *g, const struct cc_addr *a, const struct cc_addr *b)
{
	return gen_update(g, a, b, 0, GEN_ROLES);
}
