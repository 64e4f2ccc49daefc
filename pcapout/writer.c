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

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
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

enum wstate { W_IDLE, W_STARTING, W_RUNNING, W_BROKEN };

static struct {
	char path[PATH_MAX_];
	char counters_path[PATH_MAX_];
	char comment[COMMENT_MAX];
	size_t comment_len;
	enum cc_format fmt;
	size_t ring_size;
	int configured;

	int state;                      /* enum wstate, atomic */
	int fd;
	int sync;                       /* after exit: write each record at once */
	struct cc_ring ring;
	pthread_mutex_t drain_lock;
	pthread_mutex_t start_lock;
	struct cc_counters *shared;
	uint64_t captured, dropped, bytes;      /* this process; atomic */
	uint64_t filtered;                      /* declined by the filter; atomic */
	int warned_drop;
} W = {
	.fd = -1,
	.drain_lock = PTHREAD_MUTEX_INITIALIZER,
	.start_lock = PTHREAD_MUTEX_INITIALIZER,
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
	snprintf(W.counters_path, sizeof(W.counters_path), "%s", cfg->counters_path ? cfg->counters_path : "");
	W.comment_len = cfg->comment ? (size_t)snprintf(W.comment, sizeof(W.comment), "%s", cfg->comment) : 0;
	if (W.comment_len >= sizeof(W.comment))
		W.comment_len = sizeof(W.comment) - 1;
	W.fmt = cfg->format;
	W.ring_size = cfg->ring_size;
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

static void broken(const char *what, int err, uint64_t lost)
{
	int expected = W_RUNNING;

	if (__atomic_compare_exchange_n(&W.state, &expected, W_BROKEN, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		cc_warn("%s %s: %s; capture stopped, the program goes on (%llu packets lost so far)", what,
			W.path, strerror(err), (unsigned long long)lost);
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

static int old_enough(const uint8_t *rec, uint32_t len, void *arg)
{
	const struct hold *h = arg;
	uint64_t ts = cc_record_ts(h->fmt, rec);

	(void)len;
	/* A stamp far ahead means the clock was stepped back: never hold on to it. */
	return ts <= h->cutoff || ts > h->cutoff + HOLD_NS + 1000000000ull;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Drains published records to the file, metadata first; the caller holds drain_lock.  With
 * `all`, nothing is held back (exit, exec, fork).  Returns bytes written.
 */
static size_t drain_locked(int all)
{
	struct iovec iov[2 * DRAIN_IOV];
	struct cc_ring_batch b = { .meta = iov, .data = iov + DRAIN_IOV };
	struct hold h = { now_ns() - HOLD_NS, W.fmt };
	size_t written = 0;

	if (!W.ring.buf)
		return 0;
	for (;;) {
		uint64_t tail = __atomic_load_n(&W.ring.tail, __ATOMIC_RELAXED);
		int n = cc_ring_take(&W.ring, &b, DRAIN_IOV, all ? NULL : old_enough, &h);

		if (n == 0 && b.upto == tail)
			break;
		if (n > 0) {
			/* Metadata then packets, in one write: move the packets up behind the metadata. */
			if (b.nmeta < DRAIN_IOV)
				memmove(iov + b.nmeta, iov + DRAIN_IOV, sizeof(iov[0]) * (size_t)b.ndata);
			if (__atomic_load_n(&W.state, __ATOMIC_ACQUIRE) == W_RUNNING && write_all(__atomic_load_n(&W.fd, __ATOMIC_RELAXED), iov, n) == 0) {
				__atomic_fetch_add(&W.captured, b.packets, __ATOMIC_RELAXED);
				__atomic_fetch_add(&W.bytes, b.bytes, __ATOMIC_RELAXED);
				if (W.shared) {
					count_shared(&W.shared->captured, b.packets);
					count_shared(&W.shared->bytes, b.bytes);
				}
				written += b.bytes;
			} else {
				int err = errno;
				__atomic_fetch_add(&W.dropped, b.packets, __ATOMIC_RELAXED);
				if (W.shared) {
					count_shared(&W.shared->dropped, b.packets);
					count_shared(&W.shared->write_errors, 1);
				}
				broken("cannot write", err, __atomic_load_n(&W.dropped, __ATOMIC_RELAXED));
			}
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
	for (;;) {
		size_t n;

		pthread_mutex_lock(&W.drain_lock);
		n = drain_locked(0);
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

static int open_output(void)
{
	uint8_t hdr[CC_HEADER_MAX];
	size_t hlen = cc_format_header(W.fmt, hdr);
	struct stat st;
	int fd;

	/* O_NOFOLLOW: a symlink planted at the path is refused, not followed. */
	fd = open(W.path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
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
	} else if (!header_matches(fd, hdr, hlen)) {
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
	if (st != W_IDLE) {
		pthread_mutex_unlock(&W.start_lock);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return st == W_RUNNING ? 0 : -1;
	}
	if (!W.configured)
		goto fail;
	if (__atomic_load_n(&W.fd, __ATOMIC_RELAXED) < 0) {
		int fd = open_output();
		if (fd < 0)
			goto fail;
		__atomic_store_n(&W.fd, fd, __ATOMIC_RELEASE);
	}
	if (!W.ring.buf && cc_ring_init(&W.ring, W.ring_size) < 0) {
		cc_warn("cannot allocate a %zu-byte capture buffer; not capturing", W.ring_size);
		goto fail;
	}
	map_counters();
	if (start_thread() != 0) {
		cc_warn("cannot start the writer thread; not capturing");
		goto fail;
	}
	count_shared(W.shared ? &W.shared->processes : NULL, 1);
	__atomic_store_n(&W.state, W_RUNNING, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&W.start_lock);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 0;
fail:
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

/* Reserves room, waiting for the writer when the ring is full (overload only: never in steady state). */
static int reserve(size_t len, struct cc_slot *s)
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

int cc_out_frame(const struct cc_frame *f, uint64_t ts_ns, const struct iovec *iov, int iovcnt,
		 size_t skip, size_t caplen, size_t origlen)
{
	int st = __atomic_load_n(&W.state, __ATOMIC_ACQUIRE);
	size_t hl, frame_cap, rlen;
	struct cc_slot slot;

	if (st != W_RUNNING) {
		if (st == W_BROKEN || start() < 0) {
			/* After a write error: lost, counted, already reported by broken(). */
			if (st == W_BROKEN && __atomic_load_n(&W.fd, __ATOMIC_RELAXED) >= 0)
				drop(1, 0);
			return -1;
		}
	}
	hl = cc_frame_hdr_len(f);
	if (caplen > CC_SNAPLEN - hl)
		caplen = CC_SNAPLEN - hl;
	frame_cap = hl + caplen;

	/* The per-process comment, and what this frame adds to it (how its flow was found, ...). */
	char note_buf[COMMENT_MAX + 288];     /* room for an SRTP key line */
	const char *comment = W.comment;
	size_t comment_len = W.comment_len;
	if (f->note && W.fmt == CC_FMT_PCAPNG) {
		/* Per packet: plain copies, not snprintf (which was a fifth of the plaintext cost). */
		size_t nl = strlen(f->note);
		if (nl > sizeof(note_buf) - W.comment_len - 2)
			nl = sizeof(note_buf) - W.comment_len - 2;
		memcpy(note_buf, W.comment, W.comment_len);
		note_buf[W.comment_len] = ';';
		note_buf[W.comment_len + 1] = ' ';
		memcpy(note_buf + W.comment_len + 2, f->note, nl);
		comment = note_buf;
		comment_len = W.comment_len + 2 + nl;
	}
	rlen = cc_record_len(W.fmt, frame_cap, comment_len);
	if (reserve(rlen, &slot) < 0) {
		drop(1, 1);
		return -1;
	}
	uint8_t *frame = slot.data + cc_record_frame_off(W.fmt);
	cc_frame_build(frame, f, iov, iovcnt, skip, caplen, origlen);
	/* The filter sees the frame as tcpdump would; a declined one costs no write. */
	if (__builtin_expect(cc_filter_active(), 0) && !cc_filter_match(frame, frame_cap, hl + origlen)) {
		cc_ring_commit_skip(&slot);
		__atomic_fetch_add(&W.filtered, 1, __ATOMIC_RELAXED);
		if (W.shared)
			count_shared(&W.shared->filtered, 1);
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
	if (__atomic_load_n(&W.state, __ATOMIC_ACQUIRE) != W_RUNNING && start() < 0)
		return -1;
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
	pthread_mutex_unlock(&W.drain_lock);
	errno = saved;
}

void cc_writer_exit(void)
{
	cc_writer_flush();
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
