/*
 * Delta encoder: alignment (what each new byte is coded against) and the range-coded
 * blocks of FORMAT.md. The coder and its models mirror apply.c exactly; any change here
 * must be made there too (the round-trip tests catch a mismatch at once).
 *
 * The alignment is one array src[new_len]: src[i] >= 0 means "new[i] is coded as a
 * difference to old[src[i]]", -1 means "new[i] is a literal". Runs where src advances by
 * one become add operations, runs of -1 insert operations, jumps become seeks. Both
 * modes only fill src differently, so blocks can be cut anywhere.
 */
#include <divsufsort.h>
#include <stdlib.h>
#include <string.h>

#include "tinyfleet/delta/apply.h"
#include "tinyfleet/delta/encode.h"
#include "tinyfleet/protocol/container.h"

#define TOP (1u << 24)

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* ---- growable byte buffer ------------------------------------------------------------ */

struct buf {
	uint8_t *p;
	size_t len, cap;
	int oom;
};

static void
buf_put(struct buf *b, uint8_t v)
{
	if (b->len == b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 4096;
		uint8_t *np = realloc(b->p, ncap);

		if (np == NULL) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	b->p[b->len++] = v;
}

static void
buf_append(struct buf *b, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n && !b->oom; i++)
		buf_put(b, p[i]);
}

/* ---- range encoder (LZMA style) -------------------------------------------------------- */

struct enc {
	struct buf out;
	uint64_t low;
	uint32_t range;
	uint8_t cache;
	uint64_t cache_size;
	struct tfp_delta_models m;
	/* Accounting (tfp_delta_encode_stats): the part being coded and what each cost;
	 * cost[k] = -log2(k / 4096) bits. */
	int part;
	struct tfp_delta_enc_stats st;
	float cost[TFP_DELTA_PROB_ONE + 1];
};

static double cost_bits(uint32_t k);

static void
enc_init(struct enc *e)
{
	memset(e, 0, sizeof(*e));
	for (uint32_t k = 1; k <= TFP_DELTA_PROB_ONE; k++)
		e->cost[k] = (float)cost_bits(k);
	e->range = 0xFFFFFFFFu;
	e->cache_size = 1;
	tfp_delta_models_reset(&e->m);
}

static void
shift_low(struct enc *e)
{
	if ((uint32_t)e->low < 0xFF000000u || (e->low >> 32) != 0) {
		uint8_t carry = (uint8_t)(e->low >> 32);
		uint8_t temp = e->cache;

		do {
			buf_put(&e->out, (uint8_t)(temp + carry));
			temp = 0xFF;
		} while (--e->cache_size != 0);
		e->cache = (uint8_t)(e->low >> 24);
	}
	e->cache_size++;
	e->low = (e->low & 0x00FFFFFFu) << 8;
}

/* -log2(k / 4096) for 0 < k <= 4096, without libm: k = m 2^j with m in [1, 2), and
 * ln m = 2 atanh((m - 1) / (m + 1)) by its series (|t| <= 1/3: 12 terms are exact enough). */
static double
cost_bits(uint32_t k)
{
	double m = k, t, t2, sum = 0, pw;
	int j = 0;

	while (m >= 2.0) {
		m /= 2.0;
		j++;
	}
	t = (m - 1.0) / (m + 1.0);
	t2 = t * t;
	pw = t;
	for (int n = 1; n < 25; n += 2) {
		sum += pw / n;
		pw *= t2;
	}
	return TFP_DELTA_PROB_BITS - (j + 2.0 * sum / 0.69314718055994530942);
}

static void
enc_bit(struct enc *e, uint16_t *p, unsigned bit)
{
	uint32_t bound = (e->range >> TFP_DELTA_PROB_BITS) * tfp_delta_prob(*p);
	uint32_t p0 = tfp_delta_prob(*p);

	e->st.bytes[e->part] += e->cost[bit ? TFP_DELTA_PROB_ONE - p0 : p0] / 8;
	if (bit == 0) {
		e->range = bound;
	} else {
		e->low += bound;
		e->range -= bound;
	}
	tfp_delta_prob_update(p, bit);
	if (e->range < TOP) {
		e->range <<= 8;
		shift_low(e);
	}
}

static void
enc_direct(struct enc *e, uint32_t v, unsigned n)
{
	e->st.bytes[e->part] += n / 8.0;
	while (n-- > 0) {
		e->range >>= 1;
		if ((v >> n) & 1)
			e->low += e->range;
		if (e->range < TOP) {
			e->range <<= 8;
			shift_low(e);
		}
	}
}

static void
enc_flush(struct enc *e)
{
	for (int i = 0; i < 5; i++)
		shift_low(e);
}

static void
enc_tree8(struct enc *e, uint16_t *probs, unsigned sym)
{
	unsigned m = 1;

	for (int i = 7; i >= 0; i--) {
		unsigned bit = (sym >> i) & 1;

		enc_bit(e, &probs[m], bit);
		m = (m << 1) | bit;
	}
}

static void
enc_int(struct enc *e, unsigned kind, uint32_t v)
{
	unsigned nbits = 0, m = 1;

	while (nbits < 32 && (v >> nbits) != 0)
		nbits++;
	for (int i = 5; i >= 0; i--) {
		unsigned bit = (nbits >> i) & 1;

		enc_bit(e, &e->m.num[kind][m], bit);
		m = (m << 1) | bit;
	}
	if (nbits > 1)
		enc_direct(e, v, nbits - 1);
}

/* ---- block coding ------------------------------------------------------------------- */

/* Exact stretches at least this long become copies; shorter ones stay in an add. */
#define COPY_MIN 32

/* One operation header: kind in the context of the previous kind, then its integer. */
static void
enc_op(struct enc *e, unsigned kind, uint32_t v)
{
	unsigned m = 1, b1 = kind >> 1, b0 = kind & 1;

	e->part = TFP_DELTA_ST_OPS;
	enc_bit(e, &e->m.kind[e->m.prev_kind][m], b1);
	m = (m << 1) | b1;
	enc_bit(e, &e->m.kind[e->m.prev_kind][m], b0);
	e->m.prev_kind = (uint8_t)kind;
	enc_int(e, kind, v);
}

static uint32_t
le32(const uint8_t *p)
{
	return get32(p);
}

/* Add bytes new[i, i+n) of an F32 block: whole elements as 32-bit differences, bytes of
 * elements the operation cuts as 8 direct bits (FORMAT.md). */
static void
enc_add_f32(struct enc *e, const uint8_t *old_img, const uint8_t *new_img, const int64_t *src,
            size_t i, size_t n)
{
	for (size_t k = 0; k < n;) {
		size_t pos = i + k;
		uint32_t o, v, s, mag;
		unsigned sym, nbits = 0, ctx, m = 1;

		if ((pos & 3) != 0 || n - k < 4) {
			e->part = TFP_DELTA_ST_ADD_F32_RAW;
			enc_direct(e, (uint8_t)(new_img[pos] - old_img[src[pos]]), 8);
			k++;
			continue;
		}
		o = le32(old_img + src[pos]);
		v = le32(new_img + pos);
		s = v - o;
		mag = s & 0x80000000u ? 0u - s : s;
		while (nbits < 32 && (mag >> nbits) != 0)
			nbits++;
		sym = s == 0 ? TFP_DELTA_F32_SAME : v == 0 ? TFP_DELTA_F32_ZERO :
		      v == 0x80000000u ? TFP_DELTA_F32_NZERO : nbits;
		ctx = tfp_delta_f32_ctx(e->m.fmag, o);
		e->part = TFP_DELTA_ST_ADD_F32_SYM;
		for (int b = 5; b >= 0; b--) {
			unsigned bit = (sym >> b) & 1;

			enc_bit(e, &e->m.u.f.sym[ctx][m], bit);
			m = (m << 1) | bit;
		}
		if (sym >= 1 && sym <= 32) {
			e->part = TFP_DELTA_ST_ADD_F32_RAW;
			enc_direct(e, mag, nbits - 1);
			enc_direct(e, (s & 0x80000000u) != 0, 1);
		}
		e->m.fmag = tfp_delta_f32_next(e->m.fmag, sym, o);
		k += 4;
	}
}

static void
enc_add(struct enc *e, const uint8_t *old_img, size_t old_len, const uint8_t *new_img,
        const int64_t *src, size_t i, size_t n, unsigned mask, int f32)
{
	enc_op(e, TFP_DELTA_OP_ADD, (uint32_t)n);
	if (f32) {
		e->st.add_f32_bytes += n;
		enc_add_f32(e, old_img, new_img, src, i, n);
		return;
	}
	e->st.add_bytes += n;
	e->part = TFP_DELTA_ST_ADD;
	for (size_t k = 0; k < n; k++) {
		size_t pos = i + k;
		unsigned lane = (unsigned)pos & mask;
		uint8_t d = (uint8_t)(new_img[pos] - old_img[src[pos]]);
		struct tfp_delta_models *m = &e->m;
		int64_t el = src[pos] - (int64_t)lane;
		unsigned mag = mask != 3 ? tfp_delta_mag_ctx(old_img[src[pos]]) :
		               el < 0 || (int64_t)old_len - el < 4 ? 0 :
		               tfp_delta_fexp_ctx(old_img[el + 2], old_img[el + 3]);
		uint16_t *ps = &m->same[lane][tfp_delta_run_ctx(m->run[lane])][mag][m->prev_cls];
		uint8_t cls = tfp_delta_cls(d, new_img[pos]);

		if (d == 0) {
			enc_bit(e, ps, 0);
			m->run[lane] = tfp_delta_run_next(m->run[lane]);
			m->last[lane] = TFP_DELTA_SYM_SAME;
			m->prev_cls = cls;
			continue;
		}
		enc_bit(e, ps, 1);
		m->run[lane] = 0;
		if (new_img[pos] == 0) {
			enc_bit(e, &m->zero[lane][m->last[lane]], 1);
			m->last[lane] = TFP_DELTA_SYM_ZERO;
			m->prev_cls = cls;
			continue;
		}
		enc_bit(e, &m->zero[lane][m->last[lane]], 0);
		enc_tree8(e, m->u.diff[lane][mask == 3 ? mag >= 2 : m->prev_cls == 2], d);
		m->last[lane] = TFP_DELTA_SYM_OTHER;
		m->prev_cls = cls;
	}
}

/*
 * Code new[b0, b1) with block flags `flags` (lane stride code, F32 bit) into out (block
 * header + payload).
 */
static int
encode_block(const uint8_t *old_img, size_t old_len, const uint8_t *new_img, const int64_t *src,
             size_t b0, size_t b1, unsigned flags, struct buf *out,
             struct tfp_delta_enc_stats *st)
{
	struct enc *e = malloc(sizeof(*e));
	uint8_t hdr[TFP_DELTA_BLK_HDR_LEN];
	unsigned mask = (1u << (flags & TFP_DELTA_BLK_STRIDE_MASK)) - 1;
	int f32 = (flags & TFP_DELTA_BLK_F32) != 0;
	int64_t cur = src[b0] >= 0 ? src[b0] : 0;
	uint32_t old_pos = (uint32_t)cur;
	size_t i = b0;
	int rc = TFP_ERR_INTERNAL;

	if (e == NULL)
		return TFP_ERR_INTERNAL;
	enc_init(e);
	while (i < b1) {
		size_t r = 0, k, add_from;

		if (src[i] < 0) {
			while (i + r < b1 && src[i + r] < 0)
				r++;
			enc_op(e, TFP_DELTA_OP_INSERT, (uint32_t)r);
			e->part = TFP_DELTA_ST_INSERT;
			e->st.insert_bytes += r;
			for (k = 0; k < r; k++) {
				unsigned lane = (unsigned)(i + k) & mask;
				struct tfp_delta_models *m = &e->m;
				unsigned ctx = tfp_delta_run_ctx(m->lrun[lane]);

				if (new_img[i + k] == 0) {
					enc_bit(e, &m->lzero[lane][ctx], 0);
					m->lrun[lane] = tfp_delta_run_next(m->lrun[lane]);
				} else {
					enc_bit(e, &m->lzero[lane][ctx], 1);
					m->lrun[lane] = 0;
					enc_tree8(e, m->lit[lane], new_img[i + k]);
				}
			}
			i += r;
			continue;
		}
		if (src[i] != cur) {
			int64_t s = src[i] - cur;

			enc_op(e, TFP_DELTA_OP_SEEK,
			       s >= 0 ? (uint32_t)(2 * s) : (uint32_t)(2 * (-s) - 1));
			cur = src[i];
		}
		while (i + r < b1 && src[i + r] == src[i] + (int64_t)r)
			r++;
		/* Split the aligned run into copies (long exact stretches) and adds. */
		add_from = i;
		for (k = i; k < i + r;) {
			size_t z = 0;

			while (k + z < i + r && new_img[k + z] == old_img[src[k + z]])
				z++;
			if (z >= COPY_MIN) {
				/* F32 blocks cut copies at element boundaries, so adds keep whole
				 * elements. */
				size_t cs = f32 ? (k + 3) & ~(size_t)3 : k;
				size_t ce = f32 ? (k + z) & ~(size_t)3 : k + z;

				if (ce > cs && ce - cs >= COPY_MIN) {
					if (cs > add_from)
						enc_add(e, old_img, old_len, new_img, src, add_from,
						        cs - add_from, mask, f32);
					enc_op(e, TFP_DELTA_OP_COPY, (uint32_t)(ce - cs));
					e->st.copy_bytes += ce - cs;
					add_from = ce;
				}
			}
			k += z > 0 ? z : 1;
		}
		if (i + r > add_from)
			enc_add(e, old_img, old_len, new_img, src, add_from, i + r - add_from, mask,
			        f32);
		i += r;
		cur += (int64_t)r;
	}
	enc_flush(e);
	if (e->out.oom)
		goto out;
	*st = e->st;
	{
		double sum = 0;

		for (int k = 0; k < TFP_DELTA_ST_PARTS; k++)
			sum += st->bytes[k];
		st->bytes[TFP_DELTA_ST_HEADERS] += TFP_DELTA_BLK_HDR_LEN;
		st->bytes[TFP_DELTA_ST_FLUSH] = (double)e->out.len - sum;
	}
	st->blocks_stride1 = flags == 0;
	st->blocks_stride4 = flags == 2;
	st->blocks_f32 = (flags & TFP_DELTA_BLK_F32) != 0;
	put32(hdr, (uint32_t)e->out.len);
	put32(hdr + 4, tfp_delta_crc32(0, new_img + b0, b1 - b0));
	put32(hdr + 8, old_pos);
	hdr[12] = (uint8_t)flags;
	hdr[13] = hdr[14] = hdr[15] = 0;
	buf_append(out, hdr, sizeof(hdr));
	buf_append(out, e->out.p, e->out.len);
	rc = out->oom ? TFP_ERR_INTERNAL : 0;
out:
	free(e->out.p);
	free(e);
	return rc;
}

/* ---- agnostic alignment -------------------------------------------------------------- */

#define WIN 32
#define SEEDS 4
#define MIN_SEED 8
#define CMP_MAX 64
#define SWITCH_COST 32

/* Estimated bits to code a difference byte, by magnitude of its signed value. */
static unsigned
dcost(uint8_t v)
{
	unsigned d = v < 128 ? v : 256u - v;

	if (d == 0)
		return 1;
	if (d == 1)
		return 3;
	if (d < 4)
		return 5;
	if (d < 8)
		return 7;
	return d < 32 ? 8 : 9;
}

static size_t
mlen(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t i, n = alen < blen ? alen : blen;

	if (n > CMP_MAX)
		n = CMP_MAX;
	for (i = 0; i < n && a[i] == b[i]; i++)
		;
	return i;
}

/* Longest match (capped at CMP_MAX) of needle in old through the suffix array. */
static size_t
sa_longest(const saidx_t *sa, const uint8_t *old_img, size_t old_len, const uint8_t *needle,
          size_t nlen, int64_t *pos)
{
	size_t st = 0, en = old_len - 1, x, y;

	while (en - st >= 2) {
		size_t mid = st + (en - st) / 2, l = old_len - (size_t)sa[mid];
		size_t cmpn = l < nlen ? l : nlen;
		int c;

		if (cmpn > CMP_MAX)
			cmpn = CMP_MAX;
		c = memcmp(old_img + sa[mid], needle, cmpn);
		if (c < 0 || (c == 0 && cmpn < CMP_MAX && l < nlen))
			st = mid;
		else
			en = mid;
	}
	x = mlen(old_img + sa[st], old_len - (size_t)sa[st], needle, nlen);
	y = mlen(old_img + sa[en], old_len - (size_t)sa[en], needle, nlen);
	if (x >= y) {
		*pos = sa[st];
		return x;
	}
	*pos = sa[en];
	return y;
}

/* Cost of coding new[i0, i1) against diagonal d (old = new + d). */
static unsigned
diag_cost(const uint8_t *old_img, size_t old_len, const uint8_t *new_img, size_t i0,
          size_t i1, int64_t d)
{
	unsigned c = 0;

	for (size_t j = i0; j < i1; j++) {
		int64_t o = (int64_t)j + d;

		if (o < 0 || o >= (int64_t)old_len)
			c += 9;
		else if (new_img[j] == 0 && old_img[o] != 0)
			c += 3;   /* "new byte is zero" has its own flag (pruned weights) */
		else
			c += dcost((uint8_t)(new_img[j] - old_img[o]));
	}
	return c;
}

#define DIAG_INSERT INT64_MIN

/* Cost of new[i0, i1) as literals: small signed values (int8 weights, zero padding) are
 * cheap for the literal model too, so they are estimated like differences. */
static unsigned
lit_cost(const uint8_t *new_img, size_t i0, size_t i1)
{
	unsigned c = 0;

	for (size_t j = i0; j < i1; j++)
		c += dcost(new_img[j]);
	return c;
}

/* Label new[i0, i1) with diagonal d; bytes whose old counterpart is outside old are
 * literals. */
static void
label(int64_t *src, size_t i0, size_t i1, int64_t d, size_t old_len)
{
	for (size_t j = i0; j < i1; j++) {
		int64_t o = (int64_t)j + d;

		src[j] = d == DIAG_INSERT || o < 0 || o >= (int64_t)old_len ? -1 : o;
	}
}

/*
 * Fill src[i0, i1) for an arbitrary region: per window of WIN bytes pick the cheapest of the
 * current diagonal, recently used ones, diagonals of suffix-array seeds, and insertion;
 * where the diagonal changes, the split point inside the window is optimized.
 */
static void
align_region(const uint8_t *old_img, size_t old_len, const uint8_t *new_img, size_t new_len,
             const saidx_t *sa, int64_t *src, size_t i0, size_t i1, int64_t *dcur_io)
{
	int64_t recent[4] = { 0, 0, 0, 0 };
	int64_t dcur = *dcur_io;

	(void)new_len;
	for (size_t w = i0; w < i1; w += WIN) {
		size_t we = w + WIN < i1 ? w + WIN : i1, n = we - w;
		int64_t cand[1 + 4 + SEEDS];
		size_t nc = 0;
		int64_t best = DIAG_INSERT;
		unsigned best_cost = lit_cost(new_img, w, we) + (dcur == DIAG_INSERT ? 0 : 16);
		unsigned cur_cost = UINT32_MAX;

		if (old_len == 0) {
			label(src, w, we, DIAG_INSERT, old_len);
			dcur = DIAG_INSERT;
			continue;
		}
		if (dcur != DIAG_INSERT) {
			cur_cost = diag_cost(old_img, old_len, new_img, w, we, dcur);
			if (cur_cost <= best_cost) {
				best = dcur;
				best_cost = cur_cost;
			}
		}
		/* A nearly exact continuation needs no search. */
		if (!(dcur != DIAG_INSERT && cur_cost <= n + n / 2)) {
			for (int k = 0; k < 4; k++)
				cand[nc++] = recent[k];
			for (size_t s = w; s < we && sa != NULL; s += WIN / SEEDS) {
				int64_t pos;
				size_t l = sa_longest(sa, old_img, old_len, new_img + s, i1 - s, &pos);

				if (l >= MIN_SEED)
					cand[nc++] = pos - (int64_t)s;
			}
			for (size_t k = 0; k < nc; k++) {
				unsigned c;

				if (cand[k] == dcur)
					continue;
				c = diag_cost(old_img, old_len, new_img, w, we, cand[k]) + SWITCH_COST;
				if (c < best_cost) {
					best_cost = c;
					best = cand[k];
				}
			}
		}
		if (best != dcur && dcur != DIAG_INSERT && w > i0) {
			/* Best split: prefix on dcur, suffix on best. */
			size_t bs = 0;
			unsigned bc = UINT32_MAX;

			for (size_t s = 0; s <= n; s++) {
				unsigned c = diag_cost(old_img, old_len, new_img, w, w + s, dcur) +
				             (best == DIAG_INSERT ? lit_cost(new_img, w + s, we) :
				              diag_cost(old_img, old_len, new_img, w + s, we, best));

				if (c < bc) {
					bc = c;
					bs = s;
				}
			}
			label(src, w, w + bs, dcur, old_len);
			label(src, w + bs, we, best, old_len);
		} else {
			label(src, w, we, best, old_len);
		}
		if (best != dcur && best != DIAG_INSERT) {
			memmove(recent + 1, recent, 3 * sizeof(recent[0]));
			recent[0] = best;
		}
		/* After an insertion the old diagonal stays the candidate to return to. */
		if (best != DIAG_INSERT)
			dcur = best;
	}
	*dcur_io = dcur;
}

/* ---- tensor-aware alignment ---------------------------------------------------------- */

static int
check_map(const struct tfp_delta_tensor_map *m, size_t img_len)
{
	if (m == NULL || (m->count > 0 && m->t == NULL))
		return TFP_ERR_DELTA_TENSOR;
	for (size_t i = 0; i < m->count; i++) {
		const struct tfp_delta_tensor *t = &m->t[i];
		uint64_t n = t->elem_size;

		if (t->ndim == 0 || t->ndim > TFP_DELTA_TENSOR_DIMS || t->elem_size == 0)
			return TFP_ERR_DELTA_TENSOR;
		for (unsigned k = 0; k < t->ndim; k++)
			n *= t->dims[k];
		if (n != t->nbytes || (uint64_t)t->offset + t->nbytes > img_len)
			return TFP_ERR_DELTA_TENSOR;
	}
	return 0;
}

static int
same_shape(const struct tfp_delta_tensor *a, const struct tfp_delta_tensor *b)
{
	if (a->elem_size != b->elem_size || a->ndim != b->ndim)
		return 0;
	for (unsigned k = 0; k < a->ndim; k++)
		if (a->dims[k] != b->dims[k])
			return 0;
	return 1;
}

/*
 * Pair every new tensor with an old one: (1) same name and shape; (2) otherwise an unpaired
 * old tensor of the same shape, in table order (a container that numbers its layers renames
 * every layer after an inserted one); (3) otherwise the old tensor of the same name with the
 * same element size and rank (a widened layer, aligned row by row). pair[i] is the old
 * index or -1.
 */
static int
pair_tensors(const struct tfp_delta_tensor_map *om, const struct tfp_delta_tensor_map *nm,
             long *pair)
{
	unsigned char *used = calloc(om->count ? om->count : 1, 1);

	if (used == NULL)
		return TFP_ERR_INTERNAL;
	for (size_t i = 0; i < nm->count; i++) {
		pair[i] = -1;
		for (size_t j = 0; j < om->count; j++) {
			if (!used[j] && strncmp(om->t[j].name, nm->t[i].name,
			                        TFP_DELTA_TENSOR_NAME_MAX) == 0 &&
			    same_shape(&om->t[j], &nm->t[i])) {
				pair[i] = (long)j;
				used[j] = 1;
				break;
			}
		}
	}
	for (size_t i = 0; i < nm->count; i++) {
		for (size_t j = 0; pair[i] < 0 && j < om->count; j++) {
			if (!used[j] && same_shape(&om->t[j], &nm->t[i])) {
				pair[i] = (long)j;
				used[j] = 1;
			}
		}
	}
	for (size_t i = 0; i < nm->count; i++) {
		for (size_t j = 0; pair[i] < 0 && j < om->count; j++) {
			if (!used[j] && om->t[j].elem_size == nm->t[i].elem_size &&
			    om->t[j].ndim == nm->t[i].ndim &&
			    strncmp(om->t[j].name, nm->t[i].name, TFP_DELTA_TENSOR_NAME_MAX) == 0) {
				pair[i] = (long)j;
				used[j] = 1;
			}
		}
	}
	free(used);
	return 0;
}

/* Element-wise alignment of a new tensor to the old tensor of the same name. */
static void
align_tensor(int64_t *src, const struct tfp_delta_tensor *nt, const struct tfp_delta_tensor *ot,
             const uint8_t *old_img, size_t old_len, const uint8_t *new_img)
{
	uint32_t idx[TFP_DELTA_TENSOR_DIMS] = { 0, 0, 0, 0 };
	unsigned nd = nt->ndim, es = nt->elem_size;
	uint64_t row_new = nt->dims[nd - 1], row_old, rows = 1;

	if (ot == NULL || ot->elem_size != es || ot->ndim != nd) {
		if (ot != NULL && ot->elem_size == es && ot->nbytes == nt->nbytes)
			label(src, nt->offset, (size_t)nt->offset + nt->nbytes,
			      (int64_t)ot->offset - (int64_t)nt->offset, old_len);
		return;  /* otherwise keep the agnostic alignment */
	}
	row_old = ot->dims[nd - 1];
	for (unsigned k = 0; k + 1 < nd; k++)
		rows *= nt->dims[k];
	for (uint64_t r = 0; r < rows; r++) {
		size_t nbase = nt->offset + (size_t)(r * row_new * es);
		int inside = 1;
		uint64_t orow = 0;

		for (unsigned k = 0; k + 1 < nd; k++) {
			if (idx[k] >= ot->dims[k])
				inside = 0;
			orow = orow * ot->dims[k] + idx[k];
		}
		if (inside) {
			uint64_t n = (row_new < row_old ? row_new : row_old) * es;
			size_t obase = ot->offset + (size_t)(orow * row_old * es);
			int64_t d = (int64_t)obase - (int64_t)nbase;

			/* A row that does not resemble its old counterpart is cheaper as literals
			 * (e.g. a layer inserted under the name of an old one). */
			if (diag_cost(old_img, old_len, new_img, nbase, nbase + n, d) >
			    lit_cost(new_img, nbase, nbase + n))
				d = DIAG_INSERT;
			label(src, nbase, nbase + n, d, old_len);
			label(src, nbase + n, nbase + row_new * es, DIAG_INSERT, old_len);
		} else {
			label(src, nbase, nbase + row_new * es, DIAG_INSERT, old_len);
		}
		/* Next leading index, innermost leading dimension fastest. */
		for (int k = (int)nd - 2; k >= 0; k--) {
			if (++idx[k] < nt->dims[k])
				break;
			idx[k] = 0;
		}
	}
}

/* ---- patch assembly ------------------------------------------------------------------ */

static void
stats_add(struct tfp_delta_enc_stats *t, const struct tfp_delta_enc_stats *a)
{
	for (int k = 0; k < TFP_DELTA_ST_PARTS; k++)
		t->bytes[k] += a->bytes[k];
	t->add_bytes += a->add_bytes;
	t->add_f32_bytes += a->add_f32_bytes;
	t->insert_bytes += a->insert_bytes;
	t->copy_bytes += a->copy_bytes;
	t->blocks_stride1 += a->blocks_stride1;
	t->blocks_stride4 += a->blocks_stride4;
	t->blocks_f32 += a->blocks_f32;
}

static int
build_patch(const uint8_t *old_img, size_t old_len, const uint8_t *new_img, size_t new_len,
            const int64_t *src, int mode, uint32_t block_out, uint8_t **patch, size_t *plen,
            struct tfp_delta_enc_stats *st)
{
	struct tfp_delta_enc_stats cst[3];
	/* Every block is coded with each coding and keeps the smallest. */
	static const unsigned codings[] = { 0, 2, 2 | TFP_DELTA_BLK_F32 };
	struct buf out = { 0 }, cand[3] = { { 0 }, { 0 }, { 0 } };
	uint8_t *hdr;
	uint32_t n_blocks = (uint32_t)(new_len / block_out + (new_len % block_out != 0));
	int rc = TFP_ERR_INTERNAL, any_f32 = 0;

	/* The header goes first; its version and CRC are filled in once the blocks are. */
	for (size_t k = 0; k < TFP_DELTA_HDR_LEN; k++)
		buf_put(&out, 0);
	if (out.oom)
		goto out;
	hdr = out.p;
	memcpy(hdr, "TFDP", 4);
	hdr[4] = TFP_DELTA_VERSION_MIN;
	hdr[5] = (uint8_t)mode;
	hdr[6] = hdr[7] = 0;
	put32(hdr + 8, mode == TFP_DELTA_MODE_FULL ? 0 : (uint32_t)old_len);
	put32(hdr + 12, (uint32_t)new_len);
	put32(hdr + 16, block_out);
	put32(hdr + 20, n_blocks);
	put32(hdr + 24, mode == TFP_DELTA_MODE_FULL ? 0 : tfp_delta_crc32(0, old_img, old_len));
	for (uint32_t b = 0; b < n_blocks; b++) {
		size_t s = (size_t)b * block_out, e = s + block_out < new_len ? s + block_out : new_len;
		size_t pick = 0;

		for (size_t c = 0; c < 3; c++) {
			cand[c].len = 0;
			if ((rc = encode_block(old_img, old_len, new_img, src, s, e, codings[c],
			                       &cand[c], &cst[c])) != 0)
				goto out;
			if (cand[c].len < cand[pick].len)
				pick = c;
		}
		any_f32 |= (codings[pick] & TFP_DELTA_BLK_F32) != 0;
		stats_add(st, &cst[pick]);
		buf_append(&out, cand[pick].p, cand[pick].len);
	}
	rc = TFP_ERR_INTERNAL;
	if (out.oom)
		goto out;
	/* Version 1 whenever it suffices, so devices with an older applier can use the patch. */
	hdr = out.p;
	hdr[4] = any_f32 ? TFP_DELTA_VERSION : TFP_DELTA_VERSION_MIN;
	put32(hdr + 28, tfp_delta_crc32(0, hdr, 28));
	st->bytes[TFP_DELTA_ST_HEADERS] += TFP_DELTA_HDR_LEN;
	*patch = out.p;
	*plen = out.len;
	out.p = NULL;
	rc = 0;
out:
	free(out.p);
	for (size_t c = 0; c < 3; c++)
		free(cand[c].p);
	return rc;
}

int
tfp_delta_encode(const uint8_t *old_img, size_t old_len, const uint8_t *new_img,
                 size_t new_len, const struct tfp_delta_enc_opts *opts, uint8_t **patch,
                 size_t *patch_len, int *mode_used)
{
	return tfp_delta_encode_stats(old_img, old_len, new_img, new_len, opts, patch, patch_len,
	                              mode_used, NULL);
}

int
tfp_delta_encode_stats(const uint8_t *old_img, size_t old_len, const uint8_t *new_img,
                       size_t new_len, const struct tfp_delta_enc_opts *opts, uint8_t **patch,
                       size_t *patch_len, int *mode_used, struct tfp_delta_enc_stats *stats)
{
	struct tfp_delta_enc_stats st, best_st;
	struct tfp_delta_enc_opts o = { TFP_DELTA_ENC_AUTO, 0, NULL, NULL };
	saidx_t *sa = NULL;
	int64_t *src = NULL;
	uint8_t *best = NULL, *p = NULL;
	size_t best_len = 0, plen = 0;
	int best_mode = -1, rc = TFP_ERR_ARG;
	int try_full, try_agn, try_tensor;

	memset(&best_st, 0, sizeof(best_st));
	if (patch == NULL || patch_len == NULL || (old_img == NULL && old_len > 0) ||
	    (new_img == NULL && new_len > 0) || old_len >= 0x7FFFFFFF || new_len >= 0x7FFFFFFF)
		return TFP_ERR_ARG;
	if (opts != NULL)
		o = *opts;
	if (o.block_out == 0)
		o.block_out = TFP_DELTA_DEFAULT_BLOCK;
	if (o.mode < TFP_DELTA_ENC_AUTO || o.mode > TFP_DELTA_MODE_TENSOR)
		return TFP_ERR_ARG;
	try_full = o.mode == TFP_DELTA_ENC_AUTO || o.mode == TFP_DELTA_MODE_FULL;
	try_agn = o.mode == TFP_DELTA_ENC_AUTO || o.mode == TFP_DELTA_MODE_AGNOSTIC;
	try_tensor = o.mode == TFP_DELTA_MODE_TENSOR ||
	             (o.mode == TFP_DELTA_ENC_AUTO && o.old_map != NULL && o.new_map != NULL);
	if (try_tensor && (check_map(o.old_map, old_len) != 0 ||
	                   check_map(o.new_map, new_len) != 0)) {
		if (o.mode == TFP_DELTA_MODE_TENSOR)
			return TFP_ERR_DELTA_TENSOR;
		try_tensor = 0;
	}
	if (old_len == 0)
		try_agn = try_tensor = 0, try_full = 1;

	rc = TFP_ERR_INTERNAL;
	src = malloc((new_len ? new_len : 1) * sizeof(*src));
	if (src == NULL)
		goto out;
	if (try_full) {
		label(src, 0, new_len, DIAG_INSERT, old_len);
		memset(&st, 0, sizeof(st));
		if ((rc = build_patch(old_img, old_len, new_img, new_len, src, TFP_DELTA_MODE_FULL,
		                      o.block_out, &p, &plen, &st)) != 0)
			goto out;
		best_st = st;
		best = p, best_len = plen, best_mode = TFP_DELTA_MODE_FULL, p = NULL;
	}
	if (try_agn || try_tensor) {
		int64_t d = 0;

		sa = malloc(old_len * sizeof(*sa));
		if (sa == NULL || divsufsort(old_img, sa, (saidx_t)old_len) != 0) {
			rc = TFP_ERR_INTERNAL;
			goto out;
		}
		align_region(old_img, old_len, new_img, new_len, sa, src, 0, new_len, &d);
	}
	for (int pass = 0; pass < 2; pass++) {
		int mode = pass == 0 ? TFP_DELTA_MODE_AGNOSTIC : TFP_DELTA_MODE_TENSOR;

		if ((pass == 0 && !try_agn) || (pass == 1 && !try_tensor))
			continue;
		if (pass == 1) {
			long *pair = malloc((o.new_map->count ? o.new_map->count : 1) * sizeof(*pair));

			if (pair == NULL || pair_tensors(o.old_map, o.new_map, pair) != 0) {
				free(pair);
				rc = TFP_ERR_INTERNAL;
				goto out;
			}
			for (size_t i = 0; i < o.new_map->count; i++)
				align_tensor(src, &o.new_map->t[i],
				             pair[i] < 0 ? NULL : &o.old_map->t[pair[i]], old_img,
				             old_len, new_img);
			free(pair);
		}
		memset(&st, 0, sizeof(st));
		if ((rc = build_patch(old_img, old_len, new_img, new_len, src, mode, o.block_out,
		                      &p, &plen, &st)) != 0)
			goto out;
		/* The tensor mode wins ties: it is the one the operator asked for. */
		if (best == NULL || plen < best_len || (pass == 1 && plen == best_len)) {
			free(best);
			best = p, best_len = plen, best_mode = mode;
			best_st = st;
		} else {
			free(p);
		}
		p = NULL;
	}
	*patch = best;
	*patch_len = best_len;
	if (mode_used != NULL)
		*mode_used = best_mode;
	if (stats != NULL)
		*stats = best_st;
	best = NULL;
	rc = 0;
out:
	free(best);
	free(p);
	free(sa);
	free(src);
	return rc;
}

int
tfp_delta_info(const uint8_t *patch, size_t len, struct tfp_delta_info *info)
{
	size_t off = TFP_DELTA_HDR_LEN;

	if (patch == NULL || info == NULL)
		return TFP_ERR_ARG;
	if (len < 4 || memcmp(patch, "TFDP", 4) != 0)
		return len < 4 ? TFP_ERR_DELTA_TRUNCATED : TFP_ERR_DELTA_MAGIC;
	if (len < TFP_DELTA_HDR_LEN)
		return TFP_ERR_DELTA_TRUNCATED;
	if (patch[4] < TFP_DELTA_VERSION_MIN || patch[4] > TFP_DELTA_VERSION)
		return TFP_ERR_DELTA_VERSION;
	if (get32(patch + 28) != tfp_delta_crc32(0, patch, 28))
		return TFP_ERR_DELTA;
	memset(info, 0, sizeof(*info));
	info->version = patch[4];
	info->mode = patch[5];
	info->old_size = get32(patch + 8);
	info->new_size = get32(patch + 12);
	info->block_out = get32(patch + 16);
	info->n_blocks = get32(patch + 20);
	info->old_crc = get32(patch + 24);
	if (info->block_out == 0 || info->n_blocks != info->new_size / info->block_out +
	                                              (info->new_size % info->block_out != 0))
		return TFP_ERR_DELTA;
	for (uint32_t b = 0; b < info->n_blocks; b++) {
		uint32_t cl;

		if (len - off < TFP_DELTA_BLK_HDR_LEN)
			return TFP_ERR_DELTA_TRUNCATED;
		cl = get32(patch + off);
		off += TFP_DELTA_BLK_HDR_LEN;
		if (len - off < cl)
			return TFP_ERR_DELTA_TRUNCATED;
		off += cl;
		info->coded_bytes += cl;
	}
	return off == len ? 0 : TFP_ERR_DELTA_TRAILING;
}

/*
 * Fallback raw layout "TFTT" (FORMAT.md): "TFTT", u32 count, then count entries of
 * name[32] (NUL padded), u8 dtype (1 int8, 2 float32, 3 int32), u8 ndim, u16 zero,
 * u32 dims[4], u32 offset, u32 nbytes.
 */
int
tfp_delta_tensors_from_raw(const uint8_t *img, size_t len, struct tfp_delta_tensor **out,
                           size_t *count)
{
	struct tfp_delta_tensor *t = NULL;
	uint32_t n;
	int rc = TFP_ERR_DELTA_TENSOR;

	if (img == NULL || out == NULL || count == NULL || len < 8 || memcmp(img, "TFTT", 4) != 0)
		return TFP_ERR_DELTA_TENSOR;
	n = get32(img + 4);
	if (n == 0 || n > (len - 8) / 60)
		return TFP_ERR_DELTA_TENSOR;
	t = calloc(n, sizeof(*t));
	if (t == NULL)
		return TFP_ERR_INTERNAL;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *e = img + 8 + (size_t)i * 60;
		static const uint8_t es[4] = { 0, 1, 4, 4 };

		if (e[32] == 0 || e[32] > 3 || e[33] == 0 || e[33] > 4)
			goto out;
		memcpy(t[i].name, e, TFP_DELTA_TENSOR_NAME_MAX);
		t[i].name[TFP_DELTA_TENSOR_NAME_MAX] = '\0';
		t[i].elem_size = es[e[32]];
		t[i].ndim = e[33];
		for (int k = 0; k < 4; k++)
			t[i].dims[k] = get32(e + 36 + 4 * k);
		t[i].offset = get32(e + 52);
		t[i].nbytes = get32(e + 56);
	}
	{
		struct tfp_delta_tensor_map m = { t, n };

		if (check_map(&m, len) != 0)
			goto out;
	}
	*out = t;
	*count = n;
	t = NULL;
	rc = 0;
out:
	free(t);
	return rc;
}

int
tfp_delta_tensors_from_container(const uint8_t *img, size_t len, struct tfp_delta_tensor **out,
                                 size_t *count)
{
	struct tfp_container c;
	struct tfp_tensor t;
	struct tfp_delta_tensor *v = NULL;
	unsigned pos = 0;
	size_t n = 0;
	int rc;

	if (img == NULL || out == NULL || count == NULL)
		return TFP_ERR_ARG;
	if ((rc = tfp_container_open(&c, img, len)) != 0)
		return rc;
	v = calloc(c.info.tensor_count ? c.info.tensor_count : 1, sizeof(*v));
	if (v == NULL)
		return TFP_ERR_INTERNAL;
	while ((rc = tfp_container_next_tensor(&c, &pos, &t)) == 0 && n < c.info.tensor_count) {
		struct tfp_delta_tensor *d = &v[n++];

		memcpy(d->name, t.name, sizeof(t.name) < sizeof(d->name) ? sizeof(t.name) :
		                                                             sizeof(d->name));
		d->name[TFP_DELTA_TENSOR_NAME_MAX] = '\0';
		d->offset = t.offset;
		d->nbytes = t.length;
		d->elem_size = t.dtype == TFP_DTYPE_INT8 ? 1 : 4;
		d->ndim = (uint8_t)t.rank;
		for (unsigned k = 0; k < TFP_DELTA_TENSOR_DIMS; k++)
			d->dims[k] = k < t.rank ? t.shape[k] : 0;
	}
	if (rc < 0) {
		free(v);
		return rc;
	}
	*out = v;
	*count = n;
	return 0;
}
