/*
 * deltas: what a device should pull to get a model image, and the delta cache behind it.
 *
 * A device running image `base` that is offered image `target` pulls a delta patch
 * (protocol/delta/FORMAT.md) when the gateway holds one base -> target, else the full
 * image. Patches are built off the loop (uv_queue_work) from the two stored blobs, stored
 * as blobs addressed by their own SHA-256 and indexed in the deltas database (base, target)
 * -> object id, so the chunk server serves them like any other object.
 *
 * Loop thread only, except the encoder running in the libuv worker pool.
 */
#ifndef GW_DELTAS_H
#define GW_DELTAS_H

#include <stdint.h>

#include <uv.h>

#include "store.h"
#include "tinyfleet/protocol/msg_command.h"

/* What an update offer names (struct tfp_update_offer without the manifest). */
struct gw_fetch {
	enum tfp_fetch fetch;             /* TFP_FETCH_FULL or TFP_FETCH_DELTA */
	uint8_t object_id[TFP_DIGEST_LEN];
	uint32_t object_size;
	uint8_t base[TFP_DIGEST_LEN];     /* meaningful for TFP_FETCH_DELTA */
	uint32_t full_size;               /* the target image's size, for bytes-saved figures */
};

/* Called on the loop when a build requested by gw_deltas_choose finished (stored or
 * failed): ask again. */
typedef void (*gw_deltas_ready_fn)(void *arg, const uint8_t base[TFP_DIGEST_LEN],
                                   const uint8_t target[TFP_DIGEST_LEN]);

struct gw_deltas {
	uv_loop_t *loop;
	struct gw_store *store;
	gw_deltas_ready_fn ready;
	void *arg;
};

int gw_deltas_init(struct gw_deltas *d, uv_loop_t *loop, struct gw_store *s,
                   gw_deltas_ready_fn ready, void *arg);
/* Cancels queued builds; a build already running finishes and is dropped. */
void gw_deltas_close(struct gw_deltas *d);

/*
 * Chooses what a device running `base` pulls to get `target` (whose image blob is stored).
 * Returns 0 with *out filled: the stored delta when there is one and it is smaller than the
 * image, else the full image. Returns -EAGAIN when a delta from base is being built (the
 * first call starts the build); ready() runs when it is done. -ENOENT when target's image is
 * not stored. A base the gateway does not hold (not a published image) gets the full image.
 */
int gw_deltas_choose(struct gw_deltas *d, const uint8_t base[TFP_DIGEST_LEN],
                     const uint8_t target[TFP_DIGEST_LEN], struct gw_fetch *out);

#endif
