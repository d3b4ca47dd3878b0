/*
 * The CoAP/DTLS device endpoint on libcoap, driven by the libuv loop. See coap.h.
 */
#include "coap.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <coap3/coap.h>

#include "coap_path.h"
#include "log.h"

/* Per-session state, hung on the libcoap session (app data); freed when libcoap deletes
 * the session (COAP_EVENT_SERVER_SESSION_DEL) or with the context. */
struct gw_coap_peer {
	struct gw_coap_peer *next, *prev;
	coap_session_t *session;
	char id[TFP_DEVICE_ID_MAX + 1];   /* "" until the handshake proved an identity */
};

/* One device that spoke CoAP: its observable command resource and its request budget. */
struct gw_coap_dev {
	char id[TFP_DEVICE_ID_MAX + 1];
	coap_resource_t *cmd;
	uint8_t *pending;                 /* undelivered command (malloc), or NULL */
	size_t pending_len;
	int home;                         /* its latest message came over CoAP */
	double tokens;
	uint64_t refilled_ms;
};

struct gw_coap_psk {
	char id[TFP_DEVICE_ID_MAX + 1];
	uint8_t key[64];
	coap_bin_const_t bin;
};

/* libcoap 4.3.1 has no context user data and calls its event handler with the session
 * only: the one endpoint of the process is found here. */
static struct gw_coap *the_coap;

/* ---- helpers ------------------------------------------------------------------------ */

static int
valid_device_id(const char *s, size_t n)
{
	if (n == 0 || n > TFP_DEVICE_ID_MAX)
		return 0;
	/* Role names share the fleet CA but are not devices (deploy/pki.sh). */
	if (n >= 3 && (memcmp(s, "gw-", 3) == 0 || memcmp(s, "op-", 3) == 0))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return 0;
	}
	return !(n == 1 && s[0] == '.') && !(n == 2 && s[0] == '.' && s[1] == '.');
}

static struct gw_coap_peer *
peer_of(struct gw_coap *c, coap_session_t *s)
{
	struct gw_coap_peer *p = coap_session_get_app_data(s);

	if (p != NULL || (p = calloc(1, sizeof(*p))) == NULL)
		return p;
	p->session = s;
	p->next = c->peers;
	if (c->peers != NULL)
		c->peers->prev = p;
	c->peers = p;
	coap_session_set_app_data(s, p);
	return p;
}

static void
peer_free(struct gw_coap *c, struct gw_coap_peer *p)
{
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		c->peers = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	coap_session_set_app_data(p->session, NULL);
	free(p);
}

static void
set_code(coap_pdu_t *resp, int code, const char *diag)
{
	coap_pdu_set_code(resp, (coap_pdu_code_t)COAP_RESPONSE_CODE(code));
	if (diag != NULL)
		coap_add_data(resp, strlen(diag), (const uint8_t *)diag);
}

static void
add_uint_option(coap_pdu_t *pdu, coap_option_num_t num, unsigned v)
{
	uint8_t buf[4];
	coap_add_option(pdu, num, coap_encode_var_safe(buf, sizeof(buf), v), buf);
}

static int
uint_option(const coap_pdu_t *pdu, coap_option_num_t num, unsigned *v)
{
	coap_opt_iterator_t it;
	coap_opt_t *o = coap_check_option(pdu, num, &it);

	if (o == NULL)
		return 0;
	*v = coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o));
	return 1;
}

static void schedule(struct gw_coap *c, unsigned ms);

/* ---- devices ------------------------------------------------------------------------ */

static void on_cmd_get(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                       const coap_string_t *query, coap_pdu_t *resp);

/* The device's entry, created with its observable dev/<id>/cmd resource on first use. */
static struct gw_coap_dev *
device(struct gw_coap *c, const char *id)
{
	struct gw_coap_dev *d = gw_devtab_get(&c->devices, id);
	char path[TFP_DEVICE_ID_MAX + 16];
	coap_str_const_t *uri;
	int n;

	if (d != NULL || (d = calloc(1, sizeof(*d))) == NULL)
		return d;
	snprintf(d->id, sizeof(d->id), "%s", id);
	n = snprintf(path, sizeof(path), "dev/%s/cmd", id);
	uri = coap_new_str_const((const uint8_t *)path, (size_t)n);
	d->cmd = uri != NULL ? coap_resource_init(uri, COAP_RESOURCE_FLAGS_RELEASE_URI |
	                                                       COAP_RESOURCE_FLAGS_NOTIFY_CON)
	                     : NULL;
	if (d->cmd == NULL) {
		coap_delete_str_const(uri);
		free(d);
		return NULL;
	}
	coap_register_handler(d->cmd, COAP_REQUEST_GET, on_cmd_get);
	coap_resource_set_get_observable(d->cmd, 1);
	coap_resource_set_userdata(d->cmd, d);
	coap_add_resource(c->ctx, d->cmd);
	if (gw_devtab_add(&c->devices, d) != 0) {
		coap_delete_resource(c->ctx, d->cmd);
		free(d);
		return NULL;
	}
	d->tokens = (double)c->cfg.device_rate;
	d->refilled_ms = uv_now(c->loop);
	return d;
}

/* Whether the device may make another request now (token bucket, one second of burst). */
static int
take_token(struct gw_coap *c, struct gw_coap_dev *d)
{
	uint64_t now = uv_now(c->loop);
	double rate = (double)c->cfg.device_rate;

	if (c->cfg.device_rate == 0)
		return 1;
	d->tokens += (double)(now - d->refilled_ms) * rate / 1000.0;
	if (d->tokens > rate)
		d->tokens = rate;
	d->refilled_ms = now;
	if (d->tokens < 1.0)
		return 0;
	d->tokens -= 1.0;
	return 1;
}

/* ---- handlers ----------------------------------------------------------------------- */

static void
on_cmd_get(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
           const coap_string_t *query, coap_pdu_t *resp)
{
	struct gw_coap_dev *d = coap_resource_get_userdata(r);
	struct gw_coap_peer *p = coap_session_get_app_data(s);
	struct gw_coap *c = the_coap;

	(void)req;
	(void)query;
	if (p == NULL || p->id[0] == '\0') {
		c->stats.forbidden++;
		set_code(resp, 401, "no device identity");
		return;
	}
	if (strcmp(p->id, d->id) != 0) {
		c->stats.forbidden++;
		set_code(resp, 403, "not your device");
		return;
	}
	/* Also called for each notification: no rate limit here, and a command leaves the
	 * queue only when it goes to its own device. */
	coap_pdu_set_code(resp, COAP_RESPONSE_CODE_CONTENT);
	add_uint_option(resp, COAP_OPTION_CONTENT_FORMAT, COAP_MEDIATYPE_APPLICATION_CBOR);
	if (d->pending != NULL) {
		coap_add_data(resp, d->pending_len, d->pending);
		free(d->pending);
		d->pending = NULL;
		d->pending_len = 0;
		c->stats.commands_sent++;
	}
}

static void
serve_object(struct gw_coap *c, const coap_pdu_t *req, coap_pdu_t *resp,
             const uint8_t digest[TFP_DIGEST_LEN])
{
	unsigned szx_max = 0, num = 0, szx;
	coap_block_t b;
	struct gw_txn t;
	const void *obj;
	size_t len, off, n;
	uint8_t opt[4];

	while ((16u << (szx_max + 1)) <= c->cfg.block_size && szx_max < 6)
		szx_max++;
	szx = szx_max;
	if (coap_get_block(req, COAP_OPTION_BLOCK2, &b)) {
		/* A client asking for larger blocks than ours gets ours (RFC 7959 2.4), at the
		 * same offset. */
		off = (size_t)b.num << (b.szx + 4);
		szx = b.szx < szx_max ? b.szx : szx_max;
		num = (unsigned)(off >> (szx + 4));
	}
	if (gw_store_begin_read(c->store, &t) != 0) {
		set_code(resp, 500, "store unavailable");
		return;
	}
	if (gw_store_get_blob(&t, digest, &obj, &len) != 0) {
		gw_store_abort(&t);
		c->stats.not_found++;
		set_code(resp, 404, "no such object");
		return;
	}
	off = (size_t)num << (szx + 4);
	if (off > len || (off == len && len > 0) || num > 0xFFFFFu) {
		gw_store_abort(&t);
		set_code(resp, 402, "block past the end");
		return;
	}
	n = len - off < (16u << szx) ? len - off : (16u << szx);
	coap_pdu_set_code(resp, COAP_RESPONSE_CODE_CONTENT);
	/* ETag is at most 8 bytes (RFC 7252 5.10.6): the digest's first 8 name the object. */
	coap_add_option(resp, COAP_OPTION_ETAG, 8, digest);
	add_uint_option(resp, COAP_OPTION_CONTENT_FORMAT, COAP_MEDIATYPE_APPLICATION_OCTET_STREAM);
	coap_add_option(resp, COAP_OPTION_BLOCK2,
	                coap_encode_var_safe(opt, sizeof(opt),
	                                     (num << 4) | ((off + n < len) ? 8u : 0u) | szx),
	                opt);
	add_uint_option(resp, COAP_OPTION_SIZE2, (unsigned)len);
	coap_add_data(resp, n, (const uint8_t *)obj + off);   /* copies */
	gw_store_abort(&t);
	c->stats.blocks++;
	c->stats.block_bytes += n;
}

static void
handle_post(struct gw_coap *c, struct gw_coap_dev *d, const struct gw_coap_path *path,
            const coap_pdu_t *req, coap_pdu_t *resp)
{
	coap_opt_iterator_t it;
	unsigned cf;
	const uint8_t *data = NULL;
	size_t len = 0;
	int rc;

	if (uint_option(req, COAP_OPTION_CONTENT_FORMAT, &cf) &&
	    cf != COAP_MEDIATYPE_APPLICATION_CBOR &&
	    !(path->res == GW_COAP_RES_TELEMETRY && cf == COAP_MEDIATYPE_APPLICATION_SENML_CBOR)) {
		c->stats.refused++;
		set_code(resp, 415, path->res == GW_COAP_RES_TELEMETRY ?
		                            "use application/senml+cbor (112) or application/cbor (60)" :
		                            "use application/cbor (60)");
		return;
	}
	if (coap_check_option(req, COAP_OPTION_BLOCK1, &it) != NULL) {
		c->stats.refused++;
		set_code(resp, 413, "device messages fit one datagram");
		return;
	}
	if (!coap_get_data(req, &len, &data) || len == 0) {
		c->stats.refused++;
		set_code(resp, 400, "empty payload");
		return;
	}
	rc = c->on_message(c->arg, d->id, gw_coap_res_name(path->res), data, len);
	if (rc == 0) {
		c->stats.accepted++;
		set_code(resp, 204, NULL);
	} else if (rc == -EPERM) {
		c->stats.forbidden++;
		set_code(resp, 403, "payload names another device");
	} else if (rc == -EBADMSG || rc == -EINVAL) {
		c->stats.refused++;
		set_code(resp, 400, "payload refused by the decoder");
	} else {
		set_code(resp, 500, strerror(-rc));
	}
}

/* Everything but dev/<id>/cmd of a known device lands here (libcoap's unknown resource). */
static void
on_request(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
           const coap_string_t *query, coap_pdu_t *resp)
{
	struct gw_coap *c = coap_resource_get_userdata(r);
	struct gw_coap_peer *p = coap_session_get_app_data(s);
	coap_pdu_code_t method = coap_pdu_get_code(req);
	struct gw_coap_path path;
	struct gw_coap_dev *d;
	coap_string_t *uri;
	int rc;

	(void)query;
	c->stats.requests++;
	if (p == NULL || p->id[0] == '\0') {
		c->stats.forbidden++;
		set_code(resp, 401, "no device identity");
		return;
	}
	uri = coap_get_uri_path(req);
	rc = uri != NULL ? gw_coap_path_parse((const char *)uri->s, uri->length, &path) : -EINVAL;
	coap_delete_string(uri);
	if (rc != 0) {
		c->stats.not_found++;
		set_code(resp, 404, "no such resource");
		return;
	}
	if (path.res != GW_COAP_RES_OBJECT && strcmp(path.device_id, p->id) != 0) {
		c->stats.forbidden++;
		log_info("coap: %s tried %s's %s; refused", p->id, path.device_id,
		         gw_coap_res_name(path.res));
		set_code(resp, 403, "not your device");
		return;
	}
	if ((d = device(c, p->id)) == NULL) {
		set_code(resp, 500, "out of memory");
		return;
	}
	d->home = 1;
	if (!take_token(c, d)) {
		c->stats.rate_limited++;
		add_uint_option(resp, COAP_OPTION_MAXAGE, 1);
		set_code(resp, 429, "too many requests");
		return;
	}
	if (path.res == GW_COAP_RES_OBJECT) {
		if (method != COAP_REQUEST_CODE_GET) {
			set_code(resp, 405, "GET only");
			return;
		}
		serve_object(c, req, resp, path.object_id);
		return;
	}
	if (path.res == GW_COAP_RES_CMD) {
		/* Only before its resource existed (created just now): a plain answer; the
		 * device's next GET with Observe registers on the real resource. */
		if (method != COAP_REQUEST_CODE_GET) {
			set_code(resp, 405, "GET only");
			return;
		}
		on_cmd_get(d->cmd, s, req, query, resp);
		return;
	}
	if (method != COAP_REQUEST_CODE_POST) {
		set_code(resp, 405, "POST only");
		return;
	}
	handle_post(c, d, &path, req, resp);
}

/* ---- identities --------------------------------------------------------------------- */

static int
on_cn(const char *cn, const uint8_t *cert, size_t certlen, coap_session_t *s, unsigned depth,
      int validated, void *arg)
{
	struct gw_coap *c = arg;
	struct gw_coap_peer *p;

	(void)cert;
	(void)certlen;
	if (!validated) {
		c->stats.identities_refused++;
		return 0;
	}
	if (depth > 0)
		return 1;   /* the CA */
	if (cn == NULL || !valid_device_id(cn, strlen(cn)) || (p = peer_of(c, s)) == NULL) {
		c->stats.identities_refused++;
		log_info("coap: certificate CN '%s' is not a device id; refused", cn ? cn : "");
		return 0;
	}
	snprintf(p->id, sizeof(p->id), "%s", cn);
	return 1;
}

static const coap_bin_const_t *
on_psk_identity(coap_bin_const_t *identity, coap_session_t *s, void *arg)
{
	struct gw_coap *c = arg;
	struct gw_coap_peer *p;

	for (size_t i = 0; identity != NULL && i < c->npsks; i++) {
		struct gw_coap_psk *k = &c->psks[i];
		if (strlen(k->id) == identity->length &&
		    memcmp(k->id, identity->s, identity->length) == 0 &&
		    (p = peer_of(c, s)) != NULL) {
			snprintf(p->id, sizeof(p->id), "%s", k->id);
			return &k->bin;
		}
	}
	c->stats.identities_refused++;
	return NULL;
}

static int
on_event(coap_session_t *s, const coap_event_t ev)
{
	struct gw_coap *c = the_coap;
	struct gw_coap_peer *p;

	if (c == NULL)
		return 0;
	switch (ev) {
	case COAP_EVENT_SERVER_SESSION_NEW:
		c->stats.sessions_new++;
		break;
	case COAP_EVENT_SERVER_SESSION_DEL:
		c->stats.sessions_del++;
		if ((p = coap_session_get_app_data(s)) != NULL)
			peer_free(c, p);
		break;
	case COAP_EVENT_DTLS_CONNECTED:
		p = coap_session_get_app_data(s);
		if (coap_session_get_type(s) == COAP_SESSION_TYPE_SERVER && p != NULL &&
		    p->id[0] != '\0') {
			c->stats.handshakes_ok++;
			/* One session per device: an older one (the device rebooted, or its
			 * address changed) is disconnected with its observation. An observation
			 * holds its session, which the idle timeout then never frees; this keeps
			 * those sessions bounded by the number of devices. The old session loses
			 * its identity, so anything still arriving on it gets 4.01. */
			for (struct gw_coap_peer *o = c->peers; o != NULL; o = o->next) {
				if (o != p && strcmp(o->id, p->id) == 0) {
					o->id[0] = '\0';
					c->stats.sessions_replaced++;
					coap_session_disconnected(o->session, COAP_NACK_NOT_DELIVERABLE);
				}
			}
			/* Create dev/<id>/cmd now, so that the device's first GET can observe it. */
			(void)device(c, p->id);
		}
		break;
	default:
		break;
	}
	return 0;
}

/* ---- the loop ----------------------------------------------------------------------- */

static void
on_timer(uv_timer_t *h)
{
	struct gw_coap *c = h->data;
	coap_tick_t now;
	unsigned ms;

	if (!c->started)
		return;
	/* Sends due retransmissions and notifications, expires idle sessions, and tells when
	 * it wants to run next. */
	coap_io_process(c->ctx, COAP_IO_NO_WAIT);
	coap_ticks(&now);
	ms = coap_io_prepare_epoll(c->ctx, now);
	schedule(c, ms == 0 || ms > 1000 ? 1000 : ms);
}

static void
schedule(struct gw_coap *c, unsigned ms)
{
	uv_timer_start(&c->timer, on_timer, ms, 0);
}

static void
on_poll(uv_poll_t *h, int status, int events)
{
	struct gw_coap *c = h->data;

	(void)status;
	(void)events;
	on_timer(&c->timer);
}

static void
on_coap_log(coap_log_t level, const char *msg)
{
	size_t n = strlen(msg);

	(void)level;
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		n--;
	/* libcoap's own lines (handshake failures and the like) are for debugging: a flood
	 * of bad handshakes must not flood the journal. */
	log_debug("coap: libcoap: %.*s", (int)n, msg);
}

/* ---- setup -------------------------------------------------------------------------- */

static int
parse_listen(const char *s, coap_address_t *a)
{
	char host[64];
	const char *colon = strrchr(s, ':'), *h = s;
	size_t hl;
	struct addrinfo hints, *res = NULL;
	int rc;

	if (colon == NULL || colon == s)
		return -EINVAL;
	hl = (size_t)(colon - s);
	if (s[0] == '[' && colon[-1] == ']') {
		h = s + 1;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, colon + 1, &hints, &res)) != 0 || res == NULL)
		return -EINVAL;
	coap_address_init(a);
	a->size = (socklen_t)res->ai_addrlen;
	memcpy(&a->addr.sa, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* "<device-id> <hex key>" per line; '#' comments. */
static int
load_psks(struct gw_coap *c, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int ln = 0, rc = 0;

	if (f == NULL) {
		log_warn("coap: psk_file %s", path);
		return -EINVAL;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char id[128], hex[256];
		struct gw_coap_psk *k, *grown;
		size_t hl;

		ln++;
		if (line[0] == '#' || strspn(line, " \t\r\n") == strlen(line))
			continue;
		if (sscanf(line, "%127s %255s", id, hex) != 2 || !valid_device_id(id, strlen(id)) ||
		    (hl = strlen(hex)) < 2 || hl % 2 != 0 || hl / 2 > sizeof(k->key)) {
			log_warnx("%s:%d: expected '<device-id> <hex key of 1..64 bytes>'", path, ln);
			rc = -EINVAL;
			break;
		}
		if ((grown = realloc(c->psks, (c->npsks + 1) * sizeof(*c->psks))) == NULL) {
			rc = -ENOMEM;
			break;
		}
		c->psks = grown;
		k = &c->psks[c->npsks];
		memset(k, 0, sizeof(*k));
		memcpy(k->id, id, strlen(id) + 1);   /* valid_device_id: at most 64 */
		for (size_t i = 0; i < hl / 2; i++) {
			int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
			if (hi < 0 || lo < 0) {
				log_warnx("%s:%d: key is not hex", path, ln);
				rc = -EINVAL;
				goto out;
			}
			k->key[i] = (uint8_t)(hi << 4 | lo);
		}
		k->bin.length = hl / 2;
		c->npsks++;
	}
out:
	fclose(f);
	/* Pointers into the array are taken only now that it stopped moving. */
	for (size_t i = 0; i < c->npsks; i++)
		c->psks[i].bin.s = c->psks[i].key;
	return rc;
}

/* The copies of the configuration gw_coap_start keeps (files, PSK table). */
static void
free_config_copies(struct gw_coap *c)
{
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
	free(c->psks);
	c->ca_file = c->cert_file = c->key_file = NULL;
	c->psks = NULL;
}

int
gw_coap_start(struct gw_coap *c, uv_loop_t *loop, struct gw_store *store,
              const struct gw_coap_config *cfg, gw_coap_message_fn on_message, void *arg)
{
	coap_address_t addr;
	coap_dtls_pki_t pki;
	coap_dtls_spsk_t spsk;
	coap_resource_t *unknown;
	int rc = -EIO, fd;

	memset(c, 0, sizeof(*c));
	c->loop = loop;
	c->store = store;
	c->cfg = *cfg;
	c->on_message = on_message;
	c->arg = arg;
	gw_devtab_init(&c->devices, offsetof(struct gw_coap_dev, id));
	if (c->cfg.max_sessions == 0)
		c->cfg.max_sessions = 1024;
	if (c->cfg.max_handshakes == 0)
		c->cfg.max_handshakes = 64;
	if (c->cfg.session_timeout_s == 0)
		c->cfg.session_timeout_s = 60;
	if (c->cfg.block_size == 0)
		c->cfg.block_size = 1024;
	if (c->cfg.block_size < 16 || c->cfg.block_size > 1024 ||
	    (c->cfg.block_size & (c->cfg.block_size - 1)) != 0 || cfg->listen == NULL ||
	    parse_listen(cfg->listen, &addr) != 0) {
		log_warnx("coap: bad listen address or block size");
		return -EINVAL;
	}
	if (cfg->psk_file != NULL && cfg->psk_file[0] != '\0' &&
	    (rc = load_psks(c, cfg->psk_file)) != 0) {
		free(c->psks);
		c->psks = NULL;
		return rc;
	}
	c->ca_file = strdup(cfg->ca_file);
	c->cert_file = strdup(cfg->cert_file);
	c->key_file = strdup(cfg->key_file);
	if (c->ca_file == NULL || c->cert_file == NULL || c->key_file == NULL) {
		rc = -ENOMEM;
		goto fail;
	}

	coap_startup();
	coap_set_log_handler(on_coap_log);
	coap_set_log_level(LOG_WARNING);
	coap_dtls_set_log_level(LOG_WARNING);
	if ((c->ctx = coap_new_context(NULL)) == NULL)
		goto fail;
	the_coap = c;

	memset(&pki, 0, sizeof(pki));
	pki.version = COAP_DTLS_PKI_SETUP_VERSION;
	pki.verify_peer_cert = 1;         /* mutual authentication: no certificate, no session */
	pki.check_common_ca = 1;          /* issued by the fleet CA that issued ours */
	pki.allow_self_signed = 0;
	pki.allow_expired_certs = 0;
	pki.cert_chain_validation = 1;
	pki.cert_chain_verify_depth = 2;
	pki.validate_cn_call_back = on_cn;
	pki.cn_call_back_arg = c;
	pki.pki_key.key_type = COAP_PKI_KEY_PEM;
	pki.pki_key.key.pem.ca_file = c->ca_file;
	pki.pki_key.key.pem.public_cert = c->cert_file;
	pki.pki_key.key.pem.private_key = c->key_file;
	if (!coap_context_set_pki(c->ctx, &pki)) {
		log_warnx("coap: libcoap refused %s / %s / %s", c->ca_file, c->cert_file,
		          c->key_file);
		goto fail;
	}
	if (c->npsks > 0) {
		memset(&spsk, 0, sizeof(spsk));
		spsk.version = COAP_DTLS_SPSK_SETUP_VERSION;
		spsk.validate_id_call_back = on_psk_identity;
		spsk.id_call_back_arg = c;
		spsk.psk_info.hint.s = (const uint8_t *)"tinyfleet";
		spsk.psk_info.hint.length = 9;
		if (!coap_context_set_psk2(c->ctx, &spsk)) {
			log_warnx("coap: libcoap refused the PSK setup");
			goto fail;
		}
	}
	coap_context_set_max_idle_sessions(c->ctx, c->cfg.max_sessions);
	coap_context_set_max_handshake_sessions(c->ctx, c->cfg.max_handshakes);
	coap_context_set_session_timeout(c->ctx, c->cfg.session_timeout_s);
	coap_register_event_handler(c->ctx, on_event);

	unknown = coap_resource_unknown_init(on_request);
	coap_register_handler(unknown, COAP_REQUEST_GET, on_request);
	coap_register_handler(unknown, COAP_REQUEST_POST, on_request);
	coap_resource_set_userdata(unknown, c);
	coap_add_resource(c->ctx, unknown);

	if (coap_new_endpoint(c->ctx, &addr, COAP_PROTO_DTLS) == NULL) {
		log_warnx("coap: cannot listen on %s", cfg->listen);
		goto fail;
	}
	if ((fd = coap_context_get_coap_fd(c->ctx)) < 0) {
		log_warnx("coap: libcoap was built without epoll; cannot share the loop");
		goto fail;
	}
	uv_poll_init(loop, &c->poll, fd);
	c->poll.data = c;
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	uv_poll_start(&c->poll, UV_READABLE, on_poll);
	c->started = 1;
	schedule(c, 0);
	log_notice("coap: listening on %s (DTLS, %zu PSK identities)", cfg->listen, c->npsks);
	return 0;
fail:
	if (c->ctx != NULL)
		coap_free_context(c->ctx);
	c->ctx = NULL;
	the_coap = NULL;
	free_config_copies(c);
	return rc;
}

int
gw_coap_send_command(struct gw_coap *c, const char *device_id, const uint8_t *buf, size_t len)
{
	struct gw_coap_dev *d;
	uint8_t *copy;

	if (c == NULL || !c->started || device_id == NULL || buf == NULL || len == 0)
		return -EINVAL;
	if ((d = gw_devtab_get(&c->devices, device_id)) == NULL)
		return -ENOENT;
	if ((copy = malloc(len)) == NULL)
		return -ENOMEM;
	memcpy(copy, buf, len);
	free(d->pending);
	d->pending = copy;
	d->pending_len = len;
	coap_resource_notify_observers(d->cmd, NULL);
	schedule(c, 0);   /* libcoap sends notifications from its I/O pass */
	return 0;
}

int
gw_coap_is_home(const struct gw_coap *c, const char *device_id)
{
	const struct gw_coap_dev *d;

	if (c == NULL || !c->started || device_id == NULL)
		return 0;
	d = gw_devtab_get(&c->devices, device_id);
	return d != NULL && d->home;
}

void
gw_coap_away(struct gw_coap *c, const char *device_id)
{
	struct gw_coap_dev *d;

	if (c != NULL && c->started && (d = gw_devtab_get(&c->devices, device_id)) != NULL)
		d->home = 0;
}

unsigned
gw_coap_sessions(const struct gw_coap *c)
{
	return (unsigned)(c->stats.sessions_new - c->stats.sessions_del);
}

static void
free_dev(void *arg, void *entry)
{
	struct gw_coap_dev *d = entry;

	(void)arg;
	free(d->pending);
	free(d);   /* its resource went with the context */
}

void
gw_coap_close(struct gw_coap *c)
{
	if (c == NULL || !c->started)
		return;
	c->started = 0;
	uv_poll_stop(&c->poll);
	uv_close((uv_handle_t *)&c->poll, NULL);
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, NULL);
	/* Frees every session (their peers through the event handler) and resource. */
	coap_free_context(c->ctx);
	c->ctx = NULL;
	while (c->peers != NULL) {
		struct gw_coap_peer *p = c->peers;
		c->peers = p->next;
		free(p);
	}
	gw_devtab_each(&c->devices, free_dev, NULL);
	gw_devtab_free(&c->devices);
	if (the_coap == c)
		the_coap = NULL;
	free_config_copies(c);
	c->npsks = 0;
	log_notice("coap: closed");
}
