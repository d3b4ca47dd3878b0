/*
 * The drift policy outside rollout definitions (config.h "drift_policy.*"): per model
 * version V being rolled out, if at least `share` percent of the devices that installed V
 * within the last `window` seconds are in concept-drift alarm while the targeted devices
 * still on their previous version are not (their alarm share stays below `share`), the
 * gateway alerts, pauses the version's rollouts, or rolls them back, by configuration.
 *
 * Install times are known for devices that took V through a rollout (when they confirmed
 * it), so the policy watches the versions of rollouts that are running or paused. It acts
 * once per rollout: a drift.alert event (scope model_version, detector fleet_share) with
 * the action taken, committed with its audit entry like every other change.
 */
#include "rollout.h"
#include "rollout_int.h"

#include <string.h>

#include "log.h"

#define POLICY_EVERY_MS 2000

static bool
drifting(struct gw_rollouts *r, const char *id, const char *model, const char *version)
{
	const struct gw_metrics *m = gw_monitor_get(r->monitor, id);
	if (m == NULL || (model != NULL && (strcmp(m->model, model) != 0 ||
	                                    strcmp(m->version, version) != 0)))
		return false;
	return (m->why & (TFP_TELEM_WHY_PH | TFP_TELEM_WHY_ADWIN | TFP_TELEM_WHY_DDM |
	                  TFP_TELEM_WHY_HDDM)) != 0;
}

/* The version's alarm share among recent installs and among devices on the old version. */
static void
shares(struct gw_rollouts *r, struct gw_rollout *ro, uint64_t now_ms, uint32_t *n_new,
       double *s_new, double *s_old)
{
	uint32_t nn = 0, dn = 0, no = 0, dold = 0;
	uint64_t window = (uint64_t)r->policy.window_s * 1000u;

	for (size_t i = 0; i < ro->ndev; i++) {
		const struct gw_rdev *d = &ro->devs[i];
		if ((d->flags & GW_RDF_INSTALLED) && d->settle_ms != 0 &&
		    now_ms - d->settle_ms <= window && d->state != GW_RD_ROLLING_BACK &&
		    d->state != GW_RD_ROLLED_BACK) {
			nn++;
			dn += drifting(r, d->id, ro->def.model, ro->def.version);
		} else if (d->state == GW_RD_WAITING && d->attempts == 0) {
			no++;
			dold += drifting(r, d->id, NULL, NULL);
		}
	}
	*n_new = nn;
	*s_new = nn ? 100.0 * dn / nn : 0.0;
	*s_old = no ? 100.0 * dold / no : 0.0;
}

void
gw__drift_policy(struct gw_rollouts *r, uint64_t now_ms)
{
	static const char *const actions[] = { "alert", "pause", "rollback" };

	if (r->policy.share <= 0 || now_ms - r->policy_acted_ms < POLICY_EVERY_MS)
		return;
	r->policy_acted_ms = now_ms;
	for (size_t i = 0; i < r->n; i++) {
		struct gw_rollout *ro = r->list[i];
		uint32_t n_new;
		double s_new, s_old;
		json_t *data;

		if ((ro->state != GW_RO_RUNNING && ro->state != GW_RO_PAUSED) ||
		    ro->reason == GW_R_DRIFT_POLICY || ro->policy_alerted)
			continue;
		shares(r, ro, now_ms, &n_new, &s_new, &s_old);
		if (n_new < r->policy.min_devices || s_new < r->policy.share ||
		    s_old >= r->policy.share)
			continue;
		ro->policy_alerted = 1;
		log_notice("rollout %s: drift policy: %.1f %% of %u devices on %s %s in alarm "
		           "(%.1f %% on the old version); action %s", ro->id, s_new, n_new,
		           ro->def.model, ro->def.version, s_old, actions[r->policy.action]);
		data = json_pack("{s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:s, s:s}", "scope",
		                 "model_version", "model", ro->def.model, "version", ro->def.version,
		                 "state", "raised", "detector", "fleet_share", "score", s_new,
		                 "threshold", r->policy.share, "rollout", ro->id, "action",
		                 actions[r->policy.action]);
		if (data != NULL)
			gw__queue_event(r, "drift.alert", data, 1);
		if (r->policy.action > 0)
			gw__policy_act(r, ro, r->policy.action == 2, now_ms);
	}
}

void
gw_rollouts_set_policy(struct gw_rollouts *r, const struct gw_drift_policy *p)
{
	r->policy = *p;
}
