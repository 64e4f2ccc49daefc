/*
 * sip.c - the start line of a SIP message and the headers that name its dialog and transaction.
 *
 * RFC 3261 §7: a message is a start line, header fields, an empty line and an optional body,
 * each line ending in CRLF:
 *
 *     INVITE sip:bob@example.com SIP/2.0        Request-Line = Method SP Request-URI SP SIP-Version
 *     SIP/2.0 180 Ringing                       Status-Line  = SIP-Version SP Status-Code SP Reason
 *     Call-ID: a84b4c76e66710                   (compact form "i", §20.8)
 *     CSeq: 314159 INVITE                       (§20.16)
 *     Content-Length: 142                       (compact form "l", §20.14)
 *     <empty line>
 *     body
 *
 * Only what identifies a dialog (Call-ID), orders a transaction (CSeq) and finds the next message
 * on a stream (Content-Length, §18.3) is read.  Everything goes through the bounded cursor.
 */
#include "decoders/sip.h"
#include "decoders/cursor.h"

#include <string.h>

static const char version[] = "SIP/2.0";

/* RFC 3261 §25.1: token characters (alphanum and -.!%*_+`'~). */
static int is_token(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != 0 && strchr("-.!%*_+`'~", c) != NULL);
}

static int lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Case-insensitive prefix test of b against the NUL-terminated s. */
static int has_prefix_ci(const struct cc_bytes *b, const char *s)
{
	size_t n = strlen(s);

	if (b->len < n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (lower(b->p[i]) != lower((uint8_t)s[i]))
			return 0;
	return 1;
}

/*
 * Takes one line from the cursor, without its CRLF (a bare LF is tolerated, §7.5).  Returns 0,
 * or -1 when no line end is within the cursor (which is then left as it was).
 */
static int cur_line(struct cc_cur *c, struct cc_bytes *line)
{
	const uint8_t *lf = c->len ? memchr(c->p, '\n', c->len) : NULL;
	size_t n;

	if (lf == NULL)
		return -1;
	n = (size_t)(lf - c->p);
	line->p = c->p;
	line->len = n > 0 && c->p[n - 1] == '\r' ? n - 1 : n;
	return cur_skip(c, n + 1);
}

static int status_line(const struct cc_bytes *l, uint16_t *code)
{
	size_t v = sizeof version - 1;

	if (l->len < v + 4 || memcmp(l->p, version, v) != 0 || l->p[v] != ' ')
		return 0;
	for (size_t i = 1; i <= 3; i++)
		if (l->p[v + i] < '0' || l->p[v + i] > '9')
			return 0;
	/* §7.2: Status-Code SP Reason-Phrase; a view that ends after the code is still a status line. */
	if (l->len > v + 4 && l->p[v + 4] != ' ')
		return 0;
	*code = (uint16_t)((l->p[v + 1] - '0') * 100 + (l->p[v + 2] - '0') * 10 + (l->p[v + 3] - '0'));
	return *code >= 100 && *code <= 699;
}

/* The method's length when l is a request line (complete == the line's end is known). */
static size_t request_line(const struct cc_bytes *l, int complete)
{
	size_t m = 0, v = sizeof version - 1;
	struct cc_bytes uri;

	while (m < l->len && m < CC_SIP_TOKEN_MAX - 1 && is_token(l->p[m]))
		m++;
	if (m == 0 || m >= l->len || l->p[m] != ' ')
		return 0;
	uri.p = l->p + m + 1;
	uri.len = l->len - m - 1;
	if (complete)
		return l->len > m + 1 + v + 1 && l->p[l->len - v - 1] == ' ' &&
		       memcmp(l->p + l->len - v, version, v) == 0 ? m : 0;
	/* §19.1.1 and RFC 3966: the URI schemes SIP requests carry; HTTP and RTSP use others. */
	return has_prefix_ci(&uri, "sip:") || has_prefix_ci(&uri, "sips:") || has_prefix_ci(&uri, "tel:") ? m : 0;
}

int cc_sip_detect(const uint8_t *p, size_t len)
{
	struct cc_cur c;
	struct cc_bytes l;
	uint16_t code;
	int complete;

	cur_init(&c, p, len);
	complete = cur_line(&c, &l) == 0;
	if (!complete) {
		l.p = p;
		l.len = p != NULL ? len : 0;
	}
	return status_line(&l, &code) || request_line(&l, complete) > 0;
}

static void copy_token(char *dst, size_t cap, const uint8_t *p, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n && k + 1 < cap && is_token(p[i]); i++)
		dst[k++] = (char)p[i];
	dst[k] = 0;
}

/* The header's value when line is "name: value" for the long or compact name (§7.3.1, §7.3.3). */
static int header(const struct cc_bytes *line, const char *name, const char *compact, struct cc_bytes *val)
{
	size_t n = 0;

	while (n < line->len && is_token(line->p[n]))
		n++;
	if (n == 0)
		return 0;
	{
		struct cc_bytes nm = { line->p, n };
		if (!((strlen(name) == n && has_prefix_ci(&nm, name)) ||
		      (strlen(compact) == n && has_prefix_ci(&nm, compact))))
			return 0;
	}
	/* §7.3.1: optional whitespace around the colon. */
	while (n < line->len && (line->p[n] == ' ' || line->p[n] == '\t'))
		n++;
	if (n >= line->len || line->p[n] != ':')
		return 0;
	n++;
	while (n < line->len && (line->p[n] == ' ' || line->p[n] == '\t'))
		n++;
	val->p = line->p + n;
	val->len = line->len - n;
	while (val->len > 0 && (val->p[val->len - 1] == ' ' || val->p[val->len - 1] == '\t'))
		val->len--;
	return 1;
}

/* Decimal digits at the start of v; -1 when there are none or the number is absurd. */
static int64_t number(const struct cc_bytes *v, size_t *used)
{
	int64_t x = 0;
	size_t i = 0;

	while (i < v->len && v->p[i] >= '0' && v->p[i] <= '9' && i < 10)
		x = x * 10 + (v->p[i++] - '0');
	*used = i;
	return i == 0 || (i < v->len && v->p[i] >= '0' && v->p[i] <= '9') ? -1 : x;
}

int cc_sip_parse(const uint8_t *p, size_t len, struct cc_sip *m)
{
	struct cc_cur c;
	struct cc_bytes l, v;
	size_t used;

	memset(m, 0, sizeof *m);
	m->content_length = -1;
	cur_init(&c, p, len);
	if (cur_line(&c, &l) < 0)
		return cc_sip_detect(p, len) ? CC_ESHORT : CC_EBAD;
	if (status_line(&l, &m->status)) {
		m->is_request = 0;
	} else {
		size_t ml = request_line(&l, 1);

		if (ml == 0)
			return CC_EBAD;
		m->is_request = 1;
		copy_token(m->method, sizeof m->method, l.p, ml);
	}
	for (;;) {
		if (cur_line(&c, &l) < 0)
			return CC_ESHORT;
		if (l.len == 0)
			break;
		if (header(&l, "Call-ID", "i", &v)) {
			size_t n = v.len < sizeof m->call_id - 1 ? v.len : sizeof m->call_id - 1;

			memcpy(m->call_id, v.p, n);
			m->call_id[n] = 0;
			/* A Call-ID is a word (§25.1): a NUL or control byte ends what we keep. */
			for (size_t i = 0; i < n; i++)
				if ((uint8_t)m->call_id[i] < 0x21 || (uint8_t)m->call_id[i] > 0x7e) {
					m->call_id[i] = 0;
					break;
				}
			m->call_id_cut = v.len > n;
		} else if (header(&l, "CSeq", "", &v)) {
			int64_t x = number(&v, &used);

			/* §8.1.1.5: the sequence number is below 2**31. */
			if (x >= 0 && x < 0x80000000LL) {
				m->cseq = (uint32_t)x;
				while (used < v.len && (v.p[used] == ' ' || v.p[used] == '\t'))
					used++;
				copy_token(m->cseq_method, sizeof m->cseq_method, v.p + used, v.len - used);
			}
		} else if (header(&l, "Content-Length", "l", &v)) {
			int64_t x = number(&v, &used);

			if (x >= 0)
				m->content_length = x;
		}
	}
	m->header_len = len - cur_left(&c);
	return CC_OK;
}
