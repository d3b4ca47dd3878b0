/*
 * OTA state machine, the paths that work: full, packed and delta updates end confirmed with
 * the floor raised; rollback to the previous confirmed slot; a repeated command id is not
 * carried out twice; reports made offline are queued (bounded) and sent later; a download
 * interrupted by the link resumes where it stopped; the posix flash keeps flash semantics.
 */
#define _POSIX_C_SOURCE 200809L
#include <unistd.h>

#include "ota_test_util.h"

static struct tfp_cose_signer signer;
static struct model_img v1, v2, v3;
static struct rig rig;

static int
setup(void **state)
{
	(void)state;
	load_release_signer(&signer);
	make_model(&v1, 0, 0);
	make_model(&v2, 1, 0);
	make_model(&v3, 2, 0);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	tfp_cose_signer_free(&signer);
	return 0;
}

static void
provision(struct rig *r)
{
	rig_open(r, &signer);
	rig_provision(r, &v1);
}

static void
update(struct rig *r, uint64_t id, const struct model_img *from, const struct model_img *to,
       uint64_t seq, enum tfp_fetch fetch)
{
	struct tfp_manifest m;
	struct signed_manifest sm;
	struct tfp_command c;
	const struct tfp_report *res;
	uint8_t *obj;
	size_t len;
	uint8_t d[TFP_DIGEST_LEN];

	manifest_for(&m, &signer, to, seq, "1.0.x");
	sign_manifest(&signer, &m, &sm);
	if (fetch == TFP_FETCH_FULL) {
		obj = malloc(to->len);
		assert_non_null(obj);
		memcpy(obj, to->img, to->len);
		len = to->len;
	} else {
		obj = make_patch(from, to,
		                 fetch == TFP_FETCH_PACKED ? TFP_DELTA_MODE_FULL : TFP_DELTA_ENC_AUTO,
		                 &len);
	}
	offer_cmd(&c, id, &sm, fetch, obj, len, from->digest);
	peer_serve(r, obj, len);
	rig_command(r, &c);
	assert_int_equal(rig_run(r, id, 10, 10000), 0);
	res = peer_result(r, id);
	assert_int_equal(res->outcome, TFP_OUTCOME_OK);
	assert_int_equal(res->reason, TFP_REASON_CONFIRMED);
	assert_int_equal(res->phase, TFP_PHASE_CONFIRM);
	assert_runs_confirmed(r, d);
	assert_memory_equal(d, to->digest, TFP_DIGEST_LEN);
	assert_int_equal(r->px.counters[TFA_COUNTER_FLOOR], seq);
	assert_int_equal(r->px.violations, 0);
	printf("# %s update: object %zu bytes for a %zu-byte image, %u requests, %llu flash ops\n",
	       fetch == TFP_FETCH_FULL ? "full" : fetch == TFP_FETCH_PACKED ? "packed" : "delta",
	       len, to->len, r->ota.stats.requests, (unsigned long long)r->px.ops);
	r->peer.obj = NULL;
	free(obj);
}

static void
test_updates_confirm(void **state)
{
	struct tfp_state st;
	uint8_t d[TFP_DIGEST_LEN];
	(void)state;

	provision(&rig);
	assert_runs_confirmed(&rig, d);
	assert_memory_equal(d, v1.digest, TFP_DIGEST_LEN);
	update(&rig, 10, &v1, &v2, 2, TFP_FETCH_DELTA);
	update(&rig, 11, &v2, &v3, 3, TFP_FETCH_FULL);
	update(&rig, 12, &v3, &v2, 4, TFP_FETCH_PACKED);   /* older weights, newer sequence */

	/* Progress reports name every phase on the way. */
	{
		unsigned seen = 0;
		for (unsigned i = 0; i < rig.peer.n_reports; i++)
			if (rig.peer.reports[i].command_id == 10)
				seen |= 1u << rig.peer.reports[i].phase;
		assert_int_equal(seen, (1u << TFP_PHASE_CHECK) | (1u << TFP_PHASE_FETCH) |
		                               (1u << TFP_PHASE_APPLY) | (1u << TFP_PHASE_VERIFY) |
		                               (1u << TFP_PHASE_ACTIVATE) | (1u << TFP_PHASE_SELFTEST) |
		                               (1u << TFP_PHASE_CONFIRM));
	}

	/* A restart comes up on the same confirmed model and floor. */
	assert_int_equal(rig_boot(&rig), 0);
	assert_runs_confirmed(&rig, d);
	assert_memory_equal(d, v2.digest, TFP_DIGEST_LEN);
	assert_int_equal(rig.ota.floor, 4);
	memset(&st, 0, sizeof(st));
	tfa_ota_fill_state(&rig.ota, &st);
	assert_int_equal(st.slots[st.active_slot].state, TFP_SLOT_CONFIRMED);
	assert_int_equal(st.slots[st.active_slot].sequence, 4);
	assert_int_equal(st.slots[st.active_slot ^ 1].sequence, 3);
	rig_close(&rig);
}

static void
test_rollback_and_duplicate(void **state)
{
	struct tfp_command c;
	const struct tfp_report *res;
	uint8_t d[TFP_DIGEST_LEN];
	unsigned active;
	(void)state;

	provision(&rig);
	/* Nothing to roll back to yet. */
	memset(&c, 0, sizeof(c));
	c.type = TFP_MSG_ROLLBACK;
	c.command_id = 20;
	rig_command(&rig, &c);
	assert_int_equal(rig_run(&rig, 20, 10, 10), 0);
	assert_int_equal(peer_result(&rig, 20)->reason, TFP_REASON_NO_PREVIOUS_SLOT);

	update(&rig, 21, &v1, &v2, 2, TFP_FETCH_DELTA);
	active = rig.ota.meta.active;
	c.command_id = 22;
	rig_command(&rig, &c);
	assert_int_equal(rig_run(&rig, 22, 10, 10), 0);
	res = peer_result(&rig, 22);
	assert_int_equal(res->outcome, TFP_OUTCOME_OK);
	assert_int_equal(res->reason, TFP_REASON_ROLLED_BACK);
	assert_int_equal(rig.ota.meta.active, active ^ 1u);
	assert_runs_confirmed(&rig, d);
	assert_memory_equal(d, v1.digest, TFP_DIGEST_LEN);

	/* The same rollback again, also after a restart: refused as a duplicate, no flip. */
	assert_int_equal(rig_boot(&rig), 0);
	rig.peer.n_reports = 0;
	rig_command(&rig, &c);
	assert_int_equal(rig_run(&rig, 22, 10, 10), 0);
	res = peer_result(&rig, 22);
	assert_int_equal(res->outcome, TFP_OUTCOME_REFUSED);
	assert_int_equal(res->reason, TFP_REASON_DUPLICATE);
	assert_int_equal(rig.ota.meta.active, active ^ 1u);

	/* A repeated update command id is refused without touching anything. */
	{
		uint64_t ops = rig.px.ops;
		struct tfp_manifest m;
		struct signed_manifest sm;
		manifest_for(&m, &signer, &v3, 5, "1.0.5");
		sign_manifest(&signer, &m, &sm);
		offer_cmd(&c, 21, &sm, TFP_FETCH_FULL, v3.img, v3.len, NULL);
		rig_command(&rig, &c);
		rig.peer.n_reports = 0;
		assert_int_equal(rig_run(&rig, 21, 10, 10), 0);
		assert_int_equal(peer_result(&rig, 21)->reason, TFP_REASON_DUPLICATE);
		assert_int_equal(rig.px.ops, ops);
	}
	/* The floor stays at the highest confirmed sequence: the old model runs, but v2's
	 * sequence cannot be offered again. */
	assert_int_equal(rig.ota.floor, 2);
	rig_close(&rig);
}

static void
test_offline_queue_and_resume(void **state)
{
	struct tfp_manifest m;
	struct signed_manifest sm;
	struct tfp_command c;
	uint8_t *patch;
	size_t len;
	uint8_t d[TFP_DIGEST_LEN];
	uint32_t served;
	(void)state;

	provision(&rig);
	manifest_for(&m, &signer, &v2, 2, "1.1.0");
	sign_manifest(&signer, &m, &sm);
	patch = make_patch(&v1, &v2, TFP_DELTA_MODE_FULL, &len);   /* bigger: more chunks */
	offer_cmd(&c, 30, &sm, TFP_FETCH_PACKED, patch, len, NULL);
	peer_serve(&rig, patch, len);
	rig.peer.delay_ms = 10;                               /* one chunk per poll */
	rig_command(&rig, &c);
	/* Let a few chunks through, then the link drops: requests and reports fail. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(tfa_ota_poll(&rig.ota), 0);
		rig.px.now_ms += 10;
	}
	rig.peer.mute = 1;
	assert_int_equal(tfa_ota_poll(&rig.ota), 0);
	served = rig.ota.next_off;
	assert_true(served > 0 && served < len);
	rig.peer.offline = 1;
	rig.peer.n_reports = 0;
	/* The agent re-asks on its timer; with retries exhausted the download stalls. Its
	 * reports wait in the queue. */
	assert_int_equal(rig_run(&rig, 30, 500, 40), 1);
	assert_int_equal(rig.peer.n_reports, 0);
	assert_true(rig.ota.q_count > 0 && rig.ota.q_count <= TFA_OTA_QUEUE);
	/* Back online: the queued result arrives. */
	rig.peer.offline = 0;
	assert_int_equal(rig_run(&rig, 30, 10, 5), 0);
	assert_int_equal(peer_result(&rig, 30)->reason, TFP_REASON_DOWNLOAD_STALLED);
	rig_close(&rig);

	/* Resume: the same offer after a restart continues from the last resume point. */
	provision(&rig);
	peer_serve(&rig, patch, len);
	offer_cmd(&c, 31, &sm, TFP_FETCH_PACKED, patch, len, NULL);
	rig.peer.delay_ms = 10;
	rig_command(&rig, &c);
	while (rig.ota.meta.job.out_off == 0) {
		assert_int_equal(tfa_ota_poll(&rig.ota), 0);
		rig.px.now_ms += 10;
	}
	served = rig.ota.meta.job.resume_off;
	assert_true(served > 0);
	assert_int_equal(rig_boot(&rig), 0);               /* restart mid-download */
	assert_int_equal(rig.ota.meta.job.stage, TFA_OTA_JOB_FETCH);
	{
		unsigned verifies = rig.ota.stats.verifies;
		rig.peer.n_reports = 0;
		rig.peer.have_req = 0;
		rig_command(&rig, &c);
		assert_int_equal(tfa_ota_poll(&rig.ota), 0);
		assert_int_equal(rig.ota.stats.verifies, verifies);   /* same manifest: no re-verify */
	}
	assert_int_equal(rig_run(&rig, 31, 10, 1000), 0);
	assert_int_equal(peer_result(&rig, 31)->reason, TFP_REASON_CONFIRMED);
	assert_runs_confirmed(&rig, d);
	assert_memory_equal(d, v2.digest, TFP_DIGEST_LEN);
	/* The first request after the restart started at the resume point, not at 0. */
	assert_true(rig.ota.stats.requests < (len + R_CHUNK - 1) / R_CHUNK + 1);
	rig_close(&rig);
	free(patch);
}

static void
test_queue_bound(void **state)
{
	struct tfp_command c;
	(void)state;

	provision(&rig);
	rig.peer.offline = 1;
	memset(&c, 0, sizeof(c));
	c.type = TFP_MSG_ROLLBACK;
	for (unsigned i = 0; i < 3 * TFA_OTA_QUEUE; i++) {
		c.command_id = 100 + i;
		rig_command(&rig, &c);
		assert_int_equal(tfa_ota_poll(&rig.ota), 0);
	}
	assert_int_equal(rig.ota.q_count, TFA_OTA_QUEUE);
	assert_int_equal(rig.ota.stats.reports_dropped, 2 * TFA_OTA_QUEUE);
	rig.peer.offline = 0;
	assert_int_equal(tfa_ota_poll(&rig.ota), 0);
	assert_int_equal(rig.peer.n_reports, TFA_OTA_QUEUE);
	/* The newest results survive. */
	assert_int_equal(rig.peer.reports[TFA_OTA_QUEUE - 1].command_id,
	                 100 + 3 * TFA_OTA_QUEUE - 1);
	rig_close(&rig);
}

static void
test_posix_flash_semantics(void **state)
{
	struct tfa_posix px;
	struct tfa_port p;
	struct tfa_flash_geom g = { 256, 4, 8, 0xFF };
	uint8_t buf[16], rd[16];
	char path[64] = "/tmp/tf-ota-flash-XXXXXX", ctr[80];
	int fd = mkstemp(path);
	(void)state;

	assert_true(fd >= 0);
	close(fd);
	unlink(path);
	assert_int_equal(tfa_posix_open(&px, path, &g, 1), 0);
	tfa_posix_port(&px, &p);
	memset(buf, 0x5A, sizeof(buf));
	assert_int_equal(p.flash_write(p.ctx, 8, buf, 16), 0);
	assert_int_equal(p.flash_write(p.ctx, 8, buf, 8), TFA_ERR_FLASH);   /* programmed */
	assert_int_equal(p.flash_write(p.ctx, 3, buf, 8), TFA_ERR_FLASH);   /* misaligned */
	assert_int_equal(px.violations, 2);
	assert_int_equal(p.counter_raise(p.ctx, 0, 7), 0);
	assert_int_equal(p.counter_raise(p.ctx, 0, 3), 0);                  /* never lowers */
	tfa_posix_close(&px);
	/* Persistent: the file and the counter come back. */
	assert_int_equal(tfa_posix_open(&px, path, &g, 1), 0);
	tfa_posix_port(&px, &p);
	assert_int_equal(p.flash_read(p.ctx, 8, rd, 16), 0);
	assert_memory_equal(rd, buf, 16);
	assert_int_equal(px.counters[0], 7);
	assert_int_equal(p.flash_erase(p.ctx, 0), 0);
	assert_int_equal(p.flash_read(p.ctx, 8, rd, 1), 0);
	assert_int_equal(rd[0], 0xFF);
	/* A cut operation fails, as does everything after it until power returns. */
	px.cut_at = px.ops + 1;
	assert_int_equal(p.flash_write(p.ctx, 64, buf, 16), TFA_ERR_FLASH);
	assert_int_equal(p.flash_erase(p.ctx, 1), TFA_ERR_FLASH);
	tfa_posix_power_on(&px);
	assert_int_equal(p.flash_erase(p.ctx, 1), 0);
	tfa_posix_close(&px);
	unlink(path);
	snprintf(ctr, sizeof(ctr), "%s.ctr", path);
	unlink(ctr);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_updates_confirm),
		cmocka_unit_test(test_rollback_and_duplicate),
		cmocka_unit_test(test_offline_queue_and_resume),
		cmocka_unit_test(test_queue_bound),
		cmocka_unit_test(test_posix_flash_semantics),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
