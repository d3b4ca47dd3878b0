/*
 * Inference runtime over a model container (protocol/CONTAINER.md).
 *
 * The weights are read in place from the container image (memory-mapped flash); the only
 * RAM inference uses is one scratch arena that the caller owns, of at least
 * tfa_model_arena(model) bytes (= the container's arena_bytes need), 4-aligned. Arena
 * layout: two float32 activation buffers of the largest activation, then one int8 buffer
 * for the input of quantised layers. Int8 layers quantise their input (static or dynamic),
 * multiply-accumulate int8 x int8 in int32 and rescale to float32; float32 layers (the
 * update layer) compute in float32. The arithmetic is specified in CONTAINER.md.
 *
 * Ownership: struct tfa_model borrows the image given to tfa_model_open() until it is no
 * longer used. Output pointers point into the arena and stay valid until the arena is used
 * again. Threads: no global state; one model may serve several threads, each with its own
 * arena. No malloc, no OS calls, no recursion; stack use is measured by
 * bench/learn/footprint.sh (Cortex-M4: about 0.3 KB for tfa_infer_range plus a kernel).
 */
#ifndef TINYFLEET_AGENT_INFER_H
#define TINYFLEET_AGENT_INFER_H

#include <stddef.h>
#include <stdint.h>

#include "tinyfleet/agent/config.h"
#include "tinyfleet/agent/error.h"
#include "tinyfleet/protocol/container.h"

#ifdef __cplusplus
extern "C" {
#endif

struct tfa_model {
	struct tfp_container c;
	uint32_t max_act;        /* largest activation, elements */
	uint32_t max_q;          /* largest int8-layer input, elements */
	uint32_t arena;          /* bytes the arena needs */
};

/* Opens (validates) a container image. Returns 0, TFP_ERR_ARG, or a TFP_ERR_CONTAINER_*
 * code. */
int tfa_model_open(struct tfa_model *m, const uint8_t *img, size_t len);

/* Bytes of scratch arena inference needs (<= the container's arena_bytes). */
size_t tfa_model_arena(const struct tfa_model *m);

/* Where the model input goes: the first float buffer of the arena. */
float *tfa_infer_input(uint8_t *arena);

/* Runs layers first..end-1 on the activation already in tfa_infer_input(arena) (the
 * output of layer first-1, or the model input when first == 0). *out receives the output
 * of layer end-1 (inside the arena), *out_n its element count. Returns 0, TFP_ERR_ARG or
 * TFA_ERR_ARENA (arena NULL, misaligned or shorter than tfa_model_arena()). */
int tfa_infer_range(const struct tfa_model *m, unsigned first, unsigned end, uint8_t *arena,
                    size_t arena_len, const float **out, size_t *out_n);

/* Copies x (in_len*in_ch floats) into the arena and runs every layer. */
int tfa_infer(const struct tfa_model *m, const float *x, uint8_t *arena, size_t arena_len,
              const float **out, size_t *out_n);

/* Post-install self-test: runs every TEST_IN vector and compares with TEST_OUT. Returns 0
 * (also when the container has no test vectors: *max_err is then 0), TFA_ERR_SELFTEST
 * when some output differs by more than the container's tolerance, or an arena error.
 * max_err may be NULL. */
int tfa_selftest(const struct tfa_model *m, uint8_t *arena, size_t arena_len, float *max_err);

/* ---- kernels (exposed for tests and benchmarks) ------------------------------------ */

/* Quantises n floats to int8: with scale > 0 statically (q = clamp(floor(x/scale + 0.5) +
 * zero, -128, 127)), otherwise dynamically (symmetric, scale = max|x|/127, zero 0). The
 * scale and zero point used are returned through *s and *z. */
void tfa_quantize(const float *x, size_t n, float scale, int32_t zero, int8_t *q, float *s,
                  int32_t *z);

/* y[o] = sum_i (xq[i] - xz) * (w[o,i] - wz[o]) * xs * wscale[o] + b[o], w int8 [out, in]. */
void tfa_dense_q8(const int8_t *xq, int32_t xz, float xs, const struct tfp_tensor *w,
                  const struct tfp_tensor *b, unsigned n_in, unsigned n_out, float *y);
/* y[o] = sum_i w[o,i] x[i] + b[o], w float32 [out, in]. */
void tfa_dense_f32(const float *x, const struct tfp_tensor *w, const struct tfp_tensor *b,
                   unsigned n_in, unsigned n_out, float *y);
/* Valid 1-D convolution, x [in_len, in_ch] (quantised), w int8 [out_ch, k, in_ch],
 * y [(in_len - k)/stride + 1, out_ch]. */
void tfa_conv1d_q8(const int8_t *xq, int32_t xz, float xs, const struct tfp_tensor *w,
                   const struct tfp_tensor *b, unsigned in_len, unsigned in_ch,
                   unsigned out_ch, unsigned k, unsigned stride, float *y);
void tfa_conv1d_f32(const float *x, const struct tfp_tensor *w, const struct tfp_tensor *b,
                    unsigned in_len, unsigned in_ch, unsigned out_ch, unsigned k,
                    unsigned stride, float *y);
/* Applies an activation in place; softmax over all n values. */
void tfa_activate(float *y, size_t n, enum tfp_activation act);

#ifdef __cplusplus
}
#endif

#endif
