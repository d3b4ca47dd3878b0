/*
 * Rollout definitions: checking and defaults. See rollout_def.h.
 */
#include "rollout_def.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static int bad(struct gw_api_error *e, const char *path, const char *keyword, const char *fmt,
               const char *what) __attribute__((format(printf, 4, 0)));

static int
bad(struct gw_api_error *e, const char *path, const char *keyword, const char *fmt,
    const char *what)
{
	char msg[200];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(msg, sizeof(msg), fmt, what);
#pragma GCC diagnostic pop
	gw_api_refuse(e, "invalid_request",
	              json_pack("{s:s, s:s}", "path", path[0] ? path : "/", "keyword", keyword),
	              "%s: %s", path[0] ? path : "/", msg);
	return -EINVAL;
}

static void
join(char *out, size_t cap, const char *path, const char *member)
{
	snprintf(out, cap, "%s/%s", path, member);
}

int
gw_rdef_members(json_t *o, const char *path, const char *const *allowed,
                struct gw_api_error *e)
{
	const char *key;
	json_t *v;
	char p[160];

	if (!json_is_object(o))
		return bad(e, path, "type", "must be %s", "an object");
	json_object_foreach(o, key, v) {
		const char *const *a;
		for (a = allowed; *a != NULL && strcmp(*a, key) != 0; a++)
			;
		if (*a == NULL) {
			join(p, sizeof(p), path, key);
			return bad(e, p, "additionalProperties", "%s", "unknown member");
		}
	}
	return 0;
}

int
gw_rdef_required(json_t *o, const char *path, const char *name, struct gw_api_error *e)
{
	char p[160];
	if (json_object_get(o, name) != NULL)
		return 0;
	join(p, sizeof(p), path, name);
	return bad(e, p, "required", "%s", "is required");
}

int
gw_rdef_string(json_t *v, const char *path, size_t maxlen, struct gw_api_error *e)
{
	if (!json_is_string(v))
		return bad(e, path, "type", "must be %s", "a string");
	if (json_string_length(v) > maxlen)
		return bad(e, path, "maxLength", "%s", "is too long");
	return 0;
}

/* name_text of common.schema.json: [A-Za-z0-9._-], 1..maxlen. */
int
gw_rdef_name(json_t *v, const char *path, size_t maxlen, struct gw_api_error *e)
{
	const char *s;
	size_t n;

	if (!json_is_string(v))
		return bad(e, path, "type", "must be %s", "a string");
	s = json_string_value(v);
	n = json_string_length(v);
	if (n == 0)
		return bad(e, path, "minLength", "%s", "must not be empty");
	if (n > maxlen)
		return bad(e, path, "maxLength", "%s", "is too long");
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return bad(e, path, "pattern", "%s",
			           "may hold only letters, digits, '.', '_' and '-'");
	return 0;
}

int
gw_rdef_int(json_t *v, const char *path, json_int_t min, json_int_t max,
            struct gw_api_error *e)
{
	if (!json_is_integer(v))
		return bad(e, path, "type", "must be %s", "an integer");
	if (json_integer_value(v) < min)
		return bad(e, path, "minimum", "%s", "is below the minimum");
	if (json_integer_value(v) > max)
		return bad(e, path, "maximum", "%s", "is above the maximum");
	return 0;
}

static int
number(json_t *v, const char *path, double min, int exclusive_min, double max,
       struct gw_api_error *e)
{
	double x;
	if (!json_is_number(v))
		return bad(e, path, "type", "must be %s", "a number");
	x = json_number_value(v);
	if (exclusive_min && !(x > min))
		return bad(e, path, "exclusiveMinimum", "%s", "must be above the minimum");
	if (!exclusive_min && x < min)
		return bad(e, path, "minimum", "%s", "is below the minimum");
	if (x > max)
		return bad(e, path, "maximum", "%s", "is above the maximum");
	return 0;
}

int
gw_rdef_bool(json_t *v, const char *path, struct gw_api_error *e)
{
	return json_is_boolean(v) ? 0 : bad(e, path, "type", "must be %s", "true or false");
}

int
gw_rdef_enum(json_t *v, const char *path, const char *const *values, int *index,
             struct gw_api_error *e)
{
	if (!json_is_string(v))
		return bad(e, path, "type", "must be %s", "a string");
	for (int i = 0; values[i] != NULL; i++)
		if (strcmp(values[i], json_string_value(v)) == 0) {
			if (index != NULL)
				*index = i;
			return 0;
		}
	return bad(e, path, "enum", "%s", "is not one of the allowed values");
}

/* Semantic version 2.0.0 (the schema's pattern): N.N.N without leading zeros, then
 * optional -pre.release and +build identifiers. */
static bool
semver(const char *s)
{
	for (int part = 0; part < 3; part++) {
		const char *start = s;
		while (isdigit((unsigned char)*s))
			s++;
		if (s == start || (*start == '0' && s - start > 1))
			return false;
		if (part < 2 && *s++ != '.')
			return false;
	}
	for (int section = 0; section < 2; section++) {
		char lead = section == 0 ? '-' : '+';
		if (*s != lead)
			continue;
		s++;
		for (;;) {
			const char *start = s;
			bool alpha = false;
			while (isalnum((unsigned char)*s) || *s == '-') {
				alpha |= !isdigit((unsigned char)*s);
				s++;
			}
			if (s == start)
				return false;
			if (section == 0 && !alpha && *start == '0' && s - start > 1)
				return false;
			if (*s != '.')
				break;
			s++;
		}
	}
	return *s == '\0';
}

static int
id_array(json_t *v, const char *path, size_t min_items, size_t max_items, size_t maxlen,
         struct gw_api_error *e)
{
	char p[160];
	size_t i;
	json_t *x;

	if (!json_is_array(v))
		return bad(e, path, "type", "must be %s", "an array");
	if (json_array_size(v) < min_items)
		return bad(e, path, "minItems", "%s", "has too few items");
	if (json_array_size(v) > max_items)
		return bad(e, path, "maxItems", "%s", "has too many items");
	json_array_foreach(v, i, x) {
		snprintf(p, sizeof(p), "%s/%zu", path, i);
		if (gw_rdef_name(x, p, maxlen, e) != 0)
			return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (json_equal(json_array_get(v, j), x))
				return bad(e, path, "uniqueItems", "%s", "has duplicates");
	}
	return 0;
}

static int
check_target(json_t *t, struct gw_api_error *e)
{
	static const char *const members[] = { "all", "classes", "tags", "requires", "devices",
	                                       "exclude", NULL };
	static const char *const req[] = { "min_ram", "min_flash", "sensors", "agent_abi", NULL };
	json_t *v;

	if (gw_rdef_members(t, "/target", members, e) != 0)
		return -EINVAL;
	if ((v = json_object_get(t, "all")) != NULL && !json_is_true(v))
		return bad(e, "/target/all", "const", "%s", "must be true when given");
	if ((v = json_object_get(t, "classes")) != NULL &&
	    id_array(v, "/target/classes", 1, 32, 32, e) != 0)
		return -EINVAL;
	if ((v = json_object_get(t, "tags")) != NULL && id_array(v, "/target/tags", 1, 16, 32, e))
		return -EINVAL;
	if ((v = json_object_get(t, "devices")) != NULL &&
	    id_array(v, "/target/devices", 1, 10000, TFP_DEVICE_ID_MAX, e) != 0)
		return -EINVAL;
	if ((v = json_object_get(t, "exclude")) != NULL &&
	    id_array(v, "/target/exclude", 0, 10000, TFP_DEVICE_ID_MAX, e) != 0)
		return -EINVAL;
	if ((v = json_object_get(t, "requires")) != NULL) {
		json_t *x;
		if (gw_rdef_members(v, "/target/requires", req, e) != 0)
			return -EINVAL;
		if ((x = json_object_get(v, "min_ram")) != NULL &&
		    gw_rdef_int(x, "/target/requires/min_ram", 0, UINT32_MAX, e) != 0)
			return -EINVAL;
		if ((x = json_object_get(v, "min_flash")) != NULL &&
		    gw_rdef_int(x, "/target/requires/min_flash", 0, UINT32_MAX, e) != 0)
			return -EINVAL;
		if ((x = json_object_get(v, "agent_abi")) != NULL &&
		    gw_rdef_int(x, "/target/requires/agent_abi", 0, UINT32_MAX, e) != 0)
			return -EINVAL;
		if ((x = json_object_get(v, "sensors")) != NULL &&
		    id_array(x, "/target/requires/sensors", 0, TFP_SENSORS_MAX, 16, e) != 0)
			return -EINVAL;
	}
	if (json_object_get(t, "all") == NULL && json_object_get(t, "classes") == NULL &&
	    json_object_get(t, "tags") == NULL && json_object_get(t, "devices") == NULL)
		return bad(e, "/target", "anyOf", "%s",
		           "needs at least one of all, classes, tags or devices");
	return 0;
}

static int
check_waves(json_t *w, struct gw_rollout_def *d, struct gw_api_error *e)
{
	static const char *const members[] = { "canary", "stages", NULL };
	json_t *c, *st, *x;
	size_t i;
	char p[64];

	if (gw_rdef_members(w, "/waves", members, e) != 0 ||
	    gw_rdef_required(w, "/waves", "canary", e) != 0 ||
	    gw_rdef_required(w, "/waves", "stages", e) != 0)
		return -EINVAL;
	c = json_object_get(w, "canary");
	if (!json_is_object(c))
		return bad(e, "/waves/canary", "type", "must be %s", "an object");
	if (json_object_size(c) != 1 ||
	    (json_object_get(c, "count") == NULL && json_object_get(c, "share") == NULL))
		return bad(e, "/waves/canary", "oneOf", "%s", "must be exactly {count} or {share}");
	if ((x = json_object_get(c, "count")) != NULL) {
		if (gw_rdef_int(x, "/waves/canary/count", 1, 10000, e) != 0)
			return -EINVAL;
		d->canary_count = (uint32_t)json_integer_value(x);
	} else {
		x = json_object_get(c, "share");
		if (number(x, "/waves/canary/share", 0, 1, 50, e) != 0)
			return -EINVAL;
		d->canary_share = json_number_value(x);
	}
	st = json_object_get(w, "stages");
	if (!json_is_array(st))
		return bad(e, "/waves/stages", "type", "must be %s", "an array");
	if (json_array_size(st) < 1)
		return bad(e, "/waves/stages", "minItems", "%s", "needs at least one stage");
	if (json_array_size(st) > GW_ROLLOUT_STAGES_MAX)
		return bad(e, "/waves/stages", "maxItems", "%s", "has more than 30 stages");
	json_array_foreach(st, i, x) {
		snprintf(p, sizeof(p), "/waves/stages/%zu", i);
		if (number(x, p, 0, 1, 100, e) != 0)
			return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (json_number_value(json_array_get(st, j)) == json_number_value(x))
				return bad(e, "/waves/stages", "uniqueItems", "%s", "has duplicates");
		d->stages[i] = json_number_value(x);
	}
	d->nstages = (unsigned)json_array_size(st);
	if (d->stages[d->nstages - 1] != 100.0) {
		for (i = 0; i < d->nstages && d->stages[i] != 100.0; i++)
			;
		if (i == d->nstages)
			return bad(e, "/waves/stages", "contains", "%s", "must end at 100");
		/* 100 present but not last: the order check below says so. */
	}
	for (i = 1; i < d->nstages; i++)
		if (!(d->stages[i] > d->stages[i - 1]))
			return bad(e, "/waves/stages", "increasing", "%s",
			           "must strictly increase and end at 100");
	return 0;
}

static int
check_quality(json_t *q, struct gw_quality_limits *l, struct gw_api_error *e)
{
	static const char *const members[] = { "min_samples", "baseline_samples", "drift_alarm",
	                                       "max_loss_increase", "max_accuracy_drop",
	                                       "max_confidence_drop", "control_group",
	                                       "max_failing_share", NULL };
	json_t *x;

	if (gw_rdef_members(q, "/gates/quality", members, e) != 0)
		return -EINVAL;
	if ((x = json_object_get(q, "min_samples")) != NULL) {
		if (gw_rdef_int(x, "/gates/quality/min_samples", 1, 1000000, e) != 0)
			return -EINVAL;
		l->min_samples = (uint32_t)json_integer_value(x);
	}
	if ((x = json_object_get(q, "baseline_samples")) != NULL) {
		if (gw_rdef_int(x, "/gates/quality/baseline_samples", 1, 1000000, e) != 0)
			return -EINVAL;
		l->baseline_samples = (uint32_t)json_integer_value(x);
	}
	if ((x = json_object_get(q, "drift_alarm")) != NULL) {
		if (gw_rdef_bool(x, "/gates/quality/drift_alarm", e) != 0)
			return -EINVAL;
		l->drift_alarm = json_is_true(x);
	}
	if ((x = json_object_get(q, "control_group")) != NULL) {
		if (gw_rdef_bool(x, "/gates/quality/control_group", e) != 0)
			return -EINVAL;
		l->control_group = json_is_true(x);
	}
	if ((x = json_object_get(q, "max_loss_increase")) != NULL) {
		if (number(x, "/gates/quality/max_loss_increase", 0, 0, INFINITY, e) != 0)
			return -EINVAL;
		l->max_loss_increase = json_number_value(x);
	}
	if ((x = json_object_get(q, "max_accuracy_drop")) != NULL) {
		if (number(x, "/gates/quality/max_accuracy_drop", 0, 0, 1, e) != 0)
			return -EINVAL;
		l->max_accuracy_drop = json_number_value(x);
	}
	if ((x = json_object_get(q, "max_confidence_drop")) != NULL) {
		if (number(x, "/gates/quality/max_confidence_drop", 0, 0, 1, e) != 0)
			return -EINVAL;
		l->max_confidence_drop = json_number_value(x);
	}
	if ((x = json_object_get(q, "max_failing_share")) != NULL) {
		if (number(x, "/gates/quality/max_failing_share", 0, 0, 100, e) != 0)
			return -EINVAL;
		l->max_failing_share = json_number_value(x);
	}
	return 0;
}

static int
check_gates(json_t *g, struct gw_rollout_def *d, struct gw_api_error *e)
{
	static const char *const members[] = { "max_failure_rate", "max_reverts", "quality",
	                                       NULL };
	json_t *x;

	if (gw_rdef_members(g, "/gates", members, e) != 0)
		return -EINVAL;
	if ((x = json_object_get(g, "max_failure_rate")) != NULL) {
		if (number(x, "/gates/max_failure_rate", 0, 0, 100, e) != 0)
			return -EINVAL;
		d->max_failure_rate = json_number_value(x);
	}
	if ((x = json_object_get(g, "max_reverts")) != NULL) {
		if (gw_rdef_int(x, "/gates/max_reverts", 0, UINT32_MAX, e) != 0)
			return -EINVAL;
		d->max_reverts = (uint32_t)json_integer_value(x);
	}
	if ((x = json_object_get(g, "quality")) != NULL && check_quality(x, &d->q, e) != 0)
		return -EINVAL;
	return 0;
}

static void
defaults(struct gw_rollout_def *d)
{
	d->transfer = GW_XFER_AUTO;
	d->max_in_flight = 50;
	d->success_threshold = 95;
	d->settle_s = 900;
	d->wave_timeout_s = 86400;
	d->retry_max = 3;
	d->retry_backoff_s = 60;
	d->max_failure_rate = 5;
	d->max_reverts = 0;
	d->q.min_samples = 100;
	d->q.baseline_samples = 500;
	d->q.drift_alarm = true;
	d->q.control_group = true;
	d->q.max_loss_increase = -1;
	d->q.max_accuracy_drop = -1;
	d->q.max_confidence_drop = -1;
	d->q.max_failing_share = 10;
}

/* The stored definition: what the operator sent with every default written out, so a
 * later reader (and rollout.status) sees exactly the rules the engine applies. */
static json_t *
normalized(json_t *body, const struct gw_rollout_def *d)
{
	json_t *o = json_deep_copy(body), *g, *q, *r;

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "transfer",
	                    json_string(d->transfer == GW_XFER_AUTO   ? "auto"
	                                : d->transfer == GW_XFER_FULL ? "full"
	                                                              : "delta"));
	json_object_set_new(o, "max_in_flight", json_integer(d->max_in_flight));
	json_object_set_new(o, "success_threshold", json_real(d->success_threshold));
	json_object_set_new(o, "settle_seconds", json_integer(d->settle_s));
	json_object_set_new(o, "wave_timeout_seconds", json_integer(d->wave_timeout_s));
	r = json_pack("{s:i, s:i}", "max_attempts", (int)d->retry_max, "backoff_seconds",
	              (int)d->retry_backoff_s);
	json_object_set_new(o, "retry", r);
	q = json_pack("{s:i, s:i, s:b, s:b, s:f}", "min_samples", (int)d->q.min_samples,
	              "baseline_samples", (int)d->q.baseline_samples, "drift_alarm",
	              d->q.drift_alarm, "control_group", d->q.control_group, "max_failing_share",
	              d->q.max_failing_share);
	if (q != NULL && d->q.max_loss_increase >= 0)
		json_object_set_new(q, "max_loss_increase", json_real(d->q.max_loss_increase));
	if (q != NULL && d->q.max_accuracy_drop >= 0)
		json_object_set_new(q, "max_accuracy_drop", json_real(d->q.max_accuracy_drop));
	if (q != NULL && d->q.max_confidence_drop >= 0)
		json_object_set_new(q, "max_confidence_drop", json_real(d->q.max_confidence_drop));
	g = json_pack("{s:f, s:i, s:o}", "max_failure_rate", d->max_failure_rate, "max_reverts",
	              (int)d->max_reverts, "quality", q);
	json_object_set_new(o, "gates", g);
	if (r == NULL || g == NULL) {
		json_decref(o);
		return NULL;
	}
	return o;
}

const char *
gw_gate_action_name(enum gw_gate_action a)
{
	static const char *const names[] = { "pause", "rollback_wave", "rollback_all" };
	return (unsigned)a < 3 ? names[a] : "pause";
}

int
gw_rollout_def_parse(json_t *body, struct gw_rollout_def *d, struct gw_api_error *e)
{
	static const char *const members[] = { "id", "description", "model", "version",
	                                       "target", "waves", "transfer", "max_in_flight",
	                                       "success_threshold", "settle_seconds",
	                                       "wave_timeout_seconds", "retry", "gates",
	                                       "on_gate_failure", NULL };
	static const char *const required[] = { "model", "version", "target", "waves",
	                                        "on_gate_failure", NULL };
	static const char *const transfers[] = { "auto", "full", "delta", NULL };
	static const char *const actions[] = { "pause", "rollback_wave", "rollback_all", NULL };
	static const char *const retry_members[] = { "max_attempts", "backoff_seconds", NULL };
	json_t *x;
	int idx;

	memset(d, 0, sizeof(*d));
	defaults(d);
	if (!json_is_object(body))
		return bad(e, "", "type", "must be %s", "an object");
	for (const char *const *r = required; *r != NULL; r++)
		if (gw_rdef_required(body, "", *r, e) != 0)
			return -EINVAL;
	if (gw_rdef_members(body, "", members, e) != 0)
		return -EINVAL;
	if ((x = json_object_get(body, "id")) != NULL) {
		if (gw_rdef_name(x, "/id", GW_ROLLOUT_ID_MAX, e) != 0)
			return -EINVAL;
		snprintf(d->id, sizeof(d->id), "%s", json_string_value(x));
	}
	if ((x = json_object_get(body, "description")) != NULL &&
	    gw_rdef_string(x, "/description", 256, e) != 0)
		return -EINVAL;
	x = json_object_get(body, "model");
	if (gw_rdef_name(x, "/model", TFP_MODEL_NAME_MAX, e) != 0)
		return -EINVAL;
	snprintf(d->model, sizeof(d->model), "%s", json_string_value(x));
	x = json_object_get(body, "version");
	if (!json_is_string(x))
		return bad(e, "/version", "type", "must be %s", "a string");
	if (json_string_length(x) < 5)
		return bad(e, "/version", "minLength", "%s", "is too short");
	if (json_string_length(x) > TFP_VERSION_MAX)
		return bad(e, "/version", "maxLength", "%s", "is too long");
	if (!semver(json_string_value(x)))
		return bad(e, "/version", "pattern", "%s", "is not a semantic version");
	snprintf(d->version, sizeof(d->version), "%s", json_string_value(x));
	if (check_target(json_object_get(body, "target"), e) != 0 ||
	    check_waves(json_object_get(body, "waves"), d, e) != 0)
		return -EINVAL;
	if ((x = json_object_get(body, "transfer")) != NULL) {
		if (gw_rdef_enum(x, "/transfer", transfers, &idx, e) != 0)
			return -EINVAL;
		d->transfer = (enum gw_transfer_pref)idx;
	}
	if ((x = json_object_get(body, "max_in_flight")) != NULL) {
		if (gw_rdef_int(x, "/max_in_flight", 1, 100000, e) != 0)
			return -EINVAL;
		d->max_in_flight = (uint32_t)json_integer_value(x);
	}
	if ((x = json_object_get(body, "success_threshold")) != NULL) {
		if (number(x, "/success_threshold", 0, 0, 100, e) != 0)
			return -EINVAL;
		d->success_threshold = json_number_value(x);
	}
	if ((x = json_object_get(body, "settle_seconds")) != NULL) {
		if (gw_rdef_int(x, "/settle_seconds", 0, 604800, e) != 0)
			return -EINVAL;
		d->settle_s = (uint32_t)json_integer_value(x);
	}
	if ((x = json_object_get(body, "wave_timeout_seconds")) != NULL) {
		if (gw_rdef_int(x, "/wave_timeout_seconds", 60, 2592000, e) != 0)
			return -EINVAL;
		d->wave_timeout_s = (uint32_t)json_integer_value(x);
	}
	if ((x = json_object_get(body, "retry")) != NULL) {
		json_t *y;
		if (gw_rdef_members(x, "/retry", retry_members, e) != 0)
			return -EINVAL;
		if ((y = json_object_get(x, "max_attempts")) != NULL) {
			if (gw_rdef_int(y, "/retry/max_attempts", 1, 10, e) != 0)
				return -EINVAL;
			d->retry_max = (uint32_t)json_integer_value(y);
		}
		if ((y = json_object_get(x, "backoff_seconds")) != NULL) {
			if (gw_rdef_int(y, "/retry/backoff_seconds", 1, 86400, e) != 0)
				return -EINVAL;
			d->retry_backoff_s = (uint32_t)json_integer_value(y);
		}
	}
	if ((x = json_object_get(body, "gates")) != NULL && check_gates(x, d, e) != 0)
		return -EINVAL;
	if (gw_rdef_enum(json_object_get(body, "on_gate_failure"), "/on_gate_failure", actions,
	                 &idx, e) != 0)
		return -EINVAL;
	d->on_fail = (enum gw_gate_action)idx;
	if ((d->json = normalized(body, d)) == NULL)
		return -ENOMEM;
	return 0;
}

void
gw_rollout_def_free(struct gw_rollout_def *d)
{
	json_decref(d->json);
	d->json = NULL;
}
