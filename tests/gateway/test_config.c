/* tinyfleetd's configuration file: defaults, every error names its line, nothing half-set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static int
parse(struct gw_config *c, const char *text)
{
	return gw_config_parse(c, text, strlen(text), "test.conf");
}

static void
test_empty_file_gives_defaults(void **state)
{
	struct gw_config c;
	(void)state;
	assert_int_equal(parse(&c, ""), 0);
	assert_string_equal(c.site, "site1");
	assert_string_equal(c.mqtt_client_id, "gw-site1");
	assert_string_equal(c.mqtt_uri, "ssl://127.0.0.1:8883");
	assert_int_equal(c.telemetry_flush_ms, 50);
	assert_int_equal(c.log_level, GW_LOG_INFO);
}

static void
test_values_comments_and_blanks(void **state)
{
	struct gw_config c;
	(void)state;
	assert_int_equal(parse(&c, "# site config\n\n  site = plant-7  # north hall\n"
	                           "mqtt.uri=ssl://broker.local:8883\nlog_level = debug\n"
	                           "telemetry.flush_ms = 20\nstore.map_size_mb = 4096\n"),
	                 0);
	assert_string_equal(c.site, "plant-7");
	assert_string_equal(c.mqtt_client_id, "gw-plant-7");
	assert_string_equal(c.mqtt_uri, "ssl://broker.local:8883");
	assert_int_equal(c.log_level, GW_LOG_DEBUG);
	assert_int_equal(c.telemetry_flush_ms, 20);
	assert_int_equal(c.store_map_size_mb, 4096);
}

/* Each bad file is refused; the message (checked by eye in the test log) names the line. */
static void
test_errors_are_refused(void **state)
{
	static const char *const bad[] = {
		"site = a b\n",                 /* not an identifier */
		"\n\nnonsense\n",               /* no '=' */
		"mqtt.port = 1883\n",           /* unknown key */
		"mqtt.keepalive = 2\n",         /* below range */
		"mqtt.keepalive = 30s\n",       /* not a number */
		"telemetry.flush_ms = -1\n",    /* negative */
		"log_level = loud\n",
		"mqtt.uri = tcp://127.0.0.1:1883\n",   /* TLS only */
		"store.map_size_mb = 64\nstore.reserve_mb = 32\n",
		"state_dir = \n",
		"rollout.chunk_size = 32\n",   /* below the smallest chunk */
		"rollout.chunk_size = 16385\n",/* above the protocol's largest */
	};
	struct gw_config c;
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse(&c, bad[i]), -EINVAL);
}

static void
test_load_from_file(void **state)
{
	char path[] = "/tmp/tf-conf-XXXXXX";
	struct gw_config c;
	int fd = mkstemp(path);
	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "site = s2\n", 10), 10);
	close(fd);
	assert_int_equal(gw_config_load(&c, path), 0);
	assert_string_equal(c.site, "s2");
	unlink(path);
	assert_int_equal(gw_config_load(&c, path), -ENOENT);
}

/* Offers suggest the protocol's largest chunk unless the site asks for less. */
static void
test_rollout_chunk_size(void **state)
{
	struct gw_config c;

	(void)state;
	assert_int_equal(parse(&c, ""), 0);
	assert_int_equal(c.rollout_chunk_size, 16384);
	assert_int_equal(parse(&c, "rollout.chunk_size = 1024\n"), 0);
	assert_int_equal(c.rollout_chunk_size, 1024);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rollout_chunk_size),
		cmocka_unit_test(test_empty_file_gives_defaults),
		cmocka_unit_test(test_values_comments_and_blanks),
		cmocka_unit_test(test_errors_are_refused),
		cmocka_unit_test(test_load_from_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
