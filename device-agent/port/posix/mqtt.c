/* port/posix MQTT transport (contract: tinyfleet/port/mqtt.h). */
#define _POSIX_C_SOURCE 200809L

#include <poll.h>
#include <stdio.h>
#include <string.h>

#include <mosquitto.h>

#include "tinyfleet/port/mqtt.h"
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
#define RETRY_MS 2000u

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

static void
on_connect(struct mosquitto *m, void *obj, int rc)
{
	struct tfa_mqtt *q = obj;
	const uint8_t online = CONN_ONLINE;

	q->connecting = 0;
	if (rc != 0)
		return;   /* refused: the disconnect callback follows and schedules a retry */
	if (mosquitto_subscribe(m, NULL, q->topic[TFA_CHAN_CMD], 1) != MOSQ_ERR_SUCCESS ||
	    mosquitto_subscribe(m, NULL, q->topic[TFA_CHAN_CHUNK_RESP], 1) != MOSQ_ERR_SUCCESS)
		return;
	q->up = 1;
	q->connects++;
	(void)mosquitto_publish(m, NULL, q->topic[TFA_CHAN_CONN], 1, &online, 1, true);
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
	q->up = 0;
	q->connecting = 0;
	q->retry_at_ms = 0;   /* set on the next io call, which knows the time */
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
	if (strcmp(msg->topic, q->topic[TFA_CHAN_CMD]) == 0)
		q->on_msg(q->user, TFA_CHAN_CMD, msg->payload, (size_t)msg->payloadlen);
	else if (strcmp(msg->topic, q->topic[TFA_CHAN_CHUNK_RESP]) == 0)
		q->on_msg(q->user, TFA_CHAN_CHUNK_RESP, msg->payload, (size_t)msg->payloadlen);
}

int
tfa_mqtt_init(struct tfa_mqtt *q, const struct tfa_mqtt_opts *o, tfa_mqtt_msg_fn on_msg,
              tfa_mqtt_conn_fn on_conn, void *user)
{
	const uint8_t will = CONN_WILL;
	int rc = TFA_ERR_OFFLINE;

	if (q == NULL || o == NULL || o->host == NULL || o->site == NULL || o->device_id == NULL)
		return TFP_ERR_ARG;
	memset(q, 0, sizeof(*q));
	for (unsigned c = 0; c < TFA_CHAN_COUNT; c++) {
		int n = snprintf(q->topic[c], sizeof(q->topic[c]), "tf/%s/dev/%s/%s", o->site,
		                 o->device_id, chan_suffix[c]);
		if (n < 0 || (size_t)n >= sizeof(q->topic[c]))
			return TFP_ERR_ARG;
	}
	q->on_msg = on_msg;
	q->on_conn = on_conn;
	q->user = user;
	if ((q->m = mosquitto_new(o->device_id, true, q)) == NULL)
		return rc;
	mosquitto_connect_callback_set(q->m, on_connect);
	mosquitto_disconnect_callback_set(q->m, on_disconnect);
	mosquitto_message_callback_set(q->m, on_message);
	if (o->cafile != NULL &&
	    mosquitto_tls_set(q->m, o->cafile, NULL, o->certfile, o->keyfile, NULL) !=
	            MOSQ_ERR_SUCCESS)
		goto fail;
	if (mosquitto_will_set(q->m, q->topic[TFA_CHAN_CONN], 1, &will, 1, true) !=
	    MOSQ_ERR_SUCCESS)
		goto fail;
	q->connecting = 1;
	if (mosquitto_connect_async(q->m, o->host, o->port,
	                            o->keepalive > 0 ? o->keepalive : 60) != MOSQ_ERR_SUCCESS) {
		/* Nothing listening yet: keep the client, retry from tfa_mqtt_io. */
		q->connecting = 0;
	}
	return 0;
fail:
	mosquitto_destroy(q->m);
	q->m = NULL;
	return rc;
}

int
tfa_mqtt_send(struct tfa_mqtt *q, enum tfa_chan ch, const uint8_t *buf, size_t len)
{
	bool retain = ch == TFA_CHAN_STATE || ch == TFA_CHAN_CONN;
	int qos = ch == TFA_CHAN_TELEMETRY ? 0 : 1;

	if (q->m == NULL || !q->up || (unsigned)ch >= TFA_CHAN_COUNT || len > 0x7fffffff)
		return TFA_ERR_OFFLINE;
	if (mosquitto_publish(q->m, NULL, q->topic[ch], (int)len, buf, qos, retain) !=
	    MOSQ_ERR_SUCCESS)
		return TFA_ERR_OFFLINE;
	return 0;
}

int
tfa_mqtt_fd(const struct tfa_mqtt *q)
{
	return q->m != NULL ? mosquitto_socket(q->m) : -1;
}

short
tfa_mqtt_events(const struct tfa_mqtt *q)
{
	if (q->m == NULL || mosquitto_socket(q->m) < 0)
		return 0;
	return (short)(POLLIN | (mosquitto_want_write(q->m) ? POLLOUT : 0));
}

void
tfa_mqtt_io(struct tfa_mqtt *q, short revents, uint64_t now_ms)
{
	if (q->m == NULL)
		return;
	if (revents & (POLLIN | POLLHUP | POLLERR))
		(void)mosquitto_loop_read(q->m, 1);
	if ((revents & POLLOUT) || mosquitto_want_write(q->m))
		(void)mosquitto_loop_write(q->m, 1);
	(void)mosquitto_loop_misc(q->m);
	if (!q->up && !q->connecting && mosquitto_socket(q->m) < 0) {
		if (q->retry_at_ms == 0) {
			q->retry_at_ms = now_ms + RETRY_MS;
		} else if (now_ms >= q->retry_at_ms) {
			q->retry_at_ms = 0;
			q->connecting = mosquitto_reconnect_async(q->m) == MOSQ_ERR_SUCCESS;
		}
	}
}

void
tfa_mqtt_close(struct tfa_mqtt *q)
{
	const uint8_t bye = CONN_BYE;

	if (q == NULL || q->m == NULL)
		return;
	if (q->up) {
		(void)mosquitto_publish(q->m, NULL, q->topic[TFA_CHAN_CONN], 1, &bye, 1, true);
		(void)mosquitto_loop_write(q->m, 1);
		(void)mosquitto_disconnect(q->m);
		(void)mosquitto_loop_write(q->m, 1);
	}
	mosquitto_destroy(q->m);
	q->m = NULL;
	q->up = 0;
}
