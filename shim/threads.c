/*
 * What the program's threads do that the shim must know of: pthread_cancel() and pthread_exit().
 *
 * pthread_cancel() ends direct UDP sends for good (shim/direct.h): from then on each send goes
 * through glibc, which lets a cancellation interrupt it.
 *
 * pthread_exit() from the main thread (or the main thread cancelled) leaves the process to its
 * other threads: glibc ends the process when the last one ends.  Our writer thread would be that
 * last one and keep the process alive for ever, deaf to SIGTERM (every signal is blocked on it,
 * and a process-directed signal waits for a thread that takes it).  So the writer is told, and
 * from then on it looks whether the program's threads have all ended and, when they have, ends
 * the process as glibc would: exit(0) (pcapout/writer.c).
 */
#include "shim/direct.h"
#include "shim/hooks.h"
#include "shim/impair.h"
#include "shim/real.h"
#include "pcapout/writer.h"

#include <dlfcn.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <stdlib.h>
#include <unistd.h>

int cc_direct;

static int (*real_cancel)(pthread_t);
static void (*real_exit)(void *);

/*
 * True when fn lies in the object at libc_map: glibc's own libc.so, the object that defines
 * gnu_get_libc_version.  (_dl_find_object, not dladdr: no symbol search, at every start.)
 */
static int in_libc(void *fn, const void *libc_map)
{
	struct dl_find_object it;

	return fn && _dl_find_object(fn, &it) == 0 && it.dlfo_link_map == libc_map;
}

void cc_direct_init(void)
{
	struct dl_find_object libc;
	void *probe = dlsym(RTLD_DEFAULT, "gnu_get_libc_version");

	__atomic_store_n(&real_cancel, (int (*)(pthread_t))cc_real_lookup("pthread_cancel"), __ATOMIC_RELEASE);
	__atomic_store_n(&real_exit, (void (*)(void *))cc_real_lookup("pthread_exit"), __ATOMIC_RELEASE);
#if defined(__x86_64__) && !defined(__ILP32__)
	if (!probe || _dl_find_object(probe, &libc) != 0 || !real_cancel)
		return;
	const void *m = libc.dlfo_link_map;
	if (in_libc((void *)cc_real.sendto, m) && in_libc((void *)cc_real.send, m) && in_libc((void *)cc_real.write, m) &&
	    in_libc((void *)cc_real.sendmsg, m) && in_libc((void *)real_cancel, m))
		__atomic_store_n(&cc_direct, 1, __ATOMIC_RELAXED);
#else
	(void)probe, (void)libc, (void)in_libc;
#endif
}

/* A cancellation asked for: from now on every send goes through glibc, which honours it. */
CC_EXPORT int pthread_cancel(pthread_t t)
{
	int (*fn)(pthread_t) = __atomic_load_n(&real_cancel, __ATOMIC_ACQUIRE);

	__atomic_store_n(&cc_direct, 0, __ATOMIC_SEQ_CST);
	/* Perhaps the main thread's: our threads look (and find out) from now on. */
	cc_writer_watch_threads();
	cc_impair_wake();
	if (!fn) {
		fn = (int (*)(pthread_t))cc_real_lookup("pthread_cancel");
		if (!fn)
			return ESRCH;
	}
	return fn(t);
}

CC_EXPORT void pthread_exit(void *retval)
{
	void (*fn)(void *) = __atomic_load_n(&real_exit, __ATOMIC_ACQUIRE);

	/* The main thread's (the forking thread's, in a forked child): two system calls, once. */
	if (syscall(SYS_gettid) == getpid()) {
		cc_writer_watch_threads();
		cc_impair_wake();
	}
	if (!fn)
		fn = (void (*)(void *))cc_real_lookup("pthread_exit");
	if (!fn)
		abort();
	fn(retval);
	__builtin_unreachable();
}
