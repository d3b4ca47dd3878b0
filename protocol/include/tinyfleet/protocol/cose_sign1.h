/*
 * COSE_Sign1 (RFC 9052) with ES256 (ECDSA P-256 + SHA-256): signing on the host, verifying
 * on the device.
 *
 * Verification profile (strict; what devices accept):
 *   - tag 18 or no tag; any other tag (or a second tag) gives TFP_ERR_BAD_TAG;
 *   - a 4-element array [protected, unprotected, payload, signature], else
 *     TFP_ERR_COSE_STRUCTURE;
 *   - the protected header (a bstr holding a map, at most TFP_COSE_PROTECTED_MAX bytes,
 *     else TFP_ERR_OVERSIZE) carries alg = -7 (ES256); alg absent from it, present in the
 *     unprotected header, or any other value gives TFP_ERR_UNSUPPORTED_ALG;
 *   - allowed header labels: protected 1 (alg), 3 (content type, accepted and ignored) and
 *     4 (kid); unprotected 4 (kid). Any other label gives TFP_ERR_UNKNOWN_FIELD (so crit,
 *     label 2, is refused: we understand no extension), a repeated label
 *     TFP_ERR_DUPLICATE_FIELD, kid in both headers TFP_ERR_BAD_HEADER, a header that is not
 *     a map TFP_ERR_BAD_HEADER, a value of the wrong type TFP_ERR_WRONG_TYPE, a kid longer
 *     than TFP_KEY_ID_MAX TFP_ERR_OVERSIZE;
 *   - external_aad is always empty (a message signed with other AAD fails as
 *     TFP_ERR_BAD_SIGNATURE: nothing on the wire tells them apart);
 *   - the payload is embedded: nil (detached) gives TFP_ERR_NO_PAYLOAD;
 *   - the signature is raw r||s, 64 bytes; any other length or a failed check gives
 *     TFP_ERR_BAD_SIGNATURE;
 *   - no kid, or a kid that names no trusted key, gives TFP_ERR_UNKNOWN_KEY;
 *   - bytes after the message give TFP_ERR_TRAILING; CBOR-level errors as in cbor_io.h.
 *
 * Key id convention: kid = the first 8 bytes of SHA-256 over the key's 65-byte uncompressed
 * point (0x04 || X || Y), written as 16 lowercase hex characters; the COSE kid bstr holds
 * those 16 ASCII bytes and the manifest's key id tstr the same text. tfp_cose_kid_derive
 * computes it; keys with other kids (e.g. test vectors) can still be trusted by filling
 * struct tfp_cose_key by hand.
 *
 * Memory (device side): tfp_cose_sign1_verify and tfp_es256_verify_hash never allocate in
 * tinyfleet code and use a bounded stack (measured in bench/manifest/RESULTS.md), but
 * mbedTLS 2.28 allocates its bignums internally through its platform calloc/free (Debian's
 * build has neither MBEDTLS_PLATFORM_MEMORY nor MBEDTLS_MEMORY_BUFFER_ALLOC_C; a device
 * build should enable the latter with a static arena). Everything is freed before return.
 * The message is borrowed: results that point into it stay valid as long as it does.
 *
 * Host side (signing, PEM loading) uses mbedTLS's pk parser and DRBG and may allocate.
 * A device build defines TFP_VERIFY_ONLY (for this header and the library): the host part
 * then disappears, and with it the need for mbedTLS's pk, entropy and DRBG modules.
 * Threads: no global state; each object belongs to one thread at a time.
 */
#ifndef TINYFLEET_PROTOCOL_COSE_SIGN1_H
#define TINYFLEET_PROTOCOL_COSE_SIGN1_H

#include <stddef.h>
#include <stdint.h>

#ifndef TFP_VERIFY_ONLY
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#endif

#include "tinyfleet/protocol/common.h"
#include "tinyfleet/protocol/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TFP_COSE_TAG_SIGN1 18
#define TFP_COSE_ALG_ES256 (-7)
#define TFP_COSE_HDR_ALG 1
#define TFP_COSE_HDR_CRIT 2
#define TFP_COSE_HDR_CONTENT_TYPE 3
#define TFP_COSE_HDR_KID 4
#define TFP_ES256_SIG_LEN 64              /* r || s, 32 bytes each, big-endian */
#define TFP_P256_POINT_LEN 65             /* 0x04 || X || Y */
#define TFP_COSE_PROTECTED_MAX 64         /* bound on the protected header bstr */
/* Bytes COSE adds around a payload when we sign: tag, array, protected header with a
 * TFP_KEY_ID_MAX kid, empty unprotected map, payload head (up to 9), signature. */
#define TFP_COSE_SIGN1_OVERHEAD (1 + 1 + (2 + 3 + 2 + TFP_KEY_ID_MAX) + 1 + 9 + 2 + TFP_ES256_SIG_LEN)

/* A trusted public key. Caller-owned; plain data, may live in flash (const). */
struct tfp_cose_key {
	uint8_t kid[TFP_KEY_ID_MAX];
	size_t kid_len;                       /* 1..TFP_KEY_ID_MAX */
	uint8_t point[TFP_P256_POINT_LEN];    /* uncompressed P-256 point */
};

/* What a verified message holds. Pointers borrow the message buffer. */
struct tfp_cose_sign1_view {
	const uint8_t *payload;
	size_t payload_len;
	const struct tfp_cose_key *key;       /* the trusted key that verified it (in keys[]) */
};

/*
 * Verifies msg[0..len) under the profile above against keys[0..n_keys) and, on success,
 * fills *view. Returns 0 or a negative code listed above; TFP_ERR_KEY when the matching
 * trusted key is not a valid P-256 point; TFP_ERR_CRYPTO when mbedTLS fails otherwise
 * (e.g. out of memory).
 */
int tfp_cose_sign1_verify(const uint8_t *msg, size_t len, const struct tfp_cose_key *keys,
                          size_t n_keys, struct tfp_cose_sign1_view *view);

/*
 * The raw ES256 check used by tfp_cose_sign1_verify: sig[0..sig_len) must be r||s of
 * exactly 64 bytes over the SHA-256 digest `hash`, by the key `point`. Returns 0, TFP_ERR_ARG,
 * TFP_ERR_BAD_SIGNATURE, TFP_ERR_KEY (point not on P-256) or TFP_ERR_CRYPTO.
 */
int tfp_es256_verify_hash(const uint8_t point[TFP_P256_POINT_LEN],
                          const uint8_t hash[TFP_DIGEST_LEN], const uint8_t *sig,
                          size_t sig_len);

/* Writes the kid convention's 16 hex characters plus a NUL into kid. Returns 0 or
 * TFP_ERR_CRYPTO. */
int tfp_cose_kid_derive(const uint8_t point[TFP_P256_POINT_LEN], char kid[TFP_KEY_ID_MAX + 1]);

#ifndef TFP_VERIFY_ONLY
/*
 * Host: loads a P-256 public key from a NUL-terminated PEM (SubjectPublicKeyInfo) into
 * *key with the conventional kid. TFP_ERR_KEY when it is not a P-256 public key.
 */
int tfp_cose_key_from_pem(const char *pem, struct tfp_cose_key *key);

/*
 * Host: a release signing key. Owns mbedTLS state: initialise with
 * tfp_cose_signer_init_pem and release with tfp_cose_signer_free (safe on a signer whose
 * init failed, and on a zeroed struct). Not thread-safe; one signer per thread.
 */
struct tfp_cose_signer {
	mbedtls_pk_context pk;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;        /* blinding RNG for deterministic ECDSA */
	struct tfp_cose_key pub;              /* the public half and the conventional kid */
	int ready;
};

/*
 * Loads a P-256 private key from a NUL-terminated PEM (SEC1 "EC PRIVATE KEY" or PKCS#8,
 * unencrypted) through mbedtls_pk_parse_key. Returns 0, TFP_ERR_KEY or TFP_ERR_CRYPTO.
 */
int tfp_cose_signer_init_pem(struct tfp_cose_signer *s, const char *pem);
void tfp_cose_signer_free(struct tfp_cose_signer *s);

/*
 * Signs payload[0..len) into out[0..cap) as a tagged COSE_Sign1 with protected header
 * {1: -7, 4: kid} and an empty unprotected header. ECDSA nonces are deterministic
 * (RFC 6979), so equal inputs give equal messages. Returns 0 and *out_len = bytes
 * written, TFP_ERR_BUFFER and *out_len = bytes needed (at most len +
 * TFP_COSE_SIGN1_OVERHEAD), TFP_ERR_ARG, or TFP_ERR_CRYPTO.
 */
int tfp_cose_sign1_sign(struct tfp_cose_signer *s, const uint8_t *payload, size_t len,
                        uint8_t *out, size_t cap, size_t *out_len);
#endif /* TFP_VERIFY_ONLY */

#ifdef __cplusplus
}
#endif

#endif
