/*
 * OpenSSL hooks: the plaintext each SSL_write/SSL_write_ex was given (bytes accepted) and each
 * SSL_read/SSL_read_ex returned, on the 5-tuple of the datagram or connection that carried it;
 * and the TLS/DTLS secrets, as NSS key log lines and pcapng Decryption Secrets Blocks.
 *
 * libssl is never linked: its functions are found in the loaded objects (shim/optlib.c), so the
 * hooks work when libssl came in through a dlopen(RTLD_LOCAL) module, and cost nothing in
 * programs without it.  Only opaque pointers of OpenSSL's cross this file; no OpenSSL header is
 * included, because the process may have 1.1.1 or 3.x, and the ABI of these calls is the same.
 *
 * This file knows only OpenSSL's symbols and objects: the flow, plaintext frames, record matching
 * and key log are the TLS seam's (shim/tls.c), the same for every library.
 */
#include "shim/dtlsmatch.h"
#include "pcapout/lock.h"
#include "shim/hooks.h"
#include "shim/optlib.h"
#include "shim/ownfd.h"
#include "shim/verbose.h"
#include "shim/real.h"
#include "shim/tls.h"
#include "pcapout/writer.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>


static struct {
	int (*write)(void *, const void *, int);
	int (*write_ex)(void *, const void *, size_t, size_t *);
	int (*read)(void *, void *, int);
	int (*read_ex)(void *, void *, size_t, size_t *);
	int (*shutdown)(void *);
	void (*free)(void *);
	void *(*new)(void *);
	void (*ctx_set_keylog)(void *, keylog_cb_t);
	keylog_cb_t (*ctx_get_keylog)(const void *);
	void *(*get_ctx)(const void *);
	int (*is_dtls)(const void *);
	int (*get_wfd)(const void *);
	int (*get_rfd)(const void *);
	int (*get_error)(const void *, int);
	void *(*get_wbio)(const void *);
	void *(*get_rbio)(const void *);
	int (*bio_type)(const void *);
	long (*bio_ctrl)(void *, int, long, void *);
	int (*export_km)(void *, unsigned char *, size_t, const char *, size_t, const unsigned char *, size_t, int);
	const struct { const char *name; unsigned long id; } *(*srtp_profile)(void *);
	int (*is_server)(const void *);
	int (*do_handshake)(void *), (*connect)(void *), (*accept)(void *);
	int (*ex_new_index)(int, long, void *, void *, void *, void *);
	int (*ctx_set_ex)(void *, int, void *);
	void *(*ctx_get_ex)(const void *, int);
	void *(*set_ctx)(void *, void *);
	int ready;
} S;

static pthread_mutex_t resolve_lock = CC_MUTEX_INITIALIZER;

static void *ssl_sym(const char *name)
{
	void *p = cc_optsym("libssl.so", name);

	return p ? p : cc_real_lookup(name);
}

/* The same for libcrypto's own (the BIO method calls, made before any libssl call). */
static void *crypto_sym(const char *name)
{
	void *p = cc_optsym("libcrypto.so", name);

	return p ? p : cc_real_lookup(name);
}

/* Binds libssl's functions once libssl is loaded; 0 when they are all there. */
static int resolve(void)
{
	if (__atomic_load_n(&S.ready, __ATOMIC_ACQUIRE))
		return 0;
	cc_lock(&resolve_lock);
	if (!S.ready) {
		S.write = ssl_sym("SSL_write");
		S.write_ex = ssl_sym("SSL_write_ex");
		S.read = ssl_sym("SSL_read");
		S.read_ex = ssl_sym("SSL_read_ex");
		S.shutdown = ssl_sym("SSL_shutdown");
		S.free = ssl_sym("SSL_free");
		S.new = ssl_sym("SSL_new");
		S.ctx_set_keylog = ssl_sym("SSL_CTX_set_keylog_callback");
		S.ctx_get_keylog = ssl_sym("SSL_CTX_get_keylog_callback");
		S.get_ctx = ssl_sym("SSL_get_SSL_CTX");
		S.is_dtls = ssl_sym("SSL_is_dtls");
		S.get_wfd = ssl_sym("SSL_get_wfd");
		S.get_rfd = ssl_sym("SSL_get_rfd");
		S.get_error = ssl_sym("SSL_get_error");
		S.get_wbio = ssl_sym("SSL_get_wbio");
		S.get_rbio = ssl_sym("SSL_get_rbio");
		S.bio_type = ssl_sym("BIO_method_type");      /* libcrypto, through libssl's handle */
		S.bio_ctrl = ssl_sym("BIO_ctrl");
		S.export_km = ssl_sym("SSL_export_keying_material");
		S.srtp_profile = ssl_sym("SSL_get_selected_srtp_profile");
		S.is_server = ssl_sym("SSL_is_server");
		S.do_handshake = ssl_sym("SSL_do_handshake");
		S.connect = ssl_sym("SSL_connect");
		S.accept = ssl_sym("SSL_accept");
		S.ex_new_index = ssl_sym("CRYPTO_get_ex_new_index");       /* libcrypto, as above */
		S.ctx_set_ex = ssl_sym("SSL_CTX_set_ex_data");
		S.ctx_get_ex = ssl_sym("SSL_CTX_get_ex_data");
		S.set_ctx = ssl_sym("SSL_set_SSL_CTX");
		if (S.write && S.read && S.free && S.new && S.shutdown && S.get_ctx && S.get_wfd && S.get_rfd) {
			__atomic_store_n(&S.ready, 1, __ATOMIC_RELEASE);
			cc_verbose_lib("OpenSSL", "TLS/DTLS plaintext, secrets, DTLS-SRTP keys", (const void *)S.write);
		}
	}
	cc_unlock(&resolve_lock);
	if (!S.ready) {
		static int warned;
		if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
			cc_warn("an SSL function was called but libssl's own could not be found");
		return -1;
	}
	return 0;
}

/* ---- The seam's view of OpenSSL ---- */

/* The descriptor BIO's socket (SSL_get_wfd/rfd: -1 for any other BIO). */
static int ssl_fd(const void *ssl, int outgoing)
{
	return outgoing ? S.get_wfd((void *)ssl) : S.get_rfd((void *)ssl);
}

static const struct cc_tls_lib lib = { "flow from descriptor BIO", ssl_fd };

/* Bytes waiting in a memory BIO (and where), or -1 for any other kind of BIO. */
static long mem_pending(void *bio, const uint8_t **data)
{
	enum { BIO_TYPE_MEM_ = 1 | 0x0400, BIO_CTRL_INFO_ = 3 };
	char *p = NULL;
	long n;

	if (!bio || !S.bio_type || !S.bio_ctrl || S.bio_type(bio) != BIO_TYPE_MEM_)
		return -1;
	n = S.bio_ctrl(bio, BIO_CTRL_INFO_, 0, &p);        /* BIO_get_mem_data: no copy, no consumption */
	*data = (const uint8_t *)p;
	return p ? n : -1;
}

static int is_dtls(void *ssl)
{
	return S.is_dtls && S.is_dtls(ssl);
}

/*
 * SSL_write with a memory write BIO: the record it produced is remembered with the plaintext,
 * to be written on the 5-tuple of the datagram that will carry it.  Returns 1 when so deferred.
 */
static int defer_to_record(void *ssl, const struct cc_nest *nest, long before, const void *buf, size_t n)
{
	const uint8_t *d;
	long after;
	uint64_t key;

	if (nest->deferred)
		return 1;       /* a custom BIO's write callback already handed it over */
	if (before < 0 || (after = mem_pending(S.get_wbio(ssl), &d)) <= before ||
	    !(key = cc_dm_first_app_key(d + before, (size_t)(after - before))))
		return 0;
	cc_tls_expect(&lib, ssl, key, buf, n);
	return 1;
}

/* SSL_read with a memory read BIO: the flow of the record it is about to consume. */
static uint64_t next_in_key(void *ssl)
{
	const uint8_t *d;
	long n;

	if (!is_dtls(ssl) || !S.get_rbio || (n = mem_pending(S.get_rbio(ssl), &d)) <= 0)
		return 0;
	return cc_dm_first_app_key(d, (size_t)n);
}

/*
 * A read that found the peer's close_notify (SSL_ERROR_ZERO_RETURN) ends the plaintext stream's
 * other half, so Wireshark can finish a response delimited by the end of the connection.
 * SSL_get_error only reads state OpenSSL keeps for exactly this question; the program may still
 * ask it the same afterwards.
 */
static void read_ended(void *ssl, int r)
{
	enum { SSL_ERROR_ZERO_RETURN_ = 6 };

	if (!S.get_error || S.get_error(ssl, r) != SSL_ERROR_ZERO_RETURN_)
		return;
	cc_tls_fin(ssl, 0, "close_notify");
}

#define capturing cc_tls_capturing
#define NEST_BEGIN CC_TLS_NEST_BEGIN
#define NEST_END CC_TLS_NEST_END

CC_EXPORT int SSL_write(void *ssl, const void *buf, int num)
{
	if (resolve() < 0)
		return -1;
	if (!capturing())
		return S.write(ssl, buf, num);
	const uint8_t *d;
	long before = is_dtls(ssl) && S.get_wbio ? mem_pending(S.get_wbio(ssl), &d) : -1;
	NEST_BEGIN(ssl);
	cc_nest.out_plain = buf;
	cc_nest.out_len = num > 0 ? (size_t)num : 0;
	int r = S.write(ssl, buf, num);
	NEST_END(nest);
	if (r > 0) {
		int saved = errno;
		if (nest.seen || !defer_to_record(ssl, &nest, before, buf, (size_t)r))
			cc_tls_plain(&lib, ssl, &nest, NULL, 1, buf, (size_t)r, 0);
		errno = saved;
	}
	return r;
}

CC_EXPORT int SSL_write_ex(void *ssl, const void *buf, size_t num, size_t *written)
{
	if (resolve() < 0 || !S.write_ex)
		return 0;
	if (!capturing())
		return S.write_ex(ssl, buf, num, written);
	const uint8_t *d;
	long before = is_dtls(ssl) && S.get_wbio ? mem_pending(S.get_wbio(ssl), &d) : -1;
	NEST_BEGIN(ssl);
	cc_nest.out_plain = buf;
	cc_nest.out_len = num;
	int r = S.write_ex(ssl, buf, num, written);
	NEST_END(nest);
	if (r > 0 && written && *written) {
		int saved = errno;
		if (nest.seen || !defer_to_record(ssl, &nest, before, buf, *written))
			cc_tls_plain(&lib, ssl, &nest, NULL, 1, buf, *written, 0);
		errno = saved;
	}
	return r;
}

CC_EXPORT int SSL_read(void *ssl, void *buf, int num)
{
	if (resolve() < 0)
		return -1;
	if (!capturing())
		return S.read(ssl, buf, num);
	uint64_t key = next_in_key(ssl);
	NEST_BEGIN(ssl);
	int r = S.read(ssl, buf, num);
	NEST_END(nest);
	int saved = errno;
	if (r > 0)
		cc_tls_read_plain(&lib, ssl, &nest, key, buf, (size_t)r);
	else
		read_ended(ssl, r);
	errno = saved;
	return r;
}

CC_EXPORT int SSL_read_ex(void *ssl, void *buf, size_t num, size_t *readbytes)
{
	if (resolve() < 0 || !S.read_ex)
		return 0;
	if (!capturing())
		return S.read_ex(ssl, buf, num, readbytes);
	uint64_t key = next_in_key(ssl);
	NEST_BEGIN(ssl);
	int r = S.read_ex(ssl, buf, num, readbytes);
	NEST_END(nest);
	int saved = errno;
	if (r > 0 && readbytes && *readbytes)
		cc_tls_read_plain(&lib, ssl, &nest, key, buf, *readbytes);
	else if (r <= 0)
		read_ended(ssl, 0);
	errno = saved;
	return r;
}

CC_EXPORT int SSL_shutdown(void *ssl)
{
	if (resolve() < 0)
		return -1;
	int r = S.shutdown(ssl);
	if (capturing()) {
		int saved = errno;
		cc_tls_fin(ssl, 1, "close_notify");
		errno = saved;
	}
	return r;
}

/*
 * The handshake calls: the datagrams they move through a socket (a socket BIO, or a custom BIO
 * that sends synchronously, as baresip's libre does) name the session's flow, so that the
 * DTLS-SRTP keys it exports afterwards are logged on that flow, though no application data may
 * ever follow.
 */
static int handshake(int (*fn)(void *), void *ssl)
{
	if (!fn)
		return -1;
	if (!capturing())
		return fn(ssl);
	NEST_BEGIN(ssl);
	int r = fn(ssl);
	NEST_END(nest);
	int saved = errno;
	const uint8_t *d;
	long n;
	if (nest.seen)
		cc_tls_handshake_flow(&lib, ssl, &nest);
	else if (!is_dtls(ssl) && S.get_wbio && (n = mem_pending(S.get_wbio(ssl), &d)) > 0)
		/* TLS on a memory BIO (asyncio): found by the TCP send that carries these bytes. */
		cc_tls_wire_expect(&lib, ssl, d, (size_t)n);
	errno = saved;
	return r;
}

CC_EXPORT int SSL_do_handshake(void *ssl)
{
	return resolve() < 0 ? -1 : handshake(S.do_handshake, ssl);
}

CC_EXPORT int SSL_connect(void *ssl)
{
	return resolve() < 0 ? -1 : handshake(S.connect, ssl);
}

CC_EXPORT int SSL_accept(void *ssl)
{
	return resolve() < 0 ? -1 : handshake(S.accept, ssl);
}

/* Keying material for DTLS-SRTP (RFC 5764 section 4.2) is logged as SRTP master keys. */
CC_EXPORT int SSL_export_keying_material(void *ssl, unsigned char *out, size_t olen, const char *label, size_t llen,
					 const unsigned char *context, size_t contextlen, int use_context)
{
	static const char srtp_label[] = "EXTRACTOR-dtls_srtp";

	if (resolve() < 0 || !S.export_km)
		return 0;
	int r = S.export_km(ssl, out, olen, label, llen, context, contextlen, use_context);
	if (r != 1 || !capturing() || llen != sizeof(srtp_label) - 1 || memcmp(label, srtp_label, llen) != 0 ||
	    !S.srtp_profile || olen > CC_TLS_SRTP_KM_MAX)
		return r;
	int saved = errno;
	__typeof__(S.srtp_profile(ssl)) prof = S.srtp_profile(ssl);
	if (prof)
		cc_tls_srtp_keys(&lib, ssl, prof->id, S.is_server && S.is_server(ssl), out, olen);
	errno = saved;
	return r;
}

CC_EXPORT void SSL_free(void *ssl)
{
	if (resolve() < 0)
		return;
	if (ssl)
		cc_tls_drop(ssl);
	S.free(ssl);
}

/* ---- Custom BIOs ---- */

/*
 * A program's own BIO (GStreamer's DTLS elements, Janus' write side) hides its records from us:
 * they go to and come from callbacks it registered with BIO_meth_set_write/read.  We register a
 * trampoline instead that calls the program's callback and, when it runs inside one of our SSL
 * calls, notes the DTLS record it moved, so the plaintext is matched to the datagram carrying it
 * (dtlsmatch.c) even when that datagram is sent later from another thread.  A few fixed slots:
 * programs make one or two BIO methods; past the slots, callbacks are left unwrapped.
 */
typedef int (*bio_write_fn)(void *, const char *, int);
typedef int (*bio_read_fn)(void *, char *, int);

#define BIO_SLOTS 8
static struct { const void *meth; bio_write_fn fn; } wslots[BIO_SLOTS];
static struct { const void *meth; bio_read_fn fn; } rslots[BIO_SLOTS];
static pthread_mutex_t bio_lock = CC_MUTEX_INITIALIZER;

/*
 * The record is handed over before the program's callback runs: the callback may pass it to
 * another thread that sends it at once, before SSL_write has even returned.
 */
static uint64_t bio_writes(const char *d, int n)
{
	uint64_t key;

	if (n <= 0 || !cc_nest.ssl || !cc_nest.out_plain || cc_nest.deferred)
		return 0;
	if ((key = cc_dm_first_app_key((const uint8_t *)d, (size_t)n))) {
		cc_tls_expect(&lib, cc_nest.ssl, key, cc_nest.out_plain, cc_nest.out_len);
		cc_nest.deferred = 1;
	}
	return key;
}

/*
 * The callback refused the record (a full queue, a retry later): it was not sent, and SSL_write
 * fails.  OpenSSL writes the same record again on the program's retry, which expects it again:
 * withdrawn here, the plaintext is in the file once, or never if the program gives up.
 */
static void bio_write_refused(uint64_t key)
{
	if (cc_nest.ssl && cc_dm_withdraw(cc_nest.ssl, key))
		cc_nest.deferred = 0;
}

static void bio_read_done(const char *d, int n)
{
	if (n > 0 && cc_nest.ssl && !cc_nest.in_key)
		cc_nest.in_key = cc_dm_first_app_key((const uint8_t *)d, (size_t)n);
}

#define TRAMPOLINES(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define WTRAMP(i)                                                      \
	static int wtramp##i(void *b, const char *d, int n)           \
	{                                                              \
		int saved = errno;                                     \
		uint64_t key = bio_writes(d, n);                       \
		errno = saved;                                         \
		int r = wslots[i].fn(b, d, n);                         \
		if (key && r <= 0) {                                   \
			saved = errno;                                 \
			bio_write_refused(key);                        \
			errno = saved;                                 \
		}                                                      \
		return r;                                              \
	}
#define RTRAMP(i)                                                      \
	static int rtramp##i(void *b, char *d, int n)                 \
	{                                                              \
		int r = rslots[i].fn(b, d, n);                         \
		int saved = errno;                                     \
		bio_read_done(d, r);                                   \
		errno = saved;                                         \
		return r;                                              \
	}
TRAMPOLINES(WTRAMP)
TRAMPOLINES(RTRAMP)
#define WNAME(i) wtramp##i,
#define RNAME(i) rtramp##i,
static const bio_write_fn wtramps[BIO_SLOTS] = { TRAMPOLINES(WNAME) };
static const bio_read_fn rtramps[BIO_SLOTS] = { TRAMPOLINES(RNAME) };

/* The slot for (meth, fn), taking a free one; -1 when all are used. */
#define SLOT_FOR(slots, meth, fn, out)                                         \
	do {                                                                   \
		out = -1;                                                      \
		cc_lock(&bio_lock);                                 \
		for (int i_ = 0; i_ < BIO_SLOTS && out < 0; i_++)              \
			if (slots[i_].meth == (meth) || !slots[i_].meth)       \
				out = i_;                                      \
		if (out >= 0) {                                                \
			slots[out].meth = (meth);                              \
			__atomic_store_n(&slots[out].fn, (fn), __ATOMIC_RELEASE); \
		}                                                              \
		cc_unlock(&bio_lock);                               \
	} while (0)

CC_EXPORT int BIO_meth_set_write(void *meth, bio_write_fn fn)
{
	static int (*real)(void *, bio_write_fn);
	int slot;

	if (!real && !(real = crypto_sym("BIO_meth_set_write")))
		return 0;
	if (!fn || !cc_tls_capturing())
		return real(meth, fn);
	SLOT_FOR(wslots, meth, fn, slot);
	return real(meth, slot >= 0 ? wtramps[slot] : fn);
}

CC_EXPORT int BIO_meth_set_read(void *meth, bio_read_fn fn)
{
	static int (*real)(void *, bio_read_fn);
	int slot;

	if (!real && !(real = crypto_sym("BIO_meth_set_read")))
		return 0;
	if (!fn || !cc_tls_capturing())
		return real(meth, fn);
	SLOT_FOR(rslots, meth, fn, slot);
	return real(meth, slot >= 0 ? rtramps[slot] : fn);
}

/* The getters give the program back its own callbacks, not our trampolines. */
#define BIO_GETTER(name, fn_t, slots, tramps)                                          \
	CC_EXPORT fn_t name(const void *meth)                                          \
	{                                                                              \
		static fn_t (*real)(const void *);                                     \
		if (!real && !(real = crypto_sym(#name)))                              \
			return NULL;                                                   \
		fn_t f = real(meth);                                                   \
		for (int i_ = 0; f && i_ < BIO_SLOTS; i_++)                            \
			if (f == tramps[i_])                                           \
				return __atomic_load_n(&slots[i_].fn, __ATOMIC_ACQUIRE); \
		return f;                                                              \
	}
BIO_GETTER(BIO_meth_get_write, bio_write_fn, wslots, wtramps)
BIO_GETTER(BIO_meth_get_read, bio_read_fn, rslots, rtramps)

/* ---- Secrets ---- */

/*
 * The program's own key log callback of each SSL_CTX (ours replaces it, and chains to it) is kept
 * in the context itself, in an ex_data index of ours: it lives and dies with the context, however
 * many a program makes (a table of contexts lost the oldest one's after 64 others, and the
 * program's own key log stopped).  The index is taken once; the program's own indexes come after
 * it (index 0 stays OpenSSL's app_data).
 */
enum { CRYPTO_EX_INDEX_SSL_CTX_ = 1 };
static int cb_index = -1;

static int ctx_cb_index(void)
{
	int i = __atomic_load_n(&cb_index, __ATOMIC_ACQUIRE);

	if (i >= 0 || !S.ex_new_index || !S.ctx_set_ex || !S.ctx_get_ex)
		return i;
	int n = S.ex_new_index(CRYPTO_EX_INDEX_SSL_CTX_, 0, NULL, NULL, NULL, NULL);
	/* Two threads at once: one index wins, the other stays unused. */
	if (n >= 0 && !__atomic_compare_exchange_n(&cb_index, &i, n, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return i;
	return n;
}

/* Remembers the program's own key log callback for ctx (NULL: none); 0, or -1 when it cannot. */
static int user_cb_set(void *ctx, keylog_cb_t cb)
{
	int i = ctx_cb_index();
	void *v;

	if (i < 0)
		return -1;
	memcpy(&v, &cb, sizeof(v));
	return S.ctx_set_ex(ctx, i, v) == 1 ? 0 : -1;
}

static keylog_cb_t user_cb_get(const void *ctx)
{
	int i = __atomic_load_n(&cb_index, __ATOMIC_ACQUIRE);
	keylog_cb_t cb = NULL;
	void *v;

	if (i < 0 || !ctx)
		return NULL;
	v = S.ctx_get_ex(ctx, i);
	memcpy(&cb, &v, sizeof(cb));
	return cb;
}

void cc_tls_openssl_init(void)
{
	cc_forklock_add(&resolve_lock, CC_RANK_RESOLVE);
	cc_forklock_add(&bio_lock, CC_RANK_TABLE);
}

/* Our key log callback: the file, a Decryption Secrets Block, then the program's own callback. */
static void keylog_cb(const void *ssl, const char *line)
{
	cc_tls_keylog_line(line);
	keylog_cb_t user = S.get_ctx ? user_cb_get(S.get_ctx(ssl)) : NULL;
	if (user)
		user(ssl, line);
}

/* Puts our callback on ctx, keeping the program's to chain to. */
static void install(void *ctx)
{
	if (!ctx || !S.ctx_get_keylog || !S.ctx_set_keylog)
		return;
	keylog_cb_t cur = S.ctx_get_keylog(ctx);
	if (cur == keylog_cb)
		return;
	/* Where the program's own could not be kept, it stays (its secrets then go only there). */
	if (user_cb_set(ctx, cur) == 0)
		S.ctx_set_keylog(ctx, keylog_cb);
}

CC_EXPORT void *SSL_new(void *ctx)
{
	if (resolve() < 0)
		return NULL;
	if (capturing()) {
		install(ctx);
		/* From now on received DTLS records are remembered, for SSL objects on memory BIOs. */
		if (!__atomic_exchange_n(&cc_dm_active, 1, __ATOMIC_RELAXED))
			cc_fd_changed();        /* the hot lanes (capture_int.h) go the usual way */
		cc_tls_session_seen();
	}
	return S.new(ctx);
}

CC_EXPORT void SSL_CTX_set_keylog_callback(void *ctx, keylog_cb_t cb)
{
	if (resolve() < 0 || !S.ctx_set_keylog)
		return;
	if (!capturing()) {
		S.ctx_set_keylog(ctx, cb);
		return;
	}
	S.ctx_set_keylog(ctx, user_cb_set(ctx, cb) == 0 ? keylog_cb : cb);
}

CC_EXPORT keylog_cb_t SSL_CTX_get_keylog_callback(const void *ctx)
{
	if (resolve() < 0 || !S.ctx_get_keylog)
		return NULL;
	keylog_cb_t cb = S.ctx_get_keylog(ctx);
	/* The program sees the callback it set, not ours. */
	return cb == keylog_cb ? user_cb_get(ctx) : cb;
}

/*
 * A server's SNI callback may move the connection to another context (virtual hosts: nginx,
 * CPython's SSLSocket.context); OpenSSL then logs its secrets through that context's callback,
 * which must be ours too.
 */
CC_EXPORT void *SSL_set_SSL_CTX(void *ssl, void *ctx)
{
	if (resolve() < 0 || !S.set_ctx)
		return NULL;
	if (ctx && capturing()) {
		int saved = errno;
		install(ctx);
		errno = saved;
	}
	return S.set_ctx(ssl, ctx);
}
