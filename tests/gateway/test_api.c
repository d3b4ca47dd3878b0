/*
 * The operator API's operations on a real store, registry, catalog and monitor (no broker:
 * gw_api_call is what a request runs after its topic and JSON checks). The contract's own
 * request examples get the schemas' verdict (valid ones are not refused as invalid, each
 * invalid one is refused with the keyword schemas/examples/operator/invalid/expected.json
 * names); answers validate against the response schemas (python3-jsonschema, as the
 * contract's tests do); lists filter and page; tags persist and are idempotent.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api.h"
#include "modelstatus.h"
#include "clock.h"
#include "gw_testutil.h"
#include "log.h"
#include "tinyfleet/protocol/msg_state.h"
#include "tinyfleet/protocol/telemetry.h"

#define EXAMPLES TF_SOURCE_DIR "/schemas/examples/operator"

struct fixture {
	char dir[64];
	struct gw_store store;
	struct gw_registry reg;
	struct gw_catalog cat;
	struct gw_monitor mon;
	struct gw_api api;
};

static void
open_all(struct fixture *f)
{
	struct gw_store_config cfg = { .path = f->dir, .map_size = 64u << 20 };
	assert_int_equal(gw_store_open(&f->store, &cfg), 0);
	assert_int_equal(gw_registry_open(&f->reg, &f->store, NULL, NULL), 0);
	assert_int_equal(gw_catalog_open(&f->cat, &f->store,
	                                 TF_SOURCE_DIR "/tests/interop/keys/release-test.pub.pem"),
	                 0);
	gw_monitor_init(&f->mon, &f->store, NULL, NULL);
	gw_api_init(&f->api, "site1", &f->cat, &f->reg, &f->mon, NULL);
}

static void
close_all(struct fixture *f)
{
	gw_monitor_close(&f->mon);
	gw_registry_close(&f->reg);
	gw_store_close(&f->store);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	gw_log_init(GW_LOG_ERR);
	tu_mkdtemp(f->dir, sizeof(f->dir), "gw-api");
	open_all(f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	close_all(f);
	tu_rmtree(f->dir);
	free(f);
	return 0;
}

/* A device says hello: class, and the model its active slot runs (NULL: none). */
static void
hello(struct fixture *f, const char *id, const char *class, const char *model,
      const char *version)
{
	struct tfp_state s;
	uint8_t msg[TFP_STATE_WIRE_MAX];
	size_t len;

	tu_state_init(&s, id, class, 65536, 262144);
	if (model != NULL) {
		s.slots[0].state = TFP_SLOT_CONFIRMED;
		s.slots[0].sequence = 1;
		snprintf(s.slots[0].model, sizeof(s.slots[0].model), "%s", model);
		snprintf(s.slots[0].version, sizeof(s.slots[0].version), "%s", version);
		s.slots[0].digest[0] = 1;
	}
	assert_int_equal(tfp_state_encode(&s, msg, sizeof(msg), &len), 0);
	assert_int_equal(gw_registry_on_state(&f->reg, id, msg, len, 1764000000000ull), 0);
}

static void
publish(struct fixture *f, const char *version, uint64_t seq)
{
	static struct tu_model m;
	struct tfp_cose_signer signer;
	struct gw_model out;
	const char *code;
	char why[GW_CATALOG_WHY_MAX];
	int created;

	tu_signer_init(&signer);
	tu_signed_model(&signer, version, seq, (float)seq, &m);
	tfp_cose_signer_free(&signer);
	assert_int_equal(gw_catalog_publish(&f->cat, m.cose, m.cose_len, m.tfm, m.tfm_len,
	                                    "op-alice", 1764000000000ull, &out, &created, &code,
	                                    why),
	                 0);
}

/* Runs op on the JSON text; returns the whole answer as the gateway would send it. */
static json_t *
call(struct fixture *f, const char *op, const char *text)
{
	struct gw_api_error e = { 0 };
	json_error_t jerr;
	json_t *body = json_loads(text, 0, &jerr), *result, *answer;

	assert_non_null(body);
	result = gw_api_call(&f->api, op, "op-alice", body, &e);
	json_decref(body);
	if (result != NULL)
		return json_pack("{s:b, s:o}", "ok", 1, "result", result);
	answer = json_pack("{s:b, s:{s:s, s:s}}", "ok", 0, "error", "code", e.code, "message",
	                   e.message);
	if (e.details != NULL)
		json_object_set_new(json_object_get(answer, "error"), "details", e.details);
	return answer;
}

/* Validates an answer against a response schema of the contract. */
static void
valid(struct fixture *f, json_t *answer, const char *schema)
{
	char path[128], cmd[1024];
	snprintf(path, sizeof(path), "%s/answer.json", f->dir);
	assert_int_equal(json_dump_file(answer, path, 0), 0);
	snprintf(cmd, sizeof(cmd),
	         "%s %s/tests/schemas/check_operator_schemas.py validate --schemas "
	         "%s/schemas/operator --schema %s --file %s",
	         TF_PYTHON, TF_SOURCE_DIR, TF_SOURCE_DIR, schema, path);
	if (system(cmd) != 0)
		fail_msg("answer not valid as %s: %s", schema, json_dumps(answer, 0));
}

static const char *
code_of(json_t *answer)
{
	return json_string_value(json_object_get(json_object_get(answer, "error"), "code"));
}

static const char *
keyword_of(json_t *answer)
{
	return json_string_value(json_object_get(
		json_object_get(json_object_get(answer, "error"), "details"), "keyword"));
}

static json_t *
result_of(json_t *answer)
{
	json_t *r = json_object_get(answer, "result");
	if (r == NULL)
		fail_msg("refused: %s", json_dumps(answer, 0));
	return r;
}

/* Runs a list operation; its "total" must be `total`. */
static void
expect_total(struct fixture *f, const char *op, const char *text, json_int_t total)
{
	json_t *a = call(f, op, text);

	assert_int_equal(json_integer_value(json_object_get(result_of(a), "total")), total);
	json_decref(a);
}

/* "device-list-request--x.json" -> "device.list" when it is a request of an operation the
 * core implements, else 0. */
static int
op_of(const char *file, char *op, size_t cap)
{
	static const char *const ops[] = { "model-get", "model-list", "device-get",
		                           "device-list", "device-tags", "fleet-status" };
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		size_t n = strlen(ops[i]);
		if (strncmp(file, ops[i], n) == 0 && strncmp(file + n, "-request", 8) == 0) {
			snprintf(op, cap, "%s", ops[i]);
			op[strchr(op, '-') - op] = '.';
			return 1;
		}
	}
	return 0;
}

static char *
slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf = calloc(1, 65536);
	assert_non_null(fp);
	fread(buf, 1, 65535, fp);
	fclose(fp);
	return buf;
}

static void
test_request_examples_get_the_schemas_verdict(void **state)
{
	struct fixture *f = *state;
	json_t *expected = json_load_file(EXAMPLES "/invalid/expected.json", 0, NULL);
	struct dirent *de;
	DIR *dir;
	int valid_seen = 0, invalid_seen = 0;
	char op[32], path[512];

	assert_non_null(expected);
	hello(f, "vib-0007", "stm32l4-vib", "pump-anomaly", "1.0.0");
	publish(f, "1.1.0", 2);

	assert_non_null(dir = opendir(EXAMPLES));
	while ((de = readdir(dir)) != NULL) {
		json_t *answer;
		char *text;
		if (!op_of(de->d_name, op, sizeof(op)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", EXAMPLES, de->d_name);
		text = slurp(path);
		answer = call(f, op, text);
		if (!json_is_true(json_object_get(answer, "ok")) &&
		    strcmp(code_of(answer), "not_found") != 0)
			fail_msg("%s refused: %s", de->d_name, json_dumps(answer, 0));
		valid_seen++;
		json_decref(answer);
		free(text);
	}
	closedir(dir);

	assert_non_null(dir = opendir(EXAMPLES "/invalid"));
	while ((de = readdir(dir)) != NULL) {
		const char *want = json_string_value(json_object_get(expected, de->d_name));
		json_t *answer;
		char *text;
		if (!op_of(de->d_name, op, sizeof(op)))
			continue;
		snprintf(path, sizeof(path), "%s/invalid/%s", EXAMPLES, de->d_name);
		text = slurp(path);
		answer = call(f, op, text);
		if (json_is_true(json_object_get(answer, "ok")) ||
		    strcmp(code_of(answer), "invalid_request") != 0 || keyword_of(answer) == NULL ||
		    want == NULL || strcmp(keyword_of(answer), want) != 0)
			fail_msg("%s: want invalid_request/%s, got %s", de->d_name, want,
			         json_dumps(answer, 0));
		valid(f, answer, "error-response");
		invalid_seen++;
		json_decref(answer);
		free(text);
	}
	closedir(dir);
	json_decref(expected);
	/* The contract has examples of each kind (a vanished folder must not pass silently). */
	assert_true(valid_seen >= 9);
	assert_true(invalid_seen >= 20);
}

static void
test_device_list_filters_and_pages(void **state)
{
	struct fixture *f = *state;
	json_t *a, *r;
	char req[256];
	const char *cursor;
	int seen = 0;

	hello(f, "dev-01", "stm32l4-vib", "pump-anomaly", "1.0.0");
	hello(f, "dev-02", "stm32l4-vib", "pump-anomaly", "1.1.0");
	hello(f, "dev-03", "stm32l4-vib", NULL, NULL);
	hello(f, "dev-04", "esp32-audio", "kws", "2.0.0");
	hello(f, "dev-05", "stm32l4-vib", "pump-anomaly", "1.0.0");
	assert_int_equal(gw_registry_on_conn(&f->reg, "dev-05", (const uint8_t *)"\x00", 1,
	                                     1764000001000ull),
	                 0);

	/* Pages of two, in id order, until next_cursor is null. */
	snprintf(req, sizeof(req), "{\"limit\": 2}");
	for (int page = 0; page < 5; page++) {
		a = call(f, "device.list", req);
		valid(f, a, "device-list-response");
		r = result_of(a);
		assert_int_equal(json_integer_value(json_object_get(r, "total")), 5);
		for (size_t i = 0; i < json_array_size(json_object_get(r, "items")); i++) {
			char want[24];
			snprintf(want, sizeof(want), "dev-%02d", ++seen);
			assert_string_equal(json_string_value(json_object_get(
				                    json_array_get(json_object_get(r, "items"), i), "id")),
			                    want);
		}
		cursor = json_string_value(json_object_get(r, "next_cursor"));
		if (cursor == NULL) {
			json_decref(a);
			break;
		}
		snprintf(req, sizeof(req), "{\"limit\": 2, \"cursor\": \"%s\"}", cursor);
		json_decref(a);
	}
	assert_int_equal(seen, 5);

	expect_total(f, "device.list", "{\"model\": \"pump-anomaly\", \"version\": \"1.0.0\"}",
	             2);
	expect_total(f, "device.list", "{\"model\": \"pump-anomaly\", \"online\": true}", 2);
	expect_total(f, "device.list", "{\"class\": \"esp32-audio\"}", 1);
	a = call(f, "device.list", "{\"online\": false}");
	r = result_of(a);
	assert_int_equal(json_integer_value(json_object_get(r, "total")), 1);
	assert_string_equal(json_string_value(json_object_get(
		                    json_array_get(json_object_get(r, "items"), 0), "id")),
	                    "dev-05");
	json_decref(a);
	expect_total(f, "device.list", "{\"drifting\": false}", 5);

	/* Tags select too; can_run names a published version. */
	a = call(f, "device.tags", "{\"id\": \"dev-03\", \"add\": [\"line-3\", \"north\"]}");
	valid(f, a, "device-tags-response");
	json_decref(a);
	a = call(f, "device.tags", "{\"id\": \"dev-02\", \"add\": [\"line-3\"]}");
	json_decref(a);
	expect_total(f, "device.list", "{\"tags\": [\"line-3\", \"north\"]}", 1);
	expect_total(f, "device.list", "{\"tags\": [\"line-3\"]}", 2);
	a = call(f, "device.list", "{\"can_run\": {\"model\": \"pump-anomaly\", \"version\": "
	                           "\"1.0.0\"}}");
	assert_string_equal(code_of(a), "not_found");
	json_decref(a);
	publish(f, "1.0.0", 1);
	expect_total(f, "device.list", "{\"can_run\": {\"model\": \"pump-anomaly\", \"version\": "
	             "\"1.0.0\"}}", 4);
	a = call(f, "device.list", "{\"cursor\": \"AAAA\"}");   /* decodes to NULs */
	assert_string_equal(code_of(a), "invalid_request");
	json_decref(a);
}

static void
test_tags_are_stored_and_repeats_change_nothing(void **state)
{
	struct fixture *f = *state;
	struct gw_store_stats st;
	const struct gw_device *d;
	json_t *a, *tags;
	uint64_t audit;

	hello(f, "vib-0007", "stm32l4-vib", NULL, NULL);
	a = call(f, "device.tags", "{\"id\": \"vib-0007\", \"add\": [\"line-2\", \"north\"]}");
	valid(f, a, "device-tags-response");
	json_decref(a);
	/* Removal first, then addition (the contract's example). */
	a = call(f, "device.tags", "{\"id\": \"vib-0007\", \"add\": [\"line-3\"], "
	                           "\"remove\": [\"line-2\"]}");
	tags = json_object_get(result_of(a), "tags");
	assert_int_equal(json_array_size(tags), 2);
	json_decref(a);
	gw_store_stats(&f->store, &st);
	audit = st.audit_next;
	a = call(f, "device.tags", "{\"id\": \"vib-0007\", \"add\": [\"line-3\"], "
	                           "\"remove\": [\"line-2\"]}");
	assert_true(json_is_true(json_object_get(a, "ok")));
	json_decref(a);
	gw_store_stats(&f->store, &st);
	assert_int_equal(st.audit_next, audit);   /* a repeat commits nothing */

	a = call(f, "device.tags", "{\"id\": \"nobody\", \"add\": [\"x\"]}");
	assert_string_equal(code_of(a), "not_found");
	json_decref(a);
	a = call(f, "device.tags", "{\"id\": \"vib-0007\", \"add\": [\"a1\", \"a2\", \"a3\", \"a4\","
	                           " \"a5\", \"a6\", \"a7\", \"a8\", \"a9\", \"b1\", \"b2\", \"b3\","
	                           " \"b4\", \"b5\", \"b6\"]}");
	assert_string_equal(keyword_of(a), "maxItems");
	json_decref(a);

	/* After a restart, and after the device speaks again, the tags are still there. */
	close_all(f);
	open_all(f);
	hello(f, "vib-0007", "stm32l4-vib", "pump-anomaly", "1.0.0");
	assert_int_equal(gw_registry_on_conn(&f->reg, "vib-0007", (const uint8_t *)"\x00", 1,
	                                     1764000001000ull),
	                 0);
	close_all(f);
	open_all(f);
	assert_non_null(d = gw_registry_get(&f->reg, "vib-0007"));
	assert_true(gw_registry_has_tag(d, "line-3"));
	assert_true(gw_registry_has_tag(d, "north"));
	assert_false(gw_registry_has_tag(d, "line-2"));
	assert_string_equal(d->model, "pump-anomaly");
}

static void
test_model_list_and_latest(void **state)
{
	struct fixture *f = *state;
	json_t *a, *r;
	char req[256];

	publish(f, "1.0.0", 1);
	publish(f, "1.1.0", 2);
	publish(f, "1.2.0", 3);
	a = call(f, "model.list", "{\"name\": \"pump-anomaly\", \"limit\": 2}");
	valid(f, a, "model-list-response");
	r = result_of(a);
	assert_int_equal(json_integer_value(json_object_get(r, "total")), 3);
	assert_int_equal(json_array_size(json_object_get(r, "items")), 2);
	assert_string_equal(json_string_value(json_object_get(
		                    json_array_get(json_object_get(r, "items"), 0), "version")),
	                    "1.2.0");
	snprintf(req, sizeof(req), "{\"name\": \"pump-anomaly\", \"limit\": 2, \"cursor\": \"%s\"}",
	         json_string_value(json_object_get(r, "next_cursor")));
	json_decref(a);
	a = call(f, "model.list", req);
	r = result_of(a);
	assert_int_equal(json_array_size(json_object_get(r, "items")), 1);
	assert_string_equal(json_string_value(json_object_get(
		                    json_array_get(json_object_get(r, "items"), 0), "version")),
	                    "1.0.0");
	assert_true(json_is_null(json_object_get(r, "next_cursor")));
	json_decref(a);
	expect_total(f, "model.list", "{\"class\": \"esp32-audio\"}", 0);

	a = call(f, "model.get", "{\"name\": \"pump-anomaly\"}");
	valid(f, a, "model-get-response");
	assert_string_equal(json_string_value(json_object_get(result_of(a), "version")), "1.2.0");
	json_decref(a);
	a = call(f, "model.get", "{\"name\": \"nothing\"}");
	assert_string_equal(code_of(a), "not_found");
	valid(f, a, "model-get-response");
	json_decref(a);
}

/* The retained per-model documents: per version, the devices running it, online and
 * drifting, and the mean of what the devices reporting on it sent. */
static void
test_model_status_documents(void **state)
{
	struct fixture *f = *state;
	struct gw_model_status ms;
	struct tfp_telemetry t;
	json_t *all, *doc, *v0, *v1;
	char at[21];

	publish(f, "1.0.0", 1);
	publish(f, "1.1.0", 2);
	hello(f, "dev-01", "stm32l4-vib", "pump-anomaly", "1.0.0");
	hello(f, "dev-02", "stm32l4-vib", "pump-anomaly", "1.0.0");
	hello(f, "dev-03", "stm32l4-vib", "pump-anomaly", "1.1.0");
	assert_int_equal(gw_registry_on_conn(&f->reg, "dev-02", (const uint8_t *)"\x00", 1,
	                                     1764000001000ull),
	                 0);
	for (int i = 1; i <= 2; i++) {
		tfp_telemetry_init(&t);
		snprintf(t.device_id, sizeof(t.device_id), "dev-0%d", i);
		snprintf(t.model, sizeof(t.model), "pump-anomaly");
		snprintf(t.version, sizeof(t.version), "1.0.0");
		t.time = 1764000000;
		t.samples = 100;
		t.labelled = 10;
		t.loss = i == 1 ? 0.2f : 0.4f;
		t.accuracy = i == 1 ? 0.9f : 0.7f;
		if (i == 2) {
			t.alarm = true;
			t.why = TFP_TELEM_WHY_PH;
			t.ph.score = 61.5f;
			t.ph.alarm = true;
		}
		assert_int_equal(gw_monitor_on_telemetry(&f->mon, &t, 1764000002000ull), 0);
	}

	assert_non_null(all = gw_model_status_build(&f->api));
	assert_non_null(doc = json_object_get(all, "pump-anomaly"));
	assert_string_equal(json_string_value(json_object_get(doc, "latest")), "1.1.0");
	assert_int_equal(json_array_size(json_object_get(doc, "versions")), 2);
	v0 = json_array_get(json_object_get(doc, "versions"), 0);
	v1 = json_array_get(json_object_get(doc, "versions"), 1);
	assert_string_equal(json_string_value(json_object_get(v0, "version")), "1.0.0");
	assert_int_equal(json_integer_value(json_object_get(v0, "devices")), 2);
	assert_int_equal(json_integer_value(json_object_get(v0, "online")), 1);
	assert_int_equal(json_integer_value(json_object_get(v0, "drifting")), 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(v0, "metrics"),
	                                                    "samples")),
	                 200);
	assert_float_equal(json_real_value(json_object_get(json_object_get(v0, "metrics"),
	                                                   "accuracy_avg")),
	                   0.8, 1e-6);
	assert_int_equal(json_integer_value(json_object_get(v1, "devices")), 1);
	assert_true(json_is_null(json_object_get(v1, "metrics")));
	gw_format_time(1764000000000ull, at);
	json_object_set_new(doc, "at", json_string(at));
	valid(f, doc, "model-status");
	json_decref(all);

	/* Without a broker nothing is published, and nothing is remembered as published. */
	gw_model_status_init(&ms);
	gw_model_status_free(&ms);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_request_examples_get_the_schemas_verdict, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_device_list_filters_and_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tags_are_stored_and_repeats_change_nothing,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_model_list_and_latest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_model_status_documents, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
