/*
 * Unit tests for pcapout/rotate.c: tcpdump's file names for -C/-G/-W, the shared state's
 * hand-over from one generation to the next, and a done -G -W rotation starting over for a new
 * run once none of its processes runs.
 */
#include "pcapout/rotate.h"
#include "pcapout/rundir.h"
#include "tests/unit/check_main.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *name(const char *base, long long size, long secs, long files, time_t t, long cnt)
{
	static char buf[4096];
	struct cc_rot_cfg cfg = { size, secs, files };

	ck_assert_int_eq(cc_rot_name(buf, sizeof(buf), base, &cfg, t, cnt), 0);
	return buf;
}

START_TEST(digits)
{
	/* tcpdump's getWflagChars: the digits of W-1. */
	ck_assert_int_eq(cc_rot_digits(1), 0);
	ck_assert_int_eq(cc_rot_digits(2), 1);
	ck_assert_int_eq(cc_rot_digits(10), 1);
	ck_assert_int_eq(cc_rot_digits(11), 2);
	ck_assert_int_eq(cc_rot_digits(100), 2);
	ck_assert_int_eq(cc_rot_digits(101), 3);
}
END_TEST

START_TEST(names)
{
	/* -C alone: f, f1, f2 ... */
	ck_assert_str_eq(name("f", 1000000, 0, 0, 0, 0), "f");
	ck_assert_str_eq(name("f", 1000000, 0, 0, 0, 1), "f1");
	ck_assert_str_eq(name("f", 1000000, 0, 0, 0, 12), "f12");
	/* -C with -W: the count is always there, padded: f0, f1, f2 / f00 .. f10. */
	ck_assert_str_eq(name("f", 1000000, 0, 3, 0, 0), "f0");
	ck_assert_str_eq(name("f", 1000000, 0, 3, 0, 2), "f2");
	ck_assert_str_eq(name("f", 1000000, 0, 11, 0, 3), "f03");
	/* -G: strftime on the start time (UTC here); no count with -G alone, even with -W. */
	setenv("TZ", "UTC", 1);
	tzset();
	ck_assert_str_eq(name("c-%Y%m%d-%H%M%S", 0, 60, 0, 86400 + 3661, 0), "c-19700102-010101");
	ck_assert_str_eq(name("c-%H", 0, 60, 5, 7200, 0), "c-02");
	/* -G with -C and -W: the time name and the padded count. */
	ck_assert_str_eq(name("c-%H.", 1000000, 60, 10, 7200, 4), "c-02.4");
}
END_TEST

START_TEST(state_handover)
{
	char dir[] = "/tmp/cc-rot-XXXXXX", base[256], cur[4096];
	uint8_t hdr[16] = "HEADER-BYTES-16";
	struct cc_rot_cfg cfg = { 1000000, 0, 3 };
	struct cc_rot_state *s, *s2;
	uint64_t gen;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	setenv("XDG_RUNTIME_DIR", dir, 1);
	snprintf(base, sizeof(base), "%s/cap", dir);
	s = cc_rot_attach(base, &cfg);
	ck_assert_ptr_nonnull(s);
	cc_rot_current(s, base, cur, sizeof(cur), &gen);
	ck_assert_uint_eq(gen, 0);
	ck_assert(strstr(cur, "/cap0") != NULL);
	/* Two processes racing from generation 0 start exactly one file. */
	ck_assert_int_eq(cc_rot_advance(s, base, &cfg, 0, hdr, sizeof(hdr)), 1);
	ck_assert_int_eq(cc_rot_advance(s, base, &cfg, 0, hdr, sizeof(hdr)), 1);
	cc_rot_current(s, base, cur, sizeof(cur), &gen);
	ck_assert_uint_eq(gen, 1);
	ck_assert(strstr(cur, "/cap1") != NULL);
	ck_assert_int_eq(access(cur, F_OK), 0);
	/* A second mapping (another process) sees the same file. */
	s2 = cc_rot_attach(base, &cfg);
	ck_assert_ptr_nonnull(s2);
	cc_rot_current(s2, base, cur, sizeof(cur), &gen);
	ck_assert_uint_eq(gen, 1);
	/* The ring wraps after -W files. */
	ck_assert_int_eq(cc_rot_advance(s, base, &cfg, 1, hdr, sizeof(hdr)), 1);
	ck_assert_int_eq(cc_rot_advance(s, base, &cfg, 2, hdr, sizeof(hdr)), 1);
	cc_rot_current(s, base, cur, sizeof(cur), &gen);
	ck_assert_uint_eq(gen, 3);
	ck_assert(strstr(cur, "/cap0") != NULL);
	unsetenv("XDG_RUNTIME_DIR");
}
END_TEST

START_TEST(done_starts_over_when_its_processes_are_gone)
{
	char dir[] = "/tmp/cc-rot-XXXXXX", base[256], cur[4096];
	struct cc_rot_cfg cfg = { 0, 60, 2 };
	struct cc_rot_state *s, *s2;
	uint64_t gen;
	pid_t kid;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	setenv("XDG_RUNTIME_DIR", dir, 1);
	snprintf(base, sizeof(base), "%s/cap-%%H%%M%%S", dir);
	s = cc_rot_attach(base, &cfg);
	ck_assert_ptr_nonnull(s);
	cc_rot_current(s, base, cur, sizeof(cur), &gen);
	fclose(fopen(cur, "w"));
	/* Joining is once per process. */
	cc_rot_join(s, base);
	cc_rot_join(s, base);
	ck_assert_uint_eq(s->members[0].pid, (uint32_t)getpid());
	ck_assert_uint_eq(s->members[0].start, cc_proc_start(0));
	ck_assert_uint_eq(s->members[1].pid, 0);
	/* Done while a member runs (this process): it stays done. */
	s->gen = 1;
	s->done = 1;
	s2 = cc_rot_attach(base, &cfg);
	ck_assert_uint_eq(s2->done, 1);
	ck_assert_uint_eq(s2->gen, 1);
	ck_assert_uint_eq(cc_rot_member_alive(s2), (uint32_t)getpid());
	/* Its only member gone (a process that has exited): the next attach starts a new rotation. */
	kid = fork();
	if (kid == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(kid, NULL, 0), kid);
	s->members[0].pid = (uint32_t)kid;
	ck_assert_uint_eq(cc_rot_member_alive(s), 0);
	s2 = cc_rot_attach(base, &cfg);
	ck_assert_uint_eq(s2->done, 0);
	ck_assert_uint_eq(s2->gen, 0);
	ck_assert_uint_eq(s2->members[0].pid, 0);
	/* A pid used again by another process is not the member: its start time differs. */
	s->members[0].pid = (uint32_t)getpid();
	s->members[0].start = cc_proc_start(0) + 1;
	s->done = 1;
	s2 = cc_rot_attach(base, &cfg);
	ck_assert_uint_eq(s2->done, 0);
	unsetenv("XDG_RUNTIME_DIR");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("rotate");
	TCase *t = tcase_create("names");

	tcase_add_test(t, digits);
	tcase_add_test(t, names);
	tcase_add_test(t, state_handover);
	tcase_add_test(t, done_starts_over_when_its_processes_are_gone);
	suite_add_tcase(s, t);
	return cc_run_suite(s);
}
