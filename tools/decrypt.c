/*
 * decrypt.c - `clearcap decrypt IN -o OUT [--keylog FILE] [--srtp-keylog FILE]`: a capture,
 * clearcap's or tcpdump's, made readable from keys.
 *
 * OUT is a clearcap pcapng: a section comment saying what was and was not decrypted, the TLS and
 * DTLS secrets (--keylog and the Decryption Secrets Blocks of IN) in one Decryption Secrets Block
 * ahead of every packet, so Wireshark decrypts the (D)TLS alone; then every packet of IN on its
 * interface (`wire`, or the one clearcap gave it), re-framed under an SLL2 header when IN has
 * another link type (the network-layer bytes stay as captured); and right after each SRTP or
 * SRTCP packet that a key authenticates, its plaintext RTP or RTCP on `plaintext` (ifindex 2),
 * framed as the shim frames its own plaintext copies.
 *
 * The keys: DTLS-SRTP keys derived from the handshakes on the wire and the key log's master
 * secrets (dtlssrtp.c), the lines of clearcap's SRTP key log (srtpkeyfile.c), and SDES keys in
 * SDP sent in the clear (sdpkeys.c).  Which key
 * decrypts which packets the authentication tag decides (srtpdec.c), so media that ICE moved to
 * another candidate pair, or that travels in TURN ChannelData or Send/Data indications, is
 * decrypted too.  No key byte is ever printed or put in a comment.
 *
 * The body is written to an unlinked temporary file first: the section comment at the top of OUT
 * can only be written once the whole input has been read.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "decoders/demux.h"
#include "decoders/rtcp.h"
#include "decoders/stun.h"
#include "pcapout/format.h"
#include "pcapout/frame.h"
#include "tools/capread.h"
#include "tools/decrypt.h"
#include "tools/dtlssrtp.h"
#include "tools/index.h"
#include "tools/keylog.h"
#include "tools/pktparse.h"
#include "tools/plainseen.h"
#include "tools/sdpkeys.h"
#include "tools/srtpdec.h"
#include "tools/srtpkeyfile.h"
#include "tools/usage.h"

#define DLT_LINUX_SLL2_ 276
#define MAX_FILES 16
#define COMMENT_MAX 60000
#define NOTE "decrypted by clearcap decrypt from keys"

/* What happened to the SRTP/SRTCP of one direction of a flow. */
struct flow {
	struct cc_endpoint src, dst;
	uint64_t srtp, srtcp, ok, nokey, auth, replay, bad;
	uint64_t clear;		/* RTCP no key decrypts that is well-formed in the clear */
	int key;		/* the first key that decrypted something, or -1 */
};

struct dec {
	FILE *body;
	const char *out_path;
	int out_fd;
	int wrote_ok;
	struct cc_keylog kl;
	struct cc_srtpdec *sd;
	struct cc_dtlstrack dt;
	struct flow *flows;
	size_t nflows, capflows;
	struct cc_index flow_ix;
	uint64_t packets, reframed_raw, plaintext, turn, too_long, already, sdp_keys;
	struct cc_seen seen;	/* plaintext IN already holds (clearcap's own copies) */
	uint8_t *rec;		/* one record */
	uint8_t plain[65536 + 64];
	char *report;		/* the report's lines, for stderr and the section comment */
	size_t rlen, rcap;
	int err;
	int append;		/* the wrapper's pass: only the new plaintext, appended to IN itself */
	uint64_t total, ok;	/* SRTP and SRTCP packets seen, and decrypted */
};

static void usage(FILE *f)
{
	fputs("Usage: clearcap decrypt IN -o OUT [--keylog FILE]... [--srtp-keylog FILE]...\n"
	      "\n"
	      "Write OUT, a pcapng with every packet of IN (any pcap or pcapng: clearcap's, tcpdump's),\n"
	      "the TLS/DTLS secrets as a Decryption Secrets Block ahead of them (Wireshark and tshark\n"
	      "then decrypt TLS and DTLS with no setting), and after each SRTP/SRTCP packet that a key\n"
	      "decrypts, its plaintext RTP/RTCP on the 'plaintext' interface (ifindex 2).\n"
	      "\n"
	      "  -o, --output OUT    The file to write (replaced if it exists).\n"
	      "  -k, --keylog FILE   NSS key log (clearcap -k, SSLKEYLOGFILE, Pion's KeyLogWriter).\n"
	      "                      Its CLIENT_RANDOM lines and the DTLS handshakes in IN give the\n"
	      "                      DTLS-SRTP keys (RFC 5764).  IN's own secrets blocks are used too.\n"
	      "  -s, --srtp-keylog FILE\n"
	      "                      clearcap's SRTP key log (clearcap --srtp-keylog): SDES and\n"
	      "                      DTLS-SRTP master keys.  SDES keys in SDP a=crypto lines the\n"
	      "                      capture carries in the clear (SIP) are used without it.\n"
	      "  -h, --help          Print this help.\n"
	      "\n"
	      "A key applies to whatever packets it authenticates, tried first on the flow it names, so\n"
	      "media moved to another ICE candidate pair or relayed through TURN (ChannelData, Send and\n"
	      "Data indications) is decrypted too.  What could not be decrypted, and why, is printed on\n"
	      "stderr and put in OUT's section comment.  Keys are never printed.\n"
	      "Exit status: 0 when OUT was written, 2 on a usage or file error.\n", f);
}

__attribute__((format(printf, 2, 3)))
static void say(struct dec *d, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	if (!d->append)
		fprintf(stderr, "clearcap decrypt: %s\n", line);
	if (d->rlen + (size_t)n + 2 > d->rcap) {
		size_t cap = d->rcap ? 2 * d->rcap : 4096;
		while (cap < d->rlen + (size_t)n + 2)
			cap *= 2;
		char *r = realloc(d->report, cap);
		if (!r)
			return;
		d->report = r;
		d->rcap = cap;
	}
	memcpy(d->report + d->rlen, line, (size_t)n);
	d->rlen += (size_t)n;
	d->report[d->rlen++] = '\n';
}

static void put_record(struct dec *d, uint64_t ts, unsigned iface, int outgoing, size_t caplen, size_t origlen,
		       const char *comment)
{
	size_t clen = comment ? strlen(comment) : 0;
	size_t total = cc_record_len(CC_FMT_PCAPNG, caplen, clen);

	cc_record_finish(CC_FMT_PCAPNG, d->rec, ts, iface, outgoing, caplen, origlen, comment, clen);
	if (fwrite(d->rec, 1, total, d->body) != total)
		d->err = 1;
}

/* A packet of IN as it goes to OUT: as it is when IN is SLL2 (clearcap's), else re-framed. */
static void write_wire(struct dec *d, int dlt, const struct pcap_pkthdr *h, const uint8_t *data, uint64_t ts)
{
	uint8_t *frame = d->rec + cc_record_frame_off(CC_FMT_PCAPNG);
	uint16_t etype = 0;
	size_t off = 0;
	uint8_t dir = CC_DIR_UNKNOWN;

	if (dlt == DLT_LINUX_SLL2_ && h->caplen >= CC_SLL2_LEN) {
		/* SLL2 kept as it is, packet type at offset 10; another capture's frames go on wire. */
		unsigned iface = cc_clearcap_iface(dlt, data, h->caplen);
		int out = data[10] == 4;
		memcpy(frame, data, h->caplen);
		if (!iface) {
			iface = CC_IF_WIRE;
			frame[4] = frame[5] = frame[6] = 0;
			frame[7] = CC_IF_WIRE;
		}
		put_record(d, ts, iface, out, h->caplen, h->len, NULL);
		return;
	}
	if (cc_pkt_network(dlt, data, h->caplen, &etype, &off, &dir) < 0) {
		/* Not IP on a link without a type field: kept whole, under protocol 0. */
		etype = 0;
		off = 0;
		d->reframed_raw++;
	}
	int out = dir == CC_DIR_OUT ? 1 : dir == CC_DIR_IN ? 0 : -1;
	cc_sll2_put(frame, etype, CC_IF_WIRE, out == 1, 0);
	memcpy(frame + CC_SLL2_LEN, data + off, h->caplen - off);
	put_record(d, ts, CC_IF_WIRE, out, CC_SLL2_LEN + h->caplen - off, CC_SLL2_LEN + (h->len - off), NULL);
}

struct flow_key {
	const struct dec *d;
	const struct cc_endpoint *src, *dst;
};

static int flow_eq(const void *ctx, size_t i)
{
	const struct flow_key *k = ctx;

	return !cc_endpoint_cmp(&k->d->flows[i].src, k->src) && !cc_endpoint_cmp(&k->d->flows[i].dst, k->dst);
}

static struct flow *flow(struct dec *d, const struct cc_endpoint *src, const struct cc_endpoint *dst)
{
	struct flow_key k = { d, src, dst };
	uint64_t h = cc_hash_ep(cc_hash_ep(0, src), dst);
	long i = cc_index_find(&d->flow_ix, h, flow_eq, &k);

	if (i >= 0)
		return &d->flows[i];
	if (d->nflows == d->capflows) {
		size_t cap = d->capflows ? 2 * d->capflows : 32;
		struct flow *f = realloc(d->flows, cap * sizeof(*f));
		if (!f)
			return NULL;
		d->flows = f;
		d->capflows = cap;
	}
	if (cc_index_add(&d->flow_ix, h, d->nflows) < 0)
		return NULL;
	struct flow *f = &d->flows[d->nflows++];
	memset(f, 0, sizeof(*f));
	f->src = *src;
	f->dst = *dst;
	f->key = -1;
	return f;
}

static void to_addr(const struct cc_endpoint *e, struct cc_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->port = e->port;
	if (e->family == 6) {
		a->family = AF_INET6;
		memcpy(a->ip, e->ip, 16);
	} else {
		/*
		 * IPv4-mapped (::ffff:a.b.c.d, RFC 4291 section 2.5.5.2), as the shim writes plaintext
		 * RTP: Wireshark keys conversations on addresses and ports only, and the same IPv4
		 * 5-tuple would make it dissect the plaintext as the SRTP the wire copy is.
		 */
		a->family = AF_INET6;
		a->ip[10] = a->ip[11] = 0xff;
		memcpy(a->ip + 12, e->ip, 4);
	}
}

static void write_plain(struct dec *d, uint64_t ts, const struct cc_pkt *pkt, const uint8_t *p, size_t len,
			int key, const char *via)
{
	uint8_t *frame = d->rec + cc_record_frame_off(CC_FMT_PCAPNG);
	const struct cc_srtp_key *k = cc_srtpdec_key(d->sd, (size_t)key);
	struct iovec iov = { (void *)p, len };
	struct cc_frame f;
	char comment[400];

	memset(&f, 0, sizeof(f));
	to_addr(&pkt->src, &f.src);
	to_addr(&pkt->dst, &f.dst);
	f.proto = IPPROTO_UDP;
	f.iface = CC_IF_PLAINTEXT;
	f.outgoing = pkt->dir == CC_DIR_OUT;
	f.ttl = 64;
	f.pid = pkt->pid;
	size_t n = cc_frame_build(frame, &f, &iov, 1, 0, len, len);
	snprintf(comment, sizeof(comment), NOTE " (%s)%s%s", k ? k->origin : "?", via ? "; " : "", via ? via : "");
	put_record(d, ts, CC_IF_PLAINTEXT, pkt->dir == CC_DIR_OUT ? 1 : pkt->dir == CC_DIR_IN ? 0 : -1, n, n, comment);
	d->plaintext++;
}

/* A DTLS datagram: follow the handshakes, and derive the SRTP keys at each new ServerHello. */
static void dtls(struct dec *d, const struct cc_pkt *pkt, const uint8_t *p, size_t len)
{
	struct cc_dtls_hs *hs = cc_dtlstrack_datagram(&d->dt, &pkt->src, &pkt->dst, p, len);
	struct cc_srtp_key ck, sk;
	const uint8_t *ms;

	if (!hs)
		return;
	hs->done = 1;
	if (!hs->use_srtp) {
		snprintf(hs->why, sizeof(hs->why), "no use_srtp extension in the ServerHello: no SRTP keys");
		return;
	}
	if (!hs->have_ch) {
		snprintf(hs->why, sizeof(hs->why), "no SRTP keys: its ClientHello is not in the capture");
		return;
	}
	if (!(ms = cc_keylog_master(&d->kl, hs->client_random))) {
		snprintf(hs->why, sizeof(hs->why), "no SRTP keys: no CLIENT_RANDOM line for it in the key logs");
		return;
	}
	if (cc_dtls_srtp_keys(hs, ms, &ck, &sk) == 0) {
		if (cc_srtpdec_add_key(d->sd, &ck) < 0 || cc_srtpdec_add_key(d->sd, &sk) < 0)
			d->err = 1;
	}
	memset(&ck, 0, sizeof(ck));
	memset(&sk, 0, sizeof(sk));
}

static void srtp(struct dec *d, uint64_t ts, const struct cc_pkt *pkt, const uint8_t *p, size_t len, int rtcp,
		 const char *via)
{
	struct flow *f = flow(d, &pkt->src, &pkt->dst);
	size_t outlen = 0;
	int key = -1;

	if (!f) {
		d->err = 1;
		return;
	}
	if (rtcp)
		f->srtcp++;
	else
		f->srtp++;
	int st = cc_srtpdec_packet(d->sd, &pkt->src, &pkt->dst, pkt->dir, rtcp, p, len, d->plain, &outlen, &key);
	/*
	 * Some stacks send RTCP unencrypted before DTLS completes or after it closed (baresip's
	 * "PINGPONG" APP packets, its BYE): a compound packet whose lengths fill the datagram exactly
	 * is RTCP in the clear, since SRTCP has its index and tag after them (RFC 3711 section 3.4).
	 */
	if (st != CC_SRTPDEC_OK && rtcp && cc_rtcp_validate(p, len, 1) == 0) {
		f->srtcp--;
		f->clear++;
		return;
	}
	switch (st) {
	case CC_SRTPDEC_OK:
		f->ok++;
		if (f->key < 0)
			f->key = key;
		if (d->seen.n && cc_seen_has(&d->seen, cc_seen_hash(d->plain, outlen, pkt->dir)))
			d->already++;
		else
			write_plain(d, ts, pkt, d->plain, outlen, key, via);
		break;
	case CC_SRTPDEC_NOKEY: f->nokey++; break;
	case CC_SRTPDEC_AUTH: f->auth++; break;
	case CC_SRTPDEC_REPLAY: f->replay++; break;
	default: f->bad++; break;
	}
}

/* SDES keys in signalling sent in the clear (SIP's SDP): added like key log lines. */
static void sdp(struct dec *d, const struct cc_pkt *pkt, const uint8_t *p, size_t len)
{
	struct cc_srtp_key keys[8];
	char a[64];
	size_t n;

	if (!memmem(p, len, "a=crypto:", 9) || !(n = cc_sdp_crypto_keys(p, len, keys, 8)))
		return;
	cc_endpoint_str(&pkt->src, a, sizeof(a));
	for (size_t i = 0; i < n; i++) {
		size_t before = cc_srtpdec_nkeys(d->sd);
		snprintf(keys[i].origin, sizeof(keys[i].origin), "SDES a=crypto in SDP sent by %s", a);
		if (cc_srtpdec_add_key(d->sd, &keys[i]) < 0)
			d->err = 1;
		else if (cc_srtpdec_nkeys(d->sd) > before)
			d->sdp_keys++;	/* a retransmitted SDP or the other end's copy adds nothing */
	}
	memset(keys, 0, sizeof(keys));
}

/* One UDP payload (maybe unwrapped from TURN); via says how it travelled, for the comment. */
static void payload(struct dec *d, uint64_t ts, const struct cc_pkt *pkt, const uint8_t *p, size_t len,
		    const char *via)
{
	switch (cc_demux_udp(p, len, pkt->src.port, pkt->dst.port)) {
	case CC_CLASS_DTLS:
		dtls(d, pkt, p, len);
		break;
	case CC_CLASS_RTP:
		srtp(d, ts, pkt, p, len, 0, via);
		break;
	case CC_CLASS_RTCP:
		srtp(d, ts, pkt, p, len, 1, via);
		break;
	case CC_CLASS_TURN_CHANNEL: {
		struct cc_turn_channel ch;
		char v[64];
		/* "INVITE" and "ACK" start in the ChannelData range too (RFC 7983 section 7). */
		if (via || cc_turn_channel_data(p, len, &ch) != 0) {
			sdp(d, pkt, p, len);
			break;
		}
		snprintf(v, sizeof(v), "inside TURN ChannelData 0x%04x", ch.channel);
		d->turn++;
		payload(d, ts, pkt, ch.data.p, ch.data.len, v);
		break;
	}
	case CC_CLASS_STUN: {
		struct cc_turn_ind ind;
		if (via || cc_turn_indication(p, len, &ind) != 0 || !ind.data.len)
			break;
		d->turn++;
		payload(d, ts, pkt, ind.data.p, ind.data.len,
			ind.method == CC_STUN_SEND ? "inside a TURN Send indication" : "inside a TURN Data indication");
		break;
	}
	default:
		/* SIP is text: "SIP/2.0" falls in QUIC's range (RFC 9443), others in "other". */
		sdp(d, pkt, p, len);
		break;
	}
}

/* Appends to buf[size] at *n, cut at the end rather than overrun. */
__attribute__((format(printf, 4, 5)))
static void append(char *buf, size_t size, size_t *n, const char *fmt, ...)
{
	va_list ap;

	if (*n >= size - 1)
		return;
	va_start(ap, fmt);
	int r = vsnprintf(buf + *n, size - *n, fmt, ap);
	va_end(ap);
	if (r > 0)
		*n = *n + (size_t)r < size ? *n + (size_t)r : size - 1;
}

static void report(struct dec *d, uint64_t srtp_total, uint64_t srtp_ok)
{
	/* Past this many, the flows and handshakes that went well are counted, not listed. */
	const size_t list_max = 32;
	size_t quiet_hs = 0, quiet_flows = 0, listed = 0, more = 0;
	uint64_t more_nokey = 0, more_fail = 0;
	char a[64], b[64];

	for (size_t i = 0; i < d->dt.n; i++) {
		struct cc_dtls_hs *hs = &d->dt.hs[i];
		cc_endpoint_str(&hs->client, a, sizeof(a));
		cc_endpoint_str(&hs->server, b, sizeof(b));
		if (d->dt.n > list_max && hs->have_sh && !strncmp(hs->why, "SRTP keys derived", 17))
			quiet_hs++;
		else if (!hs->have_sh)
			say(d, "DTLS handshake client %s server %s: no ServerHello in the capture", a, b);
		else
			say(d, "DTLS handshake client %s server %s: %s", a, b, hs->why);
	}
	for (size_t i = 0; i < d->nflows; i++) {
		struct flow *f = &d->flows[i];
		char why[256] = "";
		size_t n = 0;

		if (d->nflows > list_max && f->ok == f->srtp + f->srtcp) {
			quiet_flows++;
			continue;
		}
		if (listed >= list_max) {
			more++;
			more_nokey += f->nokey;
			more_fail += f->auth + f->replay + f->bad;
			continue;
		}
		listed++;
		cc_endpoint_str(&f->src, a, sizeof(a));
		cc_endpoint_str(&f->dst, b, sizeof(b));
		if (f->nokey) {
			int dtls_here = 0;
			for (size_t j = 0; j < d->dt.n; j++) {
				struct cc_dtls_hs *hs = &d->dt.hs[j];
				if ((!cc_endpoint_cmp(&hs->client, &f->src) && !cc_endpoint_cmp(&hs->server, &f->dst)) ||
				    (!cc_endpoint_cmp(&hs->client, &f->dst) && !cc_endpoint_cmp(&hs->server, &f->src)))
					dtls_here = 1;
			}
			append(why, sizeof(why), &n, ", %llu no key%s", (unsigned long long)f->nokey,
			       cc_srtpdec_nkeys(d->sd) == 0 ? " (no keys given)"
			       : dtls_here ? " (none of the keys authenticates them)"
			       : " (none of the keys authenticates them: RTP not encrypted, or its key missing)");
		}
		if (f->auth)
			append(why, sizeof(why), &n, ", %llu auth failures", (unsigned long long)f->auth);
		if (f->replay)
			append(why, sizeof(why), &n, ", %llu replayed (duplicates)", (unsigned long long)f->replay);
		if (f->clear)
			append(why, sizeof(why), &n, "; and %llu RTCP in the clear (not encrypted)",
			       (unsigned long long)f->clear);
		if (f->bad)
			append(why, sizeof(why), &n, ", %llu malformed", (unsigned long long)f->bad);
		const struct cc_srtp_key *k = f->key >= 0 ? cc_srtpdec_key(d->sd, (size_t)f->key) : NULL;
		say(d, "udp %s > %s: %llu SRTP + %llu SRTCP, %llu decrypted%s%s%s%s", a, b, (unsigned long long)f->srtp,
		    (unsigned long long)f->srtcp, (unsigned long long)f->ok, why, k ? " (key: " : "", k ? k->origin : "",
		    k ? ")" : "");
	}
	if (d->sdp_keys)
		say(d, "%llu SDES keys from a=crypto lines in SDP in the capture", (unsigned long long)d->sdp_keys);
	if (quiet_hs)
		say(d, "%zu more DTLS handshakes: SRTP keys derived", quiet_hs);
	if (more)
		say(d, "%zu more flow directions not all decrypted: %llu packets with no key, %llu failed (auth, "
		    "replay, malformed)", more, (unsigned long long)more_nokey, (unsigned long long)more_fail);
	if (quiet_flows)
		say(d, "%zu more flow directions: every SRTP/SRTCP packet decrypted", quiet_flows);
	say(d, "%llu packets, %llu of %llu SRTP/SRTCP decrypted, %zu DTLS handshakes, %zu SRTP keys, %zu secrets "
	    "lines embedded, file %s", (unsigned long long)d->packets, (unsigned long long)srtp_ok,
	    (unsigned long long)srtp_total, d->dt.n, cc_srtpdec_nkeys(d->sd), d->kl.lines, d->out_path);
	if (d->too_long)
		say(d, "%llu packets longer than %d bytes were left out", (unsigned long long)d->too_long, CC_SNAPLEN);
	if (d->already)
		say(d, "%llu decrypted packets were not written: IN holds their plaintext already (clearcap's copies)",
		    (unsigned long long)d->already);
	if (d->reframed_raw)
		say(d, "%llu packets were not IP and were kept whole under SLL2 protocol 0",
		    (unsigned long long)d->reframed_raw);
}

/*
 * OUT is created before IN is read, so that a path that cannot be written is said at once, and
 * refused when it names IN itself (replacing it would destroy the input).
 */
static int open_out(struct dec *d, const char *in)
{
	struct stat si, so;

	if (stat(in, &si) == 0 && stat(d->out_path, &so) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino) {
		fprintf(stderr, "clearcap decrypt: -o %s: is the input file\n", d->out_path);
		return -1;
	}
	/* Replaced as tcpdump -w replaces: the link itself, never a symlink's target. */
	if (unlink(d->out_path) < 0 && errno != ENOENT) {
		fprintf(stderr, "clearcap decrypt: -o %s: %s\n", d->out_path, strerror(errno));
		return -1;
	}
	d->out_fd = open(d->out_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (d->out_fd < 0) {
		fprintf(stderr, "clearcap decrypt: -o %s: %s\n", d->out_path, strerror(errno));
		return -1;
	}
	return 0;
}

/* OUT: header with the report as section comment, the secrets, then the body. */
static int write_out(struct dec *d)
{
	size_t clen = d->rlen < COMMENT_MAX ? d->rlen : COMMENT_MAX;
	uint8_t *hdr = malloc(CC_HEADER_MAX + clen + 8);
	char buf[65536];
	int ok = 0;
	FILE *out = fdopen(d->out_fd, "wb");

	while (clen && d->report[clen - 1] == '\n')
		clen--;
	if (!hdr || !out) {
		fprintf(stderr, "clearcap decrypt: -o %s: %s\n", d->out_path, strerror(errno));
		free(hdr);
		return -1;
	}
	d->out_fd = -1;
	size_t hl = cc_format_header_comment(CC_FMT_PCAPNG, hdr, d->report, clen);
	ok = fwrite(hdr, 1, hl, out) == hl;
	if (ok && d->kl.len) {
		uint8_t *dsb = malloc(cc_dsb_len(d->kl.len));
		ok = dsb != NULL;
		if (ok) {
			cc_dsb_write(dsb, d->kl.text, d->kl.len);
			ok = fwrite(dsb, 1, cc_dsb_len(d->kl.len), out) == cc_dsb_len(d->kl.len);
			memset(dsb, 0, cc_dsb_len(d->kl.len));
			free(dsb);
		}
	}
	rewind(d->body);
	size_t n;
	while (ok && (n = fread(buf, 1, sizeof(buf), d->body)) > 0)
		ok = fwrite(buf, 1, n, out) == n;
	if (fclose(out) != 0 || !ok) {
		fprintf(stderr, "clearcap decrypt: -o %s: write error\n", d->out_path);
		ok = 0;
	}
	free(hdr);
	return ok ? 0 : -1;
}

/*
 * The wrapper's pass: the plaintext records decrypted (d->body) appended to the capture itself,
 * under its lock as every writer of a clearcap file appends (pcapng: the interfaces are the
 * capture's own, plaintext being the second).
 */
static int append_plain(struct dec *d, const char *path)
{
	char buf[65536];
	size_t n;
	int ok = 1;

	if (!d->plaintext)
		return 0;
	int fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (flock(fd, LOCK_EX) < 0 && errno == EINTR)
		;
	rewind(d->body);
	while (ok && (n = fread(buf, 1, sizeof(buf), d->body)) > 0)
		ok = write(fd, buf, n) == (ssize_t)n;
	flock(fd, LOCK_UN);
	if (close(fd) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

/*
 * Decrypts IN into d->out_path, or (d->append) appends to IN itself only the plaintext it
 * decrypted; returns 0, or 2 on a file error.
 */
static int run(struct dec *d_, const char *in, const char **keylogs, size_t nkl, const char **srtplogs, size_t nsl)
{
	struct dec d = *d_;
	struct cc_capread r;
	const struct pcap_pkthdr *h;
	const uint8_t *data;
	uint64_t ts, total = 0, ok = 0;
	char err[512];
	int rc, status = 2;

	if (cc_keylog_from_pcapng(&d.kl, in, err, sizeof(err)) < 0) {
		fprintf(stderr, "clearcap decrypt: %s\n", err);
		return 2;
	}
	if (!d.append && open_out(&d, in) < 0) {
		cc_keylog_free(&d.kl);
		return 2;
	}
	for (size_t i = 0; i < nkl; i++)
		if (cc_keylog_load(&d.kl, keylogs[i], err, sizeof(err)) < 0) {
			fprintf(stderr, "clearcap decrypt: --keylog %s\n", err);
			goto done;
		}
	if (!(d.sd = cc_srtpdec_new(err, sizeof(err)))) {
		fprintf(stderr, "clearcap decrypt: %s\n", err);
		goto done;
	}
	for (size_t i = 0; i < nsl; i++) {
		size_t skipped;
		if (cc_srtpkeyfile_load(d.sd, srtplogs[i], &skipped, err, sizeof(err)) < 0) {
			fprintf(stderr, "clearcap decrypt: --srtp-keylog %s\n", err);
			goto done;
		}
		if (skipped)
			say(&d, "--srtp-keylog %s: %zu lines are not SRTP key lines (ignored)", srtplogs[i], skipped);
	}
	if (cc_seen_scan(&d.seen, in, err, sizeof(err)) < 0) {
		fprintf(stderr, "clearcap decrypt: %s\n", err);
		goto done;
	}
	if (cc_capread_open(&r, in, 0) < 0) {
		fprintf(stderr, "clearcap decrypt: %s\n", r.err);
		goto done;
	}
	if (!cc_pkt_link_supported(r.dlt)) {
		fprintf(stderr, "clearcap decrypt: %s: link type %d is not supported\n", in, r.dlt);
		cc_capread_close(&r);
		goto done;
	}
	d.rec = malloc(cc_record_len(CC_FMT_PCAPNG, CC_SNAPLEN + 2 * CC_SLL2_LEN + 128, 512));
	d.body = tmpfile();
	if (!d.rec || !d.body) {
		fprintf(stderr, "clearcap decrypt: temporary file: %s\n", strerror(errno));
		cc_capread_close(&r);
		goto done;
	}
	while ((rc = cc_capread_next(&r, &h, &data, &ts)) == 1 && !d.err) {
		struct cc_pkt pkt;
		int parsed = cc_pkt_parse(r.dlt, data, h->caplen, &pkt);

		d.packets++;
		if (h->caplen > CC_SNAPLEN) {
			d.too_long++;
			continue;
		}
		if (!d.append)
			write_wire(&d, r.dlt, h, data, ts);
		/* clearcap's plaintext copies (ifindex 2) are in the clear already. */
		if (parsed == 0 && pkt.proto == IPPROTO_UDP && pkt.payload_len &&
		    cc_clearcap_iface(r.dlt, data, h->caplen) != CC_IF_PLAINTEXT &&
		    pkt.payload_len == (size_t)(pkt.l4_len - 8))
			payload(&d, ts, &pkt, pkt.payload, pkt.payload_len, NULL);
		else if (parsed == 0 && pkt.proto == IPPROTO_TCP && pkt.payload_len)
			sdp(&d, &pkt, pkt.payload, pkt.payload_len);
	}
	if (rc < 0)
		say(&d, "%s: stopped at a damaged record: %s", in, r.err);
	cc_capread_close(&r);
	if (d.err) {
		fprintf(stderr, "clearcap decrypt: temporary file: write error or out of memory\n");
		goto done;
	}
	for (size_t i = 0; i < d.nflows; i++) {
		total += d.flows[i].srtp + d.flows[i].srtcp;
		ok += d.flows[i].ok;
	}
	report(&d, total, ok);
	d_->total = total;
	d_->ok = ok;
	d_->already = d.already;
	if (d.append) {
		status = append_plain(&d, in) == 0 ? 0 : 2;
		goto done;
	}
	status = write_out(&d) == 0 ? 0 : 2;
	d.wrote_ok = status == 0;
done:
	if (d.out_fd >= 0) {
		/* Nothing was written: no empty file is left behind. */
		close(d.out_fd);
		unlink(d.out_path);
	}
	if (status != 0 && d.out_fd < 0 && d.out_path && !d.wrote_ok)
		unlink(d.out_path);
	if (d.body)
		fclose(d.body);
	free(d.rec);
	free(d.flows);
	free(d.report);
	free(d.seen.h);
	cc_index_free(&d.flow_ix);
	cc_srtpdec_free(d.sd);
	cc_dtlstrack_free(&d.dt);
	if (d.kl.text)
		memset(d.kl.text, 0, d.kl.len);
	cc_keylog_free(&d.kl);
	return status;
}

int cc_decrypt_append(const char *path, const char *keylog, const char *srtp_keylog, uint64_t *decrypted,
		      uint64_t *total, char *why, size_t why_size)
{
	struct dec d;
	const char *kl[1] = { keylog }, *sl[1] = { srtp_keylog };

	memset(&d, 0, sizeof(d));
	d.out_fd = -1;
	d.append = 1;
	int rc = run(&d, path, kl, keylog ? 1 : 0, sl, srtp_keylog ? 1 : 0);
	/* Appended: what was decrypted less what the file held in the clear already (the shim's copies). */
	*decrypted = d.ok - d.already;
	*total = d.total;
	if (why_size)
		snprintf(why, why_size, "%s", rc ? "cannot read or append to the capture" : "");
	return rc;
}

int cc_cmd_decrypt(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "keylog", required_argument, NULL, 'k' },
		{ "srtp-keylog", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *keylogs[MAX_FILES], *srtplogs[MAX_FILES];
	size_t nkl = 0, nsl = 0;
	struct dec d;
	int c;

	memset(&d, 0, sizeof(d));
	d.out_fd = -1;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:k:s:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': d.out_path = optarg; break;
		case 'k':
		case 's':
			if ((c == 'k' ? nkl : nsl) >= MAX_FILES) {
				fprintf(stderr, "clearcap decrypt: at most %d --%s files\n", MAX_FILES,
					c == 'k' ? "keylog" : "srtp-keylog");
				return 2;
			}
			if (c == 'k')
				keylogs[nkl++] = optarg;
			else
				srtplogs[nsl++] = optarg;
			break;
		case 'h': usage(stdout); return 0;
		default: return cc_usage_bad_option("decrypt", c, argv, longopts);
		}
	}
	if (optind >= argc)
		return cc_usage_error("decrypt", "no input file given");
	if (optind < argc - 1)
		return cc_usage_error("decrypt", "one input file only: '%s' is one too many", argv[optind + 1]);
	if (!d.out_path)
		return cc_usage_error("decrypt", "-o OUT is needed");
	const char *in = argv[optind];
	return run(&d, in, keylogs, nkl, srtplogs, nsl);
}
