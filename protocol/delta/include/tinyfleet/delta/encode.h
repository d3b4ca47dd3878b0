/*
 * Delta encoder (gateway side). Allocates freely; never used on a device.
 *
 * tfp_delta_encode() builds one patch in the format of FORMAT.md from an old and a new
 * image, in one of three modes:
 *   TFP_DELTA_MODE_FULL      the new image alone (old size 0 in the header): any device
 *                            can apply it whatever its old slot holds;
 *   TFP_DELTA_MODE_AGNOSTIC  any pair of files: new is aligned to old with a suffix array
 *                            (libdivsufsort) plus diagonal tracking that follows regions
 *                            whose bytes all changed a little (where exact-match seeds, and
 *                            so bsdiff, fail); aligned bytes are coded as differences;
 *   TFP_DELTA_MODE_TENSOR    model images with a tensor table: each new tensor is aligned
 *                            with the old tensor of the same name, element by element (rows
 *                            of a widened tensor keep their old counterparts), everything
 *                            outside tensors is aligned as in the agnostic mode.
 * TFP_DELTA_ENC_AUTO tries every mode that applies and keeps the smallest patch, so the
 * gateway ships a delta or the full image per (from, to), whichever is smaller.
 *
 * Threads: no global state; concurrent calls on different data are fine.
 * Ownership: *patch is allocated with malloc; release it with free().
 */
#ifndef TINYFLEET_DELTA_ENCODE_H
#define TINYFLEET_DELTA_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "tinyfleet/delta/format.h"
#include "tinyfleet/protocol/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TFP_DELTA_ENC_AUTO (-1)
#define TFP_DELTA_DEFAULT_BLOCK 32768u
#define TFP_DELTA_TENSOR_NAME_MAX 32
#define TFP_DELTA_TENSOR_DIMS 4

/* One tensor of a model image: where its bytes are and how they are shaped. */
struct tfp_delta_tensor {
	char name[TFP_DELTA_TENSOR_NAME_MAX + 1];
	uint32_t offset;          /* byte offset in the image */
	uint32_t nbytes;          /* elem_size * product of dims */
	uint8_t elem_size;        /* 1 (int8), 2, 4 (float32 / int32) */
	uint8_t ndim;             /* 1..TFP_DELTA_TENSOR_DIMS, outermost first */
	uint32_t dims[TFP_DELTA_TENSOR_DIMS];
};

struct tfp_delta_tensor_map {
	const struct tfp_delta_tensor *t;
	size_t count;
};

struct tfp_delta_enc_opts {
	int mode;                 /* TFP_DELTA_MODE_* or TFP_DELTA_ENC_AUTO */
	uint32_t block_out;       /* output bytes per block (resume granularity); 0 = default */
	/* Tensor tables of both images; required for TFP_DELTA_MODE_TENSOR, optional in AUTO. */
	const struct tfp_delta_tensor_map *old_map, *new_map;
};

/*
 * Encode. Images must be smaller than 2 GiB. On success *patch (malloc'd) and *patch_len
 * are set and *mode_used (may be NULL) tells which mode produced it.
 * Errors: TFP_ERR_ARG, TFP_ERR_DELTA_TENSOR (tensor mode without or with an inconsistent
 * table), TFP_ERR_INTERNAL (out of memory, suffix sort failure).
 */
int tfp_delta_encode(const uint8_t *old_img, size_t old_len, const uint8_t *new_img,
                     size_t new_len, const struct tfp_delta_enc_opts *opts, uint8_t **patch,
                     size_t *patch_len, int *mode_used);

/*
 * Where the bytes of a patch go, for operators and the benchmark: the information content
 * (sum of -log2 p over the coded bits, in bytes) of each part of the coded stream, and how
 * many blocks used each coding. The parts add up to the patch size up to the coder's flush
 * bytes (`flush`, 5 per block, plus rounding).
 */
enum {
	TFP_DELTA_ST_HEADERS,     /* patch header and block headers (exact bytes) */
	TFP_DELTA_ST_OPS,         /* operation kinds, lengths and seek distances */
	TFP_DELTA_ST_ADD,         /* add bytes coded by byte planes */
	TFP_DELTA_ST_ADD_F32_SYM, /* F32 element symbols (bit length / same / zero) */
	TFP_DELTA_ST_ADD_F32_RAW, /* F32 element bits below the leading one, signs, cut bytes */
	TFP_DELTA_ST_INSERT,      /* literal bytes */
	TFP_DELTA_ST_FLUSH,       /* the rest: coder flush and rounding */
	TFP_DELTA_ST_PARTS
};

struct tfp_delta_enc_stats {
	double bytes[TFP_DELTA_ST_PARTS];
	uint64_t add_bytes, add_f32_bytes, insert_bytes, copy_bytes;   /* new-image bytes */
	uint32_t blocks_stride1, blocks_stride4, blocks_f32;
};

/*
 * tfp_delta_encode() that also fills *stats (may be NULL) for the patch it returns.
 */
int tfp_delta_encode_stats(const uint8_t *old_img, size_t old_len, const uint8_t *new_img,
                           size_t new_len, const struct tfp_delta_enc_opts *opts,
                           uint8_t **patch, size_t *patch_len, int *mode_used,
                           struct tfp_delta_enc_stats *stats);

/* What a patch declares, checked for consistency (header CRC, block walk). */
struct tfp_delta_info {
	unsigned version, mode;
	uint32_t old_size, new_size, block_out, n_blocks, old_crc;
	uint64_t coded_bytes;     /* sum of block payloads */
};

/* Errors: TFP_ERR_DELTA_MAGIC, _VERSION, TFP_ERR_DELTA, TFP_ERR_DELTA_TRUNCATED,
 * TFP_ERR_DELTA_TRAILING. */
int tfp_delta_info(const uint8_t *patch, size_t len, struct tfp_delta_info *info);

/*
 * Tensor table of a tinyfleet model container (protocol/CONTAINER.md), read with the
 * protocol's container reader (the image is fully validated first). *out is malloc'd;
 * free() it. Errors: the reader's TFP_ERR_CONTAINER_* codes, TFP_ERR_INTERNAL.
 */
int tfp_delta_tensors_from_container(const uint8_t *img, size_t len,
                                     struct tfp_delta_tensor **out, size_t *count);

/*
 * Tensor table of the fallback raw layout "TFTT" (FORMAT.md), for models the container
 * cannot express (e.g. 2-D convolutions, all-float32 weights) in the benchmark corpus. *out is malloc'd; free() it.
 * Errors: TFP_ERR_DELTA_TENSOR.
 */
int tfp_delta_tensors_from_raw(const uint8_t *img, size_t len, struct tfp_delta_tensor **out,
                               size_t *count);

#ifdef __cplusplus
}
#endif

#endif
