/* What the kernel says of a TCP socket's own connect (tcpstate.c). */
#ifndef CC_PCAPOUT_TCPSTATE_H
#define CC_PCAPOUT_TCPSTATE_H

/*
 * What became of TCP socket fd's connect, as the kernel's tcp_info says it without taking the
 * socket's pending error (which is the program's, or another holder's, to read):
 *   CC_CONN_UP         the peer acked our SYN: it connected, so an error it gives later
 *                      (keepalive's ETIMEDOUT, EHOSTUNREACH) is the connection's, not the connect's
 *   CC_CONN_PENDING    still under way
 *   CC_CONN_REFUSED    closed, and a segment came: in that state only a reset
 *   CC_CONN_NO_ANSWER  closed, nothing came: timed out, or an ICMP error
 *   CC_CONN_UNKNOWN    the kernel cannot say.
 * Keeps errno.
 */
enum { CC_CONN_UNKNOWN = -1, CC_CONN_PENDING, CC_CONN_UP, CC_CONN_REFUSED, CC_CONN_NO_ANSWER };
int cc_tcp_connect_state(int fd);

/*
 * For a connect found settled at its close, unasked, in a state other than CC_CONN_UP: the reason
 * its SYN's comment gives (cc_tcp_connect_why): refused, no answer, or 0 (closed still under way,
 * or the kernel could not say).
 */
int cc_tcp_closed_why(int state);

#endif
