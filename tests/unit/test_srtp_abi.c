/*
 * The shim reads libsrtp2's srtp_policy_t without including libsrtp's header (it never links it):
 * this test holds our mirror (shim/srtp_abi.h) against the real header, field by field.
 */
#include "shim/srtp_abi.h"
#include "tests/unit/check_main.h"

#include <check.h>
#include <stddef.h>
#include <stdlib.h>
#include <srtp2/srtp.h>
#include <srtp2/crypto_types.h>

#define SAME(f) ck_assert_uint_eq(offsetof(struct policy2, f), offsetof(srtp_policy_t, f))

START_TEST(policy_layout)
{
	SAME(ssrc);
	SAME(rtp);
	SAME(rtcp);
	SAME(key);
	SAME(keys);
	SAME(num_master_keys);
	SAME(window_size);
	SAME(allow_repeat_tx);
	SAME(next);
	ck_assert_uint_eq(sizeof(struct policy2), sizeof(srtp_policy_t));
	ck_assert_uint_eq(offsetof(struct crypto_policy2, auth_tag_len), offsetof(srtp_crypto_policy_t, auth_tag_len));
	ck_assert_uint_eq(sizeof(struct crypto_policy2), sizeof(srtp_crypto_policy_t));
	ck_assert_int_eq(ssrc_specific, 1);
	ck_assert_int_eq(ssrc_any_inbound, 2);
	ck_assert_int_eq(ssrc_any_outbound, 3);
	ck_assert_int_eq(SRTP_AES_ICM_128, 1);
	ck_assert_int_eq(SRTP_AES_ICM_256, 5);
	ck_assert_int_eq(SRTP_AES_GCM_128, 6);
	ck_assert_int_eq(SRTP_AES_GCM_256, 7);
	ck_assert_int_eq(SRTP_HMAC_SHA1, 3);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("srtp_abi");
	TCase *t = tcase_create("layout");

	tcase_add_test(t, policy_layout);
	suite_add_tcase(s, t);
	return cc_run_suite(s);
}
