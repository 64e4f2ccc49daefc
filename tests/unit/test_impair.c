/*
 * Unit tests for decoders/impairspec.c: the CLEARCAP_IMPAIR syntax, the PRNG's reproducibility,
 * and the per-datagram model (loss rates, Gilbert-Elliott bursts, in-order delay, the link rate).
 */
#include "decoders/impairspec.h"
#include "tests/unit/check_main.h"

#include <check.h>
#include <string.h>

#define PCT(x) ((uint64_t)((x) / 100.0 * (double)CC_IMPAIR_ONE + 0.5))

START_TEST(parse_items)
{
	struct cc_impair_spec s;
	char err[200];

	ck_assert_int_eq(cc_impair_parse("loss=5%,delay=80ms,jitter=20ms,dup=1%,reorder=2%,rate=2mbit", &s, err,
					 sizeof(err)), 0);
	ck_assert(s.out.on);
	ck_assert(!s.in.on);
	ck_assert_uint_eq(s.out.loss, PCT(5));
	ck_assert_uint_eq(s.out.delay_ns, 80000000);
	ck_assert_uint_eq(s.out.jitter_ns, 20000000);
	ck_assert_uint_eq(s.out.dup, PCT(1));
	ck_assert_uint_eq(s.out.reorder, PCT(2));
	ck_assert_uint_eq(s.out.rate_bps, 2000000);
	ck_assert_uint_eq(s.out.limit, CC_IMPAIR_LIMIT_DEFAULT);

	ck_assert_int_eq(cc_impair_parse("out:loss=10%;in:loss=2.5%", &s, err, sizeof(err)), 0);
	ck_assert_uint_eq(s.out.loss, PCT(10));
	ck_assert_uint_eq(s.in.loss, PCT(2.5));

	ck_assert_int_eq(cc_impair_parse("gloss=1%,30%,delay=1s,rate=64kbps,limit=20", &s, err, sizeof(err)), 0);
	ck_assert(s.out.ge);
	ck_assert_uint_eq(s.out.ge_p, PCT(1));
	ck_assert_uint_eq(s.out.ge_r, PCT(30));
	ck_assert_uint_eq(s.out.ge_h, CC_IMPAIR_ONE);
	ck_assert_uint_eq(s.out.ge_k, 0);
	ck_assert_uint_eq(s.out.delay_ns, 1000000000);
	ck_assert_uint_eq(s.out.rate_bps, 512000);
	ck_assert_uint_eq(s.out.limit, 20);

	ck_assert_int_eq(cc_impair_parse("in:gloss=5%,50%,80%,1%", &s, err, sizeof(err)), 0);
	ck_assert_uint_eq(s.in.ge_h, PCT(80));
	ck_assert_uint_eq(s.in.ge_k, PCT(1));
	ck_assert_int_eq(cc_impair_parse("delay=250us", &s, err, sizeof(err)), 0);
	ck_assert_uint_eq(s.out.delay_ns, 250000);
}
END_TEST

START_TEST(parse_errors)
{
	struct cc_impair_spec s;
	char err[200];
	static const char *bad[] = {
		"", "loss=5", "loss=101%", "loss=-1%", "lose=5%", "delay=5h", "rate=fast", "rate=0mbit",
		"gloss=1%", "gloss=1%,2%,3%,4%,5%", "in:delay=10ms", "in:dup=1%", "loss=5%,,delay=1ms",
		"5%", "limit=0", "sideways:loss=1%", ";",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		ck_assert_msg(cc_impair_parse(bad[i], &s, err, sizeof(err)) == -1, "accepted '%s'", bad[i]);
		ck_assert_msg(err[0] != 0, "no reason for '%s'", bad[i]);
	}
	cc_impair_parse("in:delay=10ms", &s, err, sizeof(err));
	ck_assert_ptr_nonnull(strstr(err, "in:"));
	cc_impair_parse("lose=5%", &s, err, sizeof(err));
	ck_assert_ptr_nonnull(strstr(err, "lose"));
}
END_TEST

/* A key given twice for one direction would silently replace the first: refused, across sections too. */
START_TEST(parse_duplicates)
{
	static const char *twice[] = {
		"loss=1%,loss=5%", "out:delay=10ms;delay=20ms", "in:loss=1%;in:loss=2%", "gloss=1%,30%,gloss=2%,40%",
		"rate=1mbit,limit=5,rate=2mbit",
	};
	struct cc_impair_spec s;
	char err[200];

	for (size_t i = 0; i < sizeof(twice) / sizeof(twice[0]); i++) {
		err[0] = 0;
		ck_assert_msg(cc_impair_parse(twice[i], &s, err, sizeof(err)) == -1, "accepted '%s'", twice[i]);
		ck_assert_msg(strstr(err, "given twice") != NULL, "'%s': %s", twice[i], err);
	}
	cc_impair_parse("out:loss=1%;in:loss=2%;out:loss=3%", &s, err, sizeof(err));
	ck_assert_str_eq(err, "out:loss given twice");
	/* The same key in each direction is two settings, not one twice. */
	ck_assert_int_eq(cc_impair_parse("out:loss=1%;in:loss=2%", &s, err, sizeof(err)), 0);
	ck_assert_int_eq(cc_impair_parse("loss=1%,gloss=1%,30%", &s, err, sizeof(err)), 0);
}
END_TEST

START_TEST(format_round_trip)
{
	struct cc_impair_spec s, t;
	char err[200], buf[300];

	ck_assert_int_eq(cc_impair_parse("loss=5%,gloss=1%,30%,delay=80ms,jitter=20ms,dup=1%,rate=2mbit", &s, err,
					 sizeof(err)), 0);
	cc_impair_format(&s.out, buf, sizeof(buf));
	ck_assert_int_eq(cc_impair_parse(buf, &t, err, sizeof(err)), 0);
	ck_assert_mem_eq(&s.out, &t.out, sizeof(s.out));
}
END_TEST

START_TEST(prng_reproducible)
{
	struct cc_prng a, b, c;

	cc_prng_seed(&a, 42);
	cc_prng_seed(&b, 42);
	cc_prng_seed(&c, 43);
	int differ = 0;
	for (int i = 0; i < 1000; i++) {
		uint64_t x = cc_prng_next(&a);
		ck_assert_uint_eq(x, cc_prng_next(&b));
		differ += x != cc_prng_next(&c);
	}
	ck_assert_int_gt(differ, 990);
}
END_TEST

static int lost_count(const char *spec, uint64_t seed, int n, int *longest_run)
{
	struct cc_impair_spec s;
	struct cc_impair_state st;
	struct cc_impair_fate f;
	char err[200];
	int lost = 0, run = 0;

	ck_assert_int_eq(cc_impair_parse(spec, &s, err, sizeof(err)), 0);
	memset(&st, 0, sizeof(st));
	cc_prng_seed(&st.rng, seed);
	*longest_run = 0;
	for (int i = 0; i < n; i++) {
		cc_impair_decide(&s.out, &st, (uint64_t)i * 20000000, 200, &f);
		lost += f.lost;
		run = f.lost ? run + 1 : 0;
		if (run > *longest_run)
			*longest_run = run;
	}
	return lost;
}

START_TEST(loss_rates)
{
	int run, run2;
	int n = lost_count("loss=10%", 7, 100000, &run);

	ck_assert_int_gt(n, 9500);
	ck_assert_int_lt(n, 10500);
	ck_assert_int_eq(lost_count("loss=10%", 7, 100000, &run2), n);
	ck_assert_int_ne(lost_count("loss=10%", 8, 100000, &run2), n);
	ck_assert_int_eq(lost_count("loss=0%", 7, 10000, &run), 0);
	/* Gilbert-Elliott: p=1%, r=25% gives 1/(1+25) = 3.8% loss, in bursts averaging 4 packets. */
	n = lost_count("gloss=1%,25%", 7, 100000, &run);
	ck_assert_int_gt(n, 3000);
	ck_assert_int_lt(n, 4700);
	ck_assert_int_ge(run, 10);
}
END_TEST

START_TEST(delay_in_order)
{
	struct cc_impair_spec s;
	struct cc_impair_state st;
	struct cc_impair_fate f;
	char err[200];
	uint64_t last = 0, lo = ~0ull, hi = 0;

	ck_assert_int_eq(cc_impair_parse("delay=50ms,jitter=20ms", &s, err, sizeof(err)), 0);
	memset(&st, 0, sizeof(st));
	cc_prng_seed(&st.rng, 1);
	for (int i = 0; i < 10000; i++) {
		uint64_t now = 1000000000ull + (uint64_t)i * 1000000;     /* 1 ms apart: jitter would reorder */
		cc_impair_decide(&s.out, &st, now, 100, &f);
		ck_assert(f.queued);
		ck_assert_uint_ge(f.due, last);
		ck_assert_uint_ge(f.due, now + 30000000);
		last = f.due;
		uint64_t d = f.due - now;
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	ck_assert_uint_le(lo, 45000000);   /* in-order clamping lifts the lowest */
	ck_assert_uint_le(hi, 70000000);
}
END_TEST

START_TEST(link_rate)
{
	struct cc_impair_spec s;
	struct cc_impair_state st;
	struct cc_impair_fate f;
	char err[200];

	/* 1000-byte datagrams on an 800 kbit/s link: 10 ms each, whatever the program's pace. */
	ck_assert_int_eq(cc_impair_parse("rate=800kbit", &s, err, sizeof(err)), 0);
	memset(&st, 0, sizeof(st));
	cc_prng_seed(&st.rng, 1);
	for (int i = 0; i < 100; i++) {
		cc_impair_decide(&s.out, &st, 1000000000ull, 1000, &f);
		ck_assert_uint_eq(f.due, 1000000000ull + (uint64_t)(i + 1) * 10000000);
	}
}
END_TEST

START_TEST(reorder)
{
	struct cc_impair_spec s;
	struct cc_impair_state st;
	struct cc_impair_fate f;
	char err[200];
	int held = 0;

	ck_assert_int_eq(cc_impair_parse("reorder=10%", &s, err, sizeof(err)), 0);
	memset(&st, 0, sizeof(st));
	cc_prng_seed(&st.rng, 3);
	for (int i = 0; i < 1000; i++) {
		uint64_t now = (uint64_t)i * 1000000;
		cc_impair_decide(&s.out, &st, now, 100, &f);
		if (f.reordered) {
			held++;
			ck_assert(f.queued);
			ck_assert_uint_eq(f.due, now + CC_IMPAIR_REORDER_GAP_NS);
		} else {
			ck_assert(!f.queued);   /* nothing else delays: the rest go at once */
		}
	}
	ck_assert_int_gt(held, 60);
	ck_assert_int_lt(held, 140);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("impairspec");
	TCase *tc = tcase_create("impairspec");

	tcase_add_test(tc, parse_items);
	tcase_add_test(tc, parse_errors);
	tcase_add_test(tc, parse_duplicates);
	tcase_add_test(tc, format_round_trip);
	tcase_add_test(tc, prng_reproducible);
	tcase_add_test(tc, loss_rates);
	tcase_add_test(tc, delay_in_order);
	tcase_add_test(tc, link_rate);
	tcase_add_test(tc, reorder);
	suite_add_tcase(s, tc);
	return cc_run_suite(s);
}
