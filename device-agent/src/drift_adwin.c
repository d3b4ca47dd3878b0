/*
 * ADWIN2 over a bounded exponential histogram (see drift.h for the cut rule).
 *
 * Layout: row r holds count[r] buckets of 2^r samples, index 0 the oldest. New samples
 * enter row 0 as one-sample buckets; a row that reaches M+1 buckets merges its two oldest
 * into the newest bucket of row r+1 (the variance of the union is v1 + v2 +
 * n1 n2 / (n1 + n2) (mean1 - mean2)^2, with n1 = n2 = 2^r). The oldest bucket of the
 * window is therefore index 0 of the highest row in use.
 *
 * The window's total and variance are kept incrementally between checks and recomputed
 * from the buckets at every check, so float rounding cannot accumulate for longer than one
 * clock period.
 */
#include <math.h>
#include <string.h>

#include "tinyfleet/agent/drift.h"
#include "tinyfleet/protocol/error.h"

#include "drift_util.h"

_Static_assert(TFA_ADWIN_M >= 2 && TFA_ADWIN_M <= 250, "TFA_ADWIN_M out of range");
_Static_assert(TFA_ADWIN_MAX_ROWS >= 2 && TFA_ADWIN_MAX_ROWS <= 30,
	       "TFA_ADWIN_MAX_ROWS out of range");

void
tfa_adwin_config_default(struct tfa_adwin_config *cfg)
{
	cfg->delta = 0.002f;
	cfg->clock = 32;
	cfg->min_window = 10;
	cfg->min_sub_window = 5;
}

void
tfa_adwin_reset(struct tfa_adwin *a)
{
	memset(a->total, 0, sizeof(a->total));
	memset(a->var, 0, sizeof(a->var));
	memset(a->count, 0, sizeof(a->count));
	a->rows = 0;
	a->alarm = 0;
	a->width = 0;
	a->w_total = 0.0f;
	a->w_var = 0.0f;
	a->tick = 0;
	a->cuts = 0;
	a->score = 0.0f;
}

int
tfa_adwin_init(struct tfa_adwin *a, const struct tfa_adwin_config *cfg)
{
	struct tfa_adwin_config c;

	if (a == NULL)
		return TFP_ERR_ARG;
	if (cfg == NULL)
		tfa_adwin_config_default(&c);
	else
		c = *cfg;
	if (!(c.delta > 0.0f && c.delta < 1.0f) || c.clock == 0 || c.min_sub_window == 0)
		return TFP_ERR_ARG;
	a->cfg = c;
	tfa_adwin_reset(a);
	return 0;
}

static float
bucket_n(unsigned row)
{
	return (float)(1ul << row);
}

/* Appends (total, var) as the newest bucket of row r and cascades merges upwards. */
static void
insert_bucket(struct tfa_adwin *a, unsigned r, float total, float var)
{
	for (;;) {
		unsigned k = a->count[r];
		float n, t0, t1, v;

		a->total[r][k] = total;
		a->var[r][k] = var;
		a->count[r] = (uint8_t)(k + 1);
		if (r + 1 > a->rows)
			a->rows = (uint8_t)(r + 1);
		if (a->count[r] <= TFA_ADWIN_M)
			return;
		/* Row r overflowed: merge its two oldest buckets. */
		n = bucket_n(r);
		t0 = a->total[r][0];
		t1 = a->total[r][1];
		v = a->var[r][0] + a->var[r][1] +
		    (n * n / (n + n)) * (t0 / n - t1 / n) * (t0 / n - t1 / n);
		total = t0 + t1;
		var = v;
		memmove(&a->total[r][0], &a->total[r][2], (TFA_ADWIN_M - 1) * sizeof(float));
		memmove(&a->var[r][0], &a->var[r][2], (TFA_ADWIN_M - 1) * sizeof(float));
		a->count[r] = TFA_ADWIN_M - 1;
		if (r + 1 >= TFA_ADWIN_MAX_ROWS) {
			/* The histogram is full: the merged bucket falls off the old end, which
			 * bounds the window at M * (2^rows - 1) samples. */
			a->width -= 2ul << r;
			a->w_total -= total;
			return;
		}
		r++;
	}
}

/* Drops the oldest bucket of the window. */
static void
delete_oldest(struct tfa_adwin *a)
{
	unsigned r = a->rows - 1u;
	unsigned k = a->count[r];

	a->width -= 1ul << r;
	memmove(&a->total[r][0], &a->total[r][1], (k - 1) * sizeof(float));
	memmove(&a->var[r][0], &a->var[r][1], (k - 1) * sizeof(float));
	a->count[r] = (uint8_t)(k - 1);
	while (a->rows > 0 && a->count[a->rows - 1] == 0)
		a->rows--;
}

/* Recomputes the window's total and variance from the buckets, oldest first. */
static void
recompute(struct tfa_adwin *a)
{
	float n = 0.0f, t = 0.0f, v = 0.0f;
	int r;
	unsigned k;

	for (r = (int)a->rows - 1; r >= 0; r--) {
		float nb = bucket_n((unsigned)r);
		for (k = 0; k < a->count[r]; k++) {
			float tb = a->total[r][k];
			if (n > 0.0f) {
				float d = t / n - tb / nb;
				v += a->var[r][k] + n * nb / (n + nb) * d * d;
			} else {
				v = a->var[r][k];
			}
			n += nb;
			t += tb;
		}
	}
	a->w_total = t;
	a->w_var = v > 0.0f ? v : 0.0f;
}

static float
eps_cut(float n0, float n1, float var_w, float ln_term)
{
	float m = 1.0f / (1.0f / n0 + 1.0f / n1);

	return sqrtf(2.0f / m * var_w * ln_term) + 2.0f / (3.0f * m) * ln_term;
}

float
tfa_adwin_eps_cut(uint32_t n0, uint32_t n1, float var_w, float delta)
{
	float n = (float)n0 + (float)n1;

	return eps_cut((float)n0, (float)n1, var_w, logf(2.0f * logf(n) / delta));
}

/* One pass over the cut points; returns 1 if the window must shrink. */
static int
find_cut(struct tfa_adwin *a)
{
	float n = (float)a->width;
	float var_w = a->w_var / n;
	/* delta' = delta / ln(n), so ln(2 / delta') = ln(2 ln(n) / delta). */
	float ln_term = logf(2.0f * logf(n) / a->cfg.delta);
	float n0 = 0.0f, t0 = 0.0f;
	float min_sub = (float)a->cfg.min_sub_window;
	int r;
	unsigned k;

	for (r = (int)a->rows - 1; r >= 0; r--) {
		float nb = bucket_n((unsigned)r);
		for (k = 0; k < a->count[r]; k++) {
			float n1, eps, diff;

			n0 += nb;
			t0 += a->total[r][k];
			n1 = n - n0;
			if (n1 < min_sub)
				return 0;       /* every later split has a smaller W1 */
			if (n0 < min_sub)
				continue;
			eps = eps_cut(n0, n1, var_w, ln_term);
			diff = fabsf(t0 / n0 - (a->w_total - t0) / n1);
			if (diff / eps > a->score)
				a->score = diff / eps;
			if (diff > eps)
				return 1;
		}
	}
	return 0;
}

int
tfa_adwin_update(struct tfa_adwin *a, float x)
{
	float n, d;

	a->alarm = 0;
	if (!tfa__finite(x))
		return 0;
	x = tfa__unit(x);       /* eps_cut assumes values in [0, 1] */
	/* Incremental window statistics (Welford's update of the sum of squares). */
	a->width++;
	n = (float)a->width;
	if (a->width > 1) {
		d = x - a->w_total / (n - 1.0f);
		a->w_var += d * d * (n - 1.0f) / n;
	}
	a->w_total += x;
	insert_bucket(a, 0, x, 0.0f);
	a->tick++;
	if (a->tick % a->cfg.clock != 0 || a->width <= a->cfg.min_window)
		return 0;

	recompute(a);
	a->score = 0.0f;
	a->cuts = 0;
	while (a->width > a->cfg.min_window && find_cut(a)) {
		delete_oldest(a);
		recompute(a);
		a->cuts++;
	}
	if (a->cuts > 0) {
		a->alarm = 1;
		return 1;
	}
	return 0;
}

int
tfa_adwin_alarm(const struct tfa_adwin *a)
{
	return a->alarm;
}

float
tfa_adwin_score(const struct tfa_adwin *a)
{
	return a->score;
}

uint32_t
tfa_adwin_width(const struct tfa_adwin *a)
{
	return a->width;
}

float
tfa_adwin_mean(const struct tfa_adwin *a)
{
	return a->width ? a->w_total / (float)a->width : 0.0f;
}
