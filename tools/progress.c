/*
 * The live count on a terminal: one line, rewritten with \r four times a second, from the shared
 * counters page (packets, bytes, drops) and the capture file's size.  Nothing at all when stderr
 * is not a terminal, so logs and pipes get only the summary.
 */
#include "tools/daily.h"

#include <stdio.h>
#include <string.h>
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
	char line[256], bytes[32], size[48] = "";
	struct stat st;
	int len;

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
	/* Pad over the remains of a longer previous line. */
	fprintf(stderr, "\r%s%*s", line, p->width > len ? p->width - len : 0, "");
	fflush(stderr);
	p->width = len;
}

void progress_end(struct progress *p)
{
	if (p->on && p->width) {
		fprintf(stderr, "\r%*s\r", p->width, "");
		fflush(stderr);
	}
	p->width = 0;
}
