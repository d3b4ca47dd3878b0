/*
 * Retained per-model status. See modelstatus.h.
 */
#include "modelstatus.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

/* One published version and what the fleet says about it. */
struct version_row {
	const struct gw_model *md;
	uint64_t devices, online, drifting;
	uint64_t reporting, samples;
	double loss, accuracy, confidence;
};

struct agg {
	struct version_row *rows;     /* sorted by (name, version) for lookups */
	size_t n;
	const struct gw_monitor *mon;
};

static int
row_cmp_key(const char *name, const char *version, const struct version_row *r)
{
	int c = strcmp(name, r->md->m.name);
	return c != 0 ? c : strcmp(version, r->md->m.version);
}

static int
row_cmp(const void *a, const void *b)
{
	const struct version_row *y = b;
	const struct version_row *x = a;
	return row_cmp_key(x->md->m.name, x->md->m.version, y);
}

static struct version_row *
find_row(const struct agg *g, const char *name, const char *version)
{
	size_t lo = 0, hi = g->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = row_cmp_key(name, version, &g->rows[mid]);
		if (c == 0)
			return &g->rows[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static void
count_device(void *arg, void *entry)
{
	struct agg *g = arg;
	const struct gw_device *d = entry;
	const struct gw_metrics *x;
	struct version_row *r;

	if (d->model[0] == '\0' || d->slot_state[d->active_slot] != TFP_SLOT_CONFIRMED ||
	    (r = find_row(g, d->model, d->version)) == NULL)
		return;
	r->devices++;
	r->online += d->online;
	x = g->mon != NULL ? gw_monitor_get(g->mon, d->id) : NULL;
	r->drifting += x != NULL && x->why != 0;
}

/* Quality figures belong to the version the telemetry names (a device may report on a
 * version it has just left). */
static void
count_metrics(void *arg, void *entry)
{
	struct agg *g = arg;
	const struct gw_metrics *x = entry;
	struct version_row *r = find_row(g, x->model, x->version);

	if (r == NULL)
		return;
	r->reporting++;
	r->samples += x->samples;
	r->loss += isfinite(x->loss) ? fmax(x->loss, 0.0) : 0.0;
	r->accuracy += isfinite(x->accuracy) ? fmin(fmax(x->accuracy, 0.0), 1.0) : 0.0;
	r->confidence += isfinite(x->confidence) ? fmin(fmax(x->confidence, 0.0), 1.0) : 0.0;
}

static json_t *
version_json(const struct version_row *r)
{
	char published[21];
	json_t *metrics = json_null();

	if (r->reporting > 0) {
		double n = (double)r->reporting;
		metrics = json_pack("{s:I, s:f, s:f, s:f}", "samples",
		                    (json_int_t)(r->samples > UINT32_MAX ? UINT32_MAX : r->samples),
		                    "loss_avg", r->loss / n, "accuracy_avg",
		                    fmin(r->accuracy / n, 1.0), "confidence_avg",
		                    fmin(r->confidence / n, 1.0));
	}
	gw_format_time(r->md->published_ms, published);
	return json_pack("{s:s, s:I, s:s, s:I, s:I, s:I, s:o}", "version", r->md->m.version,
	                 "sequence", (json_int_t)r->md->m.sequence, "published_at", published,
	                 "devices", (json_int_t)r->devices, "online", (json_int_t)r->online,
	                 "drifting", (json_int_t)r->drifting, "metrics", metrics);
}

json_t *
gw_model_status_build(struct gw_api *a)
{
	struct gw_model *v = NULL;
	struct agg g = { NULL, 0, a->monitor };
	size_t n = 0;
	json_t *all = NULL;

	if (gw_catalog_list(a->catalog, NULL, &v, &n) != 0)
		return NULL;
	if (n > 0 && (g.rows = calloc(n, sizeof(*g.rows))) == NULL)
		goto out;
	for (size_t i = 0; i < n; i++)
		g.rows[i].md = &v[i];
	g.n = n;
	if (n > 0)
		qsort(g.rows, n, sizeof(*g.rows), row_cmp);
	gw_devtab_each(&a->registry->tab, count_device, &g);
	if (a->monitor != NULL)
		gw_devtab_each(&a->monitor->tab, count_metrics, &g);

	/* The catalog lists by name then sequence: one document per run of a name, the last
	 * version of the run is the latest. */
	all = json_object();
	for (size_t i = 0; i < n && all != NULL; i++) {
		json_t *doc = json_object_get(all, v[i].m.name), *versions;
		if (doc == NULL) {
			doc = json_pack("{s:s, s:s, s:[]}", "name", v[i].m.name, "latest",
			                v[i].m.version, "versions");
			if (doc == NULL || json_object_set_new(all, v[i].m.name, doc) != 0) {
				json_decref(all);
				all = NULL;
				break;
			}
		}
		json_object_set_new(doc, "latest", json_string(v[i].m.version));
		versions = json_object_get(doc, "versions");
		json_array_append_new(versions,
		                      version_json(find_row(&g, v[i].m.name, v[i].m.version)));
	}
out:
	free(g.rows);
	free(v);
	return all;
}

void
gw_model_status_init(struct gw_model_status *s)
{
	memset(s, 0, sizeof(*s));
	s->last = json_object();
}

void
gw_model_status_free(struct gw_model_status *s)
{
	json_decref(s->last);
	s->last = NULL;
}

int
gw_model_status_publish(struct gw_model_status *s, struct gw_api *a, struct gw_mqtt *m)
{
	const char *name;
	json_t *all, *doc;
	char at[21], topic[128];
	int published = 0;

	if (s->last == NULL || (all = gw_model_status_build(a)) == NULL)
		return 0;
	gw_format_time(gw_wall_ms(), at);
	json_object_foreach(all, name, doc) {
		char *now = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS), *text;
		const char *before = json_string_value(json_object_get(s->last, name));

		if (now == NULL || (before != NULL && strcmp(before, now) == 0)) {
			free(now);
			continue;
		}
		json_object_set_new(doc, "at", json_string(at));
		text = json_dumps(doc, JSON_COMPACT);
		snprintf(topic, sizeof(topic), "tf/%s/status/model/%s", a->site, name);
		if (text != NULL &&
		    gw_mqtt_publish(m, topic, text, strlen(text), 1, 1, NULL) == 0) {
			json_object_set_new(s->last, name, json_string(now));
			published++;
			s->published++;
		}
		free(text);
		free(now);
	}
	json_decref(all);
	return published;
}
