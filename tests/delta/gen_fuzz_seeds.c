/*
 * Writes the seed corpus of fuzz_delta_apply: valid patches (every mode, small and large
 * blocks, with and without the power-loss flag; format version 1 and version 2 with F32
 * element blocks) against the fixed old image. Run by hand:
 *   build/default/tests/delta/gen_delta_fuzz_seeds tests/fuzz/corpus/delta_apply
 * Deterministic: the same build writes the same files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_delta_old.h"
#include "tinyfleet/delta/encode.h"

static int
write_seed(const char *dir, int k, uint8_t chunk, uint8_t flags, const uint8_t *p, size_t n)
{
	char path[512];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/seed-%02d", dir, k);
	f = fopen(path, "wb");
	if (f == NULL)
		return -1;
	ok = fputc(chunk, f) != EOF && fputc(flags, f) != EOF && fwrite(p, 1, n, f) == n;
	return fclose(f) == 0 && ok ? 0 : -1;
}

int
main(int argc, char **argv)
{
	static uint8_t old_img[FUZZ_DELTA_OLD_LEN], new_img[4000];
	uint32_t x = 99;
	int k = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 1;
	}
	fuzz_delta_old(old_img);
	for (int v = 0; v < 4; v++) {
		size_t nl = v == 0 ? 3000 : v == 1 ? 1500 : v == 2 ? 4000 : 64;

		/* Variants: fine-tune, truncation, insertion + append, tiny. */
		for (size_t i = 0; i < nl; i++) {
			size_t src = v == 2 && i >= 700 ? (i - 300) % FUZZ_DELTA_OLD_LEN : i;

			x = x * 1103515245u + 12345u;
			new_img[i] = (uint8_t)(old_img[src % FUZZ_DELTA_OLD_LEN] +
			                       ((x >> 16) % 3 == 0 ? (int)((x >> 20) % 5) - 2 : 0));
			if (v == 2 && i >= 400 && i < 700)
				new_img[i] = (uint8_t)(x >> 24);
		}
		for (int mode = 0; mode <= 1; mode++) {
			struct tfp_delta_enc_opts o = { mode, v % 2 ? 512u : 0u, NULL, NULL };
			uint8_t *p = NULL;
			size_t pl = 0;

			if (tfp_delta_encode(old_img, FUZZ_DELTA_OLD_LEN, new_img, nl, &o, &p, &pl,
			                     NULL) != 0 ||
			    write_seed(argv[1], k++, (uint8_t)(v * 37 + mode * 11), (uint8_t)(v & 1), p,
			               pl) != 0) {
				fprintf(stderr, "seed %d failed\n", k);
				free(p);
				return 1;
			}
			free(p);
		}
	}
	/* Version 2: the old image read as 32-bit elements, moved by small signed amounts
	 * (carries across bytes), some zeroed or set to 0x80000000, then a 3-byte tail. */
	for (int v = 0; v < 2; v++) {
		size_t nl = FUZZ_DELTA_OLD_LEN + 3;
		struct tfp_delta_enc_opts o = { TFP_DELTA_MODE_AGNOSTIC, v ? 512u : 0u, NULL, NULL };
		uint8_t *p = NULL;
		size_t pl = 0;

		for (size_t i = 0; i + 4 <= FUZZ_DELTA_OLD_LEN; i += 4) {
			uint32_t e = (uint32_t)old_img[i] | (uint32_t)old_img[i + 1] << 8 |
			             (uint32_t)old_img[i + 2] << 16 | (uint32_t)old_img[i + 3] << 24;
			uint32_t r;

			x = x * 1103515245u + 12345u;
			r = (x >> 16) % 100;
			e = r < 10 ? 0u : r < 15 ? 0x80000000u : r < 30 ? e :
			    e + (uint32_t)((int32_t)((x >> 8) % 2001) - 1000);
			for (int b = 0; b < 4; b++)
				new_img[i + (size_t)b] = (uint8_t)(e >> (8 * b));
		}
		new_img[nl - 3] = 1, new_img[nl - 2] = 2, new_img[nl - 1] = 3;
		if (tfp_delta_encode(old_img, FUZZ_DELTA_OLD_LEN, new_img, nl, &o, &p, &pl, NULL) != 0 ||
		    pl < 5 || p[4] != 2 ||
		    write_seed(argv[1], k++, (uint8_t)(200 + v), (uint8_t)v, p, pl) != 0) {
			fprintf(stderr, "seed %d failed (or no F32 block)\n", k);
			free(p);
			return 1;
		}
		free(p);
	}
	printf("%d seeds\n", k);
	return 0;
}
