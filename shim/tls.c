/*
 * The generic half of TLS and DTLS capture, shared by every library's adapter; see tls.h.
 */
#include "shim/tls.h"
#include "pcapout/lock.h"
#include "shim/config.h"
#include "shim/dtlsmatch.h"
#include "shim/hooks.h"
#include "shim/ownfd.h"
#include "shim/srtpkeys.h"
#include "pcapout/writer.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

/* Every adapter's start-up: a new library is a new file and one line here. */
static void (*const adapters[])(void) = {
	cc_tls_openssl_init,
	cc_tls_gnutls_init,
	cc_tls_nss_init,
	cc_tls_mbedtls_init,
	cc_tls_wolfssl_init,
};

/* ---- Per-session state: the flow its plaintext belongs to ---- */

#define SESSTAB_SIZE 16384u
#define TOMB ((const void *)1)

enum method { M_NONE, M_NESTED, M_FD, M_LAST, M_RECORD };    /* cc_counters.plain's order */
static const char *const method_note[] = { "flow unknown", "flow from nested socket call",
					   "flow from descriptor", "flow from earlier record",
					   "flow from DTLS record" };

struct sessent {
	const void *sess;       /* NULL free, TOMB deleted */
	const struct cc_tls_lib *lib;
	void *user;             /* the adapter's own pointer (cc_tls_user_set) */
	uint8_t srtp_pending;   /* DTLS-SRTP keys exported, not yet logged */
	uint8_t srtp_inherited; /* ... by the process this one was forked from (cc_tls_atfork_child) */
	uint8_t srtp_server;
	uint16_t srtp_profile;
	uint8_t srtp_km[CC_TLS_SRTP_KM_MAX];
	struct cc_plainflow pf;
};

static struct sessent *sesstab;
static pthread_mutex_t sesstab_lock = CC_MUTEX_INITIALIZER;
static int srtp_waited;         /* some session's keys were ever pending: a fork child looks */

static unsigned slot_of(const void *sess)
{
	uintptr_t v = (uintptr_t)sess;

	v ^= v >> 17;
	v *= 0x9e3779b97f4a7c15ull;
	return (unsigned)(v >> 40) & (SESSTAB_SIZE - 1);
}

/* The entry for sess (created if `create`); the caller holds sesstab_lock. */
static struct sessent *ent_get(const void *sess, int create)
{
	struct sessent *tomb = NULL;

	if (!sesstab) {
		if (!create)
			return NULL;
		void *p = mmap(NULL, SESSTAB_SIZE * sizeof(struct sessent), PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
		sesstab = p;
	}
	for (unsigned i = 0, s = slot_of(sess); i < SESSTAB_SIZE; i++, s = (s + 1) & (SESSTAB_SIZE - 1)) {
		struct sessent *e = &sesstab[s];
		if (e->sess == sess)
			return e;
		if (e->sess == TOMB && !tomb)
			tomb = e;
		if (!e->sess) {
			if (!create)
				return NULL;
			e = tomb ? tomb : e;
			memset(e, 0, sizeof(*e));
			e->sess = sess;
			return e;
		}
	}
	if (create && tomb) {
		memset(tomb, 0, sizeof(*tomb));
		tomb->sess = sess;
		return tomb;
	}
	return NULL;
}

/* As ent_get(create), noting the library of a new entry (an entry made by a matched record has none yet). */
static struct sessent *ent_of(const struct cc_tls_lib *lib, const void *sess)
{
	struct sessent *e = ent_get(sess, 1);

	if (e && lib)
		e->lib = lib;
	return e;
}

/*
 * The DTLS-SRTP master keys of this session (RFC 5764 section 4.2: client key, server key,
 * client salt, server salt), one line per direction, on the flow if known by now.  Caller holds
 * the lock.
 */
static void srtp_log(struct sessent *e)
{
	const char *suite;
	size_t kl, sl;
	const uint8_t *km = e->srtp_km;
	int known = e->pf.proto != 0;

	e->srtp_pending = e->srtp_inherited = 0;
	if (cc_srtp_profile(e->srtp_profile, &suite, &kl, &sl) < 0)
		return;
	const uint8_t *ck = km, *sk = km + kl, *cs = km + 2 * kl, *ss = km + 2 * kl + sl;
	for (int out = 1; out >= 0; out--) {
		int client_side = e->srtp_server ? !out : out;   /* whose write keys this direction uses */
		cc_srtp_keylog(known ? &e->pf.local : NULL, known ? &e->pf.peer : NULL, out, suite,
			       client_side ? ck : sk, kl, client_side ? cs : ss, sl);
	}
}

/* Whether this process owes the session's DTLS-SRTP keys a line (see cc_tls_atfork_child). */
static int keys_owed(const struct sessent *e)
{
	return e->srtp_pending && !e->srtp_inherited;
}

/*
 * Sessions on a memory transport over TCP waiting to be seen on the wire: the first bytes their
 * handshake left in the transport (a record header and 19 bytes of a hello, its random among
 * them: no other session's), looked for in what TCP sockets send while any waits.  Few and
 * short-lived: a full table gives one up.  Under sesstab_lock.
 */
static void set_flow(struct sessent *e, const struct cc_nest *n);

#define WIRE_KEYS 16
#define WIRE_KEY_LEN 24
#define WIRE_WAIT_NS 10000000000ull      /* a key not seen in 10 s is let go (not over TCP, say) */
static struct wirekey {
	const struct cc_tls_lib *lib;
	const void *sess;
	uint64_t at;
	uint8_t key[WIRE_KEY_LEN];
} wirekeys[WIRE_KEYS];
static unsigned wire_next;
static int wire_waiting;                /* entries in use (atomic: read unlocked per send) */

static void wire_forget(struct wirekey *w)
{
	w->sess = NULL;
	if (__atomic_sub_fetch(&wire_waiting, 1, __ATOMIC_RELAXED) == 0)
		__atomic_store_n(&cc_tcp_sent_watch, NULL, __ATOMIC_RELEASE);
}

/* What a TCP send moved: len bytes from the start of iov (the kernel read no further). */
static void wire_sent(const struct cc_fd *fe, const struct iovec *iov, int iovcnt, size_t len)
{
	if (!__atomic_load_n(&wire_waiting, __ATOMIC_RELAXED))
		return;
	int saved = errno;
	/*
	 * Never waited for: a signal handler's send while its thread holds the lock (inside a TLS
	 * hook) would wait forever.  Busy, this send is not looked at; the session's next is.
	 */
	if (cc_trylock(&sesstab_lock) != 0) {
		errno = saved;
		return;
	}
	uint64_t now = cc_now();
	for (unsigned k = 0; k < WIRE_KEYS; k++)
		if (wirekeys[k].sess && now - wirekeys[k].at > WIRE_WAIT_NS)
			wire_forget(&wirekeys[k]);
	for (int i = 0; i < iovcnt && len > 0; i++) {
		size_t moved = iov[i].iov_len < len ? iov[i].iov_len : len;
		len -= moved;
		for (unsigned k = 0; k < WIRE_KEYS && moved >= WIRE_KEY_LEN; k++) {
			struct wirekey *w = &wirekeys[k];
			if (!w->sess || !memmem(iov[i].iov_base, moved, w->key, WIRE_KEY_LEN))
				continue;
			struct cc_nest n = { .seen = 1, .proto = IPPROTO_TCP,
					     .passive = (fd_flags(fe) & FDF_ACCEPTED) != 0,
					     .isn_gen = fe->isn_gen, .local = fe->local, .peer = fe->peer };
			struct sessent *e = ent_of(w->lib, w->sess);
			if (e)
				set_flow(e, &n);
			wire_forget(w);
		}
	}
	cc_unlock(&sesstab_lock);
	errno = saved;
}

/* TLS 1.3's HelloRetryRequest: a ServerHello whose random is this fixed value (RFC 8446 4.1.3). */
static int is_hrr(const uint8_t *d, size_t n)
{
	static const uint8_t hrr[13] = { 0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e };

	return n >= 11 + sizeof(hrr) && d[0] == 22 && d[5] == 2 && memcmp(d + 11, hrr, sizeof(hrr)) == 0;
}

void cc_tls_wire_expect(const struct cc_tls_lib *lib, const void *sess, const uint8_t *d, size_t n)
{
	/* (A HelloRetryRequest's first bytes are every HRR's: the session's next flight is keyed.) */
	if (n < WIRE_KEY_LEN || is_hrr(d, n))
		return;
	cc_lock(&sesstab_lock);
	struct sessent *e = ent_of(lib, sess);
	if (!e || e->pf.proto) {
		cc_unlock(&sesstab_lock);       /* its flow is known already */
		return;
	}
	/* Its own slot, else a free one, else one that waits goes. */
	struct wirekey *w = NULL, *free_slot = NULL;
	for (unsigned k = 0; k < WIRE_KEYS && !w; k++) {
		if (wirekeys[k].sess == sess)
			w = &wirekeys[k];
		else if (!wirekeys[k].sess && !free_slot)
			free_slot = &wirekeys[k];
	}
	if (!w)
		w = free_slot ? free_slot : &wirekeys[wire_next++ % WIRE_KEYS];
	if (!w->sess)
		__atomic_add_fetch(&wire_waiting, 1, __ATOMIC_RELAXED);
	w->lib = lib;
	w->sess = sess;
	w->at = cc_now();
	memcpy(w->key, d, WIRE_KEY_LEN);
	__atomic_store_n(&cc_tcp_sent_watch, wire_sent, __ATOMIC_RELEASE);
	cc_unlock(&sesstab_lock);
}

void cc_tls_drop(const void *sess)
{
	cc_lock(&sesstab_lock);
	struct sessent *e = ent_get(sess, 0);
	if (e) {
		if (keys_owed(e))
			srtp_log(e);
		e->sess = TOMB;
	}
	for (unsigned k = 0; k < WIRE_KEYS; k++)
		if (wirekeys[k].sess == sess)
			wire_forget(&wirekeys[k]);
	cc_unlock(&sesstab_lock);
}

void cc_tls_exit(void)
{
	cc_lock(&sesstab_lock);
	for (unsigned i = 0; sesstab && i < SESSTAB_SIZE; i++)
		if (sesstab[i].sess && sesstab[i].sess != TOMB && keys_owed(&sesstab[i]))
			srtp_log(&sesstab[i]);
	cc_unlock(&sesstab_lock);
}

/*
 * In a forked child: keys still waiting for their flow are the parent's to log, at the flow or
 * at its exit.  The child logs them only if it goes on with the session itself and so finds the
 * flow (the daemon's fork, whose parent leaves by _exit); not when it frees the session or exits,
 * as a short-lived child does, which would write the parent's line once more per child.
 */
void cc_tls_atfork_child(void)
{
	if (!__atomic_load_n(&srtp_waited, __ATOMIC_RELAXED))
		return;
	for (unsigned i = 0; sesstab && i < SESSTAB_SIZE; i++)
		if (sesstab[i].srtp_pending)
			sesstab[i].srtp_inherited = 1;
}

void cc_tls_srtp_keys(const struct cc_tls_lib *lib, const void *sess, unsigned long profile, int server,
		      const uint8_t *km, size_t len)
{
	const char *suite;
	size_t kl, sl;

	if (len > CC_TLS_SRTP_KM_MAX || cc_srtp_profile(profile, &suite, &kl, &sl) < 0 || len != 2 * (kl + sl))
		return;
	cc_lock(&sesstab_lock);
	struct sessent *e = ent_of(lib, sess);
	if (e) {
		memcpy(e->srtp_km, km, len);
		e->srtp_profile = (uint16_t)profile;
		e->srtp_server = server != 0;
		e->srtp_pending = 1;
		e->srtp_inherited = 0;
		if (e->pf.proto)
			srtp_log(e);
		else
			__atomic_store_n(&srtp_waited, 1, __ATOMIC_RELAXED);
	}
	cc_unlock(&sesstab_lock);
}

int cc_tls_user_set(const struct cc_tls_lib *lib, const void *sess, void *p)
{
	cc_lock(&sesstab_lock);
	struct sessent *e = ent_of(lib, sess);
	if (e)
		e->user = p;
	cc_unlock(&sesstab_lock);
	return e ? 0 : -1;
}

void *cc_tls_user_get(const void *sess)
{
	void *p = NULL;

	cc_lock(&sesstab_lock);
	struct sessent *e = ent_get(sess, 0);
	if (e)
		p = e->user;
	cc_unlock(&sesstab_lock);
	return p;
}

/* ---- Flows ---- */

/* The flow of a transport descriptor, when it is a connected socket. */
static int flow_from_fd(int fd, struct cc_plainflow *pf)
{
	struct cc_fd *e;

	if (fd < 0 || !(e = cc_classify(fd)) || !(fd_flags(e) & FDF_PEER) || !(fd_flags(e) & FDF_LOCAL))
		return -1;
	pf->proto = fd_kind(e) == FDK_TCP ? IPPROTO_TCP : IPPROTO_UDP;
	pf->passive = (fd_flags(e) & FDF_ACCEPTED) != 0;
	pf->isn_gen = e->isn_gen;
	pf->local = e->local;
	pf->peer = e->peer;
	pf->local.family = pf->peer.family;
	return 0;
}

static int same_flow(const struct cc_plainflow *pf, const struct cc_nest *n)
{
	return pf->proto == n->proto && pf->isn_gen == n->isn_gen &&
	       memcmp(&pf->local, &n->local, sizeof(n->local)) == 0 && memcmp(&pf->peer, &n->peer, sizeof(n->peer)) == 0;
}

/* A new flow (ICE switched pairs, a reconnect) starts a new plaintext stream. */
static void set_flow(struct sessent *e, const struct cc_nest *n)
{
	if (same_flow(&e->pf, n))
		return;
	memset(&e->pf, 0, sizeof(e->pf));
	e->pf.proto = n->proto;
	e->pf.passive = n->passive;
	e->pf.isn_gen = n->isn_gen;
	e->pf.local = n->local;
	e->pf.peer = n->peer;
}

void cc_tls_handshake_flow(const struct cc_tls_lib *lib, const void *sess, const struct cc_nest *nest)
{
	cc_lock(&sesstab_lock);
	struct sessent *e = ent_of(lib, sess);
	if (e) {
		set_flow(e, nest);
		if (e->srtp_pending)
			srtp_log(e);
	}
	cc_unlock(&sesstab_lock);
}

void cc_tls_plain(const struct cc_tls_lib *lib, const void *sess, const struct cc_nest *nest,
		  const struct cc_nest *rec, int outgoing, const void *buf, size_t n, uint64_t ts)
{
	enum method m = M_NONE;
	struct sessent *e;
	const char *note;

	cc_lock(&sesstab_lock);
	e = ent_of(lib, sess);
	if (!e) {
		cc_unlock(&sesstab_lock);
		return;
	}
	if (nest && nest->seen) {
		set_flow(e, nest);
		m = M_NESTED;
	} else if (rec) {
		set_flow(e, rec);
		m = M_RECORD;
	} else if (e->pf.proto) {
		m = M_LAST;
	} else if (e->lib && e->lib->fd && flow_from_fd(e->lib->fd(sess, outgoing), &e->pf) == 0) {
		m = M_FD;
	}
	e->srtp_inherited = 0;          /* this process goes on with the session: its keys are its */
	if (m == M_NONE)
		cc_writer_count_unmatched(1);
	cc_writer_count_plain(m);       /* same order as cc_counters.plain */
	note = m == M_FD && e->lib->fd_note ? e->lib->fd_note : method_note[m];
	cc_cap_plain(&e->pf, outgoing, buf, n, note, ts);
	if (e->srtp_pending && m != M_NONE)
		srtp_log(e);            /* the keys waited for the flow they belong to */
	/* The flow stays known for later calls that move no wire packet of their own. */
	if (m == M_NONE)
		e->pf.proto = 0;
	cc_unlock(&sesstab_lock);
}

void cc_tls_read_plain(const struct cc_tls_lib *lib, const void *sess, const struct cc_nest *nest, uint64_t key,
		       const void *buf, size_t n)
{
	struct cc_nest rec = { .seen = 1, .proto = IPPROTO_UDP };
	uint64_t ts = 0;

	if (!key)
		key = nest->in_key;     /* a transport callback handed over the record */
	/* Matched by record: written at the time its datagram came, like SRTP's plaintext. */
	if (!nest->seen && key && cc_dm_inbound_flow(key, &rec.local, &rec.peer, &ts) == 0)
		cc_tls_plain(lib, sess, nest, &rec, 0, buf, n, ts);
	else
		cc_tls_plain(lib, sess, nest, NULL, 0, buf, n, 0);
}

void cc_tls_expect(const struct cc_tls_lib *lib, const void *sess, uint64_t key, const void *buf, size_t n)
{
	cc_lock(&sesstab_lock);
	ent_of(lib, sess);              /* so a timed-out match still knows the session's library */
	cc_unlock(&sesstab_lock);
	cc_dm_expect(sess, key, buf, n);
}

/* dtlsmatch's handler: a waiting plaintext met its datagram (or timed out: local NULL, ts 0). */
static void matched(const void *sess, const struct cc_addr *local, const struct cc_addr *peer, const void *plain,
		    size_t len, uint64_t ts)
{
	struct cc_nest rec = { .seen = 1, .proto = IPPROTO_UDP };

	if (local) {
		rec.local = *local;
		rec.peer = *peer;
	}
	cc_tls_plain(NULL, sess, NULL, local ? &rec : NULL, 1, plain, len, ts);
}

void cc_tls_fin(const void *sess, int outgoing, const char *note)
{
	cc_lock(&sesstab_lock);
	struct sessent *e = ent_get(sess, 0);
	if (e)
		cc_plain_fin(&e->pf, outgoing, note);
	cc_unlock(&sesstab_lock);
}

/* ---- Secrets ---- */

/* CLEARCAP_KEYLOG: the NSS key log file, one of the shim's own descriptors. */
static struct cc_linefile keylog = CC_LINEFILE_INIT("CLEARCAP_KEYLOG");

void cc_tls_keylog_line(const char *line)
{
	int saved = errno;
	char buf[1024];
	size_t n = strlen(line);

	if (n < sizeof(buf) - 1 && cc_tls_capturing()) {
		memcpy(buf, line, n);
		buf[n++] = '\n';
		cc_linefile_write(&keylog, buf, n);
		cc_out_dsb(buf, n);
	}
	errno = saved;
}

void cc_tls_keylog_secret(const char *label, const uint8_t *client_random, size_t crlen, const uint8_t *secret,
			  size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char line[1024];
	size_t n = strlen(label);

	if (n + 2 * crlen + 2 * len + 3 > sizeof(line))
		return;
	memcpy(line, label, n);
	line[n++] = ' ';
	for (size_t i = 0; i < crlen; i++) {
		line[n++] = hex[client_random[i] >> 4];
		line[n++] = hex[client_random[i] & 15];
	}
	line[n++] = ' ';
	for (size_t i = 0; i < len; i++) {
		line[n++] = hex[secret[i] >> 4];
		line[n++] = hex[secret[i] & 15];
	}
	line[n] = 0;
	cc_tls_keylog_line(line);
}

void cc_tls_init(void)
{
	cc_linefile_init(&keylog, cc_cfg.keylog);
	cc_forklock_add(&sesstab_lock, CC_RANK_SSL);
	cc_dm_on_matched(matched);
	for (size_t i = 0; i < sizeof(adapters) / sizeof(adapters[0]); i++)
		adapters[i]();
}
