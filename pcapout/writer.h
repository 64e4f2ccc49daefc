/*
 * The capture writer of one process: the output file, the record ring and the thread that drains
 * it.  Producers call cc_out_frame() from any thread; the file sees whole records only, appended
 * with O_APPEND so that every process sharing the file adds records without interleaving.
 *
 * Start is lazy: the file is opened and the thread started by the first frame of a process, so a
 * process that never touches the network leaves the file alone.
 */
#ifndef CC_WRITER_H
#define CC_WRITER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <string.h>

#include "pcapout/filter.h"
#include "pcapout/format.h"
#include "pcapout/frame.h"
#include "pcapout/hep.h"
#include "pcapout/ring.h"
#include "pcapout/rotate.h"

struct cc_writer_cfg {
	const char *path;               /* capture file */
	enum cc_format format;
	size_t ring_size;               /* bytes, a power of two */
	const char *counters_path;      /* shared counters page, or NULL */
	const char *comment;            /* per-process comment prefix, e.g. "pid 42 curl"; NULL: none */
	int pipe_header_done;           /* a FIFO/pipe already carries the header (the wrapper wrote it) */
	struct cc_rot_cfg rotate;       /* all zero: no rotation */
	const struct cc_hep_cfg *hep;   /* a HEP collector to send to as well, or NULL */
};

/*
 * Hands over the counters page the shim mapped at start-up (to count itself loaded), to be this
 * process's from then on: a process that later drops its privileges or chroots could not map it
 * again when its capture starts, and the wrapper's summary would not hear of it.
 */
struct cc_counters;
void cc_writer_adopt_counters(struct cc_counters *c);

/* Copies the configuration; nothing is opened yet.  Returns 0. */
int cc_writer_configure(const struct cc_writer_cfg *cfg);

/*
 * Captures one frame taken at ts_ns; payload bytes come from iov after skipping `skip`.  caplen
 * bytes are stored, origlen is the packet's real payload length.  Returns 0, or -1 when the
 * frame was dropped (counted).
 */
int cc_out_frame(const struct cc_frame *f, uint64_t ts_ns, const struct iovec *iov, int iovcnt,
		 size_t skip, size_t caplen, size_t origlen);

/*
 * A raw slot: what cc_out_frame() was given, for the writer's thread to make the record of.  The
 * note's bytes follow, then the tag's, then the payload's.
 */
#define CC_FLOW_BLOCK 4096u
struct cc_raw_rec {
	uint64_t ts_ns;
	struct cc_frame f;              /* f.note not used: note_len bytes follow, then tag_len */
	uint32_t caplen, origlen;
	uint16_t note_len, tag_len;
	uint32_t flow;                  /* the producer's name for f's addresses (cc_flow_name), or 0 */
};
_Static_assert(sizeof(struct cc_raw_rec) == 96, "the flow's name fits where padding was");

/*
 * A name for a flow's addresses, as a producer that keeps them for its next datagrams gives them
 * (cc_raw_rec.flow): never given twice in one process (until 2^32 were); 0 names nothing.  The
 * writer knows the headers of a record with the same name, bytes and pid as its last without
 * comparing addresses.  Names come to each thread in blocks: no shared write per name.
 */
extern __thread uint32_t cc_flow_next, cc_flow_end __attribute__((tls_model("initial-exec")));
uint32_t cc_flow_block(void);
static inline uint32_t cc_flow_name(void)
{
	if (__builtin_expect(cc_flow_next == cc_flow_end, 0))
		cc_flow_end = (cc_flow_next = cc_flow_block()) + CC_FLOW_BLOCK;
	return cc_flow_next++;
}

/*
 * What queueing the usual datagram reads per packet (cc_out_udp, inline in the hooks): the ring,
 * the control page's "on" word, the writer's state, and whether each record is written at once
 * (after exit).  The writer's files keep them; everything else of the writer is theirs alone.
 */
#define CC_WQ_RUNNING 2
struct cc_wq {
	struct cc_ring ring;
	const uint32_t *on;             /* packets wanted: the control page's word, or always on */
	int state;                      /* the writer's state (writer_int.h), atomic */
	int sync;                       /* after exit: write each record at once */
};
extern struct cc_wq cc_wq __attribute__((visibility("hidden")));   /* one load, not two */

/*
 * The filter's verdict on every datagram of these frame fields, as cc_out_udp_slow() asks for it:
 * 1 kept, 0 declined, -1 it depends on the datagram (or the record is deferred: judged later).
 */
int cc_out_udp_verdict(const struct cc_addr *src, const struct cc_addr *dst, uint64_t bytes, uint32_t pid);

/*
 * cc_out_udp() when the inline path cannot: paused, not started, a filter, a full ring, ...  It
 * keeps errno: the hooks that queue a datagram inline leave errno to what they call.
 */
int cc_out_udp_slow(uint64_t ts_ns, const struct cc_addr *src, const struct cc_addr *dst, uint64_t bytes, uint32_t pid,
		    uint32_t flow, const void *payload, size_t len);

/*
 * fn is called after each change of the writer's state or of sync (what cc_wq_open() answers
 * besides the control page's word): a producer that keeps the answer (the shim's hot lane)
 * learns it is stale.  Set once, before capture starts.
 */
void cc_writer_on_gate(void (*fn)(void));

/* The writer running, not after exit: what cc_writer_on_gate()'s fn hears of. */
static inline __attribute__((always_inline)) int cc_wq_gate_open(void)
{
	return __builtin_expect(__atomic_load_n(&cc_wq.state, __ATOMIC_ACQUIRE) == CC_WQ_RUNNING &&
				!__atomic_load_n(&cc_wq.sync, __ATOMIC_RELAXED),
				1);
}

/* Packets wanted (the control page's word), and the gate open. */
static inline __attribute__((always_inline)) int cc_wq_open(void)
{
	return __builtin_expect(__atomic_load_n(cc_wq.on, __ATOMIC_RELAXED) != 0, 1) && cc_wq_gate_open();
}

/*
 * A raw slot of `len` bytes taken inline, when nothing unusual is on: capturing, the writer
 * running, not after exit (cc_wq_open), and room in the ring.  0 when the caller's slow path
 * must queue it.
 */
static inline __attribute__((always_inline)) int cc_wq_take(size_t len, struct cc_slot *slot)
{
	return cc_wq_open() && __builtin_expect(cc_ring_reserve(&cc_wq.ring, len, slot) == 0, 1);
}

/*
 * Fills a raw slot's head for frame f, taken at ts_ns (its note pointer not kept: note_len bytes
 * of note follow the head, then tag_len of tag, then the payload); returns where the note goes.
 */
static inline __attribute__((always_inline)) uint8_t *cc_raw_head(struct cc_slot *slot, const struct cc_frame *f,
								  uint64_t ts_ns, size_t caplen, size_t origlen,
								  size_t note_len, size_t tag_len)
{
	/* Filled in place: slots are 8-byte aligned, as the record's first field needs. */
	struct cc_raw_rec *r = (struct cc_raw_rec *)(void *)slot->data;

	r->ts_ns = ts_ns;
	r->f = *f;
	r->f.note = NULL;
	r->caplen = (uint32_t)caplen;
	r->origlen = (uint32_t)origlen;
	r->note_len = (uint16_t)note_len;
	r->tag_len = (uint16_t)tag_len;
	r->flow = 0;
	return slot->data + sizeof(*r);
}

/* Fills and publishes a raw slot of the usual datagram (cc_out_udp and its slow path). */
static inline __attribute__((always_inline)) void cc_raw_udp_put(struct cc_slot *slot, uint64_t ts_ns,
								 const struct cc_addr *src, const struct cc_addr *dst,
								 uint64_t bytes, uint32_t pid, uint32_t flow,
								 const void *payload, size_t len)
{
	struct cc_raw_rec *r = (struct cc_raw_rec *)(void *)slot->data;

	r->ts_ns = ts_ns;
	r->f.src = *src;
	r->f.dst = *dst;
	memcpy(&r->f.proto, &bytes, 8);
	r->f.seq = r->f.ack = 0;
	r->f.pid = pid;
	r->f.note = NULL;
	r->caplen = r->origlen = (uint32_t)len;
	r->note_len = r->tag_len = 0;
	r->flow = flow;
	memcpy(slot->data + sizeof(*r), payload, len);
	cc_ring_commit_raw(slot);
}

/*
 * The common case of cc_out_frame(): a whole UDP datagram on the wire interface, in one buffer,
 * no note.  The same record, made on the writer's thread.  `bytes` holds the frame's eight
 * one-byte fields, from proto to hidden, as cc_frame_bytes() packs them; flow, the addresses'
 * name (cc_flow_name) or 0; ts_ns 0: stamped here once the filter kept it (CLOCK_REALTIME).
 * Inline: the program's thread comes here once per captured datagram, and in steady state this
 * is a few loads and compares, one slot taken from the ring, and the copy.  A filter judges on
 * the slow path: with one on, the caller calls cc_out_udp_slow() instead (the filter is not
 * looked at again here).  Keeps errno.
 */
static inline __attribute__((always_inline)) int cc_out_udp(uint64_t ts_ns, const struct cc_addr *src,
							    const struct cc_addr *dst, uint64_t bytes, uint32_t pid,
							    uint32_t flow, const void *payload, size_t len)
{
	struct cc_slot slot;

	if (len > 65535 || !cc_wq_take(sizeof(struct cc_raw_rec) + len, &slot))
		return cc_out_udp_slow(ts_ns, src, dst, bytes, pid, flow, payload, len);
	cc_raw_udp_put(&slot, ts_ns, src, dst, bytes, pid, flow, payload, len);
	return 0;
}

/*
 * Deferred records.  A frame with `defer` set is stored raw and handed, in ring order, to the
 * handler on the writer's thread, which writes what it decides through cc_sink_put(): the frame
 * itself (unless `hidden`), and others before it or after.  Work that needs no answer on the
 * program's threads (correlation, the filter) is done there instead.  A `hidden` frame exists
 * for the handler only.  Before each call the sink has room for the frame's own record and
 * CC_DEFER_EXTRA bytes more.  At exit the handler is called with d == NULL to write what it still
 * holds, again while it returns nonzero.
 */
#define CC_DEFER_EXTRA (32u << 10)
struct cc_deferred {
	uint64_t ts;
	const struct cc_frame *f;
	const uint8_t *payload;
	size_t caplen, origlen;
	const char *note;               /* the frame's note, or NULL */
	const uint8_t *tag;             /* what cc_out_tagged() was given */
	size_t tag_len;
};
struct cc_sink;
typedef int (*cc_defer_fn)(const struct cc_deferred *d, struct cc_sink *s);
void cc_writer_set_defer(cc_defer_fn fn);

/*
 * From the handler: writes a frame's record (a frame the filter declines is counted and not
 * written).  Returns 0, or -1 when the sink has no room for it.
 */
int cc_sink_put(struct cc_sink *s, const struct cc_frame *f, uint64_t ts_ns, const void *payload, size_t caplen,
		size_t origlen, const char *note);

/* cc_out_tagged() when the inline path cannot (cc_wq_take). */
int cc_out_tagged_slow(const struct cc_frame *f, uint64_t ts_ns, const void *payload, size_t len, const void *tag,
		       size_t tag_len);

/*
 * Queues a deferred frame (f->defer set) whose payload is len bytes, with tag bytes for its
 * handler.  Inline: SRTP's plaintext comes here once per packet.
 */
static inline __attribute__((always_inline)) int cc_out_tagged(const struct cc_frame *f, uint64_t ts_ns,
							       const void *payload, size_t len, const void *tag,
							       size_t tag_len)
{
	struct cc_slot slot;

	if (len > 65535 || tag_len > 1024 || !cc_wq_take(sizeof(struct cc_raw_rec) + tag_len + len, &slot))
		return cc_out_tagged_slow(f, ts_ns, payload, len, tag, tag_len);
	uint8_t *p = cc_raw_head(&slot, f, ts_ns, len, len, 0, tag_len);
	memcpy(p, tag, tag_len);
	if (len)
		memcpy(p + tag_len, payload, len);
	cc_ring_commit_raw(&slot);
	return 0;
}

/*
 * Queues a pcapng Decryption Secrets Block holding NSS key log lines (len bytes, whole lines),
 * ahead of every record queued after it.  A no-op for classic pcap.  Returns 0 or -1 (dropped).
 */
int cc_out_dsb(const char *keylog, size_t len);

/* Writes everything captured so far before returning (exit, exec). */
void cc_writer_flush(void);

/* Final flush at process exit; later frames are written synchronously. */
void cc_writer_exit(void);

/*
 * The process leaves without its exit handlers (_exit) or becomes another image (exec): what its
 * outputs other than the file counted goes into the file now (after cc_writer_flush).
 */
void cc_writer_stats_now(void);

/*
 * The program's main thread ended without ending the process (pthread_exit, or cancelled): from
 * now on our threads look, every 50 ms, whether the program's threads have all ended, and then
 * end the process as glibc would have when the last of them ended: exit(0), called on a thread
 * made for it with main_mask, the main thread's signal mask.  Our threads would otherwise keep
 * the process alive for ever.
 */
void cc_writer_watch_threads(const sigset_t *main_mask);

/* Another thread of ours started (impairment's sender): not one of the program's. */
void cc_writer_own_thread(int delta);

/* Whether cc_writer_watch_threads() was called: our other threads then look too, every WATCH_NS. */
int cc_writer_watching(void);
/* Ends the process when the program's threads have all ended; from any of our threads, often. */
void cc_writer_end_if_alone(void);

/*
 * The outputs' descriptors (pcapout/output.h), which the shim keeps from the program: how many
 * outputs, output i's descriptor or -1, and moving it off a number the program wants (0 or -1).
 */
int cc_writer_outputs(void);
int cc_writer_output_fd(int i);
int cc_writer_output_move(int i);

/*
 * A close-on-exec copy of fd high up, where programs do not dup2 or loop-close; -1 if none.  It
 * never takes a number given up to the program (cc_dup_given).
 */
int cc_dup_high(int fd);

/*
 * A number of ours the program is about to take (dup2 onto it): called before ours moves off
 * it.  Between our close and the program's dup2, a copy made by cc_dup_high() elsewhere (a
 * forked child's first packet, a reopen) would otherwise get that number, the lowest free one
 * up there, and lose it to the program's dup2 at once.
 */
void cc_dup_given(int fd);

/* Fork handlers: prepare/parent around fork; child resets the per-process state. */
void cc_writer_atfork_prepare(void);
void cc_writer_atfork_parent(void);
void cc_writer_atfork_child(void);

/* Sets the comment each record carries (pid and program name). */
void cc_writer_set_comment(const char *comment);

/* Counts plaintext records written without a known flow (shared counters). */
void cc_writer_count_unmatched(uint64_t n);

/* Counts one frame declined by class selection (the filter counts its own). */
void cc_writer_count_filtered(void);

/* Counts one datagram written unwrapped on the relay interface. */
void cc_writer_count_relayed(void);

/* A datagram impairment dropped (0), delayed (1), duplicated (2) or reordered (3), for the summary. */
void cc_writer_count_impaired(unsigned what);

/* Counts one frame not captured because the process is paused (`clearcap ctl pause`). */
void cc_writer_count_paused(void);

/* At exit: this process was paused for ns in all; the wrapper's summary says the longest. */
void cc_writer_note_paused(uint64_t ns);

/* Counts one failed srtp_unprotect (shared counters). */
void cc_writer_count_srtp_failure(void);

/*
 * libsrtp is in use in this process (a session made, a packet protected or unprotected): its
 * RTP on the wire is SRTP, which the HEP output never sends as media (its plaintext goes).
 */
void cc_writer_srtp_in_use(void);

/*
 * A TLS or DTLS session exists in this process (the TLS adapters, at its creation): from now on
 * packets are held back a few milliseconds, and a handshake's packets until their secret went
 * ahead of them.  Before that no secret can come, and nothing is held back.
 */
void cc_writer_hold_for_secrets(void);

/* Counts one plaintext record by how its flow was found (index into cc_counters.plain). */
void cc_writer_count_plain(unsigned method);

/* The process's control page (pcapout/pages.h), or NULL: pause, reopen, status. */
struct cc_ctl;
void cc_writer_set_ctl(struct cc_ctl *ctl);

/* Counters of this process (for tests and the shim's own summary). */
struct cc_writer_stats {
	uint64_t captured, dropped, bytes, filtered;
	uint64_t hep_sent, hep_dropped;
	uint64_t woken;                 /* a producer found the ring full and woke the writer */
};
void cc_writer_stats(struct cc_writer_stats *st);

/* One warning line on stderr, prefixed "clearcap: ", written with a single write(2). */
void cc_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * A stack size for a thread of ours: `own` bytes for its own use, plus the static TLS of every
 * loaded object, which glibc carves out of each thread's stack (libwolfssl alone has 49 KiB of
 * it: with a bare 64 KiB stack the writer overflowed in such a process).
 */
size_t cc_thread_stack(size_t own);

#endif
