#include "daemon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "clock.h"
#include "log.h"
#include "tinyfleet/protocol/telemetry.h"

/* What devices publish under tf/<site>/dev/<id>/ (schemas/README.md, "Topic tree"). */
static const char *const device_kinds[] = { "state", "conn", "telemetry", "report",
                                            "chunk/req" };

/* Splits "tf/<site>/dev/<id>/<kind>" into id and kind; the broker's ACL has already tied
 * <id> to the sender's certificate, so the id here is authenticated. */
static int
parse_device_topic(const struct gw_daemon *d, const char *topic, char *id, size_t idcap,
                   const char **kind)
{
	size_t plen = strlen(d->topic_prefix);
	const char *p, *slash;

	if (strncmp(topic, d->topic_prefix, plen) != 0 || strncmp(topic + plen, "dev/", 4) != 0)
		return -EINVAL;
	p = topic + plen + 4;
	slash = strchr(p, '/');
	if (slash == NULL || slash == p || (size_t)(slash - p) >= idcap)
		return -EINVAL;
	memcpy(id, p, (size_t)(slash - p));
	id[slash - p] = '\0';
	*kind = slash + 1;
	return 0;
}

/* Publishes an operator event (schemas/operator/event-*.schema.json) through the outbox:
 * its sequence number, and (for callers that record it) the event itself, were committed
 * with the change it reports, and it is published until the broker acknowledges it. */
static void
emit_event(void *arg, uint64_t seq, const char *kind, json_t *data)
{
	struct gw_daemon *d = arg;
	gw_outbox_emit(&d->outbox, seq, kind, data, gw_wall_ms());
}

/* One device message from either transport (MQTT topic or CoAP resource), with an
 * authenticated id: 0, -EBADMSG (payload refused), -EPERM (names another device). */
static int
device_message(struct gw_daemon *d, const char *id, const char *kind, const uint8_t *payload,
               size_t len)
{
	if (strcmp(kind, "telemetry") == 0) {
		struct tfp_telemetry t;
		int rc = tfp_telemetry_decode(payload, len, &t);
		if (rc != 0) {
			d->rejected++;
			log_warnx("daemon: telemetry from %s refused: %s", id, tfp_strerror(rc));
			return -EBADMSG;
		}
		/* The id is the authenticated one; a pack naming another device is a forgery or
		 * a bug, and is not filed under either. */
		if (strcmp(t.device_id, id) != 0) {
			d->rejected++;
			log_warnx("daemon: telemetry on %s's topic names device %s; refused", id,
			          t.device_id);
			return -EPERM;
		}
		gw_monitor_on_telemetry(&d->monitor, &t, gw_wall_ms());
		rc = gw_store_telemetry_add(&d->store, id, uv_now(d->loop), payload, len);
		if (rc != 0)
			log_warnx("daemon: telemetry from %s not stored: %s", id, strerror(-rc));
		else if (gw_store_telemetry_pending(&d->store) >= d->cfg.telemetry_batch_max)
			gw_store_telemetry_flush(&d->store);
		return 0;
	}
	if (strcmp(kind, "state") == 0) {
		/* A confirmed install shows in the state: a rollout may move on. */
		int rc = gw_registry_on_state(&d->registry, id, payload, len, gw_wall_ms());
		if (rc == 0)
			gw_rollouts_kick(&d->rollouts);
		return rc;
	}
	if (strcmp(kind, "conn") == 0)
		return gw_registry_on_conn(&d->registry, id, payload, len, gw_wall_ms());
	gw_registry_touch(&d->registry, id, gw_wall_ms());
	if (strcmp(kind, "report") == 0) {
		gw_rollouts_on_report(&d->rollouts, id, payload, len);
		return 0;
	}
	if (strcmp(kind, "chunk/req") == 0) {
		gw_chunks_on_request(&d->chunks, id, payload, len);
		return 0;
	}
	log_debug("daemon: %s sent %s (%zu bytes)", id, kind, len);
	return 0;
}

static void
on_device_message(struct gw_daemon *d, const struct gw_mqtt_msg *m)
{
	char id[65];
	const char *kind;

	if (parse_device_topic(d, m->topic, id, sizeof(id), &kind) != 0) {
		d->rejected++;
		log_debug("daemon: ignoring message on %s", m->topic);
		return;
	}
	/* Its latest word came over MQTT (a retained state the broker replays says nothing
	 * about where the device is now). */
	if (!m->retained)
		gw_coap_away(&d->coap, id);
	if (strcmp(kind, "state") == 0) {
		(void)gw_state_batch_add(&d->states, id, m->payload, m->len, gw_wall_ms());
		return;
	}
	/* Whether a device goes offline depends on the states before it. */
	if (strcmp(kind, "conn") == 0)
		gw_state_batch_flush(&d->states, gw_wall_ms());
	(void)device_message(d, id, kind, m->payload, m->len);
}

/* States were taken in: a rollout may see confirmed installs. */
static void
after_states(void *arg)
{
	struct gw_daemon *d = arg;
	gw_rollouts_kick(&d->rollouts);
}

static int
on_coap_message(void *arg, const char *id, const char *kind, const uint8_t *payload,
                size_t len)
{
	struct gw_daemon *d = arg;
	if (d->stopping)
		return -ESHUTDOWN;
	gw_state_batch_flush(&d->states, gw_wall_ms());   /* in order with MQTT's */
	return device_message(d, id, kind, payload, len);
}

int
gw_device_send_command(struct gw_daemon *d, const char *device_id, const uint8_t *buf,
                       size_t len)
{
	char topic[160];

	if (gw_coap_is_home(&d->coap, device_id))
		return gw_coap_send_command(&d->coap, device_id, buf, len);
	snprintf(topic, sizeof(topic), "%sdev/%s/cmd", d->topic_prefix, device_id);
	return gw_mqtt_publish(&d->mqtt, topic, buf, len, 1, 0, NULL);
}

static int
rollout_send(void *arg, const char *id, const uint8_t *buf, size_t len)
{
	return gw_device_send_command(arg, id, buf, len);
}

/* A CoAP device is reachable over its own session whatever the broker link does. */
static int
rollout_reachable(void *arg, const char *id)
{
	struct gw_daemon *d = arg;
	return d->mqtt.connected || gw_coap_is_home(&d->coap, id);
}

static void
on_message(void *arg, const struct gw_mqtt_msg *m)
{
	struct gw_daemon *d = arg;
	if (d->stopping)
		return;
	if (strncmp(m->topic, d->api_prefix, strlen(d->api_prefix)) == 0)
		gw_api_on_request(&d->api, m);
	else
		on_device_message(d, m);
}

static void
on_link_state(void *arg, int connected, const char *why)
{
	struct gw_daemon *d = arg;
	gw_outbox_on_link(&d->outbox, connected);
	sd_notifyf(0, "STATUS=%s", connected ? "connected to broker" : why);
}

static void
on_flush(uv_timer_t *t)
{
	struct gw_daemon *d = t->data;
	/* Telemetry waits in the mailbox without waking the loop (mqtt.h, lazy_suffix):
	 * collect it now, then commit it in one transaction. */
	gw_mqtt_poll(&d->mqtt);
	gw_store_telemetry_flush(&d->store);
	gw_outbox_tick(&d->outbox, uv_now(d->loop));
}

/* Republishes the retained fleet status when its content changed (schemas/README.md,
 * "Retained status": at most once a second). */
static void
on_status(uv_timer_t *t)
{
	struct gw_daemon *d = t->data;
	char at[21], topic[96], *now, *text;
	json_t *o;

	if (!d->mqtt.connected)
		return;
	gw_model_status_publish(&d->model_status, &d->api, &d->mqtt);
	if ((o = gw_api_fleet_status(&d->api)) == NULL)
		return;
	now = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	if (now == NULL || (d->fleet_status != NULL && strcmp(now, d->fleet_status) == 0)) {
		free(now);
		json_decref(o);
		return;
	}
	gw_format_time(gw_wall_ms(), at);
	json_object_set_new(o, "at", json_string(at));
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	snprintf(topic, sizeof(topic), "tf/%s/status/fleet", d->cfg.site);
	if (text != NULL && gw_mqtt_publish(&d->mqtt, topic, text, strlen(text), 1, 1, NULL) == 0) {
		free(d->fleet_status);
		d->fleet_status = now;
		now = NULL;
	}
	free(now);
	free(text);
}

static void
on_watchdog(uv_timer_t *t)
{
	(void)t;
	/* The loop turned since the last ping: that is what the watchdog asks. */
	sd_notify(0, "WATCHDOG=1");
}

static void
reload(struct gw_daemon *d)
{
	struct gw_config fresh;

	if (d->config_path == NULL) {
		log_warnx("daemon: SIGHUP: started without a configuration file; nothing to reload");
		return;
	}
	sd_notify(0, "RELOADING=1");
	if (gw_config_load(&fresh, d->config_path) != 0) {
		log_warnx("daemon: %s has errors, not reloading", d->config_path);
	} else {
		/* Identity, broker and store location need a restart; say so rather than
		 * half-apply them. */
		if (strcmp(fresh.site, d->cfg.site) != 0 || strcmp(fresh.mqtt_uri, d->cfg.mqtt_uri) ||
		    strcmp(fresh.state_dir, d->cfg.state_dir) != 0)
			log_warnx("daemon: site, mqtt.uri and state_dir change only on restart");
		d->cfg.log_level = fresh.log_level;
		gw_log_set_level(fresh.log_level);
		d->cfg.telemetry_flush_ms = fresh.telemetry_flush_ms;
		d->cfg.telemetry_batch_max = fresh.telemetry_batch_max;
		d->cfg.chunks_rate_kbps = fresh.chunks_rate_kbps;
		d->cfg.chunks_device_rate_kbps = fresh.chunks_device_rate_kbps;
		gw_chunks_set_rates(&d->chunks, (uint64_t)fresh.chunks_rate_kbps * 1024,
		                    (uint64_t)fresh.chunks_device_rate_kbps * 1024);
		{
			struct gw_drift_policy p = { fresh.drift_share, fresh.drift_window_s,
			                             fresh.drift_min_devices, fresh.drift_action };
			gw_rollouts_set_policy(&d->rollouts, &p);
			gw_rollouts_set_status_retention(&d->rollouts,
			                                 fresh.rollout_status_retention_s);
			d->rollouts.chunk_size = d->cfg.rollout_chunk_size = fresh.rollout_chunk_size;
		}
		uv_timer_start(&d->flush_timer, on_flush, d->cfg.telemetry_flush_ms,
		               d->cfg.telemetry_flush_ms);
		log_notice("daemon: configuration reloaded from %s", d->config_path);
	}
	sd_notify(0, "READY=1");
}

static void
on_signal(uv_signal_t *s, int signum)
{
	struct gw_daemon *d = s->data;
	if (signum == SIGHUP)
		reload(d);
	else
		gw_daemon_stop(d);
}

static void
on_mqtt_closed(struct gw_mqtt *m)
{
	struct gw_daemon *d = (struct gw_daemon *)((char *)m - offsetof(struct gw_daemon, mqtt));
	/* The link is gone, so no more telemetry can arrive: flush and close the store. */
	gw_rollouts_close(&d->rollouts);
	gw_outbox_close(&d->outbox);
	gw_monitor_close(&d->monitor);
	gw_registry_close(&d->registry);
	gw_store_close(&d->store);
	log_notice("daemon: stopped");
}

void
gw_daemon_stop(struct gw_daemon *d)
{
	if (d->stopping)
		return;
	gw_mqtt_poll(&d->mqtt);   /* telemetry already taken from the broker is stored */
	gw_state_batch_close(&d->states, gw_wall_ms());
	d->stopping = 1;
	sd_notify(0, "STOPPING=1");
	log_notice("daemon: stopping");
	uv_timer_stop(&d->flush_timer);
	uv_timer_stop(&d->watchdog_timer);
	uv_close((uv_handle_t *)&d->status_timer, NULL);
	free(d->fleet_status);
	d->fleet_status = NULL;
	gw_model_status_free(&d->model_status);
	uv_close((uv_handle_t *)&d->flush_timer, NULL);
	uv_close((uv_handle_t *)&d->watchdog_timer, NULL);
	uv_close((uv_handle_t *)&d->sig_term, NULL);
	uv_close((uv_handle_t *)&d->sig_int, NULL);
	uv_close((uv_handle_t *)&d->sig_hup, NULL);
	gw_coap_close(&d->coap);
	gw_chunks_close(&d->chunks);
	gw_deltas_close(&d->deltas);
	gw_mqtt_close(&d->mqtt, on_mqtt_closed);
}

int
gw_daemon_start(struct gw_daemon *d, uv_loop_t *loop, const char *config_path,
                const struct gw_config *cfg)
{
	struct gw_store_config scfg = { 0 };
	struct gw_mqtt_config mcfg = { 0 };
	uint64_t watchdog_us = 0;
	int rc;

	memset(d, 0, sizeof(*d));
	d->loop = loop;
	d->config_path = config_path;
	d->cfg = *cfg;
	snprintf(d->topic_prefix, sizeof(d->topic_prefix), "tf/%s/", cfg->site);
	snprintf(d->status_topic, sizeof(d->status_topic), "tf/%s/status/gateway", cfg->site);
	snprintf(d->api_prefix, sizeof(d->api_prefix), "tf/%s/api/req/", cfg->site);

	scfg.path = d->cfg.state_dir;
	scfg.map_size = (size_t)d->cfg.store_map_size_mb << 20;
	scfg.reserve = (size_t)d->cfg.store_reserve_mb << 20;
	scfg.telemetry_keep = d->cfg.store_telemetry_keep;
	scfg.batch_max = d->cfg.telemetry_batch_max;
	scfg.outbox = 1;
	if ((rc = gw_store_open(&d->store, &scfg)) != 0) {
		log_warnx("daemon: cannot open the store in %s: %s", d->cfg.state_dir,
		          strerror(-rc));
		return rc;
	}

	if ((rc = gw_registry_open(&d->registry, &d->store, emit_event, d)) != 0) {
		log_warnx("daemon: cannot load the registry: %s", strerror(-rc));
		gw_store_close(&d->store);
		return rc;
	}
	if ((rc = gw_catalog_open(&d->catalog, &d->store, d->cfg.release_keys)) != 0) {
		log_warnx("daemon: release_keys %s unusable; the gateway cannot check manifests",
		          d->cfg.release_keys);
		gw_registry_close(&d->registry);
		gw_store_close(&d->store);
		return rc;
	}

	if (d->cfg.coap_listen[0] != '\0') {
		struct gw_coap_config ccfg = {
			.listen = d->cfg.coap_listen, .ca_file = d->cfg.coap_ca,
			.cert_file = d->cfg.coap_cert, .key_file = d->cfg.coap_key,
			.psk_file = d->cfg.coap_psk_file, .max_sessions = d->cfg.coap_max_sessions,
			.max_handshakes = d->cfg.coap_max_handshakes,
			.session_timeout_s = d->cfg.coap_session_timeout,
			.device_rate = d->cfg.coap_device_rate, .block_size = d->cfg.coap_block_size,
		};
		/* Messages arrive only once the loop runs, when every module is up. */
		if ((rc = gw_coap_start(&d->coap, loop, &d->store, &ccfg, on_coap_message, d)) != 0) {
			log_warnx("daemon: no CoAP endpoint on %s", d->cfg.coap_listen);
			gw_registry_close(&d->registry);
			gw_store_close(&d->store);
			return rc;
		}
	}

	mcfg.uri = d->cfg.mqtt_uri;
	mcfg.client_id = d->cfg.mqtt_client_id;
	mcfg.ca_file = d->cfg.mqtt_ca;
	mcfg.cert_file = d->cfg.mqtt_cert;
	mcfg.key_file = d->cfg.mqtt_key;
	mcfg.keepalive_s = (int)d->cfg.mqtt_keepalive;
	mcfg.will_topic = d->status_topic;
	mcfg.will_payload = "offline";
	mcfg.online_payload = "online";
	mcfg.lazy_suffix = "/telemetry";
	if ((rc = gw_mqtt_init(loop, &d->mqtt, &mcfg, on_message, on_link_state, d)) != 0) {
		gw_coap_close(&d->coap);
		gw_registry_close(&d->registry);
		gw_store_close(&d->store);
		return rc;
	}
	for (size_t i = 0; i < sizeof(device_kinds) / sizeof(device_kinds[0]); i++) {
		char filter[128];
		snprintf(filter, sizeof(filter), "tf/%s/dev/+/%s", d->cfg.site, device_kinds[i]);
		gw_mqtt_subscribe(&d->mqtt, filter, 1);
	}
	{
		char filter[128];
		snprintf(filter, sizeof(filter), "%s+/+", d->api_prefix);
		gw_mqtt_subscribe(&d->mqtt, filter, 1);
	}
	gw_outbox_init(&d->outbox, &d->store, &d->mqtt, d->cfg.site);
	gw_monitor_init(&d->monitor, &d->store, emit_event, d);
	gw_api_init(&d->api, d->cfg.site, &d->catalog, &d->registry, &d->monitor, &d->mqtt);
	gw_deltas_init(&d->deltas, loop, &d->store, gw_rollouts_delta_ready, &d->rollouts);
	d->api.deltas = &d->deltas;
	if ((rc = gw_rollouts_open(&d->rollouts, loop, &d->store, &d->registry, &d->catalog,
	                           &d->monitor, &d->deltas, &d->mqtt, &d->api, d->cfg.site,
	                           emit_event, d)) != 0) {
		log_warnx("daemon: cannot load the rollouts: %s", strerror(-rc));
		gw_coap_close(&d->coap);
		gw_registry_close(&d->registry);
		gw_store_close(&d->store);
		return rc;
	}
	/* Offers go to each device over the transport it last spoke on. */
	d->rollouts.send = rollout_send;
	d->rollouts.reachable = rollout_reachable;
	d->rollouts.send_arg = d;
	{
		struct gw_drift_policy p = { d->cfg.drift_share, d->cfg.drift_window_s,
		                             d->cfg.drift_min_devices, d->cfg.drift_action };
		gw_rollouts_set_policy(&d->rollouts, &p);
		gw_rollouts_set_status_retention(&d->rollouts, d->cfg.rollout_status_retention_s);
		d->rollouts.chunk_size = d->cfg.rollout_chunk_size;
	}
	gw_chunks_init(loop, &d->chunks, &d->store, &d->mqtt, d->cfg.site,
	               (uint64_t)d->cfg.chunks_rate_kbps * 1024,
	               (uint64_t)d->cfg.chunks_device_rate_kbps * 1024);

	/* Should its handle not start, each state is committed on its own. */
	(void)gw_state_batch_init(loop, &d->states, &d->registry, after_states, d);
	uv_timer_init(loop, &d->flush_timer);
	d->flush_timer.data = d;
	uv_timer_start(&d->flush_timer, on_flush, d->cfg.telemetry_flush_ms,
	               d->cfg.telemetry_flush_ms);
	gw_model_status_init(&d->model_status);
	uv_timer_init(loop, &d->status_timer);
	d->status_timer.data = d;
	uv_timer_start(&d->status_timer, on_status, 1000, 1000);
	uv_timer_init(loop, &d->watchdog_timer);
	d->watchdog_timer.data = d;
	if (sd_watchdog_enabled(0, &watchdog_us) > 0 && watchdog_us >= 2000)
		uv_timer_start(&d->watchdog_timer, on_watchdog, watchdog_us / 2000,
		               watchdog_us / 2000);

	uv_signal_init(loop, &d->sig_term);
	uv_signal_init(loop, &d->sig_int);
	uv_signal_init(loop, &d->sig_hup);
	d->sig_term.data = d->sig_int.data = d->sig_hup.data = d;
	uv_signal_start(&d->sig_term, on_signal, SIGTERM);
	uv_signal_start(&d->sig_int, on_signal, SIGINT);
	uv_signal_start(&d->sig_hup, on_signal, SIGHUP);

	gw_mqtt_start(&d->mqtt);
	sd_notifyf(0, "READY=1\nSTATUS=connecting to %s", d->cfg.mqtt_uri);
	log_notice("daemon: started for site %s, store %s", d->cfg.site, d->cfg.state_dir);
	return 0;
}

int
gw_daemon_run(struct gw_daemon *d)
{
	uv_run(d->loop, UV_RUN_DEFAULT);
	return d->exit_code;
}
