/*
 * rollout_gates: the arithmetic of a rollout's health gates, kept apart from the engine so
 * that it can be read and tested on its own (no I/O, no state).
 *
 * A device is judged on its own pre-update baseline (schemas/README.md "Gates"): a drift
 * alarm it did not have, a loss increase, an accuracy drop or a confidence drop beyond the
 * rollout's limits fails it. With a control group, each change is taken net of the median
 * change of targeted devices still on the old version, so drift in the data itself is not
 * blamed on the model. A wave's gates compare counts with limits.
 */
#ifndef GW_ROLLOUT_GATES_H
#define GW_ROLLOUT_GATES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rollout_def.h"

/* One device's quality figures at one moment (from the monitor's latest report). */
struct gw_qsnap {
	float loss, accuracy, confidence;
	uint32_t samples;
	uint8_t valid;        /* 0: no telemetry was known */
	uint8_t drift;        /* a concept-drift detector was in alarm */
};

/* Median change (after minus before) of the control devices: each of the three figures. */
struct gw_qcontrol {
	double loss, accuracy, confidence;
	size_t n;             /* devices it was taken over; 0: no control (changes not netted) */
};

enum gw_qverdict {
	GW_Q_UNJUDGED = 0,           /* too few samples on the new model yet */
	GW_Q_OK,
	GW_Q_DRIFT_ALARM,
	GW_Q_LOSS_INCREASE,
	GW_Q_ACCURACY_DROP,
	GW_Q_CONFIDENCE_DROP,
};

struct gw_qresult {
	enum gw_qverdict verdict;
	double loss_change, accuracy_change, confidence_change;   /* net of the control */
	bool new_drift_alarm;
};

/* Judges now against base with the limits; ctl may be NULL (no control group). */
void gw_gates_judge(const struct gw_quality_limits *l, const struct gw_qsnap *base,
                    const struct gw_qsnap *now, const struct gw_qcontrol *ctl,
                    struct gw_qresult *out);

/* The median of the changes of n control devices (before[i] -> after[i], both valid);
 * scratch holds n doubles. */
void gw_gates_control(const struct gw_qsnap *before, const struct gw_qsnap *after, size_t n,
                      double *scratch, struct gw_qcontrol *out);

/* What a wave's counts say. */
struct gw_wave_counts {
	uint32_t devices;      /* non-skipped devices of the wave */
	uint32_t succeeded;
	uint32_t failed;       /* update failed (any reason) */
	uint32_t reverted;     /* reverted by the device itself */
	uint32_t judged;       /* quality judged (ok or not) */
	uint32_t quality_failed;
};

enum gw_gate { GW_GATE_FAILURE_RATE, GW_GATE_REVERTS, GW_GATE_QUALITY, GW_GATE_SUCCESS,
               GW_GATE_COUNT };

struct gw_gate_eval {
	double value[GW_GATE_COUNT], limit[GW_GATE_COUNT];
	bool ok[GW_GATE_COUNT];
	bool evaluated;
};

/* Evaluates the gates of one wave. Returns the first failing health gate (failure rate,
 * reverts, quality), or GW_GATE_COUNT when they hold; success_threshold is reported in
 * out but is not a failure (a wave that has not reached it is not yet passed). */
enum gw_gate gw_gates_wave(const struct gw_rollout_def *d, const struct gw_wave_counts *c,
                           struct gw_gate_eval *out);

const char *gw_gate_name(enum gw_gate g);

#endif
