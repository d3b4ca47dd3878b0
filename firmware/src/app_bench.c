/*
 * Firmware image: deterministic cost figures on the target (run under
 * `qemu-system-arm -icount shift=0`, where one instruction is one nanosecond of virtual
 * time and SysTick counts the 25 MHz processor clock, so one tick = 40 instructions).
 * Prints "bench NAME=VALUE" lines that firmware/size_report.py collects:
 *   instructions per inference, per SGD step, per drift update, per KB of delta, per
 *   manifest verify; peak stack of each by stack painting (net of the caller's depth,
 *   so the figure is what the call itself needs, incl. the 64-byte paint margin); the smallest mbedTLS arena a
 *   verify succeeds with; static RAM of the agent state and of the delta applier.
 * Exits 0 when every measured operation succeeded (and the calibration holds).
 */
#include <string.h>

#include <mbedtls/memory_buffer_alloc.h>

#include "board.h"
#include "fw_assets.h"
#include "fw_core.h"
#include "fw_out.h"
#include "fw_target.h"
#include "tinyfleet/agent/drift.h"
#include "tinyfleet/agent/infer.h"
#include "tinyfleet/agent/tinyol.h"
#include "tinyfleet/delta/apply.h"

int main(void);

#define SAMPLES 200u
#define CAL_LOOPS 1000000u

static uint32_t arena[1024 / 4];
static struct tfa_model model;
static struct tfa_tinyol agent;
static struct tfa_drift drift;
static uint64_t insns_per_tick_x1000;   /* calibrated */

static void
out(const char *name, uint64_t v)
{
	fw_str("bench ");
	fw_str(name);
	fw_str("=");
	fw_u64(v);
	fw_str("\n");
}

static uint64_t
insns(uint64_t ticks)
{
	return (ticks * insns_per_tick_x1000 + 500) / 1000;
}

/* A loop of exactly 2 instructions per iteration (subs + bne). */
static __attribute__((noinline)) void
spin(uint32_t n)
{
	__asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
}

static int
calibrate(void)
{
	uint64_t t0 = tfa_board_ticks(), t1;

	spin(CAL_LOOPS);
	t1 = tfa_board_ticks();
	/* Ticks over 2,000,000 instructions (+ a handful of call overhead). */
	insns_per_tick_x1000 = (2ull * CAL_LOOPS * 1000 + (t1 - t0) / 2) / (t1 - t0);
	out("cal_ticks_per_2M_insns", t1 - t0);
	out("cal_insns_per_tick_x1000", insns_per_tick_x1000);
	return fw_check(insns_per_tick_x1000 >= 39000 && insns_per_tick_x1000 <= 41000,
	                "calibration (40 instructions per SysTick tick under -icount shift=0)");
}

static void
stream_x(uint32_t t, float *x)
{
	const uint8_t *rec = fw_stream + (size_t)(t % (fw_stream_len / FW_STREAM_REC)) * FW_STREAM_REC;

	for (unsigned i = 0; i < 64; i++)
		x[i] = (float)rec[i];
}

static unsigned
stream_y(uint32_t t)
{
	return fw_stream[(size_t)(t % (fw_stream_len / FW_STREAM_REC)) * FW_STREAM_REC + 64];
}

static void
bench_learning(void)
{
	float x[64];
	const float *py = NULL;
	uint64_t t_pred = 0, t_learn = 0, t_drift = 0, t_infer = 0, t0;
	size_t s_pred, s_learn, s_drift, depth;
	size_t out_n;
	int rc = 0;

	if (tfa_model_open(&model, fw_model_a, fw_model_a_len) != 0 ||
	    tfa_tinyol_init(&agent, &model, NULL) != 0 || tfa_drift_init(&drift, NULL, NULL) != 0) {
		fw_check(0, "bench-learning-init");
		return;
	}
	/* Peaks are reported net of this function's own depth (what the call needs). */
	depth = tfa_board_stack_depth();
	tfa_board_stack_paint();
	for (uint32_t t = 0; t < SAMPLES && rc == 0; t++) {
		stream_x(t, x);
		t0 = tfa_board_ticks();
		rc |= tfa_tinyol_predict(&agent, x, (uint8_t *)arena, sizeof(arena), &py);
		t_pred += tfa_board_ticks() - t0;
	}
	s_pred = tfa_board_stack_peak() - depth;
	tfa_board_stack_paint();
	for (uint32_t t = 0; t < SAMPLES && rc == 0; t++) {
		stream_x(t, x);
		rc |= tfa_tinyol_predict(&agent, x, (uint8_t *)arena, sizeof(arena), &py);
		t0 = tfa_board_ticks();
		rc |= tfa_tinyol_learn_class(&agent, stream_y(t));
		t_learn += tfa_board_ticks() - t0;
	}
	s_learn = tfa_board_stack_peak() - depth;
	tfa_board_stack_paint();
	for (uint32_t t = 0; t < SAMPLES && rc == 0; t++) {
		stream_x(t, x);
		rc |= tfa_tinyol_predict(&agent, x, (uint8_t *)arena, sizeof(arena), &py);
		t0 = tfa_board_ticks();
		(void)tfa_drift_on_prediction(&drift, x, py, agent.n_out);
		(void)tfa_drift_on_label(&drift, 0.5f, (t & 3) != 0);
		t_drift += tfa_board_ticks() - t0;
	}
	s_drift = tfa_board_stack_peak() - depth;
	for (uint32_t t = 0; t < SAMPLES && rc == 0; t++) {
		stream_x(t, x);
		t0 = tfa_board_ticks();
		rc |= tfa_infer(&model, x, (uint8_t *)arena, sizeof(arena), &py, &out_n);
		t_infer += tfa_board_ticks() - t0;
	}
	if (!fw_check(rc == 0, "bench-learning-ran"))
		return;
	out("insns_per_inference_tinyol_predict", insns(t_pred) / SAMPLES);
	out("insns_per_inference_frozen_model", insns(t_infer) / SAMPLES);
	out("insns_per_sgd_step", insns(t_learn) / SAMPLES);
	out("insns_per_drift_update", insns(t_drift) / SAMPLES);
	out("stack_peak_predict", s_pred);
	out("stack_peak_predict_learn", s_learn);
	out("stack_peak_drift", s_drift);
}

static void
bench_update(void)
{
	static struct tfp_manifest man;
	struct tfp_cose_key key;
	uint64_t t0, t_verify, t_apply;
	size_t s_verify, s_apply, len = 0, depth = tfa_board_stack_depth();
	uint32_t heap_min = 0;
	int ok;

	if (!fw_check(fw_load_key(&key) == 0, "bench-key"))
		return;
	mbedtls_memory_buffer_alloc_init(fw_mbedtls_heap, sizeof(fw_mbedtls_heap));
	tfa_board_stack_paint();
	t0 = tfa_board_ticks();
	ok = tfp_manifest_verify(fw_manifest_b, fw_manifest_b_len, &key, 1, 0, &man) == 0;
	t_verify = tfa_board_ticks() - t0;
	s_verify = tfa_board_stack_peak() - depth;
	mbedtls_memory_buffer_alloc_free();
	if (!fw_check(ok, "bench-verify"))
		return;
	/* Smallest arena (in 128-byte steps) with which a verify still succeeds. */
	for (uint32_t h = 512; h <= sizeof(fw_mbedtls_heap) && heap_min == 0; h += 128) {
		mbedtls_memory_buffer_alloc_init(fw_mbedtls_heap, h);
		if (tfp_manifest_verify(fw_manifest_b, fw_manifest_b_len, &key, 1, 0, &man) == 0)
			heap_min = h;
		mbedtls_memory_buffer_alloc_free();
	}
	tfa_board_stack_paint();
	t0 = tfa_board_ticks();
	ok = fw_apply_patch(fw_patch_ab, fw_patch_ab_len, 256, &len) == 0 && len == fw_model_b_len;
	t_apply = tfa_board_ticks() - t0;
	s_apply = tfa_board_stack_peak() - depth;
	if (!fw_check(ok, "bench-delta"))
		return;
	out("insns_manifest_verify", insns(t_verify));
	out("stack_peak_manifest_verify", s_verify);
	out("mbedtls_heap_min_for_verify", heap_min);
	out("mbedtls_heap_configured", sizeof(fw_mbedtls_heap));
	out("delta_patch_bytes", fw_patch_ab_len);
	out("delta_new_bytes", len);
	out("insns_delta_apply_total", insns(t_apply));
	out("insns_per_kb_patch", insns(t_apply) * 1024 / fw_patch_ab_len);
	out("insns_per_kb_output", insns(t_apply) * 1024 / len);
	out("stack_peak_delta_apply", s_apply);
}

int
main(void)
{
	fw_str("fw-bench: instruction counts (-icount shift=0), stack peaks, static RAM\n");
	out("stack_reserved", tfa_board_stack_size());
	out("ram_struct_tfa_tinyol", sizeof(struct tfa_tinyol));
	out("ram_struct_tfa_drift", sizeof(struct tfa_drift));
	out("ram_struct_tfa_model", sizeof(struct tfa_model));
	out("ram_struct_tfp_delta_apply", sizeof(struct tfp_delta_apply));
	if (calibrate()) {
		bench_learning();
		out("ram_inference_arena", tfa_model_arena(&model));
		bench_update();
	}
	return fw_failures == 0 ? 0 : 1;
}
