/*
 * Correlation by DTLS record; see dtlsmatch.h.
 */
#include "shim/dtlsmatch.h"
#include "shim/clock.h"
#include "decoders/dtls.h"
#include "decoders/stun.h"
#include "pcapout/wmem.h"

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

static void no_handler(const void *sess, const struct cc_addr *local, const struct cc_addr *peer, const void *plain,
		       size_t len, uint64_t ts)
{
	(void)sess, (void)local, (void)peer, (void)plain, (void)len, (void)ts;
}

static cc_dm_matched_fn handler = no_handler;

void cc_dm_on_matched(cc_dm_matched_fn fn)
{
	handler = fn ? fn : no_handler;
}

/*
 * A plaintext waiting for its datagram.  No lock: `key` is the slot's state (0 free, KEY_BUSY
 * taken by one thread that is filling or emptying it, else published), changed by compare-and-
 * swap, so a thread owns a slot from its swap to KEY_BUSY until it stores the next state.
 */
#define KEY_BUSY 1ull
struct out_ent {
	uint64_t key;
	const void *ssl;
	uint64_t ts;            /* atomic: read by others choosing a slot to evict */
	size_t len;
	uint8_t *data;          /* inline, or cc_wmem_alloc'd when longer than INLINE_MAX */
	uint8_t inline_data[INLINE_MAX];
};

/*
 * A received record's flow.  Written and read per packet, so without a lock: a sequence count
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
static int out_used;            /* a plaintext was ever kept: datagrams need looking up */
static struct in_ent inq[IN_SIZE];
static uint64_t last_age_scan;

static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h > KEY_BUSY ? h : h + 2;        /* 0 and KEY_BUSY are slot states, never keys */
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

/* Takes slot i if it still holds `key` (published); the caller then owns it. */
static int claim(int i, uint64_t key)
{
	return key > KEY_BUSY &&
	       __atomic_compare_exchange_n(&outq[i].key, &key, KEY_BUSY, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

/* Frees an owned slot (its plaintext's copy, then the slot itself for anyone to take). */
static void free_slot(struct out_ent *e)
{
	if (e->data != e->inline_data)
		cc_wmem_free(e->data, e->len);
	__atomic_store_n(&e->key, 0, __ATOMIC_RELEASE);
}

/* Hands an owned slot's plaintext over, on its datagram's flow and time, and frees the slot. */
static void release(struct out_ent *e, const struct cc_addr *local, const struct cc_addr *peer, uint64_t ts)
{
	handler(e->ssl, local, peer, e->data, e->len, ts);
	free_slot(e);
}

/* Writes out what waited too long (all of it with `all`); a scan at most every 100 ms. */
static void age_out(uint64_t now, int all)
{
	if (!all) {
		if (now - __atomic_load_n(&last_age_scan, __ATOMIC_RELAXED) < 100000000ull)
			return;
		__atomic_store_n(&last_age_scan, now, __ATOMIC_RELAXED);
	}
	if (!__atomic_load_n(&out_used, __ATOMIC_RELAXED))
		return;
	for (int i = 0; i < OUT_SIZE; i++) {
		uint64_t k = __atomic_load_n(&outq[i].key, __ATOMIC_ACQUIRE);
		if (k > KEY_BUSY && (all || now - __atomic_load_n(&outq[i].ts, __ATOMIC_RELAXED) > MAX_AGE_NS) &&
		    claim(i, k))
			release(&outq[i], NULL, NULL, 0);
	}
}

void cc_dm_expect(const void *ssl, uint64_t key, const void *plain, size_t len)
{
	uint64_t now = cc_now_coarse();
	uint8_t *copy = NULL;
	int slot = -1;

	age_out(now, 0);
	if (len > PLAIN_MAX || (len > INLINE_MAX && !(copy = cc_wmem_alloc(len)))) {
		handler(ssl, NULL, NULL, plain, len, 0);
		return;
	}
	for (int tries = 0; tries < 2 && slot < 0; tries++) {
		int oldest = -1;
		uint64_t oldest_key = 0, oldest_ts = 0;
		for (int n = 0; n < OUT_PROBE; n++) {
			int i = (int)((key + (uint64_t)n) & (OUT_SIZE - 1));
			uint64_t k = 0;
			if (__atomic_compare_exchange_n(&outq[i].key, &k, KEY_BUSY, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
				slot = i;
				break;
			}
			uint64_t t = __atomic_load_n(&outq[i].ts, __ATOMIC_RELAXED);
			if (k > KEY_BUSY && (oldest < 0 || t < oldest_ts)) {
				oldest = i;
				oldest_key = k;
				oldest_ts = t;
			}
		}
		/* No room near the key: the oldest there waits no longer. */
		if (slot < 0 && oldest >= 0 && claim(oldest, oldest_key)) {
			release(&outq[oldest], NULL, NULL, 0);
			/* (Freed, so free for anyone: the next round takes it or another.) */
		}
	}
	if (slot < 0) {
		/* Every slot near the key busy in other threads' hands: written now, unmatched. */
		cc_wmem_free(copy, len);
		handler(ssl, NULL, NULL, plain, len, 0);
		return;
	}
	struct out_ent *e = &outq[slot];
	e->ssl = ssl;
	__atomic_store_n(&e->ts, now, __ATOMIC_RELAXED);
	e->len = len;
	e->data = copy ? copy : e->inline_data;
	memcpy(e->data, plain, len);
	if (!__atomic_load_n(&out_used, __ATOMIC_RELAXED))
		__atomic_store_n(&out_used, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&e->key, key, __ATOMIC_RELEASE);
}

int cc_dm_withdraw(const void *ssl, uint64_t key)
{
	if (!__atomic_load_n(&out_used, __ATOMIC_RELAXED))
		return 0;
	for (int n = 0; n < OUT_PROBE; n++) {
		int i = (int)((key + (uint64_t)n) & (OUT_SIZE - 1));
		if (__atomic_load_n(&outq[i].key, __ATOMIC_RELAXED) != key || !claim(i, key))
			continue;
		struct out_ent *e = &outq[i];
		if (e->ssl != ssl) {
			__atomic_store_n(&e->key, key, __ATOMIC_RELEASE);     /* another session's: back */
			continue;
		}
		free_slot(e);           /* withdrawn: nothing handed over */
		return 1;
	}
	return 0;
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

void cc_dm_unwrap_turn(const uint8_t **p, size_t *len)
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
void cc_dm_parts_short(const uint8_t *p, size_t len, struct cc_dm_parts *k)
{
	size_t t = len < 8 ? len : 8;

	memset(k, 0, sizeof(*k));
	memcpy(&k->head, p, t);
	if (len > 8)
		memcpy(&k->w, p + 8, len - 8);
	memcpy(&k->tail, p + len - t, t);
	k->len = (uint32_t)len;
}

uint64_t cc_dm_parts_key(const struct cc_dm_parts *k)
{
	return mix(mix(k->head ^ (uint64_t)k->w << 17 ^ (uint64_t)k->len << 48) ^ k->tail);
}

uint64_t cc_dm_bytes_key(const uint8_t *p, size_t len)
{
	struct cc_dm_parts k;

	cc_dm_parts_of(p, len, &k);
	return cc_dm_parts_key(&k);
}

static void match_out(uint64_t key, const struct cc_addr *local, const struct cc_addr *peer, uint64_t ts)
{
	if (!__atomic_load_n(&out_used, __ATOMIC_RELAXED))
		return;
	for (int n = 0; n < OUT_PROBE; n++) {
		int i = (int)((key + (uint64_t)n) & (OUT_SIZE - 1));
		if (__atomic_load_n(&outq[i].key, __ATOMIC_RELAXED) == key && claim(i, key)) {
			release(&outq[i], local, peer, ts);     /* the plaintext goes out with its datagram */
			return;
		}
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
	cc_dm_unwrap_turn(&d, &dl);
	/* DTLS only (RFC 7983: first byte 20-63); SRTP is matched on the writer's thread (srtpmatch.h). */
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
	age_out(~0ull >> 1, 1);
}
