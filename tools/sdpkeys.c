/*
 * sdpkeys.c - a=crypto lines (RFC 4568 section 9.1):
 *
 *   a=crypto:<tag> <crypto-suite> <key-params> [<session-params>]
 *   key-params = "inline:" base64(key || salt) ["|" lifetime] ["|" MKI ":" length]
 *
 * Each side's a=crypto holds the key it will send with (section 6.1), so a call's offer and
 * answer give both directions; which key protects which packets, the authentication tag decides
 * (srtpdec.c).  Only the first key-params of a line is read (several are allowed, but only
 * with MKIs, which clearcap decrypt does not support).
 */
#include "tools/sdpkeys.h"
#include "tools/srtpkeyfile.h"

#include <string.h>

static const uint8_t *next_line(const uint8_t *p, const uint8_t *end)
{
	const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));

	return nl ? nl + 1 : NULL;
}

/* The next space-delimited word at *p before the line's end; its length, 0 when none. */
static size_t word(const uint8_t **p, const uint8_t *eol)
{
	while (*p < eol && **p == ' ')
		(*p)++;
	const uint8_t *s = *p;
	while (*p < eol && **p != ' ' && **p != '\r' && **p != '\n')
		(*p)++;
	return (size_t)(*p - s);
}

size_t cc_sdp_crypto_keys(const uint8_t *p, size_t len, struct cc_srtp_key *keys, size_t max)
{
	static const char tag[] = "a=crypto:";
	const uint8_t *end = p + len, *at = p;
	size_t n = 0;

	while (n < max && at < end) {
		const uint8_t *hit = memmem(at, (size_t)(end - at), tag, sizeof(tag) - 1);
		if (!hit)
			break;
		const uint8_t *eol = next_line(hit, end);
		at = hit + sizeof(tag) - 1;
		if (!eol || (hit != p && hit[-1] != '\n'))
			continue;	/* cut by the payload's end, or not at a line's start */
		const uint8_t *q = at, *w;
		char suite[48];
		size_t l;

		if (!word(&q, eol))		/* the tag */
			continue;
		w = q;
		l = word(&q, eol);
		w += l ? (size_t)(q - w) - l : 0;
		if (!l || l >= sizeof(suite))
			continue;
		memcpy(suite, w, l);
		suite[l] = 0;
		w = q;
		l = word(&q, eol);
		w += l ? (size_t)(q - w) - l : 0;
		memset(&keys[n], 0, sizeof(keys[n]));
		if (l && cc_srtp_crypto_key(suite, (const char *)w, l, &keys[n]) == 0)
			n++;
		at = eol;
	}
	return n;
}
