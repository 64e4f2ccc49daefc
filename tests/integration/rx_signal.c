/*
 * rx_signal VARIANT: receives under the shim's receiving hot lane that a signal handler or a bad
 * name buffer could disturb (test_core.test_rx_lane_signal_and_names).
 *
 * Variants 0-2: the main thread waits in recv on socket A, whose receives took the lane, while a
 * SIGALRM handler drains socket B (its receives would fill the lane for B); then another thread
 * sends "X-on-A" to A.  0: A unconnected, B connected; 1: A connected, B unconnected; 2: both
 * connected.  Prints "got N DATA" and the ports.
 * Variant 3: recvfrom into a name buffer the program cannot write (16 bytes at address 8): the
 * kernel's EFAULT, as without the shim.  Prints "r=R errno=E".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int A, B, S1, S2;
static struct sockaddr_in aA, aB, a1, a2;

static int sock(const char *ip, struct sockaddr_in *out)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t l = sizeof(a);

	inet_pton(AF_INET, ip, &a.sin_addr);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) || getsockname(s, (struct sockaddr *)out, &l))
		exit(10);
	return s;
}

static void on_alarm(int sig)
{
	char b[100];

	(void)sig;
	while (recv(B, b, sizeof(b), MSG_DONTWAIT) >= 0)
		;
}

static void *later(void *arg)
{
	(void)arg;
	usleep(400000);
	sendto(S1, "X-on-A", 6, 0, (struct sockaddr *)&aA, sizeof(aA));
	return NULL;
}

int main(int argc, char **argv)
{
	int variant = argc > 1 ? atoi(argv[1]) : 0;
	char b[100];

	A = sock("127.0.0.1", &aA);
	S1 = sock("127.0.0.1", &a1);
	if (variant == 3) {
		socklen_t fl = 16;
		for (int i = 0; i < 3; i++) {
			sendto(S1, "x", 1, 0, (struct sockaddr *)&aA, sizeof(aA));
			errno = 0;
			ssize_t r = i < 2 ? recv(A, b, sizeof(b), 0) : recvfrom(A, b, sizeof(b), 0, (struct sockaddr *)8, &fl);
			if (i == 2)
				printf("r=%zd errno=%d\n", r, errno);
		}
		return 0;
	}
	B = sock("127.0.0.2", &aB);
	S2 = sock("127.0.0.3", &a2);
	if (variant == 1 || variant == 2)
		connect(A, (struct sockaddr *)&a1, sizeof(a1));
	if (variant == 0 || variant == 2)
		connect(B, (struct sockaddr *)&a2, sizeof(a2));
	pthread_t t;
	if (pthread_create(&t, NULL, later, NULL))
		return 11;
	struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
	sigaction(SIGALRM, &sa, NULL);
	for (int i = 0; i < 3; i++)
		sendto(S2, "b-on-B", 6, 0, (struct sockaddr *)&aB, sizeof(aB));
	for (int i = 0; i < 2; i++) {
		sendto(S1, "a-on-A", 6, 0, (struct sockaddr *)&aA, sizeof(aA));
		recv(A, b, sizeof(b), 0);
	}
	struct itimerval it = { .it_value = { 0, 150000 } };
	setitimer(ITIMER_REAL, &it, NULL);
	ssize_t r = recv(A, b, sizeof(b), 0);        /* the lane's: waits, the handler runs meanwhile */
	printf("got %zd %.*s\n", r, (int)(r > 0 ? r : 0), b);
	pthread_join(t, NULL);
	printf("%d %d %d\n", ntohs(aA.sin_port), ntohs(a1.sin_port), ntohs(aB.sin_port));
	return 0;
}
