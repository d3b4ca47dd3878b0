/*
 * Progress and result reports (device -> gateway), and the reason codes that say why a
 * device did or refused something.
 *
 * progress, CDDL `progress`: sent while a command runs (e.g. every few chunks).
 *   key  field        CBOR   rule
 *    0   type         uint   TFP_MSG_PROGRESS (8), first key
 *    1   command id   uint
 *    2   phase        uint   enum tfp_phase
 *    3   bytes done   uint   <= bytes total
 *    4   bytes total  uint   <= 2^32-1
 *
 * result, CDDL `result`: sent once when a command ends, and again on request.
 *    0   type         uint   TFP_MSG_RESULT (9), first key
 *    1   command id   uint
 *    2   phase        uint   enum tfp_phase: the phase the command ended in
 *    3   bytes done   uint   optional, with key 4 (both or neither)
 *    4   bytes total  uint   optional, with key 3
 *    5   outcome      uint   enum tfp_outcome
 *    6   reason       uint   enum tfp_reason; a success reason iff outcome is OK
 *    7   error        nint   optional: the tfp_err code behind the reason (diagnostics)
 *
 * Keys of the other report kind are refused (TFP_ERR_UNKNOWN_FIELD).
 */
#ifndef TINYFLEET_PROTOCOL_MSG_REPORT_H
#define TINYFLEET_PROTOCOL_MSG_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tinyfleet/protocol/error.h"
#include "tinyfleet/protocol/msg_type.h"

#ifdef __cplusplus
extern "C" {
#endif

enum tfp_phase {
	TFP_PHASE_CHECK = 0,      /* validating an offer: signature, sequence, fit */
	TFP_PHASE_FETCH = 1,      /* pulling chunks */
	TFP_PHASE_APPLY = 2,      /* writing (or patching) into the spare slot */
	TFP_PHASE_VERIFY = 3,     /* checking the image digest */
	TFP_PHASE_ACTIVATE = 4,   /* marking pending and switching slots */
	TFP_PHASE_SELFTEST = 5,   /* running the container's test vectors */
	TFP_PHASE_CONFIRM = 6,    /* confirming and raising the anti-rollback floor */
	TFP_PHASE_ROLLBACK = 7,   /* switching back to the previous slot */
	TFP_PHASE_CONFIG = 8,     /* applying a config command */
};
#define TFP_PHASE_MAX TFP_PHASE_CONFIG

enum tfp_outcome {
	TFP_OUTCOME_OK = 0,        /* the command did what it asked */
	TFP_OUTCOME_REFUSED = 1,   /* not started: the device will not do it (check failed,
	                              busy, duplicate, malformed) */
	TFP_OUTCOME_FAILED = 2,    /* started and failed; the device runs what it ran before */
	TFP_OUTCOME_REVERTED = 3,  /* activated, then reverted to the previous slot */
};
#define TFP_OUTCOME_MAX TFP_OUTCOME_REVERTED

/*
 * Why a command ended as it did. One code per cause, so the gateway (and its operator) can
 * tell every refusal and failure apart. Values are wire contract; they are grouped by where
 * they arise and never reused.
 */
enum tfp_reason {
	/* 0..15: success */
	TFP_REASON_OK = 0,                 /* the step or command completed */
	TFP_REASON_CONFIRMED = 1,          /* update confirmed after its self-test */
	TFP_REASON_ROLLED_BACK = 2,        /* rollback command carried out */
	TFP_REASON_CONFIG_APPLIED = 3,     /* config command applied */

	/* 16..47: offer refused at check */
	TFP_REASON_BAD_SIGNATURE = 16,     /* manifest signature does not verify */
	TFP_REASON_UNKNOWN_KEY = 17,       /* manifest signed by a key the device does not pin */
	TFP_REASON_EXPIRED = 18,           /* manifest past its expiry */
	TFP_REASON_SEQUENCE_TOO_LOW = 19,  /* sequence not above the anti-rollback floor */
	TFP_REASON_WRONG_CLASS = 20,       /* manifest for another device class */
	TFP_REASON_NO_RAM = 21,            /* model needs more RAM than the device has */
	TFP_REASON_NO_FLASH = 22,          /* image larger than a slot */
	TFP_REASON_MISSING_SENSOR = 23,    /* model needs a sensor the device lacks */
	TFP_REASON_ABI_MISMATCH = 24,      /* model needs another agent ABI */
	TFP_REASON_BAD_MANIFEST = 25,      /* manifest malformed or unsupported (alg, header) */
	TFP_REASON_OFFER_MISMATCH = 26,    /* offer disagrees with its manifest (e.g. a full
	                                      fetch whose object id is not the image digest) */

	/* 48..63: fetch */
	TFP_REASON_SIZE_EXCEEDS_SIGNED = 48, /* object or image larger than the signed size */
	TFP_REASON_DOWNLOAD_TOO_SLOW = 49, /* below the download speed floor */
	TFP_REASON_DOWNLOAD_STALLED = 50,  /* no chunk within the timeout */
	TFP_REASON_BAD_CHUNK = 51,         /* chunk response for another object or range */

	/* 64..95: apply, verify, activate, self-test */
	TFP_REASON_DIGEST_MISMATCH = 64,   /* rebuilt image's SHA-256 differs from the manifest */
	TFP_REASON_DELTA_CORRUPT = 65,     /* delta patch malformed or unsupported */
	TFP_REASON_DELTA_BASE_MISMATCH = 66, /* device does not hold the delta's base image */
	TFP_REASON_FLASH_ERROR = 67,       /* flash write or erase failed */
	TFP_REASON_BAD_CONTAINER = 68,     /* model container malformed or unsupported */
	TFP_REASON_SELFTEST_FAILED = 69,   /* test vectors gave wrong outputs */
	TFP_REASON_CRASH_BEFORE_CONFIRM = 70, /* rebooted or crashed before confirm: reverted */

	/* 96..127: command level */
	TFP_REASON_NO_PREVIOUS_SLOT = 96,  /* rollback: no confirmed previous slot */
	TFP_REASON_BUSY = 97,              /* another update is in progress */
	TFP_REASON_DUPLICATE = 98,         /* command id already carried out; not repeated */
	TFP_REASON_MALFORMED = 99,         /* the command message did not decode */
	TFP_REASON_UNKNOWN_COMMAND = 100,  /* a message type this agent does not handle */
	TFP_REASON_INTERNAL = 101,         /* a bug or broken invariant on the device */
	TFP_REASON_CONFIG_REFUSED = 102,   /* config decodes but a value is outside what this
	                                      device accepts; nothing was changed */
};

/* A short, static, human-readable name ("bad signature"), or "unknown reason"; never NULL. */
const char *tfp_reason_str(int reason);

/* True for the success codes (0..15 that are defined). */
bool tfp_reason_is_success(int reason);

/* True when `reason` is a value of enum tfp_reason. */
bool tfp_reason_is_known(int reason);

/*
 * The reason that a protocol error code stands for, where one applies: TFP_OK ->
 * TFP_REASON_OK; TFP_ERR_BAD_SIGNATURE, _UNKNOWN_KEY, _EXPIRED -> the same-named reasons;
 * TFP_ERR_BAD_TAG, _BAD_HEADER, _UNSUPPORTED_ALG, _NO_PAYLOAD -> TFP_REASON_BAD_MANIFEST;
 * TFP_ERR_CONTAINER, _CONTAINER_VERSION -> TFP_REASON_BAD_CONTAINER; TFP_ERR_DELTA,
 * _DELTA_VERSION -> TFP_REASON_DELTA_CORRUPT; TFP_ERR_UNKNOWN_MESSAGE ->
 * TFP_REASON_UNKNOWN_COMMAND; TFP_ERR_INTERNAL, _ARG, _KEY, _CRYPTO -> TFP_REASON_INTERNAL.
 * Every other code (the CBOR structure codes -20..-31, TFP_ERR_BUFFER) means different
 * things in different places, e.g. a malformed command vs. a malformed manifest payload,
 * and maps to `fallback`, which the caller chooses for its context.
 */
enum tfp_reason tfp_reason_from_err(int err, enum tfp_reason fallback);

struct tfp_report {
	enum tfp_msg_type type;        /* TFP_MSG_PROGRESS or TFP_MSG_RESULT */
	uint64_t command_id;
	enum tfp_phase phase;
	bool has_bytes;                /* always true for progress */
	bool has_error;                /* result only */
	uint32_t bytes_done;
	uint32_t bytes_total;
	enum tfp_outcome outcome;      /* result only */
	enum tfp_reason reason;        /* result only */
	int32_t error;                 /* result only, when has_error: a negative tfp_err */
};

/* RAM budget: sizeof(struct tfp_report) is 48 bytes on x86-64, 40 on Cortex-M4
 * (_Static_assert in msg_report.c; the tests print it). */
#define TFP_REPORT_STRUCT_MAX 48
/* Largest encoding of a valid report; a device's queue of offline reports can store
 * encodings in slots of this size. */
#define TFP_REPORT_WIRE_MAX 48

/*
 * Encodes r: 0 and *len = bytes written, TFP_ERR_BUFFER and *len = bytes needed (buf may be
 * NULL then), TFP_ERR_ARG when r breaks a rule above (unknown type, phase, outcome or
 * reason; done > total; a success reason with a failed outcome or the reverse; a
 * non-negative error). Deterministic encoding. No allocation.
 */
int tfp_report_encode(const struct tfp_report *r, uint8_t *buf, size_t cap, size_t *len);

/*
 * Decodes a progress or result report into a zeroed *r. Strict: TFP_ERR_UNKNOWN_MESSAGE
 * (not a report), TFP_ERR_UNKNOWN_FIELD, TFP_ERR_DUPLICATE_FIELD, TFP_ERR_MISSING_FIELD
 * (also one of bytes done/total without the other), TFP_ERR_WRONG_TYPE, TFP_ERR_RANGE
 * (unknown enum value, done > total, outcome/reason disagree, error not in
 * [INT32_MIN, -1]), TFP_ERR_INDEFINITE, TFP_ERR_TRUNCATED, TFP_ERR_MALFORMED,
 * TFP_ERR_TRAILING. Keeps no pointer into buf.
 */
int tfp_report_decode(const uint8_t *buf, size_t len, struct tfp_report *r);

#ifdef __cplusplus
}
#endif

#endif
