/*
 * Agent metrics -> SenML-CBOR telemetry. See tinyfleet/agent/telemetry_report.h.
 */
#include "tinyfleet/agent/telemetry_report.h"

#include <string.h>

/* The drift bundle's alarm bits are the wire's "why" bits, one for one. */
_Static_assert(TFA_DRIFT_PH == TFP_TELEM_WHY_PH && TFA_DRIFT_ADWIN == TFP_TELEM_WHY_ADWIN &&
                   TFA_DRIFT_DDM == TFP_TELEM_WHY_DDM && TFA_DRIFT_HDDM == TFP_TELEM_WHY_HDDM &&
                   TFA_DRIFT_SHIFT == TFP_TELEM_WHY_SHIFT && TFA_DRIFT_PSI == TFP_TELEM_WHY_PSI &&
                   TFA_DRIFT_CONF == TFP_TELEM_WHY_CONF,
               "drift alarm bits and telemetry why bits must match");
_Static_assert(TFA_DRIFT_MAX_FEATURES <= TFP_TELEM_FEATURES_MAX,
               "every watched feature must fit the telemetry record set");

static int
copy_id(char *dst, size_t cap, const char *src)
{
	size_t n;
	if (src == NULL || (n = strlen(src)) == 0 || n >= cap)
		return TFP_ERR_ARG;
	memcpy(dst, src, n + 1);
	return 0;
}

int
tfa_telemetry_build(const struct tfa_telemetry_source *src, struct tfp_telemetry *t,
                    uint8_t *buf, size_t budget, struct tfp_telem_enc_info *info)
{
	const struct tfa_drift_report *r = src->report;
	int rc;

	tfp_telemetry_init(t);
	if (r == NULL)
		return TFP_ERR_ARG;
	if ((rc = copy_id(t->device_id, sizeof(t->device_id), src->device_id)) != 0 ||
	    (rc = copy_id(t->model, sizeof(t->model), src->model)) != 0 ||
	    (rc = copy_id(t->version, sizeof(t->version), src->version)) != 0)
		return rc;
	t->time = src->time;
	t->samples = r->n_predictions;
	t->labelled = r->n_labels;
	t->loss = r->i_mean_loss;
	t->accuracy = r->i_accuracy;
	t->why = r->alarms;
	t->alarm = r->alarms != 0;
	t->ph.score = r->ph_score;
	t->ph.alarm = (r->alarms & TFA_DRIFT_PH) != 0;
	t->adwin.score = r->adwin_score;
	t->adwin.alarm = (r->alarms & TFA_DRIFT_ADWIN) != 0;
	t->adwin_width = r->adwin_width;
	t->ddm.score = r->ddm_score;
	t->ddm.alarm = (r->alarms & TFA_DRIFT_DDM) != 0;
	t->psi_max = r->psi_max;
	t->conf_mean = r->conf_maxprob;
	t->margin_mean = r->conf_margin;
	if (r->enabled & TFA_DRIFT_HDDM) {
		t->optional |= TFP_TELEM_OPT_HDDM | TFP_TELEM_OPT_HDDM_ALARM;
		t->hddm.score = r->hddm_score;
		t->hddm.alarm = (r->alarms & TFA_DRIFT_HDDM) != 0;
	}
	if (src->tinyol != NULL) {
		t->optional |= TFP_TELEM_OPT_LR | TFP_TELEM_OPT_STEPS;
		t->lr = src->tinyol->cfg.lr;
		t->steps = src->tinyol->updates;
	}
	if (src->drift != NULL && (src->drift->cfg.enabled & (TFA_DRIFT_SHIFT | TFA_DRIFT_PSI))) {
		const struct tfa_drift_data *d = &src->drift->data;
		float psi_sum = 0.0f;
		t->n_features = d->st.n_features;
		for (uint16_t j = 0; j < d->st.n_features; j++) {
			t->shift[j] = tfa_drift_data_shift(d, j);
			t->shift_mask |= UINT64_C(1) << j;
			psi_sum += tfa_drift_data_psi(d, j);
		}
		t->psi = d->st.n_features > 0 ? psi_sum / (float)d->st.n_features : 0.0f;
	}
	return tfp_telemetry_encode(t, buf, budget, info);
}
