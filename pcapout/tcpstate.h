/* What the kernel says of a TCP socket's own connect (tcpstate.c). */
#ifndef CC_PCAPOUT_TCPSTATE_H
#define CC_PCAPOUT_TCPSTATE_H

/*
 * Whether TCP socket fd's SYN was acknowledged: 1 when the connect had succeeded (so an error it
 * gives later, ETIMEDOUT from keepalive or retransmissions, EHOSTUNREACH, is the connection's, not
 * the connect's), 0 when not, -1 when the kernel cannot say.  Keeps errno.
 */
int cc_tcp_syn_acked(int fd);

#endif
