/*
 * tf-registry-fill: registers N devices in a gateway store (the directory tinyfleetd's
 * state_dir names) through gw_registry_on_state, the code path a device's hello/state takes,
 * so tinyfleetd loads them at its next start (bench/gateway/ingest.sh, RSS per device).
 *
 *   tf-registry-fill STATE_DIR N [FIRST]
 *
 * Each device gets a distinct id (dev-%07u) and a state like the simulator's. The fill runs
 * with LMDB's per-commit fsync off (MDB_NOSYNC on the environment) and syncs once at the
 * end: a benchmark fixture, not how the daemon writes.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <lmdb.h>

#include "log.h"
#include "registry.h"
#include "store.h"
#include "tinyfleet/protocol/msg_state.h"

static void
drop_event(void *arg, uint64_t seq, const char *kind, json_t *data)
{
	(void)arg;
	(void)seq;
	(void)kind;
	json_decref(data);
}

int
main(int argc, char **argv)
{
	struct gw_store st;
	struct gw_store_config cfg = { 0 };
	struct gw_registry reg;
	struct tfp_state s;
	uint8_t buf[TFP_STATE_WIRE_MAX];
	size_t len;
	long n, first = 1;
	int rc;

	if (argc < 3 || (n = strtol(argv[2], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: tf-registry-fill STATE_DIR N [FIRST]\n");
		return 2;
	}
	if (argc > 3)
		first = strtol(argv[3], NULL, 10);
	gw_log_init(GW_LOG_WARNING);
	cfg.path = argv[1];
	if ((rc = gw_store_open(&st, &cfg)) != 0) {
		fprintf(stderr, "tf-registry-fill: store: %s\n", strerror(-rc));
		return 1;
	}
	mdb_env_set_flags(st.env, MDB_NOSYNC, 1);
	if ((rc = gw_registry_open(&reg, &st, drop_event, NULL)) != 0) {
		fprintf(stderr, "tf-registry-fill: registry: %s\n", strerror(-rc));
		gw_store_close(&st);
		return 1;
	}
	for (long i = 0; i < n; i++) {
		char id[32];
		snprintf(id, sizeof(id), "dev-%07ld", first + i);
		memset(&s, 0, sizeof(s));
		s.wire_version = TFP_WIRE_VERSION;
		snprintf(s.device_id, sizeof(s.device_id), "%s", id);
		snprintf(s.device_class, sizeof(s.device_class), "stm32l4-vib");
		snprintf(s.agent_version, sizeof(s.agent_version), "0.1.0");
		s.ram_bytes = 65536;
		s.flash_bytes = 262144;
		s.agent_abi = 1;
		s.slots[0].state = TFP_SLOT_CONFIRMED;
		s.slots[0].sequence = 1;
		snprintf(s.slots[0].model, sizeof(s.slots[0].model), "vib-anomaly");
		snprintf(s.slots[0].version, sizeof(s.slots[0].version), "1.0.0");
		if ((rc = tfp_state_encode(&s, buf, sizeof(buf), &len)) != 0 ||
		    (rc = gw_registry_on_state(&reg, id, buf, len, 1764000000000ull)) != 0) {
			fprintf(stderr, "tf-registry-fill: %s: error %d\n", id, rc);
			break;
		}
	}
	mdb_env_sync(st.env, 1);
	gw_registry_close(&reg);
	gw_store_close(&st);
	printf("fill: %ld devices registered in %s\n", n, argv[1]);
	return rc == 0 ? 0 : 1;
}
