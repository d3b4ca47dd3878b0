/*
 * Internal interface between the rollout engine's files (rollout.c: transitions and
 * reports; rollout_store.c: records, effects and the commit; rollout_policy.c: the drift
 * policy; rollout_api.c: operations and status documents). Not for other modules.
 */
#ifndef GW_ROLLOUT_INT_H
#define GW_ROLLOUT_INT_H

#include "rollout.h"

#define GW_ROLLOUT_CHUNK 1024          /* chunk size suggested in offers (agent's maximum) */

int gw__reason_from_name(const char *name);
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
void gw__publish_status(struct gw_rollouts *r, uint64_t now_ms);

#endif
