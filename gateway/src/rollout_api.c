/*
 * The rollout.* operations of the operator API (schemas/README.md "Rollouts") and the
 * rollout-status documents they and the retained status topic share.
 */
#include "rollout.h"
#include "rollout_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"

static json_t *
time_or_null(uint64_t ms)
{
	char at[21];
	if (ms == 0)
		return json_null();
	gw_format_time(ms, at);
	return json_string(at);
}

static json_t *
counts_json(const uint32_t c[GW_RD_COUNT])
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "targeted",
	                 (json_int_t)(c[GW_RD_WAITING] + c[GW_RD_SKIPPED] + c[GW_RD_OFFERED] +
	                              c[GW_RD_DOWNLOADING] + c[GW_RD_ACTIVATING] +
	                              c[GW_RD_SETTLING] + c[GW_RD_SUCCEEDED] + c[GW_RD_FAILED] +
	                              c[GW_RD_REVERTED] + c[GW_RD_ROLLING_BACK] +
	                              c[GW_RD_ROLLED_BACK]),
	                 "skipped", (json_int_t)c[GW_RD_SKIPPED], "waiting",
	                 (json_int_t)c[GW_RD_WAITING], "in_progress",
	                 (json_int_t)(c[GW_RD_OFFERED] + c[GW_RD_DOWNLOADING] +
	                              c[GW_RD_ACTIVATING] + c[GW_RD_ROLLING_BACK]),
	                 "settling", (json_int_t)c[GW_RD_SETTLING], "succeeded",
	                 (json_int_t)c[GW_RD_SUCCEEDED], "failed", (json_int_t)c[GW_RD_FAILED],
	                 "reverted", (json_int_t)c[GW_RD_REVERTED], "rolled_back",
	                 (json_int_t)c[GW_RD_ROLLED_BACK]);
}

static const char *
wave_state_name(int s)
{
	static const char *const names[] = { "pending", "running", "settling", "passed",
	                                     "failed", "rolling_back", "rolled_back" };
	return s >= 0 && s <= GW_WAVE_ROLLED_BACK ? names[s] : "pending";
}

static json_t *
wave_json(const struct gw_rollout *ro, unsigned w)
{
	const struct gw_wave *wv = &ro->waves[w];
	uint32_t c[GW_RD_COUNT];
	json_t *gates = json_array(), *o;

	gw_rollout_counts(ro, (int)w, c);
	if (wv->gates.evaluated)
		for (int g = 0; g < GW_GATE_COUNT; g++)
			json_array_append_new(gates, json_pack("{s:s, s:f, s:f, s:b}", "gate",
			                                       gw_gate_name((enum gw_gate)g), "value",
			                                       wv->gates.value[g], "limit",
			                                       wv->gates.limit[g], "ok",
			                                       wv->gates.ok[g]));
	o = json_pack("{s:i, s:s, s:f, s:I, s:s, s:o, s:o, s:o, s:o}", "index", (int)w, "kind",
	              w == 0 ? "canary" : "stage", "share", wv->share > 100 ? 100.0 : wv->share,
	              "devices", (json_int_t)wv->devices, "state", wave_state_name(wv->state),
	              "started_at", time_or_null(wv->started_ms), "finished_at",
	              time_or_null(wv->finished_ms), "counts", counts_json(c), "gates", gates);
	if (o != NULL && wv->reason && gw_reason_name(wv->reason) != NULL &&
	    wv->state != GW_WAVE_PASSED)
		json_object_set_new(o, "reason", json_string(gw_reason_name(wv->reason)));
	return o;
}

static json_t *
device_json(const struct gw_rollout *ro, const struct gw_rdev *d)
{
	char at[21];
	json_t *o;

	gw_format_time(d->updated_ms ? d->updated_ms : ro->created_ms, at);
	o = json_pack("{s:s, s:o, s:s, s:i, s:o, s:s}", "id", d->id, "wave",
	              d->wave == 255 ? json_null() : json_integer(d->wave), "state",
	              gw_rd_state_name(d->state), "attempts", d->attempts > 10 ? 10 : d->attempts,
	              "from_version", d->from_version[0] ? json_string(d->from_version) : json_null(),
	              "updated_at", at);
	if (o == NULL)
		return NULL;
	if (d->reason && d->state != GW_RD_SUCCEEDED) {
		json_object_set_new(o, "reason", json_string(gw_reason_name(d->reason)));
		if (d->device_code < 0 && d->device_code >= -32768)
			json_object_set_new(o, "device_code", json_integer(d->device_code));
	}
	if (d->attempts > 0) {
		json_object_set_new(o, "transfer", json_string(d->transfer ? "delta" : "full"));
		json_object_set_new(o, "bytes_sent", json_integer(d->bytes_sent));
	}
	if (d->attempts > 0 && d->base.valid) {
		json_t *q = json_pack("{s:{s:I, s:f, s:f, s:f, s:b}, s:b, s:b}", "baseline", "samples",
		                      (json_int_t)d->base.samples, "loss_avg",
		                      d->base.loss > 0 ? (double)d->base.loss : 0.0, "accuracy_avg",
		                      (double)d->base.accuracy, "confidence_avg",
		                      (double)d->base.confidence, "drift_alarm", d->base.drift,
		                      "judged", (d->flags & GW_RDF_JUDGED) != 0, "ok",
		                      !(d->flags & GW_RDF_QFAIL));
		if (q != NULL && (d->flags & GW_RDF_JUDGED) && d->q.verdict != GW_Q_UNJUDGED) {
			json_object_set_new(q, "loss_change", json_real(d->q.loss_change));
			json_object_set_new(q, "accuracy_change", json_real(d->q.accuracy_change));
			json_object_set_new(q, "confidence_change", json_real(d->q.confidence_change));
			json_object_set_new(q, "new_drift_alarm", json_boolean(d->q.new_drift_alarm));
		}
		if (q != NULL)
			json_object_set_new(o, "quality", q);
	}
	return o;
}

json_t *
gw_rollout_status_json(struct gw_rollouts *r, const struct gw_rollout *ro)
{
	uint32_t c[GW_RD_COUNT];
	char created[21], updated[21];
	json_t *waves = json_array(), *o;

	(void)r;
	gw_rollout_counts(ro, -1, c);
	gw_format_time(ro->created_ms, created);
	gw_format_time(ro->updated_ms, updated);
	for (unsigned w = 0; w < ro->nwaves; w++)
		json_array_append_new(waves, wave_json(ro, w));
	o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:O, s:o, s:{s:I, s:I}, s:o}",
	              "id", ro->id, "model", ro->def.model, "version", ro->def.version, "state",
	              gw_ro_state_name(ro->state), "wave",
	              ro->wave >= 0 ? json_integer(ro->wave) : json_null(), "created_at", created,
	              "created_by", ro->created_by, "updated_at", updated, "definition",
	              ro->def.json, "totals", counts_json(c), "bytes", "sent",
	              (json_int_t)ro->bytes_sent, "full_equivalent", (json_int_t)ro->bytes_full,
	              "waves", waves);
	if (o == NULL)
		return NULL;
	if (ro->state != GW_RO_DRAFT && gw_reason_name(ro->reason) != NULL)
		json_object_set_new(o, "reason", json_string(gw_reason_name(ro->reason)));
	if (ro->message[0] != '\0')
		json_object_set_new(o, "message", json_string(ro->message));
	return o;
}

/* ---- operations ----------------------------------------------------------------------- */

static json_t *
store_error(struct gw_api_error *e, int rc)
{
	if (rc == -ENOSPC)
		return gw_api_refuse(e, "storage_full", NULL,
		                     "the gateway's store is full; nothing was changed");
	return gw_api_refuse(e, "internal", NULL, "the change could not be committed: %s",
	                     strerror(-rc));
}

static json_t *
op_create(struct gw_api *a, void *ctx, const char *cn, json_t *body, struct gw_api_error *e)
{
	struct gw_rollouts *r = ctx;
	struct gw_rollout_def def;
	struct gw_rollout *ro = NULL;
	json_t *status;
	int rc;

	(void)a;
	if (gw_rollout_def_parse(body, &def, e) != 0)
		return NULL;
	rc = gw_rollouts_create(r, &def, cn, &ro);
	gw_rollout_def_free(&def);
	switch (rc) {
	case 0:
	case -EEXIST:
		if ((status = gw_rollout_status_json(r, ro)) == NULL)
			return gw_api_refuse(e, "internal", NULL, "out of memory");
		return json_pack("{s:b, s:o}", "created", rc == 0, "rollout", status);
	case -EBUSY:
		return gw_api_refuse(e, "conflict", json_pack("{s:s, s:s}", "kind", "rollout", "id",
		                                              ro->id),
		                     "rollout %s exists with another definition", ro->id);
	case -ENOENT:
		return gw_api_refuse(e, "not_found",
		                     json_pack("{s:s, s:s+}", "kind", "model_version", "id",
		                               json_string_value(json_object_get(body, "model")),
		                               "@", json_string_value(json_object_get(body, "version"))),
		                     "model %s version %s is not published",
		                     json_string_value(json_object_get(body, "model")),
		                     json_string_value(json_object_get(body, "version")));
	case -ENODEV:
		return gw_api_refuse(e, "no_matching_devices", NULL,
		                     "the target and the model's requirements select no device "
		                     "that does not run it already");
	default:
		return store_error(e, rc);
	}
}

/* Checks {id, message} (and scope for rollback) and finds the rollout. */
static struct gw_rollout *
action_target(struct gw_rollouts *r, json_t *body, int with_scope, struct gw_api_error *e)
{
	static const char *const plain[] = { "id", "message", NULL };
	static const char *const scoped[] = { "id", "scope", "message", NULL };
	static const char *const scopes[] = { "all", "wave", NULL };
	struct gw_rollout *ro;
	json_t *x;

	if (gw_rdef_required(body, "", "id", e) != 0 ||
	    gw_rdef_members(body, "", with_scope ? scoped : plain, e) != 0 ||
	    gw_rdef_name(json_object_get(body, "id"), "/id", GW_ROLLOUT_ID_MAX, e) != 0)
		return NULL;
	if ((x = json_object_get(body, "message")) != NULL &&
	    gw_rdef_string(x, "/message", 256, e) != 0)
		return NULL;
	if (with_scope && (x = json_object_get(body, "scope")) != NULL &&
	    gw_rdef_enum(x, "/scope", scopes, NULL, e) != 0)
		return NULL;
	if ((ro = gw_rollouts_find(r, json_string_value(json_object_get(body, "id")))) == NULL)
		gw_api_refuse(e, "not_found",
		              json_pack("{s:s, s:s}", "kind", "rollout", "id",
		                        json_string_value(json_object_get(body, "id"))),
		              "no rollout %s", json_string_value(json_object_get(body, "id")));
	return ro;
}

enum act { ACT_START, ACT_PAUSE, ACT_RESUME, ACT_ABORT, ACT_ROLLBACK };

static json_t *
action(struct gw_rollouts *r, const char *cn, json_t *body, struct gw_api_error *e,
       enum act what)
{
	struct gw_rollout *ro = action_target(r, body, what == ACT_ROLLBACK, e);
	const char *msg, *prev;
	int rc = -EINVAL;

	if (ro == NULL)
		return NULL;
	msg = json_string_value(json_object_get(body, "message"));
	prev = gw_ro_state_name(ro->state);
	switch (what) {
	case ACT_START: rc = gw_rollouts_start(r, ro, cn, msg); break;
	case ACT_PAUSE: rc = gw_rollouts_pause(r, ro, cn, msg); break;
	case ACT_RESUME: rc = gw_rollouts_resume(r, ro, cn, msg); break;
	case ACT_ABORT: rc = gw_rollouts_abort(r, ro, cn, msg); break;
	case ACT_ROLLBACK: {
		json_t *s = json_object_get(body, "scope");
		bool whole = s == NULL || strcmp(json_string_value(s), "all") == 0;
		rc = gw_rollouts_rollback(r, ro, whole, cn, msg);
		break;
	}
	}
	if (rc == -EPERM)
		return gw_api_refuse(e, "invalid_state",
		                     json_pack("{s:s}", "state", gw_ro_state_name(ro->state)),
		                     "rollout %s is %s; the command does not apply", ro->id,
		                     gw_ro_state_name(ro->state));
	if (rc < 0)
		return store_error(e, rc);
	return json_pack("{s:s, s:s, s:s, s:b}", "id", ro->id, "state",
	                 gw_ro_state_name(ro->state), "previous_state", prev, "changed", rc == 0);
}

static json_t *
op_start(struct gw_api *a, void *ctx, const char *cn, json_t *body, struct gw_api_error *e)
{
	(void)a;
	return action(ctx, cn, body, e, ACT_START);
}

static json_t *
op_pause(struct gw_api *a, void *ctx, const char *cn, json_t *body, struct gw_api_error *e)
{
	(void)a;
	return action(ctx, cn, body, e, ACT_PAUSE);
}

static json_t *
op_resume(struct gw_api *a, void *ctx, const char *cn, json_t *body, struct gw_api_error *e)
{
	(void)a;
	return action(ctx, cn, body, e, ACT_RESUME);
}

static json_t *
op_abort(struct gw_api *a, void *ctx, const char *cn, json_t *body, struct gw_api_error *e)
{
	(void)a;
	return action(ctx, cn, body, e, ACT_ABORT);
}

static json_t *
op_rollback(struct gw_api *a, void *ctx, const char *cn, json_t *body,
            struct gw_api_error *e)
{
	(void)a;
	return action(ctx, cn, body, e, ACT_ROLLBACK);
}

/* Paging: the cursor is the decimal index to resume from. */
static int
page_args(json_t *body, size_t *limit, size_t *from, struct gw_api_error *e)
{
	json_t *x;
	*limit = 100;
	*from = 0;
	if ((x = json_object_get(body, "limit")) != NULL) {
		if (gw_rdef_int(x, "/limit", 1, 500, e) != 0)
			return -EINVAL;
		*limit = (size_t)json_integer_value(x);
	}
	if ((x = json_object_get(body, "cursor")) != NULL) {
		char *end;
		unsigned long long v;
		if (gw_rdef_name(x, "/cursor", 128, e) != 0)
			return -EINVAL;
		v = strtoull(json_string_value(x), &end, 10);
		if (*end != '\0')
			return gw_api_refuse(e, "invalid_request",
			                     json_pack("{s:s, s:s}", "path", "/cursor", "keyword",
			                               "pattern"),
			                     "/cursor: not a cursor of this listing"),
			       -EINVAL;
		*from = (size_t)v;
	}
	return 0;
}

static json_t *
next_cursor(size_t at, size_t total)
{
	char buf[24];
	if (at >= total)
		return json_null();
	snprintf(buf, sizeof(buf), "%zu", at);
	return json_string(buf);
}

static json_t *
op_status(struct gw_api *a, void *ctx, const char *cn, json_t *body, struct gw_api_error *e)
{
	static const char *const members[] = { "id", "devices", "wave", "state", "limit",
	                                       "cursor", NULL };
	static const char *const states[] = { "waiting", "skipped", "offered", "downloading",
	                                      "activating", "settling", "succeeded", "failed",
	                                      "reverted", "rolling_back", "rolled_back", NULL };
	struct gw_rollouts *r = ctx;
	struct gw_rollout *ro;
	json_t *o, *x, *devs;
	size_t limit, from, i;
	int state = -1, wave = -1;

	(void)a;
	(void)cn;
	if (gw_rdef_required(body, "", "id", e) != 0 || gw_rdef_members(body, "", members, e) != 0 ||
	    gw_rdef_name(json_object_get(body, "id"), "/id", GW_ROLLOUT_ID_MAX, e) != 0)
		return NULL;
	if ((x = json_object_get(body, "devices")) != NULL && gw_rdef_bool(x, "/devices", e) != 0)
		return NULL;
	if ((x = json_object_get(body, "wave")) != NULL) {
		if (gw_rdef_int(x, "/wave", 0, 30, e) != 0)
			return NULL;
		wave = (int)json_integer_value(x);
	}
	if ((x = json_object_get(body, "state")) != NULL &&
	    gw_rdef_enum(x, "/state", states, &state, e) != 0)
		return NULL;
	if (page_args(body, &limit, &from, e) != 0)
		return NULL;
	if ((ro = gw_rollouts_find(r, json_string_value(json_object_get(body, "id")))) == NULL)
		return gw_api_refuse(e, "not_found",
		                     json_pack("{s:s, s:s}", "kind", "rollout", "id",
		                               json_string_value(json_object_get(body, "id"))),
		                     "no rollout %s", json_string_value(json_object_get(body, "id")));
	if ((o = gw_rollout_status_json(r, ro)) == NULL)
		return gw_api_refuse(e, "internal", NULL, "out of memory");
	if (!json_is_true(json_object_get(body, "devices")))
		return o;
	devs = json_array();
	for (i = from; i < ro->ndev && json_array_size(devs) < limit; i++) {
		const struct gw_rdev *d = &ro->devs[i];
		if ((wave >= 0 && d->wave != wave) || (state >= 0 && d->state != state))
			continue;
		json_array_append_new(devs, device_json(ro, d));
	}
	/* Skip to the next match so that the last page says null. */
	while (i < ro->ndev && ((wave >= 0 && ro->devs[i].wave != wave) ||
	                        (state >= 0 && ro->devs[i].state != state)))
		i++;
	json_object_set_new(o, "devices", devs);
	json_object_set_new(o, "next_cursor", next_cursor(i, ro->ndev));
	return o;
}

static int
newest_first(const void *a, const void *b)
{
	const struct gw_rollout *x = *(struct gw_rollout *const *)a,
	                        *y = *(struct gw_rollout *const *)b;
	return x->order < y->order ? 1 : x->order > y->order ? -1 : 0;
}

static json_t *
op_list(struct gw_api *a, void *ctx, const char *cn, json_t *body, struct gw_api_error *e)
{
	static const char *const members[] = { "state", "model", "limit", "cursor", NULL };
	static const char *const states[] = { "draft", "running", "paused", "completed",
	                                      "aborted", "rolled_back", NULL };
	struct gw_rollouts *r = ctx;
	struct gw_rollout **sorted;
	json_t *items, *x, *model;
	size_t limit, from, total = 0, i, last = 0;
	int state = -1;

	(void)a;
	(void)cn;
	if (gw_rdef_members(body, "", members, e) != 0)
		return NULL;
	if ((x = json_object_get(body, "state")) != NULL &&
	    gw_rdef_enum(x, "/state", states, &state, e) != 0)
		return NULL;
	if ((model = json_object_get(body, "model")) != NULL &&
	    gw_rdef_name(model, "/model", TFP_MODEL_NAME_MAX, e) != 0)
		return NULL;
	if (page_args(body, &limit, &from, e) != 0)
		return NULL;
	if ((sorted = malloc((r->n + 1) * sizeof(*sorted))) == NULL)
		return gw_api_refuse(e, "internal", NULL, "out of memory");
	memcpy(sorted, r->list, r->n * sizeof(*sorted));
	qsort(sorted, r->n, sizeof(*sorted), newest_first);
	items = json_array();
	for (i = 0; i < r->n; i++) {
		struct gw_rollout *ro = sorted[i];
		if ((state >= 0 && ro->state != state) ||
		    (model != NULL && strcmp(ro->def.model, json_string_value(model)) != 0))
			continue;
		if (total >= from && json_array_size(items) < limit) {
			json_array_append_new(items,
			                      json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", ro->id,
			                                "model", ro->def.model, "version",
			                                ro->def.version, "state",
			                                gw_ro_state_name(ro->state), "wave",
			                                ro->wave >= 0 ? json_integer(ro->wave)
			                                              : json_null()));
			last = total + 1;
		}
		total++;
	}
	free(sorted);
	return json_pack("{s:o, s:o, s:I}", "items", items, "next_cursor",
	                 next_cursor(last > from ? last : from, total), "total", (json_int_t)total);
}

static const struct gw_api_op ops[] = {
	{ "rollout.create", op_create },     { "rollout.start", op_start },
	{ "rollout.pause", op_pause },       { "rollout.resume", op_resume },
	{ "rollout.abort", op_abort },       { "rollout.rollback", op_rollback },
	{ "rollout.status", op_status },     { "rollout.list", op_list },
};

/* fleet.status: running and paused rollouts, and their devices not yet in a terminal
 * state (common.schema.json: skipped, succeeded, failed, rolled_back). */
static void
fleet_rollouts(void *ctx, json_t *rollouts, json_int_t *updating)
{
	struct gw_rollouts *r = ctx;

	for (size_t i = 0; i < r->n; i++) {
		const struct gw_rollout *ro = r->list[i];
		if (ro->state != GW_RO_RUNNING && ro->state != GW_RO_PAUSED)
			continue;
		if (json_array_size(rollouts) < 256)
			json_array_append_new(rollouts,
			                      json_pack("{s:s, s:s, s:s, s:s, s:i}", "id", ro->id,
			                                "model", ro->def.model, "version",
			                                ro->def.version, "state",
			                                gw_ro_state_name(ro->state), "wave", ro->wave));
		for (size_t k = 0; k < ro->ndev; k++) {
			int s = ro->devs[k].state;
			*updating += s != GW_RD_SKIPPED && s != GW_RD_SUCCEEDED && s != GW_RD_FAILED &&
			             s != GW_RD_ROLLED_BACK;
		}
	}
}

int
gw_rollout_api_register(struct gw_rollouts *r, struct gw_api *api)
{
	api->fleet_rollouts = fleet_rollouts;
	api->fleet_ctx = r;
	return gw_api_add_ops(api, ops, sizeof(ops) / sizeof(ops[0]), r);
}
