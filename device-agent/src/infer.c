/*
 * Inference runtime: int8 and float32 kernels over weights read in place, and the layer
 * loop over one caller-owned arena. Arithmetic as specified in protocol/CONTAINER.md, so
 * the packer's expected self-test outputs match.
 */
#include "tinyfleet/agent/infer.h"

#include <math.h>
#include <string.h>

static int32_t
round_half_up(float v)
{
	return (int32_t)floorf(v + 0.5f);
}

void
tfa_quantize(const float *x, size_t n, float scale, int32_t zero, int8_t *q, float *s,
             int32_t *z)
{
	int32_t lo = -128;

	if (!(scale > 0.0f)) {
		float m = 0.0f;
		for (size_t i = 0; i < n; i++) {
			float a = fabsf(x[i]);
			if (a > m)
				m = a;
		}
		scale = m > 0.0f ? m / 127.0f : 1.0f;
		zero = 0;
		lo = -127;
	}
	for (size_t i = 0; i < n; i++) {
		float v = x[i] / scale;
		int32_t r;
		/* Saturate before converting: a float outside int32 is undefined behaviour. */
		if (!(v > -1000.0f))
			v = -1000.0f;
		else if (v > 1000.0f)
			v = 1000.0f;
		r = round_half_up(v) + zero;
		q[i] = (int8_t)(r < lo ? lo : r > 127 ? 127 : r);
	}
	*s = scale;
	*z = zero;
}

static float
bias_at(const struct tfp_tensor *b, unsigned o)
{
	return b != NULL ? tfp_tensor_f32(b, o) : 0.0f;
}

void
tfa_dense_q8(const int8_t *xq, int32_t xz, float xs, const struct tfp_tensor *w,
             const struct tfp_tensor *b, unsigned n_in, unsigned n_out, float *y)
{
	const int8_t *wq = (const int8_t *)w->data;

	for (unsigned o = 0; o < n_out; o++) {
		const int8_t *row = wq + (size_t)o * n_in;
		int32_t wz = tfp_tensor_zero(w, o);
		int32_t acc = 0;
		for (unsigned i = 0; i < n_in; i++)
			acc += ((int32_t)xq[i] - xz) * ((int32_t)row[i] - wz);
		y[o] = (float)acc * (xs * tfp_tensor_scale(w, o)) + bias_at(b, o);
	}
}

void
tfa_dense_f32(const float *x, const struct tfp_tensor *w, const struct tfp_tensor *b,
              unsigned n_in, unsigned n_out, float *y)
{
	for (unsigned o = 0; o < n_out; o++) {
		float acc = 0.0f;
		for (unsigned i = 0; i < n_in; i++)
			acc += tfp_tensor_f32(w, o * n_in + i) * x[i];
		y[o] = acc + bias_at(b, o);
	}
}

void
tfa_conv1d_q8(const int8_t *xq, int32_t xz, float xs, const struct tfp_tensor *w,
              const struct tfp_tensor *b, unsigned in_len, unsigned in_ch, unsigned out_ch,
              unsigned k, unsigned stride, float *y)
{
	const int8_t *wq = (const int8_t *)w->data;
	unsigned out_len = (in_len - k) / stride + 1;
	size_t span = (size_t)k * in_ch;

	for (unsigned t = 0; t < out_len; t++) {
		const int8_t *win = xq + (size_t)t * stride * in_ch;
		for (unsigned o = 0; o < out_ch; o++) {
			const int8_t *f = wq + (size_t)o * span;
			int32_t wz = tfp_tensor_zero(w, o);
			int32_t acc = 0;
			for (size_t i = 0; i < span; i++)
				acc += ((int32_t)win[i] - xz) * ((int32_t)f[i] - wz);
			y[(size_t)t * out_ch + o] = (float)acc * (xs * tfp_tensor_scale(w, o)) +
			                            bias_at(b, o);
		}
	}
}

void
tfa_conv1d_f32(const float *x, const struct tfp_tensor *w, const struct tfp_tensor *b,
               unsigned in_len, unsigned in_ch, unsigned out_ch, unsigned k, unsigned stride,
               float *y)
{
	unsigned out_len = (in_len - k) / stride + 1;
	size_t span = (size_t)k * in_ch;

	for (unsigned t = 0; t < out_len; t++) {
		const float *win = x + (size_t)t * stride * in_ch;
		for (unsigned o = 0; o < out_ch; o++) {
			float acc = 0.0f;
			for (size_t i = 0; i < span; i++)
				acc += tfp_tensor_f32(w, (uint32_t)(o * span + i)) * win[i];
			y[(size_t)t * out_ch + o] = acc + bias_at(b, o);
		}
	}
}

void
tfa_activate(float *y, size_t n, enum tfp_activation act)
{
	float m, sum = 0.0f;

	switch (act) {
	case TFP_ACT_NONE:
		break;
	case TFP_ACT_RELU:
		for (size_t i = 0; i < n; i++)
			if (!(y[i] > 0.0f))
				y[i] = 0.0f;
		break;
	case TFP_ACT_SIGMOID:
		for (size_t i = 0; i < n; i++)
			y[i] = 1.0f / (1.0f + expf(-y[i]));
		break;
	case TFP_ACT_TANH:
		for (size_t i = 0; i < n; i++)
			y[i] = tanhf(y[i]);
		break;
	case TFP_ACT_SOFTMAX:
		if (n == 0)
			break;
		m = y[0];
		for (size_t i = 1; i < n; i++)
			if (y[i] > m)
				m = y[i];
		for (size_t i = 0; i < n; i++) {
			y[i] = expf(y[i] - m);
			sum += y[i];
		}
		for (size_t i = 0; i < n; i++)
			y[i] /= sum;
		break;
	}
}

static void
pool(const float *x, unsigned in_len, unsigned ch, unsigned k, unsigned stride, int is_max,
     float *y)
{
	unsigned out_len = (in_len - k) / stride + 1;

	for (unsigned t = 0; t < out_len; t++) {
		for (unsigned c = 0; c < ch; c++) {
			const float *p = x + (size_t)t * stride * ch + c;
			float acc = p[0];
			for (unsigned j = 1; j < k; j++) {
				float v = p[(size_t)j * ch];
				if (is_max)
					acc = v > acc ? v : acc;
				else
					acc += v;
			}
			y[(size_t)t * ch + c] = is_max ? acc : acc / (float)k;
		}
	}
}

int
tfa_model_open(struct tfa_model *m, const uint8_t *img, size_t len)
{
	int rc;

	if (m == NULL)
		return TFP_ERR_ARG;
	memset(m, 0, sizeof(*m));
	if ((rc = tfp_container_open(&m->c, img, len)) != 0)
		return rc;
	m->max_act = m->c.info.in_len * m->c.info.in_ch;
	for (unsigned i = 0; i < m->c.info.layer_count; i++) {
		struct tfp_layer l;
		struct tfp_tensor w;
		(void)tfp_container_layer(&m->c, i, &l);
		if (l.out_len * l.out_ch > m->max_act)
			m->max_act = l.out_len * l.out_ch;
		if (l.weight != TFP_CONTAINER_NONE &&
		    tfp_container_tensor(&m->c, l.weight, &w) == 0 && w.dtype == TFP_DTYPE_INT8 &&
		    l.in_len * l.in_ch > m->max_q)
			m->max_q = l.in_len * l.in_ch;
	}
	m->arena = tfp_container_arena_need(&m->c);
	return 0;
}

size_t
tfa_model_arena(const struct tfa_model *m)
{
	return m != NULL ? m->arena : 0;
}

float *
tfa_infer_input(uint8_t *arena)
{
	return (float *)(void *)arena;
}

int
tfa_infer_range(const struct tfa_model *m, unsigned first, unsigned end, uint8_t *arena,
                size_t arena_len, const float **out, size_t *out_n)
{
	float *cur, *other;
	int8_t *q;
	unsigned len, ch;

	if (m == NULL || m->c.base == NULL || out == NULL || first > end ||
	    end > m->c.info.layer_count)
		return TFP_ERR_ARG;
	if (arena == NULL || ((uintptr_t)arena % sizeof(float)) != 0 || arena_len < m->arena)
		return TFA_ERR_ARENA;
	cur = (float *)(void *)arena;
	other = cur + m->max_act;
	q = (int8_t *)(other + m->max_act);
	len = m->c.info.in_len;
	ch = m->c.info.in_ch;
	if (first > 0) {
		struct tfp_layer prev;
		(void)tfp_container_layer(&m->c, first - 1, &prev);
		len = prev.out_len;
		ch = prev.out_ch;
	}
	for (unsigned i = first; i < end; i++) {
		struct tfp_layer l;
		struct tfp_tensor w, b, *bp = NULL;
		float xs;
		int32_t xz;
		float *tmp;
		(void)tfp_container_layer(&m->c, i, &l);
		if (l.bias != TFP_CONTAINER_NONE && tfp_container_tensor(&m->c, l.bias, &b) == 0)
			bp = &b;
		if (l.weight != TFP_CONTAINER_NONE)
			(void)tfp_container_tensor(&m->c, l.weight, &w);
		switch (l.op) {
		case TFP_OP_DENSE:
		case TFP_OP_CONV1D:
			if (w.dtype == TFP_DTYPE_INT8) {
				tfa_quantize(cur, (size_t)l.in_len * l.in_ch, l.in_scale, l.in_zero,
				             q, &xs, &xz);
				if (l.op == TFP_OP_DENSE)
					tfa_dense_q8(q, xz, xs, &w, bp, l.in_ch, l.out_ch, other);
				else
					tfa_conv1d_q8(q, xz, xs, &w, bp, l.in_len, l.in_ch, l.out_ch,
					              l.kernel, l.stride, other);
			} else if (l.op == TFP_OP_DENSE) {
				tfa_dense_f32(cur, &w, bp, l.in_ch, l.out_ch, other);
			} else {
				tfa_conv1d_f32(cur, &w, bp, l.in_len, l.in_ch, l.out_ch, l.kernel,
				               l.stride, other);
			}
			break;
		case TFP_OP_MAXPOOL1D:
		case TFP_OP_AVGPOOL1D:
			pool(cur, l.in_len, l.in_ch, l.kernel, l.stride, l.op == TFP_OP_MAXPOOL1D,
			     other);
			break;
		case TFP_OP_FLATTEN:
			other = cur;   /* row-major [len, ch] is already the flat vector */
			break;
		}
		tfa_activate(other, (size_t)l.out_len * l.out_ch, l.act);
		if (other != cur) {
			tmp = cur;
			cur = other;
			other = tmp;
		} else {
			other = cur == (float *)(void *)arena ? cur + m->max_act
			                                      : (float *)(void *)arena;
		}
		len = l.out_len;
		ch = l.out_ch;
	}
	/* The result must be where the next call expects its input: buffer 0. */
	if (cur != (float *)(void *)arena) {
		memcpy(arena, cur, (size_t)len * ch * sizeof(float));
		cur = (float *)(void *)arena;
	}
	*out = cur;
	if (out_n != NULL)
		*out_n = (size_t)len * ch;
	return 0;
}

int
tfa_infer(const struct tfa_model *m, const float *x, uint8_t *arena, size_t arena_len,
          const float **out, size_t *out_n)
{
	if (m == NULL || m->c.base == NULL || x == NULL)
		return TFP_ERR_ARG;
	if (arena == NULL || ((uintptr_t)arena % sizeof(float)) != 0 || arena_len < m->arena)
		return TFA_ERR_ARENA;
	memmove(arena, x, (size_t)m->c.info.in_len * m->c.info.in_ch * sizeof(float));
	return tfa_infer_range(m, 0, m->c.info.layer_count, arena, arena_len, out, out_n);
}

int
tfa_selftest(const struct tfa_model *m, uint8_t *arena, size_t arena_len, float *max_err)
{
	struct tfp_tensor ti, to;
	float worst = 0.0f;
	int rc;

	if (max_err != NULL)
		*max_err = 0.0f;
	if (m == NULL || m->c.base == NULL)
		return TFP_ERR_ARG;
	if (tfp_container_find(&m->c, TFP_KIND_TEST_IN, &ti) != 0 ||
	    tfp_container_find(&m->c, TFP_KIND_TEST_OUT, &to) != 0)
		return 0;
	if (arena == NULL || ((uintptr_t)arena % sizeof(float)) != 0 || arena_len < m->arena)
		return TFA_ERR_ARENA;
	for (uint32_t v = 0; v < ti.shape[0]; v++) {
		float *in = tfa_infer_input(arena);
		const float *y;
		size_t n;
		for (uint32_t i = 0; i < ti.shape[1]; i++)
			in[i] = tfp_tensor_f32(&ti, v * ti.shape[1] + i);
		if ((rc = tfa_infer_range(m, 0, m->c.info.layer_count, arena, arena_len, &y,
		                          &n)) != 0)
			return rc;
		for (uint32_t o = 0; o < to.shape[1]; o++) {
			float d = fabsf(y[o] - tfp_tensor_f32(&to, v * to.shape[1] + o));
			if (!(d <= worst))
				worst = d;   /* NaN makes the test fail below */
		}
	}
	if (max_err != NULL)
		*max_err = worst;
	return worst <= m->c.info.test_tolerance ? 0 : TFA_ERR_SELFTEST;
}
