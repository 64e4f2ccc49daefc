/*
 * exitstats.c - analysing the records one run of the wrapper added to its capture file.
 *
 * The file may have existed before (-a appends): its size at the start of the run marks where
 * this run's records begin, and only those are read (tools/capread.c serves libpcap the file's
 * header followed by that tail).  Without -a the old file was removed, so the size is 0.  A
 * process that cut off a record cut short at the file's end says where through the counters
 * page (cc_exitstats_add), since the run's records then begin before that size.
 */
#include "tools/exitstats.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
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
	es->nmore = 0;
	if (es->path == NULL)
		return;
	es->start = stat(abs_path, &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : 0;
}

void cc_exitstats_add(struct cc_exitstats *es, const char *abs_path, off_t start)
{
	struct cc_exitfile *f;

	if (es->path == NULL)
		return;
	if (strcmp(abs_path, es->path) == 0) {
		if (start < es->start)
			es->start = start;
		return;
	}
	for (size_t i = 0; i < es->nmore; i++)
		if (strcmp(es->more[i].path, abs_path) == 0) {
			if (start < es->more[i].start)
				es->more[i].start = start;
			return;
		}
	if (es->nmore == CC_EXITSTATS_FILES)
		return;
	f = &es->more[es->nmore];
	if ((f->path = strdup(abs_path)) == NULL)
		return;
	f->start = start;
	es->nmore++;
}

/* A file still empty or gone (nothing was written to it, or it was moved away) adds nothing. */
static bool has_records(const char *path, off_t start)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > start;
}

/* Every file of the run into one analysis, in the order the run wrote them; NULL on failure
 * (reported).  src describes the first file. */
static struct cc_an *analyze_run(const struct cc_exitstats *es, struct cc_report_src *src)
{
	struct cc_report_src more_src;
	struct cc_an *a = cc_an_new();
	char err[512];

	memset(src, 0, sizeof *src);
	src->file = es->path;
	src->start = es->start;
	src->dlt = -1;
	if (a == NULL)
		return NULL;
	if (has_records(es->path, es->start) &&
	    cc_analyze_add(a, es->path, es->start, src, err, sizeof err) < 0)
		goto fail;
	for (size_t i = 0; i < es->nmore; i++) {
		if (!has_records(es->more[i].path, es->more[i].start))
			continue;
		if (cc_analyze_add(a, es->more[i].path, es->more[i].start, &more_src, err, sizeof err) < 0)
			goto fail;
		if (more_src.truncated && !src->truncated) {
			src->truncated = 1;
			src->read_error = more_src.read_error;
		}
		if (src->dlt < 0)
			src->dlt = more_src.dlt;
	}
	cc_an_finish(a);
	return a;
fail:
	fprintf(stderr, "clearcap: no statistics: %s\n", err);
	cc_an_free(a);
	return NULL;
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
	struct cc_an *a = NULL;

	if (stats_path == NULL) {
		stats_path = getenv("CLEARCAP_STATS");
		if (stats_path != NULL && stats_path[0] == '\0')
			stats_path = NULL;
	}
	if (es->path == NULL && stats_path != NULL)
		fprintf(stderr, "clearcap: no statistics for a capture to a pipe, a FIFO or rotated files\n");
	if (es->path == NULL || (quiet && stats_path == NULL))
		goto out;
	/* Nothing captured, or a FIFO or device: there is no file to read back, and the table is empty. */
	a = analyze_run(es, &src);
	if (a == NULL)
		goto out;
	if (!quiet)
		cc_report_compact(stderr, a);
	if (stats_path != NULL)
		write_json(stats_path, a, &src);
out:
	cc_an_free(a);
	free(es->path);
	es->path = NULL;
	for (size_t i = 0; i < es->nmore; i++)
		free(es->more[i].path);
	es->nmore = 0;
}
