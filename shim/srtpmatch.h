/*
 * SRTP correlation, done on the writer's thread.
 *
 * The SRTP hooks queue each plaintext as a deferred record (pcapout/writer.h) tagged with the
 * bytes its protected packet's key is made of (cc_dm_parts_of; mixed here, cc_dm_parts_key);
 * while SRTP is in use the socket hooks queue every UDP datagram deferred too.  The writer's thread takes records in ring order,
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
#include "pcapout/writer.h"
#include "shim/dtlsmatch.h"
#include "shim/hooks.h"
#include "shim/select.h"

#include <string.h>

/* cc_frame.defer values. */
enum { CC_DEFER_WIRE = 1, CC_DEFER_SRTP = 2 };

/* Set once libsrtp is used: from then on the socket hooks queue UDP datagrams deferred. */
extern int cc_sm_watch;

/* What a plaintext's deferred record carries for the writer's handler (its tag). */
struct cc_sm_tag {
	struct cc_dm_parts key; /* the protected packet's bytes its key is made of (cc_dm_parts_key) */
	uint32_t keyref;        /* the session key's reference, for cc_sm_hooks.note() */
	int32_t status;         /* nonzero: a failed unprotect (hidden, no payload) */
};

/*
 * The frame every plaintext starts with (unspecified IPv4 addresses: the writer puts it on its
 * flow), made once per thread and process (pid 0: not yet): per packet it is copied from here.
 * This thread's own: no other writes it.
 */
struct cc_sm_frames {
	uint32_t pid;
	struct cc_frame f[2];   /* [outgoing] */
};
extern __thread struct cc_sm_frames cc_sm_frames __attribute__((tls_model("initial-exec")));
const struct cc_frame *cc_sm_frames_make(int outgoing);

/*
 * From the SRTP hooks, inline: a slot for a plaintext of len bytes (outgoing: given to protect;
 * incoming: what unprotect made), RTCP if rtcp (by the libsrtp function called: its second byte
 * would take RTP with the marker bit and payload type 64-95 for RTCP).  CC_SM_SLOT: its bytes go
 * to *payload, and cc_sm_commit() publishes it; CC_SM_SLOW: no slot here, cc_sm_plain() queues
 * it; CC_SM_DECLINED: the class selection does not take it (counted).
 */
enum { CC_SM_DECLINED = -1, CC_SM_SLOW = 0, CC_SM_SLOT = 1 };
static inline __attribute__((always_inline)) int cc_sm_take(int outgoing, int rtcp, size_t len, struct cc_slot *slot,
							    uint8_t **payload)
{
	unsigned sel = __atomic_load_n(&cc_sel, __ATOMIC_RELAXED);

	if (__builtin_expect(sel != CC_SEL_ALL, 0) && !cc_sel_takes(sel, CC_SEL_PLAIN | (rtcp ? CC_SEL_RTCP : CC_SEL_RTP))) {
		cc_writer_count_filtered();
		return CC_SM_DECLINED;
	}
	if (__builtin_expect(len > 65535, 0) || !cc_wq_take(sizeof(struct cc_raw_rec) + sizeof(struct cc_sm_tag) + len, slot))
		return CC_SM_SLOW;
	const struct cc_frame *f = __builtin_expect(cc_sm_frames.pid == cc_pid, 1) ? &cc_sm_frames.f[outgoing != 0]
										     : cc_sm_frames_make(outgoing);
	/*
	 * Unstamped: the writer puts a plaintext at its datagram's time, and stamps one it never
	 * matches when it takes it (pcapout's synth_other), so the program's thread reads no clock.
	 */
	*payload = cc_raw_head(slot, f, 0, len, len, 0, sizeof(struct cc_sm_tag)) + sizeof(struct cc_sm_tag);
	return CC_SM_SLOT;
}

/* Publishes a slot cc_sm_take() gave, its bytes copied, with its tag. */
static inline __attribute__((always_inline)) void cc_sm_commit(struct cc_slot *slot, const struct cc_sm_tag *t)
{
	memcpy(slot->data + sizeof(struct cc_raw_rec), t, sizeof(*t));
	cc_ring_commit_raw(slot);
}

/* cc_sm_take()'s CC_SM_SLOW: the plaintext queued the slow way. */
void cc_sm_plain(int outgoing, const struct cc_sm_tag *t, const void *plain, size_t len);

/*
 * From the SRTP hooks: a plaintext p[0..len) with its tag, copied into a ring slot taken inline,
 * or queued the slow way.  (Its bound known, GCC would copy with `rep movsq`, whose start costs
 * more than glibc's memcpy for a packet: the length is made opaque so that memcpy is called.)
 */
static inline __attribute__((always_inline)) void cc_sm_queue(int outgoing, int rtcp, const struct cc_sm_tag *t,
							      const uint8_t *p, size_t len)
{
	struct cc_slot slot;
	uint8_t *to;
	int k = cc_sm_take(outgoing, rtcp, len, &slot, &to);

	if (__builtin_expect(k == CC_SM_SLOT, 1)) {
		size_t n = len;
		__asm__("" : "+r"(n));
		memcpy(to, p, n);
		cc_sm_commit(&slot, t);
	} else if (k == CC_SM_SLOW) {
		cc_sm_plain(outgoing, t, p, len);
	}
}

/* A failed unprotect (t->status: libsrtp's status). */
void cc_sm_failed(const struct cc_sm_tag *t);

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
