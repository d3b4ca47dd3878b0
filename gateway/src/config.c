#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { STR, SITE, LEVEL, U32, U64, DRIFT_ACTION };

struct key {
	const char *name;
	enum kind kind;
	size_t offset;
	size_t size;         /* STR: buffer size */
	uint64_t min, max;   /* numbers */
};

#define S(n, f) { n, STR, offsetof(struct gw_config, f), sizeof(((struct gw_config *)0)->f), 0, 0 }
#define N32(n, f, lo, hi) { n, U32, offsetof(struct gw_config, f), 0, lo, hi }
#define N64(n, f, lo, hi) { n, U64, offsetof(struct gw_config, f), 0, lo, hi }

static const struct key keys[] = {
	{ "site", SITE, offsetof(struct gw_config, site), sizeof(((struct gw_config *)0)->site), 0, 0 },
	S("state_dir", state_dir),
	{ "log_level", LEVEL, offsetof(struct gw_config, log_level), 0, 0, 0 },
	S("mqtt.uri", mqtt_uri),
	S("mqtt.client_id", mqtt_client_id),
	S("mqtt.ca", mqtt_ca),
	S("mqtt.cert", mqtt_cert),
	S("mqtt.key", mqtt_key),
	N32("mqtt.keepalive", mqtt_keepalive, 5, 3600),
	S("release_keys", release_keys),
	N64("store.map_size_mb", store_map_size_mb, 16, 1u << 20),
	N64("store.reserve_mb", store_reserve_mb, 1, 1u << 16),
	N64("store.telemetry_keep", store_telemetry_keep, 1000, UINT64_C(1) << 40),
	N32("telemetry.flush_ms", telemetry_flush_ms, 1, 10000),
	N32("telemetry.batch_max", telemetry_batch_max, 1, 1u << 20),
	N32("chunks.rate_kbps", chunks_rate_kbps, 0, 1u << 24),
	N32("chunks.device_rate_kbps", chunks_device_rate_kbps, 0, 1u << 24),
	S("coap.listen", coap_listen),
	S("coap.ca", coap_ca),
	S("coap.cert", coap_cert),
	S("coap.key", coap_key),
	S("coap.psk_file", coap_psk_file),
	N32("coap.max_sessions", coap_max_sessions, 1, 1u << 20),
	N32("coap.max_handshakes", coap_max_handshakes, 1, 1u << 16),
	N32("coap.session_timeout", coap_session_timeout, 1, 86400),
	N32("coap.device_rate", coap_device_rate, 0, 1u << 20),
	N32("coap.block_size", coap_block_size, 16, 1024),
	N32("drift_policy.share", drift_share, 0, 100),
	N32("drift_policy.window_s", drift_window_s, 1, 30u * 86400u),
	N32("drift_policy.min_devices", drift_min_devices, 1, 1000000),
	{ "drift_policy.action", DRIFT_ACTION, offsetof(struct gw_config, drift_action), 0, 0, 0 },
	N32("rollout.status_retention_s", rollout_status_retention_s, 60, 366u * 86400u),
	N32("rollout.chunk_size", rollout_chunk_size, 64, 16384),
};

void
gw_config_defaults(struct gw_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->site, sizeof(c->site), "site1");
	snprintf(c->state_dir, sizeof(c->state_dir), "/var/lib/tinyfleet");
	c->log_level = GW_LOG_INFO;
	snprintf(c->mqtt_uri, sizeof(c->mqtt_uri), "ssl://127.0.0.1:8883");
	snprintf(c->mqtt_ca, sizeof(c->mqtt_ca), "/etc/tinyfleet/pki/ca.crt");
	snprintf(c->mqtt_cert, sizeof(c->mqtt_cert), "/etc/tinyfleet/pki/gateway.crt");
	snprintf(c->mqtt_key, sizeof(c->mqtt_key), "/etc/tinyfleet/pki/gateway.key");
	c->mqtt_keepalive = 30;
	snprintf(c->release_keys, sizeof(c->release_keys), "/etc/tinyfleet/release-keys.pem");
	c->store_map_size_mb = 1024;
	c->store_reserve_mb = 64;
	c->store_telemetry_keep = 1000000;
	c->telemetry_flush_ms = 50;
	c->telemetry_batch_max = 4096;
	c->coap_max_sessions = 1024;
	c->coap_max_handshakes = 64;
	c->coap_session_timeout = 60;
	c->coap_device_rate = 200;
	c->coap_block_size = 1024;
	c->drift_window_s = 3600;
	c->rollout_status_retention_s = 7u * 86400u;
	c->rollout_chunk_size = 16384;
	c->drift_min_devices = 5;
	c->drift_action = 0;
}

static int
valid_ident(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
			return 0;
	return 1;
}

static int
set_value(struct gw_config *c, const struct key *k, const char *v, const char *name, int line)
{
	char *p = (char *)c + k->offset;
	uint64_t n;
	char *end;

	switch (k->kind) {
	case SITE:
		if (!valid_ident(v)) {
			log_warnx("%s:%d: %s must be letters, digits, '.', '_' or '-'", name, line,
			          k->name);
			return -EINVAL;
		}
		/* fall through */
	case STR:
		if (strlen(v) >= k->size || *v == '\0') {
			log_warnx("%s:%d: %s must be 1 to %zu characters", name, line, k->name,
			          k->size - 1);
			return -EINVAL;
		}
		memcpy(p, v, strlen(v) + 1);
		return 0;
	case LEVEL:
		if (gw_log_level_parse(v, (enum gw_log_level *)(void *)p) != 0) {
			log_warnx("%s:%d: log_level must be error, warning, notice, info or debug",
			          name, line);
			return -EINVAL;
		}
		return 0;
	case DRIFT_ACTION:
		if (strcmp(v, "alert") == 0)
			*(int *)(void *)p = 0;
		else if (strcmp(v, "pause") == 0)
			*(int *)(void *)p = 1;
		else if (strcmp(v, "rollback") == 0)
			*(int *)(void *)p = 2;
		else {
			log_warnx("%s:%d: drift_policy.action must be alert, pause or rollback", name,
			          line);
			return -EINVAL;
		}
		return 0;
	case U32:
	case U64:
		errno = 0;
		n = strtoull(v, &end, 10);
		if (errno != 0 || end == v || *end != '\0' || !isdigit((unsigned char)*v) ||
		    n < k->min || n > k->max) {
			log_warnx("%s:%d: %s must be a whole number from %llu to %llu", name, line,
			          k->name, (unsigned long long)k->min, (unsigned long long)k->max);
			return -EINVAL;
		}
		if (k->kind == U32)
			*(unsigned *)(void *)p = (unsigned)n;
		else
			*(uint64_t *)(void *)p = n;
		return 0;
	}
	return -EINVAL;
}

static char *
trim(char *s)
{
	char *e;
	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int
gw_config_parse(struct gw_config *c, const char *text, size_t len, const char *name)
{
	char buf[1024];
	int line = 0, rc = 0;
	size_t pos = 0;

	gw_config_defaults(c);
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;
		char *key, *val, *eq, *hash;
		const struct key *k = NULL;

		line++;
		if (n >= sizeof(buf)) {
			log_warnx("%s:%d: line longer than %zu characters", name, line, sizeof(buf) - 1);
			return -EINVAL;
		}
		memcpy(buf, text + pos, n);
		buf[n] = '\0';
		pos += n + (nl != NULL);
		if (memchr(buf, '\0', n) != NULL) {
			log_warnx("%s:%d: NUL byte in line", name, line);
			return -EINVAL;
		}
		if ((hash = strchr(buf, '#')) != NULL)
			*hash = '\0';
		key = trim(buf);
		if (*key == '\0')
			continue;
		if ((eq = strchr(key, '=')) == NULL) {
			log_warnx("%s:%d: expected 'key = value'", name, line);
			return -EINVAL;
		}
		*eq = '\0';
		key = trim(key);
		val = trim(eq + 1);
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (strcmp(keys[i].name, key) == 0)
				k = &keys[i];
		if (k == NULL) {
			log_warnx("%s:%d: unknown key '%s'", name, line, key);
			return -EINVAL;
		}
		if ((rc = set_value(c, k, val, name, line)) != 0)
			return rc;
	}
	if (c->mqtt_client_id[0] == '\0')
		snprintf(c->mqtt_client_id, sizeof(c->mqtt_client_id), "gw-%s", c->site);
	if (c->coap_block_size & (c->coap_block_size - 1)) {
		log_warnx("%s: coap.block_size must be a power of two", name);
		return -EINVAL;
	}
	if (c->coap_ca[0] == '\0')
		memcpy(c->coap_ca, c->mqtt_ca, sizeof(c->coap_ca));
	if (c->coap_cert[0] == '\0')
		memcpy(c->coap_cert, c->mqtt_cert, sizeof(c->coap_cert));
	if (c->coap_key[0] == '\0')
		memcpy(c->coap_key, c->mqtt_key, sizeof(c->coap_key));
	if (strncmp(c->mqtt_uri, "ssl://", 6) != 0) {
		log_warnx("%s: mqtt.uri must start with ssl:// (mutual TLS only)", name);
		return -EINVAL;
	}
	if (c->store_reserve_mb * 4 > c->store_map_size_mb) {
		log_warnx("%s: store.reserve_mb must be at most a quarter of store.map_size_mb", name);
		return -EINVAL;
	}
	return 0;
}

int
gw_config_load(struct gw_config *c, const char *path)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t len = 0, cap = 0;
	int rc;

	if (f == NULL) {
		rc = -errno;
		log_warn("config: %s", path);
		gw_config_defaults(c);
		return rc;
	}
	for (;;) {
		if (len == cap) {
			char *p;
			if (cap >= (1u << 20)) {
				log_warnx("%s: larger than 1 MiB", path);
				rc = -EINVAL;
				goto out;
			}
			cap = cap ? cap * 2 : 4096;
			if ((p = realloc(text, cap)) == NULL) {
				rc = -ENOMEM;
				goto out;
			}
			text = p;
		}
		size_t n = fread(text + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		rc = -EIO;
		log_warnx("%s: read error", path);
		goto out;
	}
	rc = gw_config_parse(c, text, len, path);
out:
	free(text);
	fclose(f);
	return rc;
}
