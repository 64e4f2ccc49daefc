/*
 * pktparse.h - one captured frame, from its link-layer header down to the transport payload:
 * Ethernet (with 802.1Q tags), Linux cooked SLL and SLL2, raw IP, BSD loopback (NULL/LOOP),
 * then IPv4 or IPv6 (extension headers skipped), then UDP, TCP or SCTP.
 *
 * Pure and bounded: every read goes through decoders/cursor.h, nothing is allocated, and a
 * frame that ends early is reported as such, never read past.
 */
#ifndef CC_PKTPARSE_H
#define CC_PKTPARSE_H

#include <stddef.h>
#include <stdint.h>

/* Where the capture says a packet went (SLL/SLL2 packet type); other links cannot say. */
enum cc_pkt_dir { CC_DIR_UNKNOWN = 0, CC_DIR_IN = 1, CC_DIR_OUT = 2 };

struct cc_endpoint {
	uint8_t family;		/* 4 or 6 */
	uint8_t ip[16];		/* IPv4 in the first four bytes */
	uint16_t port;
};

struct cc_pkt {
	uint8_t dir;		/* enum cc_pkt_dir */
	uint8_t ifindex;	/* SLL2 interface index (clearcap: 1 wire, 2 plaintext, 3 relay); 0 otherwise */
	uint32_t pid;		/* clearcap writes the process id as the SLL2 address */
	uint8_t proto;		/* IPPROTO_UDP, _TCP, _SCTP; 0 when the frame is not one of those */
	uint8_t fragment;	/* a non-first IP fragment: no transport header */
	struct cc_endpoint src, dst;
	const uint8_t *l4;	/* the transport header (SCTP: the whole SCTP packet) */
	size_t l4_len;
	const uint8_t *payload;	/* UDP/TCP payload as captured */
	size_t payload_len;
	uint8_t tcp_flags;
};

/* libpcap DLT_ values this parser understands. */
int cc_pkt_link_supported(int dlt);

/*
 * Fills *out; returns 0 when the frame reached a transport header, CC_ENOTSUP for other
 * protocols (ARP, ICMP, ...), CC_ESHORT / CC_EBAD for truncated or malformed frames.
 */
int cc_pkt_parse(int dlt, const uint8_t *p, size_t caplen, struct cc_pkt *out);

/*
 * Where the network layer starts in a frame (*off) and what it is (*ethertype, decided by the IP
 * version nibble on links without a type field), with the direction the link header gives.
 * For re-framing a packet under another link header.  0, or a negative CC_ code.
 */
int cc_pkt_network(int dlt, const uint8_t *p, size_t caplen, uint16_t *ethertype, size_t *off, uint8_t *dir);

/* "1.2.3.4:5" or "[::1]:5" into buf; returns buf. */
char *cc_endpoint_str(const struct cc_endpoint *e, char *buf, size_t size);
int cc_endpoint_cmp(const struct cc_endpoint *a, const struct cc_endpoint *b);

#endif /* CC_PKTPARSE_H */
