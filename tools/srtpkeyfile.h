/*
 * srtpkeyfile.h - reading clearcap's SRTP key log (--srtp-keylog; written by shim/srtpkeys.c):
 *
 *   SRTP <local addr:port|?> <peer addr:port|?> <outbound|inbound|ssrc=0x........> <suite> inline:<base64>
 *
 * outbound keys protect what LOCAL sends to PEER, inbound keys what PEER sends to LOCAL; an
 * ssrc= key (an SDES policy) belongs to that SSRC in either direction.
 */
#ifndef CC_SRTPKEYFILE_H
#define CC_SRTPKEYFILE_H

#include <stddef.h>

#include "tools/srtpdec.h"

/*
 * Adds every key of the file to d.  Returns the number of keys read, or -1 with a one-line
 * reason in err; lines that are not key lines are counted in *skipped.
 */
int cc_srtpkeyfile_load(struct cc_srtpdec *d, const char *path, size_t *skipped, char *err, size_t errsize);

/* One line (without newline) into *k; 0, or -1 when it is not a valid key line. */
int cc_srtpkeyfile_line(const char *line, struct cc_srtp_key *k);

/*
 * An SDP a=crypto key parameter (RFC 4568 section 6.1) of the named suite into k's profile,
 * lengths and master key: "inline:BASE64(KEY||SALT)", maybe with "|lifetime|MKI:length"
 * (ignored).  param need not be NUL-terminated.  0, or -1 when not valid for the suite.
 */
int cc_srtp_crypto_key(const char *suite, const char *param, size_t plen, struct cc_srtp_key *k);

#endif /* CC_SRTPKEYFILE_H */
