/*
 * SIP message boundaries and the few header values a capture agent needs (RFC 3261): is this
 * the start of a SIP message, where does it end in a stream, what is its Call-ID.  Pure
 * functions over (const uint8_t *, size_t), no allocation.
 */
#ifndef CC_SIPFRAME_H
#define CC_SIPFRAME_H

#include <stddef.h>
#include <stdint.h>

#include "decoders/cursor.h"

/* True when p starts like a SIP request line (a known method and a space) or a status line. */
int cc_sip_is_start(const uint8_t *p, size_t len);

/* Also true when p, too short to say, is the first bytes of such a line ("OPT", "SIP/2"). */
int cc_sip_may_start(const uint8_t *p, size_t len);

/*
 * The length of the whole SIP message at the start of a stream buffer: headers up to the empty
 * line, then Content-Length bytes of body (RFC 3261 section 18.3: mandatory on streams).
 * Returns the length, 0 when the buffer does not hold it all yet, or CC_EBAD when the headers
 * are not SIP or the Content-Length is unreadable.
 */
long cc_sip_msg_len(const uint8_t *p, size_t len);

/* Like cc_sip_msg_len(), but the whole message's length once its headers are in, whole or not. */
long cc_sip_msg_need(const uint8_t *p, size_t len);

/* The Call-ID header's value (also its compact form "i", RFC 3261 section 7.3.3); CC_OK or CC_EBAD. */
int cc_sip_call_id(const uint8_t *p, size_t len, struct cc_bytes *out);

/* A media stream an SDP body offers or answers (RFC 8866 sections 5.7 and 5.14). */
struct cc_sip_media {
	uint16_t family;        /* AF_INET or AF_INET6 */
	uint16_t port;
	uint8_t ip[16];         /* network order; IPv4 in the first four bytes */
	uint8_t srtp;           /* its transport is SRTP: RTP/SAVP(F), UDP/TLS/RTP/SAVP(F) */
};

/*
 * The media streams (m= lines with a port, each with its c= address, media-level over
 * session-level) of the SDP body of the SIP message p; how many were written to out (at most max).
 */
int cc_sip_sdp_media(const uint8_t *p, size_t len, struct cc_sip_media *out, int max);

#endif
