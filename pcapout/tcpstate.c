/*
 * What the kernel says of a TCP socket's own connect, for the shim and the tracer (each asks on
 * a descriptor of its own or the program's, with a plain system call).  Own file: <linux/tcp.h>'s
 * struct tcp_info has tcpi_bytes_acked, glibc's <netinet/tcp.h> does not, and the two headers do
 * not mix with the rest.
 */
#include "pcapout/tcpstate.h"

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

int cc_tcp_syn_acked(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);
	int saved = errno, rc = -1;

	memset(&ti, 0, sizeof(ti));
	/*
	 * tcpi_bytes_acked counts a connecting socket's SYN once the peer's SYN-ACK acked it (checked:
	 * 1 connected, 0 refused), and a connection that later times out keeps its count.
	 */
	if (syscall(SYS_getsockopt, fd, IPPROTO_TCP, TCP_INFO, &ti, &l) == 0 &&
	    l >= offsetof(struct tcp_info, tcpi_bytes_acked) + sizeof(ti.tcpi_bytes_acked))
		rc = ti.tcpi_bytes_acked > 0;
	errno = saved;
	return rc;
}
