/*
 * xmedia.h - `clearcap extract`'s per-stream decisions: which codec an RTP stream carries,
 * whether its payload is ciphertext, and the Opus, VP8 and H.264 files written from it
 * (tools/media_*.c).  G.711 audio stays in extract.c; this table tells it which packets are
 * in the clear.
 *
 * Two passes over the file: the first (cc_xm_sniff, with tools/analyze.c fed the same frames)
 * learns each stream, cc_xm_decide settles codec and encryption, the second (cc_xm_packet)
 * writes.
 */
#ifndef CC_XMEDIA_H
#define CC_XMEDIA_H

#include "decoders/rtp.h"
#include "tools/analyze.h"
#include "tools/pktparse.h"

struct cc_xm;

struct cc_xm *cc_xm_new(const char *dir);
void cc_xm_free(struct cc_xm *x);

/* Pass 1: one RTP packet (payload of pkt parsed into *r). */
void cc_xm_sniff(struct cc_xm *x, const struct cc_pkt *pkt, const struct cc_rtp *r);

/* Between the passes: the analyzer, finished, says what SDP and the clock rate say and which
 * streams are encrypted. */
void cc_xm_decide(struct cc_xm *x, const struct cc_an *a);

/* Pass 2: 1 when the packet is G.711 in the clear (extract.c decodes it), 0 otherwise. */
int cc_xm_packet(struct cc_xm *x, const struct cc_pkt *pkt, const struct cc_rtp *r);

/* Closes the files and prints one line per stream; -1 when a file could not be written. */
int cc_xm_finish(struct cc_xm *x);

#endif /* CC_XMEDIA_H */
