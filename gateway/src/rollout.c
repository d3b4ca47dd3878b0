/*
 * The staged-rollout engine. See rollout.h; records and effects live in rollout_store.c.
 */
#include "rollout.h"
#include "rollout_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "tinyfleet/protocol/msg_report.h"

static const char *const ro_states[] = { "draft", "running", "paused", "completed",
	                                 "aborted", "rolled_back" };
static const char *const rd_states[] = { "waiting", "skipped", "offered", "downloading",
	                                 "activating", "settling", "succeeded", "failed",
	                                 "reverted", "rolling_back", "rolled_back" };
static const char *const reasons[] = {
	"", "class_mismatch", "insufficient_ram", "insufficient_flash", "missing_sensor",
	"agent_abi_mismatch", "already_installed", "excluded", "bad_signature", "unknown_key",
	"expired", "sequence_rollback", "manifest_invalid", "digest_mismatch", "size_mismatch",
	"delta_base_mismatch", "delta_invalid", "container_invalid", "flash_error", "no_space",
	"self_test_failed", "boot_failed", "download_timeout", "retries_exhausted",
	"device_error", "quality_drift_alarm", "quality_loss_increase", "quality_accuracy_drop",
	"quality_confidence_drop", "gate_failure_rate", "gate_reverts", "gate_quality",
	"wave_timeout", "drift_policy", "operator_create", "operator_start", "operator_pause",
	"operator_resume", "operator_abort", "operator_rollback", "wave_passed",
	"rollout_completed", "gateway_restart",
};
_Static_assert(sizeof(reasons) / sizeof(reasons[0]) == GW_R_COUNT, "reason table");

const char *
gw_ro_state_name(int s)
{
	return s >= 0 && s <= GW_RO_ROLLED_BACK ? ro_states[s] : "draft";
}

const char *
gw_rd_state_name(int s)
{
	return s >= 0 && s < GW_RD_COUNT ? rd_states[s] : "waiting";
}

const char *
gw_reason_name(int r)
{
	return r > 0 && r < GW_R_COUNT ? reasons[r] : NULL;
}

int
gw__reason_from_name(const char *name)
{
	for (int i = 1; i < GW_R_COUNT; i++)
		if (strcmp(reasons[i], name) == 0)
			return i;
	return 0;
}

/* ---- lookups -------------------------------------------------------------------------- */

struct gw_rollout *
gw_rollouts_find(struct gw_rollouts *r, const char *id)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->list[i]->id, id) == 0)
			return r->list[i];
	return NULL;
}

static int
cmp_dev(const void *a, const void *b)
{
	return strcmp(((const struct gw_rdev *)a)->id, ((const struct gw_rdev *)b)->id);
}

void
gw__sort_devs(struct gw_rollout *ro)
{
	qsort(ro->devs, ro->ndev, sizeof(*ro->devs), cmp_dev);
}

struct gw_rdev *
gw__find_dev(struct gw_rollout *ro, const char *id)
{
	size_t lo = 0, hi = ro->ndev;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(ro->devs[mid].id, id);
		if (c == 0)
			return &ro->devs[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static bool
in_flight(const struct gw_rdev *d)
{
	return (d->state == GW_RD_OFFERED || d->state == GW_RD_DOWNLOADING ||
	        d->state == GW_RD_ACTIVATING) &&
	       !(d->flags & GW_RDF_CONFIRMED);
}

static bool
terminal_rd(int s)
{
	return s == GW_RD_SKIPPED || s == GW_RD_SUCCEEDED || s == GW_RD_FAILED ||
	       s == GW_RD_REVERTED || s == GW_RD_ROLLED_BACK;
}

void
gw_rollout_counts(const struct gw_rollout *ro, int wave, uint32_t counts[GW_RD_COUNT])
{
	memset(counts, 0, sizeof(uint32_t) * GW_RD_COUNT);
	for (size_t i = 0; i < ro->ndev; i++)
		if (wave < 0 || ro->devs[i].wave == wave)
			counts[ro->devs[i].state]++;
}

/* A device's latest quality figures as the monitor has them, if they are for model/version
 * (or any model when model is NULL). */
static void
snap(struct gw_rollouts *r, const char *id, const char *model, const char *version,
     struct gw_qsnap *out)
{
	const struct gw_metrics *m = gw_monitor_get(r->monitor, id);
	float loss, accuracy, confidence;

	memset(out, 0, sizeof(*out));
	if (m == NULL || (model != NULL && (strcmp(m->model, model) != 0 ||
	                                    strcmp(m->version, version) != 0)))
		return;
	/* Devices may report NaN before their first label; records and JSON need finite
	 * numbers, and the contract bounds accuracy and confidence to [0, 1]. */
	/* Averages over the version's reports, judged on its labelled samples: one report
	 * may cover only a few labels. */
	out->valid = 1;
	loss = gw_metrics_loss(m);
	accuracy = gw_metrics_accuracy(m);
	confidence = gw_metrics_confidence(m);
	out->loss = isfinite(loss) && loss > 0 ? loss : 0.0f;
	out->accuracy = isfinite(accuracy) ? fminf(fmaxf(accuracy, 0.0f), 1.0f) : 0.0f;
	out->confidence = isfinite(confidence) ? fminf(fmaxf(confidence, 0.0f), 1.0f) : 0.0f;
	out->samples = m->labelled;
	out->drift = (m->why & (TFP_TELEM_WHY_PH | TFP_TELEM_WHY_ADWIN | TFP_TELEM_WHY_DDM |
	                        TFP_TELEM_WHY_HDDM)) != 0;
}

static bool
quality_checked(const struct gw_rollout_def *d)
{
	return d->q.drift_alarm || d->q.max_loss_increase >= 0 || d->q.max_accuracy_drop >= 0 ||
	       d->q.max_confidence_drop >= 0;
}

/* ---- transitions ---------------------------------------------------------------------- */

/* Changes the rollout's state (or wave) with its audit entry and rollout.state event. */
void
gw__ro_transition(struct gw_rollouts *r, struct gw_rollout *ro, int to, int reason,
                  const char *by, const char *msg, uint64_t now_ms)
{
	int from = ro->state;
	json_t *data;

	ro->state = (uint8_t)to;
	ro->reason = (uint8_t)reason;
	snprintf(ro->message, sizeof(ro->message), "%s", msg != NULL ? msg : "");
	ro->updated_ms = now_ms;
	ro->dirty |= 1;
	ro->status_dirty = 1;
	data = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "rollout", ro->id, "model",
	                 ro->def.model, "version", ro->def.version, "to", gw_ro_state_name(to),
	                 "reason", reasons[reason], "by", by);
	if (data == NULL)
		return;
	json_object_set_new(data, "from", from == to && reason == GW_R_OPERATOR_CREATE
	                                          ? json_null()
	                                          : json_string(gw_ro_state_name(from)));
	json_object_set_new(data, "wave", ro->wave >= 0 ? json_integer(ro->wave) : json_null());
	if (msg != NULL && *msg != '\0')
		json_object_set_new(data, "message", json_string(msg));
	log_notice("rollout %s: %s -> %s (%s, wave %d) by %s", ro->id, gw_ro_state_name(from),
	           gw_ro_state_name(to), reasons[reason], ro->wave, by);
	gw__queue_event(r, "rollout.state", data, 1);
}

static void
progress_event(struct gw_rollouts *r, struct gw_rollout *ro, struct gw_rdev *d,
               const char *phase, int with_bytes, uint32_t done, uint32_t total)
{
	json_t *data = json_pack("{s:s, s:s, s:s, s:s, s:s}", "device", d->id, "rollout", ro->id,
	                         "model", ro->def.model, "version", ro->def.version, "phase",
	                         phase);
	if (data == NULL)
		return;
	if (with_bytes) {
		json_object_set_new(data, "transfer", json_string(d->transfer ? "delta" : "full"));
		json_object_set_new(data, "bytes_done", json_integer(done));
		json_object_set_new(data, "bytes_total", json_integer(total));
	}
	/* Offers and rollbacks are decisions of the gateway: the audit log keeps them; the
	 * device's own phases are in its record and the event stream. */
	gw__queue_device_event(r, d, "update.progress", data,
	                       strcmp(phase, "offered") == 0 || strcmp(phase, "rolling_back") == 0,
	                       1);
}

static void
result_event(struct gw_rollouts *r, struct gw_rollout *ro, struct gw_rdev *d,
             const char *outcome)
{
	json_t *data = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "device", d->id, "rollout",
	                         ro->id, "model", ro->def.model, "version", ro->def.version,
	                         "outcome", outcome, "attempts", d->attempts ? d->attempts : 1);
	if (data == NULL)
		return;
	json_object_set_new(data, "from_version",
	                    d->from_version[0] ? json_string(d->from_version) : json_null());
	if (strcmp(outcome, "succeeded") == 0) {
		json_object_set_new(data, "transfer", json_string(d->transfer ? "delta" : "full"));
		json_object_set_new(data, "bytes_sent", json_integer(d->bytes_sent));
		json_object_set_new(data, "full_bytes", json_integer(d->full_bytes));
	} else {
		json_object_set_new(data, "reason",
		                    json_string(reasons[d->reason ? d->reason : GW_R_DEVICE_ERROR]));
		if (d->device_code < 0)
			json_object_set_new(data, "device_code", json_integer(d->device_code));
	}
	/* update.result is also an audit entry: the device's outcome is a change. */
	gw__queue_device_event(r, d, "update.result", data, 1, 0);
}

static void
dev_set(struct gw_rollout *ro, struct gw_rdev *d, int state, uint64_t now_ms)
{
	d->state = (uint8_t)state;
	d->updated_ms = now_ms;
	d->dirty = 1;
	ro->dirty |= 2;
	ro->status_dirty = 1;
}

/* Sends a rollback command to a device that runs (or will run) the new image. */
static void
dev_rollback(struct gw_rollouts *r, struct gw_rollout *ro, struct gw_rdev *d, int reason,
             uint64_t now_ms)
{
	if (d->state == GW_RD_ROLLING_BACK || d->state == GW_RD_ROLLED_BACK)
		return;
	if (!d->reason || d->state != GW_RD_FAILED)
		d->reason = (uint8_t)reason;
	if (in_flight(d)) {
		/* The update may still land: roll back once it does (or not at all). */
		d->flags |= GW_RDF_RB_PENDING;
		dev_set(ro, d, GW_RD_ROLLING_BACK, now_ms);
		return;
	}
	if (!(d->flags & GW_RDF_INSTALLED))
		return;
	d->flags &= (uint8_t)~GW_RDF_RB_PENDING;
	d->flags |= GW_RDF_ROLLBACK_CMD;
	d->cmd = 0;
	d->sent_ms = 0;
	dev_set(ro, d, GW_RD_ROLLING_BACK, now_ms);
	progress_event(r, ro, d, "rolling_back", 0, 0, 0);
	gw__queue_command(r, ro, d, NULL);
}

/* Rolls back the devices of one wave (wave >= 0) or of every wave (-1). */
static void
rollback_devices(struct gw_rollouts *r, struct gw_rollout *ro, int wave, int reason,
                 uint64_t now_ms)
{
	for (size_t i = 0; i < ro->ndev; i++) {
		struct gw_rdev *d = &ro->devs[i];
		if (d->state == GW_RD_SKIPPED || (wave >= 0 && d->wave != wave))
			continue;
		if (in_flight(d) || (d->flags & GW_RDF_INSTALLED))
			dev_rollback(r, ro, d, reason, now_ms);
	}
	for (unsigned w = 0; w < ro->nwaves; w++)
		if ((wave < 0 || (int)w == wave) && ro->waves[w].state != GW_WAVE_PENDING) {
			ro->waves[w].state = GW_WAVE_ROLLING_BACK;
			ro->waves[w].reason = (uint8_t)reason;
		}
}

static void
wave_start(struct gw_rollouts *r, struct gw_rollout *ro, int w, uint64_t now_ms)
{
	/* The canary stays as chosen at create time; later waves take in the devices that
	 * registered since and match the target. */
	if (w > 0)
		gw__add_newcomers(r, ro, w, now_ms);
	ro->wave = w;
	ro->waves[w].state = GW_WAVE_RUNNING;
	ro->waves[w].started_ms = now_ms;
	ro->waves[w].finished_ms = 0;
	ro->dirty |= 1;
	ro->status_dirty = 1;
}

/* A failed gate (or wave timeout): the definition's on_gate_failure decides. */
static void
gate_failed(struct gw_rollouts *r, struct gw_rollout *ro, int reason, uint64_t now_ms)
{
	struct gw_wave *w = &ro->waves[ro->wave];
	char msg[160];

	w->state = GW_WAVE_FAILED;
	w->reason = (uint8_t)reason;
	w->finished_ms = now_ms;
	snprintf(msg, sizeof(msg), "wave %d failed its %s gate; action %s", ro->wave,
	         reasons[reason] + (strncmp(reasons[reason], "gate_", 5) == 0 ? 5 : 0),
	         gw_gate_action_name(ro->def.on_fail));
	switch (ro->def.on_fail) {
	case GW_GATE_PAUSE:
		gw__ro_transition(r, ro, GW_RO_PAUSED, reason, "gateway", msg, now_ms);
		break;
	case GW_GATE_ROLLBACK_WAVE:
		rollback_devices(r, ro, ro->wave, reason, now_ms);
		gw__ro_transition(r, ro, GW_RO_PAUSED, reason, "gateway", msg, now_ms);
		break;
	case GW_GATE_ROLLBACK_ALL:
		rollback_devices(r, ro, -1, reason, now_ms);
		gw__ro_transition(r, ro, GW_RO_ROLLED_BACK, reason, "gateway", msg, now_ms);
		break;
	}
}

/* ---- offers --------------------------------------------------------------------------- */

static uint64_t
backoff_ms(const struct gw_rollout *ro, unsigned attempts)
{
	uint64_t b = (uint64_t)ro->def.retry_backoff_s * 1000u;
	for (unsigned i = 1; i < attempts && b < 86400000u; i++)
		b *= 2;
	return b;
}

/* Offers the version to one device: 1 offered, 0 not now (delta being built), <0 error. */
static int
offer(struct gw_rollouts *r, struct gw_rollout *ro, struct gw_rdev *d,
      const struct gw_device *g, uint64_t now_ms)
{
	struct gw_fetch f;
	int rc;

	if (ro->def.transfer == GW_XFER_FULL || (d->flags & GW_RDF_FULL)) {
		memset(&f, 0, sizeof(f));
		f.fetch = TFP_FETCH_FULL;
		memcpy(f.object_id, ro->digest, TFP_DIGEST_LEN);
		f.object_size = ro->image_size;
		f.full_size = ro->image_size;
	} else if ((rc = gw_deltas_choose(r->deltas, g->digest, ro->digest, &f)) != 0) {
		if (rc == -EAGAIN)
			return 0;
		log_warnx("rollout %s: no object for %s: %s", ro->id, d->id, strerror(-rc));
		return rc;
	}
	/* The pre-update baseline: the device's figures on what it runs now. */
	snap(r, d->id, NULL, NULL, &d->base);
	snprintf(d->from_version, sizeof(d->from_version), "%s", g->version);
	d->attempts++;
	d->transfer = f.fetch == TFP_FETCH_DELTA;
	d->obj_size = f.object_size;
	d->bytes_done = 0;
	d->flags &= (uint8_t)~(GW_RDF_CONFIRMED | GW_RDF_ROLLBACK_CMD);
	d->cmd = 0;
	d->sent_ms = 0;
	d->due_ms = now_ms + (uint64_t)ro->def.download_timeout_s * 1000u;
	d->last_phase = TFP_PHASE_CHECK;   /* "offered" is said here, not again on CHECK */
	d->last_decile = 0;
	dev_set(ro, d, GW_RD_OFFERED, now_ms);
	progress_event(r, ro, d, "offered", 0, 0, 0);
	gw__queue_command(r, ro, d, &f);
	return 1;
}

/* An attempt failed: retry after backoff while attempts remain, else the device failed. */
static void
attempt_failed(struct gw_rollouts *r, struct gw_rollout *ro, struct gw_rdev *d, int reason,
               int32_t code, bool retriable, uint64_t now_ms)
{
	d->device_code = code;
	d->bytes_sent += d->bytes_done;
	ro->bytes_sent += d->bytes_done;
	ro->dirty |= 1;            /* the totals live in the rollout's record */
	d->bytes_done = 0;
	d->cmd = 0;
	if (d->flags & GW_RDF_RB_PENDING) {
		/* Nothing landed, so there is nothing to roll back. */
		d->flags &= (uint8_t)~GW_RDF_RB_PENDING;
		dev_set(ro, d, GW_RD_ROLLED_BACK, now_ms);
		result_event(r, ro, d, "rolled_back");
		return;
	}
	if (retriable && d->attempts < ro->def.retry_max) {
		d->reason = (uint8_t)reason;
		d->due_ms = now_ms + backoff_ms(ro, d->attempts);
		dev_set(ro, d, GW_RD_WAITING, now_ms);
		return;
	}
	d->reason = (uint8_t)(retriable ? GW_R_RETRIES_EXHAUSTED : reason);
	dev_set(ro, d, GW_RD_FAILED, now_ms);
	result_event(r, ro, d, "failed");
}

/* ---- device reports ------------------------------------------------------------------- */

/* The contract's reason for a device's refusal or failure, and whether trying again may
 * help. */
static int
map_reason(enum tfp_reason why, bool *retriable)
{
	*retriable = false;
	switch (why) {
	case TFP_REASON_BAD_SIGNATURE: return GW_R_BAD_SIGNATURE;
	case TFP_REASON_UNKNOWN_KEY: return GW_R_UNKNOWN_KEY;
	case TFP_REASON_EXPIRED: return GW_R_EXPIRED;
	case TFP_REASON_SEQUENCE_TOO_LOW: return GW_R_SEQUENCE_ROLLBACK;
	case TFP_REASON_WRONG_CLASS: return GW_R_CLASS_MISMATCH;
	case TFP_REASON_NO_RAM: return GW_R_INSUFFICIENT_RAM;
	case TFP_REASON_NO_FLASH: return GW_R_INSUFFICIENT_FLASH;
	case TFP_REASON_MISSING_SENSOR: return GW_R_MISSING_SENSOR;
	case TFP_REASON_ABI_MISMATCH: return GW_R_AGENT_ABI_MISMATCH;
	case TFP_REASON_BAD_MANIFEST:
	case TFP_REASON_OFFER_MISMATCH: return GW_R_MANIFEST_INVALID;
	case TFP_REASON_SIZE_EXCEEDS_SIGNED: return GW_R_SIZE_MISMATCH;
	case TFP_REASON_DOWNLOAD_TOO_SLOW:
	case TFP_REASON_DOWNLOAD_STALLED:
	case TFP_REASON_BAD_CHUNK: *retriable = true; return GW_R_DOWNLOAD_TIMEOUT;
	case TFP_REASON_DIGEST_MISMATCH: *retriable = true; return GW_R_DIGEST_MISMATCH;
	case TFP_REASON_DELTA_CORRUPT: *retriable = true; return GW_R_DELTA_INVALID;
	case TFP_REASON_DELTA_BASE_MISMATCH: *retriable = true; return GW_R_DELTA_BASE_MISMATCH;
	case TFP_REASON_FLASH_ERROR: *retriable = true; return GW_R_FLASH_ERROR;
	case TFP_REASON_BAD_CONTAINER: return GW_R_CONTAINER_INVALID;
	case TFP_REASON_SELFTEST_FAILED: return GW_R_SELF_TEST_FAILED;
	case TFP_REASON_CRASH_BEFORE_CONFIRM: return GW_R_BOOT_FAILED;
	case TFP_REASON_BUSY:
	case TFP_REASON_INTERNAL: *retriable = true; return GW_R_DEVICE_ERROR;
	default: return GW_R_DEVICE_ERROR;
	}
}

static const char *
phase_name(enum tfp_phase p, int *state)
{
	switch (p) {
	case TFP_PHASE_CHECK: *state = GW_RD_OFFERED; return "offered";
	case TFP_PHASE_FETCH:
	case TFP_PHASE_APPLY: *state = GW_RD_DOWNLOADING; return "downloading";
	case TFP_PHASE_VERIFY: *state = GW_RD_ACTIVATING; return "verifying";
	case TFP_PHASE_ACTIVATE: *state = GW_RD_ACTIVATING; return "activating";
	case TFP_PHASE_SELFTEST: *state = GW_RD_ACTIVATING; return "self_test";
	case TFP_PHASE_CONFIRM: *state = GW_RD_ACTIVATING; return "confirmed";
	default: *state = -1; return NULL;
	}
}

static void
on_progress(struct gw_rollouts *r, struct gw_rollout *ro, struct gw_rdev *d,
            const struct tfp_report *p, uint64_t now_ms)
{
	int state;
	const char *name = phase_name(p->phase, &state);
	unsigned decile = p->bytes_total ? (unsigned)((uint64_t)p->bytes_done * 10 /
	                                              p->bytes_total)
	                                 : 0;

	/* A late or repeated progress report (QoS 1 may deliver twice) must not move a
	 * device back once its update landed. */
	if (name == NULL || (d->flags & (GW_RDF_ROLLBACK_CMD | GW_RDF_CONFIRMED)))
		return;
	d->sent_ms = now_ms;     /* the device has it: no need to re-send */
	if (p->phase == TFP_PHASE_FETCH)
		d->bytes_done = p->bytes_done;
	if (d->last_phase == p->phase && (p->phase != TFP_PHASE_FETCH || decile <= d->last_decile))
		return;
	d->last_phase = (uint8_t)p->phase;
	d->last_decile = (uint8_t)decile;
	if (d->state != GW_RD_ROLLING_BACK && d->state != state &&
	    (d->state == GW_RD_OFFERED || d->state == GW_RD_DOWNLOADING ||
	     d->state == GW_RD_ACTIVATING))
		dev_set(ro, d, state, now_ms);
	progress_event(r, ro, d, name, p->has_bytes, p->bytes_done, p->bytes_total);
}

static void
update_confirmed(struct gw_rollouts *r, struct gw_rollout *ro, struct gw_rdev *d,
                 uint64_t now_ms)
{
	d->flags |= GW_RDF_CONFIRMED | GW_RDF_INSTALLED;
	d->bytes_sent += d->obj_size;
	d->full_bytes = ro->image_size;
	ro->bytes_sent += d->obj_size;
	ro->bytes_full += ro->image_size;
	ro->dirty |= 1;            /* the totals live in the rollout's record */
	d->bytes_done = 0;
	if (d->state != GW_RD_ROLLING_BACK)
		dev_set(ro, d, GW_RD_ACTIVATING, now_ms);
	else
		d->dirty = 1, ro->dirty |= 2;
	progress_event(r, ro, d, "confirmed", 0, 0, 0);
	if (d->flags & GW_RDF_RB_PENDING) {
		d->state = GW_RD_SETTLING;   /* so that dev_rollback acts */
		dev_rollback(r, ro, d, d->reason ? d->reason : GW_R_OPERATOR_ROLLBACK, now_ms);
	}
}

static void
on_update_result(struct gw_rollouts *r, struct gw_rollout *ro, struct gw_rdev *d,
                 const struct tfp_report *p, uint64_t now_ms)
{
	bool retriable;
	int reason;

	if (p->outcome == TFP_OUTCOME_OK ||
	    (p->reason == TFP_REASON_DUPLICATE && p->phase == TFP_PHASE_CONFIRM)) {
		if (!(d->flags & GW_RDF_CONFIRMED))
			update_confirmed(r, ro, d, now_ms);
		return;
	}
	if (d->flags & GW_RDF_CONFIRMED)
		return;      /* a late duplicate of an attempt that already landed */
	if (p->reason == TFP_REASON_DUPLICATE) {
		/* It ended earlier without success and we missed the result: a new attempt. */
		attempt_failed(r, ro, d, GW_R_DEVICE_ERROR, 0, true, now_ms);
		return;
	}
	reason = map_reason(p->reason, &retriable);
	if (p->reason == TFP_REASON_DELTA_BASE_MISMATCH || p->reason == TFP_REASON_DELTA_CORRUPT)
		d->flags |= GW_RDF_FULL;   /* the next attempt ships the full image */
	if (p->outcome == TFP_OUTCOME_REVERTED) {
		d->device_code = p->has_error ? p->error : 0;
		d->reason = (uint8_t)reason;
		d->cmd = 0;
		if (d->flags & GW_RDF_RB_PENDING) {
			d->flags &= (uint8_t)~GW_RDF_RB_PENDING;
			dev_set(ro, d, GW_RD_ROLLED_BACK, now_ms);
			result_event(r, ro, d, "rolled_back");
			return;
		}
		dev_set(ro, d, GW_RD_REVERTED, now_ms);
		result_event(r, ro, d, "reverted");
		return;
	}
	attempt_failed(r, ro, d, reason, p->has_error ? p->error : 0, retriable, now_ms);
}

static void
on_rollback_result(struct gw_rollouts *r, struct gw_rollout *ro, struct gw_rdev *d,
                   const struct tfp_report *p, uint64_t now_ms)
{
	if (p->outcome == TFP_OUTCOME_OK ||
	    (p->reason == TFP_REASON_DUPLICATE && p->phase == TFP_PHASE_ROLLBACK)) {
		d->flags &= (uint8_t)~GW_RDF_INSTALLED;
		dev_set(ro, d, GW_RD_ROLLED_BACK, now_ms);
		result_event(r, ro, d, "rolled_back");
		return;
	}
	if (p->reason == TFP_REASON_BUSY) {
		d->sent_ms = now_ms;   /* ask again after the re-send interval */
		return;
	}
	d->device_code = p->has_error ? p->error : 0;
	d->reason = GW_R_DEVICE_ERROR;
	dev_set(ro, d, GW_RD_FAILED, now_ms);
	result_event(r, ro, d, "failed");
}

void
gw_rollouts_on_report(struct gw_rollouts *r, const char *id, const uint8_t *msg, size_t len)
{
	struct tfp_report p;
	uint64_t now = gw_wall_ms();
	int rc;

	r->reports++;
	if ((rc = tfp_report_decode(msg, len, &p)) != 0) {
		log_warnx("rollout: report from %s refused: %s", id, tfp_strerror(rc));
		return;
	}
	for (size_t i = 0; i < r->n; i++) {
		struct gw_rollout *ro = r->list[i];
		struct gw_rdev *d;
		if (ro->state == GW_RO_DRAFT || (d = gw__find_dev(ro, id)) == NULL ||
		    d->cmd == 0 || d->cmd != p.command_id)
			continue;
		if (p.type == TFP_MSG_PROGRESS) {
			on_progress(r, ro, d, &p, now);
			return;
		}
		if (d->flags & GW_RDF_ROLLBACK_CMD)
			on_rollback_result(r, ro, d, &p, now);
		else
			on_update_result(r, ro, d, &p, now);
		gw_rollouts_kick(r);
		return;
	}
	r->stray_reports++;
	log_debug("rollout: %s reported on command %llu, which no rollout waits for", id,
	          (unsigned long long)p.command_id);
}

/* ---- the engine step ------------------------------------------------------------------ */

/* Median change of the targeted devices still on the old version (the control group). */
static void
control_of(struct gw_rollouts *r, struct gw_rollout *ro, struct gw_qcontrol *ctl)
{
	struct gw_qsnap *before = NULL, *after = NULL;
	double *scratch = NULL;
	size_t n = 0;

	memset(ctl, 0, sizeof(*ctl));
	if (!ro->def.q.control_group || ro->ndev == 0)
		return;
	before = malloc(ro->ndev * sizeof(*before));
	after = malloc(ro->ndev * sizeof(*after));
	scratch = malloc(ro->ndev * sizeof(*scratch));
	if (before != NULL && after != NULL && scratch != NULL) {
		for (size_t i = 0; i < ro->ndev; i++) {
			struct gw_rdev *d = &ro->devs[i];
			if (d->state != GW_RD_WAITING || d->attempts > 0 || !d->base.valid)
				continue;
			snap(r, d->id, NULL, NULL, &after[n]);
			if (!after[n].valid)
				continue;
			before[n++] = d->base;
		}
		gw_gates_control(before, after, n, scratch, ctl);
	}
	free(before);
	free(after);
	free(scratch);
}

static int
quality_reason(enum gw_qverdict v)
{
	switch (v) {
	case GW_Q_DRIFT_ALARM: return GW_R_QUALITY_DRIFT_ALARM;
	case GW_Q_LOSS_INCREASE: return GW_R_QUALITY_LOSS_INCREASE;
	case GW_Q_ACCURACY_DROP: return GW_R_QUALITY_ACCURACY_DROP;
	default: return GW_R_QUALITY_CONFIDENCE_DROP;
	}
}

/* Confirmed -> settling -> succeeded (or failed on quality) for one device. */
static void
settle(struct gw_rollouts *r, struct gw_rollout *ro, struct gw_rdev *d,
       const struct gw_qcontrol *ctl, uint64_t now_ms)
{
	const struct gw_device *g;
	struct gw_qsnap now;

	if (d->state == GW_RD_ACTIVATING && (d->flags & GW_RDF_CONFIRMED)) {
		/* What the device reports is what the gateway believes: its state must show
		 * the new image active and confirmed. */
		g = gw_registry_get(r->registry, d->id);
		if (g == NULL || memcmp(g->digest, ro->digest, TFP_DIGEST_LEN) != 0 ||
		    g->slot_state[g->active_slot & 1] != TFP_SLOT_CONFIRMED)
			return;
		d->settle_ms = now_ms;
		dev_set(ro, d, GW_RD_SETTLING, now_ms);
		progress_event(r, ro, d, "settling", 0, 0, 0);
	}
	if (d->state != GW_RD_SETTLING)
		return;
	if (quality_checked(&ro->def)) {
		snap(r, d->id, ro->def.model, ro->def.version, &now);
		gw_gates_judge(&ro->def.q, &d->base, &now, ctl, &d->q);
		if (d->q.verdict == GW_Q_UNJUDGED)
			return;
		d->flags |= GW_RDF_JUDGED;
		if (d->q.verdict != GW_Q_OK) {
			d->flags |= GW_RDF_QFAIL;
			d->reason = (uint8_t)quality_reason(d->q.verdict);
			dev_set(ro, d, GW_RD_FAILED, now_ms);
			result_event(r, ro, d, "failed");
			return;
		}
	} else {
		d->flags |= GW_RDF_JUDGED;
		d->q.verdict = GW_Q_OK;
	}
	if (now_ms - d->settle_ms < (uint64_t)ro->def.settle_s * 1000u)
		return;
	d->reason = 0;
	d->device_code = 0;
	dev_set(ro, d, GW_RD_SUCCEEDED, now_ms);
	result_event(r, ro, d, "succeeded");
}

static void
wave_counts(const struct gw_rollout *ro, int w, struct gw_wave_counts *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < ro->ndev; i++) {
		const struct gw_rdev *d = &ro->devs[i];
		if (d->wave != w || d->state == GW_RD_SKIPPED)
			continue;
		c->devices++;
		if (d->state == GW_RD_SUCCEEDED)
			c->succeeded++;
		if (d->state == GW_RD_REVERTED)
			c->reverted++;
		if (d->flags & GW_RDF_QFAIL)
			c->quality_failed++;
		else if (d->state == GW_RD_FAILED)
			c->failed++;
		if (d->flags & GW_RDF_JUDGED)
			c->judged++;
	}
}

static int
gate_reason(enum gw_gate g)
{
	return g == GW_GATE_FAILURE_RATE ? GW_R_GATE_FAILURE_RATE
	       : g == GW_GATE_REVERTS    ? GW_R_GATE_REVERTS
	                                 : GW_R_GATE_QUALITY;
}

/* Gates and progress of the current wave of a running rollout. */
static void
evaluate_wave(struct gw_rollouts *r, struct gw_rollout *ro, uint64_t now_ms)
{
	struct gw_wave *w = &ro->waves[ro->wave];
	struct gw_wave_counts c;
	enum gw_gate failed;

	wave_counts(ro, ro->wave, &c);
	failed = gw_gates_wave(&ro->def, &c, &w->gates);
	if (failed != GW_GATE_COUNT) {
		gate_failed(r, ro, gate_reason(failed), now_ms);
		return;
	}
	if (w->gates.ok[GW_GATE_SUCCESS]) {
		w->state = GW_WAVE_PASSED;
		w->finished_ms = now_ms;
		w->reason = GW_R_WAVE_PASSED;
		if ((unsigned)ro->wave + 1 >= ro->nwaves) {
			gw__ro_transition(r, ro, GW_RO_COMPLETED, GW_R_ROLLOUT_COMPLETED, "gateway",
			                  NULL, now_ms);
			return;
		}
		wave_start(r, ro, ro->wave + 1, now_ms);
		gw__ro_transition(r, ro, GW_RO_RUNNING, GW_R_WAVE_PASSED, "gateway", NULL, now_ms);
		return;
	}
	/* Settling: every device of the wave has its update (or its outcome), some still
	 * settle. */
	{
		bool open = false, settling = false;
		for (size_t i = 0; i < ro->ndev && !open; i++) {
			const struct gw_rdev *d = &ro->devs[i];
			if (d->wave != ro->wave)
				continue;
			open = d->state == GW_RD_WAITING || in_flight(d);
			settling |= d->state == GW_RD_SETTLING ||
			            (d->state == GW_RD_ACTIVATING && (d->flags & GW_RDF_CONFIRMED));
		}
		w->state = !open && settling ? GW_WAVE_SETTLING : GW_WAVE_RUNNING;
	}
	if (now_ms - w->started_ms >= (uint64_t)ro->def.wave_timeout_s * 1000u)
		gate_failed(r, ro, GW_R_WAVE_TIMEOUT, now_ms);
}

/* Whether a command to device id can go out now. */
static bool
reachable(const struct gw_rollouts *r, const char *id)
{
	if (r->reachable != NULL)
		return r->reachable(r->send_arg, id) != 0;
	return r->mqtt == NULL || r->mqtt->connected;
}

/* The per-device timers: re-sends, download timeouts, settling. */
static void
step_devices(struct gw_rollouts *r, struct gw_rollout *ro, uint64_t now_ms)
{
	struct gw_qcontrol ctl;
	bool ctl_done = false;

	for (size_t i = 0; i < ro->ndev; i++) {
		struct gw_rdev *d = &ro->devs[i];
		const struct gw_device *g;

		if (terminal_rd(d->state) || d->state == GW_RD_WAITING)
			continue;
		if (d->state == GW_RD_ACTIVATING || d->state == GW_RD_SETTLING) {
			if (d->flags & GW_RDF_CONFIRMED) {
				if (!ctl_done && d->state == GW_RD_SETTLING) {
					control_of(r, ro, &ctl);
					ctl_done = true;
				}
				settle(r, ro, d, ctl_done ? &ctl : NULL, now_ms);
				continue;
			}
		}
		/* A command in flight: re-send it (same id) when unanswered, e.g. after a
		 * restart or while the device was away; give up on a download that takes
		 * too long. */
		if (d->cmd == 0)
			continue;
		if (!(d->flags & GW_RDF_ROLLBACK_CMD) && now_ms >= d->due_ms) {
			attempt_failed(r, ro, d, GW_R_DOWNLOAD_TIMEOUT, 0, true, now_ms);
			continue;
		}
		if (!reachable(r, d->id) ||
		    (d->sent_ms != 0 && now_ms - d->sent_ms < (uint64_t)ro->def.resend_s * 1000u))
			continue;
		g = gw_registry_get(r->registry, d->id);
		if (g == NULL || !g->online)
			continue;
		gw__queue_command(r, ro, d, NULL);
	}
}

/* New offers, in id order within the waves that are open, up to max_in_flight. */
static void
pump(struct gw_rollouts *r, struct gw_rollout *ro, uint64_t now_ms)
{
	size_t inflight = 0;
	for (size_t i = 0; i < ro->ndev; i++)
		inflight += in_flight(&ro->devs[i]);
	for (size_t i = 0; i < ro->ndev && inflight < ro->def.max_in_flight; i++) {
		struct gw_rdev *d = &ro->devs[i];
		const struct gw_device *g;
		if (d->state != GW_RD_WAITING || d->wave > ro->wave || d->due_ms > now_ms)
			continue;
		if ((g = gw_registry_get(r->registry, d->id)) == NULL || !g->online ||
		    !reachable(r, d->id))
			continue;   /* offline devices get their offer when they return */
		if (memcmp(g->digest, ro->digest, TFP_DIGEST_LEN) == 0 &&
		    g->slot_state[g->active_slot & 1] == TFP_SLOT_CONFIRMED && d->attempts == 0) {
			d->reason = GW_R_ALREADY_INSTALLED;
			dev_set(ro, d, GW_RD_SKIPPED, now_ms);
			continue;
		}
		if (offer(r, ro, d, g, now_ms) > 0)
			inflight++;
	}
}

/* A rolling-back wave whose devices all answered is rolled back. */
static void
finish_rollbacks(struct gw_rollout *ro, uint64_t now_ms)
{
	for (unsigned w = 0; w < ro->nwaves; w++) {
		bool busy = false;
		if (ro->waves[w].state != GW_WAVE_ROLLING_BACK)
			continue;
		for (size_t i = 0; i < ro->ndev && !busy; i++)
			busy = ro->devs[i].wave == w && ro->devs[i].state == GW_RD_ROLLING_BACK;
		if (!busy) {
			ro->waves[w].state = GW_WAVE_ROLLED_BACK;
			ro->waves[w].finished_ms = now_ms;
			ro->dirty |= 1;
			ro->status_dirty = 1;
		}
	}
}

void
gw_rollouts_step(struct gw_rollouts *r, uint64_t now_ms)
{
	for (size_t i = 0; i < r->n; i++) {
		struct gw_rollout *ro = r->list[i];
		if (ro->state == GW_RO_DRAFT)
			continue;
		step_devices(r, ro, now_ms);
		finish_rollbacks(ro, now_ms);
		if (ro->state != GW_RO_RUNNING)
			continue;
		evaluate_wave(r, ro, now_ms);
		if (ro->state == GW_RO_RUNNING)
			pump(r, ro, now_ms);
	}
	gw__drift_policy(r, now_ms);
	gw__publish_status(r, now_ms);
	gw__clear_statuses(r, now_ms);
}

/* ---- operator commands ---------------------------------------------------------------- */

struct gw_rollout *
gw_rollouts_holder(struct gw_rollouts *r, const struct gw_rollout *ro, const char *id)
{
	for (size_t i = 0; i < r->n; i++) {
		struct gw_rollout *o = r->list[i];
		const struct gw_rdev *d;
		if (o == ro || (o->state != GW_RO_RUNNING && o->state != GW_RO_PAUSED))
			continue;
		if ((d = gw__find_dev(o, id)) != NULL && d->state != GW_RD_SKIPPED)
			return o;
	}
	return NULL;
}

struct gw_rollout *
gw_rollouts_conflict(struct gw_rollouts *r, const struct gw_rollout *ro, const char **device)
{
	for (size_t i = 0; i < ro->ndev; i++) {
		struct gw_rollout *o;
		if (ro->devs[i].state == GW_RD_SKIPPED)
			continue;
		if ((o = gw_rollouts_holder(r, ro, ro->devs[i].id)) != NULL) {
			if (device != NULL)
				*device = ro->devs[i].id;
			return o;
		}
	}
	return NULL;
}

int
gw_rollouts_start(struct gw_rollouts *r, struct gw_rollout *ro, const char *by,
                  const char *msg)
{
	uint64_t now = gw_wall_ms();

	if (ro->state == GW_RO_RUNNING)
		return 1;
	if (ro->state != GW_RO_DRAFT)
		return -EPERM;
	if (gw_rollouts_conflict(r, ro, NULL) != NULL)
		return -EBUSY;   /* a device of ours is another active rollout's */
	for (size_t i = 0; i < ro->ndev; i++)
		if (ro->devs[i].state == GW_RD_WAITING)
			snap(r, ro->devs[i].id, NULL, NULL, &ro->devs[i].base),
			        ro->devs[i].dirty = 1;
	ro->dirty |= 2;
	wave_start(r, ro, 0, now);
	gw__ro_transition(r, ro, GW_RO_RUNNING, GW_R_OPERATOR_START, by, msg, now);
	gw_rollouts_kick(r);   /* the first offers go out at once, not at the next tick */
	return gw_rollouts_flush(r);
}

int
gw_rollouts_pause(struct gw_rollouts *r, struct gw_rollout *ro, const char *by,
                  const char *msg)
{
	if (ro->state == GW_RO_PAUSED)
		return 1;
	if (ro->state != GW_RO_RUNNING)
		return -EPERM;
	gw__ro_transition(r, ro, GW_RO_PAUSED, GW_R_OPERATOR_PAUSE, by, msg, gw_wall_ms());
	return gw_rollouts_flush(r);
}

int
gw_rollouts_resume(struct gw_rollouts *r, struct gw_rollout *ro, const char *by,
                   const char *msg)
{
	uint64_t now = gw_wall_ms();
	struct gw_wave *w;

	if (ro->state == GW_RO_RUNNING)
		return 1;
	if (ro->state != GW_RO_PAUSED)
		return -EPERM;
	w = &ro->waves[ro->wave];
	/* After a failed gate the operator overrides it: the next wave starts. */
	if (w->state == GW_WAVE_FAILED || w->state == GW_WAVE_ROLLED_BACK ||
	    w->state == GW_WAVE_ROLLING_BACK) {
		if ((unsigned)ro->wave + 1 >= ro->nwaves) {
			gw__ro_transition(r, ro, GW_RO_COMPLETED, GW_R_OPERATOR_RESUME, by, msg, now);
			return gw_rollouts_flush(r);
		}
		wave_start(r, ro, ro->wave + 1, now);
	} else {
		/* The wave's clock does not count the pause against its timeout. */
		w->started_ms = now;
	}
	gw__ro_transition(r, ro, GW_RO_RUNNING, GW_R_OPERATOR_RESUME, by, msg, now);
	gw_rollouts_kick(r);
	return gw_rollouts_flush(r);
}

int
gw_rollouts_abort(struct gw_rollouts *r, struct gw_rollout *ro, const char *by,
                  const char *msg)
{
	if (ro->state == GW_RO_ABORTED)
		return 1;
	if (ro->state != GW_RO_DRAFT && ro->state != GW_RO_RUNNING && ro->state != GW_RO_PAUSED)
		return -EPERM;
	gw__ro_transition(r, ro, GW_RO_ABORTED, GW_R_OPERATOR_ABORT, by, msg, gw_wall_ms());
	return gw_rollouts_flush(r);
}

int
gw_rollouts_rollback(struct gw_rollouts *r, struct gw_rollout *ro, bool whole,
                     const char *by, const char *msg)
{
	uint64_t now = gw_wall_ms();

	if (whole) {
		if (ro->state == GW_RO_ROLLED_BACK)
			return 1;
		if (ro->state != GW_RO_RUNNING && ro->state != GW_RO_PAUSED &&
		    ro->state != GW_RO_COMPLETED)
			return -EPERM;
		/* A completed rollout's devices may be another active rollout's by now: rolling
		 * them back would undo that one's work behind its back. */
		if (ro->state == GW_RO_COMPLETED && gw_rollouts_conflict(r, ro, NULL) != NULL)
			return -EBUSY;
		rollback_devices(r, ro, -1, GW_R_OPERATOR_ROLLBACK, now);
		gw__ro_transition(r, ro, GW_RO_ROLLED_BACK, GW_R_OPERATOR_ROLLBACK, by, msg, now);
		return gw_rollouts_flush(r);
	}
	if (ro->state != GW_RO_RUNNING && ro->state != GW_RO_PAUSED)
		return -EPERM;
	if (ro->waves[ro->wave].state == GW_WAVE_ROLLING_BACK ||
	    ro->waves[ro->wave].state == GW_WAVE_ROLLED_BACK)
		return 1;
	rollback_devices(r, ro, ro->wave, GW_R_OPERATOR_ROLLBACK, now);
	ro->waves[ro->wave].finished_ms = now;
	gw__ro_transition(r, ro, GW_RO_PAUSED, GW_R_OPERATOR_ROLLBACK, by, msg, now);
	return gw_rollouts_flush(r);
}

/* Rolls back or pauses a running or paused rollout for the drift policy. */
void
gw__policy_act(struct gw_rollouts *r, struct gw_rollout *ro, int rollback, uint64_t now_ms)
{
	if (ro->state != GW_RO_RUNNING && ro->state != GW_RO_PAUSED)
		return;
	if (rollback) {
		rollback_devices(r, ro, -1, GW_R_DRIFT_POLICY, now_ms);
		gw__ro_transition(r, ro, GW_RO_ROLLED_BACK, GW_R_DRIFT_POLICY, "gateway",
		                  "the version's drift policy rolled it back", now_ms);
	} else if (ro->state == GW_RO_RUNNING) {
		gw__ro_transition(r, ro, GW_RO_PAUSED, GW_R_DRIFT_POLICY, "gateway",
		                  "the version's drift policy paused it", now_ms);
	}
}
