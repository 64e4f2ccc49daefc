/*
 * libsrtp2 hooks: each packet handed to srtp_protect(_rtcp)(_mki) before encryption, and each
 * one srtp_unprotect(_rtcp)(_mki) returned after authentication and decryption, written on the
 * plaintext interface as RTP or RTCP in UDP, on the 5-tuple of the SRTP/SRTCP datagram that
 * carried it and at that datagram's time.
 *
 * Correlation is by the protected packet's exact bytes (dtlsmatch.c): outbound, the SRTP packet
 * protect produced is remembered with the plaintext until a socket call sends a datagram with
 * those bytes (maybe later, from another thread, in a sendmmsg batch or inside TURN framing);
 * inbound, every received SRTP-looking datagram is remembered with its 5-tuple, and unprotect
 * finds the flow of the bytes it was given.  A packet whose datagram is never seen is written
 * marked, with unspecified addresses, and counted.
 *
 * libsrtp2's srtp_protect calls srtp_protect_mki through the PLT (likewise the others): a
 * per-thread depth makes the inner call a plain pass-through.  libsrtp 3 has the same names with
 * other arguments; it is detected by its version string and passed through untouched (all six
 * argument registers are forwarded, whatever they hold).
 */
#include "shim/capture.h"
#include "shim/dtlsmatch.h"
#include "shim/hooks.h"
#include "shim/optlib.h"
#include "shim/real.h"
#include "pcapout/writer.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef long (*fn6)(void *, void *, void *, void *, void *, void *);

enum { P_PROTECT, P_PROTECT_MKI, P_UNPROTECT, P_UNPROTECT_MKI, P_PROTECT_RTCP, P_PROTECT_RTCP_MKI,
       P_UNPROTECT_RTCP, P_UNPROTECT_RTCP_MKI, P_CREATE, P_COUNT };
static const char *const names[P_COUNT] = {
	"srtp_protect", "srtp_protect_mki", "srtp_unprotect", "srtp_unprotect_mki",
	"srtp_protect_rtcp", "srtp_protect_rtcp_mki", "srtp_unprotect_rtcp", "srtp_unprotect_rtcp_mki",
	"srtp_create",
};

static fn6 real[P_COUNT];
static int supported = -1;      /* -1 not checked, 0 libsrtp 3 or unknown: pass through, 1 libsrtp 2 */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static __thread int depth __attribute__((tls_model("initial-exec")));

#define PACKET_MAX 8192

static fn6 resolve(int which)
{
	fn6 f = __atomic_load_n(&real[which], __ATOMIC_ACQUIRE);

	if (f)
		return f;
	pthread_mutex_lock(&lock);
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
		const char *v = ver ? ver() : NULL;
		supported = v && strncmp(v, "libsrtp2 2.", 11) == 0;
		if (!supported && __atomic_load_n(&cc_on, __ATOMIC_RELAXED))
			cc_warn("libsrtp %s is not one clearcap reads (libsrtp2 2.x): SRTP passes through uncaptured",
				v ? v : "(unknown version)");
	}
	pthread_mutex_unlock(&lock);
	f = real[which];
	if (!f) {
		static int warned;
		if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
			cc_warn("%s was called but libsrtp's own could not be found", names[which]);
	}
	return f;
}

static uint64_t failures[32];

/* Writes one plaintext RTP/RTCP packet on its flow, or marked when the flow is not known. */
void cc_srtp_matched(const struct cc_addr *local, const struct cc_addr *peer, const void *plain, size_t len)
{
	struct cc_plainflow pf;

	memset(&pf, 0, sizeof(pf));
	pf.mapped = 1;
	if (local) {
		pf.proto = IPPROTO_UDP;
		pf.local = *local;
		pf.peer = *peer;
	} else {
		cc_writer_count_unmatched(1);
	}
	/* outgoing: the datagram matched on send; for inbound the caller passes the flow as is. */
	cc_cap_plain(&pf, 1, plain, len, local ? "flow from SRTP packet" : "flow unknown");
}

static void inbound(const struct cc_addr *local, const struct cc_addr *peer, int found, const void *plain,
		    size_t len)
{
	struct cc_plainflow pf;

	memset(&pf, 0, sizeof(pf));
	pf.mapped = 1;
	if (found) {
		pf.proto = IPPROTO_UDP;
		pf.local = *local;
		pf.peer = *peer;
	} else {
		cc_writer_count_unmatched(1);
	}
	cc_cap_plain(&pf, 0, plain, len, found ? "flow from SRTP packet" : "flow unknown");
}

static inline int capturing(void)
{
	return __atomic_load_n(&cc_on, __ATOMIC_RELAXED) && !cc_guard && depth == 0 && supported == 1;
}

/* protect: keep the cleartext, let libsrtp encrypt in place, remember the result's bytes. */
static long protect(int which, void *a, void *b, void *c, void *d, void *e, void *f)
{
	fn6 fn = resolve(which);
	uint8_t copy[PACKET_MAX];
	int *lenp = c, len;

	if (!fn)
		return 1;       /* srtp_err_status_fail */
	if (!capturing() || !b || !lenp || (len = *lenp) <= 0 || len > PACKET_MAX)
		return fn(a, b, c, d, e, f);
	memcpy(copy, b, (size_t)len);
	__atomic_store_n(&cc_dm_srtp_active, 1, __ATOMIC_RELAXED);
	depth++;
	long r = fn(a, b, c, d, e, f);
	depth--;
	int saved = errno;
	if (r == 0 && *lenp > 0)
		cc_dm_expect_kind(CC_DM_SRTP, NULL, cc_dm_bytes_key(b, (size_t)*lenp), copy, (size_t)len);
	errno = saved;
	return r;
}

/* unprotect: find the flow of the bytes given, then write what came out. */
static long unprotect(int which, void *a, void *b, void *c, void *d, void *e, void *f)
{
	fn6 fn = resolve(which);
	int *lenp = c, len;

	if (!fn)
		return 1;
	if (!capturing() || !b || !lenp || (len = *lenp) <= 0)
		return fn(a, b, c, d, e, f);
	__atomic_store_n(&cc_dm_srtp_active, 1, __ATOMIC_RELAXED);
	uint64_t key = cc_dm_bytes_key(b, (size_t)len);
	depth++;
	long r = fn(a, b, c, d, e, f);
	depth--;
	int saved = errno;
	if (r == 0 && *lenp > 0) {
		struct cc_addr local, peer;
		int found = cc_dm_inbound_flow(key, &local, &peer) == 0;
		inbound(&local, &peer, found, b, (size_t)*lenp);
	} else if (r > 0 && r < 32) {
		/* auth_fail (7), replay_fail (9), replay_old (10), ...: what users come to debug. */
		__atomic_fetch_add(&failures[r], 1, __ATOMIC_RELAXED);
	}
	errno = saved;
	return r;
}

#define HOOK(name, idx, how)                                                                   \
	CC_EXPORT long name(void *a, void *b, void *c, void *d, void *e, void *f)            \
	{                                                                                      \
		return how(idx, a, b, c, d, e, f);                                             \
	}

HOOK(srtp_protect, P_PROTECT, protect)
HOOK(srtp_protect_mki, P_PROTECT_MKI, protect)
HOOK(srtp_protect_rtcp, P_PROTECT_RTCP, protect)
HOOK(srtp_protect_rtcp_mki, P_PROTECT_RTCP_MKI, protect)
HOOK(srtp_unprotect, P_UNPROTECT, unprotect)
HOOK(srtp_unprotect_mki, P_UNPROTECT_MKI, unprotect)
HOOK(srtp_unprotect_rtcp, P_UNPROTECT_RTCP, unprotect)
HOOK(srtp_unprotect_rtcp_mki, P_UNPROTECT_RTCP_MKI, unprotect)

/*
 * A session being created means SRTP datagrams are coming: from now on received ones are
 * remembered, so the very first packet unprotected finds its flow too.
 */
CC_EXPORT long srtp_create(void *a, void *b, void *c, void *d, void *e, void *f)
{
	fn6 fn = resolve(P_CREATE);

	if (!fn)
		return 1;
	if (__atomic_load_n(&cc_on, __ATOMIC_RELAXED))
		__atomic_store_n(&cc_dm_srtp_active, 1, __ATOMIC_RELAXED);
	return fn(a, b, c, d, e, f);
}

/* At exit: unprotect failures by libsrtp's status code, one line if there were any. */
void cc_srtp_exit(void)
{
	char buf[256];
	size_t n = 0;

	for (int i = 1; i < 32 && n < sizeof(buf) - 32; i++) {
		uint64_t c = __atomic_load_n(&failures[i], __ATOMIC_RELAXED);
		if (c) {
			const char *what = i == 7 ? "auth_fail" : i == 9 ? "replay_fail" : i == 10 ? "replay_old" : "status";
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s=%llu", n ? ", " : "", what,
					      (unsigned long long)c);
			if (i != 7 && i != 9 && i != 10)
				n += (size_t)snprintf(buf + n, sizeof(buf) - n, "(%d)", i);
		}
	}
	if (n)
		cc_warn("srtp_unprotect failed: %s (pid %u)", buf, cc_pid);
}
