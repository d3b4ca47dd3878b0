/*
 * Device state messages committed in groups.
 *
 * Every state a device sends that changes what the gateway knows is committed before it is
 * believed (registry.h), and each commit costs an fsync: about a millisecond of the loop on
 * the machines we measured. A rollout makes every device send two states within seconds,
 * and a restart replays every device's retained state, so one commit each held the loop
 * for seconds. The daemon hands MQTT state messages here; they are committed together once
 * the loop has taken in what arrived (a uv_check after each iteration), or when the batch
 * is full, or before any message whose meaning depends on them (gw_state_batch_flush).
 *
 * Threads: loop thread only.
 */
#ifndef GW_STATE_BATCH_H
#define GW_STATE_BATCH_H

#include <uv.h>

#include "registry.h"

#define GW_STATE_BATCH_MAX 512

struct gw_state_batch {
	struct gw_registry *registry;
	uv_check_t check;
	int started;
	struct gw_state_msg msgs[GW_STATE_BATCH_MAX];   /* id and msg owned (malloc) */
	int rcs[GW_STATE_BATCH_MAX];
	size_t n;
	/* After a flush in which at least one state was taken in. */
	void (*after)(void *arg);
	void *arg;
	uint64_t flushes, states;
};

int gw_state_batch_init(uv_loop_t *loop, struct gw_state_batch *b, struct gw_registry *reg,
                        void (*after)(void *arg), void *arg);
/* Queues a copy of the message; commits the batch first when it is full. 0 or -ENOMEM
 * (then the message was handled at once, unbatched). */
int gw_state_batch_add(struct gw_state_batch *b, const char *id, const uint8_t *msg,
                       size_t len, uint64_t now_ms);
/* Commits what is queued now. */
void gw_state_batch_flush(struct gw_state_batch *b, uint64_t now_ms);
/* Commits what is queued and closes the handle. */
void gw_state_batch_close(struct gw_state_batch *b, uint64_t now_ms);

#endif
