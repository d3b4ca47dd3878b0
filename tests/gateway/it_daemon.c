/*
 * tinyfleetd as a real process against a real Mosquitto: it reports online, stores the
 * telemetry devices send (group-committed), keeps running on a bad reload, and drains and
 * closes LMDB cleanly on SIGTERM.
 */
#include <errno.h>
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

#include "broker.h"
#include "log.h"

#include "mqtt.h"
#include "store.h"
#include "gw_testutil.h"
#include "tinyfleet/delta/apply.h"
#include "tinyfleet/protocol/manifest.h"
#include "tinyfleet/protocol/msg_chunk.h"
#include "tinyfleet/protocol/msg_state.h"
#include "tinyfleet/protocol/telemetry.h"

struct ctx {
	struct test_broker broker;
	char conf[128];
	char state[128];
	pid_t daemon;
};

static int
sh(const char *cmd)
{
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
write_config(struct ctx *c, const char *extra)
{
	FILE *f = fopen(c->conf, "w");
	assert_non_null(f);
	fprintf(f, "site = site1\nstate_dir = %s\nmqtt.uri = %s\nmqtt.ca = %s\n", c->state,
	        c->broker.uri, test_broker_path(&c->broker, "ca.crt"));
	fprintf(f, "mqtt.cert = %s\nmqtt.key = %s\nstore.map_size_mb = 64\nstore.reserve_mb = 8\n",
	        test_broker_path(&c->broker, "gateway.crt"),
	        test_broker_path(&c->broker, "gateway.key"));
	fprintf(f, "release_keys = %s/tests/interop/keys/release-test.pub.pem\n", TF_SOURCE_DIR);
	fprintf(f, "%s", extra);
	fclose(f);
}

/* Waits for the gateway's retained status to read `want`, as an operator would. */
static int
wait_status(struct ctx *c, const char *want)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
	         "for i in 1 2 3 4 5 6 7 8 9 10; do out=$(mosquitto_sub -h 127.0.0.1 -p %d "
	         "--cafile %s --cert %s --key %s -t tf/site1/status/gateway -C 1 -W 2 "
	         "2>/dev/null); [ \"$out\" = %s ] && exit 0; sleep 0.3; done; exit 1",
	         c->broker.port, test_broker_path(&c->broker, "ca.crt"),
	         test_broker_path(&c->broker, "op-alice.crt"),
	         test_broker_path(&c->broker, "op-alice.key"), want);
	return sh(cmd);
}

static int
setup(void **state)
{
	static struct ctx c;
	gw_log_init(GW_LOG_WARNING);
	if (test_broker_start(&c.broker, 2) != 0)
		return -1;
	snprintf(c.conf, sizeof(c.conf), "%s/tinyfleetd.conf", c.broker.dir);
	snprintf(c.state, sizeof(c.state), "%s/state", c.broker.dir);
	*state = &c;
	return 0;
}

static int
teardown(void **state)
{
	struct ctx *c = *state;
	if (c->daemon > 0) {
		kill(c->daemon, SIGKILL);
		waitpid(c->daemon, NULL, 0);
	}
	test_broker_destroy(&c->broker);
	return 0;
}

static void
start_daemon(struct ctx *c)
{
	/* A test that failed half-way left its daemon running: end it, by its PID. */
	if (c->daemon > 0) {
		kill(c->daemon, SIGKILL);
		waitpid(c->daemon, NULL, 0);
	}
	c->daemon = fork();
	assert_true(c->daemon >= 0);
	if (c->daemon == 0) {
		execl(TF_TINYFLEETD, "tinyfleetd", "-f", c->conf, (char *)NULL);
		_exit(127);
	}
}

static int
stop_daemon(struct ctx *c)
{
	int status = -1;
	kill(c->daemon, SIGTERM);
	/* An orderly stop takes Paho about 2 s; the daemon gives up on the broker after 5 s. */
	for (int i = 0; i < 200 && waitpid(c->daemon, &status, WNOHANG) == 0; i++)
		tu_sleep_ms(50);
	if (!WIFEXITED(status)) {
		kill(c->daemon, SIGKILL);
		waitpid(c->daemon, &status, 0);
		c->daemon = 0;
		return -1;
	}
	c->daemon = 0;
	return WEXITSTATUS(status);
}

struct count {
	int n;
	int from_dev1;
};

static int
count_rec(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	struct count *cnt = arg;
	const char *dev;
	const void *pack;
	size_t dl, pl;
	uint64_t t;
	(void)k;
	(void)kl;
	if (gw_store_telemetry_parse(v, vl, &dev, &dl, &t, &pack, &pl) == 0 && dl == 8 &&
	    memcmp(dev, "dev-0001", 8) == 0)
		cnt->from_dev1++;
	cnt->n++;
	return 0;
}

/* A telemetry pack as an agent would send it, written to <scratch>/<name>. */
static void
write_pack_alarm(struct ctx *c, const char *name, const char *device, int alarm);

static void
write_pack(struct ctx *c, const char *name, const char *device)
{
	write_pack_alarm(c, name, device, 0);
}

/* A telemetry pack; with alarm, Page-Hinkley is in alarm at score 61.5. */
static void
write_pack_alarm(struct ctx *c, const char *name, const char *device, int alarm)
{
	struct tfp_telemetry t;
	struct tfp_telem_enc_info info;
	uint8_t buf[2048];
	char path[160];
	FILE *f;

	tfp_telemetry_init(&t);
	snprintf(t.device_id, sizeof(t.device_id), "%s", device);
	snprintf(t.model, sizeof(t.model), "vib-anomaly");
	snprintf(t.version, sizeof(t.version), "1.0.0");
	t.time = 1764000000;
	t.samples = 1000;
	t.labelled = 100;
	t.loss = 0.25f;
	t.accuracy = 0.9f;
	if (alarm) {
		t.alarm = true;
		t.why = TFP_TELEM_WHY_PH;
		t.ph.score = 61.5f;
		t.ph.alarm = true;
	}
	assert_int_equal(tfp_telemetry_encode(&t, buf, sizeof(buf), &info), 0);
	snprintf(path, sizeof(path), "%s/%s", c->broker.dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, info.len, f), info.len);
	fclose(f);
}

static void
test_ingests_telemetry_and_drains_on_sigterm(void **state)
{
	struct ctx *c = *state;
	char cmd[2048], pub[512];
	struct gw_store s;
	struct gw_store_config scfg = { 0 };
	struct gw_txn t;
	struct count cnt = { 0 };

	write_config(c, "");
	start_daemon(c);
	assert_int_equal(wait_status(c, "online"), 0);

	/* 40 valid SenML packs from dev-0001, then refused ones: a pack naming another
	 * device, and bytes that are not SenML. All through Mosquitto's own client. */
	write_pack(c, "good.cbor", "dev-0001");
	write_pack(c, "forged.cbor", "dev-0002");
	snprintf(pub, sizeof(pub),
	         "mosquitto_pub -h 127.0.0.1 -p %d --cafile %s --cert %s --key %s -q 1 "
	         "-t tf/site1/dev/dev-0001/telemetry",
	         c->broker.port, test_broker_path(&c->broker, "ca.crt"),
	         test_broker_path(&c->broker, "devices/dev-0001.crt"),
	         test_broker_path(&c->broker, "devices/dev-0001.key"));
	snprintf(cmd, sizeof(cmd),
	         "for i in $(seq 1 40); do %s -f %s/good.cbor || exit 1; done; "
	         "%s -f %s/forged.cbor && %s -m 'not senml'",
	         pub, c->broker.dir, pub, c->broker.dir, pub);
	assert_int_equal(sh(cmd), 0);
	/* Stop at once: whatever arrived must be flushed by the drain, not by a timer. */
	tu_sleep_ms(300);
	assert_int_equal(stop_daemon(c), 0);

	scfg.path = c->state;
	assert_int_equal(gw_store_open(&s, &scfg), 0);
	assert_int_equal(gw_store_begin_read(&s, &t), 0);
	assert_int_equal(gw_store_each(&t, GW_DB_TELEMETRY, count_rec, &cnt), 0);
	gw_store_abort(&t);
	gw_store_close(&s);
	assert_int_equal(cnt.n, 40);
	assert_int_equal(cnt.from_dev1, 40);
}

static void
write_state(struct ctx *c, const char *name, const char *device)
{
	struct tfp_state s;
	uint8_t buf[TFP_STATE_WIRE_MAX];
	size_t len;
	char path[160];
	FILE *f;

	tu_state_init(&s, device, "stm32l4-vib", 65536, 262144);
	s.slots[0].state = TFP_SLOT_CONFIRMED;
	s.slots[0].sequence = 1;
	snprintf(s.slots[0].model, sizeof(s.slots[0].model), "vib-anomaly");
	snprintf(s.slots[0].version, sizeof(s.slots[0].version), "1.0.0");
	assert_int_equal(tfp_state_encode(&s, buf, sizeof(buf), &len), 0);
	snprintf(path, sizeof(path), "%s/%s", c->broker.dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
}

/*
 * Follows tf/site1/events/<kind> as op-alice with mosquitto_sub, publishes <scratch>/<file>
 * as dev-0002 on tf/site1/dev/dev-0002/<topic>, and checks the one event that arrives
 * against the contract's `schema` and the shell condition `expect` over $EV, the event file.
 */
static void
expect_event(struct ctx *c, const char *kind, const char *topic, const char *file,
             const char *schema, const char *expect)
{
	char cmd[2048], ev[160];
	pid_t sub;
	int status;

	snprintf(ev, sizeof(ev), "%s/event-%s.json", c->broker.dir, kind);
	snprintf(cmd, sizeof(cmd),
	         "exec mosquitto_sub -h 127.0.0.1 -p %d --cafile %s --cert %s --key %s "
	         "-t tf/site1/events/%s -C 1 -W 10 > %s",
	         c->broker.port, test_broker_path(&c->broker, "ca.crt"),
	         test_broker_path(&c->broker, "op-alice.crt"),
	         test_broker_path(&c->broker, "op-alice.key"), kind, ev);
	sub = fork();
	assert_true(sub >= 0);
	if (sub == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	tu_sleep_ms(500);   /* let the subscription reach the broker first */
	snprintf(cmd, sizeof(cmd),
	         "mosquitto_pub -h 127.0.0.1 -p %d --cafile %s --cert %s --key %s -q 1 "
	         "-t tf/site1/dev/dev-0002/%s -f %s/%s",
	         c->broker.port, test_broker_path(&c->broker, "ca.crt"),
	         test_broker_path(&c->broker, "devices/dev-0002.crt"),
	         test_broker_path(&c->broker, "devices/dev-0002.key"), topic, c->broker.dir, file);
	assert_int_equal(sh(cmd), 0);
	assert_int_equal(waitpid(sub, &status, 0), sub);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	snprintf(cmd, sizeof(cmd),
	         "EV=%s; %s %s/tests/schemas/check_operator_schemas.py validate --schemas "
	         "%s/schemas/operator --schema %s --file $EV && %s",
	         ev, TF_PYTHON, TF_SOURCE_DIR, TF_SOURCE_DIR, schema, expect);
	assert_int_equal(sh(cmd), 0);
}

/* A device says hello; an operator following events/ with Mosquitto's own client gets a
 * device.online event that validates against the operator contract's schema. */
static void
test_hello_raises_a_valid_online_event(void **state)
{
	struct ctx *c = *state;

	write_config(c, "");
	start_daemon(c);
	assert_int_equal(wait_status(c, "online"), 0);
	write_state(c, "state.cbor", "dev-0002");
	expect_event(c, "device.online", "state", "state.cbor", "event-device-online",
	             "grep -q '\"first_time\":true' $EV && grep -q '\"device\":\"dev-0002\"' $EV");
	assert_int_equal(stop_daemon(c), 0);
}

/* The model version the publish tests send (pump-anomaly 1.0.0, sequence 1), also written to
 * <scratch>/model.tfm and <scratch>/model.cose; bad_sig flips a signature bit. */
static struct tu_model model;

static void
write_model(struct ctx *c, int bad_sig)
{
	struct tfp_cose_signer signer;
	char path[160];

	tu_signer_init(&signer);
	tu_signed_model(&signer, "1.0.0", 1, 0.5f, &model);
	tfp_cose_signer_free(&signer);
	if (bad_sig)
		model.cose[model.cose_len - 1] ^= 0x01;
	snprintf(path, sizeof(path), "%s/model.tfm", c->broker.dir);
	tu_write_file(path, model.tfm, model.tfm_len);
	snprintf(path, sizeof(path), "%s/model.cose", c->broker.dir);
	tu_write_file(path, model.cose, model.cose_len);
}

/* Runs one request as op-alice with mosquitto_rr (MQTT v5 request/response) and checks the
 * answer against `schema` of the operator contract; `expect` is grepped in the answer. */
static void
request(struct ctx *c, const char *op, const char *body, const char *schema, const char *expect)
{
	char cmd[2048], out[160], in[160];
	snprintf(in, sizeof(in), "%s/request.json", c->broker.dir);
	snprintf(out, sizeof(out), "%s/answer.json", c->broker.dir);
	tu_write_file(in, body, strlen(body));
	snprintf(cmd, sizeof(cmd),
	         "mosquitto_rr -V mqttv5 -h 127.0.0.1 -p %d --cafile %s --cert %s --key %s -q 1 "
	         "-t tf/site1/api/req/%s/op-alice -e tf/site1/api/resp/op-alice/r1 "
	         "-D publish correlation-data c1 -W 10 -m \"$(cat %s)\" > %s && "
	         "%s %s/tests/schemas/check_operator_schemas.py validate --schemas "
	         "%s/schemas/operator --schema %s --file %s && grep -q '%s' %s",
	         c->broker.port, test_broker_path(&c->broker, "ca.crt"),
	         test_broker_path(&c->broker, "op-alice.crt"),
	         test_broker_path(&c->broker, "op-alice.key"), op, in, out, TF_PYTHON,
	         TF_SOURCE_DIR, TF_SOURCE_DIR, schema, out, expect, out);
	if (sh(cmd) != 0) {
		snprintf(cmd, sizeof(cmd), "cat %s >&2", out);
		sh(cmd);
		fail_msg("request %s: answer not as expected (%s)", op, expect);
	}
}

/* The model.publish body for the version write_model() made. */
static char *
publish_body(struct ctx *c)
{
	static char body[8192];
	(void)c;
	tu_publish_body(&model, body, sizeof(body));
	return body;
}

static void
test_operator_publishes_a_model(void **state)
{
	struct ctx *c = *state;

	write_config(c, "");
	start_daemon(c);
	assert_int_equal(wait_status(c, "online"), 0);
	write_model(c, 1);
	request(c, "model.publish", publish_body(c), "error-response",
	        "\"code\":\"bad_signature\"");
	write_model(c, 0);
	request(c, "model.publish", publish_body(c), "model-publish-response",
	        "\"created\":true");
	request(c, "model.publish", publish_body(c), "model-publish-response",
	        "\"created\":false");
	request(c, "model.get", "{\"name\":\"pump-anomaly\",\"version\":\"1.0.0\"}",
	        "model-get-response", "\"published_by\":\"op-alice\"");
	request(c, "model.get", "{\"name\":\"pump-anomaly\",\"version\":\"2.0.0\"}",
	        "error-response", "\"code\":\"not_found\"");
	request(c, "model.get", "{\"name\":\"pump-anomaly\"}", "model-get-response",
	        "\"version\":\"1.0.0\"");   /* without a version: the latest */
	request(c, "model.get", "{\"version\":\"1.0.0\"}", "error-response",
	        "\"code\":\"invalid_request\"");
	request(c, "model.get", "not json", "error-response", "\"code\":\"bad_json\"");
	request(c, "no.such", "{}", "error-response", "\"code\":\"unknown_operation\"");
	request(c, "model.publish", "{\"manifest\":\"!!!!\",\"container\":\"AAAA\"}",
	        "error-response", "\"keyword\":\"contentEncoding\"");
	request(c, "model.publish", "{\"manifest\":7,\"container\":\"AAAA\"}",
	        "error-response", "\"keyword\":\"type\"");
	assert_int_equal(stop_daemon(c), 0);
}

/* A device pulling an object in chunks over its own MQTT link (the gateway's link code with a
 * device certificate), the way the agent does. */
struct puller {
	uv_loop_t loop;
	struct gw_mqtt link;
	uint8_t image[8192];
	uint32_t total;
	size_t received;         /* payload bytes received */
	int responses, connected, closed;
	char ca[160], cert[160], key[160];   /* the link's files, alive as long as it is */
};

static void
on_chunk(void *arg, const struct gw_mqtt_msg *m)
{
	struct puller *p = arg;
	struct tfp_chunk_response r;
	if (tfp_chunk_response_decode(m->payload, m->len, &r) != 0 || r.offset + r.len > sizeof(p->image))
		fail_msg("bad chunk response");
	memcpy(p->image + r.offset, r.data, r.len);
	p->total = r.total;
	p->received += r.len;
	p->responses++;
}

static void
on_puller_state(void *arg, int connected, const char *why)
{
	(void)why;
	((struct puller *)arg)->connected = connected;
}

static void
on_puller_closed(struct gw_mqtt *m)
{
	((struct puller *)((char *)m - offsetof(struct puller, link)))->closed = 1;
}

static void
tick(uv_timer_t *t)
{
	(void)t;
}

static void
run_until(struct puller *p, const int *flag, int want, int ms)
{
	uv_timer_t t;
	uint64_t end = uv_now(&p->loop) + (uint64_t)ms;
	uv_timer_init(&p->loop, &t);
	uv_timer_start(&t, tick, 10, 10);
	while (*flag < want && uv_now(&p->loop) < end)
		uv_run(&p->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&p->loop, UV_RUN_NOWAIT);
}

/* Pulls the object `rounds` times in 64-byte chunks; returns the milliseconds it took. */
static uint64_t
pull(struct ctx *c, struct puller *p, const uint8_t object[32], size_t size, int rounds)
{
	uint64_t start = uv_now(&p->loop);
	int want = 0;
	uv_update_time(&p->loop);
	start = uv_now(&p->loop);
	for (int r = 0; r < rounds; r++) {
		for (uint32_t off = 0; off < size; off += 64) {
			struct tfp_chunk_request q = { .command_id = 1, .offset = off, .length = 64 };
			uint8_t buf[128];
			size_t len;
			memcpy(q.object_id, object, 32);
			assert_int_equal(tfp_chunk_request_encode(&q, buf, sizeof(buf), &len), 0);
			assert_int_equal(gw_mqtt_publish(&p->link, "tf/site1/dev/dev-0001/chunk/req", buf,
			                                 len, 1, 0, NULL),
			                 0);
			want++;
		}
	}
	run_until(p, &p->responses, want, 20000);
	assert_int_equal(p->responses, want);
	(void)c;
	return uv_now(&p->loop) - start;
}

/* dev-0001 on the broker with its own certificate, subscribed to its chunk responses. */
static void
puller_connect(struct ctx *c, struct puller *p)
{
	struct gw_mqtt_config mc = { 0 };

	memset(p, 0, sizeof(*p));
	uv_loop_init(&p->loop);
	snprintf(p->ca, sizeof(p->ca), "%s", test_broker_path(&c->broker, "ca.crt"));
	snprintf(p->cert, sizeof(p->cert), "%s",
	         test_broker_path(&c->broker, "devices/dev-0001.crt"));
	snprintf(p->key, sizeof(p->key), "%s",
	         test_broker_path(&c->broker, "devices/dev-0001.key"));
	mc.uri = c->broker.uri;
	mc.client_id = "dev-0001";
	mc.ca_file = p->ca;
	mc.cert_file = p->cert;
	mc.key_file = p->key;
	assert_int_equal(gw_mqtt_init(&p->loop, &p->link, &mc, on_chunk, on_puller_state, p), 0);
	assert_int_equal(gw_mqtt_subscribe(&p->link, "tf/site1/dev/dev-0001/chunk/resp", 1), 0);
	gw_mqtt_start(&p->link);
	run_until(p, &p->connected, 1, 10000);
	assert_int_equal(p->connected, 1);
	run_until(p, &p->closed, 1, 300);   /* let the subscription settle */
}

static void
test_device_pulls_the_model_in_chunks(void **state)
{
	struct ctx *c = *state;
	static struct puller p;
	const uint8_t *tfm = model.tfm, *digest = model.digest;
	size_t tfmlen;
	uint64_t fast, slow;

	/* The gateway knows the model once it is published (the previous test did that in
	 * its own run; publish again here: idempotent). */
	write_config(c, "chunks.device_rate_kbps = 0\n");
	start_daemon(c);
	assert_int_equal(wait_status(c, "online"), 0);
	write_model(c, 0);
	request(c, "model.publish", publish_body(c), "model-publish-response", "\"ok\":true");
	tfmlen = model.tfm_len;

	puller_connect(c, &p);

	/* Unlimited: identical bytes, fast. */
	fast = pull(c, &p, digest, tfmlen, 20);
	assert_int_equal(p.total, tfmlen);
	assert_memory_equal(p.image, tfm, tfmlen);
	assert_int_equal(p.received, 20 * tfmlen);

	/* 1 KiB/s for this device: the same 20 pulls need about (20 x size - 1 KiB burst) s. */
	write_config(c, "chunks.device_rate_kbps = 1\n");
	kill(c->daemon, SIGHUP);
	tu_sleep_ms(300);
	p.responses = 0;
	p.received = 0;
	slow = pull(c, &p, digest, tfmlen, 20);
	assert_memory_equal(p.image, tfm, tfmlen);
	print_message("20 pulls of %zu bytes: %llu ms unlimited, %llu ms at 1 KiB/s\n", tfmlen,
	              (unsigned long long)fast, (unsigned long long)slow);
	assert_true(slow >= (uint64_t)((20 * tfmlen - 1024) * 1000 / 1024) * 8 / 10);
	assert_true(fast < slow / 2);

	gw_mqtt_close(&p.link, on_puller_closed);
	run_until(&p, &p.closed, 1, 8000);
	uv_loop_close(&p.loop);
	assert_int_equal(stop_daemon(c), 0);
}

/* A device pulling a delta: dev-0001 reports that it runs pump-anomaly 1.0.0; publishing
 * 1.1.0 makes the gateway build the 1.0.0 -> 1.1.0 patch (off its loop) and store it; after
 * a restart the device pulls that object in chunks, gets exactly the stored bytes (their
 * SHA-256 is the object id) and the patch applied to 1.0.0 gives 1.1.0 byte for byte. */
static void
test_device_pulls_a_delta(void **state)
{
	struct ctx *c = *state;
	static struct puller p;
	static struct tu_model v1, v2;
	static struct tfp_delta_apply ap;
	static struct tu_patched out;
	struct tfp_cose_signer signer;
	struct gw_store_config scfg = { 0 };
	struct gw_store s;
	struct gw_txn t;
	struct tfp_state st;
	const void *val;
	size_t vlen, len;
	uint8_t object[32], sum[32], msg[TFP_STATE_WIRE_MAX];
	char path[160], cmd[2048], body[8192];

	tu_signer_init(&signer);
	tu_signed_model(&signer, "1.0.0", 1, 0.5f, &v1);
	tu_signed_model(&signer, "1.1.0", 2, 0.75f, &v2);
	tfp_cose_signer_free(&signer);

	write_config(c, "chunks.device_rate_kbps = 0\n");
	start_daemon(c);
	assert_int_equal(wait_status(c, "online"), 0);
	tu_state_init(&st, "dev-0001", "stm32l4-vib", 65536, 262144);
	st.slots[0].state = TFP_SLOT_CONFIRMED;
	st.slots[0].sequence = 1;
	snprintf(st.slots[0].model, sizeof(st.slots[0].model), "pump-anomaly");
	snprintf(st.slots[0].version, sizeof(st.slots[0].version), "1.0.0");
	memcpy(st.slots[0].digest, v1.digest, 32);
	assert_int_equal(tfp_state_encode(&st, msg, sizeof(msg), &len), 0);
	snprintf(path, sizeof(path), "%s/state-0001.cbor", c->broker.dir);
	tu_write_file(path, msg, len);
	snprintf(cmd, sizeof(cmd),
	         "mosquitto_pub -h 127.0.0.1 -p %d --cafile %s --cert %s --key %s -q 1 "
	         "-t tf/site1/dev/dev-0001/state -f %s",
	         c->broker.port, test_broker_path(&c->broker, "ca.crt"),
	         test_broker_path(&c->broker, "devices/dev-0001.crt"),
	         test_broker_path(&c->broker, "devices/dev-0001.key"), path);
	assert_int_equal(sh(cmd), 0);
	/* The broker took the state before this request, and delivers both to the gateway in
	 * that order: the answer proves the registry knows what dev-0001 runs. */
	request(c, "device.get", "{\"id\":\"dev-0001\"}", "device-get-response",
	        "\"model\":{\"name\":\"pump-anomaly\",\"version\":\"1.0.0\"}");
	tu_publish_body(&v1, body, sizeof(body));
	request(c, "model.publish", body, "model-publish-response", "\"ok\":true");
	tu_publish_body(&v2, body, sizeof(body));
	request(c, "model.publish", body, "model-publish-response", "\"created\":true");
	/* The operator's view: dev-0001 listed as running 1.0.0, tagged; the retained status
	 * of the model (republished within a second of a change) counts it. */
	request(c, "device.list", "{\"model\":\"pump-anomaly\",\"version\":\"1.0.0\"}",
	        "device-list-response", "\"id\":\"dev-0001\"");
	request(c, "device.tags", "{\"id\":\"dev-0001\",\"add\":[\"line-3\"]}",
	        "device-tags-response", "\"tags\":\\[\"line-3\"\\]");
	request(c, "model.list", "{\"name\":\"pump-anomaly\"}", "model-list-response",
	        "\"total\":2");
	tu_sleep_ms(1500);
	snprintf(path, sizeof(path), "%s/model-status.json", c->broker.dir);
	snprintf(cmd, sizeof(cmd),
	         "mosquitto_sub -h 127.0.0.1 -p %d --cafile %s --cert %s --key %s "
	         "-t tf/site1/status/model/pump-anomaly -C 1 -W 5 > %s && %s "
	         "%s/tests/schemas/check_operator_schemas.py validate --schemas "
	         "%s/schemas/operator --schema model-status --file %s && "
	         "grep -q '\"latest\":\"1.1.0\"' %s && "
	         "grep -q '\"version\":\"1.0.0\",\"sequence\":1,[^}]*\"devices\":1' %s",
	         c->broker.port, test_broker_path(&c->broker, "ca.crt"),
	         test_broker_path(&c->broker, "op-alice.crt"),
	         test_broker_path(&c->broker, "op-alice.key"), path, TF_PYTHON, TF_SOURCE_DIR,
	         TF_SOURCE_DIR, path, path, path);
	if (sh(cmd) != 0) {
		snprintf(cmd, sizeof(cmd), "cat %s >&2", path);
		sh(cmd);
		fail_msg("retained model status not as expected");
	}
	assert_int_equal(stop_daemon(c), 0);

	/* What the gateway stored, as its store module reads it. */
	scfg.path = c->state;
	assert_int_equal(gw_store_open(&s, &scfg), 0);
	assert_int_equal(gw_store_begin_read(&s, &t), 0);
	assert_int_equal(gw_store_get_delta(&t, v1.digest, v2.digest, &val, &vlen), 0);
	assert_int_equal(vlen, 32);
	memcpy(object, val, 32);
	assert_int_equal(gw_store_get_blob(&t, object, &val, &len), 0);
	gw_store_abort(&t);
	gw_store_close(&s);
	assert_true(len < v2.tfm_len);

	start_daemon(c);
	assert_int_equal(wait_status(c, "online"), 0);
	puller_connect(c, &p);
	pull(c, &p, object, len, 1);
	assert_int_equal(p.total, len);
	mbedtls_sha256_ret(p.image, len, sum, 0);
	assert_memory_equal(sum, object, 32);

	out.old = v1.tfm;
	out.old_len = v1.tfm_len;
	assert_int_equal(tfp_delta_apply_init(&ap, (uint32_t)v1.tfm_len, tu_patched_read,
	                                      tu_patched_write, &out),
	                 0);
	assert_int_equal(tfp_delta_apply_feed(&ap, p.image, len), TFP_DELTA_DONE);
	assert_int_equal(out.out_len, v2.tfm_len);
	assert_memory_equal(out.out, v2.tfm, v2.tfm_len);
	print_message("delta 1.0.0 -> 1.1.0: %zu bytes instead of %zu\n", len, v2.tfm_len);

	gw_mqtt_close(&p.link, on_puller_closed);
	run_until(&p, &p.closed, 1, 8000);
	uv_loop_close(&p.loop);
	assert_int_equal(stop_daemon(c), 0);
}

/* A device's Page-Hinkley alarm becomes a drift.alert event that an operator following
 * events/ receives, valid against the contract's schema. */
static void
test_drift_alarm_raises_a_valid_event(void **state)
{
	struct ctx *c = *state;

	write_config(c, "");
	start_daemon(c);
	assert_int_equal(wait_status(c, "online"), 0);
	write_pack_alarm(c, "alarm.cbor", "dev-0002", 1);
	expect_event(c, "drift.alert", "telemetry", "alarm.cbor", "event-drift-alert",
	             "grep -q '\"detector\":\"page_hinkley\"' $EV && "
	             "grep -q '\"state\":\"raised\"' $EV");

	/* The operator asks about the device: registered by its hello in an earlier run (the
	 * store persists), drifting now, with the metrics it reported. */
	request(c, "device.get", "{\"id\":\"dev-0002\"}", "device-get-response",
	        "\"drifting\":true");
	request(c, "device.get", "{\"id\":\"dev-0002\"}", "device-get-response",
	        "\"class\":\"stm32l4-vib\"");
	request(c, "device.get", "{\"id\":\"nobody\"}", "error-response",
	        "\"code\":\"not_found\"");
	request(c, "fleet.status", "{}", "fleet-status-response", "\"drifting\":1");
	request(c, "fleet.status", "{\"verbose\":\"yes\"}", "error-response",
	        "\"code\":\"invalid_request\"");

	/* The retained fleet status caught up with the drift (republished within a second of
	 * a change), and a late subscriber gets it at once. */
	{
		char cmd[2048], out[160];
		tu_sleep_ms(1500);
		snprintf(out, sizeof(out), "%s/fleet.json", c->broker.dir);
		snprintf(cmd, sizeof(cmd),
		         "mosquitto_sub -h 127.0.0.1 -p %d --cafile %s --cert %s --key %s "
		         "-t tf/site1/status/fleet -C 1 -W 5 > %s && %s "
		         "%s/tests/schemas/check_operator_schemas.py validate --schemas "
		         "%s/schemas/operator --schema fleet-status --file %s && "
		         "grep -q '\"drifting\":1' %s",
		         c->broker.port, test_broker_path(&c->broker, "ca.crt"),
		         test_broker_path(&c->broker, "op-alice.crt"),
		         test_broker_path(&c->broker, "op-alice.key"), out, TF_PYTHON, TF_SOURCE_DIR,
		         TF_SOURCE_DIR, out, out);
		assert_int_equal(sh(cmd), 0);
	}
	assert_int_equal(stop_daemon(c), 0);
}

static void
test_bad_reload_keeps_running(void **state)
{
	struct ctx *c = *state;

	write_config(c, "");
	/* The previous daemon stopped in order and left "offline" behind. */
	assert_int_equal(wait_status(c, "offline"), 0);
	start_daemon(c);
	assert_int_equal(wait_status(c, "online"), 0);
	write_config(c, "telemetry.flush_ms = soon\n");
	kill(c->daemon, SIGHUP);
	tu_sleep_ms(300);
	assert_int_equal(waitpid(c->daemon, NULL, WNOHANG), 0);   /* still alive */
	write_config(c, "telemetry.flush_ms = 10\n");
	kill(c->daemon, SIGHUP);
	tu_sleep_ms(300);
	assert_int_equal(waitpid(c->daemon, NULL, WNOHANG), 0);
	assert_int_equal(stop_daemon(c), 0);
}

/* With the broker gone, SIGTERM still drains and exits promptly (the DISCONNECT that
 * Paho cannot deliver does not hold the daemon up). */
static void
test_stops_when_the_broker_is_gone(void **state)
{
	struct ctx *c = *state;

	write_config(c, "");
	start_daemon(c);
	assert_int_equal(wait_status(c, "online"), 0);
	test_broker_stop(&c->broker);
	assert_int_equal(stop_daemon(c), 0);   /* stop_daemon allows 10 s */
	assert_int_equal(test_broker_restart(&c->broker), 0);
}

static void
test_check_mode_names_the_bad_line(void **state)
{
	struct ctx *c = *state;
	char cmd[512];
	write_config(c, "mqtt.keepalive = forever\n");
	snprintf(cmd, sizeof(cmd), "%s -n -f %s 2>&1 | grep -q 'tinyfleetd.conf:10: mqtt.keepalive'",
	         TF_TINYFLEETD, c->conf);
	assert_int_equal(sh(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s -n -f %s >/dev/null 2>&1", TF_TINYFLEETD, c->conf);
	assert_int_equal(sh(cmd), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ingests_telemetry_and_drains_on_sigterm),
		cmocka_unit_test(test_hello_raises_a_valid_online_event),
		cmocka_unit_test(test_operator_publishes_a_model),
		cmocka_unit_test(test_device_pulls_the_model_in_chunks),
		cmocka_unit_test(test_device_pulls_a_delta),
		cmocka_unit_test(test_drift_alarm_raises_a_valid_event),
		cmocka_unit_test(test_bad_reload_keeps_running),
		cmocka_unit_test(test_stops_when_the_broker_is_gone),
		cmocka_unit_test(test_check_mode_names_the_bad_line),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
