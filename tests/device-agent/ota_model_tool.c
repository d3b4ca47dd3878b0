/*
 * ota-model-tool OUT.tfm [VARIANT] [--hidden H] [--retrain]: writes the OTA tests' model
 * container (a 16->H->H->4 classifier with self-test vectors, ~7.7 KB for the default
 * H = 64, ~22 KB for H = 128; VARIANT > 0 is a fine-tune of 0, or with --retrain the same
 * shape drawn afresh, so that a delta from 0 is about as large as the int8 weights) for
 * the simulator and its benchmark. Reuses the tests' builder, hence cmocka.
 *
 * ota-model-tool --fuzz-seeds DIR: writes fuzz_ota's seeds (records [channel][len16][bytes],
 * see tests/fuzz/fuzz_ota.c): a signed delta offer v1 -> v2 with its chunk responses, the
 * same as a full image, a rollback, and a replayed duplicate; config commands (every
 * setting, the same id again, a refused value). Deterministic (RFC 6979).
 */
#include "ota_test_util.h"

static void
rec(FILE *f, int ch, const uint8_t *buf, size_t len)
{
	uint8_t h[3] = { (uint8_t)ch, (uint8_t)len, (uint8_t)(len >> 8) };

	if (len > 0xffff || fwrite(h, 1, 3, f) != 3 || fwrite(buf, 1, len, f) != len)
		exit(1);
}

static void
seed_update(const char *dir, const char *name, enum tfp_fetch fetch, const uint8_t *obj,
            size_t obj_len, const struct signed_manifest *sm, const uint8_t *base)
{
	static uint8_t buf[TFP_CHUNK_MAX + TFP_CHUNK_RESPONSE_WIRE_OVERHEAD];
	char path[512];
	struct tfp_command c;
	struct tfp_chunk_response r;
	size_t len;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL)
		exit(1);
	offer_cmd(&c, 7, sm, fetch, obj, obj_len, base);
	if (tfp_command_encode(&c, buf, sizeof(buf), &len) != 0)
		exit(1);
	rec(f, 0, buf, len);
	for (size_t off = 0; off < obj_len; off += R_CHUNK) {
		memset(&r, 0, sizeof(r));
		memcpy(r.object_id, c.u.update.object_id, TFP_DIGEST_LEN);
		r.offset = (uint32_t)off;
		r.total = (uint32_t)obj_len;
		r.len = obj_len - off < R_CHUNK ? obj_len - off : R_CHUNK;
		r.data = obj + off;
		if (tfp_chunk_response_encode(&r, buf, sizeof(buf), &len) != 0)
			exit(1);
		rec(f, 1, buf, len);
	}
	if (fetch == TFP_FETCH_DELTA) {     /* then a rollback, then the offer once more */
		struct tfp_command rb;
		memset(&rb, 0, sizeof(rb));
		rb.type = TFP_MSG_ROLLBACK;
		rb.command_id = 8;
		if (tfp_command_encode(&rb, buf, sizeof(buf), &len) != 0)
			exit(1);
		rec(f, 0, buf, len);
		if (tfp_command_encode(&c, buf, sizeof(buf), &len) != 0)
			exit(1);
		rec(f, 0, buf, len);
	}
	fclose(f);
}

static void
seed_config(const char *dir)
{
	uint8_t buf[TFP_COMMAND_WIRE_OVERHEAD];
	char path[512];
	struct tfp_command c;
	size_t len;
	FILE *f;

	snprintf(path, sizeof(path), "%s/config", dir);
	if ((f = fopen(path, "wb")) == NULL)
		exit(1);
	memset(&c, 0, sizeof(c));
	c.type = TFP_MSG_CONFIG;
	c.command_id = 9;
	c.u.config.present = TFP_CFG_ALL;
	c.u.config.telemetry_period_s = 60;
	c.u.config.telemetry_samples = 100;
	c.u.config.ph_delta = 0.01f;
	c.u.config.ph_lambda = 30.0f;
	c.u.config.adwin_delta = 0.01f;
	c.u.config.psi_alarm = 0.2f;
	c.u.config.shift_alarm = 0.8f;
	c.u.config.label_rate = 0.1f;
	for (int i = 0; i < 2; i++) {        /* applied, then a duplicate */
		if (tfp_command_encode(&c, buf, sizeof(buf), &len) != 0)
			exit(1);
		rec(f, 0, buf, len);
	}
	c.command_id = 10;
	c.u.config.present = TFP_CFG_PH_LAMBDA;
	c.u.config.ph_lambda = 0.0f;         /* refused by the device */
	if (tfp_command_encode(&c, buf, sizeof(buf), &len) != 0)
		exit(1);
	rec(f, 0, buf, len);
	fclose(f);
}

static int
fuzz_seeds(const char *dir)
{
	static struct model_img v1, v2;
	struct tfp_cose_signer s;
	struct tfp_manifest m;
	struct signed_manifest sm;
	uint8_t *patch;
	size_t plen;

	load_release_signer(&s);
	make_model(&v1, 0, 0);
	make_model(&v2, 1, 0);
	manifest_for(&m, &s, &v2, 2, "1.1.0");
	sign_manifest(&s, &m, &sm);
	patch = make_patch(&v1, &v2, TFP_DELTA_ENC_AUTO, &plen);
	seed_update(dir, "delta-update", TFP_FETCH_DELTA, patch, plen, &sm, v1.digest);
	seed_update(dir, "full-update", TFP_FETCH_FULL, v2.img, v2.len, &sm, NULL);
	seed_config(dir);
	free(patch);
	tfp_cose_signer_free(&s);
	return 0;
}

static int
usage(void)
{
	fprintf(stderr, "usage: ota-model-tool OUT.tfm [VARIANT] [--hidden 4..%u] [--retrain]\n"
	                "       ota-model-tool --fuzz-seeds DIR\n",
	        TB_HIDDEN_MAX);
	return 2;
}

int
main(int argc, char **argv)
{
	static struct model_img m;
	const char *out = NULL;
	unsigned variant = 0, hidden = 64;
	int retrain = 0, have_variant = 0;
	char *end;
	FILE *f;

	if (argc == 3 && strcmp(argv[1], "--fuzz-seeds") == 0)
		return fuzz_seeds(argv[2]);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--retrain") == 0) {
			retrain = 1;
		} else if (strcmp(argv[i], "--hidden") == 0 && i + 1 < argc) {
			unsigned long v = strtoul(argv[++i], &end, 10);
			if (*end != '\0' || v < 4 || v > TB_HIDDEN_MAX)
				return usage();
			hidden = (unsigned)v;
		} else if (out == NULL && argv[i][0] != '-') {
			out = argv[i];
		} else if (!have_variant && argv[i][0] != '-') {
			unsigned long v = strtoul(argv[i], &end, 10);
			if (*end != '\0' || v > 1000000)
				return usage();
			variant = (unsigned)v;
			have_variant = 1;
		} else {
			return usage();
		}
	}
	if (out == NULL)
		return usage();
	make_model_sized(&m, variant, hidden, retrain, 0);
	if ((f = fopen(out, "wb")) == NULL || fwrite(m.img, 1, m.len, f) != m.len ||
	    fclose(f) != 0) {
		perror(out);
		return 1;
	}
	return 0;
}
