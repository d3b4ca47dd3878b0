/* config: the coap.* keys of tinyfleetd's configuration (gateway/src/config.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

static int
parse(struct gw_config *c, const char *text)
{
	return gw_config_parse(c, text, strlen(text), "test.conf");
}

static void
test_defaults_follow_mqtt(void **state)
{
	struct gw_config c;

	(void)state;
	assert_int_equal(parse(&c, "mqtt.ca = /pki/ca.crt\nmqtt.cert = /pki/gw.crt\n"
	                           "mqtt.key = /pki/gw.key\n"), 0);
	assert_string_equal(c.coap_listen, "");   /* off unless asked for */
	assert_string_equal(c.coap_ca, "/pki/ca.crt");
	assert_string_equal(c.coap_cert, "/pki/gw.crt");
	assert_string_equal(c.coap_key, "/pki/gw.key");
	assert_int_equal(c.coap_max_sessions, 1024);
	assert_int_equal(c.coap_max_handshakes, 64);
	assert_int_equal(c.coap_session_timeout, 60);
	assert_int_equal(c.coap_device_rate, 200);
	assert_int_equal(c.coap_block_size, 1024);
}

static void
test_explicit_values(void **state)
{
	struct gw_config c;

	(void)state;
	assert_int_equal(parse(&c, "coap.listen = [::]:5684\ncoap.ca = /other/ca.crt\n"
	                           "coap.psk_file = /etc/tinyfleet/psk\ncoap.max_sessions = 10\n"
	                           "coap.max_handshakes = 5\ncoap.session_timeout = 7\n"
	                           "coap.device_rate = 0\ncoap.block_size = 256\n"), 0);
	assert_string_equal(c.coap_listen, "[::]:5684");
	assert_string_equal(c.coap_ca, "/other/ca.crt");
	assert_string_equal(c.coap_psk_file, "/etc/tinyfleet/psk");
	assert_int_equal(c.coap_max_sessions, 10);
	assert_int_equal(c.coap_max_handshakes, 5);
	assert_int_equal(c.coap_session_timeout, 7);
	assert_int_equal(c.coap_device_rate, 0);
	assert_int_equal(c.coap_block_size, 256);
}

static void
test_bad_values_refused(void **state)
{
	static const char *const bad[] = {
		"coap.block_size = 500\n",      /* not a power of two */
		"coap.block_size = 2048\n",     /* over the RFC 7959 maximum */
		"coap.block_size = 8\n",
		"coap.max_sessions = 0\n",
		"coap.max_handshakes = 0\n",
		"coap.session_timeout = 0\n",
		"coap.session_timeout = ten\n",
		"coap.listen =\n",
		"coap.unknown = 1\n",
	};
	struct gw_config c;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_not_equal(parse(&c, bad[i]), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_follow_mqtt),
		cmocka_unit_test(test_explicit_values),
		cmocka_unit_test(test_bad_values_refused),
	};
	gw_log_init(GW_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
