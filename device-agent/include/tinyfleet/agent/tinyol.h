/*
 * TinyOL: on-device learning of the model's update layer (Ren et al., "TinyOL: TinyML with
 * Online-Learning on Microcontrollers"; see ../shared/seed, section 3.2.1).
 *
 * Per sample: the running mean and variance of each input feature are updated (Welford)
 * and the input is standardised with them; the frozen layers run from flash through the
 * caller's arena; the update layer runs from RAM and predicts. When a label arrives for
 * that prediction, one SGD step updates the update layer: softmax + cross-entropy for
 * classification, squared error for regression, and for an autoencoder (anomaly task) the
 * reconstruction error of the standardised input, which needs no label. Labels may be
 * sparse: a prediction without a label simply is not learned from. Each sample is
 * discarded after use; only the update layer's last input and output are kept, for the
 * label that may follow.
 *
 * The update layer starts from the weights shipped in the container, not from zero. The
 * learned layer (and the running statistics) can be saved to a byte blob that the caller
 * writes to flash and restored after a reboot; the blob carries a version, the model it
 * belongs to and a CRC-32, so a torn or stale write is refused instead of loaded.
 *
 * Memory: struct tfa_tinyol holds everything (sizes from config.h); it borrows the model
 * (and through it the image) for its whole life. No malloc, no OS calls, no printf.
 * Threads: none of these functions is thread-safe; one owner calls them.
 */
#ifndef TINYFLEET_AGENT_TINYOL_H
#define TINYFLEET_AGENT_TINYOL_H

#include <stddef.h>
#include <stdint.h>

#include "tinyfleet/agent/config.h"
#include "tinyfleet/agent/error.h"
#include "tinyfleet/agent/infer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Welford running mean / variance ------------------------------------------------ *
 * For each new value x (n counts values seen, capped at `window` when window > 0):
 *     n += 1; d = x - mean; mean += d / n; m2 += d * (x - mean); var = m2 / n
 * With a window the count stops growing, so old values fade with weight (1 - 1/window)
 * per value (an exponential forgetting that lets the statistics follow a drifting
 * sensor); with window 0 this is the exact Welford recurrence. */
struct tfa_welford {
	uint32_t n;                      /* values seen (saturates at window) */
	uint32_t window;                 /* 0 = exact, unbounded */
	uint16_t features;
	float mean[TFA_FEATURES_MAX];
	float m2[TFA_FEATURES_MAX];      /* sum of squared deviations */
};

/* features in 1..TFA_FEATURES_MAX, else TFA_ERR_BUDGET (TFP_ERR_ARG for NULL w). */
int tfa_welford_init(struct tfa_welford *w, uint16_t features, uint32_t window);
/* Seeds the statistics as if `count` values with this mean and variance had been seen. */
void tfa_welford_seed(struct tfa_welford *w, const float *mean, const float *var,
                      uint32_t count);
/* One observation of every feature (x[features]); non-finite values are skipped. */
void tfa_welford_update(struct tfa_welford *w, const float *x);
float tfa_welford_var(const struct tfa_welford *w, uint16_t f);   /* population variance */

/* ---- the learner ------------------------------------------------------------------- */

struct tfa_tinyol_config {
	float lr;                /* SGD learning rate, >= 0 (0 = frozen head); default 0.05 */
	float momentum;          /* [0, 1); needs TFA_WITH_MOMENTUM; default 0 */
	float decay;             /* L2 weight decay, >= 0; default 0 */
	uint8_t standardize;     /* standardise inputs (needs the container's FEAT_MEAN/VAR
	                            when adapt_stats is 0); default 1 */
	uint8_t adapt_stats;     /* update the running statistics; default 1 */
	uint32_t prior_count;    /* samples the training statistics count for; default 100 */
	uint32_t window;         /* Welford cap in samples (0 = none); default 1000. A
	                            [len, ch] input adds len values per feature per sample,
	                            so the caps are multiplied by len. */
};

/* Standardisation floor for the variance (matches CONTAINER.md). */
#define TFA_VAR_FLOOR 1e-6f

struct tfa_tinyol {
	const struct tfa_model *model;   /* borrowed */
	struct tfa_tinyol_config cfg;
	struct tfa_welford stats;
	enum tfp_task task;
	enum tfp_activation act;         /* the update layer's activation */
	uint16_t n_in, n_out;            /* update layer shape */
	uint16_t update_layer;           /* its index in the model */
	uint8_t have_pred;               /* h/y hold a prediction not yet learned from */
	uint8_t reserved;
	uint32_t model_tag;              /* CRC-32 of the model identity and initial weights */
	uint32_t predictions, updates;
	float last_loss;
	float w[TFA_HEAD_OUT_MAX * TFA_HEAD_IN_MAX];   /* [n_out][n_in], row-major */
	float b[TFA_HEAD_OUT_MAX];
#if TFA_WITH_MOMENTUM
	float vw[TFA_HEAD_OUT_MAX * TFA_HEAD_IN_MAX];
	float vb[TFA_HEAD_OUT_MAX];
#endif
	float h[TFA_HEAD_IN_MAX];        /* last input of the update layer */
	float y[TFA_HEAD_OUT_MAX];       /* last output (probabilities for classification) */
	float target[TFA_HEAD_OUT_MAX];  /* anomaly task: last standardised input */
};

void tfa_tinyol_config_default(struct tfa_tinyol_config *cfg);

/* Binds the learner to an opened model. Needs an update layer (TFA_ERR_MODEL otherwise)
 * whose shape and the model's input channels fit the budgets (TFA_ERR_BUDGET); for the
 * anomaly task the input must also fit TFA_HEAD_OUT_MAX. cfg NULL = defaults; a config
 * out of range gives TFP_ERR_ARG. Copies the shipped update-layer weights into RAM and
 * seeds the statistics from FEAT_MEAN/FEAT_VAR when present. */
int tfa_tinyol_init(struct tfa_tinyol *t, const struct tfa_model *m,
                    const struct tfa_tinyol_config *cfg);

/* Predicts for one raw input x (in_len*in_ch floats, time-major). *out (may be NULL)
 * receives the update layer's output: class probabilities, regression values, or the
 * reconstruction; valid until the next call. Returns 0, TFP_ERR_ARG or TFA_ERR_ARENA. */
int tfa_tinyol_predict(struct tfa_tinyol *t, const float *x, uint8_t *arena,
                       size_t arena_len, const float **out);

/* Index of the largest output of the last prediction (the predicted class). */
unsigned tfa_tinyol_argmax(const struct tfa_tinyol *t);

/* Anomaly task: mean squared reconstruction error of the last prediction. */
float tfa_tinyol_score(const struct tfa_tinyol *t);

/* One SGD step on the last prediction, then forgets it. Classification: label = class
 * (TFA_ERR_LABEL when >= classes). Regression: target[n_out]. Anomaly: no label. Returns
 * TFA_ERR_STATE without a prediction to learn from, TFA_ERR_MODEL when the call does not
 * fit the task. The loss before the step is left in t->last_loss. */
int tfa_tinyol_learn_class(struct tfa_tinyol *t, unsigned label);
int tfa_tinyol_learn_target(struct tfa_tinyol *t, const float *target);
int tfa_tinyol_learn_unsupervised(struct tfa_tinyol *t);

/* Saved state: the update layer and the running statistics.
 * Layout (little-endian): "TFOL", u16 version (1), u16 0, u32 model_tag, u16 n_in,
 * u16 n_out, u16 features, u16 0, u32 predictions, u32 updates, u32 stats n,
 * f32 w[n_out*n_in], f32 b[n_out], f32 mean[features], f32 m2[features], u32 CRC-32
 * (IEEE 802.3) of everything before it. */
size_t tfa_tinyol_blob_size(const struct tfa_tinyol *t);
/* Writes the blob; TFP_ERR_BUFFER when len < tfa_tinyol_blob_size() (*written then tells
 * the size needed). */
int tfa_tinyol_save(const struct tfa_tinyol *t, uint8_t *buf, size_t len, size_t *written);
/* Restores a blob. Checks everything before changing t: length and CRC (TFA_ERR_BLOB: a
 * torn or corrupt write), magic and version (TFA_ERR_BLOB_VERSION), model tag and shapes
 * (TFA_ERR_BLOB_MODEL), finite values (TFA_ERR_BLOB). On error t is unchanged. */
int tfa_tinyol_restore(struct tfa_tinyol *t, const uint8_t *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
