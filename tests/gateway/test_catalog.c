/* The model catalog: only validly signed manifests with matching containers get in. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <mbedtls/sha256.h>

#include "catalog.h"
#include "gw_testutil.h"
#include "../device-agent/learn_test_util.h"

#define KEYS TF_SOURCE_DIR "/tests/interop/keys/"

struct fixture {
	char dir[64];
	struct gw_store store;
	struct gw_catalog cat;
	struct tfp_cose_signer signer;
	uint8_t container[1024];
	size_t clen;
};

/* A minimal valid model container (dense 4 -> 2, trainable) named name/version. */
static void
make_container(struct fixture *f, const char *name, const char *version)
{
	static struct tb b;
	static const uint32_t wshape[2] = { 2, 4 }, bshape[1] = { 2 };
	static const float w[8] = { 0.5f, -0.25f, 0.125f, 1, -1, 0.75f, 0, 0.5f };
	static const float bias[2] = { 0.1f, -0.1f };
	unsigned wi, bi;

	tb_init(&b, TFP_TASK_CLASSIFY, 1, 4);
	wi = tb_tensor(&b, "w", TFP_DTYPE_FLOAT32, TFP_KIND_WEIGHT, 2, wshape, w, TFP_CONTAINER_NONE,
	               TFP_CONTAINER_NONE);
	bi = tb_tensor(&b, "b", TFP_DTYPE_FLOAT32, TFP_KIND_BIAS, 1, bshape, bias,
	               TFP_CONTAINER_NONE, TFP_CONTAINER_NONE);
	tb_layer(&b, TFP_OP_DENSE, TFP_ACT_SOFTMAX, wi, bi, 1, 4, 1, 2, 0, 0, 0.0f, 0);
	tb_trainable(&b);
	f->clen = tb_finish(&b, 1e-3f);
	assert_true(f->clen <= f->clen);
	memcpy(f->container, b.img, f->clen);
	memset(f->container + 16, 0, 32 + 24);
	memcpy(f->container + 16, name, strlen(name));
	memcpy(f->container + 48, version, strlen(version));
	{
		struct tfp_container ct;
		int rc = tfp_container_open(&ct, f->container, f->clen);
		if (rc != 0)
			fail_msg("test container refused: %s", tfp_strerror(rc));
	}
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	static char buf[4096];
	size_t n;
	if (f == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct gw_store_config cfg = { 0 };
	tu_mkdtemp(f->dir, sizeof(f->dir), "tf-cat");
	cfg.path = f->dir;
	if (gw_store_open(&f->store, &cfg) != 0 ||
	    gw_catalog_open(&f->cat, &f->store, KEYS "release-test.pub.pem") != 0 ||
	    tfp_cose_signer_init_pem(&f->signer, slurp(KEYS "release-test.key.pem")) != 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	tfp_cose_signer_free(&f->signer);
	gw_store_close(&f->store);
	if (tu_rmtree(f->dir) != 0)
		return -1;
	free(f);
	return 0;
}

/* Builds f->container for version 1.<seq>.0 (variant: see below) and signs a
 * manifest for it. */
static size_t
sign(struct fixture *f, uint8_t *out, size_t cap, uint64_t seq, int variant)
{
	struct tfp_manifest m;
	size_t len;
	memset(&m, 0, sizeof(m));
	snprintf(m.name, sizeof(m.name), "pump-anomaly");
	snprintf(m.version, sizeof(m.version), "1.%llu.0", (unsigned long long)seq);
	/* variant 1: other weights, same model and version; 2: a container of another model */
	make_container(f, variant == 2 ? "other-model" : m.name, m.version);
	if (variant == 1)
		f->container[f->clen - 9] ^= 1;
	m.sequence = seq;
	snprintf(m.device_class, sizeof(m.device_class), "stm32l4-vib");
	m.req.min_ram = 65536;
	m.req.min_flash = 262144;
	m.req.agent_abi = 1;
	mbedtls_sha256_ret(f->container, f->clen, m.digest, 0);
	m.image_size = f->clen;
	m.container_version = 1;
	memcpy(m.key_id, f->signer.pub.kid, f->signer.pub.kid_len);
	assert_int_equal(tfp_manifest_sign(&f->signer, &m, out, cap, &len), 0);
	return len;
}

static void
test_publish_stores_and_is_idempotent(void **state)
{
	struct fixture *f = *state;
	uint8_t man[1024];
	size_t mlen = sign(f, man, sizeof(man), 2, 0);
	struct gw_model out, got;
	const char *code;
	char why[GW_CATALOG_WHY_MAX];
	int created;
	struct gw_store_stats st;

	if (gw_catalog_publish(&f->cat, man, mlen, f->container, f->clen, "op-alice",
	                       1764000000000ull, &out, &created, &code, why) != 0)
		fail_msg("publish refused: %s: %s", code, why);
	assert_true(created);
	assert_string_equal(out.m.name, "pump-anomaly");
	assert_int_equal(gw_catalog_get(&f->cat, "pump-anomaly", 2, &got), 0);
	assert_string_equal(got.published_by, "op-alice");
	assert_string_equal(got.m.version, "1.2.0");
	assert_memory_equal(got.m.digest, out.m.digest, 32);
	gw_store_stats(&f->store, &st);
	assert_int_equal(st.audit_next, 1);

	/* Again: ok, nothing new. */
	assert_int_equal(gw_catalog_publish(&f->cat, man, mlen, f->container, f->clen,
	                                    "op-alice", 1764000001000ull, &out, &created, &code,
	                                    why),
	                 0);
	assert_false(created);
	gw_store_stats(&f->store, &st);
	assert_int_equal(st.audit_next, 1);
}

static void
expect_refusal(struct fixture *f, const uint8_t *man, size_t mlen, const uint8_t *c, size_t clen,
               const char *want)
{
	struct gw_model out;
	const char *code = NULL;
	char why[GW_CATALOG_WHY_MAX];
	int created = 1;
	assert_true(gw_catalog_publish(&f->cat, man, mlen, c, clen, "op-alice", 1764000000000ull,
	                               &out, &created, &code, why) < 0);
	assert_false(created);
	assert_non_null(code);
	assert_string_equal(code, want);
	assert_true(why[0] != '\0');
}

static void
test_refusals_have_the_contracts_codes(void **state)
{
	struct fixture *f = *state;
	uint8_t man[1024], bad[1024];
	size_t mlen = sign(f, man, sizeof(man), 5, 0);
	struct gw_catalog other;
	struct gw_store_stats st;

	/* One flipped byte in the signature. */
	memcpy(bad, man, mlen);
	bad[mlen - 3] ^= 0x40;
	expect_refusal(f, bad, mlen, f->container, f->clen, "bad_signature");
	/* Not COSE at all. */
	expect_refusal(f, (const uint8_t *)"hello", 5, f->container, f->clen,
	               "manifest_invalid");
	/* Container of another size, and of the right size with other bytes. */
	expect_refusal(f, man, mlen, f->container, f->clen - 1, "size_mismatch");
	memcpy(bad, f->container, 1024);
	f->container[100] ^= 1;
	expect_refusal(f, man, mlen, f->container, f->clen, "digest_mismatch");
	f->container[100] ^= 1;

	/* Correctly signed, but the container says it is another model; and not a model at all. */
	mlen = sign(f, bad, sizeof(bad), 5, 2);
	expect_refusal(f, bad, mlen, f->container, f->clen, "invalid_request");
	mlen = sign(f, man, sizeof(man), 5, 0);
	{
		struct tfp_manifest m;
		uint8_t junk[64];
		size_t jlen;
		memset(junk, 0x5a, sizeof(junk));
		memset(&m, 0, sizeof(m));
		snprintf(m.name, sizeof(m.name), "pump-anomaly");
		snprintf(m.version, sizeof(m.version), "9.9.9");
		m.sequence = 9;
		snprintf(m.device_class, sizeof(m.device_class), "stm32l4-vib");
		m.req.agent_abi = 1;
		mbedtls_sha256_ret(junk, sizeof(junk), m.digest, 0);
		m.image_size = sizeof(junk);
		m.container_version = 1;
		memcpy(m.key_id, f->signer.pub.kid, f->signer.pub.kid_len);
		assert_int_equal(tfp_manifest_sign(&f->signer, &m, bad, sizeof(bad), &jlen), 0);
		expect_refusal(f, bad, jlen, junk, sizeof(junk), "invalid_request");
	}

	/* A gateway that trusts another key: unknown_key. */
	assert_int_equal(gw_catalog_open(&other, &f->store,
	                                 TF_SHARED_DIR "/testvectors/cose-wg/key11-pub.pem"),
	                 0);
	{
		struct gw_model out;
		const char *code;
		char why[GW_CATALOG_WHY_MAX];
		int created;
		assert_true(gw_catalog_publish(&other, man, mlen, f->container, f->clen,
		                               "op-alice", 0, &out, &created, &code, why) < 0);
		assert_string_equal(code, "unknown_key");
	}
	gw_store_stats(&f->store, &st);
	assert_int_equal(st.audit_next, 0);   /* nothing was accepted */
}

static void
test_sequences_only_grow(void **state)
{
	struct fixture *f = *state;
	uint8_t man[1024];
	size_t mlen;
	struct gw_model out;
	const char *code;
	char why[GW_CATALOG_WHY_MAX];
	int created;

	mlen = sign(f, man, sizeof(man), 7, 0);
	assert_int_equal(gw_catalog_publish(&f->cat, man, mlen, f->container, f->clen,
	                                    "op-alice", 1, &out, &created, &code, why),
	                 0);
	mlen = sign(f, man, sizeof(man), 6, 0);
	expect_refusal(f, man, mlen, f->container, f->clen, "sequence_conflict");
	/* Same sequence, other content: a conflict, not a silent overwrite. */
	mlen = sign(f, man, sizeof(man), 7, 1);
	expect_refusal(f, man, mlen, f->container, f->clen, "conflict");
}

static void
test_release_key_file_errors(void **state)
{
	struct fixture *f = *state;
	struct gw_catalog c;
	char path[96];
	FILE *fp;

	assert_int_equal(gw_catalog_open(&c, &f->store, "/nonexistent/keys.pem"), -ENOENT);
	snprintf(path, sizeof(path), "%s/empty.pem", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("# no keys here\n", fp);
	fclose(fp);
	assert_int_equal(gw_catalog_open(&c, &f->store, path), -ENOKEY);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_publish_stores_and_is_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals_have_the_contracts_codes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sequences_only_grow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_key_file_errors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
