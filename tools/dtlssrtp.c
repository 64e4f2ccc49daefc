/*
 * dtlssrtp.c - DTLS handshakes on the wire and the DTLS-SRTP exporter; see dtlssrtp.h.
 */
#include "tools/dtlssrtp.h"
#include "decoders/dtls.h"
#include "decoders/hello.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char label[] = "EXTRACTOR-dtls_srtp";

static int ep_eq(const struct cc_endpoint *a, const struct cc_endpoint *b)
{
	return a->family == b->family && a->port == b->port && memcmp(a->ip, b->ip, a->family == 6 ? 16 : 4) == 0;
}

static struct cc_dtls_hs *add(struct cc_dtlstrack *t)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16;
		struct cc_dtls_hs *hs = realloc(t->hs, cap * sizeof(*hs));
		if (!hs)
			return NULL;
		t->hs = hs;
		t->cap = cap;
	}
	memset(&t->hs[t->n], 0, sizeof(t->hs[0]));
	return &t->hs[t->n++];
}

#define MAX_HELLO 65536		/* a Hello is far smaller; a longer "length" is not one */

static struct cc_hello_frag *frag_slot(struct cc_dtlstrack *t, const struct cc_endpoint *src,
				       const struct cc_endpoint *dst, const struct cc_tls_handshake *hs)
{
	struct cc_hello_frag *f = NULL;

	for (size_t i = 0; i < t->nfrags; i++)
		if (ep_eq(&t->frags[i].src, src) && ep_eq(&t->frags[i].dst, dst))
			f = &t->frags[i];
	if (f && f->msg_type == hs->msg_type && f->message_seq == hs->message_seq && f->length == hs->length)
		return f;
	if (!f) {
		if (t->nfrags == t->capfrags) {
			size_t cap = t->capfrags ? 2 * t->capfrags : 8;
			struct cc_hello_frag *x = realloc(t->frags, cap * sizeof(*x));
			if (!x)
				return NULL;
			t->frags = x;
			t->capfrags = cap;
		}
		f = &t->frags[t->nfrags++];
		memset(f, 0, sizeof(*f));
		f->src = *src;
		f->dst = *dst;
	}
	/* Another message on this flow direction: start over. */
	free(f->body);
	free(f->have);
	f->body = calloc(1, hs->length);
	f->have = calloc(1, hs->length);
	f->msg_type = hs->msg_type;
	f->message_seq = hs->message_seq;
	f->length = hs->length;
	f->got = 0;
	if (!f->body || !f->have) {
		free(f->body);
		free(f->have);
		f->body = f->have = NULL;
		f->length = 0;
		return NULL;
	}
	return f;
}

/*
 * The first ClientHello or ServerHello the datagram completes: whole in one record, or the
 * last missing fragment of one.  0 with *out filled, -1 when there is none.
 */
static int hello(struct cc_dtlstrack *t, const struct cc_endpoint *src, const struct cc_endpoint *dst,
		 const uint8_t *p, size_t len, struct cc_hello_params *out)
{
	struct cc_tls_iter it;
	struct cc_tls_record r;
	struct cc_tls_handshake hs;

	cc_tls_iter_init(&it, p, len, 1);
	while (cc_tls_iter_next(&it, &r) == 1) {
		if (r.unified || r.type != CC_TLS_CT_HANDSHAKE || r.epoch != 0 ||
		    cc_dtls_handshake(r.frag.p, r.frag.len, &hs) != 0 ||
		    (hs.msg_type != CC_TLS_HS_CLIENT_HELLO && hs.msg_type != CC_TLS_HS_SERVER_HELLO) ||
		    hs.length == 0 || hs.length > MAX_HELLO || hs.body.len < hs.frag_length ||
		    (uint64_t)hs.frag_offset + hs.frag_length > hs.length)
			continue;
		if (hs.frag_offset == 0 && hs.frag_length == hs.length) {
			if (cc_hello_params_body(hs.msg_type, hs.body.p, hs.length, out) == 0)
				return 0;
			continue;
		}
		struct cc_hello_frag *f = frag_slot(t, src, dst, &hs);
		if (!f)
			continue;
		for (uint32_t i = 0; i < hs.frag_length; i++) {
			uint32_t o = hs.frag_offset + i;
			f->body[o] = hs.body.p[i];
			if (!f->have[o]) {
				f->have[o] = 1;
				f->got++;
			}
		}
		if (f->got == f->length) {
			int rc = cc_hello_params_body(f->msg_type, f->body, f->length, out);
			f->got = 0;	/* a retransmission starts a new copy */
			memset(f->have, 0, f->length);
			if (rc == 0)
				return 0;
		}
	}
	return -1;
}

struct cc_dtls_hs *cc_dtlstrack_datagram(struct cc_dtlstrack *t, const struct cc_endpoint *src,
					 const struct cc_endpoint *dst, const uint8_t *p, size_t len)
{
	struct cc_hello_params h;
	struct cc_dtls_hs *hs = NULL;

	if (hello(t, src, dst, p, len, &h) != 0)
		return NULL;
	if (h.msg_type == CC_TLS_HS_CLIENT_HELLO) {
		/* A retransmission, the ClientHello after a HelloVerifyRequest, or the other end's
		 * copy in a file that holds both ends: the same random is the same handshake. */
		for (size_t i = 0; i < t->n; i++)
			if (t->hs[i].have_ch && memcmp(t->hs[i].client_random, h.random, 32) == 0)
				return NULL;
		if (!(hs = add(t)))
			return NULL;
		hs->client = *src;
		hs->server = *dst;
		memcpy(hs->client_random, h.random, 32);
		hs->have_ch = 1;
		return NULL;
	}
	/* A copy of a ServerHello already seen: retransmitted, or on another leg of a TURN relay. */
	for (size_t i = 0; i < t->n; i++)
		if (t->hs[i].have_sh && memcmp(t->hs[i].server_random, h.random, 32) == 0)
			return NULL;
	for (size_t i = t->n; i-- > 0;) {
		struct cc_dtls_hs *x = &t->hs[i];
		if (!x->have_sh && x->have_ch && ep_eq(&x->client, dst) && ep_eq(&x->server, src)) {
			hs = x;
			break;
		}
	}
	/*
	 * Through a TURN relay the Hellos can be seen on different legs (client to server, relay to
	 * relay, server to peer), so the flows need not match: the ServerHello then answers the
	 * latest ClientHello still unanswered.  A wrong pairing (two handshakes at once) only gives
	 * keys that authenticate nothing, which the report shows.
	 */
	for (size_t i = t->n; !hs && i-- > 0;)
		if (!t->hs[i].have_sh && t->hs[i].have_ch)
			hs = &t->hs[i];
	if (!hs) {
		if (!(hs = add(t)))
			return NULL;
		hs->client = *dst;
		hs->server = *src;
	}
	memcpy(hs->server_random, h.random, 32);
	hs->have_sh = 1;
	hs->version = h.version;
	hs->cipher_suite = h.cipher_suite;
	hs->use_srtp = h.has_use_srtp && h.nprofiles > 0;
	hs->profile = hs->use_srtp ? h.profiles[0] : 0;
	return hs;
}

void cc_dtlstrack_free(struct cc_dtlstrack *t)
{
	for (size_t i = 0; i < t->nfrags; i++) {
		free(t->frags[i].body);
		free(t->frags[i].have);
	}
	free(t->frags);
	free(t->hs);
	memset(t, 0, sizeof(*t));
}

/* RFC 5246 section 5: the PRF uses SHA-256 unless the suite names another hash (the _SHA384
 * suites of RFC 5289, RFC 5288 and RFC 5487); DTLS 1.0 (TLS 1.1's PRF) uses MD5 and SHA-1. */
static const char *prf_digest(uint16_t version, uint16_t suite)
{
	static const uint16_t sha384[] = {
		0x009D, 0x009F, 0x00A1, 0x00A3, 0x00A5, 0x00A7, 0x00A9, 0x00AB, 0x00AD, 0x00AF,
		0x00B1, 0x00B3, 0x00B5, 0x00B7, 0x00B9, 0xC024, 0xC026, 0xC028, 0xC02A, 0xC02C,
		0xC02E, 0xC030, 0xC032, 0xC038, 0xC03B,
	};

	if (version == 0xFEFF)
		return "MD5-SHA1";
	for (size_t i = 0; i < sizeof(sha384) / sizeof(sha384[0]); i++)
		if (sha384[i] == suite)
			return "SHA384";
	return "SHA256";
}

/* RFC 5705 section 4 without a context: PRF(master_secret, label, client_random + server_random). */
static int exporter(const char *digest, const uint8_t master[48], const uint8_t *cr, const uint8_t *sr,
		    uint8_t *out, size_t outlen)
{
	uint8_t seed[sizeof(label) - 1 + 64];
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "TLS1-PRF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[4];
	int ok;

	memcpy(seed, label, sizeof(label) - 1);
	memcpy(seed + sizeof(label) - 1, cr, 32);
	memcpy(seed + sizeof(label) - 1 + 32, sr, 32);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)digest, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, (void *)master, 48);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed, sizeof(seed));
	params[3] = OSSL_PARAM_construct_end();
	ok = ctx && EVP_KDF_derive(ctx, out, outlen, params) > 0;
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return ok ? 0 : -1;
}

int cc_dtls_srtp_keys(struct cc_dtls_hs *hs, const uint8_t master[48], struct cc_srtp_key *client,
		      struct cc_srtp_key *server)
{
	const char *suite;
	size_t kl, sl;
	uint8_t km[2 * CC_SRTP_MASTER_MAX];
	char c[64], s[64];

	cc_endpoint_str(&hs->client, c, sizeof(c));
	cc_endpoint_str(&hs->server, s, sizeof(s));
	hs->done = 1;
	if (cc_srtp_profile_info(hs->profile, &suite, &kl, &sl) < 0) {
		snprintf(hs->why, sizeof(hs->why), "unknown SRTP protection profile 0x%04x", hs->profile);
		return -1;
	}
	if (exporter(prf_digest(hs->version, hs->cipher_suite), master, hs->client_random, hs->server_random, km,
		     2 * (kl + sl)) < 0) {
		snprintf(hs->why, sizeof(hs->why), "the TLS1-PRF of OpenSSL failed");
		return -1;
	}
	/* RFC 5764 section 4.2: client_write_SRTP_master_key, server_write_SRTP_master_key,
	 * client_write_SRTP_master_salt, server_write_SRTP_master_salt. */
	memset(client, 0, sizeof(*client));
	memset(server, 0, sizeof(*server));
	client->profile = server->profile = hs->profile;
	client->key_len = server->key_len = (uint8_t)kl;
	client->salt_len = server->salt_len = (uint8_t)sl;
	memcpy(client->master, km, kl);
	memcpy(server->master, km + kl, kl);
	memcpy(client->master + kl, km + 2 * kl, sl);
	memcpy(server->master + kl, km + 2 * kl + sl, sl);
	memset(km, 0, sizeof(km));
	client->src = hs->client;
	client->dst = hs->server;
	server->src = hs->server;
	server->dst = hs->client;
	snprintf(client->origin, sizeof(client->origin), "DTLS-SRTP %s, client %s", suite, c);
	snprintf(server->origin, sizeof(server->origin), "DTLS-SRTP %s, server %s", suite, s);
	snprintf(hs->why, sizeof(hs->why), "SRTP keys derived (%s)", suite);
	return 0;
}
