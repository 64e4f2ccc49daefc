/*
 * impairspec.c - parsing CLEARCAP_IMPAIR and deciding each datagram's fate (see impairspec.h).
 */
#include "decoders/impairspec.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- PRNG ---- */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void cc_prng_seed(struct cc_prng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t cc_prng_next(struct cc_prng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

/* ---- Parsing ---- */

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* "12.5%" as a fraction of CC_IMPAIR_ONE; the '%' is required, so that 5 and 0.05 cannot mix up. */
static int percent(const char *v, uint64_t *out)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (errno || end == v || strcmp(end, "%") != 0 || !(d >= 0 && d <= 100))
		return -1;
	*out = (uint64_t)(d / 100.0 * (double)CC_IMPAIR_ONE + 0.5);
	return 0;
}

/* "80ms", "1.5s", "200us"; a bare number is milliseconds. */
static int duration(const char *v, uint64_t *ns)
{
	char *end;
	double d, mul = 1e6;

	errno = 0;
	d = strtod(v, &end);
	if (errno || end == v || !(d >= 0))
		return -1;
	if (strcmp(end, "ms") == 0 || !*end)
		mul = 1e6;
	else if (strcmp(end, "s") == 0)
		mul = 1e9;
	else if (strcmp(end, "us") == 0)
		mul = 1e3;
	else if (strcmp(end, "ns") == 0)
		mul = 1;
	else
		return -1;
	if (d * mul > 3600e9)
		return -1;      /* an hour: certainly a mistake */
	*ns = (uint64_t)(d * mul + 0.5);
	return 0;
}

/* "2mbit" (bits/s, powers of 1000 as tc does), "250kbps" (bytes/s). */
static int rate(const char *v, uint64_t *bps)
{
	static const struct { const char *unit; double mul; } units[] = {
		{ "bit", 1 }, { "kbit", 1e3 }, { "mbit", 1e6 }, { "gbit", 1e9 },
		{ "bps", 8 }, { "kbps", 8e3 }, { "mbps", 8e6 }, { "gbps", 8e9 },
	};
	char *end;
	double d;

	errno = 0;
	d = strtod(v, &end);
	if (errno || end == v || !(d > 0))
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcasecmp(end, units[i].unit) == 0) {
			d *= units[i].mul;
			if (d < 8 || d > 1e12)
				return -1;
			*bps = (uint64_t)(d + 0.5);
			return 0;
		}
	}
	return -1;
}

/*
 * One KEY=VALUE item (gloss takes its further values from the items that have no '=').  seen
 * holds the keys this direction had already: a second one would silently replace the first.
 */
static int item(struct cc_impair_dir *d, const char *dir, char *key, char **vals, int nvals, unsigned *seen,
		char *err, size_t errlen)
{
	static const char *const keys[] = { "loss", "gloss", "delay", "jitter", "dup", "reorder", "rate", "limit" };
	const char *v = vals[0];
	int ok = 0;

	for (unsigned i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strcmp(key, keys[i]) != 0)
			continue;
		if (*seen & 1u << i)
			return fail(err, errlen, "%s%s given twice", dir, key);
		*seen |= 1u << i;
	}

	if (strcmp(key, "gloss") != 0 && nvals != 1)
		return fail(err, errlen, "%s%s: takes one value", dir, key);
	if (strcmp(key, "loss") == 0) {
		ok = percent(v, &d->loss) == 0;
	} else if (strcmp(key, "gloss") == 0) {
		if (nvals < 2 || nvals > 4)
			return fail(err, errlen, "%sgloss: expected p%%,r%%[,h%%[,k%%]]", dir);
		d->ge = 1;
		d->ge_h = CC_IMPAIR_ONE;
		d->ge_k = 0;
		ok = percent(vals[0], &d->ge_p) == 0 && percent(vals[1], &d->ge_r) == 0 &&
		     (nvals < 3 || percent(vals[2], &d->ge_h) == 0) && (nvals < 4 || percent(vals[3], &d->ge_k) == 0);
		if (!ok)
			return fail(err, errlen, "%sgloss: expected percentages like 1%%,30%%", dir);
	} else if (strcmp(key, "delay") == 0) {
		ok = duration(v, &d->delay_ns) == 0;
	} else if (strcmp(key, "jitter") == 0) {
		ok = duration(v, &d->jitter_ns) == 0;
	} else if (strcmp(key, "dup") == 0) {
		ok = percent(v, &d->dup) == 0;
	} else if (strcmp(key, "reorder") == 0) {
		ok = percent(v, &d->reorder) == 0;
	} else if (strcmp(key, "rate") == 0) {
		ok = rate(v, &d->rate_bps) == 0;
		if (!ok)
			return fail(err, errlen, "%srate=%s: expected a rate like 2mbit or 64kbps", dir, v);
	} else if (strcmp(key, "limit") == 0) {
		char *end;
		long n = strtol(v, &end, 10);
		ok = end != v && !*end && n >= 1 && n <= 1000000;
		d->limit = (unsigned)n;
	} else {
		return fail(err, errlen, "%s%s: unknown item (known: loss gloss delay jitter dup reorder rate limit)", dir,
			    key);
	}
	if (!ok)
		return fail(err, errlen, "%s%s=%s: bad value", dir, key, v);
	d->on = 1;
	return 0;
}

static int section(struct cc_impair_spec *spec, char *s, unsigned seen[2], char *err, size_t errlen)
{
	struct cc_impair_dir *d = &spec->out;
	const char *dir = "out:";
	char *vals[4];
	char *key = NULL;
	int nvals = 0;

	if (strncmp(s, "out:", 4) == 0) {
		s += 4;
	} else if (strncmp(s, "in:", 3) == 0) {
		s += 3;
		d = &spec->in;
		dir = "in:";
		seen++;
	}
	for (char *tok = s, *next; tok; tok = next) {
		next = strchr(tok, ',');
		if (next)
			*next++ = 0;
		char *eq = strchr(tok, '=');
		if (!eq) {
			/* A further value of the item before (gloss), or an empty item. */
			if (!*tok)
				return fail(err, errlen, "%s empty item", dir);
			if (!key || nvals >= 4)
				return fail(err, errlen, "%s%s: expected KEY=VALUE", dir, tok);
			vals[nvals++] = tok;
			continue;
		}
		if (key && item(d, dir, key, vals, nvals, seen, err, errlen) < 0)
			return -1;
		*eq = 0;
		key = tok;
		vals[0] = eq + 1;
		nvals = 1;
	}
	if (key && item(d, dir, key, vals, nvals, seen, err, errlen) < 0)
		return -1;
	/* (limit: bit 7 of seen; no received datagram waits in our queue, so it would mean nothing.) */
	if (d == &spec->in && (d->delay_ns || d->jitter_ns || d->dup || d->reorder || d->rate_bps || (*seen & 1u << 7)))
		return fail(err, errlen, "in: supports loss and gloss only (a received datagram cannot be delayed)");
	return 0;
}

int cc_impair_parse(const char *s, struct cc_impair_spec *spec, char *err, size_t errlen)
{
	char buf[1024];
	size_t n = strlen(s);
	unsigned seen[2] = { 0, 0 };    /* keys given so far, out: and in: */

	memset(spec, 0, sizeof(*spec));
	spec->out.limit = spec->in.limit = CC_IMPAIR_LIMIT_DEFAULT;
	if (n == 0 || n >= sizeof(buf))
		return fail(err, errlen, "empty or too long");
	memcpy(buf, s, n + 1);
	for (char *sec = buf, *next; sec; sec = next) {
		next = strchr(sec, ';');
		if (next)
			*next++ = 0;
		if (!*sec)
			continue;
		if (section(spec, sec, seen, err, errlen) < 0)
			return -1;
	}
	if (!spec->out.on && !spec->in.on)
		return fail(err, errlen, "no impairment given");
	return 0;
}

int cc_impair_parse_seed(const char *s, uint64_t *seed)
{
	char *end;
	unsigned long long v;

	/* strtoull alone would take " 5", "+5" and "-5" (as 2^64-5). */
	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*seed = (uint64_t)v;
	return 0;
}

static double pct(uint64_t p)
{
	return (double)p * 100.0 / (double)CC_IMPAIR_ONE;
}

void cc_impair_format(const struct cc_impair_dir *d, char *buf, size_t len)
{
	size_t n = 0;

#define ADD(...) do { if (n < len) n += (size_t)snprintf(buf + n, len - n, __VA_ARGS__); } while (0)
	buf[0] = 0;
	if (d->loss)
		ADD("loss=%g%%,", pct(d->loss));
	if (d->ge)
		ADD("gloss=%g%%,%g%%,%g%%,%g%%,", pct(d->ge_p), pct(d->ge_r), pct(d->ge_h), pct(d->ge_k));
	if (d->delay_ns)
		ADD("delay=%gms,", (double)d->delay_ns / 1e6);
	if (d->jitter_ns)
		ADD("jitter=%gms,", (double)d->jitter_ns / 1e6);
	if (d->dup)
		ADD("dup=%g%%,", pct(d->dup));
	if (d->reorder)
		ADD("reorder=%g%%,", pct(d->reorder));
	if (d->rate_bps)
		ADD("rate=%gkbit,", (double)d->rate_bps / 1e3);
#undef ADD
	n = strlen(buf);
	if (n && buf[n - 1] == ',')
		buf[n - 1] = 0;
}

/* ---- The model ---- */

void cc_impair_decide(const struct cc_impair_dir *d, struct cc_impair_state *st, uint64_t now, size_t len,
		      struct cc_impair_fate *f)
{
	/* Every draw is made, used or not: fates depend on the seed and the packet order only. */
	uint64_t u_loss = cc_prng_frac(&st->rng), u_ge = cc_prng_frac(&st->rng), u_gt = cc_prng_frac(&st->rng);
	uint64_t u_dup = cc_prng_frac(&st->rng), u_reo = cc_prng_frac(&st->rng), u_jit = cc_prng_frac(&st->rng);

	memset(f, 0, sizeof(*f));
	f->due = now;
	f->lost = u_loss < d->loss;
	if (d->ge) {
		/* Loss in the current state, then the state's transition (netem's gemodel order). */
		if (u_ge < (st->ge_bad ? d->ge_h : d->ge_k))
			f->lost = 1;
		if (st->ge_bad ? u_gt < d->ge_r : u_gt < d->ge_p)
			st->ge_bad = !st->ge_bad;
	}
	if (f->lost)
		return;
	f->dup = u_dup < d->dup;

	uint64_t due = now + d->delay_ns;
	if (d->jitter_ns) {
		/* Uniform in [-jitter, +jitter], never before now. */
		/* In 128 bits: u_jit (32 bits) times 2 * jitter (up to 2^43 ns) passes 64 above 2.1 s. */
		int64_t j = (int64_t)(((unsigned __int128)u_jit * (2 * d->jitter_ns + 1)) >> 32) -
			    (int64_t)d->jitter_ns;
		due = j < 0 && (uint64_t)-j > due - now ? now : due + (uint64_t)j;
	}
	if (due < st->last_due)
		due = st->last_due;             /* delayed datagrams leave in order */
	if (d->rate_bps) {
		uint64_t start = due > st->link_free ? due : st->link_free;
		uint64_t copies = f->dup ? 2 : 1;
		st->link_free = start + (uint64_t)((double)(len * 8 * copies) * 1e9 / (double)d->rate_bps);
		due = st->link_free;
	}
	if (u_reo < d->reorder) {
		/* Held back: the ones after it pass it; it does not hold them up. */
		f->reordered = 1;
		f->due = due + CC_IMPAIR_REORDER_GAP_NS;
		f->queued = 1;
		return;
	}
	st->last_due = due;
	f->due = due;
	f->queued = due > now;
}
