/*
 * Capture file formats: pcapng (default) and classic pcap with nanosecond timestamps.
 *
 * A file starts with a fixed header (pcapng: Section Header Block and one Interface Description
 * Block per interface; pcap: the global header) and continues with one record per frame.  Both
 * are written in host byte order, as libpcap and Wireshark expect from any writer.
 */
#ifndef CC_FORMAT_H
#define CC_FORMAT_H

#include <stddef.h>
#include <stdint.h>

enum cc_format { CC_FMT_PCAPNG = 0, CC_FMT_PCAP = 1 };

#define CC_HEADER_MAX 512

/* The file header for fmt; returns its length (at most CC_HEADER_MAX). */
size_t cc_format_header(enum cc_format fmt, uint8_t *dst);

/*
 * Whether the len bytes at p, the start of a file, are our header for fmt: a file clearcap may
 * append to in that format (the shim, the tracer and the wrapper's -a check ask the same).
 */
int cc_format_is_ours(const uint8_t *p, size_t len, enum cc_format fmt);

/*
 * The same header with a section comment (pcapng opt_comment in the Section Header Block; pcap
 * has no place for one).  dst must hold CC_HEADER_MAX + comment_len + 8 bytes; comment_len is at
 * most 65000.
 */
size_t cc_format_header_comment(enum cc_format fmt, uint8_t *dst, const char *comment, size_t comment_len);

/*
 * Bytes of one record around a frame of caplen bytes with an optional comment (pcapng only).
 * Inline, as the next: the writer asks for every record.
 */
static inline size_t cc_record_len(enum cc_format fmt, size_t caplen, size_t comment_len)
{
	if (fmt == CC_FMT_PCAP)
		return 16 + caplen;
	/* 28 fixed, data, epb_flags option (8), comment option, end of options (4), trailer (4). */
	return 28 + ((caplen + 3) & ~(size_t)3) + 8 + (comment_len ? 4 + ((comment_len + 3) & ~(size_t)3) : 0) + 4 + 4;
}

/* Offset of the frame bytes inside a record. */
static inline size_t cc_record_frame_off(enum cc_format fmt)
{
	return fmt == CC_FMT_PCAP ? 16 : 28;
}

/*
 * Writes the record's fields around the frame, which the caller has put (or will put) at
 * dst + cc_record_frame_off(fmt).  iface is the SLL2 index (1-based); outgoing is 1 or 0, or -1
 * when the direction is not known.
 */
void cc_record_finish(enum cc_format fmt, uint8_t *dst, uint64_t ts_ns, unsigned iface, int outgoing,
		      size_t caplen, size_t origlen, const char *comment, size_t comment_len);

/*
 * An Enhanced Packet Block's options as cc_record_finish() writes them: the direction flags
 * (outgoing 1, 0, or -1 for none known), the comment if comment_len, the end of options.
 * Returns their length, at most 16 + comment_len + 3.
 */
size_t cc_record_opts(uint8_t *dst, int outgoing, const char *comment, size_t comment_len);

/*
 * The pcapng record of a whole UDP datagram over IPv4 (f->dst.family not AF_INET6), in one pass:
 * the same bytes cc_frame_build() and cc_record_finish() write for it together, for the
 * writer's most common record.  opts: the options cc_record_opts() made for the frame's
 * direction and the record's comment.  dst holds 28 + 48 + len + 3 + opts_len + 4 bytes;
 * returns the record's length.
 */
struct cc_frame;
size_t cc_record_udp4(uint8_t *dst, const struct cc_frame *f, uint64_t ts_ns, const uint8_t *payload, size_t len,
		      const uint8_t *opts, size_t opts_len);

/*
 * The headers of an IPv4 UDP flow's records, taken from one of them (cc_udp4_tmpl_take: rec,
 * written by cc_record_udp4 for frame f): the flow's next record is a copy with its lengths,
 * time and header sum put in (cc_record_udp4_again), the same bytes cc_record_udp4 writes.
 */
#define CC_UDP4_HDR (28 + 20 + 20 + 8)          /* EPB head, SLL2, IPv4, UDP */
struct cc_udp4_tmpl {
	uint8_t hdr[CC_UDP4_HDR];
	uint32_t ip_sum;                        /* the IPv4 header's words but its length and sum */
};
void cc_udp4_tmpl_take(struct cc_udp4_tmpl *t, const uint8_t *rec, const struct cc_frame *f);
/* (cc_record_udp4_again, inline, is in format_int.h.) */

/* The timestamp (ns) of a record written by cc_record_finish. */
uint64_t cc_record_ts(enum cc_format fmt, const uint8_t *rec);

/* pcapng Decryption Secrets Block (type 0x544c534b, TLS key log) around len bytes of key log. */
size_t cc_dsb_len(size_t len);
void cc_dsb_write(uint8_t *dst, const char *keylog, size_t len);

/*
 * pcapng Interface Statistics Block for interface ifid at ts_ns: isb_osdrop (what the capture
 * dropped) and a comment (at most 255 bytes used).  Writes it into dst (room bytes: 320 always
 * suffice); returns its length.
 */
#define CC_ISB_MAX 320
size_t cc_isb_write(uint8_t *dst, uint32_t ifid, uint64_t ts_ns, uint64_t osdrop, const char *comment,
		    size_t comment_len);

#endif
