/*
 * Page-Hinkley test for an increase of the mean (see drift.h for the recursion).
 *
 * The statistic is kept in Page's clamped form PH = max(0, alpha * PH + x - mean - delta)
 * rather than as m_T and min m_T: the two are equal for alpha = 1, but the clamped form
 * stays bounded, so float precision does not decay on a stream of millions of samples.
 */
#include "tinyfleet/agent/drift.h"
#include "tinyfleet/protocol/error.h"

#include "drift_util.h"

void
tfa_ph_config_default(struct tfa_ph_config *cfg)
{
	cfg->delta = 0.005f;
	cfg->lambda = 50.0f;
	cfg->alpha = 1.0f - 0.0001f;
	cfg->min_samples = 30;
}

void
tfa_ph_reset(struct tfa_ph *ph)
{
	ph->n = 0;
	ph->mean = 0.0f;
	ph->ph = 0.0f;
	ph->alarm = 0;
}

int
tfa_ph_init(struct tfa_ph *ph, const struct tfa_ph_config *cfg)
{
	struct tfa_ph_config c;

	if (ph == NULL)
		return TFP_ERR_ARG;
	if (cfg == NULL)
		tfa_ph_config_default(&c);
	else
		c = *cfg;
	if (!tfa__finite(c.delta) || c.delta < 0.0f || !tfa__finite(c.lambda) ||
	    c.lambda <= 0.0f || !(c.alpha > 0.0f && c.alpha <= 1.0f))
		return TFP_ERR_ARG;
	ph->cfg = c;
	tfa_ph_reset(ph);
	return 0;
}

int
tfa_ph_update(struct tfa_ph *ph, float x)
{
	float v, mean;

	/* An alarm restarts the test on the sample after it, so the flag stays readable
	 * until then (scikit-multiflow behaves the same way). */
	if (ph->alarm)
		tfa_ph_reset(ph);
	if (!tfa__finite(x))
		return 0;
	/* x - mean can overflow for huge finite values of opposite sign; such a sample is
	 * dropped rather than turning the mean into inf and then NaN for good. */
	mean = ph->mean + (x - ph->mean) / (float)(ph->n + 1u);
	if (!tfa__finite(mean))
		return 0;
	ph->n++;
	ph->mean = mean;
	v = ph->cfg.alpha * ph->ph + (x - ph->mean - ph->cfg.delta);
	ph->ph = v > 0.0f ? v : 0.0f;
	if (ph->n >= ph->cfg.min_samples && ph->ph > ph->cfg.lambda) {
		ph->alarm = 1;
		return 1;
	}
	return 0;
}

int
tfa_ph_alarm(const struct tfa_ph *ph)
{
	return ph->alarm;
}

float
tfa_ph_score(const struct tfa_ph *ph)
{
	return ph->ph;
}
