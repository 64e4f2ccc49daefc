/*
 * TURN allocations of this process, for the relay interface; see turn.h.
 *
 * Only the client side unwraps: an allocation is made known by the Allocate request the process
 * sends (RFC 8656 section 7.1) and completed by the success response's XOR-RELAYED-ADDRESS
 * (7.3).  A TURN server under the shim sends and receives the relayed datagrams itself on its
 * relay sockets, so its wire copy is already end to end.  Channels come from the client's
 * ChannelBind requests (section 11.1); Send and Data indications name their peer (10.1, 10.4).
 *
 * The tables are small and fixed; TURN control messages are rare, so a mutex is cheap here.  A
 * thread-local flag keeps a signal handler that sends from re-entering the lock it interrupted.
 */
#include "shim/turn.h"
#include "shim/fdtable.h"
#include "pcapout/lock.h"
#include "shim/ownfd.h"
#include "shim/clock.h"
#include "decoders/stun.h"
#include "pcapout/writer.h"

#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#define ALLOCS 32
#define CHANNELS 32

struct alloc {
	struct cc_addr local, server;
	struct cc_addr relayed;         /* family 0 until the success response */
	int used;
	unsigned nch;
	struct {
		uint16_t num;
		struct cc_addr peer;
	} ch[CHANNELS];
};

static struct alloc tab[ALLOCS];
static unsigned next_victim;
int cc_turn_allocated;                   /* an Allocate was sent: look at ChannelData (atomic) */
static pthread_mutex_t lock = CC_MUTEX_INITIALIZER;

static cc_relay_fn relay_fn;

void cc_turn_set_relay(cc_relay_fn fn)
{
	__atomic_store_n(&relay_fn, fn, __ATOMIC_RELEASE);
}

void cc_turn_init(void)
{
	cc_forklock_add(&lock, CC_RANK_TURN);
}
static __thread int inside;

static int same(const struct cc_addr *a, const struct cc_addr *b)
{
	size_t n = a->family == AF_INET ? 4 : 16;

	return a->family == b->family && a->port == b->port && memcmp(a->ip, b->ip, n) == 0;
}

static void from_stun(struct cc_addr *a, const struct cc_stun_addr *s)
{
	memset(a, 0, sizeof(*a));
	a->family = (uint16_t)s->family;
	a->port = s->port;
	memcpy(a->ip, s->addr, s->family == AF_INET ? 4 : 16);
}

static struct alloc *find(const struct cc_addr *local, const struct cc_addr *server)
{
	for (unsigned i = 0; i < ALLOCS; i++)
		if (tab[i].used && same(&tab[i].server, server) && same(&tab[i].local, local))
			return &tab[i];
	return NULL;
}

static struct alloc *find_or_add(const struct cc_addr *local, const struct cc_addr *server)
{
	struct alloc *a = find(local, server);

	if (a)
		return a;
	for (unsigned i = 0; i < ALLOCS; i++)
		if (!tab[i].used) {
			a = &tab[i];
			break;
		}
	if (!a)
		a = &tab[next_victim++ % ALLOCS];      /* the table is full: the oldest slot goes */
	memset(a, 0, sizeof(*a));
	a->used = 1;
	a->local = *local;
	a->server = *server;
	return a;
}

static void bind_channel(struct alloc *a, uint16_t num, const struct cc_addr *peer)
{
	unsigned i;

	for (i = 0; i < a->nch; i++)
		if (a->ch[i].num == num)
			break;
	if (i == a->nch) {
		if (a->nch == CHANNELS)
			i = num % CHANNELS;
		else
			a->nch++;
	}
	a->ch[i].num = num;
	a->ch[i].peer = *peer;
}

/* A STUN message: learn from TURN control traffic, or unwrap an indication. */
static int stun_message(const uint8_t *p, size_t len, int outgoing, const struct cc_addr *local,
			const struct cc_addr *server, struct cc_relay *out)
{
	struct cc_stun_msg m;
	struct alloc *a;

	if (cc_stun_parse(p, len, &m) != 0)
		return 0;
	switch (m.hdr.method) {
	case CC_STUN_ALLOCATE:
		if (outgoing && m.hdr.cls == CC_STUN_REQUEST) {
			find_or_add(local, server);
			/* The hot lanes let ChannelData by until they hear of it (capture_int.h). */
			if (!__atomic_exchange_n(&cc_turn_allocated, 1, __ATOMIC_RELAXED))
				cc_fd_changed();
		} else if (!outgoing && m.hdr.cls == CC_STUN_SUCCESS && (m.has & CC_STUN_HAS_XOR_RELAYED) &&
			   (a = find(local, server)) != NULL) {
			from_stun(&a->relayed, &m.xor_relayed);
		}
		return 0;
	case CC_STUN_CHANNEL_BIND:
		if (outgoing && m.hdr.cls == CC_STUN_REQUEST && (m.has & CC_STUN_HAS_CHANNEL) &&
		    (m.has & CC_STUN_HAS_XOR_PEER) && (a = find(local, server)) != NULL) {
			struct cc_addr peer;
			from_stun(&peer, &m.xor_peer);
			bind_channel(a, m.channel, &peer);
		}
		return 0;
	case CC_STUN_REFRESH:
		/* RFC 8656 section 7.2: a Refresh with LIFETIME 0 deletes the allocation. */
		if (outgoing && m.hdr.cls == CC_STUN_REQUEST && (m.has & CC_STUN_HAS_LIFETIME) && m.lifetime == 0 &&
		    (a = find(local, server)) != NULL)
			a->used = 0;
		return 0;
	case CC_STUN_SEND:
	case CC_STUN_DATA:
		if (m.hdr.cls != CC_STUN_INDICATION || !(m.has & CC_STUN_HAS_XOR_PEER) || !(m.has & CC_STUN_HAS_DATA))
			return 0;
		if ((m.hdr.method == CC_STUN_SEND) != outgoing)
			return 0;
		a = find(local, server);
		if (!a || !a->relayed.family)
			return 0;
		from_stun(&out->peer, &m.xor_peer);
		out->relayed = a->relayed;
		out->data = m.data.p;
		out->len = m.data.len;
		return 1;
	}
	return 0;
}

static int channel_data(const uint8_t *p, size_t len, const struct cc_addr *local, const struct cc_addr *server,
			struct cc_relay *out)
{
	struct cc_turn_channel cd;
	struct alloc *a;

	if (cc_turn_channel_data(p, len, &cd) != 0)
		return 0;
	a = find(local, server);
	if (!a || !a->relayed.family)
		return 0;
	for (unsigned i = 0; i < a->nch; i++)
		if (a->ch[i].num == cd.channel) {
			out->peer = a->ch[i].peer;
			out->relayed = a->relayed;
			out->data = cd.data.p;
			out->len = cd.data.len;
			return 1;
		}
	return 0;
}

int cc_turn_datagram(const uint8_t *p, size_t len, int outgoing, const struct cc_addr *local,
		     const struct cc_addr *server, struct cc_relay *out)
{
	int r = 0;

	if (!len || inside)
		return 0;
	if (p[0] >= 64) {
		/* ChannelData: nothing to do until this process has allocated. */
		if (!__atomic_load_n(&cc_turn_allocated, __ATOMIC_RELAXED))
			return 0;
	} else {
		/* Only TURN methods matter here; ICE's Binding checks go by without the lock. */
		uint16_t method;
		uint8_t cls;
		if (len < CC_STUN_HDR_LEN || cc_stun_peek(p, len, &method, &cls) < 0)
			return 0;
		if (method < CC_STUN_ALLOCATE || method > CC_STUN_CHANNEL_BIND)
			return 0;
		if (method != CC_STUN_ALLOCATE && !__atomic_load_n(&cc_turn_allocated, __ATOMIC_RELAXED))
			return 0;
	}
	inside = 1;
	cc_lock(&lock);
	if (p[0] >= 64)
		r = channel_data(p, len, local, server, out);
	else
		r = stun_message(p, len, outgoing, local, server, out);
	cc_unlock(&lock);
	inside = 0;
	/* A relayed address and its peer share a family (RFC 8656 section 3.1). */
	if (r && out->relayed.family != out->peer.family)
		r = 0;
	if (r)
		cc_writer_count_relayed();
	return r;
}

/* ---- TURN over TCP ---- */

#define STREAMS 16
#define STREAM_BUF 4096         /* a frame larger than this loses the stream's framing (counted) */

struct stream {
	struct cc_addr local, server;
	int used, lost;
	size_t len[2];
	uint8_t buf[2][STREAM_BUF];
};

static struct stream streams[STREAMS];
int cc_turn_tcp_any;

static struct stream *stream_find(const struct cc_addr *local, const struct cc_addr *server, int add)
{
	struct stream *free_one = NULL;

	for (unsigned i = 0; i < STREAMS; i++) {
		if (streams[i].used && same(&streams[i].server, server) && same(&streams[i].local, local))
			return &streams[i];
		if (!streams[i].used && !free_one)
			free_one = &streams[i];
	}
	if (!add || !free_one)
		return NULL;
	memset(free_one, 0, offsetof(struct stream, buf));
	free_one->used = 1;
	free_one->local = *local;
	free_one->server = *server;
	__atomic_store_n(&cc_turn_tcp_any, 1, __ATOMIC_RELAXED);
	return free_one;
}

/* The stream's first bytes are an Allocate request: this connection goes to a TURN server. */
static int starts_allocate(const struct iovec *iov, int iovcnt, size_t len)
{
	uint8_t h[8], cls;
	uint16_t method;

	if (len < CC_STUN_HDR_LEN || cc_iov_copy(h, iov, iovcnt, 0, sizeof(h)) != sizeof(h))
		return 0;
	return cc_stun_peek(h, sizeof(h), &method, &cls) == 0 && method == CC_STUN_ALLOCATE && cls == CC_STUN_REQUEST;
}

void cc_turn_tcp(const struct iovec *iov, int iovcnt, size_t len, int outgoing, const struct cc_addr *local,
		 const struct cc_addr *server)
{
	struct stream *st;
	uint64_t ts = 0;

	if (inside || !len)
		return;
	inside = 1;
	cc_lock(&lock);
	st = stream_find(local, server, outgoing && starts_allocate(iov, iovcnt, len));
	if (!st || st->lost)
		goto out;
	for (size_t off = 0; off < len;) {
		int d = outgoing ? 0 : 1;
		size_t room = STREAM_BUF - st->len[d], n = len - off < room ? len - off : room;
		size_t flen;

		cc_iov_copy(st->buf[d] + st->len[d], iov, iovcnt, off, n);
		st->len[d] += n;
		off += n;
		for (;;) {
			int rc = cc_turn_tcp_frame(st->buf[d], st->len[d], &flen);
			if (rc == CC_ESHORT && flen <= STREAM_BUF)
				break;
			if (rc != 0) {
				/* Not TURN framing after all, or a frame we cannot hold: stop following. */
				st->lost = 1;
				goto out;
			}
			struct cc_relay rl;
			int r = st->buf[d][0] >= 64
				? channel_data(st->buf[d], flen, local, server, &rl)
				: stun_message(st->buf[d], flen, outgoing, local, server, &rl);
			if (r && rl.relayed.family == rl.peer.family) {
				if (!ts)
					ts = cc_now();
				cc_writer_count_relayed();
				cc_relay_fn fn = __atomic_load_n(&relay_fn, __ATOMIC_ACQUIRE);
				if (fn)
					fn(outgoing, &rl, ts);
			}
			memmove(st->buf[d], st->buf[d] + flen, st->len[d] - flen);
			st->len[d] -= flen;
		}
	}
out:
	cc_unlock(&lock);
	inside = 0;
}
