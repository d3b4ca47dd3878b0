/*
 * Commands from the gateway to a device: update offer, rollback, config.
 *
 * Every command carries a command id chosen by the gateway. A device remembers the ids it
 * carried out and answers a repeated one with TFP_REASON_DUPLICATE instead of acting twice,
 * so the gateway may re-send after a crash (idempotency).
 *
 * update offer, CDDL `update-offer`:
 *   key  field         CBOR            rule
 *    0   type          uint            TFP_MSG_UPDATE (3), first key
 *    1   command id    uint
 *    2   manifest      bstr            the COSE_Sign1 manifest, 1..TFP_MANIFEST_MAX bytes,
 *                                      opaque here (verified by the manifest module)
 *    3   fetch         uint            enum tfp_fetch
 *    4   base digest   bstr .size 32   required when fetch = delta, absent otherwise
 *                                      (TFP_ERR_UNKNOWN_FIELD): the image the delta
 *                                      applies to
 *    5   object id     bstr .size 32   what to pull with chunk requests: the image digest
 *                                      for fetch = full, else the SHA-256 of the object
 *    6   object size   uint            bytes of the object, 1..2^32-1
 *    7   chunk size    uint            1..TFP_CHUNK_MAX, the gateway's suggested chunk
 *
 * rollback, CDDL `rollback`: switch back to the previous confirmed slot (no download).
 *    0   type          uint            TFP_MSG_ROLLBACK (4)
 *    1   command id    uint
 *
 * config, CDDL `config`: every setting optional; absent means "keep the current value".
 *    0   type              uint        TFP_MSG_CONFIG (5)
 *    1   command id        uint
 *    2   telemetry period  uint        seconds between telemetry records, 1..86400
 *    3   telemetry samples uint        samples between records, 1..2^32-1
 *    4   ph delta          float       Page-Hinkley magnitude delta, 0..1e6
 *    5   ph lambda         float       Page-Hinkley threshold lambda, 0..1e9
 *    6   adwin delta       float       ADWIN confidence delta, 0..1
 *    7   psi alarm         float       PSI level that raises a data-drift alarm, 0..1e3
 *    8   shift alarm       float       standardized mean shift alarm level, 0..1e3
 *    9   label rate        float       expected share of labelled samples, 0..1
 *   Floats may be sent as CBOR floats of any width or as integers; the device keeps single
 *   precision and our encoder writes single precision.
 */
#ifndef TINYFLEET_PROTOCOL_MSG_COMMAND_H
#define TINYFLEET_PROTOCOL_MSG_COMMAND_H

#include <stddef.h>
#include <stdint.h>

#include "tinyfleet/protocol/common.h"
#include "tinyfleet/protocol/error.h"
#include "tinyfleet/protocol/msg_chunk.h"
#include "tinyfleet/protocol/msg_type.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest COSE_Sign1 manifest an offer may carry. A manifest at every bound of common.h
 * takes about 500 bytes; the rest is headroom for optional fields. */
#define TFP_MANIFEST_MAX 1024

enum tfp_fetch {
	TFP_FETCH_FULL = 0,     /* the raw image, object id = image digest */
	TFP_FETCH_PACKED = 1,   /* the image compressed in the delta patch format, no base */
	TFP_FETCH_DELTA = 2,    /* a delta patch from the image whose digest is base_digest */
};
#define TFP_FETCH_MAX TFP_FETCH_DELTA

struct tfp_update_offer {
	const uint8_t *manifest;  /* borrowed from the decoder's input: valid while it is */
	size_t manifest_len;      /* 1..TFP_MANIFEST_MAX */
	enum tfp_fetch fetch;
	uint32_t object_size;
	uint32_t chunk_size;
	uint8_t object_id[TFP_DIGEST_LEN];
	uint8_t base_digest[TFP_DIGEST_LEN];   /* meaningful for TFP_FETCH_DELTA only */
};

/* Bits of tfp_config.present: one per optional setting, in key order. */
#define TFP_CFG_TELEMETRY_PERIOD (1u << 0)
#define TFP_CFG_TELEMETRY_SAMPLES (1u << 1)
#define TFP_CFG_PH_DELTA (1u << 2)
#define TFP_CFG_PH_LAMBDA (1u << 3)
#define TFP_CFG_ADWIN_DELTA (1u << 4)
#define TFP_CFG_PSI_ALARM (1u << 5)
#define TFP_CFG_SHIFT_ALARM (1u << 6)
#define TFP_CFG_LABEL_RATE (1u << 7)
#define TFP_CFG_ALL 0xffu

#define TFP_CFG_PERIOD_MAX 86400u

struct tfp_config {
	uint32_t present;              /* TFP_CFG_* bits of the settings carried */
	uint32_t telemetry_period_s;
	uint32_t telemetry_samples;
	float ph_delta;
	float ph_lambda;
	float adwin_delta;
	float psi_alarm;
	float shift_alarm;
	float label_rate;
};

struct tfp_command {
	enum tfp_msg_type type;        /* TFP_MSG_UPDATE, TFP_MSG_ROLLBACK or TFP_MSG_CONFIG */
	uint64_t command_id;
	union {
		struct tfp_update_offer update;   /* type == TFP_MSG_UPDATE */
		struct tfp_config config;         /* type == TFP_MSG_CONFIG */
	} u;
};

/* RAM budget: sizeof(struct tfp_command) is 112 bytes on x86-64, 104 on Cortex-M4
 * (_Static_assert in msg_command.c; the tests print it). The manifest stays in the
 * receive buffer. */
#define TFP_COMMAND_STRUCT_MAX 112
/* Largest encoding of a valid command: this overhead plus the manifest's length. */
#define TFP_COMMAND_WIRE_OVERHEAD 128

/*
 * Encodes c: 0 and *len = bytes written, TFP_ERR_BUFFER and *len = bytes needed (buf may
 * be NULL then), TFP_ERR_ARG when c breaks a rule above (unknown type or fetch, empty or
 * oversize manifest, chunk size 0, a config float out of range, ...). Deterministic
 * encoding. No allocation.
 */
int tfp_command_encode(const struct tfp_command *c, uint8_t *buf, size_t cap, size_t *len);

/*
 * Decodes any of the three commands into a zeroed *c. Strict: TFP_ERR_UNKNOWN_MESSAGE (not
 * a command), TFP_ERR_UNKNOWN_FIELD (a key this command does not define, or a base digest
 * without delta), TFP_ERR_DUPLICATE_FIELD, TFP_ERR_MISSING_FIELD, TFP_ERR_OVERSIZE
 * (manifest over TFP_MANIFEST_MAX, digest not 32 bytes), TFP_ERR_WRONG_TYPE, TFP_ERR_RANGE
 * (empty manifest; enum, size, chunk or float out of range), TFP_ERR_INDEFINITE, TFP_ERR_TRUNCATED,
 * TFP_ERR_MALFORMED, TFP_ERR_TRAILING. c->u.update.manifest borrows buf.
 */
int tfp_command_decode(const uint8_t *buf, size_t len, struct tfp_command *c);

#ifdef __cplusplus
}
#endif

#endif
