/*
 * The capture writer: the record ring, the thread that drains it, flush on exit/exec and the
 * fork protocol.  The output file is outfile.c's, the secrets history secrets.c's, the shared
 * pages' counters counters.c's (writer_int.h is what they share).
 *
 * The shim interposes write/writev/close/fcntl, so everything here that touches a descriptor goes
 * through syscall(2) directly: our own I/O must never enter our own hooks.
 */
#include "pcapout/writer.h"
#include "pcapout/lock.h"
#include "pcapout/filter.h"
#include "pcapout/format_int.h"
#include "pcapout/ring.h"
#include "pcapout/tlswait.h"
#include "pcapout/pages.h"
#include "pcapout/output.h"
#include "pcapout/writer_int.h"
#include "pcapout/rundir.h"
#include "pcapout/single.h"

#include <errno.h>
#include <link.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define DRAIN_IOV 512
#define PASS_NS_MIN 1000000L            /* the writer's passes: 1 ms apart at the least, */
#define PASS_NS_MAX 30000000L           /* 30 ms at the most (the latency a record may see) */
#define FULL_WAIT_NS 2000000000LL       /* how long a producer waits for room before dropping */
#define FILTER_PREFIX 64                /* payload bytes a filter sees before the frame is built */
#define STAGE_SIZE (512u << 10)         /* the writer's buffer for records it makes from raw slots */
#define RAW_MAX (STAGE_SIZE / 2)        /* larger records are made by the program's thread */

static const uint32_t always_on = 1;
static void poll_locked(size_t written);

/* The outputs, the capture file first: a new one is a file of its own and a line here. */
static const struct cc_output *const outputs[] = {
	&cc_output_file,
	&cc_output_hep,
};
#define NOUTPUTS (sizeof(outputs) / sizeof(outputs[0]))

struct cc_wq cc_wq = { .on = &always_on };
_Static_assert(W_RUNNING == CC_WQ_RUNNING, "writer.h's name for the running state");

struct cc_w W = {
	.fd = -1,
	.drain_lock = CC_MUTEX_INITIALIZER,
	.start_lock = CC_MUTEX_INITIALIZER,
	.dsb_lock = CC_MUTEX_INITIALIZER,
};

static long sys_write(int fd, const void *p, size_t n)
{
	return syscall(SYS_write, fd, p, n);
}

/*
 * The last warning this thread said, for the counters page when the capture cannot start
 * (cc_writer_start, on the thread that tried and said why): per thread, as warnings may come
 * from several at once.
 */
static __thread char last_warn[sizeof(((struct cc_counters *)0)->start_why)];

void cc_warn(const char *fmt, ...)
{
	char buf[512];
	int saved = errno;
	va_list ap;
	int n;

	memcpy(buf, "clearcap: ", 10);
	va_start(ap, fmt);
	n = vsnprintf(buf + 10, sizeof(buf) - 11, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(buf) - 11)
		n = sizeof(buf) - 11;
	buf[10 + n] = '\n';
	sys_write(2, buf, 10 + n + 1);
	snprintf(last_warn, sizeof(last_warn), "%.*s", n, buf + 10);
	errno = saved;
}

int cc_writer_configure(const struct cc_writer_cfg *cfg)
{
	snprintf(W.path, sizeof(W.path), "%s", cfg->path);
	snprintf(W.base, sizeof(W.base), "%s", cfg->path);
	W.rot = cfg->rotate;
	snprintf(W.counters_path, sizeof(W.counters_path), "%s", cfg->counters_path ? cfg->counters_path : "");
	cc_writer_set_comment(cfg->comment);
	W.fmt = cfg->format;
	W.ring_size = cfg->ring_size;
	W.pipe_header_done = cfg->pipe_header_done;
	if (cfg->hep)
		W.hep = *cfg->hep;
	W.configured = 1;
	return 0;
}

void cc_w_broken(const char *what, int err, uint64_t lost)
{
	if (cc_wq_state_end(W_BROKEN)) {
		cc_wc_ctl_state(CC_CTL_BROKEN);
		cc_warn("%s %s: %s; capture stopped, the program goes on (%llu packets lost so far)", what,
			W.path, cc_strerror(err), (unsigned long long)lost);
	}
}

/*
 * How long packets stay in the ring before they are written, once a TLS session exists (W.hold).
 * A TLS 1.3 client derives its handshake secret only after it received the ServerHello, yet
 * Wireshark must read the secret before that packet to decrypt anything; holding packets back a
 * few milliseconds lets the Decryption Secrets Block, which jumps the queue, land ahead of them
 * in the file.  A process without a session has no secret to wait for: its packets go at once.
 */
#define HOLD_NS 5000000ull

struct hold {
	uint64_t cutoff;                /* packets stamped at or before this go now */
	enum cc_format fmt;
	const struct cc_ring_batch *b;  /* the batch being taken */
	int seen;                       /* its metadata blocks given to tlswait so far */
};

/*
 * The secrets in the batch's metadata taken so far go to tlswait before a packet behind them is
 * judged: a server's handshake secret and the flight it sent can be in one batch, and the flight
 * waits only once tlswait knows the handshake is TLS 1.3.
 */
static void secrets_seen(struct hold *h)
{
	for (; h->seen < h->b->nmeta; h->seen++)
		cc_tw_secrets(h->b->meta[h->seen].iov_base, h->b->meta[h->seen].iov_len);
}


static int old_enough(const uint8_t *rec, uint32_t len, int raw, void *arg)
{
	struct hold *h = arg;
	uint64_t ts;

	if (raw)
		memcpy(&ts, rec + offsetof(struct cc_raw_rec, ts_ns), sizeof(ts));
	else
		ts = cc_record_ts(h->fmt, rec);
	/* A stamp far ahead means the clock was stepped back: never hold on to it. */
	if (ts > h->cutoff + HOLD_NS + 1000000000ull)
		return 1;
	if (ts > h->cutoff)
		return 0;
	/*
	 * A TLS handshake packet whose secret is still to come waits for it (tlswait.h).  Only a
	 * record that starts with a handshake or ChangeCipherSpec header can: the frame is copied
	 * out for those alone.
	 */
	if (raw && h->fmt == CC_FMT_PCAPNG && len >= sizeof(struct cc_raw_rec)) {
		secrets_seen(h);
		uint16_t nl, tl;
		uint32_t caplen;
		memcpy(&nl, rec + offsetof(struct cc_raw_rec, note_len), sizeof(nl));
		memcpy(&tl, rec + offsetof(struct cc_raw_rec, tag_len), sizeof(tl));
		memcpy(&caplen, rec + offsetof(struct cc_raw_rec, caplen), sizeof(caplen));
		size_t off = sizeof(struct cc_raw_rec) + nl + tl;
		if (off > len || caplen > len - off || caplen < 2)
			return 1;
		const uint8_t *p = rec + off;
		if ((p[0] != 22 && p[0] != 20) || (p[1] != 3 && p[1] != 0xfe))
			return 1;
		struct cc_frame f;
		memcpy(&f, rec + offsetof(struct cc_raw_rec, f), sizeof(f));
		if (cc_tw_wait(&f, p, caplen, ts, h->cutoff + HOLD_NS))
			return 0;
	}
	return 1;
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

/* The record's comment: the process's own, then the frame's note (pcapng only); its length. */
static size_t comment_of(const char *note, size_t nl, char *buf, const char **comment)
{
	if (!note || W.fmt != CC_FMT_PCAPNG) {
		*comment = W.comment;
		return W.comment_len;
	}
	/* Per packet: plain copies, not snprintf (which was a fifth of the plaintext cost). */
	if (nl > NOTE_MAX - W.comment_len - 2)
		nl = NOTE_MAX - W.comment_len - 2;
	memcpy(buf, W.comment, W.comment_len);
	buf[W.comment_len] = ';';
	buf[W.comment_len + 1] = ' ';
	memcpy(buf + W.comment_len + 2, note, nl);
	*comment = buf;
	return W.comment_len + 2 + nl;
}

/* Builds a frame's record in out; returns its length, or CC_RING_NO_ROOM. */
static inline __attribute__((always_inline)) size_t build_record(uint8_t *out, size_t room, const struct cc_frame *f, uint64_t ts_ns, const uint8_t *payload,
			   size_t caplen, size_t origlen, const char *note, size_t nl)
{
	char note_buf[NOTE_MAX];
	const char *comment;
	size_t comment_len = comment_of(nl ? note : NULL, nl, note_buf, &comment);
	size_t hl = cc_frame_hdr_len(f), rlen = cc_record_len(W.fmt, hl + caplen, comment_len);

	if (rlen > room)
		return CC_RING_NO_ROOM;
	struct iovec v = { (void *)payload, caplen };
	cc_frame_build(out + cc_record_frame_off(W.fmt), f, &v, 1, 0, caplen, origlen);
	cc_record_finish(W.fmt, out, ts_ns, f->iface, f->outgoing, hl + caplen, hl + origlen, comment, comment_len);
	return rlen;
}

struct cc_sink {
	uint8_t *out;
	size_t room, used;
	int records;
};

static cc_defer_fn defer_fn;
static void (*gate_fn)(void);

void cc_writer_on_gate(void (*fn)(void))
{
	__atomic_store_n(&gate_fn, fn, __ATOMIC_RELEASE);
}

void cc_wq_gate_moved(void)
{
	void (*fn)(void) = __atomic_load_n(&gate_fn, __ATOMIC_ACQUIRE);

	if (fn)
		fn();
}

void cc_writer_set_defer(cc_defer_fn fn)
{
	__atomic_store_n(&defer_fn, fn, __ATOMIC_RELEASE);
}

int cc_sink_put(struct cc_sink *s, const struct cc_frame *f, uint64_t ts_ns, const void *payload, size_t caplen,
		size_t origlen, const char *note)
{
	size_t hl = cc_frame_hdr_len(f);

	if (caplen > CC_SNAPLEN - hl)
		caplen = CC_SNAPLEN - hl;
	size_t nl = note && W.fmt == CC_FMT_PCAPNG ? strnlen(note, NOTE_MAX) : 0;
	uint8_t *out = s->out + s->used;
	size_t n = build_record(out, s->room - s->used, f, ts_ns, payload, caplen, origlen, note, nl);
	if (n == CC_RING_NO_ROOM)
		return -1;
	/* Deferred frames were not judged on the program's thread: the filter sees them here. */
	if (cc_filter_active() && !cc_filter_match(out + cc_record_frame_off(W.fmt), hl + caplen, hl + origlen)) {
		cc_writer_count_filtered();
		return 0;
	}
	s->used += n;
	s->records++;
	return 0;
}

/*
 * A flow, as the writer's caches key it: a frame's addresses, its one-byte fields (direction,
 * TOS, TTL, interface, ... as cc_frame_bytes packs them) and its pid, everything its headers
 * depend on.
 */
struct flow_key {
	struct cc_addr src, dst;
	uint64_t bytes;
	uint32_t pid;
};

/* Two addresses' 20 bytes, compared in three loads each (memcmp is a call, and a loop). */
static inline int addr_same(const struct cc_addr *a, const struct cc_addr *b)
{
	uint64_t a0, a1, b0, b1;
	uint32_t a2, b2;

	_Static_assert(sizeof(struct cc_addr) == 20, "family, port and 16 address bytes");
	memcpy(&a0, a, 8), memcpy(&a1, (const uint8_t *)a + 8, 8), memcpy(&a2, (const uint8_t *)a + 16, 4);
	memcpy(&b0, b, 8), memcpy(&b1, (const uint8_t *)b + 8, 8), memcpy(&b2, (const uint8_t *)b + 16, 4);
	return !((a0 ^ b0) | (a1 ^ b1) | (a2 ^ b2));
}

static inline int flow_key_is(const struct flow_key *k, const struct cc_addr *src, const struct cc_addr *dst,
			      uint64_t bytes, uint32_t pid)
{
	return k->bytes == bytes && k->pid == pid && addr_same(&k->src, src) && addr_same(&k->dst, dst);
}

static inline void flow_key_set(struct flow_key *k, const struct cc_addr *src, const struct cc_addr *dst, uint64_t bytes,
				uint32_t pid)
{
	k->src = *src;
	k->dst = *dst;
	k->bytes = bytes;
	k->pid = pid;
}

/*
 * The last usual record's headers, per direction: a sender's datagrams to one peer share them,
 * and its next record is a copy with lengths, time and header sum put in.  Writer's thread only.
 */
static struct flow_hdrs {
	struct flow_key key;
	int valid;
	uint32_t flow;                  /* the name the key came with (cc_raw_rec.flow), or 0 */
	struct cc_udp4_tmpl t;
} last_hdrs[2];

/*
 * The names' blocks (writer.h, cc_flow_name).  The first starts at 1: 0 names nothing, and the
 * one name 0 a wrap may give is just that, a record compared by its addresses.
 */
static uint32_t flow_names = 1;
__thread uint32_t cc_flow_next, cc_flow_end __attribute__((tls_model("initial-exec")));

uint32_t cc_flow_block(void)
{
	return __atomic_fetch_add(&flow_names, CC_FLOW_BLOCK, __ATOMIC_RELAXED);
}

/* synth_raw's other records: deferred, hidden, noted, IPv6, or another format. */
static __attribute__((noinline)) size_t synth_other(const uint8_t *raw, uint8_t *out, size_t room, int *records)
{
	const struct cc_raw_rec *r = (const struct cc_raw_rec *)(const void *)raw;
	const uint8_t *note = raw + sizeof(*r), *tag = note + r->note_len, *payload = tag + r->tag_len;

	/* A deferred record queued unstamped (SRTP's plaintexts, shim/srtpmatch.c): stamped here. */
	uint64_t ts = r->ts_ns || !r->f.defer ? r->ts_ns : now_ns();

	if (__builtin_expect(r->f.defer, 0)) {
		cc_defer_fn fn = __atomic_load_n(&defer_fn, __ATOMIC_ACQUIRE);
		if (fn) {
			char nb[NOTE_MAX + 1];
			size_t hl = cc_frame_hdr_len(&r->f);
			if (cc_record_len(W.fmt, hl + r->caplen, W.comment_len + 2 + r->note_len) + CC_DEFER_EXTRA > room)
				return CC_RING_NO_ROOM;
			memcpy(nb, note, r->note_len);
			nb[r->note_len] = 0;
			struct cc_deferred d = { ts, &r->f, payload, r->caplen, r->origlen, r->note_len ? nb : NULL, tag,
						 r->tag_len };
			struct cc_sink s = { out, room, 0, 0 };
			fn(&d, &s);
			*records = s.records;
			return s.used;
		}
	}
	if (r->f.hidden)
		return 0;
	size_t n = build_record(out, room, &r->f, ts, payload, r->caplen, r->origlen, (const char *)note,
				r->note_len);
	*records = n != CC_RING_NO_ROOM;
	return n;
}

/*
 * Makes a raw slot's records (cc_ring_synth_fn): the frame the producer left to us, or its
 * handler's.  Inline into the drain loop (cc_ring_take_with): the usual record, a whole IPv4 UDP
 * datagram with no note in pcapng, is made here, once per packet.
 */
static inline __attribute__((always_inline)) size_t synth_raw(const uint8_t *raw, uint32_t len, uint8_t *out,
							       size_t room, int *records)
{
	/* Read in place: slots are 16-byte aligned, and a published slot does not change. */
	const struct cc_raw_rec *r = (const struct cc_raw_rec *)(const void *)raw;
	uint64_t bytes;

	(void)len;
	memcpy(&bytes, &r->f.proto, 8);
	if (__builtin_expect(r->f.proto != IPPROTO_UDP || r->f.defer || r->f.hidden || r->f.dst.family == AF_INET6 ||
			     r->caplen != r->origlen || r->note_len || W.fmt != CC_FMT_PCAPNG ||
			     r->caplen > CC_SNAPLEN - 48, 0))
		return synth_other(raw, out, room, records);
	const uint8_t *payload = raw + sizeof(*r) + r->tag_len;
	/* The record's length as cc_record_udp4() makes it: the options made once, not counted again. */
	if (28 + PAD4(48 + r->caplen) + W.opts_len + 4 > room)
		return CC_RING_NO_ROOM;
	*records = 1;
	const uint8_t *opts = W.opts[r->f.outgoing != 0];
	struct flow_hdrs *t = &last_hdrs[r->f.outgoing != 0];
	/*
	 * The last record's flow: by its name when it has one (the same addresses), else (another
	 * thread's name, or none) by the addresses themselves.
	 */
	if (t->valid && ((r->flow && r->flow == t->flow && t->key.bytes == bytes && t->key.pid == r->f.pid) ||
			 flow_key_is(&t->key, &r->f.src, &r->f.dst, bytes, r->f.pid))) {
		t->flow = r->flow;
		return cc_record_udp4_again(out, &t->t, r->ts_ns, payload, r->caplen, opts, W.opts_len);
	}
	size_t n = cc_record_udp4(out, &r->f, r->ts_ns, payload, r->caplen, opts, W.opts_len);
	cc_udp4_tmpl_take(&t->t, out, &r->f);
	flow_key_set(&t->key, &r->f.src, &r->f.dst, bytes, r->f.pid);
	t->flow = r->flow;
	t->valid = 1;
	return n;
}

/* Writes a batch of records (`packets` of them) and counts it; returns the bytes written. */
static size_t write_batch(struct iovec *iov, int n, int packets, size_t bytes)
{
	/* The file's write moves iov_base past what a short write took: the others get a copy. */
	static struct iovec copy[2 * DRAIN_IOV];
	int others = 0;

	for (size_t i = 1; i < NOUTPUTS; i++)
		others |= outputs[i]->wanted();
	if (others && n <= 2 * DRAIN_IOV)
		memcpy(copy, iov, sizeof(iov[0]) * (size_t)n);
	else
		others = 0;
	/* (No file: the collector is the only output, CLEARCAP_HEP alone.) */
	if (__atomic_load_n(&cc_wq.state, __ATOMIC_ACQUIRE) == W_RUNNING &&
	    (!outputs[0]->wanted() || outputs[0]->write(iov, n, packets, bytes) == 0)) {
		__atomic_fetch_add(&W.captured, packets, __ATOMIC_RELAXED);
		__atomic_fetch_add(&W.bytes, bytes, __ATOMIC_RELAXED);
		if (W.shared) {
			cc_wc_count(&W.shared->captured, (uint64_t)packets);
			cc_wc_count(&W.shared->bytes, bytes);
		}
		/* The other outputs count what they could not send themselves. */
		for (size_t i = 1; i < NOUTPUTS && others; i++)
			if (outputs[i]->wanted())
				outputs[i]->write(copy, n, packets, bytes);
		return bytes;
	}
	int err = errno;
	__atomic_fetch_add(&W.dropped, packets, __ATOMIC_RELAXED);
	if (W.shared) {
		cc_wc_count(&W.shared->dropped, (uint64_t)packets);
		cc_wc_count(&W.shared->write_errors, 1);
	}
	cc_w_broken("cannot write", err, __atomic_load_n(&W.dropped, __ATOMIC_RELAXED));
	return 0;
}

/* At exit: what the deferred-record handler still holds, written after everything else. */
static void drain_deferred_locked(void)
{
	cc_defer_fn fn = __atomic_load_n(&defer_fn, __ATOMIC_ACQUIRE);
	int more = fn != NULL;

	while (more && W.stage) {
		struct cc_sink s = { W.stage, STAGE_SIZE, 0, 0 };
		more = fn(NULL, &s);
		if (!s.used)
			break;
		struct iovec v = { W.stage, s.used };
		write_batch(&v, 1, s.records, s.used);
	}
}

/*
 * The ring grown under load shrinks back after SHRINK_NS without it: long enough that a sender
 * in bursts (a video encoder's key frames, a batch job every second) keeps the size it needs.
 */
#define SHRINK_NS 3000000000ull
static uint64_t calm_since;     /* drain_lock's: the start of the writer's passes without load */

/*
 * Drains published records to the file, metadata first; the caller holds drain_lock.  With
 * `all`, nothing is held back (exit, exec, fork).  Returns bytes written.
 */
size_t cc_w_drain_locked(int all)
{
	struct iovec iov[2 * DRAIN_IOV];
	struct cc_ring_batch b = { .meta = iov, .data = iov + DRAIN_IOV, .stage = W.stage,
				   .stage_size = STAGE_SIZE,
				   /* Rotating by size: small batches, since the size is checked after each. */
				   .stage_soft = W.rs && W.rot.size ? STAGE_SIZE / 32 : 0 };
	struct hold h = { now_ns() - HOLD_NS, W.fmt, &b, 0 };
	size_t written = 0;

	if (!cc_wq.ring.buf || cc_wq.ring.abandoned)
		return 0;
	/*
	 * A pass (but a flush) writes what was queued when it began.  Going on with what comes
	 * meanwhile would chase a fast sender with batches of a few records, a system call each.
	 */
	uint64_t h0 = __atomic_load_n(&cc_wq.ring.head, __ATOMIC_ACQUIRE), stop = CC_RING_POS(h0);
	/*
	 * The ring is sized to the drain rate (ring.h): it starts at CC_RING_START and doubles, up
	 * to CLEARCAP_BUFFER, when a quarter of it waits at the start of the writer's pass, or a
	 * producer found no room (which also asks itself, in reserve_wait, in case this thread is
	 * blocked on its output).
	 */
	uint64_t waiting = stop - __atomic_load_n(&cc_wq.ring.tail, __ATOMIC_RELAXED);
	if (!all && __builtin_expect(waiting > CC_RING_SIZE_OF(h0) / 4 ||
				     __atomic_load_n(&cc_wq.ring.starved, __ATOMIC_RELAXED), 0)) {
		__atomic_store_n(&cc_wq.ring.starved, 0, __ATOMIC_RELAXED);
		cc_ring_ask_grow(&cc_wq.ring);
	}
	/*
	 * A grown ring is calm while what waits would not have filled an eighth of the first size
	 * (timed on the monotonic clock: a step of the wall clock is no calm).
	 */
	uint64_t mono = clock_ns(CLOCK_MONOTONIC);
	if (waiting > CC_RING_START / 8 || CC_RING_SIZE_OF(h0) <= CC_RING_START)
		calm_since = mono;
	for (;;) {
		uint64_t tail = __atomic_load_n(&cc_wq.ring.tail, __ATOMIC_RELAXED);
		/* Rotating by size: smaller batches, since the size is checked after each. */
		int hold = !all && __atomic_load_n(&W.hold, __ATOMIC_ACQUIRE);
		int max = W.rs && W.rot.size ? 64 : DRAIN_IOV;
		/* Two copies of the loop, each with synth_raw inline: the usual one asks nobody's leave. */
		int n = hold ? cc_ring_take_with(&cc_wq.ring, &b, max, old_enough, &h, synth_raw)
			     : cc_ring_take_with(&cc_wq.ring, &b, max, NULL, NULL, synth_raw);

		if (n == 0 && b.upto == tail)
			break;
		/* Secrets now on their way to the file release the handshakes that wait for them. */
		secrets_seen(&h);
		h.seen = 0;
		if (n > 0) {
			/* Metadata then packets, in one write: move the packets up behind the metadata. */
			if (b.nmeta < DRAIN_IOV)
				memmove(iov + b.nmeta, iov + DRAIN_IOV, sizeof(iov[0]) * (size_t)b.ndata);
			written += write_batch(iov, n, b.packets, b.bytes);
		}
		cc_ring_release(&cc_wq.ring, b.upto);
		if (!all && b.upto >= stop)
			break;
	}
	/*
	 * Calm for SHRINK_NS: back to the first size, the rest of the memory given back (a burst
	 * would otherwise keep it for the life of the process).  Only when the ring is empty, so it
	 * is tried again after each pass until one ends with nothing waiting.
	 */
	if (!all && mono - calm_since > SHRINK_NS && cc_ring_shrink(&cc_wq.ring, CC_RING_START))
		calm_since = mono;
	return written;
}

static int watch_threads;       /* the main thread ended: see whether the program has */
static int own_threads;         /* threads of ours besides the writer */
#define WATCH_NS 50000000L      /* how often the writer looks then: 50 ms */

static sigset_t exit_mask;      /* the main thread's signal mask, for the thread that calls exit */

void cc_writer_watch_threads(const sigset_t *mask)
{
	/* Once: the mask is read by whichever of our threads ends the process. */
	if (!__atomic_load_n(&watch_threads, __ATOMIC_ACQUIRE)) {
		exit_mask = *mask;
		__atomic_store_n(&watch_threads, 1, __ATOMIC_RELEASE);
	}
}

/*
 * The process's end, on a thread made for it: the program's exit handlers run with a program
 * thread's stack size and its main thread's signal mask, not on ours (small stacks, every
 * signal blocked).
 */
static void *exit_main(void *arg)
{
	(void)arg;
	exit(0);
}

void cc_writer_own_thread(int delta)
{
	__atomic_add_fetch(&own_threads, delta, __ATOMIC_RELAXED);
}

/* Our threads in this process: the writer, once started, and the others (cc_writer_own_thread). */
static long ours(void)
{
	return (W.thread_started ? 1 : 0) + __atomic_load_n(&own_threads, __ATOMIC_RELAXED);
}

/*
 * True when the program's threads have all ended: the main thread is a zombie (state Z in
 * /proc/self/stat, which the leader of a thread group stays until the last thread ends) and the
 * thread count (field 20, the zombie included) holds it and ours() alone.  Looked at only after
 * the main thread ended, through a descriptor open for a moment; unknown (no /proc) is false.
 */
static int program_ended(void)
{
	uint64_t threads;

	return cc_proc_stat(0, 20, &threads) == 'Z' && threads > 0 && threads - 1 <= (uint64_t)ours();
}

int cc_writer_watching(void)
{
	return __atomic_load_n(&watch_threads, __ATOMIC_ACQUIRE);
}

void cc_writer_end_if_alone(void)
{
	static uint64_t watched;
	static int ending;

	if (!__builtin_expect(__atomic_load_n(&watch_threads, __ATOMIC_ACQUIRE), 0))
		return;
	uint64_t t = now_ns(), w = __atomic_load_n(&watched, __ATOMIC_RELAXED);
	/* At most every WATCH_NS, by one of our threads at a time. */
	if (t - w < WATCH_NS || !__atomic_compare_exchange_n(&watched, &w, t, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return;
	/* As glibc ends a process whose last thread ends: atexit handlers, then ours; exit once. */
	if (program_ended() && !__atomic_exchange_n(&ending, 1, __ATOMIC_ACQ_REL)) {
		sigset_t old;
		pthread_t th;
		pthread_sigmask(SIG_SETMASK, &exit_mask, &old);
		int rc = cc_thread_start(&th, NULL, exit_main, NULL, 0);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (rc != 0)
			exit(0);
	}
}

/*
 * 1 while the writer sleeps between passes: a producer that finds the ring full wakes it
 * (reserve_wait), so that a long pause never stalls a burst.  A futex of this process only.
 */
static uint32_t writer_napping;

static void writer_nap(long ns)
{
	struct timespec ts = { 0, ns };

	__atomic_store_n(&writer_napping, 1, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, &writer_napping, FUTEX_WAIT_PRIVATE, 1, &ts, NULL, 0);
	__atomic_store_n(&writer_napping, 0, __ATOMIC_RELAXED);
}

/* On a producer's thread, the ring full (overload only: one system call then). */
static void writer_wake(void)
{
	if (__atomic_exchange_n(&writer_napping, 0, __ATOMIC_SEQ_CST)) {
		__atomic_fetch_add(&W.woken, 1, __ATOMIC_RELAXED);
		syscall(SYS_futex, &writer_napping, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	}
}

static void *writer_main(void *arg)
{
	long sleep_ns = PASS_NS_MIN;
	uint64_t began = clock_ns(CLOCK_MONOTONIC);

	(void)arg;
	__atomic_store_n(&W.thread_entered, 1, __ATOMIC_RELEASE);
	prctl(PR_SET_NAME, "clearcap-writer", 0, 0, 0);
	/* The ring's page faults taken here, on this thread, rather than by the program's as it writes. */
	cc_ring_prefault(&cc_wq.ring);
	for (;;) {
		uint64_t now = clock_ns(CLOCK_MONOTONIC), since = now - began;
		size_t n;

		began = now;
		cc_lock(&W.drain_lock);
		n = cc_w_drain_locked(0);
		poll_locked(n);
		cc_unlock(&W.drain_lock);

		cc_writer_end_if_alone();
		/*
		 * A pass that found more than 256 KiB goes again at once.  Quiet: back off to the
		 * longest interval.  Busy: the next pass is timed, at the rate the last one found, to
		 * find a quarter of the largest ring waiting (the ring grows to what waits,
		 * cc_w_drain_locked), 1 to 30 ms from now.  Each pass costs the program's threads
		 * more than the bytes it writes: on a 2-CPU virtual machine, passes 1 ms apart took a
		 * 300k-pps sender's rate to 0.77 of its rate without the shim, 10 ms apart to 0.92-0.94,
		 * and this rule (about 35 passes a second there) to 0.96-0.97 (docs/performance.md).
		 * A producer that finds the ring full wakes the writer early (writer_wake).
		 */
		if (n > 256 * 1024) {
			sleep_ns = PASS_NS_MIN;
			continue;
		}
		if (!n) {
			sleep_ns = sleep_ns * 2 > PASS_NS_MAX ? PASS_NS_MAX : sleep_ns * 2;
		} else {
			unsigned __int128 next = (unsigned __int128)(W.ring_size / 4) * since / n;
			sleep_ns = next < PASS_NS_MIN ? PASS_NS_MIN : next > PASS_NS_MAX ? PASS_NS_MAX : (long)next;
		}
		writer_nap(sleep_ns);
	}
	return NULL;
}

/* dl_iterate_phdr: adds each loaded object's thread-local block (PT_TLS), aligned. */
static int add_tls(struct dl_phdr_info *info, size_t size, void *arg)
{
	size_t *sum = arg;

	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_TLS)
			*sum += info->dlpi_phdr[i].p_memsz + info->dlpi_phdr[i].p_align;
	return 0;
}

size_t cc_thread_stack(size_t own)
{
	size_t tls = 0;

	dl_iterate_phdr(add_tls, &tls);
	return own + ((tls + 4095) & ~(size_t)4095);
}

static int start_thread(void)
{
	pthread_attr_t attr;
	pthread_t tid;
	sigset_t all, old;
	int rc;

	/*
	 * -G names files by local time: the time zone is read here, on the program's thread, so that
	 * the writer's localtime_r() never loads it (it allocates: pcapout/single.h).
	 */
	if (W.rot.seconds)
		tzset();
	/* The writer takes no signal of the program's: all blocked, inherited at creation. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, cc_thread_stack(64 * 1024));
	rc = cc_thread_start(&tid, &attr, writer_main, NULL, 1);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/*
 * Daily use (the control page, reopening, rotation) is polled here, on the writer's thread after
 * each batch, at most 30 ms apart: none of it runs per packet.
 */
static void poll_locked(size_t written)
{
	for (size_t i = 0; i < NOUTPUTS; i++)
		if (outputs[i]->wanted())
			outputs[i]->poll(written);
	if (W.ctl) {
		__atomic_store_n(&W.ctl->captured, __atomic_load_n(&W.captured, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
		__atomic_store_n(&W.ctl->dropped, __atomic_load_n(&W.dropped, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
		__atomic_store_n(&W.ctl->bytes, __atomic_load_n(&W.bytes, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
		uint64_t size = CC_RING_SIZE_OF(__atomic_load_n(&cc_wq.ring.head, __ATOMIC_RELAXED));
		__atomic_store_n(&W.ctl->buffer, size, __ATOMIC_RELAXED);
		if (size > __atomic_load_n(&W.ctl->buffer_peak, __ATOMIC_RELAXED))
			__atomic_store_n(&W.ctl->buffer_peak, size, __ATOMIC_RELAXED);
		__atomic_store_n(&W.ctl->buffer_max, (uint64_t)cc_wq.ring.size, __ATOMIC_RELAXED);
	}
}

static int start_off(void);

/*
 * Opens the file (once per exec'd image; a forked child shares its parent's) and starts the
 * thread.  On a program's thread, with its cancellation held off: open, flock and the rest are
 * cancellation points, and a cancel taking effect in here would leave start_lock held.
 */
static int start(void)
{
	int cs, r;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);
	r = start_off();
	pthread_setcancelstate(cs, NULL);
	return r;
}

static int start_off(void)
{
	sigset_t all, old;
	int st;

	/*
	 * No signal handler of the program may run while we hold start_lock: one that sends a packet
	 * would come back here on the same thread and wait for itself.  Blocked, it runs afterwards.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	cc_lock(&W.start_lock);
	st = __atomic_load_n(&cc_wq.state, __ATOMIC_ACQUIRE);
	/* A failed start is retried once `clearcap ctl reopen` names a file (no writer thread yet). */
	if (st == W_BROKEN && !W.thread_started && cc_wf_take_request())
		st = W_IDLE;
	if (st != W_IDLE) {
		cc_unlock(&W.start_lock);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return st == W_RUNNING ? 0 : -1;
	}
	if (!W.configured)
		goto fail;
	cc_wf_take_request();
	if (!W.base[0] && !W.hep.on) {
		/* CLEARCAP_CTL=1 without a file: stay paused until `clearcap ctl PID reopen FILE`. */
		cc_wc_ctl_state(CC_CTL_NOFILE);
		if (W.ctl)
			__atomic_store_n(&W.ctl->on, 0, __ATOMIC_RELAXED);
		cc_unlock(&W.start_lock);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return -1;
	}
	/* Before the outputs open: opening the file may cut a record cut short, which the page hears of. */
	cc_wc_map();
	for (size_t i = 0; i < NOUTPUTS; i++) {
		if (!outputs[i]->wanted())
			continue;
		/* The capture file is the output the capture stands on; another one failing is its own. */
		if (outputs[i]->open() < 0 && i == 0)
			goto fail;
	}
	if (!W.stage) {
		void *p = mmap(NULL, STAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			cc_warn("cannot allocate the writer's %u-byte buffer; not capturing", STAGE_SIZE);
			goto fail;
		}
		W.stage = p;
	}
	if ((!cc_wq.ring.buf ? cc_ring_init(&cc_wq.ring, W.ring_size, CC_RING_START)
			     : cc_wq.ring.abandoned ? cc_ring_renew(&cc_wq.ring, W.ring_size, CC_RING_START) : 0) < 0) {
		cc_warn("cannot allocate a %zu-byte capture buffer; not capturing", W.ring_size);
		goto fail;
	}
	if (!W.thread_started) {
		if (start_thread() != 0) {
			cc_warn("cannot start the writer thread; not capturing");
			goto fail;
		}
		W.thread_started = 1;
		cc_wc_count(W.shared ? &W.shared->processes : NULL, 1);
	}
	cc_wc_ctl_state(CC_CTL_RUNNING);
	cc_wq_state_set(W_RUNNING);
	cc_unlock(&W.start_lock);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 0;
fail:
	cc_wc_ctl_state(CC_CTL_BROKEN);
	/* The wrapper's summary then says the capture could not start, not that nothing was sent. */
	if (W.configured && st == W_IDLE) {
		cc_wc_map();
		/* A rotation found done is counted too (nothing captured, and why), but named apart. */
		if (W.shared && cc_wf_rotation_done())
			__atomic_fetch_add(&W.shared->rot_done, 1, __ATOMIC_RELAXED);
		else if (W.shared && __atomic_fetch_add(&W.shared->start_failed, 1, __ATOMIC_RELAXED) == 0) {
			char why[sizeof(last_warn) + 64];
			snprintf(why, sizeof(why), "%s (pid %d): %s", program_invocation_short_name, (int)getpid(),
				 last_warn);
			snprintf(W.shared->start_why, sizeof(W.shared->start_why), "%.*s",
				 (int)sizeof(W.shared->start_why) - 1, why);
		}
	}
	cc_wq_state_set(W_BROKEN);
	cc_unlock(&W.start_lock);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -1;
}

/* Counts lost packets; `why_full` says the buffer was full (warned about once). */
static void drop(uint64_t n, int why_full)
{
	__atomic_fetch_add(&W.dropped, n, __ATOMIC_RELAXED);
	if (W.shared)
		cc_wc_count(&W.shared->dropped, n);
	if (why_full && !__atomic_exchange_n(&W.warned_drop, 1, __ATOMIC_RELAXED))
		cc_warn("capture buffer full (%zu MiB, CLEARCAP_BUFFER): packets are being dropped; raise it, or -B "
			"with the clearcap command", cc_wq.ring.size >> 20);
}

/* The ring full: waits up to FULL_WAIT_NS for the writer to make room (overload only). */
static int __attribute__((noinline)) reserve_wait(size_t len, struct cc_slot *s)
{
	long long waited = 0;

	while (cc_ring_reserve(&cc_wq.ring, len, s) < 0) {
		if (len > cc_ring_max_record(&cc_wq.ring) || waited >= FULL_WAIT_NS || __atomic_load_n(&cc_wq.sync, __ATOMIC_RELAXED))
			return -1;
		/* The writer may be blocked on its output: the ring grows without it (once per doubling). */
		if (cc_ring_ask_grow(&cc_wq.ring))
			continue;
		/*
		 * Once a call: a ring that stays full (records held for their secrets, a stalled
		 * FIFO reader) would otherwise have the writer woken every 200 us for nothing.
		 */
		if (!waited)
			writer_wake();
		/*
		 * The system call itself: glibc's nanosleep is a cancellation point, and a cancel
		 * taking effect here, on the program's thread after its call returned, would lose
		 * what the call gave it and leave any lock of ours held.
		 */
		struct timespec ts = { 0, 200000 };
		syscall(SYS_nanosleep, &ts, NULL);
		waited += ts.tv_nsec;
	}
	return 0;
}

/* Reserves room, waiting for the writer when the ring is full (never in steady state). */
static inline int reserve(size_t len, struct cc_slot *s)
{
	if (__builtin_expect(cc_ring_reserve(&cc_wq.ring, len, s) == 0, 1))
		return 0;
	return reserve_wait(len, s);
}

/* Queues a raw slot: the frame, its note (nl bytes), tag and payload; the writer makes the record. */
static inline __attribute__((always_inline)) int out_raw(const struct cc_frame *f, uint64_t ts_ns,
							  const struct iovec *iov, int iovcnt, size_t skip,
							  size_t caplen, size_t origlen, size_t nl, const void *tag,
							  size_t tag_len)
{
	struct cc_slot slot;

	if (reserve(sizeof(struct cc_raw_rec) + nl + tag_len + caplen, &slot) < 0) {
		drop(1, 1);
		return -1;
	}
	uint8_t *p = cc_raw_head(&slot, f, ts_ns, caplen, origlen, nl, tag_len);
	if (nl)
		memcpy(p, f->note, nl);
	if (tag_len)
		memcpy(p + nl, tag, tag_len);
	/* The usual case, once per packet: one buffer holding it all. */
	if (caplen && iovcnt == 1 && !skip && iov[0].iov_len >= caplen)
		memcpy(p + nl + tag_len, iov[0].iov_base, caplen);
	else
		cc_iov_copy(p + nl + tag_len, iov, iovcnt, skip, caplen);
	cc_ring_commit_raw(&slot);
	if (__atomic_load_n(&cc_wq.sync, __ATOMIC_RELAXED))
		cc_writer_flush();
	return 0;
}

/* The checks every frame passes before it is queued: paused, writer started; 0 to go on. */
static inline __attribute__((always_inline)) int may_queue(void)
{
	int st = __atomic_load_n(&cc_wq.state, __ATOMIC_ACQUIRE);

	/* Paused by `clearcap ctl`: the one load the control costs a packet (counted, for the summary). */
	if (!__atomic_load_n(cc_wq.on, __ATOMIC_RELAXED)) {
		cc_writer_count_paused();
		return 1;
	}
	if (st != W_RUNNING) {
		if ((st == W_BROKEN && !cc_wf_reopen_pending()) || start() < 0) {
			/* After a write error: lost, counted, already reported by cc_w_broken(). */
			if (st == W_BROKEN && __atomic_load_n(&W.fd, __ATOMIC_RELAXED) >= 0)
				drop(1, 0);
			return -1;
		}
	}
	return 0;
}

int cc_out_tagged_slow(const struct cc_frame *f, uint64_t ts_ns, const void *payload, size_t len, const void *tag,
		       size_t tag_len)
{
	struct iovec v = { (void *)payload, len };
	int rc = may_queue();

	if (rc)
		return rc > 0 ? 0 : -1;
	if (len > CC_SNAPLEN || tag_len > 1024) {
		drop(1, 0);
		return -1;
	}
	return out_raw(f, ts_ns, &v, 1, 0, len, len, 0, tag, tag_len);
}

/*
 * The filter's verdict for this thread's last UDP headers.  A sender's datagrams to one peer
 * share them, and a filter on addresses, ports or direction answers the same for all: judged
 * once, then each datagram costs a compare.  A verdict that depends on the datagram (-1) is kept
 * too, so that such a filter costs one look here and the frame's own judgement after.
 */
static __thread struct flow_verdict {
	struct flow_key key;
	uint32_t gen;
	int verdict;
} last_flow __attribute__((tls_model("initial-exec")));

static int flow_verdict(const struct cc_addr *src, const struct cc_addr *dst, uint64_t bytes, uint32_t pid)
{
	struct flow_verdict *c = &last_flow;
	uint32_t gen = __atomic_load_n(&cc_filter_gen, __ATOMIC_ACQUIRE);

	if (c->gen == gen && flow_key_is(&c->key, src, dst, bytes, pid))
		return c->verdict;
	struct cc_frame f = { .src = *src, .dst = *dst, .pid = pid };
	uint8_t hdr[CC_SLL2_LEN + 40 + 8];
	memcpy(&f.proto, &bytes, 8);
	size_t hl = cc_frame_build(hdr, &f, NULL, 0, 0, 0, 0);
	c->verdict = cc_filter_flow_verdict(hdr, hl);
	flow_key_set(&c->key, src, dst, bytes, pid);
	c->gen = gen;
	return c->verdict;
}

int cc_out_udp_verdict(const struct cc_addr *src, const struct cc_addr *dst, uint64_t bytes, uint32_t pid)
{
	uint8_t b[8];

	memcpy(b, &bytes, 8);
	return b[6] ? -1 : flow_verdict(src, dst, bytes, pid);
}

static int out_udp_slow(uint64_t ts_ns, const struct cc_addr *src, const struct cc_addr *dst, uint64_t bytes,
			uint32_t pid, uint32_t flow, const void *payload, size_t len)
{
	struct cc_slot slot;
	int rc = may_queue();

	if (rc)
		return rc > 0 ? 0 : -1;
	/*
	 * A filter that answers for the headers alone is answered from this thread's last headers.
	 * One that looks further judges each frame on this thread, as does a deferred frame's handler
	 * on the writer's, and a large frame is built here: the general path.
	 */
	int general = len > RAW_MAX - NOTE_MAX - 64 - CC_SLL2_LEN - 60;
	if (__builtin_expect(cc_filter_active(), 0) && !general) {
		int v = cc_out_udp_verdict(src, dst, bytes, pid);
		if (v == 0) {
			cc_writer_count_filtered();
			return 0;
		}
		general = v < 0;
	}
	if (!ts_ns)
		ts_ns = now_ns();
	if (__builtin_expect(general, 0)) {
		struct cc_frame f = { .src = *src, .dst = *dst, .pid = pid };
		struct iovec v = { (void *)payload, len };
		memcpy(&f.proto, &bytes, 8);
		return cc_out_frame(&f, ts_ns, &v, 1, 0, len, len);
	}
	if (reserve(sizeof(struct cc_raw_rec) + len, &slot) < 0) {
		drop(1, 1);
		return -1;
	}
	cc_raw_udp_put(&slot, ts_ns, src, dst, bytes, pid, flow, payload, len);
	if (__atomic_load_n(&cc_wq.sync, __ATOMIC_RELAXED))
		cc_writer_flush();
	return 0;
}

int cc_out_udp_slow(uint64_t ts_ns, const struct cc_addr *src, const struct cc_addr *dst, uint64_t bytes, uint32_t pid,
		    uint32_t flow, const void *payload, size_t len)
{
	int saved = errno;
	int rc = out_udp_slow(ts_ns, src, dst, bytes, pid, flow, payload, len);

	errno = saved;
	return rc;
}

int cc_out_frame(const struct cc_frame *f, uint64_t ts_ns, const struct iovec *iov, int iovcnt,
		 size_t skip, size_t caplen, size_t origlen)
{
	size_t hl, frame_cap, rlen;
	struct cc_slot slot;
	int rc = may_queue();

	if (rc)
		return rc > 0 ? 0 : -1;
	hl = cc_frame_hdr_len(f);
	if (caplen > CC_SNAPLEN - hl)
		caplen = CC_SNAPLEN - hl;
	frame_cap = hl + caplen;

	/*
	 * The filter decides on the headers and the payload's first bytes, built on the stack, before
	 * anything is reserved or copied: a declined packet costs less than a stored one.  Only a
	 * filter reading further (or the checksum, summed over the whole payload) waits for the frame.
	 * A deferred frame is judged on the writer's thread (cc_sink_put).
	 */
	int decided = f->defer ? 1 : -1;
	if (__builtin_expect(cc_filter_active(), 0) && !f->defer) {
		uint8_t pre[CC_SLL2_LEN + 40 + 20 + FILTER_PREFIX];
		size_t n = caplen < FILTER_PREFIX ? caplen : FILTER_PREFIX;
		size_t hole = f->proto == IPPROTO_UDP ? hl - 2 : f->proto == IPPROTO_TCP ? hl - 4 : 0;
		int partial = n < caplen && caplen == origlen;  /* the full frame has a checksum here */
		if (hl <= CC_SLL2_LEN + 40 + 20) {
			/* A prefix shorter than the payload gets no checksum: that is the hole. */
			cc_frame_build(pre, f, iov, iovcnt, skip, n, origlen);
			decided = cc_filter_decide(pre, hl + n, hl + origlen, partial ? hole : 0, partial && hole ? hole + 2 : 0,
						   n == caplen);
			if (decided == 0) {
				cc_writer_count_filtered();
				return 0;
			}
		}
	}

	/*
	 * Without a filter to judge the whole frame here, the writer's thread makes the record: this
	 * thread only copies what it was given, so building headers and summing the payload costs the
	 * program nothing.
	 */
	size_t nl = f->note && W.fmt == CC_FMT_PCAPNG ? strnlen(f->note, NOTE_MAX) : 0;
	/* (The record is at most frame, comment and 64 bytes of block: the bound needs no exact length.) */
	if ((decided == 1 || !cc_filter_active()) && frame_cap + NOTE_MAX + 64 <= RAW_MAX) {
		return out_raw(f, ts_ns, iov, iovcnt, skip, caplen, origlen, nl, NULL, 0);
	}
	if (f->defer) {
		drop(1, 0);
		return -1;
	}

	char note_buf[NOTE_MAX];
	const char *comment;
	size_t comment_len = comment_of(nl ? f->note : NULL, nl, note_buf, &comment);
	rlen = cc_record_len(W.fmt, frame_cap, comment_len);
	if (reserve(rlen, &slot) < 0) {
		drop(1, 1);
		return -1;
	}
	uint8_t *frame = slot.data + cc_record_frame_off(W.fmt);
	cc_frame_build(frame, f, iov, iovcnt, skip, caplen, origlen);
	/* The filter sees the frame as tcpdump would; a declined one costs no write. */
	if (__builtin_expect(cc_filter_active(), 0) && decided < 0 && !cc_filter_match(frame, frame_cap, hl + origlen)) {
		cc_ring_commit_skip(&slot);
		cc_writer_count_filtered();
		return 0;
	}
	cc_record_finish(W.fmt, slot.data, ts_ns, f->iface, f->outgoing, frame_cap, hl + origlen, comment,
			 comment_len);
	cc_ring_commit(&slot);
	if (__atomic_load_n(&cc_wq.sync, __ATOMIC_RELAXED))
		cc_writer_flush();
	return 0;
}

int cc_out_dsb(const char *keylog, size_t len)
{
	struct cc_slot slot;

	/* Classic pcap has no place for secrets: the key log file (CLEARCAP_KEYLOG) holds them. */
	if (W.fmt != CC_FMT_PCAPNG)
		return 0;
	/* (Its session was seen already, unless an adapter logs before: hold from now on anyway.) */
	if (!__atomic_load_n(&W.hold, __ATOMIC_RELAXED))
		cc_writer_hold_for_secrets();
	/* Kept after start(), which writes what was kept before: else this one would go twice. */
	if (__atomic_load_n(&cc_wq.state, __ATOMIC_ACQUIRE) != W_RUNNING && start() < 0) {
		cc_ws_keep(keylog, len);      /* no file yet (CLEARCAP_CTL=1): for when there is one */
		return -1;
	}
	cc_ws_keep(keylog, len);
	if (reserve(cc_dsb_len(len), &slot) < 0) {
		drop(1, 1);
		return -1;
	}
	cc_dsb_write(slot.data, keylog, len);
	cc_ring_commit_meta(&slot);
	if (__atomic_load_n(&cc_wq.sync, __ATOMIC_RELAXED))
		cc_writer_flush();
	return 0;
}

void cc_writer_flush(void)
{
	if (__atomic_load_n(&cc_wq.state, __ATOMIC_ACQUIRE) != W_RUNNING)
		return;
	int saved = errno;
	cc_lock(&W.drain_lock);
	cc_w_drain_locked(1);
	/* After exit nothing comes back to claim what the handler holds: written at once. */
	if (__atomic_load_n(&cc_wq.sync, __ATOMIC_RELAXED))
		drain_deferred_locked();
	cc_unlock(&W.drain_lock);
	errno = saved;
}

/*
 * What went to the collector, in the file, for `clearcap report` (which reads only the file): an
 * Interface Statistics Block on the wire interface whose comment counts this process's HEP
 * packets since its last such block (an exec, then the new image's exit, each say their part),
 * with its isb_osdrop.  Caller holds the drain lock.
 */
static void hep_stats_locked(void)
{
	uint8_t b[CC_ISB_MAX];
	char c[160];
	uint64_t sent = __atomic_load_n(&W.hep_sent, __ATOMIC_RELAXED);
	uint64_t dropped = __atomic_load_n(&W.hep_dropped, __ATOMIC_RELAXED);

	if (W.fmt != CC_FMT_PCAPNG)
		return;
	int n = snprintf(c, sizeof(c), "clearcap pid %u: HEP %llu sent, %llu dropped", (unsigned)getpid(),
			 (unsigned long long)(sent - W.hep_sent_told), (unsigned long long)(dropped - W.hep_dropped_told));
	if (n <= 0 || (size_t)n >= sizeof(c))
		return;
	struct iovec v = { b, cc_isb_write(b, CC_IF_WIRE - 1, now_ns(), __atomic_load_n(&W.dropped, __ATOMIC_RELAXED), c,
					   (size_t)n) };
	if (__atomic_load_n(&cc_wq.state, __ATOMIC_ACQUIRE) == W_RUNNING && outputs[0]->wanted() &&
	    outputs[0]->write(&v, 1, 0, 0) >= 0) {
		W.hep_sent_told = sent;
		W.hep_dropped_told = dropped;
	}
}

/*
 * The outputs from `first` on end their run (a TCP collector's queue gets its moment, the rest
 * is dropped), and what the ones other than the file counted goes into it.  drain_lock held.
 */
static void outputs_end_locked(size_t first)
{
	int hep = 0;

	for (size_t i = first; i < NOUTPUTS; i++)
		if (outputs[i]->exit && outputs[i]->wanted()) {
			outputs[i]->exit();
			hep |= i > 0;
		}
	if (hep)
		hep_stats_locked();
}

void cc_writer_stats_now(void)
{
	if (__atomic_load_n(&cc_wq.state, __ATOMIC_ACQUIRE) != W_RUNNING)
		return;
	int saved = errno;
	cc_lock(&W.drain_lock);
	outputs_end_locked(1);          /* the file goes on: an exec's new image writes to it */
	cc_unlock(&W.drain_lock);
	errno = saved;
}

void cc_writer_exit(void)
{
	cc_writer_flush();
	if (__atomic_load_n(&cc_wq.state, __ATOMIC_ACQUIRE) == W_RUNNING) {
		int saved = errno;
		cc_lock(&W.drain_lock);
		drain_deferred_locked();
		outputs_end_locked(0);
		cc_unlock(&W.drain_lock);
		errno = saved;
	}
	__atomic_store_n(&cc_wq.sync, 1, __ATOMIC_RELAXED);
	cc_wq_gate_moved();
}

/*
 * The program's threads (ours not counted), from the link count of /proc/self/task: one per
 * thread plus two.  Unknown (no /proc) counts as many.
 */
static long program_threads(void)
{
	struct stat st;

	if (syscall(SYS_newfstatat, AT_FDCWD, "/proc/self/task", &st, 0) < 0 || st.st_nlink < 3)
		return 2;
	return (long)st.st_nlink - 2 - ours();
}

void cc_writer_atfork_prepare(void)
{
	cc_lock(&W.start_lock);
	/*
	 * A thread's start may take its allocator's lock before our code runs: under ASan (GCC 12's
	 * has no fork handler of its own) it reads the thread's attributes, which mallocs.  A child
	 * forked right then would hang at its first malloc: fork only once ours is past that.  Once
	 * per thread started, and only when the fork comes within microseconds of the start.
	 */
	while (W.thread_started && !__atomic_load_n(&W.thread_entered, __ATOMIC_ACQUIRE))
		syscall(SYS_sched_yield);
	cc_lock(&W.drain_lock);
	/*
	 * Write what is buffered now: a parent that forks often leaves by an _exit our hooks never
	 * see (glibc's daemon() calls its internal one).  All of it when the program has no other
	 * thread; else packets younger than the hold stay: another thread may be in a TLS handshake
	 * whose secret is not logged yet, and its packets must not reach the file ahead of it.
	 */
	if (__atomic_load_n(&cc_wq.state, __ATOMIC_ACQUIRE) == W_RUNNING) {
		int saved = errno;
		cc_w_drain_locked(program_threads() <= 1);
		errno = saved;
	}
	cc_lock(&W.dsb_lock);
}

void cc_writer_atfork_parent(void)
{
	cc_unlock(&W.dsb_lock);
	cc_unlock(&W.drain_lock);
	cc_unlock(&W.start_lock);
}

void cc_writer_atfork_child(void)
{
	/*
	 * The child has no writer thread and a copy of the parent's unwritten records, which the
	 * parent writes itself: drop the copy, keep the shared fd and counters, start afresh on the
	 * child's first frame.
	 */
	cc_lock_forget(&W.drain_lock);
	cc_lock_forget(&W.start_lock);
	cc_ring_abandon(&cc_wq.ring);
	cc_tw_reset();
	W.captured = W.dropped = W.bytes = W.filtered = W.woken = 0;
	writer_napping = 0;
	cc_wc_forget_pending();
	W.hep_sent = W.hep_dropped = 0;
	W.hep_sent_told = W.hep_dropped_told = 0;
	W.warned_drop = 0;
	W.thread_started = 0;
	W.thread_entered = 0;
	/* The forking thread alone goes on in the child, as its main thread: none of ours. */
	own_threads = 0;
	watch_threads = 0;
	W.inherited = __atomic_load_n(&W.fd, __ATOMIC_RELAXED) >= 0;
	cc_lock_forget(&W.dsb_lock);
	/*
	 * The secrets logged so far are in the parent's file already (prepare wrote them), and the
	 * parent re-emits them into any new file: the child keeps only the secrets it logs itself,
	 * so that a file holds each secret once however many children write to it.  Without a
	 * file yet (capture started paused) they are nowhere else: the child keeps them.
	 */
	if (__atomic_load_n(&cc_wq.state, __ATOMIC_RELAXED) == W_RUNNING)
		W.dsb_len = 0;
	if (__atomic_load_n(&cc_wq.state, __ATOMIC_RELAXED) == W_RUNNING)
		cc_wq_state_set(W_IDLE);
}

void cc_writer_hold_for_secrets(void)
{
	__atomic_store_n(&W.hold, 1, __ATOMIC_RELEASE);
}

void cc_writer_set_ctl(struct cc_ctl *ctl)
{
	W.ctl = ctl;
	cc_wq.on = ctl ? &ctl->on : &always_on;
}

int cc_writer_outputs(void)
{
	return (int)NOUTPUTS;
}

int cc_writer_output_fd(int i)
{
	return i >= 0 && (size_t)i < NOUTPUTS ? outputs[i]->fd() : -1;
}

int cc_writer_output_move(int i)
{
	return i >= 0 && (size_t)i < NOUTPUTS ? outputs[i]->move_fd() : -1;
}

void cc_writer_set_comment(const char *comment)
{
	W.comment_len = comment ? (size_t)snprintf(W.comment, sizeof(W.comment), "%s", comment) : 0;
	if (W.comment_len >= sizeof(W.comment))
		W.comment_len = sizeof(W.comment) - 1;
	/* The options every record without a note of its own carries, made once. */
	W.opts_len = cc_record_opts(W.opts[0], 0, W.comment, W.comment_len);
	cc_record_opts(W.opts[1], 1, W.comment, W.comment_len);
}

