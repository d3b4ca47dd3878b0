/* port/posix CoAP/DTLS transport (contract: tinyfleet/port/coap.h). */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include <coap3/coap.h>
#include <openssl/x509v3.h>

#include "tinyfleet/port/coap.h"
#include "tinyfleet/protocol/error.h"
#include "tinyfleet/protocol/msg_chunk.h"

static const char *const chan_suffix[TFA_CHAN_COUNT] = {
	[TFA_CHAN_STATE] = "state",         [TFA_CHAN_CONN] = "conn",
	[TFA_CHAN_TELEMETRY] = "telemetry", [TFA_CHAN_REPORT] = "report",
	[TFA_CHAN_CHUNK_REQ] = "",          [TFA_CHAN_CMD] = "cmd",
	[TFA_CHAN_CHUNK_RESP] = "",
};

#define CONN_ONLINE 0x01
#define CONN_BYE 0x02
#define RETRY_MS 2000u
#define HANDSHAKE_MS 15000u

_Static_assert(sizeof(coap_address_t) <= sizeof(((struct tfa_coap *)0)->server),
               "struct tfa_coap.server must hold a coap_address_t");

/* The server must hold a certificate for servers: any fleet device certificate is from the
 * same CA, and must not pass for the gateway. */
static int
check_server(const char *cn, const uint8_t *der, size_t len, coap_session_t *s,
             unsigned depth, int validated, void *arg)
{
	const unsigned char *p = der;
	X509 *x;
	int ok;

	(void)cn;
	(void)s;
	(void)arg;
	if (!validated)
		return 0;
	if (depth > 0)
		return 1;
	if ((x = d2i_X509(NULL, &p, (long)len)) == NULL)
		return 0;
	ok = X509_check_purpose(x, X509_PURPOSE_SSL_SERVER, 0) == 1;
	X509_free(x);
	return ok;
}

static void
went_down(struct tfa_coap *q)
{
	int was = q->up;

	q->up = 0;
	q->chunk_token_len = 0;
	/* The session is released from tfa_coap_io, not inside libcoap's callback. */
	q->retry_at_ms = q->now_ms + RETRY_MS;
	if (was) {
		q->stats.disconnects++;
		if (q->on_conn != NULL)
			q->on_conn(q->user, 0);
	}
}

static coap_pdu_t *
request(struct tfa_coap *q, coap_pdu_type_t type, coap_pdu_code_t code, uint8_t *tok,
        size_t *toklen)
{
	coap_pdu_t *pdu = coap_new_pdu(type, code, q->session);
	uint8_t t[8];
	size_t n = 0;

	if (pdu == NULL)
		return NULL;
	coap_session_new_token(q->session, &n, t);
	coap_add_token(pdu, n, t);
	if (tok != NULL) {
		memcpy(tok, t, n);
		*toklen = n;
	}
	return pdu;
}

static int
send_pdu(struct tfa_coap *q, coap_pdu_t *pdu)
{
	if (coap_send(q->session, pdu) == COAP_INVALID_MID) {
		q->stats.send_errors++;
		return TFA_ERR_OFFLINE;
	}
	q->stats.sent++;
	return 0;
}

static void
add_dev_path(struct tfa_coap *q, coap_pdu_t *pdu, const char *leaf)
{
	coap_add_option(pdu, COAP_OPTION_URI_PATH, 3, (const uint8_t *)"dev");
	coap_add_option(pdu, COAP_OPTION_URI_PATH, strlen(q->id), (const uint8_t *)q->id);
	coap_add_option(pdu, COAP_OPTION_URI_PATH, strlen(leaf), (const uint8_t *)leaf);
}

static int
post(struct tfa_coap *q, enum tfa_chan ch, const uint8_t *buf, size_t len)
{
	int telemetry = ch == TFA_CHAN_TELEMETRY;
	coap_pdu_t *pdu;
	uint8_t cf[2];

	/* Telemetry may be lost like MQTT QoS 0 (the next record follows); the rest is
	 * confirmable, as QoS 1 over MQTT. */
	pdu = request(q, telemetry ? COAP_MESSAGE_NON : COAP_MESSAGE_CON, COAP_REQUEST_CODE_POST,
	              NULL, NULL);
	if (pdu == NULL)
		return TFA_ERR_OFFLINE;
	add_dev_path(q, pdu, chan_suffix[ch]);
	coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
	                coap_encode_var_safe(cf, sizeof(cf),
	                                     telemetry ? COAP_MEDIATYPE_APPLICATION_SENML_CBOR
	                                               : COAP_MEDIATYPE_APPLICATION_CBOR),
	                cf);
	if (!coap_add_data(pdu, len, buf)) {
		coap_delete_pdu(pdu);
		return TFP_ERR_ARG;
	}
	return send_pdu(q, pdu);
}

static int
observe_cmd(struct tfa_coap *q)
{
	coap_pdu_t *pdu = request(q, COAP_MESSAGE_CON, COAP_REQUEST_CODE_GET, q->obs_token,
	                          &q->obs_token_len);
	uint8_t v[1];

	if (pdu == NULL)
		return TFA_ERR_OFFLINE;
	coap_add_option(pdu, COAP_OPTION_OBSERVE,
	                coap_encode_var_safe(v, sizeof(v), COAP_OBSERVE_ESTABLISH), v);
	add_dev_path(q, pdu, "cmd");
	return send_pdu(q, pdu);
}

/* A chunk request as GET obj/<hex> with Block2 (see coap.h). */
static int
chunk_get(struct tfa_coap *q, const uint8_t *buf, size_t len)
{
	struct tfp_chunk_request r;
	char hex[2 * TFP_DIGEST_LEN + 1];
	unsigned bs = 1024, szx = 6;
	coap_pdu_t *pdu;
	uint8_t opt[4];

	if (tfp_chunk_request_decode(buf, len, &r) != 0)
		return TFP_ERR_ARG;
	while (bs > 16 && (r.offset % bs != 0 || bs > r.length)) {
		bs >>= 1;
		szx--;
	}
	if (r.offset % bs != 0 || (r.offset / bs) > 0xFFFFFu)
		return TFP_ERR_ARG;   /* Block2 cannot name this offset */
	for (int i = 0; i < TFP_DIGEST_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", r.object_id[i]);
	pdu = request(q, COAP_MESSAGE_CON, COAP_REQUEST_CODE_GET, q->chunk_token,
	              &q->chunk_token_len);
	if (pdu == NULL)
		return TFA_ERR_OFFLINE;
	coap_add_option(pdu, COAP_OPTION_URI_PATH, 3, (const uint8_t *)"obj");
	coap_add_option(pdu, COAP_OPTION_URI_PATH, 2 * TFP_DIGEST_LEN, (const uint8_t *)hex);
	coap_add_option(pdu, COAP_OPTION_BLOCK2,
	                coap_encode_var_safe(opt, sizeof(opt), (r.offset / bs) << 4 | szx), opt);
	memcpy(q->chunk_object, r.object_id, TFP_DIGEST_LEN);
	q->chunk_length = r.length;
	return send_pdu(q, pdu);
}

static void
deliver_chunk(struct tfa_coap *q, const coap_pdu_t *rcvd)
{
	uint8_t out[TFP_CHUNK_RESPONSE_WIRE_OVERHEAD + 1024];
	struct tfp_chunk_response p;
	coap_opt_iterator_t it;
	coap_opt_t *size2;
	coap_block_t b = { 0, 0, 0 };
	const uint8_t *data = NULL;
	size_t n = 0, len;
	uint64_t off;

	(void)coap_get_data(rcvd, &n, &data);
	if (coap_get_block(rcvd, COAP_OPTION_BLOCK2, &b))
		off = (uint64_t)b.num << (b.szx + 4);
	else
		off = 0;
	if (n > q->chunk_length)
		n = q->chunk_length;
	if (n > 1024 || off > UINT32_MAX)
		return;
	memset(&p, 0, sizeof(p));
	memcpy(p.object_id, q->chunk_object, TFP_DIGEST_LEN);
	p.offset = (uint32_t)off;
	p.data = data;
	p.len = n;
	if ((size2 = coap_check_option(rcvd, COAP_OPTION_SIZE2, &it)) != NULL)
		p.total = coap_decode_var_bytes(coap_opt_value(size2), coap_opt_length(size2));
	else
		p.total = (uint32_t)(off + n);
	if (tfp_chunk_response_encode(&p, out, sizeof(out), &len) != 0)
		return;   /* inconsistent answer: the core's stall timer asks again */
	q->stats.blocks++;
	if (q->on_msg != NULL)
		q->on_msg(q->user, TFA_CHAN_CHUNK_RESP, out, len);
}

static int
token_is(coap_bin_const_t t, const uint8_t *tok, size_t len)
{
	return len > 0 && t.length == len && memcmp(t.s, tok, len) == 0;
}

static coap_response_t
on_response(coap_session_t *s, const coap_pdu_t *sent, const coap_pdu_t *rcvd,
            const coap_mid_t mid)
{
	struct tfa_coap *q = coap_session_get_app_data(s);
	coap_bin_const_t tok = coap_pdu_get_token(rcvd);
	coap_pdu_code_t code = coap_pdu_get_code(rcvd);
	const uint8_t *data = NULL;
	size_t n = 0;

	(void)sent;
	(void)mid;
	if (q == NULL)
		return COAP_RESPONSE_OK;
	if (COAP_RESPONSE_CLASS(code) >= 4)
		q->stats.errors++;
	if (token_is(tok, q->obs_token, q->obs_token_len)) {
		if (code == COAP_RESPONSE_CODE_CONTENT && coap_get_data(rcvd, &n, &data) && n > 0) {
			q->stats.commands++;
			if (q->on_msg != NULL)
				q->on_msg(q->user, TFA_CHAN_CMD, data, n);
		}
	} else if (token_is(tok, q->chunk_token, q->chunk_token_len)) {
		q->chunk_token_len = 0;
		if (code == COAP_RESPONSE_CODE_CONTENT)
			deliver_chunk(q, rcvd);
	}
	return COAP_RESPONSE_OK;
}

/* A confirmable message (request or ping) that got no answer: the gateway lost the
 * session or is gone; start over. */
static void
on_nack(coap_session_t *s, const coap_pdu_t *sent, const coap_nack_reason_t reason,
        const coap_mid_t mid)
{
	struct tfa_coap *q = coap_session_get_app_data(s);

	(void)sent;
	(void)mid;
	if (q == NULL || s != q->session)
		return;
	if (reason == COAP_NACK_TOO_MANY_RETRIES || reason == COAP_NACK_NOT_DELIVERABLE ||
	    reason == COAP_NACK_TLS_FAILED)
		went_down(q);
}

static int
on_event(coap_session_t *s, const coap_event_t ev)
{
	struct tfa_coap *q = coap_session_get_app_data(s);
	const uint8_t online = CONN_ONLINE;

	if (q == NULL || s != q->session)
		return 0;
	switch (ev) {
	case COAP_EVENT_DTLS_CONNECTED:
		q->up = 1;
		q->retry_at_ms = 0;
		q->stats.connects++;
		if (observe_cmd(q) != 0 || post(q, TFA_CHAN_CONN, &online, 1) != 0) {
			went_down(q);
			break;
		}
		if (q->on_conn != NULL)
			q->on_conn(q->user, 1);
		break;
	case COAP_EVENT_DTLS_CLOSED:
	case COAP_EVENT_DTLS_ERROR:
	case COAP_EVENT_SESSION_CLOSED:
	case COAP_EVENT_SESSION_FAILED:
		went_down(q);
		break;
	default:
		break;
	}
	return 0;
}

static void
start_session(struct tfa_coap *q)
{
	coap_address_t *a = (coap_address_t *)(void *)q->server;

	if (q->psk_len > 0) {
		coap_dtls_cpsk_t c;
		memset(&c, 0, sizeof(c));
		c.version = COAP_DTLS_CPSK_SETUP_VERSION;
		c.psk_info.identity.s = (const uint8_t *)q->id;
		c.psk_info.identity.length = strlen(q->id);
		c.psk_info.key.s = q->psk;
		c.psk_info.key.length = q->psk_len;
		q->session = coap_new_client_session_psk2(q->ctx, NULL, a, COAP_PROTO_DTLS, &c);
	} else {
		coap_dtls_pki_t pki;
		memset(&pki, 0, sizeof(pki));
		pki.version = COAP_DTLS_PKI_SETUP_VERSION;
		pki.verify_peer_cert = 1;
		pki.check_common_ca = 1;
		pki.cert_chain_validation = 1;
		pki.cert_chain_verify_depth = 2;
		pki.validate_cn_call_back = check_server;
		pki.pki_key.key_type = COAP_PKI_KEY_PEM;
		pki.pki_key.key.pem.ca_file = q->ca;
		pki.pki_key.key.pem.public_cert = q->cert;
		pki.pki_key.key.pem.private_key = q->key;
		q->session = coap_new_client_session_pki(q->ctx, NULL, a, COAP_PROTO_DTLS, &pki);
	}
	q->retry_at_ms = q->now_ms + (q->session != NULL ? HANDSHAKE_MS : RETRY_MS);
	if (q->session != NULL)
		coap_session_set_app_data(q->session, q);
}

static int
parse_hex(const char *hex, uint8_t *out, size_t cap, size_t *len)
{
	size_t n = strlen(hex);

	if (n == 0 || n % 2 != 0 || n / 2 > cap)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	*len = n / 2;
	return 0;
}

int
tfa_coap_init(struct tfa_coap *q, const struct tfa_coap_opts *o, tfa_coap_msg_fn on_msg,
              tfa_coap_conn_fn on_conn, void *user)
{
	coap_address_t *a;
	struct addrinfo hints, *res = NULL;
	char port[16];

	if (q == NULL || o == NULL || o->host == NULL || o->device_id == NULL ||
	    strlen(o->device_id) > TFP_DEVICE_ID_MAX || o->port <= 0 || o->port > 65535)
		return TFP_ERR_ARG;
	memset(q, 0, sizeof(*q));
	snprintf(q->id, sizeof(q->id), "%s", o->device_id);
	q->on_msg = on_msg;
	q->on_conn = on_conn;
	q->user = user;
	if (o->psk_key != NULL) {
		if (parse_hex(o->psk_key, q->psk, sizeof(q->psk), &q->psk_len) != 0)
			return TFP_ERR_ARG;
	} else if (o->cafile == NULL || o->certfile == NULL || o->keyfile == NULL ||
	           snprintf(q->ca, sizeof(q->ca), "%s", o->cafile) >= (int)sizeof(q->ca) ||
	           snprintf(q->cert, sizeof(q->cert), "%s", o->certfile) >= (int)sizeof(q->cert) ||
	           snprintf(q->key, sizeof(q->key), "%s", o->keyfile) >= (int)sizeof(q->key)) {
		return TFP_ERR_ARG;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%d", o->port);
	if (getaddrinfo(o->host, port, &hints, &res) != 0 || res == NULL)
		return TFP_ERR_ARG;
	a = (coap_address_t *)(void *)q->server;
	coap_address_init(a);
	a->size = (socklen_t)res->ai_addrlen;
	memcpy(&a->addr.sa, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);

	coap_startup();
	if (!coap_dtls_is_supported() || (q->ctx = coap_new_context(NULL)) == NULL)
		return TFA_ERR_OFFLINE;
	coap_register_response_handler(q->ctx, on_response);
	coap_register_event_handler(q->ctx, on_event);
	coap_register_nack_handler(q->ctx, on_nack);
	coap_context_set_keepalive(q->ctx, o->keepalive_s > 0 ? (unsigned)o->keepalive_s : 25u);
	start_session(q);
	return 0;
}

int
tfa_coap_send(struct tfa_coap *q, enum tfa_chan ch, const uint8_t *buf, size_t len)
{
	if (q == NULL || q->ctx == NULL || !q->up)
		return TFA_ERR_OFFLINE;
	switch (ch) {
	case TFA_CHAN_STATE:
	case TFA_CHAN_CONN:
	case TFA_CHAN_TELEMETRY:
	case TFA_CHAN_REPORT:
		return post(q, ch, buf, len);
	case TFA_CHAN_CHUNK_REQ:
		return chunk_get(q, buf, len);
	default:
		return TFP_ERR_ARG;
	}
}

int
tfa_coap_fd(const struct tfa_coap *q)
{
	return q != NULL && q->ctx != NULL ? coap_context_get_coap_fd(q->ctx) : -1;
}

short
tfa_coap_events(const struct tfa_coap *q)
{
	return tfa_coap_fd(q) >= 0 ? POLLIN : 0;
}

void
tfa_coap_io(struct tfa_coap *q, short revents, uint64_t now_ms)
{
	(void)revents;   /* libcoap's own epoll says what is ready */
	if (q == NULL || q->ctx == NULL)
		return;
	q->now_ms = now_ms;
	coap_io_process(q->ctx, COAP_IO_NO_WAIT);
	/* A failed session, or a handshake that never finished: start over. */
	if (!q->up && q->retry_at_ms != 0 && now_ms >= q->retry_at_ms) {
		if (q->session != NULL) {
			coap_session_set_app_data(q->session, NULL);
			coap_session_release(q->session);
			q->session = NULL;
		}
		start_session(q);
	}
}

void
tfa_coap_close(struct tfa_coap *q)
{
	const uint8_t bye = CONN_BYE;

	if (q == NULL || q->ctx == NULL)
		return;
	if (q->up && post(q, TFA_CHAN_CONN, &bye, 1) == 0) {
		/* Give the goodbye a moment to leave; it is confirmable, but nobody waits. */
		for (int i = 0; i < 20; i++)
			coap_io_process(q->ctx, 5);
	}
	if (q->session != NULL) {
		coap_session_set_app_data(q->session, NULL);
		coap_session_release(q->session);
	}
	coap_free_context(q->ctx);
	q->ctx = NULL;
	q->session = NULL;
	q->up = 0;
}
