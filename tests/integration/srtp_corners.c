/*
 * libsrtp2 calls in corners the SRTP hooks must get right (test_srtp.test_srtp_corners):
 *   addstream          srtp_add_stream with a policy whose `next` is garbage (libsrtp never reads it)
 *   big PORT           RTP of 100, 9000 and 100 payload bytes protected, sent to PORT on loopback,
 *                      received and unprotected (outbound plaintext past the shim's stack copy)
 *   mki PORT           the same with two master keys, each packet protected with the second (MKI 2)
 * Prints libsrtp's results; nothing printed depends on ports or time.
 */
#include <srtp2/srtp.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static unsigned char key0[30], key1[30];

static void pol(srtp_policy_t *p, srtp_ssrc_type_t type, unsigned ssrc, unsigned char *k)
{
	memset(p, 0, sizeof *p);
	srtp_crypto_policy_set_rtp_default(&p->rtp);
	srtp_crypto_policy_set_rtcp_default(&p->rtcp);
	p->ssrc.type = type;
	p->ssrc.value = ssrc;
	p->key = k;
	p->window_size = 128;
}

static int mkpkt(unsigned char *b, unsigned ssrc, int seq, int plen)
{
	memset(b, 0, 12 + (size_t)plen);
	b[0] = 0x80;
	b[2] = (unsigned char)(seq >> 8);
	b[3] = (unsigned char)seq;
	b[8] = (unsigned char)(ssrc >> 24);
	b[9] = (unsigned char)(ssrc >> 16);
	b[10] = (unsigned char)(ssrc >> 8);
	b[11] = (unsigned char)ssrc;
	for (int i = 0; i < plen; i++)
		b[12 + i] = (unsigned char)('A' + i % 26);
	return 12 + plen;
}

int main(int argc, char **argv)
{
	srtp_t s = NULL, r = NULL;
	srtp_policy_t p, p2;

	if (argc < 2)
		return 2;
	for (int i = 0; i < 30; i++) {
		key0[i] = (unsigned char)i;
		key1[i] = (unsigned char)(100 + i);
	}
	srtp_init();
	if (!strcmp(argv[1], "addstream")) {
		srtp_create(&s, NULL);
		pol(&p, ssrc_specific, 0x1234, key0);
		p.next = (void *)0x10;
		printf("srtp_add_stream: %d\n", srtp_add_stream(s, &p));
		return 0;
	}
	if (argc < 3)
		return 2;
	int mki = !strcmp(argv[1], "mki");
	int fd = socket(AF_INET, SOCK_DGRAM, 0), fr = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2])) };
	a.sin_addr.s_addr = htonl(0x7f000001);
	if (bind(fr, (void *)&a, sizeof a) || connect(fd, (void *)&a, sizeof a)) {
		perror("bind/connect");
		return 1;
	}
	if (!mki) {
		pol(&p, ssrc_any_outbound, 0, key0);
		pol(&p2, ssrc_any_inbound, 0, key0);
	} else {
		static unsigned char mki0[4] = { 0, 0, 0, 1 }, mki1[4] = { 0, 0, 0, 2 };
		static srtp_master_key_t mk0, mk1;
		static srtp_master_key_t *mks[2];
		mk0.key = key0;
		mk0.mki_id = mki0;
		mk0.mki_size = 4;
		mk1.key = key1;
		mk1.mki_id = mki1;
		mk1.mki_size = 4;
		mks[0] = &mk0;
		mks[1] = &mk1;
		pol(&p, ssrc_any_outbound, 0, NULL);
		p.keys = mks;
		p.num_master_keys = 2;
		pol(&p2, ssrc_any_inbound, 0, NULL);
		p2.keys = mks;
		p2.num_master_keys = 2;
	}
	printf("srtp_create: %d %d\n", srtp_create(&s, &p), srtp_create(&r, &p2));
	static unsigned char b[20000], rb[20000];
	for (int i = 0; i < 3; i++) {
		int len = mkpkt(b, 0xabc, i + 1, !mki && i == 1 ? 9000 : 100);
		int st = mki ? srtp_protect_mki(s, b, &len, 1, 1) : srtp_protect(s, b, &len);
		printf("protect: %d, %d bytes\n", st, len);
		send(fd, b, (size_t)len, 0);
		int n = (int)recv(fr, rb, sizeof rb, 0);
		st = mki ? srtp_unprotect_mki(r, rb, &n, 1) : srtp_unprotect(r, rb, &n);
		printf("unprotect: %d, %d bytes\n", st, n);
	}
	return 0;
}
