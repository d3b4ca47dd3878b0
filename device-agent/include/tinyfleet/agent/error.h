/*
 * Error codes of the device-agent core.
 *
 * Agent functions return 0 on success or a negative code: either one of the protocol's
 * (tinyfleet/protocol/error.h; e.g. TFP_ERR_ARG, or a TFP_ERR_CONTAINER_* code passed through
 * from the container reader) or one of the agent's own below, in their own range
 * -200..-249, so a code alone tells who refused. tfa_strerror() covers both.
 */
#ifndef TINYFLEET_AGENT_ERROR_H
#define TINYFLEET_AGENT_ERROR_H

#include "tinyfleet/protocol/error.h"

#ifdef __cplusplus
extern "C" {
#endif

enum tfa_err {
	TFA_ERR_BUDGET = -200,      /* model shapes exceed a compile-time budget (config.h) */
	TFA_ERR_MODEL = -201,       /* model valid but not usable for the request (no update
	                               layer, task/activation the learner does not support) */
	TFA_ERR_ARENA = -202,       /* caller's scratch arena too small or misaligned */
	TFA_ERR_BLOB = -203,        /* saved state truncated or CRC mismatch (torn write) */
	TFA_ERR_BLOB_VERSION = -204,/* saved state written by another format version */
	TFA_ERR_BLOB_MODEL = -205,  /* saved state belongs to another model */
	TFA_ERR_LABEL = -206,       /* label out of range (class index >= classes) */
	TFA_ERR_STATE = -207,       /* call out of order (learn before any predict) */
	TFA_ERR_SELFTEST = -208,    /* model outputs differ from its test vectors */
	/* the OTA core and its HAL (tinyfleet/agent/ota.h, port.h) */
	TFA_ERR_FLASH = -240,       /* flash read/write/erase failed (or power was lost) */
	TFA_ERR_OFFLINE = -241,     /* transport down: message not sent */
	TFA_ERR_NO_MODEL = -242,    /* no slot holds a valid confirmed model */
	TFA_ERR_GEOMETRY = -243,    /* flash geometry does not fit the compile-time budgets */
	TFA_ERR_COUNTER = -244,     /* persistent counter failed */
};

/* A short static description of any agent or protocol code; never NULL. */
const char *tfa_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif
