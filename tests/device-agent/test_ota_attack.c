/*
 * Attack tests on the device side. Every attack is refused (or reverted) with its own
 * reason code, and afterwards the device still runs the model it ran before: same active
 * slot, same bytes, CONFIRMED, self-test passing, anti-rollback floor unchanged.
 */
#include "ota_test_util.h"

static struct tfp_cose_signer signer, other;
static struct model_img v1, v2, v3, vbad;
static struct rig rig;
static uint8_t *snap;
static uint64_t snap_ctr[TFA_COUNTERS];
static uint64_t next_id = 1000;

static int
setup(void **state)
{
	(void)state;
	load_release_signer(&signer);
	make_other_signer(&other);
	make_model(&v1, 0, 0);
	make_model(&v2, 1, 0);
	make_model(&v3, 2, 0);
	make_model(&vbad, 3, 1);
	/* Device state for every test: v1 confirmed at sequence 5 (so an older one exists). */
	rig_open(&rig, &signer);
	assert_int_equal(tfa_ota_provision(&rig.ota, &rig.port, &rig.cfg, v1.img,
	                                   (uint32_t)v1.len, 5, "pump-anomaly", "1.0.0"), 0);
	snap = malloc(tfa_posix_image_size(&rig.px));
	assert_non_null(snap);
	tfa_posix_save(&rig.px, snap, snap_ctr);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	tfp_cose_signer_free(&signer);
	tfp_cose_signer_free(&other);
	rig_close(&rig);
	free(snap);
	return 0;
}

/* Fresh device from the snapshot. */
static void
fresh(void)
{
	tfa_posix_power_on(&rig.px);
	tfa_posix_load(&rig.px, snap, snap_ctr);
	memset(&rig.peer, 0, sizeof(rig.peer));
	rig.peer.now = &rig.px.now_ms;
	rig.cfg.speed_floor_bps = 0;
	assert_int_equal(rig_boot(&rig), 0);
}

/* The device still runs v1 from slot A, confirmed, floor 5. */
static void
assert_untouched(void)
{
	uint8_t d[TFP_DIGEST_LEN];

	assert_int_equal(rig.ota.meta.active, 0);
	assert_runs_confirmed(&rig, d);
	assert_memory_equal(d, v1.digest, TFP_DIGEST_LEN);
	assert_int_equal(rig.px.counters[TFA_COUNTER_FLOOR], 5);
	assert_int_equal(rig.ota.floor, 5);
	assert_int_equal(rig.px.violations, 0);
	/* And after a restart. */
	assert_int_equal(rig_boot(&rig), 0);
	assert_int_equal(rig.ota.meta.active, 0);
	assert_runs_confirmed(&rig, d);
	assert_memory_equal(d, v1.digest, TFP_DIGEST_LEN);
}

/* Offers and runs to the result; returns it (outcome, reason checked by the caller). */
static const struct tfp_report *
attempt(const struct signed_manifest *sm, enum tfp_fetch fetch, const uint8_t *obj,
        size_t obj_len, const uint8_t *serve, size_t serve_len, uint64_t step_ms)
{
	struct tfp_command c;
	uint64_t id = next_id++;

	offer_cmd(&c, id, sm, fetch, obj, obj_len, v1.digest);
	peer_serve(&rig, serve, serve_len);
	memcpy(rig.peer.obj_id, c.u.update.object_id, TFP_DIGEST_LEN);
	rig_command(&rig, &c);
	assert_int_equal(rig_run(&rig, id, step_ms, 20000), 0);
	return peer_result(&rig, id);
}

static void
expect(const struct tfp_report *r, enum tfp_outcome out, enum tfp_reason reason)
{
	if (r->outcome != out || r->reason != reason)
		fail_msg("got outcome %d reason %s, want outcome %d reason %s", r->outcome,
		         tfp_reason_str(r->reason), out, tfp_reason_str(reason));
}

static void
signed_for(struct signed_manifest *sm, struct tfp_cose_signer *s, const struct model_img *img,
           uint64_t seq, void (*edit)(struct tfp_manifest *))
{
	struct tfp_manifest m;

	manifest_for(&m, s, img, seq, "2.0.0");
	if (edit != NULL)
		edit(&m);
	sign_manifest(s, &m, sm);
}

static void
test_control_valid_update(void **state)
{
	struct signed_manifest sm;
	uint8_t d[TFP_DIGEST_LEN];
	(void)state;

	/* The control: the same rig accepts a correct offer. */
	fresh();
	signed_for(&sm, &signer, &v2, 6, NULL);
	expect(attempt(&sm, TFP_FETCH_FULL, v2.img, v2.len, v2.img, v2.len, 10), TFP_OUTCOME_OK,
	       TFP_REASON_CONFIRMED);
	assert_runs_confirmed(&rig, d);
	assert_memory_equal(d, v2.digest, TFP_DIGEST_LEN);
}

static void
test_unsigned_manifest(void **state)
{
	struct tfp_manifest m;
	struct signed_manifest sm, bare;
	(void)state;

	fresh();
	/* The bare payload without COSE_Sign1. */
	manifest_for(&m, &signer, &v2, 6, "2.0.0");
	assert_int_equal(tfp_manifest_encode(&m, bare.buf, sizeof(bare.buf), &bare.len), 0);
	expect(attempt(&bare, TFP_FETCH_FULL, v2.img, v2.len, v2.img, v2.len, 10),
	       TFP_OUTCOME_REFUSED, TFP_REASON_BAD_MANIFEST);
	assert_untouched();
	/* COSE_Sign1 whose signature is an empty byte string (the last item: 0x58 0x40 + 64
	 * bytes replaced by 0x40). */
	signed_for(&sm, &signer, &v2, 6, NULL);
	assert_int_equal(sm.buf[sm.len - 66], 0x58);
	assert_int_equal(sm.buf[sm.len - 65], 0x40);
	sm.buf[sm.len - 66] = 0x40;
	sm.len -= 65;
	expect(attempt(&sm, TFP_FETCH_FULL, v2.img, v2.len, v2.img, v2.len, 10),
	       TFP_OUTCOME_REFUSED, TFP_REASON_BAD_SIGNATURE);
	assert_untouched();
}

static void
test_unknown_key(void **state)
{
	struct signed_manifest sm;
	(void)state;

	fresh();
	signed_for(&sm, &other, &v2, 6, NULL);
	expect(attempt(&sm, TFP_FETCH_FULL, v2.img, v2.len, v2.img, v2.len, 10),
	       TFP_OUTCOME_REFUSED, TFP_REASON_UNKNOWN_KEY);
	assert_untouched();
}

static void
test_flipped_bit_manifest(void **state)
{
	struct signed_manifest sm, bad;
	unsigned by_reason[128] = { 0 };
	uint64_t ops;
	(void)state;

	fresh();
	signed_for(&sm, &signer, &v2, 6, NULL);
	ops = rig.px.ops;
	/* One flipped bit in every byte of the signed manifest (bit i % 8 of byte i). */
	for (size_t i = 0; i < sm.len; i++) {
		const struct tfp_report *r;
		bad = sm;
		bad.buf[i] ^= (uint8_t)(1u << (i % 8));
		rig.peer.n_reports = 0;
		r = attempt(&bad, TFP_FETCH_FULL, v2.img, v2.len, v2.img, v2.len, 10);
		assert_int_equal(r->outcome, TFP_OUTCOME_REFUSED);
		assert_true(r->reason == TFP_REASON_BAD_SIGNATURE ||
		            r->reason == TFP_REASON_BAD_MANIFEST ||
		            r->reason == TFP_REASON_UNKNOWN_KEY);
		by_reason[r->reason]++;
	}
	printf("# manifest bit flips: %zu positions refused: bad signature %u, bad manifest %u, "
	       "unknown key %u\n",
	       sm.len, by_reason[TFP_REASON_BAD_SIGNATURE], by_reason[TFP_REASON_BAD_MANIFEST],
	       by_reason[TFP_REASON_UNKNOWN_KEY]);
	assert_int_equal(rig.px.ops, ops);          /* not one flash write for a refusal */
	assert_untouched();
}

static void
test_flipped_bit_image(void **state)
{
	struct signed_manifest sm;
	static uint8_t img[TB_MAX];
	uint8_t *patch;
	size_t plen;
	unsigned full = 0, delta = 0, harmless = 0, by_reason[128] = { 0 };
	(void)state;

	fresh();
	signed_for(&sm, &signer, &v2, 6, NULL);
	/* Full image: a bit flipped at 64 positions spread over the image, first and last
	 * byte included. The offer names the real image; the peer serves the damaged one. */
	for (size_t k = 0; k < 64; k++) {
		size_t pos = k == 63 ? v2.len - 1 : k * (v2.len / 63);
		memcpy(img, v2.img, v2.len);
		img[pos] ^= (uint8_t)(1u << (k % 8));
		rig.peer.n_reports = 0;
		expect(attempt(&sm, TFP_FETCH_FULL, v2.img, v2.len, img, v2.len, 10),
		       TFP_OUTCOME_FAILED, TFP_REASON_DIGEST_MISMATCH);
		full++;
	}
	assert_untouched();
	/* Delta: a bit flipped in the patch at 64 positions. The applier's block CRC or the
	 * image digest catches it (a flip in the header may also read as another base). */
	patch = make_patch(&v1, &v2, TFP_DELTA_ENC_AUTO, &plen);
	for (size_t k = 0; k < 64; k++) {
		static uint8_t bad[TB_MAX];
		const struct tfp_report *r;
		size_t pos = k == 63 ? plen - 1 : k * (plen / 63);
		memcpy(bad, patch, plen);
		bad[pos] ^= (uint8_t)(1u << (k % 8));
		rig.peer.n_reports = 0;
		r = attempt(&sm, TFP_FETCH_DELTA, patch, plen, bad, plen, 10);
		if (r->outcome == TFP_OUTCOME_OK) {
			/* The flip hit a byte the decoder does not depend on (the informational
			 * mode byte, coder slack at a block end): the rebuilt image is exactly
			 * the signed one, as its digest proves. Not an attack that worked. */
			uint8_t d[TFP_DIGEST_LEN];
			assert_runs_confirmed(&rig, d);
			assert_memory_equal(d, v2.digest, TFP_DIGEST_LEN);
			printf("# delta flip at byte %zu of %zu still rebuilt the signed image\n", pos,
			       plen);
			harmless++;
			fresh();
			continue;
		}
		assert_int_equal(r->outcome, TFP_OUTCOME_FAILED);
		assert_true(r->reason == TFP_REASON_DELTA_CORRUPT ||
		            r->reason == TFP_REASON_DIGEST_MISMATCH ||
		            r->reason == TFP_REASON_DELTA_BASE_MISMATCH ||
		            r->reason == TFP_REASON_SIZE_EXCEEDS_SIGNED ||
		            r->reason == TFP_REASON_OFFER_MISMATCH);
		by_reason[r->reason]++;
		delta++;
	}
	printf("# image bit flips: full %u -> digest mismatch; delta %u refused -> delta corrupt "
	       "%u, digest mismatch %u, base mismatch %u, size %u, offer mismatch %u; %u flips "
	       "rebuilt the signed image exactly\n",
	       full, delta, by_reason[TFP_REASON_DELTA_CORRUPT],
	       by_reason[TFP_REASON_DIGEST_MISMATCH], by_reason[TFP_REASON_DELTA_BASE_MISMATCH],
	       by_reason[TFP_REASON_SIZE_EXCEEDS_SIGNED], by_reason[TFP_REASON_OFFER_MISMATCH],
	       harmless);
	assert_true(delta >= 48);
	free(patch);
	assert_untouched();
}

static void
test_replayed_older_manifest(void **state)
{
	struct signed_manifest sm;
	(void)state;

	fresh();
	signed_for(&sm, &signer, &v2, 4, NULL);        /* validly signed, sequence 4 < 5 */
	expect(attempt(&sm, TFP_FETCH_FULL, v2.img, v2.len, v2.img, v2.len, 10),
	       TFP_OUTCOME_REFUSED, TFP_REASON_SEQUENCE_TOO_LOW);
	signed_for(&sm, &signer, &v2, 5, NULL);        /* equal to the floor */
	expect(attempt(&sm, TFP_FETCH_FULL, v2.img, v2.len, v2.img, v2.len, 10),
	       TFP_OUTCOME_REFUSED, TFP_REASON_SEQUENCE_TOO_LOW);
	assert_untouched();
}

static void
edit_expired(struct tfp_manifest *m)
{
	m->has_expiry = true;
	m->expiry = 1790000000u - 1;                    /* the rig's clock is past it */
}

static void
edit_class(struct tfp_manifest *m)
{
	snprintf(m->device_class, sizeof(m->device_class), "esp32s3-cam");
}

static void
edit_ram(struct tfp_manifest *m)
{
	m->req.min_ram = 64u * 1024u;
}

static void
edit_flash(struct tfp_manifest *m)
{
	m->req.min_flash = (uint64_t)R_SLOT_PAGES * R_PAGE + 1;
}

static void
edit_sensor(struct tfp_manifest *m)
{
	snprintf(m->req.sensors[1], sizeof(m->req.sensors[1]), "mic");
	m->req.n_sensors = 2;
}

static void
edit_abi(struct tfp_manifest *m)
{
	m->req.agent_abi = 0x00020000u;
}

static void
test_expired_and_fit(void **state)
{
	static const struct {
		void (*edit)(struct tfp_manifest *);
		enum tfp_reason reason;
	} cases[] = {
		{ edit_expired, TFP_REASON_EXPIRED },     { edit_class, TFP_REASON_WRONG_CLASS },
		{ edit_ram, TFP_REASON_NO_RAM },          { edit_flash, TFP_REASON_NO_FLASH },
		{ edit_sensor, TFP_REASON_MISSING_SENSOR }, { edit_abi, TFP_REASON_ABI_MISMATCH },
	};
	struct signed_manifest sm;
	(void)state;

	fresh();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		signed_for(&sm, &signer, &v2, 6, cases[i].edit);
		expect(attempt(&sm, TFP_FETCH_FULL, v2.img, v2.len, v2.img, v2.len, 10),
		       TFP_OUTCOME_REFUSED, cases[i].reason);
	}
	assert_untouched();
}

static void
test_digest_mismatch(void **state)
{
	struct signed_manifest sm;
	uint8_t *patch;
	size_t plen;
	(void)state;

	fresh();
	/* A well-formed, self-consistent image of the same size that is not the signed one,
	 * shipped whole (the offer's object id names it, not the manifest's digest) ... */
	assert_int_equal(v3.len, v2.len);
	signed_for(&sm, &signer, &v2, 6, NULL);
	expect(attempt(&sm, TFP_FETCH_FULL, v3.img, v3.len, v3.img, v3.len, 10),
	       TFP_OUTCOME_REFUSED, TFP_REASON_OFFER_MISMATCH);
	/* ... and as a packed image (no object id to compare): rebuilt, then refused. */
	patch = make_patch(&v1, &v3, TFP_DELTA_MODE_FULL, &plen);
	expect(attempt(&sm, TFP_FETCH_PACKED, patch, plen, patch, plen, 10), TFP_OUTCOME_FAILED,
	       TFP_REASON_DIGEST_MISMATCH);
	free(patch);
	assert_untouched();
}

static void
test_endless_data(void **state)
{
	struct signed_manifest sm;
	uint8_t *patch;
	size_t plen;
	static struct model_img big;
	(void)state;

	fresh();
	signed_for(&sm, &signer, &v2, 6, NULL);
	/* The offer itself announces more than the signed size. */
	expect(attempt(&sm, TFP_FETCH_FULL, v2.img, v2.len + 1, v2.img, v2.len, 10),
	       TFP_OUTCOME_REFUSED, TFP_REASON_SIZE_EXCEEDS_SIGNED);
	/* The server streams on past the end (responses announce a 16 MB object). */
	rig.peer.endless = 1;
	rig.peer.claim_total = 16u << 20;
	expect(attempt(&sm, TFP_FETCH_FULL, v2.img, v2.len, v2.img, v2.len, 10),
	       TFP_OUTCOME_FAILED, TFP_REASON_SIZE_EXCEEDS_SIGNED);
	rig.peer.endless = 0;
	rig.peer.claim_total = 0;
	/* A patch that rebuilds a larger image than the manifest signs. */
	big = v2;
	assert_true(v2.len + 256 <= sizeof(big.img));
	memset(big.img + v2.len, 0, 256);
	big.len = v2.len + 256;
	patch = make_patch(&v1, &big, TFP_DELTA_ENC_AUTO, &plen);
	expect(attempt(&sm, TFP_FETCH_DELTA, patch, plen, patch, plen, 10), TFP_OUTCOME_FAILED,
	       TFP_REASON_SIZE_EXCEEDS_SIGNED);
	free(patch);
	/* A patch object larger than a patch for this image may be. */
	{
		static uint8_t huge[TB_MAX * 2];
		size_t hlen = (size_t)TFA_OTA_PATCH_MAX(v2.len) + 1;
		assert_true(hlen <= sizeof(huge));
		expect(attempt(&sm, TFP_FETCH_PACKED, huge, hlen, huge, hlen, 10),
		       TFP_OUTCOME_REFUSED, TFP_REASON_SIZE_EXCEEDS_SIGNED);
	}
	assert_untouched();
}

static void
test_slow_retrieval(void **state)
{
	struct signed_manifest sm;
	(void)state;

	fresh();
	rig.cfg.speed_floor_bps = 1000;               /* 1 KB/s over 10 s windows */
	rig.cfg.speed_window_ms = 10000;
	assert_int_equal(rig_boot(&rig), 0);
	signed_for(&sm, &signer, &v2, 6, NULL);
	/* 512-byte chunks, one per second: half the floor, never a stall. */
	rig.peer.delay_ms = 1000;
	expect(attempt(&sm, TFP_FETCH_FULL, v2.img, v2.len, v2.img, v2.len, 100), TFP_OUTCOME_FAILED,
	       TFP_REASON_DOWNLOAD_TOO_SLOW);
	/* A server that stops answering: stalled after the retries. */
	rig.peer.delay_ms = 0;
	rig.peer.mute = 1;
	expect(attempt(&sm, TFP_FETCH_FULL, v2.img, v2.len, v2.img, v2.len, 100), TFP_OUTCOME_FAILED,
	       TFP_REASON_DOWNLOAD_STALLED);
	rig.peer.mute = 0;
	/* At twice the floor the same download completes. */
	rig.peer.delay_ms = 250;
	expect(attempt(&sm, TFP_FETCH_FULL, v2.img, v2.len, v2.img, v2.len, 50), TFP_OUTCOME_OK,
	       TFP_REASON_CONFIRMED);
	rig.peer.delay_ms = 0;
	rig.cfg.speed_floor_bps = 0;
}

static void
test_selftest_fails(void **state)
{
	struct signed_manifest sm;
	(void)state;

	fresh();
	signed_for(&sm, &signer, &vbad, 6, NULL);
	expect(attempt(&sm, TFP_FETCH_FULL, vbad.img, vbad.len, vbad.img, vbad.len, 10),
	       TFP_OUTCOME_REVERTED, TFP_REASON_SELFTEST_FAILED);
	assert_int_equal(rig.ota.meta.slot[1].state, TFP_SLOT_FAILED);
	assert_untouched();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_control_valid_update),
		cmocka_unit_test(test_unsigned_manifest),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_flipped_bit_manifest),
		cmocka_unit_test(test_flipped_bit_image),
		cmocka_unit_test(test_replayed_older_manifest),
		cmocka_unit_test(test_expired_and_fit),
		cmocka_unit_test(test_digest_mismatch),
		cmocka_unit_test(test_endless_data),
		cmocka_unit_test(test_slow_retrieval),
		cmocka_unit_test(test_selftest_fails),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
