/*
 * Preloaded beside the shim in the integration tests' uninstrumented lane (cclib.Env.preload).
 *
 * While glibc believes the process has one thread (__libc_single_threaded), that one thread, the
 * thread-group leader, is the only one that may allocate or take a private mutex: glibc does
 * both without atomics then.  The shim's writer keeps that belief in a program with one thread
 * of its own (pcapout/single.h) and must do neither.  A call that breaks the rule aborts the
 * process with one line naming the call and the thread, and the test fails.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <unistd.h>

void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void __libc_free(void *);

/* -1: not known yet; 1: this thread is the leader.  (A fork child's thread is its leader.) */
static __thread int leader __attribute__((tls_model("initial-exec"))) = -1;

static void __attribute__((noinline, noreturn)) broken(const char *call)
{
	char name[17] = { 0 }, line[160];

	prctl(PR_GET_NAME, name, 0, 0, 0);
	size_t n = 0;
	const char *parts[] = { "single_guard: ", call, " on thread \"", name,
				"\" while glibc believes the process has one thread\n" };
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		size_t l = strlen(parts[i]);
		if (n + l < sizeof(line)) {
			memcpy(line + n, parts[i], l);
			n += l;
		}
	}
	syscall(SYS_write, 2, line, n);
	abort();
}

static inline void check(const char *call)
{
	if (__builtin_expect(!__atomic_load_n(&__libc_single_threaded, __ATOMIC_RELAXED), 1))
		return;
	if (leader < 0)
		leader = syscall(SYS_gettid) == syscall(SYS_getpid);
	if (!leader)
		broken(call);
}

static void forked(void)
{
	leader = -1;
}

typedef int (*mutex_fn)(pthread_mutex_t *);
static mutex_fn real_lock, real_trylock, real_unlock;

/* Resolved here, on the main thread: a lookup later, on another thread, might allocate. */
static void __attribute__((constructor)) init(void)
{
	real_lock = (mutex_fn)dlsym(RTLD_NEXT, "pthread_mutex_lock");
	real_trylock = (mutex_fn)dlsym(RTLD_NEXT, "pthread_mutex_trylock");
	real_unlock = (mutex_fn)dlsym(RTLD_NEXT, "pthread_mutex_unlock");
	pthread_atfork(NULL, NULL, forked);
}

void *malloc(size_t n)
{
	check("malloc");
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
	check("calloc");
	return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
	check("realloc");
	return __libc_realloc(p, n);
}

void free(void *p)
{
	if (p)
		check("free");
	__libc_free(p);
}

/* A private mutex (glibc's process-shared bit, 128 in __kind, clear). */
static inline void check_mutex(pthread_mutex_t *m, const char *call)
{
	if (!(__atomic_load_n(&m->__data.__kind, __ATOMIC_RELAXED) & 128))
		check(call);
}

/* (Before the constructor, another library's own: resolved on the spot.) */
#define MUTEX_HOOK(name, real)                                                                 \
	int name(pthread_mutex_t *m)                                                           \
	{                                                                                      \
		check_mutex(m, #name);                                                         \
		if (!real)                                                                     \
			real = (mutex_fn)dlsym(RTLD_NEXT, #name);                              \
		return real(m);                                                                \
	}
MUTEX_HOOK(pthread_mutex_lock, real_lock)
MUTEX_HOOK(pthread_mutex_trylock, real_trylock)
MUTEX_HOOK(pthread_mutex_unlock, real_unlock)
