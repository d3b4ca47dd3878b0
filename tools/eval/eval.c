/*
 * tinyfleet-eval: runs the device agent's core over a CSV stream, as a device would see
 * it, and reports what an operator needs before deploying: prequential (test-then-train)
 * accuracy of the frozen model and of the TinyOL agent, overall and per segment, every
 * drift-detector alarm with its sample index, and the RAM the agent used.
 *
 * Each row: numeric feature columns (in_len*in_ch of them, time-major) and one label column
 * (class index for classification; target value(s) for regression: the last out_ch
 * columns; for an autoencoder (anomaly task) 0 = normal, else anomalous: TinyOL learns only
 * from revealed normal rows, and the report gives the mean reconstruction error of normal
 * and anomalous rows). Every row is predicted by both; then with probability --label-rate its label
 * is revealed to TinyOL (and the detectors), which takes one SGD step. Accuracy counts every
 * row (the evaluator always knows the label). Rows before --skip are learned from (they
 * pretrained the frozen model, or warm the agent up) but not scored.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tinyfleet/agent/drift.h"
#include "tinyfleet/agent/infer.h"
#include "tinyfleet/agent/tinyol.h"

#define MAX_COLS 4096
#define MAX_SEGMENTS 64
#define LINE_MAX_BYTES (1 << 20)

struct opts {
	const char *model, *csv, *save_head, *restore_head;
	long label_col;         /* -1 = last column */
	int header;
	unsigned long skip;
	double label_rate;
	unsigned long seed;
	struct tfa_tinyol_config tol;
	struct tfa_drift_config drift;
	unsigned long seg_starts[MAX_SEGMENTS];
	unsigned nseg;
	unsigned long seg_len;
	int quiet_alarms;
	int use_drift;
};

struct seg_stats {
	unsigned long rows, frozen_ok, agent_ok, labels;
	double frozen_se, agent_se;
	/* anomaly task: mean reconstruction error of normal (label 0) and anomalous rows */
	double f_norm, a_norm, f_anom, a_anom;
	unsigned long n_norm, n_anom;
};

static const char *detector_names[7] = {"page-hinkley", "adwin", "ddm", "hddm_a",
                                        "feature-shift", "psi", "confidence"};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: tinyfleet-eval --model M.tfm --csv data.csv [options]\n"
	    "  --header              the first line names the columns (skipped)\n"
	    "  --label-col N         0-based label column (default: the last)\n"
	    "  --skip N              first N rows are learned from but not scored (e.g. the rows\n"
	    "                        tools/model/train_csv.py --rows N pretrained the model on)\n"
	    "  --label-rate R        fraction of rows whose label TinyOL sees (default 1)\n"
	    "  --seed S              label sampling seed (default 1)\n"
	    "  --lr X --decay X --momentum X   SGD settings (default lr 0.05)\n"
	    "  --window N            Welford count cap (default 1000, 0 = none)\n"
	    "  --prior N             weight of the shipped statistics (default 100)\n"
	    "  --no-adapt-stats      keep the shipped statistics\n"
	    "  --segments a,b,...    rows where new segments start (scored rows count from 0)\n"
	    "  --segment-len N       a new segment every N scored rows\n"
	    "  --detectors LIST      ph,adwin,ddm,hddm,shift,psi,conf | all | none (default all)\n"
	    "  --ph-delta X --ph-lambda X --adwin-delta X --ddm-drift X --psi-window N\n"
	    "  --loss-scale X        detectors watch min(loss/X, 1) instead of the error bit\n"
	    "  --quiet-alarms        count alarms, do not list them\n"
	    "  --restore-head F      start from a head saved earlier\n"
	    "  --save-head F         save the learned head at the end\n");
}

static int
parse_ulong(const char *s, unsigned long *v)
{
	char *end;
	errno = 0;
	*v = strtoul(s, &end, 10);
	return errno == 0 && end != s && *end == '\0' && s[0] != '-' ? 0 : -1;
}

static int
parse_double(const char *s, double *v)
{
	char *end;
	errno = 0;
	*v = strtod(s, &end);
	return errno == 0 && end != s && *end == '\0' && isfinite(*v) ? 0 : -1;
}

static int
parse_detectors(const char *s, uint32_t *bits)
{
	static const struct { const char *n; uint32_t b; } map[] = {
		{"ph", TFA_DRIFT_PH}, {"adwin", TFA_DRIFT_ADWIN}, {"ddm", TFA_DRIFT_DDM},
		{"hddm", TFA_DRIFT_HDDM}, {"shift", TFA_DRIFT_SHIFT}, {"psi", TFA_DRIFT_PSI},
		{"conf", TFA_DRIFT_CONF}, {"all", TFA_DRIFT_ALL}, {"none", 0}};
	char buf[256], *tok, *save = NULL;

	if (strlen(s) >= sizeof(buf))
		return -1;
	memcpy(buf, s, strlen(s) + 1);
	*bits = 0;
	for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		size_t i;
		for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
			if (strcmp(tok, map[i].n) == 0)
				break;
		if (i == sizeof(map) / sizeof(map[0]))
			return -1;
		*bits |= map[i].b;
	}
	return 0;
}

static int
parse_args(int argc, char **argv, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->label_col = -1;
	o->label_rate = 1.0;
	o->seed = 1;
	o->use_drift = 1;
	tfa_tinyol_config_default(&o->tol);
	tfa_drift_config_default(&o->drift);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		unsigned long u;
		double d;
		int takes = 1;
		if (strcmp(a, "--header") == 0) {
			o->header = 1;
			takes = 0;
		} else if (strcmp(a, "--no-adapt-stats") == 0) {
			o->tol.adapt_stats = 0;
			takes = 0;
		} else if (strcmp(a, "--quiet-alarms") == 0) {
			o->quiet_alarms = 1;
			takes = 0;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			exit(0);
		} else if (v == NULL) {
			fprintf(stderr, "tinyfleet-eval: %s: missing value or unknown option\n", a);
			return -1;
		} else if (strcmp(a, "--model") == 0) {
			o->model = v;
		} else if (strcmp(a, "--csv") == 0) {
			o->csv = v;
		} else if (strcmp(a, "--save-head") == 0) {
			o->save_head = v;
		} else if (strcmp(a, "--restore-head") == 0) {
			o->restore_head = v;
		} else if (strcmp(a, "--label-col") == 0 && parse_ulong(v, &u) == 0) {
			o->label_col = (long)u;
		} else if (strcmp(a, "--skip") == 0 && parse_ulong(v, &u) == 0) {
			o->skip = u;
		} else if (strcmp(a, "--seed") == 0 && parse_ulong(v, &u) == 0) {
			o->seed = u;
		} else if (strcmp(a, "--window") == 0 && parse_ulong(v, &u) == 0) {
			o->tol.window = (uint32_t)u;
		} else if (strcmp(a, "--prior") == 0 && parse_ulong(v, &u) == 0) {
			o->tol.prior_count = (uint32_t)u;
		} else if (strcmp(a, "--segment-len") == 0 && parse_ulong(v, &u) == 0 && u > 0) {
			o->seg_len = u;
		} else if (strcmp(a, "--psi-window") == 0 && parse_ulong(v, &u) == 0) {
			o->drift.data.window = (uint32_t)u;
		} else if (strcmp(a, "--label-rate") == 0 && parse_double(v, &d) == 0 && d >= 0 &&
		           d <= 1) {
			o->label_rate = d;
		} else if (strcmp(a, "--lr") == 0 && parse_double(v, &d) == 0) {
			o->tol.lr = (float)d;
		} else if (strcmp(a, "--decay") == 0 && parse_double(v, &d) == 0) {
			o->tol.decay = (float)d;
		} else if (strcmp(a, "--momentum") == 0 && parse_double(v, &d) == 0) {
			o->tol.momentum = (float)d;
		} else if (strcmp(a, "--ph-delta") == 0 && parse_double(v, &d) == 0) {
			o->drift.ph.delta = (float)d;
		} else if (strcmp(a, "--ph-lambda") == 0 && parse_double(v, &d) == 0) {
			o->drift.ph.lambda = (float)d;
		} else if (strcmp(a, "--adwin-delta") == 0 && parse_double(v, &d) == 0) {
			o->drift.adwin.delta = (float)d;
		} else if (strcmp(a, "--ddm-drift") == 0 && parse_double(v, &d) == 0) {
			o->drift.ddm.drift = (float)d;
		} else if (strcmp(a, "--loss-scale") == 0 && parse_double(v, &d) == 0 && d >= 0) {
			o->drift.loss_scale = (float)d;
		} else if (strcmp(a, "--detectors") == 0 && parse_detectors(v, &o->drift.enabled) == 0) {
			o->use_drift = o->drift.enabled != 0;
		} else if (strcmp(a, "--segments") == 0) {
			char buf[1024], *tok, *save = NULL;
			if (strlen(v) >= sizeof(buf))
				return -1;
			memcpy(buf, v, strlen(v) + 1);
			for (tok = strtok_r(buf, ",", &save); tok != NULL;
			     tok = strtok_r(NULL, ",", &save)) {
				if (o->nseg >= MAX_SEGMENTS || parse_ulong(tok, &u) != 0) {
					fprintf(stderr, "tinyfleet-eval: bad --segments %s\n", v);
					return -1;
				}
				o->seg_starts[o->nseg++] = u;
			}
		} else {
			fprintf(stderr, "tinyfleet-eval: bad option or value: %s %s\n", a, v);
			return -1;
		}
		i += takes;
	}
	if (o->model == NULL || o->csv == NULL) {
		usage(stderr);
		return -1;
	}
	return 0;
}

static uint8_t *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) != NULL && fread(buf, 1, (size_t)n, f) == (size_t)n) {
		*len = (size_t)n;
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* Splits a CSV line into doubles. Returns the column count or -1. */
static int
parse_row(char *line, double *vals, int max)
{
	int n = 0;
	char *p = line;

	for (;;) {
		char *end;
		if (n >= max)
			return -1;
		while (*p == ' ' || *p == '\t')
			p++;
		errno = 0;
		vals[n] = strtod(p, &end);
		if (end == p || errno != 0)
			return -1;
		n++;
		p = end;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p == '\0' || *p == '\n' || *p == '\r')
			return n;
		return -1;
	}
}

static uint64_t rng_state;

static double
next_uniform(void)   /* xorshift64*: reproducible label sampling */
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (double)((rng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static unsigned
segment_of(const struct opts *o, unsigned long scored)
{
	unsigned s = 0;

	if (o->seg_len > 0) {
		unsigned long k = scored / o->seg_len;
		return k >= MAX_SEGMENTS ? MAX_SEGMENTS - 1 : (unsigned)k;
	}
	for (unsigned i = 0; i < o->nseg; i++)
		if (scored >= o->seg_starts[i])
			s = i + 1;
	return s >= MAX_SEGMENTS ? MAX_SEGMENTS - 1 : s;
}

int
main(int argc, char **argv)
{
	struct opts o;
	uint8_t *img = NULL, *arena = NULL;
	size_t img_len = 0;
	char *line = NULL;
	double *vals = NULL;
	float *x = NULL, tgt[TFA_HEAD_OUT_MAX];
	FILE *csv = NULL;
	static struct tfa_model model;
	static struct tfa_tinyol agent, frozen;
	static struct tfa_drift drift;
	struct tfa_drift_train_stats st;
	struct tfp_tensor tm, tv, te, tf;
	struct seg_stats seg[MAX_SEGMENTS], all;
	unsigned long row = 0, scored = 0, alarms = 0, alarm_by[7] = {0};
	unsigned nseg_used = 0, n_in, n_out;
	int rc = 1, e, has_stats, ncols = -1;
	enum tfp_task task;
	struct timespec t0, t1;
	double secs;

	if (parse_args(argc, argv, &o) != 0)
		return 2;
	memset(seg, 0, sizeof(seg));
	memset(&all, 0, sizeof(all));
	rng_state = 0x9E3779B97F4A7C15ull ^ (uint64_t)o.seed;
	if ((img = slurp(o.model, &img_len)) == NULL) {
		fprintf(stderr, "tinyfleet-eval: %s: %s\n", o.model, strerror(errno));
		goto out;
	}
	if ((e = tfa_model_open(&model, img, img_len)) != 0) {
		fprintf(stderr, "tinyfleet-eval: %s: %s\n", o.model, tfa_strerror(e));
		goto out;
	}
	task = model.c.info.task;
	n_in = model.c.info.in_len * model.c.info.in_ch;
	n_out = model.c.info.out_len * model.c.info.out_ch;
	/* The arena is the only RAM inference needs; allocate exactly what the model says. */
	{
		void *p = NULL;
		if (posix_memalign(&p, 16, model.c.info.arena_bytes + 16) != 0)
			goto out;
		arena = p;
	}
	if ((e = tfa_tinyol_init(&agent, &model, &o.tol)) != 0) {
		fprintf(stderr, "tinyfleet-eval: TinyOL: %s\n", tfa_strerror(e));
		goto out;
	}
	{
		struct tfa_tinyol_config fc = o.tol;
		fc.lr = 0.0f;           /* the frozen model: shipped head, shipped statistics */
		fc.adapt_stats = 0;
		fc.momentum = 0.0f;
		if ((e = tfa_tinyol_init(&frozen, &model, &fc)) != 0) {
			fprintf(stderr, "tinyfleet-eval: frozen: %s\n", tfa_strerror(e));
			goto out;
		}
	}
	if (o.restore_head != NULL) {
		size_t blen;
		uint8_t *blob = slurp(o.restore_head, &blen);
		e = blob != NULL ? tfa_tinyol_restore(&agent, blob, blen) : TFP_ERR_ARG;
		free(blob);
		if (e != 0) {
			fprintf(stderr, "tinyfleet-eval: %s: %s\n", o.restore_head, tfa_strerror(e));
			goto out;
		}
	}
	has_stats = tfp_container_find(&model.c, TFP_KIND_FEAT_MEAN, &tm) == 0 &&
	            tfp_container_find(&model.c, TFP_KIND_FEAT_VAR, &tv) == 0;
	memset(&st, 0, sizeof(st));
	if (has_stats) {
		/* The image is in malloc'd (aligned) memory and tensors are 4-aligned. */
		st.n_features = (uint16_t)model.c.info.in_ch;
		st.mean = (const float *)(const void *)tm.data;
		st.var = (const float *)(const void *)tv.data;
		if (tfp_container_find(&model.c, TFP_KIND_PSI_EDGES, &te) == 0 &&
		    tfp_container_find(&model.c, TFP_KIND_PSI_FRAC, &tf) == 0) {
			st.n_bins = (uint16_t)tf.shape[1];
			st.edges = (const float *)(const void *)te.data;
			st.frac = (const float *)(const void *)tf.data;
		}
		/* Data drift needs var > 0: a constant training feature cannot shift "by sigmas". */
		for (unsigned i = 0; i < st.n_features; i++)
			if (!(st.var[i] > 0.0f))
				has_stats = 0;
		if (!has_stats)
			fprintf(stderr, "tinyfleet-eval: some training variance is 0: "
			                "feature-shift and PSI detectors off\n");
	}
	if (o.use_drift &&
	    (e = tfa_drift_init(&drift, &o.drift, has_stats ? &st : NULL)) != 0) {
		fprintf(stderr, "tinyfleet-eval: detectors: %s\n", tfa_strerror(e));
		goto out;
	}
	if ((csv = fopen(o.csv, "r")) == NULL) {
		fprintf(stderr, "tinyfleet-eval: %s: %s\n", o.csv, strerror(errno));
		goto out;
	}
	line = malloc(LINE_MAX_BYTES);
	vals = malloc(MAX_COLS * sizeof(double));
	x = malloc((n_in + 1) * sizeof(float));
	if (line == NULL || vals == NULL || x == NULL)
		goto out;
	printf("model %s %s: task %s, input [%u, %u], output %u, %u layers, update layer %u\n",
	       model.c.info.name, model.c.info.version,
	       task == TFP_TASK_CLASSIFY ? "classify" : task == TFP_TASK_REGRESS ? "regress"
	                                                                        : "anomaly",
	       model.c.info.in_len, model.c.info.in_ch, n_out, model.c.info.layer_count,
	       model.c.info.update_layer);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned long lineno = 1; fgets(line, LINE_MAX_BYTES, csv) != NULL; lineno++) {
		const float *py;
		int n, label_col, have_label, correct_f = 0, correct_a = 0;
		unsigned label = 0, k = 0;
		double err_f = 0, err_a = 0;
		if (o.header && lineno == 1)
			continue;
		if (line[0] == '\n' || line[0] == '\r' || line[0] == '\0')
			continue;
		if ((n = parse_row(line, vals, MAX_COLS)) < 0) {
			fprintf(stderr, "tinyfleet-eval: %s:%lu: not a row of numbers\n", o.csv, lineno);
			goto out;
		}
		if (ncols < 0)
			ncols = n;
		label_col = o.label_col < 0 ? n - 1 : (int)o.label_col;
		if (n != ncols || label_col >= n ||
		    (unsigned)(n - (task == TFP_TASK_REGRESS ? (int)n_out : 1)) != n_in) {
			fprintf(stderr, "tinyfleet-eval: %s:%lu: %d columns; the model needs %u "
			        "features + label\n", o.csv, lineno, n, n_in);
			goto out;
		}
		for (int c = 0; c < n; c++) {
			if (task == TFP_TASK_REGRESS ? c >= n - (int)n_out : c == label_col)
				continue;
			x[k++] = (float)vals[c];
		}
		if (task == TFP_TASK_CLASSIFY) {
			double lv = vals[label_col];
			if (!(lv >= 0 && lv < n_out && lv == floor(lv))) {
				fprintf(stderr, "tinyfleet-eval: %s:%lu: label %g is not a class of "
				        "0..%u\n", o.csv, lineno, lv, n_out - 1);
				goto out;
			}
			label = (unsigned)lv;
		} else if (task == TFP_TASK_REGRESS) {
			for (unsigned j = 0; j < n_out; j++)
				tgt[j] = (float)vals[n - (int)n_out + (int)j];
		} else {
			label = vals[label_col] != 0.0;   /* anomaly: 0 normal, else anomalous */
		}
		/* Test ... */
		if ((e = tfa_tinyol_predict(&frozen, x, arena, model.c.info.arena_bytes, &py)) != 0 ||
		    (e = tfa_tinyol_predict(&agent, x, arena, model.c.info.arena_bytes, &py)) != 0) {
			fprintf(stderr, "tinyfleet-eval: predict: %s\n", tfa_strerror(e));
			goto out;
		}
		if (task == TFP_TASK_CLASSIFY) {
			correct_f = tfa_tinyol_argmax(&frozen) == label;
			correct_a = tfa_tinyol_argmax(&agent) == label;
		} else if (task == TFP_TASK_REGRESS) {
			for (unsigned j = 0; j < n_out; j++) {
				err_f += (frozen.y[j] - tgt[j]) * (double)(frozen.y[j] - tgt[j]);
				err_a += (agent.y[j] - tgt[j]) * (double)(agent.y[j] - tgt[j]);
			}
		}
		if (o.use_drift) {
			e = tfa_drift_on_prediction(&drift, x + (size_t)(model.c.info.in_len - 1) *
			                            model.c.info.in_ch,
			                            task == TFP_TASK_CLASSIFY ? py : NULL,
			                            (uint16_t)n_out);
			if (e > 0) {
				for (int b = 0; b < 7; b++)
					if (e & (1 << b)) {
						alarms++;
						alarm_by[b]++;
						if (!o.quiet_alarms)
							printf("alarm sample=%lu detector=%s\n", row,
							       detector_names[b]);
					}
			}
		}
		/* ... then train, if the label is revealed. */
		have_label = row < o.skip || next_uniform() < o.label_rate;
		if (have_label) {
			if (task == TFP_TASK_CLASSIFY)
				e = tfa_tinyol_learn_class(&agent, label);
			else if (task == TFP_TASK_REGRESS)
				e = tfa_tinyol_learn_target(&agent, tgt);
			else if (label == 0)
				e = tfa_tinyol_learn_unsupervised(&agent);   /* learn normal only */
			else
				e = 0;
			if (e != 0) {
				fprintf(stderr, "tinyfleet-eval: learn: %s\n", tfa_strerror(e));
				goto out;
			}
			if (o.use_drift && task != TFP_TASK_ANOMALY) {
				e = tfa_drift_on_label(&drift, agent.last_loss, correct_a);
				for (int b = 0; e > 0 && b < 7; b++)
					if (e & (1 << b)) {
						alarms++;
						alarm_by[b]++;
						if (!o.quiet_alarms)
							printf("alarm sample=%lu detector=%s\n", row,
							       detector_names[b]);
					}
			}
		}
		if (row >= o.skip) {
			unsigned s = segment_of(&o, scored);
			struct seg_stats *ss[2] = {&seg[s], &all};
			if (s + 1 > nseg_used)
				nseg_used = s + 1;
			for (int i = 0; i < 2; i++) {
				ss[i]->rows++;
				ss[i]->frozen_ok += (unsigned long)correct_f;
				ss[i]->agent_ok += (unsigned long)correct_a;
				ss[i]->labels += (unsigned long)have_label;
				ss[i]->frozen_se += err_f;
				ss[i]->agent_se += err_a;
				if (task == TFP_TASK_ANOMALY && label == 0) {
					ss[i]->f_norm += tfa_tinyol_score(&frozen);
					ss[i]->a_norm += tfa_tinyol_score(&agent);
					ss[i]->n_norm++;
				} else if (task == TFP_TASK_ANOMALY) {
					ss[i]->f_anom += tfa_tinyol_score(&frozen);
					ss[i]->a_anom += tfa_tinyol_score(&agent);
					ss[i]->n_anom++;
				}
			}
			scored++;
		}
		row++;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
	if (ferror(csv)) {
		fprintf(stderr, "tinyfleet-eval: %s: read error\n", o.csv);
		goto out;
	}
	printf("rows %lu (scored %lu, skipped %lu), labels revealed %lu (rate %.3f)\n", row,
	       scored, row < o.skip ? row : o.skip, all.labels, o.label_rate);
	if (task == TFP_TASK_ANOMALY)
		printf("%-8s %8s %8s %12s %12s %12s %12s   (mean reconstruction error of normal / "
		       "anomalous rows)\n", "segment", "from", "rows", "frozen_norm", "frozen_anom",
		       "tinyol_norm", "tinyol_anom");
	else
		printf("%-8s %8s %8s %12s %12s\n", "segment", "from", "rows",
		       task == TFP_TASK_CLASSIFY ? "frozen_acc" : "frozen_mse",
		       task == TFP_TASK_CLASSIFY ? "tinyol_acc" : "tinyol_mse");
	for (unsigned s = 0; s <= nseg_used && s < MAX_SEGMENTS; s++) {
		struct seg_stats *p = s < nseg_used ? &seg[s] : &all;
		unsigned long from = o.seg_len ? s * o.seg_len
		                     : (s > 0 && s <= o.nseg ? o.seg_starts[s - 1] : 0);
		double r = p->rows ? (double)p->rows : 1.0;
		if (s < nseg_used && p->rows == 0)
			continue;
		if (s < nseg_used)
			printf("%-8u %8lu %8lu", s, from, p->rows);
		else
			printf("%-8s %8s %8lu", "all", "-", p->rows);
		if (task == TFP_TASK_CLASSIFY)
			printf(" %12.4f %12.4f\n", (double)p->frozen_ok / r, (double)p->agent_ok / r);
		else if (task == TFP_TASK_REGRESS)
			printf(" %12.5g %12.5g\n", p->frozen_se / r / n_out, p->agent_se / r / n_out);
		else {
			double nn = p->n_norm ? (double)p->n_norm : 1.0;
			double na = p->n_anom ? (double)p->n_anom : 1.0;
			printf(" %12.5g %12.5g %12.5g %12.5g\n", p->f_norm / nn, p->f_anom / na,
			       p->a_norm / nn, p->a_anom / na);
		}
	}
	printf("alarms %lu:", alarms);
	for (int b = 0; b < 7; b++)
		printf(" %s=%lu", detector_names[b], alarm_by[b]);
	printf("\n");
	printf("ram bytes: tinyol %zu + arena %u + detectors %zu + model handle %zu = %zu\n",
	       sizeof(agent), model.c.info.arena_bytes, o.use_drift ? sizeof(drift) : (size_t)0,
	       sizeof(model),
	       sizeof(agent) + model.c.info.arena_bytes + (o.use_drift ? sizeof(drift) : 0) +
	       sizeof(model));
	printf("time per sample (frozen + tinyol + detectors): %.2f us\n",
	       row ? 1e6 * secs / (double)row : 0.0);
	if (o.save_head != NULL) {
		static uint8_t blob[65536];
		size_t w;
		FILE *f;
		if ((e = tfa_tinyol_save(&agent, blob, sizeof(blob), &w)) != 0 ||
		    (f = fopen(o.save_head, "wb")) == NULL) {
			fprintf(stderr, "tinyfleet-eval: cannot save head to %s\n", o.save_head);
			goto out;
		}
		if (fwrite(blob, 1, w, f) != w) {
			fclose(f);
			goto out;
		}
		fclose(f);
		printf("saved head (%zu bytes) to %s\n", w, o.save_head);
	}
	rc = 0;
out:
	if (csv != NULL)
		fclose(csv);
	free(line);
	free(vals);
	free(x);
	free(arena);
	free(img);
	return rc;
}
