/*
 * A small container writer for the agent's tests (format: protocol/CONTAINER.md), so
 * tests can build models with exactly the weights they reason about. Header-only, static
 * functions; no stats or test vectors unless added as tensors of those kinds.
 */
#ifndef LEARN_TEST_UTIL_H
#define LEARN_TEST_UTIL_H

#include <stdint.h>
#include <string.h>

#include "tinyfleet/protocol/container.h"

#ifndef TB_MAX
#define TB_MAX 8192
#endif

struct tb {
	uint8_t img[TB_MAX] __attribute__((aligned(16)));
	uint8_t data[TB_MAX];
	uint32_t data_len;
	uint8_t trec[16][48];
	uint8_t lrec[8][32];
	unsigned nt, nl;
	unsigned in_len, in_ch, out_len, out_ch, update;
	int task;
	size_t len;
};

static inline void
tb_put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void
tb_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void
tb_init(struct tb *b, int task, unsigned in_len, unsigned in_ch)
{
	memset(b, 0, sizeof(*b));
	b->task = task;
	b->in_len = in_len;
	b->in_ch = in_ch;
	b->update = 0xFFFF;
}

/* Adds a tensor; values are float (converted for int8/int32 dtypes). Returns its index. */
static inline unsigned
tb_tensor(struct tb *b, const char *name, int dtype, int kind, unsigned rank,
          const uint32_t *shape, const float *values, unsigned scale, unsigned zero)
{
	uint8_t *r = b->trec[b->nt];
	uint32_t count = 1;

	memset(r, 0, 48);
	memcpy(r, name, strlen(name));
	r[16] = (uint8_t)dtype;
	r[17] = (uint8_t)kind;
	r[18] = (uint8_t)rank;
	for (unsigned d = 0; d < 4; d++) {
		uint32_t v = d < rank ? shape[d] : 1;
		tb_put32(r + 20 + 4 * d, v);
		count *= v;
	}
	tb_put32(r + 36, b->data_len);   /* relative; fixed up in tb_finish */
	for (uint32_t i = 0; i < count; i++) {
		if (dtype == TFP_DTYPE_INT8) {
			b->data[b->data_len + i] = (uint8_t)(int8_t)values[i];
		} else if (dtype == TFP_DTYPE_INT32) {
			tb_put32(b->data + b->data_len + 4 * i, (uint32_t)(int32_t)values[i]);
		} else {
			uint32_t u;
			memcpy(&u, &values[i], 4);
			tb_put32(b->data + b->data_len + 4 * i, u);
		}
	}
	count *= dtype == TFP_DTYPE_INT8 ? 1 : 4;
	tb_put32(r + 40, count);
	tb_put16(r + 44, scale);
	tb_put16(r + 46, zero);
	b->data_len += (count + 3) & ~3u;
	return b->nt++;
}

static inline void
tb_layer(struct tb *b, int op, int act, unsigned w, unsigned bias, unsigned il, unsigned ic,
         unsigned ol, unsigned oc, unsigned k, unsigned s, float in_scale, int in_zero)
{
	uint8_t *r = b->lrec[b->nl];
	uint32_t u;

	memset(r, 0, 32);
	r[0] = (uint8_t)op;
	r[1] = (uint8_t)act;
	tb_put16(r + 4, w);
	tb_put16(r + 6, bias);
	tb_put16(r + 8, il);
	tb_put16(r + 10, ic);
	tb_put16(r + 12, ol);
	tb_put16(r + 14, oc);
	tb_put16(r + 16, k);
	tb_put16(r + 18, s);
	memcpy(&u, &in_scale, 4);
	tb_put32(r + 24, u);
	tb_put32(r + 28, (uint32_t)in_zero);
	b->out_len = ol;
	b->out_ch = oc;
	b->nl++;
}

/* Marks the last layer as the update layer. */
static inline void
tb_trainable(struct tb *b)
{
	b->lrec[b->nl - 1][2] = TFP_LAYER_TRAINABLE;
	b->update = b->nl - 1;
}

static inline size_t
tb_finish(struct tb *b, float tolerance)
{
	uint8_t *h = b->img;
	uint32_t tt = 128, lt = tt + 48 * b->nt, d0 = lt + 32 * b->nl;
	uint32_t u;

	memset(b->img, 0, sizeof(b->img));
	memcpy(h, "TFMC", 4);
	tb_put16(h + 4, 1);
	tb_put16(h + 6, 128);
	b->len = d0 + b->data_len;
	tb_put32(h + 8, (uint32_t)b->len);
	memcpy(h + 16, "test-model", 10);
	memcpy(h + 48, "0.0.1", 5);
	tb_put32(h + 72, 1u << 16);
	tb_put32(h + 76, (uint32_t)b->len);
	h[80] = (uint8_t)b->task;
	tb_put16(h + 82, b->nt);
	tb_put16(h + 84, b->nl);
	tb_put16(h + 86, b->update);
	tb_put16(h + 88, b->in_len);
	tb_put16(h + 90, b->in_ch);
	tb_put16(h + 92, b->out_len);
	tb_put16(h + 94, b->out_ch);
	tb_put32(h + 96, tt);
	tb_put32(h + 100, lt);
	memcpy(&u, &tolerance, 4);
	tb_put32(h + 104, u);
	for (unsigned i = 0; i < b->nt; i++) {
		uint8_t *r = h + tt + 48 * i;
		uint32_t off;
		memcpy(r, b->trec[i], 48);
		off = (uint32_t)r[36] | ((uint32_t)r[37] << 8) | ((uint32_t)r[38] << 16) |
		      ((uint32_t)r[39] << 24);
		tb_put32(r + 36, off + d0);   /* records keep offsets relative to the data */
	}
	for (unsigned i = 0; i < b->nl; i++)
		memcpy(h + lt + 32 * i, b->lrec[i], 32);
	memcpy(h + d0, b->data, b->data_len);
	return b->len;
}

#endif
