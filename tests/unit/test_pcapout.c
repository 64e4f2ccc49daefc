/*
 * Unit tests for pcapout/: frame synthesis, record formats, the record ring and the writer.
 * Files the writer produces are read back with libpcap, an independent reader.
 */
#include "pcapout/format.h"
#include "pcapout/format_int.h"
#include "pcapout/frame.h"
#include "pcapout/ring.h"
#include "pcapout/lock.h"
#include "pcapout/single.h"
#include "pcapout/wmem.h"
#include "pcapout/writer.h"
#include "pcapout/writer_int.h"
#include "tests/unit/check_main.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <check.h>
#include <gnu/libc-version.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/single_threaded.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct cc_frame udp4(void)
{
	struct cc_frame f;

	memset(&f, 0, sizeof(f));
	f.proto = IPPROTO_UDP;
	f.iface = CC_IF_WIRE;
	f.outgoing = 1;
	f.ttl = 64;
	f.tos = 0xb8;
	f.pid = 4242;
	f.src.family = f.dst.family = AF_INET;
	f.src.port = 5004;
	f.dst.port = 6004;
	inet_pton(AF_INET, "127.0.0.1", f.src.ip);
	inet_pton(AF_INET, "127.0.0.2", f.dst.ip);
	return f;
}

/* Sums the whole transport segment with its pseudo-header: a right checksum folds to zero. */
static uint16_t verify_l4(const uint8_t *ip, int v6)
{
	uint64_t sum = 0;
	size_t l4len;
	const uint8_t *l4;

	if (v6) {
		l4len = (size_t)(ip[4] << 8 | ip[5]);
		l4 = ip + 40;
		sum = cc_csum_add(sum, ip + 8, 32);
		sum += ip[6];
	} else {
		l4len = (size_t)(ip[2] << 8 | ip[3]) - 20;
		l4 = ip + 20;
		sum = cc_csum_add(sum, ip + 12, 8);
		sum += ip[9];
	}
	sum += l4len;
	sum = cc_csum_add(sum, l4, l4len);
	return cc_csum_fold(sum);
}

/* RFC 1071 as written there: big-endian 16-bit words, one at a time, the odd byte padded with zero. */
static uint16_t naive_csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The fast sum (add-with-carry, 32 bytes a step) against the reference: every length, alignment, carry. */
START_TEST(checksum_matches_rfc1071)
{
	uint8_t buf[600];
	unsigned seed = 12345;

	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < sizeof(buf); i++) {
			seed = seed * 1103515245u + 12345u;
			/* Round 1 all ones: every addition carries; round 2 mostly ones. */
			buf[i] = round == 1 ? 0xff : round == 2 ? (uint8_t)((seed >> 16) | 0xf0) : (uint8_t)(seed >> 16);
		}
		for (size_t off = 0; off < 8; off++)
			for (size_t len = 0; len + off <= 520; len++)
				ck_assert_uint_eq(cc_csum_fold(cc_csum_add(0, buf + off, len)), naive_csum(buf + off, len));
	}
}
END_TEST

START_TEST(udp4_frame_fields_and_checksums)
{
	struct cc_frame f = udp4();
	uint8_t buf[256];
	const char *a = "hello ", *b = "world";
	struct iovec iov[2] = { { (void *)a, 6 }, { (void *)b, 5 } };
	size_t n = cc_frame_build(buf, &f, iov, 2, 0, 11, 11);

	ck_assert_uint_eq(cc_frame_hdr_len(&f), 20 + 20 + 8);
	ck_assert_uint_eq(n, 48 + 11);
	/* SLL2: IPv4, ifindex 1, outgoing, pid in the address. */
	ck_assert_uint_eq(buf[0] << 8 | buf[1], 0x0800);
	ck_assert_uint_eq(buf[7], 1);
	ck_assert_uint_eq(buf[10], 4);
	ck_assert_uint_eq(buf[11], 4);
	ck_assert_uint_eq((uint32_t)buf[12] << 24 | buf[13] << 16 | buf[14] << 8 | buf[15], 4242);
	const uint8_t *ip = buf + 20;
	ck_assert_uint_eq(ip[0], 0x45);
	ck_assert_uint_eq(ip[1], 0xb8);
	ck_assert_uint_eq(ip[2] << 8 | ip[3], 20 + 8 + 11);
	ck_assert_uint_eq(ip[8], 64);
	ck_assert_uint_eq(cc_csum_fold(cc_csum_add(0, ip, 20)), 0);
	/* UDP over IPv4: no checksum (RFC 768), the zero that says so. */
	ck_assert_uint_eq(ip[26] << 8 | ip[27], 0);
	ck_assert_mem_eq(ip + 28, "hello world", 11);
}
END_TEST

START_TEST(udp6_truncated_keeps_lengths)
{
	struct cc_frame f = udp4();
	uint8_t buf[256], payload[100];
	struct iovec iov = { payload, sizeof(payload) };

	f.src.family = f.dst.family = AF_INET6;
	inet_pton(AF_INET6, "::1", f.src.ip);
	inet_pton(AF_INET6, "2001:db8::1", f.dst.ip);
	memset(payload, 0x5a, sizeof(payload));
	size_t n = cc_frame_build(buf, &f, &iov, 1, 0, 100, 1000);
	ck_assert_uint_eq(n, 20 + 40 + 8 + 100);
	const uint8_t *ip = buf + 20;
	ck_assert_uint_eq(ip[0] >> 4, 6);
	ck_assert_uint_eq((ip[0] & 0xf) << 4 | ip[1] >> 4, 0xb8);      /* traffic class */
	ck_assert_uint_eq(ip[4] << 8 | ip[5], 1008);                    /* real UDP length */
	ck_assert_uint_eq(ip[40 + 4] << 8 | ip[40 + 5], 1008);
	/* No sum over bytes not captured, and not zero, which IPv6 forbids: all ones. */
	ck_assert_uint_eq(ip[40 + 6] << 8 | ip[40 + 7], 0xffff);
}
END_TEST

/* A reused address pair: each connection starts from other numbers than the one before. */
START_TEST(tcp_isn_generations)
{
	static struct cc_tcp_gens g;
	struct cc_addr a = { AF_INET, 45678, { 127, 0, 0, 1 } }, b = { AF_INET, 443, { 127, 0, 0, 1 } };
	struct cc_addr c = { AF_INET6, 45678, { 0 } }, d = { AF_INET6, 443, { 0 } };

	c.ip[15] = d.ip[15] = 1;
	/* Generation 0 is the addresses alone, as before generations; either direction differs. */
	ck_assert_uint_ne(cc_tcp_isn(&a, &b, 0), cc_tcp_isn(&b, &a, 0));
	ck_assert_uint_ne(cc_tcp_isn(&a, &b, 0), cc_tcp_isn(&a, &b, 1));
	/* One connection, both ends captured: the connecting end first, then the accepting one. */
	ck_assert_uint_eq(cc_tcp_gen_open(&g, &a, &b, 0), 0);
	ck_assert_uint_eq(cc_tcp_gen_open(&g, &b, &a, 1), 0);
	/* The next: the accepting end first this time (the other noticed its connect late). */
	ck_assert_uint_eq(cc_tcp_gen_open(&g, &b, &a, 1), 1);
	ck_assert_uint_eq(cc_tcp_gen_open(&g, &a, &b, 0), 1);
	/* A stream joined mid-way (across exec) goes on in the open connection's generation. */
	ck_assert_uint_eq(cc_tcp_gen_now(&g, &b, &a), 1);
	/* One end captured alone: each of its connections is a generation of its own. */
	ck_assert_uint_eq(cc_tcp_gen_open(&g, &a, &b, 0), 2);
	ck_assert_uint_eq(cc_tcp_gen_open(&g, &a, &b, 0), 3);
	ck_assert_uint_eq(cc_tcp_gen_open(&g, &b, &a, 1), 3);
	/* Another pair (the same ports over IPv6) is apart; met mid-way first, it is taken (0). */
	ck_assert_uint_eq(cc_tcp_gen_now(&g, &c, &d), 0);
	ck_assert_uint_eq(cc_tcp_gen_open(&g, &d, &c, 1), 1);
	ck_assert_uint_eq(cc_tcp_gen_now(&g, &a, &b), 3);
	/* Round the 8-bit wrap: each next connection's numbers still differ from the last one's. */
	for (unsigned i = 0; i < 300; i++) {
		unsigned was = cc_tcp_gen_now(&g, &a, &b);
		unsigned gen = cc_tcp_gen_open(&g, &a, &b, 0);
		ck_assert_uint_eq(gen, (was + 1) & 0xff);
		ck_assert_uint_eq(cc_tcp_gen_open(&g, &b, &a, 1), gen);
		ck_assert_uint_ne(cc_tcp_isn(&a, &b, gen), cc_tcp_isn(&a, &b, was));
	}
	/* 64 client ports taking turns (the table holds them all: none is new again). */
	for (unsigned round = 0; round < 10; round++)
		for (uint16_t p = 0; p < 64; p++) {
			struct cc_addr o = a;
			o.port = (uint16_t)(46000 + p);
			ck_assert_uint_eq(cc_tcp_gen_open(&g, &o, &b, 0), round);
		}
	/* Thousands of pairs more: a set's oldest entry gives way, and that pair starts again at 0. */
	for (unsigned p = 0; p < 20000; p++) {
		struct cc_addr o = b;
		o.port = (uint16_t)(1000 + p);
		ck_assert_uint_eq(cc_tcp_gen_open(&g, &a, &o, 1), 0);
	}
	ck_assert_uint_eq(cc_tcp_gen_open(&g, &a, &b, 0), 0);
}
END_TEST

START_TEST(tcp_frame_and_skip)
{
	struct cc_frame f = udp4();
	uint8_t buf[256];
	const char *data = "0123456789";
	struct iovec iov = { (void *)data, 10 };

	f.proto = IPPROTO_TCP;
	f.tcp_flags = CC_TCP_PSH | CC_TCP_ACK;
	f.seq = 0x01020304;
	f.ack = 0xa0b0c0d0;
	size_t n = cc_frame_build(buf, &f, &iov, 1, 4, 6, 6);
	ck_assert_uint_eq(n, 20 + 20 + 20 + 6);
	const uint8_t *tcp = buf + 40;
	ck_assert_uint_eq((uint32_t)tcp[4] << 24 | tcp[5] << 16 | tcp[6] << 8 | tcp[7], 0x01020304);
	ck_assert_uint_eq((uint32_t)tcp[8] << 24 | tcp[9] << 16 | tcp[10] << 8 | tcp[11], 0xa0b0c0d0);
	ck_assert_uint_eq(tcp[13], CC_TCP_PSH | CC_TCP_ACK);
	ck_assert_mem_eq(tcp + 20, "456789", 6);
	ck_assert_uint_eq(verify_l4(buf + 20, 0), 0);
}
END_TEST

START_TEST(pcapng_record_layout)
{
	uint8_t rec[256];
	size_t len = cc_record_len(CC_FMT_PCAPNG, 13, 9);
	uint32_t v;

	ck_assert_uint_eq(len % 4, 0);
	memset(rec, 0xee, sizeof(rec));
	cc_record_finish(CC_FMT_PCAPNG, rec, 0x0000000112345678ull, 2, 0, 13, 20, "pid 1 xy", 9);
	memcpy(&v, rec, 4);
	ck_assert_uint_eq(v, 6);
	memcpy(&v, rec + 4, 4);
	ck_assert_uint_eq(v, len);
	memcpy(&v, rec + len - 4, 4);
	ck_assert_uint_eq(v, len);
	memcpy(&v, rec + 8, 4);
	ck_assert_uint_eq(v, 1);        /* interface id of "plaintext" */
	memcpy(&v, rec + 12, 4);
	ck_assert_uint_eq(v, 1);
	memcpy(&v, rec + 16, 4);
	ck_assert_uint_eq(v, 0x12345678);
	ck_assert_uint_eq(cc_record_len(CC_FMT_PCAP, 13, 9), 16 + 13);
}
END_TEST

/*
 * The writer's one-pass record for an IPv4 UDP datagram is byte for byte what the general
 * builders write together: random frames, payload lengths around every padding case and the
 * 16-bit length limits, with and without a comment.
 */
START_TEST(udp4_one_pass_record_equals_general)
{
	static uint8_t payload[70000], a[70200], b[70200];
	unsigned seed = 12345;
	const size_t lens[] = { 0, 1, 2, 3, 4, 5, 199, 200, 201, 1472, 65507, 65508, 65535, 69000 };

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)rand_r(&seed);
	for (int round = 0; round < 400; round++) {
		struct cc_frame f = { 0 };
		size_t len = lens[(size_t)round % (sizeof(lens) / sizeof(lens[0]))];
		const char *comment = "clearcap pid 4242 comm sender-x";
		size_t cl = (size_t)rand_r(&seed) % 32;
		uint64_t ts = (uint64_t)rand_r(&seed) << 32 | (uint32_t)rand_r(&seed);

		f.proto = IPPROTO_UDP;
		f.iface = (uint8_t)(1 + rand_r(&seed) % 3);
		f.outgoing = (uint8_t)(rand_r(&seed) & 1);
		f.tos = (uint8_t)rand_r(&seed);
		f.ttl = (uint8_t)rand_r(&seed);
		f.pid = (uint32_t)rand_r(&seed);
		f.src.family = f.dst.family = AF_INET;
		f.src.port = (uint16_t)rand_r(&seed);
		f.dst.port = (uint16_t)rand_r(&seed);
		for (int k = 0; k < 4; k++) {
			f.src.ip[k] = (uint8_t)rand_r(&seed);
			f.dst.ip[k] = (uint8_t)rand_r(&seed);
		}
		size_t hl = cc_frame_hdr_len(&f), rlen = cc_record_len(CC_FMT_PCAPNG, hl + len, cl);
		struct iovec v = { payload, len };
		memset(a, 0xa5, rlen + 8);
		memset(b, 0x5a, rlen + 8);
		ck_assert_uint_eq(cc_frame_build(a + cc_record_frame_off(CC_FMT_PCAPNG), &f, &v, 1, 0, len, len), hl + len);
		cc_record_finish(CC_FMT_PCAPNG, a, ts, f.iface, f.outgoing, hl + len, hl + len, comment, cl);
		uint8_t opts[16 + 32 + 4];
		size_t ol = cc_record_opts(opts, f.outgoing, comment, cl);
		ck_assert_uint_eq(cc_record_udp4(b, &f, ts, payload, len, opts, ol), rlen);
		ck_assert_mem_eq(a, b, rlen);

		/* The flow's next datagram, of another length and time, from this one's headers. */
		struct cc_udp4_tmpl t;
		cc_udp4_tmpl_take(&t, b, &f);
		size_t len2 = lens[(size_t)rand_r(&seed) % (sizeof(lens) / sizeof(lens[0]))];
		uint64_t ts2 = ts + (uint64_t)rand_r(&seed);
		size_t rlen2 = cc_record_len(CC_FMT_PCAPNG, hl + len2, cl);
		memset(a, 0xa5, rlen2 + 8);
		memset(b, 0x5a, rlen2 + 8);
		ck_assert_uint_eq(cc_record_udp4(a, &f, ts2, payload + 1, len2, opts, ol), rlen2);
		ck_assert_uint_eq(cc_record_udp4_again(b, &t, ts2, payload + 1, len2, opts, ol), rlen2);
		ck_assert_mem_eq(a, b, rlen2);
	}
}
END_TEST

/* Packets in order from the tail, all ready (metadata ignored). */
static int peek(struct cc_ring *r, struct iovec *iov, int max, uint64_t *upto, size_t *bytes, void *unused)
{
	struct iovec meta[max];
	struct cc_ring_batch b = { .meta = meta, .data = iov };

	(void)unused;
	cc_ring_take(r, &b, max, NULL, NULL);
	*upto = b.upto;
	*bytes = b.bytes;
	return b.ndata;
}

START_TEST(ring_wraps_with_padding_and_fills)
{
	struct cc_ring r;
	struct cc_slot s;
	struct iovec iov[64];
	uint64_t upto;
	size_t bytes;
	int n;

	ck_assert_int_eq(cc_ring_init(&r, 4096, 4096), 0);
	/* Fill, drain, and go round many times with odd sizes so slots straddle the end. */
	for (int lap = 0; lap < 200; lap++) {
		int made = 0;
		while (cc_ring_reserve(&r, 100 + (size_t)(lap % 7), &s) == 0) {
			memset(s.data, lap & 0xff, 100 + (size_t)(lap % 7));
			cc_ring_commit(&s);
			made++;
		}
		ck_assert_int_gt(made, 0);
		n = peek(&r, iov, 64, &upto, &bytes, NULL);
		ck_assert_int_eq(n, made);
		for (int i = 0; i < n; i++) {
			ck_assert_uint_eq(iov[i].iov_len, 100 + (size_t)(lap % 7));
			ck_assert_uint_eq(((uint8_t *)iov[i].iov_base)[0], lap & 0xff);
		}
		cc_ring_release(&r, upto);
		ck_assert(cc_ring_empty(&r));
	}
	/* An unpublished slot stops the consumer, and what follows waits for it. */
	struct cc_slot a, b;
	ck_assert_int_eq(cc_ring_reserve(&r, 10, &a), 0);
	ck_assert_int_eq(cc_ring_reserve(&r, 10, &b), 0);
	cc_ring_commit(&b);
	ck_assert_int_eq(peek(&r, iov, 64, &upto, &bytes, NULL), 0);
	cc_ring_commit(&a);
	ck_assert_int_eq(peek(&r, iov, 64, &upto, &bytes, NULL), 2);
	ck_assert_int_eq(cc_ring_reserve(&r, 2000, &a), -1);     /* above size/4 */
	cc_ring_free(&r);
}
END_TEST

/*
 * Nothing released is cleared: a slot still being filled must not read as published whatever
 * bytes an earlier lap left where its header goes, including exact copies of published header
 * words (a payload can carry anything).
 */
START_TEST(ring_stale_bytes_never_published)
{
	struct cc_ring r;
	struct cc_slot s, w;
	struct iovec iov[64];
	uint64_t upto, word = 0;
	size_t bytes;

	ck_assert_int_eq(cc_ring_init(&r, 4096, 4096), 0);
	for (int lap = 0; lap < 300; lap++) {
		/* Payloads full of published header words of every state. */
		while (cc_ring_reserve(&r, 96 + (size_t)(lap % 5) * 16, &s) == 0) {
			uint64_t *p = (uint64_t *)(void *)s.data;
			for (size_t i = 0; i < (96 + (size_t)(lap % 5) * 16) / 8; i++)
				p[i] = i % 2 ? 96 : (word & ~(uint64_t)CC_SLOT_STATE) | (1 + i % 6);
			cc_ring_commit(&s);
			word = *s.word;
		}
		peek(&r, iov, 64, &upto, &bytes, NULL);
		cc_ring_release(&r, upto);
		/* A slot reserved over those bytes and not yet committed: nothing to take. */
		ck_assert_int_eq(cc_ring_reserve(&r, 8 + (size_t)(lap % 3) * 8, &w), 0);
		ck_assert_int_eq(peek(&r, iov, 64, &upto, &bytes, NULL), 0);
		ck_assert_uint_eq(upto, __atomic_load_n(&r.tail, __ATOMIC_RELAXED));
		cc_ring_commit(&w);
		ck_assert_int_eq(peek(&r, iov, 64, &upto, &bytes, NULL), 1);
		cc_ring_release(&r, upto);
		ck_assert(cc_ring_empty(&r));
	}
	cc_ring_free(&r);
}
END_TEST

static int not_b(const uint8_t *d, uint32_t len, int raw, void *arg)
{
	(void)len;
	(void)raw;
	(void)arg;
	return d[0] != 'b';
}

/* A raw slot of n bytes "xy..." becomes the record "<xy...>". */
static size_t bracket(const uint8_t *raw, uint32_t len, uint8_t *out, size_t room, int *records)
{
	if (len + 2 > room)
		return CC_RING_NO_ROOM;
	*records = 1;
	out[0] = '<';
	memcpy(out + 1, raw, len);
	out[len + 1] = '>';
	return len + 2;
}

START_TEST(ring_raw_slots_made_by_consumer)
{
	struct cc_ring r;
	struct cc_slot s;
	struct iovec meta[8], data[8];
	uint8_t stage[16];
	struct cc_ring_batch b = { .meta = meta, .data = data, .synth = bracket, .stage = stage, .stage_size = sizeof(stage) };

	ck_assert_int_eq(cc_ring_init(&r, 4096, 4096), 0);
	const char *recs[] = { "ab", "cd", "=", "ef", "ghijklmn" };
	for (int i = 0; i < 5; i++) {
		size_t n = strlen(recs[i]);
		ck_assert_int_eq(cc_ring_reserve(&r, n, &s), 0);
		memcpy(s.data, recs[i], n);
		if (recs[i][0] == '=')
			cc_ring_commit(&s);
		else
			cc_ring_commit_raw(&s);
	}
	/* Raw records made one after another share an iovec; a finished one in between ends it. */
	ck_assert_int_eq(cc_ring_take(&r, &b, 8, NULL, NULL), 3);
	ck_assert_int_eq(b.packets, 4);
	ck_assert_uint_eq(data[0].iov_len, 8);
	ck_assert_int_eq(memcmp(data[0].iov_base, "<ab><cd>", 8), 0);
	ck_assert_int_eq(memcmp(data[1].iov_base, "=", 1), 0);
	ck_assert_int_eq(memcmp(data[2].iov_base, "<ef>", 4), 0);
	ck_assert_uint_eq(b.bytes, 13);
	/* The stage was full: the last one waits for the next batch, which has the whole stage. */
	cc_ring_release(&r, b.upto);
	ck_assert(!cc_ring_empty(&r));
	ck_assert_int_eq(cc_ring_take(&r, &b, 8, NULL, NULL), 1);
	ck_assert_int_eq(memcmp(data[0].iov_base, "<ghijklmn>", 10), 0);
	cc_ring_release(&r, b.upto);
	ck_assert(cc_ring_empty(&r));

	/* A soft limit smaller than a record still lets one through per batch: none is ever lost. */
	b.stage_soft = 4;
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(cc_ring_reserve(&r, 8, &s), 0);
		memcpy(s.data, i ? "BBBBBBBB" : "AAAAAAAA", 8);
		cc_ring_commit_raw(&s);
	}
	ck_assert_int_eq(cc_ring_take(&r, &b, 8, NULL, NULL), 1);
	ck_assert_int_eq(memcmp(data[0].iov_base, "<AAAAAAAA>", 10), 0);
	cc_ring_release(&r, b.upto);
	ck_assert_int_eq(cc_ring_take(&r, &b, 8, NULL, NULL), 1);
	ck_assert_int_eq(memcmp(data[0].iov_base, "<BBBBBBBB>", 10), 0);
	cc_ring_release(&r, b.upto);
	ck_assert(cc_ring_empty(&r));
	cc_ring_free(&r);
}
END_TEST

START_TEST(ring_metadata_jumps_held_packets)
{
	struct cc_ring r;
	struct cc_slot s;
	struct iovec meta[8], data[8];
	struct cc_ring_batch b = { .meta = meta, .data = data };

	ck_assert_int_eq(cc_ring_init(&r, 4096, 4096), 0);
	const char *recs[] = { "a", "b", "m", "c" };
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(cc_ring_reserve(&r, 1, &s), 0);
		s.data[0] = (uint8_t)recs[i][0];
		if (recs[i][0] == 'm')
			cc_ring_commit_meta(&s);
		else
			cc_ring_commit(&s);
	}
	/* "b" is held: "a" goes, and the metadata behind "b" goes too, ahead of it. */
	ck_assert_int_eq(cc_ring_take(&r, &b, 8, not_b, NULL), 2);
	ck_assert_int_eq(b.nmeta, 1);
	ck_assert_int_eq(((uint8_t *)meta[0].iov_base)[0], 'm');
	ck_assert_int_eq(b.ndata, 1);
	ck_assert_int_eq(((uint8_t *)data[0].iov_base)[0], 'a');
	ck_assert_int_eq(b.packets, 1);
	cc_ring_release(&r, b.upto);
	ck_assert(!cc_ring_empty(&r));
	/* Now everything is ready: "b" and "c" follow, the metadata is not written twice. */
	ck_assert_int_eq(cc_ring_take(&r, &b, 8, NULL, NULL), 2);
	ck_assert_int_eq(b.nmeta, 0);
	ck_assert_int_eq(((uint8_t *)data[0].iov_base)[0], 'b');
	ck_assert_int_eq(((uint8_t *)data[1].iov_base)[0], 'c');
	cc_ring_release(&r, b.upto);
	ck_assert(cc_ring_empty(&r));
	cc_ring_free(&r);
}
END_TEST

struct prod_arg {
	struct cc_ring *r;
	int id, count;
	int vary;                       /* records of many sizes, not 8 bytes each */
};

static void *producer(void *p)
{
	struct prod_arg *a = p;
	struct cc_slot s;

	for (int i = 0; i < a->count; i++) {
		size_t len = a->vary ? 8 + (size_t)((i * 37 + a->id * 11) % 400) : 8;
		while (cc_ring_reserve(a->r, len, &s) < 0)
			sched_yield();
		uint32_t v[2] = { (uint32_t)a->id, (uint32_t)i };
		memcpy(s.data, v, 8);
		cc_ring_commit(&s);
	}
	return NULL;
}

/*
 * Four producer threads, n records each, through ring r while this thread consumes (and, with
 * `grow`, grows the ring when a producer found no room; above 1, also shrinks it back when it
 * can): each one's records whole and in order.  Returns how many times it shrank.
 */
static int race(struct cc_ring *r, int n, int grow)
{
	enum { P = 4 };
	pthread_t t[P];
	struct prod_arg args[P];
	int next[P] = { 0 };
	long total = 0;
	int shrunk = 0;

	for (int i = 0; i < P; i++) {
		args[i] = (struct prod_arg){ r, i, n, grow };
		pthread_create(&t[i], NULL, producer, &args[i]);
	}
	while (total < (long)P * n) {
		struct iovec iov[256];
		uint64_t upto;
		size_t bytes;
		int k = peek(r, iov, 256, &upto, &bytes, NULL);
		for (int i = 0; i < k; i++) {
			uint32_t v[2];
			memcpy(v, iov[i].iov_base, 8);
			/* Each producer's records arrive complete and in its own order. */
			ck_assert_uint_lt(v[0], P);
			ck_assert_int_eq((int)v[1], next[v[0]]);
			next[v[0]]++;
		}
		total += k;
		cc_ring_release(r, upto);
		if (grow && __atomic_load_n(&r->starved, __ATOMIC_RELAXED)) {
			__atomic_store_n(&r->starved, 0, __ATOMIC_RELAXED);
			cc_ring_ask_grow(r);
		}
		/* Back to the first size whenever the consumer caught up, now and then. */
		if (grow > 1 && (total & 7) == 0)
			shrunk += cc_ring_shrink(r, 1 << 12);
	}
	for (int i = 0; i < P; i++)
		pthread_join(t[i], NULL);
	ck_assert(cc_ring_empty(r));
	return shrunk;
}

START_TEST(ring_many_producers_lose_nothing)
{
	struct cc_ring r;

	ck_assert_int_eq(cc_ring_init(&r, 1 << 14, 1 << 14), 0);
	race(&r, 50000, 0);
	cc_ring_free(&r);
}
END_TEST

/*
 * Takes a batch of records numbered in order (the number first, the number's low byte last) and
 * checks them against *seen, which counts them.
 */
static void take_numbered(struct cc_ring *r, uint64_t *seen)
{
	struct iovec iov[64];
	uint64_t upto;
	size_t bytes;
	int n = peek(r, iov, 64, &upto, &bytes, NULL);

	for (int i = 0; i < n; i++) {
		uint64_t v;
		memcpy(&v, iov[i].iov_base, sizeof(v));
		ck_assert_uint_eq(v, *seen);
		ck_assert_uint_eq(((uint8_t *)iov[i].iov_base)[iov[i].iov_len - 1], *seen & 0xff);
		(*seen)++;
	}
	cc_ring_release(r, upto);
}

/* Takes every record left, checking each one's number. */
static void drain_numbered(struct cc_ring *r, uint64_t *seen)
{
	while (!cc_ring_empty(r))
		take_numbered(r, seen);
}

/* Puts record number *made (200 bytes) in the ring; 0, or -1 when it has no room. */
static int put_numbered(struct cc_ring *r, uint64_t *made, uint8_t **where)
{
	struct cc_slot s;

	if (cc_ring_reserve(r, 200, &s) < 0)
		return -1;
	memset(s.data, (int)(*made & 0xff), 200);
	memcpy(s.data, made, sizeof(*made));
	cc_ring_commit(&s);
	*where = s.data;
	(*made)++;
	return 0;
}

/*
 * Numbered records until the ring has grown to `size` (asking for each doubling when it is full,
 * and taking a batch), then every one taken: a ring grown by a burst that is over.
 */
static void grow_numbered(struct cc_ring *r, uint64_t size, uint64_t *made, uint64_t *seen)
{
	uint8_t *at;

	while (CC_RING_SIZE_OF(r->head) < size) {
		if (put_numbered(r, made, &at) < 0) {
			ck_assert_uint_ne(cc_ring_ask_grow(r), 0);
			take_numbered(r, seen);
		}
	}
	drain_numbered(r, seen);
}

/*
 * A ring that starts at 4 KiB and grows to 64 KiB while records of many sizes go round: every
 * record comes out whole and in order, at every growth (odd and even laps, with and without
 * padding, with growths ahead of the consumer).
 */
static void grow_under_load(int shrink)
{
	struct cc_ring r;
	struct cc_slot s;
	struct iovec iov[64];
	uint64_t upto, made = 0, seen = 0, rnd = 12345;
	size_t bytes;
	int grown = 0, shrunk = 0;

	ck_assert_int_eq(cc_ring_init(&r, 1 << 16, 1 << 12), 0);
	ck_assert_uint_eq(CC_RING_SIZE_OF(r.head), 1 << 12);
	for (int round = 0; round < 20000; round++) {
		rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
		size_t len = 9 + (size_t)(rnd >> 33) % 900;
		if (cc_ring_reserve(&r, len, &s) == 0) {
			memset(s.data, (int)(made & 0xff), len);
			memcpy(s.data, &made, sizeof(made));
			cc_ring_commit(&s);
			made++;
		}
		/* The consumer lags by a varying number of records. */
		if ((rnd >> 20) % 5 == 0 || made - seen > 40) {
			take_numbered(&r, &seen);
		}
		if ((rnd >> 40) % 300 == 0) {
			uint64_t size = CC_RING_SIZE_OF(r.head);
			size_t asked = cc_ring_ask_grow(&r);
			if (asked) {
				ck_assert_uint_eq(asked, 2 * size);
				/* Asked once: the next ask waits for this growth. */
				ck_assert_uint_eq(cc_ring_ask_grow(&r), 0);
				grown++;
			}
		}
		/*
		 * Shrinking: only an empty ring, to any smaller size, at any point of a lap (a
		 * growth asked for and not made yet is dropped).
		 */
		if (shrink && (rnd >> 50) % 97 == 0) {
			uint64_t size = CC_RING_SIZE_OF(r.head), to = 1u << (12 + (rnd >> 8) % 3);
			int empty = cc_ring_empty(&r), done = cc_ring_shrink(&r, to);
			ck_assert_int_eq(done, empty && to < size);
			ck_assert_uint_eq(CC_RING_SIZE_OF(r.head), done ? to : size);
			shrunk += done;
		}
	}
	if (shrink) {
		ck_assert_int_gt(shrunk, 10);
		ck_assert_int_gt(grown, 10);
	} else {
		ck_assert_uint_eq(CC_RING_SIZE_OF(r.head), 1 << 16);
		ck_assert_int_eq(grown, 4);
		ck_assert_uint_eq(cc_ring_ask_grow(&r), 0);
	}
	for (;;) {
		int n = peek(&r, iov, 64, &upto, &bytes, NULL);
		if (!n)
			break;
		for (int i = 0; i < n; i++) {
			uint64_t v;
			memcpy(&v, iov[i].iov_base, sizeof(v));
			ck_assert_uint_eq(v, seen);
			seen++;
		}
		cc_ring_release(&r, upto);
	}
	ck_assert_uint_eq(seen, made);
	ck_assert_uint_gt(made, 15000);
	ck_assert(cc_ring_empty(&r));
	cc_ring_free(&r);
}

START_TEST(ring_grows_under_load_and_loses_nothing)
{
	grow_under_load(0);
}
END_TEST

/* The same with the ring shrunk whenever it happens to be empty: records whole, in order, none lost. */
START_TEST(ring_shrinks_and_grows_again)
{
	grow_under_load(1);
}
END_TEST

/* Resident pages of the n bytes at p (mincore). */
static size_t resident(const uint8_t *p, size_t n)
{
	unsigned char v[n / 4096];
	size_t k = 0;

	ck_assert_int_eq(mincore((void *)p, n, v), 0);
	for (size_t i = 0; i < n / 4096; i++)
		k += v[i] & 1;
	return k * 4096;
}

/*
 * A ring grown to 1 MiB by a backlog shrinks back to 64 KiB only once the consumer caught up,
 * and the memory above is no longer resident; it grows again when asked.
 */
START_TEST(ring_shrink_gives_memory_back)
{
	struct cc_ring r;
	uint64_t made = 0, seen = 0;
	uint8_t *at;

	ck_assert_int_eq(cc_ring_init(&r, 1 << 20, 1 << 16), 0);
	cc_ring_prefault(&r);
	while (CC_RING_SIZE_OF(r.head) < 1 << 20 || made < 3000) {
		if (put_numbered(&r, &made, &at) < 0) {
			r.starved = 0;
			ck_assert_uint_ne(cc_ring_ask_grow(&r), 0);
		}
	}
	ck_assert_uint_eq(resident(r.buf, 1 << 20), 1 << 20);
	/* Records wait: no shrink. */
	ck_assert_int_eq(cc_ring_shrink(&r, 1 << 16), 0);
	ck_assert_uint_eq(CC_RING_SIZE_OF(r.head), 1 << 20);
	drain_numbered(&r, &seen);
	ck_assert_uint_eq(seen, made);
	ck_assert_int_eq(cc_ring_shrink(&r, 1 << 16), 1);
	ck_assert_uint_eq(CC_RING_SIZE_OF(r.head), 1 << 16);
	ck_assert_uint_le(resident(r.buf, 1 << 20), 1 << 16);
	/* Not smaller than it is, and not twice. */
	ck_assert_int_eq(cc_ring_shrink(&r, 1 << 16), 0);
	/* Records go round the small ring, then it grows again when asked. */
	for (int i = 0; i < 2000; i++) {
		ck_assert_int_eq(put_numbered(&r, &made, &at), 0);
		if (i == 1000)
			ck_assert_uint_eq(cc_ring_ask_grow(&r), 1 << 17);
		if (i % 50 == 49)
			take_numbered(&r, &seen);
	}
	drain_numbered(&r, &seen);
	ck_assert_uint_eq(seen, made);
	ck_assert_uint_eq(CC_RING_SIZE_OF(r.head), 1 << 17);
	cc_ring_free(&r);
}
END_TEST

/*
 * The consumer blocked (a writer waiting on a slow reader): a producer that finds no room asks
 * for more, four times over, and every record comes out whole and in order once it goes on.
 */
START_TEST(ring_grows_while_the_consumer_waits)
{
	struct cc_ring r;
	struct cc_slot s;
	struct iovec iov[64];
	uint64_t upto, made = 0, seen = 0;
	size_t bytes;

	ck_assert_int_eq(cc_ring_init(&r, 1 << 16, 1 << 12), 0);
	for (int i = 0; i < 5000; i++) {
		size_t len = 9 + (size_t)(i * 37) % 300;
		/* The consumer takes the first few, then nothing: full with the head past a lap's end. */
		if (i == 4) {
			int n = peek(&r, iov, 2, &upto, &bytes, NULL);
			seen += (uint64_t)n;
			cc_ring_release(&r, upto);
		}
		if (cc_ring_reserve(&r, len, &s) < 0) {
			ck_assert_int_eq(r.starved, 1);
			r.starved = 0;
			if (!cc_ring_ask_grow(&r))
				break;
			continue;
		}
		memset(s.data, (int)(made & 0xff), len);
		memcpy(s.data, &made, sizeof(made));
		cc_ring_commit(&s);
		made++;
	}
	ck_assert_uint_eq(CC_RING_SIZE_OF(r.head), 1 << 16);
	/* Grown four times with the consumer stuck: the last size's first lap, 32 KiB, is full. */
	ck_assert_uint_gt(made - seen, (1 << 15) / 320);
	drain_numbered(&r, &seen);
	ck_assert_uint_eq(seen, made);
	ck_assert(cc_ring_empty(&r));
	/* A record above a quarter of the ring takes three doublings, asked one at a time. */
	cc_ring_free(&r);
	ck_assert_int_eq(cc_ring_init(&r, 1 << 16, 1 << 12), 0);
	int asks = 0;
	while (cc_ring_reserve(&r, 5000, &s) < 0) {
		ck_assert_int_lt(asks, 10);
		ck_assert_uint_ne(cc_ring_ask_grow(&r), 0);
		asks++;
	}
	ck_assert_int_eq(asks, 3);
	ck_assert_uint_eq(CC_RING_SIZE_OF(r.head), 1 << 15);
	memset(s.data, 0x5a, 5000);
	cc_ring_commit(&s);
	/* A batch ends at each growth: the three paddings, then the record. */
	int n = 0;
	for (int i = 0; i < 4; i++) {
		n += peek(&r, iov, 64, &upto, &bytes, NULL);
		cc_ring_release(&r, upto);
	}
	ck_assert_int_eq(n, 1);
	ck_assert_uint_eq(iov[0].iov_len, 5000);
	ck_assert_uint_eq(((uint8_t *)iov[0].iov_base)[4999], 0x5a);
	ck_assert(cc_ring_empty(&r));
	cc_ring_free(&r);
}
END_TEST

/* Threads racing through growths (run under TSan too). */
START_TEST(ring_grows_while_producers_race)
{
	struct cc_ring r;

	ck_assert_int_eq(cc_ring_init(&r, 1 << 17, 1 << 12), 0);
	race(&r, 40000, 1);
	ck_assert_uint_gt(CC_RING_SIZE_OF(r.head), 1 << 12);
	cc_ring_free(&r);
}
END_TEST

/*
 * Between a shrink's compare-and-swap and its MADV_DONTNEED, producers that fill the small ring
 * and ask for room get no growth: a growth would put records in the memory about to be zeroed
 * (a review paused a shrink there and lost records).  Once the memory is given back, growth
 * goes on, and every record comes out whole.
 */
START_TEST(ring_no_growth_while_a_shrink_gives_memory_back)
{
	struct cc_ring r;
	uint64_t made = 0, seen = 0, from;
	uint8_t *at;
	int in_small = 0;

	ck_assert_int_eq(cc_ring_init(&r, 1 << 16, 1 << 12), 0);
	grow_numbered(&r, 1 << 16, &made, &seen);
	from = cc_ring_shrink_begin(&r, 1 << 12);
	ck_assert_uint_eq(from, 1 << 16);
	ck_assert_uint_eq(CC_RING_SIZE_OF(r.head), 1 << 12);
	/* The small ring fills; asking for room grows nothing; every record in the small part. */
	while (put_numbered(&r, &made, &at) == 0) {
		ck_assert(at < r.buf + (1 << 12));
		in_small++;
	}
	ck_assert_int_gt(in_small, 10);
	ck_assert_uint_eq(cc_ring_ask_grow(&r), 0);
	ck_assert_int_eq(put_numbered(&r, &made, &at), -1);
	ck_assert_uint_eq(CC_RING_SIZE_OF(r.head), 1 << 12);
	/* A second shrink now (not empty, growth held) does nothing. */
	ck_assert_uint_eq(cc_ring_shrink_begin(&r, 1 << 12), 0);
	cc_ring_shrink_end(&r, 1 << 12, from);
	ck_assert_uint_eq(cc_ring_ask_grow(&r), 1 << 13);
	ck_assert_int_eq(put_numbered(&r, &made, &at), 0);
	ck_assert_uint_eq(CC_RING_SIZE_OF(r.head), 1 << 13);
	drain_numbered(&r, &seen);
	ck_assert_uint_eq(seen, made);
	cc_ring_free(&r);
}
END_TEST

/*
 * An asker that read the ring's size before a shrink (a producer short of room, held up) does
 * not ask the small ring to grow: the shrink moved `want` on to a new epoch, and an asker
 * changes it only from the word it read.
 */
START_TEST(ring_stale_ask_does_not_undo_a_shrink)
{
	struct cc_ring r;
	uint64_t made = 0, seen = 0, before, w;
	uint8_t *at;

	ck_assert_int_eq(cc_ring_init(&r, 1 << 16, 1 << 12), 0);
	grow_numbered(&r, 1 << 14, &made, &seen);
	/* What an asker at 16 KiB read. */
	before = __atomic_load_n(&r.want, __ATOMIC_RELAXED);
	ck_assert_uint_eq(CC_RING_WANT_LG(before), 14);
	ck_assert_int_eq(cc_ring_shrink(&r, 1 << 12), 1);
	/* Its compare-and-swap from that word fails: the epoch moved on. */
	w = before;
	ck_assert(!__atomic_compare_exchange_n(&r.want, &w, CC_RING_WANT(15, CC_RING_WANT_EPOCH(before)), 0,
					       __ATOMIC_RELEASE, __ATOMIC_RELAXED));
	ck_assert_uint_eq(CC_RING_WANT_LG(w), 12);
	ck_assert_uint_eq(CC_RING_WANT_EPOCH(w), CC_RING_WANT_EPOCH(before) + 1);
	/* Round the small ring many times: it stays small until asked. */
	for (int i = 0; i < 500; i++) {
		if (put_numbered(&r, &made, &at) < 0)
			take_numbered(&r, &seen);
	}
	ck_assert_uint_eq(CC_RING_SIZE_OF(r.head), 1 << 12);
	drain_numbered(&r, &seen);
	ck_assert_uint_eq(seen, made);
	cc_ring_free(&r);
}
END_TEST

/*
 * A growth asked for at the end of a burst (the writer's last pass saw a quarter of the ring
 * waiting; a producer short of room asked, then found room) is made by no producer once the
 * load stops: the shrink drops it, and gives back the half its asker made resident too.
 */
START_TEST(ring_shrink_drops_a_growth_not_made)
{
	struct cc_ring r;
	uint64_t made = 0, seen = 0;
	uint8_t *at;

	ck_assert_int_eq(cc_ring_init(&r, 1 << 20, 1 << 16), 0);
	grow_numbered(&r, 1 << 18, &made, &seen);
	ck_assert_uint_eq(cc_ring_ask_grow(&r), 1 << 19);       /* asked; the load stops */
	ck_assert_uint_eq(resident(r.buf + (1 << 18), 1 << 18), 1 << 18);
	ck_assert_int_eq(cc_ring_shrink(&r, 1 << 16), 1);
	ck_assert_uint_eq(CC_RING_SIZE_OF(r.head), 1 << 16);
	ck_assert_uint_eq(resident(r.buf + (1 << 16), (1 << 20) - (1 << 16)), 0);
	/* The dropped ask is gone: round the small ring, it stays small until asked again. */
	for (int i = 0; i < 2000; i++) {
		if (put_numbered(&r, &made, &at) < 0)
			take_numbered(&r, &seen);
	}
	ck_assert_uint_eq(CC_RING_SIZE_OF(r.head), 1 << 16);
	drain_numbered(&r, &seen);
	ck_assert_uint_eq(seen, made);
	cc_ring_free(&r);
}
END_TEST

/* Threads racing through growths and shrinks (run under TSan too). */
START_TEST(ring_shrinks_while_producers_race)
{
	struct cc_ring r;

	ck_assert_int_eq(cc_ring_init(&r, 1 << 17, 1 << 12), 0);
	ck_assert_int_gt(race(&r, 40000, 2), 0);
	cc_ring_free(&r);
}
END_TEST

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static off_t file_size(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_size;
}

/* Appends the first 20 bytes of a 92-byte block, as a writer killed mid-writev leaves it. */
static off_t append_torn(const char *path)
{
	uint32_t torn[5] = { 6, 92, 0, 0, 0 };
	int fd = open(path, O_WRONLY | O_APPEND);
	off_t at = file_size(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, torn, sizeof(torn)), (ssize_t)sizeof(torn));
	close(fd);
	return at;
}

/* The torn block is still at `at`. */
static int torn_at(const char *path, off_t at)
{
	uint32_t b[5] = { 0 };
	int fd = open(path, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, b, sizeof(b), at), (ssize_t)sizeof(b));
	close(fd);
	return b[0] == 6 && b[1] == 92 && b[2] == 0 && b[3] == 0 && b[4] == 0;
}

static void write_packets(struct cc_frame *f, int count)
{
	for (int i = 0; i < count; i++) {
		struct iovec iov = { "late", 4 };
		ck_assert_int_eq(cc_out_frame(f, 1700000001000000000ull + (uint64_t)i, &iov, 1, 0, 4, 4), 0);
	}
	cc_writer_flush();
}

/*
 * Points the writer at a fresh name made from path (a mkstemp template), 1 MiB of ring.  Once a
 * process: with CK_FORK=no (the TSan run) a later test finds the writer running, which the
 * configuration must not change under it, and goes on with the earlier test's file.
 */
static void writer_to_temp(char *path)
{
	static int configured;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	close(fd);
	unlink(path);
	if (configured++)
		return;
	struct cc_writer_cfg cfg = { .path = path, .format = CC_FMT_PCAPNG, .ring_size = 1 << 20,
				     .comment = "pid 1 unit" };
	cc_writer_configure(&cfg);
}

START_TEST(writer_file_reads_back_with_libpcap)
{
	char path[] = "/tmp/cc-unit-XXXXXX";
	char err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	int n = 0;

	writer_to_temp(path);
	struct cc_frame f = udp4();
	for (int i = 0; i < 1000; i++) {
		char msg[32];
		int len = snprintf(msg, sizeof(msg), "packet %d", i);
		struct iovec iov = { msg, (size_t)len };
		f.outgoing = i & 1;
		ck_assert_int_eq(cc_out_frame(&f, 1700000000000000000ull + (uint64_t)i, &iov, 1, 0, (size_t)len,
					      (size_t)len), 0);
	}
	cc_writer_flush();
	struct cc_writer_stats st;
	cc_writer_stats(&st);
	ck_assert_uint_eq(st.captured, 1000);
	ck_assert_uint_eq(st.dropped, 0);

	pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, err);
	ck_assert_msg(p != NULL, "%s", err);
	ck_assert_int_eq(pcap_datalink(p), CC_LINKTYPE_LINUX_SLL2);
	while (pcap_next_ex(p, &h, &data) == 1) {
		char want[32];
		int len = snprintf(want, sizeof(want), "packet %d", n);
		ck_assert_uint_eq(h->caplen, 48 + (unsigned)len);
		ck_assert_mem_eq(data + 48, want, (size_t)len);
		ck_assert_uint_eq(h->ts.tv_usec, (unsigned)n);  /* nanoseconds with NANO precision */
		ck_assert_uint_eq(data[10], (n & 1) ? 4 : 0);
		n++;
	}
	ck_assert_int_eq(n, 1000);
	pcap_close(p);

	/*
	 * A record cut short at the end is cut off -- but not while another process holds the
	 * repair lock, as a writer sharing a description (a chrooted child) does during its writev.
	 */
	int go[2], done[2];
	char c;
	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(done), 0);
	pid_t kid = fork();
	if (kid == 0) {
		int lfd = open(path, O_RDWR);
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
		if (lfd < 0 || fcntl(lfd, F_SETLK, &fl) < 0)
			_exit(1);
		if (write(go[1], "L", 1) != 1 || read(done[0], &c, 1) != 1)
			_exit(2);
		_exit(0);
	}
	ck_assert_int_eq(read(go[0], &c, 1), 1);
	off_t at = append_torn(path);
	off_t before = file_size(path);
	write_packets(&f, 10);
	off_t ten = file_size(path) - before;
	ck_assert_msg(torn_at(path, at), "a record being written is left alone");
	ck_assert_int_eq(write(done[1], "x", 1), 1);
	int status;
	ck_assert_int_eq(waitpid(kid, &status, 0), kid);
	ck_assert_int_eq(status, 0);

	at = append_torn(path);
	before = file_size(path);
	write_packets(&f, 10);
	ck_assert_msg(!torn_at(path, at), "a record a killed writer left is cut off");
	ck_assert_int_eq(file_size(path) - before, ten - 20);
	close(go[0]), close(go[1]), close(done[0]), close(done[1]);

	/*
	 * Without a TLS session nothing waits for a secret: a packet goes at the writer's next pass,
	 * however young.  Once there is one, a young packet is held back (a stamp 0.5 s ahead: young
	 * for as long as this takes).  The writer's own thread is kept out by its lock.
	 */
	struct iovec young = { "young", 5 };
	uint64_t ahead = now_ns() + 500000000ull;
	pthread_mutex_lock(&W.drain_lock);
	ck_assert_int_eq(cc_out_frame(&f, ahead, &young, 1, 0, 5, 5), 0);
	ck_assert_uint_gt(cc_w_drain_locked(0), 0);
	cc_writer_hold_for_secrets();
	ck_assert_int_eq(cc_out_frame(&f, ahead, &young, 1, 0, 5, 5), 0);
	ck_assert_uint_eq(cc_w_drain_locked(0), 0);
	ck_assert_uint_gt(cc_w_drain_locked(1), 0);
	pthread_mutex_unlock(&W.drain_lock);
	unlink(path);
}
END_TEST

/*
 * The writer naps up to 30 ms between passes; a burst that fills the ring meanwhile wakes it, and
 * nothing is dropped.  Idle first, so the writer is in its longest nap when the burst comes: 4 MB
 * into a 1 MiB ring, in records large enough that even a sanitizer build fills it within the nap.
 */
START_TEST(writer_woken_by_a_full_ring)
{
	char path[] = "/tmp/cc-unit-XXXXXX";
	static char payload[60000];     /* a few records fill the ring, however slow the build */
	struct cc_writer_stats st, was;

	writer_to_temp(path);
	struct cc_frame f = udp4();
	struct iovec iov = { payload, sizeof(payload) };
	/* Counted from here: with CK_FORK=no (the TSan run) the writer is the earlier tests' too. */
	cc_writer_stats(&was);
	ck_assert_int_eq(cc_out_frame(&f, 1700000000000000000ull, &iov, 1, 0, sizeof(payload), sizeof(payload)), 0);
	usleep(300000);
	for (int i = 1; i <= 70; i++)
		ck_assert_int_eq(cc_out_frame(&f, 1700000000000000000ull + (uint64_t)i, &iov, 1, 0, sizeof(payload),
					      sizeof(payload)), 0);
	cc_writer_flush();
	cc_writer_stats(&st);
	ck_assert_uint_eq(st.captured - was.captured, 71);
	ck_assert_uint_eq(st.dropped - was.dropped, 0);
	ck_assert_uint_gt(st.bytes - was.bytes, 71 * 60000);
	ck_assert_uint_ge(st.woken - was.woken, 1);
	unlink(path);
}
END_TEST

/* CC_MUTEX_INITIALIZER is, byte for byte, what pthread_mutex_init makes of a process-shared attribute. */
START_TEST(mutex_initializer_is_process_shared)
{
	pthread_mutex_t a = CC_MUTEX_INITIALIZER, b, c;
	pthread_mutexattr_t attr;
	int shared = 0;

	memset(&b, 0xa5, sizeof(b));
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(&b, &attr);
	ck_assert_int_eq(memcmp(&a, &b, sizeof(a)), 0);
	memset(&c, 0x5a, sizeof(c));
	cc_mutex_init(&c);
	ck_assert_int_eq(memcmp(&a, &c, sizeof(a)), 0);
	/* And glibc reads it back as process-shared. */
	pthread_mutexattr_destroy(&attr);
	ck_assert_int_eq(pthread_mutex_lock(&a), 0);
	ck_assert_int_eq(pthread_mutex_trylock(&a), EBUSY);
	ck_assert_int_eq(pthread_mutex_unlock(&a), 0);
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_PRIVATE);
	pthread_mutexattr_getpshared(&attr, &shared);
	ck_assert_int_eq(shared, PTHREAD_PROCESS_PRIVATE);
	pthread_mutexattr_destroy(&attr);
}
END_TEST

/* The writer's memory: a block given back is the next one taken; growing keeps the bytes. */
START_TEST(wmem_reuses_and_grows)
{
	uint8_t *p = cc_wmem_alloc(2000);

	ck_assert_ptr_nonnull(p);
	memset(p, 7, 2000);
	cc_wmem_free(p, 2000);
	uint8_t *q = cc_wmem_alloc(1500);
	ck_assert_ptr_eq(q, p);
	q[0] = 1, q[1499] = 2;
	uint8_t *r = cc_wmem_grow(q, 1500, CC_WMEM_BLOCK);
	ck_assert_ptr_eq(r, q);         /* a block holds up to CC_WMEM_BLOCK */
	r = cc_wmem_grow(r, 1500, 3 * CC_WMEM_BLOCK);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r[0], 1);
	ck_assert_int_eq(r[1499], 2);
	r[3 * CC_WMEM_BLOCK - 1] = 3;
	cc_wmem_free(r, 3 * CC_WMEM_BLOCK);
	cc_wmem_free(NULL, 10);
}
END_TEST

static int quiet_go;

static void *quiet_main(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&quiet_go, __ATOMIC_ACQUIRE))
		usleep(1000);
	return NULL;
}

/*
 * A quiet thread leaves glibc's single-thread flag as the process had it; a pause around a
 * credential call clears it and puts it back; any other thread ends that for good.
 */
START_TEST(quiet_thread_keeps_single_flag)
{
	pthread_t a, b;
	int single = __libc_single_threaded;
	int known = strcmp(gnu_get_libc_version(), "2.36") == 0;
#if defined(__SANITIZE_THREAD__)
	known = 0;
#endif

	ck_assert_int_eq(cc_thread_start(&a, NULL, quiet_main, NULL, 1), 0);
	ck_assert_int_eq(__libc_single_threaded, single && known);
	ck_assert_int_eq(cc_single_kept(), single && known);
	int paused = cc_single_pause();
	ck_assert_int_eq(paused != 0, single && known);
	ck_assert_int_eq(__libc_single_threaded, 0);
	cc_single_resume(paused);
	ck_assert_int_eq(__libc_single_threaded, single && known);
	ck_assert_int_eq(cc_thread_start(&b, NULL, quiet_main, NULL, 0), 0);
	ck_assert_int_eq(__libc_single_threaded, 0);
	ck_assert_int_eq(cc_single_kept(), 0);
	cc_single_resume(cc_single_pause());
	ck_assert_int_eq(__libc_single_threaded, 0);
	__atomic_store_n(&quiet_go, 1, __ATOMIC_RELEASE);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
}
END_TEST

/*
 * A fork child's ring: the slot a producer took before the fork stays writable after the child
 * drops the ring, the new ring is elsewhere, and a chain of forks keeps two buffers at most.
 */
START_TEST(ring_abandoned_in_a_fork_child)
{
	struct cc_ring r;
	struct cc_slot s;

	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(cc_ring_init(&r, 1u << 20, 1u << 20), 0);
	uint8_t *first = r.buf;
	ck_assert_int_eq(cc_ring_reserve(&r, 100, &s), 0);
	cc_ring_abandon(&r);
	memset(s.data, 7, 100);         /* the late producer: still mapped */
	cc_ring_commit(&s);
	ck_assert_int_eq(cc_ring_renew(&r, 1u << 20, 1u << 20), 0);
	ck_assert_ptr_ne(r.buf, first);
	ck_assert_ptr_eq(r.old, first);
	ck_assert_int_eq(s.data[99], 7);
	/* The next generation: the grandparent's buffer goes, the parent's stays. */
	uint8_t *second = r.buf;
	cc_ring_abandon(&r);
	ck_assert_int_eq(cc_ring_renew(&r, 1u << 20, 1u << 20), 0);
	ck_assert_ptr_eq(r.old, second);
	/* Unmapped (or mapped again as the new ring). */
	ck_assert(r.buf == first || (msync(first, 4096, MS_ASYNC) == -1 && errno == ENOMEM));
	ck_assert_int_eq(msync(second, 4096, MS_ASYNC), 0);
	cc_ring_free(&r);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("pcapout");
	TCase *t = tcase_create("core");

	tcase_set_timeout(t, 60);
	tcase_add_test(t, checksum_matches_rfc1071);
	tcase_add_test(t, ring_raw_slots_made_by_consumer);
	tcase_add_test(t, ring_stale_bytes_never_published);
	tcase_add_test(t, udp4_frame_fields_and_checksums);
	tcase_add_test(t, udp6_truncated_keeps_lengths);
	tcase_add_test(t, tcp_isn_generations);
	tcase_add_test(t, tcp_frame_and_skip);
	tcase_add_test(t, pcapng_record_layout);
	tcase_add_test(t, udp4_one_pass_record_equals_general);
	tcase_add_test(t, ring_wraps_with_padding_and_fills);
	tcase_add_test(t, ring_many_producers_lose_nothing);
	tcase_add_test(t, ring_grows_under_load_and_loses_nothing);
	tcase_add_test(t, ring_grows_while_producers_race);
	tcase_add_test(t, ring_grows_while_the_consumer_waits);
	tcase_add_test(t, ring_shrinks_and_grows_again);
	tcase_add_test(t, ring_shrink_gives_memory_back);
	tcase_add_test(t, ring_shrinks_while_producers_race);
	tcase_add_test(t, ring_no_growth_while_a_shrink_gives_memory_back);
	tcase_add_test(t, ring_stale_ask_does_not_undo_a_shrink);
	tcase_add_test(t, ring_shrink_drops_a_growth_not_made);
	tcase_add_test(t, ring_metadata_jumps_held_packets);
	tcase_add_test(t, writer_file_reads_back_with_libpcap);
	tcase_add_test(t, writer_woken_by_a_full_ring);
	tcase_add_test(t, mutex_initializer_is_process_shared);
	tcase_add_test(t, wmem_reuses_and_grows);
	tcase_add_test(t, quiet_thread_keeps_single_flag);
	tcase_add_test(t, ring_abandoned_in_a_fork_child);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return cc_run_suite(suite());
}
