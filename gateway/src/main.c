/*
 * tinyfleetd: the tinyfleet gateway daemon.
 *
 *   tinyfleetd [-f CONFIG] [-n] [-d]
 *     -f CONFIG  configuration file (default /etc/tinyfleet/tinyfleetd.conf)
 *     -n         check the configuration, print the effective values, and exit
 *     -d         log at debug level (overrides log_level)
 */
#include <openssl/crypto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "log.h"

static void
usage(void)
{
	fprintf(stderr, "usage: tinyfleetd [-f config] [-n] [-d]\n");
	exit(2);
}

static void
print_config(const struct gw_config *c)
{
	printf("site = %s\nstate_dir = %s\nmqtt.uri = %s\nmqtt.client_id = %s\n"
	       "mqtt.ca = %s\nmqtt.cert = %s\nmqtt.key = %s\nmqtt.keepalive = %u\n"
	       "release_keys = %s\nstore.map_size_mb = %llu\nstore.reserve_mb = %llu\n"
	       "store.telemetry_keep = %llu\ntelemetry.flush_ms = %u\ntelemetry.batch_max = %u\n"
	       "chunks.rate_kbps = %u\nchunks.device_rate_kbps = %u\n",
	       c->site, c->state_dir, c->mqtt_uri, c->mqtt_client_id, c->mqtt_ca, c->mqtt_cert,
	       c->mqtt_key, c->mqtt_keepalive, c->release_keys,
	       (unsigned long long)c->store_map_size_mb, (unsigned long long)c->store_reserve_mb,
	       (unsigned long long)c->store_telemetry_keep, c->telemetry_flush_ms,
	       c->telemetry_batch_max, c->chunks_rate_kbps, c->chunks_device_rate_kbps);
	printf("coap.listen = %s\ncoap.ca = %s\ncoap.cert = %s\ncoap.key = %s\n"
	       "coap.psk_file = %s\ncoap.max_sessions = %u\ncoap.max_handshakes = %u\n"
	       "coap.session_timeout = %u\ncoap.device_rate = %u\ncoap.block_size = %u\n",
	       c->coap_listen, c->coap_ca, c->coap_cert, c->coap_key, c->coap_psk_file,
	       c->coap_max_sessions, c->coap_max_handshakes, c->coap_session_timeout,
	       c->coap_device_rate, c->coap_block_size);
	printf("drift_policy.share = %u\ndrift_policy.window_s = %u\n"
	       "drift_policy.min_devices = %u\ndrift_policy.action = %s\n", c->drift_share,
	       c->drift_window_s, c->drift_min_devices,
	       c->drift_action == 2 ? "rollback" : c->drift_action == 1 ? "pause" : "alert");
	printf("rollout.status_retention_s = %u\nrollout.chunk_size = %u\n",
	       c->rollout_status_retention_s, c->rollout_chunk_size);
}

int
main(int argc, char **argv)
{
	const char *path = "/etc/tinyfleet/tinyfleetd.conf";
	int check = 0, debug = 0, ch, rc;
	struct gw_config cfg;
	struct gw_daemon d;
	uv_loop_t loop;

	/* Paho's threads may still be winding down when main returns; OpenSSL's exit handler
	 * would free their thread-local state under them (a double free at their exit). Each
	 * thread frees its own state when it ends, so the handler is not needed. */
	OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);

	while ((ch = getopt(argc, argv, "f:nd")) != -1) {
		switch (ch) {
		case 'f': path = optarg; break;
		case 'n': check = 1; break;
		case 'd': debug = 1; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();

	gw_log_init(debug ? GW_LOG_DEBUG : GW_LOG_INFO);
	if (gw_config_load(&cfg, path) != 0) {
		log_warnx("tinyfleetd: %s: configuration has errors", path);
		return 1;
	}
	if (check) {
		print_config(&cfg);
		fprintf(stderr, "tinyfleetd: %s: configuration OK\n", path);
		return 0;
	}
	if (!debug)
		gw_log_set_level(cfg.log_level);
	/* A broken pipe is an error on that socket, not a reason to die. */
	signal(SIGPIPE, SIG_IGN);

	if (uv_loop_init(&loop) != 0)
		fatalx("tinyfleetd: cannot create the event loop");
	if ((rc = gw_daemon_start(&d, &loop, path, &cfg)) != 0)
		return 1;
	rc = gw_daemon_run(&d);
	uv_loop_close(&loop);
	return rc;
}
