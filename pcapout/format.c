/*
 * pcapng (draft-ietf-opsawg-pcapng) and classic pcap records.
 *
 * pcapng Enhanced Packet Block as written here:
 *
 *   +---------------------------------------------------------------+
 *   |                    Block Type = 0x00000006                    |
 *   |                      Block Total Length                       |
 *   |                         Interface ID                          |
 *   |                        Timestamp (High)                       |
 *   |                        Timestamp (Low)                        |
 *   |                    Captured Packet Length                     |
 *   |                    Original Packet Length                     |
 *   /              Packet Data (padded to 32 bits)                  /
 *   |  epb_flags (2) len 4: direction  |  opt_comment (1), if any   /
 *   |  opt_endofopt                    |  Block Total Length        |
 *   +---------------------------------------------------------------+
 *
 * Timestamps are nanoseconds since the epoch (if_tsresol = 9 on every interface).
 */
#include "pcapout/format.h"
#include "pcapout/format_int.h"
#include "pcapout/frame.h"
#include "pcapout/frame_int.h"

#include <string.h>

static const char *const if_names[CC_IF_COUNT] = { "wire", "plaintext", "relay" };

static inline void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static inline __attribute__((always_inline)) size_t put_opt(uint8_t *p, uint16_t code, const void *v, size_t len)
{
	put16(p, code);
	put16(p + 2, (uint16_t)len);
	memcpy(p + 4, v, len);
	pad_zero(p + 4 + len, PAD4(len) - len);
	return 4 + PAD4(len);
}

static size_t shb(uint8_t *p, const char *comment, size_t comment_len)
{
	static const char appl[] = "clearcap";
	size_t n = 0;
	uint64_t section_len = UINT64_MAX;      /* unknown: many writers append to this section */

	put32(p, 0x0a0d0d0a);
	put32(p + 8, 0x1a2b3c4d);
	put16(p + 12, 1);
	put16(p + 14, 0);
	memcpy(p + 16, &section_len, 8);
	n = 24;
	if (comment_len)
		n += put_opt(p + n, 1, comment, comment_len);     /* opt_comment */
	n += put_opt(p + n, 4, appl, sizeof(appl) - 1);  /* shb_userappl */
	put32(p + n, 0);                                  /* opt_endofopt */
	n += 4;
	put32(p + 4, (uint32_t)(n + 4));
	put32(p + n, (uint32_t)(n + 4));
	return n + 4;
}

static size_t idb(uint8_t *p, const char *name)
{
	uint8_t tsresol = 9;
	size_t n;

	put32(p, 0x00000001);
	put16(p + 8, CC_LINKTYPE_LINUX_SLL2);
	put16(p + 10, 0);
	put32(p + 12, CC_SNAPLEN);
	n = 16;
	n += put_opt(p + n, 2, name, strlen(name));       /* if_name */
	n += put_opt(p + n, 9, &tsresol, 1);              /* if_tsresol */
	put32(p + n, 0);
	n += 4;
	put32(p + 4, (uint32_t)(n + 4));
	put32(p + n, (uint32_t)(n + 4));
	return n + 4;
}

size_t cc_format_header(enum cc_format fmt, uint8_t *dst)
{
	return cc_format_header_comment(fmt, dst, NULL, 0);
}

int cc_format_is_ours(const uint8_t *p, size_t len, enum cc_format fmt)
{
	uint8_t hdr[CC_HEADER_MAX];
	size_t n = cc_format_header(fmt, hdr);

	return len >= n && memcmp(p, hdr, n) == 0;
}

size_t cc_format_header_comment(enum cc_format fmt, uint8_t *dst, const char *comment, size_t comment_len)
{
	size_t n = 0;

	if (fmt == CC_FMT_PCAP) {
		put32(dst, 0xa1b23c4d);         /* nanosecond-resolution pcap */
		put16(dst + 4, 2);
		put16(dst + 6, 4);
		put32(dst + 8, 0);
		put32(dst + 12, 0);
		put32(dst + 16, CC_SNAPLEN);
		put32(dst + 20, CC_LINKTYPE_LINUX_SLL2);
		return 24;
	}
	n += shb(dst, comment, comment_len);
	for (int i = 0; i < CC_IF_COUNT; i++)
		n += idb(dst + n, if_names[i]);
	return n;
}

void cc_record_finish(enum cc_format fmt, uint8_t *dst, uint64_t ts_ns, unsigned iface, int outgoing,
		      size_t caplen, size_t origlen, const char *comment, size_t comment_len)
{
	if (fmt == CC_FMT_PCAP) {
		put32(dst, (uint32_t)(ts_ns / 1000000000u));
		put32(dst + 4, (uint32_t)(ts_ns % 1000000000u));
		put32(dst + 8, (uint32_t)caplen);
		put32(dst + 12, (uint32_t)origlen);
		return;
	}
	size_t total = cc_record_len(fmt, caplen, comment_len);
	size_t n = 28 + caplen;

	put32(dst, 0x00000006);
	put32(dst + 4, (uint32_t)total);
	put32(dst + 8, iface - 1);
	put32(dst + 12, (uint32_t)(ts_ns >> 32));
	put32(dst + 16, (uint32_t)ts_ns);
	put32(dst + 20, (uint32_t)caplen);
	put32(dst + 24, (uint32_t)origlen);
	pad_zero(dst + n, PAD4(caplen) - caplen);
	n = 28 + PAD4(caplen);
	n += cc_record_opts(dst + n, outgoing, comment, comment_len);
	put32(dst + n, (uint32_t)total);
}

size_t cc_record_opts(uint8_t *dst, int outgoing, const char *comment, size_t comment_len)
{
	/* epb_flags bits 0-1: 01 inbound, 10 outbound, 00 not known (a re-framed capture's). */
	uint32_t flags = outgoing < 0 ? 0 : outgoing ? 2 : 1;
	size_t n = put_opt(dst, 2, &flags, 4);

	if (comment_len)
		n += put_opt(dst + n, 1, comment, comment_len);
	put32(dst + n, 0);
	return n + 4;
}

size_t cc_record_udp4(uint8_t *dst, const struct cc_frame *f, uint64_t ts_ns, const uint8_t *payload, size_t len,
		      const uint8_t *opts, size_t opts_len)
{
	/* As cc_record_finish() around cc_frame_build()'s frame, with the options made already. */
	put32(dst, 0x00000006);
	put32(dst + 8, f->iface - 1u);
	put_sll2(dst + 28, f);
	put_ip4(dst + 28 + CC_SLL2_LEN, f, 8 + len);
	put_udp(dst + 28 + CC_SLL2_LEN + 20, f, 8 + len);
	return udp4_rest(dst, ts_ns, payload, len, opts, opts_len);
}

void cc_udp4_tmpl_take(struct cc_udp4_tmpl *t, const uint8_t *rec, const struct cc_frame *f)
{
	memcpy(t->hdr, rec, CC_UDP4_HDR);
	t->ip_sum = ip4_fixed_sum(f);
}

uint64_t cc_record_ts(enum cc_format fmt, const uint8_t *rec)
{
	uint32_t a, b;

	memcpy(&a, rec + (fmt == CC_FMT_PCAP ? 0 : 12), 4);
	memcpy(&b, rec + (fmt == CC_FMT_PCAP ? 4 : 16), 4);
	if (fmt == CC_FMT_PCAP)
		return (uint64_t)a * 1000000000u + b;
	return (uint64_t)a << 32 | b;
}

size_t cc_dsb_len(size_t len)
{
	return 20 + PAD4(len) + 4;
}

void cc_dsb_write(uint8_t *dst, const char *keylog, size_t len)
{
	size_t total = cc_dsb_len(len);

	put32(dst, 0x0000000a);
	put32(dst + 4, (uint32_t)total);
	put32(dst + 8, 0x544c534b);             /* TLS key log */
	put32(dst + 12, (uint32_t)len);
	memcpy(dst + 16, keylog, len);
	pad_zero(dst + 16 + len, PAD4(len) - len);
	put32(dst + 16 + PAD4(len), 0);         /* opt_endofopt */
	put32(dst + total - 4, (uint32_t)total);
}

size_t cc_isb_write(uint8_t *dst, uint32_t ifid, uint64_t ts_ns, uint64_t osdrop, const char *comment,
		    size_t comment_len)
{
	size_t n = 20;

	if (comment_len > 255)
		comment_len = 255;
	put32(dst, 0x00000005);
	put32(dst + 8, ifid);
	put32(dst + 12, (uint32_t)(ts_ns >> 32));
	put32(dst + 16, (uint32_t)ts_ns);
	if (comment_len)
		n += put_opt(dst + n, 1, comment, comment_len);         /* opt_comment */
	n += put_opt(dst + n, 7, &osdrop, 8);                       /* isb_osdrop */
	put32(dst + n, 0);                                          /* opt_endofopt */
	n += 4;
	put32(dst + 4, (uint32_t)(n + 4));
	put32(dst + n, (uint32_t)(n + 4));
	return n + 4;
}
