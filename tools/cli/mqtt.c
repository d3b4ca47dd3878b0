/*
 * The operator side of schemas/README.md's request/response: MQTT v5 over mutual TLS with
 * Paho's synchronous client (no callbacks set, so incoming messages queue until
 * MQTTClient_receive takes them, on this one thread).
 *
 * A request goes to tf/<site>/api/req/<op>/<cn> with a response topic under
 * tf/<site>/api/resp/<cn>/ (<nonce>/<n>: one subscription serves every request of the
 * process) and fresh correlation data; the answer is the one message on that topic that
 * echoes the correlation data. The CN is read from the operator's own
 * certificate, because the broker's ACL only lets it publish under that CN.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <MQTTClient.h>
#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>

#include "cli.h"

static char tls_error[512];

/* Paho reports OpenSSL's errors here; the last one says why a handshake failed. */
static int
on_tls_error(const char *str, size_t len, void *ctx)
{
	(void)ctx;
	snprintf(tls_error, sizeof(tls_error), "%.*s", (int)len, str);
	return 0;
}

static int
cert_cn(const char *path, char *cn, size_t len)
{
	mbedtls_x509_crt crt;
	const mbedtls_x509_name *n;
	int rc = -1;

	mbedtls_x509_crt_init(&crt);
	if (mbedtls_x509_crt_parse_file(&crt, path) != 0)
		goto out;
	for (n = &crt.subject; n != NULL; n = n->next) {
		if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0 && n->val.len < len) {
			memcpy(cn, n->val.p, n->val.len);
			cn[n->val.len] = '\0';
			rc = 0;
		}
	}
out:
	mbedtls_x509_crt_free(&crt);
	return rc;
}

static int
readable(const char *what, const char *path)
{
	if (access(path, R_OK) == 0)
		return 0;
	cli_err("cannot read the %s %s: %s", what, path, strerror(errno));
	return CLI_EXIT_CONN;
}

int
cli_mqtt_connect(struct cli_mqtt *m, const struct cli_opts *o)
{
	MQTTClient_createOptions create = MQTTClient_createOptions_initializer;
	MQTTClient_connectOptions conn = MQTTClient_connectOptions_initializer5;
	MQTTClient_SSLOptions ssl = MQTTClient_SSLOptions_initializer;
	MQTTResponse r;
	MQTTClient c;
	unsigned char rnd[8];
	char id[96];
	FILE *f;
	int rc;

	memset(m, 0, sizeof(*m));
	m->o = o;
	if ((rc = cli_opts_complete(o)) != 0)
		return rc;
	if (readable("fleet CA certificate (--ca)", o->ca) != 0 ||
	    readable("operator certificate (--cert)", o->cert) != 0 ||
	    readable("operator key (--key)", o->key) != 0)
		return CLI_EXIT_CONN;
	if (cert_cn(o->cert, m->cn, sizeof(m->cn)) != 0) {
		cli_err("%s is not a PEM certificate with a CN: pass your operator certificate "
		        "(op-<name>.crt from deploy/pki.sh)", o->cert);
		return CLI_EXIT_CONN;
	}
	f = fopen("/dev/urandom", "rb");
	if (f == NULL || fread(rnd, 1, sizeof(rnd), f) != sizeof(rnd)) {
		cli_err("cannot read /dev/urandom");
		if (f != NULL)
			fclose(f);
		return CLI_EXIT_IO;
	}
	fclose(f);
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(m->nonce + 2 * i, 3, "%02x", rnd[i]);

	snprintf(id, sizeof(id), "%s-cli-%s", m->cn, m->nonce);
	create.MQTTVersion = MQTTVERSION_5;
	if (MQTTClient_createWithOptions(&c, o->uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL,
	                                 &create) != MQTTCLIENT_SUCCESS) {
		cli_err("'%s' is not a broker address: use ssl://HOST:PORT", o->uri);
		return CLI_EXIT_USAGE;
	}
	m->client = c;
	ssl.trustStore = o->ca;
	ssl.keyStore = o->cert;
	ssl.privateKey = o->key;
	ssl.enableServerCertAuth = 1;
	ssl.verify = 1;
	ssl.sslVersion = MQTT_SSL_VERSION_TLS_1_2;
	ssl.disableDefaultTrustStore = 1;
	ssl.ssl_error_cb = on_tls_error;
	conn.ssl = &ssl;
	conn.MQTTVersion = MQTTVERSION_5;
	conn.cleanstart = 1;
	conn.keepAliveInterval = 30;
	conn.connectTimeout = o->timeout_s;
	r = MQTTClient_connect5(c, &conn, NULL, NULL);
	rc = r.reasonCode;
	MQTTResponse_free(r);
	if (rc != MQTTCLIENT_SUCCESS) {
		if (rc > 0)
			cli_err("broker %s refused the connection: %s", o->uri,
			        MQTTReasonCode_toString((enum MQTTReasonCodes)rc));
		else
			cli_err("cannot connect to %s%s%s", o->uri, tls_error[0] ? ": " : "",
			        tls_error);
		cli_err("check that the broker runs at that address, that --ca is the fleet CA "
		        "and that --cert/--key are an operator certificate of that CA");
		MQTTClient_destroy(&c);
		m->client = NULL;
		return CLI_EXIT_CONN;
	}
	return 0;
}

void
cli_mqtt_close(struct cli_mqtt *m)
{
	MQTTClient c = m->client;
	if (c == NULL)
		return;
	MQTTClient_disconnect5(c, 0, MQTTREASONCODE_SUCCESS, NULL);
	MQTTClient_destroy(&c);
	m->client = NULL;
}

int
cli_mqtt_subscribe(struct cli_mqtt *m, const char *filter)
{
	MQTTResponse r = MQTTClient_subscribe5(m->client, filter, 1, NULL, NULL);
	int rc = r.reasonCode;
	MQTTResponse_free(r);
	if (rc > MQTTREASONCODE_GRANTED_QOS_2 || rc < 0) {
		cli_err("cannot subscribe to %s (%s): your certificate may not read it",
		        filter, rc > 0 ? MQTTReasonCode_toString((enum MQTTReasonCodes)rc)
		                       : MQTTClient_strerror(rc));
		return CLI_EXIT_CONN;
	}
	return 0;
}

int
cli_mqtt_next(struct cli_mqtt *m, int timeout_ms, char **topic, char **payload, int *retained)
{
	MQTTClient_message *msg = NULL;
	char *t = NULL;
	int tlen = 0, rc;

	rc = MQTTClient_receive(m->client, &t, &tlen, &msg, (unsigned long)timeout_ms);
	if (rc != MQTTCLIENT_SUCCESS && rc != MQTTCLIENT_TOPICNAME_TRUNCATED) {
		cli_err("lost the broker connection (%s)", MQTTClient_strerror(rc));
		return CLI_EXIT_CONN;
	}
	if (msg == NULL)
		return 0;
	*topic = strdup(t);
	*payload = malloc((size_t)msg->payloadlen + 1);
	if (*topic == NULL || *payload == NULL) {
		cli_err("out of memory");
		exit(CLI_EXIT_IO);
	}
	memcpy(*payload, msg->payload, (size_t)msg->payloadlen);
	(*payload)[msg->payloadlen] = '\0';
	if (retained != NULL)
		*retained = msg->retained;
	MQTTClient_free(t);
	MQTTClient_freeMessage(&msg);
	return 1;
}

static long long
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Publishes the request; 0 or CLI_EXIT_CONN. */
static int
send_request(struct cli_mqtt *m, const char *op, const char *text, const char *resp,
             const char *corr)
{
	MQTTClient_message msg = MQTTClient_message_initializer;
	MQTTProperty p;
	MQTTResponse r;
	char topic[256];
	int rc;

	snprintf(topic, sizeof(topic), "tf/%s/api/req/%s/%s", m->o->site, op, m->cn);
	msg.payload = (void *)text;
	msg.payloadlen = (int)strlen(text);
	msg.qos = 1;
	p.identifier = MQTTPROPERTY_CODE_RESPONSE_TOPIC;
	p.value.data.data = (char *)resp;
	p.value.data.len = (int)strlen(resp);
	MQTTProperties_add(&msg.properties, &p);
	p.identifier = MQTTPROPERTY_CODE_CORRELATION_DATA;
	p.value.data.data = (char *)corr;
	p.value.data.len = (int)strlen(corr);
	MQTTProperties_add(&msg.properties, &p);
	p.identifier = MQTTPROPERTY_CODE_CONTENT_TYPE;
	p.value.data.data = "application/json";
	p.value.data.len = 16;
	MQTTProperties_add(&msg.properties, &p);
	p.identifier = MQTTPROPERTY_CODE_MESSAGE_EXPIRY_INTERVAL;
	p.value.integer4 = (unsigned)m->o->timeout_s + 5;
	MQTTProperties_add(&msg.properties, &p);
	r = MQTTClient_publishMessage5(m->client, topic, &msg, NULL);
	rc = r.reasonCode;
	MQTTResponse_free(r);
	MQTTProperties_free(&msg.properties);
	if (rc != MQTTCLIENT_SUCCESS) {
		cli_err("cannot send %s (%s)", op, MQTTClient_strerror(rc));
		return CLI_EXIT_CONN;
	}
	return 0;
}

int
cli_request_raw(struct cli_mqtt *m, const char *op, json_t *body, json_t **result,
                json_t **error)
{
	char resp[256], corr[48];
	char *text = NULL;
	long long deadline;
	int rc = CLI_EXIT_TIMEOUT;

	*result = NULL;
	*error = NULL;
	/* One subscription for all of this process's answers: .../resp/<cn>/<nonce>/<n>. */
	if (!m->subscribed) {
		snprintf(resp, sizeof(resp), "tf/%s/api/resp/%s/%s/+", m->o->site, m->cn, m->nonce);
		if ((rc = cli_mqtt_subscribe(m, resp)) != 0)
			return rc;
		m->subscribed = 1;
	}
	snprintf(corr, sizeof(corr), "%s-%u", m->nonce, ++m->next);
	snprintf(resp, sizeof(resp), "tf/%s/api/resp/%s/%s/%u", m->o->site, m->cn, m->nonce,
	         m->next);
	text = json_dumps(body, JSON_COMPACT);
	if (text == NULL) {
		cli_err("out of memory");
		return CLI_EXIT_IO;
	}
	rc = send_request(m, op, text, resp, corr);
	free(text);
	if (rc != 0)
		return rc;

	deadline = now_ms() + (long long)m->o->timeout_s * 1000;
	rc = CLI_EXIT_TIMEOUT;
	while (rc == CLI_EXIT_TIMEOUT) {
		MQTTClient_message *msg = NULL;
		MQTTProperty *cd;
		char *t = NULL;
		int tlen = 0, got;
		long long left = deadline - now_ms();

		if (left <= 0)
			break;
		got = MQTTClient_receive(m->client, &t, &tlen, &msg, (unsigned long)left);
		if (got != MQTTCLIENT_SUCCESS && got != MQTTCLIENT_TOPICNAME_TRUNCATED) {
			cli_err("lost the broker connection while waiting for %s (%s)", op,
			        MQTTClient_strerror(got));
			rc = CLI_EXIT_CONN;
			break;
		}
		if (msg == NULL)
			continue;
		cd = MQTTProperties_getProperty(&msg->properties,
		                                MQTTPROPERTY_CODE_CORRELATION_DATA);
		if (strcmp(t, resp) == 0 && cd != NULL && cd->value.data.len == (int)strlen(corr) &&
		    memcmp(cd->value.data.data, corr, strlen(corr)) == 0) {
			json_error_t je;
			json_t *doc = json_loadb(msg->payload, (size_t)msg->payloadlen, 0, &je);
			if (!json_is_object(doc) || !json_is_boolean(json_object_get(doc, "ok"))) {
				cli_err("the gateway's answer to %s is not a response document: %s", op,
				        je.text);
				rc = CLI_EXIT_REFUSED;
			} else if (json_is_true(json_object_get(doc, "ok"))) {
				*result = json_incref(json_object_get(doc, "result"));
				if (*result == NULL)
					*result = json_object();
				rc = 0;
			} else {
				*error = json_incref(json_object_get(doc, "error"));
				if (*error == NULL)
					*error = json_object();
				rc = CLI_EXIT_REFUSED;
			}
			json_decref(doc);
		}
		MQTTClient_free(t);
		MQTTClient_freeMessage(&msg);
	}
	return rc;
}

int
cli_request(struct cli_mqtt *m, const char *op, json_t *body, json_t **result)
{
	json_t *error = NULL;
	int rc = cli_request_raw(m, op, body, result, &error);

	if (rc == CLI_EXIT_TIMEOUT) {
		cli_err("no answer to %s from the gateway of site '%s' within %d s", op,
		        m->o->site, m->o->timeout_s);
		cli_err("check that tinyfleetd runs for that site (its retained "
		        "tf/%s/status/gateway says 'online'), that --site is right, and that the "
		        "broker's ACL lets %s publish requests", m->o->site, m->cn);
	}
	if (error != NULL) {
		const char *code = cli_str(error, "code");
		if (m->o->json) {
			json_t *doc = json_pack("{s:b,s:O}", "ok", 0, "error", error);
			cli_print_json(doc);
			json_decref(doc);
		}
		cli_err("%s refused by the gateway of site '%s': %s: %s", op, m->o->site,
		        code[0] ? code : "(no code)", cli_str(error, "message"));
		cli_err("what to do: %s", cli_error_hint(code));
		json_decref(error);
	}
	return rc;
}

int
cli_request_pages(struct cli_mqtt *m, const char *op, json_t *req, size_t max, json_t *all,
                  json_t **last)
{
	int rc;

	if (max < SIZE_MAX)
		json_object_set_new(req, "limit",
		                    json_integer((json_int_t)(max > 500 ? 500 : max < 1 ? 1 : max)));
	for (;;) {
		json_t *cursor;
		if ((rc = cli_request(m, op, req, last)) != 0)
			return rc;
		json_array_extend(all, json_object_get(*last, "items"));
		cursor = json_object_get(*last, "next_cursor");
		if (!json_is_string(cursor) || json_array_size(all) >= max)
			return 0;
		json_object_set(req, "cursor", cursor);
		json_decref(*last);
		*last = NULL;
	}
}
