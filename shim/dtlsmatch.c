/*
 * Correlation by DTLS record; see dtlsmatch.h.
 */
#include "shim/dtlsmatch.h"
#include "shim/capture.h"
#include "decoders/dtls.h"
#include "decoders/stun.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define OUT_SIZE 256            /* plaintexts waiting for their datagram, hashed by key */
#define OUT_PROBE 8             /* slots a key may sit in: key, key+1, ... */
#define IN_SIZE 1024            /* recently received records, direct-mapped by key */
#define INLINE_MAX 1500         /* plaintexts up to this size are kept in the slot itself */
#define MAX_AGE_NS 3000000000ull
#define PLAIN_MAX 16384         /* a DTLS record's plaintext is at most 2^14 bytes (RFC 6347 4.1) */
#define DGRAM_COPY 4096

int cc_dm_active;

struct out_ent {
	uint64_t key;           /* 0: free */
	int kind;               /* CC_DM_SSL or CC_DM_SRTP: who gets the match */
	const void *ssl;
	uint64_t ts;
	size_t len;
	uint8_t *data;          /* inline, or malloc'd when longer than INLINE_MAX */
	uint8_t inline_data[INLINE_MAX];
};

/*
 * A received record's flow.  Written and read per packet, so without the lock: a sequence count
 * (odd while being written) lets a reader see a whole entry or none; a writer finding the entry
 * busy (another thread, or a signal handler interrupting this one) skips it.
 */
#define ADDR_WORDS (sizeof(struct cc_addr) / 4)
struct in_ent {
	uint64_t seq;
	uint64_t key;
	uint64_t ts;                    /* when it was received */
	uint32_t w[2 * ADDR_WORDS];     /* local, peer */
} __attribute__((aligned(64)));         /* one cache line each */
_Static_assert(sizeof(struct cc_addr) % 4 == 0, "cc_addr in whole words");

static struct out_ent outq[OUT_SIZE];
static int out_count;
static struct in_ent inq[IN_SIZE];
static uint64_t last_age_scan;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h ? h : 1;
}

/* Epoch, sequence number, length and the record's last 8 bytes (its authentication tag). */
static uint64_t record_key(const struct cc_tls_record *r)
{
	uint64_t tail = 0;
	size_t n = r->frag.len < 8 ? r->frag.len : 8;

	memcpy(&tail, r->frag.p + r->frag.len - n, n);
	return mix(((uint64_t)r->epoch << 48 | (r->seq & 0xffffffffffffull)) ^ mix(tail ^ (uint64_t)r->length << 32));
}

uint64_t cc_dm_first_app_key(const uint8_t *buf, size_t len)
{
	struct cc_tls_iter it;
	struct cc_tls_record r;

	cc_tls_iter_init(&it, buf, len, 1);
	while (cc_tls_iter_next(&it, &r) > 0)
		if (r.type == 23 && !r.unified)         /* application_data */
			return record_key(&r);
	return 0;
}

/* The index of a waiting plaintext older than the limit, or -1; the caller holds the lock. */
static int expired(uint64_t now)
{
	for (int i = 0; i < OUT_SIZE; i++)
		if (outq[i].key && now - outq[i].ts > MAX_AGE_NS)
			return i;
	return -1;
}

/* The entry taken out of the table (the caller holds the lock): its data moved to `e`. */
static void take(int i, struct out_ent *e)
{
	int is_inline = outq[i].data == outq[i].inline_data;

	e->key = outq[i].key;
	e->kind = outq[i].kind;
	e->ssl = outq[i].ssl;
	e->ts = outq[i].ts;
	e->len = outq[i].len;
	if (is_inline) {
		memcpy(e->inline_data, outq[i].inline_data, outq[i].len);
		e->data = e->inline_data;
	} else {
		e->data = outq[i].data;
	}
	outq[i].key = 0;
	out_count--;
}

static void release(struct out_ent *e, const struct cc_addr *local, const struct cc_addr *peer)
{
	if (e->kind == CC_DM_SRTP)
		cc_srtp_matched(e->ssl, local, peer, e->data, e->len);
	else
		cc_ssl_matched(e->ssl, local, peer, e->data, e->len);
	if (e->data != e->inline_data)
		free(e->data);
}

/* Writes out what waited too long; a full scan at most every 100 ms (it is O(OUT_SIZE)). */
static void age_out(uint64_t now)
{
	if (now - __atomic_load_n(&last_age_scan, __ATOMIC_RELAXED) < 100000000ull)
		return;
	__atomic_store_n(&last_age_scan, now, __ATOMIC_RELAXED);
	for (;;) {
		struct out_ent e;
		pthread_mutex_lock(&lock);
		int i = out_count ? expired(now) : -1;
		if (i >= 0)
			take(i, &e);
		pthread_mutex_unlock(&lock);
		if (i < 0)
			return;
		release(&e, NULL, NULL);
	}
}

void cc_dm_expect(const void *ssl, uint64_t key, const void *plain, size_t len)
{
	cc_dm_expect_kind(CC_DM_SSL, ssl, key, plain, len);
}

void cc_dm_expect_kind(int kind, const void *ssl, uint64_t key, const void *plain, size_t len)
{
	uint64_t now = cc_now_coarse();
	uint8_t *copy = NULL;
	struct out_ent victim;
	int have_victim = 0;

	age_out(now);
	if (len > PLAIN_MAX || (len > INLINE_MAX && !(copy = malloc(len)))) {
		if (kind == CC_DM_SRTP)
			cc_srtp_matched(ssl, NULL, NULL, plain, len);
		else
			cc_ssl_matched(ssl, NULL, NULL, plain, len);
		return;
	}
	pthread_mutex_lock(&lock);
	int slot = -1, oldest = -1;
	for (int n = 0; n < OUT_PROBE; n++) {
		int i = (int)((key + (uint64_t)n) & (OUT_SIZE - 1));
		if (!outq[i].key) {
			slot = i;
			break;
		}
		if (oldest < 0 || outq[i].ts < outq[oldest].ts)
			oldest = i;
	}
	if (slot < 0) {
		/* No room near the key: the oldest there waits no longer. */
		take(oldest, &victim);
		have_victim = 1;
		slot = oldest;
	}
	struct out_ent *e = &outq[slot];
	e->key = key;
	e->kind = kind;
	e->ssl = ssl;
	e->ts = now;
	e->len = len;
	e->data = copy ? copy : e->inline_data;
	memcpy(e->data, plain, len);
	out_count++;
	pthread_mutex_unlock(&lock);
	if (have_victim)
		release(&victim, NULL, NULL);
}

int cc_dm_inbound_flow(uint64_t key, struct cc_addr *local, struct cc_addr *peer, uint64_t *ts)
{
	struct in_ent *e = &inq[key & (IN_SIZE - 1)];
	uint32_t w[2 * ADDR_WORDS];

	for (int tries = 0; tries < 4; tries++) {
		uint64_t s1 = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE);
		if (s1 & 1)
			continue;
		uint64_t k = __atomic_load_n(&e->key, __ATOMIC_RELAXED);
		uint64_t t = __atomic_load_n(&e->ts, __ATOMIC_RELAXED);
		for (size_t i = 0; i < 2 * ADDR_WORDS; i++)
			w[i] = __atomic_load_n(&e->w[i], __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&e->seq, __ATOMIC_RELAXED) != s1)
			continue;
		if (k != key)
			return -1;
		memcpy(local, w, sizeof(*local));
		memcpy(peer, w + ADDR_WORDS, sizeof(*peer));
		if (ts)
			*ts = t;
		return 0;
	}
	return -1;
}

/* A datagram's payload unwrapped from TURN framing (RFC 8656 sections 11, 12), if any. */
static void unwrap_turn(const uint8_t **p, size_t *len)
{
	if (*len && (*p)[0] >= 64 && (*p)[0] <= 127) {    /* RFC 5766 channels too */
		struct cc_turn_channel ch;
		if (cc_turn_channel_data(*p, *len, &ch) == 0) {
			*p = ch.data.p;
			*len = ch.data.len;
		}
	} else if (*len && (*p)[0] <= 3) {
		struct cc_turn_ind ind;
		if (cc_turn_indication(*p, *len, &ind) == 0) {
			*p = ind.data.p;
			*len = ind.data.len;
		}
	}
}

/*
 * An SRTP/SRTCP packet is identified by its clear header (SSRC, sequence number or the RTCP
 * sender's SSRC) and its last bytes - the authentication tag, a MAC over the whole packet - so
 * the key costs the same whatever the payload's size (RFC 3711 sections 3.1, 3.4).
 */
uint64_t cc_dm_bytes_key(const uint8_t *p, size_t len)
{
	uint64_t head = 0, tail = 0;
	uint32_t w = 0;

	if (len >= 12) {
		/* Every real SRTP/SRTCP packet (four times per round trip): fixed-size loads. */
		memcpy(&head, p, 8);
		memcpy(&w, p + 8, 4);
		memcpy(&tail, p + len - 8, 8);
	} else {
		size_t t = len < 8 ? len : 8;
		memcpy(&head, p, t);
		if (len > 8)
			memcpy(&w, p + 8, len - 8);
		memcpy(&tail, p + len - t, t);
	}
	return mix(mix(head ^ (uint64_t)w << 17 ^ (uint64_t)len << 48) ^ tail);
}

int cc_dm_srtp_active;

static void match_out(uint64_t key, const struct cc_addr *local, const struct cc_addr *peer, uint64_t ts)
{
	if (!__atomic_load_n(&out_count, __ATOMIC_RELAXED))
		return;
	struct out_ent e;
	int found = 0;
	pthread_mutex_lock(&lock);
	for (int n = 0; n < OUT_PROBE && !found; n++) {
		int i = (int)((key + (uint64_t)n) & (OUT_SIZE - 1));
		if (outq[i].key == key) {
			take(i, &e);
			found = 1;
		}
	}
	pthread_mutex_unlock(&lock);
	if (found) {
		cc_dgram_ts = ts;       /* the plaintext goes out with its datagram */
		release(&e, local, peer);
		cc_dgram_ts = 0;
	}
}

static void remember_in(uint64_t key, const struct cc_addr *local, const struct cc_addr *peer, uint64_t ts)
{
	struct in_ent *e = &inq[key & (IN_SIZE - 1)];
	uint64_t s = __atomic_load_n(&e->seq, __ATOMIC_RELAXED);
	uint32_t w[2 * ADDR_WORDS];

	if ((s & 1) || !__atomic_compare_exchange_n(&e->seq, &s, s + 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(w, local, sizeof(*local));
	memcpy(w + ADDR_WORDS, peer, sizeof(*peer));
	__atomic_store_n(&e->key, key, __ATOMIC_RELAXED);
	__atomic_store_n(&e->ts, ts, __ATOMIC_RELAXED);
	for (size_t i = 0; i < 2 * ADDR_WORDS; i++)
		__atomic_store_n(&e->w[i], w[i], __ATOMIC_RELAXED);
	__atomic_store_n(&e->seq, s + 2, __ATOMIC_RELEASE);
}

void cc_dm_datagram(const struct iovec *iov, int iovcnt, size_t len, int outgoing, const struct cc_addr *local,
		    const struct cc_addr *peer, uint64_t ts)
{
	uint8_t copy[DGRAM_COPY];
	const uint8_t *p, *d;
	size_t dl;
	struct cc_tls_iter it;
	struct cc_tls_record r;

	p = cc_iov_view(iov, iovcnt, 0, &len, copy, sizeof(copy));
	if (!len)
		return;
	d = p;
	dl = len;
	unwrap_turn(&d, &dl);
	/* SRTP and SRTCP (RFC 7983: first byte 128-191) are matched on their exact bytes. */
	if (dl && d[0] >= 128 && d[0] <= 191) {
		/*
		 * A DTLS-SRTP peer may send media before this side's handshake is done and its SRTP
		 * session made: with DTLS in use, SRTP is remembered from the first datagram.
		 */
		if (__atomic_load_n(&cc_dm_srtp_active, __ATOMIC_RELAXED) || __atomic_load_n(&cc_dm_active, __ATOMIC_RELAXED)) {
			uint64_t key = cc_dm_bytes_key(d, dl);
			if (outgoing)
				match_out(key, local, peer, ts);
			else
				remember_in(key, local, peer, ts);
		}
		return;
	}
	if (!dl || d[0] < 20 || d[0] > 63)
		return;
	cc_tls_iter_init(&it, d, dl, 1);
	while (cc_tls_iter_next(&it, &r) > 0) {
		if (r.type != 23 || r.unified)
			continue;
		uint64_t key = record_key(&r);
		if (outgoing)
			match_out(key, local, peer, ts);
		else
			remember_in(key, local, peer, ts);
	}
}

void cc_dm_flush(void)
{
	__atomic_store_n(&last_age_scan, 0, __ATOMIC_RELAXED);
	age_out(~0ull >> 1);
	for (int i = 0; i < OUT_SIZE; i++) {
		struct out_ent e;
		int found = 0;
		pthread_mutex_lock(&lock);
		if (outq[i].key) {
			take(i, &e);
			found = 1;
		}
		pthread_mutex_unlock(&lock);
		if (found)
			release(&e, NULL, NULL);
	}
}
