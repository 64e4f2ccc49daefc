/*
 * SRTP correlation, done on the writer's thread.
 *
 * The SRTP hooks queue each plaintext as a deferred record (pcapout/writer.h) tagged with the
 * key of its protected packet's exact bytes (cc_dm_bytes_key); while SRTP is in use the socket
 * hooks queue every UDP datagram deferred too.  The writer's thread takes records in ring order,
 * which is the order the calls happened in, and matches them there: an outbound plaintext waits
 * for the datagram that carries its protected bytes and is written just ahead of it, on its
 * 5-tuple and at its time; a received datagram is remembered with its flow until the plaintext
 * unprotect made of it comes.  The program's threads only copy what they saw.  The tables are
 * the writer's own, bounded, aged out; a plaintext whose datagram is never seen is written
 * marked, with unspecified addresses.
 */
#ifndef CC_SRTPMATCH_H
#define CC_SRTPMATCH_H

#include <stddef.h>
#include <stdint.h>

#include "pcapout/frame.h"

/* cc_frame.defer values. */
enum { CC_DEFER_WIRE = 1, CC_DEFER_SRTP = 2 };

/* Set once libsrtp is used: from then on the socket hooks queue UDP datagrams deferred. */
extern int cc_sm_watch;

/*
 * From the SRTP hooks: a plaintext (outgoing: given to protect, which made the packet with this
 * key; incoming: what unprotect made of the packet with this key), RTCP if rtcp (by the libsrtp
 * function called), with its session key's reference (cc_srtp_note).  And a failed unprotect,
 * by libsrtp status.
 */
void cc_sm_plain(int outgoing, int rtcp, uint64_t key, uint32_t keyref, const void *plain, size_t len);
void cc_sm_failed(uint64_t key, int status);

/* Empties the tables (a forked child: what they hold is its parent's to write). */
void cc_sm_reset(void);

/* Registers the handler with the writer. */
void cc_sm_init(void);

/*
 * What the matcher asks the SRTP hooks, on the writer's thread; hook_srtp.c registers them at
 * start-up.  note() writes the key line into buf the first time a session's key is seen on a
 * flow and direction (returns 1), else returns 0.  failure() counts a failed unprotect (local
 * NULL: flow not seen).
 */
struct cc_sm_hooks {
	int (*note)(uint32_t keyref, const struct cc_addr *local, const struct cc_addr *peer, int outgoing,
		    char *buf, size_t size);
	void (*failure)(const struct cc_addr *local, const struct cc_addr *peer, int status);
};
void cc_sm_set_hooks(const struct cc_sm_hooks *h);

#endif
