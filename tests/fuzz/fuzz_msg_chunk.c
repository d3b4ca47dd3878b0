/*
 * Fuzz target for the chunk request and chunk response decoders (both run on every
 * input). Whatever decodes must be routed to that decoder by tfp_msg_peek_type,
 * re-encode, decode again to the same fields, and re-encode to the same bytes; a
 * response's data must lie inside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tinyfleet/protocol/msg_chunk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t a[TFP_CHUNK_RESPONSE_WIRE_OVERHEAD + TFP_CHUNK_MAX];
static uint8_t b[TFP_CHUNK_RESPONSE_WIRE_OVERHEAD + TFP_CHUNK_MAX];

static void
request(const uint8_t *data, size_t size)
{
	struct tfp_chunk_request q1, q2;
	enum tfp_msg_type t;
	size_t alen, blen;

	if (tfp_chunk_request_decode(data, size, &q1) != 0)
		return;
	/* Whatever a decoder accepts, dispatch must route to it. */
	if (tfp_msg_peek_type(data, size, &t) != 0 || t != TFP_MSG_CHUNK_REQUEST)
		abort();
	if (tfp_chunk_request_encode(&q1, a, TFP_CHUNK_REQUEST_WIRE_MAX, &alen) != 0)
		abort();
	if (tfp_chunk_request_decode(a, alen, &q2) != 0 || memcmp(&q1, &q2, sizeof(q1)) != 0)
		abort();
	if (tfp_chunk_request_encode(&q2, b, sizeof(b), &blen) != 0 || blen != alen ||
	    memcmp(a, b, alen) != 0)
		abort();
}

static void
response(const uint8_t *data, size_t size)
{
	struct tfp_chunk_response p1, p2;
	enum tfp_msg_type t;
	size_t alen, blen;

	if (tfp_chunk_response_decode(data, size, &p1) != 0)
		return;
	/* Whatever a decoder accepts, dispatch must route to it. */
	if (tfp_msg_peek_type(data, size, &t) != 0 || t != TFP_MSG_CHUNK_RESPONSE)
		abort();
	if (p1.len > 0 && (p1.data < data || p1.data + p1.len > data + size))
		abort();
	if (tfp_chunk_response_encode(&p1, a, TFP_CHUNK_RESPONSE_WIRE_OVERHEAD + p1.len,
	                              &alen) != 0)
		abort();
	if (tfp_chunk_response_decode(a, alen, &p2) != 0 || p2.len != p1.len ||
	    (p1.len > 0 && memcmp(p1.data, p2.data, p1.len) != 0))
		abort();
	p2.data = p1.data;
	if (memcmp(&p1, &p2, sizeof(p1)) != 0)
		abort();
	if (tfp_chunk_response_encode(&p2, b, sizeof(b), &blen) != 0 || blen != alen ||
	    memcmp(a, b, alen) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	request(data, size);
	response(data, size);
	return 0;
}
