/*
 * Operator API over MQTT v5. See api.h and schemas/README.md.
 */
#include "api.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <mbedtls/base64.h>

#include "apicheck.h"
#include "clock.h"
#include "log.h"

#define OP_MAX 32
#define CN_MAX 64

#define refuse gw_api_refuse

json_t *
gw_api_refuse(struct gw_api_error *e, const char *code, json_t *details, const char *fmt, ...)
{
	va_list ap;
	e->code = code;
	e->details = details;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return NULL;
}

static void
hex(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

struct count_ctx {
	const struct gw_registry *reg;
	const struct tfp_manifest *m;
	json_int_t installed, can_run;
};

static void
count_device(void *arg, void *entry)
{
	struct count_ctx *c = arg;
	const struct gw_device *d = entry;
	if (gw_registry_fits(c->reg, d, c->m))
		c->can_run++;
	if (strcmp(d->model, c->m->name) == 0 && d->sequence == c->m->sequence &&
	    d->slot_state[d->active_slot] == 2 /* confirmed */)
		c->installed++;
}

/* The model object of schemas/operator/model.schema.json. */
static json_t *
model_json(const struct gw_api *a, const struct gw_model *md)
{
	const struct tfp_manifest *m = &md->m;
	struct count_ctx cnt = { a->registry, m, 0, 0 };
	char digest[65], published[21], expires[21];
	json_t *sensors = json_array(), *req, *o;

	gw_devtab_each(&a->registry->tab, count_device, &cnt);
	for (size_t i = 0; i < m->req.n_sensors; i++)
		json_array_append_new(sensors, json_string(m->req.sensors[i]));
	req = json_pack("{s:I, s:I, s:o, s:I}", "min_ram", (json_int_t)m->req.min_ram,
	                "min_flash", (json_int_t)m->req.min_flash, "sensors", sensors,
	                "agent_abi", (json_int_t)m->req.agent_abi);
	hex(m->digest, sizeof(m->digest), digest);
	gw_format_time(md->published_ms, published);
	if (m->has_expiry)
		gw_format_time(m->expiry * 1000, expires);
	o = json_pack("{s:s, s:s, s:I, s:s, s:o, s:s, s:I, s:I, s:s, s:o, s:s, s:s, s:{s:I, s:I}}",
	              "name", m->name, "version", m->version, "sequence", (json_int_t)m->sequence,
	              "class", m->device_class, "requirements", req, "digest", digest, "size",
	              (json_int_t)m->image_size, "container_version",
	              (json_int_t)m->container_version, "key_id", m->key_id, "expires_at",
	              m->has_expiry ? json_string(expires) : json_null(), "published_at",
	              published, "published_by", md->published_by, "devices", "installed",
	              cnt.installed, "can_run", cnt.can_run);
	return o;
}

/* Checks that body has exactly the string members named (NULL-terminated), all required. */
static int
only_strings(json_t *body, struct gw_api_error *e, const char *const *names)
{
	const char *key;
	json_t *v;
	json_object_foreach(body, key, v) {
		int known = 0;
		for (const char *const *n = names; *n != NULL; n++)
			known |= strcmp(key, *n) == 0;
		if (!known) {
			refuse(e, "invalid_request",
			       json_pack("{s:s+, s:s}", "path", "/", key, "keyword",
			                 "additionalProperties"),
			       "/%s: unknown member", key);
			return -1;
		}
		if (!json_is_string(v)) {
			refuse(e, "invalid_request",
			       json_pack("{s:s+, s:s}", "path", "/", key, "keyword", "type"),
			       "/%s: must be a string", key);
			return -1;
		}
	}
	for (const char *const *n = names; *n != NULL; n++) {
		if (json_object_get(body, *n) == NULL) {
			refuse(e, "invalid_request",
			       json_pack("{s:s, s:s}", "path", "", "keyword", "required"),
			       "'%s' is a required member", *n);
			return -1;
		}
	}
	return 0;
}

/* Decodes a base64 member into a fresh buffer of at most max bytes. */
static int
base64_member(json_t *body, const char *name, size_t max, uint8_t **out, size_t *len,
              struct gw_api_error *e)
{
	const char *s = json_string_value(json_object_get(body, name));
	size_t slen = strlen(s), need = 0;
	int rc = mbedtls_base64_decode(NULL, 0, &need, (const unsigned char *)s, slen);

	if (rc == MBEDTLS_ERR_BASE64_INVALID_CHARACTER || slen == 0) {
		refuse(e, strcmp(name, "manifest") == 0 ? "manifest_invalid" : "invalid_request",
		       json_pack("{s:s+, s:s}", "path", "/", name, "keyword", "contentEncoding"),
		       "/%s: not base64", name);
		return -1;
	}
	if (need > max) {
		refuse(e, "too_large", json_pack("{s:I}", "limit", (json_int_t)max),
		       "/%s: over %zu bytes", name, max);
		return -1;
	}
	if ((*out = malloc(need ? need : 1)) == NULL) {
		refuse(e, "internal", NULL, "out of memory");
		return -1;
	}
	if (mbedtls_base64_decode(*out, need, len, (const unsigned char *)s, slen) != 0) {
		free(*out);
		*out = NULL;
		refuse(e, "invalid_request", NULL, "/%s: not base64", name);
		return -1;
	}
	return 0;
}

static json_t *
op_model_publish(struct gw_api *a, void *ctx, const char *cn, json_t *body, struct gw_api_error *e)
{
	(void)ctx;
	static const char *const names[] = { "manifest", "container", NULL };
	uint8_t *man = NULL, *con = NULL;
	size_t mlen = 0, clen = 0;
	struct gw_model md;
	const char *code;
	char why[GW_CATALOG_WHY_MAX];
	int created, rc;
	json_t *result = NULL;

	if (only_strings(body, e, names) != 0 ||
	    base64_member(body, "manifest", GW_CATALOG_MANIFEST_MAX, &man, &mlen, e) != 0 ||
	    base64_member(body, "container", GW_CATALOG_CONTAINER_MAX, &con, &clen, e) != 0)
		goto out;
	rc = gw_catalog_publish(a->catalog, man, mlen, con, clen, cn, gw_wall_ms(), &md, &created,
	                        &code, why);
	if (rc != 0) {
		refuse(e, code != NULL ? code : "internal", NULL, "%s", why);
		goto out;
	}
	/* Devices running another version of this model will want a delta: start building
	 * them now rather than when the first offer is made. */
	if (created && a->deltas != NULL)
		gw_deltas_prebuild(a->deltas, a->registry, md.m.name, md.m.digest);
	result = json_pack("{s:b, s:o}", "created", created, "model", model_json(a, &md));
out:
	free(man);
	free(con);
	return result;
}

static json_t *
op_model_get(struct gw_api *a, void *ctx, const char *cn, json_t *body, struct gw_api_error *e)
{
	static const char *const names[] = { "name", "version", NULL };
	const char *name, *version;
	struct gw_model md;
	int rc;
	(void)ctx;
	(void)cn;

	if (gw_check_members(body, "", names, e) != 0 ||
	    gw_check_required(body, "", "name", e) != 0 ||
	    gw_check_text(body, "", "name", GW_TEXT_NAME, 1, TFP_MODEL_NAME_MAX, &name, e) != 0 ||
	    gw_check_text(body, "", "version", GW_TEXT_VERSION, 5, TFP_VERSION_MAX, &version,
	                  e) != 0)
		return NULL;
	rc = version != NULL ? gw_catalog_find_version(a->catalog, name, version, &md)
	                     : gw_catalog_latest(a->catalog, name, &md);
	if (rc == -ENOENT)
		return refuse(e, "not_found", json_pack("{s:s, s:s}", "kind", "model", "id", name),
		              version != NULL ? "no version %s of model %s" : "no model %s%s",
		              version != NULL ? version : "", name);
	if (rc != 0)
		return refuse(e, "internal", NULL, "store: %s", strerror(-rc));
	return model_json(a, &md);
}

/* Newest sequence first, then by name: the order of model.list. */
static int
model_order(const struct gw_model *x, const struct gw_model *y)
{
	if (x->m.sequence != y->m.sequence)
		return x->m.sequence > y->m.sequence ? -1 : 1;
	return strcmp(x->m.name, y->m.name);
}

static int
model_cmp(const void *a, const void *b)
{
	return model_order(a, b);
}

static json_t *
op_model_list(struct gw_api *a, void *ctx, const char *cn, json_t *body, struct gw_api_error *e)
{
	static const char *const names[] = { "name", "class", "limit", "cursor", NULL };
	const char *name, *class, *cursor;
	struct gw_model *v = NULL, after;
	size_t n = 0, limit, total = 0, shown = 0, last = 0;
	char key[64], next[128];
	json_t *items, *o = NULL;
	int rc, more = 0;
	(void)ctx;
	(void)cn;

	if (gw_check_members(body, "", names, e) != 0 ||
	    gw_check_text(body, "", "name", GW_TEXT_NAME, 1, TFP_MODEL_NAME_MAX, &name, e) != 0 ||
	    gw_check_text(body, "", "class", GW_TEXT_NAME, 1, TFP_CLASS_MAX, &class, e) != 0 ||
	    gw_check_limit(body, &limit, e) != 0 ||
	    gw_check_text(body, "", "cursor", GW_TEXT_CURSOR, 1, 128, &cursor, e) != 0)
		return NULL;
	/* The cursor is the last item shown: "<sequence>.<name>". */
	memset(&after, 0, sizeof(after));
	if (cursor != NULL) {
		unsigned long long seq;
		int used = 0;
		if (gw_cursor_decode(cursor, key, sizeof(key)) != 0 ||
		    sscanf(key, "%llu.%n", &seq, &used) != 1 || used == 0 ||
		    strlen(key + used) > TFP_MODEL_NAME_MAX)
			return refuse(e, "invalid_request", json_pack("{s:s}", "path", "/cursor"),
			              "/cursor: not a cursor of this gateway");
		after.m.sequence = seq;
		snprintf(after.m.name, sizeof(after.m.name), "%s", key + used);
	}
	if ((rc = gw_catalog_list(a->catalog, name, &v, &n)) != 0)
		return refuse(e, "internal", NULL, "store: %s", strerror(-rc));
	if (n > 0)
		qsort(v, n, sizeof(v[0]), model_cmp);
	items = json_array();
	for (size_t i = 0; i < n; i++) {
		if (class != NULL && strcmp(v[i].m.device_class, class) != 0)
			continue;
		total++;
		if (cursor != NULL && model_order(&v[i], &after) <= 0)
			continue;
		if (shown == limit) {
			more = 1;
			continue;
		}
		json_array_append_new(items, model_json(a, &v[i]));
		shown++;
		last = i;
	}
	if (more) {
		snprintf(key, sizeof(key), "%llu.%s", (unsigned long long)v[last].m.sequence,
		         v[last].m.name);
		gw_cursor_encode(key, next, sizeof(next));
	}
	o = json_pack("{s:o, s:o, s:I}", "items", items, "next_cursor",
	              more ? json_string(next) : json_null(), "total", (json_int_t)total);
	free(v);
	return o;
}

static json_t *
slot_json(const struct tfp_slot *sl, int idx)
{
	static const char *const states[] = { "empty", "pending", "confirmed", "failed" };
	char digest[65];
	json_t *o = json_pack("{s:s, s:s}", "slot", idx == 0 ? "a" : "b", "state",
	                      states[sl->state]);
	if (sl->state != TFP_SLOT_EMPTY && sl->model[0] != '\0') {
		hex(sl->digest, sizeof(sl->digest), digest);
		json_object_set_new(o, "model", json_string(sl->model));
		json_object_set_new(o, "version", json_string(sl->version));
		json_object_set_new(o, "sequence", json_integer((json_int_t)sl->sequence));
		json_object_set_new(o, "digest", json_string(digest));
	}
	return o;
}

/* The device object of schemas/operator/device.schema.json. */
static json_t *
device_json(struct gw_api *a, const struct gw_device *d, const struct tfp_state *s,
            uint64_t first_seen)
{
	const struct gw_metrics *x = a->monitor != NULL ? gw_monitor_get(a->monitor, d->id) : NULL;
	const struct tfp_slot *act = &s->slots[s->active_slot];
	char first[21], last[21];
	json_t *sensors = json_array(), *slots = json_array(), *model;

	for (unsigned i = 0; i < s->sensor_count; i++)
		json_array_append_new(sensors, json_string(s->sensors[i]));
	for (int i = 0; i < TFP_SLOTS; i++)
		json_array_append_new(slots, slot_json(&s->slots[i], i));
	model = act->state == TFP_SLOT_CONFIRMED
	                ? json_pack("{s:s, s:s}", "name", act->model, "version", act->version)
	                : json_null();
	gw_format_time(first_seen, first);
	gw_format_time(d->last_seen_ms, last);
	json_t *tags = json_array();
	for (const char **t = d->tags; t != NULL && *t != NULL; t++)
		json_array_append_new(tags, json_string(*t));
	return json_pack("{s:s, s:s, s:b, s:s, s:s, s:I, s:I, s:o, s:{s:s, s:I}, s:o, s:s, s:o,"
	                 " s:o, s:b, s:o, s:n}",
	                 "id", d->id, "class", s->device_class, "online", d->online,
	                 "first_seen", first, "last_seen", last, "ram_bytes",
	                 (json_int_t)s->ram_bytes, "flash_bytes", (json_int_t)s->flash_bytes,
	                 "sensors", sensors, "agent", "version", s->agent_version, "abi",
	                 (json_int_t)s->agent_abi, "tags", tags, "active_slot",
	                 s->active_slot == 0 ? "a" : "b", "slots", slots, "model", model,
	                 "drifting", x != NULL && x->why != 0, "metrics",
	                 x != NULL ? gw_monitor_metrics_json(x) : json_null(), "rollout");
}

static json_t *
op_device_get(struct gw_api *a, void *ctx, const char *cn, json_t *body, struct gw_api_error *e)
{
	static const char *const names[] = { "id", NULL };
	const struct gw_device *d;
	struct tfp_state s;
	uint64_t first_seen;
	const char *id;
	(void)ctx;
	(void)cn;

	if (gw_check_members(body, "", names, e) != 0 ||
	    gw_check_required(body, "", "id", e) != 0 ||
	    gw_check_text(body, "", "id", GW_TEXT_NAME, 1, TFP_DEVICE_ID_MAX, &id, e) != 0)
		return NULL;
	if ((d = gw_registry_get(a->registry, id)) == NULL ||
	    gw_registry_load_state(a->registry, id, &s, &first_seen) != 0)
		return refuse(e, "not_found", json_pack("{s:s, s:s}", "kind", "device", "id", id),
		              "no device %s", id);
	return device_json(a, d, &s, first_seen);
}

/* The filters of device.list, checked. */
struct device_filter {
	const char *class, *model, *version;
	int online, drifting;
	int can_run;
	struct gw_model fit;
	json_t *tags;
	const struct gw_registry *reg;
	const struct gw_monitor *mon;
	const struct gw_device **v;
	size_t n, cap;
	int err;
};

static int
device_matches(const struct device_filter *f, const struct gw_device *d)
{
	const struct gw_metrics *x;
	size_t i;
	json_t *t;

	if (f->class != NULL && strcmp(gw_registry_class(f->reg, d), f->class) != 0)
		return 0;
	if (f->online >= 0 && d->online != f->online)
		return 0;
	if (f->model != NULL &&
	    (d->slot_state[d->active_slot] != TFP_SLOT_CONFIRMED || strcmp(d->model, f->model) != 0 ||
	     (f->version != NULL && strcmp(d->version, f->version) != 0)))
		return 0;
	if (f->drifting >= 0) {
		x = f->mon != NULL ? gw_monitor_get(f->mon, d->id) : NULL;
		if ((x != NULL && x->why != 0) != f->drifting)
			return 0;
	}
	if (f->can_run && !gw_registry_fits(f->reg, d, &f->fit.m))
		return 0;
	json_array_foreach(f->tags, i, t)
		if (!gw_registry_has_tag(d, json_string_value(t)))
			return 0;
	return 1;
}

static void
collect_device(void *arg, void *entry)
{
	struct device_filter *f = arg;
	const struct gw_device *d = entry;

	if (f->err != 0 || !device_matches(f, d))
		return;
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 256;
		const struct gw_device **p = realloc(f->v, cap * sizeof(*p));
		if (p == NULL) {
			f->err = -ENOMEM;
			return;
		}
		f->v = p;
		f->cap = cap;
	}
	f->v[f->n++] = d;
}

static int
device_cmp(const void *a, const void *b)
{
	const struct gw_device *const *x = a, *const *y = b;
	return strcmp((*x)->id, (*y)->id);
}

static json_t *
op_device_list(struct gw_api *a, void *ctx, const char *cn, json_t *body, struct gw_api_error *e)
{
	static const char *const names[] = { "class", "model", "version", "online", "drifting",
		                             "can_run", "tags", "limit", "cursor", NULL };
	static const char *const fit_names[] = { "model", "version", NULL };
	static struct tfp_state st;
	struct device_filter f;
	const char *cursor, *fit_model, *fit_version;
	char after[TFP_DEVICE_ID_MAX + 1] = "", next[128];
	size_t limit, i, shown = 0;
	json_t *can_run, *items, *o;
	(void)ctx;
	(void)cn;

	memset(&f, 0, sizeof(f));
	f.reg = a->registry;
	f.mon = a->monitor;
	if (gw_check_members(body, "", names, e) != 0 ||
	    gw_check_text(body, "", "class", GW_TEXT_NAME, 1, TFP_CLASS_MAX, &f.class, e) != 0 ||
	    gw_check_text(body, "", "model", GW_TEXT_NAME, 1, TFP_MODEL_NAME_MAX, &f.model, e) != 0 ||
	    gw_check_text(body, "", "version", GW_TEXT_VERSION, 5, TFP_VERSION_MAX, &f.version,
	                  e) != 0 ||
	    gw_check_bool(body, "", "online", &f.online, e) != 0 ||
	    gw_check_bool(body, "", "drifting", &f.drifting, e) != 0 ||
	    gw_check_tags(body, "tags", 1, &f.tags, e) != 0 || gw_check_limit(body, &limit, e) != 0 ||
	    gw_check_text(body, "", "cursor", GW_TEXT_CURSOR, 1, 128, &cursor, e) != 0)
		return NULL;
	if (f.version != NULL && f.model == NULL)
		return refuse(e, "invalid_request",
		              json_pack("{s:s, s:s}", "path", "", "keyword", "dependentRequired"),
		              "'version' needs 'model'");
	if ((can_run = json_object_get(body, "can_run")) != NULL) {
		if (!json_is_object(can_run))
			return refuse(e, "invalid_request",
			              json_pack("{s:s, s:s}", "path", "/can_run", "keyword", "type"),
			              "/can_run: must be an object");
		if (gw_check_members(can_run, "/can_run", fit_names, e) != 0 ||
		    gw_check_required(can_run, "/can_run", "model", e) != 0 ||
		    gw_check_required(can_run, "/can_run", "version", e) != 0 ||
		    gw_check_text(can_run, "/can_run", "model", GW_TEXT_NAME, 1, TFP_MODEL_NAME_MAX,
		                  &fit_model, e) != 0 ||
		    gw_check_text(can_run, "/can_run", "version", GW_TEXT_VERSION, 5,
		                  TFP_VERSION_MAX, &fit_version, e) != 0)
			return NULL;
		if (gw_catalog_find_version(a->catalog, fit_model, fit_version, &f.fit) != 0)
			return refuse(e, "not_found",
			              json_pack("{s:s, s:s}", "kind", "model", "id", fit_model),
			              "no version %s of model %s", fit_version, fit_model);
		f.can_run = 1;
	}
	if (cursor != NULL && gw_cursor_decode(cursor, after, sizeof(after)) != 0)
		return refuse(e, "invalid_request", json_pack("{s:s}", "path", "/cursor"),
		              "/cursor: not a cursor of this gateway");

	gw_devtab_each(&a->registry->tab, collect_device, &f);
	if (f.err != 0) {
		free(f.v);
		return refuse(e, "internal", NULL, "out of memory");
	}
	if (f.n > 0)
		qsort(f.v, f.n, sizeof(f.v[0]), device_cmp);
	items = json_array();
	next[0] = '\0';
	for (i = 0; i < f.n; i++) {
		uint64_t first_seen;
		if (after[0] != '\0' && strcmp(f.v[i]->id, after) <= 0)
			continue;
		if (shown == limit) {
			/* More to come: the cursor is the last id shown. */
			gw_cursor_encode(f.v[i - 1]->id, next, sizeof(next));
			break;
		}
		if (gw_registry_load_state(a->registry, f.v[i]->id, &st, &first_seen) != 0)
			continue;   /* logged by the registry; the total still counts it */
		json_array_append_new(items, device_json(a, f.v[i], &st, first_seen));
		shown++;
	}
	o = json_pack("{s:o, s:o, s:I}", "items", items, "next_cursor",
	              next[0] != '\0' ? json_string(next) : json_null(), "total", (json_int_t)f.n);
	free(f.v);
	return o;
}

static json_t *
op_device_tags(struct gw_api *a, void *ctx, const char *cn, json_t *body, struct gw_api_error *e)
{
	static const char *const names[] = { "id", "add", "remove", NULL };
	const struct gw_device *d;
	struct tfp_state s;
	uint64_t first_seen;
	const char *id;
	json_t *add, *remove;
	int changed, rc;
	(void)ctx;

	if (gw_check_members(body, "", names, e) != 0 ||
	    gw_check_required(body, "", "id", e) != 0 ||
	    gw_check_text(body, "", "id", GW_TEXT_NAME, 1, TFP_DEVICE_ID_MAX, &id, e) != 0 ||
	    gw_check_tags(body, "add", 0, &add, e) != 0 ||
	    gw_check_tags(body, "remove", 0, &remove, e) != 0)
		return NULL;
	if (add == NULL && remove == NULL)
		return refuse(e, "invalid_request",
		              json_pack("{s:s, s:s}", "path", "", "keyword", "anyOf"),
		              "give 'add', 'remove' or both");
	rc = gw_registry_set_tags(a->registry, id, add, remove, cn, gw_wall_ms(), &changed);
	if (rc == -ENOENT)
		return refuse(e, "not_found", json_pack("{s:s, s:s}", "kind", "device", "id", id),
		              "no device %s", id);
	if (rc == -E2BIG)
		return refuse(e, "invalid_request",
		              json_pack("{s:s, s:s, s:i}", "path", "/add", "keyword", "maxItems",
		                        "limit", GW_REGISTRY_MAX_TAGS),
		              "a device has at most %d tags", GW_REGISTRY_MAX_TAGS);
	if (rc != 0)
		return refuse(e, rc == -ENOSPC ? "storage_full" : "internal", NULL, "store: %s",
		              strerror(-rc));
	if ((d = gw_registry_get(a->registry, id)) == NULL ||
	    gw_registry_load_state(a->registry, id, &s, &first_seen) != 0)
		return refuse(e, "internal", NULL, "device %s vanished", id);
	return device_json(a, d, &s, first_seen);
}

struct fleet_count {
	struct gw_api *a;
	json_int_t total, online, drifting;
	json_int_t class_total[GW_REGISTRY_MAX_CLASSES], class_online[GW_REGISTRY_MAX_CLASSES];
	struct model_count {
		char name[TFP_MODEL_NAME_MAX + 1], version[TFP_VERSION_MAX + 1];
		json_int_t devices, online, drifting;
	} models[256];
	unsigned nmodels;
};

static void
count_fleet(void *arg, void *entry)
{
	struct fleet_count *f = arg;
	const struct gw_device *d = entry;
	const struct gw_metrics *x = gw_monitor_get(f->a->monitor, d->id);
	int drifting = x != NULL && x->why != 0;
	unsigned i;

	f->total++;
	f->online += d->online;
	f->drifting += drifting;
	if (d->class_idx < GW_REGISTRY_MAX_CLASSES) {
		f->class_total[d->class_idx]++;
		f->class_online[d->class_idx] += d->online;
	}
	if (d->model[0] == '\0' || d->slot_state[d->active_slot] != TFP_SLOT_CONFIRMED)
		return;
	for (i = 0; i < f->nmodels; i++)
		if (strcmp(f->models[i].name, d->model) == 0 &&
		    strcmp(f->models[i].version, d->version) == 0)
			break;
	if (i == f->nmodels) {
		if (f->nmodels == sizeof(f->models) / sizeof(f->models[0]))
			return;   /* more versions than the answer lists; counted in totals */
		memcpy(f->models[i].name, d->model, sizeof(f->models[i].name));
		memcpy(f->models[i].version, d->version, sizeof(f->models[i].version));
		f->nmodels++;
	}
	f->models[i].devices++;
	f->models[i].online += d->online;
	f->models[i].drifting += drifting;
}

json_t *
gw_api_fleet_status(struct gw_api *a)
{
	struct fleet_count *f;
	char started[21];
	json_t *classes, *models, *o;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	f->a = a;
	gw_devtab_each(&a->registry->tab, count_fleet, f);
	classes = json_array();
	for (unsigned i = 0; i < a->registry->nclasses; i++)
		if (f->class_total[i] > 0)
			json_array_append_new(classes, json_pack("{s:s, s:I, s:I}", "class",
			                                         a->registry->classes[i], "total",
			                                         f->class_total[i], "online",
			                                         f->class_online[i]));
	models = json_array();
	for (unsigned i = 0; i < f->nmodels; i++)
		json_array_append_new(models, json_pack("{s:s, s:s, s:I, s:I, s:I}", "name",
		                                        f->models[i].name, "version",
		                                        f->models[i].version, "devices",
		                                        f->models[i].devices, "online",
		                                        f->models[i].online, "drifting",
		                                        f->models[i].drifting));
	gw_format_time(a->started_ms, started);
	o = json_pack("{s:s, s:{s:s, s:s}, s:{s:I, s:I, s:I, s:I}, s:o, s:o, s:[]}", "site",
	              a->site, "gateway", "version", TF_VERSION, "started_at", started,
	              "devices", "total", f->total, "online", f->online, "drifting", f->drifting,
	              "updating", (json_int_t)0, "classes", classes, "models", models, "rollouts");
	if (o != NULL && a->fleet_rollouts != NULL) {
		json_int_t updating = 0;
		a->fleet_rollouts(a->fleet_ctx, json_object_get(o, "rollouts"), &updating);
		json_object_set_new(json_object_get(o, "devices"), "updating", json_integer(updating));
	}
	free(f);
	return o;
}

static json_t *
op_fleet_status(struct gw_api *a, void *ctx, const char *cn, json_t *body, struct gw_api_error *e)
{
	(void)ctx;
	static const char *const names[] = { NULL };
	char at[21];
	json_t *o;
	(void)cn;

	if (only_strings(body, e, names) != 0)
		return NULL;
	if ((o = gw_api_fleet_status(a)) == NULL)
		return refuse(e, "internal", NULL, "out of memory");
	gw_format_time(gw_wall_ms(), at);
	json_object_set_new(o, "at", json_string(at));
	return o;
}

static const struct gw_api_op operations[] = {
	{ "model.publish", op_model_publish },
	{ "model.get", op_model_get },
	{ "model.list", op_model_list },
	{ "device.get", op_device_get },
	{ "device.list", op_device_list },
	{ "device.tags", op_device_tags },
	{ "fleet.status", op_fleet_status },
};

int
gw_api_add_ops(struct gw_api *a, const struct gw_api_op *ops, size_t n, void *ctx)
{
	if (a->n_groups == GW_API_MAX_GROUPS)
		return -ENOSPC;
	a->groups[a->n_groups].ops = ops;
	a->groups[a->n_groups].n = n;
	a->groups[a->n_groups].ctx = ctx;
	a->n_groups++;
	return 0;
}

/* The operation called op, in the core table or a module's; NULL when none is. */
static const struct gw_api_op *
find_op(const struct gw_api *a, const char *op, void **ctx)
{
	for (size_t g = 0; g < a->n_groups; g++)
		for (size_t i = 0; i < a->groups[g].n; i++)
			if (strcmp(a->groups[g].ops[i].name, op) == 0) {
				*ctx = a->groups[g].ctx;
				return &a->groups[g].ops[i];
			}
	return NULL;
}

void
gw_api_init(struct gw_api *a, const char *site, struct gw_catalog *catalog,
            struct gw_registry *registry, struct gw_monitor *monitor, struct gw_mqtt *mqtt)
{
	memset(a, 0, sizeof(*a));
	a->site = site;
	a->catalog = catalog;
	a->registry = registry;
	a->monitor = monitor;
	a->mqtt = mqtt;
	a->started_ms = gw_wall_ms();
	gw_api_add_ops(a, operations, sizeof(operations) / sizeof(operations[0]), NULL);
}

json_t *
gw_api_call(struct gw_api *a, const char *op, const char *cn, json_t *body,
            struct gw_api_error *e)
{
	void *ctx = NULL;
	const struct gw_api_op *o = find_op(a, op, &ctx);
	if (o == NULL)
		return refuse(e, "unknown_operation", NULL, "'%s' is not an operation", op);
	return o->fn(a, ctx, cn, body, e);
}

/* Splits tf/<site>/api/req/<op>/<cn>; 0 or -EINVAL. */
static int
parse_topic(const struct gw_api *a, const char *topic, char *op, char *cn)
{
	char prefix[96];
	const char *p, *slash;
	size_t n = (size_t)snprintf(prefix, sizeof(prefix), "tf/%s/api/req/", a->site);

	if (strncmp(topic, prefix, n) != 0)
		return -EINVAL;
	p = topic + n;
	if ((slash = strchr(p, '/')) == NULL || slash == p || (size_t)(slash - p) >= OP_MAX)
		return -EINVAL;
	memcpy(op, p, (size_t)(slash - p));
	op[slash - p] = '\0';
	p = slash + 1;
	if (*p == '\0' || strchr(p, '/') != NULL || strlen(p) >= CN_MAX + 1)
		return -EINVAL;
	memcpy(cn, p, strlen(p) + 1);
	return 0;
}

void
gw_api_on_request(struct gw_api *a, const struct gw_mqtt_msg *m)
{
	char op[OP_MAX], cn[CN_MAX + 1], resp_prefix[160];
	struct gw_api_error e = { 0 };
	struct gw_mqtt_reply reply = { m->correlation, m->correlation_len };
	json_t *body = NULL, *result = NULL, *answer;
	json_error_t jerr;
	char *text;

	a->requests++;
	if (parse_topic(a, m->topic, op, cn) != 0) {
		a->dropped++;
		log_warnx("api: request on malformed topic %s dropped", m->topic);
		return;
	}
	snprintf(resp_prefix, sizeof(resp_prefix), "tf/%s/api/resp/%s/", a->site, cn);
	if (m->response_topic == NULL ||
	    strncmp(m->response_topic, resp_prefix, strlen(resp_prefix)) != 0) {
		a->dropped++;
		log_warnx("api: %s from %s has no response topic under %s; not executed", op, cn,
		          resp_prefix);
		return;
	}

	body = json_loadb((const char *)m->payload, m->len, JSON_REJECT_DUPLICATES, &jerr);
	if (body == NULL || !json_is_object(body))
		refuse(&e, "bad_json", NULL, "the body is not one JSON object%s%s",
		       body == NULL ? ": " : "", body == NULL ? jerr.text : "");
	else
		result = gw_api_call(a, op, cn, body, &e);
	json_decref(body);

	if (result != NULL) {
		answer = json_pack("{s:b, s:o}", "ok", 1, "result", result);
	} else {
		json_t *err = json_pack("{s:s, s:s}", "code", e.code ? e.code : "internal",
		                        "message", e.message);
		if (err != NULL && e.details != NULL)
			json_object_set_new(err, "details", e.details);
		else
			json_decref(e.details);
		answer = json_pack("{s:b, s:o}", "ok", 0, "error", err);
		a->refused++;
		log_info("api: %s from %s refused: %s: %s", op, cn, e.code, e.message);
	}
	text = answer != NULL ? json_dumps(answer, JSON_COMPACT) : NULL;
	json_decref(answer);
	if (text == NULL) {
		log_warnx("api: cannot encode the answer to %s from %s", op, cn);
		return;
	}
	gw_mqtt_publish(a->mqtt, m->response_topic, text, strlen(text), 1, 0, &reply);
	free(text);
}
