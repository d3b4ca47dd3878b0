/*
 * Runtime settings a gateway may change with a config command (TFP_MSG_CONFIG,
 * tinyfleet/protocol/msg_command.h): telemetry cadence, drift detector thresholds and the
 * expected label rate.
 *
 * The OTA core keeps them in its slot metadata (struct tfa_ota_meta), so a config applied
 * once survives a power loss, and the command id is recorded in the same metadata write:
 * the change and its idempotency record are atomic. The application reads them with
 * tfa_ota_settings() at boot and is told of every change through tfa_ota_config.on_settings;
 * tfa_settings_drift() turns them into a drift bundle config (tinyfleet/agent/drift.h).
 *
 * A config is all or nothing: every value it carries is checked first (tfa_settings_check)
 * and one value the device cannot use refuses the whole command with
 * TFP_REASON_CONFIG_REFUSED; nothing changes then. The decoder already enforces the wire
 * ranges; the device additionally refuses what its detectors cannot run with:
 *   ph lambda     > 0          (a zero threshold alarms on every sample)
 *   adwin delta   in (0, 1)    (ln(1/delta) must be finite and positive)
 *   psi alarm     > 0          (the PSI warning level follows it down when it is lower)
 *   shift alarm   > 0
 * and everything the decoder checks (non-finite floats, period 1..86400, samples >= 1),
 * because a settings struct may also come from elsewhere than the decoder.
 *
 * Memory: 40 bytes, caller-owned; no allocation, no OS. C99.
 */
#ifndef TINYFLEET_AGENT_SETTINGS_H
#define TINYFLEET_AGENT_SETTINGS_H

#include <stdint.h>

#include "tinyfleet/agent/drift.h"
#include "tinyfleet/protocol/msg_command.h"
#include "tinyfleet/protocol/msg_report.h"

#ifdef __cplusplus
extern "C" {
#endif

struct tfa_settings {
	uint32_t present;              /* TFP_CFG_* bits ever set by a config command */
	uint32_t telemetry_period_s;   /* 0: the application's own default */
	uint32_t telemetry_samples;    /* 0: the application's own default */
	float ph_delta;
	float ph_lambda;
	float adwin_delta;
	float psi_alarm;
	float shift_alarm;
	float label_rate;
	uint32_t reserved;
};

/* Defaults: the detectors' published defaults (drift.h), no telemetry preference,
 * label rate 0 (unknown), present = 0. */
void tfa_settings_default(struct tfa_settings *s);

/* TFP_REASON_OK when every value c carries is acceptable (see above), else
 * TFP_REASON_CONFIG_REFUSED; *bad (may be NULL) gets the TFP_CFG_* bit of the first value
 * refused. c == NULL is refused with *bad = 0. */
enum tfp_reason tfa_settings_check(const struct tfp_config *c, uint32_t *bad);

/* Copies the values c carries into s (absent ones keep theirs) and marks them present.
 * Call after tfa_settings_check accepted c. */
void tfa_settings_merge(struct tfa_settings *s, const struct tfp_config *c);

/* A drift bundle config (tfa_drift_init) with the detector thresholds of s over the
 * defaults. */
void tfa_settings_drift(const struct tfa_settings *s, struct tfa_drift_config *cfg);

#ifdef __cplusplus
}
#endif

#endif
