/*
 * Fuzz target for the model container parser: any byte string either opens or is refused
 * with a container error; when it opens, every accessor the runtime uses stays inside the
 * image (ASan checks the reads) and the declared arena covers the computed need.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tinyfleet/protocol/container.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tfp_container c;
	struct tfp_tensor t;
	struct tfp_layer l;
	unsigned pos = 0;
	volatile float sink = 0.0f;
	int rc;

	rc = tfp_container_open(&c, data, size);
	if (rc != 0) {
		if (rc > 0 || (rc > TFP_ERR_CONTAINER && rc != TFP_ERR_ARG) ||
		    rc < TFP_ERR_CONTAINER_ARENA)
			abort();   /* only container codes may come back */
		return 0;
	}
	if (tfp_container_arena_need(&c) > c.info.arena_bytes)
		abort();
	while ((rc = tfp_container_next_tensor(&c, &pos, &t)) == 0) {
		if (t.data < data || t.data + t.length > data + size)
			abort();
		for (uint32_t i = 0; i < t.count; i++) {
			if (t.dtype == TFP_DTYPE_FLOAT32)
				sink += tfp_tensor_f32(&t, i);
			else if (t.dtype == TFP_DTYPE_INT32)
				sink += (float)tfp_tensor_i32(&t, i);
			else
				sink += (float)(int8_t)t.data[i];
		}
		for (uint32_t ch = 0; ch < t.qcount; ch++)
			sink += tfp_tensor_scale(&t, ch) + (float)tfp_tensor_zero(&t, ch);
	}
	if (rc != 1)
		abort();
	for (unsigned i = 0; i < c.info.layer_count; i++)
		if (tfp_container_layer(&c, i, &l) != 0)
			abort();
	(void)sink;
	return 0;
}
