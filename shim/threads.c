/*
 * What the program's threads do that the shim must know of: pthread_cancel() and pthread_exit().
 *
 * pthread_cancel() ends direct UDP sends for good (shim/direct.h): from then on each send goes
 * through glibc, which lets a cancellation interrupt it.
 *
 * pthread_exit() from the main thread (or the main thread cancelled) leaves the process to its
 * other threads: glibc ends the process when the last one ends.  Our writer thread would be that
 * last one and keep the process alive for ever, deaf to SIGTERM (every signal is blocked on it,
 * and a process-directed signal waits for a thread that takes it).  So our threads are told, and
 * from then on they look whether the program's threads have all ended and, when they have, end
 * the process as glibc would: exit(0), on a thread made for it (pcapout/writer.h).
 *
 * setuid() and its kin change every thread's credentials: glibc signals each thread it knows to
 * make the call too, but only while it believes the process has threads.  In a program with one
 * thread of its own the writer keeps that belief off (pcapout/single.h), so these hooks put it
 * back for the call: the writer's credentials follow the program's, as any thread's would.
 * initgroups() is here because glibc's calls its setgroups() inside itself.
 */
#include "shim/direct.h"
#include "shim/hooks.h"
#include "shim/impair.h"
#include "shim/real.h"
#include "pcapout/single.h"
#include "pcapout/writer.h"

#include <dlfcn.h>
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <stdlib.h>
#include <unistd.h>

int cc_direct;

static int cancel_seen;                 /* a pthread_cancel was asked for: never direct again */
static pthread_t main_thread;           /* the main thread (the forking one, in a child) */
static int main_known;
static sigset_t main_mask;              /* its signal mask, for the exit handlers (writer.h) */

/* True when fn lies in glibc's own libc.so (the object that defines gnu_get_libc_version). */
static int in_libc(void *fn, const void *libc)
{
	return fn && cc_object_of(fn) == libc;
}

void cc_direct_init(void)
{
	void *probe = dlsym(RTLD_DEFAULT, "gnu_get_libc_version");

#if defined(__x86_64__) && !defined(__ILP32__)
	const void *m = cc_object_of(probe);
	if (!m || !cc_real.pthread_cancel)
		return;
	if (!in_libc((void *)cc_real.sendto, m) || !in_libc((void *)cc_real.send, m) || !in_libc((void *)cc_real.write, m) ||
	    !in_libc((void *)cc_real.sendmsg, m) || !in_libc((void *)cc_real.pthread_cancel, m))
		return;
	/*
	 * Not when a cancel came first (a library's constructor runs before ours); and looked at
	 * again after, as pthread_cancel() clears cc_direct after it sets cancel_seen.
	 */
	if (!__atomic_load_n(&cancel_seen, __ATOMIC_SEQ_CST)) {
		__atomic_store_n(&cc_direct, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&cancel_seen, __ATOMIC_SEQ_CST))
			__atomic_store_n(&cc_direct, 0, __ATOMIC_SEQ_CST);
	}
#else
	(void)probe, (void)in_libc;
#endif
}

static void note_main(void)
{
	main_thread = pthread_self();
	pthread_sigmask(SIG_BLOCK, NULL, &main_mask);
	__atomic_store_n(&main_known, 1, __ATOMIC_RELEASE);
}

/* Preloaded, our constructor runs on the main thread; in a forked child the forking one is it. */
__attribute__((constructor)) static void threads_init(void)
{
	if (syscall(SYS_gettid) == getpid()) {
		note_main();
		pthread_atfork(NULL, NULL, note_main);
	}
}

static int is_main(pthread_t t)
{
	return __atomic_load_n(&main_known, __ATOMIC_ACQUIRE) && pthread_equal(t, main_thread);
}

/* The main thread is leaving: our threads look, from now on, whether the program has ended. */
static void main_leaves(void)
{
	cc_writer_watch_threads(&main_mask);
	cc_impair_wake();
}

/* A cancellation asked for: from now on every send goes through glibc, which honours it. */
CC_EXPORT int pthread_cancel(pthread_t t)
{
	if (!__atomic_load_n(&cc_real.pthread_cancel, __ATOMIC_ACQUIRE))
		cc_real_init();
	__atomic_store_n(&cancel_seen, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&cc_direct, 0, __ATOMIC_SEQ_CST);
	cc_fd_changed();                /* the hot lanes (capture_int.h) send directly */
	if (is_main(t))
		main_leaves();
	return cc_real.pthread_cancel ? cc_real.pthread_cancel(t) : ESRCH;
}

CC_EXPORT void pthread_exit(void *retval)
{
	if (!__atomic_load_n(&cc_real.pthread_exit, __ATOMIC_ACQUIRE))
		cc_real_init();
	if (is_main(pthread_self())) {
		pthread_sigmask(SIG_BLOCK, NULL, &main_mask);
		main_leaves();
	}
	if (!cc_real.pthread_exit)
		abort();
	cc_real.pthread_exit(retval);
	__builtin_unreachable();
}

/* A credential call made with glibc's every-thread broadcast on (see the top of this file). */
#define CRED_HOOK(name, params, args)                                                          \
	CC_EXPORT int name params                                                              \
	{                                                                                      \
		if (!__atomic_load_n(&cc_real.name, __ATOMIC_ACQUIRE))                         \
			cc_real_init();                                                        \
		if (!cc_real.name) {                                                           \
			errno = ENOSYS;                                                        \
			return -1;                                                             \
		}                                                                              \
		int paused = cc_single_pause();                                                \
		int ret = cc_real.name args;                                                   \
		cc_single_resume(paused);                                                      \
		return ret;                                                                    \
	}

CRED_HOOK(setuid, (uid_t u), (u))
CRED_HOOK(setgid, (gid_t g), (g))
CRED_HOOK(seteuid, (uid_t u), (u))
CRED_HOOK(setegid, (gid_t g), (g))
CRED_HOOK(setreuid, (uid_t r, uid_t e), (r, e))
CRED_HOOK(setregid, (gid_t r, gid_t e), (r, e))
CRED_HOOK(setresuid, (uid_t r, uid_t e, uid_t s), (r, e, s))
CRED_HOOK(setresgid, (gid_t r, gid_t e, gid_t s), (r, e, s))
CRED_HOOK(setgroups, (size_t n, const gid_t *list), (n, list))
CRED_HOOK(initgroups, (const char *user, gid_t g), (user, g))
