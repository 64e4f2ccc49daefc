/*
 * heprelay.h - the wrapper's relay of HEP over TLS to the collector (tools/heprelay.c).
 */
#ifndef CC_HEPRELAY_H
#define CC_HEPRELAY_H

#include <stddef.h>
#include <stdint.h>

struct cc_heprelay;

struct cc_heprelay_stats {
	uint64_t relayed, dropped;      /* whole HEP packets */
	char why[200];                  /* the first failure, or "" */
};

/*
 * Starts the relay to spec ("HOST:PORT", HOST a name or address, [v6] allowed): a loopback
 * listener whose address goes into url ("tcp:127.0.0.1:PORT", for CLEARCAP_HEP) and a thread
 * forwarding to the collector over TLS, verified against ca (NULL: the system's CAs) unless
 * insecure.  NULL with err set when it cannot start.
 */
struct cc_heprelay *cc_heprelay_start(const char *spec, const char *ca, int insecure, char *url, size_t ulen,
				      char *err, size_t elen);

/* After the program: forwards what its processes still send (2 s at most), then stops. */
void cc_heprelay_stop(struct cc_heprelay *r, struct cc_heprelay_stats *st);

#endif
