/*
 * Shared by the rollout integration tests (it_rollout.c, it_coap_rollout.c): child
 * processes, the test models (a classifier that computes the simulator's labelling rule
 * exactly, so accuracy is ~1 on clean data and ~0 once labels drift), signed versions, and
 * the operator side over mosquitto_rr (MQTT v5 request/response). Header-only; include
 * after <cmocka.h>, and set ri_broker (and ri_name, for log lines) before the first request.
 */
#ifndef TF_ROLLOUT_IT_UTIL_H
#define TF_ROLLOUT_IT_UTIL_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "broker.h"
#include "gw_testutil.h"
#include "tinyfleet/agent/infer.h"

static struct test_broker *ri_broker;     /* the test's broker: PKI and scratch dir */
static const char *ri_name = "rollout test";

static uint64_t
mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static pid_t
spawn_sh(const char *cmd)
{
	pid_t p = fork();
	assert_true(p >= 0);
	if (p == 0) {
		setpgid(0, 0);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return p;
}

static void
end_child(pid_t *p)
{
	if (*p <= 0)
		return;
	kill(-*p, SIGTERM);
	for (int i = 0; i < 250 && waitpid(*p, NULL, WNOHANG) == 0; i++)
		tu_sleep_ms(20);
	if (waitpid(*p, NULL, WNOHANG) == 0) {
		kill(-*p, SIGKILL);
		waitpid(*p, NULL, 0);
	}
	*p = 0;
}

/* The classifier; `variant` changes one weight that does not touch the four outputs, so
 * versions differ in digest but not in behaviour (and a delta between them is tiny). */
static size_t
build_model(unsigned variant, const char *version, uint8_t *out, size_t cap)
{
	static struct tb b;
	static float w1[64 * 16], w2[64 * 64], b1[64], b2[64], hw[4 * 64], hb[4];
	static uint8_t arena[4096] __attribute__((aligned(16)));
	static const float s1[1] = { 0.02f }, s2[1] = { 0.015f };
	uint32_t sh1[1] = { 1 }, sw1[2] = { 64, 16 }, sw2[2] = { 64, 64 }, sb[1] = { 64 },
	         shw[2] = { 4, 64 }, shb[1] = { 4 }, si[2] = { 4, 16 }, so[2] = { 4, 4 };
	float tin[4 * 16], tout[4 * 4];
	unsigned i_s1, i_w1, i_b1, i_s2, i_w2, i_b2, i_hw, i_hb;
	struct tfa_model m;

	for (int pass = 0; pass < 2; pass++) {
		memset(w1, 0, sizeof(w1));
		memset(w2, 0, sizeof(w2));
		memset(b1, 0, sizeof(b1));
		memset(b2, 0, sizeof(b2));
		memset(hw, 0, sizeof(hw));
		memset(hb, 0, sizeof(hb));
		for (unsigned j = 0; j < 4; j++) {
			w1[j * 16 + j] = 50;       /* x_j (scale 0.02) */
			b1[j] = 1.0f;              /* + 1 keeps it positive through relu */
			w2[j * 64 + j] = 67;       /* ~ identity (scale 0.015) */
			hw[j * 64 + j] = 10.0f;    /* a confident argmax */
		}
		w2[63 * 64 + 62] = (float)variant;
		tb_init(&b, TFP_TASK_CLASSIFY, 1, 16);
		i_s1 = tb_tensor(&b, "s1", TFP_DTYPE_FLOAT32, TFP_KIND_QSCALE, 1, sh1, s1, 0xFFFF, 0xFFFF);
		i_w1 = tb_tensor(&b, "w1", TFP_DTYPE_INT8, TFP_KIND_WEIGHT, 2, sw1, w1, i_s1, 0xFFFF);
		i_b1 = tb_tensor(&b, "b1", TFP_DTYPE_FLOAT32, TFP_KIND_BIAS, 1, sb, b1, 0xFFFF, 0xFFFF);
		i_s2 = tb_tensor(&b, "s2", TFP_DTYPE_FLOAT32, TFP_KIND_QSCALE, 1, sh1, s2, 0xFFFF, 0xFFFF);
		i_w2 = tb_tensor(&b, "w2", TFP_DTYPE_INT8, TFP_KIND_WEIGHT, 2, sw2, w2, i_s2, 0xFFFF);
		i_b2 = tb_tensor(&b, "b2", TFP_DTYPE_FLOAT32, TFP_KIND_BIAS, 1, sb, b2, 0xFFFF, 0xFFFF);
		i_hw = tb_tensor(&b, "hw", TFP_DTYPE_FLOAT32, TFP_KIND_WEIGHT, 2, shw, hw, 0xFFFF, 0xFFFF);
		i_hb = tb_tensor(&b, "hb", TFP_DTYPE_FLOAT32, TFP_KIND_BIAS, 1, shb, hb, 0xFFFF, 0xFFFF);
		if (pass == 1) {
			(void)tb_tensor(&b, "ti", TFP_DTYPE_FLOAT32, TFP_KIND_TEST_IN, 2, si, tin, 0xFFFF,
			                0xFFFF);
			(void)tb_tensor(&b, "to", TFP_DTYPE_FLOAT32, TFP_KIND_TEST_OUT, 2, so, tout,
			                0xFFFF, 0xFFFF);
		}
		tb_layer(&b, TFP_OP_DENSE, TFP_ACT_RELU, i_w1, i_b1, 1, 16, 1, 64, 0, 0, 0.0f, 0);
		tb_layer(&b, TFP_OP_DENSE, TFP_ACT_RELU, i_w2, i_b2, 1, 64, 1, 64, 0, 0, 0.0f, 0);
		tb_layer(&b, TFP_OP_DENSE, TFP_ACT_SOFTMAX, i_hw, i_hb, 1, 64, 1, 4, 0, 0, 0.0f, 0);
		tb_trainable(&b);
		tb_finish(&b, 1e-4f);
		memset(b.img + 16, 0, 56);
		memcpy(b.img + 16, "pump-anomaly", 12);
		memcpy(b.img + 48, version, strlen(version));
		assert_int_equal(tfa_model_open(&m, b.img, b.len), 0);
		if (pass == 0) {
			/* Self-test vectors from the runtime itself; and the model must compute
			 * the simulator's rule. */
			uint32_t sd = 99;
			for (unsigned v = 0; v < 4; v++) {
				const float *y;
				size_t n;
				unsigned best = 0, got = 0;
				for (unsigned i = 0; i < 16; i++) {
					sd = sd * 1664525u + 1013904223u;
					tin[v * 16 + i] = (float)((sd >> 8) % 2000) / 1000.0f - 1.0f;
				}
				assert_int_equal(tfa_infer(&m, tin + v * 16, arena, sizeof(arena), &y, &n), 0);
				assert_int_equal(n, 4);
				for (unsigned k = 1; k < 4; k++) {
					best = tin[v * 16 + k] > tin[v * 16 + best] ? k : best;
					got = y[k] > y[got] ? k : got;
				}
				assert_int_equal(got, best);
				memcpy(tout + v * 4, y, 4 * sizeof(float));
			}
		}
	}
	assert_true(b.len <= cap);
	memcpy(out, b.img, b.len);
	return b.len;
}

/* Writes <dir>/pub-<version>.json (the model.publish body) and, for the factory image, the
 * container itself. */
static void
make_version(struct tfp_cose_signer *s, unsigned variant, const char *version, uint64_t seq,
             const char *tfm_path)
{
	static struct tu_model m;
	static char body[40000];
	struct tfp_manifest mf;
	char path[256];
	size_t n;

	m.tfm_len = build_model(variant, version, m.tfm, sizeof(m.tfm));
	memset(&mf, 0, sizeof(mf));
	snprintf(mf.name, sizeof(mf.name), "pump-anomaly");
	snprintf(mf.version, sizeof(mf.version), "%s", version);
	mf.sequence = seq;
	snprintf(mf.device_class, sizeof(mf.device_class), "sim-m4");
	mf.req.min_ram = 4096;
	mf.req.min_flash = (uint32_t)m.tfm_len;
	mf.req.agent_abi = 0x00010002u;
	mf.req.n_sensors = 1;
	snprintf(mf.req.sensors[0], sizeof(mf.req.sensors[0]), "accel3");
	mbedtls_sha256_ret(m.tfm, m.tfm_len, mf.digest, 0);
	memcpy(m.digest, mf.digest, 32);
	mf.image_size = m.tfm_len;
	mf.container_version = 1;
	memcpy(mf.key_id, s->pub.kid, s->pub.kid_len);
	assert_int_equal(tfp_manifest_sign(s, &mf, m.cose, sizeof(m.cose), &m.cose_len), 0);
	n = tu_publish_body(&m, body, sizeof(body));
	snprintf(path, sizeof(path), "%s/pub-%s.json", ri_broker->dir, version);
	tu_write_file(path, body, n);
	if (tfm_path != NULL)
		tu_write_file(tfm_path, m.tfm, m.tfm_len);
}

static const char *
tls(void)
{
	static char buf[600];
	snprintf(buf, sizeof(buf), "-h 127.0.0.1 -p %d --cafile %s --cert %s", ri_broker->port,
	         test_broker_path(ri_broker, "ca.crt"), test_broker_path(ri_broker, "op-alice.crt"));
	snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), " --key %s",
	         test_broker_path(ri_broker, "op-alice.key"));
	return buf;
}

/* One request with mosquitto_rr; the answer as JSON (NULL on timeout). */
static char last_answer[200];   /* file holding the last answer */

static json_t *
rr(const char *op, const char *body_path_or_json, int is_file)
{
	static unsigned n;
	char cmd[6144], arg[3072], *out = last_answer;
	json_t *j;

	snprintf(out, sizeof(last_answer), "%s/ans-%u.json", ri_broker->dir, ++n);
	if (is_file)
		snprintf(arg, sizeof(arg), "-m \"$(cat %s)\"", body_path_or_json);
	else
		snprintf(arg, sizeof(arg), "-m '%s'", body_path_or_json);
	snprintf(cmd, sizeof(cmd),
	         "mosquitto_rr -V mqttv5 %s -q 1 -t tf/site1/api/req/%s/op-alice "
	         "-e tf/site1/api/resp/op-alice/r%u -D publish correlation-data c%u -W 10 %s "
	         "> %s 2>/dev/null",
	         tls(), op, n, n, arg, out);
	if (system(cmd) != 0)
		return NULL;
	j = json_load_file(out, 0, NULL);
	return j;
}

static json_t *
rr_ok(const char *op, const char *body, int is_file)
{
	json_t *j = rr(op, body, is_file);
	if (j == NULL || !json_is_true(json_object_get(j, "ok"))) {
		char *t = j ? json_dumps(j, 0) : NULL;
		fprintf(stderr, "%s: %s failed: %s\n", ri_name, op, t ? t : "(no answer)");
		free(t);
		fail();
	}
	return j;
}

static json_int_t
num_at(json_t *j, const char *a, const char *b, const char *c)
{
	json_t *x = json_object_get(j, a);
	if (b)
		x = json_object_get(x, b);
	if (c)
		x = json_object_get(x, c);
	return json_integer_value(x);
}

/* Polls rollout.status until its state is one of want (NULL-terminated) or timeout. */
static json_t *
wait_state(const char *id, const char *const *want, int timeout_s)
{
	char body[96];
	uint64_t until = mono_ms() + (uint64_t)timeout_s * 1000u;

	snprintf(body, sizeof(body), "{\"id\": \"%s\"}", id);
	for (;;) {
		json_t *j = rr("rollout.status", body, 0), *res;
		const char *st;
		if (j != NULL && (res = json_object_get(j, "result")) != NULL) {
			st = json_string_value(json_object_get(res, "state"));
			fprintf(stderr, "%s: %s %s wave %lld: %lld/%lld succeeded, %lld in progress, "
			        "%lld failed, %lld rolled back\n", ri_name, id, st,
			        (long long)json_integer_value(json_object_get(res, "wave")),
			        (long long)num_at(res, "totals", "succeeded", NULL),
			        (long long)num_at(res, "totals", "targeted", NULL),
			        (long long)num_at(res, "totals", "in_progress", NULL),
			        (long long)num_at(res, "totals", "failed", NULL),
			        (long long)num_at(res, "totals", "rolled_back", NULL));
			for (const char *const *w = want; st != NULL && *w != NULL; w++)
				if (strcmp(st, *w) == 0)
					return j;
		}
		json_decref(j);
		if (mono_ms() > until) {
			/* Which devices held it up, and why. */
			char q[160];
			json_t *devs;
			snprintf(q, sizeof(q), "{\"id\": \"%s\", \"devices\": true, \"limit\": 1000}",
			         id);
			j = rr("rollout.status", q, 0);
			devs = json_object_get(json_object_get(j, "result"), "devices");
			for (size_t i = 0; i < json_array_size(devs); i++) {
				json_t *d = json_array_get(devs, i);
				const char *ds = json_string_value(json_object_get(d, "state"));
				if (ds != NULL && strcmp(ds, "succeeded") != 0) {
					char *text = json_dumps(d, JSON_COMPACT);
					fprintf(stderr, "%s: %s not succeeded: %s\n", ri_name, id,
					        text != NULL ? text : "?");
					free(text);
				}
			}
			json_decref(j);
			fail_msg("rollout %s did not reach the wanted state in %d s", id, timeout_s);
		}
		tu_sleep_ms(1000);
	}
}

#endif
