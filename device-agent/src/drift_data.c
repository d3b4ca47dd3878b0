/*
 * Data drift: per-feature standardized mean shift (EWMA) and binned PSI over tumbling
 * windows, both against the training statistics shipped in the model (see drift.h).
 *
 * The training statistics are read in place through the borrowed pointers; only the
 * EWMAs, the last window's PSI values and the current window's bin counts live in RAM.
 */
#include <math.h>
#include <string.h>

#include "tinyfleet/agent/drift.h"
#include "tinyfleet/protocol/error.h"

#include "drift_util.h"

_Static_assert(TFA_DRIFT_MAX_FEATURES >= 1 && TFA_DRIFT_MAX_FEATURES <= 65535,
	       "TFA_DRIFT_MAX_FEATURES out of range");
_Static_assert(TFA_DRIFT_MAX_BINS >= 2 && TFA_DRIFT_MAX_BINS <= 255,
	       "TFA_DRIFT_MAX_BINS out of range");

void
tfa_drift_data_config_default(struct tfa_drift_data_config *cfg)
{
	cfg->ewma_alpha = 0.01f;
	cfg->shift_alarm = 0.5f;
	cfg->window = 500;
	cfg->eps = 1e-4f;
	cfg->psi_warn = 0.1f;
	cfg->psi_alarm = 0.25f;
}

void
tfa_drift_data_reset(struct tfa_drift_data *d)
{
	uint16_t j;

	for (j = 0; j < d->st.n_features; j++)
		d->ewma[j] = d->st.mean[j];
	memset(d->psi, 0, sizeof(d->psi));
	memset(d->counts, 0, sizeof(d->counts));
	d->n = 0;
	d->in_window = 0;
	d->windows = 0;
	d->shift_max = 0.0f;
	d->psi_max = 0.0f;
	d->shift_feature = 0;
	d->psi_feature = 0;
	d->psi_over = 0;
	d->shift_alarm = 0;
	d->psi_warning = 0;
	d->psi_alarm = 0;
}

static int
check_config(const struct tfa_drift_data_config *c)
{
	if (!(c->ewma_alpha > 0.0f && c->ewma_alpha <= 1.0f))
		return TFP_ERR_ARG;
	if (!tfa__finite(c->shift_alarm) || c->shift_alarm <= 0.0f)
		return TFP_ERR_ARG;
	if (c->window == 0 || c->window > 65535)
		return TFP_ERR_ARG;
	if (!(c->eps > 0.0f && c->eps <= 0.1f))
		return TFP_ERR_ARG;
	if (!tfa__finite(c->psi_warn) || !tfa__finite(c->psi_alarm) || c->psi_warn <= 0.0f ||
	    c->psi_alarm < c->psi_warn)
		return TFP_ERR_ARG;
	return 0;
}

static int
check_stats(const struct tfa_drift_train_stats *st)
{
	uint16_t j, b;
	uint16_t ne;

	if (st->n_features == 0 || st->mean == NULL || st->var == NULL)
		return TFP_ERR_ARG;
	if (st->n_features > TFA_DRIFT_MAX_FEATURES)
		return TFP_ERR_RANGE;
	if ((st->edges == NULL) != (st->frac == NULL))
		return TFP_ERR_ARG;
	for (j = 0; j < st->n_features; j++)
		if (!tfa__finite(st->mean[j]) || !tfa__finite(st->var[j]) || !(st->var[j] > 0.0f))
			return TFP_ERR_ARG;
	if (st->edges == NULL)
		return 0;
	if (st->n_bins < 2)
		return TFP_ERR_ARG;
	if (st->n_bins > TFA_DRIFT_MAX_BINS)
		return TFP_ERR_RANGE;
	ne = (uint16_t)(st->n_bins - 1u);
	for (j = 0; j < st->n_features; j++) {
		const float *e = st->edges + (size_t)j * ne;
		const float *f = st->frac + (size_t)j * st->n_bins;
		for (b = 0; b < ne; b++)
			if (!tfa__finite(e[b]) || (b > 0 && !(e[b] > e[b - 1])))
				return TFP_ERR_ARG;
		for (b = 0; b < st->n_bins; b++)
			if (!(f[b] >= 0.0f && f[b] <= 1.0f))
				return TFP_ERR_ARG;
	}
	return 0;
}

int
tfa_drift_data_init(struct tfa_drift_data *d, const struct tfa_drift_data_config *cfg,
		    const struct tfa_drift_train_stats *st)
{
	struct tfa_drift_data_config c;
	int rc;

	if (d == NULL || st == NULL)
		return TFP_ERR_ARG;
	if (cfg == NULL)
		tfa_drift_data_config_default(&c);
	else
		c = *cfg;
	if ((rc = check_config(&c)) != 0)
		return rc;
	if ((rc = check_stats(st)) != 0)
		return rc;
	d->cfg = c;
	d->st = *st;
	tfa_drift_data_reset(d);
	return 0;
}

/* Bin of x for edges e[0..ne-1]: the number of edges <= x. With at most a few dozen
 * edges a branch-free count beats a binary search (no mispredicted branches on a host,
 * and about the same cycles on a Cortex-M4). */
static unsigned
bin_of(const float *e, unsigned ne, float x)
{
	unsigned b, n = 0;

	for (b = 0; b < ne; b++)
		n += x >= e[b];
	return n;
}

static void
close_window(struct tfa_drift_data *d)
{
	const struct tfa_drift_train_stats *st = &d->st;
	float inv_n = 1.0f / (float)d->in_window;
	float eps = d->cfg.eps;
	uint16_t j, b;

	d->psi_max = 0.0f;
	d->psi_feature = 0;
	d->psi_over = 0;
	for (j = 0; j < st->n_features; j++) {
		const float *f = st->frac + (size_t)j * st->n_bins;
		float psi = 0.0f;
		for (b = 0; b < st->n_bins; b++) {
			float q = (float)d->counts[j][b] * inv_n;
			float p = f[b];
			if (q < eps)
				q = eps;
			if (p < eps)
				p = eps;
			psi += (q - p) * logf(q / p);
		}
		d->psi[j] = psi;
		if (psi > d->psi_max) {
			d->psi_max = psi;
			d->psi_feature = j;
		}
		if (psi > d->cfg.psi_alarm)
			d->psi_over++;
	}
	memset(d->counts, 0, sizeof(d->counts));
	d->in_window = 0;
	d->windows++;
}

int
tfa_drift_data_update(struct tfa_drift_data *d, const float *x)
{
	const struct tfa_drift_train_stats *st = &d->st;
	float a = d->cfg.ewma_alpha, best_dev2, best_var;
	uint16_t j;
	int raised = 0;
	uint8_t was_shift = d->shift_alarm;

	if (x == NULL)
		return TFP_ERR_ARG;
	d->n++;
	/* The largest |ewma - mean| / sd is found by comparing dev^2 / var as cross
	 * products (dev^2 * best_var > best_dev2 * var): no division or square root per
	 * feature, one of each for the winner. */
	best_dev2 = 0.0f;
	best_var = 1.0f;
	d->shift_feature = 0;
	for (j = 0; j < st->n_features; j++) {
		float dev;
		if (tfa__finite(x[j])) {
			/* A finite but huge value could overflow the EWMA to inf and then to
			 * NaN for good; such an update is dropped instead. */
			float e = d->ewma[j] + a * (x[j] - d->ewma[j]);
			if (tfa__finite(e))
				d->ewma[j] = e;
		}
		dev = d->ewma[j] - st->mean[j];
		if (dev * dev * best_var > best_dev2 * st->var[j]) {
			best_dev2 = dev * dev;
			best_var = st->var[j];
			d->shift_feature = j;
		}
	}
	d->shift_max = sqrtf(best_dev2 / best_var);
	d->shift_alarm = d->shift_max > d->cfg.shift_alarm;
	if (d->shift_alarm && !was_shift)
		raised |= TFA_DRIFT_SHIFT;

	if (st->edges == NULL)
		return raised;
	for (j = 0; j < st->n_features; j++) {
		unsigned ne = st->n_bins - 1u;
		/* A non-finite value is not counted in any bin; the window still advances, so
		 * such samples show up as missing mass (a lower q_b everywhere). */
		if (!tfa__finite(x[j]))
			continue;
		d->counts[j][bin_of(st->edges + (size_t)j * ne, ne, x[j])]++;
	}
	if (++d->in_window >= d->cfg.window) {
		close_window(d);
		d->psi_warning = d->psi_max > d->cfg.psi_warn;
		d->psi_alarm = d->psi_max > d->cfg.psi_alarm;
		/* PSI is judged once per window, so each alarming window counts. */
		if (d->psi_alarm)
			raised |= TFA_DRIFT_PSI;
	}
	return raised;
}

float
tfa_drift_data_shift(const struct tfa_drift_data *d, uint16_t feature)
{
	if (feature >= d->st.n_features)
		return 0.0f;
	return (d->ewma[feature] - d->st.mean[feature]) / sqrtf(d->st.var[feature]);
}

float
tfa_drift_data_psi(const struct tfa_drift_data *d, uint16_t feature)
{
	if (feature >= d->st.n_features)
		return 0.0f;
	return d->psi[feature];
}
