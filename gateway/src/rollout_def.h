/*
 * rollout_def: a rollout definition (schemas/operator/rollout-definition.schema.json),
 * checked and with every default filled in.
 *
 * The gateway checks requests in C rather than with a JSON Schema library; this module
 * gives the same verdicts as the schema (the tests feed it every example of
 * schemas/examples/operator, valid and invalid) and adds the checks a schema cannot make
 * (stages strictly increase). A refusal names the offending member as a JSON Pointer and
 * the schema keyword that failed, as the contract's `invalid_request` details require.
 *
 * Loop thread only (no state). Errors: -EINVAL with *e filled, -ENOMEM.
 */
#ifndef GW_ROLLOUT_DEF_H
#define GW_ROLLOUT_DEF_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "api.h"
#include "tinyfleet/protocol/common.h"

#define GW_ROLLOUT_ID_MAX 32
#define GW_ROLLOUT_STAGES_MAX 30
#define GW_ROLLOUT_WAVES_MAX (GW_ROLLOUT_STAGES_MAX + 1)

enum gw_gate_action { GW_GATE_PAUSE, GW_GATE_ROLLBACK_WAVE, GW_GATE_ROLLBACK_ALL };
enum gw_transfer_pref { GW_XFER_AUTO, GW_XFER_FULL, GW_XFER_DELTA };

struct gw_quality_limits {
	uint32_t min_samples;
	uint32_t baseline_samples;
	bool drift_alarm;
	bool control_group;
	double max_loss_increase;      /* < 0: not checked */
	double max_accuracy_drop;      /* < 0: not checked */
	double max_confidence_drop;    /* < 0: not checked */
	double max_failing_share;      /* percent */
};

struct gw_rollout_def {
	char id[GW_ROLLOUT_ID_MAX + 1];      /* "" when the operator gave none */
	char model[TFP_MODEL_NAME_MAX + 1];
	char version[TFP_VERSION_MAX + 1];
	uint32_t canary_count;               /* 0: canary_share applies */
	double canary_share;
	double stages[GW_ROLLOUT_STAGES_MAX];
	unsigned nstages;
	enum gw_transfer_pref transfer;
	uint32_t max_in_flight;
	double success_threshold;            /* percent */
	uint32_t settle_s;
	uint32_t wave_timeout_s;
	uint32_t retry_max;
	uint32_t retry_backoff_s;
	double max_failure_rate;             /* percent */
	uint32_t max_reverts;
	struct gw_quality_limits q;
	enum gw_gate_action on_fail;
	json_t *json;                        /* the definition with defaults filled (owned) */
};

/* Checks body (borrowed) and fills *d, which owns a new JSON copy with every default in
 * place; free it with gw_rollout_def_free. 0, or -EINVAL with *e filled (invalid_request,
 * details path + keyword), or -ENOMEM. */
int gw_rollout_def_parse(json_t *body, struct gw_rollout_def *d, struct gw_api_error *e);
void gw_rollout_def_free(struct gw_rollout_def *d);

const char *gw_gate_action_name(enum gw_gate_action a);

/* The small request checkers shared by the rollout operations: each checks one member of
 * an object against a schema rule and refuses with the schema's keyword. 0 or -EINVAL. */
int gw_rdef_members(json_t *o, const char *path, const char *const *allowed,
                    struct gw_api_error *e);
int gw_rdef_required(json_t *o, const char *path, const char *name, struct gw_api_error *e);
int gw_rdef_name(json_t *v, const char *path, size_t maxlen, struct gw_api_error *e);
int gw_rdef_int(json_t *v, const char *path, json_int_t min, json_int_t max,
                struct gw_api_error *e);
int gw_rdef_enum(json_t *v, const char *path, const char *const *values, int *index,
                 struct gw_api_error *e);
int gw_rdef_string(json_t *v, const char *path, size_t maxlen, struct gw_api_error *e);
int gw_rdef_bool(json_t *v, const char *path, struct gw_api_error *e);

#endif
