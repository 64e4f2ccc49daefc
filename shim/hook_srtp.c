/*
 * libsrtp2 hooks: each packet handed to srtp_protect(_rtcp)(_mki) before encryption, and each
 * one srtp_unprotect(_rtcp)(_mki) returned after authentication and decryption, written on the
 * plaintext interface as RTP or RTCP in UDP, on the 5-tuple of the SRTP/SRTCP datagram that
 * carried it and at that datagram's time.
 *
 * Correlation is by the protected packet's exact bytes, on the writer's thread (srtpmatch.c):
 * outbound, the plaintext waits for a socket call to send a datagram with the bytes protect made
 * (maybe later, from another thread, in a sendmmsg batch or inside TURN framing); inbound, every
 * received SRTP-looking datagram is remembered with its 5-tuple, and unprotect's plaintext takes
 * the flow of the bytes it was given.  A packet whose datagram is never seen is written marked,
 * with unspecified addresses, and counted.  These hooks only copy and queue.
 *
 * libsrtp2's srtp_protect calls srtp_protect_mki through the PLT (likewise the others): a
 * per-thread depth makes the inner call a plain pass-through.  libsrtp 3 has the same names with
 * other arguments; it is detected by its version string and passed through untouched (all six
 * argument registers are forwarded, whatever they hold).
 */
#include "shim/capture.h"
#include "pcapout/lock.h"
#include "shim/dtlsmatch.h"
#include "shim/hooks.h"
#include "shim/optlib.h"
#include "shim/ownfd.h"
#include "shim/verbose.h"
#include "shim/real.h"
#include "shim/srtp_abi.h"
#include "shim/srtpkeys.h"
#include "shim/srtpmatch.h"
#include "pcapout/writer.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef long (*fn6)(void *, void *, void *, void *, void *, void *);

enum { P_PROTECT, P_PROTECT_MKI, P_UNPROTECT, P_UNPROTECT_MKI, P_PROTECT_RTCP, P_PROTECT_RTCP_MKI,
       P_UNPROTECT_RTCP, P_UNPROTECT_RTCP_MKI, P_CREATE, P_ADD_STREAM, P_UPDATE, P_COUNT };
static const char *const names[P_COUNT] = {
	"srtp_protect", "srtp_protect_mki", "srtp_unprotect", "srtp_unprotect_mki",
	"srtp_protect_rtcp", "srtp_protect_rtcp_mki", "srtp_unprotect_rtcp", "srtp_unprotect_rtcp_mki",
	"srtp_create", "srtp_add_stream", "srtp_update",
};

/*
 * Whether entry point `which` takes RTCP: by the function the program called, not by the
 * packet's second byte (an RTP packet with the marker bit and payload type 64-95, allowed
 * where RTP and RTCP do not share a port, has 192-223 there: its key line was lost).
 */
static inline int is_rtcp(int which)
{
	return which >= P_PROTECT_RTCP && which <= P_UNPROTECT_RTCP_MKI;
}

static fn6 real[P_COUNT];
static int supported = -1;      /* -1 not checked, 0 libsrtp 3 or unknown: pass through, 1 libsrtp 2 */
/*
 * 1 when libsrtp2 2.x and its four _mki functions are found: srtp_protect(_rtcp) and
 * srtp_unprotect(_rtcp) are then called as what they are in libsrtp2 from 2.1 on, their _mki
 * twin with no MKI (use_mki 0, mki_index 0): the same work, without a second pass through a hook.
 */
static int twins;
static pthread_mutex_t lock = CC_MUTEX_INITIALIZER;
static __thread int depth __attribute__((tls_model("initial-exec")));

#define PACKET_MAX 8192

/* The first call of each entry point: finds libsrtp's own, and which libsrtp it is. */
static fn6 __attribute__((noinline)) resolve_slow(int which)
{
	fn6 f;

	cc_lock(&lock);
	if (!real[which]) {
		void *p = cc_optsym("libsrtp2.so", names[which]);
		if (!p)
			p = cc_optsym("libsrtp3.so", names[which]);
		if (!p)
			p = cc_real_lookup(names[which]);
		__atomic_store_n(&real[which], (fn6)p, __ATOMIC_RELEASE);
	}
	if (supported < 0) {
		const char *(*ver)(void) = cc_optsym("libsrtp2.so", "srtp_get_version_string");
		if (!ver)
			ver = cc_optsym("libsrtp3.so", "srtp_get_version_string");
		const char *v = ver ? ver() : NULL;
		supported = v && strncmp(v, "libsrtp2 2.", 11) == 0;
		if (supported)
			cc_verbose_lib(v, "SRTP/SRTCP plaintext, SDES keys", (const void *)ver);
		if (supported) {
			static const int mki[] = { P_PROTECT_MKI, P_UNPROTECT_MKI, P_PROTECT_RTCP_MKI,
						   P_UNPROTECT_RTCP_MKI };
			int found = 0;
			for (int i = 0; i < 4; i++) {
				void *p = cc_optsym("libsrtp2.so", names[mki[i]]);
				if (p && !real[mki[i]])
					__atomic_store_n(&real[mki[i]], (fn6)p, __ATOMIC_RELEASE);
				found += p && real[mki[i]] == (fn6)p;
			}
			__atomic_store_n(&twins, found == 4, __ATOMIC_RELEASE);
		}
		if (!supported && __atomic_load_n(&cc_on, __ATOMIC_RELAXED))
			cc_warn("libsrtp %s is not one clearcap reads (libsrtp2 2.x): SRTP passes through uncaptured",
				v ? v : "(unknown version)");
	}
	cc_unlock(&lock);
	f = real[which];
	if (!f) {
		static int warned;
		if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
			cc_warn("%s was called but libsrtp's own could not be found", names[which]);
	}
	return f;
}

static inline fn6 resolve(int which)
{
	fn6 f = __atomic_load_n(&real[which], __ATOMIC_ACQUIRE);

	return f ? f : resolve_slow(which);
}

/*
 * Failed unprotects by flow and libsrtp status (srtp_err_status_t, below 32): what users come to
 * debug (wrong key: auth_fail; replays).  A few flows; the rest are counted as "other flows".
 */
#define FAIL_FLOWS 16
static struct failflow {
	int used;
	struct cc_addr local, peer;     /* family 0: flow not known */
	uint64_t by_status[32];
} fails[FAIL_FLOWS + 1];
static pthread_mutex_t fail_lock = CC_MUTEX_INITIALIZER;

static void count_failure(const struct cc_addr *local, const struct cc_addr *peer, int status)
{
	struct cc_addr none;
	struct failflow *f = &fails[FAIL_FLOWS];

	memset(&none, 0, sizeof(none));
	if (!local)
		local = peer = &none;
	if (status <= 0 || status >= 32)
		return;
	cc_lock(&fail_lock);
	for (int i = 0; i < FAIL_FLOWS; i++) {
		if (!fails[i].used || (!memcmp(&fails[i].local, local, sizeof(*local)) &&
				       !memcmp(&fails[i].peer, peer, sizeof(*peer)))) {
			fails[i].used = 1;
			fails[i].local = *local;
			fails[i].peer = *peer;
			f = &fails[i];
			break;
		}
	}
	f->by_status[status]++;
	cc_unlock(&fail_lock);
	cc_writer_count_srtp_failure();
}

/*
 * The keys of each session, so that the pcapng carries them: the first plaintext packet of a
 * flow and direction gets its key line (the SRTP key log's format, with the flow's addresses, which
 * SDES policies alone do not know) in its comment.  `tshark -T fields -e frame.comment` lists them.
 *
 * Two entries per session and direction policy (a server's every peer connection has one
 * session): 1024 of them, found through a per-thread cache per packet; the index takes 12 bits
 * of a keyref, the entry's generation the rest.  A session past them has its plaintext but no
 * key line naming its flow, and says so once.
 */
#define KEYS 1024
#define KEYREF_BITS 12
#define KEYREF_GEN(gen) ((gen) & (0xffffffffu >> KEYREF_BITS))
#define KEYREF_INDEX(ref) ((ref) & ((1u << KEYREF_BITS) - 1))
static struct srtpkey {
	/* ctx, type and ssrc are read per packet without the lock: atomic, set under it. */
	const void *ctx;                /* the srtp_t session; NULL: free */
	int type;                       /* policy ssrc type: 1 that SSRC, 2 any inbound, 3 any outbound */
	uint32_t ssrc;
	uint64_t flow_hash[2];          /* [outgoing]: the flow that got the line (atomic); 0: none */
	uint32_t gen;                   /* bumped each time the entry changes (atomic, set under the lock) */
	char suite_key[136];            /* "SUITE inline:BASE64", under the lock */
} keys[KEYS];
static pthread_mutex_t key_lock = CC_MUTEX_INITIALIZER;
static int nkeys;                       /* entries ever used: per packet, nothing to look up until then */
static uint32_t keys_gen;               /* bumped after any entry changes (atomic, under the lock) */

/*
 * A reference to a key entry as it is now, for the writer's thread to find it by later: its
 * index and generation (0: none).  A changed entry (srtp_update, a new session) no longer matches.
 */
static uint32_t keyref_of(const struct srtpkey *k)
{
	if (!k)
		return 0;
	return KEYREF_GEN(__atomic_load_n(&k->gen, __ATOMIC_RELAXED)) << KEYREF_BITS | (uint32_t)(k - keys + 1);
}

/*
 * Keys replaced (srtp_update, a stream added again) or forgotten, kept a while under the lock:
 * packets protected with them may still be on their way to the writer's thread, and their flow's
 * line must carry the key they were protected with.
 */
#define RETIRED 16
static struct retired {
	uint32_t keyref;                /* keyref_of() the entry had; 0: free */
	uint64_t flow_hash[2];
	char suite_key[136];
} retired[RETIRED];
static unsigned nretired;

/* Keeps entry k's key before it changes; key_lock held. */
static void key_retire(struct srtpkey *k)
{
	if (!__atomic_load_n(&k->ctx, __ATOMIC_RELAXED))
		return;
	struct retired *r = &retired[nretired++ % RETIRED];
	r->keyref = keyref_of(k);
	r->flow_hash[0] = k->flow_hash[0];
	r->flow_hash[1] = k->flow_hash[1];
	memcpy(r->suite_key, k->suite_key, sizeof(r->suite_key));
}

static void key_forget(const void *ctx)
{
	cc_lock(&key_lock);
	for (int i = 0; i < KEYS; i++)
		if (__atomic_load_n(&keys[i].ctx, __ATOMIC_RELAXED) == ctx) {
			key_retire(&keys[i]);
			__atomic_store_n(&keys[i].ctx, NULL, __ATOMIC_RELEASE);
			__atomic_fetch_add(&keys[i].gen, 1, __ATOMIC_RELAXED);
		}
	__atomic_fetch_add(&keys_gen, 1, __ATOMIC_RELEASE);
	cc_unlock(&key_lock);
}

static void key_add(const void *ctx, int type, uint32_t ssrc, const char *crypto)
{
	int free_i = -1;

	if (!ctx)
		return;
	cc_lock(&key_lock);
	for (int i = 0; i < KEYS; i++) {
		const void *c = __atomic_load_n(&keys[i].ctx, __ATOMIC_RELAXED);
		if (c == ctx && keys[i].type == type && (type != 1 || keys[i].ssrc == ssrc)) {
			free_i = i;     /* srtp_update: the new key replaces the old */
			break;
		}
		if (!c && free_i < 0)
			free_i = i;
	}
	if (free_i >= 0) {
		struct srtpkey *k = &keys[free_i];
		key_retire(k);
		/* Readers match ctx first: hide the entry while it changes. */
		__atomic_store_n(&k->ctx, NULL, __ATOMIC_RELEASE);
		__atomic_fetch_add(&k->gen, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&k->type, type, __ATOMIC_RELAXED);
		__atomic_store_n(&k->ssrc, ssrc, __ATOMIC_RELAXED);
		__atomic_store_n(&k->flow_hash[0], 0, __ATOMIC_RELAXED);
		__atomic_store_n(&k->flow_hash[1], 0, __ATOMIC_RELAXED);
		snprintf(k->suite_key, sizeof(k->suite_key), "%s", crypto);
		__atomic_store_n(&k->ctx, ctx, __ATOMIC_RELEASE);
		if (free_i >= __atomic_load_n(&nkeys, __ATOMIC_RELAXED))
			__atomic_store_n(&nkeys, free_i + 1, __ATOMIC_RELEASE);
		__atomic_fetch_add(&keys_gen, 1, __ATOMIC_RELEASE);
	}
	cc_unlock(&key_lock);
	if (free_i < 0) {
		static int warned;
		if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
			cc_warn("more than %d SRTP keys at once: later sessions' plaintext is captured, their key "
				"lines name no flow (pid %u)", KEYS, cc_pid);
	}
}

/* The key entry for a packet of session ctx with this SSRC, or NULL.  No lock. */
static struct srtpkey *key_find(const void *ctx, int outgoing, uint32_t ssrc)
{
	struct srtpkey *any = NULL;
	int n = __atomic_load_n(&nkeys, __ATOMIC_ACQUIRE);

	for (int i = 0; i < n; i++) {
		if (__atomic_load_n(&keys[i].ctx, __ATOMIC_ACQUIRE) != ctx)
			continue;
		int type = __atomic_load_n(&keys[i].type, __ATOMIC_RELAXED);
		if (type == 1 && __atomic_load_n(&keys[i].ssrc, __ATOMIC_RELAXED) == ssrc)
			return &keys[i];
		if (type == (outgoing ? 3 : 2))
			any = &keys[i];
	}
	return any;
}

/*
 * The key reference for a packet of session ctx, by the SSRC in its clear header: keyref_of
 * (key_find(...)), answered from this thread's last question per direction while no entry
 * changed (keys_gen): a session's packets ask the same, packet after packet.
 */
static __thread struct key_last {
	const void *ctx;
	uint32_t ssrc;
	uint32_t gen;
	uint32_t keyref;
} key_last[2] __attribute__((tls_model("initial-exec")));

/* keyref_for() when this thread's last answer does not hold: looked up, and kept. */
static __attribute__((noinline)) uint32_t keyref_find(struct key_last *c, const void *ctx, int outgoing, uint32_t ssrc,
						      uint32_t gen)
{
	uint32_t ref = keyref_of(key_find(ctx, outgoing, ssrc));

	*c = (struct key_last){ ctx, ssrc, gen, ref };
	return ref;
}

static inline __attribute__((always_inline)) uint32_t keyref_for(const void *ctx, int outgoing, int rtcp,
								 const uint8_t *p, size_t len)
{
	struct key_last *c = &key_last[outgoing != 0];
	uint32_t gen = __atomic_load_n(&keys_gen, __ATOMIC_ACQUIRE);

	if (!ctx || len < (rtcp ? 8u : 12u))
		return 0;
	/* RFC 3550: the SSRC follows the sequence number and timestamp (RTP), or the header (RTCP). */
	const uint8_t *q = p + (rtcp ? 4 : 8);
	uint32_t ssrc = (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
	if (c->ctx == ctx && c->ssrc == ssrc && c->gen == gen)
		return c->keyref;
	return keyref_find(c, ctx, outgoing, ssrc, gen);
}

static uint64_t flow_hash(const struct cc_addr *local, const struct cc_addr *peer)
{
	uint64_t w[2 * sizeof(struct cc_addr) / 8 + 1] = { 0 };
	uint64_t h = 0x9e3779b97f4a7c15ull;

	/* Per packet: a word at a time (a byte at a time was a tenth of the plaintext's cost). */
	memcpy(w, local, sizeof(*local));
	memcpy((uint8_t *)w + sizeof(*local), peer, sizeof(*peer));
	for (size_t i = 0; i < sizeof(w) / 8; i++) {
		h = (h ^ w[i]) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	return h | 1;
}

/*
 * On the writer's thread: "SRTP LOCAL PEER DIR SUITE inline:KEY" into buf when this flow has not
 * had its key line yet (returns 1).
 */
static int key_note(uint32_t keyref, const struct cc_addr *local, const struct cc_addr *peer, int outgoing, char *buf,
		 size_t size)
{
	static const char prefix[] = "flow from SRTP packet; ";
	unsigned i = KEYREF_INDEX(keyref);
	uint64_t h;
	int n = -1;

	if (!i || i > KEYS)
		return 0;
	struct srtpkey *k = &keys[i - 1];
	h = flow_hash(local, peer);
	/* Per packet: one atomic load; the lock only for a flow's first packet. */
	if (__atomic_load_n(&k->flow_hash[outgoing], __ATOMIC_RELAXED) == h)
		return 0;
	cc_lock(&key_lock);
	uint64_t *noted = NULL;
	const char *suite_key = NULL;
	if (__atomic_load_n(&k->ctx, __ATOMIC_RELAXED) && KEYREF_GEN(k->gen) == keyref >> KEYREF_BITS) {
		noted = &k->flow_hash[outgoing];
		suite_key = k->suite_key;
	} else {
		/* The entry changed since the packet was protected: the key it had then. */
		for (int j = 0; j < RETIRED && !noted; j++)
			if (retired[j].keyref == keyref) {
				noted = &retired[j].flow_hash[outgoing];
				suite_key = retired[j].suite_key;
			}
	}
	if (noted && __atomic_load_n(noted, __ATOMIC_RELAXED) != h) {
		__atomic_store_n(noted, h, __ATOMIC_RELAXED);
		memcpy(buf, prefix, sizeof(prefix) - 1);
		n = cc_srtp_line(buf + sizeof(prefix) - 1, size - (sizeof(prefix) - 1), local, peer,
				 outgoing ? "outbound" : "inbound", suite_key);
	}
	cc_unlock(&key_lock);
	if (n < 0)
		return 0;
	/*
	 * The key log gets the line too: SDES policies never named their flow, and ICE may move
	 * DTLS-SRTP media to another candidate pair after the keys were exported.
	 */
	cc_srtp_keylog_line(buf + sizeof(prefix) - 1);
	return 1;
}

static inline int capturing(void)
{
	return __atomic_load_n(&cc_on, __ATOMIC_RELAXED) && depth == 0 && supported == 1;
}

/*
 * SRTP is in use: from now on the wire's datagrams go to the writer's matching (cc_sm_watch).
 * Set once, read per packet after that (every captured datagram's path reads its line).  The
 * hooks' kept datagram fields (capture_int.h, cc_udp_last) carry the defer flag it implies: the
 * count moved after the store makes them worked out afresh.
 */
static void __attribute__((noinline)) watch_first(void)
{
	int saved = errno;

	__atomic_store_n(&cc_sm_watch, 1, __ATOMIC_RELAXED);
	cc_fd_changed();
	cc_writer_srtp_in_use();
	errno = saved;
}

static inline void watch_on(void)
{
	if (!__builtin_expect(__atomic_load_n(&cc_sm_watch, __ATOMIC_RELAXED), 1))
		watch_first();
}

/*
 * protect's body: the cleartext copied into `kept` (len bytes of room) before libsrtp encrypts
 * in place, and queued after with the tag made of the protected bytes.  (Copied twice, here and
 * into the ring: a ring slot taken before protect and published after would stay unpublished
 * while libsrtp works, and the writer stops there; a program that leaves protect by longjmp or
 * cancellation, or stops in it under a debugger, would stop the whole capture.)
 */
static inline __attribute__((always_inline)) long protect_body(int rtcp, fn6 fn, uint8_t *kept, int len, void *a,
							       void *b, void *c, void *d, void *e, void *f)
{
	int *lenp = c;
	/* (The length opaque, as in cc_sm_queue: glibc's memcpy, not `rep movsq`.) */
	size_t n = (size_t)len;
	__asm__("" : "+r"(n));
	memcpy(kept, b, n);
	watch_on();
	depth++;
	long r = fn(a, b, c, d, e, f);
	depth--;
	/* (errno as fn left it: what follows changes it only on slow paths, which keep it.) */
	if (r == 0 && *lenp > 0) {
		struct cc_sm_tag t;
		/* The bytes the key is made of, as they are (the writer's thread mixes them). */
		cc_dm_parts_of(b, (size_t)*lenp, &t.key);
		t.keyref = keyref_for(a, 1, rtcp, kept, (size_t)len);
		t.status = 0;
		cc_sm_queue(1, rtcp, &t, kept, (size_t)len);
	}
	return r;
}

/* A packet past the stack copy's room (jumbo frames, loopback): a copy of its own. */
static __attribute__((noinline)) long protect_big(int which, fn6 fn, int len, void *a, void *b, void *c, void *d,
						  void *e, void *f)
{
	uint8_t *kept = malloc((size_t)len);

	if (!kept)
		return fn(a, b, c, d, e, f);
	long r = protect_body(is_rtcp(which), fn, kept, len, a, b, c, d, e, f);
	int saved = errno;
	free(kept);
	errno = saved;
	return r;
}

/* protect: keep the cleartext, let libsrtp encrypt in place, queue it. */
static inline __attribute__((always_inline)) long protect_inline(int which, void *a, void *b, void *c, void *d, void *e,
								  void *f)
{
	fn6 fn = resolve(which);
	int *lenp = c, len;

	if (!fn)
		return 1;       /* srtp_err_status_fail */
	if (!capturing() || !b || !lenp || (len = *lenp) <= 0)
		return fn(a, b, c, d, e, f);
	if (__builtin_expect(len > PACKET_MAX, 0))
		return protect_big(which, fn, len, a, b, c, d, e, f);
	uint8_t copy[PACKET_MAX];
	return protect_body(is_rtcp(which), fn, copy, len, a, b, c, d, e, f);
}

static __attribute__((noinline)) long protect(int which, void *a, void *b, void *c, void *d, void *e, void *f)
{
	return protect_inline(which, a, b, c, d, e, f);
}

/* unprotect: the key's bytes of the packet given, then what came out. */
static inline __attribute__((always_inline)) long unprotect_inline(int which, void *a, void *b, void *c, void *d,
								    void *e, void *f)
{
	fn6 fn = resolve(which);
	int *lenp = c, len;
	struct cc_sm_tag t;

	if (!fn)
		return 1;
	if (!capturing() || !b || !lenp || (len = *lenp) <= 0)
		return fn(a, b, c, d, e, f);
	watch_on();
	cc_dm_parts_of(b, (size_t)len, &t.key);
	depth++;
	long r = fn(a, b, c, d, e, f);
	depth--;
	/* (errno as fn left it: what follows changes it only on slow paths, which keep it.) */
	if (r == 0 && *lenp > 0) {
		int rtcp = is_rtcp(which);
		t.keyref = keyref_for(a, 0, rtcp, b, (size_t)*lenp);
		t.status = 0;
		cc_sm_queue(0, rtcp, &t, b, (size_t)*lenp);
	} else if (r > 0 && r < 32) {
		t.keyref = 0;
		t.status = (int)r;
		cc_sm_failed(&t);
	}
	return r;
}

static __attribute__((noinline)) long unprotect(int which, void *a, void *b, void *c, void *d, void *e, void *f)
{
	return unprotect_inline(which, a, b, c, d, e, f);
}

#define HOOK(name, idx, how)                                                                   \
	CC_EXPORT long name(void *a, void *b, void *c, void *d, void *e, void *f)            \
	{                                                                                      \
		return how(idx, a, b, c, d, e, f);                                             \
	}

/*
 * The packet hooks.  libsrtp2's srtp_protect calls srtp_protect_mki through its PLT, so it comes
 * back here: inside one of ours (depth), straight on to the real one, as cheaply as can be.  The
 * ones without MKI call their twin with none themselves once it is known to be there (twins),
 * with the body inlined: the call a packet makes, one function deep.
 */
#define HOOK_PACKET(name, idx, how)                                                            \
	CC_EXPORT long name(void *a, void *b, void *c, void *d, void *e, void *f)            \
	{                                                                                      \
		fn6 in = depth ? __atomic_load_n(&real[idx], __ATOMIC_ACQUIRE) : NULL;        \
		if (in)                                                                        \
			return in(a, b, c, d, e, f);                                           \
		return how(idx, a, b, c, d, e, f);                                             \
	}
#define HOOK_PACKET_TWIN(name, idx, twin, how)                                                 \
	CC_EXPORT long name(void *a, void *b, void *c, void *d, void *e, void *f)            \
	{                                                                                      \
		fn6 in = depth ? __atomic_load_n(&real[idx], __ATOMIC_ACQUIRE) : NULL;        \
		if (in)                                                                        \
			return in(a, b, c, d, e, f);                                           \
		if (__builtin_expect(__atomic_load_n(&twins, __ATOMIC_ACQUIRE), 1))            \
			return how##_inline(twin, a, b, c, NULL, NULL, NULL);                  \
		return how(idx, a, b, c, d, e, f);                                             \
	}

HOOK_PACKET_TWIN(srtp_protect, P_PROTECT, P_PROTECT_MKI, protect)
HOOK_PACKET(srtp_protect_mki, P_PROTECT_MKI, protect)
HOOK_PACKET_TWIN(srtp_protect_rtcp, P_PROTECT_RTCP, P_PROTECT_RTCP_MKI, protect)
HOOK_PACKET(srtp_protect_rtcp_mki, P_PROTECT_RTCP_MKI, protect)
HOOK_PACKET_TWIN(srtp_unprotect, P_UNPROTECT, P_UNPROTECT_MKI, unprotect)
HOOK_PACKET(srtp_unprotect_mki, P_UNPROTECT_MKI, unprotect)
HOOK_PACKET_TWIN(srtp_unprotect_rtcp, P_UNPROTECT_RTCP, P_UNPROTECT_RTCP_MKI, unprotect)
HOOK_PACKET(srtp_unprotect_rtcp_mki, P_UNPROTECT_RTCP_MKI, unprotect)

/* RFC 4568 / 6188 / 7714 suite names for libsrtp's cipher and tag; NULL for others. */
static const char *suite_of(const struct crypto_policy2 *c, size_t *key_len, size_t *salt_len)
{
	int sha1 = c->auth_type == 3;   /* SRTP_HMAC_SHA1 */

	switch (c->cipher_type) {
	case 1:                         /* SRTP_AES_ICM_128 */
		*key_len = 16, *salt_len = 14;
		return !sha1 ? NULL : c->auth_tag_len == 10 ? "AES_CM_128_HMAC_SHA1_80" :
		       c->auth_tag_len == 4 ? "AES_CM_128_HMAC_SHA1_32" : NULL;
	case 5:                         /* SRTP_AES_ICM_256 */
		*key_len = 32, *salt_len = 14;
		return !sha1 ? NULL : c->auth_tag_len == 10 ? "AES_256_CM_HMAC_SHA1_80" :
		       c->auth_tag_len == 4 ? "AES_256_CM_HMAC_SHA1_32" : NULL;
	case 6:                         /* SRTP_AES_GCM_128 */
		*key_len = 16, *salt_len = 12;
		return "AEAD_AES_128_GCM";
	case 7:                         /* SRTP_AES_GCM_256 */
		*key_len = 32, *salt_len = 12;
		return "AEAD_AES_256_GCM";
	}
	return NULL;
}

/*
 * One key log line per policy in the list (SDES keys: the flow is not known here, the SSRC is),
 * and the key kept for the pcapng.
 */
static void log_policies(const void *ctx, const struct policy2 *p, int max)
{
	for (int n = 0; p && n < max; p = p->next, n++) {
		size_t kl = 0, sl = 0;
		const char *suite = suite_of(&p->rtp, &kl, &sl);
		const unsigned char *key = p->key;
		char who[32];

		if (!key && p->num_master_keys == 1 && p->keys && p->keys[0])
			key = *p->keys[0];
		if (!key && p->num_master_keys > 1) {
			/* Which key protects a packet is its MKI's: one line of one key would be wrong. */
			static int warned;
			if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
				cc_warn("SRTP with %lu master keys (MKI): plaintext captured, no key line written "
					"(pid %u)", p->num_master_keys, cc_pid);
			continue;
		}
		if (!suite || !key || (size_t)p->rtp.cipher_key_len != kl + sl)
			continue;
		if (p->ssrc.type == 1)
			snprintf(who, sizeof(who), "ssrc=0x%08x", p->ssrc.value);
		else
			snprintf(who, sizeof(who), "%s", p->ssrc.type == 3 ? "outbound" : "inbound");
		char crypto[136], line[320];
		if (cc_srtp_crypto(crypto, sizeof(crypto), suite, key, kl, key + kl, sl) < 0)
			continue;
		if (cc_srtp_line(line, sizeof(line), NULL, NULL, who, crypto) > 0)
			cc_srtp_keylog_line(line);
		key_add(ctx, p->ssrc.type, p->ssrc.value, crypto);
	}
}

/*
 * A session being created means SRTP datagrams are coming: from now on received ones are
 * remembered, so the very first packet unprotected finds its flow too.  Its policies' keys go
 * to the SRTP key log.
 */
static long with_policy(int which, void *a, void *b, void *c, void *d, void *e, void *f)
{
	fn6 fn = resolve(which);

	if (!fn)
		return 1;
	long r = fn(a, b, c, d, e, f);
	if (r == 0 && __atomic_load_n(&cc_on, __ATOMIC_RELAXED) && supported == 1) {
		int saved = errno;
		watch_on();
		/* srtp_create(srtp_t *session, ...) makes the session; the others take it. */
		const void *ctx = which == P_CREATE ? (a ? *(void **)a : NULL) : a;
		if (which == P_CREATE)
			key_forget(ctx);        /* a freed session's address, reused */
		/* srtp_add_stream takes one policy and never reads its next (which may be anything). */
		log_policies(ctx, b, which == P_ADD_STREAM ? 1 : 64);
		errno = saved;
	}
	return r;
}

HOOK(srtp_create, P_CREATE, with_policy)
HOOK(srtp_add_stream, P_ADD_STREAM, with_policy)
HOOK(srtp_update, P_UPDATE, with_policy)

static const char *status_name(int i)
{
	switch (i) {
	case 2: return "bad_param";
	case 7: return "auth_fail";
	case 8: return "cipher_fail";
	case 9: return "replay_fail";
	case 10: return "replay_old";
	case 13: return "no_ctx";
	}
	return NULL;
}

/* At exit: one line per flow whose unprotects failed, with the counts by libsrtp status. */
void cc_srtp_init(void)
{
	cc_forklock_add(&lock, CC_RANK_RESOLVE);
	cc_forklock_add(&key_lock, CC_RANK_LEAF);
	cc_forklock_add(&fail_lock, CC_RANK_LEAF);
	cc_srtpkeys_init();
	struct cc_sm_hooks h = { key_note, count_failure };
	cc_sm_set_hooks(&h);
}

void cc_srtp_atfork_child(void)
{
	memset(fails, 0, sizeof(fails));
	cc_srtpkeys_atfork_child();
}

void cc_srtp_exit(void)
{
	cc_srtpkeys_exit();
	cc_lock(&fail_lock);
	for (int f = 0; f <= FAIL_FLOWS; f++) {
		char buf[256], l[64], p[64];
		size_t n = 0;

		for (int i = 1; i < 32 && n < sizeof(buf) - 40; i++) {
			uint64_t c = fails[f].by_status[i];
			const char *what = status_name(i);
			if (!c)
				continue;
			if (what)
				n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s=%llu", n ? ", " : "", what,
						      (unsigned long long)c);
			else
				n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%sstatus%d=%llu", n ? ", " : "", i,
						      (unsigned long long)c);
		}
		if (!n)
			continue;
		if (f == FAIL_FLOWS || !fails[f].local.family) {
			cc_warn("srtp_unprotect failed (pid %u) %s: %s", cc_pid,
				f == FAIL_FLOWS ? "on other flows" : "on datagrams not seen", buf);
			continue;
		}
		cc_addr_str(&fails[f].peer, p, sizeof(p));
		cc_addr_str(&fails[f].local, l, sizeof(l));
		cc_warn("srtp_unprotect failed (pid %u) on %s > %s: %s", cc_pid, p, l, buf);
	}
	cc_unlock(&fail_lock);
}
