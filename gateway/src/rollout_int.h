/*
 * Internal interface between the rollout engine's files (rollout.c: transitions and
 * reports; rollout_store.c: records, effects and the commit; rollout_policy.c: the drift
 * policy; rollout_api.c: operations and status documents). Not for other modules.
 */
#ifndef GW_ROLLOUT_INT_H
#define GW_ROLLOUT_INT_H

#include "rollout.h"

#define GW_ROLLOUT_CHUNK TFP_CHUNK_MAX /* offers suggest the largest chunk; each agent asks for
                                        * at most its own budget (1 KiB on MCUs, 16 KiB on
                                        * hosts) */

int gw__reason_from_name(const char *name);
/* Queues an event about device d (NULL: none) for the next commit; a mergeable one (a
 * progress event) replaces d's previous one if that is still the newest queued about d. */
void gw__queue_device_event(struct gw_rollouts *r, struct gw_rdev *d, const char *kind,
                            json_t *data, int audit, int mergeable);
/* Whether a commit has anything to write or send. */
bool gw__rollouts_pending(const struct gw_rollouts *r);
void gw__sort_devs(struct gw_rollout *ro);
struct gw_rdev *gw__find_dev(struct gw_rollout *ro, const char *id);

/* Queues an event to publish after the next commit; its sequence number (and, with audit,
 * an audit entry made of the data) is taken in that commit. Takes data. */
void gw__queue_event(struct gw_rollouts *r, const char *kind, json_t *data, int audit);
/* Queues d's current command: a new update offer (f != NULL; gets a new command id in the
 * commit), a rollback (f == NULL and d->cmd == 0: new id), or a re-send of d->cmd. */
void gw__queue_command(struct gw_rollouts *r, struct gw_rollout *ro, struct gw_rdev *d,
                       const struct gw_fetch *f);
void gw__ro_transition(struct gw_rollouts *r, struct gw_rollout *ro, int to, int reason,
                       const char *by, const char *msg, uint64_t now_ms);
void gw__policy_act(struct gw_rollouts *r, struct gw_rollout *ro, int rollback,
                    uint64_t now_ms);
void gw__drift_policy(struct gw_rollouts *r, uint64_t now_ms);
/* Matches the registry against ro's target again when wave `wave` (>= 1) starts: devices
 * not yet in ro join that wave (or are skipped with their reason); devices held by another
 * active rollout wait for a later wave. The number of devices added. */
size_t gw__add_newcomers(struct gw_rollouts *r, struct gw_rollout *ro, int wave,
                         uint64_t now_ms);
void gw__publish_status(struct gw_rollouts *r, uint64_t now_ms);
void gw__clear_statuses(struct gw_rollouts *r, uint64_t now_ms);

#endif
