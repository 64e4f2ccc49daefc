/*
 * Unit tests for shim/srtpmatch.c: SRTP plaintexts matched with their datagrams on the writer's
 * side.  The writer is stubbed: each deferred record goes to the handler at once, in the order
 * queued (as the ring keeps it), and what the handler writes is logged here.
 */
#include "shim/capture.h"
#include "shim/dtlsmatch.h"
#include "shim/select.h"
#include "shim/srtpmatch.h"
#include "pcapout/writer.h"
#include "tests/unit/check_main.h"

#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

uint32_t cc_pid = 42;
static uint64_t fake_now = 1000000000ull;

uint64_t cc_now(void)
{
	return fake_now;
}

uint64_t cc_now_coarse(void)
{
	return fake_now;
}

/* ---- The writer, stubbed ---- */

struct cc_sink {
	size_t room;            /* records it still takes */
};

static cc_defer_fn handler;

void cc_writer_set_defer(cc_defer_fn fn)
{
	handler = fn;
}

/* What was written, in order. */
#define LOG_MAX 8192
static struct put {
	int iface, outgoing;
	uint16_t sport, dport;
	uint64_t ts;
	uint32_t id;            /* the payload's last four bytes */
	int unmatched;          /* the note said "flow unknown" */
} out[LOG_MAX];
static int nout, unmatched_count, failures[32], failures_unseen;

int cc_sink_put(struct cc_sink *s, const struct cc_frame *f, uint64_t ts_ns, const void *payload, size_t caplen,
		size_t origlen, const char *note)
{
	(void)origlen;
	if (!s->room)
		return -1;
	s->room--;
	ck_assert_int_lt(nout, LOG_MAX);
	struct put *p = &out[nout++];
	p->iface = f->iface;
	p->outgoing = f->outgoing;
	p->sport = f->src.port;
	p->dport = f->dst.port;
	p->ts = ts_ns;
	ck_assert_uint_ge(caplen, 4);
	memcpy(&p->id, (const uint8_t *)payload + caplen - 4, 4);
	p->unmatched = note && strstr(note, "flow unknown") != NULL;
	return 0;
}

/* The inline queueing (writer.h) sees capture paused and takes the slow path, stubbed here. */
static const uint32_t paused;
struct cc_wq cc_wq = { .on = &paused };
int cc_filter_on;

int cc_out_tagged_slow(const struct cc_frame *f, uint64_t ts_ns, const void *payload, size_t len, const void *tag,
		       size_t tag_len)
{
	/* Plaintexts come unstamped: the writer stamps them when it takes them (synth_other). */
	ck_assert(len == 0 || ts_ns == 0);
	struct cc_deferred d = { ts_ns ? ts_ns : fake_now, f, payload, len, len, NULL, tag, tag_len };
	struct cc_sink s = { 3 };

	ck_assert_ptr_nonnull(handler);
	handler(&d, &s);
	return 0;
}

void cc_writer_count_unmatched(uint64_t n)
{
	unmatched_count += (int)n;
}

void cc_writer_count_filtered(void)
{
}

unsigned cc_sel = CC_SEL_ALL;

int cc_sel_wants_classified(const struct cc_frame *f, const struct iovec *iov, int iovcnt, size_t skip,
			    size_t caplen)
{
	(void)f, (void)iov, (void)iovcnt, (void)skip, (void)caplen;
	return 1;
}

void cc_plain_frame(const struct cc_plainflow *pf, struct cc_frame *f, int outgoing, uint8_t proto, const char *note)
{
	memset(f, 0, sizeof(*f));
	f->proto = proto;
	f->iface = CC_IF_PLAINTEXT;
	f->outgoing = (uint8_t)outgoing;
	f->note = note;
	f->src = outgoing ? pf->local : pf->peer;
	f->dst = outgoing ? pf->peer : pf->local;
}

static int key_note(uint32_t keyref, const struct cc_addr *local, const struct cc_addr *peer, int outgoing, char *buf,
		 size_t size)
{
	(void)keyref, (void)local, (void)peer, (void)outgoing, (void)buf, (void)size;
	return 0;
}

static void count_failure(const struct cc_addr *local, const struct cc_addr *peer, int status)
{
	(void)peer;
	if (local)
		failures[status]++;
	else
		failures_unseen++;
}

/* ---- Packets ---- */

/* An SRTP packet unique to `id`: what protect made, and what the datagram carries. */
static void srtp_bytes(uint8_t *p, size_t len, uint32_t id)
{
	memset(p, 0, len);
	p[0] = 0x80;
	p[2] = (uint8_t)(id >> 8);
	p[3] = (uint8_t)id;
	memcpy(p + len - 4, &id, 4);    /* where the authentication tag is */
}

/* The tag the SRTP hooks give packet `id`'s plaintext (or its failed unprotect: status). */
static struct cc_sm_tag tag_of(uint32_t id, int status)
{
	uint8_t p[60];
	struct cc_sm_tag t = { .status = status };

	srtp_bytes(p, sizeof(p), id);
	cc_dm_parts_of(p, sizeof(p), &t.key);
	return t;
}

/* The plaintext of packet `id` (its last four bytes say which), queued as the hooks queue it. */
static void plain(int outgoing, uint32_t id, size_t len)
{
	uint8_t *b = calloc(1, len);
	struct cc_sm_tag t = tag_of(id, 0);

	ck_assert_ptr_nonnull(b);
	memcpy(b + len - 4, &id, 4);
	cc_sm_queue(outgoing, 0, &t, b, len);
	free(b);
}

/* The datagram carrying packet `id` (ChannelData-wrapped with `turn`), as the socket hooks queue it. */
static void datagram(int outgoing, uint32_t id, uint16_t port, uint64_t ts, int hidden, int turn)
{
	uint8_t p[64];
	struct cc_frame f;
	struct cc_addr local = { AF_INET, port, { 127, 0, 0, 1 } }, peer = { AF_INET, 9, { 127, 0, 0, 2 } };
	size_t len = 60, off = turn ? 4 : 0;

	srtp_bytes(p + off, len, id);
	if (turn) {
		p[0] = 0x40;            /* channel 0x4000, RFC 8656 section 12.4 */
		p[1] = 0;
		p[2] = 0;
		p[3] = (uint8_t)len;
		len += 4;
	}
	memset(&f, 0, sizeof(f));
	f.proto = IPPROTO_UDP;
	f.iface = CC_IF_WIRE;
	f.outgoing = (uint8_t)outgoing;
	f.src = outgoing ? local : peer;
	f.dst = outgoing ? peer : local;
	f.defer = CC_DEFER_WIRE;
	f.hidden = (uint8_t)hidden;
	struct cc_deferred d = { ts, &f, p, len, len, NULL, NULL, 0 };
	struct cc_sink s = { 3 };
	handler(&d, &s);
}

static int at_exit(void)
{
	struct cc_sink s = { LOG_MAX };

	return handler(NULL, &s);
}

static void reset(void)
{
	cc_sm_init();
	struct cc_sm_hooks h = { key_note, count_failure };
	cc_sm_set_hooks(&h);
	cc_sm_reset();
	nout = unmatched_count = failures_unseen = 0;
	memset(failures, 0, sizeof(failures));
	fake_now = 1000000000ull;
}

START_TEST(outgoing_written_ahead_of_its_datagram)
{
	reset();
	plain(1, 1, 100);
	plain(1, 2, 3000);              /* longer than kept inline */
	ck_assert_int_eq(nout, 0);
	datagram(1, 2, 5002, 77, 0, 0);
	datagram(1, 1, 5001, 66, 0, 0);
	datagram(1, 1, 5001, 67, 0, 0); /* a second copy finds nothing */
	ck_assert_int_eq(nout, 5);
	/* Plaintext, then its datagram; on the datagram's flow and at its time. */
	ck_assert_int_eq(out[0].iface, CC_IF_PLAINTEXT);
	ck_assert_uint_eq(out[0].id, 2);
	ck_assert_uint_eq(out[0].sport, 5002);
	ck_assert_uint_eq(out[0].dport, 9);
	ck_assert_uint_eq(out[0].ts, 77);
	ck_assert_int_eq(out[1].iface, CC_IF_WIRE);
	ck_assert_int_eq(out[2].iface, CC_IF_PLAINTEXT);
	ck_assert_uint_eq(out[2].id, 1);
	ck_assert_uint_eq(out[2].ts, 66);
	ck_assert_int_eq(out[4].iface, CC_IF_WIRE);
	ck_assert_int_eq(at_exit(), 0);
	ck_assert_int_eq(nout, 5);
	ck_assert_int_eq(unmatched_count, 0);
}
END_TEST

START_TEST(incoming_takes_its_datagrams_flow_and_time)
{
	reset();
	datagram(0, 7, 6000, 55, 0, 0);
	plain(0, 7, 80);
	plain(0, 8, 80);                /* its datagram was never seen */
	ck_assert_int_eq(nout, 3);
	ck_assert_int_eq(out[1].iface, CC_IF_PLAINTEXT);
	ck_assert_int_eq(out[1].outgoing, 0);
	ck_assert_uint_eq(out[1].sport, 9);
	ck_assert_uint_eq(out[1].dport, 6000);
	ck_assert_uint_eq(out[1].ts, 55);
	ck_assert(!out[1].unmatched);
	ck_assert(out[2].unmatched);
	ck_assert_uint_eq(out[2].ts, fake_now);
	ck_assert_int_eq(unmatched_count, 1);
}
END_TEST

/* Declined by class or filter: not written, but still matched on. */
START_TEST(hidden_datagrams_still_match)
{
	reset();
	plain(1, 3, 100);
	datagram(1, 3, 5003, 10, 1, 0);
	datagram(0, 4, 5004, 11, 1, 0);
	plain(0, 4, 100);
	ck_assert_int_eq(nout, 2);
	ck_assert_int_eq(out[0].iface, CC_IF_PLAINTEXT);
	ck_assert_uint_eq(out[0].sport, 5003);
	ck_assert_int_eq(out[1].iface, CC_IF_PLAINTEXT);
	ck_assert_uint_eq(out[1].dport, 5004);
	ck_assert_int_eq(unmatched_count, 0);
}
END_TEST

START_TEST(turn_wrapped_datagrams_match)
{
	reset();
	plain(1, 5, 100);
	datagram(1, 5, 5005, 12, 0, 1);
	ck_assert_int_eq(nout, 2);
	ck_assert_uint_eq(out[0].sport, 5005);
	ck_assert(!out[0].unmatched);
}
END_TEST

START_TEST(unmatched_when_too_old_or_at_exit)
{
	reset();
	plain(1, 3, 100);
	plain(1, 4, 100);
	fake_now += 4000000000ull;
	plain(1, 5, 100);               /* the next record ages the others out */
	ck_assert_int_eq(nout, 2);
	ck_assert(out[0].unmatched && out[1].unmatched);
	datagram(1, 3, 5003, fake_now, 0, 0); /* too late: nothing left to match */
	ck_assert_int_eq(nout, 3);
	ck_assert_int_eq(at_exit(), 0);
	ck_assert_int_eq(nout, 4);
	ck_assert_uint_eq(out[3].id, 5);
	ck_assert(out[3].unmatched);
	ck_assert_int_eq(unmatched_count, 3);
}
END_TEST

/* More waiting than the table holds: the oldest go out unmatched, each exactly once. */
START_TEST(full_table_evicts)
{
	static int seen[2000];

	reset();
	memset(seen, 0, sizeof(seen));
	for (uint32_t id = 0; id < 2000; id++)
		plain(1, id, 64);
	for (uint32_t id = 0; id < 2000; id++)
		datagram(1, id, 6000, 1, 1, 0);
	ck_assert_int_eq(at_exit(), 0);
	int matched = 0;
	for (int i = 0; i < nout; i++) {
		ck_assert_uint_lt(out[i].id, 2000);
		seen[out[i].id]++;
		matched += !out[i].unmatched;
	}
	for (uint32_t id = 0; id < 2000; id++)
		ck_assert_int_eq(seen[id], 1);
	ck_assert_int_ge(matched, 1);   /* the last ones kept */
	ck_assert_int_lt(matched, 2000);
	ck_assert_int_eq(unmatched_count, 2000 - matched);
}
END_TEST

START_TEST(failures_counted_by_flow)
{
	reset();
	datagram(0, 9, 6009, 1, 0, 0);
	struct cc_sm_tag t9 = tag_of(9, 7), t10 = tag_of(10, 9);
	cc_sm_failed(&t9);
	cc_sm_failed(&t10);             /* its datagram never seen */
	ck_assert_int_eq(failures[7], 1);
	ck_assert_int_eq(failures_unseen, 1);
	ck_assert_int_eq(nout, 1);      /* the datagram only: a failure writes nothing */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("srtpmatch");
	TCase *tc = tcase_create("match");

	tcase_add_test(tc, outgoing_written_ahead_of_its_datagram);
	tcase_add_test(tc, incoming_takes_its_datagrams_flow_and_time);
	tcase_add_test(tc, hidden_datagrams_still_match);
	tcase_add_test(tc, turn_wrapped_datagrams_match);
	tcase_add_test(tc, unmatched_when_too_old_or_at_exit);
	tcase_add_test(tc, full_table_evicts);
	tcase_add_test(tc, failures_counted_by_flow);
	suite_add_tcase(s, tc);
	return cc_run_suite(s);
}
