/*
 * dtls.h - TLS (RFC 8446, RFC 5246) and DTLS (RFC 6347, RFC 9147) record
 * layer, handshake and alert headers, and the Hello randoms.
 */
#ifndef CC_DTLS_H
#define CC_DTLS_H

#include <stddef.h>
#include <stdint.h>

#include "decoders/cursor.h"

#define CC_TLS_RECORD_HDR_LEN	5
#define CC_DTLS_RECORD_HDR_LEN	13
#define CC_TLS_HS_HDR_LEN	4
#define CC_DTLS_HS_HDR_LEN	12

/* ContentType (RFC 8446 §5.1, RFC 9146 §4 for tls12_cid). */
enum {
	CC_TLS_CT_CHANGE_CIPHER_SPEC = 20,
	CC_TLS_CT_ALERT = 21,
	CC_TLS_CT_HANDSHAKE = 22,
	CC_TLS_CT_APPLICATION_DATA = 23,
	CC_TLS_CT_HEARTBEAT = 24,
	CC_TLS_CT_TLS12_CID = 25,
	CC_TLS_CT_ACK = 26,
};

/* HandshakeType (RFC 8446 §4, RFC 6347 §4.2.2). */
enum {
	CC_TLS_HS_CLIENT_HELLO = 1,
	CC_TLS_HS_SERVER_HELLO = 2,
	CC_TLS_HS_HELLO_VERIFY_REQUEST = 3,
	CC_TLS_HS_NEW_SESSION_TICKET = 4,
	CC_TLS_HS_ENCRYPTED_EXTENSIONS = 8,
	CC_TLS_HS_CERTIFICATE = 11,
	CC_TLS_HS_SERVER_KEY_EXCHANGE = 12,
	CC_TLS_HS_CERTIFICATE_REQUEST = 13,
	CC_TLS_HS_SERVER_HELLO_DONE = 14,
	CC_TLS_HS_CERTIFICATE_VERIFY = 15,
	CC_TLS_HS_CLIENT_KEY_EXCHANGE = 16,
	CC_TLS_HS_FINISHED = 20,
};

struct cc_tls_record {
	uint8_t type;		/* ContentType; 0 for a DTLS 1.3 unified header */
	uint16_t version;	/* 0x0303 TLS 1.2, 0xFEFD DTLS 1.2, ... */
	uint16_t epoch;		/* DTLS only; low 2 bits only if unified */
	uint64_t seq;		/* DTLS only: 48 bits, or 8/16 if unified */
	uint16_t length;	/* fragment length */
	uint8_t unified;	/* DTLS 1.3 DTLSCiphertext (RFC 9147 §4) */
	uint8_t hdr_len;
	struct cc_bytes frag;	/* the record's payload */
};

struct cc_tls_iter {
	struct cc_cur c;
	int dtls;
};

struct cc_tls_handshake {
	uint8_t msg_type;
	uint32_t length;	/* of the whole message */
	uint16_t message_seq;	/* DTLS only */
	uint32_t frag_offset;	/* DTLS only; 0 for TLS */
	uint32_t frag_length;	/* DTLS; for TLS equal to length */
	struct cc_bytes body;	/* the fragment bytes present */
};

struct cc_tls_alert {
	uint8_t level;		/* 1 warning, 2 fatal */
	uint8_t description;
};

struct cc_tls_hello {
	uint8_t msg_type;	/* CC_TLS_HS_CLIENT_HELLO or _SERVER_HELLO */
	uint16_t legacy_version;
	uint8_t random[32];
	uint8_t session_id_len;
	uint8_t session_id[32];
	uint8_t hello_retry;	/* ServerHello carrying the HRR random */
};

/* One record at the start of p. */
int cc_tls_record(const uint8_t *p, size_t len, struct cc_tls_record *out);
int cc_dtls_record(const uint8_t *p, size_t len, struct cc_tls_record *out);

/* Records back to back (a datagram, or a reassembled TLS buffer):
 * next() gives 1 per record, 0 at the end, negative when malformed. */
void cc_tls_iter_init(struct cc_tls_iter *it, const uint8_t *p, size_t len, int dtls);
int cc_tls_iter_next(struct cc_tls_iter *it, struct cc_tls_record *out);

/* TLS over TCP: 0 and the first record's total length, or CC_ESHORT with
 * the length needed, or CC_EBAD when the bytes are not a TLS record. */
int cc_tls_record_len(const uint8_t *p, size_t len, size_t *rec_len);

/* The handshake header at the start of a record fragment. */
int cc_tls_handshake(const uint8_t *p, size_t len, struct cc_tls_handshake *out);
int cc_dtls_handshake(const uint8_t *p, size_t len, struct cc_tls_handshake *out);

int cc_tls_alert(const uint8_t *p, size_t len, struct cc_tls_alert *out);

/*
 * The random (and session id) of a ClientHello or ServerHello that is whole
 * in the first record at p (record header included).  CC_ENOTSUP when that
 * record holds another message or only a fragment of one.
 */
int cc_tls_hello(const uint8_t *p, size_t len, struct cc_tls_hello *out);
int cc_dtls_hello(const uint8_t *p, size_t len, struct cc_tls_hello *out);

/*
 * 1 when p starts like the first record of a (D)TLS handshake: a handshake record of a known
 * version (DTLS: epoch 0) whose message is a ClientHello, ServerHello or (DTLS)
 * HelloVerifyRequest of a plausible length, its body starting with a version of the same
 * family.  The record's header and the message's header must be here; the rest may be cut
 * (a TLS record spans segments).  For telling a handshake from other bytes that happen to
 * start with 22.
 */
int cc_tls_handshake_start(const uint8_t *p, size_t len, int dtls);

#endif /* CC_DTLS_H */
