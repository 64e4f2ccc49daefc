/*
 * hello.h - what a DTLS ClientHello or ServerHello negotiates beyond its random: the cipher
 * suite (which fixes the TLS 1.2 PRF's hash) and the use_srtp extension's protection profiles
 * (RFC 5764 section 4.1.1).  Enough to derive DTLS-SRTP keys from a key log.
 */
#ifndef CC_HELLO_H
#define CC_HELLO_H

#include <stddef.h>
#include <stdint.h>

#define CC_HELLO_MAX_PROFILES 8

struct cc_hello_params {
	uint8_t msg_type;		/* CC_TLS_HS_CLIENT_HELLO or _SERVER_HELLO */
	uint16_t version;		/* legacy_version: 0xFEFD DTLS 1.2, 0xFEFF DTLS 1.0 */
	uint8_t random[32];
	uint16_t cipher_suite;		/* ServerHello only: the chosen one */
	uint8_t has_use_srtp;
	uint8_t nprofiles;		/* ServerHello: exactly one (RFC 5764 section 4.1.1) */
	uint16_t profiles[CC_HELLO_MAX_PROFILES];
	uint8_t ems;			/* extended_master_secret (RFC 7627) present */
};

/*
 * The first whole ClientHello or ServerHello among the DTLS records of one datagram.
 * Returns 0, CC_ENOTSUP when the datagram holds none (or only a fragment of one), or another
 * negative code when the bytes are malformed.
 */
int cc_dtls_hello_params(const uint8_t *p, size_t len, struct cc_hello_params *out);

/*
 * The same from a Hello's body (the handshake message without its header), for a Hello the
 * caller reassembled from fragments (RFC 6347 section 4.2.3).
 */
int cc_hello_params_body(uint8_t msg_type, const uint8_t *body, size_t len, struct cc_hello_params *out);

#endif /* CC_HELLO_H */
