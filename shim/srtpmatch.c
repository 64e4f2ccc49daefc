/*
 * SRTP correlation on the writer's thread; see srtpmatch.h.
 */
#include "shim/srtpmatch.h"
#include "shim/clock.h"
#include "shim/plain.h"
#include "shim/dtlsmatch.h"
#include "shim/hooks.h"
#include "shim/select.h"
#include "pcapout/wmem.h"
#include "pcapout/writer.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define OUT_SIZE 256            /* plaintexts waiting for their datagram, hashed by key */
#define OUT_PROBE 8             /* slots a key may sit in: key, key+1, ... */
#define IN_SIZE 1024            /* recently received packets' flows, direct-mapped by key */
#define INLINE_MAX 1500         /* plaintexts up to this size are kept in the slot itself */
#define MAX_AGE_NS 3000000000ull
#define SCAN_NS 100000000ull    /* waiting plaintexts are checked for age this often */

int cc_sm_watch;

/* The SRTP hooks' side (registered at start-up, before any record reaches the writer). */
static struct cc_sm_hooks hooks;

void cc_sm_set_hooks(const struct cc_sm_hooks *h)
{
	hooks = *h;
}

/* Only the writer's thread (under its drain lock) touches these. */
static struct pending {
	uint64_t key;           /* 0: free */
	uint64_t ts;            /* when protect made it */
	uint32_t keyref;
	size_t len;
	uint8_t *data;          /* inline, or cc_wmem_alloc'd when longer than INLINE_MAX */
	uint8_t inline_data[INLINE_MAX];
} outq[OUT_SIZE];
static int waiting;             /* slots in use */

static struct seen {
	uint64_t key;           /* 0: empty */
	uint64_t ts;            /* when the datagram came */
	struct cc_addr local, peer;
} inq[IN_SIZE];

static uint64_t last_scan;

/*
 * The frame cc_plain_frame() makes for a flow not known yet (unspecified IPv4 addresses), made
 * here field by field: every plaintext of every SRTP call starts so, and the writer's thread
 * puts it on its flow.
 */
static inline void frame_init(struct cc_frame *f, int outgoing)
{
	*f = (struct cc_frame){ .src.family = AF_INET, .dst.family = AF_INET, .proto = IPPROTO_UDP,
				.iface = CC_IF_PLAINTEXT, .outgoing = (uint8_t)outgoing, .ttl = 64,
				.defer = CC_DEFER_SRTP, .pid = cc_pid };
}

__thread struct cc_sm_frames cc_sm_frames __attribute__((tls_model("initial-exec")));

const struct cc_frame *cc_sm_frames_make(int outgoing)
{
	frame_init(&cc_sm_frames.f[0], 0);
	frame_init(&cc_sm_frames.f[1], 1);
	cc_sm_frames.pid = cc_pid;
	return &cc_sm_frames.f[outgoing != 0];
}

/* (Both keep errno: the SRTP hooks return libsrtp's without saving it around these.) */
void cc_sm_plain(int outgoing, const struct cc_sm_tag *t, const void *plain, size_t len)
{
	struct cc_frame f;
	int saved = errno;

	frame_init(&f, outgoing);
	cc_out_tagged_slow(&f, 0, plain, len, t, sizeof(*t));
	errno = saved;
}

void cc_sm_failed(const struct cc_sm_tag *t)
{
	struct cc_frame f;
	int saved = errno;

	frame_init(&f, 0);
	f.hidden = 1;
	cc_out_tagged(&f, cc_now_coarse(), NULL, 0, t, sizeof(*t));
	errno = saved;
}

/* ---- The writer's side ---- */

/* One plaintext on its flow (local NULL: never seen; written marked, counted). */
static int put_plain(struct cc_sink *s, int outgoing, uint32_t keyref, const struct cc_addr *local,
		     const struct cc_addr *peer, const void *plain, size_t len, uint64_t ts)
{
	struct cc_plainflow pf;
	struct cc_frame f;
	char note[256];
	const char *n = "flow unknown";

	memset(&pf, 0, sizeof(pf));
	pf.mapped = 1;
	pf.rtp = 1;
	if (local) {
		pf.proto = IPPROTO_UDP;
		pf.local = *local;
		pf.peer = *peer;
		n = hooks.note && hooks.note(keyref, local, peer, outgoing, note, sizeof(note)) ? note
										       : "flow from SRTP packet";
	}
	cc_plain_frame(&pf, &f, outgoing, IPPROTO_UDP, n);
	if (cc_sink_put(s, &f, ts, plain, len, len, n) < 0)
		return -1;
	if (!local)
		cc_writer_count_unmatched(1);
	return 0;
}

static void forget(struct pending *p)
{
	if (p->data != p->inline_data)
		cc_wmem_free(p->data, p->len);
	p->data = NULL;
	p->key = 0;
	waiting--;
}

/* Writes a waiting plaintext unmatched and frees its slot; -1 (kept) when the sink is full. */
static int give_up(struct cc_sink *s, struct pending *p)
{
	if (put_plain(s, 1, p->keyref, NULL, NULL, p->data, p->len, p->ts) < 0)
		return -1;
	forget(p);
	return 0;
}

/* Plaintexts that waited too long for their datagram, as far as the sink has room. */
static void age_out(struct cc_sink *s, uint64_t now)
{
	/* (Stamps come from several threads' clock reads: not strictly in order.) */
	if (!waiting || now < last_scan + SCAN_NS)
		return;
	for (int i = 0; i < OUT_SIZE; i++)
		if (outq[i].key && now > outq[i].ts + MAX_AGE_NS && give_up(s, &outq[i]) < 0)
			return;         /* the rest at the next scan */
	last_scan = now;
}

static void wait_for_datagram(struct cc_sink *s, const struct cc_deferred *d, const struct cc_sm_tag *t, uint64_t key)
{
	struct pending *slot = NULL, *oldest = NULL;

	for (int n = 0; n < OUT_PROBE && !slot; n++) {
		struct pending *p = &outq[(key + (uint64_t)n) & (OUT_SIZE - 1)];
		if (!p->key)
			slot = p;
		else if (!oldest || p->ts < oldest->ts)
			oldest = p;
	}
	/* No room near the key: the oldest there waits no longer (the sink has room for one). */
	if (!slot) {
		if (give_up(s, oldest) < 0)
			forget(oldest);
		slot = oldest;
	}
	uint8_t *data = d->caplen <= INLINE_MAX ? slot->inline_data : cc_wmem_alloc(d->caplen);
	if (!data) {
		put_plain(s, 1, t->keyref, NULL, NULL, d->payload, d->caplen, d->ts);
		return;
	}
	memcpy(data, d->payload, d->caplen);
	slot->key = key;
	slot->ts = d->ts;
	slot->keyref = t->keyref;
	slot->len = d->caplen;
	slot->data = data;
	waiting++;
}

/* The slot a received packet's flow is kept in: direct-mapped, the newest wins. */
static struct seen *seen_slot(uint64_t key)
{
	return &inq[key & (IN_SIZE - 1)];
}

static struct seen *seen_at(uint64_t key)
{
	struct seen *e = seen_slot(key);

	return e->key == key ? e : NULL;
}

/* A deferred plaintext (or failed unprotect) from the SRTP hooks. */
static void plaintext(struct cc_sink *s, const struct cc_deferred *d)
{
	struct cc_sm_tag t;

	if (d->tag_len != sizeof(t))
		return;
	memcpy(&t, d->tag, sizeof(t));
	uint64_t key = cc_dm_parts_key(&t.key);
	if (d->f->outgoing) {
		wait_for_datagram(s, d, &t, key);
		return;
	}
	struct seen *e = seen_at(key);
	if (t.status) {
		if (hooks.failure)
			hooks.failure(e ? &e->local : NULL, e ? &e->peer : NULL, t.status);
		return;
	}
	/* Written at the time its datagram came. */
	put_plain(s, 0, t.keyref, e ? &e->local : NULL, e ? &e->peer : NULL, d->payload, d->caplen, e ? e->ts : d->ts);
}

/* A datagram on the wire (or unwrapped from a TURN relay): it may carry an SRTP packet. */
static void datagram(struct cc_sink *s, const struct cc_deferred *d)
{
	const struct cc_frame *f = d->f;
	const uint8_t *p = d->payload;
	size_t len = d->caplen;

	if (d->caplen == d->origlen) {
		cc_dm_unwrap_turn(&p, &len);
		/* SRTP and SRTCP: RFC 7983 gives them first bytes 128-191. */
		if (len && p[0] >= 128 && p[0] <= 191) {
			uint64_t key = cc_dm_bytes_key(p, len);
			const struct cc_addr *local = f->outgoing ? &f->src : &f->dst, *peer = f->outgoing ? &f->dst : &f->src;
			if (f->outgoing) {
				for (int n = 0; n < OUT_PROBE && waiting; n++) {
					struct pending *w = &outq[(key + (uint64_t)n) & (OUT_SIZE - 1)];
					/* The plaintext goes out with its datagram, just ahead of it. */
					if (w->key == key) {
						if (put_plain(s, 1, w->keyref, local, peer, w->data, w->len, d->ts) == 0)
							forget(w);
						break;
					}
				}
			} else {
				struct seen *e = seen_slot(key);
				e->key = key;
				e->ts = d->ts;
				e->local = *local;
				e->peer = *peer;
			}
		}
	}
	if (!f->hidden)
		cc_sink_put(s, f, d->ts, d->payload, d->caplen, d->origlen, d->note);
}

/* cc_defer_fn: every deferred record, in ring order; NULL at exit. */
static int handle(const struct cc_deferred *d, struct cc_sink *s)
{
	if (!d) {
		for (int i = 0; i < OUT_SIZE && waiting; i++)
			if (outq[i].key && give_up(s, &outq[i]) < 0)
				return 1;
		return 0;
	}
	if (d->f->defer == CC_DEFER_SRTP)
		plaintext(s, d);
	else
		datagram(s, d);
	/* After the record's own: what ages out takes only the room left. */
	age_out(s, d->ts);
	return 0;
}

void cc_sm_reset(void)
{
	for (int i = 0; i < OUT_SIZE; i++)
		if (outq[i].key)
			forget(&outq[i]);
	memset(inq, 0, sizeof(inq));
	waiting = 0;
	last_scan = 0;
}

void cc_sm_init(void)
{
	cc_writer_set_defer(handle);
}
