/*
 * Prediction confidence: EWMAs of the top probability and of the top1 - top2 margin,
 * with a drop alarm against a configured or learned reference (see drift.h).
 */
#include "tinyfleet/agent/drift.h"
#include "tinyfleet/protocol/error.h"

#include "drift_util.h"

void
tfa_conf_config_default(struct tfa_conf_config *cfg)
{
	cfg->ewma_alpha = 0.01f;
	cfg->ref_samples = 200;
	cfg->ref_maxprob = 0.0f;
	cfg->ref_margin = 0.0f;
	cfg->drop_maxprob = 0.10f;
	cfg->drop_margin = 0.15f;
}

void
tfa_conf_reset(struct tfa_conf *c)
{
	c->n = 0;
	c->ref_ready = c->cfg.ref_maxprob > 0.0f && c->cfg.ref_margin > 0.0f;
	c->ref_maxprob = c->ref_ready ? c->cfg.ref_maxprob : 0.0f;
	c->ref_margin = c->ref_ready ? c->cfg.ref_margin : 0.0f;
	c->maxprob = c->ref_maxprob;
	c->margin = c->ref_margin;
	c->score = 0.0f;
	c->alarm = 0;
}

int
tfa_conf_init(struct tfa_conf *c, const struct tfa_conf_config *cfg)
{
	struct tfa_conf_config k;

	if (c == NULL)
		return TFP_ERR_ARG;
	if (cfg == NULL)
		tfa_conf_config_default(&k);
	else
		k = *cfg;
	if (!(k.ewma_alpha > 0.0f && k.ewma_alpha <= 1.0f))
		return TFP_ERR_ARG;
	if (!(k.ref_maxprob >= 0.0f && k.ref_maxprob <= 1.0f) ||
	    !(k.ref_margin >= 0.0f && k.ref_margin <= 1.0f))
		return TFP_ERR_ARG;
	/* A reference is given for both values or learned for both. */
	if ((k.ref_maxprob > 0.0f) != (k.ref_margin > 0.0f))
		return TFP_ERR_ARG;
	if (k.ref_samples == 0 && k.ref_maxprob == 0.0f)
		return TFP_ERR_ARG;
	if (!(k.drop_maxprob > 0.0f && k.drop_maxprob <= 1.0f) ||
	    !(k.drop_margin > 0.0f && k.drop_margin <= 1.0f))
		return TFP_ERR_ARG;
	c->cfg = k;
	tfa_conf_reset(c);
	return 0;
}

int
tfa_conf_update(struct tfa_conf *c, const float *probs, uint16_t n_classes)
{
	float top1 = -1.0f, top2 = -1.0f, a = c->cfg.ewma_alpha, s1, s2;
	uint16_t i;
	uint8_t was = c->alarm;

	if (probs == NULL || n_classes < 2)
		return TFP_ERR_ARG;
	for (i = 0; i < n_classes; i++) {
		float p = probs[i];
		if (!tfa__finite(p))
			return 0;       /* a broken output vector says nothing about confidence */
		p = tfa__unit(p);
		if (p > top1) {
			top2 = top1;
			top1 = p;
		} else if (p > top2) {
			top2 = p;
		}
	}
	c->n++;
	if (!c->ref_ready) {
		/* Learning the reference: plain sums, then means; the EWMAs start there. */
		c->ref_maxprob += top1;
		c->ref_margin += top1 - top2;
		if (c->n == c->cfg.ref_samples) {
			c->ref_maxprob /= (float)c->n;
			c->ref_margin /= (float)c->n;
			c->maxprob = c->ref_maxprob;
			c->margin = c->ref_margin;
			c->ref_ready = 1;
		} else {
			c->maxprob = c->ref_maxprob / (float)c->n;
			c->margin = c->ref_margin / (float)c->n;
		}
		return 0;
	}
	c->maxprob += a * (top1 - c->maxprob);
	c->margin += a * ((top1 - top2) - c->margin);
	s1 = (c->ref_maxprob - c->maxprob) / c->cfg.drop_maxprob;
	s2 = (c->ref_margin - c->margin) / c->cfg.drop_margin;
	c->score = s1 > s2 ? s1 : s2;
	if (c->score < 0.0f)
		c->score = 0.0f;
	c->alarm = c->score > 1.0f;
	return c->alarm && !was;
}

int
tfa_conf_alarm(const struct tfa_conf *c)
{
	return c->alarm;
}

float
tfa_conf_score(const struct tfa_conf *c)
{
	return c->score;
}
