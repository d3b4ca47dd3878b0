/* coap_path: the CoAP endpoint's resource paths, and what it refuses. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "coap_path.h"

static int
parse(const char *s, struct gw_coap_path *p)
{
	return gw_coap_path_parse(s, strlen(s), p);
}

static void
test_device_paths(void **state)
{
	static const struct { const char *path; enum gw_coap_res res; } ok[] = {
		{ "dev/vib-0007/state", GW_COAP_RES_STATE },
		{ "dev/vib-0007/conn", GW_COAP_RES_CONN },
		{ "dev/vib-0007/telemetry", GW_COAP_RES_TELEMETRY },
		{ "dev/vib-0007/report", GW_COAP_RES_REPORT },
		{ "dev/vib-0007/cmd", GW_COAP_RES_CMD },
	};
	struct gw_coap_path p;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(parse(ok[i].path, &p), 0);
		assert_int_equal(p.res, ok[i].res);
		assert_string_equal(p.device_id, "vib-0007");
		assert_string_equal(gw_coap_res_name(p.res), strrchr(ok[i].path, '/') + 1);
	}
}

static void
test_object_path(void **state)
{
	struct gw_coap_path p;
	char path[80] = "obj/";

	(void)state;
	for (int i = 0; i < 32; i++)
		snprintf(path + 4 + 2 * i, 3, "%02X", i * 7);
	assert_int_equal(parse(path, &p), 0);
	assert_int_equal(p.res, GW_COAP_RES_OBJECT);
	for (int i = 0; i < 32; i++)
		assert_int_equal(p.object_id[i], (uint8_t)(i * 7));
	path[10] = 'g';
	assert_int_equal(parse(path, &p), -EINVAL);
	path[10] = '0';
	path[strlen(path) - 1] = '\0';   /* 63 digits */
	assert_int_equal(parse(path, &p), -EINVAL);
}

static void
test_refused(void **state)
{
	static const char *const bad[] = {
		"", "/", "dev", "dev/", "dev/a", "dev/a/", "dev//state", "/dev/a/state",
		"dev/a/state/", "dev/a/state/x", "dev/a/chunk/req", "dev/a/unknown", "dev/./state",
		"dev/../state", "dev/a b/state", "dev/a+/state", "dev/a#/state", "DEV/a/state",
		"obj", "obj/", "obj/00", "api/req/x", "dev/a/STATE",
	};
	struct gw_coap_path p;
	char longid[100];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse(bad[i], &p), -EINVAL);
	/* An id of 64 characters is the longest. */
	memset(longid, 0, sizeof(longid));
	memcpy(longid, "dev/", 4);
	memset(longid + 4, 'x', 64);
	memcpy(longid + 68, "/cmd", 4);
	assert_int_equal(parse(longid, &p), 0);
	assert_int_equal(strlen(p.device_id), 64);
	memset(longid + 4, 'x', 65);
	memcpy(longid + 69, "/cmd", 4);
	assert_int_equal(parse(longid, &p), -EINVAL);
	/* A NUL inside the given length is refused, not a terminator. */
	assert_int_equal(gw_coap_path_parse("dev/a\0b/cmd", 11, &p), -EINVAL);
	assert_int_equal(gw_coap_path_parse(NULL, 3, &p), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_device_paths),
		cmocka_unit_test(test_object_path),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
