/*
 * Corners of the TLS libraries' APIs where a shim that wraps callbacks and records plaintext
 * could change a program or its capture (test_tls_libs.test_*_corner*).  One library per build:
 *
 *   -DOPENSSL  (-lssl -lcrypto)   BIO_meth_get_write/get_read give back the callbacks the program
 *              set; with "dtls CERT KEY RETRY", a DTLS client whose custom write BIO refuses
 *              its record once, then (RETRY 1) takes it on the program's second SSL_write.
 *   -DMBEDTLS  (-lmbedtls -lmbedx509 -lmbedcrypto)  an export-keys callback set before
 *              mbedtls_ssl_config_defaults gets the program's own context pointer; a PSK
 *              handshake between two in-memory ends.
 *   -DNSS      PORT PEEK (-lssl3 -lnss3 -lnspr4)  a client that reads the server's line, after
 *              peeking at it (PR_MSG_PEEK) when PEEK is 1.
 *   -DGNUTLS   PORT NULLRETRY (-lgnutls)  a non-blocking client sending 40 x 8 KiB; after
 *              GNUTLS_E_AGAIN it calls again with NULL, 0 (NULLRETRY 1) or the same buffer.
 *
 * Prints what the program sees; nothing printed depends on ports or time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef OPENSSL
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
static int w(BIO *b, const char *d, int n) { (void)b; (void)d; return n; }
static int r(BIO *b, char *d, int n) { (void)b; (void)d; (void)n; return 0; }

/* dtls CERT KEY RETRY: a DTLS client's custom write BIO refuses the record once (retry later). */
static int refuse = 1, bio_writes;
static int refusing_write(BIO *b, const char *d, int n)
{
	(void)d;
	bio_writes++;
	if (refuse) {
		BIO_set_retry_write(b);
		return -1;
	}
	return n;
}
static long flush_ctrl(BIO *b, int cmd, long l, void *p)
{
	(void)b; (void)l; (void)p;
	return cmd == BIO_CTRL_FLUSH;
}
static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}
static void shuttle(BIO *from, BIO *to)
{
	char buf[4096];
	int n;
	while ((n = BIO_read(from, buf, sizeof buf)) > 0)
		BIO_write(to, buf, n);
}
static int dtls_refused(const char *cert, const char *key, int retry)
{
	SSL_CTX *sc = SSL_CTX_new(DTLS_server_method()), *cc = SSL_CTX_new(DTLS_client_method());
	SSL_CTX_use_certificate_file(sc, cert, SSL_FILETYPE_PEM);
	SSL_CTX_use_PrivateKey_file(sc, key, SSL_FILETYPE_PEM);
	SSL *c = SSL_new(cc), *s = SSL_new(sc);
	BIO *cr = BIO_new(BIO_s_mem()), *cw = BIO_new(BIO_s_mem()), *sr = BIO_new(BIO_s_mem()), *sw = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(cr, -1);
	BIO_set_mem_eof_return(sr, -1);
	SSL_set_bio(c, cr, cw);
	SSL_set_bio(s, sr, sw);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	for (int i = 0; i < 20; i++) {
		SSL_do_handshake(c);
		shuttle(cw, sr);
		SSL_do_handshake(s);
		shuttle(sw, cr);
	}
	printf("handshake done: %d %d\n", SSL_is_init_finished(c), SSL_is_init_finished(s));
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "refusing");
	BIO_meth_set_write(m, refusing_write);
	BIO_meth_set_ctrl(m, flush_ctrl);
	BIO_meth_set_create(m, bio_create);
	SSL_set0_wbio(c, BIO_new(m));
	int n = SSL_write(c, "REFUSED-ONCE", 12);
	printf("SSL_write, the BIO refusing: %d, error %d\n", n, SSL_get_error(c, n));
	ERR_clear_error();
	if (retry) {
		refuse = 0;
		printf("SSL_write again: %d\n", SSL_write(c, "REFUSED-ONCE", 12));
	}
	printf("BIO writes: %d\n", bio_writes);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "dtls"))
		return dtls_refused(argv[2], argv[3], atoi(argv[4]));
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "corner");
	BIO_meth_set_write(m, w);
	BIO_meth_set_read(m, r);
	printf("get_write is the program's: %d, get_read is the program's: %d\n", BIO_meth_get_write(m) == w,
	       BIO_meth_get_read(m) == r);
	BIO_meth_free(m);
	return 0;
}
#endif

#ifdef MBEDTLS
#include <mbedtls/ssl.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ctr_drbg.h>
struct pipe { unsigned char b[65536]; size_t n; };
static struct pipe c2s, s2c;
struct ends { struct pipe *out, *in; };
static int psend(void *p, const unsigned char *d, size_t n)
{
	struct pipe *q = ((struct ends *)p)->out;
	memcpy(q->b + q->n, d, n);
	q->n += n;
	return (int)n;
}
static int precv(void *p, unsigned char *d, size_t n)
{
	struct pipe *q = ((struct ends *)p)->in;
	if (!q->n)
		return MBEDTLS_ERR_SSL_WANT_READ;
	if (n > q->n)
		n = q->n;
	memcpy(d, q->b, n);
	memmove(q->b, q->b + n, q->n - n);
	q->n -= n;
	return (int)n;
}
static int marker, calls;
static int cb(void *p, const unsigned char *ms, const unsigned char *kb, size_t a, size_t b, size_t c)
{
	(void)ms; (void)kb; (void)a; (void)b; (void)c;
	printf("the program's export-keys callback, call %d: context pointer is the program's: %d\n", ++calls, p == &marker);
	return 0;
}
int main(void)
{
	mbedtls_entropy_context ent;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_ssl_config cc, sc;
	mbedtls_ssl_context c, s;
	static const unsigned char psk[16] = "0123456789abcdef";
	static const int suites[] = { MBEDTLS_TLS_PSK_WITH_AES_128_GCM_SHA256, 0 };
	static struct ends ce = { &c2s, &s2c }, se = { &s2c, &c2s };

	mbedtls_entropy_init(&ent);
	mbedtls_ctr_drbg_init(&drbg);
	mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent, NULL, 0);
	mbedtls_ssl_config_init(&cc);
	mbedtls_ssl_config_init(&sc);
	mbedtls_ssl_conf_export_keys_cb(&cc, cb, &marker);     /* before config_defaults */
	mbedtls_ssl_config_defaults(&cc, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM, 0);
	mbedtls_ssl_config_defaults(&sc, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM, 0);
	for (mbedtls_ssl_config *k = &cc; k; k = k == &cc ? &sc : NULL) {
		mbedtls_ssl_conf_rng(k, mbedtls_ctr_drbg_random, &drbg);
		mbedtls_ssl_conf_psk(k, psk, 16, (const unsigned char *)"id", 2);
		mbedtls_ssl_conf_ciphersuites(k, suites);
	}
	mbedtls_ssl_init(&c);
	mbedtls_ssl_init(&s);
	mbedtls_ssl_setup(&c, &cc);
	mbedtls_ssl_setup(&s, &sc);
	mbedtls_ssl_set_bio(&c, &ce, psend, precv, NULL);
	mbedtls_ssl_set_bio(&s, &se, psend, precv, NULL);
	int rc = 1, rs = 1;
	for (int i = 0; i < 50 && (rc || rs); i++) {
		if (rc)
			rc = mbedtls_ssl_handshake(&c);
		if (rs)
			rs = mbedtls_ssl_handshake(&s);
		if ((rc && rc != MBEDTLS_ERR_SSL_WANT_READ) || (rs && rs != MBEDTLS_ERR_SSL_WANT_READ))
			break;
	}
	printf("handshake: client %d, server %d\n", rc, rs);
	return 0;
}
#endif

#ifdef NSS
#include <nss.h>
#include <ssl.h>
#include <prio.h>
#include <prnetdb.h>
static SECStatus auth(void *a, PRFileDesc *fd, PRBool c, PRBool s)
{
	(void)a; (void)fd; (void)c; (void)s;
	return SECSuccess;
}
int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	NSS_NoDB_Init(NULL);
	NSS_SetDomesticPolicy();
	PRFileDesc *s = SSL_ImportFD(NULL, PR_NewTCPSocket());
	SSL_OptionSet(s, SSL_HANDSHAKE_AS_CLIENT, PR_TRUE);
	SSL_AuthCertificateHook(s, auth, NULL);
	SSL_SetURL(s, "localhost");
	PRNetAddr a;
	PR_InitializeNetAddr(PR_IpAddrLoopback, (PRUint16)atoi(argv[1]), &a);
	if (PR_Connect(s, &a, PR_INTERVAL_NO_TIMEOUT) != PR_SUCCESS) {
		printf("connect failed: %d\n", PR_GetError());
		return 1;
	}
	char buf[100];
	int n;
	if (atoi(argv[2])) {
		n = PR_Recv(s, buf, sizeof buf, PR_MSG_PEEK, PR_INTERVAL_NO_TIMEOUT);
		printf("peeked %d: %.*s", n, n > 0 ? n : 0, buf);
	}
	n = PR_Recv(s, buf, sizeof buf, 0, PR_INTERVAL_NO_TIMEOUT);
	printf("read %d: %.*s", n, n > 0 ? n : 0, buf);
	PR_Write(s, "bye\n", 4);
	PR_Close(s);
	return 0;
}
#endif

#ifdef GNUTLS
#include <gnutls/gnutls.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	gnutls_session_t s;
	gnutls_certificate_credentials_t cred;

	if (argc < 3)
		return 2;
	int nullretry = atoi(argv[2]);
	gnutls_global_init();
	gnutls_certificate_allocate_credentials(&cred);
	gnutls_init(&s, GNUTLS_CLIENT);
	gnutls_set_default_priority(s);
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int sb = 4096;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sb, sizeof sb);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])) };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (connect(fd, (void *)&a, sizeof a)) {
		perror("connect");
		return 1;
	}
	gnutls_transport_set_int(s, fd);
	int r = gnutls_handshake(s);
	if (r < 0) {
		printf("handshake: %s\n", gnutls_strerror(r));
		return 1;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	static char buf[8192];
	long total = 0;
	int again = 0;
	for (int i = 0; i < 40; i++) {
		memset(buf, 'a' + i % 26, sizeof buf);
		ssize_t n = gnutls_record_send(s, buf, sizeof buf);
		while (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
			again = 1;
			if (nullretry)
				memset(buf, '#', sizeof buf);   /* the buffer is the program's again */
			struct pollfd p = { fd, POLLOUT, 0 };
			poll(&p, 1, 1000);
			n = nullretry ? gnutls_record_send(s, NULL, 0) : gnutls_record_send(s, buf, sizeof buf);
		}
		if (n < 0) {
			printf("send: %s\n", gnutls_strerror((int)n));
			break;
		}
		total += n;
	}
	fcntl(fd, F_SETFL, 0);
	gnutls_bye(s, GNUTLS_SHUT_WR);
	printf("sent %ld, waited for room: %s\n", total, again ? "yes" : "no");
	/* Until the server has read it all and closed: a close with unread bytes here (its session
	 * tickets) would reset the connection under it. */
	char rest[4096];
	while (read(fd, rest, sizeof rest) > 0)
		;
	close(fd);
	/* (_exit: p11-kit's destructor hangs in freelocale under a preloaded ASan, shim or not.) */
	fflush(stdout);
	_exit(0);
}
#endif
