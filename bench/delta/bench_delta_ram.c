/*
 * Device-side memory of delta decoding, measured:
 *   - our applier: sizeof(struct tfp_delta_apply) plus the stack it uses, found by running
 *     one apply on a thread whose stack was painted beforehand (high-water mark);
 *   - the library codecs the issue suggests, for comparison: liblzma's raw LZMA1/LZMA2
 *     decoders with lc=0, lp=0 and a 4 KiB dictionary (the smallest that makes sense), as
 *     reported by lzma_raw_decoder_memusage(), and zstd's decompression context and a
 *     streaming context for a 4 KiB window.
 *
 * usage: bench_delta_ram OLD PATCH    (prints key=value lines)
 */
#define _POSIX_C_SOURCE 200809L
#include <lzma.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include "tinyfleet/delta/apply.h"

#define STACK_SIZE (256 * 1024)
#define PAINT 0xA7

struct job {
	const uint8_t *old_img, *patch;
	size_t old_len, patch_len;
	uint8_t *out;
	size_t out_len;
	int rc;
};

static int
rd(void *user, uint32_t off, uint8_t *buf, uint32_t len)
{
	const struct job *j = user;

	if ((size_t)off + len > j->old_len)
		return -1;
	memcpy(buf, j->old_img + off, len);
	return 0;
}

static int
wr(void *user, uint32_t off, const uint8_t *buf, uint32_t len)
{
	struct job *j = user;

	if ((size_t)off + len > j->out_len)
		return -1;
	memcpy(j->out + off, buf, len);
	return 0;
}

static void *
run(void *arg)
{
	struct job *j = arg;
	/* The applier state lives on this thread's stack too, as a device task would keep it. */
	struct tfp_delta_apply a;
	size_t off;
	int rc;

	rc = tfp_delta_apply_init(&a, (uint32_t)j->old_len, rd, wr, j);
	for (off = 0; rc == 0 && off < j->patch_len; off += 512) {
		size_t n = j->patch_len - off < 512 ? j->patch_len - off : 512;

		rc = tfp_delta_apply_feed(&a, j->patch + off, n);
		if (rc == TFP_DELTA_DONE)
			rc = 0;
	}
	j->rc = rc == 0 ? tfp_delta_apply_finish(&a) : rc;
	return NULL;
}

/* Baseline: what thread start-up (glibc puts TLS and its descriptor on the stack) uses. */
static void *
idle(void *arg)
{
	return arg;
}

static size_t
high_water(void *(*fn)(void *), void *arg, uint8_t *stack)
{
	pthread_attr_t attr;
	pthread_t th;

	memset(stack, PAINT, STACK_SIZE);
	pthread_attr_init(&attr);
	if (pthread_attr_setstack(&attr, stack, STACK_SIZE) != 0 ||
	    pthread_create(&th, &attr, fn, arg) != 0 || pthread_join(th, NULL) != 0) {
		fprintf(stderr, "thread failed\n");
		exit(1);
	}
	pthread_attr_destroy(&attr);
	/* The stack grows down: the lowest overwritten byte marks the high-water mark. */
	for (size_t i = 0; i < STACK_SIZE; i++)
		if (stack[i] != PAINT)
			return STACK_SIZE - i;
	return 0;
}

static uint8_t *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		if (f != NULL)
			fclose(f);
		return NULL;
	}
	p = malloc(n ? (size_t)n : 1);
	if (p != NULL && fread(p, 1, (size_t)n, f) != (size_t)n) {
		free(p);
		p = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return p;
}

int
main(int argc, char **argv)
{
	struct job j = { 0 };
	uint8_t *stack = NULL;
	size_t used, base;
	lzma_options_lzma opt;
	lzma_filter f1[2], f2[2];

	if (argc != 3) {
		fprintf(stderr, "usage: %s OLD PATCH\n", argv[0]);
		return 1;
	}
	j.old_img = slurp(argv[1], &j.old_len);
	j.patch = slurp(argv[2], &j.patch_len);
	if (j.old_img == NULL || j.patch == NULL || j.patch_len < 16) {
		fprintf(stderr, "cannot read inputs\n");
		return 1;
	}
	j.out_len = (size_t)j.patch[12] | (size_t)j.patch[13] << 8 | (size_t)j.patch[14] << 16 |
	            (size_t)j.patch[15] << 24;
	j.out = malloc(j.out_len ? j.out_len : 1);
	if (posix_memalign((void **)&stack, 4096, STACK_SIZE) != 0 || j.out == NULL)
		return 1;
	base = high_water(idle, NULL, stack);
	used = high_water(run, &j, stack);
	printf("apply_rc=%d\n", j.rc);
	printf("applier_struct=%zu\n", (size_t)TFP_DELTA_APPLY_RAM);
	printf("thread_stack_high_water=%zu idle_thread_baseline=%zu\n", used, base);
	printf("applier_stack_beyond_struct=%zu\n",
	       used > base + TFP_DELTA_APPLY_RAM ? used - base - TFP_DELTA_APPLY_RAM : 0);
	printf("applier_peak_ram=%zu\n", used > base ? used - base : 0);

	lzma_lzma_preset(&opt, 0);
	opt.dict_size = 4096;
	opt.lc = 0;
	opt.lp = 0;
	opt.pb = 0;
	f1[0].id = LZMA_FILTER_LZMA1;
	f1[0].options = &opt;
	f1[1].id = LZMA_VLI_UNKNOWN;
	f2[0].id = LZMA_FILTER_LZMA2;
	f2[0].options = &opt;
	f2[1].id = LZMA_VLI_UNKNOWN;
	printf("liblzma_raw_lzma1_lc0_dict4k_decoder=%llu\n",
	       (unsigned long long)lzma_raw_decoder_memusage(f1));
	printf("liblzma_raw_lzma2_lc0_dict4k_decoder=%llu\n",
	       (unsigned long long)lzma_raw_decoder_memusage(f2));
	printf("zstd_dctx=%zu\n", ZSTD_estimateDCtxSize());
	printf("zstd_dstream_window4k=%zu\n", ZSTD_estimateDStreamSize(4096));
	free(stack);
	free(j.out);
	free((void *)j.old_img);
	free((void *)j.patch);
	return j.rc == 0 ? 0 : 2;
}
