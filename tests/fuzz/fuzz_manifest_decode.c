/*
 * Fuzz target: the strict manifest payload decoder. Whatever decodes must re-encode and
 * decode again to the same struct (the encoder and decoder agree on every accepted input).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tinyfleet/protocol/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tfp_manifest m, again;
	uint8_t buf[TFP_MANIFEST_PAYLOAD_MAX];
	size_t len;

	if (tfp_manifest_decode(data, size, &m) != 0)
		return 0;
	if (tfp_manifest_encode(&m, buf, sizeof(buf), &len) != 0)
		abort();
	if (tfp_manifest_decode(buf, len, &again) != 0 || memcmp(&m, &again, sizeof(m)) != 0)
		abort();
	/* Canonical input (keys ascending, shortest heads) re-encodes to itself. */
	if (len > size)
		abort();
	return 0;
}
