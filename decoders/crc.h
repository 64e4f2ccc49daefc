/*
 * crc.h - the two CRCs the decoders need.
 *
 * CRC-32 (ISO-HDLC, the zlib/Ethernet one) guards STUN's FINGERPRINT
 * (RFC 8489 §14.7); CRC-32c (Castagnoli) is SCTP's checksum (RFC 9260
 * appendix A/B).  Both are the reflected, ~0-initialised, ~0-finalised forms.
 */
#ifndef CC_CRC_H
#define CC_CRC_H

#include <stddef.h>
#include <stdint.h>

/*
 * Running forms: start with crc = 0, feed chunks, the result after each call
 * is the finished CRC of everything fed so far (zlib's crc32() convention).
 */
uint32_t cc_crc32(uint32_t crc, const uint8_t *p, size_t len);
uint32_t cc_crc32c(uint32_t crc, const uint8_t *p, size_t len);

#endif /* CC_CRC_H */
