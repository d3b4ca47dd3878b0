/*
 * Manifest payload encoding and strict decoding, and the verify/sign wrappers that tie a
 * manifest to its COSE_Sign1 envelope. See tinyfleet/protocol/manifest.h.
 */
#include "tinyfleet/protocol/manifest.h"

#include <string.h>

#include "tinyfleet/protocol/cbor_io.h"

#define BIT(k) (UINT32_C(1) << (k))

/* Keys a manifest must carry (everything but expiry). */
#define MANIFEST_REQUIRED                                                                 \
	(BIT(TFP_MANIFEST_NAME) | BIT(TFP_MANIFEST_VERSION) | BIT(TFP_MANIFEST_SEQUENCE) |    \
	 BIT(TFP_MANIFEST_DEVICE_CLASS) | BIT(TFP_MANIFEST_REQUIREMENTS) |                    \
	 BIT(TFP_MANIFEST_DIGEST) | BIT(TFP_MANIFEST_IMAGE_SIZE) |                            \
	 BIT(TFP_MANIFEST_CONTAINER_VERSION) | BIT(TFP_MANIFEST_KEY_ID))
#define MANIFEST_KEY_LAST TFP_MANIFEST_KEY_ID

#define REQ_REQUIRED                                                                      \
	(BIT(TFP_MANIFEST_REQ_MIN_RAM) | BIT(TFP_MANIFEST_REQ_MIN_FLASH) |                    \
	 BIT(TFP_MANIFEST_REQ_SENSORS) | BIT(TFP_MANIFEST_REQ_AGENT_ABI))
#define REQ_KEY_LAST TFP_MANIFEST_REQ_AGENT_ABI

/*
 * Reads a map key and checks it against the keys defined (1..last) and those seen so far.
 * A key that is not an unsigned integer is not one of ours: unknown, not mistyped.
 */
static int
read_key(struct tfp_cbor_reader *r, unsigned last, uint32_t *seen, unsigned *key)
{
	struct tfp_cbor_item it;
	int rc = tfp_cbor_next(r, &it);
	if (rc != 0)
		return rc;
	if (it.type != TFP_CBOR_UINT || it.u == 0 || it.u > last)
		return TFP_ERR_UNKNOWN_FIELD;
	if (*seen & BIT(it.u))
		return TFP_ERR_DUPLICATE_FIELD;
	*seen |= BIT(it.u);
	*key = (unsigned)it.u;
	return 0;
}

/* A non-empty text field copied into dst[cap]. */
static int
read_name(struct tfp_cbor_reader *r, char *dst, size_t cap)
{
	int rc = tfp_cbor_read_text_into(r, dst, cap);
	if (rc == 0 && dst[0] == '\0')
		rc = TFP_ERR_BAD_TEXT;
	return rc;
}

static int
decode_requirements(struct tfp_cbor_reader *r, struct tfp_manifest_requirements *req)
{
	uint32_t seen = 0;
	unsigned key;
	size_t n, i, count;
	int rc;

	if ((rc = tfp_cbor_read_map(r, &n)) != 0)
		return rc;
	for (i = 0; i < n; i++) {
		if ((rc = read_key(r, REQ_KEY_LAST, &seen, &key)) != 0)
			return rc;
		switch (key) {
		case TFP_MANIFEST_REQ_MIN_RAM:
			rc = tfp_cbor_read_uint(r, &req->min_ram);
			break;
		case TFP_MANIFEST_REQ_MIN_FLASH:
			rc = tfp_cbor_read_uint(r, &req->min_flash);
			break;
		case TFP_MANIFEST_REQ_SENSORS:
			if ((rc = tfp_cbor_read_array(r, &count)) != 0)
				return rc;
			if (count > TFP_SENSORS_MAX)
				return TFP_ERR_OVERSIZE;
			for (req->n_sensors = 0; req->n_sensors < count; req->n_sensors++) {
				rc = read_name(r, req->sensors[req->n_sensors],
				               sizeof(req->sensors[0]));
				if (rc != 0)
					return rc;
			}
			break;
		case TFP_MANIFEST_REQ_AGENT_ABI:
			rc = tfp_cbor_read_u32(r, &req->agent_abi);
			break;
		default:
			return TFP_ERR_INTERNAL;
		}
		if (rc != 0)
			return rc;
	}
	return (seen & REQ_REQUIRED) == REQ_REQUIRED ? 0 : TFP_ERR_MISSING_FIELD;
}

int
tfp_manifest_decode(const uint8_t *buf, size_t len, struct tfp_manifest *m)
{
	struct tfp_cbor_reader r;
	uint32_t seen = 0;
	unsigned key;
	size_t n, i;
	int rc;

	if (m == NULL || (buf == NULL && len > 0))
		return TFP_ERR_ARG;
	memset(m, 0, sizeof(*m));
	tfp_cbor_reader_init(&r, buf, len);
	if ((rc = tfp_cbor_read_map(&r, &n)) != 0)
		return rc;
	for (i = 0; i < n; i++) {
		if ((rc = read_key(&r, MANIFEST_KEY_LAST, &seen, &key)) != 0)
			return rc;
		switch (key) {
		case TFP_MANIFEST_NAME:
			rc = read_name(&r, m->name, sizeof(m->name));
			break;
		case TFP_MANIFEST_VERSION:
			rc = read_name(&r, m->version, sizeof(m->version));
			break;
		case TFP_MANIFEST_SEQUENCE:
			rc = tfp_cbor_read_uint(&r, &m->sequence);
			break;
		case TFP_MANIFEST_DEVICE_CLASS:
			rc = read_name(&r, m->device_class, sizeof(m->device_class));
			break;
		case TFP_MANIFEST_REQUIREMENTS:
			rc = decode_requirements(&r, &m->req);
			break;
		case TFP_MANIFEST_DIGEST:
			rc = tfp_cbor_read_bytes_exact(&r, m->digest, sizeof(m->digest));
			break;
		case TFP_MANIFEST_IMAGE_SIZE:
			rc = tfp_cbor_read_uint(&r, &m->image_size);
			break;
		case TFP_MANIFEST_CONTAINER_VERSION:
			rc = tfp_cbor_read_u32(&r, &m->container_version);
			break;
		case TFP_MANIFEST_EXPIRY:
			rc = tfp_cbor_read_uint(&r, &m->expiry);
			m->has_expiry = rc == 0;
			break;
		case TFP_MANIFEST_KEY_ID:
			rc = read_name(&r, m->key_id, sizeof(m->key_id));
			break;
		default:
			return TFP_ERR_INTERNAL;
		}
		if (rc != 0)
			return rc;
	}
	if ((seen & MANIFEST_REQUIRED) != MANIFEST_REQUIRED)
		return TFP_ERR_MISSING_FIELD;
	return tfp_cbor_expect_end(&r);
}

/* Length of a NUL-terminated string held in a char[cap], or cap when unterminated. */
static size_t
bounded_len(const char *s, size_t cap)
{
	const char *nul = memchr(s, '\0', cap);
	return nul != NULL ? (size_t)(nul - s) : cap;
}

static int
check_name(const char *s, size_t cap)
{
	size_t n = bounded_len(s, cap);
	return n == 0 || n == cap ? TFP_ERR_ARG : 0;
}

int
tfp_manifest_encode(const struct tfp_manifest *m, uint8_t *buf, size_t cap, size_t *len)
{
	struct tfp_cbor_writer w;
	size_t i;

	if (m == NULL || len == NULL || m->req.n_sensors > TFP_SENSORS_MAX ||
	    check_name(m->name, sizeof(m->name)) != 0 ||
	    check_name(m->version, sizeof(m->version)) != 0 ||
	    check_name(m->device_class, sizeof(m->device_class)) != 0 ||
	    check_name(m->key_id, sizeof(m->key_id)) != 0)
		return TFP_ERR_ARG;
	for (i = 0; i < m->req.n_sensors; i++) {
		if (check_name(m->req.sensors[i], sizeof(m->req.sensors[i])) != 0)
			return TFP_ERR_ARG;
	}

	tfp_cbor_writer_init(&w, buf, cap);
	tfp_cbor_put_map(&w, m->has_expiry ? 10 : 9);
	tfp_cbor_put_uint(&w, TFP_MANIFEST_NAME);
	tfp_cbor_put_textz(&w, m->name);
	tfp_cbor_put_uint(&w, TFP_MANIFEST_VERSION);
	tfp_cbor_put_textz(&w, m->version);
	tfp_cbor_put_uint(&w, TFP_MANIFEST_SEQUENCE);
	tfp_cbor_put_uint(&w, m->sequence);
	tfp_cbor_put_uint(&w, TFP_MANIFEST_DEVICE_CLASS);
	tfp_cbor_put_textz(&w, m->device_class);
	tfp_cbor_put_uint(&w, TFP_MANIFEST_REQUIREMENTS);
	tfp_cbor_put_map(&w, 4);
	tfp_cbor_put_uint(&w, TFP_MANIFEST_REQ_MIN_RAM);
	tfp_cbor_put_uint(&w, m->req.min_ram);
	tfp_cbor_put_uint(&w, TFP_MANIFEST_REQ_MIN_FLASH);
	tfp_cbor_put_uint(&w, m->req.min_flash);
	tfp_cbor_put_uint(&w, TFP_MANIFEST_REQ_SENSORS);
	tfp_cbor_put_array(&w, m->req.n_sensors);
	for (i = 0; i < m->req.n_sensors; i++)
		tfp_cbor_put_textz(&w, m->req.sensors[i]);
	tfp_cbor_put_uint(&w, TFP_MANIFEST_REQ_AGENT_ABI);
	tfp_cbor_put_uint(&w, m->req.agent_abi);
	tfp_cbor_put_uint(&w, TFP_MANIFEST_DIGEST);
	tfp_cbor_put_bytes(&w, m->digest, sizeof(m->digest));
	tfp_cbor_put_uint(&w, TFP_MANIFEST_IMAGE_SIZE);
	tfp_cbor_put_uint(&w, m->image_size);
	tfp_cbor_put_uint(&w, TFP_MANIFEST_CONTAINER_VERSION);
	tfp_cbor_put_uint(&w, m->container_version);
	if (m->has_expiry) {
		tfp_cbor_put_uint(&w, TFP_MANIFEST_EXPIRY);
		tfp_cbor_put_uint(&w, m->expiry);
	}
	tfp_cbor_put_uint(&w, TFP_MANIFEST_KEY_ID);
	tfp_cbor_put_textz(&w, m->key_id);
	return tfp_cbor_writer_finish(&w, len);
}

int
tfp_manifest_verify(const uint8_t *msg, size_t len, const struct tfp_cose_key *keys,
                    size_t n_keys, uint64_t now, struct tfp_manifest *m)
{
	struct tfp_cose_sign1_view view;
	int rc;

	if (m == NULL)
		return TFP_ERR_ARG;
	memset(m, 0, sizeof(*m));
	if ((rc = tfp_cose_sign1_verify(msg, len, keys, n_keys, &view)) != 0)
		return rc;
	if ((rc = tfp_manifest_decode(view.payload, view.payload_len, m)) != 0)
		return rc;
	/* The signed payload names its signer; a kid swapped in an unprotected header (or a
	 * manifest re-signed under another trusted key) must not pass as the named one. */
	if (strlen(m->key_id) != view.key->kid_len ||
	    memcmp(m->key_id, view.key->kid, view.key->kid_len) != 0)
		return TFP_ERR_BAD_HEADER;
	if (m->has_expiry && now >= m->expiry)
		return TFP_ERR_EXPIRED;
	return 0;
}

#ifndef TFP_VERIFY_ONLY
int
tfp_manifest_sign(struct tfp_cose_signer *signer, const struct tfp_manifest *m,
                  uint8_t *out, size_t cap, size_t *len)
{
	uint8_t payload[TFP_MANIFEST_PAYLOAD_MAX];
	size_t plen;
	int rc;

	if (signer == NULL || m == NULL || len == NULL)
		return TFP_ERR_ARG;
	if (bounded_len(m->key_id, sizeof(m->key_id)) != signer->pub.kid_len ||
	    memcmp(m->key_id, signer->pub.kid, signer->pub.kid_len) != 0)
		return TFP_ERR_ARG;
	if ((rc = tfp_manifest_encode(m, payload, sizeof(payload), &plen)) != 0)
		return rc;
	return tfp_cose_sign1_sign(signer, payload, plen, out, cap, len);
}
#endif /* TFP_VERIFY_ONLY */
