/*
 * The route cache: the source address the kernel would choose towards a peer, asked once (a
 * connected UDP socket of our own, nothing sent) for sockets bound to the wildcard address.
 */
#include "shim/capture_int.h"
#include "shim/real.h"

#include <netinet/in.h>
#include <sys/syscall.h>
#include <unistd.h>

#define RT_SIZE 64

#define RT_WORDS (sizeof(struct cc_addr) / 4)

/*
 * A seqlock entry.  The addresses are copied word by word with atomic accesses, so a reader
 * racing a writer reads stale words (and retries or misses) without a data race in the C sense.
 */
struct rt_ent {
	uint32_t seq;                   /* odd while being written, 0 never filled */
	uint32_t dst[RT_WORDS], src[RT_WORDS];
};

_Static_assert(sizeof(struct cc_addr) % 4 == 0, "cc_addr copies as 32-bit words");

static struct rt_ent rt[RT_SIZE];

static void words_load(const uint32_t *w, struct cc_addr *a)
{
	uint32_t tmp[RT_WORDS];

	for (size_t i = 0; i < RT_WORDS; i++)
		tmp[i] = __atomic_load_n(&w[i], __ATOMIC_RELAXED);
	memcpy(a, tmp, sizeof(*a));
}

static void words_store(uint32_t *w, const struct cc_addr *a)
{
	uint32_t tmp[RT_WORDS];

	memcpy(tmp, a, sizeof(*a));
	for (size_t i = 0; i < RT_WORDS; i++)
		__atomic_store_n(&w[i], tmp[i], __ATOMIC_RELAXED);
}

/* Per packet on a wildcard-bound socket: word-wise, not a byte loop and a memcmp call. */
static unsigned rt_hash(const struct cc_addr *a)
{
	uint64_t w[2];

	ip_words(a, w);
	uint64_t h = (w[0] ^ w[1] * 0x9e3779b97f4a7c15ull ^ a->family) * 0xff51afd7ed558ccdull;
	return (unsigned)(h >> 40) % RT_SIZE;
}

static int same_ip(const struct cc_addr *a, const struct cc_addr *b)
{
	uint64_t x[2], y[2];

	if (a->family != b->family)
		return 0;
	ip_words(a, x);
	ip_words(b, y);
	return x[0] == y[0] && x[1] == y[1];
}

static int route_lookup(const struct cc_addr *dst, struct cc_addr *src)
{
	struct sockaddr_storage ss;
	socklen_t l;
	int s, rc = -1;

	memset(&ss, 0, sizeof(ss));
	if (dst->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(dst->port ? dst->port : 9);
		memcpy(&s6->sin6_addr, dst->ip, 16);
		l = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(dst->port ? dst->port : 9);
		memcpy(&s4->sin_addr, dst->ip, 4);
		l = sizeof(*s4);
	}
	/*
	 * A connected UDP socket makes the kernel pick the route's source; nothing is sent.  System
	 * calls made plainly: glibc's connect and close are cancellation points, and a cancel of the
	 * program's must never take effect in here, on the program's thread, inside our code.
	 */
	s = cc_real.socket(dst->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	/*
	 * SO_BROADCAST: a broadcast address is routed too (without it connect refuses one, and the
	 * source was left 0.0.0.0); the program's own socket must have it to send there at all.
	 */
	int one = 1;
	syscall(SYS_setsockopt, s, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one));
	if (syscall(SYS_connect, s, (struct sockaddr *)&ss, l) == 0) {
		l = sizeof(ss);
		if (getsockname(s, (struct sockaddr *)&ss, &l) == 0 && cc_addr_from_sa(src, (struct sockaddr *)&ss, l) == 0)
			rc = 0;
	}
	syscall(SYS_close, s);
	return rc;
}

/* The last route this thread asked for: cc_route_src() (capture_int.h) answers from it inline. */
__thread struct cc_last_route cc_last_route __attribute__((tls_model("initial-exec")));

static int route_src_shared(const struct cc_addr *dst, struct cc_addr *src);

int cc_route_src_lookup(const struct cc_addr *dst, struct cc_addr *src)
{
	uint64_t w[2];

	if (route_src_shared(dst, src) < 0)
		return -1;
	ip_words(dst, w);
	cc_last_route.dst[0] = w[0];
	cc_last_route.dst[1] = w[1];
	cc_last_route.src = *src;
	cc_last_route.family = dst->family;
	return 0;
}

static int route_src_shared(const struct cc_addr *dst, struct cc_addr *src)
{
	struct rt_ent *r = &rt[rt_hash(dst)];
	uint32_t s1 = __atomic_load_n(&r->seq, __ATOMIC_ACQUIRE);

	if (s1 && !(s1 & 1)) {
		struct cc_addr d, sr;
		words_load(r->dst, &d);
		words_load(r->src, &sr);
		/* Acquire on the re-read orders the word loads before it (C11 seqlock pattern). */
		if (__atomic_load_n(&r->seq, __ATOMIC_ACQUIRE) == s1 && same_ip(&d, dst)) {
			*src = sr;
			return 0;
		}
	}
	if (route_lookup(dst, src) < 0)
		return -1;
	/* Publish only if nobody else is writing; a reader interrupted mid-write just misses. */
	if (!(s1 & 1) && __atomic_compare_exchange_n(&r->seq, &s1, s1 + 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
		words_store(r->dst, dst);
		words_store(r->src, src);
		__atomic_store_n(&r->seq, s1 + 2, __ATOMIC_RELEASE);
	}
	return 0;
}
