/*
 * The TLS-library seam: what every TLS library's adapter shares.
 *
 * An adapter (shim/tls_openssl.c, tls_gnutls.c, tls_nss.c, tls_mbedtls.c, tls_wolfssl.c) knows
 * one library's symbols, its session object and how to get its secrets; this part knows the rest,
 * the same for every library:
 * which flow a session's plaintext belongs to, the plaintext frames on that flow, record
 * matching for sessions on memory transports (dtlsmatch.c), the key log file and the pcapng
 * Decryption Secrets Blocks, DTLS-SRTP keys, and the counters of how each flow was found.
 *
 * How the flow of a plaintext is found, in order (the method is written in each packet's comment):
 *   nested  a wire packet moved by a socket call inside this very library call;
 *   record  the DTLS record that carried it was seen by a socket call (dtlsmatch.c);
 *   last    the flow this session used before (records buffered by an earlier call);
 *   fd      the library names the session's transport descriptor, a connected socket;
 *   unknown none of these: written with unspecified addresses and counted.
 *
 * Sessions are keyed by their object's address: objects of different libraries never share one.
 */
#ifndef CC_TLS_H
#define CC_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "pcapout/writer.h"
#include "shim/capture.h"

/* One TLS library, as an adapter describes it (a static object the adapter owns). */
struct cc_tls_lib {
	const char *fd_note;    /* the comment of a plaintext whose flow came from lib->fd */
	/* The descriptor the session writes (outgoing) or reads through, or -1 when not known. */
	int (*fd)(const void *sess, int outgoing);
};

/* Capture switched on (the per-call test of every adapter hook). */
static inline int cc_tls_capturing(void)
{
	return __atomic_load_n(&cc_on, __ATOMIC_RELAXED);
}

/*
 * An adapter made (or saw) a session of its library in this process: from then on a TLS or DTLS
 * handshake is no longer reported as one no hook can decrypt (capture.c's never-silent note).
 */
static inline void cc_tls_session_seen(void)
{
	if (!__atomic_load_n(&cc_tls_active, __ATOMIC_RELAXED)) {
		/* Before its first handshake packet: the writer holds packets for secrets from now on. */
		cc_writer_hold_for_secrets();
		__atomic_store_n(&cc_tls_active, 1, __ATOMIC_RELAXED);
	}
}

/*
 * Brackets a library call that may move records: socket calls inside it note the flow in
 * cc_nest (capture.c).  The call's own state is then in `copy`; the outer one is restored.  The
 * hot lanes (cc_hot_fd, cc_hot_rfd) are emptied once cc_nest.ssl is set, and not restored: a
 * signal handler's datagrams in between may have filled one for another socket, and the next
 * usual datagram fills it.
 */
#define CC_TLS_NEST_BEGIN(sess)                  \
	struct cc_nest saved_nest_ = cc_nest;    \
	cc_nest.ssl = (sess);                    \
	cc_nest.seen = 0;                        \
	cc_nest.in_key = 0;                      \
	cc_nest.out_plain = NULL;                \
	cc_nest.deferred = 0;                    \
	__atomic_signal_fence(__ATOMIC_SEQ_CST); \
	cc_hot_fd = CC_HOT_NONE;                 \
	cc_hot_rfd = CC_HOT_NONE;
#define CC_TLS_NEST_END(copy)                    \
	struct cc_nest copy = cc_nest;           \
	cc_nest = saved_nest_;

/* A handshake call moved wire packets through a socket (nest->seen): that is the session's flow. */
void cc_tls_handshake_flow(const struct cc_tls_lib *lib, const void *sess, const struct cc_nest *nest);

/*
 * After a call moved `n` plaintext bytes of `sess`: writes them on the flow found for them.
 * `rec` is a flow matched by DTLS record, or NULL; ts the time of its datagram (0: now).
 */
void cc_tls_plain(const struct cc_tls_lib *lib, const void *sess, const struct cc_nest *nest,
		  const struct cc_nest *rec, int outgoing, const void *buf, size_t n, uint64_t ts);

/*
 * A read of `n` bytes: on the nested flow, else on the flow of the DTLS record with this key
 * (received earlier by a socket call, or handed over by a transport callback in nest->in_key).
 */
void cc_tls_read_plain(const struct cc_tls_lib *lib, const void *sess, const struct cc_nest *nest, uint64_t key,
		       const void *buf, size_t n);

/* A write whose record (this key) waits in a memory transport: its plaintext waits for the datagram. */
void cc_tls_expect(const struct cc_tls_lib *lib, const void *sess, uint64_t key, const void *buf, size_t n);

/*
 * A TLS session over TCP on a memory transport (asyncio's ssl.SSLObject, any program moving the
 * records itself): its handshake left these bytes in the transport.  The TCP send that carries
 * them names the session's flow, as a nested socket call would have (method "last" from then on).
 */
void cc_tls_wire_expect(const struct cc_tls_lib *lib, const void *sess, const uint8_t *d, size_t n);

/* The end of one half of the session's plaintext stream (close_notify sent or received). */
void cc_tls_fin(const void *sess, int outgoing, const char *note);

/* The session is freed: its DTLS-SRTP keys, if still waiting for a flow, are logged without one. */
void cc_tls_drop(const void *sess);

/*
 * DTLS-SRTP keying material (RFC 5764 section 4.2: client key, server key, client salt, server
 * salt) for the SRTP protection profile `profile`: logged per direction once the flow is known.
 */
void cc_tls_srtp_keys(const struct cc_tls_lib *lib, const void *sess, unsigned long profile, int server,
		      const uint8_t *km, size_t len);

/* The largest DTLS-SRTP keying material cc_tls_srtp_keys keeps. */
#define CC_TLS_SRTP_KM_MAX (2 * (32 + 14))

/* One NSS key log line (no newline): to the key log file and as a Decryption Secrets Block. */
void cc_tls_keylog_line(const char *line);

/* The same from its parts: LABEL <client random in hex> <secret in hex>. */
void cc_tls_keylog_secret(const char *label, const uint8_t *client_random, size_t crlen, const uint8_t *secret,
			  size_t len);

/*
 * A pointer an adapter keeps per session (the program's own key log callback, for GnuTLS):
 * set creates the session's entry; get gives NULL when there is none.
 */
int cc_tls_user_set(const struct cc_tls_lib *lib, const void *sess, void *p);   /* 0, or -1: no room */
void *cc_tls_user_get(const void *sess);

/* Each adapter's start-up (its locks into the fork table): the adapter table in tls.c calls them. */
void cc_tls_openssl_init(void);
void cc_tls_gnutls_init(void);
void cc_tls_nss_init(void);
void cc_tls_mbedtls_init(void);
void cc_tls_wolfssl_init(void);

#endif
