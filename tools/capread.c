/*
 * capread.c - libpcap as the one reader of capture files, so every format and link type it
 * knows (pcap, pcapng, both byte orders, micro- and nanosecond) works the same in report,
 * extract and the wrapper's exit statistics.
 *
 * libpcap can only read a file from its start.  To read what one run appended to an existing
 * file, it gets a stdio stream (fopencookie) that serves the file's header and then the file
 * from the offset where the run began.
 */
#include "tools/capread.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HDR_MAX 65536	/* SHB plus IDBs; ours is well under 512 bytes */

struct tail {
	int fd;
	uint8_t *hdr;
	size_t hdr_len;
	off_t start;
	off_t pos;		/* position in the stream libpcap sees */
};

static uint32_t rd32(const uint8_t *p, int swap)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return swap ? __builtin_bswap32(v) : v;
}

size_t cc_capread_header_len(const uint8_t *buf, size_t len)
{
	size_t off = 0;
	int swap;

	if (len < 24)
		return 0;
	if (rd32(buf, 0) != 0x0A0D0D0Au) {
		uint32_t magic = rd32(buf, 0);

		/* Classic pcap: micro or nano magic, either byte order. */
		if (magic == 0xa1b2c3d4u || magic == 0xd4c3b2a1u || magic == 0xa1b23c4du ||
		    magic == 0x4d3cb2a1u)
			return 24;
		return 0;
	}
	/* The byte-order magic of the section header decides how lengths read (pcapng §4.1). */
	if (rd32(buf + 8, 0) == 0x1A2B3C4Du)
		swap = 0;
	else if (rd32(buf + 8, 1) == 0x1A2B3C4Du)
		swap = 1;
	else
		return 0;
	while (off + 12 <= len) {
		uint32_t type = rd32(buf + off, swap);
		uint32_t blen = rd32(buf + off + 4, swap);

		if (off == 0 ? type != 0x0A0D0D0Au : type != 1u)
			break;
		if (blen < 12 || blen % 4 != 0 || blen > len - off)
			return off;	/* a partial block is not header */
		off += blen;
	}
	return off;
}

static ssize_t tail_read(void *cookie, char *buf, size_t size)
{
	struct tail *t = cookie;
	size_t done = 0;

	while (done < size) {
		ssize_t n;

		if ((size_t)t->pos < t->hdr_len) {
			n = (ssize_t)(t->hdr_len - (size_t)t->pos);
			if ((size_t)n > size - done)
				n = (ssize_t)(size - done);
			memcpy(buf + done, t->hdr + t->pos, (size_t)n);
		} else {
			n = pread(t->fd, buf + done, size - done,
				  t->start + (t->pos - (off_t)t->hdr_len));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return done ? (ssize_t)done : -1;
			if (n == 0)
				break;
		}
		done += (size_t)n;
		t->pos += n;
	}
	return (ssize_t)done;
}

static int tail_close(void *cookie)
{
	struct tail *t = cookie;

	close(t->fd);
	free(t->hdr);
	free(t);
	return 0;
}

static FILE *open_tail(const char *path, off_t start, char *err, size_t errlen)
{
	cookie_io_functions_t io = { .read = tail_read, .close = tail_close };
	struct tail *t = calloc(1, sizeof *t);
	ssize_t n;
	FILE *fp;

	if (t == NULL || (t->hdr = malloc(HDR_MAX)) == NULL) {
		free(t);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (t->fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(t->hdr);
		free(t);
		return NULL;
	}
	n = pread(t->fd, t->hdr, HDR_MAX, 0);
	t->hdr_len = n > 0 ? cc_capread_header_len(t->hdr, (size_t)n) : 0;
	if (t->hdr_len == 0) {
		snprintf(err, errlen, "%s: not a pcap or pcapng file", path);
		tail_close(t);
		return NULL;
	}
	t->start = start < (off_t)t->hdr_len ? (off_t)t->hdr_len : start;
	fp = fopencookie(t, "r", io);
	if (fp == NULL) {
		snprintf(err, errlen, "fopencookie: %s", strerror(errno));
		tail_close(t);
	}
	return fp;
}

/*
 * libpcap names the file only when it cannot open it; "unknown file format" or "Is a directory"
 * alone leaves the user guessing which argument was wrong.  Returns whether err was filled.
 */
static bool not_a_capture(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return false;
	if (S_ISDIR(st.st_mode))
		snprintf(err, errlen, "%s: Is a directory", path);
	else if (S_ISREG(st.st_mode) && st.st_size == 0)
		snprintf(err, errlen, "%s: empty file, not a pcap or pcapng capture", path);
	else
		return false;
	return true;
}

int cc_capread_open(struct cc_capread *r, const char *path, off_t start)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "";
	size_t plen = strlen(path);

	memset(r, 0, sizeof *r);
	if (not_a_capture(path, r->err, sizeof r->err))
		return -1;
	if (start > 0) {
		FILE *fp = open_tail(path, start, r->err, sizeof r->err);

		if (fp == NULL)
			return -1;
		r->pc = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_NANO, ebuf);
		if (r->pc == NULL)
			fclose(fp);
	} else {
		r->pc = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, ebuf);
	}
	if (r->pc == NULL) {
		if (strncmp(ebuf, path, plen) == 0 && ebuf[plen] == ':')
			snprintf(r->err, sizeof r->err, "%s", ebuf);
		else if (strcmp(ebuf, "unknown file format") == 0)
			snprintf(r->err, sizeof r->err, "%s: not a pcap or pcapng file", path);
		else
			snprintf(r->err, sizeof r->err, "%s: %s", path, ebuf);
		return -1;
	}
	r->dlt = pcap_datalink(r->pc);
	return 0;
}

/* -------------------------------------------------------------------------------------------
 * Comments.  The blocks libpcap turns into frames are, in file order, the Enhanced, Simple and
 * obsolete Packet Blocks (pcapng spec sections 4.3-4.5); every other block it skips.  Walking
 * the same blocks in step, the n-th packet block is the n-th frame, and its options hold the
 * comment (option code 1).  The walk reads through a buffer, so it costs no system call per
 * frame.
 */

#define SCAN_BUF 65536
#define OPT_MAX 4096	/* option bytes read per block: a comment longer is cut */

struct cc_capscan {
	int fd;
	int swap;
	off_t pos;		/* the next block */
	off_t buf_off;		/* file offset of buf[0] */
	size_t buf_len;
	uint8_t buf[SCAN_BUF];
	char comment[OPT_MAX];
};

/* n bytes at file offset off, through the buffer; NULL past the end. */
static const uint8_t *scan_get(struct cc_capscan *s, off_t off, size_t n)
{
	if (n > SCAN_BUF)
		return NULL;
	if (off < s->buf_off || off + (off_t)n > s->buf_off + (off_t)s->buf_len) {
		ssize_t got = pread(s->fd, s->buf, SCAN_BUF, off);

		s->buf_off = off;
		s->buf_len = got > 0 ? (size_t)got : 0;
		if (s->buf_len < n)
			return NULL;
	}
	return s->buf + (off - s->buf_off);
}

void cc_capread_comments(struct cc_capread *r, const char *path, off_t start)
{
	uint8_t h[12];
	struct cc_capscan *s;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	/* Only pcapng has comments; its section header gives the byte order. */
	if (pread(fd, h, sizeof h, 0) != (ssize_t)sizeof h || rd32(h, 0) != 0x0A0D0D0A ||
	    (rd32(h + 8, 0) != 0x1A2B3C4D && rd32(h + 8, 0) != 0x4D3C2B1A) || (s = calloc(1, sizeof *s)) == NULL) {
		close(fd);
		return;
	}
	s->fd = fd;
	s->swap = rd32(h + 8, 0) == 0x4D3C2B1A;
	s->pos = start;
	r->scan = s;
}

/* The first comment in the options at [off, end), into s->comment; its length or 0. */
static size_t scan_options(struct cc_capscan *s, off_t off, off_t end)
{
	size_t n = end - off > OPT_MAX ? OPT_MAX : (size_t)(end - off);
	const uint8_t *o = n ? scan_get(s, off, n) : NULL;

	for (size_t i = 0; o != NULL && i + 4 <= n;) {
		uint16_t code, len;

		memcpy(&code, o + i, 2);
		memcpy(&len, o + i + 2, 2);
		if (s->swap) {
			code = __builtin_bswap16(code);
			len = __builtin_bswap16(len);
		}
		if (code == 0 || len > n - i - 4)
			break;
		if (code == 1) {
			memcpy(s->comment, o + i + 4, len);
			return len;
		}
		i += 4 + ((len + 3u) & ~3u);
	}
	return 0;
}

/* Advances to the next packet block and takes its comment (at_end: walks the blocks after the
 * last frame, for statistics); gives up (no more comments) on a block that does not parse. */
static void scan_next(struct cc_capread *r, int at_end)
{
	struct cc_capscan *s = r->scan;

	r->comment = NULL;
	r->comment_len = 0;
	for (;;) {
		const uint8_t *h = scan_get(s, s->pos, 12);
		uint32_t type, len;
		off_t at = s->pos;

		if (h == NULL)
			goto stop;
		type = rd32(h, s->swap);
		if (type == 0x0A0D0D0A) {
			uint32_t magic = rd32(h + 8, 0);

			if (magic != 0x1A2B3C4D && magic != 0x4D3C2B1A)
				goto stop;
			s->swap = magic == 0x4D3C2B1A;
		}
		len = rd32(h + 4, s->swap);
		if (len < 12 || len % 4)
			goto stop;
		s->pos += len;
		if (type == 5 && len >= 24 && r->on_stats != NULL) {
			/* Interface Statistics Block: interface, timestamp (2), then options. */
			size_t n = scan_options(s, at + 20, at + len - 4);

			if (n)
				r->on_stats(r->stats_arg, s->comment, n);
			continue;
		}
		if (at_end)
			continue;
		if (type == 3)		/* Simple Packet Block: no options */
			return;
		if (type == 6 || type == 2) {
			/* EPB: interface, timestamp (2), captured and original length; PB: interface and
			 * drops (16-bit each), then the same.  The data is padded to 32 bits. */
			const off_t fixed = 28;
			const uint8_t *b = scan_get(s, at, (size_t)fixed);
			uint32_t caplen;

			if (b == NULL)
				goto stop;
			caplen = rd32(b + 20, s->swap);
			if (caplen > len - fixed - 4)
				return;
			size_t n = scan_options(s, at + fixed + ((caplen + 3u) & ~3u), at + len - 4);

			if (n) {
				r->comment = s->comment;
				r->comment_len = n;
			}
			return;
		}
	}
stop:
	close(s->fd);
	free(s);
	r->scan = NULL;
}

int cc_capread_next(struct cc_capread *r, const struct pcap_pkthdr **h, const uint8_t **data,
		    uint64_t *ts_ns)
{
	struct pcap_pkthdr *hdr;
	const u_char *d;
	int rc = pcap_next_ex(r->pc, &hdr, &d);

	if (rc == 1) {
		*h = hdr;
		*data = d;
		/* With nanosecond precision tv_usec holds nanoseconds. */
		*ts_ns = (uint64_t)hdr->ts.tv_sec * 1000000000ull + (uint64_t)hdr->ts.tv_usec;
		r->frames++;
		if (r->scan != NULL)
			scan_next(r, 0);
		return 1;
	}
	if (rc == PCAP_ERROR_BREAK) {
		if (r->scan != NULL)
			scan_next(r, 1);
		return 0;
	}
	r->truncated = 1;
	snprintf(r->err, sizeof r->err, "%s", pcap_geterr(r->pc));
	return -1;
}

void cc_capread_close(struct cc_capread *r)
{
	if (r->pc != NULL)
		pcap_close(r->pc);
	r->pc = NULL;
	if (r->scan != NULL) {
		close(r->scan->fd);
		free(r->scan);
		r->scan = NULL;
	}
	r->comment = NULL;
}
