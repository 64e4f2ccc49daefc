/*
 * `clearcap ctl PID|all status|pause|resume|reopen FILE`: runtime control through each
 * process's control page (pcapout/pages.h).  No signal is sent: the program may own them all.
 *
 * pause/resume flip the page's `on` word, which the process reads on every packet; reopen is a
 * request its writer thread takes within 30 ms (or, before the process has written anything, at
 * its next packet).  `all` means every process of this user with a live control page; pages
 * left by killed processes are removed on the way.
 */
#include "tools/daily.h"
#include "pcapout/pages.h"
#include "pcapout/rundir.h"
#include "tools/usage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum op { OP_STATUS, OP_PAUSE, OP_RESUME, OP_REOPEN };

struct target {
	unsigned pid;
	char path[PATH_MAX];
	struct cc_ctl *c;
	uint64_t seq;           /* reopen request sent */
};

static void ctl_help(void)
{
	fputs("Usage: clearcap ctl PID|all status|pause|resume|reopen FILE\n"
	      "Control running captured processes (started by clearcap or with CLEARCAP_FILE) through\n"
	      "their control pages, without signals.  'all' is every process of this user with one.\n"
	      "  status             state, file, packets, bytes, drops and the capture buffer's size\n"
	      "  pause, resume      stop and restart capturing packets (secrets are still kept)\n"
	      "  reopen FILE        write to FILE from now on\n", stdout);
}

#define CTL_COMMANDS "status, pause, resume or reopen FILE"

/* Is the page mapped by a live process (not a leftover of a killed one with its pid reused)? */
static bool live(unsigned pid, const char *path)
{
	char maps[64], line[PATH_MAX + 256];
	bool found = false;
	FILE *f;

	snprintf(maps, sizeof maps, "/proc/%u/maps", pid);
	f = fopen(maps, "re");
	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof line, f) != NULL) {
		char *p = strchr(line, '/');
		if (p != NULL) {
			p[strcspn(p, "\n")] = '\0';
			found = strcmp(p, path) == 0;
		}
	}
	fclose(f);
	return found;
}

static struct cc_ctl *map_page(const char *path)
{
	int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	struct cc_ctl *c;

	if (fd < 0)
		return NULL;
	c = mmap(NULL, CC_CTL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (c == MAP_FAILED)
		return NULL;
	if (__atomic_load_n(&c->magic, __ATOMIC_ACQUIRE) != CC_CTL_MAGIC) {
		munmap(c, CC_CTL_SIZE);
		return NULL;
	}
	return c;
}

/* Fills t for pid; false (and the stale page removed) when it has no live page. */
static bool find(const char *dir, unsigned pid, struct target *t)
{
	memset(t, 0, sizeof *t);
	t->pid = pid;
	snprintf(t->path, sizeof t->path, "%s/ctl-%u", dir, pid);
	if (!live(pid, t->path)) {
		if (access(t->path, F_OK) == 0 && access("/proc/self", F_OK) == 0) {
			char proc[32];
			snprintf(proc, sizeof proc, "/proc/%u", pid);
			if (access(proc, F_OK) < 0)
				unlink(t->path);        /* its process is gone */
		}
		return false;
	}
	t->c = map_page(t->path);
	return t->c != NULL;
}

static const char *state_name(const struct cc_ctl *c)
{
	uint32_t st = __atomic_load_n(&c->state, __ATOMIC_ACQUIRE);

	if (!__atomic_load_n(&c->on, __ATOMIC_RELAXED))
		return st == CC_CTL_NOFILE ? "off (no file)" : "paused";
	switch (st) {
	case CC_CTL_RUNNING: return "capturing";
	case CC_CTL_BROKEN:  return "stopped (error)";
	case CC_CTL_NOFILE:  return "off (no file)";
	default:             return "on (nothing written yet)";
	}
}

static void print_status(const struct target *t)
{
	const struct cc_ctl *c = t->c;
	uint64_t buf = __atomic_load_n(&c->buffer, __ATOMIC_RELAXED);
	uint64_t buf_max = __atomic_load_n(&c->buffer_max, __ATOMIC_RELAXED);

	printf("%u %s: %s, file %s, %llu packets, %llu bytes, %llu dropped", t->pid, c->comm, state_name(c),
	       c->file[0] ? c->file : c->base[0] ? c->base : "-",
	       (unsigned long long)__atomic_load_n(&c->captured, __ATOMIC_RELAXED),
	       (unsigned long long)__atomic_load_n(&c->bytes, __ATOMIC_RELAXED),
	       (unsigned long long)__atomic_load_n(&c->dropped, __ATOMIC_RELAXED));
	/* The capture buffer grows under load, up to CLEARCAP_BUFFER (-B); not known before the first pass. */
	uint64_t peak = __atomic_load_n(&c->buffer_peak, __ATOMIC_RELAXED);
	if (buf && buf_max)
		printf(", buffer %llu of %llu MiB", (unsigned long long)(buf >> 20), (unsigned long long)(buf_max >> 20));
	if (buf && peak > buf)
		printf(" (grew to %llu under load)", (unsigned long long)(peak >> 20));
	putchar('\n');
}

/*
 * Turns capture on or off, and keeps the time paused on the page (pages.h), which the process
 * hands to the wrapper's summary at exit.
 */
static void set_on(struct cc_ctl *c, uint32_t on)
{
	uint64_t now = cc_ctl_clock();

	if (!on && __atomic_load_n(&c->on, __ATOMIC_RELAXED))
		__atomic_store_n(&c->paused_at, now, __ATOMIC_RELAXED);
	uint32_t was = __atomic_exchange_n(&c->on, on, __ATOMIC_RELEASE);
	if (on && !was) {
		uint64_t at = __atomic_exchange_n(&c->paused_at, 0, __ATOMIC_RELAXED);
		if (at && now > at)
			__atomic_fetch_add(&c->paused_ns, now - at, __ATOMIC_RELAXED);
	}
}

static int apply(struct target *t, enum op op, const char *file)
{
	struct cc_ctl *c = t->c;

	switch (op) {
	case OP_STATUS:
		print_status(t);
		return 0;
	case OP_PAUSE:
		set_on(c, 0);
		printf("%u %s: paused\n", t->pid, c->comm);
		return 0;
	case OP_RESUME:
		if (!c->base[0] && !c->file[0]) {
			fprintf(stderr, "clearcap: %u: no capture file yet; use 'clearcap ctl %u reopen FILE'\n",
				t->pid, t->pid);
			return 1;
		}
		set_on(c, 1);
		printf("%u %s: resumed\n", t->pid, c->comm);
		return 0;
	case OP_REOPEN:
		snprintf(c->req_path, sizeof c->req_path, "%s", file);
		c->req_op = CC_CTL_OP_REOPEN;
		t->seq = __atomic_add_fetch(&c->req_seq, 1, __ATOMIC_ACQ_REL);
		set_on(c, 1);
		return 0;
	}
	return 1;
}

/* A process's reason for refusing a reopen's file (ack_rc): an errno value or a CC_CTL_RC_*. */
static const char *refusal(int rc)
{
	switch (rc) {
	case CC_CTL_RC_NOT_CAPTURE:
		return "it exists and is not a clearcap capture in this capture's format (pcapng or pcap)";
	case CC_CTL_RC_NOT_REGULAR:
		return "not a regular file or a FIFO";
	case CC_CTL_RC_LOCKED:
		return "another process keeps it locked";
	case CC_CTL_RC_NO_READER:
		return "nobody reads that FIFO";
	case CC_CTL_RC_NOT_FIFO:
		return "it stopped being a FIFO";
	default:
		return strerror(rc);
	}
}

/* Waits (1 s at most) for the writer threads to answer the reopen requests. */
static int finish_reopen(struct target *ts, size_t n, const char *file)
{
	struct timespec tick = { 0, 5000000 };
	int rc = 0;

	for (int i = 0; i < 200; i++) {
		size_t done = 0;
		for (size_t k = 0; k < n; k++)
			done += __atomic_load_n(&ts[k].c->ack_seq, __ATOMIC_ACQUIRE) == ts[k].seq;
		if (done == n)
			break;
		nanosleep(&tick, NULL);
	}
	for (size_t k = 0; k < n; k++) {
		struct cc_ctl *c = ts[k].c;
		if (__atomic_load_n(&c->ack_seq, __ATOMIC_ACQUIRE) != ts[k].seq) {
			printf("%u %s: will write %s from its next packet\n", ts[k].pid, c->comm, file);
		} else if (c->ack_rc != 0) {
			fprintf(stderr, "clearcap: %u: cannot reopen %s: %s (still writing %s)\n", ts[k].pid, file,
				refusal(c->ack_rc), c->file);
			rc = 1;
		} else {
			printf("%u %s: writing %s\n", ts[k].pid, c->comm, file);
		}
	}
	return rc;
}

int cmd_ctl(int argc, char **argv)
{
	char file[PATH_MAX] = "";
	struct target *ts = NULL;
	size_t n = 0;
	enum op op;
	int rc = 0;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		ctl_help();
		return 0;
	}
	if (argc < 2)
		return cc_usage_error("ctl", "no PID (or 'all') given");
	if (argc < 3)
		return cc_usage_error("ctl", "no command given: " CTL_COMMANDS);
	if (strcmp(argv[2], "status") == 0)
		op = OP_STATUS;
	else if (strcmp(argv[2], "pause") == 0)
		op = OP_PAUSE;
	else if (strcmp(argv[2], "resume") == 0)
		op = OP_RESUME;
	else if (strcmp(argv[2], "reopen") == 0)
		op = OP_REOPEN;
	else
		return cc_usage_error("ctl", "unknown command '%s': expected " CTL_COMMANDS, argv[2]);
	if (op == OP_REOPEN && (argc < 4 || argv[3][0] == '\0'))
		return cc_usage_error("ctl", "reopen needs a FILE");
	if (argc > (op == OP_REOPEN ? 4 : 3))
		return cc_usage_error("ctl", "'%s' is one argument too many", argv[op == OP_REOPEN ? 4 : 3]);
	if (op == OP_REOPEN) {
		/* The process may run elsewhere: it gets an absolute name. */
		char cwd[PATH_MAX];
		if (argv[3][0] == '/')
			snprintf(file, sizeof file, "%s", argv[3]);
		else if (getcwd(cwd, sizeof cwd) == NULL ||
			 (size_t)snprintf(file, sizeof file, "%s/%s", cwd, argv[3]) >= sizeof file) {
			fprintf(stderr, "clearcap: %s: name too long\n", argv[3]);
			return 2;
		}
	}
	/*
	 * A process may see another XDG_RUNTIME_DIR than we do (a service has none, sudo drops it):
	 * look in ours and in the /tmp fallback.
	 */
	char dirs[2][PATH_MAX];
	int ndirs = 0;

	if (cc_rundir(dirs[0], sizeof dirs[0], 0) == 0)
		ndirs++;
	snprintf(dirs[ndirs], sizeof dirs[ndirs], "/tmp/clearcap-%u", (unsigned)getuid());
	if (ndirs == 0 || strcmp(dirs[0], dirs[1]) != 0) {
		struct stat st;
		if (lstat(dirs[ndirs], &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == getuid() && !(st.st_mode & 077))
			ndirs++;
	}
	if (strcmp(argv[1], "all") == 0) {
		for (int k = 0; k < ndirs; k++) {
			DIR *d = opendir(dirs[k]);
			struct dirent *de;

			while (d != NULL && (de = readdir(d)) != NULL) {
				char *end;
				unsigned long pid;

				if (strncmp(de->d_name, "ctl-", 4) != 0)
					continue;
				pid = strtoul(de->d_name + 4, &end, 10);
				if (*end || pid == 0)
					continue;
				ts = realloc(ts, (n + 1) * sizeof *ts);
				if (ts == NULL)
					return 2;
				if (find(dirs[k], (unsigned)pid, &ts[n]))
					n++;
			}
			if (d != NULL)
				closedir(d);
		}
		if (n == 0 && op != OP_STATUS) {
			fprintf(stderr, "clearcap: no captured process\n");
			return 1;
		}
	} else {
		char *end;
		unsigned long pid = strtoul(argv[1], &end, 10);
		bool found = false;

		if (*end || pid == 0 || pid > UINT32_MAX)
			return cc_usage_error("ctl", "'%s' is not a PID or 'all'", argv[1]);
		ts = calloc(1, sizeof *ts);
		if (ts == NULL)
			return 2;
		for (int k = 0; k < ndirs && !found; k++)
			found = find(dirs[k], (unsigned)pid, &ts[0]);
		if (!found) {
			fprintf(stderr, "clearcap: %lu: no captured process with a control page\n", pid);
			return 1;
		}
		n = 1;
	}
	for (size_t k = 0; k < n; k++)
		rc |= apply(&ts[k], op, file);
	if (op == OP_REOPEN)
		rc |= finish_reopen(ts, n, file);
	return rc;
}
