/*
 * png.c - PNG copies of the report's SVG pictures, rendered by rsvg-convert (librsvg).
 *
 * The SVG is the one source of each picture.  Rendering it with Debian's librsvg at run time
 * (package librsvg2-bin) keeps a single drawing of the plots and keeps the clearcap command free
 * of new link-time libraries: librsvg in process would pull glib, cairo, pango and gdk-pixbuf into
 * every run of every subcommand, and drawing with cairo directly would be a second renderer of
 * the same plots to keep in step.  Only `report --svg` ever starts rsvg-convert.
 */
#include "tools/png.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

int cc_png_from_svg(const char *svg, const char *png, char *err, size_t errlen)
{
	char *argv[] = { (char *)"rsvg-convert", (char *)"--format=png", (char *)"-o", (char *)png,
			 (char *)svg, NULL };
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int rc, st;

	posix_spawn_file_actions_init(&fa);
	/* rsvg-convert's own complaints would interleave with the report on stdout. */
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	rc = posix_spawnp(&pid, "rsvg-convert", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc == ENOENT) {
		snprintf(err, errlen, "rsvg-convert not found (Debian package librsvg2-bin): no PNG copies");
		return 1;
	}
	if (rc != 0) {
		snprintf(err, errlen, "rsvg-convert: %s", strerror(rc));
		return -1;
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			snprintf(err, errlen, "rsvg-convert: %s", strerror(errno));
			return -1;
		}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		snprintf(err, errlen, "rsvg-convert failed on %s (status %d)", svg, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		return -1;
	}
	return 0;
}
