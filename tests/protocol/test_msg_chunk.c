/* Chunk request/response codecs: round trips, borrowing, and strict decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "msg_testutil.h"
#include "tinyfleet/protocol/msg_chunk.h"

static uint8_t enc[MT_BUF];
static size_t enc_len;
static struct tfp_chunk_request dec_q;
static struct tfp_chunk_response dec_p;

static int
dec_request(const uint8_t *buf, size_t len)
{
	return tfp_chunk_request_decode(buf, len, &dec_q);
}

static int
dec_response(const uint8_t *buf, size_t len)
{
	return tfp_chunk_response_decode(buf, len, &dec_p);
}

static void
expect(mt_decode_fn dec, const struct mt_map *base, uint64_t key, const void *val,
       size_t len, int want)
{
	struct mt_map m = *base;
	mt_set(&m, key, val, len);
	assert_int_equal(mt_decode_map(dec, &m), want);
}

static void
test_request_round_trip(void **state)
{
	struct tfp_chunk_request q, out;
	uint8_t again[64];
	size_t again_len, need;
	(void)state;

	mt_sample_chunk_request(&q);
	assert_int_equal(tfp_chunk_request_encode(&q, enc, sizeof(enc), &enc_len), 0);
	assert_int_equal(tfp_chunk_request_decode(enc, enc_len, &out), 0);
	assert_memory_equal(&out, &q, sizeof(q));
	assert_int_equal(tfp_chunk_request_encode(&out, again, sizeof(again), &again_len), 0);
	assert_int_equal(again_len, enc_len);
	assert_memory_equal(again, enc, enc_len);
	assert_int_equal(tfp_chunk_request_encode(&q, NULL, 0, &need), TFP_ERR_BUFFER);
	assert_int_equal(need, enc_len);

	/* The largest request fits TFP_CHUNK_REQUEST_WIRE_MAX. */
	q.command_id = UINT64_MAX;
	q.offset = UINT32_MAX - TFP_CHUNK_MAX;
	q.length = TFP_CHUNK_MAX;
	assert_int_equal(tfp_chunk_request_encode(&q, enc, sizeof(enc), &enc_len), 0);
	assert_true(enc_len <= TFP_CHUNK_REQUEST_WIRE_MAX);
	assert_int_equal(tfp_chunk_request_decode(enc, enc_len, &out), 0);
	assert_memory_equal(&out, &q, sizeof(q));

	q.length = 0;
	assert_int_equal(tfp_chunk_request_encode(&q, enc, sizeof(enc), &enc_len), TFP_ERR_ARG);
	q.length = 2;
	q.offset = UINT32_MAX;
	assert_int_equal(tfp_chunk_request_encode(&q, enc, sizeof(enc), &enc_len), TFP_ERR_ARG);
}

static void
test_response_round_trip_borrows(void **state)
{
	static uint8_t data[TFP_CHUNK_MAX];
	struct tfp_chunk_response p, out;
	uint8_t again[MT_BUF];
	size_t again_len, need;
	(void)state;

	mt_sample_chunk_response(&p);
	assert_int_equal(tfp_chunk_response_encode(&p, enc, sizeof(enc), &enc_len), 0);
	assert_int_equal(tfp_chunk_response_decode(enc, enc_len, &out), 0);
	assert_int_equal(out.len, p.len);
	/* The data is not copied: it points at the last bytes of the message. */
	assert_ptr_equal(out.data, enc + enc_len - p.len);
	assert_memory_equal(out.data, p.data, p.len);
	assert_memory_equal(out.object_id, p.object_id, TFP_DIGEST_LEN);
	assert_int_equal(out.offset, p.offset);
	assert_int_equal(out.total, p.total);
	assert_int_equal(tfp_chunk_response_encode(&out, again, sizeof(again), &again_len), 0);
	assert_int_equal(again_len, enc_len);
	assert_memory_equal(again, enc, enc_len);
	assert_int_equal(tfp_chunk_response_encode(&p, enc, 10, &need), TFP_ERR_BUFFER);
	assert_int_equal(need, enc_len);

	/* The end-of-object marker: no data at offset == total. */
	p.offset = p.total;
	p.len = 0;
	p.data = NULL;
	assert_int_equal(tfp_chunk_response_encode(&p, enc, sizeof(enc), &enc_len), 0);
	assert_int_equal(tfp_chunk_response_decode(enc, enc_len, &out), 0);
	assert_int_equal(out.len, 0);

	/* A full-size chunk at the very end of a 4 GiB object. */
	memset(data, 0xc3, sizeof(data));
	p.data = data;
	p.len = TFP_CHUNK_MAX;
	p.total = UINT32_MAX;
	p.offset = UINT32_MAX - TFP_CHUNK_MAX;
	assert_int_equal(tfp_chunk_response_encode(&p, enc, sizeof(enc), &enc_len), 0);
	printf("largest chunk response: data + %zu bytes\n", enc_len - TFP_CHUNK_MAX);
	assert_true(enc_len <= TFP_CHUNK_RESPONSE_WIRE_OVERHEAD + TFP_CHUNK_MAX);
	assert_int_equal(tfp_chunk_response_decode(enc, enc_len, &out), 0);
	assert_memory_equal(out.data, data, TFP_CHUNK_MAX);

	p.len = TFP_CHUNK_MAX + 1;
	assert_int_equal(tfp_chunk_response_encode(&p, enc, sizeof(enc), &enc_len), TFP_ERR_ARG);
	p.len = 1;
	p.offset = p.total;
	assert_int_equal(tfp_chunk_response_encode(&p, enc, sizeof(enc), &enc_len), TFP_ERR_ARG);
}

static void
test_request_strict(void **state)
{
	struct tfp_chunk_request q;
	struct mt_map base;
	uint8_t d[40];
	(void)state;

	mt_sample_chunk_request(&q);
	assert_int_equal(tfp_chunk_request_encode(&q, enc, sizeof(enc), &enc_len), 0);
	mt_check_strict(dec_request, enc, enc_len, 0x1f, TFP_MSG_CHUNK_REQUEST);
	mt_split(enc, enc_len, &base);

	expect(dec_request, &base, 4, "\x00", 1, TFP_ERR_RANGE);             /* length 0 */
	expect(dec_request, &base, 4, "\x19\x40\x00", 3, 0);
	expect(dec_request, &base, 4, "\x19\x40\x01", 3, TFP_ERR_RANGE);     /* > max */
	expect(dec_request, &base, 3, "\x1a\xff\xff\xff\xff", 5, TFP_ERR_RANGE); /* wraps */
	expect(dec_request, &base, 3, "\x1b\0\0\0\1\0\0\0\0", 9, TFP_ERR_RANGE);
	d[0] = 0x58;
	d[1] = 33;
	memset(d + 2, 1, 33);
	expect(dec_request, &base, 2, d, 35, TFP_ERR_OVERSIZE);
	expect(dec_request, &base, 2, "\x40", 1, TFP_ERR_OVERSIZE);
	/* A response is not a request, and the reverse. */
	expect(dec_request, &base, 0, "\x07", 1, TFP_ERR_UNKNOWN_MESSAGE);
}

static void
test_response_strict(void **state)
{
	static uint8_t big[TFP_CHUNK_MAX + 8];
	struct tfp_chunk_response p;
	struct mt_map base;
	(void)state;

	mt_sample_chunk_response(&p);
	assert_int_equal(tfp_chunk_response_encode(&p, enc, sizeof(enc), &enc_len), 0);
	mt_check_strict(dec_response, enc, enc_len, 0x1f, TFP_MSG_CHUNK_RESPONSE);
	mt_split(enc, enc_len, &base);

	/* 32 bytes at 1856 end exactly at total 1888; one byte more runs past it. */
	expect(dec_response, &base, 3, "\x19\x07\x5f", 3, TFP_ERR_RANGE);
	expect(dec_response, &base, 2, "\x19\x07\x41", 3, TFP_ERR_RANGE);
	expect(dec_response, &base, 2, "\x1a\xff\xff\xff\xff", 5, TFP_ERR_RANGE);
	expect(dec_response, &base, 3, "\x1b\0\0\0\1\0\0\0\0", 9, TFP_ERR_RANGE);
	big[0] = 0x59;
	big[1] = (TFP_CHUNK_MAX + 1) >> 8;
	big[2] = (TFP_CHUNK_MAX + 1) & 0xff;
	expect(dec_response, &base, 4, big, 3 + TFP_CHUNK_MAX + 1, TFP_ERR_OVERSIZE);
	expect(dec_response, &base, 4, "\x62xy", 3, TFP_ERR_WRONG_TYPE);
	expect(dec_response, &base, 0, "\x06", 1, TFP_ERR_UNKNOWN_MESSAGE);
}

static void
test_sizes(void **state)
{
	(void)state;
	printf("sizeof(struct tfp_chunk_request) = %zu (bound %d), "
	       "sizeof(struct tfp_chunk_response) = %zu (bound %d)\n",
	       sizeof(struct tfp_chunk_request), TFP_CHUNK_REQUEST_STRUCT_MAX,
	       sizeof(struct tfp_chunk_response), TFP_CHUNK_RESPONSE_STRUCT_MAX);
	assert_true(sizeof(struct tfp_chunk_request) <= TFP_CHUNK_REQUEST_STRUCT_MAX);
	assert_true(sizeof(struct tfp_chunk_response) <= TFP_CHUNK_RESPONSE_STRUCT_MAX);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_round_trip),
		cmocka_unit_test(test_response_round_trip_borrows),
		cmocka_unit_test(test_request_strict),
		cmocka_unit_test(test_response_strict),
		cmocka_unit_test(test_sizes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
