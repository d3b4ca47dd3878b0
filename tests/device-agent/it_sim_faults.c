/*
 * Integration: tinyfleet-sim (the real program, as a child process) against a real
 * Mosquitto with the project's PKI and ACL, with its fault injection on; the test plays the
 * gateway through libmosquitto (gw-site1): it offers a signed delta update v1 -> v2 to every
 * device, serves the chunk requests, and offers again (same command id while the device
 * works on it, a new one after a failure or a duplicate) whenever a device has been silent
 * for a while. Then it reads the simulator's --summary.
 *
 *   power cuts: random cuts at 4 % of the flash operations (up to 4 per device), one TLS
 *     context per device. Every device ends on v2, CONFIRMED, none bricked, each updated
 *     exactly once (updates_completed = 1) although cuts hit the update; repeating the
 *     confirming command is answered as a duplicate and counted.
 *   flaky links: half the devices lose their link 20 times a minute, hold every message
 *     200 ms and lose 30 % of their telemetry; a cut at the 5th flash operation of half
 *     the devices. The update still completes everywhere; a config command re-sent until it
 *     is answered is applied exactly once per device (configs = 1).
 */
#define _POSIX_C_SOURCE 200809L

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <mosquitto.h>

#include "../gateway/broker.h"
#include "ota_test_util.h"
#include "tinyfleet/protocol/msg_state.h"

#define NDEV 8
#define QUIET_MS 2500u       /* no word from a device for this long: offer again */
#define RUN_MS 90000u        /* each scenario must finish within this */

static struct tfp_cose_signer signer;
static struct model_img v1, v2;
static struct test_broker broker;
static pid_t sim_pid;          /* the running simulator (ended by its PID) */
static char sim_summary[128];

struct dev {
	char id[16];
	uint64_t cmd;              /* the offer's command id in use */
	uint64_t confirmed_cmd;    /* command whose result was CONFIRMED (0: not seen) */
	uint64_t last_heard;       /* report, chunk request or state */
	uint64_t last_offer;
	int on_v2;                 /* state: active slot CONFIRMED with v2's digest */
	int confirmed_results, duplicate_results;
	uint64_t cfg_cmd;
	int cfg_answered;          /* CONFIG_APPLIED or DUPLICATE seen for cfg_cmd */
};

static struct gw {
	struct mosquitto *m;
	struct dev dev[NDEV];
	uint8_t offer[TFP_MANIFEST_MAX + TFP_COMMAND_WIRE_OVERHEAD];
	struct signed_manifest sm;
	uint8_t *patch;
	size_t patch_len;
	uint8_t obj_id[TFP_DIGEST_LEN];
	unsigned chunks, offers, states;
} gw;

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* "tf/site1/dev/<id>/<rest>": the device index, and *rest. */
static struct dev *
dev_of(const char *topic, const char **rest)
{
	const char *p = topic + strlen("tf/site1/dev/"), *slash = strchr(p, '/');

	if (strncmp(topic, "tf/site1/dev/", 13) != 0 || slash == NULL)
		return NULL;
	for (unsigned i = 0; i < NDEV; i++) {
		if (strlen(gw.dev[i].id) == (size_t)(slash - p) &&
		    strncmp(gw.dev[i].id, p, (size_t)(slash - p)) == 0) {
			*rest = slash + 1;
			return &gw.dev[i];
		}
	}
	return NULL;
}

static void
publish(const struct dev *d, const char *what, const uint8_t *buf, size_t len)
{
	char topic[96];

	snprintf(topic, sizeof(topic), "tf/site1/dev/%s/%s", d->id, what);
	assert_int_equal(mosquitto_publish(gw.m, NULL, topic, (int)len, buf, 1, false),
	                 MOSQ_ERR_SUCCESS);
}

static void
send_offer(struct dev *d)
{
	struct tfp_command c;
	size_t len;

	offer_cmd(&c, d->cmd, &gw.sm, TFP_FETCH_DELTA, gw.patch, gw.patch_len, v1.digest);
	c.u.update.chunk_size = 256;
	assert_int_equal(tfp_command_encode(&c, gw.offer, sizeof(gw.offer), &len), 0);
	publish(d, "cmd", gw.offer, len);
	d->last_offer = mono_ms();
	gw.offers++;
}

static void
send_config(const struct dev *d)
{
	struct tfp_command c;
	uint8_t buf[TFP_COMMAND_WIRE_OVERHEAD];
	size_t len;

	memset(&c, 0, sizeof(c));
	c.type = TFP_MSG_CONFIG;
	c.command_id = d->cfg_cmd;
	c.u.config.present = TFP_CFG_TELEMETRY_SAMPLES | TFP_CFG_PH_LAMBDA;
	c.u.config.telemetry_samples = 10;
	c.u.config.ph_lambda = 20.0f;
	assert_int_equal(tfp_command_encode(&c, buf, sizeof(buf), &len), 0);
	publish(d, "cmd", buf, len);
}

static void
on_result(struct dev *d, const struct tfp_report *r)
{
	if (getenv("TF_DEBUG"))
		fprintf(stderr, "%s: result cmd %llu phase %d reason %s err %d\n", d->id,
		        (unsigned long long)r->command_id, r->phase, tfp_reason_str(r->reason),
		        r->error);
	if (d->cfg_cmd != 0 && r->command_id == d->cfg_cmd) {
		if (r->reason == TFP_REASON_CONFIG_APPLIED || r->reason == TFP_REASON_DUPLICATE)
			d->cfg_answered = 1;
		else
			fail_msg("%s: config answered %s", d->id, tfp_reason_str(r->reason));
		return;
	}
	if (r->reason == TFP_REASON_CONFIRMED) {
		d->confirmed_results++;
		d->confirmed_cmd = r->command_id;
		d->on_v2 = 1;
	} else if (r->reason == TFP_REASON_DUPLICATE) {
		d->duplicate_results++;
		if (r->command_id == d->cmd && !d->on_v2)
			d->cmd++;            /* that attempt ended (reverted) before: a new one */
	} else if (r->reason != TFP_REASON_BUSY && r->command_id == d->cmd && !d->on_v2) {
		d->cmd++;                    /* failed or reverted: the next attempt, a new id */
	}
}

static void
gw_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
	const uint8_t *p = msg->payload;
	size_t len = (size_t)msg->payloadlen;
	const char *rest;
	struct dev *d = dev_of(msg->topic, &rest);

	(void)m;
	(void)obj;
	if (d == NULL || len == 0)
		return;
	if (strcmp(rest, "state") == 0) {
		struct tfp_state s;
		assert_int_equal(tfp_state_decode(p, len, &s), 0);
		d->on_v2 = s.slots[s.active_slot].state == TFP_SLOT_CONFIRMED &&
		           memcmp(s.slots[s.active_slot].digest, v2.digest, TFP_DIGEST_LEN) == 0;
		d->last_heard = 0;           /* (re)connected: offer at once if needed */
		gw.states++;
	} else if (strcmp(rest, "report") == 0) {
		struct tfp_report r;
		assert_int_equal(tfp_report_decode(p, len, &r), 0);
		d->last_heard = mono_ms();
		if (r.type == TFP_MSG_RESULT)
			on_result(d, &r);
	} else if (strcmp(rest, "chunk/req") == 0) {
		struct tfp_chunk_request q;
		struct tfp_chunk_response r;
		static uint8_t out[TFP_CHUNK_MAX + TFP_CHUNK_RESPONSE_WIRE_OVERHEAD];
		size_t olen;
		assert_int_equal(tfp_chunk_request_decode(p, len, &q), 0);
		assert_memory_equal(q.object_id, gw.obj_id, TFP_DIGEST_LEN);
		d->last_heard = mono_ms();
		memset(&r, 0, sizeof(r));
		memcpy(r.object_id, gw.obj_id, TFP_DIGEST_LEN);
		r.offset = q.offset < gw.patch_len ? q.offset : (uint32_t)gw.patch_len;
		r.total = (uint32_t)gw.patch_len;
		r.len = r.offset + q.length <= gw.patch_len ? q.length : gw.patch_len - r.offset;
		r.data = gw.patch + r.offset;
		assert_int_equal(tfp_chunk_response_encode(&r, out, sizeof(out), &olen), 0);
		publish(d, "chunk/resp", out, olen);
		gw.chunks++;
	}
}

static void
pump(unsigned ms)
{
	uint64_t end = mono_ms() + ms;

	while (mono_ms() < end)
		assert_int_equal(mosquitto_loop(gw.m, 10, 1), MOSQ_ERR_SUCCESS);
}

static pid_t
start_sim(const char *summary, const char *const *extra)
{
	char port[16], model[128], n[8];
	const char *argv[64];
	unsigned k = 0;
	pid_t pid;

	snprintf(port, sizeof(port), "%d", broker.port);
	snprintf(model, sizeof(model), "%s/v1.tfm", broker.dir);
	snprintf(n, sizeof(n), "%d", NDEV);
	argv[k++] = TF_SIM_PATH;
	argv[k++] = "--pki";
	argv[k++] = broker.pki;
	argv[k++] = "--devices";
	argv[k++] = n;
	argv[k++] = "--port";
	argv[k++] = port;
	argv[k++] = "--model";
	argv[k++] = model;
	argv[k++] = "--release-pub";
	argv[k++] = KEYS "release-test.pub.pem";
	argv[k++] = "--class";
	argv[k++] = R_CLASS;
	argv[k++] = "--duration";
	argv[k++] = "600";
	argv[k++] = "--timeout";
	argv[k++] = "60";
	argv[k++] = "--ramp";
	argv[k++] = "50";
	argv[k++] = "--sample-ms";
	argv[k++] = "100";
	argv[k++] = "--summary";
	argv[k++] = summary;
	while (*extra != NULL)
		argv[k++] = *extra++;
	argv[k] = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	sim_pid = pid;
	snprintf(sim_summary, sizeof(sim_summary), "%s", summary);
	return pid;
}

static json_t *
stop_sim(pid_t pid, const char *summary)
{
	json_error_t err;
	json_t *j;
	int status;

	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	sim_pid = 0;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);   /* all connected; no sanitizer report */
	j = json_load_file(summary, 0, &err);
	if (j == NULL)
		fail_msg("summary %s: %s", summary, err.text);
	return j;
}

static int
all(int (*pred)(const struct dev *))
{
	for (unsigned i = 0; i < NDEV; i++)
		if (!pred(&gw.dev[i]))
			return 0;
	return 1;
}

static int
is_on_v2(const struct dev *d)
{
	return d->on_v2;
}

static int
cfg_done(const struct dev *d)
{
	return d->cfg_answered;
}

/* Offers until every device runs v2 (and, with configs, answered its config). */
static void
run_update(int with_config)
{
	uint64_t start = mono_ms();

	for (unsigned i = 0; i < NDEV; i++) {
		snprintf(gw.dev[i].id, sizeof(gw.dev[i].id), "dev-%04u", i + 1);
		gw.dev[i].cmd = 1000u * (i + 1);
		gw.dev[i].cfg_cmd = with_config ? 500000u + i : 0;
	}
	while (!all(is_on_v2) || (with_config && !all(cfg_done))) {
		uint64_t now = mono_ms();
		if (now - start > RUN_MS) {
			for (unsigned i = 0; i < NDEV; i++)
				if (!gw.dev[i].on_v2)
					fprintf(stderr, "%s: not on v2 (offer id %llu)\n", gw.dev[i].id,
					        (unsigned long long)gw.dev[i].cmd);
			fail_msg("not done after %u s: %u offers, %u chunks served", RUN_MS / 1000,
			         gw.offers, gw.chunks);
		}
		for (unsigned i = 0; i < NDEV; i++) {
			struct dev *d = &gw.dev[i];
			if (now - d->last_heard < QUIET_MS || now - d->last_offer < QUIET_MS)
				continue;
			if (!d->on_v2)
				send_offer(d);
			else if (with_config && !d->cfg_answered)
				send_config(d);
			d->last_heard = now;
			d->last_offer = now;
		}
		pump(100);
	}
}

/* Every device in the summary runs v2, is not bricked, was updated exactly once. */
static json_t *
check_summary(json_t *j, unsigned *cuts)
{
	char hex[2 * TFP_DIGEST_LEN + 1];
	json_t *devs = json_object_get(j, "devices"), *d;
	size_t i;

	for (unsigned k = 0; k < TFP_DIGEST_LEN; k++)
		snprintf(hex + 2 * k, 3, "%02x", v2.digest[k]);
	assert_int_equal(json_array_size(devs), NDEV);
	*cuts = 0;
	json_array_foreach(devs, i, d) {
		const char *id = json_string_value(json_object_get(d, "id"));
		json_t *model = json_object_get(d, "model");
		assert_non_null(id);
		assert_false(json_is_true(json_object_get(d, "bricked")));
		assert_string_equal(json_string_value(json_object_get(model, "digest")), hex);
		assert_int_equal(json_integer_value(json_object_get(model, "sequence")), 2);
		if (json_integer_value(json_object_get(d, "updates_completed")) != 1)
			fail_msg("%s updated %lld times", id,
			         (long long)json_integer_value(json_object_get(d, "updates_completed")));
		*cuts += (unsigned)json_integer_value(json_object_get(d, "power_cuts"));
	}
	return devs;
}

static void
gw_connect(void)
{
	char ca[160], crt[160], key[160];

	snprintf(ca, sizeof(ca), "%s", test_broker_path(&broker, "ca.crt"));
	snprintf(crt, sizeof(crt), "%s", test_broker_path(&broker, "gateway.crt"));
	snprintf(key, sizeof(key), "%s", test_broker_path(&broker, "gateway.key"));
	memset(gw.dev, 0, sizeof(gw.dev));
	gw.offers = gw.chunks = gw.states = 0;
	gw.m = mosquitto_new("gw-site1", true, &gw);
	assert_non_null(gw.m);
	mosquitto_message_callback_set(gw.m, gw_message);
	assert_int_equal(mosquitto_tls_set(gw.m, ca, NULL, crt, key, NULL), MOSQ_ERR_SUCCESS);
	assert_int_equal(mosquitto_connect(gw.m, "127.0.0.1", broker.port, 30), MOSQ_ERR_SUCCESS);
	assert_int_equal(mosquitto_subscribe(gw.m, NULL, "tf/site1/dev/#", 1), MOSQ_ERR_SUCCESS);
}

static void
gw_disconnect(void)
{
	mosquitto_disconnect(gw.m);
	mosquitto_destroy(gw.m);
	gw.m = NULL;
}

static void
test_power_cuts(void **state)
{
	static const char *const extra[] = { "--tls-per-device", "--power-cut-rate", "0.04",
		                             "--power-cut-max", "4", "--seed", "3", NULL };
	char summary[128];
	unsigned cuts, dups = 0;
	json_t *j, *devs, *d;
	size_t i;
	pid_t pid;
	(void)state;

	snprintf(summary, sizeof(summary), "%s/cuts.json", broker.dir);
	gw_connect();
	pid = start_sim(summary, extra);
	run_update(0);
	/* The confirming command again: a duplicate, not a second update. */
	for (unsigned k = 0; k < NDEV; k++) {
		if (gw.dev[k].confirmed_cmd == 0)
			continue;   /* its result was lost in a cut right after the confirm */
		gw.dev[k].cmd = gw.dev[k].confirmed_cmd;
		send_offer(&gw.dev[k]);
		dups++;
	}
	for (int t = 0; t < 100; t++) {
		unsigned missing = 0;
		for (unsigned k = 0; k < NDEV; k++)
			missing += gw.dev[k].confirmed_cmd != 0 && gw.dev[k].duplicate_results == 0;
		if (missing == 0)
			break;
		pump(100);
	}
	j = stop_sim(pid, summary);
	devs = check_summary(j, &cuts);
	json_array_foreach(devs, i, d) {
		if (gw.dev[i].confirmed_cmd != 0)
			assert_true(json_integer_value(json_object_get(d, "duplicates")) >= 1);
	}
	printf("# power cuts: %u devices on v2 (confirmed, none bricked, each updated once) after "
	       "%u cuts; %u offers, %u chunks served; %u repeated confirms answered duplicate\n",
	       NDEV, cuts, gw.offers, gw.chunks, dups);
	assert_true(cuts >= NDEV / 2);
	json_decref(j);
	gw_disconnect();
}

static void
test_flaky_links(void **state)
{
	static const char *const extra[] = { "--flaky-share", "50", "--drop-rate", "20",
		                             "--delay-ms", "200", "--qos0-loss", "30",
		                             "--power-cut-at", "5", "--power-cut-share", "50",
		                             "--seed", "5", NULL };
	char summary[128];
	unsigned cuts, drops = 0;
	json_t *j, *devs, *d;
	size_t i;
	pid_t pid;
	(void)state;

	snprintf(summary, sizeof(summary), "%s/flaky.json", broker.dir);
	gw_connect();
	pid = start_sim(summary, extra);
	run_update(1);
	pump(500);
	j = stop_sim(pid, summary);
	devs = check_summary(j, &cuts);
	json_array_foreach(devs, i, d) {
		/* Re-sent until answered, applied exactly once. */
		assert_int_equal(json_integer_value(json_object_get(d, "configs")), 1);
		drops += (unsigned)json_integer_value(json_object_get(d, "link_drops"));
	}
	printf("# flaky links: %u devices on v2 and configured once, after %u injected link "
	       "drops and %u power cuts; %u offers, %u chunks served\n",
	       NDEV, drops, cuts, gw.offers, gw.chunks);
	assert_true(drops >= 1);
	assert_true(cuts >= 1);
	json_decref(j);
	gw_disconnect();
}

/* After each test: a simulator left running by a failure is stopped (by its PID) and its
 * summary shown. */
static int
test_end(void **state)
{
	int status;

	(void)state;
	if (sim_pid > 0) {
		kill(sim_pid, SIGTERM);
		waitpid(sim_pid, &status, 0);
		sim_pid = 0;
		if (getenv("TF_DEBUG") != NULL) {
			char cmd[200];
			snprintf(cmd, sizeof(cmd), "cat %s >&2", sim_summary);
			if (system(cmd) != 0)
				fprintf(stderr, "no summary\n");
		}
	}
	if (gw.m != NULL)
		gw_disconnect();
	return 0;
}

static int
setup(void **state)
{
	char path[128];
	FILE *f;

	(void)state;
	load_release_signer(&signer);
	make_model(&v1, 0, 0);
	make_model(&v2, 1, 0);
	if (test_broker_start(&broker, NDEV) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/v1.tfm", broker.dir);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(v1.img, 1, v1.len, f) != v1.len || fclose(f) != 0)
		return -1;
	{
		struct tfp_manifest m;
		manifest_for(&m, &signer, &v2, 2, "1.1.0");
		sign_manifest(&signer, &m, &gw.sm);
	}
	gw.patch = make_patch(&v1, &v2, TFP_DELTA_ENC_AUTO, &gw.patch_len);
	assert_int_equal(mbedtls_sha256_ret(gw.patch, gw.patch_len, gw.obj_id, 0), 0);
	mosquitto_lib_init();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	free(gw.patch);
	mosquitto_lib_cleanup();
	test_broker_destroy(&broker);
	tfp_cose_signer_free(&signer);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_power_cuts, test_end),
		cmocka_unit_test_teardown(test_flaky_links, test_end),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
