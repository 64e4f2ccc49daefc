/*
 * What the writer's files share, inside pcapout/ only: the process's writer state and the
 * functions one file calls in another.
 *
 *   writer.c    the record ring, the drain thread, queueing, flush, fork
 *   outfile.c   the output file (regular file, FIFO, the wrapper's pipe): opening, the append
 *               protocol across processes (lock, torn-record repair), rotation, reopen
 *   secrets.c   the secrets history, re-emitted at the top of every new file
 *   counters.c  the shared counters and control pages
 *   out_hep.c   the HEP output: SIP and RTCP to a Homer collector (hep.c encodes)
 *
 * Everything that touches a descriptor goes through syscall(2): the shim interposes
 * write/writev/close/fcntl, and our own I/O must never enter our own hooks.
 */
#ifndef CC_WRITER_INT_H
#define CC_WRITER_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "pcapout/hep.h"
#include "pcapout/pages.h"
#include "pcapout/ring.h"
#include "pcapout/writer.h"

#define PATH_MAX_ 4096
#define COMMENT_MAX 128
#define NOTE_MAX (COMMENT_MAX + 288)    /* a record's comment: the process's, then the frame's note */
#define DSB_HISTORY_MAX (1u << 20)

enum wstate { W_IDLE, W_STARTING, W_RUNNING, W_BROKEN };

/* After a store to cc_wq.state or cc_wq.sync: calls what cc_writer_on_gate() registered. */
void cc_wq_gate_moved(void);

/* The writer's state set, and the gate's listener told: every change of it goes through these two. */
static inline void cc_wq_state_set(enum wstate st)
{
	__atomic_store_n(&cc_wq.state, (int)st, __ATOMIC_RELEASE);
	cc_wq_gate_moved();
}

/* RUNNING -> BROKEN (or another end) unless something else ended it first: 1 when this did. */
static inline int cc_wq_state_end(enum wstate st)
{
	int expected = W_RUNNING;

	if (!__atomic_compare_exchange_n(&cc_wq.state, &expected, (int)st, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		return 0;
	cc_wq_gate_moved();
	return 1;
}

struct cc_w {
	char path[PATH_MAX_];
	char counters_path[PATH_MAX_];
	char comment[COMMENT_MAX];
	size_t comment_len;
	uint8_t opts[2][16 + COMMENT_MAX + 4];  /* a record's options with the comment, in and out */
	size_t opts_len;
	enum cc_format fmt;
	size_t ring_size;
	int configured;
	int pipe_header_done;
	int pipe;                       /* the output is a FIFO or pipe: writes are locked, see open_fifo */
	off_t end;                      /* file size after our last write (a block boundary), or -1 */
	int lock_given_up;              /* the file's lock was not to be had: write without it */
	int rlock_given_up;             /* nor the repair lock (outfile.c's repair_lock) */
	int inherited;                  /* a forked child still on its parent's open file description */
	char base[PATH_MAX_];           /* the configured name; path is the current file of a rotation */
	struct cc_rot_cfg rot;
	struct cc_rot_state *rs;        /* shared rotation state, when rotating */
	uint64_t gen;                   /* the rotation generation fd belongs to */
	pthread_mutex_t dsb_lock;       /* secrets so far, re-emitted at the top of each new file */
	char *dsb_hist;
	size_t dsb_len, dsb_cap;
	struct cc_ctl *ctl;             /* control page (shim/control.c), or NULL */
	int thread_started;
	int thread_entered;             /* the writer's thread reached writer_main (atomic) */

	int fd;
	int hold;                       /* a TLS session exists: packets wait for their secrets */
	uint8_t *stage;                 /* the writer's staging buffer, under drain_lock */
	pthread_mutex_t drain_lock;
	pthread_mutex_t start_lock;
	struct cc_counters *shared;
	uint64_t captured, dropped, bytes;      /* this process; atomic */
	uint64_t filtered;                      /* declined by the filter; atomic */
	uint64_t woken;                         /* times a producer found the ring full and woke the writer */
	int warned_drop;
	struct cc_hep_cfg hep;                  /* the HEP output (out_hep.c), when on */
	uint64_t hep_sent, hep_dropped;         /* this process; atomic */
	uint64_t hep_sent_told, hep_dropped_told; /* what its statistics blocks said so far (drain_lock) */
	int srtp_used;                          /* libsrtp in use here (cc_writer_srtp_in_use); atomic */
};

extern struct cc_w W;

/* writer.c */
size_t cc_w_drain_locked(int all);                              /* caller holds drain_lock */
void cc_w_broken(const char *what, int err, uint64_t lost);     /* capture stops, one warning */

/* outfile.c */
int cc_wf_open(void);                           /* opens W.path (file or FIFO); the fd, or -1 */
int cc_wf_rotation_done(void);                  /* the last open found the -W rotation's files written */
int cc_wf_write(struct iovec *iov, int n);      /* one batch to W.fd; 0, or -1 with errno */
int cc_wf_write_fd(int fd, struct iovec *iov, int n);
int cc_wf_write_all(int fd, struct iovec *iov, int n);
void cc_wf_own_description(void);               /* a forked child: a file description of its own */
int cc_wf_reopen_pending(void);
int cc_wf_take_request(void);                   /* before the writer runs: adopt a reopen request */
void cc_wf_do_reopen(uint64_t seq);             /* drain_lock held */

/* secrets.c */
void cc_ws_keep(const char *keylog, size_t len);
void cc_ws_emit(int fd);                        /* the history as one DSB at the top of a file */

/* counters.c */
void cc_wc_count(uint64_t *field, uint64_t n);
/* In a forked child: declines the parent counted before its page was mapped are not its own. */
void cc_wc_forget_pending(void);
void cc_wc_map(void);
void cc_wc_ctl_state(enum cc_ctl_state st);
void cc_wc_ctl_file(const char *path);
/* Whether to say a warning that the run's processes would each say (CC_TOLD_*): once per run. */
int cc_wc_tell_once(uint64_t bit);

#endif
