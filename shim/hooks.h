/*
 * Shared by the hook files: what is exported, and the process-level state hooks consult.
 */
#ifndef CC_HOOKS_H
#define CC_HOOKS_H

#include <stdint.h>

/* Only hooked names leave the library (-fvisibility=hidden plus shim/exports.map). */
#define CC_EXPORT __attribute__((visibility("default")))

/* This process's id, refreshed in the fork child (getpid() would be a system call per packet). */
extern uint32_t cc_pid;

/* glibc's _FORTIFY_SOURCE entry points, which no public header declares. */
#include <sys/socket.h>
#include <sys/types.h>
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags, struct sockaddr *from,
		       socklen_t *fromlen);
ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);

/* Start-up: binds real symbols, reads the configuration, registers fork handlers. */
void cc_init(void);

#endif
