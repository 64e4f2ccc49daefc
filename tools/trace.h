/*
 * Capture by system-call tracing, for programs the shim cannot enter: a static binary has no
 * dynamic loader to preload it, and a Go program makes its socket system calls directly, never
 * through libc.  The wrapper traces such a program with ptrace and a seccomp filter that stops
 * it only at network system calls (as `strace --seccomp-bpf` does), reads the data from the
 * program's memory and writes the same frames the shim would: wire only, real 5-tuples.
 *
 * The wrapper calls cc_trace_detect() on the program, cc_trace_open() before it forks,
 * cc_trace_child() in the child before exec, and cc_trace_run() in the parent instead of its
 * own wait.  No privileges are needed: the program is the wrapper's own child.
 */
#ifndef CC_TRACE_H
#define CC_TRACE_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

#include "pcapout/format.h"
#include "pcapout/pages.h"

/* What the wrapper gives the tracer; every pointer outlives the run. */
struct cc_trace_cfg {
	const char *path;               /* the capture file (absolute), or NULL with fd */
	int fd;                         /* a pipe or FIFO whose header is written, or -1 */
	enum cc_format fmt;
	int append;
	const char *filter;             /* -f expression, or NULL */
	struct cc_counters *counters;   /* the run's counters page */
	struct cc_tcp_gens *gens;       /* the run's TCP generations page, or NULL (pcapout/pages.h) */
	const sigset_t *waited;         /* signals the wrapper takes: SIGCHLD and the forwarded ones */
	const sigset_t *ignored;        /* forwarded signals inherited as ignored: never passed on */
};

/*
 * Whether the program named by argv0 (looked up in PATH as execvp does) is one the shim cannot
 * enter: 1 when it is, with why ("static", "Go") copied to why; 0 when it is not or cannot be
 * read (then execvp reports the error).
 */
int cc_trace_detect(const char *argv0, char *why, size_t size);

/* Opens the capture (header, -a check, filter); on failure prints one line and exits 2. */
void cc_trace_open(const struct cc_trace_cfg *cfg);

/*
 * In the forked child before exec (async-signal-safe): no new privileges, stop until the parent
 * has seized us, then install the seccomp filter.  Returns 0, or -1 with errno.
 */
int cc_trace_child(void);

/*
 * Seizes the stopped child, traces it and everything it starts until all have ended, passing on
 * the wrapper's signals.  Returns the child's wait status.
 */
int cc_trace_run(pid_t pid, const struct cc_trace_cfg *cfg);

#endif
