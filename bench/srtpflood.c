/*
 * srtpflood SECONDS [helper]: SRTP round trips as fast as they go, in one process: build an RTP
 * packet, srtp_protect it, send it over 127.0.0.1 to our own second socket, receive it,
 * srtp_unprotect it.  Prints "packets=N seconds=S pps=P thread_cpu_ns=C", C being this thread's CPU
 * time per round trip in the loop (the shim's writer thread excluded: it runs beside, on a core of
 * its own).  make bench runs it with and without the shim capturing to measure what the SRTP hooks
 * cost (target: >= 0.90 of the throughput without).
 *
 * With `helper`, an idle second thread is started first, as every real media program has threads
 * of its own: glibc then takes its multi-threaded paths (malloc's arena lock, ...) with or without
 * the shim, so the pair measures the hooks alone, not also the program ceasing to be
 * single-threaded when the shim's writer thread starts.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <srtp2/srtp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* This thread's CPU time so far, in seconds. */
static double thread_cpu(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru) != 0)
		return 0;
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *idle(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 3;
	unsigned char key[30];
	srtp_policy_t pol;
	srtp_t tx, rx;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	long n = 0;

	if (argc > 3 || (argc == 3 && strcmp(argv[2], "helper") != 0)) {
		fprintf(stderr, "usage: srtpflood SECONDS [helper]\n");
		return 2;
	}
	if (argc == 3) {
		pthread_t t;
		if (pthread_create(&t, NULL, idle, NULL))
			return 1;
	}
	for (int i = 0; i < 30; i++)
		key[i] = (unsigned char)(i * 7 + 1);
	srtp_init();
	memset(&pol, 0, sizeof(pol));
	srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtp);
	srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtcp);
	pol.key = key;
	pol.window_size = 1024;
	pol.ssrc.type = ssrc_any_outbound;
	if (srtp_create(&tx, &pol))
		return 1;
	pol.ssrc.type = ssrc_any_inbound;
	if (srtp_create(&rx, &pol))
		return 1;
	int s = socket(AF_INET, SOCK_DGRAM, 0), r = socket(AF_INET, SOCK_DGRAM, 0);
	if (bind(r, (struct sockaddr *)&a, sizeof(a)) || getsockname(r, (struct sockaddr *)&a, &al) ||
	    connect(s, (struct sockaddr *)&a, sizeof(a)))
		return 1;
	double t0 = now(), t = t0, cpu0 = thread_cpu();
	while (t - t0 < seconds) {
		unsigned char pkt[256 + SRTP_MAX_TRAILER_LEN];
		int len = 12 + 160;
		memset(pkt, 0, sizeof(pkt));
		pkt[0] = 0x80;
		pkt[1] = 0;
		pkt[2] = (unsigned char)(n >> 8);
		pkt[3] = (unsigned char)n;
		pkt[8] = 0x12;
		pkt[11] = 0x34;
		if (srtp_protect(tx, pkt, &len) || send(s, pkt, (size_t)len, 0) != len)
			return 2;
		len = (int)recv(r, pkt, sizeof(pkt), 0);
		if (len <= 0 || srtp_unprotect(rx, pkt, &len))
			return 3;
		if ((++n & 1023) == 0)
			t = now();
	}
	t = now();
	double cpu = thread_cpu() - cpu0;       /* the loop's, not the start-up's (NSS takes 30 ms) */
	printf("packets=%ld seconds=%.3f pps=%.0f thread_cpu_ns=%.0f\n", n, t - t0, n / (t - t0), n ? cpu * 1e9 / n : 0);
	return 0;
}
