/*
 * The manifest check hook of the OTA core, and the simulator's shared check behind it
 * (tinyfleet-sim --shared-verify): the agent asks the hook, not the software check; the
 * shared check gives exactly tfp_manifest_verify's answers (good, wrongly signed, tampered,
 * expired) while checking each distinct manifest's signature once.
 */
#include "ota_test_util.h"
#include "verify_share.h"

static struct tfp_cose_signer signer, other;
static struct model_img v1, v2;
static struct rig rig;
static unsigned hook_calls;

static int
setup(void **state)
{
	(void)state;
	load_release_signer(&signer);
	make_other_signer(&other);
	make_model(&v1, 0, 0);
	make_model(&v2, 1, 0);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	tfp_cose_signer_free(&signer);
	tfp_cose_signer_free(&other);
	return 0;
}

static int
counting_verify(void *user, const uint8_t *msg, size_t len, const struct tfp_cose_key *keys,
                size_t n_keys, uint64_t now, struct tfp_manifest *m)
{
	assert_ptr_equal(user, &rig);
	hook_calls++;
	return sim_verify_shared(user, msg, len, keys, n_keys, now, m);
}

/* The OTA core checks an offer's manifest through the configured hook. */
static void
test_agent_uses_the_hook(void **state)
{
	struct tfp_manifest m;
	struct signed_manifest sm;
	struct tfp_command c;
	const struct tfp_report *res;
	uint8_t *obj;
	size_t len;

	(void)state;
	rig_open(&rig, &signer);
	rig.cfg.verify_manifest = counting_verify;
	rig.cfg.user = &rig;
	rig_provision(&rig, &v1);
	manifest_for(&m, &signer, &v2, 2, "1.0.1");
	sign_manifest(&signer, &m, &sm);
	obj = make_patch(&v1, &v2, TFP_DELTA_ENC_AUTO, &len);
	offer_cmd(&c, 41, &sm, TFP_FETCH_DELTA, obj, len, v1.digest);
	peer_serve(&rig, obj, len);
	rig_command(&rig, &c);
	assert_int_equal(rig_run(&rig, 41, 10, 10000), 0);
	res = peer_result(&rig, 41);
	assert_int_equal(res->outcome, TFP_OUTCOME_OK);
	assert_int_equal(res->reason, TFP_REASON_CONFIRMED);
	assert_int_equal(hook_calls, 1);
	free(obj);
	rig_close(&rig);
}

/* Both checks agree (code and decoded manifest); returns their answer. */
static int
same_answer(const struct signed_manifest *sm, const struct tfp_cose_key *key, uint64_t now)
{
	struct tfp_manifest a, b;
	int want = tfp_manifest_verify(sm->buf, sm->len, key, 1, now, &a);

	assert_int_equal(sim_verify_shared(NULL, sm->buf, sm->len, key, 1, now, &b), want);
	if (want == 0)
		assert_memory_equal(&a, &b, sizeof(a));
	return want;
}

static void
test_shared_answers_match_the_real_check(void **state)
{
	struct tfp_manifest m;
	struct signed_manifest good, foreign, tampered, expiring;
	unsigned long checks0, hits0, checks, hits;

	(void)state;
	sim_verify_shared_stats(&checks0, &hits0);
	manifest_for(&m, &signer, &v2, 7, "2.0.0");
	sign_manifest(&signer, &m, &good);
	manifest_for(&m, &other, &v2, 7, "2.0.0");
	sign_manifest(&other, &m, &foreign);
	tampered = good;
	tampered.buf[tampered.len / 2] ^= 0x01;
	manifest_for(&m, &signer, &v2, 8, "2.0.1");
	m.has_expiry = true;
	m.expiry = 1800000000u;
	sign_manifest(&signer, &m, &expiring);

	/* A hundred devices offered the same manifest: one signature check. */
	for (int i = 0; i < 100; i++)
		assert_int_equal(same_answer(&good, &signer.pub, 1790000000u), 0);
	sim_verify_shared_stats(&checks, &hits);
	assert_int_equal(checks - checks0, 1);
	assert_int_equal(hits - hits0, 99);

	/* Refusals are the real check's, every time, and do not disturb the good entry. */
	for (int i = 0; i < 3; i++) {
		assert_int_not_equal(same_answer(&foreign, &signer.pub, 1790000000u), 0);
		assert_int_not_equal(same_answer(&tampered, &signer.pub, 1790000000u), 0);
	}
	assert_int_equal(same_answer(&good, &signer.pub, 1790000000u), 0);

	/* The memo holds the signature, not the clock: expiry is judged on every call. */
	assert_int_equal(same_answer(&expiring, &signer.pub, 1790000000u), 0);
	assert_int_equal(same_answer(&expiring, &signer.pub, 1800000000u), TFP_ERR_EXPIRED);
	assert_int_equal(same_answer(&expiring, &signer.pub, 1790000001u), 0);

	/* More distinct manifests than memo slots: answers stay right. */
	for (uint64_t seq = 10; seq < 30; seq++) {
		struct signed_manifest sm;
		manifest_for(&m, &signer, &v2, seq, "3.0.0");
		sign_manifest(&signer, &m, &sm);
		assert_int_equal(same_answer(&sm, &signer.pub, 1790000000u), 0);
		assert_int_equal(same_answer(&good, &signer.pub, 1790000000u), 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_agent_uses_the_hook),
		cmocka_unit_test(test_shared_answers_match_the_real_check),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
