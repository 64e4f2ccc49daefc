/*
 * The own-descriptor table, the key log files and the fork lock table; see ownfd.h.
 *
 * Descriptors here are touched through syscall(2) only: close, fcntl and write are hooked, and
 * our own I/O must never enter our own hooks.
 */
#include "shim/ownfd.h"
#include "pcapout/lock.h"
#include "pcapout/single.h"
#include "pcapout/writer.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static struct cc_ownfd_ops owned[CC_OWNFD_MAX];
static int nowned;

int cc_ownfd_add(const struct cc_ownfd_ops *ops)
{
	if (nowned >= CC_OWNFD_MAX)
		return -1;
	owned[nowned] = *ops;
	__atomic_store_n(&nowned, nowned + 1, __ATOMIC_RELEASE);
	return 0;
}

int cc_ownfd_is(int fd)
{
	int n = __atomic_load_n(&nowned, __ATOMIC_ACQUIRE);

	if (fd < 0)
		return 0;
	for (int i = 0; i < n; i++)
		if (owned[i].get(owned[i].arg) == fd)
			return 1;
	return 0;
}

void cc_ownfd_make_room(int fd)
{
	int n = __atomic_load_n(&nowned, __ATOMIC_ACQUIRE);

	if (fd < 0)
		return;
	for (int i = 0; i < n; i++)
		if (owned[i].get(owned[i].arg) == fd) {
			cc_dup_given(fd);       /* before ours leaves it: no copy of ours may land there */
			owned[i].move(owned[i].arg);
		}
}

int cc_ownfd_in_range(unsigned lo, unsigned hi, int *out)
{
	int n = __atomic_load_n(&nowned, __ATOMIC_ACQUIRE), k = 0;

	for (int i = 0; i < n; i++) {
		int fd = owned[i].get(owned[i].arg);
		if (fd < 0 || (unsigned)fd < lo || (unsigned)fd > hi)
			continue;
		/* Insertion into ascending order; a number listed twice is kept once. */
		int j = k;
		while (j > 0 && out[j - 1] > fd)
			j--;
		if (j > 0 && out[j - 1] == fd)
			continue;
		memmove(out + j + 1, out + j, sizeof(*out) * (size_t)(k - j));
		out[j] = fd;
		k++;
	}
	return k;
}

/* ---- key log files ---------------------------------------------------------------------- */

static int lf_get(void *arg)
{
	struct cc_linefile *lf = arg;

	return __atomic_load_n(&lf->fd, __ATOMIC_ACQUIRE);
}

/* Under the lock: no line can be on its way to the old number while it changes hands. */
static int lf_move(void *arg)
{
	struct cc_linefile *lf = arg;
	int rc = -1;

	cc_lock(&lf->lock);
	if (lf->fd >= 0) {
		int nfd = cc_dup_high(lf->fd);
		if (nfd < 0 || nfd == lf->fd)
			nfd = (int)syscall(SYS_fcntl, lf->fd, F_DUPFD_CLOEXEC, lf->fd + 1);
		if (nfd < 0)
			nfd = (int)syscall(SYS_fcntl, lf->fd, F_DUPFD_CLOEXEC, 3);
		if (nfd >= 0) {
			int old = lf->fd;
			__atomic_store_n(&lf->fd, nfd, __ATOMIC_RELEASE);
			syscall(SYS_close, old);
			rc = 0;
		} else {
			/* No number left: the old one becomes the program's; no line goes there again. */
			__atomic_store_n(&lf->fd, -1, __ATOMIC_RELEASE);
			cc_warn("%s: no descriptor left to keep %s from the program's dup2; not writing it any more",
				lf->var, lf->path);
		}
	}
	cc_unlock(&lf->lock);
	return rc;
}

void cc_linefile_init(struct cc_linefile *lf, const char *path)
{
	struct cc_ownfd_ops ops = { lf_get, lf_move, lf };

	lf->path = path;
	cc_ownfd_add(&ops);
	cc_forklock_add(&lf->lock, CC_RANK_FILE);
}

/* The caller holds the lock. */
static void lf_open(struct cc_linefile *lf)
{
	lf->opened = 1;
	if (!lf->path || !lf->path[0])
		return;
	/*
	 * Non-blocking: a FIFO nobody reads would hold the program in open (ENXIO instead), and one
	 * whose reader stalls in write (the line is lost instead, said once).
	 */
	int fd = (int)syscall(SYS_openat, AT_FDCWD, lf->path,
			      O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600);
	if (fd < 0) {
		cc_warn("%s: cannot open %s: %s", lf->var, lf->path,
			errno == ENXIO ? "a FIFO nobody reads; no lines written there" : cc_strerror(errno));
		return;
	}
	int hi = cc_dup_high(fd);
	if (hi >= 0) {
		syscall(SYS_close, fd);
		fd = hi;
	}
	__atomic_store_n(&lf->fd, fd, __ATOMIC_RELEASE);
}

void cc_linefile_write(struct cc_linefile *lf, const char *line, size_t len)
{
	int saved = errno;

	cc_lock(&lf->lock);
	if (!lf->opened)
		lf_open(lf);
	/* One whole line per write, O_APPEND. */
	long w = lf->fd >= 0 ? syscall(SYS_write, lf->fd, line, len) : (long)len;
	if (w != (long)len && !lf->write_warned) {
		lf->write_warned = 1;
		cc_warn("%s: writing to %s: %s; lines are lost", lf->var, lf->path,
			w >= 0 ? "written in part" : errno == EAGAIN ? "its reader does not keep up" : cc_strerror(errno));
	}
	cc_unlock(&lf->lock);
	errno = saved;
}

/* ---- fork lock table ---------------------------------------------------------------------- */

#define FORKLOCK_MAX 32

static struct forklock {
	pthread_mutex_t *m;
	enum cc_lock_rank rank;
} locks[FORKLOCK_MAX];
static int nlocks;

void cc_forklock_add(pthread_mutex_t *m, enum cc_lock_rank rank)
{
	if (nlocks >= FORKLOCK_MAX)
		return;
	/* Kept in rank order (stable): prepare walks it forwards, parent backwards. */
	int j = nlocks;
	while (j > 0 && locks[j - 1].rank > rank) {
		locks[j] = locks[j - 1];
		j--;
	}
	locks[j].m = m;
	locks[j].rank = rank;
	nlocks++;
}

void cc_forklock_prepare(void)
{
	int i = 0;

	for (; i < nlocks && locks[i].rank < CC_RANK_WRITER; i++)
		pthread_mutex_lock(locks[i].m);
	cc_writer_atfork_prepare();
	for (; i < nlocks; i++)
		pthread_mutex_lock(locks[i].m);
}

void cc_forklock_parent(void)
{
	int i = nlocks;

	for (; i > 0 && locks[i - 1].rank >= CC_RANK_WRITER; i--)
		pthread_mutex_unlock(locks[i - 1].m);
	cc_writer_atfork_parent();
	for (; i > 0; i--)
		pthread_mutex_unlock(locks[i - 1].m);
}

/* The child is the forking thread alone: every lock is free again, whoever held it. */
void cc_forklock_child(void)
{
	for (int i = 0; i < nlocks; i++)
		cc_mutex_init(locks[i].m);
	cc_writer_atfork_child();
}
