/*
 * The tracer's capture output: the records the shim's writer would produce, built with the same
 * frame and record code (pcapout/frame.c, pcapout/format.c), collected in one buffer and
 * appended with O_APPEND under the file's lock, as every other writer of a clearcap file does.
 *
 * Each record's comment is "pid N name", as the shim writes; the first record of the run also
 * says how it was captured, so a reader of the file knows why there is no plaintext.
 */
#include "tools/trace_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define OUT_BUF (1u << 20)
#define NOTE_FIRST "captured by system-call tracing (program is static/Go: the shim cannot enter it); no plaintext"
#define NOTE_MAX 256            /* a frame's note is cut here (the longest, a refused connect's, is 134) */

static struct {
	int fd;
	int pipe;               /* a pipe or FIFO: no lock, no repair, writes may be partial */
	enum cc_format fmt;
	struct cc_counters *cnt;
	uint8_t *buf;
	size_t len, records;
	int noted;              /* the first record's note was written */
	int failed;             /* a write failed: the rest is counted as dropped */
	pcap_t *pc;
	struct bpf_program prog;
	int filtering;
} O = { .fd = -1 };

uint64_t cc_trace_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

__attribute__((noreturn, format(printf, 1, 2)))
static void out_die(const char *fmt, ...)
{
	va_list ap;

	fputs("clearcap: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* Adds to a field of the counters page, when there is one. */
#define ADD(field, n) do { \
	if (O.cnt != NULL) \
		__atomic_fetch_add(&O.cnt->field, (uint64_t)(n), __ATOMIC_RELAXED); \
} while (0)

/* An existing file is appended to only when it starts with our header (as the shim checks). */
static void check_header(int fd, const char *path)
{
	uint8_t buf[CC_HEADER_MAX];
	ssize_t r = pread(fd, buf, sizeof buf, 0);

	if (r < 0 || !cc_format_is_ours(buf, (size_t)r, O.fmt))
		out_die("-a: %s is not a clearcap %s capture", path, O.fmt == CC_FMT_PCAP ? "pcap" : "pcapng");
}

static void write_all(const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(O.fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			O.failed = 1;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

static void open_file(const char *path)
{
	/*
	 * Read access for the -a header check, non-blocking so that a FIFO opened so cannot hang us
	 * (it is reopened write-only).  /proc/PID/fd/N (-w - redirected to a file) is a link by
	 * nature; elsewhere links are refused.
	 */
	int flags = O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	struct stat st;

	if (strncmp(path, "/proc/", 6) != 0)
		flags |= O_NOFOLLOW;
	O.fd = open(path, flags | O_RDWR, 0600);
	if (O.fd >= 0 && fstat(O.fd, &st) == 0 && S_ISFIFO(st.st_mode)) {
		close(O.fd);
		O.fd = open(path, (flags & ~O_NONBLOCK) | O_WRONLY, 0600);
	}
	if (O.fd >= 0)
		fcntl(O.fd, F_SETFL, O_APPEND);
	if (O.fd < 0)
		out_die("cannot open %s: %s", path, strerror(errno));
	if (fstat(O.fd, &st) < 0)
		out_die("%s: %s", path, strerror(errno));
	O.pipe = S_ISFIFO(st.st_mode);
	flock(O.fd, LOCK_EX);
	if (!O.pipe && st.st_size > 0) {
		check_header(O.fd, path);
	} else {
		uint8_t hdr[CC_HEADER_MAX];
		write_all(hdr, cc_format_header(O.fmt, hdr));
	}
	flock(O.fd, LOCK_UN);
	if (O.failed)
		out_die("cannot write %s: %s", path, strerror(errno));
}

static void open_filter(const char *expr)
{
	O.pc = pcap_open_dead_with_tstamp_precision(CC_LINKTYPE_LINUX_SLL2, CC_SNAPLEN, PCAP_TSTAMP_PRECISION_NANO);
	if (O.pc == NULL)
		out_die("-f: libpcap cannot compile filters");
	if (pcap_compile(O.pc, &O.prog, expr, 1, PCAP_NETMASK_UNKNOWN) < 0)
		out_die("invalid -f/--filter '%s': %s", expr, pcap_geterr(O.pc));
	O.filtering = 1;
}

void cc_trace_open(const struct cc_trace_cfg *cfg)
{
	O.fmt = cfg->fmt;
	O.buf = malloc(OUT_BUF);
	if (O.buf == NULL)
		out_die("out of memory");
	if (cfg->filter != NULL)
		open_filter(cfg->filter);
	if (cfg->fd >= 0) {
		O.fd = cfg->fd;
		O.pipe = 1;
		return;
	}
	open_file(cfg->path);
}

void cc_tout_counters(struct cc_counters *c)
{
	O.cnt = c;
}

void cc_tout_flush(void)
{
	if (O.len == 0)
		return;
	if (!O.failed) {
		/* The lock keeps our batch whole against other writers sharing the file (-a). */
		if (!O.pipe)
			flock(O.fd, LOCK_EX);
		write_all(O.buf, O.len);
		if (!O.pipe)
			flock(O.fd, LOCK_UN);
	}
	if (O.failed) {
		ADD(dropped, O.records);
		ADD(write_errors, 1);
	} else {
		ADD(captured, O.records);
		ADD(bytes, O.len);
	}
	O.len = 0;
	O.records = 0;
}

int cc_tout_pending(void)
{
	return O.len > 0;
}

void cc_tout_close(void)
{
	cc_tout_flush();
	if (O.filtering) {
		pcap_freecode(&O.prog);
		pcap_close(O.pc);
		O.filtering = 0;
	}
}

void cc_tout_frame(struct tproc *p, const struct cc_frame *f, uint64_t ts, const uint8_t *payload,
		   size_t caplen, size_t origlen)
{
	/* (A control segment has no payload: an empty one, not NULL, for the frame's memcpy.) */
	struct iovec iov = { (void *)(payload ? payload : (const uint8_t *)""), caplen };
	char comment[sizeof p->comment + sizeof NOTE_FIRST + 2 + NOTE_MAX];
	size_t hl = cc_frame_hdr_len(f), clen = 0, rlen;
	size_t off = cc_record_frame_off(O.fmt);

	if (caplen > CC_SNAPLEN - hl)
		caplen = CC_SNAPLEN - hl;
	if (O.fmt == CC_FMT_PCAPNG)
		clen = (size_t)snprintf(comment, sizeof comment, "%s%s%s%s%.*s", p->comment,
					O.noted ? "" : "; ", O.noted ? "" : NOTE_FIRST,
					f->note ? "; " : "", NOTE_MAX - 1, f->note ? f->note : "");
	rlen = cc_record_len(O.fmt, hl + caplen, clen);
	if (O.len + rlen > OUT_BUF)
		cc_tout_flush();
	if (rlen > OUT_BUF)
		return;
	cc_frame_build(O.buf + O.len + off, f, &iov, 1, 0, caplen, origlen);
	if (O.filtering) {
		struct pcap_pkthdr h;

		h.ts.tv_sec = 0;
		h.ts.tv_usec = 0;
		h.caplen = (bpf_u_int32)(hl + caplen);
		h.len = (bpf_u_int32)(hl + origlen);
		if (!pcap_offline_filter(&O.prog, &h, O.buf + O.len + off)) {
			ADD(filtered, 1);
			return;
		}
	}
	cc_record_finish(O.fmt, O.buf + O.len, ts, f->iface, f->outgoing, hl + caplen, hl + origlen,
			 comment, clen);
	O.len += rlen;
	O.records++;
	O.noted = 1;
}

void cc_tout_process(struct tproc *p)
{
	if (!p->counted) {
		p->counted = 1;
		ADD(processes, 1);
	}
}
