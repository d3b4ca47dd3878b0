/*
 * outbox: operator events (tf/<site>/events/<kind>) survive a crash between the commit of
 * the change they report and their publish.
 *
 * An event is recorded in the store's outbox (keyed by its seq) in the same write
 * transaction as the change and its seq (gw_outbox_record). The daemon then publishes the
 * outbox in seq order at QoS 1 and deletes an entry once the broker has acknowledged it
 * (PUBACK); on every (re)connect, and so after a restart, it publishes whatever is left
 * from the lowest seq on. Delivery is at least once: a subscriber may see a seq twice (a
 * kill after PUBACK but before the delete commits, a link lost with the PUBACK in flight)
 * and drops the repeat (schemas/README.md, "Events").
 *
 * Loop thread only.
 */
#ifndef GW_OUTBOX_H
#define GW_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mqtt.h"
#include "store.h"

#define GW_OUTBOX_WINDOW 64   /* publishes awaiting their PUBACK at once */

/* Records event `seq` of `kind` with `data` (borrowed) in t, stamped now_ms. Nothing (0)
 * when the store keeps no outbox (store config `outbox` 0). */
int gw_outbox_record(struct gw_txn *t, uint64_t seq, const char *kind, const json_t *data,
                     uint64_t now_ms);

struct gw_outbox {
	struct gw_store *store;
	struct gw_mqtt *mqtt;
	char site_field[80];       /* "{\"site\":\"<site>\"," spliced before each record */
	char topic_prefix[64];     /* "tf/<site>/events/" */
	uint64_t next;             /* lowest seq not yet published on this connection */
	struct { int token; uint64_t seq; } inflight[GW_OUTBOX_WINDOW];
	unsigned ninflight;
	uint64_t *acked;           /* delivered, deleted at the next gw_outbox_flush */
	size_t nacked, acked_cap;
	uint64_t last_flush_ms;
	uint64_t published, delivered;
};

/* Registers itself as m's delivery callback. */
void gw_outbox_init(struct gw_outbox *o, struct gw_store *s, struct gw_mqtt *m,
                    const char *site);
/* After a change committed event seq: records it unless the change's transaction did
 * (callers that take a seq and emit after commit), then publishes what is due. Takes data. */
void gw_outbox_emit(struct gw_outbox *o, uint64_t seq, const char *kind, json_t *data,
                    uint64_t now_ms);
/* Link news: on connect everything left is published again, from the lowest seq. */
void gw_outbox_on_link(struct gw_outbox *o, int connected);
/* Deletes delivered entries (one transaction). */
void gw_outbox_flush(struct gw_outbox *o);
/* On the loop's flush timer: gw_outbox_flush once GW_OUTBOX_WINDOW entries are delivered
 * or a second has passed since the last delete. A delete is one more fsync'd commit, and
 * waiting costs only repeats after a crash (what was delivered but not yet deleted). */
void gw_outbox_tick(struct gw_outbox *o, uint64_t now_ms);
void gw_outbox_close(struct gw_outbox *o);

#endif
