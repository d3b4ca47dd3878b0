/*
 * Request checks of the operator API. See apicheck.h.
 */
#include "apicheck.h"

#include <stdio.h>
#include <string.h>

static int
fail(struct gw_api_error *e, const char *where, const char *name, const char *keyword,
     const char *why)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", where, name);
	gw_api_refuse(e, "invalid_request",
	              json_pack("{s:s, s:s}", "path", path, "keyword", keyword), "%s: %s", path,
	              why);
	return -1;
}

int
gw_check_members(json_t *obj, const char *where, const char *const *allowed,
                 struct gw_api_error *e)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		const char *const *n;
		for (n = allowed; *n != NULL && strcmp(key, *n) != 0; n++)
			;
		if (*n == NULL)
			return fail(e, where, key, "additionalProperties", "unknown member");
	}
	return 0;
}

int
gw_check_required(json_t *obj, const char *where, const char *name, struct gw_api_error *e)
{
	if (json_object_get(obj, name) != NULL)
		return 0;
	gw_api_refuse(e, "invalid_request",
	              json_pack("{s:s, s:s}", "path", where, "keyword", "required"),
	              "'%s' is a required member", name);
	return -1;
}

static int
name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

static int
cursor_char(char c)
{
	return name_char(c) && c != '.';
}

static int
digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A numeric identifier without leading zeros; advances *p. */
static int
number(const char **p)
{
	const char *s = *p;
	if (!digit(*s))
		return 0;
	if (*s == '0' && digit(s[1]))
		return 0;
	while (digit(*s))
		s++;
	*p = s;
	return 1;
}

/* Dot-separated identifiers of [0-9A-Za-z-]; pre-release ones that are all digits must
 * not have leading zeros. */
static int
identifiers(const char **p, int prerelease)
{
	const char *s = *p;
	for (;;) {
		const char *start = s;
		int all_digits = 1;
		while (digit(*s) || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		       *s == '-') {
			all_digits &= digit(*s);
			s++;
		}
		if (s == start)
			return 0;
		if (prerelease && all_digits && *start == '0' && s - start > 1)
			return 0;
		if (*s != '.')
			break;
		s++;
	}
	*p = s;
	return 1;
}

int
gw_semver_ok(const char *s)
{
	if (!number(&s) || *s++ != '.' || !number(&s) || *s++ != '.' || !number(&s))
		return 0;
	if (*s == '-') {
		s++;
		if (!identifiers(&s, 1))
			return 0;
	}
	if (*s == '+') {
		s++;
		if (!identifiers(&s, 0))
			return 0;
	}
	return *s == '\0';
}

int
gw_check_text(json_t *obj, const char *where, const char *name, enum gw_text kind,
              size_t minlen, size_t maxlen, const char **out, struct gw_api_error *e)
{
	json_t *v = json_object_get(obj, name);
	const char *s;
	size_t n;
	int ok = 1;

	*out = NULL;
	if (v == NULL)
		return 0;
	if (!json_is_string(v))
		return fail(e, where, name, "type", "must be a string");
	s = json_string_value(v);
	n = json_string_length(v);
	if (n < minlen)
		return fail(e, where, name, "minLength", "too short");
	if (n > maxlen)
		return fail(e, where, name, "maxLength", "too long");
	if (strlen(s) != n)
		ok = 0;   /* an embedded NUL */
	switch (kind) {
	case GW_TEXT_NAME:
		for (size_t i = 0; ok && i < n; i++)
			ok = name_char(s[i]);
		break;
	case GW_TEXT_CURSOR:
		for (size_t i = 0; ok && i < n; i++)
			ok = cursor_char(s[i]);
		break;
	case GW_TEXT_VERSION:
		ok = ok && gw_semver_ok(s);
		break;
	}
	if (!ok)
		return fail(e, where, name, "pattern",
		            kind == GW_TEXT_VERSION ? "not a semantic version"
		                                    : "characters outside the allowed set");
	*out = s;
	return 0;
}

int
gw_check_bool(json_t *obj, const char *where, const char *name, int *out,
              struct gw_api_error *e)
{
	json_t *v = json_object_get(obj, name);
	*out = -1;
	if (v == NULL)
		return 0;
	if (!json_is_boolean(v))
		return fail(e, where, name, "type", "must be true or false");
	*out = json_is_true(v);
	return 0;
}

int
gw_check_limit(json_t *obj, size_t *out, struct gw_api_error *e)
{
	json_t *v = json_object_get(obj, "limit");
	*out = 100;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v))
		return fail(e, "", "limit", "type", "must be an integer");
	if (json_integer_value(v) < 1)
		return fail(e, "", "limit", "minimum", "less than the minimum of 1");
	if (json_integer_value(v) > 500)
		return fail(e, "", "limit", "maximum", "greater than the maximum of 500");
	*out = (size_t)json_integer_value(v);
	return 0;
}

int
gw_check_tags(json_t *obj, const char *name, size_t min_items, json_t **out,
              struct gw_api_error *e)
{
	json_t *v = json_object_get(obj, name), *t;
	char where[48];
	size_t i;

	*out = NULL;
	if (v == NULL)
		return 0;
	if (!json_is_array(v))
		return fail(e, "", name, "type", "must be an array of tags");
	if (json_array_size(v) < min_items)
		return fail(e, "", name, "minItems", "needs at least one tag");
	if (json_array_size(v) > 16)
		return fail(e, "", name, "maxItems", "more than 16 tags");
	snprintf(where, sizeof(where), "/%s", name);
	json_array_foreach(v, i, t) {
		char idx[24];
		json_t *wrap = json_object();
		const char *s;
		int rc;

		snprintf(idx, sizeof(idx), "%zu", i);
		json_object_set(wrap, idx, t);
		rc = gw_check_text(wrap, where, idx, GW_TEXT_NAME, 1, 32, &s, e);
		json_decref(wrap);
		if (rc != 0)
			return rc;
		for (size_t j = 0; j < i; j++)
			if (json_equal(json_array_get(v, j), t))
				return fail(e, "", name, "uniqueItems", "a tag is listed twice");
	}
	*out = v;
	return 0;
}

static const char b64url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int
gw_cursor_encode(const char *key, char *out, size_t cap)
{
	const unsigned char *p = (const unsigned char *)key;
	size_t n = strlen(key), o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
		             (i + 2 < n ? p[i + 2] : 0);
		size_t chars = i + 2 < n ? 4 : i + 1 < n ? 3 : 2;
		if (o + chars + 1 > cap)
			return -1;
		for (size_t k = 0; k < chars; k++)
			out[o++] = b64url[(v >> (18 - 6 * k)) & 63];
	}
	if (o == 0 || o + 1 > cap)
		return -1;
	out[o] = '\0';
	return 0;
}

int
gw_cursor_decode(const char *cursor, char *key, size_t cap)
{
	size_t n = strlen(cursor), o = 0;
	uint32_t acc = 0;
	int bits = 0;

	for (size_t i = 0; i < n; i++) {
		const char *c = strchr(b64url, cursor[i]);
		if (c == NULL || cursor[i] == '\0')
			return -1;
		acc = acc << 6 | (uint32_t)(c - b64url);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o + 1 >= cap)
				return -1;
			key[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	key[o] = '\0';
	return o > 0 && strlen(key) == o ? 0 : -1;
}
