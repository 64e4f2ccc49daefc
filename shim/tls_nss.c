/*
 * NSS hooks: the plaintext of SSL sockets, as NSPR's PR_Write/PR_Send accepted it and
 * PR_Read/PR_Recv returned it, on the 5-tuple of the connection that carried it.  No secrets yet:
 * see the end of this comment.
 *
 * NSS's SSL is a layer in NSPR's descriptor stack: the program calls NSPR's generic I/O on the
 * top descriptor, and a layer whose identity is named "SSL" (SSL_ImportFD) encrypts and writes to
 * the layer below, whose bottom is a socket written with libc's write/send.  So we hook NSPR's
 * entry points (libnspr4 is never linked; found in the loaded objects like every optional
 * library), capture only when an SSL layer is in the stack, and take the flow from the nested
 * socket calls, or from the bottom layer's OS descriptor (PR_FileDesc2NativeHandle).
 *
 * Secrets: Debian's libssl3 is built without NSS_ALLOW_SSLKEYLOGFILE (no SSLKEYLOGFILE support:
 * the string is absent from the library), and NSS's public API gives neither the TLS 1.2 master
 * secret nor the client random the NSS key log format needs; its experimental SSL_SecretCallback
 * gives TLS 1.3 secrets without the client random.  So NSS connections decrypt on the plaintext
 * interface only, not in the wire copy.
 *
 * This file knows only NSPR's symbols; the rest is the TLS seam's (shim/tls.c).
 */
#include "shim/hooks.h"
#include "shim/optlib.h"
#include "shim/ownfd.h"
#include "shim/real.h"
#include "shim/tls.h"

#include <errno.h>
#include <pthread.h>
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
	const char *(*name_of)(int);
	int (*native)(struct prfd *);
	int ready;
} N;

static pthread_mutex_t resolve_lock = PTHREAD_MUTEX_INITIALIZER;

static void *nsym(const char *name)
{
	void *p = cc_optsym("libnspr4.so", name);

	return p ? p : cc_real_lookup(name);
}

static int resolve(void)
{
	if (__atomic_load_n(&N.ready, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&resolve_lock);
	if (!N.ready) {
		N.write = nsym("PR_Write");
		N.read = nsym("PR_Read");
		N.send = nsym("PR_Send");
		N.recv = nsym("PR_Recv");
		N.writev = nsym("PR_Writev");
		N.close = nsym("PR_Close");
		N.name_of = nsym("PR_GetNameForIdentity");
		N.native = nsym("PR_FileDesc2NativeHandle");
		if (N.write && N.read && N.send && N.recv && N.close && N.name_of)
			__atomic_store_n(&N.ready, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&resolve_lock);
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

#define NSS_CALL(outgoing, real_call)                                           \
	if (resolve() < 0)                                                      \
		return -1;                                                      \
	struct prfd *ssl = NULL;                                                \
	if (!cc_tls_capturing() || depth || !(ssl = ssl_layer(fd)))             \
		return real_call;                                               \
	depth++;                                                                \
	CC_TLS_NEST_BEGIN(ssl);                                                 \
	int r = real_call;                                                      \
	CC_TLS_NEST_END(nest);                                                  \
	depth--;                                                                \
	int saved = errno;                                                      \
	if (r > 0 && (outgoing))                                                \
		cc_tls_plain(&lib, ssl, &nest, NULL, 1, buf, (size_t)r, 0);    \
	else if (r > 0)                                                         \
		cc_tls_read_plain(&lib, ssl, &nest, 0, buf, (size_t)r);         \
	else if (r == 0 && !(outgoing) && amount > 0)                           \
		cc_tls_fin(ssl, 0, "end of stream");                            \
	errno = saved;                                                          \
	return r;

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
	NSS_CALL(0, N.recv(fd, buf, amount, flags, timeout))
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
	CC_TLS_NEST_BEGIN(ssl);
	int r = N.writev(fd, iov, iov_size, timeout);
	CC_TLS_NEST_END(nest);
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
		cc_tls_drop(ssl);
		errno = saved;
	}
	return N.close(fd);
}

void cc_tls_nss_init(void)
{
	cc_forklock_add(&resolve_lock, CC_RANK_RESOLVE);
}
