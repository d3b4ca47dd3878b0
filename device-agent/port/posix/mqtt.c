/* port/posix MQTT transport (contract: tinyfleet/port/mqtt.h). */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <mosquitto.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tinyfleet/port/mqtt.h"
#include "tinyfleet/port/posix.h"
#include "tinyfleet/protocol/error.h"

static const char *const chan_suffix[TFA_CHAN_COUNT] = {
	[TFA_CHAN_STATE] = "state",         [TFA_CHAN_CONN] = "conn",
	[TFA_CHAN_TELEMETRY] = "telemetry", [TFA_CHAN_REPORT] = "report",
	[TFA_CHAN_CHUNK_REQ] = "chunk/req", [TFA_CHAN_CMD] = "cmd",
	[TFA_CHAN_CHUNK_RESP] = "chunk/resp",
};

#define CONN_WILL 0x00        /* CBOR uint 0: the will fired */
#define CONN_ONLINE 0x01
#define CONN_BYE 0x02

/* A message held back by the delay fault. */
struct tfa_mqtt_held {
	struct tfa_mqtt_held *next;
	uint64_t due_ms;
	size_t len;
	uint8_t ch;
	uint8_t data[];
};

/* The client whose libmosquitto call is running: the shared TLS context's certificate
 * callback loads this client's certificate (one thread, so one client at a time). */
static struct tfa_mqtt *tls_current;

void
tfa_mqtt_global_init(void)
{
	mosquitto_lib_init();
}

void
tfa_mqtt_global_cleanup(void)
{
	mosquitto_lib_cleanup();
}

/* ---- shared TLS context ---------------------------------------------------------------- */

static int
cert_cb(SSL *ssl, void *arg)
{
	struct tfa_mqtt *q = tls_current;

	(void)arg;
	if (q == NULL || q->certfile == NULL || q->keyfile == NULL)
		return 1;   /* no certificate: the broker refuses the handshake */
	if (SSL_use_certificate_chain_file(ssl, q->certfile) != 1 ||
	    SSL_use_PrivateKey_file(ssl, q->keyfile, SSL_FILETYPE_PEM) != 1 ||
	    SSL_check_private_key(ssl) != 1)
		return 0;
	return 1;
}

void *
tfa_mqtt_tls_shared(const char *cafile, const char *host)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	X509_VERIFY_PARAM *vp;
	unsigned char ip[16];

	if (ctx == NULL)
		return NULL;
	vp = SSL_CTX_get0_param(ctx);
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1)
		goto fail;
	if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1) {
		if (X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1)
			goto fail;
	} else if (X509_VERIFY_PARAM_set1_host(vp, host, 0) != 1) {
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_cert_cb(ctx, cert_cb, NULL);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

void
tfa_mqtt_tls_shared_free(void *ctx)
{
	SSL_CTX_free(ctx);
}

/* ---- topics ---------------------------------------------------------------------------- */

static const char *
topic(const struct tfa_mqtt *q, enum tfa_chan ch, char buf[TFA_MQTT_TOPIC_MAX])
{
	memcpy(buf, q->base, q->base_len);
	snprintf(buf + q->base_len, TFA_MQTT_TOPIC_MAX - q->base_len, "%s", chan_suffix[ch]);
	return buf;
}

static int
topic_is(const struct tfa_mqtt *q, const char *t, enum tfa_chan ch)
{
	return strncmp(t, q->base, q->base_len) == 0 && strcmp(t + q->base_len, chan_suffix[ch]) == 0;
}

/* ---- backoff --------------------------------------------------------------------------- */

static uint32_t
rnd(struct tfa_mqtt *q)
{
	/* xorshift32: jitter only */
	uint32_t x = q->rng != 0 ? q->rng : 0x9e3779b9u;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	q->rng = x;
	return x;
}

/* Next attempt after b/2 .. b, b = min(30 s, 1 s * 2^failures). */
static void
schedule_retry(struct tfa_mqtt *q, uint64_t now_ms)
{
	uint32_t b = TFA_MQTT_BACKOFF_MIN_MS;

	for (unsigned i = 0; i < q->failures && b < TFA_MQTT_BACKOFF_MAX_MS; i++)
		b *= 2;
	if (b > TFA_MQTT_BACKOFF_MAX_MS)
		b = TFA_MQTT_BACKOFF_MAX_MS;
	if (q->failures < 255)
		q->failures++;
	q->retry_at_ms = now_ms + b / 2 + rnd(q) % (b / 2 + 1);
}

/* ---- callbacks ------------------------------------------------------------------------- */

static void
on_connect(struct mosquitto *m, void *obj, int rc)
{
	struct tfa_mqtt *q = obj;
	const uint8_t online = CONN_ONLINE;
	char t[TFA_MQTT_TOPIC_MAX];

	q->connecting = 0;
	if (rc != 0)
		return;   /* refused: the disconnect callback follows and schedules a retry */
	if (mosquitto_subscribe(m, NULL, topic(q, TFA_CHAN_CMD, t), 1) != MOSQ_ERR_SUCCESS ||
	    mosquitto_subscribe(m, NULL, topic(q, TFA_CHAN_CHUNK_RESP, t), 1) != MOSQ_ERR_SUCCESS)
		return;
	q->up = 1;
	q->failures = 0;
	q->connects++;
	(void)mosquitto_publish(m, NULL, topic(q, TFA_CHAN_CONN, t), 1, &online, 1, true);
	if (q->on_conn != NULL)
		q->on_conn(q->user, 1);
}

static void
on_disconnect(struct mosquitto *m, void *obj, int rc)
{
	struct tfa_mqtt *q = obj;
	int was_up = q->up;

	(void)m;
	(void)rc;
	if (mosquitto_socket(m) < 0 && !q->up && !q->connecting && q->retry_at_ms != 0)
		return;   /* a call on a closed link (MOSQ_ERR_NO_CONN): the retry stays planned */
	q->up = 0;
	q->connecting = 0;
	q->retry_at_ms = 0;   /* scheduled by the next io call, which knows the time */
	q->disconnects++;
	if (was_up && q->on_conn != NULL)
		q->on_conn(q->user, 0);
}

static void
on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
	struct tfa_mqtt *q = obj;

	(void)m;
	if (q->on_msg == NULL || msg->payloadlen < 0)
		return;
	if (topic_is(q, msg->topic, TFA_CHAN_CMD))
		q->on_msg(q->user, TFA_CHAN_CMD, msg->payload, (size_t)msg->payloadlen);
	else if (topic_is(q, msg->topic, TFA_CHAN_CHUNK_RESP))
		q->on_msg(q->user, TFA_CHAN_CHUNK_RESP, msg->payload, (size_t)msg->payloadlen);
}

/* ---- life cycle ------------------------------------------------------------------------- */

int
tfa_mqtt_init(struct tfa_mqtt *q, const struct tfa_mqtt_opts *o, tfa_mqtt_msg_fn on_msg,
              tfa_mqtt_conn_fn on_conn, void *user)
{
	const uint8_t will = CONN_WILL;
	char t[TFA_MQTT_TOPIC_MAX];
	int rc = TFA_ERR_OFFLINE, n;

	if (q == NULL || o == NULL || o->host == NULL || o->site == NULL || o->device_id == NULL)
		return TFP_ERR_ARG;
	memset(q, 0, sizeof(*q));
	n = snprintf(q->base, sizeof(q->base), "tf/%s/dev/%s/", o->site, o->device_id);
	if (n < 0 || (size_t)n >= sizeof(q->base) || (size_t)n + 16 > TFA_MQTT_TOPIC_MAX)
		return TFP_ERR_ARG;
	q->base_len = (uint8_t)n;
	q->rng = o->seed;
	q->on_msg = on_msg;
	q->on_conn = on_conn;
	q->user = user;
	if ((q->m = mosquitto_new(o->device_id, true, q)) == NULL)
		return rc;
	mosquitto_connect_callback_set(q->m, on_connect);
	mosquitto_disconnect_callback_set(q->m, on_disconnect);
	mosquitto_message_callback_set(q->m, on_message);
	if (o->tls_shared != NULL) {
		q->certfile = o->certfile;
		q->keyfile = o->keyfile;
		if (mosquitto_int_option(q->m, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0) !=
		            MOSQ_ERR_SUCCESS ||
		    mosquitto_void_option(q->m, MOSQ_OPT_SSL_CTX, o->tls_shared) != MOSQ_ERR_SUCCESS)
			goto fail;
	} else if (o->cafile != NULL &&
	           mosquitto_tls_set(q->m, o->cafile, NULL, o->certfile, o->keyfile, NULL) !=
	                   MOSQ_ERR_SUCCESS) {
		goto fail;
	}
	if (mosquitto_will_set(q->m, topic(q, TFA_CHAN_CONN, t), 1, &will, 1, true) !=
	    MOSQ_ERR_SUCCESS)
		goto fail;
	/* A chunk pull is one small request and one answer at a time: with Nagle on, each
	 * waits for the peer's delayed ACK (tens of ms per chunk). */
	if (mosquitto_int_option(q->m, MOSQ_OPT_TCP_NODELAY, 1) != MOSQ_ERR_SUCCESS)
		goto fail;
	q->connecting = 1;
	q->connect_at_ms = tfa_posix_mono_ms();
	tls_current = q;
	if (mosquitto_connect_async(q->m, o->host, o->port,
	                            o->keepalive > 0 ? o->keepalive : 60) != MOSQ_ERR_SUCCESS) {
		/* Nothing listening yet: keep the client, retry from tfa_mqtt_io. */
		q->connecting = 0;
	}
	tls_current = NULL;
	return 0;
fail:
	mosquitto_destroy(q->m);
	q->m = NULL;
	return rc;
}

static void
held_free_all(struct tfa_mqtt *q)
{
	while (q->held != NULL) {
		struct tfa_mqtt_held *h = q->held;
		q->held = h->next;
		free(h);
	}
	q->held_tail = NULL;
	q->held_count = 0;
}

void
tfa_mqtt_close(struct tfa_mqtt *q)
{
	const uint8_t bye = CONN_BYE;
	char t[TFA_MQTT_TOPIC_MAX];

	if (q == NULL || q->m == NULL)
		return;
	tls_current = q;
	if (q->up) {
		(void)mosquitto_publish(q->m, NULL, topic(q, TFA_CHAN_CONN, t), 1, &bye, 1, true);
		(void)mosquitto_loop_write(q->m, 1);
		(void)mosquitto_disconnect(q->m);
		(void)mosquitto_loop_write(q->m, 1);
	}
	tls_current = NULL;
	mosquitto_destroy(q->m);
	q->m = NULL;
	q->up = 0;
	held_free_all(q);
}

/* ---- sending ---------------------------------------------------------------------------- */

static int
publish(struct tfa_mqtt *q, enum tfa_chan ch, const uint8_t *buf, size_t len)
{
	char t[TFA_MQTT_TOPIC_MAX];
	bool retain = ch == TFA_CHAN_STATE || ch == TFA_CHAN_CONN;
	int qos = ch == TFA_CHAN_TELEMETRY ? 0 : 1;

	if (q->m == NULL || !q->up || len > 0x7fffffff)
		return TFA_ERR_OFFLINE;
	tls_current = q;
	if (mosquitto_publish(q->m, NULL, topic(q, ch, t), (int)len, buf, qos, retain) !=
	    MOSQ_ERR_SUCCESS) {
		tls_current = NULL;
		return TFA_ERR_OFFLINE;
	}
	tls_current = NULL;
	return 0;
}

/* Holds a message for the delay fault; drops the oldest when full. */
static int
hold(struct tfa_mqtt *q, enum tfa_chan ch, const uint8_t *buf, size_t len, uint64_t due)
{
	struct tfa_mqtt_held *h;

	if (q->held_count >= TFA_MQTT_HELD_MAX) {
		h = q->held;
		q->held = h->next;
		if (q->held == NULL)
			q->held_tail = NULL;
		free(h);
		q->held_count--;
		q->held_dropped++;
	}
	if ((h = malloc(sizeof(*h) + len)) == NULL)
		return TFA_ERR_OFFLINE;
	h->next = NULL;
	h->due_ms = due;
	h->len = len;
	h->ch = (uint8_t)ch;
	memcpy(h->data, buf, len);
	if (q->held_tail != NULL)
		q->held_tail->next = h;
	else
		q->held = h;
	q->held_tail = h;
	q->held_count++;
	return 0;
}

/* Sends what is due; QoS 1 messages wait for the link, QoS 0 ones are lost without it. */
static void
release_held(struct tfa_mqtt *q, uint64_t now_ms)
{
	while (q->held != NULL && q->held->due_ms <= now_ms) {
		struct tfa_mqtt_held *h = q->held;
		if (!q->up && h->ch != TFA_CHAN_TELEMETRY)
			return;
		if (publish(q, (enum tfa_chan)h->ch, h->data, h->len) != 0 &&
		    h->ch != TFA_CHAN_TELEMETRY)
			return;
		q->held = h->next;
		if (q->held == NULL)
			q->held_tail = NULL;
		q->held_count--;
		free(h);
	}
}

int
tfa_mqtt_send(struct tfa_mqtt *q, enum tfa_chan ch, const uint8_t *buf, size_t len)
{
	if (q->m == NULL || !q->up || (unsigned)ch >= TFA_CHAN_COUNT)
		return TFA_ERR_OFFLINE;
	if (ch == TFA_CHAN_TELEMETRY && q->qos0_loss_permille > 0 &&
	    rnd(q) % 1000u < q->qos0_loss_permille) {
		q->qos0_lost++;
		return 0;         /* lost on the way, as QoS 0 may be */
	}
	if (q->delay_ms > 0)
		return hold(q, ch, buf, len, tfa_posix_mono_ms() + q->delay_ms);
	return publish(q, ch, buf, len);
}

void
tfa_mqtt_faults(struct tfa_mqtt *q, uint32_t delay_ms, unsigned qos0_loss_permille)
{
	q->delay_ms = delay_ms;
	q->qos0_loss_permille = (uint16_t)(qos0_loss_permille > 1000 ? 1000 : qos0_loss_permille);
}

void
tfa_mqtt_drop(struct tfa_mqtt *q, uint64_t now_ms)
{
	int fd;

	if (q->m == NULL || (fd = mosquitto_socket(q->m)) < 0)
		return;
	(void)shutdown(fd, SHUT_RDWR);   /* libmosquitto sees the loss on its next read */
	q->up = 0;                       /* from now on sends fail: the caller queues them */
	q->drops++;
	(void)now_ms;
}

/* ---- the loop --------------------------------------------------------------------------- */

int
tfa_mqtt_fd(const struct tfa_mqtt *q)
{
	return q->m != NULL && !q->abandoned ? mosquitto_socket(q->m) : -1;
}

short
tfa_mqtt_events(const struct tfa_mqtt *q)
{
	if (q->m == NULL || q->abandoned || mosquitto_socket(q->m) < 0)
		return 0;
	return (short)(POLLIN | (mosquitto_want_write(q->m) ? POLLOUT : 0));
}

void
tfa_mqtt_io(struct tfa_mqtt *q, short revents, uint64_t now_ms)
{
	int fd;

	if (q->m == NULL)
		return;
	tls_current = q;
	/* Only on a live socket: libmosquitto's calls on a closed link report MOSQ_ERR_NO_CONN
	 * through the disconnect callback again and again. */
	if (!q->abandoned && mosquitto_socket(q->m) >= 0) {
		if (q->connecting && (revents & (POLLHUP | POLLERR)))
			goto abandon;   /* hung up during the handshake: see mqtt.h */
		if (revents & (POLLIN | POLLHUP | POLLERR))
			(void)mosquitto_loop_read(q->m, 1);
		if (mosquitto_socket(q->m) >= 0 &&
		    ((revents & POLLOUT) || mosquitto_want_write(q->m)))
			(void)mosquitto_loop_write(q->m, 1);
		if (mosquitto_socket(q->m) >= 0)
			(void)mosquitto_loop_misc(q->m);
	}
	fd = mosquitto_socket(q->m);
	if (q->connecting && (fd < 0 || now_ms - q->connect_at_ms >= TFA_MQTT_CONNECT_TIMEOUT_MS))
		goto abandon;
	if (!q->up && !q->connecting && (fd < 0 || q->abandoned)) {
		if (q->retry_at_ms == 0) {
			schedule_retry(q, now_ms);
		} else if (now_ms >= q->retry_at_ms) {
			/* reconnect closes the abandoned socket before it opens a new one */
			q->retry_at_ms = 0;
			q->abandoned = 0;
			q->connect_at_ms = now_ms;
			q->connecting = mosquitto_reconnect_async(q->m) == MOSQ_ERR_SUCCESS;
		}
	}
	goto out;
abandon:
	q->timeouts++;
	q->connecting = 0;
	q->abandoned = mosquitto_socket(q->m) >= 0;
	schedule_retry(q, now_ms);
out:
	tls_current = NULL;
	if (q->held != NULL)
		release_held(q, now_ms);
}
