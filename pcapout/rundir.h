/*
 * The per-user runtime directory clearcap keeps its small shared files in: per-process control
 * pages (shim/control.c, `clearcap ctl`) and the state of rotating captures (pcapout/rotate.c).
 *
 * $XDG_RUNTIME_DIR/clearcap when XDG_RUNTIME_DIR is an absolute path, else /tmp/clearcap-UID.
 * Created 0700; an existing one is used only when it is a real directory (not a link) owned by
 * us and closed to others, so no other user can plant or read files in it.
 */
#ifndef CC_RUNDIR_H
#define CC_RUNDIR_H

#include <stddef.h>
#include <stdint.h>

/* Writes the directory's path to dst (creating it with `create`); returns 0, or -1 (errno). */
int cc_rundir(char *dst, size_t n, int create);

/*
 * When process pid (0: this one) started (field 22 of /proc/PID/stat: the same across exec,
 * another for a pid used again), or 0 when no such process runs.  The files here name
 * processes by the two.
 */
uint64_t cc_proc_start(uint32_t pid);

/* The same, but 0 for a process that has ended and not been waited for yet (a zombie). */
uint64_t cc_proc_live_start(uint32_t pid);

/*
 * Process pid's (0: this one's) state letter from /proc/PID/stat (field 3: R, S, Z, ...), with
 * its numeric field `field` (4 or more) in *value; 0 when unreadable.  Plain system calls: the
 * shim calls it too, and its descriptor never meets the shim's hooks.
 */
char cc_proc_stat(uint32_t pid, int field, uint64_t *value);

#endif
