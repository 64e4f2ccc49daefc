/*
 * Unit tests for shim/dtlsmatch.c's table of plaintexts waiting for their datagram: each one
 * is handed over exactly once, on its datagram's flow and time when that is seen, unmatched
 * when it waited too long, was pushed out, or the process ends; also from several threads.
 * The capture side (the matched handler, the clock) is stubbed here.
 */
#include "shim/capture.h"
#include "shim/dtlsmatch.h"
#include "tests/unit/check_main.h"

#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static uint64_t fake_now = 1000000000ull;

uint64_t cc_now_coarse(void)
{
	return __atomic_load_n(&fake_now, __ATOMIC_RELAXED);
}

/* What was handed over, by packet number (the plaintext's first four bytes). */
#define NPKT 20000
static struct got {
	int matched, unmatched;
	uint16_t port;
	uint64_t ts;
} got[NPKT];

static void handed(const struct cc_addr *local, const void *plain, size_t len, uint64_t ts)
{
	uint32_t id;

	ck_assert_uint_ge(len, 4);
	memcpy(&id, plain, 4);
	ck_assert_uint_lt(id, NPKT);
	if (local) {
		__atomic_fetch_add(&got[id].matched, 1, __ATOMIC_RELAXED);
		got[id].port = local->port;
		got[id].ts = ts;
	} else {
		__atomic_fetch_add(&got[id].unmatched, 1, __ATOMIC_RELAXED);
	}
}

static void matched_stub(const void *ssl, const struct cc_addr *local, const struct cc_addr *peer, const void *plain,
		    size_t len, uint64_t ts)
{
	(void)ssl, (void)peer;
	handed(local, plain, len, ts);
}

/* A DTLS 1.2 application-data record unique to `id` (its header and tag are what it is keyed on). */
static void dtls_bytes(uint8_t *p, size_t len, uint32_t id)
{
	memset(p, 0, len);
	p[0] = 23;                      /* application_data */
	p[1] = 0xfe;
	p[2] = 0xfd;
	p[4] = 1;                       /* epoch 1 */
	p[8] = (uint8_t)(id >> 16);     /* sequence number (bytes 5-10) */
	p[9] = (uint8_t)(id >> 8);
	p[10] = (uint8_t)id;
	p[11] = (uint8_t)((len - 13) >> 8);
	p[12] = (uint8_t)(len - 13);
	memcpy(p + len - 4, &id, 4);    /* where the authentication tag is */
}

static void send_dgram(uint32_t id, uint16_t port, uint64_t ts)
{
	uint8_t p[60];
	struct iovec v = { p, sizeof(p) };
	struct cc_addr local = { AF_INET, port, { 127, 0, 0, 1 } }, peer = { AF_INET, 9, { 127, 0, 0, 2 } };

	dtls_bytes(p, sizeof(p), id);
	cc_dm_datagram(&v, 1, sizeof(p), 1, &local, &peer, ts);
}

static void expect(uint32_t id, size_t plain_len)
{
	uint8_t p[60], *plain = calloc(1, plain_len);

	ck_assert_ptr_nonnull(plain);
	memcpy(plain, &id, 4);
	dtls_bytes(p, sizeof(p), id);
	cc_dm_expect(NULL, cc_dm_first_app_key(p, sizeof(p)), plain, plain_len);
	free(plain);
}

static void reset(void)
{
	cc_dm_flush();
	memset(got, 0, sizeof(got));
}

START_TEST(matched_on_its_datagram)
{
	reset();
	expect(1, 100);
	expect(2, 3000);                /* longer than kept inline */
	send_dgram(2, 5002, 77);
	send_dgram(1, 5001, 66);
	send_dgram(1, 5001, 66);        /* a second copy finds nothing */
	ck_assert_int_eq(got[1].matched, 1);
	ck_assert_int_eq(got[1].port, 5001);
	ck_assert_uint_eq(got[1].ts, 66);
	ck_assert_int_eq(got[2].matched, 1);
	ck_assert_int_eq(got[2].port, 5002);
	ck_assert_uint_eq(got[2].ts, 77);
	cc_dm_flush();
	ck_assert_int_eq(got[1].unmatched + got[2].unmatched, 0);
}
END_TEST

START_TEST(unmatched_when_too_old_or_at_exit)
{
	reset();
	expect(3, 100);
	expect(4, 100);
	__atomic_fetch_add(&fake_now, 4000000000ull, __ATOMIC_RELAXED);
	expect(5, 100);                 /* the next call ages the others out */
	ck_assert_int_eq(got[3].unmatched, 1);
	ck_assert_int_eq(got[4].unmatched, 1);
	ck_assert_int_eq(got[5].unmatched, 0);
	send_dgram(3, 5003, 1);         /* too late: nothing left to match */
	ck_assert_int_eq(got[3].matched, 0);
	cc_dm_flush();
	ck_assert_int_eq(got[5].unmatched, 1);
	ck_assert_int_eq(got[5].matched, 0);
}
END_TEST

/* More waiting than the table holds: the oldest go out unmatched, each exactly once. */
START_TEST(full_table_evicts)
{
	reset();
	for (uint32_t id = 0; id < 2000; id++)
		expect(id, 64);
	for (uint32_t id = 0; id < 2000; id++)
		send_dgram(id, 6000, 1);
	cc_dm_flush();
	int matched = 0;
	for (uint32_t id = 0; id < 2000; id++) {
		ck_assert_int_eq(got[id].matched + got[id].unmatched, 1);
		matched += got[id].matched;
	}
	ck_assert_int_ge(matched, 1);   /* the last ones kept */
	ck_assert_int_lt(matched, 2000);
}
END_TEST

/* SSL_write in one thread, send in another, both sides busy at once. */
#define THREADS 4
#define PER_THREAD 4000
static void *writer(void *arg)
{
	uint32_t base = (uint32_t)(uintptr_t)arg * PER_THREAD;

	for (uint32_t i = 0; i < PER_THREAD; i++)
		expect(base + i, 80);
	return NULL;
}

static void *sender(void *arg)
{
	uint32_t base = (uint32_t)(uintptr_t)arg * PER_THREAD;

	for (uint32_t i = 0; i < PER_THREAD; i++)
		send_dgram(base + i, 7000, 1);
	return NULL;
}

START_TEST(threads_hand_over_each_once)
{
	pthread_t t[2 * THREADS];

	reset();
	for (uintptr_t i = 0; i < THREADS; i++) {
		ck_assert_int_eq(pthread_create(&t[2 * i], NULL, writer, (void *)i), 0);
		ck_assert_int_eq(pthread_create(&t[2 * i + 1], NULL, sender, (void *)i), 0);
	}
	for (int i = 0; i < 2 * THREADS; i++)
		pthread_join(t[i], NULL);
	cc_dm_flush();
	for (uint32_t id = 0; id < THREADS * PER_THREAD; id++)
		ck_assert_int_eq(got[id].matched + got[id].unmatched, 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dtlsmatch");
	TCase *tc = tcase_create("outq");

	cc_dm_on_matched(matched_stub);

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, matched_on_its_datagram);
	tcase_add_test(tc, unmatched_when_too_old_or_at_exit);
	tcase_add_test(tc, full_table_evicts);
	tcase_add_test(tc, threads_hand_over_each_once);
	suite_add_tcase(s, tc);
	return cc_run_suite(s);
}
