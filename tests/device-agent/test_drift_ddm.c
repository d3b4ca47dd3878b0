/* DDM (Gama et al. 2004) against hand-computed statistics, and HDDM_A (Frias-Blanco et
 * al. 2015) against a hand-computed detection point. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tinyfleet/agent/drift.h"
#include "tinyfleet/protocol/error.h"

#include "drift_test_util.h"

static void
test_ddm_defaults(void **state)
{
	struct tfa_ddm_config c;
	(void)state;

	tfa_ddm_config_default(&c);
	assert_float_equal(c.warn, 2.0f, 0.0f);
	assert_float_equal(c.drift, 3.0f, 0.0f);
	assert_int_equal(c.min_samples, 30);
}

/* 30 samples with 3 errors, then errors only. By hand:
 *   i=30  p=.1       s=sqrt(.1*.9/30)=.054772    p+s=.154772  -> p_min=.1, s_min=.054772
 *         warning level p_min + 2 s_min = .209545, drift level p_min + 3 s_min = .264317
 *   i=31  p=4/31     s=.060210    p+s=.189242    score (p+s-p_min)/s_min = 1.6293
 *   i=32  p=5/32     s=.064186    p+s=.220436    > .209545: warning, score 2.1989
 *   i=33  p=6/33     s=.067141    p+s=.248959    warning
 *   i=34  p=7/34     s=.069345    p+s=.275227    > .264317: drift */
static void
test_ddm_hand_checked(void **state)
{
	struct tfa_ddm d;
	int i;
	(void)state;

	assert_int_equal(tfa_ddm_init(&d, NULL), 0);
	for (i = 1; i <= 30; i++) {
		assert_int_equal(tfa_ddm_update(&d, i % 10 == 5), 0);
		assert_int_equal(tfa_ddm_warning(&d), 0);
	}
	assert_float_equal(d.p_min, 0.1f, 1e-6f);
	assert_float_equal(d.s_min, 0.054772f, 1e-5f);
	assert_float_equal(tfa_ddm_score(&d), 1.0f, 1e-4f);

	assert_int_equal(tfa_ddm_update(&d, 1), 0);
	assert_int_equal(tfa_ddm_warning(&d), 0);
	assert_float_equal(tfa_ddm_score(&d), 1.6293f, 1e-3f);
	assert_int_equal(tfa_ddm_update(&d, 1), 0);
	assert_int_equal(tfa_ddm_warning(&d), 1);
	assert_float_equal(tfa_ddm_score(&d), 2.1989f, 1e-3f);
	assert_int_equal(tfa_ddm_update(&d, 1), 0);
	assert_int_equal(tfa_ddm_warning(&d), 1);
	assert_int_equal(tfa_ddm_update(&d, 1), 1);
	assert_int_equal(tfa_ddm_alarm(&d), 1);
	assert_true(tfa_ddm_score(&d) > 3.0f);
	/* The drift restarts the statistics with the next sample. */
	assert_int_equal(tfa_ddm_update(&d, 0), 0);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.errors, 0);
}

/* The minimum moves down when the error rate improves, per the published rule. */
static void
test_ddm_minimum_tracks_best_point(void **state)
{
	struct tfa_ddm d;
	int i;
	(void)state;

	assert_int_equal(tfa_ddm_init(&d, NULL), 0);
	for (i = 1; i <= 30; i++)
		tfa_ddm_update(&d, i <= 6);             /* p = .2 at i = 30 */
	assert_float_equal(d.p_min, 0.2f, 1e-6f);
	for (i = 31; i <= 60; i++)
		tfa_ddm_update(&d, 0);                  /* p = 6/60 = .1 at i = 60 */
	assert_float_equal(d.p_min, 0.1f, 1e-6f);
	assert_float_equal(d.s_min, sqrtf(0.1f * 0.9f / 60.0f), 1e-6f);
	assert_int_equal(tfa_ddm_alarm(&d), 0);
}

/* The published rule with s_min = 0 (no error in the first 30 samples): the first error
 * is a drift. The detector keeps that behaviour; bench/drift/RESULTS.md counts its cost. */
static void
test_ddm_zero_error_start(void **state)
{
	struct tfa_ddm d;
	int i;
	(void)state;

	assert_int_equal(tfa_ddm_init(&d, NULL), 0);
	for (i = 0; i < 40; i++)
		assert_int_equal(tfa_ddm_update(&d, 0), 0);
	assert_float_equal(tfa_ddm_score(&d), 0.0f, 0.0f);
	assert_int_equal(tfa_ddm_update(&d, 1), 1);
}

static void
test_ddm_no_alarm_on_constant_and_detects_jump(void **state)
{
	struct tfa_ddm d;
	struct rng r;
	uint64_t seed;
	int t;
	(void)state;

	/* Constant streams: always wrong, or a fixed 1-in-4 pattern. */
	assert_int_equal(tfa_ddm_init(&d, NULL), 0);
	for (t = 0; t < 50000; t++)
		assert_int_equal(tfa_ddm_update(&d, 1), 0);
	assert_int_equal(tfa_ddm_init(&d, NULL), 0);
	for (t = 0; t < 50000; t++)
		assert_int_equal(tfa_ddm_update(&d, t % 4 == 0), 0);

	/* Error rate 0.10 -> 0.40 at 3000. DDM's minimum is noisy right after a (re)start, so
	 * an early false alarm may happen (seed 1 has one at sample 80; the bench counts
	 * them); the change itself must be caught within 500 samples. */
	for (seed = 1; seed <= 5; seed++) {
		int alarm_at = -1, early = 0;
		rng_seed(&r, seed);
		assert_int_equal(tfa_ddm_init(&d, NULL), 0);
		for (t = 0; t < 4000 && alarm_at < 0; t++)
			if (tfa_ddm_update(&d, rng_bernoulli(&r, t < 3000 ? 0.10f : 0.40f))) {
				if (t < 3000)
					early++;
				else
					alarm_at = t;
			}
		assert_true(early <= 1);
		assert_true(alarm_at >= 3000);
		assert_true(alarm_at < 3500);
	}
}

static void
test_ddm_bad_config(void **state)
{
	struct tfa_ddm d;
	struct tfa_ddm_config c = { 3.0f, 2.0f, 30 };
	(void)state;

	assert_int_equal(tfa_ddm_init(NULL, NULL), TFP_ERR_ARG);
	assert_int_equal(tfa_ddm_init(&d, &c), TFP_ERR_ARG);
	c.warn = 2.0f;
	c.drift = 3.0f;
	c.min_samples = 0;
	assert_int_equal(tfa_ddm_init(&d, &c), TFP_ERR_ARG);
}

/* HDDM_A, 100 zeros then ones, drift_conf .001. The cut point stays at n = 100 (mean 0 +
 * sqrt(ln 1000 / 200) = .18585 is below every later mean + bound). With j ones:
 *   drift when j / (100 + j) >= sqrt(j / (100 (100 + j)) / 2 * ln 2000)
 *   j = 3: .029126 < .033270;   j = 4: .038462 >= .038233  -> drift at sample 104. */
static void
test_hddm_hand_checked(void **state)
{
	struct tfa_hddm h;
	int t;
	(void)state;

	assert_int_equal(tfa_hddm_init(&h, NULL), 0);
	for (t = 1; t <= 100; t++)
		assert_int_equal(tfa_hddm_update(&h, 0.0f), 0);
	for (t = 101; t <= 103; t++)
		assert_int_equal(tfa_hddm_update(&h, 1.0f), 0);
	assert_int_equal(h.n_cut, 100);
	assert_float_equal(tfa_hddm_score(&h), 0.029126f / 0.033270f, 1e-3f);
	assert_int_equal(tfa_hddm_update(&h, 1.0f), 1);
	assert_int_equal(tfa_hddm_alarm(&h), 1);
	assert_int_equal(tfa_hddm_update(&h, 1.0f), 0);
	assert_int_equal(h.n, 1);
}

static void
test_hddm_stationary_and_jump(void **state)
{
	struct tfa_hddm h;
	struct rng r;
	uint64_t seed;
	int t;
	(void)state;

	assert_int_equal(tfa_hddm_init(&h, NULL), 0);
	for (t = 0; t < 50000; t++)
		assert_int_equal(tfa_hddm_update(&h, 0.25f), 0);
	for (seed = 1; seed <= 5; seed++) {
		int alarm_at = -1;
		rng_seed(&r, seed);
		assert_int_equal(tfa_hddm_init(&h, NULL), 0);
		for (t = 0; t < 4000 && alarm_at < 0; t++)
			if (tfa_hddm_update(&h, (float)rng_bernoulli(&r, t < 3000 ? 0.05f : 0.30f)))
				alarm_at = t;
		assert_true(alarm_at >= 3000);
		assert_true(alarm_at < 3300);
	}
	assert_int_equal(tfa_hddm_init(NULL, NULL), TFP_ERR_ARG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ddm_defaults),
		cmocka_unit_test(test_ddm_hand_checked),
		cmocka_unit_test(test_ddm_minimum_tracks_best_point),
		cmocka_unit_test(test_ddm_zero_error_start),
		cmocka_unit_test(test_ddm_no_alarm_on_constant_and_detects_jump),
		cmocka_unit_test(test_ddm_bad_config),
		cmocka_unit_test(test_hddm_hand_checked),
		cmocka_unit_test(test_hddm_stationary_and_jump),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
