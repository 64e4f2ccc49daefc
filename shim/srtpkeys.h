/*
 * SRTP master keys, as one line per key in the SRTP key log (CLEARCAP_SRTP_KEYLOG):
 *
 *   SRTP <local addr:port> <peer addr:port> <outbound|inbound> <suite> inline:<base64 key||salt>
 *
 * The suite names and the inline form are SDP's a=crypto (RFC 4568 section 6.1, RFC 7714
 * section 12), so a line can be pasted into the tools that decrypt SRTP (libsrtp's rtp_decoder,
 * srtp-decrypt); "?" stands for an address not known.  One whole line per write, O_APPEND.
 */
#ifndef CC_SRTPKEYS_H
#define CC_SRTPKEYS_H

#include <stddef.h>
#include <stdint.h>

#include "pcapout/frame.h"

/* Key and salt lengths of an SRTP protection profile (RFC 5764 section 4.1.2); -1 if unknown. */
int cc_srtp_profile(unsigned long id, const char **suite, size_t *key_len, size_t *salt_len);

/* Writes one key line; local/peer NULL when the flow is not known. */
void cc_srtp_keylog(const struct cc_addr *local, const struct cc_addr *peer, int outbound, const char *suite,
		    const uint8_t *key, size_t key_len, const uint8_t *salt, size_t salt_len);

/* The SDP a=crypto key parameter "SUITE inline:BASE64(KEY||SALT)" into buf; 0, or -1 if too long. */
int cc_srtp_crypto(char *buf, size_t size, const char *suite, const uint8_t *key, size_t key_len, const uint8_t *salt,
		   size_t salt_len);

/*
 * One key log line, without its newline: "SRTP LOCAL PEER WHO CRYPTO", addresses "?" when NULL,
 * WHO outbound, inbound or ssrc=0x........ (SDES policies).  Returns its length, or -1.
 */
int cc_srtp_line(char *buf, size_t size, const struct cc_addr *local, const struct cc_addr *peer, const char *who,
		 const char *crypto);

/* "addr:port" ("[v6]:port"), or "?" when a is NULL or unset. */
void cc_addr_str(const struct cc_addr *a, char *buf, size_t size);

/* Standard base64 (RFC 4648 section 4) of n bytes into out (4*ceil(n/3)+1 bytes); returns length. */
size_t cc_base64(const uint8_t *in, size_t n, char *out);

/* At start-up, capturing: registers the key log file (CLEARCAP_SRTP_KEYLOG) as one of ours. */
void cc_srtpkeys_init(void);

/*
 * Appends one whole line (without its newline) to the SRTP key log, once: a line already written
 * is not written again, and a line without a flow ("SRTP ? ? ...") waits for the same key with
 * its flow, which replaces it.
 */
void cc_srtp_keylog_line(const char *line);

/* At exit: the flowless lines whose key never came with a flow are written as they are. */
void cc_srtpkeys_exit(void);

/* In a forked child: the lines waiting are the parent's (see cc_srtp_atfork_child). */
void cc_srtpkeys_atfork_child(void);

#endif
