/*
 * The update flow's scripted gateway and device setup, shared by fw_ota.elf and
 * fw_agent.elf (built only when the OTA state machine is in the tree). The gateway side
 * lives in this process: the port's send/recv hand messages to it directly.
 */
#ifndef TINYFLEET_FW_GW_H
#define TINYFLEET_FW_GW_H

#include <stddef.h>
#include <stdint.h>

#include "tinyfleet/agent/ota.h"

#define FW_GW_SLOT_PAGES 32u     /* 64 KB per slot; metadata in pages 0-1 */
#define FW_GW_CHUNK 512u

/* Board HAL + gateway transport into *port, layout and profile into *cfg (key and arena
 * borrowed), slot A provisioned with model A (sequence 1), then tfa_ota_init. 0 or the
 * first error. */
int fw_gw_boot(struct tfa_ota *o, struct tfa_port *port, struct tfa_ota_config *cfg,
               const struct tfp_cose_key *key, uint8_t *arena, size_t arena_len);

/* The offer of model B as a delta from model A, with B's signed manifest. */
void fw_gw_offer_b(struct tfp_command *c, uint64_t id);

/* Sends c to the device and polls until its result arrives: 0 (result in *res), -1. */
int fw_gw_run(struct tfa_ota *o, const struct tfp_command *c, struct tfp_report *res);

/* Chunks served so far. */
uint32_t fw_gw_chunks(void);

#endif
