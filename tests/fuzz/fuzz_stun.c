/* fuzz_stun.c - libFuzzer target for decoders/stun.c (and crc.c). */
#include <sys/socket.h>

#include "decoders/crc.h"
#include "decoders/stun.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cc_stun_hdr h;
	struct cc_stun_iter it;
	struct cc_stun_attr a;
	struct cc_stun_msg m;
	struct cc_stun_addr addr;
	struct cc_bytes reason;
	struct cc_turn_channel cd;
	struct cc_turn_ind ind;
	struct sockaddr_storage ss;
	uint16_t code;
	size_t fl, off;

	if (cc_stun_header(data, size, &h) == 0 && cc_stun_iter_init(&it, data, size) == 0) {
		while (cc_stun_iter_next(&it, &a) == 1) {
			in_input(data, size, a.val, a.len);
			if (cc_stun_attr_addr(&a, &h, &addr) == 0)
				(void)cc_stun_addr_to_sockaddr(&addr, &ss);
			if (cc_stun_attr_error(&a, &code, &reason) == 0)
				bytes_in(data, size, reason);
		}
	}
	if (cc_stun_parse(data, size, &m) == 0) {
		bytes_in(data, size, m.username);
		bytes_in(data, size, m.realm);
		bytes_in(data, size, m.nonce);
		bytes_in(data, size, m.software);
		bytes_in(data, size, m.data);
		bytes_in(data, size, m.error_reason);
		(void)cc_stun_addr_to_sockaddr(&m.xor_mapped, &ss);
	}
	(void)cc_stun_check_fingerprint(data, size);
	if (cc_turn_channel_data(data, size, &cd) == 0)
		bytes_in(data, size, cd.data);
	if (cc_turn_indication(data, size, &ind) == 0)
		bytes_in(data, size, ind.data);

	/* Walk the input as a TURN-over-TCP stream. */
	off = 0;
	while (off < size && cc_turn_tcp_frame(data + off, size - off, &fl) == 0) {
		if (fl == 0 || fl > size - off)
			__builtin_trap();
		off += fl;
	}
	(void)cc_crc32(0, data, size);
	return 0;
}
