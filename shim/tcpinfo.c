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
 */
#include "shim/tcpinfo.h"

#include <errno.h>
#include <linux/in.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* TCP states (include/net/tcp_states.h) in which the peer's FIN has been received. */
enum { ST_TIME_WAIT = 6, ST_CLOSE_WAIT = 8, ST_LAST_ACK = 9, ST_CLOSING = 11 };

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
		int fin = ti.tcpi_state == ST_TIME_WAIT || ti.tcpi_state == ST_CLOSE_WAIT ||
			  ti.tcpi_state == ST_LAST_ACK || ti.tcpi_state == ST_CLOSING;
		*written = (uint32_t)(ti.tcpi_bytes_sent - ti.tcpi_bytes_retrans) + (uint32_t)notsent;
		*read = (uint32_t)ti.tcpi_bytes_received - (uint32_t)inq - (uint32_t)fin;
		rc = 0;
	}
	errno = saved;
	return rc;
}
