/*
 * GnuTLS hooks: the plaintext each gnutls_record_send (and its _send2/_send_range variants) was
 * given (bytes accepted) and each gnutls_record_recv/_recv_seq returned, on the 5-tuple of the
 * connection or datagram that carried it; and the TLS/DTLS secrets, as NSS key log lines and
 * pcapng Decryption Secrets Blocks.
 *
 * libgnutls is never linked: its functions are found in the loaded objects (shim/optlib.c), so
 * the hooks cost nothing in programs without it.  No GnuTLS header is included; the few types
 * that cross these calls (gnutls_datum_t, the key log callback) are restated below with the
 * layout GnuTLS 3.x keeps stable.
 *
 * The flow: the record layer writes and reads through its transport during the very call, with
 * send/sendmsg/recv by default or the program's push and pull functions (gnutls-serv's DTLS
 * server calls sendto/recvfrom in them), so nesting finds it; failing that, the transport's
 * descriptor (gnutls_transport_get_int2) when the program gave one.
 *
 * The secrets: GnuTLS (3.6.13 and later) hands every secret to one per-session key log function,
 * whose default writes SSLKEYLOGFILE.  gnutls_init puts ours in its place; ours writes the
 * line, then calls the one it replaced (or the one the program sets later), so the program's own
 * callback and SSLKEYLOGFILE keep working unchanged.
 *
 * DTLS-SRTP: after gnutls_handshake negotiated a profile, its keys (gnutls_srtp_get_keys) are
 * logged per flow and direction.
 *
 * This file knows only GnuTLS's symbols; the rest is the TLS seam's (shim/tls.c).
 */
#include "shim/hooks.h"
#include "pcapout/lock.h"
#include "shim/optlib.h"
#include "shim/ownfd.h"
#include "shim/verbose.h"
#include "shim/real.h"
#include "shim/tls.h"
#include "pcapout/writer.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>

/* gnutls_datum_t */
struct datum {
	unsigned char *data;
	unsigned int size;
};

typedef int (*keylog_fn)(void *session, const char *label, const struct datum *secret);

/* The entry points interposed, with GnuTLS's types made opaque (same calling convention). */
ssize_t gnutls_record_send(void *session, const void *data, size_t size);
ssize_t gnutls_record_send2(void *session, const void *data, size_t size, size_t pad, unsigned flags);
ssize_t gnutls_record_send_range(void *session, const void *data, size_t size, const void *range);
ssize_t gnutls_record_recv(void *session, void *data, size_t size);
ssize_t gnutls_record_recv_seq(void *session, void *data, size_t size, unsigned char *seq);
int gnutls_bye(void *session, int how);
void gnutls_deinit(void *session);
int gnutls_init(void **session, unsigned flags);
int gnutls_handshake(void *session);
void gnutls_session_set_keylog_function(void *session, keylog_fn fn);
keylog_fn gnutls_session_get_keylog_function(const void *session);

static struct {
	int (*init)(void **, unsigned);
	void (*deinit)(void *);
	ssize_t (*send)(void *, const void *, size_t);
	ssize_t (*send2)(void *, const void *, size_t, size_t, unsigned);
	ssize_t (*send_range)(void *, const void *, size_t, const void *);
	ssize_t (*recv)(void *, void *, size_t);
	ssize_t (*recv_seq)(void *, void *, size_t, unsigned char *);
	int (*bye)(void *, int);
	void (*set_keylog)(void *, keylog_fn);
	keylog_fn (*get_keylog)(const void *);
	void (*get_random)(void *, struct datum *, struct datum *);
	void (*get_int2)(void *, int *, int *);
	int (*handshake)(void *);
	int (*srtp_profile)(void *, unsigned *);
	int (*srtp_keys)(void *, void *, unsigned, void *, void *, void *, void *);
	int ready;
} G;

static pthread_mutex_t resolve_lock = CC_MUTEX_INITIALIZER;

static void *gsym(const char *name)
{
	void *p = cc_optsym("libgnutls.so", name);

	return p ? p : cc_real_lookup(name);
}

/* Binds libgnutls's functions once it is loaded; 0 when the ones every hook needs are there. */
static int resolve(void)
{
	if (__atomic_load_n(&G.ready, __ATOMIC_ACQUIRE))
		return 0;
	cc_lock(&resolve_lock);
	if (!G.ready) {
		G.init = gsym("gnutls_init");
		G.deinit = gsym("gnutls_deinit");
		G.send = gsym("gnutls_record_send");
		G.send2 = gsym("gnutls_record_send2");
		G.send_range = gsym("gnutls_record_send_range");
		G.recv = gsym("gnutls_record_recv");
		G.recv_seq = gsym("gnutls_record_recv_seq");
		G.bye = gsym("gnutls_bye");
		G.set_keylog = gsym("gnutls_session_set_keylog_function");
		G.get_keylog = gsym("gnutls_session_get_keylog_function");
		G.get_random = gsym("gnutls_session_get_random");
		G.get_int2 = gsym("gnutls_transport_get_int2");
		G.handshake = gsym("gnutls_handshake");
		G.srtp_profile = gsym("gnutls_srtp_get_selected_profile");
		G.srtp_keys = gsym("gnutls_srtp_get_keys");
		if (G.init && G.deinit && G.send && G.recv && G.bye) {
			__atomic_store_n(&G.ready, 1, __ATOMIC_RELEASE);
			cc_verbose_lib("GnuTLS", "TLS/DTLS plaintext and secrets", (const void *)G.send);
		}
	}
	cc_unlock(&resolve_lock);
	if (!G.ready) {
		static int warned;
		if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
			cc_warn("a GnuTLS function was called but libgnutls's own could not be found");
		return -1;
	}
	return 0;
}

/* ---- The seam's view of GnuTLS ---- */

/*
 * The transport's descriptor, when the program gave one (gnutls_transport_set_int*); a pointer
 * given instead (set_ptr with push/pull functions) reads as a number no socket of ours has.
 */
static int transport_fd(const void *session, int outgoing)
{
	int r = -1, s = -1;

	if (!G.get_int2)
		return -1;
	G.get_int2((void *)session, &r, &s);
	return outgoing ? s : r;
}

static const struct cc_tls_lib lib = { "flow from transport descriptor", transport_fd };

/*
 * GnuTLS calls some of its own exported functions through its PLT (gnutls_record_send_range
 * calls gnutls_record_send): only the outermost call on a thread captures.
 */
static __thread int depth __attribute__((tls_model("initial-exec")));

#define NEST_BEGIN CC_TLS_NEST_BEGIN
#define NEST_END CC_TLS_NEST_END

/*
 * What the adapter keeps per session (its user pointer, freed at gnutls_deinit): the program's
 * own key log function (GnuTLS's SSLKEYLOGFILE writer by default), the session's role, and the
 * bytes of a send that returned GNUTLS_E_AGAIN or _INTERRUPTED (GnuTLS made its record already;
 * the program may call again with NULL, 0 and reuse its buffer meanwhile).
 */
struct gsess {
	keylog_fn fn;
	int server;
	uint8_t *pending;
	size_t pending_len;
};

#define GNUTLS_E_AGAIN_ (-28)
#define GNUTLS_E_INTERRUPTED_ (-52)
#define RECORD_MAX 16384        /* one call sends at most one record's plaintext (2^14) */

static struct gsess *gsess_of(const void *session);

/* Sessions with bytes kept (pending_len set): until one is, a send looks nothing up. */
static int npending;

/* After a send of size bytes at buf returned r (bytes accepted, or an error code). */
static void sent(void *session, const struct cc_nest *nest, const void *buf, size_t size, ssize_t r)
{
	int saved = errno;
	struct gsess *g = __atomic_load_n(&npending, __ATOMIC_RELAXED) ? cc_tls_user_get(session) : NULL;

	if (r > 0 && g && g->pending_len) {
		/*
		 * The call again after GNUTLS_E_AGAIN (with NULL, 0, or its buffer again): GnuTLS
		 * sent the record it made then, of the bytes kept.
		 */
		cc_tls_plain(&lib, session, nest, NULL, 1, g->pending, (size_t)r < g->pending_len ? (size_t)r : g->pending_len, 0);
		g->pending_len = 0;
		__atomic_fetch_sub(&npending, 1, __ATOMIC_RELAXED);
	} else if (r > 0 && buf) {
		cc_tls_plain(&lib, session, nest, NULL, 1, buf, (size_t)r, 0);
	} else if ((r == GNUTLS_E_AGAIN_ || r == GNUTLS_E_INTERRUPTED_) && buf && size && (g = gsess_of(session))) {
		size_t n = size < RECORD_MAX ? size : RECORD_MAX;
		if (!g->pending)
			g->pending = malloc(RECORD_MAX);
		if (g->pending) {
			memcpy(g->pending, buf, n);
			if (!g->pending_len)
				__atomic_fetch_add(&npending, 1, __ATOMIC_RELAXED);
			g->pending_len = n;
		}
	}
	errno = saved;
}

/* After a receive returned r: bytes, 0 for the peer's close_notify, or an error code. */
static void received(void *session, const struct cc_nest *nest, const void *buf, size_t size, ssize_t r)
{
	int saved = errno;

	if (r > 0)
		cc_tls_read_plain(&lib, session, nest, 0, buf, (size_t)r);
	else if (r == 0)
		cc_tls_fin(session, 0, "close_notify");
	errno = saved;
}

/* The three layers of every send and receive hook, for the one extra argument list each has. */
#define RECORD_CALL(after, real_call)                          \
	if (resolve() < 0)                                      \
		return -1;                                      \
	if (!cc_tls_capturing() || depth)                       \
		return real_call;                               \
	depth++;                                                \
	NEST_BEGIN(session);                                    \
	ssize_t r = real_call;                                  \
	NEST_END(nest);                                         \
	depth--;                                                \
	after(session, &nest, data, size, r);                   \
	return r;

CC_EXPORT ssize_t gnutls_record_send(void *session, const void *data, size_t size)
{
	RECORD_CALL(sent, G.send(session, data, size))
}

CC_EXPORT ssize_t gnutls_record_send2(void *session, const void *data, size_t size, size_t pad, unsigned flags)
{
	if (!G.send2 && resolve() == 0 && !G.send2)
		return -1;
	RECORD_CALL(sent, G.send2(session, data, size, pad, flags))
}

CC_EXPORT ssize_t gnutls_record_send_range(void *session, const void *data, size_t size, const void *range)
{
	if (!G.send_range && resolve() == 0 && !G.send_range)
		return -1;
	RECORD_CALL(sent, G.send_range(session, data, size, range))
}

CC_EXPORT ssize_t gnutls_record_recv(void *session, void *data, size_t size)
{
	RECORD_CALL(received, G.recv(session, data, size))
}

CC_EXPORT ssize_t gnutls_record_recv_seq(void *session, void *data, size_t size, unsigned char *seq)
{
	if (!G.recv_seq && resolve() == 0 && !G.recv_seq)
		return -1;
	RECORD_CALL(received, G.recv_seq(session, data, size, seq))
}

CC_EXPORT int gnutls_bye(void *session, int how)
{
	if (resolve() < 0)
		return -1;
	int r = G.bye(session, how);
	if (cc_tls_capturing()) {
		int saved = errno;
		cc_tls_fin(session, 1, "close_notify");
		errno = saved;
	}
	return r;
}

CC_EXPORT void gnutls_deinit(void *session)
{
	if (resolve() < 0)
		return;
	if (session) {
		struct gsess *g = cc_tls_user_get(session);
		if (g) {
			if (g->pending_len)
				__atomic_fetch_sub(&npending, 1, __ATOMIC_RELAXED);
			free(g->pending);
		}
		free(g);
		cc_tls_drop(session);
	}
	G.deinit(session);
}

/* ---- Secrets ---- */

static keylog_fn user_get(const void *session)
{
	struct gsess *g = cc_tls_user_get(session);

	return g ? g->fn : NULL;
}

/* The session's record, made if there is none; NULL when out of memory. */
static struct gsess *gsess_of(const void *session)
{
	struct gsess *g = cc_tls_user_get(session);

	if (!g && (g = calloc(1, sizeof(*g))) != NULL && cc_tls_user_set(&lib, session, g) != 0) {
		free(g);        /* no room to keep it: none */
		g = NULL;
	}
	return g;
}

static void user_set(const void *session, keylog_fn fn)
{
	struct gsess *g = gsess_of(session);

	if (g)
		g->fn = fn;
}

/*
 * Ours: LABEL <client random> <secret>, the NSS key log format GnuTLS's own writer uses, then
 * the function we replaced.  GnuTLS calls it once the client random is known (all labels).
 */
static int keylog_cb(void *session, const char *label, const struct datum *secret)
{
	struct datum cr = { 0 };

	if (cc_tls_capturing() && G.get_random && label && secret) {
		G.get_random(session, &cr, NULL);
		if (cr.data && cr.size)
			cc_tls_keylog_secret(label, cr.data, cr.size, secret->data, secret->size);
	}
	keylog_fn user = user_get(session);
	return user ? user(session, label, secret) : 0;
}

CC_EXPORT int gnutls_init(void **session, unsigned flags)
{
	if (resolve() < 0)
		return -50;     /* GNUTLS_E_INVALID_REQUEST */
	int r = G.init(session, flags);
	if (r != 0 || !cc_tls_capturing() || !session || !*session)
		return r;
	cc_tls_session_seen();
	int saved = errno;
	struct gsess *g = gsess_of(*session);
	if (g)
		g->server = (flags & 1) != 0;   /* GNUTLS_SERVER */
	if (G.get_keylog && G.set_keylog) {
		keylog_fn cur = G.get_keylog(*session);
		if (cur != keylog_cb) {
			user_set(*session, cur);
			G.set_keylog(*session, keylog_cb);
		}
	} else {
		static int warned;
		if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
			cc_warn("this GnuTLS has no key log function (3.6.13 or later has): "
				"its plaintext is captured, not its secrets");
	}
	errno = saved;
	return r;
}

CC_EXPORT void gnutls_session_set_keylog_function(void *session, keylog_fn fn)
{
	if (resolve() < 0 || !G.set_keylog)
		return;
	if (!cc_tls_capturing() || fn == keylog_cb) {
		G.set_keylog(session, fn);
		return;
	}
	user_set(session, fn);
	G.set_keylog(session, keylog_cb);
}

CC_EXPORT keylog_fn gnutls_session_get_keylog_function(const void *session)
{
	if (resolve() < 0 || !G.get_keylog)
		return NULL;
	keylog_fn fn = G.get_keylog(session);
	/* The program sees the function it set (or GnuTLS's default), not ours. */
	return fn == keylog_cb ? user_get(session) : fn;
}

/*
 * gnutls_handshake: the datagrams it moves through a socket name the session's flow; once it is
 * done, a DTLS-SRTP profile negotiated (use_srtp) means SRTP keys (RFC 5764 section 4.2), which
 * GnuTLS derives on request (gnutls_srtp_get_keys: the exporter, no state changed): logged per
 * flow and direction like OpenSSL's.
 */
CC_EXPORT int gnutls_handshake(void *session)
{
	uint8_t km[CC_TLS_SRTP_KM_MAX];
	unsigned profile = 0;

	if (resolve() < 0 || !G.handshake)
		return -50;     /* GNUTLS_E_INVALID_REQUEST */
	if (!cc_tls_capturing() || depth)
		return G.handshake(session);
	depth++;
	NEST_BEGIN(session);
	int r = G.handshake(session);
	NEST_END(nest);
	depth--;
	int saved = errno;
	if (nest.seen)
		cc_tls_handshake_flow(&lib, session, &nest);
	if (r == 0 && G.srtp_profile && G.srtp_keys && G.srtp_profile(session, &profile) == 0) {
		int n = G.srtp_keys(session, km, sizeof(km), NULL, NULL, NULL, NULL);
		struct gsess *g = cc_tls_user_get(session);
		if (n > 0)
			cc_tls_srtp_keys(&lib, session, profile, g && g->server, km, (size_t)n);
	}
	errno = saved;
	return r;
}

void cc_tls_gnutls_init(void)
{
	cc_forklock_add(&resolve_lock, CC_RANK_RESOLVE);
}
