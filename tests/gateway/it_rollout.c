/*
 * Rollouts end to end: a real Mosquitto (PKI + ACL), the real tinyfleetd, 200 simulated
 * devices (tinyfleet-sim, one process, each device with its own certificate, flash and OTA
 * core, learning on a data stream) and an operator speaking the MQTT v5 API with
 * mosquitto_rr.
 *
 *  1. A 3-wave rollout (canary of 10, then 50 %, then 100 %) of version 1.1.0 completes:
 *     every one of the 200 devices succeeded (confirmed, settled, quality held), and the
 *     status reports the bytes sent against the full-image bytes.
 *  2. A second rollout (1.2.0) is a model that is bad for the data the devices see: the
 *     simulator runs with --drift-version 1.2.0 --drift-at 5, so a device's data drifts
 *     (labels rotate) from 5 s after it started running 1.2.0, i.e. after the install, and
 *     only while it runs 1.2.0. The devices' drift detectors raise alarms that reach the
 *     gateway as drift.alert events, and the quality gate, here with its drift-alarm rule
 *     alone (a new alarm against each device's own pre-update baseline; no accuracy limit,
 *     so the device's alarms are what trips it), fails in wave 0 (the 30 s settle window
 *     outlasts the 5 s): the canary is rolled back to its
 *     previous slot, the rollout pauses, and no device outside the canary was ever offered
 *     the version (update.progress "offered" events and per-device status).
 *
 * The models are built here: a 16 -> 64 -> 64 -> 4 classifier that computes exactly the
 * simulator's labelling rule (the strongest of the first four inputs), so a device's
 * accuracy is ~1 on clean data and ~0 on drifted data.
 */
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
#include "rollout_it_util.h"

#define DEVICES 200
#define CANARY 10

struct ctx {
	struct test_broker broker;
	char conf[160], state[160], events[160];
	pid_t daemon, sim, sub;
	uint64_t t0;
};

static struct ctx C;
static int started;

static int
str_is(json_t *v, const char *s)
{
	const char *x = json_string_value(v);
	return x != NULL && strcmp(x, s) == 0;
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
	make_version(&s, 3, "1.2.0", 3, NULL);
	tfp_cose_signer_free(&s);

	snprintf(C.conf, sizeof(C.conf), "%s/gw.conf", C.broker.dir);
	snprintf(C.state, sizeof(C.state), "%s/state", C.broker.dir);
	snprintf(C.events, sizeof(C.events), "%s/events.jsonl", C.broker.dir);
	f = fopen(C.conf, "w");
	assert_non_null(f);
	fprintf(f, "site = site1\nstate_dir = %s\nmqtt.uri = %s\nmqtt.ca = %s\n", C.state,
	        C.broker.uri, test_broker_path(&C.broker, "ca.crt"));
	fprintf(f, "mqtt.cert = %s\nmqtt.key = %s\nstore.map_size_mb = 128\nstore.reserve_mb = 8\n",
	        test_broker_path(&C.broker, "gateway.crt"),
	        test_broker_path(&C.broker, "gateway.key"));
	fprintf(f, "release_keys = %s/tests/interop/keys/release-test.pub.pem\n", TF_SOURCE_DIR);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "exec %s -f %s 2> %s/tinyfleetd.log", TF_TINYFLEETD, C.conf,
	         C.broker.dir);
	C.daemon = spawn_sh(cmd);
	snprintf(cmd, sizeof(cmd),
	         "exec stdbuf -oL mosquitto_sub -V mqttv5 %s -q 1 -t 'tf/site1/events/#' > %s "
	         "2>/dev/null",
	         tls(), C.events);
	C.sub = spawn_sh(cmd);
	snprintf(cmd, sizeof(cmd),
	         "exec %s --pki %s --port %d --devices %d --model %s --release-pub "
	         "%s/tests/interop/keys/release-test.pub.pem --timeout 60 --ramp 100 "
	         "--duration 300 --sample-ms 50 --every 20 --drift-version 1.2.0 --drift-at 5 "
	         "> %s/sim.log 2>&1",
	         TF_SIM, C.broker.pki, C.broker.port, DEVICES, tfm, TF_SOURCE_DIR, C.broker.dir);
	C.t0 = mono_ms();
	C.sim = spawn_sh(cmd);
}

static void
stop_all(void)
{
	if (!started)
		return;
	started = 0;
	end_child(&C.sim);
	end_child(&C.sub);
	end_child(&C.daemon);
	if (getenv("TF_KEEP") == NULL)
		test_broker_destroy(&C.broker);
	else
		test_broker_stop(&C.broker);
}

static void
test_rollouts(void **state)
{
	static const char *const done[] = { "completed", "paused", "rolled_back", "aborted", NULL };
	static const char *const paused[] = { "paused", "rolled_back", "completed", NULL };
	char path[200], body[2048];
	json_t *j, *res, *waves, *devs, *x;
	size_t i;
	uint64_t until;
	char docs[5][240], cmd[2048];
	int drift_failed;

	ri_broker = &C.broker;
	ri_name = "it_rollout";

	(void)state;
	start_all();
	for (const char *v = "1.0.0"; v != NULL; v = strcmp(v, "1.0.0") == 0 ? "1.1.0"
	                                       : strcmp(v, "1.1.0") == 0 ? "1.2.0" : NULL) {
		tu_sleep_ms(strcmp(v, "1.0.0") == 0 ? 1500 : 0);
		snprintf(path, sizeof(path), "%s/pub-%s.json", C.broker.dir, v);
		json_decref(rr_ok("model.publish", path, 1));
	}
	/* All devices online (they said hello) before the rollout picks its targets. */
	until = mono_ms() + 90000;
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
	fprintf(stderr, "it_rollout: %d devices online after %.1f s\n", DEVICES,
	        (double)(mono_ms() - C.t0) / 1000.0);

	/* 1. Three waves: a canary of 10, then 50 %, then everyone. */
	snprintf(body, sizeof(body),
	         "{\"id\": \"good-1.1.0\", \"model\": \"pump-anomaly\", \"version\": \"1.1.0\", "
	         "\"target\": {\"classes\": [\"sim-m4\"]}, \"waves\": {\"canary\": {\"count\": %d}, "
	         "\"stages\": [50, 100]}, \"max_in_flight\": 100, \"success_threshold\": 100, "
	         "\"settle_seconds\": 2, \"retry\": {\"max_attempts\": 3, \"backoff_seconds\": 1}, "
	         "\"gates\": {\"quality\": {\"min_samples\": 40, \"max_accuracy_drop\": 0.3, "
	         "\"drift_alarm\": false}}, \"on_gate_failure\": \"pause\"}",
	         CANARY);
	j = rr_ok("rollout.create", body, 0);
	assert_true(json_is_true(json_object_get(json_object_get(j, "result"), "created")));
	json_decref(j);
	snprintf(docs[0], sizeof(docs[0]), "rollout-create-response=%s", last_answer);
	/* Idempotent create: the same definition again answers the same rollout. */
	j = rr_ok("rollout.create", body, 0);
	assert_false(json_is_true(json_object_get(json_object_get(j, "result"), "created")));
	json_decref(j);
	json_decref(rr_ok("rollout.start", "{\"id\": \"good-1.1.0\"}", 0));
	j = wait_state("good-1.1.0", done, 120);
	snprintf(docs[1], sizeof(docs[1]), "rollout-status-response=%s", last_answer);
	res = json_object_get(j, "result");
	assert_string_equal(json_string_value(json_object_get(res, "state")), "completed");
	assert_int_equal(num_at(res, "totals", "succeeded", NULL), DEVICES);
	waves = json_object_get(res, "waves");
	assert_int_equal(json_array_size(waves), 3);
	assert_int_equal(num_at(json_array_get(waves, 0), "devices", NULL, NULL), CANARY);
	assert_int_equal(num_at(json_array_get(waves, 1), "devices", NULL, NULL), 90);
	assert_int_equal(num_at(json_array_get(waves, 2), "devices", NULL, NULL), 100);
	/* A delta update: the model-aware patches are a small fraction of the images. */
	assert_true(num_at(res, "bytes", "sent", NULL) > 0);
	assert_true(num_at(res, "bytes", "sent", NULL) * 10 <
	            num_at(res, "bytes", "full_equivalent", NULL));
	printf("it_rollout: rollout good-1.1.0 completed on %d devices in %.1f s since start; "
	       "bytes sent %lld vs full images %lld\n", DEVICES, (double)(mono_ms() - C.t0) / 1000.0,
	       (long long)num_at(res, "bytes", "sent", NULL),
	       (long long)num_at(res, "bytes", "full_equivalent", NULL));
	json_decref(j);

	/* The retained status says the same, to anyone who subscribes later. */
	tu_sleep_ms(1500);
	snprintf(docs[4], sizeof(docs[4]), "rollout-status=%s/status-good.json", C.broker.dir);
	snprintf(cmd, sizeof(cmd),
	         "mosquitto_sub -V mqttv5 %s -t tf/site1/status/rollout/good-1.1.0 -C 1 -W 5 "
	         "> %s/status-good.json",
	         tls(), C.broker.dir);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/status-good.json", C.broker.dir);
	j = json_load_file(path, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "state")), "completed");
	assert_int_equal(num_at(j, "totals", "succeeded", NULL), DEVICES);
	json_decref(j);

	/* 2. 1.2.0 is bad for the devices' data: whoever installs it sees drift from then on. */
	snprintf(body, sizeof(body),
	         "{\"id\": \"bad-1.2.0\", \"model\": \"pump-anomaly\", \"version\": \"1.2.0\", "
	         "\"target\": {\"all\": true}, \"waves\": {\"canary\": {\"count\": %d}, "
	         "\"stages\": [100]}, \"max_in_flight\": 100, \"settle_seconds\": 30, "
	         "\"gates\": {\"quality\": {\"min_samples\": 40, \"drift_alarm\": true}}, "
	         "\"on_gate_failure\": \"rollback_wave\"}",
	         CANARY);
	json_decref(rr_ok("rollout.create", body, 0));
	json_decref(rr_ok("rollout.start", "{\"id\": \"bad-1.2.0\"}", 0));
	j = wait_state("bad-1.2.0", paused, 90);
	res = json_object_get(j, "result");
	assert_string_equal(json_string_value(json_object_get(res, "state")), "paused");
	assert_string_equal(json_string_value(json_object_get(res, "reason")), "gate_quality");
	assert_int_equal(json_integer_value(json_object_get(res, "wave")), 0);
	json_decref(j);
	/* Every canary device ends rolled back to its previous slot. */
	until = mono_ms() + 30000;
	for (;;) {
		j = rr_ok("rollout.status", "{\"id\": \"bad-1.2.0\", \"devices\": true, \"limit\": 500}", 0);
		res = json_object_get(j, "result");
		/* The wave turns rolled_back at the engine's next step after its last device. */
		if (num_at(res, "totals", "rolled_back", NULL) == CANARY &&
		    str_is(json_object_get(json_array_get(json_object_get(res, "waves"), 0), "state"),
		           "rolled_back"))
			break;
		json_decref(j);
		assert_true(mono_ms() < until);
		tu_sleep_ms(1000);
	}
	snprintf(docs[2], sizeof(docs[2]), "rollout-status-response=%s", last_answer);
	devs = json_object_get(res, "devices");
	assert_int_equal(json_array_size(devs), DEVICES);
	drift_failed = 0;
	json_array_foreach(devs, i, x) {
		const char *st = json_string_value(json_object_get(x, "state"));
		if (i < CANARY) {
			assert_string_equal(st, "rolled_back");
			drift_failed += str_is(json_object_get(x, "reason"), "quality_drift_alarm");
			assert_true(json_is_true(json_object_get(
			        json_object_get(x, "quality"), "new_drift_alarm")) ||
			            !str_is(json_object_get(x, "reason"), "quality_drift_alarm"));
		} else {
			/* Outside the canary: never offered. */
			assert_string_equal(st, "waiting");
			assert_int_equal(json_integer_value(json_object_get(x, "attempts")), 0);
		}
	}
	assert_string_equal(json_string_value(json_object_get(
	                            json_array_get(json_object_get(res, "waves"), 0), "state")),
	                    "rolled_back");
	/* What failed the canary was a drift alarm its devices raised on 1.2.0. */
	assert_true(drift_failed > 0);
	json_decref(j);

	/* The event stream agrees: 1.2.0 was offered to canary devices only. */
	{
		FILE *f = fopen(C.events, "r");
		char line[4096];
		int offered = 0, rolled = 0, alerts = 0, alerts_other = 0;
		assert_non_null(f);
		while (fgets(line, sizeof(line), f) != NULL) {
			json_t *ev = json_loads(line, 0, NULL), *d = json_object_get(ev, "data");
			const char *ro = json_string_value(json_object_get(d, "rollout"));
			const char *kind = json_string_value(json_object_get(ev, "event"));
			if (kind != NULL && strcmp(kind, "drift.alert") == 0 &&
			    str_is(json_object_get(d, "scope"), "device") &&
			    str_is(json_object_get(d, "state"), "raised")) {
				/* Raised by a real device's detectors, on the bad version only. */
				const char *dev = json_string_value(json_object_get(d, "device"));
				const char *ver = json_string_value(json_object_get(d, "version"));
				if (dev != NULL && ver != NULL && strcmp(ver, "1.2.0") == 0 &&
				    strcmp(dev, "dev-0010") <= 0)
					alerts++;
				else
					alerts_other++;
			}
			if (ro != NULL && strcmp(ro, "bad-1.2.0") == 0) {
				const char *dev = json_string_value(json_object_get(d, "device"));
				const char *ph = json_string_value(json_object_get(d, "phase"));
				const char *oc = json_string_value(json_object_get(d, "outcome"));
				if (ph != NULL && strcmp(ph, "offered") == 0) {
					offered++;
					assert_true(strcmp(dev, "dev-0010") <= 0);
				}
				if (oc != NULL && strcmp(oc, "rolled_back") == 0)
					rolled++;
			}
			json_decref(ev);
		}
		fclose(f);
		assert_true(offered >= CANARY);
		assert_int_equal(rolled, CANARY);
		assert_true(alerts > 0);
		assert_int_equal(alerts_other, 0);
		printf("it_rollout: bad-1.2.0 offered %d times, all to the %d canary devices; %d "
		       "rolled back; %d drift.alert (raised) from canary devices on 1.2.0, none "
		       "elsewhere; %.1f s since start\n", offered, CANARY, rolled, alerts,
		       (double)(mono_ms() - C.t0) / 1000.0);
	}
	/* Everything the operator saw follows the contract's schemas. */
	json_decref(rr_ok("rollout.list", "{\"limit\": 10}", 0));
	snprintf(docs[3], sizeof(docs[3]), "rollout-list-response=%s", last_answer);
	tu_sleep_ms(500);
	snprintf(cmd, sizeof(cmd),
	         "%s %s/tests/gateway/it_rollout_check.py %s/schemas/operator %s '%s' '%s' '%s' '%s' "
	         "'%s'",
	         TF_PYTHON, TF_SOURCE_DIR, TF_SOURCE_DIR, C.events, docs[0], docs[1], docs[2],
	         docs[3], docs[4]);
	assert_int_equal(system(cmd), 0);
	/* The daemon drains on SIGTERM; under the asan preset its log (and the simulator's,
	 * whose devices ran their drift detectors) holds any report. */
	end_child(&C.sim);
	end_child(&C.daemon);
	snprintf(cmd, sizeof(cmd),
	         "! grep -E 'Sanitizer|runtime error' %s/tinyfleetd.log %s/sim.log >&2",
	         C.broker.dir, C.broker.dir);
	assert_int_equal(system(cmd), 0);
	stop_all();
}

static int
teardown(void **state)
{
	(void)state;
	stop_all();   /* also after a failed assertion: end what we started */
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rollouts),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, teardown);
}
