/*
 * syscall(3): some libraries make their socket calls through it rather than through the libc
 * wrappers, below every other hook.  libuv 1.44 (Debian 12's, under node and bind9's dig) closes
 * every descriptor with syscall(SYS_close), and sends and receives UDP batches with
 * syscall(SYS_sendmmsg) and syscall(SYS_recvmmsg).  Unseen, a close left the fd table naming a
 * socket under a number that the next open() reused, and that file's bytes were captured as the
 * connection's; the batches were not captured at all.
 *
 * The calls that matter go to their hooks, made as glibc's syscall() makes them: never a
 * cancellation point (cancellation is held off around a hook whose libc call is one).  Every
 * other number, every call while nothing is captured, and every call from the shim itself
 * (which makes its own system calls through syscall()) is the system call, unchanged.
 */
#include "shim/capture.h"
#include "shim/direct.h"
#include "shim/hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

/* The bounds of this library's own image: calls from inside it are the shim's own. */
extern const char __ehdr_start[] __attribute__((visibility("hidden")));
extern const char _end[] __attribute__((visibility("hidden")));

#if defined(__x86_64__)
static long raw(long nr, const long *a)
{
	register long r10 __asm__("r10") = a[3];
	register long r8 __asm__("r8") = a[4];
	register long r9 __asm__("r9") = a[5];
	long r;

	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "a"(nr), "D"(a[0]), "S"(a[1]), "d"(a[2]), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return cc_direct_ret(r);        /* glibc's convention: -1 and errno */
}
#else
#include <dlfcn.h>
static long raw(long nr, const long *a)
{
	static long (*libc)(long, ...);

	if (!libc)
		libc = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
	return libc(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
#endif

/* A hook whose libc call is a cancellation point, made where the program's call is none. */
#define NOCANCEL(call) ({ \
	int old_, err_; \
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old_); \
	long r_ = (long)(call); \
	err_ = errno; \
	pthread_setcancelstate(old_, NULL); \
	errno = err_; \
	r_; \
})

/*
 * The calls' own logic.  `from`: where the program called syscall() from (calls from inside this
 * library are the shim's own).
 */
long cc_syscall_hook(long nr, long a0, long a1, long a2, long a3, long a4, long a5, const char *from)
	__attribute__((visibility("hidden"), used));

#if defined(__x86_64__)
/*
 * The exported entry, in assembly: the sixth argument is on the caller's stack, and glibc's
 * syscall() reads it whatever the call takes.  In C that is a va_arg past what the caller passed
 * (undefined, and ASan stops the program there); here it is one load, as in glibc.  The hook gets
 * the six arguments and the caller's return address, on a stack aligned as the ABI wants.
 */
__asm__(".text\n"
	".globl syscall\n"
	".type syscall, @function\n"
	"syscall:\n"
	".cfi_startproc\n"
	"	subq $8, %rsp\n"
	".cfi_adjust_cfa_offset 8\n"
	"	pushq 8(%rsp)\n"             /* the caller's return address: the eighth argument */
	".cfi_adjust_cfa_offset 8\n"
	"	pushq 24(%rsp)\n"            /* the sixth system call argument: the seventh */
	".cfi_adjust_cfa_offset 8\n"
	"	call cc_syscall_hook\n"
	"	addq $24, %rsp\n"
	".cfi_adjust_cfa_offset -24\n"
	"	ret\n"
	".cfi_endproc\n"
	".size syscall, .-syscall\n");
/* (Its prototype, for the exports' check: tests/unit/check_layout.py.) */
CC_EXPORT long syscall(long nr, ...);
#else
CC_EXPORT long syscall(long nr, ...)
{
	va_list ap;
	long a[6];

	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	return cc_syscall_hook(nr, a[0], a[1], a[2], a[3], a[4], a[5], __builtin_return_address(0));
}
#endif

long cc_syscall_hook(long nr, long a0, long a1, long a2, long a3, long a4, long a5, const char *from)
{
	long a[6] = { a0, a1, a2, a3, a4, a5 };

	if (!__atomic_load_n(&cc_on, __ATOMIC_ACQUIRE) || (from >= __ehdr_start && from < _end))
		return raw(nr, a);
	switch (nr) {
	case SYS_close:
		return cc_close_nocancel((int)a[0]);
	case SYS_close_range:
		return close_range((unsigned)a[0], (unsigned)a[1], (int)a[2]);
	case SYS_dup:
		return dup((int)a[0]);
#ifdef SYS_dup2
	case SYS_dup2:
		return dup2((int)a[0], (int)a[1]);
#endif
	case SYS_dup3:
		return dup3((int)a[0], (int)a[1], (int)a[2]);
	case SYS_socket:
		return socket((int)a[0], (int)a[1], (int)a[2]);
	case SYS_shutdown:
		return shutdown((int)a[0], (int)a[1]);
	case SYS_connect:
		return NOCANCEL(connect((int)a[0], (const struct sockaddr *)a[1], (socklen_t)a[2]));
	case SYS_accept:
		return NOCANCEL(accept((int)a[0], (struct sockaddr *)a[1], (socklen_t *)a[2]));
	case SYS_accept4:
		return NOCANCEL(accept4((int)a[0], (struct sockaddr *)a[1], (socklen_t *)a[2], (int)a[3]));
	case SYS_sendto:
		return NOCANCEL(sendto((int)a[0], (const void *)a[1], (size_t)a[2], (int)a[3],
				       (const struct sockaddr *)a[4], (socklen_t)a[5]));
	case SYS_recvfrom:
		return NOCANCEL(recvfrom((int)a[0], (void *)a[1], (size_t)a[2], (int)a[3], (struct sockaddr *)a[4],
					 (socklen_t *)a[5]));
	case SYS_sendmsg:
		return NOCANCEL(sendmsg((int)a[0], (const struct msghdr *)a[1], (int)a[2]));
	case SYS_recvmsg:
		return NOCANCEL(recvmsg((int)a[0], (struct msghdr *)a[1], (int)a[2]));
	case SYS_sendmmsg:
		return NOCANCEL(sendmmsg((int)a[0], (struct mmsghdr *)a[1], (unsigned)a[2], (int)a[3]));
	case SYS_recvmmsg:
		return NOCANCEL(recvmmsg((int)a[0], (struct mmsghdr *)a[1], (unsigned)a[2], (int)a[3],
					 (struct timespec *)a[4]));
	case SYS_sendfile:
		return NOCANCEL(sendfile((int)a[0], (int)a[1], (off_t *)a[2], (size_t)a[3]));
	case SYS_splice:
		return NOCANCEL(splice((int)a[0], (loff_t *)a[1], (int)a[2], (loff_t *)a[3], (size_t)a[4],
				       (unsigned)a[5]));
	default:
		return raw(nr, a);
	}
}
