/*
 * Inference runtime: int8 kernels against a float reference within the quantisation
 * tolerance (and exactly against integer arithmetic), activations, the layer loop over one
 * arena, arena checks and the post-install self-test.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "learn_test_util.h"
#include "tinyfleet/agent/infer.h"

static uint32_t rng_state = 12345;

static float
frand(void)   /* uniform in [-1, 1), deterministic */
{
	rng_state = rng_state * 1664525u + 1013904223u;
	return (float)(rng_state >> 8) / (float)(1u << 23) - 1.0f;
}

/* Per-channel symmetric quantisation of w [rows][cols] as the packer does it. */
static void
quantize_rows(const float *w, unsigned rows, unsigned cols, int8_t *q, float *scale)
{
	for (unsigned r = 0; r < rows; r++) {
		float m = 0.0f;
		for (unsigned c = 0; c < cols; c++)
			m = fmaxf(m, fabsf(w[r * cols + c]));
		scale[r] = m > 0.0f ? m / 127.0f : 1.0f;
		for (unsigned c = 0; c < cols; c++)
			q[r * cols + c] = (int8_t)floorf(w[r * cols + c] / scale[r] + 0.5f);
	}
}

static struct tfp_tensor
tensor_q8(const int8_t *q, const float *scale, unsigned qcount, unsigned count)
{
	struct tfp_tensor t;
	memset(&t, 0, sizeof(t));
	t.dtype = TFP_DTYPE_INT8;
	t.count = count;
	t.data = (const uint8_t *)q;
	t.scales = (const uint8_t *)scale;
	t.qcount = qcount;
	return t;
}

static struct tfp_tensor
tensor_f32(const float *v, unsigned count)
{
	struct tfp_tensor t;
	memset(&t, 0, sizeof(t));
	t.dtype = TFP_DTYPE_FLOAT32;
	t.count = count;
	t.data = (const uint8_t *)v;
	return t;
}

static void
test_quantize(void **state)
{
	const float x[5] = {-1.0f, 0.5f, 0.0f, 2.0f, 100.0f};
	int8_t q[5];
	float s;
	int32_t z;
	(void)state;

	/* Dynamic: symmetric, scale = max|x| / 127. */
	tfa_quantize(x, 4, 0.0f, 0, q, &s, &z);
	assert_true(fabsf(s - 2.0f / 127.0f) < 1e-9f);
	assert_int_equal(z, 0);
	assert_int_equal(q[0], -63);     /* -63.5 rounds half up */
	assert_int_equal(q[3], 127);
	/* Static with a zero point, saturating. */
	tfa_quantize(x, 5, 0.5f, 10, q, &s, &z);
	assert_int_equal(q[0], 8);
	assert_int_equal(q[1], 11);
	assert_int_equal(q[2], 10);
	assert_int_equal(q[4], 127);
	assert_true(s == 0.5f && z == 10);
}

static void
test_dense_q8_against_float(void **state)
{
	enum { IN = 24, OUT = 7 };
	float w[OUT * IN], b[OUT], x[IN], scale[OUT], ref[OUT], y[OUT], xs;
	int8_t wq[OUT * IN], xq[IN];
	int32_t xz;
	(void)state;

	for (int trial = 0; trial < 20; trial++) {
		float ymax = 0.0f;
		for (int i = 0; i < OUT * IN; i++)
			w[i] = frand() * (float)(1 + i % OUT);   /* channels of different ranges */
		for (int i = 0; i < OUT; i++)
			b[i] = frand();
		for (int i = 0; i < IN; i++)
			x[i] = 3.0f * frand();
		quantize_rows(w, OUT, IN, wq, scale);
		struct tfp_tensor tw = tensor_q8(wq, scale, OUT, OUT * IN), tb = tensor_f32(b, OUT);
		tfa_quantize(x, IN, 0.0f, 0, xq, &xs, &xz);
		tfa_dense_q8(xq, xz, xs, &tw, &tb, IN, OUT, y);
		for (int o = 0; o < OUT; o++) {
			double acc = b[o];
			int32_t iacc = 0;
			for (int i = 0; i < IN; i++) {
				acc += (double)w[o * IN + i] * x[i];
				iacc += xq[i] * wq[o * IN + i];
			}
			ref[o] = (float)acc;
			ymax = fmaxf(ymax, fabsf(ref[o]));
			/* Exactly the integer arithmetic of CONTAINER.md ... */
			assert_true(fabsf(y[o] - ((float)iacc * (xs * scale[o]) + b[o])) < 1e-5f);
		}
		/* ... and within int8 quantisation error of the float layer: each product errs
		 * by at most half a step of x and of w, so |err| <= IN * (|w| xs + |x| ws) / 2. */
		for (int o = 0; o < OUT; o++) {
			float bound = 0.0f;
			for (int i = 0; i < IN; i++)
				bound += 0.5f * (fabsf(w[o * IN + i]) * xs + fabsf(x[i]) * scale[o]) +
				         0.25f * xs * scale[o];
			assert_true(fabsf(y[o] - ref[o]) <= bound);
			assert_true(fabsf(y[o] - ref[o]) <= 0.03f * ymax + 1e-3f);
		}
	}
}

static void
test_conv1d_q8_against_float(void **state)
{
	enum { LEN = 20, CH = 3, OC = 5, K = 4, S = 2, OL = (LEN - K) / S + 1 };
	float w[OC * K * CH], b[OC], x[LEN * CH], scale[OC], y[OL * OC], yf[OL * OC], xs;
	int8_t wq[OC * K * CH], xq[LEN * CH];
	int32_t xz;
	float ymax = 0.0f;
	(void)state;

	for (int i = 0; i < OC * K * CH; i++)
		w[i] = frand();
	for (int i = 0; i < OC; i++)
		b[i] = 0.1f * frand();
	for (int i = 0; i < LEN * CH; i++)
		x[i] = 2.0f * frand() + 0.5f;
	quantize_rows(w, OC, K * CH, wq, scale);
	struct tfp_tensor tw = tensor_q8(wq, scale, OC, OC * K * CH), tb = tensor_f32(b, OC);
	struct tfp_tensor twf = tensor_f32(w, OC * K * CH);
	/* Static asymmetric input quantisation over [-1.5, 2.5]. */
	tfa_quantize(x, LEN * CH, 4.0f / 255.0f, -128 + 96, xq, &xs, &xz);
	tfa_conv1d_q8(xq, xz, xs, &tw, &tb, LEN, CH, OC, K, S, y);
	tfa_conv1d_f32(x, &twf, &tb, LEN, CH, OC, K, S, yf);
	for (int t = 0; t < OL; t++) {
		for (int o = 0; o < OC; o++) {
			double acc = b[o];
			for (int k = 0; k < K; k++)
				for (int c = 0; c < CH; c++)
					acc += (double)w[(o * K + k) * CH + c] * x[(t * S + k) * CH + c];
			assert_true(fabsf(yf[t * OC + o] - (float)acc) < 1e-4f);
			ymax = fmaxf(ymax, fabsf((float)acc));
		}
	}
	for (int i = 0; i < OL * OC; i++)
		assert_true(fabsf(y[i] - yf[i]) <= 0.03f * ymax + 1e-3f);
}

static void
test_activations(void **state)
{
	float v[4] = {-1.0f, 0.0f, 2.0f, 1.0f}, s = 0.0f;
	(void)state;

	tfa_activate(v, 4, TFP_ACT_RELU);
	assert_true(v[0] == 0.0f && v[2] == 2.0f);
	v[0] = 0.0f;
	tfa_activate(v, 1, TFP_ACT_SIGMOID);
	assert_true(fabsf(v[0] - 0.5f) < 1e-7f);
	v[0] = 1.0f;
	tfa_activate(v, 1, TFP_ACT_TANH);
	assert_true(fabsf(v[0] - 0.7615942f) < 1e-6f);
	float l[3] = {1000.0f, 1000.0f, 0.0f};   /* large logits must not overflow */
	tfa_activate(l, 3, TFP_ACT_SOFTMAX);
	for (int i = 0; i < 3; i++)
		s += l[i];
	assert_true(fabsf(s - 1.0f) < 1e-6f && fabsf(l[0] - 0.5f) < 1e-6f);
}

/* [6,2] -> conv1d k3 (3 ch, int8 per channel) relu -> maxpool 2 -> flatten -> dense 6->4
 * int8 tanh -> dense 4->3 float32 softmax (trainable). */
static size_t
build_cnn(struct tb *b, float *conv_w, float *dense_w, float *head_w)
{
	const uint32_t cws[] = {3, 3, 2}, s3[] = {3}, dws[] = {4, 6}, s4[] = {4}, hws[] = {3, 4};
	float cq[18], dq[24], cs[3], ds[4], cb[3] = {0.1f, -0.2f, 0.3f}, db[4] = {0}, hb[3] = {0};
	int8_t q8[24];
	unsigned i_cs, i_cw, i_cb, i_ds, i_dw, i_hw, i_hb;

	quantize_rows(conv_w, 3, 6, q8, cs);
	for (int i = 0; i < 18; i++)
		cq[i] = q8[i];
	quantize_rows(dense_w, 4, 6, q8, ds);
	for (int i = 0; i < 24; i++)
		dq[i] = q8[i];
	tb_init(b, TFP_TASK_CLASSIFY, 6, 2);
	i_cs = tb_tensor(b, "cs", TFP_DTYPE_FLOAT32, TFP_KIND_QSCALE, 1, s3, cs, 0xFFFF, 0xFFFF);
	i_cw = tb_tensor(b, "cw", TFP_DTYPE_INT8, TFP_KIND_WEIGHT, 3, cws, cq, i_cs, 0xFFFF);
	i_cb = tb_tensor(b, "cb", TFP_DTYPE_FLOAT32, TFP_KIND_BIAS, 1, s3, cb, 0xFFFF, 0xFFFF);
	i_ds = tb_tensor(b, "ds", TFP_DTYPE_FLOAT32, TFP_KIND_QSCALE, 1, s4, ds, 0xFFFF, 0xFFFF);
	i_dw = tb_tensor(b, "dw", TFP_DTYPE_INT8, TFP_KIND_WEIGHT, 2, dws, dq, i_ds, 0xFFFF);
	(void)tb_tensor(b, "db", TFP_DTYPE_FLOAT32, TFP_KIND_BIAS, 1, s4, db, 0xFFFF, 0xFFFF);
	i_hw = tb_tensor(b, "hw", TFP_DTYPE_FLOAT32, TFP_KIND_WEIGHT, 2, hws, head_w, 0xFFFF,
	                 0xFFFF);
	i_hb = tb_tensor(b, "hb", TFP_DTYPE_FLOAT32, TFP_KIND_BIAS, 1, s3, hb, 0xFFFF, 0xFFFF);
	tb_layer(b, TFP_OP_CONV1D, TFP_ACT_RELU, i_cw, i_cb, 6, 2, 4, 3, 3, 1, 0.0f, 0);
	tb_layer(b, TFP_OP_MAXPOOL1D, 0, 0xFFFF, 0xFFFF, 4, 3, 2, 3, 2, 2, 0.0f, 0);
	tb_layer(b, TFP_OP_FLATTEN, 0, 0xFFFF, 0xFFFF, 2, 3, 1, 6, 0, 0, 0.0f, 0);
	tb_layer(b, TFP_OP_DENSE, TFP_ACT_TANH, i_dw, i_dw + 1, 1, 6, 1, 4, 0, 0, 0.0f, 0);
	tb_layer(b, TFP_OP_DENSE, TFP_ACT_SOFTMAX, i_hw, i_hb, 1, 4, 1, 3, 0, 0, 0.0f, 0);
	tb_trainable(b);
	return tb_finish(b, 1e-5f);
}

/* Float reference of build_cnn's model (unquantised weights). */
static void
ref_cnn(const float *x, const float *cw, const float *dw, const float *hw, float *out)
{
	const float cb[3] = {0.1f, -0.2f, 0.3f};
	float c[4][3], p[6], d[4];

	for (int t = 0; t < 4; t++)
		for (int o = 0; o < 3; o++) {
			float a = cb[o];
			for (int k = 0; k < 3; k++)
				for (int ch = 0; ch < 2; ch++)
					a += cw[(o * 3 + k) * 2 + ch] * x[(t + k) * 2 + ch];
			c[t][o] = a > 0 ? a : 0;
		}
	for (int t = 0; t < 2; t++)
		for (int o = 0; o < 3; o++)
			p[t * 3 + o] = fmaxf(c[2 * t][o], c[2 * t + 1][o]);
	for (int o = 0; o < 4; o++) {
		float a = 0;
		for (int i = 0; i < 6; i++)
			a += dw[o * 6 + i] * p[i];
		d[o] = tanhf(a);
	}
	for (int o = 0; o < 3; o++) {
		out[o] = 0;
		for (int i = 0; i < 4; i++)
			out[o] += hw[o * 4 + i] * d[i];
	}
	tfa_activate(out, 3, TFP_ACT_SOFTMAX);
}

static struct tb cnn;

static void
test_model_forward(void **state)
{
	float cw[18], dw[24], hw[12], x[12], ref[3];
	uint32_t arena_words[64];
	uint8_t *arena = (uint8_t *)arena_words;
	struct tfa_model m;
	const float *y;
	size_t n;
	(void)state;

	for (int i = 0; i < 18; i++)
		cw[i] = frand();
	for (int i = 0; i < 24; i++)
		dw[i] = frand();
	for (int i = 0; i < 12; i++)
		hw[i] = 2.0f * frand();
	build_cnn(&cnn, cw, dw, hw);
	assert_int_equal(tfa_model_open(&m, cnn.img, cnn.len), 0);
	/* max activation 12 floats (input), int8 input 12 -> 2*4*12 + 12 */
	assert_int_equal(tfa_model_arena(&m), 2 * 4 * 12 + 12);
	for (int trial = 0; trial < 50; trial++) {
		for (int i = 0; i < 12; i++)
			x[i] = frand();
		assert_int_equal(tfa_infer(&m, x, arena, tfa_model_arena(&m), &y, &n), 0);
		assert_int_equal(n, 3);
		ref_cnn(x, cw, dw, hw, ref);
		for (int o = 0; o < 3; o++)
			assert_true(fabsf(y[o] - ref[o]) < 0.03f);
	}
	/* The frozen part alone, then the head: same as the whole. */
	float whole[3];
	assert_int_equal(tfa_infer(&m, x, arena, sizeof(arena_words), &y, &n), 0);
	memcpy(whole, y, sizeof(whole));
	memcpy(tfa_infer_input(arena), x, sizeof(x));
	assert_int_equal(tfa_infer_range(&m, 0, 4, arena, sizeof(arena_words), &y, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(tfa_infer_range(&m, 4, 5, arena, sizeof(arena_words), &y, &n), 0);
	assert_memory_equal(y, whole, sizeof(whole));
	/* Arena checks. */
	assert_int_equal(tfa_infer(&m, x, arena, tfa_model_arena(&m) - 1, &y, &n), TFA_ERR_ARENA);
	assert_int_equal(tfa_infer(&m, x, arena + 2, 200, &y, &n), TFA_ERR_ARENA);
	assert_int_equal(tfa_infer(&m, x, NULL, 200, &y, &n), TFA_ERR_ARENA);
	assert_int_equal(tfa_infer_range(&m, 3, 6, arena, 200, &y, &n), TFP_ERR_ARG);
}

static void
test_selftest(void **state)
{
	float cw[18], dw[24], hw[12], tin[2 * 12], tout[2 * 3];
	uint32_t arena_words[64];
	uint8_t *arena = (uint8_t *)arena_words;
	const uint32_t si[] = {2, 12}, so[] = {2, 3};
	struct tfa_model m;
	const float *y;
	float err;
	(void)state;

	for (int i = 0; i < 18; i++)
		cw[i] = frand();
	for (int i = 0; i < 24; i++)
		dw[i] = frand();
	for (int i = 0; i < 12; i++)
		hw[i] = frand();
	for (int i = 0; i < 24; i++)
		tin[i] = frand();
	build_cnn(&cnn, cw, dw, hw);
	assert_int_equal(tfa_model_open(&m, cnn.img, cnn.len), 0);
	assert_int_equal(tfa_selftest(&m, arena, sizeof(arena_words), &err), 0);
	assert_true(err == 0.0f);    /* no vectors: nothing to test */
	for (int v = 0; v < 2; v++) {
		assert_int_equal(tfa_infer(&m, tin + 12 * v, arena, sizeof(arena_words), &y, NULL), 0);
		memcpy(tout + 3 * v, y, 3 * sizeof(float));
	}
	(void)tb_tensor(&cnn, "ti", TFP_DTYPE_FLOAT32, TFP_KIND_TEST_IN, 2, si, tin, 0xFFFF, 0xFFFF);
	(void)tb_tensor(&cnn, "to", TFP_DTYPE_FLOAT32, TFP_KIND_TEST_OUT, 2, so, tout, 0xFFFF,
	                0xFFFF);
	tb_finish(&cnn, 1e-5f);
	assert_int_equal(tfa_model_open(&m, cnn.img, cnn.len), 0);
	assert_int_equal(tfa_selftest(&m, arena, sizeof(arena_words), &err), 0);
	assert_true(err <= 1e-6f);
	/* A wrong expectation fails the self-test. */
	tout[4] += 0.01f;
	cnn.nt -= 1;
	cnn.data_len -= 24;
	(void)tb_tensor(&cnn, "to", TFP_DTYPE_FLOAT32, TFP_KIND_TEST_OUT, 2, so, tout, 0xFFFF,
	                0xFFFF);
	tb_finish(&cnn, 1e-5f);
	assert_int_equal(tfa_model_open(&m, cnn.img, cnn.len), 0);
	assert_int_equal(tfa_selftest(&m, arena, sizeof(arena_words), &err), TFA_ERR_SELFTEST);
	assert_true(fabsf(err - 0.01f) < 1e-4f);
	assert_int_equal(tfa_selftest(&m, arena, 10, &err), TFA_ERR_ARENA);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quantize),
		cmocka_unit_test(test_dense_q8_against_float),
		cmocka_unit_test(test_conv1d_q8_against_float),
		cmocka_unit_test(test_activations),
		cmocka_unit_test(test_model_forward),
		cmocka_unit_test(test_selftest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
