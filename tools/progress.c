/*
 * The live count on a terminal, four times a second, from the shared counters page (packets,
 * bytes, drops) and the capture file's size.  Nothing at all when stderr is not a terminal, so
 * logs and pipes get only the summary.
 *
 * The program writes to the same terminal, through descriptors of its own that we never see.  A
 * line redrawn with \r where the cursor is would have the program's next output glued onto its
 * end, and a \r of ours would overwrite a line the program had begun.  So on a terminal that
 * knows where its rows are, the count lives on the bottom row, outside a scrolling region that
 * holds the rest (DECSTBM, as apt's progress bar does): the program's output scrolls above it and
 * never meets it.  Each redraw saves the cursor, writes the bottom row and puts the cursor back,
 * in one write(), which the terminal driver does not interleave with the program's writes.
 * Where that cannot be done (TERM=dumb or unset, no window size), the line is redrawn with \r.
 *
 * Hazards: the cursor is saved with DECSC, whose one slot a program using it too would share; a
 * program that moves the cursor about (a full-screen one) meets the line anyway; a line the
 * program writes between a resize and the redraw (SIGWINCH redraws at once under the wrapper,
 * the tracer waits for its next tick) may meet the old line; and a wrapper killed by SIGKILL
 * leaves the region set (`reset`, or a resize, clears it).
 */
#include "tools/daily.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

bool progress_start(struct progress *p, struct cc_counters *page, const char *file)
{
	memset(p, 0, sizeof *p);
	p->page = page;
	p->file = file;
	p->on = page != NULL && isatty(2);
	return p->on;
}

/* Rows of the terminal when it can hold a scrolling region and a row of our own; else 0. */
static int region_rows(int *cols)
{
	const char *term = getenv("TERM");
	struct winsize ws;

	if (term == NULL || term[0] == '\0' || strcmp(term, "dumb") == 0)
		return 0;
	if (ioctl(2, TIOCGWINSZ, &ws) < 0 || ws.ws_row < 3 || ws.ws_col < 2)
		return 0;
	*cols = ws.ws_col;
	return ws.ws_row;
}

/* One write, so that no write of the program's lands in the middle of our sequence. */
static void put(const char *s, int len)
{
	while (len > 0) {
		ssize_t n = write(2, s, (size_t)len);
		if (n < 0 && errno == EINTR)
			continue;       /* a sequence cut in half would leave the cursor where we put it */
		if (n <= 0)
			return;
		s += n;
		len -= (int)n;
	}
}

/*
 * The region is every row but the last.  Setting it moves the cursor home, so it is saved and
 * put back; first IND then CUU takes the cursor off the last row if it was there (scrolling the
 * screen by one), without moving it otherwise and without losing its column.  After a resize the
 * old line is somewhere below the cursor (where depends on the terminal), and so is nothing of
 * the program's, which writes on at the cursor: all rows below it are blanked.
 */
static void region_set(struct progress *p, int rows, bool resized)
{
	char b[64];
	int n = snprintf(b, sizeof b, "\033D\033[A%s\0337\033[1;%dr\0338", resized ? "\0337\033[B\033[1G\033[J\0338" : "",
			 rows - 1);

	put(b, n);
	p->rows = rows;
}

/* Gives the whole screen back to scrolling; blanks our row first unless the window has changed. */
static void region_clear(struct progress *p, bool resized)
{
	char b[64];
	int n = resized ? snprintf(b, sizeof b, "\0337\033[r\0338")
			: snprintf(b, sizeof b, "\0337\033[%d;1H\033[K\033[r\0338", p->rows);

	put(b, n);
	p->rows = 0;
}

static void human(char *buf, size_t n, unsigned long long v)
{
	if (v >= 10000000ull)
		snprintf(buf, n, "%llu MB", v / 1000000ull);
	else if (v >= 10000ull)
		snprintf(buf, n, "%llu kB", v / 1000ull);
	else
		snprintf(buf, n, "%llu B", v);
}

void progress_tick(struct progress *p)
{
	char line[256], bytes[32], size[48] = "", out[320];
	struct stat st;
	int len, rows, cols = 0;

	if (!p->on)
		return;
	human(bytes, sizeof bytes, __atomic_load_n(&p->page->bytes, __ATOMIC_RELAXED));
	if (p->file && stat(p->file, &st) == 0 && S_ISREG(st.st_mode)) {
		char h[32];
		human(h, sizeof h, (unsigned long long)st.st_size);
		snprintf(size, sizeof size, ", file %s", h);
	}
	len = snprintf(line, sizeof line, "clearcap: %llu packets, %s%s, %llu dropped",
		       (unsigned long long)__atomic_load_n(&p->page->captured, __ATOMIC_RELAXED), bytes, size,
		       (unsigned long long)__atomic_load_n(&p->page->dropped, __ATOMIC_RELAXED));
	if (len < 0)
		return;
	/* Asked every time: a resized window (the terminal may reset the region then) is set anew. */
	rows = region_rows(&cols);
	if (rows != p->rows) {
		bool resized = p->rows != 0;
		if (resized)
			region_clear(p, true);
		if (rows)
			region_set(p, rows, resized);
	}
	if (p->rows) {
		/*
		 * Our row, in the default rendition (the program's colours are put back with the
		 * cursor), and short of the last column, whose wrap some terminals would scroll by.
		 */
		len = snprintf(out, sizeof out, "\0337\033[%d;1H\033[0m%.*s\033[K\0338", p->rows, cols - 1, line);
		put(out, len < (int)sizeof out ? len : (int)sizeof out - 1);
		return;
	}
	/* Pad over the remains of a longer previous line. */
	fprintf(stderr, "\r%s%*s", line, p->width > len ? p->width - len : 0, "");
	fflush(stderr);
	p->width = len;
}

void progress_end(struct progress *p)
{
	if (p->on && p->rows) {
		region_clear(p, false);
	} else if (p->on && p->width) {
		fprintf(stderr, "\r%*s\r", p->width, "");
		fflush(stderr);
	}
	p->width = 0;
}
