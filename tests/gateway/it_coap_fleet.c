/*
 * End to end, a mixed fleet: the real gateway daemon (gw_daemon_start: store, registry,
 * monitor, chunk server, MQTT link to a real Mosquitto, CoAP/DTLS endpoint) and four
 * simulated devices (agent core + port/posix), two on MQTT and two on CoAP, all in this
 * process on 127.0.0.1:
 *
 *  - every device says hello (state) and reports telemetry; the daemon's registry and
 *    monitor hold all four, whichever transport they came by;
 *  - the gateway offers an update to each through gw_device_send_command(), which picks the
 *    transport the device last spoke on; a full image and a delta go to one device of each
 *    transport; every device pulls its object (MQTT chunks / CoAP Block2), installs,
 *    self-tests, confirms, and its new state reaches the registry;
 *  - after an idle period longer than the gateway's DTLS session timeout, the CoAP
 *    devices (kept alive by CoAP pings) still get a rollback command at once.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../device-agent/ota_test_util.h"
#include "broker.h"
#include "daemon.h"
#include "device.h"
#include "it_coap_util.h"
#include "tinyfleet/protocol/msg_command.h"
#include "tinyfleet/protocol/telemetry.h"

#include <coap3/coap.h>

#define NDEV 4

static struct test_broker broker;
static struct gw_daemon daemon_;
static uv_loop_t loop;
static struct sim_device devs[NDEV];
static struct tfp_cose_signer signer;
static struct model_img v1, v2;
static char ids[NDEV][16];
static char crt[NDEV][160], key[NDEV][160], ca[160];
static int running, started, daemon_started;

/* Turns the gateway's loop and every device for up to ms, or until done() holds. */
static void
pump(int ms, int (*done)(void))
{
	uint64_t end = cf_now_ms() + (uint64_t)ms;

	while (cf_now_ms() < end && (done == NULL || !done())) {
		struct pollfd pfd[NDEV];
		uint64_t t;

		uv_run(&loop, UV_RUN_NOWAIT);
		for (int i = 0; i < NDEV; i++) {
			pfd[i].fd = running ? sim_device_fd(&devs[i]) : -1;
			pfd[i].events = running ? sim_device_events(&devs[i]) : 0;
			pfd[i].revents = 0;
		}
		(void)poll(pfd, NDEV, 2);
		t = cf_now_ms();
		for (int i = 0; running && i < NDEV; i++) {
			sim_device_io(&devs[i], pfd[i].revents, t);
			sim_device_tick(&devs[i], t);
		}
	}
}

static int
all_registered(void)
{
	for (int i = 0; i < NDEV; i++) {
		const struct gw_device *g = gw_registry_get(&daemon_.registry, ids[i]);
		if (g == NULL || memcmp(g->digest, v1.digest, TFP_DIGEST_LEN) != 0)
			return 0;
	}
	return 1;
}

static int
all_reported(void)
{
	for (int i = 0; i < NDEV; i++)
		if (gw_monitor_get(&daemon_.monitor, ids[i]) == NULL)
			return 0;
	return 1;
}

static int
all_updated(void)
{
	for (int i = 0; i < NDEV; i++) {
		const struct gw_device *g = gw_registry_get(&daemon_.registry, ids[i]);
		if (g == NULL || memcmp(g->digest, v2.digest, TFP_DIGEST_LEN) != 0)
			return 0;
	}
	return 1;
}

static int
coap_rolled_back(void)
{
	for (int i = 2; i < NDEV; i++) {
		const struct gw_device *g = gw_registry_get(&daemon_.registry, ids[i]);
		if (g == NULL || memcmp(g->digest, v1.digest, TFP_DIGEST_LEN) != 0)
			return 0;
	}
	return 1;
}

static void
put_blob(const uint8_t *obj, size_t len)
{
	struct gw_txn t;
	uint8_t digest[TFP_DIGEST_LEN];

	assert_int_equal(mbedtls_sha256_ret(obj, len, digest, 0), 0);
	assert_int_equal(gw_store_begin(&daemon_.store, &t), 0);
	assert_int_equal(gw_store_put_blob(&t, digest, obj, len), 0);
	assert_int_equal(gw_store_commit(&t), 0);
}

static void
test_mixed_fleet_telemetry_and_update(void **state)
{
	struct gw_config cfg;
	char dir[160];
	struct tfp_manifest m;
	struct signed_manifest sm;
	uint8_t *patch;
	size_t plen;
	int coap_port;
	uint64_t t0;

	(void)state;
	gw_log_init(GW_LOG_WARNING);
	load_release_signer(&signer);
	make_model(&v1, 0, 0);
	make_model(&v2, 1, 0);
	assert_int_equal(test_broker_start(&broker, NDEV), 0);

	/* The gateway, as tinyfleetd runs it, with a CoAP endpoint. */
	coap_port = cf_free_port();
	gw_config_defaults(&cfg);
	snprintf(dir, sizeof(dir), "%s/state", broker.dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s", dir);
	snprintf(cfg.mqtt_uri, sizeof(cfg.mqtt_uri), "%s", broker.uri);
	snprintf(cfg.mqtt_client_id, sizeof(cfg.mqtt_client_id), "gw-site1");
	snprintf(cfg.mqtt_ca, sizeof(cfg.mqtt_ca), "%s", test_broker_path(&broker, "ca.crt"));
	snprintf(cfg.mqtt_cert, sizeof(cfg.mqtt_cert), "%s", test_broker_path(&broker, "gateway.crt"));
	snprintf(cfg.mqtt_key, sizeof(cfg.mqtt_key), "%s", test_broker_path(&broker, "gateway.key"));
	memcpy(cfg.coap_ca, cfg.mqtt_ca, sizeof(cfg.coap_ca));
	memcpy(cfg.coap_cert, cfg.mqtt_cert, sizeof(cfg.coap_cert));
	memcpy(cfg.coap_key, cfg.mqtt_key, sizeof(cfg.coap_key));
	snprintf(cfg.coap_listen, sizeof(cfg.coap_listen), "127.0.0.1:%d", coap_port);
	snprintf(cfg.release_keys, sizeof(cfg.release_keys), "%s", KEYS "release-test.pub.pem");
	cfg.store_map_size_mb = 64;
	cfg.store_reserve_mb = 8;
	cfg.coap_session_timeout = 2;   /* idle DTLS sessions go fast: keepalives must hold */
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(gw_daemon_start(&daemon_, &loop, NULL, &cfg), 0);
	daemon_started = 1;

	/* dev-0001, dev-0002 on MQTT; dev-0003, dev-0004 on CoAP; all provisioned with v1. */
	snprintf(ca, sizeof(ca), "%s", test_broker_path(&broker, "ca.crt"));
	for (int i = 0; i < NDEV; i++) {
		struct sim_device_opts o;
		snprintf(ids[i], sizeof(ids[i]), "dev-%04d", i + 1);
		snprintf(crt[i], sizeof(crt[i]), "%s/devices/%s.crt", broker.pki, ids[i]);
		snprintf(key[i], sizeof(key[i]), "%s/devices/%s.key", broker.pki, ids[i]);
		memset(&o, 0, sizeof(o));
		o.device_id = ids[i];
		o.device_class = R_CLASS;
		o.site = "site1";
		o.host = "127.0.0.1";
		o.port = broker.port;
		o.coap_port = coap_port;
		o.transport = i < 2 ? "mqtt" : "coap";
		o.cafile = ca;
		o.certfile = crt[i];
		o.keyfile = key[i];
		o.factory_model = v1.img;
		o.factory_len = (uint32_t)v1.len;
		o.keys = &signer.pub;
		o.n_keys = 1;
		assert_int_equal(sim_device_start(&devs[i], &o), 0);
		started++;
		/* A ping every idle second keeps the session (and the cmd observation) that
		 * the gateway would free after 2 s (coap.h; the default is 25 s vs 60 s). */
		if (devs[i].coap)
			coap_context_set_keepalive(devs[i].cq.ctx, 1);
	}
	running = 1;
	t0 = cf_now_ms();
	pump(20000, all_registered);
	assert_true(all_registered());
	print_message("fleet: 4 devices registered (2 MQTT, 2 CoAP) in %llu ms\n",
	              (unsigned long long)(cf_now_ms() - t0));
	assert_false(gw_coap_is_home(&daemon_.coap, "dev-0001"));
	assert_true(gw_coap_is_home(&daemon_.coap, "dev-0003"));

	/* Telemetry from each device over its own transport; it may be lost like MQTT QoS 0
	 * or a CoAP NON, so a device repeats it every half second until the gateway has it. */
	t0 = cf_now_ms();
	while (!all_reported() && cf_now_ms() - t0 < 10000) {
		for (int i = 0; i < NDEV; i++) {
			struct tfp_telemetry tm;
			struct tfp_telem_enc_info info;
			uint8_t buf[512];
			if (gw_monitor_get(&daemon_.monitor, ids[i]) != NULL)
				continue;
			tfp_telemetry_init(&tm);
			snprintf(tm.device_id, sizeof(tm.device_id), "%s", ids[i]);
			snprintf(tm.model, sizeof(tm.model), "pump-anomaly");
			snprintf(tm.version, sizeof(tm.version), "1.0.0");
			tm.samples = 100u + (uint32_t)i;
			tm.labelled = 20;
			tm.accuracy = 0.9f;
			assert_int_equal(tfp_telemetry_encode(&tm, buf, sizeof(buf), &info), 0);
			(void)devs[i].px.send(devs[i].px.user, TFA_CHAN_TELEMETRY, buf, info.len);
		}
		pump(500, all_reported);
	}
	for (int i = 0; i < NDEV; i++)
		if (gw_monitor_get(&daemon_.monitor, ids[i]) == NULL)
			print_message("fleet: no telemetry from %s\n", ids[i]);
	assert_true(all_reported());
	for (int i = 0; i < NDEV; i++)
		assert_int_equal(gw_monitor_get(&daemon_.monitor, ids[i])->samples, 100 + i);

	/* The update: v2 as a full image to dev-0001 and dev-0003, as a delta to dev-0002 and
	 * dev-0004, offered through the transport-neutral hook. */
	manifest_for(&m, &signer, &v2, 2, "1.1.0");
	m.req.min_ram = 1024;
	sign_manifest(&signer, &m, &sm);
	patch = make_patch(&v1, &v2, TFP_DELTA_ENC_AUTO, &plen);
	put_blob(v2.img, v2.len);
	put_blob(patch, plen);
	for (int i = 0; i < NDEV; i++) {
		struct tfp_command c;
		uint8_t cmd[TFP_MANIFEST_MAX + TFP_COMMAND_WIRE_OVERHEAD];
		size_t cmd_len;
		if (i % 2 == 0)
			offer_cmd(&c, 100u + (unsigned)i, &sm, TFP_FETCH_FULL, v2.img, v2.len, NULL);
		else
			offer_cmd(&c, 100u + (unsigned)i, &sm, TFP_FETCH_DELTA, patch, plen, v1.digest);
		assert_int_equal(tfp_command_encode(&c, cmd, sizeof(cmd), &cmd_len), 0);
		assert_int_equal(gw_device_send_command(&daemon_, ids[i], cmd, cmd_len), 0);
	}
	t0 = cf_now_ms();
	pump(30000, all_updated);
	print_message("fleet: update confirmed on %s in %llu ms; CoAP served %llu blocks "
	              "(%llu bytes), MQTT %llu chunks (%llu bytes)\n",
	              all_updated() ? "all 4 devices" : "NOT all devices",
	              (unsigned long long)(cf_now_ms() - t0),
	              (unsigned long long)daemon_.coap.stats.blocks,
	              (unsigned long long)daemon_.coap.stats.block_bytes,
	              (unsigned long long)daemon_.chunks.stats.served,
	              (unsigned long long)daemon_.chunks.stats.bytes);
	assert_true(all_updated());
	assert_int_equal(daemon_.coap.stats.commands_sent, 2);

	/* Idle for longer than the gateway's session timeout, then a rollback to the CoAP
	 * devices: the observation is still there, and they go back to v1. */
	pump(5000, NULL);
	for (int i = 2; i < NDEV; i++) {
		struct tfp_command c;
		uint8_t cmd[64];
		size_t cmd_len;
		memset(&c, 0, sizeof(c));
		c.type = TFP_MSG_ROLLBACK;
		c.command_id = 200u + (unsigned)i;
		assert_int_equal(tfp_command_encode(&c, cmd, sizeof(cmd), &cmd_len), 0);
		assert_int_equal(gw_device_send_command(&daemon_, ids[i], cmd, cmd_len), 0);
	}
	pump(10000, coap_rolled_back);
	assert_true(coap_rolled_back());
	assert_int_equal(daemon_.coap.stats.commands_sent, 4);
	print_message("fleet: after %u s idle (session timeout 2 s) the CoAP devices took a "
	              "rollback; %llu server sessions created in all\n", 5,
	              (unsigned long long)daemon_.coap.stats.sessions_new);
	assert_true(daemon_.coap.stats.block_bytes >= v2.len + plen);
	assert_true(daemon_.chunks.stats.bytes >= v2.len + plen);
	free(patch);

}

/* Runs after the test whether it passed or not, so nothing it started outlives it. */
static int
teardown(void **state)
{
	(void)state;
	for (int i = 0; i < started; i++)
		sim_device_stop(&devs[i]);
	started = running = 0;
	if (daemon_started) {
		gw_daemon_stop(&daemon_);
		uv_run(&loop, UV_RUN_DEFAULT);
		(void)uv_loop_close(&loop);
		daemon_started = 0;
	}
	test_broker_destroy(&broker);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_mixed_fleet_telemetry_and_update, teardown),
	};
	signal(SIGPIPE, SIG_IGN);
	tfa_mqtt_global_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
