/* Test helpers for the device-plane message codecs. See msg_testutil.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "msg_testutil.h"
#include "tinyfleet/protocol/cbor_io.h"

/* A placeholder COSE_Sign1 (tag 18, [h'a10126', {}, payload, signature]); opaque to the
 * command codec, so it need not verify. */
const uint8_t mt_manifest[] = {
	0xd2, 0x84, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0x4a, 'p', 'a', 'y', 'l', 'o', 'a', 'd',
	'.', '.', '.', 0x58, 0x40,
	0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
	0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
	0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
	0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
	0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
};
const size_t mt_manifest_len = sizeof(mt_manifest);
const uint8_t mt_chunk_data[] = "0123456789abcdef0123456789abcdef";
const size_t mt_chunk_data_len = 32;

static void
fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + 7 * i);
}

static void
set_text(char *dst, size_t cap, const char *s)
{
	size_t n = strlen(s);
	assert_true(n < cap);
	memcpy(dst, s, n + 1);
}

void
mt_sample_state(struct tfp_state *s)
{
	memset(s, 0, sizeof(*s));
	s->wire_version = TFP_WIRE_VERSION;
	set_text(s->device_id, sizeof(s->device_id), "pump-0042");
	set_text(s->device_class, sizeof(s->device_class), "stm32l4-vib");
	s->ram_bytes = 65536;
	s->flash_bytes = 262144;
	s->sensor_count = 2;
	set_text(s->sensors[0], sizeof(s->sensors[0]), "accel3");
	set_text(s->sensors[1], sizeof(s->sensors[1]), "temp");
	set_text(s->agent_version, sizeof(s->agent_version), "0.1.0");
	s->agent_abi = 1;
	s->slots[0].state = TFP_SLOT_CONFIRMED;
	set_text(s->slots[0].model, sizeof(s->slots[0].model), "pump-anomaly");
	set_text(s->slots[0].version, sizeof(s->slots[0].version), "1.4.2");
	s->slots[0].sequence = 7;
	fill(s->slots[0].digest, TFP_DIGEST_LEN, 0xa0);
	s->slots[1].state = TFP_SLOT_EMPTY;
	s->active_slot = 0;
	s->has_command = true;
	s->command_id = 1001;
}

void
mt_sample_update(struct tfp_command *c, enum tfp_fetch fetch)
{
	memset(c, 0, sizeof(*c));
	c->type = TFP_MSG_UPDATE;
	c->command_id = 1002;
	c->u.update.manifest = mt_manifest;
	c->u.update.manifest_len = mt_manifest_len;
	c->u.update.fetch = fetch;
	fill(c->u.update.object_id, TFP_DIGEST_LEN, 0x10);
	if (fetch == TFP_FETCH_DELTA)
		fill(c->u.update.base_digest, TFP_DIGEST_LEN, 0xa0);
	c->u.update.object_size = fetch == TFP_FETCH_DELTA ? 1877 : 41216;
	c->u.update.chunk_size = 1024;
}

void
mt_sample_rollback(struct tfp_command *c)
{
	memset(c, 0, sizeof(*c));
	c->type = TFP_MSG_ROLLBACK;
	c->command_id = 1003;
}

void
mt_sample_config(struct tfp_command *c)
{
	memset(c, 0, sizeof(*c));
	c->type = TFP_MSG_CONFIG;
	c->command_id = 1004;
	c->u.config.present = TFP_CFG_ALL;
	c->u.config.telemetry_period_s = 60;
	c->u.config.telemetry_samples = 500;
	c->u.config.ph_delta = 0.005f;
	c->u.config.ph_lambda = 50.0f;
	c->u.config.adwin_delta = 0.002f;
	c->u.config.psi_alarm = 0.25f;
	c->u.config.shift_alarm = 3.0f;
	c->u.config.label_rate = 0.1f;
}

void
mt_sample_chunk_request(struct tfp_chunk_request *q)
{
	memset(q, 0, sizeof(*q));
	q->command_id = 1002;
	fill(q->object_id, TFP_DIGEST_LEN, 0x10);
	q->offset = 1024;
	q->length = 1024;
}

void
mt_sample_chunk_response(struct tfp_chunk_response *p)
{
	memset(p, 0, sizeof(*p));
	fill(p->object_id, TFP_DIGEST_LEN, 0x10);
	p->offset = 1856;
	p->total = 1888;
	p->data = mt_chunk_data;
	p->len = mt_chunk_data_len;
}

void
mt_sample_progress(struct tfp_report *r)
{
	memset(r, 0, sizeof(*r));
	r->type = TFP_MSG_PROGRESS;
	r->command_id = 1002;
	r->phase = TFP_PHASE_FETCH;
	r->has_bytes = true;
	r->bytes_done = 1024;
	r->bytes_total = 1877;
}

void
mt_sample_result_ok(struct tfp_report *r)
{
	memset(r, 0, sizeof(*r));
	r->type = TFP_MSG_RESULT;
	r->command_id = 1002;
	r->phase = TFP_PHASE_CONFIRM;
	r->has_bytes = true;
	r->bytes_done = 1877;
	r->bytes_total = 1877;
	r->outcome = TFP_OUTCOME_OK;
	r->reason = TFP_REASON_CONFIRMED;
}

void
mt_sample_result_fail(struct tfp_report *r)
{
	memset(r, 0, sizeof(*r));
	r->type = TFP_MSG_RESULT;
	r->command_id = 1002;
	r->phase = TFP_PHASE_CHECK;
	r->outcome = TFP_OUTCOME_REFUSED;
	r->reason = TFP_REASON_BAD_SIGNATURE;
	r->has_error = true;
	r->error = TFP_ERR_BAD_SIGNATURE;
}

/* ---- map editor ---- */

void
mt_split(const uint8_t *msg, size_t len, struct mt_map *m)
{
	struct tfp_cbor_reader r;
	size_t n;

	tfp_cbor_reader_init(&r, msg, len);
	assert_int_equal(tfp_cbor_read_map(&r, &n), 0);
	assert_true(n <= MT_MAX_FIELDS);
	m->n = n;
	for (size_t i = 0; i < n; i++) {
		size_t k0 = r.pos, v0;
		assert_int_equal(tfp_cbor_skip(&r), 0);
		assert_true(r.pos - k0 <= sizeof(m->f[i].key));
		memcpy(m->f[i].key, msg + k0, r.pos - k0);
		m->f[i].key_len = r.pos - k0;
		v0 = r.pos;
		assert_int_equal(tfp_cbor_skip(&r), 0);
		m->f[i].val = msg + v0;
		m->f[i].val_len = r.pos - v0;
	}
	assert_int_equal(tfp_cbor_expect_end(&r), 0);
}

size_t
mt_join(const struct mt_map *m, uint8_t *out, size_t cap)
{
	struct tfp_cbor_writer w;
	size_t len;

	tfp_cbor_writer_init(&w, out, cap);
	tfp_cbor_put_map(&w, m->n);
	assert_int_equal(tfp_cbor_writer_finish(&w, &len), 0);
	for (size_t i = 0; i < m->n; i++) {
		assert_true(len + m->f[i].key_len + m->f[i].val_len <= cap);
		memcpy(out + len, m->f[i].key, m->f[i].key_len);
		len += m->f[i].key_len;
		memcpy(out + len, m->f[i].val, m->f[i].val_len);
		len += m->f[i].val_len;
	}
	return len;
}

int
mt_find(const struct mt_map *m, uint64_t k)
{
	uint8_t key[16];
	struct tfp_cbor_writer w;
	size_t len;

	tfp_cbor_writer_init(&w, key, sizeof(key));
	tfp_cbor_put_uint(&w, k);
	assert_int_equal(tfp_cbor_writer_finish(&w, &len), 0);
	for (size_t i = 0; i < m->n; i++)
		if (m->f[i].key_len == len && memcmp(m->f[i].key, key, len) == 0)
			return (int)i;
	return -1;
}

void
mt_set(struct mt_map *m, uint64_t k, const uint8_t *val, size_t len)
{
	int i = mt_find(m, k);
	if (i < 0) {
		struct tfp_cbor_writer w;
		assert_true(m->n < MT_MAX_FIELDS);
		i = (int)m->n++;
		tfp_cbor_writer_init(&w, m->f[i].key, sizeof(m->f[i].key));
		tfp_cbor_put_uint(&w, k);
		assert_int_equal(tfp_cbor_writer_finish(&w, &m->f[i].key_len), 0);
	}
	m->f[i].val = val;
	m->f[i].val_len = len;
}

void
mt_del(struct mt_map *m, uint64_t k)
{
	int i = mt_find(m, k);
	assert_true(i >= 0);
	memmove(&m->f[i], &m->f[i + 1], (m->n - (size_t)i - 1) * sizeof(m->f[0]));
	m->n--;
}

int
mt_decode_copy(mt_decode_fn dec, const uint8_t *buf, size_t len)
{
	uint8_t *copy = malloc(len > 0 ? len : 1);
	int rc;
	assert_non_null(copy);
	if (len > 0)
		memcpy(copy, buf, len);
	rc = dec(copy, len);
	free(copy);
	return rc;
}

int
mt_decode_map(mt_decode_fn dec, const struct mt_map *m)
{
	static uint8_t out[MT_BUF];
	size_t len = mt_join(m, out, sizeof(out));
	return mt_decode_copy(dec, out, len);
}

/* An indefinite-length version of a definite string or array value, or 0 if v is none. */
static size_t
make_indefinite(const uint8_t *v, size_t len, uint8_t *out, size_t cap)
{
	unsigned major = v[0] >> 5;
	struct tfp_cbor_reader r;
	struct tfp_cbor_item it;

	if (major != 2 && major != 3 && major != 4)
		return 0;
	tfp_cbor_reader_init(&r, v, len);
	assert_int_equal(tfp_cbor_next(&r, &it), 0);
	assert_true(len + 2 <= cap);
	out[0] = (uint8_t)((major << 5) | 31);
	if (major == 4) {
		/* The elements follow the head; copy them and close with a break. */
		memcpy(out + 1, v + r.pos, len - r.pos);
		out[1 + len - r.pos] = 0xff;
		return len - r.pos + 2;
	}
	/* One definite chunk inside the indefinite string, then a break. */
	memcpy(out + 1, v, len);
	out[1 + len] = 0xff;
	return len + 2;
}

void
mt_check_strict(mt_decode_fn dec, const uint8_t *msg, size_t len, uint32_t required,
                enum tfp_msg_type own_type)
{
	static uint8_t buf[MT_BUF];
	static const uint8_t text_x[] = { 0x61, 'x' };
	static const uint8_t uint0[] = { 0x00 };
	struct mt_map base, m;
	uint8_t val[MT_BUF / 2];

	assert_int_equal(mt_decode_copy(dec, msg, len), 0);
	mt_split(msg, len, &base);

	/* Truncation at every byte. */
	for (size_t k = 0; k < len; k++)
		assert_int_equal(mt_decode_copy(dec, msg, k), TFP_ERR_TRUNCATED);

	/* Trailing bytes. */
	memcpy(buf, msg, len);
	buf[len] = 0x00;
	assert_int_equal(mt_decode_copy(dec, buf, len + 1), TFP_ERR_TRAILING);

	/* Not a map at all. */
	buf[0] = 0x80 | (msg[0] & 0x1f);
	assert_int_equal(mt_decode_copy(dec, buf, len), TFP_ERR_WRONG_TYPE);

	/* A top-level map head that claims 2^64 - 1 pairs. */
	buf[0] = 0xbb;
	memset(buf + 1, 0xff, 8);
	memcpy(buf + 9, msg + 1, len - 1);
	assert_int_equal(mt_decode_copy(dec, buf, len + 8), TFP_ERR_TRUNCATED);

	/* Indefinite-length top-level map. */
	buf[0] = 0xbf;
	memcpy(buf + 1, msg + 1, len - 1);   /* every sample map head is one byte */
	assert_true((msg[0] & 0x1f) < 24);
	buf[len] = 0xff;
	assert_int_equal(mt_decode_copy(dec, buf, len + 1), TFP_ERR_INDEFINITE);

	for (size_t i = 0; i < base.n; i++) {
		const struct mt_field *f = &base.f[i];
		size_t n;

		/* A wrong major type for the field. */
		m = base;
		/* Integers and floats get a text string (a float field accepts integers); the
		 * rest an integer. */
		if ((f->val[0] >> 5) == 0 || (f->val[0] >> 5) == 1 || (f->val[0] >> 5) == 7) {
			m.f[i].val = text_x;
			m.f[i].val_len = sizeof(text_x);
		} else {
			m.f[i].val = uint0;
			m.f[i].val_len = sizeof(uint0);
		}
		assert_int_equal(mt_decode_map(dec, &m), TFP_ERR_WRONG_TYPE);

		/* The field twice. */
		m = base;
		m.f[m.n++] = *f;
		assert_int_equal(mt_decode_map(dec, &m), TFP_ERR_DUPLICATE_FIELD);

		/* A string or array value whose head declares far more than the input holds. */
		if ((f->val[0] >> 5) >= 2 && (f->val[0] >> 5) <= 4) {
			static uint8_t huge[9] = { 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
			huge[0] = (uint8_t)((f->val[0] & 0xe0) | 27);
			m = base;
			m.f[i].val = huge;
			m.f[i].val_len = sizeof(huge);
			assert_int_equal(mt_decode_map(dec, &m), TFP_ERR_TRUNCATED);
			huge[0] = (uint8_t)((f->val[0] & 0xe0) | 26);   /* 2^32 - 1 */
			m.f[i].val_len = 5;
			assert_int_equal(mt_decode_map(dec, &m), TFP_ERR_TRUNCATED);
		}

		/* An indefinite-length value. */
		if ((n = make_indefinite(f->val, f->val_len, val, sizeof(val))) > 0) {
			m = base;
			m.f[i].val = val;
			m.f[i].val_len = n;
			assert_int_equal(mt_decode_map(dec, &m), TFP_ERR_INDEFINITE);
		}
	}

	/* Each required key dropped; without key 0 the map is not a typed message. */
	for (unsigned k = 0; k < 32; k++) {
		if (!(required & (UINT32_C(1) << k)))
			continue;
		m = base;
		mt_del(&m, k);
		assert_int_equal(mt_decode_map(dec, &m),
		                 k == 0 ? TFP_ERR_UNKNOWN_MESSAGE : TFP_ERR_MISSING_FIELD);
	}

	/* Unknown keys: an unused small key, a large one, a text key, a negative key. */
	{
		static const struct { size_t len; uint8_t b[4]; } keys[] = {
			{ 2, { 0x18, 31 } }, { 3, { 0x19, 0x03, 0xe8 } }, { 2, { 0x61, 'k' } },
			{ 1, { 0x20 } }, { 2, { 0x41, 0x01 } },
		};
		for (size_t j = 0; j < sizeof(keys) / sizeof(keys[0]); j++) {
			m = base;
			memcpy(m.f[m.n].key, keys[j].b, keys[j].len);
			m.f[m.n].key_len = keys[j].len;
			m.f[m.n].val = uint0;
			m.f[m.n].val_len = 1;
			m.n++;
			assert_int_equal(mt_decode_map(dec, &m), TFP_ERR_UNKNOWN_FIELD);
		}
	}

	/* Other message types, the reserved telemetry value and an unknown one. */
	for (unsigned t = 0; t <= 12; t++) {
		uint8_t tv[1] = { (uint8_t)t };
		int rc;
		if (t == (unsigned)own_type)
			continue;
		m = base;
		mt_set(&m, 0, tv, 1);
		rc = mt_decode_map(dec, &m);
		/* A sibling type of the same decoder may fail later on its own rules, or even
		 * fit them (a rollback re-typed as an empty config). */
		if (rc != TFP_ERR_UNKNOWN_MESSAGE)
			assert_true(rc == TFP_ERR_UNKNOWN_FIELD || rc == TFP_ERR_MISSING_FIELD ||
			            rc == TFP_ERR_WRONG_TYPE || rc == TFP_ERR_RANGE || rc == 0);
	}
	/* Key 0 not first: the map must start with the type. */
	m = base;
	{
		struct mt_field t = m.f[0];
		m.f[0] = m.f[1];
		m.f[1] = t;
	}
	assert_int_equal(mt_decode_map(dec, &m), TFP_ERR_UNKNOWN_MESSAGE);
}

long
mt_hex_parse(const char *text, uint8_t *out, size_t cap)
{
	size_t n = 0;
	int half = -1;

	for (const char *p = text; *p != '\0'; p++) {
		int v;
		if (*p == '#') {
			while (*p != '\0' && *p != '\n')
				p++;
			if (*p == '\0')
				break;
			continue;
		}
		if (*p >= '0' && *p <= '9')
			v = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			v = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			v = *p - 'A' + 10;
		else if (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
			continue;
		else
			return -1;
		if (half < 0) {
			half = v;
		} else {
			if (n >= cap)
				return -1;
			out[n++] = (uint8_t)(half << 4 | v);
			half = -1;
		}
	}
	return half < 0 ? (long)n : -1;
}

long
mt_read_file(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n;
	if (f == NULL)
		return -1;
	n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = '\0';
	return (long)n;
}
