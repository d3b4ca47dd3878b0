/*
 * A mixed fleet takes a staged rollout: a real Mosquitto (PKI + ACL), the real tinyfleetd
 * with its CoAP/DTLS endpoint, 10 simulated devices on MQTT and 10 on CoAP (two
 * tinyfleet-sim processes, --transport mqtt|coap), all learning on a data stream and
 * reporting telemetry, and an operator speaking the MQTT v5 API with mosquitto_rr. A
 * 3-wave rollout (canary of 4, then 50 %, then 100 %) completes on all 20 devices: the
 * engine offers each device the version over the transport it last spoke on (the CoAP
 * devices never touch the broker), and the devices' telemetry reaches the monitor over both.
 *
 * The model builder and the mosquitto_rr helpers are those of it_rollout.c.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "broker.h"
#include "gw_testutil.h"
#include "tinyfleet/agent/infer.h"

#define DEVICES 20
#define MQTT_DEVICES 10
#define CANARY 4

struct ctx {
	struct test_broker broker;
	char conf[160], state[160];
	pid_t daemon, sim_mqtt, sim_coap;
	int coap_port;
	uint64_t t0;
};

static struct ctx C;
static int started;

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
	snprintf(path, sizeof(path), "%s/pub-%s.json", C.broker.dir, version);
	tu_write_file(path, body, n);
	if (tfm_path != NULL)
		tu_write_file(tfm_path, m.tfm, m.tfm_len);
}

static const char *
tls(void)
{
	static char buf[600];
	snprintf(buf, sizeof(buf), "-h 127.0.0.1 -p %d --cafile %s --cert %s", C.broker.port,
	         test_broker_path(&C.broker, "ca.crt"), test_broker_path(&C.broker, "op-alice.crt"));
	snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), " --key %s",
	         test_broker_path(&C.broker, "op-alice.key"));
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

	snprintf(out, sizeof(last_answer), "%s/ans-%u.json", C.broker.dir, ++n);
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
		fprintf(stderr, "it_coap_rollout: %s failed: %s\n", op, t ? t : "(no answer)");
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
			fprintf(stderr, "it_coap_rollout: %s %s wave %lld: %lld/%lld succeeded, %lld in progress, "
			        "%lld failed, %lld rolled back\n", id, st,
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
		if (mono_ms() > until)
			fail_msg("rollout %s did not reach the wanted state in %d s", id, timeout_s);
		tu_sleep_ms(1000);
	}
}


static int
free_udp_port(void)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int s = socket(AF_INET, SOCK_DGRAM, 0), port;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
	port = ntohs(a.sin_port);
	close(s);
	return port;
}

static void
start_all(void)
{
	struct tfp_cose_signer s;
	char cmd[2048], tfm[200];
	FILE *f;

	assert_int_equal(test_broker_start(&C.broker, DEVICES), 0);
	started = 1;
	tu_signer_init(&s);
	snprintf(tfm, sizeof(tfm), "%s/v1.tfm", C.broker.dir);
	make_version(&s, 1, "1.0.0", 1, tfm);
	make_version(&s, 2, "1.1.0", 2, NULL);
	tfp_cose_signer_free(&s);

	C.coap_port = free_udp_port();
	snprintf(C.conf, sizeof(C.conf), "%s/gw.conf", C.broker.dir);
	snprintf(C.state, sizeof(C.state), "%s/state", C.broker.dir);
	f = fopen(C.conf, "w");
	assert_non_null(f);
	fprintf(f, "site = site1\nstate_dir = %s\nmqtt.uri = %s\nmqtt.ca = %s\n", C.state,
	        C.broker.uri, test_broker_path(&C.broker, "ca.crt"));
	fprintf(f, "mqtt.cert = %s\nmqtt.key = %s\nstore.map_size_mb = 128\nstore.reserve_mb = 8\n",
	        test_broker_path(&C.broker, "gateway.crt"),
	        test_broker_path(&C.broker, "gateway.key"));
	fprintf(f, "release_keys = %s/tests/interop/keys/release-test.pub.pem\n", TF_SOURCE_DIR);
	fprintf(f, "coap.listen = 127.0.0.1:%d\n", C.coap_port);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "exec %s -f %s 2> %s/tinyfleetd.log", TF_TINYFLEETD, C.conf,
	         C.broker.dir);
	C.daemon = spawn_sh(cmd);
	/* dev-0001..0010 on MQTT, dev-0011..0020 on CoAP: the same simulator, two transports. */
	snprintf(cmd, sizeof(cmd),
	         "exec %s --pki %s --port %d --devices %d --first 1 --model %s --release-pub "
	         "%s/tests/interop/keys/release-test.pub.pem --timeout 60 --ramp 100 "
	         "--duration 300 --sample-ms 50 --every 20 > %s/sim-mqtt.log 2>&1",
	         TF_SIM, C.broker.pki, C.broker.port, MQTT_DEVICES, tfm, TF_SOURCE_DIR,
	         C.broker.dir);
	C.t0 = mono_ms();
	C.sim_mqtt = spawn_sh(cmd);
	snprintf(cmd, sizeof(cmd),
	         "exec %s --pki %s --host 127.0.0.1 --transport coap --coap-port %d --devices %d "
	         "--first %d --model %s --release-pub %s/tests/interop/keys/release-test.pub.pem "
	         "--timeout 60 --ramp 100 --duration 300 --sample-ms 50 --every 20 "
	         "> %s/sim-coap.log 2>&1",
	         TF_SIM, C.broker.pki, C.coap_port, DEVICES - MQTT_DEVICES, MQTT_DEVICES + 1, tfm,
	         TF_SOURCE_DIR, C.broker.dir);
	C.sim_coap = spawn_sh(cmd);
}

static void
stop_all(void)
{
	if (!started)
		return;
	started = 0;
	end_child(&C.sim_mqtt);
	end_child(&C.sim_coap);
	end_child(&C.daemon);
	if (getenv("TF_KEEP") == NULL)
		test_broker_destroy(&C.broker);
	else
		test_broker_stop(&C.broker);
}

static void
test_mixed_staged_rollout(void **state)
{
	static const char *const done[] = { "completed", "paused", "rolled_back", "aborted", NULL };
	char path[200], body[2048];
	json_t *j, *res, *waves;
	uint64_t until;

	(void)state;
	start_all();
	for (const char *v = "1.0.0"; v != NULL; v = strcmp(v, "1.0.0") == 0 ? "1.1.0" : NULL) {
		tu_sleep_ms(strcmp(v, "1.0.0") == 0 ? 1500 : 0);
		snprintf(path, sizeof(path), "%s/pub-%s.json", C.broker.dir, v);
		json_decref(rr_ok("model.publish", path, 1));
	}
	/* Every device online (its hello reached the registry, by either transport). */
	until = mono_ms() + 60000;
	for (;;) {
		j = rr("fleet.status", "{}", 0);
		if (j != NULL && num_at(json_object_get(j, "result"), "devices", "online", NULL) ==
		                         DEVICES) {
			json_decref(j);
			break;
		}
		json_decref(j);
		assert_true(mono_ms() < until);
		tu_sleep_ms(1000);
	}
	/* Telemetry from a CoAP device and an MQTT device reached the monitor. */
	until = mono_ms() + 30000;
	for (const char *id = "dev-0011"; id != NULL;) {
		char q[64];
		snprintf(q, sizeof(q), "{\"id\": \"%s\"}", id);
		j = rr("device.get", q, 0);
		res = j != NULL ? json_object_get(json_object_get(j, "result"), "metrics") : NULL;
		if (res != NULL && json_integer_value(json_object_get(res, "samples")) > 0) {
			fprintf(stderr, "it_coap_rollout: %s reports telemetry (%lld samples)\n", id,
			        (long long)json_integer_value(json_object_get(res, "samples")));
			id = strcmp(id, "dev-0011") == 0 ? "dev-0001" : NULL;
		} else {
			assert_true(mono_ms() < until);
			tu_sleep_ms(500);
		}
		json_decref(j);
	}
	fprintf(stderr, "it_coap_rollout: %d devices online (%d MQTT, %d CoAP) after %.1f s\n",
	        DEVICES, MQTT_DEVICES, DEVICES - MQTT_DEVICES, (double)(mono_ms() - C.t0) / 1000.0);

	snprintf(body, sizeof(body),
	         "{\"id\": \"mixed-1.1.0\", \"model\": \"pump-anomaly\", \"version\": \"1.1.0\", "
	         "\"target\": {\"classes\": [\"sim-m4\"]}, \"waves\": {\"canary\": {\"count\": %d}, "
	         "\"stages\": [50, 100]}, \"max_in_flight\": 20, \"success_threshold\": 100, "
	         "\"settle_seconds\": 2, \"retry\": {\"max_attempts\": 3, \"backoff_seconds\": 1}, "
	         "\"on_gate_failure\": \"pause\"}",
	         CANARY);
	json_decref(rr_ok("rollout.create", body, 0));
	json_decref(rr_ok("rollout.start", "{\"id\": \"mixed-1.1.0\"}", 0));
	j = wait_state("mixed-1.1.0", done, 150);
	res = json_object_get(j, "result");
	assert_string_equal(json_string_value(json_object_get(res, "state")), "completed");
	assert_int_equal(num_at(res, "totals", "succeeded", NULL), DEVICES);
	waves = json_object_get(res, "waves");
	assert_int_equal(json_array_size(waves), 3);
	assert_int_equal(num_at(json_array_get(waves, 0), "devices", NULL, NULL), CANARY);
	printf("it_coap_rollout: rollout mixed-1.1.0 completed on %d devices (%d MQTT, %d CoAP) "
	       "in 3 waves, %.1f s since start; bytes sent %lld\n", DEVICES, MQTT_DEVICES,
	       DEVICES - MQTT_DEVICES, (double)(mono_ms() - C.t0) / 1000.0,
	       (long long)num_at(res, "bytes", "sent", NULL));
	json_decref(j);
	/* Each CoAP device runs the new version: ask the registry. */
	for (int i = MQTT_DEVICES + 1; i <= DEVICES; i++) {
		char q[64];
		snprintf(q, sizeof(q), "{\"id\": \"dev-%04d\"}", i);
		j = rr_ok("device.get", q, 0);
		assert_string_equal(json_string_value(json_object_get(
		                            json_object_get(json_object_get(j, "result"), "model"),
		                            "version")),
		                    "1.1.0");
		json_decref(j);
	}
}

static int
teardown(void **state)
{
	(void)state;
	stop_all();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_mixed_staged_rollout, teardown),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
