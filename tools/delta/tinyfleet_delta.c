/*
 * tinyfleet-delta: build, apply and inspect delta patches from the command line.
 *
 *   tinyfleet-delta diff [--mode M] [--block N] [--stats] OLD NEW PATCH
 *   tinyfleet-delta apply [--chunk N] [--stats] OLD PATCH OUT
 *   tinyfleet-delta info PATCH
 *
 * Exit codes: 0 success, 1 usage error, 2 file I/O error, 3 invalid or corrupt patch
 * (or, for diff, inputs that cannot be encoded in the requested mode).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tinyfleet/delta/apply.h"
#include "tinyfleet/delta/encode.h"

#define EXIT_USAGE 1
#define EXIT_IO 2
#define EXIT_PATCH 3

static const char usage[] =
	"usage: tinyfleet-delta diff [--mode auto|full|agnostic|tensor] [--block BYTES] [--stats]\n"
	"                            OLD NEW PATCH\n"
	"       tinyfleet-delta apply [--chunk BYTES] [--stats] OLD PATCH OUT\n"
	"       tinyfleet-delta info PATCH\n"
	"\n"
	"diff   writes a patch that rebuilds NEW from OLD. --mode auto (default) keeps the\n"
	"       smallest of: full image, format-agnostic delta, tensor-aware delta (the last\n"
	"       only when both images carry a tensor table). --block sets the output bytes per\n"
	"       independently coded block (the resume granularity, default 32768). --stats\n"
	"       prints where the patch bytes go (headers, operations, add bytes by byte planes\n"
	"       and by F32 elements, literals) and the blocks per coding.\n"
	"apply  rebuilds OUT from OLD and PATCH with the device-side streaming applier, fed in\n"
	"       --chunk byte pieces (default 4096). --stats prints time and applier RAM.\n"
	"info   prints what a patch declares and checks its structure.\n"
	"\n"
	"exit status: 0 ok, 1 usage, 2 file I/O error, 3 invalid or corrupt patch\n";

static int
read_file(const char *path, uint8_t **data, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p = NULL;
	long n;

	if (f == NULL)
		goto fail;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		goto fail;
	p = malloc(n > 0 ? (size_t)n : 1);
	if (p == NULL || fread(p, 1, (size_t)n, f) != (size_t)n)
		goto fail;
	fclose(f);
	*data = p;
	*len = (size_t)n;
	return 0;
fail:
	fprintf(stderr, "tinyfleet-delta: cannot read %s: %s\n", path, strerror(errno));
	free(p);
	if (f != NULL)
		fclose(f);
	return -1;
}

static int
write_file(const char *path, const uint8_t *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "tinyfleet-delta: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int
parse_u32(const char *s, uint32_t *v)
{
	char *end;
	unsigned long x;

	errno = 0;
	x = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || x == 0 || x > 0x7FFFFFFFul)
		return -1;
	*v = (uint32_t)x;
	return 0;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *
mode_name(int m)
{
	switch (m) {
	case TFP_DELTA_MODE_FULL: return "full";
	case TFP_DELTA_MODE_AGNOSTIC: return "agnostic";
	case TFP_DELTA_MODE_TENSOR: return "tensor";
	}
	return "?";
}

/* Tensor table of a model container (TFMC), else of the fallback raw layout (TFTT). */
static int
load_tensors(const uint8_t *img, size_t len, struct tfp_delta_tensor **t, size_t *n)
{
	if (tfp_delta_tensors_from_container(img, len, t, n) == 0)
		return 0;
	return tfp_delta_tensors_from_raw(img, len, t, n);
}

static int
cmd_diff(int argc, char **argv)
{
	struct tfp_delta_enc_opts o = { TFP_DELTA_ENC_AUTO, 0, NULL, NULL };
	struct tfp_delta_tensor *ot = NULL, *nt = NULL;
	size_t otn = 0, ntn = 0, olen = 0, nlen = 0, plen = 0;
	struct tfp_delta_tensor_map om, nm;
	uint8_t *old_img = NULL, *new_img = NULL, *patch = NULL;
	struct tfp_delta_enc_stats st;
	int i, rc, ret = EXIT_USAGE, used = 0, stats = 0;
	double t0;

	for (i = 0; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--stats") == 0) {
			stats = 1;
		} else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
			const char *m = argv[++i];

			if (strcmp(m, "auto") == 0)
				o.mode = TFP_DELTA_ENC_AUTO;
			else if (strcmp(m, "full") == 0)
				o.mode = TFP_DELTA_MODE_FULL;
			else if (strcmp(m, "agnostic") == 0)
				o.mode = TFP_DELTA_MODE_AGNOSTIC;
			else if (strcmp(m, "tensor") == 0)
				o.mode = TFP_DELTA_MODE_TENSOR;
			else {
				fprintf(stderr, "tinyfleet-delta: unknown mode '%s'\n", m);
				return EXIT_USAGE;
			}
		} else if (strcmp(argv[i], "--block") == 0 && i + 1 < argc) {
			if (parse_u32(argv[++i], &o.block_out) != 0) {
				fprintf(stderr, "tinyfleet-delta: bad --block value\n");
				return EXIT_USAGE;
			}
		} else {
			fprintf(stderr, "tinyfleet-delta: unknown option %s\n%s", argv[i], usage);
			return EXIT_USAGE;
		}
	}
	if (argc - i != 3) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	ret = EXIT_IO;
	if (read_file(argv[i], &old_img, &olen) != 0 || read_file(argv[i + 1], &new_img, &nlen) != 0)
		goto out;
	if (load_tensors(old_img, olen, &ot, &otn) == 0 &&
	    load_tensors(new_img, nlen, &nt, &ntn) == 0) {
		om.t = ot, om.count = otn, nm.t = nt, nm.count = ntn;
		o.old_map = &om;
		o.new_map = &nm;
	}
	if (o.mode == TFP_DELTA_MODE_TENSOR && o.old_map == NULL) {
		fprintf(stderr, "tinyfleet-delta: --mode tensor needs two valid model containers "
		                "(or two images in the TFTT fallback layout)\n");
		ret = EXIT_PATCH;
		goto out;
	}
	t0 = now();
	rc = tfp_delta_encode_stats(old_img, olen, new_img, nlen, &o, &patch, &plen, &used, &st);
	if (rc != 0) {
		fprintf(stderr, "tinyfleet-delta: diff failed: %s (%d)\n", tfp_strerror(rc), rc);
		ret = EXIT_PATCH;
		goto out;
	}
	if (write_file(argv[i + 2], patch, plen) != 0)
		goto out;
	printf("mode=%s old=%zu new=%zu patch=%zu ratio=%.4f diff_s=%.3f\n", mode_name(used), olen,
	       nlen, plen, nlen ? (double)plen / (double)nlen : 0.0, now() - t0);
	if (stats)
		printf("bytes headers=%.0f ops=%.0f add=%.0f add_f32_sym=%.0f add_f32_raw=%.0f "
		       "insert=%.0f flush=%.0f\n"
		       "new_bytes add=%llu add_f32=%llu insert=%llu copy=%llu\n"
		       "blocks stride1=%u stride4=%u f32=%u\n",
		       st.bytes[TFP_DELTA_ST_HEADERS], st.bytes[TFP_DELTA_ST_OPS],
		       st.bytes[TFP_DELTA_ST_ADD], st.bytes[TFP_DELTA_ST_ADD_F32_SYM],
		       st.bytes[TFP_DELTA_ST_ADD_F32_RAW], st.bytes[TFP_DELTA_ST_INSERT],
		       st.bytes[TFP_DELTA_ST_FLUSH], (unsigned long long)st.add_bytes,
		       (unsigned long long)st.add_f32_bytes, (unsigned long long)st.insert_bytes,
		       (unsigned long long)st.copy_bytes, st.blocks_stride1, st.blocks_stride4,
		       st.blocks_f32);
	ret = 0;
out:
	free(old_img);
	free(new_img);
	free(patch);
	free(ot);
	free(nt);
	return ret;
}

struct io {
	const uint8_t *old_img;
	size_t old_len;
	uint8_t *out;
	size_t out_len;
};

static int
read_old(void *user, uint32_t off, uint8_t *buf, uint32_t len)
{
	struct io *io = user;

	if ((size_t)off + len > io->old_len)
		return -1;
	memcpy(buf, io->old_img + off, len);
	return 0;
}

static int
write_new(void *user, uint32_t off, const uint8_t *buf, uint32_t len)
{
	struct io *io = user;

	if ((size_t)off + len > io->out_len)
		return -1;
	memcpy(io->out + off, buf, len);
	return 0;
}

static int
cmd_apply(int argc, char **argv)
{
	struct tfp_delta_apply a;
	struct tfp_delta_info info;
	struct io io = { 0 };
	uint8_t *old_img = NULL, *patch = NULL;
	size_t olen = 0, plen = 0;
	uint32_t chunk = 4096;
	int i, rc = 0, ret = EXIT_USAGE, stats = 0;
	double t0;

	for (i = 0; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--chunk") == 0 && i + 1 < argc) {
			if (parse_u32(argv[++i], &chunk) != 0) {
				fprintf(stderr, "tinyfleet-delta: bad --chunk value\n");
				return EXIT_USAGE;
			}
		} else if (strcmp(argv[i], "--stats") == 0) {
			stats = 1;
		} else {
			fprintf(stderr, "tinyfleet-delta: unknown option %s\n%s", argv[i], usage);
			return EXIT_USAGE;
		}
	}
	if (argc - i != 3) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	ret = EXIT_IO;
	if (read_file(argv[i], &old_img, &olen) != 0 || read_file(argv[i + 1], &patch, &plen) != 0)
		goto out;
	ret = EXIT_PATCH;
	/* The output buffer is sized from the header; the applier re-checks everything. */
	if ((rc = tfp_delta_info(patch, plen, &info)) != 0)
		goto fail;
	io.old_img = old_img;
	io.old_len = olen;
	io.out_len = info.new_size;
	io.out = malloc(io.out_len ? io.out_len : 1);
	if (io.out == NULL) {
		ret = EXIT_IO;
		goto out;
	}
	t0 = now();
	if ((rc = tfp_delta_apply_init(&a, (uint32_t)olen, read_old, write_new, &io)) != 0)
		goto fail;
	for (size_t off = 0; off < plen && rc == 0; off += chunk) {
		size_t n = plen - off < chunk ? plen - off : chunk;

		rc = tfp_delta_apply_feed(&a, patch + off, n);
		if (rc == TFP_DELTA_DONE && off + n == plen)
			rc = 0;
		else if (rc == TFP_DELTA_DONE)
			rc = TFP_ERR_DELTA_TRAILING;
	}
	if (rc == 0)
		rc = tfp_delta_apply_finish(&a);
	if (rc != 0)
		goto fail;
	if (stats)
		printf("apply_s=%.4f applier_ram=%zu new=%zu\n", now() - t0,
		       (size_t)TFP_DELTA_APPLY_RAM, io.out_len);
	ret = write_file(argv[i + 2], io.out, io.out_len) == 0 ? 0 : EXIT_IO;
	goto out;
fail:
	fprintf(stderr, "tinyfleet-delta: apply failed: %s (%d)\n", tfp_strerror(rc), rc);
out:
	free(old_img);
	free(patch);
	free(io.out);
	return ret;
}

static int
cmd_info(int argc, char **argv)
{
	struct tfp_delta_info info;
	uint8_t *patch = NULL;
	size_t plen = 0;
	int rc;

	if (argc != 1) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	if (read_file(argv[0], &patch, &plen) != 0)
		return EXIT_IO;
	rc = tfp_delta_info(patch, plen, &info);
	free(patch);
	if (rc != 0) {
		fprintf(stderr, "tinyfleet-delta: %s: %s (%d)\n", argv[0], tfp_strerror(rc), rc);
		return EXIT_PATCH;
	}
	printf("version %u\nmode %s\nold_size %u\nold_crc32 %08x\nnew_size %u\n"
	       "block_out %u\nblocks %u\ncoded_bytes %llu\npatch_bytes %zu\n"
	       "applier_ram %zu\n",
	       info.version, mode_name((int)info.mode), info.old_size, info.old_crc,
	       info.new_size, info.block_out, info.n_blocks,
	       (unsigned long long)info.coded_bytes, plen, (size_t)TFP_DELTA_APPLY_RAM);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(usage, stdout);
		return 0;
	}
	if (strcmp(argv[1], "diff") == 0)
		return cmd_diff(argc - 2, argv + 2);
	if (strcmp(argv[1], "apply") == 0)
		return cmd_apply(argc - 2, argv + 2);
	if (strcmp(argv[1], "info") == 0)
		return cmd_info(argc - 2, argv + 2);
	fprintf(stderr, "tinyfleet-delta: unknown command '%s'\n%s", argv[1], usage);
	return EXIT_USAGE;
}
