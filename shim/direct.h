/*
 * Sending a datagram with the system call made here, as glibc itself makes it in a process with
 * one thread.
 *
 * Why: the shim's writer thread makes glibc believe the program has threads, and from then on
 * glibc wraps each cancellable system call (sendto, send, write, sendmsg) in the switches that let
 * pthread_cancel() interrupt it: about 50 instructions per call that the program, alone, would
 * never run.  A program with threads of its own pays them with or without us.
 *
 * What the program sees stays exactly what glibc gives: the same system call with the same
 * arguments, the same result, errno set the same way on failure.  The one thing the switches are
 * for, cancellation, is kept: direct calls are made only while no pthread_cancel() has been asked
 * for in this process (shim/threads.c interposes it and turns them off for good first).  A thread
 * already inside a direct send when another cancels it finishes that send and is cancelled at its
 * next cancellation point; only UDP sends are made directly, and those do not wait long.  (Our
 * capture after the send must then hold no cancellation point where a lock of ours is held: the
 * route lookup makes plain system calls, the writer's start disables cancellation.)
 *
 * Made only where the real functions are glibc's own (no other preloaded library between us and
 * libc, whose hook a direct call would skip), and only on x86-64 (not its x32 ABI), whose calling
 * convention is written below.
 */
#ifndef CC_DIRECT_H
#define CC_DIRECT_H

#include <errno.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <sys/types.h>

/* Nonzero while UDP sends may be made directly (set at start, cleared for good by pthread_cancel). */
extern int cc_direct;

/* Decides cc_direct once the real functions are bound (shim/real.c). */
void cc_direct_init(void);

static inline __attribute__((always_inline)) int cc_direct_ok(void)
{
	return __atomic_load_n(&cc_direct, __ATOMIC_RELAXED);
}

#if defined(__x86_64__) && !defined(__ILP32__)
/*
 * A send (sendto, write or sendmsg: n; the kernel's result, -errno on failure) with the hook's
 * own arguments in the registers they came in.  The 32-bit ones are passed as they are, as
 * glibc passes them, and the kernel reads them as the int they are declared as: a hook that
 * makes the call needs no copy of them and no frame (the hot lane, hook_send.c).
 */
static inline __attribute__((always_inline)) long cc_syscall_send(long n, int fd, const void *buf, size_t len, int flags,
								  const void *to, unsigned tolen)
{
	register int rdi __asm__("rdi") = fd;
	register const void *rsi __asm__("rsi") = buf;
	register size_t rdx __asm__("rdx") = len;
	register int r10 __asm__("r10") = flags;
	register const void *r8 __asm__("r8") = to;
	register unsigned r9 __asm__("r9") = tolen;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"(n), "r"(rdi), "r"(rsi), "r"(rdx), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}
#else
static inline __attribute__((always_inline)) long cc_syscall_send(long n, int fd, const void *buf, size_t len, int flags,
								  const void *to, unsigned tolen)
{
	(void)n, (void)fd, (void)buf, (void)len, (void)flags, (void)to, (void)tolen;
	return -ENOSYS;                 /* never reached: cc_direct stays 0 */
}
#endif

/* glibc's convention for the result: -1 and errno on failure. */
static inline __attribute__((always_inline)) ssize_t cc_direct_ret(long r)
{
	if (__builtin_expect((unsigned long)r > -4096UL, 0)) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

#endif
