/* Command codec (update offer, rollback, config): round trips and strict decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "msg_testutil.h"
#include "tinyfleet/protocol/cbor_io.h"
#include "tinyfleet/protocol/msg_command.h"

static uint8_t enc[MT_BUF];
static size_t enc_len;
static struct tfp_command dec_cmd;

static int
dec(const uint8_t *buf, size_t len)
{
	return tfp_command_decode(buf, len, &dec_cmd);
}

static void
encode(const struct tfp_command *c)
{
	assert_int_equal(tfp_command_encode(c, enc, sizeof(enc), &enc_len), 0);
}

/* Encodes c, decodes it, and checks every field and a byte-identical re-encoding. */
static void
round_trip(const struct tfp_command *c)
{
	struct tfp_command out;
	uint8_t again[MT_BUF];
	size_t again_len;

	encode(c);
	assert_int_equal(tfp_command_decode(enc, enc_len, &out), 0);
	assert_int_equal(out.type, c->type);
	assert_true(out.command_id == c->command_id);
	if (c->type == TFP_MSG_UPDATE) {
		const struct tfp_update_offer *a = &c->u.update, *b = &out.u.update;
		assert_int_equal(b->manifest_len, a->manifest_len);
		assert_memory_equal(b->manifest, a->manifest, a->manifest_len);
		/* Borrowed, not copied: the manifest points into the encoded message. */
		assert_true(b->manifest > enc && b->manifest + b->manifest_len <= enc + enc_len);
		assert_int_equal(b->fetch, a->fetch);
		assert_memory_equal(b->object_id, a->object_id, TFP_DIGEST_LEN);
		assert_memory_equal(b->base_digest, a->base_digest, TFP_DIGEST_LEN);
		assert_int_equal(b->object_size, a->object_size);
		assert_int_equal(b->chunk_size, a->chunk_size);
	} else if (c->type == TFP_MSG_CONFIG) {
		assert_memory_equal(&out.u.config, &c->u.config, sizeof(c->u.config));
	}
	assert_int_equal(tfp_command_encode(&out, again, sizeof(again), &again_len), 0);
	assert_int_equal(again_len, enc_len);
	assert_memory_equal(again, enc, enc_len);
}

static void
test_round_trips(void **state)
{
	struct tfp_command c;
	(void)state;

	mt_sample_update(&c, TFP_FETCH_FULL);
	round_trip(&c);
	mt_sample_update(&c, TFP_FETCH_PACKED);
	round_trip(&c);
	mt_sample_update(&c, TFP_FETCH_DELTA);
	round_trip(&c);
	mt_sample_rollback(&c);
	round_trip(&c);
	mt_sample_config(&c);
	round_trip(&c);
	/* Every subset of settings is its own valid config, the empty one included. */
	for (uint32_t present = 0; present <= TFP_CFG_ALL; present += 0x15) {
		mt_sample_config(&c);
		c.u.config.present = present;
		encode(&c);
		assert_int_equal(tfp_command_decode(enc, enc_len, &dec_cmd), 0);
		assert_int_equal(dec_cmd.u.config.present, present);
	}
}

static void
test_largest_fits(void **state)
{
	static uint8_t manifest[TFP_MANIFEST_MAX];
	struct tfp_command c;
	(void)state;

	mt_sample_update(&c, TFP_FETCH_DELTA);
	memset(manifest, 0x33, sizeof(manifest));
	c.command_id = UINT64_MAX;
	c.u.update.manifest = manifest;
	c.u.update.manifest_len = TFP_MANIFEST_MAX;
	c.u.update.object_size = UINT32_MAX;
	c.u.update.chunk_size = TFP_CHUNK_MAX;
	round_trip(&c);
	printf("largest update offer: %zu bytes = manifest + %zu\n", enc_len,
	       enc_len - TFP_MANIFEST_MAX);
	assert_true(enc_len <= TFP_COMMAND_WIRE_OVERHEAD + TFP_MANIFEST_MAX);
	mt_sample_config(&c);
	c.command_id = UINT64_MAX;
	c.u.config.telemetry_period_s = TFP_CFG_PERIOD_MAX;
	c.u.config.telemetry_samples = UINT32_MAX;
	c.u.config.ph_delta = 0.1f;   /* floats are always 5 bytes */
	round_trip(&c);
	assert_true(enc_len <= TFP_COMMAND_WIRE_OVERHEAD);
}

static void
test_reports_needed_size(void **state)
{
	struct tfp_command c;
	size_t need;
	(void)state;

	mt_sample_update(&c, TFP_FETCH_DELTA);
	encode(&c);
	assert_int_equal(tfp_command_encode(&c, NULL, 0, &need), TFP_ERR_BUFFER);
	assert_int_equal(need, enc_len);
	assert_int_equal(tfp_command_encode(&c, enc, enc_len - 1, &need), TFP_ERR_BUFFER);
	assert_int_equal(need, enc_len);
}

static void
test_encoder_refuses_invalid_struct(void **state)
{
	struct tfp_command c;
	size_t len;
	(void)state;

	mt_sample_update(&c, TFP_FETCH_FULL);
	c.type = TFP_MSG_STATE;
	assert_int_equal(tfp_command_encode(&c, enc, sizeof(enc), &len), TFP_ERR_ARG);
	mt_sample_update(&c, TFP_FETCH_FULL);
	c.u.update.manifest_len = TFP_MANIFEST_MAX + 1;
	assert_int_equal(tfp_command_encode(&c, enc, sizeof(enc), &len), TFP_ERR_ARG);
	mt_sample_update(&c, TFP_FETCH_FULL);
	c.u.update.manifest_len = 0;
	assert_int_equal(tfp_command_encode(&c, enc, sizeof(enc), &len), TFP_ERR_ARG);
	mt_sample_update(&c, TFP_FETCH_FULL);
	c.u.update.fetch = (enum tfp_fetch)3;
	assert_int_equal(tfp_command_encode(&c, enc, sizeof(enc), &len), TFP_ERR_ARG);
	mt_sample_update(&c, TFP_FETCH_FULL);
	c.u.update.chunk_size = TFP_CHUNK_MAX + 1;
	assert_int_equal(tfp_command_encode(&c, enc, sizeof(enc), &len), TFP_ERR_ARG);
	mt_sample_config(&c);
	c.u.config.adwin_delta = 1.5f;
	assert_int_equal(tfp_command_encode(&c, enc, sizeof(enc), &len), TFP_ERR_ARG);
	mt_sample_config(&c);
	c.u.config.present |= 1u << 8;
	assert_int_equal(tfp_command_encode(&c, enc, sizeof(enc), &len), TFP_ERR_ARG);
}

static void
test_strict_each_kind(void **state)
{
	struct tfp_command c;
	(void)state;

	mt_sample_update(&c, TFP_FETCH_DELTA);
	encode(&c);
	mt_check_strict(dec, enc, enc_len, 0xff, TFP_MSG_UPDATE);
	mt_sample_update(&c, TFP_FETCH_FULL);
	encode(&c);
	mt_check_strict(dec, enc, enc_len, 0xef, TFP_MSG_UPDATE);
	mt_sample_rollback(&c);
	encode(&c);
	mt_check_strict(dec, enc, enc_len, 0x3, TFP_MSG_ROLLBACK);
	mt_sample_config(&c);
	encode(&c);
	mt_check_strict(dec, enc, enc_len, 0x3, TFP_MSG_CONFIG);
}

static void
expect(const struct mt_map *base, uint64_t key, const void *val, size_t len, int want)
{
	struct mt_map m = *base;
	mt_set(&m, key, val, len);
	assert_int_equal(mt_decode_map(dec, &m), want);
}

static void
test_update_rules(void **state)
{
	static uint8_t big[TFP_MANIFEST_MAX + 8];
	struct tfp_command c;
	struct mt_map full, delta, m;
	uint8_t full_buf[MT_BUF], delta_buf[MT_BUF], d[40];
	size_t full_len, delta_len;
	(void)state;

	mt_sample_update(&c, TFP_FETCH_FULL);
	assert_int_equal(tfp_command_encode(&c, full_buf, sizeof(full_buf), &full_len), 0);
	mt_split(full_buf, full_len, &full);
	mt_sample_update(&c, TFP_FETCH_DELTA);
	assert_int_equal(tfp_command_encode(&c, delta_buf, sizeof(delta_buf), &delta_len), 0);
	mt_split(delta_buf, delta_len, &delta);

	/* A delta needs its base; the other fetch methods must not name one. */
	m = delta;
	mt_del(&m, 4);
	assert_int_equal(mt_decode_map(dec, &m), TFP_ERR_MISSING_FIELD);
	expect(&delta, 3, "\x00", 1, TFP_ERR_UNKNOWN_FIELD);
	expect(&delta, 3, "\x01", 1, TFP_ERR_UNKNOWN_FIELD);
	expect(&full, 3, "\x02", 1, TFP_ERR_MISSING_FIELD);
	expect(&full, 3, "\x03", 1, TFP_ERR_RANGE);
	expect(&full, 3, "\x18\x64", 2, TFP_ERR_RANGE);

	/* Manifest: 1..TFP_MANIFEST_MAX bytes. */
	big[0] = 0x59;
	big[1] = TFP_MANIFEST_MAX >> 8;
	big[2] = TFP_MANIFEST_MAX & 0xff;
	expect(&full, 2, big, 3 + TFP_MANIFEST_MAX, 0);
	big[1] = (TFP_MANIFEST_MAX + 1) >> 8;
	big[2] = (TFP_MANIFEST_MAX + 1) & 0xff;
	expect(&full, 2, big, 3 + TFP_MANIFEST_MAX + 1, TFP_ERR_OVERSIZE);
	expect(&full, 2, "\x40", 1, TFP_ERR_RANGE);
	expect(&full, 2, "\x63" "abc", 4, TFP_ERR_WRONG_TYPE);   /* text, not bytes */

	/* Digests are exactly 32 bytes. */
	d[0] = 0x58;
	d[1] = 31;
	memset(d + 2, 7, 33);
	expect(&full, 5, d, 33, TFP_ERR_OVERSIZE);
	expect(&delta, 4, d, 33, TFP_ERR_OVERSIZE);
	d[1] = 33;
	expect(&full, 5, d, 35, TFP_ERR_OVERSIZE);
	d[1] = 32;
	expect(&full, 5, d, 34, 0);

	/* Sizes. */
	expect(&full, 6, "\x00", 1, TFP_ERR_RANGE);
	expect(&full, 6, "\x1b\0\0\0\1\0\0\0\0", 9, TFP_ERR_RANGE);
	expect(&full, 6, "\x1a\xff\xff\xff\xff", 5, 0);
	expect(&full, 7, "\x00", 1, TFP_ERR_RANGE);
	expect(&full, 7, "\x19\x40\x00", 3, 0);              /* TFP_CHUNK_MAX */
	expect(&full, 7, "\x19\x40\x01", 3, TFP_ERR_RANGE);
	expect(&full, 1, "\x3a\0\0\0\1", 5, TFP_ERR_WRONG_TYPE);   /* negative command id */

	/* A config key in an update, an update key in a rollback. */
	expect(&full, 9, "\x00", 1, TFP_ERR_UNKNOWN_FIELD);
	mt_sample_rollback(&c);
	encode(&c);
	mt_split(enc, enc_len, &m);
	expect(&m, 2, "\x41\x00", 2, TFP_ERR_UNKNOWN_FIELD);
}

static void
test_config_rules(void **state)
{
	struct tfp_command c;
	struct mt_map base;
	(void)state;

	mt_sample_config(&c);
	encode(&c);
	mt_split(enc, enc_len, &base);

	expect(&base, 2, "\x00", 1, TFP_ERR_RANGE);                 /* period 0 */
	expect(&base, 2, "\x1a\x00\x01\x51\x80", 5, 0);             /* 86400 s */
	expect(&base, 2, "\x1a\x00\x01\x51\x81", 5, TFP_ERR_RANGE);
	expect(&base, 3, "\x00", 1, TFP_ERR_RANGE);                 /* every 0 samples */
	expect(&base, 2, "\xfa\x42\x70\x00\x00", 5, TFP_ERR_WRONG_TYPE); /* 60.0 for a uint */
	/* Floats: any width, integers too; NaN, infinities, negatives and too large refused. */
	expect(&base, 6, "\xf9\x00\x00", 3, 0);                     /* half 0.0 */
	expect(&base, 6, "\xfb\x3f\x60\x62\x4d\xd2\xf1\xa9\xfc", 9, 0); /* double 0.002 */
	expect(&base, 5, "\x18\x32", 2, 0);                         /* integer 50 */
	expect(&base, 6, "\xfa\x3f\xc0\x00\x00", 5, TFP_ERR_RANGE); /* 1.5 */
	expect(&base, 9, "\xfa\x3f\x80\x00\x01", 5, TFP_ERR_RANGE); /* just above 1 */
	expect(&base, 4, "\xfa\x7f\xc0\x00\x00", 5, TFP_ERR_RANGE); /* NaN */
	expect(&base, 4, "\xf9\x7c\x00", 3, TFP_ERR_RANGE);         /* +inf */
	expect(&base, 4, "\xfa\xbf\x80\x00\x00", 5, TFP_ERR_RANGE); /* -1.0 */
	expect(&base, 4, "\x20", 1, TFP_ERR_RANGE);                 /* -1 */
	expect(&base, 5, "\xfb\x7f\xef\xff\xff\xff\xff\xff\xff", 9, TFP_ERR_RANGE); /* DBL_MAX */
	expect(&base, 7, "\xf5", 1, TFP_ERR_WRONG_TYPE);            /* true */
	expect(&base, 10, "\x00", 1, TFP_ERR_UNKNOWN_FIELD);
	{
		struct tfp_command out;
		struct mt_map m = base;
		uint8_t buf[MT_BUF];
		size_t n;
		mt_set(&m, 6, (const uint8_t *)"\xfb\x3f\x60\x62\x4d\xd2\xf1\xa9\xfc", 9);
		n = mt_join(&m, buf, sizeof(buf));
		assert_int_equal(tfp_command_decode(buf, n, &out), 0);
		assert_true(out.u.config.adwin_delta == 0.002f);
	}
}

static void
test_sizes(void **state)
{
	(void)state;
	printf("sizeof(struct tfp_command) = %zu (bound %d): update offer %zu, config %zu\n",
	       sizeof(struct tfp_command), TFP_COMMAND_STRUCT_MAX,
	       sizeof(struct tfp_update_offer), sizeof(struct tfp_config));
	assert_true(sizeof(struct tfp_command) <= TFP_COMMAND_STRUCT_MAX);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_largest_fits),
		cmocka_unit_test(test_reports_needed_size),
		cmocka_unit_test(test_encoder_refuses_invalid_struct),
		cmocka_unit_test(test_strict_each_kind),
		cmocka_unit_test(test_update_rules),
		cmocka_unit_test(test_config_rules),
		cmocka_unit_test(test_sizes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
