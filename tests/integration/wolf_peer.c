/*
 * A small wolfSSL client and server (tests/integration/test_tls_libs.py builds it against
 * Debian's libwolfssl): the server echoes every record back, the client sends each argument as
 * one record, prints each echo and closes with close_notify.
 *
 *   wolf_peer server tls12|tls13|dtls12 PORT CERT KEY
 *   wolf_peer client tls12|tls13|dtls12 PORT MESSAGE...
 */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "wolf_peer: %s\n", what);
	exit(1);
}

int main(int argc, char **argv)
{
	if (argc < 4)
		die("usage: wolf_peer server|client tls12|tls13|dtls12 PORT ...");
	int server = strcmp(argv[1], "server") == 0;
	int dtls = strcmp(argv[2], "dtls12") == 0, tls13 = strcmp(argv[2], "tls13") == 0;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[3])) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	wolfSSL_Init();
	WOLFSSL_METHOD *m = server ? (dtls ? wolfDTLSv1_2_server_method() : tls13 ? wolfTLSv1_3_server_method()
					 : wolfTLSv1_2_server_method())
				   : (dtls ? wolfDTLSv1_2_client_method() : tls13 ? wolfTLSv1_3_client_method()
					 : wolfTLSv1_2_client_method());
	WOLFSSL_CTX *ctx = wolfSSL_CTX_new(m);
	if (!ctx)
		die("wolfSSL_CTX_new");
	/* An AES-GCM suite for the 1.2 versions: Wireshark 4.0 decrypts no DTLS 1.2 ChaCha20. */
	if (!tls13 && wolfSSL_CTX_set_cipher_list(ctx, "ECDHE-RSA-AES128-GCM-SHA256") != WOLFSSL_SUCCESS)
		die("cipher list");
	if (server) {
		if (argc < 6 || wolfSSL_CTX_use_certificate_file(ctx, argv[4], WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS ||
		    wolfSSL_CTX_use_PrivateKey_file(ctx, argv[5], WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS)
			die("certificate or key");
	} else {
		wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_NONE, NULL);
	}
	int one = 1, fd = socket(AF_INET, dtls ? SOCK_DGRAM : SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	WOLFSSL *ssl;
	if (server) {
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			die("bind");
		if (dtls) {
			struct sockaddr_in peer;
			socklen_t plen = sizeof(peer);
			char b[1];
			/* The first ClientHello names the peer; the socket is then connected to it. */
			if (recvfrom(fd, b, sizeof(b), MSG_PEEK, (struct sockaddr *)&peer, &plen) < 0 ||
			    connect(fd, (struct sockaddr *)&peer, plen) < 0)
				die("peer");
			ssl = wolfSSL_new(ctx);
			wolfSSL_dtls_set_peer(ssl, &peer, plen);
		} else {
			if (listen(fd, 1) < 0)
				die("listen");
			int c = accept(fd, NULL, NULL);
			if (c < 0)
				die("accept");
			close(fd);
			fd = c;
			ssl = wolfSSL_new(ctx);
		}
		wolfSSL_set_fd(ssl, fd);
		if (wolfSSL_accept(ssl) != WOLFSSL_SUCCESS) {
			fprintf(stderr, "wolf_peer: wolfSSL_accept: error %d\n", wolfSSL_get_error(ssl, 0));
			return 1;
		}
		char buf[4096];
		int n;
		while ((n = wolfSSL_read(ssl, buf, sizeof(buf))) > 0)
			if (wolfSSL_write(ssl, buf, n) != n)
				die("wolfSSL_write");
		wolfSSL_shutdown(ssl);
	} else {
		ssl = wolfSSL_new(ctx);
		if (dtls)
			wolfSSL_dtls_set_peer(ssl, &sa, sizeof(sa));
		else if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			die("connect");
		wolfSSL_set_fd(ssl, fd);
		if (wolfSSL_connect(ssl) != WOLFSSL_SUCCESS) {
			fprintf(stderr, "wolf_peer: wolfSSL_connect: error %d\n", wolfSSL_get_error(ssl, 0));
			return 1;
		}
		for (int i = 4; i < argc; i++) {
			char buf[4096];
			int len = (int)strlen(argv[i]), got = 0, n;
			if (wolfSSL_write(ssl, argv[i], len) != len)
				die("wolfSSL_write");
			while (got < len && (n = wolfSSL_read(ssl, buf + got, (int)sizeof(buf) - got)) > 0)
				got += n;
			fwrite(buf, 1, (size_t)got, stdout);
			fputc('\n', stdout);
		}
		wolfSSL_shutdown(ssl);
	}
	wolfSSL_free(ssl);
	wolfSSL_CTX_free(ctx);
	close(fd);
	wolfSSL_Cleanup();
	return 0;
}
