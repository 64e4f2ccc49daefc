/*
 * rtpstats.c - RFC 3550 appendix A.1, A.3 and A.8, written as close to the RFC's own code as
 * the added duplicate/reorder bookkeeping allows, so a reader can check one against the other.
 */
#include "tools/rtpstats.h"

#include <string.h>

static void win_clear(struct cc_rtpseq *s)
{
	memset(s->window, 0, sizeof s->window);
}

static int win_test_set(struct cc_rtpseq *s, uint16_t seq)
{
	unsigned bit = seq & 127u;
	int was = (s->window[bit >> 3] >> (bit & 7)) & 1;

	s->window[bit >> 3] |= (uint8_t)(1u << (bit & 7));
	return was;
}

static void win_unset(struct cc_rtpseq *s, uint16_t seq)
{
	unsigned bit = seq & 127u;

	s->window[bit >> 3] &= (uint8_t)~(1u << (bit & 7));
}

/* The window slides forward: sequence numbers it now covers have not arrived yet. */
static void win_advance(struct cc_rtpseq *s, uint16_t from, uint16_t to)
{
	uint16_t d = (uint16_t)(to - from);

	if (d >= 128) {
		win_clear(s);
	} else {
		for (uint16_t i = 1; i <= d; i++)
			win_unset(s, (uint16_t)(from + i));
	}
	win_test_set(s, to);
}

/* A.1 init_seq. */
static void init_seq(struct cc_rtpseq *s, uint16_t seq)
{
	s->base_seq = seq;
	s->max_seq = seq;
	s->bad_seq = CC_RTP_SEQ_MOD + 1;	/* so seq == bad_seq is false */
	s->cycles = 0;
	s->received = 0;
	win_clear(s);
	win_test_set(s, seq);
}

void cc_rtpseq_first(struct cc_rtpseq *s, uint16_t seq)
{
	memset(s, 0, sizeof *s);
	init_seq(s, seq);
	s->max_seq = (uint16_t)(seq - 1);
	s->probation = CC_RTP_MIN_SEQUENTIAL;
}

int cc_rtpseq_update(struct cc_rtpseq *s, uint16_t seq)
{
	uint16_t udelta = (uint16_t)(seq - s->max_seq);

	/* Source is not valid until MIN_SEQUENTIAL packets with sequential numbers arrived. */
	if (s->probation) {
		if (seq == (uint16_t)(s->max_seq + 1)) {
			s->probation--;
			s->max_seq = seq;
			if (s->probation == 0) {
				init_seq(s, seq);
				s->received++;
				s->valid = 1;
				return 1;
			}
		} else {
			s->probation = CC_RTP_MIN_SEQUENTIAL - 1;
			s->max_seq = seq;
		}
		return 0;
	} else if (udelta == 0) {
		/* The RFC lets this fall into "duplicate or reordered"; it is the former. */
		s->duplicates++;
	} else if (udelta < CC_RTP_MAX_DROPOUT) {
		/* In order, with permissible gap. */
		if (seq < s->max_seq)
			s->cycles += CC_RTP_SEQ_MOD;	/* sequence number wrapped */
		win_advance(s, s->max_seq, seq);
		s->max_seq = seq;
	} else if (udelta <= CC_RTP_SEQ_MOD - CC_RTP_MAX_MISORDER) {
		/* The sequence number made a very large jump. */
		if (seq == s->bad_seq) {
			/* Two sequential packets: assume the other side restarted without telling us. */
			init_seq(s, seq);
			s->restarts++;
		} else {
			s->bad_seq = (seq + 1u) & (CC_RTP_SEQ_MOD - 1);
			return 0;
		}
	} else {
		/* Duplicate or reordered packet: the window tells which, within 128 numbers. */
		if ((uint16_t)(s->max_seq - seq) < 128 && win_test_set(s, seq))
			s->duplicates++;
		else
			s->reordered++;
	}
	s->received++;
	return 1;
}

uint32_t cc_rtpseq_ext_max(const struct cc_rtpseq *s)
{
	return s->cycles + s->max_seq;
}

int64_t cc_rtpseq_expected(const struct cc_rtpseq *s)
{
	if (!s->valid)
		return 0;
	return (int64_t)cc_rtpseq_ext_max(s) - (int64_t)s->base_seq + 1;
}

int64_t cc_rtpseq_lost(const struct cc_rtpseq *s)
{
	if (!s->valid)
		return 0;
	return cc_rtpseq_expected(s) - (int64_t)s->received;
}

void cc_jitter_init(struct cc_jitter *j, uint32_t clock)
{
	memset(j, 0, sizeof *j);
	j->clock = clock;
}

/*
 * A.8: arrival is the packet's capture time in timestamp units.  Only differences of transit
 * matter, so arrival is counted from the first packet, which keeps the product in 64 bits.
 */
void cc_jitter_update(struct cc_jitter *j, uint64_t arrival_ns, uint32_t rtp_ts)
{
	uint64_t rel, arrival;
	uint32_t transit;
	int32_t d;

	if (!j->have)
		j->t0_ns = arrival_ns;
	rel = arrival_ns >= j->t0_ns ? arrival_ns - j->t0_ns : 0;
	arrival = (uint64_t)(((unsigned __int128)rel * j->clock) / 1000000000u);
	transit = (uint32_t)arrival - rtp_ts;
	if (!j->have) {
		j->have = 1;
		j->transit = transit;
		return;
	}
	d = (int32_t)(transit - j->transit);
	j->transit = transit;
	if (d < 0)
		d = d == INT32_MIN ? INT32_MAX : -d;
	j->jitter += (1. / 16.) * ((double)d - j->jitter);
	if (j->jitter > j->max_jitter)
		j->max_jitter = j->jitter;
}

double cc_jitter_ms(const struct cc_jitter *j)
{
	return j->clock ? j->jitter * 1000.0 / j->clock : 0;
}

uint32_t cc_rtp_static_clock(uint8_t pt)
{
	switch (pt) {
	case 0: case 3: case 4: case 5: case 7: case 8: case 9:
	case 12: case 13: case 15: case 18:
		return 8000;	/* G.722 too: its RTP clock is 8000 by mistake (RFC 3551 §4.5.2) */
	case 6:
		return 16000;
	case 10: case 11:
		return 44100;
	case 16:
		return 11025;
	case 17:
		return 22050;
	case 14: case 25: case 26: case 28: case 31: case 32: case 33: case 34:
		return 90000;
	default:
		return 0;
	}
}

uint32_t cc_rtp_snap_clock(double est_hz)
{
	static const uint32_t rates[] = { 8000, 16000, 22050, 32000, 44100, 48000, 90000 };
	uint32_t best = 90000;
	double bestd = 1e300;

	if (!(est_hz > 0))
		return 90000;
	for (unsigned i = 0; i < sizeof rates / sizeof rates[0]; i++) {
		/* Compare ratios: 44100 and 48000 are 9% apart, 8000 and 16000 a factor of two. */
		double r = est_hz / rates[i];
		double d = r > 1 ? r - 1 : 1 / r - 1;

		if (d < bestd) {
			bestd = d;
			best = rates[i];
		}
	}
	return best;
}

/* ITU-T G.711 expansion, as in Sun's public-domain g711.c. */
int16_t cc_ulaw_to_linear(uint8_t u)
{
	int t;

	u = (uint8_t)~u;
	t = ((u & 0x0f) << 3) + 0x84;
	t <<= (u & 0x70) >> 4;
	return (int16_t)((u & 0x80) ? (0x84 - t) : (t - 0x84));
}

int16_t cc_alaw_to_linear(uint8_t a)
{
	int t, seg;

	a ^= 0x55;
	t = (a & 0x0f) << 4;
	seg = (a & 0x70) >> 4;
	switch (seg) {
	case 0:
		t += 8;
		break;
	case 1:
		t += 0x108;
		break;
	default:
		t += 0x108;
		t <<= seg - 1;
	}
	return (int16_t)((a & 0x80) ? t : -t);
}
