/*
 * tinyfleet: the operator's tool.
 *
 *   tinyfleet keygen DIR
 *       Creates a release signing key pair (ECDSA P-256): DIR/release.key.pem (private; keep
 *       it off the gateway) and DIR/release.pub.pem (give it to gateways and devices).
 *   tinyfleet model sign --key KEY.pem --seq N --class CLASS [--min-ram BYTES]
 *                        [--sensors a,b] [--abi N] [--expires EPOCH] CONTAINER OUT.cose
 *       Signs a COSE_Sign1 manifest for a model container. Name, version, size, flash need
 *       and format come from the container itself, the digest is its SHA-256; the rest is
 *       what the release promises (sequence: above every earlier release of the model).
 *   tinyfleet model verify --pub PUB.pem MANIFEST.cose [CONTAINER]
 *       Checks a manifest's signature (and that the container matches it) and prints it.
 *
 * Exit status: 0 done, 1 refused (bad signature, mismatch), 2 usage, 3 a file could not be
 * read or written.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>

#include "tinyfleet/protocol/container.h"
#include "tinyfleet/protocol/cose_sign1.h"
#include "tinyfleet/protocol/manifest.h"

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_IO 3
#define FILE_MAX (16u << 20)

static void
usage(void)
{
	fprintf(stderr,
	        "usage: tinyfleet keygen DIR\n"
	        "       tinyfleet model sign --key KEY.pem --seq N --class CLASS [--min-ram BYTES]\n"
	        "                            [--sensors a,b] [--abi N] [--expires EPOCH]\n"
	        "                            CONTAINER OUT.cose\n"
	        "       tinyfleet model verify --pub PUB.pem MANIFEST.cose [CONTAINER]\n");
	exit(EXIT_USAGE);
}

/* Reads a whole file (NUL-terminated for PEM use); exits with EXIT_IO on failure. */
static uint8_t *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0;

	if (f == NULL) {
		fprintf(stderr, "tinyfleet: %s: %s\n", path, strerror(errno));
		exit(EXIT_IO);
	}
	for (;;) {
		if (cap - n < 4096) {
			if (cap >= FILE_MAX) {
				fprintf(stderr, "tinyfleet: %s: larger than %u bytes\n", path, FILE_MAX);
				exit(EXIT_IO);
			}
			cap = cap ? cap * 2 : 65536;
			if ((buf = realloc(buf, cap + 1)) == NULL) {
				fprintf(stderr, "tinyfleet: out of memory\n");
				exit(EXIT_IO);
			}
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static void
spill(const char *path, const void *p, size_t n, mode_t mode)
{
	FILE *f;
	umask(077 & ~mode);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		fprintf(stderr, "tinyfleet: cannot write %s: %s\n", path, strerror(errno));
		exit(EXIT_IO);
	}
	chmod(path, mode);
}

static int
cmd_keygen(int argc, char **argv)
{
	mbedtls_pk_context pk;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	unsigned char pem[1024];
	struct tfp_cose_key pub;
	char path[4096], kid[TFP_KEY_ID_MAX + 1];
	struct stat st;
	int rc = EXIT_IO;

	if (argc != 2)
		usage();
	snprintf(path, sizeof(path), "%s/release.key.pem", argv[1]);
	if (stat(path, &st) == 0) {
		fprintf(stderr, "tinyfleet: %s exists; refusing to replace a release key\n", path);
		return EXIT_REFUSED;
	}
	if (mkdir(argv[1], 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "tinyfleet: mkdir %s: %s\n", argv[1], strerror(errno));
		return EXIT_IO;
	}
	mbedtls_pk_init(&pk);
	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
	                          (const unsigned char *)"tinyfleet-keygen", 16) != 0 ||
	    mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
	    mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk),
	                        mbedtls_ctr_drbg_random, &drbg) != 0 ||
	    mbedtls_pk_write_key_pem(&pk, pem, sizeof(pem)) != 0) {
		fprintf(stderr, "tinyfleet: key generation failed\n");
		goto out;
	}
	spill(path, pem, strlen((char *)pem), 0600);
	if (mbedtls_pk_write_pubkey_pem(&pk, pem, sizeof(pem)) != 0 ||
	    tfp_cose_key_from_pem((char *)pem, &pub) != 0) {
		fprintf(stderr, "tinyfleet: cannot write the public key\n");
		goto out;
	}
	snprintf(path, sizeof(path), "%s/release.pub.pem", argv[1]);
	spill(path, pem, strlen((char *)pem), 0644);
	memcpy(kid, pub.kid, pub.kid_len);
	kid[pub.kid_len] = '\0';
	printf("release key %s: %s/release.key.pem (private), %s/release.pub.pem (public)\n", kid,
	       argv[1], argv[1]);
	rc = 0;
out:
	mbedtls_pk_free(&pk);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&entropy);
	return rc;
}

static uint64_t
number(const char *opt, const char *v)
{
	char *end;
	unsigned long long n;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || *v == '-') {
		fprintf(stderr, "tinyfleet: %s takes a whole number, not '%s'\n", opt, v);
		exit(EXIT_USAGE);
	}
	return n;
}

static void
print_manifest(const struct tfp_manifest *m)
{
	printf("model     %s %s (sequence %llu)\n", m->name, m->version,
	       (unsigned long long)m->sequence);
	printf("class     %s; needs RAM %llu B, flash %llu B, agent ABI %u", m->device_class,
	       (unsigned long long)m->req.min_ram, (unsigned long long)m->req.min_flash,
	       (unsigned)m->req.agent_abi);
	for (size_t i = 0; i < m->req.n_sensors; i++)
		printf("%s%s", i == 0 ? "; sensors " : ",", m->req.sensors[i]);
	printf("\nimage     %llu bytes, container format %u, sha256 ",
	       (unsigned long long)m->image_size, (unsigned)m->container_version);
	for (int i = 0; i < TFP_DIGEST_LEN; i++)
		printf("%02x", m->digest[i]);
	printf("\nkey       %s", m->key_id);
	if (m->has_expiry)
		printf("; expires at %llu", (unsigned long long)m->expiry);
	printf("\n");
}

static int
cmd_sign(int argc, char **argv)
{
	const char *key = NULL, *sensors = NULL;
	struct tfp_manifest m;
	struct tfp_cose_signer signer;
	struct tfp_container ct;
	uint8_t *pem, *img, out[TFP_MANIFEST_PAYLOAD_MAX + TFP_COSE_SIGN1_OVERHEAD];
	size_t pemlen, imglen, len;
	int have_seq = 0, i, rc;

	memset(&m, 0, sizeof(m));
	m.req.agent_abi = 1;
	for (i = 0; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (v == NULL)
			usage();
		if (strcmp(o, "--key") == 0)
			key = v;
		else if (strcmp(o, "--seq") == 0)
			m.sequence = number(o, v), have_seq = 1;
		else if (strcmp(o, "--class") == 0)
			snprintf(m.device_class, sizeof(m.device_class), "%s", v);
		else if (strcmp(o, "--min-ram") == 0)
			m.req.min_ram = number(o, v);
		else if (strcmp(o, "--abi") == 0)
			m.req.agent_abi = (uint32_t)number(o, v);
		else if (strcmp(o, "--expires") == 0)
			m.expiry = number(o, v), m.has_expiry = true;
		else if (strcmp(o, "--sensors") == 0)
			sensors = v;
		else
			usage();
	}
	if (argc - i != 2 || key == NULL || !have_seq || m.device_class[0] == '\0') {
		fprintf(stderr, "tinyfleet: model sign needs --key, --seq, --class, a container and "
		                "an output file\n");
		usage();
	}
	for (const char *s = sensors; s != NULL && *s != '\0';) {
		const char *comma = strchr(s, ',');
		size_t n = comma != NULL ? (size_t)(comma - s) : strlen(s);
		if (m.req.n_sensors >= TFP_SENSORS_MAX || n == 0 || n > TFP_SENSOR_NAME_MAX) {
			fprintf(stderr, "tinyfleet: --sensors: at most %d names of 1 to %d characters\n",
			        TFP_SENSORS_MAX, TFP_SENSOR_NAME_MAX);
			return EXIT_USAGE;
		}
		memcpy(m.req.sensors[m.req.n_sensors++], s, n);
		s = comma != NULL ? comma + 1 : s + n;
	}

	img = slurp(argv[i], &imglen);
	if ((rc = tfp_container_open(&ct, img, imglen)) != 0) {
		fprintf(stderr, "tinyfleet: %s is not a model container: %s\n", argv[i],
		        tfp_strerror(rc));
		return EXIT_REFUSED;
	}
	snprintf(m.name, sizeof(m.name), "%s", ct.info.name);
	snprintf(m.version, sizeof(m.version), "%s", ct.info.version);
	m.image_size = imglen;
	m.container_version = ct.info.format_version;
	m.req.min_flash = ct.info.flash_bytes;
	if (m.req.min_ram == 0)
		m.req.min_ram = ct.info.arena_bytes;
	mbedtls_sha256_ret(img, imglen, m.digest, 0);
	free(img);

	pem = slurp(key, &pemlen);
	memset(&signer, 0, sizeof(signer));
	if ((rc = tfp_cose_signer_init_pem(&signer, (const char *)pem)) != 0) {
		fprintf(stderr, "tinyfleet: %s is not a P-256 private key: %s\n", key,
		        tfp_strerror(rc));
		free(pem);
		return EXIT_REFUSED;
	}
	free(pem);
	memcpy(m.key_id, signer.pub.kid, signer.pub.kid_len);
	rc = tfp_manifest_sign(&signer, &m, out, sizeof(out), &len);
	tfp_cose_signer_free(&signer);
	if (rc != 0) {
		fprintf(stderr, "tinyfleet: signing failed: %s\n", tfp_strerror(rc));
		return EXIT_REFUSED;
	}
	spill(argv[i + 1], out, len, 0644);
	print_manifest(&m);
	printf("signed    %s (%zu bytes)\n", argv[i + 1], len);
	return 0;
}

static int
cmd_verify(int argc, char **argv)
{
	struct tfp_cose_key key;
	struct tfp_manifest m;
	uint8_t *pem, *man, digest[32];
	size_t len, mlen;
	int rc;

	if ((argc != 3 && argc != 4) || strcmp(argv[0], "--pub") != 0)
		usage();
	pem = slurp(argv[1], &len);
	rc = tfp_cose_key_from_pem((const char *)pem, &key);
	free(pem);
	if (rc != 0) {
		fprintf(stderr, "tinyfleet: %s is not a P-256 public key\n", argv[1]);
		return EXIT_REFUSED;
	}
	man = slurp(argv[2], &mlen);
	rc = tfp_manifest_verify(man, mlen, &key, 1, (uint64_t)time(NULL), &m);
	free(man);
	if (rc != 0) {
		fprintf(stderr, "tinyfleet: %s refused: %s\n", argv[2], tfp_strerror(rc));
		return EXIT_REFUSED;
	}
	print_manifest(&m);
	if (argc == 4) {
		uint8_t *img = slurp(argv[3], &len);
		mbedtls_sha256_ret(img, len, digest, 0);
		free(img);
		if (len != m.image_size || memcmp(digest, m.digest, 32) != 0) {
			fprintf(stderr, "tinyfleet: %s does not match the manifest (size or SHA-256)\n",
			        argv[3]);
			return EXIT_REFUSED;
		}
		printf("container %s matches\n", argv[3]);
	}
	printf("signature OK\n");
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "keygen") == 0)
		return cmd_keygen(argc - 1, argv + 1);
	if (argc >= 3 && strcmp(argv[1], "model") == 0 && strcmp(argv[2], "sign") == 0)
		return cmd_sign(argc - 3, argv + 3);
	if (argc >= 3 && strcmp(argv[1], "model") == 0 && strcmp(argv[2], "verify") == 0)
		return cmd_verify(argc - 3, argv + 3);
	usage();
}
