/*
 * Release commands, offline (no gateway): keygen, model sign, model verify, model pack.
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
 *   tinyfleet model pack IN.npz OUT.tfm [tfpack options]
 *       Runs the Python packer (tools/model/tfpack.py) with Debian's python3.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>

#include "tinyfleet/protocol/container.h"
#include "tinyfleet/protocol/cose_sign1.h"
#include "tinyfleet/protocol/manifest.h"

#include "cli.h"

int
cmd_keygen(int argc, char **argv)
{
	mbedtls_pk_context pk;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	unsigned char pem[1024];
	struct tfp_cose_key pub;
	char path[4096], kid[TFP_KEY_ID_MAX + 1];
	struct stat st;
	int rc = CLI_EXIT_IO;

	if (argc != 2)
		cli_usage("model");
	snprintf(path, sizeof(path), "%s/release.key.pem", argv[1]);
	if (stat(path, &st) == 0) {
		cli_err("%s exists; refusing to replace a release key", path);
		return CLI_EXIT_REFUSED;
	}
	if (mkdir(argv[1], 0700) != 0 && errno != EEXIST) {
		cli_err("mkdir %s: %s", argv[1], strerror(errno));
		return CLI_EXIT_IO;
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
		cli_err("key generation failed");
		goto out;
	}
	cli_spill(path, pem, strlen((char *)pem), 0600);
	if (mbedtls_pk_write_pubkey_pem(&pk, pem, sizeof(pem)) != 0 ||
	    tfp_cose_key_from_pem((char *)pem, &pub) != 0) {
		cli_err("cannot write the public key");
		goto out;
	}
	snprintf(path, sizeof(path), "%s/release.pub.pem", argv[1]);
	cli_spill(path, pem, strlen((char *)pem), 0644);
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

int
cli_sign_option(struct cli_sign_params *p, const char *o, const char *v)
{
	if (strcmp(o, "--key") == 0 || strcmp(o, "--release-key") == 0)
		p->key = v;
	else if (strcmp(o, "--seq") == 0)
		p->seq = cli_number(o, v), p->have_seq = 1;
	else if (strcmp(o, "--class") == 0)
		p->device_class = v;
	else if (strcmp(o, "--min-ram") == 0)
		p->min_ram = cli_number(o, v);
	else if (strcmp(o, "--abi") == 0)
		p->abi = (uint32_t)cli_number(o, v);
	else if (strcmp(o, "--expires") == 0)
		p->expires = cli_number(o, v), p->has_expiry = 1;
	else if (strcmp(o, "--sensors") == 0)
		p->sensors = v;
	else
		return 0;
	return 1;
}

int
cli_sign(const struct cli_sign_params *p, const uint8_t *img, size_t imglen, uint8_t *out,
         size_t cap, size_t *outlen, int quiet)
{
	struct tfp_manifest m;
	struct tfp_cose_signer signer;
	struct tfp_container ct;
	uint8_t *pem;
	size_t pemlen;
	int rc;

	memset(&m, 0, sizeof(m));
	m.req.agent_abi = p->abi != 0 ? p->abi : 1;
	m.sequence = p->seq;
	m.req.min_ram = p->min_ram;
	m.expiry = p->expires;
	m.has_expiry = p->has_expiry != 0;
	snprintf(m.device_class, sizeof(m.device_class), "%s", p->device_class);
	for (const char *s = p->sensors; s != NULL && *s != '\0';) {
		const char *comma = strchr(s, ',');
		size_t n = comma != NULL ? (size_t)(comma - s) : strlen(s);
		if (m.req.n_sensors >= TFP_SENSORS_MAX || n == 0 || n > TFP_SENSOR_NAME_MAX) {
			cli_err("--sensors: at most %d names of 1 to %d characters", TFP_SENSORS_MAX,
			        TFP_SENSOR_NAME_MAX);
			return CLI_EXIT_USAGE;
		}
		memcpy(m.req.sensors[m.req.n_sensors++], s, n);
		s = comma != NULL ? comma + 1 : s + n;
	}
	if ((rc = tfp_container_open(&ct, img, imglen)) != 0) {
		cli_err("that is not a model container: %s (pack one with `tinyfleet model pack`)",
		        tfp_strerror(rc));
		return CLI_EXIT_REFUSED;
	}
	{
		/* A device self-tests an update before it confirms it; without test vectors it
		 * refuses the container (container_invalid), so say so before anyone ships it. */
		struct tfp_tensor t;
		if (tfp_container_find(&ct, TFP_KIND_TEST_IN, &t) != 0) {
			cli_err("the container has no self-test vectors (test_x in the packer's "
			        ".npz); devices would refuse it: pack it again with test_x");
			return CLI_EXIT_REFUSED;
		}
	}
	snprintf(m.name, sizeof(m.name), "%s", ct.info.name);
	snprintf(m.version, sizeof(m.version), "%s", ct.info.version);
	m.image_size = imglen;
	m.container_version = ct.info.format_version;
	m.req.min_flash = ct.info.flash_bytes;
	if (m.req.min_ram == 0)
		m.req.min_ram = ct.info.arena_bytes;
	mbedtls_sha256_ret(img, imglen, m.digest, 0);

	pem = cli_slurp(p->key, &pemlen);
	memset(&signer, 0, sizeof(signer));
	if ((rc = tfp_cose_signer_init_pem(&signer, (const char *)pem)) != 0) {
		cli_err("%s is not a P-256 private key: %s", p->key, tfp_strerror(rc));
		free(pem);
		return CLI_EXIT_REFUSED;
	}
	free(pem);
	memcpy(m.key_id, signer.pub.kid, signer.pub.kid_len);
	rc = tfp_manifest_sign(&signer, &m, out, cap, outlen);
	tfp_cose_signer_free(&signer);
	if (rc != 0) {
		cli_err("signing failed: %s", tfp_strerror(rc));
		return CLI_EXIT_REFUSED;
	}
	if (!quiet)
		print_manifest(&m);
	return 0;
}

int
cmd_model_sign(int argc, char **argv)
{
	struct cli_sign_params p;
	uint8_t *img, out[TFP_MANIFEST_PAYLOAD_MAX + TFP_COSE_SIGN1_OVERHEAD];
	size_t imglen, len;
	int i, rc;

	memset(&p, 0, sizeof(p));
	for (i = 0; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2)
		if (i + 1 >= argc || !cli_sign_option(&p, argv[i], argv[i + 1]))
			cli_usage("model");
	if (argc - i != 2 || p.key == NULL || !p.have_seq || p.device_class == NULL) {
		cli_err("model sign needs --key, --seq, --class, a container and an output file");
		cli_usage("model");
	}
	img = cli_slurp(argv[i], &imglen);
	rc = cli_sign(&p, img, imglen, out, sizeof(out), &len, 0);
	free(img);
	if (rc != 0)
		return rc;
	cli_spill(argv[i + 1], out, len, 0644);
	printf("signed    %s (%zu bytes)\n", argv[i + 1], len);
	return 0;
}

int
cmd_model_verify(int argc, char **argv)
{
	struct tfp_cose_key key;
	struct tfp_manifest m;
	uint8_t *pem, *man, digest[32];
	size_t len, mlen;
	int rc;

	if ((argc != 3 && argc != 4) || strcmp(argv[0], "--pub") != 0)
		cli_usage("model");
	pem = cli_slurp(argv[1], &len);
	rc = tfp_cose_key_from_pem((const char *)pem, &key);
	free(pem);
	if (rc != 0) {
		cli_err("%s is not a P-256 public key", argv[1]);
		return CLI_EXIT_REFUSED;
	}
	man = cli_slurp(argv[2], &mlen);
	rc = tfp_manifest_verify(man, mlen, &key, 1, (uint64_t)time(NULL), &m);
	free(man);
	if (rc != 0) {
		cli_err("%s refused: %s", argv[2], tfp_strerror(rc));
		return CLI_EXIT_REFUSED;
	}
	print_manifest(&m);
	if (argc == 4) {
		uint8_t *img = cli_slurp(argv[3], &len);
		mbedtls_sha256_ret(img, len, digest, 0);
		free(img);
		if (len != m.image_size || memcmp(digest, m.digest, 32) != 0) {
			cli_err("%s does not match the manifest (size or SHA-256)\n",
			        argv[3]);
			return CLI_EXIT_REFUSED;
		}
		printf("container %s matches\n", argv[3]);
	}
	printf("signature OK\n");
	return 0;
}

int
cmd_model_pack(int argc, char **argv)
{
	const char *packer = getenv("TINYFLEET_PACKER");
	const char *py = getenv("TINYFLEET_PYTHON");
	char **args;

	if (argc < 2)
		cli_usage("model");
	if (packer == NULL)
		packer = access(TF_PACKER_INSTALLED, R_OK) == 0 ? TF_PACKER_INSTALLED : TF_PACKER_SOURCE;
	if (py == NULL)
		py = "/usr/bin/python3";
	if ((args = calloc((size_t)argc + 3, sizeof(char *))) == NULL)
		return CLI_EXIT_IO;
	args[0] = (char *)py;
	args[1] = (char *)packer;
	memcpy(args + 2, argv, sizeof(char *) * (size_t)argc);
	execv(py, args);
	cli_err("cannot run %s %s: %s (Debian: apt-get install python3-numpy; or set "
	        "TINYFLEET_PYTHON / TINYFLEET_PACKER)", py, packer, strerror(errno));
	free(args);
	return CLI_EXIT_IO;
}
