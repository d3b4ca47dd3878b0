/*
 * Fuzz target for TinyOL's saved-state decoder (tfa_tinyol_restore): the blob comes back
 * from flash after a reboot and may be torn, stale or corrupt. Any input is either refused
 * with an agent code and leaves the learner as it was, or restored into a learner whose
 * weights and statistics are finite and which still predicts.
 *
 * The learner is bound to a fixed model built here (name "fuzz-model", version "1", a
 * [1, 3] -> dense 3->2 float32 softmax head with w = 0.25 * (i + 1), b = 0); the seeds in
 * tests/fuzz/corpus/tinyol_blob/ (tools/model/make_fuzz_seeds.py) are blobs for it.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../device-agent/learn_test_util.h"
#include "tinyfleet/agent/tinyol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tb model_img;
static struct tfa_model model;
static int ready;

static void
setup(void)
{
	const float w[6] = {0.25f, 0.5f, 0.75f, 1.0f, 1.25f, 1.5f}, b[2] = {0, 0};
	const float mean[3] = {0, 0, 0}, var[3] = {1, 1, 1};
	uint32_t ws[2] = {2, 3}, bs[1] = {2}, fs[1] = {3};
	unsigned iw, ib;

	tb_init(&model_img, TFP_TASK_CLASSIFY, 1, 3);
	iw = tb_tensor(&model_img, "w", TFP_DTYPE_FLOAT32, TFP_KIND_WEIGHT, 2, ws, w, 0xFFFF,
	               0xFFFF);
	ib = tb_tensor(&model_img, "b", TFP_DTYPE_FLOAT32, TFP_KIND_BIAS, 1, bs, b, 0xFFFF,
	               0xFFFF);
	(void)tb_tensor(&model_img, "mean", TFP_DTYPE_FLOAT32, TFP_KIND_FEAT_MEAN, 1, fs, mean,
	                0xFFFF, 0xFFFF);
	(void)tb_tensor(&model_img, "var", TFP_DTYPE_FLOAT32, TFP_KIND_FEAT_VAR, 1, fs, var,
	                0xFFFF, 0xFFFF);
	tb_layer(&model_img, TFP_OP_DENSE, TFP_ACT_SOFTMAX, iw, ib, 1, 3, 1, 2, 0, 0, 0.0f, 0);
	tb_trainable(&model_img);
	tb_finish(&model_img, 0.0f);
	memcpy(model_img.img + 16, "fuzz-model", 10);
	memset(model_img.img + 48, 0, 24);
	model_img.img[48] = '1';
	if (tfa_model_open(&model, model_img.img, model_img.len) != 0)
		abort();
	ready = 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tfa_tinyol t, before;
	static uint32_t arena[64];
	const float x[3] = {0.5f, -1.0f, 2.0f};
	int rc;

	if (!ready)
		setup();
	if (tfa_tinyol_init(&t, &model, NULL) != 0)
		abort();
	before = t;
	rc = tfa_tinyol_restore(&t, data, size);
	if (rc != 0) {
		if (rc != TFA_ERR_BLOB && rc != TFA_ERR_BLOB_VERSION && rc != TFA_ERR_BLOB_MODEL)
			abort();
		if (memcmp(&t, &before, sizeof(t)) != 0)
			abort();   /* a refused blob must not change the learner */
		return 0;
	}
	for (unsigned i = 0; i < 6; i++)
		if (!isfinite(t.w[i]))
			abort();
	for (unsigned f = 0; f < 3; f++)
		if (!isfinite(t.stats.mean[f]) || !(t.stats.m2[f] >= 0.0f))
			abort();
	if (tfa_tinyol_predict(&t, x, (uint8_t *)arena, sizeof(arena), NULL) != 0)
		abort();
	return 0;
}
