/*
 * Firmware image: the full update flow through the agent's OTA state machine on the
 * board's flash. Slot A is provisioned with model A (sequence 1); the scripted gateway
 * (fw_gw.c) offers model B as a delta with its signed manifest and serves the patch in
 * chunks; the agent verifies the manifest, applies the delta into the spare slot, checks
 * the digest, activates, self-tests and confirms. A repeated command id is refused, and a
 * rollback command returns to slot A. Exits 0 only if every check passes. Under
 * `-icount shift=0` the printed instruction count of the update is exact.
 */
#include <string.h>

#include <mbedtls/memory_buffer_alloc.h>
#include <mbedtls/sha256.h>

#include "board.h"
#include "flash.h"
#include "fw_assets.h"
#include "fw_core.h"
#include "fw_gw.h"
#include "fw_out.h"
#include "fw_target.h"

int main(void);

static struct tfa_ota ota;
static struct tfa_port port;
static struct tfa_ota_config cfg;
static uint32_t arena[8192 / 4];

/* SHA-256 of the active slot's image, read in place. */
static int
active_digest(uint8_t out[TFP_DIGEST_LEN])
{
	const struct tfa_ota_slot *s = &ota.meta.slot[ota.meta.active];
	const uint8_t *img = tfa_board_flash_map(NULL, ota.cfg.slot_page[ota.meta.active] *
	                                                   TFA_BOARD_FLASH_PAGE, s->size);

	return img != NULL ? mbedtls_sha256_ret(img, s->size, out, 0) : -1;
}

int
main(void)
{
	struct tfp_cose_key key;
	struct tfp_command c, rb;
	struct tfp_report res;
	uint8_t d[TFP_DIGEST_LEN], da[TFP_DIGEST_LEN], db[TFP_DIGEST_LEN];
	uint64_t t0, ticks;
	float err = -1.0f;

	fw_str("fw-ota: full update flow on the board flash\n");
	mbedtls_memory_buffer_alloc_init(fw_mbedtls_heap, sizeof(fw_mbedtls_heap));
	if (!fw_check(fw_load_key(&key) == 0, "key"))
		return 1;
	(void)mbedtls_sha256_ret(fw_model_a, fw_model_a_len, da, 0);
	(void)mbedtls_sha256_ret(fw_model_b, fw_model_b_len, db, 0);
	fw_check(fw_gw_boot(&ota, &port, &cfg, &key, (uint8_t *)arena, sizeof(arena)) == 0,
	         "provision-and-boot-on-A");
	fw_check(active_digest(d) == 0 && memcmp(d, da, sizeof(d)) == 0, "running-A");

	fw_gw_offer_b(&c, 100);
	t0 = tfa_board_ticks();
	fw_check(fw_gw_run(&ota, &c, &res) == 0 && res.outcome == TFP_OUTCOME_OK,
	         "update-delta-verified-applied-selftested-confirmed");
	ticks = tfa_board_ticks() - t0;
	fw_check(ota.meta.active == 1 && ota.meta.slot[1].state == TFP_SLOT_CONFIRMED &&
	                 ota.meta.slot[1].sequence == 2,
	         "slot-B-active-and-confirmed");
	fw_check(active_digest(d) == 0 && memcmp(d, db, sizeof(d)) == 0, "running-B-digest");
	fw_check(tfa_selftest(tfa_ota_model(&ota), (uint8_t *)arena, sizeof(arena), &err) == 0,
	         "running-B-selftest");
	fw_str("bench update_chunks=");
	fw_u64(fw_gw_chunks());
	fw_str("\nbench insns_full_update=");
	fw_u64(ticks * 40u);
	fw_str("\nbench ram_struct_tfa_ota=");
	fw_u64(sizeof(struct tfa_ota));
	fw_str("\n");

	/* A repeated command id is refused, not carried out again. */
	fw_check(fw_gw_run(&ota, &c, &res) == 0 && res.outcome == TFP_OUTCOME_REFUSED &&
	                 ota.meta.active == 1,
	         "duplicate-command-refused");

	/* Rollback: back to the previous confirmed slot, no new image. */
	memset(&rb, 0, sizeof(rb));
	rb.type = TFP_MSG_ROLLBACK;
	rb.command_id = 101;
	fw_check(fw_gw_run(&ota, &rb, &res) == 0 && res.outcome == TFP_OUTCOME_OK &&
	                 ota.meta.active == 0,
	         "rollback-to-A");
	fw_check(active_digest(d) == 0 && memcmp(d, da, sizeof(d)) == 0 &&
	                 tfa_selftest(tfa_ota_model(&ota), (uint8_t *)arena, sizeof(arena), &err) ==
	                         0,
	         "running-A-after-rollback");
	mbedtls_memory_buffer_alloc_free();
	fw_str(fw_failures == 0 ? "fw-ota: all checks passed\n" : "fw-ota: FAILED\n");
	return fw_failures == 0 ? 0 : 1;
}
