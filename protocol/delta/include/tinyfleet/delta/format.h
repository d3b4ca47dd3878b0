/*
 * tinyfleet delta patch format: constants shared by the encoder (gateway) and the applier
 * (device). The byte layout is specified in protocol/delta/FORMAT.md; every multi-byte
 * field is little-endian. Changing anything here changes the wire format: bump
 * TFP_DELTA_VERSION.
 */
#ifndef TINYFLEET_DELTA_FORMAT_H
#define TINYFLEET_DELTA_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define TFP_DELTA_VERSION 2       /* newest version written; adds TFP_DELTA_BLK_F32 */
#define TFP_DELTA_VERSION_MIN 1   /* oldest version the applier still accepts */
#define TFP_DELTA_CKPT_VERSION 1  /* checkpoint blob layout (unchanged by patch version 2) */

#define TFP_DELTA_HDR_LEN 32      /* patch header */
#define TFP_DELTA_BLK_HDR_LEN 16  /* header in front of every block */
#define TFP_DELTA_CKPT_LEN 40     /* checkpoint blob */

/* Informational mode byte in the header; the applier treats all modes alike. */
#define TFP_DELTA_MODE_FULL 0     /* no old image: the new image as inserts only */
#define TFP_DELTA_MODE_AGNOSTIC 1 /* byte alignment with suffix arrays */
#define TFP_DELTA_MODE_TENSOR 2   /* tensor-by-tensor alignment over a tensor table */

/* Block flags: bits 0-1 hold s, the byte models' lane stride is 1 << s (s <= 2). */
#define TFP_DELTA_BLK_STRIDE_MASK 0x03u
/*
 * Version 2: with s = 2, flag bit 2 codes add operations element by element as float32 /
 * int32 differences (see struct tfp_delta_fmodels) instead of byte planes. A version 1
 * patch never sets it; the encoder writes version 2 only when a block uses it.
 */
#define TFP_DELTA_BLK_F32 0x04u

/*
 * Entropy coder geometry (an LZMA-style binary adaptive range coder). Each model is a
 * uint16_t: a 12-bit probability of a 0 bit (clamped to [64, 4032]) and, in the top four
 * bits, how often it was used; the adaptation rate starts fast (1/4) and slows to 1/32 with
 * use, so a block's fresh models learn quickly (blocks reset them, see apply.h). These
 * sizes fix the applier's model RAM (struct tfp_delta_models below, 7,558 bytes).
 */
#define TFP_DELTA_PROB_BITS 12
#define TFP_DELTA_PROB_ONE (1u << TFP_DELTA_PROB_BITS)
#define TFP_DELTA_PROB_MASK (TFP_DELTA_PROB_ONE - 1)
#define TFP_DELTA_PROB_MIN 64u    /* keeps range >= 2^18 after a bit: one byte renormalises */
#define TFP_DELTA_PROB_MAX (TFP_DELTA_PROB_ONE - TFP_DELTA_PROB_MIN)
#define TFP_DELTA_LANES 4
#define TFP_DELTA_DIFF_CTX 2
#define TFP_DELTA_INT_TREE 64     /* 6-bit tree coding the bit length 0..32 */

/* Operation kinds; each kind's length (or seek distance) has its own integer model. */
#define TFP_DELTA_OP_COPY 0       /* old bytes unchanged */
#define TFP_DELTA_OP_ADD 1        /* old bytes plus coded differences */
#define TFP_DELTA_OP_INSERT 2     /* coded literal bytes */
#define TFP_DELTA_OP_SEEK 3       /* move the old position (zigzag-coded signed distance) */
#define TFP_DELTA_OP_KINDS 4

/* Counters saturate here; the zero-run contexts bucket them as 0,1,2,3-4,5-8,9-16,17-32,33+. */
#define TFP_DELTA_RUN_MAX 255
#define TFP_DELTA_RUN_CTX 8
/* Magnitude of the old byte read as int8 (|v| < 16, < 48, < 96, else): large weights change
 * more often when a tensor's quantization scale moves. */
#define TFP_DELTA_MAG_CTX 4

/* Previous symbol of a lane inside add operations: the context of the next one. */
#define TFP_DELTA_SYM_SAME 0      /* difference zero (byte unchanged) */
#define TFP_DELTA_SYM_ZERO 1      /* new byte zero (e.g. a pruned weight) */
#define TFP_DELTA_SYM_OTHER 2     /* any other difference */

/*
 * Element coding of add operations in TFP_DELTA_BLK_F32 blocks. A 4-byte element at an
 * output offset that is a multiple of 4, with at least 4 bytes left in its add operation,
 * is coded as the 32-bit difference s = new - old (mod 2^32, both little-endian): a symbol
 * 0 (s = 0), 1..32 (bit length L of |s|), 33 (the new element is 0: a pruned weight) or 34
 * (it is 0x80000000, float32 -0.0, what a masked weight becomes under some training loops),
 * with a 6-bit tree in context tfp_delta_f32_ctx(); for L >= 1 then L - 1 bits of |s|
 * below its leading one and the sign of s as direct bits. Any other add byte (an element
 * cut by an operation boundary) is its byte difference as 8 direct bits. A fine-tune moves
 * a weight by an absolute amount, so L follows from the previous element's magnitude and
 * this element's exponent; the low bits are noise and cost what they are.
 */
#define TFP_DELTA_F32_CTX 32
#define TFP_DELTA_F32_TREE 64
#define TFP_DELTA_F32_SAME 0
#define TFP_DELTA_F32_ZERO 33
#define TFP_DELTA_F32_NZERO 34

struct tfp_delta_fmodels {
	uint16_t sym[TFP_DELTA_F32_CTX][TFP_DELTA_F32_TREE];
};

/*
 * The adaptive models of one block (reset at every block start). An add byte is coded as
 * a flag "difference is zero" (context: run of such bytes in its lane, magnitude of the
 * old byte, class of the previous add byte), else a flag "new
 * byte is zero" (context: previous symbol type of the lane), else the difference with an
 * 8-bit tree (context: lane, previous symbol was OTHER). A literal is a flag "byte is
 * zero" (context: run of zero literals in its lane), else the byte with an 8-bit tree.
 * All probabilities come first so a reset is one fill.
 */
struct tfp_delta_models {
	/* A block codes its add bytes either by byte planes or by elements, never both. */
	union {
		uint16_t diff[TFP_DELTA_LANES][TFP_DELTA_DIFF_CTX][256];
		struct tfp_delta_fmodels f;
	} u;
	uint16_t lit[TFP_DELTA_LANES][256];
	uint16_t same[TFP_DELTA_LANES][TFP_DELTA_RUN_CTX][TFP_DELTA_MAG_CTX][3];
	uint16_t zero[TFP_DELTA_LANES][3];
	uint16_t lzero[TFP_DELTA_LANES][TFP_DELTA_RUN_CTX];
	uint16_t num[TFP_DELTA_OP_KINDS][TFP_DELTA_INT_TREE];
	uint16_t kind[TFP_DELTA_OP_KINDS][4];
	uint8_t run[TFP_DELTA_LANES];     /* add bytes with zero difference in a row */
	uint8_t last[TFP_DELTA_LANES];    /* TFP_DELTA_SYM_* of the previous add byte */
	uint8_t lrun[TFP_DELTA_LANES];    /* zero literals in a row */
	uint8_t prev_kind;                /* previous operation kind (SEEK at block start) */
	uint8_t prev_cls;                 /* class of the previous add byte, any lane */
	uint16_t fmag;                    /* F32 blocks: recent L + exponent, quarter units,
	                                     0 after a symbol other than 1..32 */
};

_Static_assert(sizeof(struct tfp_delta_fmodels) <= TFP_DELTA_LANES * TFP_DELTA_DIFF_CTX * 256 *
               sizeof(uint16_t), "element models share the byte-plane models' memory");

static inline void
tfp_delta_models_reset(struct tfp_delta_models *m)
{
	uint16_t *p = &m->u.diff[0][0][0];
	size_t n = offsetof(struct tfp_delta_models, run) / sizeof(uint16_t);

	for (size_t i = 0; i < n; i++)
		p[i] = TFP_DELTA_PROB_ONE / 2;
	for (size_t i = 0; i < TFP_DELTA_LANES; i++)
		m->run[i] = m->last[i] = m->lrun[i] = 0;
	m->prev_kind = TFP_DELTA_OP_SEEK;
	m->prev_cls = 0;
	m->fmag = 0;
}

static inline unsigned
tfp_delta_run_ctx(unsigned r)
{
	if (r <= 2)
		return r;
	if (r <= 4)
		return 3;
	if (r <= 8)
		return 4;
	if (r <= 16)
		return 5;
	return r <= 32 ? 6 : 7;
}

/* Probability of a 0 bit, out of TFP_DELTA_PROB_ONE. */
static inline uint32_t
tfp_delta_prob(uint16_t m)
{
	return m & TFP_DELTA_PROB_MASK;
}

static inline void
tfp_delta_prob_update(uint16_t *m, unsigned bit)
{
	static const uint8_t shift[16] = { 2, 2, 3, 3, 3, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5 };
	unsigned n = *m >> TFP_DELTA_PROB_BITS;
	uint32_t p = *m & TFP_DELTA_PROB_MASK;

	if (bit == 0)
		p += (TFP_DELTA_PROB_ONE - p) >> shift[n];
	else
		p -= p >> shift[n];
	if (p < TFP_DELTA_PROB_MIN)
		p = TFP_DELTA_PROB_MIN;
	if (p > TFP_DELTA_PROB_MAX)
		p = TFP_DELTA_PROB_MAX;
	if (n < 15)
		n++;
	*m = (uint16_t)(n << TFP_DELTA_PROB_BITS | p);
}

static inline unsigned
tfp_delta_mag_ctx(uint8_t old)
{
	unsigned v = old < 128 ? old : 256u - old;

	if (v < 16)
		return 0;
	if (v < 48)
		return 1;
	return v < 96 ? 2 : 3;
}

/* Class of an add byte for the next byte's context: 0 unchanged, 1 small change or new
 * byte zero, 2 large change. For float32 lanes this tells the exponent bytes how far the
 * mantissa moved; for int8 whether the neighbour changed. */
static inline uint8_t
tfp_delta_cls(uint8_t d, uint8_t new_byte)
{
	unsigned v = d < 128 ? d : 256u - d;

	if (d == 0)
		return 0;
	return new_byte == 0 || v < 16 ? 1 : 2;
}

/*
 * In 4-lane blocks the magnitude context is the binary exponent of the old float32 element
 * the byte belongs to (its bytes 2 and 3): a gradient step moves a weight by an absolute
 * amount, so the exponent tells how many low bytes the change spans.
 */
static inline unsigned
tfp_delta_fexp_ctx(uint8_t b2, uint8_t b3)
{
	unsigned e = (unsigned)(b3 & 0x7F) << 1 | (unsigned)(b2 >> 7);

	if (e < 120)
		return 0;
	if (e < 122)
		return 1;
	return e < 124 ? 2 : 3;
}

/*
 * Context of an element symbol. fmag is the recent magnitude of changes in this block: a
 * running average (weight 3/4 old, 1/4 new, in quarter units) of L + exponent over the
 * elements with symbol 1..32 since the last element with another symbol, 0 after one (or at
 * block start). The context is the bit length that magnitude predicts for this element (it
 * minus this old element's exponent, halved, 0..14; 15 when fmag is 0) times whether this
 * old element's exponent is at least 121 (|w| >= 2^-6).
 */
static inline unsigned
tfp_delta_f32_ctx(uint16_t fmag, uint32_t old_elem)
{
	unsigned e = (old_elem >> 23) & 0xFF, p;

	if (fmag == 0) {
		p = 15;
	} else {
		int d = ((int)fmag + 2) / 4 - (int)e;

		p = d < 0 ? 0 : d > 29 ? 14 : (unsigned)d / 2;
	}
	return p * 2 + (e >= 121);
}

/* The element context state after an element with symbol sym over old element old_elem. */
static inline uint16_t
tfp_delta_f32_next(uint16_t fmag, unsigned sym, uint32_t old_elem)
{
	unsigned v;

	if (sym == TFP_DELTA_F32_SAME || sym > 32)
		return 0;
	v = sym + ((old_elem >> 23) & 0xFF);
	return (uint16_t)(fmag == 0 ? 4 * v : (3 * fmag + 4 * v + 2) / 4);
}

static inline uint8_t
tfp_delta_run_next(uint8_t r)
{
	return r < TFP_DELTA_RUN_MAX ? (uint8_t)(r + 1) : r;
}

#endif
