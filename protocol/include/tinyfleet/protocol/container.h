/*
 * The tinyfleet model container (format documented in protocol/CONTAINER.md).
 *
 * A container is one little-endian byte image: a fixed 128-byte header, a tensor table, a
 * layer table and the tensor data. It is read in place: tfp_container_open() validates the
 * whole image once (every offset, length, dtype, shape, quantisation parameter and the
 * layer chain) and afterwards every accessor returns pointers into the caller's buffer, so
 * weights are never copied. Nothing here allocates; stack use is a few hundred bytes.
 *
 * Ownership and lifetime: struct tfp_container and every struct tfp_tensor/tfp_layer it
 * fills borrow the image buffer passed to tfp_container_open(); they stay valid as long
 * as that buffer is unchanged (a memory-mapped flash slot, say).
 *
 * Threads: no global state; a container may be read from several threads at once.
 *
 * Errors: TFP_ERR_ARG for NULL arguments or an index out of range, otherwise the
 * TFP_ERR_CONTAINER_* codes of error.h (range -60..-79), each naming what was refused.
 *
 * Values are read with memcpy and assume a little-endian host (checked at compile time),
 * which is every MCU and host tinyfleet targets.
 */
#ifndef TINYFLEET_PROTOCOL_CONTAINER_H
#define TINYFLEET_PROTOCOL_CONTAINER_H

#include <stddef.h>
#include <stdint.h>

#include "tinyfleet/protocol/common.h"
#include "tinyfleet/protocol/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TFP_CONTAINER_MAGIC "TFMC"
#define TFP_CONTAINER_VERSION 1          /* the format version this code reads and writes */
#define TFP_CONTAINER_HEADER_SIZE 128
#define TFP_CONTAINER_TENSOR_REC 48      /* bytes per tensor table record */
#define TFP_CONTAINER_LAYER_REC 32       /* bytes per layer table record */
#define TFP_CONTAINER_ALIGN 4            /* tables and tensor data start at multiples of 4 */
#define TFP_CONTAINER_MAX_TENSORS 64
#define TFP_CONTAINER_MAX_LAYERS 16
#define TFP_CONTAINER_MAX_RANK 4
#define TFP_CONTAINER_MAX_FANIN 32768    /* inputs per output of an int8 layer (int32 sums) */
#define TFP_CONTAINER_MAX_ARENA 0x10000000u /* 256 MiB: larger arenas are refused */
#define TFP_CONTAINER_NAME_LEN 32        /* model name field, NUL-padded (TFP_MODEL_NAME_MAX) */
#define TFP_CONTAINER_VER_LEN 24         /* model version field (TFP_VERSION_MAX) */
#define TFP_CONTAINER_TNAME_LEN 16       /* tensor name field */
#define TFP_CONTAINER_NONE 0xFFFFu       /* "no tensor"/"no layer" in 16-bit index fields */

enum tfp_dtype {
	TFP_DTYPE_INT8 = 1,
	TFP_DTYPE_FLOAT32 = 2,
	TFP_DTYPE_INT32 = 3,
};

/* What a tensor holds. Kinds other than WEIGHT/BIAS/QSCALE/QZERO/OTHER appear at most once. */
enum tfp_tensor_kind {
	TFP_KIND_WEIGHT = 1,      /* a layer's weights */
	TFP_KIND_BIAS = 2,        /* a layer's bias, float32 [out] */
	TFP_KIND_QSCALE = 3,      /* quantisation scales, float32 [1] or [channels] */
	TFP_KIND_QZERO = 4,       /* quantisation zero points, int32, same count as scales */
	TFP_KIND_FEAT_MEAN = 5,   /* training mean per input feature, float32 [features] */
	TFP_KIND_FEAT_VAR = 6,    /* training variance per input feature, float32 [features] */
	TFP_KIND_PSI_EDGES = 7,   /* PSI bin edges, float32 [features, bins-1], ascending */
	TFP_KIND_PSI_FRAC = 8,    /* training fraction per bin, float32 [features, bins] */
	TFP_KIND_TEST_IN = 9,     /* self-test inputs, float32 [vectors, features] */
	TFP_KIND_TEST_OUT = 10,   /* expected outputs, float32 [vectors, outputs] */
	TFP_KIND_OTHER = 11,      /* opaque to the runtime (ignored, but bounds-checked) */
};

enum tfp_layer_op {
	TFP_OP_DENSE = 1,         /* [1, in] -> [1, out]; weights [out, in] */
	TFP_OP_CONV1D = 2,        /* [len, in_ch] -> [out_len, out_ch]; weights [out_ch, k, in_ch] */
	TFP_OP_MAXPOOL1D = 3,     /* [len, ch] -> [out_len, ch] */
	TFP_OP_AVGPOOL1D = 4,
	TFP_OP_FLATTEN = 5,       /* [len, ch] -> [1, len*ch] (row-major, no data movement) */
};

enum tfp_activation {
	TFP_ACT_NONE = 0,
	TFP_ACT_RELU = 1,
	TFP_ACT_SIGMOID = 2,
	TFP_ACT_TANH = 3,
	TFP_ACT_SOFTMAX = 4,      /* over the channels of a [1, n] output only */
};

/* What the model's output means; TinyOL chooses its loss from it. */
enum tfp_task {
	TFP_TASK_CLASSIFY = 0,    /* softmax probabilities, label = class index */
	TFP_TASK_REGRESS = 1,     /* linear outputs, label = target values */
	TFP_TASK_ANOMALY = 2,     /* autoencoder: output reconstructs the (standardised) input */
};

/* Decoded header. Strings are NUL-terminated copies. */
struct tfp_container_info {
	unsigned format_version;
	uint32_t total_size;
	char name[TFP_CONTAINER_NAME_LEN + 1];
	char version[TFP_CONTAINER_VER_LEN + 1];
	uint32_t arena_bytes;     /* scratch arena the runtime needs (see tfp_container_arena_need) */
	uint32_t flash_bytes;     /* flash the model needs on the device (>= total_size) */
	enum tfp_task task;
	unsigned tensor_count, layer_count;
	unsigned update_layer;    /* index of the trainable layer, or TFP_CONTAINER_NONE */
	unsigned in_len, in_ch;   /* model input [len, ch] */
	unsigned out_len, out_ch; /* model output [len, ch] */
	float test_tolerance;     /* max |output - expected| for the self-test */
};

/* A validated container image; fields are private to container.c. */
struct tfp_container {
	const uint8_t *base;
	size_t len;
	struct tfp_container_info info;
	uint32_t tensor_table, layer_table;
};

/* One tensor, borrowed from the image. */
struct tfp_tensor {
	char name[TFP_CONTAINER_TNAME_LEN + 1];
	enum tfp_dtype dtype;
	enum tfp_tensor_kind kind;
	unsigned rank;
	uint32_t shape[TFP_CONTAINER_MAX_RANK];  /* unused dimensions are 1 */
	uint32_t count;                          /* elements = product of the shape */
	uint32_t offset, length;                 /* byte range inside the image */
	const uint8_t *data;                     /* base + offset */
	unsigned scale_tensor, zero_tensor;      /* indices or TFP_CONTAINER_NONE */
	uint32_t qcount;                         /* 0 (not quantised), 1 or shape[0] */
	const uint8_t *scales;                   /* float32[qcount], or NULL */
	const uint8_t *zeros;                    /* int32[qcount], or NULL (all zero) */
};

/* One layer. Activations are [len, ch] row-major; dense layers use len = 1. */
struct tfp_layer {
	enum tfp_layer_op op;
	enum tfp_activation act;
	unsigned flags;                          /* TFP_LAYER_* */
	unsigned weight, bias;                   /* tensor indices or TFP_CONTAINER_NONE */
	unsigned in_len, in_ch, out_len, out_ch;
	unsigned kernel, stride;                 /* conv1d and pooling */
	float in_scale;                          /* static int8 input quantisation; 0 = dynamic */
	int32_t in_zero;
};

#define TFP_LAYER_TRAINABLE 0x01u            /* the update layer (exactly one may be) */

/* Validates the image buf[0..len) and fills c. Returns 0 or an error; on error c is
 * zeroed. Checks: magic, version (TFP_ERR_CONTAINER_VERSION), header size and reserved
 * fields, total size == len, tables and every tensor inside the image, aligned and not
 * overlapping one another or the header/tables, dtypes/kinds known, element counts equal to
 * lengths, quantisation parameters finite and positive, the layer chain from the input
 * shape to the output shape, the update layer, the stats and self-test tensors' shapes,
 * and arena_bytes >= tfp_container_arena_need(). */
int tfp_container_open(struct tfp_container *c, const uint8_t *buf, size_t len);

/* Fills *t with tensor idx (0 <= idx < tensor_count). Returns 0 or TFP_ERR_ARG. */
int tfp_container_tensor(const struct tfp_container *c, unsigned idx, struct tfp_tensor *t);

/* Fills *l with layer idx. Returns 0 or TFP_ERR_ARG. */
int tfp_container_layer(const struct tfp_container *c, unsigned idx, struct tfp_layer *l);

/* Iterator over the tensor table (MCUboot style): start with *pos = 0; returns 0 and fills
 * *t for the next tensor, 1 at the end, or a negative error. */
int tfp_container_next_tensor(const struct tfp_container *c, unsigned *pos,
                              struct tfp_tensor *t);

/* Finds the (single) tensor of a kind such as TFP_KIND_FEAT_MEAN. Returns 0, or 1 if the
 * container has none (optional sections), or TFP_ERR_ARG. */
int tfp_container_find(const struct tfp_container *c, enum tfp_tensor_kind kind,
                       struct tfp_tensor *t);

/* Scratch arena in bytes that the reference runtime needs for this layer chain: two
 * float32 activation buffers of the largest activation plus one int8 buffer of the largest
 * quantised-layer input, rounded up to TFP_CONTAINER_ALIGN. The packer computes the same. */
uint32_t tfp_container_arena_need(const struct tfp_container *c);

/* Element readers (memcpy based, any alignment). No bounds check: use i < t->count. */
float tfp_tensor_f32(const struct tfp_tensor *t, uint32_t i);
int32_t tfp_tensor_i32(const struct tfp_tensor *t, uint32_t i);
/* Scale and zero point of channel ch (per-tensor tensors ignore ch). */
float tfp_tensor_scale(const struct tfp_tensor *t, uint32_t ch);
int32_t tfp_tensor_zero(const struct tfp_tensor *t, uint32_t ch);

#ifdef __cplusplus
}
#endif

#endif
