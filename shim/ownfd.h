/*
 * The shim's own descriptors and locks, kept from the program.
 *
 * Every descriptor the shim keeps open (the capture file, the TLS and SRTP key logs) is in one
 * table that every hook able to close, duplicate or replace a descriptor consults: to the
 * program our descriptors are not open at all (close, dup, fcntl on them fail with EBADF), bulk
 * closes go around them, and a dup2/dup3 onto one of their numbers first moves ours elsewhere.
 *
 * Every mutex the shim owns is in one fork table: pthread_atfork's prepare handler takes them all
 * in rank order (the order in which code may nest them), so that no fork can copy a lock some
 * other thread holds; the child re-initialises them.
 */
#ifndef CC_OWNFD_H
#define CC_OWNFD_H

#include <pthread.h>
#include <stddef.h>

#include "pcapout/lock.h"

/* An own descriptor: how to read its current number and how to move it to another number. */
struct cc_ownfd_ops {
	int (*get)(void *arg);          /* the number, or -1 when not open */
	int (*move)(void *arg);         /* to another number; 0, or -1 (then it stays) */
	void *arg;
};

#define CC_OWNFD_MAX 8

/* Registers an own descriptor (at start-up, before the program runs threads); -1 when full. */
int cc_ownfd_add(const struct cc_ownfd_ops *ops);

/* True when fd is one of ours (so, to the program, not open). */
int cc_ownfd_is(int fd);

/* The program wants number fd (dup2/dup3): if it is ours, ours moves away first. */
void cc_ownfd_make_room(int fd);

/* Our open descriptors within [lo, hi], ascending, into out (at most CC_OWNFD_MAX); their count. */
int cc_ownfd_in_range(unsigned lo, unsigned hi, int *out);

/*
 * A file of whole lines the shim appends to (the key logs): opened on first use, high up and
 * close-on-exec, written one whole line per write under its lock, which also covers a move.
 */
struct cc_linefile {
	const char *var;                /* the variable naming it, for the one warning */
	const char *path;               /* the configured path; empty: none */
	int fd;
	int opened;
	int write_warned;               /* a write failed (full disk, a FIFO's slow reader): said once */
	pthread_mutex_t lock;
};

#define CC_LINEFILE_INIT(var_) { .var = (var_), .fd = -1, .lock = CC_MUTEX_INITIALIZER }

/* Registers lf in the own-fd and fork tables, with its path (from the configuration). */
void cc_linefile_init(struct cc_linefile *lf, const char *path);

/* Appends one whole line (with its newline). */
void cc_linefile_write(struct cc_linefile *lf, const char *line, size_t len);

/*
 * Fork ranks: a lock may be taken while holding locks of lower rank only.  Module locks that
 * hooks hold while they queue records come first, then the writer's (start, drain, secrets:
 * pcapout takes its own in cc_writer_atfork_prepare), then leaves that nothing nests inside.
 */
enum cc_lock_rank {
	CC_RANK_RESOLVE = 10,           /* binding optional symbols (libssl, libsrtp2) */
	CC_RANK_TABLE = 20,             /* per-object tables: BIO methods, SSL_CTX callbacks */
	CC_RANK_IMPAIR = 25,            /* impairment's queue, which writes datagrams under it */
	CC_RANK_TURN = 30,              /* the TURN follower, which queues relayed frames */
	CC_RANK_SSL = 40,               /* SSL sessions, which queue plaintext frames */
	CC_RANK_WRITER = 50,            /* pcapout's own: start, drain, secrets history */
	CC_RANK_LEAF = 60,              /* SRTP keys and failures, taken under the writer's drain */
	CC_RANK_KEYLINES = 65,          /* the SRTP key lines written or waiting for their flow */
	CC_RANK_FILE = 70,              /* key log lines */
};

/* Registers a mutex for the fork handlers (at start-up). */
void cc_forklock_add(pthread_mutex_t *m, enum cc_lock_rank rank);

/* The fork handlers: the writer's own handlers are called at CC_RANK_WRITER. */
void cc_forklock_prepare(void);
void cc_forklock_parent(void);
void cc_forklock_child(void);

#endif
