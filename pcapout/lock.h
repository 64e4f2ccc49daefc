/*
 * The shim's mutexes, taken and released through these two so that each thread knows whether it
 * holds one.  A program's signal handler may call exit(), _exit() or exec while the thread it
 * interrupted is inside the shim holding a lock (glibc's mutexes are not recursive): the exit
 * work that would take the same lock again (a flush, the TLS and SRTP tables) is skipped then,
 * and the process leaves as it would without the shim instead of hanging (see cc_exit_safe()).
 * Counted before the lock is asked for, so a handler that runs while a thread waits for one
 * skips too.  Not for the fork handlers, which take every lock on purpose (shim/ownfd.c).
 */
#ifndef CC_LOCK_H
#define CC_LOCK_H

#include <pthread.h>

/*
 * Every mutex of the shim's is process-shared, though none is in shared memory: glibc takes a
 * private mutex with a plain store while the program has one thread, and the writer's thread
 * may keep that so (pcapout/single.h).  128 is what pthread_mutex_init() puts in __kind for a
 * PTHREAD_PROCESS_SHARED attribute (glibc's PTHREAD_MUTEX_PSHARED_BIT); a unit test checks the
 * two agree.
 */
#define CC_MUTEX_INITIALIZER { .__data = { .__kind = 128 } }

/* A mutex made as CC_MUTEX_INITIALIZER makes one. */
static inline void cc_mutex_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
}

/* Locks this thread holds or waits for (weak: one definition wherever the header is used). */
__attribute__((weak)) __thread unsigned cc_locks_held __attribute__((tls_model("initial-exec")));

static inline void cc_lock(pthread_mutex_t *m)
{
	__atomic_store_n(&cc_locks_held, cc_locks_held + 1, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	pthread_mutex_lock(m);
}

static inline void cc_unlock(pthread_mutex_t *m)
{
	pthread_mutex_unlock(m);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(&cc_locks_held, cc_locks_held - 1, __ATOMIC_RELAXED);
}

/* cc_lock that never waits: 0 when taken (give it back with cc_unlock), -1 when busy. */
static inline int cc_trylock(pthread_mutex_t *m)
{
	__atomic_store_n(&cc_locks_held, cc_locks_held + 1, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (pthread_mutex_trylock(m) == 0)
		return 0;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(&cc_locks_held, cc_locks_held - 1, __ATOMIC_RELAXED);
	return -1;
}

/* In a fork child, for a lock the prepare handler took and the child creates afresh. */
static inline void cc_lock_forget(pthread_mutex_t *m)
{
	cc_mutex_init(m);
	__atomic_store_n(&cc_locks_held, cc_locks_held - 1, __ATOMIC_RELAXED);
}

/* Whether this thread may do the shim's exit work: it holds none of the shim's locks. */
static inline int cc_exit_safe(void)
{
	return __atomic_load_n(&cc_locks_held, __ATOMIC_RELAXED) == 0;
}

#endif
