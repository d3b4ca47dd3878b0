/*
 * SenML-CBOR (RFC 8428) record writer and resolving reader. See senml.h for the rules.
 */
#include "senml.h"

#include <math.h>
#include <string.h>

/* ---- writer ---- */

/* Integers in [-2^53, 2^53] are exact in a double; write them as CBOR integers, which
 * RFC 8428 §6 allows for any number field and which take 1..9 bytes instead of 5 or 9. */
static void
put_number(struct tfp_cbor_writer *w, double v)
{
	if (v >= -9007199254740992.0 && v <= 9007199254740992.0 && (double)(int64_t)v == v)
		tfp_cbor_put_int(w, (int64_t)v);
	else
		tfp_cbor_put_float(w, v);
}

void
tfp__senml_put(struct tfp_cbor_writer *w, const struct tfp__senml_out *rec)
{
	size_t pairs = (rec->bn != NULL) + rec->has_bt + (rec->n != NULL) + (rec->u != NULL) +
	               (rec->kind != TFP__SENML_NONE);

	/* Base fields first, as in RFC 8428's examples; a reader must not depend on order. */
	tfp_cbor_put_map(w, pairs);
	if (rec->bn != NULL) {
		tfp_cbor_put_int(w, TFP__SENML_BN);
		tfp_cbor_put_textz(w, rec->bn);
	}
	if (rec->has_bt) {
		tfp_cbor_put_int(w, TFP__SENML_BT);
		put_number(w, rec->bt);
	}
	if (rec->n != NULL) {
		tfp_cbor_put_int(w, TFP__SENML_N);
		tfp_cbor_put_textz(w, rec->n);
	}
	if (rec->u != NULL) {
		tfp_cbor_put_int(w, TFP__SENML_U);
		tfp_cbor_put_textz(w, rec->u);
	}
	switch (rec->kind) {
	case TFP__SENML_NUM:
		tfp_cbor_put_int(w, TFP__SENML_V);
		put_number(w, rec->v);
		break;
	case TFP__SENML_UINT:
		tfp_cbor_put_int(w, TFP__SENML_V);
		tfp_cbor_put_uint(w, rec->uv);
		break;
	case TFP__SENML_BOOL:
		tfp_cbor_put_int(w, TFP__SENML_VB);
		tfp_cbor_put_bool(w, rec->vb);
		break;
	case TFP__SENML_STR:
		tfp_cbor_put_int(w, TFP__SENML_VS);
		tfp_cbor_put_textz(w, rec->vs);
		break;
	case TFP__SENML_NONE:
	case TFP__SENML_DATA:
		/* DATA is read-only here; the map count above excludes NONE. */
		break;
	}
}

size_t
tfp__senml_size(const struct tfp__senml_out *rec)
{
	struct tfp_cbor_writer w;
	size_t len;

	tfp_cbor_writer_init(&w, NULL, 0);
	tfp__senml_put(&w, rec);
	(void)tfp_cbor_writer_finish(&w, &len);
	return len;
}

/* ---- reader ---- */

/* RFC 8428 §4.5.1's name characters, A-Z a-z 0-9 - : . / _, as a table: the check runs
 * over every byte of every record name the gateway ingests. */
#define NC_DIGITS ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, \
	['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1
#define NC_UPPER ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, \
	['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, \
	['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, \
	['X'] = 1, ['Y'] = 1, ['Z'] = 1
#define NC_LOWER ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, \
	['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, \
	['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, \
	['x'] = 1, ['y'] = 1, ['z'] = 1
static const uint8_t name_char[256] = {
	NC_DIGITS, NC_UPPER, NC_LOWER, ['-'] = 1, [':'] = 1, ['.'] = 1, ['/'] = 1, ['_'] = 1,
};

bool
tfp__senml_name_chars(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!name_char[(uint8_t)s[i]])
			return false;
	return true;
}

int
tfp__senml_begin(struct tfp__senml_reader *sr, const uint8_t *buf, size_t len)
{
	size_t count;
	int rc;

	memset(sr, 0, sizeof(*sr));
	tfp_cbor_reader_init(&sr->r, buf, len);
	sr->bn_chars = true;
	if ((rc = tfp_cbor_read_array(&sr->r, &count)) != 0)
		return rc;
	if (count > TFP__SENML_RECORDS_MAX)
		return TFP_ERR_OVERSIZE;
	sr->left = count;
	return 0;
}

static int
read_finite(struct tfp_cbor_reader *r, double *v)
{
	int rc = tfp_cbor_read_number(r, v);
	if (rc == 0 && !isfinite(*v))
		rc = TFP_ERR_RANGE;
	return rc;
}

/* Reads a text value of at most cap - 1 bytes into dst (NUL-terminated). */
static int
read_short_text(struct tfp_cbor_reader *r, char *dst, size_t cap, size_t *len)
{
	const char *p;
	size_t n;
	int rc;

	if ((rc = tfp_cbor_read_text(r, &p, &n)) != 0)
		return rc;
	if (n > cap - 1)
		return TFP_ERR_OVERSIZE;
	if (n > 0 && memchr(p, 0, n) != NULL)
		return TFP_ERR_BAD_TEXT;
	if (n > 0)
		memcpy(dst, p, n);
	dst[n] = '\0';
	if (len != NULL)
		*len = n;
	return 0;
}

/* The record's own (non-base) fields while its map is read. */
struct fields {
	const char *n;
	size_t n_len;
	bool has_u;           /* in sr->u */
	double t, v, s;
	bool has_s;
	int values;           /* how many of v, vs, vb, vd */
};

static int
read_label(struct tfp__senml_reader *sr, struct tfp__senml_rec *rec, struct fields *f,
           int64_t label)
{
	struct tfp_cbor_reader *r = &sr->r;
	const char *p;
	size_t n;
	uint64_t u;
	double d;
	int rc;

	switch (label) {
	case TFP__SENML_BVER:
		if ((rc = tfp_cbor_read_uint(r, &u)) != 0)
			return rc;
		return u > TFP__SENML_VERSION ? TFP_ERR_SENML_BASE : 0;
	case TFP__SENML_BN:
		rec->has_bn = true;
		if ((rc = read_short_text(r, sr->name, sizeof(sr->name), &sr->bn_len)) != 0)
			return rc;
		sr->bn_sets++;
		sr->bn_chars = tfp__senml_name_chars(sr->name, sr->bn_len);
		return 0;
	case TFP__SENML_BT:
		return read_finite(r, &sr->bt);
	case TFP__SENML_BU:
		return read_short_text(r, sr->bu, sizeof(sr->bu), NULL);
	case TFP__SENML_BV:
		return read_finite(r, &sr->bv);
	case TFP__SENML_BS:
		return read_finite(r, &sr->bs);
	case TFP__SENML_N:
		if ((rc = tfp_cbor_read_text(r, &p, &n)) != 0)
			return rc;
		f->n = p;
		f->n_len = n;
		return 0;
	case TFP__SENML_U:
		f->has_u = true;
		return read_short_text(r, sr->u, sizeof(sr->u), NULL);
	case TFP__SENML_V:
		f->values++;
		rec->kind = TFP__SENML_NUM;
		return read_finite(r, &f->v);
	case TFP__SENML_VS:
		f->values++;
		rec->kind = TFP__SENML_STR;
		if ((rc = tfp_cbor_read_text(r, &p, &n)) != 0)
			return rc;
		rec->vs = (const uint8_t *)p;
		rec->vs_len = n;
		return 0;
	case TFP__SENML_VB:
		f->values++;
		rec->kind = TFP__SENML_BOOL;
		return tfp_cbor_read_bool(r, &rec->vb);
	case TFP__SENML_VD:
		f->values++;
		rec->kind = TFP__SENML_DATA;
		return tfp_cbor_read_bytes(r, &rec->vs, &rec->vs_len);
	case TFP__SENML_S:
		f->has_s = true;
		return read_finite(r, &f->s);
	case TFP__SENML_T:
		return read_finite(r, &f->t);
	case TFP__SENML_UT:
		return read_finite(r, &d);
	}
	return TFP_ERR_UNKNOWN_FIELD;
}

int
tfp__senml_next(struct tfp__senml_reader *sr, struct tfp__senml_rec *rec)
{
	struct fields f;
	struct tfp_cbor_item key;
	struct { const uint8_t *ptr; size_t len; } text[TFP__SENML_LABELS_MAX];
	size_t ntext = 0;     /* text labels seen in this record (borrowing the input) */
	uint32_t seen = 0;
	size_t pairs;
	int rc;

	if (sr->left == 0)
		return tfp_cbor_expect_end(&sr->r) == 0 ? 1 : TFP_ERR_TRAILING;
	if ((rc = tfp_cbor_read_map(&sr->r, &pairs)) != 0)
		return rc;
	if (pairs > TFP__SENML_LABELS_MAX)
		return TFP_ERR_OVERSIZE;

	memset(&f, 0, sizeof(f));
	/* Field by field: the record is filled for every pack record the gateway ingests. */
	rec->kind = TFP__SENML_NONE;
	rec->v = 0;
	rec->vb = false;
	rec->vs = NULL;
	rec->vs_len = 0;
	rec->sum = 0;
	rec->has_bn = false;
	for (size_t i = 0; i < pairs; i++) {
		if ((rc = tfp_cbor_next(&sr->r, &key)) != 0)
			return rc;
		if (key.type == TFP_CBOR_TEXT) {
			/* An extension label (RFC 8428 §6: only text labels extend the CBOR form).
			 * None is understood here; must-understand ones end in '_' (§4.4). */
			if (key.len > 0 && key.ptr[key.len - 1] == '_')
				return TFP_ERR_UNKNOWN_FIELD;
			/* Skipped or not, a map key may appear only once. */
			for (size_t j = 0; j < ntext; j++)
				if (text[j].len == key.len &&
				    (key.len == 0 || memcmp(text[j].ptr, key.ptr, key.len) == 0))
					return TFP_ERR_DUPLICATE_FIELD;
			text[ntext].ptr = key.ptr;
			text[ntext].len = key.len;
			ntext++;
			if ((rc = tfp_cbor_skip(&sr->r)) != 0)
				return rc;
			sr->ignored_labels++;
			continue;
		}
		if (key.type != TFP_CBOR_UINT && key.type != TFP_CBOR_NEGINT)
			return TFP_ERR_WRONG_TYPE;
		/* Table 4 spans -6 .. 8; anything else (including huge values) is unknown. */
		if (key.u > 8)
			return TFP_ERR_UNKNOWN_FIELD;
		int64_t label = key.type == TFP_CBOR_UINT ? (int64_t)key.u : -1 - (int64_t)key.u;
		if (label < TFP__SENML_BS)
			return TFP_ERR_UNKNOWN_FIELD;
		uint32_t bit = 1u << (label - TFP__SENML_BS);
		if (seen & bit)
			return TFP_ERR_DUPLICATE_FIELD;
		seen |= bit;
		if ((rc = read_label(sr, rec, &f, label)) != 0)
			return rc;
	}
	if (f.values > 1)
		return TFP_ERR_SENML_VALUE;

	/* Resolve (RFC 8428 §4.6) with the base values in force after this record's map. */
	if (f.n_len > TFP__SENML_NAME_MAX - sr->bn_len)
		return TFP_ERR_OVERSIZE;
	/* bn is already in place at the start of the name buffer: append n. */
	if (f.n_len > 0)
		memcpy(sr->name + sr->bn_len, f.n, f.n_len);
	rec->name_len = sr->bn_len + f.n_len;
	sr->name[rec->name_len] = '\0';
	rec->name = sr->name;
	/* The characters of bn were checked when it was set: only n's are new here. */
	if (rec->name_len == 0 || !sr->bn_chars || !tfp__senml_name_chars(f.n, f.n_len) ||
	    rec->name[0] == '-' || rec->name[0] == ':' || rec->name[0] == '.' ||
	    rec->name[0] == '/' || rec->name[0] == '_')
		return TFP_ERR_SENML_NAME;

	rec->unit = f.has_u ? sr->u : sr->bu;
	rec->time = sr->bt + f.t;
	if (rec->kind == TFP__SENML_NUM)
		rec->v = sr->bv + f.v;
	rec->has_sum = f.has_s;
	if (f.has_s)
		rec->sum = sr->bs + f.s;
	/* Two finite values can still add up to an infinity. */
	if (!isfinite(rec->time) || !isfinite(rec->v) || !isfinite(rec->sum))
		return TFP_ERR_RANGE;
	sr->left--;
	sr->index++;
	return 0;
}
