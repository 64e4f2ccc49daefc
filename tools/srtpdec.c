/*
 * srtpdec.c - SRTP/SRTCP decryption by key trial; see srtpdec.h.
 *
 * One libsrtp2 session per key and flow direction (source, destination, capture direction),
 * with an any-inbound template: libsrtp2 clones a stream for an SSRC only after its first packet
 * authenticates, so a failed trial leaves the session as it was.  Keeping the capture direction
 * apart matters for clearcap's own files, where a datagram is there twice when both ends were
 * captured (sent and received): each copy goes to its own session's replay window.
 */
#include "tools/srtpdec.h"
#include "tools/index.h"

#include <srtp2/srtp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TRIES 16		/* packets of an SSRC tried against every key before giving up */
#define REPLAY_WINDOW 1024	/* packets may arrive this far out of order (RFC 3711 section 3.3.2) */

struct sess {
	int key;
	struct cc_endpoint src, dst;
	uint8_t dir;
	srtp_t s;
};

struct bind {
	struct cc_endpoint src, dst;
	uint8_t dir;
	uint32_t ssrc;
	int key;		/* -1: none found yet */
	uint32_t tries;		/* packets no key authenticated */
	size_t nkeys_tried;	/* the key count when those tries were made */
};

struct cc_srtpdec {
	struct cc_srtp_key *keys;
	size_t nkeys, capkeys;
	struct sess *sess;
	size_t nsess, capsess;
	struct bind *binds;
	size_t nbinds, capbinds;
	struct cc_index sess_ix, bind_ix;
};

static const struct {
	uint16_t id;
	const char *suite;
	uint8_t key_len, salt_len;
} profiles[] = {
	{ 0x0001, "AES_CM_128_HMAC_SHA1_80", 16, 14 },
	{ 0x0002, "AES_CM_128_HMAC_SHA1_32", 16, 14 },
	{ 0x0007, "AEAD_AES_128_GCM", 16, 12 },
	{ 0x0008, "AEAD_AES_256_GCM", 32, 12 },
};

int cc_srtp_profile_info(uint16_t profile, const char **suite, size_t *key_len, size_t *salt_len)
{
	for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
		if (profiles[i].id == profile) {
			*suite = profiles[i].suite;
			*key_len = profiles[i].key_len;
			*salt_len = profiles[i].salt_len;
			return 0;
		}
	return -1;
}

int cc_srtp_profile_by_suite(const char *suite, uint16_t *profile)
{
	for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
		if (strcmp(profiles[i].suite, suite) == 0) {
			*profile = profiles[i].id;
			return 0;
		}
	return -1;
}

static int grow(void **p, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return 0;
	size_t c = *cap ? 2 * *cap : 16;
	void *q = realloc(*p, c * size);
	if (!q)
		return -1;
	*p = q;
	*cap = c;
	return 0;
}

struct cc_srtpdec *cc_srtpdec_new(char *err, size_t errsize)
{
	static int inited;
	srtp_err_status_t st;

	if (!inited) {
		if ((st = srtp_init()) != srtp_err_status_ok) {
			snprintf(err, errsize, "libsrtp2: srtp_init failed (%d)", (int)st);
			return NULL;
		}
		inited = 1;
	}
	struct cc_srtpdec *d = calloc(1, sizeof(*d));
	if (!d)
		snprintf(err, errsize, "out of memory");
	return d;
}

void cc_srtpdec_free(struct cc_srtpdec *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nsess; i++)
		srtp_dealloc(d->sess[i].s);
	/* Key bytes do not outlive their use. */
	if (d->keys)
		memset(d->keys, 0, d->nkeys * sizeof(*d->keys));
	free(d->keys);
	free(d->sess);
	free(d->binds);
	cc_index_free(&d->sess_ix);
	cc_index_free(&d->bind_ix);
	free(d);
}

static int ep_eq(const struct cc_endpoint *a, const struct cc_endpoint *b)
{
	return a->family == b->family && a->port == b->port && memcmp(a->ip, b->ip, a->family == 6 ? 16 : 4) == 0;
}

static int ip_eq(const struct cc_endpoint *a, const struct cc_endpoint *b)
{
	return a->family == b->family && memcmp(a->ip, b->ip, a->family == 6 ? 16 : 4) == 0;
}

int cc_srtpdec_add_key(struct cc_srtpdec *d, const struct cc_srtp_key *k)
{
	for (size_t i = 0; i < d->nkeys; i++) {
		struct cc_srtp_key *o = &d->keys[i];
		if (o->profile == k->profile && o->has_ssrc == k->has_ssrc && (!k->has_ssrc || o->ssrc == k->ssrc) &&
		    memcmp(o->master, k->master, (size_t)k->key_len + k->salt_len) == 0) {
			/* The same key named with its flow (a later key log line) sharpens the hint. */
			if (!o->src.family && k->src.family) {
				o->src = k->src;
				o->dst = k->dst;
			}
			return (int)i;
		}
	}
	if (grow((void **)&d->keys, &d->capkeys, d->nkeys, sizeof(*d->keys)) < 0)
		return -1;
	d->keys[d->nkeys] = *k;
	return (int)d->nkeys++;
}

size_t cc_srtpdec_nkeys(const struct cc_srtpdec *d)
{
	return d->nkeys;
}

const struct cc_srtp_key *cc_srtpdec_key(const struct cc_srtpdec *d, size_t i)
{
	return i < d->nkeys ? &d->keys[i] : NULL;
}

static int policy(const struct cc_srtp_key *k, srtp_policy_t *p)
{
	memset(p, 0, sizeof(*p));
	switch (k->profile) {
	case 0x0001:
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtp);
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtcp);
		break;
	case 0x0002:
		/* RFC 5764 section 4.1.2: SRTCP keeps the 80-bit tag with this profile. */
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&p->rtp);
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&p->rtcp);
		break;
	case 0x0007:
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtp);
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtcp);
		break;
	case 0x0008:
		srtp_crypto_policy_set_aes_gcm_256_16_auth(&p->rtp);
		srtp_crypto_policy_set_aes_gcm_256_16_auth(&p->rtcp);
		break;
	default:
		return -1;
	}
	p->ssrc.type = ssrc_any_inbound;
	p->key = (unsigned char *)k->master;
	p->window_size = REPLAY_WINDOW;
	return 0;
}

struct lookup {
	const struct cc_srtpdec *d;
	int key;
	const struct cc_endpoint *src, *dst;
	uint8_t dir;
	uint32_t ssrc;
};

static uint64_t flow_hash(const struct cc_endpoint *src, const struct cc_endpoint *dst, uint8_t dir, uint64_t more)
{
	return cc_hash_u64(cc_hash_ep(cc_hash_ep(dir, src), dst), more);
}

static int sess_eq(const void *ctx, size_t i)
{
	const struct lookup *l = ctx;
	const struct sess *x = &l->d->sess[i];

	return x->key == l->key && x->dir == l->dir && ep_eq(&x->src, l->src) && ep_eq(&x->dst, l->dst);
}

static struct sess *session(struct cc_srtpdec *d, int key, const struct cc_endpoint *src,
			    const struct cc_endpoint *dst, uint8_t dir)
{
	struct lookup l = { d, key, src, dst, dir, 0 };
	uint64_t h = flow_hash(src, dst, dir, (uint64_t)key);
	long i = cc_index_find(&d->sess_ix, h, sess_eq, &l);
	srtp_policy_t p;
	srtp_t s;

	if (i >= 0)
		return &d->sess[i];
	if (policy(&d->keys[key], &p) < 0 || srtp_create(&s, &p) != srtp_err_status_ok)
		return NULL;
	if (grow((void **)&d->sess, &d->capsess, d->nsess, sizeof(*d->sess)) < 0 ||
	    cc_index_add(&d->sess_ix, h, d->nsess) < 0) {
		srtp_dealloc(s);
		return NULL;
	}
	struct sess *x = &d->sess[d->nsess++];
	x->key = key;
	x->src = *src;
	x->dst = *dst;
	x->dir = dir;
	x->s = s;
	return x;
}

static int bind_eq(const void *ctx, size_t i)
{
	const struct lookup *l = ctx;
	const struct bind *b = &l->d->binds[i];

	return b->ssrc == l->ssrc && b->dir == l->dir && ep_eq(&b->src, l->src) && ep_eq(&b->dst, l->dst);
}

static struct bind *binding(struct cc_srtpdec *d, const struct cc_endpoint *src, const struct cc_endpoint *dst,
			    uint8_t dir, uint32_t ssrc)
{
	struct lookup l = { d, 0, src, dst, dir, ssrc };
	uint64_t h = flow_hash(src, dst, dir, ssrc);
	long i = cc_index_find(&d->bind_ix, h, bind_eq, &l);

	if (i >= 0)
		return &d->binds[i];
	if (grow((void **)&d->binds, &d->capbinds, d->nbinds, sizeof(*d->binds)) < 0 ||
	    cc_index_add(&d->bind_ix, h, d->nbinds) < 0)
		return NULL;
	struct bind *b = &d->binds[d->nbinds++];
	memset(b, 0, sizeof(*b));
	b->src = *src;
	b->dst = *dst;
	b->dir = dir;
	b->ssrc = ssrc;
	b->key = -1;
	return b;
}

/* How well a key's hint fits the packet: higher is tried first; -1 never. */
static int score(const struct cc_srtp_key *k, const struct cc_endpoint *src, const struct cc_endpoint *dst,
		 uint32_t ssrc)
{
	int s = 0;

	if (k->has_ssrc && k->ssrc != ssrc)
		return -1;
	if (!k->src.family)
		s += 1;
	else if (ep_eq(&k->src, src))
		s += 4;
	else if (ip_eq(&k->src, src))
		s += 1;
	if (k->dst.family && ep_eq(&k->dst, dst))
		s += 2;
	else if (k->dst.family && ip_eq(&k->dst, dst))
		s += 1;
	return s + (k->has_ssrc ? 8 : 0);
}

/* One attempt: 1 authenticated (out filled), 0 auth failure, -1 replay, -2 other error. */
static int attempt(struct cc_srtpdec *d, int key, const struct cc_endpoint *src, const struct cc_endpoint *dst,
		   uint8_t dir, int rtcp, const uint8_t *in, size_t len, uint8_t *out, size_t *outlen)
{
	struct sess *x = session(d, key, src, dst, dir);
	int n = (int)len;
	srtp_err_status_t st;

	if (!x)
		return -2;
	memcpy(out, in, len);
	st = rtcp ? srtp_unprotect_rtcp(x->s, out, &n) : srtp_unprotect(x->s, out, &n);
	if (st == srtp_err_status_ok) {
		*outlen = (size_t)n;
		return 1;
	}
	if (st == srtp_err_status_replay_fail || st == srtp_err_status_replay_old)
		return -1;
	if (st == srtp_err_status_auth_fail)
		return 0;
	return -2;
}

int cc_srtpdec_packet(struct cc_srtpdec *d, const struct cc_endpoint *src, const struct cc_endpoint *dst,
		      uint8_t dir, int rtcp, const uint8_t *in, size_t len, uint8_t *out, size_t *outlen,
		      int *key)
{
	size_t off = rtcp ? 4 : 8;
	struct bind *b;
	uint32_t ssrc;
	int r, failed_bound = 0;

	/* RFC 3711 section 3.1: the RTP header (12) or the SRTCP header and index (8 + 4). */
	if (len < 12 || len > 65536)
		return CC_SRTPDEC_BAD;
	ssrc = (uint32_t)in[off] << 24 | (uint32_t)in[off + 1] << 16 | (uint32_t)in[off + 2] << 8 | in[off + 3];
	b = binding(d, src, dst, dir, ssrc);
	if (!b)
		return CC_SRTPDEC_BAD;
	if (b->key >= 0) {
		r = attempt(d, b->key, src, dst, dir, rtcp, in, len, out, outlen);
		if (r == 1) {
			*key = b->key;
			return CC_SRTPDEC_OK;
		}
		if (r == -1)
			return CC_SRTPDEC_REPLAY;
		if (r == -2)
			return CC_SRTPDEC_BAD;
		failed_bound = 1;
	} else if (b->tries >= MAX_TRIES && b->nkeys_tried == d->nkeys) {
		b->tries++;
		return CC_SRTPDEC_NOKEY;
	}

	/* Every other key, best hint first (a selection sort over a short list). */
	size_t n = d->nkeys;
	unsigned char *done = calloc(n ? n : 1, 1);
	if (!done)
		return CC_SRTPDEC_BAD;
	for (;;) {
		int best = -1, bs = -1;
		for (size_t i = 0; i < n; i++) {
			if (done[i] || (int)i == b->key)
				continue;
			int s = score(&d->keys[i], src, dst, ssrc);
			if (s > bs) {
				bs = s;
				best = (int)i;
			}
		}
		if (best < 0)
			break;
		done[best] = 1;
		r = attempt(d, best, src, dst, dir, rtcp, in, len, out, outlen);
		if (r == 1 || r == -1) {
			free(done);
			b->key = best;
			b->tries = 0;
			*key = best;
			return r == 1 ? CC_SRTPDEC_OK : CC_SRTPDEC_REPLAY;
		}
	}
	free(done);
	if (failed_bound)
		return CC_SRTPDEC_AUTH;
	if (b->nkeys_tried != d->nkeys) {
		b->nkeys_tried = d->nkeys;
		b->tries = 0;
	}
	b->tries++;
	return CC_SRTPDEC_NOKEY;
}
