/*
 * Helpers shared by the gateway tests (header-only; include after <cmocka.h>): scratch
 * directories, files, and model versions signed with the committed test release key
 * (tests/interop/keys/), as an operator would publish them. Failures fail the test.
 */
#ifndef GW_TESTUTIL_H
#define GW_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/base64.h>
#include <mbedtls/sha256.h>

#include "../device-agent/learn_test_util.h"
#include "tinyfleet/protocol/cose_sign1.h"
#include "tinyfleet/protocol/manifest.h"
#include "tinyfleet/protocol/msg_state.h"

static inline void
tu_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static inline void
tu_write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	fclose(f);
}

/* A fresh directory /tmp/<prefix>-XXXXXX in dir[cap]. */
static inline void
tu_mkdtemp(char *dir, size_t cap, const char *prefix)
{
	snprintf(dir, cap, "/tmp/%s-XXXXXX", prefix);
	assert_non_null(mkdtemp(dir));
}

/* Removes a directory made by tu_mkdtemp with everything in it; 0 or -1. */
static inline int
tu_rmtree(const char *dir)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The committed test release key. */
static inline void
tu_signer_init(struct tfp_cose_signer *s)
{
	char pem[4096];
	FILE *f = fopen(TF_SOURCE_DIR "/tests/interop/keys/release-test.key.pem", "r");
	assert_non_null(f);
	pem[fread(pem, 1, sizeof(pem) - 1, f)] = '\0';
	fclose(f);
	memset(s, 0, sizeof(*s));
	assert_int_equal(tfp_cose_signer_init_pem(s, pem), 0);
}

/* One published version of model "pump-anomaly" for class "stm32l4-vib". */
struct tu_model {
	uint8_t tfm[TB_MAX];
	size_t tfm_len;
	uint8_t cose[1024];
	size_t cose_len;
	uint8_t digest[32];
};

/* A container (dense 4 -> 2, trainable; weight w7 varies the content) named version, and
 * its manifest with sequence seq, signed by s. */
static inline void
tu_signed_model(struct tfp_cose_signer *s, const char *version, uint64_t seq, float w7,
                struct tu_model *out)
{
	static struct tb b;
	static const uint32_t wshape[2] = { 2, 4 };
	float w[8] = { 0.5f, -0.25f, 0.125f, 1, -1, 0.75f, 0, 0.5f };
	struct tfp_manifest m;
	unsigned wi;

	w[7] = w7;
	tb_init(&b, TFP_TASK_CLASSIFY, 1, 4);
	wi = tb_tensor(&b, "w", TFP_DTYPE_FLOAT32, TFP_KIND_WEIGHT, 2, wshape, w,
	               TFP_CONTAINER_NONE, TFP_CONTAINER_NONE);
	tb_layer(&b, TFP_OP_DENSE, TFP_ACT_SOFTMAX, wi, TFP_CONTAINER_NONE, 1, 4, 1, 2, 0, 0, 0.0f,
	         0);
	tb_trainable(&b);
	tb_finish(&b, 1e-3f);
	memset(b.img + 16, 0, 56);
	memcpy(b.img + 16, "pump-anomaly", 12);
	memcpy(b.img + 48, version, strlen(version));
	assert_true(b.len <= sizeof(out->tfm));
	memcpy(out->tfm, b.img, b.len);
	out->tfm_len = b.len;

	memset(&m, 0, sizeof(m));
	snprintf(m.name, sizeof(m.name), "pump-anomaly");
	snprintf(m.version, sizeof(m.version), "%s", version);
	m.sequence = seq;
	snprintf(m.device_class, sizeof(m.device_class), "stm32l4-vib");
	m.req.min_ram = 65536;
	m.req.min_flash = 262144;
	m.req.agent_abi = 1;
	mbedtls_sha256_ret(out->tfm, out->tfm_len, m.digest, 0);
	memcpy(out->digest, m.digest, 32);
	m.image_size = out->tfm_len;
	m.container_version = 1;
	memcpy(m.key_id, s->pub.kid, s->pub.kid_len);
	assert_int_equal(tfp_manifest_sign(s, &m, out->cose, sizeof(out->cose), &out->cose_len), 0);
}

/* The model.publish request body for m: {"manifest": base64, "container": base64}. */
static inline size_t
tu_publish_body(const struct tu_model *m, char *body, size_t cap)
{
	size_t n = (size_t)snprintf(body, cap, "{\"manifest\":\""), olen;
	assert_int_equal(mbedtls_base64_encode((unsigned char *)body + n, cap - n, &olen, m->cose,
	                                       m->cose_len),
	                 0);
	n += olen;
	n += (size_t)snprintf(body + n, cap - n, "\",\"container\":\"");
	assert_int_equal(mbedtls_base64_encode((unsigned char *)body + n, cap - n, &olen, m->tfm,
	                                       m->tfm_len),
	                 0);
	n += olen;
	n += (size_t)snprintf(body + n, cap - n, "\"}");
	assert_true(n < cap);
	return n;
}

/* An image patched in memory: tfp_delta_apply's read callback reads the old image, its
 * write callback fills `out`. */
struct tu_patched {
	const uint8_t *old;
	size_t old_len;
	uint8_t out[8192];
	size_t out_len;
};

static inline int
tu_patched_read(void *user, uint32_t off, uint8_t *buf, uint32_t len)
{
	struct tu_patched *pp = user;
	if ((size_t)off + len > pp->old_len)
		return -1;
	memcpy(buf, pp->old + off, len);
	return 0;
}

static inline int
tu_patched_write(void *user, uint32_t off, const uint8_t *buf, uint32_t len)
{
	struct tu_patched *pp = user;
	if ((size_t)off + len > sizeof(pp->out))
		return -1;
	memcpy(pp->out + off, buf, len);
	pp->out_len = off + len;
	return 0;
}

/* A device's state message, zeroed but for who it is: id, class, agent 0.1.0 (ABI 1) and
 * its RAM and flash; the caller fills in slots and sensors. */
static inline void
tu_state_init(struct tfp_state *s, const char *id, const char *cls, uint32_t ram_bytes,
              uint32_t flash_bytes)
{
	memset(s, 0, sizeof(*s));
	s->wire_version = TFP_WIRE_VERSION;
	snprintf(s->device_id, sizeof(s->device_id), "%s", id);
	snprintf(s->device_class, sizeof(s->device_class), "%s", cls);
	snprintf(s->agent_version, sizeof(s->agent_version), "0.1.0");
	s->ram_bytes = ram_bytes;
	s->flash_bytes = flash_bytes;
	s->agent_abi = 1;
}

#endif
