/*
 * srtpdec.h - SRTP and SRTCP decryption from master keys with libsrtp2, for `clearcap decrypt`.
 *
 * A key says which packets it should protect (sender and receiver, maybe an SSRC), but that is a
 * hint only: ICE may have moved the media to another candidate pair, a relay may stand between
 * the peers, an SDES key may name no flow at all.  The authentication tag decides.  Each SSRC
 * seen on a flow (source, destination, capture direction) is bound to the first key whose tag
 * verifies, trying the keys whose hint fits the flow first; an SSRC no key authenticates is
 * tried again with every new key, and given up (no key) after a few packets otherwise.
 */
#ifndef CC_SRTPDEC_H
#define CC_SRTPDEC_H

#include <stddef.h>
#include <stdint.h>

#include "tools/pktparse.h"

#define CC_SRTP_MASTER_MAX 46	/* 32-byte key and 14-byte salt at most */

struct cc_srtp_key {
	uint16_t profile;		/* RFC 5764 section 4.1.2 protection profile */
	uint8_t key_len, salt_len;
	uint8_t master[CC_SRTP_MASTER_MAX];	/* key || salt */
	struct cc_endpoint src, dst;	/* packets it protects go src -> dst; family 0: not known */
	uint8_t has_ssrc;
	uint32_t ssrc;
	char origin[320];		/* where it came from, for reports: never key bytes */
};

enum cc_srtpdec_status {
	CC_SRTPDEC_OK = 0,
	CC_SRTPDEC_NOKEY,		/* no key authenticates the packet */
	CC_SRTPDEC_AUTH,		/* the key of this SSRC's earlier packets failed on it */
	CC_SRTPDEC_REPLAY,		/* a packet (index) already decrypted in this direction */
	CC_SRTPDEC_BAD,			/* too short or malformed for libsrtp */
};

struct cc_srtpdec;

/* Key and salt lengths and the SDP suite name of a profile; -1 when unknown. */
int cc_srtp_profile_info(uint16_t profile, const char **suite, size_t *key_len, size_t *salt_len);
/* The profile of an SDP a=crypto suite name; -1 when unknown. */
int cc_srtp_profile_by_suite(const char *suite, uint16_t *profile);

/* NULL with a reason in err when libsrtp2 cannot start. */
struct cc_srtpdec *cc_srtpdec_new(char *err, size_t errsize);
void cc_srtpdec_free(struct cc_srtpdec *d);

/* Adds a key (a copy); the same key bytes twice are one key.  Returns its index, or -1. */
int cc_srtpdec_add_key(struct cc_srtpdec *d, const struct cc_srtp_key *k);
size_t cc_srtpdec_nkeys(const struct cc_srtpdec *d);
const struct cc_srtp_key *cc_srtpdec_key(const struct cc_srtpdec *d, size_t i);

/*
 * Decrypts one SRTP (rtcp = 0) or SRTCP packet seen going src -> dst (dir: enum cc_pkt_dir as
 * captured) into out (at least len bytes), the plaintext length in *outlen and the key used in
 * *key.  Returns an enum cc_srtpdec_status.
 */
int cc_srtpdec_packet(struct cc_srtpdec *d, const struct cc_endpoint *src, const struct cc_endpoint *dst,
		      uint8_t dir, int rtcp, const uint8_t *in, size_t len, uint8_t *out, size_t *outlen,
		      int *key);

#endif /* CC_SRTPDEC_H */
