/*
 * keylog.c - TLS/DTLS secrets from NSS key log files and pcapng Decryption Secrets Blocks.
 *
 * NSS key log format (https://firefox-source-docs.mozilla.org/security/nss/legacy/key_log_format/):
 * one "LABEL <client random, hex> <secret, hex>" per line; "#" starts a comment.  Only
 * CLIENT_RANDOM (TLS 1.2 and DTLS 1.2 master secrets) matters for the DTLS-SRTP exporter; every
 * other label is kept for Wireshark.
 */
#include "tools/keylog.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DSB_TYPE 0x0000000a
#define SHB_TYPE 0x0a0d0d0a
#define TLS_KEY_LOG 0x544c534b
#define MAX_FILE_TEXT (64u << 20)	/* a key log larger than this is not one */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Exactly n bytes of hex at s, ending at a space, tab or the end; 0 or -1. */
static int hex_field(const char *s, size_t avail, uint8_t *out, size_t n)
{
	if (avail < 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return avail == 2 * n || s[2 * n] == ' ' || s[2 * n] == '\t' ? 0 : -1;
}

struct line_key {
	const struct cc_keylog *k;
	const char *line;
	size_t n;
};

static int line_eq(const void *ctx, size_t i)
{
	const struct line_key *l = ctx;
	const char *p = l->k->text + l->k->line_off[i];
	size_t n = (i + 1 < l->k->lines ? l->k->line_off[i + 1] : l->k->len) - l->k->line_off[i] - 1;

	return n == l->n && memcmp(p, l->line, n) == 0;
}

static uint64_t text_hash(const void *p, size_t n)
{
	uint64_t h = 0;
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return cc_hash_u64(h, n);
}

static int has_line(const struct cc_keylog *k, const char *line, size_t n)
{
	struct line_key l = { k, line, n };

	return cc_index_find(&k->line_ix, text_hash(line, n), line_eq, &l) >= 0;
}

static int ms_eq(const void *ctx, size_t i)
{
	const struct cc_keylog *k = ((const void *const *)ctx)[0];
	const uint8_t *r = ((const void *const *)ctx)[1];

	return memcmp(k->ms[i].client_random, r, 32) == 0;
}

static int add_master(struct cc_keylog *k, const char *line, size_t n)
{
	static const char label[] = "CLIENT_RANDOM ";
	struct cc_master m;

	if (n < sizeof(label) - 1 || memcmp(line, label, sizeof(label) - 1) != 0)
		return 0;
	line += sizeof(label) - 1;
	n -= sizeof(label) - 1;
	if (hex_field(line, n, m.client_random, 32) < 0 || n < 65 ||
	    hex_field(line + 65, n - 65, m.secret, 48) < 0)
		return 0;
	if (cc_keylog_master(k, m.client_random))
		return 0;
	if (k->nms == k->capms) {
		size_t cap = k->capms ? 2 * k->capms : 64;
		struct cc_master *ms = realloc(k->ms, cap * sizeof(*ms));
		if (!ms)
			return -1;
		k->ms = ms;
		k->capms = cap;
	}
	if (cc_index_add(&k->ms_ix, text_hash(m.client_random, 32), k->nms) < 0)
		return -1;
	k->ms[k->nms++] = m;
	return 0;
}

int cc_keylog_add_text(struct cc_keylog *k, const char *text, size_t len)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *e = memchr(p, '\n', (size_t)(end - p));
		size_t n = e ? (size_t)(e - p) : (size_t)(end - p);
		const char *next = e ? e + 1 : end;

		while (n && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\0'))
			n--;
		if (n == 0 || p[0] == '#' || memchr(p, '\0', n) || has_line(k, p, n)) {
			p = next;
			continue;
		}
		if (k->len + n + 1 > k->cap) {
			size_t cap = k->cap ? k->cap : 4096;
			while (cap < k->len + n + 1)
				cap *= 2;
			char *t = realloc(k->text, cap);
			if (!t)
				return -1;
			k->text = t;
			k->cap = cap;
		}
		if (k->lines == k->capoff) {
			size_t cap = k->capoff ? 2 * k->capoff : 256;
			size_t *o = realloc(k->line_off, cap * sizeof(*o));
			if (!o)
				return -1;
			k->line_off = o;
			k->capoff = cap;
		}
		if (cc_index_add(&k->line_ix, text_hash(p, n), k->lines) < 0)
			return -1;
		memcpy(k->text + k->len, p, n);
		k->text[k->len + n] = '\n';
		k->line_off[k->lines++] = k->len;
		k->len += n + 1;
		if (add_master(k, p, n) < 0)
			return -1;
		p = next;
	}
	return 0;
}

/* The whole file into a new buffer; NULL with err set. */
static char *slurp(const char *path, size_t *len, char *err, size_t errsize)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f) {
		snprintf(err, errsize, "%s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (n == cap) {
			cap = cap ? 2 * cap : 65536;
			char *b = cap <= MAX_FILE_TEXT ? realloc(buf, cap) : NULL;
			if (!b) {
				snprintf(err, errsize, "%s: too large or out of memory", path);
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = b;
		}
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		snprintf(err, errsize, "%s: read error", path);
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	*len = n;
	return buf;
}

int cc_keylog_load(struct cc_keylog *k, const char *path, char *err, size_t errsize)
{
	size_t len;
	char *buf = slurp(path, &len, err, errsize);

	if (!buf)
		return -1;
	int rc = cc_keylog_add_text(k, buf, len);
	free(buf);
	if (rc < 0)
		snprintf(err, errsize, "%s: out of memory", path);
	return rc;
}

static uint32_t get32(const uint8_t *p, int swap)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return swap ? __builtin_bswap32(v) : v;
}

/*
 * pcapng blocks (draft-ietf-opsawg-pcapng section 3.1): type, total length, body, total length.
 * Each section states its byte order in its Section Header Block; a Decryption Secrets Block
 * (section 4.7) holds secrets type, length and the secrets.
 */
int cc_keylog_from_pcapng(struct cc_keylog *k, const char *path, char *err, size_t errsize)
{
	FILE *f = fopen(path, "rb");
	uint8_t hdr[16];
	int swap = 0, found = 0;

	if (!f) {
		snprintf(err, errsize, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fread(hdr, 1, 12, f) == 12) {
		uint32_t type = get32(hdr, 0), total;

		if (type == SHB_TYPE) {
			uint32_t magic = get32(hdr + 8, 0);
			if (magic == 0x1a2b3c4d)
				swap = 0;
			else if (magic == 0x4d3c2b1a)
				swap = 1;
			else
				break;
		} else if (!found && ftell(f) == 12) {
			break;		/* not pcapng: classic pcap has no secrets */
		}
		type = get32(hdr, swap);
		total = get32(hdr + 4, swap);
		if (total < 12 || total % 4)
			break;
		if (type == DSB_TYPE && total >= 20) {
			uint8_t more[4];
			if (fread(more, 1, 4, f) != 4)
				break;
			uint32_t stype = get32(hdr + 8, swap), slen = get32(more, 0);
			slen = swap ? __builtin_bswap32(slen) : slen;
			if (stype == TLS_KEY_LOG && slen <= total - 20 && slen <= MAX_FILE_TEXT) {
				char *buf = malloc(slen ? slen : 1);
				if (!buf || fread(buf, 1, slen, f) != slen ||
				    cc_keylog_add_text(k, buf, slen) < 0) {
					free(buf);
					break;
				}
				free(buf);
				found++;
				if (fseek(f, (long)(total - 16 - slen), SEEK_CUR) < 0)
					break;
				continue;
			}
			if (fseek(f, (long)total - 16, SEEK_CUR) < 0)
				break;
			continue;
		}
		if (fseek(f, (long)total - 12, SEEK_CUR) < 0)
			break;
	}
	fclose(f);
	return found;
}

const uint8_t *cc_keylog_master(const struct cc_keylog *k, const uint8_t client_random[32])
{
	const void *ctx[2] = { k, client_random };
	long i = cc_index_find(&k->ms_ix, text_hash(client_random, 32), ms_eq, ctx);

	return i >= 0 ? k->ms[i].secret : NULL;
}

void cc_keylog_free(struct cc_keylog *k)
{
	if (k->ms)
		memset(k->ms, 0, k->nms * sizeof(*k->ms));
	free(k->text);
	free(k->ms);
	free(k->line_off);
	cc_index_free(&k->line_ix);
	cc_index_free(&k->ms_ix);
	memset(k, 0, sizeof(*k));
}
