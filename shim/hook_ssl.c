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
 * How the flow of a plaintext is found, in order (the method is written in each packet's comment):
 *   nested  a wire packet moved by a socket call inside this very SSL call (socket BIOs, custom
 *           BIOs forwarding synchronously, curl's);
 *   fd      the SSL's descriptor BIO names a connected socket;
 *   last    the flow this SSL object used before (records buffered by an earlier call);
 *   unknown none of these: written with unspecified addresses and counted.
 */
#include "shim/capture.h"
#include "shim/config.h"
#include "shim/dtlsmatch.h"
#include "shim/hooks.h"
#include "shim/optlib.h"
#include "shim/ownfd.h"
#include "shim/real.h"
#include "shim/srtpkeys.h"
#include "pcapout/writer.h"

#include <dlfcn.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>


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
	int ready;
} S;

static pthread_mutex_t resolve_lock = PTHREAD_MUTEX_INITIALIZER;

static void *ssl_sym(const char *name)
{
	void *p = cc_optsym("libssl.so", name);

	return p ? p : cc_real_lookup(name);
}

/* Binds libssl's functions once libssl is loaded; 0 when they are all there. */
static int resolve(void)
{
	if (__atomic_load_n(&S.ready, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&resolve_lock);
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
		if (S.write && S.read && S.free && S.new && S.shutdown && S.get_ctx && S.get_wfd && S.get_rfd)
			__atomic_store_n(&S.ready, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&resolve_lock);
	if (!S.ready) {
		static int warned;
		if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
			cc_warn("an SSL function was called but libssl's own could not be found");
		return -1;
	}
	return 0;
}

/* ---- Per-SSL state: the flow its plaintext belongs to ---- */

#define SSLTAB_SIZE 16384u
#define TOMB ((const void *)1)

enum method { M_NONE, M_NESTED, M_FD, M_LAST, M_RECORD };    /* cc_counters.plain's order */
static const char *const method_note[] = { "flow unknown", "flow from nested socket call",
					   "flow from descriptor BIO", "flow from earlier record",
					   "flow from DTLS record" };

struct sslent {
	const void *ssl;        /* NULL free, TOMB deleted */
	uint8_t dtls;           /* 0 unknown, 1 TLS, 2 DTLS */
	uint8_t srtp_pending;   /* DTLS-SRTP keys exported, not yet logged */
	uint8_t srtp_server;
	uint16_t srtp_profile;
	uint8_t srtp_km[2 * (32 + 14)];
	struct cc_plainflow pf;
};

static struct sslent *ssltab;
static pthread_mutex_t ssltab_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned slot_of(const void *ssl)
{
	uintptr_t v = (uintptr_t)ssl;

	v ^= v >> 17;
	v *= 0x9e3779b97f4a7c15ull;
	return (unsigned)(v >> 40) & (SSLTAB_SIZE - 1);
}

/* The entry for ssl (created if `create`); the caller holds ssltab_lock. */
static struct sslent *ent_get(const void *ssl, int create)
{
	struct sslent *tomb = NULL;

	if (!ssltab) {
		void *p = mmap(NULL, SSLTAB_SIZE * sizeof(struct sslent), PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
		ssltab = p;
	}
	for (unsigned i = 0, s = slot_of(ssl); i < SSLTAB_SIZE; i++, s = (s + 1) & (SSLTAB_SIZE - 1)) {
		struct sslent *e = &ssltab[s];
		if (e->ssl == ssl)
			return e;
		if (e->ssl == TOMB && !tomb)
			tomb = e;
		if (!e->ssl) {
			if (!create)
				return NULL;
			e = tomb ? tomb : e;
			memset(e, 0, sizeof(*e));
			e->ssl = ssl;
			return e;
		}
	}
	if (create && tomb) {
		memset(tomb, 0, sizeof(*tomb));
		tomb->ssl = ssl;
		return tomb;
	}
	return NULL;
}

/*
 * The DTLS-SRTP master keys of this SSL (RFC 5764 section 4.2: client key, server key, client
 * salt, server salt), one line per direction, on the flow if known by now.  Caller holds the lock.
 */
static void srtp_log(struct sslent *e)
{
	const char *suite;
	size_t kl, sl;
	const uint8_t *km = e->srtp_km;
	int known = e->pf.proto != 0;

	e->srtp_pending = 0;
	if (cc_srtp_profile(e->srtp_profile, &suite, &kl, &sl) < 0)
		return;
	const uint8_t *ck = km, *sk = km + kl, *cs = km + 2 * kl, *ss = km + 2 * kl + sl;
	for (int out = 1; out >= 0; out--) {
		int client_side = e->srtp_server ? !out : out;   /* whose write keys this direction uses */
		cc_srtp_keylog(known ? &e->pf.local : NULL, known ? &e->pf.peer : NULL, out, suite,
			       client_side ? ck : sk, kl, client_side ? cs : ss, sl);
	}
}

static void ent_drop(const void *ssl)
{
	pthread_mutex_lock(&ssltab_lock);
	struct sslent *e = ssltab ? ent_get(ssl, 0) : NULL;
	if (e) {
		if (e->srtp_pending)
			srtp_log(e);
		e->ssl = TOMB;
	}
	pthread_mutex_unlock(&ssltab_lock);
}

void cc_ssl_exit(void)
{
	pthread_mutex_lock(&ssltab_lock);
	for (unsigned i = 0; ssltab && i < SSLTAB_SIZE; i++)
		if (ssltab[i].ssl && ssltab[i].ssl != TOMB && ssltab[i].srtp_pending)
			srtp_log(&ssltab[i]);
	pthread_mutex_unlock(&ssltab_lock);
}

/* The flow of a descriptor BIO's socket, when it is connected. */
static int flow_from_fd(int fd, struct cc_plainflow *pf)
{
	struct cc_fd *e;

	if (fd < 0 || !(e = cc_classify(fd)) || !(fd_flags(e) & FDF_PEER) || !(fd_flags(e) & FDF_LOCAL))
		return -1;
	pf->proto = fd_kind(e) == FDK_TCP ? IPPROTO_TCP : IPPROTO_UDP;
	pf->passive = (fd_flags(e) & FDF_ACCEPTED) != 0;
	pf->local = e->local;
	pf->peer = e->peer;
	pf->local.family = pf->peer.family;
	return 0;
}

static int same_flow(const struct cc_plainflow *pf, const struct cc_nest *n)
{
	return pf->proto == n->proto && memcmp(&pf->local, &n->local, sizeof(n->local)) == 0 &&
	       memcmp(&pf->peer, &n->peer, sizeof(n->peer)) == 0;
}

static void plaintext(const void *ssl, const struct cc_nest *nest, const struct cc_nest *rec, int outgoing,
		      const void *buf, size_t n, uint64_t ts);

/* A new flow (ICE switched pairs, a reconnect) starts a new plaintext stream. */
static void set_flow(struct sslent *e, const struct cc_nest *n)
{
	if (same_flow(&e->pf, n))
		return;
	memset(&e->pf, 0, sizeof(e->pf));
	e->pf.proto = n->proto;
	e->pf.passive = n->passive;
	e->pf.local = n->local;
	e->pf.peer = n->peer;
}

void cc_ssl_matched(const void *ssl, const struct cc_addr *local, const struct cc_addr *peer, const void *plain,
		    size_t len, uint64_t ts)
{
	struct cc_nest rec = { .seen = 1, .proto = IPPROTO_UDP };

	if (local) {
		rec.local = *local;
		rec.peer = *peer;
	}
	plaintext(ssl, NULL, local ? &rec : NULL, 1, plain, len, ts);
}

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
	cc_dm_expect(ssl, key, buf, n);
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

static void read_plaintext(void *ssl, const struct cc_nest *nest, uint64_t key, const void *buf, size_t n)
{
	struct cc_nest rec = { .seen = 1, .proto = IPPROTO_UDP };
	uint64_t ts = 0;

	if (!key)
		key = nest->in_key;     /* a custom BIO's read callback handed over the record */
	/* Matched by record: written at the time its datagram came, like SRTP's plaintext. */
	if (!nest->seen && key && cc_dm_inbound_flow(key, &rec.local, &rec.peer, &ts) == 0)
		plaintext(ssl, nest, &rec, 0, buf, n, ts);
	else
		plaintext(ssl, nest, NULL, 0, buf, n, 0);
}

/*
 * After an SSL call moved `n` plaintext bytes: write them on the flow found for them.  `rec` is
 * the flow matched by DTLS record (memory BIOs), or NULL; ts the time of its datagram, 0: now.
 */
static void plaintext(const void *ssl, const struct cc_nest *nest, const struct cc_nest *rec, int outgoing,
		      const void *buf, size_t n, uint64_t ts)
{
	enum method m = M_NONE;
	struct sslent *e;

	pthread_mutex_lock(&ssltab_lock);
	e = ent_get(ssl, 1);
	if (!e) {
		pthread_mutex_unlock(&ssltab_lock);
		return;
	}
	if (nest && nest->seen) {
		set_flow(e, nest);
		m = M_NESTED;
	} else if (rec) {
		set_flow(e, rec);
		m = M_RECORD;
	} else if (e->pf.proto) {
		m = M_LAST;
	} else if (flow_from_fd(outgoing ? S.get_wfd((void *)ssl) : S.get_rfd((void *)ssl), &e->pf) == 0) {
		m = M_FD;
	}
	if (m == M_NONE)
		cc_writer_count_unmatched(1);
	cc_writer_count_plain(m);       /* same order as cc_counters.plain */
	cc_cap_plain(&e->pf, outgoing, buf, n, method_note[m], ts);
	if (e->srtp_pending && m != M_NONE)
		srtp_log(e);            /* the keys waited for the flow they belong to */
	/* The flow stays known for later calls that move no wire packet of their own. */
	if (m == M_NONE)
		e->pf.proto = 0;
	pthread_mutex_unlock(&ssltab_lock);
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
	pthread_mutex_lock(&ssltab_lock);
	struct sslent *e = ssltab ? ent_get(ssl, 0) : NULL;
	if (e)
		cc_plain_fin(&e->pf, 0, "close_notify");
	pthread_mutex_unlock(&ssltab_lock);
}

static inline int capturing(void)
{
	return __atomic_load_n(&cc_on, __ATOMIC_RELAXED);
}

/* Brackets an SSL call: socket calls inside it note the flow in cc_nest. */
#define NEST_BEGIN(ssl)                          \
	struct cc_nest saved_nest_ = cc_nest;    \
	cc_nest.ssl = (ssl);                     \
	cc_nest.seen = 0;                        \
	cc_nest.in_key = 0;                      \
	cc_nest.out_plain = NULL;                \
	cc_nest.deferred = 0;
#define NEST_END(copy)                           \
	struct cc_nest copy = cc_nest;           \
	cc_nest = saved_nest_;

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
			plaintext(ssl, &nest, NULL, 1, buf, (size_t)r, 0);
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
			plaintext(ssl, &nest, NULL, 1, buf, *written, 0);
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
		read_plaintext(ssl, &nest, key, buf, (size_t)r);
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
		read_plaintext(ssl, &nest, key, buf, *readbytes);
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
		pthread_mutex_lock(&ssltab_lock);
		struct sslent *e = ssltab ? ent_get(ssl, 0) : NULL;
		if (e)
			cc_plain_fin(&e->pf, 1, "close_notify");
		pthread_mutex_unlock(&ssltab_lock);
		errno = saved;
	}
	return r;
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
	    !S.srtp_profile || olen > sizeof(((struct sslent *)0)->srtp_km))
		return r;
	int saved = errno;
	const char *suite;
	size_t kl, sl;
	__typeof__(S.srtp_profile(ssl)) prof = S.srtp_profile(ssl);
	if (prof && cc_srtp_profile(prof->id, &suite, &kl, &sl) == 0 && olen == 2 * (kl + sl)) {
		pthread_mutex_lock(&ssltab_lock);
		struct sslent *e = ent_get(ssl, 1);
		if (e) {
			memcpy(e->srtp_km, out, olen);
			e->srtp_profile = (uint16_t)prof->id;
			e->srtp_server = S.is_server && S.is_server(ssl);
			e->srtp_pending = 1;
			if (e->pf.proto)
				srtp_log(e);
		}
		pthread_mutex_unlock(&ssltab_lock);
	}
	errno = saved;
	return r;
}

CC_EXPORT void SSL_free(void *ssl)
{
	if (resolve() < 0)
		return;
	if (ssl && ssltab)
		ent_drop(ssl);
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
static pthread_mutex_t bio_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * The record is handed over before the program's callback runs: the callback may pass it to
 * another thread that sends it at once, before SSL_write has even returned.
 */
static void bio_writes(const char *d, int n)
{
	uint64_t key;

	if (n <= 0 || !cc_nest.ssl || !cc_nest.out_plain || cc_nest.deferred)
		return;
	if ((key = cc_dm_first_app_key((const uint8_t *)d, (size_t)n))) {
		cc_dm_expect(cc_nest.ssl, key, cc_nest.out_plain, cc_nest.out_len);
		cc_nest.deferred = 1;
	}
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
		bio_writes(d, n);                                      \
		errno = saved;                                         \
		return wslots[i].fn(b, d, n);                          \
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
		pthread_mutex_lock(&bio_lock);                                 \
		for (int i_ = 0; i_ < BIO_SLOTS && out < 0; i_++)              \
			if (slots[i_].meth == (meth) || !slots[i_].meth)       \
				out = i_;                                      \
		if (out >= 0) {                                                \
			slots[out].meth = (meth);                              \
			__atomic_store_n(&slots[out].fn, (fn), __ATOMIC_RELEASE); \
		}                                                              \
		pthread_mutex_unlock(&bio_lock);                               \
	} while (0)

CC_EXPORT int BIO_meth_set_write(void *meth, bio_write_fn fn)
{
	static int (*real)(void *, bio_write_fn);
	int slot;

	if (!real && !(real = cc_optsym("libcrypto.so", "BIO_meth_set_write")) &&
	    !(real = cc_real_lookup("BIO_meth_set_write")))
		return 0;
	if (!fn || !__atomic_load_n(&cc_on, __ATOMIC_RELAXED))
		return real(meth, fn);
	SLOT_FOR(wslots, meth, fn, slot);
	return real(meth, slot >= 0 ? wtramps[slot] : fn);
}

CC_EXPORT int BIO_meth_set_read(void *meth, bio_read_fn fn)
{
	static int (*real)(void *, bio_read_fn);
	int slot;

	if (!real && !(real = cc_optsym("libcrypto.so", "BIO_meth_set_read")) &&
	    !(real = cc_real_lookup("BIO_meth_set_read")))
		return 0;
	if (!fn || !__atomic_load_n(&cc_on, __ATOMIC_RELAXED))
		return real(meth, fn);
	SLOT_FOR(rslots, meth, fn, slot);
	return real(meth, slot >= 0 ? rtramps[slot] : fn);
}

/* ---- Secrets ---- */

struct ctxcb {
	const void *ctx;
	keylog_cb_t cb;
};

#define CTXCB_SIZE 64
static struct ctxcb ctxcbs[CTXCB_SIZE];
static unsigned ctxcb_next;
static pthread_mutex_t ctxcb_lock = PTHREAD_MUTEX_INITIALIZER;

/* Remembers the program's own key log callback for ctx (NULL: none). */
static void user_cb_set(const void *ctx, keylog_cb_t cb)
{
	pthread_mutex_lock(&ctxcb_lock);
	struct ctxcb *slot = NULL;
	for (int i = 0; i < CTXCB_SIZE; i++)
		if (ctxcbs[i].ctx == ctx)
			slot = &ctxcbs[i];
	if (!slot)
		slot = &ctxcbs[ctxcb_next++ % CTXCB_SIZE];
	slot->ctx = ctx;
	slot->cb = cb;
	pthread_mutex_unlock(&ctxcb_lock);
}

static keylog_cb_t user_cb_get(const void *ctx)
{
	keylog_cb_t cb = NULL;

	pthread_mutex_lock(&ctxcb_lock);
	for (int i = 0; i < CTXCB_SIZE; i++)
		if (ctxcbs[i].ctx == ctx)
			cb = ctxcbs[i].cb;
	pthread_mutex_unlock(&ctxcb_lock);
	return cb;
}

/* CLEARCAP_KEYLOG: the NSS key log file, one of the shim's own descriptors. */
static struct cc_linefile keylog = CC_LINEFILE_INIT("CLEARCAP_KEYLOG");

void cc_ssl_init(void)
{
	cc_linefile_init(&keylog, cc_cfg.keylog);
	cc_forklock_add(&resolve_lock, CC_RANK_RESOLVE);
	cc_forklock_add(&bio_lock, CC_RANK_TABLE);
	cc_forklock_add(&ctxcb_lock, CC_RANK_TABLE);
	cc_forklock_add(&ssltab_lock, CC_RANK_SSL);
}

/* Our key log callback: the file, a Decryption Secrets Block, then the program's own callback. */
static void keylog_cb(const void *ssl, const char *line)
{
	int saved = errno;
	char buf[1024];
	size_t n = strlen(line);

	if (n < sizeof(buf) - 1 && __atomic_load_n(&cc_on, __ATOMIC_RELAXED)) {
		memcpy(buf, line, n);
		buf[n++] = '\n';
		cc_linefile_write(&keylog, buf, n);
		cc_out_dsb(buf, n);
	}
	errno = saved;
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
	user_cb_set(ctx, cur);
	S.ctx_set_keylog(ctx, keylog_cb);
}

CC_EXPORT void *SSL_new(void *ctx)
{
	if (resolve() < 0)
		return NULL;
	if (capturing()) {
		install(ctx);
		/* From now on received DTLS records are remembered, for SSL objects on memory BIOs. */
		__atomic_store_n(&cc_dm_active, 1, __ATOMIC_RELAXED);
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
	user_cb_set(ctx, cb);
	S.ctx_set_keylog(ctx, keylog_cb);
}

CC_EXPORT keylog_cb_t SSL_CTX_get_keylog_callback(const void *ctx)
{
	if (resolve() < 0 || !S.ctx_get_keylog)
		return NULL;
	keylog_cb_t cb = S.ctx_get_keylog(ctx);
	/* The program sees the callback it set, not ours. */
	return cb == keylog_cb ? user_cb_get(ctx) : cb;
}
