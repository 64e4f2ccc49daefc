/*
 * TLS handshakes waiting for their secrets, on the writer's side.
 *
 * Wireshark decrypts TLS 1.3 only if it reads both handshake traffic secrets before the
 * ServerHello and each side's application secret before that side's Finished.  OpenSSL logs the
 * client's handshake secret only once the server's whole first flight is processed (certificate
 * verified), a client logs the server's application secret once it has read the server's
 * Finished, and NSS's server logs its own after it sent its flight; so on a loaded machine a
 * packet can be old enough to write while its secret is still to come.  The writer asks here
 * before it writes a TCP segment or a DTLS datagram.  Of a connection whose ClientHello this
 * process sent: a received ServerHello waits for the handshake secrets (TLS 1.3: and the
 * server's application secret), a sent ChangeCipherSpec (RFC 8446 appendix D.4, ahead of the
 * encrypted Finished) for the client's application secret.  Of one whose ClientHello it received:
 * received handshake records wait for TLS 1.2's CLIENT_RANDOM, and a sent TLS 1.3 flight for the
 * server's application secret.  What follows a waiting record waits behind it; none waits longer
 * than CC_TW_MAX_NS.  Only the writer's thread calls in, under its drain lock.
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
