/*
 * rtpstats.h - the per-source arithmetic of RFC 3550 appendix A: sequence validation with
 * probation (A.1), expected and lost packets (A.3) and interarrival jitter (A.8), plus the
 * RTP clock rates of the static payload types (RFC 3551 §6).
 *
 * Pure: no I/O, no allocation, no globals, so tests can feed hand-made sequences and compare
 * with values worked out on paper.
 */
#ifndef CC_RTPSTATS_H
#define CC_RTPSTATS_H

#include <stdint.h>

#define CC_RTP_SEQ_MOD		(1u << 16)
#define CC_RTP_MAX_DROPOUT	3000	/* RFC 3550 A.1 */
#define CC_RTP_MAX_MISORDER	100
#define CC_RTP_MIN_SEQUENTIAL	2

/* RFC 3550 A.1 "source" state, with duplicate and reorder counts added. */
struct cc_rtpseq {
	uint16_t max_seq;	/* highest seq. number seen */
	uint32_t cycles;	/* shifted count of seq. number cycles */
	uint32_t base_seq;	/* base seq number */
	uint32_t bad_seq;	/* last 'bad' seq number + 1 */
	uint32_t probation;	/* sequ. packets till source is valid */
	uint64_t received;	/* packets received (duplicates included, as A.3 says) */
	uint64_t duplicates;	/* seen twice within the last 128 sequence numbers */
	uint64_t reordered;	/* arrived after a higher sequence number */
	uint64_t restarts;	/* re-synchronised after a jump larger than MAX_DROPOUT */
	uint8_t valid;		/* probation passed at least once */
	uint8_t window[16];	/* which of the last 128 sequence numbers arrived */
};

/* The first packet of a source: starts probation (A.1 "on first packet"). */
void cc_rtpseq_first(struct cc_rtpseq *s, uint16_t seq);

/* A.1 update_seq: 1 when the packet counts, 0 while in probation or after a bad jump. */
int cc_rtpseq_update(struct cc_rtpseq *s, uint16_t seq);

/* A.3: highest extended sequence number, expected and lost (negative with duplicates). */
uint32_t cc_rtpseq_ext_max(const struct cc_rtpseq *s);
int64_t cc_rtpseq_expected(const struct cc_rtpseq *s);
int64_t cc_rtpseq_lost(const struct cc_rtpseq *s);

/* A.8 interarrival jitter, in timestamp units, kept in floating point as A.8 allows. */
struct cc_jitter {
	uint32_t clock;		/* RTP clock rate, Hz */
	uint8_t have;		/* a first packet set transit */
	uint32_t transit;
	double jitter;
	double max_jitter;
	uint64_t t0_ns;		/* arrival of the first packet: arrivals are taken relative to it */
};

void cc_jitter_init(struct cc_jitter *j, uint32_t clock);
void cc_jitter_update(struct cc_jitter *j, uint64_t arrival_ns, uint32_t rtp_ts);
double cc_jitter_ms(const struct cc_jitter *j);

/* Clock rate of a static payload type (RFC 3551 table 4 and 5); 0 for dynamic or unassigned. */
uint32_t cc_rtp_static_clock(uint8_t pt);

/* The common clock rate nearest to an estimate (timestamp advance over arrival time). */
uint32_t cc_rtp_snap_clock(double est_hz);

/* Payload types 0 (PCMU) and 8 (PCMA) only: G.711 sample to 16-bit linear (ITU-T G.711). */
int16_t cc_ulaw_to_linear(uint8_t u);
int16_t cc_alaw_to_linear(uint8_t a);

#endif /* CC_RTPSTATS_H */
