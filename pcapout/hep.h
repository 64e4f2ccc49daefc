/*
 * HEPv3 (the Homer Encapsulation Protocol, version 3) packets from capture records: the pure
 * part of the HEP output (out_hep.c), with no I/O, so that a unit test can check every byte.
 */
#ifndef CC_HEP_H
#define CC_HEP_H

#include <stddef.h>
#include <stdint.h>

#include "pcapout/format.h"
#include "pcapout/frame.h"

/* What the HEP output sends (CLEARCAP_HEP_CLASSES); the default is SIP and RTCP. */
enum {
	CC_HEP_SIP = 1u << 0,
	CC_HEP_RTCP = 1u << 1,
	CC_HEP_RTP = 1u << 2,
	CC_HEP_OTHER = 1u << 3,         /* any other UDP payload (protocol type 0) */
	CC_HEP_WIRE = 1u << 8,          /* interfaces, as in CLEARCAP_CAPTURE */
	CC_HEP_PLAIN = 1u << 9,
	CC_HEP_RELAY = 1u << 10,
	CC_HEP_DEFAULT = CC_HEP_SIP | CC_HEP_RTCP | CC_HEP_WIRE | CC_HEP_PLAIN | CC_HEP_RELAY,
};

/* HEP protocol types (chunk 0x000b) used here; the specification lists more. */
enum { CC_HEP_PT_OTHER = 0, CC_HEP_PT_SIP = 1, CC_HEP_PT_RTP = 4, CC_HEP_PT_RTCP_JSON = 5 };

#define CC_HEP_MAX 65535        /* the header's 16-bit total length */

/* The collector and what the HEP packets say about the agent (struct cc_writer_cfg carries it). */
struct cc_hep_cfg {
	int on;
	int tcp;                        /* 0: UDP */
	uint16_t family;                /* AF_INET or AF_INET6 */
	uint16_t port;                  /* host order */
	uint8_t addr[16];               /* network order */
	uint32_t id;                    /* capture agent id (chunk 12) */
	char name[64];                  /* node name (chunk 19), or empty */
	char password[64];              /* authentication key (chunk 14), or empty */
	unsigned classes;               /* CC_HEP_* */
};

/* One captured packet read back from a record (the frame the writer built). */
struct cc_hep_pkt {
	struct cc_addr src, dst;
	uint8_t proto;                  /* IPPROTO_UDP, IPPROTO_TCP or IPPROTO_SCTP */
	uint8_t iface;                  /* enum cc_iface */
	uint8_t outgoing;
	uint8_t tcp_flags;
	uint32_t seq;                   /* TCP */
	uint64_t ts_ns;
	const uint8_t *payload;         /* transport payload (the SCTP packet for SCTP) */
	size_t len;
};

/*
 * The record at rec (rlen bytes, whole) in format fmt: its length in *used, and the packet when
 * it is one (pcapng EPB or pcap record holding an SLL2 frame).  Returns 1 for a packet, 0 for
 * any other block (a Decryption Secrets Block, say) or a frame we cannot read, -1 when rec does
 * not hold a whole record (then *used is what it needs, or 0 when unreadable).
 */
int cc_hep_parse_record(enum cc_format fmt, const uint8_t *rec, size_t rlen, size_t *used, struct cc_hep_pkt *pkt);

/*
 * Parses a collector, "udp:HOST:PORT" or "tcp:HOST:PORT" with a numeric IPv4 or IPv6 HOST (IPv6
 * in brackets), into c (the shim's CLEARCAP_HEP, the wrapper's --hep).  Returns 0, or -1 with
 * the reason in why.
 */
int cc_hep_parse_url(const char *v, struct cc_hep_cfg *c, const char **why);

/* Parses a class list (CLEARCAP_HEP_CLASSES) into CC_HEP_* bits; 0, or -1 with the unknown word in bad. */
int cc_hep_parse_classes(const char *list, unsigned *mask, char *bad, size_t badlen);

/* The HEPv3 packet for one payload; its length, or 0 when it does not fit in room. */
struct cc_hep_msg {
	const struct cc_hep_pkt *pkt;   /* addresses, ports, protocol, time */
	uint8_t proto_type;             /* CC_HEP_PT_* */
	const uint8_t *payload;
	size_t len;
	const uint8_t *cid;             /* correlation id (chunk 17), or NULL */
	size_t cid_len;
};
size_t cc_hep_encode(uint8_t *out, size_t room, const struct cc_hep_cfg *cfg, const struct cc_hep_msg *m);

/* The class (CC_HEP_SIP, _RTCP, _RTP or _OTHER) of a UDP payload between ports sport and dport. */
unsigned cc_hep_classify_udp(const uint8_t *p, size_t len, uint16_t sport, uint16_t dport);

/*
 * An RTCP compound packet as the JSON Homer reads for protocol type 5 (the sender report's
 * sender information and the report blocks of its first SR or RR); its length, or 0 when the
 * packet holds no SR or RR or out is too small.
 */
size_t cc_hep_rtcp_json(const uint8_t *p, size_t len, char *out, size_t room);

/*
 * The correlation id of an RTCP flow no SIP message named: "rtcp-A-B", A and B the flow's two
 * ends ("ip:port", "[ip6]:port"; IPv4-mapped as IPv4) in sorted order, so that the reports of
 * both directions, and of both ends when each is captured, share one id.  Its length, or 0 when
 * out is too small.
 */
size_t cc_hep_flow_cid(const struct cc_addr *a, const struct cc_addr *b, char *out, size_t size);

#endif
