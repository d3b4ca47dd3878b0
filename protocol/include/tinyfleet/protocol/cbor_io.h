/*
 * Bounded CBOR reading and writing over caller-owned buffers.
 *
 * A thin layer over libcbor's allocation-free parts (the streaming decoder and the
 * cbor_encode_* functions) that every message codec of the protocol uses, so decoders walk
 * untrusted input as a pull iterator without malloc or recursion, and encoders never
 * overrun and can tell how many bytes they would have needed.
 *
 * Wire profile enforced by the reader: definite lengths only (indefinite items give
 * TFP_ERR_INDEFINITE); a declared length or count larger than the rest of the input gives
 * TFP_ERR_TRUNCATED. Map-level policy (duplicates, unknown keys) belongs to each decoder.
 *
 * Threads: none of these functions keep global state; a reader or writer belongs to one
 * caller at a time.
 */
#ifndef TINYFLEET_PROTOCOL_CBOR_IO_H
#define TINYFLEET_PROTOCOL_CBOR_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tinyfleet/protocol/error.h"

#ifdef __cplusplus
extern "C" {
#endif

enum tfp_cbor_type {
	TFP_CBOR_UINT,
	TFP_CBOR_NEGINT,
	TFP_CBOR_BYTES,
	TFP_CBOR_TEXT,
	TFP_CBOR_ARRAY,
	TFP_CBOR_MAP,
	TFP_CBOR_TAG,
	TFP_CBOR_FLOAT,
	TFP_CBOR_BOOL,
	TFP_CBOR_NULL,
	TFP_CBOR_UNDEFINED,
};

/* One decoded item head. For strings, ptr/len borrow the reader's input buffer and stay
 * valid as long as that buffer does. */
struct tfp_cbor_item {
	enum tfp_cbor_type type;
	uint64_t u;           /* UINT value; NEGINT n where the value is -1 - n;
	                         ARRAY/MAP item/pair count; TAG number */
	double f;             /* FLOAT value (half, single and double all widen to double) */
	bool b;               /* BOOL value */
	const uint8_t *ptr;   /* BYTES/TEXT content */
	size_t len;           /* BYTES/TEXT content length */
	size_t offset;        /* offset of the item's first byte in the input */
};

struct tfp_cbor_reader {
	const uint8_t *buf;
	size_t len;
	size_t pos;           /* offset of the next unread byte */
};

void tfp_cbor_reader_init(struct tfp_cbor_reader *r, const uint8_t *buf, size_t len);

/* Reads the next item head (and a string's content). Returns 0, TFP_ERR_TRUNCATED,
 * TFP_ERR_MALFORMED or TFP_ERR_INDEFINITE; on error the reader does not advance. */
int tfp_cbor_next(struct tfp_cbor_reader *r, struct tfp_cbor_item *it);

/* Like tfp_cbor_next without advancing. */
int tfp_cbor_peek(const struct tfp_cbor_reader *r, struct tfp_cbor_item *it);

/* Skips one complete item, including everything nested in it, without recursion. */
int tfp_cbor_skip(struct tfp_cbor_reader *r);

/* Typed reads: TFP_ERR_WRONG_TYPE when the next item is of another type (the reader does
 * not advance then), TFP_ERR_RANGE when an integer does not fit the target. */
int tfp_cbor_read_uint(struct tfp_cbor_reader *r, uint64_t *v);
int tfp_cbor_read_u32(struct tfp_cbor_reader *r, uint32_t *v);
int tfp_cbor_read_int(struct tfp_cbor_reader *r, int64_t *v);       /* UINT or NEGINT */
int tfp_cbor_read_bytes(struct tfp_cbor_reader *r, const uint8_t **p, size_t *len);
int tfp_cbor_read_text(struct tfp_cbor_reader *r, const char **p, size_t *len);
int tfp_cbor_read_array(struct tfp_cbor_reader *r, size_t *count);
int tfp_cbor_read_map(struct tfp_cbor_reader *r, size_t *count);
int tfp_cbor_read_tag(struct tfp_cbor_reader *r, uint64_t *tag);
int tfp_cbor_read_bool(struct tfp_cbor_reader *r, bool *v);
/* Accepts FLOAT and, for convenience of senders, UINT/NEGINT. */
int tfp_cbor_read_number(struct tfp_cbor_reader *r, double *v);

/* Copies a text item into dst as a NUL-terminated string. TFP_ERR_OVERSIZE when it needs
 * more than cap - 1 bytes, TFP_ERR_BAD_TEXT when it contains a NUL byte. */
int tfp_cbor_read_text_into(struct tfp_cbor_reader *r, char *dst, size_t cap);

/* Reads a byte string of exactly `len` bytes into dst: TFP_ERR_OVERSIZE otherwise. */
int tfp_cbor_read_bytes_exact(struct tfp_cbor_reader *r, uint8_t *dst, size_t len);

/* 0 when the reader consumed its whole input, TFP_ERR_TRAILING otherwise. */
int tfp_cbor_expect_end(const struct tfp_cbor_reader *r);

/*
 * Writer. Each put appends one item; when the buffer is too small nothing more is written
 * but `need` keeps counting, so a caller can learn the size it must provide.
 */
struct tfp_cbor_writer {
	uint8_t *buf;
	size_t cap;
	size_t need;          /* bytes the items so far take (may exceed cap) */
};

void tfp_cbor_writer_init(struct tfp_cbor_writer *w, uint8_t *buf, size_t cap);
void tfp_cbor_put_uint(struct tfp_cbor_writer *w, uint64_t v);
void tfp_cbor_put_int(struct tfp_cbor_writer *w, int64_t v);
void tfp_cbor_put_bytes(struct tfp_cbor_writer *w, const uint8_t *p, size_t len);
void tfp_cbor_put_text(struct tfp_cbor_writer *w, const char *p, size_t len);
void tfp_cbor_put_textz(struct tfp_cbor_writer *w, const char *s);
void tfp_cbor_put_array(struct tfp_cbor_writer *w, size_t count);
void tfp_cbor_put_map(struct tfp_cbor_writer *w, size_t count);
void tfp_cbor_put_tag(struct tfp_cbor_writer *w, uint64_t tag);
void tfp_cbor_put_bool(struct tfp_cbor_writer *w, bool v);
void tfp_cbor_put_null(struct tfp_cbor_writer *w);
/* Shortest of single or double precision that represents v exactly. */
void tfp_cbor_put_float(struct tfp_cbor_writer *w, double v);

/* 0 and *len = bytes written, or TFP_ERR_BUFFER and *len = bytes needed. */
int tfp_cbor_writer_finish(const struct tfp_cbor_writer *w, size_t *len);

#ifdef __cplusplus
}
#endif

#endif
