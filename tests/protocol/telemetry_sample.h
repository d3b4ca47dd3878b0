/*
 * The reference telemetry snapshot shared by the telemetry tests, the interop tool, the
 * fuzz seed generator and the benchmark: a 64-feature, 10-class model mid-drift. Every
 * value is exactly representable in binary32 so that other implementations can compare
 * exactly (tests/interop/telemetry_check.py holds the same numbers).
 */
#ifndef TF_TESTS_TELEMETRY_SAMPLE_H
#define TF_TESTS_TELEMETRY_SAMPLE_H

#include <string.h>

#include "tinyfleet/protocol/telemetry.h"

/* shift[i] for the sample: magnitudes spread over 0..2 with ties between +x and -x. */
static inline float
tf_sample_shift(unsigned i)
{
	return (float)((int)((i * 37u) % 64u) - 32) / 16.0f;
}

static inline void
tf_telemetry_sample(struct tfp_telemetry *t, unsigned n_features, int with_optional)
{
	tfp_telemetry_init(t);
	memcpy(t->device_id, "pump-17", sizeof("pump-17"));
	memcpy(t->model, "vib-anomaly", sizeof("vib-anomaly"));
	memcpy(t->version, "1.4.2", sizeof("1.4.2"));
	t->time = 1764000000.0;
	t->samples = 5000;
	t->labelled = 500;
	t->loss = 0.375f;
	t->accuracy = 0.875f;
	t->alarm = true;
	t->why = TFP_TELEM_WHY_PH | TFP_TELEM_WHY_SHIFT;
	t->ph.score = 62.5f;
	t->ph.alarm = true;
	t->adwin.score = 0.25f;
	t->adwin_width = 1024;
	t->ddm.score = 1.5f;
	t->psi = 0.125f;
	t->psi_max = 0.5f;
	t->conf_mean = 0.75f;
	t->margin_mean = 0.5f;
	if (with_optional) {
		t->optional = TFP_TELEM_OPT_ALL;
		t->hddm.score = 0.0625f;
		t->lr = 0.0078125f;
		t->steps = 480;
	}
	t->n_features = (uint16_t)n_features;
	for (unsigned i = 0; i < n_features; i++) {
		t->shift[i] = tf_sample_shift(i);
		t->shift_mask |= UINT64_C(1) << i;
	}
}

#endif
