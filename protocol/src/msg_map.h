/*
 * Private helpers shared by the device-plane message codecs (msg_*.c): walking a strict
 * CBOR map with small unsigned integer keys, and checking identifier strings.
 *
 * A strict map allows only keys 0..31 named in an `allowed` bitmask, each at most once; the
 * keys seen are collected in a bitmask so the caller checks required keys in one step.
 */
#ifndef TINYFLEET_PROTOCOL_MSG_MAP_H
#define TINYFLEET_PROTOCOL_MSG_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tinyfleet/protocol/cbor_io.h"
#include "tinyfleet/protocol/msg_type.h"

#define TFP__BIT(k) (UINT32_C(1) << (k))

struct tfp__map {
	struct tfp_cbor_reader *r;
	size_t left;        /* pairs not read yet */
	uint32_t allowed;   /* keys this map defines */
	uint32_t seen;      /* keys read so far */
};

/* Reads a map head (TFP_ERR_WRONG_TYPE if the next item is not a map). */
int tfp__map_open(struct tfp__map *m, struct tfp_cbor_reader *r, uint32_t allowed);

/*
 * Reads the next key: returns 1 and sets *key (the caller then reads the value), 0 when the
 * map has no more pairs, or an error: TFP_ERR_UNKNOWN_FIELD for a key that is not an
 * unsigned integer in `allowed`, TFP_ERR_DUPLICATE_FIELD for a key seen before, or a
 * reader error (truncated, indefinite, malformed).
 */
int tfp__map_next(struct tfp__map *m, unsigned *key);

/* TFP_ERR_MISSING_FIELD unless every key in `required` was seen. */
int tfp__map_require(const struct tfp__map *m, uint32_t required);

/*
 * Opens a typed message: a map whose first key is 0 with a type value in `types` (a
 * bitmask of TFP__BIT(enum tfp_msg_type)). On success *type is set, key 0 is marked seen
 * and the caller goes on with tfp__map_next. `allowed` must include bit 0.
 */
int tfp__msg_open(struct tfp__map *m, struct tfp_cbor_reader *r, uint32_t types,
                  enum tfp_msg_type *type, uint32_t allowed);

/* Typed value reads. Each leaves the reader where it was on error. */
/* An identifier (class, model, version, sensor): 1..cap-1 bytes of printable ASCII without
 * spaces (0x21..0x7e); TFP_ERR_BAD_TEXT otherwise. */
int tfp__read_ident(struct tfp_cbor_reader *r, char *dst, size_t cap);
/* A device id: 1..cap-1 bytes of [A-Za-z0-9._-]; TFP_ERR_BAD_TEXT otherwise. */
int tfp__read_device_id(struct tfp_cbor_reader *r, char *dst, size_t cap);
/* An enum value as uint in 0..max: TFP_ERR_RANGE above max. */
int tfp__read_enum(struct tfp_cbor_reader *r, unsigned max, unsigned *v);
/* A float stored in single precision; integers accepted. TFP_ERR_RANGE when the value is
 * not finite or lies outside [lo, hi]. */
int tfp__read_float(struct tfp_cbor_reader *r, float lo, float hi, float *v);

/* Encoder-side checks of the same rules: true when s (a NUL-terminated string inside an
 * array of cap bytes) is acceptable. */
bool tfp__ident_ok(const char *s, size_t cap);
bool tfp__device_id_ok(const char *s, size_t cap);

#endif
