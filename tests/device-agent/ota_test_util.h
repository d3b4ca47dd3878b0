/*
 * Shared rig of the OTA tests: a device (agent core on port/posix with an in-memory flash),
 * a scripted gateway peer that answers chunk requests and records reports, model containers
 * built in the test (learn_test_util.h), manifests signed with the committed test release
 * key (tests/interop/keys/) and patches from the gateway's delta encoder.
 *
 * Header-only (static functions); one rig per test binary (globals: the structs are large).
 */
#ifndef OTA_TEST_UTIL_H
#define OTA_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>

#include "learn_test_util.h"
#include "tinyfleet/agent/ota.h"
#include "tinyfleet/delta/encode.h"
#include "tinyfleet/port/posix.h"
#include "tinyfleet/protocol/manifest.h"

#define KEYS TF_SOURCE_DIR "/tests/interop/keys/"

/* Flash: 1 KB pages, 8-byte writes; metadata pages 0-1, slot A 2..17, slot B 18..33. */
#define R_PAGE 1024u
#define R_PAGES 34u
#define R_SLOT_PAGES 16u
#define R_CLASS "stm32l4-vib"
#define R_ABI 0x00010002u
#define R_CHUNK 512u

/* ---- models ---------------------------------------------------------------------------- */

struct model_img {
	uint8_t img[TB_MAX];
	size_t len;
	uint8_t digest[TFP_DIGEST_LEN];
};

static inline uint32_t
lcg(uint32_t *s)
{
	*s = *s * 1664525u + 1013904223u;
	return *s >> 8;
}

/*
 * A 16 -> H (int8, relu) -> H (int8, relu) -> 4 (float32, softmax, trainable) classifier;
 * with H = 64 (tb_model) about 6.5 KB. `variant` 0 is the base; variant k > 0 is a
 * fine-tune of it (a few percent of the int8 weights moved by one step, the head changed
 * everywhere), so a delta from the base is small. `retrain` draws the second layer's
 * weights and the head afresh for variant k (the upper layers retrained, the first kept):
 * a delta saves only the unchanged first layer and biases. With
 * bad_vectors the expected outputs are wrong: the model fails its own self-test.
 */
#define TB_HIDDEN_MAX 128

static inline void
tb_model_sized(struct tb *b, unsigned variant, unsigned hidden, int retrain, const float *tin,
               const float *tout, unsigned nvec)
{
	static float w1[TB_HIDDEN_MAX * 16], w2[TB_HIDDEN_MAX * TB_HIDDEN_MAX], b1[TB_HIDDEN_MAX],
	        b2[TB_HIDDEN_MAX], hw[4 * TB_HIDDEN_MAX], hb[4];
	static const float s1[1] = { 0.02f }, s2[1] = { 0.015f };
	const unsigned h = hidden;
	uint32_t sd = 12345u, sh1[1] = { 1 },
	         sw1[2] = { h, 16 }, sw2[2] = { h, h }, sb[1] = { h }, shw[2] = { 4, h },
	         shb[1] = { 4 };
	unsigned i_s1, i_w1, i_b1, i_s2, i_w2, i_b2, i_hw, i_hb;

	assert_true(h >= 4 && h <= TB_HIDDEN_MAX);
	for (unsigned i = 0; i < h * 16; i++)
		w1[i] = (float)((int)(lcg(&sd) % 201) - 100);
	for (unsigned i = 0; i < h * h; i++)
		w2[i] = (float)((int)(lcg(&sd) % 201) - 100);
	for (unsigned i = 0; i < h; i++) {
		b1[i] = (float)((int)(lcg(&sd) % 100) - 50) / 100.0f;
		b2[i] = (float)((int)(lcg(&sd) % 100) - 50) / 100.0f;
	}
	for (unsigned i = 0; i < 4 * h; i++)
		hw[i] = (float)((int)(lcg(&sd) % 2001) - 1000) / 1000.0f;
	for (unsigned i = 0; i < 4; i++)
		hb[i] = 0.0f;
	if (variant > 0 && retrain) {
		uint32_t vs = 12345u + 7919u * variant;
		for (unsigned i = 0; i < h * h; i++)
			w2[i] = (float)((int)(lcg(&vs) % 201) - 100);
		for (unsigned i = 0; i < 4 * h; i++)
			hw[i] = (float)((int)(lcg(&vs) % 2001) - 1000) / 1000.0f;
	} else if (variant > 0) {
		uint32_t vs = 777u * variant;
		for (unsigned i = 0; i < h * h; i++)
			if (lcg(&vs) % 100 < 4)
				w2[i] += (lcg(&vs) & 1u) ? 1.0f : -1.0f;
		for (unsigned i = 0; i < 4 * h; i++)
			hw[i] += (float)((int)(lcg(&vs) % 21) - 10) / 1000.0f;
	}
	tb_init(b, TFP_TASK_CLASSIFY, 1, 16);
	i_s1 = tb_tensor(b, "s1", TFP_DTYPE_FLOAT32, TFP_KIND_QSCALE, 1, sh1, s1, 0xFFFF, 0xFFFF);
	i_w1 = tb_tensor(b, "w1", TFP_DTYPE_INT8, TFP_KIND_WEIGHT, 2, sw1, w1, i_s1, 0xFFFF);
	i_b1 = tb_tensor(b, "b1", TFP_DTYPE_FLOAT32, TFP_KIND_BIAS, 1, sb, b1, 0xFFFF, 0xFFFF);
	i_s2 = tb_tensor(b, "s2", TFP_DTYPE_FLOAT32, TFP_KIND_QSCALE, 1, sh1, s2, 0xFFFF, 0xFFFF);
	i_w2 = tb_tensor(b, "w2", TFP_DTYPE_INT8, TFP_KIND_WEIGHT, 2, sw2, w2, i_s2, 0xFFFF);
	i_b2 = tb_tensor(b, "b2", TFP_DTYPE_FLOAT32, TFP_KIND_BIAS, 1, sb, b2, 0xFFFF, 0xFFFF);
	i_hw = tb_tensor(b, "hw", TFP_DTYPE_FLOAT32, TFP_KIND_WEIGHT, 2, shw, hw, 0xFFFF, 0xFFFF);
	i_hb = tb_tensor(b, "hb", TFP_DTYPE_FLOAT32, TFP_KIND_BIAS, 1, shb, hb, 0xFFFF, 0xFFFF);
	if (tin != NULL) {
		uint32_t si[2] = { nvec, 16 }, so[2] = { nvec, 4 };
		(void)tb_tensor(b, "ti", TFP_DTYPE_FLOAT32, TFP_KIND_TEST_IN, 2, si, tin, 0xFFFF,
		                0xFFFF);
		(void)tb_tensor(b, "to", TFP_DTYPE_FLOAT32, TFP_KIND_TEST_OUT, 2, so, tout, 0xFFFF,
		                0xFFFF);
	}
	tb_layer(b, TFP_OP_DENSE, TFP_ACT_RELU, i_w1, i_b1, 1, 16, 1, h, 0, 0, 0.0f, 0);
	tb_layer(b, TFP_OP_DENSE, TFP_ACT_RELU, i_w2, i_b2, 1, h, 1, h, 0, 0, 0.0f, 0);
	tb_layer(b, TFP_OP_DENSE, TFP_ACT_SOFTMAX, i_hw, i_hb, 1, h, 1, 4, 0, 0, 0.0f, 0);
	tb_trainable(b);
	tb_finish(b, 1e-4f);
}

static inline void
tb_model(struct tb *b, unsigned variant, const float *tin, const float *tout, unsigned nvec)
{
	tb_model_sized(b, variant, 64, 0, tin, tout, nvec);
}

static inline void
make_model_sized(struct model_img *out, unsigned variant, unsigned hidden, int retrain,
                 int bad_vectors)
{
	static struct tb b;
	static uint8_t arena[4096] __attribute__((aligned(16)));
	float tin[4 * 16], tout[4 * 4];
	struct tfa_model m;
	uint32_t sd = 99;

	/* First pass without vectors: the runtime computes the expected outputs. */
	tb_model_sized(&b, variant, hidden, retrain, NULL, NULL, 0);
	assert_int_equal(tfa_model_open(&m, b.img, b.len), 0);
	for (unsigned v = 0; v < 4; v++) {
		const float *y;
		size_t n;
		for (unsigned i = 0; i < 16; i++)
			tin[v * 16 + i] = (float)((int)(lcg(&sd) % 200) - 100) / 50.0f;
		assert_int_equal(tfa_infer(&m, tin + v * 16, arena, sizeof(arena), &y, &n), 0);
		assert_int_equal(n, 4);
		memcpy(tout + v * 4, y, 4 * sizeof(float));
	}
	if (bad_vectors)
		tout[1] += 0.5f;
	tb_model_sized(&b, variant, hidden, retrain, tin, tout, 4);
	assert_true(b.len <= sizeof(out->img));
	memcpy(out->img, b.img, b.len);
	out->len = b.len;
	assert_int_equal(mbedtls_sha256_ret(out->img, out->len, out->digest, 0), 0);
	assert_int_equal(tfa_model_open(&m, out->img, out->len), 0);
	assert_int_equal(tfa_selftest(&m, arena, sizeof(arena), NULL),
	                 bad_vectors ? TFA_ERR_SELFTEST : 0);
}

static inline void
make_model(struct model_img *out, unsigned variant, int bad_vectors)
{
	make_model_sized(out, variant, 64, 0, bad_vectors);
}

/* ---- keys and manifests ----------------------------------------------------------------- */

static inline char *
slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static inline void
load_release_signer(struct tfp_cose_signer *s)
{
	char *pem = slurp(KEYS "release-test.key.pem");
	assert_int_equal(tfp_cose_signer_init_pem(s, pem), 0);
	free(pem);
}

/* A fresh P-256 key the device does not pin. */
static inline void
make_other_signer(struct tfp_cose_signer *s)
{
	mbedtls_pk_context pk;
	mbedtls_entropy_context ent;
	mbedtls_ctr_drbg_context drbg;
	unsigned char pem[512];

	mbedtls_pk_init(&pk);
	mbedtls_entropy_init(&ent);
	mbedtls_ctr_drbg_init(&drbg);
	assert_int_equal(mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent,
	                                       (const unsigned char *)"ota", 3), 0);
	assert_int_equal(mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
	assert_int_equal(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk),
	                                     mbedtls_ctr_drbg_random, &drbg), 0);
	assert_int_equal(mbedtls_pk_write_key_pem(&pk, pem, sizeof(pem)), 0);
	assert_int_equal(tfp_cose_signer_init_pem(s, (const char *)pem), 0);
	mbedtls_pk_free(&pk);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&ent);
}

static inline void
manifest_for(struct tfp_manifest *m, const struct tfp_cose_signer *s,
             const struct model_img *img, uint64_t seq, const char *version)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->name, sizeof(m->name), "pump-anomaly");
	snprintf(m->version, sizeof(m->version), "%s", version);
	m->sequence = seq;
	snprintf(m->device_class, sizeof(m->device_class), R_CLASS);
	m->req.min_ram = 2048;
	m->req.min_flash = img->len;
	m->req.agent_abi = 0x00010001u;
	m->req.n_sensors = 1;
	snprintf(m->req.sensors[0], sizeof(m->req.sensors[0]), "accel3");
	memcpy(m->digest, img->digest, TFP_DIGEST_LEN);
	m->image_size = img->len;
	m->container_version = 1;
	memcpy(m->key_id, s->pub.kid, s->pub.kid_len);
	m->key_id[s->pub.kid_len] = '\0';
}

struct signed_manifest {
	uint8_t buf[TFP_MANIFEST_MAX];
	size_t len;
};

static inline void
sign_manifest(struct tfp_cose_signer *s, const struct tfp_manifest *m,
              struct signed_manifest *out)
{
	assert_int_equal(tfp_manifest_sign(s, m, out->buf, sizeof(out->buf), &out->len), 0);
}

/* ---- the scripted gateway peer ------------------------------------------------------- */

#define PEER_REPORTS 256

struct peer {
	const uint8_t *obj;          /* the object served */
	size_t obj_len;
	uint8_t obj_id[TFP_DIGEST_LEN];
	uint32_t claim_total;        /* total announced (0: obj_len) */
	int endless;                 /* serve filler bytes past obj_len up to claim_total */
	uint64_t delay_ms;           /* minimum time between two answers */
	uint64_t last_answer;
	int mute;                    /* never answer */
	int offline;                 /* device's sends fail */
	int have_req;
	struct tfp_chunk_request req;
	struct tfp_report reports[PEER_REPORTS];
	unsigned n_reports;
	uint8_t cmd[TFP_MANIFEST_MAX + TFP_COMMAND_WIRE_OVERHEAD];
	size_t cmd_len;
	int cmd_pending;
	uint8_t resp[TFA_OTA_RX_MAX];
	uint64_t *now;
};

static inline int
peer_send(void *user, enum tfa_chan ch, const uint8_t *buf, size_t len)
{
	struct peer *p = user;

	if (p->offline)
		return TFA_ERR_OFFLINE;
	if (ch == TFA_CHAN_CHUNK_REQ) {
		assert_int_equal(tfp_chunk_request_decode(buf, len, &p->req), 0);
		assert_true(p->req.length <= TFA_OTA_CHUNK_MAX);
		p->have_req = 1;
	} else if (ch == TFA_CHAN_REPORT) {
		struct tfp_report r;
		assert_int_equal(tfp_report_decode(buf, len, &r), 0);
		if (p->n_reports < PEER_REPORTS)
			p->reports[p->n_reports++] = r;
	}
	return 0;
}

static inline int
peer_recv(void *user, enum tfa_chan *ch, uint8_t *buf, size_t cap, size_t *len)
{
	struct peer *p = user;
	struct tfp_chunk_response r;
	static uint8_t filler[TFA_OTA_CHUNK_MAX];
	uint32_t total;

	if (p->cmd_pending) {
		p->cmd_pending = 0;
		assert_true(p->cmd_len <= cap);
		memcpy(buf, p->cmd, p->cmd_len);
		*len = p->cmd_len;
		*ch = TFA_CHAN_CMD;
		return 1;
	}
	if (!p->have_req || p->mute || p->obj == NULL)
		return 0;
	if (p->delay_ms > 0 && *p->now < p->last_answer + p->delay_ms)
		return 0;
	p->last_answer = *p->now;
	p->have_req = 0;
	total = p->claim_total != 0 ? p->claim_total : (uint32_t)p->obj_len;
	memset(&r, 0, sizeof(r));
	memcpy(r.object_id, p->obj_id, TFP_DIGEST_LEN);
	r.offset = p->req.offset;
	r.total = total;
	r.len = p->req.length;
	if (r.offset > total)
		r.offset = total;
	if (r.len > total - r.offset)
		r.len = total - r.offset;
	if (r.offset + r.len <= p->obj_len) {
		r.data = p->obj + r.offset;
	} else if (p->endless) {
		r.data = filler;
		if (r.offset < p->obj_len)
			r.len = p->obj_len - r.offset, r.data = p->obj + r.offset;
	} else {
		r.len = r.offset < p->obj_len ? p->obj_len - r.offset : 0;
		r.data = p->obj + r.offset;
	}
	assert_int_equal(tfp_chunk_response_encode(&r, buf, cap, len), 0);
	*ch = TFA_CHAN_CHUNK_RESP;
	return 1;
}

/* ---- the rig --------------------------------------------------------------------------- */

struct rig {
	struct tfa_posix px;
	struct tfa_port port;
	struct tfa_ota_config cfg;
	struct tfa_device_profile dev;
	struct tfp_cose_key keys[1];
	struct tfa_ota ota;
	struct peer peer;
	uint8_t arena[8192] __attribute__((aligned(16)));
};

static const char *const rig_sensors[] = { "accel3", "temp" };

static inline void
rig_open(struct rig *r, const struct tfp_cose_signer *release)
{
	struct tfa_flash_geom g = { R_PAGE, R_PAGES, 8, 0xFF };

	memset(r, 0, sizeof(*r));
	assert_int_equal(tfa_posix_open(&r->px, NULL, &g, 0x1234), 0);
	r->px.sim_clock = true;
	r->px.now_ms = 1000;
	r->px.now_unix = 1790000000u;
	r->px.send = peer_send;
	r->px.recv = peer_recv;
	r->px.user = &r->peer;
	r->peer.now = &r->px.now_ms;
	tfa_posix_port(&r->px, &r->port);
	r->dev.device_class = R_CLASS;
	r->dev.ram_bytes = 8192;
	r->dev.agent_abi = R_ABI;
	r->dev.n_sensors = 2;
	r->dev.sensors = rig_sensors;
	r->keys[0] = release->pub;
	r->cfg.device = &r->dev;
	r->cfg.keys = r->keys;
	r->cfg.n_keys = 1;
	r->cfg.meta_page = 0;
	r->cfg.slot_page[0] = 2;
	r->cfg.slot_page[1] = 2 + R_SLOT_PAGES;
	r->cfg.slot_pages = R_SLOT_PAGES;
	r->cfg.chunk_timeout_ms = 1000;
	r->cfg.chunk_retries = 3;
	r->cfg.progress_every = 2048;
}

static inline void
rig_close(struct rig *r)
{
	tfa_posix_close(&r->px);
}

static inline int
rig_boot(struct rig *r)
{
	return tfa_ota_init(&r->ota, &r->port, &r->cfg, r->arena, sizeof(r->arena));
}

/* Factory state of an opened rig: `m` provisioned as pump-anomaly 1.0.0 (sequence 1), then
 * the agent booted. */
static inline void
rig_provision(struct rig *r, const struct model_img *m)
{
	assert_int_equal(tfa_ota_provision(&r->ota, &r->port, &r->cfg, m->img, (uint32_t)m->len,
	                                   1, "pump-anomaly", "1.0.0"), 0);
	assert_int_equal(rig_boot(r), 0);
}

/* Queues a command for the device (delivered by the next poll). */
static inline void
rig_command(struct rig *r, const struct tfp_command *c)
{
	assert_int_equal(tfp_command_encode(c, r->peer.cmd, sizeof(r->peer.cmd), &r->peer.cmd_len),
	                 0);
	r->peer.cmd_pending = 1;
}

static inline void
offer_cmd(struct tfp_command *c, uint64_t id, const struct signed_manifest *sm,
          enum tfp_fetch fetch, const uint8_t *obj, size_t obj_len, const uint8_t *base)
{
	memset(c, 0, sizeof(*c));
	c->type = TFP_MSG_UPDATE;
	c->command_id = id;
	c->u.update.manifest = sm->buf;
	c->u.update.manifest_len = sm->len;
	c->u.update.fetch = fetch;
	c->u.update.object_size = (uint32_t)obj_len;
	c->u.update.chunk_size = R_CHUNK;
	assert_int_equal(mbedtls_sha256_ret(obj, obj_len, c->u.update.object_id, 0), 0);
	if (fetch == TFP_FETCH_DELTA)
		memcpy(c->u.update.base_digest, base, TFP_DIGEST_LEN);
}

static inline void
peer_serve(struct rig *r, const uint8_t *obj, size_t len)
{
	r->peer.obj = obj;
	r->peer.obj_len = len;
	assert_int_equal(mbedtls_sha256_ret(obj, len, r->peer.obj_id, 0), 0);
	r->peer.have_req = 0;
}

/* The last result report for command id, or NULL. */
static inline const struct tfp_report *
peer_result(const struct rig *r, uint64_t id)
{
	for (unsigned i = r->peer.n_reports; i-- > 0;)
		if (r->peer.reports[i].type == TFP_MSG_RESULT && r->peer.reports[i].command_id == id)
			return &r->peer.reports[i];
	return NULL;
}

/*
 * Polls the device (advancing the simulated clock by step_ms per poll) until a result for
 * command id arrives, the device reports a flash failure (power lost: returns that code),
 * or max_polls pass. Returns 0 when a result arrived, 1 on timeout.
 */
static inline int
rig_run(struct rig *r, uint64_t id, uint64_t step_ms, unsigned max_polls)
{
	for (unsigned i = 0; i < max_polls; i++) {
		int rc = tfa_ota_poll(&r->ota);
		if (rc != 0)
			return rc;
		if (peer_result(r, id) != NULL)
			return 0;
		r->px.now_ms += step_ms;
		r->px.now_unix += step_ms / 1000u;
	}
	return 1;
}

/* SHA-256 of the running model's image as it is in flash. */
static inline void
running_digest(struct rig *r, uint8_t out[TFP_DIGEST_LEN])
{
	const struct tfa_ota_meta *m = &r->ota.meta;
	const struct tfa_ota_slot *s = &m->slot[m->active];
	const uint8_t *img = r->port.flash_map(r->port.ctx,
	                                       r->cfg.slot_page[m->active] * R_PAGE, s->size);

	assert_non_null(img);
	assert_int_equal(mbedtls_sha256_ret(img, s->size, out, 0), 0);
}

/*
 * The device runs a valid confirmed model: its active slot is CONFIRMED, the bytes in flash
 * hash to the recorded digest, and the container passes its own self-test. Returns the
 * digest through out.
 */
static inline void
assert_runs_confirmed(struct rig *r, uint8_t out[TFP_DIGEST_LEN])
{
	const struct tfa_ota_meta *m = &r->ota.meta;
	uint8_t d[TFP_DIGEST_LEN];

	assert_int_equal(m->slot[m->active].state, TFP_SLOT_CONFIRMED);
	running_digest(r, d);
	assert_memory_equal(d, m->slot[m->active].digest, TFP_DIGEST_LEN);
	assert_int_equal(tfa_selftest(tfa_ota_model(&r->ota), r->arena, sizeof(r->arena), NULL),
	                 0);
	if (out != NULL)
		memcpy(out, d, TFP_DIGEST_LEN);
}

static inline uint8_t *
make_patch(const struct model_img *from, const struct model_img *to, int mode, size_t *len)
{
	struct tfp_delta_enc_opts o;
	uint8_t *patch = NULL;

	memset(&o, 0, sizeof(o));
	o.mode = mode;
	o.block_out = 1024;
	assert_int_equal(tfp_delta_encode(from->img, from->len, to->img, to->len, &o, &patch, len,
	                                  NULL), 0);
	return patch;
}

#endif
