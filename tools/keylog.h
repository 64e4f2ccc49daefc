/*
 * keylog.h - the TLS/DTLS secrets `clearcap decrypt` has: NSS key log files (--keylog) and the
 * Decryption Secrets Blocks of the input pcapng.  Kept as text, for the output's Decryption
 * Secrets Block, and as a table of TLS 1.2/DTLS master secrets by client random, for the
 * DTLS-SRTP exporter.
 */
#ifndef CC_KEYLOG_H
#define CC_KEYLOG_H

#include <stddef.h>
#include <stdint.h>

#include "tools/index.h"

struct cc_master {
	uint8_t client_random[32];
	uint8_t secret[48];
};

struct cc_keylog {
	char *text;		/* the key log lines, each once, newline-terminated */
	size_t len, cap;
	size_t lines;
	size_t *line_off;	/* where each line starts in text, to find duplicates */
	size_t capoff;
	struct cc_index line_ix;
	struct cc_master *ms;	/* CLIENT_RANDOM lines */
	size_t nms, capms;
	struct cc_index ms_ix;
};

/* Adds the lines of an NSS key log (comments and blank lines dropped); 0 or -1 (no memory). */
int cc_keylog_add_text(struct cc_keylog *k, const char *text, size_t len);

/* Adds a key log file; 0, or -1 with a one-line reason in err. */
int cc_keylog_load(struct cc_keylog *k, const char *path, char *err, size_t errsize);

/*
 * Adds the TLS key logs in the Decryption Secrets Blocks of a pcapng file (nothing for a pcap
 * file).  Returns the number of blocks found, or -1 with a reason in err.
 */
int cc_keylog_from_pcapng(struct cc_keylog *k, const char *path, char *err, size_t errsize);

/* The master secret logged for this client random, or NULL. */
const uint8_t *cc_keylog_master(const struct cc_keylog *k, const uint8_t client_random[32]);

void cc_keylog_free(struct cc_keylog *k);

#endif /* CC_KEYLOG_H */
