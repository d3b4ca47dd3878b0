/*
 * Fuzz target for the hello/state decoder. Whatever decodes must be routed here by
 * tfp_msg_peek_type and must re-encode; the re-encoding must decode to the same struct,
 * and encoding that again must give the same bytes (a stable round trip).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tinyfleet/protocol/msg_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t a[TFP_STATE_WIRE_MAX], b[TFP_STATE_WIRE_MAX];
	struct tfp_state s1, s2;
	enum tfp_msg_type t;
	size_t alen, blen;

	if (tfp_state_decode(data, size, &s1) != 0)
		return 0;
	/* Whatever a decoder accepts, dispatch must route to it. */
	if (tfp_msg_peek_type(data, size, &t) != 0 || t != TFP_MSG_STATE)
		abort();
	if (tfp_state_encode(&s1, a, sizeof(a), &alen) != 0)
		abort();
	if (tfp_state_decode(a, alen, &s2) != 0 || memcmp(&s1, &s2, sizeof(s1)) != 0)
		abort();
	if (tfp_state_encode(&s2, b, sizeof(b), &blen) != 0 || blen != alen ||
	    memcmp(a, b, alen) != 0)
		abort();
	return 0;
}
