/* The device registry over a real LMDB store: what devices say is what is believed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gw_testutil.h"
#include "registry.h"
#include "tinyfleet/protocol/msg_state.h"

struct fixture {
	char dir[64];
	struct gw_store store;
	struct gw_registry reg;
	char kinds[16][24];
	uint64_t seqs[16];
	char last_cause[16];
	int first_time;
	int nevents;
};

static void
on_event(void *arg, uint64_t seq, const char *kind, json_t *data)
{
	struct fixture *f = arg;
	json_t *v;
	if (f->nevents < 16) {
		snprintf(f->kinds[f->nevents], sizeof(f->kinds[0]), "%s", kind);
		f->seqs[f->nevents] = seq;
	}
	f->nevents++;
	if ((v = json_object_get(data, "first_time")) != NULL)
		f->first_time = json_is_true(v);
	if ((v = json_object_get(data, "cause")) != NULL)
		snprintf(f->last_cause, sizeof(f->last_cause), "%s", json_string_value(v));
	json_decref(data);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct gw_store_config cfg = { 0 };
	tu_mkdtemp(f->dir, sizeof(f->dir), "tf-reg");
	cfg.path = f->dir;
	if (gw_store_open(&f->store, &cfg) != 0 ||
	    gw_registry_open(&f->reg, &f->store, on_event, f) != 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	gw_registry_close(&f->reg);
	gw_store_close(&f->store);
	if (tu_rmtree(f->dir) != 0)
		return -1;
	free(f);
	return 0;
}

static size_t
state_msg(uint8_t *buf, size_t cap, const char *id, const char *version, uint64_t seq)
{
	struct tfp_state s;
	size_t len;
	tu_state_init(&s, id, "stm32l4-vib", 96 * 1024, 512 * 1024);
	s.sensor_count = 2;
	snprintf(s.sensors[0], sizeof(s.sensors[0]), "accel3");
	snprintf(s.sensors[1], sizeof(s.sensors[1]), "temp");
	s.active_slot = 0;
	s.slots[0].state = TFP_SLOT_CONFIRMED;
	s.slots[0].sequence = seq;
	snprintf(s.slots[0].model, sizeof(s.slots[0].model), "vib-anomaly");
	snprintf(s.slots[0].version, sizeof(s.slots[0].version), "%s", version);
	memset(s.slots[0].digest, 0xab, sizeof(s.slots[0].digest));
	s.slots[1].state = TFP_SLOT_EMPTY;
	assert_int_equal(tfp_state_encode(&s, buf, cap, &len), 0);
	return len;
}

static size_t
audit_count(struct fixture *f)
{
	struct gw_store_stats st;
	gw_store_stats(&f->store, &st);
	return st.audit_next;
}

static void
test_a_device_appears_from_its_state(void **state)
{
	struct fixture *f = *state;
	uint8_t msg[600];
	size_t len = state_msg(msg, sizeof(msg), "dev-0001", "1.0.0", 3);
	const struct gw_device *d;

	assert_int_equal(gw_registry_on_state(&f->reg, "dev-0001", msg, len, 1000), 0);
	assert_int_equal(f->nevents, 1);
	assert_string_equal(f->kinds[0], "device.online");
	assert_int_equal(f->seqs[0], 1);
	assert_true(f->first_time);
	d = gw_registry_get(&f->reg, "dev-0001");
	assert_non_null(d);
	assert_string_equal(d->model, "vib-anomaly");
	assert_string_equal(d->version, "1.0.0");
	assert_int_equal(d->sequence, 3);
	assert_string_equal(gw_registry_class(&f->reg, d), "stm32l4-vib");
	assert_int_equal(d->online, 1);
	assert_int_equal(audit_count(f), 1);

	/* The same state again is a heartbeat: no event, no audit entry, no write. */
	assert_int_equal(gw_registry_on_state(&f->reg, "dev-0001", msg, len, 2000), 0);
	assert_int_equal(f->nevents, 1);
	assert_int_equal(audit_count(f), 1);

	/* A new version reported is believed and audited, but it was online already. */
	len = state_msg(msg, sizeof(msg), "dev-0001", "1.1.0", 4);
	assert_int_equal(gw_registry_on_state(&f->reg, "dev-0001", msg, len, 3000), 0);
	assert_int_equal(f->nevents, 1);
	assert_int_equal(audit_count(f), 2);
	assert_string_equal(gw_registry_get(&f->reg, "dev-0001")->version, "1.1.0");
}

static void
test_offline_by_will_and_back(void **state)
{
	struct fixture *f = *state;
	uint8_t msg[600];
	static const uint8_t will[] = { 0x00 }, bad[] = { 0x18, 0x07 };
	size_t len = state_msg(msg, sizeof(msg), "dev-0002", "1.0.0", 1);

	assert_int_equal(gw_registry_on_state(&f->reg, "dev-0002", msg, len, 1000), 0);
	assert_int_equal(gw_registry_on_conn(&f->reg, "dev-0002", will, sizeof(will), 5000), 0);
	assert_int_equal(f->nevents, 2);
	assert_string_equal(f->kinds[1], "device.offline");
	assert_string_equal(f->last_cause, "will");
	assert_int_equal(f->seqs[1], 2);
	assert_int_equal(gw_registry_get(&f->reg, "dev-0002")->online, 0);
	/* A second will changes nothing. */
	assert_int_equal(gw_registry_on_conn(&f->reg, "dev-0002", will, sizeof(will), 6000), 0);
	assert_int_equal(f->nevents, 2);

	assert_int_equal(gw_registry_on_state(&f->reg, "dev-0002", msg, len, 7000), 0);
	assert_int_equal(f->nevents, 3);
	assert_string_equal(f->kinds[2], "device.online");
	assert_false(f->first_time);
	assert_int_equal(f->seqs[2], 3);

	assert_int_equal(gw_registry_on_conn(&f->reg, "dev-0002", bad, sizeof(bad), 8000),
	                 -EBADMSG);
}

static void
test_refuses_forged_and_malformed_state(void **state)
{
	struct fixture *f = *state;
	uint8_t msg[600];
	size_t len = state_msg(msg, sizeof(msg), "dev-0009", "1.0.0", 1);

	/* dev-0003's topic carrying dev-0009's state. */
	assert_int_equal(gw_registry_on_state(&f->reg, "dev-0003", msg, len, 1000), -EPERM);
	assert_null(gw_registry_get(&f->reg, "dev-0003"));
	assert_null(gw_registry_get(&f->reg, "dev-0009"));
	for (size_t cut = 0; cut < len; cut += 7)
		assert_int_equal(gw_registry_on_state(&f->reg, "dev-0009", msg, cut, 1000),
		                 -EBADMSG);
	assert_int_equal(gw_registry_count(&f->reg), 0);
	assert_int_equal(f->nevents, 0);
	assert_int_equal(audit_count(f), 0);
}

static void
test_registry_survives_restart(void **state)
{
	struct fixture *f = *state;
	uint8_t msg[600];
	size_t len;
	const struct gw_device *d;

	for (int i = 0; i < 300; i++) {
		char id[16];
		snprintf(id, sizeof(id), "dev-%04d", i);
		len = state_msg(msg, sizeof(msg), id, i % 2 ? "1.0.0" : "2.0.0", (uint64_t)i);
		assert_int_equal(gw_registry_on_state(&f->reg, id, msg, len, 1000), 0);
	}
	gw_registry_close(&f->reg);
	assert_int_equal(gw_registry_open(&f->reg, &f->store, on_event, f), 0);
	assert_int_equal(gw_registry_count(&f->reg), 300);
	d = gw_registry_get(&f->reg, "dev-0151");
	assert_non_null(d);
	assert_string_equal(d->version, "1.0.0");
	assert_int_equal(d->sequence, 151);
	assert_int_equal(d->online, 0);   /* nobody is online until they speak again */
	assert_int_equal(d->ram_bytes, 96 * 1024);
	assert_int_equal(d->sensors, 3);
}

/* States committed as a group: each answered as if alone, in order, a device's second
 * state after its first, a refused one costing the others nothing, all of it durable. */
static void
test_states_commit_as_a_group(void **state)
{
	struct fixture *f = *state;
	uint8_t a1[600], b1[600], forged[600], a2[600];
	struct gw_state_msg in[4] = {
		{ "dev-000a", a1, state_msg(a1, sizeof(a1), "dev-000a", "1.0.0", 1) },
		{ "dev-000b", b1, state_msg(b1, sizeof(b1), "dev-000b", "1.0.0", 1) },
		{ "dev-000c", forged, state_msg(forged, sizeof(forged), "dev-000b", "6.6.6", 9) },
		{ "dev-000a", a2, state_msg(a2, sizeof(a2), "dev-000a", "1.1.0", 2) },
	};
	int rcs[4];
	size_t audit0 = audit_count(f);

	gw_registry_on_states(&f->reg, in, 4, 1000, rcs);
	assert_int_equal(rcs[0], 0);
	assert_int_equal(rcs[1], 0);
	assert_int_equal(rcs[2], -EPERM);
	assert_int_equal(rcs[3], 0);
	assert_string_equal(gw_registry_get(&f->reg, "dev-000a")->version, "1.1.0");
	assert_string_equal(gw_registry_get(&f->reg, "dev-000b")->version, "1.0.0");
	assert_null(gw_registry_get(&f->reg, "dev-000c"));
	/* Both came online once; registered, registered, then a's new state. */
	assert_int_equal(f->nevents, 2);
	assert_int_equal(audit_count(f), audit0 + 3);
	/* The same batch again changes nothing. */
	gw_registry_on_states(&f->reg, &in[1], 1, 2000, rcs);
	assert_int_equal(rcs[0], 0);
	assert_int_equal(audit_count(f), audit0 + 3);

	gw_registry_close(&f->reg);
	assert_int_equal(gw_registry_open(&f->reg, &f->store, on_event, f), 0);
	assert_string_equal(gw_registry_get(&f->reg, "dev-000a")->version, "1.1.0");
	assert_non_null(gw_registry_get(&f->reg, "dev-000b"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_a_device_appears_from_its_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_offline_by_will_and_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_forged_and_malformed_state, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_registry_survives_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_states_commit_as_a_group, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
