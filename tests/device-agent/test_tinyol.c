/*
 * TinyOL: Welford against the two-pass formulas, SGD steps against hand-computed gradients
 * (softmax cross-entropy and squared error), standardisation with the shipped statistics,
 * recovery after a concept change, autoencoder learning, save/restore with torn writes.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "learn_test_util.h"
#include "tinyfleet/agent/tinyol.h"

uint32_t tfa__crc32(uint32_t crc, const uint8_t *p, size_t n);   /* private, tested here */

static uint32_t arena_words[256];
#define ARENA ((uint8_t *)arena_words)

static uint32_t rng_state = 99;

static float
frand(void)
{
	rng_state = rng_state * 1664525u + 1013904223u;
	return (float)(rng_state >> 8) / (float)(1u << 23) - 1.0f;
}

#define NONE 0xFFFF

/* [1, n_in] -> one float32 dense layer (trainable), optionally with stats. */
static void
build_head(struct tb *b, int task, unsigned n_in, unsigned n_out, int act, const float *w,
           const float *bias, const float *mean, const float *var)
{
	uint32_t ws[2] = {n_out, n_in}, bs[1] = {n_out}, fs[1] = {n_in};
	unsigned iw, ib;

	tb_init(b, task, 1, n_in);
	iw = tb_tensor(b, "w", TFP_DTYPE_FLOAT32, TFP_KIND_WEIGHT, 2, ws, w, NONE, NONE);
	ib = tb_tensor(b, "b", TFP_DTYPE_FLOAT32, TFP_KIND_BIAS, 1, bs, bias, NONE, NONE);
	if (mean != NULL) {
		(void)tb_tensor(b, "mean", TFP_DTYPE_FLOAT32, TFP_KIND_FEAT_MEAN, 1, fs, mean, NONE,
		                NONE);
		(void)tb_tensor(b, "var", TFP_DTYPE_FLOAT32, TFP_KIND_FEAT_VAR, 1, fs, var, NONE,
		                NONE);
	}
	tb_layer(b, TFP_OP_DENSE, act, iw, ib, 1, n_in, 1, n_out, 0, 0, 0.0f, 0);
	tb_trainable(b);
	tb_finish(b, 0.0f);
}

static struct tb mb;

static void
test_crc32_known_answer(void **state)
{
	(void)state;
	assert_int_equal(tfa__crc32(0, (const uint8_t *)"123456789", 9), 0xCBF43926u);
	/* Streaming in pieces gives the same result. */
	assert_int_equal(tfa__crc32(tfa__crc32(0, (const uint8_t *)"1234", 4),
	                            (const uint8_t *)"56789", 5), 0xCBF43926u);
}

static void
test_welford_matches_two_pass(void **state)
{
	struct tfa_welford w;
	float x[2], data[500][2];
	double s[2] = {0, 0}, ss[2] = {0, 0};
	(void)state;

	assert_int_equal(tfa_welford_init(&w, 2, 0), 0);
	for (int i = 0; i < 500; i++) {
		data[i][0] = 1000.0f + 3.0f * frand();    /* large mean, small spread */
		data[i][1] = (float)(i % 7) - 3.0f;
		tfa_welford_update(&w, data[i]);
		s[0] += data[i][0];
		s[1] += data[i][1];
	}
	for (int i = 0; i < 500; i++)
		for (int f = 0; f < 2; f++)
			ss[f] += (data[i][f] - s[f] / 500) * (data[i][f] - s[f] / 500);
	assert_int_equal(w.n, 500);
	for (int f = 0; f < 2; f++) {
		assert_true(fabs(w.mean[f] - s[f] / 500) < 1e-3);
		assert_true(fabs(tfa_welford_var(&w, (uint16_t)f) - ss[f] / 500) < 1e-3 * (1 + ss[f] / 500));
	}
	/* Non-finite values are skipped. */
	x[0] = NAN;
	x[1] = 0.0f;
	tfa_welford_update(&w, x);
	assert_true(isfinite(w.mean[0]) && isfinite(w.m2[0]));
	/* Seeding and a window: after a level change the mean follows within a few windows. */
	assert_int_equal(tfa_welford_init(&w, 1, 50), 0);
	tfa_welford_seed(&w, (const float[]){5.0f}, (const float[]){4.0f}, 1000);
	assert_int_equal(w.n, 50);
	assert_true(fabsf(tfa_welford_var(&w, 0) - 4.0f) < 1e-5f);
	for (int i = 0; i < 400; i++) {
		x[0] = 20.0f + (i % 2 ? 1.0f : -1.0f);
		tfa_welford_update(&w, x);
	}
	assert_true(fabsf(w.mean[0] - 20.0f) < 0.1f);
	assert_true(fabsf(tfa_welford_var(&w, 0) - 1.0f) < 0.2f);
	assert_int_equal(tfa_welford_init(&w, TFA_FEATURES_MAX + 1, 0), TFA_ERR_BUDGET);
}

static void
test_sgd_softmax_hand_computed(void **state)
{
	const float w[4] = {1, 0, 0, 1}, b[2] = {0, 0};
	struct tfa_model m;
	struct tfa_tinyol t;
	struct tfa_tinyol_config cfg;
	const float *y;
	(void)state;

	build_head(&mb, TFP_TASK_CLASSIFY, 2, 2, TFP_ACT_SOFTMAX, w, b, NULL, NULL);
	assert_int_equal(tfa_model_open(&m, mb.img, mb.len), 0);
	tfa_tinyol_config_default(&cfg);
	cfg.lr = 0.5f;
	assert_int_equal(tfa_tinyol_init(&t, &m, &cfg), 0);
	/* x = (1, 0): logits (1, 0), p = (e/(e+1), 1/(e+1)) = (0.7310586, 0.2689414). */
	assert_int_equal(tfa_tinyol_predict(&t, (const float[]){1.0f, 0.0f}, ARENA,
	                                    sizeof(arena_words), &y), 0);
	assert_true(fabsf(y[0] - 0.7310586f) < 1e-6f && fabsf(y[1] - 0.2689414f) < 1e-6f);
	assert_int_equal(tfa_tinyol_argmax(&t), 0);
	/* Label 1: dL/dz = p - onehot = (0.7310586, -0.7310586); dW = dz x^T; lr 0.5. */
	assert_int_equal(tfa_tinyol_learn_class(&t, 1), 0);
	assert_true(fabsf(t.last_loss - 1.3132617f) < 1e-5f);     /* -ln 0.2689414 */
	assert_true(fabsf(t.w[0] - 0.6344707f) < 1e-6f);
	assert_true(fabsf(t.w[1] - 0.0f) < 1e-7f);
	assert_true(fabsf(t.w[2] - 0.3655293f) < 1e-6f);
	assert_true(fabsf(t.w[3] - 1.0f) < 1e-7f);
	assert_true(fabsf(t.b[0] + 0.3655293f) < 1e-6f && fabsf(t.b[1] - 0.3655293f) < 1e-6f);
	assert_int_equal(t.updates, 1);
	/* The sample is gone: a second label has nothing to learn from. */
	assert_int_equal(tfa_tinyol_learn_class(&t, 1), TFA_ERR_STATE);
	assert_int_equal(tfa_tinyol_predict(&t, (const float[]){1.0f, 0.0f}, ARENA,
	                                    sizeof(arena_words), NULL), 0);
	assert_int_equal(tfa_tinyol_learn_class(&t, 2), TFA_ERR_LABEL);
	assert_int_equal(tfa_tinyol_learn_target(&t, (const float[]){0, 0}), TFA_ERR_MODEL);
	/* Weight decay adds decay * w to the gradient. */
	cfg.lr = 1.0f;
	cfg.decay = 0.1f;
	assert_int_equal(tfa_tinyol_init(&t, &m, &cfg), 0);
	assert_int_equal(tfa_tinyol_predict(&t, (const float[]){0.0f, 0.0f}, ARENA,
	                                    sizeof(arena_words), NULL), 0);
	assert_int_equal(tfa_tinyol_learn_class(&t, 0), 0);       /* p = (0.5, 0.5) */
	assert_true(fabsf(t.w[0] - 0.9f) < 1e-6f && fabsf(t.w[3] - 0.9f) < 1e-6f);
	assert_true(fabsf(t.b[0] - 0.5f) < 1e-6f && fabsf(t.b[1] + 0.5f) < 1e-6f);
}

static void
test_sgd_regression_hand_computed(void **state)
{
	const float w[2] = {0.5f, -1.0f}, b[1] = {0.1f};
	struct tfa_model m;
	struct tfa_tinyol t;
	struct tfa_tinyol_config cfg;
	const float *y;
	(void)state;

	build_head(&mb, TFP_TASK_REGRESS, 2, 1, TFP_ACT_NONE, w, b, NULL, NULL);
	assert_int_equal(tfa_model_open(&m, mb.img, mb.len), 0);
	tfa_tinyol_config_default(&cfg);
	cfg.lr = 0.1f;
	assert_int_equal(tfa_tinyol_init(&t, &m, &cfg), 0);
	/* y = 0.5*2 - 1*1 + 0.1 = 0.1; target 1: e = -0.9; W -= 0.1 * e * x; b -= 0.1 * e. */
	assert_int_equal(tfa_tinyol_predict(&t, (const float[]){2.0f, 1.0f}, ARENA,
	                                    sizeof(arena_words), &y), 0);
	assert_true(fabsf(y[0] - 0.1f) < 1e-6f);
	assert_int_equal(tfa_tinyol_learn_target(&t, (const float[]){1.0f}), 0);
	assert_true(fabsf(t.last_loss - 0.81f) < 1e-5f);
	assert_true(fabsf(t.w[0] - 0.68f) < 1e-6f);
	assert_true(fabsf(t.w[1] + 0.91f) < 1e-6f);
	assert_true(fabsf(t.b[0] - 0.19f) < 1e-6f);
	assert_int_equal(tfa_tinyol_learn_class(&t, 0), TFA_ERR_MODEL);
	/* Momentum needs the compile-time velocity storage. */
	cfg.momentum = 0.9f;
	assert_int_equal(tfa_tinyol_init(&t, &m, &cfg), TFA_WITH_MOMENTUM ? 0 : TFP_ERR_ARG);
	cfg.momentum = 0.0f;
	cfg.lr = -1.0f;
	assert_int_equal(tfa_tinyol_init(&t, &m, &cfg), TFP_ERR_ARG);
}

static void
test_sgd_momentum(void **state)
{
#if TFA_WITH_MOMENTUM
	const float w[2] = {0.5f, -1.0f}, b[1] = {0.1f};
	struct tfa_model m;
	struct tfa_tinyol t;
	struct tfa_tinyol_config cfg;

	build_head(&mb, TFP_TASK_REGRESS, 2, 1, TFP_ACT_NONE, w, b, NULL, NULL);
	assert_int_equal(tfa_model_open(&m, mb.img, mb.len), 0);
	tfa_tinyol_config_default(&cfg);
	cfg.lr = 0.1f;
	cfg.momentum = 0.5f;
	assert_int_equal(tfa_tinyol_init(&t, &m, &cfg), 0);
	/* Step 1 as without momentum (v = g): W = (0.68, -0.91), b = 0.19. */
	assert_int_equal(tfa_tinyol_predict(&t, (const float[]){2.0f, 1.0f}, ARENA,
	                                    sizeof(arena_words), NULL), 0);
	assert_int_equal(tfa_tinyol_learn_target(&t, (const float[]){1.0f}), 0);
	assert_true(fabsf(t.w[0] - 0.68f) < 1e-6f && fabsf(t.b[0] - 0.19f) < 1e-6f);
	/* Step 2: y = 0.68*2 - 0.91 + 0.19 = 0.64, e = -0.36, g_w = (-0.72, -0.36), g_b = -0.36;
	 * v_w = 0.5 * (-1.8, -0.9) + g_w = (-1.62, -0.81), v_b = 0.5 * -0.9 - 0.36 = -0.81;
	 * W = (0.68 + 0.162, -0.91 + 0.081), b = 0.19 + 0.081. */
	assert_int_equal(tfa_tinyol_predict(&t, (const float[]){2.0f, 1.0f}, ARENA,
	                                    sizeof(arena_words), NULL), 0);
	assert_true(fabsf(t.y[0] - 0.64f) < 1e-5f);
	assert_int_equal(tfa_tinyol_learn_target(&t, (const float[]){1.0f}), 0);
	assert_true(fabsf(t.w[0] - 0.842f) < 1e-5f);
	assert_true(fabsf(t.w[1] + 0.829f) < 1e-5f);
	assert_true(fabsf(t.b[0] - 0.271f) < 1e-5f);
#endif
	(void)state;
}

static void
test_standardisation(void **state)
{
	const float w[4] = {1, 0, 0, 1}, b[2] = {0, 0}, mean[2] = {10, -4}, var[2] = {4, 0.25f};
	struct tfa_model m;
	struct tfa_tinyol t;
	struct tfa_tinyol_config cfg;
	(void)state;

	/* Regression head = identity, so the output is the standardised input. */
	build_head(&mb, TFP_TASK_REGRESS, 2, 2, TFP_ACT_NONE, w, b, mean, var);
	assert_int_equal(tfa_model_open(&m, mb.img, mb.len), 0);
	tfa_tinyol_config_default(&cfg);
	cfg.adapt_stats = 0;
	assert_int_equal(tfa_tinyol_init(&t, &m, &cfg), 0);
	assert_int_equal(tfa_tinyol_predict(&t, (const float[]){14.0f, -3.0f}, ARENA,
	                                    sizeof(arena_words), NULL), 0);
	assert_true(fabsf(t.y[0] - 2.0f) < 1e-5f && fabsf(t.y[1] - 2.0f) < 1e-5f);
	/* Adapting: a sensor with gain 2 and offset 5 is re-standardised to the same z. */
	cfg.adapt_stats = 1;
	cfg.window = 200;
	assert_int_equal(tfa_tinyol_init(&t, &m, &cfg), 0);
	for (int i = 0; i < 3000; i++) {
		float z0 = frand() * 1.7320508f, z1 = frand() * 1.7320508f;  /* unit variance */
		float x[2] = {2.0f * (10 + 2 * z0) + 5, 2.0f * (-4 + 0.5f * z1) + 5};
		assert_int_equal(tfa_tinyol_predict(&t, x, ARENA, sizeof(arena_words), NULL), 0);
		if (i > 2500) {
			assert_true(fabsf(t.y[0] - z0) < 0.35f);
			assert_true(fabsf(t.y[1] - z1) < 0.35f);
		}
	}
}

/* Two Gaussian-ish clusters per class in 4-D; after the change the labels swap. */
static void
sample(int cls, float *x)
{
	for (int i = 0; i < 4; i++)
		x[i] = 0.4f * frand() + (i == cls ? 1.0f : 0.0f);
}

static void
test_recovers_after_label_permutation(void **state)
{
	float w[12] = {0}, b[3] = {0}, x[4];
	struct tfa_model m;
	struct tfa_tinyol t, frozen;
	struct tfa_tinyol_config cfg;
	int ok_t = 0, ok_f = 0;
	(void)state;

	for (int c = 0; c < 3; c++)
		w[c * 4 + c] = 4.0f;    /* the shipped head: class c <-> feature c */
	build_head(&mb, TFP_TASK_CLASSIFY, 4, 3, TFP_ACT_SOFTMAX, w, b, NULL, NULL);
	assert_int_equal(tfa_model_open(&m, mb.img, mb.len), 0);
	tfa_tinyol_config_default(&cfg);
	cfg.lr = 0.1f;
	assert_int_equal(tfa_tinyol_init(&t, &m, &cfg), 0);
	cfg.lr = 0.0f;
	assert_int_equal(tfa_tinyol_init(&frozen, &m, &cfg), 0);
	for (int i = 0; i < 3000; i++) {
		int cls = (int)((rng_state >> 16) % 3), label = i < 1000 ? cls : (cls + 1) % 3;
		sample(cls, x);
		assert_int_equal(tfa_tinyol_predict(&t, x, ARENA, sizeof(arena_words), NULL), 0);
		assert_int_equal(tfa_tinyol_predict(&frozen, x, ARENA, sizeof(arena_words), NULL), 0);
		if (i >= 2000) {
			ok_t += (int)tfa_tinyol_argmax(&t) == label;
			ok_f += (int)tfa_tinyol_argmax(&frozen) == label;
		}
		/* Sparse labels: 1 in 4. */
		if (i % 4 == 0) {
			assert_int_equal(tfa_tinyol_learn_class(&t, (unsigned)label), 0);
			assert_int_equal(tfa_tinyol_learn_class(&frozen, (unsigned)label), 0);
		}
	}
	assert_true(ok_f < 100);       /* the frozen head is wrong after the swap */
	assert_true(ok_t > 950);       /* TinyOL relearned it from 250 labels */
}

static void
test_autoencoder_learns_normal(void **state)
{
	float w[16] = {0}, b[4] = {0}, x[4];
	const float mean[4] = {0, 0, 0, 0}, var[4] = {1, 1, 1, 1};
	struct tfa_model m;
	struct tfa_tinyol t;
	struct tfa_tinyol_config cfg;
	float before = 0, after = 0, anomalous;
	(void)state;

	build_head(&mb, TFP_TASK_ANOMALY, 4, 4, TFP_ACT_NONE, w, b, mean, var);
	assert_int_equal(tfa_model_open(&m, mb.img, mb.len), 0);
	tfa_tinyol_config_default(&cfg);
	cfg.lr = 0.05f;
	cfg.adapt_stats = 0;
	assert_int_equal(tfa_tinyol_init(&t, &m, &cfg), 0);
	for (int i = 0; i < 2000; i++) {
		/* Normal data: x1 = x0, x3 = -x2 (a correlation the layer can learn). */
		float a = frand(), c = frand();
		x[0] = a; x[1] = a; x[2] = c; x[3] = -c;
		assert_int_equal(tfa_tinyol_predict(&t, x, ARENA, sizeof(arena_words), NULL), 0);
		if (i < 100)
			before += tfa_tinyol_score(&t);
		if (i >= 1900)
			after += tfa_tinyol_score(&t);
		assert_int_equal(tfa_tinyol_learn_unsupervised(&t), 0);
	}
	x[0] = 1; x[1] = -1; x[2] = 1; x[3] = 1;   /* breaks both correlations */
	assert_int_equal(tfa_tinyol_predict(&t, x, ARENA, sizeof(arena_words), NULL), 0);
	anomalous = tfa_tinyol_score(&t);
	assert_true(after < 0.2f * before);
	assert_true(anomalous > 10.0f * after / 100.0f);
}

static void
test_save_restore_and_torn_writes(void **state)
{
	float w[12], b[3] = {0.1f, 0.2f, 0.3f}, x[4];
	const float mean[4] = {0, 1, 2, 3}, var[4] = {1, 1, 2, 2};
	static uint8_t blob[1024], old[1024], torn[1024];
	struct tfa_model m;
	struct tfa_tinyol t, u;
	size_t n, n2;
	(void)state;

	for (int i = 0; i < 12; i++)
		w[i] = frand();
	build_head(&mb, TFP_TASK_CLASSIFY, 4, 3, TFP_ACT_SOFTMAX, w, b, mean, var);
	assert_int_equal(tfa_model_open(&m, mb.img, mb.len), 0);
	assert_int_equal(tfa_tinyol_init(&t, &m, NULL), 0);
	assert_int_equal(tfa_tinyol_save(&t, old, sizeof(old), &n), 0);   /* generation 1 */
	for (int i = 0; i < 200; i++) {
		sample(i % 3, x);
		assert_int_equal(tfa_tinyol_predict(&t, x, ARENA, sizeof(arena_words), NULL), 0);
		assert_int_equal(tfa_tinyol_learn_class(&t, (unsigned)(i % 3)), 0);
	}
	assert_int_equal(tfa_tinyol_save(&t, blob, 10, &n), TFP_ERR_BUFFER);
	assert_int_equal(n, tfa_tinyol_blob_size(&t));
	assert_int_equal(n, 32 + 4 * (12 + 3 + 8) + 4);
	assert_int_equal(tfa_tinyol_save(&t, blob, sizeof(blob), &n), 0);   /* generation 2 */

	/* Restored into a fresh learner: same predictions, same statistics. */
	assert_int_equal(tfa_tinyol_init(&u, &m, NULL), 0);
	assert_int_equal(tfa_tinyol_restore(&u, blob, n), 0);
	assert_memory_equal(u.w, t.w, sizeof(t.w));
	assert_memory_equal(u.stats.mean, t.stats.mean, sizeof(t.stats.mean));
	assert_int_equal(u.updates, 200);
	sample(1, x);
	assert_int_equal(tfa_tinyol_predict(&t, x, ARENA, sizeof(arena_words), NULL), 0);
	assert_int_equal(tfa_tinyol_predict(&u, x, ARENA, sizeof(arena_words), NULL), 0);
	assert_memory_equal(u.y, t.y, 3 * sizeof(float));

	/* Truncated at every length: refused, learner unchanged. */
	assert_int_equal(tfa_tinyol_init(&u, &m, NULL), 0);
	for (size_t k = 0; k < n; k++)
		assert_int_equal(tfa_tinyol_restore(&u, blob, k), TFA_ERR_BLOB);
	/* Torn write: the first k bytes of generation 2 over generation 1. */
	for (size_t k = 1; k < n; k++) {
		int rc;
		memcpy(torn, old, n);
		memcpy(torn, blob, k);
		rc = tfa_tinyol_restore(&u, torn, n);
		/* Until a differing byte is written the old generation is still whole. */
		if (memcmp(torn, blob, n) == 0 || memcmp(torn, old, n) == 0)
			assert_int_equal(rc, 0);
		else
			assert_int_equal(rc, TFA_ERR_BLOB);
	}
	/* ... or over erased flash (0xFF). */
	for (size_t k = 0; k < n; k++) {
		memset(torn, 0xFF, n);
		memcpy(torn, blob, k);
		n2 = n;
		assert_true(tfa_tinyol_restore(&u, torn, n2) < 0);
	}
	assert_memory_equal(u.w, w, sizeof(w));    /* still the shipped weights */
	/* Every single-byte corruption is caught. */
	for (size_t k = 0; k < n; k++) {
		memcpy(torn, blob, n);
		torn[k] ^= 0x10;
		int rc = tfa_tinyol_restore(&u, torn, n);
		assert_true(rc == TFA_ERR_BLOB || rc == TFA_ERR_BLOB_VERSION);
	}
	/* Version and model identity. */
	memcpy(torn, blob, n);
	torn[4] = 2;
	assert_int_equal(tfa_tinyol_restore(&u, torn, n), TFA_ERR_BLOB_VERSION);
	w[0] += 1.0f;    /* another model: different shipped weights */
	build_head(&mb, TFP_TASK_CLASSIFY, 4, 3, TFP_ACT_SOFTMAX, w, b, mean, var);
	assert_int_equal(tfa_model_open(&m, mb.img, mb.len), 0);
	assert_int_equal(tfa_tinyol_init(&u, &m, NULL), 0);
	assert_int_equal(tfa_tinyol_restore(&u, blob, n), TFA_ERR_BLOB_MODEL);
}

static void
test_init_errors(void **state)
{
	float w[TFA_HEAD_OUT_MAX * (TFA_HEAD_IN_MAX + 1)] = {0}, b[TFA_HEAD_OUT_MAX + 1] = {0};
	struct tfa_model m;
	struct tfa_tinyol t;
	uint32_t s2[2] = {2, 3};
	(void)state;

	/* No update layer. */
	tb_init(&mb, TFP_TASK_CLASSIFY, 1, 3);
	unsigned iw = tb_tensor(&mb, "w", TFP_DTYPE_FLOAT32, TFP_KIND_WEIGHT, 2, s2, w, NONE, NONE);
	tb_layer(&mb, TFP_OP_DENSE, TFP_ACT_SOFTMAX, iw, NONE, 1, 3, 1, 2, 0, 0, 0.0f, 0);
	tb_finish(&mb, 0.0f);
	assert_int_equal(tfa_model_open(&m, mb.img, mb.len), 0);
	assert_int_equal(tfa_tinyol_init(&t, &m, NULL), TFA_ERR_MODEL);
	/* Head wider than the budget. */
	build_head(&mb, TFP_TASK_CLASSIFY, TFA_HEAD_IN_MAX + 1, 2, TFP_ACT_SOFTMAX, w, b, NULL,
	           NULL);
	assert_int_equal(tfa_model_open(&m, mb.img, mb.len), 0);
	assert_int_equal(tfa_tinyol_init(&t, &m, NULL), TFA_ERR_BUDGET);
	/* A regression head with softmax is not something SGD here supports. */
	build_head(&mb, TFP_TASK_REGRESS, 2, 2, TFP_ACT_SOFTMAX, w, b, NULL, NULL);
	assert_int_equal(tfa_model_open(&m, mb.img, mb.len), 0);
	assert_int_equal(tfa_tinyol_init(&t, &m, NULL), TFA_ERR_MODEL);
	assert_int_equal(tfa_tinyol_init(NULL, &m, NULL), TFP_ERR_ARG);
	assert_string_equal(tfa_strerror(TFA_ERR_BLOB), "saved state truncated or corrupt");
	assert_string_equal(tfa_strerror(TFP_ERR_ARG), "invalid argument");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32_known_answer),
		cmocka_unit_test(test_welford_matches_two_pass),
		cmocka_unit_test(test_sgd_softmax_hand_computed),
		cmocka_unit_test(test_sgd_regression_hand_computed),
		cmocka_unit_test(test_sgd_momentum),
		cmocka_unit_test(test_standardisation),
		cmocka_unit_test(test_recovers_after_label_permutation),
		cmocka_unit_test(test_autoencoder_learns_normal),
		cmocka_unit_test(test_save_restore_and_torn_writes),
		cmocka_unit_test(test_init_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
