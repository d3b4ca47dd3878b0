/*
 * tf-blob-pull: the two halves of the CoAP-vs-MQTT blob benchmark (bench/coap/run.sh).
 *
 *   tf-blob-pull put STATE_DIR BYTES
 *       stores BYTES pseudo-random bytes as a blob in a (stopped) gateway's LMDB store and
 *       prints its SHA-256 in hex (the object id devices pull)
 *   tf-blob-pull pull mqtt|coap --host H --port P --pki DIR --id DEV --object HEX
 *                --size BYTES [--chunk 1024] [--site site1]
 *       pulls the object the way the device agent does, one chunk request in flight at a
 *       time: over MQTT (chunk/req -> chunk/resp through the broker and tinyfleetd's chunk
 *       server) or over CoAP (the port/posix CoAP transport: Block2 GETs to tinyfleetd's
 *       CoAP/DTLS endpoint); checks the SHA-256 and prints
 *       "<transport> <bytes> B in <s> s: <MB/s> MB/s, <chunks> chunks, <us> us/chunk"
 *       (the connect/handshake is not timed).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <mbedtls/sha256.h>

#include "store.h"
#include "tinyfleet/port/coap.h"
#include "tinyfleet/port/mqtt.h"
#include "tinyfleet/protocol/msg_chunk.h"

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int
put(const char *dir, size_t n)
{
	struct gw_store_config cfg = { 0 };
	struct gw_store s;
	struct gw_txn t;
	uint8_t *buf = malloc(n), d[32];
	uint32_t x = 2463534242u;

	if (buf == NULL)
		return 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (uint8_t)x;
	}
	mbedtls_sha256_ret(buf, n, d, 0);
	mkdir(dir, 0700);
	cfg.path = dir;
	cfg.map_size = (n * 4 + (64u << 20));
	cfg.reserve = 4u << 20;
	cfg.telemetry_keep = 1000;
	cfg.batch_max = 64;
	if (gw_store_open(&s, &cfg) != 0 || gw_store_begin(&s, &t) != 0 ||
	    gw_store_put_blob(&t, d, buf, n) != 0 || gw_store_commit(&t) != 0) {
		fprintf(stderr, "tf-blob-pull: cannot store the blob in %s\n", dir);
		return 1;
	}
	gw_store_close(&s);
	free(buf);
	for (int i = 0; i < 32; i++)
		printf("%02x", d[i]);
	printf("\n");
	return 0;
}

struct puller {
	int coap;
	struct tfa_mqtt mq;
	struct tfa_coap cq;
	uint8_t object[32];
	uint8_t *got;
	uint32_t size, next, chunk;
	unsigned chunks;
	int waiting, up, failed;
};

static int
ask(struct puller *p)
{
	struct tfp_chunk_request q;
	uint8_t buf[TFP_CHUNK_REQUEST_WIRE_MAX];
	size_t len;

	memset(&q, 0, sizeof(q));
	q.command_id = 1;
	memcpy(q.object_id, p->object, 32);
	q.offset = p->next;
	q.length = p->size - p->next < p->chunk ? p->size - p->next : p->chunk;
	if (tfp_chunk_request_encode(&q, buf, sizeof(buf), &len) != 0)
		return -1;
	p->waiting = 1;
	return p->coap ? tfa_coap_send(&p->cq, TFA_CHAN_CHUNK_REQ, buf, len)
	               : tfa_mqtt_send(&p->mq, TFA_CHAN_CHUNK_REQ, buf, len);
}

static void
on_msg(void *user, enum tfa_chan ch, const uint8_t *buf, size_t len)
{
	struct puller *p = user;
	struct tfp_chunk_response r;

	if (ch != TFA_CHAN_CHUNK_RESP || tfp_chunk_response_decode(buf, len, &r) != 0 ||
	    r.offset != p->next || r.total != p->size || r.len == 0) {
		p->failed = ch == TFA_CHAN_CHUNK_RESP;
		return;
	}
	memcpy(p->got + r.offset, r.data, r.len);
	p->next += (uint32_t)r.len;
	p->chunks++;
	p->waiting = 0;
}

static void
on_conn(void *user, int up)
{
	((struct puller *)user)->up = up;
}

static int
pull(int argc, char **argv)
{
	const char *host = "127.0.0.1", *pki = NULL, *id = NULL, *hex = NULL, *site = "site1";
	static struct puller p;
	char ca[512], crt[512], key[512];
	uint8_t d[32];
	uint64_t t0 = 0, deadline;
	long port = 0;
	double s;

	p.chunk = 1024;
	p.coap = strcmp(argv[2], "coap") == 0;
	for (int i = 3; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--host") == 0) host = argv[i + 1];
		else if (strcmp(argv[i], "--port") == 0) port = strtol(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--pki") == 0) pki = argv[i + 1];
		else if (strcmp(argv[i], "--id") == 0) id = argv[i + 1];
		else if (strcmp(argv[i], "--object") == 0) hex = argv[i + 1];
		else if (strcmp(argv[i], "--size") == 0) p.size = (uint32_t)strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--chunk") == 0) p.chunk = (uint32_t)strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--site") == 0) site = argv[i + 1];
		else return 2;
	}
	if (pki == NULL || id == NULL || hex == NULL || strlen(hex) != 64 || p.size == 0 ||
	    port <= 0 || p.chunk == 0 || p.chunk > 1024 || (p.got = malloc(p.size)) == NULL)
		return 2;
	for (int i = 0; i < 32; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return 2;
		p.object[i] = (uint8_t)v;
	}
	snprintf(ca, sizeof(ca), "%s/ca.crt", pki);
	snprintf(crt, sizeof(crt), "%s/devices/%s.crt", pki, id);
	snprintf(key, sizeof(key), "%s/devices/%s.key", pki, id);
	if (p.coap) {
		struct tfa_coap_opts o = { host, (int)port, ca, crt, key, id, NULL, 0 };
		if (tfa_coap_init(&p.cq, &o, on_msg, on_conn, &p) != 0)
			return 1;
	} else {
		struct tfa_mqtt_opts o = { host, (int)port, ca, crt, key, site, id, 30, NULL, 1 };
		tfa_mqtt_global_init();
		if (tfa_mqtt_init(&p.mq, &o, on_msg, on_conn, &p) != 0)
			return 1;
	}
	deadline = now_us() + 120u * 1000000u;
	while (p.next < p.size && !p.failed && now_us() < deadline) {
		struct pollfd pfd;
		int n;
		pfd.fd = p.coap ? tfa_coap_fd(&p.cq) : tfa_mqtt_fd(&p.mq);
		pfd.events = p.coap ? tfa_coap_events(&p.cq) : tfa_mqtt_events(&p.mq);
		pfd.revents = 0;
		n = pfd.fd >= 0 ? poll(&pfd, 1, 5) : 0;
		if (p.coap)
			tfa_coap_io(&p.cq, n > 0 ? pfd.revents : 0, now_us() / 1000u);
		else
			tfa_mqtt_io(&p.mq, n > 0 ? pfd.revents : 0, now_us() / 1000u);
		if (p.up && t0 == 0) {
			/* MQTT: give the subscription a moment to reach the broker. */
			if (!p.coap) {
				uint64_t until = now_us() + 200000u;
				while (now_us() < until)
					tfa_mqtt_io(&p.mq, POLLIN, now_us() / 1000u);
			}
			t0 = now_us();
		}
		if (p.up && !p.waiting && p.next < p.size && ask(&p) != 0)
			p.failed = 1;
	}
	s = (double)(now_us() - t0) / 1e6;
	mbedtls_sha256_ret(p.got, p.size, d, 0);
	if (p.coap)
		tfa_coap_close(&p.cq);
	else
		tfa_mqtt_close(&p.mq);
	if (p.next != p.size || memcmp(d, p.object, 32) != 0) {
		fprintf(stderr, "tf-blob-pull: %s pull incomplete or corrupt (%u of %u bytes)\n",
		        argv[2], p.next, p.size);
		return 1;
	}
	printf("%s %u B in %.3f s: %.2f MB/s, %u chunks, %.0f us/chunk, sha256 ok\n", argv[2],
	       p.size, s, (double)p.size / s / 1e6, p.chunks, s * 1e6 / (double)p.chunks);
	free(p.got);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "put") == 0)
		return put(argv[2], strtoul(argv[3], NULL, 10));
	if (argc >= 3 && strcmp(argv[1], "pull") == 0 &&
	    (strcmp(argv[2], "mqtt") == 0 || strcmp(argv[2], "coap") == 0)) {
		int rc = pull(argc, argv);
		if (rc == 2)
			fprintf(stderr, "usage: see bench/coap/blob_pull.c\n");
		return rc;
	}
	fprintf(stderr, "usage: tf-blob-pull put DIR BYTES | pull mqtt|coap --host H --port P "
	                "--pki DIR --id DEV --object HEX --size BYTES [--chunk N]\n");
	return 2;
}
