/* fuzz_dtls.c - libFuzzer target for decoders/dtls.c. */
#include "decoders/dtls.h"
#include "decoders/hello.h"
#include "tests/fuzz/fuzz_util.h"

static void records(const uint8_t *data, size_t size, int dtls)
{
	struct cc_tls_iter it;
	struct cc_tls_record r;
	struct cc_tls_handshake hs;
	struct cc_tls_alert al;

	cc_tls_iter_init(&it, data, size, dtls);
	while (cc_tls_iter_next(&it, &r) == 1) {
		bytes_in(data, size, r.frag);
		if (dtls ? cc_dtls_handshake(r.frag.p, r.frag.len, &hs) == 0
			 : cc_tls_handshake(r.frag.p, r.frag.len, &hs) == 0)
			bytes_in(data, size, hs.body);
		(void)cc_tls_alert(r.frag.p, r.frag.len, &al);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cc_tls_record r;
	struct cc_tls_hello h;
	struct cc_hello_params hp;
	size_t need;

	records(data, size, 0);
	records(data, size, 1);
	if (cc_tls_record(data, size, &r) == 0)
		bytes_in(data, size, r.frag);
	if (cc_dtls_record(data, size, &r) == 0)
		bytes_in(data, size, r.frag);
	(void)cc_tls_hello(data, size, &h);
	(void)cc_dtls_hello(data, size, &h);
	(void)cc_tls_handshake_start(data, size, 0);
	(void)cc_tls_handshake_start(data, size, 1);
	(void)cc_dtls_hello_params(data, size, &hp);
	if (size > 0)
		(void)cc_hello_params_body(data[0] & 1 ? 1 : 2, data + 1, size - 1, &hp);
	if (cc_tls_record_len(data, size, &need) == 0 && need > size)
		__builtin_trap();
	return 0;
}
