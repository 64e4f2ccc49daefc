/*
 * The SRTP key log; see srtpkeys.h.
 */
#include "shim/srtpkeys.h"
#include "pcapout/lock.h"
#include "shim/config.h"
#include "shim/ownfd.h"
#include "pcapout/writer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int cc_srtp_profile(unsigned long id, const char **suite, size_t *key_len, size_t *salt_len)
{
	switch (id) {
	case 0x0001: *suite = "AES_CM_128_HMAC_SHA1_80"; *key_len = 16; *salt_len = 14; return 0;
	case 0x0002: *suite = "AES_CM_128_HMAC_SHA1_32"; *key_len = 16; *salt_len = 14; return 0;
	case 0x0007: *suite = "AEAD_AES_128_GCM"; *key_len = 16; *salt_len = 12; return 0;
	case 0x0008: *suite = "AEAD_AES_256_GCM"; *key_len = 32; *salt_len = 12; return 0;
	}
	return -1;
}

size_t cc_base64(const uint8_t *in, size_t n, char *out)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
			     (i + 2 < n ? in[i + 2] : 0);
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? tab[v & 63] : '=';
	}
	out[o] = 0;
	return o;
}

/* CLEARCAP_SRTP_KEYLOG: one of the shim's own descriptors. */
static struct cc_linefile keylog = CC_LINEFILE_INIT("CLEARCAP_SRTP_KEYLOG");

/*
 * Each key line once, naming its flow.  A key can reach us three ways: exported from a DTLS
 * handshake (tls.c: the flow is known unless ICE has not settled), in a libsrtp policy
 * (hook_srtp.c: never a flow; SDES), and with the first packet it protects or unprotects
 * (hook_srtp.c's key_note: the flow that packet moved on).  Janus, say, gives every key all three
 * ways, twice over.  So a line is written only once; a line without a flow ("SRTP ? ? ...") waits
 * for the same key with a flow, which replaces it, and is written as it is only if none comes
 * before the process exits (a key that never protected a packet).
 */
#define LINES_SEEN 256
#define LINES_WAITING 32

static pthread_mutex_t lines_lock = CC_MUTEX_INITIALIZER;
static uint64_t seen[LINES_SEEN];       /* hashes of lines written; ring */
static uint64_t named[LINES_SEEN];      /* hashes of keys written with a flow; ring */
static unsigned nseen, nnamed;
static struct waiting {
	uint64_t key;                   /* hash of "SUITE inline:KEY"; 0: free */
	char line[320];
} waiting[LINES_WAITING];

void cc_srtpkeys_init(void)
{
	cc_linefile_init(&keylog, cc_cfg.srtp_keylog);
	cc_forklock_add(&lines_lock, CC_RANK_KEYLINES);
}

void cc_addr_str(const struct cc_addr *a, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN];

	if (!a || !a->family || !inet_ntop(a->family, a->ip, ip, sizeof(ip))) {
		snprintf(buf, size, "?");
		return;
	}
	snprintf(buf, size, a->family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, a->port);
}

static void write_line(const char *line, int n);

int cc_srtp_crypto(char *buf, size_t size, const char *suite, const uint8_t *key, size_t key_len, const uint8_t *salt,
		   size_t salt_len)
{
	uint8_t ks[64];
	char b64[100];

	if (key_len + salt_len > sizeof(ks))
		return -1;
	memcpy(ks, key, key_len);
	memcpy(ks + key_len, salt, salt_len);
	cc_base64(ks, key_len + salt_len, b64);
	int n = snprintf(buf, size, "%s inline:%s", suite, b64);
	return n > 0 && (size_t)n < size ? 0 : -1;
}

int cc_srtp_line(char *buf, size_t size, const struct cc_addr *local, const struct cc_addr *peer, const char *who,
		 const char *crypto)
{
	char l[64], p[64];

	cc_addr_str(local, l, sizeof(l));
	cc_addr_str(peer, p, sizeof(p));
	int n = snprintf(buf, size, "SRTP %s %s %s %s", l, p, who, crypto);
	return n > 0 && (size_t)n < size ? n : -1;
}

void cc_srtp_keylog(const struct cc_addr *local, const struct cc_addr *peer, int outbound, const char *suite,
		    const uint8_t *key, size_t key_len, const uint8_t *salt, size_t salt_len)
{
	char crypto[136], line[320];
	int saved = errno;

	if (cc_srtp_crypto(crypto, sizeof(crypto), suite, key, key_len, salt, salt_len) == 0 &&
	    cc_srtp_line(line, sizeof(line), local, peer, outbound ? "outbound" : "inbound", crypto) > 0)
		cc_srtp_keylog_line(line);
	errno = saved;
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 14695981039346656037ull;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h ? h : 1;
}

static int in_ring(const uint64_t *ring, uint64_t h)
{
	for (unsigned i = 0; i < LINES_SEEN; i++)
		if (ring[i] == h)
			return 1;
	return 0;
}

/* The key part of "SRTP LOCAL PEER WHO CRYPTO": after the fourth space; NULL if malformed. */
static const char *crypto_of(const char *line)
{
	for (int spaces = 0; *line; line++)
		if (*line == ' ' && ++spaces == 4)
			return line + 1;
	return NULL;
}

static void emit(const char *line)
{
	char buf[320];
	int n = snprintf(buf, sizeof(buf), "%s\n", line);

	write_line(buf, n);
}

void cc_srtp_keylog_line(const char *line)
{
	const char *crypto = crypto_of(line);
	uint64_t h = hash_str(line), key = crypto ? hash_str(crypto) : 0;
	int flowless = strncmp(line, "SRTP ? ? ", 9) == 0;

	cc_lock(&lines_lock);
	if (in_ring(seen, h) || (flowless && key && in_ring(named, key))) {
		cc_unlock(&lines_lock);
		return;
	}
	if (flowless && key) {
		struct waiting *free_slot = NULL;
		for (int i = 0; i < LINES_WAITING; i++) {
			if (waiting[i].key == key) {
				cc_unlock(&lines_lock);
				return;         /* this key waits already */
			}
			if (!waiting[i].key && !free_slot)
				free_slot = &waiting[i];
		}
		if (free_slot && strlen(line) < sizeof(free_slot->line)) {
			free_slot->key = key;
			strcpy(free_slot->line, line);
			cc_unlock(&lines_lock);
			return;
		}
		/* No room to wait: written now, flowless, rather than lost. */
	}
	seen[nseen++ % LINES_SEEN] = h;
	if (!flowless && key) {
		named[nnamed++ % LINES_SEEN] = key;
		for (int i = 0; i < LINES_WAITING; i++)
			if (waiting[i].key == key)
				waiting[i].key = 0;
	}
	emit(line);
	cc_unlock(&lines_lock);
}

void cc_srtpkeys_atfork_child(void)
{
	memset(waiting, 0, sizeof(waiting));
}

void cc_srtpkeys_exit(void)
{
	cc_lock(&lines_lock);
	for (int i = 0; i < LINES_WAITING; i++)
		if (waiting[i].key) {
			waiting[i].key = 0;
			emit(waiting[i].line);
		}
	cc_unlock(&lines_lock);
}

static void write_line(const char *line, int n)
{
	if (n > 0 && n < 320)
		cc_linefile_write(&keylog, line, (size_t)n);
}
