/*
 * stun.h - STUN (RFC 8489), its TURN (RFC 8656) and ICE (RFC 8445) attributes,
 * TURN ChannelData and TURN-over-TCP framing.
 */
#ifndef CC_STUN_H
#define CC_STUN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "decoders/cursor.h"

#define CC_STUN_HDR_LEN		20
#define CC_STUN_MAGIC_COOKIE	0x2112A442u
#define CC_STUN_FINGERPRINT_XOR	0x5354554Eu	/* "STUN", RFC 8489 §14.7 */

/* Message classes (RFC 8489 §5). */
enum {
	CC_STUN_REQUEST = 0,
	CC_STUN_INDICATION = 1,
	CC_STUN_SUCCESS = 2,
	CC_STUN_ERROR = 3,
};

/* Methods (RFC 8489 §18.2, RFC 8656 §17). */
enum {
	CC_STUN_BINDING = 0x001,
	CC_STUN_ALLOCATE = 0x003,
	CC_STUN_REFRESH = 0x004,
	CC_STUN_SEND = 0x006,
	CC_STUN_DATA = 0x007,
	CC_STUN_CREATE_PERMISSION = 0x008,
	CC_STUN_CHANNEL_BIND = 0x009,
};

/* Attribute types (RFC 8489 §18.3, RFC 8656 §18, RFC 8445 §16.1). */
enum {
	CC_STUN_A_MAPPED_ADDRESS = 0x0001,
	CC_STUN_A_USERNAME = 0x0006,
	CC_STUN_A_MESSAGE_INTEGRITY = 0x0008,
	CC_STUN_A_ERROR_CODE = 0x0009,
	CC_STUN_A_UNKNOWN_ATTRIBUTES = 0x000A,
	CC_STUN_A_CHANNEL_NUMBER = 0x000C,
	CC_STUN_A_LIFETIME = 0x000D,
	CC_STUN_A_XOR_PEER_ADDRESS = 0x0012,
	CC_STUN_A_DATA = 0x0013,
	CC_STUN_A_REALM = 0x0014,
	CC_STUN_A_NONCE = 0x0015,
	CC_STUN_A_XOR_RELAYED_ADDRESS = 0x0016,
	CC_STUN_A_REQUESTED_TRANSPORT = 0x0019,
	CC_STUN_A_MESSAGE_INTEGRITY_SHA256 = 0x001C,
	CC_STUN_A_XOR_MAPPED_ADDRESS = 0x0020,
	CC_STUN_A_PRIORITY = 0x0024,
	CC_STUN_A_USE_CANDIDATE = 0x0025,
	CC_STUN_A_SOFTWARE = 0x8022,
	CC_STUN_A_ALTERNATE_SERVER = 0x8023,
	CC_STUN_A_FINGERPRINT = 0x8028,
	CC_STUN_A_ICE_CONTROLLED = 0x8029,
	CC_STUN_A_ICE_CONTROLLING = 0x802A,
};

/* A transport address as the *-ADDRESS attributes carry it. */
struct cc_stun_addr {
	int family;		/* AF_INET or AF_INET6 */
	uint16_t port;		/* host byte order */
	uint8_t addr[16];	/* network byte order; IPv4 uses the first 4 */
};

struct cc_stun_hdr {
	uint16_t type;		/* raw message type, class and method interleaved */
	uint16_t method;
	uint8_t cls;		/* CC_STUN_REQUEST .. CC_STUN_ERROR */
	uint16_t length;	/* attribute bytes after the 20-byte header */
	uint8_t txid[12];
};

struct cc_stun_attr {
	uint16_t type;
	uint16_t len;		/* value length, without padding */
	const uint8_t *val;
	size_t off;		/* offset of the attribute header in the message */
};

struct cc_stun_iter {
	struct cc_cur c;
	const uint8_t *msg;
};

/* Presence bits of struct cc_stun_msg.has. */
enum {
	CC_STUN_HAS_MAPPED = 1u << 0,
	CC_STUN_HAS_XOR_MAPPED = 1u << 1,
	CC_STUN_HAS_XOR_PEER = 1u << 2,
	CC_STUN_HAS_XOR_RELAYED = 1u << 3,
	CC_STUN_HAS_ERROR_CODE = 1u << 4,
	CC_STUN_HAS_USERNAME = 1u << 5,
	CC_STUN_HAS_REALM = 1u << 6,
	CC_STUN_HAS_NONCE = 1u << 7,
	CC_STUN_HAS_SOFTWARE = 1u << 8,
	CC_STUN_HAS_DATA = 1u << 9,
	CC_STUN_HAS_PRIORITY = 1u << 10,
	CC_STUN_HAS_LIFETIME = 1u << 11,
	CC_STUN_HAS_ICE_CONTROLLING = 1u << 12,
	CC_STUN_HAS_ICE_CONTROLLED = 1u << 13,
	CC_STUN_HAS_USE_CANDIDATE = 1u << 14,
	CC_STUN_HAS_CHANNEL = 1u << 15,
	CC_STUN_HAS_INTEGRITY = 1u << 16,
	CC_STUN_HAS_INTEGRITY_SHA256 = 1u << 17,
	CC_STUN_HAS_FINGERPRINT = 1u << 18,
	CC_STUN_HAS_FINGERPRINT_OK = 1u << 19,
};

/* Everything the shim and the tools want from one message. */
struct cc_stun_msg {
	struct cc_stun_hdr hdr;
	uint32_t has;			/* CC_STUN_HAS_* */
	struct cc_stun_addr mapped, xor_mapped, xor_peer, xor_relayed;
	uint16_t error_code;		/* class * 100 + number, e.g. 401 */
	struct cc_bytes error_reason;
	struct cc_bytes username, realm, nonce, software;
	struct cc_bytes data;		/* DATA: points into the packet */
	uint32_t priority;
	uint32_t lifetime;
	uint64_t tiebreaker;		/* ICE-CONTROLLING or ICE-CONTROLLED */
	uint16_t channel;		/* CHANNEL-NUMBER */
	size_t integrity_off;		/* MESSAGE-INTEGRITY(-SHA256) offset */
	uint32_t fingerprint;		/* as received */
};

/* TURN ChannelData (RFC 8656 §12.4). */
struct cc_turn_channel {
	uint16_t channel;		/* 0x4000..0x4FFF */
	struct cc_bytes data;
};

/* A TURN Send or Data indication, unwrapped (RFC 8656 §10, §11). */
struct cc_turn_ind {
	uint16_t method;		/* CC_STUN_SEND or CC_STUN_DATA */
	struct cc_stun_addr peer;
	struct cc_bytes data;
};

/*
 * The first 8 bytes only: 0 with the method and class when p starts a STUN message (zero top
 * bits, the magic cookie), -1 otherwise.  For classifying a datagram without its whole body.
 */
int cc_stun_peek(const uint8_t *p, size_t len, uint16_t *method, uint8_t *cls);

/* Header only: type, class/method, length, cookie, txid; the whole message
 * must be in the buffer (trailing bytes, as in a TCP stream, are allowed). */
int cc_stun_header(const uint8_t *p, size_t len, struct cc_stun_hdr *out);

/* Attribute iteration: next() returns 1 with *a filled, 0 at the end,
 * negative on a malformed attribute. */
int cc_stun_iter_init(struct cc_stun_iter *it, const uint8_t *p, size_t len);
int cc_stun_iter_next(struct cc_stun_iter *it, struct cc_stun_attr *a);

/* Decode an address attribute; the XOR types are un-XORed with the cookie
 * and hdr->txid (RFC 8489 §14.2).  CC_ENOTSUP for a non-address type. */
int cc_stun_attr_addr(const struct cc_stun_attr *a, const struct cc_stun_hdr *hdr,
		      struct cc_stun_addr *out);
int cc_stun_attr_error(const struct cc_stun_attr *a, uint16_t *code,
		       struct cc_bytes *reason);

/* Header plus every attribute listed in struct cc_stun_msg. */
int cc_stun_parse(const uint8_t *p, size_t len, struct cc_stun_msg *out);

/* 0 if FINGERPRINT is present, last and correct; CC_EBAD if wrong,
 * CC_ENOTSUP if the message carries none. */
int cc_stun_check_fingerprint(const uint8_t *p, size_t len);

int cc_turn_channel_data(const uint8_t *p, size_t len, struct cc_turn_channel *out);
int cc_turn_indication(const uint8_t *p, size_t len, struct cc_turn_ind *out);

/*
 * TURN over TCP/TLS (RFC 8656 §12.5): STUN messages and ChannelData frames
 * back to back in one byte stream.  Returns 0 and the length of the first
 * whole frame (ChannelData padded to 4) in *frame_len; CC_ESHORT with the
 * total length needed (at least len + 1) when more bytes must arrive;
 * CC_EBAD when the stream is neither (lost framing).
 */
int cc_turn_tcp_frame(const uint8_t *p, size_t len, size_t *frame_len);

/* Fill a sockaddr (sockaddr_in or sockaddr_in6); returns its length or 0. */
socklen_t cc_stun_addr_to_sockaddr(const struct cc_stun_addr *a, struct sockaddr_storage *ss);

#endif /* CC_STUN_H */
