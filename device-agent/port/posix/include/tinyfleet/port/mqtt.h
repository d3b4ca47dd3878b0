/*
 * port/posix MQTT transport: one device's link to the site's Mosquitto over mutual TLS,
 * on libmosquitto, driven by the caller's event loop.
 *
 * Why libmosquitto (Debian libmosquitto-dev) and not Paho MQTT C (which the gateway uses):
 * the fleet simulator runs thousands of devices in one thread. libmosquitto lets the caller
 * own the loop: mosquitto_socket() gives each client's fd, and mosquitto_loop_read/_write/
 * _misc run one client's I/O when poll() says so, with no thread per client. Paho's async
 * client starts its own threads and its synchronous client blocks; neither fits one thread
 * driving N connections.
 *
 * Topics: tf/<site>/dev/<id>/{state,conn,telemetry,report,chunk/req} out, .../cmd and
 * .../chunk/resp in (schemas/README.md). QoS 1 everywhere except telemetry (QoS 0). The
 * will is the retained conn marker 0 (CONN-OFFLINE-WILL); after connecting the transport
 * publishes conn = 1 (retained) and subscribes; tfa_mqtt_close publishes conn = 2 first.
 *
 * Threads: one thread owns a struct tfa_mqtt; callbacks run inside tfa_mqtt_io/_misc on it.
 * Memory: libmosquitto and OpenSSL allocate (host only).
 */
#ifndef TINYFLEET_PORT_MQTT_H
#define TINYFLEET_PORT_MQTT_H

#include <stddef.h>
#include <stdint.h>

#include "tinyfleet/agent/port.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mosquitto;

struct tfa_mqtt_opts {
	const char *host;
	int port;
	const char *cafile, *certfile, *keyfile;
	const char *site;
	const char *device_id;          /* must equal the certificate's CN */
	int keepalive;                  /* seconds; 0: 60 */
};

/* A message on an inbound channel (TFA_CHAN_CMD, TFA_CHAN_CHUNK_RESP); buf lives for the
 * call only. */
typedef void (*tfa_mqtt_msg_fn)(void *user, enum tfa_chan ch, const uint8_t *buf, size_t len);
/* The link came up (1, after subscribing) or went down (0). */
typedef void (*tfa_mqtt_conn_fn)(void *user, int up);

#define TFA_MQTT_TOPIC_MAX 128

struct tfa_mqtt {
	struct mosquitto *m;
	char topic[TFA_CHAN_COUNT][TFA_MQTT_TOPIC_MAX];
	int up;                         /* CONNACK received, subscribed */
	int connecting;
	uint64_t retry_at_ms;
	uint32_t connects, disconnects;
	tfa_mqtt_msg_fn on_msg;
	tfa_mqtt_conn_fn on_conn;
	void *user;
};

/* Once per process (mosquitto_lib_init / _cleanup). */
void tfa_mqtt_global_init(void);
void tfa_mqtt_global_cleanup(void);

/*
 * Creates the client, sets TLS, the will and callbacks, and starts a non-blocking connect.
 * Returns 0, TFP_ERR_ARG, or TFA_ERR_OFFLINE when libmosquitto refuses (bad files, out of
 * memory, connect() failing at once).
 */
int tfa_mqtt_init(struct tfa_mqtt *q, const struct tfa_mqtt_opts *o, tfa_mqtt_msg_fn on_msg,
                  tfa_mqtt_conn_fn on_conn, void *user);

/* Publishes (QoS 1; telemetry QoS 0; state and conn retained). TFA_ERR_OFFLINE when the
 * link is not up or the publish fails. */
int tfa_mqtt_send(struct tfa_mqtt *q, enum tfa_chan ch, const uint8_t *buf, size_t len);

/* The socket to poll (-1 when none) and the events to poll for (POLLIN, plus POLLOUT when
 * libmosquitto has data to write). */
int tfa_mqtt_fd(const struct tfa_mqtt *q);
short tfa_mqtt_events(const struct tfa_mqtt *q);

/* Runs I/O for poll()'s revents; then keepalive and reconnects (now: monotonic ms). */
void tfa_mqtt_io(struct tfa_mqtt *q, short revents, uint64_t now_ms);

/* Says goodbye (conn = 2), disconnects and frees; safe on a zeroed struct. */
void tfa_mqtt_close(struct tfa_mqtt *q);

#ifdef __cplusplus
}
#endif

#endif
