/* Progress/result reports and reason codes: round trips, strict decoding, the reason
 * table and the tfp_err -> reason mapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "msg_testutil.h"
#include "tinyfleet/protocol/msg_report.h"

static uint8_t enc[MT_BUF];
static size_t enc_len;
static struct tfp_report dec_r;

static int
dec(const uint8_t *buf, size_t len)
{
	return tfp_report_decode(buf, len, &dec_r);
}

static void
round_trip(const struct tfp_report *r)
{
	struct tfp_report out;
	uint8_t again[TFP_REPORT_WIRE_MAX];
	size_t again_len;

	assert_int_equal(tfp_report_encode(r, enc, sizeof(enc), &enc_len), 0);
	assert_true(enc_len <= TFP_REPORT_WIRE_MAX);
	assert_int_equal(tfp_report_decode(enc, enc_len, &out), 0);
	assert_memory_equal(&out, r, sizeof(out));
	assert_int_equal(tfp_report_encode(&out, again, sizeof(again), &again_len), 0);
	assert_int_equal(again_len, enc_len);
	assert_memory_equal(again, enc, enc_len);
}

static void
expect(const struct mt_map *base, uint64_t key, const void *val, size_t len, int want)
{
	struct mt_map m = *base;
	mt_set(&m, key, val, len);
	assert_int_equal(mt_decode_map(dec, &m), want);
}

static void
test_round_trips(void **state)
{
	struct tfp_report r;
	size_t need;
	(void)state;

	mt_sample_progress(&r);
	round_trip(&r);
	mt_sample_result_ok(&r);
	round_trip(&r);
	mt_sample_result_fail(&r);
	round_trip(&r);
	assert_int_equal(tfp_report_encode(&r, NULL, 0, &need), TFP_ERR_BUFFER);
	assert_int_equal(need, enc_len);

	/* The widest report fits TFP_REPORT_WIRE_MAX. */
	mt_sample_result_fail(&r);
	r.command_id = UINT64_MAX;
	r.has_bytes = true;
	r.bytes_done = r.bytes_total = UINT32_MAX;
	r.outcome = TFP_OUTCOME_REVERTED;
	r.reason = TFP_REASON_CRASH_BEFORE_CONFIRM;
	r.error = INT32_MIN;
	round_trip(&r);
	printf("largest report: %zu bytes (TFP_REPORT_WIRE_MAX %d)\n", enc_len,
	       TFP_REPORT_WIRE_MAX);

	/* Every phase, and every reason with an outcome that agrees with it. */
	for (int ph = 0; ph <= TFP_PHASE_MAX; ph++) {
		mt_sample_progress(&r);
		r.phase = (enum tfp_phase)ph;
		round_trip(&r);
	}
	for (int reason = 0; reason < 256; reason++) {
		if (!tfp_reason_is_known(reason))
			continue;
		mt_sample_result_fail(&r);
		r.reason = (enum tfp_reason)reason;
		r.outcome = tfp_reason_is_success(reason) ? TFP_OUTCOME_OK : TFP_OUTCOME_FAILED;
		round_trip(&r);
	}
}

static void
test_encoder_refuses_invalid_struct(void **state)
{
	struct tfp_report r;
	size_t len;
	(void)state;

	mt_sample_progress(&r);
	r.bytes_done = r.bytes_total + 1;
	assert_int_equal(tfp_report_encode(&r, enc, sizeof(enc), &len), TFP_ERR_ARG);
	mt_sample_progress(&r);
	r.has_bytes = false;
	assert_int_equal(tfp_report_encode(&r, enc, sizeof(enc), &len), TFP_ERR_ARG);
	mt_sample_progress(&r);
	r.phase = (enum tfp_phase)(TFP_PHASE_MAX + 1);
	assert_int_equal(tfp_report_encode(&r, enc, sizeof(enc), &len), TFP_ERR_ARG);
	mt_sample_result_fail(&r);
	r.outcome = TFP_OUTCOME_OK;    /* with a failure reason */
	assert_int_equal(tfp_report_encode(&r, enc, sizeof(enc), &len), TFP_ERR_ARG);
	mt_sample_result_ok(&r);
	r.outcome = TFP_OUTCOME_FAILED;   /* with a success reason */
	assert_int_equal(tfp_report_encode(&r, enc, sizeof(enc), &len), TFP_ERR_ARG);
	mt_sample_result_fail(&r);
	r.reason = (enum tfp_reason)4;
	assert_int_equal(tfp_report_encode(&r, enc, sizeof(enc), &len), TFP_ERR_ARG);
	mt_sample_result_fail(&r);
	r.error = 0;
	assert_int_equal(tfp_report_encode(&r, enc, sizeof(enc), &len), TFP_ERR_ARG);
	mt_sample_result_fail(&r);
	r.type = TFP_MSG_STATE;
	assert_int_equal(tfp_report_encode(&r, enc, sizeof(enc), &len), TFP_ERR_ARG);
}

static void
test_progress_strict(void **state)
{
	struct tfp_report r;
	struct mt_map base;
	(void)state;

	mt_sample_progress(&r);
	assert_int_equal(tfp_report_encode(&r, enc, sizeof(enc), &enc_len), 0);
	mt_check_strict(dec, enc, enc_len, 0x1f, TFP_MSG_PROGRESS);
	mt_split(enc, enc_len, &base);
	expect(&base, 2, "\x09", 1, TFP_ERR_RANGE);                  /* phase */
	expect(&base, 3, "\x19\x07\x56", 3, TFP_ERR_RANGE);          /* 1878 > 1877 */
	expect(&base, 3, "\x19\x07\x55", 3, 0);
	expect(&base, 4, "\x1b\0\0\0\1\0\0\0\0", 9, TFP_ERR_RANGE);
	/* Result keys in a progress report. */
	expect(&base, 5, "\x00", 1, TFP_ERR_UNKNOWN_FIELD);
	expect(&base, 6, "\x00", 1, TFP_ERR_UNKNOWN_FIELD);
	expect(&base, 7, "\x20", 1, TFP_ERR_UNKNOWN_FIELD);
}

static void
test_result_strict(void **state)
{
	struct tfp_report r;
	struct mt_map base, m;
	(void)state;

	mt_sample_result_ok(&r);
	assert_int_equal(tfp_report_encode(&r, enc, sizeof(enc), &enc_len), 0);
	mt_check_strict(dec, enc, enc_len, 0x67, TFP_MSG_RESULT);
	mt_sample_result_fail(&r);
	assert_int_equal(tfp_report_encode(&r, enc, sizeof(enc), &enc_len), 0);
	mt_check_strict(dec, enc, enc_len, 0x67, TFP_MSG_RESULT);
	mt_split(enc, enc_len, &base);

	expect(&base, 5, "\x04", 1, TFP_ERR_RANGE);                  /* outcome */
	expect(&base, 6, "\x04", 1, TFP_ERR_RANGE);                  /* unassigned reason */
	expect(&base, 6, "\x18\xc8", 2, TFP_ERR_RANGE);              /* 200 */
	expect(&base, 6, "\x19\x01\x10", 3, TFP_ERR_RANGE);          /* 16 + 256 */
	expect(&base, 6, "\x01", 1, TFP_ERR_RANGE);                  /* success with REFUSED */
	expect(&base, 5, "\x00", 1, TFP_ERR_RANGE);                  /* OK with a failure */
	expect(&base, 7, "\x00", 1, TFP_ERR_RANGE);                  /* error must be < 0 */
	expect(&base, 7, "\x3a\x7f\xff\xff\xff", 5, 0);              /* INT32_MIN */
	expect(&base, 7, "\x3a\x80\x00\x00\x00", 5, TFP_ERR_RANGE);  /* INT32_MIN - 1 */
	expect(&base, 7, "\x3b\x80\0\0\0\0\0\0\0", 9, TFP_ERR_RANGE); /* below int64 */
	/* Bytes done and total come together. */
	expect(&base, 3, "\x00", 1, TFP_ERR_MISSING_FIELD);
	m = base;
	mt_set(&m, 3, (const uint8_t *)"\x01", 1);
	mt_set(&m, 4, (const uint8_t *)"\x00", 1);
	assert_int_equal(mt_decode_map(dec, &m), TFP_ERR_RANGE);
	mt_set(&m, 4, (const uint8_t *)"\x01", 1);
	assert_int_equal(mt_decode_map(dec, &m), 0);
	assert_true(dec_r.has_bytes);
}

static void
test_reasons(void **state)
{
	int known = 0;
	(void)state;

	/* Every listed cause has its own code and name. */
	static const int must_exist[] = {
		TFP_REASON_BAD_SIGNATURE, TFP_REASON_UNKNOWN_KEY, TFP_REASON_EXPIRED,
		TFP_REASON_SEQUENCE_TOO_LOW, TFP_REASON_WRONG_CLASS, TFP_REASON_NO_RAM,
		TFP_REASON_NO_FLASH, TFP_REASON_MISSING_SENSOR, TFP_REASON_ABI_MISMATCH,
		TFP_REASON_DIGEST_MISMATCH, TFP_REASON_SIZE_EXCEEDS_SIGNED,
		TFP_REASON_DOWNLOAD_TOO_SLOW, TFP_REASON_DOWNLOAD_STALLED,
		TFP_REASON_DELTA_CORRUPT, TFP_REASON_DELTA_BASE_MISMATCH, TFP_REASON_FLASH_ERROR,
		TFP_REASON_SELFTEST_FAILED, TFP_REASON_CRASH_BEFORE_CONFIRM,
		TFP_REASON_NO_PREVIOUS_SLOT, TFP_REASON_BUSY, TFP_REASON_DUPLICATE,
		TFP_REASON_MALFORMED, TFP_REASON_OK, TFP_REASON_CONFIRMED,
		TFP_REASON_ROLLED_BACK, TFP_REASON_CONFIG_APPLIED, TFP_REASON_CONFIG_REFUSED,
	};
	for (size_t i = 0; i < sizeof(must_exist) / sizeof(must_exist[0]); i++) {
		assert_true(tfp_reason_is_known(must_exist[i]));
		for (size_t j = 0; j < i; j++)
			assert_int_not_equal(must_exist[i], must_exist[j]);
	}
	/* Names are distinct. */
	for (int a = -1; a < 300; a++) {
		if (!tfp_reason_is_known(a))
			continue;
		known++;
		for (int b = 0; b < a; b++)
			if (tfp_reason_is_known(b))
				assert_string_not_equal(tfp_reason_str(a), tfp_reason_str(b));
	}
	assert_int_equal(known, 33);
	assert_string_equal(tfp_reason_str(12345), "unknown reason");
	assert_true(tfp_reason_is_success(TFP_REASON_CONFIRMED));
	assert_false(tfp_reason_is_success(TFP_REASON_DUPLICATE));
	assert_false(tfp_reason_is_success(5));
}

static void
test_err_mapping(void **state)
{
	(void)state;
	assert_int_equal(tfp_reason_from_err(TFP_OK, TFP_REASON_MALFORMED), TFP_REASON_OK);
	assert_int_equal(tfp_reason_from_err(TFP_ERR_BAD_SIGNATURE, TFP_REASON_MALFORMED),
	                 TFP_REASON_BAD_SIGNATURE);
	assert_int_equal(tfp_reason_from_err(TFP_ERR_UNKNOWN_KEY, TFP_REASON_MALFORMED),
	                 TFP_REASON_UNKNOWN_KEY);
	assert_int_equal(tfp_reason_from_err(TFP_ERR_EXPIRED, TFP_REASON_MALFORMED),
	                 TFP_REASON_EXPIRED);
	assert_int_equal(tfp_reason_from_err(TFP_ERR_UNSUPPORTED_ALG, TFP_REASON_MALFORMED),
	                 TFP_REASON_BAD_MANIFEST);
	assert_int_equal(tfp_reason_from_err(TFP_ERR_BAD_TAG, TFP_REASON_MALFORMED),
	                 TFP_REASON_BAD_MANIFEST);
	assert_int_equal(tfp_reason_from_err(TFP_ERR_DELTA, TFP_REASON_MALFORMED),
	                 TFP_REASON_DELTA_CORRUPT);
	assert_int_equal(tfp_reason_from_err(TFP_ERR_CONTAINER_VERSION, TFP_REASON_MALFORMED),
	                 TFP_REASON_BAD_CONTAINER);
	assert_int_equal(tfp_reason_from_err(TFP_ERR_UNKNOWN_MESSAGE, TFP_REASON_MALFORMED),
	                 TFP_REASON_UNKNOWN_COMMAND);
	assert_int_equal(tfp_reason_from_err(TFP_ERR_CRYPTO, TFP_REASON_MALFORMED),
	                 TFP_REASON_INTERNAL);
	/* CBOR structure codes depend on context: the caller's fallback decides. */
	assert_int_equal(tfp_reason_from_err(TFP_ERR_TRUNCATED, TFP_REASON_MALFORMED),
	                 TFP_REASON_MALFORMED);
	assert_int_equal(tfp_reason_from_err(TFP_ERR_MISSING_FIELD, TFP_REASON_BAD_MANIFEST),
	                 TFP_REASON_BAD_MANIFEST);
	/* Every mapped reason is a known one. */
	for (int e = -100; e <= 0; e++)
		assert_true(tfp_reason_is_known(tfp_reason_from_err(e, TFP_REASON_INTERNAL)));
}

static void
test_sizes(void **state)
{
	(void)state;
	printf("sizeof(struct tfp_report) = %zu (bound %d)\n", sizeof(struct tfp_report),
	       TFP_REPORT_STRUCT_MAX);
	assert_true(sizeof(struct tfp_report) <= TFP_REPORT_STRUCT_MAX);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_encoder_refuses_invalid_struct),
		cmocka_unit_test(test_progress_strict),
		cmocka_unit_test(test_result_strict),
		cmocka_unit_test(test_reasons),
		cmocka_unit_test(test_err_mapping),
		cmocka_unit_test(test_sizes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
