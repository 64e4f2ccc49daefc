/*
 * A program with one thread keeps glibc's single-thread paths beside the shim's writer.
 *
 * Why: glibc reads __libc_single_threaded (<sys/single_threaded.h>) on its hot paths.  While it
 * is set, malloc and free skip the arena locks, a private mutex is taken with a plain store and
 * cancellable system calls skip the cancellation switches.  pthread_create clears it for good.
 * Our writer thread would clear it in a program that never starts a thread of its own.  The
 * program would then run glibc's threaded paths on every call it makes, ours or not: about 700
 * instructions per SRTP round trip in libsrtp2's NSS back end (bench/instr.sh).  A program with
 * threads of its own pays them with or without us, and there the flag is left alone.
 *
 * So a quiet thread (the writer) gives the flag back after its creation.  What that asks of the
 * quiet thread, and why each is safe:
 *   - It never allocates with malloc (pcapout/wmem.h maps what it needs).  The program's malloc
 *     runs unlocked beside it, and so would its own.
 *   - Every mutex it shares with the program's thread is process-shared (CC_MUTEX_INITIALIZER,
 *     pcapout/lock.h).  glibc takes the plain-store shortcut only for private mutexes.
 *   - It uses no stdio, loads no library and resolves no name.  glibc's fork, seeing one
 *     thread, neither takes nor resets the locks those use.
 *   - setuid and its kin reach every thread only while the flag is clear (glibc's setxid
 *     broadcast).  The shim's hooks clear it around the call (cc_single_pause), so the writer's
 *     credentials follow the program's as they do today.
 * Any other thread of ours (impairment's sender, the exit helper) is not quiet: starting one
 * gives the flag up for good, as glibc itself would.
 *
 * Only on the glibc whose paths this was checked against (2.36, x86-64: Debian 12), and never
 * under ThreadSanitizer, whose runtime makes threads of its own.  Elsewhere the flag is left as
 * glibc sets it, and the program runs threaded paths as it did.
 */
#ifndef CC_SINGLE_H
#define CC_SINGLE_H

#include <pthread.h>
#include <string.h>

/*
 * pthread_create, and for a quiet thread started while the program had one thread, the flag
 * given back.  Not quiet: the flag is left clear for good.
 */
int cc_thread_start(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg, int quiet);

/* Whether the flag is being given back (for tests). */
int cc_single_kept(void);

/*
 * Around a call glibc broadcasts to every thread (setuid and its kin): the flag cleared, and
 * then put back as it was, unless a thread was started meanwhile or the threads cannot be
 * counted.  cc_single_pause returns what cc_single_resume needs (0: nothing paused).
 */
int cc_single_pause(void);
void cc_single_resume(int paused);

/*
 * strerror() for the writer's thread: glibc's translates, and loading a catalog allocates.  The
 * untranslated text, as every other line of ours is English.
 */
static inline const char *cc_strerror(int e)
{
	const char *s = strerrordesc_np(e);

	return s ? s : "Unknown error";
}

#endif
