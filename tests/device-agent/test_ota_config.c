/*
 * Config commands (TFP_MSG_CONFIG) through the OTA core: applied whole and reported
 * config-applied, kept across a restart, handed to the application's hook; a repeated
 * command id is a duplicate (also after a power loss); values the device cannot run with are
 * refused with config-refused and change nothing; malformed configs are refused as
 * malformed; a power cut during the config's metadata write leaves either the old settings
 * and no record of the command, or the new ones and the record, never a mix.
 */
#include "ota_test_util.h"

static struct tfp_cose_signer signer;
static struct model_img v1, v2;
static struct rig rig;

static struct {
	unsigned calls;
	struct tfa_settings last;
} hook;

static void
on_settings(void *user, const struct tfa_settings *s)
{
	assert_ptr_equal(user, &hook);
	hook.calls++;
	hook.last = *s;
}

static int
setup(void **state)
{
	(void)state;
	load_release_signer(&signer);
	make_model(&v1, 0, 0);
	make_model(&v2, 1, 0);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	tfp_cose_signer_free(&signer);
	return 0;
}

static void
provision(struct rig *r)
{
	rig_open(r, &signer);
	r->cfg.on_settings = on_settings;
	r->cfg.user = &hook;
	memset(&hook, 0, sizeof(hook));
	rig_provision(r, &v1);
}

static void
config_cmd(struct tfp_command *c, uint64_t id)
{
	memset(c, 0, sizeof(*c));
	c->type = TFP_MSG_CONFIG;
	c->command_id = id;
}

/* Sends c and returns its result (fails the test without one). */
static const struct tfp_report *
send_config(struct rig *r, const struct tfp_command *c)
{
	rig_command(r, c);
	assert_int_equal(rig_run(r, c->command_id, 10, 10), 0);
	return peer_result(r, c->command_id);
}

/* Raw bytes as a command (for what the encoder refuses to write). */
static const struct tfp_report *
send_raw(struct rig *r, const char *bytes, size_t len)
{
	unsigned before = r->peer.n_reports;

	memcpy(r->peer.cmd, bytes, len);
	r->peer.cmd_len = len;
	r->peer.cmd_pending = 1;
	assert_int_equal(tfa_ota_poll(&r->ota), 0);
	assert_int_equal(r->peer.n_reports, before + 1);
	return &r->peer.reports[before];
}

static void
test_applied_and_kept(void **state)
{
	struct tfp_command c;
	const struct tfp_report *res;
	struct tfa_settings def;
	struct tfa_drift_config dc;
	struct tfa_drift *drift;
	(void)state;

	provision(&rig);
	tfa_settings_default(&def);
	assert_memory_equal(tfa_ota_settings(&rig.ota), &def, sizeof(def));
	assert_true(def.ph_lambda > 0.0f && def.adwin_delta > 0.0f && def.present == 0);

	config_cmd(&c, 40);
	c.u.config.present = TFP_CFG_ALL;
	c.u.config.telemetry_period_s = 30;
	c.u.config.telemetry_samples = 200;
	c.u.config.ph_delta = 0.01f;
	c.u.config.ph_lambda = 25.0f;
	c.u.config.adwin_delta = 0.05f;
	c.u.config.psi_alarm = 0.05f;
	c.u.config.shift_alarm = 1.5f;
	c.u.config.label_rate = 0.1f;
	res = send_config(&rig, &c);
	assert_int_equal(res->outcome, TFP_OUTCOME_OK);
	assert_int_equal(res->reason, TFP_REASON_CONFIG_APPLIED);
	assert_int_equal(res->phase, TFP_PHASE_CONFIG);
	assert_int_equal(hook.calls, 1);
	assert_memory_equal(&hook.last, tfa_ota_settings(&rig.ota), sizeof(hook.last));
	assert_int_equal(hook.last.present, TFP_CFG_ALL);
	assert_int_equal(hook.last.telemetry_period_s, 30);
	assert_int_equal(hook.last.telemetry_samples, 200);
	assert_true(hook.last.ph_lambda == 25.0f && hook.last.adwin_delta == 0.05f &&
	            hook.last.label_rate == 0.1f && hook.last.shift_alarm == 1.5f);

	/* The drift bundle runs with them (the PSI warning follows the lower alarm down). */
	tfa_settings_drift(tfa_ota_settings(&rig.ota), &dc);
	assert_true(dc.ph.lambda == 25.0f && dc.ph.delta == 0.01f && dc.adwin.delta == 0.05f &&
	            dc.data.psi_alarm == 0.05f && dc.data.psi_warn <= 0.05f &&
	            dc.data.shift_alarm == 1.5f);
	drift = malloc(sizeof(*drift));
	assert_non_null(drift);
	assert_int_equal(tfa_drift_init(drift, &dc, NULL), 0);
	free(drift);

	/* Partial: only lambda changes; the rest keeps the values above. */
	config_cmd(&c, 41);
	c.u.config.present = TFP_CFG_PH_LAMBDA;
	c.u.config.ph_lambda = 80.0f;
	assert_int_equal(send_config(&rig, &c)->reason, TFP_REASON_CONFIG_APPLIED);
	assert_true(tfa_ota_settings(&rig.ota)->ph_lambda == 80.0f);
	assert_int_equal(tfa_ota_settings(&rig.ota)->telemetry_period_s, 30);
	assert_true(tfa_ota_settings(&rig.ota)->adwin_delta == 0.05f);

	/* A restart keeps them (they live in the slot metadata). */
	hook.last = *tfa_ota_settings(&rig.ota);
	assert_int_equal(rig_boot(&rig), 0);
	assert_memory_equal(tfa_ota_settings(&rig.ota), &hook.last, sizeof(hook.last));
	assert_int_equal(rig.ota.stats.configs, 0);     /* RAM counters start over */

	/* The same id again, even with other values: a duplicate, nothing changes. */
	config_cmd(&c, 41);
	c.u.config.present = TFP_CFG_PH_LAMBDA;
	c.u.config.ph_lambda = 5.0f;
	res = send_config(&rig, &c);
	assert_int_equal(res->outcome, TFP_OUTCOME_REFUSED);
	assert_int_equal(res->reason, TFP_REASON_DUPLICATE);
	assert_int_equal(res->phase, TFP_PHASE_CONFIG);
	assert_true(tfa_ota_settings(&rig.ota)->ph_lambda == 80.0f);
	assert_int_equal(hook.calls, 2);
	assert_int_equal(rig.ota.stats.duplicates, 1);
	assert_int_equal(rig.px.violations, 0);
	rig_close(&rig);
}

static void
test_out_of_range_refused(void **state)
{
	static const struct {
		uint32_t bit;
		float value;
	} bad[] = {
		{ TFP_CFG_PH_LAMBDA, 0.0f },    { TFP_CFG_ADWIN_DELTA, 0.0f },
		{ TFP_CFG_ADWIN_DELTA, 1.0f },  { TFP_CFG_PSI_ALARM, 0.0f },
		{ TFP_CFG_SHIFT_ALARM, 0.0f },
	};
	struct tfp_command c;
	const struct tfp_report *res;
	struct tfa_settings before;
	uint32_t seq;
	uint32_t why;
	(void)state;

	provision(&rig);
	before = *tfa_ota_settings(&rig.ota);
	seq = rig.ota.meta.seq;
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* A valid period rides along: all or nothing, so it must not be applied. */
		config_cmd(&c, 50 + i);
		c.u.config.present = TFP_CFG_TELEMETRY_PERIOD | bad[i].bit;
		c.u.config.telemetry_period_s = 5;
		c.u.config.ph_lambda = bad[i].bit == TFP_CFG_PH_LAMBDA ? bad[i].value : 1.0f;
		c.u.config.adwin_delta = bad[i].bit == TFP_CFG_ADWIN_DELTA ? bad[i].value : 0.1f;
		c.u.config.psi_alarm = bad[i].bit == TFP_CFG_PSI_ALARM ? bad[i].value : 0.2f;
		c.u.config.shift_alarm = bad[i].bit == TFP_CFG_SHIFT_ALARM ? bad[i].value : 0.5f;
		assert_int_equal(tfa_settings_check(&c.u.config, &why), TFP_REASON_CONFIG_REFUSED);
		assert_int_equal(why, bad[i].bit);
		res = send_config(&rig, &c);
		assert_int_equal(res->outcome, TFP_OUTCOME_REFUSED);
		assert_int_equal(res->reason, TFP_REASON_CONFIG_REFUSED);
		assert_int_equal(res->command_id, 50 + i);
		assert_true(res->has_error);
		assert_int_equal(res->error, TFP_ERR_RANGE);
	}
	/* Values a decoder would never let through are refused as well (NaN, infinity, a
	 * period of 0, an unknown bit), in case the settings come from elsewhere. */
	c.u.config.present = TFP_CFG_LABEL_RATE;
	c.u.config.label_rate = 0.0f / 0.0f;
	assert_int_equal(tfa_settings_check(&c.u.config, &why), TFP_REASON_CONFIG_REFUSED);
	c.u.config.present = TFP_CFG_PH_DELTA;
	c.u.config.ph_delta = 1.0f / 0.0f;
	assert_int_equal(tfa_settings_check(&c.u.config, &why), TFP_REASON_CONFIG_REFUSED);
	c.u.config.present = TFP_CFG_TELEMETRY_PERIOD;
	c.u.config.telemetry_period_s = 0;
	assert_int_equal(tfa_settings_check(&c.u.config, &why), TFP_REASON_CONFIG_REFUSED);
	c.u.config.present = 0x100;
	assert_int_equal(tfa_settings_check(&c.u.config, &why), TFP_REASON_CONFIG_REFUSED);
	assert_int_equal(tfa_settings_check(NULL, &why), TFP_REASON_CONFIG_REFUSED);
	c.u.config.present = 0;   /* an empty config changes nothing and is fine */
	assert_int_equal(tfa_settings_check(&c.u.config, &why), TFP_REASON_OK);

	assert_memory_equal(tfa_ota_settings(&rig.ota), &before, sizeof(before));
	assert_int_equal(rig.ota.meta.seq, seq);      /* not one metadata write */
	assert_int_equal(hook.calls, 0);
	/* Refused ids are not remembered: the same id with good values is applied. */
	config_cmd(&c, 50);
	c.u.config.present = TFP_CFG_TELEMETRY_PERIOD;
	c.u.config.telemetry_period_s = 5;
	assert_int_equal(send_config(&rig, &c)->reason, TFP_REASON_CONFIG_APPLIED);
	assert_int_equal(tfa_ota_settings(&rig.ota)->telemetry_period_s, 5);
	rig_close(&rig);
}

static void
test_malformed_refused(void **state)
{
	/* CBOR maps {0: 5 (config), 1: 9 (id), ...}. */
	static const struct {
		const char *bytes;
		size_t len;
		int error;
		const char *what;
	} cases[] = {
		{ "\xa3\x00\x05\x01\x09\x06\xfa\x40\x00\x00\x00", 11, TFP_ERR_RANGE, "adwin delta 2.0" },
		{ "\xa3\x00\x05\x01\x09\x02\x00", 7, TFP_ERR_RANGE, "period 0" },
		{ "\xa3\x00\x05\x01\x09\x02\x1a\x00\x01\x51\x81", 11, TFP_ERR_RANGE, "period 86401" },
		{ "\xa3\x00\x05\x01\x09\x09\xf9\x7e\x00", 9, TFP_ERR_RANGE, "label rate NaN" },
		{ "\xa3\x00\x05\x01\x09\x05\xfa\xc0\x00\x00\x00", 11, TFP_ERR_RANGE, "lambda -2" },
		{ "\xa3\x00\x05\x01\x09\x02\x61\x78", 8, TFP_ERR_WRONG_TYPE, "period a string" },
		{ "\xa3\x00\x05\x01\x09\x0a\x01", 7, TFP_ERR_UNKNOWN_FIELD, "unknown key 10" },
		{ "\xa3\x00\x05\x01\x09\x02", 6, TFP_ERR_TRUNCATED, "truncated" },
		{ "\xa2\x00\x05\x02\x01", 5, TFP_ERR_MISSING_FIELD, "no command id" },
	};
	struct tfa_settings before;
	uint32_t seq;
	(void)state;

	provision(&rig);
	before = *tfa_ota_settings(&rig.ota);
	seq = rig.ota.meta.seq;
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct tfp_report *res = send_raw(&rig, cases[i].bytes, cases[i].len);
		assert_int_equal(res->type, TFP_MSG_RESULT);
		assert_int_equal(res->outcome, TFP_OUTCOME_REFUSED);
		assert_int_equal(res->reason, TFP_REASON_MALFORMED);
		if (!res->has_error || res->error != cases[i].error)
			fail_msg("%s: error %d, expected %d", cases[i].what, res->error, cases[i].error);
	}
	assert_memory_equal(tfa_ota_settings(&rig.ota), &before, sizeof(before));
	assert_int_equal(rig.ota.meta.seq, seq);
	assert_int_equal(hook.calls, 0);
	rig_close(&rig);
}

/* Applied while a download runs: both finish, and the download is not disturbed. */
static void
test_config_during_update(void **state)
{
	struct tfp_manifest m;
	struct signed_manifest sm;
	struct tfp_command c, u;
	uint8_t *patch;
	size_t plen;
	(void)state;

	provision(&rig);
	manifest_for(&m, &signer, &v2, 2, "1.1.0");
	sign_manifest(&signer, &m, &sm);
	patch = make_patch(&v1, &v2, TFP_DELTA_MODE_FULL, &plen);   /* several chunks */
	offer_cmd(&u, 60, &sm, TFP_FETCH_PACKED, patch, plen, NULL);
	peer_serve(&rig, patch, plen);
	rig.peer.delay_ms = 50;      /* one chunk per 50 ms of the simulated clock */
	rig_command(&rig, &u);
	assert_int_equal(tfa_ota_poll(&rig.ota), 0);
	assert_int_equal(tfa_ota_poll(&rig.ota), 0);
	assert_true(tfa_ota_busy(&rig.ota));
	config_cmd(&c, 61);
	c.u.config.present = TFP_CFG_TELEMETRY_SAMPLES;
	c.u.config.telemetry_samples = 7;
	rig_command(&rig, &c);
	assert_int_equal(rig_run(&rig, 61, 10, 10), 0);
	assert_int_equal(peer_result(&rig, 61)->reason, TFP_REASON_CONFIG_APPLIED);
	assert_true(tfa_ota_busy(&rig.ota));
	assert_int_equal(rig_run(&rig, 60, 10, 10000), 0);
	assert_int_equal(peer_result(&rig, 60)->reason, TFP_REASON_CONFIRMED);
	assert_runs_confirmed(&rig, NULL);
	assert_int_equal(tfa_ota_settings(&rig.ota)->telemetry_samples, 7);
	free(patch);
	rig_close(&rig);
}

/* Power lost at every flash operation of the config's metadata write. */
static void
test_power_cut_atomic(void **state)
{
	struct tfp_command c;
	unsigned cuts = 0, old = 0, applied = 0;
	(void)state;

	for (unsigned i = 1; i < 32; i++) {
		struct tfa_settings before, after;
		uint64_t ops0;
		int rc, recorded;

		provision(&rig);
		before = *tfa_ota_settings(&rig.ota);
		ops0 = rig.px.ops;
		rig.px.cut_at = ops0 + i;
		config_cmd(&c, 70);
		c.u.config.present = TFP_CFG_PH_LAMBDA | TFP_CFG_TELEMETRY_PERIOD;
		c.u.config.ph_lambda = 12.0f;
		c.u.config.telemetry_period_s = 9;
		rig_command(&rig, &c);
		rc = tfa_ota_poll(&rig.ota);
		if (!rig.px.dead) {
			/* Past the last operation: the config went through without a cut. */
			assert_int_equal(rc, 0);
			assert_int_equal(peer_result(&rig, 70)->reason, TFP_REASON_CONFIG_APPLIED);
			rig_close(&rig);
			break;
		}
		cuts++;
		assert_int_equal(rc, TFA_ERR_FLASH);
		tfa_posix_power_on(&rig.px);
		assert_int_equal(rig_boot(&rig), 0);
		assert_runs_confirmed(&rig, NULL);
		after = *tfa_ota_settings(&rig.ota);
		recorded = after.ph_lambda == 12.0f;
		if (!recorded)
			assert_memory_equal(&after, &before, sizeof(after));
		else
			assert_int_equal(after.telemetry_period_s, 9);
		rig.peer.n_reports = 0;
		rig_command(&rig, &c);
		assert_int_equal(rig_run(&rig, 70, 10, 10), 0);
		/* The command id is remembered exactly when the settings changed. */
		assert_int_equal(peer_result(&rig, 70)->reason == TFP_REASON_DUPLICATE, recorded);
		if (recorded) {
			applied++;   /* the new copy was complete: settings and record together */
		} else {
			old++;       /* the old copy won: nothing was recorded, applied now */
			assert_int_equal(peer_result(&rig, 70)->reason, TFP_REASON_CONFIG_APPLIED);
		}
		assert_true(tfa_ota_settings(&rig.ota)->ph_lambda == 12.0f);
		assert_int_equal(tfa_ota_settings(&rig.ota)->telemetry_period_s, 9);
		assert_int_equal(rig.px.violations, 0);
		rig_close(&rig);
	}
	printf("# config power cuts: %u cut points, %u came back on the old settings, %u on the "
	       "new ones; 0 mixed\n", cuts, old, applied);
	assert_true(cuts >= 2);
	assert_true(old >= 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_applied_and_kept),
		cmocka_unit_test(test_out_of_range_refused),
		cmocka_unit_test(test_malformed_refused),
		cmocka_unit_test(test_config_during_update),
		cmocka_unit_test(test_power_cut_atomic),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
