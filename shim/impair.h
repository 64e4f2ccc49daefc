/*
 * Impairment (CLEARCAP_IMPAIR): loss, delay, jitter, duplication, reordering and a link rate on
 * a captured process's outgoing UDP datagrams, loss on its incoming ones.  The fates come from
 * decoders/impairspec.c's model with a seeded PRNG; this file owns the state, the queue of
 * delayed datagrams and the thread that sends them, and writes every impaired datagram into the
 * capture with a comment saying what was done to it.
 *
 * The hooks consult it behind one flag each (cc_impair_out, cc_impair_in), read only in the
 * capturing path: a process that did not ask for impairment never enters this file.
 */
#ifndef CC_IMPAIR_H
#define CC_IMPAIR_H

#include <sys/socket.h>
#include <sys/types.h>

#include "shim/fdtable.h"

/* Set once at start-up when the direction is impaired. */
extern int cc_impair_out, cc_impair_in;

/*
 * Reads CLEARCAP_IMPAIR and CLEARCAP_IMPAIR_SEED (after the configuration, capturing only).
 * 0; -1 after one line naming the variable (capture then stays off, as for any bad setting).
 */
int cc_impair_load(void);

/* At start-up, capturing: the lock joins the fork table; the seed line on stderr. */
void cc_impair_init(void);

/*
 * An outgoing datagram on UDP socket fd.  Returns 0 when the program's call should go ahead as
 * usual (this datagram is not impaired); 1 when it was handled here — lost, duplicated or
 * queued — with *ret the call's result (the full length for a lost or queued datagram).
 */
int cc_impair_send(int fd, struct cc_fd *e, const struct msghdr *msg, int flags, ssize_t *ret);

/*
 * A datagram of len bytes (its first bytes in iov) just received on fd from `from`, or only
 * peeked at (peek): 1 when impairment withholds it (the hook then takes it off the socket if it
 * was peeked, and receives again).  A datagram kept when peeked is kept when received.
 */
int cc_impair_recv_lost(int fd, struct cc_fd *e, const struct sockaddr *from, socklen_t fromlen,
			const struct iovec *iov, int iovcnt, size_t len, int peek);

/* Descriptors fd in [lo, hi] are about to close or be replaced: their queued datagrams go now. */
void cc_impair_closing(unsigned lo, unsigned hi);

/* UDP socket fd is about to connect or disconnect: its queued datagrams go now, to the old peer. */
void cc_impair_connecting(int fd);

/* At exit: every queued datagram goes now.  In a fork child: the parent's queue is not ours. */
void cc_impair_exit(void);
void cc_impair_atfork_child(void);
void cc_impair_atfork_prepare(void);     /* counts the fork: the child's ordinal */

/* The program's main thread ended (shim/threads.c): the sender thread, if any, starts looking. */
void cc_impair_wake(void);

#endif
