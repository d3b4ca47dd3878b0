/* Runtime settings from config commands (contract: tinyfleet/agent/settings.h). */
#include "tinyfleet/agent/settings.h"

#include <string.h>

#include "drift_util.h"

_Static_assert(sizeof(struct tfa_settings) == 40, "struct tfa_settings is persisted: keep it 40 B");

void
tfa_settings_default(struct tfa_settings *s)
{
	struct tfa_drift_config d;

	tfa_drift_config_default(&d);
	memset(s, 0, sizeof(*s));
	s->ph_delta = d.ph.delta;
	s->ph_lambda = d.ph.lambda;
	s->adwin_delta = d.adwin.delta;
	s->psi_alarm = d.data.psi_alarm;
	s->shift_alarm = d.data.shift_alarm;
}

/* Inclusive range check that also refuses NaN and the infinities. */
static int
in(float x, float lo, float hi)
{
	return tfa__finite(x) && x >= lo && x <= hi;
}

/* Every rule of settings.h, in key order; returns the first bit that breaks one. */
static uint32_t
first_bad(const struct tfp_config *c)
{
	uint32_t p = c->present;

	if ((p & TFP_CFG_TELEMETRY_PERIOD) &&
	    (c->telemetry_period_s < 1 || c->telemetry_period_s > TFP_CFG_PERIOD_MAX))
		return TFP_CFG_TELEMETRY_PERIOD;
	if ((p & TFP_CFG_TELEMETRY_SAMPLES) && c->telemetry_samples < 1)
		return TFP_CFG_TELEMETRY_SAMPLES;
	if ((p & TFP_CFG_PH_DELTA) && !in(c->ph_delta, 0.0f, 1e6f))
		return TFP_CFG_PH_DELTA;
	if ((p & TFP_CFG_PH_LAMBDA) && !(in(c->ph_lambda, 0.0f, 1e9f) && c->ph_lambda > 0.0f))
		return TFP_CFG_PH_LAMBDA;
	if ((p & TFP_CFG_ADWIN_DELTA) && !(in(c->adwin_delta, 0.0f, 1.0f) &&
	                                   c->adwin_delta > 0.0f && c->adwin_delta < 1.0f))
		return TFP_CFG_ADWIN_DELTA;
	if ((p & TFP_CFG_PSI_ALARM) && !(in(c->psi_alarm, 0.0f, 1e3f) && c->psi_alarm > 0.0f))
		return TFP_CFG_PSI_ALARM;
	if ((p & TFP_CFG_SHIFT_ALARM) && !(in(c->shift_alarm, 0.0f, 1e3f) && c->shift_alarm > 0.0f))
		return TFP_CFG_SHIFT_ALARM;
	if ((p & TFP_CFG_LABEL_RATE) && !in(c->label_rate, 0.0f, 1.0f))
		return TFP_CFG_LABEL_RATE;
	if (p & ~TFP_CFG_ALL)
		return p & ~TFP_CFG_ALL;
	return 0;
}

enum tfp_reason
tfa_settings_check(const struct tfp_config *c, uint32_t *bad)
{
	uint32_t b = c != NULL ? first_bad(c) : 0;

	if (bad != NULL)
		*bad = b;
	return c != NULL && b == 0 ? TFP_REASON_OK : TFP_REASON_CONFIG_REFUSED;
}

void
tfa_settings_merge(struct tfa_settings *s, const struct tfp_config *c)
{
	uint32_t p = c->present;

	if (p & TFP_CFG_TELEMETRY_PERIOD)
		s->telemetry_period_s = c->telemetry_period_s;
	if (p & TFP_CFG_TELEMETRY_SAMPLES)
		s->telemetry_samples = c->telemetry_samples;
	if (p & TFP_CFG_PH_DELTA)
		s->ph_delta = c->ph_delta;
	if (p & TFP_CFG_PH_LAMBDA)
		s->ph_lambda = c->ph_lambda;
	if (p & TFP_CFG_ADWIN_DELTA)
		s->adwin_delta = c->adwin_delta;
	if (p & TFP_CFG_PSI_ALARM)
		s->psi_alarm = c->psi_alarm;
	if (p & TFP_CFG_SHIFT_ALARM)
		s->shift_alarm = c->shift_alarm;
	if (p & TFP_CFG_LABEL_RATE)
		s->label_rate = c->label_rate;
	s->present |= p & TFP_CFG_ALL;
}

void
tfa_settings_drift(const struct tfa_settings *s, struct tfa_drift_config *cfg)
{
	tfa_drift_config_default(cfg);
	cfg->ph.delta = s->ph_delta;
	cfg->ph.lambda = s->ph_lambda;
	cfg->adwin.delta = s->adwin_delta;
	cfg->data.psi_alarm = s->psi_alarm;
	if (cfg->data.psi_warn > s->psi_alarm)
		cfg->data.psi_warn = s->psi_alarm;   /* the warning may not sit above the alarm */
	cfg->data.shift_alarm = s->shift_alarm;
}
