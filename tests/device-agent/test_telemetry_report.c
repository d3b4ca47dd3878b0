/* The agent's metrics reach the wire: drift bundle report -> SenML-CBOR -> decoded again. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tinyfleet/agent/telemetry_report.h"

#define NF 4

static const float mean[NF] = { 0, 1, 2, 3 }, var[NF] = { 1, 1, 1, 1 };

/* A drift bundle that saw 600 samples with feature 2 shifted by +3 standard deviations
 * and errors climbing from 5 % to 60 %. */
static void
feed(struct tfa_drift *d)
{
	struct tfa_drift_train_stats st = { .n_features = NF, .mean = mean, .var = var };
	static const float probs[3] = { 0.7f, 0.2f, 0.1f };

	assert_int_equal(tfa_drift_init(d, NULL, &st), 0);
	for (int i = 0; i < 600; i++) {
		float x[NF] = { 0, 1, i < 200 ? 2.0f : 5.0f, 3 };
		int wrong = i < 200 ? (i % 20 == 0) : (i % 5 != 0);
		assert_true(tfa_drift_on_prediction(d, x, probs, 3) >= 0);
		assert_true(tfa_drift_on_label(d, wrong ? 2.0f : 0.1f, !wrong) >= 0);
	}
}

static void
test_report_round_trips_through_senml(void **state)
{
	static struct tfa_drift d;
	static struct tfa_tinyol tol;
	static struct tfp_telemetry scratch, back;
	struct tfa_drift_report r;
	struct tfp_telem_enc_info info;
	uint8_t buf[2048];
	struct tfa_telemetry_source src = { "pump-17", "vib-anomaly", "1.4.2", 1764000000.0,
	                                    &d, &r, &tol };
	(void)state;

	feed(&d);
	assert_int_equal(tfa_drift_report(&d, &r, 0), 0);
	memset(&tol, 0, sizeof(tol));
	tol.cfg.lr = 0.05f;
	tol.updates = 600;

	assert_int_equal(tfa_telemetry_build(&src, &scratch, buf, sizeof(buf), &info), 0);
	assert_int_equal(tfp_telemetry_decode(buf, info.len, &back), 0);
	assert_string_equal(back.device_id, "pump-17");
	assert_string_equal(back.model, "vib-anomaly");
	assert_string_equal(back.version, "1.4.2");
	assert_int_equal(back.samples, 600);
	assert_int_equal(back.labelled, 600);
	assert_true(back.alarm);
	assert_int_equal(back.why, r.alarms);
	/* The error jump and the shifted feature were both seen and reported. */
	assert_true(back.why & (TFP_TELEM_WHY_ADWIN | TFP_TELEM_WHY_PH | TFP_TELEM_WHY_DDM));
	assert_true(back.why & TFP_TELEM_WHY_SHIFT);
	assert_int_equal(back.n_features, NF);
	assert_true(back.shift[2] > 1.0f);
	assert_true(fabsf(back.shift[0]) < 0.1f && fabsf(back.shift[3]) < 0.1f);
	assert_true(back.optional & TFP_TELEM_OPT_STEPS);
	assert_int_equal(back.steps, 600);
	assert_true(fabsf(back.lr - 0.05f) < 1e-6f);
	assert_true(fabsf(back.conf_mean - 0.7f) < 0.01f);
}

static void
test_small_budget_keeps_the_largest_shift(void **state)
{
	static struct tfa_drift d;
	static struct tfp_telemetry scratch, back;
	struct tfa_drift_report r;
	struct tfp_telem_enc_info full, part;
	uint8_t buf[2048];
	struct tfa_telemetry_source src = { "pump-17", "vib-anomaly", "1.4.2", 1764000000.0,
	                                    &d, &r, NULL };
	(void)state;

	feed(&d);
	assert_int_equal(tfa_drift_report(&d, &r, 1), 0);
	assert_int_equal(tfa_telemetry_build(&src, &scratch, buf, sizeof(buf), &full), 0);
	/* One byte short: the smallest shifts go first, the shifted feature 2 stays. */
	memset(buf, 0xEE, sizeof(buf));
	assert_int_equal(tfa_telemetry_build(&src, &scratch, buf, full.len - 1, &part), 0);
	assert_true(part.len <= full.len - 1);
	assert_int_equal(buf[full.len - 1], 0xEE);
	assert_int_equal(tfp_telemetry_decode(buf, part.len, &back), 0);
	assert_true(back.dropped > 0);
	assert_true(back.shift_mask & (UINT64_C(1) << 2));

	/* Nothing fits in 16 bytes: a clear error, not a half record. */
	assert_int_equal(tfa_telemetry_build(&src, &scratch, buf, 16, &part), TFP_ERR_BUFFER);
	/* Identifiers are checked. */
	src.device_id = "";
	assert_int_equal(tfa_telemetry_build(&src, &scratch, buf, sizeof(buf), &part), TFP_ERR_ARG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_report_round_trips_through_senml),
		cmocka_unit_test(test_small_budget_keeps_the_largest_shift),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
