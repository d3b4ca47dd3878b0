/*
 * Firmware image: the whole agent as a device links it, for the flash budget
 * (firmware/budgets.txt agent_flash_max) — the agent core (container, inference, TinyOL
 * learn/save/restore, every drift detector), the device-plane messages it decodes and
 * encodes (command, chunk request/response, report, state, SenML telemetry), manifest
 * verify (COSE_Sign1 ES256 over mbedTLS) and the streaming delta applier, and, when the
 * OTA state machine is in the tree (TF_FW_HAVE_OTA), the update goes through it on the
 * board flash instead of the bare applier. It runs one pass of each and exits 0 when all
 * succeed; model images are the separate flash slots they would live in on a device.
 */
#include <string.h>

#include <mbedtls/memory_buffer_alloc.h>
#include <mbedtls/sha256.h>

#include "fw_assets.h"
#include "fw_core.h"
#include "fw_out.h"
#include "fw_target.h"
#include "tinyfleet/agent/drift.h"
#include "tinyfleet/agent/infer.h"
#include "tinyfleet/agent/tinyol.h"
#include "tinyfleet/protocol/msg_chunk.h"
#include "tinyfleet/protocol/msg_command.h"
#include "tinyfleet/protocol/msg_report.h"
#include "tinyfleet/protocol/msg_state.h"
#include "tinyfleet/protocol/telemetry.h"
#ifdef TF_FW_HAVE_OTA
#include "fw_gw.h"
#endif

int main(void);

/* The agent state of the 64-feature, 10-class profile (the RAM budget). */
static struct tfa_model model;
static struct tfa_tinyol agent;
static struct tfa_drift drift;
static uint32_t arena[1024 / 4];
/* Transient state of an update and of messages. */
static union {
#ifndef TF_FW_HAVE_OTA
	struct tfp_command cmd;            /* the OTA state machine decodes its own */
	struct tfp_chunk_response chunk;
#endif
	struct tfp_report report;
	struct tfp_state state;
	struct tfp_telemetry telem;
	struct tfp_manifest man;
} msg;
static uint8_t wire[1024];
static uint8_t blob[2048];
#ifdef TF_FW_HAVE_OTA
static struct tfa_ota ota;
static struct tfa_port port;
static struct tfa_ota_config ota_cfg;
#endif

int
main(void)
{
	struct tfp_cose_key key;
#ifdef TF_FW_HAVE_OTA
	struct tfp_command offer;
	struct tfp_report res;
#else
	struct tfp_chunk_request req;
#endif
	struct tfp_telem_enc_info info;
	float x[64];
	const float *p;
	size_t n = 0;
	int rc = 0;

	rc |= tfa_model_open(&model, fw_model_a, fw_model_a_len);
	rc |= tfa_tinyol_init(&agent, &model, NULL);
	rc |= tfa_drift_init(&drift, NULL, NULL);
	rc |= tfa_selftest(&model, (uint8_t *)arena, sizeof(arena), NULL);
	for (unsigned t = 0; t < 4 && rc == 0; t++) {
		for (unsigned i = 0; i < 64; i++)
			x[i] = (float)fw_stream[t * FW_STREAM_REC + i];
		rc |= tfa_tinyol_predict(&agent, x, (uint8_t *)arena, sizeof(arena), &p);
		(void)tfa_drift_on_prediction(&drift, x, p, agent.n_out);
		rc |= tfa_tinyol_learn_class(&agent, fw_stream[t * FW_STREAM_REC + 64]);
		(void)tfa_drift_on_label(&drift, agent.last_loss, 1);
	}
	rc |= tfa_tinyol_save(&agent, blob, sizeof(blob), &n);
	rc |= tfa_tinyol_restore(&agent, blob, n);
	fw_check(rc == 0, "agent-learning");

	/* Messages: what a device encodes (state, chunk requests, reports, telemetry) and
	 * decodes (commands, chunk responses); decode errors are expected on this junk. */
	memset(&msg, 0, sizeof(msg));
#ifndef TF_FW_HAVE_OTA
	(void)tfp_command_decode(fw_patch_ab, 64, &msg.cmd);
	(void)tfp_chunk_response_decode(fw_patch_ab, 64, &msg.chunk);
	memset(&req, 0, sizeof(req));
	(void)tfp_chunk_request_encode(&req, wire, sizeof(wire), &n);
	memset(&msg, 0, sizeof(msg));
#endif
	(void)tfp_report_encode(&msg.report, wire, sizeof(wire), &n);
	memset(&msg, 0, sizeof(msg));
	(void)tfp_state_encode(&msg.state, wire, sizeof(wire), &n);
	tfp_telemetry_init(&msg.telem);
	(void)tfp_telemetry_encode(&msg.telem, wire, sizeof(wire), &info);

	/* An update: verify B's manifest, rebuild B from A and the patch, check its digest. */
	mbedtls_memory_buffer_alloc_init(fw_mbedtls_heap, sizeof(fw_mbedtls_heap));
	rc = fw_load_key(&key);
#ifdef TF_FW_HAVE_OTA
	if (rc == 0)
		rc = fw_gw_boot(&ota, &port, &ota_cfg, &key, (uint8_t *)arena, sizeof(arena));
	fw_gw_offer_b(&offer, 1);
	fw_check(rc == 0 && fw_gw_run(&ota, &offer, &res) == 0 && res.outcome == TFP_OUTCOME_OK &&
	                 ota.meta.active == 1,
	         "agent-ota-update");
	mbedtls_memory_buffer_alloc_free();
#else
	if (rc == 0)
		rc = tfp_manifest_verify(fw_manifest_b, fw_manifest_b_len, &key, 1, 0, &msg.man);
	mbedtls_memory_buffer_alloc_free();
	fw_check(rc == 0, "agent-verify");
	rc = fw_apply_patch(fw_patch_ab, fw_patch_ab_len, 256, &n);
	if (rc == 0)
		rc = mbedtls_sha256_ret(fw_slot, n, wire, 0);
	fw_check(rc == 0 && memcmp(wire, msg.man.digest, 32) == 0, "agent-update");
#endif
	return fw_failures == 0 ? 0 : 1;
}
