/*
 * The wrapper's daily-use parts: live view to a pipe or FIFO (live.c), the progress line
 * (progress.c) and `clearcap ctl` (ctl.c).
 */
#ifndef CC_TOOLS_DAILY_H
#define CC_TOOLS_DAILY_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pcapout/pages.h"

/*
 * `-w -`: checks our standard output (a pipe or FIFO gets the file header now; a regular file
 * is left to the shim; a terminal or socket is refused) and returns the fd the capture goes to,
 * with *file set to the name the shim opens (/proc/OURPID/fd/1).
 */
int live_stdout(const char *format, char **file);

/* `-w FIFO`: waits for a reader (as tcpdump does), writes the header, returns the fd we keep. */
int live_fifo(const char *path, const char *format);

bool is_fifo(const char *path);

/* A new rotating capture (no -a): the shared rotation state and the first file start afresh. */
void rotation_fresh(const char *file, long long size, long seconds, long files);
/* The first file a rotation of FILE writes (FILE itself, FILE0 with -W, a strftime name with -G). */
int rotation_first(char *out, size_t n, const char *file, long long size, long seconds, long files);

struct progress {
	bool on;
	struct cc_counters *page;
	const char *file;
	int width;              /* of the last line drawn with \r, to blank it */
	int rows;               /* the terminal's rows while the line has the bottom one; else 0 */
	char give_back[32];     /* the sequence that gives the region back (written by SIGTSTP's handler) */
	int give_back_len;
	struct sigaction old_tstp;
	bool tstp;              /* our SIGTSTP handler is in place (SIGTSTP was not ignored) */
};

/* Whether stderr is a terminal (then the line is shown). */
bool progress_start(struct progress *p, struct cc_counters *page, const char *file);
void progress_tick(struct progress *p);
/* Blanks the line (and gives the bottom row back), so the summary starts on a clean line. */
void progress_end(struct progress *p);

/* `clearcap ctl PID|all status|pause|resume|reopen FILE` */
int cmd_ctl(int argc, char **argv);

#endif
