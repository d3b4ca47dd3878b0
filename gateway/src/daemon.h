/*
 * daemon: tinyfleetd's top level. One libuv loop owns every piece of state below; this is
 * where the parts are started, wired together and stopped, in one readable place.
 *
 * Lifecycle: gw_daemon_start() opens the store, starts the MQTT link and the timers and
 * reports READY to systemd; SIGTERM/SIGINT drain (flush telemetry, close the link, close
 * LMDB cleanly) and make gw_daemon_run() return; SIGHUP re-reads the configuration file
 * and applies what can change at run time (log level, telemetry flush settings, chunk
 * rate limits) only when
 * the whole file is valid; a bad file keeps the old configuration.
 */
#ifndef GW_DAEMON_H
#define GW_DAEMON_H

#include <uv.h>

#include "api.h"
#include "catalog.h"
#include "chunks.h"
#include "coap.h"
#include "config.h"
#include "deltas.h"
#include "modelstatus.h"
#include "monitor.h"
#include "mqtt.h"
#include "outbox.h"
#include "registry.h"
#include "rollout.h"
#include "state_batch.h"
#include "store.h"

struct gw_daemon {
	uv_loop_t *loop;
	const char *config_path;
	struct gw_config cfg;
	struct gw_store store;
	struct gw_registry registry;
	struct gw_catalog catalog;
	struct gw_api api;
	struct gw_chunks chunks;
	struct gw_deltas deltas;
	struct gw_monitor monitor;
	struct gw_rollouts rollouts;
	struct gw_mqtt mqtt;
	struct gw_outbox outbox;   /* operator events until the broker has them */
	struct gw_coap coap;       /* CoAP/DTLS device endpoint (coap.listen; started when set) */
	struct gw_state_batch states;   /* MQTT state messages, committed in groups */
	uv_timer_t flush_timer;
	uv_timer_t watchdog_timer;
	uv_timer_t status_timer;   /* retained tf/<site>/status/fleet, once a second if changed */
	char *fleet_status;        /* the last one published, without "at" */
	struct gw_model_status model_status;   /* retained tf/<site>/status/model/<name> */
	uv_signal_t sig_term, sig_int, sig_hup;
	char topic_prefix[64];     /* "tf/<site>/" */
	char api_prefix[64];       /* "tf/<site>/api/req/" */
	char status_topic[96];
	int stopping;
	int exit_code;
	uint64_t rejected;         /* device messages refused (bad topic, bad payload) */
};

int gw_daemon_start(struct gw_daemon *d, uv_loop_t *loop, const char *config_path,
                    const struct gw_config *cfg);
/* Runs the loop until the daemon has stopped; returns the exit code. */
int gw_daemon_run(struct gw_daemon *d);
/* Starts an orderly stop (also what SIGTERM does). */
void gw_daemon_stop(struct gw_daemon *d);

/*
 * Sends a command (an encoded update offer, rollback or config, protocol/msg_command.h) to a
 * device over the transport it last spoke on: CoAP (observe on dev/<id>/cmd; queued until
 * the device observes) when its latest message came over CoAP, else MQTT (QoS 1 on
 * tf/<site>/dev/<id>/cmd). The rollout engine and operator actions call this, never a
 * transport directly. 0, or a negative errno (-ENOTCONN: the MQTT link is down; the caller
 * re-sends later, as commands are idempotent by command id). Loop thread only.
 */
int gw_device_send_command(struct gw_daemon *d, const char *device_id, const uint8_t *buf,
                           size_t len);

#endif
