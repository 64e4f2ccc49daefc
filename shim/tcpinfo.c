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
#include "pcapout/frame.h"

#include <errno.h>
#include <linux/in.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* TCP states (include/net/tcp_states.h). */
enum {
	ST_FIN_WAIT1 = 4, ST_FIN_WAIT2 = 5, ST_TIME_WAIT = 6, ST_CLOSE = 7, ST_CLOSE_WAIT = 8, ST_LAST_ACK = 9,
	ST_CLOSING = 11,
};

int cc_tcp_app_bytes(int fd, uint32_t *written, uint32_t *read, int *fin_sent)
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
		*fin_sent = ti.tcpi_state == ST_FIN_WAIT1 || ti.tcpi_state == ST_FIN_WAIT2 ||
			    ti.tcpi_state == ST_TIME_WAIT || ti.tcpi_state == ST_CLOSE || ti.tcpi_state == ST_LAST_ACK ||
			    ti.tcpi_state == ST_CLOSING;
		rc = 0;
	}
	errno = saved;
	return rc;
}

/* An address in the socket's family: IPv4 as ::ffff:a.b.c.d on an IPv6 socket. */
static void diag_addr(__be32 out[4], int family, const struct cc_addr *a)
{
	memset(out, 0, 16);
	if (family == AF_INET6 && a->family == AF_INET) {
		uint8_t *b = (uint8_t *)out;
		b[10] = b[11] = 0xff;
		memcpy(b + 12, a->ip, 4);
	} else {
		memcpy(out, a->ip, a->family == AF_INET6 ? 16 : 4);
	}
}

int cc_tcp_held_elsewhere(int family, const struct cc_addr *local, const struct cc_addr *peer)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req;
	union {
		struct nlmsghdr nlh;
		char b[1024];
	} resp;
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK };
	int saved = errno, rc = -1;

	if (family != AF_INET && family != AF_INET6)
		return -1;
	memset(&req, 0, sizeof(req));
	req.nlh.nlmsg_len = sizeof(req);
	req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nlh.nlmsg_flags = NLM_F_REQUEST;
	req.r.sdiag_family = (uint8_t)family;
	req.r.sdiag_protocol = IPPROTO_TCP;
	req.r.idiag_states = ~0u;
	req.r.id.idiag_sport = htons(local->port);
	req.r.id.idiag_dport = htons(peer->port);
	diag_addr(req.r.id.idiag_src, family, local);
	diag_addr(req.r.id.idiag_dst, family, peer);
	req.r.id.idiag_cookie[0] = req.r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	/* Plain system calls, a descriptor open for the one request (sendto and recv are hooked). */
	long fd = syscall(SYS_socket, AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		goto out;
	if (syscall(SYS_sendto, fd, &req, sizeof(req), 0, &nl, sizeof(nl)) == (long)sizeof(req)) {
		long n = syscall(SYS_recvfrom, fd, &resp, sizeof(resp), 0, NULL, NULL);
		if (n >= (long)sizeof(struct nlmsghdr) && (size_t)n >= resp.nlh.nlmsg_len) {
			if (resp.nlh.nlmsg_type == SOCK_DIAG_BY_FAMILY &&
			    resp.nlh.nlmsg_len >= NLMSG_LENGTH(sizeof(struct inet_diag_msg))) {
				const struct inet_diag_msg *m = NLMSG_DATA(&resp.nlh);
				/* An orphan (FIN sent, no descriptor left) or in TIME_WAIT has no inode. */
				rc = m->idiag_inode != 0;
			} else if (resp.nlh.nlmsg_type == NLMSG_ERROR &&
				   resp.nlh.nlmsg_len >= NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
				const struct nlmsgerr *e = NLMSG_DATA(&resp.nlh);
				/* Gone altogether: closed, and nothing left to send. */
				if (e->error == -ENOENT)
					rc = 0;
			}
		}
	}
	syscall(SYS_close, fd);
out:
	errno = saved;
	return rc;
}
