/*
 * Device-plane message types.
 *
 * Every device-plane message except telemetry is a CBOR map with small unsigned integer
 * keys whose key 0 holds the message type below, so a message is self-describing whether it
 * arrives over an MQTT topic or a CoAP path. Key 0 is always the first key of the map (as
 * RFC 8949 §4.2.1 deterministic encoding orders it anyway), so a receiver can dispatch on
 * the first few bytes. Telemetry is SenML-CBOR (an array of records, RFC 8428) and carries
 * no type key; its value here is reserved so that no other message ever takes it.
 *
 * Encoders write deterministic encoding (shortest heads, keys ascending, floats in single
 * precision). Decoders are strict about content (unknown or duplicate keys, indefinite
 * lengths, trailing bytes, bounds, enums) but accept the keys after key 0 in any order and
 * integers in any head width, so other CBOR libraries can talk to them; re-encoding what a
 * decoder accepted gives the deterministic form.
 *
 * Stack: no codec recurses or allocates. Measured with gcc -O2 -fstack-usage on x86-64, the
 * deepest decoder (tfp_state_decode) takes 256 bytes in its own frame plus about 350 in the
 * reader chain below it (msg_map -> cbor_io -> decode_head), plus libcbor's
 * cbor_stream_decode; the other decoders 128..192 bytes plus the same chain; encoders at
 * most 128 bytes plus a few bytes in cbor_io. 32-bit MCU frames are smaller.
 *
 * Values are part of the wire contract (schemas/device-plane.cddl): never reuse one.
 */
#ifndef TINYFLEET_PROTOCOL_MSG_TYPE_H
#define TINYFLEET_PROTOCOL_MSG_TYPE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum tfp_msg_type {
	TFP_MSG_STATE = 1,           /* hello/state, device -> gateway (msg_state.h) */
	TFP_MSG_TELEMETRY = 2,       /* reserved: telemetry is SenML-CBOR, not a typed map */
	TFP_MSG_UPDATE = 3,          /* update offer, gateway -> device (msg_command.h) */
	TFP_MSG_ROLLBACK = 4,        /* rollback to the previous slot, gateway -> device */
	TFP_MSG_CONFIG = 5,          /* agent configuration, gateway -> device */
	TFP_MSG_CHUNK_REQUEST = 6,   /* device -> gateway (msg_chunk.h) */
	TFP_MSG_CHUNK_RESPONSE = 7,  /* gateway -> device */
	TFP_MSG_PROGRESS = 8,        /* device -> gateway (msg_report.h) */
	TFP_MSG_RESULT = 9,          /* device -> gateway */
};

/*
 * Reads the type of the message in buf[0..len) without decoding the rest: the input must
 * start with a definite-length map whose first key is 0 and whose value is a known type.
 * Returns 0 and sets *type, or TFP_ERR_WRONG_TYPE (not a map, or a type value that is not
 * an unsigned integer), TFP_ERR_MISSING_FIELD (empty map), TFP_ERR_UNKNOWN_MESSAGE (first
 * key is not 0, or an unknown or reserved type value), TFP_ERR_TRUNCATED,
 * TFP_ERR_INDEFINITE or TFP_ERR_MALFORMED. It does not validate the rest of the message:
 * the decoder for that type does. No allocation, no global state.
 */
int tfp_msg_peek_type(const uint8_t *buf, size_t len, enum tfp_msg_type *type);

#ifdef __cplusplus
}
#endif

#endif
