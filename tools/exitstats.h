/*
 * exitstats.h - the wrapper's statistics at exit (`clearcap -w FILE -- prog`): what this run
 * added to FILE, analysed and printed as a compact table on stderr, and with --stats PATH or
 * CLEARCAP_STATS=PATH written as JSON (the `clearcap report --json` format).
 */
#ifndef CC_EXITSTATS_H
#define CC_EXITSTATS_H

#include <stdbool.h>
#include <sys/types.h>

#define CC_EXITSTATS_FILES 16	/* files of one run read back; more are named, not read */

struct cc_exitfile {
	char *path;		/* absolute */
	off_t start;		/* where the run's records in it begin */
};

struct cc_exitstats {
	char *path;		/* absolute path of the capture file */
	off_t start;		/* its size when the run began: an appended run reads from here */
	struct cc_exitfile more[CC_EXITSTATS_FILES];	/* files `clearcap ctl reopen` added */
	size_t nmore;
};

/* Before the program starts: remember where this run's records will begin.  abs_path NULL:
 * the capture cannot be read back (pipe, FIFO, rotation), and there will be no statistics. */
void cc_exitstats_begin(struct cc_exitstats *es, const char *abs_path);

/* A file `clearcap ctl reopen` switched to, read from start too (the earliest start of a file
 * named twice counts).  Ignored without a first file (no statistics) or when the table is full. */
void cc_exitstats_add(struct cc_exitstats *es, const char *abs_path, off_t start);

/*
 * After the program ended and the summary line was printed.  Prints the table unless quiet;
 * writes JSON to stats_path, or when that is NULL to $CLEARCAP_STATS if set.  Never fails the
 * run: problems are one warning line.
 */
void cc_exitstats_end(struct cc_exitstats *es, bool quiet, const char *stats_path);

#endif /* CC_EXITSTATS_H */
