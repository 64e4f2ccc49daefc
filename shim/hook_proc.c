/*
 * Process- and descriptor-level hooks: close and its bulk forms, fclose and fdopen, dup, exec and
 * _exit.
 *
 * They keep the fd table true (a closed number is forgotten), keep the capture file's descriptor
 * alive through programs that close every fd or dup2 over it, and flush what is buffered before
 * the process image goes away.
 */
#include "shim/capture.h"
#include "shim/hooks.h"
#include "shim/hook_socket.h"
#include "shim/real.h"
#include "pcapout/writer.h"
#include "shim/control.h"
#include "shim/impair.h"
#include "shim/ownfd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define REAL(name) do { if (__builtin_expect(!cc_real.name, 0)) cc_real_init(); } while (0)

static int capturing(void)
{
	return __atomic_load_n(&cc_on, __ATOMIC_RELAXED);
}

/* Whether fd is known to the fd table (closing or replacing it changes the table). */
static int known(int fd)
{
	struct cc_fd *e = cc_fd_peek(fd);

	return e && fd_kind(e) != FDK_UNKNOWN;
}

static int impairing(void)
{
	return __builtin_expect(cc_impair_out | cc_impair_in, 0);
}

/*
 * The program closes fd, or puts another descriptor in its place (dup2, close_range, ...): our
 * FIN for a TCP stream whose last descriptor this is.  Not for one another number or another
 * process still holds (dup, fork: counted in its share), nor, without a share (the pool used up),
 * for a socket made before the last fork (it may stay open in the child).  Before e is reset.
 * Keeps errno.
 */
static void last_close(int fd, struct cc_fd *e)
{
	if (!e || fd_kind(e) != FDK_TCP)
		return;
	int last = cc_fd_close_last(e);
	if (last < 0)
		last = fd_since_fork(e);
	if (last && (fd_flags(e) & FDF_CONNECTING))
		cc_tcp_settle(fd, e, 1);        /* closed before a byte moved: its handshake, or the SYN */
	if (last) {
		int saved = errno;
		cc_tcp_fin(fd, e, 1);
		errno = saved;
	}
}

/* Before the program's own close of fd (close, fclose): the table forgets it. */
static void closing(int fd)
{
	if ((known(fd) || (impairing() && fd >= 0)) && cc_own_memory()) {
		/* Delayed datagrams queued for this socket leave before it closes (impair.c). */
		if (impairing() && fd >= 0)
			cc_impair_closing((unsigned)fd, (unsigned)fd);
		last_close(fd, cc_fd_peek(fd));
		cc_fd_reset(fd);
	}
}

static int close_with(int fd, int nocancel)
{
	REAL(close);
	if (capturing()) {
		if (cc_ownfd_is(fd)) {
			/* Not the program's descriptor: to the program it is not open at all. */
			errno = EBADF;
			return -1;
		}
		closing(fd);
	}
	/* (The shim's own syscall() is the system call: shim/hook_syscall.c.) */
	return nocancel ? (int)syscall(SYS_close, fd) : cc_real.close(fd);
}

CC_EXPORT int close(int fd)
{
	return close_with(fd, 0);
}

int cc_close_nocancel(int fd)
{
	return close_with(fd, 1);
}

/*
 * A stream the program made over a socket with fdopen(): glibc's fclose closes the descriptor by
 * its own internal call, past close() above.  Without this the table would keep the socket under
 * a number the next open() reuses, and that file's bytes would be captured as the connection's.
 */
CC_EXPORT int fclose(FILE *f)
{
	REAL(fclose);
	if (f && capturing()) {
		int saved = errno, fd = fileno(f);
		errno = saved;
		if (fd >= 0 && !cc_ownfd_is(fd))
			closing(fd);
	}
	return cc_real.fclose(f);
}

/*
 * fdopen() over an IP socket: glibc's stdio then reads and writes it by internal calls, below
 * every hook, so what goes through that stream is not captured.  Said once per process, never
 * silently left out; the stream is made as without us.  Over one of our descriptors: EBADF, as
 * close() says (to the program it is not open).
 */
CC_EXPORT FILE *fdopen(int fd, const char *mode)
{
	REAL(fdopen);
	if (!capturing())
		return cc_real.fdopen(fd, mode);
	if (cc_ownfd_is(fd)) {
		errno = EBADF;
		return NULL;
	}
	FILE *f = cc_real.fdopen(fd, mode);
	static int said;
	if (f && !__atomic_load_n(&said, __ATOMIC_RELAXED) && cc_own_memory()) {
		int saved = errno;
		struct cc_fd *e = captured_on(fd);
		int kind = e ? fd_kind(e) : FDK_UNKNOWN;
		if ((kind == FDK_TCP || kind == FDK_UDP) && !__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
			cc_warn("fd %d, a %s socket, is read and written through stdio (fdopen): glibc's "
				"stdio calls the kernel below the shim, so what passes through that stream "
				"is not captured", fd, kind == FDK_TCP ? "TCP" : "UDP");
		errno = saved;
	}
	return f;
}

/*
 * Closes [lo, hi] around our own descriptors, as several calls; only the first carries
 * CLOSE_RANGE_UNSHARE (the table is unshared once).  Returns the first failure, else 0.
 */
static int close_around(unsigned lo, unsigned hi, int flags)
{
	int own[CC_OWNFD_MAX];
	int n = cc_ownfd_in_range(lo, hi, own), r = 0;
	unsigned from = lo;

	for (int i = 0; i <= n && r == 0; i++) {
		unsigned to = i < n ? (unsigned)own[i] - 1 : hi;
		if (i < n && (unsigned)own[i] == from) {
			from = (unsigned)own[i] + 1;
			continue;
		}
		if (i == n && from > hi)
			break;
		r = cc_real.close_range(from, to, flags);
		flags &= ~CLOSE_RANGE_UNSHARE;
		if (i < n)
			from = (unsigned)own[i] + 1;
	}
	return r;
}

CC_EXPORT int close_range(unsigned lo, unsigned hi, int flags)
{
	REAL(close_range);
	/*
	 * CLOSE_RANGE_CLOEXEC closes nothing, and ours are close-on-exec already; flags the kernel
	 * does not know, or lo above hi, fail with nothing closed.
	 */
	if (!capturing() || (flags & CLOSE_RANGE_CLOEXEC) || (flags & ~(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC)) ||
	    lo > hi)
		return cc_real.close_range(lo, hi, flags);
	int mine = cc_own_memory();
	if (mine && impairing())
		cc_impair_closing(lo, hi);
	/* (With none of ours in the range, close_around is the one call.) */
	int r = close_around(lo, hi, flags);
	if (r == 0 && mine)
		cc_fd_reset_range(lo, hi, last_close);
	return r;
}

CC_EXPORT void closefrom(int lo)
{
	REAL(closefrom);
	int own[CC_OWNFD_MAX];
	int mine = capturing() && lo >= 0 && cc_own_memory();

	if (mine && impairing())
		cc_impair_closing((unsigned)lo, ~0u);
	if (mine)
		cc_fd_reset_range((unsigned)lo, ~0u, last_close);
	if (!capturing() || lo < 0 || cc_ownfd_in_range((unsigned)lo, ~0u, own) == 0) {
		cc_real.closefrom(lo);
		return;
	}
	/* Up to the last of ours with close_range, then closefrom past it (it cannot fail). */
	int last = own[cc_ownfd_in_range((unsigned)lo, ~0u, own) - 1];
	if (last > lo)
		close_around((unsigned)lo, (unsigned)last - 1, 0);
	cc_real.closefrom(last + 1);
}

/*
 * After a successful dup of oldfd to newfd: the table's entry for newfd, if any, was another
 * descriptor's.  A UDP socket's receive options are the socket's, shared by every descriptor
 * of it: newfd's entry is made now and takes oldfd's (whose packet info is ours, whose the
 * program's), so that what the program enabled is never stripped on the copy.  A TCP socket's
 * entry is copied and its stream shared (fdtable.h: cc_tcpshare).  Not in a vfork child
 * (cc_own_memory).  Keeps errno.
 */
static void duped(int oldfd, int newfd)
{
	const unsigned opts = FDF_SOCK_OPTS;
	struct cc_fd *o = cc_fd_peek(oldfd);
	int kind = oldfd != newfd && o ? fd_kind(o) : FDK_UNKNOWN, udp = kind == FDK_UDP;

	if ((!udp && kind != FDK_TCP && !known(newfd)) || !cc_own_memory())
		return;
	int saved = errno;
	unsigned bits = udp ? fd_flags(o) & opts : 0;
	uint16_t gso = udp ? o->gso_size : 0;
	last_close(newfd, cc_fd_peek(newfd));        /* the socket there loses that number */
	cc_fd_reset(newfd);
	if (kind == FDK_TCP)
		cc_fd_dup_tcp(o, newfd);        /* one stream, whichever number moves its bytes */
	struct cc_fd *n = udp ? cc_classify(newfd) : NULL;
	if (n && fd_kind(n) == FDK_UDP) {
		__atomic_store_n(&cc_udp_duped, 1, __ATOMIC_RELAXED);
		__atomic_fetch_and(&n->flags, (uint16_t)~opts, __ATOMIC_RELAXED);
		__atomic_fetch_or(&n->flags, (uint16_t)bits, __ATOMIC_RELAXED);
		n->gso_size = gso;
		cc_fd_changed();
	}
	errno = saved;
}

CC_EXPORT int dup(int fd)
{
	REAL(dup);
	if (capturing() && cc_ownfd_is(fd)) {
		errno = EBADF;
		return -1;
	}
	int r = cc_real.dup(fd);
	if (r >= 0 && capturing())
		duped(fd, r);
	return r;
}

/*
 * Whether the kernel will take dup2(oldfd, newfd): oldfd open, newfd below the descriptor limit.
 * Asked only when the dup2 concerns us (newfd ours, or impairment on; two system calls): a
 * refused dup2 must not move ours (it went down into the program's low numbers) nor send
 * delayed datagrams early.  Keeps errno.
 */
static int dup_would_succeed(int oldfd, int newfd)
{
	int saved = errno;
	struct rlimit rl;
	int yes = syscall(SYS_fcntl, oldfd, F_GETFD) >= 0 &&
		  (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || (rlim_t)newfd < rl.rlim_cur);

	errno = saved;
	return yes;
}

/*
 * Before the program's dup2 or dup3 onto newfd: our descriptor with that number moves out of the
 * way, delayed datagrams for the socket there leave (not in a vfork child: the numbers of ours
 * and the queue are its parent's, and the call replaces only the child's copy).
 */
static void dup_onto(int oldfd, int newfd)
{
	int busy = cc_ownfd_is(newfd) || (impairing() && newfd >= 0 && oldfd != newfd);

	if (!busy || !cc_own_memory() || !dup_would_succeed(oldfd, newfd))
		return;
	int saved = errno;
	/* The program wants that number: if it is ours, ours moves out of the way first. */
	cc_ownfd_make_room(newfd);
	if (impairing() && newfd >= 0 && oldfd != newfd)
		cc_impair_closing((unsigned)newfd, (unsigned)newfd);
	errno = saved;
}

CC_EXPORT int dup2(int oldfd, int newfd)
{
	REAL(dup2);
	if (capturing()) {
		if (cc_ownfd_is(oldfd)) {
			errno = EBADF;
			return -1;
		}
		dup_onto(oldfd, newfd);
	}
	int r = cc_real.dup2(oldfd, newfd);
	if (r >= 0 && oldfd != newfd && capturing())
		duped(oldfd, newfd);
	return r;
}

CC_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	REAL(dup3);
	/* The kernel's EINVAL (the same number twice, an unknown flag) comes before its EBADF. */
	if (capturing() && oldfd != newfd && !(flags & ~O_CLOEXEC)) {
		if (cc_ownfd_is(oldfd)) {
			errno = EBADF;
			return -1;
		}
		dup_onto(oldfd, newfd);
	}
	int r = cc_real.dup3(oldfd, newfd, flags);
	if (r >= 0 && capturing())
		duped(oldfd, newfd);
	return r;
}

/*
 * fcntl's third argument is an int or a pointer by command; both travel in the same register
 * class on the ABIs glibc supports, so it is forwarded as a pointer-sized word (as
 * socket_wrapper does).  On our descriptors every command fails as on a closed one; a new
 * descriptor (F_DUPFD, F_DUPFD_CLOEXEC) starts with a clean table entry, and takes the lowest
 * number from the minimum up that the program does not use: one of ours there moves out of its
 * way, as for dup2.
 */
static int fcntl_common(int (*real)(int, int, ...), int fd, int cmd, void *arg)
{
	if (capturing() && cc_ownfd_is(fd)) {
		errno = EBADF;
		return -1;
	}
	int r = real(fd, cmd, arg);
	if (r < 0 || (cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC) || !capturing())
		return r;
	int saved = errno, own[CC_OWNFD_MAX];
	int min = (int)(intptr_t)arg;   /* an int argument: the word's upper half is not defined */
	/* The kernel passed over numbers of ours: the program would have had the first of them. */
	if (min >= 0 && min < r && cc_ownfd_in_range((unsigned)min, (unsigned)r - 1, own) > 0 && cc_own_memory()) {
		cc_ownfd_make_room(own[0]);
		int r2 = real(fd, cmd, (void *)(long)own[0]);
		if (r2 >= 0 && r2 != r) {
			syscall(SYS_close, r);
			r = r2;
		}
	}
	duped(fd, r);
	errno = saved;
	return r;
}

CC_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;

	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	REAL(fcntl);
	return fcntl_common(cc_real.fcntl, fd, cmd, arg);
}

CC_EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;

	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	REAL(fcntl64);
	return fcntl_common(cc_real.fcntl64 ? cc_real.fcntl64 : cc_real.fcntl, fd, cmd, arg);
}

/*
 * Before the image is replaced (exec) or the process ends (_exit), everything buffered goes to
 * the file; on _exit the descriptors stop counting in the TCP streams they share with forked
 * processes (fdtable.h; an exec keeps its counts).  A vfork child shares our memory and our
 * writer with its suspended parent: it must do nothing at all, and it is told apart by its pid
 * (fork handlers, which refresh cc_pid, do not run for vfork).
 */
static void before_exec(int exec)
{
	if (__atomic_load_n(&cc_on, __ATOMIC_RELAXED) && cc_own_memory() && !cc_exit_blocked()) {
		cc_impair_exit();       /* delayed datagrams go now: the new image has no sender thread */
		cc_writer_flush();
		cc_writer_stats_now();  /* (the exit handlers that write them do not run) */
		if (!exec)
			cc_fd_leaving();
	}
}

CC_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	REAL(execve);
	before_exec(1);
	return cc_real.execve(path, argv, envp);
}

CC_EXPORT int execv(const char *path, char *const argv[])
{
	REAL(execv);
	before_exec(1);
	return cc_real.execv(path, argv);
}

CC_EXPORT int execvp(const char *file, char *const argv[])
{
	REAL(execvp);
	before_exec(1);
	return cc_real.execvp(file, argv);
}

CC_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	REAL(execvpe);
	before_exec(1);
	return cc_real.execvpe(file, argv, envp);
}

CC_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	REAL(fexecve);
	before_exec(1);
	return cc_real.fexecve(fd, argv, envp);
}

CC_EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
	REAL(execveat);
	before_exec(1);
	if (!cc_real.execveat)          /* (a C library before 2.34: the system call, as it makes) */
		return (int)syscall(SYS_execveat, dirfd, path, argv, envp, flags);
	return cc_real.execveat(dirfd, path, argv, envp, flags);
}

/*
 * posix_spawn runs its file actions in the child, inside the C library, where no hook of ours
 * sees them.  A dup2 (or fchdir) from one of our numbers would hand the child our file (an
 * adddup2 of a number onto itself even keeps it across exec).  The number is not the program's:
 * without us the child's dup2 fails with EBADF and posix_spawn returns it.  So the child closes
 * ours first (its copy only), and the program's action then fails there as it would.
 */
static int spawn_close_first(void *fa, int fd)
{
	static int (*addclose)(void *, int);

	if (!capturing() || !cc_ownfd_is(fd))
		return 0;
	if (!addclose && !(addclose = cc_real_lookup("posix_spawn_file_actions_addclose")))
		return 0;
	return addclose(fa, fd);
}

CC_EXPORT int posix_spawn_file_actions_adddup2(void *fa, int fd, int newfd)
{
	static int (*real)(void *, int, int);

	if (!real && !(real = cc_real_lookup("posix_spawn_file_actions_adddup2")))
		return ENOSYS;
	int r = spawn_close_first(fa, fd);
	return r ? r : real(fa, fd, newfd);
}

CC_EXPORT int posix_spawn_file_actions_addfchdir_np(void *fa, int fd)
{
	static int (*real)(void *, int);

	if (!real && !(real = cc_real_lookup("posix_spawn_file_actions_addfchdir_np")))
		return ENOSYS;
	int r = spawn_close_first(fa, fd);
	return r ? r : real(fa, fd);
}

/* The execl family collects its arguments and continues as the matching vector call. */
#define COLLECT_ARGS(arg0, ap, argv)                                          \
	size_t n_ = 1;                                                        \
	va_start(ap, arg0);                                                   \
	while (va_arg(ap, char *))                                            \
		n_++;                                                         \
	va_end(ap);                                                           \
	char *argv[n_ + 1];                                                   \
	argv[0] = (char *)arg0;                                               \
	va_start(ap, arg0);                                                   \
	for (size_t i_ = 1; i_ <= n_; i_++)                                   \
		argv[i_] = va_arg(ap, char *);

CC_EXPORT int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	COLLECT_ARGS(arg, ap, argv);
	va_end(ap);
	return execv(path, argv);
}

CC_EXPORT int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	COLLECT_ARGS(arg, ap, argv);
	va_end(ap);
	return execvp(file, argv);
}

CC_EXPORT int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	COLLECT_ARGS(arg, ap, argv);
	char *const *envp = va_arg(ap, char *const *);
	va_end(ap);
	return execve(path, argv, envp);
}

CC_EXPORT void _exit(int status)
{
	REAL(_exit);
	before_exec(0);
	if (__atomic_load_n(&cc_on, __ATOMIC_RELAXED) && cc_own_memory())
		cc_control_exit();
	cc_real._exit(status);
	__builtin_unreachable();
}

CC_EXPORT void _Exit(int status)
{
	REAL(_Exit);
	before_exec(0);
	if (__atomic_load_n(&cc_on, __ATOMIC_RELAXED) && cc_own_memory())
		cc_control_exit();
	cc_real._Exit(status);
	__builtin_unreachable();
}
