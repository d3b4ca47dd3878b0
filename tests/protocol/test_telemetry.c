/*
 * Telemetry as SenML-CBOR: round trips, byte budgets and drop order, RFC 8428 resolution,
 * and every way a pack can be refused, each with its code.
 *
 * Malformed packs are built here with the plain CBOR writer (not with the encoder under
 * test), record by record, so each test states exactly which bytes it sends.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tinyfleet/protocol/cbor_io.h"
#include "tinyfleet/protocol/telemetry.h"
#include "telemetry_sample.h"

#define PACK_MAX 4096

static uint8_t pack[PACK_MAX];

/* ---- comparing snapshots ---- */

static void
assert_same_core(const struct tfp_telemetry *a, const struct tfp_telemetry *b)
{
	assert_string_equal(a->device_id, b->device_id);
	assert_string_equal(a->model, b->model);
	assert_string_equal(a->version, b->version);
	assert_true(a->time == b->time);
	assert_int_equal(a->samples, b->samples);
	assert_int_equal(a->labelled, b->labelled);
	assert_true(a->loss == b->loss);
	assert_true(a->accuracy == b->accuracy);
	assert_int_equal(a->alarm, b->alarm);
	assert_int_equal(a->why, b->why);
	assert_true(a->ph.score == b->ph.score);
	assert_int_equal(a->ph.alarm, b->ph.alarm);
	assert_true(a->adwin.score == b->adwin.score);
	assert_int_equal(a->adwin.alarm, b->adwin.alarm);
	assert_int_equal(a->adwin_width, b->adwin_width);
	assert_true(a->ddm.score == b->ddm.score);
	assert_int_equal(a->ddm.alarm, b->ddm.alarm);
	assert_true(a->psi == b->psi);
	assert_true(a->psi_max == b->psi_max);
	assert_true(a->conf_mean == b->conf_mean);
	assert_true(a->margin_mean == b->margin_mean);
	assert_int_equal(a->n_features, b->n_features);
}

/* Every field b carries equals a's; returns nothing, asserts. */
static void
assert_subset(const struct tfp_telemetry *sent, const struct tfp_telemetry *got)
{
	assert_same_core(sent, got);
	assert_int_equal(got->optional & ~sent->optional, 0);
	if (got->optional & TFP_TELEM_OPT_HDDM)
		assert_true(got->hddm.score == sent->hddm.score);
	if (got->optional & TFP_TELEM_OPT_HDDM_ALARM)
		assert_int_equal(got->hddm.alarm, sent->hddm.alarm);
	if (got->optional & TFP_TELEM_OPT_LR)
		assert_true(got->lr == sent->lr);
	if (got->optional & TFP_TELEM_OPT_STEPS)
		assert_int_equal(got->steps, sent->steps);
	assert_int_equal(got->shift_mask & ~sent->shift_mask, 0);
	for (unsigned i = 0; i < TFP_TELEM_FEATURES_MAX; i++)
		if (got->shift_mask & (UINT64_C(1) << i))
			assert_true(got->shift[i] == sent->shift[i]);
}

static size_t
encode_ok(const struct tfp_telemetry *t, struct tfp_telem_enc_info *info)
{
	assert_int_equal(tfp_telemetry_encode(t, pack, sizeof(pack), info), 0);
	return info->len;
}

/* ---- round trips ---- */

static void
test_round_trip_full(void **state)
{
	struct tfp_telemetry t, d;
	struct tfp_telem_enc_info info;
	size_t len;
	(void)state;

	tf_telemetry_sample(&t, 64, 1);
	len = encode_ok(&t, &info);
	assert_int_equal(info.dropped, 0);
	assert_int_equal(info.need_full, len);
	assert_true(info.need_min < len);
	assert_int_equal(tfp_telemetry_decode(pack, len, &d), 0);
	assert_subset(&t, &d);
	assert_int_equal(d.optional, TFP_TELEM_OPT_ALL);
	assert_true(d.shift_mask == UINT64_MAX);
	assert_int_equal(d.dropped, 0);
	assert_int_equal(d.unknown_records, 0);
	assert_false(d.time_relative);
}

static void
test_round_trip_shapes(void **state)
{
	static const unsigned nfeat[] = { 0, 1, 9, 10, 11, 63 };
	struct tfp_telemetry t, d;
	struct tfp_telem_enc_info info;
	(void)state;

	for (size_t i = 0; i < sizeof(nfeat) / sizeof(nfeat[0]); i++) {
		for (int opt = 0; opt < 2; opt++) {
			tf_telemetry_sample(&t, nfeat[i], opt);
			t.time = 3600.5;          /* uptime clock, fractional */
			t.alarm = false;
			t.why = 0;
			t.loss = -0.0f;
			t.samples = UINT32_MAX;
			if (nfeat[i] > 1)
				t.shift_mask &= ~UINT64_C(2);   /* a feature the device does not send */
			size_t len = encode_ok(&t, &info);
			assert_int_equal(tfp_telemetry_decode(pack, len, &d), 0);
			assert_subset(&t, &d);
			assert_true(d.shift_mask == t.shift_mask);
			assert_int_equal(d.optional, t.optional);
			assert_true(d.time_relative);
		}
	}
}

/* The encoder writes the same bytes again from what it decoded (canonical output). */
static void
test_reencode_is_identical(void **state)
{
	static uint8_t again[PACK_MAX];
	struct tfp_telemetry t, d;
	struct tfp_telem_enc_info info, info2;
	(void)state;

	tf_telemetry_sample(&t, 64, 1);
	size_t len = encode_ok(&t, &info);
	assert_int_equal(tfp_telemetry_decode(pack, len, &d), 0);
	assert_int_equal(tfp_telemetry_encode(&d, again, sizeof(again), &info2), 0);
	assert_int_equal(info2.len, len);
	assert_memory_equal(again, pack, len);
}

/* ---- byte budgets ---- */

static float
mag(float v)
{
	return v < 0 ? -v : v;
}

/* For every budget from too small to enough: never a byte past the budget; drops whole
 * records in the documented order; the pack says it is partial and by how much. */
static void
test_budget_sweep_drop_order(void **state)
{
	static uint8_t buf[PACK_MAX + 32];
	struct tfp_telemetry t, d;
	struct tfp_telem_enc_info full, info;
	size_t prev_dropped = SIZE_MAX;
	(void)state;

	tf_telemetry_sample(&t, 64, 1);
	assert_int_equal(tfp_telemetry_encode(&t, NULL, 0, &full), TFP_ERR_BUFFER);
	assert_true(full.need_min > 0 && full.need_min < full.need_full);

	for (size_t budget = 0; budget <= full.need_full + 2; budget++) {
		memset(buf, 0xA5, sizeof(buf));
		int rc = tfp_telemetry_encode(&t, buf, budget, &info);
		for (size_t i = budget; i < sizeof(buf); i++)
			assert_int_equal(buf[i], 0xA5);
		assert_int_equal(info.need_full, full.need_full);
		assert_int_equal(info.need_min, full.need_min);
		if (budget < full.need_min) {
			assert_int_equal(rc, TFP_ERR_BUFFER);
			assert_int_equal(info.len, 0);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_true(info.len <= budget);
		/* More room never drops more. */
		assert_true(info.dropped <= prev_dropped);
		prev_dropped = info.dropped;
		if (budget >= full.need_full)
			assert_int_equal(info.dropped, 0);

		assert_int_equal(tfp_telemetry_decode(buf, info.len, &d), 0);
		assert_subset(&t, &d);
		assert_int_equal(d.dropped, info.dropped);
		assert_true(d.shift_mask == (t.shift_mask & ~info.dropped_shifts));
		assert_int_equal(d.optional, t.optional & ~info.dropped_optional);
		assert_int_equal(info.dropped, __builtin_popcountll(info.dropped_shifts) +
		                               __builtin_popcount(info.dropped_optional));

		/* Shifts go first, least shifted first (ties: higher index first). */
		for (unsigned k = 0; k < 64; k++) {
			if (!(info.dropped_shifts & (UINT64_C(1) << k)))
				continue;
			for (unsigned j = 0; j < 64; j++) {
				if (info.dropped_shifts & (UINT64_C(1) << j))
					continue;
				float mk = mag(t.shift[k]), mj = mag(t.shift[j]);
				assert_true(mk < mj || (mk == mj && k > j));
			}
		}
		/* Optional records only once every shift is gone, in the order
		 * steps, lr, hddm, hddm_alarm. */
		if (info.dropped_optional != 0)
			assert_true(info.dropped_shifts == UINT64_MAX);
		static const uint32_t order[] = { TFP_TELEM_OPT_STEPS, TFP_TELEM_OPT_LR,
		                                  TFP_TELEM_OPT_HDDM, TFP_TELEM_OPT_HDDM_ALARM };
		uint32_t expect = 0;
		for (int n = 0; n < __builtin_popcount(info.dropped_optional); n++)
			expect |= order[n];
		assert_int_equal(info.dropped_optional, expect);
	}
	/* Fewest drops: a pack with fewer records left out never fits a budget that got more
	 * dropped. size_by_drops[k] is the pack size with k records left out (when seen). */
	size_t size_by_drops[64 + 4 + 1] = { 0 };
	for (size_t budget = full.need_min; budget <= full.need_full; budget++) {
		assert_int_equal(tfp_telemetry_encode(&t, buf, budget, &info), 0);
		if (size_by_drops[info.dropped] == 0)
			size_by_drops[info.dropped] = info.len;
		assert_int_equal(size_by_drops[info.dropped], info.len);
	}
	for (size_t budget = full.need_min; budget <= full.need_full; budget++) {
		assert_int_equal(tfp_telemetry_encode(&t, buf, budget, &info), 0);
		for (size_t k = 0; k < info.dropped; k++)
			if (size_by_drops[k] != 0)
				assert_true(size_by_drops[k] > budget);
	}
	/* The smallest pack drops every droppable record. */
	assert_int_equal(tfp_telemetry_encode(&t, buf, full.need_min, &info), 0);
	assert_int_equal(info.dropped, 64 + 4);
}

/* A budget one byte short of the full pack drops exactly one shift: the smallest. */
static void
test_budget_drops_least_first(void **state)
{
	struct tfp_telemetry t, d;
	struct tfp_telem_enc_info full, info;
	(void)state;

	tf_telemetry_sample(&t, 8, 0);
	for (unsigned i = 0; i < 8; i++)
		t.shift[i] = (float)(i + 1) * (i % 2 ? -0.5f : 0.5f);
	t.shift[5] = 0.125f;            /* the least shifted feature */
	assert_int_equal(tfp_telemetry_encode(&t, NULL, 0, &full), TFP_ERR_BUFFER);
	/* The "dropped" record costs more than one z record, so a few go at once. */
	assert_int_equal(tfp_telemetry_encode(&t, pack, full.need_full - 1, &info), 0);
	assert_true(info.dropped >= 1);
	assert_true(info.dropped_shifts & (UINT64_C(1) << 5));
	assert_true(info.dropped_shifts & (UINT64_C(1) << 0));   /* |0.5| next */
	assert_false(info.dropped_shifts & (UINT64_C(1) << 7));  /* |-4| kept */
	assert_int_equal(tfp_telemetry_decode(pack, info.len, &d), 0);
	assert_false(d.shift_mask & (UINT64_C(1) << 5));
	assert_int_equal(d.dropped, info.dropped);
}

/* ---- encoder arguments ---- */

static void
test_encoder_refuses_bad_input(void **state)
{
	struct tfp_telemetry t;
	struct tfp_telem_enc_info info;
	(void)state;

	tf_telemetry_sample(&t, 4, 0);
	memcpy(t.device_id, "bad/id", 7);
	assert_int_equal(tfp_telemetry_encode(&t, pack, sizeof(pack), &info), TFP_ERR_ARG);
	tf_telemetry_sample(&t, 4, 0);
	memcpy(t.device_id, "-lead", 6);
	assert_int_equal(tfp_telemetry_encode(&t, pack, sizeof(pack), &info), TFP_ERR_ARG);
	tf_telemetry_sample(&t, 4, 0);
	memcpy(t.version, "1.0+build", 10);
	assert_int_equal(tfp_telemetry_encode(&t, pack, sizeof(pack), &info), TFP_ERR_ARG);
	tf_telemetry_sample(&t, 4, 0);
	t.model[0] = '\0';
	assert_int_equal(tfp_telemetry_encode(&t, pack, sizeof(pack), &info), TFP_ERR_ARG);
	tf_telemetry_sample(&t, 4, 0);
	memset(t.device_id, 'a', sizeof(t.device_id));   /* not NUL-terminated */
	assert_int_equal(tfp_telemetry_encode(&t, pack, sizeof(pack), &info), TFP_ERR_ARG);
	tf_telemetry_sample(&t, 4, 0);
	t.n_features = 65;
	assert_int_equal(tfp_telemetry_encode(&t, pack, sizeof(pack), &info), TFP_ERR_ARG);
	tf_telemetry_sample(&t, 4, 0);
	t.optional = 0x100;
	assert_int_equal(tfp_telemetry_encode(&t, pack, sizeof(pack), &info), TFP_ERR_ARG);
	tf_telemetry_sample(&t, 4, 0);
	t.loss = NAN;
	assert_int_equal(tfp_telemetry_encode(&t, pack, sizeof(pack), &info), TFP_ERR_RANGE);
	tf_telemetry_sample(&t, 4, 0);
	t.shift[2] = INFINITY;
	assert_int_equal(tfp_telemetry_encode(&t, pack, sizeof(pack), &info), TFP_ERR_RANGE);
	tf_telemetry_sample(&t, 4, 0);
	t.time = INFINITY;
	assert_int_equal(tfp_telemetry_encode(&t, pack, sizeof(pack), &info), TFP_ERR_RANGE);
	assert_int_equal(info.len, 0);
}

static void
test_base_name(void **state)
{
	char bn[TFP_TELEM_BASE_NAME_MAX + 1];
	(void)state;

	assert_int_equal(tfp_telemetry_base_name("pump-17", "vib-anomaly", "1.4.2", bn,
	                                         sizeof(bn)), 0);
	assert_string_equal(bn, "pump-17/vib-anomaly:1.4.2/");
	assert_int_equal(tfp_telemetry_base_name("pump-17", "vib-anomaly", "1.4.2", bn, 26),
	                 TFP_ERR_BUFFER);
	assert_int_equal(tfp_telemetry_base_name("pump 17", "m", "1", bn, sizeof(bn)),
	                 TFP_ERR_ARG);
	assert_int_equal(tfp_telemetry_base_name("p", "m:x", "1", bn, sizeof(bn)), TFP_ERR_ARG);
	assert_int_equal(tfp_telemetry_base_name("p", "m", "1_0", bn, sizeof(bn)), TFP_ERR_ARG);
}

/* ---- hand-built packs ---- */

/* A pack under construction: records go into body, the array head is added at the end. */
struct hp {
	uint8_t body[PACK_MAX];
	struct tfp_cbor_writer w;
	size_t n;
};

static void
hp_init(struct hp *p)
{
	tfp_cbor_writer_init(&p->w, p->body, sizeof(p->body));
	p->n = 0;
}

static size_t
hp_finish(struct hp *p, uint8_t *out, size_t cap)
{
	struct tfp_cbor_writer w;
	size_t body, len;

	assert_int_equal(tfp_cbor_writer_finish(&p->w, &body), 0);
	tfp_cbor_writer_init(&w, out, cap);
	tfp_cbor_put_array(&w, p->n);
	assert_int_equal(tfp_cbor_writer_finish(&w, &len), 0);
	assert_true(len + body <= cap);
	memcpy(out + len, p->body, body);
	return len + body;
}

/* {n: name, [u: unit,] v: value} */
static void
rec_num(struct hp *p, const char *name, const char *unit, double v)
{
	tfp_cbor_put_map(&p->w, unit != NULL ? 3 : 2);
	tfp_cbor_put_int(&p->w, 0);
	tfp_cbor_put_textz(&p->w, name);
	if (unit != NULL) {
		tfp_cbor_put_int(&p->w, 1);
		tfp_cbor_put_textz(&p->w, unit);
	}
	tfp_cbor_put_int(&p->w, 2);
	tfp_cbor_put_float(&p->w, v);
	p->n++;
}

static void
rec_bool(struct hp *p, const char *name, bool v)
{
	tfp_cbor_put_map(&p->w, 2);
	tfp_cbor_put_int(&p->w, 0);
	tfp_cbor_put_textz(&p->w, name);
	tfp_cbor_put_int(&p->w, 4);
	tfp_cbor_put_bool(&p->w, v);
	p->n++;
}

/* The first record: bn, bt and "samples". */
static void
rec_first(struct hp *p, const char *bn)
{
	tfp_cbor_put_map(&p->w, 4);
	tfp_cbor_put_int(&p->w, -2);
	tfp_cbor_put_textz(&p->w, bn);
	tfp_cbor_put_int(&p->w, -3);
	tfp_cbor_put_uint(&p->w, 1764000000);
	tfp_cbor_put_int(&p->w, 0);
	tfp_cbor_put_textz(&p->w, "samples");
	tfp_cbor_put_int(&p->w, 2);
	tfp_cbor_put_uint(&p->w, 10);
	p->n++;
}

/* Every record that is never dropped, except `skip` (NULL: none), after rec_first. */
static void
rec_rest(struct hp *p, const char *skip)
{
	static const char *const nums[] = { "labelled", "loss", "acc", "why", "ph", "adwin",
	                                     "adwin_w", "ddm", "psi", "psi_max", "conf",
	                                     "margin", "nfeat" };
	static const char *const bools[] = { "alarm", "ph_alarm", "adwin_alarm", "ddm_alarm" };

	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
		if (skip == NULL || strcmp(skip, nums[i]) != 0)
			rec_num(p, nums[i], NULL, strcmp(nums[i], "nfeat") == 0 ? 4 : 1);
	for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++)
		if (skip == NULL || strcmp(skip, bools[i]) != 0)
			rec_bool(p, bools[i], false);
}

static int
decode_hp(struct hp *p, struct tfp_telemetry *t)
{
	size_t len = hp_finish(p, pack, sizeof(pack));
	return tfp_telemetry_decode(pack, len, t);
}

/* A valid pack plus one extra record written by the caller between begin and end. */
#define EXTRA_BEGIN(p) do { hp_init(p); rec_first(p, "d1/m:1.0/"); rec_rest(p, NULL); } while (0)

static void
test_hand_built_minimal_pack(void **state)
{
	struct hp p;
	struct tfp_telemetry t;
	(void)state;

	EXTRA_BEGIN(&p);
	assert_int_equal(decode_hp(&p, &t), 0);
	assert_string_equal(t.device_id, "d1");
	assert_string_equal(t.model, "m");
	assert_string_equal(t.version, "1.0");
	assert_true(t.time == 1764000000.0);
	assert_int_equal(t.samples, 10);
	assert_int_equal(t.n_features, 4);
	assert_int_equal(t.optional, 0);
}

/* RFC 8428 §4.6: base values apply to later records; bn may be restated; t adds to bt;
 * bv adds to v; bu is the unit of records without u. */
static void
test_resolution_rules(void **state)
{
	struct hp p;
	struct tfp_telemetry t;
	(void)state;

	hp_init(&p);
	rec_first(&p, "d1/m:1.0/");
	rec_rest(&p, "loss");
	/* {bn: "d1/", bv: 0.25, n: "m:1.0/loss", v: 0.125, t: -5} */
	tfp_cbor_put_map(&p.w, 5);
	tfp_cbor_put_int(&p.w, -2);
	tfp_cbor_put_textz(&p.w, "d1/");
	tfp_cbor_put_int(&p.w, -5);
	tfp_cbor_put_float(&p.w, 0.25);
	tfp_cbor_put_int(&p.w, 0);
	tfp_cbor_put_textz(&p.w, "m:1.0/loss");
	tfp_cbor_put_int(&p.w, 2);
	tfp_cbor_put_float(&p.w, 0.125);
	tfp_cbor_put_int(&p.w, 6);
	tfp_cbor_put_int(&p.w, -5);
	p.n++;
	/* {bn: "d1/m:1.0/", bu: "count", bv: 0, n: "steps", v: 7}: unit from bu */
	tfp_cbor_put_map(&p.w, 5);
	tfp_cbor_put_int(&p.w, -2);
	tfp_cbor_put_textz(&p.w, "d1/m:1.0/");
	tfp_cbor_put_int(&p.w, -4);
	tfp_cbor_put_textz(&p.w, "count");
	tfp_cbor_put_int(&p.w, -5);
	tfp_cbor_put_uint(&p.w, 0);
	tfp_cbor_put_int(&p.w, 0);
	tfp_cbor_put_textz(&p.w, "steps");
	tfp_cbor_put_int(&p.w, 2);
	tfp_cbor_put_uint(&p.w, 7);
	p.n++;
	assert_int_equal(decode_hp(&p, &t), 0);
	assert_true(t.loss == 0.375f);
	assert_int_equal(t.steps, 7);
	assert_int_equal(t.optional, TFP_TELEM_OPT_STEPS);
	assert_true(t.time == 1764000000.0);

	/* The base unit also applies to a later record whose unit it contradicts. */
	hp_init(&p);
	rec_first(&p, "d1/m:1.0/");
	tfp_cbor_put_map(&p.w, 3);
	tfp_cbor_put_int(&p.w, -4);
	tfp_cbor_put_textz(&p.w, "count");
	tfp_cbor_put_int(&p.w, 0);
	tfp_cbor_put_textz(&p.w, "labelled");
	tfp_cbor_put_int(&p.w, 2);
	tfp_cbor_put_uint(&p.w, 3);
	p.n++;
	rec_rest(&p, "labelled");      /* "acc" etc. now resolve with unit "count" */
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_SENML_VALUE);
}

/* Base fields alone in a leading record, as some packers write them. */
static void
test_base_only_record(void **state)
{
	struct hp p;
	struct tfp_telemetry t;
	(void)state;

	hp_init(&p);
	tfp_cbor_put_map(&p.w, 2);
	tfp_cbor_put_int(&p.w, -2);
	tfp_cbor_put_textz(&p.w, "d1/m:1.0/");
	tfp_cbor_put_int(&p.w, -3);
	tfp_cbor_put_uint(&p.w, 42);
	p.n++;
	rec_num(&p, "samples", "count", 3);
	rec_rest(&p, NULL);
	assert_int_equal(decode_hp(&p, &t), 0);
	assert_int_equal(t.samples, 3);
	assert_true(t.time == 42.0);
	assert_true(t.time_relative);
	assert_int_equal(t.unknown_records, 0);

	/* The same record with a value is a metric without a name below the base. */
	hp_init(&p);
	tfp_cbor_put_map(&p.w, 2);
	tfp_cbor_put_int(&p.w, -2);
	tfp_cbor_put_textz(&p.w, "d1/m:1.0/");
	tfp_cbor_put_int(&p.w, 2);
	tfp_cbor_put_uint(&p.w, 1);
	p.n++;
	rec_num(&p, "samples", "count", 3);
	rec_rest(&p, NULL);
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_SENML_BASE);
}

static void
test_unknown_names_and_text_labels_skipped(void **state)
{
	struct hp p;
	struct tfp_telemetry t;
	(void)state;

	EXTRA_BEGIN(&p);
	rec_num(&p, "temp", "Cel", 21.5);
	rec_num(&p, "z07", NULL, 1.0);          /* not canonical: an unknown name */
	tfp_cbor_put_map(&p.w, 2);              /* a string-valued record from a newer agent */
	tfp_cbor_put_int(&p.w, 0);
	tfp_cbor_put_textz(&p.w, "fw");
	tfp_cbor_put_int(&p.w, 3);
	tfp_cbor_put_textz(&p.w, "2.1.0");
	p.n++;
	tfp_cbor_put_map(&p.w, 3);              /* an extension text label, not must-understand */
	tfp_cbor_put_int(&p.w, 0);
	tfp_cbor_put_textz(&p.w, "z1");
	tfp_cbor_put_textz(&p.w, "note");
	tfp_cbor_put_array(&p.w, 1);
	tfp_cbor_put_uint(&p.w, 1);
	tfp_cbor_put_int(&p.w, 2);
	tfp_cbor_put_float(&p.w, -1.5);
	p.n++;
	assert_int_equal(decode_hp(&p, &t), 0);
	assert_int_equal(t.unknown_records, 3);
	assert_int_equal(t.ignored_labels, 1);
	assert_true(t.shift_mask == 2);
	assert_true(t.shift[1] == -1.5f);

	/* Names that a known name starts with, or that start with one, are other names: the
	 * decoder looks names up by their whole length, right after a known one too. */
	EXTRA_BEGIN(&p);
	rec_num(&p, "ac", NULL, 0.5);
	rec_num(&p, "accu", NULL, 0.5);
	rec_num(&p, "nfeatx", "count", 9);
	rec_num(&p, "s", NULL, 2);
	assert_int_equal(decode_hp(&p, &t), 0);
	assert_int_equal(t.unknown_records, 4);
	assert_true(t.accuracy == 1.0f);
	assert_int_equal(t.n_features, 4);
	assert_int_equal(t.samples, 10);
}

/* Truncating a real pack anywhere gives TFP_ERR_TRUNCATED, nothing else. */
static void
test_truncation_at_every_byte(void **state)
{
	struct tfp_telemetry t, d;
	struct tfp_telem_enc_info info;
	(void)state;

	tf_telemetry_sample(&t, 64, 1);
	size_t len = encode_ok(&t, &info);
	for (size_t cut = 0; cut < len; cut++) {
		/* A heap copy of exactly `cut` bytes lets ASan catch an overread. */
		uint8_t *copy = malloc(cut > 0 ? cut : 1);
		assert_non_null(copy);
		memcpy(copy, pack, cut);
		assert_int_equal(tfp_telemetry_decode(copy, cut, &d), TFP_ERR_TRUNCATED);
		free(copy);
	}
	assert_int_equal(tfp_telemetry_decode(pack, len, &d), 0);
}

static void
test_wrong_major_types(void **state)
{
	static const uint8_t top_map[] = { 0xa0 };
	static const uint8_t top_uint[] = { 0x01 };
	static const uint8_t record_array[] = { 0x81, 0x80 };
	static const uint8_t key_bytes[] = { 0x81, 0xa1, 0x41, 0x00, 0x01 };
	static const uint8_t name_uint[] = { 0x81, 0xa1, 0x00, 0x01 };
	static const uint8_t bn_bytes[] = { 0x81, 0xa1, 0x21, 0x41, 0x61 };
	static const uint8_t v_text[] = { 0x81, 0xa2, 0x00, 0x61, 0x61, 0x02, 0x61, 0x31 };
	static const uint8_t vb_uint[] = { 0x81, 0xa2, 0x00, 0x61, 0x61, 0x04, 0x01 };
	static const uint8_t bt_text[] = { 0x81, 0xa1, 0x22, 0x61, 0x31 };
	static const uint8_t bver_neg[] = { 0x81, 0xa1, 0x20, 0x20 };
	static const uint8_t vd_text[] = { 0x81, 0xa2, 0x00, 0x61, 0x61, 0x08, 0x61, 0x31 };
	static const uint8_t u_float[] = { 0x81, 0xa1, 0x01, 0xf9, 0x3c, 0x00 };
	static const uint8_t t_bool[] = { 0x81, 0xa1, 0x06, 0xf5 };
	static const uint8_t tagged[] = { 0x81, 0xa1, 0x02, 0xc1, 0x01 };
	static const struct { const uint8_t *p; size_t len; } cases[] = {
		{ top_map, sizeof(top_map) }, { top_uint, sizeof(top_uint) },
		{ record_array, sizeof(record_array) }, { key_bytes, sizeof(key_bytes) },
		{ name_uint, sizeof(name_uint) }, { bn_bytes, sizeof(bn_bytes) },
		{ v_text, sizeof(v_text) }, { vb_uint, sizeof(vb_uint) },
		{ bt_text, sizeof(bt_text) }, { bver_neg, sizeof(bver_neg) },
		{ vd_text, sizeof(vd_text) }, { u_float, sizeof(u_float) },
		{ t_bool, sizeof(t_bool) }, { tagged, sizeof(tagged) },
	};
	struct tfp_telemetry t;
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("case %zu\n", i);
		assert_int_equal(tfp_telemetry_decode(cases[i].p, cases[i].len, &t),
		                 TFP_ERR_WRONG_TYPE);
	}
}

static void
test_oversize_counts_and_lengths(void **state)
{
	struct hp p;
	struct tfp_telemetry t;
	char longname[200];
	(void)state;

	/* 300 records (more than TFP__SENML_RECORDS_MAX), all present. */
	memset(pack, 0xa0, sizeof(pack));
	pack[0] = 0x99;
	pack[1] = 0x01;
	pack[2] = 0x2c;
	assert_int_equal(tfp_telemetry_decode(pack, 303, &t), TFP_ERR_OVERSIZE);

	/* A record map with 17 pairs. */
	hp_init(&p);
	tfp_cbor_put_map(&p.w, 17);
	for (int i = 0; i < 17; i++) {
		tfp_cbor_put_textz(&p.w, "x");
		tfp_cbor_put_uint(&p.w, 0);
	}
	p.n++;
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_OVERSIZE);

	/* A resolved name longer than 160 bytes. */
	memset(longname, 'a', sizeof(longname));
	longname[sizeof(longname) - 1] = '\0';
	EXTRA_BEGIN(&p);
	rec_num(&p, longname, NULL, 1);
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_OVERSIZE);

	/* A unit longer than 16 bytes. */
	EXTRA_BEGIN(&p);
	rec_num(&p, "temp", "abcdefghijklmnopq", 1);
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_OVERSIZE);

	/* More features than a snapshot holds. */
	hp_init(&p);
	rec_first(&p, "d1/m:1.0/");
	rec_rest(&p, "nfeat");
	rec_num(&p, "nfeat", "count", 65);
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_OVERSIZE);
	EXTRA_BEGIN(&p);
	rec_num(&p, "z64", NULL, 1);
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_OVERSIZE);

	/* A declared length beyond the input. */
	static const uint8_t long_text[] = { 0x81, 0xa1, 0x00, 0x7a, 0xff, 0xff, 0xff, 0xf0,
	                                     0x61 };
	assert_int_equal(tfp_telemetry_decode(long_text, sizeof(long_text), &t),
	                 TFP_ERR_TRUNCATED);
}

static void
test_indefinite_lengths(void **state)
{
	static const uint8_t indef_array[] = { 0x9f, 0xa0, 0xff };
	static const uint8_t indef_map[] = { 0x81, 0xbf, 0x00, 0x61, 0x61, 0xff };
	static const uint8_t indef_text[] = { 0x81, 0xa1, 0x00, 0x7f, 0x61, 0x61, 0xff };
	static const uint8_t indef_in_ext[] = { 0x81, 0xa1, 0x61, 0x78, 0x9f, 0xff };
	struct tfp_telemetry t;
	(void)state;

	assert_int_equal(tfp_telemetry_decode(indef_array, sizeof(indef_array), &t),
	                 TFP_ERR_INDEFINITE);
	assert_int_equal(tfp_telemetry_decode(indef_map, sizeof(indef_map), &t),
	                 TFP_ERR_INDEFINITE);
	assert_int_equal(tfp_telemetry_decode(indef_text, sizeof(indef_text), &t),
	                 TFP_ERR_INDEFINITE);
	assert_int_equal(tfp_telemetry_decode(indef_in_ext, sizeof(indef_in_ext), &t),
	                 TFP_ERR_INDEFINITE);
}

static void
test_duplicates(void **state)
{
	struct hp p;
	struct tfp_telemetry t;
	(void)state;

	/* The same label twice in one record. */
	EXTRA_BEGIN(&p);
	tfp_cbor_put_map(&p.w, 3);
	tfp_cbor_put_int(&p.w, 0);
	tfp_cbor_put_textz(&p.w, "temp");
	tfp_cbor_put_int(&p.w, 2);
	tfp_cbor_put_uint(&p.w, 1);
	tfp_cbor_put_int(&p.w, 2);
	tfp_cbor_put_uint(&p.w, 2);
	p.n++;
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_DUPLICATE_FIELD);

	/* A base label twice. */
	hp_init(&p);
	tfp_cbor_put_map(&p.w, 4);
	tfp_cbor_put_int(&p.w, -2);
	tfp_cbor_put_textz(&p.w, "d1/m:1.0/");
	tfp_cbor_put_int(&p.w, -2);
	tfp_cbor_put_textz(&p.w, "d2/m:1.0/");
	tfp_cbor_put_int(&p.w, 0);
	tfp_cbor_put_textz(&p.w, "samples");
	tfp_cbor_put_int(&p.w, 2);
	tfp_cbor_put_uint(&p.w, 10);
	p.n++;
	rec_rest(&p, NULL);
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_DUPLICATE_FIELD);

	/* The same extension text label twice (skipped labels are still map keys). */
	EXTRA_BEGIN(&p);
	tfp_cbor_put_map(&p.w, 3);
	tfp_cbor_put_int(&p.w, 0);
	tfp_cbor_put_textz(&p.w, "temp");
	tfp_cbor_put_textz(&p.w, "note");
	tfp_cbor_put_uint(&p.w, 1);
	tfp_cbor_put_textz(&p.w, "note");
	tfp_cbor_put_uint(&p.w, 2);
	p.n++;
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_DUPLICATE_FIELD);

	/* A known record name twice, a feature twice, "dropped" twice. */
	EXTRA_BEGIN(&p);
	rec_num(&p, "acc", "/", 0.5);
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_DUPLICATE_FIELD);
	EXTRA_BEGIN(&p);
	rec_num(&p, "z3", NULL, 0.5);
	rec_num(&p, "z3", NULL, 0.5);
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_DUPLICATE_FIELD);
	EXTRA_BEGIN(&p);
	rec_num(&p, "dropped", "count", 1);
	rec_num(&p, "dropped", "count", 1);
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_DUPLICATE_FIELD);
}

static void
test_unknown_labels(void **state)
{
	static const uint8_t label_9[] = { 0x81, 0xa1, 0x09, 0x01 };
	static const uint8_t label_m7[] = { 0x81, 0xa1, 0x26, 0x01 };
	static const uint8_t label_huge[] = { 0x81, 0xa1, 0x1b, 0xff, 0xff, 0xff, 0xff, 0xff,
	                                      0xff, 0xff, 0xff, 0x01 };
	static const uint8_t label_neg_huge[] = { 0x81, 0xa1, 0x3b, 0xff, 0xff, 0xff, 0xff,
	                                          0xff, 0xff, 0xff, 0xff, 0x01 };
	/* A must-understand extension label (ends in '_'). */
	static const uint8_t label_mu[] = { 0x81, 0xa1, 0x62, 0x78, 0x5f, 0x01 };
	struct tfp_telemetry t;
	(void)state;

	assert_int_equal(tfp_telemetry_decode(label_9, sizeof(label_9), &t),
	                 TFP_ERR_UNKNOWN_FIELD);
	assert_int_equal(tfp_telemetry_decode(label_m7, sizeof(label_m7), &t),
	                 TFP_ERR_UNKNOWN_FIELD);
	assert_int_equal(tfp_telemetry_decode(label_huge, sizeof(label_huge), &t),
	                 TFP_ERR_UNKNOWN_FIELD);
	assert_int_equal(tfp_telemetry_decode(label_neg_huge, sizeof(label_neg_huge), &t),
	                 TFP_ERR_UNKNOWN_FIELD);
	assert_int_equal(tfp_telemetry_decode(label_mu, sizeof(label_mu), &t),
	                 TFP_ERR_UNKNOWN_FIELD);
}

static void
test_value_rules(void **state)
{
	struct hp p;
	struct tfp_telemetry t;
	(void)state;

	/* Both v and vb (RFC 8428: at most one value field). */
	EXTRA_BEGIN(&p);
	tfp_cbor_put_map(&p.w, 3);
	tfp_cbor_put_int(&p.w, 0);
	tfp_cbor_put_textz(&p.w, "temp");
	tfp_cbor_put_int(&p.w, 2);
	tfp_cbor_put_uint(&p.w, 1);
	tfp_cbor_put_int(&p.w, 4);
	tfp_cbor_put_bool(&p.w, true);
	p.n++;
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_SENML_VALUE);

	/* A boolean record sent as a number; a number record sent as a boolean. */
	hp_init(&p);
	rec_first(&p, "d1/m:1.0/");
	rec_rest(&p, "alarm");
	rec_num(&p, "alarm", NULL, 1);
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_SENML_VALUE);
	hp_init(&p);
	rec_first(&p, "d1/m:1.0/");
	rec_rest(&p, "loss");
	rec_bool(&p, "loss", true);
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_SENML_VALUE);

	/* A known record without a value (only a sum). */
	hp_init(&p);
	rec_first(&p, "d1/m:1.0/");
	rec_rest(&p, "psi");
	tfp_cbor_put_map(&p.w, 2);
	tfp_cbor_put_int(&p.w, 0);
	tfp_cbor_put_textz(&p.w, "psi");
	tfp_cbor_put_int(&p.w, 5);
	tfp_cbor_put_uint(&p.w, 1);
	p.n++;
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_SENML_VALUE);

	/* Another unit than the documented one. */
	hp_init(&p);
	rec_first(&p, "d1/m:1.0/");
	rec_rest(&p, "acc");
	rec_num(&p, "acc", "%", 87.5);
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_SENML_VALUE);

	/* Non-finite numbers anywhere, reals beyond float, bad counts. */
	EXTRA_BEGIN(&p);
	rec_num(&p, "temp", NULL, NAN);
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_RANGE);
	EXTRA_BEGIN(&p);
	tfp_cbor_put_map(&p.w, 2);
	tfp_cbor_put_int(&p.w, -3);
	tfp_cbor_put_float(&p.w, INFINITY);
	tfp_cbor_put_int(&p.w, 0);
	tfp_cbor_put_textz(&p.w, "temp");
	p.n++;
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_RANGE);
	EXTRA_BEGIN(&p);
	tfp_cbor_put_map(&p.w, 3);      /* bv + v overflows to infinity */
	tfp_cbor_put_int(&p.w, -5);
	tfp_cbor_put_float(&p.w, 1.5e308);
	tfp_cbor_put_int(&p.w, 0);
	tfp_cbor_put_textz(&p.w, "temp");
	tfp_cbor_put_int(&p.w, 2);
	tfp_cbor_put_float(&p.w, 1.5e308);
	p.n++;
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_RANGE);
	hp_init(&p);
	rec_first(&p, "d1/m:1.0/");
	rec_rest(&p, "loss");
	rec_num(&p, "loss", NULL, 1e39);
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_RANGE);
	hp_init(&p);
	rec_first(&p, "d1/m:1.0/");
	rec_rest(&p, "labelled");
	rec_num(&p, "labelled", "count", 1.5);
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_RANGE);
	hp_init(&p);
	rec_first(&p, "d1/m:1.0/");
	rec_rest(&p, "labelled");
	rec_num(&p, "labelled", "count", -1);
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_RANGE);
	hp_init(&p);
	rec_first(&p, "d1/m:1.0/");
	rec_rest(&p, "labelled");
	rec_num(&p, "labelled", "count", 4294967296.0);
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_RANGE);

	/* A feature index at or above nfeat (4 here). */
	EXTRA_BEGIN(&p);
	rec_num(&p, "z4", NULL, 0.5);
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_RANGE);

	/* A required record missing. */
	hp_init(&p);
	rec_first(&p, "d1/m:1.0/");
	rec_rest(&p, "margin");
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_MISSING_FIELD);
}

static void
test_name_and_base_rules(void **state)
{
	static const char *const bad_bases[] = {
		"d1/", "d1/m/", "d1/m:1.0", "d1/:1.0/", "d1/m:/", "d1//m:1.0/", "d1/m:1_0/",
		"d1/m:1.0/x/", "d1:x/m:1.0/", "d1/m:1:0/",
	};
	struct hp p;
	struct tfp_telemetry t;
	(void)state;

	for (size_t i = 0; i < sizeof(bad_bases) / sizeof(bad_bases[0]); i++) {
		hp_init(&p);
		rec_first(&p, bad_bases[i]);
		rec_rest(&p, NULL);
		print_message("base %s\n", bad_bases[i]);
		assert_int_equal(decode_hp(&p, &t), TFP_ERR_SENML_BASE);
	}
	/* The first record without a base name. */
	hp_init(&p);
	rec_num(&p, "samples", "count", 1);
	rec_rest(&p, NULL);
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_SENML_BASE);
	/* An empty pack names no device. */
	hp_init(&p);
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_SENML_BASE);
	/* A later record about another device. */
	EXTRA_BEGIN(&p);
	tfp_cbor_put_map(&p.w, 3);
	tfp_cbor_put_int(&p.w, -2);
	tfp_cbor_put_textz(&p.w, "d2/m:1.0/");
	tfp_cbor_put_int(&p.w, 0);
	tfp_cbor_put_textz(&p.w, "acc");
	tfp_cbor_put_int(&p.w, 2);
	tfp_cbor_put_uint(&p.w, 1);
	p.n++;
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_SENML_BASE);
	/* A SenML version this reader does not know (bver 11). */
	EXTRA_BEGIN(&p);
	tfp_cbor_put_map(&p.w, 1);
	tfp_cbor_put_int(&p.w, -1);
	tfp_cbor_put_uint(&p.w, 11);
	p.n++;
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_SENML_BASE);

	/* Resolved names outside RFC 8428 §4.5.1, or empty: refused before the base name is
	 * looked at. */
	hp_init(&p);
	rec_first(&p, "/m:1.0/");
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_SENML_NAME);
	hp_init(&p);
	rec_first(&p, "_d/m:1.0/");
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_SENML_NAME);
	EXTRA_BEGIN(&p);
	rec_num(&p, "a b", NULL, 1);
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_SENML_NAME);
	hp_init(&p);
	rec_num(&p, "-lead", NULL, 1);
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_SENML_NAME);
	hp_init(&p);
	tfp_cbor_put_map(&p.w, 1);
	tfp_cbor_put_int(&p.w, 2);
	tfp_cbor_put_uint(&p.w, 1);
	p.n++;
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_SENML_NAME);
	EXTRA_BEGIN(&p);
	rec_num(&p, "x\xc3\xa9", NULL, 1);
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_SENML_NAME);
	/* A NUL inside a unit. */
	EXTRA_BEGIN(&p);
	tfp_cbor_put_map(&p.w, 3);
	tfp_cbor_put_int(&p.w, 0);
	tfp_cbor_put_textz(&p.w, "temp");
	tfp_cbor_put_int(&p.w, 1);
	tfp_cbor_put_text(&p.w, "C\0l", 3);
	tfp_cbor_put_int(&p.w, 2);
	tfp_cbor_put_uint(&p.w, 1);
	p.n++;
	assert_int_equal(decode_hp(&p, &t), TFP_ERR_BAD_TEXT);
	/* Bytes after the pack. */
	EXTRA_BEGIN(&p);
	size_t len = hp_finish(&p, pack, sizeof(pack) - 1);
	pack[len] = 0x00;
	assert_int_equal(tfp_telemetry_decode(pack, len + 1, &t), TFP_ERR_TRAILING);
}

/* ---- the committed example ---- */

static size_t
read_hex(const char *path, uint8_t *out, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;
	int c, hi = -1;

	assert_non_null(f);
	while ((c = fgetc(f)) != EOF) {
		int v;
		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else
			continue;
		if (hi < 0) {
			hi = v;
		} else {
			assert_true(n < cap);
			out[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	fclose(f);
	return n;
}

/* schemas/examples/telemetry.hex is the reference snapshot (16 features, all optional
 * records); it decodes to exactly that and re-encodes to the same bytes. */
static void
test_schema_example(void **state)
{
	static uint8_t ex[PACK_MAX];
	struct tfp_telemetry t, d;
	struct tfp_telem_enc_info info;
	(void)state;

	size_t n = read_hex(TF_SOURCE_DIR "/schemas/examples/telemetry.hex", ex, sizeof(ex));
	assert_int_equal(tfp_telemetry_decode(ex, n, &d), 0);
	tf_telemetry_sample(&t, 16, 1);
	assert_subset(&t, &d);
	assert_true(d.shift_mask == t.shift_mask);
	assert_int_equal(d.optional, TFP_TELEM_OPT_ALL);
	assert_int_equal(encode_ok(&d, &info), n);
	assert_memory_equal(pack, ex, n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_full),
		cmocka_unit_test(test_round_trip_shapes),
		cmocka_unit_test(test_reencode_is_identical),
		cmocka_unit_test(test_budget_sweep_drop_order),
		cmocka_unit_test(test_budget_drops_least_first),
		cmocka_unit_test(test_encoder_refuses_bad_input),
		cmocka_unit_test(test_base_name),
		cmocka_unit_test(test_hand_built_minimal_pack),
		cmocka_unit_test(test_resolution_rules),
		cmocka_unit_test(test_base_only_record),
		cmocka_unit_test(test_unknown_names_and_text_labels_skipped),
		cmocka_unit_test(test_truncation_at_every_byte),
		cmocka_unit_test(test_wrong_major_types),
		cmocka_unit_test(test_oversize_counts_and_lengths),
		cmocka_unit_test(test_indefinite_lengths),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_unknown_labels),
		cmocka_unit_test(test_value_rules),
		cmocka_unit_test(test_name_and_base_rules),
		cmocka_unit_test(test_schema_example),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
