/*
 * Model container validation and in-place access (format: protocol/CONTAINER.md).
 *
 * tfp_container_open() walks the untrusted image once and checks everything an accessor
 * or the runtime will later rely on, so the accessors only decode fields. All arithmetic on
 * offsets and lengths is done in 64 bits, so no sum of 32-bit fields can wrap.
 */
#include "tinyfleet/protocol/container.h"

#include <math.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the container is read in place and assumes a little-endian host"
#endif

/* Header field offsets (CONTAINER.md, "Header"). */
#define H_MAGIC 0
#define H_VERSION 4
#define H_HDRSIZE 6
#define H_TOTAL 8
#define H_FLAGS 12
#define H_NAME 16
#define H_VER 48
#define H_ARENA 72
#define H_FLASH 76
#define H_TASK 80
#define H_RSV1 81
#define H_NTENSORS 82
#define H_NLAYERS 84
#define H_UPDATE 86
#define H_IN_LEN 88
#define H_IN_CH 90
#define H_OUT_LEN 92
#define H_OUT_CH 94
#define H_TTABLE 96
#define H_LTABLE 100
#define H_TOL 104
#define H_RSV2 108

/* Tensor record offsets. */
#define T_NAME 0
#define T_DTYPE 16
#define T_KIND 17
#define T_RANK 18
#define T_RSV 19
#define T_SHAPE 20
#define T_OFFSET 36
#define T_LENGTH 40
#define T_SCALE 44
#define T_ZERO 46

/* Layer record offsets. */
#define L_OP 0
#define L_ACT 1
#define L_FLAGS 2
#define L_RSV 3
#define L_WEIGHT 4
#define L_BIAS 6
#define L_IN_LEN 8
#define L_IN_CH 10
#define L_OUT_LEN 12
#define L_OUT_CH 14
#define L_KERNEL 16
#define L_STRIDE 18
#define L_RSV2 20
#define L_IN_SCALE 24
#define L_IN_ZERO 28

#define MAX_ELEMENTS (1u << 28)

static uint16_t
le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

static float
lef32(const uint8_t *p)
{
	float f;
	memcpy(&f, p, sizeof(f));
	return f;
}

static int
all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

/* A NUL-padded text field: printable ASCII, then only NULs; empty allowed if !need. */
static int
copy_text(char *dst, const uint8_t *src, size_t n, int need)
{
	size_t i = 0;

	for (; i < n && src[i] != 0; i++) {
		if (src[i] < 0x20 || src[i] > 0x7e)
			return TFP_ERR_CONTAINER_TEXT;
		dst[i] = (char)src[i];
	}
	dst[i] = '\0';
	if (need && i == 0)
		return TFP_ERR_CONTAINER_TEXT;
	if (!all_zero(src + i, n - i))
		return TFP_ERR_CONTAINER_TEXT;
	return 0;
}

static size_t
dtype_size(enum tfp_dtype d)
{
	return d == TFP_DTYPE_INT8 ? 1 : 4;
}

/* Decodes a tensor record without cross-checks (those are done once, in open). */
static int
decode_tensor(const struct tfp_container *c, unsigned idx, struct tfp_tensor *t)
{
	const uint8_t *r = c->base + c->tensor_table + (size_t)idx * TFP_CONTAINER_TENSOR_REC;
	uint64_t count = 1;
	int rc;

	memset(t, 0, sizeof(*t));
	if ((rc = copy_text(t->name, r + T_NAME, TFP_CONTAINER_TNAME_LEN, 1)) != 0)
		return rc;
	if (r[T_DTYPE] < TFP_DTYPE_INT8 || r[T_DTYPE] > TFP_DTYPE_INT32 ||
	    r[T_KIND] < TFP_KIND_WEIGHT || r[T_KIND] > TFP_KIND_OTHER)
		return TFP_ERR_CONTAINER_DTYPE;
	if (r[T_RSV] != 0)
		return TFP_ERR_CONTAINER_RESERVED;
	t->dtype = (enum tfp_dtype)r[T_DTYPE];
	t->kind = (enum tfp_tensor_kind)r[T_KIND];
	t->rank = r[T_RANK];
	if (t->rank < 1 || t->rank > TFP_CONTAINER_MAX_RANK)
		return TFP_ERR_CONTAINER_SHAPE;
	for (unsigned d = 0; d < TFP_CONTAINER_MAX_RANK; d++) {
		t->shape[d] = le32(r + T_SHAPE + 4 * d);
		if (d < t->rank ? t->shape[d] == 0 : t->shape[d] != 1)
			return TFP_ERR_CONTAINER_SHAPE;
		count *= t->shape[d];
		if (count > MAX_ELEMENTS)
			return TFP_ERR_CONTAINER_LIMIT;
	}
	t->count = (uint32_t)count;
	t->offset = le32(r + T_OFFSET);
	t->length = le32(r + T_LENGTH);
	if ((uint64_t)t->length != count * dtype_size(t->dtype))
		return TFP_ERR_CONTAINER_SHAPE;
	if (t->offset % TFP_CONTAINER_ALIGN != 0 ||
	    (uint64_t)t->offset + t->length > c->len)
		return TFP_ERR_CONTAINER_BOUNDS;
	t->data = c->base + t->offset;
	t->scale_tensor = le16(r + T_SCALE);
	t->zero_tensor = le16(r + T_ZERO);
	return 0;
}

/* Fills the quantisation pointers of a decoded, cross-checked tensor. */
static void
attach_quant(const struct tfp_container *c, struct tfp_tensor *t)
{
	struct tfp_tensor q;

	if (t->scale_tensor != TFP_CONTAINER_NONE && decode_tensor(c, t->scale_tensor, &q) == 0) {
		t->scales = q.data;
		t->qcount = q.count;
	}
	if (t->zero_tensor != TFP_CONTAINER_NONE && decode_tensor(c, t->zero_tensor, &q) == 0)
		t->zeros = q.data;
}

static int
ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static int
check_f32_finite(const struct tfp_tensor *t)
{
	for (uint32_t i = 0; i < t->count; i++)
		if (!isfinite(lef32(t->data + 4 * (size_t)i)))
			return 0;
	return 1;
}

/* Quantisation cross-checks of tensor t (already decoded). */
static int
check_quant(const struct tfp_container *c, const struct tfp_tensor *t)
{
	struct tfp_tensor s, z;
	int rc;

	if (t->dtype != TFP_DTYPE_INT8) {
		if (t->scale_tensor != TFP_CONTAINER_NONE || t->zero_tensor != TFP_CONTAINER_NONE)
			return TFP_ERR_CONTAINER_QUANT;
		return 0;
	}
	if (t->scale_tensor >= c->info.tensor_count)
		return TFP_ERR_CONTAINER_QUANT;
	if ((rc = decode_tensor(c, t->scale_tensor, &s)) != 0)
		return rc;
	if (s.kind != TFP_KIND_QSCALE || s.dtype != TFP_DTYPE_FLOAT32 || s.rank != 1 ||
	    (s.count != 1 && s.count != t->shape[0]))
		return TFP_ERR_CONTAINER_QUANT;
	for (uint32_t i = 0; i < s.count; i++) {
		float v = lef32(s.data + 4 * (size_t)i);
		if (!isfinite(v) || !(v > 0.0f))
			return TFP_ERR_CONTAINER_QUANT;
	}
	if (t->zero_tensor == TFP_CONTAINER_NONE)
		return 0;
	if (t->zero_tensor >= c->info.tensor_count)
		return TFP_ERR_CONTAINER_QUANT;
	if ((rc = decode_tensor(c, t->zero_tensor, &z)) != 0)
		return rc;
	if (z.kind != TFP_KIND_QZERO || z.dtype != TFP_DTYPE_INT32 || z.rank != 1 ||
	    z.count != s.count)
		return TFP_ERR_CONTAINER_QUANT;
	for (uint32_t i = 0; i < z.count; i++) {
		int32_t v = (int32_t)le32(z.data + 4 * (size_t)i);
		if (v < -128 || v > 127)
			return TFP_ERR_CONTAINER_QUANT;
	}
	return 0;
}

/* Checks every tensor record on its own, against the tables and against each other. */
static int
check_tensors(const struct tfp_container *c)
{
	const struct tfp_container_info *in = &c->info;
	uint64_t tt = c->tensor_table, tlen = (uint64_t)in->tensor_count * TFP_CONTAINER_TENSOR_REC;
	uint64_t lt = c->layer_table, llen = (uint64_t)in->layer_count * TFP_CONTAINER_LAYER_REC;
	unsigned seen = 0;
	int rc;

	for (unsigned i = 0; i < in->tensor_count; i++) {
		struct tfp_tensor t;
		if ((rc = decode_tensor(c, i, &t)) != 0)
			return rc;
		if (t.offset < TFP_CONTAINER_HEADER_SIZE ||
		    ranges_overlap(t.offset, t.length, tt, tlen) ||
		    ranges_overlap(t.offset, t.length, lt, llen))
			return TFP_ERR_CONTAINER_OVERLAP;
		for (unsigned j = 0; j < i; j++) {
			const uint8_t *r = c->base + c->tensor_table +
			                   (size_t)j * TFP_CONTAINER_TENSOR_REC;
			if (ranges_overlap(t.offset, t.length, le32(r + T_OFFSET),
			                   le32(r + T_LENGTH)))
				return TFP_ERR_CONTAINER_OVERLAP;
		}
		switch (t.kind) {
		case TFP_KIND_WEIGHT:
		case TFP_KIND_OTHER:
			break;
		case TFP_KIND_QZERO:
			if (t.dtype != TFP_DTYPE_INT32)
				return TFP_ERR_CONTAINER_DTYPE;
			break;
		case TFP_KIND_FEAT_MEAN:
		case TFP_KIND_FEAT_VAR:
		case TFP_KIND_PSI_EDGES:
		case TFP_KIND_PSI_FRAC:
		case TFP_KIND_TEST_IN:
		case TFP_KIND_TEST_OUT:
			if (seen & (1u << t.kind))
				return TFP_ERR_CONTAINER_DTYPE;
			seen |= 1u << t.kind;
			/* fall through */
		case TFP_KIND_BIAS:
		case TFP_KIND_QSCALE:
			if (t.dtype != TFP_DTYPE_FLOAT32)
				return TFP_ERR_CONTAINER_DTYPE;
			break;
		}
		if (t.kind != TFP_KIND_OTHER && t.kind != TFP_KIND_WEIGHT &&
		    t.dtype == TFP_DTYPE_INT8)
			return TFP_ERR_CONTAINER_DTYPE;
		if (t.dtype == TFP_DTYPE_FLOAT32 && !check_f32_finite(&t))
			return TFP_ERR_CONTAINER_QUANT;
		if ((rc = check_quant(c, &t)) != 0)
			return rc;
	}
	return 0;
}

/* A layer's optional tensor reference: NONE, or a tensor of the given kind. */
static int
get_ref(const struct tfp_container *c, unsigned idx, enum tfp_tensor_kind kind,
        struct tfp_tensor *t)
{
	int rc;

	if (idx >= c->info.tensor_count)
		return TFP_ERR_CONTAINER_LAYER;
	if ((rc = decode_tensor(c, idx, t)) != 0)
		return rc;
	if (t->kind != kind)
		return TFP_ERR_CONTAINER_LAYER;
	attach_quant(c, t);
	return 0;
}

static void
decode_layer(const struct tfp_container *c, unsigned idx, struct tfp_layer *l)
{
	const uint8_t *r = c->base + c->layer_table + (size_t)idx * TFP_CONTAINER_LAYER_REC;

	memset(l, 0, sizeof(*l));
	l->op = (enum tfp_layer_op)r[L_OP];
	l->act = (enum tfp_activation)r[L_ACT];
	l->flags = r[L_FLAGS];
	l->weight = le16(r + L_WEIGHT);
	l->bias = le16(r + L_BIAS);
	l->in_len = le16(r + L_IN_LEN);
	l->in_ch = le16(r + L_IN_CH);
	l->out_len = le16(r + L_OUT_LEN);
	l->out_ch = le16(r + L_OUT_CH);
	l->kernel = le16(r + L_KERNEL);
	l->stride = le16(r + L_STRIDE);
	l->in_scale = lef32(r + L_IN_SCALE);
	l->in_zero = (int32_t)le32(r + L_IN_ZERO);
}

static int
check_layer(const struct tfp_container *c, unsigned idx, const struct tfp_layer *l)
{
	const uint8_t *r = c->base + c->layer_table + (size_t)idx * TFP_CONTAINER_LAYER_REC;
	struct tfp_tensor w, b;
	int weighted = l->op == TFP_OP_DENSE || l->op == TFP_OP_CONV1D;
	int rc;

	memset(&w, 0, sizeof(w));

	if (l->op < TFP_OP_DENSE || l->op > TFP_OP_FLATTEN || l->act > TFP_ACT_SOFTMAX)
		return TFP_ERR_CONTAINER_LAYER;
	if ((l->flags & ~TFP_LAYER_TRAINABLE) != 0 || r[L_RSV] != 0 || le32(r + L_RSV2) != 0)
		return TFP_ERR_CONTAINER_RESERVED;
	if (l->in_len == 0 || l->in_ch == 0 || l->out_len == 0 || l->out_ch == 0)
		return TFP_ERR_CONTAINER_SHAPE;
	if (l->act == TFP_ACT_SOFTMAX && l->out_len != 1)
		return TFP_ERR_CONTAINER_SHAPE;
	if (!isfinite(l->in_scale) || l->in_scale < 0.0f || l->in_zero < -128 || l->in_zero > 127)
		return TFP_ERR_CONTAINER_QUANT;
	if (!weighted) {
		if (l->weight != TFP_CONTAINER_NONE || l->bias != TFP_CONTAINER_NONE ||
		    l->in_scale != 0.0f || l->in_zero != 0)
			return TFP_ERR_CONTAINER_LAYER;
	} else {
		if ((rc = get_ref(c, l->weight, TFP_KIND_WEIGHT, &w)) != 0)
			return rc;
		if (w.dtype == TFP_DTYPE_INT32)
			return TFP_ERR_CONTAINER_DTYPE;
		if (w.dtype != TFP_DTYPE_INT8 && (l->in_scale != 0.0f || l->in_zero != 0))
			return TFP_ERR_CONTAINER_QUANT;
		/* Each int8 product is at most 255 * 255, so a fan-in above 32,768 could
		 * overflow the runtime's int32 accumulator. */
		if (w.dtype == TFP_DTYPE_INT8 &&
		    (uint32_t)(l->op == TFP_OP_CONV1D ? l->kernel : 1) * l->in_ch >
		    TFP_CONTAINER_MAX_FANIN)
			return TFP_ERR_CONTAINER_LIMIT;
		if (l->bias != TFP_CONTAINER_NONE) {
			if ((rc = get_ref(c, l->bias, TFP_KIND_BIAS, &b)) != 0)
				return rc;
			if (b.count != l->out_ch)
				return TFP_ERR_CONTAINER_SHAPE;
		}
	}
	if (l->op == TFP_OP_CONV1D || l->op == TFP_OP_MAXPOOL1D || l->op == TFP_OP_AVGPOOL1D) {
		if (l->kernel == 0 || l->stride == 0 || l->in_len < l->kernel ||
		    l->out_len != (l->in_len - l->kernel) / l->stride + 1)
			return TFP_ERR_CONTAINER_SHAPE;
	} else if (l->kernel != 0 || l->stride != 0) {
		return TFP_ERR_CONTAINER_SHAPE;
	}
	switch (l->op) {
	case TFP_OP_DENSE:
		if (l->in_len != 1 || l->out_len != 1 || w.rank != 2 ||
		    w.shape[0] != l->out_ch || w.shape[1] != l->in_ch)
			return TFP_ERR_CONTAINER_SHAPE;
		break;
	case TFP_OP_CONV1D:
		if (w.rank != 3 || w.shape[0] != l->out_ch || w.shape[1] != l->kernel ||
		    w.shape[2] != l->in_ch)
			return TFP_ERR_CONTAINER_SHAPE;
		break;
	case TFP_OP_MAXPOOL1D:
	case TFP_OP_AVGPOOL1D:
		if (l->out_ch != l->in_ch)
			return TFP_ERR_CONTAINER_SHAPE;
		break;
	case TFP_OP_FLATTEN:
		if (l->out_len != 1 || l->out_ch != l->in_len * l->in_ch)
			return TFP_ERR_CONTAINER_SHAPE;
		break;
	}
	if (l->flags & TFP_LAYER_TRAINABLE) {
		if (idx != c->info.update_layer || l->op != TFP_OP_DENSE ||
		    w.dtype != TFP_DTYPE_FLOAT32 || idx + 1 != c->info.layer_count)
			return TFP_ERR_CONTAINER_LAYER;
	} else if (idx == c->info.update_layer) {
		return TFP_ERR_CONTAINER_LAYER;
	}
	return 0;
}

static int
check_layers(const struct tfp_container *c)
{
	const struct tfp_container_info *in = &c->info;
	unsigned len = in->in_len, ch = in->in_ch;
	int rc;

	if (in->update_layer != TFP_CONTAINER_NONE && in->update_layer >= in->layer_count)
		return TFP_ERR_CONTAINER_LAYER;
	for (unsigned i = 0; i < in->layer_count; i++) {
		struct tfp_layer l;
		decode_layer(c, i, &l);
		if ((rc = check_layer(c, i, &l)) != 0)
			return rc;
		if (l.in_len != len || l.in_ch != ch)
			return TFP_ERR_CONTAINER_SHAPE;
		len = l.out_len;
		ch = l.out_ch;
	}
	if (len != in->out_len || ch != in->out_ch)
		return TFP_ERR_CONTAINER_SHAPE;
	if (in->task == TFP_TASK_ANOMALY &&
	    (uint32_t)in->out_len * in->out_ch != (uint32_t)in->in_len * in->in_ch)
		return TFP_ERR_CONTAINER_SHAPE;
	return 0;
}

/* Feature statistics and self-test vectors: optional, but consistent when present. */
static int
check_sections(const struct tfp_container *c)
{
	const struct tfp_container_info *in = &c->info;
	struct tfp_tensor m, v, e, f, ti, to;
	int hm, hv, he, hf, hi, ho;

	hm = tfp_container_find(c, TFP_KIND_FEAT_MEAN, &m) == 0;
	hv = tfp_container_find(c, TFP_KIND_FEAT_VAR, &v) == 0;
	he = tfp_container_find(c, TFP_KIND_PSI_EDGES, &e) == 0;
	hf = tfp_container_find(c, TFP_KIND_PSI_FRAC, &f) == 0;
	hi = tfp_container_find(c, TFP_KIND_TEST_IN, &ti) == 0;
	ho = tfp_container_find(c, TFP_KIND_TEST_OUT, &to) == 0;
	if (hm != hv || he != hf || (he && !hm) || hi != ho)
		return TFP_ERR_CONTAINER_SHAPE;
	if (hm) {
		if (m.rank != 1 || m.count != in->in_ch || v.rank != 1 || v.count != in->in_ch)
			return TFP_ERR_CONTAINER_SHAPE;
		for (uint32_t i = 0; i < v.count; i++)
			if (!(tfp_tensor_f32(&v, i) >= 0.0f))
				return TFP_ERR_CONTAINER_SHAPE;
	}
	if (he) {
		if (e.rank != 2 || f.rank != 2 || e.shape[0] != in->in_ch ||
		    f.shape[0] != in->in_ch || f.shape[1] < 2 || e.shape[1] + 1 != f.shape[1])
			return TFP_ERR_CONTAINER_SHAPE;
		for (uint32_t r = 0; r < e.shape[0]; r++)
			for (uint32_t k = 1; k < e.shape[1]; k++)
				if (!(tfp_tensor_f32(&e, r * e.shape[1] + k) >
				      tfp_tensor_f32(&e, r * e.shape[1] + k - 1)))
					return TFP_ERR_CONTAINER_SHAPE;
		for (uint32_t i = 0; i < f.count; i++) {
			float x = tfp_tensor_f32(&f, i);
			if (x < 0.0f || x > 1.0f)
				return TFP_ERR_CONTAINER_SHAPE;
		}
	}
	if (hi) {
		if (ti.rank != 2 || to.rank != 2 || ti.shape[0] != to.shape[0] ||
		    ti.shape[1] != in->in_len * in->in_ch ||
		    to.shape[1] != in->out_len * in->out_ch)
			return TFP_ERR_CONTAINER_SHAPE;
	}
	return 0;
}

static uint64_t
arena_need64(const struct tfp_container *c)
{
	uint64_t max_act, max_q = 0;

	max_act = (uint64_t)c->info.in_len * c->info.in_ch;
	for (unsigned i = 0; i < c->info.layer_count; i++) {
		struct tfp_layer l;
		struct tfp_tensor w;
		uint64_t out, inn;
		decode_layer(c, i, &l);
		out = (uint64_t)l.out_len * l.out_ch;
		inn = (uint64_t)l.in_len * l.in_ch;
		if (out > max_act)
			max_act = out;
		if (l.weight != TFP_CONTAINER_NONE && l.weight < c->info.tensor_count &&
		    decode_tensor(c, l.weight, &w) == 0 && w.dtype == TFP_DTYPE_INT8 && inn > max_q)
			max_q = inn;
	}
	max_q = (max_q + TFP_CONTAINER_ALIGN - 1) / TFP_CONTAINER_ALIGN * TFP_CONTAINER_ALIGN;
	return 2 * 4 * max_act + max_q;
}

uint32_t
tfp_container_arena_need(const struct tfp_container *c)
{
	uint64_t need;

	if (c == NULL || c->base == NULL)
		return 0;
	need = arena_need64(c);
	return need > UINT32_MAX ? UINT32_MAX : (uint32_t)need;
}

int
tfp_container_open(struct tfp_container *c, const uint8_t *buf, size_t len)
{
	struct tfp_container_info *in;
	const uint8_t *h = buf;
	uint64_t tlen, llen;
	int rc = TFP_ERR_CONTAINER;

	if (c == NULL)
		return TFP_ERR_ARG;
	memset(c, 0, sizeof(*c));
	if (buf == NULL)
		return TFP_ERR_ARG;
	in = &c->info;
	if (len < 8) {
		rc = TFP_ERR_CONTAINER_SIZE;
		goto out;
	}
	if (memcmp(h + H_MAGIC, TFP_CONTAINER_MAGIC, 4) != 0) {
		rc = TFP_ERR_CONTAINER_MAGIC;
		goto out;
	}
	in->format_version = le16(h + H_VERSION);
	if (in->format_version != TFP_CONTAINER_VERSION) {
		rc = TFP_ERR_CONTAINER_VERSION;
		goto out;
	}
	if (len < TFP_CONTAINER_HEADER_SIZE || le16(h + H_HDRSIZE) != TFP_CONTAINER_HEADER_SIZE ||
	    le32(h + H_TOTAL) != len) {
		rc = TFP_ERR_CONTAINER_SIZE;
		goto out;
	}
	c->base = buf;
	c->len = len;
	in->total_size = (uint32_t)len;
	if (le32(h + H_FLAGS) != 0 || h[H_RSV1] != 0 ||
	    !all_zero(h + H_RSV2, TFP_CONTAINER_HEADER_SIZE - H_RSV2)) {
		rc = TFP_ERR_CONTAINER_RESERVED;
		goto out;
	}
	if ((rc = copy_text(in->name, h + H_NAME, TFP_CONTAINER_NAME_LEN, 1)) != 0 ||
	    (rc = copy_text(in->version, h + H_VER, TFP_CONTAINER_VER_LEN, 1)) != 0)
		goto out;
	in->arena_bytes = le32(h + H_ARENA);
	in->flash_bytes = le32(h + H_FLASH);
	in->task = (enum tfp_task)h[H_TASK];
	in->tensor_count = le16(h + H_NTENSORS);
	in->layer_count = le16(h + H_NLAYERS);
	in->update_layer = le16(h + H_UPDATE);
	in->in_len = le16(h + H_IN_LEN);
	in->in_ch = le16(h + H_IN_CH);
	in->out_len = le16(h + H_OUT_LEN);
	in->out_ch = le16(h + H_OUT_CH);
	c->tensor_table = le32(h + H_TTABLE);
	c->layer_table = le32(h + H_LTABLE);
	in->test_tolerance = lef32(h + H_TOL);
	rc = TFP_ERR_CONTAINER;
	if (in->task > TFP_TASK_ANOMALY || !isfinite(in->test_tolerance) ||
	    in->test_tolerance < 0.0f)
		goto out;
	rc = TFP_ERR_CONTAINER_LIMIT;
	if (in->tensor_count == 0 || in->tensor_count > TFP_CONTAINER_MAX_TENSORS ||
	    in->layer_count == 0 || in->layer_count > TFP_CONTAINER_MAX_LAYERS)
		goto out;
	rc = TFP_ERR_CONTAINER_SHAPE;
	if (in->in_len == 0 || in->in_ch == 0 || in->out_len == 0 || in->out_ch == 0)
		goto out;
	tlen = (uint64_t)in->tensor_count * TFP_CONTAINER_TENSOR_REC;
	llen = (uint64_t)in->layer_count * TFP_CONTAINER_LAYER_REC;
	rc = TFP_ERR_CONTAINER_BOUNDS;
	if (c->tensor_table % TFP_CONTAINER_ALIGN != 0 || c->layer_table % TFP_CONTAINER_ALIGN != 0 ||
	    (uint64_t)c->tensor_table + tlen > len || (uint64_t)c->layer_table + llen > len)
		goto out;
	rc = TFP_ERR_CONTAINER_OVERLAP;
	if (c->tensor_table < TFP_CONTAINER_HEADER_SIZE || c->layer_table < TFP_CONTAINER_HEADER_SIZE ||
	    ranges_overlap(c->tensor_table, tlen, c->layer_table, llen))
		goto out;
	if ((rc = check_tensors(c)) != 0 || (rc = check_layers(c)) != 0 ||
	    (rc = check_sections(c)) != 0)
		goto out;
	rc = TFP_ERR_CONTAINER_LIMIT;
	if (arena_need64(c) > TFP_CONTAINER_MAX_ARENA)
		goto out;
	rc = TFP_ERR_CONTAINER_ARENA;
	if (in->arena_bytes < arena_need64(c) || in->flash_bytes < len)
		goto out;
	rc = 0;
out:
	if (rc != 0)
		memset(c, 0, sizeof(*c));
	return rc;
}

int
tfp_container_tensor(const struct tfp_container *c, unsigned idx, struct tfp_tensor *t)
{
	if (c == NULL || t == NULL || c->base == NULL || idx >= c->info.tensor_count)
		return TFP_ERR_ARG;
	if (decode_tensor(c, idx, t) != 0)
		return TFP_ERR_INTERNAL;   /* validated by open: cannot happen */
	attach_quant(c, t);
	return 0;
}

int
tfp_container_layer(const struct tfp_container *c, unsigned idx, struct tfp_layer *l)
{
	if (c == NULL || l == NULL || c->base == NULL || idx >= c->info.layer_count)
		return TFP_ERR_ARG;
	decode_layer(c, idx, l);
	return 0;
}

int
tfp_container_next_tensor(const struct tfp_container *c, unsigned *pos, struct tfp_tensor *t)
{
	int rc;

	if (c == NULL || pos == NULL || t == NULL || c->base == NULL)
		return TFP_ERR_ARG;
	if (*pos >= c->info.tensor_count)
		return 1;
	if ((rc = tfp_container_tensor(c, *pos, t)) != 0)
		return rc;
	(*pos)++;
	return 0;
}

int
tfp_container_find(const struct tfp_container *c, enum tfp_tensor_kind kind,
                   struct tfp_tensor *t)
{
	if (c == NULL || t == NULL || c->base == NULL)
		return TFP_ERR_ARG;
	for (unsigned i = 0; i < c->info.tensor_count; i++) {
		if (c->base[c->tensor_table + (size_t)i * TFP_CONTAINER_TENSOR_REC + T_KIND] != kind)
			continue;
		if (decode_tensor(c, i, t) != 0)
			return TFP_ERR_INTERNAL;
		attach_quant(c, t);
		return 0;
	}
	return 1;
}

float
tfp_tensor_f32(const struct tfp_tensor *t, uint32_t i)
{
	return lef32(t->data + 4 * (size_t)i);
}

int32_t
tfp_tensor_i32(const struct tfp_tensor *t, uint32_t i)
{
	return (int32_t)le32(t->data + 4 * (size_t)i);
}

float
tfp_tensor_scale(const struct tfp_tensor *t, uint32_t ch)
{
	if (t->scales == NULL)
		return 1.0f;
	return lef32(t->scales + 4 * (size_t)(t->qcount == 1 ? 0 : ch));
}

int32_t
tfp_tensor_zero(const struct tfp_tensor *t, uint32_t ch)
{
	if (t->zeros == NULL)
		return 0;
	return (int32_t)le32(t->zeros + 4 * (size_t)(t->qcount == 1 ? 0 : ch));
}
