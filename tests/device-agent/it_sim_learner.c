/*
 * The simulator's learner (device-agent/sim/device.h) runs the agent's drift detectors:
 * on a stream the model gets right no alarm is raised; once the labels rotate (concept
 * drift) the error-stream detectors raise an alarm, and the telemetry record that carries
 * it (its "why" bits) is published at once, not at the next `every` boundary; a config
 * command from the gateway changes the detectors' thresholds (tfa_settings_drift).
 * A real simulated device (flash in memory, OTA core) without a broker: the test takes
 * the device's outgoing telemetry from its port's send hook.
 */
#include "ota_test_util.h"

#include "device.h"
#include "tinyfleet/protocol/msg_command.h"
#include "tinyfleet/protocol/telemetry.h"

#define EVERY 50u

static struct {
	unsigned records, alarm_records, off_cadence;
	uint32_t why;
	uint32_t last_samples;
} T;

static int
capture(void *user, enum tfa_chan ch, const uint8_t *buf, size_t len)
{
	static struct tfp_telemetry t;

	(void)user;
	if (ch != TFA_CHAN_TELEMETRY)
		return 0;      /* the OTA core's reports: nobody listens */
	assert_int_equal(tfp_telemetry_decode(buf, len, &t), 0);
	assert_string_equal(t.device_id, "dev-learn");
	T.records++;
	T.why |= t.why;
	T.last_samples = t.samples;
	if (t.why != 0) {
		T.alarm_records++;
		T.off_cadence += t.samples % EVERY != 0;
	}
	return 0;
}

static struct sim_device dev;
static struct sim_learner learner;
static struct model_img img;
static uint8_t arena[SIM_ARENA] __attribute__((aligned(16)));

static void
start(void)
{
	struct sim_device_opts o;

	make_model(&img, 0, 0);
	memset(&o, 0, sizeof(o));
	o.device_id = "dev-learn";
	o.device_class = "sim-m4";
	o.site = "site1";
	o.host = "127.0.0.1";
	o.port = 1;              /* never dialled: the test drives no link */
	o.factory_model = img.img;
	o.factory_len = (uint32_t)img.len;
	o.arena = arena;
	assert_int_equal(sim_device_start(&dev, &o), 0);
	dev.px.send = capture;
	memset(&learner, 0, sizeof(learner));
	learner.every = EVERY;
	memset(&T, 0, sizeof(T));
}

/* n samples; the label is the model's own answer on clean data, the next class when
 * drifted. */
static void
feed(unsigned n, int drifted, uint32_t *seed, uint64_t *t)
{
	static uint8_t a2[4096] __attribute__((aligned(16)));
	struct tfa_model m;
	float x[16];

	assert_int_equal(tfa_model_open(&m, img.img, img.len), 0);
	for (unsigned k = 0; k < n; k++) {
		const float *y;
		size_t ny;
		unsigned best = 0;
		for (unsigned i = 0; i < 16; i++)
			x[i] = (float)((int)(lcg(seed) % 200) - 100) / 50.0f;
		assert_int_equal(tfa_infer(&m, x, a2, sizeof(a2), &y, &ny), 0);
		for (unsigned c = 1; c < 4; c++)
			best = y[c] > y[best] ? c : best;
		assert_int_equal(sim_learner_step(&learner, &dev, x,
		                                  (int)((best + (drifted ? 1u : 0u)) % 4u), *t), 0);
		*t += 50;
	}
}

static void
test_alarm_on_drift_sent_at_once(void **state)
{
	uint32_t seed = 7;
	uint64_t t = 1000;
	unsigned before;

	(void)state;
	start();
	feed(1000, 0, &seed, &t);
	/* Clean data: no increase of the error (Page-Hinkley, HDDM_A). ADWIN reports changes
	 * both ways and may see TinyOL's own adaptation; each alarm is one extra record. */
	assert_int_equal(T.why & (TFP_TELEM_WHY_PH | TFP_TELEM_WHY_HDDM), 0);
	assert_int_equal(T.records, 1000 / EVERY + T.off_cadence);
	before = T.off_cadence;
	T.why = 0;
	feed(300, 1, &seed, &t);
	/* Concept drift: the error-rate detectors see it, and the record goes out at once. */
	assert_true((T.why & (TFP_TELEM_WHY_PH | TFP_TELEM_WHY_HDDM)) != 0);
	assert_true(T.off_cadence > before);
	assert_int_equal(learner.alarm_reports, T.alarm_records);
	sim_device_stop(&dev);
}

static void
test_config_sets_thresholds(void **state)
{
	struct tfp_command c;
	uint8_t buf[512];
	size_t len;
	uint32_t seed = 9;
	uint64_t t = 1000;

	(void)state;
	start();
	feed(10, 0, &seed, &t);
	assert_true(learner.drift.ph.cfg.lambda == 50.0f);       /* the published default */
	memset(&c, 0, sizeof(c));
	c.type = TFP_MSG_CONFIG;
	c.command_id = 77;
	c.u.config.present = TFP_CFG_PH_LAMBDA | TFP_CFG_ADWIN_DELTA;
	c.u.config.ph_lambda = 12.5f;
	c.u.config.adwin_delta = 0.05f;
	assert_int_equal(tfp_command_encode(&c, buf, sizeof(buf), &len), 0);
	(void)tfa_ota_handle(&dev.ota, TFA_CHAN_CMD, buf, len);
	assert_int_equal(dev.ota.stats.configs, 1);
	feed(1, 0, &seed, &t);
	assert_true(learner.drift.ph.cfg.lambda == 12.5f);
	assert_true(learner.drift.adwin.cfg.delta == 0.05f);
	sim_device_stop(&dev);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alarm_on_drift_sent_at_once),
		cmocka_unit_test(test_config_sets_thresholds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
