/*
 * analyze.h - what happened in a capture: flows, RTP streams, STUN/TURN, DTLS, RTCP, DTMF and
 * data channels, accumulated one frame at a time into fixed-size tables.
 *
 * Every table has a fixed capacity chosen when the analyzer is created; what does not fit is
 * counted in cc_an.overflow, never grown without bound, so a hostile or huge capture costs a
 * known amount of memory.  The engine does no I/O: tools/capread.c feeds it frames from libpcap
 * and tools/report.c prints it.
 */
#ifndef CC_ANALYZE_H
#define CC_ANALYZE_H

#include <stddef.h>
#include <stdint.h>

#include "decoders/sip.h"
#include "tools/pktparse.h"
#include "tools/rtpstats.h"

#define CC_AN_MAX_FLOWS		1024
#define CC_AN_MAX_STREAMS	256
#define CC_AN_MAX_STUN		4096	/* transactions; a power of two (hash table) */
#define CC_AN_MAX_TURN		64
#define CC_AN_MAX_RTCP		256
#define CC_AN_MAX_CHANNELS	128
#define CC_AN_MAX_DTMF		256
#define CC_AN_MAX_BINDINGS	16	/* ChannelBind per allocation */
#define CC_AN_BUCKETS		240	/* time series points per RTP stream */
#define CC_AN_LABEL_MAX		64
#define CC_AN_FLOW_PIDS		4
#define CC_AN_MAX_SAVP		32
#define CC_AN_MAX_SIP		64	/* SIP dialogs (Call-IDs) */
#define CC_AN_SIP_EVENTS	48	/* messages kept per dialog */
#define CC_AN_MAX_NOTES		32	/* "no plaintext" notes (tools/noplain.c) */
#define CC_AN_NOTE_MAX		256
#define CC_AN_PLAIN_KEYS	16384	/* address pairs that have plaintext; a power of two */

enum cc_kind {
	CC_K_STUN, CC_K_TURN, CC_K_DTLS, CC_K_RTP, CC_K_RTCP, CC_K_SCTP, CC_K_OTHER, CC_K_TCP, CC_K_SIP,
	CC_K_TLS, CC_K_COUNT
};

const char *cc_kind_name(enum cc_kind k);

/* The DTLS handshake steps a flow's timeline shows, per direction (tools/report_steps.c). */
enum cc_dtls_step {
	CC_DS_CLIENT_HELLO, CC_DS_SERVER_HELLO, CC_DS_CCS, CC_DS_FINISHED, CC_DS_APP, CC_DS_ALERT,
	CC_DTLS_STEPS
};

/* Endpoints in a fixed order (a < b) so both directions share one entry. */
/* What impairment did to a packet, from its comment ("dropped by impairment (loss)", ...). */
enum cc_imp { CC_IMP_DROPPED, CC_IMP_DELAYED, CC_IMP_REORDERED, CC_IMP_DUPLICATED, CC_IMP_COUNT };
const char *cc_imp_name(int i);

struct cc_flow {
	uint8_t ifindex, proto;
	struct cc_endpoint a, b;
	uint64_t first_ns, last_ns;
	uint64_t pkts[2], bytes[2];		/* [0] a->b, [1] b->a */
	uint64_t kind[2][CC_K_COUNT];
	/* DTLS, from the record layer (handshake messages after ChangeCipherSpec are encrypted). */
	uint8_t dtls_client;			/* 1: a sent ClientHello, 2: b did */
	uint8_t dtls_hello[2], dtls_server_hello[2], dtls_ccs[2], dtls_fin[2], dtls_app[2];
	uint8_t dtls_alert_level, dtls_alert_desc;	/* the last clear alert */
	uint32_t dtls_alerts, dtls_enc_alerts;
	uint64_t dtls_start_ns, dtls_done_ns;
	uint64_t dtls_ts[2][CC_DTLS_STEPS];	/* [direction][enum cc_dtls_step]: first seen, 0 never */
	uint64_t first_kind_ns[CC_K_COUNT];	/* the first packet of each kind, 0 none */
	uint64_t first_chdata_ns;		/* the first TURN ChannelData or Send/Data indication */
	uint8_t nominated;			/* a USE-CANDIDATE check on this flow succeeded */
	uint64_t nominated_ns;			/* when the first such check was answered */
	uint8_t local;				/* ends the capturing process was: 1 a, 2 b, 3 both */
	uint64_t channel_data[2], indications[2];	/* TURN, credited to allocations at the end */
	uint32_t pids[CC_AN_FLOW_PIDS];		/* capturing processes (SLL2 address), first few */
	uint8_t npids;
	uint8_t enc;				/* CC_FLOW_TLS, CC_FLOW_DTLS: records seen */
	uint8_t tls_app;			/* a TLS application data record began a segment */
	uint16_t note;				/* its "no plaintext" note: index + 1 in cc_an.notes */
	const char *noplain;			/* encrypted with no plaintext copy: why (cc_an_finish) */
	uint32_t impaired[2][CC_IMP_COUNT];	/* packets clearcap's impairment hit, by direction */
};

#define CC_FLOW_TLS	1
#define CC_FLOW_DTLS	2

struct cc_bucket {
	uint32_t pkts;
	uint32_t bytes;
	uint32_t ext_max;			/* highest extended seq at the bucket's end */
	float jitter_ms;			/* A.8 jitter at the bucket's end */
};

#define CC_AN_CLOCKS 7	/* candidates for a dynamic payload type's clock rate */

struct cc_stream {
	uint32_t ssrc;
	uint8_t ifindex, dir, pt;
	uint8_t dtmf_pt;			/* an RFC 4733 event payload type seen, or 0 */
	uint8_t cur_pt;				/* the last media packet's payload type */
	uint32_t pt_changes;			/* times the media payload type changed */
	uint8_t encrypted;			/* enum cc_enc: SRTP on the wire, and how that is known */
	uint64_t g711_pkts, g711_tagged;	/* PCMU/PCMA packets; those 4 or 10 bytes past 10 ms */
	struct cc_endpoint src, dst;
	uint64_t pkts, bytes, payload_bytes;
	uint64_t first_ns, last_ns;
	uint32_t first_ts, last_ts;
	uint8_t have_ts;
	struct cc_rtpseq seq;
	/* A.8 jitter under each candidate clock rate; the chosen one is reported. */
	struct cc_jitter jit[CC_AN_CLOCKS];
	uint32_t clock;				/* static PT rate, or 0: estimate at the end */
	uint32_t sdp_clock;			/* from an SDP a=rtpmap seen in the file (cc_an_finish) */
	char sdp_name[16];
	/* RTCP about this SSRC, as reported by the other side. */
	uint32_t rr_count;
	uint8_t rr_fraction;
	int32_t rr_cum_lost;
	uint32_t rr_jitter;
	/* Time series. */
	uint64_t bucket_ns;			/* width; doubles when the stream outgrows the table */
	uint32_t nbuckets;
	struct cc_bucket buckets[CC_AN_BUCKETS];
};

struct cc_stun_tx {
	uint8_t used;
	uint8_t txid[12];
	uint16_t method;
	uint8_t ifindex;
	uint8_t use_candidate;
	uint8_t outcome;			/* 0 none, 2 success, 3 error */
	uint16_t error_code;
	uint32_t requests;			/* copies of the request (retransmits, both ends) */
	uint32_t responses;
	struct cc_endpoint from, to;		/* the request's */
	uint64_t req_ns, resp_ns;		/* earliest request copy, latest response copy */
	struct cc_endpoint mapped;		/* XOR-MAPPED-ADDRESS of a success */
	uint8_t have_mapped, have_relayed, has_resp_lifetime;
	struct cc_endpoint relayed;		/* XOR-RELAYED-ADDRESS of an Allocate success */
	uint32_t resp_lifetime;
	uint8_t have_peer, has_lifetime;	/* from the request: ChannelBind, Refresh */
	uint16_t channel;
	struct cc_endpoint peer;
	uint32_t req_lifetime;
};

struct cc_turn_binding {
	uint16_t channel;
	struct cc_endpoint peer;
};

struct cc_turn_alloc {
	uint8_t ifindex;
	struct cc_endpoint client, server;
	uint32_t allocate_req, allocate_401, allocate_ok, allocate_err;
	uint16_t last_error;
	uint8_t have_relayed;
	struct cc_endpoint relayed, mapped;
	uint32_t lifetime;
	uint32_t perm_req, perm_ok, perm_err;
	uint32_t bind_req, bind_ok, bind_err;
	uint32_t refresh_req, refresh_ok, refresh_err;
	uint8_t deallocated;			/* a Refresh with LIFETIME 0 succeeded */
	uint32_t nbindings;
	struct cc_turn_binding bindings[CC_AN_MAX_BINDINGS];
	uint64_t channel_data[2], indications[2];	/* [0] client->server */
	uint64_t first_ns;
};

struct cc_rtcp_src {
	uint32_t ssrc;				/* sender SSRC of the RTCP packet */
	uint8_t ifindex, dir;
	struct cc_endpoint src, dst;
	uint64_t packets, undecodable;		/* compound packets; SRTCP cannot be read on the wire */
	uint32_t sr, rr, sdes, bye, app, nack, pli, fir, remb, tcc, other_fb, xr;
	uint8_t have_rb;
	uint32_t rb_ssrc;
	uint8_t rb_fraction;
	int32_t rb_cum_lost;
	uint32_t rb_jitter;
	uint64_t remb_bps;
};

struct cc_dtmf_event {
	uint64_t t_ns;
	uint32_t ssrc;
	uint32_t rtp_ts;
	uint8_t ifindex, dir;
	uint8_t event;
	uint8_t ended;
	uint16_t duration;			/* timestamp units, the longest seen */
	uint8_t volume;
};

struct cc_channel {
	uint8_t ifindex;
	struct cc_endpoint a, b;		/* the SCTP flow's ends, ordered as in cc_flow */
	uint16_t stream;
	uint8_t opened, acked;
	uint8_t channel_type;
	char label[CC_AN_LABEL_MAX];
	char protocol[CC_AN_LABEL_MAX];
	uint64_t msgs[2], bytes[2];		/* [0] a->b; sent copies, or copies of unknown direction */
	uint64_t msgs_rx[2];			/* received copies (the same messages, other end) */
	uint64_t first_ns;
};

/* What SDP in the file (SIP over UDP, signalling in plaintext TCP) said a payload type is. */
struct cc_rtpmap {
	uint8_t set;
	char name[16];
	uint32_t rate;
};

/* One SIP message of a dialog; a message both ends captured is one event seen twice. */
struct cc_sip_event {
	uint64_t t_ns;
	struct cc_endpoint src, dst;
	uint8_t ifindex, proto, dir;
	uint8_t both;				/* the other end's copy was seen too */
	uint16_t status;			/* 0: a request */
	uint32_t cseq;
	char method[CC_SIP_TOKEN_MAX];		/* the request's method, or the CSeq method of a response */
};

/* A SIP dialog as the messages sharing a Call-ID (RFC 3261 §12 adds tags; one call, one Call-ID). */
struct cc_sip_dialog {
	char call_id[CC_SIP_CALLID_MAX];
	uint64_t first_ns, last_ns;
	uint32_t requests, responses;		/* messages, the other end's copies not counted again */
	uint32_t nev, dropped;			/* events kept, and those past CC_AN_SIP_EVENTS */
	struct cc_sip_event ev[CC_AN_SIP_EVENTS];
};

/*
 * What the unwrapping of TURN needs while frames arrive (cc_an_finish rebuilds the allocations
 * for the report): granted relayed addresses and bound channels.
 */
#define CC_AN_MAX_LIVE 256

struct cc_live_alloc {
	uint8_t ifindex;
	struct cc_endpoint client, server, relayed;
};

struct cc_live_chan {
	uint8_t ifindex;
	uint16_t channel;
	struct cc_endpoint client, server, peer;
};

struct cc_overflow {
	uint64_t flows, streams, stun, turn, rtcp, channels, dtmf, bindings, live, sip;
};

struct cc_an {
	uint64_t frames, bytes, undecodable, not_ip, truncated;
	uint64_t first_ns, last_ns;
	uint64_t per_if[4];			/* frames by SLL2 ifindex (0 = other link types) */
	int dlt;
	size_t nflows, nstreams, nturn, nrtcp, nchannels, ndtmf, nstun;
	struct cc_flow *flows;
	struct cc_stream *streams;
	struct cc_stun_tx *stun;		/* open-addressed hash by txid */
	struct cc_turn_alloc *turn;
	struct cc_rtcp_src *rtcp;
	struct cc_channel *channels;
	struct cc_dtmf_event *dtmf;
	uint32_t *flow_idx, *stream_idx;	/* hash slots holding table index + 1 */
	struct cc_rtpmap rtpmap[128];		/* by payload type; the last a=rtpmap seen wins */
	struct cc_live_alloc live_alloc[CC_AN_MAX_LIVE];
	struct cc_live_chan live_chan[CC_AN_MAX_LIVE];
	size_t nlive_alloc, nlive_chan;
	uint8_t unwrapping;			/* inside an unwrapped TURN datagram: no second level */
	uint64_t unwrapped;			/* datagrams analysed from inside TURN */
	uint64_t sdp_seen;
	uint16_t savp_ports[CC_AN_MAX_SAVP];	/* SDP m= lines with an RTP/SAVP(F) profile */
	size_t nsavp;
	struct cc_sip_dialog *sip;		/* CC_AN_MAX_SIP of them (tools/sipdialog.c) */
	size_t nsip;
	uint64_t sip_msgs, sip_bad;		/* messages parsed, SIP start lines that did not parse */
	struct cc_overflow overflow;
	/* The current frame's comment, set by the reader before cc_an_frame (NULL: none). */
	const char *comment;
	size_t comment_len;
	struct cc_an_note {
		uint32_t pid;
		uint8_t dtls;			/* 0 TLS, 1 DTLS, 2 the whole program */
		char text[CC_AN_NOTE_MAX];
	} notes[CC_AN_MAX_NOTES];
	size_t nnotes;
	uint64_t hep_sent, hep_dropped;		/* from the processes' statistics blocks (--hep) */
	uint32_t hep_procs;             /* distinct pids (an exec's block and its image's: one) */
	uint32_t hep_pids[256];         /* the first ones seen, for telling them apart */
	uint64_t hep_relayed, hep_relay_dropped;	/* --hep tls: the wrapper's relay */
	char hep_relay_to[96];
	uint64_t *plain_keys;			/* open-addressed set of plaintext address pairs */
	size_t nplain_keys;
	uint8_t plain_keys_full;
};

/* NULL when out of memory.  Tables are allocated once, here. */
struct cc_an *cc_an_new(void);
void cc_an_free(struct cc_an *a);

/* One captured frame; dlt is libpcap's link type of the file. */
void cc_an_frame(struct cc_an *a, int dlt, uint64_t ts_ns, const uint8_t *p, size_t caplen,
		 size_t wirelen);

/* The per-packet work of cc_an_frame once the frame has been parsed (unit tests feed this). */
void cc_an_packet(struct cc_an *a, uint64_t ts_ns, const struct cc_pkt *pkt, size_t wirelen);

/*
 * After the last frame: what needs both halves of a STUN transaction (nominated pairs, TURN
 * allocations) is worked out here, because with both ends in one file the records of two
 * processes are not always in time order, and a response can come before its request.
 */
void cc_an_finish(struct cc_an *a);

/*
 * Why an RTP stream's payload is ciphertext (tools/encrypted.c).  Only a stream seen on the wire
 * or relay interface can be; a plaintext copy never is.
 */
enum cc_enc {
	CC_ENC_NO = 0,
	CC_ENC_PLAIN_COPY,	/* the file holds a plaintext copy of the same SSRC */
	CC_ENC_DTLS,		/* the same 5-tuple carried DTLS: DTLS-SRTP (RFC 5764) */
	CC_ENC_SDP,		/* an SDP in the file offered RTP/SAVP(F) on one of its ports */
	CC_ENC_TAG,		/* G.711 whose every payload is whole 10 ms plus an SRTP auth tag */
};

/* SDP "m=" lines in a UDP or TCP payload: remembers the ports of secure RTP profiles. */
void cc_an_learn_savp(struct cc_an *a, const uint8_t *p, size_t len);

/*
 * SIP messages at the start of a UDP or TCP payload (tools/sipdialog.c): each is added to its
 * dialog.  Returns how many messages were read; a TCP segment can hold several.
 */
size_t cc_an_sip(struct cc_an *a, const struct cc_pkt *pkt, uint64_t ts);

/* Called by cc_an_finish: puts each dialog's messages in time order. */
void cc_an_sip_finish(struct cc_an *a);

/*
 * tools/noplain.c, called by cc_an_packet: TLS and DTLS seen on a flow, plaintext copies, and the
 * frame's "no plaintext" note; a TCP segment of a TLS connection becomes CC_K_TLS in *kind.
 */
void cc_an_noplain_packet(struct cc_an *a, struct cc_flow *f, const struct cc_pkt *pkt, enum cc_kind *kind);

/* Where the "; "-separated part of frame comment c holding p begins (tools/noplain.c). */
const char *cc_an_part_start(const char *c, const char *p);

/* Called by cc_an_finish: sets each flow's noplain reason. */
void cc_an_noplain_finish(struct cc_an *a);

/* Called by cc_an_finish: sets every stream's encrypted field. */
void cc_an_mark_encrypted(struct cc_an *a);

/* A short phrase for the reason, "" for CC_ENC_NO. */
const char *cc_enc_reason(uint8_t e);

/* Derived numbers the printers share. */
uint32_t cc_stream_clock(const struct cc_stream *s);
double cc_stream_jitter_ms(const struct cc_stream *s);
double cc_stream_max_jitter_ms(const struct cc_stream *s);
const char *cc_pt_name(uint8_t pt);
const char *cc_stun_method_name(uint16_t m);
const char *cc_dtls_state(const struct cc_flow *f);
char cc_dtmf_char(uint8_t event);

#endif /* CC_ANALYZE_H */
