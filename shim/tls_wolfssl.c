/*
 * wolfSSL hooks (Debian 12's libwolfssl35, 5.5): the plaintext each wolfSSL_write/wolfSSL_send
 * was given (bytes accepted) and each wolfSSL_read/wolfSSL_recv returned, on the 5-tuple of the
 * connection or datagram that carried it; and the TLS 1.2 / DTLS 1.2 secrets, as NSS key log
 * lines (CLIENT_RANDOM) and pcapng Decryption Secrets Blocks.
 *
 * libwolfssl is never linked: its functions are found in the loaded objects (shim/optlib.c), so
 * the hooks cost nothing in programs without it.  No wolfSSL header is included; the session
 * object stays opaque.
 *
 * The flow: wolfSSL's own I/O callbacks call send/recv (sendto/recvfrom for DTLS) on the
 * session's descriptor during the very call, so nesting finds it; else the descriptor
 * (wolfSSL_get_fd), else the session's last flow.
 *
 * The secrets: Debian builds wolfSSL without its secret callback (HAVE_SECRET_CALLBACK), so no
 * TLS 1.3 secret ever leaves it: TLS 1.3 gives plaintext only, and the process says so once.
 * TLS 1.2 and DTLS 1.2 keep a master secret in the session, which OPENSSL_EXTRA (Debian's build
 * has it) lets us read: once the handshake is finished, the first hooked call on the session
 * logs CLIENT_RANDOM with wolfSSL_get_client_random and wolfSSL_SESSION_get_master_key.  The
 * wire records that need it are held until it passes the writer (pcapout/tlswait.c).
 *
 * This file knows only wolfSSL's symbols; the rest is the TLS seam's (shim/tls.c).
 */
#include "shim/hooks.h"
#include "pcapout/lock.h"
#include "shim/optlib.h"
#include "shim/ownfd.h"
#include "shim/real.h"
#include "shim/tls.h"
#include "shim/verbose.h"
#include "pcapout/writer.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

/* The entry points interposed, with wolfSSL's types made opaque (same calling convention). */
int wolfSSL_write(void *ssl, const void *data, int sz);
int wolfSSL_read(void *ssl, void *data, int sz);
int wolfSSL_send(void *ssl, const void *data, int sz, int flags);
int wolfSSL_recv(void *ssl, void *data, int sz, int flags);
int wolfSSL_connect(void *ssl);
int wolfSSL_accept(void *ssl);
int wolfSSL_negotiate(void *ssl);
int wolfSSL_shutdown(void *ssl);
void wolfSSL_free(void *ssl);

static struct {
	int (*write)(void *, const void *, int);
	int (*read)(void *, void *, int);
	int (*send)(void *, const void *, int, int);
	int (*recv)(void *, void *, int, int);
	int (*connect)(void *);
	int (*accept)(void *);
	int (*negotiate)(void *);
	int (*shutdown)(void *);
	void (*free)(void *);
	int (*get_fd)(const void *);
	int (*get_error)(void *, int);
	int (*finished)(void *);
	int (*version)(void *);
	void *(*get_session)(void *);
	int (*master_key)(const void *, unsigned char *, int);
	size_t (*client_random)(const void *, unsigned char *, size_t);
	int ready;
} W;

static pthread_mutex_t resolve_lock = CC_MUTEX_INITIALIZER;

static void *wsym(const char *name)
{
	void *p = cc_optsym("libwolfssl.so", name);

	return p ? p : cc_real_lookup(name);
}

/* Binds libwolfssl's functions once it is loaded; 0 when the ones every hook needs are there. */
static int resolve(void)
{
	if (__atomic_load_n(&W.ready, __ATOMIC_ACQUIRE))
		return 0;
	cc_lock(&resolve_lock);
	if (!W.ready) {
		W.write = wsym("wolfSSL_write");
		W.read = wsym("wolfSSL_read");
		W.send = wsym("wolfSSL_send");
		W.recv = wsym("wolfSSL_recv");
		W.connect = wsym("wolfSSL_connect");
		W.accept = wsym("wolfSSL_accept");
		W.negotiate = wsym("wolfSSL_negotiate");
		W.shutdown = wsym("wolfSSL_shutdown");
		W.free = wsym("wolfSSL_free");
		W.get_fd = wsym("wolfSSL_get_fd");
		W.get_error = wsym("wolfSSL_get_error");
		W.finished = wsym("wolfSSL_is_init_finished");
		W.version = wsym("wolfSSL_version");
		W.get_session = wsym("wolfSSL_get_session");
		W.master_key = wsym("wolfSSL_SESSION_get_master_key");
		W.client_random = wsym("wolfSSL_get_client_random");
		if (W.write && W.read && W.connect && W.accept && W.shutdown && W.free) {
			__atomic_store_n(&W.ready, 1, __ATOMIC_RELEASE);
			cc_verbose_lib("wolfSSL", "TLS/DTLS plaintext, TLS 1.2/DTLS 1.2 secrets", (const void *)W.write);
		}
	}
	cc_unlock(&resolve_lock);
	if (!W.ready) {
		static int warned;
		if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
			cc_warn("a wolfSSL function was called but libwolfssl's own could not be found");
		return -1;
	}
	return 0;
}

/* ---- The seam's view of wolfSSL ---- */

static int ssl_fd(const void *ssl, int outgoing)
{
	return W.get_fd ? W.get_fd(ssl) : -1;
}

static const struct cc_tls_lib lib = { "flow from descriptor", ssl_fd };

/* wolfSSL's exported calls call each other through the PLT: only the outermost captures. */
static __thread int depth __attribute__((tls_model("initial-exec")));

#define NEST_BEGIN CC_TLS_NEST_BEGIN
#define NEST_END CC_TLS_NEST_END

/* ---- Secrets ---- */

enum { V_TLS13 = 0x0304, V_DTLS13 = 0xfefc };
#define LOGGED ((void *)1)      /* the session's user pointer once its secret is out (or cannot be) */

/*
 * Once per session, after its handshake finished: the master secret (TLS 1.2, DTLS 1.2), or the
 * one line saying that this wolfSSL gives no TLS 1.3 secret.
 */
static __thread void *last_done __attribute__((tls_model("initial-exec")));   /* no lookup per call */

static void secret_once(void *ssl)
{
	uint8_t cr[32], ms[48];

	if (ssl == last_done || !W.finished || !W.finished(ssl))
		return;
	last_done = ssl;
	if (cc_tls_user_get(ssl) == LOGGED)
		return;
	cc_tls_user_set(&lib, ssl, LOGGED);
	int v = W.version ? W.version(ssl) : 0;
	if (v == V_TLS13 || v == V_DTLS13) {
		static int warned;
		if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
			cc_warn("wolfSSL TLS 1.3: this libwolfssl is built without its secret callback, so its "
				"TLS 1.3 plaintext is captured but no secret (the wire does not decrypt)");
		return;
	}
	void *sess = W.get_session ? W.get_session(ssl) : NULL;
	if (!sess || !W.master_key || !W.client_random || W.client_random(ssl, cr, sizeof(cr)) != sizeof(cr) ||
	    W.master_key(sess, ms, sizeof(ms)) != (int)sizeof(ms))
		return;
	cc_tls_keylog_secret("CLIENT_RANDOM", cr, sizeof(cr), ms, sizeof(ms));
}

/* ---- Plaintext ---- */

static int handshake(int (*fn)(void *), void *ssl)
{
	if (!fn)
		return -1;
	if (!cc_tls_capturing() || depth)
		return fn(ssl);
	cc_tls_session_seen();
	depth++;
	NEST_BEGIN(ssl);
	int r = fn(ssl);
	NEST_END(nest);
	depth--;
	int saved = errno;
	if (nest.seen)
		cc_tls_handshake_flow(&lib, ssl, &nest);
	if (r == 1)
		secret_once(ssl);
	errno = saved;
	return r;
}

CC_EXPORT int wolfSSL_connect(void *ssl)
{
	return resolve() < 0 ? -1 : handshake(W.connect, ssl);
}

CC_EXPORT int wolfSSL_accept(void *ssl)
{
	return resolve() < 0 ? -1 : handshake(W.accept, ssl);
}

CC_EXPORT int wolfSSL_negotiate(void *ssl)
{
	return resolve() < 0 ? -1 : handshake(W.negotiate, ssl);
}

/* After a write accepted r bytes (r <= 0: nothing). */
static void sent(void *ssl, const struct cc_nest *nest, const void *buf, int r)
{
	int saved = errno;

	secret_once(ssl);
	if (r > 0 && buf)
		cc_tls_plain(&lib, ssl, nest, NULL, 1, buf, (size_t)r, 0);
	errno = saved;
}

/* After a read returned r: bytes, or 0 / an error with the peer's close_notify. */
static void received(void *ssl, const struct cc_nest *nest, const void *buf, int r)
{
	enum { SSL_ERROR_ZERO_RETURN_ = 6 };
	int saved = errno;

	secret_once(ssl);
	if (r > 0)
		cc_tls_read_plain(&lib, ssl, nest, 0, buf, (size_t)r);
	else if (W.get_error && W.get_error(ssl, r) == SSL_ERROR_ZERO_RETURN_)
		cc_tls_fin(ssl, 0, "close_notify");
	errno = saved;
}

#define RECORD_CALL(fn, after, real_call)                      \
	if (resolve() < 0 || !(fn))                             \
		return -1;                                      \
	if (!cc_tls_capturing() || depth)                       \
		return real_call;                               \
	cc_tls_session_seen();                                  \
	depth++;                                                \
	NEST_BEGIN(ssl);                                        \
	int r = real_call;                                      \
	NEST_END(nest);                                         \
	depth--;                                                \
	after(ssl, &nest, data, r);                             \
	return r;

CC_EXPORT int wolfSSL_write(void *ssl, const void *data, int sz)
{
	RECORD_CALL(W.write, sent, W.write(ssl, data, sz))
}

CC_EXPORT int wolfSSL_send(void *ssl, const void *data, int sz, int flags)
{
	RECORD_CALL(W.send, sent, W.send(ssl, data, sz, flags))
}

CC_EXPORT int wolfSSL_read(void *ssl, void *data, int sz)
{
	RECORD_CALL(W.read, received, W.read(ssl, data, sz))
}

CC_EXPORT int wolfSSL_recv(void *ssl, void *data, int sz, int flags)
{
	RECORD_CALL(W.recv, received, W.recv(ssl, data, sz, flags))
}

CC_EXPORT int wolfSSL_shutdown(void *ssl)
{
	if (resolve() < 0)
		return -1;
	int r = W.shutdown(ssl);
	if (cc_tls_capturing() && !depth) {
		int saved = errno;
		cc_tls_fin(ssl, 1, "close_notify");
		errno = saved;
	}
	return r;
}

CC_EXPORT void wolfSSL_free(void *ssl)
{
	if (resolve() < 0)
		return;
	if (ssl)
		cc_tls_drop(ssl);
	if (ssl == last_done)
		last_done = NULL;       /* its address may come back for a new session */
	W.free(ssl);
}

void cc_tls_wolfssl_init(void)
{
	cc_forklock_add(&resolve_lock, CC_RANK_RESOLVE);
}
