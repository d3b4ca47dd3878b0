/*
 * The generic SenML-CBOR layer under telemetry (protocol/src/senml.h): the record writer's
 * number encoding and sizes, and the reader's RFC 8428 resolution of every field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "senml.h"

static void
test_writer_sizes_and_numbers(void **state)
{
	static const struct { double v; size_t bytes; } nums[] = {
		{ 3.0, 1 }, { -1.0, 1 }, { 1000.0, 3 }, { 1764000000.0, 5 }, { 0.5, 5 },
		{ 0.1, 9 }, { -0.0, 1 }, { 9007199254740992.0, 9 }, { 1e300, 9 },
	};
	uint8_t buf[64];
	struct tfp_cbor_writer w;
	struct tfp_cbor_reader r;
	size_t len, n;
	double d;
	(void)state;

	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		struct tfp__senml_out o = { .kind = TFP__SENML_NUM, .v = nums[i].v };
		tfp_cbor_writer_init(&w, buf, sizeof(buf));
		tfp__senml_put(&w, &o);
		assert_int_equal(tfp_cbor_writer_finish(&w, &len), 0);
		assert_int_equal(len, tfp__senml_size(&o));
		/* {2: value}: map head and label take one byte each. */
		assert_int_equal(len, 2 + nums[i].bytes);
		tfp_cbor_reader_init(&r, buf, len);
		assert_int_equal(tfp_cbor_read_map(&r, &n), 0);
		assert_int_equal(n, 1);
		assert_int_equal(tfp_cbor_skip(&r), 0);
		assert_int_equal(tfp_cbor_read_number(&r, &d), 0);
		assert_true(d == nums[i].v);
	}
}

static void
test_writer_full_record(void **state)
{
	/* {-2: "b/", -3: 5, 0: "x", 1: "Cel", 3: "on"} */
	static const uint8_t want[] = { 0xa5, 0x21, 0x62, 'b', '/', 0x22, 0x05, 0x00, 0x61, 'x',
	                                0x01, 0x63, 'C', 'e', 'l', 0x03, 0x62, 'o', 'n' };
	struct tfp__senml_out o = { .bn = "b/", .has_bt = true, .bt = 5, .n = "x", .u = "Cel",
	                            .kind = TFP__SENML_STR, .vs = "on" };
	uint8_t buf[64];
	struct tfp_cbor_writer w;
	size_t len;
	(void)state;

	tfp_cbor_writer_init(&w, buf, sizeof(buf));
	tfp__senml_put(&w, &o);
	assert_int_equal(tfp_cbor_writer_finish(&w, &len), 0);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
}

/* Every label resolved as RFC 8428 §4.6 says; base fields carry over to later records. */
static void
test_reader_resolves_every_field(void **state)
{
	uint8_t buf[256];
	struct tfp_cbor_writer w;
	struct tfp__senml_reader sr;
	struct tfp__senml_rec rec;
	size_t len;
	(void)state;

	tfp_cbor_writer_init(&w, buf, sizeof(buf));
	tfp_cbor_put_array(&w, 4);
	/* {bver: 10, bn: "dev:", bt: 100, bu: "V", bv: 1, bs: 10, n: "a", v: 0.5, s: 2,
	 *  t: -2, ut: 60} */
	tfp_cbor_put_map(&w, 11);
	tfp_cbor_put_int(&w, -1); tfp_cbor_put_uint(&w, 10);
	tfp_cbor_put_int(&w, -2); tfp_cbor_put_textz(&w, "dev:");
	tfp_cbor_put_int(&w, -3); tfp_cbor_put_uint(&w, 100);
	tfp_cbor_put_int(&w, -4); tfp_cbor_put_textz(&w, "V");
	tfp_cbor_put_int(&w, -5); tfp_cbor_put_uint(&w, 1);
	tfp_cbor_put_int(&w, -6); tfp_cbor_put_uint(&w, 10);
	tfp_cbor_put_int(&w, 0); tfp_cbor_put_textz(&w, "a");
	tfp_cbor_put_int(&w, 2); tfp_cbor_put_float(&w, 0.5);
	tfp_cbor_put_int(&w, 5); tfp_cbor_put_uint(&w, 2);
	tfp_cbor_put_int(&w, 6); tfp_cbor_put_int(&w, -2);
	tfp_cbor_put_int(&w, 7); tfp_cbor_put_uint(&w, 60);
	/* {n: "b", u: "A", vs: "on"} */
	tfp_cbor_put_map(&w, 3);
	tfp_cbor_put_int(&w, 0); tfp_cbor_put_textz(&w, "b");
	tfp_cbor_put_int(&w, 1); tfp_cbor_put_textz(&w, "A");
	tfp_cbor_put_int(&w, 3); tfp_cbor_put_textz(&w, "on");
	/* {n: "c", vd: h'0102', "x": [1]} */
	tfp_cbor_put_map(&w, 3);
	tfp_cbor_put_int(&w, 0); tfp_cbor_put_textz(&w, "c");
	tfp_cbor_put_int(&w, 8); tfp_cbor_put_bytes(&w, (const uint8_t *)"\x01\x02", 2);
	tfp_cbor_put_textz(&w, "x"); tfp_cbor_put_array(&w, 1); tfp_cbor_put_uint(&w, 1);
	/* {bn: "", n: "d", vb: true} */
	tfp_cbor_put_map(&w, 3);
	tfp_cbor_put_int(&w, -2); tfp_cbor_put_textz(&w, "");
	tfp_cbor_put_int(&w, 0); tfp_cbor_put_textz(&w, "d");
	tfp_cbor_put_int(&w, 4); tfp_cbor_put_bool(&w, true);
	assert_int_equal(tfp_cbor_writer_finish(&w, &len), 0);

	assert_int_equal(tfp__senml_begin(&sr, buf, len), 0);
	assert_int_equal(tfp__senml_next(&sr, &rec), 0);
	assert_string_equal(rec.name, "dev:a");
	assert_true(rec.has_bn);
	assert_string_equal(rec.unit, "V");
	assert_true(rec.time == 98.0);
	assert_int_equal(rec.kind, TFP__SENML_NUM);
	assert_true(rec.v == 1.5);
	assert_true(rec.has_sum);
	assert_true(rec.sum == 12.0);

	assert_int_equal(tfp__senml_next(&sr, &rec), 0);
	assert_string_equal(rec.name, "dev:b");
	assert_false(rec.has_bn);
	assert_string_equal(rec.unit, "A");
	assert_true(rec.time == 100.0);
	assert_int_equal(rec.kind, TFP__SENML_STR);
	assert_int_equal(rec.vs_len, 2);
	assert_memory_equal(rec.vs, "on", 2);
	assert_false(rec.has_sum);

	assert_int_equal(tfp__senml_next(&sr, &rec), 0);
	assert_string_equal(rec.name, "dev:c");
	assert_string_equal(rec.unit, "V");
	assert_int_equal(rec.kind, TFP__SENML_DATA);
	assert_int_equal(rec.vs_len, 2);
	assert_int_equal(sr.ignored_labels, 1);

	assert_int_equal(tfp__senml_next(&sr, &rec), 0);
	assert_string_equal(rec.name, "d");
	assert_int_equal(rec.kind, TFP__SENML_BOOL);
	assert_true(rec.vb);

	assert_int_equal(tfp__senml_next(&sr, &rec), 1);
	assert_int_equal(tfp__senml_next(&sr, &rec), 1);
}

static void
test_name_chars(void **state)
{
	(void)state;
	assert_true(tfp__senml_name_chars("urn:dev:ow:10e2073a01080063/temp_1-a.b", 38));
	assert_false(tfp__senml_name_chars("a b", 3));
	assert_false(tfp__senml_name_chars("a@b", 3));
	assert_false(tfp__senml_name_chars("a+b", 3));
	assert_false(tfp__senml_name_chars("a\0b", 3));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writer_sizes_and_numbers),
		cmocka_unit_test(test_writer_full_record),
		cmocka_unit_test(test_reader_resolves_every_field),
		cmocka_unit_test(test_name_chars),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
