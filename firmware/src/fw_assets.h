/* Embedded build-time assets (fw_assets.S). All live in flash for the program's life. */
#ifndef TINYFLEET_FW_ASSETS_H
#define TINYFLEET_FW_ASSETS_H

#include <stdint.h>

extern const uint8_t fw_model_a[], fw_model_b[], fw_patch_ab[], fw_manifest_b[], fw_key[],
	fw_stream[];
extern const uint32_t fw_model_a_len, fw_model_b_len, fw_patch_ab_len, fw_manifest_b_len,
	fw_key_len, fw_stream_len;

/* One stream record: 64 pixels (0..16) then the label. */
#define FW_STREAM_REC 65

#endif
