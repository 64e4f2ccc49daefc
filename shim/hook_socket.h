/*
 * What the socket hook files share (shim/hook_socket.c: receiving and the socket life cycle;
 * shim/hook_send.c: sending and its impairment): binding a real symbol on first use, and the
 * per-call test of whether an fd is a socket we capture.
 */
#ifndef CC_HOOK_SOCKET_H
#define CC_HOOK_SOCKET_H

#include "shim/capture.h"
#include "shim/real.h"

/*
 * Binds the real call if not yet.  The hooks need it on their off path only: capture is switched
 * on (cc_on) after every real call was found (init.c), so their "on" paths call cc_real directly.
 */
#define REAL(name) do { if (__builtin_expect(!cc_real.name, 0)) cc_real_init(); } while (0)

static inline int active(void)
{
	return __atomic_load_n(&cc_on, __ATOMIC_RELAXED);
}

/*
 * What the table already knows of fd: 1 with *e its entry (a captured socket) or NULL (files and
 * pipes once seen); 0 when fd must be classified first.
 */
static inline int captured_known(int fd, struct cc_fd **e)
{
	struct cc_fd *x = cc_fd_peek(fd);
	int k = x ? fd_kind(x) : FDK_UNKNOWN;

	*e = k == FDK_UDP || k == FDK_TCP ? x : NULL;
	return k != FDK_UNKNOWN;
}

/*
 * The entry of a captured socket, or NULL (fast for files and pipes once seen), on a hook's "on"
 * path: cc_on was seen set there, and it is never cleared (init.c sets it once), so it is not
 * looked at again.
 */
static inline struct cc_fd *captured_on(int fd)
{
	struct cc_fd *e;

	if (captured_known(fd, &e))
		return e;               /* per packet: one look-up */
	return cc_classify(fd);
}

/*
 * captured_on() after a send that moved n bytes on fd.  A TCP stream first seen there is joined
 * mid-stream from the kernel's byte counts (sockinfo.c), which hold those n bytes already: its
 * next sequence number goes back by n, for this send's segment to carry them.
 */
static inline struct cc_fd *captured_after_send(int fd, size_t n)
{
	struct cc_fd *e;

	if (captured_known(fd, &e))
		return e;
	e = cc_classify(fd);
	if (e && fd_kind(e) == FDK_TCP && (fd_flags(e) & FDF_TCP_OPEN))
		__atomic_fetch_sub(fd_seq(e, 1), (uint32_t)n, __ATOMIC_RELAXED);
	return e;
}

/* The same anywhere else: NULL while capture is off. */
static inline struct cc_fd *captured(int fd)
{
	return active() ? captured_on(fd) : NULL;
}

#endif
