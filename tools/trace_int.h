/*
 * Internals of the system-call tracer shared by its files: the tracer loop (trace.c), the
 * meaning of each traced call (trace_sys.c) and the capture output (trace_out.c).
 */
#ifndef CC_TRACE_INT_H
#define CC_TRACE_INT_H

#include <stdint.h>
#include <sys/types.h>

#include "pcapout/frame.h"
#include "tools/trace.h"

/* One descriptor of a traced process, as far as capture cares. */
enum tfd_kind { TFD_UNKNOWN = 0, TFD_OTHER, TFD_UDP, TFD_TCP };

#define TFD_LOCAL      0x01    /* local address known (port bound) */
#define TFD_WILDCARD   0x02    /* bound to the wildcard address: the route gives the IP */
#define TFD_PEER       0x04    /* connected: peer known */
#define TFD_CONNECTING 0x08    /* TCP connect in progress */
#define TFD_TCP_OPEN   0x10    /* the handshake was written */
#define TFD_INHERITED  0x80    /* copied at fork: the other process may keep it open */

/* A TCP stream's numbers: the next sequence number each way, and the FINs written (fin). */
#define TFD_FIN_OUT    0x01
#define TFD_FIN_IN     0x02
struct tstream {
	uint32_t snd_seq, rcv_seq;
	uint8_t fin;
};

/*
 * One socket's stream when more than one descriptor holds it (dup, dup2, dup3, F_DUPFD, or a
 * fork's copy of an open connection): each holder counts in refs, so that its bytes, whichever
 * descriptor moves them, are numbered as one stream, and its FIN is written when the last
 * holder closes it, not the first.
 */
struct tshare {
	int refs;
	struct tstream s;
};

struct tfd {
	uint8_t kind, family, flags;
	uint8_t isn_gen;        /* TCP: the address pair's generation the stream started in */
	uint16_t mss;
	struct cc_addr local, peer;
	struct tstream own;     /* the stream, while this descriptor is its only holder */
	struct tshare *share;   /* else the one all its holders use */
};

static inline struct tstream *cc_tfd_stream(struct tfd *e)
{
	return e->share ? &e->share->s : &e->own;
}

/* A descriptor table: shared by the threads of a process, copied at fork. */
struct tproc {
	int refs;
	pid_t pid;                      /* a live member, for pidfd_open and /proc */
	int pidfd;                      /* -1 until needed */
	int counted;                    /* counted in the page's processes */
	char comment[64];               /* "pid N name" */
	struct tfd *fds;
	int nfds;
};

/* A traced thread. */
struct tthread {
	pid_t tid;
	struct tproc *proc;             /* NULL while its creator's event has not been seen */
	int held;                       /* stopped, waiting for that event: status in held_status */
	int held_status;
	int in_call;                    /* resumed to the exit of `nr` */
	long nr;
	uint64_t args[6];
	struct tthread *next;
};

/* trace_fd.c */
struct tproc *cc_tproc_new(pid_t pid);
struct tproc *cc_tproc_copy(struct tproc *from, pid_t pid);
void cc_tproc_put(struct tproc *p);
void cc_tproc_exec(struct tproc *p, pid_t pid);
/* The entry for fd, classified on first sight; NULL unless it is a UDP or TCP socket. */
struct tfd *cc_tfd_lookup(struct tproc *p, int64_t fd);
/* The entry for fd when it is already known as a UDP or TCP socket, else NULL (no look). */
struct tfd *cc_tfd_peek(struct tproc *p, int64_t fd);
void cc_tfd_forget(struct tproc *p, int64_t fd);
/* After a successful dup of oldfd onto newfd: newfd holds what oldfd holds (its entry forgotten first). */
void cc_tfd_dup(struct tproc *p, int64_t oldfd, int64_t newfd);
/* Whether e's socket has holders besides e (other descriptors, here or in a forked process). */
int cc_tfd_held_elsewhere(const struct tfd *e);

/*
 * Generations of TCP address pairs (pcapout/frame.h): one table for every traced process, the
 * run's page (shared with the processes the shim captures) when the wrapper gives one.
 */
extern struct cc_tcp_gens *cc_trace_gens;
/* Our own copy of the program's descriptor fd (pidfd_getfd), or -1; the caller closes it. */
int cc_tfd_copy(struct tproc *p, int fd);
/* Re-reads a socket's addresses (after bind, connect, or its first send). */
void cc_tfd_refresh(struct tproc *p, int fd, struct tfd *e);
int cc_trace_route_src(const struct cc_addr *dst, struct cc_addr *src);
struct sockaddr_storage;
int cc_trace_sa_addr(struct cc_addr *a, const struct sockaddr_storage *ss, size_t len);

/* trace_sys.c */
const long *cc_trace_calls(size_t *n);
/* At a seccomp stop: nonzero when the call's exit must be seen too. */
void cc_sys_proc_ending(struct tthread *t);
void cc_sys_proc_end(struct tthread *t);
void cc_sys_exec(struct tthread *t);
int cc_sys_enter(struct tthread *t);
void cc_sys_exit(struct tthread *t, int64_t rval, int is_error);

/* trace_out.c */
void cc_tout_frame(struct tproc *p, const struct cc_frame *f, uint64_t ts, const uint8_t *payload,
		   size_t caplen, size_t origlen);
void cc_tout_counters(struct cc_counters *c);
void cc_tout_process(struct tproc *p);
void cc_tout_flush(void);
int cc_tout_pending(void);
void cc_tout_close(void);
uint64_t cc_trace_now(void);

#endif
