/*
 * What the kernel knows of a TCP connection's byte counts, for a stream clearcap joins mid-way (a
 * socket inherited over exec, or made by a call it does not hook).
 */
#ifndef CC_TCPINFO_H
#define CC_TCPINFO_H

#include <stdint.h>

/*
 * The data bytes the program has written to fd and read from it so far (modulo 2^32, as
 * sequence numbers count): 0, or -1 when the kernel cannot say, *written and *read untouched.
 */
int cc_tcp_app_bytes(int fd, uint32_t *written, uint32_t *read);

#endif
