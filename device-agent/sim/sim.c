/*
 * tinyfleet-sim: N simulated devices in one process and one thread, event-driven (one
 * poll() over every device's MQTT socket, no thread per device), each with its own flash
 * image (memory), identity (certificate from deploy/pki.sh) and OTA core.
 *
 *   tinyfleet-sim --pki DIR --devices N [--host H] [--port P] [--site S] [--prefix dev-]
 *                 [--first 1] [--id-width W] [--model FILE] [--release-pub PEM]
 *                 [--ramp PER_SECOND] [--duration SECONDS] [--class C] [--timeout S]
 *                 [--sample-ms MS] [--label-rate R] [--every N] [--drift-at S]
 *                 [--drift-share PERCENT] [--transport mqtt|coap] [--coap-port P]
 *
 * --transport coap: the devices talk CoAP over DTLS to the gateway at --host:--coap-port
 * (default 5684) instead of MQTT to the broker (mixed fleets: run one sim per transport).
 * Prints when every device is connected (connect time) and the process's resident memory
 * per device. With --duration 0 it exits as soon as all are connected (benchmarks); else it
 * runs that long (0 < d), answering commands, then says goodbye on every link. Without all
 * devices connected after --timeout seconds (default 300; 0 = never) it gives up (exit 1).
 *
 * Data streams (with --sample-ms > 0): every device draws a sample every MS milliseconds
 * from its own generator (inputs uniform in [-1, 1], class = the strongest of the first
 * `classes` inputs), labelled with probability R (--label-rate, default 0.25), and runs it
 * through its model with TinyOL, publishing telemetry every N samples (--every, default 50).
 * Drift injection: after --drift-at seconds, --drift-share percent of the devices (the
 * first ones) see concept drift: the class becomes the next one (labels rotate by one).
 */
#define _POSIX_C_SOURCE 200809L

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "device.h"
#include "tinyfleet/protocol/cose_sign1.h"

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static long
rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[128];
	long kb = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	fclose(f);
	return kb;
}

/* Samples due since the last call (at most 20 per call), from the device's generator. */
static void
stream(struct sim_device *d, struct sim_learner *l, uint32_t *seed, uint64_t *next_at,
       uint64_t t, uint64_t period, double label_rate, int drifted)
{
	float x[256];
	unsigned nin = sim_model_inputs(d), classes = sim_model_outputs(d);

	if (*next_at == 0)
		*next_at = t;
	if (nin > 256 || classes == 0)
		return;
	for (int k = 0; k < 20 && *next_at <= t; k++, *next_at += period) {
		unsigned best = 0;
		int label = -1;
		for (unsigned i = 0; i < nin; i++) {
			*seed = *seed * 1664525u + 1013904223u;
			x[i] = (float)((*seed >> 8) % 2000) / 1000.0f - 1.0f;
		}
		for (unsigned i = 1; i < classes && i < nin; i++)
			if (x[i] > x[best])
				best = i;
		*seed = *seed * 1664525u + 1013904223u;
		if ((double)(*seed >> 8) / 16777216.0 < label_rate)
			label = (int)((best + (drifted ? 1u : 0u)) % classes);
		(void)sim_learner_step(l, d, x, label, t);
	}
	if (*next_at + 1000u * period < t)
		*next_at = t;   /* far behind (a slow loop): skip rather than catch up */
}

static uint8_t *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) != NULL) {
		if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		} else {
			buf[n] = 0;
			*len = (size_t)n;
		}
	}
	fclose(f);
	return buf;
}

static void
usage(void)
{
	fprintf(stderr, "usage: tinyfleet-sim --pki DIR --devices N [--host H] [--port P] "
	                "[--site S] [--prefix P] [--first K] [--id-width W] [--model FILE] "
	                "[--release-pub PEM] [--ramp PER_S] [--duration S] [--class C] [--timeout S] "
	                "[--sample-ms MS] [--label-rate R] [--every N] [--drift-at S] "
	                "[--drift-share PERCENT] [--transport mqtt|coap] [--coap-port P]\n");
	exit(2);
}

static long
num(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 0)
		usage();
	return v;
}

int
main(int argc, char **argv)
{
	const char *pki = NULL, *host = "127.0.0.1", *site = "site1", *prefix = "dev-";
	const char *model_path = NULL, *pub_path = NULL, *cls = "sim-m4", *transport = NULL;
	long coap_port = 5684;
	long n = 0, port = 8883, first = 1, width = 4, ramp = 1000, duration = 0, timeout = 300;
	long sample_ms = 0, every = 50, drift_at = -1, drift_share = 0;
	double label_rate = 0.25;
	struct sim_learner *learners = NULL;
	uint32_t *seeds = NULL;
	uint64_t *next_at = NULL;
	struct sim_device **devs;
	struct pollfd *pfd;
	int *map;
	char (*paths)[3][256];
	char (*ids)[TFP_DEVICE_ID_MAX + 1];
	struct tfp_cose_key key;
	size_t n_keys = 0, model_len = 0;
	uint8_t *model = NULL;
	char ca[256];
	long started = 0, up = 0, rss0, rss1;
	uint64_t t0, t_all = 0, last_tick = 0, end_at = 0;
	int rc = 1;

	for (int i = 1; i < argc; i += 2) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (v == NULL)
			usage();
		if (strcmp(a, "--pki") == 0) pki = v;
		else if (strcmp(a, "--devices") == 0) n = num(v);
		else if (strcmp(a, "--host") == 0) host = v;
		else if (strcmp(a, "--port") == 0) port = num(v);
		else if (strcmp(a, "--site") == 0) site = v;
		else if (strcmp(a, "--prefix") == 0) prefix = v;
		else if (strcmp(a, "--first") == 0) first = num(v);
		else if (strcmp(a, "--id-width") == 0) width = num(v);
		else if (strcmp(a, "--model") == 0) model_path = v;
		else if (strcmp(a, "--release-pub") == 0) pub_path = v;
		else if (strcmp(a, "--ramp") == 0) ramp = num(v);
		else if (strcmp(a, "--duration") == 0) duration = num(v);
		else if (strcmp(a, "--class") == 0) cls = v;
		else if (strcmp(a, "--timeout") == 0) timeout = num(v);
		else if (strcmp(a, "--sample-ms") == 0) sample_ms = num(v);
		else if (strcmp(a, "--every") == 0) every = num(v);
		else if (strcmp(a, "--drift-at") == 0) drift_at = num(v);
		else if (strcmp(a, "--drift-share") == 0) drift_share = num(v);
		else if (strcmp(a, "--label-rate") == 0) label_rate = strtod(v, NULL);
		else if (strcmp(a, "--transport") == 0) transport = v;
		else if (strcmp(a, "--coap-port") == 0) coap_port = num(v);
		else usage();
	}
	if (pki == NULL || n <= 0 || model_path == NULL || ramp <= 0 || every <= 0 ||
	    !(label_rate >= 0.0 && label_rate <= 1.0) || drift_share > 100)
		usage();
	if ((model = slurp(model_path, &model_len)) == NULL) {
		fprintf(stderr, "tinyfleet-sim: cannot read model %s\n", model_path);
		return 1;
	}
	if (pub_path != NULL) {
		size_t plen;
		char *pem = (char *)slurp(pub_path, &plen);
		if (pem == NULL || tfp_cose_key_from_pem(pem, &key) != 0) {
			fprintf(stderr, "tinyfleet-sim: bad release key %s\n", pub_path);
			free(pem);
			return 1;
		}
		free(pem);
		n_keys = 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	snprintf(ca, sizeof(ca), "%s/ca.crt", pki);
	devs = calloc((size_t)n, sizeof(*devs));
	pfd = calloc((size_t)n, sizeof(*pfd));
	map = calloc((size_t)n, sizeof(*map));
	paths = calloc((size_t)n, sizeof(*paths));
	ids = calloc((size_t)n, sizeof(*ids));
	if (devs == NULL || pfd == NULL || map == NULL || paths == NULL || ids == NULL)
		goto out;
	if (sample_ms > 0) {
		learners = calloc((size_t)n, sizeof(*learners));
		seeds = calloc((size_t)n, sizeof(*seeds));
		next_at = calloc((size_t)n, sizeof(*next_at));
		if (learners == NULL || seeds == NULL || next_at == NULL)
			goto out;
		for (long i = 0; i < n; i++) {
			learners[i].every = (uint32_t)every;
			seeds[i] = (uint32_t)(first + i) * 2654435761u;
		}
	}
	tfa_mqtt_global_init();
	rss0 = rss_kb();
	t0 = now_ms();
	while (!stop) {
		uint64_t t = now_ms();
		long want = (long)((t - t0) * (uint64_t)ramp / 1000u) + 1;
		nfds_t k = 0;

		/* Start devices at the ramp rate (a 10,000-client thundering herd overflows the
		 * broker's listen backlog). */
		while (started < n && started < want) {
			struct sim_device_opts o;
			long i = started++;
			snprintf(ids[i], sizeof(ids[i]), "%s%0*ld", prefix, (int)width, first + i);
			snprintf(paths[i][0], sizeof(paths[i][0]), "%s/devices/%s.crt", pki, ids[i]);
			snprintf(paths[i][1], sizeof(paths[i][1]), "%s/devices/%s.key", pki, ids[i]);
			memset(&o, 0, sizeof(o));
			o.device_id = ids[i];
			o.device_class = cls;
			o.site = site;
			o.host = host;
			o.port = (int)port;
			o.cafile = ca;
			o.certfile = paths[i][0];
			o.keyfile = paths[i][1];
			o.factory_model = model;
			o.factory_len = (uint32_t)model_len;
			o.keys = n_keys > 0 ? &key : NULL;
			o.n_keys = n_keys;
			o.transport = transport;
			o.coap_port = (int)coap_port;
			if ((devs[i] = malloc(sizeof(struct sim_device))) == NULL ||
			    sim_device_start(devs[i], &o) != 0) {
				fprintf(stderr, "tinyfleet-sim: %s did not start\n", ids[i]);
				goto out;
			}
		}
		for (long i = 0; i < started; i++) {
			int fd = sim_device_fd(devs[i]);
			if (fd < 0)
				continue;
			pfd[k].fd = fd;
			pfd[k].events = sim_device_events(devs[i]);
			pfd[k].revents = 0;
			map[k++] = (int)i;
		}
		(void)poll(pfd, k, 20);
		t = now_ms();
		for (nfds_t j = 0; j < k; j++)
			if (pfd[j].revents != 0)
				sim_device_io(devs[map[j]], pfd[j].revents, t);
		if (t - last_tick >= 100) {
			last_tick = t;
			up = 0;
			for (long i = 0; i < started; i++) {
				sim_device_tick(devs[i], t);
				up += sim_device_up(devs[i]);
				if (sample_ms > 0)
					stream(devs[i], &learners[i], &seeds[i], &next_at[i], t,
					       (uint64_t)sample_ms, label_rate,
					       drift_at >= 0 && t - t0 >= (uint64_t)drift_at * 1000u &&
					               i * 100 < drift_share * n);
			}
			if (up == n && t_all == 0) {
				t_all = t;
				rss1 = rss_kb();
				printf("tinyfleet-sim: %ld devices connected (mutual TLS) in %.2f s; "
				       "RSS %ld KB -> %ld KB, %.1f KB per device (struct sim_device "
				       "%zu B, of which struct tfa_ota %zu B)\n",
				       n, (double)(t_all - t0) / 1000.0, rss0, rss1,
				       (double)(rss1 - rss0) / (double)n, sizeof(struct sim_device),
				       sizeof(struct tfa_ota));
				fflush(stdout);
				if (duration == 0)
					break;
				end_at = t + (uint64_t)duration * 1000u;
			}
			if (end_at != 0 && t >= end_at)
				break;
			if (t_all == 0 && timeout > 0 && t - t0 >= (uint64_t)timeout * 1000u)
				break;
		}
	}
	rc = t_all != 0 ? 0 : 1;
	if (t_all == 0)
		fprintf(stderr, "tinyfleet-sim: stopped with %ld of %ld devices connected\n", up, n);
out:
	for (long i = 0; i < n && devs != NULL; i++) {
		if (devs[i] != NULL) {
			sim_device_stop(devs[i]);
			free(devs[i]);
		}
	}
	free(devs);
	free(learners);
	free(seeds);
	free(next_at);
	free(pfd);
	free(map);
	free(paths);
	free(ids);
	free(model);
	tfa_mqtt_global_cleanup();
	return rc;
}
