/*
 * Chunk request and response: offset-based, resumable pulls of an update's object
 * (a full image, a packed image or a delta patch; see msg_command.h).
 *
 * chunk request (device -> gateway), CDDL `chunk-request`:
 *   key  field        CBOR            rule
 *    0   type         uint            TFP_MSG_CHUNK_REQUEST (6), first key
 *    1   command id   uint            the update offer this pull serves
 *    2   object id    bstr .size 32   the offer's object id
 *    3   offset       uint            <= 2^32-1
 *    4   length       uint            1..TFP_CHUNK_MAX, offset + length <= 2^32-1
 *
 * chunk response (gateway -> device), CDDL `chunk-response`:
 *    0   type         uint            TFP_MSG_CHUNK_RESPONSE (7), first key
 *    1   object id    bstr .size 32
 *    2   offset       uint            <= total
 *    3   total        uint            the object's size, <= 2^32-1
 *    4   data         bstr            0..TFP_CHUNK_MAX bytes, offset + len(data) <= total
 *   (a response may carry fewer bytes than asked for; an empty one at offset == total marks
 *   the end of the object.)
 *
 * All keys are required; others are refused.
 */
#ifndef TINYFLEET_PROTOCOL_MSG_CHUNK_H
#define TINYFLEET_PROTOCOL_MSG_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#include "tinyfleet/protocol/common.h"
#include "tinyfleet/protocol/error.h"
#include "tinyfleet/protocol/msg_type.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest chunk on the wire. Devices ask for what their receive buffer holds (CoAP Block2
 * uses 1024); the gateway may use larger chunks towards hosts and simulators. */
#define TFP_CHUNK_MAX 16384

struct tfp_chunk_request {
	uint64_t command_id;
	uint32_t offset;
	uint32_t length;
	uint8_t object_id[TFP_DIGEST_LEN];
};

struct tfp_chunk_response {
	const uint8_t *data;      /* borrowed from the decoder's input: valid while it is */
	size_t len;               /* 0..TFP_CHUNK_MAX */
	uint32_t offset;
	uint32_t total;
	uint8_t object_id[TFP_DIGEST_LEN];
};

/* RAM budgets: request 48 bytes, response 56 on x86-64 and 48 on Cortex-M4
 * (_Static_assert in msg_chunk.c; the tests print them). The response struct does not
 * hold the data, which stays in the receive buffer. */
#define TFP_CHUNK_REQUEST_STRUCT_MAX 56
#define TFP_CHUNK_RESPONSE_STRUCT_MAX 64
/* Largest encodings: a request always fits this; a response needs this plus its data. */
#define TFP_CHUNK_REQUEST_WIRE_MAX 64
#define TFP_CHUNK_RESPONSE_WIRE_OVERHEAD 64

/*
 * Encoders: 0 and *len = bytes written, TFP_ERR_BUFFER and *len = bytes needed (buf may be
 * NULL then), or TFP_ERR_ARG when the struct breaks a rule above. Deterministic encoding
 * (ascending keys, shortest heads). No allocation.
 */
int tfp_chunk_request_encode(const struct tfp_chunk_request *q, uint8_t *buf, size_t cap,
                             size_t *len);
int tfp_chunk_response_encode(const struct tfp_chunk_response *p, uint8_t *buf, size_t cap,
                              size_t *len);

/*
 * Strict decoders into a zeroed struct. Errors: TFP_ERR_UNKNOWN_MESSAGE (another message
 * type, or not a typed map), TFP_ERR_UNKNOWN_FIELD, TFP_ERR_DUPLICATE_FIELD,
 * TFP_ERR_MISSING_FIELD, TFP_ERR_OVERSIZE (object id not 32 bytes, data over
 * TFP_CHUNK_MAX), TFP_ERR_WRONG_TYPE, TFP_ERR_RANGE (length 0 or over TFP_CHUNK_MAX,
 * integers over 32 bits, a range past the end), TFP_ERR_INDEFINITE, TFP_ERR_TRUNCATED,
 * TFP_ERR_MALFORMED, TFP_ERR_TRAILING. The response's data pointer borrows buf.
 */
int tfp_chunk_request_decode(const uint8_t *buf, size_t len, struct tfp_chunk_request *q);
int tfp_chunk_response_decode(const uint8_t *buf, size_t len, struct tfp_chunk_response *p);

#ifdef __cplusplus
}
#endif

#endif
