/*
 * Integration: a simulated device (agent core + port/posix + MQTT transport) against a real
 * Mosquitto with the project's PKI and ACL (tests/gateway/broker.c). The test plays the
 * gateway with its own certificate (gw-site1) through libmosquitto:
 *   - the device connects with mutual TLS, publishes conn = 1 and a state message that
 *     decodes (its id, class and the confirmed factory model in slot A);
 *   - the gateway offers a signed delta update on .../cmd and serves the chunk requests on
 *     .../chunk/resp; the device reports progress and the CONFIRMED result, and publishes
 *     its new state (slot B active, the new digest);
 *   - on close, conn = 2.
 */
#define _POSIX_C_SOURCE 200809L

#include <poll.h>
#include <time.h>

#include <mosquitto.h>

#include "../gateway/broker.h"
#include "device.h"
#include "ota_test_util.h"
#include "tinyfleet/protocol/msg_state.h"

static struct tfp_cose_signer signer;
static struct model_img v1, v2;
static struct test_broker broker;
static struct sim_device dev;

struct gw {
	struct mosquitto *m;
	int states;
	struct tfp_state last_state;
	int conn_seen[3];
	struct tfp_report reports[64];
	unsigned n_reports;
	const uint8_t *obj;
	size_t obj_len;
	uint8_t obj_id[TFP_DIGEST_LEN];
	unsigned chunks_served;
};

static struct gw gw;
static int dev_running;

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int
ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void
gw_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
	struct gw *g = obj;
	const uint8_t *p = msg->payload;
	size_t len = (size_t)msg->payloadlen;

	(void)m;
	if (ends_with(msg->topic, "/state")) {
		assert_int_equal(tfp_state_decode(p, len, &g->last_state), 0);
		g->states++;
	} else if (ends_with(msg->topic, "/conn") && len == 1 && p[0] <= 2) {
		g->conn_seen[p[0]]++;
	} else if (ends_with(msg->topic, "/report")) {
		assert_true(g->n_reports < 64);
		assert_int_equal(tfp_report_decode(p, len, &g->reports[g->n_reports++]), 0);
	} else if (ends_with(msg->topic, "/chunk/req")) {
		struct tfp_chunk_request q;
		struct tfp_chunk_response r;
		static uint8_t out[TFP_CHUNK_MAX + TFP_CHUNK_RESPONSE_WIRE_OVERHEAD];
		size_t olen;
		assert_int_equal(tfp_chunk_request_decode(p, len, &q), 0);
		assert_memory_equal(q.object_id, g->obj_id, TFP_DIGEST_LEN);
		memset(&r, 0, sizeof(r));
		memcpy(r.object_id, g->obj_id, TFP_DIGEST_LEN);
		r.offset = q.offset;
		r.total = (uint32_t)g->obj_len;
		r.len = q.offset + q.length <= g->obj_len ? q.length : g->obj_len - q.offset;
		r.data = g->obj + q.offset;
		assert_int_equal(tfp_chunk_response_encode(&r, out, sizeof(out), &olen), 0);
		assert_int_equal(mosquitto_publish(g->m, NULL, "tf/site1/dev/dev-0001/chunk/resp",
		                                   (int)olen, out, 1, false), MOSQ_ERR_SUCCESS);
		g->chunks_served++;
	}
}

/* Runs the gateway client and the device for up to ms, or until *done. */
static void
pump(int ms, const int *done)
{
	uint64_t end = mono_ms() + (uint64_t)ms;

	while (mono_ms() < end && (done == NULL || !*done)) {
		struct pollfd pfd;
		int n;
		assert_true(mosquitto_loop(gw.m, 5, 1) == MOSQ_ERR_SUCCESS);
		if (!dev_running)
			continue;
		pfd.fd = tfa_mqtt_fd(&dev.mq);
		pfd.events = tfa_mqtt_events(&dev.mq);
		pfd.revents = 0;
		n = pfd.fd >= 0 ? poll(&pfd, 1, 5) : 0;
		tfa_mqtt_io(&dev.mq, n > 0 ? pfd.revents : 0, mono_ms());
		sim_device_tick(&dev, mono_ms());
	}
}

static const struct tfp_report *
gw_result(uint64_t id)
{
	for (unsigned i = gw.n_reports; i-- > 0;)
		if (gw.reports[i].type == TFP_MSG_RESULT && gw.reports[i].command_id == id)
			return &gw.reports[i];
	return NULL;
}

static void
test_device_over_mqtt(void **state)
{
	struct sim_device_opts o;
	char ca[160], crt[160], key[160], gcrt[160], gkey[160];
	struct tfp_manifest m;
	struct signed_manifest sm;
	struct tfp_command c;
	uint8_t cmd[TFP_MANIFEST_MAX + TFP_COMMAND_WIRE_OVERHEAD];
	size_t cmd_len, plen;
	uint8_t *patch;
	int got;
	(void)state;

	assert_int_equal(test_broker_start(&broker, 1), 0);
	snprintf(ca, sizeof(ca), "%s", test_broker_path(&broker, "ca.crt"));
	snprintf(crt, sizeof(crt), "%s", test_broker_path(&broker, "devices/dev-0001.crt"));
	snprintf(key, sizeof(key), "%s", test_broker_path(&broker, "devices/dev-0001.key"));
	snprintf(gcrt, sizeof(gcrt), "%s", test_broker_path(&broker, "gateway.crt"));
	snprintf(gkey, sizeof(gkey), "%s", test_broker_path(&broker, "gateway.key"));

	/* The gateway's side. */
	tfa_mqtt_global_init();
	memset(&gw, 0, sizeof(gw));
	gw.m = mosquitto_new("gw-site1", true, &gw);
	assert_non_null(gw.m);
	mosquitto_message_callback_set(gw.m, gw_message);
	assert_int_equal(mosquitto_tls_set(gw.m, ca, NULL, gcrt, gkey, NULL), MOSQ_ERR_SUCCESS);
	assert_int_equal(mosquitto_connect(gw.m, "127.0.0.1", broker.port, 30), MOSQ_ERR_SUCCESS);
	assert_int_equal(mosquitto_subscribe(gw.m, NULL, "tf/site1/dev/#", 1), MOSQ_ERR_SUCCESS);

	/* The device, provisioned with v1, pinned to the test release key. */
	memset(&o, 0, sizeof(o));
	o.device_id = "dev-0001";
	o.device_class = R_CLASS;
	o.site = "site1";
	o.host = "127.0.0.1";
	o.port = broker.port;
	o.cafile = ca;
	o.certfile = crt;
	o.keyfile = key;
	o.factory_model = v1.img;
	o.factory_len = (uint32_t)v1.len;
	o.keys = &signer.pub;
	o.n_keys = 1;
	assert_int_equal(sim_device_start(&dev, &o), 0);
	dev_running = 1;

	pump(10000, &gw.states);
	assert_int_equal(gw.states, 1);
	assert_true(gw.conn_seen[1] >= 1);
	assert_string_equal(gw.last_state.device_id, "dev-0001");
	assert_string_equal(gw.last_state.device_class, R_CLASS);
	assert_int_equal(gw.last_state.active_slot, 0);
	assert_int_equal(gw.last_state.slots[0].state, TFP_SLOT_CONFIRMED);
	assert_memory_equal(gw.last_state.slots[0].digest, v1.digest, TFP_DIGEST_LEN);
	assert_int_equal(gw.last_state.slots[1].state, TFP_SLOT_EMPTY);
	printf("# device connected with mutual TLS; state decoded (%s, slot A %s)\n",
	       gw.last_state.device_id, gw.last_state.slots[0].model);

	/* A delta update over the broker. */
	manifest_for(&m, &signer, &v2, 2, "1.1.0");
	m.req.min_ram = 1024;
	sign_manifest(&signer, &m, &sm);
	patch = make_patch(&v1, &v2, TFP_DELTA_ENC_AUTO, &plen);
	offer_cmd(&c, 77, &sm, TFP_FETCH_DELTA, patch, plen, v1.digest);
	gw.obj = patch;
	gw.obj_len = plen;
	memcpy(gw.obj_id, c.u.update.object_id, TFP_DIGEST_LEN);
	assert_int_equal(tfp_command_encode(&c, cmd, sizeof(cmd), &cmd_len), 0);
	assert_int_equal(mosquitto_publish(gw.m, NULL, "tf/site1/dev/dev-0001/cmd", (int)cmd_len,
	                                   cmd, 1, false), MOSQ_ERR_SUCCESS);
	got = 0;
	for (int i = 0; i < 200 && gw_result(77) == NULL; i++)
		pump(50, &got);
	assert_non_null(gw_result(77));
	assert_int_equal(gw_result(77)->reason, TFP_REASON_CONFIRMED);
	pump(500, NULL);
	assert_true(gw.states >= 2);
	assert_int_equal(gw.last_state.active_slot, 1);
	assert_int_equal(gw.last_state.slots[1].state, TFP_SLOT_CONFIRMED);
	assert_int_equal(gw.last_state.slots[1].sequence, 2);
	assert_memory_equal(gw.last_state.slots[1].digest, v2.digest, TFP_DIGEST_LEN);
	printf("# delta update over MQTT: %zu-byte patch in %u chunks, %u reports, confirmed\n",
	       plen, gw.chunks_served, gw.n_reports);
	free(patch);

	/* Goodbye marker. */
	sim_device_stop(&dev);
	dev_running = 0;
	pump(500, NULL);
	assert_true(gw.conn_seen[2] >= 1);
	mosquitto_disconnect(gw.m);
	mosquitto_destroy(gw.m);
	tfa_mqtt_global_cleanup();
	test_broker_destroy(&broker);
}

static int
setup(void **state)
{
	(void)state;
	load_release_signer(&signer);
	make_model(&v1, 0, 0);
	make_model(&v2, 1, 0);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	tfp_cose_signer_free(&signer);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_device_over_mqtt),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
