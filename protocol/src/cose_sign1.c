/*
 * COSE_Sign1 with ES256: strict verification for devices, signing and key loading for
 * hosts. See tinyfleet/protocol/cose_sign1.h for the profile and the contracts.
 */
#include "tinyfleet/protocol/cose_sign1.h"

#include <stdbool.h>
#include <string.h>

#include <cbor.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/sha256.h>

#include "tinyfleet/protocol/cbor_io.h"

static const char sig_context[] = "Signature1";

/* Header parameters seen in one header map; pointers borrow the message. */
struct cose_hdr {
	bool have_alg;
	bool have_kid;
	const uint8_t *kid;
	size_t kid_len;
};

/*
 * Writes the head of a definite-length bstr of `len` bytes (shortest form, as RFC 9052 §9
 * requires for the Sig_structure). The writer in cbor_io always appends content with its
 * head, and the whole point here is to hash the payload in place instead of copying it, so
 * this one head comes from libcbor's encoder directly. Returns the head length (1..9).
 */
static size_t
bstr_head(size_t len, uint8_t out[9])
{
	return cbor_encode_bytestring_start(len, out, 9);
}

/*
 * SHA-256 over the CBOR encoding of Sig_structure = ["Signature1", protected,
 * external_aad = h'', payload] (RFC 9052 §4.4), fed incrementally: the fixed prefix and the
 * bstr heads are encoded into a small stack buffer, the protected header and the payload
 * are hashed where they lie.
 */
static int
hash_sig_structure(const uint8_t *prot, size_t prot_len, const uint8_t *payload,
                   size_t payload_len, uint8_t hash[TFP_DIGEST_LEN])
{
	mbedtls_sha256_context sha;
	struct tfp_cbor_writer w;
	uint8_t prefix[1 + 1 + sizeof(sig_context) - 1 + 9];
	uint8_t head[1 + 9];
	size_t n, hn;
	int rc = TFP_ERR_CRYPTO;

	mbedtls_sha256_init(&sha);
	tfp_cbor_writer_init(&w, prefix, sizeof(prefix));
	tfp_cbor_put_array(&w, 4);
	tfp_cbor_put_text(&w, sig_context, sizeof(sig_context) - 1);
	if (tfp_cbor_writer_finish(&w, &n) != 0) {
		rc = TFP_ERR_INTERNAL;
		goto out;
	}
	n += bstr_head(prot_len, prefix + n);

	/* external_aad is always the empty bstr in our profile, then the payload's head. */
	tfp_cbor_writer_init(&w, head, 1);
	tfp_cbor_put_bytes(&w, NULL, 0);
	if (tfp_cbor_writer_finish(&w, &hn) != 0) {
		rc = TFP_ERR_INTERNAL;
		goto out;
	}
	hn += bstr_head(payload_len, head + hn);

	if (mbedtls_sha256_starts_ret(&sha, 0) != 0 ||
	    mbedtls_sha256_update_ret(&sha, prefix, n) != 0 ||
	    mbedtls_sha256_update_ret(&sha, prot, prot_len) != 0 ||
	    mbedtls_sha256_update_ret(&sha, head, hn) != 0 ||
	    mbedtls_sha256_update_ret(&sha, payload, payload_len) != 0 ||
	    mbedtls_sha256_finish_ret(&sha, hash) != 0)
		goto out;
	rc = 0;
out:
	mbedtls_sha256_free(&sha);
	return rc;
}

int
tfp_es256_verify_hash(const uint8_t point[TFP_P256_POINT_LEN],
                      const uint8_t hash[TFP_DIGEST_LEN], const uint8_t *sig, size_t sig_len)
{
	mbedtls_ecp_group grp;
	mbedtls_ecp_point q;
	mbedtls_mpi r, s;
	int rc = TFP_ERR_CRYPTO, mrc;

	mbedtls_ecp_group_init(&grp);
	mbedtls_ecp_point_init(&q);
	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&s);
	if (point == NULL || hash == NULL) {
		rc = TFP_ERR_ARG;
		goto out;
	}
	/* P1363 form is exactly two 32-byte integers; anything else is not an ES256
	 * signature (and must not be reinterpreted, e.g. as DER). */
	if (sig == NULL || sig_len != TFP_ES256_SIG_LEN) {
		rc = TFP_ERR_BAD_SIGNATURE;
		goto out;
	}
	if (mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1) != 0)
		goto out;
	if (point[0] != 0x04 ||
	    mbedtls_ecp_point_read_binary(&grp, &q, point, TFP_P256_POINT_LEN) != 0 ||
	    mbedtls_ecp_check_pubkey(&grp, &q) != 0) {
		rc = TFP_ERR_KEY;
		goto out;
	}
	if (mbedtls_mpi_read_binary(&r, sig, TFP_ES256_SIG_LEN / 2) != 0 ||
	    mbedtls_mpi_read_binary(&s, sig + TFP_ES256_SIG_LEN / 2, TFP_ES256_SIG_LEN / 2) != 0)
		goto out;
	/* mbedtls_ecdsa_verify checks 0 < r, s < n itself and reports every mismatch as
	 * MBEDTLS_ERR_ECP_VERIFY_FAILED; only resource failures are something else. */
	mrc = mbedtls_ecdsa_verify(&grp, hash, TFP_DIGEST_LEN, &q, &r, &s);
	if (mrc == MBEDTLS_ERR_MPI_ALLOC_FAILED || mrc == MBEDTLS_ERR_ECP_ALLOC_FAILED)
		goto out;
	rc = mrc == 0 ? 0 : TFP_ERR_BAD_SIGNATURE;
out:
	mbedtls_mpi_free(&s);
	mbedtls_mpi_free(&r);
	mbedtls_ecp_point_free(&q);
	mbedtls_ecp_group_free(&grp);
	return rc;
}

/* Reads one header label; only small unsigned labels are ones we define. */
static int
read_label(struct tfp_cbor_reader *r, uint64_t *label)
{
	struct tfp_cbor_item it;
	int rc = tfp_cbor_next(r, &it);
	if (rc != 0)
		return rc;
	if (it.type != TFP_CBOR_UINT && it.type != TFP_CBOR_NEGINT && it.type != TFP_CBOR_TEXT)
		return TFP_ERR_BAD_HEADER;     /* COSE labels are int / tstr */
	if (it.type != TFP_CBOR_UINT || it.u > 31)
		return TFP_ERR_UNKNOWN_FIELD;
	*label = it.u;
	return 0;
}

static int
parse_header(struct tfp_cbor_reader *r, bool is_protected, struct cose_hdr *h)
{
	struct tfp_cbor_item it;
	uint32_t seen = 0;
	uint64_t label;
	int64_t alg;
	size_t n, i;
	int rc;

	if ((rc = tfp_cbor_read_map(r, &n)) != 0)
		return rc == TFP_ERR_WRONG_TYPE ? TFP_ERR_BAD_HEADER : rc;
	for (i = 0; i < n; i++) {
		if ((rc = read_label(r, &label)) != 0)
			return rc;
		if (seen & (UINT32_C(1) << label))
			return TFP_ERR_DUPLICATE_FIELD;
		seen |= UINT32_C(1) << label;
		switch (label) {
		case TFP_COSE_HDR_ALG:
			if (!is_protected)
				return TFP_ERR_UNSUPPORTED_ALG;
			if ((rc = tfp_cbor_peek(r, &it)) != 0)
				return rc;
			if (it.type == TFP_CBOR_TEXT)
				return TFP_ERR_UNSUPPORTED_ALG;
			if ((rc = tfp_cbor_read_int(r, &alg)) != 0)
				return rc == TFP_ERR_RANGE ? TFP_ERR_UNSUPPORTED_ALG : rc;
			if (alg != TFP_COSE_ALG_ES256)
				return TFP_ERR_UNSUPPORTED_ALG;
			h->have_alg = true;
			break;
		case TFP_COSE_HDR_CONTENT_TYPE:
			if (!is_protected)
				return TFP_ERR_UNKNOWN_FIELD;
			if ((rc = tfp_cbor_peek(r, &it)) != 0)
				return rc;
			if (it.type != TFP_CBOR_UINT && it.type != TFP_CBOR_TEXT)
				return TFP_ERR_WRONG_TYPE;
			if ((rc = tfp_cbor_next(r, &it)) != 0)
				return rc;
			break;
		case TFP_COSE_HDR_KID:
			if ((rc = tfp_cbor_read_bytes(r, &h->kid, &h->kid_len)) != 0)
				return rc;
			if (h->kid_len > TFP_KEY_ID_MAX)
				return TFP_ERR_OVERSIZE;
			h->have_kid = true;
			break;
		default:
			/* crit (2) included: we understand no critical extension. */
			return TFP_ERR_UNKNOWN_FIELD;
		}
	}
	return 0;
}

static const struct tfp_cose_key *
find_key(const struct tfp_cose_key *keys, size_t n_keys, const uint8_t *kid, size_t kid_len)
{
	size_t i;
	for (i = 0; i < n_keys; i++) {
		if (keys[i].kid_len == kid_len && kid_len > 0 &&
		    memcmp(keys[i].kid, kid, kid_len) == 0)
			return &keys[i];
	}
	return NULL;
}

int
tfp_cose_sign1_verify(const uint8_t *msg, size_t len, const struct tfp_cose_key *keys,
                      size_t n_keys, struct tfp_cose_sign1_view *view)
{
	struct tfp_cbor_reader r, pr;
	struct tfp_cbor_item it;
	struct cose_hdr ph = { 0 }, uh = { 0 };
	const struct tfp_cose_key *key;
	const uint8_t *prot, *payload, *sig, *kid;
	size_t prot_len, payload_len, sig_len, kid_len, n;
	uint8_t hash[TFP_DIGEST_LEN];
	int rc;

	if ((msg == NULL && len > 0) || (keys == NULL && n_keys > 0) || view == NULL)
		return TFP_ERR_ARG;
	tfp_cbor_reader_init(&r, msg, len);

	if ((rc = tfp_cbor_peek(&r, &it)) != 0)
		return rc;
	if (it.type == TFP_CBOR_TAG) {
		if (it.u != TFP_COSE_TAG_SIGN1)
			return TFP_ERR_BAD_TAG;
		if ((rc = tfp_cbor_next(&r, &it)) != 0 || (rc = tfp_cbor_peek(&r, &it)) != 0)
			return rc;
		if (it.type == TFP_CBOR_TAG)
			return TFP_ERR_BAD_TAG;
	}
	if ((rc = tfp_cbor_read_array(&r, &n)) != 0)
		return rc == TFP_ERR_WRONG_TYPE ? TFP_ERR_COSE_STRUCTURE : rc;
	if (n != 4)
		return TFP_ERR_COSE_STRUCTURE;

	/* protected: a bstr wrapping a map; the empty bstr stands for the empty map. */
	if ((rc = tfp_cbor_read_bytes(&r, &prot, &prot_len)) != 0)
		return rc;
	if (prot_len > TFP_COSE_PROTECTED_MAX)
		return TFP_ERR_OVERSIZE;
	if (prot_len > 0) {
		tfp_cbor_reader_init(&pr, prot, prot_len);
		if ((rc = parse_header(&pr, true, &ph)) != 0)
			return rc;
		if ((rc = tfp_cbor_expect_end(&pr)) != 0)
			return rc;
	}
	if ((rc = parse_header(&r, false, &uh)) != 0)
		return rc;
	if (!ph.have_alg)
		return TFP_ERR_UNSUPPORTED_ALG;
	if (ph.have_kid && uh.have_kid)
		return TFP_ERR_BAD_HEADER;

	if ((rc = tfp_cbor_peek(&r, &it)) != 0)
		return rc;
	if (it.type == TFP_CBOR_NULL)
		return TFP_ERR_NO_PAYLOAD;
	if ((rc = tfp_cbor_read_bytes(&r, &payload, &payload_len)) != 0)
		return rc;
	if ((rc = tfp_cbor_read_bytes(&r, &sig, &sig_len)) != 0)
		return rc;
	if ((rc = tfp_cbor_expect_end(&r)) != 0)
		return rc;

	kid = ph.have_kid ? ph.kid : uh.kid;
	kid_len = ph.have_kid ? ph.kid_len : uh.kid_len;
	if (kid == NULL || (key = find_key(keys, n_keys, kid, kid_len)) == NULL)
		return TFP_ERR_UNKNOWN_KEY;
	if (sig_len != TFP_ES256_SIG_LEN)
		return TFP_ERR_BAD_SIGNATURE;

	if ((rc = hash_sig_structure(prot, prot_len, payload, payload_len, hash)) != 0)
		return rc;
	if ((rc = tfp_es256_verify_hash(key->point, hash, sig, sig_len)) != 0)
		return rc;
	view->payload = payload;
	view->payload_len = payload_len;
	view->key = key;
	return 0;
}

int
tfp_cose_kid_derive(const uint8_t point[TFP_P256_POINT_LEN], char kid[TFP_KEY_ID_MAX + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t h[TFP_DIGEST_LEN];
	int i;

	if (mbedtls_sha256_ret(point, TFP_P256_POINT_LEN, h, 0) != 0)
		return TFP_ERR_CRYPTO;
	for (i = 0; i < TFP_KEY_ID_MAX / 2; i++) {
		kid[2 * i] = hex[h[i] >> 4];
		kid[2 * i + 1] = hex[h[i] & 0x0f];
	}
	kid[TFP_KEY_ID_MAX] = '\0';
	return 0;
}

#ifndef TFP_VERIFY_ONLY
/* Fills key from a parsed P-256 key pair's public point, with the conventional kid. */
static int
key_from_ecp(const mbedtls_ecp_keypair *ec, struct tfp_cose_key *key)
{
	char kid[TFP_KEY_ID_MAX + 1];
	size_t olen = 0;
	int rc;

	if (ec->grp.id != MBEDTLS_ECP_DP_SECP256R1)
		return TFP_ERR_KEY;
	if (mbedtls_ecp_point_write_binary(&ec->grp, &ec->Q, MBEDTLS_ECP_PF_UNCOMPRESSED, &olen,
	                                   key->point, sizeof(key->point)) != 0 ||
	    olen != TFP_P256_POINT_LEN)
		return TFP_ERR_KEY;
	if ((rc = tfp_cose_kid_derive(key->point, kid)) != 0)
		return rc;
	memcpy(key->kid, kid, TFP_KEY_ID_MAX);
	key->kid_len = TFP_KEY_ID_MAX;
	return 0;
}

int
tfp_cose_key_from_pem(const char *pem, struct tfp_cose_key *key)
{
	mbedtls_pk_context pk;
	int rc = TFP_ERR_KEY;

	mbedtls_pk_init(&pk);
	if (pem == NULL || key == NULL) {
		rc = TFP_ERR_ARG;
		goto out;
	}
	memset(key, 0, sizeof(*key));
	/* mbedTLS wants PEM lengths to include the terminating NUL. */
	if (mbedtls_pk_parse_public_key(&pk, (const unsigned char *)pem, strlen(pem) + 1) != 0)
		goto out;
	if (mbedtls_pk_get_type(&pk) != MBEDTLS_PK_ECKEY)
		goto out;
	rc = key_from_ecp(mbedtls_pk_ec(pk), key);
out:
	mbedtls_pk_free(&pk);
	return rc;
}

int
tfp_cose_signer_init_pem(struct tfp_cose_signer *s, const char *pem)
{
	static const unsigned char pers[] = "tinyfleet-cose-sign1";
	int rc = TFP_ERR_KEY;

	if (s == NULL)
		return TFP_ERR_ARG;
	memset(s, 0, sizeof(*s));
	mbedtls_pk_init(&s->pk);
	mbedtls_entropy_init(&s->entropy);
	mbedtls_ctr_drbg_init(&s->drbg);
	s->ready = 1;   /* the contexts are initialised: free must release them */
	if (pem == NULL) {
		rc = TFP_ERR_ARG;
		goto out;
	}
	if (mbedtls_pk_parse_key(&s->pk, (const unsigned char *)pem, strlen(pem) + 1, NULL, 0) != 0)
		goto out;
	if (mbedtls_pk_get_type(&s->pk) != MBEDTLS_PK_ECKEY)
		goto out;
	if ((rc = key_from_ecp(mbedtls_pk_ec(s->pk), &s->pub)) != 0)
		goto out;
	if (mbedtls_ctr_drbg_seed(&s->drbg, mbedtls_entropy_func, &s->entropy, pers,
	                          sizeof(pers) - 1) != 0) {
		rc = TFP_ERR_CRYPTO;
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		tfp_cose_signer_free(s);
	return rc;
}

void
tfp_cose_signer_free(struct tfp_cose_signer *s)
{
	if (s == NULL || !s->ready)
		return;
	mbedtls_ctr_drbg_free(&s->drbg);
	mbedtls_entropy_free(&s->entropy);
	mbedtls_pk_free(&s->pk);
	memset(s, 0, sizeof(*s));
}

int
tfp_cose_sign1_sign(struct tfp_cose_signer *s, const uint8_t *payload, size_t len,
                    uint8_t *out, size_t cap, size_t *out_len)
{
	struct tfp_cbor_writer w;
	mbedtls_ecp_keypair *ec;
	mbedtls_mpi r, sv;
	uint8_t prot[TFP_COSE_PROTECTED_MAX];
	uint8_t hash[TFP_DIGEST_LEN];
	uint8_t sig[TFP_ES256_SIG_LEN];
	size_t prot_len;
	int rc = TFP_ERR_CRYPTO;

	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&sv);
	if (s == NULL || !s->ready || (payload == NULL && len > 0) || out_len == NULL) {
		rc = TFP_ERR_ARG;
		goto out;
	}
	ec = mbedtls_pk_ec(s->pk);

	tfp_cbor_writer_init(&w, prot, sizeof(prot));
	tfp_cbor_put_map(&w, 2);
	tfp_cbor_put_uint(&w, TFP_COSE_HDR_ALG);
	tfp_cbor_put_int(&w, TFP_COSE_ALG_ES256);
	tfp_cbor_put_uint(&w, TFP_COSE_HDR_KID);
	tfp_cbor_put_bytes(&w, s->pub.kid, s->pub.kid_len);
	if (tfp_cbor_writer_finish(&w, &prot_len) != 0) {
		rc = TFP_ERR_INTERNAL;
		goto out;
	}

	if ((rc = hash_sig_structure(prot, prot_len, payload, len, hash)) != 0)
		goto out;
	rc = TFP_ERR_CRYPTO;
	if (mbedtls_ecdsa_sign_det_ext(&ec->grp, &r, &sv, &ec->d, hash, sizeof(hash),
	                               MBEDTLS_MD_SHA256, mbedtls_ctr_drbg_random, &s->drbg) != 0)
		goto out;
	if (mbedtls_mpi_write_binary(&r, sig, TFP_ES256_SIG_LEN / 2) != 0 ||
	    mbedtls_mpi_write_binary(&sv, sig + TFP_ES256_SIG_LEN / 2, TFP_ES256_SIG_LEN / 2) != 0)
		goto out;

	tfp_cbor_writer_init(&w, out, cap);
	tfp_cbor_put_tag(&w, TFP_COSE_TAG_SIGN1);
	tfp_cbor_put_array(&w, 4);
	tfp_cbor_put_bytes(&w, prot, prot_len);
	tfp_cbor_put_map(&w, 0);
	tfp_cbor_put_bytes(&w, payload, len);
	tfp_cbor_put_bytes(&w, sig, sizeof(sig));
	rc = tfp_cbor_writer_finish(&w, out_len);
out:
	mbedtls_mpi_free(&sv);
	mbedtls_mpi_free(&r);
	return rc;
}
#endif /* TFP_VERIFY_ONLY */
