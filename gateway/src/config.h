/*
 * config: tinyfleetd's configuration file.
 *
 * Format: one `key = value` per line; `#` starts a comment; blank lines are ignored; values
 * run to the end of the line (surrounding blanks trimmed). Every key has a default, so an
 * empty file is a valid configuration. Unknown keys, malformed lines and bad values are
 * errors that name the file and line. Reload parses into a fresh struct and the daemon
 * swaps it in only when the whole file is valid.
 *
 * Keys (default):
 *   site                  site1                   site name in topics: tf/<site>/...
 *   state_dir             /var/lib/tinyfleet      LMDB environment directory
 *   log_level             info                    error | warning | notice | info | debug
 *   mqtt.uri              ssl://127.0.0.1:8883    broker (mutual TLS only: ssl://)
 *   mqtt.client_id        gw-<site>               must equal the certificate's CN
 *   mqtt.ca               /etc/tinyfleet/pki/ca.crt
 *   mqtt.cert             /etc/tinyfleet/pki/gateway.crt
 *   mqtt.key              /etc/tinyfleet/pki/gateway.key
 *   mqtt.keepalive        30                      seconds
 *   release_keys          /etc/tinyfleet/release-keys.pem   trusted release public keys
 *   store.map_size_mb     1024
 *   store.reserve_mb      64                      map space only control state may use
 *   store.telemetry_keep  1000000                 telemetry records kept (oldest trimmed)
 *   telemetry.flush_ms    50                      longest a telemetry record waits for disk
 *                                                 (one fsync'd commit per interval: each costs
 *                                                 ~0.1-0.2 ms of CPU, so shorter costs more)
 *   telemetry.batch_max   4096                    records per telemetry commit
 *   chunks.rate_kbps      0                       update bytes/s to all devices, in KiB/s (0: no limit)
 *   chunks.device_rate_kbps 0                     update bytes/s to one device, in KiB/s (0: no limit)
 *   coap.listen           (empty: off)            CoAP/DTLS device endpoint, "addr:port" (numeric,
 *                                                 e.g. 0.0.0.0:5684 or [::]:5684); see coap.h
 *   coap.ca               = mqtt.ca               fleet CA that issues device certificates
 *   coap.cert             = mqtt.cert             server certificate (the gateway's serves)
 *   coap.key              = mqtt.key
 *   coap.psk_file         (empty: no PSK)         lines "<device-id> <hex key>": devices that may
 *                                                 use DTLS-PSK instead of a certificate
 *   coap.max_sessions     1024                    idle DTLS sessions kept (LRU beyond)
 *   coap.max_handshakes   64                      sessions in a handshake (oldest dropped beyond)
 *   coap.session_timeout  60                      seconds before an idle session, a stalled
 *                                                 handshake or block-wise transfer, is freed
 *   coap.device_rate      200                     requests/s per device (0: no limit); 4.29 beyond
 *   coap.block_size       1024                    largest Block2 size (16..1024, power of two)
 *                         (the coap.* keys take effect on restart, not on SIGHUP)
 *   drift_policy.share    0                       percent of the devices that installed a
 *                                                 version (through a rollout) within
 *                                                 drift_policy.window_s whose concept-drift
 *                                                 alarm is raised, while the devices still on
 *                                                 the previous version stay below it, that
 *                                                 makes the gateway act (0: policy off)
 *   drift_policy.window_s 3600                    "within T after install", seconds
 *   drift_policy.min_devices 5                    fewer recent installs: no verdict yet
 *   drift_policy.action   alert                   alert (drift.alert event) | pause | rollback
 *                                                 (the version's running or paused rollouts)
 *   rollout.status_retention_s 604800             an ended rollout's retained status topic is
 *                                                 cleared this long after it ended (7 days)
 *   rollout.chunk_size    16384                   chunk size offers suggest, bytes (64..16384);
 *                                                 each agent asks for at most its own budget
 *
 * Threads: loop thread only. Errors: -EINVAL (a message naming file:line was logged),
 * -ENOENT / -EACCES (file), -ENOMEM.
 */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"

#define GW_CONFIG_STR 256

struct gw_config {
	char site[32];
	char state_dir[GW_CONFIG_STR];
	enum gw_log_level log_level;
	char mqtt_uri[GW_CONFIG_STR];
	char mqtt_client_id[64];
	char mqtt_ca[GW_CONFIG_STR];
	char mqtt_cert[GW_CONFIG_STR];
	char mqtt_key[GW_CONFIG_STR];
	unsigned mqtt_keepalive;
	char release_keys[GW_CONFIG_STR];
	uint64_t store_map_size_mb;
	uint64_t store_reserve_mb;
	uint64_t store_telemetry_keep;
	unsigned telemetry_flush_ms;
	unsigned telemetry_batch_max;
	unsigned chunks_rate_kbps;
	unsigned chunks_device_rate_kbps;
	char coap_listen[64];
	char coap_ca[GW_CONFIG_STR];
	char coap_cert[GW_CONFIG_STR];
	char coap_key[GW_CONFIG_STR];
	char coap_psk_file[GW_CONFIG_STR];
	unsigned coap_max_sessions;
	unsigned coap_max_handshakes;
	unsigned coap_session_timeout;
	unsigned coap_device_rate;
	unsigned coap_block_size;
	unsigned drift_share;         /* percent, 0 = off */
	unsigned drift_window_s;
	unsigned drift_min_devices;
	int drift_action;             /* 0 alert, 1 pause, 2 rollback */
	unsigned rollout_status_retention_s;
	unsigned rollout_chunk_size;
};

void gw_config_defaults(struct gw_config *c);
/* Parses a whole file into *c (which gets the defaults first). */
int gw_config_load(struct gw_config *c, const char *path);
/* Parses text (for tests and -n); `name` appears in messages. */
int gw_config_parse(struct gw_config *c, const char *text, size_t len, const char *name);

#endif
