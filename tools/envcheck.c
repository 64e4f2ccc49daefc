/*
 * envcheck.c - the shim's syntax of each CLEARCAP_* variable (shim/config.c, shim/select.c,
 * shim/impair.c, pcapout/filter.c), checked in the wrapper before the program runs.  Each rule
 * below is the shim's, limit for limit; tests/unit/test_envcheck.c holds them to it.  What the
 * shim parses with pcapout/ or decoders/ (HEP, impairment) is parsed here with the same call.
 */
#include "tools/envcheck.h"

#include <errno.h>
#include <pcap/pcap.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "decoders/impairspec.h"
#include "pcapout/frame.h"
#include "pcapout/hep.h"

/* shim/config.h's CC_PATH_MAX and the buffer limits of shim/config.c. */
#define PATH_LIMIT	4096
#define MIN_BUFFER	(1LL << 20)
#define MAX_BUFFER	(1LL << 30)

const char *const cc_envcheck_vars[] = {
	"CLEARCAP_FILE", "CLEARCAP_FORMAT", "CLEARCAP_BUFFER", "CLEARCAP_COUNTERS",
	"CLEARCAP_KEYLOG", "CLEARCAP_SRTP_KEYLOG", "CLEARCAP_CAPTURE", "CLEARCAP_PROGRAMS",
	"CLEARCAP_FILTER", "CLEARCAP_ROTATE_SIZE", "CLEARCAP_ROTATE_SECONDS",
	"CLEARCAP_ROTATE_FILES", "CLEARCAP_PLAIN_MAPPED", "CLEARCAP_VERBOSE", "CLEARCAP_HEP", "CLEARCAP_HEP_ID",
	"CLEARCAP_HEP_NAME", "CLEARCAP_HEP_PASSWORD", "CLEARCAP_HEP_CLASSES", "CLEARCAP_IMPAIR",
	"CLEARCAP_IMPAIR_SEED", "CLEARCAP_IMPAIR_FILTER", NULL,
};

/* shim/select.c's class names, in its order. */
static const char *const classes[] = {
	"stun", "turn", "dtls-handshake", "dtls-app", "dtls", "rtp", "rtcp", "sctp", "tcp", "other", "sip",
	"wire", "plaintext", "relay", "all",
};

const char cc_envcheck_classes[] =
	"stun turn dtls-handshake dtls-app dtls rtp rtcp sctp tcp other sip wire plaintext relay all";

__attribute__((format(printf, 3, 4)))
static int bad(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return -1;
}

long long cc_envcheck_size(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || v < 0)
		return -1;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	if (*end == 'i' || *end == 'B')
		end += *end == 'i' && end[1] == 'B' ? 2 : 1;
	return *end ? -1 : v;
}

/* The shim makes a relative path absolute from the directory the program starts in: ours. */
static int path(const char *val, char *why, size_t whylen)
{
	size_t n = strlen(val);
	char cwd[PATH_LIMIT];

	if (n >= PATH_LIMIT)
		return bad(why, whylen, "empty or too long");
	if (val[0] == '/')
		return 0;
	if (getcwd(cwd, sizeof cwd) == NULL || strlen(cwd) + 1 + n >= PATH_LIMIT)
		return bad(why, whylen, "cannot make the path absolute");
	return 0;
}

static int number(const char *val, long long min, long long max, char *why, size_t whylen)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(val, &end, 10);
	if (errno || *end || n < min || n > max)
		return bad(why, whylen, "expected a whole number from %lld to %lld", min, max);
	return 0;
}

static int class_list(const char *val, char *why, size_t whylen)
{
	const char *p = val;

	if (strlen(val) > 1024)
		return bad(why, whylen, "too long");
	for (;;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		size_t i;

		for (i = 0; i < sizeof classes / sizeof classes[0]; i++)
			if (strlen(classes[i]) == n && memcmp(classes[i], p, n) == 0)
				break;
		if (i == sizeof classes / sizeof classes[0])
			return bad(why, whylen, "unknown class '%.*s' (known: %s)", (int)(n < 64 ? n : 63), p,
				   cc_envcheck_classes);
		if (!end)
			return 0;
		p = end + 1;
	}
}

/* Compiled as pcapout/filter.c compiles it: for the frames of the file, SLL2 at full length. */
static int filter(const char *val, char *why, size_t whylen)
{
	struct bpf_program prog;
	pcap_t *p;

	if (strlen(val) > 4096)
		return bad(why, whylen, "too long");
	p = pcap_open_dead(CC_LINKTYPE_LINUX_SLL2, CC_SNAPLEN);
	if (p == NULL)
		return bad(why, whylen, "libpcap cannot open a dead handle");
	if (pcap_compile(p, &prog, val, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		bad(why, whylen, "%s", pcap_geterr(p));
		pcap_close(p);
		return -1;
	}
	pcap_freecode(&prog);
	pcap_close(p);
	return 0;
}

/* CLEARCAP_HEP and its companions, as shim/config.c's hep_settings reads them. */
static int hep(const char *var, const char *val, char *why, size_t whylen)
{
	struct cc_hep_cfg c;
	const char *reason;
	char word[64];
	unsigned mask;

	if (strcmp(var, "CLEARCAP_HEP") == 0) {
		if (strlen(val) > 200)
			return bad(why, whylen, "too long");
		if (cc_hep_parse_url(val, &c, &reason) < 0)
			return bad(why, whylen, "%s", reason);
		return 0;
	}
	if (strcmp(var, "CLEARCAP_HEP_ID") == 0)
		return number(val, 0, 4294967295LL, why, whylen);
	if (strcmp(var, "CLEARCAP_HEP_NAME") == 0 || strcmp(var, "CLEARCAP_HEP_PASSWORD") == 0)
		return strlen(val) >= sizeof c.name ? bad(why, whylen, "longer than %zu bytes", sizeof c.name - 1) : 0;
	if (strlen(val) > 1024)
		return bad(why, whylen, "too long");
	if (cc_hep_parse_classes(val, &mask, word, sizeof word) < 0)
		return bad(why, whylen, "unknown class '%s' (known: sip rtcp rtp other wire plaintext relay all)", word);
	return 0;
}

/* CLEARCAP_IMPAIR and its companions, as shim/impair.c reads them. */
static int impair(const char *var, const char *val, char *why, size_t whylen)
{
	struct cc_impair_spec spec;
	uint64_t seed;

	if (strcmp(var, "CLEARCAP_IMPAIR") == 0)
		return cc_impair_parse(val, &spec, why, whylen);
	if (strcmp(var, "CLEARCAP_IMPAIR_SEED") == 0)
		return cc_impair_parse_seed(val, &seed) < 0 ? bad(why, whylen, "%s", CC_IMPAIR_SEED_EXPECTED) : 0;
	return filter(val, why, whylen);
}

int cc_envcheck_rotation(const char *files, const char *size, const char *seconds, char *why, size_t whylen)
{
	if (files && *files && !(size && *size) && !(seconds && *seconds))
		return bad(why, whylen, "needs CLEARCAP_ROTATE_SIZE or CLEARCAP_ROTATE_SECONDS (a count of files with "
			   "nothing to rotate by)");
	return 0;
}

int cc_envcheck(const char *var, const char *val, char *why, size_t whylen)
{
	long long n;

	if (val == NULL || val[0] == '\0')
		return 0;
	if (strcmp(var, "CLEARCAP_FILE") == 0 || strcmp(var, "CLEARCAP_COUNTERS") == 0 ||
	    strcmp(var, "CLEARCAP_KEYLOG") == 0 || strcmp(var, "CLEARCAP_SRTP_KEYLOG") == 0)
		return path(val, why, whylen);
	if (strcmp(var, "CLEARCAP_FORMAT") == 0) {
		if (strcmp(val, "pcapng") != 0 && strcmp(val, "pcap") != 0)
			return bad(why, whylen, "expected pcapng or pcap");
		return 0;
	}
	if (strcmp(var, "CLEARCAP_BUFFER") == 0) {
		n = cc_envcheck_size(val);
		if (n < MIN_BUFFER || n > MAX_BUFFER)
			return bad(why, whylen, "expected a size from 1M to 1G");
		return 0;
	}
	if (strcmp(var, "CLEARCAP_CAPTURE") == 0)
		return class_list(val, why, whylen);
	if (strcmp(var, "CLEARCAP_PROGRAMS") == 0) {
		if (strlen(val) > 4096)
			return bad(why, whylen, "too long");
		if (strspn(val, ",") == strlen(val))
			return bad(why, whylen, "names no program (an empty list would capture no process)");
		return 0;
	}
	if (strcmp(var, "CLEARCAP_FILTER") == 0)
		return filter(val, why, whylen);
	if (strcmp(var, "CLEARCAP_ROTATE_SIZE") == 0) {
		if (cc_envcheck_size(val) < 4096)
			return bad(why, whylen, "expected a size of at least 4096 bytes: digits, optionally followed by K, "
				   "M or G (powers of 1024; KiB, MB and the like too)");
		return 0;
	}
	if (strcmp(var, "CLEARCAP_ROTATE_SECONDS") == 0)
		return number(val, 1, 100000000, why, whylen);
	if (strcmp(var, "CLEARCAP_ROTATE_FILES") == 0)
		return number(val, 1, 1000000, why, whylen);
	if (strcmp(var, "CLEARCAP_PLAIN_MAPPED") == 0 || strcmp(var, "CLEARCAP_VERBOSE") == 0)
		return strcmp(val, "0") != 0 && strcmp(val, "1") != 0 ? bad(why, whylen, "expected 0 or 1") : 0;
	if (strncmp(var, "CLEARCAP_HEP", 12) == 0)
		return hep(var, val, why, whylen);
	if (strncmp(var, "CLEARCAP_IMPAIR", 15) == 0)
		return impair(var, val, why, whylen);
	return 0;
}
