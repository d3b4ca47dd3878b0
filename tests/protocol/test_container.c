/*
 * Model container parser: a valid image decodes to the fields and in-place pointers the
 * runtime relies on, and every kind of malformed image is refused with its own code.
 *
 * The image is built here by a small independent writer (not the Python packer), so the
 * test also checks that CONTAINER.md's byte layout says what container.c reads.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tinyfleet/protocol/container.h"

#define IMG_MAX 34000

static void
put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void
put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void
putf(uint8_t *p, float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	put32(p, u);
}

/* The test model: input [6, 2] -> conv1d k3 (4 ch, int8 per-channel, zero points) ->
 * maxpool k2 s2 -> flatten -> dense 8 -> 3 (float32, trainable, softmax). */
struct img {
	uint8_t b[IMG_MAX];
	size_t len;
	uint32_t data;          /* next free data offset */
	unsigned nt, nl;
};

enum { T_CS, T_CZ, T_CW, T_CB, T_DW, T_DB, T_MEAN, T_VAR, T_EDGES, T_FRAC, T_TIN, T_TOUT, NT };
#define TT 128u                        /* tensor table */
#define LT (TT + NT * 48u)             /* layer table */
#define NL 4u

static uint32_t
tensor(struct img *m, const char *name, int dtype, int kind, unsigned rank,
       const uint32_t *shape, unsigned scale, unsigned zero)
{
	uint8_t *r = m->b + TT + m->nt * 48;
	uint32_t count = 1, len;

	memset(r, 0, 48);
	memcpy(r, name, strlen(name));
	r[16] = (uint8_t)dtype;
	r[17] = (uint8_t)kind;
	r[18] = (uint8_t)rank;
	for (unsigned d = 0; d < 4; d++) {
		uint32_t v = d < rank ? shape[d] : 1;
		put32(r + 20 + 4 * d, v);
		count *= v;
	}
	len = count * (dtype == TFP_DTYPE_INT8 ? 1 : 4);
	put32(r + 36, m->data);
	put32(r + 40, len);
	put16(r + 44, scale);
	put16(r + 46, zero);
	m->nt++;
	m->data += (len + 3) & ~3u;
	return m->data - ((len + 3) & ~3u);
}

static void
layer(struct img *m, int op, int act, int flags, unsigned w, unsigned b, unsigned il,
      unsigned ic, unsigned ol, unsigned oc, unsigned k, unsigned s)
{
	uint8_t *r = m->b + LT + m->nl * 32;

	memset(r, 0, 32);
	r[0] = (uint8_t)op;
	r[1] = (uint8_t)act;
	r[2] = (uint8_t)flags;
	put16(r + 4, w);
	put16(r + 6, b);
	put16(r + 8, il);
	put16(r + 10, ic);
	put16(r + 12, ol);
	put16(r + 14, oc);
	put16(r + 16, k);
	put16(r + 18, s);
	m->nl++;
}

static void
build(struct img *m)
{
	const uint32_t s4[] = {4}, cw[] = {4, 3, 2}, dw[] = {3, 8}, s3[] = {3}, s2[] = {2};
	const uint32_t e[] = {2, 3}, f[] = {2, 4}, ti[] = {2, 12}, to[] = {2, 3};
	uint32_t o;
	uint8_t *h = m->b;

	memset(m, 0, sizeof(*m));
	m->data = LT + NL * 32;
	o = tensor(m, "c.s", TFP_DTYPE_FLOAT32, TFP_KIND_QSCALE, 1, s4, 0xFFFF, 0xFFFF);
	for (int i = 0; i < 4; i++)
		putf(m->b + o + 4 * i, 0.01f * (float)(i + 1));
	o = tensor(m, "c.z", TFP_DTYPE_INT32, TFP_KIND_QZERO, 1, s4, 0xFFFF, 0xFFFF);
	for (int i = 0; i < 4; i++)
		put32(m->b + o + 4 * i, (uint32_t)(i - 2));
	o = tensor(m, "c.w", TFP_DTYPE_INT8, TFP_KIND_WEIGHT, 3, cw, T_CS, T_CZ);
	for (int i = 0; i < 24; i++)
		m->b[o + i] = (uint8_t)(int8_t)(i * 7 - 80);
	o = tensor(m, "c.b", TFP_DTYPE_FLOAT32, TFP_KIND_BIAS, 1, s4, 0xFFFF, 0xFFFF);
	o = tensor(m, "d.w", TFP_DTYPE_FLOAT32, TFP_KIND_WEIGHT, 2, dw, 0xFFFF, 0xFFFF);
	for (int i = 0; i < 24; i++)
		putf(m->b + o + 4 * i, 0.1f * (float)(i % 5) - 0.2f);
	o = tensor(m, "d.b", TFP_DTYPE_FLOAT32, TFP_KIND_BIAS, 1, s3, 0xFFFF, 0xFFFF);
	o = tensor(m, "mean", TFP_DTYPE_FLOAT32, TFP_KIND_FEAT_MEAN, 1, s2, 0xFFFF, 0xFFFF);
	o = tensor(m, "var", TFP_DTYPE_FLOAT32, TFP_KIND_FEAT_VAR, 1, s2, 0xFFFF, 0xFFFF);
	putf(m->b + o, 1.0f);
	putf(m->b + o + 4, 2.0f);
	o = tensor(m, "psi_edges", TFP_DTYPE_FLOAT32, TFP_KIND_PSI_EDGES, 2, e, 0xFFFF, 0xFFFF);
	for (int i = 0; i < 6; i++)
		putf(m->b + o + 4 * i, (float)(i % 3) - 1.0f);
	o = tensor(m, "psi_frac", TFP_DTYPE_FLOAT32, TFP_KIND_PSI_FRAC, 2, f, 0xFFFF, 0xFFFF);
	for (int i = 0; i < 8; i++)
		putf(m->b + o + 4 * i, 0.25f);
	o = tensor(m, "test_in", TFP_DTYPE_FLOAT32, TFP_KIND_TEST_IN, 2, ti, 0xFFFF, 0xFFFF);
	o = tensor(m, "test_out", TFP_DTYPE_FLOAT32, TFP_KIND_TEST_OUT, 2, to, 0xFFFF, 0xFFFF);
	layer(m, TFP_OP_CONV1D, TFP_ACT_RELU, 0, T_CW, T_CB, 6, 2, 4, 4, 3, 1);
	layer(m, TFP_OP_MAXPOOL1D, 0, 0, 0xFFFF, 0xFFFF, 4, 4, 2, 4, 2, 2);
	layer(m, TFP_OP_FLATTEN, 0, 0, 0xFFFF, 0xFFFF, 2, 4, 1, 8, 0, 0);
	layer(m, TFP_OP_DENSE, TFP_ACT_SOFTMAX, TFP_LAYER_TRAINABLE, T_DW, T_DB, 1, 8, 1, 3, 0, 0);
	m->len = m->data;
	memcpy(h, "TFMC", 4);
	put16(h + 4, 1);
	put16(h + 6, 128);
	put32(h + 8, (uint32_t)m->len);
	memcpy(h + 16, "pump-anomaly", 12);
	memcpy(h + 48, "1.4.2", 5);
	put32(h + 72, 2 * 4 * 16 + 12);     /* arena: max activation 16 floats, int8 input 12 */
	put32(h + 76, (uint32_t)m->len);
	h[80] = TFP_TASK_CLASSIFY;
	put16(h + 82, NT);
	put16(h + 84, NL);
	put16(h + 86, 3);
	put16(h + 88, 6);
	put16(h + 90, 2);
	put16(h + 92, 1);
	put16(h + 94, 3);
	put32(h + 96, TT);
	put32(h + 100, LT);
	putf(h + 104, 0.01f);
}

static uint32_t
le32_at(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

static int
open_img(const struct img *m)
{
	struct tfp_container c;
	return tfp_container_open(&c, m->b, m->len);
}

static uint8_t *
trec(struct img *m, unsigned i)
{
	return m->b + TT + 48 * i;
}

static uint8_t *
lrec(struct img *m, unsigned i)
{
	return m->b + LT + 32 * i;
}

static void
test_valid_decodes_in_place(void **state)
{
	struct img m;
	struct tfp_container c;
	struct tfp_tensor t;
	struct tfp_layer l;
	unsigned pos = 0, n = 0;
	int rc;
	(void)state;

	build(&m);
	assert_int_equal(tfp_container_open(&c, m.b, m.len), 0);
	assert_string_equal(c.info.name, "pump-anomaly");
	assert_string_equal(c.info.version, "1.4.2");
	assert_int_equal(c.info.format_version, 1);
	assert_int_equal(c.info.tensor_count, NT);
	assert_int_equal(c.info.layer_count, NL);
	assert_int_equal(c.info.update_layer, 3);
	assert_int_equal(c.info.in_len, 6);
	assert_int_equal(c.info.out_ch, 3);
	assert_int_equal(tfp_container_arena_need(&c), 2 * 4 * 16 + 12);

	/* Weights are borrowed, not copied; per-channel scales and zero points decode. */
	assert_int_equal(tfp_container_tensor(&c, T_CW, &t), 0);
	assert_ptr_equal(t.data, m.b + t.offset);
	assert_int_equal(t.dtype, TFP_DTYPE_INT8);
	assert_int_equal(t.count, 24);
	assert_int_equal(t.qcount, 4);
	assert_true(fabsf(tfp_tensor_scale(&t, 2) - 0.03f) < 1e-7f);
	assert_int_equal(tfp_tensor_zero(&t, 0), -2);
	assert_int_equal((int8_t)t.data[1], 7 - 80);

	assert_int_equal(tfp_container_layer(&c, 0, &l), 0);
	assert_int_equal(l.op, TFP_OP_CONV1D);
	assert_int_equal(l.kernel, 3);
	assert_int_equal(tfp_container_layer(&c, 3, &l), 0);
	assert_int_equal(l.flags & TFP_LAYER_TRAINABLE, TFP_LAYER_TRAINABLE);
	assert_int_equal(tfp_container_layer(&c, 4, &l), TFP_ERR_ARG);
	assert_int_equal(tfp_container_tensor(&c, NT, &t), TFP_ERR_ARG);

	assert_int_equal(tfp_container_find(&c, TFP_KIND_FEAT_VAR, &t), 0);
	assert_true(tfp_tensor_f32(&t, 1) == 2.0f);
	while ((rc = tfp_container_next_tensor(&c, &pos, &t)) == 0)
		n++;
	assert_int_equal(rc, 1);
	assert_int_equal(n, NT);
}

static void
test_optional_sections(void **state)
{
	struct img m;
	struct tfp_container c;
	struct tfp_tensor t;
	(void)state;

	/* Stats and tests are optional: turn them into opaque tensors. */
	build(&m);
	for (unsigned i = T_MEAN; i <= T_TOUT; i++)
		trec(&m, i)[17] = TFP_KIND_OTHER;
	assert_int_equal(tfp_container_open(&c, m.b, m.len), 0);
	assert_int_equal(tfp_container_find(&c, TFP_KIND_FEAT_MEAN, &t), 1);
	/* ... but half a section is refused. */
	build(&m);
	trec(&m, T_VAR)[17] = TFP_KIND_OTHER;
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_SHAPE);
	build(&m);
	trec(&m, T_TOUT)[17] = TFP_KIND_OTHER;
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_SHAPE);
}

static void
test_truncation_at_every_byte(void **state)
{
	struct img m, t;
	(void)state;

	build(&m);
	for (size_t n = 0; n < m.len; n++) {
		struct tfp_container c;
		/* As cut: the size field no longer matches. */
		assert_int_equal(tfp_container_open(&c, m.b, n), TFP_ERR_CONTAINER_SIZE);
		assert_null(c.base);
		/* With the size field patched to the cut length, something else must refuse. */
		t = m;
		if (n >= 12)
			put32(t.b + 8, (uint32_t)n);
		int rc = tfp_container_open(&c, t.b, n);
		if (n < 128)
			assert_int_equal(rc, TFP_ERR_CONTAINER_SIZE);
		else
			assert_true(rc == TFP_ERR_CONTAINER_BOUNDS);
	}
}

static void
test_header_errors(void **state)
{
	struct img m;
	struct tfp_container c;
	(void)state;

	build(&m);
	assert_int_equal(tfp_container_open(NULL, m.b, 0), TFP_ERR_ARG);
	assert_int_equal(tfp_container_open(&c, NULL, 0), TFP_ERR_ARG);
	build(&m); m.b[0] = 'X';
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_MAGIC);
	build(&m); put16(m.b + 4, 2);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_VERSION);
	build(&m); put16(m.b + 4, 0);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_VERSION);
	build(&m); put16(m.b + 6, 64);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_SIZE);
	build(&m); put32(m.b + 8, (uint32_t)m.len + 4);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_SIZE);
	build(&m); m.b[12] = 1;
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_RESERVED);
	build(&m); m.b[127] = 1;
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_RESERVED);
	build(&m); m.b[81] = 1;
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_RESERVED);
	build(&m); memset(m.b + 16, 0, 32);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_TEXT);
	build(&m); m.b[17] = '\n';
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_TEXT);
	build(&m); m.b[16 + 20] = 'x';           /* text after the NUL padding */
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_TEXT);
	build(&m); memset(m.b + 48, 0, 24);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_TEXT);
	build(&m); m.b[80] = 3;
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER);
	build(&m); putf(m.b + 104, NAN);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER);
	build(&m); put16(m.b + 82, 0);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_LIMIT);
	build(&m); put16(m.b + 82, 65);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_LIMIT);
	build(&m); put16(m.b + 84, 17);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_LIMIT);
	build(&m); put16(m.b + 90, 0);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_SHAPE);
	build(&m); put16(m.b + 94, 4);            /* output shape not what the layers make */
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_SHAPE);
	build(&m); put32(m.b + 96, 130);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_BOUNDS);
	build(&m); put32(m.b + 96, 0xFFFFFFF0u);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_BOUNDS);
	build(&m); put32(m.b + 100, (uint32_t)m.len - 64);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_BOUNDS);
	build(&m); put32(m.b + 96, 64);           /* tensor table over the header */
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_OVERLAP);
	build(&m); put32(m.b + 100, TT + 48);     /* layer table over the tensor table */
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_OVERLAP);
	build(&m); put32(m.b + 72, 2 * 4 * 16 + 11);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_ARENA);
	build(&m); put32(m.b + 76, (uint32_t)m.len - 1);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_ARENA);
}

static void
test_tensor_errors(void **state)
{
	struct img m;
	(void)state;

	build(&m); put32(trec(&m, T_DW) + 36, (uint32_t)m.len - 4);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_BOUNDS);
	build(&m); put32(trec(&m, T_DW) + 36, 0xFFFFFFFCu);     /* offset + length wraps */
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_BOUNDS);
	build(&m); put32(trec(&m, T_CW) + 36, le32_at(trec(&m, T_CW) + 36) + 1);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_BOUNDS);
	build(&m); put32(trec(&m, T_DW) + 36, 0);                /* over the header */
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_OVERLAP);
	build(&m); put32(trec(&m, T_DW) + 36, LT);               /* over the layer table */
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_OVERLAP);
	build(&m);                                               /* over another tensor */
	memcpy(trec(&m, T_DB) + 36, trec(&m, T_DW) + 36, 4);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_OVERLAP);
	build(&m); put32(trec(&m, T_DW) + 40, 95);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_SHAPE);
	build(&m); trec(&m, T_DW)[16] = 9;
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_DTYPE);
	build(&m); trec(&m, T_DW)[17] = 0;
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_DTYPE);
	build(&m); trec(&m, T_DB)[16] = TFP_DTYPE_INT32;          /* bias must be float32 */
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_DTYPE);
	build(&m); trec(&m, T_VAR)[17] = TFP_KIND_FEAT_MEAN;      /* duplicate unique kind */
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_DTYPE);
	build(&m); trec(&m, T_DW)[19] = 1;
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_RESERVED);
	build(&m); trec(&m, T_DW)[18] = 0;
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_SHAPE);
	build(&m); trec(&m, T_DW)[18] = 5;
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_SHAPE);
	build(&m); put32(trec(&m, T_DW) + 28, 2);                /* dim past the rank != 1 */
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_SHAPE);
	build(&m); put32(trec(&m, T_DW) + 20, 0x10000000u);      /* huge element count */
	put32(trec(&m, T_DW) + 24, 0x10);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_LIMIT);
	build(&m); memset(trec(&m, T_DW), 0, 16);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_TEXT);
	build(&m); putf(m.b + le32_at(trec(&m, T_DW) + 36), INFINITY);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_QUANT);
}

static void
test_quant_errors(void **state)
{
	struct img m;
	(void)state;

	build(&m); put16(trec(&m, T_CW) + 44, 0xFFFF);           /* int8 without scales */
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_QUANT);
	build(&m); put16(trec(&m, T_CW) + 44, T_CB);             /* scale ref of wrong kind */
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_QUANT);
	build(&m); put16(trec(&m, T_CW) + 44, 200);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_QUANT);
	build(&m); putf(m.b + le32_at(trec(&m, T_CS) + 36) + 4, 0.0f);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_QUANT);
	build(&m); putf(m.b + le32_at(trec(&m, T_CS) + 36), -1.0f);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_QUANT);
	build(&m); put32(m.b + le32_at(trec(&m, T_CZ) + 36), 200);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_QUANT);
	build(&m); put16(trec(&m, T_DW) + 44, T_CS);             /* float32 with scales */
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_QUANT);
	build(&m); putf(lrec(&m, 0) + 24, -0.5f);                /* negative input scale */
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_QUANT);
	build(&m); put32(lrec(&m, 0) + 28, 300);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_QUANT);
	build(&m); putf(lrec(&m, 3) + 24, 0.5f);                 /* float layer, static scale */
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_QUANT);
}

static void
test_layer_errors(void **state)
{
	struct img m;
	(void)state;

	build(&m); lrec(&m, 1)[0] = 9;
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_LAYER);
	build(&m); lrec(&m, 0)[1] = 5;
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_LAYER);
	build(&m); lrec(&m, 0)[3] = 1;
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_RESERVED);
	build(&m); lrec(&m, 0)[2] = 0x80;
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_RESERVED);
	build(&m); put16(lrec(&m, 0) + 4, T_CB);                  /* weights of kind bias */
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_LAYER);
	build(&m); put16(lrec(&m, 0) + 4, 0xFFFF);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_LAYER);
	build(&m); put16(lrec(&m, 1) + 4, T_CW);                  /* pooling with weights */
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_LAYER);
	build(&m); put16(lrec(&m, 3) + 6, T_CB);                  /* bias of 4 for 3 outputs */
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_SHAPE);
	build(&m); put16(lrec(&m, 0) + 12, 5);                    /* conv out_len wrong */
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_SHAPE);
	build(&m); put16(lrec(&m, 0) + 16, 7);                    /* kernel longer than input */
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_SHAPE);
	build(&m); put16(lrec(&m, 1) + 18, 0);                    /* zero stride */
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_SHAPE);
	build(&m); put16(lrec(&m, 1) + 10, 3);                    /* chain broken */
	put16(lrec(&m, 1) + 14, 3);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_SHAPE);
	build(&m); put16(lrec(&m, 2) + 14, 9);                    /* flatten size wrong */
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_SHAPE);
	build(&m); lrec(&m, 0)[1] = TFP_ACT_SOFTMAX;              /* softmax over [len, ch] */
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_SHAPE);
	build(&m); lrec(&m, 3)[2] = 0;                            /* header names a layer ... */
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_LAYER);
	build(&m); lrec(&m, 0)[2] = TFP_LAYER_TRAINABLE;          /* ... a second is flagged */
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_LAYER);
	build(&m); put16(m.b + 86, 7);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_LAYER);
	build(&m); put16(m.b + 86, 0xFFFF);                       /* none, but one is flagged */
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_LAYER);
	build(&m); trec(&m, T_DW)[16] = TFP_DTYPE_INT32;          /* int32 weights */
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_DTYPE);
	{
		/* An int8 dense layer of 32,769 inputs could overflow the int32 accumulator;
		 * 32,768 is the most allowed. */
		static struct img big;
		for (uint32_t fan = 32768; fan <= 32769; fan++) {
			const uint32_t ws[] = {1, fan}, one[] = {1};
			uint32_t o;
			uint8_t *h = big.b;
			memset(&big, 0, sizeof(big));
			big.data = LT + NL * 32;
			o = tensor(&big, "s", TFP_DTYPE_FLOAT32, TFP_KIND_QSCALE, 1, one, 0xFFFF,
			           0xFFFF);
			putf(big.b + o, 1.0f);
			(void)tensor(&big, "w", TFP_DTYPE_INT8, TFP_KIND_WEIGHT, 2, ws, 0, 0xFFFF);
			layer(&big, TFP_OP_DENSE, 0, 0, 1, 0xFFFF, 1, fan, 1, 1, 0, 0);
			big.len = big.data;
			memcpy(h, "TFMC", 4);
			put16(h + 4, 1);
			put16(h + 6, 128);
			put32(h + 8, (uint32_t)big.len);
			memcpy(h + 16, "big", 3);
			memcpy(h + 48, "1", 1);
			put32(h + 72, 2 * 4 * fan + fan);
			put32(h + 76, (uint32_t)big.len);
			put16(h + 82, 2);
			put16(h + 84, 1);
			put16(h + 86, 0xFFFF);
			put16(h + 88, 1);
			put16(h + 90, fan);
			put16(h + 92, 1);
			put16(h + 94, 1);
			put32(h + 96, TT);
			put32(h + 100, LT);
			assert_int_equal(open_img(&big), fan == 32768 ? 0 : TFP_ERR_CONTAINER_LIMIT);
		}
	}
}

static void
test_section_errors(void **state)
{
	struct img m;
	uint8_t *e;
	(void)state;

	build(&m); put32(trec(&m, T_MEAN) + 20, 1);               /* 1 mean for 2 channels */
	put32(trec(&m, T_MEAN) + 40, 4);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_SHAPE);
	build(&m); putf(m.b + le32_at(trec(&m, T_VAR) + 36), -1.0f);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_SHAPE);
	build(&m); e = m.b + le32_at(trec(&m, T_EDGES) + 36);
	putf(e + 4, -1.0f);                                       /* edges not ascending */
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_SHAPE);
	build(&m); putf(m.b + le32_at(trec(&m, T_FRAC) + 36), 1.5f);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_SHAPE);
	build(&m); put32(trec(&m, T_TIN) + 24, 6);                /* test input width wrong */
	put32(trec(&m, T_TIN) + 40, 48);
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_SHAPE);
	build(&m); m.b[80] = TFP_TASK_ANOMALY;                    /* 3 outputs for 12 inputs */
	assert_int_equal(open_img(&m), TFP_ERR_CONTAINER_SHAPE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_decodes_in_place),
		cmocka_unit_test(test_optional_sections),
		cmocka_unit_test(test_truncation_at_every_byte),
		cmocka_unit_test(test_header_errors),
		cmocka_unit_test(test_tensor_errors),
		cmocka_unit_test(test_quant_errors),
		cmocka_unit_test(test_layer_errors),
		cmocka_unit_test(test_section_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
