/*
 * Process- and descriptor-level hooks: close and its bulk forms, dup, exec and _exit.
 *
 * They keep the fd table true (a closed number is forgotten), keep the capture file's descriptor
 * alive through programs that close every fd or dup2 over it, and flush what is buffered before
 * the process image goes away.
 */
#include "shim/capture.h"
#include "shim/hooks.h"
#include "shim/real.h"
#include "pcapout/writer.h"
#include "shim/control.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#define REAL(name) do { if (__builtin_expect(!cc_real.name, 0)) cc_real_init(); } while (0)

CC_EXPORT int close(int fd)
{
	REAL(close);
	if (__atomic_load_n(&cc_on, __ATOMIC_RELAXED)) {
		int wfd = cc_writer_fd();
		if (fd >= 0 && (fd == wfd || fd == cc_keylog_fd())) {
			/* Not the program's descriptor: to the program it is not open at all. */
			errno = EBADF;
			return -1;
		}
		struct cc_fd *e = cc_fd_peek(fd);
		if (e && fd_kind(e) == FDK_TCP && !cc_guard) {
			int saved = errno;
			/* A socket shared with another process (fork) stays open there: no FIN from us. */
			if (e->fork_gen == cc_fork_gen)
				cc_tcp_fin(fd, e, 1);
			errno = saved;
		}
		cc_fd_reset(fd);
	}
	return cc_real.close(fd);
}

CC_EXPORT int close_range(unsigned lo, unsigned hi, int flags)
{
	REAL(close_range);
	int wfd = __atomic_load_n(&cc_on, __ATOMIC_RELAXED) ? cc_writer_fd() : -1;

	if (!(flags & CLOSE_RANGE_CLOEXEC)) {
		if (wfd >= 0)
			cc_fd_reset_range(lo, hi);
		if (wfd >= 0 && (unsigned)wfd >= lo && (unsigned)wfd <= hi) {
			/* Close around our descriptor, as two calls. */
			int r = 0;
			if ((unsigned)wfd > lo)
				r = cc_real.close_range(lo, (unsigned)wfd - 1, flags);
			if (r == 0 && (unsigned)wfd < hi)
				r = cc_real.close_range((unsigned)wfd + 1, hi, flags & ~CLOSE_RANGE_UNSHARE);
			return r;
		}
	}
	return cc_real.close_range(lo, hi, flags);
}

CC_EXPORT void closefrom(int lo)
{
	REAL(closefrom);
	int wfd = __atomic_load_n(&cc_on, __ATOMIC_RELAXED) ? cc_writer_fd() : -1;

	if (wfd >= 0 && lo >= 0) {
		cc_fd_reset_range((unsigned)lo, ~0u);
		if (wfd >= lo) {
			if (wfd > lo)
				cc_real.close_range((unsigned)lo, (unsigned)wfd - 1, 0);
			cc_real.closefrom(wfd + 1);
			return;
		}
	}
	cc_real.closefrom(lo);
}

CC_EXPORT int dup(int fd)
{
	REAL(dup);
	int r = cc_real.dup(fd);
	if (r >= 0 && __atomic_load_n(&cc_on, __ATOMIC_RELAXED))
		cc_fd_reset(r);
	return r;
}

/* The program wants descriptor number `fd`: if it is ours, move ours out of the way first. */
static void make_room(int fd)
{
	if (__atomic_load_n(&cc_on, __ATOMIC_RELAXED) && fd >= 0 && fd == cc_writer_fd())
		cc_writer_move_fd();
}

CC_EXPORT int dup2(int oldfd, int newfd)
{
	REAL(dup2);
	make_room(newfd);
	if (oldfd >= 0 && oldfd == cc_writer_fd() && __atomic_load_n(&cc_on, __ATOMIC_RELAXED)) {
		errno = EBADF;
		return -1;
	}
	int r = cc_real.dup2(oldfd, newfd);
	if (r >= 0 && oldfd != newfd && __atomic_load_n(&cc_on, __ATOMIC_RELAXED))
		cc_fd_reset(newfd);
	return r;
}

CC_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	REAL(dup3);
	make_room(newfd);
	int r = cc_real.dup3(oldfd, newfd, flags);
	if (r >= 0 && __atomic_load_n(&cc_on, __ATOMIC_RELAXED))
		cc_fd_reset(newfd);
	return r;
}

/*
 * Before the image is replaced, everything buffered goes to the file.  A vfork child shares our
 * memory and our writer with its suspended parent: it must do nothing at all, and it is told
 * apart by its pid (fork handlers, which refresh cc_pid, do not run for vfork).
 */
static void before_exec(void)
{
	if (__atomic_load_n(&cc_on, __ATOMIC_RELAXED) && (uint32_t)getpid() == cc_pid)
		cc_writer_flush();
}

CC_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	REAL(execve);
	before_exec();
	return cc_real.execve(path, argv, envp);
}

CC_EXPORT int execv(const char *path, char *const argv[])
{
	REAL(execv);
	before_exec();
	return cc_real.execv(path, argv);
}

CC_EXPORT int execvp(const char *file, char *const argv[])
{
	REAL(execvp);
	before_exec();
	return cc_real.execvp(file, argv);
}

CC_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	REAL(execvpe);
	before_exec();
	return cc_real.execvpe(file, argv, envp);
}

CC_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	REAL(fexecve);
	before_exec();
	return cc_real.fexecve(fd, argv, envp);
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
	before_exec();
	if (__atomic_load_n(&cc_on, __ATOMIC_RELAXED) && (uint32_t)getpid() == cc_pid)
		cc_control_exit();
	cc_real._exit(status);
	__builtin_unreachable();
}

CC_EXPORT void _Exit(int status)
{
	REAL(_Exit);
	before_exec();
	if (__atomic_load_n(&cc_on, __ATOMIC_RELAXED) && (uint32_t)getpid() == cc_pid)
		cc_control_exit();
	cc_real._Exit(status);
	__builtin_unreachable();
}
