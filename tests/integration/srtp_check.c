/*
 * srtp_check CAPTURE SRTP_KEYLOG: decrypts every SRTP/SRTCP packet on clearcap's wire interface
 * with the keys in the SRTP key log, through libsrtp2 itself, and checks that each result is
 * byte-identical to a plaintext copy of the same flow and direction.  A test tool: it links
 * libsrtp2 and libpcap, which the shim never does.
 *
 * Prints "checked N: identical I, different D, undecryptable U, keyless K" and exits 0 only when
 * every packet was decrypted and found in the plaintext.
 */
#include <arpa/inet.h>
#include <pcap/pcap.h>
#include <srtp2/srtp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEYS 16
#define MAX_PLAIN 20000

struct key {
	char from[64], to[64];          /* the direction this key encrypts */
	unsigned char master[46];
	int len;
	srtp_t sess[2];                 /* one per copy (sent, received): each sees a packet once */
};

struct plain {
	char flow[170];
	int out;
	int len, used;
	unsigned char data[1500];
};

static struct key keys[MAX_KEYS];
static int nkeys;
static struct plain *plains;
static int nplains;

static int b64(const char *in, unsigned char *out)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	int n = 0, bits = 0;
	unsigned v = 0;

	for (; *in && *in != '='; in++) {
		const char *p = strchr(tab, *in);
		if (!p)
			return -1;
		v = v << 6 | (unsigned)(p - tab);
		if ((bits += 6) >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(v >> bits);
		}
	}
	return n;
}

static void load_keys(const char *path)
{
	char line[512], a[64], b[64], dir[16], suite[64], inl[128];
	FILE *f = fopen(path, "r");

	if (!f) {
		perror(path);
		exit(2);
	}
	while (fgets(line, sizeof(line), f) && nkeys < MAX_KEYS) {
		if (sscanf(line, "SRTP %63s %63s %15s %63s inline:%127s", a, b, dir, suite, inl) != 5)
			continue;
		struct key *k = &keys[nkeys];
		/* "outbound" keys encrypt a -> b; "inbound" ones b -> a. */
		int out = strcmp(dir, "outbound") == 0;
		snprintf(k->from, sizeof(k->from), "%s", out ? a : b);
		snprintf(k->to, sizeof(k->to), "%s", out ? b : a);
		k->len = b64(inl, k->master);
		int dup = 0;
		for (int i = 0; i < nkeys; i++)
			dup |= !strcmp(keys[i].from, k->from) && !strcmp(keys[i].to, k->to);
		if (k->len != 30 || dup)
			continue;
		for (int c = 0; c < 2; c++) {
			srtp_policy_t p;
			memset(&p, 0, sizeof(p));
			srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtp);
			srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p.rtcp);
			p.ssrc.type = ssrc_any_inbound;
			p.key = k->master;
			p.window_size = 1024;
			p.allow_repeat_tx = 1;
			if (srtp_create(&k->sess[c], &p) != srtp_err_status_ok) {
				fprintf(stderr, "srtp_create failed\n");
				exit(2);
			}
		}
		nkeys++;
	}
	fclose(f);
}

/* One frame's 5-tuple and UDP payload; 0 when it is UDP. */
static int parse(const u_char *d, unsigned len, int *ifindex, int *out, char *src, char *dst,
		 const u_char **pl, int *plen)
{
	char ip[INET6_ADDRSTRLEN], ip2[INET6_ADDRSTRLEN];
	unsigned proto, l4, off;

	if (len < 20 + 20)
		return -1;
	*ifindex = d[4] << 24 | d[5] << 16 | d[6] << 8 | d[7];
	*out = d[10] == 4;
	off = 20;
	if ((d[off] >> 4) == 4) {
		proto = d[off + 9];
		inet_ntop(AF_INET, d + off + 12, ip, sizeof(ip));
		inet_ntop(AF_INET, d + off + 16, ip2, sizeof(ip2));
		l4 = off + (d[off] & 15) * 4;
	} else {
		static const u_char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		proto = d[off + 6];
		/* clearcap writes plaintext of IPv4 flows IPv4-mapped: the same addresses. */
		if (!memcmp(d + off + 8, mapped, 12) && !memcmp(d + off + 24, mapped, 12)) {
			inet_ntop(AF_INET, d + off + 20, ip, sizeof(ip));
			inet_ntop(AF_INET, d + off + 36, ip2, sizeof(ip2));
		} else {
			inet_ntop(AF_INET6, d + off + 8, ip, sizeof(ip));
			inet_ntop(AF_INET6, d + off + 24, ip2, sizeof(ip2));
		}
		l4 = off + 40;
	}
	if (proto != 17 || len < l4 + 8)
		return -1;
	sprintf(src, "%s:%u", ip, d[l4] << 8 | d[l4 + 1]);
	sprintf(dst, "%s:%u", ip2, d[l4 + 2] << 8 | d[l4 + 3]);
	*pl = d + l4 + 8;
	*plen = (int)(len - l4 - 8);
	return 0;
}

int main(int argc, char **argv)
{
	char err[PCAP_ERRBUF_SIZE], src[80], dst[80];
	struct pcap_pkthdr *h;
	const u_char *d, *pl;
	int ifindex, out, plen, checked = 0, same = 0, differ = 0, undec = 0, keyless = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: srtp_check CAPTURE SRTP_KEYLOG\n");
		return 2;
	}
	srtp_init();
	load_keys(argv[2]);
	plains = calloc(MAX_PLAIN, sizeof(*plains));
	/* Pass 1: the plaintext copies. */
	pcap_t *p = pcap_open_offline(argv[1], err);
	if (!p) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	while (pcap_next_ex(p, &h, &d) == 1 && nplains < MAX_PLAIN) {
		if (parse(d, h->caplen, &ifindex, &out, src, dst, &pl, &plen) < 0 || ifindex != 2 || plen > 1500)
			continue;
		struct plain *q = &plains[nplains++];
		snprintf(q->flow, sizeof(q->flow), "%s>%s", src, dst);
		q->out = out;
		q->len = plen;
		memcpy(q->data, pl, (size_t)plen);
	}
	pcap_close(p);
	/* Pass 2: decrypt each wire SRTP/SRTCP packet and look for its plaintext. */
	p = pcap_open_offline(argv[1], err);
	while (pcap_next_ex(p, &h, &d) == 1) {
		unsigned char buf[1600];
		char flow[170];
		if (parse(d, h->caplen, &ifindex, &out, src, dst, &pl, &plen) < 0 || ifindex != 1 || plen < 12 ||
		    plen > 1500 || pl[0] < 128 || pl[0] > 191)
			continue;
		checked++;
		struct key *k = NULL;
		for (int i = 0; i < nkeys; i++)
			if (!strcmp(keys[i].from, src) && !strcmp(keys[i].to, dst))
				k = &keys[i];
		if (!k) {
			keyless++;
			continue;
		}
		memcpy(buf, pl, (size_t)plen);
		int n = plen, rtcp = (pl[1] & 0x7f) >= 64 && (pl[1] & 0x7f) <= 95;   /* RFC 5761 section 4 */
		srtp_err_status_t st = rtcp ? srtp_unprotect_rtcp(k->sess[out], buf, &n) : srtp_unprotect(k->sess[out], buf, &n);
		if (st != srtp_err_status_ok) {
			undec++;
			continue;
		}
		snprintf(flow, sizeof(flow), "%s>%s", src, dst);
		int found = 0;
		for (int i = 0; i < nplains && !found; i++) {
			struct plain *q = &plains[i];
			if (!q->used && q->out == out && q->len == n && !strcmp(q->flow, flow) && !memcmp(q->data, buf, (size_t)n))
				found = q->used = 1;
		}
		found ? same++ : differ++;
	}
	pcap_close(p);
	printf("checked %d: identical %d, different %d, undecryptable %d, keyless %d\n", checked, same, differ, undec,
	       keyless);
	return checked > 0 && same == checked ? 0 : 1;
}
