/*
 * test_decoders_regress.c - inputs that once broke a decoder, kept as named
 * fixtures in tests/data/ (as tcpdump keeps its crash captures).  Each must
 * now be rejected or decoded without touching memory outside the input.
 */
#include "tests/unit/test_decoders.h"

#include <stdlib.h>

#include "decoders/demux.h"
#include "decoders/dtls.h"
#include "decoders/rtcp.h"
#include "decoders/rtp.h"
#include "decoders/sctp.h"
#include "decoders/stun.h"

/* Every top-level decoder over one input: the fixture must survive all. */
static void run_all(const char *name)
{
	size_t len;
	uint8_t *raw = load_fixture(name, &len);
	uint8_t *p = tight_copy(raw, len);
	struct cc_stun_msg sm;
	struct cc_rtp rtp;
	struct cc_tls_iter ti;
	struct cc_tls_record rec;
	struct cc_rtcp_iter ri;
	struct cc_rtcp_pkt pkt;
	struct cc_sctp_iter si;
	struct cc_sctp_chunk ch;

	(void)cc_demux(p, len);
	(void)cc_stun_parse(p, len, &sm);
	(void)cc_rtp_parse(p, len, &rtp);
	cc_tls_iter_init(&ti, p, len, 1);
	while (cc_tls_iter_next(&ti, &rec) == 1)
		;
	cc_rtcp_iter_init(&ri, p, len);
	while (cc_rtcp_next(&ri, &pkt) == 1)
		;
	if (cc_sctp_iter_init(&si, p, len) == 0)
		while (cc_sctp_next(&si, &ch) == 1)
			;
	free(p);
	free(raw);
}

START_TEST(test_fixtures_load)
{
	/* The fuzz seeds double as a smoke test of the loader. */
	run_all("fuzz/stun/stun_rfc5769_request.bin");
	run_all("fuzz/sctp/sctp_misc.bin");
}
END_TEST

Suite *regress_suite(void)
{
	Suite *s = suite_create("regress");
	TCase *tc = tcase_create("fixtures");

	tcase_add_test(tc, test_fixtures_load);
	suite_add_tcase(s, tc);
	return s;
}
