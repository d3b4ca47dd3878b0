/*
 * Telemetry benchmark (prints figures; not a test).
 *
 *   ./build/default/bench/telemetry/bench_telemetry
 *
 * The reference snapshot (tests/protocol/telemetry_sample.h) is a 64-feature model; the
 * class count does not change the pack (confidence and margin are means), so the same
 * figures hold for 10 classes. Baselines from the same run: the same pack as SenML-JSON
 * (RFC 8428 section 5, built from the CBOR with jansson) and libcbor's allocating decoder
 * (cbor_load) on the same bytes.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cbor.h>
#include <jansson.h>

#include "senml.h"
#include "telemetry_sample.h"
#include "tinyfleet/protocol/telemetry.h"

#define PACK_MAX 4096
#define ROUNDS 20000

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *
json_label(int64_t l)
{
	static const char *const names[] = { "bs", "bv", "bu", "bt", "bn", "bver", "n", "u",
	                                     "v", "vs", "vb", "s", "t", "ut", "vd" };
	return l >= -6 && l <= 8 ? names[l + 6] : "?";
}

static json_t *
json_of(cbor_item_t *it)
{
	switch (cbor_typeof(it)) {
	case CBOR_TYPE_UINT: return json_integer((json_int_t)cbor_get_int(it));
	case CBOR_TYPE_NEGINT: return json_integer(-1 - (json_int_t)cbor_get_int(it));
	case CBOR_TYPE_STRING:
		return json_stringn((const char *)cbor_string_handle(it), cbor_string_length(it));
	case CBOR_TYPE_FLOAT_CTRL:
		if (cbor_float_get_width(it) == CBOR_FLOAT_0 && cbor_is_bool(it))
			return json_boolean(cbor_get_bool(it));
		return json_real(cbor_float_get_float(it));
	default: return json_null();
	}
}

/* SenML-JSON size of a SenML-CBOR pack (compact, as a device would send it). */
static size_t
json_size(const uint8_t *p, size_t len)
{
	struct cbor_load_result res;
	cbor_item_t *root = cbor_load(p, len, &res);
	json_t *arr = json_array();
	size_t out;

	for (size_t i = 0; i < cbor_array_size(root); i++) {
		cbor_item_t *m = cbor_array_get(root, i);
		struct cbor_pair *pairs = cbor_map_handle(m);
		json_t *obj = json_object();
		for (size_t j = 0; j < cbor_map_size(m); j++) {
			cbor_item_t *k = pairs[j].key;
			int64_t l = cbor_isa_uint(k) ? (int64_t)cbor_get_int(k) :
			            -1 - (int64_t)cbor_get_int(k);
			json_object_set_new(obj, json_label(l), json_of(pairs[j].value));
		}
		json_array_append_new(arr, obj);
		cbor_decref(&m);
	}
	char *s = json_dumps(arr, JSON_COMPACT | JSON_REAL_PRECISION(9));
	out = strlen(s);
	free(s);
	json_decref(arr);
	cbor_decref(&root);
	return out;
}

/* Stack painting: the decoder's deepest use below this frame. Bench only (reads dead
 * stack); the asan preset does not build benchmarks. */
static uintptr_t painted_lo;   /* an address, kept as an integer on purpose */

static __attribute__((noinline)) void
paint(void)
{
	volatile uint8_t area[32768];
	for (size_t i = 0; i < sizeof(area); i++)
		area[i] = 0xCD;
	painted_lo = (uintptr_t)area;
}

static __attribute__((noinline)) size_t
decode_stack(const uint8_t *p, size_t len)
{
	struct tfp_telemetry *t = malloc(sizeof(*t));
	uint8_t *top = __builtin_frame_address(0);
	paint();
	if (tfp_telemetry_decode(p, len, t) != 0)
		abort();
	uint8_t *q = (uint8_t *)painted_lo;
	while (q < top && *(volatile uint8_t *)q == 0xCD)
		q++;
	free(t);
	return (size_t)(top - q);
}

static __attribute__((noinline)) size_t
encode_stack(const struct tfp_telemetry *t, uint8_t *buf)
{
	struct tfp_telem_enc_info info;
	uint8_t *top = __builtin_frame_address(0);
	paint();
	if (tfp_telemetry_encode(t, buf, PACK_MAX, &info) != 0)
		abort();
	uint8_t *q = (uint8_t *)painted_lo;
	while (q < top && *(volatile uint8_t *)q == 0xCD)
		q++;
	return (size_t)(top - q);
}

static void
row(const char *what, const struct tfp_telemetry *t)
{
	static uint8_t buf[PACK_MAX];
	struct tfp_telem_enc_info info;

	if (tfp_telemetry_encode(t, buf, sizeof(buf), &info) != 0)
		abort();
	printf("| %-44s | %5zu | %5zu | %4zu |\n", what, info.len, json_size(buf, info.len),
	       info.need_min);
}

int
main(void)
{
	static uint8_t buf[PACK_MAX];
	struct tfp_telemetry t, d;
	struct tfp_telem_enc_info info;
	double t0, enc, dec, base;
	volatile size_t sink = 0;

	printf("## Pack size (bytes)\n\n");
	printf("| report (64 features, 10 classes)             | CBOR  | JSON  | min  |\n");
	printf("|----------------------------------------------|-------|-------|------|\n");
	tf_telemetry_sample(&t, 64, 1);
	row("all records + 64 shifts", &t);
	tf_telemetry_sample(&t, 64, 0);
	row("required records + 64 shifts", &t);
	tf_telemetry_sample(&t, 64, 1);
	t.shift_mask = 0;
	row("all records, no shifts", &t);
	tf_telemetry_sample(&t, 64, 0);
	t.shift_mask = 0;
	row("required records only, no shifts", &t);
	printf("\n(min = smallest partial pack the encoder can build for that input)\n");

	printf("\n## Memory (bytes)\n\n");
	printf("sizeof(struct tfp_telemetry)        %zu\n", sizeof(struct tfp_telemetry));
	printf("sizeof(struct tfp_telem_enc_info)   %zu\n", sizeof(struct tfp_telem_enc_info));
	printf("sizeof(struct tfp__senml_reader)    %zu\n", sizeof(struct tfp__senml_reader));
	printf("sizeof(struct tfp__senml_rec)       %zu\n", sizeof(struct tfp__senml_rec));
	tf_telemetry_sample(&t, 64, 1);
	if (tfp_telemetry_encode(&t, buf, sizeof(buf), &info) != 0)
		abort();
	/* Warm up first so lazy symbol binding (the dynamic linker's stack) is not counted. */
	if (tfp_telemetry_decode(buf, info.len, &d) != 0)
		abort();
	printf("encoder stack (painted)             %zu\n", encode_stack(&t, buf));
	printf("decoder stack (painted)             %zu\n", decode_stack(buf, info.len));

	printf("\n## Time (%d rounds, 64 features, all records, %zu bytes)\n\n", ROUNDS,
	       info.len);
	t0 = now();
	for (int i = 0; i < ROUNDS; i++) {
		t.samples = (uint32_t)i;
		if (tfp_telemetry_encode(&t, buf, sizeof(buf), &info) != 0)
			abort();
		sink += info.len;
	}
	enc = (now() - t0) / ROUNDS;
	t0 = now();
	for (int i = 0; i < ROUNDS; i++) {
		if (tfp_telemetry_decode(buf, info.len, &d) != 0)
			abort();
		sink += d.samples;
	}
	dec = (now() - t0) / ROUNDS;
	t0 = now();
	for (int i = 0; i < ROUNDS; i++) {
		struct cbor_load_result res;
		cbor_item_t *root = cbor_load(buf, info.len, &res);
		if (root == NULL)
			abort();
		sink += cbor_array_size(root);
		cbor_decref(&root);
	}
	base = (now() - t0) / ROUNDS;
	printf("tfp_telemetry_encode               %8.2f us/pack\n", enc * 1e6);
	printf("tfp_telemetry_decode               %8.2f us/pack\n", dec * 1e6);
	printf("baseline: libcbor cbor_load+decref %8.2f us/pack (parse only, mallocs)\n",
	       base * 1e6);
	(void)sink;
	return 0;
}
