/*
 * A small mbedTLS DTLS 1.2 client and server with use_srtp (tests/integration/test_tls_libs.py
 * builds it against Debian's libmbedtls-dev): a pre-shared key, so no certificate; the server
 * echoes every record back, the client sends each argument as one record, prints each echo and
 * the negotiated SRTP profile, and closes with close_notify.  No SRTP is sent: the test is about
 * the keys mbedTLS's DTLS-SRTP handshake gives the program.
 *
 *   mbed_peer server PORT
 *   mbed_peer client PORT MESSAGE...
 */
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/timing.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *what, int r)
{
	fprintf(stderr, "mbed_peer: %s (-0x%04x)\n", what, (unsigned)-r);
	exit(1);
}

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
	ssize_t n = send(*(int *)ctx, buf, len, 0);

	return n < 0 ? MBEDTLS_ERR_NET_SEND_FAILED : (int)n;
}

static int bio_recv_timeout(void *ctx, unsigned char *buf, size_t len, uint32_t ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	setsockopt(*(int *)ctx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	ssize_t n = recv(*(int *)ctx, buf, len, 0);
	return n < 0 ? MBEDTLS_ERR_SSL_TIMEOUT : (int)n;
}

int main(int argc, char **argv)
{
	static const mbedtls_ssl_srtp_profile profiles[] = { MBEDTLS_TLS_SRTP_AES128_CM_HMAC_SHA1_80,
							     MBEDTLS_TLS_SRTP_AES128_CM_HMAC_SHA1_32,
							     MBEDTLS_TLS_SRTP_UNSET };
	static const int suites[] = { MBEDTLS_TLS_PSK_WITH_AES_128_GCM_SHA256, 0 };
	static const unsigned char psk[] = "clearcap test pre-shared key";

	if (argc < 3)
		die("usage: mbed_peer server|client PORT [MESSAGE...]", 0);
	int server = strcmp(argv[1], "server") == 0;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[2])) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (server) {
		struct sockaddr_in peer;
		socklen_t pl = sizeof peer;
		char b;

		if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
			die("bind", 0);
		/* the first datagram names the client: connect to it, then DTLS on a connected socket */
		if (recvfrom(fd, &b, 1, MSG_PEEK, (struct sockaddr *)&peer, &pl) < 0 ||
		    connect(fd, (struct sockaddr *)&peer, pl) < 0)
			die("first datagram", 0);
	} else if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		die("connect", 0);
	}

	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_ssl_config conf;
	mbedtls_ssl_context ssl;
	mbedtls_timing_delay_context timer;
	int r;

	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	mbedtls_ssl_config_init(&conf);
	mbedtls_ssl_init(&ssl);
	if ((r = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0)) != 0)
		die("drbg", r);
	if ((r = mbedtls_ssl_config_defaults(&conf, server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
					     MBEDTLS_SSL_TRANSPORT_DATAGRAM, MBEDTLS_SSL_PRESET_DEFAULT)) != 0)
		die("config", r);
	mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
	mbedtls_ssl_conf_ciphersuites(&conf, suites);
	if ((r = mbedtls_ssl_conf_psk(&conf, psk, sizeof psk - 1, (const unsigned char *)"cc", 2)) != 0)
		die("psk", r);
	if ((r = mbedtls_ssl_conf_dtls_srtp_protection_profiles(&conf, profiles)) != 0)
		die("srtp profiles", r);
	if (server)
		mbedtls_ssl_conf_dtls_cookies(&conf, NULL, NULL, NULL);
	if ((r = mbedtls_ssl_setup(&ssl, &conf)) != 0)
		die("setup", r);
	mbedtls_ssl_set_bio(&ssl, &fd, bio_send, NULL, bio_recv_timeout);
	mbedtls_ssl_set_timer_cb(&ssl, &timer, mbedtls_timing_set_delay, mbedtls_timing_get_delay);
	while ((r = mbedtls_ssl_handshake(&ssl)) != 0)
		if (r != MBEDTLS_ERR_SSL_WANT_READ && r != MBEDTLS_ERR_SSL_WANT_WRITE)
			die("handshake", r);

	mbedtls_dtls_srtp_info info;
	mbedtls_ssl_get_dtls_srtp_negotiation_result(&ssl, &info);
	printf("srtp profile %u\n", info.chosen_dtls_srtp_profile);
	fflush(stdout);

	unsigned char buf[2048];
	if (server) {
		while ((r = mbedtls_ssl_read(&ssl, buf, sizeof buf)) > 0 || r == MBEDTLS_ERR_SSL_WANT_READ ||
		       r == MBEDTLS_ERR_SSL_TIMEOUT)
			if (r > 0 && mbedtls_ssl_write(&ssl, buf, (size_t)r) != r)
				die("echo", 0);
		if (r != MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
			die("read", r);
	} else {
		for (int i = 3; i < argc; i++) {
			if ((r = mbedtls_ssl_write(&ssl, (const unsigned char *)argv[i], strlen(argv[i]))) < 0)
				die("write", r);
			do
				r = mbedtls_ssl_read(&ssl, buf, sizeof buf - 1);
			while (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_TIMEOUT);
			if (r <= 0)
				die("read echo", r);
			printf("%.*s\n", r, buf);
		}
		mbedtls_ssl_close_notify(&ssl);
	}
	mbedtls_ssl_free(&ssl);
	mbedtls_ssl_config_free(&conf);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&entropy);
	close(fd);
	return 0;
}
