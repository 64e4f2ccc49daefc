#ifndef CC_SRTP_ABI_H
#define CC_SRTP_ABI_H

#include <stdint.h>

/*
 * libsrtp2 2.x's srtp_policy_t, as its header lays it out on LP64 (checked against the real
 * header by tests/unit/test_srtp_abi.c).  Read only when the library said it is 2.x.
 */
struct crypto_policy2 {
	uint32_t cipher_type;
	int cipher_key_len;
	uint32_t auth_type;
	int auth_key_len;
	int auth_tag_len;
	int sec_serv;
};

struct policy2 {
	struct { int type; unsigned value; } ssrc;
	struct crypto_policy2 rtp, rtcp;
	const unsigned char *key;
	const unsigned char *const *const *keys;        /* srtp_master_key_t **, key first */
	unsigned long num_master_keys;
	void *deprecated_ekt;
	unsigned long window_size;
	int allow_repeat_tx;
	int *enc_xtn_hdr;
	int enc_xtn_hdr_count;
	const struct policy2 *next;
};

#endif
