/*
 * fw_mkassets: host tool of the firmware build. Signs the manifest that the firmware
 * verifies on the target and writes the trusted key in the form the firmware embeds.
 *
 *   fw_mkassets KEY.pem IMAGE OUTDIR
 *
 * Writes OUTDIR/manifest.cose (COSE_Sign1 manifest naming IMAGE by SHA-256 digest and
 * size, sequence 2) and OUTDIR/key.bin (kid length byte, kid, 65-byte P-256 point).
 * Exit status 0 on success, 1 on any error (message on stderr).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/sha256.h>

#include "tinyfleet/protocol/cose_sign1.h"
#include "tinyfleet/protocol/manifest.h"

static uint8_t *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) != NULL) {
		if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		} else {
			buf[n] = 0;
			*len = (size_t)n;
		}
	}
	fclose(f);
	return buf;
}

static int
spill(const char *dir, const char *name, const uint8_t *buf, size_t len)
{
	char path[4096];
	FILE *f;
	int rc;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return -1;
	if ((f = fopen(path, "wb")) == NULL)
		return -1;
	rc = fwrite(buf, 1, len, f) == len ? 0 : -1;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

int
main(int argc, char **argv)
{
	struct tfp_cose_signer s;
	struct tfp_manifest m;
	uint8_t *pem = NULL, *img = NULL, out[1024], key[1 + TFP_KEY_ID_MAX + TFP_P256_POINT_LEN];
	size_t pem_len, img_len, n;
	int rc = 1;

	memset(&s, 0, sizeof(s));
	if (argc != 4) {
		fprintf(stderr, "usage: fw_mkassets KEY.pem IMAGE OUTDIR\n");
		return 1;
	}
	if ((pem = slurp(argv[1], &pem_len)) == NULL || (img = slurp(argv[2], &img_len)) == NULL) {
		fprintf(stderr, "fw_mkassets: cannot read %s or %s\n", argv[1], argv[2]);
		goto out;
	}
	if (tfp_cose_signer_init_pem(&s, (const char *)pem) != 0) {
		fprintf(stderr, "fw_mkassets: %s: not a P-256 private key\n", argv[1]);
		goto out;
	}
	memset(&m, 0, sizeof(m));
	memcpy(m.name, "digits", sizeof("digits"));
	memcpy(m.version, "1.1.0", sizeof("1.1.0"));
	m.sequence = 2;
	memcpy(m.device_class, "mps2-an386", sizeof("mps2-an386"));
	m.req.min_ram = 1024;         /* model arena (scratch RAM) the device must offer */
	m.req.min_flash = 65536;
	m.req.agent_abi = 1;
	m.image_size = img_len;
	m.container_version = 1;
	memcpy(m.key_id, s.pub.kid, s.pub.kid_len);
	m.key_id[s.pub.kid_len] = '\0';
	if (mbedtls_sha256_ret(img, img_len, m.digest, 0) != 0 ||
	    tfp_manifest_sign(&s, &m, out, sizeof(out), &n) != 0) {
		fprintf(stderr, "fw_mkassets: signing failed\n");
		goto out;
	}
	key[0] = (uint8_t)s.pub.kid_len;
	memcpy(key + 1, s.pub.kid, s.pub.kid_len);
	memcpy(key + 1 + s.pub.kid_len, s.pub.point, TFP_P256_POINT_LEN);
	if (spill(argv[3], "manifest.cose", out, n) != 0 ||
	    spill(argv[3], "key.bin", key, 1 + s.pub.kid_len + TFP_P256_POINT_LEN) != 0) {
		fprintf(stderr, "fw_mkassets: cannot write into %s\n", argv[3]);
		goto out;
	}
	rc = 0;
out:
	tfp_cose_signer_free(&s);
	free(pem);
	free(img);
	return rc;
}
