/*
 * plainseen.h - for `clearcap decrypt` on a clearcap capture: which frames are clearcap's own
 * (and on which interface), and which plaintext RTP/RTCP the capture holds already, so that a
 * packet the shim saw in the clear is not written a second time.
 */
#ifndef CC_PLAINSEEN_H
#define CC_PLAINSEEN_H

#include <stddef.h>
#include <stdint.h>

/*
 * The clearcap interface (1 wire, 2 plaintext, 3 relay) of a frame clearcap wrote, or 0 for any
 * other frame (another link type, or another program's SLL2).
 */
unsigned cc_clearcap_iface(int dlt, const uint8_t *data, size_t caplen);

/* A set of 64-bit hashes of UDP payloads (open addressing; 0 is never a hash). */
struct cc_seen {
	uint64_t *h;
	size_t n, cap;
};

/*
 * A payload's hash with its direction (enum cc_pkt_dir): the two copies of one packet, sent and
 * received, when both ends were captured, are two plaintexts, and one in the file does not
 * stand for the other (two wrapper runs decrypting at their exits, each while the other's
 * copies may still be coming).
 */
uint64_t cc_seen_hash(const uint8_t *p, size_t len, unsigned dir);
int cc_seen_has(const struct cc_seen *s, uint64_t x);

/* Adds the UDP payloads on the plaintext interface of a clearcap capture; 0, or -1 with err set. */
int cc_seen_scan(struct cc_seen *s, const char *in, char *err, size_t errsize);

#endif /* CC_PLAINSEEN_H */
