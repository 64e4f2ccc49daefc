/*
 * What the kernel knows of a TCP connection's byte counts, for a stream clearcap joins mid-way (a
 * socket inherited over exec, or made by a call it does not hook).
 */
#ifndef CC_TCPINFO_H
#define CC_TCPINFO_H

#include <stdint.h>

/*
 * The data bytes the program has written to fd and read from it so far (modulo 2^32, as
 * sequence numbers count), and whether its FIN went already (a shutdown, here or in another
 * process): 0, or -1 when the kernel cannot say (then the stream starts afresh).
 */
int cc_tcp_app_bytes(int fd, uint32_t *written, uint32_t *read, int *fin_sent);

/*
 * After a close: whether the connection between local and peer (a socket of `family`) is still
 * open in some process (1), or that close was its last descriptor, so the kernel sent its FIN
 * (0); -1 when the kernel cannot say (no sock_diag).  Asked of the kernel (NETLINK_SOCK_DIAG),
 * one request, for a socket other processes may hold (fork).
 */
struct cc_addr;
int cc_tcp_held_elsewhere(int family, const struct cc_addr *local, const struct cc_addr *peer);

#endif
