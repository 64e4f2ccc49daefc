/* fuzz_sctp.c - libFuzzer target for decoders/sctp.c (and crc.c). */
#include <stdlib.h>
#include <string.h>

#include "decoders/sctp.h"
#include "tests/fuzz/fuzz_util.h"

static void chunk(const uint8_t *data, size_t size, const struct cc_sctp_chunk *ch)
{
	struct cc_sctp_data d;
	struct cc_sctp_init init;
	struct cc_sctp_param_iter pit;
	struct cc_sctp_param prm;
	struct cc_sctp_sack sack;
	struct cc_sctp_fwd_tsn fwd;
	struct cc_dcep dc;
	struct cc_bytes b;
	uint16_t s, e;
	uint32_t v;
	uint8_t t;

	bytes_in(data, size, ch->value);
	if (cc_sctp_data(ch, &d) == 0) {
		bytes_in(data, size, d.user_data);
		if (cc_dcep(d.user_data.p, d.user_data.len, &dc) == 0) {
			bytes_in(data, size, dc.label);
			bytes_in(data, size, dc.protocol);
		}
	}
	if (cc_sctp_init(ch, &init) == 0) {
		cc_sctp_param_iter_init(&pit, &init.params);
		while (cc_sctp_param_next(&pit, &prm) == 1)
			bytes_in(data, size, prm.value);
	}
	if (cc_sctp_sack(ch, &sack) == 0) {
		for (unsigned i = 0; i <= sack.num_gaps; i++)
			(void)cc_sctp_sack_gap(&sack, i, &s, &e);
		for (unsigned i = 0; i <= sack.num_dups; i++)
			(void)cc_sctp_sack_dup(&sack, i, &v);
	}
	(void)cc_sctp_shutdown(ch, &v);
	if (cc_sctp_heartbeat(ch, &b) == 0)
		bytes_in(data, size, b);
	if (cc_sctp_abort(ch, &t, &b) == 0)
		bytes_in(data, size, b);
	if (cc_sctp_cookie_echo(ch, &b) == 0)
		bytes_in(data, size, b);
	if (cc_sctp_forward_tsn(ch, &fwd) == 0)
		bytes_in(data, size, fwd.streams);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cc_sctp_iter it;
	struct cc_sctp_chunk ch;
	struct cc_sctp_hdr h;
	struct cc_dcep dc;
	uint8_t *copy;

	if (cc_sctp_header(data, size, &h) == 0)
		bytes_in(data, size, h.chunks);
	if (cc_sctp_iter_init(&it, data, size) == 0)
		while (cc_sctp_next(&it, &ch) == 1)
			chunk(data, size, &ch);
	(void)cc_dcep(data, size, &dc);
	(void)cc_sctp_verify_checksum(data, size);

	/* set_checksum writes; give it a copy and check the round trip. */
	copy = malloc(size ? size : 1);
	if (copy == NULL)
		return 0;
	if (size)
		memcpy(copy, data, size);
	if (cc_sctp_set_checksum(copy, size) == 0 && cc_sctp_verify_checksum(copy, size) != 0)
		__builtin_trap();
	free(copy);
	return 0;
}
