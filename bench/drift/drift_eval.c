/*
 * drift_eval: evaluates the agent's drift detectors on synthetic streams with known change
 * points (deterministic PRNG, one stream per seed) and prints Markdown tables:
 *
 *   1. Bernoulli error streams p0 -> p1 at a known sample: per detector the median (and
 *      90th percentile) detection delay, misses (no alarm within the horizon), and false
 *      alarms before the change.
 *   2. SEA concepts (Street & Kim 2001): three features uniform on [0, 10], label
 *      f1 + f2 <= theta, 10 % label noise; the "model" is the concept-1 rule (theta 8),
 *      frozen; the concept switches to theta 9.5 (or 7) at a known sample. The detectors
 *      watch the model's error stream; the data-drift detectors watch the features (which
 *      do not change under SEA drift, so any alarm of theirs is false), and a second SEA
 *      run applies a 1.5x gain to f1 to measure the data-drift delay.
 *   3. Stationary streams: false alarms per 10,000 samples.
 *   4. State sizes and ns per update (this machine), with a plain loop over the same
 *      stream as the same-run baseline.
 *
 * Usage: drift_eval [--seeds N] [--stationary N] [--quick]
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime in strict C99 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tinyfleet/agent/drift.h"

#define N_DET 4
static const char *const det_name[N_DET] = { "Page-Hinkley", "ADWIN", "DDM", "HDDM_A" };

struct rng {
	uint64_t s;
};

static void
rng_seed(struct rng *r, uint64_t seed)
{
	r->s = seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;
}

static uint32_t
rng_u32(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return (uint32_t)((r->s * 0x2545f4914f6cdd1dull) >> 32);
}

static float
rng_uniform(struct rng *r)
{
	return (float)(rng_u32(r) >> 8) * (1.0f / 16777216.0f);
}

/* All four concept detectors at their defaults, fed the same error indicator. */
struct dets {
	struct tfa_ph ph;
	struct tfa_adwin adwin;
	struct tfa_ddm ddm;
	struct tfa_hddm hddm;
};

static void
dets_init(struct dets *d)
{
	if (tfa_ph_init(&d->ph, NULL) || tfa_adwin_init(&d->adwin, NULL) ||
	    tfa_ddm_init(&d->ddm, NULL) || tfa_hddm_init(&d->hddm, NULL)) {
		fprintf(stderr, "detector init failed\n");
		exit(1);
	}
}

/* Returns a bitmask: bit i = detector i raised an alarm on this sample. */
static unsigned
dets_update(struct dets *d, int err)
{
	float x = err ? 1.0f : 0.0f;
	unsigned b = 0;

	b |= (unsigned)tfa_ph_update(&d->ph, x) << 0;
	b |= (unsigned)tfa_adwin_update(&d->adwin, x) << 1;
	b |= (unsigned)tfa_ddm_update(&d->ddm, err) << 2;
	b |= (unsigned)tfa_hddm_update(&d->hddm, x) << 3;
	return b;
}

static int
cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

struct change_result {
	int delays[N_DET][1024];
	int n_det[N_DET];
	int misses[N_DET];
	int early[N_DET];       /* false alarms before the change */
};

static void
print_change_table(const char *title, const struct change_result *res, int seeds,
		   int change, int horizon)
{
	int i;

	printf("\n### %s\n\n", title);
	printf("change at sample %d, horizon %d, %d seeds; delay = samples after the change "
	       "up to and including the alarming one\n\n", change, horizon, seeds);
	printf("| detector | median delay | p90 delay | misses | false alarms before the change "
	       "(total over seeds) |\n|---|---:|---:|---:|---:|\n");
	for (i = 0; i < N_DET; i++) {
		int n = res->n_det[i];
		int d[1024];
		memcpy(d, res->delays[i], sizeof(int) * (size_t)n);
		qsort(d, (size_t)n, sizeof(int), cmp_int);
		if (n > 0)
			printf("| %s | %d | %d | %d/%d | %d |\n", det_name[i], d[(n - 1) / 2],
			       d[(n * 9 + 9) / 10 - 1], res->misses[i], seeds, res->early[i]);
		else
			printf("| %s | - | - | %d/%d | %d |\n", det_name[i], res->misses[i], seeds,
			       res->early[i]);
	}
}

static void
record(struct change_result *res, unsigned bits, int t, int change, int *found)
{
	int i;

	for (i = 0; i < N_DET; i++) {
		if (!(bits & (1u << i)))
			continue;
		if (t < change)
			res->early[i]++;
		else if (!found[i]) {
			found[i] = 1;
			res->delays[i][res->n_det[i]++] = t - change + 1;
		}
	}
}

static void
finish(struct change_result *res, int *found)
{
	int i;

	for (i = 0; i < N_DET; i++)
		if (!found[i])
			res->misses[i]++;
}

static void
bernoulli_change(float p0, float p1, int seeds, int change, int horizon)
{
	static struct change_result res;
	char title[128];
	int s, t;

	memset(&res, 0, sizeof(res));
	for (s = 1; s <= seeds; s++) {
		struct dets d;
		struct rng r;
		int found[N_DET] = { 0 };
		rng_seed(&r, (uint64_t)s);
		dets_init(&d);
		for (t = 0; t < change + horizon; t++) {
			int err = rng_uniform(&r) < (t < change ? p0 : p1);
			record(&res, dets_update(&d, err), t, change, found);
		}
		finish(&res, found);
	}
	snprintf(title, sizeof(title), "Bernoulli error rate %.2f -> %.2f", (double)p0,
		 (double)p1);
	print_change_table(title, &res, seeds, change, horizon);
}

/* SEA: features uniform on [0, 10]; the frozen model is the theta = 8 rule. */
static void
sea_sample(struct rng *r, float *x, float gain)
{
	x[0] = rng_uniform(r) * 10.0f * gain;
	x[1] = rng_uniform(r) * 10.0f;
	x[2] = rng_uniform(r) * 10.0f;
}

static int
sea_error(struct rng *r, const float *x, float theta)
{
	int label = x[0] + x[1] <= theta;
	int pred = x[0] + x[1] <= 8.0f;

	if (rng_uniform(r) < 0.10f)
		label = !label;         /* 10 % class noise, as in the SEA benchmark */
	return label != pred;
}

/* Training statistics of the SEA features: U(0, 10) has mean 5, variance 100/12, and
 * decile edges 1, 2, ..., 9 (10 bins of 10 %). */
static float sea_mean[3] = { 5, 5, 5 }, sea_var[3], sea_edges[27], sea_frac[30];
static const struct tfa_drift_train_stats sea_stats = { 3, 10, sea_mean, sea_var, sea_edges,
							sea_frac };

static void
sea_stats_init(void)
{
	int j, b;

	for (j = 0; j < 3; j++) {
		sea_var[j] = 100.0f / 12.0f;
		for (b = 0; b < 9; b++)
			sea_edges[j * 9 + b] = (float)(b + 1);
		for (b = 0; b < 10; b++)
			sea_frac[j * 10 + b] = 0.1f;
	}
}

static void
sea_change(float theta1, int seeds, int change, int horizon)
{
	static struct change_result res;
	char title[160];
	int s, t, data_false = 0;
	long data_samples = 0;

	memset(&res, 0, sizeof(res));
	for (s = 1; s <= seeds; s++) {
		struct dets d;
		static struct tfa_drift_data dd;
		struct rng r;
		int found[N_DET] = { 0 };
		float x[3];
		rng_seed(&r, 1000u + (uint64_t)s);
		dets_init(&d);
		if (tfa_drift_data_init(&dd, NULL, &sea_stats) != 0)
			exit(1);
		for (t = 0; t < change + horizon; t++) {
			sea_sample(&r, x, 1.0f);
			data_false += tfa_drift_data_update(&dd, x) != 0;
			data_samples++;
			record(&res, dets_update(&d, sea_error(&r, x, t < change ? 8.0f : theta1)),
			       t, change, found);
		}
		finish(&res, found);
	}
	snprintf(title, sizeof(title),
		 "SEA concept theta 8 -> %.1f (frozen theta-8 model, 10 %% noise; error "
		 "%.3f -> %.3f expected)", (double)theta1, 0.1,
		 0.1 + 0.8 * (theta1 > 8.0f ? (theta1 * theta1 - 64.0) / 200.0
					    : (64.0 - theta1 * theta1) / 200.0));
	print_change_table(title, &res, seeds, change, horizon);
	printf("\nData-drift detectors on the same (unchanged) SEA features: %d alarms in %ld "
	       "samples (%.3f per 10,000).\n", data_false, data_samples,
	       data_false * 1e4 / (double)data_samples);
}

/* Feature drift: f1 gets a 1.5x gain at the change; delay of the shift and PSI alarms. */
static void
sea_gain(int seeds, int change, int horizon)
{
	int s, t, i;
	int delays[2][1024], n[2] = { 0, 0 }, misses[2] = { 0, 0 }, early[2] = { 0, 0 };
	static const char *const name[2] = { "mean shift", "PSI" };

	for (s = 1; s <= seeds; s++) {
		static struct tfa_drift_data dd;
		struct rng r;
		int found[2] = { 0, 0 };
		float x[3];
		rng_seed(&r, 5000u + (uint64_t)s);
		if (tfa_drift_data_init(&dd, NULL, &sea_stats) != 0)
			exit(1);
		/* The change falls mid-window (5250 = 10.5 windows of 500). */
		for (t = 0; t < change + horizon; t++) {
			int bits;
			sea_sample(&r, x, t < change ? 1.0f : 1.5f);
			bits = tfa_drift_data_update(&dd, x);
			for (i = 0; i < 2; i++) {
				unsigned bit = i == 0 ? TFA_DRIFT_SHIFT : TFA_DRIFT_PSI;
				if (!(bits & (int)bit))
					continue;
				if (t < change)
					early[i]++;
				else if (!found[i]) {
					found[i] = 1;
					delays[i][n[i]++] = t - change + 1;
				}
			}
		}
		for (i = 0; i < 2; i++)
			misses[i] += !found[i];
	}
	printf("\n### SEA features, f1 gain 1.0 -> 1.5 (data drift)\n\n");
	printf("change at sample %d (PSI window 500, so the change falls inside a window), "
	       "horizon %d, %d seeds\n\n", change, horizon, seeds);
	printf("| detector | median delay | misses | false alarms before the change |\n"
	       "|---|---:|---:|---:|\n");
	for (i = 0; i < 2; i++) {
		qsort(delays[i], (size_t)n[i], sizeof(int), cmp_int);
		printf("| %s | %d | %d/%d | %d |\n", name[i], n[i] ? delays[i][(n[i] - 1) / 2] : -1,
		       misses[i], seeds, early[i]);
	}
}

static void
stationary(float p, int seeds, long len)
{
	long fa[N_DET] = { 0 };
	int s, i;
	long t;

	for (s = 1; s <= seeds; s++) {
		struct dets d;
		struct rng r;
		rng_seed(&r, 9000u + (uint64_t)s);
		dets_init(&d);
		for (t = 0; t < len; t++) {
			unsigned b = dets_update(&d, rng_uniform(&r) < p);
			for (i = 0; i < N_DET; i++)
				fa[i] += (b >> i) & 1u;
		}
	}
	printf("| %.2f | %ld |", (double)p, len * seeds);
	for (i = 0; i < N_DET; i++)
		printf(" %.3f (%ld) |", fa[i] * 1e4 / ((double)len * seeds), fa[i]);
	printf("\n");
}

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

#define TIMING_N 2000000
static float stream[TIMING_N];
static volatile float sink;

/* Each figure is the fastest of REPS runs of TIMING_N updates: the machine is shared, and
 * the minimum is the figure least disturbed by other processes. */
#define REPS 5
#define TIME_LOOP(label, n, init, body)                                                 \
	do {                                                                            \
		double best_ = 1e30;                                                    \
		int rep_;                                                               \
		for (rep_ = 0; rep_ < REPS; rep_++) {                                   \
			double t0_;                                                     \
			init;                                                           \
			t0_ = now_ns();                                                 \
			for (i = 0; i < (n); i++) {                                     \
				body;                                                   \
			}                                                               \
			t0_ = (now_ns() - t0_) / (n);                                   \
			if (t0_ < best_)                                                \
				best_ = t0_;                                            \
		}                                                                       \
		printf("| %s | %.2f |\n", label, best_);                               \
	} while (0)

static void
timing(void)
{
	static struct tfa_drift bundle;
	static float mean[64], var[64], edges[64 * 9], frac[64 * 10], feat[64 * 64];
	struct tfa_drift_train_stats st = { 64, 10, mean, var, edges, frac };
	struct dets d;
	struct rng r;
	float probs[10];
	float acc = 0.0f;
	int i, j;

	rng_seed(&r, 42);
	for (i = 0; i < TIMING_N; i++)
		stream[i] = rng_uniform(&r) < 0.1f ? 1.0f : 0.0f;
	for (j = 0; j < 64; j++) {
		var[j] = 1.0f;
		for (i = 0; i < 9; i++)
			edges[j * 9 + i] = -1.0f + 0.25f * (float)i;
		for (i = 0; i < 10; i++)
			frac[j * 10 + i] = 0.1f;
	}
	for (i = 0; i < 64 * 64; i++)
		feat[i] = rng_uniform(&r) * 2.0f - 1.0f;
	for (i = 0; i < 10; i++)
		probs[i] = 0.02f;
	probs[3] = 0.82f;

	printf("\n### Time per update (ns, host build, fastest of %d runs of %d updates)\n\n",
	       REPS, TIMING_N);
	printf("| what | ns/update |\n|---|---:|\n");
	TIME_LOOP("baseline: read + add over the same stream", TIMING_N, acc = 0.0f,
		  acc += stream[i] * 0.5f);
	sink = acc;
	TIME_LOOP("Page-Hinkley", TIMING_N, dets_init(&d), tfa_ph_update(&d.ph, stream[i]));
	TIME_LOOP("ADWIN (clock 32)", TIMING_N, dets_init(&d),
		  tfa_adwin_update(&d.adwin, stream[i]));
	TIME_LOOP("DDM", TIMING_N, dets_init(&d), tfa_ddm_update(&d.ddm, stream[i] > 0.5f));
	TIME_LOOP("HDDM_A", TIMING_N, dets_init(&d), tfa_hddm_update(&d.hddm, stream[i]));
	TIME_LOOP("bundle: tfa_drift_on_label (PH + ADWIN + DDM + HDDM_A)", TIMING_N,
		  tfa_drift_init(&bundle, NULL, &st),
		  tfa_drift_on_label(&bundle, stream[i], stream[i] < 0.5f));
	TIME_LOOP("bundle: tfa_drift_on_prediction (64 features, 10 bins, 10 classes)",
		  TIMING_N / 20, tfa_drift_init(&bundle, NULL, &st),
		  tfa_drift_on_prediction(&bundle, feat + (i & 63) * 64, probs, 10));
}

static void
sizes(void)
{
	printf("\n### State sizes (bytes, this build: TFA_DRIFT_MAX_FEATURES %d, "
	       "TFA_DRIFT_MAX_BINS %d, ADWIN M %d, rows %d)\n\n", TFA_DRIFT_MAX_FEATURES,
	       TFA_DRIFT_MAX_BINS, TFA_ADWIN_M, TFA_ADWIN_MAX_ROWS);
	printf("| struct | bytes |\n|---|---:|\n");
	printf("| tfa_ph | %zu |\n", sizeof(struct tfa_ph));
	printf("| tfa_adwin | %zu |\n", sizeof(struct tfa_adwin));
	printf("| tfa_ddm | %zu |\n", sizeof(struct tfa_ddm));
	printf("| tfa_hddm | %zu |\n", sizeof(struct tfa_hddm));
	printf("| tfa_drift_data (64 features, 10 bins) | %zu |\n", sizeof(struct tfa_drift_data));
	printf("| tfa_conf | %zu |\n", sizeof(struct tfa_conf));
	printf("| tfa_drift (bundle, all of the above + config + counters) | %zu |\n",
	       sizeof(struct tfa_drift));
	printf("| tfa_drift_report | %zu |\n", sizeof(struct tfa_drift_report));
}

int
main(int argc, char **argv)
{
	int seeds = 30, quick = 0, i;
	long stat_len = 200000;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc)
			seeds = (int)strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--stationary") == 0 && i + 1 < argc)
			stat_len = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--quick") == 0)
			quick = 1;
		else {
			fprintf(stderr, "usage: %s [--seeds N (5..1024)] [--stationary N] "
				"[--quick]\n", argv[0]);
			return 2;
		}
	}
	if (seeds < 5 || seeds > 1024 || stat_len < 1000) {
		fprintf(stderr, "seeds must be 5..1024 and --stationary >= 1000\n");
		return 2;
	}
	if (quick)
		stat_len = 20000;
	sea_stats_init();

	printf("## Drift detectors at their defaults (PH delta .005 lambda 50 alpha .9999; "
	       "ADWIN delta .002 clock 32; DDM 2/3 sigma, 30 samples; HDDM_A .001/.005)\n");
	bernoulli_change(0.05f, 0.30f, seeds, 5000, 2000);
	bernoulli_change(0.05f, 0.15f, seeds, 5000, 2000);
	bernoulli_change(0.10f, 0.20f, seeds, 5000, 2000);
	sea_change(9.5f, seeds, 5000, 2000);
	sea_change(7.0f, seeds, 5000, 2000);
	sea_gain(seeds, 5250, 2000);

	printf("\n### False alarms per 10,000 samples on stationary Bernoulli error streams "
	       "(%d seeds x %ld samples; count in parentheses)\n\n", seeds, stat_len);
	printf("| error rate | samples |");
	for (i = 0; i < N_DET; i++)
		printf(" %s |", det_name[i]);
	printf("\n|---:|---:|---:|---:|---:|---:|\n");
	stationary(0.05f, seeds, stat_len);
	stationary(0.10f, seeds, stat_len);
	stationary(0.30f, seeds, stat_len);

	sizes();
	if (!quick)
		timing();
	return 0;
}
