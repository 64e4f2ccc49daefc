/*
 * The control page of this process (see pcapout/pages.h).  Nothing here runs per packet:
 * the writer reads the page's `on` word and polls its requests.
 */
#include "shim/control.h"
#include "pcapout/pages.h"
#include "shim/hooks.h"
#include "pcapout/rundir.h"
#include "pcapout/writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static struct cc_ctl *page;
static char page_path[4200];
static uint64_t page_start;     /* our start time, in the page's reserved word */

static struct cc_ctl *create(uint32_t pid, int *same_process)
{
	char dir[4096];
	struct stat st;
	struct cc_ctl *c;
	int fd;

	*same_process = 0;
	if (cc_rundir(dir, sizeof(dir), 1) < 0)
		return NULL;
	snprintf(page_path, sizeof(page_path), "%s/ctl-%u", dir, pid);
	fd = open(page_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || (st.st_size < CC_CTL_SIZE && ftruncate(fd, CC_CTL_SIZE) < 0)) {
		syscall(SYS_close, fd);
		return NULL;
	}
	c = mmap(NULL, CC_CTL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	syscall(SYS_close, fd);
	if (c == MAP_FAILED)
		return NULL;
	page_start = cc_proc_start(0);
	/* version holds the start time's check: an exec'd image of us keeps the page's settings. */
	*same_process = c->magic == CC_CTL_MAGIC && c->pid == pid && c->version == (CC_CTL_VERSION | page_start << 8);
	return c;
}

static void fill(struct cc_ctl *c, uint32_t pid, uint32_t on, const char *comm, const char *base,
		 const char *env_file, uint32_t reopened)
{
	uint64_t seq = __atomic_load_n(&c->req_seq, __ATOMIC_RELAXED);

	memset(c, 0, sizeof(*c));
	c->pid = pid;
	c->on = on;
	c->reopened = reopened;
	c->req_seq = c->ack_seq = seq;
	snprintf(c->comm, sizeof(c->comm), "%s", comm ? comm : "");
	snprintf(c->base, sizeof(c->base), "%s", base ? base : "");
	snprintf(c->env_file, sizeof(c->env_file), "%s", env_file ? env_file : "");
	c->version = CC_CTL_VERSION | page_start << 8;
	__atomic_store_n(&c->magic, CC_CTL_MAGIC, __ATOMIC_RELEASE);
}

/*
 * The live page of our parent, read-only, or NULL: a process made by vfork or posix_spawn and
 * then exec'd (no fork handler ran, so it has no page of its own yet) starts as its parent is,
 * as a forked child does (cc_control_atfork_child).  Live: its start time checks, so a page left
 * by a dead process whose pid was reused is not taken.
 */
static struct cc_ctl *parent_page(void)
{
	char dir[4096], path[4200];
	uint32_t ppid = (uint32_t)getppid();
	struct stat st;
	struct cc_ctl *c;

	if (ppid <= 1 || cc_rundir(dir, sizeof(dir), 0) < 0)
		return NULL;
	snprintf(path, sizeof(path), "%s/ctl-%u", dir, ppid);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	c = fstat(fd, &st) == 0 && st.st_size >= CC_CTL_SIZE ? mmap(NULL, CC_CTL_SIZE, PROT_READ, MAP_SHARED, fd, 0)
							     : MAP_FAILED;
	syscall(SYS_close, fd);
	if (c == MAP_FAILED)
		return NULL;
	if (__atomic_load_n(&c->magic, __ATOMIC_ACQUIRE) == CC_CTL_MAGIC && c->pid == ppid &&
	    c->version == (CC_CTL_VERSION | cc_proc_start(ppid) << 8))
		return c;
	munmap(c, CC_CTL_SIZE);
	return NULL;
}

const char *cc_control_init(int paused, const char *comm, const char *file)
{
	static char base[CC_CTL_PATH];
	int same;
	uint32_t pid = (uint32_t)getpid();
	struct cc_ctl *c = create(pid, &same);

	if (!c)
		return NULL;
	page = c;
	if (same) {
		/*
		 * exec: the switch carries over to the new image, and so does a file set by `ctl
		 * reopen` -- unless the program changed CLEARCAP_FILE for the new image itself, which
		 * is its own choice (a script starting each peer with its own file).
		 */
		uint32_t on = __atomic_load_n(&c->on, __ATOMIC_RELAXED);
		uint64_t paused_at = c->paused_at, paused_ns = c->paused_ns;
		int keep = c->reopened && c->base[0] && strcmp(c->env_file, file ? file : "") == 0;
		snprintf(base, sizeof(base), "%s", keep ? c->base : "");
		fill(c, pid, on, comm, keep ? base : file, file, (uint32_t)keep);
		c->paused_at = paused_at;
		c->paused_ns = paused_ns;
		cc_writer_set_ctl(c);
		return keep ? base : NULL;
	}
	/*
	 * A new process: paused if its parent is (a parent paused by `clearcap ctl` keeps its
	 * posix_spawn'd children out too), and writing to the file `ctl reopen` gave the parent
	 * unless CLEARCAP_FILE was changed for it, as across an exec.
	 */
	struct cc_ctl *pp = paused ? NULL : parent_page();
	uint32_t on = !paused;
	int keep = 0;
	if (pp) {
		on = __atomic_load_n(&pp->on, __ATOMIC_RELAXED);
		keep = pp->reopened && pp->base[0] && strcmp(pp->env_file, file ? file : "") == 0;
		snprintf(base, sizeof(base), "%s", keep ? pp->base : "");
		munmap(pp, CC_CTL_SIZE);
	}
	fill(c, pid, on, comm, keep ? base : file, file, (uint32_t)keep);
	if (paused)
		c->state = CC_CTL_NOFILE;
	else if (!on)
		c->paused_at = cc_ctl_clock();  /* born paused: its pause began now */
	cc_writer_set_ctl(c);
	return keep ? base : NULL;
}

void cc_control_atfork_child(void)
{
	struct cc_ctl *parent = page;
	char base[CC_CTL_PATH], env_file[CC_CTL_PATH], comm[sizeof(parent->comm)];
	uint32_t on, reopened;
	int same;

	if (!parent)
		return;
	on = __atomic_load_n(&parent->on, __ATOMIC_RELAXED);
	reopened = parent->reopened;
	memcpy(base, parent->base, sizeof(base));
	base[sizeof(base) - 1] = 0;
	memcpy(env_file, parent->env_file, sizeof(env_file));
	env_file[sizeof(env_file) - 1] = 0;
	memcpy(comm, parent->comm, sizeof(comm));
	munmap(parent, CC_CTL_SIZE);
	page = NULL;
	cc_writer_set_ctl(NULL);
	struct cc_ctl *c = create((uint32_t)getpid(), &same);
	if (!c)
		return;
	page = c;
	fill(c, (uint32_t)getpid(), on, comm, base, env_file, reopened);
	/* Born paused: its pause began now (the parent's time so far is the parent's). */
	if (!on)
		c->paused_at = cc_ctl_clock();
	cc_writer_set_ctl(c);
}

void cc_control_exit(void)
{
	if (page && page->pid == (uint32_t)getpid()) {
		/* How long `clearcap ctl` kept this process paused, for the wrapper's summary. */
		cc_writer_note_paused(cc_ctl_paused_for(page, cc_ctl_clock()));
		unlink(page_path);
	}
}
