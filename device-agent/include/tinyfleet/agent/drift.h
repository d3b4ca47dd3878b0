/*
 * tinyfleet device agent: drift detectors.
 *
 * Portable MCU code (C99, no malloc, no OS, no printf). Every detector keeps its whole state
 * in a caller-owned struct whose size is fixed at compile time; the bounds are the
 * TFA_DRIFT_* constants below (override them with -D at build time, the structs follow).
 * All arithmetic is single precision float (the Cortex-M4F FPU); the only libm calls are
 * sqrtf and logf.
 *
 * The detectors:
 *   Page-Hinkley  on the loss/error stream, detects increases of the mean.
 *   ADWIN         (ADWIN2, exponential histogram with bounded buckets) on the loss/error
 *                 stream; keeps an adaptive window and cuts it where the means differ.
 *   DDM           on the error indicator (0 correct, 1 wrong): warning and drift levels.
 *   HDDM_A        Hoeffding-bound test on the mean of the error indicator (increases).
 *   data drift    per-feature standardized mean shift (EWMA against the training mean and
 *                 variance) and binned PSI (tumbling window against training bin fractions).
 *   confidence    EWMA of the maximum class probability and of the top1-top2 margin,
 *                 with a drop alarm against a reference.
 *   struct tfa_drift bundles them behind one prediction/label API and one report.
 *
 * Common contract for every detector X:
 *   tfa_X_config_default(cfg)   fills the published defaults; cannot fail.
 *   tfa_X_init(det, cfg)        copies cfg (NULL = defaults) and resets; returns 0 or
 *                               TFP_ERR_ARG (see tinyfleet/protocol/error.h) for a NULL det
 *                               or a config value out of its documented range.
 *   tfa_X_update(det, ...)      feeds one sample; returns 1 when this sample raised the
 *                               alarm (drift), 0 otherwise. After an alarm the detector
 *                               restarts its statistics (the published behaviour), so the
 *                               next sample starts a new concept. Never fails on a valid det.
 *   tfa_X_alarm(det)            1 if the last update raised the alarm, else 0.
 *   tfa_X_score(det)            a non-negative float whose alarm level is documented per
 *                               detector (higher means more evidence of drift).
 *   tfa_X_reset(det)            forgets all samples; keeps the config; cannot fail.
 * Non-finite inputs (NaN, inf) are ignored (counted in nothing) so that one bad sample
 * cannot poison a detector for the rest of its life. ADWIN and HDDM_A clamp their input
 * to [0, 1] (their bounds assume that range), the confidence detector clamps
 * probabilities to [0, 1], and a feature value so large that the EWMA would overflow is
 * dropped.
 * The shift and confidence alarms are levels: the flag stays up while the condition holds
 * and update returns 1 only on the sample where it rises. The PSI alarm is judged once per
 * window, and every alarming window returns its bit.
 *
 * State sizes in bytes with the default bounds (64 features, 10 bins, ADWIN M 5 x 16 rows),
 * x86-64 / Cortex-M4 (the difference is the borrowed pointers in tfa_drift_data):
 *   tfa_ph 32 / 32, tfa_adwin 828 / 828, tfa_ddm 36 / 36, tfa_hddm 44 / 44,
 *   tfa_drift_data 1888 / 1868 (of which 1280 are the PSI bin counts), tfa_conf 52 / 52,
 *   tfa_drift (the bundle, with its config) 3040 / 3016, tfa_drift_report 108 / 108.
 * drift.c checks the bundle against TFA_DRIFT_STATE_BUDGET at compile time.
 *
 * Threads: none of these functions is thread-safe; one owner calls them. They never block,
 * never allocate, keep no global state and hold no pointer to caller memory except the
 * training statistics given to tfa_drift_data_init() / tfa_drift_init(), which are
 * borrowed (normally they point into the memory-mapped model in flash) and must stay valid
 * and unchanged until the detector is re-initialised or no longer used.
 */
#ifndef TINYFLEET_AGENT_DRIFT_H
#define TINYFLEET_AGENT_DRIFT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- compile-time bounds ------------------------------------------------------------ */

#ifndef TFA_DRIFT_MAX_FEATURES
#define TFA_DRIFT_MAX_FEATURES 64   /* features watched by the data-drift detector */
#endif
#ifndef TFA_DRIFT_MAX_BINS
#define TFA_DRIFT_MAX_BINS 10       /* PSI bins per feature */
#endif
#ifndef TFA_ADWIN_M
#define TFA_ADWIN_M 5               /* ADWIN buckets per row (the paper's M; MOA uses 5) */
#endif
#ifndef TFA_ADWIN_MAX_ROWS
#define TFA_ADWIN_MAX_ROWS 16       /* rows of 2^0 .. 2^15-sample buckets: window up to
				       M * (2^rows - 1) = 327,675 samples */
#endif

/* RAM budget of struct tfa_drift with the default bounds (checked in drift.c). */
#define TFA_DRIFT_STATE_BUDGET 3072

/* ---- Page-Hinkley ------------------------------------------------------------------- *
 * Page's cumulative test for an increase of the mean (Page 1954; the form of Gama et al.
 * and scikit-multiflow). For sample x_t (t = 1, 2, ...):
 *     mean_t = mean_{t-1} + (x_t - mean_{t-1}) / t
 *     PH_t   = max(0, alpha * PH_{t-1} + (x_t - mean_t - delta))
 * With alpha = 1 this is exactly m_T - min_t m_t of the textbook statement
 * (m_T = sum (x_t - mean_t - delta)); alpha < 1 forgets old evidence so that PH cannot stay
 * near lambda for ever on a long stationary stream. Alarm when PH_t > lambda and
 * t >= min_samples. Score = PH_t (alarm level: lambda).
 */
struct tfa_ph_config {
	float delta;            /* tolerated change of the mean; default 0.005 */
	float lambda;           /* alarm threshold; default 50 */
	float alpha;            /* forgetting factor in (0, 1]; default 1 - 1e-4 = 0.9999 */
	uint32_t min_samples;   /* no alarm before this many samples; default 30 */
};

struct tfa_ph {
	struct tfa_ph_config cfg;
	uint32_t n;             /* samples since the last reset or alarm */
	float mean;
	float ph;               /* PH_t */
	uint8_t alarm;
};

void tfa_ph_config_default(struct tfa_ph_config *cfg);
int tfa_ph_init(struct tfa_ph *ph, const struct tfa_ph_config *cfg);
int tfa_ph_update(struct tfa_ph *ph, float x);
int tfa_ph_alarm(const struct tfa_ph *ph);
float tfa_ph_score(const struct tfa_ph *ph);
void tfa_ph_reset(struct tfa_ph *ph);

/* ---- ADWIN -------------------------------------------------------------------------- *
 * ADWIN2 (Bifet & Gavalda, SDM 2007) for values in [0, 1] (errors, or losses scaled into
 * [0, 1]). The window is an exponential histogram: row i holds up to M buckets of 2^i
 * samples each (total and variance); when a row gets M+1 buckets its two oldest merge into
 * one bucket of row i+1. When the last row overflows, its oldest bucket is dropped (the
 * window is bounded by M * (2^rows - 1) samples; the paper's window is unbounded).
 * Every `clock` samples, if the window is longer than `min_window`, every boundary between
 * buckets splits W into W0 (older) and W1 (newer); with n0, n1 >= `min_sub_window`,
 *     m        = 1 / (1/n0 + 1/n1)
 *     delta'   = delta / ln(n)                       (n = |W|)
 *     eps_cut  = sqrt(2/m * var_W * ln(2/delta')) + 2/(3m) * ln(2/delta')
 * and the oldest bucket is dropped while some |mean0 - mean1| > eps_cut (then the check
 * repeats). A drop is the alarm (ADWIN reports both increases and decreases). Score = the
 * largest |mean0 - mean1| / eps_cut seen by the last check (alarm level: 1).
 * Defaults are the reference implementations' (MOA, scikit-multiflow): delta = 0.002,
 * clock = 32, min_window = 10, min_sub_window = 5.
 */
struct tfa_adwin_config {
	float delta;            /* confidence; (0, 1); default 0.002 */
	uint32_t clock;         /* check every this many samples; >= 1; default 32 */
	uint32_t min_window;    /* check only when |W| > this; default 10 */
	uint32_t min_sub_window;/* n0 and n1 at least this; >= 1; default 5 */
};

struct tfa_adwin {
	struct tfa_adwin_config cfg;
	float total[TFA_ADWIN_MAX_ROWS][TFA_ADWIN_M + 1];    /* per bucket, [0] oldest */
	float var[TFA_ADWIN_MAX_ROWS][TFA_ADWIN_M + 1];      /* sum of squared deviations */
	uint8_t count[TFA_ADWIN_MAX_ROWS];                  /* buckets in each row */
	uint8_t rows;                                       /* rows in use */
	uint8_t alarm;
	uint32_t width;         /* |W| in samples */
	float w_total;          /* sum over W */
	float w_var;            /* sum of squared deviations over W */
	uint32_t tick;          /* samples since init (for the clock) */
	uint32_t cuts;          /* buckets dropped by the last check */
	float score;
};

void tfa_adwin_config_default(struct tfa_adwin_config *cfg);
int tfa_adwin_init(struct tfa_adwin *a, const struct tfa_adwin_config *cfg);
int tfa_adwin_update(struct tfa_adwin *a, float x);
int tfa_adwin_alarm(const struct tfa_adwin *a);
float tfa_adwin_score(const struct tfa_adwin *a);
void tfa_adwin_reset(struct tfa_adwin *a);
uint32_t tfa_adwin_width(const struct tfa_adwin *a);    /* |W| */
float tfa_adwin_mean(const struct tfa_adwin *a);        /* mean over W; 0 when empty */
/* The eps_cut above for a split of a window of n0 + n1 samples whose variance (per
 * sample) is var_w; exposed so that the rule can be checked by hand. n0, n1 >= 1. */
float tfa_adwin_eps_cut(uint32_t n0, uint32_t n1, float var_w, float delta);

/* ---- DDM ---------------------------------------------------------------------------- *
 * Drift Detection Method (Gama, Medas, Castillo, Rodrigues, SBIA 2004) on the error
 * indicator. After i samples with e errors: p = e/i, s = sqrt(p(1-p)/i). From i >=
 * min_samples on, (p_min, s_min) is the (p, s) with the smallest p + s seen so far
 * (updated when p + s <= p_min + s_min); warning when p + s > p_min + warn * s_min, drift
 * when p + s > p_min + drift * s_min. A drift resets the statistics.
 * Score = (p + s - p_min) / s_min (alarm level: `drift`; 0 before min_samples; when
 * s_min = 0 - no error yet seen - any error gives the published immediate drift and the
 * score is reported as `drift`).
 */
struct tfa_ddm_config {
	float warn;             /* default 2 */
	float drift;            /* default 3; must be >= warn */
	uint32_t min_samples;   /* default 30 */
};

struct tfa_ddm {
	struct tfa_ddm_config cfg;
	uint32_t n;
	uint32_t errors;
	float p_min;
	float s_min;
	float score;
	uint8_t warning;
	uint8_t alarm;
};

void tfa_ddm_config_default(struct tfa_ddm_config *cfg);
int tfa_ddm_init(struct tfa_ddm *d, const struct tfa_ddm_config *cfg);
int tfa_ddm_update(struct tfa_ddm *d, int error);       /* error: 0 correct, else wrong */
int tfa_ddm_alarm(const struct tfa_ddm *d);
int tfa_ddm_warning(const struct tfa_ddm *d);
float tfa_ddm_score(const struct tfa_ddm *d);
void tfa_ddm_reset(struct tfa_ddm *d);

/* ---- HDDM_A ------------------------------------------------------------------------- *
 * HDDM with the A-test (Frias-Blanco et al., IEEE TKDE 2015), one-sided (increases), for
 * values in [0, 1], as in MOA/river. Keeps the whole-stream sum c and count n, and the cut
 * point (c_cut, n_cut) that minimises mean + sqrt(ln(1/conf) / (2 n)). Drift when
 *     mean_n - mean_cut >= sqrt((n - n_cut) / (2 n_cut n) * ln(2 / drift_conf))
 * (warning likewise with warn_conf). A drift resets the statistics. Score = the left side
 * divided by the drift bound (alarm level: 1).
 */
struct tfa_hddm_config {
	float drift_conf;       /* default 0.001 */
	float warn_conf;        /* default 0.005; must be >= drift_conf */
};

struct tfa_hddm {
	struct tfa_hddm_config cfg;
	float ln_drift;         /* ln(2 / drift_conf), precomputed */
	float ln_warn;          /* ln(2 / warn_conf) */
	float ln_cut;           /* ln(1 / drift_conf) */
	uint32_t n;
	uint32_t n_cut;
	float c;
	float c_cut;
	float score;
	uint8_t warning;
	uint8_t alarm;
};

void tfa_hddm_config_default(struct tfa_hddm_config *cfg);
int tfa_hddm_init(struct tfa_hddm *h, const struct tfa_hddm_config *cfg);
int tfa_hddm_update(struct tfa_hddm *h, float x);
int tfa_hddm_alarm(const struct tfa_hddm *h);
int tfa_hddm_warning(const struct tfa_hddm *h);
float tfa_hddm_score(const struct tfa_hddm *h);
void tfa_hddm_reset(struct tfa_hddm *h);

/* ---- data drift: standardized mean shift and PSI ------------------------------------ *
 * Training statistics, borrowed (see the top of this file): for feature j,
 *   mean[j], var[j]                       training mean and variance (var > 0)
 *   edges[j * (n_bins - 1) + b]           the n_bins - 1 inner bin edges, ascending;
 *                                         bin 0 is (-inf, e0), bin b is [e_{b-1}, e_b),
 *                                         the last bin is [e_{n_bins-2}, +inf)
 *   frac[j * n_bins + b]                  training fraction of bin b (sums to ~1)
 * edges and frac may be NULL together (PSI off); n_bins is then ignored.
 *
 * Shift: ewma_j <- ewma_j + a (x_j - ewma_j), started at mean[j];
 *        shift_j = (ewma_j - mean[j]) / sqrt(var[j])   (training standard deviations).
 *        Score = max_j |shift_j|; alarm when it exceeds shift_alarm.
 * PSI:   counts per bin over a tumbling window of `window` samples; at the end of each
 *        window, with q_b = max(count_b / window, eps) and p_b = max(frac_b, eps),
 *            PSI_j = sum_b (q_b - p_b) ln(q_b / p_b)
 *        Score = max_j PSI_j of the last complete window; warning above psi_warn (0.1 by
 *        convention: "moderate shift"), alarm above psi_alarm (0.25: "significant").
 *        The eps floor keeps an empty bin finite: with eps = 1e-4 an empty bin that held
 *        10 % in training adds about 0.1 * ln(1000) = 0.69.
 */
struct tfa_drift_train_stats {
	uint16_t n_features;    /* 1 .. TFA_DRIFT_MAX_FEATURES */
	uint16_t n_bins;        /* 2 .. TFA_DRIFT_MAX_BINS when edges/frac are given */
	const float *mean;      /* n_features */
	const float *var;       /* n_features */
	const float *edges;     /* n_features * (n_bins - 1), or NULL */
	const float *frac;      /* n_features * n_bins, or NULL */
};

struct tfa_drift_data_config {
	float ewma_alpha;       /* (0, 1]; default 0.01 (about a 200-sample memory) */
	float shift_alarm;      /* in training standard deviations; default 0.5 */
	uint32_t window;        /* PSI window in samples; 1 .. 65535; default 500 */
	float eps;              /* PSI floor for fractions; (0, 0.1]; default 1e-4 */
	float psi_warn;         /* default 0.1 */
	float psi_alarm;        /* default 0.25 */
};

struct tfa_drift_data {
	struct tfa_drift_data_config cfg;
	struct tfa_drift_train_stats st;                    /* borrowed pointers */
	float ewma[TFA_DRIFT_MAX_FEATURES];
	float psi[TFA_DRIFT_MAX_FEATURES];                  /* last complete window */
	uint16_t counts[TFA_DRIFT_MAX_FEATURES][TFA_DRIFT_MAX_BINS];
	uint32_t n;             /* samples since reset */
	uint32_t in_window;     /* samples in the current PSI window */
	uint32_t windows;       /* complete PSI windows since reset */
	float shift_max;
	float psi_max;
	uint16_t shift_feature; /* argmax of |shift_j| */
	uint16_t psi_feature;   /* argmax of PSI_j */
	uint16_t psi_over;      /* features with PSI_j > psi_alarm in the last window */
	uint8_t shift_alarm;
	uint8_t psi_warning;
	uint8_t psi_alarm;
};

void tfa_drift_data_config_default(struct tfa_drift_data_config *cfg);
/* TFP_ERR_ARG for NULL pointers, bad config, var <= 0 or unordered edges; TFP_ERR_RANGE
 * when n_features or n_bins exceeds the compile-time bounds. */
int tfa_drift_data_init(struct tfa_drift_data *d, const struct tfa_drift_data_config *cfg,
			const struct tfa_drift_train_stats *st);
/* x: n_features raw (unstandardized) feature values, in the units of the training stats.
 * Returns a bitmask of TFA_DRIFT_SHIFT / TFA_DRIFT_PSI raised by this sample (the PSI bit
 * only at a window end), 0 when none. Non-finite features are skipped. */
int tfa_drift_data_update(struct tfa_drift_data *d, const float *x);
float tfa_drift_data_shift(const struct tfa_drift_data *d, uint16_t feature); /* signed */
float tfa_drift_data_psi(const struct tfa_drift_data *d, uint16_t feature);
void tfa_drift_data_reset(struct tfa_drift_data *d);

/* ---- prediction confidence ---------------------------------------------------------- *
 * For each prediction with class probabilities p (n >= 2 classes):
 *     top1 = max p, margin = top1 - second largest p
 * kept as EWMAs. Reference: ref_maxprob/ref_margin from the config when > 0 (e.g. measured
 * on the validation set by the packer), otherwise the plain means over the first
 * ref_samples predictions. Drop = reference - EWMA; alarm when the max-probability drop
 * exceeds drop_maxprob or the margin drop exceeds drop_margin (after the reference is
 * known). Score = the larger of drop_maxprob-relative drops: max(d1/drop_maxprob,
 * d2/drop_margin) (alarm level: 1).
 */
struct tfa_conf_config {
	float ewma_alpha;       /* (0, 1]; default 0.01 */
	uint32_t ref_samples;   /* default 200 (used when no reference is configured) */
	float ref_maxprob;      /* 0 = learn it */
	float ref_margin;       /* 0 = learn it */
	float drop_maxprob;     /* > 0; default 0.10 */
	float drop_margin;      /* > 0; default 0.15 */
};

struct tfa_conf {
	struct tfa_conf_config cfg;
	uint32_t n;
	float ref_maxprob;      /* reference in use (sum while being learned) */
	float ref_margin;
	float maxprob;          /* EWMA */
	float margin;           /* EWMA */
	float score;
	uint8_t ref_ready;
	uint8_t alarm;
};

void tfa_conf_config_default(struct tfa_conf_config *cfg);
int tfa_conf_init(struct tfa_conf *c, const struct tfa_conf_config *cfg);
/* probs: n_classes probabilities (need not sum exactly to 1). TFP_ERR_ARG when n < 2. */
int tfa_conf_update(struct tfa_conf *c, const float *probs, uint16_t n_classes);
int tfa_conf_alarm(const struct tfa_conf *c);
float tfa_conf_score(const struct tfa_conf *c);
void tfa_conf_reset(struct tfa_conf *c);

/* ---- the bundle --------------------------------------------------------------------- */

/* Alarm / warning bits (report.alarms, report.warnings, return values). */
#define TFA_DRIFT_PH      0x01u
#define TFA_DRIFT_ADWIN   0x02u
#define TFA_DRIFT_DDM     0x04u
#define TFA_DRIFT_HDDM    0x08u
#define TFA_DRIFT_SHIFT   0x10u
#define TFA_DRIFT_PSI     0x20u
#define TFA_DRIFT_CONF    0x40u
#define TFA_DRIFT_ALL     0x7fu

struct tfa_drift_config {
	uint32_t enabled;       /* TFA_DRIFT_* bits; default TFA_DRIFT_ALL (data-drift bits
				   are ignored when no training stats are given) */
	/* Page-Hinkley, ADWIN and HDDM_A watch the error indicator (0/1) when loss_scale is 0
	 * (default), otherwise min(loss / loss_scale, 1), a loss in [0, 1]. DDM always watches
	 * the error indicator. */
	float loss_scale;
	struct tfa_ph_config ph;
	struct tfa_adwin_config adwin;
	struct tfa_ddm_config ddm;
	struct tfa_hddm_config hddm;
	struct tfa_drift_data_config data;
	struct tfa_conf_config conf;
};

struct tfa_drift {
	struct tfa_drift_config cfg;
	struct tfa_ph ph;
	struct tfa_adwin adwin;
	struct tfa_ddm ddm;
	struct tfa_hddm hddm;
	struct tfa_drift_data data;
	struct tfa_conf conf;
	uint32_t n_predictions; /* since init */
	uint32_t n_labels;
	uint32_t i_predictions; /* since the last report that cleared */
	uint32_t i_labels;
	uint32_t i_correct;
	float i_loss;           /* sum of finite losses in the interval */
	uint32_t alarms;        /* latched TFA_DRIFT_* bits since the last clearing report */
	uint32_t warnings;      /* DDM, HDDM, PSI warning bits, latched likewise */
	uint16_t alarm_count[7];/* alarms per detector since init (saturating) */
	uint8_t has_data;
};

/* What the telemetry encoder packs. Means are 0 when their count is 0. */
struct tfa_drift_report {
	uint32_t n_predictions, n_labels;       /* since init */
	uint32_t i_predictions, i_labels;       /* in this interval */
	float i_mean_loss;
	float i_accuracy;
	uint32_t alarms;        /* TFA_DRIFT_* raised in this interval */
	uint32_t warnings;
	uint32_t enabled;       /* which detectors ran */
	float ph_score;         /* Page-Hinkley statistic (alarm at lambda) */
	float adwin_score;      /* |mean0 - mean1| / eps_cut (alarm at 1) */
	uint32_t adwin_width;
	float adwin_mean;
	float ddm_score;        /* (p + s - p_min) / s_min (alarm at cfg drift) */
	float ddm_p;            /* error rate since the last DDM reset */
	float hddm_score;       /* alarm at 1 */
	float shift_max;        /* max |standardized shift| */
	uint16_t shift_feature;
	uint16_t psi_feature;
	float psi_max;          /* max PSI of the last complete window */
	uint16_t psi_over;      /* features with PSI over psi_alarm */
	uint16_t reserved;
	float conf_maxprob;     /* EWMA */
	float conf_margin;      /* EWMA */
	float conf_score;       /* alarm at 1 */
	uint16_t alarm_count[7];/* per detector since init, bit order of TFA_DRIFT_* */
};

void tfa_drift_config_default(struct tfa_drift_config *cfg);
/* cfg NULL = defaults; st NULL = no data drift. Errors as tfa_drift_data_init and the
 * detectors' inits. */
int tfa_drift_init(struct tfa_drift *d, const struct tfa_drift_config *cfg,
		   const struct tfa_drift_train_stats *st);
/* After each inference. features: st->n_features raw values (ignored without stats, may
 * be NULL then); probs: n_classes class probabilities (NULL or n_classes < 2 skips the
 * confidence detector, e.g. for regression). Returns the TFA_DRIFT_* alarm bits raised by
 * this call (>= 0) or TFP_ERR_ARG. */
int tfa_drift_on_prediction(struct tfa_drift *d, const float *features, const float *probs,
			    uint16_t n_classes);
/* When a label arrives: the sample's loss (non-finite is ignored for the loss mean and
 * loss-driven detectors) and whether the prediction was correct. Returns alarm bits. */
int tfa_drift_on_label(struct tfa_drift *d, float loss, int correct);
/* Fills r. With clear != 0 the interval counters and latched bits start over (call it
 * when the report has been handed to the transport). */
int tfa_drift_report(struct tfa_drift *d, struct tfa_drift_report *r, int clear);
void tfa_drift_reset(struct tfa_drift *d);

#ifdef __cplusplus
}
#endif

#endif
