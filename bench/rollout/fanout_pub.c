/*
 * tf-fanout-pub: the rollout benchmark's plain publisher. One Paho MQTT C client (the
 * library and settings tinyfleetd uses: MQTTAsync, MQTT v5, mutual TLS, QoS 1) with the
 * gateway's certificate sends an object to N devices as chunk responses on their
 * tf/<site>/dev/<id>/chunk/resp topics: the bytes a rollout sends, without the gateway.
 *
 *   tf-fanout-pub --pki DIR --port P --devices N --object FILE [--chunk C] [--first K]
 *                 [--id-width W] [--site S] [--client-id ID] [--window W]
 *
 * Chunks of C bytes (default: the whole object in one message, at most TFP_CHUNK_MAX),
 * encoded as the protocol's chunk responses, round robin over the devices (chunk 0 to
 * every device, then chunk 1, ...), as fast as Paho takes them, with at most W (default
 * 100, 0 = no limit) unacknowledged. Why a window: Mosquitto gives MQTT v5 clients a receive
 * maximum of its max_inflight_messages (100 here); Paho holds what is over it in its queue
 * and, measured with Paho 1.3, sends the next ones only on its send thread's 1 s wake-up,
 * so 1,000 messages handed at once take ~6 s instead of ~0.3 s (see RESULTS.md). Prints the Unix time (CLOCK_REALTIME) of the first publish, and when every message
 * was handed to Paho and acknowledged (PUBACK), so a script can set the first against the
 * receivers' last byte (tf-fanout).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <MQTTAsync.h>
#include <mbedtls/sha256.h>

#include "tinyfleet/protocol/msg_chunk.h"

static atomic_int connected, failed;
static atomic_long acked;

static double
now_rt(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void
on_connect(void *ctx, MQTTAsync_successData5 *resp)
{
	(void)ctx;
	(void)resp;
	atomic_store(&connected, 1);
}

static void
on_connect_failed(void *ctx, MQTTAsync_failureData5 *resp)
{
	(void)ctx;
	fprintf(stderr, "tf-fanout-pub: connect failed: %s\n",
	        resp != NULL && resp->message != NULL ? resp->message : "?");
	atomic_store(&failed, 1);
}

static void
on_sent(void *ctx, MQTTAsync_successData5 *resp)
{
	(void)ctx;
	(void)resp;
	atomic_fetch_add(&acked, 1);
}

static int
on_message(void *ctx, char *topic, int len, MQTTAsync_message *m)
{
	(void)ctx;
	(void)len;
	MQTTAsync_freeMessage(&m);
	MQTTAsync_free(topic);
	return 1;
}

static long
num(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 0) {
		fprintf(stderr, "tf-fanout-pub: bad number %s\n", s);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	const char *pki = NULL, *site = "site1", *object = NULL, *client_id = "bench-fanout-pub";
	long n = 0, port = 8883, first = 1, width = 4, chunk = TFP_CHUNK_MAX, window = 100;
	MQTTAsync client;
	MQTTAsync_createOptions copts = MQTTAsync_createOptions_initializer;
	MQTTAsync_connectOptions conn = MQTTAsync_connectOptions_initializer5;
	MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
	char uri[64], ca[256], cert[256], key[256];
	uint8_t *obj, *msgs;
	size_t obj_len, nchunks, stride, *mlen;
	long total, sent = 0;
	double t0, t_sent, t_acked;
	FILE *fp;
	int rc = 1;

	for (int i = 1; i + 1 < argc; i += 2) {
		const char *a = argv[i], *v = argv[i + 1];
		if (strcmp(a, "--pki") == 0) pki = v;
		else if (strcmp(a, "--port") == 0) port = num(v);
		else if (strcmp(a, "--devices") == 0) n = num(v);
		else if (strcmp(a, "--object") == 0) object = v;
		else if (strcmp(a, "--chunk") == 0) chunk = num(v);
		else if (strcmp(a, "--first") == 0) first = num(v);
		else if (strcmp(a, "--id-width") == 0) width = num(v);
		else if (strcmp(a, "--site") == 0) site = v;
		else if (strcmp(a, "--client-id") == 0) client_id = v;
		else if (strcmp(a, "--window") == 0) window = num(v);
		else {
			fprintf(stderr, "tf-fanout-pub: unknown option %s\n", a);
			return 2;
		}
	}
	if (pki == NULL || object == NULL || n <= 0 || chunk < 1 || chunk > TFP_CHUNK_MAX ||
	    (argc % 2) != 1) {
		fprintf(stderr, "usage: tf-fanout-pub --pki DIR --port P --devices N --object FILE "
		                "[--chunk C] [--first K] [--id-width W] [--site S] [--client-id ID]\n");
		return 2;
	}
	if ((fp = fopen(object, "rb")) == NULL) {
		perror(object);
		return 1;
	}
	obj = malloc(1u << 24);
	obj_len = obj != NULL ? fread(obj, 1, 1u << 24, fp) : 0;
	fclose(fp);
	if (obj_len == 0)
		return 1;
	/* Every chunk response encoded once (the same bytes go to every device). */
	nchunks = (obj_len + (size_t)chunk - 1) / (size_t)chunk;
	stride = (size_t)chunk + TFP_CHUNK_RESPONSE_WIRE_OVERHEAD;
	msgs = malloc(nchunks * stride);
	mlen = calloc(nchunks, sizeof(*mlen));
	if (msgs == NULL || mlen == NULL)
		return 1;
	for (size_t c = 0; c < nchunks; c++) {
		struct tfp_chunk_response r;
		memset(&r, 0, sizeof(r));
		if (mbedtls_sha256_ret(obj, obj_len, r.object_id, 0) != 0)
			return 1;
		r.offset = (uint32_t)(c * (size_t)chunk);
		r.total = (uint32_t)obj_len;
		r.len = obj_len - r.offset < (size_t)chunk ? obj_len - r.offset : (size_t)chunk;
		r.data = obj + r.offset;
		if (tfp_chunk_response_encode(&r, msgs + c * stride, stride, &mlen[c]) != 0)
			return 1;
	}
	snprintf(uri, sizeof(uri), "ssl://127.0.0.1:%ld", port);
	snprintf(ca, sizeof(ca), "%s/ca.crt", pki);
	snprintf(cert, sizeof(cert), "%s/gateway.crt", pki);
	snprintf(key, sizeof(key), "%s/gateway.key", pki);
	copts.MQTTVersion = MQTTVERSION_5;
	copts.sendWhileDisconnected = 0;
	copts.maxBufferedMessages = 100000;
	if (MQTTAsync_createWithOptions(&client, uri, client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL,
	                                &copts) != MQTTASYNC_SUCCESS)
		return 1;
	MQTTAsync_setCallbacks(client, NULL, NULL, on_message, NULL);
	ssl.trustStore = ca;
	ssl.keyStore = cert;
	ssl.privateKey = key;
	ssl.enableServerCertAuth = 1;
	ssl.verify = 1;
	ssl.sslVersion = MQTT_SSL_VERSION_TLS_1_2;
	ssl.disableDefaultTrustStore = 1;
	conn.ssl = &ssl;
	conn.keepAliveInterval = 30;
	conn.cleanstart = 1;
	conn.onSuccess5 = on_connect;
	conn.onFailure5 = on_connect_failed;
	if (MQTTAsync_connect(client, &conn) != MQTTASYNC_SUCCESS)
		goto out;
	for (int i = 0; i < 1000 && !atomic_load(&connected) && !atomic_load(&failed); i++)
		sleep_ms(10);
	if (!atomic_load(&connected))
		goto out;
	total = n * (long)nchunks;
	t0 = now_rt();
	for (size_t c = 0; c < nchunks; c++) {
		for (long i = 0; i < n; i++) {
			MQTTAsync_message m = MQTTAsync_message_initializer;
			MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
			char topic[128];

			snprintf(topic, sizeof(topic), "tf/%s/dev/dev-%0*ld/chunk/resp", site, (int)width,
			         first + i);
			m.payload = msgs + c * stride;
			m.payloadlen = (int)mlen[c];
			m.qos = 1;
			ro.onSuccess5 = on_sent;
			while (window > 0 && sent - atomic_load(&acked) >= window)
				nanosleep(&(struct timespec){ 0, 50000 }, NULL);
			for (;;) {
				int r = MQTTAsync_sendMessage(client, topic, &m, &ro);
				if (r == MQTTASYNC_SUCCESS)
					break;
				if (r != MQTTASYNC_MAX_BUFFERED_MESSAGES) {
					fprintf(stderr, "tf-fanout-pub: publish: Paho error %d\n", r);
					goto out;
				}
				sleep_ms(1);
			}
			sent++;
		}
	}
	t_sent = now_rt();
	for (int i = 0; i < 60000 && atomic_load(&acked) < total; i++)
		sleep_ms(5);
	t_acked = now_rt();
	printf("fanout-pub: %ld devices x %zu chunk(s) of <= %ld B (object %zu B), window %ld: %ld "
	       "messages, first publish at %.3f, all handed to Paho +%.3f s, %ld acknowledged "
	       "+%.3f s\n",
	       n, nchunks, chunk, obj_len, window, sent, t0, t_sent - t0,
	       (long)atomic_load(&acked), t_acked - t0);
	rc = atomic_load(&acked) == total ? 0 : 1;
out:
	{
		MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;
		d.timeout = 1000;
		MQTTAsync_disconnect(client, &d);
		sleep_ms(200);
	}
	MQTTAsync_destroy(&client);
	free(obj);
	free(msgs);
	free(mlen);
	return rc;
}
