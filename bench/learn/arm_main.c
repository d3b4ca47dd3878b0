/*
 * Cortex-M4 link target for the footprint script: a bare-metal program that uses the
 * whole agent core (container reader, inference, TinyOL learn + save, every drift
 * detector), so that --gc-sections keeps exactly what a device needs. The model image is
 * a placeholder array in flash (its size is reported apart); agent state is static, so
 * bss shows its RAM. Never run: it exists to be measured by arm-none-eabi-size.
 */
#include <stdint.h>

#include "tinyfleet/agent/drift.h"
#include "tinyfleet/agent/infer.h"
#include "tinyfleet/agent/tinyol.h"

#ifndef MODEL_BYTES
#define MODEL_BYTES 16
#endif

const uint8_t model_image[MODEL_BYTES] __attribute__((aligned(4))) = {'T', 'F', 'M', 'C'};
static struct tfa_model model;
static struct tfa_tinyol agent;
static struct tfa_drift drift;
static uint32_t arena[(ARENA_BYTES + 3) / 4];
static uint8_t blob[64 + 4 * (TFA_HEAD_IN_MAX * TFA_HEAD_OUT_MAX + TFA_HEAD_OUT_MAX +
                              2 * TFA_FEATURES_MAX)];
volatile float sensor[64];
volatile int sink;

int main(void);

int
main(void)
{
	float x[64];
	const float *p;
	size_t w;

	if (tfa_model_open(&model, model_image, sizeof(model_image)) != 0 ||
	    tfa_tinyol_init(&agent, &model, 0) != 0 || tfa_drift_init(&drift, 0, 0) != 0 ||
	    tfa_selftest(&model, (uint8_t *)arena, sizeof(arena), 0) != 0)
		return 1;
	for (;;) {
		for (int i = 0; i < 64; i++)
			x[i] = sensor[i];
		if (tfa_tinyol_predict(&agent, x, (uint8_t *)arena, sizeof(arena), &p) != 0)
			break;
		sink = tfa_drift_on_prediction(&drift, x, p, agent.n_out);
		if (tfa_tinyol_learn_class(&agent, (unsigned)sensor[0]) == 0)
			sink = tfa_drift_on_label(&drift, agent.last_loss, 1);
		if (sensor[1] > 0.0f && tfa_tinyol_save(&agent, blob, sizeof(blob), &w) == 0)
			sink = tfa_tinyol_restore(&agent, blob, w);
	}
	return 0;
}
