/*
 * What the kernel says of a TCP socket's own connect, for the shim and the tracer (each asks on
 * a descriptor of its own or the program's, with a plain system call).  Own file: <linux/tcp.h>'s
 * struct tcp_info has tcpi_bytes_acked, glibc's <netinet/tcp.h> does not, and the two headers do
 * not mix with the rest.
 */
#include "pcapout/tcpstate.h"
#include "pcapout/frame.h"

#include <errno.h>
#include <linux/tcp.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef IPPROTO_TCP
#define IPPROTO_TCP 6
#endif

/* TCP states (include/net/tcp_states.h). */
enum { ST_SYN_SENT = 2, ST_CLOSE = 7 };

int cc_tcp_connect_state(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);
	int saved = errno, rc = CC_CONN_UNKNOWN;

	memset(&ti, 0, sizeof(ti));
	/*
	 * tcpi_bytes_acked counts a connecting socket's SYN once the peer's SYN-ACK acked it, and
	 * keeps it after a loss; tcpi_segs_in counts a refusal's reset (checked: 1 and 0 connected,
	 * 0 and 1 refused).
	 */
	if (syscall(SYS_getsockopt, fd, IPPROTO_TCP, TCP_INFO, &ti, &l) == 0 &&
	    l >= offsetof(struct tcp_info, tcpi_bytes_acked) + sizeof(ti.tcpi_bytes_acked) &&
	    l >= offsetof(struct tcp_info, tcpi_segs_in) + sizeof(ti.tcpi_segs_in)) {
		if (ti.tcpi_bytes_acked > 0)
			rc = CC_CONN_UP;
		else if (ti.tcpi_state == ST_SYN_SENT)
			rc = CC_CONN_PENDING;
		else if (ti.tcpi_state == ST_CLOSE)
			rc = ti.tcpi_segs_in > 0 ? CC_CONN_REFUSED : CC_CONN_NO_ANSWER;
	}
	errno = saved;
	return rc;
}

int cc_tcp_closed_why(int state)
{
	return state == CC_CONN_REFUSED ? ECONNREFUSED : state == CC_CONN_NO_ANSWER ? CC_CONNECT_NO_ANSWER : 0;
}
