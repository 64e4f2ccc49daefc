/*
 * A program that protects and sends SRTP in a loop while a SIGALRM handler forks every 10 ms;
 * each child goes on from where its parent was interrupted and leaves at the loop's next turn.
 * Under the shim the interrupted call may be anywhere on its way to a published ring slot (the
 * cleartext waits in its slot while libsrtp encrypts), and the child drops the ring it inherited:
 * it must come back to memory that is there.  Prints "forks=N crashed=M" (crashed: children
 * ended by a signal).
 *
 *   srtp_fork_handler FORKS
 */
#include <arpa/inet.h>
#include <signal.h>
#include <srtp2/srtp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t child;

static void on_alarm(int sig)
{
	(void)sig;
	if (!child && fork() == 0)
		child = 1;
}

int main(int argc, char **argv)
{
	int want = argc > 1 ? atoi(argv[1]) : 100, forks = 0, crashed = 0;
	unsigned char key[30];
	srtp_policy_t pol;
	srtp_t tx;
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = htons(9) };

	for (int i = 0; i < 30; i++)
		key[i] = (unsigned char)i;
	srtp_init();
	memset(&pol, 0, sizeof(pol));
	srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtp);
	srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtcp);
	pol.key = key;
	pol.window_size = 1024;
	pol.ssrc.type = ssrc_any_outbound;
	if (srtp_create(&tx, &pol))
		return 1;
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	connect(s, (struct sockaddr *)&to, sizeof(to));
	struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = { { 0, 10000 }, { 0, 10000 } };
	setitimer(ITIMER_REAL, &it, NULL);
	for (unsigned n = 0; forks < want && n < 5000000; n++) {
		unsigned char pkt[1212 + SRTP_MAX_TRAILER_LEN];
		int len = 1212;
		memset(pkt, 0, sizeof(pkt));
		pkt[0] = 0x80, pkt[2] = (unsigned char)(n >> 8), pkt[3] = (unsigned char)n, pkt[11] = 0x34;
		if (srtp_protect(tx, pkt, &len) == 0)
			send(s, pkt, (size_t)len, 0);
		if (child)
			_exit(0);
		int st;
		while (waitpid(-1, &st, WNOHANG) > 0) {
			forks++;
			crashed += WIFSIGNALED(st);
		}
	}
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
	printf("forks=%d crashed=%d\n", forks, crashed);
	return 0;
}
