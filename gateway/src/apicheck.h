/*
 * apicheck: the operator API's request checks, in C, with the verdicts of the JSON Schemas
 * in schemas/operator (the gateway has no JSON Schema library; tests feed it the schemas'
 * own valid and invalid examples and expect the same keyword).
 *
 * Each check returns 0 when the member is absent or valid, else -1 after filling *e with
 * invalid_request and details {path, keyword} (path is a JSON Pointer). Where one value
 * breaks several keywords, the one reported is the first of: type, minLength, maxLength,
 * pattern (for lengths the schemas count characters; identifiers are ASCII by pattern).
 * Values returned borrow the request body. Loop thread only.
 */
#ifndef GW_APICHECK_H
#define GW_APICHECK_H

#include <stddef.h>

#include <jansson.h>

#include "api.h"

enum gw_text {
	GW_TEXT_NAME,      /* [A-Za-z0-9._-]+ (ids, classes, model names, tags) */
	GW_TEXT_VERSION,   /* semantic version 2.0.0 */
	GW_TEXT_CURSOR,    /* [A-Za-z0-9_-]+ */
};

/* Members not named in allowed (NULL-terminated): additionalProperties. */
int gw_check_members(json_t *obj, const char *where, const char *const *allowed,
                     struct gw_api_error *e);
/* A member that must be present: required. */
int gw_check_required(json_t *obj, const char *where, const char *name,
                      struct gw_api_error *e);
/* An optional text member of minlen..maxlen characters of the given kind; *out NULL when
 * absent. */
int gw_check_text(json_t *obj, const char *where, const char *name, enum gw_text kind,
                  size_t minlen, size_t maxlen, const char **out, struct gw_api_error *e);
/* An optional boolean; *out -1 when absent, else 0 or 1. */
int gw_check_bool(json_t *obj, const char *where, const char *name, int *out,
                  struct gw_api_error *e);
/* The paging limit, 1..500, default 100. */
int gw_check_limit(json_t *obj, size_t *out, struct gw_api_error *e);
/* An optional tag set: array of distinct tags (1..32 characters), at most 16 items and at
 * least min_items; *out NULL when absent. */
int gw_check_tags(json_t *obj, const char *name, size_t min_items, json_t **out,
                  struct gw_api_error *e);

/* Whether s is a semantic version 2.0.0 (the pattern of common.schema.json#/$defs/version). */
int gw_semver_ok(const char *s);

/* Paging cursors: base64url without padding of a key text (opaque to operators). */
int gw_cursor_encode(const char *key, char *out, size_t cap);
/* 0, or -1 when the cursor is not one this gateway made (the caller answers
 * invalid_request). */
int gw_cursor_decode(const char *cursor, char *key, size_t cap);

#endif
