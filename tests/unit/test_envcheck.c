/*
 * The wrapper's copy of the shim's settings syntax (tools/envcheck.c) against the shim's own
 * (shim/config.c): every variable is loaded with every value below by both, and they must agree
 * on accepting it.  A rule changed on one side only fails here.  The CLEARCAP_IMPAIR family is
 * read by shim/impair.c, which needs the whole capture side; both sides parse it with
 * decoders/impairspec.c and pcapout/filter.c's libpcap call, so it is checked on its own below.
 */
#include "shim/config.h"
#include "decoders/impairspec.h"
#include "tools/envcheck.h"
#include "tests/unit/check_main.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char long_abs[5000], long_rel[5000], edge_abs[5000], over_abs[5000], long_list[5000], edge_list[5000];

static const char *values[] = {
	"", "1M", "1048576", "1048575", "1G", "1073741824", "1073741825", "2G", "garbage", "12Q", "-5",
	"16MiB", "16MB", "16Mi", "16MiBx", "1024K", "1024k", "1024KiB", " 2M", "+2M", "2M ", "0x100000",
	"99999999999999999999", "4096", "4095", "0", "1", "100000000", "100000001", "1000000", "1000001",
	" 5", "+5", "5x", "-1", "pcap", "pcapng", "pcapx", "PCAP", "stun", "turn", "dtls-handshake",
	"dtls-app", "dtls", "rtp", "rtcp", "sctp", "tcp", "other", "wire", "plaintext", "relay", "all",
	"rtp,plaintext", "rtp,,plaintext", ",", "sip", "sip,plaintext", "RTP", "rtp,", "udp", "udp port", "ifindex 2",
	"outbound", "udp[8] & 0xc0 = 0x80", "port 5060 and (", "prog", "a", "/a", "rel/x.pcapng",
	"udp:127.0.0.1:9060", "tcp:[::1]:9061", "udp:127.0.0.1:0", "tls:example.net:9062", "udp:host:9060",
	"4294967295", "4294967296", "sip,rtcp", "rtp,other,relay", "sip,h323",
	"123456789012345678901234567890123456789012345678901234567890123",
	"1234567890123456789012345678901234567890123456789012345678901234",
	long_abs, long_rel, edge_abs, over_abs, long_list, edge_list,
};

static void fill(char *buf, const char *head, size_t total)
{
	size_t h = strlen(head);

	memcpy(buf, head, h);
	memset(buf + h, 'x', total - h);
	buf[total] = '\0';
}

/* cc_config_load with its one warning line sent to /dev/null: ~1000 of them say nothing here. */
static int quiet_load(void)
{
	int saved = dup(2), null = open("/dev/null", O_WRONLY | O_CLOEXEC), rc;

	ck_assert(saved >= 0 && null >= 0);
	dup2(null, 2);
	rc = cc_config_load("prog", NULL) < 0;
	dup2(saved, 2);
	close(saved);
	close(null);
	return rc;
}

START_TEST(agree)
{
	fill(long_abs, "/", 4200);
	fill(long_rel, "r", 4000);
	fill(edge_abs, "/", 4095);
	fill(over_abs, "/", 4096);
	fill(long_list, "prog,", 4097);
	fill(edge_list, "prog,", 4096);
	for (size_t v = 0; cc_envcheck_vars[v] != NULL; v++) {
		const char *var = cc_envcheck_vars[v];

		if (strncmp(var, "CLEARCAP_IMPAIR", 15) == 0)
			continue;
		for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
			char why[768];
			int tool, shim;

			/*
			 * The shim reads nothing without a file, nor HEP's companions without a collector;
			 * the variable under test may be either.
			 */
			setenv("CLEARCAP_FILE", "/tmp/envcheck.pcapng", 1);
			setenv("CLEARCAP_HEP", "udp:127.0.0.1:9060", 1);
			/* A count of files alone is refused by a rule across variables (below). */
			setenv("CLEARCAP_ROTATE_SECONDS", "60", 1);
			setenv(var, values[i], 1);
			shim = quiet_load();
			tool = cc_envcheck(var, values[i], why, sizeof why) < 0;
			unsetenv(var);
			unsetenv("CLEARCAP_HEP");
			unsetenv("CLEARCAP_ROTATE_SECONDS");
			ck_assert_msg(shim == tool, "%s='%.40s' (%zu chars): shim %s, wrapper %s", var, values[i],
				      strlen(values[i]), shim ? "refuses" : "accepts", tool ? "refuses" : "accepts");
		}
	}
	unsetenv("CLEARCAP_FILE");
}
END_TEST

/* The rule across variables, and the reasons the wrapper gives, word for word the shim's. */
START_TEST(rotation_and_reasons)
{
	char why[768];

	ck_assert_int_lt(cc_envcheck_rotation("5", NULL, "", why, sizeof why), 0);
	ck_assert_str_eq(why, CC_ROTATE_FILES_ALONE);
	ck_assert_int_eq(cc_envcheck_rotation("5", "1M", NULL, why, sizeof why), 0);
	ck_assert_int_eq(cc_envcheck_rotation("5", NULL, "60", why, sizeof why), 0);
	ck_assert_int_eq(cc_envcheck_rotation(NULL, NULL, NULL, why, sizeof why), 0);
	setenv("CLEARCAP_FILE", "/tmp/envcheck.pcapng", 1);
	setenv("CLEARCAP_ROTATE_FILES", "5", 1);
	ck_assert_int_eq(quiet_load(), 1);
	unsetenv("CLEARCAP_ROTATE_FILES");
	unsetenv("CLEARCAP_FILE");
	ck_assert_int_lt(cc_envcheck("CLEARCAP_ROTATE_SIZE", "1T", why, sizeof why), 0);
	ck_assert_str_eq(why, CC_ROTATE_SIZE_EXPECTED);
	ck_assert_int_lt(cc_envcheck("CLEARCAP_PROGRAMS", ",,", why, sizeof why), 0);
	ck_assert_str_eq(why, CC_PROGRAMS_EMPTY);
}
END_TEST

/* The impairment family: the shim's parsers, so the same values are refused with its reasons. */
START_TEST(impair)
{
	static const struct { const char *var, *val; int ok; } cases[] = {
		{ "CLEARCAP_IMPAIR", "loss=10%", 1 }, { "CLEARCAP_IMPAIR", "out:loss=10", 0 },
		{ "CLEARCAP_IMPAIR", "in:delay=5ms", 0 }, { "CLEARCAP_IMPAIR_SEED", "7", 1 },
		{ "CLEARCAP_IMPAIR_SEED", "18446744073709551615", 1 }, { "CLEARCAP_IMPAIR_SEED", "18446744073709551616", 0 },
		{ "CLEARCAP_IMPAIR_SEED", "-1", 0 }, { "CLEARCAP_IMPAIR_SEED", " 5", 0 },
		{ "CLEARCAP_IMPAIR_SEED", "x", 0 }, { "CLEARCAP_IMPAIR_FILTER", "udp and not port 3478", 1 },
		{ "CLEARCAP_IMPAIR_FILTER", "udp port", 0 },
	};
	char why[768];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		ck_assert_msg((cc_envcheck(cases[i].var, cases[i].val, why, sizeof why) == 0) == cases[i].ok, "%s=%s",
			      cases[i].var, cases[i].val);
	ck_assert_int_lt(cc_envcheck("CLEARCAP_IMPAIR_SEED", "x", why, sizeof why), 0);
	ck_assert_str_eq(why, CC_IMPAIR_SEED_EXPECTED);
}
END_TEST

START_TEST(sizes)
{
	ck_assert_int_eq(cc_envcheck_size("16M"), cc_parse_size("16M"));
	ck_assert_int_eq(cc_envcheck_size("3KiB"), cc_parse_size("3KiB"));
	ck_assert_int_eq(cc_envcheck_size("12Q"), -1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("envcheck");
	TCase *t = tcase_create("agree");

	tcase_add_test(t, agree);
	tcase_add_test(t, sizes);
	tcase_add_test(t, impair);
	tcase_add_test(t, rotation_and_reasons);
	suite_add_tcase(s, t);
	return cc_run_suite(s);
}
