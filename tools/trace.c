/*
 * The system-call tracer: which programs need it, the child's half (no new privileges, a seccomp
 * filter) and the tracer loop, which handles ptrace stops the way strace does.
 *
 * The filter returns SECCOMP_RET_TRACE for the network calls only (trace_sys.c lists them), so
 * the program runs at full speed between them.  At the seccomp stop the call is looked at; when
 * its result matters (every send and receive on a socket) the tracee is resumed with
 * PTRACE_SYSCALL to stop once more at the call's exit, where the return value says what moved.
 * Everything else is resumed with PTRACE_CONT.
 *
 * Tracees are seized (PTRACE_SEIZE), so a group stop is told from a signal: a stop signal is
 * held with PTRACE_LISTEN until SIGCONT, and every other signal is passed on unchanged.  Every
 * thread, fork, vfork and exec is followed (a Go program runs many threads).  PTRACE_O_EXITKILL
 * takes the program down with us should the wrapper die, since its filter would otherwise make
 * each network call fail with ENOSYS.
 */
#include "tools/daily.h"
#include "tools/trace.h"
#include "tools/trace_int.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#else
#error "system-call tracing: unknown architecture"
#endif

#define OPTIONS (PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACESECCOMP | PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | \
		 PTRACE_O_TRACEVFORK | PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL)

#define FLUSH_US 100000         /* records wait at most this long in the buffer */

/* ---- Which programs ---- */

/* The file execvp would run for argv0, into buf; 0 or -1. */
static int resolve(const char *argv0, char *buf, size_t size)
{
	const char *path = getenv("PATH");

	if (strchr(argv0, '/') != NULL)
		return snprintf(buf, size, "%s", argv0) < (int)size ? 0 : -1;
	if (path == NULL)
		path = "/bin:/usr/bin";
	while (*path) {
		size_t len = strcspn(path, ":");
		struct stat st;

		if (snprintf(buf, size, "%.*s%s%s", (int)len, path, len ? "/" : "", argv0) < (int)size &&
		    stat(buf, &st) == 0 && S_ISREG(st.st_mode) && access(buf, X_OK) == 0)
			return 0;
		path += len;
		path += *path == ':';
	}
	return -1;
}

static int read_at(int fd, void *buf, size_t len, uint64_t off)
{
	return pread(fd, buf, len, (off_t)off) == (ssize_t)len ? 0 : -1;
}

/* Whether the ELF file has a section of this name (Go writes .go.buildinfo into every binary). */
static int has_section(int fd, const Elf64_Ehdr *eh, const char *name)
{
	Elf64_Shdr strsh, sh;
	char s[32];

	if (eh->e_shentsize != sizeof sh || eh->e_shstrndx == SHN_UNDEF || eh->e_shnum > 4096 ||
	    eh->e_shstrndx >= eh->e_shnum ||
	    read_at(fd, &strsh, sizeof strsh, eh->e_shoff + (uint64_t)eh->e_shstrndx * sizeof sh) < 0)
		return 0;
	for (unsigned i = 0; i < eh->e_shnum; i++) {
		if (read_at(fd, &sh, sizeof sh, eh->e_shoff + (uint64_t)i * sizeof sh) < 0 ||
		    sh.sh_name >= strsh.sh_size)
			return 0;
		memset(s, 0, sizeof s);
		if (pread(fd, s, sizeof s - 1, (off_t)(strsh.sh_offset + sh.sh_name)) > 0 && strcmp(s, name) == 0)
			return 1;
	}
	return 0;
}

int cc_trace_detect(const char *argv0, char *why, size_t size)
{
	char path[4096];
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	struct stat st;
	int fd, interp = 0, r = 0;

	if (resolve(argv0, path, sizeof path) < 0)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	/*
	 * The filter needs no_new_privs, under which a set-uid, set-gid or file-capability program
	 * runs without its privileges: such a program is left alone (and uncaptured, as by the shim).
	 */
	if (fstat(fd, &st) < 0 || (st.st_mode & (S_ISUID | S_ISGID)) ||
	    fgetxattr(fd, "security.capability", NULL, 0) > 0)
		goto out;
	/* A 32-bit program makes other system calls than the filter knows: not ours to trace. */
	if (read_at(fd, &eh, sizeof eh, 0) < 0 || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof ph || eh.e_phnum > 4096)
		goto out;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		if (read_at(fd, &ph, sizeof ph, eh.e_phoff + (uint64_t)i * sizeof ph) < 0)
			goto out;
		if (ph.p_type == PT_INTERP)
			interp = 1;
	}
	if (!interp) {
		snprintf(why, size, "static");
		r = 1;
	} else if (has_section(fd, &eh, ".go.buildinfo")) {
		snprintf(why, size, "Go");
		r = 1;
	}
out:
	close(fd);
	return r;
}

/* ---- The child ---- */

int cc_trace_child(void)
{
	size_t n;
	const long *nr = cc_trace_calls(&n);
	struct sock_filter f[64];
	size_t k = 0;
	struct sock_fprog prog;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	/* Stopped until the parent has seized us: a traced call before that would fail (ENOSYS). */
	kill(getpid(), SIGSTOP);

	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	/* fcntl only when it duplicates a descriptor: its other uses are frequent and harmless. */
	f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_fcntl, 0, 5);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1]));
	f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, F_DUPFD, 2, 0);
	f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, F_DUPFD_CLOEXEC, 1, 0);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE);
	/* getsockopt only for SO_ERROR, how a non-blocking connect's outcome is asked (Go's every connect). */
	f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getsockopt, 0, 6);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1]));
	f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SOL_SOCKET, 0, 2);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2]));
	f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SO_ERROR, 1, 0);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE);
	for (size_t i = 0; i < n && k < sizeof f / sizeof f[0] - 2; i++)
		f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr[i],
						      (uint8_t)(n - i), 0);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE);
	prog.len = (unsigned short)k;
	prog.filter = f;
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

/* ---- Threads ---- */

#define TBUCKETS 256

static struct tthread *threads[TBUCKETS];

static struct tthread *find(pid_t tid)
{
	for (struct tthread *t = threads[(unsigned)tid % TBUCKETS]; t != NULL; t = t->next)
		if (t->tid == tid)
			return t;
	return NULL;
}

static struct tthread *add(pid_t tid, struct tproc *p)
{
	struct tthread *t = calloc(1, sizeof *t);

	if (t == NULL)
		return NULL;
	t->tid = tid;
	t->proc = p;
	t->next = threads[(unsigned)tid % TBUCKETS];
	threads[(unsigned)tid % TBUCKETS] = t;
	return t;
}

static void drop(struct tthread *t)
{
	struct tthread **pp = &threads[(unsigned)t->tid % TBUCKETS];

	while (*pp != t)
		pp = &(*pp)->next;
	*pp = t->next;
	if (t->proc != NULL && t->proc->refs == 1)
		cc_sys_proc_end(t);
	cc_tproc_put(t->proc);
	free(t);
}

/* ---- Stops ---- */

static void cont(pid_t tid, int sig)
{
	ptrace(PTRACE_CONT, tid, 0, (long)sig);
}

static void seccomp_stop(struct tthread *t)
{
	struct __ptrace_syscall_info info;

	if (ptrace(PTRACE_GET_SYSCALL_INFO, t->tid, sizeof info, &info) <= 0 ||
	    info.op != PTRACE_SYSCALL_INFO_SECCOMP) {
		cont(t->tid, 0);
		return;
	}
	t->nr = (long)info.seccomp.nr;
	memcpy(t->args, info.seccomp.args, sizeof t->args);
	if (cc_sys_enter(t)) {
		/* The syscall-entry stop is behind us (Linux 4.8+): the next stop is the call's exit. */
		t->in_call = 1;
		ptrace(PTRACE_SYSCALL, t->tid, 0, 0);
	} else {
		cont(t->tid, 0);
	}
}

static void syscall_exit(struct tthread *t)
{
	struct __ptrace_syscall_info info;

	if (t->in_call && ptrace(PTRACE_GET_SYSCALL_INFO, t->tid, sizeof info, &info) > 0 &&
	    info.op == PTRACE_SYSCALL_INFO_EXIT)
		cc_sys_exit(t, info.exit.rval, info.exit.is_error);
	t->in_call = 0;
	cont(t->tid, 0);
}

static void stopped(struct tthread *t, int st);

/*
 * The wrapper's signals are passed on from a handler, so that the loop can block in waitpid (one
 * system call per stop, where waiting for SIGCHLD took three).  The program's id is cleared at its
 * main thread's exit stop, while the process still exists: a signal is never sent to an id that
 * was reaped and could be reused.
 */
static volatile sig_atomic_t fwd_pid;
static volatile sig_atomic_t flush_due;

static void on_forward(int sig)
{
	pid_t pid = fwd_pid;
	int e = errno;          /* the loop reads waitpid's EINTR after us */

	if (pid > 0)
		kill(pid, sig);
	errno = e;
}

static void on_alarm(int sig)
{
	(void)sig;
	flush_due = 1;
}

/*
 * Whether tid is a thread of the process tgid.  A clone that is not a thread (no CLONE_THREAD,
 * an exit signal other than SIGCHLD) is reported as a clone too; it gets a copy of the table,
 * which is right unless it also shares the descriptors (CLONE_FILES alone: rare).
 */
static long status_field(pid_t tid, const char *name);

static int same_group(pid_t tid, pid_t tgid)
{
	long g = status_field(tid, "Tgid:");

	return g < 0 || g == tgid;
}

/* One number from /proc/PID/status ("Tgid:", "PPid:"), or -1. */
static long status_field(pid_t tid, const char *name)
{
	char path[64], line[128];
	size_t n = strlen(name);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)tid);
	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, name, n) == 0) {
			v = atol(line + n);
			break;
		}
	fclose(f);
	return v;
}

/*
 * The descriptor table of a tracee whose first stop came before its creator's event.  The creator
 * is held at that event (or about to stop there) until we resume it, so its table is still the
 * one the new tracee started with: a thread shares its group's, a new process gets a copy of its
 * parent's.  NULL when neither is known: then it waits for the creator's event.
 */
static struct tproc *from_procfs(pid_t tid)
{
	long tgid = status_field(tid, "Tgid:"), ppid = status_field(tid, "PPid:");
	struct tthread *o;

	if (tgid > 0 && tgid != tid) {
		o = find((pid_t)tgid);
		if (o == NULL || o->proc == NULL)
			return NULL;
		o->proc->refs++;
		return o->proc;
	}
	o = ppid > 0 ? find((pid_t)ppid) : NULL;
	return o != NULL && o->proc != NULL ? cc_tproc_copy(o->proc, tid) : NULL;
}

/* A new thread or process: it shares its creator's descriptors (thread) or has a copy (fork). */
static void created(struct tthread *t, int event)
{
	unsigned long msg = 0;
	struct tproc *np;
	struct tthread *c;

	if (ptrace(PTRACE_GETEVENTMSG, t->tid, 0, &msg) < 0 || msg == 0)
		return;
	c = find((pid_t)msg);
	if (c != NULL && c->proc != NULL)
		return;         /* its first stop came first, and placed it (from_procfs) */
	if (event == PTRACE_EVENT_CLONE && same_group((pid_t)msg, t->proc->pid)) {
		np = t->proc;
		np->refs++;
	} else {
		np = cc_tproc_copy(t->proc, (pid_t)msg);
		if (np == NULL)
			return;
	}
	if (c == NULL) {
		if (add((pid_t)msg, np) == NULL)
			cc_tproc_put(np);
		return;
	}
	c->proc = np;
	if (c->held) {
		c->held = 0;
		stopped(c, c->held_status);
	}
}

static void execed(struct tthread *t)
{
	unsigned long former = 0;

	/* A thread other than the leader execs: it takes the leader's id, its old id is gone. */
	if (ptrace(PTRACE_GETEVENTMSG, t->tid, 0, &former) == 0 && (pid_t)former != t->tid) {
		struct tthread *o = find((pid_t)former);
		if (o != NULL)
			drop(o);
	}
	t->in_call = 0;
	cc_tproc_exec(t->proc, t->tid);
	cc_sys_exec(t);
}

static void stopped(struct tthread *t, int st)
{
	int sig = WSTOPSIG(st);
	int event = (unsigned)st >> 16;

	switch (event) {
	case PTRACE_EVENT_SECCOMP:
		seccomp_stop(t);
		return;
	case PTRACE_EVENT_CLONE:
	case PTRACE_EVENT_FORK:
	case PTRACE_EVENT_VFORK:
		created(t, event);
		cont(t->tid, 0);
		return;
	case PTRACE_EVENT_EXEC:
		execed(t);
		cont(t->tid, 0);
		return;
	case PTRACE_EVENT_EXIT:
		if (t->tid == fwd_pid)
			fwd_pid = 0;
		if (t->proc != NULL && t->proc->refs == 1)
			cc_sys_proc_ending(t);
		cont(t->tid, 0);
		return;
	case PTRACE_EVENT_STOP:
		/* A group stop stays a stop until SIGCONT; other event stops (a new tracee) go on. */
		if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
			ptrace(PTRACE_LISTEN, t->tid, 0, 0);
		else
			cont(t->tid, 0);
		return;
	}
	if (sig == (SIGTRAP | 0x80)) {
		syscall_exit(t);
		return;
	}
	cont(t->tid, sig);      /* a signal for the program: delivered unchanged */
}

/* ---- The loop ---- */

struct run {
	pid_t pid;
	int status, done;
	const struct cc_trace_cfg *cfg;
};

/*
 * Handlers without SA_RESTART, so that waitpid returns for them.  SIGCHLD stays blocked (the loop
 * reaps in waitpid), and so do the signals the wrapper inherited as ignored.
 */
static void signals_on(const struct cc_trace_cfg *cfg, sigset_t *handled)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sigfillset(&sa.sa_mask);
	sigemptyset(handled);
	sa.sa_handler = on_forward;
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGCHLD && sigismember(cfg->waited, sig) == 1 && sigismember(cfg->ignored, sig) != 1) {
			sigaction(sig, &sa, NULL);
			sigaddset(handled, sig);
		}
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	sigaddset(handled, SIGALRM);
	sigprocmask(SIG_UNBLOCK, handled, NULL);
	/* A reader gone (-w -) or a size limit fails our write, counted: it must not kill us and the program. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
}

static void signals_off(const sigset_t *handled)
{
	struct itimerval off;

	memset(&off, 0, sizeof off);
	setitimer(ITIMER_REAL, &off, NULL);
	sigprocmask(SIG_BLOCK, handled, NULL);
	signal(SIGALRM, SIG_DFL);
}

/*
 * Records wait in the buffer at most FLUSH_US: a live reader sees them, a crash loses little.
 * On a terminal the timer runs all along and every third tick redraws the progress line (as the
 * wrapper does four times a second); elsewhere it is armed only while records wait.
 */
static void flush_timer(int *armed, struct progress *pg, int live)
{
	static unsigned ticks;

	if (flush_due) {
		flush_due = 0;
		cc_tout_flush();
		if (!live)
			*armed = 0;
		else if (++ticks % 3 == 0)
			progress_tick(pg);
	}
	if (!*armed && (live || cc_tout_pending())) {
		struct itimerval t = { { 0, live ? FLUSH_US : 0 }, { 0, FLUSH_US } };

		setitimer(ITIMER_REAL, &t, NULL);
		*armed = 1;
	}
}

static void event(struct run *r, pid_t tid, int st)
{
	struct tthread *t = find(tid);

	if (WIFEXITED(st) || WIFSIGNALED(st)) {
		if (tid == r->pid) {
			r->status = st;
			r->done = 1;
		}
		if (t != NULL)
			drop(t);
		return;
	}
	if (!WIFSTOPPED(st))
		return;
	if (t == NULL)
		t = add(tid, NULL);
	if (t == NULL) {
		cont(tid, 0);
		return;
	}
	/* Seen before its creator's event: placed from /proc, or held until that event. */
	if (t->proc == NULL && !t->held)
		t->proc = from_procfs(tid);
	if (t->proc == NULL) {
		t->held = 1;
		t->held_status = st;
		return;
	}
	stopped(t, st);
}

int cc_trace_run(pid_t pid, const struct cc_trace_cfg *cfg)
{
	struct run r = { pid, 0, 0, cfg };
	sigset_t handled;
	struct progress pg;
	struct tproc *p;
	int st, armed = 0, live;

	cc_tout_counters(cfg->counters);
	if (cfg->gens)
		cc_trace_gens = cfg->gens;
	while (waitpid(pid, &st, WUNTRACED) < 0)
		if (errno != EINTR)
			return 2 << 8;
	if (!WIFSTOPPED(st))
		return st;      /* the child failed before exec and said why */
	if (ptrace(PTRACE_SEIZE, pid, 0, (long)OPTIONS) < 0) {
		fprintf(stderr, "clearcap: cannot trace %d: %s (ptrace not permitted here? "
			"try --no-trace)\n", (int)pid, strerror(errno));
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		return 2 << 8;
	}
	p = cc_tproc_new(pid);
	if (p == NULL || add(pid, p) == NULL) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		return 2 << 8;
	}
	fwd_pid = pid;
	live = progress_start(&pg, cfg->counters, cfg->path);
	signals_on(cfg, &handled);
	kill(pid, SIGCONT);
	for (;;) {
		pid_t tid = waitpid(-1, &st, __WALL);

		if (tid > 0)
			event(&r, tid, st);
		else if (errno != EINTR)
			break;          /* ECHILD: every tracee has ended */
		flush_timer(&armed, &pg, live);
	}
	signals_off(&handled);
	cc_tout_close();
	progress_end(&pg);
	return r.status;
}
