/*
 * The per-user runtime directory (see rundir.h).
 */
#include "pcapout/rundir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int cc_rundir(char *dst, size_t n, int create)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct stat st;
	int len;

	if (xdg && xdg[0] == '/')
		len = snprintf(dst, n, "%s/clearcap", xdg);
	else
		len = snprintf(dst, n, "/tmp/clearcap-%u", (unsigned)getuid());
	if (len < 0 || (size_t)len >= n) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (create && mkdir(dst, 0700) < 0 && errno != EEXIST)
		return -1;
	if (lstat(dst, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 077)) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

char cc_proc_stat(uint32_t pid, int field, uint64_t *value)
{
	char path[32], buf[1024];
	int fd;
	long n;

	if (pid == 0)
		snprintf(path, sizeof(path), "/proc/self/stat");
	else
		snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = syscall(SYS_read, fd, buf, sizeof(buf) - 1);
	syscall(SYS_close, fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* After "pid (comm)", whose comm may hold spaces and parentheses, each field follows a space. */
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || !p[2])
		return 0;
	char state = p[2];
	for (int f = 2; f < field && p; f++)
		p = strchr(p + 1, ' ');
	if (!p)
		return 0;
	*value = strtoull(p + 1, NULL, 10);
	return state;
}

/* Field 22 of pid's stat file (0: self); 0 when unreadable, or when `live` and pid has ended. */
static uint64_t proc_start(uint32_t pid, int live)
{
	uint64_t start;
	char state = cc_proc_stat(pid, 22, &start);

	/* Z (zombie) or X (dead) has ended, waited for or not. */
	if (!state || (live && (state == 'Z' || state == 'X')))
		return 0;
	return start;
}

uint64_t cc_proc_start(uint32_t pid)
{
	return proc_start(pid, 0);
}

uint64_t cc_proc_live_start(uint32_t pid)
{
	return proc_start(pid, 1);
}
