/*
 * The per-user runtime directory (see rundir.h).
 */
#include "pcapout/rundir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
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
