/*
 * Strict-map walking and identifier checks shared by the device-plane codecs.
 * See msg_map.h.
 */
#include "msg_map.h"

#include <string.h>

int
tfp__map_open(struct tfp__map *m, struct tfp_cbor_reader *r, uint32_t allowed)
{
	size_t n;
	int rc = tfp_cbor_read_map(r, &n);
	if (rc != 0)
		return rc;
	m->r = r;
	m->left = n;
	m->allowed = allowed;
	m->seen = 0;
	return 0;
}

int
tfp__map_next(struct tfp__map *m, unsigned *key)
{
	struct tfp_cbor_item it;
	int rc;

	if (m->left == 0)
		return 0;
	if ((rc = tfp_cbor_peek(m->r, &it)) != 0)
		return rc;
	/* Text, negative or composite keys are simply keys this schema does not define. */
	if (it.type != TFP_CBOR_UINT || it.u > 31 || !(m->allowed & TFP__BIT(it.u)))
		return TFP_ERR_UNKNOWN_FIELD;
	if (m->seen & TFP__BIT(it.u))
		return TFP_ERR_DUPLICATE_FIELD;
	if ((rc = tfp_cbor_next(m->r, &it)) != 0)
		return rc;
	m->seen |= TFP__BIT(it.u);
	m->left--;
	*key = (unsigned)it.u;
	return 1;
}

int
tfp__map_require(const struct tfp__map *m, uint32_t required)
{
	return (m->seen & required) == required ? 0 : TFP_ERR_MISSING_FIELD;
}

int
tfp__msg_open(struct tfp__map *m, struct tfp_cbor_reader *r, uint32_t types,
              enum tfp_msg_type *type, uint32_t allowed)
{
	struct tfp_cbor_item it;
	uint64_t v;
	int rc;

	if ((rc = tfp__map_open(m, r, allowed | TFP__BIT(0))) != 0)
		return rc;
	if (m->left == 0)
		return TFP_ERR_MISSING_FIELD;
	if ((rc = tfp_cbor_peek(r, &it)) != 0)
		return rc;
	/* Key 0 comes first in every typed message; anything else is not one of ours. */
	if (it.type != TFP_CBOR_UINT || it.u != 0)
		return TFP_ERR_UNKNOWN_MESSAGE;
	if ((rc = tfp_cbor_next(r, &it)) != 0)
		return rc;
	m->seen = TFP__BIT(0);
	m->left--;
	if ((rc = tfp_cbor_read_uint(r, &v)) != 0)
		return rc;
	if (v > 31 || !(types & TFP__BIT(v)))
		return TFP_ERR_UNKNOWN_MESSAGE;
	*type = (enum tfp_msg_type)v;
	return 0;
}

static bool
ident_char(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e;
}

static bool
device_id_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

static int
read_checked(struct tfp_cbor_reader *r, char *dst, size_t cap, bool (*ok)(unsigned char))
{
	const char *p;
	size_t len;
	struct tfp_cbor_reader probe = *r;
	int rc;

	/* Look first, so that nothing is copied and the reader does not move on error. */
	if ((rc = tfp_cbor_read_text(&probe, &p, &len)) != 0)
		return rc;
	if (len > cap - 1)
		return TFP_ERR_OVERSIZE;
	if (len == 0)
		return TFP_ERR_BAD_TEXT;
	for (size_t i = 0; i < len; i++)
		if (!ok((unsigned char)p[i]))
			return TFP_ERR_BAD_TEXT;
	memcpy(dst, p, len);
	dst[len] = '\0';
	*r = probe;
	return 0;
}

int
tfp__read_ident(struct tfp_cbor_reader *r, char *dst, size_t cap)
{
	return read_checked(r, dst, cap, ident_char);
}

int
tfp__read_device_id(struct tfp_cbor_reader *r, char *dst, size_t cap)
{
	return read_checked(r, dst, cap, device_id_char);
}

int
tfp__read_enum(struct tfp_cbor_reader *r, unsigned max, unsigned *v)
{
	struct tfp_cbor_item it;
	int rc = tfp_cbor_peek(r, &it);
	if (rc != 0)
		return rc;
	if (it.type != TFP_CBOR_UINT)
		return TFP_ERR_WRONG_TYPE;
	if (it.u > max)
		return TFP_ERR_RANGE;
	*v = (unsigned)it.u;
	return tfp_cbor_next(r, &it);
}

int
tfp__read_float(struct tfp_cbor_reader *r, float lo, float hi, float *v)
{
	struct tfp_cbor_reader probe = *r;
	double d;
	int rc = tfp_cbor_read_number(&probe, &d);
	if (rc != 0)
		return rc;
	/* Compare in double before narrowing: NaN fails both tests, and an out-of-range
	 * double never reaches the (undefined) conversion. */
	if (!(d >= (double)lo && d <= (double)hi))
		return TFP_ERR_RANGE;
	*v = (float)d;
	*r = probe;
	return 0;
}

static bool
string_ok(const char *s, size_t cap, bool (*ok)(unsigned char))
{
	const char *end = memchr(s, '\0', cap);
	if (end == NULL || end == s)
		return false;
	for (; s < end; s++)
		if (!ok((unsigned char)*s))
			return false;
	return true;
}

bool
tfp__ident_ok(const char *s, size_t cap)
{
	return string_ok(s, cap, ident_char);
}

bool
tfp__device_id_ok(const char *s, size_t cap)
{
	return string_ok(s, cap, device_id_char);
}
