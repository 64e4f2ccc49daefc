/*
 * impairspec.h - the impairment specification (CLEARCAP_IMPAIR, `clearcap --impair`) and the
 * deterministic model that decides each packet's fate from it.
 *
 * Pure: no globals, no I/O, no clock, no allocation.  The shim (shim/impair.c) owns the state,
 * the locking, the queue and the sending; the wrapper uses the parser to refuse a bad spec
 * before the program starts.  Both link this one definition.
 *
 * Syntax: sections separated by ';', each an optional direction prefix `out:` or `in:` (none
 * means out:, as tc netem shapes egress) and comma-separated KEY=VALUE items:
 *
 *   loss=P%            independent loss
 *   gloss=p%,r%[,h%[,k%]]  Gilbert-Elliott burst loss (netem's `loss gemodel p r 1-h 1-k`):
 *                      p good->bad, r bad->good, h loss in bad (default 100%), k loss in good (0%)
 *   delay=T            fixed delay (us, ms, s; a bare number is ms)
 *   jitter=T           uniform in [-T, +T] added to delay, never reordering (clamped in order)
 *   dup=P%             a second copy of the datagram
 *   reorder=P%         this datagram held back CC_IMPAIR_REORDER_GAP_NS more, so later ones pass it
 *   rate=R             a link of that speed (bit, kbit, mbit, gbit; bps, kbps, mbps are bytes/s)
 *   limit=N            most datagrams waiting at once (default 1000); beyond: dropped (queue)
 *
 * `in:` supports loss and gloss only: a received datagram can be withheld, not delayed.
 */
#ifndef CC_IMPAIRSPEC_H
#define CC_IMPAIRSPEC_H

#include <stddef.h>
#include <stdint.h>

#define CC_IMPAIR_REORDER_GAP_NS 20000000ull   /* 20 ms */
#define CC_IMPAIR_LIMIT_DEFAULT 1000

/* Probabilities are fixed point: 1.0 is CC_IMPAIR_ONE (so a PRNG draw compares in integers). */
#define CC_IMPAIR_ONE 4294967296ull

struct cc_impair_dir {
	int on;                         /* any item in this direction */
	uint64_t loss;                  /* probability, of CC_IMPAIR_ONE */
	int ge;                         /* Gilbert-Elliott model in use */
	uint64_t ge_p, ge_r, ge_h, ge_k;/* p, r, loss in bad (h), loss in good (k) */
	uint64_t delay_ns, jitter_ns;
	uint64_t dup, reorder;
	uint64_t rate_bps;              /* bits per second; 0: unlimited */
	unsigned limit;
};

struct cc_impair_spec {
	struct cc_impair_dir out, in;
};

/* Parses s; 0, or -1 with a one-line reason (naming the item) in err. */
int cc_impair_parse(const char *s, struct cc_impair_spec *spec, char *err, size_t errlen);

/*
 * Parses a seed (CLEARCAP_IMPAIR_SEED, --impair-seed): decimal digits only, up to 2^64-1.
 * Returns 0, or -1; CC_IMPAIR_SEED_EXPECTED says what is wanted, for the message.
 */
int cc_impair_parse_seed(const char *s, uint64_t *seed);
#define CC_IMPAIR_SEED_EXPECTED "expected a whole number from 0 to 18446744073709551615"

/* Describes d in the spec syntax (for the once-per-process line on stderr). */
void cc_impair_format(const struct cc_impair_dir *d, char *buf, size_t len);

/* ---- The model: deterministic from the seed and the order of packets ---- */

/* xoshiro256** (Blackman, Vigna), seeded through splitmix64. */
struct cc_prng {
	uint64_t s[4];
};

void cc_prng_seed(struct cc_prng *r, uint64_t seed);
uint64_t cc_prng_next(struct cc_prng *r);

/* A draw in [0, CC_IMPAIR_ONE). */
static inline uint64_t cc_prng_frac(struct cc_prng *r)
{
	return cc_prng_next(r) >> 32;
}

/* One direction's running state. */
struct cc_impair_state {
	struct cc_prng rng;
	int ge_bad;                     /* Gilbert-Elliott: in the bad state */
	uint64_t last_due;              /* keeps delayed datagrams in order */
	uint64_t link_free;             /* rate: when the link is next free */
};

/* What happens to one datagram. */
struct cc_impair_fate {
	int lost;
	int dup;
	int queued;                     /* goes out at `due` (ns, the caller's clock), not now */
	int reordered;
	uint64_t due;
};

/*
 * The fate of one datagram of len bytes handed over at time now (ns).  Every decision draws from
 * the PRNG in a fixed order whatever the outcome, so that the same seed and the same sequence of
 * datagrams give the same fates.
 */
void cc_impair_decide(const struct cc_impair_dir *d, struct cc_impair_state *st, uint64_t now, size_t len,
		      struct cc_impair_fate *f);

#endif /* CC_IMPAIRSPEC_H */
