/*
 * Unit tests for shim/config.c: size parsing, program-name lists, and the environment contract.
 */
#include "shim/config.h"
#include "tests/unit/check_main.h"

#include <check.h>
#include <stdlib.h>

START_TEST(sizes)
{
	ck_assert_int_eq(cc_parse_size("1048576"), 1048576);
	ck_assert_int_eq(cc_parse_size("16M"), 16 << 20);
	ck_assert_int_eq(cc_parse_size("16MiB"), 16 << 20);
	ck_assert_int_eq(cc_parse_size("512k"), 512 << 10);
	ck_assert_int_eq(cc_parse_size("1G"), 1 << 30);
	ck_assert_int_eq(cc_parse_size(""), -1);
	ck_assert_int_eq(cc_parse_size("12Q"), -1);
	ck_assert_int_eq(cc_parse_size("-5"), -1);
	ck_assert_int_eq(cc_parse_size("99999999999999999999"), -1);
}
END_TEST

START_TEST(program_lists)
{
	ck_assert(cc_name_in_list("curl", "curl"));
	ck_assert(cc_name_in_list("python3,curl", "curl"));
	ck_assert(cc_name_in_list("python3*", "python3.11"));
	ck_assert(!cc_name_in_list("python3", "python3.11"));
	ck_assert(!cc_name_in_list("", "curl"));
	ck_assert(!cc_name_in_list(",,", "curl"));
	ck_assert(cc_name_in_list("a,,b", "b"));
}
END_TEST

START_TEST(environment)
{
	unsetenv("CLEARCAP_FILE");
	ck_assert_int_eq(cc_config_load("prog", NULL), 0);
	ck_assert_int_eq(cc_cfg.on, 0);

	setenv("CLEARCAP_FILE", "rel.pcapng", 1);
	setenv("CLEARCAP_FORMAT", "pcap", 1);
	setenv("CLEARCAP_BUFFER", "3M", 1);
	ck_assert_int_eq(cc_config_load("prog", NULL), 0);
	ck_assert_int_eq(cc_cfg.on, 1);
	ck_assert(cc_cfg.file[0] == '/');               /* made absolute */
	ck_assert_int_eq(cc_cfg.format, CC_FMT_PCAP);
	ck_assert_uint_eq(cc_cfg.buffer, 4u << 20);     /* rounded up to a power of two */

	setenv("CLEARCAP_FORMAT", "pcapngx", 1);
	ck_assert_int_eq(cc_config_load("prog", NULL), -1);
	ck_assert_int_eq(cc_cfg.on, 0);
	unsetenv("CLEARCAP_FORMAT");

	setenv("CLEARCAP_PROGRAMS", "other,curl", 1);
	ck_assert_int_eq(cc_config_load("prog", "prog-exe"), 0);
	ck_assert_int_eq(cc_cfg.on, 0);
	ck_assert_int_eq(cc_config_load("prog", "curl"), 0);
	ck_assert_int_eq(cc_cfg.on, 1);
	unsetenv("CLEARCAP_PROGRAMS");
	unsetenv("CLEARCAP_BUFFER");
	unsetenv("CLEARCAP_FILE");
}
END_TEST

START_TEST(daily)
{
	/* CLEARCAP_CTL=1 alone: the shim on, capture off until `clearcap ctl PID reopen FILE`. */
	unsetenv("CLEARCAP_FILE");
	setenv("CLEARCAP_CTL", "1", 1);
	ck_assert_int_eq(cc_config_load("prog", NULL), 0);
	ck_assert_int_eq(cc_cfg.on, 1);
	ck_assert_int_eq(cc_cfg.started_paused, 1);
	ck_assert_int_eq(cc_cfg.ctl, 1);
	ck_assert_str_eq(cc_cfg.file, "");
	setenv("CLEARCAP_CTL", "0", 1);
	ck_assert_int_eq(cc_config_load("prog", NULL), 0);
	ck_assert_int_eq(cc_cfg.on, 0);

	setenv("CLEARCAP_FILE", "/tmp/x.pcapng", 1);
	ck_assert_int_eq(cc_config_load("prog", NULL), 0);
	ck_assert_int_eq(cc_cfg.ctl, 0);                /* CLEARCAP_CTL=0: no control page */
	unsetenv("CLEARCAP_CTL");
	setenv("CLEARCAP_ROTATE_SIZE", "2M", 1);
	setenv("CLEARCAP_ROTATE_SECONDS", "60", 1);
	setenv("CLEARCAP_ROTATE_FILES", "5", 1);
	setenv("CLEARCAP_PIPE_HEADER", "done", 1);
	ck_assert_int_eq(cc_config_load("prog", NULL), 0);
	ck_assert_int_eq(cc_cfg.rotate_size, 2 << 20);
	ck_assert_int_eq(cc_cfg.rotate_seconds, 60);
	ck_assert_int_eq(cc_cfg.rotate_files, 5);
	ck_assert_int_eq(cc_cfg.pipe_header_done, 1);
	ck_assert_int_eq(cc_cfg.ctl, 1);
	setenv("CLEARCAP_ROTATE_SIZE", "100", 1);       /* below one record's worth */
	ck_assert_int_eq(cc_config_load("prog", NULL), -1);
	ck_assert_int_eq(cc_cfg.on, 0);
	setenv("CLEARCAP_ROTATE_SIZE", "1000000", 1);
	setenv("CLEARCAP_ROTATE_FILES", "0", 1);
	ck_assert_int_eq(cc_config_load("prog", NULL), -1);
	setenv("CLEARCAP_ROTATE_FILES", "3x", 1);
	ck_assert_int_eq(cc_config_load("prog", NULL), -1);
	unsetenv("CLEARCAP_ROTATE_SIZE");
	unsetenv("CLEARCAP_ROTATE_SECONDS");
	unsetenv("CLEARCAP_ROTATE_FILES");
	unsetenv("CLEARCAP_PIPE_HEADER");
	unsetenv("CLEARCAP_FILE");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config");
	TCase *t = tcase_create("env");

	tcase_add_test(t, sizes);
	tcase_add_test(t, program_lists);
	tcase_add_test(t, environment);
	tcase_add_test(t, daily);
	suite_add_tcase(s, t);
	return cc_run_suite(s);
}
