/*
 * dtlssrtp.h - DTLS-SRTP keys from a capture and a key log (RFC 5764).
 *
 * The DTLS handshakes are followed on the wire: the ClientHello gives the client random and
 * the client's address, the ServerHello the server random, the cipher suite (the PRF's hash)
 * and the use_srtp protection profile the server chose (section 4.1.2).  With the master secret
 * a key log holds for that client random, the RFC 5705 exporter with the label
 * "EXTRACTOR-dtls_srtp" gives client key, server key, client salt, server salt (section 4.2).
 */
#ifndef CC_DTLSSRTP_H
#define CC_DTLSSRTP_H

#include <stddef.h>
#include <stdint.h>

#include "tools/pktparse.h"
#include "tools/srtpdec.h"

struct cc_dtls_hs {
	struct cc_endpoint client, server;
	uint8_t client_random[32], server_random[32];
	uint8_t have_ch, have_sh;
	uint16_t version;		/* the ServerHello's */
	uint16_t cipher_suite;
	uint8_t use_srtp;		/* the ServerHello carried use_srtp */
	uint16_t profile;		/* the one it chose */
	uint8_t done;			/* keys derived or a reason given */
	char why[160];			/* the outcome, for the report: never key bytes */
};

/* A Hello arriving in fragments (RFC 6347 section 4.2.3), one per flow direction at a time. */
struct cc_hello_frag {
	struct cc_endpoint src, dst;
	uint8_t msg_type;
	uint16_t message_seq;
	uint32_t length, got;
	uint8_t *body, *have;	/* the bytes, and which of them arrived */
};

struct cc_dtlstrack {
	struct cc_dtls_hs *hs;
	size_t n, cap;
	struct cc_hello_frag *frags;
	size_t nfrags, capfrags;
};

/*
 * One DTLS datagram seen going src -> dst.  Returns the handshake whose ServerHello it carried
 * for the first time (ready to derive keys from), or NULL.
 */
struct cc_dtls_hs *cc_dtlstrack_datagram(struct cc_dtlstrack *t, const struct cc_endpoint *src,
					 const struct cc_endpoint *dst, const uint8_t *p, size_t len);

void cc_dtlstrack_free(struct cc_dtlstrack *t);

/*
 * The DTLS-SRTP keys of a handshake from its master secret: *client protects what the DTLS
 * client sends, *server what the server sends.  0, or -1 with the reason in hs->why.
 */
int cc_dtls_srtp_keys(struct cc_dtls_hs *hs, const uint8_t master[48], struct cc_srtp_key *client,
		      struct cc_srtp_key *server);

#endif /* CC_DTLSSRTP_H */
