/*
 * The capture writer: lazily opened output file, record ring, drain thread, flush on exit/exec,
 * and the fork protocol.
 *
 * The shim interposes write/writev/close/fcntl, so everything here that touches a descriptor goes
 * through syscall(2) directly: our own I/O must never enter our own hooks.
 */
#include "pcapout/writer.h"
#include "pcapout/filter.h"
#include "pcapout/ring.h"
#include "shim/clearcap_counters.h"
#include "shim/clearcap_ctl.h"

#include <errno.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PATH_MAX_ 4096
#define COMMENT_MAX 128
#define DRAIN_IOV 512
#define IDLE_SLEEP_NS_MAX 20000000L     /* the drain interval when idle: 20 ms */
#define FULL_WAIT_NS 2000000000LL       /* how long a producer waits for room before dropping */
#define FILTER_PREFIX 64                /* payload bytes a filter sees before the frame is built */
#define NOTE_MAX (COMMENT_MAX + 288)    /* a record's comment: the process's, then the frame's note */
#define STAGE_SIZE (512u << 10)         /* the writer's buffer for records it makes from raw slots */
#define RAW_MAX (STAGE_SIZE / 2)        /* larger records are made by the program's thread */

enum wstate { W_IDLE, W_STARTING, W_RUNNING, W_BROKEN };

static const uint32_t always_on = 1;
static void poll_locked(size_t written);
static void rotate_check(size_t written);
static void ctl_state(enum cc_ctl_state st);

static struct {
	char path[PATH_MAX_];
	char counters_path[PATH_MAX_];
	char comment[COMMENT_MAX];
	size_t comment_len;
	enum cc_format fmt;
	size_t ring_size;
	int configured;
	int pipe_header_done;
	int pipe;                       /* the output is a FIFO or pipe: writes are locked, see open_fifo */
	off_t end;                      /* file size after our last write (a block boundary), or -1 */
	int lock_given_up;              /* the file's lock was not to be had: write without it */
	int inherited;                  /* a forked child still on its parent's open file description */
	char base[PATH_MAX_];           /* the configured name; path is the current file of a rotation */
	struct cc_rot_cfg rot;
	struct cc_rot_state *rs;        /* shared rotation state, when rotating */
	uint64_t gen;                   /* the rotation generation fd belongs to */
	pthread_mutex_t dsb_lock;       /* secrets so far, re-emitted at the top of each new file */
	char *dsb_hist;
	size_t dsb_len, dsb_cap;
	const uint32_t *on;             /* packets wanted: the control page's word, or always_on */
	struct cc_ctl *ctl;             /* control page (shim/control.c), or NULL */
	int thread_started;

	int state;                      /* enum wstate, atomic */
	int fd;
	int sync;                       /* after exit: write each record at once */
	struct cc_ring ring;
	uint8_t *stage;                 /* STAGE_SIZE bytes, under drain_lock */
	pthread_mutex_t drain_lock;
	pthread_mutex_t start_lock;
	struct cc_counters *shared;
	uint64_t captured, dropped, bytes;      /* this process; atomic */
	uint64_t filtered;                      /* declined by the filter; atomic */
	int warned_drop;
} W = {
	.fd = -1,
	.on = &always_on,
	.drain_lock = PTHREAD_MUTEX_INITIALIZER,
	.start_lock = PTHREAD_MUTEX_INITIALIZER,
	.dsb_lock = PTHREAD_MUTEX_INITIALIZER,
};

static long sys_write(int fd, const void *p, size_t n)
{
	return syscall(SYS_write, fd, p, n);
}

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
	errno = saved;
}

int cc_writer_configure(const struct cc_writer_cfg *cfg)
{
	snprintf(W.path, sizeof(W.path), "%s", cfg->path);
	snprintf(W.base, sizeof(W.base), "%s", cfg->path);
	W.rot = cfg->rotate;
	snprintf(W.counters_path, sizeof(W.counters_path), "%s", cfg->counters_path ? cfg->counters_path : "");
	W.comment_len = cfg->comment ? (size_t)snprintf(W.comment, sizeof(W.comment), "%s", cfg->comment) : 0;
	if (W.comment_len >= sizeof(W.comment))
		W.comment_len = sizeof(W.comment) - 1;
	W.fmt = cfg->format;
	W.ring_size = cfg->ring_size;
	W.pipe_header_done = cfg->pipe_header_done;
	W.configured = 1;
	return 0;
}

static void count_shared(uint64_t *field, uint64_t n)
{
	if (W.shared && n)
		__atomic_fetch_add(field, n, __ATOMIC_RELAXED);
}

/*
 * Writes iov fully.  Signals that a write can raise (SIGPIPE from a vanished FIFO reader, SIGXFSZ
 * past RLIMIT_FSIZE) are blocked around it and, if they became pending only because of us,
 * consumed, so the program never sees them.  The writer thread has them blocked already.
 */
static int write_all(int fd, struct iovec *iov, int n)
{
	sigset_t block, old, pend_before, pend_after;
	int rc = 0;

	sigemptyset(&block);
	sigaddset(&block, SIGPIPE);
	sigaddset(&block, SIGXFSZ);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	sigpending(&pend_before);

	while (n > 0) {
		long w = syscall(SYS_writev, fd, iov, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			rc = -1;
			break;
		}
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= w;
		}
	}

	sigpending(&pend_after);
	for (int s = SIGPIPE; s; s = s == SIGPIPE ? SIGXFSZ : 0) {
		if (sigismember(&pend_after, s) && !sigismember(&pend_before, s)) {
			struct timespec zero = { 0, 0 };
			sigset_t one;
			sigemptyset(&one);
			sigaddset(&one, s);
			sigtimedwait(&one, NULL, &zero);
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/* A pcapng block at off that is whole: sane length, and the same length at its end. */
static int block_whole(int fd, off_t off, off_t size, uint32_t *len)
{
	uint32_t h[2], t;

	if (off + 12 > size || pread(fd, h, 8, off) != 8)
		return 0;
	if (h[1] < 12 || h[1] % 4 || off + h[1] > size || pread(fd, &t, 4, off + h[1] - 4) != 4 || t != h[1])
		return 0;
	*len = h[1];
	return 1;
}

/*
 * A writer killed in the middle of a write (SIGKILL, or SIGTERM's default action, between two
 * pages of a large writev) leaves a record cut short at the end of the file; whatever is
 * appended after it would be unreadable.  With the file locked, the last block is checked and,
 * when it is not whole, the file is cut back to the last whole block after `from` (a boundary
 * known to be good).  pcapng only: classic pcap records carry no trailing length.
 */
static off_t repair_tail(int fd, off_t size, off_t from)
{
	uint32_t len, last;
	off_t off = from;

	/* Without a boundary known to be good (from < 0) nothing is cut. */
	if (W.fmt != CC_FMT_PCAPNG || from < 0 || size <= from)
		return size;
	if (pread(fd, &last, 4, size - 4) == 4 && last <= size - from && block_whole(fd, size - last, size, &len))
		return size;
	while (block_whole(fd, off, size, &len))
		off += len;
	if (off != size && syscall(SYS_ftruncate, fd, off) == 0) {
		cc_warn("%s: removed %lld bytes of a record cut short by a killed writer", W.path,
			(long long)(size - off));
		return off;
	}
	return size;
}

/* Takes the file's lock for one batch, bounded: a stranger holding it must not stall us. */
static int lock_batch(int fd)
{
	for (int tries = 0; syscall(SYS_flock, fd, LOCK_EX | LOCK_NB) < 0; tries++) {
		if ((errno != EWOULDBLOCK && errno != EINTR) || tries >= 4000)
			return -1;
		struct timespec ts = { 0, 500000 };
		nanosleep(&ts, NULL);
	}
	return 0;
}

/*
 * One batch to the output.  On a pipe only writes up to PIPE_BUF are atomic, and a batch (or one
 * large record) is longer: the flock keeps the batches of the processes sharing the pipe whole.
 * On a regular file O_APPEND places each writev whole, and the lock is for repair_tail: when
 * the size is not what our own last write left, someone else wrote, maybe cut short.
 */
static int write_out(struct iovec *iov, int n)
{
	int fd = __atomic_load_n(&W.fd, __ATOMIC_RELAXED);
	int rc;

	if (!W.pipe) {
		struct stat st;
		size_t total = 0;
		/* A stranger that held the lock for 2 s once is not waited for again on this file. */
		int locked = !W.lock_given_up && lock_batch(fd) == 0;

		if (!locked)
			W.lock_given_up = 1;

		for (int i = 0; i < n; i++)
			total += iov[i].iov_len;
		/* Where this batch lands, from the size under the lock: never from a stale guess. */
		off_t at = -1;
		if (locked && fstat(fd, &st) == 0)
			at = st.st_size != W.end ? repair_tail(fd, st.st_size, W.end) : st.st_size;
		rc = write_all(fd, iov, n);
		int saved = errno;
		W.end = at >= 0 && rc == 0 ? at + (off_t)total : -1;
		if (locked)
			syscall(SYS_flock, fd, LOCK_UN);
		errno = saved;
		return rc;
	}
	while (syscall(SYS_flock, fd, LOCK_EX) < 0 && errno == EINTR)
		;
	rc = write_all(fd, iov, n);
	int saved = errno;
	syscall(SYS_flock, fd, LOCK_UN);
	errno = saved;
	return rc;
}

static void broken(const char *what, int err, uint64_t lost)
{
	int expected = W_RUNNING;

	if (__atomic_compare_exchange_n(&W.state, &expected, W_BROKEN, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
		ctl_state(CC_CTL_BROKEN);
		cc_warn("%s %s: %s; capture stopped, the program goes on (%llu packets lost so far)", what,
			W.path, strerror(err), (unsigned long long)lost);
	}
}

/*
 * How long packets stay in the ring before they are written.  A TLS 1.3 client derives its
 * handshake secret only after it received the ServerHello, yet Wireshark must read the secret
 * before that packet to decrypt anything; holding packets back a few milliseconds lets the
 * Decryption Secrets Block, which jumps the queue, land ahead of them in the file.
 */
#define HOLD_NS 5000000ull

struct hold {
	uint64_t cutoff;                /* packets stamped at or before this go now */
	enum cc_format fmt;
};

/*
 * A raw slot: what cc_out_frame() was given, for the writer to make the record of.  The note's
 * bytes follow, then the payload's.
 */
struct raw_rec {
	uint64_t ts_ns;
	struct cc_frame f;              /* f.note not used: note_len bytes follow, then tag_len */
	uint32_t caplen, origlen;
	uint16_t note_len, tag_len;
};

static int old_enough(const uint8_t *rec, uint32_t len, int raw, void *arg)
{
	const struct hold *h = arg;
	uint64_t ts;

	(void)len;
	if (raw)
		memcpy(&ts, rec + offsetof(struct raw_rec, ts_ns), sizeof(ts));
	else
		ts = cc_record_ts(h->fmt, rec);
	/* A stamp far ahead means the clock was stepped back: never hold on to it. */
	return ts <= h->cutoff || ts > h->cutoff + HOLD_NS + 1000000000ull;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
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
static size_t build_record(uint8_t *out, size_t room, const struct cc_frame *f, uint64_t ts_ns, const uint8_t *payload,
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

/* Makes a raw slot's records (cc_ring_synth_fn): the frame the producer left to us, or its handler's. */
static size_t synth_raw(const uint8_t *raw, uint32_t len, uint8_t *out, size_t room, int *records)
{
	struct raw_rec r;

	(void)len;
	memcpy(&r, raw, sizeof(r));
	const uint8_t *note = raw + sizeof(r), *tag = note + r.note_len, *payload = tag + r.tag_len;
	cc_defer_fn fn = __atomic_load_n(&defer_fn, __ATOMIC_ACQUIRE);
	if (r.f.defer && fn) {
		char nb[NOTE_MAX + 1];
		size_t hl = cc_frame_hdr_len(&r.f);
		if (cc_record_len(W.fmt, hl + r.caplen, W.comment_len + 2 + r.note_len) + CC_DEFER_EXTRA > room)
			return CC_RING_NO_ROOM;
		memcpy(nb, note, r.note_len);
		nb[r.note_len] = 0;
		struct cc_deferred d = { r.ts_ns, &r.f, payload, r.caplen, r.origlen, r.note_len ? nb : NULL, tag, r.tag_len };
		struct cc_sink s = { out, room, 0, 0 };
		fn(&d, &s);
		*records = s.records;
		return s.used;
	}
	if (r.f.hidden)
		return 0;
	size_t n = build_record(out, room, &r.f, r.ts_ns, payload, r.caplen, r.origlen, (const char *)note, r.note_len);
	*records = n != CC_RING_NO_ROOM;
	return n;
}

/* Writes a batch of records (`packets` of them) and counts it; returns the bytes written. */
static size_t write_batch(struct iovec *iov, int n, int packets, size_t bytes)
{
	if (__atomic_load_n(&W.state, __ATOMIC_ACQUIRE) == W_RUNNING && write_out(iov, n) == 0) {
		__atomic_fetch_add(&W.captured, packets, __ATOMIC_RELAXED);
		__atomic_fetch_add(&W.bytes, bytes, __ATOMIC_RELAXED);
		if (W.shared) {
			count_shared(&W.shared->captured, (uint64_t)packets);
			count_shared(&W.shared->bytes, bytes);
		}
		if (W.rs && W.rot.size)
			rotate_check(bytes);
		return bytes;
	}
	int err = errno;
	__atomic_fetch_add(&W.dropped, packets, __ATOMIC_RELAXED);
	if (W.shared) {
		count_shared(&W.shared->dropped, (uint64_t)packets);
		count_shared(&W.shared->write_errors, 1);
	}
	broken("cannot write", err, __atomic_load_n(&W.dropped, __ATOMIC_RELAXED));
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
 * Drains published records to the file, metadata first; the caller holds drain_lock.  With
 * `all`, nothing is held back (exit, exec, fork).  Returns bytes written.
 */
static size_t drain_locked(int all)
{
	struct iovec iov[2 * DRAIN_IOV];
	struct cc_ring_batch b = { .meta = iov, .data = iov + DRAIN_IOV, .synth = synth_raw, .stage = W.stage,
				   .stage_size = STAGE_SIZE,
				   /* Rotating by size: small batches, since the size is checked after each. */
				   .stage_soft = W.rs && W.rot.size ? STAGE_SIZE / 32 : 0 };
	struct hold h = { now_ns() - HOLD_NS, W.fmt };
	size_t written = 0;

	if (!W.ring.buf)
		return 0;
	for (;;) {
		uint64_t tail = __atomic_load_n(&W.ring.tail, __ATOMIC_RELAXED);
		/* Rotating by size: smaller batches, since the size is checked after each. */
		int n = cc_ring_take(&W.ring, &b, W.rs && W.rot.size ? 64 : DRAIN_IOV, all ? NULL : old_enough, &h);

		if (n == 0 && b.upto == tail)
			break;
		if (n > 0) {
			/* Metadata then packets, in one write: move the packets up behind the metadata. */
			if (b.nmeta < DRAIN_IOV)
				memmove(iov + b.nmeta, iov + DRAIN_IOV, sizeof(iov[0]) * (size_t)b.ndata);
			written += write_batch(iov, n, b.packets, b.bytes);
		}
		cc_ring_release(&W.ring, b.upto);
	}
	return written;
}

static void *writer_main(void *arg)
{
	long sleep_ns = 1000000;

	(void)arg;
	prctl(PR_SET_NAME, "clearcap-writer", 0, 0, 0);
	/* The ring's page faults taken here, on this thread, rather than by the program's as it writes. */
	cc_ring_prefault(&W.ring);
	for (;;) {
		size_t n;

		pthread_mutex_lock(&W.drain_lock);
		n = drain_locked(0);
		poll_locked(n);
		pthread_mutex_unlock(&W.drain_lock);

		/* Busy: go again at once; quiet: back off to the idle interval, which bounds latency. */
		if (n > 256 * 1024)
			continue;
		sleep_ns = n ? 1000000 : (sleep_ns * 2 > IDLE_SLEEP_NS_MAX ? IDLE_SLEEP_NS_MAX : sleep_ns * 2);
		struct timespec ts = { 0, sleep_ns };
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* Validates an existing file's header against ours: append only to a capture of the same kind. */
static int header_matches(int fd, const uint8_t *hdr, size_t len)
{
	uint8_t buf[CC_HEADER_MAX];
	ssize_t r = pread(fd, buf, len, 0);

	return r == (ssize_t)len && memcmp(buf, hdr, len) == 0;
}

/* Moves fd up out of the range programs dup2 over and loop-close, keeping O_CLOEXEC. */
static int move_high(int fd)
{
	struct rlimit rl;
	long base = 1000;
	long nfd;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		long top = rl.rlim_cur > 4096 ? 4096 : (long)rl.rlim_cur;
		base = top - 24;
	}
	if (base < 3)
		return fd;
	nfd = syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, base);
	if (nfd < 0)
		return fd;
	syscall(SYS_close, fd);
	return (int)nfd;
}

/*
 * A forked child shares its parent's open file description, and flock() locks descriptions:
 * both would hold the batch lock at once, and one's tail repair could cut the other's write in
 * half.  So the child writes through a description of its own, reopened through /proc/self/fd
 * (which reaches a deleted file and a pipe too), before its first batch.  Without /proc it keeps
 * the shared one and takes no lock on a file, so it never repairs.
 */
static void own_description(void)
{
	int fd = __atomic_load_n(&W.fd, __ATOMIC_RELAXED);
	long fl = syscall(SYS_fcntl, fd, F_GETFL);
	char path[64];
	int nfd = -1;

	W.inherited = 0;
	W.end = -1;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (fl >= 0)
		nfd = open(path, (int)(fl & (O_ACCMODE | O_APPEND | O_NONBLOCK)) | O_CLOEXEC | O_NOCTTY);
	if (nfd < 0) {
		W.lock_given_up = 1;    /* a shared description's lock excludes nobody: no repair */
		return;
	}
	__atomic_store_n(&W.fd, move_high(nfd), __ATOMIC_RELEASE);
	syscall(SYS_close, fd);
}

/*
 * A FIFO (mkfifo, or the wrapper's `-w -`, passed as /proc/PID/fd/N) is opened O_NONBLOCK so that
 * the program never waits for a reader: with nobody reading, open fails with ENXIO and the
 * process runs uncaptured after one warning.  Writes then block again (a slow reader slows the
 * writer thread, and after 2 s of a full buffer packets are dropped, as with a slow disk).  The
 * header goes first, once: the wrapper writes it and says so in CLEARCAP_PIPE_HEADER=done;
 * without the wrapper every program image that opens the FIFO writes one, which for pcapng
 * starts a new section (same interfaces), as the format allows.
 */
static int open_fifo(void)
{
	uint8_t hdr[CC_HEADER_MAX];
	size_t hlen = cc_format_header(W.fmt, hdr);
	int flags = O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
	struct stat st;
	int fd;

	/* /proc/PID/fd/N is a link by nature: following it is the point.  Elsewhere refuse links. */
	if (strncmp(W.path, "/proc/", 6) != 0)
		flags |= O_NOFOLLOW;
	fd = open(W.path, flags);
	if (fd < 0) {
		if (errno == ENXIO)
			cc_warn("CLEARCAP_FILE: nobody reads the FIFO %s; not capturing", W.path);
		else
			cc_warn("CLEARCAP_FILE: cannot open %s: %s; not capturing", W.path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode) ||
	    syscall(SYS_fcntl, fd, F_SETFL, O_WRONLY) < 0) {
		cc_warn("CLEARCAP_FILE: %s is not a FIFO; not capturing", W.path);
		syscall(SYS_close, fd);
		return -1;
	}
	W.pipe = 1;
	if (!W.pipe_header_done) {
		struct iovec v = { hdr, hlen };
		syscall(SYS_flock, fd, LOCK_EX);
		int rc = write_all(fd, &v, 1);
		syscall(SYS_flock, fd, LOCK_UN);
		if (rc < 0) {
			cc_warn("CLEARCAP_FILE: cannot write %s: %s; not capturing", W.path, strerror(errno));
			syscall(SYS_close, fd);
			return -1;
		}
	}
	return move_high(fd);
}

static int open_output(void)
{
	uint8_t hdr[CC_HEADER_MAX];
	size_t hlen = cc_format_header(W.fmt, hdr);
	struct stat st;
	int fd;

	if (stat(W.path, &st) == 0 && S_ISFIFO(st.st_mode))
		return open_fifo();
	W.pipe = 0;
	W.lock_given_up = 0;

	/* O_NOFOLLOW: a symlink planted at the path is refused, not followed. */
	fd = open(W.path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY |
		  (strncmp(W.path, "/proc/", 6) != 0 ? O_NOFOLLOW : 0), 0600);
	if (fd < 0) {
		cc_warn("CLEARCAP_FILE: cannot open %s: %s; not capturing", W.path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		cc_warn("CLEARCAP_FILE: %s is not a regular file; not capturing", W.path);
		syscall(SYS_close, fd);
		return -1;
	}
	/*
	 * The lock makes "empty, so write the header" one step across processes starting together.
	 * Bounded: a stranger holding a lock on the file must not stall the program.
	 */
	for (int tries = 0; flock(fd, LOCK_EX | LOCK_NB) < 0; tries++) {
		if (errno != EWOULDBLOCK || tries >= 400) {
			cc_warn("CLEARCAP_FILE: %s stays locked by another process; not capturing", W.path);
			syscall(SYS_close, fd);
			return -1;
		}
		struct timespec ts = { 0, 5000000 };
		nanosleep(&ts, NULL);
	}
	if (fstat(fd, &st) == 0 && st.st_size == 0) {
		struct iovec v = { hdr, hlen };
		if (write_all(fd, &v, 1) < 0) {
			cc_warn("CLEARCAP_FILE: cannot write %s: %s; not capturing", W.path, strerror(errno));
			flock(fd, LOCK_UN);
			syscall(SYS_close, fd);
			return -1;
		}
		W.end = (off_t)hlen;
	} else if (header_matches(fd, hdr, hlen)) {
		W.end = repair_tail(fd, st.st_size, (off_t)hlen);
	} else {
		cc_warn("CLEARCAP_FILE: %s exists and is not a clearcap %s capture; not capturing", W.path,
			W.fmt == CC_FMT_PCAP ? "pcap" : "pcapng");
		flock(fd, LOCK_UN);
		syscall(SYS_close, fd);
		return -1;
	}
	flock(fd, LOCK_UN);
	return move_high(fd);
}

static void map_counters(void)
{
	struct stat st;
	void *p;
	int fd;

	if (W.shared || !W.counters_path[0])
		return;
	fd = open(W.counters_path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && st.st_size >= CC_COUNTERS_SIZE) {
		p = mmap(NULL, CC_COUNTERS_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p != MAP_FAILED) {
			if (((struct cc_counters *)p)->magic == CC_COUNTERS_MAGIC)
				W.shared = p;
			else
				munmap(p, CC_COUNTERS_SIZE);
		}
	}
	syscall(SYS_close, fd);
}

static int start_thread(void)
{
	pthread_attr_t attr;
	pthread_t tid;
	sigset_t all, old;
	int rc;

	/* The writer takes no signal of the program's: all blocked, inherited at creation. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	rc = pthread_create(&tid, &attr, writer_main, NULL);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/* -------------------------------------------------------------------------------------------
 * Daily use: the control page (`clearcap ctl`), reopening, rotation.  None of it runs per packet:
 * the writer thread polls after each batch, at most 20 ms apart.
 */

#define DSB_HISTORY_MAX (1u << 20)

static void ctl_state(enum cc_ctl_state st)
{
	if (W.ctl)
		__atomic_store_n(&W.ctl->state, (uint32_t)st, __ATOMIC_RELEASE);
}

static void ctl_file(const char *path)
{
	if (W.ctl) {
		snprintf(W.ctl->file, sizeof(W.ctl->file), "%s", path);
		snprintf(W.ctl->base, sizeof(W.ctl->base), "%s", W.base);
	}
}

void cc_writer_set_ctl(struct cc_ctl *ctl)
{
	W.ctl = ctl;
	W.on = ctl ? &ctl->on : &always_on;
}

/*
 * Secrets are kept (up to 1 MiB) so that a new file, after a rotation or a reopen, starts with
 * every secret the packets still to come may need: each process re-emits its own.
 */
static void keep_history(const char *keylog, size_t len)
{
	pthread_mutex_lock(&W.dsb_lock);
	if (W.dsb_len + len <= DSB_HISTORY_MAX) {
		if (W.dsb_len + len > W.dsb_cap) {
			size_t cap = W.dsb_cap ? W.dsb_cap : 4096;
			while (cap < W.dsb_len + len)
				cap *= 2;
			char *p = realloc(W.dsb_hist, cap);
			if (p) {
				W.dsb_hist = p;
				W.dsb_cap = cap;
			}
		}
		if (W.dsb_len + len <= W.dsb_cap) {
			memcpy(W.dsb_hist + W.dsb_len, keylog, len);
			W.dsb_len += len;
		}
	}
	pthread_mutex_unlock(&W.dsb_lock);
}

static void emit_history(int fd)
{
	if (W.fmt != CC_FMT_PCAPNG || fd < 0)
		return;
	pthread_mutex_lock(&W.dsb_lock);
	if (W.dsb_len) {
		size_t n = cc_dsb_len(W.dsb_len);
		uint8_t *b = malloc(n);
		if (b) {
			struct iovec v = { b, n };
			cc_dsb_write(b, W.dsb_hist, W.dsb_len);
			if (W.pipe)
				syscall(SYS_flock, fd, LOCK_EX);
			write_all(fd, &v, 1);
			if (W.pipe)
				syscall(SYS_flock, fd, LOCK_UN);
			free(b);
		}
	}
	pthread_mutex_unlock(&W.dsb_lock);
}

static int reopen_pending(void)
{
	return W.ctl && __atomic_load_n(&W.ctl->req_seq, __ATOMIC_ACQUIRE) != __atomic_load_n(&W.ctl->ack_seq, __ATOMIC_RELAXED);
}

static void ack(uint64_t seq, int rc)
{
	__atomic_store_n(&W.ctl->ack_rc, rc, __ATOMIC_RELAXED);
	__atomic_store_n(&W.ctl->ack_seq, seq, __ATOMIC_RELEASE);
}

/* Adopts a requested file name before the writer runs (start()); returns whether there was one. */
static int take_request(void)
{
	if (!reopen_pending())
		return 0;
	uint64_t seq = __atomic_load_n(&W.ctl->req_seq, __ATOMIC_ACQUIRE);
	snprintf(W.base, sizeof(W.base), "%s", W.ctl->req_path);
	snprintf(W.path, sizeof(W.path), "%s", W.base);
	W.rs = NULL;
	int fd = __atomic_exchange_n(&W.fd, -1, __ATOMIC_ACQ_REL);
	if (fd >= 0)
		syscall(SYS_close, fd);
	W.ctl->reopened = 1;
	ack(seq, 0);
	return 1;
}

/* Makes fd the output (the old one is closed), secrets first; the caller holds drain_lock. */
static void switch_fd(int fd)
{
	emit_history(fd);
	int old = __atomic_exchange_n(&W.fd, fd, __ATOMIC_ACQ_REL);
	if (old >= 0 && old != fd)
		syscall(SYS_close, old);
	ctl_file(W.path);
	ctl_state(CC_CTL_RUNNING);
	__atomic_store_n(&W.state, W_RUNNING, __ATOMIC_RELEASE);
}

/* Tells the command, through the counters page, which file a reopen switched to and where this
 * process's records there begin, so that its summary names and reads every file of the run. */
static void note_file(const char *path, off_t from)
{
	char line[PATH_MAX_ + 32];
	int n;

	if (!W.shared)
		return;
	n = snprintf(line, sizeof(line), "%lld %s\n", (long long)from, path);
	if (n <= 0 || (size_t)n >= sizeof(line))
		return;
	uint64_t at = __atomic_fetch_add(&W.shared->names_used, (uint64_t)n, __ATOMIC_RELAXED);
	if (at + (uint64_t)n <= sizeof(W.shared->names))
		memcpy(W.shared->names + at, line, (size_t)n);
}

/* `clearcap ctl PID reopen FILE`, in the writer thread: everything so far to the old file. */
static void do_reopen(uint64_t seq)
{
	char old_base[PATH_MAX_], old_path[PATH_MAX_];
	struct cc_rot_state *old_rs = W.rs;
	uint64_t old_gen = W.gen;
	int old_pipe = W.pipe;

	drain_locked(1);
	memcpy(old_base, W.base, sizeof(old_base));
	memcpy(old_path, W.path, sizeof(old_path));
	snprintf(W.base, sizeof(W.base), "%s", W.ctl->req_path);
	snprintf(W.path, sizeof(W.path), "%s", W.base);
	W.rs = NULL;
	if (W.rot.size || W.rot.seconds) {
		W.rs = cc_rot_attach(W.base, &W.rot);
		if (W.rs)
			cc_rot_current(W.rs, W.base, W.path, sizeof(W.path), &W.gen);
	}
	int fd = (W.rs || !(W.rot.size || W.rot.seconds)) ? open_output() : -1;
	if (fd < 0) {
		int err = errno ? errno : EIO;
		memcpy(W.base, old_base, sizeof(old_base));
		memcpy(W.path, old_path, sizeof(old_path));
		W.rs = old_rs;
		W.gen = old_gen;
		W.pipe = old_pipe;
		ack(seq, err);
		return;
	}
	off_t from = W.end;     /* open_output's: the end of the file before our first record */
	switch_fd(fd);
	note_file(W.path, from);
	W.ctl->reopened = 1;
	ack(seq, 0);
}

/* With -G and -W the capture ends after the last file, as tcpdump exits. */
static void rotation_done(void)
{
	int expected = W_RUNNING;

	if (__atomic_compare_exchange_n(&W.state, &expected, W_BROKEN, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
		int fd = __atomic_exchange_n(&W.fd, -1, __ATOMIC_ACQ_REL);
		if (fd >= 0)
			syscall(SYS_close, fd);
		ctl_state(CC_CTL_IDLE);
		cc_warn("the %ld files of the rotation are written; capture stopped", W.rot.files);
	}
}

/*
 * After a batch: is the current file full or old enough?  The size is the file's, through fstat,
 * so that every process sharing it sees the same; whoever gets there first starts the next file
 * and the others follow the shared state.  A file may pass the size by the batches other
 * processes write before they notice (20 ms at most).
 */
static void rotate_check(size_t written)
{
	uint8_t hdr[CC_HEADER_MAX];
	char name[PATH_MAX_];
	uint64_t gen;

	if (__atomic_load_n(&W.rs->done, __ATOMIC_RELAXED)) {
		rotation_done();
		return;
	}
	if (__atomic_load_n(&W.rs->gen, __ATOMIC_ACQUIRE) == W.gen) {
		int due = W.rot.seconds && time(NULL) >= W.rs->start + W.rot.seconds;
		if (!due && W.rot.size && written) {
			struct stat st;
			due = fstat(__atomic_load_n(&W.fd, __ATOMIC_RELAXED), &st) == 0 && st.st_size >= W.rot.size;
		}
		if (!due)
			return;
		int r = cc_rot_advance(W.rs, W.base, &W.rot, W.gen, hdr, cc_format_header(W.fmt, hdr));
		if (r == 0) {
			rotation_done();
			return;
		}
		if (r < 0) {
			static int warned;
			if (!warned++)
				cc_warn("cannot start the next capture file after %s: %s; going on with it", W.path,
					strerror(errno));
			return;
		}
	}
	cc_rot_current(W.rs, W.base, name, sizeof(name), &gen);
	char prev[PATH_MAX_];
	memcpy(prev, W.path, sizeof(prev));
	snprintf(W.path, sizeof(W.path), "%s", name);
	int fd = open_output();
	if (fd < 0) {
		memcpy(W.path, prev, sizeof(prev));
		W.gen = gen;    /* not again for this generation */
		return;
	}
	W.gen = gen;
	switch_fd(fd);
}

static void poll_locked(size_t written)
{
	if (W.ctl) {
		if (reopen_pending())
			do_reopen(__atomic_load_n(&W.ctl->req_seq, __ATOMIC_ACQUIRE));
		__atomic_store_n(&W.ctl->captured, __atomic_load_n(&W.captured, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
		__atomic_store_n(&W.ctl->dropped, __atomic_load_n(&W.dropped, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
		__atomic_store_n(&W.ctl->bytes, __atomic_load_n(&W.bytes, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
	}
	/* By size it was checked after each batch already; here time and the others' rotations. */
	if (W.rs && __atomic_load_n(&W.state, __ATOMIC_ACQUIRE) == W_RUNNING)
		rotate_check(W.rot.size ? 0 : written);
}

/* Opens the file (once per exec'd image; a forked child shares its parent's) and starts the thread. */
static int start(void)
{
	sigset_t all, old;
	int st;

	/*
	 * No signal handler of the program may run while we hold start_lock: one that sends a packet
	 * would come back here on the same thread and wait for itself.  Blocked, it runs afterwards.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_mutex_lock(&W.start_lock);
	st = __atomic_load_n(&W.state, __ATOMIC_ACQUIRE);
	/* A failed start is retried once `clearcap ctl reopen` names a file (no writer thread yet). */
	if (st == W_BROKEN && !W.thread_started && take_request())
		st = W_IDLE;
	if (st != W_IDLE) {
		pthread_mutex_unlock(&W.start_lock);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return st == W_RUNNING ? 0 : -1;
	}
	if (!W.configured)
		goto fail;
	take_request();
	if (!W.base[0]) {
		/* CLEARCAP_CTL=1 without a file: stay paused until `clearcap ctl PID reopen FILE`. */
		ctl_state(CC_CTL_NOFILE);
		if (W.ctl)
			__atomic_store_n(&W.ctl->on, 0, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&W.start_lock);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return -1;
	}
	if (W.rot.size || W.rot.seconds) {
		if (!W.rs && !(W.rs = cc_rot_attach(W.base, &W.rot))) {
			cc_warn("CLEARCAP_FILE: cannot keep rotation state for %s: %s; not capturing", W.base, strerror(errno));
			goto fail;
		}
		cc_rot_current(W.rs, W.base, W.path, sizeof(W.path), &W.gen);
	}
	if (__atomic_load_n(&W.fd, __ATOMIC_RELAXED) < 0) {
		int fd = open_output();
		if (fd < 0)
			goto fail;
		__atomic_store_n(&W.fd, fd, __ATOMIC_RELEASE);
	} else if (W.inherited) {
		own_description();
	}
	if (!W.stage) {
		void *p = mmap(NULL, STAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			cc_warn("cannot allocate the writer's %u-byte buffer; not capturing", STAGE_SIZE);
			goto fail;
		}
		W.stage = p;
	}
	if (!W.ring.buf && cc_ring_init(&W.ring, W.ring_size) < 0) {
		cc_warn("cannot allocate a %zu-byte capture buffer; not capturing", W.ring_size);
		goto fail;
	}
	map_counters();
	if (!W.thread_started) {
		if (start_thread() != 0) {
			cc_warn("cannot start the writer thread; not capturing");
			goto fail;
		}
		W.thread_started = 1;
		count_shared(W.shared ? &W.shared->processes : NULL, 1);
	}
	if (W.dsb_len)
		emit_history(__atomic_load_n(&W.fd, __ATOMIC_RELAXED));
	ctl_file(W.path);
	ctl_state(CC_CTL_RUNNING);
	__atomic_store_n(&W.state, W_RUNNING, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&W.start_lock);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 0;
fail:
	ctl_state(CC_CTL_BROKEN);
	__atomic_store_n(&W.state, W_BROKEN, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&W.start_lock);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -1;
}

/* Counts lost packets; `why_full` says the buffer was full (warned about once). */
static void drop(uint64_t n, int why_full)
{
	__atomic_fetch_add(&W.dropped, n, __ATOMIC_RELAXED);
	if (W.shared)
		count_shared(&W.shared->dropped, n);
	if (why_full && !__atomic_exchange_n(&W.warned_drop, 1, __ATOMIC_RELAXED))
		cc_warn("capture buffer full: packets are being dropped (raise CLEARCAP_BUFFER)");
}

/* The ring full: waits up to FULL_WAIT_NS for the writer to make room (overload only). */
static int __attribute__((noinline)) reserve_wait(size_t len, struct cc_slot *s)
{
	long long waited = 0;

	while (cc_ring_reserve(&W.ring, len, s) < 0) {
		if (len > cc_ring_max_record(&W.ring) || waited >= FULL_WAIT_NS || __atomic_load_n(&W.sync, __ATOMIC_RELAXED))
			return -1;
		struct timespec ts = { 0, 200000 };
		nanosleep(&ts, NULL);
		waited += ts.tv_nsec;
	}
	return 0;
}

/* Reserves room, waiting for the writer when the ring is full (never in steady state). */
static inline int reserve(size_t len, struct cc_slot *s)
{
	if (__builtin_expect(cc_ring_reserve(&W.ring, len, s) == 0, 1))
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

	if (reserve(sizeof(struct raw_rec) + nl + tag_len + caplen, &slot) < 0) {
		drop(1, 1);
		return -1;
	}
	/* Filled in place: slots are 8-byte aligned, as the record's first field needs. */
	struct raw_rec *r = (struct raw_rec *)(void *)slot.data;
	r->ts_ns = ts_ns;
	r->f = *f;
	r->f.note = NULL;
	r->caplen = (uint32_t)caplen;
	r->origlen = (uint32_t)origlen;
	r->note_len = (uint16_t)nl;
	r->tag_len = (uint16_t)tag_len;
	uint8_t *p = slot.data + sizeof(*r);
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
	if (__atomic_load_n(&W.sync, __ATOMIC_RELAXED))
		cc_writer_flush();
	return 0;
}

/* The checks every frame passes before it is queued: paused, writer started; 0 to go on. */
static inline __attribute__((always_inline)) int may_queue(void)
{
	int st = __atomic_load_n(&W.state, __ATOMIC_ACQUIRE);

	/* Paused by `clearcap ctl`: the one load the control costs a packet. */
	if (!__atomic_load_n(W.on, __ATOMIC_RELAXED))
		return 1;
	if (st != W_RUNNING) {
		if ((st == W_BROKEN && !reopen_pending()) || start() < 0) {
			/* After a write error: lost, counted, already reported by broken(). */
			if (st == W_BROKEN && __atomic_load_n(&W.fd, __ATOMIC_RELAXED) >= 0)
				drop(1, 0);
			return -1;
		}
	}
	return 0;
}

int cc_out_tagged(const struct cc_frame *f, uint64_t ts_ns, const void *payload, size_t len, const void *tag,
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
	if (__atomic_load_n(&W.sync, __ATOMIC_RELAXED))
		cc_writer_flush();
	return 0;
}

int cc_out_dsb(const char *keylog, size_t len)
{
	struct cc_slot slot;

	/* Classic pcap has no place for secrets: the key log file (CLEARCAP_KEYLOG) holds them. */
	if (W.fmt != CC_FMT_PCAPNG)
		return 0;
	/* Kept after start(), which writes what was kept before: else this one would go twice. */
	if (__atomic_load_n(&W.state, __ATOMIC_ACQUIRE) != W_RUNNING && start() < 0) {
		keep_history(keylog, len);      /* no file yet (CLEARCAP_CTL=1): for when there is one */
		return -1;
	}
	keep_history(keylog, len);
	if (reserve(cc_dsb_len(len), &slot) < 0) {
		drop(1, 1);
		return -1;
	}
	cc_dsb_write(slot.data, keylog, len);
	cc_ring_commit_meta(&slot);
	if (__atomic_load_n(&W.sync, __ATOMIC_RELAXED))
		cc_writer_flush();
	return 0;
}

void cc_writer_flush(void)
{
	if (__atomic_load_n(&W.state, __ATOMIC_ACQUIRE) != W_RUNNING)
		return;
	int saved = errno;
	pthread_mutex_lock(&W.drain_lock);
	drain_locked(1);
	/* After exit nothing comes back to claim what the handler holds: written at once. */
	if (__atomic_load_n(&W.sync, __ATOMIC_RELAXED))
		drain_deferred_locked();
	pthread_mutex_unlock(&W.drain_lock);
	errno = saved;
}

void cc_writer_exit(void)
{
	cc_writer_flush();
	if (__atomic_load_n(&W.state, __ATOMIC_ACQUIRE) == W_RUNNING) {
		int saved = errno;
		pthread_mutex_lock(&W.drain_lock);
		drain_deferred_locked();
		pthread_mutex_unlock(&W.drain_lock);
		errno = saved;
	}
	__atomic_store_n(&W.sync, 1, __ATOMIC_RELAXED);
}

/* Read by every close() hook, written once at start: atomic, so no thread sees a torn value. */
int cc_writer_fd(void)
{
	return __atomic_load_n(&W.fd, __ATOMIC_ACQUIRE);
}

int cc_writer_move_fd(void)
{
	long nfd;

	int fd = __atomic_load_n(&W.fd, __ATOMIC_ACQUIRE);

	if (fd < 0)
		return 0;
	nfd = syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, fd + 1);
	if (nfd < 0)
		return -1;
	__atomic_store_n(&W.fd, (int)nfd, __ATOMIC_RELEASE);
	syscall(SYS_close, fd);
	return 0;
}

void cc_writer_atfork_prepare(void)
{
	pthread_mutex_lock(&W.start_lock);
	pthread_mutex_lock(&W.drain_lock);
	/*
	 * Write what is buffered now: a parent that forks often leaves by an _exit our hooks never
	 * see (glibc's daemon() calls its internal one), and the child must not inherit a backlog.
	 */
	if (__atomic_load_n(&W.state, __ATOMIC_ACQUIRE) == W_RUNNING) {
		int saved = errno;
		drain_locked(1);
		errno = saved;
	}
}

void cc_writer_atfork_parent(void)
{
	pthread_mutex_unlock(&W.drain_lock);
	pthread_mutex_unlock(&W.start_lock);
}

void cc_writer_atfork_child(void)
{
	/*
	 * The child has no writer thread and a copy of the parent's unwritten records, which the
	 * parent writes itself: drop the copy, keep the shared fd and counters, start afresh on the
	 * child's first frame.
	 */
	pthread_mutex_init(&W.drain_lock, NULL);
	pthread_mutex_init(&W.start_lock, NULL);
	cc_ring_free(&W.ring);
	W.captured = W.dropped = W.bytes = W.filtered = 0;
	W.warned_drop = 0;
	W.thread_started = 0;
	W.inherited = __atomic_load_n(&W.fd, __ATOMIC_RELAXED) >= 0;
	pthread_mutex_init(&W.dsb_lock, NULL);
	if (__atomic_load_n(&W.state, __ATOMIC_RELAXED) == W_RUNNING)
		W.state = W_IDLE;
}

void cc_writer_set_comment(const char *comment)
{
	W.comment_len = comment ? (size_t)snprintf(W.comment, sizeof(W.comment), "%s", comment) : 0;
	if (W.comment_len >= sizeof(W.comment))
		W.comment_len = sizeof(W.comment) - 1;
}

void cc_writer_count_unmatched(uint64_t n)
{
	if (W.shared)
		count_shared(&W.shared->unmatched, n);
}

void cc_writer_count_filtered(void)
{
	__atomic_fetch_add(&W.filtered, 1, __ATOMIC_RELAXED);
	if (W.shared)
		count_shared(&W.shared->filtered, 1);
}

void cc_writer_count_relayed(void)
{
	if (W.shared)
		count_shared(&W.shared->relayed, 1);
}

void cc_writer_count_srtp_failure(void)
{
	if (W.shared)
		count_shared(&W.shared->srtp_failed, 1);
}

void cc_writer_count_plain(unsigned method)
{
	if (W.shared && method < 5)
		count_shared(&W.shared->plain[method], 1);
}

void cc_writer_stats(struct cc_writer_stats *st)
{
	st->captured = __atomic_load_n(&W.captured, __ATOMIC_RELAXED);
	st->dropped = __atomic_load_n(&W.dropped, __ATOMIC_RELAXED);
	st->bytes = __atomic_load_n(&W.bytes, __ATOMIC_RELAXED);
	st->filtered = __atomic_load_n(&W.filtered, __ATOMIC_RELAXED);
}
