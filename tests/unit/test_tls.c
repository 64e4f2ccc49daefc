/*
 * Unit tests for shim/tls.c, the TLS-library seam: which flow a session's plaintext is written
 * on (nested socket call, DTLS record, earlier flow, the adapter's descriptor, unknown; in that
 * order) and how that is counted and noted; plaintexts matched by DTLS record reach the seam
 * through the handler it registers with dtlsmatch.c, with the session's library; key log lines
 * from their parts.  The capture side, the writer and the adapters are stubbed here.
 */
#include "shim/capture.h"
#include "shim/config.h"
#include "shim/dtlsmatch.h"
#include "shim/hooks.h"
#include "shim/ownfd.h"
#include "shim/srtpkeys.h"
#include "shim/tls.h"
#include "pcapout/writer.h"
#include "tests/unit/check_main.h"

#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* ---- Stubs ---- */

int cc_on = 1;
struct cc_config cc_cfg;
__thread struct cc_nest cc_nest;
void (*cc_tcp_sent_watch)(const struct cc_fd *e, const struct iovec *iov, int iovcnt, size_t len);
static uint64_t clock_now = 1;
uint64_t cc_now(void)
{
	return clock_now;
}

static struct {
	int n;
	struct cc_plainflow pf;
	int outgoing;
	char note[64];
	size_t len;
	uint64_t ts;
} cap;
static unsigned counted[5], unmatched;
static char lines[4][256];
static int nlines, dsbs;
static struct cc_fd fds[8];

void cc_cap_plain(struct cc_plainflow *pf, int outgoing, const void *buf, size_t len, const char *note, uint64_t ts)
{
	(void)buf;
	cap.n++;
	cap.pf = *pf;
	cap.outgoing = outgoing;
	snprintf(cap.note, sizeof(cap.note), "%s", note);
	cap.len = len;
	cap.ts = ts;
}

void cc_plain_fin(struct cc_plainflow *pf, int outgoing, const char *note)
{
	(void)pf, (void)outgoing, (void)note;
}

struct cc_fd *cc_classify(int fd)
{
	return fd >= 0 && fd < 8 && fds[fd].kind ? &fds[fd] : NULL;
}

uint64_t cc_now_coarse(void)
{
	return 1;
}

void cc_writer_count_unmatched(uint64_t n)
{
	unmatched += (unsigned)n;
}

void cc_writer_count_plain(unsigned method)
{
	counted[method]++;
}

int cc_out_dsb(const char *keylog, size_t len)
{
	(void)keylog, (void)len;
	dsbs++;
	return 0;
}

void cc_linefile_init(struct cc_linefile *lf, const char *path)
{
	(void)lf, (void)path;
}

void cc_linefile_write(struct cc_linefile *lf, const char *line, size_t len)
{
	(void)lf;
	if (nlines < 4 && len < sizeof(lines[0]))
		memcpy(lines[nlines++], line, len);
}

void cc_forklock_add(pthread_mutex_t *m, enum cc_lock_rank rank)
{
	(void)m, (void)rank;
}

int cc_srtp_profile(unsigned long id, const char **suite, size_t *key_len, size_t *salt_len)
{
	(void)id, (void)suite, (void)key_len, (void)salt_len;
	return -1;
}

void cc_srtp_keylog(const struct cc_addr *local, const struct cc_addr *peer, int outbound, const char *suite,
		    const uint8_t *key, size_t key_len, const uint8_t *salt, size_t salt_len)
{
	(void)local, (void)peer, (void)outbound, (void)suite, (void)key, (void)key_len, (void)salt, (void)salt_len;
}

static int adapters_started;

void cc_tls_openssl_init(void)
{
	adapters_started++;
}

void cc_tls_gnutls_init(void)
{
	adapters_started++;
}

void cc_tls_nss_init(void)
{
	adapters_started++;
}

void cc_tls_mbedtls_init(void)
{
	adapters_started++;
}

void cc_tls_wolfssl_init(void)
{
	adapters_started++;
}

/* ---- A fake library: its sessions' descriptor is their first byte ---- */

static int fd_asked;

static int fake_fd(const void *sess, int outgoing)
{
	(void)outgoing;
	fd_asked++;
	return *(const uint8_t *)sess;
}

static const struct cc_tls_lib fake = { "flow from fake descriptor", fake_fd };

static struct cc_addr addr4(uint32_t ip, uint16_t port)
{
	struct cc_addr a;

	memset(&a, 0, sizeof(a));
	a.family = AF_INET;
	a.port = port;
	memcpy(a.ip, &ip, 4);
	return a;
}

static void setup(void)
{
	memset(&cap, 0, sizeof(cap));
	memset(counted, 0, sizeof(counted));
	memset(fds, 0, sizeof(fds));
	unmatched = 0;
	nlines = dsbs = fd_asked = 0;
}

/* ---- Tests ---- */

START_TEST(adapters_and_handler_registered)
{
	/* cc_tls_init ran in main: every adapter of the table started once. */
	ck_assert_int_eq(adapters_started, 5);
}
END_TEST

START_TEST(nested_wins_then_last_then_descriptor)
{
	static uint8_t sess[1] = { 3 };
	struct cc_nest nest = { .seen = 1, .proto = IPPROTO_TCP };

	nest.local = addr4(0x0100007f, 1111);
	nest.peer = addr4(0x0100007f, 443);
	cc_tls_plain(&fake, sess, &nest, NULL, 1, "abc", 3, 0);
	ck_assert_int_eq(cap.n, 1);
	ck_assert_int_eq(cap.pf.proto, IPPROTO_TCP);
	ck_assert_int_eq(cap.pf.peer.port, 443);
	ck_assert_str_eq(cap.note, "flow from nested socket call");
	ck_assert_int_eq(fd_asked, 0);
	/* No socket call this time: the flow used before. */
	struct cc_nest none = { 0 };
	cc_tls_plain(&fake, sess, &none, NULL, 0, "de", 2, 0);
	ck_assert_str_eq(cap.note, "flow from earlier record");
	ck_assert_int_eq(cap.pf.peer.port, 443);
	ck_assert_int_eq(counted[1], 1);
	ck_assert_int_eq(counted[3], 1);
	ck_assert_int_eq(fd_asked, 0);
	cc_tls_drop(sess);
}
END_TEST

START_TEST(descriptor_from_the_library_else_unknown)
{
	static uint8_t sess[1] = { 5 }, other[1] = { 6 };
	struct cc_nest none = { 0 };

	fds[5].kind = FDK_TCP;
	fds[5].flags = FDF_PEER | FDF_LOCAL;
	fds[5].local = addr4(0x0100007f, 2222);
	fds[5].peer = addr4(0x0100007f, 993);
	cc_tls_plain(&fake, sess, &none, NULL, 1, "x", 1, 0);
	ck_assert_int_eq(fd_asked, 1);
	ck_assert_str_eq(cap.note, "flow from fake descriptor");   /* the adapter's own words */
	ck_assert_int_eq(cap.pf.peer.port, 993);
	ck_assert_int_eq(counted[2], 1);
	/* Descriptor 6 is no socket of ours: written, unknown, counted. */
	cc_tls_plain(&fake, other, &none, NULL, 1, "y", 1, 0);
	ck_assert_str_eq(cap.note, "flow unknown");
	ck_assert_int_eq(cap.pf.proto, 0);
	ck_assert_int_eq(unmatched, 1);
	ck_assert_int_eq(counted[0], 1);
	cc_tls_drop(sess);
	cc_tls_drop(other);
}
END_TEST

START_TEST(record_match_reaches_the_session_through_the_handler)
{
	static uint8_t sess[1] = { 7 };
	uint8_t rec[13 + 24] = { 23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9, 0, 24 };   /* DTLS 1.2 app data */

	memset(rec + 13, 0x5a, 24);
	uint64_t key = cc_dm_first_app_key(rec, sizeof(rec));
	ck_assert(key != 0);
	__atomic_store_n(&cc_dm_active, 1, __ATOMIC_RELAXED);
	cc_tls_expect(&fake, sess, key, "hello", 5);
	ck_assert_int_eq(cap.n, 0);                             /* waits for its datagram */
	struct cc_addr l = addr4(0x0100007f, 5000), p = addr4(0x0200007f, 6000);
	struct iovec iov = { rec, sizeof(rec) };
	cc_dm_datagram(&iov, 1, sizeof(rec), 1, &l, &p, 77);
	ck_assert_int_eq(cap.n, 1);
	ck_assert_int_eq(cap.len, 5);
	ck_assert_int_eq(cap.ts, 77);
	ck_assert_int_eq(cap.pf.proto, IPPROTO_UDP);
	ck_assert_int_eq(cap.pf.peer.port, 6000);
	ck_assert_str_eq(cap.note, "flow from DTLS record");
	cc_tls_drop(sess);
}
END_TEST

START_TEST(memory_transport_found_by_the_send_that_carries_its_bytes)
{
	static uint8_t sess[1] = { 6 }, other[1] = { 6 };      /* descriptor 6: no socket of ours */
	uint8_t hello[64], sent[100];
	struct cc_nest none = { 0 };

	for (size_t i = 0; i < sizeof(hello); i++)
		hello[i] = (uint8_t)(i * 37 + 1);
	hello[0] = 22;                                          /* a handshake record */
	cc_tls_wire_expect(&fake, sess, hello, sizeof(hello));
	cc_tls_wire_expect(&fake, other, hello, 10);            /* too short to be told apart: not kept */
	void (*watch)(const struct cc_fd *, const struct iovec *, int, size_t) =
		__atomic_load_n(&cc_tcp_sent_watch, __ATOMIC_ACQUIRE);
	ck_assert_ptr_nonnull(watch);
	struct cc_fd fe = { .kind = FDK_TCP, .flags = FDF_PEER | FDF_LOCAL | FDF_TCP_OPEN };
	fe.local = addr4(0x0100007f, 40000);
	fe.peer = addr4(0x0100007f, 8443);
	/* Another connection's bytes: nothing found, still waiting. */
	memset(sent, 0x11, sizeof(sent));
	struct iovec v[2] = { { sent, 30 }, { sent + 30, 70 } };
	watch(&fe, v, 2, sizeof(sent));
	ck_assert_ptr_nonnull(__atomic_load_n(&cc_tcp_sent_watch, __ATOMIC_ACQUIRE));
	/* The send carrying the hello (after other bytes in the same buffer): the session's flow. */
	memcpy(sent + 40, hello, sizeof(hello) - 4);
	watch(&fe, v, 2, sizeof(sent));
	ck_assert_ptr_null(__atomic_load_n(&cc_tcp_sent_watch, __ATOMIC_ACQUIRE));   /* none waits */
	cc_tls_plain(&fake, sess, &none, NULL, 1, "GET", 3, 0);
	ck_assert_int_eq(cap.pf.proto, IPPROTO_TCP);
	ck_assert_int_eq(cap.pf.local.port, 40000);
	ck_assert_int_eq(cap.pf.peer.port, 8443);
	ck_assert_str_eq(cap.note, "flow from earlier record");
	ck_assert_int_eq(fd_asked, 0);
	/* The session that left too few bytes was never matched: its plaintext's flow is unknown. */
	cc_tls_plain(&fake, other, &none, NULL, 1, "x", 1, 0);
	ck_assert_str_eq(cap.note, "flow unknown");
	/* A HelloRetryRequest's bytes (every HRR's) are not a key; a key unseen for 10 s is let go. */
	uint8_t hrr[48] = { 22, 3, 3, 0, 43, 2, 0, 0, 39, 3, 3, 0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe,
			    0x1d, 0x8c, 0x02, 0x1e };
	cc_tls_wire_expect(&fake, other, hrr, sizeof(hrr));
	ck_assert_ptr_null(__atomic_load_n(&cc_tcp_sent_watch, __ATOMIC_ACQUIRE));
	cc_tls_wire_expect(&fake, other, hello, sizeof(hello));
	ck_assert_ptr_nonnull(__atomic_load_n(&cc_tcp_sent_watch, __ATOMIC_ACQUIRE));
	clock_now += 11000000000ull;
	memset(sent, 0x11, sizeof(sent));
	watch(&fe, v, 2, sizeof(sent));
	ck_assert_ptr_null(__atomic_load_n(&cc_tcp_sent_watch, __ATOMIC_ACQUIRE));
	cc_tls_drop(sess);
	cc_tls_drop(other);
}
END_TEST

START_TEST(keylog_line_from_parts)
{
	const uint8_t cr[3] = { 0x00, 0xab, 0xff }, secret[2] = { 0x12, 0xef };

	cc_tls_keylog_secret("CLIENT_RANDOM", cr, sizeof(cr), secret, sizeof(secret));
	ck_assert_int_eq(nlines, 1);
	ck_assert_str_eq(lines[0], "CLIENT_RANDOM 00abff 12ef\n");
	ck_assert_int_eq(dsbs, 1);
}
END_TEST

START_TEST(user_pointer_per_session)
{
	static uint8_t a[1], b[1];
	int x, y;

	cc_tls_user_set(&fake, a, &x);
	cc_tls_user_set(&fake, b, &y);
	ck_assert_ptr_eq(cc_tls_user_get(a), &x);
	ck_assert_ptr_eq(cc_tls_user_get(b), &y);
	cc_tls_drop(a);
	ck_assert_ptr_null(cc_tls_user_get(a));
	ck_assert_ptr_eq(cc_tls_user_get(b), &y);
	cc_tls_drop(b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tls");
	TCase *tc = tcase_create("seam");

	cc_tls_init();
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, adapters_and_handler_registered);
	tcase_add_test(tc, nested_wins_then_last_then_descriptor);
	tcase_add_test(tc, descriptor_from_the_library_else_unknown);
	tcase_add_test(tc, record_match_reaches_the_session_through_the_handler);
	tcase_add_test(tc, memory_transport_found_by_the_send_that_carries_its_bytes);
	tcase_add_test(tc, keylog_line_from_parts);
	tcase_add_test(tc, user_pointer_per_session);
	suite_add_tcase(s, tc);
	return cc_run_suite(s);
}
