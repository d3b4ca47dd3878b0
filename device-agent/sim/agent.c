/*
 * tinyfleet-agent: one device on the host. Its flash is a file (updates and the
 * anti-rollback counter survive restarts), its identity a certificate from deploy/pki.sh,
 * its input a CSV stream (or a generator): every sample goes through the running model with
 * TinyOL (standardisation + SGD on the update layer when the row carries a label), and
 * every --every samples a SenML-CBOR telemetry record is published. It publishes conn and
 * state, and takes updates and rollbacks from the gateway through the OTA core.
 *
 *   tinyfleet-agent --pki DIR --id dev-0001 --flash FILE --model FACTORY.tfm
 *                   [--release-pub PEM] [--csv FILE] [--host H] [--port P] [--site S]
 *                   [--class C] [--period-ms MS] [--every N] [--duration S]
 *                   [--transport mqtt|coap] [--coap-port P]
 *
 * --transport coap talks CoAP over DTLS to the gateway at --host:--coap-port (default 5684)
 * instead of MQTT to the broker at --host:--port.
 * CSV rows: the model's inputs (in_len * in_ch numbers), then optionally the class label.
 */
#define _POSIX_C_SOURCE 200809L

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "device.h"

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Next sample: from the CSV (rewound at its end) or the generator. Returns the label or -1. */
static int
next_sample(FILE *csv, float *x, unsigned n, unsigned classes, uint32_t *seed)
{
	char line[8192];

	if (csv != NULL) {
		for (int tries = 0; tries < 2; tries++) {
			char *p = line, *end;
			unsigned i;
			if (fgets(line, sizeof(line), csv) == NULL) {
				rewind(csv);
				continue;
			}
			for (i = 0; i < n; i++) {
				x[i] = strtof(p, &end);
				if (end == p)
					break;
				p = *end == ',' ? end + 1 : end;
			}
			if (i < n)
				continue;   /* header or short row */
			{
				long l = strtol(p, &end, 10);
				return end != p && l >= 0 && (unsigned long)l < classes ? (int)l : -1;
			}
		}
		return -2;
	}
	/* Generator: the label is the strongest of the first `classes` features. */
	{
		unsigned best = 0;
		for (unsigned i = 0; i < n; i++) {
			*seed = *seed * 1664525u + 1013904223u;
			x[i] = (float)((*seed >> 8) % 2000) / 1000.0f - 1.0f;
		}
		for (unsigned i = 1; i < classes && i < n; i++)
			if (x[i] > x[best])
				best = i;
		return (*seed >> 20) % 4 == 0 ? (int)best : -1;   /* a quarter labelled */
	}
}

int
main(int argc, char **argv)
{
	static struct sim_device dev;
	static struct sim_learner learner;
	static float x[TFA_FEATURES_MAX * 64];
	const char *pki = NULL, *id = NULL, *flash = NULL, *model_path = NULL, *pub = NULL;
	const char *csv_path = NULL, *host = "127.0.0.1", *site = "site1", *cls = "sim-m4";
	long port = 8883, period = 100, every = 50, duration = 0;
	struct sim_device_opts o;
	struct tfp_cose_key key;
	char ca[512], crt[512], kf[512];
	uint8_t *model = NULL;
	size_t model_len = 0;
	FILE *csv = NULL;
	uint32_t seed = 1;
	uint64_t t0, next_sample_at, end_at;
	int rc = 1, warned = 0;

	memset(&o, 0, sizeof(o));
	o.coap_port = 5684;
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *a = argv[i], *v = argv[i + 1];
		if (strcmp(a, "--pki") == 0) pki = v;
		else if (strcmp(a, "--id") == 0) id = v;
		else if (strcmp(a, "--flash") == 0) flash = v;
		else if (strcmp(a, "--model") == 0) model_path = v;
		else if (strcmp(a, "--release-pub") == 0) pub = v;
		else if (strcmp(a, "--csv") == 0) csv_path = v;
		else if (strcmp(a, "--host") == 0) host = v;
		else if (strcmp(a, "--port") == 0) port = strtol(v, NULL, 10);
		else if (strcmp(a, "--site") == 0) site = v;
		else if (strcmp(a, "--class") == 0) cls = v;
		else if (strcmp(a, "--period-ms") == 0) period = strtol(v, NULL, 10);
		else if (strcmp(a, "--every") == 0) every = strtol(v, NULL, 10);
		else if (strcmp(a, "--duration") == 0) duration = strtol(v, NULL, 10);
		else if (strcmp(a, "--transport") == 0) o.transport = v;
		else if (strcmp(a, "--coap-port") == 0) o.coap_port = (int)strtol(v, NULL, 10);
		else { fprintf(stderr, "tinyfleet-agent: unknown option %s\n", a); return 2; }
	}
	if (pki == NULL || id == NULL || flash == NULL || model_path == NULL || period <= 0 ||
	    every <= 0 || (argc % 2) != 1) {
		fprintf(stderr, "usage: tinyfleet-agent --pki DIR --id ID --flash FILE --model TFM "
		                "[--release-pub PEM] [--csv FILE] [--host H] [--port P] [--site S] "
		                "[--class C] [--period-ms MS] [--every N] [--duration S] "
		                "[--transport mqtt|coap] [--coap-port P]\n");
		return 2;
	}
	if ((model = sim_read_file(model_path, &model_len)) == NULL) {
		fprintf(stderr, "tinyfleet-agent: cannot read %s\n", model_path);
		return 1;
	}
	if (pub != NULL) {
		size_t plen;
		char *pem = (char *)sim_read_file(pub, &plen);
		if (pem == NULL || tfp_cose_key_from_pem(pem, &key) != 0) {
			fprintf(stderr, "tinyfleet-agent: bad release key %s\n", pub);
			free(pem);
			goto out;
		}
		free(pem);
		o.keys = &key;
		o.n_keys = 1;
	}
	if (csv_path != NULL && (csv = fopen(csv_path, "r")) == NULL) {
		perror(csv_path);
		goto out;
	}
	snprintf(ca, sizeof(ca), "%s/ca.crt", pki);
	snprintf(crt, sizeof(crt), "%s/devices/%s.crt", pki, id);
	snprintf(kf, sizeof(kf), "%s/devices/%s.key", pki, id);
	o.device_id = id;
	o.device_class = cls;
	o.site = site;
	o.host = host;
	o.port = (int)port;
	o.cafile = ca;
	o.certfile = crt;
	o.keyfile = kf;
	o.flash_path = flash;
	o.factory_model = model;
	o.factory_len = (uint32_t)model_len;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	tfa_mqtt_global_init();
	if ((rc = sim_device_start(&dev, &o)) != 0) {
		fprintf(stderr, "tinyfleet-agent: start failed: %s\n", tfa_strerror(rc));
		rc = 1;
		goto out;
	}
	learner.every = (uint32_t)every;
	t0 = tfa_posix_mono_ms();
	next_sample_at = t0;
	end_at = duration > 0 ? t0 + (uint64_t)duration * 1000u : 0;
	while (!stop && (end_at == 0 || tfa_posix_mono_ms() < end_at)) {
		struct pollfd pfd = { sim_device_fd(&dev), sim_device_events(&dev), 0 };
		int n = pfd.fd >= 0 ? poll(&pfd, 1, 10) : 0;
		uint64_t t = tfa_posix_mono_ms();

		sim_device_io(&dev, n > 0 ? pfd.revents : 0, t);
		sim_device_tick(&dev, t);
		if (t < next_sample_at)
			continue;
		next_sample_at += (uint64_t)period;
		{
			unsigned nin = sim_model_inputs(&dev);
			int label;
			if (nin > sizeof(x) / sizeof(x[0]))
				continue;
			label = next_sample(csv, x, nin, sim_model_outputs(&dev), &seed);
			if (label == -2)
				break;
			if (sim_learner_step(&learner, &dev, x, label, t) != 0 && !warned) {
				fprintf(stderr, "%s: the model has no update layer: inference only\n",
				        id);
				warned = 1;
			}
		}
	}
	rc = 0;
out:
	sim_device_stop(&dev);
	tfa_mqtt_global_cleanup();
	if (csv != NULL)
		fclose(csv);
	free(model);
	return rc;
}
