/*
 * CLEARCAP_* environment variables.  Every value is length-checked; a bad one gives one line
 * naming the variable and the program runs uncaptured, never aborted.
 */
#include "shim/config.h"
#include "pcapout/filter.h"
#include "pcapout/writer.h"
#include "shim/select.h"

#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#define DEFAULT_BUFFER (8u << 20)
#define MIN_BUFFER (1u << 20)
#define MAX_BUFFER (1u << 30)

struct cc_config cc_cfg;

long long cc_parse_size(const char *s)
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

int cc_name_in_list(const char *list, const char *name)
{
	char item[256];
	const char *p = list;

	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		if (n > 0 && n < sizeof(item)) {
			memcpy(item, p, n);
			item[n] = 0;
			if (fnmatch(item, name, 0) == 0)
				return 1;
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	return 0;
}

static int bad(const char *var, const char *val, const char *why)
{
	cc_warn("%s=%.200s: %s; not capturing", var, val, why);
	cc_cfg.on = 0;
	return -1;
}

static int set_path(char *dst, const char *var, const char *val)
{
	size_t n = strlen(val);

	if (n == 0 || n >= CC_PATH_MAX)
		return bad(var, val, "empty or too long");
	if (val[0] == '/') {
		memcpy(dst, val, n + 1);
		return 0;
	}
	/* A relative path is taken from where the program started, not where it later chdirs. */
	char cwd[CC_PATH_MAX];
	if (!getcwd(cwd, sizeof(cwd)) || strlen(cwd) + 1 + n >= CC_PATH_MAX)
		return bad(var, val, "cannot make the path absolute");
	size_t c = strlen(cwd);
	memcpy(dst, cwd, c);
	dst[c] = '/';
	memcpy(dst + c + 1, val, n + 1);
	return 0;
}

static long long number(const char *var, long long min, long long max)
{
	const char *v = getenv(var);
	char *end;
	long long n;

	if (!v || !*v)
		return 0;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno || *end || n < min || n > max) {
		char why[80];
		snprintf(why, sizeof(why), "expected a whole number from %lld to %lld", min, max);
		bad(var, v, why);
		return -1;
	}
	return n;
}

/* Whether a CLEARCAP_PROGRAMS list names anything: ",," would match no process, silently. */
int cc_list_names_some(const char *list)
{
	for (const char *p = list; *p; p++)
		if (*p != ',')
			return 1;
	return 0;
}

/* CLEARCAP_HEP and its companions: the collector, the agent's id, name and key, the classes. */
static int hep_settings(void)
{
	struct cc_hep_cfg *c = &cc_cfg.hep;
	const char *v = getenv("CLEARCAP_HEP"), *why;
	long long n;

	if (!v || !*v)
		return 0;
	if (strlen(v) > 200 || cc_hep_parse_url(v, c, &why) < 0)
		return bad("CLEARCAP_HEP", v, strlen(v) > 200 ? "too long" : why);
	if ((n = number("CLEARCAP_HEP_ID", 0, 4294967295LL)) < 0)
		return -1;
	c->id = (uint32_t)n;
	v = getenv("CLEARCAP_HEP_NAME");
	if (v && strlen(v) >= sizeof(c->name))
		return bad("CLEARCAP_HEP_NAME", v, "longer than 63 bytes");
	snprintf(c->name, sizeof(c->name), "%s", v ? v : "");
	v = getenv("CLEARCAP_HEP_PASSWORD");
	if (v && strlen(v) >= sizeof(c->password))
		return bad("CLEARCAP_HEP_PASSWORD", "(not shown)", "longer than 63 bytes");
	snprintf(c->password, sizeof(c->password), "%s", v ? v : "");
	c->classes = CC_HEP_DEFAULT;
	v = getenv("CLEARCAP_HEP_CLASSES");
	if (v && *v) {
		char word[64];
		if (strlen(v) > 1024)
			return bad("CLEARCAP_HEP_CLASSES", v, "too long");
		if (cc_hep_parse_classes(v, &c->classes, word, sizeof(word)) < 0) {
			cc_warn("CLEARCAP_HEP_CLASSES=%.200s: unknown class '%s' (known: sip rtcp rtp other wire plaintext "
				"relay all); not capturing", v, word);
			cc_cfg.on = 0;
			return -1;
		}
	}
	c->on = 1;
	return 0;
}

/* The daily-use settings: FIFO header, rotation (tcpdump's -C/-G/-W, in bytes here). */
static int daily_settings(void)
{
	const char *v = getenv("CLEARCAP_PIPE_HEADER");
	long long n;

	cc_cfg.pipe_header_done = v && strcmp(v, "done") == 0;
	v = getenv("CLEARCAP_ROTATE_SIZE");
	if (v && *v) {
		n = cc_parse_size(v);
		if (n < 4096)
			return bad("CLEARCAP_ROTATE_SIZE", v, CC_ROTATE_SIZE_EXPECTED);
		cc_cfg.rotate_size = n;
	}
	if ((n = number("CLEARCAP_ROTATE_SECONDS", 1, 100000000)) < 0)
		return -1;
	cc_cfg.rotate_seconds = (long)n;
	if ((n = number("CLEARCAP_ROTATE_FILES", 1, 1000000)) < 0)
		return -1;
	cc_cfg.rotate_files = (long)n;
	/* A count of files with nothing to rotate by would be ignored without a word. */
	if (n && !cc_cfg.rotate_size && !cc_cfg.rotate_seconds)
		return bad("CLEARCAP_ROTATE_FILES", getenv("CLEARCAP_ROTATE_FILES"), CC_ROTATE_FILES_ALONE);
	return 0;
}

int cc_config_load(const char *prog, const char *exe)
{
	const char *v;

	memset(&cc_cfg, 0, sizeof(cc_cfg));
	v = getenv("CLEARCAP_FILE");
	const char *ctl = getenv("CLEARCAP_CTL");
	if (ctl && *ctl && strcmp(ctl, "0") != 0 && strcmp(ctl, "1") != 0) {
		cc_warn("CLEARCAP_CTL=%.200s: expected 0 (no control page) or 1; not capturing", ctl);
		return -1;
	}
	/* CLEARCAP_CTL=1 alone loads the shim paused: `clearcap ctl PID reopen FILE` starts it. */
	int ctl_only = (!v || !*v) && ctl && strcmp(ctl, "1") == 0;
	/* CLEARCAP_HEP without a file: the collector is the only output. */
	const char *hep = getenv("CLEARCAP_HEP");
	int hep_only = (!v || !*v) && !ctl_only && hep && *hep;
	if ((!v || !*v) && !ctl_only && !hep_only)
		return 0;
	/* Never capture in set-uid/set-gid programs: their traffic is not the invoking user's to read. */
	if (getauxval(AT_SECURE))
		return 0;
	cc_cfg.on = 1;
	cc_cfg.ctl = !(ctl && strcmp(ctl, "0") == 0);
	cc_cfg.started_paused = ctl_only;
	if (!ctl_only && !hep_only && set_path(cc_cfg.file, "CLEARCAP_FILE", v) < 0)
		return -1;
	if (daily_settings() < 0 || hep_settings() < 0)
		return -1;

	v = getenv("CLEARCAP_FORMAT");
	if (!v || !*v || strcmp(v, "pcapng") == 0)
		cc_cfg.format = CC_FMT_PCAPNG;
	else if (strcmp(v, "pcap") == 0)
		cc_cfg.format = CC_FMT_PCAP;
	else
		return bad("CLEARCAP_FORMAT", v, "expected pcapng or pcap");

	cc_cfg.buffer = DEFAULT_BUFFER;
	v = getenv("CLEARCAP_BUFFER");
	if (v && *v) {
		long long b = cc_parse_size(v);
		if (b < MIN_BUFFER || b > MAX_BUFFER)
			return bad("CLEARCAP_BUFFER", v, "expected a size from 1M to 1G");
		size_t p2 = MIN_BUFFER;
		while (p2 < (size_t)b)
			p2 <<= 1;
		cc_cfg.buffer = p2;
	}

	v = getenv("CLEARCAP_COUNTERS");
	if (v && *v && set_path(cc_cfg.counters, "CLEARCAP_COUNTERS", v) < 0)
		return -1;

	v = getenv("CLEARCAP_KEYLOG");
	if (v && *v && set_path(cc_cfg.keylog, "CLEARCAP_KEYLOG", v) < 0)
		return -1;

	v = getenv("CLEARCAP_SRTP_KEYLOG");
	if (v && *v && set_path(cc_cfg.srtp_keylog, "CLEARCAP_SRTP_KEYLOG", v) < 0)
		return -1;

	v = getenv("CLEARCAP_VERBOSE");
	if (v && *v) {
		if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
			return bad("CLEARCAP_VERBOSE", v, "expected 0 or 1");
		cc_cfg.verbose = v[0] == '1';
	}

	cc_cfg.plain_mapped = 1;
	v = getenv("CLEARCAP_PLAIN_MAPPED");
	if (v && *v) {
		if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
			return bad("CLEARCAP_PLAIN_MAPPED", v, "expected 0 or 1");
		cc_cfg.plain_mapped = v[0] == '1';
	}

	cc_sel = CC_SEL_ALL;
	v = getenv("CLEARCAP_CAPTURE");
	if (v && *v) {
		char word[64];
		if (strlen(v) > 1024)
			return bad("CLEARCAP_CAPTURE", v, "too long");
		if (cc_sel_parse(v, &cc_sel, word, sizeof(word)) < 0) {
			cc_warn("CLEARCAP_CAPTURE=%.200s: unknown class '%s' (known: stun turn dtls-handshake "
				"dtls-app dtls rtp rtcp sctp tcp sip other wire plaintext relay all); not capturing", v, word);
			cc_cfg.on = 0;
			return -1;
		}
	}

	v = getenv("CLEARCAP_PROGRAMS");
	if (v && *v) {
		if (strlen(v) > 4096)
			return bad("CLEARCAP_PROGRAMS", v, "too long");
		if (!cc_list_names_some(v))
			return bad("CLEARCAP_PROGRAMS", v, CC_PROGRAMS_EMPTY);
		if (!cc_name_in_list(v, prog) && !(exe && cc_name_in_list(v, exe))) {
			cc_cfg.on = 0;  /* not one of ours: pass through silently */
			return 0;
		}
	}

	/* Last: libpcap is loaded only in a process that really captures with a filter. */
	v = getenv("CLEARCAP_FILTER");
	if (v && *v) {
		char err[256];
		if (strlen(v) > 4096)
			return bad("CLEARCAP_FILTER", v, "too long");
		if (cc_filter_compile(v, err, sizeof(err)) < 0) {
			cc_warn("CLEARCAP_FILTER='%.200s': %s; not capturing", v, err);
			cc_cfg.on = 0;
			return -1;
		}
	}
	return 0;
}
