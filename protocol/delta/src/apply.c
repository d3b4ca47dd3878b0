/*
 * Streaming delta applier. See tinyfleet/delta/apply.h for the contract and FORMAT.md for
 * the byte layout.
 *
 * Push-style input meets a pull-style range decoder here: compressed bytes of the current
 * block are staged in a[].in, and one decoding step (one integer or one byte symbol) runs
 * only when the stage holds at least STEP_MAX bytes or the block's last byte is staged.
 * A step never needs more than STEP_MAX bytes (one byte per modelled bit at most, see
 * below), so a step never has to be suspended halfway and no chunk size is special.
 */
#include <string.h>

#include "tinyfleet/delta/apply.h"

/*
 * Bytes one step may pull: an integer is 6 modelled bits plus up to 31 direct bits (at most
 * 1 + 31/8 normalisations), a byte symbol 8 modelled bits, an element 6 modelled bits plus
 * up to 32 direct bits (at most 6 + 5), the coder start 5 bytes. With
 * 12-bit probabilities clamped to [64, 4032] a bit leaves range >= 2^18, so one
 * normalisation byte per bit suffices.
 */
#define STEP_MAX 16
#define TOP (1u << 24)

_Static_assert(TFP_DELTA_IN_BUF >= 2 * STEP_MAX, "input stage too small");
_Static_assert(TFP_DELTA_CKPT_LEN == 40, "checkpoint layout");

enum { ST_HDR, ST_BHDR, ST_BLOCK, ST_SKIP, ST_DONE, ST_FAILED };
enum { PH_INIT, PH_KIND, PH_LEN, PH_COPY, PH_ADD, PH_INS, PH_END };

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

uint32_t
tfp_delta_crc32(uint32_t crc, const uint8_t *p, size_t len)
{
	/* Nibble table: 64 bytes of flash instead of 1 KB. */
	static const uint32_t t[16] = {
		0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4,
		0x4db26158, 0x5005713c, 0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
		0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
	};

	crc = ~crc;
	while (len-- > 0) {
		crc ^= *p++;
		crc = (crc >> 4) ^ t[crc & 15];
		crc = (crc >> 4) ^ t[crc & 15];
	}
	return ~crc;
}

static int
fail(struct tfp_delta_apply *a, int err)
{
	a->err = err;
	a->state = ST_FAILED;
	return err;
}

int
tfp_delta_apply_init(struct tfp_delta_apply *a, uint32_t old_size,
                     tfp_delta_read_fn read_old, tfp_delta_write_fn write_new, void *user)
{
	if (a == NULL || read_old == NULL || write_new == NULL)
		return TFP_ERR_ARG;
	memset(a, 0, sizeof(*a));
	a->read_old = read_old;
	a->write_new = write_new;
	a->user = user;
	a->old_size = old_size;
	a->state = ST_HDR;
	return 0;
}

/* ---- range decoder ------------------------------------------------------------------ */

static uint8_t
rc_byte(struct tfp_delta_apply *a)
{
	if (a->in_pos >= a->in_len) {
		/* Only reachable at the end of a block whose coded bytes ran out: corrupt. */
		a->rc_overrun = 1;
		return 0;
	}
	return a->in[a->in_pos++];
}

static unsigned
rc_bit(struct tfp_delta_apply *a, uint16_t *p)
{
	uint32_t bound;
	unsigned bit;

	if (a->range < TOP) {
		a->range <<= 8;
		a->code = (a->code << 8) | rc_byte(a);
	}
	bound = (a->range >> TFP_DELTA_PROB_BITS) * tfp_delta_prob(*p);
	if (a->code < bound) {
		a->range = bound;
		bit = 0;
	} else {
		a->range -= bound;
		a->code -= bound;
		bit = 1;
	}
	tfp_delta_prob_update(p, bit);
	return bit;
}

static uint32_t
rc_direct(struct tfp_delta_apply *a, unsigned n)
{
	uint32_t v = 0;

	while (n-- > 0) {
		if (a->range < TOP) {
			a->range <<= 8;
			a->code = (a->code << 8) | rc_byte(a);
		}
		a->range >>= 1;
		if (a->code >= a->range) {
			a->code -= a->range;
			v = (v << 1) | 1;
		} else {
			v <<= 1;
		}
	}
	return v;
}

static unsigned
rc_tree8(struct tfp_delta_apply *a, uint16_t *probs)
{
	unsigned m = 1;

	while (m < 256)
		m = (m << 1) | rc_bit(a, &probs[m]);
	return m - 256;
}

static uint32_t
rc_int(struct tfp_delta_apply *a, unsigned kind)
{
	uint16_t *probs = a->m.num[kind];
	unsigned m = 1, nbits;

	while (m < TFP_DELTA_INT_TREE)
		m = (m << 1) | rc_bit(a, &probs[m]);
	nbits = m - TFP_DELTA_INT_TREE;
	if (nbits == 0)
		return 0;
	if (nbits > 32) {
		a->rc_overrun = 2;      /* impossible value: malformed */
		return 0;
	}
	return (1u << (nbits - 1)) | rc_direct(a, nbits - 1);
}

/* ---- output and old image ----------------------------------------------------------- */

static int
flush_out(struct tfp_delta_apply *a)
{
	uint32_t off = a->out_off - a->out_len;

	if (a->out_len == 0)
		return 0;
	if (a->write_new(a->user, off, a->out, a->out_len) != 0)
		return TFP_ERR_DELTA_IO;
	a->out_len = 0;
	return 0;
}

static int
put_byte(struct tfp_delta_apply *a, uint8_t b)
{
	int rc;

	a->blk_crc = tfp_delta_crc32(a->blk_crc, &b, 1);
	a->out[a->out_len++] = b;
	a->out_off++;
	a->blk_out_left--;
	if (a->out_len == TFP_DELTA_OUT_BUF && (rc = flush_out(a)) != 0)
		return rc;
	return 0;
}

static int
old_byte(struct tfp_delta_apply *a, uint32_t pos, uint8_t *b)
{
	uint32_t len;

	if (pos < a->old_off || pos - a->old_off >= a->old_len) {
		len = a->old_size - pos;   /* pos < old_size checked by the caller */
		if (len > TFP_DELTA_OLD_BUF)
			len = TFP_DELTA_OLD_BUF;
		if (a->read_old(a->user, pos, a->old, len) != 0)
			return TFP_ERR_DELTA_IO;
		a->old_off = pos;
		a->old_len = (uint16_t)len;
	}
	*b = a->old[pos - a->old_off];
	return 0;
}

/* ---- one decoding step -------------------------------------------------------------- */

/*
 * Grammar of a block (FORMAT.md): a sequence of operations, each a kind (2-bit tree in the
 * context of the previous kind) and a length or seek distance, until the block's output is
 * complete. Lengths are >= 1 and two seeks never follow each other, so every decoded
 * operation pair produces output and a corrupt stream cannot spin.
 */
/* Exponent context of the old float32 element under old_pos (4-lane blocks only). */
static int
mag_ctx(struct tfp_delta_apply *a, uint32_t lane, unsigned *mag)
{
	uint8_t b2, b3;
	int rc;

	*mag = 0;
	if (a->stride_mask != 3 || a->old_pos < lane || a->old_size - (a->old_pos - lane) < 4)
		return 0;
	if ((rc = old_byte(a, a->old_pos - lane + 2, &b2)) != 0 ||
	    (rc = old_byte(a, a->old_pos - lane + 3, &b3)) != 0)
		return rc;
	*mag = tfp_delta_fexp_ctx(b2, b3);
	return 0;
}

/*
 * One step of an add operation in an F32 block: a whole element when one starts here and
 * the operation covers it, else one byte difference as 8 direct bits (FORMAT.md).
 */
static int
add_f32(struct tfp_delta_apply *a)
{
	uint32_t o = 0, n, mag;
	unsigned m = 1, ctx;
	uint8_t ob;
	int rc;

	if ((a->out_off & 3) != 0 || a->op_left < 4) {
		if ((rc = old_byte(a, a->old_pos, &ob)) != 0)
			return rc;
		ob = (uint8_t)(ob + rc_direct(a, 8));
		a->old_pos++;
		a->op_left--;
		return put_byte(a, ob);
	}
	/* The operation's bounds check guarantees old_pos + 4 <= old_size. */
	for (int k = 3; k >= 0; k--) {
		if ((rc = old_byte(a, a->old_pos + (uint32_t)k, &ob)) != 0)
			return rc;
		o = o << 8 | ob;
	}
	ctx = tfp_delta_f32_ctx(a->m.fmag, o);
	while (m < TFP_DELTA_F32_TREE)
		m = (m << 1) | rc_bit(a, &a->m.u.f.sym[ctx][m]);
	m -= TFP_DELTA_F32_TREE;
	if (m == TFP_DELTA_F32_SAME) {
		n = o;
	} else if (m == TFP_DELTA_F32_ZERO || m == TFP_DELTA_F32_NZERO) {
		n = m == TFP_DELTA_F32_ZERO ? 0 : 0x80000000u;
	} else if (m < TFP_DELTA_F32_ZERO) {
		mag = (uint32_t)1 << (m - 1) | rc_direct(a, m - 1);
		n = rc_direct(a, 1) ? o - mag : o + mag;
	} else {
		a->rc_overrun = 2;      /* symbols 35..63 are never coded: malformed */
		return 0;
	}
	a->m.fmag = tfp_delta_f32_next(a->m.fmag, m, o);
	a->old_pos += 4;
	a->op_left -= 4;
	for (int k = 0; k < 4; k++)
		if ((rc = put_byte(a, (uint8_t)(n >> (8 * k)))) != 0)
			return rc;
	return 0;
}

static int
step(struct tfp_delta_apply *a)
{
	uint32_t v, lane;
	unsigned m, mag;
	uint8_t ob, d;
	int rc;

	switch (a->phase) {
	case PH_INIT:
		a->range = 0xFFFFFFFFu;
		if (rc_byte(a) != 0)
			return TFP_ERR_DELTA;
		a->code = 0;
		for (int i = 0; i < 4; i++)
			a->code = (a->code << 8) | rc_byte(a);
		a->phase = PH_KIND;
		return 0;
	case PH_KIND:
		/* The first operation of a block sees SEEK as previous kind: no seek may lead. */
		m = 1;
		m = (m << 1) | rc_bit(a, &a->m.kind[a->m.prev_kind][m]);
		m = (m << 1) | rc_bit(a, &a->m.kind[a->m.prev_kind][m]);
		if (m - 4 == TFP_DELTA_OP_SEEK && a->m.prev_kind == TFP_DELTA_OP_SEEK)
			return TFP_ERR_DELTA;
		a->kind = a->m.prev_kind = (uint8_t)(m - 4);
		a->phase = PH_LEN;
		return 0;
	case PH_LEN:
		v = rc_int(a, a->kind);
		if (a->kind == TFP_DELTA_OP_SEEK) {
			/* zigzag: 0, -1, 1, -2, ...; a zero seek is never produced */
			if (v == 0)
				return TFP_ERR_DELTA;
			if (v & 1) {
				v = (v >> 1) + 1;
				if (v > a->old_pos)
					return TFP_ERR_DELTA_BOUNDS;
				a->old_pos -= v;
			} else {
				v >>= 1;
				if (v > a->old_size - a->old_pos)
					return TFP_ERR_DELTA_BOUNDS;
				a->old_pos += v;
			}
			a->phase = PH_KIND;
			return 0;
		}
		if (v == 0)
			return TFP_ERR_DELTA;
		if (v > a->blk_out_left)
			return TFP_ERR_DELTA_BOUNDS;
		if (a->kind != TFP_DELTA_OP_INSERT && v > a->old_size - a->old_pos)
			return TFP_ERR_DELTA_BOUNDS;
		a->op_left = v;
		a->phase = a->kind == TFP_DELTA_OP_COPY ? PH_COPY :
		           a->kind == TFP_DELTA_OP_ADD ? PH_ADD : PH_INS;
		return 0;
	case PH_COPY:
		/* No coded input: copy up to a buffer's worth per step. */
		for (unsigned k = 0; k < TFP_DELTA_OUT_BUF && a->op_left > 0; k++) {
			if ((rc = old_byte(a, a->old_pos, &ob)) != 0)
				return rc;
			a->old_pos++;
			a->op_left--;
			if ((rc = put_byte(a, ob)) != 0)
				return rc;
		}
		break;
	case PH_ADD:
		if (a->f32) {
			if ((rc = add_f32(a)) != 0)
				return rc;
			break;
		}
		lane = a->out_off & a->stride_mask;
		if ((rc = mag_ctx(a, lane, &mag)) != 0)
			return rc;
		if ((rc = old_byte(a, a->old_pos, &ob)) != 0)
			return rc;
		if (a->stride_mask != 3)
			mag = tfp_delta_mag_ctx(ob);
		if (!rc_bit(a, &a->m.same[lane][tfp_delta_run_ctx(a->m.run[lane])][mag]
		                         [a->m.prev_cls])) {
			a->m.run[lane] = tfp_delta_run_next(a->m.run[lane]);
			a->m.last[lane] = TFP_DELTA_SYM_SAME;
			d = 0;
		} else {
			a->m.run[lane] = 0;
			if (rc_bit(a, &a->m.zero[lane][a->m.last[lane]])) {
				a->m.last[lane] = TFP_DELTA_SYM_ZERO;
				d = (uint8_t)(0u - ob);
			} else {
				d = (uint8_t)rc_tree8(a, a->m.u.diff[lane][a->stride_mask == 3 ?
				                                         mag >= 2 :
				                                         a->m.prev_cls == 2]);
				a->m.last[lane] = TFP_DELTA_SYM_OTHER;
			}
		}
		a->m.prev_cls = tfp_delta_cls(d, (uint8_t)(ob + d));
		a->old_pos++;
		a->op_left--;
		if ((rc = put_byte(a, (uint8_t)(ob + d))) != 0)
			return rc;
		break;
	case PH_INS:
		lane = a->out_off & a->stride_mask;
		a->op_left--;
		if (!rc_bit(a, &a->m.lzero[lane][tfp_delta_run_ctx(a->m.lrun[lane])])) {
			a->m.lrun[lane] = tfp_delta_run_next(a->m.lrun[lane]);
			ob = 0;
		} else {
			a->m.lrun[lane] = 0;
			ob = (uint8_t)rc_tree8(a, a->m.lit[lane]);
		}
		if ((rc = put_byte(a, ob)) != 0)
			return rc;
		break;
	default:
		return TFP_ERR_INTERNAL;
	}
	if (a->op_left == 0)
		a->phase = a->blk_out_left == 0 ? PH_END : PH_KIND;
	return 0;
}

/* ---- header parsing ----------------------------------------------------------------- */

static int
parse_header(struct tfp_delta_apply *a)
{
	const uint8_t *h = a->hdr;
	uint32_t old_size, new_size, block_out, n_blocks;

	if (memcmp(h, "TFDP", 4) != 0)
		return TFP_ERR_DELTA_MAGIC;
	if (h[4] < TFP_DELTA_VERSION_MIN || h[4] > TFP_DELTA_VERSION)
		return TFP_ERR_DELTA_VERSION;
	if (get32(h + 28) != tfp_delta_crc32(0, h, 28))
		return TFP_ERR_DELTA;
	if (h[5] > TFP_DELTA_MODE_TENSOR || h[6] != 0 || h[7] != 0)
		return TFP_ERR_DELTA;
	old_size = get32(h + 8);
	new_size = get32(h + 12);
	block_out = get32(h + 16);
	n_blocks = get32(h + 20);
	if (block_out == 0)
		return TFP_ERR_DELTA;
	if (n_blocks != new_size / block_out + (new_size % block_out != 0))
		return TFP_ERR_DELTA;
	if (old_size != 0 && old_size != a->old_size)
		return TFP_ERR_DELTA_OLD_SIZE;
	/* A full image (old size 0) never reads the old slot. */
	a->old_size = old_size;
	a->new_size = new_size;
	a->block_out = block_out;
	a->n_blocks = n_blocks;
	a->header_crc = get32(h + 28);
	return 0;
}

static int
parse_block_header(struct tfp_delta_apply *a)
{
	const uint8_t *h = a->hdr;
	uint32_t left = a->new_size - a->out_off;

	a->blk_comp_len = get32(h);
	a->blk_crc_want = get32(h + 4);
	a->old_pos = get32(h + 8);
	/* Flags: stride code 0..2, the F32 bit only with stride 4. */
	if ((h[12] & TFP_DELTA_BLK_STRIDE_MASK) > 2 ||
	    (h[12] & ~(TFP_DELTA_BLK_STRIDE_MASK | TFP_DELTA_BLK_F32)) != 0 ||
	    ((h[12] & TFP_DELTA_BLK_F32) && (h[12] & TFP_DELTA_BLK_STRIDE_MASK) != 2) ||
	    h[13] != 0 || h[14] != 0 || h[15] != 0)
		return TFP_ERR_DELTA;
	if (a->blk_comp_len < 5)
		return TFP_ERR_DELTA;
	if (a->old_pos > a->old_size)
		return TFP_ERR_DELTA_BOUNDS;
	a->stride_mask = (uint8_t)((1u << (h[12] & TFP_DELTA_BLK_STRIDE_MASK)) - 1);
	a->f32 = (h[12] & TFP_DELTA_BLK_F32) != 0;
	a->blk_out_left = left < a->block_out ? left : a->block_out;
	a->blk_comp_in = 0;
	a->blk_crc = 0;
	a->in_pos = a->in_len = 0;
	a->old_len = 0;
	a->rc_overrun = 0;
	a->phase = PH_INIT;
	tfp_delta_models_reset(&a->m);
	return 0;
}

/* Record a checkpoint at a block boundary; output is flushed first. */
static int
end_block(struct tfp_delta_apply *a)
{
	int rc;

	if ((rc = flush_out(a)) != 0)
		return rc;
	if (a->blk_crc != a->blk_crc_want)
		return TFP_ERR_DELTA_CORRUPT;
	a->block_idx++;
	a->ck_patch_off = a->patch_off;
	a->ck_out_off = a->out_off;
	a->ck_block_idx = a->block_idx;
	a->hdr_have = 0;
	a->state = a->block_idx == a->n_blocks ? ST_DONE : ST_BHDR;
	return 0;
}

/* Run decoding steps while the stage holds enough bytes. */
static int
run_block(struct tfp_delta_apply *a)
{
	int rc;

	for (;;) {
		int all_in = a->blk_comp_in == a->blk_comp_len;

		if (a->phase == PH_END)
			break;
		if (!all_in && a->in_len - a->in_pos < STEP_MAX)
			return 0;
		if ((rc = step(a)) != 0)
			return rc;
		if (a->rc_overrun)
			return TFP_ERR_DELTA;
	}
	/* Block complete: whatever coded bytes were not staged yet are skipped. */
	a->state = ST_SKIP;
	return 0;
}

int
tfp_delta_apply_feed(struct tfp_delta_apply *a, const uint8_t *chunk, size_t len)
{
	size_t n;
	int rc;

	if (a == NULL || (chunk == NULL && len > 0))
		return TFP_ERR_ARG;
	if (a->state == ST_FAILED)
		return a->err;
	for (;;) {
		switch (a->state) {
		case ST_HDR:
		case ST_BHDR: {
			uint32_t need = a->state == ST_HDR ? TFP_DELTA_HDR_LEN : TFP_DELTA_BLK_HDR_LEN;

			n = need - a->hdr_have;
			if (n > len)
				n = len;
			memcpy(a->hdr + a->hdr_have, chunk, n);
			a->hdr_have += (uint32_t)n;
			a->patch_off += (uint32_t)n;
			chunk += n;
			len -= n;
			if (a->hdr_have < need)
				return 0;
			a->hdr_have = 0;
			if (a->state == ST_HDR) {
				if ((rc = parse_header(a)) != 0)
					return fail(a, rc);
				a->state = a->n_blocks == 0 ? ST_DONE : ST_BHDR;
			} else {
				if ((rc = parse_block_header(a)) != 0)
					return fail(a, rc);
				a->state = ST_BLOCK;
			}
			break;
		}
		case ST_BLOCK:
			/* Compact the stage and top it up from the chunk. */
			if (a->in_pos > 0) {
				memmove(a->in, a->in + a->in_pos, (size_t)(a->in_len - a->in_pos));
				a->in_len = (uint16_t)(a->in_len - a->in_pos);
				a->in_pos = 0;
			}
			n = TFP_DELTA_IN_BUF - a->in_len;
			if (n > a->blk_comp_len - a->blk_comp_in)
				n = a->blk_comp_len - a->blk_comp_in;
			if (n > len)
				n = len;
			memcpy(a->in + a->in_len, chunk, n);
			a->in_len = (uint16_t)(a->in_len + n);
			a->blk_comp_in += (uint32_t)n;
			a->patch_off += (uint32_t)n;
			chunk += n;
			len -= n;
			if ((rc = run_block(a)) != 0)
				return fail(a, rc);
			/*
			 * Still in the block: with input left the stage is refilled on the next
			 * turn (compaction frees at least IN_BUF - STEP_MAX bytes), so every turn
			 * makes progress.
			 */
			if (a->state == ST_BLOCK && len == 0)
				return 0;
			break;
		case ST_SKIP:
			n = a->blk_comp_len - a->blk_comp_in;
			if (n > len)
				n = len;
			a->blk_comp_in += (uint32_t)n;
			a->patch_off += (uint32_t)n;
			chunk += n;
			len -= n;
			if (a->blk_comp_in < a->blk_comp_len)
				return 0;
			if ((rc = end_block(a)) != 0)
				return fail(a, rc);
			break;
		case ST_DONE:
			if (len > 0)
				return fail(a, TFP_ERR_DELTA_TRAILING);
			return TFP_DELTA_DONE;
		default:
			return fail(a, TFP_ERR_INTERNAL);
		}
	}
}

int
tfp_delta_apply_finish(const struct tfp_delta_apply *a)
{
	if (a == NULL)
		return TFP_ERR_ARG;
	if (a->state == ST_FAILED)
		return a->err;
	return a->state == ST_DONE ? 0 : TFP_ERR_DELTA_TRUNCATED;
}

/*
 * Checkpoint blob (40 bytes, little-endian):
 *   0 "TFDC"  4 version u8, 3 zero bytes  8 header CRC  12 patch offset  16 output offset
 *  20 block index  24 old size  28 new size  32 block output size  36 CRC-32 of bytes 0..35
 */
int
tfp_delta_apply_checkpoint(const struct tfp_delta_apply *a, uint8_t *blob)
{
	if (a == NULL || blob == NULL)
		return TFP_ERR_ARG;
	memset(blob, 0, TFP_DELTA_CKPT_LEN);
	memcpy(blob, "TFDC", 4);
	blob[4] = TFP_DELTA_CKPT_VERSION;
	if (a->ck_block_idx == 0) {
		/* Nothing durable yet: restart from byte 0 (header not needed in the blob). */
		put32(blob + 24, a->old_size);
	} else {
		put32(blob + 8, a->header_crc);
		put32(blob + 12, a->ck_patch_off);
		put32(blob + 16, a->ck_out_off);
		put32(blob + 20, a->ck_block_idx);
		put32(blob + 24, a->old_size);
		put32(blob + 28, a->new_size);
		put32(blob + 32, a->block_out);
	}
	put32(blob + 36, tfp_delta_crc32(0, blob, 36));
	return 0;
}

int
tfp_delta_apply_resume(struct tfp_delta_apply *a, const uint8_t *blob, uint32_t old_size,
                       tfp_delta_read_fn read_old, tfp_delta_write_fn write_new, void *user)
{
	uint32_t blk, out, bout, nsize, osize, n_blocks;
	int rc;

	if (blob == NULL)
		return TFP_ERR_ARG;
	if ((rc = tfp_delta_apply_init(a, old_size, read_old, write_new, user)) != 0)
		return rc;
	if (memcmp(blob, "TFDC", 4) != 0 || blob[4] != TFP_DELTA_CKPT_VERSION || blob[5] != 0 ||
	    blob[6] != 0 || blob[7] != 0 || get32(blob + 36) != tfp_delta_crc32(0, blob, 36))
		return TFP_ERR_DELTA_CHECKPOINT;
	blk = get32(blob + 20);
	osize = get32(blob + 24);
	if (blk == 0)
		return 0;  /* restart from the beginning */
	out = get32(blob + 16);
	nsize = get32(blob + 28);
	bout = get32(blob + 32);
	if (bout == 0)
		return TFP_ERR_DELTA_CHECKPOINT;
	n_blocks = nsize / bout + (nsize % bout != 0);
	if (blk > n_blocks || out != (blk == n_blocks ? nsize : blk * bout) ||
	    get32(blob + 12) < TFP_DELTA_HDR_LEN)
		return TFP_ERR_DELTA_CHECKPOINT;
	if (osize != 0 && osize != old_size)
		return TFP_ERR_DELTA_OLD_SIZE;
	a->old_size = osize;
	a->new_size = nsize;
	a->block_out = bout;
	a->n_blocks = n_blocks;
	a->header_crc = get32(blob + 8);
	a->patch_off = a->ck_patch_off = get32(blob + 12);
	a->out_off = a->ck_out_off = out;
	a->block_idx = a->ck_block_idx = blk;
	a->state = blk == n_blocks ? ST_DONE : ST_BHDR;
	return 0;
}

uint32_t
tfp_delta_checkpoint_header_crc(const uint8_t *blob)
{
	return get32(blob + 8);
}

uint32_t
tfp_delta_apply_patch_offset(const struct tfp_delta_apply *a)
{
	return a->patch_off;
}

uint32_t
tfp_delta_apply_written(const struct tfp_delta_apply *a)
{
	return a->out_off - a->out_len;
}

uint32_t
tfp_delta_apply_new_size(const struct tfp_delta_apply *a)
{
	return a->new_size;
}

uint32_t
tfp_delta_apply_blocks_done(const struct tfp_delta_apply *a)
{
	return a->block_idx;
}
