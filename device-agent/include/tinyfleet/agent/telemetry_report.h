/*
 * telemetry_report: turns what the agent measured (drift bundle report, TinyOL learner)
 * into the protocol's SenML-CBOR telemetry pack, within a byte budget.
 *
 * MCU code: no malloc, no OS. The caller owns every buffer, including the 504-byte
 * struct tfp_telemetry the pack is assembled in (kept off the stack on purpose). When the
 * budget is short the protocol encoder drops per-feature shifts first (smallest first),
 * then optional records, and says so in the pack (protocol telemetry.h).
 */
#ifndef TINYFLEET_AGENT_TELEMETRY_REPORT_H
#define TINYFLEET_AGENT_TELEMETRY_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "tinyfleet/agent/drift.h"
#include "tinyfleet/agent/tinyol.h"
#include "tinyfleet/protocol/telemetry.h"

struct tfa_telemetry_source {
	const char *device_id;                 /* the certificate CN */
	const char *model;                     /* running model name and version */
	const char *version;
	double time;                           /* device clock, seconds */
	const struct tfa_drift *drift;         /* for per-feature shift and PSI; may be NULL */
	const struct tfa_drift_report *report; /* from tfa_drift_report(); required */
	const struct tfa_tinyol *tinyol;       /* learning rate and steps; may be NULL */
};

/*
 * Fills *scratch from src and encodes it into buf[0..budget). Returns 0 with info->len the
 * pack's size; TFP_ERR_ARG for a missing or too long identifier; TFP_ERR_BUFFER when not
 * even the required records fit (info says what would have been needed).
 */
int tfa_telemetry_build(const struct tfa_telemetry_source *src, struct tfp_telemetry *scratch,
                        uint8_t *buf, size_t budget, struct tfp_telem_enc_info *info);

#endif
