/*
 * Send hooks (sendto, send, write, writev, sendmsg, sendmmsg), read top to bottom in three layers
 * as the receive hooks in hook_socket.c: the exported symbol, our logic, the real call.  The
 * program's view never changes unless impairment was asked for (impair.c), and then only as a
 * network would change it: the exported symbol tests one flag before its usual path.  Below the
 * exported symbols capture is on (cc_on was seen set, and it is never cleared), so nothing here
 * looks at it again.
 */
#include "shim/capture.h"
#include "shim/hooks.h"
#include "shim/impair.h"
#include "shim/hook_socket.h"
#include "shim/capture_int.h"
#include "shim/direct.h"
#include "shim/hotlane.h"
#include "pcapout/writer.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- Sending ---- */

/*
 * The entry of a UDP socket we capture whose send may be made directly (shim/direct.h), or NULL.
 * Before the call, so a look at the table alone: the classifying of an unknown fd waits for after.
 */
static inline __attribute__((always_inline)) struct cc_fd *udp_direct(int fd)
{
	struct cc_fd *e;

	if (!cc_direct_ok() || !(e = cc_fd_peek(fd)) || fd_kind(e) != FDK_UDP)
		return NULL;
	return e;
}

/* Inline in each hook: one call layer less per packet.  fast 0: cc_udp_fast() already declined. */
static inline __attribute__((always_inline)) void sent(int fd, struct cc_fd *e, const struct sockaddr *to,
							socklen_t tolen, const struct msghdr *msg,
							const struct iovec *iov, int iovcnt, size_t n, int fast)
{
	if (fd_kind(e) == FDK_UDP) {
		struct cc_meta m = { .tos = -1, .ttl = -1 };
		const struct cc_meta *mp = NULL;
		if (msg && msg->msg_controllen) {
			cc_meta_from_cmsg(&m, msg);
			mp = &m;
		}
		if (!fast || !cc_udp_fast(e, 1, to, tolen, mp, iov, iovcnt, n, n, -1))
			cc_cap_udp_general(fd, e, 1, to, tolen, mp, iov, iovcnt, n, n);
	} else {
		/* sendto on an unconnected TCP socket is TCP Fast Open: the connect happens here. */
		if (!(fd_flags(e) & FDF_TCP_OPEN) && to)
			cc_tcp_connected(fd, e, 1);
		cc_tcp_data(fd, e, 1, iov, iovcnt, n);
	}
}

/*
 * After a successful send on fd, e its entry when the send was made directly (udp_direct), else
 * NULL; hot_fd: fd when the send may fill the hot lane (sendto, send, write), else -1.  The
 * usual datagram is queued inline and errno left alone: nothing cc_udp_fast() calls changes it
 * (its out-of-line callees keep it).  Anything else goes the general way, errno kept around it.
 */
static inline __attribute__((always_inline)) void sent_after(int fd, struct cc_fd *e, const struct sockaddr *to,
							      socklen_t tolen, const struct msghdr *msg,
							      const struct iovec *iov, int iovcnt, size_t n, int hot_fd)
{
	int tried = e && !(msg && msg->msg_controllen);

	if (tried && cc_udp_fast(e, 1, to, tolen, NULL, iov, iovcnt, n, n, hot_fd))
		return;
	int saved = errno;
	if (e || (e = captured_after_send(fd, n)))
		sent(fd, e, to, tolen, msg, iov, iovcnt, n, !tried);
	errno = saved;
}

/*
 * Impairment of an outgoing datagram (impair.c): 1 when it was handled there, with *r the call's
 * result; 0 to go on as usual.  Reached only when impairment was asked for.
 */
static __attribute__((noinline)) int impair_out(int fd, const struct sockaddr *to, socklen_t tolen,
						const struct msghdr *msg, const struct iovec *iov, int iovcnt, int flags,
						ssize_t *r)
{
	struct cc_fd *e = captured_on(fd);

	if (!e || fd_kind(e) != FDK_UDP || iovcnt < 0)
		return 0;
	struct msghdr m = { .msg_name = (void *)to, .msg_namelen = tolen, .msg_iov = (struct iovec *)iov,
			    .msg_iovlen = (size_t)iovcnt };
	if (msg) {
		m.msg_control = msg->msg_control;
		m.msg_controllen = msg->msg_controllen;
	}
	return cc_impair_send(fd, e, &m, flags, r);
}

/* The same for a call with one buffer: its iovec is made here, off the usual path. */
static __attribute__((noinline)) int impair_out_buf(int fd, const struct sockaddr *to, socklen_t tolen,
						    const void *buf, size_t len, int flags, ssize_t *r)
{
	struct iovec v = { (void *)buf, len };

	return impair_out(fd, to, tolen, NULL, &v, 1, flags, r);
}

/* ---- The hot lane (cc_hot, capture_int.h) ---- */

/* Where sends may be made directly (shim/direct.h): elsewhere no lane is ever filled or entered. */
#if defined(__x86_64__) && !defined(__ILP32__)
#define CC_HOT_LANE 1
#else
#define CC_HOT_LANE 0
#endif

/*
 * After a direct call that sent r bytes (1 to 65535) of len, to the peer `to` if not NULL: all
 * of them, to the hot socket's peer.  No call: the lane's functions need no frame of their own
 * before they queue.
 */
static inline __attribute__((always_inline)) int hot_match(long r, const struct sockaddr *to, socklen_t tolen,
							   size_t len)
{
	const struct cc_hot *h = &cc_hot;
	uint64_t sa = 0;

	if (to) {
		if (tolen < sizeof(struct sockaddr_in))
			return 0;
		memcpy(&sa, to, 8);     /* family, port and address, as cc_udp_fast keeps them */
	}
	return sa == h->sa && (size_t)r == len;
}

/*
 * Queues the hot socket's datagram (shim/hotlane.h); returns len, the call's result.  (fd
 * unused: the arguments stay in the registers the hooks have them in.)
 */
static __attribute__((noipa)) ssize_t hot_queue(int fd, const uint8_t *p, size_t len)
{
	(void)fd;
	cc_hot_queue(&cc_hot, p, len);
	return (ssize_t)len;
}

/* A datagram of the hot socket the filter declines: counted, as cc_out_udp_slow() does. */
static __attribute__((noinline)) ssize_t hot_decline(size_t len)
{
	cc_writer_count_filtered();
	return (ssize_t)len;
}

/* The hot lane holds while nothing changed since it was filled. */
static inline __attribute__((always_inline)) int hot_holds(void)
{
	return __atomic_load_n(&cc_fd_gen, __ATOMIC_ACQUIRE) == cc_hot.gen;
}

/*
 * What sendto, send and write do after their call: r its result, e as sent_after's.  A write
 * that wrote nothing captures nothing.
 */
static inline __attribute__((always_inline)) ssize_t send_done(int fd, struct cc_fd *e, ssize_t r, const void *buf,
							       const struct sockaddr *to, socklen_t tolen, int is_write)
{
	if (r < 0) {
		cc_tcp_call_errno(fd);
		return r;
	}
	if (is_write && r == 0)
		return r;
	struct iovec v = { (void *)buf, (size_t)r };
	/* No hot lane with impairment on: the exported hooks look at the lane before its hook. */
	int hot = __builtin_expect(__atomic_load_n(&cc_impair_out, __ATOMIC_RELAXED), 0) ? -1 : fd;
	sent_after(fd, e, to, tolen, NULL, &v, 1, (size_t)r, hot);
	return r;
}

/*
 * The hot lane's call was made, its datagram not queued there: the usual path after the call.
 * (The arguments in the hooks' registers, r where the flags were; send's `to` is NULL.)
 */
static __attribute__((noipa)) ssize_t sendto_hot_done(int fd, const void *buf, size_t len, long r,
						      const struct sockaddr *to, socklen_t tolen)
{
	(void)len;
	return send_done(fd, udp_direct(fd), cc_direct_ret(r), buf, to, tolen, 0);
}

static __attribute__((noipa)) ssize_t write_hot_done(int fd, const void *buf, size_t len, long r)
{
	(void)len;
	return send_done(fd, udp_direct(fd), cc_direct_ret(r), buf, NULL, 0, 1);
}

/*
 * The hot lane's datagram whose first byte is RTP's or RTCP's under a class selection that
 * takes one of them (CC_HOT_BY_PT), or STUN's (CC_HOT_COOKIE): by its second byte or its
 * cookie, queued, declined or the usual path.
 */
static inline __attribute__((always_inline)) ssize_t hot_pt(int is_write, int fd, const void *buf, size_t len, long r,
							    const struct sockaddr *to, socklen_t tolen)
{
	int act = cc_hot_act(&cc_hot, buf, len);

	if (act == CC_HOT_QUEUE && __atomic_load_n(cc_wq.on, __ATOMIC_RELAXED))
		return hot_queue(fd, buf, len);
	if (act == CC_HOT_DECLINE && __atomic_load_n(cc_wq.on, __ATOMIC_RELAXED))
		return hot_decline(len);
	return is_write ? write_hot_done(fd, buf, len, r) : sendto_hot_done(fd, buf, len, r, to, tolen);
}

static __attribute__((noipa)) ssize_t sendto_hot_pt(int fd, const void *buf, size_t len, long r,
						    const struct sockaddr *to, socklen_t tolen)
{
	return hot_pt(0, fd, buf, len, r, to, tolen);
}

static __attribute__((noipa)) ssize_t write_hot_pt(int fd, const void *buf, size_t len, long r)
{
	return hot_pt(1, fd, buf, len, r, NULL, 0);
}

static __attribute__((noinline)) ssize_t sendto_on(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to, socklen_t tolen)
{
	struct cc_fd *e = udp_direct(fd);
	ssize_t r = e ? cc_direct_ret(cc_syscall_send(SYS_sendto, fd, buf, len, flags, to, tolen))
		      : cc_real.sendto(fd, buf, len, flags, to, tolen);
	return send_done(fd, e, r, buf, to, tolen, 0);
}

/* Impairment asked for: the datagram may be lost, duplicated or queued here (impair.c). */
static __attribute__((noinline)) ssize_t sendto_impaired(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to, socklen_t tolen)
{
	ssize_t r;

	if (impair_out_buf(fd, to, tolen, buf, len, flags, &r))
		return r;
	return sendto_on(fd, buf, len, flags, to, tolen);
}

/* Not the hot lane: impairment, or the usual path. */
static __attribute__((noinline)) ssize_t sendto_cold(int fd, const void *buf, size_t len, int flags,
						     const struct sockaddr *to, socklen_t tolen)
{
	if (__builtin_expect(__atomic_load_n(&cc_impair_out, __ATOMIC_RELAXED), 0))
		return sendto_impaired(fd, buf, len, flags, to, tolen);
	return sendto_on(fd, buf, len, flags, to, tolen);
}

static __attribute__((noinline)) ssize_t send_on(int fd, const void *buf, size_t len, int flags)
{
	struct cc_fd *e = udp_direct(fd);
	ssize_t r = e ? cc_direct_ret(cc_syscall_send(SYS_sendto, fd, buf, len, flags, NULL, 0))
		      : cc_real.send(fd, buf, len, flags);
	return send_done(fd, e, r, buf, NULL, 0, 0);
}

/* Impairment asked for: the datagram may be lost, duplicated or queued here (impair.c). */
static __attribute__((noinline)) ssize_t send_impaired(int fd, const void *buf, size_t len, int flags)
{
	ssize_t r;

	if (impair_out_buf(fd, NULL, 0, buf, len, flags, &r))
		return r;
	return send_on(fd, buf, len, flags);
}

static __attribute__((noinline)) ssize_t send_cold(int fd, const void *buf, size_t len, int flags)
{
	if (__builtin_expect(__atomic_load_n(&cc_impair_out, __ATOMIC_RELAXED), 0))
		return send_impaired(fd, buf, len, flags);
	return send_on(fd, buf, len, flags);
}

static __attribute__((noinline)) ssize_t write_on(int fd, const void *buf, size_t len)
{
	struct cc_fd *e = udp_direct(fd);
	ssize_t r = e ? cc_direct_ret(cc_syscall_send(SYS_write, fd, buf, len, 0, NULL, 0))
		      : cc_real.write(fd, buf, len);
	return send_done(fd, e, r, buf, NULL, 0, 1);
}

/* Impairment asked for: the datagram may be lost, duplicated or queued here (impair.c). */
static __attribute__((noinline)) ssize_t write_impaired(int fd, const void *buf, size_t len)
{
	ssize_t r;

	if (impair_out_buf(fd, NULL, 0, buf, len, 0, &r))
		return r;
	return write_on(fd, buf, len);
}

static __attribute__((noinline)) ssize_t write_cold(int fd, const void *buf, size_t len)
{
	if (__builtin_expect(__atomic_load_n(&cc_impair_out, __ATOMIC_RELAXED), 0))
		return write_impaired(fd, buf, len);
	return write_on(fd, buf, len);
}

/*
 * sendto, send or write (kind) on this thread's hot socket: the call made directly, the usual
 * datagram queued.  Inline into one function for each, which then needs no frame
 * (cc_syscall_send): what depends on the kind drops out.  Left open: a signal handler that
 * sends a run of two on another socket between the hook's look and the head's copy (at the
 * call's return, or in the few dozen instructions after) fills the lane for that socket, and
 * this datagram gets its head.  The receiving lane, whose calls wait, closes that window with
 * cc_hot.busy; here that cost 5 to 7 instructions a send (153-155 against 148).
 */
enum hot_kind { HOT_SENDTO, HOT_SEND, HOT_WRITE };
static inline __attribute__((always_inline)) ssize_t hot_send(enum hot_kind kind, int fd, const void *buf, size_t len,
							      int flags, const struct sockaddr *to, socklen_t tolen)
{
	if (!hot_holds())
		return kind == HOT_WRITE ? write_cold(fd, buf, len)
		       : kind == HOT_SEND ? send_cold(fd, buf, len, flags)
					  : sendto_cold(fd, buf, len, flags, to, tolen);
	long r = cc_syscall_send(kind == HOT_WRITE ? SYS_write : SYS_sendto, fd, buf, len, flags, to, tolen);
	if (__builtin_expect(r > 0 && r <= 65535 && hot_match(r, to, tolen, len), 1)) {
		/* What becomes of it by its first byte.  (Paused: the usual path, which counts it as kept out.) */
		int act = cc_hot.act[*(const uint8_t *)buf];
		if (__builtin_expect(act == CC_HOT_QUEUE && __atomic_load_n(cc_wq.on, __ATOMIC_RELAXED), 1))
			return hot_queue(fd, buf, len);
		if (act == CC_HOT_DECLINE && __atomic_load_n(cc_wq.on, __ATOMIC_RELAXED))
			return hot_decline(len);
		/* A first byte STUN's may be (a protocol's own zero byte, iperf3's): by the cookie. */
		if (act == CC_HOT_COOKIE && cc_hot_cookie(&cc_hot, buf, len) == CC_HOT_QUEUE &&
		    __atomic_load_n(cc_wq.on, __ATOMIC_RELAXED))
			return hot_queue(fd, buf, len);
		if (act >= CC_HOT_BY_PT)
			return kind == HOT_WRITE ? write_hot_pt(fd, buf, len, r) : sendto_hot_pt(fd, buf, len, r, to, tolen);
	}
	return kind == HOT_WRITE ? write_hot_done(fd, buf, len, r) : sendto_hot_done(fd, buf, len, r, to, tolen);
}

static __attribute__((noinline)) ssize_t sendto_hot(int fd, const void *buf, size_t len, int flags,
						    const struct sockaddr *to, socklen_t tolen)
{
	return hot_send(HOT_SENDTO, fd, buf, len, flags, to, tolen);
}

static __attribute__((noinline)) ssize_t send_hot(int fd, const void *buf, size_t len, int flags)
{
	return hot_send(HOT_SEND, fd, buf, len, flags, NULL, 0);
}

static __attribute__((noinline)) ssize_t write_hot(int fd, const void *buf, size_t len)
{
	return hot_send(HOT_WRITE, fd, buf, len, 0, NULL, 0);
}

/*
 * The exported sends.  The hot lane is filled only while capturing (and cc_on is never
 * cleared), so it is looked at first.  Off: two loads and a tail call, no frame of our own.
 */
CC_EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to, socklen_t tolen)
{
	if (CC_HOT_LANE && cc_hot_fd == fd)
		return sendto_hot(fd, buf, len, flags, to, tolen);
	if (!__atomic_load_n(&cc_on, __ATOMIC_ACQUIRE)) {
		REAL(sendto);
		return cc_real.sendto(fd, buf, len, flags, to, tolen);
	}
	return sendto_cold(fd, buf, len, flags, to, tolen);
}

CC_EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	if (CC_HOT_LANE && cc_hot_fd == fd)
		return send_hot(fd, buf, len, flags);
	if (!__atomic_load_n(&cc_on, __ATOMIC_ACQUIRE)) {
		REAL(send);
		return cc_real.send(fd, buf, len, flags);
	}
	return send_cold(fd, buf, len, flags);
}

CC_EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	if (CC_HOT_LANE && cc_hot_fd == fd)
		return write_hot(fd, buf, len);
	if (!__atomic_load_n(&cc_on, __ATOMIC_ACQUIRE)) {
		REAL(write);
		return cc_real.write(fd, buf, len);
	}
	return write_cold(fd, buf, len);
}


static __attribute__((noinline)) ssize_t writev_on(int fd, const struct iovec *iov, int iovcnt)
{
	ssize_t r = cc_real.writev(fd, iov, iovcnt);
	if (r < 0)
		cc_tcp_call_errno(fd);
	if (r <= 0)
		return r;
	int saved = errno;
	struct cc_fd *e = captured_after_send(fd, (size_t)r);
	if (e)
		sent(fd, e, NULL, 0, NULL, iov, iovcnt, (size_t)r, 1);
	errno = saved;
	return r;
}

/* Impairment asked for: the datagram may be lost, duplicated or queued here (impair.c). */
static __attribute__((noinline)) ssize_t writev_impaired(int fd, const struct iovec *iov, int iovcnt)
{
	ssize_t r;

	if (impair_out(fd, NULL, 0, NULL, iov, iovcnt, 0, &r))
		return r;
	return writev_on(fd, iov, iovcnt);
}

CC_EXPORT ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
	/* Off: one load and a tail call, no frame of our own. */
	if (!__atomic_load_n(&cc_on, __ATOMIC_ACQUIRE)) {
		REAL(writev);
		return cc_real.writev(fd, iov, iovcnt);
	}
	if (__builtin_expect(__atomic_load_n(&cc_impair_out, __ATOMIC_RELAXED), 0))
		return writev_impaired(fd, iov, iovcnt);
	return writev_on(fd, iov, iovcnt);
}


static __attribute__((noinline)) ssize_t sendmsg_on(int fd, const struct msghdr *msg, int flags)
{
	struct cc_fd *e = udp_direct(fd);
	ssize_t r = e ? cc_direct_ret(cc_syscall_send(SYS_sendmsg, fd, msg, (unsigned)flags, 0, NULL, 0))
		      : cc_real.sendmsg(fd, msg, flags);
	if (r < 0) {
		cc_tcp_call_errno(fd);
		return r;
	}
	sent_after(fd, e, msg->msg_name, msg->msg_namelen, msg, msg->msg_iov, (int)msg->msg_iovlen, (size_t)r, -1);
	return r;
}

/* Impairment asked for: the datagram may be lost, duplicated or queued here (impair.c). */
static __attribute__((noinline)) ssize_t sendmsg_impaired(int fd, const struct msghdr *msg, int flags)
{
	ssize_t r;

	if (impair_out(fd, msg->msg_name, msg->msg_namelen, msg, msg->msg_iov, (int)msg->msg_iovlen, flags, &r))
		return r;
	return sendmsg_on(fd, msg, flags);
}

CC_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	/* Off: one load and a tail call, no frame of our own. */
	if (!__atomic_load_n(&cc_on, __ATOMIC_ACQUIRE)) {
		REAL(sendmsg);
		return cc_real.sendmsg(fd, msg, flags);
	}
	if (__builtin_expect(__atomic_load_n(&cc_impair_out, __ATOMIC_RELAXED), 0))
		return sendmsg_impaired(fd, msg, flags);
	return sendmsg_on(fd, msg, flags);
}


/*
 * sendmmsg under impairment: message by message, each impaired or sent on its own.  The result
 * is what sendmmsg gives: the number sent, or -1 when the first one failed.
 */
static int sendmmsg_impaired(int fd, struct cc_fd *e, struct mmsghdr *vec, unsigned vlen, int flags)
{
	int entry_errno = errno;        /* a partial count leaves errno as it was, as the kernel's */

	for (unsigned i = 0; i < vlen; i++) {
		const struct msghdr *m = &vec[i].msg_hdr;
		ssize_t r;
		if (!impair_out(fd, m->msg_name, m->msg_namelen, m, m->msg_iov, (int)m->msg_iovlen, flags, &r)) {
			r = cc_real.sendmsg(fd, m, flags);
			if (r >= 0) {
				int saved = errno;
				sent(fd, e, m->msg_name, m->msg_namelen, m, m->msg_iov, (int)m->msg_iovlen, (size_t)r, 1);
				errno = saved;
			}
		}
		if (r < 0) {
			if (!i)
				return -1;
			errno = entry_errno;
			return (int)i;
		}
		vec[i].msg_len = (unsigned)r;
	}
	return (int)vlen;
}

static __attribute__((noinline)) int sendmmsg_on(int fd, struct mmsghdr *vec, unsigned vlen, int flags)
{
	int r = cc_real.sendmmsg(fd, vec, vlen, flags);
	if (r <= 0)
		return r;
	int saved = errno;
	size_t total = 0;
	for (int i = 0; i < r; i++)
		total += vec[i].msg_len;
	struct cc_fd *e = captured_after_send(fd, total);
	if (e) {
		for (int i = 0; i < r; i++) {
			const struct msghdr *m = &vec[i].msg_hdr;
			sent(fd, e, m->msg_name, m->msg_namelen, m, m->msg_iov, (int)m->msg_iovlen, vec[i].msg_len, 1);
		}
	}
	errno = saved;
	return r;
}

/* Impairment asked for: message by message (impair.c). */
static __attribute__((noinline)) int sendmmsg_impair(int fd, struct mmsghdr *vec, unsigned vlen, int flags)
{
	struct cc_fd *e = captured_on(fd);

	/* The kernel sends at most UIO_MAXIOV (1024) messages of one call and returns that count. */
	if (vlen > 1024)
		vlen = 1024;
	if (e && fd_kind(e) == FDK_UDP)
		return sendmmsg_impaired(fd, e, vec, vlen, flags);
	return sendmmsg_on(fd, vec, vlen, flags);
}

CC_EXPORT int sendmmsg(int fd, struct mmsghdr *vec, unsigned vlen, int flags)
{
	/* Off: one load and a tail call, no frame of our own. */
	if (!__atomic_load_n(&cc_on, __ATOMIC_ACQUIRE)) {
		REAL(sendmmsg);
		return cc_real.sendmmsg(fd, vec, vlen, flags);
	}
	if (__builtin_expect(__atomic_load_n(&cc_impair_out, __ATOMIC_RELAXED), 0))
		return sendmmsg_impair(fd, vec, vlen, flags);
	return sendmmsg_on(fd, vec, vlen, flags);
}


/* ---- Bytes the kernel moves below the hooks: sendfile, splice ---- */

/* One line per process and kind, never per call: what was not seen, and why. */
#define UNSEEN_ONCE(said, ...) do { \
	if (cc_own_memory() && !__atomic_exchange_n(&(said), 1, __ATOMIC_RELAXED)) \
		cc_warn(__VA_ARGS__); \
} while (0)

/*
 * n bytes went out on captured fd (entry e) by sendfile from `in`, starting at offset `at` of it
 * (-1: unknown).  The kernel copied them from the file to the socket without passing through the
 * program, so they are read again from the file, at the same offset, and recorded as sent, a
 * chunk at a time from the stack (pread by its system call: glibc's is a cancellation point,
 * and a cancellation here would lose the record of bytes already sent).  What cannot be read
 * again (a pipe, a file cut short since) leaves a gap in the connection's sequence numbers, which
 * Wireshark marks as a segment not captured, never bytes that were not sent.
 */
static void sent_from_file(int fd, struct cc_fd *e, int in, off_t at, size_t n)
{
	static int said_udp, said_gap;
	uint8_t buf[8192];
	size_t done = 0;

	if (fd_kind(e) != FDK_TCP) {
		UNSEEN_ONCE(said_udp, "fd %d: %zu bytes sent with sendfile to a UDP socket are not captured "
			    "(said once)", fd, n);
		return;
	}
	while (at >= 0 && done < n) {
		size_t want = n - done < sizeof(buf) ? n - done : sizeof(buf);
		long got = syscall(SYS_pread64, in, buf, want, (off_t)(at + (off_t)done));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		struct iovec v = { buf, (size_t)got };
		cc_tcp_data(fd, e, 1, &v, 1, (size_t)got);
		done += (size_t)got;
	}
	if (done < n && (fd_flags(e) & FDF_TCP_OPEN)) {
		__atomic_fetch_add(fd_seq(e, 1), (uint32_t)(n - done), __ATOMIC_RELAXED);
		UNSEEN_ONCE(said_gap, "fd %d: %zu bytes sent with sendfile could not be read again from their "
			    "file: the capture shows a gap there (said once)", fd, n - done);
	}
}

static ssize_t sendfile_on(int out, int in, off_t *offset, size_t count)
{
	ssize_t r = cc_real.sendfile(out, in, offset, count);
	if (r <= 0)
		return r;
	int saved = errno;
	struct cc_fd *e = captured_after_send(out, (size_t)r);
	if (e) {
		/*
		 * Where the bytes began: the offset the call moved on by r (read only after a call that
		 * succeeded, so a bad pointer stays the kernel's EFAULT), or the file position it moved.
		 */
		off_t at = offset ? *offset - r : lseek(in, 0, SEEK_CUR);
		if (!offset && at >= 0)
			at = at >= r ? at - r : -1;
		sent_from_file(out, e, in, at, (size_t)r);
	}
	errno = saved;
	return r;
}

CC_EXPORT ssize_t sendfile(int out, int in, off_t *offset, size_t count)
{
	REAL(sendfile);
	if (!__atomic_load_n(&cc_on, __ATOMIC_ACQUIRE))
		return cc_real.sendfile(out, in, offset, count);
	return sendfile_on(out, in, offset, count);
}

/* The same call under its large-file name (off_t is 64 bits here). */
CC_EXPORT ssize_t sendfile64(int out, int in, off_t *offset, size_t count)
{
	return sendfile(out, in, offset, count);
}

/*
 * splice between a pipe and a captured socket: the bytes go from pipe to socket (or back) inside
 * the kernel, and a pipe cannot be read twice, so they are not captured.  TCP keeps its sequence
 * numbers true (a gap where they went) and the process says so once; a UDP socket's datagrams are
 * said to be missing.
 */
CC_EXPORT ssize_t splice(int in, loff_t *off_in, int out, loff_t *off_out, size_t len, unsigned int flags)
{
	REAL(splice);
	ssize_t r = cc_real.splice(in, off_in, out, off_out, len, flags);
	if (r <= 0 || !__atomic_load_n(&cc_on, __ATOMIC_ACQUIRE))
		return r;
	static int said;
	int saved = errno;
	for (int outgoing = 0; outgoing < 2; outgoing++) {
		int fd = outgoing ? out : in;
		struct cc_fd *e;
		/*
		 * The gap: the sequence numbers move on by what went.  A socket first seen now was
		 * joined mid-stream with the kernel's counts, the spliced bytes in them already
		 * (captured_after_send takes a send's back out, for the caller to add).
		 */
		int counted = !outgoing && !captured_known(fd, &e);
		if (counted)
			e = cc_classify(fd);
		else if (outgoing)
			e = captured_after_send(fd, (size_t)r);
		if (!e)
			continue;
		if (!counted && fd_kind(e) == FDK_TCP && (fd_flags(e) & FDF_TCP_OPEN))
			__atomic_fetch_add(fd_seq(e, outgoing), (uint32_t)r, __ATOMIC_RELAXED);
		UNSEEN_ONCE(said, "fd %d: %zu bytes moved with splice(2) between a pipe and a socket are not "
			    "captured: a pipe cannot be read twice (TCP: a gap in the capture; said once)", fd, (size_t)r);
	}
	errno = saved;
	return r;
}
