/*
 * Fuzz target for the telemetry decoder (SenML-CBOR) and, through it, the encoder.
 *
 * Any input: decode must return without a sanitizer report. An input that decodes is
 * re-encoded in full (which must succeed: a decoded snapshot is always encodable), decoded
 * again and re-encoded again to the same bytes; then it is encoded under a budget taken
 * from the input, and the bytes past the budget must stay untouched.
 *
 * Seeds: tests/fuzz/corpus/telemetry/, written by `telemetry_tool corpus DIR`
 * (tests/interop/telemetry_tool.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tinyfleet/protocol/telemetry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PACK_MAX 4096
#define CANARY 16

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t a[PACK_MAX], b[PACK_MAX], c[PACK_MAX + CANARY];
	struct tfp_telemetry t, t2;
	struct tfp_telem_enc_info ia, ib, ic;
	size_t budget;

	if (tfp_telemetry_decode(data, size, &t) != 0)
		return 0;
	if (tfp_telemetry_encode(&t, a, sizeof(a), &ia) != 0)
		abort();
	if (tfp_telemetry_decode(a, ia.len, &t2) != 0 || t2.dropped != 0)
		abort();
	if (tfp_telemetry_encode(&t2, b, sizeof(b), &ib) != 0 || ib.len != ia.len ||
	    memcmp(a, b, ia.len) != 0)
		abort();

	budget = size > 0 ? (size_t)data[size - 1] * 4 % (ia.len + 1) : 0;
	memset(c, 0xA5, sizeof(c));
	if (tfp_telemetry_encode(&t, c, budget, &ic) == 0) {
		if (ic.len > budget || tfp_telemetry_decode(c, ic.len, &t2) != 0 ||
		    t2.dropped != ic.dropped)
			abort();
	}
	for (size_t i = budget; i < budget + CANARY; i++)
		if (c[i] != 0xA5)
			abort();
	return 0;
}
