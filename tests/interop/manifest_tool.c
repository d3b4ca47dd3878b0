/*
 * manifest_tool: a small host CLI over the protocol library's manifest and COSE_Sign1 code,
 * driven by the interop test (cose_interop.py) and used to write the fuzz seed corpora.
 *
 *   manifest_tool sign KEY.pem MANIFEST.json OUT.cose
 *       Signs the manifest described by the JSON file (fields as printed by verify).
 *   manifest_tool verify PUB.pem NOW FILE...
 *       Verifies each COSE_Sign1 file against the public key (with its conventional kid)
 *       at time NOW; prints one line per file: "OK <manifest as JSON>" or
 *       "ERR <code> <text>". Exit status 0 when every file could be read.
 *   manifest_tool kid PUB.pem
 *       Prints the conventional kid of the key.
 *   manifest_tool seeds KEY.pem VERIFY_DIR DECODE_DIR [--check]
 *       Writes the fuzz seeds (deterministic ECDSA: the same bytes on every run); with
 *       --check compares against existing files instead and fails on any difference.
 *
 * Exit status: 0 success, 1 a verification/check failed or bad input, 2 usage.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tinyfleet/protocol/cbor_io.h"
#include "tinyfleet/protocol/cose_sign1.h"
#include "tinyfleet/protocol/manifest.h"

#define MSG_MAX (TFP_MANIFEST_PAYLOAD_MAX + TFP_COSE_SIGN1_OVERHEAD)

static int
read_file(const char *path, uint8_t **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p = NULL;
	long n;
	int rc = -1;

	if (f == NULL) {
		fprintf(stderr, "manifest_tool: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		goto out;
	if ((p = malloc((size_t)n + 1)) == NULL || fread(p, 1, (size_t)n, f) != (size_t)n)
		goto out;
	p[n] = '\0';   /* PEM readers want a terminated string */
	*buf = p;
	*len = (size_t)n;
	p = NULL;
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "manifest_tool: cannot read %s\n", path);
	free(p);
	fclose(f);
	return rc;
}

static int
write_file(const char *path, const uint8_t *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok;
	if (f == NULL) {
		fprintf(stderr, "manifest_tool: %s: %s\n", path, strerror(errno));
		return -1;
	}
	ok = fwrite(buf, 1, len, f) == len;
	ok = fclose(f) == 0 && ok;
	return ok ? 0 : -1;
}

static int
copy_text(json_t *o, const char *field, char *dst, size_t cap)
{
	const char *s = json_string_value(json_object_get(o, field));
	if (s == NULL || strlen(s) >= cap) {
		fprintf(stderr, "manifest_tool: field %s missing or too long\n", field);
		return -1;
	}
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

static int
get_uint(json_t *o, const char *field, uint64_t *v)
{
	json_t *j = json_object_get(o, field);
	if (!json_is_integer(j) || json_integer_value(j) < 0) {
		fprintf(stderr, "manifest_tool: field %s missing or not a uint\n", field);
		return -1;
	}
	*v = (uint64_t)json_integer_value(j);
	return 0;
}

static int
hex_to_bytes(const char *hex, uint8_t *out, size_t len)
{
	size_t i;
	if (hex == NULL || strlen(hex) != 2 * len)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return 0;
}

static int
manifest_from_json(json_t *o, struct tfp_manifest *m)
{
	json_t *req = json_object_get(o, "req"), *sensors, *s;
	uint64_t v;
	size_t i;

	memset(m, 0, sizeof(*m));
	if (copy_text(o, "name", m->name, sizeof(m->name)) != 0 ||
	    copy_text(o, "version", m->version, sizeof(m->version)) != 0 ||
	    copy_text(o, "device_class", m->device_class, sizeof(m->device_class)) != 0 ||
	    copy_text(o, "key_id", m->key_id, sizeof(m->key_id)) != 0 ||
	    get_uint(o, "sequence", &m->sequence) != 0 ||
	    get_uint(o, "image_size", &m->image_size) != 0 ||
	    get_uint(o, "container_version", &v) != 0 || !json_is_object(req) ||
	    get_uint(req, "min_ram", &m->req.min_ram) != 0 ||
	    get_uint(req, "min_flash", &m->req.min_flash) != 0)
		return -1;
	m->container_version = (uint32_t)v;
	if (get_uint(req, "agent_abi", &v) != 0)
		return -1;
	m->req.agent_abi = (uint32_t)v;
	if (json_object_get(o, "expiry") != NULL) {
		if (get_uint(o, "expiry", &m->expiry) != 0)
			return -1;
		m->has_expiry = true;
	}
	if (hex_to_bytes(json_string_value(json_object_get(o, "digest")), m->digest,
	                 sizeof(m->digest)) != 0) {
		fprintf(stderr, "manifest_tool: digest must be 64 hex digits\n");
		return -1;
	}
	sensors = json_object_get(req, "sensors");
	if (!json_is_array(sensors) || json_array_size(sensors) > TFP_SENSORS_MAX)
		return -1;
	json_array_foreach(sensors, i, s) {
		const char *t = json_string_value(s);
		if (t == NULL || strlen(t) > TFP_SENSOR_NAME_MAX)
			return -1;
		memcpy(m->req.sensors[i], t, strlen(t) + 1);
	}
	m->req.n_sensors = json_array_size(sensors);
	return 0;
}

static json_t *
manifest_to_json(const struct tfp_manifest *m)
{
	char hex[2 * TFP_DIGEST_LEN + 1];
	json_t *o = json_object(), *req = json_object(), *sensors = json_array();
	size_t i;

	for (i = 0; i < TFP_DIGEST_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", m->digest[i]);
	for (i = 0; i < m->req.n_sensors; i++)
		json_array_append_new(sensors, json_string(m->req.sensors[i]));
	json_object_set_new(req, "min_ram", json_integer((json_int_t)m->req.min_ram));
	json_object_set_new(req, "min_flash", json_integer((json_int_t)m->req.min_flash));
	json_object_set_new(req, "sensors", sensors);
	json_object_set_new(req, "agent_abi", json_integer(m->req.agent_abi));
	json_object_set_new(o, "name", json_string(m->name));
	json_object_set_new(o, "version", json_string(m->version));
	json_object_set_new(o, "sequence", json_integer((json_int_t)m->sequence));
	json_object_set_new(o, "device_class", json_string(m->device_class));
	json_object_set_new(o, "req", req);
	json_object_set_new(o, "digest", json_string(hex));
	json_object_set_new(o, "image_size", json_integer((json_int_t)m->image_size));
	json_object_set_new(o, "container_version", json_integer(m->container_version));
	if (m->has_expiry)
		json_object_set_new(o, "expiry", json_integer((json_int_t)m->expiry));
	json_object_set_new(o, "key_id", json_string(m->key_id));
	return o;
}

static int
load_signer(const char *path, struct tfp_cose_signer *s)
{
	uint8_t *pem = NULL;
	size_t len;
	int rc;
	if (read_file(path, &pem, &len) != 0)
		return -1;
	rc = tfp_cose_signer_init_pem(s, (const char *)pem);
	free(pem);
	if (rc != 0)
		fprintf(stderr, "manifest_tool: %s: %s\n", path, tfp_strerror(rc));
	return rc;
}

static int
cmd_sign(const char *key, const char *manifest, const char *out)
{
	struct tfp_cose_signer s;
	struct tfp_manifest m;
	json_error_t jerr;
	json_t *o = json_load_file(manifest, 0, &jerr);
	uint8_t msg[MSG_MAX];
	size_t len;
	int rc = 1;

	memset(&s, 0, sizeof(s));
	if (o == NULL) {
		fprintf(stderr, "manifest_tool: %s:%d: %s\n", manifest, jerr.line, jerr.text);
		return 1;
	}
	if (manifest_from_json(o, &m) != 0 || load_signer(key, &s) != 0)
		goto out;
	if ((rc = tfp_manifest_sign(&s, &m, msg, sizeof(msg), &len)) != 0) {
		fprintf(stderr, "manifest_tool: sign: %s\n", tfp_strerror(rc));
		rc = 1;
		goto out;
	}
	rc = write_file(out, msg, len) == 0 ? 0 : 1;
out:
	tfp_cose_signer_free(&s);
	json_decref(o);
	return rc;
}

static int
load_pub(const char *path, struct tfp_cose_key *key)
{
	uint8_t *pem = NULL;
	size_t len;
	int rc;
	if (read_file(path, &pem, &len) != 0)
		return -1;
	rc = tfp_cose_key_from_pem((const char *)pem, key);
	free(pem);
	if (rc != 0)
		fprintf(stderr, "manifest_tool: %s: %s\n", path, tfp_strerror(rc));
	return rc;
}

static int
cmd_verify(const char *pub, const char *now_s, int n, char **files)
{
	struct tfp_cose_key key;
	struct tfp_manifest m;
	uint64_t now;
	char *end;
	int i, unreadable = 0;

	errno = 0;
	now = strtoull(now_s, &end, 10);
	if (errno != 0 || *end != '\0' || load_pub(pub, &key) != 0)
		return 1;
	for (i = 0; i < n; i++) {
		uint8_t *msg = NULL;
		size_t len;
		int rc;
		if (read_file(files[i], &msg, &len) != 0) {
			unreadable++;
			printf("ERR unreadable\n");
			continue;
		}
		rc = tfp_manifest_verify(msg, len, &key, 1, now, &m);
		if (rc == 0) {
			json_t *o = manifest_to_json(&m);
			char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
			printf("OK %s\n", s);
			free(s);
			json_decref(o);
		} else {
			printf("ERR %d %s\n", rc, tfp_strerror(rc));
		}
		free(msg);
	}
	return unreadable == 0 ? 0 : 1;
}

/* The manifest every seed starts from: realistic values, every field present. */
static void
seed_manifest(struct tfp_manifest *m, const char *kid)
{
	size_t i;
	memset(m, 0, sizeof(*m));
	memcpy(m->name, "pump-anomaly", sizeof("pump-anomaly"));
	memcpy(m->version, "1.4.2", sizeof("1.4.2"));
	m->sequence = 42;
	memcpy(m->device_class, "stm32l4-vib", sizeof("stm32l4-vib"));
	m->req.min_ram = 24576;
	m->req.min_flash = 131072;
	m->req.agent_abi = 3;
	m->req.n_sensors = 2;
	memcpy(m->req.sensors[0], "accel3", sizeof("accel3"));
	memcpy(m->req.sensors[1], "temp", sizeof("temp"));
	for (i = 0; i < TFP_DIGEST_LEN; i++)
		m->digest[i] = (uint8_t)(0xa0 + i);
	m->image_size = 48213;
	m->container_version = 1;
	m->has_expiry = true;
	m->expiry = 4102444800u;   /* 2100-01-01 */
	memcpy(m->key_id, kid, strlen(kid) + 1);
}

static int
emit(const char *dir, const char *name, const uint8_t *buf, size_t len, int check)
{
	char path[4096];
	uint8_t *old = NULL;
	size_t old_len;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!check)
		return write_file(path, buf, len);
	if (read_file(path, &old, &old_len) != 0)
		return -1;
	rc = old_len == len && memcmp(old, buf, len) == 0 ? 0 : -1;
	if (rc != 0)
		fprintf(stderr, "manifest_tool: %s differs from the generated seed\n", path);
	free(old);
	return rc;
}

static int
cmd_seeds(const char *key, const char *vdir, const char *ddir, int check)
{
	struct tfp_cose_signer s;
	struct tfp_manifest m;
	uint8_t payload[TFP_MANIFEST_PAYLOAD_MAX], msg[MSG_MAX];
	char kid[TFP_KEY_ID_MAX + 1];
	size_t plen, mlen, i;
	int bad = 0, rc;

	memset(&s, 0, sizeof(s));
	if (load_signer(key, &s) != 0)
		return 1;
	memcpy(kid, s.pub.kid, TFP_KEY_ID_MAX);
	kid[TFP_KEY_ID_MAX] = '\0';

	/* 1: the full manifest; 2: no expiry, no sensors; 3: every string at its bound. */
	for (i = 1; i <= 3; i++) {
		char name[32];
		seed_manifest(&m, kid);
		if (i == 2) {
			m.has_expiry = false;
			m.req.n_sensors = 0;
		} else if (i == 3) {
			size_t k;
			memset(m.name, 'n', TFP_MODEL_NAME_MAX);
			memset(m.version, '9', TFP_VERSION_MAX);
			memset(m.device_class, 'c', TFP_CLASS_MAX);
			m.req.n_sensors = TFP_SENSORS_MAX;
			for (k = 0; k < TFP_SENSORS_MAX; k++) {
				memset(m.req.sensors[k], (int)('a' + k), TFP_SENSOR_NAME_MAX);
				m.req.sensors[k][TFP_SENSOR_NAME_MAX] = '\0';
			}
			m.sequence = UINT64_MAX;
			m.image_size = UINT64_MAX;
			m.expiry = UINT64_MAX;
		}
		if ((rc = tfp_manifest_encode(&m, payload, sizeof(payload), &plen)) != 0 ||
		    (rc = tfp_manifest_sign(&s, &m, msg, sizeof(msg), &mlen)) != 0) {
			fprintf(stderr, "manifest_tool: seed %zu: %s\n", i, tfp_strerror(rc));
			bad++;
			continue;
		}
		snprintf(name, sizeof(name), "seed-%zu.cbor", i);
		bad += emit(ddir, name, payload, plen, check) != 0;
		snprintf(name, sizeof(name), "seed-%zu.cose", i);
		bad += emit(vdir, name, msg, mlen, check) != 0;
	}
	tfp_cose_signer_free(&s);
	return bad == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "sign") == 0)
		return cmd_sign(argv[2], argv[3], argv[4]);
	if (argc >= 5 && strcmp(argv[1], "verify") == 0)
		return cmd_verify(argv[2], argv[3], argc - 4, argv + 4);
	if (argc == 3 && strcmp(argv[1], "kid") == 0) {
		struct tfp_cose_key key;
		if (load_pub(argv[2], &key) != 0)
			return 1;
		printf("%.*s\n", (int)key.kid_len, (const char *)key.kid);
		return 0;
	}
	if ((argc == 5 || argc == 6) && strcmp(argv[1], "seeds") == 0)
		return cmd_seeds(argv[2], argv[3], argv[4],
		                 argc == 6 && strcmp(argv[5], "--check") == 0);
	fprintf(stderr, "usage: manifest_tool sign KEY.pem MANIFEST.json OUT.cose\n"
	                "       manifest_tool verify PUB.pem NOW FILE...\n"
	                "       manifest_tool kid PUB.pem\n"
	                "       manifest_tool seeds KEY.pem VERIFY_DIR DECODE_DIR [--check]\n");
	return 2;
}
