/*
 * tf-telemetry-load: N simulated device connections (libmosquitto, mutual TLS with each
 * device's own certificate) publishing SenML-CBOR telemetry on their own topics at a fixed
 * total offered rate and QoS, for the gateway ingest benchmark (bench/gateway/ingest.sh).
 *
 *   tf-telemetry-load --pki DIR --port P --devices N --rate MSG_PER_S --seconds S
 *                     [--qos 0|1] [--first K] [--id-width W] [--site S]
 *                     [--start-file PATH]
 *
 * libmosquitto's own loop uses select(), so one process holds at most ~300 connections
 * (three descriptors each, FD_SETSIZE 1024): ingest.sh starts several, each with its
 * share of devices and rate, and releases them together with --start-file (they wait for
 * the file to exist once connected).
 * Prints the messages handed to libmosquitto and, for QoS 1, those the broker acknowledged.
 * One libmosquitto thread per connection; the main thread paces the publishes (10 ms ticks,
 * round-robin over the devices).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

#include "tinyfleet/protocol/telemetry.h"

struct dev {
	struct mosquitto *m;
	char id[32];
	char topic[96];
	uint8_t pack[512];
	size_t len;
};

static atomic_long acked;
static atomic_int connected;

static uint64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void
on_connect(struct mosquitto *m, void *arg, int rc)
{
	(void)m;
	(void)arg;
	if (rc == 0)
		atomic_fetch_add(&connected, 1);
}

static void
on_publish(struct mosquitto *m, void *arg, int mid)
{
	(void)m;
	(void)arg;
	(void)mid;
	atomic_fetch_add(&acked, 1);
}

static long
num(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < 0) {
		fprintf(stderr, "tf-telemetry-load: bad number %s\n", s);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	const char *pki = NULL, *site = "site1", *start_file = NULL;
	long n = 0, rate = 0, seconds = 0, qos = 0, first = 1, width = 4, port = 8883;
	struct dev *devs;
	char ca[256], cert[256], key[256];
	long sent = 0, failed = 0, next = 0;
	uint64_t t0, t1, end;
	int rc = 1;

	for (int i = 1; i + 1 < argc; i += 2) {
		const char *a = argv[i], *v = argv[i + 1];
		if (strcmp(a, "--pki") == 0) pki = v;
		else if (strcmp(a, "--port") == 0) port = num(v);
		else if (strcmp(a, "--devices") == 0) n = num(v);
		else if (strcmp(a, "--rate") == 0) rate = num(v);
		else if (strcmp(a, "--seconds") == 0) seconds = num(v);
		else if (strcmp(a, "--qos") == 0) qos = num(v);
		else if (strcmp(a, "--first") == 0) first = num(v);
		else if (strcmp(a, "--id-width") == 0) width = num(v);
		else if (strcmp(a, "--site") == 0) site = v;
		else if (strcmp(a, "--start-file") == 0) start_file = v;
		else {
			fprintf(stderr, "tf-telemetry-load: unknown option %s\n", a);
			return 2;
		}
	}
	if (pki == NULL || n <= 0 || rate <= 0 || seconds <= 0 || qos > 1) {
		fprintf(stderr, "usage: tf-telemetry-load --pki DIR --port P --devices N --rate R "
		                "--seconds S [--qos 0|1] [--first K] [--id-width W] [--site S] "
		                "[--start-file PATH]\n");
		return 2;
	}
	mosquitto_lib_init();
	devs = calloc((size_t)n, sizeof(*devs));
	if (devs == NULL)
		return 1;
	snprintf(ca, sizeof(ca), "%s/ca.crt", pki);
	end = now_ms() + 120000;
	for (long i = 0; i < n; i++) {
		struct dev *d = &devs[i];

		/* At most 32 handshakes pending at once: the broker's listen backlog is 100. */
		while (i - atomic_load(&connected) >= 32 && now_ms() < end)
			sleep_ms(1);
		struct tfp_telemetry t;
		struct tfp_telem_enc_info info;

		snprintf(d->id, sizeof(d->id), "dev-%0*ld", (int)width, first + i);
		snprintf(d->topic, sizeof(d->topic), "tf/%s/dev/%s/telemetry", site, d->id);
		tfp_telemetry_init(&t);
		snprintf(t.device_id, sizeof(t.device_id), "%s", d->id);
		snprintf(t.model, sizeof(t.model), "vib-anomaly");
		snprintf(t.version, sizeof(t.version), "1.0.0");
		t.time = 1764000000;
		t.samples = 1000;
		t.labelled = 100;
		t.loss = 0.25f;
		t.accuracy = 0.9f;
		if (tfp_telemetry_encode(&t, d->pack, sizeof(d->pack), &info) != 0) {
			fprintf(stderr, "tf-telemetry-load: cannot encode telemetry\n");
			goto out;
		}
		d->len = info.len;
		snprintf(cert, sizeof(cert), "%s/devices/%s.crt", pki, d->id);
		snprintf(key, sizeof(key), "%s/devices/%s.key", pki, d->id);
		d->m = mosquitto_new(d->id, true, NULL);
		if (d->m == NULL || mosquitto_tls_set(d->m, ca, NULL, cert, key, NULL) != 0) {
			fprintf(stderr, "tf-telemetry-load: %s: client setup failed\n", d->id);
			goto out;
		}
		mosquitto_int_option(d->m, MOSQ_OPT_TCP_NODELAY, 1);
		mosquitto_max_inflight_messages_set(d->m, 100);
		mosquitto_connect_callback_set(d->m, on_connect);
		mosquitto_publish_callback_set(d->m, on_publish);
		if (mosquitto_connect(d->m, "127.0.0.1", (int)port, 60) != MOSQ_ERR_SUCCESS ||
		    mosquitto_loop_start(d->m) != MOSQ_ERR_SUCCESS) {
			fprintf(stderr, "tf-telemetry-load: %s: connect failed\n", d->id);
			goto out;
		}
	}
	while (atomic_load(&connected) < n && now_ms() < end)
		sleep_ms(10);
	if (atomic_load(&connected) < n) {
		fprintf(stderr, "tf-telemetry-load: only %d of %ld connected\n",
		        atomic_load(&connected), n);
		goto out;
	}
	printf("load: %ld devices connected\n", n);
	fflush(stdout);
	/* Several processes start publishing together once the script creates the file. */
	for (end = now_ms() + 120000; start_file != NULL && access(start_file, F_OK) != 0 &&
	                              now_ms() < end;)
		sleep_ms(5);
	sleep_ms(start_file == NULL ? 500 : 0);
	t0 = now_ms();
	end = t0 + (uint64_t)seconds * 1000u;
	for (uint64_t t = t0; t < end; t = now_ms()) {
		long due = (long)((t - t0) * (uint64_t)rate / 1000u);
		for (; sent + failed < due; next = (next + 1) % n) {
			struct dev *d = &devs[next];
			if (mosquitto_publish(d->m, NULL, d->topic, (int)d->len, d->pack, (int)qos,
			                      false) == MOSQ_ERR_SUCCESS)
				sent++;
			else
				failed++;
		}
		sleep_ms(10);
	}
	t1 = now_ms();
	/* Let QoS 1 acknowledgements come back (at most 10 s). */
	for (int i = 0; qos == 1 && i < 1000 && atomic_load(&acked) < sent; i++)
		sleep_ms(10);
	printf("load: qos %ld, %ld sent in %.2f s (%.0f msg/s offered), %ld failed, %ld acked\n",
	       qos, sent, (double)(t1 - t0) / 1000.0, (double)sent * 1000.0 / (double)(t1 - t0),
	       failed, (long)atomic_load(&acked));
	rc = 0;
out:
	for (long i = 0; i < n; i++) {
		if (devs[i].m == NULL)
			continue;
		mosquitto_disconnect(devs[i].m);
		mosquitto_loop_stop(devs[i].m, false);
		mosquitto_destroy(devs[i].m);
	}
	free(devs);
	mosquitto_lib_cleanup();
	return rc;
}
