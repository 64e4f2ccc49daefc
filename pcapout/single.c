/* Giving glibc's single-thread flag back after a quiet thread's creation: see single.h. */
#include "pcapout/single.h"
#include "pcapout/rundir.h"

#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <string.h>
#include <sys/single_threaded.h>

#if defined(__SANITIZE_THREAD__)
#define CC_SINGLE_NEVER 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CC_SINGLE_NEVER 1
#endif
#endif

static int kept;                /* the flag is being given back (atomic) */

/*
 * glibc's own flag, which its code reads.  A program whose executable reads the flag itself (C++
 * with a shared_ptr, inlined from libstdc++'s headers) has a copy of it, made by a copy
 * relocation, and __libc_single_threaded names that copy here.  glibc sets both; so do we.
 */
static char *own;

/* The glibc whose single-thread paths single.h describes, and its own flag found; once. */
static int known_glibc(void)
{
#if defined(CC_SINGLE_NEVER) || !defined(__x86_64__) || defined(__ILP32__)
	return 0;
#else
	static int known = -1;

	if (__atomic_load_n(&known, __ATOMIC_ACQUIRE) < 0) {
		void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
		char *p = libc ? dlsym(libc, "__libc_single_threaded") : NULL;
		if (libc)
			dlclose(libc);
		__atomic_store_n(&own, p, __ATOMIC_RELAXED);
		__atomic_store_n(&known, p && strcmp(gnu_get_libc_version(), "2.36") == 0, __ATOMIC_RELEASE);
	}
	return known;
#endif
}

/* glibc's view: its own flag where it is known, else the one we see. */
static int flag(void)
{
	char *p = __atomic_load_n(&own, __ATOMIC_RELAXED);

	return __atomic_load_n(p ? p : &__libc_single_threaded, __ATOMIC_ACQUIRE);
}

static void set_flag(char v)
{
	char *p = __atomic_load_n(&own, __ATOMIC_RELAXED);

	if (p)
		__atomic_store_n(p, v, __ATOMIC_SEQ_CST);
	__atomic_store_n(&__libc_single_threaded, v, __ATOMIC_SEQ_CST);
}

int cc_thread_start(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg, int quiet)
{
	int known = known_glibc(), single = flag();

	/*
	 * Given up before the thread is made: pthread_create allocates (it may run on the writer's
	 * thread, when the program's threads have all ended).  glibc made its first thread's set-up
	 * when the writer was started.
	 */
	if (!quiet && __atomic_exchange_n(&kept, 0, __ATOMIC_RELAXED)) {
		set_flag(0);
		single = 0;
	}
	int rc = pthread_create(t, attr, fn, arg);
	if (rc == 0 && quiet && single && known) {
		__atomic_store_n(&kept, 1, __ATOMIC_RELAXED);
		set_flag(1);
	} else if (rc == 0 && single) {
		/* As glibc does for the first thread; it skips that when we gave the flag back. */
		set_flag(0);
	}
	return rc;
}

int cc_single_kept(void)
{
	return __atomic_load_n(&kept, __ATOMIC_RELAXED) && flag();
}

/*
 * The process's threads, as the kernel counts them (field 20 of /proc/self/stat), or -1.  Read
 * only around a credential call, never per packet.
 */
static long threads(void)
{
	uint64_t n;

	return cc_proc_stat(0, 20, &n) ? (long)n : -1;
}

int cc_single_pause(void)
{
	if (!__atomic_load_n(&kept, __ATOMIC_RELAXED) || !flag())
		return 0;
	long n = threads();
	set_flag(0);
	return n > 0 ? (int)n : -1;
}

void cc_single_resume(int paused)
{
	if (!paused || !__atomic_load_n(&kept, __ATOMIC_RELAXED))
		return;
	/*
	 * A thread started inside the call (an NSS module behind initgroups, say) was started with
	 * the flag clear, so glibc left it clear: then it stays so, for good.  So it does when the
	 * threads cannot be counted (no /proc: a daemon that chroots, then drops privileges).
	 */
	if (paused > 0 && threads() == paused)
		set_flag(1);
	else
		__atomic_store_n(&kept, 0, __ATOMIC_RELAXED);
}
