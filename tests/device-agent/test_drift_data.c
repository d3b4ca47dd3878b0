/* Data drift: standardized mean shift and PSI against hand-computed values; confidence. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tinyfleet/agent/drift.h"
#include "tinyfleet/protocol/error.h"

#include "drift_test_util.h"

/* Two features, three bins each.
 *   feature 0: mean 0, var 4, edges {-1, 1}, training fractions {.25, .5, .25}
 *   feature 1: mean 5, var 1, edges {0, 10}, training fractions {.5, .5, 0} */
static const float mean2[2] = { 0.0f, 5.0f };
static const float var2[2] = { 4.0f, 1.0f };
static const float edges2[4] = { -1.0f, 1.0f, 0.0f, 10.0f };
static const float frac2[6] = { 0.25f, 0.5f, 0.25f, 0.5f, 0.5f, 0.0f };

static struct tfa_drift_train_stats
stats2(void)
{
	struct tfa_drift_train_stats st = { 2, 3, mean2, var2, edges2, frac2 };
	return st;
}

/* Window of 4 samples. Feature 0 gets -2, 0, 0.5, 1 (an edge value belongs to the upper
 * bin): counts {1, 2, 1} = training fractions, PSI 0. Feature 1 gets 5, 5, 5, 20:
 * counts {0, 3, 1}; with eps 1e-4, q = {1e-4, .75, .25}, p = {.5, .5, 1e-4}:
 *   (1e-4 - .5) ln(1e-4/.5) + (.75 - .5) ln(1.5) + (.25 - 1e-4) ln(.25/1e-4) = 6.314340 */
static void
test_psi_hand_checked(void **state)
{
	struct tfa_drift_data d;
	struct tfa_drift_data_config c;
	struct tfa_drift_train_stats st = stats2();
	const float xs[4][2] = { { -2, 5 }, { 0, 5 }, { 0.5f, 5 }, { 1, 20 } };
	int i, rc;
	(void)state;

	tfa_drift_data_config_default(&c);
	c.window = 4;
	c.shift_alarm = 100.0f;         /* this test is about PSI */
	assert_int_equal(tfa_drift_data_init(&d, &c, &st), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(tfa_drift_data_update(&d, xs[i]), 0);
	assert_int_equal(d.windows, 0);
	rc = tfa_drift_data_update(&d, xs[3]);
	assert_int_equal(rc, TFA_DRIFT_PSI);
	assert_int_equal(d.windows, 1);
	assert_float_equal(tfa_drift_data_psi(&d, 0), 0.0f, 1e-6f);
	assert_float_equal(tfa_drift_data_psi(&d, 1), 6.314340f, 1e-4f);
	assert_float_equal(d.psi_max, 6.314340f, 1e-4f);
	assert_int_equal(d.psi_feature, 1);
	assert_int_equal(d.psi_over, 1);
	assert_int_equal(d.psi_warning, 1);
	assert_int_equal(d.psi_alarm, 1);
}

/* Window of 4 for feature 0 with values -2, -3, 0, 2: counts {2, 1, 1}, q = {.5, .25, .25}
 * against p = {.25, .5, .25}: .25 ln 2 + (-.25) ln(.5) = .5 ln 2 = 0.346574 (alarm);
 * and the conventional levels: 0.1 warning, 0.25 alarm. */
static void
test_psi_levels(void **state)
{
	struct tfa_drift_data d;
	struct tfa_drift_data_config c;
	struct tfa_drift_train_stats st = stats2();
	const float xs[4][2] = { { -2, 5 }, { -3, 5 }, { 0, 5 }, { 2, 5 } };
	int i;
	(void)state;

	st.n_features = 1;              /* feature 0 only */
	tfa_drift_data_config_default(&c);
	assert_float_equal(c.psi_warn, 0.1f, 0.0f);
	assert_float_equal(c.psi_alarm, 0.25f, 0.0f);
	c.window = 4;
	c.shift_alarm = 100.0f;
	c.psi_alarm = 0.4f;             /* 0.3466 is then a warning only */
	assert_int_equal(tfa_drift_data_init(&d, &c, &st), 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(tfa_drift_data_update(&d, xs[i]), 0);
	assert_float_equal(tfa_drift_data_psi(&d, 0), 0.346574f, 1e-5f);
	assert_int_equal(d.psi_warning, 1);
	assert_int_equal(d.psi_alarm, 0);
	/* The next window is back at the training fractions: no warning. */
	{
		const float ys[4][2] = { { -2, 5 }, { 0, 5 }, { 0, 5 }, { 2, 5 } };
		for (i = 0; i < 4; i++)
			tfa_drift_data_update(&d, ys[i]);
	}
	assert_float_equal(tfa_drift_data_psi(&d, 0), 0.0f, 1e-6f);
	assert_int_equal(d.psi_warning, 0);
	assert_int_equal(d.windows, 2);
}

/* Shift with alpha .5: feature 0 (mean 0, sd 2) fed 2, 2 -> EWMA 1, 1.5 -> shift .5, .75;
 * feature 1 (mean 5, sd 1) fed 5, 4 -> EWMA 5, 4.5 -> shift 0, -.5. */
static void
test_shift_hand_checked(void **state)
{
	struct tfa_drift_data d;
	struct tfa_drift_data_config c;
	struct tfa_drift_train_stats st = stats2();
	const float x1[2] = { 2, 5 }, x2[2] = { 2, 4 }, x3[2] = { NAN, 4 };
	(void)state;

	tfa_drift_data_config_default(&c);
	assert_float_equal(c.ewma_alpha, 0.01f, 0.0f);
	c.ewma_alpha = 0.5f;
	c.shift_alarm = 0.6f;
	assert_int_equal(tfa_drift_data_init(&d, &c, &st), 0);
	assert_int_equal(tfa_drift_data_update(&d, x1), 0);
	assert_float_equal(tfa_drift_data_shift(&d, 0), 0.5f, 1e-6f);
	assert_float_equal(tfa_drift_data_shift(&d, 1), 0.0f, 1e-6f);
	assert_int_equal(d.shift_alarm, 0);
	assert_int_equal(tfa_drift_data_update(&d, x2), TFA_DRIFT_SHIFT);
	assert_float_equal(tfa_drift_data_shift(&d, 0), 0.75f, 1e-6f);
	assert_float_equal(tfa_drift_data_shift(&d, 1), -0.5f, 1e-6f);
	assert_float_equal(d.shift_max, 0.75f, 1e-6f);
	assert_int_equal(d.shift_feature, 0);
	/* A level alarm: it stays up but is returned only when it rises; a NaN feature
	 * leaves its EWMA alone. */
	assert_int_equal(tfa_drift_data_update(&d, x3), 0);
	assert_int_equal(d.shift_alarm, 1);
	assert_float_equal(tfa_drift_data_shift(&d, 0), 0.75f, 1e-6f);
	assert_float_equal(tfa_drift_data_shift(&d, 1), -0.75f, 1e-6f);
	assert_float_equal(tfa_drift_data_shift(&d, 7), 0.0f, 0.0f);   /* out of range */
}

/* 64 features, 10 bins, standard normal training data with decile edges: a stationary
 * stream stays quiet at the default settings; a 1-sd shift of one feature raises both. */
static void
test_stationary_then_shifted(void **state)
{
	static const float dec[9] = { -1.2816f, -0.8416f, -0.5244f, -0.2533f, 0.0f,
				      0.2533f, 0.5244f, 0.8416f, 1.2816f };
	static float mean[64], var[64], edges[64 * 9], frac[64 * 10];
	struct tfa_drift_train_stats st = { 64, 10, mean, var, edges, frac };
	struct tfa_drift_data d;
	struct rng r;
	float x[64];
	int j, b, t, raised = 0;
	(void)state;

	for (j = 0; j < 64; j++) {
		mean[j] = 0.0f;
		var[j] = 1.0f;
		for (b = 0; b < 9; b++)
			edges[j * 9 + b] = dec[b];
		for (b = 0; b < 10; b++)
			frac[j * 10 + b] = 0.1f;
	}
	rng_seed(&r, 3);
	assert_int_equal(tfa_drift_data_init(&d, NULL, &st), 0);
	for (t = 0; t < 5000; t++) {
		for (j = 0; j < 64; j++) {
			/* Approximately normal: sum of 12 uniforms minus 6. */
			float s = -6.0f;
			for (b = 0; b < 12; b++)
				s += rng_uniform(&r);
			x[j] = s;
		}
		raised |= tfa_drift_data_update(&d, x);
	}
	assert_int_equal(raised, 0);
	assert_true(d.psi_max < 0.1f);
	assert_true(d.shift_max < 0.5f);
	for (t = 0; t < 1000; t++) {
		for (j = 0; j < 64; j++) {
			float s = -6.0f;
			for (b = 0; b < 12; b++)
				s += rng_uniform(&r);
			x[j] = s + (j == 17 ? 1.0f : 0.0f);
		}
		raised |= tfa_drift_data_update(&d, x);
	}
	assert_int_equal(raised, TFA_DRIFT_SHIFT | TFA_DRIFT_PSI);
	assert_int_equal(d.shift_feature, 17);
	assert_int_equal(d.psi_feature, 17);
	assert_int_equal(d.psi_over, 1);
}

/* Huge finite values cannot push the EWMA to inf (and from there to NaN for good). */
static void
test_huge_values_do_not_poison(void **state)
{
	struct tfa_drift_data d;
	struct tfa_drift_train_stats st = stats2();
	const float big[2] = { 3e38f, -3e38f }, neg[2] = { -3e38f, 3e38f };
	const float ok[2] = { 0.0f, 5.0f };
	int i;
	(void)state;

	assert_int_equal(tfa_drift_data_init(&d, NULL, &st), 0);
	for (i = 0; i < 1000; i++) {
		assert_true(tfa_drift_data_update(&d, (i & 1) ? big : neg) >= 0);
		assert_true(isfinite(tfa_drift_data_shift(&d, 0)));
		assert_true(isfinite(tfa_drift_data_shift(&d, 1)));
	}
	/* The EWMA holds about 1.5e36 now and decays by 0.99 per sample back to 0. */
	for (i = 0; i < 20000; i++)
		tfa_drift_data_update(&d, ok);
	assert_true(fabsf(tfa_drift_data_shift(&d, 0)) < 0.01f);
	assert_true(fabsf(tfa_drift_data_shift(&d, 1)) < 0.01f);
	assert_int_equal(d.shift_alarm, 0);
}

static void
test_data_init_errors(void **state)
{
	struct tfa_drift_data d;
	struct tfa_drift_data_config c;
	struct tfa_drift_train_stats st = stats2();
	static const float bad_var[2] = { 1.0f, 0.0f };
	static const float bad_edges[4] = { 1.0f, -1.0f, 0.0f, 10.0f };
	(void)state;

	assert_int_equal(tfa_drift_data_init(NULL, NULL, &st), TFP_ERR_ARG);
	assert_int_equal(tfa_drift_data_init(&d, NULL, NULL), TFP_ERR_ARG);
	st.var = bad_var;
	assert_int_equal(tfa_drift_data_init(&d, NULL, &st), TFP_ERR_ARG);
	st = stats2();
	st.edges = bad_edges;
	assert_int_equal(tfa_drift_data_init(&d, NULL, &st), TFP_ERR_ARG);
	st = stats2();
	st.frac = NULL;
	assert_int_equal(tfa_drift_data_init(&d, NULL, &st), TFP_ERR_ARG);
	st = stats2();
	st.n_features = TFA_DRIFT_MAX_FEATURES + 1;
	assert_int_equal(tfa_drift_data_init(&d, NULL, &st), TFP_ERR_RANGE);
	st = stats2();
	st.n_bins = TFA_DRIFT_MAX_BINS + 1;
	assert_int_equal(tfa_drift_data_init(&d, NULL, &st), TFP_ERR_RANGE);
	st = stats2();
	tfa_drift_data_config_default(&c);
	c.window = 0;
	assert_int_equal(tfa_drift_data_init(&d, &c, &st), TFP_ERR_ARG);
	tfa_drift_data_config_default(&c);
	c.psi_alarm = 0.05f;            /* below the warning level */
	assert_int_equal(tfa_drift_data_init(&d, &c, &st), TFP_ERR_ARG);
	/* PSI may be off: mean and variance only. */
	st.edges = NULL;
	st.frac = NULL;
	assert_int_equal(tfa_drift_data_init(&d, NULL, &st), 0);
	assert_int_equal(tfa_drift_data_update(&d, NULL), TFP_ERR_ARG);
}

/* Confidence with a configured reference (.9, .8) and alpha .5:
 *   probs {.5, .3, .2}: EWMA max .9 + .5 (.5 - .9) = .7, margin .8 + .5 (.2 - .8) = .5
 *   drops .2 / .10 = 2 and .3 / .15 = 2 -> score 2, alarm. */
static void
test_confidence_hand_checked(void **state)
{
	struct tfa_conf c;
	struct tfa_conf_config k;
	const float p1[3] = { 0.5f, 0.3f, 0.2f };
	const float p2[3] = { 0.025f, 0.025f, 0.95f };
	int i;
	(void)state;

	tfa_conf_config_default(&k);
	k.ewma_alpha = 0.5f;
	k.ref_maxprob = 0.9f;
	k.ref_margin = 0.8f;
	assert_int_equal(tfa_conf_init(&c, &k), 0);
	assert_int_equal(tfa_conf_update(&c, p1, 3), 1);
	assert_float_equal(c.maxprob, 0.7f, 1e-6f);
	assert_float_equal(c.margin, 0.5f, 1e-6f);
	assert_float_equal(tfa_conf_score(&c), 2.0f, 1e-5f);
	assert_int_equal(tfa_conf_alarm(&c), 1);
	/* Confident again, {.025, .025, .95}: EWMA .825, margin .5 + .5 (.925 - .5) = .7125
	 * -> drops .075/.1 = .75 and .0875/.15 = .5833 -> score .75, the alarm falls. */
	assert_int_equal(tfa_conf_update(&c, p2, 3), 0);
	assert_float_equal(c.maxprob, 0.825f, 1e-6f);
	assert_float_equal(c.margin, 0.7125f, 1e-6f);
	assert_float_equal(tfa_conf_score(&c), 0.75f, 1e-5f);
	assert_int_equal(tfa_conf_alarm(&c), 0);

	/* Learned reference over the first 4 predictions: mean of .95,.95,.5,.5 = .725 and of
	 * margins .925,.925,.2,.2 = .5625; then the EWMA starts there. */
	tfa_conf_config_default(&k);
	k.ref_samples = 4;
	assert_int_equal(tfa_conf_init(&c, &k), 0);
	for (i = 0; i < 2; i++)
		assert_int_equal(tfa_conf_update(&c, p2, 3), 0);
	for (i = 0; i < 2; i++)
		assert_int_equal(tfa_conf_update(&c, p1, 3), 0);
	assert_int_equal(c.ref_ready, 1);
	assert_float_equal(c.ref_maxprob, 0.725f, 1e-6f);
	assert_float_equal(c.ref_margin, 0.5625f, 1e-6f);
	assert_float_equal(c.maxprob, 0.725f, 1e-6f);

	assert_int_equal(tfa_conf_update(&c, p1, 1), TFP_ERR_ARG);
	k.ref_maxprob = 0.5f;           /* one reference without the other */
	assert_int_equal(tfa_conf_init(&c, &k), TFP_ERR_ARG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_psi_hand_checked),
		cmocka_unit_test(test_psi_levels),
		cmocka_unit_test(test_shift_hand_checked),
		cmocka_unit_test(test_stationary_then_shifted),
		cmocka_unit_test(test_huge_values_do_not_poison),
		cmocka_unit_test(test_data_init_errors),
		cmocka_unit_test(test_confidence_hand_checked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
