/*
 * TLS handshakes waiting for their secrets; see tlswait.h.
 *
 *   TLS record (RFC 8446 section 5.1):   type(1) version(2) length(2) fragment
 *   ClientHello in it (section 4.1.2):   msg_type=1(1) length(3) legacy_version(2) random(32) ...
 *   ServerHello:                         msg_type=2 (a reader may take the 5-byte header alone)
 *   ChangeCipherSpec record:             type=20 version length=1 value=1
 */
#include "pcapout/tlswait.h"

#include <netinet/in.h>
#include <string.h>

#define SLOTS 64

/*
 * The secrets Wireshark needs, each at its point of the handshake: both handshake traffic secrets
 * at the ServerHello, each side's application secret at that side's Finished.  TLS 1.2's
 * CLIENT_RANDOM is all of them.  HAVE_TLS13: a TLS 1.3 handshake secret passed, so the
 * application secrets are separate lines still to come.
 */
#define HAVE_HS_C   0x01
#define HAVE_HS_S   0x02
#define HAVE_APP_C  0x04
#define HAVE_APP_S  0x08
#define HAVE_TLS13  0x10
#define HAVE_HS     (HAVE_HS_C | HAVE_HS_S)

static struct conn {
	uint64_t key;                   /* the connection's addresses, hashed; 0: free */
	uint8_t random[32];             /* the ClientHello's */
	uint8_t have;                   /* the secrets that have passed: HAVE_* */
	uint8_t server;                 /* the ClientHello was received: we are the server */
	uint64_t ts;                    /* when the ClientHello was sent (for reuse of slots) */
} conns[SLOTS];

/*
 * Secrets whose ClientHello has not been judged yet.  A Decryption Secrets Block jumps the
 * queue: on a fast handshake (loopback: a millisecond) the secret is taken while the ClientHello
 * it belongs to still sits in the hold, so it reaches secret_line before hello() knows the
 * random.  Kept here, the ClientHello finds them; forgotten, its handshake would wait the whole
 * CC_TW_MAX_NS and reach the file late, out of order with the other end's copies.
 */
#define EARLY 32
static struct early {
	uint8_t random[32];
	uint8_t have;                   /* 0: free */
} early[EARLY];
static unsigned early_next;

static void early_add(const uint8_t *random, uint8_t have)
{
	for (int i = 0; i < EARLY; i++)
		if (early[i].have && memcmp(early[i].random, random, 32) == 0) {
			early[i].have |= have;
			return;
		}
	struct early *e = &early[early_next++ % EARLY];   /* the oldest goes */
	memcpy(e->random, random, 32);
	e->have = have;
}

/* What passed already for this random (and forgets it: the connection's slot keeps it now). */
static uint8_t early_take(const uint8_t *random)
{
	for (int i = 0; i < EARLY; i++)
		if (early[i].have && memcmp(early[i].random, random, 32) == 0) {
			uint8_t have = early[i].have;
			early[i].have = 0;
			return have;
		}
	return 0;
}

/* FNV-1a over the local and the peer end, so that both directions find one slot. */
static uint64_t conn_key(const struct cc_addr *local, const struct cc_addr *peer)
{
	const struct cc_addr *e[2] = { local, peer };
	uint64_t h = 14695981039346656037ull;

	for (int k = 0; k < 2; k++) {
		size_t n = e[k]->family == AF_INET6 ? 16 : 4;
		for (size_t i = 0; i < n; i++)
			h = (h ^ e[k]->ip[i]) * 1099511628211ull;
		h = (h ^ (e[k]->port >> 8)) * 1099511628211ull;
		h = (h ^ (e[k]->port & 0xff)) * 1099511628211ull;
	}
	return h ? h : 1;
}

static struct conn *find(uint64_t key)
{
	for (int i = 0; i < SLOTS; i++)
		if (conns[i].key == key)
			return &conns[i];
	return NULL;
}

/* A slot for a new connection: a free one, else the one whose ClientHello is oldest. */
static struct conn *claim(uint64_t key)
{
	struct conn *c = find(key), *old = &conns[0];

	if (c)
		return c;
	for (int i = 0; i < SLOTS; i++) {
		if (!conns[i].key)
			return &conns[i];
		if (conns[i].ts < old->ts)
			old = &conns[i];
	}
	return old;
}

/* Records this connection's ClientHello random (sent or received): its secrets will carry it. */
static void hello(const struct cc_addr *local, const struct cc_addr *peer, const uint8_t *random, int server,
		  uint64_t ts)
{
	uint64_t key = conn_key(local, peer);
	struct conn *c = claim(key);

	if (c->key != key || memcmp(c->random, random, 32) != 0) {
		c->key = key;
		memcpy(c->random, random, 32);
		c->have = early_take(random);
		c->server = (uint8_t)server;
		c->ts = ts;
	}
}

int cc_tw_wait(const struct cc_frame *f, const uint8_t *p, size_t caplen, uint64_t ts, uint64_t now)
{
	if (f->iface != CC_IF_WIRE || caplen < 5)
		return 0;
	/* The record header and where a ClientHello's random sits after it (TLS 5+4+2, DTLS 13+12+2). */
	size_t hdr, at;
	if (f->proto == IPPROTO_TCP && p[1] == 3)
		hdr = 5, at = 11;
	else if (f->proto == IPPROTO_UDP && p[1] == 0xfe && caplen >= 13)
		hdr = 13, at = 27;
	else
		return 0;
	const struct cc_addr *local = f->outgoing ? &f->src : &f->dst, *peer = f->outgoing ? &f->dst : &f->src;

	if (p[0] == 22 && caplen >= at + 32 && p[hdr] == 1) {
		hello(local, peer, p + at, !f->outgoing, ts);
		return 0;
	}
	if (p[0] != 22 && p[0] != 20)
		return 0;
	struct conn *c = find(conn_key(local, peer));
	if (!c)
		return 0;
	int wait, hs = (c->have & HAVE_HS) == HAVE_HS, tls13 = c->have & HAVE_TLS13;
	if (c->server)
		/*
		 * A server logs TLS 1.2's secret only once it has read the client's key exchange, so
		 * the client's second flight (ClientKeyExchange, ChangeCipherSpec, Finished) arrives
		 * before it: received handshake and ChangeCipherSpec records wait for it.  A TLS 1.3
		 * server's own flight (ServerHello to its Finished, one send) waits for its
		 * application secret, which NSS logs only after that send.
		 */
		wait = f->outgoing ? p[0] == 22 && tls13 && !(hs && (c->have & HAVE_APP_S)) : !hs;
	else
		/*
		 * The server's first handshake record, the ServerHello.  OpenSSL reads a record's 5-byte
		 * header and its body in two calls, so a segment may hold the header alone: any
		 * handshake record received before the handshake secrets waits (what follows it waits
		 * behind it).  In TLS 1.3 it waits on for the server's application secret too, which the
		 * client logs once it has read the server's Finished (later segments, behind this one).
		 * Our ChangeCipherSpec waits for our application secret.
		 */
		wait = f->outgoing ? p[0] == 20 && !(c->have & HAVE_APP_C)
				   : p[0] == 22 && (!hs || (tls13 && !(c->have & HAVE_APP_S)));
	return wait && now < ts + CC_TW_MAX_NS;
}

static int hexbyte(const char *s, uint8_t *out)
{
	int v = 0;

	for (int i = 0; i < 2; i++) {
		char ch = s[i];
		int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
			: ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
		if (d < 0)
			return -1;
		v = v << 4 | d;
	}
	*out = (uint8_t)v;
	return 0;
}

/* One NSS key log line: LABEL CLIENT_RANDOM_HEX SECRET_HEX. */
static void secret_line(const char *s, size_t n)
{
	static const struct { const char *label; uint8_t have; } labels[] = {
		{ "CLIENT_RANDOM ", HAVE_HS | HAVE_APP_C | HAVE_APP_S },
		{ "CLIENT_HANDSHAKE_TRAFFIC_SECRET ", HAVE_HS_C | HAVE_TLS13 },
		{ "SERVER_HANDSHAKE_TRAFFIC_SECRET ", HAVE_HS_S | HAVE_TLS13 },
		{ "CLIENT_TRAFFIC_SECRET_0 ", HAVE_APP_C },
		{ "SERVER_TRAFFIC_SECRET_0 ", HAVE_APP_S },
	};
	uint8_t random[32];

	for (size_t k = 0; k < sizeof(labels) / sizeof(labels[0]); k++) {
		size_t l = strlen(labels[k].label);
		if (n < l + 64 || memcmp(s, labels[k].label, l) != 0)
			continue;
		for (int i = 0; i < 32; i++)
			if (hexbyte(s + l + 2 * i, &random[i]) < 0)
				return;
		int found = 0;
		for (int i = 0; i < SLOTS; i++) {
			if (conns[i].key && memcmp(conns[i].random, random, 32) == 0) {
				conns[i].have |= labels[k].have;
				found = 1;
			}
		}
		if (!found)
			early_add(random, labels[k].have);
		return;
	}
}

void cc_tw_secrets(const uint8_t *b, size_t len)
{
	uint32_t type, slen;

	/* A Decryption Secrets Block (pcapng): type 10, length, secrets type, secrets length, data. */
	if (len < 16)
		return;
	memcpy(&type, b, 4);
	memcpy(&slen, b + 12, 4);
	if (type != 0x0000000a || slen > len - 16)
		return;
	const char *s = (const char *)b + 16, *end = s + slen;
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
		secret_line(s, n);
		s += n + 1;
	}
}

void cc_tw_reset(void)
{
	memset(conns, 0, sizeof(conns));
	memset(early, 0, sizeof(early));
}
