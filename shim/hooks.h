/*
 * Shared by the hook files: what is exported, and the process-level state hooks consult.
 */
#ifndef CC_HOOKS_H
#define CC_HOOKS_H

#include <stdint.h>

/* Only hooked names leave the library (-fvisibility=hidden plus shim/exports.map). */
#define CC_EXPORT __attribute__((visibility("default")))

/* This process's id, refreshed in the fork child (getpid() would be a system call per packet). */
extern uint32_t cc_pid;

/*
 * Whether this process owns the memory it runs in.  A vfork child (CPython's subprocess, for
 * one) and a clone(2) child run no fork handler: they share their parent's memory, or hold a copy
 * made without the handlers (a writer thread that is not there, locks it held), so nothing of
 * ours may run or change there.  Told apart by the pid, a system call: asked only when there is
 * something to change (close, dup, exec, exit: never per packet).
 */
#include <unistd.h>
static inline int cc_own_memory(void)
{
	return (uint32_t)getpid() == cc_pid;
}

/* close() made as syscall(SYS_close) makes it, never a cancellation point (shim/hook_syscall.c). */
int cc_close_nocancel(int fd);

/* glibc's _FORTIFY_SOURCE entry points, which no public header declares. */
#include <sys/socket.h>
#include <sys/types.h>
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags, struct sockaddr *from,
		       socklen_t *fromlen);
ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);

/*
 * OpenSSL entry points we interpose.  OpenSSL's types stay opaque here: no OpenSSL header is
 * included, so the declarations use void pointers with the same calling convention.
 */
typedef void (*keylog_cb_t)(const void *ssl, const char *line);
int SSL_write(void *ssl, const void *buf, int num);
int SSL_do_handshake(void *ssl);
int SSL_connect(void *ssl);
int SSL_accept(void *ssl);
int SSL_write_ex(void *ssl, const void *buf, size_t num, size_t *written);
int SSL_read(void *ssl, void *buf, int num);
int SSL_read_ex(void *ssl, void *buf, size_t num, size_t *readbytes);
int SSL_shutdown(void *ssl);
void SSL_free(void *ssl);
void *SSL_new(void *ctx);
void SSL_CTX_set_keylog_callback(void *ctx, keylog_cb_t cb);
keylog_cb_t SSL_CTX_get_keylog_callback(const void *ctx);
void *SSL_set_SSL_CTX(void *ssl, void *ctx);
int SSL_export_keying_material(void *ssl, unsigned char *out, size_t olen, const char *label, size_t llen,
			       const unsigned char *context, size_t contextlen, int use_context);

/* posix_spawn's file actions (their object opaque here, as spawn.h is not included). */
int posix_spawn_file_actions_adddup2(void *fa, int fd, int newfd);
int posix_spawn_file_actions_addfchdir_np(void *fa, int fd);

int BIO_meth_set_write(void *meth, int (*fn)(void *, const char *, int));
int BIO_meth_set_read(void *meth, int (*fn)(void *, char *, int));
int (*BIO_meth_get_write(const void *meth))(void *, const char *, int);
int (*BIO_meth_get_read(const void *meth))(void *, char *, int);

/* libsrtp entry points, declared with six generic arguments: forwarded as they came. */
long srtp_protect(void *a, void *b, void *c, void *d, void *e, void *f);
long srtp_protect_mki(void *a, void *b, void *c, void *d, void *e, void *f);
long srtp_protect_rtcp(void *a, void *b, void *c, void *d, void *e, void *f);
long srtp_protect_rtcp_mki(void *a, void *b, void *c, void *d, void *e, void *f);
long srtp_unprotect(void *a, void *b, void *c, void *d, void *e, void *f);
long srtp_unprotect_mki(void *a, void *b, void *c, void *d, void *e, void *f);
long srtp_unprotect_rtcp(void *a, void *b, void *c, void *d, void *e, void *f);
long srtp_unprotect_rtcp_mki(void *a, void *b, void *c, void *d, void *e, void *f);
long srtp_create(void *a, void *b, void *c, void *d, void *e, void *f);
long srtp_add_stream(void *a, void *b, void *c, void *d, void *e, void *f);
long srtp_update(void *a, void *b, void *c, void *d, void *e, void *f);
void cc_srtp_exit(void);

/*
 * At exit, _exit or exec: 1 (and one warning) when this thread holds one of the shim's locks, so
 * the shim's exit work must be skipped: a signal handler that interrupted the shim is leaving.
 */
int cc_exit_blocked(void);

/* At exit: DTLS-SRTP keys never matched to a flow are logged without one. */
void cc_tls_exit(void);

/* In a forked child: keys waiting for their flow are logged only if the child finds it. */
void cc_tls_atfork_child(void);

/*
 * At start-up, capturing: the key log file and the modules' locks join the own-fd and fork
 * tables (cc_tls_init: the TLS seam's and every TLS library adapter's).
 */
void cc_tls_init(void);
void cc_srtp_init(void);

/*
 * In a forked child, after the fork lock table's: what the SRTP side holds for its exit report
 * (failed unprotects, key lines waiting for their flow) is the parent's, which writes it at its
 * own exit; the child starts with none, so nothing reaches the file or key log twice.
 */
void cc_srtp_atfork_child(void);

/* Start-up: binds real symbols, reads the configuration, registers fork handlers. */
void cc_init(void);

/* The bytes m's buffers hold (what a send moves, or what a receive has room for). */
static inline size_t cc_msg_room(const struct msghdr *m)
{
	size_t room = 0;

	for (size_t i = 0; i < m->msg_iovlen; i++)
		room += m->msg_iov[i].iov_len;
	return room;
}

#endif
