/*
 * COSE_Sign1 / ES256: known answers (cose-wg Examples, Wycheproof P1363), sign/verify round
 * trips, the strict header profile and malformed envelopes, each with its specific code.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/sha256.h>

#include "tinyfleet/protocol/cbor_io.h"
#include "tinyfleet/protocol/cose_sign1.h"

#define KEYS TF_SOURCE_DIR "/tests/interop/keys/"
#define VECTORS TF_SHARED_DIR "/testvectors/"

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	assert_int_equal(fseek(f, 0, SEEK_SET), 0);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (len != NULL)
		*len = (size_t)n;
	return buf;
}

static size_t
unhex(const char *hex, size_t hex_len, uint8_t *out, size_t cap)
{
	size_t i, n = hex_len / 2;
	assert_true(hex_len % 2 == 0 && n <= cap);
	for (i = 0; i < n; i++) {
		unsigned v;
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

static void
load_signer(struct tfp_cose_signer *s)
{
	char *pem = slurp(KEYS "release-test.key.pem", NULL);
	assert_int_equal(tfp_cose_signer_init_pem(s, pem), 0);
	free(pem);
}

static void
load_pub(const char *path, struct tfp_cose_key *key)
{
	char *pem = slurp(path, NULL);
	assert_int_equal(tfp_cose_key_from_pem(pem, key), 0);
	free(pem);
}

/* ---- known answers ---- */

struct cose_wg_expect {
	const char *name;
	int rc;
};

/* Our strict verdicts for the cose-wg rows; the TSV's expect column must agree. */
static const struct cose_wg_expect cose_wg[] = {
	{ "ecdsa-sig-01", 0 },
	{ "sign-pass-03", 0 },                              /* untagged */
	{ "sign-pass-01", TFP_ERR_UNSUPPORTED_ALG },        /* alg only unprotected */
	{ "sign-pass-02", TFP_ERR_BAD_SIGNATURE },          /* signed with external_aad */
	{ "sign-fail-01", TFP_ERR_BAD_TAG },                /* tag 998 */
	{ "sign-fail-02", TFP_ERR_BAD_SIGNATURE },          /* payload changed */
	{ "sign-fail-03", TFP_ERR_UNSUPPORTED_ALG },        /* alg -999 */
	{ "sign-fail-04", TFP_ERR_UNSUPPORTED_ALG },        /* alg "unknown" */
	{ "sign-fail-06", TFP_ERR_BAD_SIGNATURE },          /* signature changed */
	{ "sign-fail-07", TFP_ERR_BAD_SIGNATURE },          /* protected header changed */
	{ "ecdsa-sig-04", TFP_ERR_UNSUPPORTED_ALG },        /* ES512 */
};

static void
test_cose_wg_examples(void **state)
{
	struct tfp_cose_key key11;
	struct tfp_cose_sign1_view view;
	char *tsv = slurp(VECTORS "cose-wg/cose-wg-examples.tsv", NULL);
	char *line, *save = NULL;
	size_t rows = 0, i;
	(void)state;

	load_pub(VECTORS "cose-wg/key11-pub.pem", &key11);
	memcpy(key11.kid, "11", 2);   /* the Examples repository's kid for key "11" */
	key11.kid_len = 2;

	for (line = strtok_r(tsv, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char *col[5], *p = line;
		uint8_t msg[512];
		size_t n, c;
		int rc;

		if (line[0] == '#' || line[0] == '\0')
			continue;
		for (c = 0; c < 5; c++) {
			col[c] = p;
			p = strchr(p, '\t');
			if (c < 4) {
				assert_non_null(p);
				*p++ = '\0';
			}
		}
		n = unhex(col[4], strlen(col[4]), msg, sizeof(msg));
		rc = tfp_cose_sign1_verify(msg, n, &key11, 1, &view);
		for (i = 0; i < sizeof(cose_wg) / sizeof(cose_wg[0]); i++) {
			if (strcmp(cose_wg[i].name, col[0]) == 0)
				break;
		}
		if (i == sizeof(cose_wg) / sizeof(cose_wg[0]))
			fail_msg("vector %s has no expected code here", col[0]);
		if (rc != cose_wg[i].rc)
			fail_msg("%s: got %d (%s), want %d", col[0], rc, tfp_strerror(rc), cose_wg[i].rc);
		assert_string_equal(col[1], rc == 0 ? "OK" : "FAIL");
		if (rc == 0) {
			assert_int_equal(view.payload_len, 20);
			assert_memory_equal(view.payload, "This is the content.", 20);
			assert_ptr_equal(view.key, &key11);
		}
		rows++;
	}
	assert_int_equal(rows, sizeof(cose_wg) / sizeof(cose_wg[0]));
	free(tsv);
}

static void
test_wycheproof_p1363(void **state)
{
	json_error_t err;
	json_t *root = json_load_file(VECTORS "wycheproof/ecdsa_secp256r1_sha256_p1363_test.json",
	                              0, &err);
	json_t *group, *tc;
	size_t gi, ti, total = 0, valid = 0, invalid = 0;
	(void)state;

	assert_non_null(root);
	json_array_foreach(json_object_get(root, "testGroups"), gi, group) {
		const char *pub = json_string_value(
			json_object_get(json_object_get(group, "publicKey"), "uncompressed"));
		uint8_t point[TFP_P256_POINT_LEN];

		assert_non_null(pub);
		assert_int_equal(unhex(pub, strlen(pub), point, sizeof(point)), sizeof(point));
		json_array_foreach(json_object_get(group, "tests"), ti, tc) {
			const char *msg_hex = json_string_value(json_object_get(tc, "msg"));
			const char *sig_hex = json_string_value(json_object_get(tc, "sig"));
			const char *result = json_string_value(json_object_get(tc, "result"));
			uint8_t msg[1024], sig[256], hash[32];
			size_t mlen, slen;
			int rc;

			mlen = unhex(msg_hex, strlen(msg_hex), msg, sizeof(msg));
			slen = unhex(sig_hex, strlen(sig_hex), sig, sizeof(sig));
			assert_int_equal(mbedtls_sha256_ret(msg, mlen, hash, 0), 0);
			rc = tfp_es256_verify_hash(point, hash, sig, slen);
			if (strcmp(result, "valid") == 0) {
				if (rc != 0)
					fail_msg("tcId %d valid but got %d",
					         (int)json_integer_value(json_object_get(tc, "tcId")), rc);
				valid++;
			} else {
				assert_string_equal(result, "invalid");
				if (rc != TFP_ERR_BAD_SIGNATURE)
					fail_msg("tcId %d invalid but got %d",
					         (int)json_integer_value(json_object_get(tc, "tcId")), rc);
				invalid++;
			}
			total++;
		}
	}
	assert_int_equal(total, json_integer_value(json_object_get(root, "numberOfTests")));
	assert_int_equal(valid, 169);
	assert_int_equal(invalid, 83);
	json_decref(root);
}

/* ---- round trips ---- */

static const uint8_t payload[] = "tinyfleet manifest payload bytes";

static size_t
sign_sample(uint8_t *out, size_t cap, struct tfp_cose_key *pub)
{
	struct tfp_cose_signer s;
	size_t len;
	load_signer(&s);
	assert_int_equal(tfp_cose_sign1_sign(&s, payload, sizeof(payload), out, cap, &len), 0);
	if (pub != NULL)
		*pub = s.pub;
	tfp_cose_signer_free(&s);
	return len;
}

static void
test_sign_verify_round_trip(void **state)
{
	struct tfp_cose_key pub, other;
	struct tfp_cose_sign1_view view;
	uint8_t msg[256], again[256];
	size_t len, len2;
	(void)state;

	len = sign_sample(msg, sizeof(msg), &pub);
	assert_true(len <= sizeof(payload) + TFP_COSE_SIGN1_OVERHEAD);
	/* The public half loaded from its own PEM has the same point and kid. */
	load_pub(KEYS "release-test.pub.pem", &other);
	assert_memory_equal(&other, &pub, sizeof(pub));
	assert_int_equal(pub.kid_len, 16);
	assert_memory_equal(pub.kid, "153ba991abded284", 16);

	assert_int_equal(tfp_cose_sign1_verify(msg, len, &pub, 1, &view), 0);
	assert_int_equal(view.payload_len, sizeof(payload));
	assert_memory_equal(view.payload, payload, sizeof(payload));
	assert_true(view.payload > msg && view.payload < msg + len);   /* borrowed, not copied */

	/* Deterministic ECDSA: signing again gives the same bytes. */
	len2 = sign_sample(again, sizeof(again), NULL);
	assert_int_equal(len2, len);
	assert_memory_equal(again, msg, len);
}

static void
test_sign_reports_needed_size(void **state)
{
	struct tfp_cose_signer s;
	uint8_t out[16];
	size_t need;
	(void)state;

	load_signer(&s);
	assert_int_equal(tfp_cose_sign1_sign(&s, payload, sizeof(payload), out, sizeof(out), &need),
	                 TFP_ERR_BUFFER);
	assert_true(need > sizeof(out) && need <= sizeof(payload) + TFP_COSE_SIGN1_OVERHEAD);
	tfp_cose_signer_free(&s);
	tfp_cose_signer_free(&s);   /* idempotent */
}

static void
test_every_flipped_byte_fails(void **state)
{
	struct tfp_cose_key pub;
	struct tfp_cose_sign1_view view;
	uint8_t msg[256];
	size_t len, i;
	unsigned bit;
	(void)state;

	len = sign_sample(msg, sizeof(msg), &pub);
	for (i = 0; i < len; i++) {
		for (bit = 0; bit < 8; bit++) {
			msg[i] ^= (uint8_t)(1u << bit);
			if (tfp_cose_sign1_verify(msg, len, &pub, 1, &view) == 0)
				fail_msg("flip of bit %u in byte %zu verified", bit, i);
			msg[i] ^= (uint8_t)(1u << bit);
		}
	}
	assert_int_equal(tfp_cose_sign1_verify(msg, len, &pub, 1, &view), 0);
}

static void
test_truncation_at_every_byte(void **state)
{
	struct tfp_cose_key pub;
	struct tfp_cose_sign1_view view;
	uint8_t msg[256];
	size_t len, i;
	(void)state;

	len = sign_sample(msg, sizeof(msg), &pub);
	for (i = 0; i < len; i++) {
		/* An exact-size heap copy so ASan sees any read past the prefix. */
		uint8_t *p = malloc(i + 1);
		assert_non_null(p);
		memcpy(p, msg, i);
		if (tfp_cose_sign1_verify(i > 0 ? p : NULL, i, &pub, 1, &view) != TFP_ERR_TRUNCATED)
			fail_msg("prefix of %zu bytes not reported as truncated", i);
		free(p);
	}
}

static void
test_key_loading_errors(void **state)
{
	struct tfp_cose_key key;
	struct tfp_cose_signer s;
	char *priv = slurp(KEYS "release-test.key.pem", NULL);
	char *pub = slurp(KEYS "release-test.pub.pem", NULL);
	(void)state;

	assert_int_equal(tfp_cose_key_from_pem("not a key", &key), TFP_ERR_KEY);
	assert_int_equal(tfp_cose_signer_init_pem(&s, "-----BEGIN EC PRIVATE KEY-----\n"), TFP_ERR_KEY);
	tfp_cose_signer_free(&s);
	assert_int_equal(tfp_cose_signer_init_pem(&s, pub), TFP_ERR_KEY);   /* public only */
	tfp_cose_signer_free(&s);
	free(priv);
	free(pub);
}

static void
test_raw_verify_bad_point(void **state)
{
	uint8_t point[TFP_P256_POINT_LEN] = { 0x04 }, hash[32] = { 0 }, sig[64] = { 1 };
	(void)state;
	/* (0, 0) is not on the curve; a compressed prefix is not accepted either. */
	assert_int_equal(tfp_es256_verify_hash(point, hash, sig, sizeof(sig)), TFP_ERR_KEY);
	point[0] = 0x02;
	assert_int_equal(tfp_es256_verify_hash(point, hash, sig, sizeof(sig)), TFP_ERR_KEY);
	assert_int_equal(tfp_es256_verify_hash(point, hash, sig, 63), TFP_ERR_BAD_SIGNATURE);
}

/* ---- hand-built envelopes for the header profile ---- */

struct parts {
	int64_t tag;               /* -1: none */
	const uint8_t *prot;       /* raw bytes inside the protected bstr */
	size_t prot_len;
	const uint8_t *unprot;     /* raw encoded unprotected map; NULL: empty map */
	size_t unprot_len;
	int payload_nil;
	const uint8_t *sig;        /* NULL: a real signature over the Sig_structure */
	size_t sig_len;
};

static struct tfp_cose_signer signer;

/* Builds a message the way RFC 9052 describes it, signing the full Sig_structure
 * encoded in one piece (independent of the library's incremental hashing). */
static size_t
build(const struct parts *p, uint8_t *out, size_t cap)
{
	struct tfp_cbor_writer w;
	uint8_t tbs[512], hash[32], sig[64];
	size_t tbs_len, len;
	mbedtls_mpi r, s;
	mbedtls_ecp_keypair *ec = mbedtls_pk_ec(signer.pk);

	tfp_cbor_writer_init(&w, tbs, sizeof(tbs));
	tfp_cbor_put_array(&w, 4);
	tfp_cbor_put_textz(&w, "Signature1");
	tfp_cbor_put_bytes(&w, p->prot, p->prot_len);
	tfp_cbor_put_bytes(&w, NULL, 0);
	tfp_cbor_put_bytes(&w, payload, sizeof(payload));
	assert_int_equal(tfp_cbor_writer_finish(&w, &tbs_len), 0);
	assert_int_equal(mbedtls_sha256_ret(tbs, tbs_len, hash, 0), 0);
	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&s);
	assert_int_equal(mbedtls_ecdsa_sign_det_ext(&ec->grp, &r, &s, &ec->d, hash, 32,
	                                            MBEDTLS_MD_SHA256, mbedtls_ctr_drbg_random,
	                                            &signer.drbg), 0);
	assert_int_equal(mbedtls_mpi_write_binary(&r, sig, 32), 0);
	assert_int_equal(mbedtls_mpi_write_binary(&s, sig + 32, 32), 0);
	mbedtls_mpi_free(&r);
	mbedtls_mpi_free(&s);

	tfp_cbor_writer_init(&w, out, cap);
	if (p->tag >= 0)
		tfp_cbor_put_tag(&w, (uint64_t)p->tag);
	tfp_cbor_put_array(&w, 4);
	tfp_cbor_put_bytes(&w, p->prot, p->prot_len);
	assert_int_equal(tfp_cbor_writer_finish(&w, &len), 0);
	if (p->unprot != NULL) {
		memcpy(out + len, p->unprot, p->unprot_len);
		len += p->unprot_len;
	} else {
		out[len++] = 0xa0;
	}
	tfp_cbor_writer_init(&w, out + len, cap - len);
	if (p->payload_nil)
		tfp_cbor_put_null(&w);
	else
		tfp_cbor_put_bytes(&w, payload, sizeof(payload));
	if (p->sig != NULL)
		tfp_cbor_put_bytes(&w, p->sig, p->sig_len);
	else
		tfp_cbor_put_bytes(&w, sig, sizeof(sig));
	assert_int_equal(tfp_cbor_writer_finish(&w, &tbs_len), 0);
	return len + tbs_len;
}

/* {1: -7, 4: h'<our kid>'} */
static size_t
good_prot(uint8_t *buf)
{
	struct tfp_cbor_writer w;
	size_t len;
	tfp_cbor_writer_init(&w, buf, 64);
	tfp_cbor_put_map(&w, 2);
	tfp_cbor_put_uint(&w, 1);
	tfp_cbor_put_int(&w, -7);
	tfp_cbor_put_uint(&w, 4);
	tfp_cbor_put_bytes(&w, signer.pub.kid, signer.pub.kid_len);
	assert_int_equal(tfp_cbor_writer_finish(&w, &len), 0);
	return len;
}

static int
verify_parts(const struct parts *p)
{
	struct tfp_cose_sign1_view view;
	uint8_t msg[512];
	size_t len = build(p, msg, sizeof(msg));
	return tfp_cose_sign1_verify(msg, len, &signer.pub, 1, &view);
}

static int
setup_signer(void **state)
{
	(void)state;
	load_signer(&signer);
	return 0;
}

static int
teardown_signer(void **state)
{
	(void)state;
	tfp_cose_signer_free(&signer);
	return 0;
}

static void
test_header_profile(void **state)
{
	uint8_t prot[80], unprot[64];
	size_t plen = good_prot(prot);
	struct parts p = { .tag = 18, .prot = prot, .prot_len = plen };
	uint8_t bad_sig[63] = { 0 };
	(void)state;

	assert_int_equal(verify_parts(&p), 0);
	p.tag = -1;                                        /* untagged is fine */
	assert_int_equal(verify_parts(&p), 0);
	p.tag = 98;                                        /* COSE_Sign, not Sign1 */
	assert_int_equal(verify_parts(&p), TFP_ERR_BAD_TAG);
	p.tag = 18;

	/* kid in the unprotected header instead: accepted. */
	{
		static const uint8_t alg_only[] = { 0xa1, 0x01, 0x26 };
		size_t n = 0;
		unprot[n++] = 0xa1;
		unprot[n++] = 0x04;
		unprot[n++] = (uint8_t)(0x40 + signer.pub.kid_len);
		memcpy(unprot + n, signer.pub.kid, signer.pub.kid_len);
		n += signer.pub.kid_len;
		struct parts q = { .tag = 18, .prot = alg_only, .prot_len = sizeof(alg_only),
		                   .unprot = unprot, .unprot_len = n };
		assert_int_equal(verify_parts(&q), 0);
		/* ... but not in both headers. */
		q.prot = prot;
		q.prot_len = plen;
		assert_int_equal(verify_parts(&q), TFP_ERR_BAD_HEADER);
		/* no kid anywhere */
		q.prot = alg_only;
		q.prot_len = sizeof(alg_only);
		q.unprot = NULL;
		assert_int_equal(verify_parts(&q), TFP_ERR_UNKNOWN_KEY);
	}

	/* alg: absent, other value, text, in the unprotected header. */
	{
		static const uint8_t empty_map[] = { 0xa0 };
		static const uint8_t es384[] = { 0xa1, 0x01, 0x38, 0x22 };
		static const uint8_t text_alg[] = { 0xa1, 0x01, 0x65, 'E', 'S', '2', '5', '6' };
		static const uint8_t huge_alg[] = { 0xa1, 0x01, 0x3b, 0xff, 0xff, 0xff, 0xff,
		                                    0xff, 0xff, 0xff, 0xff };
		static const uint8_t unprot_alg[] = { 0xa1, 0x01, 0x26 };
		struct parts q = p;
		q.prot = empty_map;
		q.prot_len = sizeof(empty_map);
		assert_int_equal(verify_parts(&q), TFP_ERR_UNSUPPORTED_ALG);
		q.prot_len = 0;                                /* empty bstr = empty map */
		assert_int_equal(verify_parts(&q), TFP_ERR_UNSUPPORTED_ALG);
		q.prot = es384;
		q.prot_len = sizeof(es384);
		assert_int_equal(verify_parts(&q), TFP_ERR_UNSUPPORTED_ALG);
		q.prot = text_alg;
		q.prot_len = sizeof(text_alg);
		assert_int_equal(verify_parts(&q), TFP_ERR_UNSUPPORTED_ALG);
		q.prot = huge_alg;
		q.prot_len = sizeof(huge_alg);
		assert_int_equal(verify_parts(&q), TFP_ERR_UNSUPPORTED_ALG);
		q = p;
		q.unprot = unprot_alg;
		q.unprot_len = sizeof(unprot_alg);
		assert_int_equal(verify_parts(&q), TFP_ERR_UNSUPPORTED_ALG);
	}

	/* Unknown, critical, duplicate and mistyped labels. */
	{
		static const uint8_t crit[] = { 0xa2, 0x01, 0x26, 0x02, 0x81, 0x04 };
		static const uint8_t label99[] = { 0xa2, 0x01, 0x26, 0x18, 0x63, 0x00 };
		static const uint8_t neg_label[] = { 0xa2, 0x01, 0x26, 0x20, 0x00 };
		static const uint8_t text_label[] = { 0xa2, 0x01, 0x26, 0x61, 'x', 0x00 };
		static const uint8_t array_label[] = { 0xa2, 0x01, 0x26, 0x80, 0x00 };
		static const uint8_t dup_alg[] = { 0xa2, 0x01, 0x26, 0x01, 0x26 };
		static const uint8_t kid_text[] = { 0xa2, 0x01, 0x26, 0x04, 0x62, '1', '1' };
		static const uint8_t ctype_ok[] = { 0xa2, 0x01, 0x26, 0x03, 0x00 };
		static const uint8_t ctype_bad[] = { 0xa2, 0x01, 0x26, 0x03, 0x40 };
		static const uint8_t not_map[] = { 0x82, 0x01, 0x26 };
		static const uint8_t trailing[] = { 0xa1, 0x01, 0x26, 0x00 };
		static const uint8_t indef[] = { 0xbf, 0x01, 0x26, 0xff };
		static const uint8_t unprot_iv[] = { 0xa1, 0x05, 0x40 };
		static const uint8_t unprot_ctype[] = { 0xa1, 0x03, 0x00 };
		static const uint8_t unprot_indef[] = { 0xbf, 0xff };
		static const uint8_t unprot_array[] = { 0x80 };
		struct parts q = p;
#define CASE(buf, want) do { q.prot = buf; q.prot_len = sizeof(buf); \
		assert_int_equal(verify_parts(&q), want); } while (0)
		CASE(crit, TFP_ERR_UNKNOWN_FIELD);
		CASE(label99, TFP_ERR_UNKNOWN_FIELD);
		CASE(neg_label, TFP_ERR_UNKNOWN_FIELD);
		CASE(text_label, TFP_ERR_UNKNOWN_FIELD);
		CASE(array_label, TFP_ERR_BAD_HEADER);
		CASE(dup_alg, TFP_ERR_DUPLICATE_FIELD);
		CASE(kid_text, TFP_ERR_WRONG_TYPE);
		CASE(ctype_bad, TFP_ERR_WRONG_TYPE);
		CASE(not_map, TFP_ERR_BAD_HEADER);
		CASE(trailing, TFP_ERR_TRAILING);
		CASE(indef, TFP_ERR_INDEFINITE);
		/* content type in the protected header is fine, but then there is no kid */
		CASE(ctype_ok, TFP_ERR_UNKNOWN_KEY);
#undef CASE
		q = p;
#define UCASE(buf, want) do { q.unprot = buf; q.unprot_len = sizeof(buf); \
		assert_int_equal(verify_parts(&q), want); } while (0)
		UCASE(unprot_iv, TFP_ERR_UNKNOWN_FIELD);
		UCASE(unprot_ctype, TFP_ERR_UNKNOWN_FIELD);
		UCASE(unprot_indef, TFP_ERR_INDEFINITE);
		UCASE(unprot_array, TFP_ERR_BAD_HEADER);
#undef UCASE
	}

	/* kid too long; protected header over its bound. */
	{
		uint8_t big[TFP_COSE_PROTECTED_MAX + 1];
		uint8_t long_kid[3 + 2 + 17] = { 0xa2, 0x01, 0x26, 0x04, 0x51 };
		struct parts q = p;
		memset(long_kid + 5, 'k', 17);
		q.prot = long_kid;
		q.prot_len = sizeof(long_kid);
		assert_int_equal(verify_parts(&q), TFP_ERR_OVERSIZE);
		memset(big, 0, sizeof(big));
		memcpy(big, prot, plen);
		q.prot = big;
		q.prot_len = sizeof(big);
		assert_int_equal(verify_parts(&q), TFP_ERR_OVERSIZE);
	}

	/* Payload and signature. */
	{
		struct parts q = p;
		q.payload_nil = 1;
		assert_int_equal(verify_parts(&q), TFP_ERR_NO_PAYLOAD);
		q = p;
		q.sig = bad_sig;
		q.sig_len = sizeof(bad_sig);
		assert_int_equal(verify_parts(&q), TFP_ERR_BAD_SIGNATURE);
	}
}

static void
test_malformed_envelopes(void **state)
{
	struct tfp_cose_sign1_view view;
	uint8_t msg[512], tmp[600];
	size_t len;
	uint8_t prot[80];
	struct parts p = { .tag = 18, .prot = prot };
	(void)state;

	p.prot_len = good_prot(prot);
	len = build(&p, msg, sizeof(msg));
	assert_int_equal(tfp_cose_sign1_verify(msg, len, &signer.pub, 1, &view), 0);

	/* Trailing byte. */
	memcpy(tmp, msg, len);
	tmp[len] = 0x00;
	assert_int_equal(tfp_cose_sign1_verify(tmp, len + 1, &signer.pub, 1, &view),
	                 TFP_ERR_TRAILING);
	/* Tag 18 twice. */
	tmp[0] = 0xd2;
	memcpy(tmp + 1, msg, len);
	assert_int_equal(tfp_cose_sign1_verify(tmp, len + 1, &signer.pub, 1, &view),
	                 TFP_ERR_BAD_TAG);
	/* Wrong major types at the top and for the array's members. */
	memcpy(tmp, msg, len);
	tmp[1] = 0xa4;                                      /* map instead of array */
	assert_int_equal(tfp_cose_sign1_verify(tmp, len, &signer.pub, 1, &view),
	                 TFP_ERR_COSE_STRUCTURE);
	tmp[1] = 0x83;                                      /* 3 elements */
	assert_int_equal(tfp_cose_sign1_verify(tmp, len, &signer.pub, 1, &view),
	                 TFP_ERR_COSE_STRUCTURE);
	tmp[1] = 0x9f;                                      /* indefinite array */
	assert_int_equal(tfp_cose_sign1_verify(tmp, len, &signer.pub, 1, &view),
	                 TFP_ERR_INDEFINITE);
	memcpy(tmp, msg, len);
	tmp[2] ^= 0x20;                                     /* protected bstr -> tstr */
	assert_int_equal(tfp_cose_sign1_verify(tmp, len, &signer.pub, 1, &view),
	                 TFP_ERR_WRONG_TYPE);
	tmp[2] = 0x5f;                                      /* indefinite bstr */
	assert_int_equal(tfp_cose_sign1_verify(tmp, len, &signer.pub, 1, &view),
	                 TFP_ERR_INDEFINITE);
	/* A length beyond the input. */
	memcpy(tmp, msg, 2);
	memcpy(tmp + 2, "\x5a\xff\xff\xff\xff", 5);
	assert_int_equal(tfp_cose_sign1_verify(tmp, 7, &signer.pub, 1, &view),
	                 TFP_ERR_TRUNCATED);
	/* Not CBOR at all. */
	assert_int_equal(tfp_cose_sign1_verify((const uint8_t *)"\xfc", 1, &signer.pub, 1, &view),
	                 TFP_ERR_MALFORMED);
	/* No trusted keys. */
	assert_int_equal(tfp_cose_sign1_verify(msg, len, NULL, 0, &view), TFP_ERR_UNKNOWN_KEY);
	/* Payload as text, signature as text. */
	{
		size_t pay_at = 2 + 1 + p.prot_len + 1;      /* tag, array, bstr head+prot, a0 */
		memcpy(tmp, msg, len);
		assert_int_equal(tmp[pay_at], 0x58);
		tmp[pay_at] = 0x78;
		assert_int_equal(tfp_cose_sign1_verify(tmp, len, &signer.pub, 1, &view),
		                 TFP_ERR_WRONG_TYPE);
		memcpy(tmp, msg, len);
		assert_int_equal(tmp[len - 66], 0x58);
		tmp[len - 66] = 0x78;
		assert_int_equal(tfp_cose_sign1_verify(tmp, len, &signer.pub, 1, &view),
		                 TFP_ERR_WRONG_TYPE);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cose_wg_examples),
		cmocka_unit_test(test_wycheproof_p1363),
		cmocka_unit_test(test_sign_verify_round_trip),
		cmocka_unit_test(test_sign_reports_needed_size),
		cmocka_unit_test(test_every_flipped_byte_fails),
		cmocka_unit_test(test_truncation_at_every_byte),
		cmocka_unit_test(test_key_loading_errors),
		cmocka_unit_test(test_raw_verify_bad_point),
		cmocka_unit_test_setup_teardown(test_header_profile, setup_signer, teardown_signer),
		cmocka_unit_test_setup_teardown(test_malformed_envelopes, setup_signer,
		                                teardown_signer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
