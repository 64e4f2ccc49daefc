/*
 * trace_peer: a small network program the tests build static (gcc -static), so the shim cannot
 * enter it and clearcap captures it by system-call tracing.  Every mode prints the addresses and
 * process ids it used, one "key value" per line, for the test to check the capture against.
 *
 *   trace_peer udp N EXIT    a server and a forked client exchange N datagrams and N echoes:
 *                            client connect+write / read, server recvmsg / sendto; exits EXIT
 *   trace_peer tcp N         the same over TCP: connect / accept, write / read, shutdown
 *   trace_peer sleep         prints "ready PID" and waits for a signal (default action)
 *   trace_peer flood N PORT  sends N 200-byte datagrams to 127.0.0.1:PORT; prints the rate
 *   trace_peer spawn T F     T threads and F forked children each send one datagram from a
 *                            socket of their own to a server that receives them all
 *   trace_peer noname N      N datagrams to an unconnected socket, received with recv (no name)
 *   trace_peer sendfile F    a server sends a forked client "HEAD", F's bytes 1000..21000 by
 *                            sendfile with an offset, 5000..15000 by sendfile from the file
 *                            position, "MID", 3000 'X' spliced from a pipe, and "TAIL"
 *   trace_peer reuse N       N TCP connections one after another from one client port to one
 *                            server port, both ends in this process: "request I" and "answer I",
 *                            the server closing first (the kernel reuses the address pair)
 *   trace_peer late N        the same, but the client sends "request I" and closes before the
 *                            server accepts (no answer): the connecting end is gone by then
 *   trace_peer connects      connects that move no byte, then one that does: to a closed port
 *                            blocking, and non-blocking (poll, SO_ERROR; poll, write); non-blocking to a
 *                            listener, closed unasked once connected; to a listener with no room,
 *                            closed still under way; non-blocking to a listener (poll, SO_ERROR
 *                            0), then a line and its echo
 *   trace_peer dups          connections written through numbers made by dup and F_DUPFD_CLOEXEC,
 *                            each closed in turn; one whose connect, under way, a failed dup2
 *                            leaves alone; one whose number dup2 puts a file over; one
 *                            whose two numbers one close_range closes; one a forked child writes
 *                            on after the parent closed its copy, closing it, and one it leaves
 *                            open as it _exits, under one number and under two; one a child
 *                            writes on and closes after exec'ing `write`, its parent having
 *                            written first
 *   trace_peer leave         a child's connects, one connected and one still under way, never
 *                            asked about before it _exits
 *   trace_peer write FD T G  once a byte comes on G, writes T to FD and closes it
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in loopback(int port)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static int port_of(int fd)
{
	struct sockaddr_in a;
	socklen_t l = sizeof a;

	getsockname(fd, (struct sockaddr *)&a, &l);
	return ntohs(a.sin_port);
}

static void die(const char *what)
{
	perror(what);
	exit(99);
}

static void udp_client(int sport, int n)
{
	struct sockaddr_in a = loopback(sport);
	int c = socket(AF_INET, SOCK_DGRAM, 0);
	char buf[256];

	if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a) < 0)
		die("client");
	printf("client_pid %d\nclient_port %d\n", (int)getpid(), port_of(c));
	fflush(stdout);
	for (int i = 0; i < n; i++) {
		int len = snprintf(buf, sizeof buf, "datagram %d from the client", i);
		if (write(c, buf, (size_t)len) != len)
			die("write");
		if (read(c, buf, sizeof buf) <= 0)
			die("read");
	}
	_exit(0);
}

static int udp(int n, int code)
{
	struct sockaddr_in a = loopback(0);
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	char buf[256];
	int st;
	pid_t pid;

	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0)
		die("server");
	printf("server_pid %d\nserver_port %d\n", (int)getpid(), port_of(s));
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		udp_client(port_of(s), n);
	for (int i = 0; i < n; i++) {
		struct sockaddr_in from;
		struct iovec iov = { buf, sizeof buf };
		struct msghdr m = { .msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t r = recvmsg(s, &m, 0);
		int len;

		if (r < 0)
			die("recvmsg");
		len = snprintf(buf, sizeof buf, "echo %d from the server", i);
		if (sendto(s, buf, (size_t)len, 0, (struct sockaddr *)&from, m.msg_namelen) != len)
			die("sendto");
	}
	waitpid(pid, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? code : 98;
}

static int tcp(int n)
{
	struct sockaddr_in a = loopback(0);
	int l = socket(AF_INET, SOCK_STREAM, 0), c, s;
	char buf[256];
	pid_t pid;
	int st;

	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1) < 0)
		die("listen");
	printf("server_pid %d\nserver_port %d\n", (int)getpid(), port_of(l));
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		a = loopback(port_of(l));
		c = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(c, (struct sockaddr *)&a, sizeof a) < 0)
			die("connect");
		printf("client_pid %d\nclient_port %d\n", (int)getpid(), port_of(c));
		fflush(stdout);
		for (int i = 0; i < n; i++) {
			int len = snprintf(buf, sizeof buf, "line %d from the client\n", i);
			if (write(c, buf, (size_t)len) != len)
				die("write");
		}
		shutdown(c, SHUT_WR);
		while (read(c, buf, sizeof buf) > 0)
			;
		close(c);
		_exit(0);
	}
	s = accept(l, NULL, NULL);
	if (s < 0)
		die("accept");
	for (;;) {
		ssize_t r = read(s, buf, sizeof buf);
		if (r <= 0)
			break;
		if (write(s, buf, (size_t)r) != r)
			die("echo");
	}
	close(s);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 98;
}

static int flood(long n, int port)
{
	struct sockaddr_in a = loopback(port);
	int c = socket(AF_INET, SOCK_DGRAM, 0);
	char buf[200];
	struct timespec t0, t1;
	double s;

	memset(buf, 'x', sizeof buf);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < n; i++)
		if (sendto(c, buf, sizeof buf, 0, (struct sockaddr *)&a, sizeof a) != sizeof buf)
			die("sendto");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("packets %ld seconds %.3f pps %.0f\n", n, s, (double)n / s);
	return 0;
}

static int spawn_port;

static void send_one(const char *who, long i)
{
	struct sockaddr_in a = loopback(spawn_port);
	int c = socket(AF_INET, SOCK_DGRAM, 0);
	char buf[64];
	int len = snprintf(buf, sizeof buf, "%s %ld", who, i);

	if (c < 0 || sendto(c, buf, (size_t)len, 0, (struct sockaddr *)&a, sizeof a) != len)
		die("send_one");
	close(c);
}

static void *thread_main(void *arg)
{
	send_one("thread", (long)arg);
	return NULL;
}

static int spawn(int nt, int nf)
{
	struct sockaddr_in a = loopback(0);
	int s = socket(AF_INET, SOCK_DGRAM, 0), rcv = 1 << 20;
	pthread_t th[256];
	char buf[64];

	setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || nt > 256)
		die("spawn");
	spawn_port = port_of(s);
	printf("server_port %d\n", spawn_port);
	for (long i = 0; i < nt; i++)
		pthread_create(&th[i], NULL, thread_main, (void *)i);
	for (long i = 0; i < nf; i++)
		if (fork() == 0) {
			send_one("child", i);
			_exit(0);
		}
	for (int i = 0; i < nt; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < nf; i++)
		wait(NULL);
	for (int i = 0; i < nt + nf; i++) {
		struct sockaddr_in from;
		socklen_t fl = sizeof from;
		if (recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl) < 0)
			die("recvfrom");
	}
	return 0;
}

/* Received on an unconnected socket without asking whence (recv, as many programs do). */
static int noname(int n)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int r = socket(AF_INET, SOCK_DGRAM, 0), s = socket(AF_INET, SOCK_DGRAM, 0);
	char buf[64];

	if (r < 0 || s < 0 || bind(r, (struct sockaddr *)&a, sizeof a) < 0)
		die("noname");
	a.sin_port = htons((uint16_t)port_of(r));
	printf("server_port %d\n", port_of(r));
	for (int i = 0; i < n; i++) {
		int len = snprintf(buf, sizeof buf, "noname %d", i);
		if (sendto(s, buf, (size_t)len, 0, (struct sockaddr *)&a, sizeof a) != len || recv(r, buf, sizeof buf, 0) != len)
			die("noname");
	}
	return 0;
}

static void send_all(int s, const void *buf, size_t n)
{
	if (write(s, buf, n) != (ssize_t)n)
		die("write");
}

static int sendfile_mode(const char *path)
{
	struct sockaddr_in a = loopback(0);
	int l = socket(AF_INET, SOCK_STREAM, 0), f = open(path, O_RDONLY), p[2];
	char buf[65536], xs[3000];
	off_t off = 1000;
	size_t n;

	if (l < 0 || f < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1) < 0 || pipe(p) < 0)
		die("sendfile setup");
	a = loopback(port_of(l));
	printf("server_port %d\n", port_of(l));
	pid_t child = fork();
	if (child == 0) {
		int c = socket(AF_INET, SOCK_STREAM, 0);
		long got = 0;
		ssize_t r;
		if (connect(c, (struct sockaddr *)&a, sizeof a) < 0)
			die("connect");
		printf("client_port %d\n", port_of(c));
		while ((r = read(c, buf, sizeof buf)) > 0)
			got += r;
		printf("client_got %ld\n", got);
		_exit(0);
	}
	int s = accept(l, NULL, NULL);
	if (s < 0)
		die("accept");
	send_all(s, "HEAD", 4);
	for (n = 0; n < 20000;) {
		ssize_t r = sendfile(s, f, &off, 20000 - n);
		if (r <= 0)
			die("sendfile offset");
		n += (size_t)r;
	}
	if (lseek(f, 5000, SEEK_SET) != 5000)
		die("lseek");
	for (n = 0; n < 10000;) {
		ssize_t r = sendfile(s, f, NULL, 10000 - n);
		if (r <= 0)
			die("sendfile position");
		n += (size_t)r;
	}
	send_all(s, "MID", 3);
	memset(xs, 'X', sizeof xs);
	if (write(p[1], xs, sizeof xs) != (ssize_t)sizeof xs)
		die("pipe");
	for (n = 0; n < sizeof xs;) {
		ssize_t r = splice(p[0], NULL, s, NULL, sizeof xs - n, 0);
		if (r <= 0)
			die("splice");
		n += (size_t)r;
	}
	send_all(s, "TAIL", 4);
	close(s);
	waitpid(child, NULL, 0);
	return 0;
}

/* A client socket bound to port (0: any), connected to the server's; retried while the pair is busy. */
static int reuse_connect(int port, int sport)
{
	struct sockaddr_in a = loopback(port), s = loopback(sport);
	int one = 1;

	for (int tries = 0; tries < 100; tries++) {
		int c = socket(AF_INET, SOCK_STREAM, 0);
		if (c < 0 || setsockopt(c, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
			die("socket");
		if (bind(c, (struct sockaddr *)&a, sizeof a) == 0 && connect(c, (struct sockaddr *)&s, sizeof s) == 0)
			return c;
		if (errno != EADDRINUSE && errno != EADDRNOTAVAIL)
			die("connect");
		close(c);
		usleep(50000);
	}
	die("reuse");
	return -1;
}

static int reuse(int n, int late)
{
	struct sockaddr_in a = loopback(0);
	int l = socket(AF_INET, SOCK_STREAM, 0), port = 0;
	char buf[64];

	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1) < 0)
		die("listen");
	for (int i = 0; i < n; i++) {
		int c = reuse_connect(port, port_of(l)), s, len;
		port = port_of(c);
		if (late) {
			len = snprintf(buf, sizeof buf, "request %d\n", i);
			if (write(c, buf, (size_t)len) != len)
				die("request");
			close(c);
			s = accept(l, NULL, NULL);
			if (s < 0 || read(s, buf, sizeof buf) != len)
				die("accept");
			close(s);
			continue;
		}
		s = accept(l, NULL, NULL);
		if (s < 0)
			die("accept");
		len = snprintf(buf, sizeof buf, "request %d\n", i);
		if (write(c, buf, (size_t)len) != len || read(s, buf, sizeof buf) != len)
			die("request");
		len = snprintf(buf, sizeof buf, "answer %d\n", i);
		if (write(s, buf, (size_t)len) != len)
			die("answer");
		close(s);
		while (read(c, buf, sizeof buf) > 0)
			;
		close(c);
	}
	printf("server_port %d\nclient_port %d\n", port_of(l), port);
	return 0;
}

static int listener(int backlog)
{
	struct sockaddr_in a = loopback(0);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, backlog) < 0)
		die("listen");
	return l;
}

/* A non-blocking connect to 127.0.0.1:port; *err is its errno (0: connected at once). */
static int connect_nb(int port, int *err)
{
	struct sockaddr_in a = loopback(port);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	if (c < 0)
		die("socket");
	*err = connect(c, (struct sockaddr *)&a, sizeof a) < 0 ? errno : 0;
	return c;
}

/* Whether c became writable (its connect settled) within ms. */
static int settled(int c, int ms)
{
	struct pollfd p = { c, POLLOUT, 0 };

	return poll(&p, 1, ms) == 1;
}

static int so_error(int c)
{
	int e = -1;
	socklen_t l = sizeof e;

	if (getsockopt(c, SOL_SOCKET, SO_ERROR, &e, &l) < 0)
		die("getsockopt");
	return e;
}

static int connects(void)
{
	/* A port bound and not listening stays closed while we hold it: a SYN to it is reset. */
	struct sockaddr_in a = loopback(0);
	int closed = socket(AF_INET, SOCK_STREAM, 0), l = listener(4), quiet = listener(4), full = listener(0);
	int c, s, e, fill;
	char buf[64];

	if (closed < 0 || bind(closed, (struct sockaddr *)&a, sizeof a) < 0)
		die("bind");
	printf("closed_port %d\nserver_port %d\n", port_of(closed), port_of(l));

	c = socket(AF_INET, SOCK_STREAM, 0);
	a = loopback(port_of(closed));
	printf("blocking_err %d\n", connect(c, (struct sockaddr *)&a, sizeof a) < 0 ? errno : 0);
	printf("blocking_port %d\n", port_of(c));
	close(c);

	c = connect_nb(port_of(closed), &e);
	printf("nonblocking_connect %d\n", e);
	settled(c, 2000);
	printf("nonblocking_so_error %d\nnonblocking_port %d\n", so_error(c), port_of(c));
	close(c);

	/* Refused, and the program learns it from its first send, not from SO_ERROR. */
	c = connect_nb(port_of(closed), &e);
	settled(c, 2000);
	printf("sendfail_err %d\nsendfail_port %d\n", write(c, "x", 1) < 0 ? errno : 0, port_of(c));
	close(c);

	/* Refused, and closed without the program asking at all. */
	c = connect_nb(port_of(closed), &e);
	settled(c, 2000);
	printf("closefail_port %d\n", port_of(c));
	close(c);

	c = connect_nb(port_of(quiet), &e);
	printf("unasked_settled %d\nunasked_port %d\n", settled(c, 2000), port_of(c));
	close(c);

	/* Backlog 0 holds one connection: the next one's SYN is dropped, its connect under way. */
	fill = socket(AF_INET, SOCK_STREAM, 0);
	a = loopback(port_of(full));
	if (fill < 0 || connect(fill, (struct sockaddr *)&a, sizeof a) < 0)
		die("fill");
	c = connect_nb(port_of(full), &e);
	printf("pending_settled %d\npending_port %d\nfull_port %d\n", settled(c, 300), port_of(c), port_of(full));
	close(c);

	c = connect_nb(port_of(l), &e);
	settled(c, 2000);
	printf("good_so_error %d\ngood_port %d\n", so_error(c), port_of(c));
	s = accept(l, NULL, NULL);
	if (s < 0)
		die("accept");
	if (write(c, "over the good one\n", 18) != 18 || read(s, buf, sizeof buf) != 18 || write(s, buf, 18) != 18)
		die("request");
	if (poll(&(struct pollfd){ c, POLLIN, 0 }, 1, 2000) != 1 || read(c, buf, sizeof buf) != 18)
		die("echo");
	close(s);
	close(c);
	return 0;
}

/* ---- dups: one connection through several descriptor numbers ---- */

/* A connection from a new socket to listener l: the connecting end, *s the accepted one. */
static int connected(int l, int *s)
{
	struct sockaddr_in a = loopback(port_of(l));
	int c = socket(AF_INET, SOCK_STREAM, 0);

	if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a) < 0 || (*s = accept(l, NULL, NULL)) < 0)
		die("connected");
	return c;
}

static void put(int fd, const char *text)
{
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		die("write");
}

/* Reads exactly the text expected on s, then the end of the stream. */
static void expect_then_end(int s, const char *text)
{
	char buf[256];
	size_t want = strlen(text), got = 0;

	while (got < want) {
		ssize_t n = read(s, buf + got, want - got);
		if (n <= 0)
			die("read");
		got += (size_t)n;
	}
	if (memcmp(buf, text, want) != 0 || read(s, buf, sizeof buf) != 0)
		die("expected text, then the end");
}

enum { CHILD_CLOSES, CHILD_LEAVES, CHILD_TWICE, CHILD_EXECS };
static const char *const child_text[] = { "from the child\n", "from the child, leaving\n", "twice, leaving\n",
					  "written, exec'd, then closed\n" };

/*
 * A connection from listener l (its port printed as key) that a forked child writes on once the
 * parent closed its copy and says so on go: closing it, leaving with _exit, leaving with it under
 * two numbers, or after exec'ing `write` (the parent having written first).
 */
static void to_child(int l, int go[2], const char *key, int how)
{
	int s, c = connected(l, &s);
	char b, fdarg[16], goarg[16];

	printf("%s %d\n", key, port_of(c));
	if (how == CHILD_EXECS)
		put(c, "written, ");
	pid_t kid = fork();
	if (kid < 0)
		die("fork");
	if (kid == 0) {
		if (how == CHILD_EXECS) {
			snprintf(fdarg, sizeof fdarg, "%d", c);
			snprintf(goarg, sizeof goarg, "%d", go[0]);
			execl("/proc/self/exe", "trace_peer", "write", fdarg, "exec'd, then closed\n", goarg, (char *)NULL);
			_exit(1);
		}
		if (read(go[0], &b, 1) != 1)
			_exit(1);
		if (how == CHILD_TWICE) {
			int d = dup(c);
			put(c, "twice, ");
			put(d, "leaving\n");
		} else {
			put(c, child_text[how]);
		}
		if (how == CHILD_CLOSES)
			close(c);
		_exit(0);
	}
	close(c);
	if (write(go[1], "g", 1) != 1 || waitpid(kid, NULL, 0) != kid)
		die("child");
	expect_then_end(s, child_text[how]);
	close(s);
}

static int dups(void)
{
	int l = listener(8), c, s, d, e, go[2];

	printf("server_port %d\n", port_of(l));

	/* Written through three numbers (dup, F_DUPFD_CLOEXEC), each closed in turn. */
	c = connected(l, &s);
	printf("dup_port %d\n", port_of(c));
	d = dup(c);
	put(c, "one\n");
	put(d, "two\n");
	close(c);
	e = fcntl(d, F_DUPFD_CLOEXEC, 50);
	put(e, "three\n");
	close(d);
	put(e, "four\n");
	close(e);
	expect_then_end(s, "one\ntwo\nthree\nfour\n");
	close(s);

	/*
	 * A dup2 that fails over a connect still under way (its SYN dropped: the listener's queue
	 * full) changes nothing: once there is room, the connection opens and carries its bytes.
	 */
	int full = listener(0), fill, q;
	struct sockaddr_in fa = loopback(port_of(full));
	fill = socket(AF_INET, SOCK_STREAM, 0);
	if (fill < 0 || connect(fill, (struct sockaddr *)&fa, sizeof fa) < 0)
		die("fill");
	c = connect_nb(port_of(full), &e);
	printf("pending_port %d\npending_server %d\npending_connect %d\n", port_of(c), port_of(full), e);
	if (dup2(999, c) >= 0 || (q = accept(full, NULL, NULL)) < 0 || !settled(c, 5000) || so_error(c) != 0 ||
	    (s = accept(full, NULL, NULL)) < 0)
		die("pending connect");
	put(c, "connected after all\n");
	close(c);
	expect_then_end(s, "connected after all\n");
	close(s);
	close(q);
	close(fill);
	close(full);

	/* A file put over the connected socket's number by dup2: the socket is closed.  (A dup2 that
	 * fails first, from a number not open: nothing closed.) */
	c = connected(l, &s);
	printf("dup2_port %d\n", port_of(c));
	put(c, "fi");
	if (dup2(999, c) >= 0)
		die("dup2 from a closed number");
	put(c, "ve\n");
	d = open("/dev/null", O_RDONLY);
	if (d < 0 || dup2(d, c) != c)
		die("dup2");
	close(d);
	close(c);
	expect_then_end(s, "five\n");
	close(s);

	/* Two numbers of one socket closed by one close_range: the socket made at 200 before it connects. */
	struct sockaddr_in a = loopback(port_of(l));
	c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0 || dup2(c, 200) != 200 || close(c) < 0 || connect(200, (struct sockaddr *)&a, sizeof a) < 0 ||
	    (s = accept(l, NULL, NULL)) < 0)
		die("connect at 200");
	printf("range_port %d\n", port_of(200));
	/* (One refused first, for flags it does not know: nothing closed.) */
	if (fcntl(200, F_DUPFD, 201) != 201 || close_range(200, 201, 0x80) == 0)
		die("close_range with unknown flags");
	put(201, "six\n");
	if (close_range(200, 201, 0) < 0)
		die("close_range");
	expect_then_end(s, "six\n");
	close(s);

	/* A fork's child writes on the connection after the parent closed its copy, and closes it. */
	if (pipe(go) < 0)
		die("pipe");
	to_child(l, go, "fork_port", CHILD_CLOSES);
	/* The same, but the child leaves with _exit, the socket still open: the kernel closes it. */
	to_child(l, go, "exit_port", CHILD_LEAVES);
	/* The same, with the child holding the connection under two numbers as it leaves. */
	to_child(l, go, "twice_port", CHILD_TWICE);
	/* A child that execs a program (this one) with the connection open, which writes and closes. */
	to_child(l, go, "exec_port", CHILD_EXECS);
	return 0;
}

/*
 * leave: a child makes two non-blocking connects and leaves with _exit without asking about
 * either: one to a listener with room (connected), one to a listener whose queue is full
 * (still under way).
 */
static int leave(void)
{
	int quiet = listener(4), full = listener(0), fill = socket(AF_INET, SOCK_STREAM, 0), e;
	struct sockaddr_in fa = loopback(port_of(full));

	if (fill < 0 || connect(fill, (struct sockaddr *)&fa, sizeof fa) < 0)
		die("fill");
	printf("quiet_server %d\nfull_server %d\n", port_of(quiet), port_of(full));
	pid_t kid = fork();
	if (kid < 0)
		die("fork");
	if (kid == 0) {
		int c1 = connect_nb(port_of(quiet), &e);
		int up = settled(c1, 2000);
		int c2 = connect_nb(port_of(full), &e);
		printf("unasked_port %d\nunasked_settled %d\npending_port %d\n", port_of(c1), up, port_of(c2));
		_exit(0);
	}
	if (waitpid(kid, NULL, 0) != kid)
		die("child");
	return 0;
}

/* write FD TEXT GO: once a byte comes on GO, TEXT to FD, which is then closed. */
static int write_mode(int fd, const char *text, int go)
{
	char b;

	if (read(go, &b, 1) != 1)
		return 1;
	put(fd, text);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 4 && strcmp(argv[1], "udp") == 0)
		return udp(atoi(argv[2]), atoi(argv[3]));
	if (argc >= 3 && strcmp(argv[1], "tcp") == 0)
		return tcp(atoi(argv[2]));
	if (argc >= 4 && strcmp(argv[1], "flood") == 0)
		return flood(atol(argv[2]), atoi(argv[3]));
	if (argc >= 4 && strcmp(argv[1], "spawn") == 0)
		return spawn(atoi(argv[2]), atoi(argv[3]));
	if (argc >= 3 && strcmp(argv[1], "noname") == 0)
		return noname(atoi(argv[2]));
	if (argc >= 3 && strcmp(argv[1], "sendfile") == 0)
		return sendfile_mode(argv[2]);
	if (argc >= 3 && strcmp(argv[1], "reuse") == 0)
		return reuse(atoi(argv[2]), 0);
	if (argc >= 3 && strcmp(argv[1], "late") == 0)
		return reuse(atoi(argv[2]), 1);
	if (argc >= 2 && strcmp(argv[1], "connects") == 0)
		return connects();
	if (argc >= 2 && strcmp(argv[1], "dups") == 0)
		return dups();
	if (argc >= 2 && strcmp(argv[1], "leave") == 0)
		return leave();
	if (argc >= 5 && strcmp(argv[1], "write") == 0)
		return write_mode(atoi(argv[2]), argv[3], atoi(argv[4]));
	if (argc >= 2 && strcmp(argv[1], "sleep") == 0) {
		printf("ready %d\n", (int)getpid());
		for (;;)
			pause();
	}
	fprintf(stderr, "usage: trace_peer udp N EXIT | tcp N | sleep | flood N PORT | spawn T F | noname N | sendfile F | reuse N | late N | connects | dups | leave | write FD T G\n");
	return 2;
}
