/* hello/state codec: round trips, size reporting, and strict decoding of bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "msg_testutil.h"
#include "tinyfleet/protocol/cbor_io.h"
#include "tinyfleet/protocol/msg_state.h"

static uint8_t enc[MT_BUF];
static size_t enc_len;
static struct tfp_state dec_state;

static int
dec(const uint8_t *buf, size_t len)
{
	return tfp_state_decode(buf, len, &dec_state);
}

static void
encode(const struct tfp_state *s)
{
	assert_int_equal(tfp_state_encode(s, enc, sizeof(enc), &enc_len), 0);
}

static void
round_trip(const struct tfp_state *s)
{
	struct tfp_state out;
	uint8_t again[MT_BUF];
	size_t again_len;

	encode(s);
	assert_int_equal(tfp_state_decode(enc, enc_len, &out), 0);
	/* Both sides start from zeroed structs, so even padding and string tails agree. */
	assert_memory_equal(&out, s, sizeof(out));
	assert_int_equal(tfp_state_encode(&out, again, sizeof(again), &again_len), 0);
	assert_int_equal(again_len, enc_len);
	assert_memory_equal(again, enc, enc_len);
}

static void
test_round_trip(void **state)
{
	struct tfp_state s;
	(void)state;

	mt_sample_state(&s);
	round_trip(&s);

	/* Both slots filled, B active, no command, no sensors. */
	s.slots[1] = s.slots[0];
	s.slots[1].state = TFP_SLOT_PENDING;
	s.slots[1].sequence = 8;
	s.slots[1].digest[0] ^= 0xff;
	s.active_slot = 1;
	s.has_command = false;
	s.command_id = 0;
	s.sensor_count = 0;
	memset(s.sensors, 0, sizeof(s.sensors));
	round_trip(&s);

	/* A factory-fresh device: both slots empty. */
	memset(s.slots, 0, sizeof(s.slots));
	s.active_slot = 0;
	round_trip(&s);
}

static void
fill_text(char *dst, size_t cap, char c)
{
	memset(dst, c, cap - 1);
	dst[cap - 1] = '\0';
}

static void
test_largest_fits_wire_max(void **state)
{
	struct tfp_state s;
	(void)state;

	memset(&s, 0, sizeof(s));
	s.wire_version = UINT32_MAX;
	fill_text(s.device_id, sizeof(s.device_id), 'd');
	fill_text(s.device_class, sizeof(s.device_class), 'c');
	fill_text(s.agent_version, sizeof(s.agent_version), 'v');
	s.ram_bytes = s.flash_bytes = s.agent_abi = UINT32_MAX;
	s.sensor_count = TFP_SENSORS_MAX;
	for (int i = 0; i < TFP_SENSORS_MAX; i++)
		fill_text(s.sensors[i], sizeof(s.sensors[i]), (char)('a' + i));
	for (int i = 0; i < TFP_SLOTS; i++) {
		s.slots[i].state = TFP_SLOT_FAILED;
		fill_text(s.slots[i].model, sizeof(s.slots[i].model), 'm');
		fill_text(s.slots[i].version, sizeof(s.slots[i].version), '9');
		s.slots[i].sequence = UINT64_MAX;
		memset(s.slots[i].digest, 0xee, TFP_DIGEST_LEN);
	}
	s.active_slot = 1;
	s.has_command = true;
	s.command_id = UINT64_MAX;
	round_trip(&s);
	printf("largest state encoding: %zu bytes (TFP_STATE_WIRE_MAX %d)\n", enc_len,
	       TFP_STATE_WIRE_MAX);
	assert_true(enc_len <= TFP_STATE_WIRE_MAX);
}

static void
test_reports_needed_size(void **state)
{
	struct tfp_state s;
	uint8_t small[16];
	size_t need;
	(void)state;

	mt_sample_state(&s);
	encode(&s);
	assert_int_equal(tfp_state_encode(&s, NULL, 0, &need), TFP_ERR_BUFFER);
	assert_int_equal(need, enc_len);
	memset(small, 0x55, sizeof(small));
	assert_int_equal(tfp_state_encode(&s, small, 8, &need), TFP_ERR_BUFFER);
	assert_int_equal(need, enc_len);
	for (size_t i = 8; i < sizeof(small); i++)
		assert_int_equal(small[i], 0x55);   /* never writes past cap */
	assert_int_equal(tfp_state_encode(&s, enc, enc_len - 1, &need), TFP_ERR_BUFFER);
	assert_int_equal(tfp_state_encode(&s, enc, enc_len, &need), 0);
	assert_int_equal(need, enc_len);
}

static void
test_encoder_refuses_invalid_struct(void **state)
{
	struct tfp_state s;
	size_t len;
	(void)state;

	mt_sample_state(&s);
	memcpy(s.device_id, "a/b", 4);
	assert_int_equal(tfp_state_encode(&s, enc, sizeof(enc), &len), TFP_ERR_ARG);
	mt_sample_state(&s);
	memset(s.device_class, 'x', sizeof(s.device_class));   /* no NUL inside */
	assert_int_equal(tfp_state_encode(&s, enc, sizeof(enc), &len), TFP_ERR_ARG);
	mt_sample_state(&s);
	s.sensor_count = TFP_SENSORS_MAX + 1;
	assert_int_equal(tfp_state_encode(&s, enc, sizeof(enc), &len), TFP_ERR_ARG);
	mt_sample_state(&s);
	s.slots[0].state = (enum tfp_slot_state)4;
	assert_int_equal(tfp_state_encode(&s, enc, sizeof(enc), &len), TFP_ERR_ARG);
	mt_sample_state(&s);
	s.slots[0].model[0] = '\0';
	assert_int_equal(tfp_state_encode(&s, enc, sizeof(enc), &len), TFP_ERR_ARG);
	mt_sample_state(&s);
	s.active_slot = 2;
	assert_int_equal(tfp_state_encode(&s, enc, sizeof(enc), &len), TFP_ERR_ARG);
	mt_sample_state(&s);
	s.wire_version = 0;
	assert_int_equal(tfp_state_encode(&s, enc, sizeof(enc), &len), TFP_ERR_ARG);
}

static void
test_strict_top_level(void **state)
{
	struct tfp_state s;
	(void)state;

	mt_sample_state(&s);
	encode(&s);
	mt_check_strict(dec, enc, enc_len, 0x7ff, TFP_MSG_STATE);
	/* key 11 (command id) is optional */
	{
		struct mt_map m;
		mt_split(enc, enc_len, &m);
		mt_del(&m, 11);
		assert_int_equal(mt_decode_map(dec, &m), 0);
		assert_false(dec_state.has_command);
	}
}

/* Writes a text string of n copies of c as raw CBOR. */
static size_t
raw_text(uint8_t *out, size_t cap, size_t n, char c)
{
	struct tfp_cbor_writer w;
	char tmp[256];
	size_t len;
	assert_true(n <= sizeof(tmp));
	memset(tmp, c, n);
	tfp_cbor_writer_init(&w, out, cap);
	tfp_cbor_put_text(&w, tmp, n);
	assert_int_equal(tfp_cbor_writer_finish(&w, &len), 0);
	return len;
}

static void
expect_field(struct mt_map *base, uint64_t key, const uint8_t *val, size_t len, int want)
{
	struct mt_map m = *base;
	mt_set(&m, key, val, len);
	assert_int_equal(mt_decode_map(dec, &m), want);
}

static void
test_bounds_and_ranges(void **state)
{
	struct tfp_state s;
	struct mt_map base;
	uint8_t v[512];
	size_t n;
	(void)state;

	mt_sample_state(&s);
	encode(&s);
	mt_split(enc, enc_len, &base);

	n = raw_text(v, sizeof(v), TFP_DEVICE_ID_MAX, 'd');
	expect_field(&base, 2, v, n, 0);
	n = raw_text(v, sizeof(v), TFP_DEVICE_ID_MAX + 1, 'd');
	expect_field(&base, 2, v, n, TFP_ERR_OVERSIZE);
	expect_field(&base, 2, (const uint8_t *)"\x63" "a/b", 4, TFP_ERR_BAD_TEXT);
	expect_field(&base, 2, (const uint8_t *)"\x60", 1, TFP_ERR_BAD_TEXT);
	expect_field(&base, 2, (const uint8_t *)"\x63" "a\0b", 4, TFP_ERR_BAD_TEXT);
	n = raw_text(v, sizeof(v), TFP_CLASS_MAX + 1, 'c');
	expect_field(&base, 3, v, n, TFP_ERR_OVERSIZE);
	expect_field(&base, 3, (const uint8_t *)"\x63" "a b", 4, TFP_ERR_BAD_TEXT);
	n = raw_text(v, sizeof(v), TFP_VERSION_MAX + 1, '1');
	expect_field(&base, 7, v, n, TFP_ERR_OVERSIZE);

	/* 32-bit fields refuse 2^32; the wire version refuses 0. */
	expect_field(&base, 4, (const uint8_t *)"\x1b\0\0\0\1\0\0\0\0", 9, TFP_ERR_RANGE);
	expect_field(&base, 5, (const uint8_t *)"\x1a\xff\xff\xff\xff", 5, 0);
	expect_field(&base, 8, (const uint8_t *)"\x1b\0\0\0\1\0\0\0\0", 9, TFP_ERR_RANGE);
	expect_field(&base, 1, (const uint8_t *)"\x00", 1, TFP_ERR_RANGE);
	expect_field(&base, 11, (const uint8_t *)"\x1b\xff\xff\xff\xff\xff\xff\xff\xff", 9, 0);

	/* Active slot is 0 or 1. */
	expect_field(&base, 10, (const uint8_t *)"\x01", 1, 0);
	expect_field(&base, 10, (const uint8_t *)"\x02", 1, TFP_ERR_RANGE);
	expect_field(&base, 10, (const uint8_t *)"\x18\xff", 2, TFP_ERR_RANGE);

	/* Sensors: at most TFP_SENSORS_MAX names of at most TFP_SENSOR_NAME_MAX bytes. */
	{
		size_t k = 0;
		v[k++] = 0x80 | (TFP_SENSORS_MAX + 1);
		for (int i = 0; i < TFP_SENSORS_MAX + 1; i++) {
			v[k++] = 0x61;
			v[k++] = (uint8_t)('a' + i);
		}
		expect_field(&base, 6, v, k, TFP_ERR_OVERSIZE);
		expect_field(&base, 6, v + 3, k - 3, TFP_ERR_WRONG_TYPE);   /* not an array */
		v[2] = 0x88;   /* exactly 8: re-head the last eight */
		expect_field(&base, 6, v + 2, k - 2, 0);
		assert_int_equal(dec_state.sensor_count, TFP_SENSORS_MAX);
		assert_string_equal(dec_state.sensors[7], "i");
	}
	expect_field(&base, 6, (const uint8_t *)"\x80", 1, 0);
	expect_field(&base, 6, (const uint8_t *)"\x81\x01", 2, TFP_ERR_WRONG_TYPE);
	v[0] = 0x81;
	n = raw_text(v + 1, sizeof(v) - 1, TFP_SENSOR_NAME_MAX + 1, 's') + 1;
	expect_field(&base, 6, v, n, TFP_ERR_OVERSIZE);
	expect_field(&base, 6, (const uint8_t *)"\x81\x7f\x61x\xff", 5, TFP_ERR_INDEFINITE);
}

/* Slot list edits: slot A replaced by raw bytes, slot B stays empty. */
static void
expect_slot(struct mt_map *base, const uint8_t *slot, size_t len, int want)
{
	uint8_t v[256];
	assert_true(len + 4 <= sizeof(v));
	v[0] = 0x82;
	memcpy(v + 1, slot, len);
	memcpy(v + 1 + len, "\xa1\x00\x00", 3);
	expect_field(base, 9, v, len + 4, want);
}

static void
test_slots(void **state)
{
	struct tfp_state s;
	struct mt_map base, slot, m;
	struct tfp_cbor_reader r;
	uint8_t v[256];
	size_t n, slot_len;
	int i;
	(void)state;

	mt_sample_state(&s);
	encode(&s);
	mt_split(enc, enc_len, &base);
	i = mt_find(&base, 9);
	/* The sample's slot A (confirmed, every key), split into its own fields. */
	tfp_cbor_reader_init(&r, base.f[i].val + 1, base.f[i].val_len - 1);
	assert_int_equal(tfp_cbor_skip(&r), 0);
	slot_len = r.pos;
	mt_split(base.f[i].val + 1, slot_len, &slot);

	expect_slot(&base, base.f[i].val + 1, slot_len, 0);
	/* Two slots exactly. */
	expect_field(&base, 9, (const uint8_t *)"\x81\xa1\x00\x00", 4, TFP_ERR_RANGE);
	expect_field(&base, 9, (const uint8_t *)"\x83\xa1\x00\x00\xa1\x00\x00\xa1\x00\x00", 10,
	             TFP_ERR_RANGE);
	expect_field(&base, 9, (const uint8_t *)"\x82\xa1\x00\x00\x00", 5, TFP_ERR_WRONG_TYPE);
	expect_field(&base, 9, (const uint8_t *)"\x82\xbf\x00\x00\xff\xa1\x00\x00", 8,
	             TFP_ERR_INDEFINITE);

	/* State out of range. */
	m = slot;
	mt_set(&m, 0, (const uint8_t *)"\x04", 1);
	n = mt_join(&m, v, sizeof(v));
	expect_slot(&base, v, n, TFP_ERR_RANGE);
	/* Every key of a non-empty slot is required. */
	for (uint64_t k = 1; k <= 4; k++) {
		m = slot;
		mt_del(&m, k);
		n = mt_join(&m, v, sizeof(v));
		expect_slot(&base, v, n, TFP_ERR_MISSING_FIELD);
	}
	m = slot;
	mt_del(&m, 0);
	n = mt_join(&m, v, sizeof(v));
	expect_slot(&base, v, n, TFP_ERR_MISSING_FIELD);
	/* An empty slot carries its state only. */
	m = slot;
	mt_set(&m, 0, (const uint8_t *)"\x00", 1);
	n = mt_join(&m, v, sizeof(v));
	expect_slot(&base, v, n, TFP_ERR_UNKNOWN_FIELD);
	/* Unknown, duplicate, wrong-typed and oversize slot fields. */
	m = slot;
	mt_set(&m, 5, (const uint8_t *)"\x00", 1);
	n = mt_join(&m, v, sizeof(v));
	expect_slot(&base, v, n, TFP_ERR_UNKNOWN_FIELD);
	m = slot;
	m.f[m.n++] = slot.f[3];
	n = mt_join(&m, v, sizeof(v));
	expect_slot(&base, v, n, TFP_ERR_DUPLICATE_FIELD);
	m = slot;
	mt_set(&m, 3, (const uint8_t *)"\x20", 1);   /* negative sequence */
	n = mt_join(&m, v, sizeof(v));
	expect_slot(&base, v, n, TFP_ERR_WRONG_TYPE);
	m = slot;
	mt_set(&m, 1, (const uint8_t *)"\x41x", 2);   /* model name as bytes */
	n = mt_join(&m, v, sizeof(v));
	expect_slot(&base, v, n, TFP_ERR_WRONG_TYPE);
	{
		uint8_t d[40];
		d[0] = 0x58;
		d[1] = 31;
		memset(d + 2, 1, 31);
		m = slot;
		mt_set(&m, 4, d, 33);
		n = mt_join(&m, v, sizeof(v));
		expect_slot(&base, v, n, TFP_ERR_OVERSIZE);
		d[1] = 33;
		memset(d + 2, 1, 33);
		m = slot;
		mt_set(&m, 4, d, 35);
		n = mt_join(&m, v, sizeof(v));
		expect_slot(&base, v, n, TFP_ERR_OVERSIZE);
	}
	{
		uint8_t t[64];
		size_t tn = raw_text(t, sizeof(t), TFP_MODEL_NAME_MAX + 1, 'm');
		m = slot;
		mt_set(&m, 1, t, tn);
		n = mt_join(&m, v, sizeof(v));
		expect_slot(&base, v, n, TFP_ERR_OVERSIZE);
	}
	/* Truncated inside the slot list is a truncation of the message; covered by the
	 * every-byte truncation in test_strict_top_level. */
}

static void
test_sizes(void **state)
{
	(void)state;
	printf("sizeof(struct tfp_state) = %zu (bound %d), sizeof(struct tfp_slot) = %zu\n",
	       sizeof(struct tfp_state), TFP_STATE_STRUCT_MAX, sizeof(struct tfp_slot));
	assert_true(sizeof(struct tfp_state) <= TFP_STATE_STRUCT_MAX);
}

static void
test_peek_type(void **state)
{
	struct tfp_state s;
	enum tfp_msg_type t;
	(void)state;

	mt_sample_state(&s);
	encode(&s);
	assert_int_equal(tfp_msg_peek_type(enc, enc_len, &t), 0);
	assert_int_equal(t, TFP_MSG_STATE);
	assert_int_equal(tfp_msg_peek_type(enc, 0, &t), TFP_ERR_TRUNCATED);
	assert_int_equal(tfp_msg_peek_type((const uint8_t *)"\xa0", 1, &t),
	                 TFP_ERR_MISSING_FIELD);
	assert_int_equal(tfp_msg_peek_type((const uint8_t *)"\xa1\x00\x02", 3, &t),
	                 TFP_ERR_UNKNOWN_MESSAGE);   /* telemetry value is reserved */
	assert_int_equal(tfp_msg_peek_type((const uint8_t *)"\xa1\x00\x0a", 3, &t),
	                 TFP_ERR_UNKNOWN_MESSAGE);
	assert_int_equal(tfp_msg_peek_type((const uint8_t *)"\xa1\x01\x01", 3, &t),
	                 TFP_ERR_UNKNOWN_MESSAGE);
	assert_int_equal(tfp_msg_peek_type((const uint8_t *)"\xa1\x00\x61x", 4, &t),
	                 TFP_ERR_WRONG_TYPE);
	assert_int_equal(tfp_msg_peek_type((const uint8_t *)"\x81\x00", 2, &t),
	                 TFP_ERR_WRONG_TYPE);
	assert_int_equal(tfp_msg_peek_type((const uint8_t *)"\xbf\x00\x01\xff", 4, &t),
	                 TFP_ERR_INDEFINITE);
	assert_int_equal(tfp_msg_peek_type((const uint8_t *)"\xa1\x00\x09", 3, &t), 0);
	assert_int_equal(t, TFP_MSG_RESULT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_largest_fits_wire_max),
		cmocka_unit_test(test_reports_needed_size),
		cmocka_unit_test(test_encoder_refuses_invalid_struct),
		cmocka_unit_test(test_strict_top_level),
		cmocka_unit_test(test_bounds_and_ranges),
		cmocka_unit_test(test_slots),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_peek_type),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
