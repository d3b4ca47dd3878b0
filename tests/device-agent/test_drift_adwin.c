/* ADWIN2 with a bounded exponential histogram: the cut rule, step changes, stationarity,
 * and the fixed-size histogram invariants. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tinyfleet/agent/drift.h"
#include "tinyfleet/protocol/error.h"

#include "drift_test_util.h"

/* The histogram's invariants: at most M buckets per row after an update, and the buckets'
 * sizes add up to the width. */
static void
check_histogram(const struct tfa_adwin *a)
{
	uint64_t n = 0;
	unsigned r;

	assert_true(a->rows <= TFA_ADWIN_MAX_ROWS);
	for (r = 0; r < a->rows; r++) {
		assert_true(a->count[r] <= TFA_ADWIN_M);
		n += (uint64_t)a->count[r] << r;
	}
	for (; r < TFA_ADWIN_MAX_ROWS; r++)
		assert_int_equal(a->count[r], 0);
	assert_int_equal(n, a->width);
}

static void
test_defaults_are_published_values(void **state)
{
	struct tfa_adwin_config c;
	(void)state;

	tfa_adwin_config_default(&c);
	assert_float_equal(c.delta, 0.002f, 1e-9f);
	assert_int_equal(c.clock, 32);
	assert_int_equal(c.min_window, 10);
	assert_int_equal(c.min_sub_window, 5);
}

/* eps_cut by hand for n0 = n1 = 100, var 0.25, delta 0.002:
 *   m = 50, ln(2 ln 200 / 0.002) = ln(5298.32) = 8.57514
 *   sqrt(2/50 * 0.25 * 8.57514) + 2/150 * 8.57514 = 0.292834 + 0.114335 = 0.407169
 * and for n0 = 30, n1 = 10, var 0.1: m = 7.5, ln(2 ln 40 / 0.002) = ln(3688.88) = 8.21308
 *   sqrt(2/7.5 * 0.1 * 8.21309) + 2/22.5 * 8.21309 = 0.467991 + 0.730051 = 1.198042 */
static void
test_eps_cut_formula(void **state)
{
	(void)state;

	assert_float_equal(tfa_adwin_eps_cut(100, 100, 0.25f, 0.002f), 0.407169f, 1e-4f);
	assert_float_equal(tfa_adwin_eps_cut(30, 10, 0.1f, 0.002f), 1.198042f, 1e-4f);
}

static void
test_constant_stream_keeps_growing(void **state)
{
	struct tfa_adwin a;
	int t;
	(void)state;

	assert_int_equal(tfa_adwin_init(&a, NULL), 0);
	for (t = 0; t < 20000; t++) {
		assert_int_equal(tfa_adwin_update(&a, 0.4f), 0);
		if (t % 997 == 0)
			check_histogram(&a);
	}
	assert_int_equal(tfa_adwin_width(&a), 20000);
	assert_float_equal(tfa_adwin_mean(&a), 0.4f, 1e-4f);
	assert_true(tfa_adwin_score(&a) < 1.0f);
}

/* A window bounded by the fixed histogram: M * (2^rows - 1) samples at most. */
static void
test_width_is_bounded(void **state)
{
	struct tfa_adwin a;
	uint32_t bound = TFA_ADWIN_M * ((1u << TFA_ADWIN_MAX_ROWS) - 1u);
	uint32_t t;
	(void)state;

	assert_int_equal(tfa_adwin_init(&a, NULL), 0);
	for (t = 0; t < bound + 100000u; t++)
		tfa_adwin_update(&a, (t & 1) ? 1.0f : 0.0f);
	check_histogram(&a);
	assert_true(tfa_adwin_width(&a) <= bound);
	assert_true(tfa_adwin_width(&a) > bound / 2);
	assert_float_equal(tfa_adwin_mean(&a), 0.5f, 1e-3f);
}

/* Step 0 -> 1 after 1000 samples: the first check after the change that has enough ones
 * cuts; the cut drops the old zeros, so the new window is mostly ones. */
static void
test_cuts_on_step_change(void **state)
{
	struct tfa_adwin a;
	int t, alarm_at = -1;
	(void)state;

	assert_int_equal(tfa_adwin_init(&a, NULL), 0);
	for (t = 0; t < 1000; t++)
		assert_int_equal(tfa_adwin_update(&a, 0.0f), 0);
	for (t = 1000; t < 1200 && alarm_at < 0; t++)
		if (tfa_adwin_update(&a, 1.0f)) {
			alarm_at = t;
			assert_int_equal(tfa_adwin_alarm(&a), 1);
			assert_true(tfa_adwin_score(&a) > 1.0f);
		}
	/* Checks run at tick multiples of 32: the first after the change is t = 1023
	 * (24 ones: mean1 = 1, far above eps_cut), so the cut happens there. */
	assert_int_equal(alarm_at, 1023);
	assert_true(tfa_adwin_width(&a) < 1024);
	check_histogram(&a);
	/* Keep feeding ones: a bucket that straddled the change may keep a few zeros (too few
	 * to be cut), so the mean approaches 1 without reaching it. */
	for (t = 0; t < 2048; t++)
		tfa_adwin_update(&a, 1.0f);
	assert_true(tfa_adwin_mean(&a) > 0.99f);
	assert_int_equal(tfa_adwin_alarm(&a), 0);
}

/* Error rate 0.05 -> 0.30 at 5000 (five seeds): detected after the change, within 300. */
static void
test_detects_error_rate_jump(void **state)
{
	struct tfa_adwin a;
	struct rng r;
	uint64_t seed;
	(void)state;

	for (seed = 1; seed <= 5; seed++) {
		int t, alarm_at = -1;
		rng_seed(&r, seed);
		assert_int_equal(tfa_adwin_init(&a, NULL), 0);
		for (t = 0; t < 6000 && alarm_at < 0; t++)
			if (tfa_adwin_update(&a, (float)rng_bernoulli(&r, t < 5000 ? 0.05f : 0.30f)))
				alarm_at = t;
		assert_true(alarm_at >= 5000);
		assert_true(alarm_at < 5300);
		check_histogram(&a);
	}
}

/* Stationary Bernoulli(0.2) noise: no cut in 100,000 samples (delta = 0.002 bounds the
 * false-positive rate per check; this seed is representative, see bench/drift). */
static void
test_no_alarm_on_stationary_noise(void **state)
{
	struct tfa_adwin a;
	struct rng r;
	int t, alarms = 0;
	(void)state;

	rng_seed(&r, 11);
	assert_int_equal(tfa_adwin_init(&a, NULL), 0);
	for (t = 0; t < 100000; t++)
		alarms += tfa_adwin_update(&a, (float)rng_bernoulli(&r, 0.2f));
	assert_int_equal(alarms, 0);
	assert_float_equal(tfa_adwin_mean(&a), 0.2f, 0.01f);
}

static void
test_bad_config_and_input(void **state)
{
	struct tfa_adwin a;
	struct tfa_adwin_config c;
	(void)state;

	assert_int_equal(tfa_adwin_init(NULL, NULL), TFP_ERR_ARG);
	tfa_adwin_config_default(&c);
	c.delta = 0.0f;
	assert_int_equal(tfa_adwin_init(&a, &c), TFP_ERR_ARG);
	tfa_adwin_config_default(&c);
	c.clock = 0;
	assert_int_equal(tfa_adwin_init(&a, &c), TFP_ERR_ARG);
	assert_int_equal(tfa_adwin_init(&a, NULL), 0);
	assert_int_equal(tfa_adwin_update(&a, NAN), 0);
	assert_int_equal(tfa_adwin_update(&a, INFINITY), 0);
	assert_int_equal(tfa_adwin_width(&a), 0);
	assert_float_equal(tfa_adwin_mean(&a), 0.0f, 0.0f);
	/* Values outside [0, 1] are clamped: the cut bound assumes that range. */
	assert_int_equal(tfa_adwin_update(&a, 5.0f), 0);
	assert_int_equal(tfa_adwin_update(&a, -3e38f), 0);
	assert_int_equal(tfa_adwin_width(&a), 2);
	assert_float_equal(tfa_adwin_mean(&a), 0.5f, 1e-6f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_are_published_values),
		cmocka_unit_test(test_eps_cut_formula),
		cmocka_unit_test(test_constant_stream_keeps_growing),
		cmocka_unit_test(test_width_is_bounded),
		cmocka_unit_test(test_cuts_on_step_change),
		cmocka_unit_test(test_detects_error_rate_jump),
		cmocka_unit_test(test_no_alarm_on_stationary_noise),
		cmocka_unit_test(test_bad_config_and_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
