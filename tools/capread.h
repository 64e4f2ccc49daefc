/*
 * capread.h - reading a pcap or pcapng file with libpcap, from its start or from a byte offset
 * (the records a run appended), and feeding the frames to a consumer.
 */
#ifndef CC_CAPREAD_H
#define CC_CAPREAD_H

#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct cc_capscan;

struct cc_capread {
	pcap_t *pc;
	int dlt;
	uint64_t frames;
	int truncated;		/* the file ended inside a record, or libpcap reported an error */
	char err[PCAP_ERRBUF_SIZE + 64];
	/*
	 * The comment of the frame cc_capread_next returned (pcapng, after cc_capread_comments):
	 * libpcap gives no block options, so the file is walked a second time beside it.
	 */
	const char *comment;
	size_t comment_len;
	struct cc_capscan *scan;
	/* Called with the comment of each Interface Statistics Block, up to the file's end. */
	void (*on_stats)(void *arg, const char *comment, size_t len);
	void *stats_arg;
};

/*
 * Opens path for reading with nanosecond timestamps.  With start > 0, only the records from
 * byte offset start on are read: libpcap is given the file's own header (section header and
 * interface descriptions, or the 24-byte pcap header) followed by the bytes from start.
 * Returns 0, or -1 with r->err set.
 */
int cc_capread_open(struct cc_capread *r, const char *path, off_t start);

/* 1 with a frame, 0 at the end, -1 on a read error (r->err, r->truncated). */
int cc_capread_next(struct cc_capread *r, const struct pcap_pkthdr **h, const uint8_t **data,
		    uint64_t *ts_ns);

void cc_capread_close(struct cc_capread *r);

/*
 * From now on each frame's first comment (pcapng opt_comment) is in r->comment, or NULL.  For a
 * pcap file, or when the file cannot be walked, every frame has none.  Call after open, before
 * the first cc_capread_next.
 */
void cc_capread_comments(struct cc_capread *r, const char *path, off_t start);

/* Length of the fixed header at the start of a capture file (pcapng: SHB and the IDBs after
 * it; pcap: 24), or 0 when the bytes are not a capture header.  buf holds the file's start. */
size_t cc_capread_header_len(const uint8_t *buf, size_t len);

#endif /* CC_CAPREAD_H */
