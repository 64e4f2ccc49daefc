/*
 * NSS hooks: the plaintext of SSL sockets, as NSPR's PR_Write/PR_Writev/PR_Send accepted it and
 * PR_Read/PR_Recv returned it, on the 5-tuple of the connection or datagram that carried it; and
 * the TLS 1.3 and TLS 1.2 secrets, as NSS key log lines and DSBs.
 *
 * NSS's SSL is a layer in NSPR's descriptor stack: the program calls NSPR's generic I/O on the
 * top descriptor, and a layer whose identity is named "SSL" (SSL_ImportFD) encrypts and writes to
 * the layer below, whose bottom is a socket written with libc's write/send.  So we hook NSPR's
 * entry points (libnspr4 is never linked; found in the loaded objects like every optional
 * library), capture only when an SSL layer is in the stack, and take the flow from the nested
 * socket calls, or from the bottom layer's OS descriptor (PR_FileDesc2NativeHandle).
 *
 * Secrets: Debian's libssl3 is built without NSS_ALLOW_SSLKEYLOGFILE (no SSLKEYLOGFILE support:
 * the string is absent from the library), so they are taken as NSS's own key log would: at
 * SSL_ImportFD/DTLS_ImportFD we install NSS's (experimental, public) SSL_SecretCallback, which
 * hands over each TLS 1.3 traffic secret, and read the client random, which no NSS function
 * gives, from the ClientHello itself: the layer below SSL gets a copy of its I/O method table
 * whose read/recv/write/send note the first bytes of each direction.  A program that sets its
 * own secret callback (QUIC stacks do) replaces ours: it keeps working, we lose the secrets.
 * TLS 1.2 (and 1.0/1.1, DTLS 1.2) has no callback: libssl3 derives the master secret through
 * libnss3's PK11_DeriveWithFlags, which is hooked; the new key is read as NSS's own key log
 * would (PK11_ExtractKeyValue), with the client random from the derivation's parameters, or,
 * for the extended master secret (RFC 7627, whose parameters hold the session hash instead),
 * from the ClientHello of the SSL socket whose call this thread is in.
 *
 * PR_SendTo and PR_RecvFrom are not hooked: NSS's SSL layer does not implement them (its
 * ssl_SendTo/ssl_RecvFrom fail with PR_NOT_IMPLEMENTED_ERROR); DTLS goes through PR_Write/PR_Read
 * on the SSL socket like TLS, and only the layer below sends datagrams.
 *
 * This file knows only NSPR's and NSS's symbols; the rest is the TLS seam's (shim/tls.c).
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
#include <stdlib.h>
#include <string.h>

/* NSPR's PRFileDesc, public and unchanged since NSPR 4 (prio.h). */
struct prfd {
	const void *methods;
	void *secret;
	struct prfd *lower, *higher;
	void (*dtor)(struct prfd *);
	int identity;
};

/* The entry points interposed, NSPR's types restated (PRInt32 is int, PRIntervalTime uint32). */
int PR_Write(struct prfd *fd, const void *buf, int amount);
int PR_Read(struct prfd *fd, void *buf, int amount);
int PR_Send(struct prfd *fd, const void *buf, int amount, int flags, unsigned timeout);
int PR_Recv(struct prfd *fd, void *buf, int amount, int flags, unsigned timeout);
int PR_Writev(struct prfd *fd, const void *iov, int iov_size, unsigned timeout);
int PR_Close(struct prfd *fd);

/* PRIOVec */
struct priov {
	char *base;
	int len;
};

static struct {
	int (*write)(struct prfd *, const void *, int);
	int (*read)(struct prfd *, void *, int);
	int (*send)(struct prfd *, const void *, int, int, unsigned);
	int (*recv)(struct prfd *, void *, int, int, unsigned);
	int (*writev)(struct prfd *, const void *, int, unsigned);
	int (*close)(struct prfd *);
	struct prfd *(*accept)(struct prfd *, void *, unsigned);
	const char *(*name_of)(int);
	int (*native)(struct prfd *);
	int ready;
} N;

static pthread_mutex_t resolve_lock = CC_MUTEX_INITIALIZER;

static void *nsym(const char *name)
{
	void *p = cc_optsym("libnspr4.so", name);

	return p ? p : cc_real_lookup(name);
}

static int resolve(void)
{
	if (__atomic_load_n(&N.ready, __ATOMIC_ACQUIRE))
		return 0;
	cc_lock(&resolve_lock);
	if (!N.ready) {
		N.write = nsym("PR_Write");
		N.read = nsym("PR_Read");
		N.send = nsym("PR_Send");
		N.recv = nsym("PR_Recv");
		N.writev = nsym("PR_Writev");
		N.close = nsym("PR_Close");
		N.accept = nsym("PR_Accept");
		N.name_of = nsym("PR_GetNameForIdentity");
		N.native = nsym("PR_FileDesc2NativeHandle");
		if (N.write && N.read && N.send && N.recv && N.close && N.name_of) {
			__atomic_store_n(&N.ready, 1, __ATOMIC_RELEASE);
			cc_verbose_lib("NSS", "TLS plaintext of SSL sockets, TLS 1.3 secrets", (const void *)N.write);
		}
	}
	cc_unlock(&resolve_lock);
	return N.ready ? 0 : -1;
}

/*
 * The SSL layer of fd's stack, or NULL.  NSS names its layer's identity "SSL"; once seen, the
 * number is compared instead of the name (identities are per process and never change).
 */
static int ssl_identity = -1;

static struct prfd *ssl_layer(struct prfd *fd)
{
	int id = __atomic_load_n(&ssl_identity, __ATOMIC_RELAXED);

	for (int depth = 0; fd && depth < 16; fd = fd->lower, depth++) {
		if (id >= 0) {
			if (fd->identity == id)
				return fd;
			continue;
		}
		const char *name = fd->identity >= 0 ? N.name_of(fd->identity) : NULL;
		if (name && strcmp(name, "SSL") == 0) {
			__atomic_store_n(&ssl_identity, fd->identity, __ATOMIC_RELAXED);
			return fd;
		}
	}
	return NULL;
}

/* The OS descriptor at the bottom of the SSL layer's stack. */
static int bottom_fd(const void *sess, int outgoing)
{
	const struct prfd *fd = sess;

	(void)outgoing;
	while (fd && fd->lower)
		fd = fd->lower;
	return fd && N.native ? N.native((struct prfd *)fd) : -1;
}

static const struct cc_tls_lib lib = { "flow from NSPR descriptor", bottom_fd };

/* NSPR layers may call NSPR's I/O on the layer below: only the outermost call captures. */
static __thread int depth __attribute__((tls_model("initial-exec")));
/* The SSL layer whose outermost call this thread is in (a handshake runs inside it). */
static __thread struct prfd *current __attribute__((tls_model("initial-exec")));

/* skip: the bytes stay to be read again (PR_MSG_PEEK), captured when they are. */
#define NSS_CALL_SKIP(outgoing, skip, real_call)                                \
	if (resolve() < 0)                                                      \
		return -1;                                                      \
	struct prfd *ssl = NULL;                                                \
	if (!cc_tls_capturing() || depth || !(ssl = ssl_layer(fd)))             \
		return real_call;                                               \
	depth++;                                                                \
	current = ssl;                                                          \
	CC_TLS_NEST_BEGIN(ssl);                                                 \
	int r = real_call;                                                      \
	CC_TLS_NEST_END(nest);                                                  \
	current = NULL;                                                         \
	depth--;                                                                \
	int saved = errno;                                                      \
	if (skip)                                                               \
		;                                                               \
	else if (r > 0 && (outgoing))                                           \
		cc_tls_plain(&lib, ssl, &nest, NULL, 1, buf, (size_t)r, 0);    \
	else if (r > 0)                                                         \
		cc_tls_read_plain(&lib, ssl, &nest, 0, buf, (size_t)r);         \
	else if (r == 0 && !(outgoing) && amount > 0)                           \
		cc_tls_fin(ssl, 0, "end of stream");                            \
	errno = saved;                                                          \
	return r;
#define NSS_CALL(outgoing, real_call) NSS_CALL_SKIP(outgoing, 0, real_call)
#define PR_MSG_PEEK_ 0x2

CC_EXPORT int PR_Write(struct prfd *fd, const void *buf, int amount)
{
	NSS_CALL(1, N.write(fd, buf, amount))
}

CC_EXPORT int PR_Send(struct prfd *fd, const void *buf, int amount, int flags, unsigned timeout)
{
	NSS_CALL(1, N.send(fd, buf, amount, flags, timeout))
}

CC_EXPORT int PR_Read(struct prfd *fd, void *buf, int amount)
{
	NSS_CALL(0, N.read(fd, buf, amount))
}

CC_EXPORT int PR_Recv(struct prfd *fd, void *buf, int amount, int flags, unsigned timeout)
{
	NSS_CALL_SKIP(0, flags & PR_MSG_PEEK_, N.recv(fd, buf, amount, flags, timeout))
}

/* selfserv answers with PR_Writev: the bytes accepted, one plaintext per vector. */
CC_EXPORT int PR_Writev(struct prfd *fd, const void *iov, int iov_size, unsigned timeout)
{
	if (resolve() < 0 || !N.writev)
		return -1;
	struct prfd *ssl = NULL;
	if (!cc_tls_capturing() || depth || !(ssl = ssl_layer(fd)))
		return N.writev(fd, iov, iov_size, timeout);
	depth++;
	current = ssl;
	CC_TLS_NEST_BEGIN(ssl);
	int r = N.writev(fd, iov, iov_size, timeout);
	CC_TLS_NEST_END(nest);
	current = NULL;
	depth--;
	int saved = errno;
	const struct priov *v = iov;
	for (int i = 0, left = r; i < iov_size && left > 0; i++) {
		int n = v[i].len < left ? v[i].len : left;
		if (n > 0)
			cc_tls_plain(&lib, ssl, &nest, NULL, 1, v[i].base, (size_t)n, 0);
		left -= n;
	}
	errno = saved;
	return r;
}

/* Closing an SSL socket sends close_notify: the stream's outgoing half ends, the session is gone. */
CC_EXPORT int PR_Close(struct prfd *fd)
{
	if (resolve() < 0)
		return -1;
	struct prfd *ssl = cc_tls_capturing() && !depth ? ssl_layer(fd) : NULL;
	if (ssl) {
		int saved = errno;
		cc_tls_fin(ssl, 1, "close_notify");
		free(cc_tls_user_get(ssl));     /* its ClientHello notes (SSL_ImportFD) */
		cc_tls_drop(ssl);
		errno = saved;
	}
	return N.close(fd);
}

/* ---- Secrets (TLS 1.3) ---- */

struct prfd *SSL_ImportFD(struct prfd *model, struct prfd *fd);
struct prfd *DTLS_ImportFD(struct prfd *model, struct prfd *fd);
struct prfd *PR_Accept(struct prfd *fd, void *addr, unsigned timeout);

/* PRIOMethods: the file type, then 35 function pointers (prio.h: close .. reserved_fn_0). */
struct prmethods {
	int file_type;
	void *fn[35];
};
enum { M_READ = 1, M_WRITE = 2, M_RECV = 16, M_SEND = 17 };

/* SECItem */
struct secitem {
	int type;
	unsigned char *data;
	unsigned int len;
};

typedef void (*secret_cb)(struct prfd *, uint16_t, int, void *, void *);

static struct {
	struct prfd *(*import)(struct prfd *, struct prfd *);
	struct prfd *(*dtls_import)(struct prfd *, struct prfd *);
	void *(*experimental)(const char *);
	int (*extract)(void *);
	struct secitem *(*key_data)(void *);
	int ready;
} K;

/* A stack's ClientHello, as far as seen: its first bytes in each direction. */
struct hello {
	uint8_t first[2][64];   /* [outgoing] */
	uint8_t n[2];
	int8_t client;          /* 1: we sent the ClientHello, 0: we received it, -1: not yet known */
	uint8_t random[32];
	uint8_t have_random;
};

static pthread_mutex_t keys_lock = CC_MUTEX_INITIALIZER;

/* One copy of each original method table (programs have one or two socket kinds). */
#define TABLES 4
static struct {
	const struct prmethods *orig;
	struct prmethods copy;
} tables[TABLES];

/* The original table behind a copy of ours. */
static const struct prmethods *orig_of(const void *methods)
{
	for (int i = 0; i < TABLES; i++)
		if (methods == &tables[i].copy)
			return tables[i].orig;
	return methods;
}

/* The random of a ClientHello (RFC 8446 4.1.2, RFC 9147 5.3) at the start of buf, if all there. */
static int hello_random(const uint8_t *b, size_t n, uint8_t out[32])
{
	size_t at;

	if (n < 1 || b[0] != 22)
		return -1;
	if (n >= 3 && b[1] == 0xfe)
		at = 13 + 12 + 2;       /* DTLS record header, handshake header with fragment fields */
	else
		at = 5 + 4 + 2;
	if (n < at + 32 || b[at - 2 - (b[1] == 0xfe ? 12 : 4)] != 1)       /* msg_type client_hello */
		return -1;
	memcpy(out, b + at, 32);
	return 0;
}

/*
 * Bytes the layer below SSL moved for `lower`'s stack, in one direction.  Once the ClientHello's
 * random is known (or cannot be: 64 bytes each way and none), the layer gets its own method
 * table back: the rest of the connection costs nothing.  (A call already dispatched through our
 * copy still arrives here, and finds the work done.)
 */
static void observed(struct prfd *lower, int outgoing, const void *buf, int r)
{
	struct prfd *ssl = lower->higher;
	struct hello *h;

	if (r <= 0 || !ssl || !(h = cc_tls_user_get(ssl)))
		return;
	if (!h->have_random && h->n[outgoing] < sizeof(h->first[0])) {
		size_t take = sizeof(h->first[0]) - h->n[outgoing];
		take = (size_t)r < take ? (size_t)r : take;
		memcpy(h->first[outgoing] + h->n[outgoing], buf, take);
		h->n[outgoing] = (uint8_t)(h->n[outgoing] + take);
		if (hello_random(h->first[outgoing], h->n[outgoing], h->random) == 0) {
			h->client = (int8_t)outgoing;
			__atomic_store_n(&h->have_random, 1, __ATOMIC_RELEASE);
		}
	}
	if (h->have_random || (h->n[0] >= sizeof(h->first[0]) && h->n[1] >= sizeof(h->first[1])))
		lower->methods = orig_of(lower->methods);
}

static int lower_read(struct prfd *fd, void *buf, int amount)
{
	int r = ((int (*)(struct prfd *, void *, int))orig_of(fd->methods)->fn[M_READ])(fd, buf, amount);
	int saved = errno;
	observed(fd, 0, buf, r);
	errno = saved;
	return r;
}

static int lower_write(struct prfd *fd, const void *buf, int amount)
{
	int r = ((int (*)(struct prfd *, const void *, int))orig_of(fd->methods)->fn[M_WRITE])(fd, buf, amount);
	int saved = errno;
	observed(fd, 1, buf, r);
	errno = saved;
	return r;
}

static int lower_recv(struct prfd *fd, void *buf, int amount, int flags, unsigned timeout)
{
	int r = ((int (*)(struct prfd *, void *, int, int, unsigned))orig_of(fd->methods)->fn[M_RECV])(
		fd, buf, amount, flags, timeout);
	int saved = errno;
	if (!(flags & 2))       /* PR_MSG_PEEK: the same bytes come again */
		observed(fd, 0, buf, r);
	errno = saved;
	return r;
}

static int lower_send(struct prfd *fd, const void *buf, int amount, int flags, unsigned timeout)
{
	int r = ((int (*)(struct prfd *, const void *, int, int, unsigned))orig_of(fd->methods)->fn[M_SEND])(
		fd, buf, amount, flags, timeout);
	int saved = errno;
	observed(fd, 1, buf, r);
	errno = saved;
	return r;
}

/* Gives the layer below SSL a copy of its method table that observes its I/O. */
static void watch_lower(struct prfd *lower)
{
	const struct prmethods *orig = orig_of(lower->methods);
	int slot = -1;

	cc_lock(&keys_lock);
	for (int i = 0; i < TABLES && slot < 0; i++)
		if (tables[i].orig == orig || !tables[i].orig)
			slot = i;
	if (slot >= 0 && !tables[slot].orig) {
		tables[slot].copy = *orig;
		tables[slot].copy.fn[M_READ] = (void *)lower_read;
		tables[slot].copy.fn[M_WRITE] = (void *)lower_write;
		tables[slot].copy.fn[M_RECV] = (void *)lower_recv;
		tables[slot].copy.fn[M_SEND] = (void *)lower_send;
		__atomic_store_n(&tables[slot].orig, orig, __ATOMIC_RELEASE);
	}
	cc_unlock(&keys_lock);
	if (slot >= 0)
		lower->methods = &tables[slot].copy;
}

/* NSS's secret callback: epoch 1 early data, 2 handshake, 3 the first application traffic secrets. */
static void secret(struct prfd *fd, uint16_t epoch, int dir, void *key, void *arg)
{
	static const char *const labels[4][2] = {
		{ NULL, NULL },
		{ "CLIENT_EARLY_TRAFFIC_SECRET", "CLIENT_EARLY_TRAFFIC_SECRET" },
		{ "SERVER_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_HANDSHAKE_TRAFFIC_SECRET" },
		{ "SERVER_TRAFFIC_SECRET_0", "CLIENT_TRAFFIC_SECRET_0" },
	};
	struct hello *h = cc_tls_user_get(fd);
	struct secitem *item;
	int saved = errno;

	(void)arg;
	if (!h || !__atomic_load_n(&h->have_random, __ATOMIC_ACQUIRE) || epoch < 1 || epoch > 3 ||
	    !cc_tls_capturing())
		return;
	/* dir: 1 read, 2 write.  Whose secret it is: the client's when the client writes with it. */
	int clients = (dir == 2) == (h->client == 1);
	if (K.extract(key) != 0 || !(item = K.key_data(key)) || !item->data)
		return;
	cc_tls_keylog_secret(labels[epoch][clients], h->random, 32, item->data, item->len);
	errno = saved;
}

static int resolve_keys(void)
{
	if (__atomic_load_n(&K.ready, __ATOMIC_ACQUIRE))
		return 0;
	cc_lock(&keys_lock);
	if (!K.ready) {
		K.import = cc_optsym("libssl3.so", "SSL_ImportFD");
		K.dtls_import = cc_optsym("libssl3.so", "DTLS_ImportFD");
		K.experimental = cc_optsym("libssl3.so", "SSL_GetExperimentalAPI");
		K.extract = cc_optsym("libnss3.so", "PK11_ExtractKeyValue");
		K.key_data = cc_optsym("libnss3.so", "PK11_GetKeyData");
		if (K.import && K.dtls_import)
			__atomic_store_n(&K.ready, 1, __ATOMIC_RELEASE);
	}
	cc_unlock(&keys_lock);
	return K.ready ? 0 : -1;
}

/* A new SSL socket: its secrets to us, its ClientHello watched. */
static struct prfd *imported(struct prfd *ssl)
{
	if (ssl && cc_tls_capturing())
		cc_tls_session_seen();
	int (*set_cb)(struct prfd *, secret_cb, void *);
	int saved = errno;

	if (!ssl || !cc_tls_capturing() || resolve() < 0 || !K.experimental || !K.extract || !K.key_data ||
	    !(ssl = ssl_layer(ssl)) || !ssl->lower)
		return ssl;
	set_cb = K.experimental("SSL_SecretCallback");
	struct hello *h = calloc(1, sizeof(*h));
	if (set_cb && h) {
		h->client = -1;
		free(cc_tls_user_get(ssl));     /* a descriptor imported again */
		cc_tls_user_set(&lib, ssl, h);
		watch_lower(ssl->lower);
		set_cb(ssl, secret, NULL);
	} else {
		free(h);
	}
	errno = saved;
	return ssl;
}

CC_EXPORT struct prfd *SSL_ImportFD(struct prfd *model, struct prfd *fd)
{
	if (resolve_keys() < 0)
		return NULL;
	struct prfd *r = K.import(model, fd);
	imported(r);
	return r;
}

/* A server's connections come from PR_Accept on its SSL listening socket, not from SSL_ImportFD. */
CC_EXPORT struct prfd *PR_Accept(struct prfd *fd, void *addr, unsigned timeout)
{
	if (resolve() < 0 || !N.accept)
		return NULL;
	struct prfd *r = N.accept(fd, addr, timeout);
	if (r && cc_tls_capturing() && !depth && resolve_keys() == 0 && ssl_layer(r)) {
		int saved = errno;
		imported(r);
		errno = saved;
	}
	return r;
}

CC_EXPORT struct prfd *DTLS_ImportFD(struct prfd *model, struct prfd *fd)
{
	if (resolve_keys() < 0)
		return NULL;
	struct prfd *r = K.dtls_import(model, fd);
	imported(r);
	return r;
}

/* ---- Secrets (TLS 1.2 and older) ---- */

/* PKCS #11 mechanisms (pkcs11t.h, pkcs11n.h) of the master secret's derivation. */
enum {
	CKM_TLS_MASTER_KEY_DERIVE = 0x375, CKM_TLS_MASTER_KEY_DERIVE_DH = 0x377,
	CKM_TLS12_MASTER_KEY_DERIVE = 0x3e0, CKM_TLS12_MASTER_KEY_DERIVE_DH = 0x3e2,
};
#define CKM_NSS_TLS_EXTENDED_MASTER_KEY_DERIVE 0xce534369ul     /* CKM_NSS + 25 */
#define CKM_NSS_TLS_EXTENDED_MASTER_KEY_DERIVE_DH 0xce53436aul  /* CKM_NSS + 26 */

/* CK_SSL3_RANDOM_DATA, the head of CK_SSL3_MASTER_KEY_DERIVE_PARAMS and CK_TLS12_... */
struct ck_randoms {
	unsigned char *client;
	unsigned long client_len;
	unsigned char *server;
	unsigned long server_len;
};

void *PK11_DeriveWithFlags(void *base, unsigned long derive, struct secitem *param, unsigned long target,
			   unsigned long operation, int size, unsigned long flags);

static void *(*derive_real)(void *, unsigned long, struct secitem *, unsigned long, unsigned long, int,
			    unsigned long);

/*
 * Whether mech derives a TLS master secret; if so *cr is the client random it is for, or NULL
 * when that is not known.
 */
static int master_derive(unsigned long mech, const struct secitem *param, const uint8_t **cr)
{
	static const uint8_t zero[32];

	*cr = NULL;
	switch (mech) {
	case CKM_TLS_MASTER_KEY_DERIVE:
	case CKM_TLS_MASTER_KEY_DERIVE_DH:
	case CKM_TLS12_MASTER_KEY_DERIVE:
	case CKM_TLS12_MASTER_KEY_DERIVE_DH: {
		const struct ck_randoms *r = param && param->data && param->len >= sizeof(*r) ?
					     (const struct ck_randoms *)param->data : NULL;
		if (r && r->client_len == 32 && r->client && memcmp(r->client, zero, 32) != 0)
			*cr = r->client;
		return 1;
	}
	case CKM_NSS_TLS_EXTENDED_MASTER_KEY_DERIVE:
	case CKM_NSS_TLS_EXTENDED_MASTER_KEY_DERIVE_DH: {
		struct hello *h = current ? cc_tls_user_get(current) : NULL;
		if (h && __atomic_load_n(&h->have_random, __ATOMIC_ACQUIRE))
			*cr = h->random;
		return 1;
	}
	default:
		return 0;
	}
}

CC_EXPORT void *PK11_DeriveWithFlags(void *base, unsigned long derive, struct secitem *param, unsigned long target,
				     unsigned long operation, int size, unsigned long flags)
{
	void *(*real)(void *, unsigned long, struct secitem *, unsigned long, unsigned long, int, unsigned long) =
		__atomic_load_n(&derive_real, __ATOMIC_ACQUIRE);

	if (!real) {
		real = cc_optsym("libnss3.so", "PK11_DeriveWithFlags");
		if (!real)
			real = cc_real_lookup("PK11_DeriveWithFlags");
		if (!real) {
			cc_warn("PK11_DeriveWithFlags was called but libnss3's own could not be found");
			return NULL;
		}
		__atomic_store_n(&derive_real, real, __ATOMIC_RELEASE);
	}
	void *key = real(base, derive, param, target, operation, size, flags);
	const uint8_t *cr;
	if (!key || !cc_tls_capturing() || !master_derive(derive, param, &cr))
		return key;
	int saved = errno;
	struct secitem *item;
	if (resolve_keys() == 0 && K.extract && K.key_data && cr && K.extract(key) == 0 &&
	    (item = K.key_data(key)) && item->data && item->len == 48) {
		cc_tls_keylog_secret("CLIENT_RANDOM", cr, 32, item->data, item->len);
	} else {
		static int warned;
		if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
			cc_warn(cr ? "NSS TLS 1.2: a master secret could not be read (FIPS mode?): that session's "
				     "wire will not decrypt"
				   : "NSS TLS 1.2: a master secret whose client random is not known (handshake "
				     "outside a read or write): that session's wire will not decrypt");
	}
	errno = saved;
	return key;
}

void cc_tls_nss_init(void)
{
	cc_forklock_add(&resolve_lock, CC_RANK_RESOLVE);
	cc_forklock_add(&keys_lock, CC_RANK_TABLE);
}
