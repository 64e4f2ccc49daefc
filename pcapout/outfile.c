/*
 * The output file of one process: a regular file, a FIFO, or the wrapper's pipe.  Opening it
 * (never through a planted symlink, appending only to a capture of the same kind), the append
 * protocol across the processes that share it (O_APPEND, a flock per batch, a record cut short
 * by a killed writer cut off, never one still being written), a forked child's own file
 * description, rotation (-C, -G, -W) and
 * `clearcap ctl reopen`.
 */
#include "pcapout/output.h"
#include "pcapout/lock.h"
#include "pcapout/writer_int.h"
#include "pcapout/single.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/*
 * Writes iov fully.  Signals that a write can raise (SIGPIPE from a vanished FIFO reader, SIGXFSZ
 * past RLIMIT_FSIZE) are blocked around it and, if they became pending only because of us,
 * consumed, so the program never sees them.  The writer thread has them blocked already.
 */
int cc_wf_write_all(int fd, struct iovec *iov, int n)
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

/*
 * fstat by system call, as the writes and locks here are: the program's own close of any fd
 * number goes through libc (and ThreadSanitizer's model of descriptors), never meeting ours.
 */
static int raw_fstat(int fd, struct stat *st)
{
#ifdef SYS_fstat
	return (int)syscall(SYS_fstat, fd, st);
#else
	return (int)syscall(SYS_newfstatat, fd, "", st, AT_EMPTY_PATH);
#endif
}

/*
 * The repair lock: a POSIX record lock on the file's first byte.  The batch lock (flock) belongs
 * to an open file description, so it does not keep apart two processes that share one -- a forked
 * child that could not open its own (chrooted away from /proc), or a writer that gave up waiting
 * for a stranger's flock.  Such a writer holds this lock, which belongs to a process, for the
 * length of its writev; a repair takes it without waiting and cuts nothing when it cannot, so a
 * record still being written is never taken for one a killed writer left.
 */
static int repair_lock(int fd, int cmd)
{
	struct flock fl = { .l_type = cmd == F_UNLCK ? F_UNLCK : F_WRLCK, .l_whence = SEEK_SET,
			    .l_start = 0, .l_len = 1 };

	if (cmd == F_UNLCK)
		cmd = F_SETLK;
	long r;
	while ((r = syscall(SYS_fcntl, fd, cmd, &fl)) < 0 && errno == EINTR)
		;
	return (int)r;
}

/*
 * Tells the command, through the counters page, where this process's records in a file begin,
 * so that its summary names and its statistics read every file of the run: the file a reopen
 * switched to, or one whose record cut short was cut off (the run's records then begin at the
 * cut, before the file's end as the command saw it when the run began).
 */
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

/* The last block before size is whole, and after from. */
static int tail_whole(int fd, off_t size, off_t from)
{
	uint32_t last, len;

	return pread(fd, &last, 4, size - 4) == 4 && last <= size - from && block_whole(fd, size - last, size, &len);
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
	struct stat st;
	uint32_t len;
	off_t off = from, cut = size;

	/* Without a boundary known to be good (from < 0) nothing is cut. */
	if (W.fmt != CC_FMT_PCAPNG || from < 0 || size <= from || tail_whole(fd, size, from))
		return size;
	/* A writer still in its writev (one without the flock) holds the repair lock: not cut. */
	if (repair_lock(fd, F_SETLK) < 0)
		return size;
	/* That writer may have finished while we looked: look again at what it left. */
	if (raw_fstat(fd, &st) == 0)
		size = cut = st.st_size;
	if (size > from && !tail_whole(fd, size, from)) {
		while (block_whole(fd, off, size, &len))
			off += len;
		if (off != size && syscall(SYS_ftruncate, fd, off) == 0)
			cut = off;
	}
	repair_lock(fd, F_UNLCK);
	if (cut != size) {
		cc_warn("%s: removed %lld bytes of a record cut short by a killed writer", W.path, (long long)(size - cut));
		note_file(W.path, cut);
	}
	return cut;
}

/*
 * Takes the file's lock for one batch (flock), or the repair lock, bounded: a stranger holding
 * it must not stall us.
 */
static int lock_bounded(int fd, int repair)
{
	for (int tries = 0; (repair ? repair_lock(fd, F_SETLK) : syscall(SYS_flock, fd, LOCK_EX | LOCK_NB)) < 0;
	     tries++) {
		if ((errno != EWOULDBLOCK && errno != EAGAIN && errno != EACCES && errno != EINTR) || tries >= 4000)
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
int cc_wf_write_fd(int fd, struct iovec *iov, int n)
{
	int rc;

	if (!W.pipe) {
		struct stat st;
		size_t total = 0;
		/* A stranger that held the lock for 2 s once is not waited for again on this file. */
		int locked = !W.lock_given_up && lock_bounded(fd, 0) == 0;

		if (!locked)
			W.lock_given_up = 1;

		for (int i = 0; i < n; i++)
			total += iov[i].iov_len;
		/* Where this batch lands, from the size under the lock: never from a stale guess. */
		off_t at = -1;
		if (locked && raw_fstat(fd, &st) == 0)
			at = st.st_size != W.end ? repair_tail(fd, st.st_size, W.end) : st.st_size;
		/* Unlocked, the repair lock says a write is under way (bounded: a stranger may hold it). */
		int held = !locked && !W.rlock_given_up && lock_bounded(fd, 1) == 0;
		if (!locked && !held)
			W.rlock_given_up = 1;
		rc = cc_wf_write_all(fd, iov, n);
		int saved = errno;
		W.end = at >= 0 && rc == 0 ? at + (off_t)total : -1;
		if (held)
			repair_lock(fd, F_UNLCK);
		if (locked)
			syscall(SYS_flock, fd, LOCK_UN);
		errno = saved;
		return rc;
	}
	while (syscall(SYS_flock, fd, LOCK_EX) < 0 && errno == EINTR)
		;
	rc = cc_wf_write_all(fd, iov, n);
	int saved = errno;
	syscall(SYS_flock, fd, LOCK_UN);
	errno = saved;
	return rc;
}

int cc_wf_write(struct iovec *iov, int n)
{
	return cc_wf_write_fd(__atomic_load_n(&W.fd, __ATOMIC_RELAXED), iov, n);
}

/* Validates an existing file's header against ours: append only to a capture of the same kind. */
static int header_matches(int fd, const uint8_t *hdr, size_t len)
{
	uint8_t buf[CC_HEADER_MAX];
	ssize_t r = pread(fd, buf, len, 0);

	return r == (ssize_t)len && memcmp(buf, hdr, len) == 0;
}

/* The last numbers of ours given up to the program (writer.h: cc_dup_given). */
#define GIVEN_MAX 8
static int given[GIVEN_MAX] = { -1, -1, -1, -1, -1, -1, -1, -1 };
static unsigned ngiven;

void cc_dup_given(int fd)
{
	__atomic_store_n(&given[__atomic_fetch_add(&ngiven, 1, __ATOMIC_RELAXED) % GIVEN_MAX], fd, __ATOMIC_RELEASE);
}

/*
 * A copy of fd high up, out of the range programs dup2 over and loop-close: 24 below the soft
 * descriptor limit (at most 4096), close-on-exec; -1 if none.  The shim's key logs go there too.
 */
int cc_dup_high(int fd)
{
	struct rlimit rl;
	long base = 1000, from;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		long top = rl.rlim_cur > 4096 ? 4096 : (long)rl.rlim_cur;
		base = top - 24;
	}
	if (base < 3)
		return -1;
	/* Above every number given to the program up there (never holding one even for a moment). */
	from = base;
	for (int i = 0; i < GIVEN_MAX; i++) {
		int g = __atomic_load_n(&given[i], __ATOMIC_ACQUIRE);
		if (g >= from)
			from = g + 1;
	}
	long nfd = syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, from);
	if (nfd < 0 && from != base)
		nfd = syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, base);
	return (int)nfd;
}

/* Moves fd up (cc_dup_high), or leaves it where it is. */
static int move_high(int fd)
{
	int nfd = cc_dup_high(fd);

	if (nfd < 0)
		return fd;
	syscall(SYS_close, fd);
	return nfd;
}

/*
 * A forked child shares its parent's open file description, and flock() locks descriptions:
 * both would hold the batch lock at once, and one's tail repair could cut the other's write in
 * half.  So the child writes through a description of its own, reopened through /proc/self/fd
 * (which reaches a deleted file and a pipe too), before its first batch.  Without /proc (a
 * chroot) it keeps the shared one, takes no flock on a file, so it never repairs, and holds the
 * repair lock around each write, so that no one else's repair cuts its record in half.
 */
void cc_wf_own_description(void)
{
	/*
	 * Under drain_lock, as every move of W.fd (a program's dup2 onto it, file_move_fd): one
	 * between the look at the number and its close would have us close the program's.
	 */
	cc_lock(&W.drain_lock);
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
	} else {
		__atomic_store_n(&W.fd, move_high(nfd), __ATOMIC_RELEASE);
		syscall(SYS_close, fd);
	}
	cc_unlock(&W.drain_lock);
}

/*
 * Why the file could not be opened: said on stderr as CLEARCAP_FILE's problem, except for a
 * `clearcap ctl reopen`, whose command says it to the user who asked (the process goes on
 * writing its old file, so "not capturing" would be false), from open_err.
 */
static int found_done;           /* a -W rotation found done: capture stopped as asked, no failure */

int cc_wf_rotation_done(void)
{
	return found_done;
}

static int reopening, open_err;

__attribute__((format(printf, 2, 3)))
static void open_fail(int code, const char *fmt, ...)
{
	char why[PATH_MAX_ + 128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	open_err = code;
	if (!reopening)
		cc_warn("CLEARCAP_FILE: %s; not capturing", why);
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
			open_fail(CC_CTL_RC_NO_READER, "nobody reads the FIFO %s", W.path);
		else
			open_fail(errno, "cannot open %s: %s", W.path, cc_strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode) ||
	    syscall(SYS_fcntl, fd, F_SETFL, O_WRONLY) < 0) {
		open_fail(CC_CTL_RC_NOT_FIFO, "%s is not a FIFO", W.path);
		syscall(SYS_close, fd);
		return -1;
	}
	W.pipe = 1;
	if (!W.pipe_header_done) {
		struct iovec v = { hdr, hlen };
		syscall(SYS_flock, fd, LOCK_EX);
		int rc = cc_wf_write_all(fd, &v, 1);
		syscall(SYS_flock, fd, LOCK_UN);
		if (rc < 0) {
			open_fail(errno, "cannot write %s: %s", W.path, cc_strerror(errno));
			syscall(SYS_close, fd);
			return -1;
		}
	}
	return move_high(fd);
}

int cc_wf_open(void)
{
	uint8_t hdr[CC_HEADER_MAX];
	size_t hlen = cc_format_header(W.fmt, hdr);
	struct stat st;
	int fd;

	if (stat(W.path, &st) == 0 && S_ISFIFO(st.st_mode))
		return open_fifo();
	W.pipe = 0;
	W.lock_given_up = 0;
	W.rlock_given_up = 0;

	/* O_NOFOLLOW: a symlink planted at the path is refused, not followed. */
	fd = open(W.path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY |
		  (strncmp(W.path, "/proc/", 6) != 0 ? O_NOFOLLOW : 0), 0600);
	if (fd < 0) {
		open_fail(errno, "cannot open %s: %s", W.path, cc_strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		open_fail(CC_CTL_RC_NOT_REGULAR, "%s is not a regular file", W.path);
		syscall(SYS_close, fd);
		return -1;
	}
	/*
	 * The lock makes "empty, so write the header" one step across processes starting together.
	 * Bounded: a stranger holding a lock on the file must not stall the program.
	 */
	for (int tries = 0; flock(fd, LOCK_EX | LOCK_NB) < 0; tries++) {
		if (errno != EWOULDBLOCK || tries >= 400) {
			open_fail(CC_CTL_RC_LOCKED, "%s stays locked by another process", W.path);
			syscall(SYS_close, fd);
			return -1;
		}
		struct timespec ts = { 0, 5000000 };
		nanosleep(&ts, NULL);
	}
	if (fstat(fd, &st) == 0 && st.st_size == 0) {
		struct iovec v = { hdr, hlen };
		if (cc_wf_write_all(fd, &v, 1) < 0) {
			open_fail(errno, "cannot write %s: %s", W.path, cc_strerror(errno));
			flock(fd, LOCK_UN);
			syscall(SYS_close, fd);
			return -1;
		}
		W.end = (off_t)hlen;
	} else if (header_matches(fd, hdr, hlen)) {
		W.end = repair_tail(fd, st.st_size, (off_t)hlen);
	} else {
		open_fail(CC_CTL_RC_NOT_CAPTURE, "%s exists and is not a clearcap %s capture", W.path,
			  W.fmt == CC_FMT_PCAP ? "pcap" : "pcapng");
		flock(fd, LOCK_UN);
		syscall(SYS_close, fd);
		return -1;
	}
	flock(fd, LOCK_UN);
	return move_high(fd);
}

int cc_wf_reopen_pending(void)
{
	return W.ctl && __atomic_load_n(&W.ctl->req_seq, __ATOMIC_ACQUIRE) != __atomic_load_n(&W.ctl->ack_seq, __ATOMIC_RELAXED);
}

static void ack(uint64_t seq, int rc)
{
	__atomic_store_n(&W.ctl->ack_rc, rc, __ATOMIC_RELAXED);
	__atomic_store_n(&W.ctl->ack_seq, seq, __ATOMIC_RELEASE);
}

/* Adopts a requested file name before the writer runs (start()); returns whether there was one. */
int cc_wf_take_request(void)
{
	if (!cc_wf_reopen_pending())
		return 0;
	uint64_t seq = __atomic_load_n(&W.ctl->req_seq, __ATOMIC_ACQUIRE);
	snprintf(W.base, sizeof(W.base), "%s", W.ctl->req_path);
	snprintf(W.path, sizeof(W.path), "%s", W.base);
	W.rs = NULL;
	/* Under drain_lock, as every move of W.fd (see cc_wf_own_description). */
	cc_lock(&W.drain_lock);
	int fd = __atomic_exchange_n(&W.fd, -1, __ATOMIC_ACQ_REL);
	if (fd >= 0)
		syscall(SYS_close, fd);
	cc_unlock(&W.drain_lock);
	W.ctl->reopened = 1;
	ack(seq, 0);
	return 1;
}

/* Makes fd the output (the old one is closed), secrets first; the caller holds drain_lock. */
static void switch_fd(int fd)
{
	cc_ws_emit(fd);
	int old = __atomic_exchange_n(&W.fd, fd, __ATOMIC_ACQ_REL);
	if (old >= 0 && old != fd)
		syscall(SYS_close, old);
	cc_wc_ctl_file(W.path);
	cc_wc_ctl_state(CC_CTL_RUNNING);
	cc_wq_state_set(W_RUNNING);
}

/* `clearcap ctl PID reopen FILE`, in the writer thread: everything so far to the old file. */
void cc_wf_do_reopen(uint64_t seq)
{
	char old_base[PATH_MAX_], old_path[PATH_MAX_];
	struct cc_rot_state *old_rs = W.rs;
	uint64_t old_gen = W.gen;
	int old_pipe = W.pipe;

	cc_w_drain_locked(1);
	memcpy(old_base, W.base, sizeof(old_base));
	memcpy(old_path, W.path, sizeof(old_path));
	snprintf(W.base, sizeof(W.base), "%s", W.ctl->req_path);
	snprintf(W.path, sizeof(W.path), "%s", W.base);
	W.rs = NULL;
	if (W.rot.size || W.rot.seconds) {
		W.rs = cc_rot_attach(W.base, &W.rot);
		if (W.rs) {
			cc_rot_current(W.rs, W.base, W.path, sizeof(W.path), &W.gen);
			cc_rot_join(W.rs, W.base);
		}
	}
	open_err = errno = 0;
	reopening = 1;
	int fd = (W.rs || !(W.rot.size || W.rot.seconds)) ? cc_wf_open() : -1;
	reopening = 0;
	if (fd < 0) {
		int err = open_err ? open_err : errno ? errno : EIO;
		memcpy(W.base, old_base, sizeof(old_base));
		memcpy(W.path, old_path, sizeof(old_path));
		W.rs = old_rs;
		W.gen = old_gen;
		W.pipe = old_pipe;
		ack(seq, err);
		return;
	}
	off_t from = W.end;     /* cc_wf_open's: the end of the file before our first record */
	switch_fd(fd);
	note_file(W.path, from);
	W.ctl->reopened = 1;
	ack(seq, 0);
}

/* With -G and -W the capture ends after the last file, as tcpdump exits. */
static void rotation_done(void)
{
	if (cc_wq_state_end(W_BROKEN)) {
		int fd = __atomic_exchange_n(&W.fd, -1, __ATOMIC_ACQ_REL);
		if (fd >= 0)
			syscall(SYS_close, fd);
		cc_wc_ctl_state(CC_CTL_IDLE);
		cc_warn("the %ld file%s of the rotation %s written; capture stopped", W.rot.files, W.rot.files == 1 ? "" : "s",
			W.rot.files == 1 ? "is" : "are");
	}
}

/*
 * Is the current file full (after a batch of `written` bytes) or, by_time, old enough?  The
 * size is the file's, through fstat, so that every process sharing it sees the same; whoever
 * gets there first starts the next file and the others follow the shared state (every call).  A
 * file may pass the size by the batches other processes write before they notice (30 ms at most).
 * By time it is asked before a batch is written, as tcpdump -G asks at each packet: the next file
 * starts when something comes to be written after the current one's time is up, so a program
 * that is idle starts no empty files (and spends none of -W's).  Returns 1 when the rotation is
 * done (-W's files written; by_time only): the caller writes its batch, then calls rotation_done().
 */
static int rotate_check(size_t written, int by_time)
{
	uint8_t hdr[CC_HEADER_MAX];
	char name[PATH_MAX_];
	uint64_t gen;

	if (__atomic_load_n(&W.rs->done, __ATOMIC_RELAXED)) {
		if (by_time)
			return 1;
		rotation_done();
		return 0;
	}
	if (__atomic_load_n(&W.rs->gen, __ATOMIC_ACQUIRE) == W.gen) {
		int due = by_time && W.rot.seconds && time(NULL) >= W.rs->start + W.rot.seconds;
		if (!due && W.rot.size && written) {
			struct stat st;
			due = fstat(__atomic_load_n(&W.fd, __ATOMIC_RELAXED), &st) == 0 && st.st_size >= W.rot.size;
		}
		if (!due)
			return 0;
		int r = cc_rot_advance(W.rs, W.base, &W.rot, W.gen, hdr, cc_format_header(W.fmt, hdr));
		if (r == 0) {
			if (by_time)
				return 1;
			rotation_done();
			return 0;
		}
		if (r < 0) {
			static int warned;
			if (!warned++)
				cc_warn("cannot start the next capture file after %s: %s; going on with it", W.path,
					cc_strerror(errno));
			return 0;
		}
	}
	cc_rot_current(W.rs, W.base, name, sizeof(name), &gen);
	char prev[PATH_MAX_];
	memcpy(prev, W.path, sizeof(prev));
	snprintf(W.path, sizeof(W.path), "%s", name);
	int fd = cc_wf_open();
	if (fd < 0) {
		memcpy(W.path, prev, sizeof(prev));
		W.gen = gen;    /* not again for this generation */
		return 0;
	}
	W.gen = gen;
	switch_fd(fd);
	return 0;
}

/* Read by every close() hook, written once at start: atomic, so no thread sees a torn value. */
static int file_fd(void)
{
	return __atomic_load_n(&W.fd, __ATOMIC_ACQUIRE);
}

/*
 * Under drain_lock, which every write to the output holds: no batch can be on its way to the old
 * number when the program takes it over.
 */
static int file_move_fd(void)
{
	long nfd;
	int rc = 0;

	cc_lock(&W.drain_lock);
	int fd = __atomic_load_n(&W.fd, __ATOMIC_ACQUIRE);
	if (fd >= 0) {
		/* Up where ours are kept, above the number the program takes; else any free one. */
		nfd = cc_dup_high(fd);
		if (nfd < 0)
			nfd = syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, fd + 1);
		if (nfd < 0)
			nfd = syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 3);
		if (nfd < 0) {
			/*
			 * Not one number left (the program took them all): the number becomes the
			 * program's, so nothing of ours may be written there any more.  What is
			 * buffered goes out first.
			 */
			if (__atomic_load_n(&cc_wq.state, __ATOMIC_ACQUIRE) == W_RUNNING)
				cc_w_drain_locked(1);
			__atomic_store_n(&W.fd, -1, __ATOMIC_RELEASE);
			if (cc_wq_state_end(W_BROKEN)) {
				cc_wc_ctl_state(CC_CTL_BROKEN);
				cc_warn("no descriptor left to keep %s from the program's dup2; capture stopped, "
					"the program goes on", W.path);
			}
			rc = -1;
		} else {
			__atomic_store_n(&W.fd, (int)nfd, __ATOMIC_RELEASE);
			syscall(SYS_close, fd);
		}
	}
	cc_unlock(&W.drain_lock);
	return rc;
}

/* Always, except with CLEARCAP_HEP alone (no file at all: not even a paused CLEARCAP_CTL=1). */
static int file_wanted(void)
{
	return W.base[0] != 0 || !W.hep.on;
}

/*
 * At the process's first frame: the rotation's current file, then this process's descriptor
 * (opened, or a forked child's own description of its parent's), then the secrets so far at
 * its top.  start() holds start_lock.
 */
static int file_open(void)
{
	found_done = 0;
	if (W.rot.size || W.rot.seconds) {
		if (!W.rs && !(W.rs = cc_rot_attach(W.base, &W.rot))) {
			cc_warn("CLEARCAP_FILE: cannot keep rotation state for %s: %s; not capturing", W.base, cc_strerror(errno));
			return -1;
		}
		cc_rot_current(W.rs, W.base, W.path, sizeof(W.path), &W.gen);
		/*
		 * By time: a process starting after the current file's time is up starts the next one
		 * (the others' next batch follows), rather than write into a file older than -G.
		 */
		if (W.rot.seconds && !__atomic_load_n(&W.rs->done, __ATOMIC_RELAXED) &&
		    time(NULL) >= W.rs->start + W.rot.seconds) {
			uint8_t hdr[CC_HEADER_MAX];
			if (cc_rot_advance(W.rs, W.base, &W.rot, W.gen, hdr, cc_format_header(W.fmt, hdr)) != 0)
				cc_rot_current(W.rs, W.base, W.path, sizeof(W.path), &W.gen);
		}
		if (__atomic_load_n(&W.rs->done, __ATOMIC_RELAXED)) {
			/* cc_rot_attach started a new rotation if none of the old one's processes ran. */
			char state[PATH_MAX_ + 64];
			uint32_t pid = cc_rot_member_alive(W.rs);
			const char *s_ = W.rot.files == 1 ? "" : "s", *are = W.rot.files == 1 ? "is" : "are";
			if (cc_rot_state_path(state, sizeof(state), W.base) < 0)
				snprintf(state, sizeof(state), "its state file");
			/* What to do about it, by who holds the rotation. */
			char runs[64] = "";
			const char *why = "to start a new rotation, remove";
			if (pid == (uint32_t)getpid()) {
				why = "this process wrote to it before its exec; to start a new rotation now, remove";
			} else if (pid != 0) {
				snprintf(runs, sizeof(runs), " and process %u of that capture still runs", pid);
				why = "a process started after it has ended starts a new rotation; to start one now, "
				      "remove";
			}
			/* Each new process of the run finds it so: the run's first says it (a shell
			 * loop's 40 senders said it 40 times). */
			found_done = 1;
			if (cc_wc_tell_once(CC_TOLD_ROTATION_DONE))
				cc_warn("the %ld file%s of the rotation of %s %s written%s; not capturing (%s %s)",
					W.rot.files, s_, W.base, are, runs, why, state);
			return -1;
		}
		/* Only now: a process that finds the rotation done is not one of its writers. */
		cc_rot_join(W.rs, W.base);
	}
	if (__atomic_load_n(&W.fd, __ATOMIC_RELAXED) < 0) {
		int fd = cc_wf_open();
		if (fd < 0)
			return -1;
		__atomic_store_n(&W.fd, fd, __ATOMIC_RELEASE);
	} else if (W.inherited) {
		cc_wf_own_description();
	}
	if (W.dsb_len) {
		/* The writer thread may run already (a reopen after a failed start): one writer at a time. */
		cc_lock(&W.drain_lock);
		cc_ws_emit(__atomic_load_n(&W.fd, __ATOMIC_RELAXED));
		cc_unlock(&W.drain_lock);
	}
	cc_wc_ctl_file(W.path);
	return 0;
}

static int file_write(struct iovec *iov, int n, int packets, size_t bytes)
{
	int last = W.rs && W.rot.seconds && rotate_check(0, 1);

	(void)packets;
	if (cc_wf_write(iov, n) < 0)
		return -1;
	if (last)
		rotation_done();
	else if (W.rs && W.rot.size)
		rotate_check(bytes, 0);
	return 0;
}

static void file_poll(size_t written)
{
	if (cc_wf_reopen_pending())
		cc_wf_do_reopen(__atomic_load_n(&W.ctl->req_seq, __ATOMIC_ACQUIRE));
	/* By size and time it was checked at each batch already; here the others' rotations. */
	if (W.rs && __atomic_load_n(&cc_wq.state, __ATOMIC_ACQUIRE) == W_RUNNING)
		rotate_check(0, 0);
}

const struct cc_output cc_output_file = {
	.name = "file",
	.wanted = file_wanted,
	.open = file_open,
	.write = file_write,
	.poll = file_poll,
	.fd = file_fd,
	.move_fd = file_move_fd,
};
