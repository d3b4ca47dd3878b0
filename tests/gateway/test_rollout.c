/*
 * The rollout engine on a real LMDB store with the real registry, catalog, monitor and
 * delta chooser: matching and wave plans, offers whose command ids are committed before
 * they are sent, device reports driving the per-device states, settle and quality gates,
 * rollback, retries with backoff, DUPLICATE answers, and resuming after the store is
 * reopened (the same command ids, nothing offered twice). No broker: the engine runs
 * without a link, so commands are committed but not published, as while a link is down.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "broker.h"
#include "gw_testutil.h"
#include "mqtt.h"
#include "rollout.h"
#include "rollout_int.h"
#include "clock.h"
#include "config.h"
#include "tinyfleet/protocol/msg_report.h"
#include "tinyfleet/protocol/msg_state.h"

#define NDEV 10
#define NEVENTS 512

struct fixture {
	char dir[64];
	uv_loop_t loop;
	struct gw_store store;
	struct gw_registry reg;
	struct gw_catalog cat;
	struct gw_monitor mon;
	struct gw_deltas deltas;
	struct gw_rollouts ro;
	struct tu_model v1, v2;
	char kinds[NEVENTS][24];
	json_t *data[NEVENTS];
	uint64_t seqs[NEVENTS];
	int nev;
};

static void
on_event(void *arg, uint64_t seq, const char *kind, json_t *data)
{
	struct fixture *f = arg;
	if (f->nev < NEVENTS) {
		snprintf(f->kinds[f->nev], sizeof(f->kinds[0]), "%s", kind);
		f->seqs[f->nev] = seq;
		f->data[f->nev++] = data;
	} else {
		json_decref(data);
	}
}

static void
clear_events(struct fixture *f)
{
	for (int i = 0; i < f->nev; i++)
		json_decref(f->data[i]);
	f->nev = 0;
}

static int
count_events(struct fixture *f, const char *kind, const char *member, const char *value)
{
	int n = 0;
	for (int i = 0; i < f->nev; i++)
		if (strcmp(f->kinds[i], kind) == 0 &&
		    (member == NULL ||
		     (json_is_string(json_object_get(f->data[i], member)) &&
		      strcmp(json_string_value(json_object_get(f->data[i], member)), value) == 0)))
			n++;
	return n;
}

/* A device's hello/state: class stm32l4-vib, running `img` confirmed in slot `active`. */
static void
device_says(struct fixture *f, const char *id, const char *cls, const struct tu_model *img,
            const char *version, int active)
{
	struct tfp_state s;
	uint8_t buf[TFP_STATE_WIRE_MAX], conn[] = { 0x01 };
	size_t len;

	tu_state_init(&s, id, cls, 96 * 1024, 512 * 1024);
	s.sensor_count = 1;
	snprintf(s.sensors[0], sizeof(s.sensors[0]), "accel3");
	s.active_slot = (uint8_t)active;
	for (int k = 0; k < 2; k++) {
		const struct tu_model *m = k == active ? img : &f->v1;
		s.slots[k].state = TFP_SLOT_CONFIRMED;
		s.slots[k].sequence = k == active ? (img == &f->v2 ? 2 : 1) : 1;
		snprintf(s.slots[k].model, sizeof(s.slots[k].model), "pump-anomaly");
		snprintf(s.slots[k].version, sizeof(s.slots[k].version), "%s",
		         k == active ? version : "1.0.0");
		memcpy(s.slots[k].digest, m->digest, 32);
	}
	assert_int_equal(tfp_state_encode(&s, buf, sizeof(buf), &len), 0);
	assert_int_equal(gw_registry_on_state(&f->reg, id, buf, len, gw_wall_ms()), 0);
	gw_registry_on_conn(&f->reg, id, conn, sizeof(conn), gw_wall_ms());
}

/* A report as it arrives, without the commit that follows in the loop. */
static void
report_only(struct fixture *f, const char *id, uint64_t cmd, int type, enum tfp_phase phase,
            enum tfp_outcome out, enum tfp_reason why)
{
	struct tfp_report r;
	uint8_t buf[TFP_REPORT_WIRE_MAX];
	size_t len;

	memset(&r, 0, sizeof(r));
	r.type = (enum tfp_msg_type)type;
	r.command_id = cmd;
	r.phase = phase;
	if (type == TFP_MSG_PROGRESS) {
		r.has_bytes = true;
		r.bytes_total = 100;
		r.bytes_done = 50;
	} else {
		r.outcome = out;
		r.reason = why;
	}
	assert_int_equal(tfp_report_encode(&r, buf, sizeof(buf), &len), 0);
	gw_rollouts_on_report(&f->ro, id, buf, len);
}

static void
report(struct fixture *f, const char *id, uint64_t cmd, int type, enum tfp_phase phase,
       enum tfp_outcome out, enum tfp_reason why)
{
	report_only(f, id, cmd, type, phase, out, why);
	assert_int_equal(gw_rollouts_flush(&f->ro), 0);
}

static void
telemetry_why(struct fixture *f, const char *id, const char *version, uint32_t samples,
              float accuracy, uint32_t why)
{
	struct tfp_telemetry t;
	tfp_telemetry_init(&t);
	snprintf(t.device_id, sizeof(t.device_id), "%s", id);
	snprintf(t.model, sizeof(t.model), "pump-anomaly");
	snprintf(t.version, sizeof(t.version), "%s", version);
	t.samples = samples;
	t.labelled = samples;
	t.loss = 0.1f;
	t.accuracy = accuracy;
	t.conf_mean = 0.9f;
	t.why = why;
	assert_int_equal(gw_monitor_on_telemetry(&f->mon, &t, gw_wall_ms()), 0);
}

static void
telemetry(struct fixture *f, const char *id, const char *version, uint32_t samples,
          float accuracy)
{
	telemetry_why(f, id, version, samples, accuracy, 0);
}

/* One engine step; delta builds it started run to the end and the step is repeated, as
 * the loop's next tick would. */
static void
step(struct fixture *f, uint64_t now)
{
	gw_rollouts_step(&f->ro, now);
	assert_int_equal(gw_rollouts_flush(&f->ro), 0);
	if (gw_deltas_pending(&f->deltas) == 0)
		return;
	while (gw_deltas_pending(&f->deltas) > 0)
		uv_run(&f->loop, UV_RUN_ONCE);
	gw_rollouts_step(&f->ro, now);
	assert_int_equal(gw_rollouts_flush(&f->ro), 0);
}

static void
open_engine(struct fixture *f)
{
	assert_int_equal(gw_rollouts_open(&f->ro, NULL, &f->store, &f->reg, &f->cat, &f->mon,
	                                  &f->deltas, NULL, NULL, "site1", on_event, f),
	                 0);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct gw_store_config sc = { 0 };
	struct tfp_cose_signer s;
	struct gw_model out;
	const char *code;
	char why[GW_CATALOG_WHY_MAX], id[16];
	int created;

	assert_non_null(f);
	tu_mkdtemp(f->dir, sizeof(f->dir), "tf-rollout");
	sc.path = f->dir;
	sc.map_size = 64u << 20;
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(gw_store_open(&f->store, &sc), 0);
	assert_int_equal(gw_registry_open(&f->reg, &f->store, NULL, NULL), 0);
	assert_int_equal(gw_catalog_open(&f->cat, &f->store,
	                                 TF_SOURCE_DIR "/tests/interop/keys/release-test.pub.pem"),
	                 0);
	gw_monitor_init(&f->mon, &f->store, NULL, NULL);
	gw_deltas_init(&f->deltas, &f->loop, &f->store, NULL, NULL);
	tu_signer_init(&s);
	tu_signed_model(&s, "1.0.0", 1, 0.5f, &f->v1);
	tu_signed_model(&s, "1.1.0", 2, 0.75f, &f->v2);
	tfp_cose_signer_free(&s);
	assert_int_equal(gw_catalog_publish(&f->cat, f->v1.cose, f->v1.cose_len, f->v1.tfm,
	                                    f->v1.tfm_len, "op-alice", gw_wall_ms(), &out, &created,
	                                    &code, why), 0);
	assert_int_equal(gw_catalog_publish(&f->cat, f->v2.cose, f->v2.cose_len, f->v2.tfm,
	                                    f->v2.tfm_len, "op-alice", gw_wall_ms(), &out, &created,
	                                    &code, why), 0);
	for (int i = 1; i <= NDEV; i++) {
		snprintf(id, sizeof(id), "vib-%04d", i);
		device_says(f, id, "stm32l4-vib", &f->v1, "1.0.0", 0);
	}
	device_says(f, "other-0001", "nrf52-temp", &f->v1, "1.0.0", 0);    /* class mismatch */
	device_says(f, "vib-0099", "stm32l4-vib", &f->v2, "1.1.0", 1);     /* already runs it */
	open_engine(f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	gw_rollouts_close(&f->ro);
	clear_events(f);
	gw_deltas_close(&f->deltas);
	uv_run(&f->loop, UV_RUN_DEFAULT);    /* a build still running ends before the store */
	gw_monitor_close(&f->mon);
	gw_registry_close(&f->reg);
	gw_store_close(&f->store);
	uv_loop_close(&f->loop);
	if (tu_rmtree(f->dir) != 0)
		return -1;
	free(f);
	return 0;
}

static struct gw_rollout *
create(struct fixture *f, const char *json)
{
	struct gw_rollout_def def;
	struct gw_api_error e = { 0 };
	struct gw_rollout *ro = NULL;
	json_t *body = json_loads(json, 0, NULL);

	assert_non_null(body);
	assert_int_equal(gw_rollout_def_parse(body, &def, &e), 0);
	assert_int_equal(gw_rollouts_create(&f->ro, &def, "op-alice", &ro), 0);
	gw_rollout_def_free(&def);
	json_decref(body);
	assert_non_null(ro);
	return ro;
}

#define PLAN "{\"id\": \"r1\", \"model\": \"pump-anomaly\", \"version\": \"1.1.0\", " \
             "\"target\": {\"classes\": [\"stm32l4-vib\", \"nrf52-temp\"], " \
             "\"exclude\": [\"vib-0010\"]}, " \
             "\"waves\": {\"canary\": {\"count\": 2}, \"stages\": [50, 100]}, " \
             "\"settle_seconds\": 0, \"retry\": {\"max_attempts\": 2, \"backoff_seconds\": 5}, " \
             "\"gates\": {\"max_failure_rate\": 100, \"max_reverts\": 5, " \
             "\"quality\": {\"drift_alarm\": false}}, \"on_gate_failure\": \"pause\"}"

/* create() from a JSON object (borrowed). */
static struct gw_rollout *
create_from(struct fixture *f, const json_t *body)
{
	char *t = json_dumps(body, 0);
	struct gw_rollout *ro = create(f, t);

	free(t);
	return ro;
}

/* PLAN as rollout `id`, targeting `device` alone. */
static struct gw_rollout *
create_for_device(struct fixture *f, const char *id, const char *device)
{
	json_t *b = json_loads(PLAN, 0, NULL);
	struct gw_rollout *ro;

	json_object_set_new(b, "id", json_string(id));
	json_object_set_new(b, "target", json_pack("{s:[s]}", "devices", device));
	ro = create_from(f, b);
	json_decref(b);
	return ro;
}

static void
test_create_matches_and_plans_waves(void **state)
{
	struct fixture *f = *state;
	struct gw_rollout *ro = create(f, PLAN);
	uint32_t c[GW_RD_COUNT];

	assert_int_equal(ro->state, GW_RO_DRAFT);
	assert_int_equal(ro->nwaves, 3);
	/* 9 eligible: canary 2, then up to ceil(50 % of 9) = 5, then 9. */
	assert_int_equal(ro->waves[0].devices, 2);
	assert_int_equal(ro->waves[1].devices, 3);
	assert_int_equal(ro->waves[2].devices, 4);
	gw_rollout_counts(ro, -1, c);
	assert_int_equal(c[GW_RD_WAITING], 9);
	assert_int_equal(c[GW_RD_SKIPPED], 3);
	assert_string_equal(gw_reason_name(gw_rollouts_find(&f->ro, "r1")->devs[0].reason),
	                    "class_mismatch");      /* other-0001 sorts first */
	for (size_t i = 0; i < ro->ndev; i++) {
		if (strcmp(ro->devs[i].id, "vib-0010") == 0)
			assert_string_equal(gw_reason_name(ro->devs[i].reason), "excluded");
		if (strcmp(ro->devs[i].id, "vib-0099") == 0)
			assert_string_equal(gw_reason_name(ro->devs[i].reason), "already_installed");
	}
	/* The canary is the first devices in id order. */
	assert_int_equal(gw_rollouts_find(&f->ro, "r1")->devs[1].wave, 0);
	assert_int_equal(count_events(f, "rollout.state", "reason", "operator_create"), 1);
}

/* Drives one device through a successful update and returns its command id. */
static uint64_t
land(struct fixture *f, struct gw_rollout *ro, const char *id)
{
	struct gw_rdev *d = NULL;
	uint64_t cmd;

	for (size_t i = 0; i < ro->ndev; i++)
		if (strcmp(ro->devs[i].id, id) == 0)
			d = &ro->devs[i];
	assert_non_null(d);
	assert_int_equal(d->state, GW_RD_OFFERED);
	cmd = d->cmd;
	assert_true(cmd != 0);
	report(f, id, cmd, TFP_MSG_PROGRESS, TFP_PHASE_FETCH, 0, 0);
	assert_int_equal(d->state, GW_RD_DOWNLOADING);
	report(f, id, cmd, TFP_MSG_RESULT, TFP_PHASE_CONFIRM, TFP_OUTCOME_OK, TFP_REASON_CONFIRMED);
	assert_int_equal(d->state, GW_RD_ACTIVATING);
	/* Confirmed, but the gateway believes the device's own state message. */
	step(f, gw_wall_ms());
	assert_int_equal(d->state, GW_RD_ACTIVATING);
	device_says(f, id, "stm32l4-vib", &f->v2, "1.1.0", 1);
	return cmd;
}

static void
test_waves_advance_on_confirmed_devices(void **state)
{
	struct fixture *f = *state;
	struct gw_rollout *ro = create(f, PLAN);
	uint32_t c[GW_RD_COUNT];
	struct gw_store_stats st;
	uint64_t audit0;

	gw_store_stats(&f->store, &st);
	audit0 = st.audit_next;
	assert_int_equal(gw_rollouts_start(&f->ro, ro, "op-alice", NULL), 0);
	assert_int_equal(gw_rollouts_start(&f->ro, ro, "op-alice", NULL), 1);   /* idempotent */
	step(f, gw_wall_ms());
	gw_rollout_counts(ro, 0, c);
	assert_int_equal(c[GW_RD_OFFERED], 2);
	gw_rollout_counts(ro, 1, c);
	assert_int_equal(c[GW_RD_OFFERED], 0);     /* later waves wait for the canary */
	land(f, ro, "vib-0001");
	land(f, ro, "vib-0002");
	step(f, gw_wall_ms());   /* settling; settle 0 s and no quality check: succeeded */
	step(f, gw_wall_ms());
	gw_rollout_counts(ro, 0, c);
	assert_int_equal(c[GW_RD_SUCCEEDED], 2);
	assert_int_equal(ro->wave, 1);
	assert_int_equal(count_events(f, "rollout.state", "reason", "wave_passed"), 1);
	assert_int_equal(count_events(f, "update.result", "outcome", "succeeded"), 2);
	assert_true(ro->bytes_sent > 0 && ro->bytes_full == 2 * f->v2.tfm_len);
	/* Audited: the start, two offers, two outcomes, the wave passing, the next offers. */
	gw_store_stats(&f->store, &st);
	assert_true(st.audit_next >= audit0 + 9);
}

static const char *
event_member(struct fixture *f, int i, const char *member)
{
	return json_string_value(json_object_get(f->data[i], member));
}

/* Phases a device passes between two commits become one event (its newest phase); the
 * offer stays, every device keeps its own, and event numbers have no gap. */
static void
test_progress_bursts_merge_per_device(void **state)
{
	struct fixture *f = *state;
	struct gw_rollout *ro = create(f, PLAN);
	uint64_t c1 = 0, c2 = 0;
	int first;

	assert_int_equal(gw_rollouts_start(&f->ro, ro, "op-alice", NULL), 0);
	step(f, gw_wall_ms());
	assert_int_equal(count_events(f, "update.progress", "phase", "offered"), 2);
	for (size_t i = 0; i < ro->ndev; i++) {
		if (strcmp(ro->devs[i].id, "vib-0001") == 0)
			c1 = ro->devs[i].cmd;
		if (strcmp(ro->devs[i].id, "vib-0002") == 0)
			c2 = ro->devs[i].cmd;
	}
	assert_true(c1 != 0 && c2 != 0);
	first = f->nev;
	report_only(f, "vib-0001", c1, TFP_MSG_PROGRESS, TFP_PHASE_FETCH, 0, 0);
	report_only(f, "vib-0002", c2, TFP_MSG_PROGRESS, TFP_PHASE_FETCH, 0, 0);
	report_only(f, "vib-0001", c1, TFP_MSG_PROGRESS, TFP_PHASE_VERIFY, 0, 0);
	report_only(f, "vib-0001", c1, TFP_MSG_PROGRESS, TFP_PHASE_ACTIVATE, 0, 0);
	report_only(f, "vib-0001", c1, TFP_MSG_PROGRESS, TFP_PHASE_SELFTEST, 0, 0);
	assert_int_equal(gw_rollouts_flush(&f->ro), 0);
	assert_int_equal(f->nev - first, 2);
	assert_string_equal(event_member(f, first, "device"), "vib-0001");
	assert_string_equal(event_member(f, first, "phase"), "self_test");
	assert_string_equal(event_member(f, first + 1, "device"), "vib-0002");
	assert_string_equal(event_member(f, first + 1, "phase"), "downloading");
	assert_int_equal(f->seqs[first + 1], f->seqs[first] + 1);
	assert_int_equal(f->seqs[first], f->seqs[first - 1] + 1);
	assert_int_equal(f->ro.progress_merged, 3);
	/* After a commit nothing merges into what was already told. */
	report_only(f, "vib-0001", c1, TFP_MSG_PROGRESS, TFP_PHASE_CONFIRM, 0, 0);
	assert_int_equal(gw_rollouts_flush(&f->ro), 0);
	assert_int_equal(f->nev - first, 3);
	assert_string_equal(event_member(f, first + 2, "phase"), "confirmed");
}

static void
test_resume_after_reopen_keeps_command_ids(void **state)
{
	struct fixture *f = *state;
	struct gw_rollout *ro = create(f, PLAN);
	uint64_t cmd[2], sent, full;
	struct gw_rdev *d;

	assert_int_equal(gw_rollouts_start(&f->ro, ro, "op-alice", NULL), 0);
	step(f, gw_wall_ms());
	cmd[0] = ro->devs[1].cmd;                  /* vib-0001 */
	cmd[1] = ro->devs[2].cmd;
	assert_true(cmd[0] != 0 && cmd[1] != 0 && cmd[0] != cmd[1]);
	report(f, "vib-0001", cmd[0], TFP_MSG_RESULT, TFP_PHASE_CONFIRM, TFP_OUTCOME_OK,
	       TFP_REASON_CONFIRMED);
	sent = ro->bytes_sent;
	full = ro->bytes_full;
	assert_true(sent > 0 && full > 0);
	/* "Crash": the engine goes, the store stays; a new engine loads what was committed. */
	gw_rollouts_close(&f->ro);
	clear_events(f);
	open_engine(f);
	ro = gw_rollouts_find(&f->ro, "r1");
	assert_non_null(ro);
	assert_int_equal(ro->state, GW_RO_RUNNING);
	assert_int_equal(ro->wave, 0);
	assert_true(ro->bytes_sent == sent && ro->bytes_full == full);   /* totals survive */
	assert_int_equal(count_events(f, "rollout.state", "reason", "gateway_restart"), 1);
	d = gw__find_dev(ro, "vib-0002");
	assert_int_equal(d->state, GW_RD_OFFERED);
	assert_true(d->cmd == cmd[1]);            /* re-sent with the id the device knows */
	d = gw__find_dev(ro, "vib-0001");
	assert_int_equal(d->state, GW_RD_ACTIVATING);
	assert_true(d->flags & GW_RDF_CONFIRMED);
	/* No new offer: the in-flight device is not offered again. */
	step(f, gw_wall_ms());
	assert_int_equal(count_events(f, "update.progress", "phase", "offered"), 0);
	/* The device answers the re-sent id with DUPLICATE from its confirm: confirmed. */
	report(f, "vib-0002", cmd[1], TFP_MSG_RESULT, TFP_PHASE_CONFIRM, TFP_OUTCOME_REFUSED,
	       TFP_REASON_DUPLICATE);
	assert_true(d->flags & GW_RDF_CONFIRMED);
	assert_int_equal(gw__find_dev(ro, "vib-0002")->state, GW_RD_ACTIVATING);
}

static void
test_failed_attempts_retry_with_backoff_then_fail(void **state)
{
	struct fixture *f = *state;
	struct gw_rollout *ro = create(f, PLAN);
	struct gw_rdev *d;
	uint64_t first, now = gw_wall_ms();

	assert_int_equal(gw_rollouts_start(&f->ro, ro, "op-alice", NULL), 0);
	now = gw_wall_ms();
	step(f, now);
	d = gw__find_dev(ro, "vib-0001");
	first = d->cmd;
	report(f, "vib-0001", first, TFP_MSG_RESULT, TFP_PHASE_FETCH, TFP_OUTCOME_FAILED,
	       TFP_REASON_DOWNLOAD_STALLED);
	assert_int_equal(d->state, GW_RD_WAITING);
	assert_string_equal(gw_reason_name(d->reason), "download_timeout");
	step(f, now + 1000);                      /* backoff 5 s: not yet */
	assert_int_equal(d->state, GW_RD_WAITING);
	step(f, now + 6000);
	assert_int_equal(d->state, GW_RD_OFFERED);
	assert_true(d->cmd != first);             /* a new attempt is a new command */
	assert_int_equal(d->attempts, 2);
	report(f, "vib-0001", d->cmd, TFP_MSG_RESULT, TFP_PHASE_FETCH, TFP_OUTCOME_FAILED,
	       TFP_REASON_DOWNLOAD_STALLED);
	assert_int_equal(d->state, GW_RD_FAILED);
	assert_string_equal(gw_reason_name(d->reason), "retries_exhausted");
	/* A refusal that retrying cannot fix fails at once. */
	d = gw__find_dev(ro, "vib-0002");
	report(f, "vib-0002", d->cmd, TFP_MSG_RESULT, TFP_PHASE_CHECK, TFP_OUTCOME_REFUSED,
	       TFP_REASON_SEQUENCE_TOO_LOW);
	assert_int_equal(d->state, GW_RD_FAILED);
	assert_string_equal(gw_reason_name(d->reason), "sequence_rollback");
	assert_int_equal(count_events(f, "update.result", "outcome", "failed"), 2);
	/* Reports for commands nobody waits for are ignored. */
	report(f, "vib-0003", 999999, TFP_MSG_RESULT, TFP_PHASE_CONFIRM, TFP_OUTCOME_OK,
	       TFP_REASON_CONFIRMED);
	assert_true(f->ro.stray_reports >= 1);
}

static void
test_quality_gate_rolls_back_the_wave(void **state)
{
	struct fixture *f = *state;
	struct gw_rollout *ro = create(
	        f, "{\"id\": \"q1\", \"model\": \"pump-anomaly\", \"version\": \"1.1.0\", "
	           "\"target\": {\"all\": true}, \"waves\": {\"canary\": {\"count\": 2}, "
	           "\"stages\": [100]}, \"settle_seconds\": 60, \"gates\": {\"quality\": "
	           "{\"min_samples\": 50, \"max_accuracy_drop\": 0.1, \"drift_alarm\": false, "
	           "\"control_group\": true}}, \"on_gate_failure\": \"rollback_wave\"}");
	struct gw_rdev *a, *b;
	char id[16];

	/* Baselines: every device at 0.9 accuracy on 1.0.0. */
	for (int i = 1; i <= NDEV; i++) {
		snprintf(id, sizeof(id), "vib-%04d", i);
		telemetry(f, id, "1.0.0", 500, 0.9f);
	}
	assert_int_equal(gw_rollouts_start(&f->ro, ro, "op-alice", NULL), 0);
	step(f, gw_wall_ms());
	land(f, ro, "vib-0001");
	land(f, ro, "vib-0002");
	a = gw__find_dev(ro, "vib-0001");
	b = gw__find_dev(ro, "vib-0002");
	step(f, gw_wall_ms());
	assert_int_equal(a->state, GW_RD_SETTLING);
	assert_int_equal(ro->waves[0].state, GW_WAVE_SETTLING);
	/* Too few samples on the new model: not judged yet. */
	telemetry(f, "vib-0001", "1.1.0", 10, 0.2f);
	step(f, gw_wall_ms());
	assert_int_equal(a->state, GW_RD_SETTLING);
	/* vib-0002 holds; vib-0001 drops 0.7 below its baseline: it fails, and with it the
	 * wave's quality gate (1 of 2 judged > 10 %). */
	telemetry(f, "vib-0002", "1.1.0", 60, 0.88f);
	telemetry(f, "vib-0001", "1.1.0", 60, 0.2f);
	step(f, gw_wall_ms());
	assert_int_equal(ro->state, GW_RO_PAUSED);
	assert_string_equal(gw_reason_name(ro->reason), "gate_quality");
	assert_int_equal(a->state, GW_RD_ROLLING_BACK);
	assert_int_equal(b->state, GW_RD_ROLLING_BACK);
	assert_true(a->flags & GW_RDF_ROLLBACK_CMD);
	assert_true(a->cmd != 0);
	report(f, "vib-0001", a->cmd, TFP_MSG_RESULT, TFP_PHASE_ROLLBACK, TFP_OUTCOME_OK,
	       TFP_REASON_ROLLED_BACK);
	report(f, "vib-0002", b->cmd, TFP_MSG_RESULT, TFP_PHASE_ROLLBACK, TFP_OUTCOME_REFUSED,
	       TFP_REASON_DUPLICATE);
	assert_int_equal(a->state, GW_RD_ROLLED_BACK);
	assert_int_equal(b->state, GW_RD_ROLLED_BACK);
	assert_string_equal(gw_reason_name(a->reason), "quality_accuracy_drop");
	step(f, gw_wall_ms());
	assert_int_equal(ro->waves[0].state, GW_WAVE_ROLLED_BACK);
	/* Nobody outside the canary was offered anything. */
	for (size_t i = 0; i < ro->ndev; i++)
		if (ro->devs[i].wave == 1)
			assert_int_equal(ro->devs[i].attempts, 0);
	assert_int_equal(count_events(f, "update.result", "outcome", "rolled_back"), 2);
	/* Operator commands from the wrong state are refused; repeats change nothing. */
	assert_int_equal(gw_rollouts_start(&f->ro, ro, "op-alice", NULL), -EPERM);
	assert_int_equal(gw_rollouts_pause(&f->ro, ro, "op-alice", NULL), 1);
	assert_int_equal(gw_rollouts_abort(&f->ro, ro, "op-alice", "enough"), 0);
	assert_int_equal(ro->state, GW_RO_ABORTED);
	assert_int_equal(gw_rollouts_resume(&f->ro, ro, "op-alice", NULL), -EPERM);
}

static void
test_gate_math(void **state)
{
	struct gw_rollout_def d;
	struct gw_api_error e = { 0 };
	json_t *body = json_loads(PLAN, 0, NULL);
	struct gw_qsnap base = { 0.2f, 0.9f, 0.8f, 500, 1, 0 }, now = { 0.3f, 0.7f, 0.8f, 200, 1, 0 };
	struct gw_qsnap cb[3] = { { 0.2f, 0.9f, 0.8f, 1, 1, 0 }, { 0.2f, 0.9f, 0.8f, 1, 1, 0 },
	                          { 0.2f, 0.9f, 0.8f, 1, 1, 0 } };
	struct gw_qsnap ca[3] = { { 0.3f, 0.72f, 0.8f, 1, 1, 0 }, { 0.3f, 0.75f, 0.8f, 1, 1, 0 },
	                          { 0.3f, 0.5f, 0.8f, 1, 1, 0 } };
	struct gw_qcontrol ctl;
	struct gw_qresult q;
	struct gw_wave_counts c = { 20, 10, 1, 0, 10, 1 };
	struct gw_gate_eval ev;
	double scratch[3];

	(void)state;
	assert_int_equal(gw_rollout_def_parse(body, &d, &e), 0);
	d.q.max_accuracy_drop = 0.1;
	d.q.min_samples = 100;
	/* Without a control group, a 0.2 drop fails. */
	gw_gates_judge(&d.q, &base, &now, NULL, &q);
	assert_int_equal(q.verdict, GW_Q_ACCURACY_DROP);
	/* The control devices dropped by a median of 0.18 too: net 0.02, it holds. */
	gw_gates_control(cb, ca, 3, scratch, &ctl);
	assert_true(ctl.accuracy > -0.181 && ctl.accuracy < -0.179);
	gw_gates_judge(&d.q, &base, &now, &ctl, &q);
	assert_int_equal(q.verdict, GW_Q_OK);
	/* Too few samples: unjudged; a new drift alarm fails when checked. */
	now.samples = 99;
	gw_gates_judge(&d.q, &base, &now, NULL, &q);
	assert_int_equal(q.verdict, GW_Q_UNJUDGED);
	now.samples = 100;
	now.drift = 1;
	d.q.drift_alarm = true;
	gw_gates_judge(&d.q, &base, &now, &ctl, &q);
	assert_int_equal(q.verdict, GW_Q_DRIFT_ALARM);
	/* Wave gates: 1 failed of 20 = 5 % <= 100 %; quality 1 of 10 judged = 10 % <= 10 %. */
	assert_int_equal(gw_gates_wave(&d, &c, &ev), GW_GATE_COUNT);
	assert_false(ev.ok[GW_GATE_SUCCESS]);     /* 50 % < 95 %: not passed yet */
	c.quality_failed = 2;
	assert_int_equal(gw_gates_wave(&d, &c, &ev), GW_GATE_QUALITY);
	d.max_failure_rate = 4;
	assert_int_equal(gw_gates_wave(&d, &c, &ev), GW_GATE_FAILURE_RATE);
	c.reverted = 6;
	d.max_failure_rate = 100;
	assert_int_equal(gw_gates_wave(&d, &c, &ev), GW_GATE_REVERTS);
	gw_rollout_def_free(&d);
	json_decref(body);
}

static void
test_create_refuses_what_cannot_run(void **state)
{
	struct fixture *f = *state;
	struct gw_rollout_def def;
	struct gw_api_error e = { 0 };
	struct gw_rollout *ro = NULL;
	json_t *body;

	body = json_loads("{\"model\": \"pump-anomaly\", \"version\": \"9.9.9\", \"target\": "
	                  "{\"all\": true}, \"waves\": {\"canary\": {\"count\": 1}, \"stages\": "
	                  "[100]}, \"on_gate_failure\": \"pause\"}", 0, NULL);
	assert_int_equal(gw_rollout_def_parse(body, &def, &e), 0);
	assert_int_equal(gw_rollouts_create(&f->ro, &def, "op-alice", &ro), -ENOENT);
	gw_rollout_def_free(&def);
	json_decref(body);
	body = json_loads("{\"model\": \"pump-anomaly\", \"version\": \"1.1.0\", \"target\": "
	                  "{\"classes\": [\"nrf52-temp\"]}, \"waves\": {\"canary\": {\"count\": 1}, "
	                  "\"stages\": [100]}, \"on_gate_failure\": \"pause\"}", 0, NULL);
	assert_int_equal(gw_rollout_def_parse(body, &def, &e), 0);
	assert_int_equal(gw_rollouts_create(&f->ro, &def, "op-alice", &ro), -ENODEV);
	gw_rollout_def_free(&def);
	json_decref(body);
	/* Same id: identical definition answers the existing one, another is a conflict. */
	create(f, PLAN);
	body = json_loads(PLAN, 0, NULL);
	assert_int_equal(gw_rollout_def_parse(body, &def, &e), 0);
	assert_int_equal(gw_rollouts_create(&f->ro, &def, "op-alice", &ro), -EEXIST);
	gw_rollout_def_free(&def);
	json_object_set_new(body, "max_in_flight", json_integer(7));
	assert_int_equal(gw_rollout_def_parse(body, &def, &e), 0);
	assert_int_equal(gw_rollouts_create(&f->ro, &def, "op-alice", &ro), -EBUSY);
	gw_rollout_def_free(&def);
	json_decref(body);
}

static void
test_drift_policy_rolls_back_a_drifting_version(void **state)
{
	struct fixture *f = *state;
	struct gw_config cfg;
	struct gw_drift_policy p;
	static const char conf[] = "drift_policy.share = 50\ndrift_policy.window_s = 600\n"
	                           "drift_policy.min_devices = 2\ndrift_policy.action = rollback\n";
	struct gw_rollout *ro = create(
	        f, "{\"id\": \"d1\", \"model\": \"pump-anomaly\", \"version\": \"1.1.0\", "
	           "\"target\": {\"all\": true}, \"waves\": {\"canary\": {\"count\": 2}, "
	           "\"stages\": [100]}, \"settle_seconds\": 600, \"gates\": {\"quality\": "
	           "{\"drift_alarm\": false, \"min_samples\": 1}}, \"on_gate_failure\": \"pause\"}");

	/* The keys as an operator writes them. */
	assert_int_equal(gw_config_parse(&cfg, conf, sizeof(conf) - 1, "test"), 0);
	assert_int_equal(cfg.drift_share, 50);
	assert_int_equal(cfg.drift_action, 2);
	assert_int_equal(gw_config_parse(&cfg, "drift_policy.action = maybe\n", 28, "test"),
	                 -EINVAL);
	p.share = 50;
	p.window_s = 600;
	p.min_devices = 2;
	p.action = 2;
	gw_rollouts_set_policy(&f->ro, &p);
	assert_int_equal(gw_rollouts_start(&f->ro, ro, "op-alice", NULL), 0);
	step(f, gw_wall_ms());
	land(f, ro, "vib-0001");
	land(f, ro, "vib-0002");
	f->ro.policy_acted_ms = 0;
	step(f, gw_wall_ms());
	assert_int_equal(gw__find_dev(ro, "vib-0001")->state, GW_RD_SETTLING);
	/* One of two recent installs in alarm (50 %), the old version quiet: act. */
	telemetry_why(f, "vib-0001", "1.1.0", 100, 0.9f, TFP_TELEM_WHY_PH);
	telemetry(f, "vib-0002", "1.1.0", 100, 0.9f);
	telemetry(f, "vib-0003", "1.0.0", 100, 0.9f);
	f->ro.policy_acted_ms = 0;
	step(f, gw_wall_ms());
	assert_int_equal(ro->state, GW_RO_ROLLED_BACK);
	assert_string_equal(gw_reason_name(ro->reason), "drift_policy");
	assert_int_equal(count_events(f, "drift.alert", "action", "rollback"), 1);
	assert_int_equal(gw__find_dev(ro, "vib-0001")->state, GW_RD_ROLLING_BACK);
}

static void
test_offline_devices_are_offered_when_they_return(void **state)
{
	struct fixture *f = *state;
	struct gw_rollout *ro = create(f, PLAN);
	static const uint8_t gone[] = { 0x00 };
	struct gw_rdev *d;

	gw_registry_on_conn(&f->reg, "vib-0002", gone, sizeof(gone), gw_wall_ms());
	assert_int_equal(gw_rollouts_start(&f->ro, ro, "op-alice", NULL), 0);
	step(f, gw_wall_ms());
	d = gw__find_dev(ro, "vib-0002");
	assert_int_equal(gw__find_dev(ro, "vib-0001")->state, GW_RD_OFFERED);
	assert_int_equal(d->state, GW_RD_WAITING);
	assert_int_equal(d->attempts, 0);
	/* Back: its hello/state says it is online again, and its first report has no label
	 * yet (NaN accuracy): the baseline taken at the offer is still a storable number. */
	device_says(f, "vib-0002", "stm32l4-vib", &f->v1, "1.0.0", 0);
	telemetry(f, "vib-0002", "1.0.0", 5, NAN);
	step(f, gw_wall_ms());
	assert_int_equal(d->state, GW_RD_OFFERED);
	assert_int_equal(d->attempts, 1);
}

/* The daemon's answer for a CoAP device while the broker is away: only vib-0001 is. */
static int
only_vib_0001(void *arg, const char *id)
{
	(void)arg;
	return strcmp(id, "vib-0001") == 0;
}

static void
test_offers_go_to_reachable_devices_only(void **state)
{
	struct fixture *f = *state;
	struct gw_rollout *ro = create(f, PLAN);

	/* Commands leave through a transport that can reach vib-0001 (its own CoAP session)
	 * but not vib-0002 (MQTT, broker down): one is offered now, the other waits, not
	 * counting an attempt, until its transport is back. */
	f->ro.reachable = only_vib_0001;
	assert_int_equal(gw_rollouts_start(&f->ro, ro, "op-alice", NULL), 0);
	step(f, gw_wall_ms());
	assert_int_equal(gw__find_dev(ro, "vib-0001")->state, GW_RD_OFFERED);
	assert_int_equal(gw__find_dev(ro, "vib-0002")->state, GW_RD_WAITING);
	assert_int_equal(gw__find_dev(ro, "vib-0002")->attempts, 0);
	f->ro.reachable = NULL;
	step(f, gw_wall_ms());
	assert_int_equal(gw__find_dev(ro, "vib-0002")->state, GW_RD_OFFERED);
}

/* Calls operation `name` of the rollout group as the API front end would. */
static json_t *
call(struct gw_api *api, const char *name, const char *json, struct gw_api_error *e)
{
	json_t *body = json_loads(json, 0, NULL), *res = NULL;
	assert_non_null(body);
	memset(e, 0, sizeof(*e));
	for (size_t i = 0; i < api->groups[0].n; i++)
		if (strcmp(api->groups[0].ops[i].name, name) == 0)
			res = api->groups[0].ops[i].fn(api, api->groups[0].ctx, "op-alice", body, e);
	json_decref(body);
	return res;
}

static json_t *
call_file(struct gw_api *api, const char *name, const char *path, struct gw_api_error *e)
{
	json_t *body = json_load_file(path, 0, NULL);
	char *text;
	json_t *res;
	assert_non_null(body);
	text = json_dumps(body, 0);
	res = call(api, name, text, e);
	free(text);
	json_decref(body);
	return res;
}

static void
test_operations_follow_the_contract(void **state)
{
	static const struct { const char *prefix, *op; } ops[] = {
		{ "rollout-action-request", "rollout.start" },
		{ "rollout-rollback-request", "rollout.rollback" },
		{ "rollout-status-request", "rollout.status" },
		{ "rollout-list-request", "rollout.list" },
	};
	struct fixture *f = *state;
	struct gw_api api;
	struct gw_api_error e;
	json_t *res, *expected, *kw;
	const char *name;
	char path[512], def[2048];

	memset(&api, 0, sizeof(api));
	assert_int_equal(gw_rollout_api_register(&f->ro, &api), 0);
	snprintf(def, sizeof(def), "%s", PLAN);
	memcpy(strstr(def, "\"r1\""), "\"rX\"", 4);
	assert_non_null(res = call(&api, "rollout.create", def, &e));
	json_decref(res);
	memcpy(strstr(def, "\"rX\""), "\"r2\"", 4);
	assert_non_null(res = call(&api, "rollout.create", def, &e));
	json_decref(res);
	/* The examples' rollout. */
	snprintf(def, sizeof(def), "%s", PLAN);
	{
		json_t *b = json_loads(def, 0, NULL);
		char *t;
		json_object_set_new(b, "id", json_string("pump-1.1.0-r1"));
		t = json_dumps(b, 0);
		res = call(&api, "rollout.create", t, &e);
		assert_non_null(res);
		assert_true(json_is_true(json_object_get(res, "created")));
		assert_string_equal(json_string_value(json_object_get(json_object_get(res, "rollout"),
		                                                      "state")), "draft");
		json_decref(res);
		free(t);
		json_decref(b);
	}
	/* Every valid request example is accepted (start, then the rest on a running one). */
	for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
		snprintf(path, sizeof(path), TF_SOURCE_DIR "/schemas/examples/operator/%s.json",
		         ops[k].prefix);
		res = call_file(&api, ops[k].op, path, &e);
		if (res == NULL)
			fail_msg("%s refused: %s %s", ops[k].prefix, e.code, e.message);
		json_decref(res);
	}
	/* The rollback example (scope wave) paused it; start is now the wrong command. */
	assert_null(call(&api, "rollout.start", "{\"id\": \"pump-1.1.0-r1\"}", &e));
	assert_string_equal(e.code, "invalid_state");
	assert_string_equal(json_string_value(json_object_get(e.details, "state")), "paused");
	json_decref(e.details);
	res = call(&api, "rollout.pause", "{\"id\": \"pump-1.1.0-r1\"}", &e);
	assert_false(json_is_true(json_object_get(res, "changed")));
	json_decref(res);
	assert_null(call(&api, "rollout.status", "{\"id\": \"nope\"}", &e));
	assert_string_equal(e.code, "not_found");
	json_decref(e.details);
	/* Every invalid request example is refused for the keyword the contract names. */
	expected = json_load_file(TF_SOURCE_DIR "/schemas/examples/operator/invalid/expected.json",
	                          0, NULL);
	json_object_foreach(expected, name, kw) {
		for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
			if (strncmp(name, ops[k].prefix, strlen(ops[k].prefix)) != 0)
				continue;
			snprintf(path, sizeof(path),
			         TF_SOURCE_DIR "/schemas/examples/operator/invalid/%s", name);
			if ((res = call_file(&api, ops[k].op, path, &e)) != NULL)
				fail_msg("%s accepted", name);
			assert_string_equal(e.code, "invalid_request");
			if (strcmp(json_string_value(json_object_get(e.details, "keyword")),
			           json_string_value(kw)) != 0)
				fail_msg("%s: keyword %s, expected %s", name,
				         json_string_value(json_object_get(e.details, "keyword")),
				         json_string_value(kw));
			json_decref(e.details);
		}
	}
	json_decref(expected);
	/* Paging: three rollouts, newest first, one a page. */
	res = call(&api, "rollout.list", "{\"limit\": 1}", &e);
	assert_int_equal(json_integer_value(json_object_get(res, "total")), 3);
	assert_string_equal(json_string_value(json_object_get(
	                            json_array_get(json_object_get(res, "items"), 0), "id")),
	                    "pump-1.1.0-r1");
	snprintf(def, sizeof(def), "{\"limit\": 2, \"cursor\": \"%s\"}",
	         json_string_value(json_object_get(res, "next_cursor")));
	json_decref(res);
	res = call(&api, "rollout.list", def, &e);
	assert_int_equal(json_array_size(json_object_get(res, "items")), 2);
	assert_true(json_is_null(json_object_get(res, "next_cursor")));
	json_decref(res);
	res = call(&api, "rollout.status", "{\"id\": \"rX\", \"devices\": true, \"limit\": 5}",
	           &e);
	assert_int_equal(json_array_size(json_object_get(res, "devices")), 5);
	assert_true(json_is_string(json_object_get(res, "next_cursor")));
	json_decref(res);
	/* fleet.status lists the paused rollout and its devices still under way. */
	{
		struct gw_api full;
		gw_api_init(&full, "site1", &f->cat, &f->reg, &f->mon, NULL);
		assert_int_equal(gw_rollout_api_register(&f->ro, &full), 0);
		res = gw_api_fleet_status(&full);
		assert_int_equal(json_array_size(json_object_get(res, "rollouts")), 1);
		assert_string_equal(json_string_value(json_object_get(
		                            json_array_get(json_object_get(res, "rollouts"), 0), "state")),
		                    "paused");
		assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "devices"),
		                                                    "updating")), 9);
		json_decref(res);
	}
}

/* A device belongs to at most one active rollout: starting an overlapping one is refused
 * (conflict, naming the holder), also after a restart; a disjoint one starts; once the
 * holder ends, the other starts. */
static void
test_overlapping_rollouts_do_not_both_run(void **state)
{
	struct fixture *f = *state;
	struct gw_rollout *r1 = create(f, PLAN), *r2, *r3;
	const char *dev = NULL;
	char def[2048];

	snprintf(def, sizeof(def), "%s", PLAN);
	memcpy(strstr(def, "\"r1\""), "\"r2\"", 4);
	r2 = create(f, def);
	/* r3 targets only the device r1 excludes. */
	r3 = create_for_device(f, "r3", "vib-0010");
	assert_null(gw_rollouts_conflict(&f->ro, r2, NULL));   /* drafts hold nothing */
	assert_int_equal(gw_rollouts_start(&f->ro, r1, "op-alice", NULL), 0);
	assert_int_equal(gw_rollouts_start(&f->ro, r2, "op-alice", NULL), -EBUSY);
	assert_ptr_equal(gw_rollouts_conflict(&f->ro, r2, &dev), r1);
	assert_string_equal(dev, "vib-0001");
	assert_int_equal(r2->state, GW_RO_DRAFT);
	assert_int_equal(gw_rollouts_start(&f->ro, r3, "op-alice", NULL), 0);
	/* Paused still holds; and the rule is the stored state's, so a restart keeps it. */
	assert_int_equal(gw_rollouts_pause(&f->ro, r1, "op-alice", NULL), 0);
	gw_rollouts_close(&f->ro);
	clear_events(f);
	open_engine(f);
	r1 = gw_rollouts_find(&f->ro, "r1");
	r2 = gw_rollouts_find(&f->ro, "r2");
	assert_int_equal(gw_rollouts_start(&f->ro, r2, "op-alice", NULL), -EBUSY);
	assert_int_equal(count_events(f, "rollout.state", "to", "running"), 1);   /* r3 resumed */
	assert_int_equal(gw_rollouts_abort(&f->ro, r1, "op-alice", NULL), 0);
	assert_int_equal(gw_rollouts_start(&f->ro, r2, "op-alice", NULL), 0);
	step(f, gw_wall_ms());
	assert_int_equal(gw__find_dev(r2, "vib-0001")->state, GW_RD_OFFERED);
}

/* Fills the store's map (blobs in their own commits, smaller and smaller) until not even
 * a small commit fits. */
static void
fill_map(struct fixture *f)
{
	static const size_t sizes[] = { 1u << 20, 64u << 10, 4u << 10, 256, 16 };
	static uint8_t junk[1u << 20];
	uint8_t digest[32] = { 0xee };
	uint32_t n = 0;

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		for (;;) {
			struct gw_txn t;
			int rc;
			memcpy(digest + 1, &n, sizeof(n));
			n++;
			assert_int_equal(gw_store_begin(&f->store, &t), 0);
			if ((rc = gw_store_put_blob(&t, digest, junk, sizes[k])) != 0) {
				gw_store_abort(&t);
				assert_int_equal(rc, -ENOSPC);
				break;
			}
			if ((rc = gw_store_commit(&t)) != 0) {
				assert_int_equal(rc, -ENOSPC);
				break;
			}
		}
	}
}

/* A full map where every later write commit fails with -ENOSPC: the reader *pin keeps the
 * pages that commits free from being reused (LMDB recycles them otherwise). */
static void
fill_store(struct fixture *f, struct gw_txn *pin)
{
	fill_map(f);
	assert_int_equal(gw_store_begin_read(&f->store, pin), 0);
	fill_map(f);
	/* A split needs more pages than an update in place: take the last ones with commits
	 * like the engine's (each takes an event number). */
	for (;;) {
		struct gw_txn t;
		uint64_t seq;
		int rc;
		assert_int_equal(gw_store_begin(&f->store, &t), 0);
		if ((rc = gw_store_event_seq_next(&t, &seq)) == 0)
			rc = gw_store_commit(&t);
		else
			gw_store_abort(&t);
		if (rc != 0) {
			assert_int_equal(rc, -ENOSPC);
			break;
		}
	}
}

/* A commit that fails (map full) changes nothing anyone can see: an operator command
 * answers the error and the rollout is as the store has it, a device report is undone,
 * no event or command goes out and nothing piles up; a restart finds the same. */
static void
test_failed_commit_leaves_memory_as_stored(void **state)
{
	struct fixture *f = *state;
	struct gw_rollout *ro = create(f, PLAN);
	struct gw_rdev *d;
	uint64_t cmd;
	struct tfp_report p;
	uint8_t buf[TFP_REPORT_WIRE_MAX];
	size_t len;
	struct gw_txn pin;

	assert_int_equal(gw_rollouts_start(&f->ro, ro, "op-alice", NULL), 0);
	step(f, gw_wall_ms());
	d = gw__find_dev(ro, "vib-0001");
	assert_int_equal(d->state, GW_RD_OFFERED);
	cmd = d->cmd;
	clear_events(f);
	fill_store(f, &pin);

	assert_int_equal(gw_rollouts_pause(&f->ro, ro, "op-alice", NULL), -ENOSPC);
	assert_int_equal(ro->state, GW_RO_RUNNING);
	assert_int_equal(ro->reason, GW_R_OPERATOR_START);
	assert_null(f->ro.fx_head);
	assert_int_equal(gw_rollouts_abort(&f->ro, ro, "op-alice", NULL), -ENOSPC);
	assert_int_equal(ro->state, GW_RO_RUNNING);

	/* The canary device confirms; the commit fails, so the report is undone. */
	memset(&p, 0, sizeof(p));
	p.type = TFP_MSG_RESULT;
	p.command_id = cmd;
	p.phase = TFP_PHASE_CONFIRM;
	p.outcome = TFP_OUTCOME_OK;
	p.reason = TFP_REASON_CONFIRMED;
	assert_int_equal(tfp_report_encode(&p, buf, sizeof(buf), &len), 0);
	gw_rollouts_on_report(&f->ro, "vib-0001", buf, len);
	assert_int_equal(gw_rollouts_flush(&f->ro), -ENOSPC);
	d = gw__find_dev(ro, "vib-0001");
	assert_int_equal(d->state, GW_RD_OFFERED);
	assert_false(d->flags & GW_RDF_CONFIRMED);
	assert_true(d->cmd == cmd);

	/* Steps whose commits fail queue nothing for later: effects do not pile up. */
	for (int i = 0; i < 5; i++) {
		gw_rollouts_step(&f->ro, gw_wall_ms() + 400000u * (uint64_t)(i + 1));
		assert_int_equal(gw_rollouts_flush(&f->ro), -ENOSPC);
		assert_null(f->ro.fx_head);
		assert_int_equal(gw__find_dev(ro, "vib-0001")->state, GW_RD_OFFERED);
		assert_true(gw__find_dev(ro, "vib-0001")->cmd == cmd);
	}
	assert_int_equal(f->nev, 0);

	/* What a restart loads is what memory says. */
	gw_rollouts_close(&f->ro);
	open_engine(f);
	ro = gw_rollouts_find(&f->ro, "r1");
	assert_int_equal(ro->state, GW_RO_RUNNING);
	d = gw__find_dev(ro, "vib-0001");
	assert_int_equal(d->state, GW_RD_OFFERED);
	assert_true(d->cmd == cmd);
	gw_store_abort(&pin);
}

/* Devices that register after create and match the target join the wave that starts next
 * (the canary stays as chosen); those the target or the version does not fit are skipped
 * with their reason; one held by another active rollout is left to it. */
static void
test_newcomers_join_the_remaining_waves(void **state)
{
	struct fixture *f = *state;
	struct gw_rollout *ro = create(f, PLAN), *other;
	uint32_t c[GW_RD_COUNT];
	size_t n0 = ro->ndev;

	/* vib-0000 sorts before the canary: it must not displace it. */
	device_says(f, "vib-0000", "stm32l4-vib", &f->v1, "1.0.0", 0);
	assert_int_equal(gw_rollouts_start(&f->ro, ro, "op-alice", NULL), 0);
	step(f, gw_wall_ms());
	assert_null(gw__find_dev(ro, "vib-0000"));
	assert_int_equal(gw__find_dev(ro, "vib-0001")->state, GW_RD_OFFERED);
	assert_int_equal(gw__find_dev(ro, "vib-0002")->state, GW_RD_OFFERED);
	land(f, ro, "vib-0001");
	land(f, ro, "vib-0002");
	device_says(f, "other-0002", "nrf52-temp", &f->v1, "1.0.0", 0);
	device_says(f, "vib-0300", "stm32l4-vib", &f->v1, "1.0.0", 0);
	other = create_for_device(f, "r3", "vib-0300");
	assert_int_equal(gw_rollouts_start(&f->ro, other, "op-alice", NULL), 0);
	step(f, gw_wall_ms());
	step(f, gw_wall_ms());
	assert_int_equal(ro->wave, 1);
	assert_int_equal(ro->ndev, n0 + 2);
	assert_int_equal(gw__find_dev(ro, "vib-0000")->wave, 1);
	assert_int_equal(gw__find_dev(ro, "vib-0000")->state, GW_RD_OFFERED);
	assert_int_equal(gw__find_dev(ro, "other-0002")->state, GW_RD_SKIPPED);
	assert_string_equal(gw_reason_name(gw__find_dev(ro, "other-0002")->reason),
	                    "class_mismatch");
	assert_null(gw__find_dev(ro, "vib-0300"));
	assert_int_equal(ro->waves[1].devices, 4);
	gw_rollout_counts(ro, 1, c);
	assert_int_equal(c[GW_RD_OFFERED], 4);
	/* Stored with the rollout: a restart keeps them. */
	gw_rollouts_close(&f->ro);
	open_engine(f);
	ro = gw_rollouts_find(&f->ro, "r1");
	assert_int_equal(ro->ndev, n0 + 2);
	assert_int_equal(gw__find_dev(ro, "vib-0000")->wave, 1);
	assert_int_equal(ro->waves[1].devices, 4);
}

/* The download timeout is the definition's (here 60 s, not the 300 s default): an attempt
 * without a result after it fails with download_timeout and waits for its retry. */
static void
test_download_timeout_is_the_definitions(void **state)
{
	struct fixture *f = *state;
	struct gw_rollout *ro;
	struct gw_rdev *d;
	uint64_t now;
	json_t *b = json_loads(PLAN, 0, NULL);

	json_object_set_new(b, "download_timeout_seconds", json_integer(60));
	ro = create_from(f, b);
	json_decref(b);
	assert_int_equal(ro->def.download_timeout_s, 60);
	assert_int_equal(gw_rollouts_start(&f->ro, ro, "op-alice", NULL), 0);
	now = gw_wall_ms();
	step(f, now);
	d = gw__find_dev(ro, "vib-0001");
	assert_int_equal(d->state, GW_RD_OFFERED);
	step(f, now + 59000);
	assert_int_equal(d->state, GW_RD_OFFERED);
	step(f, now + 61000);
	assert_int_equal(d->state, GW_RD_WAITING);
	assert_string_equal(gw_reason_name(d->reason), "download_timeout");
}

/* ---- retained status, against a real Mosquitto ---------------------------------------- */

struct link {
	struct gw_mqtt m;
	int connected, closed;
};

static void
link_message(void *arg, const struct gw_mqtt_msg *m)
{
	(void)arg;
	(void)m;
}

static void
link_state(void *arg, int connected, const char *why)
{
	(void)why;
	((struct link *)arg)->connected = connected;
}

static void
link_closed(struct gw_mqtt *m)
{
	((struct link *)((char *)m - offsetof(struct link, m)))->closed = 1;
}

static void
idle(uv_timer_t *t)
{
	(void)t;
}

/* Runs the loop for up to ms, or until *flag is set. */
static void
spin(struct fixture *f, const int *flag, int ms)
{
	uv_timer_t tick;
	uint64_t end = uv_now(&f->loop) + (uint64_t)ms;

	uv_timer_init(&f->loop, &tick);
	uv_timer_start(&tick, idle, 10, 10);
	while ((flag == NULL || !*flag) && uv_now(&f->loop) < end)
		uv_run(&f->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
}

/* What an operator subscribing now gets as the topic's retained message ("" if none). */
static void
retained(const struct test_broker *b, const char *topic, char *out, size_t cap)
{
	char cmd[1024];
	FILE *p;
	size_t n;

	snprintf(cmd, sizeof(cmd),
	         "mosquitto_sub -h 127.0.0.1 -p %d --cafile %s --cert %s --key %s -t %s -C 1 "
	         "-W 2 -F '%%r %%p' 2>/dev/null",
	         b->port, test_broker_path(b, "ca.crt"), test_broker_path(b, "op-alice.crt"),
	         test_broker_path(b, "op-alice.key"), topic);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, cap - 1, p);
	out[n] = '\0';
	pclose(p);
}

/* An ended rollout's retained status is cleared once the retention has passed since it
 * ended, and stays cleared across a restart; a running one's stays. */
static void
test_ended_rollout_status_is_cleared_after_retention(void **state)
{
	struct fixture *f = *state;
	struct test_broker b;
	struct gw_mqtt_config cfg = { 0 };
	struct link l = { 0 };
	struct gw_rollout *ro, *other;
	char got[4096];
	uint64_t now;

	gw_log_init(GW_LOG_WARNING);
	assert_int_equal(test_broker_start(&b, 0), 0);
	cfg.uri = b.uri;
	cfg.client_id = "gw-site1";
	cfg.ca_file = strdup(test_broker_path(&b, "ca.crt"));
	cfg.cert_file = strdup(test_broker_path(&b, "gateway.crt"));
	cfg.key_file = strdup(test_broker_path(&b, "gateway.key"));
	cfg.backoff_min_ms = 100;
	cfg.backoff_max_ms = 400;
	assert_int_equal(gw_mqtt_init(&f->loop, &l.m, &cfg, link_message, link_state, &l), 0);
	assert_int_equal(gw_mqtt_start(&l.m), 0);
	spin(f, &l.connected, 10000);
	assert_true(l.connected);
	gw_rollouts_close(&f->ro);
	assert_int_equal(gw_rollouts_open(&f->ro, NULL, &f->store, &f->reg, &f->cat, &f->mon,
	                                  &f->deltas, &l.m, NULL, "site1", on_event, f),
	                 0);
	ro = create(f, PLAN);
	other = create_for_device(f, "r3", "vib-0010");
	assert_int_equal(gw_rollouts_start(&f->ro, ro, "op-alice", NULL), 0);
	assert_int_equal(gw_rollouts_start(&f->ro, other, "op-alice", NULL), 0);
	assert_int_equal(gw_rollouts_abort(&f->ro, ro, "op-alice", NULL), 0);
	now = gw_wall_ms();
	gw_rollouts_step(&f->ro, now);
	assert_int_equal(gw_rollouts_flush(&f->ro), 0);
	spin(f, NULL, 300);
	retained(&b, "tf/site1/status/rollout/r1", got, sizeof(got));
	assert_non_null(strstr(got, "\"aborted\""));
	assert_int_equal(got[0], '1');     /* retained */

	/* Within the retention nothing changes; past it the ended one's status goes. */
	gw_rollouts_set_status_retention(&f->ro, 60);
	gw_rollouts_step(&f->ro, now + 30000);
	assert_int_equal(gw_rollouts_flush(&f->ro), 0);
	assert_false(ro->status_cleared);
	gw_rollouts_step(&f->ro, now + 61000);
	assert_int_equal(gw_rollouts_flush(&f->ro), 0);
	assert_true(ro->status_cleared);
	spin(f, NULL, 300);
	retained(&b, "tf/site1/status/rollout/r1", got, sizeof(got));
	assert_string_equal(got, "");
	retained(&b, "tf/site1/status/rollout/r3", got, sizeof(got));
	assert_non_null(strstr(got, "\"running\""));

	/* A restart republishes what is under way, never what was cleared. */
	gw_rollouts_close(&f->ro);
	assert_int_equal(gw_rollouts_open(&f->ro, NULL, &f->store, &f->reg, &f->cat, &f->mon,
	                                  &f->deltas, &l.m, NULL, "site1", on_event, f),
	                 0);
	gw_rollouts_set_status_retention(&f->ro, 60);
	assert_true(gw_rollouts_find(&f->ro, "r1")->status_cleared);
	gw_rollouts_step(&f->ro, now + 62000);
	assert_int_equal(gw_rollouts_flush(&f->ro), 0);
	spin(f, NULL, 300);
	retained(&b, "tf/site1/status/rollout/r1", got, sizeof(got));
	assert_string_equal(got, "");

	gw_rollouts_close(&f->ro);
	gw_mqtt_close(&l.m, link_closed);
	spin(f, &l.closed, 5000);
	assert_true(l.closed);
	free((char *)cfg.ca_file);
	free((char *)cfg.cert_file);
	free((char *)cfg.key_file);
	test_broker_destroy(&b);
	open_engine(f);
}

/* A completed rollout whose devices another rollout now runs on cannot be rolled back
 * (that would undo the other's work); once the other ends, it can. */
static void
test_completed_rollout_rollback_respects_the_active_one(void **state)
{
	struct fixture *f = *state;
	struct gw_rollout *a, *b;
	const char *dev = NULL;
	json_t *j = json_loads(PLAN, 0, NULL);
	char *t;

	json_object_set_new(j, "target", json_pack("{s:[s]}", "devices", "vib-0010"));
	json_object_set_new(j, "waves", json_pack("{s:{s:i}, s:[i]}", "canary", "count", 1,
	                                          "stages", 100));
	t = json_dumps(j, 0);
	a = create(f, t);
	free(t);
	json_object_set_new(j, "id", json_string("r2"));
	json_object_set_new(j, "version", json_string("1.0.0"));
	t = json_dumps(j, 0);
	json_decref(j);
	assert_int_equal(gw_rollouts_start(&f->ro, a, "op-alice", NULL), 0);
	step(f, gw_wall_ms());
	land(f, a, "vib-0010");
	for (int i = 0; i < 4 && a->state == GW_RO_RUNNING; i++)
		step(f, gw_wall_ms());
	assert_int_equal(a->state, GW_RO_COMPLETED);
	/* r2 takes the device back to 1.0.0 (an operator's way back that is not a rollback). */
	b = create(f, t);
	free(t);
	assert_int_equal(gw_rollouts_start(&f->ro, b, "op-alice", NULL), 0);
	step(f, gw_wall_ms());
	assert_int_equal(gw__find_dev(b, "vib-0010")->state, GW_RD_OFFERED);
	assert_int_equal(gw_rollouts_rollback(&f->ro, a, true, "op-alice", NULL), -EBUSY);
	assert_ptr_equal(gw_rollouts_conflict(&f->ro, a, &dev), b);
	assert_string_equal(dev, "vib-0010");
	assert_int_equal(a->state, GW_RO_COMPLETED);
	assert_int_equal(gw_rollouts_abort(&f->ro, b, "op-alice", NULL), 0);
	assert_int_equal(gw_rollouts_rollback(&f->ro, a, true, "op-alice", NULL), 0);
	assert_int_equal(a->state, GW_RO_ROLLED_BACK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gate_math),
		cmocka_unit_test_setup_teardown(test_create_matches_and_plans_waves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_refuses_what_cannot_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waves_advance_on_confirmed_devices, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_progress_bursts_merge_per_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resume_after_reopen_keeps_command_ids, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_failed_attempts_retry_with_backoff_then_fail,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_quality_gate_rolls_back_the_wave, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_drift_policy_rolls_back_a_drifting_version,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_operations_follow_the_contract, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_offers_go_to_reachable_devices_only, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_offline_devices_are_offered_when_they_return,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlapping_rollouts_do_not_both_run, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_completed_rollout_rollback_respects_the_active_one,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_commit_leaves_memory_as_stored, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_newcomers_join_the_remaining_waves, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_download_timeout_is_the_definitions, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_ended_rollout_status_is_cleared_after_retention,
		                                setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
