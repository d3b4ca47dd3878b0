/*
 * Fuzz target: full manifest verification (COSE_Sign1 parse, header profile, Sig_structure
 * hash, ECDSA P-256 verify, payload decode, kid binding, expiry) against one fixed trusted
 * key, the test release key in tests/interop/keys/. Seeds are messages that key signed
 * (written by `manifest_tool seeds`), so mutations start from valid signatures.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "tinyfleet/protocol/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct tfp_cose_key test_key = {
	.kid = "153ba991abded284",
	.kid_len = 16,
	.point = {
		0x04, 0xa8, 0xa0, 0x61, 0x2c, 0x74, 0xf0, 0xe4, 0x4a, 0xa6, 0xb8, 0x68, 0xe5,
		0x27, 0xcc, 0x04, 0x3b, 0x77, 0x5d, 0x28, 0xdf, 0x33, 0xa8, 0xf1, 0x0b, 0x4f,
		0x28, 0xed, 0x04, 0xab, 0xb9, 0xac, 0xc7, 0x54, 0x37, 0x42, 0x59, 0x6d, 0x3e,
		0xbd, 0x63, 0x4d, 0x1f, 0x9a, 0x50, 0x82, 0x83, 0xa2, 0x04, 0x70, 0x0e, 0x30,
		0x36, 0xb5, 0x84, 0x7b, 0xdc, 0x3c, 0xc2, 0x03, 0x58, 0x38, 0x47, 0x78, 0x72,
	},
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tfp_manifest m;
	struct tfp_cose_sign1_view view;
	int rc = tfp_manifest_verify(data, size, &test_key, 1, 1000, &m);

	/* Invariants: success implies a verified envelope and a terminated key id. */
	if (rc == 0) {
		if (tfp_cose_sign1_verify(data, size, &test_key, 1, &view) != 0 ||
		    view.key != &test_key || m.key_id[TFP_KEY_ID_MAX] != '\0')
			abort();
	} else if (rc > 0 || tfp_strerror(rc) == NULL) {
		abort();
	}
	return 0;
}
