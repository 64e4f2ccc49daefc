/*
 * connect_eintr: a blocking TCP connect that a signal interrupts (EINTR; the kernel goes on
 * connecting in the background), then used once it is writable, with both ends in this process.
 * The listener's queue is full (backlog 0, one connection waiting), so the connect blocks until
 * the waiting one is accepted and the kernel's next SYN gets through.  Prints "KEY VALUE" lines.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static void on_alarm(int s) { (void)s; }

int main(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof a;
	int l = socket(AF_INET, SOCK_STREAM, 0), c1 = socket(AF_INET, SOCK_STREAM, 0), c2 = socket(AF_INET, SOCK_STREAM, 0);
	struct sigaction sa;
	struct itimerval it = { .it_value = { 0, 200000 } };
	char buf[16];

	bind(l, (struct sockaddr *)&a, sizeof a);
	listen(l, 0);
	getsockname(l, (struct sockaddr *)&a, &al);
	connect(c1, (struct sockaddr *)&a, sizeof a);           /* fills the queue */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;                               /* no SA_RESTART */
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	int r = connect(c2, (struct sockaddr *)&a, sizeof a);
	printf("connect %d %s\n", r, r < 0 ? strerror(errno) : "ok");
	int s1 = accept(l, NULL, NULL);                         /* room for c2's next SYN */
	struct pollfd p = { c2, POLLOUT, 0 };
	printf("poll %d\n", poll(&p, 1, 5000));
	printf("write %zd\n", write(c2, "hello", 5));
	int s2 = accept(l, NULL, NULL);
	printf("read %zd\n", read(s2, buf, sizeof buf));
	struct sockaddr_in me;
	socklen_t ml = sizeof me;
	getsockname(c2, (struct sockaddr *)&me, &ml);
	printf("port %d\n", ntohs(me.sin_port));
	close(c2); close(s2); close(s1); close(c1); close(l);
	return 0;
}
