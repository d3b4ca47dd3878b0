/*
 * port/posix CoAP transport: one device's link to the gateway's CoAP endpoint over DTLS 1.2
 * (RFC 7252, RFC 6347), on libcoap (Debian libcoap3, OpenSSL), driven by the caller's event
 * loop. The same role as the MQTT transport (tinyfleet/port/mqtt.h), for devices that cannot
 * afford MQTT over TLS; the OTA core sees the same channels either way.
 *
 * Channels to resources (gateway/src/coap.h):
 *   state, conn, telemetry, report   POST dev/<id>/<channel> (telemetry NON and SenML-CBOR,
 *                                    the rest CON and application/cbor)
 *   cmd                              GET dev/<id>/cmd with Observe, from each connect on:
 *                                    every notification with a payload is one command
 *   chunk/req -> chunk/resp          a chunk request becomes GET obj/<hex> with Block2 (the
 *                                    largest block of at most 1024 bytes and the asked length
 *                                    that the offset is a multiple of); the answer comes back
 *                                    as an encoded chunk response (offset from Block2, total
 *                                    from Size2), so the core's resumable pull is unchanged
 * After the DTLS handshake the transport observes cmd and POSTs conn = 1; tfa_coap_close
 * POSTs conn = 2 first. A failed or closed session is re-created after 2 s. An idle link
 * sends a CoAP ping every keepalive_s seconds: the gateway frees DTLS sessions idle for
 * coap.session_timeout (60 s by default), and with it the observation that carries
 * commands; a ping keeps both, and a ping or request that goes unanswered (the gateway
 * restarted or forgot the session) makes the transport start a new session, which
 * observes cmd again.
 *
 * Identity: the device certificate (CN = device id) from the fleet CA, or a PSK (identity =
 * device id) when psk_key is set. The server's certificate must come from the same CA.
 *
 * Threads: one thread owns a struct tfa_coap; callbacks run inside tfa_coap_io on it.
 * Memory: libcoap and OpenSSL allocate (host only); one libcoap context per device.
 */
#ifndef TINYFLEET_PORT_COAP_H
#define TINYFLEET_PORT_COAP_H

#include <stddef.h>
#include <stdint.h>

#include "tinyfleet/agent/port.h"
#include "tinyfleet/protocol/common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct coap_context_t;
struct coap_session_t;

struct tfa_coap_opts {
	const char *host;               /* numeric address of the gateway, e.g. "127.0.0.1" */
	int port;                       /* its CoAP/DTLS port (5684 by convention) */
	const char *cafile, *certfile, *keyfile;
	const char *device_id;          /* must equal the certificate's CN (or PSK identity) */
	const char *psk_key;            /* NULL: certificate; else the PSK in hex */
	int keepalive_s;                /* CoAP ping after this many idle seconds; 0: 25 */
};

/* Same shapes as the MQTT transport's callbacks. */
typedef void (*tfa_coap_msg_fn)(void *user, enum tfa_chan ch, const uint8_t *buf, size_t len);
typedef void (*tfa_coap_conn_fn)(void *user, int up);

#define TFA_COAP_PATH_MAX (TFP_DEVICE_ID_MAX + 16)

struct tfa_coap_stats {
	uint32_t connects, disconnects;
	uint32_t sent, send_errors;     /* POSTs and GETs handed to libcoap */
	uint32_t commands;              /* command notifications delivered */
	uint32_t blocks;                /* Block2 answers delivered as chunk responses */
	uint32_t errors;                /* 4.xx / 5.xx answers */
};

struct tfa_coap {
	struct coap_context_t *ctx;
	struct coap_session_t *session;
	int up;                         /* DTLS established, cmd observed */
	uint64_t retry_at_ms;           /* 0: no reconnect pending */
	uint64_t now_ms;
	char path[TFA_CHAN_COUNT][TFA_COAP_PATH_MAX];
	char ca[256], cert[256], key[256];
	uint8_t psk[64];
	size_t psk_len;
	char id[TFP_DEVICE_ID_MAX + 1];
	uint64_t server[16];            /* coap_address_t, opaque here (aligned storage) */
	uint8_t obs_token[8];           /* token of the cmd observation */
	size_t obs_token_len;
	uint8_t chunk_token[8];         /* token of the chunk GET in flight */
	size_t chunk_token_len;
	uint8_t chunk_object[TFP_DIGEST_LEN];
	uint32_t chunk_length;          /* bytes the core asked for */
	struct tfa_coap_stats stats;
	tfa_coap_msg_fn on_msg;
	tfa_coap_conn_fn on_conn;
	void *user;
};

/*
 * Creates the libcoap context and starts the DTLS handshake. Returns 0, TFP_ERR_ARG (bad
 * options, address or PSK), or TFA_ERR_OFFLINE when libcoap refuses (bad files, no DTLS).
 */
int tfa_coap_init(struct tfa_coap *q, const struct tfa_coap_opts *o, tfa_coap_msg_fn on_msg,
                  tfa_coap_conn_fn on_conn, void *user);

/* Sends one message on an outbound channel. TFA_ERR_OFFLINE when the link is not up or
 * libcoap refuses; TFP_ERR_ARG for an inbound channel or an undecodable chunk request. */
int tfa_coap_send(struct tfa_coap *q, enum tfa_chan ch, const uint8_t *buf, size_t len);

/* The descriptor to poll for POLLIN (libcoap's epoll descriptor; -1 when none). */
int tfa_coap_fd(const struct tfa_coap *q);
short tfa_coap_events(const struct tfa_coap *q);

/* Runs libcoap's I/O and timers without blocking, then reconnects when due. */
void tfa_coap_io(struct tfa_coap *q, short revents, uint64_t now_ms);

/* Says goodbye (conn = 2), closes the session and frees; safe on a zeroed struct. */
void tfa_coap_close(struct tfa_coap *q);

#ifdef __cplusplus
}
#endif

#endif
