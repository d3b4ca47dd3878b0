/*
 * Model manifests: what a release signs about one model image.
 *
 * A manifest is a CBOR map with small unsigned integer keys (schemas/manifest.cddl is the
 * normative contract; keys are repeated below). It travels as the payload of a COSE_Sign1
 * message (tinyfleet/protocol/cose_sign1.h) signed with ES256 by the operator's release key.
 *
 *   key  field               CBOR type          struct member
 *    1   model name          tstr (1..32)       name
 *    2   semantic version    tstr (1..24)       version
 *    3   sequence number     uint               sequence   (monotonic per model stream)
 *    4   device class        tstr (1..32)       device_class
 *    5   requirements        map (below)        req
 *    6   image digest        bstr .size 32      digest     (SHA-256 of the full image)
 *    7   image size          uint               image_size (bytes)
 *    8   container version   uint (32 bits)     container_version
 *    9   expiry (optional)   uint               expiry     (seconds since the epoch)
 *   10   key id              tstr (1..16)       key_id     (the release key, see below)
 *
 *   requirements map:
 *    1   min RAM bytes       uint               req.min_ram
 *    2   min flash bytes     uint               req.min_flash
 *    3   sensors             [* tstr (1..16)]   req.sensors (at most TFP_SENSORS_MAX)
 *    4   agent ABI           uint (32 bits)     req.agent_abi
 *
 * Every key of both maps is required except expiry. The decoder is strict: a key the
 * schema does not define (including any non-integer key) gives TFP_ERR_UNKNOWN_FIELD, a
 * repeated key TFP_ERR_DUPLICATE_FIELD, an absent required key TFP_ERR_MISSING_FIELD, a
 * string or array over its bound (or a digest that is not 32 bytes) TFP_ERR_OVERSIZE, an
 * item of another major type TFP_ERR_WRONG_TYPE, an integer too large for its field
 * TFP_ERR_RANGE, an indefinite-length item TFP_ERR_INDEFINITE, bytes after the map
 * TFP_ERR_TRAILING, input that ends early TFP_ERR_TRUNCATED, an empty or NUL-containing
 * string TFP_ERR_BAD_TEXT. Keys may come in any order; the encoder writes them ascending.
 *
 * The key id is the text form of the COSE kid that signs the manifest (tfp_manifest_verify
 * insists that they are equal, so the signed payload names its own signer).
 *
 * Memory: decoding fills a caller-owned struct of fixed size; no function here allocates,
 * keeps global state or does I/O. Any thread may call any function on its own objects.
 */
#ifndef TINYFLEET_PROTOCOL_MANIFEST_H
#define TINYFLEET_PROTOCOL_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tinyfleet/protocol/common.h"
#include "tinyfleet/protocol/cose_sign1.h"
#include "tinyfleet/protocol/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Map keys (wire values; never renumber). */
enum tfp_manifest_key {
	TFP_MANIFEST_NAME = 1,
	TFP_MANIFEST_VERSION = 2,
	TFP_MANIFEST_SEQUENCE = 3,
	TFP_MANIFEST_DEVICE_CLASS = 4,
	TFP_MANIFEST_REQUIREMENTS = 5,
	TFP_MANIFEST_DIGEST = 6,
	TFP_MANIFEST_IMAGE_SIZE = 7,
	TFP_MANIFEST_CONTAINER_VERSION = 8,
	TFP_MANIFEST_EXPIRY = 9,
	TFP_MANIFEST_KEY_ID = 10,
};

enum tfp_manifest_req_key {
	TFP_MANIFEST_REQ_MIN_RAM = 1,
	TFP_MANIFEST_REQ_MIN_FLASH = 2,
	TFP_MANIFEST_REQ_SENSORS = 3,
	TFP_MANIFEST_REQ_AGENT_ABI = 4,
};

/*
 * Largest encoded payload: every string and array at its bound, every integer in its
 * widest form (9 bytes). Encoders given this many bytes never fail with TFP_ERR_BUFFER.
 */
#define TFP_MANIFEST_PAYLOAD_MAX                                                          \
	(1 + 10 * 1                                           /* map head and keys */     \
	 + 2 + TFP_MODEL_NAME_MAX + 2 + TFP_VERSION_MAX + 9 + 2 + TFP_CLASS_MAX           \
	 + (1 + 4 * 1 + 9 + 9 + 1 + TFP_SENSORS_MAX * (2 + TFP_SENSOR_NAME_MAX) + 5)       \
	 + 2 + TFP_DIGEST_LEN + 9 + 5 + 9 + 2 + TFP_KEY_ID_MAX)

struct tfp_manifest_requirements {
	uint64_t min_ram;                       /* bytes of RAM the model needs */
	uint64_t min_flash;                     /* bytes of flash (one slot) it needs */
	uint32_t agent_abi;                     /* agent ABI the model was built for */
	size_t n_sensors;                       /* entries used in sensors[] */
	char sensors[TFP_SENSORS_MAX][TFP_SENSOR_NAME_MAX + 1];
};

/* A decoded manifest. All strings are NUL-terminated copies; nothing borrows the input. */
struct tfp_manifest {
	char name[TFP_MODEL_NAME_MAX + 1];
	char version[TFP_VERSION_MAX + 1];
	uint64_t sequence;
	char device_class[TFP_CLASS_MAX + 1];
	struct tfp_manifest_requirements req;
	uint8_t digest[TFP_DIGEST_LEN];
	uint64_t image_size;
	uint32_t container_version;
	bool has_expiry;                        /* expiry is meaningful only when true */
	uint64_t expiry;
	char key_id[TFP_KEY_ID_MAX + 1];
};

/*
 * Encodes m into buf[0..cap). Returns 0 and *len = bytes written; TFP_ERR_BUFFER and
 * *len = bytes needed when cap is too small; TFP_ERR_ARG when a string of m is empty,
 * unterminated within its array or n_sensors is over its bound.
 */
int tfp_manifest_encode(const struct tfp_manifest *m, uint8_t *buf, size_t cap, size_t *len);

/*
 * Decodes a manifest payload into *m (overwritten even on failure; its content is then
 * unspecified). Errors as listed at the top of this file.
 */
int tfp_manifest_decode(const uint8_t *buf, size_t len, struct tfp_manifest *m);

/*
 * Device side: verifies a COSE_Sign1 manifest against the trusted keys (see
 * tfp_cose_sign1_verify for the profile and its errors), decodes its payload into *m and
 * checks that the payload's key id equals the kid that verified it (TFP_ERR_BAD_HEADER
 * otherwise) and that the manifest has not expired: with an expiry, `now` (seconds since
 * the epoch, from the caller's best clock) must be below it, else TFP_ERR_EXPIRED.
 * Sequence numbers and device fit are the caller's policy. No allocation in our code;
 * mbedTLS allocates bignums during the signature check (see cose_sign1.h).
 */
int tfp_manifest_verify(const uint8_t *msg, size_t len, const struct tfp_cose_key *keys,
                        size_t n_keys, uint64_t now, struct tfp_manifest *m);

#ifndef TFP_VERIFY_ONLY
/*
 * Host side: encodes m and signs it with the signer's key into out[0..cap). m->key_id
 * must equal the signer's kid (TFP_ERR_ARG otherwise). Returns 0 and *len = bytes written,
 * TFP_ERR_BUFFER and *len = bytes needed, or an error of tfp_cose_sign1_sign.
 */
int tfp_manifest_sign(struct tfp_cose_signer *signer, const struct tfp_manifest *m,
                      uint8_t *out, size_t cap, size_t *len);
#endif

#ifdef __cplusplus
}
#endif

#endif
