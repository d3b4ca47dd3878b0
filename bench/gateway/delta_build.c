/*
 * tf-delta-build: time of the gateway's delta build path per MB of image, with bsdiff on
 * the same pair in the same run as the baseline.
 *
 * For each image size and two update kinds, pairs (old, new) of float32 weight images are
 * stored: "fine-tune", where a light fine-tune moved every weight a little
 * (w' = w * (1 + e), |e| <= 1e-3: every 4-byte word changes in its low bytes), and "head",
 * where only the last eighth of the weights (a retrained last layer) is new. They are stored in a scratch LMDB store; the gateway's delta
 * cache (gateway/src/deltas.c) is asked for old -> new, and the clock runs from that
 * request to its ready callback on the loop: copying both images out of LMDB, the
 * encoder in a libuv worker (automatic mode: every applicable mode, smallest patch kept),
 * the patch's SHA-256, and the committed store transaction. bsdiff runs on the same two
 * files (fork/exec, wall clock). Medians of REPS pairs per size (new pairs each time: the
 * cache would answer a repeated pair at once).
 *
 * usage: tf-delta-build SCRATCH_DIR [REPS [SIZE_KIB...]]   (default 3 reps; 64 256 1024)
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/sha256.h>

#include "deltas.h"
#include "log.h"

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_state;

static double
uniform(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (double)(rng_state >> 11) / 9007199254740992.0;
}

static float
gauss(void)
{
	double u = uniform() + 1e-12, v = uniform();
	return (float)(0.1 * sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
}

/* Weights ~ N(0, 0.1) (Box-Muller), then the updated copy (head: last eighth redrawn). */
static void
make_pair(uint8_t *old, uint8_t *new, size_t len, uint64_t seed, int head)
{
	rng_state = seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i + 4 <= len; i += 4) {
		float w = gauss();
		float w2 = head ? (i >= len - len / 8 ? gauss() : w)
		                : w * (float)(1 + (uniform() * 2 - 1) * 1e-3);
		memcpy(old + i, &w, 4);
		memcpy(new + i, &w2, 4);
	}
}

static int
write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(p, 1, n, f) != n) {
		if (f != NULL)
			fclose(f);
		return -1;
	}
	return fclose(f);
}

static long
file_size(const char *path)
{
	FILE *f = fopen(path, "rb");
	long n;
	if (f == NULL)
		return -1;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fclose(f);
	return n;
}

/* Wall seconds of `bsdiff old new patch`, or -1. */
static double
run_bsdiff(const char *old, const char *new, const char *patch)
{
	double t0 = now_s();
	int status;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execlp("bsdiff", "bsdiff", old, new, patch, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	return now_s() - t0;
}

static int ready;

static void
on_ready(void *arg, const uint8_t base[32], const uint8_t target[32])
{
	(void)arg;
	(void)base;
	(void)target;
	ready = 1;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	static const unsigned def_sizes[] = { 64, 256, 1024 };
	const unsigned *sizes = def_sizes;
	unsigned parsed[16];
	size_t nsizes = 3;
	int reps = argc > 2 ? atoi(argv[2]) : 3;
	char store_dir[512], oldp[512], newp[512], patchp[512];
	struct gw_store_config cfg = { 0 };
	struct gw_store store;
	struct gw_deltas deltas;
	uv_loop_t loop;

	if (argc < 2 || reps < 1 || reps > 20) {
		fprintf(stderr, "usage: tf-delta-build SCRATCH_DIR [REPS [SIZE_KIB...]]\n");
		return 2;
	}
	if (argc > 3) {
		nsizes = 0;
		for (int i = 3; i < argc && nsizes < 16; i++)
			parsed[nsizes++] = (unsigned)atoi(argv[i]);
		sizes = parsed;
	}
	gw_log_init(GW_LOG_WARNING);
	snprintf(store_dir, sizeof(store_dir), "%s/store", argv[1]);
	snprintf(oldp, sizeof(oldp), "%s/old.bin", argv[1]);
	snprintf(newp, sizeof(newp), "%s/new.bin", argv[1]);
	snprintf(patchp, sizeof(patchp), "%s/patch.bsdiff", argv[1]);
	cfg.path = store_dir;
	cfg.map_size = (size_t)1 << 30;
	if (gw_store_open(&store, &cfg) != 0 || uv_loop_init(&loop) != 0)
		return 1;
	gw_deltas_init(&deltas, &loop, &store, on_ready, NULL);

	printf("| update | image | gateway build (median) | per MB | patch / image | bsdiff (median) | per MB "
	       "| bsdiff patch / image |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
	for (size_t k = 0; k < 2 * nsizes; k++) {
		size_t s = k % nsizes;
		int head = k >= nsizes;
		size_t len = (size_t)sizes[s] << 10;
		uint8_t *old = malloc(len), *new = malloc(len);
		double gw[20], bs[20];
		size_t patch_len = 0;
		long bs_len = 0;

		if (old == NULL || new == NULL || len == 0 || len > (1u << 20))
			return 1;
		for (int r = 0; r < reps; r++) {
			uint8_t d_old[32], d_new[32];
			struct gw_fetch f;
			struct gw_txn t;
			double t0;

			make_pair(old, new, len, (uint64_t)(k * 100 + (size_t)r + 1), head);
			mbedtls_sha256_ret(old, len, d_old, 0);
			mbedtls_sha256_ret(new, len, d_new, 0);
			if (gw_store_begin(&store, &t) != 0 ||
			    gw_store_put_blob(&t, d_old, old, len) != 0 ||
			    gw_store_put_blob(&t, d_new, new, len) != 0 || gw_store_commit(&t) != 0)
				return 1;

			ready = 0;
			uv_update_time(&loop);
			t0 = now_s();
			if (gw_deltas_choose(&deltas, d_old, d_new, &f) != -EAGAIN)
				return 1;
			while (!ready)
				uv_run(&loop, UV_RUN_ONCE);
			gw[r] = now_s() - t0;
			if (gw_deltas_choose(&deltas, d_old, d_new, &f) != 0)
				return 1;
			patch_len = f.fetch == TFP_FETCH_DELTA ? f.object_size : len;

			if (write_file(oldp, old, len) != 0 || write_file(newp, new, len) != 0 ||
			    (bs[r] = run_bsdiff(oldp, newp, patchp)) < 0) {
				fprintf(stderr, "tf-delta-build: bsdiff failed (is it installed?)\n");
				return 1;
			}
			bs_len = file_size(patchp);
		}
		qsort(gw, (size_t)reps, sizeof(gw[0]), cmp_double);
		qsort(bs, (size_t)reps, sizeof(bs[0]), cmp_double);
		{
			double mb = (double)len / 1048576.0, g = gw[reps / 2], b = bs[reps / 2];
			printf("| %s | %u KiB | %.3f s | %.2f s/MB | %.3f | %.3f s | %.2f s/MB | %.3f |\n",
			       head ? "head" : "fine-tune", sizes[s], g, g / mb, (double)patch_len / (double)len, b, b / mb,
			       (double)bs_len / (double)len);
			fflush(stdout);
		}
		free(old);
		free(new);
	}
	gw_deltas_close(&deltas);
	while (uv_run(&loop, UV_RUN_ONCE) != 0)
		;
	uv_loop_close(&loop);
	gw_store_close(&store);
	return 0;
}
