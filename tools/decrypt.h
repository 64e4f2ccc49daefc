/*
 * decrypt.h - `clearcap decrypt IN -o OUT [--keylog FILE] [--srtp-keylog FILE]` (decrypt.c).
 */
#ifndef CC_DECRYPT_H
#define CC_DECRYPT_H

#include <stddef.h>
#include <stdint.h>

int cc_cmd_decrypt(int argc, char **argv);

/*
 * The wrapper's pass after a run: the SRTP and SRTCP of the capture at path that no plaintext
 * copy covers (a program whose SRTP is not libsrtp2's: baresip, rtpengine-style stacks) and
 * whose keys are known (DTLS-SRTP from the capture's own secrets and handshakes, SDES from SDP in
 * the clear, the optional key logs) are decrypted and appended to the capture on the plaintext
  * interface, marked "decrypted by clearcap".  *decrypted counts the SRTP/SRTCP packets appended
 * (never one whose plaintext the capture holds already), *total all of them.
 * Returns 0, or 2 (why says it) when the capture cannot be read or appended to.
 */
int cc_decrypt_append(const char *path, const char *keylog, const char *srtp_keylog, uint64_t *decrypted,
		      uint64_t *total, char *why, size_t why_size);

#endif /* CC_DECRYPT_H */
