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
 * Job control.  The line is drawn only while the wrapper's process group has the terminal: not
 * in a run started in the background (`&`), nor while a job of a shell run under us has it.
 * Leaving the foreground gives the region back (SIGTTOU held off while we draw, as TOSTOP would
 * stop us for it), and so does ^Z: SIGTSTP's handler gives the region back, then stops the
 * wrapper with SIGTSTP's own default action, so that the shell's prompt gets the whole screen; at
 * `fg` the next tick sets it again.  A wrapper started with SIGTSTP ignored keeps it ignored.
 *
 * Hazards: the cursor is saved with DECSC, whose one slot a program using it too would share; a
 * program that moves the cursor about (a full-screen one) meets the line anyway; a line the
 * program writes between a resize and the redraw (SIGWINCH redraws at once under the wrapper,
 * the tracer waits for its next tick) may meet the old line; a pager the output is piped to
 * (`| less`) shares the screen with the line; and a wrapper killed by SIGKILL leaves the region
 * set (`reset`, or a resize, clears it).
 */
#include "tools/daily.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

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

/*
 * One write, so that no write of the program's lands in the middle of our sequence.  A terminal
 * left non-blocking (the descriptor is shared with the program) may take part of it: the rest
 * follows once it has room (a sequence cut in half would leave the cursor where we put it), for
 * 200 ms at most.  Whether it was all written: with nothing written, the caller knows the
 * screen is as it was.  Async-signal-safe (SIGTSTP's handler uses it).
 */
static bool put(const char *s, int len)
{
	int waits = 0;

	while (len > 0) {
		ssize_t n = write(2, s, (size_t)len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && waits++ < 20) {
			struct pollfd pf = { .fd = 2, .events = POLLOUT };
			poll(&pf, 1, 10);
			continue;
		}
		if (n <= 0)
			return false;
		s += n;
		len -= (int)n;
	}
	return true;
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

	p->give_back_len = snprintf(p->give_back, sizeof p->give_back, "\0337\033[%d;1H\033[K\033[r\0338", rows);
	/* A region the terminal did not take is not drawn under: the next tick tries again. */
	p->rows = put(b, n) ? rows : 0;
}

/* Gives the whole screen back to scrolling; blanks our row first unless the window has changed. */
static void region_clear(struct progress *p, bool resized)
{
	static const char whole[] = "\0337\033[r\0338";

	p->rows = 0;
	if (resized)
		put(whole, (int)sizeof whole - 1);
	else
		put(p->give_back, p->give_back_len);
}

/*
 * The terminal is ours to draw on: our process group is its foreground one, or it is not our
 * controlling terminal (setsid, stderr sent to another terminal: no job control to respect).
 */
static bool foreground(void)
{
	pid_t fg = tcgetpgrp(2);

	return fg < 0 ? errno == ENOTTY : fg == getpgrp();
}

/* The line on screen, for SIGTSTP's handler (one at a time: the wrapper waits for one program). */
static struct progress *volatile shown;

/*
 * ^Z: the region is given back (the sequence was made when it was set: nothing here but
 * async-signal-safe calls), then the wrapper stops as SIGTSTP's default action would have
 * stopped it; continued, the handler is put back and the next tick sets the region again.
 */
static void on_tstp(int sig)
{
	int saved = errno;
	struct progress *p = shown;
	struct sigaction dfl, old;
	sigset_t set;

	if (p && p->rows) {
		p->rows = 0;
		put(p->give_back, p->give_back_len);
	} else if (p && p->width > 0) {
		/* The line drawn with \r: blanked, so that the shell's message starts a clean line. */
		static const char blank[] = "\r                                                                "
					    "                                                                ";
		int w = p->width < (int)sizeof blank - 1 ? p->width : (int)sizeof blank - 1;
		p->width = 0;
		put(blank, w + 1);
		put("\r", 1);
	}
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigaction(sig, &dfl, &old);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);                     /* stopped here until SIGCONT */
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigaction(sig, &old, NULL);
	errno = saved;
}

bool progress_start(struct progress *p, struct cc_counters *page, const char *file)
{
	memset(p, 0, sizeof *p);
	p->page = page;
	p->file = file;
	p->on = page != NULL && isatty(2);
	/*
	 * ^Z's handler, where ^Z would stop us: a wrapper started with SIGTSTP ignored (a script's
	 * `trap '' TSTP`) keeps it ignored, as the program does, and is never stopped.
	 */
	if (p->on && sigaction(SIGTSTP, NULL, &p->old_tstp) == 0 && p->old_tstp.sa_handler == SIG_DFL &&
	    !(p->old_tstp.sa_flags & SA_SIGINFO)) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_tstp;
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = SA_RESTART;
		shown = p;
		p->tstp = sigaction(SIGTSTP, &sa, NULL) == 0;
	}
	return p->on;
}

/*
 * While we draw: ^Z's handler waits (it must not give back a region half set, nor have a tick
 * go on after fg as if nothing had happened), and SIGTTOU too, so that a shell run under us
 * taking the terminal between our look and our write (TOSTOP) costs a stray line, not a
 * wrapper stopped alone.
 */
static void hold(sigset_t *old)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGTSTP);
	sigaddset(&s, SIGTTOU);
	sigprocmask(SIG_BLOCK, &s, old);
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

static void tick(struct progress *p);

void progress_tick(struct progress *p)
{
	sigset_t old;

	if (!p->on)
		return;
	hold(&old);
	tick(p);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

static void tick(struct progress *p)
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
	if (!foreground()) {
		if (p->rows)
			region_clear(p, false);   /* (SIGTTOU held: TOSTOP would stop us) */
		return;
	}
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
	sigset_t old;

	if (!p->on)
		return;
	hold(&old);
	if (p->rows) {
		region_clear(p, false);
	} else if (p->width && foreground()) {
		fprintf(stderr, "\r%*s\r", p->width, "");
		fflush(stderr);
	}
	p->width = 0;
	/* The region given back first: a ^Z from here on stops us as it always would. */
	if (p->tstp)
		sigaction(SIGTSTP, &p->old_tstp, NULL);
	p->tstp = false;
	shown = NULL;
	sigprocmask(SIG_SETMASK, &old, NULL);
}
