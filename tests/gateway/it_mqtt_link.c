/*
 * The gateway's MQTT link against a real Mosquitto (mutual TLS, identity from the
 * certificate, ACL per role), with Mosquitto's own clients as the devices and operators.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker.h"
#include "gw_testutil.h"
#include "log.h"
#include "mqtt.h"
#include "outbox.h"
#include "registry.h"
#include "tinyfleet/protocol/msg_state.h"

#define MAX_SEEN 64

struct seen {
	char topic[128];
	char payload[64];
	char response_topic[128];
	char correlation[32];
};

struct ctx {
	struct test_broker broker;
	uv_loop_t loop;
	struct gw_mqtt link;
	struct seen seen[MAX_SEEN];
	int nseen;
	int connected;
	int connects;
	int losses;
	int closed;
	int reply;         /* answer requests on their response topic */
};

static void
on_message(void *arg, const struct gw_mqtt_msg *m)
{
	struct ctx *c = arg;
	struct seen *s;
	if (c->nseen >= MAX_SEEN)
		return;
	s = &c->seen[c->nseen++];
	snprintf(s->topic, sizeof(s->topic), "%s", m->topic);
	snprintf(s->payload, sizeof(s->payload), "%.*s", (int)m->len, (const char *)m->payload);
	if (m->response_topic != NULL)
		snprintf(s->response_topic, sizeof(s->response_topic), "%s", m->response_topic);
	if (m->correlation != NULL)
		snprintf(s->correlation, sizeof(s->correlation), "%.*s", (int)m->correlation_len,
		         (const char *)m->correlation);
	if (c->reply && m->response_topic != NULL) {
		struct gw_mqtt_reply r = { m->correlation, m->correlation_len };
		gw_mqtt_publish(&c->link, m->response_topic, "{\"ok\":true}", 11, 1, 0, &r);
	}
}

static void
on_state(void *arg, int connected, const char *why)
{
	struct ctx *c = arg;
	(void)why;
	c->connected = connected;
	if (connected)
		c->connects++;
	else
		c->losses++;
}

static void
on_tick(uv_timer_t *t)
{
	(void)t;
}

/* Runs the loop until *flag reaches want or ms pass; returns whether it did. */
static int
run_until(struct ctx *c, const int *flag, int want, int ms)
{
	uv_timer_t tick;
	uint64_t end = uv_now(&c->loop) + (uint64_t)ms;
	int ok;
	uv_timer_init(&c->loop, &tick);
	uv_timer_start(&tick, on_tick, 10, 10);
	while (*flag < want && uv_now(&c->loop) < end)
		uv_run(&c->loop, UV_RUN_ONCE);
	ok = *flag >= want;
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(&c->loop, UV_RUN_NOWAIT);
	return ok;
}

static int
find(const struct ctx *c, const char *payload)
{
	for (int i = 0; i < c->nseen; i++)
		if (strcmp(c->seen[i].payload, payload) == 0)
			return i;
	return -1;
}

/* Runs cmd with /bin/sh in a child (Mosquitto's own clients as independent peers). */
static pid_t
spawn_sh(const char *cmd)
{
	pid_t p = fork();
	assert_true(p >= 0);
	if (p == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return p;
}

static int
group_setup(void **state)
{
	static struct ctx c;
	struct gw_mqtt_config cfg = { 0 };

	gw_log_init(GW_LOG_WARNING);
	if (test_broker_start(&c.broker, 3) != 0)
		return -1;
	uv_loop_init(&c.loop);
	cfg.uri = c.broker.uri;
	cfg.client_id = "gw-site1";
	cfg.ca_file = strdup(test_broker_path(&c.broker, "ca.crt"));
	cfg.cert_file = strdup(test_broker_path(&c.broker, "gateway.crt"));
	cfg.key_file = strdup(test_broker_path(&c.broker, "gateway.key"));
	cfg.backoff_min_ms = 100;
	cfg.backoff_max_ms = 400;
	cfg.will_topic = "tf/site1/status/gateway";
	cfg.will_payload = "offline";
	cfg.online_payload = "online";
	cfg.lazy_suffix = "/telemetry";
	if (gw_mqtt_init(&c.loop, &c.link, &cfg, on_message, on_state, &c) != 0 ||
	    gw_mqtt_subscribe(&c.link, "tf/site1/dev/+/state", 1) != 0 ||
	    gw_mqtt_subscribe(&c.link, "tf/site1/dev/+/telemetry", 1) != 0 ||
	    gw_mqtt_subscribe(&c.link, "tf/site1/dev/+/report", 1) != 0 ||
	    gw_mqtt_subscribe(&c.link, "tf/site1/api/req/#", 1) != 0 ||
	    gw_mqtt_start(&c.link) != 0 || !run_until(&c, &c.connected, 1, 10000))
		return -1;
	*state = &c;
	return 0;
}

static void
on_closed(struct gw_mqtt *m)
{
	struct ctx *c = (struct ctx *)((char *)m - offsetof(struct ctx, link));
	c->closed = 1;
}

static int
group_teardown(void **state)
{
	struct ctx *c = *state;
	gw_mqtt_close(&c->link, on_closed);
	run_until(c, &c->closed, 1, 5000);
	free((char *)c->link.cfg.ca_file);
	free((char *)c->link.cfg.cert_file);
	free((char *)c->link.cfg.key_file);
	uv_loop_close(&c->loop);
	test_broker_destroy(&c->broker);
	return c->closed ? 0 : -1;
}

static void
test_device_message_reaches_loop(void **state)
{
	struct ctx *c = *state;
	int before = c->nseen;

	assert_int_equal(test_broker_pub(&c->broker, "devices/dev-0001", "-q", "1", "-t",
	                                 "tf/site1/dev/dev-0001/state", "-m", "hello-1", NULL), 0);
	assert_true(run_until(c, &c->nseen, before + 1, 5000));
	assert_string_equal(c->seen[before].topic, "tf/site1/dev/dev-0001/state");
	assert_string_equal(c->seen[before].payload, "hello-1");
}

static void
test_denied_publishes_never_arrive(void **state)
{
	struct ctx *c = *state;

	/* dev-0002 writes under dev-0001's tree, then tries an operator request; with MQTT
	 * 3.1.1 the broker still acknowledges both, so only non-delivery proves the ACL. */
	test_broker_pub(&c->broker, "devices/dev-0002", "-q", "1", "-t",
	                "tf/site1/dev/dev-0001/state", "-m", "forged-state", NULL);
	test_broker_pub(&c->broker, "devices/dev-0002", "-q", "1", "-t",
	                "tf/site1/api/req/rollout.start/dev-0002", "-m", "forged-request", NULL);
	/* Operators may not pose as devices, nor sign requests with another operator's CN. */
	test_broker_pub(&c->broker, "op-alice", "-q", "1", "-t",
	                "tf/site1/dev/dev-0003/report", "-m", "forged-report", NULL);
	test_broker_pub(&c->broker, "op-alice", "-q", "1", "-t",
	                "tf/site1/api/req/rollout.start/op-bob", "-m", "forged-author", NULL);
	/* A legitimate marker from the same devices, published after the forgeries. */
	assert_int_equal(test_broker_pub(&c->broker, "devices/dev-0002", "-q", "1", "-t",
	                                 "tf/site1/dev/dev-0002/state", "-m", "marker-2", NULL),
	                 0);
	for (int i = 0; i < 50 && find(c, "marker-2") < 0; i++)
		run_until(c, &c->nseen, c->nseen + 1, 100);
	assert_true(find(c, "marker-2") >= 0);
	/* Give stragglers time, then prove none of the forgeries was delivered. */
	run_until(c, &c->nseen, MAX_SEEN, 300);
	assert_int_equal(find(c, "forged-state"), -1);
	assert_int_equal(find(c, "forged-request"), -1);
	assert_int_equal(find(c, "forged-report"), -1);
	assert_int_equal(find(c, "forged-author"), -1);
}

static void
test_operator_request_gets_correlated_response(void **state)
{
	struct ctx *c = *state;
	char out[128], cmd[1024];
	FILE *f;
	char line[128] = "";
	pid_t sub;
	int status, i;

	snprintf(out, sizeof(out), "%s/resp.txt", c->broker.dir);
	/* The operator waits for its response with Mosquitto's own client (MQTT v5). */
	snprintf(cmd, sizeof(cmd),
	         "exec mosquitto_sub -V mqttv5 -h 127.0.0.1 -p %d --cafile %s --cert %s --key %s "
	         "-t tf/site1/api/resp/op-alice/1 -C 1 -W 10 -F '%%p|%%D' > %s",
	         c->broker.port, test_broker_path(&c->broker, "ca.crt"),
	         test_broker_path(&c->broker, "op-alice.crt"),
	         test_broker_path(&c->broker, "op-alice.key"), out);
	sub = spawn_sh(cmd);
	/* Let the subscriber get its subscription in before the request goes out. */
	run_until(c, &c->nseen, MAX_SEEN, 500);

	c->reply = 1;
	int before = c->nseen;
	assert_int_equal(test_broker_pub(&c->broker, "op-alice", "-V", "mqttv5", "-q", "1", "-t",
	                                 "tf/site1/api/req/fleet.status/op-alice", "-D", "publish",
	                                 "response-topic", "tf/site1/api/resp/op-alice/1", "-D",
	                                 "publish", "correlation-data", "corr-42", "-m", "{}", NULL),
	                 0);
	assert_true(run_until(c, &c->nseen, before + 1, 5000));
	c->reply = 0;
	i = find(c, "{}");
	assert_true(i >= 0);
	assert_string_equal(c->seen[i].response_topic, "tf/site1/api/resp/op-alice/1");
	assert_string_equal(c->seen[i].correlation, "corr-42");

	/* Keep the loop turning while the subscriber finishes. */
	for (int k = 0; k < 100 && waitpid(sub, &status, WNOHANG) == 0; k++)
		run_until(c, &c->nseen, MAX_SEEN, 50);
	if (waitpid(sub, &status, WNOHANG) == 0) {
		kill(sub, SIGKILL);
		waitpid(sub, &status, 0);
	}
	f = fopen(out, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	/* The response carries the request's correlation data back unchanged. */
	assert_string_equal(line, "{\"ok\":true}|corr-42\n");
}

static void
test_lazy_messages_wait_for_poll_in_order(void **state)
{
	struct ctx *c = *state;
	int before = c->nseen;

	/* Telemetry waits in the mailbox without waking the loop... */
	assert_int_equal(test_broker_pub(&c->broker, "devices/dev-0001", "-q", "1", "-t",
	                                 "tf/site1/dev/dev-0001/telemetry", "-m", "lazy-1", NULL),
	                 0);
	run_until(c, &c->nseen, before + 1, 500);
	assert_int_equal(c->nseen, before);
	/* ...until the owner polls (on its flush timer, in the daemon). */
	for (int i = 0; i < 50 && c->nseen == before; i++) {
		gw_mqtt_poll(&c->link);
		run_until(c, &c->nseen, before + 1, 100);
	}
	assert_int_equal(c->nseen, before + 1);
	assert_string_equal(c->seen[before].payload, "lazy-1");
	/* Any other message wakes the loop and brings the waiting ones first, in order. */
	assert_int_equal(test_broker_pub(&c->broker, "devices/dev-0001", "-q", "1", "-t",
	                                 "tf/site1/dev/dev-0001/telemetry", "-m", "lazy-2", NULL),
	                 0);
	assert_int_equal(test_broker_pub(&c->broker, "devices/dev-0001", "-q", "1", "-t",
	                                 "tf/site1/dev/dev-0001/state", "-m", "eager-3", NULL),
	                 0);
	assert_true(run_until(c, &c->nseen, before + 3, 5000));
	assert_string_equal(c->seen[before + 1].payload, "lazy-2");
	assert_string_equal(c->seen[before + 2].payload, "eager-3");
}

/* Tokens the link reported delivered (test_publish_window). */
static int window_delivered, window_tokens_ok;
static int window_expect[16];

static void
on_window_delivery(void *arg, int token, int ok)
{
	(void)arg;
	for (int i = 0; i < 16; i++)
		if (window_expect[i] == token && ok) {
			window_expect[i] = 0;
			window_tokens_ok++;
		}
	window_delivered++;
}

static void
test_publish_window_keeps_order_and_reports_tracked(void **state)
{
	enum { N = 2000 };
	struct ctx *c = *state;
	char out[128], cmd[1024], line[64];
	size_t most_waiting = 0;
	uint64_t first_place = 1, last_place = 0;
	pid_t sub;
	int status, got = 0, in_order = 1;
	FILE *f;

	snprintf(out, sizeof(out), "%s/window.txt", c->broker.dir);
	/* The device listens on its command topic with Mosquitto's own client. */
	snprintf(cmd, sizeof(cmd),
	         "exec mosquitto_sub -h 127.0.0.1 -p %d --cafile %s --cert %s --key %s -q 1 "
	         "-t tf/site1/dev/dev-0001/cmd -C %d -W 60 > %s",
	         c->broker.port, test_broker_path(&c->broker, "ca.crt"),
	         test_broker_path(&c->broker, "devices/dev-0001.crt"),
	         test_broker_path(&c->broker, "devices/dev-0001.key"), N, out);
	sub = spawn_sh(cmd);
	run_until(c, &c->nseen, MAX_SEEN, 800);

	/* A burst far past the window (64): the rest waits in the link, in order, and every
	 * tracked publish is reported with the token the link gave. */
	gw_mqtt_on_delivery(&c->link, on_window_delivery, NULL);
	for (int i = 0; i < N; i++) {
		char body[16];
		int n = snprintf(body, sizeof(body), "w%d", i);
		if (i % 125 == 0) {
			assert_int_equal(gw_mqtt_publish_tracked(&c->link, "tf/site1/dev/dev-0001/cmd",
			                                         body, (size_t)n, 1, 0,
			                                         &window_expect[i / 125]), 0);
			assert_true(window_expect[i / 125] > 0);
		} else {
			uint64_t before = c->link.entered;
			assert_int_equal(gw_mqtt_publish(&c->link, "tf/site1/dev/dev-0001/cmd", body,
			                                 (size_t)n, 1, 0, NULL), 0);
			/* Where it went: straight out while the window has room, else queued. */
			if (i == 1)
				first_place = gw_mqtt_queue_place(&c->link, before);
			if (i == N - 1)
				last_place = gw_mqtt_queue_place(&c->link, before);
		}
		if (c->link.waiting > most_waiting)
			most_waiting = c->link.waiting;
		assert_true(c->link.ninflight <= 64);
	}
	assert_true(most_waiting >= N - 64);
	assert_int_equal(first_place, 0);
	assert_false(gw_mqtt_waiting(&c->link, first_place));
	assert_true(last_place > 0 && gw_mqtt_waiting(&c->link, last_place));
	for (int k = 0; k < 600 && (c->link.waiting > 0 || c->link.ninflight > 0); k++)
		run_until(c, &c->nseen, MAX_SEEN, 50);
	assert_int_equal(c->link.waiting, 0);
	assert_int_equal(c->link.ninflight, 0);
	assert_false(gw_mqtt_waiting(&c->link, last_place));   /* sent: no longer waits */
	assert_int_equal(window_tokens_ok, 16);
	gw_mqtt_on_delivery(&c->link, NULL, NULL);

	for (int k = 0; k < 200 && waitpid(sub, &status, WNOHANG) == 0; k++)
		run_until(c, &c->nseen, MAX_SEEN, 50);
	if (waitpid(sub, &status, WNOHANG) == 0) {
		kill(sub, SIGKILL);
		waitpid(sub, &status, 0);
	}
	f = fopen(out, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		char want[16];
		snprintf(want, sizeof(want), "w%d\n", got);
		in_order &= strcmp(line, want) == 0;
		got++;
	}
	fclose(f);
	print_message("window: %d of %d delivered in order (%s), at most %zu waited\n", got, N,
	              in_order ? "yes" : "NO", most_waiting);
	assert_int_equal(got, N);
	assert_true(in_order);
}

static void
test_link_recovers_after_broker_restart(void **state)
{
	struct ctx *c = *state;
	int losses = c->losses, connects = c->connects;

	test_broker_stop(&c->broker);
	assert_true(run_until(c, &c->losses, losses + 1, 10000));
	assert_int_equal(test_broker_restart(&c->broker), 0);
	assert_true(run_until(c, &c->connects, connects + 1, 15000));
	/* Subscriptions were sent again: a new device message flows. */
	int before = c->nseen;
	for (int i = 0; i < 20 && find(c, "after-restart") < 0; i++) {
		test_broker_pub(&c->broker, "devices/dev-0003", "-q", "1", "-t",
		                "tf/site1/dev/dev-0003/state", "-m", "after-restart", NULL);
		run_until(c, &c->nseen, before + 1, 500);
	}
	assert_true(find(c, "after-restart") >= 0);
}

/* ---- the event outbox over a real link ---- */

struct octx {
	struct test_broker broker;
	uv_loop_t loop;
	struct gw_mqtt link;
	struct gw_store store;
	struct gw_outbox outbox;
	int outbox_on;
	int connected, closed;
	uint64_t connects;
	char dir[64];
};

static void
o_on_message(void *arg, const struct gw_mqtt_msg *m)
{
	(void)arg;
	(void)m;
}

static void
o_on_state(void *arg, int connected, const char *why)
{
	struct octx *o = arg;
	(void)why;
	o->connected = connected;
	o->connects += (uint64_t)connected;
	if (o->outbox_on)
		gw_outbox_on_link(&o->outbox, connected);
}

static void
o_emit(void *arg, uint64_t seq, const char *kind, json_t *data)
{
	struct octx *o = arg;
	gw_outbox_emit(&o->outbox, seq, kind, data, 1700000000000ull);
}

static void
o_on_closed(struct gw_mqtt *m)
{
	struct octx *o = (struct octx *)((char *)m - offsetof(struct octx, link));
	o->closed = 1;
}

static int
o_run_until(struct octx *o, const uint64_t *v, uint64_t want, int ms)
{
	uv_timer_t tick;
	uint64_t end;
	uv_update_time(&o->loop);
	end = uv_now(&o->loop) + (uint64_t)ms;
	uv_timer_init(&o->loop, &tick);
	uv_timer_start(&tick, on_tick, 10, 10);
	while (*v < want && uv_now(&o->loop) < end)
		uv_run(&o->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(&o->loop, UV_RUN_NOWAIT);
	return *v >= want;
}

/* The gateway's link (not started: down) with the outbox on a store in o->dir. */
static void
o_open(struct octx *o)
{
	struct gw_store_config scfg = { 0 };
	struct gw_mqtt_config cfg = { 0 };

	scfg.path = o->dir;
	scfg.map_size = 16u << 20;
	scfg.outbox = 1;
	assert_int_equal(gw_store_open(&o->store, &scfg), 0);
	cfg.uri = o->broker.uri;
	cfg.client_id = "gw-site1";
	cfg.ca_file = strdup(test_broker_path(&o->broker, "ca.crt"));
	cfg.cert_file = strdup(test_broker_path(&o->broker, "gateway.crt"));
	cfg.key_file = strdup(test_broker_path(&o->broker, "gateway.key"));
	cfg.backoff_min_ms = 100;
	cfg.backoff_max_ms = 400;
	o->connected = o->closed = 0;
	assert_int_equal(gw_mqtt_init(&o->loop, &o->link, &cfg, o_on_message, o_on_state, o), 0);
	gw_outbox_init(&o->outbox, &o->store, &o->link, "site1");
	o->outbox_on = 1;
}

/* Deletes what was delivered, closes the link and the store. */
static void
o_close(struct octx *o)
{
	gw_outbox_close(&o->outbox);
	o->outbox_on = 0;
	gw_mqtt_close(&o->link, o_on_closed);
	for (int i = 0; i < 1000 && !o->closed; i++)
		uv_run(&o->loop, UV_RUN_ONCE);
	assert_true(o->closed);
	free((char *)o->link.cfg.ca_file);
	free((char *)o->link.cfg.cert_file);
	free((char *)o->link.cfg.key_file);
	gw_store_close(&o->store);
}

static size_t
outbox_entries(struct octx *o)
{
	struct gw_txn t;
	const void *v;
	size_t len, n = 0;
	uint64_t seq, from = 0;
	assert_int_equal(gw_store_begin_read(&o->store, &t), 0);
	while (gw_store_outbox_next(&t, from, &seq, &v, &len) == 0) {
		n++;
		from = seq + 1;
	}
	gw_store_abort(&t);
	return n;
}

static size_t
state_msg(uint8_t *buf, size_t cap, const char *id)
{
	struct tfp_state s;
	size_t len;
	tu_state_init(&s, id, "stm32l4-vib", 96 * 1024, 512 * 1024);
	s.slots[0].state = TFP_SLOT_EMPTY;
	s.slots[1].state = TFP_SLOT_EMPTY;
	assert_int_equal(tfp_state_encode(&s, buf, cap, &len), 0);
	return len;
}

static int
outbox_setup(void **state)
{
	static struct octx o;
	if (test_broker_start(&o.broker, 3) != 0)
		return -1;
	uv_loop_init(&o.loop);
	*state = &o;
	return 0;
}

static int
outbox_teardown(void **state)
{
	struct octx *o = *state;
	uv_run(&o->loop, UV_RUN_NOWAIT);
	uv_loop_close(&o->loop);
	test_broker_destroy(&o->broker);
	return 0;
}

static void
test_outbox_sends_pending_events_after_connect_once(void **state)
{
	struct octx *o = *state;
	struct gw_registry reg;
	char out[128], cmd[1024], line[1024];
	uint8_t msg[512];
	pid_t sub;
	FILE *f;
	int n = 0, status;

	tu_mkdtemp(o->dir, sizeof(o->dir), "tf-outbox");
	snprintf(out, sizeof(out), "%s/events.txt", o->broker.dir);
	/* The operator listens from the start, at QoS 1, with Mosquitto's own client. */
	snprintf(cmd, sizeof(cmd),
	         "exec stdbuf -oL mosquitto_sub -h 127.0.0.1 -p %d --cafile %s --cert %s --key %s "
	         "-q 1 -t 'tf/site1/events/#' -F '%%t %%p' -W 30 > %s 2>/dev/null",
	         o->broker.port, test_broker_path(&o->broker, "ca.crt"),
	         test_broker_path(&o->broker, "op-alice.crt"),
	         test_broker_path(&o->broker, "op-alice.key"), out);
	sub = spawn_sh(cmd);

	/* Three devices come online while the gateway's link is down: the registry commits
	 * each change with its event in the outbox, and nothing can be published. */
	o_open(o);
	assert_int_equal(gw_registry_open(&reg, &o->store, o_emit, o), 0);
	for (int i = 1; i <= 3; i++) {
		char id[16];
		snprintf(id, sizeof(id), "dev-%04d", i);
		assert_int_equal(gw_registry_on_state(&reg, id, msg, state_msg(msg, sizeof(msg), id),
		                                      1700000000000ull + (uint64_t)i), 0);
	}
	assert_int_equal(o->outbox.published, 0);
	assert_int_equal(outbox_entries(o), 3);
	gw_registry_close(&reg);
	o_close(o);

	/* "Restart": a new link and outbox on the same store; on connect the outbox is
	 * published, each entry deleted once the broker acknowledged it. */
	tu_sleep_ms(300);   /* the subscriber is in */
	o_open(o);
	assert_int_equal(outbox_entries(o), 3);
	assert_int_equal(gw_mqtt_start(&o->link), 0);
	assert_true(o_run_until(o, &o->outbox.delivered, 3, 10000));
	gw_outbox_flush(&o->outbox);
	assert_int_equal(outbox_entries(o), 0);
	o_close(o);

	/* Another start publishes nothing more. */
	o_open(o);
	assert_int_equal(gw_mqtt_start(&o->link), 0);
	assert_true(o_run_until(o, &o->connects, 2, 10000));
	{
		uint64_t never = 0;
		o_run_until(o, &never, 1, 1000);   /* time for anything left to be sent */
	}
	assert_int_equal(o->outbox.published, 0);
	o_close(o);

	tu_sleep_ms(300);
	kill(sub, SIGTERM);
	waitpid(sub, &status, 0);
	f = fopen(out, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		char want[64];
		n++;
		assert_true(n <= 3);   /* once each */
		assert_non_null(strstr(line, "tf/site1/events/device.online {"));
		snprintf(want, sizeof(want), "\"seq\":%d,", n);   /* in order */
		assert_non_null(strstr(line, want));
		snprintf(want, sizeof(want), "\"device\":\"dev-%04d\"", n);
		assert_non_null(strstr(line, want));
		assert_non_null(strstr(line, "\"site\":\"site1\""));
	}
	fclose(f);
	assert_int_equal(n, 3);
	assert_int_equal(tu_rmtree(o->dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_device_message_reaches_loop),
		cmocka_unit_test(test_denied_publishes_never_arrive),
		cmocka_unit_test(test_operator_request_gets_correlated_response),
		cmocka_unit_test(test_lazy_messages_wait_for_poll_in_order),
		cmocka_unit_test(test_publish_window_keeps_order_and_reports_tracked),
		cmocka_unit_test(test_link_recovers_after_broker_restart),
	};
	const struct CMUnitTest outbox_tests[] = {
		cmocka_unit_test(test_outbox_sends_pending_events_after_connect_once),
	};
	int failed;
	signal(SIGPIPE, SIG_IGN);
	failed = cmocka_run_group_tests(tests, group_setup, group_teardown);
	return failed + cmocka_run_group_tests(outbox_tests, outbox_setup, outbox_teardown);
}
