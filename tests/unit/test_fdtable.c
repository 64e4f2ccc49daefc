/*
 * shim/fdtable.c: a TCP stream's share (sequence numbers, FIN flags, descriptor count) across
 * dup, real forks and exit, as the close hook reads it (fd_last_ref, cc_fd_close_last).
 * Each test in a process of its own (check's default): the table and the pool are global.
 */
#include "shim/fdtable.h"
#include "tests/unit/check_main.h"

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
	cc_fd_fork_done();
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
	cc_fd_leaving();    /* _exit with the socket open */
}

START_TEST(test_fork_shares_the_stream)
{
	cc_fd_init(NULL);
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

static void child_exits(void)
{
	cc_fd_leaving();
}

START_TEST(test_dup_then_fork_counts_each_descriptor)
{
	cc_fd_init(NULL);
	struct cc_fd *e = open_stream(44, 1, 1);
	cc_fd_dup_tcp(e, 45);
	ck_assert(!fd_last_ref(e));
	ck_assert_int_eq(in_child(child_exits), 0);
	cc_fd_reset(45);
	ck_assert(fd_last_ref(e));
	cc_fd_reset(44);
}
END_TEST

static unsigned refs_of(const struct cc_fd *e)
{
	return fd_share(e) ? share_refs(fd_share(e)) : 0;
}

START_TEST(test_close_decides_on_the_count)
{
	cc_fd_init(NULL);
	struct cc_fd *e = open_stream(50, 1, 1);
	cc_fd_dup_tcp(e, 51);
	struct cc_fd *f = cc_fd_peek(51);
	ck_assert_uint_eq(refs_of(e), 2);
	ck_assert_int_eq(cc_fd_close_last(e), 0);      /* 51 still holds it: no FIN, e counted out */
	ck_assert_ptr_null(fd_share(e));
	ck_assert_uint_eq(refs_of(f), 1);
	cc_fd_reset(50);                                /* (the reset gives back nothing more) */
	ck_assert_uint_eq(refs_of(f), 1);
	ck_assert_int_eq(cc_fd_close_last(f), 1);      /* the last: its FIN, from the share */
	cc_fd_reset(51);
	struct cc_fd *g = open_stream(52, 1, 1);
	ck_assert_int_eq(cc_fd_close_last(g), -1);     /* no share: the caller decides */
	cc_fd_reset(52);
}
END_TEST

START_TEST(test_fork_counts_a_shared_stream_not_open_yet)
{
	cc_fd_init(NULL);
	struct cc_fd *e = open_stream(59, 1, 1);
	e->flags = 0;                                   /* a connect under way */
	cc_fd_dup_tcp(e, 60);
	cc_fd_fork_prepare();
	cc_fd_fork_done();
	ck_assert_uint_eq(refs_of(e), 4);              /* two here, two in the child */
	/* A dup by another thread between prepare and the fork: its child's copy may exist. */
	cc_fd_fork_prepare();
	cc_fd_dup_tcp(e, 61);
	cc_fd_fork_done();
	ck_assert_uint_eq(refs_of(e), 6 + 2);
	cc_fd_reset(59);
	cc_fd_reset(60);
	cc_fd_reset(61);
}
END_TEST

START_TEST(test_count_at_the_top_stays)
{
	cc_fd_init(NULL);
	struct cc_fd *e = open_stream(62, 1, 1);
	cc_fd_dup_tcp(e, 63);
	struct cc_tcpshare *t = fd_share(e);
	/* Counts left by children killed with the socket open (theirs never go), up to the top. */
	for (int i = 0; i < 32767; i++) {
		cc_fd_fork_prepare();
		cc_fd_fork_done();
	}
	ck_assert_uint_eq(share_refs(t), 0xffff);
	cc_fd_fork_prepare();                           /* one more: no wrap to a free share */
	cc_fd_fork_done();
	ck_assert_uint_eq(share_refs(t), 0xffff);
	ck_assert_int_eq(cc_fd_close_last(e), 0);      /* never the last: held for good */
	ck_assert_uint_eq(share_refs(t), 0xffff);
	ck_assert_int_eq(cc_fd_close_last(cc_fd_peek(63)), 0);
	cc_fd_reset(62);
	cc_fd_reset(63);
	struct cc_fd *g = open_stream(64, 1, 1);
	cc_fd_dup_tcp(g, 65);
	ck_assert_ptr_ne(fd_share(g), t);              /* never taken anew */
	cc_fd_reset(64);
	cc_fd_reset(65);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fdtable");
	TCase *tc = tcase_create("fdtable");

	tcase_add_test(tc, test_fork_shares_the_stream);
	tcase_add_test(tc, test_dup_then_fork_counts_each_descriptor);
	tcase_add_test(tc, test_close_decides_on_the_count);
	tcase_add_test(tc, test_fork_counts_a_shared_stream_not_open_yet);
	tcase_add_test(tc, test_count_at_the_top_stays);
	suite_add_tcase(s, tc);
	return cc_run_suite(s);
}
