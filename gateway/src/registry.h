/*
 * registry: the devices of the site, as they describe themselves.
 *
 * A device appears when it sends hello/state on tf/<site>/dev/<id>/state; its identity is
 * the topic's <id>, which the broker tied to its certificate, and a state naming another id
 * is refused. What the device reports is what the gateway believes: slots, running model
 * and capabilities come only from its own messages, never from what the gateway sent it.
 * The last state message is kept verbatim in the store (so it can be re-read with a newer
 * decoder); memory holds a compact entry per device for lookups and matching.
 *
 * Changes a person or script will see (a device online, offline, or reporting a different
 * state) are committed with an audit entry and an event sequence number before the event
 * callback runs; the callback then publishes. Loop thread only. Errors: negative errno;
 * -EPERM (state for another id), -EBADMSG (payload refused; the protocol error is logged),
 * store errors as store.h.
 */
#ifndef GW_REGISTRY_H
#define GW_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "devtab.h"
#include "store.h"
#include "tinyfleet/protocol/common.h"
#include "tinyfleet/protocol/manifest.h"
#include "tinyfleet/protocol/msg_state.h"

/* The device's `conn` topic carries one CBOR unsigned integer (schemas/device-plane.cddl). */
enum gw_conn {
	GW_CONN_OFFLINE_WILL = 0,        /* its MQTT will: the connection died */
	GW_CONN_ONLINE = 1,
	GW_CONN_OFFLINE_DISCONNECT = 2,  /* it said goodbye */
};

#define GW_REGISTRY_MAX_SENSORS 64   /* distinct sensor names across the fleet */
#define GW_REGISTRY_MAX_CLASSES 256  /* distinct device classes across the fleet */
#define GW_REGISTRY_MAX_TAGS 16      /* operator tags per device (common.schema.json) */
#define GW_REGISTRY_TAG_MAX 32       /* characters of one tag */

/* In-memory entry, about 200 bytes; the id comes first (devtab). */
struct gw_device {
	char id[TFP_DEVICE_ID_MAX + 1];
	char model[TFP_MODEL_NAME_MAX + 1];      /* running model ("" if none) */
	char version[TFP_VERSION_MAX + 1];
	uint8_t digest[TFP_DIGEST_LEN];          /* running image */
	uint64_t sequence;                       /* running manifest sequence */
	uint64_t last_seen_ms;                   /* wall clock */
	uint64_t sensors;                        /* bit i: registry sensor name i */
	uint32_t ram_bytes, flash_bytes, agent_abi;
	uint32_t state_hash;                     /* of the last state message, to spot changes */
	const char **tags;                       /* operator tags, NULL-terminated, interned in
	                                            the registry; NULL when none */
	uint16_t class_idx;
	uint8_t online;
	uint8_t active_slot;
	uint8_t slot_state[2];
};

typedef void (*gw_registry_event_fn)(void *arg, uint64_t seq, const char *kind, json_t *data);

struct gw_registry {
	struct gw_store *store;
	struct gw_devtab tab;
	char *classes[GW_REGISTRY_MAX_CLASSES];
	unsigned nclasses;
	char *sensors[GW_REGISTRY_MAX_SENSORS];
	unsigned nsensors;
	char **tag_pool;             /* every distinct tag ever set, for sharing */
	size_t ntags, tags_cap;
	gw_registry_event_fn emit;   /* takes ownership of data */
	void *arg;
	uint64_t refused;
};

/* Loads every device from the store (all start offline until they speak). */
int gw_registry_open(struct gw_registry *r, struct gw_store *s, gw_registry_event_fn emit,
                     void *arg);
void gw_registry_close(struct gw_registry *r);

/* A state message on tf/<site>/dev/<id>/state (id authenticated by the broker): a new or
 * changed state is committed (record, audit entry, device.online event when it comes
 * online), then believed. 0, -EBADMSG, -EPERM (names another device), or a store error. */
int gw_registry_on_state(struct gw_registry *r, const char *id, const uint8_t *msg,
                         size_t len, uint64_t now_ms);
/* Several state messages in one transaction (one fsync instead of one each): as
 * gw_registry_on_state for each, in order; rcs[i] gets each one's result. A device's
 * second state in the batch is committed after its first. */
struct gw_state_msg {
	const char *id;
	const uint8_t *msg;
	size_t len;
};
void gw_registry_on_states(struct gw_registry *r, const struct gw_state_msg *in, size_t n,
                           uint64_t now_ms, int *rcs);
int gw_registry_on_conn(struct gw_registry *r, const char *id, const uint8_t *msg, size_t len,
                        uint64_t now_ms);
/* Any message from a known device proves it alive (memory only). */
void gw_registry_touch(struct gw_registry *r, const char *id, uint64_t now_ms);

/* Matching (DESIGN.md): whether the device can run the model the manifest describes:
 * same class, enough RAM and flash, the agent ABI the model was built for, and every
 * sensor the model needs. */
bool gw_registry_fits(const struct gw_registry *r, const struct gw_device *d,
                      const struct tfp_manifest *m);

/* The device's last state message as stored, decoded into *s, and when it was first seen.
 * 0, -ENOENT, -EBADMSG, or a store error. */
int gw_registry_load_state(struct gw_registry *r, const char *id, struct tfp_state *s,
                           uint64_t *first_seen_ms);

/*
 * Sets a device's operator tags (schema device-tags-request): removes `remove`, then adds
 * `add` (either may be NULL, each a JSON array of tag strings already checked). The new set
 * is committed in the device's record with an audit entry by `by` before memory changes.
 * *changed says whether the set differs. 0, -ENOENT (no such device), -E2BIG (more than
 * GW_REGISTRY_MAX_TAGS would remain), store errors.
 */
int gw_registry_set_tags(struct gw_registry *r, const char *id, json_t *add, json_t *remove,
                         const char *by, uint64_t now_ms, int *changed);
/* Whether the device carries the operator tag (for rollout target selectors). */
bool gw_registry_has_tag(const struct gw_device *d, const char *tag);

const struct gw_device *gw_registry_get(const struct gw_registry *r, const char *id);
const char *gw_registry_class(const struct gw_registry *r, const struct gw_device *d);
size_t gw_registry_count(const struct gw_registry *r);

#endif
