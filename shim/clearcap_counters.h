/*
 * The counters page shared between the `clearcap` command and every process it captures.
 *
 * The command creates a 4096-byte file (0600), fills in magic and version, and passes its path in
 * CLEARCAP_COUNTERS.  Each captured process maps it MAP_SHARED once at start-up and its writer
 * thread adds what it wrote or lost with __atomic_fetch_add, so the totals stay right across
 * fork, exec and unrelated processes, and survive a SIGKILL of any of them (the page is the
 * file's).  Fields are only ever added to; a reader takes them with __atomic_load_n.
 */
#ifndef CLEARCAP_COUNTERS_H
#define CLEARCAP_COUNTERS_H

#include <stdint.h>

#define CC_COUNTERS_MAGIC   0x7370616372616c63ULL   /* "clearcaps" little-endian, truncated */
#define CC_COUNTERS_VERSION 1
#define CC_COUNTERS_SIZE    4096

struct cc_counters {
	uint64_t magic;
	uint64_t version;
	uint64_t captured;      /* records written to the capture file */
	uint64_t dropped;       /* records lost: buffer full too long, write error, disk full */
	uint64_t bytes;         /* bytes written to the capture file */
	uint64_t processes;     /* processes that started capturing */
	uint64_t unmatched;     /* plaintext records written without a known flow (marked) */
	uint64_t write_errors;  /* failed writes to the capture file */
	/* plaintext records by how their flow was found: unknown, nested socket call, descriptor
	 * BIO, the SSL's earlier flow, DTLS record match */
	uint64_t plain[5];
	uint64_t srtp_failed;   /* srtp_unprotect(_rtcp) calls that failed (auth, replay, ...) */
	uint64_t filtered;      /* frames the capture filter or class selection declined */
	uint64_t relayed;       /* TURN-relayed datagrams written unwrapped on the relay interface */
	uint64_t names_used;    /* bytes of names[] claimed, including entries that did not fit */
	uint64_t reserved[47];
	/*
	 * The files `clearcap ctl PID reopen FILE` switched processes to, so that the command names
	 * and reads every file of the run: a process claims room with __atomic_fetch_add on
	 * names_used and writes "OFFSET PATH\n", OFFSET being where its records in PATH begin.  An
	 * entry that does not fit is left out; names_used past the end says some were.
	 */
	char names[CC_COUNTERS_SIZE - 64 * 8];
};

_Static_assert(sizeof(struct cc_counters) == CC_COUNTERS_SIZE, "counters page size");

#endif
