/*
 * srtpkeyfile.c - clearcap's SRTP key log; see srtpkeyfile.h.  The key parameter is SDP's
 * a=crypto inline form (RFC 4568 section 6.1): base64 of key || salt, maybe followed by
 * "|lifetime" and "|MKI:length", which are ignored here.
 */
#include "tools/srtpkeyfile.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* RFC 4648 section 4 base64, padding optional; returns the byte count or -1. */
static int unbase64(const char *s, size_t n, uint8_t *out, size_t max)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '=')
			break;
		int v = b64val((unsigned char)s[i]);
		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= max)
				return -1;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	return (int)o;
}

static int endpoint(const char *s, struct cc_endpoint *e)
{
	char ip[64];
	const char *colon;
	char *end;
	unsigned long port;

	memset(e, 0, sizeof(*e));
	if (strcmp(s, "?") == 0)
		return 0;
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || rb[1] != ':' || (size_t)(rb - s - 1) >= sizeof(ip))
			return -1;
		memcpy(ip, s + 1, (size_t)(rb - s - 1));
		ip[rb - s - 1] = 0;
		colon = rb + 1;
		if (inet_pton(AF_INET6, ip, e->ip) != 1)
			return -1;
		e->family = 6;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof(ip))
			return -1;
		memcpy(ip, s, (size_t)(colon - s));
		ip[colon - s] = 0;
		if (inet_pton(AF_INET, ip, e->ip) != 1)
			return -1;
		e->family = 4;
	}
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || port > 65535)
		return -1;
	e->port = (uint16_t)port;
	return 0;
}

int cc_srtp_crypto_key(const char *suite, const char *param, size_t plen, struct cc_srtp_key *k)
{
	const char *suite_name;
	size_t kl, sl;
	uint8_t buf[64];

	if (cc_srtp_profile_by_suite(suite, &k->profile) < 0 ||
	    cc_srtp_profile_info(k->profile, &suite_name, &kl, &sl) < 0 || plen < 7 || strncmp(param, "inline:", 7) != 0)
		return -1;
	size_t b64len = 0;
	while (7 + b64len < plen && param[7 + b64len] != '|')
		b64len++;
	if (unbase64(param + 7, b64len, buf, sizeof(buf)) != (int)(kl + sl))
		return -1;
	memcpy(k->master, buf, kl + sl);
	memset(buf, 0, sizeof(buf));
	k->key_len = (uint8_t)kl;
	k->salt_len = (uint8_t)sl;
	return 0;
}

int cc_srtpkeyfile_line(const char *line, struct cc_srtp_key *k)
{
	char local[80], peer[80], who[32], suite[40], param[200];
	struct cc_endpoint l, p;

	memset(k, 0, sizeof(*k));
	if (sscanf(line, "SRTP %79s %79s %31s %39s %199s", local, peer, who, suite, param) != 5)
		return -1;
	if (endpoint(local, &l) < 0 || endpoint(peer, &p) < 0 || cc_srtp_crypto_key(suite, param, strlen(param), k) < 0)
		return -1;
	if (strcmp(who, "outbound") == 0) {
		k->src = l;
		k->dst = p;
	} else if (strcmp(who, "inbound") == 0) {
		k->src = p;
		k->dst = l;
	} else if (strncmp(who, "ssrc=", 5) == 0) {
		char *end;
		errno = 0;
		unsigned long v = strtoul(who + 5, &end, 16);
		if (errno || *end || v > 0xffffffffUL)
			return -1;
		k->has_ssrc = 1;
		k->ssrc = (uint32_t)v;
	} else {
		return -1;
	}
	snprintf(k->origin, sizeof(k->origin), "SRTP key log: %s %s %s %s", local, peer, who, suite);
	return 0;
}

int cc_srtpkeyfile_load(struct cc_srtpdec *d, const char *path, size_t *skipped, char *err, size_t errsize)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int n = 0;

	*skipped = 0;
	if (!f) {
		snprintf(err, errsize, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		struct cc_srtp_key k;

		line[strcspn(line, "\r\n")] = 0;
		if (!line[0] || line[0] == '#')
			continue;
		if (cc_srtpkeyfile_line(line, &k) < 0) {
			(*skipped)++;
			continue;
		}
		if (cc_srtpdec_add_key(d, &k) < 0) {
			snprintf(err, errsize, "%s: out of memory", path);
			fclose(f);
			return -1;
		}
		memset(&k, 0, sizeof(k));
		n++;
	}
	fclose(f);
	memset(line, 0, sizeof(line));
	return n;
}
