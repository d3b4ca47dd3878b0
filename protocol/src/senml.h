/*
 * Generic SenML-CBOR (RFC 8428) records: a record writer and a resolving pull reader.
 *
 * Private to the protocol library; tinyfleet's record set lives in telemetry.c on top of
 * this. Neither part allocates: the writer appends to a tfp_cbor_writer, the reader walks
 * the caller's input and resolves each record into its own fixed buffers.
 *
 * What the reader enforces (RFC 8428 §4 and §6, plus the tinyfleet wire profile):
 *   - the pack is a definite-length array of definite-length maps (TFP_ERR_WRONG_TYPE for
 *     another type, TFP_ERR_INDEFINITE, TFP_ERR_TRUNCATED from cbor_io);
 *   - map keys are the integer labels of RFC 8428 Table 4 (bver -1 ... vd 8, bs -6) or
 *     text labels. §6 says the integer table is conclusive (extensions use text labels), so
 *     another integer label is TFP_ERR_UNKNOWN_FIELD. A text label ending in '_' is
 *     must-understand (§4.4) and none is understood here: TFP_ERR_UNKNOWN_FIELD. Other text
 *     labels are skipped and counted in `ignored_labels`;
 *   - a label (integer or text) twice in one record: TFP_ERR_DUPLICATE_FIELD;
 *   - each label's value has its type (text for bn/bu/n/u/vs, number for bt/bv/bs/v/s/t/ut,
 *     bool for vb, bytes for vd, unsigned for bver): TFP_ERR_WRONG_TYPE otherwise;
 *   - numbers are finite: TFP_ERR_RANGE for NaN or an infinity;
 *   - at most one of v, vs, vb, vd: TFP_ERR_SENML_VALUE;
 *   - bver, when present, is at most 10 (§4.4: a reader must not use a pack of a later
 *     version): TFP_ERR_SENML_BASE;
 *   - the resolved name (bn + n) is not empty, starts with a letter or digit and uses only
 *     A-Z a-z 0-9 - : . / _ (§4.5.1): TFP_ERR_SENML_NAME; longer than TFP__SENML_NAME_MAX:
 *     TFP_ERR_OVERSIZE.
 * Resolution (§4.6): name = bn + n, time = bt + t, unit = u or else bu, value = bv + v,
 * sum = bs + s; base fields apply to their record and every later one until changed.
 */
#ifndef TINYFLEET_PROTOCOL_SENML_H
#define TINYFLEET_PROTOCOL_SENML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tinyfleet/protocol/cbor_io.h"

/* RFC 8428 Table 4: CBOR integer labels. */
enum tfp__senml_label {
	TFP__SENML_BS = -6,
	TFP__SENML_BV = -5,
	TFP__SENML_BU = -4,
	TFP__SENML_BT = -3,
	TFP__SENML_BN = -2,
	TFP__SENML_BVER = -1,
	TFP__SENML_N = 0,
	TFP__SENML_U = 1,
	TFP__SENML_V = 2,
	TFP__SENML_VS = 3,
	TFP__SENML_VB = 4,
	TFP__SENML_S = 5,
	TFP__SENML_T = 6,
	TFP__SENML_UT = 7,
	TFP__SENML_VD = 8,
};

#define TFP__SENML_VERSION 10         /* the SenML version RFC 8428 defines */
#define TFP__SENML_NAME_MAX 160       /* resolved name, bytes */
#define TFP__SENML_UNIT_MAX 16        /* unit text, bytes */
#define TFP__SENML_LABELS_MAX 16      /* pairs in one record map */
#define TFP__SENML_RECORDS_MAX 255    /* records in one pack */

enum tfp__senml_kind {
	TFP__SENML_NONE,      /* no value field */
	TFP__SENML_NUM,       /* v */
	TFP__SENML_UINT,      /* v written as a CBOR unsigned integer (writer only) */
	TFP__SENML_STR,       /* vs */
	TFP__SENML_BOOL,      /* vb */
	TFP__SENML_DATA,      /* vd */
};

/* One record to write. NULL strings and false has_* flags leave a field out. */
struct tfp__senml_out {
	const char *bn;
	bool has_bt;
	double bt;            /* written as an integer when it is one */
	const char *n;
	const char *u;
	enum tfp__senml_kind kind;
	double v;             /* NUM */
	uint64_t uv;          /* UINT */
	bool vb;              /* BOOL */
	const char *vs;       /* STR */
};

/* Appends one record map. Values must be finite; the caller checks. */
void tfp__senml_put(struct tfp_cbor_writer *w, const struct tfp__senml_out *rec);

/* Bytes tfp__senml_put would write for rec. */
size_t tfp__senml_size(const struct tfp__senml_out *rec);

/* One resolved record. name and unit point into the reader (valid until its next call);
 * vs borrows the input buffer. */
struct tfp__senml_rec {
	const char *name;     /* NUL-terminated */
	size_t name_len;
	const char *unit;     /* "" when neither u nor bu applies */
	double time;          /* bt + t */
	enum tfp__senml_kind kind;            /* NONE, NUM, STR, BOOL or DATA */
	double v;             /* NUM: bv + v */
	bool vb;
	const uint8_t *vs;    /* STR (UTF-8, not NUL-terminated) or DATA */
	size_t vs_len;
	bool has_sum;
	double sum;           /* bs + s */
	bool has_bn;          /* this record carried bn */
};

struct tfp__senml_reader {
	struct tfp_cbor_reader r;
	size_t left;          /* records not yet read */
	size_t index;         /* records read so far */
	/* bn in name[0 .. bn_len); each record's resolved name is bn + n in the same buffer,
	 * so bn is copied only when a record sets it. */
	char name[TFP__SENML_NAME_MAX + 1];
	size_t bn_len;
	size_t bn_sets;       /* records that carried bn so far */
	bool bn_chars;        /* bn holds name characters only (checked once, when set) */
	char bu[TFP__SENML_UNIT_MAX + 1];
	char u[TFP__SENML_UNIT_MAX + 1];      /* the current record's own unit */
	double bt, bv, bs;
	size_t ignored_labels;   /* text labels skipped (extensions not understood) */
};

/* Reads the pack's array head. TFP_ERR_OVERSIZE above TFP__SENML_RECORDS_MAX records. */
int tfp__senml_begin(struct tfp__senml_reader *sr, const uint8_t *buf, size_t len);

/* MCUboot-style iterator: <0 error, 0 a record in *rec, 1 end of pack (and of input:
 * trailing bytes give TFP_ERR_TRAILING). After an error the reader must not be used. */
int tfp__senml_next(struct tfp__senml_reader *sr, struct tfp__senml_rec *rec);

/* True when s[0..len) is a valid SenML name fragment by §4.5.1's character set. */
bool tfp__senml_name_chars(const char *s, size_t len);

#endif
