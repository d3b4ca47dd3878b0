/*
 * Rollout definitions: the gateway's C checks give the schema's verdict on every example
 * of the contract (schemas/examples/operator: each valid rollout-create-request and
 * rollout-definition accepted; each invalid one refused with invalid_request and the
 * keyword invalid/expected.json names), plus the checks a schema cannot make, with clear
 * messages, and the defaults written into the stored definition.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "rollout_def.h"

#define EX TF_SOURCE_DIR "/schemas/examples/operator"

static int
is_definition(const char *name)
{
	return strncmp(name, "rollout-create-request", 22) == 0 ||
	       strncmp(name, "rollout-definition", 18) == 0;
}

static void
test_every_valid_example_is_accepted(void **state)
{
	DIR *dir = opendir(EX);
	struct dirent *de;
	int n = 0;

	(void)state;
	assert_non_null(dir);
	while ((de = readdir(dir)) != NULL) {
		char path[512];
		struct gw_rollout_def d;
		struct gw_api_error e = { 0 };
		json_t *body;
		if (!is_definition(de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", EX, de->d_name);
		body = json_load_file(path, 0, NULL);
		assert_non_null(body);
		if (gw_rollout_def_parse(body, &d, &e) != 0)
			fail_msg("%s refused: %s", de->d_name, e.message);
		/* The stored form parses again to the same rules (what a restart reads). */
		{
			struct gw_rollout_def again;
			assert_int_equal(gw_rollout_def_parse(d.json, &again, &e), 0);
			assert_true(json_equal(again.json, d.json));
			gw_rollout_def_free(&again);
		}
		gw_rollout_def_free(&d);
		json_decref(body);
		n++;
	}
	closedir(dir);
	assert_true(n >= 4);
}

static void
test_every_invalid_example_is_refused_for_its_keyword(void **state)
{
	json_t *expected = json_load_file(EX "/invalid/expected.json", 0, NULL), *kw;
	const char *name;
	int n = 0;

	(void)state;
	assert_non_null(expected);
	json_object_foreach(expected, name, kw) {
		char path[512];
		struct gw_rollout_def d;
		struct gw_api_error e = { 0 };
		json_t *body;
		if (!is_definition(name))
			continue;
		snprintf(path, sizeof(path), "%s/invalid/%s", EX, name);
		body = json_load_file(path, 0, NULL);
		assert_non_null(body);
		if (gw_rollout_def_parse(body, &d, &e) == 0)
			fail_msg("%s accepted", name);
		assert_string_equal(e.code, "invalid_request");
		if (strcmp(json_string_value(json_object_get(e.details, "keyword")),
		           json_string_value(kw)) != 0)
			fail_msg("%s refused for %s (%s), expected %s", name,
			         json_string_value(json_object_get(e.details, "keyword")), e.message,
			         json_string_value(kw));
		json_decref(e.details);
		json_decref(body);
		n++;
	}
	json_decref(expected);
	assert_true(n >= 20);
}

/* Refused with path and keyword; the message names the member. */
static void
refused(const char *json, const char *path, const char *keyword)
{
	struct gw_rollout_def d;
	struct gw_api_error e = { 0 };
	json_t *body = json_loads(json, 0, NULL);

	assert_non_null(body);
	assert_int_equal(gw_rollout_def_parse(body, &d, &e), -22);
	assert_string_equal(e.code, "invalid_request");
	assert_string_equal(json_string_value(json_object_get(e.details, "path")), path);
	assert_string_equal(json_string_value(json_object_get(e.details, "keyword")), keyword);
	assert_non_null(strstr(e.message, path));
	json_decref(e.details);
	json_decref(body);
}

#define HEAD "{\"model\": \"pump-anomaly\", \"version\": \"1.1.0\", \"target\": {\"all\": true}, "

static void
test_malformed_definitions_are_refused_clearly(void **state)
{
	(void)state;
	refused(HEAD "\"waves\": {\"canary\": {\"count\": 1}, \"stages\": [50, 25, 100]}, "
	             "\"on_gate_failure\": \"pause\"}", "/waves/stages", "increasing");
	refused(HEAD "\"waves\": {\"canary\": {\"count\": 1}, \"stages\": [100, 50]}, "
	             "\"on_gate_failure\": \"pause\"}", "/waves/stages", "increasing");
	refused(HEAD "\"waves\": {\"canary\": {\"count\": 1}, \"stages\": [50, 50, 100]}, "
	             "\"on_gate_failure\": \"pause\"}", "/waves/stages", "uniqueItems");
	refused("{\"model\": \"pump-anomaly\", \"version\": \"1.01.0\", \"target\": {\"all\": "
	        "true}, \"waves\": {\"canary\": {\"count\": 1}, \"stages\": [100]}, "
	        "\"on_gate_failure\": \"pause\"}", "/version", "pattern");
	refused("{\"model\": \"pump/anomaly\", \"version\": \"1.1.0\", \"target\": {\"all\": "
	        "true}, \"waves\": {\"canary\": {\"count\": 1}, \"stages\": [100]}, "
	        "\"on_gate_failure\": \"pause\"}", "/model", "pattern");
	refused(HEAD "\"waves\": {\"canary\": {\"count\": 1}, \"stages\": [100]}, "
	             "\"max_in_flight\": \"5\", \"on_gate_failure\": \"pause\"}", "/max_in_flight",
	        "type");
	refused(HEAD "\"waves\": {\"canary\": {\"count\": 1}, \"stages\": [100]}, "
	             "\"gates\": {\"quality\": {\"min_samples\": 0}}, \"on_gate_failure\": "
	             "\"pause\"}", "/gates/quality/min_samples", "minimum");
	refused("[1, 2]", "/", "type");
}

static void
test_defaults_are_written_out(void **state)
{
	struct gw_rollout_def d;
	struct gw_api_error e = { 0 };
	json_t *body = json_loads(HEAD "\"waves\": {\"canary\": {\"share\": 2}, \"stages\": [100]}, "
	                                "\"on_gate_failure\": \"rollback_all\"}", 0, NULL);

	(void)state;
	assert_int_equal(gw_rollout_def_parse(body, &d, &e), 0);
	assert_int_equal(d.max_in_flight, 50);
	assert_int_equal(d.settle_s, 900);
	assert_int_equal(d.retry_max, 3);
	assert_true(d.q.drift_alarm && d.q.control_group);
	assert_true(d.q.max_accuracy_drop < 0);       /* absent: not checked */
	assert_int_equal(d.on_fail, GW_GATE_ROLLBACK_ALL);
	assert_int_equal(json_integer_value(json_object_get(d.json, "max_in_flight")), 50);
	assert_int_equal(json_integer_value(json_object_get(
	                         json_object_get(json_object_get(d.json, "gates"), "quality"),
	                         "min_samples")), 100);
	assert_null(json_object_get(json_object_get(json_object_get(d.json, "gates"), "quality"),
	                            "max_accuracy_drop"));
	gw_rollout_def_free(&d);
	json_decref(body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_valid_example_is_accepted),
		cmocka_unit_test(test_every_invalid_example_is_refused_for_its_keyword),
		cmocka_unit_test(test_malformed_definitions_are_refused_clearly),
		cmocka_unit_test(test_defaults_are_written_out),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
