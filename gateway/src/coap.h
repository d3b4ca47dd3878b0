/*
 * coap: the gateway's CoAP device endpoint (RFC 7252) over DTLS 1.2, for devices that
 * cannot afford MQTT over TLS. A libcoap (Debian libcoap3, OpenSSL backend) server driven by
 * the daemon's libuv loop: libcoap's epoll descriptor is watched with uv_poll and its next
 * deadline with a uv_timer, and every libcoap call happens on the loop thread (no thread of
 * its own).
 *
 * Trust (DESIGN.md "Trust"): DTLS with PKI; a client must present a certificate issued by
 * the fleet CA, and its CN is the device id. Optionally a device may use a pre-shared key
 * instead (coap.psk_file); its PSK identity is then its device id. A CN or PSK identity that
 * is not a device id ([A-Za-z0-9._-], at most 64, not starting with "gw-" or "op-") fails
 * the handshake. A device may only touch its own dev/<id>/ resources. (libcoap names a
 * certificate by its first subjectAltName when it has one, else by its CN; deploy/pki.sh
 * issues device certificates without subjectAltName, so the CN is the identity.)
 *
 * Resources (coap_path.h): POST dev/<id>/{state,conn,telemetry,report} hand the payload to
 * the same entry point as the MQTT device plane (on_message); GET dev/<id>/cmd is
 * observable (RFC 7641) and carries the commands of gw_coap_send_command(); GET obj/<hex>
 * serves stored objects block-wise (RFC 7959 Block2, at most coap.block_size bytes, ETag =
 * the first 8 bytes of the SHA-256, Size2 = the object's size). Block2 serving is stateless:
 * every block is read from LMDB on request, so a transfer resumes from any block, and a
 * stalled transfer holds nothing but its DTLS session, which the idle timeout reclaims.
 *
 * Response codes: 2.04 accepted; 2.05 content; 4.00 payload refused by the decoder (the
 * reason is the diagnostic payload); 4.01 no authenticated identity; 4.02 block past the
 * end; 4.03 another device's path; 4.04 unknown path or object; 4.05 wrong method;
 * 4.13 payload too large or block-wise upload; 4.15 unsupported content format; 4.29 over
 * the per-device request rate (Max-Age says when to retry); 5.00 internal errors.
 *
 * Bounds: coap.max_sessions (libcoap's max idle sessions), coap.max_handshakes (sessions in
 * a DTLS handshake; the oldest is dropped beyond it), coap.session_timeout (idle sessions,
 * including stalled handshakes and stalled block-wise transfers, are freed after it),
 * coap.device_rate (requests per second per device, token bucket with one second of burst).
 * libcoap answers a ClientHello without a valid cookie statelessly (DTLS HelloVerifyRequest),
 * so spoofed handshakes cost no session at all. A session that observes dev/<id>/cmd is held
 * by its observation (libcoap does not time it out); a device's new session therefore
 * disconnects its older ones, so such sessions number at most one per device.
 *
 * Threads: loop thread only. Errors: negative errno.
 */
#ifndef GW_COAP_H
#define GW_COAP_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "devtab.h"
#include "store.h"

struct gw_coap_config {
	const char *listen;          /* "host:port", e.g. "127.0.0.1:5684" (numeric address) */
	const char *ca_file;         /* fleet CA (PEM) */
	const char *cert_file;       /* the gateway's server certificate (PEM) */
	const char *key_file;        /* its key */
	const char *psk_file;        /* NULL/"": no PSK; else lines "<device-id> <hex key>" */
	unsigned max_sessions;       /* 0: 1024 */
	unsigned max_handshakes;     /* 0: 64 */
	unsigned session_timeout_s;  /* 0: 60 */
	unsigned device_rate;        /* requests/s per device, 0: unlimited */
	unsigned block_size;         /* 16..1024, power of two; 0: 1024 */
};

/*
 * A device message, as the MQTT device plane delivers it: id is authenticated, kind is
 * "state", "conn", "telemetry" or "report". Returns 0 (accepted), -EBADMSG (payload refused),
 * -EPERM (names another device) or another negative errno (internal).
 */
typedef int (*gw_coap_message_fn)(void *arg, const char *id, const char *kind,
                                  const uint8_t *payload, size_t len);

struct gw_coap_stats {
	uint64_t requests;           /* requests that reached a handler */
	uint64_t accepted;           /* POSTs handed on and accepted */
	uint64_t refused;            /* 4.00 */
	uint64_t forbidden;          /* 4.01 and 4.03 */
	uint64_t not_found;          /* 4.04 */
	uint64_t rate_limited;       /* 4.29 */
	uint64_t blocks;             /* Block2 responses served */
	uint64_t block_bytes;
	uint64_t commands_sent;      /* command notifications and GET answers with a command */
	uint64_t sessions_new;       /* server sessions libcoap created (past the cookie) */
	uint64_t sessions_del;       /* ... and freed (idle, limits, closed) */
	uint64_t handshakes_ok;      /* DTLS sessions established with a device identity */
	uint64_t identities_refused; /* certificates or PSK identities refused */
	uint64_t sessions_replaced;  /* older sessions of a device dropped for its new one */
};

struct gw_coap_peer;
struct gw_coap_psk;

struct gw_coap {
	uv_loop_t *loop;
	struct gw_store *store;
	void *ctx;                   /* coap_context_t */
	uv_poll_t poll;
	uv_timer_t timer;
	int started;
	struct gw_coap_config cfg;
	char *ca_file, *cert_file, *key_file;   /* copies: libcoap keeps the pointers */
	struct gw_devtab devices;    /* struct gw_coap_dev, by id */
	struct gw_coap_peer *peers;  /* per-session state, freed with the session */
	struct gw_coap_psk *psks;
	size_t npsks;
	gw_coap_message_fn on_message;
	void *arg;
	struct gw_coap_stats stats;
};

/* Starts listening. The config strings are copied. Errors: -EINVAL (bad listen address,
 * block size, PSK file), -EIO (libcoap refused the certificates or the endpoint; logged). */
int gw_coap_start(struct gw_coap *c, uv_loop_t *loop, struct gw_store *store,
                  const struct gw_coap_config *cfg, gw_coap_message_fn on_message, void *arg);

/*
 * Queues a command (an encoded update offer, rollback or config; protocol/msg_command.h)
 * for a device and notifies its observation of dev/<id>/cmd at once. A device that is not
 * observing gets the command when it next GETs or observes dev/<id>/cmd; a newer command
 * replaces an undelivered older one (commands are idempotent by command id, and the sender
 * re-sends what still matters, as over MQTT). 0, -EINVAL, -ENOMEM, -ENOENT (the device
 * never spoke CoAP to this gateway).
 */
int gw_coap_send_command(struct gw_coap *c, const char *device_id, const uint8_t *buf,
                         size_t len);

/* Whether the device's latest message came over CoAP (then commands go by CoAP). */
int gw_coap_is_home(const struct gw_coap *c, const char *device_id);
/* The device spoke over MQTT: commands go by MQTT from now on. */
void gw_coap_away(struct gw_coap *c, const char *device_id);

/* Server sessions currently held by libcoap (established, idle or in a handshake). */
unsigned gw_coap_sessions(const struct gw_coap *c);

/* Frees libcoap's context (every session and observation) and closes the handles. Safe on
 * a zeroed struct and twice. */
void gw_coap_close(struct gw_coap *c);

#endif
