/*
 * A TCP stream clearcap joins mid-way continues its sequence numbers where the program's bytes
 * are: the synthesized stream's numbers are the ISN (cc_tcp_isn, from the addresses, the same in
 * every process image) plus one plus the bytes the program wrote or read.  A program that execs
 * with a connection open would otherwise start again at ISN + 1 in the new image, and Wireshark
 * would take its first bytes there for a retransmission of the old image's.
 *
 * The kernel's counts (tcp_info, Linux 4.19 on, and the queue ioctls), checked against real
 * connections: tcpi_bytes_sent counts data only (no SYN or FIN) but every retransmission, which
 * tcpi_bytes_retrans counts again; SIOCOUTQNSD is what was written and not yet sent.
 * tcpi_bytes_received counts the peer's FIN too, once it came, and SIOCINQ is what was received
 * and not yet read.  (tcpi_bytes_acked would not do: it counts the SYN of a connecting socket,
 * not of an accepted one.)  Own file: <linux/tcp.h>'s struct tcp_info has these fields, glibc's
 * <netinet/tcp.h> does not, and the two headers do not mix.
 *
 * Two ends of a connection need more than the counts:
 * - Our FIN, once queued, is in SIOCOUTQNSD (the kernel's write_seq counts it) until it is sent,
 *   and it goes after every data byte: in the states that queued it, an unsent count includes it.
 * - The peer's FIN is counted in tcpi_bytes_received.  The states after it say so, but one does
 *   not: a socket shut for writing gets the peer's FIN in FIN_WAIT2 and is left in CLOSE, as is
 *   one reset by the peer or never connected.  The kernel's "FIN came" flag is not visible, so a
 *   CLOSE socket with bytes received and no pending error (POLLERR, which a reset leaves until
 *   the program reads it) is taken as closed by a FIN.  A reset whose error the program has
 *   already read is then one byte short; nothing else tells them apart without consuming
 *   the program's error.
 * - Left alone: a first transmission the local queue dropped is counted again when it is sent,
 *   as new data (tcpi_bytes_retrans does not count it), which loopback and usual links never do.
 */
#include "shim/tcpinfo.h"

#include <errno.h>
#include <linux/in.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* TCP states (include/net/tcp_states.h). */
enum { ST_FIN_WAIT1 = 4, ST_TIME_WAIT = 6, ST_CLOSE = 7, ST_CLOSE_WAIT = 8, ST_LAST_ACK = 9, ST_CLOSING = 11 };

/* Whether the peer's FIN is in tcpi_bytes_received (the file comment has the CLOSE case). */
static int peer_fin(int fd, const struct tcp_info *ti, int inq)
{
	struct pollfd p = { .fd = fd, .events = 0 };
	struct timespec zero = { 0, 0 };

	switch (ti->tcpi_state) {
	case ST_TIME_WAIT: case ST_CLOSE_WAIT: case ST_LAST_ACK: case ST_CLOSING:
		return 1;
	case ST_CLOSE:
		return ti->tcpi_bytes_received > (uint64_t)inq &&
		       syscall(SYS_ppoll, &p, 1, &zero, NULL, 0) == 1 && !(p.revents & POLLERR);
	default:
		return 0;
	}
}

/* Whether our own FIN is queued and counted in the unsent bytes. */
static int own_fin_unsent(const struct tcp_info *ti, int notsent)
{
	return notsent > 0 && (ti->tcpi_state == ST_FIN_WAIT1 || ti->tcpi_state == ST_CLOSING ||
			       ti->tcpi_state == ST_LAST_ACK);
}

int cc_tcp_app_bytes(int fd, uint32_t *written, uint32_t *read)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);
	int saved = errno, notsent = 0, inq = 0, rc = -1;

	memset(&ti, 0, sizeof(ti));
	/* Plain system calls: the shim's own questions, not the program's (getsockopt and ioctl are hooked). */
	if (syscall(SYS_getsockopt, fd, IPPROTO_TCP, TCP_INFO, &ti, &l) == 0 &&
	    l >= offsetof(struct tcp_info, tcpi_bytes_retrans) + sizeof(ti.tcpi_bytes_retrans) &&
	    syscall(SYS_ioctl, fd, SIOCOUTQNSD, &notsent) == 0 && syscall(SYS_ioctl, fd, SIOCINQ, &inq) == 0) {
		*written = (uint32_t)(ti.tcpi_bytes_sent - ti.tcpi_bytes_retrans) + (uint32_t)notsent -
			   (uint32_t)own_fin_unsent(&ti, notsent);
		*read = (uint32_t)ti.tcpi_bytes_received - (uint32_t)inq - (uint32_t)peer_fin(fd, &ti, inq);
		rc = 0;
	}
	errno = saved;
	return rc;
}
