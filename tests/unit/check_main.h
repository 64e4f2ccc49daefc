/*
 * The main() every check suite of pcapout/ and shim/ shares: run, report, exit status.
 */
#ifndef CC_CHECK_MAIN_H
#define CC_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

static inline int cc_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
