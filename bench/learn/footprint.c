/*
 * Footprint benchmark of the agent core on the host: bytes of every piece of agent state
 * for a model (inference arena, TinyOL, drift detectors, model handle; the weights stay in
 * the container, i.e. in flash) and time per sample for inference alone, for TinyOL
 * predict + learn, and for the whole agent (+ detectors).
 * Usage: learn_footprint model.tfm [samples]
 * Build it with the budgets of the profile being measured (footprint.sh passes
 * -DTFA_HEAD_IN_MAX=32 -DTFA_HEAD_OUT_MAX=10 for the 64-feature, 10-class digits model).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tinyfleet/agent/drift.h"
#include "tinyfleet/agent/infer.h"
#include "tinyfleet/agent/tinyol.h"

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint32_t rng = 1;

static float
frand(void)
{
	rng = rng * 1664525u + 1013904223u;
	return (float)(rng >> 8) / (float)(1u << 24);
}

int
main(int argc, char **argv)
{
	static struct tfa_model m;
	static struct tfa_tinyol t;
	static struct tfa_drift d;
	static uint32_t arena[16384];
	static uint8_t img[1 << 20];
	struct tfa_drift_train_stats st;
	struct tfp_tensor tm, tv, te, tf;
	float x[1024];
	size_t len;
	long n = argc > 2 ? strtol(argv[2], NULL, 10) : 20000;
	double t0, t_inf, t_tol, t_all;
	FILE *f;
	int e;

	if (argc < 2 || (f = fopen(argv[1], "rb")) == NULL) {
		fprintf(stderr, "usage: learn_footprint model.tfm [samples]\n");
		return 2;
	}
	len = fread(img, 1, sizeof(img), f);
	fclose(f);
	if ((e = tfa_model_open(&m, img, len)) != 0 || (e = tfa_tinyol_init(&t, &m, NULL)) != 0) {
		fprintf(stderr, "learn_footprint: %s\n", tfa_strerror(e));
		return 1;
	}
	memset(&st, 0, sizeof(st));
	if (tfp_container_find(&m.c, TFP_KIND_FEAT_MEAN, &tm) == 0 &&
	    tfp_container_find(&m.c, TFP_KIND_FEAT_VAR, &tv) == 0) {
		st.n_features = (uint16_t)m.c.info.in_ch;
		st.mean = (const float *)(const void *)tm.data;
		st.var = (const float *)(const void *)tv.data;
		if (tfp_container_find(&m.c, TFP_KIND_PSI_EDGES, &te) == 0 &&
		    tfp_container_find(&m.c, TFP_KIND_PSI_FRAC, &tf) == 0) {
			st.n_bins = (uint16_t)tf.shape[1];
			st.edges = (const float *)(const void *)te.data;
			st.frac = (const float *)(const void *)tf.data;
		}
	}
	if ((e = tfa_drift_init(&d, NULL, st.n_features ? &st : NULL)) != 0) {
		fprintf(stderr, "learn_footprint: drift: %s\n", tfa_strerror(e));
		return 1;
	}
	size_t nin = (size_t)m.c.info.in_len * m.c.info.in_ch;
	for (size_t i = 0; i < nin && i < 1024; i++)
		x[i] = 16.0f * frand();
	/* Inference alone (frozen + head as shipped). */
	t0 = now();
	for (long i = 0; i < n; i++) {
		const float *y;
		x[i % nin] = 16.0f * frand();
		tfa_infer(&m, x, (uint8_t *)arena, m.arena, &y, NULL);
	}
	t_inf = (now() - t0) / (double)n;
	/* TinyOL: standardise, predict, learn on every sample. */
	t0 = now();
	for (long i = 0; i < n; i++) {
		x[i % nin] = 16.0f * frand();
		tfa_tinyol_predict(&t, x, (uint8_t *)arena, m.arena, NULL);
		tfa_tinyol_learn_class(&t, (unsigned)(i % t.n_out));
	}
	t_tol = (now() - t0) / (double)n;
	/* The whole agent: TinyOL + every detector. */
	t0 = now();
	for (long i = 0; i < n; i++) {
		const float *p;
		unsigned label = (unsigned)(i % t.n_out);
		x[i % nin] = 16.0f * frand();
		tfa_tinyol_predict(&t, x, (uint8_t *)arena, m.arena, &p);
		tfa_drift_on_prediction(&d, x, p, t.n_out);
		tfa_tinyol_learn_class(&t, label);
		tfa_drift_on_label(&d, t.last_loss, tfa_tinyol_argmax(&t) == label);
	}
	t_all = (now() - t0) / (double)n;
	printf("model %s: input %zu, head %u -> %u, container %zu bytes (flash)\n",
	       m.c.info.name, nin, t.n_in, t.n_out, len);
	printf("budgets: TFA_FEATURES_MAX %d TFA_HEAD_IN_MAX %d TFA_HEAD_OUT_MAX %d "
	       "TFA_WITH_MOMENTUM %d TFA_DRIFT_MAX_FEATURES %d TFA_DRIFT_MAX_BINS %d\n",
	       TFA_FEATURES_MAX, TFA_HEAD_IN_MAX, TFA_HEAD_OUT_MAX, TFA_WITH_MOMENTUM,
	       TFA_DRIFT_MAX_FEATURES, TFA_DRIFT_MAX_BINS);
	size_t ab = tfa_model_arena(&m);
	printf("ram: arena %zu + tinyol %zu + model handle %zu = %zu (inference + TinyOL)\n",
	       ab, sizeof(t), sizeof(m), ab + sizeof(t) + sizeof(m));
	printf("ram: + detectors %zu (ph %zu, adwin %zu, ddm %zu, hddm %zu, data %zu, conf %zu)"
	       " = %zu total\n", sizeof(d), sizeof(d.ph), sizeof(d.adwin), sizeof(d.ddm),
	       sizeof(d.hddm), sizeof(d.data), sizeof(d.conf),
	       ab + sizeof(t) + sizeof(m) + sizeof(d));
	printf("time per sample (%ld samples): inference %.2f us, TinyOL predict+learn %.2f us, "
	       "agent with detectors %.2f us\n", n, 1e6 * t_inf, 1e6 * t_tol, 1e6 * t_all);
	return 0;
}
