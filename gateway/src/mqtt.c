/*
 * MQTT v5 link over mutual TLS on Paho's async client. See mqtt.h for the thread rule:
 * the functions named paho_* run on Paho's threads and only build and post mail.
 */
#include "mqtt.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

enum mail_kind { MAIL_MESSAGE, MAIL_CONNECTED, MAIL_CONNECT_FAILED, MAIL_LOST, MAIL_DISCONNECTED,
                 MAIL_DELIVERED };

struct mqtt_mail {
	struct gw_mail link;
	enum mail_kind kind;
	int token, ok;              /* MAIL_DELIVERED */
	char why[96];
	struct gw_mqtt_msg msg;     /* MAIL_MESSAGE: pointers into data[] */
	uint8_t data[];
};

static struct mqtt_mail *
state_mail(enum mail_kind kind, const char *why)
{
	struct mqtt_mail *mail = calloc(1, sizeof(*mail));
	if (mail == NULL)
		return NULL;
	mail->kind = kind;
	snprintf(mail->why, sizeof(mail->why), "%s", why != NULL ? why : "");
	return mail;
}

static void
post_state(struct gw_mqtt *m, enum mail_kind kind, const char *why)
{
	struct mqtt_mail *mail = state_mail(kind, why);
	/* Out of memory on a Paho thread: nothing sane is left to do but say so. */
	if (mail == NULL)
		fatalx("mqtt: out of memory posting link state");
	gw_mailbox_post_always(&m->mailbox, &mail->link);
}

/* ---- Paho threads ---- */

/* Whether a message on this topic waits for gw_mqtt_poll() (mqtt.h, lazy_suffix). */
static int
is_lazy(const struct gw_mqtt *m, const char *topic, size_t tlen)
{
	size_t n = m->lazy_suffix_len;
	return n > 0 && tlen >= n && memcmp(topic + tlen - n, m->cfg.lazy_suffix, n) == 0;
}

static int
paho_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *pm)
{
	struct gw_mqtt *m = ctx;
	MQTTProperty *rt, *cd;
	size_t tlen = topic_len > 0 ? (size_t)topic_len : strlen(topic);
	size_t plen = pm->payloadlen > 0 ? (size_t)pm->payloadlen : 0;
	size_t rtlen = 0, cdlen = 0;
	struct mqtt_mail *mail;
	uint8_t *p;

	rt = MQTTProperties_getProperty(&pm->properties, MQTTPROPERTY_CODE_RESPONSE_TOPIC);
	cd = MQTTProperties_getProperty(&pm->properties, MQTTPROPERTY_CODE_CORRELATION_DATA);
	if (rt != NULL && rt->value.data.len > 0)
		rtlen = (size_t)rt->value.data.len;
	if (cd != NULL && cd->value.data.len > 0)
		cdlen = (size_t)cd->value.data.len;

	mail = malloc(sizeof(*mail) + tlen + 1 + plen + rtlen + 1 + cdlen);
	if (mail == NULL)
		goto defer;
	memset(mail, 0, sizeof(*mail));
	mail->kind = MAIL_MESSAGE;
	p = mail->data;
	memcpy(p, topic, tlen);
	p[tlen] = '\0';
	mail->msg.topic = (const char *)p;
	p += tlen + 1;
	if (plen > 0)
		memcpy(p, pm->payload, plen);
	mail->msg.payload = p;
	mail->msg.len = plen;
	p += plen;
	if (rtlen > 0) {
		memcpy(p, rt->value.data.data, rtlen);
		p[rtlen] = '\0';
		mail->msg.response_topic = (const char *)p;
		p += rtlen + 1;
	}
	if (cdlen > 0) {
		memcpy(p, cd->value.data.data, cdlen);
		mail->msg.correlation = p;
		mail->msg.correlation_len = cdlen;
	}
	mail->msg.qos = pm->qos;
	mail->msg.retained = pm->retained;
	if ((is_lazy(m, topic, tlen)
	         ? gw_mailbox_post_lazy(&m->mailbox, &mail->link, m->cfg.lazy_wake_at)
	         : gw_mailbox_post(&m->mailbox, &mail->link)) != 0) {
		free(mail);
		goto defer;
	}
	MQTTAsync_freeMessage(&pm);
	MQTTAsync_free(topic);
	return 1;
defer:
	/* Paho keeps the message and offers it again: back-pressure, not loss. */
	__atomic_add_fetch(&m->deferred, 1, __ATOMIC_RELAXED);
	return 0;
}

static void
paho_lost(void *ctx, char *cause)
{
	post_state(ctx, MAIL_LOST, cause != NULL ? cause : "connection lost");
}

static void
paho_connected(void *ctx, MQTTAsync_successData5 *resp)
{
	(void)resp;
	post_state(ctx, MAIL_CONNECTED, NULL);
}

static void
paho_connect_failed(void *ctx, MQTTAsync_failureData5 *resp)
{
	char why[96];
	snprintf(why, sizeof(why), "%s (code %d, reason %d)",
	         resp != NULL && resp->message != NULL ? resp->message : "connect failed",
	         resp != NULL ? resp->code : 0, resp != NULL ? (int)resp->reasonCode : 0);
	post_state(ctx, MAIL_CONNECT_FAILED, why);
}

static void
paho_disconnected(void *ctx, MQTTAsync_successData5 *resp)
{
	(void)resp;
	post_state(ctx, MAIL_DISCONNECTED, NULL);
}

static void
paho_disconnect_failed(void *ctx, MQTTAsync_failureData5 *resp)
{
	(void)resp;
	post_state(ctx, MAIL_DISCONNECTED, "disconnect failed");
}

static void
post_delivery(struct gw_mqtt *m, int token, int ok)
{
	struct mqtt_mail *mail = state_mail(MAIL_DELIVERED, NULL);
	if (mail == NULL)
		fatalx("mqtt: out of memory posting a delivery");
	mail->token = token;
	mail->ok = ok;
	gw_mailbox_post_always(&m->mailbox, &mail->link);
}

static void
paho_delivered(void *ctx, MQTTAsync_successData5 *resp)
{
	post_delivery(ctx, resp != NULL ? resp->token : 0, 1);
}

static void
paho_delivery_failed(void *ctx, MQTTAsync_failureData5 *resp)
{
	post_delivery(ctx, resp != NULL ? resp->token : 0, 0);
}

static void
paho_subscribe_failed(void *ctx, MQTTAsync_failureData5 *resp)
{
	char why[96];
	snprintf(why, sizeof(why), "subscribe refused (reason %d)",
	         resp != NULL ? (int)resp->reasonCode : -1);
	/* A refused subscription leaves the gateway deaf: treat it as a lost link. */
	post_state(ctx, MAIL_LOST, why);
}

/* ---- loop thread ---- */

static unsigned
jitter(unsigned ms)
{
	static uint64_t x;
	if (x == 0)
		x = uv_hrtime() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ull;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	/* Full jitter in [ms/2, ms]: spreads a fleet of reconnects over the window. */
	return ms / 2 + (unsigned)(x % (ms / 2 + 1));
}

static int connect_now(struct gw_mqtt *m);

static void
on_retry(uv_timer_t *t)
{
	struct gw_mqtt *m = t->data;
	if (!m->closing && !m->connected)
		connect_now(m);
}

static void
schedule_retry(struct gw_mqtt *m)
{
	unsigned delay;
	if (m->closing)
		return;
	delay = jitter(m->backoff_ms);
	m->backoff_ms = m->backoff_ms * 2 > m->cfg.backoff_max_ms ? m->cfg.backoff_max_ms
	                                                          : m->backoff_ms * 2;
	uv_timer_start(&m->retry, on_retry, delay, 0);
}

static int
connect_now(struct gw_mqtt *m)
{
	MQTTAsync_connectOptions conn = MQTTAsync_connectOptions_initializer5;
	MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
	MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
	MQTTProperties props = MQTTProperties_initializer;
	MQTTProperty expiry;
	int rc;

	ssl.trustStore = m->cfg.ca_file;
	ssl.keyStore = m->cfg.cert_file;
	ssl.privateKey = m->cfg.key_file;
	ssl.enableServerCertAuth = 1;
	ssl.verify = 1;
	ssl.sslVersion = MQTT_SSL_VERSION_TLS_1_2;
	ssl.disableDefaultTrustStore = 1;

	expiry.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL;
	expiry.value.integer4 = m->cfg.session_expiry_s;
	MQTTProperties_add(&props, &expiry);

	conn.keepAliveInterval = m->cfg.keepalive_s;
	conn.cleanstart = 0;
	conn.connectProperties = &props;
	conn.ssl = &ssl;
	conn.connectTimeout = 10;
	conn.onSuccess5 = paho_connected;
	conn.onFailure5 = paho_connect_failed;
	conn.context = m;
	if (m->cfg.will_topic != NULL) {
		will.topicName = m->cfg.will_topic;
		will.message = m->cfg.will_payload != NULL ? m->cfg.will_payload : "offline";
		will.retained = 1;
		will.qos = 1;
		conn.will = &will;
	}
	rc = MQTTAsync_connect(m->client, &conn);
	MQTTProperties_free(&props);
	if (rc != MQTTASYNC_SUCCESS) {
		log_warnx("mqtt: connect to %s: Paho error %d", m->cfg.uri, rc);
		m->stats.connect_failures++;
		schedule_retry(m);
		return -EIO;
	}
	return 0;
}

static void
send_subscriptions(struct gw_mqtt *m, int from)
{
	for (int i = from; i < m->nsubs; i++) {
		MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
		int rc;
		opts.onFailure5 = paho_subscribe_failed;
		opts.context = m;
		rc = MQTTAsync_subscribe(m->client, m->subs[i], m->sub_qos[i], &opts);
		if (rc != MQTTASYNC_SUCCESS)
			log_warnx("mqtt: subscribe %s: Paho error %d", m->subs[i], rc);
	}
}

static void finish_close(struct gw_mqtt *m);
static void pump_window(struct gw_mqtt *m);
static int window_done(struct gw_mqtt *m, int paho, int *mine);

/* Paho C 1.3 has no TCP_NODELAY option and leaves Nagle on, so every small publish after
 * another waits for the broker's delayed ACK (about 40 ms per chunk a device pulls). The
 * broker link is the daemon's only TCP connection (CoAP is UDP, the API rides MQTT), so
 * after each connect every connected TCP socket of this process gets TCP_NODELAY. */
static void
tcp_nodelay_all(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (dir == NULL)
		return;
	while ((e = readdir(dir)) != NULL) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		int fd, type = 0, one = 1;
		socklen_t tlen = sizeof(type);
		char *end;

		fd = (int)strtol(e->d_name, &end, 10);
		if (*end != '\0' || fd == dirfd(dir))
			continue;
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 || type != SOCK_STREAM ||
		    getpeername(fd, (struct sockaddr *)&peer, &plen) != 0 ||
		    (peer.ss_family != AF_INET && peer.ss_family != AF_INET6))
			continue;
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0)
			n++;
	}
	closedir(dir);
	log_debug("mqtt: TCP_NODELAY set on %d socket(s)", n);
}

static void
drain(void *arg, struct gw_mail *item)
{
	struct gw_mqtt *m = arg;
	struct mqtt_mail *mail = (struct mqtt_mail *)item;

	switch (mail->kind) {
	case MAIL_MESSAGE:
		m->stats.received++;
		if (!m->closing)
			m->on_message(m->arg, &mail->msg);
		break;
	case MAIL_CONNECTED:
		if (m->closing)
			break;
		m->connected = 1;
		m->stats.connects++;
		/* A new connection: answers to the old one's publishes are not counted, and
		 * their owners re-send what matters (outbox, rollout timers, device re-asks). */
		m->ninflight = 0;
		m->backoff_ms = m->cfg.backoff_min_ms;
		log_info("mqtt: connected to %s as %s", m->cfg.uri, m->cfg.client_id);
		tcp_nodelay_all();
		send_subscriptions(m, 0);
		if (m->cfg.will_topic != NULL && m->cfg.online_payload != NULL)
			gw_mqtt_publish(m, m->cfg.will_topic, m->cfg.online_payload,
			                strlen(m->cfg.online_payload), 1, 1, NULL);
		m->on_state(m->arg, 1, "connected");
		pump_window(m);
		break;
	case MAIL_CONNECT_FAILED:
		m->stats.connect_failures++;
		log_warnx("mqtt: connect to %s failed: %s", m->cfg.uri, mail->why);
		schedule_retry(m);
		break;
	case MAIL_LOST:
		if (m->connected) {
			m->connected = 0;
			m->on_state(m->arg, 0, mail->why);
		}
		log_warnx("mqtt: link to %s lost: %s", m->cfg.uri, mail->why);
		schedule_retry(m);
		break;
	case MAIL_DISCONNECTED:
		if (m->closing)
			finish_close(m);
		break;
	case MAIL_DELIVERED: {
		int mine = 0;
		if (!window_done(m, mail->token, &mine))
			break;
		/* Also while closing: what the broker acknowledged need not be sent again. */
		if (mine != 0 && m->on_delivery != NULL)
			m->on_delivery(m->delivery_arg, mine, mail->ok);
		pump_window(m);
		break;
	}
	}
	free(mail);
}

static void
discard(void *arg, struct gw_mail *item)
{
	(void)arg;
	free(item);
}

int
gw_mqtt_init(uv_loop_t *loop, struct gw_mqtt *m, const struct gw_mqtt_config *cfg,
             gw_mqtt_message_fn on_message, gw_mqtt_state_fn on_state, void *arg)
{
	MQTTAsync_createOptions copts = MQTTAsync_createOptions_initializer;
	int rc;

	memset(m, 0, sizeof(*m));
	if (cfg->uri == NULL || cfg->client_id == NULL || on_message == NULL || on_state == NULL)
		return -EINVAL;
	m->loop = loop;
	m->cfg = *cfg;
	if (m->cfg.keepalive_s == 0)
		m->cfg.keepalive_s = 30;
	if (m->cfg.session_expiry_s == 0)
		m->cfg.session_expiry_s = 3600;
	if (m->cfg.backoff_min_ms == 0)
		m->cfg.backoff_min_ms = 250;
	if (m->cfg.backoff_max_ms < m->cfg.backoff_min_ms)
		m->cfg.backoff_max_ms = m->cfg.backoff_min_ms > 30000 ? m->cfg.backoff_min_ms : 30000;
	m->backoff_ms = m->cfg.backoff_min_ms;
	if (m->cfg.lazy_suffix != NULL)
		m->lazy_suffix_len = strlen(m->cfg.lazy_suffix);
	if (m->cfg.lazy_wake_at == 0)
		m->cfg.lazy_wake_at = 512;
	if (m->cfg.window == 0)
		m->cfg.window = 64;
	if (m->cfg.wait_max == 0)
		m->cfg.wait_max = 262144;
	if ((m->inflight = calloc(m->cfg.window, sizeof(*m->inflight))) == NULL)
		return -ENOMEM;
	m->on_message = on_message;
	m->on_state = on_state;
	m->arg = arg;

	/* Paho formats every protocol-level trace line (vsnprintf under a global mutex, into
	 * its own ring buffer) unless told not to: about a tenth of the instructions per
	 * received message. Errors are still traced; the link logs what matters itself. */
	MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_ERROR);
	copts.MQTTVersion = MQTTVERSION_5;
	/* Publishes while disconnected fail fast: state lives in the store and is re-sent.
	 * The buffer bound applies while connected too (Paho's queue of outgoing messages), so
	 * it must hold a burst: a wave of chunk responses, say. */
	copts.sendWhileDisconnected = 0;
	copts.maxBufferedMessages = 100000;
	rc = MQTTAsync_createWithOptions(&m->client, cfg->uri, cfg->client_id,
	                                 MQTTCLIENT_PERSISTENCE_NONE, NULL, &copts);
	if (rc != MQTTASYNC_SUCCESS) {
		log_warnx("mqtt: cannot create client for %s: Paho error %d", cfg->uri, rc);
		free(m->inflight);
		m->inflight = NULL;
		return -EIO;
	}
	if (MQTTAsync_setCallbacks(m->client, m, paho_lost, paho_message, NULL) != 0 ||
	    (rc = gw_mailbox_init(loop, &m->mailbox, cfg->mailbox_max, drain, m)) != 0) {
		MQTTAsync_destroy(&m->client);
		free(m->inflight);
		m->inflight = NULL;
		return -EIO;
	}
	/* uv_timer_init cannot fail. */
	uv_timer_init(loop, &m->retry);
	m->retry.data = m;
	m->handles_open = 2;
	return 0;
}

int
gw_mqtt_subscribe(struct gw_mqtt *m, const char *filter, int qos)
{
	char *copy;
	if (m->nsubs >= GW_MQTT_MAX_SUBS || qos < 0 || qos > 2)
		return -EINVAL;
	if ((copy = strdup(filter)) == NULL)
		return -ENOMEM;
	m->subs[m->nsubs] = copy;
	m->sub_qos[m->nsubs] = qos;
	m->nsubs++;
	if (m->connected)
		send_subscriptions(m, m->nsubs - 1);
	return 0;
}

int
gw_mqtt_start(struct gw_mqtt *m)
{
	/* A refused first attempt is logged and retried on the backoff timer like any other. */
	(void)connect_now(m);
	return 0;
}

/* A publish waiting for the window: everything copied into one block. */
struct gw_mqtt_pub {
	struct gw_mqtt_pub *next;
	char *topic;
	uint8_t *payload, *corr;
	size_t len, corr_len;
	int qos, retain, mine;
	uint8_t data[];
};

/* Hands one publish to Paho; QoS 1 ones enter the window. */
static int
send_now(struct gw_mqtt *m, const char *topic, const void *payload, size_t len, int qos,
         int retain, const uint8_t *corr, size_t corr_len, int mine)
{
	MQTTAsync_message msg = MQTTAsync_message_initializer;
	MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
	MQTTProperty cd;
	int rc;

	msg.payload = (void *)payload;
	msg.payloadlen = (int)len;
	msg.qos = qos;
	msg.retained = retain;
	if (corr != NULL) {
		cd.identifier = MQTTPROPERTY_CODE_CORRELATION_DATA;
		cd.value.data.data = (char *)corr;
		cd.value.data.len = (int)corr_len;
		MQTTProperties_add(&msg.properties, &cd);
	}
	if (qos > 0) {
		opts.onSuccess5 = paho_delivered;
		opts.onFailure5 = paho_delivery_failed;
		opts.context = m;
	}
	rc = MQTTAsync_sendMessage(m->client, topic, &msg, &opts);
	MQTTProperties_free(&msg.properties);
	if (rc != MQTTASYNC_SUCCESS) {
		m->stats.publish_errors++;
		log_warnx("mqtt: publish %s: Paho error %d", topic, rc);
		return rc == MQTTASYNC_DISCONNECTED ? -ENOTCONN : -EIO;
	}
	m->stats.published++;
	if (qos > 0) {
		m->inflight[m->ninflight].paho = opts.token;
		m->inflight[m->ninflight].mine = mine;
		m->ninflight++;
	}
	return 0;
}

/* Sends what waits, in order, while the window has room and the link is up. */
static void
pump_window(struct gw_mqtt *m)
{
	struct gw_mqtt_pub *p;

	while ((p = m->wait_head) != NULL && m->connected && !m->closing &&
	       m->ninflight < m->cfg.window) {
		if (send_now(m, p->topic, p->payload, p->len, p->qos, p->retain, p->corr,
		             p->corr_len, p->mine) == -ENOTCONN)
			return;   /* stays first; the next connect sends it */
		m->wait_head = p->next;
		if (m->wait_head == NULL)
			m->wait_tail = NULL;
		m->waiting--;
		m->left++;
		free(p);
	}
}

/* The broker's answer to window entry `paho`: frees its place; 0 when it is not one of
 * this connection's (an answer to a publish from before a reconnect). */
static int
window_done(struct gw_mqtt *m, int paho, int *mine)
{
	for (unsigned i = 0; i < m->ninflight; i++)
		if (m->inflight[i].paho == paho) {
			*mine = m->inflight[i].mine;
			m->inflight[i] = m->inflight[--m->ninflight];
			return 1;
		}
	return 0;
}

static int
enqueue(struct gw_mqtt *m, const char *topic, const void *payload, size_t len, int qos,
        int retain, const uint8_t *corr, size_t corr_len, int mine)
{
	size_t tlen = strlen(topic) + 1;
	struct gw_mqtt_pub *p;

	if (m->waiting >= m->cfg.wait_max) {
		m->stats.publish_errors++;
		log_warnx("mqtt: %zu publishes wait for the broker; %s dropped", m->waiting, topic);
		return -ENOBUFS;
	}
	if ((p = malloc(sizeof(*p) + tlen + len + corr_len)) == NULL)
		return -ENOMEM;
	p->next = NULL;
	p->topic = (char *)p->data;
	memcpy(p->topic, topic, tlen);
	p->payload = p->data + tlen;
	if (len > 0)
		memcpy(p->payload, payload, len);
	p->len = len;
	p->corr = corr != NULL ? p->payload + len : NULL;
	if (corr != NULL)
		memcpy(p->corr, corr, corr_len);
	p->corr_len = corr_len;
	p->qos = qos;
	p->retain = retain;
	p->mine = mine;
	if (m->wait_tail != NULL)
		m->wait_tail->next = p;
	else
		m->wait_head = p;
	m->wait_tail = p;
	m->waiting++;
	m->entered++;
	return 0;
}

static int
publish(struct gw_mqtt *m, const char *topic, const void *payload, size_t len, int qos,
        int retain, const struct gw_mqtt_reply *reply, int *token)
{
	const uint8_t *corr = reply != NULL ? reply->correlation : NULL;
	size_t corr_len = corr != NULL ? reply->correlation_len : 0;
	int mine = 0, rc;

	if (!m->connected || m->closing)
		return -ENOTCONN;
	if (len > INT32_MAX)
		return -EMSGSIZE;
	if (token != NULL) {
		if (++m->next_token <= 0)
			m->next_token = 1;
		mine = m->next_token;
	}
	if (qos > 0 && (m->ninflight >= m->cfg.window || m->wait_head != NULL))
		rc = enqueue(m, topic, payload, len, qos, retain, corr, corr_len, mine);
	else
		rc = send_now(m, topic, payload, len, qos, retain, corr, corr_len, mine);
	if (rc == 0 && token != NULL)
		*token = mine;
	return rc;
}

uint64_t
gw_mqtt_queue_place(const struct gw_mqtt *m, uint64_t entered_before)
{
	return m->entered != entered_before ? m->entered : 0;
}

bool
gw_mqtt_waiting(const struct gw_mqtt *m, uint64_t place)
{
	return place != 0 && m->left < place;
}

int
gw_mqtt_publish(struct gw_mqtt *m, const char *topic, const void *payload, size_t len,
                int qos, int retain, const struct gw_mqtt_reply *reply)
{
	return publish(m, topic, payload, len, qos, retain, reply, NULL);
}

int
gw_mqtt_publish_tracked(struct gw_mqtt *m, const char *topic, const void *payload,
                        size_t len, int qos, int retain, int *token)
{
	return publish(m, topic, payload, len, qos, retain, NULL, token);
}

void
gw_mqtt_on_delivery(struct gw_mqtt *m, gw_mqtt_delivery_fn fn, void *arg)
{
	m->on_delivery = fn;
	m->delivery_arg = arg;
}

void
gw_mqtt_poll(struct gw_mqtt *m)
{
	if (m->client != NULL)
		gw_mailbox_drain_now(&m->mailbox);
}

void
gw_mqtt_stats(const struct gw_mqtt *m, struct gw_mqtt_stats *out)
{
	*out = m->stats;
	out->deferred = __atomic_load_n(&m->deferred, __ATOMIC_RELAXED);
}

static void
handle_closed(struct gw_mqtt *m)
{
	if (--m->handles_open == 0 && m->on_closed != NULL)
		m->on_closed(m);
}

static void
on_mailbox_closed(struct gw_mailbox *mb)
{
	handle_closed(mb->arg);
}

static void
on_timer_closed(uv_handle_t *h)
{
	handle_closed(h->data);
}

static void
finish_close(struct gw_mqtt *m)
{
	if (m->client == NULL)
		return;
	/* After destroy Paho calls nothing more for this client; only then may the mailbox
	 * that its threads post to go away. */
	MQTTAsync_destroy(&m->client);
	m->client = NULL;
	while (m->wait_head != NULL) {
		struct gw_mqtt_pub *p = m->wait_head;
		m->wait_head = p->next;
		m->left++;
		free(p);
	}
	m->wait_tail = NULL;
	m->waiting = 0;
	free(m->inflight);
	m->inflight = NULL;
	for (int i = 0; i < m->nsubs; i++)
		free(m->subs[i]);
	m->nsubs = 0;
	gw_mailbox_close(&m->mailbox, discard, on_mailbox_closed);
	uv_close((uv_handle_t *)&m->retry, on_timer_closed);
}

static void
on_close_deadline(uv_timer_t *t)
{
	struct gw_mqtt *m = t->data;
	log_warnx("mqtt: no answer to DISCONNECT from %s; closing anyway", m->cfg.uri);
	finish_close(m);
}

void
gw_mqtt_close(struct gw_mqtt *m, void (*on_closed)(struct gw_mqtt *))
{
	MQTTAsync_disconnectOptions opts = MQTTAsync_disconnectOptions_initializer5;

	if (m->closing)
		return;
	m->on_closed = on_closed;
	uv_timer_stop(&m->retry);
	if (m->connected) {
		/* An orderly stop fires no will: say "offline" ourselves, before the DISCONNECT
		 * (Paho completes in-flight publishes within the disconnect timeout). */
		if (m->cfg.will_topic != NULL)
			gw_mqtt_publish(m, m->cfg.will_topic,
			                m->cfg.will_payload != NULL ? m->cfg.will_payload : "offline",
			                strlen(m->cfg.will_payload != NULL ? m->cfg.will_payload
			                                                   : "offline"),
			                1, 1, NULL);
		m->connected = 0;
		m->closing = 1;
		opts.timeout = 1000;
		opts.onSuccess5 = paho_disconnected;
		opts.onFailure5 = paho_disconnect_failed;
		opts.context = m;
		if (MQTTAsync_disconnect(m->client, &opts) == MQTTASYNC_SUCCESS) {
			/* finish_close runs when Paho reports the disconnect (Paho takes about 2 s
			 * here even when all is acknowledged); when the broker is already gone it
			 * may report nothing, so a deadline finishes the close too. */
			uv_timer_start(&m->retry, on_close_deadline, 5000, 0);
			return;
		}
	}
	m->closing = 1;
	finish_close(m);
}
