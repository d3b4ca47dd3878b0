/*
 * fuzz_ota: untrusted messages into the OTA state machine of a provisioned device.
 *
 * Input: a sequence of records [channel u8][length u16 LE][bytes]: channel bit 0 selects a
 * command (0) or a chunk response (1). Each record goes to tfa_ota_handle, then the device
 * polls with its clock 100 ms later. After the input, the device restarts: it must boot
 * (tfa_ota_init = 0) on a CONFIRMED slot whose bytes hash to its digest, and the flash must
 * never have seen a write over programmed bytes. Anything else aborts.
 *
 * The device runs the OTA tests' model v1 (built at start-up by the tests' builder) and pins
 * the committed test release key, so the seeds (tests/fuzz/corpus/ota/, written by
 * `ota-model-tool --fuzz-seeds DIR`) carry validly signed offers whose chunks the fuzzer can
 * then mutate.
 */
#include "../device-agent/ota_test_util.h"

static struct tfp_cose_signer signer;
static struct model_img v1;
static struct rig rig;
static uint8_t *snap;
static uint64_t snap_ctr[TFA_COUNTERS];

static int
sink(void *user, enum tfa_chan ch, const uint8_t *buf, size_t len)
{
	(void)user;
	(void)ch;
	(void)buf;
	(void)len;
	return 0;
}

static void
init_once(void)
{
	if (snap != NULL)
		return;
	load_release_signer(&signer);
	make_model(&v1, 0, 0);
	rig_open(&rig, &signer);
	rig.px.send = sink;
	rig.px.recv = NULL;
	if (tfa_ota_provision(&rig.ota, &rig.port, &rig.cfg, v1.img, (uint32_t)v1.len, 1,
	                      "pump-anomaly", "1.0.0") != 0)
		abort();
	snap = malloc(tfa_posix_image_size(&rig.px));
	if (snap == NULL)
		abort();
	tfa_posix_save(&rig.px, snap, snap_ctr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct tfa_ota_meta *m;
	uint8_t d[TFP_DIGEST_LEN];
	size_t off = 0;

	init_once();
	tfa_posix_power_on(&rig.px);
	tfa_posix_load(&rig.px, snap, snap_ctr);
	if (rig_boot(&rig) != 0)
		abort();
	while (size - off >= 3) {
		uint8_t ch = data[off];
		size_t len = (size_t)data[off + 1] | (size_t)data[off + 2] << 8;
		off += 3;
		if (len > size - off)
			len = size - off;
		(void)tfa_ota_handle(&rig.ota, (ch & 1u) ? TFA_CHAN_CHUNK_RESP : TFA_CHAN_CMD,
		                     data + off, len);
		off += len;
		rig.px.now_ms += 100;
		(void)tfa_ota_poll(&rig.ota);
	}
	/* Restart: a valid confirmed model, and flash used by the rules. */
	if (rig_boot(&rig) != 0 || rig.px.violations != 0)
		abort();
	m = &rig.ota.meta;
	if (m->slot[m->active].state != TFP_SLOT_CONFIRMED)
		abort();
	running_digest(&rig, d);
	if (memcmp(d, m->slot[m->active].digest, TFP_DIGEST_LEN) != 0)
		abort();
	return 0;
}
