/*
 * sip.h - SIP messages: the start line and the few headers a capture summary needs.
 * RFC 3261 §7 (message format), §20 (header fields), §19.1.2 (default ports).
 */
#ifndef CC_SIP_H
#define CC_SIP_H

#include <stddef.h>
#include <stdint.h>

#define CC_SIP_TOKEN_MAX	24	/* a method name, NUL included */
#define CC_SIP_CALLID_MAX	96	/* longer Call-IDs are cut (and marked cut) */

struct cc_sip {
	uint8_t is_request;
	char method[CC_SIP_TOKEN_MAX];		/* a request's method; "" for a response */
	uint16_t status;			/* a response's status code; 0 for a request */
	char call_id[CC_SIP_CALLID_MAX];	/* "" when the message has none */
	uint8_t call_id_cut;
	uint32_t cseq;				/* 0 when absent */
	char cseq_method[CC_SIP_TOKEN_MAX];
	int64_t content_length;			/* -1 when absent */
	size_t header_len;			/* start line through the empty line */
};

/*
 * True when p begins with a SIP start line: "SIP/2.0 NNN " or "METHOD SP URI SP SIP/2.0".
 * A request line that runs past len is accepted when its URI is a sip:, sips: or tel: URI, so a
 * caller may look at only the first bytes of a datagram or segment.
 */
int cc_sip_detect(const uint8_t *p, size_t len);

/*
 * Parses the start line and headers of the message at p.  Returns CC_OK, CC_ESHORT when the
 * headers do not end within len (m then holds what was read), CC_EBAD when p is not SIP.
 */
int cc_sip_parse(const uint8_t *p, size_t len, struct cc_sip *m);

/* RFC 3261 §19.1.2: 5060 (UDP, TCP) and 5061 (TLS) are SIP's default ports. */
static inline int cc_sip_default_port(uint16_t port)
{
	return port == 5060 || port == 5061;
}

#endif /* CC_SIP_H */
