/*
 * The two pages the shim shares with the `clearcap` command: one header, included by shim/,
 * pcapout/ (whose writer fills them) and tools/.
 *
 * The counters page shared between the `clearcap` command and every process it captures.
 *
 * The command creates the file (0600; this page, then the TCP generations: CC_COUNTERS_FILE_SIZE),
 * fills in magic and version, and passes its path in
 * CLEARCAP_COUNTERS.  Each captured process maps it MAP_SHARED once at start-up and its writer
 * thread adds what it wrote or lost with __atomic_fetch_add, so the totals stay right across
 * fork, exec and unrelated processes, and survive a SIGKILL of any of them (the page is the
 * file's).  Fields are only ever added to; a reader takes them with __atomic_load_n.
 */
#ifndef CC_PAGES_H
#define CC_PAGES_H

#include <stdint.h>
#include <time.h>

#define CC_COUNTERS_MAGIC   0x7370616372616c63ULL   /* "clearcaps" little-endian, truncated */
#define CC_COUNTERS_VERSION 1
#define CC_COUNTERS_SIZE    4096
/*
 * After it the file holds the generations of TCP address pairs (struct cc_tcp_gens,
 * pcapout/frame.h, nine pages) of every process of the run, so that a connection one process
 * makes on a pair another process's connection used (the kernel reuses it) starts from other
 * sequence numbers, and the two ends of a connection in two processes agree.
 */
#define CC_COUNTERS_FILE_SIZE (CC_COUNTERS_SIZE + 9 * 4096)

struct cc_counters {
	uint64_t magic;
	uint64_t version;
	uint64_t captured;      /* records written to the capture file */
	uint64_t dropped;       /* records lost: buffer full too long, write error, disk full */
	uint64_t bytes;         /* bytes written to the capture file */
	uint64_t processes;     /* processes that started capturing */
	uint64_t unmatched;     /* plaintext records written without a known flow (marked) */
	uint64_t write_errors;  /* failed writes to the capture file */
	/* plaintext records by how their flow was found: unknown, nested socket call, descriptor
	 * BIO, the SSL's earlier flow, DTLS record match */
	uint64_t plain[5];
	uint64_t srtp_failed;   /* srtp_unprotect(_rtcp) calls that failed (auth, replay, ...) */
	uint64_t filtered;      /* frames the capture filter or class selection declined */
	uint64_t relayed;       /* TURN-relayed datagrams written unwrapped on the relay interface */
	uint64_t loaded;        /* processes whose shim read CLEARCAP_* at start-up (captured or not) */
	uint64_t refused;       /* of those, processes whose configuration was refused (one line each) */
	uint64_t names_used;    /* bytes of names[] claimed, including entries that did not fit */
	uint64_t hep_sent;       /* HEP packets handed to the collector's socket */
	uint64_t hep_dropped;    /* HEP packets not sent: collector down or slow, queue full */
	uint64_t impaired[4];   /* datagrams impairment dropped, delayed, duplicated, reordered */
	uint64_t start_failed;  /* processes whose capture could not start (file, memory; one line each) */
	uint64_t paused;        /* frames not captured because their process was paused (`clearcap ctl`) */
	uint64_t paused_ns;     /* the longest one process was paused (each raises it at its exit) */
	uint64_t told;          /* CC_TOLD_* bits: warnings said once for the whole run */
	/*
	 * Why the first process whose capture could not start (start_failed 0 -> 1) failed:
	 * "NAME (pid N): WARNING", NUL-terminated.  The summary names it, since that process's own
	 * warning went to its stderr, which a daemon may have sent to /dev/null.
	 */
	char start_why[160];
	uint64_t rot_done;      /* processes that found the -W rotation's files written (not start_failed) */
	uint64_t reserved[14];
	/*
	 * The files `clearcap ctl PID reopen FILE` switched processes to, so that the command names
	 * and reads every file of the run: a process claims room with __atomic_fetch_add on
	 * names_used and writes "OFFSET PATH\n", OFFSET being where its records in PATH begin.  An
	 * entry that does not fit is left out; names_used past the end says some were.
	 */
	char names[CC_COUNTERS_SIZE - 64 * 8];
};

/* cc_counters.told: the -G -W rotation found done (said by the run's first process, not each). */
#define CC_TOLD_ROTATION_DONE 1u

/* Fields are only ever added in place of reserved words: names[] starts at word 64. */
_Static_assert(sizeof(struct cc_counters) == CC_COUNTERS_SIZE, "counters page size");
_Static_assert(__builtin_offsetof(struct cc_counters, names) == 64 * 8, "counters page layout changed");

/*
 * Maps an existing counters page (the wrapper made it); NULL if there is none or it is not one.
 * pcapout/writer.c maps it when capture starts, the shim's start-up to count itself loaded.
 */
struct cc_counters *cc_counters_map(const char *path);

/* Maps the run's TCP generations page, the file's second (above); NULL when it has none. */
struct cc_tcp_gens;
struct cc_tcp_gens *cc_counters_gens(const char *path);

/*
 * The control page of one captured process, shared with `clearcap ctl`.
 *
 * Each process running the shim (CLEARCAP_FILE, or CLEARCAP_CTL=1) creates RUNDIR/ctl-PID (see
 * pcapout/rundir.h), 0600, maps it MAP_SHARED and removes it at exit.  No signal is involved:
 * the program may own every signal.
 *
 *   on       written by `clearcap ctl` (pause/resume), read with one relaxed atomic load by every
 *            captured packet: 0 drops the packet before it is built.  Secrets (DSBs) are still
 *            recorded while paused, so that traffic after a resume decrypts.
 *   paused_at, paused_ns
 *            also written by `clearcap ctl`: when the pause in force began (CLOCK_MONOTONIC ns,
 *            0 when capturing) and the time of the pauses before it, which the process adds to
 *            the wrapper's counters page at exit (the summary says how long it was paused).
 *   req_*    a request for the writer thread, which polls every 30 ms at most: the tool fills
 *            req_op and req_path, then bumps req_seq; the process answers with ack_rc and sets
 *            ack_seq = req_seq.
 *   the rest the process's state, file and counters, refreshed by the writer thread.
 *
 * A page whose pid has no process, or whose process does not map it (/proc/PID/maps), is stale
 * (a SIGKILLed process), and `clearcap ctl all` removes it.
 */
#define CC_CTL_MAGIC   0x6c746370616363ULL      /* "ccapctl" */
#define CC_CTL_VERSION 1
#define CC_CTL_SIZE    20480
#define CC_CTL_PATH    4096

enum cc_ctl_state { CC_CTL_IDLE = 0, CC_CTL_RUNNING = 1, CC_CTL_BROKEN = 2, CC_CTL_NOFILE = 3 };
enum cc_ctl_op { CC_CTL_OP_NONE = 0, CC_CTL_OP_REOPEN = 1 };

struct cc_ctl {
	uint64_t magic;
	uint64_t version;
	uint32_t pid;
	uint32_t on;            /* capture packets (1) or paused (0) */
	uint32_t state;         /* enum cc_ctl_state */
	int32_t ack_rc;         /* 0, an errno value, or a CC_CTL_RC_* reason (below) */
	uint64_t captured, dropped, bytes;      /* this process image */
	uint64_t req_seq, ack_seq;
	uint32_t req_op;
	uint32_t reopened;      /* the file was changed by `ctl reopen`: an exec'd image keeps it */
	char comm[20];
	char base[CC_CTL_PATH];         /* the capture's name (rotation adds to it), or empty */
	char file[CC_CTL_PATH];         /* the file written now */
	char req_path[CC_CTL_PATH];
	char env_file[CC_CTL_PATH];     /* CLEARCAP_FILE as this image found it */
	/*
	 * The capture buffer: its size at the writer's last pass, the most it grows to (bytes; 0
	 * unknown), and the largest it has been (it shrinks back once the load is gone).
	 */
	uint64_t buffer, buffer_max;
	uint64_t buffer_peak;
	uint64_t paused_at, paused_ns;
};

_Static_assert(sizeof(struct cc_ctl) <= CC_CTL_SIZE, "control page too large");

/* Why a reopen's file was refused, where no errno says it (ack_rc, negative). */
enum cc_ctl_rc {
	CC_CTL_RC_NOT_CAPTURE = -1,     /* exists, and is not a clearcap capture of the run's format */
	CC_CTL_RC_NOT_REGULAR = -2,     /* not a regular file (nor a FIFO) */
	CC_CTL_RC_LOCKED = -3,          /* stays locked by another process */
	CC_CTL_RC_NO_READER = -4,       /* a FIFO nobody reads */
	CC_CTL_RC_NOT_FIFO = -5,        /* was a FIFO at the look, is not one at the open */
};

/* The clock of paused_at, the same for `clearcap ctl` and the process (CLOCK_MONOTONIC ns). */
static inline uint64_t cc_ctl_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* How long c's process has been paused up to now: the pauses before, and the one in force. */
static inline uint64_t cc_ctl_paused_for(const struct cc_ctl *c, uint64_t now)
{
	uint64_t at = __atomic_load_n(&c->paused_at, __ATOMIC_RELAXED);

	return __atomic_load_n(&c->paused_ns, __ATOMIC_RELAXED) + (at && now > at ? now - at : 0);
}

#endif
