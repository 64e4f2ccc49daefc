/*
 * Early SRTP media: a DTLS session made (SSL_new, so clearcap matches DTLS) and no SRTP session
 * yet while 20 SRTP packets arrive; then srtp_create and unprotect.  "gen" (run without the shim)
 * writes the packets to pkts.bin in the working directory.
 */
#include <srtp2/srtp.h>
#include <openssl/ssl.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define N 20
static unsigned char key[30];
static void pol(srtp_policy_t *p, int out)
{
	memset(p, 0, sizeof(*p));
	srtp_crypto_policy_set_rtp_default(&p->rtp);
	srtp_crypto_policy_set_rtcp_default(&p->rtcp);
	p->ssrc.type = out ? ssrc_any_outbound : ssrc_any_inbound;
	p->key = key;
	p->window_size = 128;
}
int main(int argc, char **argv)
{
	for (int i = 0; i < 30; i++) key[i] = (unsigned char)i;
	srtp_init();
	if (argc > 1 && !strcmp(argv[1], "gen")) {
		srtp_t s; srtp_policy_t p; pol(&p, 1);
		if (srtp_create(&s, &p)) return 1;
		FILE *f = fopen("pkts.bin", "wb");
		for (int i = 0; i < N; i++) {
			unsigned char b[256] = { 0x80, 96 }; int len = 12 + 100;
			b[2] = 0; b[3] = (unsigned char)i; b[7] = 1; b[11] = 0x42;
			memset(b + 12, 'a' + i, 100);
			if (srtp_protect(s, b, &len)) return 2;
			fwrite(&len, sizeof(len), 1, f); fwrite(b, 1, (size_t)len, f);
		}
		fclose(f);
		return 0;
	}
	SSL_CTX *ctx = SSL_CTX_new(DTLS_method());
	SSL *ssl = SSL_new(ctx);              /* cc_dm_active */
	int r = socket(AF_INET, SOCK_DGRAM, 0), s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	socklen_t al = sizeof(a);
	bind(r, (struct sockaddr *)&a, sizeof(a));
	getsockname(r, (struct sockaddr *)&a, &al);
	unsigned char pk[N][256]; int pl[N];
	FILE *f = fopen("pkts.bin", "rb");
	for (int i = 0; i < N; i++) { fread(&pl[i], sizeof(int), 1, f); fread(pk[i], 1, (size_t)pl[i], f); }
	fclose(f);
	for (int i = 0; i < N; i++)
		sendto(s, pk[i], (size_t)pl[i], 0, (struct sockaddr *)&a, sizeof(a));
	unsigned char in[N][256]; int il[N];
	for (int i = 0; i < N; i++)
		il[i] = (int)recv(r, in[i], sizeof(in[i]), 0);
	srtp_t rs; srtp_policy_t p; pol(&p, 0);
	if (srtp_create(&rs, &p)) return 3;
	int okc = 0;
	for (int i = 0; i < N; i++)
		okc += srtp_unprotect(rs, in[i], &il[i]) == 0;
	printf("unprotected %d\n", okc);
	SSL_free(ssl); SSL_CTX_free(ctx);
	return 0;
}
