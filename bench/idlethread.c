/*
 * bench/idlethread.so: preloaded, starts one thread that only waits.  The C library runs its
 * threaded paths once a process has a second thread (cancellable system calls switch the
 * cancellation type around the call, malloc takes its arena lock, ...): bench/instr.sh counts
 * what that alone adds per packet, the share of the shim's figure that any writer thread costs.
 */
#include <pthread.h>
#include <unistd.h>

static void *wait_forever(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

__attribute__((constructor)) static void start(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, wait_forever, NULL) == 0)
		pthread_detach(t);
}
