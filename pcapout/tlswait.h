/*
 * TLS handshakes waiting for their secrets, on the writer's side.
 *
 * Wireshark decrypts TLS 1.3 only if it reads the client's handshake traffic secret before the
 * ServerHello and its application traffic secret before the client's Finished.  OpenSSL logs the
 * first only once the server's whole first flight is processed (certificate verified) and the
 * second after the Finished was sent, so on a loaded machine a packet can be old enough to write
 * while its secret is still to come.  The writer asks here before it writes a TCP segment: a
 * received ServerHello and a sent ChangeCipherSpec (RFC 8446 appendix D.4, ahead of the encrypted
 * Finished) of a connection whose ClientHello this process sent wait until the secret they need
 * has passed through the writer (CLIENT_HANDSHAKE_TRAFFIC_SECRET, CLIENT_TRAFFIC_SECRET_0, or
 * TLS 1.2's CLIENT_RANDOM for both), at most CC_TW_MAX_NS.  Only the writer's thread calls in,
 * under its drain lock.
 */
#ifndef CC_TLSWAIT_H
#define CC_TLSWAIT_H

#include <stddef.h>
#include <stdint.h>

#include "pcapout/frame.h"

#define CC_TW_MAX_NS 500000000ull

/* Whether the record of frame f (payload: its first caplen bytes), stamped ts, must wait at now. */
int cc_tw_wait(const struct cc_frame *f, const uint8_t *payload, size_t caplen, uint64_t ts, uint64_t now);

/* The key log lines of a Decryption Secrets Block the writer takes (the whole block). */
void cc_tw_secrets(const uint8_t *block, size_t len);

/* Forgets every connection (a forked child: they are its parent's). */
void cc_tw_reset(void);

#endif
