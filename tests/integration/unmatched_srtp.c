/*
 * SRTP plaintexts with and without their datagram: 4 packets protected, the first 2 sent over
 * 127.0.0.1 to our own socket, received and unprotected; the last 2 never sent, and unprotected
 * straight from memory (no flow for either copy).  Prints the wall clock before and after, in
 * nanoseconds, and "matched 2 unmatched 4" (test_srtp.test_unmatched_plaintexts_stamped).
 */
#include <srtp2/srtp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static unsigned long long now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

int main(void)
{
	unsigned char key[30], pkt[4][200 + SRTP_MAX_TRAILER_LEN];
	int len[4];
	srtp_policy_t pol;
	srtp_t tx, rx;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);

	unsigned long long t0 = now();
	for (int i = 0; i < 30; i++)
		key[i] = (unsigned char)(i * 3 + 1);
	srtp_init();
	memset(&pol, 0, sizeof(pol));
	srtp_crypto_policy_set_rtp_default(&pol.rtp);
	srtp_crypto_policy_set_rtcp_default(&pol.rtcp);
	pol.key = key;
	pol.window_size = 128;
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
	for (int i = 0; i < 4; i++) {
		memset(pkt[i], 0, sizeof(pkt[i]));
		pkt[i][0] = 0x80;
		pkt[i][1] = 0;
		pkt[i][3] = (unsigned char)(i + 1);
		pkt[i][11] = 0x77;
		len[i] = 12 + 100;
		if (srtp_protect(tx, pkt[i], &len[i]))
			return 2;
	}
	int matched = 0, unmatched = 0;
	for (int i = 0; i < 4; i++) {
		unsigned char in[sizeof(pkt[0])];
		int n = len[i];
		if (i < 2) {
			if (send(s, pkt[i], (size_t)len[i], 0) != len[i] || (n = (int)recv(r, in, sizeof(in), 0)) <= 0)
				return 3;
		} else {
			memcpy(in, pkt[i], (size_t)n);
		}
		if (srtp_unprotect(rx, in, &n))
			return 4;
		i < 2 ? matched++ : unmatched++;
	}
	usleep(100000);
	printf("%llu %llu\nmatched %d unmatched %d\n", t0, now(), matched, 2 * unmatched);
	return 0;
}
