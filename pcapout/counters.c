/*
 * The shared pages, writer's side: the wrapper's counters page (totals across every process of a
 * run) and this process's control page (`clearcap ctl`: state, file, counters).
 */
#include "pcapout/writer_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

void cc_wc_count(uint64_t *field, uint64_t n)
{
	if (W.shared && n)
		__atomic_fetch_add(field, n, __ATOMIC_RELAXED);
}

int cc_wc_tell_once(uint64_t bit)
{
	return !W.shared || !(__atomic_fetch_or(&W.shared->told, bit, __ATOMIC_RELAXED) & bit);
}

/* The counters file's page at offset, size bytes, when the file reaches that far; NULL otherwise. */
static void *map_page(const char *path, size_t size, off_t offset)
{
	struct stat st;
	void *p = MAP_FAILED;
	int fd;

	if (!path || !path[0])
		return NULL;
	fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) == 0 && st.st_size >= offset + (off_t)size)
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
	syscall(SYS_close, fd);
	return p == MAP_FAILED ? NULL : p;
}

struct cc_counters *cc_counters_map(const char *path)
{
	struct cc_counters *c = map_page(path, CC_COUNTERS_SIZE, 0);

	if (c && c->magic != CC_COUNTERS_MAGIC) {
		munmap(c, CC_COUNTERS_SIZE);
		c = NULL;
	}
	return c;
}

struct cc_tcp_gens *cc_counters_gens(const char *path)
{
	_Static_assert(sizeof(struct cc_tcp_gens) <= CC_COUNTERS_FILE_SIZE - CC_COUNTERS_SIZE, "generations page");
	/* (All of it: the file reaches its end.) */
	return map_page(path, CC_COUNTERS_FILE_SIZE - CC_COUNTERS_SIZE, CC_COUNTERS_SIZE);
}

/*
 * Counts made while the page was not mapped yet (count_early): the filter's declines,
 * impairment's four (a delayed datagram is counted when queued, before anything is stored),
 * then the frames a pause kept out (a process paused from its first packet never starts).
 */
#define PENDING_FILTERED 0
#define PENDING_IMPAIRED 1
#define PENDING_PAUSED 5
static uint64_t pending[1 + 4 + 1];

static uint64_t *pending_field(struct cc_counters *c, unsigned i)
{
	if (i == PENDING_PAUSED)
		return &c->paused;
	return i == PENDING_FILTERED ? &c->filtered : &c->impaired[i - PENDING_IMPAIRED];
}

/* Moves the counts made before the page was there into it. */
static void move_pending(struct cc_counters *c)
{
	for (unsigned i = 0; i < sizeof(pending) / sizeof(pending[0]); i++) {
		uint64_t n = __atomic_exchange_n(&pending[i], 0, __ATOMIC_SEQ_CST);
		if (n)
			__atomic_fetch_add(pending_field(c, i), n, __ATOMIC_RELAXED);
	}
}

void cc_writer_adopt_counters(struct cc_counters *c)
{
	struct cc_counters *none = NULL;

	if (__atomic_compare_exchange_n(&W.shared, &none, c, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		move_pending(c);
	else
		munmap(c, CC_COUNTERS_SIZE);
}

void cc_wc_map(void)
{
	struct cc_counters *c;

	if (__atomic_load_n(&W.shared, __ATOMIC_ACQUIRE))
		return;
	/* (From the writer's start, or from a program's thread declining a first packet: once.) */
	c = cc_counters_map(W.counters_path);
	if (c)
		cc_writer_adopt_counters(c);
}

static int map_tried;

void cc_wc_forget_pending(void)
{
	/* A forked child's: the parent's declines are the parent's to move, and it may map anew. */
	for (unsigned i = 0; i < sizeof(pending) / sizeof(pending[0]); i++)
		__atomic_store_n(&pending[i], 0, __ATOMIC_RELAXED);
	__atomic_store_n(&map_tried, 0, __ATOMIC_RELAXED);
}

void cc_wc_ctl_state(enum cc_ctl_state st)
{
	if (W.ctl)
		__atomic_store_n(&W.ctl->state, (uint32_t)st, __ATOMIC_RELEASE);
}

void cc_wc_ctl_file(const char *path)
{
	if (W.ctl) {
		snprintf(W.ctl->file, sizeof(W.ctl->file), "%s", path);
		snprintf(W.ctl->base, sizeof(W.ctl->base), "%s", W.base);
	}
}

void cc_writer_count_unmatched(uint64_t n)
{
	if (W.shared)
		cc_wc_count(&W.shared->unmatched, n);
}

/*
 * A count (pending[i]) made before anything was stored: the writer (which maps the counters
 * page) may never start in a process whose packets are all declined, or not yet when impairment
 * queues its first datagrams, yet the wrapper's summary must count them.  The page is mapped
 * here, once, with cancellation off (open is a cancellation point, and this runs after the
 * program's call was made) and the program's errno kept.  Meanwhile, and when it cannot be
 * mapped, counts wait in pending: whoever sees the page installed after adding to it moves them
 * (cc_wc_map moves what was there before).
 */
static __attribute__((noinline)) void count_early(unsigned i)
{
	struct cc_counters *c;

	if (!__atomic_load_n(&map_tried, __ATOMIC_RELAXED) && !__atomic_exchange_n(&map_tried, 1, __ATOMIC_ACQ_REL)) {
		int saved = errno, cs;
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);
		cc_wc_map();
		pthread_setcancelstate(cs, NULL);
		errno = saved;
	}
	if ((c = __atomic_load_n(&W.shared, __ATOMIC_SEQ_CST)) != NULL) {
		cc_wc_count(pending_field(c, i), 1);
		return;
	}
	__atomic_fetch_add(&pending[i], 1, __ATOMIC_SEQ_CST);
	if ((c = __atomic_load_n(&W.shared, __ATOMIC_SEQ_CST)) != NULL)
		move_pending(c);
}

void cc_writer_count_filtered(void)
{
	__atomic_fetch_add(&W.filtered, 1, __ATOMIC_RELAXED);
	if (__builtin_expect(W.shared != NULL, 1))
		cc_wc_count(&W.shared->filtered, 1);
	else if (W.counters_path[0])    /* (run by the wrapper: its summary counts them) */
		count_early(PENDING_FILTERED);
}

void cc_writer_count_impaired(unsigned what)
{
	if (what >= 4)
		return;
	if (W.shared)
		cc_wc_count(&W.shared->impaired[what], 1);
	else if (W.counters_path[0])
		count_early(PENDING_IMPAIRED + what);
}

void cc_writer_count_paused(void)
{
	if (__builtin_expect(W.shared != NULL, 1))
		cc_wc_count(&W.shared->paused, 1);
	else if (W.counters_path[0])
		count_early(PENDING_PAUSED);
}

void cc_writer_note_paused(uint64_t ns)
{
	struct cc_counters *c;

	if (!ns || !W.counters_path[0])
		return;
	cc_wc_map();
	if ((c = __atomic_load_n(&W.shared, __ATOMIC_ACQUIRE)) == NULL)
		return;
	/* The longest, not the sum: processes paused side by side were paused for the same time. */
	uint64_t old = __atomic_load_n(&c->paused_ns, __ATOMIC_RELAXED);
	while (old < ns && !__atomic_compare_exchange_n(&c->paused_ns, &old, ns, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

void cc_writer_count_relayed(void)
{
	if (W.shared)
		cc_wc_count(&W.shared->relayed, 1);
}

void cc_writer_srtp_in_use(void)
{
	__atomic_store_n(&W.srtp_used, 1, __ATOMIC_RELEASE);
}

void cc_writer_count_srtp_failure(void)
{
	if (W.shared)
		cc_wc_count(&W.shared->srtp_failed, 1);
}

void cc_writer_count_plain(unsigned method)
{
	if (W.shared && method < 5)
		cc_wc_count(&W.shared->plain[method], 1);
}

void cc_writer_stats(struct cc_writer_stats *st)
{
	st->captured = __atomic_load_n(&W.captured, __ATOMIC_RELAXED);
	st->dropped = __atomic_load_n(&W.dropped, __ATOMIC_RELAXED);
	st->bytes = __atomic_load_n(&W.bytes, __ATOMIC_RELAXED);
	st->filtered = __atomic_load_n(&W.filtered, __ATOMIC_RELAXED);
	st->hep_sent = __atomic_load_n(&W.hep_sent, __ATOMIC_RELAXED);
	st->hep_dropped = __atomic_load_n(&W.hep_dropped, __ATOMIC_RELAXED);
	st->woken = __atomic_load_n(&W.woken, __ATOMIC_RELAXED);
}
