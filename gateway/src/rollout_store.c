/*
 * The rollout engine's durable side: records in the store, creation with matching, the
 * queue of effects and the one commit that precedes them. See rollout.h.
 */
#include "rollout.h"
#include "rollout_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "outbox.h"
#include "tinyfleet/protocol/msg_command.h"

/* Something to do once the store has committed the change that caused it. */
struct gw_effect {
	struct gw_effect *next;
	enum { FX_EVENT, FX_COMMAND } kind;
	/* FX_EVENT */
	char event[24];
	json_t *data;
	int audit;
	int mergeable;             /* a device's progress: a newer one replaces it */
	uint64_t seq;
	/* FX_COMMAND */
	struct gw_rollout *ro;
	char device[TFP_DEVICE_ID_MAX + 1];
	int rollback;
	int new_id;
	struct gw_fetch fetch;
};

static void
push(struct gw_rollouts *r, struct gw_effect *fx)
{
	if (r->fx_tail != NULL)
		r->fx_tail->next = fx;
	else
		r->fx_head = fx;
	r->fx_tail = fx;
}

/* Notes fx as the device's newest effect in the current queue. */
static void
mark(struct gw_rollouts *r, struct gw_rdev *d, struct gw_effect *fx)
{
	d->fx_last = fx;
	d->fx_gen = r->fx_gen;
}

/* The queue is about to be emptied: every device's fx_last goes stale at once. */
static void
queue_emptied(struct gw_rollouts *r)
{
	r->fx_head = r->fx_tail = NULL;
	r->fx_gen++;
}

void
gw__queue_device_event(struct gw_rollouts *r, struct gw_rdev *d, const char *kind,
                       json_t *data, int audit, int mergeable)
{
	struct gw_effect *fx;

	/* Phases a device passes before the next commit are told as the newest of them (a
	 * burst of reports after the last chunk would otherwise cost one event each). Only
	 * when nothing else about the device was queued after it: the order per device
	 * stands. */
	if (mergeable && d != NULL && d->fx_gen == r->fx_gen && d->fx_last != NULL &&
	    d->fx_last->mergeable && strcmp(d->fx_last->event, kind) == 0) {
		json_decref(d->fx_last->data);
		d->fx_last->data = data;
		r->progress_merged++;
		return;
	}
	if ((fx = calloc(1, sizeof(*fx))) == NULL) {
		json_decref(data);
		return;
	}
	fx->kind = FX_EVENT;
	snprintf(fx->event, sizeof(fx->event), "%s", kind);
	fx->data = data;
	fx->audit = audit;
	fx->mergeable = mergeable && !audit;
	push(r, fx);
	if (d != NULL)
		mark(r, d, fx);
}

void
gw__queue_event(struct gw_rollouts *r, const char *kind, json_t *data, int audit)
{
	gw__queue_device_event(r, NULL, kind, data, audit, 0);
}

void
gw__queue_command(struct gw_rollouts *r, struct gw_rollout *ro, struct gw_rdev *d,
                  const struct gw_fetch *f)
{
	struct gw_effect *fx = calloc(1, sizeof(*fx));
	if (fx == NULL)
		return;   /* the re-send timer tries again */
	fx->kind = FX_COMMAND;
	fx->ro = ro;
	snprintf(fx->device, sizeof(fx->device), "%s", d->id);
	fx->rollback = (d->flags & GW_RDF_ROLLBACK_CMD) != 0;
	fx->new_id = d->cmd == 0;
	if (f != NULL)
		fx->fetch = *f;
	else if (!fx->rollback)
		fx->fetch.fetch = TFP_FETCH_FULL;   /* re-send: rebuilt from the device record */
	if (f == NULL && !fx->rollback && !fx->new_id)
		fx->fetch.object_size = 0;          /* marks "rebuild the offer" */
	d->sent_ms = gw_wall_ms();             /* not again before the re-send interval */
	push(r, fx);
	mark(r, d, fx);
}

/* ---- records -------------------------------------------------------------------------- */

static char *
rollout_record(const struct gw_rollout *ro)
{
	json_t *waves = json_array(), *o;
	char *text;

	for (unsigned w = 0; w < ro->nwaves; w++)
		json_array_append_new(waves, json_pack("{s:i, s:i, s:I, s:f, s:I, s:I}", "s",
		                                       ro->waves[w].state, "r", ro->waves[w].reason,
		                                       "n", (json_int_t)ro->waves[w].devices, "sh",
		                                       ro->waves[w].share, "t0",
		                                       (json_int_t)ro->waves[w].started_ms, "t1",
		                                       (json_int_t)ro->waves[w].finished_ms));
	o = json_pack("{s:s, s:O, s:i, s:i, s:i, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:o}", "id",
	              ro->id, "def", ro->def.json, "state", ro->state, "wave", ro->wave, "reason",
	              ro->reason, "message", ro->message, "by", ro->created_by, "created",
	              (json_int_t)ro->created_ms, "updated", (json_int_t)ro->updated_ms, "order",
	              (json_int_t)ro->order, "sent", (json_int_t)ro->bytes_sent, "full",
	              (json_int_t)ro->bytes_full, "waves", waves);
	if (o != NULL && ro->status_cleared)
		json_object_set_new(o, "cleared", json_true());
	text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return text;
}

static char *
device_record(const struct gw_rdev *d)
{
	json_t *o = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I, "
	                      "s:I, s:s, s:[f, f, f, I, i, i]}",
	                      "s", d->state, "w", d->wave, "a", d->attempts, "f", d->flags, "t",
	                      d->transfer, "r", d->reason, "c", d->device_code, "cmd",
	                      (json_int_t)d->cmd, "due", (json_int_t)d->due_ms, "st",
	                      (json_int_t)d->settle_ms, "u", (json_int_t)d->updated_ms, "bs",
	                      (json_int_t)d->bytes_sent, "fb", (json_int_t)d->full_bytes, "os",
	                      (json_int_t)d->obj_size, "fv", d->from_version, "b",
	                      (double)d->base.loss, (double)d->base.accuracy,
	                      (double)d->base.confidence, (json_int_t)d->base.samples,
	                      d->base.valid, d->base.drift);
	char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return text;
}

static int
load_device(struct gw_rdev *d, const char *id, const void *val, size_t len)
{
	json_t *o = json_loadb(val, len, 0, NULL);
	int s = 0, w = 0, a = 0, f = 0, t = 0, rs = 0, c = 0, valid = 0, drift = 0;
	json_int_t cmd = 0, due = 0, st = 0, u = 0, bs = 0, fb = 0, os = 0, samples = 0;
	double loss = 0, acc = 0, conf = 0;
	const char *fv = "";
	int rc;

	if (o == NULL)
		return -EBADMSG;
	rc = json_unpack(o, "{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I, "
	                    "s:I, s:s, s:[F, F, F, I, i, i]}",
	                 "s", &s, "w", &w, "a", &a, "f", &f, "t", &t, "r", &rs, "c", &c, "cmd",
	                 &cmd, "due", &due, "st", &st, "u", &u, "bs", &bs, "fb", &fb, "os", &os,
	                 "fv", &fv, "b", &loss, &acc, &conf, &samples, &valid, &drift);
	if (rc == 0 && (s < 0 || s >= GW_RD_COUNT || rs < 0 || rs >= GW_R_COUNT))
		rc = -1;
	if (rc == 0) {
		memset(d, 0, sizeof(*d));
		snprintf(d->id, sizeof(d->id), "%s", id);
		snprintf(d->from_version, sizeof(d->from_version), "%s", fv);
		d->state = (uint8_t)s;
		d->wave = (uint8_t)w;
		d->attempts = (uint8_t)a;
		d->flags = (uint8_t)f;
		d->transfer = (uint8_t)t;
		d->reason = (uint8_t)rs;
		d->device_code = c;
		d->cmd = (uint64_t)cmd;
		d->due_ms = (uint64_t)due;
		d->settle_ms = (uint64_t)st;
		d->updated_ms = (uint64_t)u;
		d->bytes_sent = (uint32_t)bs;
		d->full_bytes = (uint32_t)fb;
		d->obj_size = (uint32_t)os;
		d->base.loss = (float)loss;
		d->base.accuracy = (float)acc;
		d->base.confidence = (float)conf;
		d->base.samples = (uint32_t)samples;
		d->base.valid = (uint8_t)valid;
		d->base.drift = (uint8_t)drift;
		d->last_phase = 0xff;
	}
	json_decref(o);
	return rc == 0 ? 0 : -EBADMSG;
}

static void
rollout_free(struct gw_rollout *ro)
{
	if (ro == NULL)
		return;
	gw_rollout_def_free(&ro->def);
	free(ro->devs);
	free(ro->status_text);
	free(ro);
}

/* The version's image facts and signed manifest, from the catalog. */
static int
bind_version(struct gw_rollouts *r, struct gw_rollout *ro)
{
	struct gw_model m;
	int rc;

	if ((rc = gw_catalog_find_version(r->catalog, ro->def.model, ro->def.version, &m)) != 0)
		return rc;
	ro->model_seq = m.m.sequence;
	memcpy(ro->digest, m.m.digest, TFP_DIGEST_LEN);
	ro->image_size = (uint32_t)m.m.image_size;
	return gw_catalog_manifest(r->catalog, ro->def.model, m.m.sequence, ro->manifest,
	                           sizeof(ro->manifest), &ro->manifest_len);
}

static int
add_rollout(struct gw_rollouts *r, struct gw_rollout *ro)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct gw_rollout **p = realloc(r->list, cap * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		r->list = p;
		r->cap = cap;
	}
	r->list[r->n++] = ro;
	if (ro->order >= r->next_order)
		r->next_order = ro->order + 1;
	return 0;
}

struct load_ctx {
	struct gw_rollouts *r;
	struct gw_rollout *ro;
	size_t cap;
	int rc;
};

static int
load_dev_cb(void *arg, const char *device, const void *val, size_t vlen)
{
	struct load_ctx *c = arg;
	struct gw_rollout *ro = c->ro;

	if (ro->ndev == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct gw_rdev *p = realloc(ro->devs, cap * sizeof(*p));
		if (p == NULL) {
			c->rc = -ENOMEM;
			return 1;
		}
		ro->devs = p;
		c->cap = cap;
	}
	if (load_device(&ro->devs[ro->ndev], device, val, vlen) != 0) {
		log_warnx("rollout %s: record of device %s unreadable; skipped", ro->id, device);
		return 0;
	}
	ro->ndev++;
	return 0;
}

/* A rollout from its stored record (devices not loaded), or NULL if unreadable. */
static struct gw_rollout *
parse_rollout(struct gw_rollouts *r, const char *id, const void *val, size_t vlen)
{
	struct gw_rollout *ro = calloc(1, sizeof(*ro));
	struct gw_api_error e = { 0 };
	json_t *o = json_loadb(val, vlen, 0, NULL), *def, *waves, *w;
	json_int_t created = 0, updated = 0, order = 0, sent = 0, full = 0;
	int state = 0, wave = -1, reason = 0, cleared = 0;
	const char *message = "", *by = "";
	size_t i;

	if (ro == NULL || o == NULL ||
	    json_unpack(o, "{s:o, s:i, s:i, s:i, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:o, s?b}",
	                "def", &def, "state", &state, "wave", &wave, "reason", &reason,
	                "message", &message, "by", &by, "created", &created, "updated", &updated,
	                "order", &order, "sent", &sent, "full", &full, "waves", &waves,
	                "cleared", &cleared) != 0 ||
	    gw_rollout_def_parse(def, &ro->def, &e) != 0) {
		log_warnx("rollout %s: record unreadable (%s); skipped", id, e.message);
		json_decref(e.details);
		json_decref(o);
		rollout_free(ro);
		return NULL;
	}
	snprintf(ro->id, sizeof(ro->id), "%s", id);
	ro->state = (uint8_t)state;
	ro->wave = wave;
	ro->reason = (uint8_t)reason;
	ro->status_cleared = (uint8_t)(cleared != 0);
	snprintf(ro->message, sizeof(ro->message), "%s", message);
	snprintf(ro->created_by, sizeof(ro->created_by), "%s", by);
	ro->created_ms = (uint64_t)created;
	ro->updated_ms = (uint64_t)updated;
	ro->order = (uint64_t)order;
	ro->bytes_sent = (uint64_t)sent;
	ro->bytes_full = (uint64_t)full;
	json_array_foreach(waves, i, w) {
		json_int_t n = 0, t0 = 0, t1 = 0;
		int s = 0, rs = 0;
		double sh = 0;
		if (i >= GW_ROLLOUT_WAVES_MAX)
			break;
		json_unpack(w, "{s:i, s:i, s:I, s:F, s:I, s:I}", "s", &s, "r", &rs, "n", &n, "sh",
		            &sh, "t0", &t0, "t1", &t1);
		ro->waves[i].state = (uint8_t)s;
		ro->waves[i].reason = (uint8_t)rs;
		ro->waves[i].devices = (uint32_t)n;
		ro->waves[i].share = sh;
		ro->waves[i].started_ms = (uint64_t)t0;
		ro->waves[i].finished_ms = (uint64_t)t1;
		ro->nwaves = (unsigned)i + 1;
	}
	json_decref(o);
	if (bind_version(r, ro) != 0)
		log_warnx("rollout %s: version %s %s no longer in the catalog", id, ro->def.model,
		          ro->def.version);
	return ro;
}

static int
load_rollout_cb(void *arg, const char *id, const void *val, size_t vlen)
{
	struct load_ctx *c = arg;
	struct gw_rollout *ro = parse_rollout(c->r, id, val, vlen);

	if (ro == NULL)
		return 0;
	c->ro = ro;
	c->cap = 0;
	c->rc = 0;
	if (add_rollout(c->r, ro) != 0) {
		rollout_free(ro);
		return -ENOMEM;
	}
	return 0;
}

static int
load_all(struct gw_rollouts *r)
{
	struct load_ctx c = { r, NULL, 0, 0 };
	struct gw_txn t;
	int rc;

	if ((rc = gw_store_begin_read(r->store, &t)) != 0)
		return rc;
	rc = gw_store_each_rollout(&t, load_rollout_cb, &c);
	for (size_t i = 0; rc == 0 && i < r->n; i++) {
		c.ro = r->list[i];
		c.cap = 0;
		rc = gw_store_each_rollout_dev(&t, r->list[i]->id, load_dev_cb, &c);
		if (rc == 0)
			rc = c.rc;
		gw__sort_devs(r->list[i]);
	}
	gw_store_abort(&t);
	return rc;
}

struct reload_ctx {
	struct gw_rollouts *r;
	const char *id;
	struct gw_rollout *ro;
};

static int
reload_cb(void *arg, const char *id, const void *val, size_t vlen)
{
	struct reload_ctx *c = arg;

	if (strcmp(id, c->id) != 0)
		return 0;
	c->ro = parse_rollout(c->r, id, val, vlen);
	return 1;
}

/* Replaces ro's contents (in place: callers keep their pointer) with what the store has;
 * what only memory knows (the last status published, the policy's word) is kept. */
static int
reload(struct gw_rollouts *r, struct gw_rollout *ro)
{
	struct reload_ctx rc = { r, ro->id, NULL };
	struct load_ctx lc = { r, NULL, 0, 0 };
	struct gw_rollout *fresh;
	struct gw_txn t;
	int err;

	if ((err = gw_store_begin_read(r->store, &t)) != 0)
		return err;
	err = gw_store_each_rollout(&t, reload_cb, &rc);
	if (err >= 0 && rc.ro != NULL) {
		lc.ro = rc.ro;
		err = gw_store_each_rollout_dev(&t, ro->id, load_dev_cb, &lc);
		if (err == 0)
			err = lc.rc;
	} else if (err >= 0) {
		err = -ENOENT;
	}
	gw_store_abort(&t);
	if (err < 0) {
		rollout_free(rc.ro);
		return err;
	}
	fresh = rc.ro;
	gw__sort_devs(fresh);
	fresh->status_text = ro->status_text;
	fresh->policy_alerted = ro->policy_alerted;
	fresh->status_dirty = 1;
	ro->status_text = NULL;
	gw_rollout_def_free(&ro->def);
	free(ro->devs);
	*ro = *fresh;
	free(fresh);
	return 0;
}

static void
drop_effects(struct gw_rollouts *r)
{
	struct gw_effect *fx, *next;

	for (fx = r->fx_head; fx != NULL; fx = next) {
		struct gw_rdev *d;
		next = fx->next;
		/* A re-send that did not go out goes at the next step. */
		if (fx->kind == FX_COMMAND && (d = gw__find_dev(fx->ro, fx->device)) != NULL)
			d->sent_ms = 0;
		json_decref(fx->data);
		free(fx);
	}
	queue_emptied(r);
}

/* ---- creation and matching ------------------------------------------------------------ */

static bool
in_array(json_t *a, const char *s)
{
	size_t i;
	json_t *x;
	json_array_foreach(a, i, x)
		if (json_is_string(x) && strcmp(json_string_value(x), s) == 0)
			return true;
	return false;
}

static bool
has_sensor(const struct gw_registry *reg, const struct gw_device *g, const char *name)
{
	for (unsigned j = 0; j < reg->nsensors; j++)
		if (strcmp(reg->sensors[j], name) == 0)
			return (g->sensors & (UINT64_C(1) << j)) != 0;
	return false;
}

/* Why the device cannot take the version (0: it can): the manifest's requirements, the
 * target's extra ones, or it already runs it. */
static int
fit_reason(const struct gw_registry *reg, const struct gw_device *g,
           const struct tfp_manifest *m, json_t *req)
{
	json_t *x;
	size_t i;

	if (strcmp(gw_registry_class(reg, g), m->device_class) != 0)
		return GW_R_CLASS_MISMATCH;
	if (g->ram_bytes < m->req.min_ram ||
	    ((x = json_object_get(req, "min_ram")) && g->ram_bytes < json_integer_value(x)))
		return GW_R_INSUFFICIENT_RAM;
	if (g->flash_bytes < m->req.min_flash || g->flash_bytes < m->image_size ||
	    ((x = json_object_get(req, "min_flash")) && g->flash_bytes < json_integer_value(x)))
		return GW_R_INSUFFICIENT_FLASH;
	for (i = 0; i < m->req.n_sensors; i++)
		if (!has_sensor(reg, g, m->req.sensors[i]))
			return GW_R_MISSING_SENSOR;
	json_array_foreach(json_object_get(req, "sensors"), i, x)
		if (!has_sensor(reg, g, json_string_value(x)))
			return GW_R_MISSING_SENSOR;
	if (g->agent_abi != m->req.agent_abi ||
	    ((x = json_object_get(req, "agent_abi")) && g->agent_abi != json_integer_value(x)))
		return GW_R_AGENT_ABI_MISMATCH;
	if (memcmp(g->digest, m->digest, TFP_DIGEST_LEN) == 0)
		return GW_R_ALREADY_INSTALLED;
	return 0;
}

struct match_ctx {
	struct gw_rollouts *r;
	json_t *target;
	const struct tfp_manifest *m;
	struct gw_rdev *devs;
	size_t n, cap;
	int rc;
};

static void
match_cb(void *arg, void *entry)
{
	struct match_ctx *c = arg;
	const struct gw_device *g = entry;
	json_t *t = c->target, *x;
	struct gw_rdev *d;

	if (c->rc != 0)
		return;
	if ((x = json_object_get(t, "classes")) && !in_array(x, gw_registry_class(c->r->registry, g)))
		return;
	if ((x = json_object_get(t, "tags")) != NULL) {
		size_t k;
		json_t *tag;
		json_array_foreach(x, k, tag)
			if (!gw_registry_has_tag(g, json_string_value(tag)))
				return;   /* a device must carry every tag named */
	}
	if ((x = json_object_get(t, "devices")) && !in_array(x, g->id))
		return;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct gw_rdev *p = realloc(c->devs, cap * sizeof(*p));
		if (p == NULL) {
			c->rc = -ENOMEM;
			return;
		}
		c->devs = p;
		c->cap = cap;
	}
	d = &c->devs[c->n++];
	memset(d, 0, sizeof(*d));
	snprintf(d->id, sizeof(d->id), "%s", g->id);
	snprintf(d->from_version, sizeof(d->from_version), "%s", g->version);
	d->last_phase = 0xff;
	if ((x = json_object_get(t, "exclude")) && in_array(x, g->id))
		d->reason = GW_R_EXCLUDED;
	else
		d->reason = (uint8_t)fit_reason(c->r->registry, g, c->m, json_object_get(t, "requires"));
	d->state = d->reason ? GW_RD_SKIPPED : GW_RD_WAITING;
	d->wave = d->reason ? 255 : 0;
}

static uint32_t
ceil_share(double pct, size_t n)
{
	double v = pct * (double)n / 100.0;
	uint32_t k = (uint32_t)v;
	return (double)k < v ? k + 1 : k;
}

/* Wave 0 gets the canary, wave k the devices that bring the cumulative share to
 * stages[k-1]; devices in id order, so the plan is reproducible. */
static void
plan_waves(struct gw_rollout *ro)
{
	size_t n = 0, k = 0;
	uint32_t cum[GW_ROLLOUT_WAVES_MAX];

	for (size_t i = 0; i < ro->ndev; i++)
		n += ro->devs[i].state == GW_RD_WAITING;
	ro->nwaves = 1 + ro->def.nstages;
	cum[0] = ro->def.canary_count ? ro->def.canary_count : ceil_share(ro->def.canary_share, n);
	if (cum[0] == 0)
		cum[0] = 1;
	if (cum[0] > n)
		cum[0] = (uint32_t)n;
	for (unsigned w = 1; w < ro->nwaves; w++) {
		cum[w] = ceil_share(ro->def.stages[w - 1], n);
		if (cum[w] < cum[w - 1])
			cum[w] = cum[w - 1];
	}
	for (unsigned w = 0; w < ro->nwaves; w++) {
		ro->waves[w].devices = cum[w] - (w ? cum[w - 1] : 0);
		ro->waves[w].share = n ? 100.0 * cum[w] / (double)n : 0;
		ro->waves[w].state = GW_WAVE_PENDING;
	}
	for (size_t i = 0; i < ro->ndev; i++) {
		struct gw_rdev *d = &ro->devs[i];
		unsigned w = 0;
		if (d->state != GW_RD_WAITING)
			continue;
		while (w + 1 < ro->nwaves && k >= cum[w])
			w++;
		d->wave = (uint8_t)w;
		k++;
	}
}

size_t
gw__add_newcomers(struct gw_rollouts *r, struct gw_rollout *ro, int wave, uint64_t now_ms)
{
	struct match_ctx mc = { 0 };
	struct gw_model m;
	struct gw_rdev *p;
	size_t added = 0, eligible = 0;

	if (gw_catalog_find_version(r->catalog, ro->def.model, ro->def.version, &m) != 0)
		return 0;
	mc.r = r;
	mc.target = json_object_get(ro->def.json, "target");
	mc.m = &m.m;
	gw_devtab_each(&r->registry->tab, match_cb, &mc);
	for (size_t i = 0; i < mc.n; i++) {
		/* Known already, or another active rollout's: not now (the next wave looks
		 * again). */
		if (gw__find_dev(ro, mc.devs[i].id) != NULL ||
		    gw_rollouts_holder(r, ro, mc.devs[i].id) != NULL)
			continue;
		mc.devs[added++] = mc.devs[i];
	}
	if (added == 0 || mc.rc != 0 ||
	    (p = realloc(ro->devs, (ro->ndev + added) * sizeof(*p))) == NULL) {
		free(mc.devs);
		return 0;
	}
	ro->devs = p;
	for (size_t i = 0; i < added; i++) {
		struct gw_rdev *d = &ro->devs[ro->ndev++];
		*d = mc.devs[i];
		if (d->state == GW_RD_WAITING) {
			d->wave = (uint8_t)wave;
			eligible++;
		}
		d->dirty = 1;
		d->updated_ms = now_ms;
	}
	free(mc.devs);
	gw__sort_devs(ro);
	ro->waves[wave].devices += (uint32_t)eligible;
	ro->dirty |= 3;
	ro->status_dirty = 1;
	log_info("rollout %s: %zu device(s) registered since creation match its target; %zu "
	         "join wave %d", ro->id, added, eligible, wave);
	return added;
}

int
gw_rollouts_create(struct gw_rollouts *r, struct gw_rollout_def *def, const char *by,
                   struct gw_rollout **out)
{
	struct gw_rollout *ro, *old;
	struct gw_model m;
	struct match_ctx mc = { 0 };
	size_t eligible = 0;
	uint64_t now = gw_wall_ms();
	int rc;

	*out = NULL;
	if (def->id[0] != '\0' && (old = gw_rollouts_find(r, def->id)) != NULL) {
		*out = old;
		return json_equal(old->def.json, def->json) ? -EEXIST : -EBUSY;
	}
	if ((rc = gw_catalog_find_version(r->catalog, def->model, def->version, &m)) != 0)
		return rc;
	if ((ro = calloc(1, sizeof(*ro))) == NULL)
		return -ENOMEM;
	ro->def = *def;
	if (def->id[0] != '\0') {
		snprintf(ro->id, sizeof(ro->id), "%s", def->id);
	} else {
		/* A fresh id: the model name and a creation number, unique in this store. */
		for (uint64_t k = r->next_order + 1;; k++) {
			snprintf(ro->id, sizeof(ro->id), "%.20s-r%llu", def->model,
			         (unsigned long long)k);
			if (gw_rollouts_find(r, ro->id) == NULL)
				break;
		}
	}
	mc.r = r;
	mc.target = json_object_get(def->json, "target");
	mc.m = &m.m;
	gw_devtab_each(&r->registry->tab, match_cb, &mc);
	ro->devs = mc.devs;
	ro->ndev = mc.n;
	if ((rc = mc.rc) != 0)
		goto fail;
	for (size_t i = 0; i < ro->ndev; i++)
		eligible += ro->devs[i].state == GW_RD_WAITING;
	if (eligible == 0) {
		rc = -ENODEV;
		goto fail;
	}
	if ((rc = bind_version(r, ro)) != 0)
		goto fail;
	gw__sort_devs(ro);
	plan_waves(ro);
	snprintf(ro->created_by, sizeof(ro->created_by), "%s", by);
	ro->created_ms = ro->updated_ms = now;
	ro->order = r->next_order;
	ro->wave = -1;
	ro->dirty = 3;
	for (size_t i = 0; i < ro->ndev; i++) {
		ro->devs[i].dirty = 1;
		ro->devs[i].updated_ms = now;
	}
	if ((rc = add_rollout(r, ro)) != 0)
		goto fail;
	ro->fresh = 1;
	gw__ro_transition(r, ro, GW_RO_DRAFT, GW_R_OPERATOR_CREATE, by,
	                  json_string_value(json_object_get(def->json, "description")), now);
	if ((rc = gw_rollouts_flush(r)) != 0) {
		/* Not committed: the flush dropped its event; forget it, so memory matches the
		 * store. */
		r->n--;
		def->json = ro->def.json;
		ro->def.json = NULL;
		rollout_free(ro);
		return rc;
	}
	def->json = NULL;     /* the rollout owns it now */
	*out = ro;
	return 0;
fail:
	ro->def.json = NULL;  /* still the caller's */
	rollout_free(ro);
	return rc;
}

/* ---- commit and effects --------------------------------------------------------------- */

static char *
audit_text(const char *kind, json_t *data, uint64_t now_ms)
{
	char at[21];
	json_t *by = json_object_get(data, "by"), *e;
	char *text;

	gw_format_time(now_ms, at);
	e = json_pack("{s:s, s:s, s:s, s:O}", "at", at, "by",
	              json_is_string(by) ? json_string_value(by) : "gateway", "action", kind,
	              "details", data);
	text = e != NULL ? json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(e);
	return text;
}

static int
write_dirty(struct gw_rollouts *r, struct gw_txn *t)
{
	int rc;

	for (size_t i = 0; i < r->n; i++) {
		struct gw_rollout *ro = r->list[i];
		if (ro->dirty & 2) {
			for (size_t k = 0; k < ro->ndev; k++) {
				char *text;
				if (!ro->devs[k].dirty)
					continue;
				if ((text = device_record(&ro->devs[k])) == NULL)
					return -ENOMEM;
				rc = gw_store_put_rollout_dev(t, ro->id, ro->devs[k].id, text,
				                              strlen(text));
				free(text);
				if (rc != 0)
					return rc;
			}
		}
		if (ro->dirty & 1) {
			char *text = rollout_record(ro);
			if (text == NULL)
				return -ENOMEM;
			rc = gw_store_put_rollout_rec(t, ro->id, text, strlen(text));
			free(text);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

static void
clear_dirty(struct gw_rollouts *r)
{
	for (size_t i = 0; i < r->n; i++) {
		struct gw_rollout *ro = r->list[i];
		if (ro->dirty & 2)
			for (size_t k = 0; k < ro->ndev; k++)
				ro->devs[k].dirty = 0;
		ro->dirty = 0;
		ro->fresh = 0;
	}
}

static void
send_command(struct gw_rollouts *r, struct gw_effect *fx)
{
	static uint8_t buf[TFP_MANIFEST_MAX + TFP_COMMAND_WIRE_OVERHEAD];
	struct gw_rollout *ro = fx->ro;
	struct gw_rdev *d = gw__find_dev(ro, fx->device);
	struct tfp_command c;
	char topic[160];
	size_t len;
	int rc;

	if (d == NULL || d->cmd == 0)
		return;
	if (r->mqtt == NULL) {
		d->sent_ms = 0;   /* no link (closing): the next start re-sends */
		return;
	}
	memset(&c, 0, sizeof(c));
	c.command_id = d->cmd;
	if (fx->rollback) {
		c.type = TFP_MSG_ROLLBACK;
	} else {
		struct gw_fetch f = fx->fetch;
		if (f.object_size == 0) {
			/* A re-send: the same object as the first send of this command. */
			const struct gw_device *g = gw_registry_get(r->registry, d->id);
			if (d->transfer && g != NULL &&
			    gw_deltas_choose(r->deltas, g->digest, ro->digest, &f) == 0 &&
			    f.fetch == TFP_FETCH_DELTA) {
				/* f is the delta */
			} else {
				memset(&f, 0, sizeof(f));
				f.fetch = TFP_FETCH_FULL;
				memcpy(f.object_id, ro->digest, TFP_DIGEST_LEN);
				f.object_size = ro->image_size;
			}
		}
		c.type = TFP_MSG_UPDATE;
		c.u.update.manifest = ro->manifest;
		c.u.update.manifest_len = ro->manifest_len;
		c.u.update.fetch = f.fetch;
		c.u.update.object_size = f.object_size;
		c.u.update.chunk_size = r->chunk_size != 0 ? r->chunk_size : GW_ROLLOUT_CHUNK;
		memcpy(c.u.update.object_id, f.object_id, TFP_DIGEST_LEN);
		if (f.fetch == TFP_FETCH_DELTA)
			memcpy(c.u.update.base_digest, f.base, TFP_DIGEST_LEN);
	}
	if ((rc = tfp_command_encode(&c, buf, sizeof(buf), &len)) != 0) {
		log_warnx("rollout %s: command for %s not encodable: %s", ro->id, d->id,
		          tfp_strerror(rc));
		return;
	}
	snprintf(topic, sizeof(topic), "tf/%s/dev/%s/cmd", r->site, d->id);
	if (r->send != NULL ? r->send(r->send_arg, d->id, buf, len) != 0
	                    : gw_mqtt_publish(r->mqtt, topic, buf, len, 1, 0, NULL) != 0)
		d->sent_ms = 0;   /* the link is down: the step re-sends when it is back */
	else
		d->sent_ms = gw_wall_ms();
}

bool
gw__rollouts_pending(const struct gw_rollouts *r)
{
	if (r->fx_head != NULL)
		return true;
	for (size_t i = 0; i < r->n; i++)
		if (r->list[i]->dirty != 0)
			return true;
	return false;
}

int
gw_rollouts_flush(struct gw_rollouts *r)
{
	struct gw_effect *fx, *next;
	struct gw_txn t;
	uint64_t now = gw_wall_ms();
	int rc;

	if (!gw__rollouts_pending(r))
		return 0;
	if ((rc = gw_store_begin(r->store, &t)) != 0)
		goto fail;
	/* New command ids first: they are part of the device records written below. */
	for (fx = r->fx_head; fx != NULL; fx = fx->next) {
		struct gw_rdev *d;
		if (fx->kind != FX_COMMAND || !fx->new_id ||
		    (d = gw__find_dev(fx->ro, fx->device)) == NULL)
			continue;
		if (d->cmd == 0 && (rc = gw_store_command_id_next(&t, &d->cmd)) != 0)
			goto abort;
		d->dirty = 1;
		fx->ro->dirty |= 2;
	}
	if ((rc = write_dirty(r, &t)) != 0)
		goto abort;
	for (fx = r->fx_head; fx != NULL; fx = fx->next) {
		if (fx->kind != FX_EVENT)
			continue;
		if (fx->audit) {
			char *text = audit_text(fx->event, fx->data, now);
			rc = text != NULL ? gw_store_audit_append(&t, text, strlen(text), NULL)
			                  : -ENOMEM;
			free(text);
			if (rc != 0)
				goto abort;
		}
		if ((rc = gw_store_event_seq_next(&t, &fx->seq)) != 0)
			goto abort;
		/* The event itself goes with the change, so a crash cannot lose it. */
		if ((rc = gw_outbox_record(&t, fx->seq, fx->event, fx->data, now)) != 0)
			goto abort;
	}
	if ((rc = gw_store_commit(&t)) != 0)
		goto fail;
	r->commits++;
	if (r->loop != NULL)
		r->last_commit = uv_now(r->loop);
	clear_dirty(r);
	/* Committed: now the world may hear of it. */
	fx = r->fx_head;
	queue_emptied(r);
	for (; fx != NULL; fx = next) {
		next = fx->next;
		if (fx->kind == FX_EVENT) {
			if (r->emit != NULL)
				r->emit(r->arg, fx->seq, fx->event, fx->data);
			else
				json_decref(fx->data);
		} else {
			send_command(r, fx);
		}
		free(fx);
	}
	return 0;
abort:
	gw_store_abort(&t);
fail:
	r->commit_errors++;
	log_warnx("rollout: commit failed: %s; changes since the last commit are undone",
	          strerror(-rc));
	/* Memory never runs ahead of the store: nothing of this batch is sent, and every
	 * rollout it changed is read back as committed. The engine's next step decides
	 * again; a device whose report was undone answers the re-sent command (same id) with
	 * DUPLICATE and the outcome. A rollout being created is forgotten by its creator. */
	drop_effects(r);
	for (size_t i = 0; i < r->n; i++) {
		struct gw_rollout *ro = r->list[i];
		int err;
		if (ro->fresh || !ro->dirty)
			continue;
		if ((err = reload(r, ro)) != 0)
			log_warnx("rollout %s: cannot read back the stored record: %s", ro->id,
			          strerror(-err));
	}
	return rc;
}

/* ---- retained status ------------------------------------------------------------------ */

void
gw__publish_status(struct gw_rollouts *r, uint64_t now_ms)
{
	if (now_ms - r->last_status_ms < 1000 || r->mqtt == NULL || !r->mqtt->connected)
		return;
	r->last_status_ms = now_ms;
	for (size_t i = 0; i < r->n; i++) {
		struct gw_rollout *ro = r->list[i];
		char topic[128], *text;
		json_t *o;
		if (!ro->status_dirty || ro->status_cleared)
			continue;
		if ((o = gw_rollout_status_json(r, ro)) == NULL)
			continue;
		text = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		if (text == NULL)
			continue;
		if (ro->status_text != NULL && strcmp(ro->status_text, text) == 0) {
			free(text);
			ro->status_dirty = 0;
			continue;
		}
		snprintf(topic, sizeof(topic), "tf/%s/status/rollout/%s", r->site, ro->id);
		if (gw_mqtt_publish(r->mqtt, topic, text, strlen(text), 1, 1, NULL) == 0) {
			free(ro->status_text);
			ro->status_text = text;
			ro->status_dirty = 0;
		} else {
			free(text);
		}
	}
}

/* Ended rollouts' retained status goes (an empty retained message) once the retention has
 * passed since they ended; the record remembers it, so a restart neither republishes nor
 * clears again. The message goes before the commit: a crash between them clears again,
 * which is harmless, where the other order could leave the status retained for good. */
void
gw__clear_statuses(struct gw_rollouts *r, uint64_t now_ms)
{
	uint64_t keep = (uint64_t)r->status_retention_s * 1000u;

	if (r->mqtt == NULL || !r->mqtt->connected)
		return;
	for (size_t i = 0; i < r->n; i++) {
		struct gw_rollout *ro = r->list[i];
		char topic[128];
		if (ro->status_cleared ||
		    (ro->state != GW_RO_COMPLETED && ro->state != GW_RO_ABORTED &&
		     ro->state != GW_RO_ROLLED_BACK) ||
		    now_ms < ro->updated_ms + keep)
			continue;
		snprintf(topic, sizeof(topic), "tf/%s/status/rollout/%s", r->site, ro->id);
		if (gw_mqtt_publish(r->mqtt, topic, "", 0, 1, 1, NULL) != 0)
			continue;
		log_info("rollout %s: retained status cleared (ended more than %u s ago)", ro->id,
		         r->status_retention_s);
		ro->status_cleared = 1;
		ro->status_dirty = 0;
		ro->dirty |= 1;
		free(ro->status_text);
		ro->status_text = NULL;
	}
}

void
gw_rollouts_set_status_retention(struct gw_rollouts *r, uint32_t seconds)
{
	r->status_retention_s = seconds;
}

/* ---- lifecycle ------------------------------------------------------------------------ */

static void
step_now(struct gw_rollouts *r)
{
	r->last_step = uv_now(r->loop);
	gw_rollouts_step(r, gw_wall_ms());
	gw_rollouts_flush(r);
}

/* The periodic tick and the early kick alike. */
static void
on_step(uv_timer_t *t)
{
	step_now(t->data);
}

void
gw_rollouts_kick(struct gw_rollouts *r)
{
	uint64_t now, due;
	int active = 0;

	if (!r->started || uv_is_active((uv_handle_t *)&r->kick))
		return;
	for (size_t i = 0; i < r->n && !active; i++)
		active = r->list[i]->state == GW_RO_RUNNING;
	if (!active)
		return;
	now = uv_now(r->loop);
	due = r->last_step + GW_ROLLOUT_KICK_MS;
	uv_timer_start(&r->kick, on_step, due > now ? due - now : 0, 0);
}

static void
on_commit_due(uv_timer_t *t)
{
	gw_rollouts_flush(t->data);
}

/* After each loop iteration: commit what reports changed, at most once per
 * GW_ROLLOUT_COMMIT_MS (group commit: under load one fsync covers many reports, and the
 * effects still wait for it), else when the commit timer fires. */
static void
on_check(uv_check_t *c)
{
	struct gw_rollouts *r = c->data;
	uint64_t now = uv_now(r->loop), since = now - r->last_commit;

	if (since >= GW_ROLLOUT_COMMIT_MS)
		gw_rollouts_flush(r);
	else if (!uv_is_active((uv_handle_t *)&r->commit) && gw__rollouts_pending(r))
		uv_timer_start(&r->commit, on_commit_due, GW_ROLLOUT_COMMIT_MS - since, 0);
}

void
gw_rollouts_delta_ready(void *arg, const uint8_t base[TFP_DIGEST_LEN],
                        const uint8_t target[TFP_DIGEST_LEN])
{
	(void)base;
	(void)target;
	/* The next step offers again; gw_deltas_choose then finds the delta stored. */
	gw_rollouts_kick(arg);
}

int
gw_rollouts_open(struct gw_rollouts *r, uv_loop_t *loop, struct gw_store *s,
                 struct gw_registry *reg, struct gw_catalog *cat, struct gw_monitor *mon,
                 struct gw_deltas *deltas, struct gw_mqtt *mqtt, struct gw_api *api,
                 const char *site, gw_rollouts_event_fn emit, void *arg)
{
	uint64_t now = gw_wall_ms();
	int rc;

	memset(r, 0, sizeof(*r));
	r->fx_gen = 1;   /* devices start at 0: nothing of theirs queued */
	r->loop = loop;
	r->store = s;
	r->registry = reg;
	r->catalog = cat;
	r->monitor = mon;
	r->deltas = deltas;
	r->mqtt = mqtt;
	r->emit = emit;
	r->arg = arg;
	r->status_retention_s = GW_ROLLOUT_STATUS_RETENTION_S;
	snprintf(r->site, sizeof(r->site), "%s", site);
	if ((rc = load_all(r)) != 0) {
		gw_rollouts_close(r);
		return rc;
	}
	/* Resumed from the store: say so for every rollout that is still under way. */
	for (size_t i = 0; i < r->n; i++) {
		struct gw_rollout *ro = r->list[i];
		ro->status_dirty = 1;
		if (ro->state == GW_RO_RUNNING || ro->state == GW_RO_PAUSED) {
			int reason = ro->reason;
			char msg[513];
			snprintf(msg, sizeof(msg), "%s", ro->message);
			gw__ro_transition(r, ro, ro->state, GW_R_GATEWAY_RESTART, "gateway",
			                  "resumed from the store", now);
			ro->reason = (uint8_t)reason;    /* the state's own reason stands */
			snprintf(ro->message, sizeof(ro->message), "%s", msg);
		}
	}
	/* A full store must not keep the gateway down: the rollouts are loaded as stored;
	 * only the restart events are lost. */
	if ((rc = gw_rollouts_flush(r)) != 0)
		log_warnx("rollout: restart events not committed: %s", strerror(-rc));
	if (api != NULL && (rc = gw_rollout_api_register(r, api)) != 0) {
		gw_rollouts_close(r);
		return rc;
	}
	if (loop != NULL) {
		uv_timer_init(loop, &r->tick);
		r->tick.data = r;
		uv_timer_start(&r->tick, on_step, 250, 250);
		uv_timer_init(loop, &r->kick);
		r->kick.data = r;
		uv_timer_init(loop, &r->commit);
		r->commit.data = r;
		uv_check_init(loop, &r->check);
		r->check.data = r;
		uv_check_start(&r->check, on_check);
		r->started = 1;
	}
	log_info("rollout: %zu rollout(s) loaded", r->n);
	return 0;
}

void
gw_rollouts_close(struct gw_rollouts *r)
{
	struct gw_effect *fx, *next;

	/* The link may be closing: what is committed now is re-sent after the next start. */
	r->mqtt = NULL;
	r->emit = NULL;
	if (r->n > 0 || r->fx_head != NULL)
		gw_rollouts_flush(r);
	if (r->started) {
		uv_timer_stop(&r->tick);
		uv_timer_stop(&r->kick);
		uv_timer_stop(&r->commit);
		uv_check_stop(&r->check);
		uv_close((uv_handle_t *)&r->tick, NULL);
		uv_close((uv_handle_t *)&r->kick, NULL);
		uv_close((uv_handle_t *)&r->commit, NULL);
		uv_close((uv_handle_t *)&r->check, NULL);
		r->started = 0;
	}
	for (fx = r->fx_head; fx != NULL; fx = next) {
		next = fx->next;
		json_decref(fx->data);
		free(fx);
	}
	queue_emptied(r);
	for (size_t i = 0; i < r->n; i++)
		rollout_free(r->list[i]);
	free(r->list);
	r->list = NULL;
	r->n = r->cap = 0;
}
