/*
 * mqtt: the gateway's MQTT v5 link over mutual TLS, on Paho MQTT C's async client.
 *
 * Threads: Paho runs its own threads and calls back on them; those callbacks only copy
 * what they got into a mail item and post it to the loop (mailbox.h). Every function here
 * and every callback given to gw_mqtt_init() runs on the loop thread.
 *
 * The link reconnects by itself with jittered exponential backoff (a fleet's gateways must
 * not stampede a restarted broker whose listen backlog is 100), keeps a persistent session
 * (clean start off, session expiry set), and re-subscribes every filter on each connect.
 * Messages arrive in order; when the loop falls behind and the mailbox is full, the Paho
 * callback declines the message and Paho redelivers it later, pushing back on the broker
 * instead of dropping.
 */
#ifndef GW_MQTT_H
#define GW_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <MQTTAsync.h>
#include <uv.h>

#include "mailbox.h"

#define GW_MQTT_MAX_SUBS 16

struct gw_mqtt_config {
	const char *uri;           /* e.g. "ssl://127.0.0.1:8883" */
	const char *client_id;     /* the gateway's certificate CN */
	const char *ca_file;       /* fleet CA */
	const char *cert_file;     /* client certificate (PEM) */
	const char *key_file;      /* its private key (PEM) */
	int keepalive_s;           /* 0: 30 */
	unsigned session_expiry_s; /* 0: 3600 */
	unsigned backoff_min_ms;   /* 0: 250 */
	unsigned backoff_max_ms;   /* 0: 30000 */
	size_t mailbox_max;        /* 0: 65,536 messages */
	const char *will_topic;    /* retained will (NULL: none) */
	const char *will_payload;
	const char *online_payload;/* published retained to will_topic on every connect */
	/* Messages whose topic ends with this (NULL: none) are queued without waking the loop:
	 * the owner collects them with gw_mqtt_poll() on its own timer (any other message, or
	 * lazy_wake_at of them waiting, delivers them too, in order). For a stream that is
	 * batched anyway, such as telemetry. */
	const char *lazy_suffix;
	size_t lazy_wake_at;       /* 0: 512 */
	/* QoS 1 publishes awaiting the broker's PUBACK at once (0: 64). Keep it below the
	 * broker's receive maximum (max_inflight_messages): past it Paho holds messages and
	 * sends them on a one-second timer. Publishes beyond the window wait here, in order. */
	unsigned window;
	size_t wait_max;           /* publishes that may wait for the window (0: 262,144) */
};

/* An arrived message. Everything borrows the mail item and is valid only during the
 * message callback. */
struct gw_mqtt_msg {
	const char *topic;                 /* NUL-terminated */
	const uint8_t *payload;
	size_t len;
	int qos;
	int retained;
	const char *response_topic;        /* MQTT v5 property, or NULL */
	const uint8_t *correlation;        /* MQTT v5 property, or NULL */
	size_t correlation_len;
};

/* Reply properties for a response to a request (MQTT v5 request/response). */
struct gw_mqtt_reply {
	const uint8_t *correlation;
	size_t correlation_len;
};

typedef void (*gw_mqtt_message_fn)(void *arg, const struct gw_mqtt_msg *m);
/* A tracked publish ended: delivered (QoS 1: PUBACK received) or not (ok 0). */
typedef void (*gw_mqtt_delivery_fn)(void *arg, int token, int ok);
/* connected: 1 on (re)connect, 0 on loss; why is a short reason on loss. */
typedef void (*gw_mqtt_state_fn)(void *arg, int connected, const char *why);

struct gw_mqtt_stats {
	uint64_t received;
	uint64_t deferred;         /* declined while the mailbox was full (redelivered) */
	uint64_t published;
	uint64_t publish_errors;
	uint64_t connects;
	uint64_t connect_failures;
};

struct gw_mqtt {
	uv_loop_t *loop;
	MQTTAsync client;
	struct gw_mailbox mailbox;
	uv_timer_t retry;
	struct gw_mqtt_config cfg;
	char *subs[GW_MQTT_MAX_SUBS];
	int sub_qos[GW_MQTT_MAX_SUBS];
	int nsubs;
	int connected;
	int closing;
	int handles_open;          /* mailbox + timer, counted down on close */
	unsigned backoff_ms;
	gw_mqtt_message_fn on_message;
	gw_mqtt_state_fn on_state;
	void *arg;
	void (*on_closed)(struct gw_mqtt *);
	gw_mqtt_delivery_fn on_delivery;
	void *delivery_arg;
	size_t lazy_suffix_len;
	uint64_t deferred;         /* written by Paho threads: read only for stats */
	struct gw_mqtt_stats stats;
	/* The publish window (gw_mqtt_config.window): Paho tokens of QoS 1 publishes in
	 * flight, with the caller's token for tracked ones (0: untracked). */
	struct { int paho, mine; } *inflight;
	unsigned ninflight;
	struct gw_mqtt_pub *wait_head, *wait_tail;
	size_t waiting;
	int next_token;
	/* Publishes that entered / left the wait queue, ever (FIFO): a publish that entered
	 * as number T still waits while left < T. See gw_mqtt_waiting(). */
	uint64_t entered, left;
};

/* The strings in cfg must outlive the link. Errors: -EINVAL, -ENOMEM, -EIO (Paho refused
 * the options; logged). */
int gw_mqtt_init(uv_loop_t *loop, struct gw_mqtt *m, const struct gw_mqtt_config *cfg,
                 gw_mqtt_message_fn on_message, gw_mqtt_state_fn on_state, void *arg);
/* Remembers a subscription; sends it now if connected and again on every reconnect. */
int gw_mqtt_subscribe(struct gw_mqtt *m, const char *filter, int qos);
/* Starts connecting (and reconnecting from then on). */
int gw_mqtt_start(struct gw_mqtt *m);
/* Queues a publish; topic and payload are copied. -ENOTCONN when the link is down (the
 * caller decides whether to retry: state is in the store, so re-sending is idempotent),
 * -ENOBUFS when the window's queue is full. */
int gw_mqtt_publish(struct gw_mqtt *m, const char *topic, const void *payload, size_t len,
                    int qos, int retain, const struct gw_mqtt_reply *reply);
/* Like gw_mqtt_publish(), and *token names the publish in the delivery callback set with
 * gw_mqtt_on_delivery(), which runs on the loop once Paho reports the outcome. Tokens are
 * the link's own (positive), not Paho's, since a publish may wait for the window. */
int gw_mqtt_publish_tracked(struct gw_mqtt *m, const char *topic, const void *payload,
                            size_t len, int qos, int retain, int *token);
void gw_mqtt_on_delivery(struct gw_mqtt *m, gw_mqtt_delivery_fn fn, void *arg);
/* Call right after a publish: its place in the wait queue, or 0 when it went straight to
 * Paho. gw_mqtt_waiting(m, place): whether it still waits for the window (not yet sent). */
uint64_t gw_mqtt_queue_place(const struct gw_mqtt *m, uint64_t entered_before);
bool gw_mqtt_waiting(const struct gw_mqtt *m, uint64_t place);
/* Delivers the messages queued lazily (see lazy_suffix) now. */
void gw_mqtt_poll(struct gw_mqtt *m);
void gw_mqtt_stats(const struct gw_mqtt *m, struct gw_mqtt_stats *out);
/* Disconnects, stops Paho's callbacks for this client and closes the handles; on_closed
 * (may be NULL) runs when the memory may go. */
void gw_mqtt_close(struct gw_mqtt *m, void (*on_closed)(struct gw_mqtt *));

#endif
