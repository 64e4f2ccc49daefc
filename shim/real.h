/*
 * The real functions behind our hooks, bound once with dlsym(RTLD_NEXT) and never to ourselves.
 */
#ifndef CC_REAL_H
#define CC_REAL_H

#include <grp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#define CC_REAL_LIST(X) \
	X(int, socket, (int, int, int)) \
	X(int, socketpair, (int, int, int, int[2])) \
	X(int, bind, (int, const struct sockaddr *, socklen_t)) \
	X(int, connect, (int, const struct sockaddr *, socklen_t)) \
	X(int, accept, (int, struct sockaddr *, socklen_t *)) \
	X(int, accept4, (int, struct sockaddr *, socklen_t *, int)) \
	X(int, shutdown, (int, int)) \
	X(int, close, (int)) \
	X(int, close_range, (unsigned, unsigned, int)) \
	X(void, closefrom, (int)) \
	X(int, fclose, (FILE *)) \
	X(FILE *, fdopen, (int, const char *)) \
	X(int, dup, (int)) \
	X(int, dup2, (int, int)) \
	X(int, dup3, (int, int, int)) \
	X(int, fcntl, (int, int, ...)) \
	X(int, fcntl64, (int, int, ...)) \
	X(int, setsockopt, (int, int, int, const void *, socklen_t)) \
	X(int, getsockopt, (int, int, int, void *, socklen_t *)) \
	X(ssize_t, sendto, (int, const void *, size_t, int, const struct sockaddr *, socklen_t)) \
	X(ssize_t, send, (int, const void *, size_t, int)) \
	X(ssize_t, sendmsg, (int, const struct msghdr *, int)) \
	X(int, sendmmsg, (int, struct mmsghdr *, unsigned, int)) \
	X(ssize_t, write, (int, const void *, size_t)) \
	X(ssize_t, writev, (int, const struct iovec *, int)) \
	X(ssize_t, recvfrom, (int, void *, size_t, int, struct sockaddr *, socklen_t *)) \
	X(ssize_t, recv, (int, void *, size_t, int)) \
	X(ssize_t, recvmsg, (int, struct msghdr *, int)) \
	X(int, recvmmsg, (int, struct mmsghdr *, unsigned, int, struct timespec *)) \
	X(ssize_t, read, (int, void *, size_t)) \
	X(ssize_t, readv, (int, const struct iovec *, int)) \
	X(ssize_t, sendfile, (int, int, off_t *, size_t)) \
	X(ssize_t, splice, (int, loff_t *, int, loff_t *, size_t, unsigned int)) \
	X(int, execve, (const char *, char *const[], char *const[])) \
	X(int, execv, (const char *, char *const[])) \
	X(int, execvp, (const char *, char *const[])) \
	X(int, execvpe, (const char *, char *const[], char *const[])) \
	X(int, fexecve, (int, char *const[], char *const[])) \
	X(int, execveat, (int, const char *, char *const[], char *const[], int)) \
	X(void, _exit, (int)) \
	X(void, _Exit, (int)) \
	X(int, pthread_cancel, (pthread_t)) \
	X(void, pthread_exit, (void *)) \
	X(int, setuid, (uid_t)) \
	X(int, setgid, (gid_t)) \
	X(int, seteuid, (uid_t)) \
	X(int, setegid, (gid_t)) \
	X(int, setreuid, (uid_t, uid_t)) \
	X(int, setregid, (gid_t, gid_t)) \
	X(int, setresuid, (uid_t, uid_t, uid_t)) \
	X(int, setresgid, (gid_t, gid_t, gid_t)) \
	X(int, setgroups, (size_t, const gid_t *)) \
	X(int, initgroups, (const char *, gid_t))

struct cc_real {
#define CC_REAL_FIELD(ret, name, args) ret (*name) args;
	CC_REAL_LIST(CC_REAL_FIELD)
#undef CC_REAL_FIELD
};

extern struct cc_real cc_real;

/* Binds every real symbol; safe to call again and from any hook that runs before the constructor. */
void cc_real_init(void);

/* The loaded object that holds addr (an opaque identity), or NULL. */
const void *cc_object_of(const void *addr);

/* True when addr lies in libclearcap.so itself. */
int cc_real_is_ours(void *addr);

/* Looks a symbol up in the objects after ours; NULL if absent or if it is our own hook. */
void *cc_real_lookup(const char *name);

#endif
