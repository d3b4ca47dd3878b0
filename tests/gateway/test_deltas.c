/*
 * The delta cache on a real LMDB store, the real encoder and a real libuv loop: one build
 * per pair, the patch stored as a blob that rebuilds the target byte for byte, found again
 * after a restart; no delta for unknown bases or patches without gain; safe to close with
 * builds in flight; builds prepared from the images a fleet runs when a version is
 * published.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <mbedtls/sha256.h>

#include "deltas.h"
#include "gw_testutil.h"
#include "log.h"
#include "registry.h"
#include "tinyfleet/delta/apply.h"
#include "tinyfleet/protocol/msg_state.h"

struct fixture {
	char dir[64];
	uv_loop_t loop;
	struct gw_store store;
	struct gw_deltas deltas;
	int ready;
	uint8_t ready_base[32], ready_target[32];
	struct tu_model v1, v2;
};

static void
on_ready(void *arg, const uint8_t base[32], const uint8_t target[32])
{
	struct fixture *f = arg;
	f->ready++;
	memcpy(f->ready_base, base, 32);
	memcpy(f->ready_target, target, 32);
}

static void
open_all(struct fixture *f)
{
	struct gw_store_config cfg = { .path = f->dir, .map_size = 64u << 20 };
	assert_int_equal(gw_store_open(&f->store, &cfg), 0);
	assert_int_equal(gw_deltas_init(&f->deltas, &f->loop, &f->store, on_ready, f), 0);
}

static void
close_all(struct fixture *f)
{
	gw_deltas_close(&f->deltas);
	/* Dropped builds still get their after-work callback: let them free. */
	while (uv_run(&f->loop, UV_RUN_ONCE) != 0)
		;
	gw_store_close(&f->store);
}

static void
put_blob(struct fixture *f, const uint8_t digest[32], const void *data, size_t len)
{
	struct gw_txn t;
	assert_int_equal(gw_store_begin(&f->store, &t), 0);
	assert_int_equal(gw_store_put_blob(&t, digest, data, len), 0);
	assert_int_equal(gw_store_commit(&t), 0);
}

static void
put_image(struct fixture *f, const void *data, size_t len, uint8_t digest[32])
{
	mbedtls_sha256_ret(data, len, digest, 0);
	put_blob(f, digest, data, len);
}

/* Runs the loop until `want` builds reported ready (each within a few seconds). */
static void
wait_ready(struct fixture *f, int want)
{
	for (int i = 0; i < 1000 && f->ready < want; i++)
		uv_run(&f->loop, UV_RUN_ONCE);
	assert_int_equal(f->ready, want);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct tfp_cose_signer signer;

	gw_log_init(GW_LOG_WARNING);
	tu_mkdtemp(f->dir, sizeof(f->dir), "gw-deltas");
	assert_int_equal(uv_loop_init(&f->loop), 0);
	tu_signer_init(&signer);
	tu_signed_model(&signer, "1.0.0", 1, 0.5f, &f->v1);
	tu_signed_model(&signer, "1.1.0", 2, 0.75f, &f->v2);
	tfp_cose_signer_free(&signer);
	open_all(f);
	put_blob(f, f->v1.digest, f->v1.tfm, f->v1.tfm_len);
	put_blob(f, f->v2.digest, f->v2.tfm, f->v2.tfm_len);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	close_all(f);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	tu_rmtree(f->dir);
	free(f);
	return 0;
}

/* The object the fetch names, read from the store as the chunk server would. */
static void
stored_object(struct fixture *f, const struct gw_fetch *x, uint8_t *buf, size_t cap, size_t *len)
{
	struct gw_txn t;
	const void *p;
	assert_int_equal(gw_store_begin_read(&f->store, &t), 0);
	assert_int_equal(gw_store_get_blob(&t, x->object_id, &p, len), 0);
	assert_true(*len <= cap);
	memcpy(buf, p, *len);
	gw_store_abort(&t);
}

static void
test_builds_once_and_the_patch_rebuilds_the_target(void **state)
{
	struct fixture *f = *state;
	static struct tfp_delta_apply a;
	struct gw_fetch x;
	struct tu_patched im = { f->v1.tfm, f->v1.tfm_len, { 0 }, 0 };
	uint8_t patch[4096], id[32];
	size_t plen;

	/* First asks start one build; asking again while it runs starts no other. */
	assert_int_equal(gw_deltas_choose(&f->deltas, f->v1.digest, f->v2.digest, &x), -EAGAIN);
	assert_int_equal(gw_deltas_choose(&f->deltas, f->v1.digest, f->v2.digest, &x), -EAGAIN);
	assert_int_equal(gw_deltas_pending(&f->deltas), 1);
	wait_ready(f, 1);
	assert_memory_equal(f->ready_base, f->v1.digest, 32);
	assert_memory_equal(f->ready_target, f->v2.digest, 32);
	assert_int_equal(gw_deltas_pending(&f->deltas), 0);
	assert_int_equal(f->deltas.stats.built, 1);

	assert_int_equal(gw_deltas_choose(&f->deltas, f->v1.digest, f->v2.digest, &x), 0);
	assert_int_equal(x.fetch, TFP_FETCH_DELTA);
	assert_memory_equal(x.base, f->v1.digest, 32);
	assert_int_equal(x.full_size, f->v2.tfm_len);
	assert_true(x.object_size < x.full_size);

	/* The object is addressed by its own SHA-256 and rebuilds v2 from v1 exactly. */
	stored_object(f, &x, patch, sizeof(patch), &plen);
	assert_int_equal(plen, x.object_size);
	mbedtls_sha256_ret(patch, plen, id, 0);
	assert_memory_equal(id, x.object_id, 32);
	assert_int_equal(tfp_delta_apply_init(&a, (uint32_t)f->v1.tfm_len, tu_patched_read,
	                                      tu_patched_write, &im),
	                 0);
	assert_int_equal(tfp_delta_apply_feed(&a, patch, plen), TFP_DELTA_DONE);
	assert_int_equal(im.out_len, f->v2.tfm_len);
	assert_memory_equal(im.out, f->v2.tfm, f->v2.tfm_len);

	/* The other direction is its own pair. */
	assert_int_equal(gw_deltas_choose(&f->deltas, f->v2.digest, f->v1.digest, &x), -EAGAIN);
	wait_ready(f, 2);
	assert_int_equal(f->deltas.stats.built, 2);
	assert_int_equal(f->ready, 2);
}

static void
test_a_restart_finds_the_stored_delta(void **state)
{
	struct fixture *f = *state;
	struct gw_fetch x, y;

	assert_int_equal(gw_deltas_choose(&f->deltas, f->v1.digest, f->v2.digest, &x), -EAGAIN);
	wait_ready(f, 1);
	assert_int_equal(gw_deltas_choose(&f->deltas, f->v1.digest, f->v2.digest, &x), 0);
	close_all(f);

	open_all(f);
	assert_int_equal(gw_deltas_choose(&f->deltas, f->v1.digest, f->v2.digest, &y), 0);
	assert_int_equal(gw_deltas_pending(&f->deltas), 0);
	assert_int_equal(y.fetch, TFP_FETCH_DELTA);
	assert_memory_equal(y.object_id, x.object_id, 32);
	assert_int_equal(y.object_size, x.object_size);
}

static void
test_unknown_base_or_target(void **state)
{
	struct fixture *f = *state;
	static const uint8_t nobody[32] = { 0xde, 0xad };
	struct gw_fetch x;

	/* A base the gateway never published: the full image, and no build. */
	assert_int_equal(gw_deltas_choose(&f->deltas, nobody, f->v2.digest, &x), 0);
	assert_int_equal(x.fetch, TFP_FETCH_FULL);
	assert_memory_equal(x.object_id, f->v2.digest, 32);
	assert_int_equal(x.object_size, f->v2.tfm_len);
	assert_int_equal(gw_deltas_pending(&f->deltas), 0);
	/* The target itself as base: nothing to build either. */
	assert_int_equal(gw_deltas_choose(&f->deltas, f->v2.digest, f->v2.digest, &x), 0);
	assert_int_equal(x.fetch, TFP_FETCH_FULL);
	assert_int_equal(gw_deltas_pending(&f->deltas), 0);
	/* A target that is not stored. */
	assert_int_equal(gw_deltas_choose(&f->deltas, f->v1.digest, nobody, &x), -ENOENT);
}

/* Unrelated random images: no patch beats the image, so the pair is recorded as "no delta",
 * gets the full image, and is not rebuilt, not even after a restart. */
static void
test_no_gain_is_remembered(void **state)
{
	struct fixture *f = *state;
	static uint8_t a[16384], b[16384];
	uint8_t da[32], db[32];
	struct gw_fetch x;
	uint32_t seed = 12345;

	for (size_t i = 0; i < sizeof(a); i++) {
		seed = seed * 1103515245u + 12345u;
		a[i] = (uint8_t)(seed >> 16);
		seed = seed * 1103515245u + 12345u;
		b[i] = (uint8_t)(seed >> 16);
	}
	put_image(f, a, sizeof(a), da);
	put_image(f, b, sizeof(b), db);
	assert_int_equal(gw_deltas_choose(&f->deltas, da, db, &x), -EAGAIN);
	wait_ready(f, 1);
	assert_int_equal(f->deltas.stats.no_gain, 1);
	assert_int_equal(f->deltas.stats.built, 0);
	assert_int_equal(gw_deltas_choose(&f->deltas, da, db, &x), 0);
	assert_int_equal(x.fetch, TFP_FETCH_FULL);
	assert_memory_equal(x.object_id, db, 32);
	assert_int_equal(gw_deltas_pending(&f->deltas), 0);

	close_all(f);
	open_all(f);
	assert_int_equal(gw_deltas_choose(&f->deltas, da, db, &x), 0);
	assert_int_equal(x.fetch, TFP_FETCH_FULL);
	assert_int_equal(gw_deltas_pending(&f->deltas), 0);
}

/* Fills the store with blobs until not even `step` more bytes fit. */
static void
fill_store(struct fixture *f, size_t step)
{
	static uint8_t junk[8192];
	for (uint32_t n = 0;; n++) {
		uint8_t key[32] = { 0xf1, (uint8_t)step, (uint8_t)(n >> 16), (uint8_t)(n >> 8),
			            (uint8_t)n };
		struct gw_txn t;
		int rc;
		assert_int_equal(gw_store_begin(&f->store, &t), 0);
		rc = gw_store_put_blob(&t, key, junk, step);
		if (rc == 0)
			rc = gw_store_commit(&t);
		gw_store_abort(&t);
		if (rc == -ENOSPC)
			return;
		assert_int_equal(rc, 0);
	}
}

/* A store too full to take the patch: the build's result is not committed, devices get
 * the full image, and the pair is not rebuilt on every request. */
static void
test_a_full_store_gives_the_full_image(void **state)
{
	struct fixture *f = *state;
	struct gw_store_config cfg = { .path = f->dir, .map_size = 1u << 20 };
	static uint8_t a[96 << 10], b[96 << 10];
	uint8_t da[32], db[32];
	struct gw_fetch x;

	close_all(f);
	tu_rmtree(f->dir);
	tu_mkdtemp(f->dir, sizeof(f->dir), "gw-deltas");
	assert_int_equal(gw_store_open(&f->store, &cfg), 0);
	assert_int_equal(gw_deltas_init(&f->deltas, &f->loop, &f->store, on_ready, f), 0);
	for (size_t i = 0; i < sizeof(a); i++) {
		a[i] = (uint8_t)(i * 13 + i / 7);
		b[i] = (uint8_t)(a[i] + (i % 5 == 0));
	}
	put_image(f, a, sizeof(a), da);
	put_image(f, b, sizeof(b), db);
	fill_store(f, 8192);
	fill_store(f, 1024);
	assert_int_equal(gw_deltas_choose(&f->deltas, da, db, &x), -EAGAIN);
	wait_ready(f, 1);
	assert_int_equal(f->deltas.stats.built, 1);          /* a useful patch ... */
	assert_int_equal(f->deltas.stats.store_errors, 1);   /* ... that did not fit */
	assert_int_equal(gw_deltas_choose(&f->deltas, da, db, &x), 0);
	assert_int_equal(x.fetch, TFP_FETCH_FULL);
	assert_int_equal(gw_deltas_pending(&f->deltas), 0);
}

/* Closing with builds waiting and running: none reports ready, nothing leaks (ASan), the
 * loop ends, and the store is left without half a result. */
static void
test_close_with_builds_in_flight(void **state)
{
	struct fixture *f = *state;
	static uint8_t img[6][65536];
	uint8_t digest[6][32];
	struct gw_fetch x;
	struct gw_txn t;
	const void *v;
	size_t n;

	for (int k = 0; k < 6; k++) {
		for (size_t i = 0; i < sizeof(img[k]); i++)
			img[k][i] = (uint8_t)(i * 7 + (i % 97 == 0 ? (size_t)k : 0));
		put_image(f, img[k], sizeof(img[k]), digest[k]);
	}
	for (int k = 1; k < 6; k++)
		assert_int_equal(gw_deltas_choose(&f->deltas, digest[0], digest[k], &x), -EAGAIN);
	assert_int_equal(gw_deltas_pending(&f->deltas), 5);
	assert_int_equal(f->deltas.n_running, GW_DELTAS_PARALLEL);
	gw_deltas_close(&f->deltas);
	assert_int_equal(gw_deltas_pending(&f->deltas), 0);
	assert_int_equal(f->deltas.stats.dropped, 5);
	while (uv_run(&f->loop, UV_RUN_ONCE) != 0)
		;
	assert_int_equal(f->ready, 0);
	assert_int_equal(gw_store_begin_read(&f->store, &t), 0);
	for (int k = 1; k < 6; k++)
		assert_int_equal(gw_store_get_delta(&t, digest[0], digest[k], &v, &n), -ENOENT);
	gw_store_abort(&t);
	/* Asking a closed cache is harmless: the full image. */
	assert_int_equal(gw_deltas_choose(&f->deltas, digest[0], digest[1], &x), 0);
	assert_int_equal(x.fetch, TFP_FETCH_FULL);
	/* teardown closes again: a second close is a no-op. */
}

/* A device running v1 says hello: publishing v2 prepares v1 -> v2, once. */
static void
test_prebuild_from_installed_images(void **state)
{
	struct fixture *f = *state;
	struct gw_registry r;
	struct tfp_state s;
	uint8_t msg[TFP_STATE_WIRE_MAX];
	size_t len;
	struct gw_fetch x;

	assert_int_equal(gw_registry_open(&r, &f->store, NULL, NULL), 0);
	tu_state_init(&s, "", "stm32l4-vib", 65536, 262144);
	s.slots[0].state = TFP_SLOT_CONFIRMED;
	s.slots[0].sequence = 1;
	snprintf(s.slots[0].model, sizeof(s.slots[0].model), "pump-anomaly");
	snprintf(s.slots[0].version, sizeof(s.slots[0].version), "1.0.0");
	memcpy(s.slots[0].digest, f->v1.digest, 32);
	for (int i = 0; i < 3; i++) {
		snprintf(s.device_id, sizeof(s.device_id), "dev-%d", i);
		assert_int_equal(tfp_state_encode(&s, msg, sizeof(msg), &len), 0);
		assert_int_equal(gw_registry_on_state(&r, s.device_id, msg, len, 1000), 0);
	}
	/* Another model's devices do not count. */
	snprintf(s.device_id, sizeof(s.device_id), "other");
	snprintf(s.slots[0].model, sizeof(s.slots[0].model), "vib-anomaly");
	memcpy(s.slots[0].digest, f->v2.digest, 32);
	assert_int_equal(tfp_state_encode(&s, msg, sizeof(msg), &len), 0);
	assert_int_equal(gw_registry_on_state(&r, "other", msg, len, 1000), 0);

	assert_int_equal(gw_deltas_prebuild(&f->deltas, &r, "pump-anomaly", f->v2.digest), 1);
	assert_int_equal(gw_deltas_prebuild(&f->deltas, &r, "pump-anomaly", f->v2.digest), 0);
	assert_int_equal(gw_deltas_prebuild(&f->deltas, &r, "vib-anomaly", f->v2.digest), 0);
	wait_ready(f, 1);
	assert_memory_equal(f->ready_base, f->v1.digest, 32);
	assert_int_equal(gw_deltas_choose(&f->deltas, f->v1.digest, f->v2.digest, &x), 0);
	assert_int_equal(x.fetch, TFP_FETCH_DELTA);
	assert_int_equal(gw_deltas_prebuild(&f->deltas, &r, "pump-anomaly", f->v2.digest), 0);
	gw_registry_close(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_builds_once_and_the_patch_rebuilds_the_target,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_restart_finds_the_stored_delta, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_unknown_base_or_target, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_gain_is_remembered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_full_store_gives_the_full_image, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_close_with_builds_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prebuild_from_installed_images, setup,
		                                teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
