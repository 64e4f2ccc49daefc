/*
 * test_decoders.h - shared pieces of the decoder unit tests: one check
 * suite per protocol, and helpers that hand a decoder exactly the bytes it
 * may read (heap copies, so ASan sees any overread).
 */
#ifndef TEST_DECODERS_H
#define TEST_DECODERS_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

Suite *demux_suite(void);
Suite *stun_suite(void);
Suite *dtls_suite(void);
Suite *rtp_suite(void);
Suite *rtcp_suite(void);
Suite *sctp_suite(void);
Suite *rtppayload_suite(void);
Suite *sip_suite(void);
Suite *regress_suite(void);

/* A malloc'd copy of p[0..len) with nothing readable past its end. */
uint8_t *tight_copy(const uint8_t *p, size_t len);

/* Read tests/data/<name> into a malloc'd buffer; aborts the test if absent. */
uint8_t *load_fixture(const char *name, size_t *len);

#endif
