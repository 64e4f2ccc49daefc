/*
 * DTLS 1.2 with use_srtp between a client and a server of one process, over memory BIOs (no
 * socket: the keys never find a flow), then forks.  argv: CERT KEY MODE; MODE "leave": three
 * children exit at once by exit(); MODE "daemon": one child goes on with the sessions (a record
 * each way) and exits, the parent leaves by _exit.
 */
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void pump(SSL *from, SSL *to)
{
	char buf[4096];
	int n;

	while ((n = BIO_read(SSL_get_wbio(from), buf, sizeof(buf))) > 0)
		BIO_write(SSL_get_rbio(to), buf, n);
}

static SSL *end(SSL_CTX *ctx, int server)
{
	SSL *s = SSL_new(ctx);

	SSL_set_bio(s, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
	SSL_set_options(s, SSL_OP_NO_QUERY_MTU);
	DTLS_set_link_mtu(s, 1400);
	if (server)
		SSL_set_accept_state(s);
	else
		SSL_set_connect_state(s);
	return s;
}

static void export(SSL *s)
{
	unsigned char km[60];

	if (SSL_export_keying_material(s, km, sizeof(km), "EXTRACTOR-dtls_srtp", 19, NULL, 0, 0) != 1)
		exit(5);
}

static void talk(SSL *c, SSL *s, const char *m)
{
	char buf[100];

	SSL_write(c, m, (int)strlen(m));
	pump(c, s);
	if (SSL_read(s, buf, sizeof(buf)) != (int)strlen(m))
		exit(6);
}

int main(int argc, char **argv)
{
	SSL_CTX *sc = SSL_CTX_new(DTLS_server_method()), *cc = SSL_CTX_new(DTLS_client_method());

	if (argc < 4 || SSL_CTX_use_certificate_file(sc, argv[1], SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(sc, argv[2], SSL_FILETYPE_PEM) != 1)
		return 2;
	SSL_CTX_set_tlsext_use_srtp(sc, "SRTP_AES128_CM_SHA1_80");
	SSL_CTX_set_tlsext_use_srtp(cc, "SRTP_AES128_CM_SHA1_80");
	SSL *c = end(cc, 0), *s = end(sc, 1);
	for (int i = 0; i < 20 && !(SSL_is_init_finished(c) && SSL_is_init_finished(s)); i++) {
		SSL_do_handshake(c);
		pump(c, s);
		SSL_do_handshake(s);
		pump(s, c);
	}
	if (!SSL_is_init_finished(c) || !SSL_is_init_finished(s) || !SSL_get_selected_srtp_profile(c))
		return 3;
	export(c);
	export(s);
	if (!strcmp(argv[3], "leave")) {
		for (int k = 0; k < 3; k++) {
			pid_t p = fork();
			if (p == 0)
				exit(0);
			waitpid(p, NULL, 0);
		}
		printf("ok\n");
		return 0;
	}
	pid_t p = fork();
	if (p == 0) {
		talk(c, s, "from the child");
		talk(s, c, "and back");
		exit(0);
	}
	printf("ok\n");
	fflush(stdout);
	_exit(0);
}
