/*
 * HDDM_A, Frias-Blanco et al. 2015, one-sided A-test (see drift.h). Follows the MOA /
 * river formulation: the cut point is the prefix whose mean plus its Hoeffding bound is
 * smallest, and the test compares the whole-stream mean against it.
 */
#include <math.h>

#include "tinyfleet/agent/drift.h"
#include "tinyfleet/protocol/error.h"

#include "drift_util.h"

void
tfa_hddm_config_default(struct tfa_hddm_config *cfg)
{
	cfg->drift_conf = 0.001f;
	cfg->warn_conf = 0.005f;
}

void
tfa_hddm_reset(struct tfa_hddm *h)
{
	h->n = 0;
	h->n_cut = 0;
	h->c = 0.0f;
	h->c_cut = 0.0f;
	h->score = 0.0f;
	h->warning = 0;
	h->alarm = 0;
}

int
tfa_hddm_init(struct tfa_hddm *h, const struct tfa_hddm_config *cfg)
{
	struct tfa_hddm_config c;

	if (h == NULL)
		return TFP_ERR_ARG;
	if (cfg == NULL)
		tfa_hddm_config_default(&c);
	else
		c = *cfg;
	if (!(c.drift_conf > 0.0f && c.drift_conf < 1.0f) ||
	    !(c.warn_conf >= c.drift_conf && c.warn_conf < 1.0f))
		return TFP_ERR_ARG;
	h->cfg = c;
	h->ln_drift = logf(2.0f / c.drift_conf);
	h->ln_warn = logf(2.0f / c.warn_conf);
	h->ln_cut = logf(1.0f / c.drift_conf);
	tfa_hddm_reset(h);
	return 0;
}

int
tfa_hddm_update(struct tfa_hddm *h, float x)
{
	float n, mean, m, diff;

	if (h->alarm)
		tfa_hddm_reset(h);
	h->warning = 0;
	if (!tfa__finite(x))
		return 0;
	x = tfa__unit(x);       /* the Hoeffding bounds assume values in [0, 1] */
	h->n++;
	h->c += x;
	n = (float)h->n;
	mean = h->c / n;
	if (h->n_cut == 0) {
		h->n_cut = h->n;
		h->c_cut = h->c;
	} else {
		float nc = (float)h->n_cut;
		float b_cut = sqrtf(h->ln_cut / (2.0f * nc));
		float b_now = sqrtf(h->ln_cut / (2.0f * n));
		if (h->c_cut / nc + b_cut >= mean + b_now) {
			h->n_cut = h->n;
			h->c_cut = h->c;
		}
	}
	if (h->n_cut == h->n) {
		h->score = 0.0f;
		return 0;
	}
	m = (float)(h->n - h->n_cut) / ((float)h->n_cut * n);
	diff = mean - h->c_cut / (float)h->n_cut;
	h->score = diff > 0.0f ? diff / sqrtf(m / 2.0f * h->ln_drift) : 0.0f;
	if (h->score >= 1.0f) {
		h->alarm = 1;
		return 1;
	}
	if (diff >= sqrtf(m / 2.0f * h->ln_warn))
		h->warning = 1;
	return 0;
}

int
tfa_hddm_alarm(const struct tfa_hddm *h)
{
	return h->alarm;
}

int
tfa_hddm_warning(const struct tfa_hddm *h)
{
	return h->warning;
}

float
tfa_hddm_score(const struct tfa_hddm *h)
{
	return h->score;
}
