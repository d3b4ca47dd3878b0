/* Page-Hinkley against its published recursion, on hand-checked and known-change streams. */
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
test_defaults_are_published_values(void **state)
{
	struct tfa_ph_config c;
	(void)state;

	tfa_ph_config_default(&c);
	assert_float_equal(c.delta, 0.005f, 1e-9f);
	assert_float_equal(c.lambda, 50.0f, 1e-9f);
	assert_float_equal(c.alpha, 0.9999f, 1e-7f);
	assert_int_equal(c.min_samples, 30);
}

/* x = 0, 0, 1, 1 with delta 0.005, lambda 1, alpha 1: by hand
 *   t=1 mean 0    PH = max(0, 0 - 0 - .005)          = 0
 *   t=2 mean 0    PH                                 = 0
 *   t=3 mean 1/3  PH = 0 + 1 - 1/3 - .005            = 0.661667
 *   t=4 mean 1/2  PH = 0.661667 + 1 - .5 - .005      = 1.156667 > 1: alarm */
static void
test_hand_checked_statistic(void **state)
{
	struct tfa_ph ph;
	struct tfa_ph_config c = { 0.005f, 1.0f, 1.0f, 1 };
	(void)state;

	assert_int_equal(tfa_ph_init(&ph, &c), 0);
	assert_int_equal(tfa_ph_update(&ph, 0.0f), 0);
	assert_float_equal(tfa_ph_score(&ph), 0.0f, 1e-7f);
	assert_int_equal(tfa_ph_update(&ph, 0.0f), 0);
	assert_int_equal(tfa_ph_update(&ph, 1.0f), 0);
	assert_float_equal(tfa_ph_score(&ph), 0.661667f, 1e-5f);
	assert_int_equal(tfa_ph_alarm(&ph), 0);
	assert_int_equal(tfa_ph_update(&ph, 1.0f), 1);
	assert_float_equal(tfa_ph_score(&ph), 1.156667f, 1e-5f);
	assert_int_equal(tfa_ph_alarm(&ph), 1);
	/* The next sample starts a new test. */
	assert_int_equal(tfa_ph_update(&ph, 1.0f), 0);
	assert_int_equal(tfa_ph_alarm(&ph), 0);
	assert_int_equal(ph.n, 1);
	assert_float_equal(tfa_ph_score(&ph), 0.0f, 1e-7f);
}

/* Forgetting: x = 0, 1, 1, delta 0, alpha 0.5:
 *   t=2 mean .5   PH = .5;   t=3 mean 2/3  PH = .25 + 1/3 = .583333 */
static void
test_hand_checked_forgetting(void **state)
{
	struct tfa_ph ph;
	struct tfa_ph_config c = { 0.0f, 100.0f, 0.5f, 1 };
	(void)state;

	assert_int_equal(tfa_ph_init(&ph, &c), 0);
	tfa_ph_update(&ph, 0.0f);
	tfa_ph_update(&ph, 1.0f);
	assert_float_equal(tfa_ph_score(&ph), 0.5f, 1e-6f);
	tfa_ph_update(&ph, 1.0f);
	assert_float_equal(tfa_ph_score(&ph), 0.583333f, 1e-5f);
}

/* With alpha = 1 the clamped recursion equals the textbook m_T - min(0, min_t m_t),
 * m_T = sum_t (x_t - mean_t - delta), computed here in double on a random stream. */
static void
test_equals_textbook_form(void **state)
{
	struct tfa_ph ph;
	struct tfa_ph_config c = { 0.005f, 1e9f, 1.0f, 1 };
	struct rng r;
	double mean = 0.0, m = 0.0, m_min = 0.0;
	int t;
	(void)state;

	rng_seed(&r, 7);
	assert_int_equal(tfa_ph_init(&ph, &c), 0);
	for (t = 1; t <= 2000; t++) {
		float x = rng_uniform(&r) * (t > 1000 ? 1.2f : 1.0f);
		mean += ((double)x - mean) / t;
		m += (double)x - mean - 0.005;
		if (m < m_min)
			m_min = m;
		tfa_ph_update(&ph, x);
		assert_true(fabs((double)tfa_ph_score(&ph) - (m - m_min)) < 1e-3 + 1e-4 * (m - m_min));
	}
}

static void
test_no_alarm_on_constant_streams(void **state)
{
	struct tfa_ph ph;
	static const float levels[] = { 0.0f, 0.05f, 0.3f, 1.0f };
	unsigned k;
	int t;
	(void)state;

	for (k = 0; k < sizeof(levels) / sizeof(levels[0]); k++) {
		assert_int_equal(tfa_ph_init(&ph, NULL), 0);
		for (t = 0; t < 100000; t++)
			assert_int_equal(tfa_ph_update(&ph, levels[k]), 0);
		assert_true(tfa_ph_score(&ph) < 1e-3f);
	}
}

/* Error rate 0.05 -> 0.30 at sample 3000: detected after the change, within 400 samples
 * (expected delay about lambda / (0.30 - 0.05 - delta) = 204), and never before it. */
static void
test_detects_error_rate_jump(void **state)
{
	struct tfa_ph ph;
	struct rng r;
	uint64_t seed;
	int t;
	(void)state;

	for (seed = 1; seed <= 5; seed++) {
		int alarm_at = -1;
		rng_seed(&r, seed);
		assert_int_equal(tfa_ph_init(&ph, NULL), 0);
		for (t = 0; t < 4000 && alarm_at < 0; t++) {
			float x = (float)rng_bernoulli(&r, t < 3000 ? 0.05f : 0.30f);
			if (tfa_ph_update(&ph, x))
				alarm_at = t;
		}
		assert_true(alarm_at >= 3000);
		assert_true(alarm_at < 3400);
	}
}

static void
test_min_samples_and_bad_input(void **state)
{
	struct tfa_ph ph;
	struct tfa_ph_config c = { 0.0f, 0.5f, 1.0f, 5 };
	float nan = NAN;
	int t;
	(void)state;

	assert_int_equal(tfa_ph_init(&ph, &c), 0);
	tfa_ph_update(&ph, 0.0f);
	for (t = 0; t < 3; t++)
		assert_int_equal(tfa_ph_update(&ph, 1.0f), 0);     /* n < 5 */
	assert_int_equal(tfa_ph_update(&ph, nan), 0);               /* ignored */
	assert_int_equal(ph.n, 4);
	assert_int_equal(tfa_ph_update(&ph, 1.0f), 1);

	assert_int_equal(tfa_ph_init(NULL, NULL), TFP_ERR_ARG);
	c.alpha = 0.0f;
	assert_int_equal(tfa_ph_init(&ph, &c), TFP_ERR_ARG);
	c.alpha = 1.0f;
	c.lambda = 0.0f;
	assert_int_equal(tfa_ph_init(&ph, &c), TFP_ERR_ARG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_are_published_values),
		cmocka_unit_test(test_hand_checked_statistic),
		cmocka_unit_test(test_hand_checked_forgetting),
		cmocka_unit_test(test_equals_textbook_form),
		cmocka_unit_test(test_no_alarm_on_constant_streams),
		cmocka_unit_test(test_detects_error_rate_jump),
		cmocka_unit_test(test_min_samples_and_bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
