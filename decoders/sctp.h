/*
 * sctp.h - SCTP packets (RFC 9260) with I-DATA (RFC 8260), FORWARD-TSN
 * (RFC 3758), the WebRTC data channel establishment protocol (RFC 8832),
 * and the CRC-32c checksum (RFC 9260 appendix A).
 */
#ifndef CC_SCTP_H
#define CC_SCTP_H

#include <stddef.h>
#include <stdint.h>

#include "decoders/cursor.h"

#define CC_SCTP_HDR_LEN 12

/* Chunk types (RFC 9260 §3.2, RFC 8260 §2.1, RFC 3758 §3.2). */
enum {
	CC_SCTP_DATA = 0,
	CC_SCTP_INIT = 1,
	CC_SCTP_INIT_ACK = 2,
	CC_SCTP_SACK = 3,
	CC_SCTP_HEARTBEAT = 4,
	CC_SCTP_HEARTBEAT_ACK = 5,
	CC_SCTP_ABORT = 6,
	CC_SCTP_SHUTDOWN = 7,
	CC_SCTP_SHUTDOWN_ACK = 8,
	CC_SCTP_ERROR = 9,
	CC_SCTP_COOKIE_ECHO = 10,
	CC_SCTP_COOKIE_ACK = 11,
	CC_SCTP_SHUTDOWN_COMPLETE = 14,
	CC_SCTP_I_DATA = 64,
	CC_SCTP_RE_CONFIG = 130,
	CC_SCTP_FORWARD_TSN = 192,
	CC_SCTP_I_FORWARD_TSN = 194,
};

/* DATA / I-DATA chunk flags (RFC 9260 §3.3.1, RFC 7053 for I). */
enum {
	CC_SCTP_FLAG_E = 0x01,
	CC_SCTP_FLAG_B = 0x02,
	CC_SCTP_FLAG_U = 0x04,
	CC_SCTP_FLAG_I = 0x08,
};

/* WebRTC payload protocol identifiers (RFC 8831 §8). */
enum {
	CC_PPID_DCEP = 50,
	CC_PPID_STRING = 51,
	CC_PPID_BINARY_PARTIAL = 52,
	CC_PPID_BINARY = 53,
	CC_PPID_STRING_PARTIAL = 54,
	CC_PPID_STRING_EMPTY = 56,
	CC_PPID_BINARY_EMPTY = 57,
};

/* DCEP (RFC 8832 §5, §8.2). */
enum {
	CC_DCEP_ACK = 0x02,
	CC_DCEP_OPEN = 0x03,
	CC_DCEP_RELIABLE = 0x00,
	CC_DCEP_RELIABLE_UNORDERED = 0x80,
	CC_DCEP_PARTIAL_RELIABLE_REXMIT = 0x01,
	CC_DCEP_PARTIAL_RELIABLE_REXMIT_UNORDERED = 0x81,
	CC_DCEP_PARTIAL_RELIABLE_TIMED = 0x02,
	CC_DCEP_PARTIAL_RELIABLE_TIMED_UNORDERED = 0x82,
};

struct cc_sctp_hdr {
	uint16_t src_port;
	uint16_t dst_port;
	uint32_t vtag;
	uint32_t checksum;	/* the CRC-32c value (sent little-endian) */
	struct cc_bytes chunks;
};

struct cc_sctp_chunk {
	uint8_t type;
	uint8_t flags;
	uint16_t length;	/* header included, padding excluded */
	struct cc_bytes value;
};

struct cc_sctp_iter {
	struct cc_cur c;
};

/* DATA and I-DATA in one shape. */
struct cc_sctp_data {
	uint8_t i_data;		/* 1 for I-DATA (RFC 8260) */
	uint8_t flags;
	uint32_t tsn;
	uint16_t stream;
	uint16_t ssn;		/* DATA only */
	uint32_t mid;		/* I-DATA only */
	uint32_t fsn;		/* I-DATA, when not the first fragment */
	uint32_t ppid;		/* DATA, or first I-DATA fragment; else 0 */
	struct cc_bytes user_data;
};

/* INIT and INIT-ACK. */
struct cc_sctp_init {
	uint32_t initiate_tag;
	uint32_t a_rwnd;
	uint16_t num_outbound;
	uint16_t num_inbound;
	uint32_t initial_tsn;
	struct cc_bytes params;
};

struct cc_sctp_param {
	uint16_t type;
	uint16_t length;	/* header included */
	struct cc_bytes value;
};

struct cc_sctp_param_iter {
	struct cc_cur c;
};

struct cc_sctp_sack {
	uint32_t cum_tsn_ack;
	uint32_t a_rwnd;
	uint16_t num_gaps;
	uint16_t num_dups;
	struct cc_bytes gaps;	/* num_gaps * 4 */
	struct cc_bytes dups;	/* num_dups * 4 */
};

struct cc_sctp_fwd_tsn {
	uint32_t new_cum_tsn;
	unsigned num_streams;	/* entries in streams */
	uint8_t i_forward;	/* I-FORWARD-TSN: 8-byte entries */
	struct cc_bytes streams;
};

struct cc_dcep {
	uint8_t msg_type;	/* CC_DCEP_OPEN or CC_DCEP_ACK */
	uint8_t channel_type;
	uint16_t priority;
	uint32_t reliability;	/* retransmissions or milliseconds */
	struct cc_bytes label;
	struct cc_bytes protocol;
};

int cc_sctp_header(const uint8_t *p, size_t len, struct cc_sctp_hdr *out);

/* Chunks of the packet at p (common header included): next() is 1 per
 * chunk, 0 at the end, negative when malformed. */
int cc_sctp_iter_init(struct cc_sctp_iter *it, const uint8_t *p, size_t len);
int cc_sctp_next(struct cc_sctp_iter *it, struct cc_sctp_chunk *ch);

int cc_sctp_data(const struct cc_sctp_chunk *ch, struct cc_sctp_data *out);
int cc_sctp_init(const struct cc_sctp_chunk *ch, struct cc_sctp_init *out);
void cc_sctp_param_iter_init(struct cc_sctp_param_iter *it, const struct cc_bytes *params);
int cc_sctp_param_next(struct cc_sctp_param_iter *it, struct cc_sctp_param *prm);
int cc_sctp_sack(const struct cc_sctp_chunk *ch, struct cc_sctp_sack *out);
int cc_sctp_sack_gap(const struct cc_sctp_sack *s, unsigned i, uint16_t *start, uint16_t *end);
int cc_sctp_sack_dup(const struct cc_sctp_sack *s, unsigned i, uint32_t *tsn);
/* SHUTDOWN's cumulative TSN ack. */
int cc_sctp_shutdown(const struct cc_sctp_chunk *ch, uint32_t *cum_tsn_ack);
/* HEARTBEAT / HEARTBEAT-ACK: the opaque Heartbeat Info. */
int cc_sctp_heartbeat(const struct cc_sctp_chunk *ch, struct cc_bytes *info);
/* ABORT / ERROR: the T bit and the error causes. */
int cc_sctp_abort(const struct cc_sctp_chunk *ch, uint8_t *t_bit, struct cc_bytes *causes);
/* COOKIE-ECHO: the cookie copied from INIT-ACK. */
int cc_sctp_cookie_echo(const struct cc_sctp_chunk *ch, struct cc_bytes *cookie);
int cc_sctp_forward_tsn(const struct cc_sctp_chunk *ch, struct cc_sctp_fwd_tsn *out);

/* A DCEP message, the user data of a DATA chunk with PPID 50. */
int cc_dcep(const uint8_t *p, size_t len, struct cc_dcep *out);

/* The SCTP checksum of a packet, its checksum field read as zero. */
uint32_t cc_sctp_checksum(const uint8_t *pkt, size_t len);
/* 0 when the checksum field matches, CC_EBAD when not. */
int cc_sctp_verify_checksum(const uint8_t *pkt, size_t len);
/* Compute and store the checksum in place, for packets we synthesise. */
int cc_sctp_set_checksum(uint8_t *pkt, size_t len);

#endif /* CC_SCTP_H */
