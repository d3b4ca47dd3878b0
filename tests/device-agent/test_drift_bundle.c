/* The drift bundle: one config, prediction/label API, the report the telemetry packs. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tinyfleet/agent/drift.h"
#include "tinyfleet/protocol/error.h"

#include "drift_test_util.h"

static const float mean1[1] = { 0.0f };
static const float var1[1] = { 1.0f };
static const float edges1[1] = { 0.0f };
static const float frac1[2] = { 0.5f, 0.5f };

static void
test_defaults_and_report_without_samples(void **state)
{
	struct tfa_drift d;
	struct tfa_drift_report r;
	(void)state;

	assert_int_equal(tfa_drift_init(&d, NULL, NULL), 0);
	/* Without training statistics the data-drift detectors are off. */
	assert_int_equal(d.cfg.enabled, TFA_DRIFT_ALL & ~(TFA_DRIFT_SHIFT | TFA_DRIFT_PSI));
	assert_int_equal(tfa_drift_report(&d, &r, 1), 0);
	assert_int_equal(r.n_predictions, 0);
	assert_int_equal(r.n_labels, 0);
	assert_float_equal(r.i_accuracy, 0.0f, 0.0f);
	assert_int_equal(r.alarms, 0);
	assert_int_equal(r.enabled, d.cfg.enabled);
	assert_int_equal(tfa_drift_report(NULL, &r, 0), TFP_ERR_ARG);
	assert_int_equal(tfa_drift_report(&d, NULL, 0), TFP_ERR_ARG);
	assert_int_equal(tfa_drift_init(NULL, NULL, NULL), TFP_ERR_ARG);
}

/* Interval means, latched alarms and the clear flag. */
static void
test_interval_counters(void **state)
{
	struct tfa_drift d;
	struct tfa_drift_report r;
	const float p[2] = { 0.8f, 0.2f };
	int i;
	(void)state;

	assert_int_equal(tfa_drift_init(&d, NULL, NULL), 0);
	for (i = 0; i < 10; i++) {
		assert_true(tfa_drift_on_prediction(&d, NULL, p, 2) >= 0);
		assert_true(tfa_drift_on_label(&d, i < 4 ? 1.0f : 0.5f, i >= 4) >= 0);
	}
	assert_int_equal(tfa_drift_on_label(&d, NAN, 1), 0);   /* 11 labels, 10 losses */
	assert_int_equal(tfa_drift_report(&d, &r, 0), 0);
	assert_int_equal(r.n_predictions, 10);
	assert_int_equal(r.n_labels, 11);
	assert_int_equal(r.i_labels, 11);
	assert_float_equal(r.i_accuracy, 7.0f / 11.0f, 1e-6f);
	assert_float_equal(r.i_mean_loss, 7.0f / 11.0f, 1e-6f);  /* (4 + 3) / 11 */
	assert_float_equal(r.conf_maxprob, 0.8f, 1e-6f);
	assert_float_equal(r.conf_margin, 0.6f, 1e-6f);
	assert_int_equal(r.adwin_width, 11);
	assert_float_equal(r.adwin_mean, 4.0f / 11.0f, 1e-6f);
	assert_int_equal(tfa_drift_report(&d, &r, 1), 0);
	assert_int_equal(r.i_labels, 11);
	assert_int_equal(tfa_drift_report(&d, &r, 0), 0);
	assert_int_equal(r.i_labels, 0);
	assert_int_equal(r.i_predictions, 0);
	assert_int_equal(r.n_labels, 11);
}

/* Error rate 0.05 -> 0.30: the label API returns the alarm bits, the report latches
 * them until a clearing report, and the per-detector counters keep them. */
static void
test_error_jump_raises_concept_alarms(void **state)
{
	struct tfa_drift d;
	struct tfa_drift_report r;
	struct rng g;
	unsigned seen = 0;
	int t, first_ph = -1, first_adwin = -1;
	(void)state;

	rng_seed(&g, 5);
	assert_int_equal(tfa_drift_init(&d, NULL, NULL), 0);
	for (t = 0; t < 3000; t++) {
		int wrong = rng_bernoulli(&g, t < 2000 ? 0.05f : 0.30f);
		int bits = tfa_drift_on_label(&d, wrong ? 2.0f : 0.1f, !wrong);
		assert_true(bits >= 0);
		if ((bits & TFA_DRIFT_PH) && first_ph < 0)
			first_ph = t;
		if ((bits & TFA_DRIFT_ADWIN) && first_adwin < 0)
			first_adwin = t;
		seen |= (unsigned)bits;
	}
	assert_true(first_ph >= 2000 && first_ph < 2400);
	assert_true(first_adwin >= 2000 && first_adwin < 2400);
	assert_int_equal(tfa_drift_report(&d, &r, 1), 0);
	assert_int_equal(r.alarms, seen);
	assert_true(r.alarms & TFA_DRIFT_PH);
	assert_true(r.alarms & TFA_DRIFT_ADWIN);
	assert_true(r.alarm_count[0] >= 1);     /* PH */
	assert_true(r.alarm_count[1] >= 1);     /* ADWIN */
	assert_int_equal(tfa_drift_report(&d, &r, 0), 0);
	assert_int_equal(r.alarms, 0);
	assert_true(r.alarm_count[0] >= 1);
}

/* loss_scale feeds the scaled loss to PH / ADWIN / HDDM, DDM still counts errors. */
static void
test_loss_stream(void **state)
{
	struct tfa_drift d;
	struct tfa_drift_config c;
	int t;
	(void)state;

	tfa_drift_config_default(&c);
	c.loss_scale = 4.0f;
	assert_int_equal(tfa_drift_init(&d, &c, NULL), 0);
	for (t = 0; t < 20; t++)        /* fewer than ADWIN's clock: no cut yet */
		tfa_drift_on_label(&d, t < 10 ? 1.0f : 9.0f, 1);  /* .25, then clipped to 1 */
	assert_float_equal(tfa_adwin_mean(&d.adwin), 0.625f, 1e-6f);
	assert_int_equal(d.ddm.errors, 0);
	c.loss_scale = -1.0f;
	assert_int_equal(tfa_drift_init(&d, &c, NULL), TFP_ERR_ARG);
	tfa_drift_config_default(&c);
	c.enabled = 0x80;
	assert_int_equal(tfa_drift_init(&d, &c, NULL), TFP_ERR_ARG);
}

/* With training statistics: a shifted feature raises SHIFT on its rising edge, the
 * report shows it while it holds, PSI comes once per window; NULL features are refused. */
static void
test_data_drift_through_bundle(void **state)
{
	struct tfa_drift d;
	struct tfa_drift_config c;
	struct tfa_drift_report r;
	struct tfa_drift_train_stats st = { 1, 2, mean1, var1, edges1, frac1 };
	const float hi[1] = { 3.0f };
	int t, bits, shift_edges = 0, psi = 0;
	(void)state;

	tfa_drift_config_default(&c);
	c.data.window = 100;
	c.enabled = TFA_DRIFT_SHIFT | TFA_DRIFT_PSI;
	assert_int_equal(tfa_drift_init(&d, &c, &st), 0);
	assert_int_equal(tfa_drift_on_prediction(&d, NULL, NULL, 0), TFP_ERR_ARG);
	for (t = 0; t < 300; t++) {
		bits = tfa_drift_on_prediction(&d, hi, NULL, 0);
		assert_true(bits >= 0);
		shift_edges += (bits & TFA_DRIFT_SHIFT) != 0;
		psi += (bits & TFA_DRIFT_PSI) != 0;
	}
	assert_int_equal(shift_edges, 1);
	assert_int_equal(psi, 3);
	assert_int_equal(tfa_drift_report(&d, &r, 1), 0);
	assert_int_equal(r.alarms, TFA_DRIFT_SHIFT | TFA_DRIFT_PSI);
	assert_true(r.warnings & TFA_DRIFT_PSI);
	assert_int_equal(r.alarm_count[4], 1);
	assert_int_equal(r.alarm_count[5], 3);
	assert_true(r.shift_max > 2.5f);
	assert_true(r.psi_max > 0.25f);
	/* Still shifted after the clearing report: the level shows again. */
	assert_int_equal(tfa_drift_report(&d, &r, 1), 0);
	assert_int_equal(r.alarms, TFA_DRIFT_SHIFT);
}

/* The state is one fixed block: budget check for a 64-feature, 10-bin bundle. */
static void
test_state_size(void **state)
{
	(void)state;
	assert_true(sizeof(struct tfa_drift) <= 4096);
	assert_true(sizeof(struct tfa_drift_report) <= 128);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_report_without_samples),
		cmocka_unit_test(test_interval_counters),
		cmocka_unit_test(test_error_jump_raises_concept_alarms),
		cmocka_unit_test(test_loss_stream),
		cmocka_unit_test(test_data_drift_through_bundle),
		cmocka_unit_test(test_state_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
