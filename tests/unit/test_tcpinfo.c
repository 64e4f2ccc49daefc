/*
 * shim/tcpinfo.c against real loopback connections: the bytes a program wrote and read, as the
 * kernel's counts give them, in the states a connection can be in when a new image joins it.
 */
#include "shim/tcpinfo.h"
#include "tests/unit/check_main.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A connected pair on 127.0.0.1: *c connected, *s accepted.  rcvbuf > 0 shrinks s's receive buffer. */
static void pair(int *c, int *s, int rcvbuf)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	int lst = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(lst, 0);
	if (rcvbuf > 0)
		ck_assert_int_eq(setsockopt(lst, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
	ck_assert_int_eq(bind(lst, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(lst, 1), 0);
	ck_assert_int_eq(getsockname(lst, (struct sockaddr *)&a, &l), 0);
	*c = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(*c, (struct sockaddr *)&a, sizeof(a)), 0);
	*s = accept(lst, NULL, NULL);
	ck_assert_int_ge(*s, 0);
	close(lst);
}

static void put(int fd, size_t n)
{
	char buf[4096];

	memset(buf, 'x', sizeof(buf));
	while (n > 0) {
		ssize_t k = write(fd, buf, n < sizeof(buf) ? n : sizeof(buf));

		ck_assert_int_gt(k, 0);
		n -= (size_t)k;
	}
}

/* Reads n bytes exactly (n = 0: until end of stream, which must come). */
static void get(int fd, size_t n)
{
	char buf[4096];
	size_t got = 0;

	for (;;) {
		size_t want = n ? n - got : sizeof(buf);
		ssize_t k = read(fd, buf, want < sizeof(buf) ? want : sizeof(buf));

		ck_assert_int_ge(k, 0);
		if (k == 0) {
			ck_assert_uint_eq(n, 0);
			return;
		}
		got += (size_t)k;
		if (n && got == n)
			return;
	}
}

static int state(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);

	ck_assert_int_eq(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l), 0);
	return ti.tcpi_state;
}

/* Waits until fd is in state st (the peer's segments cross loopback in softirq, not at once). */
static void await_state(int fd, int st)
{
	for (int i = 0; i < 2000 && state(fd) != st; i++)
		usleep(1000);
	ck_assert_int_eq(state(fd), st);
}

static void check(int fd, uint32_t written, uint32_t read)
{
	uint32_t w = 7, r = 7;

	ck_assert_int_eq(cc_tcp_app_bytes(fd, &w, &r), 0);
	ck_assert_uint_eq(w, written);
	ck_assert_uint_eq(r, read);
}

START_TEST(test_open_with_bytes_unread)
{
	int c, s;

	pair(&c, &s, 0);
	put(c, 1000);
	get(s, 600);                    /* 400 wait in s's queue: not read */
	put(s, 33);
	usleep(20000);
	check(c, 1000, 0);              /* c has not read the 33 */
	check(s, 33, 600);
	get(c, 33);
	check(c, 1000, 33);
	close(c);
	close(s);
}
END_TEST

/* The peer's FIN is not a byte the program read, in every state that has it. */
START_TEST(test_peer_fin_is_not_read)
{
	int c, s;

	pair(&c, &s, 0);
	put(s, 50);
	get(c, 50);
	ck_assert_int_eq(shutdown(s, SHUT_WR), 0);
	await_state(c, TCP_CLOSE_WAIT);
	check(c, 0, 50);                /* the FIN came, not yet read as end of stream */
	get(c, 0);
	check(c, 0, 50);
	put(c, 10);
	ck_assert_int_eq(shutdown(c, SHUT_WR), 0);   /* LAST_ACK, then CLOSE */
	get(s, 10);
	get(s, 0);
	await_state(c, TCP_CLOSE);
	check(c, 10, 50);
	check(s, 50, 10);               /* s, shut for writing first: FIN_WAIT2, then CLOSE on c's FIN */
	ck_assert_int_eq(state(s), TCP_CLOSE);
	close(c);
	close(s);
}
END_TEST

/* Our FIN queued behind data the peer has no room for: not a written byte. */
START_TEST(test_own_fin_queued_behind_data)
{
	int c, s, sndbuf = 16384;
	size_t total = 0;
	char buf[4096];

	pair(&c, &s, 4096);
	ck_assert_int_eq(setsockopt(c, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
	ck_assert_int_eq(fcntl(c, F_SETFL, O_NONBLOCK), 0);
	memset(buf, 'y', sizeof(buf));
	for (;;) {
		ssize_t k = write(c, buf, sizeof(buf));

		if (k < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			break;
		}
		total += (size_t)k;
	}
	ck_assert_int_eq(shutdown(c, SHUT_WR), 0);
	ck_assert_int_eq(state(c), TCP_FIN_WAIT1);
	check(c, (uint32_t)total, 0);
	get(s, total);
	get(s, 0);
	await_state(c, TCP_FIN_WAIT2);
	check(c, (uint32_t)total, 0);
	close(c);
	close(s);
}
END_TEST

/* A reset leaves CLOSE too, with an error pending: every byte that came was data. */
START_TEST(test_reset_by_peer)
{
	int c, s;
	struct linger lg = { 1, 0 };
	struct pollfd p;

	pair(&c, &s, 0);
	put(s, 20);
	get(c, 20);
	ck_assert_int_eq(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(s);
	await_state(c, TCP_CLOSE);
	check(c, 0, 20);
	/* The program's error is still there to read: asking did not consume it. */
	p = (struct pollfd){ .fd = c, .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, 0), 1);
	ck_assert(p.revents & POLLERR);
	close(c);
}
END_TEST

START_TEST(test_not_tcp)
{
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	uint32_t w = 7, r = 7;

	errno = 1234;
	ck_assert_int_eq(cc_tcp_app_bytes(u, &w, &r), -1);
	ck_assert_int_eq(errno, 1234);
	ck_assert_uint_eq(w, 7);
	ck_assert_uint_eq(r, 7);
	close(u);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tcpinfo");
	TCase *tc = tcase_create("tcpinfo");

	tcase_add_test(tc, test_open_with_bytes_unread);
	tcase_add_test(tc, test_peer_fin_is_not_read);
	tcase_add_test(tc, test_own_fin_queued_behind_data);
	tcase_add_test(tc, test_reset_by_peer);
	tcase_add_test(tc, test_not_tcp);
	suite_add_tcase(s, tc);
	return cc_run_suite(s);
}
