/*
 * DDM, Gama et al. 2004 (see drift.h). The error rate is kept as two integer counts, so
 * p is exact and the hand-checked statistics in the tests hold to float rounding.
 */
#include <math.h>

#include "tinyfleet/agent/drift.h"
#include "tinyfleet/protocol/error.h"

#include "drift_util.h"

void
tfa_ddm_config_default(struct tfa_ddm_config *cfg)
{
	cfg->warn = 2.0f;
	cfg->drift = 3.0f;
	cfg->min_samples = 30;
}

void
tfa_ddm_reset(struct tfa_ddm *d)
{
	d->n = 0;
	d->errors = 0;
	d->p_min = 3.402823466e38f;     /* +inf without needing INFINITY */
	d->s_min = 3.402823466e38f;
	d->score = 0.0f;
	d->warning = 0;
	d->alarm = 0;
}

int
tfa_ddm_init(struct tfa_ddm *d, const struct tfa_ddm_config *cfg)
{
	struct tfa_ddm_config c;

	if (d == NULL)
		return TFP_ERR_ARG;
	if (cfg == NULL)
		tfa_ddm_config_default(&c);
	else
		c = *cfg;
	if (!tfa__finite(c.warn) || !tfa__finite(c.drift) || c.warn <= 0.0f ||
	    c.drift < c.warn || c.min_samples == 0)
		return TFP_ERR_ARG;
	d->cfg = c;
	tfa_ddm_reset(d);
	return 0;
}

int
tfa_ddm_update(struct tfa_ddm *d, int error)
{
	float p, s, level;

	if (d->alarm)
		tfa_ddm_reset(d);
	d->n++;
	if (error)
		d->errors++;
	d->warning = 0;
	if (d->n < d->cfg.min_samples) {
		d->score = 0.0f;
		return 0;
	}
	p = (float)d->errors / (float)d->n;
	s = sqrtf(p * (1.0f - p) / (float)d->n);
	if (p + s <= d->p_min + d->s_min) {
		d->p_min = p;
		d->s_min = s;
	}
	level = p + s - d->p_min;
	if (d->s_min > 0.0f)
		d->score = level / d->s_min;
	else
		d->score = level > 0.0f ? d->cfg.drift : 0.0f;
	if (level > d->cfg.drift * d->s_min) {
		d->alarm = 1;
		return 1;
	}
	if (level > d->cfg.warn * d->s_min)
		d->warning = 1;
	return 0;
}

int
tfa_ddm_alarm(const struct tfa_ddm *d)
{
	return d->alarm;
}

int
tfa_ddm_warning(const struct tfa_ddm *d)
{
	return d->warning;
}

float
tfa_ddm_score(const struct tfa_ddm *d)
{
	return d->score;
}
