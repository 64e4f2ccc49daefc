/*
 * exitstats.c - analysing the records one run of the wrapper added to its capture file.
 *
 * The file may have existed before (-a appends): its size at the start of the run marks where
 * this run's records begin, and only those are read (tools/capread.c serves libpcap the file's
 * header followed by that tail).  Without -a the old file was removed, so the size is 0.
 */
#include "tools/exitstats.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/report.h"

void cc_exitstats_begin(struct cc_exitstats *es, const char *abs_path)
{
	struct stat st;

	es->path = abs_path != NULL ? strdup(abs_path) : NULL;
	es->start = 0;
	if (es->path == NULL)
		return;
	es->start = stat(abs_path, &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : 0;
}

static void write_json(const char *path, const struct cc_an *a, const struct cc_report_src *src)
{
	/* Created like the capture itself: 0600, and never through a symlink planted there. */
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	FILE *f;

	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		fprintf(stderr, "clearcap: cannot write statistics to %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	cc_report_json(f, a, src);
	if (fclose(f) != 0)
		fprintf(stderr, "clearcap: cannot write statistics to %s: %s\n", path, strerror(errno));
}

void cc_exitstats_end(struct cc_exitstats *es, bool quiet, const char *stats_path)
{
	struct cc_report_src src;
	struct stat st;
	struct cc_an *a = NULL;
	char err[512];

	if (stats_path == NULL) {
		stats_path = getenv("CLEARCAP_STATS");
		if (stats_path != NULL && stats_path[0] == '\0')
			stats_path = NULL;
	}
	if (es->path == NULL && stats_path != NULL)
		fprintf(stderr, "clearcap: no statistics for a capture to a pipe, a FIFO or rotated files\n");
	if (es->path == NULL || (quiet && stats_path == NULL))
		goto out;
	/* Nothing captured, or a FIFO or device: there is no file to read back. */
	if (stat(es->path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > es->start) {
		a = cc_analyze_file(es->path, es->start, &src, err, sizeof err);
		if (a == NULL) {
			fprintf(stderr, "clearcap: no statistics: %s\n", err);
			goto out;
		}
	} else {
		a = cc_an_new();
		if (a == NULL)
			goto out;
		memset(&src, 0, sizeof src);
		src.file = es->path;
		src.start = es->start;
		src.dlt = -1;
	}
	if (!quiet)
		cc_report_compact(stderr, a);
	if (stats_path != NULL)
		write_json(stats_path, a, &src);
out:
	cc_an_free(a);
	free(es->path);
	es->path = NULL;
}
