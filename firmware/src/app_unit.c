/*
 * Firmware image: the core's checks on the target. Exits 0 only if every check passes.
 * Each check asserts what a device relies on: CBOR round trip and a malformed-input code,
 * the drift detectors on a step change, both models' self-test vectors, TinyOL learning and
 * its saved state, manifest verification (good, tampered, wrong key), and the delta from
 * model A to model B rebuilt in the spare slot with the manifest's digest.
 */
#include <string.h>

#include <mbedtls/memory_buffer_alloc.h>
#include <mbedtls/sha256.h>

#include "flash.h"
#include "fw_assets.h"
#include "fw_core.h"
#include "fw_out.h"
#include "fw_target.h"
#include "tinyfleet/agent/drift.h"
#include "tinyfleet/agent/infer.h"
#include "tinyfleet/agent/tinyol.h"
#include "tinyfleet/delta/apply.h"
#include "tinyfleet/protocol/cbor_io.h"

int main(void);

static uint32_t arena[1024 / 4];

static void
check_cbor(void)
{
	uint8_t buf[32];
	struct tfp_cbor_writer w;
	struct tfp_cbor_reader r;
	uint64_t u = 0;
	int64_t i = 0;
	size_t len = 0, n = 0;
	const char *t = NULL;
	static const uint8_t truncated[] = {0x1a, 0x00, 0x01};     /* uint32 cut short */

	tfp_cbor_writer_init(&w, buf, sizeof(buf));
	tfp_cbor_put_array(&w, 3);
	tfp_cbor_put_uint(&w, 100000);
	tfp_cbor_put_int(&w, -7);
	tfp_cbor_put_textz(&w, "m4");
	fw_check(tfp_cbor_writer_finish(&w, &len) == 0 && len == 1 + 5 + 1 + 3,
	         "cbor-encode");
	tfp_cbor_reader_init(&r, buf, len);
	fw_check(tfp_cbor_read_array(&r, &n) == 0 && n == 3 && tfp_cbor_read_uint(&r, &u) == 0 &&
	                 u == 100000 && tfp_cbor_read_int(&r, &i) == 0 && i == -7 &&
	                 tfp_cbor_read_text(&r, &t, &n) == 0 && n == 2 && memcmp(t, "m4", 2) == 0 &&
	                 tfp_cbor_expect_end(&r) == 0,
	         "cbor-decode");
	tfp_cbor_reader_init(&r, truncated, sizeof(truncated));
	fw_check(tfp_cbor_read_uint(&r, &u) == TFP_ERR_TRUNCATED, "cbor-truncated");
}

static void
check_drift(void)
{
	static struct tfa_ph ph;
	static struct tfa_adwin ad;
	static struct tfa_ddm ddm;
	uint32_t ph_at = 0, ad_at = 0, ddm_at = 0;

	tfa_ph_init(&ph, NULL);
	tfa_adwin_init(&ad, NULL);
	tfa_ddm_init(&ddm, NULL);
	/* Error rate 10 % for 1000 samples, then 60 %: every detector must fire after 1000. */
	for (uint32_t t = 0; t < 2000; t++) {
		int err = t < 1000 ? (t % 10 == 0) : (t % 5 < 3);
		if (tfa_ph_update(&ph, (float)err) > 0 && ph_at == 0)
			ph_at = t;
		if (tfa_adwin_update(&ad, (float)err) > 0 && ad_at == 0)
			ad_at = t;
		if (tfa_ddm_update(&ddm, err) > 0 && ddm_at == 0)
			ddm_at = t;
	}
	fw_check(ph_at >= 1000 && ph_at < 1300, "drift-page-hinkley");
	fw_check(ad_at >= 1000 && ad_at < 1300, "drift-adwin");
	fw_check(ddm_at >= 1000 && ddm_at < 1300, "drift-ddm");
}

static void
check_model(void)
{
	static struct tfa_model m;
	static struct tfa_tinyol t;
	static uint8_t blob[4096];
	float err = -1.0f, before, after;
	size_t w = 0;
	float x[64];

	fw_check(tfa_model_open(&m, fw_model_a, fw_model_a_len) == 0, "model-a-open");
	fw_check(tfa_selftest(&m, (uint8_t *)arena, sizeof(arena), &err) == 0, "model-a-selftest");
	fw_check(tfa_model_open(&m, fw_model_a, 100) == TFP_ERR_CONTAINER_SIZE,
	         "model-truncated");
	/* TinyOL: repeated SGD steps on one labelled sample lower its loss. */
	fw_check(tfa_model_open(&m, fw_model_a, fw_model_a_len) == 0 &&
	                 tfa_tinyol_init(&t, &m, NULL) == 0,
	         "tinyol-init");
	for (unsigned i = 0; i < 64; i++)
		x[i] = (float)fw_stream[i];
	(void)tfa_tinyol_predict(&t, x, (uint8_t *)arena, sizeof(arena), NULL);
	(void)tfa_tinyol_learn_class(&t, (fw_stream[64] + 1) % 10);    /* a wrong label */
	before = t.last_loss;
	for (int k = 0; k < 20; k++) {
		(void)tfa_tinyol_predict(&t, x, (uint8_t *)arena, sizeof(arena), NULL);
		(void)tfa_tinyol_learn_class(&t, (fw_stream[64] + 1) % 10);
	}
	after = t.last_loss;
	fw_check(after < before && tfa_tinyol_argmax(&t) == (fw_stream[64] + 1) % 10u,
	         "tinyol-learns");
	fw_check(tfa_tinyol_save(&t, blob, sizeof(blob), &w) == 0 &&
	                 tfa_tinyol_restore(&t, blob, w) == 0,
	         "tinyol-save-restore");
	blob[w / 2] ^= 0x40;
	fw_check(tfa_tinyol_restore(&t, blob, w) == TFA_ERR_BLOB, "tinyol-corrupt-blob");
}

static void
check_update(void)
{
	static struct tfp_manifest man;
	static uint8_t tampered[1024];
	static struct tfa_model m;
	struct tfp_cose_key key, other;
	uint8_t digest[32];
	size_t len = 0;
	float err = -1.0f;

	mbedtls_memory_buffer_alloc_init(fw_mbedtls_heap, sizeof(fw_mbedtls_heap));
	fw_check(fw_load_key(&key) == 0, "key-load");
	fw_check(tfp_manifest_verify(fw_manifest_b, fw_manifest_b_len, &key, 1, 0, &man) == 0 &&
	                 man.sequence == 2 && man.image_size == fw_model_b_len,
	         "manifest-verify");
	/* The signature is the last 64 bytes of the message. */
	if (fw_manifest_b_len <= sizeof(tampered)) {
		memcpy(tampered, fw_manifest_b, fw_manifest_b_len);
		tampered[fw_manifest_b_len - 10] ^= 0x01;
		fw_check(tfp_manifest_verify(tampered, fw_manifest_b_len, &key, 1, 0, &man) ==
		                 TFP_ERR_BAD_SIGNATURE,
		         "manifest-bad-signature");
	}
	other = key;
	other.kid[0] ^= 0x01;
	fw_check(tfp_manifest_verify(fw_manifest_b, fw_manifest_b_len, &other, 1, 0, &man) ==
	                 TFP_ERR_UNKNOWN_KEY,
	         "manifest-unknown-key");
	(void)tfp_manifest_verify(fw_manifest_b, fw_manifest_b_len, &key, 1, 0, &man);
	/* Delta A -> B into the spare slot, then B's digest from the manifest. */
	fw_check(fw_apply_patch(fw_patch_ab, fw_patch_ab_len, 256, &len) == 0 &&
	                 len == fw_model_b_len && memcmp(fw_slot, fw_model_b, len) == 0,
	         "delta-apply");
	fw_check(mbedtls_sha256_ret(fw_slot, len, digest, 0) == 0 &&
	                 memcmp(digest, man.digest, sizeof(digest)) == 0,
	         "delta-digest-matches-manifest");
	fw_check(tfa_model_open(&m, fw_slot, len) == 0 &&
	                 tfa_selftest(&m, (uint8_t *)arena, sizeof(arena), &err) == 0,
	         "model-b-selftest");
	fw_check(fw_apply_patch(fw_patch_ab, fw_patch_ab_len / 2, 256, &len) ==
	                 TFP_ERR_DELTA_TRUNCATED,
	         "delta-truncated");
	mbedtls_memory_buffer_alloc_free();
}

/* The board's flash rules, then model B installed into a flash slot page by page and run
 * in place from the mapped flash (weights are read where they lie). */
static void
check_flash(void)
{
	static struct tfa_model m;
	static uint8_t page[TFA_BOARD_FLASH_PAGE];
	const uint32_t slot = 64 * TFA_BOARD_FLASH_PAGE;      /* the upper half */
	uint8_t probe[8] = {1, 2, 3, 4, 5, 6, 7, 8}, back[8];
	struct tfa_board_flash_stats st;
	float err = -1.0f;
	int ok = 1;

	tfa_board_flash_init();
	fw_check(tfa_board_flash_read(NULL, 0, back, 8) == 0 && back[0] == 0xFF && back[7] == 0xFF,
	         "flash-erased-reads-ff");
	fw_check(tfa_board_flash_write(NULL, 0, probe, 8) == 0 &&
	                 tfa_board_flash_write(NULL, 0, probe, 8) == -1,
	         "flash-no-write-over-programmed");
	fw_check(tfa_board_flash_write(NULL, 12, probe, 8) == -1 &&
	                 tfa_board_flash_write(NULL, 16, probe, 5) == -1,
	         "flash-alignment-enforced");
	fw_check(tfa_board_flash_erase(NULL, 0) == 0 && tfa_board_flash_read(NULL, 0, back, 8) == 0 &&
	                 back[0] == 0xFF && tfa_board_flash_erase(NULL, TFA_BOARD_FLASH_PAGES) == -1,
	         "flash-page-erase");
	for (uint32_t off = 0; off < fw_model_b_len && ok; off += TFA_BOARD_FLASH_PAGE) {
		uint32_t n = fw_model_b_len - off < TFA_BOARD_FLASH_PAGE ? fw_model_b_len - off
		                                                          : TFA_BOARD_FLASH_PAGE;
		uint32_t padded = (n + TFA_BOARD_FLASH_ALIGN - 1) & ~(TFA_BOARD_FLASH_ALIGN - 1);
		memset(page, TFA_BOARD_FLASH_ERASED, sizeof(page));
		memcpy(page, fw_slot + off, n);
		ok = tfa_board_flash_erase(NULL, (slot + off) / TFA_BOARD_FLASH_PAGE) == 0 &&
		     tfa_board_flash_write(NULL, slot + off, page, padded) == 0;
	}
	fw_check(ok && tfa_model_open(&m, tfa_board_flash_map(NULL, slot, fw_model_b_len),
	                              fw_model_b_len) == 0 &&
	                 tfa_selftest(&m, (uint8_t *)arena, sizeof(arena), &err) == 0,
	         "flash-slot-install-and-run-in-place");
	tfa_board_flash_stats(&st);
	fw_check(st.erases == 7 && st.refused == 4, "flash-operation-counts");
}

int
main(void)
{
	fw_str("fw-unit: Cortex-M4 checks of the agent core\n");
	check_cbor();
	check_drift();
	check_model();
	check_update();
	check_flash();
	fw_str(fw_failures == 0 ? "fw-unit: all checks passed\n" : "fw-unit: FAILED\n");
	return fw_failures == 0 ? 0 : 1;
}
