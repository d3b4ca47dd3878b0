/*
 * Power-cut test in the style of MCUboot's simulator. The posix flash numbers every write,
 * erase and counter raise; "power fails" during operation i (the operation is torn: a
 * random prefix done, one garbage byte) and every later one fails until the device
 * restarts. After every cut the device must boot on a valid confirmed model (active slot
 * CONFIRMED, bytes hashing to the recorded digest, container passing its self-test), and
 * when the gateway offers the update again it must finish it.
 *
 *   1. delta update v1 -> v2: a cut at every operation i = 1..N of the whole update
 *      (check, fetch + apply, verify, activate, self-test, confirm);
 *      and the same for a full-image update;
 *   2. rollback command (v2 -> v1): a cut at every operation;
 *   3. an update whose self-test fails (revert): a cut at every operation;
 *   4. random: >= 1,000 cuts at random operations, several per run.
 * The counts and outcomes are printed; any device that does not come up on a confirmed
 * model is counted as bricked and fails the test.
 */
#include "ota_test_util.h"

static struct tfp_cose_signer signer;
static struct model_img v1, v2, vbad;
static struct signed_manifest sm2, smbad;
static uint8_t *patch2, *patchbad;
static size_t patch2_len, patchbad_len;
static uint8_t *snap0, *snap2;
static uint64_t ctr0[TFA_COUNTERS], ctr2[TFA_COUNTERS];
static struct rig rig;

struct tally {
	unsigned fired;        /* cuts that happened */
	unsigned bricked;      /* restarts without a valid confirmed model */
	unsigned on_old;       /* restarted on the old model, nothing pending */
	unsigned resumable;    /* restarted with a download to resume */
	unsigned reverted;     /* restarted after reverting an unconfirmed activation */
	unsigned on_new;       /* restarted on the new model already confirmed */
	unsigned reoffers;     /* offers sent after a restart */
	unsigned finished;     /* runs that ended with the target confirmed */
};

static int
setup(void **state)
{
	struct tfp_manifest m;
	(void)state;

	load_release_signer(&signer);
	make_model(&v1, 0, 0);
	make_model(&v2, 1, 0);
	make_model(&vbad, 3, 1);
	manifest_for(&m, &signer, &v2, 2, "1.1.0");
	sign_manifest(&signer, &m, &sm2);
	manifest_for(&m, &signer, &vbad, 3, "1.2.0");
	sign_manifest(&signer, &m, &smbad);
	patch2 = make_patch(&v1, &v2, TFP_DELTA_ENC_AUTO, &patch2_len);
	patchbad = make_patch(&v2, &vbad, TFP_DELTA_ENC_AUTO, &patchbad_len);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	tfp_cose_signer_free(&signer);
	free(patch2);
	free(patchbad);
	free(snap0);
	free(snap2);
	return 0;
}

static void
peer_reset(struct rig *r)
{
	r->peer.have_req = 0;
	r->peer.cmd_pending = 0;
	r->peer.n_reports = 0;
}

/* Checks without asserting: the device runs a valid confirmed model. */
static int
runs_confirmed(struct rig *r)
{
	const struct tfa_ota_meta *m = &r->ota.meta;
	uint8_t d[TFP_DIGEST_LEN];

	if (m->slot[m->active].state != TFP_SLOT_CONFIRMED)
		return 0;
	running_digest(r, d);
	if (memcmp(d, m->slot[m->active].digest, TFP_DIGEST_LEN) != 0)
		return 0;
	if (memcmp(d, v1.digest, TFP_DIGEST_LEN) != 0 && memcmp(d, v2.digest, TFP_DIGEST_LEN) != 0)
		return 0;
	return tfa_selftest(tfa_ota_model(&r->ota), r->arena, sizeof(r->arena), NULL) == 0;
}

/* Power returns; the device boots. Classifies what it found. */
static void
restart(struct rig *r, struct tally *t, const uint8_t *new_digest)
{
	int rc;

	tfa_posix_power_on(&r->px);
	peer_reset(r);
	rc = rig_boot(r);
	if (rc != 0 || !runs_confirmed(r)) {
		t->bricked++;
		fail_msg("cut at op %llu: device bricked (init %d)", (unsigned long long)r->px.ops,
		         rc);
	}
	if (r->ota.meta.job.stage == TFA_OTA_JOB_FETCH)
		t->resumable++;
	else if (r->ota.q_count > 0 || r->peer.n_reports > 0)
		t->reverted++;           /* boot queued a REVERTED result */
	else if (new_digest != NULL &&
	         memcmp(r->ota.meta.slot[r->ota.meta.active].digest, new_digest,
	                TFP_DIGEST_LEN) == 0)
		t->on_new++;
	else
		t->on_old++;
}

enum drive { DRIVE_DONE, DRIVE_POWER };

/*
 * Offers (or re-offers) a command until it has a final result. A result that says the
 * command was already carried out (DUPLICATE) or was reverted by a restart leads to a new
 * command id, as a gateway would do.
 */
static enum drive
drive(struct rig *r, struct tfp_command *c, uint64_t *next_id, struct tally *t,
      enum tfp_reason want, const uint8_t *target)
{
	for (int attempt = 0; attempt < 20; attempt++) {
		const struct tfp_report *res;
		int rc;

		rig_command(r, c);
		t->reoffers++;
		rc = rig_run(r, c->command_id, 10, 5000);
		if (rc == TFA_ERR_FLASH || rc == TFA_ERR_COUNTER)
			return DRIVE_POWER;
		assert_int_equal(rc, 0);
		res = peer_result(r, c->command_id);
		if (res->reason == want)
			return DRIVE_DONE;
		if (res->reason == TFP_REASON_DUPLICATE ||
		    res->reason == TFP_REASON_CRASH_BEFORE_CONFIRM) {
			uint8_t d[TFP_DIGEST_LEN];
			/* Carried out before the cut: the device already runs the target (and
			 * its floor may forbid offering the same sequence again). */
			running_digest(r, d);
			if (res->reason == TFP_REASON_DUPLICATE &&
			    memcmp(d, target, TFP_DIGEST_LEN) == 0 &&
			    r->ota.meta.slot[r->ota.meta.active].state == TFP_SLOT_CONFIRMED)
				return DRIVE_DONE;
			c->command_id = (*next_id)++;
			continue;
		}
		fail_msg("command %llu ended with %s (error %d)",
		         (unsigned long long)c->command_id, tfp_reason_str(res->reason), res->error);
	}
	fail_msg("no final result after 20 offers");
	return DRIVE_DONE;
}

static void
load(struct rig *r, const uint8_t *img, const uint64_t *ctr)
{
	tfa_posix_power_on(&r->px);
	tfa_posix_load(&r->px, img, ctr);
	r->px.ops = 0;
	r->px.cut_at = 0;
	peer_reset(r);
	assert_int_equal(rig_boot(r), 0);
}

/* One run of `c` from the snapshot with the cuts chosen by next_cut (0: no more). */
typedef uint64_t (*next_cut_fn)(struct rig *r, unsigned k, void *arg);

static void
run_with_cuts(struct rig *r, const uint8_t *img, const uint64_t *ctr, struct tfp_command *c0,
              enum tfp_reason want, const uint8_t *target, next_cut_fn next_cut, void *arg,
              struct tally *t)
{
	struct tfp_command c = *c0;
	uint64_t next_id = c0->command_id + 1000;
	unsigned k = 0;
	uint8_t d[TFP_DIGEST_LEN];

	load(r, img, ctr);
	r->px.cut_at = next_cut(r, k++, arg);
	for (;;) {
		const struct tfp_report *res;
		int claimed;
		if (drive(r, &c, &next_id, t, want, target) == DRIVE_DONE)
			break;
		t->fired++;
		/* A result sent before the cut is a promise: the restarted device keeps it. */
		res = peer_result(r, c.command_id);
		claimed = res != NULL && res->reason == want;
		restart(r, t, target);
		if (claimed) {
			running_digest(r, d);
			assert_memory_equal(d, target, TFP_DIGEST_LEN);
		}
		r->px.cut_at = next_cut(r, k++, arg);
	}
	t->finished++;
	assert_true(runs_confirmed(r));
	running_digest(r, d);
	assert_memory_equal(d, target, TFP_DIGEST_LEN);
	assert_int_equal(r->px.violations, 0);
	/* A restart now comes up on the same model. */
	tfa_posix_power_on(&r->px);
	r->px.cut_at = 0;
	assert_int_equal(rig_boot(r), 0);
	running_digest(r, d);
	assert_memory_equal(d, target, TFP_DIGEST_LEN);
}

static uint64_t
cut_once(struct rig *r, unsigned k, void *arg)
{
	(void)r;
	return k == 0 ? *(uint64_t *)arg : 0;
}

static uint64_t
cut_never(struct rig *r, unsigned k, void *arg)
{
	(void)r;
	(void)k;
	(void)arg;
	return 0;
}

struct random_cuts {
	uint32_t seed;
	unsigned per_run;
	uint64_t span;
};

static uint64_t
cut_random(struct rig *r, unsigned k, void *arg)
{
	struct random_cuts *rc = arg;

	if (k >= rc->per_run)
		return 0;
	return r->px.ops + 1 + lcg(&rc->seed) % rc->span;
}

static void
print_tally(const char *what, uint64_t n, const struct tally *t)
{
	printf("# %-26s cut points %4llu, cuts %4u: bricked %u | restarted on old %u, "
	       "resumable download %u, reverted %u, on new %u | finished %u\n",
	       what, (unsigned long long)n, t->fired, t->bricked, t->on_old, t->resumable,
	       t->reverted, t->on_new, t->finished);
}

static void
make_snapshots(void)
{
	struct tfp_command c;
	struct tally t;
	size_t size;

	rig_open(&rig, &signer);
	assert_int_equal(tfa_ota_provision(&rig.ota, &rig.port, &rig.cfg, v1.img,
	                                   (uint32_t)v1.len, 1, "pump-anomaly", "1.0.0"), 0);
	size = tfa_posix_image_size(&rig.px);
	snap0 = malloc(size);
	snap2 = malloc(size);
	assert_non_null(snap0);
	assert_non_null(snap2);
	tfa_posix_save(&rig.px, snap0, ctr0);
	memset(&t, 0, sizeof(t));
	offer_cmd(&c, 1, &sm2, TFP_FETCH_DELTA, patch2, patch2_len, v1.digest);
	peer_serve(&rig, patch2, patch2_len);
	run_with_cuts(&rig, snap0, ctr0, &c, TFP_REASON_CONFIRMED, v2.digest, cut_never, NULL,
	              &t);
	tfa_posix_save(&rig.px, snap2, ctr2);
}

/* Operations of an uninterrupted run of c from a snapshot. */
static uint64_t
count_ops(const uint8_t *img, const uint64_t *ctr, struct tfp_command *c, enum tfp_reason want,
          const uint8_t *target)
{
	struct tally t;

	memset(&t, 0, sizeof(t));
	run_with_cuts(&rig, img, ctr, c, want, target, cut_never, NULL, &t);
	return rig.px.ops;
}

static void
test_cut_every_op_delta_update(void **state)
{
	struct tfp_command c;
	struct tally t;
	uint64_t n;
	(void)state;

	make_snapshots();
	offer_cmd(&c, 1, &sm2, TFP_FETCH_DELTA, patch2, patch2_len, v1.digest);
	peer_serve(&rig, patch2, patch2_len);
	n = count_ops(snap0, ctr0, &c, TFP_REASON_CONFIRMED, v2.digest);
	assert_true(n >= 10);
	memset(&t, 0, sizeof(t));
	for (uint64_t i = 1; i <= n; i++)
		run_with_cuts(&rig, snap0, ctr0, &c, TFP_REASON_CONFIRMED, v2.digest, cut_once, &i,
		              &t);
	print_tally("delta update v1->v2:", n, &t);
	assert_int_equal(t.fired, n);
	assert_int_equal(t.bricked, 0);
	assert_int_equal(t.finished, n);
	assert_true(t.resumable > 0 && t.reverted > 0);
	assert_int_equal(rig.px.counters[TFA_COUNTER_FLOOR], 2);
}

static void
test_cut_every_op_full_update(void **state)
{
	struct tfp_command c;
	struct tally t;
	uint64_t n;
	(void)state;

	offer_cmd(&c, 40, &sm2, TFP_FETCH_FULL, v2.img, v2.len, NULL);
	peer_serve(&rig, v2.img, v2.len);
	n = count_ops(snap0, ctr0, &c, TFP_REASON_CONFIRMED, v2.digest);
	memset(&t, 0, sizeof(t));
	for (uint64_t i = 1; i <= n; i++)
		run_with_cuts(&rig, snap0, ctr0, &c, TFP_REASON_CONFIRMED, v2.digest, cut_once, &i,
		              &t);
	print_tally("full image update v1->v2:", n, &t);
	assert_int_equal(t.fired, n);
	assert_int_equal(t.bricked, 0);
	assert_int_equal(t.finished, n);
}

static void
test_cut_every_op_rollback(void **state)
{
	struct tfp_command c;
	struct tally t;
	uint64_t n;
	(void)state;

	memset(&c, 0, sizeof(c));
	c.type = TFP_MSG_ROLLBACK;
	c.command_id = 50;
	n = count_ops(snap2, ctr2, &c, TFP_REASON_ROLLED_BACK, v1.digest);
	assert_true(n >= 2);
	memset(&t, 0, sizeof(t));
	for (uint64_t i = 1; i <= n; i++)
		run_with_cuts(&rig, snap2, ctr2, &c, TFP_REASON_ROLLED_BACK, v1.digest, cut_once,
		              &i, &t);
	print_tally("rollback v2->v1:", n, &t);
	assert_int_equal(t.fired, n);
	assert_int_equal(t.bricked, 0);
	/* The floor stays at 2: rolling back does not lower it. */
	assert_int_equal(rig.px.counters[TFA_COUNTER_FLOOR], 2);
}

static void
test_cut_every_op_selftest_revert(void **state)
{
	struct tfp_command c;
	struct tally t;
	uint64_t n;
	(void)state;

	offer_cmd(&c, 60, &smbad, TFP_FETCH_DELTA, patchbad, patchbad_len, v2.digest);
	peer_serve(&rig, patchbad, patchbad_len);
	n = count_ops(snap2, ctr2, &c, TFP_REASON_SELFTEST_FAILED, v2.digest);
	memset(&t, 0, sizeof(t));
	for (uint64_t i = 1; i <= n; i++)
		run_with_cuts(&rig, snap2, ctr2, &c, TFP_REASON_SELFTEST_FAILED, v2.digest, cut_once,
		              &i, &t);
	print_tally("failing self-test (revert):", n, &t);
	assert_int_equal(t.fired, n);
	assert_int_equal(t.bricked, 0);
	assert_int_equal(rig.px.counters[TFA_COUNTER_FLOOR], 2);
	assert_int_equal(rig.ota.meta.slot[rig.ota.meta.active ^ 1].state, TFP_SLOT_FAILED);
}

static void
test_cut_random(void **state)
{
	struct tfp_command c;
	struct tally t;
	struct random_cuts rc;
	uint64_t n;
	unsigned runs = 0;
	(void)state;

	offer_cmd(&c, 70, &sm2, TFP_FETCH_DELTA, patch2, patch2_len, v1.digest);
	peer_serve(&rig, patch2, patch2_len);
	n = count_ops(snap0, ctr0, &c, TFP_REASON_CONFIRMED, v2.digest);
	memset(&t, 0, sizeof(t));
	rc.seed = 20261124u;
	rc.span = n;
	while (t.fired < 1000) {
		rc.per_run = 2 + runs % 5;           /* 2..6 cuts per run */
		run_with_cuts(&rig, snap0, ctr0, &c, TFP_REASON_CONFIRMED, v2.digest, cut_random,
		              &rc, &t);
		runs++;
		assert_true(runs < 2000);
	}
	printf("# random: %u runs, %.1f cuts per run on average\n", runs,
	       (double)t.fired / runs);
	print_tally("random cuts, delta update:", n, &t);
	assert_int_equal(t.bricked, 0);
	assert_int_equal(t.finished, runs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cut_every_op_delta_update),
		cmocka_unit_test(test_cut_every_op_full_update),
		cmocka_unit_test(test_cut_every_op_rollback),
		cmocka_unit_test(test_cut_every_op_selftest_revert),
		cmocka_unit_test(test_cut_random),
	};
	int rc = cmocka_run_group_tests(tests, setup, teardown);

	rig_close(&rig);
	return rc;
}
