/*
 * tf-fanout: N device connections in one thread (the simulator's transport, libmosquitto
 * over mutual TLS with each device's own certificate and one shared TLS context, one
 * poll() loop) that count the
 * chunk-response bytes the broker delivers to them. The receiving side of the rollout
 * benchmark's baseline (bench/rollout/run.sh), and a chunk puller for the gateway's chunk
 * server.
 *
 *   tf-fanout --pki DIR --port P --devices N --expect BYTES [--first K] [--id-width W]
 *             [--site S] [--ramp PER_S] [--timeout S] [--start-file PATH]
 *             [--pull HEX_DIGEST --chunk C]
 *
 * Receive mode (no --pull): every device subscribes to tf/<site>/dev/<id>/chunk/resp (the
 * transport does that on connect) and counts the data bytes of the chunk responses it gets
 * (decoded with the protocol's strict decoder) until it has BYTES.
 * Pull mode (--pull): once connected, and once --start-file exists, every device pulls the
 * object HEX_DIGEST of size BYTES from the gateway as the agent does: one chunk request of
 * C bytes at a time on .../chunk/req, the next when the answer arrived; a request left
 * unanswered for 10 s is sent again (counted as a retry).
 *
 * Output (stdout): "fanout: N devices connected in S s" once all are up, then
 *   fanout: done N/N devices, B bytes, first byte at T1, last byte at T2, R retries
 * where T1, T2 are Unix times (CLOCK_REALTIME, s) so a script can compare them with another
 * process's clock on the same machine. Exit 0 when every device got BYTES, 1 on timeout.
 */
#define _POSIX_C_SOURCE 200809L

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tinyfleet/port/mqtt.h"
#include "tinyfleet/protocol/msg_chunk.h"

#define RETRY_MS 10000u
#define RESTART_MS 25000u   /* a client never up this long is made afresh (see main) */

struct fan_dev {
	struct tfa_mqtt mq;
	struct fan *fan;
	char id[TFP_DEVICE_ID_MAX + 1];
	char cert[256], key[256];
	uint64_t got;              /* data bytes received */
	uint32_t next;             /* pull: offset asked for */
	uint64_t asked_ms;         /* pull: when; 0 = nothing outstanding */
	uint64_t since_ms;         /* when the client was (re)created */
	int done, ever_up;
};

struct fan {
	uint64_t expect;
	int pull;
	uint8_t object[TFP_DIGEST_LEN];
	uint32_t chunk;
	long done, retries, restarts;
	double first_rt, last_rt;
};

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

static double
now_rt(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
ask(struct fan_dev *d, uint64_t t)
{
	struct tfp_chunk_request q;
	uint8_t buf[TFP_CHUNK_REQUEST_WIRE_MAX];
	size_t len;
	uint64_t left = d->fan->expect - d->next;

	memset(&q, 0, sizeof(q));
	q.command_id = 1;
	memcpy(q.object_id, d->fan->object, TFP_DIGEST_LEN);
	q.offset = d->next;
	q.length = left < d->fan->chunk ? (uint32_t)left : d->fan->chunk;
	if (tfp_chunk_request_encode(&q, buf, sizeof(buf), &len) == 0 &&
	    tfa_mqtt_send(&d->mq, TFA_CHAN_CHUNK_REQ, buf, len) == 0)
		d->asked_ms = t;
}

static void
on_msg(void *user, enum tfa_chan ch, const uint8_t *buf, size_t len)
{
	struct fan_dev *d = user;
	struct fan *f = d->fan;
	struct tfp_chunk_response r;
	double t;

	memset(&r, 0, sizeof(r));
	if (ch != TFA_CHAN_CHUNK_RESP || d->done || tfp_chunk_response_decode(buf, len, &r) != 0)
		return;
	if (f->pull && (r.offset != d->next || memcmp(r.object_id, f->object, TFP_DIGEST_LEN) != 0))
		return;   /* a duplicate answer to a retried request */
	t = now_rt();
	if (f->first_rt == 0)
		f->first_rt = t;
	d->got += r.len;
	if (f->pull) {
		d->next += (uint32_t)r.len;
		d->asked_ms = 0;
	}
	if (d->got >= f->expect) {
		d->done = 1;
		f->done++;
		f->last_rt = t;
	} else if (f->pull && r.len > 0) {
		ask(d, now_ms());
	}
}

static int
client_start(struct fan_dev *d, long port, const char *site, const char *ca, void *tls,
             long seq, uint64_t t)
{
	struct tfa_mqtt_opts o;

	memset(&o, 0, sizeof(o));
	o.host = "127.0.0.1";
	o.port = (int)port;
	o.cafile = ca;
	o.certfile = d->cert;
	o.keyfile = d->key;
	o.site = site;
	o.device_id = d->id;
	o.tls_shared = tls;
	o.seed = (uint32_t)seq * 2654435761u;
	d->since_ms = t;
	if (tfa_mqtt_init(&d->mq, &o, on_msg, NULL, d) != 0) {
		fprintf(stderr, "tf-fanout: %s: client setup failed\n", d->id);
		return -1;
	}
	return 0;
}

static long
num(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 0) {
		fprintf(stderr, "tf-fanout: bad number %s\n", s);
		exit(2);
	}
	return v;
}

static int
hex_digest(const char *s, uint8_t out[TFP_DIGEST_LEN])
{
	if (strlen(s) != 2 * TFP_DIGEST_LEN)
		return -1;
	for (int i = 0; i < TFP_DIGEST_LEN; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	const char *pki = NULL, *site = "site1", *start_file = NULL, *pull = NULL;
	long n = 0, port = 8883, first = 1, width = 4, ramp = 500, timeout = 600, chunk = 1024;
	static struct fan f;
	struct fan_dev *devs;
	struct pollfd *pfd;
	long *map;
	char ca[256];
	void *tls;
	long started = 0, up = 0;
	uint64_t t0, t_up = 0, last_misc = 0;
	int pulling = 0, rc = 1;

	for (int i = 1; i + 1 < argc; i += 2) {
		const char *a = argv[i], *v = argv[i + 1];
		if (strcmp(a, "--pki") == 0) pki = v;
		else if (strcmp(a, "--port") == 0) port = num(v);
		else if (strcmp(a, "--devices") == 0) n = num(v);
		else if (strcmp(a, "--expect") == 0) f.expect = (uint64_t)num(v);
		else if (strcmp(a, "--first") == 0) first = num(v);
		else if (strcmp(a, "--id-width") == 0) width = num(v);
		else if (strcmp(a, "--site") == 0) site = v;
		else if (strcmp(a, "--ramp") == 0) ramp = num(v);
		else if (strcmp(a, "--timeout") == 0) timeout = num(v);
		else if (strcmp(a, "--start-file") == 0) start_file = v;
		else if (strcmp(a, "--pull") == 0) pull = v;
		else if (strcmp(a, "--chunk") == 0) chunk = num(v);
		else {
			fprintf(stderr, "tf-fanout: unknown option %s\n", a);
			return 2;
		}
	}
	if (pki == NULL || n <= 0 || f.expect == 0 || ramp <= 0 || (argc % 2) != 1 ||
	    chunk < 1 || chunk > TFP_CHUNK_MAX || f.expect > UINT32_MAX ||
	    (pull != NULL && hex_digest(pull, f.object) != 0)) {
		fprintf(stderr, "usage: tf-fanout --pki DIR --port P --devices N --expect BYTES "
		                "[--first K] [--id-width W] [--site S] [--ramp PER_S] [--timeout S] "
		                "[--start-file PATH] [--pull HEX_DIGEST --chunk C]\n");
		return 2;
	}
	f.pull = pull != NULL;
	f.chunk = (uint32_t)chunk;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	devs = calloc((size_t)n, sizeof(*devs));
	pfd = calloc((size_t)n, sizeof(*pfd));
	map = calloc((size_t)n, sizeof(*map));
	if (devs == NULL || pfd == NULL || map == NULL)
		return 1;
	snprintf(ca, sizeof(ca), "%s/ca.crt", pki);
	tfa_mqtt_global_init();
	/* One TLS context for every client, as the simulator does (cheaper handshakes). */
	if ((tls = tfa_mqtt_tls_shared(ca, "127.0.0.1")) == NULL) {
		fprintf(stderr, "tf-fanout: cannot make the TLS context\n");
		return 1;
	}
	t0 = now_ms();
	while (!stop && f.done < n) {
		uint64_t t = now_ms();
		long want = (long)((t - t0) * (uint64_t)ramp / 1000u) + 1;
		nfds_t k = 0;

		/* Connect at the ramp rate: a herd of TLS handshakes overflows the listen backlog. */
		while (started < n && started < want) {
			struct fan_dev *d = &devs[started++];
			d->fan = &f;
			snprintf(d->id, sizeof(d->id), "dev-%0*ld", (int)width, first + (d - devs));
			snprintf(d->cert, sizeof(d->cert), "%s/devices/%s.crt", pki, d->id);
			snprintf(d->key, sizeof(d->key), "%s/devices/%s.key", pki, d->id);
			if (client_start(d, port, site, ca, tls, first + (d - devs), t) != 0)
				goto out;
		}
		for (long i = 0; i < started; i++) {
			int fd = tfa_mqtt_fd(&devs[i].mq);
			if (fd < 0)
				continue;
			pfd[k].fd = fd;
			pfd[k].events = tfa_mqtt_events(&devs[i].mq);
			pfd[k].revents = 0;
			map[k++] = i;
		}
		(void)poll(pfd, k, 20);
		t = now_ms();
		for (nfds_t j = 0; j < k; j++)
			if (pfd[j].revents != 0)
				tfa_mqtt_io(&devs[map[j]].mq, pfd[j].revents, t);
		if (t - last_misc < 100)
			continue;
		last_misc = t;
		up = 0;
		for (long i = 0; i < started; i++) {
			struct fan_dev *d = &devs[i];
			tfa_mqtt_io(&d->mq, 0, t);
			up += d->mq.up;
			d->ever_up |= d->mq.up;
			/* Guard: TLS handshakes that met a closed socket used to stay "in progress"
			 * in libmosquitto for ever (66 of 1,000 clients once); port/posix now
			 * abandons and retries them, and this makes such a client afresh anyway. */
			if (!d->mq.up && !d->ever_up && t - d->since_ms >= RESTART_MS) {
				tfa_mqtt_close(&d->mq);
				f.restarts++;
				if (client_start(d, port, site, ca, tls, first + i, t) != 0)
					goto out;
			}
			if (!pulling || d->done || !d->mq.up)
				continue;
			if (d->asked_ms == 0 || t - d->asked_ms >= RETRY_MS) {
				f.retries += d->asked_ms != 0;
				ask(d, t);
			}
		}
		if (up == n && t_up == 0) {
			t_up = t;
			printf("fanout: %ld devices connected in %.2f s\n", n, (double)(t - t0) / 1000.0);
			fflush(stdout);
		}
		if (t_up != 0 && f.pull && !pulling)
			pulling = start_file == NULL || access(start_file, F_OK) == 0;
		if (timeout > 0 && t - t0 >= (uint64_t)timeout * 1000u)
			break;
	}
	rc = f.done == n ? 0 : 1;
	{
		uint64_t bytes = 0;
		for (long i = 0; i < started; i++)
			bytes += devs[i].got;
		printf("fanout: done %ld/%ld devices, %llu bytes, first byte at %.3f, last byte at "
		       "%.3f, %ld retries, %ld clients made afresh\n",
		       f.done, n, (unsigned long long)bytes, f.first_rt, f.last_rt, f.retries,
		       f.restarts);
		fflush(stdout);
	}
out:
	for (long i = 0; i < started; i++)
		tfa_mqtt_close(&devs[i].mq);
	free(devs);
	free(pfd);
	free(map);
	tfa_mqtt_tls_shared_free(tls);
	tfa_mqtt_global_cleanup();
	return rc;
}
