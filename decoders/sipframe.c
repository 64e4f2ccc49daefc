/*
 * SIP message boundaries and Call-ID (RFC 3261).  A message is a start line, header lines ending
 * in CRLF, an empty line, then a body whose length Content-Length gives (section 7.5, 18.3).
 * Header names are case-insensitive and may be compact (section 7.3.3: "l" for Content-Length,
 * "i" for Call-ID); a value may be preceded by whitespace after the colon (section 7.3.1).
 */
#include "decoders/sipframe.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define HEADERS_MAX 16384       /* headers longer than this are not taken for SIP */

/* RFC 3261 section 27.4 and the extensions every stack sends (RFC 3262, 3265, 3311, 3428, 3515, 3903, 6086). */
static const char *const methods[] = {
	"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE", "NOTIFY",
	"PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE",
};

/*
 * Whether p starts with word w and a space; with `partial`, also whether p, shorter than that,
 * is w's first bytes.
 */
static int starts_word(const uint8_t *p, size_t len, const char *w, int partial)
{
	size_t n = strlen(w);

	if (len > n)
		return memcmp(p, w, n) == 0 && p[n] == ' ';
	return partial && len && memcmp(p, w, len) == 0;
}

static int start_line(const uint8_t *p, size_t len, int partial)
{
	if (starts_word(p, len, "SIP/2.0", partial))
		return 1;
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (starts_word(p, len, methods[i], partial))
			return 1;
	return 0;
}

int cc_sip_is_start(const uint8_t *p, size_t len)
{
	return start_line(p, len, 0);
}

int cc_sip_may_start(const uint8_t *p, size_t len)
{
	return start_line(p, len, 1);
}

/* The end of the headers (index just past CRLFCRLF), or 0 when not within len. */
static size_t headers_end(const uint8_t *p, size_t len)
{
	if (len > HEADERS_MAX)
		len = HEADERS_MAX;
	for (size_t i = 3; i < len; i++)
		if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r')
			return i + 1;
	return 0;
}

/*
 * Finds header `name` (or its compact form `compact`, 0 for none) among the header lines of
 * p[0..hlen); the value without surrounding whitespace.  A folded value (obsolete, section
 * 7.3.1) is cut at its first line.
 */
static int header(const uint8_t *p, size_t hlen, const char *name, char compact, struct cc_bytes *out)
{
	size_t nlen = strlen(name), i = 0;

	/* Skip the start line. */
	while (i < hlen && p[i] != '\n')
		i++;
	for (i++; i < hlen;) {
		size_t eol = i;
		while (eol < hlen && p[eol] != '\n')
			eol++;
		size_t colon = i;
		while (colon < eol && p[colon] != ':')
			colon++;
		size_t nend = colon;
		while (nend > i && (p[nend - 1] == ' ' || p[nend - 1] == '\t'))
			nend--;
		int match = (nend - i == nlen && strncasecmp((const char *)p + i, name, nlen) == 0) ||
			    (compact && nend - i == 1 && (p[i] | 0x20) == compact);
		if (colon < eol && match) {
			size_t v = colon + 1, e = eol;
			while (v < e && (p[v] == ' ' || p[v] == '\t'))
				v++;
			while (e > v && (p[e - 1] == '\r' || p[e - 1] == ' ' || p[e - 1] == '\t'))
				e--;
			out->p = p + v;
			out->len = e - v;
			return CC_OK;
		}
		i = eol + 1;
	}
	return CC_EBAD;
}

long cc_sip_msg_need(const uint8_t *p, size_t len)
{
	struct cc_bytes v;
	unsigned long cl = 0;

	if (!cc_sip_is_start(p, len < 16 ? len : 16))
		return len < 16 ? 0 : CC_EBAD;
	size_t h = headers_end(p, len);
	if (!h)
		return len >= HEADERS_MAX ? CC_EBAD : 0;
	if (header(p, h, "Content-Length", 'l', &v) == CC_OK) {
		if (v.len == 0 || v.len > 9)
			return CC_EBAD;
		for (size_t i = 0; i < v.len; i++) {
			if (v.p[i] < '0' || v.p[i] > '9')
				return CC_EBAD;
			cl = cl * 10 + (unsigned long)(v.p[i] - '0');
		}
	}
	return (long)(h + cl);
}

long cc_sip_msg_len(const uint8_t *p, size_t len)
{
	long n = cc_sip_msg_need(p, len);

	return n > 0 && (size_t)n > len ? 0 : n;
}

int cc_sip_call_id(const uint8_t *p, size_t len, struct cc_bytes *out)
{
	size_t h = headers_end(p, len);

	/* A datagram cut short still names its Call-ID in the headers it has. */
	return header(p, h ? h : (len > HEADERS_MAX ? HEADERS_MAX : len), "Call-ID", 'i', out);
}

/* "c=IN IP4 ADDR" or "c=IN IP6 ADDR" (RFC 8866 section 5.7); 0, or -1 when not readable. */
static int sdp_conn(const uint8_t *p, size_t n, struct cc_sip_media *m)
{
	char a[64];
	size_t i = 9, j = 0;

	if (n < 10 || memcmp(p, "c=IN IP", 7) != 0 || (p[7] != '4' && p[7] != '6') || p[8] != ' ')
		return -1;
	while (i < n && j < sizeof(a) - 1 && p[i] != '/' && p[i] != ' ' && p[i] != '\r')
		a[j++] = (char)p[i++];
	a[j] = 0;
	memset(m->ip, 0, sizeof(m->ip));
	m->family = p[7] == '4' ? AF_INET : AF_INET6;
	return inet_pton(m->family, a, m->ip) == 1 ? 0 : -1;
}

int cc_sip_sdp_media(const uint8_t *p, size_t len, struct cc_sip_media *out, int max)
{
	struct cc_sip_media session = { .family = 0 };
	size_t i = headers_end(p, len);
	int n = 0, in_media = 0;

	if (!i)
		return 0;
	while (i < len) {
		size_t eol = i;
		while (eol < len && p[eol] != '\n')
			eol++;
		const uint8_t *l = p + i;
		size_t ln = eol - i;
		if (ln >= 2 && l[0] == 'm' && l[1] == '=') {
			/* "m=audio 49170 RTP/AVP 0": the port is the second field, the transport the third. */
			size_t k = 2;
			unsigned port = 0;
			while (k < ln && l[k] != ' ')
				k++;
			for (k++; k < ln && l[k] >= '0' && l[k] <= '9' && port < 65536; k++)
				port = port * 10 + (unsigned)(l[k] - '0');
			while (k < ln && l[k] != ' ')
				k++;            /* "/2": a number of ports */
			size_t t = ++k;
			while (k < ln && l[k] != ' ' && l[k] != '\r')
				k++;
			in_media = 0;
			if (port > 0 && port < 65536 && n < max) {
				out[n] = session;
				out[n].port = (uint16_t)port;
				out[n].srtp = k > t && memmem(l + t, k - t, "SAVP", 4) != NULL;
				n++;
				in_media = 1;
			}
		} else if (ln >= 2 && l[0] == 'c' && l[1] == '=') {
			struct cc_sip_media c;
			if (sdp_conn(l, ln, &c) == 0) {
				if (in_media) {
					uint16_t port = out[n - 1].port;
					uint8_t srtp = out[n - 1].srtp;
					out[n - 1] = c;
					out[n - 1].port = port;
					out[n - 1].srtp = srtp;
				} else if (n == 0) {
					session = c;
				}
			}
		}
		i = eol + 1;
	}
	/* Streams without any address are of no use to anyone. */
	int k = 0;
	for (int j = 0; j < n; j++)
		if (out[j].family)
			out[k++] = out[j];
	return k;
}
