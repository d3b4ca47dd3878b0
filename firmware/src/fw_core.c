#include "fw_core.h"

#include <string.h>

#include "fw_assets.h"
#include "fw_out.h"
#include "tinyfleet/agent/drift.h"
#include "tinyfleet/agent/infer.h"
#include "tinyfleet/agent/tinyol.h"
#include "tinyfleet/delta/apply.h"

/* On the board the slot lies in the SLOTS region (section .slots: flash on a device, not
 * RAM); the host twin has no such section and keeps it in .bss. */
#ifdef __arm__
__attribute__((section(".slots")))
#endif
uint8_t fw_slot[FW_SLOT_BYTES] __attribute__((aligned(8)));

int
fw_load_key(struct tfp_cose_key *key)
{
	size_t kid_len = fw_key_len > 0 ? fw_key[0] : 0;

	memset(key, 0, sizeof(*key));
	if (kid_len < 1 || kid_len > TFP_KEY_ID_MAX ||
	    fw_key_len != 1 + kid_len + TFP_P256_POINT_LEN)
		return TFP_ERR_KEY;
	key->kid_len = kid_len;
	memcpy(key->kid, fw_key + 1, kid_len);
	memcpy(key->point, fw_key + 1 + kid_len, TFP_P256_POINT_LEN);
	return 0;
}

static int
read_old(void *user, uint32_t off, uint8_t *buf, uint32_t len)
{
	(void)user;
	if (off > fw_model_a_len || len > fw_model_a_len - off)
		return -1;
	memcpy(buf, fw_model_a + off, len);
	return 0;
}

static int
write_new(void *user, uint32_t off, const uint8_t *buf, uint32_t len)
{
	(void)user;
	if (off > FW_SLOT_BYTES || len > FW_SLOT_BYTES - off)
		return -1;
	memcpy(fw_slot + off, buf, len);
	return 0;
}

int
fw_apply_patch(const uint8_t *patch, size_t patch_len, size_t chunk, size_t *len)
{
	static struct tfp_delta_apply a;
	size_t off = 0;
	int rc;

	if ((rc = tfp_delta_apply_init(&a, fw_model_a_len, read_old, write_new, NULL)) != 0)
		return rc;
	while (off < patch_len) {
		size_t n = patch_len - off < chunk ? patch_len - off : chunk;
		rc = tfp_delta_apply_feed(&a, patch + off, n);
		if (rc < 0)
			return rc;
		off += n;
	}
	if ((rc = tfp_delta_apply_finish(&a)) != 0)
		return rc;
	*len = tfp_delta_apply_new_size(&a);
	return 0;
}

/* ---- the TinyOL replay -------------------------------------------------------------- */

#define RUN_WINDOW 250u
#define ARENA_BYTES 1024u

static const char *const detector_names[7] = {"page-hinkley", "adwin", "ddm", "hddm",
                                              "feature-shift", "psi", "confidence"};

static void
print_alarms(uint32_t sample, int bits)
{
	for (int b = 0; bits > 0 && b < 7; b++)
		if (bits & (1 << b)) {
			fw_str("alarm sample=");
			fw_u64(sample);
			fw_str(" detector=");
			fw_str(detector_names[b]);
			fw_str("\n");
		}
}

int
fw_tinyol_run(void)
{
	static struct tfa_model model;
	static struct tfa_tinyol agent, frozen;
	static struct tfa_drift drift;
	static uint32_t arena[ARENA_BYTES / 4];
	struct tfa_tinyol_config fc;
	struct tfa_drift_train_stats st;
	struct tfp_tensor tm, tv, te, tf;
	float x[64];
	const float *py;
	uint32_t rows = fw_stream_len / FW_STREAM_REC, drift_at = rows * 2 / 5;
	uint32_t w_ok = 0, w_fok = 0, w_n = 0, ok[2] = {0, 0}, fok[2] = {0, 0}, n[2] = {0, 0};
	float w_loss = 0.0f;
	int rc;

	if ((rc = tfa_model_open(&model, fw_model_a, fw_model_a_len)) != 0)
		return rc;
	if (model.c.info.in_len * model.c.info.in_ch != 64 || tfa_model_arena(&model) > ARENA_BYTES)
		return TFP_ERR_ARG;
	if ((rc = tfa_tinyol_init(&agent, &model, NULL)) != 0)
		return rc;
	tfa_tinyol_config_default(&fc);
	fc.lr = 0.0f;
	fc.adapt_stats = 0;
	if ((rc = tfa_tinyol_init(&frozen, &model, &fc)) != 0)
		return rc;
	memset(&st, 0, sizeof(st));
	if (tfp_container_find(&model.c, TFP_KIND_FEAT_MEAN, &tm) != 0 ||
	    tfp_container_find(&model.c, TFP_KIND_FEAT_VAR, &tv) != 0)
		return TFP_ERR_ARG;
	st.n_features = 64;
	st.mean = (const float *)(const void *)tm.data;
	st.var = (const float *)(const void *)tv.data;
	if (tfp_container_find(&model.c, TFP_KIND_PSI_EDGES, &te) == 0 &&
	    tfp_container_find(&model.c, TFP_KIND_PSI_FRAC, &tf) == 0) {
		st.n_bins = (uint16_t)tf.shape[1];
		st.edges = (const float *)(const void *)te.data;
		st.frac = (const float *)(const void *)tf.data;
	}
	/* Digits has constant border pixels (training variance 0): data drift needs var > 0,
	 * so those detectors run only if every feature varies, as in tinyfleet-eval. */
	for (unsigned i = 0; i < 64; i++)
		if (!(st.var[i] > 0.0f))
			st.n_features = 0;
	if ((rc = tfa_drift_init(&drift, NULL, st.n_features ? &st : NULL)) != 0)
		return rc;

	fw_str("tinyol-run rows=");
	fw_u64(rows);
	fw_str(" drift_at=");
	fw_u64(drift_at);
	fw_str(" drift=gain1.5+3 data_drift=");
	fw_str(st.n_features ? "on" : "off");
	fw_str("\n");
	for (uint32_t t = 0; t < rows; t++) {
		const uint8_t *rec = fw_stream + (size_t)t * FW_STREAM_REC;
		unsigned label = rec[64];
		int correct, fcorrect, e;

		for (unsigned i = 0; i < 64; i++)
			x[i] = t >= drift_at ? 1.5f * (float)rec[i] + 3.0f : (float)rec[i];
		if ((rc = tfa_tinyol_predict(&frozen, x, (uint8_t *)arena, sizeof(arena), NULL)) != 0 ||
		    (rc = tfa_tinyol_predict(&agent, x, (uint8_t *)arena, sizeof(arena), &py)) != 0)
			return rc;
		correct = tfa_tinyol_argmax(&agent) == label;
		fcorrect = tfa_tinyol_argmax(&frozen) == label;
		e = tfa_drift_on_prediction(&drift, x, py, agent.n_out);
		print_alarms(t, e);
		if ((rc = tfa_tinyol_learn_class(&agent, label)) != 0)
			return rc;
		e = tfa_drift_on_label(&drift, agent.last_loss, correct);
		print_alarms(t, e);
		w_ok += (uint32_t)correct;
		w_fok += (uint32_t)fcorrect;
		w_loss += agent.last_loss;
		w_n++;
		ok[t >= drift_at] += (uint32_t)correct;
		fok[t >= drift_at] += (uint32_t)fcorrect;
		n[t >= drift_at]++;
		if (w_n == RUN_WINDOW || t + 1 == rows) {
			fw_str("window end=");
			fw_u64(t + 1);
			fw_str(" tinyol_correct=");
			fw_u64(w_ok);
			fw_str(" frozen_correct=");
			fw_u64(w_fok);
			fw_str(" of=");
			fw_u64(w_n);
			fw_str(" mean_loss=");
			fw_fix(w_loss / (float)w_n, 4);
			fw_str("\n");
			w_ok = w_fok = w_n = 0;
			w_loss = 0.0f;
		}
	}
	for (int s = 0; s < 2; s++) {
		fw_str(s ? "after-drift" : "before-drift");
		/* Exact counts: a printed ratio would depend on rounding, not on the run. */
		fw_str(" tinyol_correct=");
		fw_u64(ok[s]);
		fw_str(" frozen_correct=");
		fw_u64(fok[s]);
		fw_str(" samples=");
		fw_u64(n[s]);
		fw_str("\n");
	}
	fw_str("alarms");
	for (int b = 0; b < 7; b++) {
		fw_str(" ");
		fw_str(detector_names[b]);
		fw_str("=");
		fw_u64(drift.alarm_count[b]);
	}
	fw_str("\n");
	return 0;
}
