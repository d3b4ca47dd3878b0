/* The drift monitor: device reports in, drift.alert events out, each numbered and audited. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gw_testutil.h"
#include "monitor.h"

struct fixture {
	char dir[64];
	struct gw_store store;
	struct gw_monitor mon;
	int events;
	uint64_t last_seq;
	char state[16], detector[24];
	double score;
};

static void
on_event(void *arg, uint64_t seq, const char *kind, json_t *data)
{
	struct fixture *f = arg;
	assert_string_equal(kind, "drift.alert");
	f->events++;
	assert_true(seq > f->last_seq);
	f->last_seq = seq;
	snprintf(f->state, sizeof(f->state), "%s", json_string_value(json_object_get(data, "state")));
	snprintf(f->detector, sizeof(f->detector), "%s",
	         json_string_value(json_object_get(data, "detector")));
	f->score = json_real_value(json_object_get(data, "score"));
	json_decref(data);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct gw_store_config cfg = { 0 };
	tu_mkdtemp(f->dir, sizeof(f->dir), "tf-mon");
	cfg.path = f->dir;
	if (gw_store_open(&f->store, &cfg) != 0)
		return -1;
	gw_monitor_init(&f->mon, &f->store, on_event, f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	gw_monitor_close(&f->mon);
	gw_store_close(&f->store);
	if (tu_rmtree(f->dir) != 0)
		return -1;
	free(f);
	return 0;
}

static void
report(struct tfp_telemetry *t, const char *version, uint32_t why, float ph)
{
	tfp_telemetry_init(t);
	snprintf(t->device_id, sizeof(t->device_id), "dev-0001");
	snprintf(t->model, sizeof(t->model), "vib-anomaly");
	snprintf(t->version, sizeof(t->version), "%s", version);
	t->samples = 500;
	t->accuracy = 0.8f;
	t->why = why;
	t->alarm = why != 0;
	t->ph.score = ph;
	t->ph.alarm = (why & TFP_TELEM_WHY_PH) != 0;
}

static void
test_alarm_raised_once_then_cleared(void **state)
{
	struct fixture *f = *state;
	struct tfp_telemetry t;
	struct gw_store_stats st;
	const struct gw_metrics *x;

	report(&t, "1.0.0", 0, 3.0f);
	assert_int_equal(gw_monitor_on_telemetry(&f->mon, &t, 1000), 0);
	assert_int_equal(f->events, 0);

	report(&t, "1.0.0", TFP_TELEM_WHY_PH, 61.5f);
	assert_int_equal(gw_monitor_on_telemetry(&f->mon, &t, 2000), 0);
	assert_int_equal(f->events, 1);
	assert_string_equal(f->state, "raised");
	assert_string_equal(f->detector, "page_hinkley");
	assert_true(f->score > 61.4 && f->score < 61.6);
	/* Still in alarm: no second event. */
	assert_int_equal(gw_monitor_on_telemetry(&f->mon, &t, 3000), 0);
	assert_int_equal(f->events, 1);

	report(&t, "1.0.0", 0, 1.0f);
	assert_int_equal(gw_monitor_on_telemetry(&f->mon, &t, 4000), 0);
	assert_int_equal(f->events, 2);
	assert_string_equal(f->state, "cleared");

	x = gw_monitor_get(&f->mon, "dev-0001");
	assert_non_null(x);
	assert_int_equal(x->samples, 500);
	gw_store_stats(&f->store, &st);
	assert_int_equal(st.audit_next, 2);   /* each alert audited */
}

static void
test_new_version_starts_clean(void **state)
{
	struct fixture *f = *state;
	struct tfp_telemetry t;

	report(&t, "1.0.0", TFP_TELEM_WHY_PSI | TFP_TELEM_WHY_ADWIN, 0.0f);
	t.psi_max = 0.4f;
	assert_int_equal(gw_monitor_on_telemetry(&f->mon, &t, 1000), 0);
	assert_int_equal(f->events, 2);   /* one per detector */
	/* The device now runs 1.1.0 and the same detectors alarm again: new alerts for the
	 * new version, no "cleared" for the old one in between. */
	report(&t, "1.1.0", TFP_TELEM_WHY_PSI | TFP_TELEM_WHY_ADWIN, 0.0f);
	assert_int_equal(gw_monitor_on_telemetry(&f->mon, &t, 2000), 0);
	assert_int_equal(f->events, 4);
	assert_string_equal(f->state, "raised");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_alarm_raised_once_then_cleared, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_version_starts_clean, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
