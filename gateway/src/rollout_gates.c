/*
 * Health-gate arithmetic. See rollout_gates.h.
 */
#include "rollout_gates.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double
fin(float v)
{
	return isfinite(v) ? (double)v : 0.0;
}

void
gw_gates_judge(const struct gw_quality_limits *l, const struct gw_qsnap *base,
               const struct gw_qsnap *now, const struct gw_qcontrol *ctl,
               struct gw_qresult *out)
{
	memset(out, 0, sizeof(*out));
	if (!now->valid || now->samples < l->min_samples) {
		out->verdict = GW_Q_UNJUDGED;
		return;
	}
	out->new_drift_alarm = now->drift && !(base->valid && base->drift);
	if (base->valid) {
		out->loss_change = fin(now->loss) - fin(base->loss);
		out->accuracy_change = fin(now->accuracy) - fin(base->accuracy);
		out->confidence_change = fin(now->confidence) - fin(base->confidence);
		if (ctl != NULL && ctl->n > 0) {
			out->loss_change -= ctl->loss;
			out->accuracy_change -= ctl->accuracy;
			out->confidence_change -= ctl->confidence;
		}
	}
	/* The schema bounds the changes to [-1, 1] for the fractions. */
	out->accuracy_change = fmax(-1.0, fmin(1.0, out->accuracy_change));
	out->confidence_change = fmax(-1.0, fmin(1.0, out->confidence_change));
	if (l->drift_alarm && out->new_drift_alarm)
		out->verdict = GW_Q_DRIFT_ALARM;
	else if (base->valid && l->max_loss_increase >= 0 &&
	         out->loss_change > l->max_loss_increase)
		out->verdict = GW_Q_LOSS_INCREASE;
	else if (base->valid && l->max_accuracy_drop >= 0 &&
	         -out->accuracy_change > l->max_accuracy_drop)
		out->verdict = GW_Q_ACCURACY_DROP;
	else if (base->valid && l->max_confidence_drop >= 0 &&
	         -out->confidence_change > l->max_confidence_drop)
		out->verdict = GW_Q_CONFIDENCE_DROP;
	else
		out->verdict = GW_Q_OK;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double
median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

void
gw_gates_control(const struct gw_qsnap *before, const struct gw_qsnap *after, size_t n,
                 double *scratch, struct gw_qcontrol *out)
{
	memset(out, 0, sizeof(*out));
	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++)
		scratch[i] = fin(after[i].loss) - fin(before[i].loss);
	out->loss = median(scratch, n);
	for (size_t i = 0; i < n; i++)
		scratch[i] = fin(after[i].accuracy) - fin(before[i].accuracy);
	out->accuracy = median(scratch, n);
	for (size_t i = 0; i < n; i++)
		scratch[i] = fin(after[i].confidence) - fin(before[i].confidence);
	out->confidence = median(scratch, n);
	out->n = n;
}

enum gw_gate
gw_gates_wave(const struct gw_rollout_def *d, const struct gw_wave_counts *c,
              struct gw_gate_eval *out)
{
	double n = c->devices > 0 ? (double)c->devices : 1.0;
	enum gw_gate first = GW_GATE_COUNT;

	memset(out, 0, sizeof(*out));
	out->evaluated = true;
	out->value[GW_GATE_FAILURE_RATE] = 100.0 * (double)(c->failed + c->reverted) / n;
	out->limit[GW_GATE_FAILURE_RATE] = d->max_failure_rate;
	out->value[GW_GATE_REVERTS] = (double)c->reverted;
	out->limit[GW_GATE_REVERTS] = (double)d->max_reverts;
	out->value[GW_GATE_QUALITY] =
	        c->judged > 0 ? 100.0 * (double)c->quality_failed / (double)c->judged : 0.0;
	out->limit[GW_GATE_QUALITY] = d->q.max_failing_share;
	out->value[GW_GATE_SUCCESS] = c->devices > 0 ? 100.0 * (double)c->succeeded / n : 100.0;
	out->limit[GW_GATE_SUCCESS] = d->success_threshold;
	for (int g = 0; g < GW_GATE_COUNT; g++) {
		out->ok[g] = g == GW_GATE_SUCCESS ? out->value[g] >= out->limit[g]
		                                  : out->value[g] <= out->limit[g];
		if (!out->ok[g] && g != GW_GATE_SUCCESS && first == GW_GATE_COUNT)
			first = (enum gw_gate)g;
	}
	return first;
}

const char *
gw_gate_name(enum gw_gate g)
{
	static const char *const names[] = { "failure_rate", "reverts", "quality",
	                                     "success_threshold" };
	return (unsigned)g < GW_GATE_COUNT ? names[g] : "unknown";
}
