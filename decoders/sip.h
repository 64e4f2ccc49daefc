/*
 * SIP message boundaries and the few header values a capture agent needs (RFC 3261): is this
 * the start of a SIP message, where does it end in a stream, what is its Call-ID.  Pure
 * functions over (const uint8_t *, size_t), no allocation.
 */
#ifndef CC_SIP_H
#define CC_SIP_H

#include <stddef.h>
#include <stdint.h>

#include "decoders/cursor.h"

/* True when p starts like a SIP request line (a known method and a space) or a status line. */
int cc_sip_is_start(const uint8_t *p, size_t len);

/*
 * The length of the whole SIP message at the start of a stream buffer: headers up to the empty
 * line, then Content-Length bytes of body (RFC 3261 section 18.3: mandatory on streams).
 * Returns the length, 0 when the buffer does not hold it all yet, or CC_EBAD when the headers
 * are not SIP or the Content-Length is unreadable.
 */
long cc_sip_msg_len(const uint8_t *p, size_t len);

/* The Call-ID header's value (also its compact form "i", RFC 3261 section 7.3.3); CC_OK or CC_EBAD. */
int cc_sip_call_id(const uint8_t *p, size_t len, struct cc_bytes *out);

#endif
