/*
 * monitor: what the devices' telemetry says about their models.
 *
 * Keeps each device's latest quality figures (SenML-CBOR telemetry, already validated and
 * tied to the authenticated device id by the daemon) and turns detector alarms into
 * drift.alert events: one "raised" event when a detector's alarm bit appears in a
 * device's report and one "cleared" event when a later report no longer carries it. Each
 * event's sequence number is committed with an audit entry before the event goes out.
 * Thresholds in the events are the detectors' published defaults (the device may be
 * configured otherwise; the score is the device's own).
 *
 * Memory: about 128 bytes per reporting device. Loop thread only. Errors: negative errno.
 */
#ifndef GW_MONITOR_H
#define GW_MONITOR_H

#include <stdint.h>

#include <jansson.h>

#include "devtab.h"
#include "store.h"
#include "tinyfleet/protocol/telemetry.h"

struct gw_metrics {
	char id[TFP_DEVICE_ID_MAX + 1];
	char model[TFP_MODEL_NAME_MAX + 1];
	char version[TFP_VERSION_MAX + 1];
	uint32_t samples;
	uint32_t labelled;       /* of samples: labelled (both counted since the model started) */
	uint32_t why;            /* alarm bits of the latest report (TFP_TELEM_WHY_*) */
	float loss, accuracy, confidence, psi_max, shift_max;   /* the latest report's */
	uint64_t updated_ms;
	/* Averages over everything reported on this version (weighted by the labels, or for
	 * confidence the samples, each report covers): what quality gates judge, since one
	 * report's interval may hold only a handful of labels. */
	double n_labels, acc_sum, loss_sum, n_preds, conf_sum;
};

/* The averages since the version started (the latest report's figure while none). */
float gw_metrics_accuracy(const struct gw_metrics *x);
float gw_metrics_loss(const struct gw_metrics *x);
float gw_metrics_confidence(const struct gw_metrics *x);

typedef void (*gw_monitor_event_fn)(void *arg, uint64_t seq, const char *kind, json_t *data);

struct gw_monitor {
	struct gw_store *store;
	struct gw_devtab tab;
	gw_monitor_event_fn emit;   /* takes ownership of data */
	void *arg;
	uint64_t reports;
	uint64_t alerts;
};

void gw_monitor_init(struct gw_monitor *m, struct gw_store *s, gw_monitor_event_fn emit,
                     void *arg);
void gw_monitor_close(struct gw_monitor *m);
int gw_monitor_on_telemetry(struct gw_monitor *m, const struct tfp_telemetry *t,
                            uint64_t now_ms);
const struct gw_metrics *gw_monitor_get(const struct gw_monitor *m, const char *id);
/* The operator contract's `metrics` object (common.schema.json) for a device. */
json_t *gw_monitor_metrics_json(const struct gw_metrics *x);

#endif
