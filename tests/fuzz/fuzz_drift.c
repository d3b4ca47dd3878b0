/*
 * Fuzz target for the drift bundle: the input chooses a configuration, training
 * statistics (as a model container could ship them) and a stream of predictions, labels
 * and reports with arbitrary floats (NaN, inf, huge, tiny). Beyond "no crash, no sanitizer
 * report" it checks what callers rely on: init either succeeds or returns TFP_ERR_ARG /
 * TFP_ERR_RANGE; the calls return alarm bits within TFA_DRIFT_ALL; no score in the report
 * is NaN; the ADWIN histogram stays consistent (<= M buckets per row, sizes add up to the
 * width).
 *
 * Input layout: byte 0 flags, byte 1 features, byte 2 bins, 3 config bytes, then the
 * statistics' floats, then operations. A float is one byte: < 0xf0 gives (b - 64) / 16;
 * 0xf0 reads 4 raw bytes; 0xf1..0xff are special values (see special[]).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tinyfleet/agent/drift.h"
#include "tinyfleet/protocol/error.h"

struct cur {
	const uint8_t *p;
	size_t left;
};

static int
get_byte(struct cur *c, uint8_t *b)
{
	if (c->left == 0)
		return -1;
	*b = *c->p++;
	c->left--;
	return 0;
}

static int
get_float(struct cur *c, float *f)
{
	static const float special[15] = { NAN, INFINITY, -INFINITY, 3.4e38f, -3.4e38f, 1e-38f,
					   1e-45f, -1e-45f, 1e30f, -1e30f, 0.999999f, 1.000001f,
					   0.5f, 1e-4f, 65535.0f };
	uint8_t b;

	if (get_byte(c, &b) != 0)
		return -1;
	if (b < 0xf0) {
		*f = (float)((int)b - 64) / 16.0f;
		return 0;
	}
	if (b > 0xf0) {
		*f = special[b - 0xf1];
		return 0;
	}
	if (c->left < 4)
		return -1;
	memcpy(f, c->p, 4);
	c->p += 4;
	c->left -= 4;
	return 0;
}

static void
check(int cond)
{
	if (!cond)
		abort();
}

static void
check_invariants(struct tfa_drift *d)
{
	struct tfa_drift_report r;
	const struct tfa_adwin *a = &d->adwin;
	uint64_t n = 0;
	unsigned i;

	check(tfa_drift_report(d, &r, 0) == 0);
	check((r.alarms & ~TFA_DRIFT_ALL) == 0 && (r.warnings & ~TFA_DRIFT_ALL) == 0);
	check(!isnan(r.ph_score) && !isnan(r.adwin_score) && !isnan(r.adwin_mean));
	check(!isnan(r.ddm_score) && !isnan(r.hddm_score) && !isnan(r.shift_max));
	check(!isnan(r.psi_max) && !isnan(r.conf_maxprob) && !isnan(r.conf_margin));
	check(!isnan(r.conf_score));
	check(a->rows <= TFA_ADWIN_MAX_ROWS);
	for (i = 0; i < a->rows; i++) {
		check(a->count[i] <= TFA_ADWIN_M);
		n += (uint64_t)a->count[i] << i;
	}
	check(n == a->width);
	check(r.adwin_mean >= 0.0f && r.adwin_mean <= 1.0f + 1e-5f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tfa_drift d;
	static float mean[16], var[16], edges[16 * 15], frac[16 * 16];
	struct tfa_drift_config cfg;
	struct tfa_drift_train_stats st;
	struct cur c = { data, size };
	uint8_t flags, nf, nb, k0, k1, k2, op;
	unsigned j;
	int rc;

	if (get_byte(&c, &flags) || get_byte(&c, &nf) || get_byte(&c, &nb) ||
	    get_byte(&c, &k0) || get_byte(&c, &k1) || get_byte(&c, &k2))
		return 0;
	/* Mostly in bounds, sometimes just past them (the RANGE errors). */
	st.n_features = (uint16_t)(1u + nf % 16u);
	st.n_bins = (uint16_t)(nb % 13u);
	if (st.n_features > 8 && !(flags & 0x40))
		st.n_features = 8;
	for (j = 0; j < st.n_features; j++)
		if (get_float(&c, &mean[j]) || get_float(&c, &var[j]))
			return 0;
	st.mean = mean;
	st.var = var;
	st.edges = NULL;
	st.frac = NULL;
	if ((flags & 0x02) && st.n_bins >= 2 && st.n_bins <= 16) {
		for (j = 0; j < (unsigned)st.n_features * (st.n_bins - 1u); j++)
			if (get_float(&c, &edges[j]))
				return 0;
		for (j = 0; j < (unsigned)st.n_features * st.n_bins; j++)
			if (get_float(&c, &frac[j]))
				return 0;
		st.edges = edges;
		st.frac = frac;
	}

	tfa_drift_config_default(&cfg);
	if (flags & 0x01)
		cfg.loss_scale = 1.0f + (float)(k0 & 7u);
	if (flags & 0x04) {
		cfg.conf.ref_maxprob = 0.9f;
		cfg.conf.ref_margin = 0.7f;
	} else {
		cfg.conf.ref_samples = 1u + (k0 >> 4);
	}
	cfg.adwin.clock = 1u + (k1 & 31u);
	cfg.adwin.min_window = k1 >> 5;
	cfg.ph.lambda = 0.5f + (float)(k2 & 15u);
	cfg.ph.min_samples = k2 >> 4;
	cfg.ddm.min_samples = 1u + (k2 >> 4);
	cfg.data.window = 1u + (k0 & 15u);
	cfg.data.ewma_alpha = (flags & 0x08) ? 1.0f : 0.25f;
	cfg.enabled = (flags & 0x10) ? (TFA_DRIFT_ALL & k1) : TFA_DRIFT_ALL;

	rc = tfa_drift_init(&d, &cfg, (flags & 0x20) ? NULL : &st);
	check(rc == 0 || rc == TFP_ERR_ARG || rc == TFP_ERR_RANGE);
	if (rc != 0)
		return 0;
	check_invariants(&d);

	while (get_byte(&c, &op) == 0) {
		float x[16], p[12], loss;
		uint8_t b;
		unsigned n;

		switch (op % 3u) {
		case 0:
			for (j = 0; j < st.n_features; j++)
				if (get_float(&c, &x[j]))
					return 0;
			n = (op >> 2) % 12u;
			for (j = 0; j < n; j++)
				if (get_float(&c, &p[j]))
					return 0;
			rc = tfa_drift_on_prediction(&d, x, n ? p : NULL, (uint16_t)n);
			check(rc >= 0 && (rc & ~(int)TFA_DRIFT_ALL) == 0);
			break;
		case 1:
			if (get_float(&c, &loss) || get_byte(&c, &b))
				return 0;
			/* Repeat the label a few times so that windows and clocks turn over. */
			for (n = 0; n <= (op >> 2); n++) {
				rc = tfa_drift_on_label(&d, loss, b & 1);
				check(rc >= 0 && (rc & ~(int)TFA_DRIFT_ALL) == 0);
			}
			break;
		default:
			{
				struct tfa_drift_report r;
				check(tfa_drift_report(&d, &r, op & 4) == 0);
			}
			if (op & 8)
				tfa_drift_reset(&d);
			break;
		}
		check_invariants(&d);
	}
	return 0;
}
