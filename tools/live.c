/*
 * Live view: the capture on a pipe (`clearcap -w - -- prog | wireshark -k -i -`) or a FIFO.
 *
 * The wrapper writes the file header to the pipe once, before the program starts, and tells the
 * shim so (CLEARCAP_PIPE_HEADER=done); each process then opens the pipe itself and appends its
 * batches under an flock on the pipe (pcapout/writer.c), so records of several processes never
 * interleave even though only writes up to PIPE_BUF are atomic.  The wrapper keeps its end open
 * until the program ends, so the reader does not see end-of-file between processes.
 */
#include "tools/daily.h"
#include "pcapout/format.h"
#include "pcapout/rotate.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

__attribute__((format(printf, 1, 2), noreturn))
static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("clearcap: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

bool is_fifo(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISFIFO(st.st_mode);
}

/* The header, with SIGPIPE ignored for the one write: a reader already gone is an error here. */
static void write_header(int fd, const char *format, const char *what)
{
	uint8_t hdr[CC_HEADER_MAX];
	size_t len = cc_format_header(strcmp(format, "pcap") == 0 ? CC_FMT_PCAP : CC_FMT_PCAPNG, hdr);
	struct sigaction ign, old;
	ssize_t w;

	memset(&ign, 0, sizeof ign);
	ign.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &ign, &old);
	do
		w = write(fd, hdr, len);
	while (w < 0 && errno == EINTR);
	sigaction(SIGPIPE, &old, NULL);
	if (w != (ssize_t)len)
		die("cannot write to %s: %s", what, w < 0 ? strerror(errno) : "short write");
}

int live_stdout(const char *format, char **file)
{
	struct stat st;

	if (isatty(1))
		die("-w -: standard output is a terminal; pipe it to a reader (| wireshark -k -i -)");
	if (fstat(1, &st) < 0)
		die("-w -: standard output: %s", strerror(errno));
	if (asprintf(file, "/proc/%d/fd/1", (int)getpid()) < 0)
		die("out of memory");
	if (S_ISREG(st.st_mode))
		return -1;      /* `> file`: the shim appends to it like any capture file */
	if (!S_ISFIFO(st.st_mode))
		die("-w -: standard output must be a pipe, a FIFO or a file");
	write_header(1, format, "standard output");
	return 1;
}

int live_fifo(const char *path, const char *format)
{
	int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0 && errno == ENXIO) {
		/* Like tcpdump -w FIFO: wait for the reader (^C still works, nothing is blocked yet). */
		fprintf(stderr, "clearcap: waiting for a reader on %s\n", path);
		fd = open(path, O_WRONLY | O_CLOEXEC);
	}
	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	fcntl(fd, F_SETFL, O_WRONLY);
	write_header(fd, format, path);
	return fd;
}

int rotation_first(char *out, size_t n, const char *file, long long size, long seconds, long files)
{
	struct cc_rot_cfg cfg = { size, seconds, files };

	return cc_rot_name(out, n, file, &cfg, time(NULL), 0);
}

void rotation_fresh(const char *file, long long size, long seconds, long files)
{
	char state[4200], first[4200];

	if (cc_rot_state_path(state, sizeof state, file) == 0)
		unlink(state);
	if (rotation_first(first, sizeof first, file, size, seconds, files) == 0)
		unlink(first);
}
