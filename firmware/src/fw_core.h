/*
 * Steps shared by the firmware images (and, for the TinyOL run, their host twin): the
 * trusted key from the embedded assets, manifest verification, the delta into a spare
 * slot, and the TinyOL replay of the embedded stream.
 */
#ifndef TINYFLEET_FW_CORE_H
#define TINYFLEET_FW_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "tinyfleet/protocol/cose_sign1.h"
#include "tinyfleet/protocol/manifest.h"

/* The spare slot the delta is applied into (RAM here; flash once the OTA port lands). */
#define FW_SLOT_BYTES (32u * 1024u)
extern uint8_t fw_slot[FW_SLOT_BYTES];

/* Fills key from the embedded key.bin. 0 or TFP_ERR_KEY. */
int fw_load_key(struct tfp_cose_key *key);

/* Applies the embedded patch to model A, in chunks of `chunk` bytes, into fw_slot.
 * Returns 0 with *len = the new image's size, or the applier's negative code. */
int fw_apply_patch(const uint8_t *patch, size_t patch_len, size_t chunk, size_t *len);

/* Replays the embedded stream through TinyOL and the drift detectors, printing per-window
 * accuracy, mean loss and every alarm. Returns 0, or a negative code on an API error. */
int fw_tinyol_run(void);

#endif
