/*
 * mbedTLS hooks (2.28, Debian 12's libmbedtls14): the plaintext each mbedtls_ssl_write was given
 * (bytes accepted) and each mbedtls_ssl_read returned, on the 5-tuple of the connection or
 * datagram that carried it; and the TLS 1.2 / DTLS 1.2 secrets, as NSS key log lines
 * (CLIENT_RANDOM) and pcapng Decryption Secrets Blocks.
 *
 * libmbedtls is never linked: its functions are found in the loaded objects (shim/optlib.c), so
 * the hooks cost nothing in programs without it.  No mbedTLS header is included; the contexts
 * stay opaque and the one callback type that crosses these calls is restated below.
 *
 * The flow: the record layer writes and reads through the program's bio functions during the
 * very call (mbedtls_net_send/recv call write/read; lighttpd; linphone's bctoolbox hands DTLS
 * datagrams to its RTP transport, which sends them at once), so nesting finds it; a record read
 * in an earlier call is on the session's last flow.
 *
 * The secrets: mbedTLS 2.28 hands the master secret and both randoms to one per-configuration
 * callback, mbedtls_ssl_conf_export_keys_ext_cb (bctoolbox uses it to derive DTLS-SRTP keys).
 * mbedtls_ssl_setup puts ours on the session's configuration; ours writes the CLIENT_RANDOM line
 * and then calls the program's own, which it may set before or after: the setters are hooked, so
 * the program's callback and its context pointer are kept and called unchanged.  The context
 * pointer is shared with the older mbedtls_ssl_conf_export_keys_cb, so ours never replaces it.
 * With DTLS-SRTP negotiated, the SRTP keys are derived there too (srtp_keys below).
 *
 * mbedTLS calls some of its own exported functions through its PLT (mbedtls_ssl_read and
 * mbedtls_ssl_handshake call mbedtls_ssl_handshake_step): only the outermost call on a thread
 * captures.
 *
 * This file knows only mbedTLS's symbols; the rest is the TLS seam's (shim/tls.c).
 */
#include "shim/hooks.h"
#include "pcapout/lock.h"
#include "shim/optlib.h"
#include "shim/ownfd.h"
#include "shim/real.h"
#include "shim/srtpkeys.h"
#include "shim/tls.h"
#include "shim/verbose.h"
#include "pcapout/writer.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

/* mbedtls_ssl_export_keys_ext_t (ssl.h, 2.28) */
typedef int (*export_ext_fn)(void *p_expkey, const unsigned char *ms, const unsigned char *kb, size_t maclen,
			     size_t keylen, size_t ivlen, const unsigned char client_random[32],
			     const unsigned char server_random[32], int tls_prf_type);

/* The entry points interposed, with mbedTLS's types made opaque (same calling convention). */
int mbedtls_ssl_setup(void *ssl, const void *conf);
int mbedtls_ssl_handshake(void *ssl);
int mbedtls_ssl_handshake_step(void *ssl);
int mbedtls_ssl_write(void *ssl, const unsigned char *buf, size_t len);
int mbedtls_ssl_read(void *ssl, unsigned char *buf, size_t len);
int mbedtls_ssl_close_notify(void *ssl);
void mbedtls_ssl_free(void *ssl);
void mbedtls_ssl_conf_export_keys_cb(void *conf, void *f, void *p);
void mbedtls_ssl_conf_export_keys_ext_cb(void *conf, export_ext_fn f, void *p);
void mbedtls_ssl_config_init(void *conf);
void mbedtls_ssl_config_free(void *conf);
int mbedtls_ssl_config_defaults(void *conf, int endpoint, int transport, int preset);
void mbedtls_ssl_conf_endpoint(void *conf, int endpoint);

/* mbedtls_dtls_srtp_info (ssl.h, 2.28, built with MBEDTLS_SSL_DTLS_SRTP as Debian's is) */
struct srtp_info {
	uint16_t profile;       /* RFC 5764 section 4.1.2's number; 0: none negotiated */
	uint16_t mki_len;
	unsigned char mki[255];
};

static struct {
	int (*setup)(void *, const void *);
	int (*handshake)(void *);
	int (*handshake_step)(void *);
	int (*write)(void *, const unsigned char *, size_t);
	int (*read)(void *, unsigned char *, size_t);
	int (*close_notify)(void *);
	void (*free)(void *);
	void (*set_export)(void *, void *, void *);
	void (*set_export_ext)(void *, export_ext_fn, void *);
	void (*config_init)(void *);
	void (*config_free)(void *);
	int (*config_defaults)(void *, int, int, int);
	void (*set_endpoint)(void *, int);
	/* optional: DTLS-SRTP's negotiated profile, and the PRF its keys come from */
	void (*srtp_result)(const void *, struct srtp_info *);
	int (*tls_prf)(int, const unsigned char *, size_t, const char *, const unsigned char *, size_t,
		       unsigned char *, size_t);
	int ready;
} M;

static pthread_mutex_t resolve_lock = CC_MUTEX_INITIALIZER;

static void *msym(const char *name)
{
	void *p = cc_optsym("libmbedtls.so", name);

	return p ? p : cc_real_lookup(name);
}

/* Binds libmbedtls's functions once it is loaded; 0 when the ones every hook needs are there. */
static int resolve(void)
{
	if (__atomic_load_n(&M.ready, __ATOMIC_ACQUIRE))
		return 0;
	cc_lock(&resolve_lock);
	if (!M.ready) {
		M.setup = msym("mbedtls_ssl_setup");
		M.handshake = msym("mbedtls_ssl_handshake");
		M.handshake_step = msym("mbedtls_ssl_handshake_step");
		M.write = msym("mbedtls_ssl_write");
		M.read = msym("mbedtls_ssl_read");
		M.close_notify = msym("mbedtls_ssl_close_notify");
		M.free = msym("mbedtls_ssl_free");
		M.set_export = msym("mbedtls_ssl_conf_export_keys_cb");
		M.set_export_ext = msym("mbedtls_ssl_conf_export_keys_ext_cb");
		M.config_init = msym("mbedtls_ssl_config_init");
		M.config_free = msym("mbedtls_ssl_config_free");
		M.config_defaults = msym("mbedtls_ssl_config_defaults");
		M.set_endpoint = msym("mbedtls_ssl_conf_endpoint");
		M.srtp_result = msym("mbedtls_ssl_get_dtls_srtp_negotiation_result");
		M.tls_prf = msym("mbedtls_ssl_tls_prf");
		if (M.setup && M.handshake && M.handshake_step && M.write && M.read && M.close_notify && M.free &&
		    M.config_init && M.config_free && M.config_defaults && M.set_endpoint) {
			__atomic_store_n(&M.ready, 1, __ATOMIC_RELEASE);
			cc_verbose_lib("mbedTLS", M.set_export_ext ? "TLS/DTLS plaintext and secrets" :
				       "TLS/DTLS plaintext (no export-keys callback: no secrets)",
				       (const void *)M.write);
		}
	}
	cc_unlock(&resolve_lock);
	if (!M.ready) {
		static int warned;
		if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
			cc_warn("an mbedTLS function was called but libmbedtls's own could not be found");
		return -1;
	}
	return 0;
}

/* ---- The seam's view of mbedTLS ---- */

/* The bio is the program's (a pointer and two functions): no descriptor the seam can read. */
static int no_fd(const void *ssl, int outgoing)
{
	return -1;
}

static const struct cc_tls_lib lib = { "flow from descriptor", no_fd };

static __thread int depth __attribute__((tls_model("initial-exec")));
/* The session whose outermost call this thread is in: the export callback has no session. */
static __thread void *current __attribute__((tls_model("initial-exec")));

#define NEST_BEGIN CC_TLS_NEST_BEGIN
#define NEST_END CC_TLS_NEST_END

/* ---- Secrets: the export-keys callback of each configuration ---- */

/*
 * The configurations ours is on, with the program's own callback and context pointer.  A
 * configuration is the program's object: mbedtls_ssl_config_init clears it and config_free
 * ends it, so both drop its entry.  Few exist in a process (one per role, usually).
 */
#define CONFS 256
static struct conf {
	const void *conf;       /* NULL: free */
	export_ext_fn user;     /* the program's ext callback, or NULL */
	void *p;                /* the context pointer the program last gave either setter */
	int server;             /* MBEDTLS_SSL_IS_SERVER set by config_defaults or conf_endpoint */
} confs[CONFS];
static pthread_mutex_t conf_lock = CC_MUTEX_INITIALIZER;

/* The entry of conf (created if `create` and there is room); the caller holds conf_lock. */
static struct conf *conf_get(const void *conf, int create)
{
	struct conf *room = NULL;

	for (int i = 0; i < CONFS; i++) {
		if (confs[i].conf == conf)
			return &confs[i];
		if (!confs[i].conf && !room)
			room = &confs[i];
	}
	if (!create || !room)
		return NULL;
	*room = (struct conf){ conf, NULL, NULL, 0 };
	return room;
}

static void conf_forget(const void *conf)
{
	cc_lock(&conf_lock);
	struct conf *c = conf_get(conf, 0);
	if (c)
		c->conf = NULL;
	cc_unlock(&conf_lock);
}

/*
 * DTLS-SRTP: with a profile negotiated (use_srtp), the keys are RFC 5764 section 4.2's exporter
 * output (RFC 5705: the session's PRF over the master secret, "EXTRACTOR-dtls_srtp" and both
 * randoms, no context), computed here by mbedTLS's own PRF, which changes no state: the keys the
 * program derives (bctoolbox does it in its export callback), logged per flow and direction.
 * The profile is known by now: the hello that chose it precedes the keys' derivation.
 */
static void srtp_keys(void *ssl, int server, const unsigned char *ms, const unsigned char *cr,
		      const unsigned char *sr, int prf)
{
	static const char label[] = "EXTRACTOR-dtls_srtp";
	struct srtp_info info = { 0 };
	unsigned char rnd[64], km[CC_TLS_SRTP_KM_MAX];
	const char *suite;
	size_t kl, sl, n;

	if (!ssl || !M.srtp_result || !M.tls_prf)
		return;
	M.srtp_result(ssl, &info);
	if (!info.profile || cc_srtp_profile(info.profile, &suite, &kl, &sl) < 0 || (n = 2 * (kl + sl)) > sizeof km)
		return;
	memcpy(rnd, cr, 32);
	memcpy(rnd + 32, sr, 32);
	if (M.tls_prf(prf, ms, 48, label, rnd, sizeof rnd, km, n) == 0)
		cc_tls_srtp_keys(&lib, ssl, info.profile, server, km, n);
	explicit_bzero(km, sizeof km);
}

/*
 * Ours: CLIENT_RANDOM <client random> <master secret>, then the program's callback with its own
 * context pointer.  mbedTLS calls it when a handshake derives its keys, inside one of the hooked
 * calls on this thread (current names the session, whose configuration setup recorded); else the
 * configuration is found by the context pointer it was given.
 */
static int export_cb(void *p, const unsigned char *ms, const unsigned char *kb, size_t maclen, size_t keylen,
		     size_t ivlen, const unsigned char client_random[32], const unsigned char server_random[32],
		     int prf)
{
	export_ext_fn user = NULL;

	if (cc_tls_capturing() && ms && client_random) {
		int saved = errno;
		cc_tls_keylog_secret("CLIENT_RANDOM", client_random, 32, ms, 48);
		errno = saved;
	}
	const void *conf = current ? cc_tls_user_get(current) : NULL;
	int server = 0;
	cc_lock(&conf_lock);
	struct conf *c = conf ? conf_get(conf, 0) : NULL;
	if (c)
		server = c->server;
	for (int i = 0; !c && i < CONFS; i++)
		if (confs[i].conf && confs[i].p == p && confs[i].user)
			c = &confs[i];
	if (c)
		user = c->user;
	cc_unlock(&conf_lock);
	if (conf && ms && client_random && server_random && cc_tls_capturing()) {
		int saved = errno;
		srtp_keys(current, server, ms, client_random, server_random, prf);
		errno = saved;
	}
	return user ? user(p, ms, kb, maclen, keylen, ivlen, client_random, server_random, prf) : 0;
}

/* Ours on conf, with the program's context pointer; 0 when it could not be (no room, no setter). */
static int install(const void *conf)
{
	if (!M.set_export_ext)
		return 0;
	cc_lock(&conf_lock);
	struct conf *c = conf_get(conf, 1);
	void *p = c ? c->p : NULL;
	cc_unlock(&conf_lock);
	if (!c)
		return 0;
	M.set_export_ext((void *)conf, export_cb, p);
	return 1;
}

CC_EXPORT void mbedtls_ssl_conf_export_keys_ext_cb(void *conf, export_ext_fn f, void *p)
{
	if (resolve() < 0 || !M.set_export_ext)
		return;
	cc_lock(&conf_lock);
	struct conf *c = f != export_cb ? conf_get(conf, 1) : NULL;
	if (c) {
		c->user = f;
		c->p = p;
	}
	cc_unlock(&conf_lock);
	/* Without room, the program's own goes in unchanged: its secrets are then not logged. */
	M.set_export_ext(conf, c ? export_cb : f, p);
}

CC_EXPORT void mbedtls_ssl_conf_export_keys_cb(void *conf, void *f, void *p)
{
	if (resolve() < 0 || !M.set_export)
		return;
	cc_lock(&conf_lock);
	/* Made if new: set before mbedtls_ssl_config_defaults, it must reach ours (install). */
	struct conf *c = conf_get(conf, 1);
	if (c)
		c->p = p;       /* mbedTLS keeps one context pointer for both callbacks */
	cc_unlock(&conf_lock);
	M.set_export(conf, f, p);
}

/* The configuration's role, for the direction of its DTLS-SRTP keys. */
static void note_endpoint(const void *conf, int endpoint)
{
	cc_lock(&conf_lock);
	struct conf *c = conf_get(conf, 1);
	if (c)
		c->server = endpoint == 1;      /* MBEDTLS_SSL_IS_SERVER */
	cc_unlock(&conf_lock);
}

CC_EXPORT int mbedtls_ssl_config_defaults(void *conf, int endpoint, int transport, int preset)
{
	if (resolve() < 0)
		return -0x7100;
	int r = M.config_defaults(conf, endpoint, transport, preset);
	if (r == 0 && conf)
		note_endpoint(conf, endpoint);
	return r;
}

CC_EXPORT void mbedtls_ssl_conf_endpoint(void *conf, int endpoint)
{
	if (resolve() < 0)
		return;
	M.set_endpoint(conf, endpoint);
	if (conf)
		note_endpoint(conf, endpoint);
}

CC_EXPORT void mbedtls_ssl_config_init(void *conf)
{
	if (resolve() < 0)
		return;
	conf_forget(conf);
	M.config_init(conf);
}

CC_EXPORT void mbedtls_ssl_config_free(void *conf)
{
	if (resolve() < 0)
		return;
	conf_forget(conf);
	M.config_free(conf);
}

CC_EXPORT int mbedtls_ssl_setup(void *ssl, const void *conf)
{
	if (resolve() < 0)
		return -0x7100;         /* MBEDTLS_ERR_SSL_BAD_INPUT_DATA */
	int r = M.setup(ssl, conf);
	if (r != 0 || !cc_tls_capturing() || !ssl || !conf)
		return r;
	int saved = errno;
	cc_tls_session_seen();
	if (install(conf))
		cc_tls_user_set(&lib, ssl, (void *)conf);
	else {
		static int warned;
		if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
			cc_warn(M.set_export_ext ? "too many mbedTLS configurations: the secrets of some are not logged"
				: "this mbedTLS has no export-keys callback: its plaintext is captured, not its secrets");
	}
	errno = saved;
	return r;
}

/* ---- Plaintext ---- */

/* The handshake calls: the records they move through a socket name the session's flow. */
static int handshake(int (*fn)(void *), void *ssl)
{
	if (!cc_tls_capturing() || depth)
		return fn(ssl);
	depth++;
	current = ssl;
	NEST_BEGIN(ssl);
	int r = fn(ssl);
	NEST_END(nest);
	current = NULL;
	depth--;
	if (nest.seen) {
		int saved = errno;
		cc_tls_handshake_flow(&lib, ssl, &nest);
		errno = saved;
	}
	return r;
}

CC_EXPORT int mbedtls_ssl_handshake(void *ssl)
{
	return resolve() < 0 ? -0x7100 : handshake(M.handshake, ssl);
}

CC_EXPORT int mbedtls_ssl_handshake_step(void *ssl)
{
	return resolve() < 0 ? -0x7100 : handshake(M.handshake_step, ssl);
}

CC_EXPORT int mbedtls_ssl_write(void *ssl, const unsigned char *buf, size_t len)
{
	if (resolve() < 0)
		return -0x7100;
	if (!cc_tls_capturing() || depth)
		return M.write(ssl, buf, len);
	depth++;
	current = ssl;
	NEST_BEGIN(ssl);
	cc_nest.out_plain = buf;
	cc_nest.out_len = len;
	int r = M.write(ssl, buf, len);
	NEST_END(nest);
	current = NULL;
	depth--;
	if (r > 0 && buf) {
		int saved = errno;
		cc_tls_plain(&lib, ssl, &nest, NULL, 1, buf, (size_t)r, 0);
		errno = saved;
	}
	return r;
}

CC_EXPORT int mbedtls_ssl_read(void *ssl, unsigned char *buf, size_t len)
{
	enum { PEER_CLOSE_NOTIFY = -0x7880 };  /* MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY */

	if (resolve() < 0)
		return -0x7100;
	if (!cc_tls_capturing() || depth)
		return M.read(ssl, buf, len);
	depth++;
	current = ssl;
	NEST_BEGIN(ssl);
	int r = M.read(ssl, buf, len);
	NEST_END(nest);
	current = NULL;
	depth--;
	int saved = errno;
	if (r > 0)
		cc_tls_read_plain(&lib, ssl, &nest, 0, buf, (size_t)r);
	else if (r == 0 || r == PEER_CLOSE_NOTIFY)
		cc_tls_fin(ssl, 0, "close_notify");
	errno = saved;
	return r;
}

CC_EXPORT int mbedtls_ssl_close_notify(void *ssl)
{
	if (resolve() < 0)
		return -0x7100;
	int r = M.close_notify(ssl);
	if (r == 0 && cc_tls_capturing()) {
		int saved = errno;
		cc_tls_fin(ssl, 1, "close_notify");
		errno = saved;
	}
	return r;
}

CC_EXPORT void mbedtls_ssl_free(void *ssl)
{
	if (resolve() < 0)
		return;
	if (ssl)
		cc_tls_drop(ssl);
	M.free(ssl);
}

void cc_tls_mbedtls_init(void)
{
	cc_forklock_add(&resolve_lock, CC_RANK_RESOLVE);
	cc_forklock_add(&conf_lock, CC_RANK_TABLE);
}
