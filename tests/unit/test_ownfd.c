/*
 * shim/ownfd.c: the own-descriptor table (ranges, make-room moves, EBADF-worthy numbers), the
 * key log line files (a move keeps writing to the same file), and the fork lock table's order.
 */
#include "shim/ownfd.h"
#include "tests/unit/check_main.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A fake own descriptor: its number, and how many times it was asked to move. */
struct fake {
	int fd;
	int moves;
};

static int fake_get(void *arg)
{
	return ((struct fake *)arg)->fd;
}

static int fake_move(void *arg)
{
	struct fake *f = arg;

	f->fd += 100;
	f->moves++;
	return 0;
}

static struct fake fakes[3] = { { 907, 0 }, { 905, 0 }, { -1, 0 } };
static int registered;

static void setup(void)
{
	if (registered)
		return;
	for (int i = 0; i < 3; i++) {
		struct cc_ownfd_ops ops = { fake_get, fake_move, &fakes[i] };
		ck_assert_int_eq(cc_ownfd_add(&ops), 0);
	}
	registered = 1;
}

START_TEST(test_is_and_range)
{
	int out[CC_OWNFD_MAX];

	setup();
	ck_assert(cc_ownfd_is(905));
	ck_assert(cc_ownfd_is(907));
	ck_assert(!cc_ownfd_is(906));
	ck_assert(!cc_ownfd_is(-1));    /* a closed one is nobody's number */
	ck_assert_int_eq(cc_ownfd_in_range(0, ~0u, out), 2);
	ck_assert_int_eq(out[0], 905);  /* ascending, whatever the registration order */
	ck_assert_int_eq(out[1], 907);
	ck_assert_int_eq(cc_ownfd_in_range(906, 1000, out), 1);
	ck_assert_int_eq(out[0], 907);
	ck_assert_int_eq(cc_ownfd_in_range(0, 904, out), 0);
}
END_TEST

START_TEST(test_make_room_moves_only_the_owner)
{
	setup();
	int before0 = fakes[0].moves, before1 = fakes[1].moves;
	cc_ownfd_make_room(905);
	ck_assert_int_eq(fakes[1].moves, before1 + 1);
	ck_assert_int_eq(fakes[0].moves, before0);
	ck_assert(!cc_ownfd_is(905));
	cc_ownfd_make_room(3);          /* not ours: nothing moves */
	ck_assert_int_eq(fakes[0].moves, before0);
	fakes[1].fd = 905;
}
END_TEST

/* Reads a whole small file. */
static size_t slurp(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, size - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = 0;
	return n;
}

START_TEST(test_linefile_survives_a_move)
{
	char path[] = "/tmp/cc-ownfd-XXXXXX", buf[256];
	int tmp = mkstemp(path);
	static struct cc_linefile lf = CC_LINEFILE_INIT("CLEARCAP_TEST");

	ck_assert_int_ge(tmp, 0);
	close(tmp);
	cc_linefile_init(&lf, path);
	cc_linefile_write(&lf, "one\n", 4);
	int fd = lf.fd;
	ck_assert_int_ge(fd, 3);
	ck_assert(cc_ownfd_is(fd));
	ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	/* The program wants that number: ours moves, and the old number is free for it. */
	cc_ownfd_make_room(fd);
	ck_assert_int_ne(lf.fd, fd);
	ck_assert(!cc_ownfd_is(fd));
	ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
	cc_linefile_write(&lf, "two\n", 4);
	slurp(path, buf, sizeof(buf));
	ck_assert_str_eq(buf, "one\ntwo\n");
	unlink(path);
}
END_TEST

START_TEST(test_linefile_without_path_writes_nothing)
{
	static struct cc_linefile lf = CC_LINEFILE_INIT("CLEARCAP_NONE");

	cc_linefile_init(&lf, "");
	cc_linefile_write(&lf, "x\n", 2);
	ck_assert_int_eq(lf.fd, -1);
}
END_TEST

static pthread_mutex_t a = PTHREAD_MUTEX_INITIALIZER, b = PTHREAD_MUTEX_INITIALIZER,
		       c = PTHREAD_MUTEX_INITIALIZER;

START_TEST(test_forklocks_all_taken_and_released)
{
	/* Registered out of rank order: prepare must still take them all. */
	cc_forklock_add(&c, CC_RANK_FILE);
	cc_forklock_add(&a, CC_RANK_TURN);
	cc_forklock_add(&b, CC_RANK_LEAF);
	cc_forklock_prepare();
	ck_assert_int_eq(pthread_mutex_trylock(&a), EBUSY);
	ck_assert_int_eq(pthread_mutex_trylock(&b), EBUSY);
	ck_assert_int_eq(pthread_mutex_trylock(&c), EBUSY);
	cc_forklock_parent();
	ck_assert_int_eq(pthread_mutex_trylock(&a), 0);
	pthread_mutex_unlock(&a);
	/* The child finds every lock free, even one another thread held at fork. */
	cc_forklock_prepare();
	cc_forklock_child();
	ck_assert_int_eq(pthread_mutex_trylock(&b), 0);
	pthread_mutex_unlock(&b);
	ck_assert_int_eq(pthread_mutex_trylock(&c), 0);
	pthread_mutex_unlock(&c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ownfd");
	TCase *tc = tcase_create("ownfd");

	tcase_add_test(tc, test_is_and_range);
	tcase_add_test(tc, test_make_room_moves_only_the_owner);
	tcase_add_test(tc, test_linefile_survives_a_move);
	tcase_add_test(tc, test_linefile_without_path_writes_nothing);
	tcase_add_test(tc, test_forklocks_all_taken_and_released);
	suite_add_tcase(s, tc);
	return cc_run_suite(s);
}
