/*
 * Manifest payload codec and signed-manifest verification: round trips, the strict decoder
 * against every kind of malformed input (each with its specific code), the kid binding,
 * expiry, and the committed schema example.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tinyfleet/protocol/cbor_io.h"
#include "tinyfleet/protocol/manifest.h"

#define KEYS TF_SOURCE_DIR "/tests/interop/keys/"

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	assert_int_equal(fseek(f, 0, SEEK_SET), 0);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (len != NULL)
		*len = (size_t)n;
	return buf;
}

static void
set_text(char *dst, size_t cap, const char *s)
{
	assert_true(strlen(s) < cap);
	memcpy(dst, s, strlen(s) + 1);
}

static void
sample(struct tfp_manifest *m)
{
	size_t i;
	memset(m, 0, sizeof(*m));
	set_text(m->name, sizeof(m->name), "pump-anomaly");
	set_text(m->version, sizeof(m->version), "1.4.2");
	m->sequence = 42;
	set_text(m->device_class, sizeof(m->device_class), "stm32l4-vib");
	m->req.min_ram = 24576;
	m->req.min_flash = 131072;
	m->req.agent_abi = 3;
	m->req.n_sensors = 2;
	set_text(m->req.sensors[0], sizeof(m->req.sensors[0]), "accel3");
	set_text(m->req.sensors[1], sizeof(m->req.sensors[1]), "temp");
	for (i = 0; i < TFP_DIGEST_LEN; i++)
		m->digest[i] = (uint8_t)(0xa0 + i);
	m->image_size = 48213;
	m->container_version = 1;
	m->has_expiry = true;
	m->expiry = 4102444800u;
	set_text(m->key_id, sizeof(m->key_id), "153ba991abded284");
}

/* ---- a map built entry by entry, so tests can break one field at a time ---- */

struct entry {
	uint8_t key[16];
	size_t key_len;
	uint8_t val[512];
	size_t val_len;
};

struct doc {
	struct entry e[16];
	size_t n;
};

typedef void (*put_fn)(struct tfp_cbor_writer *w, const void *arg);

static void
doc_add(struct doc *d, uint64_t key, const uint8_t *val, size_t len)
{
	struct tfp_cbor_writer w;
	struct entry *e = &d->e[d->n++];
	assert_true(d->n <= 16 && len <= sizeof(e->val));
	tfp_cbor_writer_init(&w, e->key, sizeof(e->key));
	tfp_cbor_put_uint(&w, key);
	assert_int_equal(tfp_cbor_writer_finish(&w, &e->key_len), 0);
	memcpy(e->val, val, len);
	e->val_len = len;
}

static size_t
doc_encode(const struct doc *d, uint8_t *out, size_t cap)
{
	struct tfp_cbor_writer w;
	size_t len, i;
	tfp_cbor_writer_init(&w, out, cap);
	tfp_cbor_put_map(&w, d->n);
	assert_int_equal(tfp_cbor_writer_finish(&w, &len), 0);
	for (i = 0; i < d->n; i++) {
		assert_true(len + d->e[i].key_len + d->e[i].val_len <= cap);
		memcpy(out + len, d->e[i].key, d->e[i].key_len);
		len += d->e[i].key_len;
		memcpy(out + len, d->e[i].val, d->e[i].val_len);
		len += d->e[i].val_len;
	}
	return len;
}

static struct entry *
doc_find(struct doc *d, uint64_t key)
{
	uint8_t k[16];
	struct tfp_cbor_writer w;
	size_t len, i;
	tfp_cbor_writer_init(&w, k, sizeof(k));
	tfp_cbor_put_uint(&w, key);
	assert_int_equal(tfp_cbor_writer_finish(&w, &len), 0);
	for (i = 0; i < d->n; i++) {
		if (d->e[i].key_len == len && memcmp(d->e[i].key, k, len) == 0)
			return &d->e[i];
	}
	fail_msg("key %u not in doc", (unsigned)key);
	return NULL;
}

static void
doc_set(struct doc *d, uint64_t key, const uint8_t *val, size_t len)
{
	struct entry *e = doc_find(d, key);
	assert_true(len <= sizeof(e->val));
	memcpy(e->val, val, len);
	e->val_len = len;
}

static void
doc_drop(struct doc *d, uint64_t key)
{
	struct entry *e = doc_find(d, key);
	size_t i = (size_t)(e - d->e);
	memmove(&d->e[i], &d->e[i + 1], (d->n - i - 1) * sizeof(d->e[0]));
	d->n--;
}

/* Encodes one value with the writer into a small buffer. */
#define VAL(buf, len, stmt) do {                                       \
		struct tfp_cbor_writer vw;                                     \
		tfp_cbor_writer_init(&vw, buf, sizeof(buf));                   \
		stmt;                                                          \
		assert_int_equal(tfp_cbor_writer_finish(&vw, &(len)), 0);      \
	} while (0)

static void
req_doc(struct doc *r)
{
	uint8_t v[128];
	size_t n;
	r->n = 0;
	VAL(v, n, tfp_cbor_put_uint(&vw, 24576));
	doc_add(r, 1, v, n);
	VAL(v, n, tfp_cbor_put_uint(&vw, 131072));
	doc_add(r, 2, v, n);
	VAL(v, n, (tfp_cbor_put_array(&vw, 2), tfp_cbor_put_textz(&vw, "accel3"),
	           tfp_cbor_put_textz(&vw, "temp")));
	doc_add(r, 3, v, n);
	VAL(v, n, tfp_cbor_put_uint(&vw, 3));
	doc_add(r, 4, v, n);
}

static void
set_req(struct doc *d, const struct doc *r)
{
	uint8_t v[512];
	size_t n = doc_encode(r, v, sizeof(v));
	doc_set(d, 5, v, n);
}

/* The sample manifest, field by field, in the encoder's order. */
static void
manifest_doc(struct doc *d)
{
	struct doc r;
	uint8_t v[128], digest[32];
	size_t n, i;

	for (i = 0; i < sizeof(digest); i++)
		digest[i] = (uint8_t)(0xa0 + i);
	d->n = 0;
	VAL(v, n, tfp_cbor_put_textz(&vw, "pump-anomaly"));
	doc_add(d, 1, v, n);
	VAL(v, n, tfp_cbor_put_textz(&vw, "1.4.2"));
	doc_add(d, 2, v, n);
	VAL(v, n, tfp_cbor_put_uint(&vw, 42));
	doc_add(d, 3, v, n);
	VAL(v, n, tfp_cbor_put_textz(&vw, "stm32l4-vib"));
	doc_add(d, 4, v, n);
	doc_add(d, 5, (const uint8_t *)"", 0);
	req_doc(&r);
	set_req(d, &r);
	VAL(v, n, tfp_cbor_put_bytes(&vw, digest, sizeof(digest)));
	doc_add(d, 6, v, n);
	VAL(v, n, tfp_cbor_put_uint(&vw, 48213));
	doc_add(d, 7, v, n);
	VAL(v, n, tfp_cbor_put_uint(&vw, 1));
	doc_add(d, 8, v, n);
	VAL(v, n, tfp_cbor_put_uint(&vw, 4102444800u));
	doc_add(d, 9, v, n);
	VAL(v, n, tfp_cbor_put_textz(&vw, "153ba991abded284"));
	doc_add(d, 10, v, n);
}

static int
decode_doc(const struct doc *d)
{
	struct tfp_manifest m;
	uint8_t buf[1024];
	size_t len = doc_encode(d, buf, sizeof(buf));
	return tfp_manifest_decode(buf, len, &m);
}

/* ---- tests ---- */

static void
test_round_trip(void **state)
{
	struct tfp_manifest m, out;
	struct doc d;
	uint8_t buf[TFP_MANIFEST_PAYLOAD_MAX], ref[1024];
	size_t len, ref_len;
	(void)state;

	sample(&m);
	assert_int_equal(tfp_manifest_encode(&m, buf, sizeof(buf), &len), 0);
	assert_int_equal(tfp_manifest_decode(buf, len, &out), 0);
	assert_memory_equal(&m, &out, sizeof(m));
	/* The encoder writes exactly the documented layout. */
	manifest_doc(&d);
	ref_len = doc_encode(&d, ref, sizeof(ref));
	assert_int_equal(len, ref_len);
	assert_memory_equal(buf, ref, len);

	m.has_expiry = false;
	m.expiry = 0;
	m.req.n_sensors = 0;
	memset(m.req.sensors, 0, sizeof(m.req.sensors));
	assert_int_equal(tfp_manifest_encode(&m, buf, sizeof(buf), &len), 0);
	assert_int_equal(tfp_manifest_decode(buf, len, &out), 0);
	assert_memory_equal(&m, &out, sizeof(m));
}

static void
test_largest_manifest_fits_bound(void **state)
{
	struct tfp_manifest m, out;
	uint8_t buf[TFP_MANIFEST_PAYLOAD_MAX];
	size_t len, i;
	(void)state;

	sample(&m);
	memset(m.name, 'n', TFP_MODEL_NAME_MAX);
	memset(m.version, 'v', TFP_VERSION_MAX);
	memset(m.device_class, 'c', TFP_CLASS_MAX);
	memset(m.key_id, 'k', TFP_KEY_ID_MAX);
	m.req.n_sensors = TFP_SENSORS_MAX;
	for (i = 0; i < TFP_SENSORS_MAX; i++)
		memset(m.req.sensors[i], (int)('a' + i), TFP_SENSOR_NAME_MAX);
	m.sequence = m.image_size = m.expiry = UINT64_MAX;
	m.req.min_ram = m.req.min_flash = UINT64_MAX;
	m.req.agent_abi = m.container_version = UINT32_MAX;
	assert_int_equal(tfp_manifest_encode(&m, buf, sizeof(buf), &len), 0);
	assert_true(len <= TFP_MANIFEST_PAYLOAD_MAX);
	assert_int_equal(tfp_manifest_decode(buf, len, &out), 0);
	assert_memory_equal(&m, &out, sizeof(m));
}

static void
test_encode_errors(void **state)
{
	struct tfp_manifest m;
	uint8_t buf[TFP_MANIFEST_PAYLOAD_MAX];
	size_t len, need;
	(void)state;

	sample(&m);
	assert_int_equal(tfp_manifest_encode(&m, buf, sizeof(buf), &need), 0);
	assert_int_equal(tfp_manifest_encode(&m, buf, need - 1, &len), TFP_ERR_BUFFER);
	assert_int_equal(len, need);
	m.name[0] = '\0';
	assert_int_equal(tfp_manifest_encode(&m, buf, sizeof(buf), &len), TFP_ERR_ARG);
	sample(&m);
	memset(m.key_id, 'k', sizeof(m.key_id));          /* unterminated */
	assert_int_equal(tfp_manifest_encode(&m, buf, sizeof(buf), &len), TFP_ERR_ARG);
	sample(&m);
	m.req.n_sensors = TFP_SENSORS_MAX + 1;
	assert_int_equal(tfp_manifest_encode(&m, buf, sizeof(buf), &len), TFP_ERR_ARG);
}

static void
test_truncation_at_every_byte(void **state)
{
	struct tfp_manifest m;
	uint8_t buf[TFP_MANIFEST_PAYLOAD_MAX];
	size_t len, i;
	(void)state;

	sample(&m);
	assert_int_equal(tfp_manifest_encode(&m, buf, sizeof(buf), &len), 0);
	for (i = 0; i < len; i++) {
		uint8_t *p = malloc(i + 1);
		assert_non_null(p);
		memcpy(p, buf, i);
		if (tfp_manifest_decode(i > 0 ? p : NULL, i, &m) != TFP_ERR_TRUNCATED)
			fail_msg("prefix of %zu bytes not reported as truncated", i);
		free(p);
	}
}

static void
test_field_order_is_free(void **state)
{
	struct doc d, rev;
	size_t i;
	(void)state;

	manifest_doc(&d);
	rev.n = d.n;
	for (i = 0; i < d.n; i++)
		rev.e[i] = d.e[d.n - 1 - i];
	assert_int_equal(decode_doc(&rev), 0);
}

static void
test_wrong_types(void **state)
{
	static const uint8_t as_uint[] = { 0x01 };
	static const uint8_t as_text[] = { 0x61, 'x' };
	static const uint8_t as_neg[] = { 0x20 };
	static const uint8_t as_array[] = { 0x80 };
	static const uint8_t as_float[] = { 0xf9, 0x3c, 0x00 };
	static const uint8_t as_bytes32[] = { 0x58, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	                                      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	                                      0, 0, 0, 0 };
	/* For each key, a value of another major type. */
	static const struct { uint64_t key; const uint8_t *v; size_t n; } cases[] = {
		{ 1, as_uint, 1 }, { 2, as_bytes32, sizeof(as_bytes32) }, { 3, as_text, 2 },
		{ 3, as_neg, 1 }, { 3, as_float, 3 }, { 4, as_array, 1 }, { 5, as_array, 1 },
		{ 6, as_text, 2 }, { 7, as_neg, 1 }, { 8, as_text, 2 }, { 9, as_text, 2 },
		{ 10, as_uint, 1 },
	};
	struct doc d, r;
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		manifest_doc(&d);
		doc_set(&d, cases[i].key, cases[i].v, cases[i].n);
		if (decode_doc(&d) != TFP_ERR_WRONG_TYPE)
			fail_msg("case %zu (key %u) not WRONG_TYPE", i, (unsigned)cases[i].key);
	}
	/* Inside requirements. */
	for (i = 1; i <= 4; i++) {
		manifest_doc(&d);
		req_doc(&r);
		doc_set(&r, i, i == 3 ? as_text : as_array, i == 3 ? 2 : 1);
		set_req(&d, &r);
		assert_int_equal(decode_doc(&d), TFP_ERR_WRONG_TYPE);
	}
	manifest_doc(&d);
	req_doc(&r);
	doc_set(&r, 3, (const uint8_t *)"\x81\x01", 2);    /* sensors: [1] */
	set_req(&d, &r);
	assert_int_equal(decode_doc(&d), TFP_ERR_WRONG_TYPE);
	/* The top level is not a map. */
	assert_int_equal(tfp_manifest_decode((const uint8_t *)"\x80", 1, &(struct tfp_manifest){ 0 }),
	                 TFP_ERR_WRONG_TYPE);
}

static void
test_oversize(void **state)
{
	struct doc d, r;
	uint8_t v[64];
	char s[64];
	size_t n;
	(void)state;

	/* Each string one over its bound. */
	static const struct { uint64_t key; size_t bound; } strs[] = {
		{ 1, TFP_MODEL_NAME_MAX }, { 2, TFP_VERSION_MAX }, { 4, TFP_CLASS_MAX },
		{ 10, TFP_KEY_ID_MAX },
	};
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		memset(s, 'x', sizeof(s));
		manifest_doc(&d);
		VAL(v, n, tfp_cbor_put_text(&vw, s, strs[i].bound));
		doc_set(&d, strs[i].key, v, n);
		assert_int_equal(decode_doc(&d), 0);                 /* at the bound: fine */
		VAL(v, n, tfp_cbor_put_text(&vw, s, strs[i].bound + 1));
		doc_set(&d, strs[i].key, v, n);
		assert_int_equal(decode_doc(&d), TFP_ERR_OVERSIZE);
	}
	/* Digest of 31 and 33 bytes. */
	memset(s, 0, sizeof(s));
	manifest_doc(&d);
	VAL(v, n, tfp_cbor_put_bytes(&vw, (const uint8_t *)s, 31));
	doc_set(&d, 6, v, n);
	assert_int_equal(decode_doc(&d), TFP_ERR_OVERSIZE);
	VAL(v, n, tfp_cbor_put_bytes(&vw, (const uint8_t *)s, 33));
	doc_set(&d, 6, v, n);
	assert_int_equal(decode_doc(&d), TFP_ERR_OVERSIZE);
	/* A sensor name over its bound; one sensor too many. */
	memset(s, 's', sizeof(s));
	manifest_doc(&d);
	req_doc(&r);
	VAL(v, n, (tfp_cbor_put_array(&vw, 1), tfp_cbor_put_text(&vw, s, TFP_SENSOR_NAME_MAX + 1)));
	doc_set(&r, 3, v, n);
	set_req(&d, &r);
	assert_int_equal(decode_doc(&d), TFP_ERR_OVERSIZE);
	{
		uint8_t big[128];
		struct tfp_cbor_writer w;
		tfp_cbor_writer_init(&w, big, sizeof(big));
		tfp_cbor_put_array(&w, TFP_SENSORS_MAX + 1);
		for (size_t i = 0; i <= TFP_SENSORS_MAX; i++)
			tfp_cbor_put_textz(&w, "t");
		assert_int_equal(tfp_cbor_writer_finish(&w, &n), 0);
		req_doc(&r);
		doc_set(&r, 3, big, n);
		set_req(&d, &r);
		assert_int_equal(decode_doc(&d), TFP_ERR_OVERSIZE);
	}
	/* 32-bit fields beyond 32 bits. */
	manifest_doc(&d);
	VAL(v, n, tfp_cbor_put_uint(&vw, UINT64_C(1) << 32));
	doc_set(&d, 8, v, n);
	assert_int_equal(decode_doc(&d), TFP_ERR_RANGE);
	manifest_doc(&d);
	req_doc(&r);
	doc_set(&r, 4, v, n);
	set_req(&d, &r);
	assert_int_equal(decode_doc(&d), TFP_ERR_RANGE);
	/* Declared lengths and counts far beyond the input. */
	manifest_doc(&d);
	doc_set(&d, 1, (const uint8_t *)"\x7a\xff\xff\xff\xff", 5);
	assert_int_equal(decode_doc(&d), TFP_ERR_TRUNCATED);
	manifest_doc(&d);
	req_doc(&r);
	doc_set(&r, 3, (const uint8_t *)"\x9b\xff\xff\xff\xff\xff\xff\xff\xff", 9);
	set_req(&d, &r);
	assert_int_equal(decode_doc(&d), TFP_ERR_TRUNCATED);
}

static void
test_indefinite_lengths(void **state)
{
	struct doc d, r;
	uint8_t buf[1024];
	struct tfp_manifest m;
	size_t len;
	(void)state;

	manifest_doc(&d);
	len = doc_encode(&d, buf, sizeof(buf));
	buf[0] = 0xbf;                                      /* indefinite top-level map */
	buf[len] = 0xff;
	assert_int_equal(tfp_manifest_decode(buf, len + 1, &m), TFP_ERR_INDEFINITE);

	doc_set(&d, 1, (const uint8_t *)"\x7f\x61x\xff", 4); /* indefinite text */
	assert_int_equal(decode_doc(&d), TFP_ERR_INDEFINITE);
	manifest_doc(&d);
	doc_set(&d, 6, (const uint8_t *)"\x5f\x41x\xff", 4); /* indefinite bytes */
	assert_int_equal(decode_doc(&d), TFP_ERR_INDEFINITE);
	manifest_doc(&d);
	doc_set(&d, 5, (const uint8_t *)"\xbf\xff", 2);      /* indefinite requirements */
	assert_int_equal(decode_doc(&d), TFP_ERR_INDEFINITE);
	manifest_doc(&d);
	req_doc(&r);
	doc_set(&r, 3, (const uint8_t *)"\x9f\x61x\xff", 4); /* indefinite sensors */
	set_req(&d, &r);
	assert_int_equal(decode_doc(&d), TFP_ERR_INDEFINITE);
}

static void
test_duplicate_unknown_missing(void **state)
{
	struct doc d, r;
	uint8_t v[16];
	size_t n;
	uint64_t key;
	(void)state;

	/* A repeated key, top level and in requirements. */
	manifest_doc(&d);
	doc_add(&d, 3, (const uint8_t *)"\x01", 1);
	assert_int_equal(decode_doc(&d), TFP_ERR_DUPLICATE_FIELD);
	manifest_doc(&d);
	doc_add(&d, 9, (const uint8_t *)"\x01", 1);          /* optional keys too */
	assert_int_equal(decode_doc(&d), TFP_ERR_DUPLICATE_FIELD);
	manifest_doc(&d);
	req_doc(&r);
	doc_add(&r, 1, (const uint8_t *)"\x01", 1);
	set_req(&d, &r);
	assert_int_equal(decode_doc(&d), TFP_ERR_DUPLICATE_FIELD);

	/* Unknown keys: 0, 11, a big one, in requirements 5. */
	static const uint64_t unknown[] = { 0, 11, 1000000 };
	for (size_t i = 0; i < 3; i++) {
		manifest_doc(&d);
		doc_add(&d, unknown[i], (const uint8_t *)"\x01", 1);
		assert_int_equal(decode_doc(&d), TFP_ERR_UNKNOWN_FIELD);
	}
	manifest_doc(&d);
	req_doc(&r);
	doc_add(&r, 5, (const uint8_t *)"\x01", 1);
	set_req(&d, &r);
	assert_int_equal(decode_doc(&d), TFP_ERR_UNKNOWN_FIELD);
	/* Keys of other types: negative, text, bytes. */
	{
		static const uint8_t keys[][3] = { { 0x20 }, { 0x61, 'a' }, { 0x41, 0x01 } };
		static const size_t lens[] = { 1, 2, 2 };
		for (size_t i = 0; i < 3; i++) {
			manifest_doc(&d);
			d.e[d.n] = d.e[0];
			memcpy(d.e[d.n].key, keys[i], lens[i]);
			d.e[d.n].key_len = lens[i];
			d.n++;
			assert_int_equal(decode_doc(&d), TFP_ERR_UNKNOWN_FIELD);
		}
	}

	/* Every required key, dropped in turn. */
	for (key = 1; key <= 10; key++) {
		manifest_doc(&d);
		doc_drop(&d, key);
		if (decode_doc(&d) != (key == 9 ? 0 : TFP_ERR_MISSING_FIELD))
			fail_msg("dropping key %u", (unsigned)key);
	}
	for (key = 1; key <= 4; key++) {
		manifest_doc(&d);
		req_doc(&r);
		doc_drop(&r, key);
		set_req(&d, &r);
		assert_int_equal(decode_doc(&d), TFP_ERR_MISSING_FIELD);
	}

	/* Empty strings and embedded NULs. */
	manifest_doc(&d);
	VAL(v, n, tfp_cbor_put_text(&vw, "", 0));
	doc_set(&d, 1, v, n);
	assert_int_equal(decode_doc(&d), TFP_ERR_BAD_TEXT);
	manifest_doc(&d);
	VAL(v, n, tfp_cbor_put_text(&vw, "a\0b", 3));
	doc_set(&d, 10, v, n);
	assert_int_equal(decode_doc(&d), TFP_ERR_BAD_TEXT);
}

static void
test_trailing(void **state)
{
	struct tfp_manifest m;
	uint8_t buf[TFP_MANIFEST_PAYLOAD_MAX + 1];
	size_t len;
	(void)state;

	sample(&m);
	assert_int_equal(tfp_manifest_encode(&m, buf, sizeof(buf), &len), 0);
	buf[len] = 0x00;
	assert_int_equal(tfp_manifest_decode(buf, len + 1, &m), TFP_ERR_TRAILING);
}

/* ---- signed manifests ---- */

static void
load_signer(struct tfp_cose_signer *s)
{
	char *pem = slurp(KEYS "release-test.key.pem", NULL);
	assert_int_equal(tfp_cose_signer_init_pem(s, pem), 0);
	free(pem);
}

static void
test_sign_and_verify(void **state)
{
	struct tfp_cose_signer s;
	struct tfp_manifest m, out;
	uint8_t msg[TFP_MANIFEST_PAYLOAD_MAX + TFP_COSE_SIGN1_OVERHEAD];
	uint8_t payload[TFP_MANIFEST_PAYLOAD_MAX];
	size_t len, plen;
	(void)state;

	load_signer(&s);
	sample(&m);
	assert_int_equal(tfp_manifest_sign(&s, &m, msg, sizeof(msg), &len), 0);
	assert_int_equal(tfp_manifest_verify(msg, len, &s.pub, 1, 1000, &out), 0);
	assert_memory_equal(&m, &out, sizeof(m));

	/* Expiry is exclusive: at the expiry second the manifest is dead. */
	assert_int_equal(tfp_manifest_verify(msg, len, &s.pub, 1, m.expiry - 1, &out), 0);
	assert_int_equal(tfp_manifest_verify(msg, len, &s.pub, 1, m.expiry, &out),
	                 TFP_ERR_EXPIRED);
	/* No trusted key. */
	assert_int_equal(tfp_manifest_verify(msg, len, NULL, 0, 1000, &out), TFP_ERR_UNKNOWN_KEY);

	/* Without expiry, any time is fine. */
	m.has_expiry = false;
	m.expiry = 0;
	assert_int_equal(tfp_manifest_sign(&s, &m, msg, sizeof(msg), &len), 0);
	assert_int_equal(tfp_manifest_verify(msg, len, &s.pub, 1, UINT64_MAX, &out), 0);

	/* The payload must name the kid that signed it. */
	set_text(m.key_id, sizeof(m.key_id), "0000000000000000");
	assert_int_equal(tfp_manifest_sign(&s, &m, msg, sizeof(msg), &len), TFP_ERR_ARG);
	assert_int_equal(tfp_manifest_encode(&m, payload, sizeof(payload), &plen), 0);
	assert_int_equal(tfp_cose_sign1_sign(&s, payload, plen, msg, sizeof(msg), &len), 0);
	assert_int_equal(tfp_manifest_verify(msg, len, &s.pub, 1, 1000, &out), TFP_ERR_BAD_HEADER);

	/* A verified envelope around a broken payload reports the payload's error. */
	assert_int_equal(tfp_cose_sign1_sign(&s, (const uint8_t *)"\xa0", 1, msg, sizeof(msg), &len), 0);
	assert_int_equal(tfp_manifest_verify(msg, len, &s.pub, 1, 1000, &out),
	                 TFP_ERR_MISSING_FIELD);
	tfp_cose_signer_free(&s);
}

/* schemas/examples/manifest.hex is the sample payload; manifest.cose.hex the same
 * payload signed by the test release key. Both must round-trip byte for byte. */
static size_t
read_hex(const char *path, uint8_t *out, size_t cap)
{
	char *text = slurp(path, NULL);
	size_t n = 0;
	const char *p;
	for (p = text; *p != '\0'; p++) {
		unsigned v;
		if (*p == '#') {                                /* comment to end of line */
			while (*p != '\0' && *p != '\n')
				p++;
			if (*p == '\0')
				break;
			continue;
		}
		if (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
			continue;
		assert_int_equal(sscanf(p, "%2x", &v), 1);
		assert_true(n < cap);
		out[n++] = (uint8_t)v;
		p++;
	}
	free(text);
	return n;
}

static void
test_schema_examples(void **state)
{
	struct tfp_cose_signer s;
	struct tfp_manifest m, ref;
	uint8_t ex[1024], buf[1024];
	size_t ex_len, len;
	(void)state;

	ex_len = read_hex(TF_SOURCE_DIR "/schemas/examples/manifest.hex", ex, sizeof(ex));
	assert_int_equal(tfp_manifest_decode(ex, ex_len, &m), 0);
	sample(&ref);
	assert_memory_equal(&m, &ref, sizeof(m));
	assert_int_equal(tfp_manifest_encode(&m, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, ex_len);
	assert_memory_equal(buf, ex, len);

	ex_len = read_hex(TF_SOURCE_DIR "/schemas/examples/manifest.cose.hex", ex, sizeof(ex));
	load_signer(&s);
	assert_int_equal(tfp_manifest_verify(ex, ex_len, &s.pub, 1, 1000, &m), 0);
	assert_memory_equal(&m, &ref, sizeof(m));
	assert_int_equal(tfp_manifest_sign(&s, &m, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, ex_len);
	assert_memory_equal(buf, ex, len);
	tfp_cose_signer_free(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_largest_manifest_fits_bound),
		cmocka_unit_test(test_encode_errors),
		cmocka_unit_test(test_truncation_at_every_byte),
		cmocka_unit_test(test_field_order_is_free),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_indefinite_lengths),
		cmocka_unit_test(test_duplicate_unknown_missing),
		cmocka_unit_test(test_trailing),
		cmocka_unit_test(test_sign_and_verify),
		cmocka_unit_test(test_schema_examples),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
