/*
 * heprelay.c - HEP to the collector over TLS (`clearcap --hep tls:HOST:PORT`), relayed by the
 * wrapper.
 *
 * The shim runs inside the program and links no TLS library, and loading one into a program that
 * has none would change it.  So the shims send HEP over TCP to a listener of the wrapper's on the
 * loopback (CLEARCAP_HEP=tcp:127.0.0.1:PORT, the path `--hep tcp:` already has, with its queue and
 * its drop counts), and this thread forwards each whole HEP packet over one TLS connection to the
 * collector, verifying its certificate (the system's CAs, or --hep-ca FILE; the name or address
 * given must match) unless --hep-insecure.  The wrapper resolves HOST (it may do DNS: it is not
 * the program).  What cannot go (collector unreachable, handshake or verification failed, a write
 * failed) is counted as dropped, the connection retried once a second.  The listener is
 * close-on-exec: the program never sees it.
 */
#include "tools/heprelay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONNS 64                        /* processes sending at once */
#define CONN_BUF (128u << 10)           /* two whole HEP packets (each at most 64 KiB) */
#define RETRY_NS 1000000000ull
#define IO_TIMEOUT_S 2

struct conn {
	int fd;
	size_t len;
	uint8_t *buf;
};

struct cc_heprelay {
	char host[256], port[8];
	const char *ca;
	int insecure;
	int lfd;
	pthread_t thread;
	int stop;                       /* atomic: the program has exited */
	struct conn conns[CONNS];
	SSL_CTX *ctx;
	SSL *ssl;
	int tfd;
	uint64_t next_try;
	uint64_t relayed, dropped;      /* atomic */
	char why[200];                  /* the first failure, for the summary */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void fail(struct cc_heprelay *r, const char *what)
{
	if (r->why[0])
		return;
	unsigned long e = ERR_get_error();
	char buf[120] = "";

	if (e)
		ERR_error_string_n(e, buf, sizeof buf);
	snprintf(r->why, sizeof r->why, "%s%s%s", what, buf[0] ? ": " : "", buf);
}

static void tls_close(struct cc_heprelay *r)
{
	if (r->ssl) {
		SSL_free(r->ssl);
		r->ssl = NULL;
	}
	if (r->tfd >= 0) {
		close(r->tfd);
		r->tfd = -1;
	}
	ERR_clear_error();
}

/*
 * Our half closed, what the collector still sends (session tickets, its own close_notify) read
 * and dropped until it closes, 1 s at most: closing a socket with unread bytes sends a reset,
 * and a collector that meets the reset before it has read everything loses the rest (Kamailio's
 * TLS reader does: "Connection reset by peer" and all but the first HEP packet gone).
 */
static void drain(int fd)
{
	uint64_t end = mono_ns() + 1000000000ull;
	char sink[4096];

	shutdown(fd, SHUT_WR);
	for (uint64_t now = mono_ns(); now < end; now = mono_ns()) {
		struct pollfd p = { fd, POLLIN, 0 };

		if (poll(&p, 1, (int)((end - now) / 1000000) + 1) != 1 ||
		    recv(fd, sink, sizeof sink, MSG_DONTWAIT) <= 0)
			break;
	}
}

/* A TCP connection to HOST:PORT within the timeout, blocking afterwards with I/O timeouts. */
static int tcp_connect(struct cc_heprelay *r)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	struct timeval tv = { IO_TIMEOUT_S, 0 };
	int fd = -1;

	if (getaddrinfo(r->host, r->port, &hints, &res) != 0) {
		fail(r, "cannot resolve the collector's name");
		return -1;
	}
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno == EINPROGRESS) {
			struct pollfd p = { fd, POLLOUT, 0 };
			int err = 0;
			socklen_t l = sizeof err;

			if (poll(&p, 1, IO_TIMEOUT_S * 1000) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0 || err)
				errno = err ? err : ETIMEDOUT;
			else
				errno = 0;
		} else {
			errno = 0;
		}
		if (errno) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0) {
		fail(r, "cannot connect to the collector");
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return fd;
}

/* The TLS connection, verified; 0, or -1 (counted by the caller, retried later). */
static int tls_open(struct cc_heprelay *r)
{
	unsigned char ip[16];

	r->tfd = tcp_connect(r);
	if (r->tfd < 0)
		return -1;
	r->ssl = SSL_new(r->ctx);
	if (r->ssl == NULL)
		goto bad;
	SSL_set_fd(r->ssl, r->tfd);
	if (!r->insecure) {
		int numeric = inet_pton(AF_INET, r->host, ip) == 1 || inet_pton(AF_INET6, r->host, ip) == 1;

		if (numeric ? !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(r->ssl), r->host)
			    : !SSL_set1_host(r->ssl, r->host))
			goto bad;
	}
	if (inet_pton(AF_INET, r->host, ip) != 1 && inet_pton(AF_INET6, r->host, ip) != 1)
		SSL_set_tlsext_host_name(r->ssl, r->host);
	if (SSL_connect(r->ssl) != 1) {
		long v = SSL_get_verify_result(r->ssl);

		if (v != X509_V_OK) {
			char what[160];

			snprintf(what, sizeof what, "the collector's certificate: %s (--hep-ca FILE, or --hep-insecure)",
				 X509_verify_cert_error_string(v));
			fail(r, what);
		} else {
			fail(r, "TLS handshake with the collector failed");
		}
		goto bad;
	}
	return 0;
bad:
	tls_close(r);
	return -1;
}

/* One whole HEP packet to the collector, or counted as dropped. */
static void forward(struct cc_heprelay *r, const uint8_t *p, size_t n)
{
	uint64_t now = mono_ns();

	if (r->ssl == NULL && now >= r->next_try && tls_open(r) < 0)
		r->next_try = now + RETRY_NS;
	if (r->ssl != NULL && SSL_write(r->ssl, p, (int)n) == (int)n) {
		__atomic_fetch_add(&r->relayed, 1, __ATOMIC_RELAXED);
		return;
	}
	if (r->ssl != NULL) {
		fail(r, "writing to the collector failed");
		tls_close(r);
		r->next_try = now + RETRY_NS;
	}
	__atomic_fetch_add(&r->dropped, 1, __ATOMIC_RELAXED);
}

/* What a shim sent: whole HEP packets ("HEP3", 16-bit total length) go on, the rest waits. */
static int take(struct cc_heprelay *r, struct conn *c)
{
	ssize_t n = read(c->fd, c->buf + c->len, CONN_BUF - c->len);
	size_t off = 0;

	if (n <= 0)
		return n == 0 || (errno != EAGAIN && errno != EINTR) ? -1 : 0;
	c->len += (size_t)n;
	while (c->len - off >= 6) {
		size_t plen = (size_t)c->buf[off + 4] << 8 | c->buf[off + 5];

		if (memcmp(c->buf + off, "HEP3", 4) != 0 || plen < 6)
			return -1;      /* not HEP: not from a shim */
		if (c->len - off < plen)
			break;
		forward(r, c->buf + off, plen);
		off += plen;
	}
	memmove(c->buf, c->buf + off, c->len - off);
	c->len -= off;
	return 0;
}

static void *relay_main(void *arg)
{
	struct cc_heprelay *r = arg;
	uint64_t deadline = 0;

	for (;;) {
		struct pollfd p[CONNS + 1];
		int open = 0;

		p[0] = (struct pollfd){ r->lfd, POLLIN, 0 };
		for (int i = 0; i < CONNS; i++) {
			p[i + 1] = (struct pollfd){ r->conns[i].fd, POLLIN, 0 };
			open += r->conns[i].fd >= 0;
		}
		/* After the program: on until every process closed its connection, 2 s at most. */
		if (__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
			if (!deadline)
				deadline = mono_ns() + 2000000000ull;
			if (!open || mono_ns() >= deadline)
				break;
		}
		if (poll(p, CONNS + 1, 50) <= 0)
			continue;
		if (p[0].revents & POLLIN) {
			int fd = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

			for (int i = 0; fd >= 0 && i < CONNS; i++)
				if (r->conns[i].fd < 0) {
					r->conns[i].fd = fd;
					r->conns[i].len = 0;
					fd = -1;
				}
			if (fd >= 0)
				close(fd);      /* too many: that process counts its HEP as dropped */
		}
		for (int i = 0; i < CONNS; i++)
			if (r->conns[i].fd >= 0 && (p[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) &&
			    take(r, &r->conns[i]) < 0) {
				close(r->conns[i].fd);
				r->conns[i].fd = -1;
			}
	}
	if (r->ssl) {
		SSL_shutdown(r->ssl);
		drain(r->tfd);
	}
	tls_close(r);
	return NULL;
}

struct cc_heprelay *cc_heprelay_start(const char *spec, const char *ca, int insecure, char *url, size_t ulen,
				      char *err, size_t elen)
{
	struct cc_heprelay *r = calloc(1, sizeof *r);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof a;
	const char *colon = strrchr(spec, ':');
	size_t hl = colon ? (size_t)(colon - spec) : 0;

	if (r == NULL) {
		snprintf(err, elen, "out of memory");
		return NULL;
	}
	r->lfd = r->tfd = -1;
	if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']')
		spec++, hl -= 2;
	if (!colon || !hl || hl >= sizeof r->host || strlen(colon + 1) >= sizeof r->port || !colon[1]) {
		snprintf(err, elen, "expected tls:HOST:PORT");
		goto bad;
	}
	memcpy(r->host, spec, hl);
	strcpy(r->port, colon + 1);
	r->ca = ca;
	r->insecure = insecure;
	for (int i = 0; i < CONNS; i++) {
		r->conns[i].fd = -1;
		r->conns[i].buf = malloc(CONN_BUF);
		if (r->conns[i].buf == NULL) {
			snprintf(err, elen, "out of memory");
			goto bad;
		}
	}
	r->ctx = SSL_CTX_new(TLS_client_method());
	if (r->ctx == NULL || !SSL_CTX_set_min_proto_version(r->ctx, TLS1_2_VERSION)) {
		snprintf(err, elen, "cannot set up TLS");
		goto bad;
	}
	SSL_CTX_set_verify(r->ctx, insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
	if (!insecure && !(ca ? SSL_CTX_load_verify_locations(r->ctx, ca, NULL) : SSL_CTX_set_default_verify_paths(r->ctx))) {
		snprintf(err, elen, "cannot read the CA certificates %s", ca ? ca : "of the system");
		goto bad;
	}
	r->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (r->lfd < 0 || bind(r->lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(r->lfd, 64) < 0 ||
	    getsockname(r->lfd, (struct sockaddr *)&a, &al) < 0) {
		snprintf(err, elen, "cannot listen on the loopback: %s", strerror(errno));
		goto bad;
	}
	snprintf(url, ulen, "tcp:127.0.0.1:%u", ntohs(a.sin_port));
	/*
	 * The relay thread takes no signal meant for the process: the wrapper's main thread waits
	 * for them or handles them (^Z's handler in progress.c must not run beside a redraw).
	 */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = pthread_create(&r->thread, NULL, relay_main, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, elen, "cannot start the relay thread");
		goto bad;
	}
	return r;
bad:
	if (r->lfd >= 0)
		close(r->lfd);
	if (r->ctx)
		SSL_CTX_free(r->ctx);
	for (int i = 0; i < CONNS; i++)
		free(r->conns[i].buf);
	free(r);
	return NULL;
}

void cc_heprelay_stop(struct cc_heprelay *r, struct cc_heprelay_stats *st)
{
	__atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
	pthread_join(r->thread, NULL);
	st->relayed = r->relayed;
	st->dropped = r->dropped;
	snprintf(st->why, sizeof st->why, "%s", r->why);
	for (int i = 0; i < CONNS; i++) {
		if (r->conns[i].fd >= 0)
			close(r->conns[i].fd);
		free(r->conns[i].buf);
	}
	close(r->lfd);
	SSL_CTX_free(r->ctx);
	free(r);
}
