/*
 * Drift monitor. See monitor.h.
 */
#include "monitor.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "outbox.h"

/* Telemetry alarm bits -> the contract's detector names and the published default
 * thresholds of the device-side detectors (device-agent/include/tinyfleet/agent/drift.h). */
static const struct {
	uint32_t bit;
	const char *detector;
	float threshold;
} detectors[] = {
	{ TFP_TELEM_WHY_PH, "page_hinkley", 50.0f },     /* lambda */
	{ TFP_TELEM_WHY_ADWIN, "adwin", 1.0f },          /* |mean0 - mean1| / eps_cut */
	{ TFP_TELEM_WHY_DDM, "accuracy", 3.0f },         /* DDM: p + s > p_min + 3 s_min */
	{ TFP_TELEM_WHY_HDDM, "accuracy", 1.0f },
	{ TFP_TELEM_WHY_SHIFT, "feature_shift", 0.5f },  /* training standard deviations */
	{ TFP_TELEM_WHY_PSI, "psi", 0.25f },
	{ TFP_TELEM_WHY_CONF, "confidence", 1.0f },
};

static float
score_of(const struct tfp_telemetry *t, uint32_t bit)
{
	switch (bit) {
	case TFP_TELEM_WHY_PH: return t->ph.score;
	case TFP_TELEM_WHY_ADWIN: return t->adwin.score;
	case TFP_TELEM_WHY_DDM: return t->ddm.score;
	case TFP_TELEM_WHY_HDDM: return t->hddm.score;
	case TFP_TELEM_WHY_PSI: return t->psi_max;
	case TFP_TELEM_WHY_SHIFT: {
		float best = 0.0f;
		for (unsigned i = 0; i < t->n_features && i < TFP_TELEM_FEATURES_MAX; i++)
			if ((t->shift_mask >> i & 1) && fabsf(t->shift[i]) > best)
				best = fabsf(t->shift[i]);
		return best;
	}
	default: return 1.0f - t->conf_mean;
	}
}

static float
shift_max(const struct tfp_telemetry *t)
{
	return score_of(t, TFP_TELEM_WHY_SHIFT);
}

void
gw_monitor_init(struct gw_monitor *m, struct gw_store *s, gw_monitor_event_fn emit, void *arg)
{
	memset(m, 0, sizeof(*m));
	m->store = s;
	m->emit = emit;
	m->arg = arg;
	gw_devtab_init(&m->tab, offsetof(struct gw_metrics, id));
}

static void
free_entry(void *arg, void *e)
{
	(void)arg;
	free(e);
}

void
gw_monitor_close(struct gw_monitor *m)
{
	gw_devtab_each(&m->tab, free_entry, NULL);
	gw_devtab_free(&m->tab);
}

const struct gw_metrics *
gw_monitor_get(const struct gw_monitor *m, const char *id)
{
	return gw_devtab_get(&m->tab, id);
}

/* JSON numbers must be finite; a device may report NaN before its first label. */
static double
finite(float v)
{
	return isfinite(v) ? (double)v : 0.0;
}

json_t *
gw_monitor_metrics_json(const struct gw_metrics *x)
{
	char at[21];
	gw_format_time(x->updated_ms, at);
	return json_pack("{s:I, s:f, s:f, s:f, s:b, s:f, s:f, s:s}", "samples",
	                 (json_int_t)x->samples, "loss_avg", fmax(finite(x->loss), 0.0),
	                 "accuracy_avg", fmin(fmax(finite(x->accuracy), 0.0), 1.0),
	                 "confidence_avg", fmin(fmax(finite(x->confidence), 0.0), 1.0),
	                 "drift_alarm",
	                 (x->why & (TFP_TELEM_WHY_PH | TFP_TELEM_WHY_ADWIN | TFP_TELEM_WHY_DDM |
	                            TFP_TELEM_WHY_HDDM)) != 0,
	                 "psi_max", fmax(finite(x->psi_max), 0.0), "feature_shift_max",
	                 fmax(finite(x->shift_max), 0.0), "updated_at", at);
}

/* Commits the audit entry and event number of one alert, then emits it. */
static int
alert(struct gw_monitor *m, const struct gw_metrics *x, const struct tfp_telemetry *t,
      unsigned d, int raised, uint64_t now_ms)
{
	struct gw_txn tx;
	uint64_t seq;
	char at[21], *text = NULL;
	json_t *entry, *data = NULL;
	int rc;

	gw_format_time(now_ms, at);
	entry = json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s}}", "at", at, "by", x->id,
	                  "action", raised ? "drift.raised" : "drift.cleared", "details",
	                  "detector", detectors[d].detector, "model", x->model, "version",
	                  x->version, "device", x->id);
	if (entry == NULL || (text = json_dumps(entry, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
		json_decref(entry);
		return -ENOMEM;
	}
	json_decref(entry);
	data = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:o, s:n, s:s}", "scope",
	                 "device", "device", x->id, "model", x->model, "version", x->version,
	                 "state", raised ? "raised" : "cleared", "detector", detectors[d].detector,
	                 "score", finite(score_of(t, detectors[d].bit)), "threshold",
	                 (double)detectors[d].threshold, "metrics", gw_monitor_metrics_json(x),
	                 "rollout", "action", "alert");
	if ((rc = gw_store_begin(m->store, &tx)) != 0)
		goto out;
	if ((rc = gw_store_audit_append(&tx, text, strlen(text), NULL)) != 0 ||
	    (rc = gw_store_event_seq_next(&tx, &seq)) != 0 ||
	    (data != NULL && (rc = gw_outbox_record(&tx, seq, "drift.alert", data, now_ms)) != 0) ||
	    (rc = gw_store_commit(&tx)) != 0) {
		gw_store_abort(&tx);
		goto out;
	}
	m->alerts++;
	if (data != NULL && m->emit != NULL) {
		m->emit(m->arg, seq, "drift.alert", data);
		data = NULL;
	}
out:
	json_decref(data);
	free(text);
	return rc;
}

/* The counts are cumulative since the model started on the device; a report's averages
 * cover what it added (all of it when the counts went back: the device restarted). */
static void
accumulate(struct gw_metrics *x, const struct tfp_telemetry *t)
{
	double labels = t->labelled >= x->labelled ? t->labelled - x->labelled : t->labelled;
	double preds = t->samples >= x->samples ? t->samples - x->samples : t->samples;

	if (labels > 0 && isfinite(t->accuracy)) {
		x->n_labels += labels;
		x->acc_sum += labels * t->accuracy;
		x->loss_sum += labels * (isfinite(t->loss) ? t->loss : 0.0f);
	}
	if (preds > 0 && isfinite(t->conf_mean)) {
		x->n_preds += preds;
		x->conf_sum += preds * t->conf_mean;
	}
}

float
gw_metrics_accuracy(const struct gw_metrics *x)
{
	return x->n_labels > 0 ? (float)(x->acc_sum / x->n_labels) : x->accuracy;
}

float
gw_metrics_loss(const struct gw_metrics *x)
{
	return x->n_labels > 0 ? (float)(x->loss_sum / x->n_labels) : x->loss;
}

float
gw_metrics_confidence(const struct gw_metrics *x)
{
	return x->n_preds > 0 ? (float)(x->conf_sum / x->n_preds) : x->confidence;
}

int
gw_monitor_on_telemetry(struct gw_monitor *m, const struct tfp_telemetry *t, uint64_t now_ms)
{
	struct gw_metrics *x = gw_devtab_get(&m->tab, t->device_id);
	uint32_t before;
	int rc;

	if (x == NULL) {
		if ((x = calloc(1, sizeof(*x))) == NULL)
			return -ENOMEM;
		memcpy(x->id, t->device_id, sizeof(x->id));
		if ((rc = gw_devtab_add(&m->tab, x)) != 0) {
			free(x);
			return rc;
		}
	}
	/* A new model version starts with a clean slate of alarms and averages. */
	if (strcmp(x->model, t->model) != 0 || strcmp(x->version, t->version) != 0) {
		memcpy(x->model, t->model, sizeof(x->model));
		memcpy(x->version, t->version, sizeof(x->version));
		x->why = 0;
		x->samples = x->labelled = 0;
		x->n_labels = x->acc_sum = x->loss_sum = x->n_preds = x->conf_sum = 0.0;
	}
	accumulate(x, t);
	before = x->why;
	x->samples = t->samples;
	x->labelled = t->labelled;
	x->loss = t->loss;
	x->accuracy = t->accuracy;
	x->confidence = t->conf_mean;
	x->psi_max = t->psi_max;
	x->shift_max = shift_max(t);
	x->updated_ms = now_ms;
	x->why = t->why;
	m->reports++;
	for (unsigned d = 0; d < sizeof(detectors) / sizeof(detectors[0]); d++) {
		uint32_t bit = detectors[d].bit;
		if ((t->why & bit) != (before & bit) &&
		    (rc = alert(m, x, t, d, (t->why & bit) != 0, now_ms)) != 0) {
			log_warnx("monitor: drift alert for %s not recorded: %s", x->id, strerror(-rc));
			/* Try again with the next report rather than lose the alert. */
			x->why ^= bit;
		}
	}
	return 0;
}
