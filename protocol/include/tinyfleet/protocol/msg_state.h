/*
 * hello/state: what a device is and what it runs (device -> gateway).
 *
 * A device publishes this message when it connects and whenever a slot or the active slot
 * changes; the gateway's registry believes exactly what it says. Wire form (CBOR map, the
 * CDDL rule `device-state` in schemas/device-plane.cddl):
 *
 *   key  field            CBOR        rule
 *    0   type             uint        TFP_MSG_STATE (1), first key
 *    1   wire version     uint        1..2^32-1, TFP_WIRE_VERSION when sent by us
 *    2   device id        tstr        1..TFP_DEVICE_ID_MAX bytes of [A-Za-z0-9._-] (= cert CN)
 *    3   device class     tstr        identifier, 1..TFP_CLASS_MAX bytes
 *    4   RAM bytes        uint        <= 2^32-1, RAM free for models (scratch arena)
 *    5   flash bytes      uint        <= 2^32-1, bytes of one model slot
 *    6   sensors          [* tstr]    0..TFP_SENSORS_MAX identifiers of <= TFP_SENSOR_NAME_MAX
 *    7   agent version    tstr        identifier, 1..TFP_VERSION_MAX bytes
 *    8   agent ABI        uint        <= 2^32-1
 *    9   slots            [2 slot]    exactly two: slot A then slot B
 *   10   active slot      uint        0 (A) or 1 (B)
 *   11   command id       uint        optional: the command the device is processing now
 *
 *   slot = {0: state, ? 1: model name, ? 2: version, ? 3: sequence, ? 4: digest}
 *    0   state            uint        enum tfp_slot_state
 *    1   model name       tstr        identifier, 1..TFP_MODEL_NAME_MAX bytes
 *    2   model version    tstr        identifier, 1..TFP_VERSION_MAX bytes
 *    3   sequence         uint        the manifest's anti-rollback sequence number
 *    4   digest           bstr .size 32  SHA-256 of the slot's image
 *   An empty slot carries key 0 only (other keys: TFP_ERR_UNKNOWN_FIELD); any other state
 *   needs all five keys (TFP_ERR_MISSING_FIELD).
 *
 * Every key is required except 11. All keys are unique unsigned integers; keys outside the
 * table are refused (strict maps).
 */
#ifndef TINYFLEET_PROTOCOL_MSG_STATE_H
#define TINYFLEET_PROTOCOL_MSG_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tinyfleet/protocol/common.h"
#include "tinyfleet/protocol/error.h"
#include "tinyfleet/protocol/msg_type.h"

#ifdef __cplusplus
extern "C" {
#endif

enum tfp_slot_state {
	TFP_SLOT_EMPTY = 0,       /* no image */
	TFP_SLOT_PENDING = 1,     /* written and verified, not confirmed by a self-test yet */
	TFP_SLOT_CONFIRMED = 2,   /* self-tested and confirmed */
	TFP_SLOT_FAILED = 3,      /* failed its self-test or crashed before confirmation */
};
#define TFP_SLOT_STATE_MAX TFP_SLOT_FAILED

#define TFP_SLOTS 2

struct tfp_slot {
	uint64_t sequence;
	enum tfp_slot_state state;
	char model[TFP_MODEL_NAME_MAX + 1];      /* NUL-terminated; "" when empty */
	char version[TFP_VERSION_MAX + 1];
	uint8_t digest[TFP_DIGEST_LEN];
};

struct tfp_state {
	uint64_t command_id;                     /* valid when has_command */
	bool has_command;
	uint8_t active_slot;                     /* 0 = A, 1 = B */
	uint8_t sensor_count;                    /* 0..TFP_SENSORS_MAX */
	uint32_t wire_version;
	uint32_t ram_bytes;
	uint32_t flash_bytes;
	uint32_t agent_abi;
	char device_id[TFP_DEVICE_ID_MAX + 1];   /* NUL-terminated strings */
	char device_class[TFP_CLASS_MAX + 1];
	char agent_version[TFP_VERSION_MAX + 1];
	char sensors[TFP_SENSORS_MAX][TFP_SENSOR_NAME_MAX + 1];
	struct tfp_slot slots[TFP_SLOTS];
};

/* RAM budget: sizeof(struct tfp_state) is 496 bytes on x86-64 and on Cortex-M4, and at
 * most this on any target (a _Static_assert in msg_state.c; the tests print the figure). */
#define TFP_STATE_STRUCT_MAX 512
/* The largest encoding of a valid struct tfp_state (every string and list at its bound,
 * every integer at its widest: 528 bytes); a transmit buffer of this size always suffices. */
#define TFP_STATE_WIRE_MAX 544

/*
 * Encodes s into buf[0..cap). Returns 0 and *len = bytes written; TFP_ERR_BUFFER and *len =
 * bytes needed when cap is too small (buf may be NULL then); TFP_ERR_ARG when s breaks a
 * rule of the table above (e.g. a string that is empty, too long or not NUL-terminated
 * within its array, an enum out of range, a non-empty slot without model name). Keys are
 * written in ascending order (deterministic encoding). No allocation.
 */
int tfp_state_encode(const struct tfp_state *s, uint8_t *buf, size_t cap, size_t *len);

/*
 * Decodes buf[0..len) into *s (zeroed first, no pointer into buf is kept). Strict: returns
 * 0 or TFP_ERR_UNKNOWN_MESSAGE (not a map starting with key 0 = TFP_MSG_STATE),
 * TFP_ERR_UNKNOWN_FIELD, TFP_ERR_DUPLICATE_FIELD, TFP_ERR_MISSING_FIELD, TFP_ERR_OVERSIZE
 * (string or list longer than its bound), TFP_ERR_WRONG_TYPE, TFP_ERR_RANGE (enum or
 * integer out of range, wrong slot count), TFP_ERR_BAD_TEXT, TFP_ERR_INDEFINITE,
 * TFP_ERR_TRUNCATED, TFP_ERR_MALFORMED, TFP_ERR_TRAILING. On error *s is unspecified.
 * No allocation, no recursion; stack: see msg_type.h.
 */
int tfp_state_decode(const uint8_t *buf, size_t len, struct tfp_state *s);

#ifdef __cplusplus
}
#endif

#endif
