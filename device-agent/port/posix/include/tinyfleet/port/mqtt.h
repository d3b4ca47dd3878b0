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
 * Reconnects: after a lost link or a failed attempt the next attempt waits a jittered
 * exponential backoff (1 s doubling to 30 s, each wait drawn from [b/2, b]), so that a fleet
 * that lost its broker does not come back as one burst; an attempt without CONNACK within
 * TFA_MQTT_CONNECT_TIMEOUT_MS, or whose socket hangs up before it, is abandoned and retried
 * the same way. (libmosquitto 2.0 treats a TLS handshake that meets a closed socket,
 * SSL_ERROR_SYSCALL, as still in progress: without this the client waits for ever and its
 * socket reports POLLHUP to every poll. That was the simulator's stall at ~7,000
 * connections.)
 *
 * TLS: by default each client gets its own OpenSSL context from mosquitto_tls_set (the CA,
 * its certificate and key). A process that runs many clients (the simulator) can instead
 * make one shared context with tfa_mqtt_tls_shared() and pass it in the options: the CA and
 * the broker's name are checked once per process, each client's certificate and key are
 * loaded into its own connection when the broker asks for them, and idle connections give
 * their TLS buffers back (SSL_MODE_RELEASE_BUFFERS).
 *
 * Fault injection (the simulator's flaky links, tfa_mqtt_faults): tfa_mqtt_drop cuts the
 * link like a network failure (socket shut down, no DISCONNECT, so the broker publishes the
 * will), then the backoff applies; outgoing messages may be held for a delay before they
 * are handed to libmosquitto (QoS 1 ones wait for the link; at most TFA_MQTT_HELD_MAX are
 * held, the oldest dropped first), and a share of QoS 0 messages (telemetry) may be lost.
 *
 * Threads: one thread owns a struct tfa_mqtt; callbacks run inside tfa_mqtt_io/_misc on it.
 * Memory: libmosquitto and OpenSSL allocate, as do held messages (host only).
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
	void *tls_shared;               /* from tfa_mqtt_tls_shared, or NULL (see above) */
	uint32_t seed;                  /* jitter of the backoff (e.g. a hash of the id) */
};

/* A message on an inbound channel (TFA_CHAN_CMD, TFA_CHAN_CHUNK_RESP); buf lives for the
 * call only. */
typedef void (*tfa_mqtt_msg_fn)(void *user, enum tfa_chan ch, const uint8_t *buf, size_t len);
/* The link came up (1, after subscribing) or went down (0). */
typedef void (*tfa_mqtt_conn_fn)(void *user, int up);

#define TFA_MQTT_TOPIC_MAX 128
#define TFA_MQTT_BASE_MAX 96            /* "tf/<site>/dev/<id>/" */
#define TFA_MQTT_CONNECT_TIMEOUT_MS 20000u
#define TFA_MQTT_BACKOFF_MIN_MS 1000u
#define TFA_MQTT_BACKOFF_MAX_MS 30000u
#define TFA_MQTT_HELD_MAX 64

struct tfa_mqtt_held;

struct tfa_mqtt {
	struct mosquitto *m;
	char base[TFA_MQTT_BASE_MAX];   /* topic prefix; channel suffixes are appended */
	uint8_t base_len;
	uint8_t up;                     /* CONNACK received, subscribed */
	uint8_t connecting;
	uint8_t failures;               /* attempts since the last CONNACK (backoff exponent) */
	uint8_t abandoned;              /* attempt given up; its socket waits for the retry */
	uint32_t rng;
	uint64_t retry_at_ms;           /* 0: not scheduled */
	uint64_t connect_at_ms;         /* start of the attempt in progress */
	const char *certfile, *keyfile; /* borrowed (shared TLS context) */
	uint32_t connects, disconnects, drops, timeouts;
	/* fault injection */
	uint32_t delay_ms;
	uint16_t qos0_loss_permille;
	uint16_t held_count;
	uint32_t qos0_lost, held_dropped;
	struct tfa_mqtt_held *held, *held_tail;
	tfa_mqtt_msg_fn on_msg;
	tfa_mqtt_conn_fn on_conn;
	void *user;
};

/* Once per process (mosquitto_lib_init / _cleanup). */
void tfa_mqtt_global_init(void);
void tfa_mqtt_global_cleanup(void);

/* One TLS client context for every client of the process (see above): trusts cafile only,
 * checks that the broker's certificate names host (DNS name or IP address). NULL on error.
 * Freed by tfa_mqtt_tls_shared_free once no client uses it any more. */
void *tfa_mqtt_tls_shared(const char *cafile, const char *host);
void tfa_mqtt_tls_shared_free(void *ctx);

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

/* Fault injection: hold every outgoing message delay_ms; lose this many per mille of the
 * QoS 0 ones. 0, 0: none (the default). */
void tfa_mqtt_faults(struct tfa_mqtt *q, uint32_t delay_ms, unsigned qos0_loss_permille);

/* Cuts the link as a network failure would (the will fires); reconnects after the backoff.
 * Held messages stay held (QoS 1) or are lost (QoS 0). No-op without a socket. */
void tfa_mqtt_drop(struct tfa_mqtt *q, uint64_t now_ms);

/* Says goodbye (conn = 2), disconnects and frees; safe on a zeroed struct. */
void tfa_mqtt_close(struct tfa_mqtt *q);

#ifdef __cplusplus
}
#endif

#endif
