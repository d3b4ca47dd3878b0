/*
 * Bounded CBOR reader and writer over libcbor's streaming decoder and encoders.
 * See tinyfleet/protocol/cbor_io.h for the contract.
 */
#include "tinyfleet/protocol/cbor_io.h"

#include <string.h>

#include <cbor.h>

/* What the libcbor callbacks saw for one item head. */
struct decode_ctx {
	struct tfp_cbor_item *it;
	const uint8_t *end;   /* one past the input, to double-check string bounds */
	int seen;             /* callbacks invoked */
	int err;              /* an error spotted inside a callback */
};

/*
 * libcbor 0.9 changed the length parameters of its callbacks from size_t to uint64_t.
 * The two are the same type on 64-bit hosts but not on a 32-bit MCU (the Cortex-M4
 * firmware build), where a mismatched callback would read the wrong registers.
 */
#if CBOR_MAJOR_VERSION > 0 || CBOR_MINOR_VERSION >= 9
typedef uint64_t cb_len;
#else
typedef size_t cb_len;
#endif

static void
on_uint(void *c, uint64_t v, enum tfp_cbor_type type)
{
	struct decode_ctx *d = c;
	d->it->type = type;
	d->it->u = v;
	d->seen++;
}

static void on_u8(void *c, uint8_t v) { on_uint(c, v, TFP_CBOR_UINT); }
static void on_u16(void *c, uint16_t v) { on_uint(c, v, TFP_CBOR_UINT); }
static void on_u32(void *c, uint32_t v) { on_uint(c, v, TFP_CBOR_UINT); }
static void on_u64(void *c, uint64_t v) { on_uint(c, v, TFP_CBOR_UINT); }
static void on_n8(void *c, uint8_t v) { on_uint(c, v, TFP_CBOR_NEGINT); }
static void on_n16(void *c, uint16_t v) { on_uint(c, v, TFP_CBOR_NEGINT); }
static void on_n32(void *c, uint32_t v) { on_uint(c, v, TFP_CBOR_NEGINT); }
static void on_n64(void *c, uint64_t v) { on_uint(c, v, TFP_CBOR_NEGINT); }
static void on_tag(void *c, uint64_t v) { on_uint(c, v, TFP_CBOR_TAG); }
static void on_array(void *c, cb_len n) { on_uint(c, n, TFP_CBOR_ARRAY); }
static void on_map(void *c, cb_len n) { on_uint(c, n, TFP_CBOR_MAP); }

static void
on_string(void *c, cbor_data p, cb_len len, enum tfp_cbor_type type)
{
	struct decode_ctx *d = c;
	d->it->type = type;
	d->it->ptr = p;
	d->it->len = (size_t)len;   /* only kept when the check below passes */
	/* Defence in depth: never trust a length the library computed with 64-bit sums. */
	if (p > d->end || len > (size_t)(d->end - p))
		d->err = TFP_ERR_TRUNCATED;
	d->seen++;
}

static void on_bytes(void *c, cbor_data p, cb_len len) { on_string(c, p, len, TFP_CBOR_BYTES); }
static void on_text(void *c, cbor_data p, cb_len len) { on_string(c, p, len, TFP_CBOR_TEXT); }

static void
on_indefinite(void *c)
{
	struct decode_ctx *d = c;
	d->err = TFP_ERR_INDEFINITE;
	d->seen++;
}

static void
on_float(void *c, double v)
{
	struct decode_ctx *d = c;
	d->it->type = TFP_CBOR_FLOAT;
	d->it->f = v;
	d->seen++;
}

static void on_f32(void *c, float v) { on_float(c, v); }

static void
on_bool(void *c, bool v)
{
	struct decode_ctx *d = c;
	d->it->type = TFP_CBOR_BOOL;
	d->it->b = v;
	d->seen++;
}

static void
on_null(void *c)
{
	struct decode_ctx *d = c;
	d->it->type = TFP_CBOR_NULL;
	d->seen++;
}

static void
on_undefined(void *c)
{
	struct decode_ctx *d = c;
	d->it->type = TFP_CBOR_UNDEFINED;
	d->seen++;
}

static const struct cbor_callbacks callbacks = {
	.uint8 = on_u8, .uint16 = on_u16, .uint32 = on_u32, .uint64 = on_u64,
	.negint8 = on_n8, .negint16 = on_n16, .negint32 = on_n32, .negint64 = on_n64,
	.byte_string_start = on_indefinite, .byte_string = on_bytes,
	.string = on_text, .string_start = on_indefinite,
	.indef_array_start = on_indefinite, .array_start = on_array,
	.indef_map_start = on_indefinite, .map_start = on_map,
	.tag = on_tag,
	.float2 = on_f32, .float4 = on_f32, .float8 = on_float,
	.undefined = on_undefined, .null = on_null, .boolean = on_bool,
	/* A break outside an indefinite item is not well-formed. */
	.indef_break = on_indefinite,
};

void
tfp_cbor_reader_init(struct tfp_cbor_reader *r, const uint8_t *buf, size_t len)
{
	r->buf = buf;
	r->len = buf != NULL ? len : 0;
	r->pos = 0;
}

static int
decode_head(const struct tfp_cbor_reader *r, struct tfp_cbor_item *it, size_t *used)
{
	struct decode_ctx d = { .it = it, .end = r->buf + r->len };
	struct cbor_decoder_result res;

	if (r->pos >= r->len)
		return TFP_ERR_TRUNCATED;
	memset(it, 0, sizeof(*it));
	it->offset = r->pos;
	/* A break byte (0xff) would be reported through indef_break; decode it the same way. */
	res = cbor_stream_decode(r->buf + r->pos, r->len - r->pos, &callbacks, &d);
	switch (res.status) {
	case CBOR_DECODER_FINISHED:
		break;
	case CBOR_DECODER_NEDATA:
		return TFP_ERR_TRUNCATED;
	default:
		/* libcbor 0.8 follows RFC 7049's list of unassigned tags and refuses the one-byte
		 * heads of tags 6..20 (0xc6..0xd4), which RFC 8949 allows; COSE_Sign1 is tag 18. */
		if (r->buf[r->pos] >= 0xc6 && r->buf[r->pos] <= 0xd4) {
			it->type = TFP_CBOR_TAG;
			it->u = r->buf[r->pos] & 0x1f;
			*used = 1;
			return 0;
		}
		return TFP_ERR_MALFORMED;
	}
	if (d.err != 0)
		return r->buf[r->pos] == 0xff ? TFP_ERR_MALFORMED : d.err;
	if (d.seen != 1 || res.read == 0 || res.read > r->len - r->pos)
		return TFP_ERR_MALFORMED;
	/* Containers and tags cannot hold more items than bytes remain: reject early so
	 * skip counters stay bounded by the input size. */
	if ((it->type == TFP_CBOR_ARRAY || it->type == TFP_CBOR_MAP) &&
	    it->u > (r->len - r->pos - res.read))
		return TFP_ERR_TRUNCATED;
	*used = res.read;
	return 0;
}

int
tfp_cbor_peek(const struct tfp_cbor_reader *r, struct tfp_cbor_item *it)
{
	size_t used;
	return decode_head(r, it, &used);
}

int
tfp_cbor_next(struct tfp_cbor_reader *r, struct tfp_cbor_item *it)
{
	size_t used;
	int rc = decode_head(r, it, &used);
	if (rc == 0)
		r->pos += used;
	return rc;
}

int
tfp_cbor_skip(struct tfp_cbor_reader *r)
{
	struct tfp_cbor_reader saved = *r;
	struct tfp_cbor_item it;
	/* Items still to read; bounded by the input length because every item is >= 1 byte
	 * and decode_head rejects counts larger than the remaining input. */
	uint64_t pending = 1;
	int rc;

	while (pending > 0) {
		if ((rc = tfp_cbor_next(r, &it)) != 0) {
			*r = saved;
			return rc;
		}
		pending--;
		if (it.type == TFP_CBOR_ARRAY || it.type == TFP_CBOR_TAG)
			pending += it.type == TFP_CBOR_TAG ? 1 : it.u;
		else if (it.type == TFP_CBOR_MAP)
			pending += 2 * it.u;
		if (pending > r->len - r->pos) {
			*r = saved;
			return TFP_ERR_TRUNCATED;
		}
	}
	return 0;
}

static int
next_of(struct tfp_cbor_reader *r, struct tfp_cbor_item *it, enum tfp_cbor_type type)
{
	size_t used;
	int rc = decode_head(r, it, &used);
	if (rc != 0)
		return rc;
	if (it->type != type)
		return TFP_ERR_WRONG_TYPE;
	r->pos += used;   /* decoded once: peek and advance */
	return 0;
}

int
tfp_cbor_read_uint(struct tfp_cbor_reader *r, uint64_t *v)
{
	struct tfp_cbor_item it;
	int rc = next_of(r, &it, TFP_CBOR_UINT);
	if (rc == 0)
		*v = it.u;
	return rc;
}

int
tfp_cbor_read_u32(struct tfp_cbor_reader *r, uint32_t *v)
{
	struct tfp_cbor_item it;
	size_t used;
	int rc = decode_head(r, &it, &used);
	if (rc != 0)
		return rc;
	if (it.type != TFP_CBOR_UINT)
		return TFP_ERR_WRONG_TYPE;
	if (it.u > UINT32_MAX)
		return TFP_ERR_RANGE;
	*v = (uint32_t)it.u;
	r->pos += used;   /* decoded once: peek and advance */
	return 0;
}

int
tfp_cbor_read_int(struct tfp_cbor_reader *r, int64_t *v)
{
	struct tfp_cbor_item it;
	size_t used;
	int rc = decode_head(r, &it, &used);
	if (rc != 0)
		return rc;
	if (it.type != TFP_CBOR_UINT && it.type != TFP_CBOR_NEGINT)
		return TFP_ERR_WRONG_TYPE;
	if (it.u > (uint64_t)INT64_MAX)
		return TFP_ERR_RANGE;
	*v = it.type == TFP_CBOR_UINT ? (int64_t)it.u : -1 - (int64_t)it.u;
	r->pos += used;   /* decoded once: peek and advance */
	return 0;
}

int
tfp_cbor_read_bytes(struct tfp_cbor_reader *r, const uint8_t **p, size_t *len)
{
	struct tfp_cbor_item it;
	int rc = next_of(r, &it, TFP_CBOR_BYTES);
	if (rc == 0) {
		*p = it.ptr;
		*len = it.len;
	}
	return rc;
}

int
tfp_cbor_read_text(struct tfp_cbor_reader *r, const char **p, size_t *len)
{
	struct tfp_cbor_item it;
	int rc = next_of(r, &it, TFP_CBOR_TEXT);
	if (rc == 0) {
		*p = (const char *)it.ptr;
		*len = it.len;
	}
	return rc;
}

int
tfp_cbor_read_array(struct tfp_cbor_reader *r, size_t *count)
{
	struct tfp_cbor_item it;
	int rc = next_of(r, &it, TFP_CBOR_ARRAY);
	if (rc == 0)
		*count = (size_t)it.u;
	return rc;
}

int
tfp_cbor_read_map(struct tfp_cbor_reader *r, size_t *count)
{
	struct tfp_cbor_item it;
	int rc = next_of(r, &it, TFP_CBOR_MAP);
	if (rc == 0)
		*count = (size_t)it.u;
	return rc;
}

int
tfp_cbor_read_tag(struct tfp_cbor_reader *r, uint64_t *tag)
{
	struct tfp_cbor_item it;
	int rc = next_of(r, &it, TFP_CBOR_TAG);
	if (rc == 0)
		*tag = it.u;
	return rc;
}

int
tfp_cbor_read_bool(struct tfp_cbor_reader *r, bool *v)
{
	struct tfp_cbor_item it;
	int rc = next_of(r, &it, TFP_CBOR_BOOL);
	if (rc == 0)
		*v = it.b;
	return rc;
}

int
tfp_cbor_read_number(struct tfp_cbor_reader *r, double *v)
{
	struct tfp_cbor_item it;
	size_t used;
	int rc = decode_head(r, &it, &used);
	if (rc != 0)
		return rc;
	switch (it.type) {
	case TFP_CBOR_FLOAT: *v = it.f; break;
	case TFP_CBOR_UINT: *v = (double)it.u; break;
	case TFP_CBOR_NEGINT: *v = -1.0 - (double)it.u; break;
	default: return TFP_ERR_WRONG_TYPE;
	}
	r->pos += used;   /* decoded once: peek and advance */
	return 0;
}

int
tfp_cbor_read_text_into(struct tfp_cbor_reader *r, char *dst, size_t cap)
{
	struct tfp_cbor_item it;
	size_t used;
	int rc = decode_head(r, &it, &used);
	if (rc != 0)
		return rc;
	if (it.type != TFP_CBOR_TEXT)
		return TFP_ERR_WRONG_TYPE;
	if (cap == 0 || it.len > cap - 1)
		return TFP_ERR_OVERSIZE;
	if (it.len > 0 && memchr(it.ptr, 0, it.len) != NULL)
		return TFP_ERR_BAD_TEXT;
	if (it.len > 0)
		memcpy(dst, it.ptr, it.len);
	dst[it.len] = '\0';
	r->pos += used;   /* decoded once: peek and advance */
	return 0;
}

int
tfp_cbor_read_bytes_exact(struct tfp_cbor_reader *r, uint8_t *dst, size_t len)
{
	struct tfp_cbor_item it;
	size_t used;
	int rc = decode_head(r, &it, &used);
	if (rc != 0)
		return rc;
	if (it.type != TFP_CBOR_BYTES)
		return TFP_ERR_WRONG_TYPE;
	if (it.len != len)
		return TFP_ERR_OVERSIZE;
	if (len > 0)
		memcpy(dst, it.ptr, len);
	r->pos += used;   /* decoded once: peek and advance */
	return 0;
}

int
tfp_cbor_expect_end(const struct tfp_cbor_reader *r)
{
	return r->pos == r->len ? 0 : TFP_ERR_TRAILING;
}

/* ---- writer ---- */

void
tfp_cbor_writer_init(struct tfp_cbor_writer *w, uint8_t *buf, size_t cap)
{
	w->buf = buf;
	w->cap = buf != NULL ? cap : 0;
	w->need = 0;
}

/* Bytes a head with argument v takes (RFC 8949 §3). */
static size_t
head_size(uint64_t v)
{
	if (v < 24)
		return 1;
	if (v <= UINT8_MAX)
		return 2;
	if (v <= UINT16_MAX)
		return 3;
	if (v <= UINT32_MAX)
		return 5;
	return 9;
}

/* Room left for an item of n bytes, or NULL once the writer has overflowed. */
static uint8_t *
room(struct tfp_cbor_writer *w, size_t n)
{
	uint8_t *p = NULL;
	if (w->need <= w->cap && n <= w->cap - w->need)
		p = w->buf + w->need;
	w->need += n;
	return p;
}

typedef size_t (*head_encoder)(uint64_t, unsigned char *, size_t);

static void
put_head(struct tfp_cbor_writer *w, head_encoder enc, uint64_t v)
{
	size_t n = head_size(v);
	uint8_t *p = room(w, n);
	if (p != NULL && enc(v, p, n) != n)
		w->need = SIZE_MAX;   /* cannot happen; make finish() fail loudly if it does */
}

static size_t enc_uint(uint64_t v, unsigned char *p, size_t n) { return cbor_encode_uint(v, p, n); }
static size_t enc_negint(uint64_t v, unsigned char *p, size_t n) { return cbor_encode_negint(v, p, n); }
static size_t enc_bstr(uint64_t v, unsigned char *p, size_t n) { return cbor_encode_bytestring_start((size_t)v, p, n); }
static size_t enc_tstr(uint64_t v, unsigned char *p, size_t n) { return cbor_encode_string_start((size_t)v, p, n); }
static size_t enc_array(uint64_t v, unsigned char *p, size_t n) { return cbor_encode_array_start((size_t)v, p, n); }
static size_t enc_map(uint64_t v, unsigned char *p, size_t n) { return cbor_encode_map_start((size_t)v, p, n); }
static size_t enc_tag(uint64_t v, unsigned char *p, size_t n) { return cbor_encode_tag(v, p, n); }

void tfp_cbor_put_uint(struct tfp_cbor_writer *w, uint64_t v) { put_head(w, enc_uint, v); }
void tfp_cbor_put_array(struct tfp_cbor_writer *w, size_t count) { put_head(w, enc_array, count); }
void tfp_cbor_put_map(struct tfp_cbor_writer *w, size_t count) { put_head(w, enc_map, count); }
void tfp_cbor_put_tag(struct tfp_cbor_writer *w, uint64_t tag) { put_head(w, enc_tag, tag); }

void
tfp_cbor_put_int(struct tfp_cbor_writer *w, int64_t v)
{
	if (v >= 0)
		put_head(w, enc_uint, (uint64_t)v);
	else
		put_head(w, enc_negint, (uint64_t)(-1 - v));
}

static void
put_string(struct tfp_cbor_writer *w, head_encoder enc, const void *p, size_t len)
{
	uint8_t *dst;
	put_head(w, enc, len);
	dst = room(w, len);
	if (dst != NULL && len > 0)
		memcpy(dst, p, len);
}

void
tfp_cbor_put_bytes(struct tfp_cbor_writer *w, const uint8_t *p, size_t len)
{
	put_string(w, enc_bstr, p, len);
}

void
tfp_cbor_put_text(struct tfp_cbor_writer *w, const char *p, size_t len)
{
	put_string(w, enc_tstr, p, len);
}

void
tfp_cbor_put_textz(struct tfp_cbor_writer *w, const char *s)
{
	put_string(w, enc_tstr, s, strlen(s));
}

void
tfp_cbor_put_bool(struct tfp_cbor_writer *w, bool v)
{
	uint8_t *p = room(w, 1);
	/* room() reserved the bytes; libcbor >= 0.9 insists that results are read. */
	if (p != NULL && cbor_encode_bool(v, p, 1) != 1)
		w->need = SIZE_MAX;
}

void
tfp_cbor_put_null(struct tfp_cbor_writer *w)
{
	uint8_t *p = room(w, 1);
	if (p != NULL && cbor_encode_null(p, 1) != 1)
		w->need = SIZE_MAX;
}

void
tfp_cbor_put_float(struct tfp_cbor_writer *w, double v)
{
	float f = (float)v;
	uint8_t *p;
	/* NaN compares unequal to itself; single precision carries a NaN just as well. */
	if ((double)f == v || v != v) {
		if ((p = room(w, 5)) != NULL && cbor_encode_single(f, p, 5) != 5)
			w->need = SIZE_MAX;
	} else if ((p = room(w, 9)) != NULL && cbor_encode_double(v, p, 9) != 9) {
		w->need = SIZE_MAX;
	}
}

int
tfp_cbor_writer_finish(const struct tfp_cbor_writer *w, size_t *len)
{
	*len = w->need;
	return w->need <= w->cap ? 0 : TFP_ERR_BUFFER;
}
