/*
 * Test helpers for the device-plane message codecs: sample messages, and a small editor
 * that splits an encoded top-level map into (key, raw value) pairs and joins them back, so
 * malformed-input tests can drop, duplicate, replace or add one field at a time without
 * hand-writing CBOR. Test code only.
 */
#ifndef TF_TESTS_MSG_TESTUTIL_H
#define TF_TESTS_MSG_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "tinyfleet/protocol/msg_chunk.h"
#include "tinyfleet/protocol/msg_command.h"
#include "tinyfleet/protocol/msg_report.h"
#include "tinyfleet/protocol/msg_state.h"

#define MT_MAX_FIELDS 32
#define MT_BUF 32768

struct mt_field {
	uint8_t key[16];      /* raw CBOR of the key */
	size_t key_len;
	const uint8_t *val;   /* raw CBOR of the value (borrowed) */
	size_t val_len;
};

struct mt_map {
	struct mt_field f[MT_MAX_FIELDS];
	size_t n;
};

/* A decoder under test, wrapped to a common shape. */
typedef int (*mt_decode_fn)(const uint8_t *buf, size_t len);

/* Splits the top-level map of msg; aborts the test on failure. */
void mt_split(const uint8_t *msg, size_t len, struct mt_map *m);
/* Joins m into out (a map head with m->n pairs); returns the length. */
size_t mt_join(const struct mt_map *m, uint8_t *out, size_t cap);
/* Index of the field with unsigned key k, or -1. */
int mt_find(const struct mt_map *m, uint64_t k);
/* Sets field k's value to val (adding the field at the end when absent). */
void mt_set(struct mt_map *m, uint64_t k, const uint8_t *val, size_t len);
void mt_del(struct mt_map *m, uint64_t k);

/* Decodes a copy of buf[0..len) in an exact-size heap block (so ASan sees overreads). */
int mt_decode_copy(mt_decode_fn dec, const uint8_t *buf, size_t len);
/* Edits msg with `m` applied and decodes the result. */
int mt_decode_map(mt_decode_fn dec, const struct mt_map *m);

/*
 * The generic strictness checks every decoder must pass on its valid encoding msg:
 * truncation at every byte, a wrong major type for every field, every field duplicated,
 * unknown keys (high, text, negative), every required key dropped, indefinite map and
 * strings, trailing bytes, other message types. `required` is a bitmask of keys.
 */
void mt_check_strict(mt_decode_fn dec, const uint8_t *msg, size_t len, uint32_t required,
                     enum tfp_msg_type own_type);

/* Hex helpers for the committed examples: parse hex text (ignoring '#' comment lines and
 * whitespace) into out; returns length or -1. */
long mt_hex_parse(const char *text, uint8_t *out, size_t cap);
/* Reads a whole file into buf (NUL-terminated); returns length or -1. */
long mt_read_file(const char *path, char *buf, size_t cap);

/* Sample messages with every field set (the ones in schemas/examples). */
void mt_sample_state(struct tfp_state *s);
void mt_sample_update(struct tfp_command *c, enum tfp_fetch fetch);
void mt_sample_rollback(struct tfp_command *c);
void mt_sample_config(struct tfp_command *c);
void mt_sample_chunk_request(struct tfp_chunk_request *q);
void mt_sample_chunk_response(struct tfp_chunk_response *p);
void mt_sample_progress(struct tfp_report *r);
void mt_sample_result_ok(struct tfp_report *r);
void mt_sample_result_fail(struct tfp_report *r);

/* Bytes the samples borrow (a stand-in manifest, chunk data). */
extern const uint8_t mt_manifest[];
extern const size_t mt_manifest_len;
extern const uint8_t mt_chunk_data[];
extern const size_t mt_chunk_data_len;

#endif
