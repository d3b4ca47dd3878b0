/*
 * Fuzz target for the operator API's request front end (gateway/src/apicheck.c and the
 * core's read and tag operations): input byte 0 picks the operation, the rest is the
 * request body. Whatever the body, an operation answers exactly one of a result or an
 * error with a code, an invalid_request names the path, and a cursor the gateway makes
 * decodes back to its key. Runs against a real scratch store with one registered device
 * (removed at exit).
 */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api.h"
#include "apicheck.h"
#include "log.h"
#include "tinyfleet/protocol/msg_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const ops[] = { "model.get", "model.list", "device.get", "device.list",
	                           "device.tags", "fleet.status" };

static struct {
	int ready;
	char dir[64];
	struct gw_store store;
	struct gw_registry reg;
	struct gw_catalog cat;
	struct gw_monitor mon;
	struct gw_api api;
} g;

static void
cleanup(void)
{
	char cmd[128];
	gw_monitor_close(&g.mon);
	gw_registry_close(&g.reg);
	gw_store_close(&g.store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_api_request: cannot remove %s\n", g.dir);
}

static void
init(void)
{
	struct gw_store_config cfg = { 0 };
	struct tfp_state s;
	uint8_t msg[TFP_STATE_WIRE_MAX];
	size_t len;

	gw_log_init(GW_LOG_ERR);
	snprintf(g.dir, sizeof(g.dir), "/tmp/fuzz-api-XXXXXX");
	if (mkdtemp(g.dir) == NULL)
		abort();
	cfg.path = g.dir;
	cfg.map_size = 64u << 20;
	if (gw_store_open(&g.store, &cfg) != 0 || gw_registry_open(&g.reg, &g.store, NULL, NULL))
		abort();
	/* The catalog without keys: reads need none, and publishing is not fuzzed here. */
	g.cat.store = &g.store;
	gw_monitor_init(&g.mon, &g.store, NULL, NULL);
	gw_api_init(&g.api, "site1", &g.cat, &g.reg, &g.mon, NULL);
	memset(&s, 0, sizeof(s));
	s.wire_version = TFP_WIRE_VERSION;
	snprintf(s.device_id, sizeof(s.device_id), "vib-0007");
	snprintf(s.device_class, sizeof(s.device_class), "stm32l4-vib");
	snprintf(s.agent_version, sizeof(s.agent_version), "0.1.0");
	s.agent_abi = 1;
	if (tfp_state_encode(&s, msg, sizeof(msg), &len) != 0 ||
	    gw_registry_on_state(&g.reg, "vib-0007", msg, len, 1764000000000ull) != 0)
		abort();
	atexit(cleanup);
	g.ready = 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gw_api_error e = { 0 };
	json_t *body, *result;
	char key[160], cursor[320], back[160];

	if (!g.ready)
		init();
	if (size < 1)
		return 0;

	/* Cursors: what the gateway encodes decodes back to the same key. */
	if (size - 1 < sizeof(key)) {
		memcpy(key, data + 1, size - 1);
		key[size - 1] = '\0';
		if (key[0] != '\0' && gw_cursor_encode(key, cursor, sizeof(cursor)) == 0 &&
		    (gw_cursor_decode(cursor, back, sizeof(back)) != 0 || strcmp(back, key) != 0))
			abort();
	}

	body = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, NULL);
	if (body == NULL || !json_is_object(body)) {
		json_decref(body);
		return 0;
	}
	result = gw_api_call(&g.api, ops[data[0] % (sizeof(ops) / sizeof(ops[0]))], "op-fuzz",
	                     body, &e);
	if ((result == NULL) == (e.code == NULL))
		abort();   /* exactly one of a result or an error */
	if (e.code != NULL && strcmp(e.code, "invalid_request") == 0 &&
	    json_object_get(e.details, "path") == NULL)
		abort();
	json_decref(result);
	json_decref(e.details);
	json_decref(body);
	return 0;
}
