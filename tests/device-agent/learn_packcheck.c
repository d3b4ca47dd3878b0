/*
 * Checker run by the packer test (tools/model/check_packer.py): opens a container written
 * by tfpack with the C reader, runs its self-test (the packer's emulation of the int8
 * arithmetic against our kernels), then runs inference on inputs whose float-model outputs
 * numpy computed, and fails when any output differs by more than the tolerance.
 * Usage: learn_packcheck model.tfm inputs.f32 expected.f32 tolerance
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "tinyfleet/agent/infer.h"

static unsigned char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 4)) != NULL && fread(buf, 1, (size_t)n, f) == (size_t)n) {
		*len = (size_t)n;
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

int
main(int argc, char **argv)
{
	unsigned char *img = NULL, *in = NULL, *ex = NULL;
	size_t ilen, inlen, exlen, nin, nout, rows;
	struct tfa_model m;
	float *arena = NULL, worst = 0.0f, st_err = 0.0f, tol;
	int rc = 1, e;

	if (argc != 5) {
		fprintf(stderr, "usage: %s model.tfm inputs.f32 expected.f32 tolerance\n", argv[0]);
		return 2;
	}
	tol = strtof(argv[4], NULL);
	if ((img = slurp(argv[1], &ilen)) == NULL || (in = slurp(argv[2], &inlen)) == NULL ||
	    (ex = slurp(argv[3], &exlen)) == NULL) {
		fprintf(stderr, "packcheck: cannot read inputs\n");
		goto out;
	}
	if ((e = tfa_model_open(&m, img, ilen)) != 0) {
		fprintf(stderr, "packcheck: %s: %s\n", argv[1], tfa_strerror(e));
		goto out;
	}
	arena = malloc(m.c.info.arena_bytes);
	if (arena == NULL)
		goto out;
	if ((e = tfa_selftest(&m, (unsigned char *)arena, m.c.info.arena_bytes, &st_err)) != 0) {
		fprintf(stderr, "packcheck: self-test: %s (max error %g)\n", tfa_strerror(e),
		        (double)st_err);
		goto out;
	}
	nin = (size_t)m.c.info.in_len * m.c.info.in_ch;
	nout = (size_t)m.c.info.out_len * m.c.info.out_ch;
	rows = inlen / (4 * nin);
	if (rows == 0 || inlen != rows * 4 * nin || exlen != rows * 4 * nout) {
		fprintf(stderr, "packcheck: input/expected sizes do not fit the model\n");
		goto out;
	}
	for (size_t r = 0; r < rows; r++) {
		const float *y;
		size_t n;
		if ((e = tfa_infer(&m, (const float *)(void *)in + r * nin, (unsigned char *)arena,
		                   m.c.info.arena_bytes, &y, &n)) != 0) {
			fprintf(stderr, "packcheck: infer: %s\n", tfa_strerror(e));
			goto out;
		}
		for (size_t o = 0; o < nout; o++) {
			float d = fabsf(y[o] - ((const float *)(void *)ex)[r * nout + o]);
			if (!(d <= worst))
				worst = d;
		}
	}
	printf("packcheck: %s: %zu rows, arena %u B, self-test max error %.3g, "
	       "max |C int8 - numpy float| %.4f (tolerance %.4f)\n", argv[1], rows,
	       m.c.info.arena_bytes, (double)st_err, (double)worst, (double)tol);
	rc = worst <= tol ? 0 : 1;
out:
	free(img);
	free(in);
	free(ex);
	free(arena);
	return rc;
}
