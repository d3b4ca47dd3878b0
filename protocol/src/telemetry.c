/*
 * tinyfleet's telemetry record set over the generic SenML layer (senml.c).
 * The wire rules are documented in tinyfleet/protocol/telemetry.h.
 */
#include "tinyfleet/protocol/telemetry.h"

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "senml.h"

enum rkind { R_COUNT, R_REAL, R_BOOL };

/* One metric record. `opt` is its TFP_TELEM_OPT_* bit, 0 for records never dropped. */
struct rdef {
	const char *name;
	const char *unit;     /* NULL: no unit */
	uint8_t kind;
	uint8_t opt;
	uint16_t off;         /* of the value in struct tfp_telemetry */
};

#define F(field) ((uint16_t)offsetof(struct tfp_telemetry, field))

/* Wire order. The first record also carries bn and bt. Optional records come last. */
static const struct rdef defs[] = {
	{ "samples", "count", R_COUNT, 0, F(samples) },
	{ "labelled", "count", R_COUNT, 0, F(labelled) },
	{ "loss", NULL, R_REAL, 0, F(loss) },
	{ "acc", "/", R_REAL, 0, F(accuracy) },
	{ "alarm", NULL, R_BOOL, 0, F(alarm) },
	{ "why", NULL, R_COUNT, 0, F(why) },
	{ "ph", NULL, R_REAL, 0, F(ph.score) },
	{ "ph_alarm", NULL, R_BOOL, 0, F(ph.alarm) },
	{ "adwin", NULL, R_REAL, 0, F(adwin.score) },
	{ "adwin_alarm", NULL, R_BOOL, 0, F(adwin.alarm) },
	{ "adwin_w", "count", R_COUNT, 0, F(adwin_width) },
	{ "ddm", NULL, R_REAL, 0, F(ddm.score) },
	{ "ddm_alarm", NULL, R_BOOL, 0, F(ddm.alarm) },
	{ "psi", NULL, R_REAL, 0, F(psi) },
	{ "psi_max", NULL, R_REAL, 0, F(psi_max) },
	{ "conf", "/", R_REAL, 0, F(conf_mean) },
	{ "margin", "/", R_REAL, 0, F(margin_mean) },
	{ "nfeat", "count", R_COUNT, 0, F(n_features) },   /* uint16_t: see get/set */
	{ "hddm", NULL, R_REAL, TFP_TELEM_OPT_HDDM, F(hddm.score) },
	{ "hddm_alarm", NULL, R_BOOL, TFP_TELEM_OPT_HDDM_ALARM, F(hddm.alarm) },
	{ "lr", NULL, R_REAL, TFP_TELEM_OPT_LR, F(lr) },
	{ "steps", "count", R_COUNT, TFP_TELEM_OPT_STEPS, F(steps) },
};

#undef F

#define NDEFS (sizeof(defs) / sizeof(defs[0]))
#define DEF_NFEAT 17
#define DROPPED_NAME "dropped"

_Static_assert(NDEFS <= 32, "record presence is a 32-bit mask");
/* The longest name resolves within the SenML reader's name buffer: base name + "adwin_alarm". */
_Static_assert(TFP_TELEM_BASE_NAME_MAX + 11 <= TFP__SENML_NAME_MAX,
               "resolved names must fit the SenML reader");

/* Optional records in the order the encoder drops them (indices into defs). */
static const uint8_t opt_drop_order[] = { 21, 20, 18, 19 };

/* ---- identity and base name ---- */

static bool
is_alnum(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* [A-Za-z0-9._-] (allow_underscore) or [A-Za-z0-9.-], 1..max bytes. */
static bool
part_ok(const char *s, size_t len, size_t max, bool allow_underscore)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!is_alnum(c) && c != '.' && c != '-' && !(allow_underscore && c == '_'))
			return false;
	}
	return true;
}

static size_t
bounded_len(const char *s, size_t cap)
{
	const char *nul = memchr(s, 0, cap);
	return nul != NULL ? (size_t)(nul - s) : cap;
}

int
tfp_telemetry_base_name(const char *device_id, const char *model, const char *version,
                        char *dst, size_t cap)
{
	size_t dl, ml, vl, pos = 0;

	if (device_id == NULL || model == NULL || version == NULL || dst == NULL)
		return TFP_ERR_ARG;
	dl = bounded_len(device_id, TFP_DEVICE_ID_MAX + 1);
	ml = bounded_len(model, TFP_MODEL_NAME_MAX + 1);
	vl = bounded_len(version, TFP_VERSION_MAX + 1);
	if (!part_ok(device_id, dl, TFP_DEVICE_ID_MAX, true) || !is_alnum(device_id[0]) ||
	    !part_ok(model, ml, TFP_MODEL_NAME_MAX, true) ||
	    !part_ok(version, vl, TFP_VERSION_MAX, false))
		return TFP_ERR_ARG;
	if (cap < dl + ml + vl + 4)
		return TFP_ERR_BUFFER;
	memcpy(dst + pos, device_id, dl);
	pos += dl;
	dst[pos++] = '/';
	memcpy(dst + pos, model, ml);
	pos += ml;
	dst[pos++] = ':';
	memcpy(dst + pos, version, vl);
	pos += vl;
	dst[pos++] = '/';
	dst[pos] = '\0';
	return 0;
}

/* Splits "<dev>/<model>:<version>/" into t's identity fields. */
static int
parse_base_name(const char *bn, size_t len, struct tfp_telemetry *t)
{
	const char *slash, *colon;
	size_t dl, ml, vl;

	if (len < 5 || bn[len - 1] != '/')
		return TFP_ERR_SENML_BASE;
	if ((slash = memchr(bn, '/', len)) == NULL)
		return TFP_ERR_SENML_BASE;
	dl = (size_t)(slash - bn);
	if ((colon = memchr(slash + 1, ':', len - dl - 1)) == NULL)
		return TFP_ERR_SENML_BASE;
	ml = (size_t)(colon - slash - 1);
	vl = len - dl - 1 - ml - 1 - 1;
	if (!part_ok(bn, dl, TFP_DEVICE_ID_MAX, true) || !is_alnum(bn[0]) ||
	    !part_ok(slash + 1, ml, TFP_MODEL_NAME_MAX, true) ||
	    !part_ok(colon + 1, vl, TFP_VERSION_MAX, false))
		return TFP_ERR_SENML_BASE;
	memcpy(t->device_id, bn, dl);
	t->device_id[dl] = '\0';
	memcpy(t->model, slash + 1, ml);
	t->model[ml] = '\0';
	memcpy(t->version, colon + 1, vl);
	t->version[vl] = '\0';
	return 0;
}

/* ---- field access through the table ---- */

static double
get_value(const struct tfp_telemetry *t, size_t i)
{
	const char *base = (const char *)t;
	const struct rdef *d = &defs[i];
	uint32_t u32;
	float f;
	bool b;

	if (i == DEF_NFEAT)
		return t->n_features;
	switch (d->kind) {
	case R_COUNT:
		memcpy(&u32, base + d->off, sizeof(u32));
		return u32;
	case R_REAL:
		memcpy(&f, base + d->off, sizeof(f));
		return f;
	default:
		memcpy(&b, base + d->off, sizeof(b));
		return b;
	}
}

static void
set_value(struct tfp_telemetry *t, size_t i, double v, bool b)
{
	char *base = (char *)t;
	const struct rdef *d = &defs[i];
	uint32_t u32;
	float f;

	if (i == DEF_NFEAT) {
		t->n_features = (uint16_t)v;
		return;
	}
	switch (d->kind) {
	case R_COUNT:
		u32 = (uint32_t)v;
		memcpy(base + d->off, &u32, sizeof(u32));
		break;
	case R_REAL:
		f = (float)v;
		memcpy(base + d->off, &f, sizeof(f));
		break;
	default:
		memcpy(base + d->off, &b, sizeof(b));
		break;
	}
}

/* "z<i>" into buf (at least 4 bytes), without printf. */
static void
shift_name(unsigned i, char *buf)
{
	size_t p = 0;
	buf[p++] = 'z';
	if (i >= 10)
		buf[p++] = (char)('0' + i / 10);
	buf[p++] = (char)('0' + i % 10);
	buf[p] = '\0';
}

/* ---- encoder ---- */

void
tfp_telemetry_init(struct tfp_telemetry *t)
{
	memset(t, 0, sizeof(*t));
}

static void
def_record(const struct tfp_telemetry *t, size_t i, const char *bn,
           struct tfp__senml_out *o)
{
	const struct rdef *d = &defs[i];
	double v = get_value(t, i);

	memset(o, 0, sizeof(*o));
	if (i == 0) {
		o->bn = bn;
		o->has_bt = true;
		o->bt = t->time;
	}
	o->n = d->name;
	o->u = d->unit;
	switch (d->kind) {
	case R_COUNT:
		o->kind = TFP__SENML_UINT;
		o->uv = (uint64_t)v;
		break;
	case R_REAL:
		o->kind = TFP__SENML_NUM;
		o->v = v;
		break;
	default:
		o->kind = TFP__SENML_BOOL;
		o->vb = v != 0;
		break;
	}
}

static void
shift_record(const struct tfp_telemetry *t, unsigned i, char *name,
             struct tfp__senml_out *o)
{
	memset(o, 0, sizeof(*o));
	shift_name(i, name);
	o->n = name;
	o->kind = TFP__SENML_NUM;
	o->v = t->shift[i];
}

static void
dropped_record(unsigned count, struct tfp__senml_out *o)
{
	memset(o, 0, sizeof(*o));
	o->n = DROPPED_NAME;
	o->u = "count";
	o->kind = TFP__SENML_UINT;
	o->uv = count;
}

static size_t
array_head_size(size_t count)
{
	return count < 24 ? 1 : count < 256 ? 2 : 3;
}

static bool
shift_less(const struct tfp_telemetry *t, uint8_t a, uint8_t b)
{
	float fa = t->shift[a] < 0 ? -t->shift[a] : t->shift[a];
	float fb = t->shift[b] < 0 ? -t->shift[b] : t->shift[b];
	/* On a tie the higher index is dropped first. */
	return fa < fb || (fa == fb && a > b);
}

int
tfp_telemetry_encode(const struct tfp_telemetry *t, uint8_t *buf, size_t budget,
                     struct tfp_telem_enc_info *info)
{
	struct tfp_telem_enc_info inf;
	struct tfp__senml_out o;
	struct tfp_cbor_writer w;
	char bn[TFP_TELEM_BASE_NAME_MAX + 1];
	char zname[4];
	uint8_t drop[TFP_TELEM_FEATURES_MAX + sizeof(opt_drop_order)];
	uint16_t drop_size[sizeof(drop)];   /* one record is far below 64 KiB */
	bool drop_is_opt[sizeof(drop)];
	size_t ndrop = 0, nshift = 0, records = 0, bytes = 0, k, total = 0, len;
	uint64_t send;
	int rc = TFP_ERR_INTERNAL;

	memset(&inf, 0, sizeof(inf));
	if (t == NULL || (buf == NULL && budget > 0)) {
		rc = TFP_ERR_ARG;
		goto out;
	}
	if ((rc = tfp_telemetry_base_name(t->device_id, t->model, t->version, bn,
	                                  sizeof(bn))) != 0)
		goto out;
	rc = TFP_ERR_ARG;
	if (t->n_features > TFP_TELEM_FEATURES_MAX || (t->optional & ~TFP_TELEM_OPT_ALL) != 0)
		goto out;
	rc = TFP_ERR_RANGE;
	if (!isfinite(t->time))
		goto out;
	send = t->n_features == 64 ? t->shift_mask :
	       t->shift_mask & ((UINT64_C(1) << t->n_features) - 1);

	/* Sizes of everything the complete pack holds. */
	for (size_t i = 0; i < NDEFS; i++) {
		if (defs[i].opt != 0 && !(t->optional & defs[i].opt))
			continue;
		if (defs[i].kind == R_REAL && !isfinite(get_value(t, i)))
			goto out;
		def_record(t, i, bn, &o);
		bytes += tfp__senml_size(&o);
		records++;
	}
	for (unsigned i = 0; i < TFP_TELEM_FEATURES_MAX; i++) {
		if (!(send & (UINT64_C(1) << i)))
			continue;
		if (!isfinite(t->shift[i]))
			goto out;
		/* Insertion sort into drop order; at most 64 entries. */
		size_t j = nshift++;
		while (j > 0 && shift_less(t, (uint8_t)i, drop[j - 1])) {
			drop[j] = drop[j - 1];
			j--;
		}
		drop[j] = (uint8_t)i;
	}
	for (size_t j = 0; j < nshift; j++) {
		shift_record(t, drop[j], zname, &o);
		drop_size[j] = (uint16_t)tfp__senml_size(&o);
		drop_is_opt[j] = false;
		bytes += drop_size[j];
		records++;
	}
	ndrop = nshift;
	for (size_t j = 0; j < sizeof(opt_drop_order); j++) {
		size_t i = opt_drop_order[j];
		if (!(t->optional & defs[i].opt))
			continue;
		def_record(t, i, bn, &o);
		drop[ndrop] = (uint8_t)i;
		drop_size[ndrop] = (uint16_t)tfp__senml_size(&o);
		drop_is_opt[ndrop] = true;
		ndrop++;
	}

	/* Leave out the first k droppable records until the pack fits. */
	inf.need_full = array_head_size(records) + bytes;
	for (k = 0; k <= ndrop; k++) {
		total = array_head_size(records + (k > 0)) + bytes;
		if (k > 0) {
			dropped_record((unsigned)k, &o);
			total += tfp__senml_size(&o);
		}
		if (k == ndrop)
			inf.need_min = total;
		if (total <= budget)
			break;
		if (k < ndrop) {
			bytes -= drop_size[k];
			records--;
		}
	}
	if (k > ndrop) {
		rc = TFP_ERR_BUFFER;
		goto out;
	}
	if (inf.need_min == 0) {
		/* Fitted before trying everything: what would the smallest pack take? */
		size_t b = bytes, r = records;
		for (size_t j = k; j < ndrop; j++) {
			b -= drop_size[j];
			r--;
		}
		dropped_record((unsigned)ndrop, &o);
		inf.need_min = array_head_size(r + (ndrop > 0)) + b +
		               (ndrop > 0 ? tfp__senml_size(&o) : 0);
	}
	inf.dropped = (uint16_t)k;
	for (size_t j = 0; j < k; j++) {
		if (drop_is_opt[j])
			inf.dropped_optional |= defs[drop[j]].opt;
		else
			inf.dropped_shifts |= UINT64_C(1) << drop[j];
	}

	/* Write in wire order. */
	tfp_cbor_writer_init(&w, buf, budget);
	tfp_cbor_put_array(&w, records + (k > 0));
	for (size_t i = 0; i < NDEFS; i++) {
		if (defs[i].opt != 0 && (!(t->optional & defs[i].opt) ||
		                         (inf.dropped_optional & defs[i].opt)))
			continue;
		def_record(t, i, bn, &o);
		tfp__senml_put(&w, &o);
	}
	for (unsigned i = 0; i < TFP_TELEM_FEATURES_MAX; i++) {
		if (!(send & (UINT64_C(1) << i)) || (inf.dropped_shifts & (UINT64_C(1) << i)))
			continue;
		shift_record(t, i, zname, &o);
		tfp__senml_put(&w, &o);
	}
	if (k > 0) {
		dropped_record((unsigned)k, &o);
		tfp__senml_put(&w, &o);
	}
	if (tfp_cbor_writer_finish(&w, &len) != 0 || len != total) {
		rc = TFP_ERR_INTERNAL;
		goto out;
	}
	inf.len = len;
	rc = 0;
out:
	if (rc != 0)
		inf.len = 0;
	if (info != NULL)
		*info = inf;
	return rc;
}

/* ---- decoder ---- */

/* Index of a z<i> name, -1 when the name is not one (then it is an unknown name). */
static long
shift_index(const char *m, size_t len)
{
	long v = 0;

	if (len < 2 || len > 6 || m[0] != 'z' || (m[1] == '0' && len > 2))
		return -1;
	for (size_t i = 1; i < len; i++) {
		if (m[i] < '0' || m[i] > '9')
			return -1;
		v = v * 10 + (m[i] - '0');
	}
	return v;
}

static int
check_unit(const struct tfp__senml_rec *rec, const char *unit)
{
	/* A record may leave the unit out; if it states one, it must be ours. */
	if (rec->unit[0] == '\0')
		return 0;
	return unit != NULL && strcmp(rec->unit, unit) == 0 ? 0 : TFP_ERR_SENML_VALUE;
}

static int
count_value(const struct tfp__senml_rec *rec, double max, double *v)
{
	if (rec->kind != TFP__SENML_NUM)
		return TFP_ERR_SENML_VALUE;
	if (rec->v < 0 || rec->v > max || rec->v != (double)(uint64_t)rec->v)
		return TFP_ERR_RANGE;
	*v = rec->v;
	return 0;
}

static int
real_value(const struct tfp__senml_rec *rec, double *v)
{
	if (rec->kind != TFP__SENML_NUM)
		return TFP_ERR_SENML_VALUE;
	if (rec->v > FLT_MAX || rec->v < -FLT_MAX)
		return TFP_ERR_RANGE;
	*v = rec->v;
	return 0;
}

struct dstate {
	uint32_t seen;        /* defs present */
	bool seen_dropped;
	size_t next;          /* defs index to try first: the one after the last match */
};

/* m[0 .. mlen) holds name characters only (no NUL), so strncmp cannot stop early on
 * m's side and defs[i].name[mlen] is in bounds when the first mlen bytes match. */
static bool
is_def(size_t i, const char *m, size_t mlen)
{
	return strncmp(defs[i].name, m, mlen) == 0 && defs[i].name[mlen] == '\0';
}

/* Index of the record set's name m, or NDEFS. Encoders write defs in table order, so the
 * entry after the previous match is tried first. */
static size_t
find_def(const struct dstate *ds, const char *m, size_t mlen)
{
	if (ds->next < NDEFS && is_def(ds->next, m, mlen))
		return ds->next;
	for (size_t i = 0; i < NDEFS; i++)
		/* First byte first: most names differ there, and mlen >= 1. */
		if (defs[i].name[0] == m[0] && is_def(i, m, mlen))
			return i;
	return NDEFS;
}

static int
apply_record(struct tfp_telemetry *t, struct dstate *ds, const struct tfp__senml_rec *rec,
             const char *m, size_t mlen)
{
	size_t i = find_def(ds, m, mlen);
	double v = 0;
	long zi;
	int rc;

	if (i < NDEFS) {
		const struct rdef *d = &defs[i];
		ds->next = i + 1;
		if (ds->seen & (UINT32_C(1) << i))
			return TFP_ERR_DUPLICATE_FIELD;
		ds->seen |= UINT32_C(1) << i;
		if ((rc = check_unit(rec, d->unit)) != 0)
			return rc;
		switch (d->kind) {
		case R_COUNT:
			rc = count_value(rec, UINT32_MAX, &v);
			if (rc == 0 && i == DEF_NFEAT && v > TFP_TELEM_FEATURES_MAX)
				rc = TFP_ERR_OVERSIZE;
			break;
		case R_REAL:
			rc = real_value(rec, &v);
			break;
		default:
			rc = rec->kind == TFP__SENML_BOOL ? 0 : TFP_ERR_SENML_VALUE;
			break;
		}
		if (rc != 0)
			return rc;
		set_value(t, i, v, rec->vb);
		t->optional |= d->opt;
		return 0;
	}
	if ((zi = shift_index(m, mlen)) >= 0) {
		if (zi >= TFP_TELEM_FEATURES_MAX)
			return TFP_ERR_OVERSIZE;
		if (t->shift_mask & (UINT64_C(1) << zi))
			return TFP_ERR_DUPLICATE_FIELD;
		if (rec->unit[0] != '\0')
			return TFP_ERR_SENML_VALUE;
		if ((rc = real_value(rec, &v)) != 0)
			return rc;
		t->shift_mask |= UINT64_C(1) << zi;
		t->shift[zi] = (float)v;
		return 0;
	}
	if (mlen == strlen(DROPPED_NAME) && memcmp(m, DROPPED_NAME, mlen) == 0) {
		if (ds->seen_dropped)
			return TFP_ERR_DUPLICATE_FIELD;
		ds->seen_dropped = true;
		if ((rc = check_unit(rec, "count")) != 0 ||
		    (rc = count_value(rec, UINT16_MAX, &v)) != 0)
			return rc;
		t->dropped = (uint16_t)v;
		return 0;
	}
	if (t->unknown_records < UINT16_MAX)
		t->unknown_records++;
	return 0;
}

int
tfp_telemetry_decode(const uint8_t *buf, size_t len, struct tfp_telemetry *t)
{
	struct tfp__senml_reader sr;
	struct tfp__senml_rec rec;
	struct dstate ds;
	char prefix[TFP_TELEM_BASE_NAME_MAX + 1];
	size_t prefix_len = 0;
	int rc = TFP_ERR_INTERNAL;

	if (t == NULL || (buf == NULL && len > 0))
		return TFP_ERR_ARG;
	memset(t, 0, sizeof(*t));
	memset(&ds, 0, sizeof(ds));
	if ((rc = tfp__senml_begin(&sr, buf, len)) != 0)
		goto out;
	while ((rc = tfp__senml_next(&sr, &rec)) == 0) {
		if (sr.index == 1) {
			/* The first record names the device and model for the whole pack. */
			if (!rec.has_bn || sr.bn_len > TFP_TELEM_BASE_NAME_MAX) {
				rc = TFP_ERR_SENML_BASE;
				goto out;
			}
			if ((rc = parse_base_name(sr.name, sr.bn_len, t)) != 0)
				goto out;
			memcpy(prefix, sr.name, sr.bn_len);
			prefix_len = sr.bn_len;
			t->time = rec.time;
			t->time_relative = rec.time < 268435456.0;   /* 2^28, RFC 8428 §4.5.3 */
		}
		/* A record with base fields only (no name of its own, no value) is how some
		 * packers state the bases; it says nothing about a metric. */
		if (rec.name_len == prefix_len && rec.kind == TFP__SENML_NONE && !rec.has_sum &&
		    memcmp(rec.name, prefix, prefix_len) == 0)
			continue;
		/* While bn is the first record's (set once), every name starts with it. */
		if (rec.name_len <= prefix_len ||
		    (sr.bn_sets > 1 && memcmp(rec.name, prefix, prefix_len) != 0)) {
			rc = TFP_ERR_SENML_BASE;
			goto out;
		}
		if ((rc = apply_record(t, &ds, &rec, rec.name + prefix_len,
		                       rec.name_len - prefix_len)) != 0)
			goto out;
	}
	if (rc < 0)
		goto out;
	if (sr.index == 0) {
		rc = TFP_ERR_SENML_BASE;     /* an empty pack names no device */
		goto out;
	}
	for (size_t i = 0; i < NDEFS; i++) {
		if (defs[i].opt == 0 && !(ds.seen & (UINT32_C(1) << i))) {
			rc = TFP_ERR_MISSING_FIELD;
			goto out;
		}
	}
	if (t->n_features < 64 && (t->shift_mask >> t->n_features) != 0) {
		rc = TFP_ERR_RANGE;
		goto out;
	}
	t->ignored_labels = sr.ignored_labels > UINT16_MAX ? UINT16_MAX :
	                    (uint16_t)sr.ignored_labels;
	rc = 0;
out:
	return rc;
}
