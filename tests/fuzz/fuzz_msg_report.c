/*
 * Fuzz target for the progress/result report decoder. Whatever decodes must be routed to
 * it by tfp_msg_peek_type, re-encode within TFP_REPORT_WIRE_MAX, decode again to the same
 * struct, and re-encode to the same bytes; the reason of a decoded result always has a
 * name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tinyfleet/protocol/msg_report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t a[TFP_REPORT_WIRE_MAX], b[TFP_REPORT_WIRE_MAX];
	struct tfp_report r1, r2;
	enum tfp_msg_type t;
	size_t alen, blen;

	if (tfp_report_decode(data, size, &r1) != 0)
		return 0;
	/* Whatever a decoder accepts, dispatch must route to it. */
	if (tfp_msg_peek_type(data, size, &t) != 0 || t != r1.type)
		abort();
	if (r1.type == TFP_MSG_RESULT && !tfp_reason_is_known((int)r1.reason))
		abort();
	if (tfp_report_encode(&r1, a, sizeof(a), &alen) != 0)
		abort();
	if (tfp_report_decode(a, alen, &r2) != 0 || memcmp(&r1, &r2, sizeof(r1)) != 0)
		abort();
	if (tfp_report_encode(&r2, b, sizeof(b), &blen) != 0 || blen != alen ||
	    memcmp(a, b, alen) != 0)
		abort();
	return 0;
}
