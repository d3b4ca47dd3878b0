/*
 * tinyfleet delta patch format: constants shared by the encoder (gateway) and the applier
 * (device). The byte layout is specified in protocol/delta/FORMAT.md; every multi-byte
 * field is little-endian. Changing anything here changes the wire format: bump
 * TFP_DELTA_VERSION.
 */
#ifndef TINYFLEET_DELTA_FORMAT_H
#define TINYFLEET_DELTA_FORMAT_H

#define TFP_DELTA_VERSION 1

#define TFP_DELTA_HDR_LEN 32      /* patch header */
#define TFP_DELTA_BLK_HDR_LEN 16  /* header in front of every block */
#define TFP_DELTA_CKPT_LEN 40     /* checkpoint blob */

/* Informational mode byte in the header; the applier treats all modes alike. */
#define TFP_DELTA_MODE_FULL 0     /* no old image: the new image as inserts only */
#define TFP_DELTA_MODE_AGNOSTIC 1 /* byte alignment with suffix arrays */
#define TFP_DELTA_MODE_TENSOR 2   /* tensor-by-tensor alignment over a tensor table */

/* Block flags: bits 0-1 select the lane stride of the byte models (1, 2 or 4). */
#define TFP_DELTA_BLK_STRIDE_MASK 0x03u

/*
 * Entropy coder geometry (an LZMA-style binary adaptive range coder). Probabilities are
 * 11-bit, adapted by 1/32 per coded bit. These sizes fix the applier's model RAM:
 * diff bytes 4 lanes x 2 contexts x 256, literal bytes 4 lanes x 256, integers 4 x 64,
 * operation kinds 4 previous kinds x 4.
 */
#define TFP_DELTA_PROB_BITS 11
#define TFP_DELTA_PROB_ONE (1u << TFP_DELTA_PROB_BITS)
#define TFP_DELTA_MOVE_BITS 5
#define TFP_DELTA_LANES 4
#define TFP_DELTA_DIFF_CTX 2
#define TFP_DELTA_INT_TREE 64     /* 6-bit tree coding the bit length 0..32 */

/* Operation kinds; each kind's length (or seek distance) has its own integer model. */
#define TFP_DELTA_OP_COPY 0       /* old bytes unchanged */
#define TFP_DELTA_OP_ADD 1        /* old bytes plus coded differences */
#define TFP_DELTA_OP_INSERT 2     /* coded literal bytes */
#define TFP_DELTA_OP_SEEK 3       /* move the old position (zigzag-coded signed distance) */
#define TFP_DELTA_OP_KINDS 4

#endif
