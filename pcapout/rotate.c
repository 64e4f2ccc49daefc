/*
 * Capture file rotation (see rotate.h).  Nothing here runs per packet: the writer thread asks
 * after each batch it wrote.
 */
#include "pcapout/rotate.h"
#include "pcapout/rundir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int cc_rot_digits(long files)
{
	int c = 0;

	for (long x = files - 1; x > 0; x /= 10)
		c++;
	return c;
}

int cc_rot_name(char *dst, size_t n, const char *base, const struct cc_rot_cfg *cfg, time_t t, long cnt)
{
	char expanded[CC_ROT_NAME_MAX];
	/* tcpdump pads the count only with -C (with -G alone -W just ends the capture). */
	int digits = cfg->size && cfg->files ? cc_rot_digits(cfg->files) : 0;
	int len;

	if (cfg->seconds) {
		struct tm tm;

		localtime_r(&t, &tm);
		/* The user's FILE is the format, as with tcpdump -G. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		size_t got = strftime(expanded, sizeof(expanded), base, &tm);
#pragma GCC diagnostic pop
		if (got == 0)
			return -1;
	} else if ((size_t)snprintf(expanded, sizeof(expanded), "%s", base) >= sizeof(expanded)) {
		return -1;
	}
	if (cnt == 0 && digits == 0)
		len = snprintf(dst, n, "%s", expanded);
	else
		len = snprintf(dst, n, "%s%0*ld", expanded, digits, cnt);
	return len < 0 || (size_t)len >= n ? -1 : 0;
}

int cc_rot_state_path(char *dst, size_t n, const char *base)
{
	char dir[4096];
	uint64_t h = 0xcbf29ce484222325ull;     /* FNV-1a */
	int len;

	for (const char *p = base; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
	if (cc_rundir(dir, sizeof(dir), 1) < 0)
		return -1;
	len = snprintf(dst, n, "%s/rotate-%016llx", dir, (unsigned long long)h);
	return len < 0 || (size_t)len >= n ? -1 : 0;
}

/* The state file of base, locked (create: made where there is none); its fd, or -1. */
static int lock_state_file(const char *base, int create)
{
	char path[4200];
	int fd;

	if (cc_rot_state_path(path, sizeof(path), base) < 0)
		return -1;
	fd = open(path, O_RDWR | (create ? O_CREAT : 0) | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX) < 0) {
		syscall(SYS_close, fd);
		return -1;
	}
	return fd;
}

static int lock_state(const char *base)
{
	return lock_state_file(base, 1);
}

static void unlock_state(int fd)
{
	flock(fd, LOCK_UN);
	syscall(SYS_close, fd);         /* not close(): the shim hooks it */
}

static int member_runs(const struct cc_rot_member *m)
{
	uint64_t start;

	/* A pid used again by another process has another start time; a zombie has ended. */
	return m->pid && (start = cc_proc_live_start(m->pid)) != 0 && start == m->start;
}

/* A running member, another process rather than this one; 0 if none.  Called with the lock held. */
static uint32_t member_alive_locked(const struct cc_rot_state *s)
{
	uint32_t self = (uint32_t)getpid(), found = 0;

	for (int i = 0; i < CC_ROT_MEMBERS; i++)
		if ((s->members[i].pid != self || !found) && member_runs(&s->members[i])) {
			found = s->members[i].pid;
			if (found != self)
				break;
		}
	return found;
}

uint32_t cc_rot_member_alive(struct cc_rot_state *s)
{
	/* For a message: no lock, a stale answer is harmless. */
	return member_alive_locked(s);
}

void cc_rot_join(struct cc_rot_state *s, const char *base)
{
	uint32_t pid = (uint32_t)getpid();
	uint64_t start = cc_proc_start(pid);
	int fd = lock_state(base), free_at = -1;

	if (fd < 0)
		return;
	for (int i = 0; i < CC_ROT_MEMBERS; i++) {
		struct cc_rot_member *m = &s->members[i];
		if (m->pid == pid && m->start == start)
			goto out;
		if (free_at < 0 && m->pid == 0)
			free_at = i;
	}
	/* Full: the first that has exited makes room (a full list of running members keeps it done). */
	for (int i = 0; free_at < 0 && i < CC_ROT_MEMBERS; i++)
		if (!member_runs(&s->members[i]))
			free_at = i;
	if (free_at >= 0) {
		s->members[free_at].pid = pid;
		s->members[free_at].start = start;
	}
out:
	unlock_state(fd);
}

/* Called with the lock held: publishes a new current file. */
static void publish(struct cc_rot_state *s, uint64_t gen, time_t start, long cnt, const char *name)
{
	__atomic_fetch_add(&s->seq, 1, __ATOMIC_ACQ_REL);
	s->gen = gen;
	s->start = start;
	s->cnt = cnt;
	snprintf(s->name, sizeof(s->name), "%s", name);
	__atomic_fetch_add(&s->seq, 1, __ATOMIC_RELEASE);
}

/*
 * Where a size rotation with no state goes on (a first run, or one whose state directory was
 * emptied, at reboot say): after the files an earlier run left, which this run appends to (the
 * wrapper without -a removed the first of them) - not at the first again, whose next rotation
 * would replace the second.  A ring (-W) goes on in its newest file; numbered files after the
 * last there is.  Names by time (-G) are new anyway.
 */
static long continue_at(const char *base, const struct cc_rot_cfg *cfg, time_t now)
{
	char name[CC_ROT_NAME_MAX];
	struct stat st;
	long at = 0;
	struct timespec newest = { 0, 0 };

	if (cfg->seconds || cc_rot_name(name, sizeof(name), base, cfg, now, 0) < 0 || stat(name, &st) < 0)
		return 0;
	newest = st.st_mtim;
	for (long cnt = 1; cfg->files ? cnt < cfg->files : cnt < 1000000; cnt++) {
		if (cc_rot_name(name, sizeof(name), base, cfg, now, cnt) < 0)
			break;
		if (stat(name, &st) < 0) {
			if (!cfg->files)
				break;
			continue;
		}
		if (!cfg->files || st.st_mtim.tv_sec > newest.tv_sec ||
		    (st.st_mtim.tv_sec == newest.tv_sec && st.st_mtim.tv_nsec > newest.tv_nsec)) {
			at = cnt;
			newest = st.st_mtim;
		}
	}
	return at;
}

struct cc_rot_state *cc_rot_attach(const char *base, const struct cc_rot_cfg *cfg)
{
	struct cc_rot_state *s;
	struct stat st;
	int fd = lock_state(base);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || (st.st_size < (off_t)sizeof(*s) && ftruncate(fd, sizeof(*s)) < 0)) {
		unlock_state(fd);
		return NULL;
	}
	s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (s == MAP_FAILED) {
		unlock_state(fd);
		return NULL;
	}
	/*
	 * A state left by an earlier run whose file is gone starts over at file 0; so does a -G -W
	 * rotation that is done once none of its processes runs: the run that wrote it is over,
	 * and this one starts its own files, as a new tcpdump -G -W does.
	 */
	int over = s->magic == CC_ROT_MAGIC && s->done && !member_alive_locked(s);
	if (s->magic != CC_ROT_MAGIC || over)
		memset(s->members, 0, sizeof(s->members));
	if (s->magic != CC_ROT_MAGIC || access(s->name, F_OK) < 0 || over) {
		char name[CC_ROT_NAME_MAX];
		time_t now = time(NULL);
		long cnt = continue_at(base, cfg, now);

		if (cc_rot_name(name, sizeof(name), base, cfg, now, cnt) < 0) {
			munmap(s, sizeof(*s));
			unlock_state(fd);
			return NULL;
		}
		s->done = 0;
		publish(s, 0, now, cnt, name);
		snprintf(s->first, sizeof(s->first), "%s", name);
		s->magic = CC_ROT_MAGIC;
	}
	unlock_state(fd);
	return s;
}

int cc_rot_first(const char *base, char *name, size_t n)
{
	struct cc_rot_state *s;
	struct stat st;
	int fd = lock_state_file(base, 0), rc = -1;     /* (no state file made where none is) */

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) == 0 && st.st_size >= (off_t)sizeof(*s)) {
		s = mmap(NULL, sizeof(*s), PROT_READ, MAP_SHARED, fd, 0);
		if (s != MAP_FAILED) {
			if (s->magic == CC_ROT_MAGIC && s->first[0] && memchr(s->first, 0, sizeof(s->first))) {
				snprintf(name, n, "%s", s->first);
				rc = 0;
			}
			munmap(s, sizeof(*s));
		}
	}
	unlock_state(fd);
	return rc;
}

void cc_rot_current(struct cc_rot_state *s, const char *base, char *name, size_t n, uint64_t *gen)
{
	/* Rare (once per file and process): the state's lock keeps name and generation together. */
	int fd = lock_state(base);

	*gen = __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE);
	snprintf(name, n, "%s", s->name);
	if (fd >= 0)
		unlock_state(fd);
}

int cc_rot_advance(struct cc_rot_state *s, const char *base, const struct cc_rot_cfg *cfg, uint64_t from,
		   const uint8_t *hdr, size_t hlen)
{
	char name[CC_ROT_NAME_MAX];
	int fd = lock_state(base);
	int rc = -1;

	if (fd < 0)
		return -1;
	if (__atomic_load_n(&s->gen, __ATOMIC_RELAXED) != from) {
		rc = 1;         /* another process rotated first */
		goto out;
	}
	if (s->done) {
		rc = 0;
		goto out;
	}
	time_t now = time(NULL);
	long cnt;
	time_t start = s->start;
	int by_time = cfg->seconds && now >= s->start + cfg->seconds;

	if (by_time) {
		/* tcpdump: a new time-named file, its count back to 0; -W without -C ends the capture. */
		if (cfg->files && !cfg->size && (long)(from + 1) >= cfg->files) {
			s->done = 1;
			rc = 0;
			goto out;
		}
		cnt = 0;
		start = now;
	} else {
		cnt = s->cnt + 1;
		if (cfg->files && cnt >= cfg->files)
			cnt = 0;
	}
	if (cc_rot_name(name, sizeof(name), base, cfg, start, cnt) < 0)
		goto out;
	/* The ring's oldest file, or a file of an earlier run with this name, is replaced. */
	if (unlink(name) < 0 && errno != ENOENT)
		goto out;
	int nfd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (nfd < 0)
		goto out;
	long w = syscall(SYS_write, nfd, hdr, hlen);
	syscall(SYS_close, nfd);
	if (w != (ssize_t)hlen)
		goto out;
	publish(s, from + 1, start, cnt, name);
	rc = 1;
out:
	unlock_state(fd);
	return rc;
}
