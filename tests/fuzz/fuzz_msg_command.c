/*
 * Fuzz target for the command decoder (update offer, rollback, config). Whatever decodes
 * must be routed to it by tfp_msg_peek_type, re-encode, decode again to the same fields,
 * and re-encode to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tinyfleet/protocol/msg_command.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t a[TFP_COMMAND_WIRE_OVERHEAD + TFP_MANIFEST_MAX];
static uint8_t b[TFP_COMMAND_WIRE_OVERHEAD + TFP_MANIFEST_MAX];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tfp_command c1, c2;
	enum tfp_msg_type t;
	size_t alen, blen;

	if (tfp_command_decode(data, size, &c1) != 0)
		return 0;
	/* Whatever a decoder accepts, dispatch must route to it. */
	if (tfp_msg_peek_type(data, size, &t) != 0 || t != c1.type)
		abort();
	if (tfp_command_encode(&c1, a, sizeof(a), &alen) != 0)
		abort();
	if (tfp_command_decode(a, alen, &c2) != 0)
		abort();
	/* The manifest pointers differ (each borrows its own input); compare the bytes and
	 * then the rest with the pointers made equal. */
	if (c1.type == TFP_MSG_UPDATE) {
		if (c1.u.update.manifest_len != c2.u.update.manifest_len ||
		    memcmp(c1.u.update.manifest, c2.u.update.manifest, c1.u.update.manifest_len))
			abort();
		c2.u.update.manifest = c1.u.update.manifest;
	}
	if (memcmp(&c1, &c2, sizeof(c1)) != 0)
		abort();
	if (tfp_command_encode(&c2, b, sizeof(b), &blen) != 0 || blen != alen ||
	    memcmp(a, b, alen) != 0)
		abort();
	return 0;
}
