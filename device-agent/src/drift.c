/*
 * The drift bundle: one config, one prediction/label API, one report (see drift.h).
 */
#include <string.h>

#include "tinyfleet/agent/drift.h"
#include "tinyfleet/protocol/error.h"

#include "drift_util.h"

/* alarm_count[] is indexed by the bit position of TFA_DRIFT_*. */
_Static_assert(TFA_DRIFT_ALL == 0x7fu, "alarm_count[] has one slot per detector bit");
#if TFA_DRIFT_MAX_FEATURES == 64 && TFA_DRIFT_MAX_BINS == 10 && TFA_ADWIN_M == 5 && \
	TFA_ADWIN_MAX_ROWS == 16
_Static_assert(sizeof(struct tfa_drift) <= TFA_DRIFT_STATE_BUDGET,
	       "the drift bundle outgrew its RAM budget");
#endif

void
tfa_drift_config_default(struct tfa_drift_config *cfg)
{
	cfg->enabled = TFA_DRIFT_ALL;
	cfg->loss_scale = 0.0f;
	tfa_ph_config_default(&cfg->ph);
	tfa_adwin_config_default(&cfg->adwin);
	tfa_ddm_config_default(&cfg->ddm);
	tfa_hddm_config_default(&cfg->hddm);
	tfa_drift_data_config_default(&cfg->data);
	tfa_conf_config_default(&cfg->conf);
}

static void
clear_interval(struct tfa_drift *d)
{
	d->i_predictions = 0;
	d->i_labels = 0;
	d->i_correct = 0;
	d->i_loss = 0.0f;
	d->alarms = 0;
	d->warnings = 0;
}

void
tfa_drift_reset(struct tfa_drift *d)
{
	tfa_ph_reset(&d->ph);
	tfa_adwin_reset(&d->adwin);
	tfa_ddm_reset(&d->ddm);
	tfa_hddm_reset(&d->hddm);
	if (d->has_data)
		tfa_drift_data_reset(&d->data);
	tfa_conf_reset(&d->conf);
	d->n_predictions = 0;
	d->n_labels = 0;
	memset(d->alarm_count, 0, sizeof(d->alarm_count));
	clear_interval(d);
}

int
tfa_drift_init(struct tfa_drift *d, const struct tfa_drift_config *cfg,
	       const struct tfa_drift_train_stats *st)
{
	int rc = TFP_ERR_ARG;

	if (d == NULL)
		goto out;
	memset(d, 0, sizeof(*d));
	if (cfg == NULL)
		tfa_drift_config_default(&d->cfg);
	else
		d->cfg = *cfg;
	if (!tfa__finite(d->cfg.loss_scale) || d->cfg.loss_scale < 0.0f ||
	    (d->cfg.enabled & ~TFA_DRIFT_ALL) != 0) {
		rc = TFP_ERR_ARG;
		goto out;
	}
	if ((rc = tfa_ph_init(&d->ph, &d->cfg.ph)) != 0)
		goto out;
	if ((rc = tfa_adwin_init(&d->adwin, &d->cfg.adwin)) != 0)
		goto out;
	if ((rc = tfa_ddm_init(&d->ddm, &d->cfg.ddm)) != 0)
		goto out;
	if ((rc = tfa_hddm_init(&d->hddm, &d->cfg.hddm)) != 0)
		goto out;
	if ((rc = tfa_conf_init(&d->conf, &d->cfg.conf)) != 0)
		goto out;
	if (st != NULL) {
		if ((rc = tfa_drift_data_init(&d->data, &d->cfg.data, st)) != 0)
			goto out;
		d->has_data = 1;
	} else {
		d->cfg.enabled &= ~(TFA_DRIFT_SHIFT | TFA_DRIFT_PSI);
	}
	rc = 0;
out:
	return rc;
}

static void
count_alarms(struct tfa_drift *d, unsigned bits)
{
	unsigned i;

	d->alarms |= bits;
	for (i = 0; i < 7; i++)
		if ((bits & (1u << i)) && d->alarm_count[i] < 0xffffu)
			d->alarm_count[i]++;
}

int
tfa_drift_on_prediction(struct tfa_drift *d, const float *features, const float *probs,
			uint16_t n_classes)
{
	unsigned bits = 0;
	int rc;

	if (d == NULL)
		return TFP_ERR_ARG;
	if ((d->cfg.enabled & (TFA_DRIFT_SHIFT | TFA_DRIFT_PSI)) != 0) {
		if (features == NULL)
			return TFP_ERR_ARG;
		rc = tfa_drift_data_update(&d->data, features);
		if (rc < 0)
			return rc;
		bits |= (unsigned)rc & d->cfg.enabled;
		if (d->data.psi_warning && (d->cfg.enabled & TFA_DRIFT_PSI))
			d->warnings |= TFA_DRIFT_PSI;
	}
	if ((d->cfg.enabled & TFA_DRIFT_CONF) && probs != NULL && n_classes >= 2) {
		rc = tfa_conf_update(&d->conf, probs, n_classes);
		if (rc < 0)
			return rc;
		if (rc > 0)
			bits |= TFA_DRIFT_CONF;
	}
	d->n_predictions++;
	d->i_predictions++;
	count_alarms(d, bits);
	return (int)bits;
}

int
tfa_drift_on_label(struct tfa_drift *d, float loss, int correct)
{
	unsigned bits = 0, en;
	float x;

	if (d == NULL)
		return TFP_ERR_ARG;
	en = d->cfg.enabled;
	d->n_labels++;
	d->i_labels++;
	if (correct)
		d->i_correct++;
	if (tfa__finite(loss))
		d->i_loss += loss;
	/* The stream the mean-change detectors watch: the error indicator, or the loss
	 * scaled into [0, 1] (ADWIN's and HDDM's bounds assume that range). */
	if (d->cfg.loss_scale > 0.0f) {
		x = loss / d->cfg.loss_scale;   /* NaN stays NaN and is skipped below */
		if (x < 0.0f)
			x = 0.0f;
		if (x > 1.0f)
			x = 1.0f;
	} else {
		x = correct ? 0.0f : 1.0f;
	}
	if ((en & TFA_DRIFT_PH) && tfa_ph_update(&d->ph, x) > 0)
		bits |= TFA_DRIFT_PH;
	if ((en & TFA_DRIFT_ADWIN) && tfa_adwin_update(&d->adwin, x) > 0)
		bits |= TFA_DRIFT_ADWIN;
	if (en & TFA_DRIFT_DDM) {
		if (tfa_ddm_update(&d->ddm, !correct) > 0)
			bits |= TFA_DRIFT_DDM;
		if (d->ddm.warning)
			d->warnings |= TFA_DRIFT_DDM;
	}
	if (en & TFA_DRIFT_HDDM) {
		if (tfa_hddm_update(&d->hddm, x) > 0)
			bits |= TFA_DRIFT_HDDM;
		if (d->hddm.warning)
			d->warnings |= TFA_DRIFT_HDDM;
	}
	count_alarms(d, bits);
	return (int)bits;
}

int
tfa_drift_report(struct tfa_drift *d, struct tfa_drift_report *r, int clear)
{
	if (d == NULL || r == NULL)
		return TFP_ERR_ARG;
	memset(r, 0, sizeof(*r));
	r->n_predictions = d->n_predictions;
	r->n_labels = d->n_labels;
	r->i_predictions = d->i_predictions;
	r->i_labels = d->i_labels;
	if (d->i_labels > 0) {
		r->i_mean_loss = d->i_loss / (float)d->i_labels;
		r->i_accuracy = (float)d->i_correct / (float)d->i_labels;
	}
	r->alarms = d->alarms;
	/* Level alarms (shift, confidence) also count while their condition still holds,
	 * even if they rose before the last clearing report. */
	if (d->has_data && d->data.shift_alarm && (d->cfg.enabled & TFA_DRIFT_SHIFT))
		r->alarms |= TFA_DRIFT_SHIFT;
	if (d->conf.alarm && (d->cfg.enabled & TFA_DRIFT_CONF))
		r->alarms |= TFA_DRIFT_CONF;
	r->warnings = d->warnings;
	r->enabled = d->cfg.enabled;
	r->ph_score = tfa_ph_score(&d->ph);
	r->adwin_score = tfa_adwin_score(&d->adwin);
	r->adwin_width = tfa_adwin_width(&d->adwin);
	r->adwin_mean = tfa_adwin_mean(&d->adwin);
	r->ddm_score = tfa_ddm_score(&d->ddm);
	r->ddm_p = d->ddm.n ? (float)d->ddm.errors / (float)d->ddm.n : 0.0f;
	r->hddm_score = tfa_hddm_score(&d->hddm);
	if (d->has_data) {
		r->shift_max = d->data.shift_max;
		r->shift_feature = d->data.shift_feature;
		r->psi_max = d->data.psi_max;
		r->psi_feature = d->data.psi_feature;
		r->psi_over = d->data.psi_over;
	}
	r->conf_maxprob = d->conf.maxprob;
	r->conf_margin = d->conf.margin;
	r->conf_score = tfa_conf_score(&d->conf);
	memcpy(r->alarm_count, d->alarm_count, sizeof(r->alarm_count));
	if (clear)
		clear_interval(d);
	return 0;
}
