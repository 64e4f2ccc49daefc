/*
 * shim/fdtable.c: a TCP stream's share (sequence numbers, FIN flags, descriptor count) across
 * dup, real forks, exit and exec, as the close hook reads it (fd_last_ref).
 */
#include "shim/fdtable.h"
#include "tests/unit/check_main.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

/* fd's entry made an open TCP stream, its next bytes at snd and rcv. */
static struct cc_fd *open_stream(int fd, uint32_t snd, uint32_t rcv)
{
	struct cc_fd *e = cc_fd_get(fd);

	ck_assert_ptr_nonnull(e);
	e->snd_seq = snd;
	e->rcv_seq = rcv;
	e->flags = FDF_TCP_OPEN;
	e->kind = FDK_TCP;
	return e;
}

/* Runs fn in a forked child (after the fork handler); the child's exit status. */
static int in_child(void (*fn)(void))
{
	cc_fd_fork_prepare();
	pid_t pid = fork();
	int st;

	ck_assert_int_ge(pid, 0);
	if (!pid) {
		fn();
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void child_sends_and_closes(void)
{
	struct cc_fd *e = cc_fd_peek(40);
	__atomic_fetch_add(fd_seq(e, 1), 100, __ATOMIC_RELAXED);      /* 100 bytes sent here */
	if (fd_last_ref(e))
		_exit(3);       /* the parent still holds the socket */
	cc_fd_reset(40);        /* the child's close */
}

static void child_leaves_open(void)
{
	__atomic_fetch_add(fd_seq(cc_fd_peek(41), 1), 7, __ATOMIC_RELAXED);
	cc_fd_leaving(0, 0);    /* _exit with the socket open */
}

START_TEST(test_fork_shares_the_stream)
{
	cc_fd_init();
	struct cc_fd *e = open_stream(40, 1000, 5000);
	ck_assert_ptr_null(fd_share(e));
	ck_assert_int_eq(in_child(child_sends_and_closes), 0);
	ck_assert_ptr_nonnull(fd_share(e));
	ck_assert_uint_eq(*fd_seq(e, 1), 1100);       /* the child's bytes moved the parent's numbers */
	ck_assert_uint_eq(*fd_seq(e, 0), 5000);
	ck_assert(fd_last_ref(e));                     /* the child closed: ours is the last */

	struct cc_fd *f = open_stream(41, 1, 1);
	ck_assert_int_eq(in_child(child_leaves_open), 0);
	ck_assert_uint_eq(*fd_seq(f, 1), 8);
	ck_assert(fd_last_ref(f));                     /* the child's exit let go of it */
	cc_fd_reset(40);
	cc_fd_reset(41);
}
END_TEST

static void child_execs_and_fails(void)
{
	char *argv[] = { "/nonexistent/x", NULL };
	cc_fd_leaving(1, 0);
	execv(argv[0], argv);
	cc_fd_leaving(1, 1);
	/* 42 (close on exec) and 43 (inherited by the new image) count as before the exec. */
	if (fd_last_ref(cc_fd_peek(42)) || fd_last_ref(cc_fd_peek(43)))
		_exit(4);
	cc_fd_leaving(1, 0);    /* as if it went on: 42 closes, 43 stays in the new image */
}

START_TEST(test_exec_closes_only_close_on_exec)
{
	int a = dup2(1, 42), b = dup2(1, 43);
	ck_assert_int_eq(a, 42);
	ck_assert_int_eq(b, 43);
	ck_assert_int_eq(fcntl(42, F_SETFD, FD_CLOEXEC), 0);
	cc_fd_init();
	struct cc_fd *x = open_stream(42, 1, 1), *y = open_stream(43, 1, 1);
	ck_assert_int_eq(in_child(child_execs_and_fails), 0);
	ck_assert(fd_last_ref(x));
	ck_assert(!fd_last_ref(y));                   /* the new image holds it */
	cc_fd_reset(42);
	cc_fd_reset(43);
	close(42);
	close(43);
}
END_TEST

static void child_exits(void)
{
	cc_fd_leaving(0, 0);
}

START_TEST(test_dup_then_fork_counts_each_descriptor)
{
	cc_fd_init();
	struct cc_fd *e = open_stream(44, 1, 1);
	cc_fd_dup_tcp(e, 45);
	ck_assert(!fd_last_ref(e));
	ck_assert_int_eq(in_child(child_exits), 0);
	cc_fd_reset(45);
	ck_assert(fd_last_ref(e));
	cc_fd_reset(44);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fdtable");
	TCase *tc = tcase_create("fdtable");

	tcase_add_test(tc, test_fork_shares_the_stream);
	tcase_add_test(tc, test_exec_closes_only_close_on_exec);
	tcase_add_test(tc, test_dup_then_fork_counts_each_descriptor);
	suite_add_tcase(s, tc);
	return cc_run_suite(s);
}
