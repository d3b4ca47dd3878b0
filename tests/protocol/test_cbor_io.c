/* The bounded CBOR reader and writer that every protocol codec builds on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tinyfleet/protocol/cbor_io.h"

static void
test_round_trip_every_type(void **state)
{
	uint8_t buf[128];
	struct tfp_cbor_writer w;
	struct tfp_cbor_reader r;
	size_t len, n;
	uint64_t u;
	int64_t i;
	const uint8_t *p;
	const char *t;
	bool b;
	double f;
	char name[8];
	(void)state;

	tfp_cbor_writer_init(&w, buf, sizeof(buf));
	tfp_cbor_put_map(&w, 2);
	tfp_cbor_put_uint(&w, 70000);
	tfp_cbor_put_int(&w, -300);
	tfp_cbor_put_textz(&w, "k");
	tfp_cbor_put_array(&w, 4);
	tfp_cbor_put_bytes(&w, (const uint8_t *)"\x01\x02", 2);
	tfp_cbor_put_bool(&w, true);
	tfp_cbor_put_float(&w, 0.1);
	tfp_cbor_put_float(&w, 1.5);
	tfp_cbor_put_tag(&w, 18);
	tfp_cbor_put_textz(&w, "abc");
	assert_int_equal(tfp_cbor_writer_finish(&w, &len), 0);

	tfp_cbor_reader_init(&r, buf, len);
	assert_int_equal(tfp_cbor_read_map(&r, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(tfp_cbor_read_uint(&r, &u), 0);
	assert_int_equal(u, 70000);
	assert_int_equal(tfp_cbor_read_int(&r, &i), 0);
	assert_int_equal(i, -300);
	assert_int_equal(tfp_cbor_read_text(&r, &t, &n), 0);
	assert_memory_equal(t, "k", 1);
	assert_int_equal(tfp_cbor_read_array(&r, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(tfp_cbor_read_bytes(&r, &p, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(tfp_cbor_read_bool(&r, &b), 0);
	assert_true(b);
	assert_int_equal(tfp_cbor_read_number(&r, &f), 0);
	assert_true(f == 0.1);          /* not representable in single: sent as double */
	assert_int_equal(tfp_cbor_read_number(&r, &f), 0);
	assert_true(f == 1.5);
	assert_int_equal(tfp_cbor_read_tag(&r, &u), 0);
	assert_int_equal(u, 18);
	assert_int_equal(tfp_cbor_read_text_into(&r, name, sizeof(name)), 0);
	assert_string_equal(name, "abc");
	assert_int_equal(tfp_cbor_expect_end(&r), 0);
}

static void
test_writer_reports_needed_size(void **state)
{
	uint8_t buf[4];
	struct tfp_cbor_writer w;
	size_t len;
	(void)state;

	memset(buf, 0xAA, sizeof(buf));
	tfp_cbor_writer_init(&w, buf, 3);
	tfp_cbor_put_textz(&w, "hello");
	assert_int_equal(tfp_cbor_writer_finish(&w, &len), TFP_ERR_BUFFER);
	assert_int_equal(len, 6);
	assert_int_equal(buf[3], 0xAA);  /* never writes past cap */
}

static void
test_truncation_at_every_byte(void **state)
{
	uint8_t buf[64];
	struct tfp_cbor_writer w;
	struct tfp_cbor_reader r;
	size_t len;
	(void)state;

	tfp_cbor_writer_init(&w, buf, sizeof(buf));
	tfp_cbor_put_array(&w, 3);
	tfp_cbor_put_uint(&w, 1u << 20);
	tfp_cbor_put_textz(&w, "abcdef");
	tfp_cbor_put_map(&w, 1);
	tfp_cbor_put_int(&w, -1000);
	tfp_cbor_put_float(&w, 0.25);
	assert_int_equal(tfp_cbor_writer_finish(&w, &len), 0);

	for (size_t cut = 0; cut < len; cut++) {
		tfp_cbor_reader_init(&r, buf, cut);
		assert_int_equal(tfp_cbor_skip(&r), TFP_ERR_TRUNCATED);
		assert_int_equal(r.pos, 0);
	}
	tfp_cbor_reader_init(&r, buf, len);
	assert_int_equal(tfp_cbor_skip(&r), 0);
	assert_int_equal(tfp_cbor_expect_end(&r), 0);
}

static void
test_rejects_indefinite_and_malformed(void **state)
{
	static const uint8_t indef_array[] = { 0x9f, 0x01, 0xff };
	static const uint8_t indef_bytes[] = { 0x5f, 0x41, 0x00, 0xff };
	static const uint8_t indef_map[] = { 0xbf, 0x01, 0x02, 0xff };
	static const uint8_t lone_break[] = { 0xff };
	static const uint8_t reserved_ai[] = { 0x1c };
	static const uint8_t huge_string[] = { 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	                                       0xff, 0xf0, 0x00 };
	static const uint8_t huge_array[] = { 0x9b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff,
	                                      0xff, 0xff };
	struct tfp_cbor_reader r;
	struct tfp_cbor_item it;
	(void)state;

	tfp_cbor_reader_init(&r, indef_array, sizeof(indef_array));
	assert_int_equal(tfp_cbor_next(&r, &it), TFP_ERR_INDEFINITE);
	tfp_cbor_reader_init(&r, indef_bytes, sizeof(indef_bytes));
	assert_int_equal(tfp_cbor_next(&r, &it), TFP_ERR_INDEFINITE);
	tfp_cbor_reader_init(&r, indef_map, sizeof(indef_map));
	assert_int_equal(tfp_cbor_skip(&r), TFP_ERR_INDEFINITE);
	tfp_cbor_reader_init(&r, lone_break, sizeof(lone_break));
	assert_int_equal(tfp_cbor_next(&r, &it), TFP_ERR_MALFORMED);
	tfp_cbor_reader_init(&r, reserved_ai, sizeof(reserved_ai));
	assert_int_equal(tfp_cbor_next(&r, &it), TFP_ERR_MALFORMED);
	tfp_cbor_reader_init(&r, huge_string, sizeof(huge_string));
	assert_int_equal(tfp_cbor_next(&r, &it), TFP_ERR_TRUNCATED);
	tfp_cbor_reader_init(&r, huge_array, sizeof(huge_array));
	assert_int_equal(tfp_cbor_skip(&r), TFP_ERR_TRUNCATED);
}

static void
test_wrong_type_does_not_advance(void **state)
{
	static const uint8_t text[] = { 0x61, 'x' };
	static const uint8_t big[] = { 0x1b, 0x80, 0, 0, 0, 0, 0, 0, 0 };
	struct tfp_cbor_reader r;
	uint64_t u;
	uint32_t u32;
	int64_t i;
	char small[1];
	(void)state;

	tfp_cbor_reader_init(&r, text, sizeof(text));
	assert_int_equal(tfp_cbor_read_uint(&r, &u), TFP_ERR_WRONG_TYPE);
	assert_int_equal(r.pos, 0);
	assert_int_equal(tfp_cbor_read_text_into(&r, small, sizeof(small)), TFP_ERR_OVERSIZE);
	tfp_cbor_reader_init(&r, big, sizeof(big));
	assert_int_equal(tfp_cbor_read_u32(&r, &u32), TFP_ERR_RANGE);
	assert_int_equal(tfp_cbor_read_int(&r, &i), TFP_ERR_RANGE);
	assert_int_equal(tfp_cbor_read_uint(&r, &u), 0);
	assert_true(u == 0x8000000000000000ull);
}

static void
test_every_tag_head_decodes(void **state)
{
	/* Tags 6..20 fit the initial byte; libcbor 0.8 alone would refuse them. */
	for (uint64_t tag = 0; tag < 300; tag++) {
		uint8_t buf[16];
		struct tfp_cbor_writer w;
		struct tfp_cbor_reader r;
		size_t len;
		uint64_t got = UINT64_MAX;
		(void)state;

		tfp_cbor_writer_init(&w, buf, sizeof(buf));
		tfp_cbor_put_tag(&w, tag);
		tfp_cbor_put_uint(&w, 1);
		assert_int_equal(tfp_cbor_writer_finish(&w, &len), 0);
		tfp_cbor_reader_init(&r, buf, len);
		assert_int_equal(tfp_cbor_read_tag(&r, &got), 0);
		assert_true(got == tag);
		tfp_cbor_reader_init(&r, buf, len);
		assert_int_equal(tfp_cbor_skip(&r), 0);
		assert_int_equal(tfp_cbor_expect_end(&r), 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_every_type),
		cmocka_unit_test(test_writer_reports_needed_size),
		cmocka_unit_test(test_truncation_at_every_byte),
		cmocka_unit_test(test_rejects_indefinite_and_malformed),
		cmocka_unit_test(test_wrong_type_does_not_advance),
		cmocka_unit_test(test_every_tag_head_decodes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
