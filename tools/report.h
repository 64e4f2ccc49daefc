/*
 * report.h - printing an analysis (tools/analyze.h): the `clearcap report` timeline and summary
 * as text or JSON, the compact table the wrapper prints at exit, SVG pictures per RTP stream,
 * and the two subcommands built on them.
 */
#ifndef CC_REPORT_H
#define CC_REPORT_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "tools/analyze.h"

/* What the printers say about the file around the tables. */
struct cc_report_src {
	const char *file;
	int dlt;
	int truncated;		/* reading stopped at a damaged or cut-off record */
	const char *read_error;
	off_t start;		/* > 0: only records from this byte offset were read */
};

void cc_report_text(FILE *out, const struct cc_an *a, const struct cc_report_src *src);
void cc_report_json(FILE *out, const struct cc_an *a, const struct cc_report_src *src);

/* The wrapper's exit table: a few lines per flow, stream, STUN and DTLS, each "clearcap: ". */
void cc_report_compact(FILE *out, const struct cc_an *a);

/* One SVG per RTP stream (bitrate, loss, jitter over time) into dir; returns files written or -1. */
int cc_report_svg(const char *dir, const struct cc_an *a);

/* A stream's interface ("wire", "plaintext", "relay") and direction ("sent", "recv") as the report names them. */
const char *cc_report_ifname(uint8_t ifindex);
const char *cc_report_dirname(uint8_t dir);

/* Reads path (from byte offset start) into a new analysis; NULL with a message on error.
 * src is filled for the printers. */
struct cc_an *cc_analyze_file(const char *path, off_t start, struct cc_report_src *src,
			      char *err, size_t errlen);

/* Reads path (from byte offset start) into a, which cc_an_finish has not finished yet: the
 * wrapper reads every file of a run (ctl reopen) into one analysis.  0, or -1 with err set. */
int cc_analyze_add(struct cc_an *a, const char *path, off_t start, struct cc_report_src *src,
		   char *err, size_t errlen);

/* `clearcap report FILE [--json] [--svg DIR]` and `clearcap extract FILE [-o DIR] [--both]`. */
int cc_cmd_report(int argc, char **argv);
int cc_cmd_extract(int argc, char **argv);

#endif /* CC_REPORT_H */
