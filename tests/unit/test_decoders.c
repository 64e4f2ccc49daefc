/*
 * test_decoders.c - runner for the decoders/ unit tests.
 *
 * CK_FORK=no runs every test in-process, for gdb; CK_RUN_SUITE=stun picks
 * one suite.
 */
#include "tests/unit/test_decoders.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CC_TEST_DATA
#define CC_TEST_DATA "tests/data"
#endif

uint8_t *tight_copy(const uint8_t *p, size_t len)
{
	/* malloc(0) may return NULL; keep one byte but hand out len. */
	uint8_t *q = malloc(len ? len : 1);

	ck_assert_ptr_nonnull(q);
	if (len)
		memcpy(q, p, len);
	return q;
}

uint8_t *load_fixture(const char *name, size_t *len)
{
	char path[512];
	FILE *f;
	long n;
	uint8_t *buf;

	snprintf(path, sizeof(path), "%s/%s", CC_TEST_DATA, name);
	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "fixture %s missing", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	ck_assert_int_ge(n, 0);
	rewind(f);
	buf = malloc(n ? (size_t)n : 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

int main(void)
{
	SRunner *sr = srunner_create(demux_suite());
	int failed;

	srunner_add_suite(sr, stun_suite());
	srunner_add_suite(sr, dtls_suite());
	srunner_add_suite(sr, rtp_suite());
	srunner_add_suite(sr, rtcp_suite());
	srunner_add_suite(sr, sctp_suite());
	srunner_add_suite(sr, rtppayload_suite());
	srunner_add_suite(sr, sip_suite());
	srunner_add_suite(sr, regress_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
