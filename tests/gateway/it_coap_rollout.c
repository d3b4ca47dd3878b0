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
#include "rollout_it_util.h"

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

	ri_broker = &C.broker;
	ri_name = "it_coap_rollout";

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
