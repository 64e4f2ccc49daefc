/*
 * sdpkeys.h - SDES keys (RFC 4568) found in the capture itself: SDP a=crypto lines carried in the
 * clear (SIP over UDP or TCP, or any signalling that is not encrypted).
 */
#ifndef CC_SDPKEYS_H
#define CC_SDPKEYS_H

#include <stddef.h>
#include <stdint.h>

#include "tools/srtpdec.h"

/*
 * The keys of the a=crypto lines in one payload, at most max, into keys (origin left empty).
 * Returns how many.  Lines cut by the end of the payload are skipped.
 */
size_t cc_sdp_crypto_keys(const uint8_t *p, size_t len, struct cc_srtp_key *keys, size_t max);

#endif /* CC_SDPKEYS_H */
