/*
 * pcapout/tlswait.c: a received ServerHello and a sent ChangeCipherSpec of a connection whose
 * ClientHello was sent, and a TLS 1.3 server's flight, wait for the secrets Wireshark needs
 * ahead of them, and no longer.
 */
#include "pcapout/format.h"
#include "pcapout/tlswait.h"
#include "tests/unit/check_main.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static struct cc_frame frame(int outgoing)
{
	struct cc_frame f;

	memset(&f, 0, sizeof(f));
	f.proto = IPPROTO_TCP;
	f.iface = CC_IF_WIRE;
	f.outgoing = (uint8_t)outgoing;
	struct cc_addr local = { AF_INET, 40000, { 127, 0, 0, 1 } }, peer = { AF_INET, 443, { 127, 0, 0, 2 } };
	f.src = outgoing ? local : peer;
	f.dst = outgoing ? peer : local;
	return f;
}

static const uint8_t random_[32] = { 0xab, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
				     16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 0xcd };

static size_t client_hello(uint8_t *p)
{
	uint8_t h[] = { 22, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3 };

	memcpy(p, h, sizeof(h));
	memcpy(p + sizeof(h), random_, 32);
	return sizeof(h) + 32 + 20;
}

/* A DSB holding one key log line LABEL RANDOM SECRET. */
static size_t dsb(uint8_t *b, const char *label)
{
	char line[256];
	int n = snprintf(line, sizeof(line), "%s ", label);

	for (int i = 0; i < 32; i++)
		n += snprintf(line + n, sizeof(line) - (size_t)n, "%02x", random_[i]);
	n += snprintf(line + n, sizeof(line) - (size_t)n, " %064x\n", 7);
	cc_dsb_write(b, line, (size_t)n);
	return cc_dsb_len((size_t)n);
}

START_TEST(server_hello_and_ccs_wait_for_their_secrets)
{
	uint8_t ch[128], b[512];
	const uint8_t sh[] = { 22, 3, 3, 0, 90, 2, 0, 0, 86, 3, 3 };
	const uint8_t ccs[] = { 20, 3, 3, 0, 1, 1, 23, 3, 3, 0, 53 };
	struct cc_frame out = frame(1), in = frame(0);
	uint64_t t = 1000000000000ull;

	cc_tw_reset();
	/* Not our connection (no ClientHello seen): nothing waits. */
	ck_assert_int_eq(cc_tw_wait(&in, sh, sizeof(sh), t, t + 1000), 0);
	ck_assert_int_eq(cc_tw_wait(&out, ch, client_hello(ch), t, t + 1000), 0);
	ck_assert_int_eq(cc_tw_wait(&in, sh, sizeof(sh), t, t + 1000), 1);
	ck_assert_int_eq(cc_tw_wait(&out, ccs, sizeof(ccs), t, t + 1000), 1);
	/* A ServerHello read as its record header alone waits too. */
	ck_assert_int_eq(cc_tw_wait(&in, sh, 5, t, t + 1000), 1);
	/*
	 * TLS 1.3: the ServerHello waits for both handshake secrets and for the server's
	 * application secret (the server's Finished is behind it); none of them releases our
	 * Finished's ChangeCipherSpec.
	 */
	cc_tw_secrets(b, dsb(b, "CLIENT_HANDSHAKE_TRAFFIC_SECRET"));
	ck_assert_int_eq(cc_tw_wait(&in, sh, sizeof(sh), t, t + 1000), 1);
	cc_tw_secrets(b, dsb(b, "SERVER_HANDSHAKE_TRAFFIC_SECRET"));
	ck_assert_int_eq(cc_tw_wait(&in, sh, sizeof(sh), t, t + 1000), 1);
	cc_tw_secrets(b, dsb(b, "SERVER_TRAFFIC_SECRET_0"));
	ck_assert_int_eq(cc_tw_wait(&in, sh, sizeof(sh), t, t + 1000), 0);
	ck_assert_int_eq(cc_tw_wait(&out, ccs, sizeof(ccs), t, t + 1000), 1);
	/* Never longer than CC_TW_MAX_NS. */
	ck_assert_int_eq(cc_tw_wait(&out, ccs, sizeof(ccs), t, t + CC_TW_MAX_NS), 0);
	cc_tw_secrets(b, dsb(b, "CLIENT_TRAFFIC_SECRET_0"));
	ck_assert_int_eq(cc_tw_wait(&out, ccs, sizeof(ccs), t, t + 1000), 0);
	/* TLS 1.2: CLIENT_RANDOM is both. */
	cc_tw_reset();
	cc_tw_wait(&out, ch, client_hello(ch), t, t);
	cc_tw_secrets(b, dsb(b, "CLIENT_RANDOM"));
	ck_assert_int_eq(cc_tw_wait(&in, sh, sizeof(sh), t, t + 1000), 0);
	ck_assert_int_eq(cc_tw_wait(&out, ccs, sizeof(ccs), t, t + 1000), 0);
	/*
	 * The secret taken before its ClientHello is judged (a fast handshake: the secrets block
	 * jumps the queue while the ClientHello is still held): the ClientHello finds it.
	 */
	cc_tw_reset();
	cc_tw_secrets(b, dsb(b, "CLIENT_RANDOM"));
	cc_tw_wait(&out, ch, client_hello(ch), t, t);
	ck_assert_int_eq(cc_tw_wait(&in, sh, sizeof(sh), t, t + 1000), 0);
	ck_assert_int_eq(cc_tw_wait(&out, ccs, sizeof(ccs), t, t + 1000), 0);
	/* ... once: a new connection with that random (a replay) starts with nothing. */
	struct cc_frame out2 = out, in2 = in;
	out2.src.port = in2.dst.port = 40001;
	cc_tw_wait(&out2, ch, client_hello(ch), t, t);
	ck_assert_int_eq(cc_tw_wait(&in2, sh, sizeof(sh), t, t + 1000), 1);
	/* Garbage secrets blocks and short records are harmless. */
	cc_tw_secrets(b, 3);
	memset(b, 0xff, 64);
	cc_tw_secrets(b, 64);
	ck_assert_int_eq(cc_tw_wait(&in, sh, 4, t, t), 0);
}
END_TEST

/*
 * A DTLS server (aiortc answering, Janus): OpenSSL logs CLIENT_RANDOM only once it has read the
 * client's second flight, so that received flight waits for it; the ClientHello does not.
 */
START_TEST(dtls_server_waits_for_the_client_flight_secret)
{
	uint8_t ch[128] = { 22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100, 1, 0, 0, 88, 0, 0, 0, 0, 0, 0, 0, 0, 88,
			    0xfe, 0xfd }, b[512];
	const uint8_t flight[] = { 22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 2, 0, 70, 16 };
	const uint8_t ccs[] = { 20, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 3, 0, 1, 1 };
	const uint8_t app[] = { 23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 1, 0, 40 };
	struct cc_frame out = frame(1), in = frame(0);
	uint64_t t = 1000000000000ull;

	out.proto = in.proto = IPPROTO_UDP;
	memcpy(ch + 27, random_, 32);
	cc_tw_reset();
	ck_assert_int_eq(cc_tw_wait(&in, ch, 80, t, t + 1000), 0);
	ck_assert_int_eq(cc_tw_wait(&in, flight, sizeof(flight), t, t + 1000), 1);
	ck_assert_int_eq(cc_tw_wait(&in, ccs, sizeof(ccs), t, t + 1000), 1);
	/* What the server sends, and application data, never wait here. */
	ck_assert_int_eq(cc_tw_wait(&out, flight, sizeof(flight), t, t + 1000), 0);
	ck_assert_int_eq(cc_tw_wait(&in, app, sizeof(app), t, t + 1000), 0);
	ck_assert_int_eq(cc_tw_wait(&in, flight, sizeof(flight), t, t + CC_TW_MAX_NS), 0);
	cc_tw_secrets(b, dsb(b, "CLIENT_RANDOM"));
	ck_assert_int_eq(cc_tw_wait(&in, flight, sizeof(flight), t, t + 1000), 0);
	/* A DTLS ClientHello cut short is no hello, and reads nothing beyond its length. */
	cc_tw_reset();
	ck_assert_int_eq(cc_tw_wait(&in, ch, 58, t, t + 1000), 0);
	ck_assert_int_eq(cc_tw_wait(&in, flight, sizeof(flight), t, t + 1000), 0);
}
END_TEST

/*
 * A TLS 1.3 server (NSS's selfserv): its flight, ServerHello to Finished, goes out in one send
 * before it logs its application secret, so that sent flight waits for it once a TLS 1.3
 * handshake secret has passed; a TLS 1.2 server's flight never waits.
 */
START_TEST(tls13_server_flight_waits_for_its_application_secret)
{
	uint8_t ch[128], b[512];
	const uint8_t flight[] = { 22, 3, 3, 0, 90, 2, 0, 0, 86, 3, 3 };
	const uint8_t app[] = { 23, 3, 3, 0, 40, 0 };
	struct cc_frame out = frame(1), in = frame(0);
	uint64_t t = 1000000000000ull;

	cc_tw_reset();
	ck_assert_int_eq(cc_tw_wait(&in, ch, client_hello(ch), t, t + 1000), 0);
	/* Which version is not known yet: the flight goes (a TLS 1.2 server's ServerHello). */
	ck_assert_int_eq(cc_tw_wait(&out, flight, sizeof(flight), t, t + 1000), 0);
	cc_tw_secrets(b, dsb(b, "CLIENT_HANDSHAKE_TRAFFIC_SECRET"));
	cc_tw_secrets(b, dsb(b, "SERVER_HANDSHAKE_TRAFFIC_SECRET"));
	ck_assert_int_eq(cc_tw_wait(&out, flight, sizeof(flight), t, t + 1000), 1);
	ck_assert_int_eq(cc_tw_wait(&out, app, sizeof(app), t, t + 1000), 0);
	ck_assert_int_eq(cc_tw_wait(&out, flight, sizeof(flight), t, t + CC_TW_MAX_NS), 0);
	cc_tw_secrets(b, dsb(b, "CLIENT_TRAFFIC_SECRET_0"));
	ck_assert_int_eq(cc_tw_wait(&out, flight, sizeof(flight), t, t + 1000), 1);
	cc_tw_secrets(b, dsb(b, "SERVER_TRAFFIC_SECRET_0"));
	ck_assert_int_eq(cc_tw_wait(&out, flight, sizeof(flight), t, t + 1000), 0);
	/* TLS 1.2: received handshake records wait for CLIENT_RANDOM; the sent flight never does. */
	cc_tw_reset();
	cc_tw_wait(&in, ch, client_hello(ch), t, t);
	ck_assert_int_eq(cc_tw_wait(&in, flight, sizeof(flight), t, t + 1000), 1);
	ck_assert_int_eq(cc_tw_wait(&out, flight, sizeof(flight), t, t + 1000), 0);
	cc_tw_secrets(b, dsb(b, "CLIENT_RANDOM"));
	ck_assert_int_eq(cc_tw_wait(&in, flight, sizeof(flight), t, t + 1000), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tlswait");
	TCase *tc = tcase_create("tlswait");

	tcase_add_test(tc, server_hello_and_ccs_wait_for_their_secrets);
	tcase_add_test(tc, dtls_server_waits_for_the_client_flight_secret);
	tcase_add_test(tc, tls13_server_flight_waits_for_its_application_secret);
	suite_add_tcase(s, tc);
	return cc_run_suite(s);
}
