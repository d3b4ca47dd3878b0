/*
 * deltas: what a device should pull to get a model image, and the delta cache behind it.
 *
 * A device running image `base` that is offered image `target` pulls a delta patch
 * (protocol/delta/FORMAT.md) when the gateway holds one base -> target that is smaller
 * than the image, else the full image. Patches are built off the loop (uv_queue_work) by
 * the project's encoder (tfp_delta_encode, automatic mode: the smallest of its modes) from
 * copies of the two stored blobs, then stored, in one committed transaction, as a blob
 * addressed by the patch's own SHA-256 plus the deltas entry (base, target) -> that object
 * id, so the chunk server serves a patch like any other object and a restart finds it.
 *
 * A pair whose build failed, or whose patch is not smaller than the image, is recorded as
 * "no delta" (in the store, so it is not rebuilt after a restart either) and gets the
 * full image. A base the gateway does not hold (not a published image) gets the full image.
 *
 * At most GW_DELTAS_PARALLEL builds run at once (each holds copies of two images of up to
 * 1 MiB and keeps one libuv worker busy); up to GW_DELTAS_PENDING_MAX more wait in arrival
 * order, holding only the two digests. A request beyond that gets the full image.
 *
 * Threads: every function is loop-thread only; the encoder runs in the libuv worker pool
 * on its own copies and touches no loop state. Errors: negative errno values.
 */
#ifndef GW_DELTAS_H
#define GW_DELTAS_H

#include <stdint.h>

#include <uv.h>

#include "registry.h"
#include "store.h"
#include "tinyfleet/protocol/msg_command.h"

#define GW_DELTAS_PARALLEL 2       /* builds running at once */
#define GW_DELTAS_PENDING_MAX 64   /* builds waiting or running */
#define GW_DELTAS_PREBUILD_MAX 8   /* bases prepared per published version */
#define GW_DELTAS_UNSTORED_MAX 16  /* "no delta" results remembered when the store refused */

/* What an update offer names (struct tfp_update_offer without the manifest). */
struct gw_fetch {
	enum tfp_fetch fetch;             /* TFP_FETCH_FULL or TFP_FETCH_DELTA */
	uint8_t object_id[TFP_DIGEST_LEN];
	uint32_t object_size;
	uint8_t base[TFP_DIGEST_LEN];     /* meaningful for TFP_FETCH_DELTA */
	uint32_t full_size;               /* the target image's size, for bytes-saved figures */
};

/* Called on the loop when a build requested by gw_deltas_choose (or gw_deltas_prebuild)
 * finished, stored or failed: ask again. May be NULL. */
typedef void (*gw_deltas_ready_fn)(void *arg, const uint8_t base[TFP_DIGEST_LEN],
                                   const uint8_t target[TFP_DIGEST_LEN]);

struct gw_deltas_stats {
	uint64_t built;            /* patches stored */
	uint64_t no_gain;          /* patches not smaller than the image (recorded as none) */
	uint64_t failed;           /* encoder errors (recorded as none) */
	uint64_t refused;          /* requests beyond GW_DELTAS_PENDING_MAX: full image */
	uint64_t dropped;          /* builds cancelled or dropped by gw_deltas_close */
	uint64_t store_errors;     /* results the store could not commit */
	double build_seconds;      /* encoder time of the stored and no-gain builds, summed */
	uint64_t build_bytes;      /* target image bytes of those builds, summed */
};

struct gw_delta_build;

struct gw_deltas {
	uv_loop_t *loop;
	struct gw_store *store;
	gw_deltas_ready_fn ready;
	void *arg;
	struct gw_delta_build *waiting, *waiting_tail;   /* not yet handed to libuv */
	struct gw_delta_build *running;                  /* queued in libuv */
	size_t n_waiting, n_running;
	/* Pairs whose "no delta" could not be committed, so a full store does not make us
	 * rebuild them on every request (a small ring). */
	uint8_t unstored[GW_DELTAS_UNSTORED_MAX][2 * TFP_DIGEST_LEN];
	unsigned n_unstored, unstored_next;
	int closed;
	struct gw_deltas_stats stats;
};

int gw_deltas_init(struct gw_deltas *d, uv_loop_t *loop, struct gw_store *s,
                   gw_deltas_ready_fn ready, void *arg);
/* Drops waiting builds and cancels those libuv has not started; a build already running
 * finishes in its worker and its result is dropped (its after-work callback only frees;
 * the loop runs until then). Safe to call twice; nothing else may be called after it. */
void gw_deltas_close(struct gw_deltas *d);

/*
 * Chooses what a device running `base` pulls to get `target` (whose image blob is stored).
 * Returns 0 with *out filled: the stored delta when there is one and it is smaller than the
 * image, else the full image. Returns -EAGAIN when a delta from base is being built (the
 * first call starts the build); ready() runs when it is done. -ENOENT when target's image is
 * not stored. A base the gateway does not hold (not a published image) gets the full image,
 * and so does a pair recorded as "no delta". Store errors as store.h.
 */
int gw_deltas_choose(struct gw_deltas *d, const uint8_t base[TFP_DIGEST_LEN],
                     const uint8_t target[TFP_DIGEST_LEN], struct gw_fetch *out);

/*
 * The delta cache's share of publishing: starts builds to `target` (a version of model
 * `name` just published) from the distinct images of that model the registry's devices
 * run, the most common first, at most GW_DELTAS_PREBUILD_MAX of them. Returns the number
 * of builds started (pairs already built or recorded start none).
 */
int gw_deltas_prebuild(struct gw_deltas *d, const struct gw_registry *r, const char *name,
                       const uint8_t target[TFP_DIGEST_LEN]);

/* Builds waiting or running. */
size_t gw_deltas_pending(const struct gw_deltas *d);

#endif
