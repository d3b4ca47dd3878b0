/*
 * TinyOL: Welford standardisation, frozen layers, a trainable dense head, SGD on each
 * labelled sample, and save/restore of the head with a CRC.
 */
#include "tinyfleet/agent/tinyol.h"

#include <math.h>
#include <string.h>

#include "crc32.h"

#define BLOB_MAGIC "TFOL"
#define BLOB_VERSION 1
#define BLOB_HEADER 32

/* ---- Welford ------------------------------------------------------------------------ */

int
tfa_welford_init(struct tfa_welford *w, uint16_t features, uint32_t window)
{
	if (w == NULL)
		return TFP_ERR_ARG;
	memset(w, 0, sizeof(*w));
	if (features == 0 || features > TFA_FEATURES_MAX)
		return TFA_ERR_BUDGET;
	w->features = features;
	w->window = window;
	return 0;
}

void
tfa_welford_seed(struct tfa_welford *w, const float *mean, const float *var, uint32_t count)
{
	if (w->window != 0 && count > w->window)
		count = w->window;
	w->n = count;
	for (uint16_t f = 0; f < w->features; f++) {
		w->mean[f] = mean != NULL ? mean[f] : 0.0f;
		w->m2[f] = (var != NULL ? var[f] : 1.0f) * (float)count;
	}
}

void
tfa_welford_update(struct tfa_welford *w, const float *x)
{
	float n;

	if (w->window == 0 || w->n < w->window)
		w->n++;
	n = (float)w->n;
	for (uint16_t f = 0; f < w->features; f++) {
		float d, v = x[f];
		if (!isfinite(v))
			continue;
		d = v - w->mean[f];
		w->mean[f] += d / n;
		if (w->window != 0 && w->n == w->window)
			/* Saturated: keep m2 / n an exponentially weighted variance. */
			w->m2[f] += d * (v - w->mean[f]) - w->m2[f] / n;
		else
			w->m2[f] += d * (v - w->mean[f]);
		if (w->m2[f] < 0.0f)
			w->m2[f] = 0.0f;
	}
}

float
tfa_welford_var(const struct tfa_welford *w, uint16_t f)
{
	return w->n > 0 ? w->m2[f] / (float)w->n : 0.0f;
}

/* ---- learner ------------------------------------------------------------------------ */

void
tfa_tinyol_config_default(struct tfa_tinyol_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->lr = 0.05f;
	cfg->momentum = 0.0f;
	cfg->decay = 0.0f;
	cfg->standardize = 1;
	cfg->adapt_stats = 1;
	cfg->prior_count = 100;
	cfg->window = 1000;
}

static int
check_config(const struct tfa_tinyol_config *c)
{
	if (!isfinite(c->lr) || c->lr < 0.0f || !isfinite(c->decay) || c->decay < 0.0f ||
	    !(c->momentum >= 0.0f && c->momentum < 1.0f))
		return TFP_ERR_ARG;
	if (!TFA_WITH_MOMENTUM && c->momentum != 0.0f)
		return TFP_ERR_ARG;
	return 0;
}

int
tfa_tinyol_init(struct tfa_tinyol *t, const struct tfa_model *m,
                const struct tfa_tinyol_config *cfg)
{
	const struct tfp_container_info *in;
	struct tfp_layer l;
	struct tfp_tensor w, b, mean, var;
	uint64_t win, prior;
	int has_stats, rc;

	if (t == NULL || m == NULL || m->c.base == NULL)
		return TFP_ERR_ARG;
	memset(t, 0, sizeof(*t));
	if (cfg != NULL)
		t->cfg = *cfg;
	else
		tfa_tinyol_config_default(&t->cfg);
	if ((rc = check_config(&t->cfg)) != 0)
		return rc;
	in = &m->c.info;
	if (in->update_layer == TFP_CONTAINER_NONE)
		return TFA_ERR_MODEL;
	(void)tfp_container_layer(&m->c, in->update_layer, &l);
	if (l.in_ch > TFA_HEAD_IN_MAX || l.out_ch > TFA_HEAD_OUT_MAX ||
	    in->in_ch > TFA_FEATURES_MAX ||
	    (in->task == TFP_TASK_ANOMALY && (size_t)in->in_len * in->in_ch > TFA_HEAD_OUT_MAX))
		return TFA_ERR_BUDGET;
	if (in->task == TFP_TASK_CLASSIFY) {
		if ((l.act != TFP_ACT_SOFTMAX && l.act != TFP_ACT_NONE) || l.out_ch < 2)
			return TFA_ERR_MODEL;
		t->act = TFP_ACT_SOFTMAX;
	} else {
		if (l.act == TFP_ACT_SOFTMAX)
			return TFA_ERR_MODEL;
		t->act = l.act;
	}
	t->model = m;
	t->task = in->task;
	t->n_in = (uint16_t)l.in_ch;
	t->n_out = (uint16_t)l.out_ch;
	t->update_layer = (uint16_t)in->update_layer;
	(void)tfp_container_tensor(&m->c, l.weight, &w);
	for (uint32_t i = 0; i < w.count; i++)
		t->w[i] = tfp_tensor_f32(&w, i);
	t->model_tag = tfa__crc32(0, (const uint8_t *)in->name, strlen(in->name));
	t->model_tag = tfa__crc32(t->model_tag, (const uint8_t *)in->version,
	                          strlen(in->version) + 1);
	t->model_tag = tfa__crc32(t->model_tag, w.data, w.length);
	if (l.bias != TFP_CONTAINER_NONE) {
		(void)tfp_container_tensor(&m->c, l.bias, &b);
		for (uint32_t i = 0; i < b.count; i++)
			t->b[i] = tfp_tensor_f32(&b, i);
		t->model_tag = tfa__crc32(t->model_tag, b.data, b.length);
	}
	/* Window and prior count samples; a [len, ch] input gives len values per feature. */
	win = (uint64_t)t->cfg.window * in->in_len;
	prior = (uint64_t)t->cfg.prior_count * in->in_len;
	if ((rc = tfa_welford_init(&t->stats, (uint16_t)in->in_ch,
	                           win > UINT32_MAX ? UINT32_MAX : (uint32_t)win)) != 0)
		return rc;
	has_stats = tfp_container_find(&m->c, TFP_KIND_FEAT_MEAN, &mean) == 0 &&
	            tfp_container_find(&m->c, TFP_KIND_FEAT_VAR, &var) == 0;
	/* Without training statistics the frozen layers expect raw inputs (CONTAINER.md). */
	if (!has_stats)
		t->cfg.standardize = 0;
	tfa_welford_seed(&t->stats, NULL, NULL, prior > UINT32_MAX ? UINT32_MAX : (uint32_t)prior);
	if (has_stats) {
		/* Read from flash one value at a time: the tensor need not be aligned. */
		for (uint16_t f = 0; f < in->in_ch; f++) {
			t->stats.mean[f] = tfp_tensor_f32(&mean, f);
			t->stats.m2[f] = tfp_tensor_f32(&var, f) * (float)t->stats.n;
		}
	}
	return 0;
}

int
tfa_tinyol_predict(struct tfa_tinyol *t, const float *x, uint8_t *arena, size_t arena_len,
                   const float **out)
{
	const struct tfa_model *m;
	const float *h;
	float *in;
	size_t n_h;
	unsigned len, ch;
	int rc;

	if (t == NULL || t->model == NULL || x == NULL)
		return TFP_ERR_ARG;
	m = t->model;
	if (arena == NULL || ((uintptr_t)arena % sizeof(float)) != 0 ||
	    arena_len < tfa_model_arena(m))
		return TFA_ERR_ARENA;
	len = m->c.info.in_len;
	ch = m->c.info.in_ch;
	in = tfa_infer_input(arena);
	if (t->cfg.adapt_stats)
		for (unsigned s = 0; s < len; s++)
			tfa_welford_update(&t->stats, x + (size_t)s * ch);
	for (unsigned c = 0; c < ch; c++) {
		float v = tfa_welford_var(&t->stats, (uint16_t)c);
		float inv = t->cfg.standardize ? 1.0f / sqrtf(v > TFA_VAR_FLOOR ? v : TFA_VAR_FLOOR)
		                               : 1.0f;
		float mu = t->cfg.standardize ? t->stats.mean[c] : 0.0f;
		for (unsigned s = 0; s < len; s++) {
			float v2 = x[(size_t)s * ch + c];
			in[(size_t)s * ch + c] = isfinite(v2) ? (v2 - mu) * inv : 0.0f;
		}
	}
	if (t->task == TFP_TASK_ANOMALY)
		memcpy(t->target, in, (size_t)len * ch * sizeof(float));
	if ((rc = tfa_infer_range(m, 0, t->update_layer, arena, arena_len, &h, &n_h)) != 0)
		return rc;
	memcpy(t->h, h, (size_t)t->n_in * sizeof(float));
	for (unsigned o = 0; o < t->n_out; o++) {
		const float *row = t->w + (size_t)o * t->n_in;
		float acc = t->b[o];
		for (unsigned i = 0; i < t->n_in; i++)
			acc += row[i] * t->h[i];
		t->y[o] = acc;
	}
	tfa_activate(t->y, t->n_out, t->act);
	t->have_pred = 1;
	t->predictions++;
	if (out != NULL)
		*out = t->y;
	return 0;
}

unsigned
tfa_tinyol_argmax(const struct tfa_tinyol *t)
{
	unsigned best = 0;

	for (unsigned o = 1; o < t->n_out; o++)
		if (t->y[o] > t->y[best])
			best = o;
	return best;
}

float
tfa_tinyol_score(const struct tfa_tinyol *t)
{
	float s = 0.0f;

	if (t->task != TFP_TASK_ANOMALY || t->n_out == 0)
		return 0.0f;
	for (unsigned o = 0; o < t->n_out; o++)
		s += (t->y[o] - t->target[o]) * (t->y[o] - t->target[o]);
	return s / (float)t->n_out;
}

/* grad[o] = dLoss/dz[o] (pre-activation); one SGD step on W and b. */
static void
sgd_step(struct tfa_tinyol *t, const float *grad)
{
	const float lr = t->cfg.lr, decay = t->cfg.decay;

	for (unsigned o = 0; o < t->n_out; o++) {
		float *row = t->w + (size_t)o * t->n_in;
		float g = grad[o];
		if (!isfinite(g))
			continue;
		for (unsigned i = 0; i < t->n_in; i++) {
			float gw = g * t->h[i] + decay * row[i];
#if TFA_WITH_MOMENTUM
			float *v = t->vw + (size_t)o * t->n_in + i;
			*v = t->cfg.momentum * *v + gw;
			gw = *v;
#endif
			row[i] -= lr * gw;
		}
#if TFA_WITH_MOMENTUM
		t->vb[o] = t->cfg.momentum * t->vb[o] + g;
		g = t->vb[o];
#endif
		t->b[o] -= lr * g;
	}
	t->have_pred = 0;
	t->updates++;
}

int
tfa_tinyol_learn_class(struct tfa_tinyol *t, unsigned label)
{
	float grad[TFA_HEAD_OUT_MAX];
	float p;

	if (t == NULL || t->model == NULL)
		return TFP_ERR_ARG;
	if (t->task != TFP_TASK_CLASSIFY)
		return TFA_ERR_MODEL;
	if (label >= t->n_out)
		return TFA_ERR_LABEL;
	if (!t->have_pred)
		return TFA_ERR_STATE;
	/* Softmax + cross-entropy: dL/dz = p - onehot(label). */
	for (unsigned o = 0; o < t->n_out; o++)
		grad[o] = t->y[o] - (o == label ? 1.0f : 0.0f);
	p = t->y[label];
	t->last_loss = -logf(p > 1e-12f ? p : 1e-12f);
	sgd_step(t, grad);
	return 0;
}

static int
learn_regression(struct tfa_tinyol *t, const float *target)
{
	float grad[TFA_HEAD_OUT_MAX];
	float loss = 0.0f;

	if (!t->have_pred)
		return TFA_ERR_STATE;
	/* L = 1/2 sum (y - target)^2, reported as the mean squared error. */
	for (unsigned o = 0; o < t->n_out; o++) {
		float y = t->y[o], e = y - target[o], d = 1.0f;
		loss += e * e;
		switch (t->act) {
		case TFP_ACT_SIGMOID: d = y * (1.0f - y); break;
		case TFP_ACT_TANH: d = 1.0f - y * y; break;
		case TFP_ACT_RELU: d = y > 0.0f ? 1.0f : 0.0f; break;
		default: break;
		}
		grad[o] = e * d;
	}
	t->last_loss = loss / (float)t->n_out;
	sgd_step(t, grad);
	return 0;
}

int
tfa_tinyol_learn_target(struct tfa_tinyol *t, const float *target)
{
	if (t == NULL || t->model == NULL || target == NULL)
		return TFP_ERR_ARG;
	if (t->task != TFP_TASK_REGRESS)
		return TFA_ERR_MODEL;
	return learn_regression(t, target);
}

int
tfa_tinyol_learn_unsupervised(struct tfa_tinyol *t)
{
	if (t == NULL || t->model == NULL)
		return TFP_ERR_ARG;
	if (t->task != TFP_TASK_ANOMALY)
		return TFA_ERR_MODEL;
	return learn_regression(t, t->target);
}

/* ---- save / restore ----------------------------------------------------------------- */

static void
put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, v);
	put16(p + 2, v >> 16);
}

static uint32_t
get16(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8);
}

static uint32_t
get32(const uint8_t *p)
{
	return get16(p) | (get16(p + 2) << 16);
}

static uint8_t *
put_floats(uint8_t *p, const float *v, size_t n)
{
	for (size_t i = 0; i < n; i++, p += 4) {
		uint32_t u;
		memcpy(&u, &v[i], 4);
		put32(p, u);
	}
	return p;
}

static const uint8_t *
get_floats(const uint8_t *p, float *v, size_t n)
{
	for (size_t i = 0; i < n; i++, p += 4) {
		uint32_t u = get32(p);
		memcpy(&v[i], &u, 4);
	}
	return p;
}

static size_t
blob_size(size_t n_in, size_t n_out, size_t features)
{
	return BLOB_HEADER + 4 * (n_out * n_in + n_out + 2 * features) + 4;
}

size_t
tfa_tinyol_blob_size(const struct tfa_tinyol *t)
{
	if (t == NULL || t->model == NULL)
		return 0;
	return blob_size(t->n_in, t->n_out, t->stats.features);
}

int
tfa_tinyol_save(const struct tfa_tinyol *t, uint8_t *buf, size_t len, size_t *written)
{
	size_t need;
	uint8_t *p;

	if (written != NULL)
		*written = 0;
	if (t == NULL || t->model == NULL)
		return TFP_ERR_ARG;
	need = tfa_tinyol_blob_size(t);
	if (written != NULL)
		*written = need;
	if (buf == NULL || len < need)
		return TFP_ERR_BUFFER;
	memcpy(buf, BLOB_MAGIC, 4);
	put16(buf + 4, BLOB_VERSION);
	put16(buf + 6, 0);
	put32(buf + 8, t->model_tag);
	put16(buf + 12, t->n_in);
	put16(buf + 14, t->n_out);
	put16(buf + 16, t->stats.features);
	put16(buf + 18, 0);
	put32(buf + 20, t->predictions);
	put32(buf + 24, t->updates);
	put32(buf + 28, t->stats.n);
	p = put_floats(buf + BLOB_HEADER, t->w, (size_t)t->n_out * t->n_in);
	p = put_floats(p, t->b, t->n_out);
	p = put_floats(p, t->stats.mean, t->stats.features);
	p = put_floats(p, t->stats.m2, t->stats.features);
	put32(p, tfa__crc32(0, buf, (size_t)(p - buf)));
	return 0;
}

int
tfa_tinyol_restore(struct tfa_tinyol *t, const uint8_t *buf, size_t len)
{
	size_t n_in, n_out, features, need, nw, nf;
	const uint8_t *p;

	if (t == NULL || t->model == NULL || buf == NULL)
		return TFP_ERR_ARG;
	if (len < BLOB_HEADER + 4 || memcmp(buf, BLOB_MAGIC, 4) != 0)
		return TFA_ERR_BLOB;
	if (get16(buf + 4) != BLOB_VERSION || get16(buf + 6) != 0)
		return TFA_ERR_BLOB_VERSION;
	n_in = get16(buf + 12);
	n_out = get16(buf + 14);
	features = get16(buf + 16);
	need = blob_size(n_in, n_out, features);
	if (len < need || get32(buf + need - 4) != tfa__crc32(0, buf, need - 4))
		return TFA_ERR_BLOB;
	if (get32(buf + 8) != t->model_tag || n_in != t->n_in || n_out != t->n_out ||
	    features != t->stats.features || get16(buf + 18) != 0)
		return TFA_ERR_BLOB_MODEL;
	/* Validate every value in the blob before changing anything (no copy on the stack). */
	nw = n_out * n_in;
	nf = nw + n_out + 2 * features;
	for (size_t i = 0; i < nf; i++) {
		float v;
		uint32_t u = get32(buf + BLOB_HEADER + 4 * i);
		memcpy(&v, &u, 4);
		if (!isfinite(v) || (i >= nw + n_out + features && v < 0.0f))
			return TFA_ERR_BLOB;
	}
	p = get_floats(buf + BLOB_HEADER, t->w, nw);
	p = get_floats(p, t->b, n_out);
	p = get_floats(p, t->stats.mean, features);
	(void)get_floats(p, t->stats.m2, features);
	t->stats.n = get32(buf + 28);
	if (t->stats.window != 0 && t->stats.n > t->stats.window)
		t->stats.n = t->stats.window;
	t->predictions = get32(buf + 20);
	t->updates = get32(buf + 24);
	t->have_pred = 0;
#if TFA_WITH_MOMENTUM
	memset(t->vw, 0, sizeof(t->vw));
	memset(t->vb, 0, sizeof(t->vb));
#endif
	return 0;
}
